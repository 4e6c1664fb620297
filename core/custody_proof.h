#pragma once

// Custody proofs: the clone catcher. A counterfeiter can copy an item's serial onto a fake tag,
// but cannot sign as the item's custodian. At listing time a marketplace gives the seller a
// challenge (any short text: a listing id, a nonce); the seller signs a statement naming the
// network, the item, the challenge and the time with the custodian's key; the marketplace asks
// a node whether the signer is the item's custodian now (POST /v1/items:check, docs/api.md).
//
// Sign-bytes (integers big-endian; docs/signatures.md has the same layout and why):
//   "hallmark/custody-proof/v1" || u8 len(chain_id) || chain_id || u8 len(item_id) || item_id
//   || u16 len(challenge) || challenge || u64 time_ms || signer (32 bytes)
// The domain tag keeps a custody proof from passing as a record (whose signed bytes are a
// RecordPayload, and a RecordPayload starting with these bytes fails its strict decoding), a
// vote, a proposal or a p2p hello (their tags differ from this one at byte 9, and no tag is a
// prefix of another), and vice versa. The lengths make the layout unambiguous.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/crypto/ed25519.h"
#include "core/genesis.h"
#include "core/governance.h"
#include "core/item_id.h"
#include "core/limits.h"
#include "core/status.h"
#include "proto/custody.pb.h"
#include "proto/records.pb.h"

namespace hallmark::core {

inline constexpr std::string_view kCustodyProofDomain = "hallmark/custody-proof/v1";

// What a check concluded. Every verdict but kCustodian means the proof does not show the signer
// holds the item now. After kMalformed and kBadSignature, the others speak of a statement the
// signer really signed.
enum class CustodyVerdict {
  kCustodian,       // Signed by the item's current custodian, for this item and challenge.
  kNotCustodian,    // A good proof, but the signer is not the custodian (or the item is not
                    // registered, or the signer's key was revoked).
  kBadSignature,    // The signature fails the Ed25519 acceptance policy (core/crypto/ed25519.h).
  kWrongItem,       // Signed for another item.
  kWrongChallenge,  // Signed for another challenge (a replayed proof), or no valid challenge to
                    // check against.
  kStale,           // Older than the age limit.
  kFromFuture,      // Dated further ahead of the checker's clock than the skew allowance.
  kWrongChain,      // Signed for another network.
  kMalformed,       // Missing or ill-sized fields, a non-canonical item id, a bad challenge.
};
// "custodian", "not_custodian", "bad_signature", "wrong_item", "wrong_challenge", "stale",
// "from_future", "wrong_chain", "malformed": stable, in the API.
std::string_view CustodyVerdictName(CustodyVerdict verdict);

struct CustodyCheck {
  CustodyVerdict verdict = CustodyVerdict::kMalformed;
  std::string message;              // A sentence for people.
  std::string signer;               // The proof's signer in hex, when it is 32 bytes.
  std::string signer_organization;  // When the signer is a valid key of a member organisation.
};

// What the checker expects: its network, the item on the listing, the challenge it gave, and
// its clock. Views must outlive the call.
struct CustodyExpectation {
  std::string_view chain_id;
  std::string_view item_id;    // Canonical (ItemId::Canonical()).
  std::string_view challenge;  // Compared byte for byte.
  uint64_t now_ms = 0;
  uint64_t max_age_ms = limits::kCustodyProofMaxAgeMsDefault;
  uint64_t future_skew_ms = limits::kCustodyProofFutureSkewMsMax;
};

// The ledger as of the check: the item's state and who may sign for whom at `height` (the node
// uses head + 1, what the custody rules apply to the next record, as storage::Ledger's
// membership() does). Pointers must outlive the call.
struct CustodyLedgerView {
  const pb::ItemState* state = nullptr;  // nullptr: the item was never registered.
  const Network* membership = nullptr;   // NetworkState::MembershipAt(genesis, height).
  const NetworkState* network_state = nullptr;
  uint64_t height = 0;
};

// Ok if `challenge` may be signed: 1 to kMaxCustodyChallengeBytes bytes of well-formed UTF-8
// (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
Status ValidateCustodyChallenge(std::string_view challenge);

// The bytes a custody proof's signature covers (layout above).
// REQUIRES: chain_id at most kMaxChainIdBytes, item_id at most 255 bytes, challenge at most
// kMaxCustodyChallengeBytes, signer 32 bytes (CheckCustodyProof tests them before calling).
Bytes CustodyProofSignBytes(const pb::CustodyProof& proof);

// Signs a custody proof with `key` for `item` on the network `chain_id`, dated `time_ms`.
// InvalidInput for a bad challenge or chain id.
Result<pb::CustodyProof> MakeCustodyProof(const SigningKey& key, std::string_view chain_id,
                                          const ItemId& item, std::string_view challenge,
                                          uint64_t time_ms);

// Reads a proof from its JSON form (Protobuf JSON mapping) within kCustodyProofJsonLimits;
// unknown fields refused. Does not check the proof.
Result<pb::CustodyProof> ParseCustodyProofJson(std::string_view json);

// The check. Pure: the same proof, expectation and ledger view give the same verdict. In order:
// malformed, bad_signature, wrong_chain, wrong_item, wrong_challenge, from_future, stale, then
// custody: the signer must act as the item's custodian as the custody rules would see a record
// it signed in the block at `ledger.height` (core::SignerIsHolder: one of the organisation's
// valid keys for an organisation, exactly the key for a holder key; a key revoked or of a
// removed organisation speaks for nobody, core::CheckSignerStanding).
// REQUIRES: ledger.membership and ledger.network_state are set.
CustodyCheck CheckCustodyProof(const pb::CustodyProof& proof, const CustodyExpectation& expect,
                               const CustodyLedgerView& ledger);

}  // namespace hallmark::core
