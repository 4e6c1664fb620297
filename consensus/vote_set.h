#pragma once

#include <map>
#include <optional>
#include <set>
#include <vector>

#include "consensus/types.h"

namespace hallmark::consensus {

// The votes of one type at one (height, round) and the power behind each block id.
//
// As in the paper, "2f + 1 prevotes for v" counts distinct validators that voted for v, so an
// equivocating validator counts once for each block it voted for (at most
// kMaxVotesPerValidator of them), while "2f + 1 prevotes for anything" counts each validator
// once. Safety is unaffected: two quorums share more than f validators, so at least one honest
// one, and honest validators vote once. Counting the equivocator's vote for a block matters for
// liveness: honest validators locked on a block need the proof of lock that includes it.
// Bounded by MaxVotesPerValidator(n) * n. Thread-compatible.
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
  // (block, validator) pairs remembered: at most MaxVotesPerValidator(n) per validator.
  size_t entries() const { return voted_for_.size(); }

  // Votes kept per validator for blocks nobody else backs; a validator's votes for blocks that
  // validators with more than 1/3 of the power back are kept too, up to the hard bound below.
  static constexpr size_t kMaxVotesPerValidator = 3;
  static constexpr size_t MaxVotesPerValidator(size_t validators) {
    return kMaxVotesPerValidator + validators;
  }

 private:
  uint64_t height_;
  uint32_t round_;
  VoteType type_;
  const ValidatorSet* validators_;
  std::vector<std::optional<size_t>> by_validator_;  // First vote: index into counted_.
  std::vector<size_t> votes_of_;                     // Votes kept per validator.
  std::set<std::pair<Hash256, ValidatorIndex>> voted_for_;
  std::vector<std::pair<ValidatorIndex, Vote>> counted_;
  std::map<Hash256, uint64_t> power_by_block_;
  uint64_t any_power_ = 0;
};

}  // namespace hallmark::consensus
