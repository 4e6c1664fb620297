#pragma once

#include <cstdint>

namespace hallmark::consensus {

// The engine's quorum predicates: core's arithmetic (core/certificate.h), behind one seam so
// the simulator's self-check can build an engine with a broken quorum and see it caught.
// power > 2/3 total.
bool HasQuorum(uint64_t power, uint64_t total);
// power > 1/3 total.
bool HasOneThirdPlus(uint64_t power, uint64_t total);

}  // namespace hallmark::consensus
