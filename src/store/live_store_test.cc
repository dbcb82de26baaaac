#include "store/live_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

namespace lok::store {
namespace {

class LiveStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("lok-live-store-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::shared_ptr<RocksStore> OpenWith(const std::string& name, const std::string& value) {
    auto store = RocksStore::Open((root_ / name).string());
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    ChangeSet changes;
    changes.writes["model/a"] = value;
    changes.writes["model/b"] = value;
    EXPECT_TRUE((*store)->Commit(changes).ok());
    return std::shared_ptr<RocksStore>(std::move(store).value());
  }

  std::filesystem::path root_;
};

TEST_F(LiveStoreTest, SnapshotTakenBeforeASwapKeepsReadingTheOldStore) {
  LiveStore live(OpenWith("old", "1"));
  std::unique_ptr<KeyValueReader> before = live.Snapshot();
  std::weak_ptr<RocksStore> old = live.Current();
  auto previous = live.Swap(OpenWith("new", "2"), nullptr);
  ASSERT_TRUE(previous.ok());
  previous->reset();
  // The snapshot still pins the old store, which is therefore still open.
  EXPECT_FALSE(old.expired());
  EXPECT_EQ(*before->Get("model/a"), std::optional<std::string>("1"));
  EXPECT_EQ(*live.Snapshot()->Get("model/a"), std::optional<std::string>("2"));
  EXPECT_EQ(*live.Get("model/b"), std::optional<std::string>("2"));
  before.reset();
  EXPECT_TRUE(old.expired());
}

TEST_F(LiveStoreTest, FailedCarryOverSwapsNothing) {
  LiveStore live(OpenWith("old", "1"));
  auto swapped = live.Swap(OpenWith("new", "2"),
                           [](RocksStore&, RocksStore&) { return UnavailableError("disk full"); });
  EXPECT_EQ(swapped.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(*live.Get("model/a"), std::optional<std::string>("1"));
}

TEST_F(LiveStoreTest, CarryOverSeesEveryCommitMadeThroughTheLiveStore) {
  LiveStore live(OpenWith("old", "1"));
  std::atomic<int> committed{0};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int index = 0; !stop.load(); ++index) {
      ChangeSet changes;
      changes.writes["_marks/" + std::to_string(index)] = "x";
      if (live.Commit(changes).ok()) committed.fetch_add(1);
    }
  });
  while (committed.load() < 50) std::this_thread::yield();
  auto swapped = live.Swap(OpenWith("new", "2"), [](RocksStore& old, RocksStore& next) {
    ChangeSet copy;
    Status scanned = old.ScanPrefix("_marks/", [&](std::string_view key, std::string_view value) {
      copy.writes[std::string(key)] = std::string(value);
      return true;
    });
    if (!scanned.ok()) return scanned;
    return next.Commit(copy);
  });
  ASSERT_TRUE(swapped.ok());
  stop.store(true);
  writer.join();
  // Every mark written through the live store is in the new store: the
  // commits before the swap were carried over, the ones after went there.
  int marks = 0;
  ASSERT_TRUE(live.ScanPrefix("_marks/",
                              [&](std::string_view, std::string_view) {
                                ++marks;
                                return true;
                              })
                  .ok());
  EXPECT_EQ(marks, committed.load());
}

}  // namespace
}  // namespace lok::store
