// Building and signing records, parsing command-line words, and the argument errors of the
// record commands: all without a node.
#include "wallet-cli/records.h"

#include <doctest/doctest.h>

#include <fstream>
#include <utility>

#include "cli_runner.h"
#include "core/crypto/sha256.h"
#include "core/limits.h"
#include "fixtures.h"
#include "test_util.h"
#include "wallet-cli/format.h"
#include "wallet-cli/http_client.h"
#include "wallet-cli/node_client.h"

using namespace hallmark;
using test::RunCli;

namespace {

constexpr uint64_t kTime = 1'700'000'123'456;

wallet::PayloadHeader Header(std::string prev = "") {
  wallet::PayloadHeader h;
  h.chain_id = "hallmark-test";
  // A Digital Link URL in, the canonical form out.
  h.item = core::ParseItemId("https://id.gs1.org/01/00614141000012/21/BAG-0001").value();
  h.prev = std::move(prev);
  h.timestamp_ms = kTime;
  return h;
}

void CheckHeader(const pb::RecordPayload& p, const std::string& prev) {
  CHECK(p.chain_id() == "hallmark-test");
  CHECK(p.item_id() == "01/00614141000012/21/BAG-0001");
  CHECK(p.prev() == prev);
  CHECK(p.timestamp_ms() == kTime);
}

std::string PrevId() {
  return std::string(core::Sha256Of(std::string_view("an earlier record")).view());
}

// An identity point: canonical, but of small order, so no honest key.
constexpr const char* kSmallOrderKeyHex =
    "0100000000000000000000000000000000000000000000000000000000000000";

// A node address nothing listens on is not needed: every case below must fail before any
// connection is tried, which the messages show (none mentions the node).
const std::string kNowhere = "http://127.0.0.1:9";

}  // namespace

TEST_CASE("records: register payload carries attributes, documents and custodian") {
  pb::Register body;
  *body.add_attributes() = wallet::ParseAttribute("model=Speedy 30").value();
  *body.add_attributes() = wallet::ParseAttribute("note=a=b").value();
  *body.mutable_custodian() = wallet::ParseHolder("resale").value();
  const pb::RecordPayload p = wallet::BuildPayload(Header(), body);
  CheckHeader(p, "");
  REQUIRE(p.has_register_());
  REQUIRE(p.register_().attributes_size() == 2);
  CHECK(p.register_().attributes(0).key() == "model");
  CHECK(p.register_().attributes(0).value() == "Speedy 30");
  CHECK(p.register_().attributes(1).key() == "note");
  CHECK(p.register_().attributes(1).value() == "a=b");  // Split at the first '='.
  CHECK(p.register_().custodian().organization() == "resale");
  CHECK(wallet::PayloadType(p) == core::RecordType::kRegister);
}

TEST_CASE("records: every other record type sets its body and the prev it is given") {
  const std::string prev = PrevId();
  const wallet::PayloadHeader h = Header(prev);
  const core::PublicKey alice = core::PublicKey::FromBytes(test::PubFor("alice").span()).value();

  pb::RecordPayload t = wallet::BuildPayload(h, wallet::TransferBody(test::KeyHolder("alice")));
  CheckHeader(t, prev);
  CHECK(t.transfer().to().holder_key() == std::string(test::PubFor("alice").view()));

  pb::RecordPayload a = wallet::BuildPayload(h, wallet::AttestBody(pb::SUSPECT, "stitching"));
  CheckHeader(a, prev);
  CHECK(a.attest().verdict() == pb::SUSPECT);
  CHECK(a.attest().note() == "stitching");

  pb::RecordPayload f = wallet::BuildPayload(h, wallet::FlagBody(pb::STOLEN, "taxi"));
  CheckHeader(f, prev);
  CHECK(f.flag().kind() == pb::STOLEN);
  CHECK(f.flag().note() == "taxi");

  pb::RecordPayload c = wallet::BuildPayload(h, wallet::ClearFlagBody(pb::LOST, "found"));
  CheckHeader(c, prev);
  CHECK(std::as_const(c).clear_flag().kind() == pb::LOST);
  CHECK(std::as_const(c).clear_flag().note() == "found");

  pb::RecordPayload s = wallet::BuildPayload(h, wallet::ServiceBody(pb::REPAIR, "strap"));
  CheckHeader(s, prev);
  CHECK(s.service().kind() == pb::REPAIR);
  CHECK(s.service().note() == "strap");

  pb::RecordPayload d =
      wallet::BuildPayload(h, wallet::DecommissionBody(pb::RECYCLED, "beyond repair"));
  CheckHeader(d, prev);
  CHECK(d.decommission().kind() == pb::RECYCLED);
  CHECK(d.decommission().reason() == "beyond repair");

  pb::RecordPayload r = wallet::BuildPayload(h, wallet::ReassignBody(alice, "lost phone"));
  CheckHeader(r, prev);
  CHECK(r.reassign().new_holder_key() == std::string(test::PubFor("alice").view()));
  CHECK(r.reassign().reason() == "lost phone");

  CHECK(wallet::PayloadType(t) == core::RecordType::kTransfer);
  CHECK(wallet::PayloadType(a) == core::RecordType::kAttest);
  CHECK(wallet::PayloadType(f) == core::RecordType::kFlag);
  CHECK(wallet::PayloadType(c) == core::RecordType::kClearFlag);
  CHECK(wallet::PayloadType(s) == core::RecordType::kService);
  CHECK(wallet::PayloadType(d) == core::RecordType::kDecommission);
  CHECK(wallet::PayloadType(r) == core::RecordType::kReassign);
  CHECK_FALSE(wallet::PayloadType(pb::RecordPayload()).has_value());
}

