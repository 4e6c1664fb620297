#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/genesis.h"
#include "core/governance.h"
#include "core/governance_proof.h"
#include "core/records.h"
#include "proto/proof.pb.h"
#include "proto/records.pb.h"

// The consumer's verifier: checks a proof bundle (proto/proof.proto) against genesis alone.
// The format and every check are specified in docs/proofs.md; this is the reference
// implementation of that document. Pure: no I/O, no clock.
namespace hallmark::core {

// Version 4 (built now): version 3 plus the certified network-state snapshots of the
// governance walk (GovernanceWalk.network_state, GovernanceBlock.network_state and
// network_state_proof), which let a verifier follow the validator sets without replaying the
// governance rules (LightWalkCheck). Version 3 (still read): the governance walk (field 10) and
// each record's block height (field 11), without those fields. Version 2 bundles (a fixed
// validator set) and version 1 (record ids over the payload only) are refused.
inline constexpr uint32_t kProofBundleVersion = 4;
inline constexpr uint32_t kOldestProofBundleVersion = 3;
// Refused before parsing: a bundle larger than this cannot be a real item's.
inline constexpr size_t kMaxProofBundleBytes = 64 * 1024 * 1024;
// An item's history in one bundle; at most kMaxEnvelopeBytes each.
inline constexpr size_t kMaxBundleRecords = 100'000;

// The checks, in the order they run. The verifier reports the first that fails.
enum class ProofCheck {
  kFormat,       // Size, strict parse, version, item id, header encoding, record count.
  kNetwork,      // Chain id and genesis hash against the verifier's genesis.
  kGovernance,   // The walk of certified governance changes to the header's height, and the
                 // certified network state it must rebuild (checked after the certificate).
  kCertificate,  // The header is final: >2/3 of the validator set's power, exact sign-bytes.
  kFreshness,    // The header is not dated ahead of the verifier's clock beyond the allowance.
  kStateProof,   // The item's state leaf, or its absence, under the header's state root.
  kHistory,      // As many records as the proven state counts, each a record of this item.
  kSignature,    // Each record's signature under the Ed25519 acceptance policy.
  kChain,        // The prev links from the registration to the state's latest record.
  kRules,        // Each author's right to each record, replayed to the proven state exactly.
};
std::string_view ProofCheckName(ProofCheck check);  // "certificate", …

struct ProofFailure {
  ProofCheck check;
  std::string message;
};

// One custody step as proven. `author` is the organisation id from genesis, or empty for a
// holder key (then `signer` identifies the holder).
struct CustodyStep {
  Hash256 record_id;
  RecordType type = RecordType::kRegister;
  Hash256 signer;
  std::string author;
  uint64_t timestamp_ms = 0;  // The author's signed clock: when the author made the record.
  pb::RecordPayload payload;
};

// What a bundle that checks out proves.
struct ProvenItem {
  std::string item_id;  // Canonical.
  uint64_t height = 0;  // The certified header's.
  uint64_t header_time_ms = 0;
  Hash256 block_hash;
  Hash256 state_root;
  size_t signers = 0;     // Validators whose precommits certify the header.
  size_t validators = 0;  // In the set that certifies the header's height.
  // The governed network state as of the header (pending proposals excluded), rebuilt by the
  // walk and confirmed against the certified state root: what a trust file may keep.
  std::optional<NetworkState> network_state;
  uint64_t walk_from_height = 0;       // Where the bundle's walk started (0: genesis).
  uint64_t walk_changes = 0;           // Changes the walk applied.
  std::optional<pb::ItemState> state;  // nullopt: never registered.
  std::vector<CustodyStep> steps;

  // Why the item is not clean; empty when it is registered, active and unflagged.
  std::vector<std::string> NotCleanReasons() const;
};

struct ProofVerdict {
  std::optional<ProofFailure> failure;  // Set: the bundle does not check out.
  ProvenItem item;                      // Meaningful only without a failure.
  bool ok() const { return !failure.has_value(); }
};

struct VerifyOptions {
  // When set (any form ParseItemId accepts), the bundle must be about this item.
  std::optional<std::string> expected_item;
  // The verifier's clock (Unix ms). When set, a header dated more than the genesis' clock-skew
  // allowance ahead of it fails the freshness check. How old a header may be is the caller's
  // policy (see ProofAge); the verifier itself stays pure.
  std::optional<uint64_t> now_ms;
  // A state this verifier checked before (its trust file), for a bundle whose walk starts
  // there. Not owned; may be null. A walk from genesis is checked from genesis regardless.
  const TrustedState* trusted = nullptr;
};

// Checks `bundle_bytes` (a serialized ProofBundle, canonical encoding) against `network`.
ProofVerdict VerifyProofBundle(const Network& network, std::string_view bundle_bytes,
                               const VerifyOptions& options);
inline ProofVerdict VerifyProofBundle(
    const Network& network, std::string_view bundle_bytes,
    std::optional<std::string_view> expected_item = std::nullopt) {
  VerifyOptions options;
  if (expected_item) options.expected_item = std::string(*expected_item);
  return VerifyProofBundle(network, bundle_bytes, options);
}

// How old a proven header is at `now_ms`: 0 when it is dated ahead (within the allowance the
// verifier already enforced).
inline uint64_t ProofAgeMs(const ProvenItem& item, uint64_t now_ms) {
  return now_ms > item.header_time_ms ? now_ms - item.header_time_ms : 0;
}

}  // namespace hallmark::core
