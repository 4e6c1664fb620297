#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/genesis.h"
#include "core/item_id.h"
#include "core/status.h"
#include "proto/records.pb.h"

namespace hallmark::core {

// Why a record was refused. Each is the submitter's fault and comes with a message a person can
// act on. Codes are stable: they appear in the API and in logs.
enum class RejectReason {
  kMalformed,          // Not a well-formed envelope or payload.
  kLimitExceeded,      // A field or the record is over its size or count limit.
  kWrongChain,         // The payload names another network.
  kBadItemId,          // The item id is not a valid canonical SGTIN.
  kBadSignature,       // The signature fails the acceptance policy.
  kInvalidField,       // A field's value is not allowed (unknown enum, bad key, no change).
  kFutureTimestamp,    // The client timestamp is too far ahead of the block's time.
  kNotRegistered,      // The item has no registration.
  kAlreadyRegistered,  // A registration for an item that exists.
  kStalePrev,          // `prev` is not the item's latest record (also stops replays).
  kDecommissioned,     // No record may follow a Decommission.
  kFlagged,            // A transfer while flagged stolen or lost.
  kNotAuthorized,      // The signer may not make this record.
  kPeriodLimit,        // An outsider's limit of this kind of record per custody period.
  kHistoryFull,        // The item's history is at its cap for this signer or this record.
  // Governance records (core/governance.h, docs/governance.md).
  kNotMember,            // The signer is not a valid key of a member organisation.
  kUnknownOrganization,  // The change names an organisation that is not a member.
  kUnknownValidator,     // The change names a consensus key that is not a validator's.
  kUnknownProposal,      // The approval names no pending proposal.
  kDuplicateApproval,    // The organisation already approved (or proposed) it.
  kExpired,              // The proposal's expiry height has passed.
  kThresholdNotReached,  // Approvals short of genesis' threshold (a claimed completion).
  kDuplicate,            // An id, key, prefix or name that is already used.
  kLastKey,              // Revoking an organisation's last signing key.
  kStillValidator,       // Removing an organisation that still has a validator.
  kNoValidatorLeft,      // The change would leave no validator.
  kPowerShiftTooLarge,   // The change would move more than a third of the voting power.
};

std::string_view RejectReasonCode(RejectReason reason);  // "stale_prev", …

struct Rejection {
  RejectReason reason;
  std::string message;
  std::string ToString() const;
};

enum class RecordType {
  kRegister,
  kTransfer,
  kAttest,
  kFlag,
  kClearFlag,
  kService,
  kDecommission,
  kReassign,
};
std::string_view RecordTypeName(RecordType type);  // "register", …
// The type of any payload as the API names it: RecordTypeName of its custody body,
// "governance_proposal", "governance_approval", or "unknown".
std::string_view PayloadTypeName(const pb::RecordPayload& payload);
// The enums' words as the API, the feed and the CLI write them; "unspecified" for the zero value
// or a number this version does not know.
std::string_view VerdictName(pb::Verdict verdict);                 // "genuine", "suspect"
std::string_view ServiceKindName(pb::ServiceKind kind);            // "repair", …
std::string_view DecommissionKindName(pb::DecommissionKind kind);  // "destroyed", "recycled"

// An envelope decoded and structurally checked once: the payload parsed, the item id parsed,
// the id computed. Validation and application work on this. Value type.
struct Record {
  Hash256 id;        // RecordIdOf(envelope): binds the payload, the signer and the signature.
  Hash256 signer;    // Ed25519 public key.
  Hash256 item_key;  // SHA-256 of the canonical item id.
  ItemId item;
  RecordType type = RecordType::kRegister;
  pb::RecordPayload payload;
  const pb::Envelope* envelope = nullptr;  // Not owned; valid while the caller keeps it.
};

// A record's id: SHA-256(payload ‖ signer ‖ signature), the signer 32 bytes and the signature
// 64 (DecodeRecord refuses other sizes). The id names the whole envelope, so the `prev` chain,
// the state's latest record and a block's records root commit to who signed each record, and
// nobody can re-sign a payload under another key without breaking them (docs/proofs.md).
Hash256 RecordIdOf(const pb::Envelope& envelope);

// Decodes an envelope: sizes, payload parsing (unknown fields refused), chain id, canonical
// item id, body present and within limits. Does not check the signature.
// On failure returns the rejection; `out` is then unspecified.
// What every signed record shares, custody or governance: payload size, envelope shape (32-byte
// signer, 64-byte signature, no unknown fields), a strict parse of the payload (unknown top-level
// fields refused; each body's decoder checks its own) and its chain id. Does not check the
// signature.
std::optional<Rejection> DecodeEnvelope(const pb::Envelope& envelope, std::string_view chain_id,
                                        pb::RecordPayload* payload);

std::optional<Rejection> DecodeRecord(const pb::Envelope& envelope, std::string_view chain_id,
                                      Record* out);

// Checks the envelope's signature under the Ed25519 acceptance policy.
std::optional<Rejection> CheckRecordSignature(const pb::Envelope& envelope);
// The signatures of many envelopes checked together (VerifySignatures, several times faster a
// signature than one by one): element i is true exactly when CheckRecordSignature(*envelopes[i])
// finds nothing wrong.
std::vector<bool> RecordSignaturesValid(std::span<const pb::Envelope* const> envelopes);

// What the rules know of the block a record is in.
struct BlockContext {
  uint64_t height = 0;
  uint64_t time_ms = 0;
};

// The custody rules: may `record` be applied to an item whose current state is `current`
// (nullptr: never registered)? Pure. Includes the limits on a history's growth (per custody
// period and per item, docs/architecture.md). REQUIRES: record.envelope is set.
std::optional<Rejection> ValidateRecord(const Network& network, const Record& record,
                                        const pb::ItemState* current, const BlockContext& ctx);

// The item's state after `record`. REQUIRES: ValidateRecord passed with the same arguments.
pb::ItemState ApplyRecord(const Network& network, const Record& record,
                          const pb::ItemState* current, const BlockContext& ctx);

// Item states as of some point, plus the changes of records applied on top of it.
// Implementations: the ledger's block overlay, in-memory maps in tests.
class StateView {
 public:
  virtual ~StateView() = default;
  // The item's state, or nullptr if it was never registered. The pointer stays valid until the
  // next Put. A non-ok Status is a local failure (disk, corruption), not the record's fault.
  virtual Result<const pb::ItemState*> Find(const Hash256& item_key) = 0;
  virtual void Put(const Hash256& item_key, pb::ItemState state) = 0;
};

// Validates `record` against `view` and, if allowed, applies it there. Returns the rejection,
// nullopt when applied, or a Status on local failure.
Result<std::optional<Rejection>> ValidateAndApply(const Network& network, const Record& record,
                                                  const BlockContext& ctx, StateView* view);

// Helpers for people and tools.
bool HolderEquals(const pb::Holder& a, const pb::Holder& b);
std::string DescribeHolder(const pb::Holder& holder);  // "org acme" or "key 3b6a27bc…"
// Does `signer` act as `holder`? (one of the organisation's keys, or the holder key itself).
bool SignerIsHolder(const Network& network, const Hash256& signer, const pb::Holder& holder);
std::string_view FlagKindName(pb::FlagKind kind);  // "stolen", "lost", …

}  // namespace hallmark::core
