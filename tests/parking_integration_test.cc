// Parking on a real Kafka broker (LOK_KAFKA_BROKERS) with the real lokd: one
// client whose event a projection cannot apply is parked, with its later
// events, while every other client goes on; after the cause is fixed a retry
// through the admin endpoint applies them in order. An event of a type this
// lokd does not know is parked too, and an operator skips it with lokctl.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <csignal>
#include <random>
#include <sstream>

#include "client/lok_client.h"
#include "http/http_client.h"
#include "log/kafka_log.h"
#include "store/rocks_store.h"
#include "support/lokd_process.h"

namespace lok::testing {
namespace {

using std::chrono::seconds;

constexpr int32_t kPartitions = 4;
constexpr int kOtherClients = 12;

lok::v1::Event WonEvent(const std::string& id, const std::string& client, const std::string& deal) {
  lok::v1::Event event;
  event.set_event_id(id);
  event.set_source("billing");
  event.mutable_occurred_at()->set_seconds(1704067200);
  event.set_client_id(client);
  event.set_deal_id(deal);
  event.mutable_deal_won()->mutable_amount()->set_minor(1000);
  event.mutable_deal_won()->mutable_amount()->set_currency("USD");
  return event;
}

log::OutgoingRecord AsRecord(const lok::v1::Event& event) {
  return {event.client_id(), event.SerializeAsString(), {}};
}

void AppendVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

// `envelope` with its payload replaced by field 99, a type a newer schema
// would add.
log::OutgoingRecord FutureTypeRecord(lok::v1::Event envelope) {
  envelope.clear_payload();
  std::string bytes = envelope.SerializeAsString();
  AppendVarint(bytes, (uint64_t{99} << 3) | 2);
  AppendVarint(bytes, 2);
  bytes += "\x08\x01";
  return {envelope.client_id(), bytes, {}};
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

class ParkingIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    brokers_ = KafkaBrokers();
    if (brokers_.empty()) {
      if (std::getenv("LOK_REQUIRE_KAFKA") != nullptr) {
        FAIL() << "LOK_REQUIRE_KAFKA without LOK_KAFKA_BROKERS";
      }
      GTEST_SKIP() << "LOK_KAFKA_BROKERS is not set (deploy/kafka/kafka.sh start)";
    }
    kafka_.brokers = brokers_;
    std::random_device random;
    topic_ = "lok.parking-it." + std::to_string(random());
    data_dir_ = FreshDirectory("parking");
  }
  void TearDown() override {
    lokd_.reset();
    std::filesystem::remove_all(data_dir_);
  }

  void StartLokd() {
    auto started = LokdProcess::Start(
        data_dir_, {"--topic", topic_, "--partitions", std::to_string(kPartitions), "--brokers",
                    brokers_, "--group-id", topic_});
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    lokd_ = std::move(started).value();
  }

  // Produces to Kafka and waits until lokd has consumed through the records.
  lok::v1::FunnelResponse PublishAndWait(std::vector<log::OutgoingRecord> records) {
    auto writer = log::KafkaLogWriter::Create(kafka_);
    EXPECT_TRUE(writer.ok()) << writer.status().ToString();
    if (!writer.ok()) return {};
    auto positions = (*writer)->Append(topic_, std::move(records));
    EXPECT_TRUE(positions.ok()) << positions.status().ToString();
    if (!positions.ok()) return {};
    for (const log::Position& position : *positions) {
      ends_[position.partition] = std::max(ends_[position.partition], position.offset + 1);
    }
    auto funnel = client::WaitForOffsets(lokd_->url(), ends_, seconds(60));
    EXPECT_TRUE(funnel.ok()) << funnel.status().ToString();
    return funnel.ok() ? *funnel : lok::v1::FunnelResponse();
  }

  boost::json::value Call(const std::string& method, const std::string& path) {
    auto response = http::Fetch(method, lokd_->url() + path, "");
    EXPECT_TRUE(response.ok()) << response.status().ToString();
    if (!response.ok()) return nullptr;
    EXPECT_EQ(response->status, 200) << path << ": " << response->body;
    return boost::json::parse(response->body);
  }

