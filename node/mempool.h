#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/bytes.h"
#include "core/genesis.h"
#include "core/governance.h"
#include "core/records.h"
#include "proto/records.pb.h"
#include "storage/ledger.h"

namespace hallmark::node {

struct MempoolLimits {
  size_t max_records = 100'000;
  uint64_t max_bytes = 128ull << 20;
  // Bulk records may fill at most this share of the pool, so that a flag always finds room.
  double bulk_share = 0.9;
  size_t verdict_cache = 500'000;  // Envelopes (id, signer, signature) verified.
  size_t remembered_rejections = 100'000;
  // Backlog-aware admission of clients' records: a record from a client is refused (kBusy)
  // while the pool already holds what the network has lately committed in this many
  // milliseconds, and at least `admission_floor` records. Waiting then happens at the client,
  // which retries, and not in the pool: a record in the pool commits within about this long
  // even at saturation. Records from peers and from the saved pool only meet the hard limits
  // above. 0: off.
  uint32_t admission_ms = 0;
  size_t admission_floor = 2'000;
};

// Where a record comes from: a client (the HTTP API) or a peer (gossip, the saved pool).
enum class Source { kClient, kPeer };

// Flags (stolen, lost, counterfeit-suspected, recalled) and their clearing travel in the
// priority lane: bulk registrations cannot starve them.
enum class Lane { kPriority, kBulk };

struct AdmitResult {
  enum class Kind {
    kAccepted,   // New and valid against the latest state plus pending records.
    kDuplicate,  // Already pending.
    kCommitted,  // Already in a committed block.
    kRejected,   // Invalid: see rejection.
    kFull,       // No room; try again later.
    kBusy,       // A client's record above the admission limit; try again shortly.
  };
  Kind kind = Kind::kRejected;
  core::Hash256 id;
  std::optional<core::Rejection> rejection;
  uint64_t height = 0;  // kCommitted: where.
  Lane lane = Lane::kBulk;
};

struct MempoolStats {
  uint64_t records = 0;
  uint64_t bytes = 0;
  uint64_t priority = 0;
  uint64_t bulk = 0;
  // Records a client may find waiting before it is asked to retry (the admission limit), and
  // the commit rate it is drawn from (records/s over the last commits). 0 when admission is off.
  uint64_t admission_limit = 0;
  double commit_rate = 0;
};

// Records waiting for a block. Admission checks the envelope, the signature (once; the verdict
// is cached so a block does not verify the record again) and the custody rules against the
// committed state with the pool's own pending records applied on top, so that a client may
// submit a registration and its transfer back to back. Bounded in records and bytes.
//
// Thread-safe: API threads admit while the consensus strand takes and commits.
class Mempool {
 public:
  // REQUIRES: `network` and `ledger` outlive the pool.
  Mempool(const core::Network& network, const storage::Ledger* ledger, MempoolLimits limits = {});

  // `now_ms` is the node's clock, for the timestamp-skew rule (and the commit rate).
  AdmitResult Admit(const pb::Envelope& envelope, uint64_t now_ms, Source source = Source::kPeer);

  // Records for the next block, at most `max_records` and `max_bytes`: priority lane first,
  // each record preceded by the pending records of its item that it builds on.
  std::vector<pb::Envelope> Take(size_t max_records, uint64_t max_bytes) const;

  // A block was committed: drop its records, re-check the pending records of the items it
  // touched against the new state, and evict those no longer valid (remembering why).
  void OnCommitted(const pb::Block& block, uint64_t now_ms);

  // Checks together (core::RecordSignaturesValid) the signatures of those envelopes not yet in
  // the verdict cache, and caches the ones that pass, so that Admit and the block checks find
  // them verified. Those that fail are left alone: Admit or the block check meets them again and
  // rejects them with the reason. Runs the verification outside the lock; thread-safe.
  void PreVerify(std::span<const pb::Envelope* const> envelopes);

  // The ledger's signature check, consulting the verdict cache first.
  storage::SignatureCheck CachedSignatureCheck();

  // "pending", or the reason a record was rejected or evicted (remembered for a while).
  enum class Known { kUnknown, kPending, kRejected };
  Known Lookup(const core::Hash256& id, core::Rejection* rejection) const;

  MempoolStats stats() const;
  static Lane LaneOf(const core::Record& record);

 private:
  struct Entry {
    pb::Envelope envelope;
    // record.envelope points at `envelope` above. For a governance record only id, signer and
    // item_key (core::NetworkStateLeafKey(): governance records form one pending chain) are set.
    core::Record record;
    bool governance = false;
    Lane lane = Lane::kBulk;
    uint64_t seq = 0;
    uint64_t bytes = 0;
  };
  struct PendingItem {
    std::vector<core::Hash256> chain;  // Pending record ids in order.
    pb::ItemState state;               // The item's state after all of them.
  };

  // The item's state as the next pending record would see it; nullptr if unregistered.
  core::Result<const pb::ItemState*> CurrentState(const core::Hash256& item_key,
                                                  std::optional<pb::ItemState>* scratch) const;
  // The height of the block holding record `id`, if one does.
  std::optional<uint64_t> CommittedHeight(const core::Hash256& id) const;
  void RememberRejection(const core::Hash256& id, core::Rejection rejection);
  // What the verdict cache is keyed by: the record id with the signer and the signature, so a
  // signature verified for one envelope never vouches for another signer of the same payload.
  static core::Hash256 VerdictKey(const pb::Envelope& env, const core::Hash256& id);
  void RememberVerified(const core::Hash256& key);
  void Remove(const core::Hash256& id);
  void Recheck(const core::Hash256& item_key, uint64_t now_ms);
  // Re-checks the pending governance chain against the committed network state.
  void RecheckGovernance();
  // The admission limit for clients' records (see MempoolLimits::admission_ms). REQUIRES: mu_.
  size_t AdmissionLimit() const;
  // Records committed per second over the last commits; 0 before two. REQUIRES: mu_.
  double CommitRate() const;

  const core::Network& network_;
  const storage::Ledger* ledger_;
  MempoolLimits limits_;

  mutable std::mutex mu_;
  uint64_t next_seq_ = 1;
  uint64_t bytes_ = 0;
  uint64_t priority_count_ = 0;
  std::unordered_map<core::Hash256, std::unique_ptr<Entry>> entries_;
  std::map<uint64_t, core::Hash256> priority_;  // seq -> id, arrival order.
  std::map<uint64_t, core::Hash256> bulk_;
  std::unordered_map<core::Hash256, PendingItem> pending_;  // item key -> chain.
  // The network state after the committed state and the pending governance records (whose chain
  // is pending_[NetworkStateLeafKey()]); nullopt when none is pending.
  std::optional<core::NetworkState> gov_state_;

  std::unordered_set<core::Hash256> verified_;
  std::deque<core::Hash256> verified_order_;
  std::unordered_map<core::Hash256, core::Rejection> rejected_;
  std::deque<core::Hash256> rejected_order_;
  // The last commits (time on the node's clock, records in the block), oldest first, for the
  // commit rate behind the admission limit.
  std::deque<std::pair<uint64_t, uint64_t>> commits_;
};

}  // namespace hallmark::node
