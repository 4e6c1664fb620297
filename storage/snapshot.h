#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/genesis.h"
#include "core/governance.h"
#include "core/status.h"
#include "proto/chain.pb.h"
#include "proto/snapshot.pb.h"
#include "storage/ledger.h"

// State snapshots (docs/state-sync.md): what a node needs to serve reads and proofs of current
// items at a committed height, without the blocks before it. A snapshot is a manifest (the
// certified header of its height with what checks it from genesis, and the SHA-256 of each
// chunk) and chunks (item states with their histories; chunk 0 also the chain-wide part).
//
// Taking one reads a LevelDB snapshot of the ledger, so commits go on meanwhile. Installing one
// trusts nothing the peer sent: the manifest is checked from genesis, each chunk against the
// manifest's hash and then field by field, and the install finishes only when the state root
// rebuilt from the chunks equals the certified header's.
namespace hallmark::storage {

inline constexpr uint32_t kSnapshotFormatVersion = 1;
// A chunk closes once it holds this much; an item is never split, so a chunk holding one item
// with a long history may be larger, up to kSnapshotChunkMaxBytes.
inline constexpr size_t kSnapshotChunkTargetBytes = 1 << 20;
// An item's history is at most about 8 MiB of envelopes (core/limits.h); a chunk holds at most
// one such item beyond its target, and stays well under the P2P frame limit (40 MiB).
inline constexpr size_t kSnapshotChunkMaxBytes = 16 << 20;
// 2^18 chunks of 1 MiB: 256 GiB of state. The manifest lists one 32-byte hash per chunk.
inline constexpr uint32_t kSnapshotMaxChunks = 1 << 18;
inline constexpr size_t kSnapshotManifestMaxBytes = 24 << 20;
// Protobuf messages a chunk or manifest may create, counted before parsing.
inline constexpr size_t kSnapshotMaxMessages = 400'000;

// A manifest that checked out against genesis.
struct VerifiedManifest {
  uint64_t height = 0;
  pb::BlockHeader header;
  core::Hash256 block_hash;
  core::Hash256 state_root;
  std::optional<core::NetworkState> governed;  // The governed network state as of the header.
};

// Checks a manifest from genesis alone, as a proof bundle's header is checked
// (core::VerifyProofBundle): format, chain and genesis, chunk list bounds, the governance walk
// from genesis to the header's height, the header's certificate under the validator set of its
// height, and the network-state leaf under its state root. InvalidInput naming what failed.
core::Result<VerifiedManifest> VerifySnapshotManifest(const core::Network& network,
                                                      const pb::SnapshotManifest& manifest);
// Parses (strictly, within the size and message bounds) and checks manifest bytes from a peer.
core::Result<pb::SnapshotManifest> ParseSnapshotManifest(std::string_view bytes);

// Asked between items while a snapshot is taken; true ends the take (a node stopping).
// Called on the taking thread. Empty: never.
using SnapshotStopCheck = std::function<bool()>;

// Writes a snapshot of `ledger` at its head into `dir` (created; must not exist): manifest.pb
// and chunk-NNNNNN.pb. Reads one committed state (a LevelDB snapshot) while commits go on.
// NotFound when nothing is committed yet. Cancelled when `stopping` said so. On any failure
// `dir` is removed again: no partial snapshot is left behind.
core::Result<pb::SnapshotManifest> TakeSnapshot(
    const Ledger& ledger, const std::filesystem::path& dir,
    size_t chunk_target_bytes = kSnapshotChunkTargetBytes,
    const SnapshotStopCheck& stopping = nullptr);

// The snapshots a node keeps: `<root>/<height>/` folders written by TakeSnapshot through a
// temporary folder and a rename, the newest `keep` kept. Thread-safe: Take from one thread at a
// time; the readers from any thread.
class SnapshotStore {
 public:
  explicit SnapshotStore(std::filesystem::path root, size_t keep = 2);

  // Takes a snapshot at the ledger's head (unless one at that height exists), then deletes all
  // but the newest `keep`. Cancelled, with nothing of the take left and the snapshots held
  // before unchanged, when `stopping` said so (see TakeSnapshot).
  core::Result<pb::SnapshotManifest> Take(const Ledger& ledger,
                                          size_t chunk_target_bytes = kSnapshotChunkTargetBytes,
                                          const SnapshotStopCheck& stopping = nullptr);
  // The heights held, ascending.
  std::vector<uint64_t> Heights() const;
  // The newest snapshot's manifest bytes; nullopt when there is none.
  core::Result<std::optional<std::string>> NewestManifest() const;
  // The exact bytes of chunk `index` of the snapshot at `height`; nullopt when not held.
  core::Result<std::optional<std::string>> ReadChunk(uint64_t height, uint32_t index) const;

 private:
  std::filesystem::path root_;
  size_t keep_;
};

// Installs a snapshot into an empty ledger, chunk by chunk in any order. Each chunk is checked
// in full before any byte of it is written, then written in one batch with its own marker, so an
// install interrupted by a crash resumes where it stopped (Begin with the same manifest).
// Single-threaded: the ledger's writer thread; nothing else may use the ledger until Finish or
// Abort returns.
class SnapshotInstaller {
 public:
  // Checks `manifest` (VerifySnapshotManifest) and starts, or resumes, the install. The ledger
  // must be empty (height 0, no item) or hold an interrupted install: of the same manifest it is
  // resumed, of another one it is wiped first. InvalidInput for a bad manifest or a ledger that
  // is not empty; nothing is written then.
  static core::Result<std::unique_ptr<SnapshotInstaller>> Begin(
      Ledger* ledger, const pb::SnapshotManifest& manifest);
  // The manifest of an interrupted install, if the ledger holds one.
  static core::Result<std::optional<pb::SnapshotManifest>> Pending(const Ledger& ledger);

  // Checks chunk `index` against the manifest (size, hash, parse, every item's state, history
  // chain, heights and indexes; the chain-wide part of chunk 0) and writes it. InvalidInput,
  // with nothing written, for an index out of range, a chunk already installed, or any check
  // that fails.
  core::Status AddChunk(uint32_t index, std::string_view bytes);

  bool HasChunk(uint32_t index) const { return received_.contains(index); }
  std::vector<uint32_t> MissingChunks() const;
  bool complete() const { return received_.size() == chunk_count_; }
  const VerifiedManifest& manifest() const { return verified_; }

  // Rebuilds the state tree from the installed item states and the network state, and refuses
  // (InvalidInput; the head stays unwritten) unless its root equals the certified header's.
  // Then writes the head at the snapshot's height, the header and its certificate, the first
  // height (snapshot height + 1), and removes the install markers, in one synced batch.
  // REQUIRES: complete() (else InvalidInput). Cancelled, between batches of the tree, when
  // `stopping` says so: like a crash there, the install stays resumable and a later Finish
  // rebuilds the tree.
  core::Status Finish(const SnapshotStopCheck& stopping = nullptr);

  // Removes everything the install wrote and leaves an empty ledger.
  core::Status Abort();

 private:
  SnapshotInstaller(Ledger* ledger, VerifiedManifest verified, pb::SnapshotManifest manifest);

  Ledger* ledger_;
  VerifiedManifest verified_;
  pb::SnapshotManifest manifest_;
  uint32_t chunk_count_ = 0;
  std::set<uint32_t> received_;
};

// Deletes every chain entry of the store (keeping node-local values), and opens it as new.
// Used to restart an install cleanly. Writer thread only, nothing else using the ledger.
core::Status WipeLedger(Ledger* ledger);

}  // namespace hallmark::storage
