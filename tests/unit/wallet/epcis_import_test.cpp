// `hallmark import` (wallet-cli/epcis_import.h, import_commands.h, docs/epcis.md "Import"):
// validation of whole documents, the mapping of each supported event kind, refusals, planning
// against item states, and, on a real in-process ledger and API (live_node.h), submission,
// re-import and the export → import round trip into a fresh ledger.
#include "wallet-cli/epcis_import.h"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "core/codec.h"
#include "core/epcis.h"
#include "fixtures.h"
#include "live_node.h"
#include "peer_vectors/peer_vectors.h"
#include "proof_fixture.h"
#include "test_util.h"
#include "wallet-cli/records.h"

using namespace hallmark;
using test::PubFor;

namespace {

constexpr const char* kItem = test::kMaisonItem;  // 01/00614141000012/21/BAG-0001
constexpr const char* kItemLink = "https://id.gs1.org/01/00614141000012/21/BAG-0001";
constexpr const char* kItemEpc = "urn:epc:id:sgtin:0614141.000001.BAG-0001";
constexpr const char* kItem2 = "01/09506000134352/21/RING-7";
constexpr const char* kItem2Link = "https://example.com/01/09506000134352/21/RING-7";
constexpr const char* kAtelierLink = "https://id.gs1.org/01/01234567000015/21/W-42";

std::string Org(const std::string& id) {
  return "urn:hallmark:org:hallmark-test:" + id;
}
std::string KeyUri(const std::string& name) {
  return "urn:hallmark:key:" + PubFor(name).Hex();
}

// An event's JSON from its fields (without braces); eventTime and offset are added.
std::string Event(const std::string& fields, const std::string& time = "2026-06-01T10:00:00.000Z") {
  return R"({"type": "ObjectEvent", "eventTime": ")" + time +
         R"(", "eventTimeZoneOffset": "+00:00", )" + fields + "}";
}
std::string Commission(const std::string& epc, const std::string& extra = "") {
  return Event(R"("epcList": [")" + epc + R"("], "action": "ADD", "bizStep": "commissioning")" +
               extra);
}
std::string Ship(const std::string& epc, const std::string& from, const std::string& to,
                 const std::string& time, const std::string& step = "shipping") {
  return Event(R"("epcList": [")" + epc + R"("], "action": "OBSERVE", "bizStep": ")" + step +
                   R"(", "sourceList": [{"type": "possessing_party", "source": ")" + from +
                   R"("}], "destinationList": [{"type": "possessing_party", "destination": ")" +
                   to + R"("}])",
               time);
}
std::string Doc(const std::vector<std::string>& events) {
  std::string list;
  for (const std::string& e : events) list += (list.empty() ? "" : ",\n") + e;
  return R"({"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
  {"hallmark": "urn:hallmark:vocab:", "ext": "https://example.com/ext/"}],
  "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-06-02T00:00:00Z",
  "epcisBody": {"eventList": [)" +
         list + "]}}";
}

wallet::EpcisDocument Parse(const std::string& json) {
  core::Result<wallet::EpcisDocument> doc = wallet::ParseEpcisDocument(json);
  INFO(json);
  REQUIRE_MESSAGE(doc.ok(), doc.status().message());
  return std::move(*doc);
}

std::string ParseError(const std::string& json) {
  core::Result<wallet::EpcisDocument> doc = wallet::ParseEpcisDocument(json);
  if (doc.ok()) return "";
  return doc.status().message();
}

struct Planner {
  core::Network network = test::TestNetwork();
  wallet::ItemStates items;
  wallet::ImportPlan Plan(const std::string& json, const std::string& key_name) {
    wallet::EpcisDocument doc = Parse(json);
    const core::SigningKey key = test::KeyFor(key_name);
    wallet::PlanContext c;
    c.network = &network;
    c.key = &key;
    c.items = &items;
    c.height = 1;
    c.now_ms = 1'796'000'000'000;  // 2026-11-30.
    return wallet::PlanImport(doc, c);
  }
};

void WriteFile(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}
std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

}  // namespace

// --- Validation -----------------------------------------------------------------------------

TEST_CASE("import: a valid document parses, in every form the vocabulary allows") {
  const std::string doc = Doc({
      Commission(kItemLink),
      Event(R"("epcList": [")" + std::string(kItem2Link) +
            R"("], "action": "ADD", "bizStep": "cbv:BizStep-commissioning",
            "disposition": "https://ref.gs1.org/cbv/Disp-active")"),
      Ship(kItemEpc, Org("maison"), Org("resale"), "2026-06-01T05:00:00.5-07:00"),
      Event(R"("epcList": ["urn:epc:id:sscc:0614141.1234567890"], "action": "OBSERVE",
            "bizStep": "https://example.com/steps/weighing", "ext:field": {"nested": [1, true]})"),
  });
  wallet::EpcisDocument d = Parse(doc);
  REQUIRE(d.events().size() == 4);
  CHECK(d.events()[0].biz_step == "commissioning");
  CHECK(d.events()[1].biz_step == "commissioning");
  CHECK(d.events()[1].disposition == "active");
  CHECK(d.events()[1].items.at(0).Canonical() == kItem2);
  // The EPC URI and the Digital Link name the same item; the offset is applied.
  CHECK(d.events()[2].items.at(0).Canonical() == kItem);
  CHECK(d.events()[2].event_time_ms == 1'780'315'200'500);  // 2026-06-01T12:00:00.500Z.
  CHECK(d.events()[2].sources.at(0).type == "possessing_party");
  CHECK(d.events()[3].biz_step == "https://example.com/steps/weighing");
  CHECK(d.events()[3].items.empty());
  CHECK(d.events()[3].other_epcs == std::vector<std::string>{"urn:epc:id:sscc:0614141.1234567890"});
  CHECK(d.ItemIds() == std::vector<std::string>{kItem, kItem2});
  CHECK(d.Expand("hallmark:recordType") == "urn:hallmark:vocab:recordType");
  CHECK(d.Expand("other:x") == "other:x");
}

