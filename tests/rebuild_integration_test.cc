// Rebuilds on the real lokd binary, on the embedded log and on the real
// Kafka broker (LOK_KAFKA_BROKERS; skipped without it): the answers and the
// digests are the same before and after, queries running in other threads
// throughout never fail nor change, and a projection version change at start
// rebuilds in the background.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "client/lok_client.h"
#include "http/http_client.h"
#include "support/event_generator.h"
#include "support/lokd_process.h"

namespace lok::testing {
namespace {

using std::chrono::seconds;

const std::vector<std::string> kEndpoints = {
    "/v1/funnel",
    "/v1/funnel?mode=period&by=month&from=2024-01-01&to=2024-12-31",
    "/v1/concentration?asOf=2024-12-31&limit=10",
    "/v1/retention?asOf=2024-12-31&limit=20",
    "/v1/clients/client-3?asOf=2024-12-31",
    "/v1/funnel/explain?stage=WON&limit=5",
    "/v1/concentration/explain?client=client-3",
    "/v1/retention/explain?client=client-3&asOf=2024-12-31",
};

boost::json::object JsonOf(const StatusOr<http::ClientResponse>& response) {
  if (!response.ok()) return {{"fetchError", response.status().ToString()}};
  boost::system::error_code error;
  boost::json::value body = boost::json::parse(response->body, error);
  if (error || !body.is_object()) return {{"unparsable", response->body}};
  body.as_object()["httpStatus"] = response->status;
  return body.as_object();
}

// One metric's value from /metrics, or -1.
double Metric(const std::string& url, const std::string& name) {
  auto response = http::Fetch("GET", url + "/metrics");
  if (!response.ok()) return -1;
  std::istringstream lines(response->body);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

class RebuildIntegrationTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "kafka") {
      brokers_ = KafkaBrokers();
      if (brokers_.empty())
        GTEST_SKIP() << "LOK_KAFKA_BROKERS is not set (deploy/kafka/kafka.sh start)";
    }
    std::random_device random;
    topic_ = "lok.rebuild-it." + std::to_string(random());
    data_dir_ = FreshDirectory("rebuild-" + GetParam());
  }
  void TearDown() override {
    lokd_.reset();
    std::filesystem::remove_all(data_dir_);
  }

  void StartLokd(std::vector<std::string> extra = {}) {
    std::vector<std::string> arguments = {"--topic", topic_,           "--partitions",
                                          "4",       "--http-threads", "4"};
    if (!brokers_.empty())
      arguments.insert(arguments.end(), {"--brokers", brokers_, "--group-id", topic_});
    arguments.insert(arguments.end(), extra.begin(), extra.end());
    lokd_.reset();
    auto started = LokdProcess::Start(data_dir_, arguments);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    lokd_ = std::move(started).value();
  }

  std::vector<boost::json::object> Answers() {
    std::vector<boost::json::object> answers;
    for (const std::string& endpoint : kEndpoints)
      answers.push_back(JsonOf(http::Fetch("GET", lokd_->url() + endpoint)));
    return answers;
  }

  boost::json::object Digests() {
    return JsonOf(http::Fetch("GET", lokd_->url() + "/v1/admin/digests"));
  }

  boost::json::object RebuildStatus() {
    return JsonOf(http::Fetch("GET", lokd_->url() + "/v1/admin/rebuild"));
  }

  // Polls GET /v1/admin/rebuild until the rebuild is no longer running.
  boost::json::object WaitForRebuild() {
    const auto deadline = std::chrono::steady_clock::now() + seconds(240);
    boost::json::object status = RebuildStatus();
    while (std::chrono::steady_clock::now() < deadline) {
      const auto* state = status.if_contains("state");
      if (state != nullptr && *state != "replaying" && *state != "switching") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling an HTTP endpoint
      status = RebuildStatus();
    }
    return status;
  }

  std::string brokers_;
  std::string topic_;
  std::filesystem::path data_dir_;
  std::unique_ptr<LokdProcess> lokd_;
};