TEST_CASE("records: SignEnvelope signs the exact payload bytes under the acceptance policy") {
  const core::SigningKey key = test::KeyFor("maison");
  const pb::RecordPayload p =
      wallet::BuildPayload(Header(PrevId()), wallet::FlagBody(pb::LOST, ""));
  const pb::Envelope env = wallet::SignEnvelope(key, p);
  CHECK(env.payload() == core::SerializeDeterministic(p));
  CHECK(env.signer() == std::string(test::PubFor("maison").view()));
  CHECK(core::VerifySignature(core::AsSpan(env.signer()), core::AsSpan(env.payload()),
                              core::AsSpan(env.signature())) == core::SigVerdict::kValid);
  // The id binds the whole envelope: SHA-256(payload ‖ signer ‖ signature).
  CHECK(wallet::RecordIdOf(env) ==
        core::Sha256Of(std::string_view(env.payload() + env.signer() + env.signature())));
  CHECK(wallet::RecordIdOf(env) != core::Sha256Of(std::string_view(env.payload())));
  CHECK(wallet::RecordIdOf(env) == test::RecordId(env));

  pb::Envelope tampered = env;
  tampered.mutable_payload()->back() ^= 1;
  CHECK(core::VerifySignature(core::AsSpan(tampered.signer()), core::AsSpan(tampered.payload()),
                              core::AsSpan(tampered.signature())) != core::SigVerdict::kValid);
  // Deterministic: the same payload and key give the same envelope.
  CHECK(wallet::SignEnvelope(key, p).SerializeAsString() == env.SerializeAsString());
}

TEST_CASE("records: SignAndCheck refuses what the node's decoder would refuse") {
  const core::SigningKey key = test::KeyFor("maison");
  const pb::RecordPayload ok = wallet::BuildPayload(Header(), pb::Register());
  CHECK(wallet::SignAndCheck(key, ok, "hallmark-test").ok());

  auto wrong_chain = wallet::SignAndCheck(key, ok, "another-chain");
  REQUIRE_FALSE(wrong_chain.ok());
  CHECK(wrong_chain.status().message().find("wrong_chain") == 0);

  const std::string long_note(core::limits::kMaxNoteBytes + 1, 'x');
  auto too_long = wallet::SignAndCheck(
      key, wallet::BuildPayload(Header(PrevId()), wallet::AttestBody(pb::GENUINE, long_note)),
      "hallmark-test");
  REQUIRE_FALSE(too_long.ok());
  CHECK(too_long.status().code() == core::StatusCode::kInvalidInput);
  CHECK(too_long.status().message().find("limit_exceeded") == 0);
}

