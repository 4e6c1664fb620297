#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/bytes.h"
#include "core/certificate.h"
#include "core/genesis.h"
#include "core/records.h"
#include "core/status.h"
#include "proto/genesis.pb.h"
#include "proto/governance.pb.h"
#include "proto/records.pb.h"

namespace hallmark::core {

// Governance: the consortium changes its organisations, their signing keys and the validator set
// through signed proposals and approvals on the ledger (docs/governance.md). This header holds
// the records' decoding, the network state they change, and the rules as pure functions, beside
// the custody rules of records.h.

// A governance envelope decoded and structurally checked once. Value type.
struct GovernanceRecord {
  Hash256 id;                 // RecordIdOf(envelope); a proposal's id is what approvals name.
  Hash256 signer;             // Ed25519 public key.
  pb::RecordPayload payload;  // payload.governance() is set; item_id and prev empty.
  const pb::Envelope* envelope = nullptr;  // Not owned; valid while the caller keeps it.

  const pb::Governance& body() const { return payload.governance(); }
};

// Whether the envelope's payload carries a governance body (top-level field 20), read from the
// wire format without parsing the payload: how the ledger and the mempool choose a decoder.
// A payload that does not scan is not one (DecodeRecord then refuses it as malformed).
bool IsGovernanceEnvelope(const pb::Envelope& envelope);

// Decodes a governance envelope: sizes, strict payload parse, chain id, empty item_id and prev,
// no custody body, and the body's structure (sizes, key encodings, enum values, ids' syntax).
// Does not check the signature (CheckRecordSignature does, as for custody records) nor anything
// that depends on the network state. On failure returns the rejection; `out` is then unspecified.
std::optional<Rejection> DecodeGovernanceRecord(const pb::Envelope& envelope,
                                                std::string_view chain_id, GovernanceRecord* out);

// An organisation's name, roles, GS1 company prefixes and settings from `from_height` on.
struct OrganizationVersion {
  uint64_t from_height = 0;
  std::string display_name;
  std::vector<pb::Role> roles;        // Ascending.
  std::vector<std::string> prefixes;  // Ascending.
  std::string resolver_domain;        // Empty: kDefaultResolverDomain (core/genesis.h).
  std::string website;                // Empty: none.
};

// One of an organisation's signing keys: valid at heights [valid_from, revoked_at).
struct KeyPeriod {
  Hash256 key;
  uint64_t valid_from = 0;
  uint64_t revoked_at = 0;  // 0: not revoked.

  bool ValidAt(uint64_t height) const {
    return valid_from <= height && (revoked_at == 0 || height < revoked_at);
  }
};

// An organisation admitted at genesis or by governance, kept after its removal so that its id
// stays reserved and resolvable in old histories.
struct OrganizationRecord {
  std::string id;
  uint64_t member_from = 0;  // 0 for genesis members.
  uint64_t removed_at = 0;   // First height it is no longer a member; 0 while a member.
  std::vector<OrganizationVersion> versions;  // By from_height, ascending; never empty.
  std::vector<KeyPeriod> keys;                // In the order they were added.

