#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/certificate.h"
#include "core/governance.h"
#include "core/limits.h"
#include "proto/chain.pb.h"
#include "storage/ledger.h"

namespace hallmark::node {

// Evidence of equivocation waiting for a block: what this node's engine reported and what peers
// gossiped, each piece checked (core::VerifyEvidence against the validator set of the offence's
// height, from the network state; genesis' set when none is given; not yet
// committed, within the age window) before it is kept, so that only checked evidence is passed
// on. One piece per offence (validator, height, round, kind). Bounded: at most `max_pieces` in
// all and limits::kMaxPendingEvidencePerValidator about one validator; when full, new pieces are
// refused (the evidence already held is as good as any, and a validator that keeps equivocating
// cannot push out evidence about others).
//
// Thread-safety: Add, Pending and OnCommitted are called from one thread (the consensus
// driver's strand); size() may be read from any thread.
class EvidencePool {
 public:
  enum class AddResult : uint8_t {
    kAdded,      // New: keep it and pass it on.
    kKnown,      // This offence is already pending.
    kCommitted,  // A block already committed evidence of this offence.
    kTooOld,     // Older than the age window, or from a height above the next block.
    kInvalid,    // Does not verify.
    kFull,       // The pool, or this validator's share of it, is full.
  };
  static std::string_view AddResultName(AddResult result);

  // The network state after the head block (the ledger's), whose validator epochs give the set
  // of each offence's height. Called from the pool's thread.
  using StateSource = std::function<std::shared_ptr<const core::NetworkState>()>;
  // REQUIRES: `ledger` outlives the pool. Without `state`, offences are checked against the
  // genesis validators.
  EvidencePool(const core::Network& network, const storage::Ledger* ledger,
               size_t max_pieces = core::limits::kMaxPendingEvidence, StateSource state = {});

  // Checks and keeps a piece (any order of its two messages; it is stored canonically).
  // `why` receives the reason when it is not added. Local read failures count as kInvalid and
  // are logged.
  AddResult Add(const core::Evidence& evidence, std::string* why = nullptr);
  // Up to `max` pending pieces, oldest offence first, for the next block.
  std::vector<pb::Evidence> Pending(size_t max) const;
  // A block was committed: drop the pieces it carried (and any others about the same offences)
  // and those that fell out of the age window.
  void OnCommitted(const pb::Block& block, uint64_t height);

  size_t size() const { return size_.load(std::memory_order_relaxed); }

 private:
  const core::Network& network_;
  core::ValidatorSet validators_;  // Genesis', when there is no state_.
  const StateSource state_;
  const storage::Ledger* ledger_;
  const size_t max_pieces_;
  std::map<core::Offence, pb::Evidence> pending_;  // Ordered by validator, then height.
  std::map<core::PublicKey, size_t> per_validator_;
  std::atomic<size_t> size_{0};
};

}  // namespace hallmark::node
