#pragma once

// An item's proven chain of custody as a GS1 EPCIS 2.0 JSON-LD document: one ObjectEvent per
// custody record. The mapping (which action, bizStep and disposition each record becomes, and
// where the rest of the record goes) is specified in docs/epcis.md; this is its implementation.
// Pure: no I/O, no clock (the document's creation time is an argument). Thread-safe.
//
// The input is a core::ProvenItem, which only core::VerifyProofBundle makes, so an export can
// hold nothing that was not checked against genesis. Used by `hallmark export` and by hallmarkd's
// GET /v1/items/{id}/epcis: one implementation, so both write the same document.

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/genesis.h"
#include "core/proof_bundle.h"
#include "core/status.h"

namespace hallmark::core {

// The EPCIS 2.0 JSON-LD context every document names first.
inline constexpr std::string_view kEpcisContextUrl =
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld";
// Hallmark's own terms: the JSON-LD prefix declared in @context, and the namespace it stands
// for. An extension field is "hallmark:<name>", i.e. the IRI urn:hallmark:vocab:<name>.
inline constexpr std::string_view kHallmarkPrefix = "hallmark";
inline constexpr std::string_view kHallmarkNamespace = "urn:hallmark:vocab:";

// The CBV 2.0 standard vocabulary, bare words as EPCIS 2.0 JSON writes them: GS1 Core Business
// Vocabulary 2.0 (the BizStep, Disposition and SourceDestType vocabularies), in the order of the
// enumerations of GS1's EPCIS 2.0 JSON schema. That schema also accepts any URI outside the
// GS1 namespaces in these places, so a misspelt word would pass it as a "private URI"; every
// word this exporter writes is therefore checked against these lists (static_asserts in
// epcis.cpp, and tests).
inline constexpr std::array<std::string_view, 41> kCbvBizSteps = {
    "accepting",
    "arriving",
    "assembling",
    "collecting",
    "commissioning",
    "consigning",
    "creating_class_instance",
    "cycle_counting",
    "decommissioning",
    "departing",
    "destroying",
    "disassembling",
    "dispensing",
    "encoding",
    "entering_exiting",
    "holding",
    "inspecting",
    "installing",
    "killing",
    "loading",
    "other",
    "packing",
    "picking",
    "receiving",
    "removing",
    "repackaging",
    "repairing",
    "replacing",
    "reserving",
    "retail_selling",
    "shipping",
    "staging_outbound",
    "stock_taking",
    "stocking",
    "storing",
    "transporting",
    "unloading",
    "unpacking",
    "void_shipping",
    "sensor_reporting",
    "sampling",
};
inline constexpr std::array<std::string_view, 33> kCbvDispositions = {
    "active",
    "container_closed",
    "damaged",
    "destroyed",
    "dispensed",
    "disposed",
    "encoded",
    "expired",
    "in_progress",
    "in_transit",
    "inactive",
    "no_pedigree_match",
    "non_sellable_other",
    "partially_dispensed",
    "recalled",
    "reserved",
    "retail_sold",
    "returned",
    "sellable_accessible",
    "sellable_not_accessible",
    "stolen",
    "unknown",
    "available",
    "completeness_verified",
    "completeness_inferred",
    "conformant",
    "container_open",
    "mismatch_instance",
    "mismatch_class",
    "mismatch_quantity",
    "needs_replacement",
    "non_conformant",
    "unavailable",
};
inline constexpr std::array<std::string_view, 3> kCbvSourceDestTypes = {
    "owning_party",
    "possessing_party",
    "location",
};

constexpr bool IsCbvBizStep(std::string_view word) {
  return std::find(kCbvBizSteps.begin(), kCbvBizSteps.end(), word) != kCbvBizSteps.end();
}
constexpr bool IsCbvDisposition(std::string_view word) {
  return std::find(kCbvDispositions.begin(), kCbvDispositions.end(), word) !=
         kCbvDispositions.end();
}
constexpr bool IsCbvSourceDestType(std::string_view word) {
  return std::find(kCbvSourceDestTypes.begin(), kCbvSourceDestTypes.end(), word) !=
         kCbvSourceDestTypes.end();
}

// EPCIS ObjectEvent actions.
enum class EpcisAction { kAdd, kObserve, kDelete };
std::string_view EpcisActionName(EpcisAction action);  // "ADD", "OBSERVE", "DELETE"

// What a custody record becomes: one value per row of docs/epcis.md's mapping table.
enum class EpcisEventKind {
  kRegister,
  kTransferToOrganization,      // To a genesis organisation, from anyone.
  kTransferToConsumer,          // From an organisation to a holder key: a retail sale.
  kTransferConsumerToConsumer,  // From a holder key to another holder key.
  kAttest,
  kFlagStolen,
  kFlagLost,
  kFlagCounterfeitSuspected,
  kFlagRecalled,
  kClearStolen,
  kClearLost,
  kClearCounterfeitSuspected,
  kClearRecalled,
  kServiceRepair,
  kServiceRefurbishment,
  kServiceAuthentication,
  kDecommissionDestroyed,
  kDecommissionRecycled,
  kReassign,
};
inline constexpr size_t kEpcisEventKinds = 19;

// How an event's `disposition` is chosen.
enum class DispositionRule {
  kWord,       // EpcisWords::disposition.
  kUnchanged,  // Omitted: in EPCIS an absent disposition leaves the item's disposition as it was.
  kRestore,    // Clearing a flag that set one: the disposition of the latest event whose
               // disposition is still in force (a still-set flag's, else the latest custody
               // event's), as if the cleared flag had never been set.
};

// The CBV words of one kind of event. Words are bare CBV 2.0 words; empty means none.
struct EpcisWords {
  EpcisAction action = EpcisAction::kObserve;
  std::string_view biz_step;
  DispositionRule rule = DispositionRule::kUnchanged;
  std::string_view disposition;       // With kWord.
  std::string_view persistent_set;    // persistentDisposition.set (a flag that stays until
                                      // cleared), or empty.
  std::string_view persistent_unset;  // persistentDisposition.unset (its clearing), or empty.
};

EpcisWords EpcisWordsFor(EpcisEventKind kind);
std::string_view EpcisEventKindName(EpcisEventKind kind);  // "transfer_to_consumer", …

// The kind of event a proven custody step becomes. Fails (kInternal) only for a body that
// verification cannot let through (an unspecified flag, service or decommission kind).
core::Result<EpcisEventKind> ClassifyStep(const core::CustodyStep& step);

// "2023-11-14T22:13:20.000Z": RFC 3339 in UTC with milliseconds, the form of EPCIS eventTime.
// nullopt past 9999-12-31T23:59:59.999Z, which RFC 3339 cannot write.
std::optional<std::string> Rfc3339UtcMillis(uint64_t unix_ms);

// `text` as a JSON string literal with its quotes (RFC 8259 §7): '"' and '\\' escaped, control
// characters as \b \f \n \r \t or \u00XX, everything else (UTF-8 included) as it is. nullopt
// when `text` is not valid UTF-8, which JSON cannot carry.
std::optional<std::string> JsonQuote(std::string_view text);

// RFC 4648 §5 base64url without padding, as RFC 6920 `ni` URIs carry digests.
std::string Base64UrlNoPad(std::string_view bytes);

// The event id of a record: "ni:///sha-256;<base64url record id>" (RFC 6920). The record id is
// SHA-256 of the signed payload bytes, so the URI names exactly what the author signed.
std::string EpcisEventId(const core::Hash256& record_id);

// The URIs Hallmark parties are named by in sourceList, destinationList and hallmark:signedBy:
// "urn:hallmark:org:<chain id>:<organisation id>" and "urn:hallmark:key:<64 hex digits>".
std::string OrganizationUri(std::string_view chain_id, std::string_view org_id);
std::string HolderKeyUri(std::string_view key_bytes);

// The EPCIS 2.0 document for `item`, pretty-printed JSON (two-space indent, no trailing
// newline). `network` is the genesis the item was verified against; `creation_time_ms` becomes
// creationDate. Fails with kInvalidInput for an item that was never registered (there is no
// history to export) or a timestamp RFC 3339 cannot write, kInternal if JSON encoding fails.
core::Result<std::string> EpcisDocumentJson(const core::Network& network,
                                            const core::ProvenItem& item,
                                            uint64_t creation_time_ms);

}  // namespace hallmark::core
