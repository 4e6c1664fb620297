#include "wallet-cli/records.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>

#include "core/clock.h"
#include "core/codec.h"
#include "core/crypto/sha256.h"
#include "core/limits.h"

namespace hallmark::wallet {
namespace {

pb::RecordPayload Base(const PayloadHeader& header) {
  pb::RecordPayload p;
  p.set_chain_id(header.chain_id);
  p.set_item_id(header.item.Canonical());
  p.set_prev(header.prev);
  p.set_timestamp_ms(header.timestamp_ms);
  return p;
}

std::string Quoted(std::string_view word) {
  // Input echoed back in an error is cut short so that a pasted file does not flood the screen.
  constexpr size_t kEchoBytesMax = 64;
  std::string s = "\"" + std::string(word.substr(0, kEchoBytesMax));
  if (word.size() > kEchoBytesMax) s += "…";
  return s + "\"";
}

bool IsOrgIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

}  // namespace

pb::RecordPayload BuildPayload(const PayloadHeader& header, const pb::Register& body) {
  pb::RecordPayload p = Base(header);
  *p.mutable_register_() = body;
  return p;
}
pb::RecordPayload BuildPayload(const PayloadHeader& header, const pb::Transfer& body) {
  pb::RecordPayload p = Base(header);
  *p.mutable_transfer() = body;
  return p;
}
pb::RecordPayload BuildPayload(const PayloadHeader& header, const pb::Attest& body) {
  pb::RecordPayload p = Base(header);
  *p.mutable_attest() = body;
  return p;
}
pb::RecordPayload BuildPayload(const PayloadHeader& header, const pb::Flag& body) {
  pb::RecordPayload p = Base(header);
  *p.mutable_flag() = body;
  return p;
}
pb::RecordPayload BuildPayload(const PayloadHeader& header, const pb::ClearFlag& body) {
  pb::RecordPayload p = Base(header);
  *p.mutable_clear_flag() = body;
  return p;
}
pb::RecordPayload BuildPayload(const PayloadHeader& header, const pb::Service& body) {
  pb::RecordPayload p = Base(header);
  *p.mutable_service() = body;
  return p;
}
pb::RecordPayload BuildPayload(const PayloadHeader& header, const pb::Decommission& body) {
  pb::RecordPayload p = Base(header);
  *p.mutable_decommission() = body;
  return p;
}
pb::RecordPayload BuildPayload(const PayloadHeader& header, const pb::Reassign& body) {
  pb::RecordPayload p = Base(header);
  *p.mutable_reassign() = body;
  return p;
}

pb::Transfer TransferBody(const pb::Holder& to) {
  pb::Transfer b;
  *b.mutable_to() = to;
  return b;
}
pb::Attest AttestBody(pb::Verdict verdict, std::string_view note) {
  pb::Attest b;
  b.set_verdict(verdict);
  b.set_note(std::string(note));
  return b;
}
pb::Flag FlagBody(pb::FlagKind kind, std::string_view note) {
  pb::Flag b;
  b.set_kind(kind);
  b.set_note(std::string(note));
  return b;
}
pb::ClearFlag ClearFlagBody(pb::FlagKind kind, std::string_view note) {
  pb::ClearFlag b;
  b.set_kind(kind);
  b.set_note(std::string(note));
  return b;
}
pb::Service ServiceBody(pb::ServiceKind kind, std::string_view note) {
  pb::Service b;
  b.set_kind(kind);
  b.set_note(std::string(note));
  return b;
}
pb::Decommission DecommissionBody(pb::DecommissionKind kind, std::string_view reason) {
  pb::Decommission b;
  b.set_kind(kind);
  b.set_reason(std::string(reason));
  return b;
}
pb::Reassign ReassignBody(const core::PublicKey& new_holder, std::string_view reason) {
  pb::Reassign b;
  b.set_new_holder_key(core::ToString(new_holder.span()));
  b.set_reason(std::string(reason));
  return b;
}

pb::Envelope SignEnvelope(const core::SigningKey& key, const pb::RecordPayload& payload) {
  pb::Envelope env;
  env.set_payload(core::SerializeDeterministic(payload));
  env.set_signer(core::ToString(key.public_key().span()));
  const core::Signature sig = key.Sign(env.payload());
  env.set_signature(core::ToString(sig.span()));
  return env;
}

core::Hash256 RecordIdOf(const pb::Envelope& envelope) {
  return core::RecordIdOf(envelope);
}

core::Result<pb::Envelope> SignAndCheck(const core::SigningKey& key,
                                        const pb::RecordPayload& payload,
                                        std::string_view chain_id) {
  pb::Envelope env = SignEnvelope(key, payload);
  core::Record record;
  if (std::optional<core::Rejection> rej = core::DecodeRecord(env, chain_id, &record)) {
    return core::Status::InvalidInput(rej->ToString());
  }
  if (std::optional<core::Rejection> rej = core::CheckRecordSignature(env)) {
    return core::Status::InvalidInput(rej->ToString());
  }
  return env;
}

uint64_t NowMs() {
  return core::UnixTimeMs();
}

core::Result<pb::Verdict> ParseVerdict(std::string_view word) {
  if (word == "genuine") return pb::GENUINE;
  if (word == "suspect") return pb::SUSPECT;
  return core::Status::InvalidInput("verdict must be genuine or suspect, not " + Quoted(word));
}

core::Result<pb::FlagKind> ParseFlagKind(std::string_view word) {
  for (pb::FlagKind k : {pb::STOLEN, pb::LOST, pb::COUNTERFEIT_SUSPECTED, pb::RECALLED}) {
    if (word == core::FlagKindName(k)) return k;
  }
  return core::Status::InvalidInput(
      "flag kind must be stolen, lost, counterfeit-suspected or recalled, not " + Quoted(word));
}

core::Result<pb::ServiceKind> ParseServiceKind(std::string_view word) {
  for (pb::ServiceKind k : {pb::REPAIR, pb::REFURBISHMENT, pb::AUTHENTICATION_SERVICE}) {
    if (word == core::ServiceKindName(k)) return k;
  }
  return core::Status::InvalidInput(
      "service kind must be repair, refurbishment or authentication, not " + Quoted(word));
}

core::Result<pb::DecommissionKind> ParseDecommissionKind(std::string_view word) {
  for (pb::DecommissionKind k : {pb::DESTROYED, pb::RECYCLED}) {
    if (word == core::DecommissionKindName(k)) return k;
  }
  return core::Status::InvalidInput("decommission kind must be destroyed or recycled, not " +
                                    Quoted(word));
}

core::Result<core::PublicKey> ParseHolderKey(std::string_view hex) {
  core::Result<core::Hash256> key = core::ParsePublicKeyHex(hex);
  if (!key.ok()) return key.status();
  return core::PublicKey::FromBytes(key->span());
}

core::Result<pb::Holder> ParseHolder(std::string_view text) {
  pb::Holder holder;
  // 64 characters can only be a key: organisation ids are at most 32, so a typo in a key is
  // reported as a bad key rather than as an unknown organisation.
  if (text.size() == 2 * core::kEd25519PublicKeySize) {
    core::Result<core::PublicKey> key = ParseHolderKey(text);
    if (!key.ok()) return key.status();
    holder.set_holder_key(core::ToString(key->span()));
    return holder;
  }
  const bool org_shaped = !text.empty() && text.size() <= core::limits::kMaxOrgIdBytes &&
                          std::all_of(text.begin(), text.end(), IsOrgIdChar);
  if (!org_shaped) {
    return core::Status::InvalidInput(
        Quoted(text) +
        " is neither a holder public key (64 hex digits, as `hallmark keygen` prints it) nor an "
        "organisation id (lower-case letters, digits and '-', at most 32 characters)");
  }
  holder.set_organization(std::string(text));
  return holder;
}

core::Result<pb::Attribute> ParseAttribute(std::string_view text) {
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == text.size()) {
    return core::Status::InvalidInput("attribute must be key=value with neither part empty, not " +
                                      Quoted(text));
  }
  pb::Attribute a;
  a.set_key(std::string(text.substr(0, eq)));
  a.set_value(std::string(text.substr(eq + 1)));
  return a;
}

