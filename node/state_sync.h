#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/crypto/ed25519.h"
#include "core/status.h"
#include "proto/p2p.pb.h"
#include "storage/ledger.h"
#include "storage/snapshot.h"

// State sync (docs/state-sync.md): a node that starts with an empty ledger installs the newest
// snapshot its peers offer instead of replaying every block, then catches up by blocks from the
// snapshot's height. Two halves: StateSyncServer answers peers from the node's SnapshotStore;
// StateSyncClient runs once at start, before the consensus driver.
namespace hallmark::node {

// Sends one message to one peer; false when it could not be queued (not connected, queue full).
using PeerSend = std::function<bool(const core::PublicKey& to, const pb::PeerMessage& message)>;
// The peers connected now.
using PeerList = std::function<std::vector<core::PublicKey>()>;

// Answers SnapshotManifestRequest and SnapshotChunkRequest from the store. Thread-safe: the
// store's reads are, and the server keeps no state.
class StateSyncServer {
 public:
  // REQUIRES: `store` outlives the server (may be null: then it offers no snapshot).
  StateSyncServer(const storage::SnapshotStore* store, PeerSend send);
  // Handles the message if it is a request of state sync; returns whether it was.
  bool OnMessage(const core::PublicKey& from, const pb::PeerMessage& message);

 private:
  const storage::SnapshotStore* store_;
  PeerSend send_;
};

struct StateSyncOptions {
  // How long to wait for peers' manifests, and to wait for one chunk before asking another peer.
  std::chrono::milliseconds manifest_wait{2'000};
  std::chrono::milliseconds chunk_timeout{10'000};
  // How long to look for a snapshot at all before giving up (the node then catches up by
  // blocks from genesis).
  std::chrono::milliseconds give_up_after{60'000};
  // Chunk requests in flight at once, spread over the peers that offer the snapshot.
  size_t parallel_chunks = 4;
  std::function<void(std::string_view)> log;
};

// Fetches and installs a snapshot. Run() blocks its caller (the node's start-up thread) while
// the transport's threads deliver responses through OnMessage.
// Thread-safety: OnMessage from any thread; Run from one thread.
class StateSyncClient {
 public:
  StateSyncClient(storage::Ledger* ledger, PeerSend send, PeerList peers,
                  StateSyncOptions options = {});

  // Installs the newest snapshot a peer offers whose manifest checks from genesis; a peer whose
  // chunk is refused is asked no more, and a snapshot whose state root does not check out is
  // dropped with every peer that offered it. Resumes an install a crash interrupted when a
  // peer still offers that snapshot. Returns the installed height; NotFound when no peer
  // offered a snapshot that could be installed within give_up_after; Internal when
  // `stopping` said so.
  core::Result<uint64_t> Run(const std::function<bool()>& stopping);

  // Takes state-sync responses; returns whether the message was one.
  bool OnMessage(const core::PublicKey& from, const pb::PeerMessage& message);

 private:
  struct Offer {
    pb::SnapshotManifest manifest;
    std::set<core::PublicKey> peers;
  };
  // Asks every peer for its manifest and collects the answers; the best verified offer.
  std::optional<Offer> Discover(const std::function<bool()>& stopping);
  // Fetches every missing chunk into `installer`. False when no peer could supply one.
  bool FetchChunks(storage::SnapshotInstaller* installer, Offer* offer,
                   const std::function<bool()>& stopping);
  void Log(const std::string& line) const;

  storage::Ledger* ledger_;
  PeerSend send_;
  PeerList peers_;
  StateSyncOptions options_;

  std::mutex mu_;
  std::condition_variable cv_;
  // Responses received, in order (guarded by mu_).
  std::deque<std::pair<core::PublicKey, pb::PeerMessage>> inbox_;
  std::set<core::PublicKey> banned_;  // Peers that sent a bad chunk or a bad snapshot.
};

}  // namespace hallmark::node
