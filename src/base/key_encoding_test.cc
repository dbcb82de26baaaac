#include "base/key_encoding.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace lok {
namespace {

TEST(KeyEncodingTest, BigEndianSortsNumerically) {
  std::vector<uint64_t> values = {0, 1, 255, 256, 65535, 1ULL << 40, ~0ULL};
  std::vector<std::string> encoded;
  for (uint64_t value : values) {
    std::string key;
    AppendBigEndian64(key, value);
    encoded.push_back(key);
    EXPECT_EQ(ReadBigEndian64(key, 0), value);
  }
  EXPECT_TRUE(std::is_sorted(encoded.begin(), encoded.end()));
}

TEST(KeyEncodingTest, OrderedInt64SortsNegativesFirst) {
  std::string minus_one, zero, plus_one;
  AppendOrderedInt64(minus_one, -1);
  AppendOrderedInt64(zero, 0);
  AppendOrderedInt64(plus_one, 1);
  EXPECT_LT(minus_one, zero);
  EXPECT_LT(zero, plus_one);
  EXPECT_EQ(ReadOrderedInt64(minus_one, 0), -1);
}

TEST(KeyEncodingTest, ShortInputReadsAsNullopt) {
  EXPECT_FALSE(ReadBigEndian32("abc", 0).has_value());
  EXPECT_FALSE(ReadBigEndian64("abcdefgh", 1).has_value());
}

TEST(KeyEncodingTest, EscapedStringRoundTripsAndIsPrefixFree) {
  std::string with_nul("a\0b", 3);
  std::string key;
  AppendEscapedString(key, with_nul);
  AppendEscapedString(key, "second");
  size_t position = 0;
  EXPECT_EQ(ReadEscapedString(key, position), with_nul);
  EXPECT_EQ(ReadEscapedString(key, position), "second");
  EXPECT_EQ(position, key.size());

  std::string short_key, long_key;
  AppendEscapedString(short_key, "ab");
  AppendEscapedString(long_key, "abc");
  EXPECT_NE(long_key.rfind(short_key, 0), 0U) << "an encoded string is a prefix of another";
}

TEST(KeyEncodingTest, MalformedEscapeReadsAsNullopt) {
  std::string bad("a\0\x02", 3);
  size_t position = 0;
  EXPECT_FALSE(ReadEscapedString(bad, position).has_value());
  std::string out;
  position = 0;
  EXPECT_FALSE(ReadEscapedStringInto(bad, position, out));
  position = 0;
  EXPECT_FALSE(ReadEscapedStringInto(std::string_view("abc", 3), position, out));  // no end
}

TEST(KeyEncodingTest, ReadIntoReplacesTheTargetAndAdvances) {
  std::string key;
  AppendEscapedString(key, std::string("x\0y", 3));
  AppendEscapedString(key, "");
  AppendEscapedString(key, "last");
  std::string out = "previous contents that are longer";
  size_t position = 0;
  ASSERT_TRUE(ReadEscapedStringInto(key, position, out));
  EXPECT_EQ(out, std::string("x\0y", 3));
  ASSERT_TRUE(ReadEscapedStringInto(key, position, out));
  EXPECT_EQ(out, "");
  ASSERT_TRUE(ReadEscapedStringInto(key, position, out));
  EXPECT_EQ(out, "last");
  EXPECT_EQ(position, key.size());
}

}  // namespace
}  // namespace lok
