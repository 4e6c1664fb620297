#include "node/evidence_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/consensus_codec.h"
#include "node/validator_sets.h"

namespace hallmark::node {

std::string_view EvidencePool::AddResultName(AddResult result) {
  switch (result) {
    case AddResult::kAdded:
      return "added";
    case AddResult::kKnown:
      return "known";
    case AddResult::kCommitted:
      return "committed";
    case AddResult::kTooOld:
      return "too_old";
    case AddResult::kInvalid:
      return "invalid";
    case AddResult::kFull:
      return "full";
  }
  return "unknown";
}

EvidencePool::EvidencePool(const core::Network& network, const storage::Ledger* ledger,
                           size_t max_pieces, StateSource state)
    : network_(network), state_(std::move(state)), ledger_(ledger), max_pieces_(max_pieces) {
  auto set = core::ValidatorSet::FromNetwork(network);
  HM_ASSERT(set.ok());  // The network was validated when it was loaded.
  validators_ = std::move(set).value();
}

EvidencePool::AddResult EvidencePool::Add(const core::Evidence& evidence, std::string* why) {
  auto say = [why](AddResult r, std::string text) {
    if (why) *why = std::move(text);
    return r;
  };
  // Cheap checks before the signatures.
  const core::Evidence canonical = core::CanonicalEvidence(evidence);
  const core::Offence offence = core::OffenceOf(canonical);
  if (pending_.contains(offence)) return say(AddResult::kKnown, "already pending");
  const uint64_t next = ledger_->height() + 1;
  if (offence.height > next || next - offence.height > core::limits::kMaxEvidenceAgeHeights)
    return say(AddResult::kTooOld, "outside the age window of the next block");
  if (pending_.size() >= max_pieces_) return say(AddResult::kFull, "the pool is full");
  auto count = per_validator_.find(offence.validator);
  if (count != per_validator_.end() &&
      count->second >= core::limits::kMaxPendingEvidencePerValidator)
    return say(AddResult::kFull, "this validator's share of the pool is full");
  // Against the set of the offence's height (the age check above keeps it at most the next
  // height, whose set is known).
  core::Result<core::ValidatorSet> set = validators_;
  if (state_) set = ValidatorSetOf(state_()->ValidatorSetAt(offence.height));
  if (!set.ok()) return say(AddResult::kInvalid, set.status().message());
  core::Status st = core::VerifyEvidence(*set, network_.chain_id(), canonical);
  if (!st.ok()) return say(AddResult::kInvalid, st.message());
  auto committed = ledger_->FindOffence(offence);
  if (!committed.ok()) {
    spdlog::error("evidence pool: {}", committed.status().ToString());
    return say(AddResult::kInvalid, "the store could not be read");
  }
  if (committed->has_value()) return say(AddResult::kCommitted, "already committed");
  pending_.emplace(offence, core::ToProto(canonical));
  ++per_validator_[offence.validator];
  size_.store(pending_.size(), std::memory_order_relaxed);
  return AddResult::kAdded;
}

std::vector<pb::Evidence> EvidencePool::Pending(size_t max) const {
  std::vector<std::pair<const core::Offence*, const pb::Evidence*>> all;
  all.reserve(pending_.size());
  for (const auto& [offence, evidence] : pending_) all.emplace_back(&offence, &evidence);
  std::stable_sort(all.begin(), all.end(),
                   [](const auto& a, const auto& b) { return a.first->height < b.first->height; });
  std::vector<pb::Evidence> out;
  for (size_t i = 0; i < all.size() && out.size() < max; ++i) out.push_back(*all[i].second);
  return out;
}

void EvidencePool::OnCommitted(const pb::Block& block, uint64_t height) {
  for (const pb::Evidence& ev : block.evidence()) {
    auto decoded = core::FromProto(ev);
    if (decoded.ok()) pending_.erase(core::OffenceOf(*decoded));
  }
  const uint64_t next = height + 1;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (next - std::min(next, it->first.height) > core::limits::kMaxEvidenceAgeHeights) {
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  per_validator_.clear();
  for (const auto& [offence, evidence] : pending_) ++per_validator_[offence.validator];
  size_.store(pending_.size(), std::memory_order_relaxed);
}

}  // namespace hallmark::node
