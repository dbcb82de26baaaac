#include "base/status.h"

#include <gtest/gtest.h>

namespace lok {
namespace {

StatusOr<int> Half(int value) {
  if (value % 2 != 0) return InvalidArgumentError("value: must be even");
  return value / 2;
}

Status Quarter(int value, int& out) {
  LOK_ASSIGN_OR_RETURN(int half, Half(value));
  LOK_ASSIGN_OR_RETURN(out, Half(half));
  return Status::Ok();
}

TEST(StatusTest, ToStringNamesCodeAndMessage) {
  EXPECT_EQ(InvalidArgumentError("client_id: required").ToString(),
            "INVALID_ARGUMENT: client_id: required");
  EXPECT_EQ(Status::Ok().ToString(), "OK");
}

TEST(StatusTest, WithContextPrefixesMessageAndKeepsCode) {
  Status status = NotFoundError("key").WithContext("funnel");
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "funnel: key");
}

TEST(StatusTest, AssignOrReturnPropagatesFirstError) {
  int out = 0;
  EXPECT_TRUE(Quarter(8, out).ok());
  EXPECT_EQ(out, 2);
  Status status = Quarter(6, out);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "value: must be even");
}

}  // namespace
}  // namespace lok
