#include "base/civil_time.h"

#include <chrono>
#include <cstdio>

namespace lok {
namespace {

bool AllDigits(std::string_view text) {
  for (char digit : text) {
    if (digit < '0' || digit > '9') return false;
  }
  return !text.empty();
}

int ToInt(std::string_view digits) {
  int value = 0;
  for (char digit : digits) value = value * 10 + (digit - '0');
  return value;
}

}  // namespace

int64_t DayOfSeconds(int64_t seconds) {
  return FloorDiv(seconds, 86400);  // instants before 1970 land on the right day
}

std::optional<int64_t> ParseDate(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-' || !AllDigits(text.substr(0, 4)) ||
      !AllDigits(text.substr(5, 2)) || !AllDigits(text.substr(8, 2))) {
    return std::nullopt;
  }
  const std::chrono::year_month_day date{std::chrono::year(ToInt(text.substr(0, 4))),
                                         std::chrono::month(static_cast<unsigned>(ToInt(text.substr(5, 2)))),
                                         std::chrono::day(static_cast<unsigned>(ToInt(text.substr(8, 2))))};
  if (!date.ok()) return std::nullopt;
  return std::chrono::sys_days(date).time_since_epoch().count();
}

std::string FormatDate(int64_t day) {
  const std::chrono::year_month_day date{std::chrono::sys_days(std::chrono::days(day))};
  const int year = static_cast<int>(date.year());
  const auto month = static_cast<unsigned>(date.month());
  const auto day_of_month = static_cast<unsigned>(date.day());
  if (year < 0 || year > 9999) {
    char buffer[16];
    std::snprintf(buffer, sizeof(buffer), "%04d-%02u-%02u", year, month, day_of_month);
    return buffer;
  }
  // The common case without printf (answers format hundreds of dates).
  std::string text(10, '-');
  text[0] = static_cast<char>('0' + year / 1000);
  text[1] = static_cast<char>('0' + year / 100 % 10);
  text[2] = static_cast<char>('0' + year / 10 % 10);
  text[3] = static_cast<char>('0' + year % 10);
  text[5] = static_cast<char>('0' + month / 10);
  text[6] = static_cast<char>('0' + month % 10);
  text[8] = static_cast<char>('0' + day_of_month / 10);
  text[9] = static_cast<char>('0' + day_of_month % 10);
  return text;
}

int32_t MonthOfDay(int64_t day) {
  const std::chrono::year_month_day date{std::chrono::sys_days(std::chrono::days(day))};
  return (static_cast<int>(date.year()) - 1970) * 12 + static_cast<int>(static_cast<unsigned>(date.month())) - 1;
}

int64_t FirstDayOfMonth(int32_t month) {
  const int year = 1970 + static_cast<int>(FloorDiv(month, 12));
  const int month_of_year = month - (year - 1970) * 12 + 1;
  const std::chrono::year_month_day date{std::chrono::year(year),
                                         std::chrono::month(static_cast<unsigned>(month_of_year)),
                                         std::chrono::day(1)};
  return std::chrono::sys_days(date).time_since_epoch().count();
}

std::optional<int32_t> ParseMonth(std::string_view text) {
  if (text.size() != 7 || text[4] != '-' || !AllDigits(text.substr(0, 4)) ||
      !AllDigits(text.substr(5, 2))) {
    return std::nullopt;
  }
  const int month_of_year = ToInt(text.substr(5, 2));
  if (month_of_year < 1 || month_of_year > 12) return std::nullopt;
  return (ToInt(text.substr(0, 4)) - 1970) * 12 + month_of_year - 1;
}

std::string FormatMonth(int32_t month) {
  std::string text = FormatDate(FirstDayOfMonth(month));
  text.resize(7);
  return text;
}

std::string FormatQuarter(int32_t month) {
  const std::string text = FormatMonth(month);
  const int month_of_year = ToInt(std::string_view(text).substr(5, 2));
  return text.substr(0, 4) + "-Q" + std::to_string((month_of_year - 1) / 3 + 1);
}

int64_t Today() {
  return std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now())
      .time_since_epoch()
      .count();
}

}  // namespace lok
