#include "consensus/rules.h"

#include <algorithm>
#include <tuple>

namespace hallmark::consensus {

Hash256 PrevoteForProposal(const LockState& lock, const Hash256& proposed, bool valid,
                           std::optional<uint32_t> pol_round) {
  if (!valid || core::IsNil(proposed)) return Hash256();
#ifdef HALLMARK_MUTANT_SKIP_LOCK_CHECK
  // Mutant: ignore the lock entirely.
  (void)lock;
  (void)pol_round;
  return proposed;
#else
  if (!lock.locked_round || lock.locked_block == proposed) return proposed;
#ifdef HALLMARK_MUTANT_LINE28_STRICT
  // Mutant: "<" instead of "<=" on line 28.
  if (pol_round && *lock.locked_round < *pol_round) return proposed;
#else
  if (pol_round && *lock.locked_round <= *pol_round) return proposed;
#endif
  return Hash256();
#endif
}

std::vector<ValidatorIndex> ProposerSchedule(const ValidatorSet& validators) {
  const size_t n = validators.size();
  HM_ASSERT(n > 0);
  const uint64_t total = validators.total_power();
  // Scale so that the cycle has at most kMaxScheduleLength slots.
  const uint64_t divisor =
      total <= kMaxScheduleLength ? 1 : (total + kMaxScheduleLength - 1) / kMaxScheduleLength;
  std::vector<int64_t> weight(n);
  int64_t sum = 0;
  for (size_t i = 0; i < n; ++i) {
    weight[i] =
        static_cast<int64_t>(std::max<uint64_t>(1, validators.at(i).voting_power / divisor));
    sum += weight[i];
  }
  // Smooth weighted round-robin: every slot, each validator gains its weight; the one with the
  // most credit (lowest index on ties) is chosen and pays the sum. Over `sum` slots each
  // validator is chosen exactly weight times.
  std::vector<int64_t> credit(n, 0);
  std::vector<ValidatorIndex> schedule;
  schedule.reserve(static_cast<size_t>(sum));
  for (int64_t slot = 0; slot < sum; ++slot) {
    size_t best = 0;
    for (size_t i = 0; i < n; ++i) {
      credit[i] += weight[i];
      if (credit[i] > credit[best]) best = i;
    }
    credit[best] -= sum;
    schedule.push_back(static_cast<ValidatorIndex>(best));
  }
  return schedule;
}

ValidatorIndex ProposerFor(const std::vector<ValidatorIndex>& schedule, uint64_t height,
                           uint32_t round) {
  HM_ASSERT(!schedule.empty());
  const uint64_t len = schedule.size();
  return schedule[(height % len + round % len) % len];
}

bool MaySign(const SignerState& last, uint64_t height, uint32_t round, RoundStep step,
             const Hash256& block_id) {
  const auto target = std::make_tuple(height, round, static_cast<uint8_t>(step));
  const auto previous = std::make_tuple(last.height, last.round, last.step);
  if (target > previous) return true;
  return target == previous && block_id == last.block_id;
}

SignerState AfterSigning(const SignerState& last, uint64_t height, uint32_t round, RoundStep step,
                         const Hash256& block_id) {
  SignerState next = last;
  if (height != last.height || round != last.round) {
    next.prevote.reset();  // The kept votes are those of the new (height, round).
    next.precommit.reset();
  }
  next.height = height;
  next.round = round;
  next.step = static_cast<uint8_t>(step);
  next.block_id = block_id;
  if (step == RoundStep::kPrecommit && !core::IsNil(block_id)) {
    next.lock_height = height;
    next.lock_round = round;
    next.lock_block_id = block_id;
  }
  return next;
}

}  // namespace hallmark::consensus
