#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/genesis.h"
#include "core/governance.h"
#include "core/status.h"
#include "proto/chain.pb.h"
#include "proto/proof.pb.h"

// The governance walk of a proof bundle (proto/proof.proto field 10, docs/proofs.md "The
// governance walk"): how a verifier holding genesis alone, or a state it checked before, gets to
// the validator set and the membership of the bundle's header height. Both halves are here: the
// verifier (pure, for the consumer's CLI) and the assembler (pure, fed by the ledger's reads in
// storage/proof_bundle.cpp, or by a test's hand-built chain).
namespace hallmark::core {

// Bounds on a walk, checked before any signature. A network with more changes than this since a
// verifier's trusted height needs a trust file, or a verifier that keeps up more often.
inline constexpr size_t kMaxWalkBlocks = 4'096;
inline constexpr size_t kMaxWalkRecords = 16'384;
// Protobuf messages a walk may create (records and their envelopes, blocks, certificates and
// their signatures), counted before the bundle is parsed.
inline constexpr size_t kMaxWalkMessages = 2 * kMaxWalkRecords + 2 * kMaxWalkBlocks + 65'536;

// A state the verifier checked before: the governed state (no pending proposals) as of a
// certified header at `height`. Value type.
struct TrustedState {
  uint64_t height = 0;
  NetworkState state;
};

// What a walk that checks out gives: the governed state as of the last walk block (apply
// nothing else to it), and how much it took.
struct WalkResult {
  NetworkState state;
  uint64_t blocks = 0;
  uint64_t records = 0;
  uint64_t changes = 0;  // Changes completed by the walk's records.
};

// Replays `walk` block by block from genesis (walk.from_height() == 0) or from `trusted`
// (walk.from_height() == trusted->height), up to `header_height`: each header in the walk-header
// form (no chain id; no parent id when the walk block before is the parent), its exact bytes
// rebuilt, increasing height (at most header_height; a block at header_height must rebuild
// `header_bytes`), its certificate against ValidatorSetAt(height) of the state so far, or its
// place in a run of at most validator_change_delay_heights - 1 uncertified consecutive blocks a
// later certificate covers, each record's place in the block (its audit path, or the records root
// rebuilt when the walk block holds all of its block's records), decoding and signature, and the
// governance rules at that height. Does not check the final header's certificate nor the
// network-state leaf (see CheckNetworkStateLeaf). On failure: InvalidInput naming the block and
// record.
// `snapshots` (bundle version 4): every walk block that completes a validator-set change (adds a
// validator epoch) must carry its own certificate and the governed state after it
// (network_state, exactly the replayed state's GovernedBytes()) with its proof under the block's
// state root; no other block may carry either field. Without it (version 3) no block nor the walk
// may carry them.
Result<WalkResult> VerifyGovernanceWalk(const Network& network, const pb::GovernanceWalk& walk,
                                        uint64_t header_height, std::string_view header_bytes,
                                        const TrustedState* trusted, bool snapshots);

// Checks the walk's network-state proof under the certified `state_root`: present with
// state.GovernedHash(), or absent when `state` equals genesis' governed state (no governance
// record was ever committed). InvalidInput when it does not show that: a change withheld from
// the walk, or a state leaf for another state.
Status CheckNetworkStateLeaf(const Network& network, const NetworkState& state,
                             const Hash256& state_root, std::string_view proof_bytes);

// Version 4: the walk's network_state must be exactly `state.GovernedBytes()` (the state the
// replay rebuilt; CheckNetworkStateLeaf proves its hash), or empty when the walk's
// network_state_proof shows the leaf absent under `state_root`. InvalidInput otherwise.
Status CheckWalkNetworkState(const NetworkState& state, const Hash256& state_root,
                             const pb::GovernanceWalk& walk);

// The non-replaying verification of a version 4 walk from genesis (docs/proofs.md, "Following
// the validator sets without the rules"), the reference for the browser's verifier
// (core/web/verifier.js): reads the validator sets from the walk's network_state, checks that
// its first epoch is genesis' set, and that for every later epoch E (from height e) the walk
// holds the block at e - validator_change_delay_heights with a certificate by the set in force
// there (the epochs before E) and a snapshot that proves under that block's state root and holds
// exactly the epochs up to E. Then the header's `certificate` by the set of its height, and the
// walk's network_state_proof proving SHA-256(network_state) (or the leaf's absence with an
// empty network_state) under the header's state root. Trusts the certificates only: it does not
// replay the walk's records, so it does not see changes a dishonest supermajority certified
// against the rules, which VerifyGovernanceWalk refuses. `final_state` (may be null) gets the
// network state read. InvalidInput on failure. `hallmark verify` replays (VerifyProofBundle).
Status LightWalkCheck(const Network& network, const pb::GovernanceWalk& walk,
                      std::string_view header_bytes, const pb::CommitCertificate& certificate,
                      NetworkState* final_state = nullptr);

// --- Assembling a walk (the node's side) ---

// A committed governance record as the ledger lists it.
struct CommittedGovernanceRecord {
  pb::Envelope envelope;
  uint64_t height = 0;
  uint32_t position = 0;  // Its index among the block's records.
};

// What the walk needs of a committed block.
struct WalkBlockSource {
  std::string header;  // Exact header bytes.
  pb::CommitCertificate certificate;
  std::vector<Hash256> record_ids;  // In block order.
  // Version 4, for a block that completes a validator-set change: the encoded sparse Merkle
  // proof of the network-state key under this header's state root (the ledger stores it at
  // commit time). Empty otherwise.
  std::string network_state_proof;
};
using WalkBlockReader = std::function<Result<WalkBlockSource>(uint64_t height)>;

// Builds the walk for a header at `head_height`: replays `committed` (every governance record
// committed up to head_height, in block order) from genesis to find which changes completed,
// and takes every record (proposal, approvals up to the completing one) of each change completed
// in a block in (since_height, head_height], grouped by block, in the encoding the verifier reads
// (docs/proofs.md: walk headers, certificates left out where a later block certifies, no audit
// paths for a whole block). When since_height >= head_height
// the walk starts at genesis (the client trusts a height this node has not reached). The
// network-state proof is left for the caller. `snapshots` (version 4): the walk's
// network_state (the governed state at head_height; empty while no governance record was
// committed) and, on each block that completes a validator-set change, its network_state, its
// proof (from the reader) and its own certificate. Corruption when a committed record does not
// decode or apply, a block disagrees with where a record is said to be, or the reader has no
// network-state proof for a block that needs one.
Result<pb::GovernanceWalk> AssembleGovernanceWalk(
    const Network& network, std::span<const CommittedGovernanceRecord> committed,
    uint64_t since_height, uint64_t head_height, const WalkBlockReader& read_block,
    bool snapshots = true);

}  // namespace hallmark::core
