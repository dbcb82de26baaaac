#include "base/base64.h"

#include <gtest/gtest.h>

#include "base/utf8.h"

namespace lok {
namespace {

TEST(Base64Test, RoundTripsEveryPaddingLength) {
  for (std::string bytes :
       {std::string(""), std::string("f"), std::string("fo"), std::string("foo"),
        std::string("foob"), std::string("\0\xff\x10", 3)}) {
    StatusOr<std::string> decoded = Base64Decode(Base64Encode(bytes));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(*decoded, bytes);
  }
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
}

TEST(Base64Test, RejectsBadLengthAndCharacters) {
  EXPECT_NE(Base64Decode("Zm9").status().message().find("multiple of 4"), std::string::npos);
  EXPECT_NE(Base64Decode("Zm9v!A==").status().message().find("position 4"), std::string::npos);
  EXPECT_EQ(Base64Decode("Zm=v").status().code(), StatusCode::kInvalidArgument);
}

TEST(Utf8Test, AcceptsTextAndRejectsMalformedSequences) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("Zürich €"));
  EXPECT_FALSE(IsValidUtf8("ab\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));      // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // surrogate
}

}  // namespace
}  // namespace lok