  std::pair<int, std::string> Lokctl(const std::string& arguments) {
    return RunShell(std::string(LOK_BIN_DIR) + "/lokctl parked " + arguments + " --url " +
                    lokd_->url());
  }

  std::string brokers_;
  log::KafkaConfig kafka_;
  std::string topic_;
  std::filesystem::path data_dir_;
  std::unique_ptr<LokdProcess> lokd_;
  log::PartitionOffsets ends_;
};

TEST_F(ParkingIntegrationTest, OneClientIsParkedWhileOthersContinueAndARetryAppliesItInOrder) {
  // The funnel's stored state of one deal is unreadable (as after a bad
  // manual edit): every event of that deal fails in the funnel projection.
  const std::string poisoned_key = "funnel/deal/deal-acme-2";
  {
    auto store = store::RocksStore::Open((data_dir_ / "state").string());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store::ChangeSet corrupt;
    corrupt.writes[poisoned_key] = std::string("\x0a\xff\xff\xff\xff\x0f", 6);
    ASSERT_TRUE((*store)->Commit(corrupt).ok());
  }
  ASSERT_NO_FATAL_FAILURE(StartLokd());

  std::vector<log::OutgoingRecord> records = {AsRecord(WonEvent("acme-1", "acme", "deal-acme-1")),
                                              AsRecord(WonEvent("acme-2", "acme", "deal-acme-2")),
                                              AsRecord(WonEvent("acme-3", "acme", "deal-acme-3"))};
  for (int client = 0; client < kOtherClients; ++client) {
    const std::string name = "other-" + std::to_string(client);
    records.push_back(AsRecord(WonEvent(name + "-a", name, name + "-deal")));
  }
  lok::v1::FunnelResponse funnel = PublishAndWait(std::move(records));
  EXPECT_EQ(funnel.stages(3).deals(), kOtherClients + 1) << "the others and acme-1";

  boost::json::value parked = Call("GET", "/v1/admin/parked");
  EXPECT_EQ(parked.at("parkedEvents").as_int64(), 2);
  ASSERT_EQ(parked.at("clients").as_array().size(), 1U);
  const auto& acme = parked.at("clients").as_array()[0];
  EXPECT_EQ(acme.at("clientId").as_string(), "acme");
  EXPECT_EQ(acme.at("firstCause").as_string(), "failed");
  EXPECT_NE(std::string(acme.at("firstReason").as_string())
                .find("funnel: DATA_LOSS: funnel: unreadable deal state for deal-acme-2"),
            std::string::npos)
      << acme.at("firstReason");
  EXPECT_EQ(Metric(lokd_->url(), "lok_parked_events"), 2);
  EXPECT_EQ(Metric(lokd_->url(), "lok_parked_clients"), 1);

  // Later: acme's next event waits behind acme-2, the others go on.
  funnel = PublishAndWait({AsRecord(WonEvent("acme-4", "acme", "deal-acme-4")),
                           AsRecord(WonEvent("other-0-b", "other-0", "other-0-deal-b"))});
  EXPECT_EQ(funnel.stages(3).deals(), kOtherClients + 2);
  auto [list_status, listed] = Lokctl("list");
  EXPECT_EQ(list_status, 0) << listed;
  EXPECT_NE(listed.find("3 events of 1 clients are parked"), std::string::npos) << listed;
  EXPECT_NE(listed.find("unreadable deal state for deal-acme-2"), std::string::npos) << listed;

  // The cause is fixed (lokd stopped: it owns the store), the queue survives
  // the restart, and a retry through the admin endpoint applies acme-2,
  // acme-3 and acme-4 in order.
  ASSERT_EQ(WEXITSTATUS(lokd_->Stop(SIGTERM)), 0);
  lokd_.reset();
  {
    auto store = store::RocksStore::Open((data_dir_ / "state").string());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store::ChangeSet fix;
    fix.writes[poisoned_key] = std::nullopt;
    ASSERT_TRUE((*store)->Commit(fix).ok());
  }
  ASSERT_NO_FATAL_FAILURE(StartLokd());
  boost::json::value shown = Call("GET", "/v1/admin/parked/acme");
  ASSERT_EQ(shown.at("events").as_array().size(), 3U);
  EXPECT_EQ(shown.at("events").as_array()[0].at("eventId").as_string(), "acme-2");
  EXPECT_EQ(shown.at("events").as_array()[2].at("eventId").as_string(), "acme-4");

  boost::json::value retried = Call("POST", "/v1/admin/parked/acme/retry");
  EXPECT_EQ(retried.at("applied").as_int64(), 3);
  EXPECT_EQ(retried.at("remaining").as_int64(), 0);
  EXPECT_TRUE(retried.at("stoppedAt").is_null());
  auto after = client::WaitForOffsets(lokd_->url(), ends_, seconds(60));
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->stages(3).deals(), kOtherClients + 5);
  EXPECT_EQ(Call("GET", "/v1/admin/parked").at("parkedClients").as_int64(), 0);
  EXPECT_EQ(Metric(lokd_->url(), "lok_parked_events"), 0);
  EXPECT_EQ(Metric(lokd_->url(), "lok_parked_retried_total"), 3);

