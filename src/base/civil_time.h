// Calendar arithmetic in UTC for read models and query windows: days since
// the epoch, months as YYYY-MM, quarters. Pure functions, no time zones.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lok {

// `value` ÷ `divisor` rounded towards minus infinity (days, weeks and
// months before the epoch land in the right unit). REQUIRES: divisor > 0.
constexpr int64_t FloorDiv(int64_t value, int64_t divisor) {
  return value / divisor - (value % divisor < 0 ? 1 : 0);
}

// Days since 1970-01-01 (UTC) of an instant given in seconds since the epoch.
int64_t DayOfSeconds(int64_t seconds);

// Parses "YYYY-MM-DD" into days since the epoch; nullopt unless a real date.
std::optional<int64_t> ParseDate(std::string_view text);

// "YYYY-MM-DD" of days since the epoch.
std::string FormatDate(int64_t day);

// Months since 1970-01 (0 = 1970-01) of a day, and back.
int32_t MonthOfDay(int64_t day);
int64_t FirstDayOfMonth(int32_t month);

// Parses "YYYY-MM" into months since 1970-01; nullopt unless a real month.
std::optional<int32_t> ParseMonth(std::string_view text);

// "YYYY-MM" of months since 1970-01.
std::string FormatMonth(int32_t month);

// "YYYY-Qn" of months since 1970-01.
std::string FormatQuarter(int32_t month);

// Today's UTC day from the system clock (for defaults like asOf = today).
int64_t Today();

}  // namespace lok
