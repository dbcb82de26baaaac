#include "store/transaction.h"

#include <gtest/gtest.h>

#include <array>
#include <limits>

namespace lok::store {
namespace {

TEST(TransactionTest, ReadsSeeOwnWritesOverBase) {
  MemoryStore base;
  ChangeSet seed;
  seed.writes["a"] = "1";
  seed.writes["b"] = "2";
  base.Commit(seed);

  Transaction transaction(base);
  transaction.Put("a", "changed");
  transaction.Delete("b");
  EXPECT_EQ(*transaction.Get("a"), std::optional<std::string>("changed"));
  EXPECT_EQ(*transaction.Get("b"), std::nullopt);
  EXPECT_EQ(*base.Get("a"), std::optional<std::string>("1")) << "base changed before commit";
}

TEST(TransactionTest, CounterDeltasAreSummedAndWrittenOnce) {
  MemoryStore base;
  ChangeSet seed;
  seed.writes["hot"] = EncodeCounter(10);
  base.Commit(seed);

  Transaction transaction(base);
  for (int index = 0; index < 1000; ++index) transaction.AddCounter("hot", 1);
  transaction.AddCounter("hot", -5);
  EXPECT_EQ(*transaction.GetCounter("hot"), 1005);
  auto changes = transaction.Finish();
  ASSERT_TRUE(changes.ok());
  ASSERT_EQ(changes->writes.size(), 1U);
  EXPECT_EQ(*DecodeCounter(*changes->writes.at("hot")), 1005);
}

TEST(TransactionTest, CounterBackToZeroIsDeleted) {
  MemoryStore base;
  ChangeSet seed;
  seed.writes["c"] = EncodeCounter(3);
  base.Commit(seed);
  Transaction transaction(base);
  transaction.AddCounter("c", -3);
  auto changes = transaction.Finish();
  ASSERT_TRUE(changes.ok());
  EXPECT_EQ(changes->writes.at("c"), std::nullopt);
}

TEST(TransactionTest, CounterVectorsAddElementWiseAndVanishAtZero) {
  MemoryStore base;
  ChangeSet seed;
  seed.writes["cell"] = EncodeCounterVector({1, 2});
  base.Commit(seed);
  Transaction transaction(base);
  transaction.AddCounterVector("cell", {1, 1, 5});
  transaction.AddCounterVector("cell", {0, -1});
  transaction.AddCounterVector("gone", {3});
  transaction.AddCounterVector("gone", {-3});
  auto changes = transaction.Finish();
  ASSERT_TRUE(changes.ok());
  EXPECT_EQ(*DecodeCounterVector(*changes->writes.at("cell")), (std::vector<int64_t>{2, 2, 5}));
  EXPECT_EQ(changes->writes.at("gone"), std::nullopt);
}

TEST(CounterVectorTest, VarintsRoundTripExtremesAndDropTrailingZeros) {
  const std::vector<int64_t> values = {0, 1, -1, 63, -64, 64, std::numeric_limits<int64_t>::max(),
                                       std::numeric_limits<int64_t>::min(), 0, 0};
  const std::string bytes = EncodeCounterVector(values);
  // Zero, ±1, 63 and -64 take one byte each; the trailing zeros none.
  EXPECT_EQ(EncodeCounterVector({0, 1, -1, 63, -64, 0, 0}).size(), 5u);
  std::vector<int64_t> expected(values.begin(), values.end() - 2);
  EXPECT_EQ(*DecodeCounterVector(bytes), expected);
  std::array<int64_t, 12> into{};
  into.fill(7);
  ASSERT_TRUE(DecodeCounterVectorInto(bytes, into).ok());
  EXPECT_EQ(into[7], std::numeric_limits<int64_t>::min());
  EXPECT_EQ(into[8], 0);  // zero-filled past the stored counters
  EXPECT_EQ(into[11], 0);
}

TEST(CounterVectorTest, MalformedBytesAreDataLoss) {
  EXPECT_EQ(DecodeCounterVector("\x80").status().code(), StatusCode::kDataLoss);  // truncated
  std::array<int64_t, 1> one{};
  EXPECT_EQ(DecodeCounterVectorInto(EncodeCounterVector({1, 2}), one).code(),
            StatusCode::kDataLoss);  // more counters than the caller expects
}

TEST(TransactionTest, MemoryScanRangeIsHalfOpen) {
  MemoryStore base;
  ChangeSet seed;
  for (const char* key : {"a", "b", "c", "d"}) seed.writes[key] = "v";
  base.Commit(seed);
  std::string seen;
  ASSERT_TRUE(base.ScanRange("b", "d", [&](std::string_view key, std::string_view) {
                    seen += key;
                    return true;
                  }).ok());
  EXPECT_EQ(seen, "bc");
}

TEST(TransactionTest, CorruptCounterIsDataLoss) {
  MemoryStore base;
  ChangeSet seed;
  seed.writes["c"] = "xyz";
  base.Commit(seed);
  Transaction transaction(base);
  transaction.AddCounter("c", 1);
  EXPECT_EQ(transaction.Finish().status().code(), StatusCode::kDataLoss);
}

TEST(TransactionTest, RollbackToSavePointUndoesOnlyTheChangesAfterIt) {
  MemoryStore base;
  ChangeSet seed;
  seed.writes["kept"] = "base";
  seed.writes["deleted-later"] = "base";
  seed.writes["counter"] = EncodeCounter(10);
  base.Commit(seed);

  Transaction transaction(base);
  transaction.Put("before", "1");
  transaction.AddCounter("counter", 1);
  transaction.AddCounterVector("cell", {1, 2});
  transaction.SetSavePoint();
  transaction.Put("before", "2");
  transaction.Put("before", "3");
  transaction.Put("new", "x");
  transaction.Delete("deleted-later");
  transaction.AddCounter("counter", 5);
  transaction.AddCounter("fresh-counter", 7);
  transaction.AddCounterVector("cell", {10, 20, 30});
  transaction.AddCounterVector("fresh-cell", {1});
  transaction.RollbackToSavePoint();

  EXPECT_EQ(*transaction.Get("before"), std::optional<std::string>("1"));
  EXPECT_EQ(*transaction.Get("new"), std::nullopt);
  EXPECT_EQ(*transaction.Get("deleted-later"), std::optional<std::string>("base"));
  EXPECT_EQ(*transaction.GetCounter("counter"), 11);
  EXPECT_EQ(*transaction.GetCounter("fresh-counter"), 0);
  auto changes = transaction.Finish();
  ASSERT_TRUE(changes.ok());
  EXPECT_EQ(changes->writes.size(), 3U) << "before, counter and cell only";
  EXPECT_EQ(changes->writes.at("cell"), EncodeCounterVector({1, 2}));
  EXPECT_FALSE(changes->writes.contains("fresh-cell"));

  // After a release the changes stay, and a later rollback does not touch them.
  transaction.SetSavePoint();
  transaction.Put("kept", "event-2");
  transaction.ReleaseSavePoint();
  transaction.SetSavePoint();
  transaction.Put("kept", "event-3");
  transaction.RollbackToSavePoint();
  EXPECT_EQ(*transaction.Get("kept"), std::optional<std::string>("event-2"));
}

// A base whose reads fail, as a failing disk would.
class FailingStore : public MemoryStore {
 public:
  StatusOr<std::optional<std::string>> Get(std::string_view) const override {
    return UnavailableError("disk: read failed");
  }
};

TEST(TransactionTest, ReadErrorRemembersTheFirstFailedBaseRead) {
  FailingStore base;
  Transaction transaction(base);
  EXPECT_TRUE(transaction.read_error().ok());
  transaction.Put("own", "1");
  EXPECT_TRUE(transaction.Get("own").ok()) << "own writes need no base read";
  EXPECT_TRUE(transaction.read_error().ok());
  EXPECT_FALSE(transaction.GetCounter("c").ok());
  EXPECT_EQ(transaction.read_error().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace lok::store
