#include "base/civil_time.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

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

// FormatDate writes its digits without printf for years 0000-9999; every
// day of those years (and years outside, which still use printf) prints as
// printf("%04d-%02u-%02u") prints it, and reads back.
TEST(CivilTimeTest, FormatDateMatchesPrintfOnEveryDay) {
  const int64_t first = *ParseDate("0000-01-01") - 400;
  const int64_t last = *ParseDate("9999-12-31") + 400;
  int checked = 0;
  for (int64_t day = first; day <= last; ++day) {
    const std::chrono::year_month_day date{std::chrono::sys_days(std::chrono::days(day))};
    char expected[16];
    std::snprintf(expected, sizeof(expected), "%04d-%02u-%02u", static_cast<int>(date.year()),
                  static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
    const std::string formatted = FormatDate(day);
    ASSERT_EQ(formatted, expected) << day;
    if (formatted[0] != '-' && formatted.size() == 10) {
      ASSERT_EQ(ParseDate(formatted), day);
    }
    ++checked;
  }
  EXPECT_GT(checked, 3'650'000);
  EXPECT_EQ(FormatMonth(MonthOfDay(*ParseDate("0001-01-31"))), "0001-01");
}

}  // namespace
}  // namespace lok
