// As-of answers on both timelines and restatements, on the real lokd binary
// reading the real Kafka broker (LOK_KAFKA_BROKERS; skipped without it). The
// test publishes with producer-set record times, so that it knows what the
// log had received when, including one event that arrives late.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <algorithm>
#include <random>
#include <tuple>
#include <thread>

#include "http/http_client.h"
#include "log/kafka_log.h"
#include "lok/v1/events.pb.h"
#include "support/lokd_process.h"

namespace lok::testing {
namespace {

constexpr int64_t kHourMs = 3600000;
constexpr int64_t kDayMs = 24 * kHourMs;

std::string Date(int64_t ms) {
  const std::time_t seconds = ms / 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[16];
  std::strftime(text, sizeof text, "%Y-%m-%d", &utc);
  return text;
}

std::string Month(int64_t ms) { return Date(ms).substr(0, 7); }

lok::v1::Event Make(const std::string& id, const std::string& client, int64_t occurred_ms) {
  lok::v1::Event event;
  event.set_event_id(id);
  event.set_source("crm");
  event.set_client_id(client);
  event.set_deal_id(id.substr(0, id.find('-')));
  event.mutable_occurred_at()->set_seconds(occurred_ms / 1000);
  return event;
}

boost::json::object Get(const std::string& url) {
  auto response = http::Fetch("GET", url);
  EXPECT_TRUE(response.ok()) << response.status().ToString();
  if (!response.ok()) return {};
  EXPECT_EQ(response->status, 200) << url << ": " << response->body;
  boost::system::error_code error;
  boost::json::value body = boost::json::parse(response->body, error);
  EXPECT_FALSE(error) << response->body;
  return body.is_object() ? body.as_object() : boost::json::object{};
}

// A protobuf JSON int64 (a string) or a number.
int64_t AsInt(const boost::json::value& value) {
  if (value.is_string()) return std::stoll(std::string(value.as_string()));
  return value.to_number<int64_t>();
}

int64_t WonDeals(const boost::json::object& funnel) {
  if (!funnel.contains("metrics")) return -1;
  for (const auto& stage : funnel.at("metrics").at("stages").as_array()) {
    if (stage.at("stage") == "WON") return AsInt(stage.at("deals"));
  }
  return -1;
}

class AsOfIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    brokers_ = KafkaBrokers();
    if (brokers_.empty()) GTEST_SKIP() << "LOK_KAFKA_BROKERS is not set (deploy/kafka/kafka.sh start)";
    std::random_device random;
    topic_ = "lok.asof-it." + std::to_string(random());
    data_dir_ = FreshDirectory("asof");
  }
  void TearDown() override {
    lokd_.reset();
    std::filesystem::remove_all(data_dir_);
  }

  std::string brokers_;
  std::string topic_;
  std::filesystem::path data_dir_;
  std::unique_ptr<LokdProcess> lokd_;
};

