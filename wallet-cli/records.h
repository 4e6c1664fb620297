#pragma once

// Building and signing custody records on the client side: the payload of each record type, the
// envelope, and the parsers that turn command-line words into payload fields. The `hallmark` CLI
// and the load generator (hallmark-bench) share these, so that both sign exactly what the node's
// rules expect. Nothing here touches the network or the disk except DocumentDigestOfFile.
//
// All functions are pure or read only their arguments; they are thread-safe.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/crypto/ed25519.h"
#include "core/item_id.h"
#include "core/records.h"
#include "core/status.h"
#include "proto/records.pb.h"

namespace hallmark::wallet {

// The fields every payload carries, whatever its body. Plain value type.
struct PayloadHeader {
  std::string chain_id;       // The network's chain id, as GET /v1/status reports it.
  core::ItemId item;          // Written into the payload in canonical form.
  std::string prev;           // Raw 32-byte id of the item's latest record; empty for register.
  uint64_t timestamp_ms = 0;  // Client wall clock, Unix milliseconds (see NowMs).
};

// One payload builder per record type. They copy the header and the body and check nothing:
// core::DecodeRecord (run by SignAndCheck and by the node) is the one judge of structure.
pb::RecordPayload BuildPayload(const PayloadHeader& header, const pb::Register& body);
pb::RecordPayload BuildPayload(const PayloadHeader& header, const pb::Transfer& body);
pb::RecordPayload BuildPayload(const PayloadHeader& header, const pb::Attest& body);
pb::RecordPayload BuildPayload(const PayloadHeader& header, const pb::Flag& body);
pb::RecordPayload BuildPayload(const PayloadHeader& header, const pb::ClearFlag& body);
pb::RecordPayload BuildPayload(const PayloadHeader& header, const pb::Service& body);
pb::RecordPayload BuildPayload(const PayloadHeader& header, const pb::Decommission& body);
pb::RecordPayload BuildPayload(const PayloadHeader& header, const pb::Reassign& body);

// Convenience bodies for callers that do not want to fill Protobuf messages by hand.
pb::Transfer TransferBody(const pb::Holder& to);
pb::Attest AttestBody(pb::Verdict verdict, std::string_view note);
pb::Flag FlagBody(pb::FlagKind kind, std::string_view note);
pb::ClearFlag ClearFlagBody(pb::FlagKind kind, std::string_view note);
pb::Service ServiceBody(pb::ServiceKind kind, std::string_view note);
pb::Decommission DecommissionBody(pb::DecommissionKind kind, std::string_view reason);
pb::Reassign ReassignBody(const core::PublicKey& new_holder, std::string_view reason);

// Serialises the payload deterministically and signs those exact bytes with `key`.
pb::Envelope SignEnvelope(const core::SigningKey& key, const pb::RecordPayload& payload);

// The record id: SHA-256 of the envelope's payload bytes, as the node computes it.
core::Hash256 RecordIdOf(const pb::Envelope& envelope);

// Signs and then runs the node's own structural checks (core::DecodeRecord with `chain_id`, and
// the signature policy) on the result, so that a record the node would refuse for its shape or
// size is caught before it is sent. Returns the rejection the node would give.
core::Result<pb::Envelope> SignAndCheck(const core::SigningKey& key,
                                        const pb::RecordPayload& payload,
                                        std::string_view chain_id);

// The client's wall clock in Unix milliseconds, for PayloadHeader::timestamp_ms.
uint64_t NowMs();

// --- Parsing command-line words -------------------------------------------------------------
// Each returns Status::InvalidInput with a message that lists the accepted words.

// "genuine" | "suspect".
core::Result<pb::Verdict> ParseVerdict(std::string_view word);
// "stolen" | "lost" | "counterfeit-suspected" | "recalled" (the names core::FlagKindName prints).
core::Result<pb::FlagKind> ParseFlagKind(std::string_view word);
// "repair" | "refurbishment" | "authentication".
core::Result<pb::ServiceKind> ParseServiceKind(std::string_view word);
// "destroyed" | "recycled".
core::Result<pb::DecommissionKind> ParseDecommissionKind(std::string_view word);

// The parsers above accept the words core::VerdictName and the like write.

// A holder as `hallmark keygen` prints a public key (64 hex digits, checked against the Ed25519
// acceptance policy) or else an organisation id from genesis (lower-case letters, digits and '-',
// at most 32 characters; whether it exists is for the genesis to say).
core::Result<pb::Holder> ParseHolder(std::string_view text);
// A holder key only: 64 hex digits that pass the acceptance policy.
core::Result<core::PublicKey> ParseHolderKey(std::string_view hex);

// "key=value": the key is everything before the first '='; neither may be empty.
core::Result<pb::Attribute> ParseAttribute(std::string_view text);

// "name=FILE": reads FILE and returns its SHA-256 under `name`. Errors: kInvalidInput for a
// malformed argument, kNotFound / kIoError when the file cannot be read.
core::Result<pb::DocumentDigest> DocumentDigestOfFile(std::string_view name_equals_path);

// The record type a payload carries, or nullopt when the body is not set.
std::optional<core::RecordType> PayloadType(const pb::RecordPayload& payload);

}  // namespace hallmark::wallet
