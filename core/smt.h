#pragma once

// The authenticated state: a binary sparse Merkle tree over 256-bit keys, in the style of the
// Jellyfish Merkle Tree. docs/state-tree.md describes it in full; the short version:
//
// Keys are SHA-256(canonical item id), computed by the caller. The tree holds, per key, the
// SHA-256 of the item's stored state bytes (its "value hash"); the bytes live elsewhere.
//
// Hashes (SHA-256, "||" is concatenation, tags are ASCII without a terminator):
//   leaf(key, value_hash) = SHA-256("hallmark/smt/leaf" || key || value_hash)
//   inner(left, right)    = SHA-256("hallmark/smt/node" || left || right)
//   EMPTY                 = SHA-256("hallmark/smt/empty")
// The hash of the subtree at depth d (the keys sharing d leading bits) holding the set S is
//   EMPTY                                 if S is empty,
//   leaf(k, v)                            if S = {(k, v)}   (a one-key subtree collapses),
//   inner(hash(S with bit d = 0), hash(S with bit d = 1))   otherwise.
// The root is the hash at depth 0, so it depends only on the set of pairs. Bit 0 is the most
// significant bit of key byte 0. A proof has about log2(n) siblings and never more than 256.
//
// Storage groups four binary levels into one stored node of 16 children ("nibble" nodes at
// depths 0, 4, 8, ...); the grouping does not change any hash. Nodes are stored by path, latest
// version only, through the SmtNodeReader interface below; LevelDB stays in storage/.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"

namespace hallmark::core {

Hash256 SmtLeafHash(const Hash256& key, const Hash256& value_hash);
Hash256 SmtInnerHash(const Hash256& left, const Hash256& right);
const Hash256& SmtEmptyHash();

// Bounds that hold for every valid proof: a proof lists at most one sibling per key bit.
inline constexpr size_t kSmtMaxSiblings = 256;
// Header (4) + a leaf (64) + the "empty sibling" bitmap (32) + 256 siblings.
inline constexpr size_t kSmtMaxProofBytes = 4 + 64 + 32 + kSmtMaxSiblings * 32;

struct SmtLeaf {
  Hash256 key;
  Hash256 value_hash;
  bool operator==(const SmtLeaf&) const = default;
};

// A proof that a key is in the tree with a value hash, or absent. `leaf` is the one-key subtree
// the key's path ends in (the key itself, or another key proving absence); none when the path
// ends in an empty subtree. Siblings are listed from the bottom up.
struct SmtProof {
  std::optional<SmtLeaf> leaf;
  std::vector<Hash256> siblings;
  bool operator==(const SmtProof&) const = default;
};

// The verifier. value_hash set: "key is present with this value hash"; nullopt: "key is
// absent". True iff the proof shows exactly that against `root`, which must be the state root
// of a certified header.
bool VerifySmtProof(const Hash256& root, const Hash256& key,
                    const std::optional<Hash256>& value_hash, const SmtProof& proof);

// Compact, canonical binary form of a proof (layout in docs/state-tree.md): a 4-byte header,
// the leaf if any, a bitmap marking EMPTY siblings, and the other siblings. At most
// kSmtMaxProofBytes.
std::string EncodeSmtProof(const SmtProof& proof);
// Strict inverse of EncodeSmtProof: InvalidInput on any byte string it would not produce
// (wrong length, unknown version or flags, over 256 siblings, an EMPTY sibling written out,
// stray bitmap bits). Safe on hostile input.
Result<SmtProof> DecodeSmtProof(std::string_view bytes);

// Where the tree's stored nodes come from. Implementations must be safe to call from several
// threads at once (LevelDB's Get is).
class SmtNodeReader {
 public:
  virtual ~SmtNodeReader() = default;
  // The stored bytes of the node at `node_key`; nullopt if there is none; an error status only
  // for a local failure.
  virtual Result<std::optional<std::string>> GetNode(std::string_view node_key) const = 0;
};

struct SmtNode;  // A decoded stored node; private to smt.cpp.

// A counted reference to an immutable SmtNode (one allocation holds the count, the node and its
// hashes). Private to SparseMerkleTree; thread-safe like std::shared_ptr.
class SmtNodeRef {
 public:
  SmtNodeRef() = default;
  SmtNodeRef(const SmtNodeRef& other);
  SmtNodeRef(SmtNodeRef&& other) noexcept : p_(other.p_) { other.p_ = nullptr; }
  SmtNodeRef& operator=(SmtNodeRef other) noexcept {
    std::swap(p_, other.p_);
    return *this;
  }
  ~SmtNodeRef();

  const SmtNode* get() const { return p_; }
  const SmtNode* operator->() const { return p_; }
  const SmtNode& operator*() const { return *p_; }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  friend struct SmtNode;
  explicit SmtNodeRef(SmtNode* adopt) : p_(adopt) {}
  SmtNode* p_ = nullptr;
};

// The outcome of SparseMerkleTree::PrepareUpdate: the new root and the nodes the caller must
// put in its own atomic write batch. Only puts: with keys never deleted, no node ever goes away.
struct SmtUpdate {
  Hash256 root;  // The root after the update.

