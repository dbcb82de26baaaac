#include "events/cloudevents.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "base/base64.h"
#include "events/event_codec.h"
#include "events/validation.h"

namespace lok::events {
namespace {

lok::v1::Event DealWon() {
  lok::v1::Event event;
  event.set_event_id("won-1");
  event.set_source("crm");
  event.mutable_occurred_at()->set_seconds(1714557600);  // 2024-05-01T10:00:00Z
  event.set_client_id("acme");
  event.set_deal_id("d-7");
  event.set_correlation_id("c-1");
  event.mutable_deal_won()->mutable_amount()->set_minor(150000);
  event.mutable_deal_won()->mutable_amount()->set_currency("EUR");
  return event;
}

lok::v1::Event Invoice() {
  lok::v1::Event event;
  event.set_event_id("inv-1");
  event.set_source("billing");
  event.mutable_occurred_at()->set_seconds(1714557600);
  event.set_client_id("acme");
  event.set_deal_id("d-7");
  auto* invoice = event.mutable_invoice_issued();
  invoice->set_invoice_id("I-1");
  invoice->mutable_amount()->set_minor(5000);
  invoice->mutable_amount()->set_currency("USD");
  invoice->set_due_date("2024-06-01");
  return event;
}

// Owns header strings for the MessageHeader views.
class Headers {
 public:
  using List = std::vector<std::pair<std::string, std::string>>;
  explicit Headers(List headers) : headers_(std::move(headers)) {}
  void Set(const std::string& name, const std::string& value) {
    for (auto& header : headers_) {
      if (header.first == name) {
        header.second = value;
        return;
      }
    }
    headers_.emplace_back(name, value);
  }
  void Remove(const std::string& name) {
    std::erase_if(headers_, [&](const auto& header) { return header.first == name; });
  }
  std::vector<MessageHeader> Views() const {
    std::vector<MessageHeader> views;
    for (const auto& [name, value] : headers_) views.push_back({name, value});
    return views;
  }

 private:
  std::vector<std::pair<std::string, std::string>> headers_;
};

StatusOr<lok::v1::Event> DecodeKafka(const Headers& headers, std::string_view key,
                                     std::string_view value) {
  const std::vector<MessageHeader> views = headers.Views();
  return DecodeMessage(views, key, value, Binding::kKafka);
}

std::string ErrorOf(const StatusOr<lok::v1::Event>& event) {
  EXPECT_FALSE(event.ok());
  EXPECT_EQ(event.status().code(), StatusCode::kInvalidArgument);
  return event.status().message();
}

TEST(CloudEventsTest, BinaryModeProtobufRoundTripsOnKafka) {
  const lok::v1::Event event = DealWon();
  Headers headers(BinaryModeHeaders(event, DataFormat::kProtobuf, Binding::kKafka));
  auto decoded = DecodeKafka(headers, "acme", BinaryModeData(event, DataFormat::kProtobuf));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->SerializeAsString(), event.SerializeAsString());
  EXPECT_TRUE(Validate(*decoded).ok());
}

TEST(CloudEventsTest, BinaryModeJsonRoundTripsOnHttp) {
  const lok::v1::Event event = Invoice();
  Headers headers(BinaryModeHeaders(event, DataFormat::kJson, Binding::kHttp));
  const std::vector<MessageHeader> views = headers.Views();
  EXPECT_EQ(ModeOf(views, Binding::kHttp), MessageMode::kCloudEventBinary);
  auto decoded = DecodeMessage(views, "", BinaryModeData(event, DataFormat::kJson), Binding::kHttp);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->SerializeAsString(), event.SerializeAsString());
}

