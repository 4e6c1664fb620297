#include "core/json.h"

#include <doctest/doctest.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <string>
#include <vector>

#include "core/codec.h"
#include "fixtures.h"
#include "peak_memory.h"
#include "proto/api.pb.h"
#include "proto/genesis.pb.h"
#include "proto/node.pb.h"
#include "proto/proof.pb.h"

using namespace hallmark;
using core::JsonLimits;
using core::ParseJsonStrict;

namespace {

pb::ProofBundle SampleBundle() {
  pb::ProofBundle b;
  b.set_version(1);
  b.set_chain_id("hallmark-test");
  b.set_item_id(test::kMaisonItem);
  b.set_header(std::string(100, 'h'));
  pb::CommitCertificate* cert = b.mutable_certificate();
  cert->set_height(42);
  cert->set_block_id(std::string(32, 'b'));
  for (int i = 0; i < 3; ++i) {
    pb::CommitSignature* s = cert->add_signatures();
    s->set_validator(std::string(32, static_cast<char>('v' + i)));
    s->set_signature(std::string(64, 's'));
  }
  for (int i = 0; i < 3; ++i) {
    *b.add_history() = test::Sign("maison", test::Payload(test::kMaisonItem));
  }
  return b;
}

// The message of refusing `json` as a ProofBundle with the bundle limits.
std::string BundleError(const std::string& json) {
  pb::ProofBundle b;
  core::Status s = ParseJsonStrict(json, &b, core::kProofBundleJsonLimits);
  REQUIRE_FALSE_MESSAGE(s.ok(), json.substr(0, 200));
  CHECK(s.code() == core::StatusCode::kInvalidInput);
  CHECK(s.message().find('\n') == std::string::npos);
  return s.message();
}

// `unit` repeated between `head` and `tail` until the whole is about `total` bytes.
std::string Repeat(std::string_view head, std::string_view unit, std::string_view tail,
                   size_t total) {
  std::string s(head);
  s.reserve(total);
  while (s.size() + unit.size() + tail.size() <= total) s += unit;
  if (s.back() == ',') s.pop_back();
  return s + std::string(tail);
}

}  // namespace

TEST_CASE("json: what ToJson prints parses back, under proto names and under JSON names") {
  const pb::ProofBundle bundle = SampleBundle();
  for (bool pretty : {false, true}) {
    pb::ProofBundle back;
    REQUIRE(
        ParseJsonStrict(core::ToJson(bundle, pretty).value(), &back, core::kProofBundleJsonLimits)
            .ok());
    CHECK(back.SerializeAsString() == bundle.SerializeAsString());
  }
  std::string camel;
  REQUIRE(google::protobuf::util::MessageToJsonString(bundle, &camel).ok());  // JSON names.
  CHECK(camel.find("chainId") != std::string::npos);
  pb::ProofBundle back;
  REQUIRE(ParseJsonStrict(camel, &back, core::kProofBundleJsonLimits).ok());
  CHECK(back.SerializeAsString() == bundle.SerializeAsString());

  pb::Genesis genesis;
  REQUIRE(
      ParseJsonStrict(core::ToJson(test::TestGenesis()).value(), &genesis, core::kGenesisJsonLimits)
          .ok());
  CHECK(genesis.SerializeAsString() == test::TestGenesis().SerializeAsString());

  // Protobuf's other accepted forms: numbers as strings, enum names and numbers, null for unset.
  pb::ProofBundle forms;
  REQUIRE(ParseJsonStrict(R"({"version":"1","certificate":{"height":7},"chain_id":null})", &forms,
                          core::kProofBundleJsonLimits)
              .ok());
  CHECK(forms.certificate().height() == 7);
  pb::Attest attest;
  CHECK(ParseJsonStrict(R"({"verdict":"GENUINE"})", &attest, core::kApiRequestJsonLimits).ok());
  CHECK(ParseJsonStrict(R"({"verdict":2})", &attest, core::kApiRequestJsonLimits).ok());
  CHECK(attest.verdict() == pb::SUSPECT);
}

TEST_CASE("json: an array inside an array is refused, naming the field (Protobuf reads it flat)") {
  const std::string nested = R"({"history":[[[{}]]]})";
  // What Protobuf alone does with it: a flat list, no error.
  pb::ProofBundle lenient;
  REQUIRE(google::protobuf::util::JsonStringToMessage(nested, &lenient).ok());
  CHECK(lenient.history_size() == 1);

  CHECK(BundleError(nested) ==
        "field \"history[0]\": an array inside an array is not allowed (a repeated field is one "
        "flat list)");
  CHECK(BundleError(R"({"certificate":{"signatures":[{}, [{}]]}})") ==
        "field \"certificate.signatures[1]\": an array inside an array is not allowed (a repeated "
        "field is one flat list)");
  pb::CheckRequest check;
  core::Status s = ParseJsonStrict(R"({"ids":[["a"]]})", &check, core::kApiRequestJsonLimits);
  CHECK(s.message() ==
        "field \"ids[0]\": an array inside an array is not allowed (a repeated "
        "field is one flat list)");
}

