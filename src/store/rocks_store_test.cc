#include "store/rocks_store.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace lok::store {
namespace {

class RocksStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("lok-store-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path_);
  }
  void TearDown() override { std::filesystem::remove_all(path_); }
  std::filesystem::path path_;
};

TEST_F(RocksStoreTest, CommitIsDurableAcrossReopen) {
  {
    auto store = RocksStore::Open(path_.string());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ChangeSet changes;
    changes.writes["k/1"] = "one";
    changes.writes["k/2"] = "two";
    ASSERT_TRUE((*store)->Commit(changes).ok());
  }
  auto store = RocksStore::Open(path_.string());
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(*(*store)->Get("k/1"), std::optional<std::string>("one"));
  EXPECT_EQ(*(*store)->Get("missing"), std::nullopt);
}

TEST_F(RocksStoreTest, ScanPrefixVisitsOnlyThePrefixInOrder) {
  auto store = RocksStore::Open(path_.string());
  ASSERT_TRUE(store.ok());
  ChangeSet changes;
  for (const char* key : {"a/2", "a/1", "a\xff", "b/1", "a"}) changes.writes[key] = "v";
  ASSERT_TRUE((*store)->Commit(changes).ok());
  std::vector<std::string> seen;
  ASSERT_TRUE((*store)
                  ->ScanPrefix("a/",
                               [&](std::string_view key, std::string_view) {
                                 seen.emplace_back(key);
                                 return true;
                               })
                  .ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"a/1", "a/2"}));
}

TEST_F(RocksStoreTest, SeekingScanSkipsAheadAndStopsOnOneIteratorAndInTheDefault) {
  // A skip scan: keep keys ending in 1 or 2 of each group, jump to the next
  // group from the first key past them; stop at group d. The RocksDB
  // implementation (one iterator, store and snapshot) and the interface's
  // default (ScanRange restarted at each seek, MemoryStore) must agree.
  auto store = RocksStore::Open(path_.string());
  ASSERT_TRUE(store.ok());
  ChangeSet changes;
  for (const char* group : {"a", "b", "c", "d"}) {
    for (const char* item : {"/1", "/2", "/3", "/4"}) {
      changes.writes[std::string(group) + item] = "v";
    }
  }
  ASSERT_TRUE((*store)->Commit(changes).ok());
  MemoryStore memory;
  memory.Commit(changes);
  using Step = KeyValueReader::ScanStep;
  auto scan = [](const KeyValueReader& reader) {
    std::vector<std::string> kept;
    EXPECT_TRUE(reader
                    .ScanRangeSeeking("a", "z",
                                      [&](std::string_view key, std::string_view) -> Step {
                                        if (key.starts_with("d")) return {Step::Action::kStop, {}};
                                        if (key.ends_with("1") || key.ends_with("2")) {
                                          kept.emplace_back(key);
                                          return {};
                                        }
                                        std::string next(key.substr(0, 1));
                                        next.back() = static_cast<char>(next.back() + 1);
                                        return {Step::Action::kSeek, next};
                                      })
                    .ok());
    return kept;
  };
  const std::vector<std::string> expected = {"a/1", "a/2", "b/1", "b/2", "c/1", "c/2"};
  EXPECT_EQ(scan(**store), expected);
  EXPECT_EQ(scan(*(*store)->Snapshot()), expected);
  EXPECT_EQ(scan(memory), expected);
}

