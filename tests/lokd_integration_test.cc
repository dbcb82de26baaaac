// End-to-end tests of lokd, on the embedded log and on a real Kafka broker
// alike (LOK_KAFKA_BROKERS; the Kafka cases are skipped without it). lokd runs
// as a real child process; nothing is mocked.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <algorithm>
#include <random>
#include <sstream>

#include "base/sha256.h"
#include "client/lok_client.h"
#include "http/http_client.h"
#include "importer/crm_import.h"
#include "log/embedded_log.h"
#include "log/kafka_log.h"
#include "support/event_generator.h"
#include "support/lokd_process.h"

namespace lok::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int32_t kPartitions = 4;

std::vector<log::OutgoingRecord> AsRecords(const std::vector<lok::v1::Event>& events) {
  std::vector<log::OutgoingRecord> records;
  records.reserve(events.size());
  for (const auto& event : events)
    records.push_back({event.client_id(), event.SerializeAsString(), {}});
  return records;
}

void ExpectFunnel(const lok::v1::FunnelResponse& funnel, const ExpectedFunnel& expected) {
  ASSERT_EQ(funnel.stages_size(), 5);
  for (int stage = 0; stage < 5; ++stage) {
    const auto& count = funnel.stages(stage);
    EXPECT_EQ(count.deals(), expected.deals[static_cast<size_t>(stage)])
        << lok::v1::Stage_Name(count.stage());
    int64_t usd = 0;
    for (const auto& money : count.amounts()) {
      if (money.currency() == "USD") usd = money.minor();
    }
    EXPECT_EQ(usd, expected.amounts[static_cast<size_t>(stage)])
        << lok::v1::Stage_Name(count.stage());
  }
  const int64_t closed = expected.deals[3] + expected.deals[4];
  EXPECT_DOUBLE_EQ(
      funnel.win_rate(),
      closed == 0 ? 0.0 : static_cast<double>(expected.deals[3]) / static_cast<double>(closed));
}

int64_t OffsetSum(const lok::v1::FunnelResponse& funnel) {
  int64_t sum = 0;
  for (const auto& [partition, offset] : funnel.offsets()) sum += offset;
  return sum;
}

// One metric's value from /metrics, or -1.
int64_t Metric(const std::string& url, const std::string& name) {
  auto response = http::Fetch("GET", url + "/metrics");
  if (!response.ok()) return -1;
  std::istringstream lines(response->body);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name + " ", 0) == 0) return std::stoll(line.substr(name.size() + 1));
  }
  return -1;
}

// The metric once it reaches `expected` (the projector updates its counters
// just after the commit that makes the offsets visible, so a query that saw
// the offsets can still read the counters before the batch), or its value
// after 30 s. Counters only grow, so an equality check on the result still
// catches overcounting.
int64_t MetricReaching(const std::string& url, const std::string& name, int64_t expected) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int64_t value = Metric(url, name);
  while (value < expected && std::chrono::steady_clock::now() < deadline) {
    value = Metric(url, name);
  }
  return value;
}

class LokdIntegrationTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    kafka_ = GetParam() == "kafka";
    if (kafka_) {
      brokers_ = KafkaBrokers();
      if (brokers_.empty()) {
        if (std::getenv("LOK_REQUIRE_KAFKA") != nullptr)
          FAIL() << "LOK_REQUIRE_KAFKA without LOK_KAFKA_BROKERS";
        GTEST_SKIP() << "LOK_KAFKA_BROKERS is not set (deploy/kafka/kafka.sh start)";
      }
      kafka_config_.brokers = brokers_;
    }
    std::random_device random;
    topic_ = "lok.it." + std::to_string(random());
    data_dir_ = FreshDirectory(GetParam());
  }
  void TearDown() override {
    lokd_.reset();
    std::filesystem::remove_all(data_dir_);
  }

  std::vector<std::string> LokdArguments(std::vector<std::string> extra = {}) const {
    std::vector<std::string> arguments = {"--topic", topic_, "--partitions",
                                          std::to_string(kPartitions)};
    if (kafka_) {
      arguments.insert(arguments.end(), {"--brokers", brokers_, "--group-id", topic_});
    }
    arguments.insert(arguments.end(), extra.begin(), extra.end());
    return arguments;
  }

  void StartLokd(std::vector<std::string> extra = {}) {
    auto started = LokdProcess::Start(data_dir_, LokdArguments(std::move(extra)));
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    lokd_ = std::move(started).value();
  }

  // Appends records straight to the log, as another system would: to Kafka,
  // or to the embedded log while lokd is not running (it owns the database).
  log::PartitionOffsets AppendToLog(const std::string& topic,
                                    std::vector<log::OutgoingRecord> records) {
    log::PartitionOffsets ends;
    StatusOr<std::vector<log::Position>> positions = InternalError("not appended");
    if (kafka_) {
      EXPECT_TRUE(log::CreateTopic(kafka_config_, topic, kPartitions, seconds(30)).ok());
      auto writer = log::KafkaLogWriter::Create(kafka_config_);
      EXPECT_TRUE(writer.ok()) << writer.status().ToString();
      if (!writer.ok()) return ends;
      positions = (*writer)->Append(topic, std::move(records));
    } else {
      EXPECT_EQ(lokd_, nullptr) << "the embedded log is lokd's while it runs";
      auto log = log::EmbeddedLog::Open((data_dir_ / "log").string(), kPartitions);
      EXPECT_TRUE(log.ok()) << log.status().ToString();
      if (!log.ok()) return ends;
      positions = (*log)->Append(topic, std::move(records));
    }
    EXPECT_TRUE(positions.ok()) << positions.status().ToString();
    if (positions.ok()) {
      for (const auto& position : *positions) {
        ends[position.partition] = std::max(ends[position.partition], position.offset + 1);
      }
    }
    return ends;
  }

  // Every record of `topic` (the embedded log only while lokd is stopped).
  std::vector<log::Record> ReadTopic(const std::string& topic, size_t expected) {
    std::unique_ptr<log::EmbeddedLog> embedded;
    std::unique_ptr<log::LogReader> reader;
    if (kafka_) {
      auto created = log::KafkaLogReader::Create(kafka_config_, topic, topic + ".reader");
      EXPECT_TRUE(created.ok());
      reader = std::move(created).value();
    } else {
      auto opened = log::EmbeddedLog::Open((data_dir_ / "log").string(), kPartitions);
      EXPECT_TRUE(opened.ok()) << opened.status().ToString();
      embedded = std::move(opened).value();
      reader = embedded->NewReader(topic);
    }
    log::PartitionOffsets from;
    for (int32_t partition = 0; partition < kPartitions; ++partition) from[partition] = 0;
    EXPECT_TRUE(reader->Assign(from).ok());
    std::vector<log::Record> records;
    const auto deadline = std::chrono::steady_clock::now() + seconds(30);
    while (records.size() < expected && std::chrono::steady_clock::now() < deadline) {
      auto batch = reader->Poll(1000, milliseconds(200));
      EXPECT_TRUE(batch.ok());
      if (!batch.ok()) break;
      for (auto& record : *batch) records.push_back(std::move(record));
    }
    return records;
  }

  bool kafka_ = false;
  std::string brokers_;
  log::KafkaConfig kafka_config_;
  std::string topic_;
  std::filesystem::path data_dir_;
  std::unique_ptr<LokdProcess> lokd_;
};

TEST_P(LokdIntegrationTest, TwentyThousandEventsGiveTheExactFunnelAndRepublishingChangesNothing) {
  GeneratedEvents generated = GenerateEvents(20000, 300, 7);
  ASSERT_NO_FATAL_FAILURE(StartLokd());
  const std::string ndjson = ToNdjson(generated.events);

  auto first = client::PublishOverHttp(ndjson, lokd_->url(), {});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->appended, 20000U);
  auto funnel = client::WaitForOffsets(lokd_->url(), first->offsets, seconds(120));
  ASSERT_TRUE(funnel.ok()) << funnel.status().ToString();
  ExpectFunnel(*funnel, generated.funnel);
  EXPECT_EQ(OffsetSum(*funnel), 20000);

  auto second = client::PublishOverHttp(ndjson, lokd_->url(), {});
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  auto again = client::WaitForOffsets(lokd_->url(), second->offsets, seconds(120));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  ExpectFunnel(*again, generated.funnel);
  EXPECT_EQ(OffsetSum(*again), 40000);
  EXPECT_EQ(MetricReaching(lokd_->url(), "lok_events_duplicate_total", 20000), 20000);
  EXPECT_EQ(MetricReaching(lokd_->url(), "lok_events_applied_total", 20000), 20000);
}

