#include "wallet-cli/epcis_import.h"

#include <google/protobuf/struct.pb.h>

#include <algorithm>
#include <array>
#include <optional>
#include <set>
#include <utility>

#include "core/bytes.h"
#include "core/codec.h"
#include "core/epcis.h"
#include "core/json.h"
#include "wallet-cli/records.h"

namespace hallmark::wallet {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;

// How much of a value an error message quotes.
constexpr size_t kQuotedBytesMax = 80;

// GS1's JSON-LD contexts for EPCIS 2.0: the standard's, and the repository's copies that GS1's
// own examples name. Bare CBV words only mean what CBV says under one of them.
constexpr std::array<std::string_view, 4> kGs1Contexts = {
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
    "https://ref.gs1.org/standards/epcis/epcis-context.jsonld",
    "https://gs1.github.io/EPCIS/epcis-context.jsonld",
    "https://gs1.github.io/EPCIS/epcis-context-simple.jsonld",
};
// The namespace of CBV 2.0 terms (the `cbv` prefix of GS1's context): "<ns><Vocab>-<word>".
constexpr std::string_view kCbvNamespace = "https://ref.gs1.org/cbv/";
constexpr std::string_view kCbvPrefix = "cbv:";

constexpr std::array<std::string_view, 5> kStandardEventTypes = {
    "ObjectEvent", "AggregationEvent", "AssociationEvent", "TransformationEvent",
    "TransactionEvent"};

// Members EPCIS 2.0 defines (GS1's schema): everything else must be a URI or compact IRI.
constexpr std::array<std::string_view, 10> kDocumentMembers = {
    "@context",           "id",     "type",     "schemaVersion", "creationDate",
    "instanceIdentifier", "sender", "receiver", "epcisHeader",   "epcisBody"};
constexpr std::array<std::string_view, 30> kEventMembers = {"@context",
                                                            "type",
                                                            "eventTime",
                                                            "recordTime",
                                                            "eventTimeZoneOffset",
                                                            "eventID",
                                                            "certificationInfo",
                                                            "errorDeclaration",
                                                            "action",
                                                            "epcList",
                                                            "quantityList",
                                                            "bizStep",
                                                            "disposition",
                                                            "persistentDisposition",
                                                            "readPoint",
                                                            "bizLocation",
                                                            "bizTransactionList",
                                                            "sourceList",
                                                            "destinationList",
                                                            "sensorElementList",
                                                            "ilmd",
                                                            "parentID",
                                                            "childEPCs",
                                                            "childQuantityList",
                                                            "inputEPCList",
                                                            "inputQuantityList",
                                                            "outputEPCList",
                                                            "outputQuantityList",
                                                            "transformationID",
                                                            "id"};

template <size_t N>
bool In(const std::array<std::string_view, N>& list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

std::string Quote(std::string_view s) {
  std::string q = s.size() <= kQuotedBytesMax ? std::string(s)
                                              : std::string(s.substr(0, kQuotedBytesMax)) + "…";
  return "\"" + q + "\"";
}

const Value* Member(const Struct& s, std::string_view key) {
  auto it = s.fields().find(std::string(key));
  return it == s.fields().end() ? nullptr : &it->second;
}

std::string_view KindOf(const Value& v) {
  switch (v.kind_case()) {
    case Value::kStringValue:
      return "a string";
    case Value::kNumberValue:
      return "a number";
    case Value::kBoolValue:
      return "true or false";
    case Value::kStructValue:
      return "an object";
    case Value::kListValue:
      return "an array";
    case Value::kNullValue:
    case Value::KIND_NOT_SET:
      break;
  }
  return "null";
}

// RFC 3986's URI (absolute: a scheme, then no space, control, non-ASCII or character RFC 3986
// excludes). A compact IRI such as "ext1:float" is one too, as GS1's schema reads it.
bool IsUri(std::string_view s) {
  const size_t colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!alpha(s[0])) return false;
  for (size_t i = 1; i < colon; ++i) {
    const char c = s[i];
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.') return false;
  }
  for (char ch : s.substr(colon + 1)) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f) return false;
    if (std::string_view("<>\"{}|\\^`").find(static_cast<char>(c)) != std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// --- RFC 3339 ---------------------------------------------------------------------------------

int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  // H. Hinnant, "chrono-Compatible Low-Level Date Algorithms", days_from_civil.
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146'097 + doe - 719'468;
}

// An RFC 3339 §5.6 date-time ("2005-04-03T20:33:31.116-06:00") as Unix milliseconds, fractions
// past the millisecond dropped; nullopt when it is not one.
std::optional<int64_t> ParseRfc3339(std::string_view s) {
  auto digits = [&](size_t at, size_t n, int64_t* out) {
    if (at + n > s.size()) return false;
    int64_t v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
  };
  int64_t year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(0, 4, &year) || s.size() < 20 || s[4] != '-' || !digits(5, 2, &month) ||
      s[7] != '-' || !digits(8, 2, &day) || (s[10] != 'T' && s[10] != 't') ||
      !digits(11, 2, &hour) || s[13] != ':' || !digits(14, 2, &minute) || s[16] != ':' ||
      !digits(17, 2, &second)) {
    return std::nullopt;
  }
  static constexpr std::array<int, 12> kDays = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month < 1 || month > 12 || day < 1 || day > kDays[month - 1] ||
      (month == 2 && day == 29 && !leap) || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  size_t i = 19;
  int64_t ms = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    const size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (i - start < 3) ms = ms * 10 + (s[i] - '0');
      ++i;
    }
    if (i == start) return std::nullopt;
    for (size_t k = i - start; k < 3; ++k) ms *= 10;
  }
  int64_t offset_min = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int64_t oh = 0, om = 0;
    if (!digits(i + 1, 2, &oh) || i + 3 >= s.size() || s[i + 3] != ':' || !digits(i + 4, 2, &om) ||
        oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_min = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  const int64_t seconds = DaysFromCivil(year, month, day) * 86'400 + hour * 3'600 + minute * 60 +
                          second - offset_min * 60;
  return seconds * 1'000 + ms;
}

// GS1's pattern for eventTimeZoneOffset: ^([+]|[-])((0[0-9]|1[0-3]):([0-5][0-9])|14:00)$.
bool IsTimeZoneOffset(std::string_view s) {
  if (s.size() != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':') return false;
  auto d = [&](size_t i) { return s[i] >= '0' && s[i] <= '9'; };
  if (!d(1) || !d(2) || !d(4) || !d(5)) return false;
  const int h = (s[1] - '0') * 10 + (s[2] - '0');
  const int m = (s[4] - '0') * 10 + (s[5] - '0');
  return (h <= 13 && m <= 59) || (h == 14 && m == 0);
}