TEST_P(RebuildIntegrationTest, RebuildWhileQueriesRunKeepsEveryAnswerAndDigestAndSurvivesRestart) {
  GeneratedEvents generated = GenerateEvents(20000, 300, 23);
  StartLokd();
  auto published = client::PublishOverHttp(ToNdjson(generated.events), lokd_->url(), {});
  ASSERT_TRUE(published.ok()) << published.status().ToString();
  ASSERT_TRUE(client::WaitForOffsets(lokd_->url(), published->offsets, seconds(120)).ok());
  const std::vector<boost::json::object> before = Answers();
  const boost::json::object digests_before = Digests();
  ASSERT_TRUE(digests_before.contains("models")) << boost::json::serialize(digests_before);
  EXPECT_EQ(Metric(lokd_->url(), "lok_store_generation"), 0);

  // Query threads: every answer during the rebuild must be the answer before.
  std::atomic<bool> stop{false};
  std::atomic<int64_t> queries{0}, failures{0};
  std::vector<std::string> first_failure(3);
  std::vector<std::thread> threads;
  for (size_t thread = 0; thread < 3; ++thread) {
    threads.emplace_back([&, thread] {
      for (size_t round = thread; !stop.load(); ++round) {
        const size_t index = round % kEndpoints.size();
        boost::json::object answer = JsonOf(http::Fetch("GET", lokd_->url() + kEndpoints[index]));
        if (answer != before[index]) {
          if (failures.fetch_add(1) == 0)
            first_failure[thread] = kEndpoints[index] + ": " + boost::json::serialize(answer);
        }
        queries.fetch_add(1);
      }
    });
  }
  const boost::json::object started =
      JsonOf(http::Fetch("POST", lokd_->url() + "/v1/admin/rebuild"));
  EXPECT_EQ(started.at("httpStatus"), 202) << boost::json::serialize(started);
  const boost::json::object done = WaitForRebuild();
  // Keep querying the new store a moment after the switch too.
  const int64_t after_switch = queries.load() + 30;
  while (queries.load() < after_switch) std::this_thread::yield();
  stop.store(true);
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(done.at("state"), "done") << boost::json::serialize(done);
  EXPECT_EQ(done.at("currentGeneration"), 1);
  EXPECT_EQ(done.at("recordsReplayed"), 20000);
  EXPECT_EQ(done.at("oldGenerations"), boost::json::array({0}));
  EXPECT_GT(queries.load(), 30);
  EXPECT_EQ(failures.load(), 0) << first_failure[0] << first_failure[1] << first_failure[2];
  EXPECT_EQ(Answers(), before);
  EXPECT_EQ(Digests(), digests_before);
  EXPECT_EQ(Metric(lokd_->url(), "lok_store_generation"), 1);
  EXPECT_EQ(Metric(lokd_->url(), "lok_rebuild_progress_ratio"), 1);
  EXPECT_EQ(Metric(lokd_->url(), "lok_rebuild_running"), 0);
  const boost::json::object verified =
      JsonOf(http::Fetch("POST", lokd_->url() + "/v1/admin/verify"));
  EXPECT_EQ(verified.at("ok"), true) << boost::json::serialize(verified);

  // The live projector now writes the new store.
  GeneratedEvents more = GenerateEvents(500, 20, 29);
  for (auto& event : more.events) event.set_event_id("more-" + event.event_id());
  auto later = client::PublishOverHttp(ToNdjson(more.events), lokd_->url(), {});
  ASSERT_TRUE(later.ok()) << later.status().ToString();
  ASSERT_TRUE(client::WaitForOffsets(lokd_->url(), later->offsets, seconds(120)).ok());
  const std::vector<boost::json::object> with_more = Answers();
  EXPECT_NE(with_more, before);

  // Dropping removes generation 0; a restart opens generation 1.
  const boost::json::object dropped =
      JsonOf(http::Fetch("DELETE", lokd_->url() + "/v1/admin/rebuild/old"));
  EXPECT_EQ(dropped.at("dropped"), boost::json::array({0})) << boost::json::serialize(dropped);
  EXPECT_FALSE(std::filesystem::exists(data_dir_ / "state"));
  StartLokd();
  EXPECT_EQ(Metric(lokd_->url(), "lok_store_generation"), 1);
  EXPECT_EQ(RebuildStatus().at("state"), "idle");
  EXPECT_EQ(Answers(), with_more);
}