TEST_CASE("import: each validation error is named, with its place, and all are listed") {
  struct Case {
    std::string name;
    std::string json;
    std::string expected;
  };
  const std::string ok = Commission(kItemLink);
  auto replace = [](std::string s, const std::string& from, const std::string& to) {
    const size_t at = s.find(from);
    REQUIRE(at != std::string::npos);
    return s.replace(at, from.size(), to);
  };
  const std::string doc = Doc({ok});
  const std::vector<Case> cases = {
      {"not JSON", "{\"@context\": [", "not a JSON document"},
      {"an array", "[1, 2]", "expected a JSON object at the top level"},
      {"no @context", replace(doc, "\"@context\"", "\"ext:context\""), "@context is required"},
      {"another context",
       replace(doc, "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
               "https://example.com/context.jsonld"),
       "does not name GS1's EPCIS 2.0 context"},
      {"type", replace(doc, "\"EPCISDocument\"", "\"EPCISQueryDocument\""),
       "expected \"EPCISDocument\""},
      {"schemaVersion", replace(doc, "\"2.0\"", "\"1.2\""), "only EPCIS 2.x"},
      {"creationDate", replace(doc, "2026-06-02T00:00:00Z", "June 2nd"),
       "creationDate \"June 2nd\" is not an RFC 3339 date-time"},
      {"no epcisBody", replace(doc, "\"epcisBody\"", "\"ext:body\""), "epcisBody is required"},
      {"eventList not an array",
       replace(doc, "\"eventList\": [", "\"eventList\": \"none\", \"ext:l\": ["),
       "eventList must be an array"},
      {"an event not an object", Doc({"\"event\""}), "eventList[0]: an event must be an object"},
      {"eventTime missing", Doc({replace(ok, "\"eventTime\"", "\"ext:t\"")}),
       "eventList[0]: eventTime is required"},
      {"eventTime bad", Doc({replace(ok, "2026-06-01T10:00:00.000Z", "yesterday")}),
       "eventTime \"yesterday\" is not an RFC 3339 date-time"},
      {"eventTime 30 February", Doc({replace(ok, "2026-06-01", "2026-02-30")}),
       "is not an RFC 3339 date-time"},
      {"offset Z", Doc({replace(ok, "\"+00:00\"", "\"Z\"")}), "eventTimeZoneOffset \"Z\""},
      {"offset +15:00", Doc({replace(ok, "\"+00:00\"", "\"+15:00\"")}),
       "eventTimeZoneOffset \"+15:00\""},
      {"action missing", Doc({replace(ok, "\"action\": \"ADD\",", "")}), "action is required"},
      {"action MOVE", Doc({replace(ok, "\"ADD\"", "\"MOVE\"")}),
       "action \"MOVE\" is not ADD, OBSERVE or DELETE"},
      {"action a number", Doc({replace(ok, "\"ADD\"", "7")}),
       "action must be a string, not a number"},
      {"bizStep typo", Doc({replace(ok, "\"commissioning\"", "\"stole\"")}),
       "bizStep \"stole\" is neither a CBV 2.0 word nor a URI"},
      {"bizStep CBV 1.x",
       Doc({replace(ok, "\"commissioning\"", "\"urn:epcglobal:cbv:bizstep:commissioning\"")}),
       "is a CBV 1.x form"},
      {"bizStep not in CBV", Doc({replace(ok, "\"commissioning\"", "\"cbv:BizStep-stealing\"")}),
       "is not a CBV 2.0 bizStep word"},
      {"GTIN check digit", Doc({Commission("https://id.gs1.org/01/00614141000013/21/BAG-0001")}),
       "check digit"},
      {"EPC URI malformed", Doc({Commission("urn:epc:id:sgtin:0614141.BAG-0001")}),
       "SGTIN \"urn:epc:id:sgtin:0614141.BAG-0001\""},
      {"serial with a space", Doc({Commission("https://id.gs1.org/01/00614141000012/21/A%20B")}),
       "SGTIN"},
      {"EPC not a URI", Doc({Commission("BAG-0001")}), "\"BAG-0001\" is not a URI"},
      {"EPC twice", Doc({replace(ok, "\"]", "\", \"" + std::string(kItemLink) + "\"]")}),
       "listed twice"},
      {"same item twice", Doc({replace(ok, "\"]", "\", \"" + std::string(kItemEpc) + "\"]")}),
       "names the same item as an earlier entry"},
      {"epcList a string", Doc({replace(replace(ok, "[\"", "\""), "\"]", "\"")}),
       "epcList must be an array"},
      {"no epcList", Doc({replace(ok, "\"epcList\"", "\"ext:list\"")}), "needs an epcList"},
      {"unprefixed extension", Doc({replace(ok, "\"action\"", "\"recordId\": \"x\", \"action\"")}),
       "member \"recordId\" is not an EPCIS member"},
      {"ilmd with OBSERVE",
       Doc({Event(R"("epcList": [")" + std::string(kItemLink) +
                  R"("], "action": "OBSERVE", "ilmd": {"ext:a": "b"})")}),
       "ilmd (instance master data) is only allowed with action ADD"},
      {"source without type",
       Doc({replace(Ship(kItemLink, Org("maison"), Org("resale"), "2026-06-01T10:00:00Z"),
                    "\"type\": \"possessing_party\", \"source\"", "\"source\"")}),
       "sourceList[0]: type is required"},
      {"PGLN malformed",
       Doc({Ship(kItemLink, "urn:epc:id:pgln:0614141", Org("resale"), "2026-06-01T10:00:00Z")}),
       "expected <company prefix>.<reference>"},
      {"GLN check digit",
       Doc({Ship(kItemLink, "https://id.gs1.org/417/0614141000011", Org("resale"),
                 "2026-06-01T10:00:00Z")}),
       "the GLN's check digit is wrong"},
      {"eventID not a URI", Doc({replace(ok, "{\"type\"", "{\"eventID\": \"event 1\", \"type\"")}),
       "eventID must be a URI"},
      {"eventID twice",
       Doc({replace(ok, "{\"type\"", "{\"eventID\": \"urn:uuid:1\", \"type\""),
            replace(ok, "{\"type\"", "{\"eventID\": \"urn:uuid:1\", \"type\"")}),
       "eventID \"urn:uuid:1\" is used by an earlier event too"},
      {"persistentDisposition",
       Doc({replace(ok, "\"action\"",
                    "\"persistentDisposition\": {\"set\": [\"stole\"]}, "
                    "\"action\"")}),
       "persistentDisposition.set: disposition \"stole\""},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const std::string error = ParseError(c.json);
    CHECK_MESSAGE(error.find(c.expected) != std::string::npos, error);
  }
  // Every error of a document is listed, each with its place; the count is given.
  const std::string many =
      ParseError(Doc({replace(ok, "\"ADD\"", "\"MOVE\""), replace(ok, "\"+00:00\"", "\"Z\"")}));
  CHECK(many.find("(2 errors); nothing was imported") != std::string::npos);
  CHECK(many.find("eventList[0]: action \"MOVE\"") != std::string::npos);
  CHECK(many.find("eventList[1]: eventTimeZoneOffset") != std::string::npos);
}

