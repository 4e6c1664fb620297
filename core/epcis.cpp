#include "core/epcis.h"

#include <cstdio>
#include <utility>
#include <vector>

#include "core/bytes.h"
#include "core/item_id.h"
#include "core/records.h"

namespace hallmark::core {
namespace {

constexpr std::array<EpcisEventKind, kEpcisEventKinds> kAllKinds = {
    EpcisEventKind::kRegister,
    EpcisEventKind::kTransferToOrganization,
    EpcisEventKind::kTransferToConsumer,
    EpcisEventKind::kTransferConsumerToConsumer,
    EpcisEventKind::kAttest,
    EpcisEventKind::kFlagStolen,
    EpcisEventKind::kFlagLost,
    EpcisEventKind::kFlagCounterfeitSuspected,
    EpcisEventKind::kFlagRecalled,
    EpcisEventKind::kClearStolen,
    EpcisEventKind::kClearLost,
    EpcisEventKind::kClearCounterfeitSuspected,
    EpcisEventKind::kClearRecalled,
    EpcisEventKind::kServiceRepair,
    EpcisEventKind::kServiceRefurbishment,
    EpcisEventKind::kServiceAuthentication,
    EpcisEventKind::kDecommissionDestroyed,
    EpcisEventKind::kDecommissionRecycled,
    EpcisEventKind::kReassign,
};

// The mapping table of docs/epcis.md. Keep the two in step.
constexpr EpcisWords WordsFor(EpcisEventKind kind) {
  using A = EpcisAction;
  using R = DispositionRule;
  switch (kind) {
    case EpcisEventKind::kRegister:
      return {A::kAdd, "commissioning", R::kWord, "active", "", ""};
    case EpcisEventKind::kTransferToOrganization:
      return {A::kObserve, "shipping", R::kWord, "in_transit", "", ""};
    case EpcisEventKind::kTransferToConsumer:
      return {A::kObserve, "retail_selling", R::kWord, "retail_sold", "", ""};
    case EpcisEventKind::kTransferConsumerToConsumer:
      return {A::kObserve, "other", R::kWord, "retail_sold", "", ""};
    case EpcisEventKind::kAttest:
      return {A::kObserve, "inspecting", R::kUnchanged, "", "", ""};
    case EpcisEventKind::kFlagStolen:
      return {A::kObserve, "other", R::kWord, "stolen", "stolen", ""};
    case EpcisEventKind::kFlagLost:
      return {A::kObserve, "other", R::kWord, "unknown", "unknown", ""};
    case EpcisEventKind::kFlagCounterfeitSuspected:
      return {A::kObserve, "other", R::kUnchanged, "", "", ""};
    case EpcisEventKind::kFlagRecalled:
      return {A::kObserve, "other", R::kWord, "recalled", "recalled", ""};
    case EpcisEventKind::kClearStolen:
      return {A::kObserve, "other", R::kRestore, "", "", "stolen"};
    case EpcisEventKind::kClearLost:
      return {A::kObserve, "other", R::kRestore, "", "", "unknown"};
    case EpcisEventKind::kClearCounterfeitSuspected:
      return {A::kObserve, "other", R::kUnchanged, "", "", ""};
    case EpcisEventKind::kClearRecalled:
      return {A::kObserve, "other", R::kRestore, "", "", "recalled"};
    case EpcisEventKind::kServiceRepair:
    case EpcisEventKind::kServiceRefurbishment:
      return {A::kObserve, "repairing", R::kUnchanged, "", "", ""};
    case EpcisEventKind::kServiceAuthentication:
      return {A::kObserve, "inspecting", R::kUnchanged, "", "", ""};
    case EpcisEventKind::kDecommissionDestroyed:
      return {A::kDelete, "destroying", R::kWord, "destroyed", "", ""};
    case EpcisEventKind::kDecommissionRecycled:
      return {A::kDelete, "decommissioning", R::kWord, "inactive", "", ""};
    case EpcisEventKind::kReassign:
      return {A::kObserve, "other", R::kUnchanged, "", "", ""};
  }
  return {};
}

// Every row uses only CBV 2.0 words, and a row's words agree with its rule: checked when this
// file compiles, so a typo such as "stole" cannot reach a document.
constexpr bool RowIsValid(const EpcisWords& w) {
  if (!IsCbvBizStep(w.biz_step)) return false;
  if ((w.rule == DispositionRule::kWord) != !w.disposition.empty()) return false;
  if (!w.disposition.empty() && !IsCbvDisposition(w.disposition)) return false;
  if (!w.persistent_set.empty() && !IsCbvDisposition(w.persistent_set)) return false;
  if (!w.persistent_unset.empty() && !IsCbvDisposition(w.persistent_unset)) return false;
  // A flag that sets a persistent disposition also sets it as the disposition; only clearing
  // such a flag restores one.
  if (!w.persistent_set.empty() && w.persistent_set != w.disposition) return false;
  if ((w.rule == DispositionRule::kRestore) != !w.persistent_unset.empty()) return false;
  return true;
}
constexpr bool AllRowsValid() {
  for (EpcisEventKind k : kAllKinds) {
    if (!RowIsValid(WordsFor(k))) return false;
  }
  return true;
}
static_assert(AllRowsValid(), "a row of the EPCIS mapping uses a word outside CBV 2.0");
static_assert(IsCbvSourceDestType("possessing_party"));

constexpr std::string_view kPossessingParty = "possessing_party";
constexpr std::string_view kTimeZoneOffset = "+00:00";
// 9999-12-31T23:59:59.999Z, the last instant RFC 3339's four-digit year can write.
constexpr uint64_t kRfc3339MaxMs = 253'402'300'799'999;

// --- A small ordered JSON tree and its printer ------------------------------------------------
// Members print in the order they were added, so the document reads as EPCIS examples do
// (@context and type first) and the same input always gives the same bytes. Only the value
// kinds an EPCIS export needs: strings, arrays and objects.

struct Json {
  enum class Kind { kString, kArray, kObject };
  Kind kind = Kind::kObject;
  std::string text;
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;

