#pragma once

#include <chrono>
#include <cstdint>

namespace hallmark::core {

// This machine's wall clock in Unix milliseconds: for record timestamps, block times proposed,
// and ages shown to people. Never called by the consensus engine, which is given time.
inline uint64_t UnixTimeMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace hallmark::core