TEST_CASE("import: hostile documents are refused by their bounds, never crash") {
  // Larger than the file limit.
  std::string huge = Doc({Commission(kItemLink)});
  huge.insert(huge.size() - 1, ", \"ext:pad\": \"" + std::string(9 * 1024 * 1024, 'a') + "\"");
  CHECK(ParseError(huge).find("larger than the limit") != std::string::npos);
  // Nested deeper than the bound.
  std::string deep = Doc({Event(R"("epcList": [], "action": "OBSERVE", "ext:deep": )" +
                                std::string(40, '[') + std::string(40, ']'))});
  CHECK(ParseError(deep).find("deeper") != std::string::npos);
  // More events than an import takes.
  std::vector<std::string> events(wallet::kImportEventsMax + 1,
                                  Event(R"("epcList": [], "action": "OBSERVE")"));
  CHECK(ParseError(Doc(events)).find("at most 10000 (split the file)") != std::string::npos);
  // More values than the bound, in a small file.
  std::string values = Doc({Event(R"("epcList": [], "action": "OBSERVE", "ext:v": [)" + [] {
    std::string s;
    for (int i = 0; i < 450'000; ++i) s += i ? ",1" : "1";
    return s;
  }() + "]")});
  CHECK(ParseError(values).find("values") != std::string::npos);
  // A member written twice (which would let a reader and a checker see different values).
  CHECK(ParseError(Doc({Commission(kItemLink, R"(, "action": "DELETE")")})).find("already set") !=
        std::string::npos);
  // Not UTF-8, a NUL, trailing garbage.
  CHECK(!ParseError(Doc({Commission("https://id.gs1.org/01/00614141000012/21/\xff")})).empty());
  CHECK(!ParseError(std::string("{\"a\":\0}", 7)).empty());
  CHECK(!ParseError(Doc({Commission(kItemLink)}) + "}").empty());
  CHECK(!ParseError("").empty());
}

// --- The mapping -------------------------------------------------------------------------------

TEST_CASE("import: commissioning becomes a registration with its ilmd attributes") {
  Planner p;
  const std::string ilmd = R"(, "ilmd": {"hallmark:attributes": [
      {"hallmark:key": "model", "hallmark:value": "Speedy"},
      {"hallmark:key": "colour", "hallmark:value": "tan"}],
      "hallmark:documents": [{"hallmark:name": "cert",
        "hallmark:sha256": "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"}],
      "ext:lotNumber": "L-7"})";
  wallet::ImportPlan plan = p.Plan(Doc({Commission(kItemLink, ilmd)}), "maison");
  REQUIRE(plan.results.size() == 1);
  CHECK(plan.results[0].outcome == wallet::ImportOutcome::kPlanned);
  REQUIRE(plan.records.size() == 1);
  pb::RecordPayload payload;
  REQUIRE(payload.ParseFromString(plan.records[0].envelope.payload()));
  CHECK(payload.item_id() == kItem);
  CHECK(payload.prev().empty());
  CHECK(payload.timestamp_ms() == 1'780'308'000'000);  // The event's time.
  const pb::Register& r = payload.register_();
  REQUIRE(r.attributes_size() == 3);
  CHECK(r.attributes(0).key() == "model");
  CHECK(r.attributes(1).value() == "tan");
  CHECK(r.attributes(2).key() == "ext:lotNumber");  // Other string members, as written.
  CHECK(r.attributes(2).value() == "L-7");
  REQUIRE(r.documents_size() == 1);
  CHECK(core::ToHex(r.documents(0).sha256()).starts_with("00112233"));
  CHECK(!r.has_custodian());

  // A non-string ilmd member cannot be recorded: the event is refused, saying so.
  plan =
      p.Plan(Doc({Commission(kItemLink, R"(, "ilmd": {"ext:weight": {"value": 3}})")}), "maison");
  REQUIRE(plan.results.size() == 1);
  CHECK(plan.results[0].outcome == wallet::ImportOutcome::kRefused);
  CHECK(plan.results[0].reason.find("\"ext:weight\" is an object") != std::string::npos);
}

