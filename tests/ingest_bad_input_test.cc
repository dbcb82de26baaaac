// Bad input, through a real lokd: over HTTP (every body format) and as Kafka
// records (CloudEvents). Each bad item is rejected with a reason naming the
// field or header and the rule; with ?partial=true the valid events beside it
// are appended, and this test checks that lokd applied them (client history).
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <set>

#include "client/lok_client.h"
#include "events/cloudevents.h"
#include "events/event_codec.h"
#include "http/http_client.h"
#include "log/kafka_log.h"
#include "support/lokd_process.h"

namespace lok::testing {
namespace {

using std::chrono::seconds;

constexpr size_t kMaxEventBytes = 8192;
constexpr size_t kMaxEvents = 20;

lok::v1::Event Won(const std::string& id, const std::string& client) {
  lok::v1::Event event;
  event.set_event_id(id);
  event.set_source("crm");
  event.mutable_occurred_at()->set_seconds(1714557600);  // 2024-05-01
  event.set_client_id(client);
  event.set_deal_id("deal-" + id);
  event.mutable_deal_won()->mutable_amount()->set_minor(1000);
  event.mutable_deal_won()->mutable_amount()->set_currency("USD");
  return event;
}

lok::v1::Event Lost(const std::string& id, const std::string& client, const std::string& reason) {
  lok::v1::Event event = Won(id, client);
  event.mutable_deal_lost()->set_reason(reason);
  return event;
}

// A protobuf entry `field` (length-delimited) holding `bytes`.
std::string LengthDelimited(uint32_t field, std::string_view bytes) {
  std::string out;
  auto varint = [&out](uint64_t value) {
    while (value >= 0x80) {
      out.push_back(static_cast<char>((value & 0x7F) | 0x80));
      value >>= 7;
    }
    out.push_back(static_cast<char>(value));
  };
  varint((uint64_t{field} << 3) | 2);
  varint(bytes.size());
  out += bytes;
  return out;
}

// A lok.v1.Event whose deal_lost.reason is not UTF-8 (protobuf refuses to
// write one, so it is built by hand).
std::string EventWithInvalidUtf8Reason(const std::string& id, const std::string& client) {
  lok::v1::Event event = Won(id, client);
  event.clear_payload();
  return event.SerializeAsString() + LengthDelimited(24, LengthDelimited(1, "too \xff dear"));
}

struct Answer {
  int status = 0;
  boost::json::object body;
};

class IngestBadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_dir_ = new std::filesystem::path(FreshDirectory("ingest-bad-input"));
    auto lokd = LokdProcess::Start(
        *data_dir_, {"--partitions", "2", "--max-event-bytes", std::to_string(kMaxEventBytes),
                     "--max-events-per-request", std::to_string(kMaxEvents), "--max-body-bytes",
                     "200000", "--http-read-timeout", "1"});
    ASSERT_TRUE(lokd.ok()) << lokd.status().ToString();
    lokd_ = lokd->release();
  }
  static void TearDownTestSuite() {
    delete lokd_;
    lokd_ = nullptr;
    if (data_dir_ != nullptr) std::filesystem::remove_all(*data_dir_);
    delete data_dir_;
  }

  static Answer Post(std::string_view body, std::string_view content_type,
                     const std::vector<std::pair<std::string, std::string>>& headers = {},
                     std::string_view query = "?partial=true") {
    auto response = http::Fetch("POST", lokd_->url() + "/v1/events" + std::string(query), body,
                                content_type, seconds(30), headers);
    EXPECT_TRUE(response.ok()) << response.status().ToString();
    Answer answer;
    if (!response.ok()) return answer;
    answer.status = response->status;
    boost::system::error_code error;
    boost::json::value parsed = boost::json::parse(response->body, error);
    EXPECT_FALSE(error) << response->body;
    if (!error && parsed.is_object()) answer.body = parsed.as_object();
    return answer;
  }

  // The reason given for item `number` ("line" or "index") of a POST answer.
  static std::string ReasonFor(const Answer& answer, const char* key, int64_t number) {
    if (!answer.body.contains("rejected")) return "(no rejected list)";
    for (const auto& item : answer.body.at("rejected").as_array()) {
      if (item.as_object().at(key).as_int64() == number) {
        return std::string(item.as_object().at("reason").as_string());
      }
    }
    return "(not rejected)";
  }