  static Json String(std::string_view s) {
    Json j;
    j.kind = Kind::kString;
    j.text = std::string(s);
    return j;
  }
  static Json Array() {
    Json j;
    j.kind = Kind::kArray;
    return j;
  }
  static Json Object() { return Json(); }

  // REQUIRES: kind == kObject.
  Json& Set(std::string_view key, Json value) {
    HM_ASSERT(kind == Kind::kObject);
    members.emplace_back(std::string(key), std::move(value));
    return members.back().second;
  }
  void Set(std::string_view key, std::string_view value) { Set(key, String(value)); }
  // REQUIRES: kind == kArray.
  Json& Add(Json value) {
    HM_ASSERT(kind == Kind::kArray);
    items.push_back(std::move(value));
    return items.back();
  }
};

// Appends `j` at nesting `depth`; false if some string is not valid UTF-8.
bool Print(const Json& j, int depth, std::string* out) {
  auto newline = [&](int d) {
    *out += '\n';
    out->append(static_cast<size_t>(d) * 2, ' ');
  };
  auto quoted = [&](std::string_view s) {
    std::optional<std::string> q = JsonQuote(s);
    if (!q) return false;
    *out += *q;
    return true;
  };
  switch (j.kind) {
    case Json::Kind::kString:
      return quoted(j.text);
    case Json::Kind::kArray: {
      if (j.items.empty()) {
        *out += "[]";
        return true;
      }
      *out += '[';
      for (size_t i = 0; i < j.items.size(); ++i) {
        if (i > 0) *out += ',';
        newline(depth + 1);
        if (!Print(j.items[i], depth + 1, out)) return false;
      }
      newline(depth);
      *out += ']';
      return true;
    }
    case Json::Kind::kObject: {
      if (j.members.empty()) {
        *out += "{}";
        return true;
      }
      *out += '{';
      for (size_t i = 0; i < j.members.size(); ++i) {
        if (i > 0) *out += ',';
        newline(depth + 1);
        if (!quoted(j.members[i].first)) return false;
        *out += ": ";
        if (!Print(j.members[i].second, depth + 1, out)) return false;
      }
      newline(depth);
      *out += '}';
      return true;
    }
  }
  return false;
}

std::string Hex(std::string_view bytes) {
  return core::ToHex(bytes);
}

std::string HolderUri(std::string_view chain_id, const pb::Holder& holder) {
  switch (holder.kind_case()) {
    case pb::Holder::kOrganization:
      return OrganizationUri(chain_id, holder.organization());
    case pb::Holder::kHolderKey:
      return HolderKeyUri(holder.holder_key());
    case pb::Holder::KIND_NOT_SET:
      break;
  }
  return "";
}

std::string Term(std::string_view name) {
  return std::string(kHallmarkPrefix) + ":" + std::string(name);
}

// What the export knows of the item between events: who holds it, and the events whose
// disposition is still in force: the latest custody event's, and each flag that set one and is
// not cleared yet. Each carries its position in the history; the latest of them is the item's
// disposition.
struct Replay {
  struct Flag {
    pb::FlagKind kind;
    std::string_view disposition;
    size_t seq;
  };
  std::string custodian_uri;
  std::string_view custody_disposition;
  size_t custody_seq = 0;
  std::vector<Flag> flags;

