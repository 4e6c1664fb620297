#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/bytes.h"
#include "core/certificate.h"
#include "core/genesis.h"
#include "core/governance.h"
#include "core/records.h"
#include "core/smt.h"
#include "core/status.h"
#include "proto/chain.pb.h"
#include "proto/records.pb.h"

namespace leveldb {
class Cache;
class DB;
class FilterPolicy;
}  // namespace leveldb

namespace hallmark::storage {

// Decides whether an envelope's signature is acceptable. The default verifies it under the
// acceptance policy; a node passes one that consults its cache of verdicts from admission.
using SignatureCheck =
    std::function<std::optional<core::Rejection>(const pb::Envelope&, const core::Hash256& id)>;
SignatureCheck VerifyEverySignature();

struct LedgerOptions {
  // Synced writes: a block acknowledged as committed survives a power cut. Tests of logic may
  // turn it off for speed; nothing that acknowledges commits to a user may.
  bool sync = true;
  size_t block_cache_bytes = 64 << 20;
  size_t state_tree_cache_nodes = 1 << 18;
  // LevelDB's memtable and table file sizes. Larger than LevelDB's defaults (4 MiB and 2 MiB):
  // a ledger of 10^6 items is about 1 GiB, and fewer, larger level-0 flushes and tables mean
  // less compaction per write (docs/state-sync.md, "Measured").
  size_t write_buffer_bytes = 32 << 20;
  size_t max_file_bytes = 16 << 20;
  // The nice value (0 to 19) of LevelDB's background thread, so that flushes and compactions
  // yield the CPU to consensus and the API: at 0, a memtable flush on a busy machine stalled
  // commits by up to 0.35 s. Under sustained writes LevelDB slows writers itself once flushes
  // fall behind, so the lower priority cannot let them pile up without bound.
  int background_nice = 19;
};

// A record the proposer left out, and why.
struct DroppedRecord {
  size_t index = 0;         // Position among the candidates.
  core::Hash256 record_id;  // Zero when the envelope could not be decoded.
  core::Rejection rejection;
};

// A block whose records have been executed against the head, ready to commit. Holds the
// resulting states and tree writes so that committing repeats no work.
struct PreparedBlock {
  pb::Block block;
  pb::BlockHeader header;
  core::Hash256 hash;
  std::vector<DroppedRecord> dropped;  // Only from BuildBlock.
  // Evidence the proposer left out (invalid, already committed, too old, a second piece about
  // one offence), with the reason; only from BuildBlock.
  std::vector<std::string> dropped_evidence;

