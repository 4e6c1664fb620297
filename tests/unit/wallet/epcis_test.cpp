// `hallmark export --format epcis` (core/epcis.h, export_commands.h, docs/epcis.md): a
// real chain with every kind of record, proven by a real proof bundle, exported and parsed back
// with Protobuf's JSON parser; the CBV words; the helpers; and the command's refusals.
//
// The GS1 JSON schema check is tests/epcis/schema_test.sh, which runs the case "epcis: sample
// bundles for the schema check" of this binary to get its input.
#include "core/epcis.h"

#include <doctest/doctest.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <time.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "core/clock.h"
#include "core/codec.h"
#include "core/crypto/sha256.h"
#include "fake_node.h"
#include "fixtures.h"
#include "proof_fixture.h"
#include "test_util.h"
#include "wallet-cli/export_commands.h"

using namespace hallmark;
using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;
using test::KeyHolder;
using test::OrgHolder;
using test::PubFor;

namespace {

constexpr uint64_t kNowMs = 1'767'225'600'000;  // 2026-01-01T00:00:00.000Z
constexpr const char* kNow = "2026-01-01T00:00:00.000Z";
// Every kind of record, on one item of maison's.
constexpr const char* kItemA = test::kMaisonItem;  // 01/00614141000012/21/BAG-0001
// A serial Digital Link must percent-encode; registered straight to a holder, then recycled.
constexpr const char* kItemB = "01/09506000134352/21/RING&7/B";
constexpr const char* kItemBLink = "https://id.gs1.org/01/09506000134352/21/RING%267%2FB";
// Never registered.
constexpr const char* kItemC = "01/00614141000029/21/NEVER-1";

std::string OrgUri(const std::string& org) {
  return "urn:hallmark:org:hallmark-test:" + org;
}
std::string KeyUri(const std::string& name) {
  return "urn:hallmark:key:" + PubFor(name).Hex();
}
// The party URI of a test signer: an organisation of TestGenesis, or a holder key.
std::string SignerUri(const std::string& name) {
  static const std::set<std::string> kOrgs = {"maison", "atelier", "resale", "authlab", "repairco"};
  return kOrgs.count(name) ? OrgUri(name) : KeyUri(name);
}

// What one exported event must hold, besides what every event holds.
struct Expected {
  std::string signer{};
  std::string record_type{};
  std::string action{};
  std::string biz_step{};
  std::string disposition{};  // Empty: absent.
  std::string persistent_set{};
  std::string persistent_unset{};
  std::string source{};                         // Empty: no sourceList.
  std::string destination{};                    // Empty: no destinationList.
  std::map<std::string, std::string> extras{};  // hallmark: fields of this record type.
  bool ilmd = false;
};

// A committed chain holding items A and B, the envelopes and what each must export as.
struct History {
  test::ProvenChain chain;
  std::vector<pb::Envelope> a;
  std::vector<Expected> a_expected;
  std::vector<pb::Envelope> b;
  std::vector<Expected> b_expected;
  std::string document_sha256 = std::string(32, '\x5a');

