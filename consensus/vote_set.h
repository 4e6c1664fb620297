#pragma once

#include <map>
#include <optional>
#include <vector>

#include "consensus/types.h"

namespace hallmark::consensus {

// The votes of one type at one (height, round): at most one counted vote per validator, the
// power behind each block id, and the first conflicting vote seen from each validator (for
// evidence). Bounded by the validator count. Thread-compatible.
class VoteSet {
 public:
  VoteSet(uint64_t height, uint32_t round, VoteType type, const ValidatorSet* validators);

  enum class AddResult {
    kAdded,
    kDuplicate,  // The same vote again (a network duplicate or a rebroadcast).
    kConflict,   // A different vote from a validator that already voted: equivocation.
  };
  // REQUIRES: the vote matches this set's height, round and type, its signer is
  // validators[index], and its signature has been checked. On kConflict, *first is set to the
  // vote counted earlier.
  AddResult Add(ValidatorIndex index, const Vote& vote, Vote* first);

  uint64_t PowerFor(const Hash256& block_id) const;
  uint64_t total_power_voted() const { return any_power_; }
  // Prevotes or precommits for anything (blocks or nil) from more than 2/3 of the power.
  bool HasQuorumAny() const;
  bool HasQuorumFor(const Hash256& block_id) const;
  // The non-nil block with a quorum, if any (with at most f faulty there is at most one).
  std::optional<Hash256> QuorumBlock() const;
  // Precommit signatures for `block_id` in validator order: a certificate's body.
  std::vector<CommitSignature> SignaturesFor(const Hash256& block_id) const;
  // This set's own votes, for re-sending.
  const std::vector<std::pair<ValidatorIndex, Vote>>& votes() const { return counted_; }

 private:
  uint64_t height_;
  uint32_t round_;
  VoteType type_;
  const ValidatorSet* validators_;
  std::vector<std::optional<size_t>> by_validator_;  // Index into counted_.
  std::vector<std::pair<ValidatorIndex, Vote>> counted_;
  std::map<Hash256, uint64_t> power_by_block_;
  uint64_t any_power_ = 0;
};

}  // namespace hallmark::consensus