TEST_CASE("json: null inside an array is refused, null as a field's value means unset") {
  pb::CheckRequest lenient;
  REQUIRE(google::protobuf::util::JsonStringToMessage(R"({"ids":[null]})", &lenient).ok());

  pb::CheckRequest check;
  core::Status s = ParseJsonStrict(R"({"ids":["a", null]})", &check, core::kApiRequestJsonLimits);
  CHECK(s.message() == "field \"ids[1]\": null is not allowed inside an array or a map");
  CHECK(BundleError(R"({"history":[null]})") ==
        "field \"history[0]\": null is not allowed inside an array or a map");

  pb::ProofBundle b;
  CHECK(ParseJsonStrict(R"({"history":null,"certificate":null})", &b, core::kProofBundleJsonLimits)
            .ok());
}

TEST_CASE("json: unknown fields are refused at every level, naming their path") {
  CHECK(BundleError(R"({"idz":1})") == "unknown field \"idz\"");
  CHECK(BundleError(R"({"certificate":{"colour":"red"}})") ==
        "unknown field \"certificate.colour\"");
  CHECK(BundleError(R"({"certificate":{"signatures":[{"validator":"","x":{}}]}})") ==
        "unknown field \"certificate.signatures[0].x\"");
  CHECK(BundleError(R"({"history":[{},{"payload":"","tracking":"id-1234"}]})") ==
        "unknown field \"history[1].tracking\"");
  const std::string long_key(100'000, 'k');
  CHECK(BundleError("{\"" + long_key + "\":1}") ==
        "unknown field \"" + long_key.substr(0, 64) + "…\"");  // Quoted keys are cut short.
  CHECK(BundleError(R"({"\u0069tem_id":"x"})") ==
        "field \"\\u0069tem_id\": field names must be written without escapes");
}

TEST_CASE("json: a node's answers may carry fields this CLI does not know, within the bounds") {
  pb::StatusResponse status;
  REQUIRE(ParseJsonStrict(R"({"chain_id":"c","new_thing":{"a":[1,[2,{"b":null}]]},"height":"3"})",
                          &status, core::kApiAnswerJsonLimits)
              .ok());
  CHECK(status.chain_id() == "c");
  CHECK(status.height() == 3);

  // Skipped values still count towards the depth and value bounds.
  std::string deep = R"({"new_thing":)" + std::string(40, '[') + std::string(40, ']') + "}";
  core::Status s = ParseJsonStrict(deep, &status, core::kApiAnswerJsonLimits);
  CHECK(s.message() == "field \"new_thing\": nested deeper than 16 levels");
  JsonLimits few = core::kApiAnswerJsonLimits;
  few.values_max = 10;
  s = ParseJsonStrict(R"({"new_thing":[1,2,3,4,5,6,7,8,9,10,11]})", &status, few);
  CHECK(s.message().starts_with("the JSON holds more than 10 values"));
}

TEST_CASE("json: a Struct at the top level reads any object, within the bounds") {
  google::protobuf::Struct doc;
  const JsonLimits limits{.bytes_max = 4096, .depth_max = 8, .values_max = 50};
  REQUIRE(
      ParseJsonStrict(R"({"@context":["u",{"p":"v"}],"a:b":{"c":[1,true,null,"s"]}})", &doc, limits)
          .ok());
  CHECK(doc.fields().at("a:b").struct_value().fields().at("c").list_value().values_size() == 4);
  // Depth, values and bytes still bound it; duplicate keys, a top-level array and trailing text
  // are refused.
  std::string deep = R"({"x":)" + std::string(10, '[') + std::string(10, ']') + "}";
  CHECK(ParseJsonStrict(deep, &doc, limits).message() == "nested deeper than 8 levels");
  CHECK(ParseJsonStrict(R"({"x":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,
                        26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49]})",
                        &doc, limits)
            .message()
            .starts_with("the JSON holds more than 50 values"));
  CHECK(ParseJsonStrict(std::string(5000, ' ') + "{}", &doc, limits).message().find("larger") !=
        std::string::npos);
  CHECK(ParseJsonStrict(R"({"a":1,"a":2})", &doc, limits).message().find("already set") !=
        std::string::npos);
  CHECK(ParseJsonStrict("[1]", &doc, limits).message() ==
        "expected a JSON object at the top level, found an array");
  CHECK(!ParseJsonStrict("{} {}", &doc, limits).ok());
}