TEST(CloudEventsTest, WorkedHeaderExampleFromPublishingDoc) {
  Headers headers(Headers::List{{"ce_specversion", "1.0"},
                                {"ce_id", "crm-4711"},
                                {"ce_source", "crm"},
                                {"ce_type", "lok.v1.deal_won"},
                                {"ce_time", "2024-05-01T12:00:00+02:00"},
                                {"ce_subject", "deal-42"},
                                {"content-type", "application/json; charset=utf-8"}});
  auto event =
      DecodeKafka(headers, "client-7", R"({"amount":{"minor":"250000","currency":"EUR"}})");
  ASSERT_TRUE(event.ok()) << event.status().ToString();
  EXPECT_EQ(event->event_id(), "crm-4711");
  EXPECT_EQ(event->source(), "crm");
  EXPECT_EQ(event->client_id(), "client-7");
  EXPECT_EQ(event->deal_id(), "deal-42");
  EXPECT_EQ(event->occurred_at().seconds(), 1714557600);
  EXPECT_EQ(event->deal_won().amount().minor(), 250000);
  EXPECT_TRUE(Validate(*event).ok());
}

TEST(CloudEventsTest, StructuredModeWithDataAndDataBase64) {
  for (DataFormat format : {DataFormat::kJson, DataFormat::kProtobuf}) {
    const lok::v1::Event event = DealWon();
    const std::string json = EncodeStructuredCloudEvent(event, format);
    Headers headers(Headers::List{{"content-type", "application/cloudevents+json"}});
    EXPECT_EQ(ModeOf(headers.Views(), Binding::kKafka), MessageMode::kCloudEventStructured);
    auto decoded = DecodeKafka(headers, "acme", json);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString() << " " << json;
    EXPECT_EQ(decoded->SerializeAsString(), event.SerializeAsString());
  }
}

TEST(CloudEventsTest, PlainLokRecordsDecodeAsBefore) {
  const lok::v1::Event event = DealWon();
  Headers headers(Headers::List{{"traceparent", "00-abc"}});
  auto decoded = DecodeKafka(headers, "acme", event.SerializeAsString());
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->SerializeAsString(), event.SerializeAsString());
  EXPECT_EQ(ModeOf(headers.Views(), Binding::kKafka), MessageMode::kLokProtobuf);
}

TEST(CloudEventsTest, OldDealWonShapeIsUpcastInsideACloudEvent) {
  Headers headers(BinaryModeHeaders(DealWon(), DataFormat::kJson, Binding::kKafka));
  auto event = DecodeKafka(headers, "acme", R"({"amount":"1234.50","currency":"EUR"})");
  ASSERT_TRUE(event.ok()) << event.status().ToString();
  EXPECT_EQ(event->deal_won().amount().minor(), 123450);
}

struct MissingHeaderCase {
  std::string header;
  std::string expected_message;
};

TEST(CloudEventsTest, EveryMissingHeaderIsNamedWithItsRule) {
  const std::vector<MissingHeaderCase> cases = {
      {"ce_specversion", "ce_specversion: required: 1.0"},
      {"ce_id", "ce_id: required (a CloudEvent's id becomes the event's event_id)"},
      {"ce_source", "ce_source: required (a CloudEvent's source becomes the event's source)"},
      {"ce_type", "ce_type: required: lok.v1.<event type>, e.g. lok.v1.deal_won"},
      {"ce_time", "ce_time: required (it becomes occurred_at, the business time)"},
      {"ce_subject", "ce_subject: required for lok.v1.deal_won (a deal event): the deal_id"},
      {"content-type",
       "content-type: required in binary mode: application/protobuf (the payload message's "
       "bytes) or application/json (the payload message in the protobuf JSON mapping)"},
  };
  const lok::v1::Event event = DealWon();
  for (const MissingHeaderCase& test_case : cases) {
    Headers headers(BinaryModeHeaders(event, DataFormat::kProtobuf, Binding::kKafka));
    headers.Remove(test_case.header);
    EXPECT_EQ(ErrorOf(DecodeKafka(headers, "acme", BinaryModeData(event, DataFormat::kProtobuf))),
              test_case.expected_message)
        << test_case.header;
  }
}