  bool MemberAt(uint64_t height) const {
    return member_from <= height && (removed_at == 0 || height < removed_at);
  }
  // The version in force at `height` (the first one before the organisation existed).
  const OrganizationVersion& VersionAt(uint64_t height) const;
  const OrganizationVersion& latest() const { return versions.back(); }
  bool HasRoleAt(pb::Role role, uint64_t height) const;
};

// The validator set from `from_height` on, until the next epoch. Validators in genesis order,
// added ones appended: every node derives the same order.
struct ValidatorEpoch {
  uint64_t from_height = 0;
  std::vector<ValidatorInfo> validators;
  // The voting power the changes that made this epoch moved from the one before (MovedPower).
  uint64_t moved_power = 0;
  uint64_t total_power() const;
  const ValidatorInfo* Find(const Hash256& key) const;
};

// The epoch's validators as the consensus check wants them (same order).
Result<ValidatorSet> ToValidatorSet(const ValidatorEpoch& epoch);

// A proposal waiting for approvals.
struct PendingProposal {
  Hash256 id;
  std::string proposer;  // Organisation id.
  uint64_t proposed_height = 0;
  uint64_t expires_height = 0;  // Last height at which it may be approved.
  pb::GovernanceChange change;
  std::vector<std::string> approvals;  // Organisation ids, ascending; the proposer included.
};

// The governed part of the network: organisations with their versions and key histories,
// validator epochs (past, current and scheduled), and pending proposals. Built from genesis and
// changed only by ApplyGovernance. Every query takes a height, so one state answers for any block
// up to the last one applied, and for scheduled validator sets beyond it. Value type;
// thread-compatible (const methods may be called from several threads).
class NetworkState {
 public:
  static NetworkState FromGenesis(const Network& network);
  // Rebuilds a state from its deterministic form (as stored by the ledger). Checks the form's
  // order and sizes; a state that fails them is corruption of our own store.
  static Result<NetworkState> FromProto(const pb::NetworkStateProto& proto,
                                        const pb::GovernanceParams& params);

  const pb::GovernanceParams& params() const { return params_; }

  // The deterministic form and its encoding: equal states give equal bytes, on every machine.
  pb::NetworkStateProto ToProto() const;
  std::string Serialize() const;
  Hash256 Hash() const;  // SHA-256 of Serialize().
  // SHA-256 of the deterministic form without the pending proposals: what the state tree holds
  // under NetworkStateLeafKey(). A verifier that rebuilds the state from the completed changes
  // alone (docs/proofs.md) gets these bytes; proposals that never completed are not part of it.
  Hash256 GovernedHash() const;
  // The bytes GovernedHash() hashes: the deterministic form without the pending proposals.
  // Proof bundles of version 4 carry them (docs/proofs.md).
  std::string GovernedBytes() const;

  // What the custody rules see in the block at `height`: `genesis` with the organisations that
  // are members at `height`, each with its version at `height` and only the signing keys valid
  // at `height`, and the validator set of `height`. Same chain id and hash as `genesis`.
  Network MembershipAt(const Network& genesis, uint64_t height) const;

  // --- Organisations and keys ---
  // Any organisation ever admitted (also a removed one), or nullptr.
  const OrganizationRecord* FindOrganization(std::string_view id) const;
  const std::map<std::string, OrganizationRecord>& organizations() const { return orgs_; }
  // The organisations that are members at `height`, and their number.
  std::vector<const OrganizationRecord*> MembersAt(uint64_t height) const;
  uint64_t MemberCountAt(uint64_t height) const;
  // Was `key` a valid signing key of organisation `org` at `height`? True when the organisation
  // was a member at that height and the key was added before and not yet revoked. A verifier
  // asks this with a record's block height, so records signed before a revocation stay valid.
  bool IsKeyValid(const Hash256& key, std::string_view org, uint64_t height) const;
  // The member organisation whose valid signing key `key` is at `height`, or nullptr. A key
  // belongs to one organisation forever (keys are never reused), so at most one matches.
  const OrganizationRecord* OrganizationOfKeyAt(const Hash256& key, uint64_t height) const;
  // The organisation that ever held `key` (also after revocation), or nullptr.
  const OrganizationRecord* OrganizationEverHoldingKey(const Hash256& key) const;

  // --- Validators ---
  // The validator set that certifies block `height`: genesis' at first, each change from the
  // height its delay set. Heights after the last applied block give the sets scheduled so far.
  const ValidatorEpoch& ValidatorSetAt(uint64_t height) const;
  const std::vector<ValidatorEpoch>& validator_epochs() const { return epochs_; }
  // The set after every change completed so far, also the scheduled ones.
  const ValidatorEpoch& LatestValidatorSet() const { return epochs_.back(); }

