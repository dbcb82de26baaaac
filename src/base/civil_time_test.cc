#include "base/civil_time.h"

#include <gtest/gtest.h>

namespace lok {
namespace {

TEST(CivilTimeTest, DatesRoundTrip) {
  EXPECT_EQ(ParseDate("1970-01-01"), 0);
  EXPECT_EQ(ParseDate("2024-03-01"), 19783);
  EXPECT_EQ(FormatDate(19783), "2024-03-01");
  EXPECT_EQ(FormatDate(*ParseDate("2024-02-29")), "2024-02-29");
}

TEST(CivilTimeTest, InvalidDatesAreRejected) {
  for (const char* bad : {"2023-02-29", "2024-13-01", "2024-1-01", "20240301", "", "abcd-ef-gh"}) {
    EXPECT_FALSE(ParseDate(bad).has_value()) << bad;
  }
}

TEST(CivilTimeTest, DayOfSecondsFloorsBeforeTheEpoch) {
  EXPECT_EQ(DayOfSeconds(0), 0);
  EXPECT_EQ(DayOfSeconds(86399), 0);
  EXPECT_EQ(DayOfSeconds(86400), 1);
  EXPECT_EQ(DayOfSeconds(-1), -1);
}

TEST(CivilTimeTest, MonthsAndQuarters) {
  const int64_t day = *ParseDate("2024-03-17");
  const int32_t month = MonthOfDay(day);
  EXPECT_EQ(FormatMonth(month), "2024-03");
  EXPECT_EQ(FormatQuarter(month), "2024-Q1");
  EXPECT_EQ(FormatDate(FirstDayOfMonth(month)), "2024-03-01");
  EXPECT_EQ(ParseMonth("2024-03"), month);
  EXPECT_FALSE(ParseMonth("2024-00").has_value());
  EXPECT_EQ(FormatQuarter(*ParseMonth("2024-12")), "2024-Q4");
}

}  // namespace
}  // namespace lok