struct InvalidHeaderCase {
  std::string header;
  std::string value;
  std::string expected_message;
};

TEST(CloudEventsTest, EveryInvalidHeaderIsNamedWithItsRule) {
  const std::vector<InvalidHeaderCase> cases = {
      {"ce_specversion", "0.3", "ce_specversion: must be 1.0, got '0.3'"},
      {"ce_type", "com.example.deal_won",
       "ce_type: must be lok.v1.<event type> (e.g. lok.v1.deal_won), got 'com.example.deal_won'"},
      {"ce_time", "yesterday",
       "ce_time: must be an RFC 3339 timestamp such as 2024-05-01T10:00:00Z, got 'yesterday'"},
      {"ce_clientid", "globex",
       "the Kafka record key: 'acme' differs from ce_clientid 'globex' (both give the client_id)"},
      {"content-type", "text/plain",
       "content-type: unsupported 'text/plain': application/protobuf (the payload message's "
       "bytes) or application/json (the payload message in the protobuf JSON mapping)"},
  };
  const lok::v1::Event event = DealWon();
  for (const InvalidHeaderCase& test_case : cases) {
    Headers headers(BinaryModeHeaders(event, DataFormat::kProtobuf, Binding::kKafka));
    headers.Set(test_case.header, test_case.value);
    EXPECT_EQ(ErrorOf(DecodeKafka(headers, "acme", BinaryModeData(event, DataFormat::kProtobuf))),
              test_case.expected_message)
        << test_case.header;
  }
}

TEST(CloudEventsTest, UnknownLokTypeDecodesToItsEnvelopeForParking) {
  // A newer publisher's lok.v1 type: the envelope and the type, no payload,
  // so the projector can park it until an upgrade; validation names the type.
  Headers headers(BinaryModeHeaders(DealWon(), DataFormat::kJson, Binding::kKafka));
  headers.Set("ce_type", "lok.v1.deal_reopened");
  auto envelope = DecodeKafka(headers, "acme", "{}");
  ASSERT_TRUE(envelope.ok()) << envelope.status().ToString();
  EXPECT_EQ(envelope->payload_case(), lok::v1::Event::PAYLOAD_NOT_SET);
  EXPECT_EQ(UnknownCloudEventType(*envelope), "lok.v1.deal_reopened");
  EXPECT_EQ(envelope->client_id(), "acme");
  EXPECT_FALSE(envelope->event_id().empty());
  EXPECT_FALSE(envelope->source().empty());
  const Status valid = Validate(*envelope);
  EXPECT_TRUE(valid.message().starts_with("payload: unknown event type 'lok.v1.deal_reopened'"))
      << valid.ToString();
  // Not a lok.v1 type at all: still an error naming the header.
  headers.Set("ce_type", "com.example.deal_reopened");
  EXPECT_TRUE(ErrorOf(DecodeKafka(headers, "acme", "{}")).starts_with("ce_type: must be lok.v1."));
}

TEST(CloudEventsTest, HeaderGivenTwiceIsRejected) {
  Headers headers(BinaryModeHeaders(DealWon(), DataFormat::kJson, Binding::kKafka));
  std::vector<MessageHeader> views = headers.Views();
  views.push_back({"ce_id", "other"});
  EXPECT_EQ(ErrorOf(DecodeMessage(views, "acme", "{}", Binding::kKafka)),
            "ce_id: given more than once");
}

TEST(CloudEventsTest, ClientIdNeedsAKeyOrAnExtension) {
  Headers headers(BinaryModeHeaders(DealWon(), DataFormat::kJson, Binding::kHttp));
  headers.Remove("ce-clientid");
  const std::vector<MessageHeader> views = headers.Views();
  EXPECT_EQ(ErrorOf(DecodeMessage(views, "", BinaryModeData(DealWon(), DataFormat::kJson),
                                  Binding::kHttp)),
            "client_id: required: the Kafka record key, ce-clientid");
}

