#include "node/mempool.h"

#include <algorithm>

#include "core/crypto/sha256.h"
#include "core/limits.h"

namespace hallmark::node {

using core::Hash256;
using core::Rejection;
using core::RejectReason;

Mempool::Mempool(const core::Network& network, const storage::Ledger* ledger, MempoolLimits limits)
    : network_(network), ledger_(ledger), limits_(limits) {}

Lane Mempool::LaneOf(const core::Record& record) {
  switch (record.type) {
    case core::RecordType::kFlag:
    case core::RecordType::kClearFlag:
      return Lane::kPriority;
    case core::RecordType::kRegister:
    case core::RecordType::kTransfer:
    case core::RecordType::kAttest:
    case core::RecordType::kService:
    case core::RecordType::kDecommission:
    case core::RecordType::kReassign:
      return Lane::kBulk;
  }
  return Lane::kBulk;
}

core::Result<const pb::ItemState*> Mempool::CurrentState(
    const Hash256& item_key, std::optional<pb::ItemState>* scratch) const {
  auto it = pending_.find(item_key);
  if (it != pending_.end()) return &it->second.state;
  auto stored = ledger_->GetItem(item_key);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return nullptr;
  *scratch = std::move((*stored)->state);
  return &**scratch;
}

namespace {
// The commit rate behind the admission limit is taken over at most this many of the last
// commits, within this long of the newest.
constexpr size_t kRateCommits = 16;
constexpr uint64_t kRateWindowMs = 5'000;
}  // namespace

AdmitResult Mempool::Admit(const pb::Envelope& envelope, uint64_t now_ms, Source source) {
  AdmitResult result;
  if (envelope.ByteSizeLong() > core::limits::kMaxEnvelopeBytes) {
    result.rejection =
        Rejection{RejectReason::kLimitExceeded,
                  "envelope is " + std::to_string(envelope.ByteSizeLong()) +
                      " bytes; the limit is " + std::to_string(core::limits::kMaxEnvelopeBytes)};
    return result;
  }
  auto entry = std::make_unique<Entry>();
  entry->envelope = envelope;
  core::GovernanceRecord gov;
  if (core::IsGovernanceEnvelope(entry->envelope)) {
    // Governance records (docs/governance.md) go to the priority lane: they are few, and a key
    // theft is urgent. They form one pending chain, checked in order on the network state.
    if (auto rej = core::DecodeGovernanceRecord(entry->envelope, network_.chain_id(), &gov)) {
      result.rejection = std::move(rej);
      return result;
    }
    entry->governance = true;
    entry->record.id = gov.id;
    entry->record.signer = gov.signer;
    entry->record.item_key = core::NetworkStateLeafKey();
    entry->lane = Lane::kPriority;
  } else {
    if (auto rej = core::DecodeRecord(entry->envelope, network_.chain_id(), &entry->record)) {
      result.rejection = std::move(rej);
      return result;
    }
    entry->lane = LaneOf(entry->record);
  }
  const Hash256 id = entry->record.id;
  result.id = id;
  result.lane = entry->lane;
  entry->bytes = entry->envelope.ByteSizeLong();

  // A resubmitted record that is already in a block is answered as committed. A registration
  // can only be committed if its item is registered, which the state look-up below tells for
  // free; so registrations (most of the traffic) skip this read, a miss in the common case.
  const bool registration = !entry->governance && entry->record.type == core::RecordType::kRegister;
  if (!registration) {
    if (auto h = CommittedHeight(id)) {
      result.kind = AdmitResult::Kind::kCommitted;
      result.height = *h;
      return result;
    }
  }
  const Hash256 verdict_key = VerdictKey(entry->envelope, id);
  bool verified;
  {
    std::lock_guard lock(mu_);
    if (entries_.contains(id)) {
      result.kind = AdmitResult::Kind::kDuplicate;
      return result;
    }
    // Refused before the signature check, so a client above the limit costs little. Flags and
    // governance records are few and urgent: only the hard limits apply to them.
    if (source == Source::kClient && entry->lane == Lane::kBulk &&
        entries_.size() >= AdmissionLimit()) {
      result.kind = AdmitResult::Kind::kBusy;
      return result;
    }
    verified = verified_.contains(verdict_key);
  }
  // The expensive check runs outside the lock, so admissions on several threads overlap.
  if (!verified) {
    if (auto rej = core::CheckRecordSignature(entry->envelope)) {
      std::lock_guard lock(mu_);
      RememberRejection(id, *rej);
      result.rejection = std::move(rej);
      return result;
    }
  }

  std::lock_guard lock(mu_);
  RememberVerified(verdict_key);
  if (entries_.contains(id)) {
    result.kind = AdmitResult::Kind::kDuplicate;
    return result;
  }
  if (entry->governance) {
    if (entries_.size() + 1 > limits_.max_records || bytes_ + entry->bytes > limits_.max_bytes) {
      result.kind = AdmitResult::Kind::kFull;
      return result;
    }
    const uint64_t height = ledger_->height() + 1;
    std::shared_ptr<const core::NetworkState> committed = ledger_->network_state();
    const core::NetworkState& now = gov_state_ ? *gov_state_ : *committed;
    // Point the decoded record at the envelope the entry keeps.
    gov.envelope = &entry->envelope;
    if (auto rej = core::ValidateGovernance(now, gov, height)) {
      RememberRejection(id, *rej);
      result.rejection = std::move(rej);
      return result;
    }
    gov_state_ = core::ApplyGovernance(now, gov, height).state;
    pending_[entry->record.item_key].chain.push_back(id);
  } else {
    std::optional<pb::ItemState> scratch;
    auto cur = CurrentState(entry->record.item_key, &scratch);
    if (!cur.ok()) {
      result.rejection =
          Rejection{RejectReason::kMalformed,
                    "the node could not read the item's state: " + cur.status().ToString()};
      result.kind = AdmitResult::Kind::kFull;  // A local failure: the client may retry.
      return result;
    }
    if (registration && *cur != nullptr) {
      // The item exists: this may be the same registration, already committed.
      if (auto h = CommittedHeight(id)) {
        result.kind = AdmitResult::Kind::kCommitted;
        result.height = *h;
        return result;
      }
    }
    const bool priority_lane = entry->lane == Lane::kPriority;
    const size_t record_cap =
        priority_lane
            ? limits_.max_records
            : static_cast<size_t>(static_cast<double>(limits_.max_records) * limits_.bulk_share);
    const uint64_t byte_cap =
        priority_lane
            ? limits_.max_bytes
            : static_cast<uint64_t>(static_cast<double>(limits_.max_bytes) * limits_.bulk_share);
    if (entries_.size() + 1 > record_cap || bytes_ + entry->bytes > byte_cap) {
      result.kind = AdmitResult::Kind::kFull;
      return result;
    }

    const core::BlockContext ctx{ledger_->height() + 1, now_ms};
    // The organisations and keys in force in the next block.
    std::shared_ptr<const core::Network> members = ledger_->membership();
    std::optional<Rejection> rej =
        core::CheckSignerStanding(*ledger_->network_state(), entry->record.signer, ctx.height);
    if (!rej) rej = core::ValidateRecord(*members, entry->record, *cur, ctx);
    if (rej) {
      RememberRejection(id, *rej);
      result.rejection = std::move(rej);
      return result;
    }
    pb::ItemState next = core::ApplyRecord(*members, entry->record, *cur, ctx);
    PendingItem& item = pending_[entry->record.item_key];
    item.chain.push_back(id);
    item.state = std::move(next);
  }

  const bool priority = entry->lane == Lane::kPriority;
  entry->seq = next_seq_++;
  (priority ? priority_ : bulk_).emplace(entry->seq, id);
  if (priority) ++priority_count_;
  bytes_ += entry->bytes;
  entries_.emplace(id, std::move(entry));
  rejected_.erase(id);
  result.kind = AdmitResult::Kind::kAccepted;
  return result;
}

std::vector<pb::Envelope> Mempool::Take(size_t max_records, uint64_t max_bytes) const {
  std::lock_guard lock(mu_);
  std::vector<pb::Envelope> out;
  std::unordered_set<Hash256> taken;
  uint64_t bytes = 0;
  auto take_with_chain = [&](const Hash256& id) {
    if (taken.contains(id)) return;
    const Entry& e = *entries_.at(id);
    const PendingItem& item = pending_.at(e.record.item_key);
    // The pending records of the item up to this one, oldest first, all or none.
    auto end = std::find(item.chain.begin(), item.chain.end(), id);
    HM_ASSERT(end != item.chain.end());
    std::vector<const Entry*> need;
    uint64_t need_bytes = 0;
    for (auto it = item.chain.begin(); it != end + 1; ++it) {
      if (taken.contains(*it)) continue;
      const Entry* pe = entries_.at(*it).get();
      need.push_back(pe);
      need_bytes += pe->bytes + 8;
    }
    if (out.size() + need.size() > max_records || bytes + need_bytes > max_bytes) return;
    for (const Entry* pe : need) {
      out.push_back(pe->envelope);
      taken.insert(pe->record.id);
    }
    bytes += need_bytes;
  };
  for (const auto& [seq, id] : priority_) {
    if (out.size() >= max_records) break;
    take_with_chain(id);
  }
  for (const auto& [seq, id] : bulk_) {
    if (out.size() >= max_records) break;
    take_with_chain(id);
  }
  return out;
}

void Mempool::Remove(const Hash256& id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  Entry& e = *it->second;
  if (e.lane == Lane::kPriority) {
    priority_.erase(e.seq);
    --priority_count_;
  } else {
    bulk_.erase(e.seq);
  }
  bytes_ -= e.bytes;
  entries_.erase(it);
}

void Mempool::RecheckGovernance() {
  auto pit = pending_.find(core::NetworkStateLeafKey());
  gov_state_.reset();
  if (pit == pending_.end()) return;
  std::vector<Hash256> chain = std::move(pit->second.chain);
  pending_.erase(pit);
  std::shared_ptr<const core::NetworkState> committed = ledger_->network_state();
  const uint64_t height = ledger_->height() + 1;
  for (const Hash256& id : chain) {
    auto eit = entries_.find(id);
    if (eit == entries_.end()) continue;  // Committed in the block.
    const Entry& e = *eit->second;
    core::GovernanceRecord g;
    if (auto rej = core::DecodeGovernanceRecord(e.envelope, network_.chain_id(), &g)) {
      RememberRejection(id, *rej);  // Admitted before: cannot happen, but never keep it.
      Remove(id);
      continue;
    }
    const core::NetworkState& now = gov_state_ ? *gov_state_ : *committed;
    if (auto rej = core::ValidateGovernance(now, g, height)) {
      RememberRejection(
          id, Rejection{rej->reason, "evicted after block " + std::to_string(ledger_->height()) +
                                         ": " + rej->message});
      Remove(id);
      continue;
    }
    gov_state_ = core::ApplyGovernance(now, g, height).state;
    pending_[core::NetworkStateLeafKey()].chain.push_back(id);
  }
}

void Mempool::Recheck(const Hash256& item_key, uint64_t now_ms) {
  if (item_key == core::NetworkStateLeafKey()) return RecheckGovernance();
  auto pit = pending_.find(item_key);
  if (pit == pending_.end()) return;
  std::vector<Hash256> chain = std::move(pit->second.chain);
  pending_.erase(pit);
  std::optional<pb::ItemState> state;
  bool have_state = false;
  const core::BlockContext ctx{ledger_->height() + 1, now_ms};
  std::shared_ptr<const core::Network> members = ledger_->membership();
  std::shared_ptr<const core::NetworkState> network_state = ledger_->network_state();
  for (const Hash256& id : chain) {
    auto eit = entries_.find(id);
    if (eit == entries_.end()) continue;  // Committed in the block.
    const Entry& e = *eit->second;
    if (!have_state) {
      auto stored = ledger_->GetItem(item_key);
      if (stored.ok() && stored->has_value()) state = std::move((*stored)->state);
      have_state = true;
    }
    const pb::ItemState* cur = state ? &*state : nullptr;
    std::optional<Rejection> rej =
        core::CheckSignerStanding(*network_state, e.record.signer, ctx.height);
    if (!rej) rej = core::ValidateRecord(*members, e.record, cur, ctx);
    if (rej) {
      RememberRejection(
          id, Rejection{rej->reason, "evicted after block " + std::to_string(ledger_->height()) +
                                         ": " + rej->message});
      Remove(id);
      continue;
    }
    state = core::ApplyRecord(*members, e.record, cur, ctx);
    PendingItem& item = pending_[item_key];
    item.chain.push_back(id);
    item.state = *state;
  }
}

void Mempool::OnCommitted(const pb::Block& block, uint64_t now_ms) {
  std::lock_guard lock(mu_);
  if (!commits_.empty() && now_ms < commits_.back().first) commits_.clear();  // Clock stepped back.
  commits_.emplace_back(now_ms, static_cast<uint64_t>(block.records_size()));
  while (commits_.size() > kRateCommits ||
         (commits_.size() > 1 && commits_.front().first + kRateWindowMs < now_ms))
    commits_.pop_front();
  std::vector<Hash256> touched;
  core::Record rec;
  bool governance = false;
  for (const pb::Envelope& env : block.records()) {
    Hash256 id = core::RecordIdOf(env);
    auto it = entries_.find(id);
    if (it != entries_.end()) {
      touched.push_back(it->second->record.item_key);
      Remove(id);
    } else if (core::IsGovernanceEnvelope(env)) {
      governance = true;
    } else if (!core::DecodeRecord(env, network_.chain_id(), &rec)) {
      touched.push_back(rec.item_key);
    }
  }
  // A governance change may revoke keys or remove members: every pending record may be
  // affected, so all are re-checked (governance blocks are rare).
  if (governance ||
      std::find(touched.begin(), touched.end(), core::NetworkStateLeafKey()) != touched.end()) {
    for (const auto& [key, item] : pending_) touched.push_back(key);
  } else if (pending_.contains(core::NetworkStateLeafKey())) {
    // Governance records expire by height: after any block, a pending proposal or approval may
    // no longer fit the next one. Without this, it would be offered to every block (and
    // dropped) until some governance block commits.
    touched.push_back(core::NetworkStateLeafKey());
  }
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  for (const Hash256& key : touched) Recheck(key, now_ms);
}

void Mempool::PreVerify(std::span<const pb::Envelope* const> envelopes) {
  std::vector<const pb::Envelope*> todo;
  std::vector<Hash256> keys;
  todo.reserve(envelopes.size());
  keys.reserve(envelopes.size());
  for (const pb::Envelope* env : envelopes) {
    keys.push_back(VerdictKey(*env, core::RecordIdOf(*env)));
  }
  {
    std::lock_guard lock(mu_);
    size_t kept = 0;
    for (size_t i = 0; i < envelopes.size(); ++i) {
      if (verified_.contains(keys[i])) continue;
      todo.push_back(envelopes[i]);
      keys[kept++] = keys[i];
    }
    keys.resize(kept);
  }
  if (todo.empty()) return;
  const std::vector<bool> valid = core::RecordSignaturesValid(todo);
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < todo.size(); ++i) {
    if (valid[i]) RememberVerified(keys[i]);
  }
}