// A reverse scan visits [begin, end) from the last key down, never a key at
// `end` or before `begin`, and stops when told; the RocksDB implementation
// (store and snapshot, which does not see later commits) and the interface's
// default (MemoryStore) agree.
TEST_F(RocksStoreTest, ReverseScanVisitsTheRangeLastKeyFirstAndStops) {
  auto store = RocksStore::Open(path_.string());
  ASSERT_TRUE(store.ok());
  ChangeSet changes;
  for (const char* key : {"a", "a/1", "a/2", "a/3", "a0", "b", "b/1"}) changes.writes[key] = key;
  ASSERT_TRUE((*store)->Commit(changes).ok());
  MemoryStore memory;
  memory.Commit(changes);
  auto snapshot = (*store)->Snapshot();
  ChangeSet later;
  later.writes["a/25"] = "a/25";
  ASSERT_TRUE((*store)->Commit(later).ok());
  auto scan = [](const KeyValueReader& reader, std::string_view begin, std::string_view end,
                 size_t stop_after) {
    std::vector<std::string> seen;
    EXPECT_TRUE(reader
                    .ScanRangeReverse(begin, end,
                                      [&](std::string_view key, std::string_view value) {
                                        EXPECT_EQ(key, value);
                                        seen.emplace_back(key);
                                        return seen.size() < stop_after;
                                      })
                    .ok());
    return seen;
  };
  const std::vector<std::string> all = {"a0", "a/3", "a/2", "a/1"};
  for (const KeyValueReader* reader : {static_cast<const KeyValueReader*>(snapshot.get()),
                                       static_cast<const KeyValueReader*>(&memory)}) {
    EXPECT_EQ(scan(*reader, "a/", "b", 100), all);
    EXPECT_EQ(scan(*reader, "a/", "b", 2), (std::vector<std::string>{"a0", "a/3"}));
    EXPECT_EQ(scan(*reader, "a/2", "a/3", 100), (std::vector<std::string>{"a/2"}));
    EXPECT_EQ(scan(*reader, "a/4", "a0", 100), std::vector<std::string>{});
    EXPECT_EQ(scan(*reader, "b", "a", 100), std::vector<std::string>{});
  }
  EXPECT_EQ(scan(**store, "a/2", "a/3", 100), (std::vector<std::string>{"a/25", "a/2"}));
}

TEST_F(RocksStoreTest, SnapshotDoesNotSeeLaterCommits) {
  auto store = RocksStore::Open(path_.string());
  ASSERT_TRUE(store.ok());
  ChangeSet first;
  first.writes["k"] = "old";
  ASSERT_TRUE((*store)->Commit(first).ok());
  auto snapshot = (*store)->Snapshot();
  ChangeSet second;
  second.writes["k"] = "new";
  ASSERT_TRUE((*store)->Commit(second).ok());
  EXPECT_EQ(*snapshot->Get("k"), std::optional<std::string>("old"));
  EXPECT_EQ(*(*store)->Get("k"), std::optional<std::string>("new"));
}

// MultiGet on a snapshot (RocksDB's batched read) answers as Get per key:
// sorted and unsorted keys, absent ones, values bigger than a block, keys
// changed after the snapshot, and the interface's default on the store.
TEST_F(RocksStoreTest, MultiGetOnASnapshotAnswersLikeGetPerKey) {
  auto store = RocksStore::Open(path_.string());
  ASSERT_TRUE(store.ok());
  ChangeSet changes;
  for (int index = 0; index < 500; index += 2) {
    changes.writes["m/" + std::to_string(1000 + index)] =
        std::string(index % 7 == 0 ? 9000 : 10, static_cast<char>('a' + index % 26));
  }
  ASSERT_TRUE((*store)->Commit(changes).ok());
  auto snapshot = (*store)->Snapshot();
  ChangeSet later;
  later.writes["m/1000"] = "changed";
  later.writes["m/1001"] = "added";
  ASSERT_TRUE((*store)->Commit(later).ok());
  std::vector<std::string> sorted;
  for (int index = 0; index < 500; ++index) sorted.push_back("m/" + std::to_string(1000 + index));
  std::vector<std::string> unsorted(sorted.rbegin(), sorted.rend());
  unsorted.push_back("m/1004");  // a repeat
  for (const std::vector<std::string>* keys : {&sorted, &unsorted}) {
    auto values = snapshot->MultiGet(*keys);
    ASSERT_TRUE(values.ok()) << values.status().ToString();
    ASSERT_EQ(values->size(), keys->size());
    int present = 0;
    for (size_t index = 0; index < keys->size(); ++index) {
      EXPECT_EQ((*values)[index], *snapshot->Get((*keys)[index])) << (*keys)[index];
      if ((*values)[index]) ++present;
    }
    EXPECT_GE(present, 250);
  }
  auto values = snapshot->MultiGet({"m/1000", "m/1001"});
  ASSERT_TRUE(values.ok());
  EXPECT_EQ((*values)[0], std::optional<std::string>(std::string(9000, 'a')));
  EXPECT_EQ((*values)[1], std::nullopt);
  auto current = (*store)->MultiGet({"m/1000", "m/1001"});
  ASSERT_TRUE(current.ok());
  EXPECT_EQ((*current)[0], std::optional<std::string>("changed"));
  EXPECT_EQ((*current)[1], std::optional<std::string>("added"));
}