TEST_P(LokdIntegrationTest, MalformedRecordGoesToTheDeadLetterTopicWhileTheRestIsApplied) {
  GeneratedEvents generated = GenerateEvents(500, 20, 11);
  std::vector<log::OutgoingRecord> records = AsRecords(generated.events);
  lok::v1::Event negative = generated.events.front();
  negative.set_event_id("negative-money");
  negative.mutable_deal_won()->mutable_amount()->set_minor(-100);
  negative.mutable_deal_won()->mutable_amount()->set_currency("USD");
  records.insert(records.begin() + 100, {"client-1", "\x08\x96\x01 this is not an Event", {}});
  records.insert(records.begin() + 300, {negative.client_id(), negative.SerializeAsString(), {}});
  const log::PartitionOffsets ends = AppendToLog(topic_, records);

  ASSERT_NO_FATAL_FAILURE(StartLokd());
  auto funnel = client::WaitForOffsets(lokd_->url(), ends, seconds(120));
  ASSERT_TRUE(funnel.ok()) << funnel.status().ToString();
  ExpectFunnel(*funnel, generated.funnel);
  EXPECT_EQ(MetricReaching(lokd_->url(), "lok_events_dead_lettered_total", 2), 2);
  lokd_->Stop(SIGTERM);
  lokd_.reset();

  std::vector<log::Record> letters = ReadTopic(log::DeadLetterTopic(topic_), 2);
  ASSERT_EQ(letters.size(), 2U);
  std::map<std::string, std::map<std::string, std::string>> by_value;
  for (const auto& letter : letters) {
    for (const auto& header : letter.headers) by_value[letter.value][header.key] = header.value;
  }
  auto& garbage = by_value[records[100].value];
  EXPECT_NE(garbage["lok.dlq.reason"].find("not a valid lok.v1.Event"), std::string::npos);
  EXPECT_EQ(garbage["lok.dlq.topic"], topic_);
  EXPECT_FALSE(garbage["lok.dlq.offset"].empty());
  EXPECT_EQ(by_value[negative.SerializeAsString()]["lok.dlq.reason"],
            "deal_won.amount.minor: must be >= 0");
}

TEST_P(LokdIntegrationTest, SigkillWhileConsumingNeitherLosesNorDoubleCounts) {
  GeneratedEvents generated = GenerateEvents(20000, 300, 23);
  const log::PartitionOffsets ends = AppendToLog(topic_, AsRecords(generated.events));
  // Small synced batches keep lokd consuming long enough to be killed mid-way.
  const std::vector<std::string> slow = {"--batch-size", "40", "--sync-commits"};
  std::mt19937 random(5);
  int killed_mid_way = 0;
  for (int round = 0; round < 5; ++round) {
    ASSERT_NO_FATAL_FAILURE(StartLokd(slow));
    int64_t progress = 0;
    auto funnel = client::FetchFunnel(lokd_->url());
    if (funnel.ok()) progress = OffsetSum(*funnel);
    const int64_t target = progress + static_cast<int64_t>(random() % 3000);
    const auto deadline = std::chrono::steady_clock::now() + seconds(60);
    while (progress < std::min<int64_t>(target, 20000) &&
           std::chrono::steady_clock::now() < deadline) {
      funnel = client::FetchFunnel(lokd_->url());
      if (funnel.ok()) progress = OffsetSum(*funnel);
    }
    lokd_->Stop(SIGKILL);
    lokd_.reset();
    if (progress < 20000) ++killed_mid_way;
  }
  EXPECT_GT(killed_mid_way, 0) << "no kill landed while lokd was consuming";
  ASSERT_NO_FATAL_FAILURE(StartLokd());
  auto funnel = client::WaitForOffsets(lokd_->url(), ends, seconds(120));
  ASSERT_TRUE(funnel.ok()) << funnel.status().ToString();
  ExpectFunnel(*funnel, generated.funnel);
  EXPECT_EQ(OffsetSum(*funnel), 20000);
}

