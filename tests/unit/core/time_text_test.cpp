#include "core/time_text.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using hallmark::core::ParseTimeMs;

TEST_CASE("time text: milliseconds, dates and RFC 3339 become Unix milliseconds") {
  CHECK(*ParseTimeMs("0") == 0);
  CHECK(*ParseTimeMs("1796083200000") == 1796083200000ull);
  CHECK(*ParseTimeMs("1970-01-01") == 0);
  CHECK(*ParseTimeMs("2026-12-01") == 1796083200000ull);  // date -d 2026-12-01Z +%s
  CHECK(*ParseTimeMs("2000-02-29") == 951782400000ull);
  CHECK(*ParseTimeMs("2026-12-01T08:30:00Z") == 1796083200000ull + 30'600'000);
  CHECK(*ParseTimeMs("2026-12-01t08:30:00z") == 1796083200000ull + 30'600'000);
  CHECK(*ParseTimeMs("2026-12-01T08:30:00.25Z") == 1796083200000ull + 30'600'000 + 250);
  CHECK(*ParseTimeMs("2026-12-01T08:30:00.123456789Z") == 1796083200000ull + 30'600'000 + 123);
  CHECK(*ParseTimeMs("2026-12-01T09:30:00+01:00") == 1796083200000ull + 30'600'000);
  CHECK(*ParseTimeMs("2026-11-30T23:00:00-09:30") == 1796083200000ull + 30'600'000);
  CHECK(*ParseTimeMs("9999-12-31T23:59:59.999Z") == 253402300799999ull);
  CHECK(*ParseTimeMs("9999999999999999999") == 9999999999999999999ull);
}

TEST_CASE("time text: anything else is refused with the accepted forms") {
  for (const std::string& bad : std::vector<std::string>{"",
                                                         " 1",
                                                         "1 ",
                                                         "-1",
                                                         "+1",
                                                         "1e3",
                                                         "99999999999999999999",
                                                         "2026-13-01",
                                                         "2026-00-01",
                                                         "2026-02-29",
                                                         "2026-04-31",
                                                         "2026-12-00",
                                                         "1969-12-31",
                                                         "26-12-01",
                                                         "2026/12/01",
                                                         "2026-12-1",
                                                         "2026-12-01T",
                                                         "2026-12-01T08:30Z",
                                                         "2026-12-01T08:30:00",
                                                         "2026-12-01T24:00:00Z",
                                                         "2026-12-01T08:60:00Z",
                                                         "2026-12-01T08:30:60Z",
                                                         "2026-12-01T08:30:00.Z",
                                                         "2026-12-01T08:30:00.1234567890Z",
                                                         "2026-12-01T08:30:00+0100",
                                                         "2026-12-01T08:30:00+24:00",
                                                         "2026-12-01T08:30:00Zjunk",
                                                         "2026-12-01 08:30:00Z",
                                                         "1970-01-01T00:00:00+00:01",
                                                         std::string("2026-12-01\0", 11),
                                                         "yesterday"}) {
    CAPTURE(bad);
    auto r = ParseTimeMs(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("is not a time") != std::string::npos);
    CHECK(r.status().message().find("2026-12-01T08:30:00Z") != std::string::npos);
  }
}