  History() {
    // Distinct timestamps with a millisecond part, so eventTime is checked per record.
    uint64_t n = 0;
    auto payload = [&](const char* item, const std::vector<pb::Envelope>& prev) {
      pb::RecordPayload p = test::Payload(item, prev.empty() ? "" : test::Id(prev.back()));
      ++n;
      p.set_timestamp_ms(test::kTestTimeMs + 1000 * n + 7 * n);
      return p;
    };
    auto commit = [&](std::vector<pb::Envelope>& to, std::vector<Expected>& ex, const char* signer,
                      const pb::RecordPayload& p, Expected e) {
      to.push_back(chain.CommitOne(signer, p));
      e.signer = signer;
      ex.push_back(std::move(e));
    };
    auto A = [&](const char* signer, const pb::RecordPayload& p, Expected e) {
      commit(a, a_expected, signer, p, std::move(e));
    };

    {
      pb::RecordPayload p = payload(kItemA, a);
      auto* attr = p.mutable_register_()->add_attributes();
      attr->set_key("model");
      attr->set_value("Sac Aurèle 30");
      attr = p.mutable_register_()->add_attributes();
      attr->set_key("finish");
      attr->set_value("noir \"mat\" \\ <grainé>");
      auto* doc = p.mutable_register_()->add_documents();
      doc->set_name("certificate.pdf");
      doc->set_sha256(document_sha256);
      A("maison", p,
        {.record_type = "register",
         .action = "ADD",
         .biz_step = "commissioning",
         .disposition = "active",
         .destination = OrgUri("maison"),
         .ilmd = true});
    }
    {
      pb::RecordPayload p = payload(kItemA, a);
      *p.mutable_transfer()->mutable_to() = OrgHolder("resale");
      A("maison", p,
        {.record_type = "transfer",
         .action = "OBSERVE",
         .biz_step = "shipping",
         .disposition = "in_transit",
         .source = OrgUri("maison"),
         .destination = OrgUri("resale")});
    }
    {
      pb::RecordPayload p = payload(kItemA, a);
      p.mutable_attest()->set_verdict(pb::GENUINE);
      p.mutable_attest()->set_note("stitching checked\nhardware\tok");
      A("resale", p,
        {.record_type = "attest",
         .action = "OBSERVE",
         .biz_step = "inspecting",
         .extras = {{"hallmark:verdict", "genuine"},
                    {"hallmark:note", "stitching checked\nhardware\tok"}}});
    }
    {
      pb::RecordPayload p = payload(kItemA, a);
      *p.mutable_transfer()->mutable_to() = KeyHolder("alice");
      A("resale", p,
        {.record_type = "transfer",
         .action = "OBSERVE",
         .biz_step = "retail_selling",
         .disposition = "retail_sold",
         .source = OrgUri("resale"),
         .destination = KeyUri("alice")});
    }
    auto flag = [&](const char* signer, pb::FlagKind kind, const char* note, Expected e) {
      pb::RecordPayload p = payload(kItemA, a);
      p.mutable_flag()->set_kind(kind);
      p.mutable_flag()->set_note(note);
      e.record_type = "flag";
      e.action = "OBSERVE";
      e.biz_step = "other";
      e.extras = {{"hallmark:flag", std::string(core::FlagKindName(kind))},
                  {"hallmark:note", note}};
      A(signer, p, std::move(e));
    };
    auto clear = [&](const char* signer, pb::FlagKind kind, Expected e) {
      pb::RecordPayload p = payload(kItemA, a);
      p.mutable_clear_flag()->set_kind(kind);
      e.record_type = "clear_flag";
      e.action = "OBSERVE";
      e.biz_step = "other";
      e.extras = {{"hallmark:flag", std::string(core::FlagKindName(kind))}};
      A(signer, p, std::move(e));
    };
    flag("alice", pb::STOLEN, "taken from a car",
         {.disposition = "stolen", .persistent_set = "stolen"});
    flag("maison", pb::RECALLED, "clasp recall",
         {.disposition = "recalled", .persistent_set = "recalled"});
    // The recall is still set: it is the item's disposition again.
    clear("alice", pb::STOLEN, {.disposition = "recalled", .persistent_unset = "stolen"});
    flag("authlab", pb::COUNTERFEIT_SUSPECTED, "serial font differs", {});
    {
      // Neither a recall nor a counterfeit suspicion stops a transfer.
      pb::RecordPayload p = payload(kItemA, a);
      *p.mutable_transfer()->mutable_to() = KeyHolder("bob");
      A("alice", p,
        {.record_type = "transfer",
         .action = "OBSERVE",
         .biz_step = "other",
         .disposition = "retail_sold",
         .source = KeyUri("alice"),
         .destination = KeyUri("bob")});
    }
    clear("maison", pb::RECALLED, {.disposition = "retail_sold", .persistent_unset = "recalled"});
    clear("maison", pb::COUNTERFEIT_SUSPECTED, {});
    flag("bob", pb::LOST, "left on a train",
         {.disposition = "unknown", .persistent_set = "unknown"});
    clear("bob", pb::LOST, {.disposition = "retail_sold", .persistent_unset = "unknown"});
    auto service = [&](const char* signer, pb::ServiceKind kind, const char* word,
                       const char* biz_step) {
      pb::RecordPayload p = payload(kItemA, a);
      p.mutable_service()->set_kind(kind);
      p.mutable_service()->set_note(std::string("service: ") + word);
      A(signer, p,
        {.record_type = "service",
         .action = "OBSERVE",
         .biz_step = biz_step,
         .extras = {{"hallmark:service", word},
                    {"hallmark:note", std::string("service: ") + word}}});
    };
    service("repairco", pb::REPAIR, "repair", "repairing");
    service("repairco", pb::REFURBISHMENT, "refurbishment", "repairing");
    service("authlab", pb::AUTHENTICATION_SERVICE, "authentication", "inspecting");
    {
      pb::RecordPayload p = payload(kItemA, a);
      p.mutable_reassign()->set_new_holder_key(std::string(PubFor("carol").view()));
      p.mutable_reassign()->set_reason("holder lost the key");
      A("maison", p,
        {.record_type = "reassign",
         .action = "OBSERVE",
         .biz_step = "other",
         .source = KeyUri("bob"),
         .destination = KeyUri("carol"),
         .extras = {{"hallmark:reason", "holder lost the key"}}});
    }
    {
      pb::RecordPayload p = payload(kItemA, a);
      p.mutable_attest()->set_verdict(pb::SUSPECT);
      A("authlab", p,
        {.record_type = "attest",
         .action = "OBSERVE",
         .biz_step = "inspecting",
         .extras = {{"hallmark:verdict", "suspect"}}});
    }
    {
      pb::RecordPayload p = payload(kItemA, a);
      p.mutable_decommission()->set_kind(pb::DESTROYED);
      p.mutable_decommission()->set_reason("burnt in a fire");
      A("maison", p,
        {.record_type = "decommission",
         .action = "DELETE",
         .biz_step = "destroying",
         .disposition = "destroyed",
         .extras = {{"hallmark:decommission", "destroyed"},
                    {"hallmark:reason", "burnt in a fire"}}});
    }

    // Item B: registered to a holder key, who recycles it.
    {
      pb::RecordPayload p = payload(kItemB, b);
      *p.mutable_register_()->mutable_custodian() = KeyHolder("dora");
      commit(b, b_expected, "maison", p,
             {.record_type = "register",
              .action = "ADD",
              .biz_step = "commissioning",
              .disposition = "active",
              .destination = KeyUri("dora")});
    }
    {
      pb::RecordPayload p = payload(kItemB, b);
      p.mutable_decommission()->set_kind(pb::RECYCLED);
      p.mutable_decommission()->set_reason("strap worn out");
      commit(b, b_expected, "dora", p,
             {.record_type = "decommission",
              .action = "DELETE",
              .biz_step = "decommissioning",
              .disposition = "inactive",
              .extras = {{"hallmark:decommission", "recycled"},
                         {"hallmark:reason", "strap worn out"}}});
    }
  }