TEST_CASE("json: a value of the wrong kind for its field is refused, naming field and kinds") {
  CHECK(BundleError(R"({"chain_id":5})") ==
        "field \"chain_id\": expected a string, found a number");
  CHECK(BundleError(R"({"history":{}})") ==
        "field \"history\": expected an array (the field is repeated), found an object");
  CHECK(BundleError(R"({"certificate":"x"})") ==
        "field \"certificate\": expected an object, found a string");
  CHECK(BundleError(R"({"certificate":[]})") ==
        "field \"certificate\": expected an object, found an array");
  CHECK(BundleError(R"({"version":{}})") ==
        "field \"version\": expected a number, found an object");
  CHECK(BundleError(R"({"history":["x"]})") ==
        "field \"history[0]\": expected an object, found a string");
  pb::ProofBundle b;
  core::Status s = ParseJsonStrict(R"({"item_id":["a"]})", &b, core::kProofBundleJsonLimits);
  CHECK(s.message() == "field \"item_id\": expected a string, found an array");
  // What only Protobuf can tell: a bad enum name, bad base64. Still one line, field named.
  pb::Attest attest;
  s = ParseJsonStrict(R"({"verdict":"MAYBE"})", &attest, core::kApiRequestJsonLimits);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find("verdict") != std::string::npos);
  CHECK(s.message().find('\n') == std::string::npos);
}

TEST_CASE("json: malformed JSON is refused with one line saying where") {
  const std::vector<std::string> bad = {
      "",
      "   ",
      "{",
      R"({"chain_id")",
      R"({"chain_id":})",
      R"({"chain_id":"a",})",
      R"({"history":[{},]})",
      R"({"chain_id":"a"} trailing)",
      R"([{"chain_id":"a"}])",
      "nul",
      R"({'chain_id':'a'})",
      R"({"version":01})",
      R"({"version":1.})",
      R"({"version":-})",
      R"({"version":tru})",
      R"({"chain_id":"a\qb"})",
      R"({"chain_id":"a\u12"})",
      std::string(R"({"chain_id":"a)") + '\x01' + R"("})",
      R"({"chain_id":"never ends})",
      R"({chain_id:1})",
  };
  for (const std::string& json : bad) {
    CAPTURE(json);
    const std::string message = BundleError(json);
    CHECK_FALSE(message.empty());
  }
  CHECK(BundleError("") == "the JSON text is empty; expected an object");
  CHECK(BundleError(R"({"chain_id":"a"} x)") ==
        "malformed JSON at byte 18: unexpected text after the object");
  CHECK(BundleError(R"([1])") == "expected a JSON object at the top level, found an array");
  CHECK(BundleError(R"({"history":[{},]})") == "malformed JSON at byte 16: expected a value");
}

TEST_CASE("json: size, depth and value limits are enforced before Protobuf runs") {
  pb::ProofBundle b;
  JsonLimits small{.bytes_max = 20, .depth_max = 3, .values_max = 5};
  core::Status s = ParseJsonStrict(R"({"chain_id":"0123456789"})", &b, small);
  CHECK(s.message() == "the JSON is 25 bytes, larger than the limit of 20 bytes for this input");
  small.bytes_max = 1000;
  s = ParseJsonStrict(R"({"history":[{},{},{},{},{}]})", &b, small);
  CHECK(s.message() ==
        "the JSON holds more than 5 values (objects, arrays and their elements), the limit for "
        "this input");
  CHECK(ParseJsonStrict(R"({"history":[{},{},{}]})", &b, small).ok());
  CHECK(ParseJsonStrict(R"({"certificate":{"signatures":[]}})", &b, small).ok());
  small.depth_max = 2;
  s = ParseJsonStrict(R"({"certificate":{"signatures":[]}})", &b, small);
  CHECK(s.message() == "field \"certificate.signatures\": nested deeper than 2 levels");
}