TEST_P(RebuildIntegrationTest, ProjectionVersionChangeAtStartRebuildsThatModelInTheBackground) {
  GeneratedEvents generated = GenerateEvents(5000, 80, 31);
  StartLokd();
  auto published = client::PublishOverHttp(ToNdjson(generated.events), lokd_->url(), {});
  ASSERT_TRUE(published.ok()) << published.status().ToString();
  ASSERT_TRUE(client::WaitForOffsets(lokd_->url(), published->offsets, seconds(120)).ok());
  const std::vector<boost::json::object> before = Answers();
  const boost::json::object digests_before = Digests();

  // The same code, but the funnel claims version 3: its model was built by 2.
  StartLokd({"--projection-version", "funnel=3"});
  boost::json::object ready = JsonOf(http::Fetch("GET", lokd_->url() + "/readyz"));
  if (const auto* rebuilding = ready.if_contains("rebuilding")) {
    EXPECT_EQ(rebuilding->at("reason"), "projection version changed");
  }
  const boost::json::object rebuilt = WaitForRebuild();
  const boost::json::object& status = rebuilt;
  EXPECT_EQ(status.at("state"), "done") << boost::json::serialize(status);
  EXPECT_EQ(status.at("reason"), "projection version changed");
  EXPECT_EQ(status.at("projections"), boost::json::array({"funnel"}));
  EXPECT_EQ(status.at("currentGeneration"), 1);
  EXPECT_EQ(Answers(), before);
  EXPECT_EQ(Digests(), digests_before);
  ready = JsonOf(http::Fetch("GET", lokd_->url() + "/readyz"));
  EXPECT_FALSE(ready.contains("rebuilding")) << boost::json::serialize(ready);

  // Started again with the same version: nothing to rebuild.
  StartLokd({"--projection-version", "funnel=3"});
  EXPECT_EQ(RebuildStatus().at("state"), "idle");
  EXPECT_EQ(Metric(lokd_->url(), "lok_store_generation"), 1);
  // An unknown projection name is refused at start.
  lokd_.reset();
  const auto [status_code, output] = RunShell(
      std::string(LOK_BIN_DIR) + "/lokd --data-dir " + data_dir_.string() +
      " --http 127.0.0.1:0 --partitions 4 --topic " + topic_ + " --projection-version nope=2");
  EXPECT_NE(status_code, 0);
  EXPECT_NE(output.find("unknown projection 'nope'"), std::string::npos) << output;
}