  core::ProvenItem Prove(const char* item) const {
    core::ProofVerdict v = core::VerifyProofBundle(chain.network(), chain.BundleBytes(item), item);
    REQUIRE(v.ok());
    return v.item;
  }
};

// --- Reading the document back through Protobuf's JSON parser ---------------------------------

Struct ParseJson(const std::string& json) {
  Struct s;
  const auto st = google::protobuf::util::JsonStringToMessage(json, &s);
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  return s;
}
const Value& Field(const Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  REQUIRE_MESSAGE(it != s.fields().end(), "missing field " << key);
  return it->second;
}
std::string Str(const Struct& s, const std::string& key) {
  const Value& v = Field(s, key);
  REQUIRE_MESSAGE(v.kind_case() == Value::kStringValue, key << " is not a string");
  return v.string_value();
}
const Struct& Obj(const Struct& s, const std::string& key) {
  const Value& v = Field(s, key);
  REQUIRE_MESSAGE(v.kind_case() == Value::kStructValue, key << " is not an object");
  return v.struct_value();
}
const ListValue& List(const Struct& s, const std::string& key) {
  const Value& v = Field(s, key);
  REQUIRE_MESSAGE(v.kind_case() == Value::kListValue, key << " is not an array");
  return v.list_value();
}
std::set<std::string> Keys(const Struct& s) {
  std::set<std::string> out;
  for (const auto& [k, v] : s.fields()) out.insert(k);
  return out;
}
// The one string of a one-element array.
std::string Single(const Struct& s, const std::string& key) {
  const ListValue& l = List(s, key);
  REQUIRE(l.values_size() == 1);
  REQUIRE(l.values(0).kind_case() == Value::kStringValue);
  return l.values(0).string_value();
}

// Checks one exported event against its envelope and what it must hold; every key is accounted
// for, so a stray field fails too.
void CheckEvent(const Struct& ev, const pb::Envelope& env, const Expected& e,
                const std::string& epc, size_t index) {
  INFO("event " << index + 1 << " (" << e.record_type << ")");
  pb::RecordPayload p;
  REQUIRE(p.ParseFromString(env.payload()));
  const core::Hash256 id = test::RecordId(env);

  std::set<std::string> keys = {"type",
                                "eventTime",
                                "eventTimeZoneOffset",
                                "eventID",
                                "epcList",
                                "action",
                                "bizStep",
                                "hallmark:recordId",
                                "hallmark:recordType",
                                "hallmark:signedBy",
                                "hallmark:signerKey"};
  CHECK(Str(ev, "type") == "ObjectEvent");
  CHECK(Str(ev, "eventTime") == core::Rfc3339UtcMillis(p.timestamp_ms()).value());
  CHECK(Str(ev, "eventTimeZoneOffset") == "+00:00");
  CHECK(Str(ev, "eventID") == "ni:///sha-256;" + core::Base64UrlNoPad(id.view()));
  CHECK(Single(ev, "epcList") == epc);
  CHECK(Str(ev, "action") == e.action);
  CHECK(Str(ev, "bizStep") == e.biz_step);
  CHECK(Str(ev, "hallmark:recordId") == id.Hex());
  CHECK(Str(ev, "hallmark:recordType") == e.record_type);
  CHECK(Str(ev, "hallmark:signedBy") == SignerUri(e.signer));
  CHECK(Str(ev, "hallmark:signerKey") == PubFor(e.signer).Hex());
  if (!e.disposition.empty()) {
    keys.insert("disposition");
    CHECK(Str(ev, "disposition") == e.disposition);
  }
  if (!e.persistent_set.empty() || !e.persistent_unset.empty()) {
    keys.insert("persistentDisposition");
    const Struct& pd = Obj(ev, "persistentDisposition");
    std::set<std::string> pd_keys;
    if (!e.persistent_set.empty()) {
      pd_keys.insert("set");
      CHECK(Single(pd, "set") == e.persistent_set);
    }
    if (!e.persistent_unset.empty()) {
      pd_keys.insert("unset");
      CHECK(Single(pd, "unset") == e.persistent_unset);
    }
    CHECK(Keys(pd) == pd_keys);
  }
  auto party = [&](const char* list, const char* field, const std::string& uri) {
    keys.insert(list);
    const ListValue& l = List(ev, list);
    REQUIRE(l.values_size() == 1);
    const Struct& entry = l.values(0).struct_value();
    CHECK(Keys(entry) == std::set<std::string>{"type", field});
    CHECK(Str(entry, "type") == "possessing_party");
    CHECK(Str(entry, field) == uri);
  };
  if (!e.source.empty()) party("sourceList", "source", e.source);
  if (!e.destination.empty()) party("destinationList", "destination", e.destination);
  if (e.ilmd) {
    keys.insert("ilmd");
    const Struct& ilmd = Obj(ev, "ilmd");
    CHECK(Keys(ilmd) == std::set<std::string>{"hallmark:attributes", "hallmark:documents"});
    const ListValue& attrs = List(ilmd, "hallmark:attributes");
    REQUIRE(attrs.values_size() == p.register_().attributes_size());
    for (int i = 0; i < attrs.values_size(); ++i) {
      const Struct& a = attrs.values(i).struct_value();
      CHECK(Keys(a) == std::set<std::string>{"hallmark:key", "hallmark:value"});
      CHECK(Str(a, "hallmark:key") == p.register_().attributes(i).key());
      CHECK(Str(a, "hallmark:value") == p.register_().attributes(i).value());
    }
    const ListValue& docs = List(ilmd, "hallmark:documents");
    REQUIRE(docs.values_size() == 1);
    const Struct& d = docs.values(0).struct_value();
    CHECK(Keys(d) == std::set<std::string>{"hallmark:name", "hallmark:sha256"});
    CHECK(Str(d, "hallmark:name") == "certificate.pdf");
    CHECK(Str(d, "hallmark:sha256") == core::ToHex(p.register_().documents(0).sha256()));
    CHECK(p.register_().documents(0).sha256() == std::string(32, '\x5a'));
  }
  for (const auto& [k, v] : e.extras) {
    keys.insert(k);
    CHECK(Str(ev, k) == v);
  }
  CHECK(Keys(ev) == keys);

  // Every word written is a CBV 2.0 word.
  CHECK(core::IsCbvBizStep(Str(ev, "bizStep")));
  if (!e.disposition.empty()) CHECK(core::IsCbvDisposition(Str(ev, "disposition")));
}

void CheckDocumentHead(const Struct& doc, const core::Network& network,
                       const core::ProvenItem& item) {
  CHECK(Keys(doc) == std::set<std::string>{"@context", "type", "schemaVersion", "creationDate",
                                           "hallmark:verification", "epcisBody"});
  const ListValue& context = List(doc, "@context");
  REQUIRE(context.values_size() == 2);
  CHECK(context.values(0).string_value() ==
        "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld");
  const Struct& prefix = context.values(1).struct_value();
  CHECK(Keys(prefix) == std::set<std::string>{"hallmark"});
  CHECK(Str(prefix, "hallmark") == "urn:hallmark:vocab:");
  CHECK(Str(doc, "type") == "EPCISDocument");
  CHECK(Str(doc, "schemaVersion") == "2.0");
  CHECK(Str(doc, "creationDate") == kNow);

  const Struct& v = Obj(doc, "hallmark:verification");
  CHECK(Keys(v) == std::set<std::string>{"hallmark:item", "hallmark:chainId",
                                         "hallmark:genesisHash", "hallmark:height",
                                         "hallmark:blockHash", "hallmark:stateRoot",
                                         "hallmark:headerTime", "hallmark:signers"});
  CHECK(Str(v, "hallmark:item") == item.item_id);
  CHECK(Str(v, "hallmark:chainId") == "hallmark-test");
  CHECK(Str(v, "hallmark:genesisHash") == network.hash().Hex());
  CHECK(Str(v, "hallmark:height") == std::to_string(item.height));
  CHECK(Str(v, "hallmark:blockHash") == item.block_hash.Hex());
  CHECK(Str(v, "hallmark:stateRoot") == item.state_root.Hex());
  CHECK(Str(v, "hallmark:headerTime") == core::Rfc3339UtcMillis(item.header_time_ms).value());
  CHECK(Str(v, "hallmark:signers") == "3");
  CHECK(Keys(Obj(doc, "epcisBody")) == std::set<std::string>{"eventList"});
}

void CheckDocument(const std::string& json, const History& h, const char* item,
                   const std::vector<pb::Envelope>& envs, const std::vector<Expected>& expected,
                   const std::string& epc) {
  const Struct doc = ParseJson(json);
  CheckDocumentHead(doc, h.chain.network(), h.Prove(item));
  const ListValue& events = List(Obj(doc, "epcisBody"), "eventList");
  REQUIRE(static_cast<size_t>(events.values_size()) == envs.size());
  for (size_t i = 0; i < envs.size(); ++i) {
    REQUIRE(events.values(static_cast<int>(i)).kind_case() == Value::kStructValue);
    CheckEvent(events.values(static_cast<int>(i)).struct_value(), envs[i], expected[i], epc, i);
  }
}

// --- Files for the command-line tests ---------------------------------------------------------

void WriteFile(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}
std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
std::string WriteGenesis(const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / "genesis.json";
  WriteFile(path, core::ToJson(test::TestGenesis()).value());
  return path.string();
}

// The bundle of `item` with one byte of one record's payload changed (the note of record 3).
std::string TamperedBundle(const History& h, const char* item) {
  pb::ProofBundle bundle;
  REQUIRE(bundle.ParseFromString(h.chain.BundleBytes(item)));
  pb::RecordPayload p;
  REQUIRE(p.ParseFromString(bundle.history(2).payload()));
  p.mutable_attest()->set_note("stitching checked\nhardware\tOK");
  bundle.mutable_history(2)->set_payload(core::SerializeDeterministic(p));
  return core::SerializeDeterministic(bundle);
}

}  // namespace