core::Result<pb::DocumentDigest> DocumentDigestOfFile(std::string_view name_equals_path) {
  const size_t eq = name_equals_path.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == name_equals_path.size()) {
    return core::Status::InvalidInput("document must be name=FILE with neither part empty, not " +
                                      Quoted(name_equals_path));
  }
  const std::filesystem::path path(std::string(name_equals_path.substr(eq + 1)));
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return core::Status::NotFound("document file " + path.string() + " does not exist");
  }
  if (std::filesystem::is_directory(path, ec)) {
    return core::Status::IoError("document file " + path.string() + " is a folder");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::Status::IoError("cannot open document file " + path.string());
  // Hashed in chunks, so a large scan or video costs no more memory than a small one.
  core::Sha256 hasher;
  std::array<char, 64 * 1024> buffer{};
  while (in) {
    in.read(buffer.data(), buffer.size());
    const std::streamsize n = in.gcount();
    if (n > 0) hasher.Update(std::string_view(buffer.data(), static_cast<size_t>(n)));
  }
  if (in.bad()) return core::Status::IoError("cannot read document file " + path.string());
  pb::DocumentDigest d;
  d.set_name(std::string(name_equals_path.substr(0, eq)));
  d.set_sha256(std::string(hasher.Finish().view()));
  return d;
}

std::optional<core::RecordType> PayloadType(const pb::RecordPayload& payload) {
  switch (payload.body_case()) {
    case pb::RecordPayload::kRegister:
      return core::RecordType::kRegister;
    case pb::RecordPayload::kTransfer:
      return core::RecordType::kTransfer;
    case pb::RecordPayload::kAttest:
      return core::RecordType::kAttest;
    case pb::RecordPayload::kFlag:
      return core::RecordType::kFlag;
    case pb::RecordPayload::kClearFlag:
      return core::RecordType::kClearFlag;
    case pb::RecordPayload::kService:
      return core::RecordType::kService;
    case pb::RecordPayload::kDecommission:
      return core::RecordType::kDecommission;
    case pb::RecordPayload::kReassign:
      return core::RecordType::kReassign;
    case pb::RecordPayload::BODY_NOT_SET:
      break;
  }
  return std::nullopt;
}

}  // namespace hallmark::wallet
