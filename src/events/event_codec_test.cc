#include "events/event_codec.h"

#include <gtest/gtest.h>

namespace lok::events {
namespace {

TEST(EventCodecTest, DecodesJsonInProtoFieldNamesAndCamelCase) {
  const char* snake = R"({"event_id":"e1","source":"crm","occurred_at":"2024-03-01T10:00:00Z",
    "client_id":"acme","deal_id":"d1","deal_won":{"amount":{"minor":"1500","currency":"USD"}}})";
  const char* camel = R"({"eventId":"e1","source":"crm","occurredAt":"2024-03-01T10:00:00Z",
    "clientId":"acme","dealId":"d1","dealWon":{"amount":{"minor":1500,"currency":"USD"}}})";
  auto from_snake = DecodeJson(snake);
  auto from_camel = DecodeJson(camel);
  ASSERT_TRUE(from_snake.ok()) << from_snake.status().ToString();
  ASSERT_TRUE(from_camel.ok()) << from_camel.status().ToString();
  EXPECT_EQ(from_snake->SerializeAsString(), from_camel->SerializeAsString());
  EXPECT_EQ(from_snake->deal_won().amount().minor(), 1500);
  EXPECT_EQ(from_snake->occurred_at().seconds(), 1709287200);
  EXPECT_EQ(PayloadName(*from_snake), "deal_won");
}

TEST(EventCodecTest, UnknownJsonFieldsAreIgnored) {
  auto event = DecodeJson(R"({"event_id":"e1","future_field":42,"lead_qualified":{}})");
  ASSERT_TRUE(event.ok()) << event.status().ToString();
  EXPECT_EQ(PayloadName(*event), "lead_qualified");
}

TEST(EventCodecTest, MalformedJsonIsInvalidArgument) {
  auto event = DecodeJson(R"({"event_id": )");
  EXPECT_EQ(event.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(event.status().message().find("not valid JSON"), std::string::npos);
}

TEST(EventCodecTest, BinaryRoundTripAndGarbage) {
  lok::v1::Event event;
  event.set_event_id("e1");
  event.mutable_lead_qualified();
  auto decoded = DecodeBinary(event.SerializeAsString());
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->event_id(), "e1");
  EXPECT_EQ(DecodeBinary("\xff\xff\xff garbage").status().code(), StatusCode::kInvalidArgument);
}

TEST(EventCodecTest, EncodeJsonUsesProtoFieldNames) {
  lok::v1::Event event;
  event.set_event_id("e1");
  event.set_client_id("acme");
  EXPECT_EQ(EncodeJson(event), R"({"event_id":"e1","client_id":"acme"})");
}

}  // namespace
}  // namespace lok::events