// --- CBV words ----------------------------------------------------------------------------------

// The vocabularies a CBV value may be from: the word lists of epcis.h and the name CBV 2.0's
// term IRIs give each ("https://ref.gs1.org/cbv/BizStep-shipping").
struct Vocabulary {
  std::string_view field;  // "bizStep", …: for messages.
  std::string_view iri_name;
  bool (*is_word)(std::string_view);
};
constexpr Vocabulary kBizStepVocabulary{"bizStep", "BizStep", core::IsCbvBizStep};
constexpr Vocabulary kDispositionVocabulary{"disposition", "Disp", core::IsCbvDisposition};
constexpr Vocabulary kSourceDestVocabulary{"type", "SDT", core::IsCbvSourceDestType};

// A CBV value as EPCIS 2.0 JSON allows it: a bare CBV word, the same as a `cbv:` compact IRI or
// full IRI (read as the bare word), or a URI outside GS1's CBV namespaces (kept as written).
// GS1's schema refuses the CBV 1.x URNs (urn:epcglobal:cbv:…) and ns.gs1.org/cbv/ IRIs here.
core::Result<std::string> ReadCbv(const Vocabulary& vocabulary, std::string_view value) {
  if (vocabulary.is_word(value)) return std::string(value);
  for (std::string_view ns : {kCbvPrefix, kCbvNamespace}) {
    if (!value.starts_with(ns)) continue;
    std::string_view rest = value.substr(ns.size());
    const std::string head = std::string(vocabulary.iri_name) + "-";
    if (rest.starts_with(head) && vocabulary.is_word(rest.substr(head.size()))) {
      return std::string(rest.substr(head.size()));
    }
    return core::Status::InvalidInput(std::string(vocabulary.field) + " " + Quote(value) +
                                      " is in CBV's namespace but is not a CBV 2.0 " +
                                      std::string(vocabulary.field) + " word");
  }
  if (value.starts_with("urn:epcglobal:cbv:") || value.starts_with("http://ns.gs1.org/cbv/") ||
      value.starts_with("https://ns.gs1.org/cbv/")) {
    return core::Status::InvalidInput(
        std::string(vocabulary.field) + " " + Quote(value) +
        " is a CBV 1.x form, which EPCIS 2.0 JSON does not allow: write the bare CBV 2.0 word");
  }
  if (IsUri(value)) return std::string(value);
  return core::Status::InvalidInput(std::string(vocabulary.field) + " " + Quote(value) +
                                    " is neither a CBV 2.0 word nor a URI");
}

// --- Party identifiers ------------------------------------------------------------------------

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A GS1 party or location identifier's company prefix, for parties named by GS1 keys:
// urn:epc:id:pgln:<cp>.<ref>, urn:epc:id:sgln:<cp>.<loc>.<ext> (EPC Tag Data Standard), or a
// Digital Link to a GLN (AI 417 party, AI 414 location): 13 digits with a valid check digit,
// whose company prefix is not marked (empty result: match a genesis prefix against its start).
// nullopt: not such an identifier. An error: it claims to be one and is malformed.
core::Result<std::optional<std::string>> GlnRegion(std::string_view uri) {
  auto bad = [&](std::string_view why) {
    return core::Status::InvalidInput("party " + Quote(uri) + ": " + std::string(why));
  };
  for (std::string_view scheme : {"urn:epc:id:pgln:", "urn:epc:id:sgln:"}) {
    if (!uri.starts_with(scheme)) continue;
    std::string_view rest = uri.substr(scheme.size());
    const size_t dot = rest.find('.');
    if (dot == std::string_view::npos) return bad("expected <company prefix>.<reference>");
    std::string_view cp = rest.substr(0, dot);
    std::string_view tail = rest.substr(dot + 1);
    std::string_view ref = tail.substr(0, tail.find('.'));
    if (scheme == "urn:epc:id:pgln:" && ref.size() != tail.size()) {
      return bad("a PGLN has two parts");
    }
    if (scheme == "urn:epc:id:sgln:" && ref.size() == tail.size()) {
      return bad("an SGLN has three parts");
    }
    if (!AllDigits(cp) || (!ref.empty() && !AllDigits(ref)) || cp.size() < 6 || cp.size() > 12 ||
        cp.size() + ref.size() != 12) {
      return bad(
          "the company prefix and reference must be 12 digits together (6 to 12 in the "
          "prefix)");
    }
    return std::optional<std::string>(std::string(cp) + "|");
  }
  if (uri.starts_with("http://") || uri.starts_with("https://")) {
    for (std::string_view ai : {"/417/", "/414/"}) {
      const size_t at = uri.find(ai);
      if (at == std::string_view::npos) continue;
      std::string_view gln = uri.substr(at + ai.size());
      gln = gln.substr(0, std::min(gln.find('/'), gln.find('?')));
      if (gln.size() != 13 || !AllDigits(gln)) return bad("a GLN is 13 digits");
      if (!core::HasValidCheckDigit(gln)) return bad("the GLN's check digit is wrong");
      return std::optional<std::string>(std::string(gln.substr(0, 12)));
    }
  }
  return std::optional<std::string>();
}

// --- Validation ---------------------------------------------------------------------------------

class Validator {
 public:
  void Error(std::string where, std::string what) {
    ++count_;
    if (errors_.size() < kImportErrorsListedMax) {
      errors_.push_back(where.empty() ? what : where + ": " + what);
    }
  }
  bool ok() const { return count_ == 0; }
  std::string Message() const {
    std::string m = "the EPCIS document is not valid (" + std::to_string(count_) +
                    (count_ == 1 ? " error" : " errors") + "); nothing was imported:";
    for (const std::string& e : errors_) m += "\n  " + e;
    if (count_ > errors_.size()) {
      m += "\n  … and " + std::to_string(count_ - errors_.size()) + " more";
    }
    return m;
  }

