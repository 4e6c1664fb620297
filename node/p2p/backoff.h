#pragma once

#include <cstdint>
#include <random>

namespace hallmark::node {

// Delays between reconnect attempts to one peer: the nominal delay starts at `initial_ms`,
// doubles after each attempt and stops at `max_ms`; each delay is drawn uniformly from
// [nominal / 2, nominal]. The jitter keeps nodes that lost a peer at the same moment from
// dialing it in lockstep, and the lower half bound keeps the growth real. Reset() after a
// connection succeeds. Thread-compatible.
class Backoff {
 public:
  // REQUIRES: 0 < initial_ms <= max_ms.
  Backoff(uint32_t initial_ms, uint32_t max_ms, uint64_t seed);

  uint32_t NextDelayMs();
  void Reset() { nominal_ms_ = initial_ms_; }

 private:
  uint32_t initial_ms_;
  uint32_t max_ms_;
  uint32_t nominal_ms_;
  std::mt19937_64 rng_;
};

}  // namespace hallmark::node