  static std::string ErrorMessage(const Answer& answer) {
    if (!answer.body.contains("error")) return "";
    const boost::json::value& error = answer.body.at("error");
    if (error.is_string()) return std::string(error.as_string());
    return std::string(error.at("message").as_string());
  }

  // Waits until lokd applied what `answer` appended, then returns the event
  // ids in `client`'s history.
  static std::set<std::string> AppliedIds(const Answer& answer, const std::string& client) {
    log::PartitionOffsets offsets;
    if (answer.body.contains("offsets")) {
      for (const auto& [partition, offset] : answer.body.at("offsets").as_object()) {
        offsets[std::stoi(std::string(partition))] = offset.as_int64();
      }
    }
    auto caught_up = client::WaitForOffsets(lokd_->url(), offsets, seconds(60));
    EXPECT_TRUE(caught_up.ok()) << caught_up.status().ToString();
    return HistoryIds(lokd_->url(), client);
  }

  static std::set<std::string> HistoryIds(const std::string& url, const std::string& client) {
    std::set<std::string> ids;
    auto response = http::Fetch("GET", url + "/v1/clients/" + client + "/history?limit=1000");
    EXPECT_TRUE(response.ok());
    if (!response.ok() || response->status != 200) return ids;
    boost::json::object history = boost::json::parse(response->body).as_object();
    if (!history.contains("events")) return ids;
    for (const auto& entry : history.at("events").as_array()) {
      const auto& event = entry.at("event").as_object();
      const char* key = event.contains("eventId") ? "eventId" : "event_id";
      ids.insert(std::string(event.at(key).as_string()));
    }
    return ids;
  }

  static std::filesystem::path* data_dir_;
  static LokdProcess* lokd_;
};

std::filesystem::path* IngestBadInputTest::data_dir_ = nullptr;
LokdProcess* IngestBadInputTest::lokd_ = nullptr;

TEST_F(IngestBadInputTest, NdjsonBadLinesAreNamedAndTheValidOnesApplied) {
  const std::string client = "ndjson-client";
  lok::v1::Event negative = Won("negative", client);
  negative.mutable_deal_won()->mutable_amount()->set_minor(-5);
  lok::v1::Event far_future = Won("year-9999", client);
  far_future.mutable_occurred_at()->set_seconds(253385798400);  // 9999-06-01
  lok::v1::Event oversize = Won("oversize", client);
  oversize.set_correlation_id(std::string(kMaxEventBytes, 'x'));
  std::string body;
  body += events::EncodeJson(Won("good-1", client)) + "\n";                         // 1
  body += events::EncodeJson(negative) + "\n";                                      // 2
  body += events::EncodeJson(far_future) + "\n";                                    // 3
  body += events::EncodeJson(Lost("huge", client, std::string(5000, 'x'))) + "\n";  // 4
  body += events::EncodeJson(Lost("utf8", client, "ok")) + "\n";                    // 5
  body += events::EncodeJson(oversize) + "\n";                                      // 6
  body += "{\"event_id\": \n";                                                      // 7
  body += events::EncodeJson(Won("good-2", client)) + "\n";                         // 8
  // Line 5: a JSON string with a byte that is not UTF-8.
  const size_t ok_at = body.find("\"reason\":\"ok\"");
  ASSERT_NE(ok_at, std::string::npos);
  body.replace(ok_at, 13, "\"reason\":\"o\xffk\"");

  const Answer answer = Post(body, "application/x-ndjson");
  ASSERT_EQ(answer.status, 200) << boost::json::serialize(answer.body);
  EXPECT_EQ(answer.body.at("appended").as_int64(), 2);
  EXPECT_EQ(ReasonFor(answer, "line", 2), "deal_won.amount.minor: must be >= 0");
  EXPECT_EQ(ReasonFor(answer, "line", 3),
            "occurred_at: must be between 1990-01-01T00:00:00Z and 2100-01-01T00:00:00Z");
  EXPECT_EQ(ReasonFor(answer, "line", 4), "deal_lost.reason: must be at most 4096 bytes, got 5000");
  EXPECT_EQ(ReasonFor(answer, "line", 5), "deal_lost.reason: must be valid UTF-8");
  EXPECT_TRUE(ReasonFor(answer, "line", 6)
                  .ends_with("more than the limit of 8192 bytes per event (--max-event-bytes)"))
      << ReasonFor(answer, "line", 6);
  EXPECT_TRUE(ReasonFor(answer, "line", 7).starts_with("event: not valid JSON"));
  EXPECT_EQ(AppliedIds(answer, client), (std::set<std::string>{"good-1", "good-2"}));
}