TEST_CASE("records: command-line words parse to enum values and back") {
  CHECK(wallet::ParseVerdict("genuine").value() == pb::GENUINE);
  CHECK(wallet::ParseVerdict("suspect").value() == pb::SUSPECT);
  CHECK(wallet::ParseFlagKind("stolen").value() == pb::STOLEN);
  CHECK(wallet::ParseFlagKind("lost").value() == pb::LOST);
  CHECK(wallet::ParseFlagKind("counterfeit-suspected").value() == pb::COUNTERFEIT_SUSPECTED);
  CHECK(wallet::ParseFlagKind("recalled").value() == pb::RECALLED);
  CHECK(wallet::ParseServiceKind("repair").value() == pb::REPAIR);
  CHECK(wallet::ParseServiceKind("refurbishment").value() == pb::REFURBISHMENT);
  CHECK(wallet::ParseServiceKind("authentication").value() == pb::AUTHENTICATION_SERVICE);
  CHECK(wallet::ParseDecommissionKind("destroyed").value() == pb::DESTROYED);
  CHECK(wallet::ParseDecommissionKind("recycled").value() == pb::RECYCLED);
  for (pb::ServiceKind k : {pb::REPAIR, pb::REFURBISHMENT, pb::AUTHENTICATION_SERVICE}) {
    CHECK(wallet::ParseServiceKind(core::ServiceKindName(k)).value() == k);
  }

  auto bad = wallet::ParseVerdict("Genuine");  // Words are lower case, as printed.
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message() == "verdict must be genuine or suspect, not \"Genuine\"");
  auto bad_flag = wallet::ParseFlagKind("stole");
  REQUIRE_FALSE(bad_flag.ok());
  CHECK(bad_flag.status().message().find("stolen, lost, counterfeit-suspected or recalled") !=
        std::string::npos);
  CHECK_FALSE(wallet::ParseServiceKind("").ok());
  CHECK_FALSE(wallet::ParseDecommissionKind("burned").ok());
}

TEST_CASE("records: a holder is a public key when it has 64 characters, else an organisation") {
  const std::string alice_hex = test::PubFor("alice").Hex();
  pb::Holder key = wallet::ParseHolder(alice_hex).value();
  CHECK(key.holder_key() == std::string(test::PubFor("alice").view()));
  pb::Holder org = wallet::ParseHolder("lux-resale").value();
  CHECK(org.organization() == "lux-resale");

  auto not_hex = wallet::ParseHolder(std::string(64, 'z'));
  REQUIRE_FALSE(not_hex.ok());
  CHECK(not_hex.status().message().find("64 hex digits") != std::string::npos);
  auto small = wallet::ParseHolder(kSmallOrderKeyHex);
  REQUIRE_FALSE(small.ok());
  CHECK(small.status().message().find("small-order") != std::string::npos);
  for (std::string_view bad : {"", "Resale", "re sale", "a-very-long-organisation-id-over-32"}) {
    CAPTURE(bad);
    auto r = wallet::ParseHolder(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("neither a holder public key") != std::string::npos);
  }
  CHECK_FALSE(wallet::ParseHolderKey("resale").ok());
}

TEST_CASE("records: attributes and document digests") {
  for (std::string_view bad : {"novalue=", "=value", "noequals", ""}) {
    CAPTURE(bad);
    CHECK_FALSE(wallet::ParseAttribute(bad).ok());
  }
  test::TempDir dir;
  const auto file = dir.path() / "cert.pdf";
  std::ofstream(file, std::ios::binary) << "abc";
  pb::DocumentDigest d = wallet::DocumentDigestOfFile("certificate=" + file.string()).value();
  CHECK(d.name() == "certificate");
  CHECK(core::ToHex(d.sha256()) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");  // SHA-256("abc").
  auto missing = wallet::DocumentDigestOfFile("x=" + (dir.path() / "nope").string());
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == core::StatusCode::kNotFound);
  CHECK(wallet::DocumentDigestOfFile("no-file-given").status().code() ==
        core::StatusCode::kInvalidInput);
}

