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

TEST(EventCodecTest, InvalidUtf8InJsonNamesTheField) {
  auto event = DecodeJson("{\"event_id\":\"e1\",\"deal_lost\":{\"reason\":\"too \xff dear\"}}");
  EXPECT_EQ(event.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(event.status().message(), "deal_lost.reason: must be valid UTF-8");
}

TEST(EventCodecTest, InvalidUtf8InAProtobufStringFieldNamesTheField) {
  // Built by hand: protobuf refuses to serialize a string field with bad UTF-8.
  lok::v1::Event event;
  event.set_event_id("e1");
  std::string bytes = event.SerializeAsString();
  const std::string reason = "too \xff dear";
  std::string deal_lost;
  deal_lost.push_back(0x0A);  // DealLost.reason, length-delimited
  deal_lost.push_back(static_cast<char>(reason.size()));
  deal_lost += reason;
  bytes.push_back(static_cast<char>(0xC2));  // Event.deal_lost = 24, length-delimited
  bytes.push_back(0x01);
  bytes.push_back(static_cast<char>(deal_lost.size()));
  bytes += deal_lost;
  auto decoded = DecodeBinary(bytes);
  EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(decoded.status().message(),
            "deal_lost.reason: must be valid UTF-8 (a protobuf string field)");
}

TEST(EventCodecTest, EncodeJsonUsesProtoFieldNames) {
  lok::v1::Event event;
  event.set_event_id("e1");
  event.set_client_id("acme");
  EXPECT_EQ(EncodeJson(event), R"({"event_id":"e1","client_id":"acme"})");
}

}  // namespace
}  // namespace lok::events
