// As-of read models against nodes that were only ever given the events the
// as-of bounds keep: same digests, whatever checkpoint the answer started
// from and whatever stretches of the log it passed over.
#include "engine/as_of.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "engine/checkpoints.h"
#include "engine/projector.h"
#include "log/embedded_log.h"
#include "projections/concentration.h"
#include "projections/funnel.h"
#include "projections/retention.h"

namespace lok::engine {
namespace {

constexpr int64_t kDayMs = 86400000;
constexpr int64_t kStartMs = int64_t{1704067200} * 1000;  // 2024-01-01

struct Timed {
  lok::v1::Event event;
  int64_t received_ms = 0;
};

int64_t OccurredMs(const lok::v1::Event& event) { return event.occurred_at().seconds() * 1000; }

// Deals over January to April 2024, each event received an hour after it
// occurred, except the wins of every tenth deal, received 40 days late.
std::vector<Timed> TimedEvents() {
  std::vector<Timed> events;
  for (int deal = 0; deal < 90; ++deal) {
    const std::string id = "d" + std::to_string(deal);
    const int64_t lead_ms = kStartMs + int64_t{deal} * 30 * 3600 * 1000;
    auto make = [&](const std::string& suffix, int64_t at_ms) {
      lok::v1::Event event;
      event.set_event_id(id + suffix);
      event.set_source("crm");
      event.set_client_id("c" + std::to_string(deal % 11));
      event.set_deal_id(id);
      event.mutable_occurred_at()->set_seconds(at_ms / 1000);
      return event;
    };
    auto lead = make("-lead", lead_ms);
    lead.mutable_lead_created()->set_salesperson(deal % 2 ? "ana" : "bo");
    lead.mutable_lead_created()->set_region(deal % 3 ? "north" : "south");
    events.push_back({lead, lead_ms + 3600000});
    auto offer = make("-offer", lead_ms + 2 * kDayMs);
    offer.mutable_offer_sent()->mutable_amount()->set_minor(1000 + deal * 10);
    offer.mutable_offer_sent()->mutable_amount()->set_currency("USD");
    events.push_back({offer, lead_ms + 2 * kDayMs + 3600000});
    if (deal % 4 != 3) {
      const int64_t won_ms = lead_ms + 9 * kDayMs;
      auto won = make("-won", won_ms);
      won.mutable_deal_won()->mutable_amount()->set_minor(900 + deal * 10);
      won.mutable_deal_won()->mutable_amount()->set_currency("USD");
      events.push_back({won, won_ms + (deal % 10 == 0 ? 40 * kDayMs : 3600000)});
    }
  }
  std::stable_sort(events.begin(), events.end(),
                   [](const Timed& a, const Timed& b) { return a.received_ms < b.received_ms; });
  return events;
}

class AsOfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("lok-asof-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::vector<projections::Projection*> Models() { return {&funnel_, &concentration_, &retention_}; }

  struct Node {
    std::unique_ptr<log::EmbeddedLog> log;
    std::unique_ptr<store::RocksStore> store;
    std::unique_ptr<CheckpointKeeper> keeper;
  };

  // Appends `events` in chunks of `chunk` records (with their record times),
  // projecting after each, so that batches and checkpoints fall in between.
  Node Build(const std::string& name, const std::vector<Timed>& events, size_t chunk,
             std::optional<CheckpointPolicy> policy) {
    Node node;
    node.log = std::move(log::EmbeddedLog::Open((root_ / (name + "-log")).string(), 3)).value();
    EXPECT_TRUE(node.log->CreateTopic("events", 3).ok());
    const std::string state = (root_ / (name + "-state")).string();
    node.store = std::move(store::RocksStore::Open(state)).value();
    if (policy) node.keeper = std::move(CheckpointKeeper::Open(CheckpointDirOf(state), *policy)).value();
    auto reader = node.log->NewReader("events");
    ProjectorMetrics metrics;
    ProjectorOptions options;
    options.topic = "events";
    options.poll_timeout = std::chrono::milliseconds(1);
    options.max_batch = chunk;
    if (node.keeper) {
      options.on_commit = [keeper = node.keeper.get()](store::RocksStore& store,
                                                       const CommittedBatch& batch) {
        keeper->AfterCommit(store, batch);
      };
    }
    Projector projector(*node.store, *reader, *node.log, Models(), options, metrics);
    for (size_t begin = 0; begin < events.size(); begin += chunk) {
      std::vector<log::OutgoingRecord> records;
      for (size_t i = begin; i < std::min(events.size(), begin + chunk); ++i) {
        log::OutgoingRecord record{events[i].event.client_id(), events[i].event.SerializeAsString(), {}};
        record.timestamp_ms = events[i].received_ms;
        records.push_back(std::move(record));
      }
      EXPECT_TRUE(node.log->Append("events", records).ok());
      EXPECT_TRUE(projector.Start().ok());
      for (int round = 0; round < 100; ++round) {
        auto consumed = projector.RunOnce();
        EXPECT_TRUE(consumed.ok());
        if (!consumed.ok() || *consumed == 0) break;
      }
    }
    return node;
  }

  // The digests of the order-independent models in `reader`.
  std::vector<std::string> Digests(const store::KeyValueReader& reader) {
    std::vector<std::string> digests;
    for (projections::Projection* model : Models()) {
      auto digest = DigestModel(reader, *model);
      EXPECT_TRUE(digest.ok());
      digests.push_back(std::string(model->Name()) + ":" + (digest.ok() ? digest->sha256 : "?"));
    }
    return digests;
  }

  std::filesystem::path root_;
  projections::FunnelProjection funnel_;
  projections::ConcentrationProjection concentration_;
  projections::RetentionProjection retention_;
};

TEST_F(AsOfTest, EveryBoundGivesTheStateOfExactlyTheEventsItKeeps) {
  const std::vector<Timed> events = TimedEvents();
  CheckpointPolicy policy;
  policy.every_records = 40;
  policy.keep = 5;
  Node live = Build("live", events, 13, policy);
  ASSERT_GE(live.keeper->List().size(), 3u);

  AsOfConfig config;
  config.cache_dir = (root_ / "cache").string();
  config.cache_entries = 2;
  config.new_reader = [&]() -> StatusOr<std::unique_ptr<log::LogReader>> {
    return live.log->NewReader("events");
  };
  config.topic = "events";
  config.projections = Models();
  config.checkpoints = [&]() { return live.keeper.get(); };
  AsOfStores as_of(config);

  const std::vector<std::optional<int64_t>> known_ats = {
      std::nullopt, kStartMs + 45 * kDayMs - 1, kStartMs + 79 * kDayMs + 12 * 3600000};
  const std::vector<std::optional<int64_t>> occurred_befores = {
      std::nullopt, kStartMs + 31 * kDayMs, kStartMs + 70 * kDayMs};
  int from_checkpoint = 0;
  int reference = 0;
  for (const auto& known_at : known_ats) {
    for (const auto& occurred_before : occurred_befores) {
      std::vector<Timed> kept;
      for (const Timed& timed : events) {
        if (known_at && timed.received_ms > *known_at) continue;
        if (occurred_before && OccurredMs(timed.event) >= *occurred_before) continue;
        kept.push_back(timed);
      }
      // The reference is given the kept events in another order.
      std::shuffle(kept.begin(), kept.end(), std::mt19937(7));
      Node expected = Build("reference-" + std::to_string(reference++), kept, 500, std::nullopt);

      auto live_snapshot = live.store->Snapshot();
      auto view = as_of.Get(*live_snapshot, {known_at, occurred_before, {"funnel", "concentration", "retention"}, std::nullopt});
      ASSERT_TRUE(view.ok()) << view.status().ToString();
      const bool bounded = known_at.has_value() || occurred_before.has_value();
      EXPECT_EQ(view->store != nullptr, bounded);
      const store::KeyValueReader& answer =
          view->store != nullptr ? static_cast<const store::KeyValueReader&>(*view->store)
                                 : *live_snapshot;
      EXPECT_EQ(Digests(answer), Digests(*expected.store))
          << "knownAt " << known_at.value_or(-1) << " occurredBefore "
          << occurred_before.value_or(-1);
      if (view->base_records > 0) ++from_checkpoint;
    }
  }
  EXPECT_GE(from_checkpoint, 4) << "answers should start from checkpoints";
}

TEST_F(AsOfTest, PassesOverStretchesThatOnlyHoldLaterEventsAndCachesAnswers) {
  const std::vector<Timed> events = TimedEvents();
  CheckpointPolicy policy;
  policy.every_records = 20;
  policy.keep = 100;
  Node live = Build("live", events, 10, policy);

  AsOfConfig config;
  config.cache_dir = (root_ / "cache").string();
  config.new_reader = [&]() -> StatusOr<std::unique_ptr<log::LogReader>> {
    return live.log->NewReader("events");
  };
  config.topic = "events";
  config.projections = Models();
  config.checkpoints = [&]() { return live.keeper.get(); };
  AsOfStores as_of(config);

  // Early January: nearly all of the log occurred later, and stretches
  // between checkpoints that hold no late win are passed over unread.
  const int64_t occurred_before = kStartMs + 10 * kDayMs;
  auto snapshot = live.store->Snapshot();
  auto view = as_of.Get(*snapshot, {std::nullopt, occurred_before, {"funnel"}, std::nullopt});
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  int64_t total = 0;
  for (const auto& [partition, offset] : view->covered) total += offset;
  EXPECT_EQ(total, static_cast<int64_t>(events.size()));
  EXPECT_LT(view->base_records + view->records_replayed, total / 2);
  EXPECT_FALSE(view->from_cache);

  std::vector<Timed> kept;
  for (const Timed& timed : events) {
    if (OccurredMs(timed.event) < occurred_before) kept.push_back(timed);
  }
  Node expected = Build("reference", kept, 500, std::nullopt);
  EXPECT_EQ(DigestModel(*view->store, funnel_)->sha256, DigestModel(*expected.store, funnel_)->sha256);

  auto again = as_of.Get(*snapshot, {std::nullopt, occurred_before, {"funnel"}, std::nullopt});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->from_cache);
  EXPECT_EQ(again->store, view->store);
  EXPECT_EQ(as_of.builds(), 1);
  EXPECT_EQ(as_of.hits(), 1);