// The funnel of the shared CRM export, worked out from the CSV files alone.
struct CsvFunnel {
  ExpectedFunnel funnel;
  bool found = false;
};

CsvFunnel FunnelFromCsv(const std::filesystem::path& directory) {
  CsvFunnel result;
  std::ifstream products(directory / "products.csv");
  std::ifstream pipeline(directory / "sales_pipeline.csv");
  if (!products || !pipeline) return result;
  result.found = true;
  auto split = [](const std::string& line) {
    std::vector<std::string> fields;
    std::stringstream stream(line);
    for (std::string field; std::getline(stream, field, ',');) fields.push_back(field);
    if (!line.empty() && line.back() == ',') fields.emplace_back();
    return fields;
  };
  std::map<std::string, int64_t> list_price;
  std::string line;
  std::getline(products, line);
  while (std::getline(products, line)) {
    auto fields = split(line);
    list_price[fields[0]] = std::stoll(fields[2]) * 100;
  }
  list_price["GTXPro"] = list_price["GTX Pro"];  // the export's other spelling
  std::getline(pipeline, line);
  auto& expected = result.funnel;
  while (std::getline(pipeline, line)) {
    auto fields = split(line);  // id, agent, product, account, stage, engage, close, value
    const std::string& stage = fields[4];
    int64_t offer = 0;
    if (stage == "Won") offer = std::stoll(fields[7]) * 100;
    if (stage == "Lost") offer = list_price.at(fields[2]);
    ++expected.deals[0];
    if (stage != "Prospecting") ++expected.deals[1];
    if (stage == "Won" || stage == "Lost") {
      ++expected.deals[2];
      for (size_t reached = 0; reached < 3; ++reached) expected.amounts[reached] += offer;
    }
    if (stage == "Won") {
      ++expected.deals[3];
      expected.amounts[3] += offer;
    }
    if (stage == "Lost") {
      ++expected.deals[4];
      expected.amounts[4] += offer;
    }
  }
  return result;
}

TEST_P(LokdIntegrationTest, SharedCrmDatasetIsServedWithTheFunnelOfTheCsvFiles) {
  const std::filesystem::path dataset = LOK_SHARED_DATASET_DIR;
  CsvFunnel expected = FunnelFromCsv(dataset);
  if (!expected.found) GTEST_SKIP() << "no shared dataset at " << dataset;
  auto imported = importer::ImportCrmExport(dataset);
  ASSERT_TRUE(imported.ok()) << imported.status().ToString();
  ASSERT_NO_FATAL_FAILURE(StartLokd());
  auto published = client::PublishOverHttp(ToNdjson(imported->events), lokd_->url(), {});
  ASSERT_TRUE(published.ok()) << published.status().ToString();
  EXPECT_TRUE(published->rejected.empty());
  auto funnel = client::WaitForOffsets(lokd_->url(), published->offsets, seconds(120));
  ASSERT_TRUE(funnel.ok()) << funnel.status().ToString();
  ExpectFunnel(*funnel, expected.funnel);
  EXPECT_EQ(funnel->stages(0).deals(), 8800);
}

