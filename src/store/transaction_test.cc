#include "store/transaction.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace lok::store
