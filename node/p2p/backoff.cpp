#include "node/p2p/backoff.h"

#include <algorithm>

#include "core/status.h"

namespace hallmark::node {

Backoff::Backoff(uint32_t initial_ms, uint32_t max_ms, uint64_t seed)
    : initial_ms_(initial_ms), max_ms_(max_ms), nominal_ms_(initial_ms), rng_(seed) {
  HM_ASSERT(initial_ms > 0 && initial_ms <= max_ms);
}

uint32_t Backoff::NextDelayMs() {
  const uint32_t nominal = nominal_ms_;
  nominal_ms_ = static_cast<uint32_t>(std::min<uint64_t>(uint64_t{nominal} * 2, max_ms_));
  std::uniform_int_distribution<uint32_t> jitter(nominal - nominal / 2, nominal);
  return jitter(rng_);
}

}  // namespace hallmark::node