  size_t write_count() const { return node_keys.size(); }
  // Calls put(node key, encoded node) for each node to store. The bytes are encoded during the
  // call into one reused buffer (an update holds decoded nodes only), so copy them if needed.
  void ForEachWrite(
      const std::function<void(std::string_view node_key, std::string_view bytes)>& put) const;

  // Private to SparseMerkleTree: the changed nodes, which Commit adopts into its cache.
  uint64_t base_epoch = 0;
  std::vector<std::string> node_keys;
  std::vector<SmtNodeRef> nodes;  // Parallel to node_keys.
  SmtNodeRef root_node;
};

// The sparse Merkle tree over a node store, with a bounded cache of decoded nodes (CLOCK
// eviction; each node keeps its inner binary hashes, so proofs and updates rehash only what
// changed).
//
// Updates are two-phase so that a failed disk write never leaves the cache ahead of the disk:
// PrepareUpdate computes the new root and node writes without changing anything; the caller
// writes them (with whatever else its block changes) in one batch and, only if that succeeded,
// calls Commit.
//
// Thread-safety: all methods may be called from several threads, with one writer: the
// PrepareUpdate -> write -> Commit sequence must not run twice at once. Reads (root, Prove,
// GetValueHash) may run during the writer's disk write: every step from a node to its child is
// checked against the hash the parent holds, and a read that meets a mix of old and new nodes
// waits for Commit and starts again, so a read always answers from one committed root. If the
// mix persists (the disk really disagrees with the tree) it reports Corruption. PrepareUpdate
// may share a large batch out among threads of its own (std::jthread), which read nodes through
// the reader at the same time and have all ended when it returns.
class SparseMerkleTree {
 public:
  static constexpr size_t kDefaultCacheNodes = size_t{1} << 16;
  // How long a read that met nodes of two versions waits for the Commit that explains them
  // before it reports Corruption. The writer calls Commit right after its write returns.
  static constexpr std::chrono::milliseconds kDefaultCommitWait{2000};

  // Reads the root node at once; status() reports the outcome. A cached node takes about
  // 0.4-1.5 KiB with its inner hashes, so the default cache stays under 100 MiB.
  // prepare_threads: how many threads PrepareUpdate may use for a batch of 64 keys or more,
  // each preparing whole subtrees of the root; 0 means one per hardware thread (at most 16), 1
  // the calling thread only. The result never depends on it.
  // REQUIRES: `reader` outlives the tree; cache_nodes > 0.
  explicit SparseMerkleTree(SmtNodeReader* reader, size_t cache_nodes = kDefaultCacheNodes,
                            std::chrono::milliseconds commit_wait = kDefaultCommitWait,
                            size_t prepare_threads = 0);
  ~SparseMerkleTree();
  SparseMerkleTree(const SparseMerkleTree&) = delete;
  SparseMerkleTree& operator=(const SparseMerkleTree&) = delete;

  // Whether the root node loaded. When not ok (IoError, Corruption), root() is all zeroes and
  // every fallible method returns this status; check it once after construction.
  Status status() const { return load_status_; }

  // The root of the committed tree: SmtEmptyHash() when it holds no key.
  Hash256 root() const;

  // Phase 1 of an update: applies (key, value_hash) pairs, in any order (a key given twice: the
  // last wins), to the committed tree. Changes nothing; the result is the new root and node
  // writes. Errors are local failures (IoError, Corruption) while reading nodes.
  Result<SmtUpdate> PrepareUpdate(std::span<const std::pair<Hash256, Hash256>> updates) const;

  // Phase 2: adopts `update` after the caller has durably written its nodes.
  // REQUIRES: `update` came from PrepareUpdate on this tree, and no other update was committed
  // since (asserted).
  void Commit(const SmtUpdate& update);

  // A proof of the key's value hash in the committed tree, or of its absence.
  Result<SmtProof> Prove(const Hash256& key) const;

  // A proof of the key's value hash (or absence) in the tree as `update` leaves it, before it
  // is committed: under update.root. Lets the writer store a proof at a root the tree will not
  // keep (nodes are stored latest version only).
  // REQUIRES: `update` came from PrepareUpdate on this tree, and no other update was committed
  // since.
  Result<SmtProof> ProveAfter(const SmtUpdate& update, const Hash256& key) const;

  // The key's value hash in the committed tree; nullopt if absent.
  Result<std::optional<Hash256>> GetValueHash(const Hash256& key) const;

  // Cache statistics, for benchmarks and metrics.
  struct CacheStats {
    uint64_t hits = 0;
    uint64_t misses = 0;
    size_t nodes = 0;
  };
  CacheStats cache_stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  Status load_status_;
};

}  // namespace hallmark::core
