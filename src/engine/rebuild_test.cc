#include "engine/rebuild.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "log/embedded_log.h"
#include "projections/concentration.h"
#include "projections/funnel.h"
#include "projections/history.h"
#include "projections/retention.h"

namespace lok::engine {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// `deals` deals from `first`: a lead, an offer and, for two in three, a win.
std::vector<log::OutgoingRecord> DealRecords(int first, int deals) {
  std::vector<log::OutgoingRecord> records;
  const int64_t start = 1704067200;
  for (int deal = first; deal < first + deals; ++deal) {
    const std::string id = "d" + std::to_string(deal);
    auto base = [&](const std::string& suffix, int64_t at) {
      lok::v1::Event event;
      event.set_event_id(id + suffix);
      event.set_source("crm");
      event.set_client_id("c" + std::to_string(deal % 11));
      event.set_deal_id(id);
      event.mutable_occurred_at()->set_seconds(start + at);
      return event;
    };
    std::vector<lok::v1::Event> events;
    auto lead = base("-lead", deal * 600);
    lead.mutable_lead_created()->set_salesperson(deal % 2 ? "ana" : "bo");
    events.push_back(lead);
    auto offer = base("-offer", deal * 600 + 86400);
    offer.mutable_offer_sent()->mutable_amount()->set_minor(1000 + deal);
    offer.mutable_offer_sent()->mutable_amount()->set_currency("USD");
    events.push_back(offer);
    if (deal % 3 != 0) {
      auto won = base("-won", deal * 600 + 86400 * 9);
      won.mutable_deal_won()->mutable_amount()->set_minor(900 + deal);
      won.mutable_deal_won()->mutable_amount()->set_currency("USD");
      events.push_back(won);
    }
    for (const auto& event : events)
      records.push_back({event.client_id(), event.SerializeAsString(), {}});
  }
  return records;
}

int64_t Sum(const log::PartitionOffsets& offsets) {
  int64_t sum = 0;
  for (const auto& [partition, offset] : offsets) sum += offset;
  return sum;
}

class RebuildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("lok-rebuild-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_ / "data");
    log_ = std::move(log::EmbeddedLog::Open((root_ / "log").string(), 3)).value();
    ASSERT_TRUE(log_->CreateTopic("events", 3).ok());
    generations_ = std::make_unique<store::StoreGenerations>((root_ / "data").string());
    std::shared_ptr<store::RocksStore> store =
        std::move(store::RocksStore::Open(generations_->PathOf(0))).value();
    live_ = std::make_unique<store::LiveStore>(store);
    reader_ = log_->NewReader("events");
    ProjectorOptions options;
    options.topic = "events";
    options.poll_timeout = milliseconds(20);
    options.max_batch = 500;
    runner_ = std::make_unique<ProjectorRunner>(*reader_, *log_, Models(), options, metrics_);
    runner_->Start(store);
  }

  void TearDown() override {
    rebuilder_.reset();
    runner_.reset();
    live_.reset();
    reader_.reset();
    log_.reset();
    std::filesystem::remove_all(root_);
  }

  std::vector<projections::Projection*> Models() {
    return {&funnel_, &concentration_, &retention_, &history_};
  }

  Rebuilder& MakeRebuilder(int64_t switch_gap = 20000) {
    RebuildConfig config;
    config.live = live_.get();
    config.generations = generations_.get();
    config.runner = runner_.get();
    config.projections = Models();
    config.versions = VersionsOf(Models());
    config.new_reader = [this]() -> StatusOr<std::unique_ptr<log::LogReader>> {
      return log_->NewReader("events");
    };
    config.topic = "events";
    config.switch_gap = switch_gap;
    rebuilder_ = std::make_unique<Rebuilder>(std::move(config));
    return *rebuilder_;
  }