TEST_CASE("epcis: every mapping row uses only CBV 2.0 words, and the lists hold no near misses") {
  std::set<std::string_view> names;
  for (size_t k = 0; k < core::kEpcisEventKinds; ++k) {
    const auto kind = static_cast<core::EpcisEventKind>(k);
    const core::EpcisWords w = core::EpcisWordsFor(kind);
    INFO("kind " << core::EpcisEventKindName(kind));
    CHECK(names.insert(core::EpcisEventKindName(kind)).second);
    CHECK(core::IsCbvBizStep(w.biz_step));
    if (w.rule == core::DispositionRule::kWord) CHECK(core::IsCbvDisposition(w.disposition));
    if (!w.persistent_set.empty()) CHECK(core::IsCbvDisposition(w.persistent_set));
    if (!w.persistent_unset.empty()) CHECK(core::IsCbvDisposition(w.persistent_unset));
    const std::string_view action = core::EpcisActionName(w.action);
    CHECK((action == "ADD" || action == "OBSERVE" || action == "DELETE"));
  }
  CHECK(names.count("unknown") == 0);
  // The lists are sets of lower-case words.
  std::set<std::string_view> steps(core::kCbvBizSteps.begin(), core::kCbvBizSteps.end());
  std::set<std::string_view> dispositions(core::kCbvDispositions.begin(),
                                          core::kCbvDispositions.end());
  CHECK(steps.size() == core::kCbvBizSteps.size());
  CHECK(dispositions.size() == core::kCbvDispositions.size());
  for (std::string_view w : steps) {
    CHECK(w.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string_view::npos);
  }
  for (std::string_view w : dispositions) {
    CHECK(w.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string_view::npos);
  }
  // Words people reach for that CBV 2.0 does not have: "returning" is in the reference notes'
  // list but is no CBV 2.0 bizStep; "previous" is the notes' shorthand, not a word.
  for (std::string_view bad : {"returning", "stole", "transferring", "selling", "commission",
                               "Commissioning", "urn:epcglobal:cbv:bizstep:shipping"}) {
    CHECK_FALSE(core::IsCbvBizStep(bad));
  }
  for (std::string_view bad :
       {"previous", "lost", "sold", "counterfeit", "in-transit", "Stolen", "stole"}) {
    CHECK_FALSE(core::IsCbvDisposition(bad));
  }
  CHECK(core::IsCbvSourceDestType("possessing_party"));
  CHECK_FALSE(core::IsCbvSourceDestType("holder"));
}

