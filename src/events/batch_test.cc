#include "events/batch.h"

#include <gtest/gtest.h>

#include "events/event_codec.h"

namespace lok::events {
namespace {

lok::v1::Event Qualified(const std::string& id) {
  lok::v1::Event event;
  event.set_event_id(id);
  event.set_source("crm");
  event.mutable_occurred_at()->set_seconds(1704067200);
  event.set_client_id("acme");
  event.set_deal_id("d1");
  event.mutable_lead_qualified();
  return event;
}

StatusOr<ParsedBatch> Parse(std::string_view content_type, std::string_view body,
                            const BatchLimits& limits = {},
                            std::span<const MessageHeader> headers = {}) {
  StatusOr<BodyFormat> format = BodyFormatOf(content_type, body, headers);
  if (!format.ok()) return format.status();
  return ParseBody(*format, body, headers, limits);
}

TEST(BatchTest, FormatsFromContentTypeAndBody) {
  EXPECT_EQ(*BodyFormatOf("", "{}", {}), BodyFormat::kNdjson);
  EXPECT_EQ(*BodyFormatOf("application/json", "{}\n{}", {}), BodyFormat::kNdjson);
  EXPECT_EQ(*BodyFormatOf("application/json; charset=utf-8", " [", {}), BodyFormat::kJsonArray);
  EXPECT_EQ(*BodyFormatOf("application/x-protobuf", "", {}), BodyFormat::kProtobufBatch);
  EXPECT_EQ(*BodyFormatOf("application/cloudevents+json", "{}", {}), BodyFormat::kCloudEvent);
  EXPECT_EQ(*BodyFormatOf("application/cloudevents-batch+json", "[]", {}),
            BodyFormat::kCloudEventBatch);
  const std::vector<MessageHeader> binary = {{"ce-specversion", "1.0"}};
  EXPECT_EQ(*BodyFormatOf("application/json", "{}", binary), BodyFormat::kCloudEventBinary);
  auto unsupported = BodyFormatOf("text/csv", "", {});
  EXPECT_TRUE(unsupported.status().message().starts_with("content-type: unsupported 'text/csv'"));
}

TEST(BatchTest, JsonArrayKeepsValidItemsAndNumbersRejectedOnesByIndex) {
  const std::string body = "[" + EncodeJson(Qualified("e0")) + ", 7, " +
                           R"({"event_id":"e2","source":"crm","lead_qualified":{}})" + ", " +
                           EncodeJson(Qualified("e3")) + "]";
  auto batch = Parse("application/json", body);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_FALSE(batch->numbered_by_line);
  EXPECT_EQ(batch->event_lines, (std::vector<size_t>{0, 3}));
  ASSERT_EQ(batch->rejected.size(), 2U);
  EXPECT_EQ(batch->rejected[0].line, 1U);
  EXPECT_EQ(batch->rejected[0].reason, "event: must be a JSON object (a lok.v1.Event)");
  EXPECT_EQ(batch->rejected[1].line, 2U);
  EXPECT_EQ(batch->rejected[1].reason,
            "occurred_at: required; client_id: required; deal_id: required");
}

TEST(BatchTest, InvalidUtf8InOneArrayItemRejectsOnlyThatItem) {
  const std::string body =
      "[" + EncodeJson(Qualified("e0")) + R"(, {"event_id":"e1","source":"cr)" + "\xff" + R"(m"}])";
  auto batch = Parse("application/json", body);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_EQ(batch->events.size(), 1U);
  ASSERT_EQ(batch->rejected.size(), 1U);
  EXPECT_EQ(batch->rejected[0].reason, "source: must be valid UTF-8");
}

TEST(BatchTest, ProtobufBatchDecodesEachEventOnItsOwn) {
  lok::v1::EventBatch message;
  *message.add_events() = Qualified("e0");
  message.add_events()->set_event_id("incomplete");
  *message.add_events() = Qualified("e2");
  std::string body = message.SerializeAsString();
  body += std::string("\x0a\x03\xff\xff\xff", 5);  // events[3]: not an Event
  auto batch = Parse("application/x-protobuf", body);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_EQ(batch->event_lines, (std::vector<size_t>{0, 2}));
  ASSERT_EQ(batch->rejected.size(), 2U);
  EXPECT_EQ(batch->rejected[0].line, 1U);
  EXPECT_EQ(batch->rejected[1].line, 3U);
  EXPECT_EQ(batch->rejected[1].reason, "event: not a valid lok.v1.Event (protobuf binary)");
}

TEST(BatchTest, TruncatedProtobufBatchFailsAsAWhole) {
  lok::v1::EventBatch message;
  *message.add_events() = Qualified("e0");
  std::string body = message.SerializeAsString();
  body.pop_back();
  auto batch = Parse("application/protobuf", body);
  EXPECT_EQ(batch.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(batch.status().message().starts_with(
      "body: not a valid lok.v1.EventBatch (protobuf binary): events[0] claims"))
      << batch.status().message();
}

TEST(BatchTest, OversizeEventIsRejectedAloneNamingTheLimit) {
  lok::v1::Event big = Qualified("big");
  big.set_correlation_id(std::string(200, 'x'));
  const std::string body = EncodeJson(Qualified("e1")) + "\n" + EncodeJson(big) + "\n";
  BatchLimits limits;
  limits.max_event_bytes = 200;
  auto batch = Parse("application/x-ndjson", body, limits);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->events.size(), 1U);
  ASSERT_EQ(batch->rejected.size(), 1U);
  EXPECT_EQ(batch->rejected[0].line, 2U);
  EXPECT_TRUE(batch->rejected[0].reason.ends_with(
      "bytes, more than the limit of 200 bytes per event (--max-event-bytes)"));
}

TEST(BatchTest, TooManyEventsFailsTheBodyNamingTheLimit) {
  BatchLimits limits;
  limits.max_events = 2;
  const std::string line = EncodeJson(Qualified("e")) + "\n";
  auto ndjson = Parse("application/x-ndjson", line + line + "\n" + line, limits);
  EXPECT_EQ(ndjson.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(ndjson.status().message(),
            "body: 3 events, more than the limit of 2 per request (--max-events-per-request)");
  auto array = Parse("application/json", "[{},{},{}]", limits);
  EXPECT_EQ(array.status().code(), StatusCode::kResourceExhausted);
  lok::v1::EventBatch message;
  for (int index = 0; index < 3; ++index) *message.add_events() = Qualified("e");
  auto protobuf = Parse("application/x-protobuf", message.SerializeAsString(), limits);
  EXPECT_EQ(protobuf.status().code(), StatusCode::kResourceExhausted);
}

TEST(BatchTest, CloudEventBodies) {
  const lok::v1::Event event = Qualified("ce-1");
  auto one =
      Parse("application/cloudevents+json", EncodeStructuredCloudEvent(event, DataFormat::kJson));
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->events.size(), 1U) << (one->rejected.empty() ? "" : one->rejected[0].reason);
  EXPECT_EQ(one->events[0].SerializeAsString(), event.SerializeAsString());

  const std::string batch_body = "[" + EncodeStructuredCloudEvent(event, DataFormat::kProtobuf) +
                                 R"(, {"specversion":"1.0","source":"crm"}])";
  auto batch = Parse("application/cloudevents-batch+json", batch_body);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->events.size(), 1U);
  ASSERT_EQ(batch->rejected.size(), 1U);
  EXPECT_EQ(batch->rejected[0].reason,
            "id: required (a CloudEvent's id becomes the event's event_id)");

  std::vector<std::pair<std::string, std::string>> pairs =
      BinaryModeHeaders(event, DataFormat::kJson, Binding::kHttp);
  std::string content_type;
  std::vector<MessageHeader> headers;
  for (const auto& [name, value] : pairs) {
    if (name == "content-type") content_type = value;
    headers.push_back({name, value});
  }
  auto binary = Parse(content_type, BinaryModeData(event, DataFormat::kJson), {}, headers);
  ASSERT_TRUE(binary.ok());
  ASSERT_EQ(binary->events.size(), 1U) << binary->rejected[0].reason;
  EXPECT_EQ(binary->events[0].SerializeAsString(), event.SerializeAsString());
}

}  // namespace
}  // namespace lok::events