  // Waits until the live store has applied `records` records.
  ::testing::AssertionResult WaitForLive(int64_t records) {
    const auto deadline = std::chrono::steady_clock::now() + seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      auto positions = ReadPositions(*live_->Snapshot());
      if (positions.ok() && Sum(*positions) >= records) return ::testing::AssertionSuccess();
      std::this_thread::yield();
    }
    return ::testing::AssertionFailure()
           << "the live store did not reach " << records << " records";
  }

  ::testing::AssertionResult WaitForRebuild(Rebuilder& rebuilder, RebuildState expected) {
    const auto deadline = std::chrono::steady_clock::now() + seconds(120);
    RebuildProgress progress = rebuilder.Progress();
    while (std::chrono::steady_clock::now() < deadline) {
      progress = rebuilder.Progress();
      if (progress.state == RebuildState::kDone || progress.state == RebuildState::kFailed) break;
      std::this_thread::yield();
    }
    if (progress.state == expected) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "rebuild ended " << RebuildStateName(progress.state) << ": " << progress.error;
  }

  std::map<std::string, std::string> Digests(const store::KeyValueReader& reader) {
    std::map<std::string, std::string> digests;
    for (projections::Projection* model : Models()) {
      auto digest = DigestModel(reader, *model);
      EXPECT_TRUE(digest.ok());
      if (digest.ok()) digests[digest->name] = digest->sha256;
    }
    return digests;
  }

  std::filesystem::path root_;
  projections::FunnelProjection funnel_;
  projections::ConcentrationProjection concentration_;
  projections::RetentionProjection retention_;
  projections::HistoryProjection history_;
  std::unique_ptr<log::EmbeddedLog> log_;
  std::unique_ptr<store::StoreGenerations> generations_;
  std::unique_ptr<store::LiveStore> live_;
  std::unique_ptr<log::LogReader> reader_;
  ProjectorMetrics metrics_;
  std::unique_ptr<ProjectorRunner> runner_;
  std::unique_ptr<Rebuilder> rebuilder_;
};

TEST_F(RebuildTest, RebuildWhileEventsArriveAndQueriesRunSwitchesWithoutAFailedQuery) {
  std::vector<log::OutgoingRecord> first = DealRecords(0, 1500);
  const auto first_count = static_cast<int64_t>(first.size());
  ASSERT_TRUE(log_->Append("events", first).ok());
  ASSERT_TRUE(WaitForLive(first_count));

  // Readers query the live store throughout; writers keep appending.
  std::atomic<bool> stop{false};
  std::atomic<int64_t> queries{0}, failures{0};
  std::vector<std::thread> readers;
  for (int thread = 0; thread < 2; ++thread) {
    readers.emplace_back([&] {
      int64_t last_won = 0;
      while (!stop.load()) {
        std::unique_ptr<store::KeyValueReader> snapshot = live_->Snapshot();
        auto funnel = projections::QueryFunnel(*snapshot);
        // Counts never go back: the new store is at least where the old one was.
        if (!funnel.ok() || funnel->stages(3).deals() < last_won) {
          failures.fetch_add(1);
        } else {
          last_won = funnel->stages(3).deals();
        }
        queries.fetch_add(1);
      }
    });
  }
  int64_t appended = first_count;
  std::thread writer([&] {
    for (int batch = 0; batch < 10 && !stop.load(); ++batch) {
      std::vector<log::OutgoingRecord> more = DealRecords(1500 + batch * 50, 50);
      appended += static_cast<int64_t>(more.size());
      if (!log_->Append("events", more).ok()) failures.fetch_add(1);
    }
  });

  Rebuilder& rebuilder = MakeRebuilder(/*switch_gap=*/100);
  ASSERT_TRUE(rebuilder.Start({}, "test").ok());
  EXPECT_TRUE(WaitForRebuild(rebuilder, RebuildState::kDone));
  writer.join();
  ASSERT_TRUE(WaitForLive(appended));
  stop.store(true);
  for (std::thread& thread : readers) thread.join();
  EXPECT_GT(queries.load(), 0);
  EXPECT_EQ(failures.load(), 0);

  // Queries read the new generation, the pointer says so, the old one is kept.
  const RebuildProgress progress = rebuilder.Progress();
  EXPECT_EQ(progress.current_generation, 1);
  EXPECT_EQ(*generations_->Current(), 1);
  EXPECT_EQ(progress.old_generations, std::vector<int>{0});
  EXPECT_GE(progress.records_replayed, first_count);
  EXPECT_DOUBLE_EQ(progress.fraction, 1.0);
  EXPECT_NE(rebuilder.RenderPrometheus().find("lok_store_generation 1\n"), std::string::npos);

  // The live projector writes the new store, and it is what a replay builds.
  auto verified = VerifyByReplay(
      *live_->Current(),
      [this]() -> StatusOr<std::unique_ptr<log::LogReader>> { return log_->NewReader("events"); },
      Models(), "events", (root_ / "scratch").string(), seconds(60));
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_TRUE(verified->ok());
  EXPECT_EQ(Sum(verified->offsets), appended);

  // Dropping removes generation 0 from disk, never the current one.
  auto dropped = rebuilder.DropOld();
  ASSERT_TRUE(dropped.ok()) << dropped.status().ToString();
  EXPECT_EQ(*dropped, std::vector<int>{0});
  EXPECT_FALSE(std::filesystem::exists(generations_->PathOf(0)));
  EXPECT_TRUE(std::filesystem::exists(generations_->PathOf(1)));
}