  // --- Proposals ---
  const std::map<Hash256, PendingProposal>& pending() const { return pending_; }
  // The pending proposal, or nullptr. An expired one is still found until pruned.
  const PendingProposal* FindProposal(const Hash256& id) const;

 private:
  friend struct GovernanceMutator;
  NetworkState() = default;
  void Reindex();

  pb::GovernanceParams params_;
  std::map<std::string, OrganizationRecord> orgs_;
  std::vector<ValidatorEpoch> epochs_;  // By from_height, ascending; the first from 0.
  std::map<Hash256, PendingProposal> pending_;
  // Every signing key ever added → its organisation's id (keys are never reused).
  std::unordered_map<Hash256, std::string> org_by_key_;
};

// The state tree's key for the network state: SHA-256("hallmark/network-state"). No item key can
// equal it (item keys hash canonical item ids, which start with "01/"). Its leaf is absent until
// the first governance record commits; from then on its value is NetworkState::GovernedHash().
Hash256 NetworkStateLeafKey();

// May a custody record signed by `signer` be applied in the block at `height`? A key that some
// organisation ever held speaks for that organisation only while it is valid: after its
// revocation, before it takes effect, or once its organisation is removed, its records are
// refused (kNotAuthorized, naming the organisation and the height), rather than being taken
// for a consumer's. Records it signed while valid stay valid. nullopt for valid keys and for keys
// no organisation ever held.
std::optional<Rejection> CheckSignerStanding(const NetworkState& state, const Hash256& signer,
                                             uint64_t height);

// May `record` be applied in the block at `height`, on `state` (the state after every earlier
// record, also of this block)? Pure. Every refusal names the rule (docs/governance.md):
// the signer must be a valid key of a member organisation; a proposal's change must be valid now
// and its expiry within the lifetime; an approval needs a pending, unexpired proposal not yet
// approved by the signer's organisation, and when it completes the proposal, the change must
// still be valid. REQUIRES: DecodeGovernanceRecord accepted `record`.
std::optional<Rejection> ValidateGovernance(const NetworkState& state,
                                            const GovernanceRecord& record, uint64_t height);

// What applying a record did: the new state, and when a change completed, the height from which
// it takes effect (height + 1 for organisations and keys, height + delay for validators).
struct AppliedGovernance {
  NetworkState state;
  std::optional<Hash256> completed;  // The proposal this record completed.
  uint64_t effective_height = 0;     // Set when `completed` is.
};

// The state after `record`. Also drops proposals that expired before `height`.
// REQUIRES: ValidateGovernance(state, record, height) passed.
AppliedGovernance ApplyGovernance(const NetworkState& state, const GovernanceRecord& record,
                                  uint64_t height);

// Do `approvals` (organisation ids) reach genesis' threshold among the members at `height`?
// Only members count, each once. Refusal: kThresholdNotReached, with the numbers. For a verifier
// checking a claimed completion, and for the rules themselves.
std::optional<Rejection> CheckApprovalThreshold(const NetworkState& state,
                                                const std::vector<std::string>& approvals,
                                                uint64_t height);
// The threshold arithmetic: approvals × denominator > numerator × members.
bool ThresholdReached(uint64_t approvals, uint64_t members, const pb::GovernanceParams& params);

// The voting power a validator change moves: an added or removed validator's power, the
// difference of a re-weighted one's, the whole power of one whose key changes (its old key stops
// signing, a new one starts). The changes scheduled and not yet in effect plus a new one may move
// at most a third of the power of the set in force. 0 for changes of organisations and keys.
uint64_t MovedPower(const ValidatorEpoch& latest, const pb::GovernanceChange& change);

// Whether the change is about validators (in force after the validator-change delay) rather
// than organisations and keys (in force from the next block).
bool IsValidatorChange(const pb::GovernanceChange& change);

// "add_validator", "revoke_signing_key", …
std::string_view GovernanceChangeName(const pb::GovernanceChange& change);

}  // namespace hallmark::core