  // Private to the ledger: what Commit writes.
  struct ItemWrite {
    core::Hash256 key;
    std::string state_bytes;
    // The listing index: the entries of the state before the block (deleted) and of the new
    // state (added), keys::ListEntry keys.
    std::vector<std::string> index_removed;
    std::vector<std::string> index_added;
  };
  struct HistoryWrite {
    core::Hash256 item_key;
    uint32_t seq = 0;
    core::Hash256 record_id;
  };
  uint64_t base_height = 0;
  std::vector<core::Hash256> record_ids;
  std::vector<ItemWrite> items;
  std::vector<HistoryWrite> history;
  std::vector<core::Offence> offences;  // Of block.evidence, in order.
  core::SmtUpdate tree_update;
  // Governance: the state after the block when its records changed it (else null), and the
  // governance records' (position in the block, record id).
  std::shared_ptr<const core::NetworkState> network_state;
  std::vector<std::pair<uint32_t, core::Hash256>> governance;
  // When the block adds a validator epoch: the encoded proof of the network-state key under the
  // block's state root (keys::NetworkStateProofAt). Empty otherwise.
  std::string network_state_proof;
};

// A piece of evidence a block committed.
struct CommittedEvidence {
  uint64_t height = 0;    // The committing block.
  uint32_t position = 0;  // Its place among that block's evidence.
  pb::Evidence evidence;
};

// The item's state as stored: the exact bytes hashed into the state tree, and their parse.
struct StoredItem {
  std::string bytes;
  pb::ItemState state;
};

// Where a listing page ends: the last item it holds (its updated block time and item key).
// The next page starts strictly after it in the listing's order (newest first).
struct ItemListCursor {
  uint64_t time_ms = 0;
  core::Hash256 item_key;
};

// A listing of items, newest change first (Ledger::ListItems).
struct ItemListQuery {
  std::string brand;                         // Empty: every brand. At most 255 bytes.
  pb::FlagKind flag = pb::FLAG_UNSPECIFIED;  // Set: only items carrying that flag now.
  uint64_t since_ms = 0;                     // Only items whose state changed at or after.
  std::optional<ItemListCursor> after;       // Start after this item; nullopt: the newest.
  size_t limit = 100;                        // REQUIRES: >= 1.
};

struct ListedItem {
  core::Hash256 item_key;
  uint64_t updated_time_ms = 0;  // The time of the block at state.updated_height().
  pb::ItemState state;
};

struct ItemListPage {
  std::vector<ListedItem> items;
  std::optional<ItemListCursor> next;  // Set when more items follow.
  uint64_t height = 0;                 // The committed head the page was read at.
  uint64_t head_time_ms = 0;
};

// The LevelDB-backed ledger: blocks, the record index, item histories, item states, the state
// tree and the chain head. Keys are documented in docs/architecture.md.
//
// One writer: BuildBlock, ValidateBlock, Commit and PutLocal must be called from one thread at a
// time. Reads (head, Get*, Prove*) may run on any thread concurrently with each other and with
// the writer. Each single read is consistent; a read of several keys may straddle a commit.
class Ledger {
 public:
  // Opens or creates the store in `dir` for `network`. Refuses a folder of another network, and
  // reports corruption (a head that does not match its block or state tree) instead of serving it.
  static core::Result<std::unique_ptr<Ledger>> Open(const std::filesystem::path& dir,
                                                    const core::Network& network,
                                                    LedgerOptions options = {});
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // A copy of the head; safe to call from any thread.
  pb::ChainHead head() const {
    std::lock_guard lock(head_mu_);
    return head_;
  }
  // The head with its exact header bytes and its encoded certificate (empty when it was
  // committed without one), read together.
  struct HeadSnapshot {
    pb::ChainHead head;
    std::string header;
    std::string certificate;
  };
  HeadSnapshot head_snapshot() const {
    std::lock_guard lock(head_mu_);
    return HeadSnapshot{head_, head_header_, head_certificate_};
  }
  uint64_t height() const {
    std::lock_guard lock(head_mu_);
    return head_.height();
  }
  const core::Network& network() const { return network_; }

  // The network state (organisations, signing keys, validator epochs also scheduled ones, and
  // pending proposals) after the head block; genesis' until governance acts. Any thread.
  std::shared_ptr<const core::NetworkState> network_state() const {
    std::lock_guard lock(head_mu_);
    return state_;
  }
  // What the custody rules see in the next block: genesis with the organisations and keys in
  // force at head + 1 (core::NetworkState::MembershipAt). Any thread.
  std::shared_ptr<const core::Network> membership() const {
    std::lock_guard lock(head_mu_);
    return membership_;
  }
  // The validator set that certifies block `height`: known for every height up to the head
  // plus the validator-change delay (later heights get the latest set scheduled so far).
  core::ValidatorEpoch ValidatorSetAt(uint64_t height) const {
    return network_state()->ValidatorSetAt(height);
  }
  // The network state as it was after block `height` (0: genesis).
  core::Result<core::NetworkState> NetworkStateAfter(uint64_t height) const;
  // The encoded sparse Merkle proof of the network-state key under the state root of block
  // `height`, stored for each block that added a validator epoch; nullopt for other blocks.
  core::Result<std::optional<std::string>> GetNetworkStateProof(uint64_t height) const;
  // Committed governance records in block order from block `from_height` on, at most `limit`.
  core::Result<std::vector<pb::StoredRecord>> ListGovernance(uint64_t from_height,
                                                             size_t limit) const;

