#include "consensus/vote_set.h"

#include <algorithm>

#include "consensus/quorum.h"

namespace hallmark::consensus {

VoteSet::VoteSet(uint64_t height, uint32_t round, VoteType type, const ValidatorSet* validators)
    : height_(height),
      round_(round),
      type_(type),
      validators_(validators),
      by_validator_(validators->size()),
      votes_of_(validators->size(), 0) {}

VoteSet::AddResult VoteSet::Add(ValidatorIndex index, const Vote& vote, Vote* first) {
  HM_ASSERT(vote.height == height_ && vote.round == round_ && vote.type == type_);
  HM_ASSERT(index < by_validator_.size());
  const uint64_t power = validators_->at(index).voting_power;
  // Past the cap a validator is not remembered any further, not even which blocks it named
  // (otherwise one equivocator could grow the set without bound), except for a block that
  // validators holding more than 1/3 of the power already back: a polka may need this vote (an
  // equivocator that filled its slots with junk would otherwise keep a relayed proof of lock
  // from ever being complete, and a locked validator from ever being convinced), and such a
  // block has at least one honest voter, so there are at most as many as validators.
  if (by_validator_[index] && votes_of_[index] >= kMaxVotesPerValidator &&
      !voted_for_.count({vote.block_id, index}) &&
      (votes_of_[index] >= MaxVotesPerValidator(validators_->size()) ||
       !HasOneThirdPlus(PowerFor(vote.block_id), validators_->total_power()))) {
    if (first) *first = counted_[*by_validator_[index]].second;
    return AddResult::kConflict;
  }
  if (!voted_for_.insert({vote.block_id, index}).second) {
#ifdef HALLMARK_MUTANT_COUNT_SIGNER_TWICE
    // Mutant: the same validator's vote is counted again.
    counted_.emplace_back(index, vote);
    power_by_block_[vote.block_id] += power;
    any_power_ += power;
#endif
    return AddResult::kDuplicate;
  }
  if (by_validator_[index]) {
    // Equivocation: keep a bounded number of the validator's votes, each counting for its block.
    if (first) *first = counted_[*by_validator_[index]].second;
    ++votes_of_[index];
    counted_.emplace_back(index, vote);
    power_by_block_[vote.block_id] += power;
    return AddResult::kConflict;
  }
  by_validator_[index] = counted_.size();
  votes_of_[index] = 1;
  counted_.emplace_back(index, vote);
  power_by_block_[vote.block_id] += power;
  any_power_ += power;
  return AddResult::kAdded;
}

uint64_t VoteSet::PowerFor(const Hash256& block_id) const {
  auto it = power_by_block_.find(block_id);
  return it == power_by_block_.end() ? 0 : it->second;
}

bool VoteSet::HasQuorumAny() const {
  return HasQuorum(any_power_, validators_->total_power());
}

bool VoteSet::HasQuorumFor(const Hash256& block_id) const {
  return HasQuorum(PowerFor(block_id), validators_->total_power());
}

std::optional<Hash256> VoteSet::QuorumBlock() const {
  for (const auto& [id, power] : power_by_block_) {
    if (!core::IsNil(id) && HasQuorum(power, validators_->total_power())) return id;
  }
  return std::nullopt;
}

std::vector<CommitSignature> VoteSet::SignaturesFor(const Hash256& block_id) const {
  std::vector<std::pair<ValidatorIndex, CommitSignature>> found;
  for (const auto& [index, vote] : counted_) {
    if (vote.block_id == block_id) found.push_back({index, {vote.validator, vote.signature}});
  }
  std::stable_sort(found.begin(), found.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<CommitSignature> out;
  out.reserve(found.size());
  for (auto& f : found) out.push_back(f.second);
  return out;
}

}  // namespace hallmark::consensus