TEST_P(LokdIntegrationTest, InvalidLinesAreReportedAndNothingIsAppendedUnlessPartial) {
  ASSERT_NO_FATAL_FAILURE(StartLokd());
  GeneratedEvents generated = GenerateEvents(10, 3, 1);
  std::string body = ToNdjson(generated.events) + "{\"event_id\":\"broken\"}\n";
  auto strict = http::Fetch("POST", lokd_->url() + "/v1/events", body, "application/x-ndjson");
  ASSERT_TRUE(strict.ok());
  EXPECT_EQ(strict->status, 422);
  EXPECT_NE(strict->body.find("\"line\":11"), std::string::npos) << strict->body;
  EXPECT_NE(strict->body.find("\"appended\":0"), std::string::npos) << strict->body;

  auto partial =
      http::Fetch("POST", lokd_->url() + "/v1/events?partial=true", body, "application/x-ndjson");
  ASSERT_TRUE(partial.ok());
  EXPECT_EQ(partial->status, 200);
  EXPECT_NE(partial->body.find("\"appended\":10"), std::string::npos) << partial->body;

  auto unknown = http::Fetch("POST", lokd_->url() + "/v1/events?partail=true", body);
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status, 400);
  EXPECT_NE(unknown->body.find("partail"), std::string::npos);
}


// Shuffled arrival orders of the same events give byte-identical answers
// from every endpoint (issue 3's order-independence requirement).
TEST(ReadModelOrderTest, EveryEndpointAnswersTheSameForShuffledEvents) {
  GeneratedEvents generated = GenerateEvents(3000, 40, 17);
  std::vector<lok::v1::Event> events = generated.events;
  const int64_t start = 1704067200;  // 2024-01-01
  for (int index = 0; index < 40; ++index) {
    const std::string client = "client-" + std::to_string(index);
    lok::v1::Event delayed;
    delayed.set_event_id("delay-" + std::to_string(index));
    delayed.set_source("billing");
    delayed.set_client_id(client);
    delayed.mutable_occurred_at()->set_seconds(start + 86400 * (10 + index));
    delayed.mutable_payment_delayed()->set_invoice_id("inv-" + std::to_string(index));
    delayed.mutable_payment_delayed()->set_days_overdue(5 + index);
    delayed.mutable_payment_delayed()->mutable_outstanding()->set_minor(1000 * (index + 1));
    delayed.mutable_payment_delayed()->mutable_outstanding()->set_currency("USD");
    events.push_back(delayed);
    if (index % 2 == 0) {
      lok::v1::Event paid = delayed;
      paid.set_event_id("paid-" + std::to_string(index));
      paid.mutable_occurred_at()->set_seconds(start + 86400 * (20 + index));
      paid.mutable_payment_received()->set_invoice_id("inv-" + std::to_string(index));
      *paid.mutable_payment_received()->mutable_amount() = delayed.payment_delayed().outstanding();
      events.push_back(paid);
    }
  }
  for (int version = 0; version < 3; ++version) {
    lok::v1::Event target;
    target.set_event_id("target-" + std::to_string(version));
    target.set_source("planning");
    target.set_client_id("planning");
    target.mutable_occurred_at()->set_seconds(start + version);
    target.mutable_target_set()->set_period("2024-01");
    target.mutable_target_set()->mutable_amount()->set_minor(1000000 * (version + 1));
    target.mutable_target_set()->mutable_amount()->set_currency("USD");
    events.push_back(target);
  }
  const std::vector<std::string> endpoints = {
      "/v1/funnel",
      "/v1/funnel?mode=period&by=month&from=2024-01-01&to=2024-03-31",
      "/v1/funnel?by=salesperson&from=2024-01-01&to=2024-01-01",
      "/v1/funnel?client=client-3",
      "/v1/concentration?asOf=2024-03-31&limit=10",
      "/v1/concentration?asOf=2024-03-31&by=salesperson",
      "/v1/retention?asOf=2024-03-31&limit=20",
      "/v1/clients/client-3?asOf=2024-03-31",
  };
  std::vector<std::vector<std::string>> answers;
  std::mt19937 random(99);
  for (int run = 0; run < 2; ++run) {
    std::shuffle(events.begin(), events.end(), random);
    const std::filesystem::path data_dir = FreshDirectory("order");
    auto lokd = LokdProcess::Start(data_dir, {"--partitions", "4"});
    ASSERT_TRUE(lokd.ok()) << lokd.status().ToString();
    auto published = client::PublishOverHttp(ToNdjson(events), (*lokd)->url(), {});
    ASSERT_TRUE(published.ok()) << published.status().ToString();
    ASSERT_TRUE(published->rejected.empty()) << published->ToText();
    ASSERT_TRUE(client::WaitForOffsets((*lokd)->url(), published->offsets, seconds(120)).ok());
    std::vector<std::string> bodies;
    for (const std::string& endpoint : endpoints) {
      auto response = http::Fetch("GET", (*lokd)->url() + endpoint);
      ASSERT_TRUE(response.ok()) << endpoint;
      EXPECT_EQ(response->status, 200) << endpoint << ": " << response->body;
      bodies.push_back(response->body);
    }
    answers.push_back(std::move(bodies));
    lokd->reset();
    std::filesystem::remove_all(data_dir);
  }
  // Compared as JSON values: object members (the offsets map) may print in
  // any order; every value must be identical.
  for (size_t index = 0; index < endpoints.size(); ++index) {
    EXPECT_EQ(boost::json::parse(answers[0][index]), boost::json::parse(answers[1][index]))
        << endpoints[index] << "\n" << answers[0][index] << "\n" << answers[1][index];
  }
  EXPECT_NE(answers[0][6].find("\"reasons\""), std::string::npos) << answers[0][6];
}