  // The proposer's path: executes candidates in order against the head, drops each record that
  // fails (with its reason), stops at the block limits, and returns a block with its header.
  // It also takes up to limits::kMaxEvidencePerBlock pieces of `evidence`, in order, that pass
  // the checks ValidateBlock makes, before any record (they count against the block's bytes).
  core::Result<PreparedBlock> BuildBlock(std::span<const pb::Envelope> candidates, uint64_t time_ms,
                                         const core::Hash256& proposer,
                                         const SignatureCheck& check = VerifyEverySignature(),
                                         std::span<const pb::Evidence> evidence = {});

  // The follower's path: checks the header and every record; one bad record or root rejects the
  // whole block (InvalidInput naming the record and the rule). Each piece of evidence must pass
  // core::VerifyEvidence against the genesis validators, be about an offence at most
  // limits::kMaxEvidenceAgeHeights below the block (and not above it) that no committed block
  // and no other piece in the block names, at most limits::kMaxEvidencePerBlock pieces, and the
  // header must commit to them (evidence_root, evidence_count).
  core::Result<PreparedBlock> ValidateBlock(const pb::Block& block,
                                            const SignatureCheck& check = VerifyEverySignature());

  // Writes a prepared block, with the encoded commit certificate that made it final (empty in
  // tests without consensus), as one synced batch, and advances the head.
  // REQUIRES: prepared.base_height == head().height() (else returns InvalidInput).
  core::Status Commit(const PreparedBlock& prepared, std::string_view certificate = {});

  // ValidateBlock then Commit.
  core::Status CommitBlock(const pb::Block& block,
                           const SignatureCheck& check = VerifyEverySignature(),
                           std::string_view certificate = {});

  // The encoded certificate stored with the block at `height`; nullopt if none.
  core::Result<std::optional<std::string>> GetCertificate(uint64_t height) const;

  // Node-local values outside the chain (signer state, lock), written with a synced write
  // before the caller goes on. Names are short identifiers.
  core::Status PutLocal(std::string_view name, std::string_view value);
  core::Result<std::optional<std::string>> GetLocal(std::string_view name) const;

  // Evidence of misbehaviour, keyed by its hash; idempotent.
  core::Status PutEvidence(const core::Hash256& id, std::string_view encoded);
  core::Result<std::vector<std::string>> ListEvidence(size_t max) const;

  // Committed evidence (from blocks), newest first: the pieces strictly before (before_height,
  // before_position) in block order, at most `limit`. Pass UINT64_MAX, UINT32_MAX for the newest.
  core::Result<std::vector<CommittedEvidence>> ListCommittedEvidence(uint64_t before_height,
                                                                     uint32_t before_position,
                                                                     size_t limit) const;
  // Committed evidence against one validator, oldest offence first: what governance acts on.
  core::Result<std::vector<CommittedEvidence>> ListEvidenceAgainst(const core::PublicKey& validator,
                                                                   size_t limit) const;
  // Where the evidence of `offence` was committed; nullopt if no block committed any.
  core::Result<std::optional<CommittedEvidence>> FindOffence(const core::Offence& offence) const;
  // Pieces of evidence committed up to the head.
  uint64_t committed_evidence_count() const {
    std::lock_guard lock(head_mu_);
    return head_.evidence_count();
  }