TEST(CloudEventsTest, NonDealEventTakesTheClientFromTheSubject) {
  const lok::v1::Event event = Invoice();
  Headers headers(BinaryModeHeaders(event, DataFormat::kJson, Binding::kKafka));
  auto decoded = DecodeKafka(headers, "", BinaryModeData(event, DataFormat::kJson));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->client_id(), "acme");
  EXPECT_EQ(decoded->deal_id(), "d-7");
}

TEST(CloudEventsTest, MalformedDataIsNamed) {
  Headers protobuf(BinaryModeHeaders(DealWon(), DataFormat::kProtobuf, Binding::kKafka));
  EXPECT_EQ(ErrorOf(DecodeKafka(protobuf, "acme", "\xff\xff\xff")),
            "data: not a valid lok.v1.DealWon (protobuf binary), as lok.v1.deal_won requires");
  Headers json(BinaryModeHeaders(DealWon(), DataFormat::kJson, Binding::kKafka));
  EXPECT_TRUE(
      ErrorOf(DecodeKafka(json, "acme", "{\"amount\":")).starts_with("data: not valid JSON"));
  EXPECT_EQ(ErrorOf(DecodeKafka(json, "acme", "[1]")),
            "data: must be a JSON object: the lok.v1.DealWon message in the protobuf JSON mapping");
  // The data cannot reach outside its payload field.
  auto event = DecodeKafka(json, "acme", R"({"amount":{"minor":"1","currency":"EUR"}})");
  ASSERT_TRUE(event.ok());
  EXPECT_EQ(PayloadName(*event), "deal_won");
}

TEST(CloudEventsTest, InvalidUtf8IsNamed) {
  const lok::v1::Event event = DealWon();
  Headers json(BinaryModeHeaders(event, DataFormat::kJson, Binding::kKafka));
  json.Set("ce_type", "lok.v1.deal_lost");
  EXPECT_EQ(ErrorOf(DecodeKafka(json, "acme", "{\"reason\":\"bad \xff\"}")),
            "deal_lost.reason: must be valid UTF-8");
  // An attribute header with bad bytes decodes, and validation names the field.
  Headers headers(BinaryModeHeaders(event, DataFormat::kProtobuf, Binding::kKafka));
  headers.Set("ce_source", "cr\xffm");
  auto decoded = DecodeKafka(headers, "acme", BinaryModeData(event, DataFormat::kProtobuf));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(Validate(*decoded).message(), "source: must be valid UTF-8");
}

TEST(CloudEventsTest, StructuredModeErrors) {
  EXPECT_EQ(ErrorOf(DecodeStructuredCloudEvent("[1]", "")), "cloudevent: not a JSON object");
  EXPECT_TRUE(
      ErrorOf(DecodeStructuredCloudEvent("{", "")).starts_with("cloudevent: not valid JSON"));
  boost::json::object object =
      boost::json::parse(EncodeStructuredCloudEvent(DealWon(), DataFormat::kJson)).as_object();
  object.erase("id");
  EXPECT_EQ(ErrorOf(DecodeStructuredCloudEvent(boost::json::serialize(object), "")),
            "id: required (a CloudEvent's id becomes the event's event_id)");
  object["id"] = 42;
  EXPECT_EQ(ErrorOf(DecodeStructuredCloudEvent(boost::json::serialize(object), "")),
            "id: must be a string");
  object["id"] = "won-1";
  object["data_base64"] = "AAAA";
  EXPECT_EQ(ErrorOf(DecodeStructuredCloudEvent(boost::json::serialize(object), "")),
            "data_base64: not allowed beside data (give one of them)");
  object.erase("data");
  object["data_base64"] = "!!";
  EXPECT_TRUE(ErrorOf(DecodeStructuredCloudEvent(boost::json::serialize(object), ""))
                  .starts_with("data_base64: not valid base64"));
}

}  // namespace
}  // namespace lok::events