TEST_CASE("epcis: Rfc3339UtcMillis writes UTC with milliseconds, up to 9999-12-31") {
  CHECK(core::Rfc3339UtcMillis(0) == "1970-01-01T00:00:00.000Z");
  CHECK(core::Rfc3339UtcMillis(1'700'000'000'000) == "2023-11-14T22:13:20.000Z");
  CHECK(core::Rfc3339UtcMillis(1'700'000'101'007) == "2023-11-14T22:15:01.007Z");
  CHECK(core::Rfc3339UtcMillis(951'782'400'000) == "2000-02-29T00:00:00.000Z");
  CHECK(core::Rfc3339UtcMillis(1'709'251'199'999) == "2024-02-29T23:59:59.999Z");
  CHECK(core::Rfc3339UtcMillis(4'102'444'799'999) == "2099-12-31T23:59:59.999Z");
  CHECK(core::Rfc3339UtcMillis(253'402'300'799'999) == "9999-12-31T23:59:59.999Z");
  CHECK_FALSE(core::Rfc3339UtcMillis(253'402'300'800'000).has_value());
  CHECK_FALSE(core::Rfc3339UtcMillis(UINT64_MAX).has_value());
  // Against the C library for a spread of instants (fixed steps, so the run is repeatable).
  for (uint64_t ms = 0; ms < 253'402'300'800'000; ms += 9'876'543'210'987) {
    const auto s = static_cast<time_t>(ms / 1000);
    std::tm tm{};
    REQUIRE(gmtime_r(&s, &tm) != nullptr);
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms % 1000));
    CHECK(core::Rfc3339UtcMillis(ms) == std::string(buf));
  }
}

TEST_CASE("epcis: JsonQuote escapes what JSON requires and refuses invalid UTF-8") {
  CHECK(core::JsonQuote("") == "\"\"");
  CHECK(core::JsonQuote("plain") == "\"plain\"");
  CHECK(core::JsonQuote("a\"b\\c/d") == "\"a\\\"b\\\\c/d\"");
  CHECK(core::JsonQuote("\b\f\n\r\t") == "\"\\b\\f\\n\\r\\t\"");
  CHECK(core::JsonQuote(std::string("\0\x01\x1f\x7f", 4)) == "\"\\u0000\\u0001\\u001f\x7f\"");
  CHECK(core::JsonQuote("Aurèle € 😀") == "\"Aurèle € 😀\"");
  for (const char* bad : {"\xff", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xed\xa0\x80",
                          "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xe2\x82", "ok\x80"}) {
    CHECK_FALSE(core::JsonQuote(bad).has_value());
  }
  // Every ASCII character (and some UTF-8) reads back unchanged through a real JSON parser.
  std::string all;
  for (int c = 0; c < 128; ++c) all += static_cast<char>(c);
  all += "é€😀";
  Value v;
  REQUIRE(google::protobuf::util::JsonStringToMessage(core::JsonQuote(all).value(), &v).ok());
  CHECK(v.string_value() == all);
}