// lokd with API tokens: 401 without one, 403 beyond its role or its bound
// sources, and the right token through.
TEST(LokdAuthTest, TokensGateEveryRouteByRoleAndSource) {
  const std::filesystem::path data_dir = FreshDirectory("auth");
  const std::filesystem::path tokens = data_dir / "tokens.json";
  {
    std::ofstream out(tokens);
    out << R"({"tokens":[)"
        << R"({"name":"crm","sha256":")" << Sha256Hex("crm-token") << R"(","role":"publish","sources":["crm"]},)"
        << R"({"name":"dashboard","sha256":")" << Sha256Hex("read-token") << R"(","role":"read"}]})";
  }
  auto lokd = LokdProcess::Start(data_dir, {"--auth-file", tokens.string()});
  ASSERT_TRUE(lokd.ok()) << lokd.status().ToString();
  const std::string url = (*lokd)->url();
  auto get = [&](const std::string& path, const std::string& token) {
    auto response = http::Fetch("GET", url + path, {}, "application/json", seconds(10), http::BearerHeader(token));
    return response.ok() ? response->status : -1;
  };
  EXPECT_EQ(get("/v1/funnel", ""), 401);
  EXPECT_EQ(get("/v1/funnel", "wrong"), 401);
  EXPECT_EQ(get("/v1/funnel", "read-token"), 200);
  EXPECT_EQ(get("/v1/funnel", "crm-token"), 403);
  EXPECT_EQ(get("/v1/admin/digests", "read-token"), 403);
  EXPECT_EQ(get("/healthz", ""), 200);

  GeneratedEvents generated = GenerateEvents(10, 3, 5);
  for (auto& event : generated.events) event.set_source("crm");
  const std::string allowed = ToNdjson(generated.events);
  auto post = [&](const std::string& body, const std::string& token) {
    return http::Fetch("POST", url + "/v1/events", body, "application/x-ndjson", seconds(10),
                       http::BearerHeader(token));
  };
  auto published = post(allowed, "crm-token");
  ASSERT_TRUE(published.ok());
  EXPECT_EQ(published->status, 200) << published->body;
  generated.events[3].set_source("billing");
  auto refused = post(ToNdjson(generated.events), "crm-token");
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status, 403);
  EXPECT_NE(refused->body.find("source 'billing' is not allowed for token 'crm'"), std::string::npos)
      << refused->body;
  EXPECT_NE(refused->body.find("\"line\":4"), std::string::npos) << refused->body;
  EXPECT_EQ(post(allowed, "read-token")->status, 403);
  lokd->reset();
  std::filesystem::remove_all(data_dir);
}

INSTANTIATE_TEST_SUITE_P(Logs, LokdIntegrationTest, ::testing::Values("embedded", "kafka"),
                         [](const auto& test_info) { return test_info.param; });

}  // namespace
}  // namespace lok::testing