TEST_CASE("http client: node URLs are http or https and normalised") {
  auto a = wallet::ParseNodeUrl("http://127.0.0.1:7800").value();
  CHECK(a.host == "127.0.0.1");
  CHECK(a.port == "7800");
  CHECK(a.base_path.empty());
  CHECK(a.url == "http://127.0.0.1:7800");
  auto b = wallet::ParseNodeUrl("HTTP://node.example/api/").value();
  CHECK(b.host == "node.example");
  CHECK(b.port == "80");
  CHECK(b.base_path == "/api");
  auto c = wallet::ParseNodeUrl("[::1]:7800").value();  // No scheme: http assumed.
  CHECK(c.host == "::1");
  CHECK(c.url == "http://[::1]:7800");

  auto tls = wallet::ParseNodeUrl("https://node.example");
  REQUIRE(tls.ok());
  CHECK(tls->tls);
  CHECK(tls->url == "https://node.example:443");
  CHECK_FALSE(a.tls);
  for (std::string_view bad : {"ftp://x", "http://", "http://x:0", "http://x:70000", "http://x:ab",
                               "http://u@x", "http://x/?q=1", "http://::1:80", "http://[::1"}) {
    CAPTURE(bad);
    CHECK_FALSE(wallet::ParseNodeUrl(bad).ok());
  }
}

TEST_CASE("node client: item paths keep the canonical slashes and encode the rest") {
  auto id = core::ParseItemId("(01)00614141000012(21)WHY?100%").value();
  CHECK(wallet::ItemPath(id) == "/v1/items/01/00614141000012/21/WHY%3F100%25");
  auto plain = core::ParseItemId("01/09506000134352/21/ABC123").value();
  CHECK(wallet::ItemPath(plain) == "/v1/items/01/09506000134352/21/ABC123");
}

TEST_CASE("format: times, terminal safety and history details") {
  CHECK(wallet::FormatUtc(0) == "-");
  CHECK(wallet::FormatUtc(1'700'000'000'000) == "2023-11-14 22:13:20");
  CHECK(wallet::ForTerminal("ok\x1b[31mred\n") == "ok?[31mred?");

  pb::HistoryEntry e;
  *e.mutable_payload() =
      wallet::BuildPayload(Header(PrevId()), wallet::TransferBody(test::OrgHolder("resale")));
  CHECK(wallet::HistoryDetails(e) == "→ resale");
  *e.mutable_payload() =
      wallet::BuildPayload(Header(PrevId()), wallet::FlagBody(pb::STOLEN, "car"));
  CHECK(wallet::HistoryDetails(e) == "flag stolen: car");
  *e.mutable_payload() = wallet::BuildPayload(
      Header(PrevId()), wallet::AttestBody(pb::GENUINE, std::string(300, 'n')));
  CHECK(wallet::HistoryDetails(e).size() < 120);  // Cut for the table; --json has it all.

  wallet::TextTable t;
  t.AddRow({"a", "→ x", "end"});
  t.AddRow({"long", "y", "z"});
  CHECK(t.Render() == "a     → x  end\nlong  y    z\n");  // Widths count characters.
}

// --- Argument errors through the full command line: none of them needs a node or a key. ---

TEST_CASE("cli write: a bad --verdict is a usage error naming the accepted words") {
  auto r = RunCli({"--node", kNowhere, "attest", "--key", "k", "--item",
                   "01/00614141000012/21/BAG-0001", "--verdict", "maybe"});
  CHECK(r.code == 3);
  CHECK(r.err == "hallmark attest: --verdict must be genuine or suspect, not \"maybe\"\n");
  CHECK(r.out.empty());
}

TEST_CASE("cli write: a bad flag --reason or service --kind is a usage error") {
  auto flag = RunCli({"--node", kNowhere, "flag", "--key", "k", "--item",
                      "01/00614141000012/21/BAG-0001", "--reason", "stole"});
  CHECK(flag.code == 3);
  CHECK(flag.err.find("--reason must be stolen, lost, counterfeit-suspected or recalled") !=
        std::string::npos);
  auto clear = RunCli({"--node", kNowhere, "clear-flag", "--key", "k", "--item",
                       "01/00614141000012/21/BAG-0001", "--kind", "broken"});
  CHECK(clear.code == 3);
  auto service = RunCli({"--node", kNowhere, "service", "--key", "k", "--item",
                         "01/00614141000012/21/BAG-0001", "--kind", "polish"});
  CHECK(service.code == 3);
  CHECK(service.err.find("--kind must be repair, refurbishment or authentication") !=
        std::string::npos);
  auto decom = RunCli({"--node", kNowhere, "decommission", "--key", "k", "--item",
                       "01/00614141000012/21/BAG-0001", "--reason", "fire", "--kind", "burned"});
  CHECK(decom.code == 3);
}