TEST_F(IngestBadInputTest, WithoutPartialNothingIsAppended) {
  const std::string client = "strict-client";
  lok::v1::Event negative = Won("negative", client);
  negative.mutable_deal_won()->mutable_amount()->set_minor(-5);
  const std::string body =
      "[" + events::EncodeJson(Won("good", client)) + "," + events::EncodeJson(negative) + "]";
  const Answer answer = Post(body, "application/json", {}, "");
  EXPECT_EQ(answer.status, 422);
  EXPECT_EQ(answer.body.at("appended").as_int64(), 0);
  EXPECT_EQ(ReasonFor(answer, "index", 1), "deal_won.amount.minor: must be >= 0");
}

TEST_F(IngestBadInputTest, JsonArrayAndProtobufBatchKeepTheValidEvents) {
  const std::string client = "batch-client";
  const std::string array = "[" + events::EncodeJson(Won("array-good", client)) +
                            ", {\"event_id\":\"array-bad\",\"source\":\"cr\xffm\"}]";
  const Answer from_array = Post(array, "application/json");
  ASSERT_EQ(from_array.status, 200) << boost::json::serialize(from_array.body);
  EXPECT_EQ(ReasonFor(from_array, "index", 1), "source: must be valid UTF-8");

  std::string batch = LengthDelimited(1, Won("proto-good", client).SerializeAsString());
  batch += LengthDelimited(1, "\xff\xff\xff not protobuf");
  batch += LengthDelimited(1, EventWithInvalidUtf8Reason("proto-utf8", client));
  const Answer from_batch = Post(batch, "application/x-protobuf");
  ASSERT_EQ(from_batch.status, 200) << boost::json::serialize(from_batch.body);
  EXPECT_EQ(from_batch.body.at("appended").as_int64(), 1);
  EXPECT_EQ(ReasonFor(from_batch, "index", 1), "event: not a valid lok.v1.Event (protobuf binary)");
  EXPECT_EQ(ReasonFor(from_batch, "index", 2),
            "deal_lost.reason: must be valid UTF-8 (a protobuf string field)");

  AppliedIds(from_array, client);
  EXPECT_EQ(AppliedIds(from_batch, client), (std::set<std::string>{"array-good", "proto-good"}));
}

TEST_F(IngestBadInputTest, CloudEventsOverHttpNameTheMissingOrUnknownAttribute) {
  const std::string client = "ce-http-client";
  // Binary mode without ce-id: the one event is rejected, 422.
  const lok::v1::Event event = Won("ce-binary", client);
  std::vector<std::pair<std::string, std::string>> headers =
      events::BinaryModeHeaders(event, events::DataFormat::kJson, events::Binding::kHttp);
  std::erase_if(headers, [](const auto& header) {
    return header.first == "ce-id" || header.first == "content-type";
  });
  const Answer no_id = Post(events::BinaryModeData(event, events::DataFormat::kJson),
                            "application/json", headers, "");
  EXPECT_EQ(no_id.status, 422);
  EXPECT_EQ(ReasonFor(no_id, "index", 0),
            "ce-id: required (a CloudEvent's id becomes the event's event_id)");

  // Binary mode, complete: appended.
  headers.emplace_back("ce-id", "ce-binary");
  const Answer binary = Post(events::BinaryModeData(event, events::DataFormat::kJson),
                             "application/json", headers, "");
  ASSERT_EQ(binary.status, 200) << boost::json::serialize(binary.body);

  // A structured batch: one good, one without id, one of an unknown type.
  boost::json::object no_id_object =
      boost::json::parse(
          events::EncodeStructuredCloudEvent(Won("x", client), events::DataFormat::kJson))
          .as_object();
  no_id_object.erase("id");
  boost::json::object unknown_type =
      boost::json::parse(
          events::EncodeStructuredCloudEvent(Won("ce-unknown", client), events::DataFormat::kJson))
          .as_object();
  unknown_type["type"] = "lok.v1.deal_reopened";
  const std::string batch = "[" +
                            events::EncodeStructuredCloudEvent(Won("ce-structured", client),
                                                               events::DataFormat::kProtobuf) +
                            "," + boost::json::serialize(no_id_object) + "," +
                            boost::json::serialize(unknown_type) + "]";
  const Answer structured = Post(batch, "application/cloudevents-batch+json");
  ASSERT_EQ(structured.status, 200) << boost::json::serialize(structured.body);
  EXPECT_EQ(ReasonFor(structured, "index", 1),
            "id: required (a CloudEvent's id becomes the event's event_id)");
  EXPECT_TRUE(ReasonFor(structured, "index", 2)
                  .starts_with("payload: unknown event type 'lok.v1.deal_reopened'"))
      << ReasonFor(structured, "index", 2);
  AppliedIds(binary, client);
  EXPECT_EQ(AppliedIds(structured, client), (std::set<std::string>{"ce-binary", "ce-structured"}));
}