TEST_CASE("import: shipping, receiving and retail_selling become transfers, prev chained") {
  Planner p;
  const std::string doc = Doc({
      Commission(kItemLink),
      Ship(kItemLink, Org("maison"), Org("resale"), "2026-06-02T10:00:00Z"),
      Commission(kItem2Link),
      // A receiving event names the same change of custody from the receiver's side; GS1 party
      // keys are matched by company prefix (maison has 9506000).
      Ship(kItem2Link, "urn:epc:id:pgln:9506000.00001", Org("resale"), "2026-06-02T11:00:00Z",
           "receiving"),
  });
  wallet::ImportPlan plan = p.Plan(doc, "maison");
  REQUIRE(plan.records.size() == 4);
  CHECK(plan.Count(wallet::ImportOutcome::kPlanned) == 4);
  pb::RecordPayload ship;
  REQUIRE(ship.ParseFromString(plan.records[1].envelope.payload()));
  CHECK(plan.records[1].type == core::RecordType::kTransfer);
  CHECK(ship.prev() == std::string(plan.records[0].record_id.view()));
  CHECK(ship.transfer().to().organization() == "resale");
  pb::RecordPayload receive;
  REQUIRE(receive.ParseFromString(plan.records[3].envelope.payload()));
  CHECK(receive.prev() == std::string(plan.records[2].record_id.view()));
  CHECK(receive.transfer().to().organization() == "resale");

  // The resale marketplace then sells to a consumer: the key of the custodian signs it.
  p.items.clear();
  const std::string sale = Doc({
      Commission(kItemLink),
      Ship(kItemLink, Org("maison"), Org("resale"), "2026-06-02T10:00:00Z"),
      Ship(kItemLink, Org("resale"), KeyUri("alice"), "2026-06-03T10:00:00Z", "retail_selling"),
  });
  plan = p.Plan(sale, "maison");
  REQUIRE(plan.results.size() == 3);
  CHECK(plan.results[0].outcome == wallet::ImportOutcome::kPlanned);
  CHECK(plan.results[1].outcome == wallet::ImportOutcome::kPlanned);
  // The sale is resale's to sign, not maison's: refused, naming the event and the custodian.
  CHECK(plan.results[2].outcome == wallet::ImportOutcome::kRefused);
  CHECK(plan.results[2].event_name == "event 3");
  CHECK(plan.results[2].reason.find(
            "cannot sign the transfer: the item's custodian is organization \"resale\"") !=
        std::string::npos);
}

TEST_CASE("import: events with no faithful record type are refused by index and eventID") {
  Planner p;
  const std::string doc = Doc({
      R"({"eventID": "urn:uuid:agg-1", "type": "AggregationEvent", "eventTime": "2026-06-01T10:00:00Z",
          "eventTimeZoneOffset": "+00:00", "parentID": "urn:epc:id:sscc:0614141.1234567890",
          "childEPCs": [")" +
          std::string(kItemEpc) + R"("], "action": "ADD"})",
      Event(R"("eventID": "urn:uuid:obs-1", "epcList": [")" + std::string(kItemLink) +
            R"("], "action": "OBSERVE", "bizStep": "inspecting")"),
      Event(R"("epcList": [], "action": "OBSERVE", "quantityList": [{"epcClass":
            "urn:epc:class:lgtin:4012345.012345.998877", "quantity": 200}])"),
      Event(R"("epcList": ["urn:epc:id:sscc:0614141.1234567890"], "action": "OBSERVE")"),
      Event(R"("epcList": [")" + std::string(kItemLink) +
            R"("], "action": "DELETE", "bizStep": "destroying")"),
      Ship(kItemLink, Org("maison"), "urn:epc:id:pgln:4012345.00225", "2026-06-02T10:00:00Z"),
      Ship(kItemLink, Org("maison"), "urn:hallmark:org:other-chain:resale", "2026-06-02T10:00:00Z"),
      Event(R"("epcList": [")" + std::string(kItemLink) +
            R"("], "action": "OBSERVE", "bizStep": "shipping")"),
  });
  wallet::ImportPlan plan = p.Plan(doc, "maison");
  REQUIRE(plan.results.size() == 8);
  CHECK(plan.records.empty());
  for (const wallet::EventResult& r : plan.results) {
    INFO(r.event_name << ": " << r.reason);
    CHECK(r.outcome == wallet::ImportOutcome::kRefused);
    CHECK(!r.reason.empty());
  }
  CHECK(plan.results[0].event_name == "event 1 (eventID \"urn:uuid:agg-1\")");
  CHECK(plan.results[0].reason.find("AggregationEvent has no Hallmark record type") !=
        std::string::npos);
  CHECK(plan.results[1].event_name == "event 2 (eventID \"urn:uuid:obs-1\")");
  CHECK(plan.results[1].reason.find("bizStep \"inspecting\" has no faithful Hallmark record") !=
        std::string::npos);
  CHECK(plan.results[2].reason.find("a quantityList names classes, not items") !=
        std::string::npos);
  CHECK(plan.results[3].reason.find("is not a serialised item (SGTIN)") != std::string::npos);
  CHECK(plan.results[4].reason.find("a decommission needs its reason") != std::string::npos);
  CHECK(plan.results[5].reason.find("no organisation of the genesis has its GS1 company prefix") !=
        std::string::npos);
  CHECK(plan.results[6].reason.find("is of another network") != std::string::npos);
  CHECK(plan.results[7].reason.find("a transfer needs its new custodian") != std::string::npos);
}