TEST_CASE("json: every kind of input has limits that hold its largest honest content") {
  // A proof bundle of 100,000 records is 400,000 values and a few; a genesis at its limits
  // about 330,000; a check of 1,000 ids about 1,000.
  CHECK(core::kProofBundleJsonLimits.values_max >= 100'000 * 4 + 2'000);
  CHECK(core::kGenesisJsonLimits.values_max >= 1024 * (64 + 256 + 8));
  CHECK(core::kApiRequestJsonLimits.values_max >= 1'000 + 10);
  CHECK_FALSE(core::kProofBundleJsonLimits.unknown_fields_allowed);
  CHECK_FALSE(core::kApiRequestJsonLimits.unknown_fields_allowed);
  CHECK_FALSE(core::kGenesisJsonLimits.unknown_fields_allowed);
  CHECK_FALSE(core::kConfigJsonLimits.unknown_fields_allowed);
  CHECK_FALSE(core::kKeyFileJsonLimits.unknown_fields_allowed);
}

// Protobuf alone takes 2.35 GB for the first input below (8 million nested '['), 544 MB for
// 16 MB of `{"history":[{},{},…]}` read as an ItemResponse and 381 MB read as a bundle
// (measured on Debian 12, Protobuf 3.21).
TEST_CASE("json: 16 MB of adversarial JSON at each entry point costs bounded memory") {
  constexpr size_t kSize = 16'000'000;
  struct Case {
    std::string name;
    std::string json;
    google::protobuf::Message* message;
    JsonLimits limits;
    bool accepted;
    uint64_t peak_bytes_max;
  };
  pb::ProofBundle bundle;
  pb::ItemResponse item;
  pb::CheckRequest check;
  pb::Envelope envelope;
  pb::Genesis genesis;
  const std::string half(kSize / 2 - 20, '[');
  std::vector<Case> cases;
  cases.push_back({"8 million nested arrays",
                   R"({"history":)" + half + std::string(half.size(), ']') + "}", &bundle,
                   core::kProofBundleJsonLimits, false, 8'000'000});
  cases.push_back({"[[{}],[{}],…]", Repeat(R"({"history":[)", "[{}],", "]}", kSize), &bundle,
                   core::kProofBundleJsonLimits, false, 8'000'000});
  cases.push_back({"[null,null,…]", Repeat(R"({"ids":[)", "null,", "]}", kSize), &check,
                   core::kApiRequestJsonLimits, false, 8'000'000});
  cases.push_back({"bundle [{},{},…]", Repeat(R"({"history":[)", "{},", "]}", kSize), &bundle,
                   core::kProofBundleJsonLimits, false, 8'000'000});
  cases.push_back({"answer [{},{},…]", Repeat(R"({"history":[)", "{},", "]}", kSize), &item,
                   core::kApiAnswerJsonLimits, false, 8'000'000});
  cases.push_back({"request [\"\",\"\",…]", Repeat(R"({"ids":[)", R"("",)", "]}", kSize), &check,
                   core::kApiRequestJsonLimits, false, 8'000'000});
  cases.push_back({"genesis [{},{},…]", Repeat(R"({"organizations":[)", "{},", "]}", kSize),
                   &genesis, core::kGenesisJsonLimits, false, 8'000'000});
  // The worst accepted: as many values as the limit allows, each as costly as possible.
  cases.push_back(
      {"answer at its value limit",
       Repeat(R"({"history":[)", "{},", "]}", 3 * core::kApiAnswerJsonLimits.values_max - 20),
       &item, core::kApiAnswerJsonLimits, true, 160'000'000});
  cases.push_back(
      {"bundle at its value limit",
       Repeat(R"({"history":[)", "{},", "]}", 3 * core::kProofBundleJsonLimits.values_max - 20),
       &bundle, core::kProofBundleJsonLimits, true, 100'000'000});
  cases.push_back({"one 16 MB string", R"({"header":")" + std::string(kSize - 20, 'A') + "\"}",
                   &bundle, core::kProofBundleJsonLimits, true, 80'000'000});
  cases.push_back({"one 16 MB string in a request",
                   R"({"payload":")" + std::string(kSize - 20, 'A') + "\"}", &envelope,
                   core::kApiRequestJsonLimits, true, 80'000'000});
  for (Case& c : cases) {
    CAPTURE(c.name);
    core::Status status;
    std::optional<uint64_t> peak = test::PeakMemoryGrowthBytes([&] {
      status = ParseJsonStrict(c.json, c.message, c.limits);
      c.message->Clear();
    });
    CHECK(status.ok() == c.accepted);
    if (!c.accepted) CHECK(status.code() == core::StatusCode::kInvalidInput);
    if (!peak) {
      MESSAGE("cannot measure peak memory here (/proc/self/clear_refs)");
      continue;
    }
    MESSAGE(c.name << ": " << c.json.size() << " bytes, "
                   << std::string(c.accepted ? "accepted" : "refused") << ", peak memory +"
                   << test::Megabytes(*peak));
    CHECK(*peak <= c.peak_bytes_max);
  }
}
