// The ingest gateway against the real broker: events POSTed to lok-gateway
// are produced to Kafka, answered 202 with their positions only after the
// broker acknowledged, and a lokd consuming the same topic applies them at
// exactly those positions. Bearer tokens work as on lokd.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <map>

#include "base/sha256.h"
#include "client/lok_client.h"
#include "events/cloudevents.h"
#include "events/event_codec.h"
#include "http/http_client.h"
#include "support/lokd_process.h"

namespace lok::testing {
namespace {

using std::chrono::seconds;

lok::v1::Event Won(const std::string& id, const std::string& client, const std::string& source) {
  lok::v1::Event event;
  event.set_event_id(id);
  event.set_source(source);
  event.mutable_occurred_at()->set_seconds(1714557600);
  event.set_client_id(client);
  event.set_deal_id("deal-" + id);
  event.mutable_deal_won()->mutable_amount()->set_minor(1000);
  event.mutable_deal_won()->mutable_amount()->set_currency("USD");
  return event;
}

TEST(GatewayTest, AcknowledgedEventsAreAppliedByLokdAtTheReportedPositions) {
  const char* brokers = std::getenv("LOK_KAFKA_BROKERS");
  if (brokers == nullptr || *brokers == '\0') GTEST_SKIP() << "LOK_KAFKA_BROKERS not set";
  const std::string topic =
      "lok.it.gateway." + std::to_string(::getpid()) + "." +
      std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  const auto data_dir = FreshDirectory("gateway");
  const auto tokens = data_dir / "tokens.json";
  {
    std::ofstream out(tokens);
    out << R"({"tokens":[{"name":"crm","sha256":")" << Sha256Hex("crm-token")
        << R"(","role":"publish","sources":["crm"]}]})";
  }
  // lokd creates the topic and consumes it; the gateway only produces.
  auto lokd = LokdProcess::Start(data_dir / "lokd", {"--brokers", brokers, "--topic", topic,
                                                     "--group-id", topic, "--partitions", "3"});
  ASSERT_TRUE(lokd.ok()) << lokd.status().ToString();
  auto gateway = LokdProcess::StartBinary(
      "lok-gateway", {"--brokers", brokers, "--topic", topic, "--auth-file", tokens.string()});
  ASSERT_TRUE(gateway.ok()) << gateway.status().ToString();
  const std::string events_url = (*gateway)->url() + "/v1/events?partial=true";

  // Tokens: none 401, another source 403.
  const std::string one = events::EncodeJson(Won("g-0", "gw-client-0", "crm"));
  auto anonymous = http::Fetch("POST", events_url, one, "application/x-ndjson");
  ASSERT_TRUE(anonymous.ok());
  EXPECT_EQ(anonymous->status, 401);
  auto other_source =
      http::Fetch("POST", events_url, events::EncodeJson(Won("g-x", "gw-client-0", "billing")),
                  "application/x-ndjson", seconds(10), http::BearerHeader("crm-token"));
  ASSERT_TRUE(other_source.ok());
  EXPECT_EQ(other_source->status, 403) << other_source->body;

  // A JSON array of five good events and one bad one.
  std::string body = "[";
  for (int index = 0; index < 5; ++index) {
    body += events::EncodeJson(
                Won("g-" + std::to_string(index), "gw-client-" + std::to_string(index), "crm")) +
            ",";
  }
  body += R"({"event_id":"g-bad","source":"crm"}])";
  auto accepted = http::Fetch("POST", events_url, body, "application/json", seconds(30),
                              http::BearerHeader("crm-token"));
  ASSERT_TRUE(accepted.ok()) << accepted.status().ToString();
  ASSERT_EQ(accepted->status, 202) << accepted->body;
  const boost::json::object answer = boost::json::parse(accepted->body).as_object();
  EXPECT_EQ(answer.at("appended").as_int64(), 5);
  ASSERT_EQ(answer.at("rejected").as_array().size(), 1U);
  EXPECT_EQ(answer.at("rejected").as_array()[0].at("index").as_int64(), 5);

  // A structured CloudEvent too.
  auto cloud_event =
      http::Fetch("POST", events_url,
                  events::EncodeStructuredCloudEvent(Won("g-ce", "gw-client-0", "crm"),
                                                     events::DataFormat::kProtobuf),
                  "application/cloudevents+json", seconds(30), http::BearerHeader("crm-token"));
  ASSERT_TRUE(cloud_event.ok());
  ASSERT_EQ(cloud_event->status, 202) << cloud_event->body;

  // Where the gateway says each event went, by event id.
  std::map<std::string, std::pair<int64_t, int64_t>> reported;
  log::PartitionOffsets wait_for;
  auto collect = [&](const boost::json::object& reply, const std::vector<std::string>& ids) {
    const auto& positions = reply.at("positions").as_array();
    ASSERT_EQ(positions.size(), ids.size());
    for (const auto& position : positions) {
      const auto index = static_cast<size_t>(position.at("index").as_int64());
      const int64_t partition = position.at("partition").as_int64();
      const int64_t offset = position.at("offset").as_int64();
      reported[ids.at(index)] = {partition, offset};
      auto& next = wait_for[static_cast<int32_t>(partition)];
      next = std::max(next, offset + 1);
    }
  };
  collect(answer, {"g-0", "g-1", "g-2", "g-3", "g-4"});
  collect(boost::json::parse(cloud_event->body).as_object(), {"g-ce"});

  auto caught_up = client::WaitForOffsets((*lokd)->url(), wait_for, seconds(60));
  ASSERT_TRUE(caught_up.ok()) << caught_up.status().ToString();
  EXPECT_EQ(caught_up->stages(3).deals(), 6);  // WON
  std::map<std::string, std::pair<int64_t, int64_t>> applied;
  for (int index = 0; index < 5; ++index) {
    auto history = http::Fetch(
        "GET", (*lokd)->url() + "/v1/clients/gw-client-" + std::to_string(index) + "/history");
    ASSERT_TRUE(history.ok());
    const boost::json::value parsed = boost::json::parse(history->body);
    for (const auto& entry : parsed.at("events").as_array()) {
      const std::string id(entry.at("event").at("eventId").as_string());
      const int64_t offset = std::stoll(std::string(entry.at("offset").as_string()));
      applied[id] = {entry.at("partition").as_int64(), offset};
    }
  }
  EXPECT_EQ(applied, reported);
  std::filesystem::remove_all(data_dir);
}

}  // namespace
}  // namespace lok::testing