TEST_CASE("import: a key is refused what it may not sign, with the rules' reason") {
  Planner p;
  // atelier cannot register maison's item: the custody rules say why.
  wallet::ImportPlan plan = p.Plan(Doc({Commission(kItemLink)}), "atelier");
  REQUIRE(plan.results.size() == 1);
  CHECK(plan.results[0].outcome == wallet::ImportOutcome::kRefused);
  CHECK(plan.results[0].reason.find("organization \"atelier\"") != std::string::npos);
  CHECK(plan.results[0].reason.find("not_authorized") != std::string::npos);
  // A transfer of an item nobody registered.
  plan = p.Plan(Doc({Ship(kAtelierLink, Org("atelier"), Org("resale"), "2026-06-01T10:00:00Z")}),
                "atelier");
  CHECK(plan.results.at(0).reason.find("is not registered") != std::string::npos);
  // The document names another signer than this key.
  plan = p.Plan(Doc({Event(R"("epcList": [")" + std::string(kItemLink) +
                           R"("], "action": "OBSERVE", "bizStep": "inspecting",
                           "hallmark:recordType": "attest", "hallmark:verdict": "genuine",
                           "hallmark:signedBy": ")" +
                           Org("authlab") + "\"")}),
                "maison");
  CHECK(plan.results.at(0).reason.find("says organization \"authlab\" signed this attest") !=
        std::string::npos);
  // A shipment from a party that does not hold the item.
  plan = p.Plan(Doc({Commission(kItemLink),
                     Ship(kItemLink, Org("resale"), Org("authlab"), "2026-06-02T10:00:00Z")}),
                "maison");
  CHECK(plan.results.at(1).reason.find("moves it from organization \"resale\", but its custodian "
                                       "then is organization \"maison\"") != std::string::npos);
  // An event in the future (beyond the allowed clock skew).
  plan = p.Plan(Doc({Event(R"("epcList": [")" + std::string(kItemLink) +
                               R"("], "action": "ADD", "bizStep": "commissioning")",
                           "2030-01-01T00:00:00Z")}),
                "maison");
  CHECK(plan.results.at(0).reason.find("future_timestamp") != std::string::npos);
}

TEST_CASE("import: events Hallmark exported map back to their own record types") {
  Planner p;
  const std::string item = R"("epcList": [")" + std::string(kItemLink) + R"("], )";
  const std::string doc = Doc({
      Commission(kItemLink),
      Ship(kItemLink, Org("maison"), Org("resale"), "2026-06-02T10:00:00Z"),
      Event(item + R"("action": "OBSERVE", "bizStep": "other", "disposition": "recalled",
            "hallmark:recordType": "flag", "hallmark:flag": "recalled", "hallmark:note": "batch")",
            "2026-06-03T10:00:00Z"),
      Event(item + R"("action": "OBSERVE", "bizStep": "other",
            "hallmark:recordType": "clear_flag", "hallmark:flag": "recalled")",
            "2026-06-04T10:00:00Z"),
      Event(item + R"("action": "DELETE", "bizStep": "destroying", "disposition": "destroyed",
            "hallmark:recordType": "decommission", "hallmark:decommission": "destroyed",
            "hallmark:reason": "water damage")",
            "2026-06-05T10:00:00Z"),
      Event(item + R"("action": "OBSERVE", "bizStep": "other",
            "hallmark:recordType": "flag", "hallmark:flag": "nicked")",
            "2026-06-06T10:00:00Z"),
  });
  wallet::ImportPlan plan = p.Plan(doc, "maison");
  REQUIRE(plan.results.size() == 6);
  std::vector<core::RecordType> types;
  for (const wallet::PlannedRecord& r : plan.records) types.push_back(r.type);
  CHECK(types == std::vector<core::RecordType>{core::RecordType::kRegister,
                                               core::RecordType::kTransfer, core::RecordType::kFlag,
                                               core::RecordType::kClearFlag,
                                               core::RecordType::kDecommission});
  pb::RecordPayload flag;
  REQUIRE(flag.ParseFromString(plan.records[2].envelope.payload()));
  CHECK(flag.flag().kind() == pb::RECALLED);
  CHECK(flag.flag().note() == "batch");
  pb::RecordPayload decommission;
  REQUIRE(decommission.ParseFromString(plan.records[4].envelope.payload()));
  CHECK(decommission.decommission().reason() == "water damage");
  CHECK(plan.results[5].outcome == wallet::ImportOutcome::kRefused);
  CHECK(plan.results[5].reason.find("nicked") != std::string::npos);
}

// --- Peer vectors ---------------------------------------------------------------------------