TEST_F(RebuildTest, RebuildingOneModelCopiesTheOthersAndKeepsEveryDigest) {
  ASSERT_TRUE(log_->Append("events", DealRecords(0, 400)).ok());
  ASSERT_TRUE(WaitForLive(static_cast<int64_t>(DealRecords(0, 400).size())));
  store::ChangeSet redrive;  // written by the DLQ endpoint, not by projections
  redrive.writes[std::string(kRedriveMarkPrefix) + "x"] = "mark";
  ASSERT_TRUE(live_->Commit(redrive).ok());
  const auto before = Digests(*live_->Snapshot());

  Rebuilder& rebuilder = MakeRebuilder();
  ASSERT_TRUE(rebuilder.Start({"funnel"}, "test").ok());
  ASSERT_TRUE(WaitForRebuild(rebuilder, RebuildState::kDone));
  EXPECT_EQ(rebuilder.Progress().projections, std::vector<std::string>{"funnel"});
  std::unique_ptr<store::KeyValueReader> after = live_->Snapshot();
  EXPECT_EQ(Digests(*after), before);
  EXPECT_EQ(*after->Get(std::string(kRedriveMarkPrefix) + "x"), std::optional<std::string>("mark"));
  EXPECT_EQ(*after->Get(std::string(kVersionPrefix) + "funnel"),
            std::optional<std::string>(std::to_string(projections::kFunnelCellLayoutVersion)));
}

TEST_F(RebuildTest, AFailedRebuildLeavesTheLiveStoreCurrentAndRemovesItsDirectory) {
  ASSERT_TRUE(log_->Append("events", DealRecords(0, 100)).ok());
  ASSERT_TRUE(WaitForLive(static_cast<int64_t>(DealRecords(0, 100).size())));
  RebuildConfig config;
  config.live = live_.get();
  config.generations = generations_.get();
  config.runner = runner_.get();
  config.projections = Models();
  config.versions = VersionsOf(Models());
  config.new_reader = []() -> StatusOr<std::unique_ptr<log::LogReader>> {
    return UnavailableError("broker down");
  };
  config.topic = "events";
  rebuilder_ = std::make_unique<Rebuilder>(std::move(config));
  std::shared_ptr<store::RocksStore> before = live_->Current();
  ASSERT_TRUE(rebuilder_->Start({}, "test").ok());
  ASSERT_TRUE(WaitForRebuild(*rebuilder_, RebuildState::kFailed));
  EXPECT_NE(rebuilder_->Progress().error.find("broker down"), std::string::npos);
  EXPECT_EQ(live_->Current(), before);
  EXPECT_EQ(*generations_->Current(), 0);
  EXPECT_EQ(generations_->OnDisk(), std::vector<int>{0});
  // The live projector still runs on the live store.
  ASSERT_TRUE(log_->Append("events", DealRecords(100, 10)).ok());
  EXPECT_TRUE(WaitForLive(static_cast<int64_t>(DealRecords(0, 110).size())));
  // A later rebuild may run.
  EXPECT_TRUE(runner_->running());
}

TEST_F(RebuildTest, UnknownProjectionIsRejectedByName) {
  Status started = MakeRebuilder().Start({"funnel", "nope"}, "test");
  EXPECT_EQ(started.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(started.message().find("'nope'"), std::string::npos);
  EXPECT_EQ(rebuilder_->Progress().state, RebuildState::kIdle);
}

TEST(StaleProjectionsTest, EmptyStoreHasNoneConsumedStoreWithoutRecordsHasAllChangedVersionHasIt) {
  store::MemoryStore memory;
  const ProjectionVersions versions = {{"funnel", 1}, {"history", 1}};
  EXPECT_TRUE(StaleProjections(memory, versions)->empty());
  store::ChangeSet consumed;
  std::string position_key(kPositionPrefix);
  position_key += std::string("\0\0\0\0", 4);
  consumed.writes[position_key] = std::string("\0\0\0\0\0\0\0\5", 8);
  memory.Commit(consumed);
  EXPECT_EQ(*StaleProjections(memory, versions), (std::vector<std::string>{"funnel", "history"}));
  store::ChangeSet recorded;
  recorded.writes[std::string(kVersionPrefix) + "funnel"] = "1";
  recorded.writes[std::string(kVersionPrefix) + "history"] = "1";
  memory.Commit(recorded);
  EXPECT_TRUE(StaleProjections(memory, versions)->empty());
  EXPECT_EQ(*StaleProjections(memory, {{"funnel", 2}, {"history", 1}}),
            std::vector<std::string>{"funnel"});
}

}  // namespace
}  // namespace lok::engine