storage::SignatureCheck Mempool::CachedSignatureCheck() {
  return [this](const pb::Envelope& env, const Hash256& id) -> std::optional<Rejection> {
    const Hash256 key = VerdictKey(env, id);
    {
      std::lock_guard lock(mu_);
      if (verified_.contains(key)) return std::nullopt;
    }
    auto rej = core::CheckRecordSignature(env);
    if (!rej) {
      std::lock_guard lock(mu_);
      RememberVerified(key);
    }
    return rej;
  };
}

Mempool::Known Mempool::Lookup(const Hash256& id, Rejection* rejection) const {
  std::lock_guard lock(mu_);
  if (entries_.contains(id)) return Known::kPending;
  auto it = rejected_.find(id);
  if (it != rejected_.end()) {
    if (rejection) *rejection = it->second;
    return Known::kRejected;
  }
  return Known::kUnknown;
}

MempoolStats Mempool::stats() const {
  std::lock_guard lock(mu_);
  MempoolStats s{entries_.size(), bytes_, priority_count_, entries_.size() - priority_count_};
  if (limits_.admission_ms > 0) {
    s.admission_limit = AdmissionLimit();
    s.commit_rate = CommitRate();
  }
  return s;
}

double Mempool::CommitRate() const {
  if (commits_.size() < 2) return 0;
  const uint64_t span_ms = commits_.back().first - commits_.front().first;
  if (span_ms == 0) return 0;
  uint64_t records = 0;
  // The first commit only opens the span: its records were gathered before it.
  for (size_t i = 1; i < commits_.size(); ++i) records += commits_[i].second;
  return static_cast<double>(records) * 1000.0 / static_cast<double>(span_ms);
}

