#pragma once

// Reading a GS1 EPCIS 2.0 JSON-LD document and turning its events into signed custody records:
// the other direction of core/epcis.h. Three steps, kept apart so that each can be tested
// and so that submission may go through another engine later:
//
//   1. ParseEpcisDocument: the JSON through Protobuf's JSON mapping (core::ParseJsonStrict into
//      a google.protobuf.Struct, bounded in bytes, depth and values), then the whole document
//      validated: structure, every event's required fields and their types, dates, actions,
//      CBV words, EPC syntax and check digits. One error anywhere and the document is refused
//      whole, every error listed with the place it is at.
//   2. PlanImport: every event mapped, in document order, to the records a key may sign (or to
//      "already there", or to a refusal naming the event and why), with `prev` chained locally
//      and each record checked against the custody rules on the state it will meet.
//   3. Submission (wallet-cli/import_commands.h): the planned records, in order.
//
// The mapping is docs/epcis.md's, "Import". Pure: no I/O, no clock. Thread-safe.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/crypto/ed25519.h"
#include "core/genesis.h"
#include "core/item_id.h"
#include "core/json.h"
#include "core/records.h"
#include "core/status.h"
#include "proto/api.pb.h"
#include "proto/records.pb.h"

namespace google::protobuf {
class Struct;
}

namespace hallmark::wallet {

// Bounds on what one import takes. Past them the document is refused, naming the bound.
// The file: 8 MiB holds about 10,000 exported events (about 800 bytes and 25 values each);
// GS1's own examples nest extension members about 12 levels deep. Protobuf spends about 60-100
// bytes per value (core/limits.h), so 400,000 values stay under about 40 MB.
inline constexpr size_t kImportDocumentBytesMax = 8 * 1024 * 1024;
inline constexpr core::JsonLimits kImportJsonLimits{
    .bytes_max = kImportDocumentBytesMax, .depth_max = 32, .values_max = 400'000};
inline constexpr size_t kImportEventsMax = 10'000;
inline constexpr size_t kImportEpcsPerEventMax = 1'000;
// Distinct items one import may touch (each is one look-up on the node).
inline constexpr size_t kImportItemsMax = 10'000;
// How many validation errors a refusal lists before "and N more".
inline constexpr size_t kImportErrorsListedMax = 25;

// A party of a sourceList or destinationList entry, as written.
struct EpcisParty {
  std::string type;  // The CBV word ("possessing_party", …) or the URI as written.
  std::string uri;
};

// One event of a validated document, with what the mapping needs already read and checked.
// Value type; `raw` points into the EpcisDocument that made it.
struct EpcisEvent {
  size_t index = 0;           // In epcisBody.eventList.
  std::string event_id;       // As written; empty when absent.
  std::string type;           // "ObjectEvent", "AggregationEvent", … or an extension's type.
  std::string action;         // "ADD", "OBSERVE", "DELETE"; empty when the type has none.
  std::string biz_step;       // A bare CBV word (a cbv: CURIE or IRI is read as its word), or the
                              // URI as written; empty when absent.
  std::string disposition;    // The same.
  int64_t event_time_ms = 0;  // Unix ms; negative before 1970.
  std::vector<core::ItemId> items;      // The epcList's SGTINs, in order, without repeats.
  std::vector<std::string> other_epcs;  // epcList entries that are not SGTINs, as written.
  bool has_quantities = false;          // A quantityList with entries.
  std::vector<EpcisParty> sources;
  std::vector<EpcisParty> destinations;
  const google::protobuf::Struct* raw = nullptr;

  // "event 3 (eventID urn:uuid:…)" or "event 3": how reports name it (1-based).
  std::string Name() const;
};

// A parsed and validated EPCIS document. Movable, not copyable (events point into it).
class EpcisDocument {
 public:
  EpcisDocument();
  ~EpcisDocument();
  EpcisDocument(EpcisDocument&&) noexcept;
  EpcisDocument& operator=(EpcisDocument&&) noexcept;

  const std::vector<EpcisEvent>& events() const { return events_; }
  // The IRI a term such as "hallmark:recordType" stands for, by the prefixes the document's
  // @context declares (objects in it); a term with no declared prefix stays as written.
  std::string Expand(std::string_view term) const;
  // Every item the events name, canonical, in order of first appearance.
  std::vector<std::string> ItemIds() const;

 private:
  friend core::Result<EpcisDocument> ParseEpcisDocument(std::string_view json);
  std::unique_ptr<google::protobuf::Struct> root_;
  std::map<std::string, std::string, std::less<>> prefixes_;
  std::vector<EpcisEvent> events_;
};

// Parses and validates `json`. Fails with kInvalidInput; the message lists every error found
// (at most kImportErrorsListedMax, one per line), each naming its place:
// `eventList[2] (eventID …): eventTime "yesterday" is not an RFC 3339 date-time`.
core::Result<EpcisDocument> ParseEpcisDocument(std::string_view json);

// What the node said of an item before the import: GET /v1/items/{id} (state and history).
using ItemStates = std::map<std::string, pb::ItemResponse, std::less<>>;

enum class ImportOutcome {
  kPlanned,       // A record is planned: PlannedRecord at `record`.
  kAlreadyThere,  // The ledger (or an earlier event of this file) already holds it.
  kRefused,       // Not mappable, not signable by this key, or against the custody rules.
};

// What became of one item of one event.
struct EventResult {
  size_t event_index = 0;
  std::string event_name;  // EpcisEvent::Name().
  std::string item;        // Canonical; empty when the event names no item.
  ImportOutcome outcome = ImportOutcome::kRefused;
  core::RecordType type = core::RecordType::kRegister;  // kPlanned / kAlreadyThere.
  std::string reason;                                   // kRefused; detail otherwise.
  size_t record = 0;                                    // kPlanned: index into ImportPlan::records.
};

struct PlannedRecord {
  size_t event_index = 0;
  std::string item;  // Canonical.
  core::RecordType type = core::RecordType::kRegister;
  pb::Envelope envelope;  // Signed; prev chained on the item's previous record.
  core::Hash256 record_id;
};

struct ImportPlan {
  std::vector<PlannedRecord> records;  // In document order.
  std::vector<EventResult> results;    // One per (event, item), in document order.
  size_t Count(ImportOutcome outcome) const;
};

struct PlanContext {
  const core::Network* network = nullptr;
  const core::SigningKey* key = nullptr;
  const ItemStates* items = nullptr;  // Every item of EpcisDocument::ItemIds(); missing ones
                                      // are taken as never registered.
  uint64_t height = 0;                // The node's committed height.
  uint64_t now_ms = 0;                // The time the custody rules check timestamps against.
};

// Maps every event of `doc` (docs/epcis.md, "Import"): signs what `context.key` may sign, with
// each record's timestamp the event's time and `prev` the item's latest record (on the ledger,
// or planned earlier in this file), checks each against the custody rules (core::ValidateRecord)
// on the item's state as it will be then, and refuses everything else with a reason. An event
// whose record the ledger already holds (same type, signer, body and time; for a registration:
// registered by this key's brand with the same attributes) is "already there".
// REQUIRES: every pointer in `context` is set.
ImportPlan PlanImport(const EpcisDocument& doc, const PlanContext& context);

}  // namespace hallmark::wallet
