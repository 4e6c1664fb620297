#pragma once

#include <cstdint>
#include <string_view>

#include "core/status.h"

namespace hallmark::core {

// A point in time as a person or a script writes it, as Unix milliseconds (UTC):
//   "1796083200000"                 milliseconds since 1970-01-01T00:00:00Z (at most 19 digits);
//   "2026-12-01"                    midnight UTC of that day;
//   "2026-12-01T08:30:00Z"          RFC 3339, with optional fractional seconds (milliseconds
//   "2026-12-01T08:30:00.250+01:00" kept, further digits cut) and a Z or ±HH:MM offset.
// Years 1970..9999; a time before 1970 (after its offset) is refused. kInvalidInput otherwise,
// with a message that shows the accepted forms. Pure; thread-safe.
Result<uint64_t> ParseTimeMs(std::string_view text);

}  // namespace hallmark::core