TEST_F(IngestBadInputTest, WholeBodyLimitsAreNamed) {
  std::string body;
  for (size_t index = 0; index <= kMaxEvents; ++index) {
    body += events::EncodeJson(Won("many-" + std::to_string(index), "many")) + "\n";
  }
  const Answer too_many = Post(body, "application/x-ndjson");
  EXPECT_EQ(too_many.status, 413);
  EXPECT_EQ(ErrorMessage(too_many),
            "body: 21 events, more than the limit of 20 per request (--max-events-per-request)");

  const Answer too_big = Post(std::string(300000, ' '), "application/x-ndjson");
  EXPECT_EQ(too_big.status, 413);
  EXPECT_EQ(ErrorMessage(too_big),
            "request body exceeds the limit of 200000 bytes (--max-body-bytes)");

  const Answer truncated = Post(LengthDelimited(1, "abc").substr(0, 3), "application/x-protobuf");
  EXPECT_EQ(truncated.status, 400);
  EXPECT_TRUE(ErrorMessage(truncated).starts_with("body: not a valid lok.v1.EventBatch"));

  const Answer csv = Post("a,b\n", "text/csv");
  EXPECT_EQ(csv.status, 415);
  EXPECT_TRUE(ErrorMessage(csv).starts_with("content-type: unsupported 'text/csv'"));
}

TEST_F(IngestBadInputTest, SlowClientGets408NamingTheReadTimeout) {
  namespace net = boost::asio;
  net::io_context io_context;
  net::ip::tcp::socket socket(io_context);
  const std::string url = lokd_->url();  // http://127.0.0.1:PORT
  const auto port = static_cast<uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
  socket.connect({net::ip::make_address("127.0.0.1"), port});
  // Half a body, then nothing.
  net::write(socket, net::buffer(std::string_view(
                         "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")));
  std::string answer;
  boost::system::error_code error;
  net::read(socket, net::dynamic_buffer(answer), error);  // until lokd closes
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 408")) << answer;
  EXPECT_NE(answer.find("read timeout of 1 s (--http-read-timeout)"), std::string::npos) << answer;
}