  // Reads. NotFound is a value (nullopt), not an error; errors are local failures.
  core::Result<std::optional<pb::Block>> GetBlock(uint64_t height) const;
  // The header alone (cheaper than GetBlock), and its hash.
  core::Result<std::optional<pb::BlockHeader>> GetHeader(uint64_t height) const;
  // The time of the block at `height` (its header's time_ms), from a cache of the times read
  // before: an item's history needs one per record, and reading a header means reading its whole
  // stored block. A committed header never changes; the cache is emptied when the ledger is
  // loaded again (after a wipe). nullopt for a height with no block stored.
  core::Result<std::optional<uint64_t>> GetBlockTimeMs(uint64_t height) const;
  core::Result<std::optional<uint64_t>> GetBlockHeight(const core::Hash256& hash) const;
  core::Result<std::optional<pb::StoredRecord>> GetRecord(const core::Hash256& record_id) const;
  core::Result<std::optional<StoredItem>> GetItem(const core::Hash256& item_key) const;
  // The item's records from registration to the latest, in order.
  core::Result<std::vector<pb::StoredRecord>> GetHistory(const core::Hash256& item_key) const;
  // The first `record_count` records of the item (its state's record_count): no item read.
  core::Result<std::vector<pb::StoredRecord>> GetHistory(const core::Hash256& item_key,
                                                         uint64_t record_count) const;
  core::Result<core::SmtProof> ProveItem(const core::Hash256& item_key) const;
  core::Hash256 StateRoot() const;

  // Runs `read` (a group of the reads above) until it completes with no commit overlapping it,
  // so that together they see one committed state: a sequence lock that never blocks the
  // writer. A `read` that returns an error ends the attempt with that error. While a commit is
  // in flight it waits (up to 5 s); returns IoError if commits overtook `max_attempts` reads.
  core::Status ReadConsistent(const std::function<core::Status()>& read,
                              int max_attempts = 32) const;

  // Items by brand and/or current flag, newest change first, from one committed state (a
  // LevelDB snapshot). Reads the index (keys::ListEntry) and one state per item: the cost is
  // proportional to the page, not to how many items the brand has. An item that changes while
  // a client pages moves to the front of the listing: later pages neither repeat nor skip the
  // items that did not change.
  core::Result<ItemListPage> ListItems(const ItemListQuery& query) const;

  // Visits every stored item state (key, exact bytes) in key order; for audits and tests.
  core::Status ForEachItem(
      const std::function<void(const core::Hash256&, std::string_view)>& visit) const;

  // Backups: every key and value of the store in key order, read from one LevelDB snapshot
  // (leveldb::DB::GetSnapshot), so that commits go on while it runs and none is seen half.
  // `begin` is called once, after the snapshot is taken and before any entry, with the head
  // height the snapshot holds. An error from a callback ends the scan with that error. Any
  // thread.
  core::Status ScanSnapshot(
      const std::function<core::Status(uint64_t height)>& begin,
      const std::function<core::Status(std::string_view key, std::string_view value)>& visit) const;

  // Pruning and state sync (storage/snapshot.h, docs/state-sync.md).
  // The first height whose whole block this store holds: 1, unless blocks were pruned or the
  // store was installed from a snapshot (then the snapshot's height + 1). Blocks below it are
  // gone except those holding governance records. Any thread.
  uint64_t first_height() const { return first_height_.load(std::memory_order_acquire); }
  // True while a snapshot install is in progress or was interrupted (keys::SyncManifest): the
  // head is then genesis' and means nothing; finish or abort the install (SnapshotInstaller)
  // before anything else uses the ledger.
  bool sync_pending() const { return sync_pending_; }
  // Deletes the blocks (block, hash index, certificate) below `floor`, except blocks holding
  // governance records and the head's block, and moves first_height() up to `floor`. Item
  // states, histories, records and proofs of current items are untouched. Writer thread only.
  // REQUIRES: floor <= head height (else InvalidInput); a floor at or below first_height() does
  // nothing.
  core::Status Prune(uint64_t floor);