TEST_CASE("import: GS1's example documents plan, or are refused whole or event by event") {
  const auto found = test::PeerVectorPath("epcis");
  if (!found) {
    MESSAGE("SKIPPED: epcis absent (" << test::PeerVectorsDir().string()
                                      << " is outside the repository)");
    return;
  }
  const std::filesystem::path dir = *found;
  // GS1's schema accepts these (checked with tests/epcis/validate_epcis.py); the others are
  // JSON-LD contexts, not documents, and "all possible fields" has ilmd with OBSERVE, which the
  // schema refuses.
  const std::set<std::string> valid = {
      "Example_9.6.1-ObjectEvent.jsonld", "Example_9.6.2-ObjectEvent.jsonld",
      "Example_9.6.3-AggregationEvent.jsonld", "Example_9.6.1-ObjectEventWithDigitalLink.jsonld"};
  size_t seen = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.path().extension() != ".jsonld") continue;
    ++seen;
    const std::string name = entry.path().filename().string();
    INFO(name);
    core::Result<wallet::EpcisDocument> doc = wallet::ParseEpcisDocument(ReadFile(entry.path()));
    if (!valid.count(name)) {
      CHECK(!doc.ok());
      if (!doc.ok()) CHECK(doc.status().message().find("not valid") != std::string::npos);
      continue;
    }
    REQUIRE_MESSAGE(doc.ok(), doc.status().message());
    Planner p;
    const core::SigningKey key = test::KeyFor("maison");
    wallet::PlanContext c{&p.network, &key, &p.items, 1, 1'796'000'000'000};
    wallet::ImportPlan plan = wallet::PlanImport(*doc, c);
    // Every event has a result; none is dropped; every refusal says why.
    std::set<size_t> events;
    for (const wallet::EventResult& r : plan.results) {
      events.insert(r.event_index);
      if (r.outcome == wallet::ImportOutcome::kRefused) CHECK(!r.reason.empty());
    }
    CHECK(events.size() == doc->events().size());
    // None is a registration, so none of their items is on this ledger: nothing to submit.
    CHECK(plan.records.empty());
  }
  CHECK(seen == 8);
}

TEST_CASE("import: a document of 10,000 commissioning events, the most one import takes, plans") {
  std::vector<std::string> events;
  for (size_t i = 0; i < wallet::kImportEventsMax; ++i) {
    events.push_back(Commission("https://id.gs1.org/01/00614141000012/21/S-" + std::to_string(i)));
  }
  const std::string json = Doc(events);
  const auto start = std::chrono::steady_clock::now();
  core::Result<wallet::EpcisDocument> doc = wallet::ParseEpcisDocument(json);
  REQUIRE(doc.ok());
  const auto parsed = std::chrono::steady_clock::now();
  Planner p;
  const core::SigningKey key = test::KeyFor("maison");
  wallet::PlanContext c{&p.network, &key, &p.items, 1, 1'796'000'000'000};
  wallet::ImportPlan plan = wallet::PlanImport(*doc, c);
  const auto planned = std::chrono::steady_clock::now();
  CHECK(plan.records.size() == wallet::kImportEventsMax);
  CHECK(plan.Count(wallet::ImportOutcome::kPlanned) == wallet::kImportEventsMax);
  auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  MESSAGE(json.size() << " bytes: parsed and validated in " << ms(parsed - start)
                      << " ms, planned and signed in " << ms(planned - parsed) << " ms");
}

// --- On a real ledger ---------------------------------------------------------------------

namespace {

struct Live {
  test::TempDir files;
  std::string genesis;
  std::string maison, resale, alice;
  Live() {
    genesis = (files.path() / "genesis.json").string();
    WriteFile(genesis, core::ToJson(test::TestGenesis()).value());
    maison = test::WriteDevKey(files.path(), "maison");
    resale = test::WriteDevKey(files.path(), "resale");
    alice = test::WriteDevKey(files.path(), "alice");
  }
  test::CliRun Import(const test::LiveNode& node, const std::string& doc, const std::string& key,
                      std::vector<std::string> extra = {}) {
    const std::string path = (files.path() / "doc.jsonld").string();
    WriteFile(path, doc);
    std::vector<std::string> args = {"import", path,     "--key",    key,         "--genesis",
                                     genesis,  "--node", node.url(), "--timeout", "20"};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::RunCli(args);
  }
};

pb::ItemResponse Show(const test::LiveNode& node, const std::string& item) {
  test::CliRun r = test::RunCli({"show", item, "--node", node.url(), "--json"});
  REQUIRE(r.code == 0);
  pb::ItemResponse response;
  REQUIRE(core::FromJson(r.out, &response, "show").ok());
  return response;
}

}  // namespace

TEST_CASE("import: a live import registers and transfers, and importing again changes nothing") {
  test::LiveNode node;
  Live t;
  const std::string doc = Doc({
      Commission(kItemLink, R"(, "ilmd": {"hallmark:attributes": [{"hallmark:key": "model",
                 "hallmark:value": "Speedy"}]})"),
      Ship(kItemEpc, Org("maison"), Org("resale"), "2026-06-02T10:00:00Z"),
      Commission(kItem2Link),
      Event(R"("eventID": "urn:uuid:w1", "epcList": [")" + std::string(kItem2Link) +
            R"("], "action": "OBSERVE", "bizStep": "inspecting")"),
  });
  // --dry-run plans and submits nothing.
  test::CliRun dry = t.Import(node, doc, t.maison, {"--dry-run"});
  INFO(dry.out << dry.err);
  CHECK(dry.code == 2);
  CHECK(dry.out.find("to submit      3") != std::string::npos);
  CHECK(!Show(node, kItem).registered());

  test::CliRun first = t.Import(node, doc, t.maison);
  INFO(first.out << first.err);
  CHECK(first.code == 2);  // The inspection has no record type.
  CHECK(first.out.find("registered     2") != std::string::npos);
  CHECK(first.out.find("transferred    1") != std::string::npos);
  CHECK(first.out.find("refused        1") != std::string::npos);
  CHECK(first.out.find("refused: event 4 (eventID \"urn:uuid:w1\"), item " + std::string(kItem2) +
                       ": action OBSERVE with bizStep \"inspecting\"") != std::string::npos);
  pb::ItemResponse a = Show(node, kItem);
  REQUIRE(a.registered());
  CHECK(a.state().brand() == "maison");
  CHECK(a.state().custodian().organization() == "resale");
  REQUIRE(a.state().attributes_size() == 1);
  CHECK(a.state().attributes(0).value() == "Speedy");
  CHECK(a.history_size() == 2);
  CHECK(a.history(0).payload().timestamp_ms() == 1'780'308'000'000);

  // Again: everything that was recorded is already there; nothing is submitted twice.
  test::CliRun again = t.Import(node, doc, t.maison);
  INFO(again.out << again.err);
  CHECK(again.code == 2);
  CHECK(again.out.find("registered     0") != std::string::npos);
  CHECK(again.out.find("transferred    0") != std::string::npos);
  CHECK(again.out.find("already there  3") != std::string::npos);
  CHECK(Show(node, kItem).history_size() == 2);
  CHECK(Show(node, kItem2).history_size() == 1);

  // The same item commissioned with other attributes is refused, not "already there".
  test::CliRun other = t.Import(node, Doc({Commission(kItemLink)}), t.maison);
  CHECK(other.code == 2);
  CHECK(other.out.find("already registered by \"maison\" with other attributes") !=
        std::string::npos);
  // An invalid document: exit 3, nothing submitted.
  test::CliRun invalid = t.Import(node,
                                  Doc({Commission("https://id.gs1.org/01/00614141000029/21/X"),
                                       Commission("https://id.gs1.org/01/00614141000028/21/X")}),
                                  t.maison);
  CHECK(invalid.code == 3);
  CHECK(invalid.err.find("is not valid (1 error); nothing was imported") != std::string::npos);
  CHECK(invalid.err.find("eventList[1]: epcList[0]: SGTIN") != std::string::npos);
  CHECK(!Show(node, "01/00614141000029/21/X").registered());
}

