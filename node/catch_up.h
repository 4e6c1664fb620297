#pragma once

// Catching up on committed blocks: which ranges to ask which peers for (FetchPlanner, pure), and
// the record signatures of fetched blocks verified on worker threads (RecordVerifier), so that a
// node far behind keeps several requests in flight and spreads the Ed25519 checks over its cores
// while its strand commits. Every record of a fetched block is still verified under the
// acceptance policy on this node (docs/signatures.md); only where and when changes.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "core/bytes.h"
#include "core/crypto/ed25519.h"
#include "proto/chain.pb.h"
#include "storage/ledger.h"

namespace hallmark::node {

struct FetchPlannerLimits {
  uint32_t max_blocks_per_request = 32;  // A peer serves at most 64 (and 16 MiB) at once.
  uint32_t max_in_flight = 4;            // Requests outstanding, at most one per peer.
  uint64_t max_ahead = 512;              // Never ask beyond head + this (bounds the buffer).
  uint64_t timeout_ms = 15'000;          // Unanswered this long: ask another peer.
};

// Plans block requests for a node that is behind: ranges of at most max_blocks_per_request
// heights above the committed head, at most one outstanding per peer and max_in_flight in all,
// each to a peer that announced the range's last height. A response that delivers less than was
// asked (the peer's byte limit, or a peer that lost the blocks) leaves a hole that the next plan
// asks for first; so does a request unanswered for timeout_ms. A peer that pruned the blocks
// below some height is not asked for a range starting below it. Pure: time comes in as an
// argument. Not thread-safe (the driver uses it on its strand).
class FetchPlanner {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Request {
    uint64_t from = 0;
    uint64_t to = 0;  // Inclusive.
    core::PublicKey peer;
  };

  explicit FetchPlanner(FetchPlannerLimits limits = {}) : limits_(limits) {}

  // The requests to send now for heights up to `target` (what peers or certificates proved is
  // committed; holes above it wait), given the committed head and the heights peers announced.
  std::vector<Request> Plan(uint64_t head, uint64_t target,
                            const std::map<core::PublicKey, uint64_t>& peer_heights, TimePoint now);
  // `peer` answered: it delivered heights [first, last] (last < first: none). Frees its slot;
  // what it was asked for and did not deliver becomes a hole.
  void OnResponse(const core::PublicKey& peer, uint64_t first, uint64_t last);
  // Forget a block that was delivered but failed its checks: ask for `height` again.
  void Retry(uint64_t height);
  // `peer` said the first block it holds is `first_height` (1 when it pruned none; a pruned peer
  // answers a request below it with no blocks and that height). Ranges starting below it are
  // not asked of it again until it says otherwise.
  void OnPeerFirstHeight(const core::PublicKey& peer, uint64_t first_height);
  size_t in_flight() const { return in_flight_.size(); }

 private:
  struct InFlight {
    uint64_t from = 0;
    uint64_t to = 0;
    TimePoint sent;
  };
  void AddHole(uint64_t from, uint64_t to);

  FetchPlannerLimits limits_;
  std::map<core::PublicKey, InFlight> in_flight_;
  std::map<uint64_t, uint64_t> holes_;  // from -> to, disjoint.
  // The first height each peer holds, when above 1 (pruned peers; OnPeerFirstHeight). Bounded by
  // the peers the transport admits: an entry per peer, replaced on each of its answers.
  std::map<core::PublicKey, uint64_t> first_heights_;
  uint64_t frontier_ = 0;  // Highest height asked for outside the holes.
  size_t cursor_ = 0;      // Round-robin over peers.
};

// The record ids of a block whose signatures verified (core::CheckRecordSignature); the id
// (core::RecordIdOf) binds payload, signer and signature, so it names exactly what was checked.
struct VerifiedRecords {
  std::unordered_set<core::Hash256> ids;
};

// A signature check for the ledger that accepts the records in `verified` and verifies any other
// itself (so a record missing from the set, or one that failed, gets the policy's verdict).
storage::SignatureCheck VerifiedOrCheck(std::shared_ptr<const VerifiedRecords> verified);

// Verifies the record signatures of blocks on worker threads, started on first use. Verify
// splits a block into chunks that any idle worker takes; the worker that finishes the last chunk
// calls `done` with the block's verified ids. Thread-safe. The destructor waits for running
// chunks and drops queued ones (their `done` is never called).
class RecordVerifier {
 public:
  // `threads` 0: one per core (at most 8).
  explicit RecordVerifier(unsigned threads = 0);
  ~RecordVerifier();
  RecordVerifier(const RecordVerifier&) = delete;
  RecordVerifier& operator=(const RecordVerifier&) = delete;

  using Done = std::function<void(std::shared_ptr<const VerifiedRecords>)>;
  // Lowest `height` first: blocks are committed in height order, so a block above the next one
  // the strand needs must not take the workers from it (responses arrive in any order).
  void Verify(std::shared_ptr<const pb::Block> block, uint64_t height, Done done);

 private:
  struct Batch;
  struct Chunk {
    std::shared_ptr<Batch> batch;
    uint64_t height = 0;
    size_t begin = 0;
    size_t end = 0;
  };
  void Work();

  unsigned threads_ = 1;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Chunk> queue_;  // Guarded by mu_.
  bool stop_ = false;        // Guarded by mu_.
  std::vector<std::thread> workers_;
};

}  // namespace hallmark::node
