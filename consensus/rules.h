#pragma once

// The protocol's decision rules as pure free functions, so that each has its own tests and the
// engine's state machine only sequences them. Line numbers refer to Algorithm 1 of Buchman,
// Kwon, Milosevic, "The latest gossip on BFT consensus" (arXiv 1807.04938).

#include <cstdint>
#include <optional>
#include <vector>

#include "consensus/types.h"

namespace hallmark::consensus {

// A validator's lock at the current height: lockedRound_p and lockedValue_p.
struct LockState {
  std::optional<uint32_t> locked_round;  // nullopt is the paper's -1.
  Hash256 locked_block;

  bool operator==(const LockState&) const = default;
};

// The block to prevote for when the round's proposal names `proposed` (zero = nil).
// Without a proof-of-lock round (lines 22-27): the block if it is valid and we are unlocked or
// locked on it. With proof-of-lock round `pol_round` (lines 28-33; REQUIRES: the caller has seen
// a prevote quorum for `proposed` at pol_round, and pol_round < the current round): the block if
// it is valid and our lock is no newer than pol_round or is on this block.
Hash256 PrevoteForProposal(const LockState& lock, const Hash256& proposed, bool valid,
                           std::optional<uint32_t> pol_round);

// Proposer rotation. The schedule is one cycle of smooth weighted round-robin over the set:
// each validator appears in proportion to its voting power, interleaved rather than in runs,
// so a crashed validator does not own consecutive rounds. Powers are scaled down to keep the
// cycle at most kMaxScheduleLength long (each validator keeps at least one slot).
inline constexpr uint64_t kMaxScheduleLength = 4096;
std::vector<ValidatorIndex> ProposerSchedule(const ValidatorSet& validators);
// proposer(h, r) = schedule[(h + r) mod length]: it moves on with every height and every round.
// REQUIRES: !schedule.empty().
ValidatorIndex ProposerFor(const std::vector<ValidatorIndex>& schedule, uint64_t height,
                           uint32_t round);

// The signer guard's rule: may a validator whose last signature is `last` sign a message for
// (height, round, step, block)? Yes iff (height, round, step) comes after the last signed one,
// or is the same one for the same block (re-signing is harmless: Ed25519 is deterministic).
// Anything else could be a second, conflicting vote.
bool MaySign(const SignerState& last, uint64_t height, uint32_t round, RoundStep step,
             const Hash256& block_id);

// The signer state after signing; a non-nil precommit also records the lock it implies.
SignerState AfterSigning(const SignerState& last, uint64_t height, uint32_t round, RoundStep step,
                         const Hash256& block_id);

}  // namespace hallmark::consensus
