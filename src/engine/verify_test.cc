#include "engine/verify.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "engine/projector.h"
#include "log/embedded_log.h"
#include "projections/concentration.h"
#include "projections/funnel.h"
#include "projections/history.h"
#include "projections/retention.h"

namespace lok::engine {
namespace {

std::vector<lok::v1::Event> SomeEvents() {
  std::vector<lok::v1::Event> events;
  const int64_t start = 1704067200;
  for (int deal = 0; deal < 60; ++deal) {
    const std::string id = "d" + std::to_string(deal);
    const std::string client = "c" + std::to_string(deal % 7);
    auto base = [&](const std::string& suffix, int64_t at) {
      lok::v1::Event event;
      event.set_event_id(id + suffix);
      event.set_source("crm");
      event.set_client_id(client);
      event.set_deal_id(id);
      event.mutable_occurred_at()->set_seconds(start + at);
      return event;
    };
    auto lead = base("-lead", deal * 3600);
    lead.mutable_lead_created()->set_salesperson(deal % 2 ? "ana" : "bo");
    events.push_back(lead);
    auto offer = base("-offer", deal * 3600 + 86400);
    offer.mutable_offer_sent()->mutable_amount()->set_minor(1000 + deal);
    offer.mutable_offer_sent()->mutable_amount()->set_currency("USD");
    events.push_back(offer);
    if (deal % 3 != 0) {
      auto won = base("-won", deal * 3600 + 86400 * 9);
      won.mutable_deal_won()->mutable_amount()->set_minor(900 + deal);
      won.mutable_deal_won()->mutable_amount()->set_currency("USD");
      events.push_back(won);
    }
  }
  lok::v1::Event target;
  target.set_event_id("target");
  target.set_source("plan");
  target.set_client_id("plan");
  target.mutable_occurred_at()->set_seconds(start);
  target.mutable_target_set()->set_period("2024-01");
  target.mutable_target_set()->mutable_amount()->set_minor(50000);
  target.mutable_target_set()->mutable_amount()->set_currency("USD");
  events.push_back(target);
  return events;
}

class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("lok-verify-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // Appends `events` in this order to a fresh log under `name` and projects them.
  struct Node {
    std::unique_ptr<log::EmbeddedLog> log;
    std::unique_ptr<store::RocksStore> store;
  };
  Node Build(const std::string& name, const std::vector<lok::v1::Event>& events) {
    Node node;
    node.log = std::move(log::EmbeddedLog::Open((root_ / (name + "-log")).string(), 3)).value();
    EXPECT_TRUE(node.log->CreateTopic("events", 3).ok());
    std::vector<log::OutgoingRecord> records;
    for (const auto& event : events) records.push_back({event.client_id(), event.SerializeAsString(), {}});
    EXPECT_TRUE(node.log->Append("events", records).ok());
    node.store = std::move(store::RocksStore::Open((root_ / (name + "-state")).string())).value();
    auto reader = node.log->NewReader("events");
    ProjectorMetrics metrics;
    ProjectorOptions options;
    options.topic = "events";
    options.poll_timeout = std::chrono::milliseconds(20);
    Projector projector(*node.store, *reader, *node.log, Models(), options, metrics);
    EXPECT_TRUE(projector.Start().ok());
    for (int round = 0; round < 100; ++round) {
      auto consumed = projector.RunOnce();
      EXPECT_TRUE(consumed.ok());
      if (!consumed.ok() || *consumed == 0) break;
    }
    return node;
  }

  std::vector<projections::Projection*> Models() { return {&funnel_, &concentration_, &retention_, &history_}; }

  std::filesystem::path root_;
  projections::FunnelProjection funnel_;
  projections::ConcentrationProjection concentration_;
  projections::RetentionProjection retention_;
  projections::HistoryProjection history_;
};

TEST_F(VerifyTest, ShuffledEventsGiveTheSameDigestForOrderIndependentModels) {
  std::vector<lok::v1::Event> events = SomeEvents();
  Node first = Build("first", events);
  std::mt19937 random(4);
  std::shuffle(events.begin(), events.end(), random);
  Node second = Build("second", events);
  for (projections::Projection* model : Models()) {
    auto a = DigestModel(*first.store, *model);
    auto b = DigestModel(*second.store, *model);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_GT(a->keys, 0) << model->Name();
    EXPECT_EQ(a->sha256.size(), 64U);
    if (model->OrderIndependent()) {
      EXPECT_EQ(a->sha256, b->sha256) << model->Name();
    } else {
      EXPECT_NE(a->sha256, b->sha256) << model->Name() << " records log positions";
    }
  }
}

TEST_F(VerifyTest, ReplayMatchesTheLiveStateAndNamesTheFirstDifferingKey) {
  Node node = Build("live", SomeEvents());
  ReaderFactory readers = [&]() -> StatusOr<std::unique_ptr<log::LogReader>> {
    return node.log->NewReader("events");
  };
  auto report = VerifyByReplay(*node.store, readers, Models(), "events", (root_ / "scratch").string(),
                               std::chrono::seconds(30));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->records_replayed, static_cast<int64_t>(SomeEvents().size()));
  ASSERT_EQ(report->models.size(), 4U);

  // Tamper with one deal's state: verification must catch and name it.
  store::ChangeSet tamper;
  tamper.writes["funnel/deal/d5"] = "tampered";
  ASSERT_TRUE(node.store->Commit(tamper).ok());
  auto mismatch = VerifyByReplay(*node.store, readers, Models(), "events", (root_ / "scratch").string(),
                                 std::chrono::seconds(30));
  ASSERT_TRUE(mismatch.ok());
  EXPECT_FALSE(mismatch->ok());
  EXPECT_FALSE(mismatch->models[0].match);
  ASSERT_FALSE(mismatch->models[0].first_differences.empty());
  EXPECT_EQ(mismatch->models[0].first_differences[0], "funnel/deal/d5 (values differ)");
  EXPECT_TRUE(mismatch->models[1].match);
}

TEST_F(VerifyTest, ReplayStopsAtTheLiveOffsetsEvenWhenTheLogHasMore) {
  Node node = Build("more", SomeEvents());
  // Records appended after the live state was taken are not part of the comparison.
  lok::v1::Event late = SomeEvents().front();
  late.set_event_id("late");
  late.set_deal_id("late-deal");
  ASSERT_TRUE(node.log->Append("events", {{late.client_id(), late.SerializeAsString(), {}}}).ok());
  ReaderFactory readers = [&]() -> StatusOr<std::unique_ptr<log::LogReader>> {
    return node.log->NewReader("events");
  };
  auto report = VerifyByReplay(*node.store, readers, Models(), "events", (root_ / "scratch").string(),
                               std::chrono::seconds(30));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->records_replayed, static_cast<int64_t>(SomeEvents().size()));
}

}  // namespace
}  // namespace lok::engine