 private:
  Ledger(const core::Network& network, LedgerOptions options);
  core::Status Load();
  // Builds the listing index from the item states (a store written before it, or by another
  // version of it), then writes its version marker.
  core::Status RebuildListIndex();
  // A store written before the network-state proofs of validator-change blocks were kept: when
  // it holds such blocks, replays the chain into a temporary store beside `dir` (the tree keeps
  // the latest nodes only, so an old root's proof needs the old tree) and copies their proofs;
  // then writes the version marker.
  core::Status RebuildNetworkStateProofs();
  // The last network state stored at or below `height`; nullopt when governance had not acted.
  core::Result<std::optional<core::NetworkState>> StoredNetworkStateAfter(uint64_t height) const;
  core::Result<PreparedBlock> Execute(const pb::BlockHeader* expected, pb::Block block,
                                      std::span<const pb::Envelope> candidates, uint64_t time_ms,
                                      const core::Hash256& proposer, const SignatureCheck& check,
                                      std::span<const pb::Evidence> evidence);
  // One piece of evidence for a block at `height`: InvalidInput with the reason, or a local
  // failure. Adds its offence to `seen`.
  core::Result<core::Offence> CheckEvidence(const pb::Evidence& evidence, uint64_t height,
                                            std::vector<core::Offence>* seen) const;
  core::Result<std::optional<CommittedEvidence>> ReadCommittedEvidence(std::string_view key) const;

  // Installs `state` as the state after the head (and the membership of the next block).
  // Caller holds head_mu_.
  void SetStateLocked(std::shared_ptr<const core::NetworkState> state);

  const core::Network& network_;
  LedgerOptions options_;
  std::filesystem::path dir_;
  std::unique_ptr<leveldb::Cache> block_cache_;  // Outlive db_ (destroyed after it).
  std::unique_ptr<const leveldb::FilterPolicy> filter_policy_;
  std::unique_ptr<leveldb::DB> db_;
  std::unique_ptr<core::SmtNodeReader> tree_reader_;
  std::unique_ptr<core::SparseMerkleTree> tree_;
  mutable std::mutex head_mu_;
  // GetBlockTimeMs's cache, direct-mapped by height (height 0: an empty slot).
  struct BlockTime {
    uint64_t height = 0;
    uint64_t time_ms = 0;
  };
  static constexpr size_t kBlockTimeSlots = 1 << 16;
  mutable std::mutex block_times_mu_;
  mutable std::vector<BlockTime> block_times_;
  uint64_t block_times_generation_ = 0;  // Counts the loads.
  pb::ChainHead head_;       // Guarded by head_mu_ for readers; written only by the writer thread.
  std::string head_header_;  // Guarded by head_mu_, like head_.
  std::string head_certificate_;                     // Guarded by head_mu_, like head_.
  std::shared_ptr<const core::NetworkState> state_;  // Guarded by head_mu_, like head_.
  std::shared_ptr<const core::Network> membership_;  // Guarded by head_mu_, like head_.
  // Odd while Commit is changing the store, the tree or the head; see ReadConsistent.
  std::atomic<uint64_t> commit_seq_{0};
  std::atomic<uint64_t> first_height_{1};
  bool sync_pending_ = false;   // Written only by Load (the writer thread).
  friend class SnapshotAccess;  // storage/snapshot.cpp: reads one LevelDB snapshot, installs.
};

// A stopped node's store, read without opening it as a ledger (nothing is written, nothing
// migrated): as Ledger::ScanSnapshot. LevelDB's lock keeps a running node's store out: then
// InvalidInput saying the store is in use. NotFound when `dir` holds no store.
core::Status ScanStore(
    const std::filesystem::path& dir, const std::function<core::Status(uint64_t height)>& begin,
    const std::function<core::Status(std::string_view key, std::string_view value)>& visit);

// Restores: writes raw entries into a new store. Thread-compatible; one writer.
class StoreWriter {
 public:
  // REQUIRES: nothing exists at `dir` (else InvalidInput).
  static core::Result<std::unique_ptr<StoreWriter>> Create(const std::filesystem::path& dir);
  ~StoreWriter();
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;
  // Buffered in batches; keys must be distinct.
  core::Status Put(std::string_view key, std::string_view value);
  // Writes what is buffered with a synced write and closes the store.
  core::Status Finish();

 private:
  StoreWriter() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hallmark::storage