TEST_CASE("epcis: Base64UrlNoPad and the ni event id (RFC 4648 §10 vectors, RFC 6920 form)") {
  CHECK(core::Base64UrlNoPad("") == "");
  CHECK(core::Base64UrlNoPad("f") == "Zg");
  CHECK(core::Base64UrlNoPad("fo") == "Zm8");
  CHECK(core::Base64UrlNoPad("foo") == "Zm9v");
  CHECK(core::Base64UrlNoPad("foob") == "Zm9vYg");
  CHECK(core::Base64UrlNoPad("fooba") == "Zm9vYmE");
  CHECK(core::Base64UrlNoPad("foobar") == "Zm9vYmFy");
  CHECK(core::Base64UrlNoPad("\xfb\xff") == "-_8");  // "+/8=" in plain base64.
  CHECK(core::EpcisEventId(core::Sha256Of(std::string_view("Hello World!"))) ==
        "ni:///sha-256;f4OxZX_x_FO5LcGBSKHWXfwtSx-j1ncoSt3SABJtkGk");
}

TEST_CASE("epcis: a full history exports one ObjectEvent per record with the mapped words") {
  History h;
  REQUIRE(h.a.size() == 19);
  const core::ProvenItem a = h.Prove(kItemA);
  auto json = core::EpcisDocumentJson(h.chain.network(), a, kNowMs);
  REQUIRE(json.ok());
  CheckDocument(*json, h, kItemA, h.a, h.a_expected,
                "https://id.gs1.org/01/00614141000012/21/BAG-0001");
  // The first event's time, written out by hand: kTestTimeMs + 1007 ms.
  const Struct doc = ParseJson(*json);
  const Struct& first = List(Obj(doc, "epcisBody"), "eventList").values(0).struct_value();
  CHECK(Str(first, "eventTime") == "2023-11-14T22:15:01.007Z");

  // Members print in a fixed order: @context first, then type, as EPCIS examples have them.
  CHECK(json->rfind("{\n  \"@context\": [", 0) == 0);
  CHECK(json->find("\"type\": \"EPCISDocument\"") < json->find("\"epcisBody\""));
  // The same proof and time give the same bytes.
  CHECK(core::EpcisDocumentJson(h.chain.network(), h.Prove(kItemA), kNowMs).value() == *json);

  const core::ProvenItem b = h.Prove(kItemB);
  auto json_b = core::EpcisDocumentJson(h.chain.network(), b, kNowMs);
  REQUIRE(json_b.ok());
  CheckDocument(*json_b, h, kItemB, h.b, h.b_expected, kItemBLink);

  // Every kind of event appears in these two histories.
  std::set<core::EpcisEventKind> seen;
  for (const auto* item : {&a, &b}) {
    for (const core::CustodyStep& s : item->steps) seen.insert(core::ClassifyStep(s).value());
  }
  CHECK(seen.size() == core::kEpcisEventKinds);
}

TEST_CASE("epcis: an item that was never registered has nothing to export") {
  History h;
  core::ProofVerdict v =
      core::VerifyProofBundle(h.chain.network(), h.chain.BundleBytes(kItemC), kItemC);
  REQUIRE(v.ok());
  auto json = core::EpcisDocumentJson(h.chain.network(), v.item, kNowMs);
  REQUIRE_FALSE(json.ok());
  CHECK(json.status().code() == core::StatusCode::kInvalidInput);
  CHECK(json.status().message().find("not registered") != std::string::npos);
}

TEST_CASE("export: --proof FILE, binary or JSON, writes the verified document to --out") {
  History h;
  test::TempDir dir;
  const std::string genesis = WriteGenesis(dir.path());
  const std::string bytes = h.chain.BundleBytes(kItemA);
  WriteFile(dir.path() / "a.pb", bytes);
  pb::ProofBundle bundle;
  REQUIRE(bundle.ParseFromString(bytes));
  WriteFile(dir.path() / "a.json", core::ToJson(bundle).value());

  for (const char* proof : {"a.pb", "a.json"}) {
    INFO(proof);
    const std::filesystem::path out = dir.path() / (std::string(proof) + ".epcis.json");
    // The item may be given in any form; the Digital Link URL here.
    test::CliRun r = test::RunCli({"export", "https://id.gs1.org/01/00614141000012/21/BAG-0001",
                                   "--format", "epcis", "--proof", (dir.path() / proof).string(),
                                   "--genesis", genesis, "--out", out.string()});
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.empty());
    CHECK(r.err.find("wrote 19 events of 01/00614141000012/21/BAG-0001") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(out.string() + ".tmp"));
    // The CLI's creationDate is the clock's; the rest is checked in full.
    const std::string text = ReadFile(out);
    REQUIRE(!text.empty());
    CHECK(text.back() == '\n');
    Struct doc = ParseJson(text);
    const std::string created = Str(doc, "creationDate");
    CHECK(created.size() == 24);
    (*doc.mutable_fields())["creationDate"].set_string_value(kNow);
    std::string normalised;
    REQUIRE(google::protobuf::util::MessageToJsonString(doc, &normalised).ok());
    CheckDocument(normalised, h, kItemA, h.a, h.a_expected,
                  "https://id.gs1.org/01/00614141000012/21/BAG-0001");
  }

  // Without --out the document goes to standard output, and only it.
  test::CliRun r = test::RunCli({"export", kItemB, "--format", "epcis", "--proof",
                                 (dir.path() / "b.pb").string(), "--genesis", genesis});
  CHECK(r.code == 3);  // No such file yet.
  WriteFile(dir.path() / "b.pb", h.chain.BundleBytes(kItemB));
  r = test::RunCli({"export", kItemB, "--format", "epcis", "--proof",
                    (dir.path() / "b.pb").string(), "--genesis", genesis});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(Str(ParseJson(r.out), "type") == "EPCISDocument");
  CHECK(r.err.find("exported 2 events") != std::string::npos);
}