// Explain on lokd over generated data: the count behind each stage equals the
// funnel's for the same parameters, and pages list every deal once.
TEST_P(RebuildIntegrationTest, FunnelExplainCountsEqualTheFunnelsOnGeneratedEvents) {
  GeneratedEvents generated = GenerateEvents(6000, 100, 37);
  StartLokd();
  auto published = client::PublishOverHttp(ToNdjson(generated.events), lokd_->url(), {});
  ASSERT_TRUE(published.ok()) << published.status().ToString();
  ASSERT_TRUE(client::WaitForOffsets(lokd_->url(), published->offsets, seconds(120)).ok());
  const std::vector<std::string> parameters = {"", "&mode=period", "&from=2024-02-01&to=2024-05-15",
                                               "&mode=period&from=2024-03-01&to=2024-03-31",
                                               "&client=client-7"};
  const std::vector<std::string> stages = {"LEAD", "QUALIFIED", "OFFER", "WON", "LOST"};
  int64_t explained_deals = 0;
  for (const std::string& parameter : parameters) {
    const boost::json::object funnel = JsonOf(http::Fetch(
        "GET", lokd_->url() + "/v1/funnel" + (parameter.empty() ? "" : "?" + parameter.substr(1))));
    ASSERT_EQ(funnel.at("httpStatus"), 200) << boost::json::serialize(funnel);
    for (size_t stage = 0; stage < stages.size(); ++stage) {
      std::set<std::string> deals;
      std::string after;
      int64_t count = -1;
      for (int page = 0; page < 100; ++page) {
        const boost::json::object explained = JsonOf(http::Fetch(
            "GET", lokd_->url() + "/v1/funnel/explain?stage=" + stages[stage] + parameter +
                       "&limit=1000" + (after.empty() ? "" : "&after=" + after)));
        ASSERT_EQ(explained.at("httpStatus"), 200) << boost::json::serialize(explained);
        count = explained.at("count").as_int64();
        for (const auto& deal : explained.at("deals").as_array()) {
          deals.insert(std::string(deal.at("dealId").as_string()));
          EXPECT_FALSE(deal.at("events").as_array().empty());
        }
        after = std::string(explained.at("nextCursor").as_string());
        if (after.empty()) break;
      }
      const auto& expected = funnel.at("stages").at(stage).at("deals");
      const int64_t expected_count = expected.is_string()
                                         ? std::stoll(std::string(expected.as_string()))
                                         : expected.to_number<int64_t>();
      EXPECT_EQ(count, expected_count) << stages[stage] << parameter;
      EXPECT_EQ(static_cast<int64_t>(deals.size()), count) << stages[stage] << parameter;
      explained_deals += count;
    }
  }
  EXPECT_GT(explained_deals, 1000);
}

// lokctl rebuild, status and drop against lokd (on either log: the rebuild
// reads the events through its own reader).
TEST_P(RebuildIntegrationTest, LokctlRebuildShowsProgressSwitchesAndDrops) {
  GeneratedEvents generated = GenerateEvents(2000, 40, 41);
  StartLokd();
  auto published = client::PublishOverHttp(ToNdjson(generated.events), lokd_->url(), {});
  ASSERT_TRUE(published.ok()) << published.status().ToString();
  ASSERT_TRUE(client::WaitForOffsets(lokd_->url(), published->offsets, seconds(120)).ok());
  const std::string lokctl = std::string(LOK_BIN_DIR) + "/lokctl";
  const auto [rebuilt, rebuild_output] =
      RunShell(lokctl + " rebuild --projection funnel --url " + lokd_->url());
  EXPECT_EQ(rebuilt, 0) << rebuild_output;
  EXPECT_NE(rebuild_output.find("events/s"), std::string::npos) << rebuild_output;
  EXPECT_NE(rebuild_output.find("state done, store generation 1 current"), std::string::npos)
      << rebuild_output;
  const auto [status_code, status_output] =
      RunShell(lokctl + " rebuild status --url " + lokd_->url());
  EXPECT_EQ(status_code, 0);
  EXPECT_NE(status_output.find("old generations on disk [0]"), std::string::npos) << status_output;
  const auto [dropped, drop_output] = RunShell(lokctl + " rebuild drop --url " + lokd_->url());
  EXPECT_EQ(dropped, 0) << drop_output;
  EXPECT_NE(drop_output.find("dropped store generations [0]"), std::string::npos) << drop_output;
  const auto [refused, refused_output] =
      RunShell(lokctl + " rebuild --projection nope --url " + lokd_->url());
  EXPECT_NE(refused, 0);
  EXPECT_NE(refused_output.find("unknown 'nope'"), std::string::npos) << refused_output;
}

INSTANTIATE_TEST_SUITE_P(Logs, RebuildIntegrationTest, ::testing::Values("embedded", "kafka"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace lok::testing