TEST_CASE("import: export then import into a fresh ledger gives the same item and custody") {
  // The source: a certified chain (proof_fixture.h), so `hallmark export` verifies its bundle.
  test::ProvenChain chain;
  Live t;
  std::vector<pb::Envelope> records;
  auto prev = [&] { return records.empty() ? std::string() : test::Id(records.back()); };
  auto next = [&](uint64_t k) {
    pb::RecordPayload p = test::Payload(kItem, prev());
    p.set_timestamp_ms(test::kTestTimeMs + k * 60'000);
    return p;
  };
  pb::RecordPayload reg = next(0);
  for (auto [k, v] : {std::pair{"model", "Speedy"}, std::pair{"colour", "tan"}}) {
    pb::Attribute* a = reg.mutable_register_()->add_attributes();
    a->set_key(k);
    a->set_value(v);
  }
  records.push_back(chain.CommitOne("maison", reg));
  pb::RecordPayload ship = next(1);
  *ship.mutable_transfer()->mutable_to() = test::OrgHolder("resale");
  records.push_back(chain.CommitOne("maison", ship));
  pb::RecordPayload sale = next(2);
  *sale.mutable_transfer()->mutable_to() = test::KeyHolder("alice");
  records.push_back(chain.CommitOne("resale", sale));
  pb::RecordPayload lost = next(3);
  lost.mutable_flag()->set_kind(pb::LOST);
  lost.mutable_flag()->set_note("on a train");
  records.push_back(chain.CommitOne("alice", lost));

  const std::filesystem::path bundle = t.files.path() / "item.proof";
  WriteFile(bundle, chain.BundleBytes(kItem));
  const std::string exported = (t.files.path() / "export.jsonld").string();
  test::CliRun ex = test::RunCli({"export", kItem, "--format", "epcis", "--proof", bundle.string(),
                                  "--genesis", t.genesis, "--out", exported});
  INFO(ex.err);
  REQUIRE(ex.code == 0);
  const std::string doc = ReadFile(exported);

  // Into a fresh ledger of the same genesis, with each signer's key in turn.
  test::LiveNode fresh;
  test::CliRun by_maison = t.Import(fresh, doc, t.maison);
  INFO(by_maison.out << by_maison.err);
  CHECK(by_maison.code == 2);
  CHECK(by_maison.out.find("registered     1") != std::string::npos);
  CHECK(by_maison.out.find("transferred    1") != std::string::npos);
  CHECK(by_maison.out.find("refused        2") != std::string::npos);
  CHECK(by_maison.out.find("the document says organization \"resale\" signed this transfer; this "
                           "key is organization \"maison\"'s and cannot sign it") !=
        std::string::npos);
  test::CliRun by_resale = t.Import(fresh, doc, t.resale);
  INFO(by_resale.out << by_resale.err);
  CHECK(by_resale.code == 2);  // The flag is alice's.
  CHECK(by_resale.out.find("transferred    1") != std::string::npos);
  CHECK(by_resale.out.find("already there  2") != std::string::npos);
  test::CliRun by_alice = t.Import(fresh, doc, t.alice);
  INFO(by_alice.out << by_alice.err);
  CHECK(by_alice.code == 0);
  CHECK(by_alice.out.find("recorded       1") != std::string::npos);
  CHECK(by_alice.out.find("already there  3") != std::string::npos);

  // Same brand, attributes, custodian sequence and flag; indeed the very same records, since
  // each is the same payload signed by the same key (Ed25519 signatures are deterministic).
  pb::ItemResponse b = Show(fresh, kItem);
  CHECK(b.state().brand() == "maison");
  CHECK(core::HolderEquals(b.state().custodian(), test::KeyHolder("alice")));
  REQUIRE(b.state().attributes_size() == 2);
  CHECK(b.state().attributes(0).value() == "Speedy");
  CHECK(b.state().attributes(1).value() == "tan");
  REQUIRE(b.state().flags_size() == 1);
  CHECK(b.state().flags(0).kind() == pb::LOST);
  REQUIRE(b.history_size() == 4);
  for (int i = 0; i < 4; ++i) {
    CHECK(b.history(i).record_id() == test::RecordId(records[static_cast<size_t>(i)]).Hex());
  }

  // Importing it again, with any of the keys: everything is already there.
  test::CliRun again = t.Import(fresh, doc, t.maison);
  INFO(again.out << again.err);
  CHECK(again.code == 0);
  CHECK(again.out.find("already there  4") != std::string::npos);
  CHECK(Show(fresh, kItem).history_size() == 4);

  // The wrong key for everything, on another fresh ledger: nothing is submitted.
  test::LiveNode third;
  test::CliRun wrong = t.Import(third, doc, t.resale);
  CHECK(wrong.code == 2);
  CHECK(wrong.out.find("refused        4") != std::string::npos);
  CHECK(!Show(third, kItem).registered());
}

TEST_CASE("import: usage, file and network errors exit 3 before anything is sent") {
  Live t;
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "import");
    return test::RunCli(args);
  };
  const std::string doc = (t.files.path() / "doc.jsonld").string();
  WriteFile(doc, Doc({Commission(kItemLink)}));
  // No node listens on port 9 of loopback.
  test::CliRun down = run({doc, "--key", t.maison, "--genesis", t.genesis, "--node",
                           "http://127.0.0.1:9", "--timeout", "2"});
  CHECK(down.code == 3);
  CHECK(run({doc, "--genesis", t.genesis}).code == 3);  // No --key.
  CHECK(run({doc, "--key", t.maison}).code == 3);       // No --genesis.
  test::CliRun json = run({doc, "--key", t.maison, "--genesis", t.genesis, "--json"});
  CHECK(json.code == 3);
  CHECK(json.err.find("--json is not supported yet") != std::string::npos);
  test::CliRun missing =
      run({(t.files.path() / "nope.jsonld").string(), "--key", t.maison, "--genesis", t.genesis});
  CHECK(missing.code == 3);
  CHECK(missing.err.find("cannot open") != std::string::npos);
  test::CliRun folder = run({t.files.path().string(), "--key", t.maison, "--genesis", t.genesis});
  CHECK(folder.code == 3);
  CHECK(folder.err.find("is a folder") != std::string::npos);
  const std::string big = (t.files.path() / "big.jsonld").string();
  WriteFile(big, std::string(wallet::kImportDocumentBytesMax + 1, ' '));
  test::CliRun large = run({big, "--key", t.maison, "--genesis", t.genesis});
  CHECK(large.code == 3);
  CHECK(large.err.find("the most one import reads") != std::string::npos);
  // A document for another network's genesis is checked against the node's chain.
  test::LiveNode node;
  pb::Genesis other = test::TestGenesis();
  other.set_chain_id("other-chain");
  const std::string other_genesis = (t.files.path() / "other.json").string();
  WriteFile(other_genesis, core::ToJson(other).value());
  test::CliRun chain =
      run({doc, "--key", t.maison, "--genesis", other_genesis, "--node", node.url()});
  CHECK(chain.code == 2);
  CHECK(chain.err.find("is on chain \"hallmark-test\"") != std::string::npos);
  CHECK(!Show(node, kItem).registered());
}