TEST_CASE("export: a tampered bundle exits 2 naming the failed check and writes nothing") {
  History h;
  test::TempDir dir;
  const std::string genesis = WriteGenesis(dir.path());
  const std::filesystem::path out = dir.path() / "out.json";
  auto run = [&](const std::string& bundle_bytes, const char* item = kItemA) {
    WriteFile(dir.path() / "bundle.pb", bundle_bytes);
    return test::RunCli({"export", item, "--format", "epcis", "--proof",
                         (dir.path() / "bundle.pb").string(), "--genesis", genesis, "--out",
                         out.string()});
  };
  auto nothing_written = [&](const test::CliRun& r) {
    CHECK(r.out.empty());
    CHECK_FALSE(std::filesystem::exists(out));
    CHECK_FALSE(std::filesystem::exists(out.string() + ".tmp"));
  };

  SUBCASE("a record's payload changed: its signature fails") {
    test::CliRun r = run(TamperedBundle(h, kItemA));
    CHECK(r.code == 2);
    CHECK(r.err.find("proof check failed (signature): record 3") != std::string::npos);
    nothing_written(r);
  }
  SUBCASE("a record dropped: the history no longer matches the proven state") {
    pb::ProofBundle bundle;
    REQUIRE(bundle.ParseFromString(h.chain.BundleBytes(kItemA)));
    bundle.mutable_history()->DeleteSubrange(5, 1);
    test::CliRun r = run(core::SerializeDeterministic(bundle));
    CHECK(r.code == 2);
    CHECK(r.err.find("proof check failed (history)") != std::string::npos);
    nothing_written(r);
  }
  SUBCASE("the certificate lost a signature: the header is not final") {
    pb::ProofBundle bundle;
    REQUIRE(bundle.ParseFromString(h.chain.BundleBytes(kItemA)));
    bundle.mutable_certificate()->mutable_signatures()->RemoveLast();
    test::CliRun r = run(core::SerializeDeterministic(bundle));
    CHECK(r.code == 2);
    CHECK(r.err.find("proof check failed (certificate)") != std::string::npos);
    nothing_written(r);
  }
  SUBCASE("a bundle about another item") {
    test::CliRun r = run(h.chain.BundleBytes(kItemB));
    CHECK(r.code == 2);
    CHECK(r.err.find("proof check failed (") != std::string::npos);
    nothing_written(r);
  }
  SUBCASE("not a bundle at all, binary or JSON: the format check") {
    test::CliRun r = run("not a proof bundle");
    CHECK(r.code == 2);
    CHECK(r.err.find("proof check failed (format)") != std::string::npos);
    nothing_written(r);
    r = run("{\"version\": 1, \"no_such_field\": true}");
    CHECK(r.code == 2);
    CHECK(r.err.find("proof check failed (format)") != std::string::npos);
    nothing_written(r);
  }
  SUBCASE("an existing --out file is left as it was") {
    WriteFile(out, "previous export\n");
    test::CliRun r = run(TamperedBundle(h, kItemA));
    CHECK(r.code == 2);
    CHECK(ReadFile(out) == "previous export\n");
  }
  SUBCASE("a never-registered item: exit 2, nothing to export") {
    test::CliRun r = run(h.chain.BundleBytes(kItemC), kItemC);
    CHECK(r.code == 2);
    CHECK(r.err.find("not registered") != std::string::npos);
    nothing_written(r);
  }
}

TEST_CASE("export: usage and file errors exit 3, a bad item id or genesis exits 2") {
  History h;
  test::TempDir dir;
  const std::string genesis = WriteGenesis(dir.path());
  const std::string proof = (dir.path() / "a.pb").string();
  WriteFile(proof, h.chain.BundleBytes(kItemA));

  auto code = [](std::vector<std::string> args) {
    test::CliRun r = test::RunCli(std::move(args));
    INFO(r.err);
    CHECK(r.out.empty());
    return r.code;
  };
  CHECK(code({"export", kItemA, "--format", "epcis", "--proof", proof, "--genesis", genesis,
              "--node", "http://127.0.0.1:1"}) == 3);
  CHECK(code({"export", kItemA, "--format", "xml", "--proof", proof, "--genesis", genesis}) == 3);
  CHECK(code({"export", kItemA, "--proof", proof, "--genesis", genesis}) == 3);  // No --format.
  CHECK(code({"export", kItemA, "--format", "epcis", "--proof", proof}) == 3);   // No --genesis.
  CHECK(code({"export", kItemA, "--format", "epcis", "--proof", proof, "--genesis",
              (dir.path() / "missing.json").string()}) == 3);
  CHECK(code({"export", kItemA, "--format", "epcis", "--proof", dir.str(), "--genesis", genesis}) ==
        3);
  CHECK(code({"export", kItemA, "--format", "epcis", "--proof", proof, "--genesis", genesis,
              "--out", dir.str()}) == 3);
  CHECK(code({"export", kItemA, "--format", "epcis", "--proof", proof, "--genesis", genesis,
              "--out", (dir.path() / "no" / "such" / "folder.json").string()}) == 3);
  CHECK(code({"export", "01/00614141000013/21/BAD-CHECK", "--format", "epcis", "--proof", proof,
              "--genesis", genesis}) == 2);
  WriteFile(dir.path() / "bad-genesis.json", "{\"chain_id\": \"UPPER CASE\"}");
  CHECK(code({"export", kItemA, "--format", "epcis", "--proof", proof, "--genesis",
              (dir.path() / "bad-genesis.json").string()}) == 2);
  // An unreachable node is a network error.
  CHECK(code({"export", kItemA, "--format", "epcis", "--genesis", genesis, "--node",
              "http://127.0.0.1:1", "--timeout", "2"}) == 3);
}