size_t Mempool::AdmissionLimit() const {
  if (limits_.admission_ms == 0) return limits_.max_records;
  const double drawn = CommitRate() * limits_.admission_ms / 1000.0;
  return std::max(limits_.admission_floor, static_cast<size_t>(drawn));
}

std::optional<uint64_t> Mempool::CommittedHeight(const Hash256& id) const {
  auto committed = ledger_->GetRecord(id);
  if (committed.ok() && committed->has_value()) return (*committed)->height();
  return std::nullopt;
}

void Mempool::RememberRejection(const Hash256& id, Rejection rejection) {
  if (rejected_.insert_or_assign(id, std::move(rejection)).second) rejected_order_.push_back(id);
  while (rejected_order_.size() > limits_.remembered_rejections) {
    rejected_.erase(rejected_order_.front());
    rejected_order_.pop_front();
  }
}

Hash256 Mempool::VerdictKey(const pb::Envelope& env, const Hash256& id) {
  // The verdict is about (payload, signer, signature). The record id covers all three
  // (core::RecordIdOf); the key binds signer and signature again so the cache stays sound
  // whatever the id is defined over.
  std::string bytes;
  bytes.reserve(32 + env.signer().size() + env.signature().size() + 8);
  bytes.append(id.view());
  core::PutBigEndian32(&bytes, static_cast<uint32_t>(env.signer().size()));
  bytes.append(env.signer());
  core::PutBigEndian32(&bytes, static_cast<uint32_t>(env.signature().size()));
  bytes.append(env.signature());
  return core::Sha256Of(std::string_view(bytes));
}

void Mempool::RememberVerified(const Hash256& id) {
  if (!verified_.insert(id).second) return;
  verified_order_.push_back(id);
  while (verified_order_.size() > limits_.verdict_cache) {
    verified_.erase(verified_order_.front());
    verified_order_.pop_front();
  }
}

}  // namespace hallmark::node