TEST_CASE("cli write: a bad key in --to is invalid input") {
  auto r = RunCli({"--node", kNowhere, "transfer", "--key", "k", "--item",
                   "01/00614141000012/21/BAG-0001", "--to", std::string(64, 'g')});
  CHECK(r.code == 2);
  CHECK(r.err.find("hallmark transfer: --to: public key must be 64 hex digits") == 0);
  auto small =
      RunCli({"--node", kNowhere, "reassign", "--key", "k", "--item",
              "01/00614141000012/21/BAG-0001", "--to", kSmallOrderKeyHex, "--reason", "x"});
  CHECK(small.code == 2);
  CHECK(small.err.find("small-order") != std::string::npos);
  auto org = RunCli({"--node", kNowhere, "reassign", "--key", "k", "--item",
                     "01/00614141000012/21/BAG-0001", "--to", "resale", "--reason", "x"});
  CHECK(org.code == 2);
}

TEST_CASE("cli write: missing required options are usage errors") {
  auto no_item = RunCli({"--node", kNowhere, "register", "--key", "k"});
  CHECK(no_item.code == 3);
  CHECK(no_item.err.find("--item") != std::string::npos);
  auto no_key = RunCli({"transfer", "--item", "01/00614141000012/21/BAG-0001", "--to", "resale"});
  CHECK(no_key.code == 3);
  CHECK(no_key.err.find("--key") != std::string::npos);
  CHECK(RunCli({"attest", "--key", "k", "--item", "01/00614141000012/21/BAG-0001"}).code == 3);
  CHECK(RunCli({"decommission", "--key", "k", "--item", "01/00614141000012/21/BAG-0001"}).code ==
        3);
  CHECK(RunCli({"show"}).code == 3);
  CHECK(RunCli({"register", "--key", "k", "--item", "x", "--timeout", "0"}).code == 3);
}

TEST_CASE("cli write: a malformed item id or attribute is invalid input") {
  auto r =
      RunCli({"--node", kNowhere, "register", "--key", "k", "--item", "(01)09506000134353(21)A"});
  CHECK(r.code == 2);
  CHECK(r.err.find("hallmark register: invalid item id: ") == 0);
  auto attr = RunCli({"--node", kNowhere, "register", "--key", "k", "--item",
                      "01/00614141000012/21/BAG-0001", "--attr", "colour"});
  CHECK(attr.code == 2);
  CHECK(attr.err.find("--attr: attribute must be key=value") != std::string::npos);
}

TEST_CASE("cli write: a missing keystore is a file error, found before the node is asked") {
  test::TempDir dir;
  auto r = RunCli({"--node", kNowhere, "register", "--key", (dir.path() / "none.key").string(),
                   "--item", "01/00614141000012/21/BAG-0001"});
  CHECK(r.code == 3);
  CHECK(r.err.find("cannot load key") != std::string::npos);
  CHECK(r.err.find("cannot reach node") == std::string::npos);
}

TEST_CASE("cli: a node URL of another scheme is refused with a reason") {
  auto r = RunCli({"--node", "ftp://node.example", "show", "01/00614141000012/21/BAG-0001"});
  CHECK(r.code == 3);
  CHECK(r.err.find("must start with http:// or https://") != std::string::npos);
}

TEST_CASE("cli: an unreadable --cacert file is a usage error, found before the node is asked") {
  test::TempDir dir;
  const std::string missing = (dir.path() / "missing-ca.pem").string();
  auto r =
      RunCli({"--node", kNowhere, "--cacert", missing, "show", "01/00614141000012/21/BAG-0001"});
  CHECK(r.code == 3);
  CHECK(r.err.find("hallmark: --cacert: cannot read the CA file " + missing) != std::string::npos);
  CHECK(r.err.find("cannot reach node") == std::string::npos);
}

TEST_CASE("cli check: no ids at all is a usage error, invalid ids alone need no node") {
  auto none = RunCli({"--node", kNowhere, "check"}, "\n\n# only a comment\n");
  CHECK(none.code == 3);
  CHECK(none.err.find("no ids given") != std::string::npos);
  auto invalid = RunCli({"--node", kNowhere, "check"}, "not-an-id\n");
  CHECK(invalid.code == 2);
  CHECK(invalid.out.find("INVALID") != std::string::npos);
  CHECK(invalid.out.find("not-an-id") != std::string::npos);
}
