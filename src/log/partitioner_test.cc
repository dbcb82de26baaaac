#include "log/partitioner.h"

#include <gtest/gtest.h>

namespace lok::log {
namespace {

// Vectors from Kafka's own UtilsTest.testMurmur2, so a client's events land on
// the partition a Java producer would pick.
TEST(PartitionerTest, Murmur2MatchesKafkaVectors) {
  EXPECT_EQ(Murmur2("21"), -973932308);
  EXPECT_EQ(Murmur2("foobar"), -790332482);
  EXPECT_EQ(Murmur2("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(Murmur2("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(Murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(Murmur2("abc"), 479470107);
}

TEST(PartitionerTest, PartitionIsStableAndInRange) {
  for (int32_t count : {1, 3, 8, 64}) {
    for (const char* key : {"acme", "globex", "", "initech-42"}) {
      const int32_t partition = PartitionForKey(key, count);
      EXPECT_GE(partition, 0);
      EXPECT_LT(partition, count);
      EXPECT_EQ(partition, PartitionForKey(key, count));
    }
  }
}

}  // namespace
}  // namespace lok::log
