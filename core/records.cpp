#include "core/records.h"

#include <algorithm>

#include "core/codec.h"
#include "core/crypto/ed25519.h"
#include "core/crypto/sha256.h"
#include "core/limits.h"

namespace hallmark::core {

namespace {

Rejection Reject(RejectReason reason, std::string message) {
  return Rejection{reason, std::move(message)};
}

std::string ShortHex(ByteSpan b) {
  return ToHex(b.subspan(0, std::min<size_t>(b.size(), 8)));
}
std::string ShortHex(const Hash256& h) {
  return ShortHex(h.span());
}
std::string DescribeRecordId(const std::string& id) {
  return id.empty() ? std::string("empty") : ShortHex(AsSpan(id)) + "…";
}

std::optional<Rejection> CheckText(std::string_view field, const std::string& text,
                                   size_t max_bytes) {
  if (text.size() > max_bytes) {
    return Reject(RejectReason::kLimitExceeded,
                  field.data() + std::string(" is ") + std::to_string(text.size()) +
                      " bytes; the limit is " + std::to_string(max_bytes));
  }
  return std::nullopt;
}

// A holder named in a record must exist: a genesis organisation, or a 32-byte key.
std::optional<Rejection> CheckHolder(const Network& network, std::string_view field,
                                     const pb::Holder& h) {
  switch (h.kind_case()) {
    case pb::Holder::kOrganization:
      if (!network.FindOrganization(h.organization())) {
        return Reject(RejectReason::kInvalidField, std::string(field) +
                                                       " names unknown organization \"" +
                                                       h.organization().substr(0, 64) + "\"");
      }
      return std::nullopt;
    case pb::Holder::kHolderKey:
      if (h.holder_key().size() != 32) {
        return Reject(RejectReason::kInvalidField, std::string(field) +
                                                       " holder key must be 32 bytes, found " +
                                                       std::to_string(h.holder_key().size()));
      }
      return std::nullopt;
    case pb::Holder::KIND_NOT_SET:
      return Reject(RejectReason::kInvalidField,
                    std::string(field) + " must name an organization or a holder key");
  }
  return Reject(RejectReason::kInvalidField, std::string(field) + " is not a known holder kind");
}

bool HasUnknownFields(const google::protobuf::Message& m) {
  return !m.GetReflection()->GetUnknownFields(m).empty();
}

std::optional<Rejection> CheckBodyStructure(const pb::RecordPayload& p, RecordType* type) {
  switch (p.body_case()) {
    case pb::RecordPayload::kRegister: {
      *type = RecordType::kRegister;
      const auto& r = p.register_();
      if (static_cast<size_t>(r.attributes_size()) > limits::kMaxAttributes) {
        return Reject(RejectReason::kLimitExceeded,
                      "register has " + std::to_string(r.attributes_size()) +
                          " attributes; the limit is " + std::to_string(limits::kMaxAttributes));
      }
      std::vector<std::string_view> keys;
      for (const auto& a : r.attributes()) {
        if (a.key().empty()) return Reject(RejectReason::kInvalidField, "attribute key is empty");
        if (auto rej = CheckText("attribute key", a.key(), limits::kMaxAttributeKeyBytes))
          return rej;
        if (auto rej = CheckText("attribute \"" + a.key() + "\" value", a.value(),
                                 limits::kMaxAttributeValueBytes))
          return rej;
        if (HasUnknownFields(a))
          return Reject(RejectReason::kMalformed, "attribute has unknown fields");
        keys.push_back(a.key());
      }
      std::sort(keys.begin(), keys.end());
      if (auto dup = std::adjacent_find(keys.begin(), keys.end()); dup != keys.end()) {
        return Reject(RejectReason::kInvalidField,
                      "attribute \"" + std::string(*dup) + "\" is given twice");
      }
      if (static_cast<size_t>(r.documents_size()) > limits::kMaxDocuments) {
        return Reject(RejectReason::kLimitExceeded, "register has " +
                                                        std::to_string(r.documents_size()) +
                                                        " document digests; the limit is " +
                                                        std::to_string(limits::kMaxDocuments));
      }
      for (const auto& d : r.documents()) {
        if (auto rej = CheckText("document name", d.name(), limits::kMaxDocumentNameBytes))
          return rej;
        if (d.sha256().size() != 32) {
          return Reject(RejectReason::kInvalidField,
                        "document \"" + d.name() + "\" digest must be 32 bytes (SHA-256), found " +
                            std::to_string(d.sha256().size()));
        }
        if (HasUnknownFields(d))
          return Reject(RejectReason::kMalformed, "document has unknown fields");
      }
      if (HasUnknownFields(r) || HasUnknownFields(r.custodian()))
        return Reject(RejectReason::kMalformed, "register has unknown fields");
      return std::nullopt;
    }
    case pb::RecordPayload::kTransfer:
      *type = RecordType::kTransfer;
      if (HasUnknownFields(p.transfer()) || HasUnknownFields(p.transfer().to()))
        return Reject(RejectReason::kMalformed, "transfer has unknown fields");
      return std::nullopt;
    case pb::RecordPayload::kAttest:
      *type = RecordType::kAttest;
      if (HasUnknownFields(p.attest()))
        return Reject(RejectReason::kMalformed, "attest has unknown fields");
      if (p.attest().verdict() != pb::GENUINE && p.attest().verdict() != pb::SUSPECT)
        return Reject(RejectReason::kInvalidField, "attest verdict must be GENUINE or SUSPECT");
      return CheckText("attest note", p.attest().note(), limits::kMaxNoteBytes);
    case pb::RecordPayload::kFlag:
      *type = RecordType::kFlag;
      if (HasUnknownFields(p.flag()))
        return Reject(RejectReason::kMalformed, "flag has unknown fields");
      if (p.flag().kind() == pb::FLAG_UNSPECIFIED || !pb::FlagKind_IsValid(p.flag().kind()))
        return Reject(RejectReason::kInvalidField,
                      "flag kind must be STOLEN, LOST, COUNTERFEIT_SUSPECTED or RECALLED");
      return CheckText("flag note", p.flag().note(), limits::kMaxNoteBytes);
    case pb::RecordPayload::kClearFlag:
      *type = RecordType::kClearFlag;
      if (HasUnknownFields(p.clear_flag()))
        return Reject(RejectReason::kMalformed, "clear_flag has unknown fields");
      if (p.clear_flag().kind() == pb::FLAG_UNSPECIFIED ||
          !pb::FlagKind_IsValid(p.clear_flag().kind()))
        return Reject(RejectReason::kInvalidField,
                      "clear_flag kind must be STOLEN, LOST, COUNTERFEIT_SUSPECTED or RECALLED");
      return CheckText("clear_flag note", p.clear_flag().note(), limits::kMaxNoteBytes);
    case pb::RecordPayload::kService:
      *type = RecordType::kService;
      if (HasUnknownFields(p.service()))
        return Reject(RejectReason::kMalformed, "service has unknown fields");
      if (p.service().kind() == pb::SERVICE_UNSPECIFIED ||
          !pb::ServiceKind_IsValid(p.service().kind()))
        return Reject(RejectReason::kInvalidField,
                      "service kind must be REPAIR, REFURBISHMENT or AUTHENTICATION_SERVICE");
      return CheckText("service note", p.service().note(), limits::kMaxNoteBytes);
    case pb::RecordPayload::kDecommission:
      *type = RecordType::kDecommission;
      if (HasUnknownFields(p.decommission()))
        return Reject(RejectReason::kMalformed, "decommission has unknown fields");
      if (p.decommission().kind() == pb::DECOMMISSION_UNSPECIFIED ||
          !pb::DecommissionKind_IsValid(p.decommission().kind()))
        return Reject(RejectReason::kInvalidField,
                      "decommission kind must be DESTROYED or RECYCLED");
      return CheckText("decommission reason", p.decommission().reason(), limits::kMaxNoteBytes);
    case pb::RecordPayload::kReassign:
      *type = RecordType::kReassign;
      if (HasUnknownFields(p.reassign()))
        return Reject(RejectReason::kMalformed, "reassign has unknown fields");
      if (p.reassign().new_holder_key().size() != 32)
        return Reject(RejectReason::kInvalidField,
                      "reassign new_holder_key must be 32 bytes, found " +
                          std::to_string(p.reassign().new_holder_key().size()));
      return CheckText("reassign reason", p.reassign().reason(), limits::kMaxNoteBytes);
    case pb::RecordPayload::BODY_NOT_SET:
      return Reject(RejectReason::kMalformed, "record has no body (register, transfer, …)");
  }
  return Reject(RejectReason::kMalformed, "record body is of an unknown kind");
}

const pb::ActiveFlag* FindFlag(const pb::ItemState& s, pb::FlagKind kind) {
  for (const auto& f : s.flags())
    if (f.kind() == kind) return &f;
  return nullptr;
}

pb::Holder SignerAsHolder(const Network& network, const Hash256& signer) {
  pb::Holder h;
  if (const auto* org = network.OrganizationOfKey(signer)) {
    h.set_organization(org->id());
  } else {
    h.set_holder_key(std::string(signer.view()));
  }
  return h;
}

std::string DescribeSigner(const Network& network, const Hash256& signer) {
  if (const auto* org = network.OrganizationOfKey(signer)) {
    std::string roles;
    for (int r : org->roles()) {
      if (!roles.empty()) roles += ", ";
      roles += pb::Role_Name(r);
    }
    return "organization \"" + org->id() + "\" (" + roles + ")";
  }
  return "key " + ShortHex(signer) + "… (not an organization)";
}

}  // namespace

std::string_view RejectReasonCode(RejectReason reason) {
  switch (reason) {
    case RejectReason::kMalformed:
      return "malformed";
    case RejectReason::kLimitExceeded:
      return "limit_exceeded";
    case RejectReason::kWrongChain:
      return "wrong_chain";
    case RejectReason::kBadItemId:
      return "bad_item_id";
    case RejectReason::kBadSignature:
      return "bad_signature";
    case RejectReason::kInvalidField:
      return "invalid_field";
    case RejectReason::kFutureTimestamp:
      return "future_timestamp";
    case RejectReason::kNotRegistered:
      return "not_registered";
    case RejectReason::kAlreadyRegistered:
      return "already_registered";
    case RejectReason::kStalePrev:
      return "stale_prev";
    case RejectReason::kDecommissioned:
      return "decommissioned";
    case RejectReason::kFlagged:
      return "flagged";
    case RejectReason::kNotAuthorized:
      return "not_authorized";
    case RejectReason::kPeriodLimit:
      return "period_limit";
    case RejectReason::kHistoryFull:
      return "history_full";
    case RejectReason::kNotMember:
      return "not_member";
    case RejectReason::kUnknownOrganization:
      return "unknown_organization";
    case RejectReason::kUnknownValidator:
      return "unknown_validator";
    case RejectReason::kUnknownProposal:
      return "unknown_proposal";
    case RejectReason::kDuplicateApproval:
      return "duplicate_approval";
    case RejectReason::kExpired:
      return "expired";
    case RejectReason::kThresholdNotReached:
      return "threshold_not_reached";
    case RejectReason::kDuplicate:
      return "duplicate";
    case RejectReason::kLastKey:
      return "last_key";
    case RejectReason::kStillValidator:
      return "still_validator";
    case RejectReason::kNoValidatorLeft:
      return "no_validator_left";
    case RejectReason::kPowerShiftTooLarge:
      return "power_shift_too_large";
  }
  return "unknown";
}

std::string Rejection::ToString() const {
  return std::string(RejectReasonCode(reason)) + ": " + message;
}

std::string_view RecordTypeName(RecordType type) {
  switch (type) {
    case RecordType::kRegister:
      return "register";
    case RecordType::kTransfer:
      return "transfer";
    case RecordType::kAttest:
      return "attest";
    case RecordType::kFlag:
      return "flag";
    case RecordType::kClearFlag:
      return "clear_flag";
    case RecordType::kService:
      return "service";
    case RecordType::kDecommission:
      return "decommission";
    case RecordType::kReassign:
      return "reassign";
  }
  return "unknown";
}

std::string_view PayloadTypeName(const pb::RecordPayload& p) {
  switch (p.body_case()) {
    case pb::RecordPayload::kRegister:
      return RecordTypeName(RecordType::kRegister);
    case pb::RecordPayload::kTransfer:
      return RecordTypeName(RecordType::kTransfer);
    case pb::RecordPayload::kAttest:
      return RecordTypeName(RecordType::kAttest);
    case pb::RecordPayload::kFlag:
      return RecordTypeName(RecordType::kFlag);
    case pb::RecordPayload::kClearFlag:
      return RecordTypeName(RecordType::kClearFlag);
    case pb::RecordPayload::kService:
      return RecordTypeName(RecordType::kService);
    case pb::RecordPayload::kDecommission:
      return RecordTypeName(RecordType::kDecommission);
    case pb::RecordPayload::kReassign:
      return RecordTypeName(RecordType::kReassign);
    case pb::RecordPayload::BODY_NOT_SET:
      break;
  }
  // Governance records carry their body beside the custody oneof (docs/governance.md).
  if (p.has_governance()) {
    if (p.governance().has_proposal()) return "governance_proposal";
    if (p.governance().has_approval()) return "governance_approval";
  }
  return "unknown";
}

std::string_view VerdictName(pb::Verdict verdict) {
  switch (verdict) {
    case pb::GENUINE:
      return "genuine";
    case pb::SUSPECT:
      return "suspect";
    case pb::VERDICT_UNSPECIFIED:
    case pb::Verdict_INT_MIN_SENTINEL_DO_NOT_USE_:
    case pb::Verdict_INT_MAX_SENTINEL_DO_NOT_USE_:
      break;
  }
  return "unspecified";
}

std::string_view ServiceKindName(pb::ServiceKind kind) {
  switch (kind) {
    case pb::REPAIR:
      return "repair";
    case pb::REFURBISHMENT:
      return "refurbishment";
    case pb::AUTHENTICATION_SERVICE:
      return "authentication";
    case pb::SERVICE_UNSPECIFIED:
    case pb::ServiceKind_INT_MIN_SENTINEL_DO_NOT_USE_:
    case pb::ServiceKind_INT_MAX_SENTINEL_DO_NOT_USE_:
      break;
  }
  return "unspecified";
}

std::string_view DecommissionKindName(pb::DecommissionKind kind) {
  switch (kind) {
    case pb::DESTROYED:
      return "destroyed";
    case pb::RECYCLED:
      return "recycled";
    case pb::DECOMMISSION_UNSPECIFIED:
    case pb::DecommissionKind_INT_MIN_SENTINEL_DO_NOT_USE_:
    case pb::DecommissionKind_INT_MAX_SENTINEL_DO_NOT_USE_:
      break;
  }
  return "unspecified";
}

std::string_view FlagKindName(pb::FlagKind kind) {
  switch (kind) {
    case pb::STOLEN:
      return "stolen";
    case pb::LOST:
      return "lost";
    case pb::COUNTERFEIT_SUSPECTED:
      return "counterfeit-suspected";
    case pb::RECALLED:
      return "recalled";
    case pb::FLAG_UNSPECIFIED:
    case pb::FlagKind_INT_MIN_SENTINEL_DO_NOT_USE_:
    case pb::FlagKind_INT_MAX_SENTINEL_DO_NOT_USE_:
      break;
  }
  return "unspecified";
}

bool HolderEquals(const pb::Holder& a, const pb::Holder& b) {
  if (a.kind_case() != b.kind_case()) return false;
  switch (a.kind_case()) {
    case pb::Holder::kOrganization:
      return a.organization() == b.organization();
    case pb::Holder::kHolderKey:
      return a.holder_key() == b.holder_key();
    case pb::Holder::KIND_NOT_SET:
      return true;
  }
  return false;
}

std::string DescribeHolder(const pb::Holder& h) {
  switch (h.kind_case()) {
    case pb::Holder::kOrganization:
      return "organization \"" + h.organization() + "\"";
    case pb::Holder::kHolderKey:
      return "key " + ShortHex(AsSpan(h.holder_key())) + "…";
    case pb::Holder::KIND_NOT_SET:
      break;
  }
  return "nobody";
}

bool SignerIsHolder(const Network& network, const Hash256& signer, const pb::Holder& holder) {
  switch (holder.kind_case()) {
    case pb::Holder::kOrganization: {
      const auto* org = network.OrganizationOfKey(signer);
      return org && org->id() == holder.organization();
    }
    case pb::Holder::kHolderKey:
      return holder.holder_key() == signer.view();
    case pb::Holder::KIND_NOT_SET:
      return false;
  }
  return false;
}

Hash256 RecordIdOf(const pb::Envelope& envelope) {
  return Sha256()
      .Update(std::string_view(envelope.payload()))
      .Update(std::string_view(envelope.signer()))
      .Update(std::string_view(envelope.signature()))
      .Finish();
}

std::optional<Rejection> DecodeEnvelope(const pb::Envelope& env, std::string_view chain_id,
                                        pb::RecordPayload* payload) {
  if (env.payload().size() > limits::kMaxPayloadBytes) {
    return Reject(RejectReason::kLimitExceeded,
                  "payload is " + std::to_string(env.payload().size()) + " bytes; the limit is " +
                      std::to_string(limits::kMaxPayloadBytes));
  }
  if (HasUnknownFields(env)) return Reject(RejectReason::kMalformed, "envelope has unknown fields");
  if (env.signer().size() != 32) {
    return Reject(RejectReason::kMalformed, "signer must be a 32-byte Ed25519 public key, found " +
                                                std::to_string(env.signer().size()) + " bytes");
  }
  if (env.signature().size() != 64) {
    return Reject(RejectReason::kMalformed,
                  "signature must be 64 bytes, found " + std::to_string(env.signature().size()));
  }
  if (!payload->ParseFromString(env.payload())) {
    return Reject(RejectReason::kMalformed, "payload is not a valid RecordPayload");
  }
  // Nested bodies are checked by their own decoders (CheckBodyStructure, DecodeGovernanceRecord).
  if (HasUnknownFields(*payload)) {
    return Reject(RejectReason::kMalformed, "payload has fields this version does not know");
  }
  if (payload->chain_id() != chain_id) {
    return Reject(RejectReason::kWrongChain,
                  "record is for chain \"" + payload->chain_id().substr(0, 64) +
                      "\", this network is \"" + std::string(chain_id) + "\"");
  }
  return std::nullopt;
}

std::optional<Rejection> DecodeRecord(const pb::Envelope& env, std::string_view chain_id,
                                      Record* out) {
  if (auto rej = DecodeEnvelope(env, chain_id, &out->payload)) return rej;
  const pb::RecordPayload& p = out->payload;
  if (p.has_governance()) {
    // Proposals and approvals are decoded by DecodeGovernanceRecord (core/governance.h) and
    // checked against the network state, never by the custody rules.
    return Reject(RejectReason::kMalformed,
                  p.body_case() != pb::RecordPayload::BODY_NOT_SET
                      ? "record has both a custody body and a governance body"
                      : "a governance record (proposal or approval) is not a custody record");
  }
  auto item = ParseItemId(p.item_id());
  if (!item.ok()) return Reject(RejectReason::kBadItemId, item.status().message());
  if (item->Canonical() != p.item_id()) {
    return Reject(RejectReason::kBadItemId,
                  "item id must be in canonical form \"" + item->Canonical() + "\"");
  }
  if (!p.prev().empty() && p.prev().size() != 32) {
    return Reject(RejectReason::kMalformed, "prev must be empty or a 32-byte record id, found " +
                                                std::to_string(p.prev().size()) + " bytes");
  }
  if (auto rej = CheckBodyStructure(p, &out->type)) return rej;
  out->id = RecordIdOf(env);
  out->signer = Hash256::FromSpan(AsSpan(env.signer()));
  out->item_key = item->Key();
  out->item = std::move(item).value();
  out->envelope = &env;
  return std::nullopt;
}

std::optional<Rejection> CheckRecordSignature(const pb::Envelope& env) {
  SigVerdict v =
      VerifySignature(AsSpan(env.signer()), AsSpan(env.payload()), AsSpan(env.signature()));
  if (v == SigVerdict::kValid) return std::nullopt;
  return Reject(RejectReason::kBadSignature, std::string(SigVerdictMessage(v)));
}

std::vector<bool> RecordSignaturesValid(std::span<const pb::Envelope* const> envelopes) {
  std::vector<SignatureToCheck> items;
  items.reserve(envelopes.size());
  for (const pb::Envelope* env : envelopes) {
    items.push_back({AsSpan(env->signer()), AsSpan(env->payload()), AsSpan(env->signature())});
  }
  const std::vector<SigVerdict> verdicts = VerifySignatures(items);
  std::vector<bool> valid(verdicts.size());
  for (size_t i = 0; i < verdicts.size(); ++i) valid[i] = verdicts[i] == SigVerdict::kValid;
  return valid;
}

namespace {

// The authorisation table: who may sign which record, and its conditions.
std::optional<Rejection> CheckCustodyRules(const Network& network, const Record& rec,
                                           const pb::ItemState* cur, const BlockContext& ctx) {
  const pb::RecordPayload& p = rec.payload;
  if (p.timestamp_ms() > ctx.time_ms + limits::kMaxTimestampSkewMs) {
    return Reject(RejectReason::kFutureTimestamp, "timestamp " + std::to_string(p.timestamp_ms()) +
                                                      " is more than 10 minutes "
                                                      "after the block time " +
                                                      std::to_string(ctx.time_ms) +
                                                      "; check the signer's clock");
  }
  const pb::Organization* org = network.OrganizationOfKey(rec.signer);

  if (rec.type == RecordType::kRegister) {
    if (!p.prev().empty()) {
      return Reject(RejectReason::kInvalidField, "a registration must have an empty prev");
    }
    if (cur) {
      return Reject(RejectReason::kAlreadyRegistered,
                    "item " + p.item_id() + " is already registered by \"" + cur->brand() + "\"");
    }
    const pb::Organization* owner =
        network.BrandForPrefixRegion(std::string_view(rec.item.gtin14).substr(1, 12));
    if (!org || !Network::HasRole(*org, pb::BRAND)) {
      return Reject(RejectReason::kNotAuthorized, "only a BRAND registers items; the signer is " +
                                                      DescribeSigner(network, rec.signer));
    }
    if (owner != org) {
      return Reject(RejectReason::kNotAuthorized,
                    "GTIN " + rec.item.gtin14 + " is not under a GS1 company prefix of \"" +
                        org->id() + "\"" +
                        (owner ? "; it belongs to \"" + owner->id() + "\"" : std::string()));
    }
    if (p.register_().has_custodian()) {
      if (auto rej = CheckHolder(network, "custodian", p.register_().custodian())) return rej;
    }
    return std::nullopt;
  }

  // Every other record continues an existing custody chain.
  if (!cur) {
    return Reject(RejectReason::kNotRegistered, "item " + p.item_id() + " is not registered");
  }
  if (p.prev() != cur->last_record()) {
    return Reject(RejectReason::kStalePrev, "prev is " + DescribeRecordId(p.prev()) +
                                                " but the item's latest record is " +
                                                DescribeRecordId(cur->last_record()) +
                                                "; fetch the item's state and sign again");
  }
  if (cur->status() == pb::DECOMMISSIONED) {
    return Reject(RejectReason::kDecommissioned,
                  "item " + p.item_id() + " was decommissioned; no record may follow");
  }
  const bool is_brand = org && org->id() == cur->brand();
  const bool is_custodian = SignerIsHolder(network, rec.signer, cur->custodian());
  auto org_has = [&](pb::Role role) { return org && Network::HasRole(*org, role); };
  auto not_authorized = [&](std::string what) {
    return Reject(RejectReason::kNotAuthorized,
                  what + "; the signer is " + DescribeSigner(network, rec.signer));
  };

  switch (rec.type) {
    case RecordType::kRegister:
      break;  // Handled above.
    case RecordType::kTransfer: {
      if (!is_custodian) {
        return not_authorized("only the current custodian (" + DescribeHolder(cur->custodian()) +
                              ") may transfer the item");
      }
      for (pb::FlagKind k : {pb::STOLEN, pb::LOST}) {
        if (FindFlag(*cur, k)) {
          return Reject(RejectReason::kFlagged, "item " + p.item_id() + " is flagged " +
                                                    std::string(FlagKindName(k)) +
                                                    "; it cannot be transferred until cleared");
        }
      }
      if (auto rej = CheckHolder(network, "transfer to", p.transfer().to())) return rej;
      if (HolderEquals(p.transfer().to(), cur->custodian())) {
        return Reject(RejectReason::kInvalidField,
                      "transfer to the current custodian changes nothing");
      }
      return std::nullopt;
    }
    case RecordType::kAttest:
      if (!org_has(pb::MARKETPLACE) && !org_has(pb::AUTHENTICATOR)) {
        return not_authorized("only MARKETPLACE and AUTHENTICATOR organizations attest");
      }
      return std::nullopt;
    case RecordType::kFlag: {
      pb::FlagKind kind = p.flag().kind();
      if (FindFlag(*cur, kind)) {
        return Reject(RejectReason::kInvalidField,
                      "item is already flagged " + std::string(FlagKindName(kind)));
      }
      switch (kind) {
        case pb::STOLEN:
        case pb::LOST:
          if (!is_custodian && !is_brand) {
            return not_authorized(std::string(FlagKindName(kind)) +
                                  " flags come from the custodian or the brand");
          }
          break;
        case pb::COUNTERFEIT_SUSPECTED:
          if (!is_brand && !org_has(pb::MARKETPLACE) && !org_has(pb::AUTHENTICATOR)) {
            return not_authorized(
                "counterfeit-suspected flags come from marketplaces, authenticators or the brand");
          }
          break;
        case pb::RECALLED:
          if (!is_brand)
            return not_authorized("recalls come from the brand \"" + cur->brand() + "\"");
          break;
        case pb::FLAG_UNSPECIFIED:
        case pb::FlagKind_INT_MIN_SENTINEL_DO_NOT_USE_:
        case pb::FlagKind_INT_MAX_SENTINEL_DO_NOT_USE_:
          return Reject(RejectReason::kInvalidField, "flag kind is not set");
      }
      return std::nullopt;
    }
    case RecordType::kClearFlag: {
      pb::FlagKind kind = p.clear_flag().kind();
      const pb::ActiveFlag* flag = FindFlag(*cur, kind);
      if (!flag) {
        return Reject(RejectReason::kInvalidField,
                      "item is not flagged " + std::string(FlagKindName(kind)));
      }
      if (!is_brand && !SignerIsHolder(network, rec.signer, flag->set_by())) {
        return not_authorized("a flag is cleared by whoever set it (" +
                              DescribeHolder(flag->set_by()) + ") or the brand");
      }
      return std::nullopt;
    }
    case RecordType::kService: {
      bool allowed =
          is_brand || org_has(pb::SERVICE_CENTER) ||
          (p.service().kind() == pb::AUTHENTICATION_SERVICE && org_has(pb::AUTHENTICATOR));
      if (!allowed) {
        return not_authorized(
            "service records come from the brand or a SERVICE_CENTER (authentication service "
            "also from an AUTHENTICATOR)");
      }
      return std::nullopt;
    }
    case RecordType::kDecommission:
      if (!is_brand && !is_custodian) {
        return not_authorized("only the brand or the current custodian may decommission the item");
      }
      return std::nullopt;
    case RecordType::kReassign: {
      if (!is_brand)
        return not_authorized("only the brand \"" + cur->brand() + "\" may reassign custody");
      const auto& key = p.reassign().new_holder_key();
      if (cur->custodian().kind_case() == pb::Holder::kHolderKey &&
          cur->custodian().holder_key() == key) {
        return Reject(RejectReason::kInvalidField, "the new holder key is already the custodian");
      }
      if (network.OrganizationOfKey(Hash256::FromSpan(AsSpan(key)))) {
        return Reject(
            RejectReason::kInvalidField,
            "reassign restores custody to a holder key; use transfer for an organization");
      }
      return std::nullopt;
    }
  }
  return Reject(RejectReason::kMalformed, "unknown record type");
}

// The bytes a record adds to its item's history: the envelope's encoded size, as in a bundle.
uint64_t HistoryBytesOf(const Record& rec) {
  HM_ASSERT(rec.envelope != nullptr);
  return rec.envelope->ByteSizeLong();
}

// An organisation that signs a record about someone else's item: neither the item's brand nor
// its custodian. Its records are counted per custody period. nullptr for the brand, the
// custodian and holder keys.
const pb::Organization* OutsiderOrganization(const Network& network, const Record& rec,
                                             const pb::ItemState& cur) {
  const pb::Organization* org = network.OrganizationOfKey(rec.signer);
  if (!org || org->id() == cur.brand()) return nullptr;
  if (SignerIsHolder(network, rec.signer, cur.custodian())) return nullptr;
  return org;
}

const pb::PeriodActivity* FindActivity(const pb::ItemState& s, const std::string& org) {
  for (const auto& a : s.period_activity())
    if (a.organization() == org) return &a;
  return nullptr;
}

// The per-custody-period limits on an outsider organisation's records.
std::optional<Rejection> CheckPeriodLimits(const Network& network, const Record& rec,
                                           const pb::ItemState& cur) {
  const pb::Organization* org = OutsiderOrganization(network, rec, cur);
  if (!org) return std::nullopt;
  const pb::PeriodActivity* done = FindActivity(cur, org->id());
  if (!done) return std::nullopt;
  auto limit = [&](std::string what, uint32_t count, uint32_t max) -> std::optional<Rejection> {
    if (count < max) return std::nullopt;
    return Reject(
        RejectReason::kPeriodLimit,
        "organization \"" + org->id() + "\" has already made " + std::to_string(count) + " " +
            what + " about item " + cur.item_id() +
            " in this custody period, the limit for an organization that is neither "
            "its brand nor its custodian; it may do so again after the next transfer or reassign");
  };
  switch (rec.type) {
    case RecordType::kAttest:
      return limit("attest(s)", done->attests(), limits::kMaxAttestsPerPeriod);
    case RecordType::kFlag:
      if (rec.payload.flag().kind() != pb::COUNTERFEIT_SUSPECTED) return std::nullopt;
      return limit("counterfeit-suspected flag(s)", done->counterfeit_flags(),
                   limits::kMaxCounterfeitFlagsPerPeriod);
    case RecordType::kService:
      return limit("service record(s)", done->services(), limits::kMaxServicesPerPeriod);
    case RecordType::kRegister:
    case RecordType::kTransfer:
    case RecordType::kClearFlag:
    case RecordType::kDecommission:
    case RecordType::kReassign:
      return std::nullopt;
  }
  return std::nullopt;
}

// The caps on an item's history: an outsider's records are small and stop first, then the
// brand's and the custodian's, and the last record is kept for a Decommission.
std::optional<Rejection> CheckHistoryCaps(const Network& network, const Record& rec,
                                          const pb::ItemState* cur) {
  const uint64_t records = cur ? cur->record_count() : 0;
  const uint64_t bytes = (cur ? cur->history_bytes() : 0) + HistoryBytesOf(rec);
  const pb::Organization* org = network.OrganizationOfKey(rec.signer);
  const bool outsider = cur && !(org && org->id() == cur->brand()) &&
                        !SignerIsHolder(network, rec.signer, cur->custodian());
  // Clearing a flag counts as an owner's record whoever signs it: it undoes a flag that had
  // room when it was set, so a setter can always withdraw its flag.
  const bool owner = !outsider || rec.type == RecordType::kClearFlag;
  if (outsider && HistoryBytesOf(rec) > limits::kMaxOutsiderEnvelopeBytes) {
    return Reject(RejectReason::kLimitExceeded,
                  "a record by others than the item's brand and custodian is at most " +
                      std::to_string(limits::kMaxOutsiderEnvelopeBytes) +
                      " bytes encoded; this one is " + std::to_string(HistoryBytesOf(rec)));
  }
  uint64_t max_records = limits::kMaxItemRecords;
  uint64_t max_bytes = limits::kMaxItemHistoryBytes;
  std::string whose = "a decommission";
  if (rec.type != RecordType::kDecommission) {
    if (owner) {
      max_records -= 1;
      max_bytes -= limits::kMaxEnvelopeBytes;
      whose = "records by its brand or custodian (the rest is kept for a decommission)";
    } else {
      max_records -= limits::kItemRecordsKeptForOwners;
      max_bytes -= limits::kItemHistoryBytesKeptForOwners;
      whose = "records by others than its brand and custodian (the rest is kept for its owners)";
    }
  }
  if (records + 1 <= max_records && bytes <= max_bytes) return std::nullopt;
  return Reject(RejectReason::kHistoryFull,
                "item " + rec.payload.item_id() + " has " + std::to_string(records) +
                    " records of " + std::to_string(cur ? cur->history_bytes() : 0) + " bytes; " +
                    whose + " may take it to " + std::to_string(max_records) + " records and " +
                    std::to_string(max_bytes) + " bytes, and this record is " +
                    std::to_string(HistoryBytesOf(rec)) + " bytes");
}

}  // namespace

std::optional<Rejection> ValidateRecord(const Network& network, const Record& rec,
                                        const pb::ItemState* cur, const BlockContext& ctx) {
  if (auto rej = CheckCustodyRules(network, rec, cur, ctx)) return rej;
  if (cur) {
    if (auto rej = CheckPeriodLimits(network, rec, *cur)) return rej;
  }
  return CheckHistoryCaps(network, rec, cur);
}

pb::ItemState ApplyRecord(const Network& network, const Record& rec, const pb::ItemState* cur,
                          const BlockContext& ctx) {
  const pb::RecordPayload& p = rec.payload;
  pb::ItemState s;
  if (rec.type == RecordType::kRegister) {
    HM_ASSERT(cur == nullptr);
    const pb::Organization* brand = network.OrganizationOfKey(rec.signer);
    HM_ASSERT(brand != nullptr);
    s.set_item_id(p.item_id());
    s.set_brand(brand->id());
    if (p.register_().has_custodian()) {
      *s.mutable_custodian() = p.register_().custodian();
    } else {
      s.mutable_custodian()->set_organization(brand->id());
    }
    s.set_status(pb::ACTIVE);
    *s.mutable_attributes() = p.register_().attributes();
    *s.mutable_documents() = p.register_().documents();
    s.set_registered_height(ctx.height);
  } else {
    HM_ASSERT(cur != nullptr);
    s = *cur;
    // An outsider's attests, counterfeit-suspected flags and services count towards its limits
    // for this custody period.
    const bool counted =
        rec.type == RecordType::kAttest || rec.type == RecordType::kService ||
        (rec.type == RecordType::kFlag && p.flag().kind() == pb::COUNTERFEIT_SUSPECTED);
    const pb::Organization* org = counted ? OutsiderOrganization(network, rec, *cur) : nullptr;
    if (org) {
      pb::PeriodActivity* a = nullptr;
      for (auto& existing : *s.mutable_period_activity()) {
        if (existing.organization() == org->id()) {
          a = &existing;
          break;
        }
      }
      if (!a) {
        a = s.add_period_activity();
        a->set_organization(org->id());
      }
      if (rec.type == RecordType::kAttest) a->set_attests(a->attests() + 1);
      if (rec.type == RecordType::kService) a->set_services(a->services() + 1);
      if (rec.type == RecordType::kFlag) a->set_counterfeit_flags(a->counterfeit_flags() + 1);
    }
  }
  switch (rec.type) {
    case RecordType::kRegister:
    case RecordType::kAttest:
    case RecordType::kService:
      break;
    case RecordType::kTransfer:
      *s.mutable_custodian() = p.transfer().to();
      s.clear_period_activity();  // A new custody period.
      break;
    case RecordType::kFlag: {
      pb::ActiveFlag* f = s.add_flags();
      f->set_kind(p.flag().kind());
      *f->mutable_set_by() = SignerAsHolder(network, rec.signer);
      f->set_record(std::string(rec.id.view()));
      f->set_note(p.flag().note());
      break;
    }
    case RecordType::kClearFlag: {
      auto* flags = s.mutable_flags();
      for (int i = 0; i < flags->size(); ++i) {
        if (flags->Get(i).kind() == p.clear_flag().kind()) {
          flags->erase(flags->begin() + i);
          break;
        }
      }
      break;
    }
    case RecordType::kDecommission:
      s.set_status(pb::DECOMMISSIONED);
      break;
    case RecordType::kReassign:
      s.mutable_custodian()->set_holder_key(p.reassign().new_holder_key());
      s.clear_period_activity();  // A new custody period.
      break;
  }
  s.set_last_record(std::string(rec.id.view()));
  s.set_record_count(s.record_count() + 1);
  s.set_history_bytes(s.history_bytes() + HistoryBytesOf(rec));
  s.set_updated_height(ctx.height);
  return s;
}

Result<std::optional<Rejection>> ValidateAndApply(const Network& network, const Record& record,
                                                  const BlockContext& ctx, StateView* view) {
  auto cur = view->Find(record.item_key);
  if (!cur.ok()) return cur.status();
  if (auto rej = ValidateRecord(network, record, *cur, ctx)) return std::optional<Rejection>(*rej);
  view->Put(record.item_key, ApplyRecord(network, record, *cur, ctx));
  return std::optional<Rejection>();
}

}  // namespace hallmark::core