// CloudEvents as Kafka records: lokd consumes them from the broker, applies
// the good ones and dead-letters the bad ones with the header named.
TEST(IngestBadInputKafkaTest, CloudEventRecordsAreAppliedOrDeadLetteredWithTheHeaderNamed) {
  const char* brokers = std::getenv("LOK_KAFKA_BROKERS");
  if (brokers == nullptr || *brokers == '\0') GTEST_SKIP() << "LOK_KAFKA_BROKERS not set";
  const std::string topic =
      "lok.it.ingest-bad." + std::to_string(::getpid()) + "." +
      std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  log::KafkaConfig kafka;
  kafka.brokers = brokers;
  ASSERT_TRUE(log::CreateTopic(kafka, topic, 2, seconds(30)).ok());
  ASSERT_TRUE(log::CreateTopic(kafka, log::DeadLetterTopic(topic), 2, seconds(30)).ok());

  const std::string client = "ce-kafka-client";
  auto binary = [](const lok::v1::Event& event, events::DataFormat format) {
    log::OutgoingRecord record{event.client_id(), events::BinaryModeData(event, format), {}};
    for (auto& [name, value] : events::BinaryModeHeaders(event, format, events::Binding::kKafka)) {
      record.headers.push_back({name, value});
    }
    return record;
  };
  log::OutgoingRecord no_id = binary(Won("kafka-no-id", client), events::DataFormat::kProtobuf);
  std::erase_if(no_id.headers, [](const log::Header& header) { return header.key == "ce_id"; });
  log::OutgoingRecord unknown = binary(Won("kafka-unknown", client), events::DataFormat::kJson);
  for (log::Header& header : unknown.headers) {
    if (header.key == "ce_type") header.value = "lok.v1.deal_reopened";
  }
  std::vector<log::OutgoingRecord> records = {
      binary(Won("kafka-binary", client), events::DataFormat::kProtobuf),
      no_id,
      {client,
       events::EncodeStructuredCloudEvent(Won("kafka-structured", client),
                                          events::DataFormat::kJson),
       {{"content-type", "application/cloudevents+json"}}},
      unknown,
      {client, Won("kafka-plain", client).SerializeAsString(), {}},
  };
  auto writer = log::KafkaLogWriter::Create(kafka);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  auto positions = (*writer)->Append(topic, records);
  ASSERT_TRUE(positions.ok()) << positions.status().ToString();
  log::PartitionOffsets ends;
  for (const log::Position& position : *positions) {
    ends[position.partition] = std::max(ends[position.partition], position.offset + 1);
  }

  const auto data_dir = FreshDirectory("ingest-bad-kafka");
  auto lokd = LokdProcess::Start(
      data_dir, {"--brokers", brokers, "--topic", topic, "--group-id", topic, "--partitions", "2"});
  ASSERT_TRUE(lokd.ok()) << lokd.status().ToString();
  ASSERT_TRUE(client::WaitForOffsets((*lokd)->url(), ends, seconds(60)).ok());
  auto applied = http::Fetch("GET", (*lokd)->url() + "/v1/clients/" + client + "/history");
  ASSERT_TRUE(applied.ok());
  std::set<std::string> ids;
  const boost::json::value history = boost::json::parse(applied->body);
  for (const auto& entry : history.at("events").as_array()) {
    const auto& event = entry.at("event").as_object();
    ids.insert(
        std::string(event.at(event.contains("eventId") ? "eventId" : "event_id").as_string()));
  }
  // The unknown type parks its client: kafka-plain, after it, waits behind it.
  EXPECT_EQ(ids, (std::set<std::string>{"kafka-binary", "kafka-structured"}));
  auto parked = http::Fetch("GET", (*lokd)->url() + "/v1/admin/parked/" + client);
  ASSERT_TRUE(parked.ok());
  const boost::json::value parked_json = boost::json::parse(parked->body);
  const auto& parked_events = parked_json.at("events").as_array();
  ASSERT_EQ(parked_events.size(), 2U) << parked->body;
  EXPECT_EQ(parked_events[0].at("reason").as_string(),
            "unknown event type 'lok.v1.deal_reopened' (ce_type); upgrade lokd");
  EXPECT_EQ(parked_events[1].at("eventId").as_string(), "kafka-plain");

  auto reader =
      log::KafkaLogReader::Create(kafka, log::DeadLetterTopic(topic), topic + ".dlq-reader");
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE((*reader)->Assign({{0, 0}, {1, 0}}).ok());
  std::set<std::string> reasons;
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (reasons.empty() && std::chrono::steady_clock::now() < deadline) {
    auto batch = (*reader)->Poll(10, std::chrono::milliseconds(200));
    ASSERT_TRUE(batch.ok());
    for (const log::Record& letter : *batch) {
      for (const log::Header& header : letter.headers) {
        if (header.key == log::kDeadLetterReasonHeader) reasons.insert(header.value);
      }
    }
  }
  ASSERT_EQ(reasons.size(), 1U);  // the unknown type is parked, not dead-lettered
  EXPECT_EQ(*reasons.begin(), "ce_id: required (a CloudEvent's id becomes the event's event_id)");
  std::filesystem::remove_all(data_dir);
}

}  // namespace
}  // namespace lok::testing