  // A required or optional string member; nullptr (and an error when required) otherwise.
  const std::string* String(const Struct& s, std::string_view key, const std::string& where,
                            bool required) {
    const Value* v = Member(s, key);
    if (v == nullptr || v->kind_case() == Value::kNullValue) {
      if (required) Error(where, std::string(key) + " is required");
      return nullptr;
    }
    if (v->kind_case() != Value::kStringValue) {
      Error(where, std::string(key) + " must be a string, not " + std::string(KindOf(*v)));
      return nullptr;
    }
    return &v->string_value();
  }
  const ListValue* List(const Struct& s, std::string_view key, const std::string& where) {
    const Value* v = Member(s, key);
    if (v == nullptr) return nullptr;
    if (v->kind_case() != Value::kListValue) {
      Error(where, std::string(key) + " must be an array, not " + std::string(KindOf(*v)));
      return nullptr;
    }
    return &v->list_value();
  }
  const Struct* Object(const Struct& s, std::string_view key, const std::string& where) {
    const Value* v = Member(s, key);
    if (v == nullptr) return nullptr;
    if (v->kind_case() != Value::kStructValue) {
      Error(where, std::string(key) + " must be an object, not " + std::string(KindOf(*v)));
      return nullptr;
    }
    return &v->struct_value();
  }
  // Member names EPCIS does not define must be URIs or compact IRIs (GS1's schema).
  template <size_t N>
  void Members(const Struct& s, const std::array<std::string_view, N>& known,
               const std::string& where) {
    for (const auto& [key, value] : s.fields()) {
      if (!In(known, key) && !IsUri(key)) {
        Error(where, "member " + Quote(key) +
                         " is not an EPCIS member; extensions must be named by a URI or a "
                         "prefixed term (\"ext:name\")");
      }
    }
  }
  std::optional<std::string> Cbv(const Vocabulary& vocabulary, const std::string& value,
                                 const std::string& where) {
    core::Result<std::string> word = ReadCbv(vocabulary, value);
    if (!word.ok()) {
      Error(where, word.status().message());
      return std::nullopt;
    }
    return *word;
  }

 private:
  std::vector<std::string> errors_;
  size_t count_ = 0;
};

void ReadParties(Validator& v, const Struct& ev, std::string_view list_key,
                 std::string_view uri_key, const std::string& where, std::vector<EpcisParty>* out) {
  const ListValue* list = v.List(ev, list_key, where);
  if (list == nullptr) return;
  for (int i = 0; i < list->values_size(); ++i) {
    const std::string at = where + ": " + std::string(list_key) + "[" + std::to_string(i) + "]";
    const Value& entry = list->values(i);
    if (entry.kind_case() != Value::kStructValue) {
      v.Error(at, "must be an object, not " + std::string(KindOf(entry)));
      continue;
    }
    const Struct& e = entry.struct_value();
    const std::string* type = v.String(e, "type", at, true);
    const std::string* uri = v.String(e, uri_key, at, true);
    for (const auto& [key, value] : e.fields()) {
      if (key != "type" && key != uri_key) v.Error(at, "unexpected member " + Quote(key));
    }
    if (type == nullptr || uri == nullptr) continue;
    std::optional<std::string> word = v.Cbv(kSourceDestVocabulary, *type, at);
    if (!IsUri(*uri)) {
      v.Error(at, std::string(uri_key) + " " + Quote(*uri) + " is not a URI");
      continue;
    }
    core::Result<std::optional<std::string>> gln = GlnRegion(*uri);
    if (!gln.ok()) {
      v.Error(at, gln.status().message());
      continue;
    }
    if (word) out->push_back({*word, *uri});
  }
}

void ReadDispositions(Validator& v, const Struct& ev, const std::string& where) {
  const Struct* pd = v.Object(ev, "persistentDisposition", where);
  if (pd == nullptr) return;
  for (const auto& [key, value] : pd->fields()) {
    const std::string at = where + ": persistentDisposition." + key;
    if (key != "set" && key != "unset") {
      v.Error(where, "persistentDisposition has only set and unset, not " + Quote(key));
      continue;
    }
    if (value.kind_case() != Value::kListValue) {
      v.Error(at, "must be an array");
      continue;
    }
    for (const Value& w : value.list_value().values()) {
      if (w.kind_case() != Value::kStringValue) {
        v.Error(at, "entries must be strings");
        continue;
      }
      v.Cbv(kDispositionVocabulary, w.string_value(), at);
    }
  }
}

// The epcList of an ObjectEvent (or any event's EPC list): URIs, no repeats; SGTINs (EPC URI or
// Digital Link with a serial) parsed with their check digits.
void ReadEpcs(Validator& v, const Struct& ev, std::string_view key, const std::string& where,
              EpcisEvent* out) {
  const ListValue* list = v.List(ev, key, where);
  if (list == nullptr) return;
  if (static_cast<size_t>(list->values_size()) > kImportEpcsPerEventMax) {
    v.Error(where, std::string(key) + " has " + std::to_string(list->values_size()) +
                       " entries; an import takes at most " +
                       std::to_string(kImportEpcsPerEventMax) + " per event");
    return;
  }
  std::set<std::string> seen;
  std::set<std::string> items;
  for (int i = 0; i < list->values_size(); ++i) {
    const std::string at = where + ": " + std::string(key) + "[" + std::to_string(i) + "]";
    const Value& e = list->values(i);
    if (e.kind_case() != Value::kStringValue) {
      v.Error(at, "must be a string, not " + std::string(KindOf(e)));
      continue;
    }
    const std::string& epc = e.string_value();
    if (!IsUri(epc)) {
      v.Error(at, Quote(epc) + " is not a URI");
      continue;
    }
    if (!seen.insert(epc).second) {
      v.Error(at, Quote(epc) + " is listed twice (epcList items are unique)");
      continue;
    }
    const bool sgtin_urn = epc.starts_with("urn:epc:id:sgtin:");
    const bool link =
        (epc.starts_with("http://") || epc.starts_with("https://")) &&
        (epc.find("/01/") != std::string::npos || epc.find("/gtin/") != std::string::npos);
    const bool serialised =
        sgtin_urn ||
        (link && (epc.find("/21/") != std::string::npos || epc.find("/ser/") != std::string::npos));
    if (!serialised) {
      out->other_epcs.push_back(epc);
      continue;
    }
    core::Result<core::ItemId> id = core::ParseItemId(epc);
    if (!id.ok()) {
      v.Error(at, "SGTIN " + Quote(epc) + ": " + id.status().message());
      continue;
    }
    if (items.insert(id->Canonical()).second) {
      out->items.push_back(std::move(*id));
    } else {
      v.Error(at, Quote(epc) + " names the same item as an earlier entry");
    }
  }
}

