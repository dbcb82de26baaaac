#include "engine/checkpoints.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace lok::engine {
namespace {

CheckpointInfo At(int64_t id, log::PartitionOffsets positions, int64_t max_occurred) {
  CheckpointInfo info;
  info.id = id;
  info.positions = positions;
  for (const auto& [p, o] : positions) info.records += o;
  info.max_occurred_ms = max_occurred;
  return info;
}

TEST(CheckpointsTest, TheBaseIsTheLargestInsideBothBounds) {
  const std::vector<CheckpointInfo> checkpoints = {
      At(1, {{0, 10}, {1, 10}}, 100), At(2, {{0, 20}, {1, 15}}, 200), At(3, {{0, 30}, {1, 40}}, 300)};
  EXPECT_EQ(SelectBase(checkpoints, {{0, 30}, {1, 40}}, INT64_MAX)->id, 3);
  EXPECT_EQ(SelectBase(checkpoints, {{0, 30}, {1, 39}}, INT64_MAX)->id, 2) << "one partition short";
  EXPECT_EQ(SelectBase(checkpoints, {{0, 100}, {1, 100}}, 300)->id, 2) << "an event at 300 is too late";
  EXPECT_EQ(SelectBase(checkpoints, {{0, 100}}, INT64_MAX), std::nullopt)
      << "a partition absent from the cut is at offset 0";
  EXPECT_EQ(SelectBase(checkpoints, {{0, 100}, {1, 100}}, 100), std::nullopt);
  // A store from before max_occurred was kept: unknown serves knownAt only.
  const std::vector<CheckpointInfo> unknown = {At(4, {{0, 10}}, INT64_MAX)};
  EXPECT_EQ(SelectBase(unknown, {{0, 10}}, INT64_MAX)->id, 4);
  EXPECT_EQ(SelectBase(unknown, {{0, 10}}, 1000), std::nullopt);
}

TEST(CheckpointsTest, KeepsAtMostKeepSpreadOverTheLogAndReloadsThem) {
  const auto root = std::filesystem::temp_directory_path() /
                    ("lok-checkpoints-" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
  auto store = std::move(store::RocksStore::Open((root / "state").string())).value();
  const std::string dir = CheckpointDirOf((root / "state").string());
  CheckpointPolicy policy;
  policy.every_records = 10;
  policy.at_record_day_change = false;
  policy.keep = 3;
  auto keeper = std::move(CheckpointKeeper::Open(dir, policy)).value();
  // Batches of 10, 10, 10, 30 records: checkpoints at 10, 20, 30 and 60.
  int64_t offset = 0;
  for (int64_t records : {10, 10, 10, 30}) {
    offset += records;
    store::Transaction transaction(*store);
    transaction.Put("k" + std::to_string(offset), "v");
    ASSERT_TRUE(store->Commit(*transaction.Finish()).ok());
    ASSERT_TRUE(WritePositions(*store, {{0, offset}}).ok());
    CommittedBatch batch;
    batch.positions = {{0, offset}};
    batch.records = records;
    batch.min_occurred_ms = offset * 1000;
    batch.max_occurred_ms = offset * 1000;
    batch.max_record_ms = offset;
    keeper->AfterCommit(*store, batch);
  }
  std::vector<CheckpointInfo> kept = keeper->List();
  ASSERT_EQ(kept.size(), 3u);
  // 20 went: removing it left the smallest gap (10..30); its stretch joined 30's.
  EXPECT_EQ(kept[0].records, 10);
  EXPECT_EQ(kept[1].records, 30);
  EXPECT_EQ(kept[2].records, 60);
  EXPECT_EQ(kept[0].min_occurred_since_previous_ms, INT64_MIN) << "the first of a process is unknown";
  EXPECT_EQ(kept[1].min_occurred_since_previous_ms, 20000);
  EXPECT_EQ(kept[2].min_occurred_since_previous_ms, 60000);
  EXPECT_FALSE(std::filesystem::exists(dir + "/2"));
  EXPECT_EQ(kept[2].positions, (log::PartitionOffsets{{0, 60}})) << "read from the checkpoint";
  // One taken off the projector thread does not know what came before it.
  auto manual = keeper->Take(*store, INT64_MIN);
  ASSERT_TRUE(manual.ok()) << manual.status().ToString();
  EXPECT_EQ(manual->min_occurred_since_previous_ms, INT64_MIN);
  EXPECT_EQ(keeper->List().size(), 3u) << "thinned again";
  // Each checkpoint is a store holding exactly its state.
  {
    auto opened = std::move(store::RocksStore::Open(kept[1].dir)).value();
    EXPECT_TRUE(opened->Get("k30").value().has_value());
    EXPECT_FALSE(opened->Get("k60").value().has_value());
  }
  // A half-written one (no description) is removed on open.
  std::filesystem::create_directories(dir + "/99");
  auto reopened = std::move(CheckpointKeeper::Open(dir, policy)).value();
  ASSERT_EQ(reopened->List().size(), 3u);
  EXPECT_FALSE(std::filesystem::exists(dir + "/99"));
  store.reset();
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace lok::engine