  std::string_view CurrentDisposition() const {
    std::string_view current = custody_disposition;
    size_t seq = custody_seq;
    for (const Flag& f : flags) {
      if (f.seq > seq) {
        current = f.disposition;
        seq = f.seq;
      }
    }
    return current;
  }
  void Unflag(pb::FlagKind kind) {
    std::erase_if(flags, [&](const Flag& f) { return f.kind == kind; });
  }
};

core::Status Internal(std::string message) {
  return core::Status::Internal("EPCIS export: " + std::move(message));
}

}  // namespace

std::string_view EpcisActionName(EpcisAction action) {
  switch (action) {
    case EpcisAction::kAdd:
      return "ADD";
    case EpcisAction::kObserve:
      return "OBSERVE";
    case EpcisAction::kDelete:
      return "DELETE";
  }
  return "OBSERVE";
}

EpcisWords EpcisWordsFor(EpcisEventKind kind) {
  return WordsFor(kind);
}

std::string_view EpcisEventKindName(EpcisEventKind kind) {
  switch (kind) {
    case EpcisEventKind::kRegister:
      return "register";
    case EpcisEventKind::kTransferToOrganization:
      return "transfer_to_organization";
    case EpcisEventKind::kTransferToConsumer:
      return "transfer_to_consumer";
    case EpcisEventKind::kTransferConsumerToConsumer:
      return "transfer_consumer_to_consumer";
    case EpcisEventKind::kAttest:
      return "attest";
    case EpcisEventKind::kFlagStolen:
      return "flag_stolen";
    case EpcisEventKind::kFlagLost:
      return "flag_lost";
    case EpcisEventKind::kFlagCounterfeitSuspected:
      return "flag_counterfeit_suspected";
    case EpcisEventKind::kFlagRecalled:
      return "flag_recalled";
    case EpcisEventKind::kClearStolen:
      return "clear_stolen";
    case EpcisEventKind::kClearLost:
      return "clear_lost";
    case EpcisEventKind::kClearCounterfeitSuspected:
      return "clear_counterfeit_suspected";
    case EpcisEventKind::kClearRecalled:
      return "clear_recalled";
    case EpcisEventKind::kServiceRepair:
      return "service_repair";
    case EpcisEventKind::kServiceRefurbishment:
      return "service_refurbishment";
    case EpcisEventKind::kServiceAuthentication:
      return "service_authentication";
    case EpcisEventKind::kDecommissionDestroyed:
      return "decommission_destroyed";
    case EpcisEventKind::kDecommissionRecycled:
      return "decommission_recycled";
    case EpcisEventKind::kReassign:
      return "reassign";
  }
  return "unknown";
}

core::Result<EpcisEventKind> ClassifyStep(const core::CustodyStep& step) {
  const pb::RecordPayload& p = step.payload;
  auto flag_kind = [&](pb::FlagKind kind, bool set) -> core::Result<EpcisEventKind> {
    switch (kind) {
      case pb::STOLEN:
        return set ? EpcisEventKind::kFlagStolen : EpcisEventKind::kClearStolen;
      case pb::LOST:
        return set ? EpcisEventKind::kFlagLost : EpcisEventKind::kClearLost;
      case pb::COUNTERFEIT_SUSPECTED:
        return set ? EpcisEventKind::kFlagCounterfeitSuspected
                   : EpcisEventKind::kClearCounterfeitSuspected;
      case pb::RECALLED:
        return set ? EpcisEventKind::kFlagRecalled : EpcisEventKind::kClearRecalled;
      case pb::FLAG_UNSPECIFIED:
      case pb::FlagKind_INT_MIN_SENTINEL_DO_NOT_USE_:
      case pb::FlagKind_INT_MAX_SENTINEL_DO_NOT_USE_:
        break;
    }
    return Internal("a verified record has flag kind " + std::to_string(kind));
  };
  switch (step.type) {
    case core::RecordType::kRegister:
      return EpcisEventKind::kRegister;
    case core::RecordType::kTransfer:
      if (p.transfer().to().has_organization()) return EpcisEventKind::kTransferToOrganization;
      return step.author.empty() ? EpcisEventKind::kTransferConsumerToConsumer
                                 : EpcisEventKind::kTransferToConsumer;
    case core::RecordType::kAttest:
      return EpcisEventKind::kAttest;
    case core::RecordType::kFlag:
      return flag_kind(p.flag().kind(), /*set=*/true);
    case core::RecordType::kClearFlag:
      return flag_kind(p.clear_flag().kind(), /*set=*/false);
    case core::RecordType::kService:
      switch (p.service().kind()) {
        case pb::REPAIR:
          return EpcisEventKind::kServiceRepair;
        case pb::REFURBISHMENT:
          return EpcisEventKind::kServiceRefurbishment;
        case pb::AUTHENTICATION_SERVICE:
          return EpcisEventKind::kServiceAuthentication;
        case pb::SERVICE_UNSPECIFIED:
        case pb::ServiceKind_INT_MIN_SENTINEL_DO_NOT_USE_:
        case pb::ServiceKind_INT_MAX_SENTINEL_DO_NOT_USE_:
          break;
      }
      return Internal("a verified record has service kind " + std::to_string(p.service().kind()));
    case core::RecordType::kDecommission:
      switch (p.decommission().kind()) {
        case pb::DESTROYED:
          return EpcisEventKind::kDecommissionDestroyed;
        case pb::RECYCLED:
          return EpcisEventKind::kDecommissionRecycled;
        case pb::DECOMMISSION_UNSPECIFIED:
        case pb::DecommissionKind_INT_MIN_SENTINEL_DO_NOT_USE_:
        case pb::DecommissionKind_INT_MAX_SENTINEL_DO_NOT_USE_:
          break;
      }
      return Internal("a verified record has decommission kind " +
                      std::to_string(p.decommission().kind()));
    case core::RecordType::kReassign:
      return EpcisEventKind::kReassign;
  }
  return Internal("unknown record type");
}

std::optional<std::string> Rfc3339UtcMillis(uint64_t unix_ms) {
  if (unix_ms > kRfc3339MaxMs) return std::nullopt;
  const uint64_t ms = unix_ms % 1000;
  const uint64_t total_s = unix_ms / 1000;
  const uint64_t sod = total_s % 86'400;
  // Days since 1970-01-01 to a civil date (H. Hinnant, "chrono-Compatible Low-Level Date
  // Algorithms", civil_from_days), for non-negative day counts.
  const int64_t z = static_cast<int64_t>(total_s / 86'400) + 719'468;
  const int64_t era = z / 146'097;
  const int64_t doe = z - era * 146'097;
  const int64_t yoe = (doe - doe / 1'460 + doe / 36'524 - doe / 146'096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  char buf[32];
  const int n = std::snprintf(
      buf, sizeof(buf), "%04lld-%02lld-%02lldT%02llu:%02llu:%02llu.%03lluZ",
      static_cast<long long>(year), static_cast<long long>(month), static_cast<long long>(day),
      static_cast<unsigned long long>(sod / 3600), static_cast<unsigned long long>(sod / 60 % 60),
      static_cast<unsigned long long>(sod % 60), static_cast<unsigned long long>(ms));
  HM_ASSERT(n == 24);
  return std::string(buf, static_cast<size_t>(n));
}

std::optional<std::string> JsonQuote(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const size_t n = Utf8SequenceLength(text, i);
      if (n == 0) return std::nullopt;
      out.append(text.substr(i, n));
      i += n;
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
  return out;
}

std::string Base64UrlNoPad(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  size_t i = 0;
  auto at = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
    out += kAlphabet[v & 63];
  }
  if (bytes.size() - i == 1) {
    const uint32_t v = at(i) << 16;
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
  } else if (bytes.size() - i == 2) {
    const uint32_t v = at(i) << 16 | at(i + 1) << 8;
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
  }
  return out;
}

std::string EpcisEventId(const core::Hash256& record_id) {
  return "ni:///sha-256;" + Base64UrlNoPad(record_id.view());
}

std::string OrganizationUri(std::string_view chain_id, std::string_view org_id) {
  // Genesis restricts both to [a-z0-9._-], all allowed in a URN's NSS as they are.
  return "urn:hallmark:org:" + std::string(chain_id) + ":" + std::string(org_id);
}

std::string HolderKeyUri(std::string_view key_bytes) {
  return "urn:hallmark:key:" + Hex(key_bytes);
}

core::Result<std::string> EpcisDocumentJson(const core::Network& network,
                                            const core::ProvenItem& item,
                                            uint64_t creation_time_ms) {
  if (!item.state || item.steps.empty()) {
    return core::Status::InvalidInput(
        "item " + item.item_id + " is not registered (proven at height " +
        std::to_string(item.height) + "): it has no history to export");
  }
  core::Result<core::ItemId> id = core::ParseCanonicalItemId(item.item_id);
  if (!id.ok()) return Internal("the proven item id does not parse: " + id.status().message());
  const std::string epc = id->DigitalLinkUrl();
  const std::string& chain_id = network.chain_id();

  auto time = [](uint64_t ms, std::string_view what) -> core::Result<std::string> {
    std::optional<std::string> t = Rfc3339UtcMillis(ms);
    if (!t) {
      return core::Status::InvalidInput(std::string(what) + " (" + std::to_string(ms) +
                                        " ms) is past the year 9999 and cannot be written in "
                                        "RFC 3339");
    }
    return std::move(*t);
  };

  Json doc = Json::Object();
  Json& context = doc.Set("@context", Json::Array());
  context.Add(Json::String(kEpcisContextUrl));
  Json prefix = Json::Object();
  prefix.Set(kHallmarkPrefix, kHallmarkNamespace);
  context.Add(std::move(prefix));
  doc.Set("type", "EPCISDocument");
  doc.Set("schemaVersion", "2.0");
  core::Result<std::string> created = time(creation_time_ms, "the creation time");
  if (!created.ok()) return created.status();
  doc.Set("creationDate", *created);

  // What was verified, so a reader can tell which ledger state the events come from.
  core::Result<std::string> header_time = time(item.header_time_ms, "the header time");
  if (!header_time.ok()) return header_time.status();
  Json& proof = doc.Set(Term("verification"), Json::Object());
  proof.Set(Term("item"), item.item_id);
  proof.Set(Term("chainId"), chain_id);
  proof.Set(Term("genesisHash"), network.hash().Hex());
  proof.Set(Term("height"), std::to_string(item.height));
  proof.Set(Term("blockHash"), item.block_hash.Hex());
  proof.Set(Term("stateRoot"), item.state_root.Hex());
  proof.Set(Term("headerTime"), *header_time);
  proof.Set(Term("signers"), std::to_string(item.signers));

  Json& body = doc.Set("epcisBody", Json::Object());
  Json& events = body.Set("eventList", Json::Array());

  Replay replay;
  for (size_t i = 0; i < item.steps.size(); ++i) {
    const core::CustodyStep& step = item.steps[i];
    const pb::RecordPayload& p = step.payload;
    core::Result<EpcisEventKind> kind = ClassifyStep(step);
    if (!kind.ok()) return kind.status();
    const EpcisWords words = WordsFor(*kind);
    const std::string record = "record " + std::to_string(i + 1);

    Json& ev = events.Add(Json::Object());
    ev.Set("type", "ObjectEvent");
    core::Result<std::string> event_time = time(step.timestamp_ms, record + "'s timestamp");
    if (!event_time.ok()) return event_time.status();
    ev.Set("eventTime", *event_time);
    ev.Set("eventTimeZoneOffset", kTimeZoneOffset);
    ev.Set("eventID", EpcisEventId(step.record_id));
    ev.Set("epcList", Json::Array()).Add(Json::String(epc));
    ev.Set("action", EpcisActionName(words.action));
    ev.Set("bizStep", words.biz_step);

    // The disposition, and the replayed state it depends on.
    std::string_view disposition;
    switch (words.rule) {
      case DispositionRule::kWord:
        disposition = words.disposition;
        if (words.persistent_set.empty()) {
          replay.custody_disposition = words.disposition;
          replay.custody_seq = i;
        } else {
          replay.Unflag(p.flag().kind());
          replay.flags.push_back({p.flag().kind(), words.disposition, i});
        }
        break;
      case DispositionRule::kUnchanged:
        break;
      case DispositionRule::kRestore:
        replay.Unflag(p.clear_flag().kind());
        disposition = replay.CurrentDisposition();
        break;
    }
    if (!disposition.empty()) {
      HM_ASSERT(IsCbvDisposition(disposition));
      ev.Set("disposition", disposition);
    }
    if (!words.persistent_set.empty() || !words.persistent_unset.empty()) {
      Json& persistent = ev.Set("persistentDisposition", Json::Object());
      if (!words.persistent_set.empty()) {
        persistent.Set("set", Json::Array()).Add(Json::String(words.persistent_set));
      }
      if (!words.persistent_unset.empty()) {
        persistent.Set("unset", Json::Array()).Add(Json::String(words.persistent_unset));
      }
    }

    // Custody changes: who had the item, who has it now.
    std::string from;
    std::string to;
    switch (step.type) {
      case core::RecordType::kRegister: {
        const pb::Holder& c = p.register_().custodian();
        to = c.kind_case() != pb::Holder::KIND_NOT_SET ? HolderUri(chain_id, c)
                                                       : OrganizationUri(chain_id, step.author);
        break;
      }
      case core::RecordType::kTransfer:
        from = replay.custodian_uri;
        to = HolderUri(chain_id, p.transfer().to());
        break;
      case core::RecordType::kReassign:
        from = replay.custodian_uri;
        to = HolderKeyUri(p.reassign().new_holder_key());
        break;
      case core::RecordType::kAttest:
      case core::RecordType::kFlag:
      case core::RecordType::kClearFlag:
      case core::RecordType::kService:
      case core::RecordType::kDecommission:
        break;
    }
    if (!from.empty()) {
      Json source = Json::Object();
      source.Set("type", kPossessingParty);
      source.Set("source", from);
      ev.Set("sourceList", Json::Array()).Add(std::move(source));
    }
    if (!to.empty()) {
      Json destination = Json::Object();
      destination.Set("type", kPossessingParty);
      destination.Set("destination", to);
      ev.Set("destinationList", Json::Array()).Add(std::move(destination));
      replay.custodian_uri = to;
    }

    // Instance master data: what the brand registered.
    if (step.type == core::RecordType::kRegister &&
        (p.register_().attributes_size() > 0 || p.register_().documents_size() > 0)) {
      Json& ilmd = ev.Set("ilmd", Json::Object());
      if (p.register_().attributes_size() > 0) {
        Json& attributes = ilmd.Set(Term("attributes"), Json::Array());
        for (const pb::Attribute& a : p.register_().attributes()) {
          Json& entry = attributes.Add(Json::Object());
          entry.Set(Term("key"), a.key());
          entry.Set(Term("value"), a.value());
        }
      }
      if (p.register_().documents_size() > 0) {
        Json& documents = ilmd.Set(Term("documents"), Json::Array());
        for (const pb::DocumentDigest& d : p.register_().documents()) {
          Json& entry = documents.Add(Json::Object());
          entry.Set(Term("name"), d.name());
          entry.Set(Term("sha256"), Hex(d.sha256()));
        }
      }
    }

    // The record itself, in Hallmark's terms.
    ev.Set(Term("recordId"), step.record_id.Hex());
    ev.Set(Term("recordType"), core::RecordTypeName(step.type));
    ev.Set(Term("signedBy"), step.author.empty() ? HolderKeyUri(step.signer.view())
                                                 : OrganizationUri(chain_id, step.author));
    ev.Set(Term("signerKey"), step.signer.Hex());
    auto note = [&](std::string_view name, const std::string& text) {
      if (!text.empty()) ev.Set(Term(name), text);
    };
    switch (step.type) {
      case core::RecordType::kAttest:
        ev.Set(Term("verdict"), core::VerdictName(p.attest().verdict()));
        note("note", p.attest().note());
        break;
      case core::RecordType::kFlag:
        ev.Set(Term("flag"), core::FlagKindName(p.flag().kind()));
        note("note", p.flag().note());
        break;
      case core::RecordType::kClearFlag:
        ev.Set(Term("flag"), core::FlagKindName(p.clear_flag().kind()));
        note("note", p.clear_flag().note());
        break;
      case core::RecordType::kService:
        ev.Set(Term("service"), core::ServiceKindName(p.service().kind()));
        note("note", p.service().note());
        break;
      case core::RecordType::kDecommission:
        ev.Set(Term("decommission"), core::DecommissionKindName(p.decommission().kind()));
        note("reason", p.decommission().reason());
        break;
      case core::RecordType::kReassign:
        note("reason", p.reassign().reason());
        break;
      case core::RecordType::kRegister:
      case core::RecordType::kTransfer:
        break;
    }
  }

  std::string out;
  if (!Print(doc, 0, &out)) {
    // Verified records hold only valid UTF-8 (proto3 strings); this is our bug if it happens.
    return Internal("a string in the history is not valid UTF-8");
  }
  return out;
}

}  // namespace hallmark::core