void ReadEvent(Validator& v, const Value& value, size_t index, EpcisEvent* out) {
  out->index = index;
  std::string where = "eventList[" + std::to_string(index) + "]";
  if (value.kind_case() != Value::kStructValue) {
    v.Error(where, "an event must be an object, not " + std::string(KindOf(value)));
    return;
  }
  const Struct& ev = value.struct_value();
  out->raw = &ev;
  if (const std::string* id = v.String(ev, "eventID", where, false)) {
    out->event_id = *id;
    where += " (eventID " + Quote(*id) + ")";
    if (!IsUri(*id)) v.Error(where, "eventID must be a URI");
  }
  if (const std::string* type = v.String(ev, "type", where, true)) {
    out->type = *type;
    if (type->empty()) v.Error(where, "type is empty");
  }
  v.Members(ev, kEventMembers, where);
  if (const std::string* t = v.String(ev, "eventTime", where, true)) {
    std::optional<int64_t> ms = ParseRfc3339(*t);
    if (!ms) {
      v.Error(where, "eventTime " + Quote(*t) + " is not an RFC 3339 date-time");
    } else {
      out->event_time_ms = *ms;
    }
  }
  if (const std::string* t = v.String(ev, "recordTime", where, false)) {
    if (!ParseRfc3339(*t)) {
      v.Error(where, "recordTime " + Quote(*t) + " is not an RFC 3339 date-time");
    }
  }
  if (const std::string* z = v.String(ev, "eventTimeZoneOffset", where, true)) {
    if (!IsTimeZoneOffset(*z)) {
      v.Error(where, "eventTimeZoneOffset " + Quote(*z) +
                         " is not an offset from -14:00 to +14:00 written ±hh:mm");
    }
  }
  const bool has_action = out->type != "TransformationEvent" && In(kStandardEventTypes, out->type);
  if (has_action) {
    if (const std::string* a = v.String(ev, "action", where, true)) {
      out->action = *a;
      if (*a != "ADD" && *a != "OBSERVE" && *a != "DELETE") {
        v.Error(where, "action " + Quote(*a) + " is not ADD, OBSERVE or DELETE");
      }
    }
  }
  if (const std::string* b = v.String(ev, "bizStep", where, false)) {
    if (auto w = v.Cbv(kBizStepVocabulary, *b, where)) out->biz_step = *w;
  }
  if (const std::string* d = v.String(ev, "disposition", where, false)) {
    if (auto w = v.Cbv(kDispositionVocabulary, *d, where)) out->disposition = *w;
  }
  ReadDispositions(v, ev, where);
  ReadParties(v, ev, "sourceList", "source", where, &out->sources);
  ReadParties(v, ev, "destinationList", "destination", where, &out->destinations);
  if (const ListValue* q = v.List(ev, "quantityList", where)) {
    out->has_quantities = q->values_size() > 0;
  }
  if (v.Object(ev, "ilmd", where) != nullptr && out->action != "ADD" && has_action) {
    v.Error(where, "ilmd (instance master data) is only allowed with action ADD");
  }
  if (out->type == "ObjectEvent") {
    ReadEpcs(v, ev, "epcList", where, out);
    if (Member(ev, "epcList") == nullptr && Member(ev, "quantityList") == nullptr &&
        Member(ev, "sensorElementList") == nullptr) {
      v.Error(where, "an ObjectEvent needs an epcList, a quantityList or sensor data");
    }
  } else if (out->type == "AggregationEvent") {
    EpcisEvent children;
    ReadEpcs(v, ev, "childEPCs", where, &children);
  }
}

}  // namespace

std::string EpcisEvent::Name() const {
  std::string name = "event " + std::to_string(index + 1);
  if (!event_id.empty()) name += " (eventID " + Quote(event_id) + ")";
  return name;
}

EpcisDocument::EpcisDocument() : root_(std::make_unique<Struct>()) {}
EpcisDocument::~EpcisDocument() = default;
EpcisDocument::EpcisDocument(EpcisDocument&&) noexcept = default;
EpcisDocument& EpcisDocument::operator=(EpcisDocument&&) noexcept = default;

std::string EpcisDocument::Expand(std::string_view term) const {
  const size_t colon = term.find(':');
  if (colon == std::string_view::npos) return std::string(term);
  auto it = prefixes_.find(term.substr(0, colon));
  if (it == prefixes_.end()) return std::string(term);
  return it->second + std::string(term.substr(colon + 1));
}

std::vector<std::string> EpcisDocument::ItemIds() const {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const EpcisEvent& e : events_) {
    for (const core::ItemId& id : e.items) {
      if (seen.insert(id.Canonical()).second) out.push_back(id.Canonical());
    }
  }
  return out;
}