  // acme is not parked any more: its next event is applied straight away.
  funnel = PublishAndWait({AsRecord(WonEvent("acme-5", "acme", "deal-acme-5"))});
  EXPECT_EQ(funnel.stages(3).deals(), kOtherClients + 6);
}

TEST_F(ParkingIntegrationTest, UnknownEventTypeIsParkedWithItsReasonAndCanBeSkippedWithLokctl) {
  ASSERT_NO_FATAL_FAILURE(StartLokd());
  lok::v1::FunnelResponse funnel =
      PublishAndWait({FutureTypeRecord(WonEvent("zeta-future", "zeta", "deal-zeta-1")),
                      AsRecord(WonEvent("zeta-2", "zeta", "deal-zeta-2")),
                      AsRecord(WonEvent("other-1", "other", "deal-other-1"))});
  EXPECT_EQ(funnel.stages(3).deals(), 1);

  auto [show_status, shown] = Lokctl("show zeta");
  EXPECT_EQ(show_status, 0) << shown;
  EXPECT_NE(shown.find("unknown event type (field 99); upgrade lokd"), std::string::npos) << shown;
  EXPECT_NE(shown.find("zeta-2"), std::string::npos) << shown;

  // This lokd still does not know the type: the retry stops at it (exit 3).
  auto [retry_status, retried] = Lokctl("retry zeta");
  EXPECT_EQ(WEXITSTATUS(retry_status), 3) << retried;
  EXPECT_NE(retried.find("2 still parked"), std::string::npos) << retried;

  auto [skip_status, skipped] = Lokctl("skip zeta");
  EXPECT_EQ(skip_status, 0) << skipped;
  EXPECT_NE(skipped.find("skipped 1 events"), std::string::npos) << skipped;
  auto [retry2_status, retried2] = Lokctl("retry zeta");
  EXPECT_EQ(retry2_status, 0) << retried2;
  EXPECT_NE(retried2.find("applied 1"), std::string::npos) << retried2;
  auto after = client::WaitForOffsets(lokd_->url(), ends_, seconds(60));
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->stages(3).deals(), 2);
  boost::json::value audit = Call("GET", "/v1/admin/parked/zeta");
  ASSERT_EQ(audit.at("skipped").as_array().size(), 1U);
  EXPECT_EQ(audit.at("skipped").as_array()[0].at("eventId").as_string(), "zeta-future");
  EXPECT_EQ(Metric(lokd_->url(), "lok_parked_skipped_total"), 1);
  EXPECT_EQ(Metric(lokd_->url(), "lok_events_dead_lettered_total"), 0);
}

}  // namespace
}  // namespace lok::testing
