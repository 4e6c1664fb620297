#include "consensus/quorum.h"

#include "core/certificate.h"

namespace hallmark::consensus {

bool HasQuorum(uint64_t power, uint64_t total) {
#ifdef HALLMARK_MUTANT_WEAK_QUORUM
  // Mutant: f + 1 votes pass as a quorum.
  return core::IsOneThirdPlus(power, total);
#else
  return core::IsQuorum(power, total);
#endif
}

bool HasOneThirdPlus(uint64_t power, uint64_t total) {
  return core::IsOneThirdPlus(power, total);
}

}  // namespace hallmark::consensus