  EXPECT_EQ(as_of.Get(*snapshot, {std::nullopt, occurred_before, {"nope"}, std::nullopt}).status().code(),
            StatusCode::kInvalidArgument);

  // "Known now" while the live store moves on (here: a store at other
  // positions stands for it): the recent build answers, saying what it covers.
  Node other = Build("other", std::vector<Timed>(events.begin(), events.begin() + 100), 50,
                     std::nullopt);
  auto moved = other.store->Snapshot();
  auto reused = as_of.Get(*moved, {std::nullopt, occurred_before, {"funnel"}, std::nullopt});
  ASSERT_TRUE(reused.ok()) << reused.status().ToString();
  EXPECT_TRUE(reused->from_cache);
  EXPECT_EQ(reused->covered, view->covered);
  // Not with knownAt, which pins the cut; nor once the reuse window is over.
  config.cache_dir = (root_ / "cache-2").string();
  config.reuse_for_now = std::chrono::seconds(0);
  AsOfStores strict(config);
  ASSERT_TRUE(strict.Get(*snapshot, {std::nullopt, occurred_before, {"funnel"}, std::nullopt}).ok());
  auto rebuilt = strict.Get(*moved, {std::nullopt, occurred_before, {"funnel"}, std::nullopt});
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().ToString();
  EXPECT_FALSE(rebuilt->from_cache);
  EXPECT_NE(rebuilt->covered, view->covered);
}

}  // namespace
}  // namespace lok::engine