core::Result<EpcisDocument> ParseEpcisDocument(std::string_view json) {
  EpcisDocument doc;
  core::Status parsed = core::ParseJsonStrict(json, doc.root_.get(), kImportJsonLimits);
  if (!parsed.ok()) {
    return core::Status::InvalidInput("the file is not a JSON document Hallmark reads: " +
                                      parsed.message() + "; nothing was imported");
  }
  const Struct& root = *doc.root_;
  Validator v;
  const std::string top = "document";

  // @context: GS1's EPCIS context (by URL), and the prefixes the document declares itself.
  bool gs1_context = false;
  auto context_entry = [&](const Value& c) {
    if (c.kind_case() == Value::kStringValue) {
      if (In(kGs1Contexts, c.string_value())) gs1_context = true;
      if (!IsUri(c.string_value())) {
        v.Error(top, "@context entry " + Quote(c.string_value()) + " is not a URI");
      }
    } else if (c.kind_case() == Value::kStructValue) {
      for (const auto& [prefix, iri] : c.struct_value().fields()) {
        if (iri.kind_case() == Value::kStringValue) {
          doc.prefixes_[prefix] = iri.string_value();
        } else if (iri.kind_case() == Value::kStructValue) {
          const Value* id = Member(iri.struct_value(), "@id");
          if (id != nullptr && id->kind_case() == Value::kStringValue) {
            doc.prefixes_[prefix] = id->string_value();
          }
        }
      }
    } else {
      v.Error(top, "@context entries must be URIs or objects, not " + std::string(KindOf(c)));
    }
  };
  if (const Value* ctx = Member(root, "@context")) {
    if (ctx->kind_case() == Value::kListValue) {
      for (const Value& c : ctx->list_value().values()) context_entry(c);
    } else {
      context_entry(*ctx);
    }
    if (!gs1_context) {
      v.Error(top, "@context does not name GS1's EPCIS 2.0 context (" +
                       std::string(kGs1Contexts[0]) +
                       "); without it the document's words have no defined meaning");
    }
  } else {
    v.Error(top, "@context is required");
  }
  if (const std::string* type = v.String(root, "type", top, true)) {
    if (*type != "EPCISDocument") {
      v.Error(top, "type is " + Quote(*type) + "; expected \"EPCISDocument\"");
    }
  }
  if (const std::string* version = v.String(root, "schemaVersion", top, true)) {
    const bool numeric = !version->empty() && version->front() != '.' && version->back() != '.' &&
                         version->find("..") == std::string::npos &&
                         std::all_of(version->begin(), version->end(),
                                     [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
    if (!numeric) {
      v.Error(top, "schemaVersion " + Quote(*version) + " is not a version number");
    } else if (*version != "2" && !version->starts_with("2.")) {
      v.Error(top, "schemaVersion " + Quote(*version) + ": only EPCIS 2.x documents are read");
    }
  }
  if (const std::string* created = v.String(root, "creationDate", top, true)) {
    if (!ParseRfc3339(*created)) {
      v.Error(top, "creationDate " + Quote(*created) + " is not an RFC 3339 date-time");
    }
  }
  v.Members(root, kDocumentMembers, top);
  const Struct* body = v.Object(root, "epcisBody", top);
  if (body == nullptr && Member(root, "epcisBody") == nullptr)
    v.Error(top, "epcisBody is required");
  const ListValue* events = nullptr;
  if (body != nullptr) {
    events = v.List(*body, "eventList", "epcisBody");
    if (events == nullptr && Member(*body, "eventList") == nullptr) {
      v.Error("epcisBody", "eventList is required");
    }
  }
  if (events != nullptr) {
    const size_t n = static_cast<size_t>(events->values_size());
    if (n > kImportEventsMax) {
      v.Error("epcisBody", "eventList holds " + std::to_string(n) +
                               " events; an import takes at most " +
                               std::to_string(kImportEventsMax) + " (split the file)");
    } else {
      doc.events_.resize(n);
      for (size_t i = 0; i < n; ++i)
        ReadEvent(v, events->values(static_cast<int>(i)), i, &doc.events_[i]);
      std::set<std::string> ids;
      for (const EpcisEvent& e : doc.events_) {
        if (!e.event_id.empty() && !ids.insert(e.event_id).second) {
          v.Error("eventList[" + std::to_string(e.index) + "]",
                  "eventID " + Quote(e.event_id) + " is used by an earlier event too");
        }
      }
    }
  }
  if (!v.ok()) return core::Status::InvalidInput(v.Message());
  std::set<std::string> items;
  for (const EpcisEvent& e : doc.events_) {
    for (const core::ItemId& id : e.items) items.insert(id.Canonical());
  }
  if (items.size() > kImportItemsMax) {
    return core::Status::InvalidInput("the document names " + std::to_string(items.size()) +
                                      " items; an import takes at most " +
                                      std::to_string(kImportItemsMax) + "; nothing was imported");
  }
  return doc;
}

// --- Planning ---------------------------------------------------------------------------------

namespace {

constexpr std::string_view kOrgUriPrefix = "urn:hallmark:org:";
constexpr std::string_view kKeyUriPrefix = "urn:hallmark:key:";

// A term of Hallmark's vocabulary in `s`, found by the IRI its name expands to.
const Value* Term(const EpcisDocument& doc, const Struct& s, std::string_view name) {
  const std::string iri = std::string(core::kHallmarkNamespace) + std::string(name);
  for (const auto& [key, value] : s.fields()) {
    if (doc.Expand(key) == iri) return &value;
  }
  return nullptr;
}

// A string term: nullopt when absent; an error when present and not a string.
core::Result<std::optional<std::string>> StringTerm(const EpcisDocument& doc, const Struct& s,
                                                    std::string_view name) {
  const Value* v = Term(doc, s, name);
  if (v == nullptr) return std::optional<std::string>();
  if (v->kind_case() != Value::kStringValue) {
    return core::Status::InvalidInput("hallmark:" + std::string(name) + " must be a string");
  }
  return std::optional<std::string>(v->string_value());
}

// The holder a party URI names: a Hallmark organisation or holder key URI (as the export writes
// them), or a GS1 party/location key whose company prefix is a genesis organisation's.
core::Result<pb::Holder> ResolveParty(const core::Network& network, std::string_view uri) {
  pb::Holder h;
  if (uri.starts_with(kOrgUriPrefix)) {
    std::string_view rest = uri.substr(kOrgUriPrefix.size());
    const size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos || rest.substr(0, colon) != network.chain_id()) {
      return core::Status::InvalidInput("party " + Quote(uri) + " is of another network (this is " +
                                        network.chain_id() + ")");
    }
    std::string_view org = rest.substr(colon + 1);
    if (network.FindOrganization(org) == nullptr) {
      return core::Status::InvalidInput("party " + Quote(uri) +
                                        ": the genesis has no organisation " + Quote(org));
    }
    h.set_organization(std::string(org));
    return h;
  }
  if (uri.starts_with(kKeyUriPrefix)) {
    core::Result<core::Hash256> key = core::ParsePublicKeyHex(uri.substr(kKeyUriPrefix.size()));
    if (!key.ok()) {
      return core::Status::InvalidInput("party " + Quote(uri) + ": " + key.status().message());
    }
    h.set_holder_key(std::string(key->view()));
    return h;
  }
  core::Result<std::optional<std::string>> gln = GlnRegion(uri);
  if (!gln.ok()) return gln.status();
  if (gln->has_value()) {
    const std::string& region = **gln;
    const pb::Organization* found = nullptr;
    if (region.ends_with("|")) {  // An EPC URI names its company prefix.
      const std::string cp = region.substr(0, region.size() - 1);
      for (const pb::Organization& o : network.genesis().organizations()) {
        for (const std::string& p : o.gs1_company_prefixes()) {
          if (p == cp) found = &o;
        }
      }
    } else {
      found = network.BrandForPrefixRegion(region);
    }
    if (found == nullptr) {
      return core::Status::InvalidInput("party " + Quote(uri) +
                                        ": no organisation of the genesis has its GS1 company "
                                        "prefix");
    }
    h.set_organization(found->id());
    return h;
  }
  return core::Status::InvalidInput(
      "party " + Quote(uri) +
      " is not a Hallmark organisation (urn:hallmark:org:<chain>:<id>), a holder key "
      "(urn:hallmark:key:<hex>), or a GS1 party key with a genesis organisation's company prefix");
}

// The holder a source or destination list names: its possessing_party, else its owning_party
// (Hallmark records who holds an item). Locations and other types say nothing of custody.
core::Result<std::optional<pb::Holder>> PartyOf(const core::Network& network,
                                                const std::vector<EpcisParty>& parties,
                                                std::string_view list) {
  for (std::string_view type : {"possessing_party", "owning_party"}) {
    std::optional<pb::Holder> found;
    for (const EpcisParty& p : parties) {
      if (p.type != type) continue;
      core::Result<pb::Holder> h = ResolveParty(network, p.uri);
      if (!h.ok())
        return core::Status::InvalidInput(std::string(list) + ": " + h.status().message());
      if (found && !core::HolderEquals(*found, *h)) {
        return core::Status::InvalidInput(std::string(list) + " names two different " +
                                          std::string(type) + " entries");
      }
      found = std::move(*h);
    }
    if (found) return found;
  }
  return std::optional<pb::Holder>();
}

// What an event becomes before it meets an item: the record type, the body (in a payload with
// only the body set), and the parties it names.
struct Mapping {
  core::RecordType type = core::RecordType::kRegister;
  pb::RecordPayload body;
  std::optional<pb::Holder> source;
  std::optional<pb::Holder> signed_by;  // hallmark:signedBy, when written.
};

constexpr std::string_view kSupported =
    "imported are ObjectEvents: ADD commissioning (register); OBSERVE shipping, receiving or "
    "retail_selling between known parties (transfer); and events Hallmark exported "
    "(hallmark:recordType)";

core::Result<pb::Register> RegisterBody(const EpcisDocument& doc, const EpcisEvent& ev) {
  pb::Register body;
  const Value* ilmd = Member(*ev.raw, "ilmd");
  if (ilmd == nullptr) return body;
  const Struct& m = ilmd->struct_value();
  auto bad = [](std::string what) { return core::Status::InvalidInput("ilmd: " + what); };
  const std::string attrs_iri = std::string(core::kHallmarkNamespace) + "attributes";
  const std::string docs_iri = std::string(core::kHallmarkNamespace) + "documents";
  // Hallmark's own terms first, in the order written; then other string members as attributes.
  if (const Value* a = Term(doc, m, "attributes")) {
    if (a->kind_case() != Value::kListValue) return bad("hallmark:attributes must be an array");
    for (const Value& e : a->list_value().values()) {
      if (e.kind_case() != Value::kStructValue)
        return bad("hallmark:attributes holds a non-object");
      core::Result<std::optional<std::string>> k = StringTerm(doc, e.struct_value(), "key");
      core::Result<std::optional<std::string>> val = StringTerm(doc, e.struct_value(), "value");
      if (!k.ok() || !val.ok() || !k->has_value() || !val->has_value()) {
        return bad("each hallmark:attributes entry needs hallmark:key and hallmark:value strings");
      }
      pb::Attribute* attr = body.add_attributes();
      attr->set_key(**k);
      attr->set_value(**val);
    }
  }
  if (const Value* d = Term(doc, m, "documents")) {
    if (d->kind_case() != Value::kListValue) return bad("hallmark:documents must be an array");
    for (const Value& e : d->list_value().values()) {
      if (e.kind_case() != Value::kStructValue) return bad("hallmark:documents holds a non-object");
      core::Result<std::optional<std::string>> n = StringTerm(doc, e.struct_value(), "name");
      core::Result<std::optional<std::string>> h = StringTerm(doc, e.struct_value(), "sha256");
      if (!n.ok() || !h.ok() || !n->has_value() || !h->has_value()) {
        return bad("each hallmark:documents entry needs hallmark:name and hallmark:sha256 strings");
      }
      std::optional<core::Hash256> digest = core::Hash256::FromHex(**h);
      if (!digest) return bad("hallmark:sha256 " + Quote(**h) + " is not 64 hex digits");
      pb::DocumentDigest* dd = body.add_documents();
      dd->set_name(**n);
      dd->set_sha256(std::string(digest->view()));
    }
  }
  // std::map iteration: other members in key order, so the same document gives the same record.
  std::map<std::string, std::string> others;
  for (const auto& [key, value] : m.fields()) {
    const std::string iri = doc.Expand(key);
    if (iri == attrs_iri || iri == docs_iri) continue;
    if (value.kind_case() != Value::kStringValue) {
      return bad("member " + Quote(key) + " is " + std::string(KindOf(value)) +
                 "; Hallmark attributes are strings, so it cannot be recorded");
    }
    others[key] = value.string_value();
  }
  for (const auto& [key, value] : others) {
    pb::Attribute* attr = body.add_attributes();
    attr->set_key(key);
    attr->set_value(value);
  }
  return body;
}

core::Result<Mapping> MapEvent(const EpcisDocument& doc, const EpcisEvent& ev,
                               const core::Network& network) {
  auto refuse = [](std::string why) { return core::Status::InvalidInput(std::move(why)); };
  if (ev.type != "ObjectEvent") {
    return refuse(ev.type + " has no Hallmark record type (" + std::string(kSupported) + ")");
  }
  core::Result<std::optional<std::string>> record_type = StringTerm(doc, *ev.raw, "recordType");
  if (!record_type.ok()) return record_type.status();
  Mapping m;
  std::string type_name;
  if (record_type->has_value()) {
    type_name = **record_type;
  } else if (ev.action == "ADD" && ev.biz_step == "commissioning") {
    type_name = "register";
  } else if (ev.action == "OBSERVE" && (ev.biz_step == "shipping" || ev.biz_step == "receiving" ||
                                        ev.biz_step == "retail_selling")) {
    type_name = "transfer";
  } else if (ev.action == "DELETE" &&
             (ev.biz_step == "destroying" || ev.biz_step == "decommissioning")) {
    return refuse(
        "a decommission needs its reason (hallmark:reason and hallmark:decommission), "
        "which this event does not give");
  } else {
    return refuse("action " + ev.action + " with bizStep " +
                  (ev.biz_step.empty() ? std::string("(none)") : Quote(ev.biz_step)) +
                  " has no faithful Hallmark record type (" + std::string(kSupported) + ")");
  }
  static const std::map<std::string_view, core::RecordType> kTypes = {
      {"register", core::RecordType::kRegister},
      {"transfer", core::RecordType::kTransfer},
      {"attest", core::RecordType::kAttest},
      {"flag", core::RecordType::kFlag},
      {"clear_flag", core::RecordType::kClearFlag},
      {"service", core::RecordType::kService},
      {"decommission", core::RecordType::kDecommission},
      {"reassign", core::RecordType::kReassign}};
  auto t = kTypes.find(type_name);
  if (t == kTypes.end()) return refuse("hallmark:recordType " + Quote(type_name) + " is unknown");
  m.type = t->second;
  const std::string_view expected_action = m.type == core::RecordType::kRegister       ? "ADD"
                                           : m.type == core::RecordType::kDecommission ? "DELETE"
                                                                                       : "OBSERVE";
  if (ev.action != expected_action) {
    return refuse("a " + type_name + " is action " + std::string(expected_action) +
                  ", but the event's action is " + ev.action);
  }

  core::Result<std::optional<pb::Holder>> source = PartyOf(network, ev.sources, "sourceList");
  if (!source.ok()) return source.status();
  core::Result<std::optional<pb::Holder>> dest =
      PartyOf(network, ev.destinations, "destinationList");
  if (!dest.ok()) return dest.status();
  m.source = *source;
  core::Result<std::optional<std::string>> signed_by = StringTerm(doc, *ev.raw, "signedBy");
  if (!signed_by.ok()) return signed_by.status();
  if (signed_by->has_value()) {
    core::Result<pb::Holder> h = ResolveParty(network, **signed_by);
    if (!h.ok()) return core::Status::InvalidInput("hallmark:signedBy: " + h.status().message());
    m.signed_by = std::move(*h);
  }
  auto note = [&](std::string_view name) -> core::Result<std::string> {
    core::Result<std::optional<std::string>> n = StringTerm(doc, *ev.raw, name);
    if (!n.ok()) return n.status();
    return n->value_or("");
  };
  auto word = [&](std::string_view name) -> core::Result<std::string> {
    core::Result<std::optional<std::string>> w = StringTerm(doc, *ev.raw, name);
    if (!w.ok()) return w.status();
    if (!w->has_value()) {
      return core::Status::InvalidInput("a " + type_name + " needs hallmark:" + std::string(name));
    }
    return **w;
  };
#define HM_TRY(var, expr) \
  auto var = (expr);      \
  if (!var.ok()) return var.status();

  switch (m.type) {
    case core::RecordType::kRegister: {
      core::Result<pb::Register> body = RegisterBody(doc, ev);
      if (!body.ok()) return body.status();
      // The first custodian it names (PlanImport leaves it unset when that is the brand).
      if (*dest) *body->mutable_custodian() = **dest;
      *m.body.mutable_register_() = std::move(*body);
      break;
    }
    case core::RecordType::kTransfer:
      if (!*dest) {
        return refuse(
            "a transfer needs its new custodian: a possessing_party (or owning_party) "
            "in destinationList");
      }
      *m.body.mutable_transfer()->mutable_to() = **dest;
      break;
    case core::RecordType::kAttest: {
      HM_TRY(w, word("verdict"));
      HM_TRY(verdict, ParseVerdict(*w));
      HM_TRY(n, note("note"));
      *m.body.mutable_attest() = AttestBody(*verdict, *n);
      break;
    }
    case core::RecordType::kFlag:
    case core::RecordType::kClearFlag: {
      HM_TRY(w, word("flag"));
      HM_TRY(kind, ParseFlagKind(*w));
      HM_TRY(n, note("note"));
      if (m.type == core::RecordType::kFlag) {
        *m.body.mutable_flag() = FlagBody(*kind, *n);
      } else {
        *m.body.mutable_clear_flag() = ClearFlagBody(*kind, *n);
      }
      break;
    }
    case core::RecordType::kService: {
      HM_TRY(w, word("service"));
      HM_TRY(kind, ParseServiceKind(*w));
      HM_TRY(n, note("note"));
      *m.body.mutable_service() = ServiceBody(*kind, *n);
      break;
    }
    case core::RecordType::kDecommission: {
      HM_TRY(w, word("decommission"));
      HM_TRY(kind, ParseDecommissionKind(*w));
      HM_TRY(r, word("reason"));
      *m.body.mutable_decommission() = DecommissionBody(*kind, *r);
      break;
    }
    case core::RecordType::kReassign: {
      if (!*dest || !(*dest)->has_holder_key()) {
        return refuse(
            "a reassign needs the holder's new key (urn:hallmark:key:…) in "
            "destinationList");
      }
      HM_TRY(r, word("reason"));
      m.body.mutable_reassign()->set_new_holder_key((*dest)->holder_key());
      m.body.mutable_reassign()->set_reason(*r);
      break;
    }
  }
#undef HM_TRY
  return m;
}

// One record of an item's history, as far as "already there" needs it.
struct Known {
  core::RecordType type;
  std::string signer;        // 32 bytes.
  std::string organization;  // The signer's; empty for a holder key.
  std::string content;       // The payload without prev, deterministic bytes.
};

std::string Content(pb::RecordPayload p) {
  p.clear_prev();
  return core::SerializeDeterministic(p);
}

// The item as the plan sees it: the ledger's state, then each planned record applied.
struct ItemView {
  bool registered = false;
  pb::ItemState state;
  std::vector<Known> history;
};

bool SameRegistration(const pb::ItemState& s, const pb::Register& r, std::string_view brand) {
  if (s.brand() != brand) return false;
  if (s.attributes_size() != r.attributes_size() || s.documents_size() != r.documents_size()) {
    return false;
  }
  for (int i = 0; i < s.attributes_size(); ++i) {
    if (s.attributes(i).key() != r.attributes(i).key() ||
        s.attributes(i).value() != r.attributes(i).value()) {
      return false;
    }
  }
  for (int i = 0; i < s.documents_size(); ++i) {
    if (s.documents(i).name() != r.documents(i).name() ||
        s.documents(i).sha256() != r.documents(i).sha256()) {
      return false;
    }
  }
  return true;
}

}  // namespace

size_t ImportPlan::Count(ImportOutcome outcome) const {
  return static_cast<size_t>(std::count_if(
      results.begin(), results.end(), [&](const EventResult& r) { return r.outcome == outcome; }));
}

ImportPlan PlanImport(const EpcisDocument& doc, const PlanContext& c) {
  HM_ASSERT(c.network != nullptr && c.key != nullptr && c.items != nullptr);
  const core::Network& network = *c.network;
  const std::string signer(reinterpret_cast<const char*>(c.key->public_key().bytes.data()), 32);
  const core::Hash256 signer_hash = core::Hash256::FromSpan(c.key->public_key().span());
  const pb::Organization* key_org = network.OrganizationOfKey(signer_hash);
  pb::Holder key_holder;
  if (key_org != nullptr) {
    key_holder.set_organization(key_org->id());
  } else {
    key_holder.set_holder_key(signer);
  }
  const std::string who = core::DescribeHolder(key_holder);

  ImportPlan plan;
  std::map<std::string, ItemView> views;
  auto view_of = [&](const std::string& item) -> ItemView& {
    auto it = views.find(item);
    if (it != views.end()) return it->second;
    ItemView v;
    auto known = c.items->find(item);
    if (known != c.items->end() && known->second.registered()) {
      v.registered = true;
      v.state = known->second.state();
      for (const pb::HistoryEntry& h : known->second.history()) {
        std::optional<core::RecordType> type = PayloadType(h.payload());
        std::optional<core::Bytes> key = core::FromHex(h.signer());
        if (!type || !key) continue;
        v.history.push_back({*type, std::string(key->begin(), key->end()), h.signer_organization(),
                             Content(h.payload())});
      }
    }
    return views.emplace(item, std::move(v)).first->second;
  };

  for (const EpcisEvent& ev : doc.events()) {
    auto result = [&](std::string item, ImportOutcome outcome, core::RecordType type,
                      std::string reason) {
      EventResult r;
      r.event_index = ev.index;
      r.event_name = ev.Name();
      r.item = std::move(item);
      r.outcome = outcome;
      r.type = type;
      r.reason = std::move(reason);
      plan.results.push_back(std::move(r));
      return &plan.results.back();
    };
    auto refuse = [&](std::string item, std::string reason) {
      result(std::move(item), ImportOutcome::kRefused, core::RecordType::kRegister,
             std::move(reason));
    };
    for (const std::string& epc : ev.other_epcs) {
      refuse("", "epcList entry " + Quote(epc) +
                     " is not a serialised item (SGTIN); Hallmark records only those");
    }
    if (ev.items.empty()) {
      if (ev.other_epcs.empty()) {
        refuse("",
               ev.type == "ObjectEvent"
                   ? std::string("names no serialised item (SGTIN) in epcList") +
                         (ev.has_quantities ? "; a quantityList names classes, not items" : "")
                   : ev.type + " has no Hallmark record type (" + std::string(kSupported) + ")");
      }
      continue;
    }
    core::Result<Mapping> mapped = MapEvent(doc, ev, network);
    if (!mapped.ok()) {
      for (const core::ItemId& id : ev.items) refuse(id.Canonical(), mapped.status().message());
      continue;
    }
    const Mapping& m = *mapped;
    // Who signs the record: the signer the document names (an export names each record's), else
    // this key. A record already on the ledger is recognised whoever signed it; a new one must be
    // this key's to sign.
    const pb::Holder& author = m.signed_by ? *m.signed_by : key_holder;
    const bool key_is_author = core::SignerIsHolder(network, signer_hash, author);
    for (const core::ItemId& id : ev.items) {
      const std::string item = id.Canonical();
      ItemView& v = view_of(item);
      pb::RecordPayload payload = m.body;
      payload.set_chain_id(network.chain_id());
      payload.set_item_id(item);
      if (ev.event_time_ms < 0) {
        refuse(item, "eventTime is before 1970, which a Hallmark timestamp cannot hold");
        continue;
      }
      payload.set_timestamp_ms(static_cast<uint64_t>(ev.event_time_ms));
      if (payload.has_register_() && payload.register_().has_custodian() &&
          core::HolderEquals(payload.register_().custodian(), author)) {
        payload.mutable_register_()->clear_custodian();  // The brand: what unset means.
      }

      // Already there?
      if (m.type == core::RecordType::kRegister) {
        if (v.registered) {
          if (author.has_organization() &&
              SameRegistration(v.state, payload.register_(), author.organization())) {
            result(item, ImportOutcome::kAlreadyThere, m.type,
                   "registered by \"" + author.organization() + "\" with the same attributes");
          } else {
            refuse(item, "already registered by \"" + v.state.brand() +
                             "\" with other attributes or documents than this event's");
          }
          continue;
        }
      } else {
        const std::string content = Content(payload);
        const bool known = std::any_of(v.history.begin(), v.history.end(), [&](const Known& k) {
          if (k.type != m.type || k.content != content) return false;
          return author.has_organization() ? k.organization == author.organization()
                                           : k.signer == author.holder_key();
        });
        if (known) {
          result(item, ImportOutcome::kAlreadyThere, m.type, "the ledger holds this record");
          continue;
        }
      }
      if (!key_is_author) {
        refuse(item, "the document says " + core::DescribeHolder(author) + " signed this " +
                         std::string(core::RecordTypeName(m.type)) + "; this key is " + who +
                         "'s and cannot sign it");
        continue;
      }
      if (!v.registered && m.type != core::RecordType::kRegister) {
        refuse(item,
               "the item is not registered (on the ledger or by an earlier event of this "
               "document)");
        continue;
      }
      if (m.type == core::RecordType::kTransfer && m.source &&
          !core::HolderEquals(*m.source, v.state.custodian())) {
        refuse(item, "the event moves it from " + core::DescribeHolder(*m.source) +
                         ", but its custodian then is " +
                         core::DescribeHolder(v.state.custodian()));
        continue;
      }
      if (m.type == core::RecordType::kTransfer &&
          !core::SignerIsHolder(network, signer_hash, v.state.custodian())) {
        refuse(item, "this key (" + who + ") cannot sign the transfer: the item's custodian is " +
                         core::DescribeHolder(v.state.custodian()) + ", whose key must sign it");
        continue;
      }

      payload.set_prev(v.registered ? v.state.last_record() : "");
      core::Result<pb::Envelope> envelope = SignAndCheck(*c.key, payload, network.chain_id());
      if (!envelope.ok()) {
        refuse(item, "the record would be malformed: " + envelope.status().message());
        continue;
      }
      core::Record record;
      if (auto rej = core::DecodeRecord(*envelope, network.chain_id(), &record)) {
        refuse(item, rej->ToString());
        continue;
      }
      record.envelope = &*envelope;
      const core::BlockContext ctx{.height = c.height + 1, .time_ms = c.now_ms};
      const pb::ItemState* current = v.registered ? &v.state : nullptr;
      if (auto rej = core::ValidateRecord(network, record, current, ctx)) {
        refuse(item, "the custody rules refuse it for this key (" + who + "): " + rej->ToString());
        continue;
      }
      v.state = core::ApplyRecord(network, record, current, ctx);
      v.registered = true;
      v.history.push_back(
          {m.type, signer, key_org != nullptr ? key_org->id() : "", Content(payload)});

      PlannedRecord planned;
      planned.event_index = ev.index;
      planned.item = item;
      planned.type = m.type;
      planned.record_id = core::RecordIdOf(*envelope);
      planned.envelope = std::move(*envelope);
      EventResult* r = result(item, ImportOutcome::kPlanned, m.type, "");
      r->record = plan.records.size();
      plan.records.push_back(std::move(planned));
    }
  }
  return plan;
}

}  // namespace hallmark::wallet