// Writes documents the import tests read, for tests/epcis/schema_test.sh to check against GS1's
// schema (so the tests' documents are EPCIS as GS1 defines it, not just as Hallmark reads it).
TEST_CASE("import: sample documents for the schema check") {
  test::TempDir tmp;
  const char* env = std::getenv("HALLMARK_EPCIS_SAMPLE_DIR");
  const std::filesystem::path dir = env != nullptr && *env != '\0' ? env : tmp.path();
  std::filesystem::create_directories(dir);
  const std::vector<std::string> docs = {
      Doc({Commission(kItemLink, R"(, "ilmd": {"hallmark:attributes": [{"hallmark:key": "model",
           "hallmark:value": "Speedy"}], "ext:lotNumber": "L-7"})"),
           Event(R"("epcList": [")" + std::string(kItem2Link) +
                 R"("], "action": "ADD", "bizStep": "cbv:BizStep-commissioning",
                 "disposition": "https://ref.gs1.org/cbv/Disp-active")"),
           Ship(kItemEpc, Org("maison"), Org("resale"), "2026-06-01T05:00:00.5-07:00"),
           Ship(kItem2Link, "urn:epc:id:pgln:9506000.00001", Org("resale"), "2026-06-02T11:00:00Z",
                "receiving"),
           Ship(kItemLink, Org("resale"), KeyUri("alice"), "2026-06-03T10:00:00Z",
                "retail_selling")}),
      Doc({R"({"eventID": "urn:uuid:agg-1", "type": "AggregationEvent",
          "eventTime": "2026-06-01T10:00:00Z", "eventTimeZoneOffset": "+00:00",
          "parentID": "urn:epc:id:sscc:0614141.1234567890", "childEPCs": [")" +
               std::string(kItemEpc) + R"("], "action": "ADD"})",
           Event(R"("eventID": "urn:uuid:obs-1", "epcList": [")" + std::string(kItemLink) +
                 R"("], "action": "OBSERVE", "bizStep": "inspecting")"),
           Event(R"("epcList": [], "action": "OBSERVE", "quantityList": [{"epcClass":
                 "urn:epc:class:lgtin:4012345.012345.998877", "quantity": 200}])"),
           Event(R"("epcList": [")" + std::string(kItemLink) +
                 R"("], "action": "DELETE", "bizStep": "destroying",
                 "hallmark:recordType": "decommission", "hallmark:decommission": "destroyed",
                 "hallmark:reason": "water damage")")}),
  };
  for (size_t i = 0; i < docs.size(); ++i) {
    CHECK(wallet::ParseEpcisDocument(docs[i]).ok());
    WriteFile(dir / ("import-" + std::to_string(i + 1) + ".jsonld"), docs[i]);
  }
}