TEST_F(AsOfIntegrationTest, BothTimelinesAndARestatementForALateWin) {
  // Day A (three days ago): 6 deals, leads 10..5 days before A, won at A 09:00
  // except deal 5, received at A 10:00. Day B = A + 1: 2 more deals, occurred
  // B 09:00, received B 10:00. At B 11:00 the log receives deal 5's win,
  // which occurred five days before A: a late event.
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const int64_t day_a = (now_ms / kDayMs - 3) * kDayMs;  // 00:00 UTC
  const int64_t day_b = day_a + kDayMs;
  struct Timed {
    lok::v1::Event event;
    int64_t received_ms;
  };
  std::vector<Timed> events;
  auto deal = [&](int n, int64_t lead_ms, std::optional<int64_t> won_ms, int64_t received_ms) {
    const std::string id = "deal" + std::to_string(n);
    const std::string client = "client-" + std::to_string(n % 3);
    auto lead = Make(id + "-lead", client, lead_ms);
    lead.mutable_lead_created()->set_salesperson("ana");
    events.push_back({lead, received_ms});
    if (won_ms) {
      auto won = Make(id + "-won", client, *won_ms);
      won.mutable_deal_won()->mutable_amount()->set_minor(1000 * (n + 1));
      won.mutable_deal_won()->mutable_amount()->set_currency("USD");
      events.push_back({won, received_ms});
    }
  };
  for (int n = 0; n < 6; ++n) {
    deal(n, day_a - (10 - n) * kDayMs,
         n == 5 ? std::nullopt : std::optional<int64_t>(day_a + 9 * kHourMs), day_a + 10 * kHourMs);
  }
  for (int n = 6; n < 8; ++n) {
    deal(n, day_b + 9 * kHourMs, day_b + 9 * kHourMs, day_b + 10 * kHourMs);
  }
  const int64_t late_occurred = day_a - 5 * kDayMs;
  auto late = Make("deal5-won", "client-2", late_occurred);
  late.mutable_deal_won()->mutable_amount()->set_minor(6000);
  late.mutable_deal_won()->mutable_amount()->set_currency("USD");
  events.push_back({late, day_b + 11 * kHourMs});

  // The plan for day A's month: 10,000 set on day A, replaced by 20,000 on day B.
  for (auto [id, minor, at] : {std::tuple{"plan-1", 10000, day_a + 10 * kHourMs},
                               std::tuple{"plan-2", 20000, day_b + 10 * kHourMs}}) {
    auto target = Make(id, "plan", at);
    target.set_deal_id("");
    target.mutable_target_set()->set_period(Month(day_a));
    target.mutable_target_set()->mutable_amount()->set_minor(minor);
    target.mutable_target_set()->mutable_amount()->set_currency("USD");
    events.push_back({target, at});
  }
  std::stable_sort(events.begin(), events.end(),
                   [](const Timed& a, const Timed& b) { return a.received_ms < b.received_ms; });

  log::KafkaConfig kafka;
  kafka.brokers = brokers_;
  ASSERT_TRUE(log::CreateTopic(kafka, topic_, 2, std::chrono::seconds(30)).ok());
  auto writer = log::KafkaLogWriter::Create(kafka);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  std::vector<log::OutgoingRecord> records;
  for (const Timed& timed : events) {
    log::OutgoingRecord record{timed.event.client_id(), timed.event.SerializeAsString(), {}};
    record.timestamp_ms = timed.received_ms;
    records.push_back(std::move(record));
  }
  ASSERT_TRUE((*writer)->Append(topic_, records).ok());

  auto started = LokdProcess::Start(
      data_dir_, {"--brokers", brokers_, "--topic", topic_, "--group-id", topic_, "--partitions",
                  "2", "--checkpoint-every", "4"});
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  lokd_ = std::move(started).value();
  const std::string url = lokd_->url();
  const std::string period = url + "/v1/funnel?mode=period";

  // Wait (with a deadline) until every record is applied.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    auto ready = http::Fetch("GET", url + "/readyz");
    if (ready.ok() && ready->status == 200 && WonDeals(Get(period)) == 8) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling an HTTP endpoint
  }
  ASSERT_EQ(WonDeals(Get(period)), 8) << "5 on day A, 2 on day B, the late one";

  // Record time: what the dashboard said at the end of day A.
  const boost::json::object known_a = Get(period + "&knownAt=" + Date(day_a));
  EXPECT_EQ(WonDeals(known_a), 5);
  EXPECT_EQ(known_a.at("knownAt"), boost::json::value(Date(day_a) + "T23:59:59.999Z"));
  EXPECT_EQ(known_a.at("asOfSource").at("live"), false);
  // An instant between B 10:00 and the late win at 11:00.
  EXPECT_EQ(WonDeals(Get(period + "&knownAt=" + Date(day_b) + "T10:30:00Z")), 7);
  // Business time: what occurred by the end of day A, known now (the late win counts).
  EXPECT_EQ(WonDeals(Get(period + "&asOf=" + Date(day_a))), 6);
  // Both: occurred by day A and known by then.
  EXPECT_EQ(WonDeals(Get(period + "&asOf=" + Date(day_a) + "&knownAt=" + Date(day_a))), 5);
  // The plan as it stood: attainment against the target known by then.
  const auto plan_of = [](const boost::json::object& funnel) -> std::string {
    for (const auto& row : funnel.at("plan").as_array()) {
      return std::string(row.at("plan").at("minor").as_string());
    }
    return "none";
  };
  EXPECT_EQ(plan_of(known_a), "10000");
  EXPECT_EQ(plan_of(Get(period)), "20000");
  // The same question again is answered from the cache.
  EXPECT_EQ(Get(period + "&knownAt=" + Date(day_a)).at("asOfSource").at("cached"), true);
  // Bounds that exclude nothing are the live answer.
  EXPECT_EQ(Get(period + "&asOf=" + Date(now_ms + kDayMs)).at("asOfSource").at("live"), true);
  // The other read models take the same bounds.
  const boost::json::object concentration =
      Get(url + "/v1/concentration?knownAt=" + Date(day_a));
  EXPECT_EQ(concentration.at("overall").at("revenue").at("minor"),
            boost::json::value("15000"))  // 1000 + 2000 + ... + 5000
      << boost::json::serialize(concentration);
  EXPECT_EQ(Get(url + "/v1/concentration?asOf=" + Date(day_a))
                .at("overall").at("revenue").at("minor"),
            boost::json::value("21000"));

  // The restatement since the end of day A: the late win, and what it changed.
  const boost::json::object restated = Get(url + "/v1/restatements?since=" + Date(day_a));
  ASSERT_EQ(AsInt(restated.at("lateEventCount")), 1) << boost::json::serialize(restated);
  const auto& late_event = restated.at("lateEvents").at(0).as_object();
  EXPECT_EQ(late_event.at("eventId"), "deal5-won");
  EXPECT_EQ(late_event.at("type"), "deal_won");
  const std::string position = std::string(late_event.at("position").as_string());
  bool won_restated = false;
  for (const auto& change : restated.at("changes").as_array()) {
    const std::string metric = std::string(change.at("metric").as_string());
    if (metric == "funnel.period.rows[" + Month(late_occurred) + "].metrics.stages[WON].deals") {
      won_restated = true;
      EXPECT_EQ(AsInt(change.at("new")), AsInt(change.at("old")) + 1);
      EXPECT_EQ(change.at("period"), boost::json::value(Month(late_occurred)));
      ASSERT_EQ(change.at("lateEvents").as_array().size(), 1u);
      EXPECT_EQ(change.at("lateEvents").at(0), boost::json::value(position));
    }
  }
  EXPECT_TRUE(won_restated) << boost::json::serialize(restated.at("changes"));
  // The same through lokctl.
  const auto [exit_code, output] = RunShell(std::string(LOK_BIN_DIR) + "/lokctl restatement --since " +
                                            Date(day_a) + " --url " + url + " 2>&1");
  EXPECT_EQ(exit_code, 0) << output;
  EXPECT_NE(output.find("1 events received after"), std::string::npos) << output;
  EXPECT_NE(output.find("crm/deal5-won"), std::string::npos) << output;
  EXPECT_NE(output.find("funnel.period.rows[" + Month(late_occurred) + "].metrics.stages[WON].deals"),
            std::string::npos)
      << output;
  // Since day B's end nothing arrived late.
  EXPECT_EQ(Get(url + "/v1/restatements?since=" + Date(day_b + kDayMs)).at("lateEventCount").to_number<int64_t>(), 0);

  // Checkpoints: listed, and one taken on demand covers everything applied.
  auto taken = http::Fetch("POST", url + "/v1/admin/checkpoints");
  ASSERT_TRUE(taken.ok());
  EXPECT_EQ(taken->status, 201) << taken->body;
  EXPECT_NE(taken->body.find("\"records\":" + std::to_string(events.size())), std::string::npos)
      << taken->body;
  EXPECT_GE(Get(url + "/v1/admin/checkpoints").at("checkpoints").as_array().size(), 2u)
      << "--checkpoint-every 4 took some while applying";
  auto metrics = http::Fetch("GET", url + "/metrics");
  ASSERT_TRUE(metrics.ok());
  const size_t hits = metrics->body.find("\nlok_as_of_cache_hits_total ");
  ASSERT_NE(hits, std::string::npos) << metrics->body;
  EXPECT_GE(std::stoll(metrics->body.substr(hits + 28)), 1) << "the repeated knownAt query";

  // Bad values name the parameter.
  auto bad = http::Fetch("GET", period + "&knownAt=yesterday");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("knownAt:"), std::string::npos) << bad->body;
  bad = http::Fetch("GET", url + "/v1/restatements");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("since:"), std::string::npos) << bad->body;
}

}  // namespace
}  // namespace lok::testing