TEST_CASE("export: --node fetches GET /v1/items/{id}/proof and exports only what verifies") {
  History h;
  test::TempDir dir;
  const std::string genesis = WriteGenesis(dir.path());
  test::FakeNode node;
  std::string served = h.chain.BundleBytes(kItemA);
  node.SetOverride(
      [&served](const test::FakeNode::Request& r) -> std::optional<test::FakeNode::Response> {
        if (r.method != "GET" || r.target.size() < 6 ||
            r.target.compare(r.target.size() - 6, 6, "/proof") != 0) {
          return std::nullopt;
        }
        pb::ProofBundle bundle;
        REQUIRE(bundle.ParseFromString(served));
        return test::FakeNode::Json(200, bundle);
      });

  const std::filesystem::path out = dir.path() / "a.json";
  test::CliRun r = test::RunCli({"export", kItemA, "--format", "epcis", "--node", node.url(),
                                 "--genesis", genesis, "--out", out.string()});
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto requests = node.RequestsTo("GET", "/v1/items/");
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].target == "/v1/items/01/00614141000012/21/BAG-0001/proof");
  Struct doc = ParseJson(ReadFile(out));
  CHECK(List(Obj(doc, "epcisBody"), "eventList").values_size() == 19);

  // A node that alters a record gets caught, and nothing is written.
  served = TamperedBundle(h, kItemA);
  std::filesystem::remove(out);
  r = test::RunCli({"export", kItemA, "--format", "epcis", "--node", node.url(), "--genesis",
                    genesis, "--out", out.string()});
  CHECK(r.code == 2);
  CHECK(r.err.find("proof check failed (signature)") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(out));

  // A node that answers with an error: a network error, nothing verified or written.
  node.SetOverride([](const test::FakeNode::Request&) -> std::optional<test::FakeNode::Response> {
    return test::FakeNode::Error(503, "no_certified_header", "no block is certified yet");
  });
  r = test::RunCli({"export", kItemA, "--format", "epcis", "--node", node.url(), "--genesis",
                    genesis, "--out", out.string()});
  CHECK(r.code == 3);
  CHECK(r.err.find("no_certified_header") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(out));
}

// Run by tests/epcis/schema_test.sh with HALLMARK_EPCIS_SAMPLE_DIR set: writes genesis.json, a
// proof bundle per item (a.pb, b.pb), items.txt ("<file> <item id>" lines) and cbv-words.txt
// (the word lists of epcis.h) there, for the script to export with the real `hallmark` binary
// and check against GS1's schema. Without the
// variable it writes them to a temporary folder and checks that they export.
TEST_CASE("epcis: sample bundles for the schema check") {
  History h;
  test::TempDir tmp;
  const char* env = std::getenv("HALLMARK_EPCIS_SAMPLE_DIR");
  const std::filesystem::path dir = env != nullptr && *env != '\0' ? env : tmp.path();
  std::filesystem::create_directories(dir);
  const std::string genesis = WriteGenesis(dir);
  WriteFile(dir / "a.pb", h.chain.BundleBytes(kItemA));
  WriteFile(dir / "b.pb", h.chain.BundleBytes(kItemB));
  WriteFile(dir / "items.txt", std::string("a.pb ") + kItemA + "\n" + "b.pb " + kItemB + "\n");
  // The exporter's CBV word lists, which the script compares with the schema's enumerations.
  std::string words;
  for (std::string_view w : core::kCbvBizSteps) words += "bizStep " + std::string(w) + "\n";
  for (std::string_view w : core::kCbvDispositions) {
    words += "disposition " + std::string(w) + "\n";
  }
  for (std::string_view w : core::kCbvSourceDestTypes) {
    words += "source-dest-type " + std::string(w) + "\n";
  }
  WriteFile(dir / "cbv-words.txt", words);
  for (const char* f : {"a.pb", "b.pb"}) {
    test::CliRun r = test::RunCli({"export", f[0] == 'a' ? kItemA : kItemB, "--format", "epcis",
                                   "--proof", (dir / f).string(), "--genesis", genesis});
    CHECK(r.code == 0);
  }
}

TEST_CASE("export: a bundle whose header is dated a day ahead of this clock exits 2 (freshness)") {
  test::ProvenChain chain;
  test::LiveItem(chain, kItemA, 2);
  // The next block is dated a day after the real clock: a proposer no honest validator follows.
  const uint64_t now = core::UnixTimeMs();
  chain.SkipTime(now + 86'400'000 - chain.time_ms());
  test::LiveItem(chain, kItemB, 1);
  test::TempDir dir;
  const std::string genesis = WriteGenesis(dir.path());
  WriteFile(dir.path() / "future.pb", chain.BundleBytes(kItemA));
  test::CliRun r = test::RunCli({"export", kItemA, "--format", "epcis", "--proof",
                                 (dir.path() / "future.pb").string(), "--genesis", genesis});
  CHECK(r.code == 2);
  CHECK(r.out.empty());
  CHECK(r.err.find("freshness") != std::string::npos);
}