// With the row cache on, point reads of keys in SST files (a checkpoint
// flushes the memtable) answer as the files do: after overwrites and
// deletes flushed into newer files, and on snapshots taken in between.
TEST_F(RocksStoreTest, RowCacheAnswersLikeTheFilesAcrossOverwritesAndSnapshots) {
  RocksStoreOptions options;
  options.row_cache_bytes = size_t{1} << 20;
  auto store = RocksStore::Open(path_.string(), options);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const auto flush = [&](int round) {
    ASSERT_TRUE(
        (*store)->CreateCheckpoint((path_ / ("flush-" + std::to_string(round))).string()).ok());
  };
  std::vector<std::string> keys;
  ChangeSet first;
  for (size_t index = 0; index < 100; ++index) {
    keys.push_back("r/" + std::to_string(index));
    first.writes[keys.back()] = "v1-" + std::to_string(index);
  }
  ASSERT_TRUE((*store)->Commit(first).ok());
  ASSERT_NO_FATAL_FAILURE(flush(1));
  auto before = (*store)->Snapshot();
  EXPECT_EQ((*store)->Caches().row_bytes, 0u);
  ASSERT_TRUE((*store)->MultiGet(keys).ok());  // fills the row cache
  EXPECT_GT((*store)->Caches().row_bytes, 100 * 4u);
  ChangeSet second;
  for (size_t index = 0; index < 100; index += 3) second.writes[keys[index]] = "v2";
  second.writes[keys[1]] = std::nullopt;
  ASSERT_TRUE((*store)->Commit(second).ok());
  ASSERT_NO_FATAL_FAILURE(flush(2));
  for (int pass = 0; pass < 2; ++pass) {  // the second pass reads cached rows
    auto old_values = before->MultiGet(keys);
    auto new_values = (*store)->MultiGet(keys);
    ASSERT_TRUE(old_values.ok() && new_values.ok());
    for (size_t index = 0; index < 100; ++index) {
      EXPECT_EQ((*old_values)[index], "v1-" + std::to_string(index)) << keys[index];
      EXPECT_EQ(*before->Get(keys[index]), (*old_values)[index]) << keys[index];
      const std::optional<std::string> expected =
          index == 1          ? std::nullopt
          : index % 3 == 0    ? std::optional<std::string>("v2")
                              : std::optional<std::string>("v1-" + std::to_string(index));
      EXPECT_EQ((*new_values)[index], expected) << keys[index];
      EXPECT_EQ(*(*store)->Get(keys[index]), expected) << keys[index];
    }
  }
}

TEST_F(RocksStoreTest, SecondOpenOfSameDirectoryIsUnavailable) {
  auto first = RocksStore::Open(path_.string());
  ASSERT_TRUE(first.ok());
  auto second = RocksStore::Open(path_.string());
  EXPECT_FALSE(second.ok());
}

}  // namespace
}  // namespace lok::store
