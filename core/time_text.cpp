#include "core/time_text.h"

#include <optional>
#include <string>

namespace hallmark::core {

namespace {

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar: Howard Hinnant's
// days_from_civil ("chrono-Compatible Low-Level Date Algorithms").
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool IsLeap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

// `n` decimal digits at text[pos]; nullopt when they are not all digits.
std::optional<unsigned> Digits(std::string_view text, size_t pos, size_t n) {
  if (pos + n > text.size()) return std::nullopt;
  unsigned v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(text[i] - '0');
  }
  return v;
}

Status Bad(std::string_view text) {
  std::string shown(text.substr(0, 64));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return Status::InvalidInput("\"" + shown +
                              "\" is not a time: use milliseconds since 1970 (1796083200000), "
                              "a date (2026-12-01) or RFC 3339 (2026-12-01T08:30:00Z)");
}

}  // namespace

Result<uint64_t> ParseTimeMs(std::string_view text) {
  if (text.empty()) return Bad(text);
  if (text.find_first_not_of("0123456789") == std::string_view::npos) {
    if (text.size() > 19) return Bad(text);
    uint64_t v = 0;
    for (char c : text) v = v * 10 + static_cast<uint64_t>(c - '0');
    return v;
  }
  // YYYY-MM-DD
  auto year = Digits(text, 0, 4);
  auto month = Digits(text, 5, 2);
  auto day = Digits(text, 8, 2);
  if (!year || !month || !day || text.size() < 10 || text[4] != '-' || text[7] != '-') {
    return Bad(text);
  }
  static constexpr unsigned kMonthDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (*year < 1970 || *month < 1 || *month > 12 || *day < 1) return Bad(text);
  const unsigned month_days = kMonthDays[*month - 1] + (*month == 2 && IsLeap(*year) ? 1 : 0);
  if (*day > month_days) return Bad(text);
  int64_t ms = DaysFromCivil(*year, *month, *day) * 86'400'000;
  if (text.size() == 10) return static_cast<uint64_t>(ms);

  // THH:MM:SS[.fraction](Z|±HH:MM)
  if (text[10] != 'T' && text[10] != 't') return Bad(text);
  auto hour = Digits(text, 11, 2);
  auto minute = Digits(text, 14, 2);
  auto second = Digits(text, 17, 2);
  if (!hour || !minute || !second || text.size() < 20 || text[13] != ':' || text[16] != ':' ||
      *hour > 23 || *minute > 59 || *second > 59) {
    return Bad(text);
  }
  ms += (static_cast<int64_t>(*hour) * 3600 + *minute * 60 + *second) * 1000;
  size_t pos = 19;
  if (text[pos] == '.') {
    ++pos;
    const size_t start = pos;
    int64_t fraction_ms = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (pos - start < 3) fraction_ms = fraction_ms * 10 + (text[pos] - '0');
      ++pos;
    }
    if (pos == start || pos - start > 9) return Bad(text);
    for (size_t n = pos - start; n < 3; ++n) fraction_ms *= 10;
    ms += fraction_ms;
  }
  if (pos >= text.size()) return Bad(text);
  if (text[pos] == 'Z' || text[pos] == 'z') {
    if (pos + 1 != text.size()) return Bad(text);
  } else if (text[pos] == '+' || text[pos] == '-') {
    auto oh = Digits(text, pos + 1, 2);
    auto om = Digits(text, pos + 4, 2);
    if (!oh || !om || pos + 6 != text.size() || text[pos + 3] != ':' || *oh > 23 || *om > 59) {
      return Bad(text);
    }
    const int64_t offset_ms = (static_cast<int64_t>(*oh) * 60 + *om) * 60'000;
    // Local time minus its offset is UTC.
    ms += text[pos] == '+' ? -offset_ms : offset_ms;
  } else {
    return Bad(text);
  }
  if (ms < 0) return Bad(text);
  return static_cast<uint64_t>(ms);
}

}  // namespace hallmark::core
