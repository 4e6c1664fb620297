// Custody proofs (core/custody_proof.h): the cloned-tag test through the pure check. A seller
// without the custodian's key cannot make a proof that passes; a genuine proof passes only for
// its item, its challenge and its time; the sign-bytes cannot be taken for another signed message.
#include "core/custody_proof.h"

#include <random>

#include <doctest/doctest.h>
#include "core/certificate.h"
#include "core/codec.h"
#include "fixtures.h"
#include "governance_fixture.h"

namespace hallmark {
namespace {

using core::CustodyVerdict;
using test::KeyFor;
using test::PubFor;

constexpr const char* kChain = "hallmark-test";
constexpr const char* kChallenge = "listing 8841 / nonce 5f3a";
constexpr uint64_t kNow = test::kTestTimeMs + 60'000;

core::ItemId Item(const char* canonical = test::kMaisonItem) {
  return core::ParseCanonicalItemId(canonical).value();
}

pb::CustodyProof Prove(std::string_view key_name, std::string_view challenge = kChallenge,
                       uint64_t time_ms = kNow - 5'000, const char* item = test::kMaisonItem,
                       std::string_view chain = kChain) {
  auto proof = core::MakeCustodyProof(KeyFor(key_name), chain, Item(item), challenge, time_ms);
  REQUIRE_MESSAGE(proof.ok(), proof.status().ToString());
  return *proof;
}

pb::ItemState StateWithCustodian(pb::Holder custodian) {
  pb::ItemState s;
  s.set_item_id(test::kMaisonItem);
  s.set_brand("maison");
  *s.mutable_custodian() = std::move(custodian);
  s.set_status(pb::ACTIVE);
  return s;
}

// A ledger view of TestNetwork(): the item's state and the membership at `height`.
struct Ledger {
  explicit Ledger(pb::Holder custodian, uint64_t h = 5)
      : genesis(test::TestNetwork()),
        state(core::NetworkState::FromGenesis(genesis)),
        item(StateWithCustodian(std::move(custodian))),
        height(h) {}

  // Applies a governance change proposed by `proposer` and approved by enough others, in block
  // `at`, through the real decoder and rules.
  void Pass(const pb::GovernanceChange& change, const std::string& proposer, uint64_t at) {
    std::vector<pb::Envelope> envs;
    envs.push_back(test::ProposeEnv(proposer, change, at + 100));
    core::GovernanceRecord rec;
    REQUIRE(!core::DecodeGovernanceRecord(envs.back(), kChain, &rec));
    REQUIRE(!core::ValidateGovernance(state, rec, at));
    state = core::ApplyGovernance(state, rec, at).state;
    const core::Hash256 id = rec.id;
    for (const std::string& org : test::TestApprovers(proposer)) {
      envs.push_back(test::ApproveEnv(org, id));
      core::GovernanceRecord a;
      REQUIRE(!core::DecodeGovernanceRecord(envs.back(), kChain, &a));
      auto rej = core::ValidateGovernance(state, a, at);
      REQUIRE_MESSAGE(!rej, rej->ToString());
      state = core::ApplyGovernance(state, a, at).state;
    }
  }

  core::CustodyCheck Check(const pb::CustodyProof& proof, std::string_view challenge = kChallenge,
                           uint64_t now = kNow, const char* expected_item = test::kMaisonItem,
                           bool registered = true) {
    const core::Network membership = state.MembershipAt(genesis, height);
    core::CustodyExpectation expect{
        .chain_id = kChain, .item_id = expected_item, .challenge = challenge, .now_ms = now};
    core::CustodyLedgerView view{.state = registered ? &item : nullptr,
                                 .membership = &membership,
                                 .network_state = &state,
                                 .height = height};
    return core::CheckCustodyProof(proof, expect, view);
  }

  core::Network genesis;
  core::NetworkState state;
  pb::ItemState item;
  uint64_t height;
};

void Expect(const core::CustodyCheck& c, CustodyVerdict verdict, std::string_view words = "") {
  CHECK_MESSAGE(c.verdict == verdict,
                (std::string(core::CustodyVerdictName(c.verdict)) + ": " + c.message));
  CHECK_MESSAGE(c.message.find(words) != std::string::npos, c.message);
}

TEST_CASE("custody proof: the organisation custodian's key passes, and names the organisation") {
  Ledger ledger(test::OrgHolder("maison"));
  const core::CustodyCheck c = ledger.Check(Prove("maison"));
  Expect(c, CustodyVerdict::kCustodian, "organization \"maison\"");
  CHECK(c.signer == PubFor("maison").Hex());
  CHECK(c.signer_organization == "maison");
}

TEST_CASE("custody proof: a holder-key custodian passes with exactly that key") {
  Ledger ledger(test::KeyHolder("alice"));
  const core::CustodyCheck c = ledger.Check(Prove("alice"));
  Expect(c, CustodyVerdict::kCustodian);
  CHECK(c.signer_organization.empty());
  Expect(ledger.Check(Prove("mallory")), CustodyVerdict::kNotCustodian, "key ");
}

TEST_CASE("cloned tag: another organisation's key is not the custodian") {
  Ledger ledger(test::OrgHolder("maison"));
  const core::CustodyCheck c = ledger.Check(Prove("resale"));
  Expect(c, CustodyVerdict::kNotCustodian, "organization \"maison\"");
  CHECK(c.signer_organization == "resale");
  // Also the brand itself, once the item belongs to someone else.
  Ledger sold(test::KeyHolder("alice"));
  Expect(sold.Check(Prove("maison")), CustodyVerdict::kNotCustodian);
}

TEST_CASE("cloned tag: an organisation key does not speak for a holder-key custodian") {
  Ledger ledger(test::KeyHolder("alice"));
  Expect(ledger.Check(Prove("resale")), CustodyVerdict::kNotCustodian, "key ");
}

TEST_CASE("cloned tag: an unregistered item has no custodian") {
  Ledger ledger(test::OrgHolder("maison"));
  Expect(ledger.Check(Prove("maison"), kChallenge, kNow, test::kMaisonItem, false),
         CustodyVerdict::kNotCustodian, "not registered");
}

TEST_CASE("custody proof: an organisation's second valid key counts, added by governance") {
  Ledger ledger(test::OrgHolder("maison"), 11);
  ledger.Pass(test::AddKeyChange("maison", "maison-2"), "maison", 10);
  const core::CustodyCheck c = ledger.Check(Prove("maison-2"));
  Expect(c, CustodyVerdict::kCustodian);
  CHECK(c.signer_organization == "maison");
  // Not before the key is in force (from the block after the change).
  ledger.height = 10;
  Expect(ledger.Check(Prove("maison-2")), CustodyVerdict::kNotCustodian);
}

TEST_CASE("cloned tag: a key revoked by governance no longer proves custody") {
  Ledger ledger(test::OrgHolder("maison"), 21);
  ledger.Pass(test::AddKeyChange("maison", "maison-2"), "maison", 10);
  ledger.Pass(test::RevokeKeyChange("maison", "maison"), "atelier", 20);
  Expect(ledger.Check(Prove("maison")), CustodyVerdict::kNotCustodian, "revoked at height 21");
  Expect(ledger.Check(Prove("maison-2")), CustodyVerdict::kCustodian);
  // A revoked organisation key is not a consumer's key either, even if the item was once
  // handed to it as a holder key.
  ledger.item = StateWithCustodian(test::KeyHolder("maison"));
  Expect(ledger.Check(Prove("maison")), CustodyVerdict::kNotCustodian, "revoked");
}

TEST_CASE("cloned tag: a replayed proof with another challenge fails") {
  Ledger ledger(test::OrgHolder("maison"));
  const pb::CustodyProof proof = Prove("maison", "listing 1");
  Expect(ledger.Check(proof, "listing 1"), CustodyVerdict::kCustodian);
  Expect(ledger.Check(proof, "listing 2"), CustodyVerdict::kWrongChallenge, "another challenge");
  Expect(ledger.Check(proof, "listing 1 "), CustodyVerdict::kWrongChallenge);
  Expect(ledger.Check(proof, ""), CustodyVerdict::kWrongChallenge, "empty");
  // Changing the challenge in the proof breaks the signature.
  pb::CustodyProof edited = proof;
  edited.set_challenge("listing 2");
  Expect(ledger.Check(edited, "listing 2"), CustodyVerdict::kBadSignature);
}

TEST_CASE("cloned tag: stale and future-dated proofs fail, at their exact limits") {
  Ledger ledger(test::OrgHolder("maison"));
  const uint64_t max_age = core::limits::kCustodyProofMaxAgeMsDefault;
  const uint64_t skew = core::limits::kCustodyProofFutureSkewMsMax;
  Expect(ledger.Check(Prove("maison", kChallenge, kNow - max_age)), CustodyVerdict::kCustodian);
  Expect(ledger.Check(Prove("maison", kChallenge, kNow - max_age - 1)), CustodyVerdict::kStale,
         "ask the seller for a new one");
  Expect(ledger.Check(Prove("maison", kChallenge, kNow + skew)), CustodyVerdict::kCustodian);
  Expect(ledger.Check(Prove("maison", kChallenge, kNow + skew + 1)), CustodyVerdict::kFromFuture);
  // Editing the time breaks the signature.
  pb::CustodyProof old = Prove("maison", kChallenge, kNow - max_age - 1);
  old.set_time_ms(kNow);
  Expect(ledger.Check(old), CustodyVerdict::kBadSignature);
}

TEST_CASE("cloned tag: a proof for another item fails, and its item cannot be edited") {
  Ledger ledger(test::OrgHolder("maison"));
  const char* other = "01/00614141000012/21/BAG-0002";
  const pb::CustodyProof proof = Prove("maison", kChallenge, kNow - 5'000, other);
  Expect(ledger.Check(proof), CustodyVerdict::kWrongItem, "BAG-0002");
  pb::CustodyProof edited = proof;
  edited.set_item_id(test::kMaisonItem);
  Expect(ledger.Check(edited), CustodyVerdict::kBadSignature);
}

TEST_CASE("cloned tag: a proof for another network fails") {
  Ledger ledger(test::OrgHolder("maison"));
  Expect(ledger.Check(Prove("maison", kChallenge, kNow - 5'000, test::kMaisonItem, "other-net")),
         CustodyVerdict::kWrongChain, "other-net");
}

TEST_CASE("cloned tag: every single flipped bit of a proof makes it fail") {
  Ledger ledger(test::OrgHolder("maison"));
  const pb::CustodyProof proof = Prove("maison");
  const std::string wire = proof.SerializeAsString();
  int checked = 0;
  for (size_t i = 0; i < wire.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = wire;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      pb::CustodyProof tampered;
      if (!tampered.ParseFromString(bad)) continue;  // Not a proof at all.
      ++checked;
      const core::CustodyCheck c = ledger.Check(tampered);
      REQUIRE_MESSAGE(c.verdict != CustodyVerdict::kCustodian,
                      "byte " << i << " bit " << bit << " still passes");
    }
  }
  CHECK(checked > 1000);
}

TEST_CASE("custody proof: malformed proofs are refused with a reason, never checked further") {
  Ledger ledger(test::OrgHolder("maison"));
  const pb::CustodyProof good = Prove("maison");
  auto expect_malformed = [&](pb::CustodyProof p, std::string_view words) {
    Expect(ledger.Check(p), CustodyVerdict::kMalformed, words);
  };
  pb::CustodyProof p = good;
  p.set_signer(good.signer().substr(0, 31));
  expect_malformed(p, "32-byte");
  p = good;
  p.set_signature(good.signature() + "x");
  expect_malformed(p, "64 bytes");
  p = good;
  p.clear_chain_id();
  expect_malformed(p, "chain id");
  p = good;
  p.set_chain_id(std::string(65, 'c'));
  expect_malformed(p, "chain id");
  p = good;
  p.set_item_id("https://id.gs1.org/01/00614141000012/21/BAG-0001");
  expect_malformed(p, "canonical");
  p = good;
  p.set_item_id(std::string(100'000, '1'));
  expect_malformed(p, "item id");
  p = good;
  p.set_challenge(std::string(257, 'a'));
  expect_malformed(p, "limit is 256");
  p = good;
  p.set_challenge("\xc0\xaf");  // An overlong '/'.
  expect_malformed(p, "UTF-8");
  p = good;
  p.clear_challenge();
  expect_malformed(p, "empty");
  p = good;
  p.clear_time_ms();
  expect_malformed(p, "no time");
  Expect(ledger.Check(pb::CustodyProof()), CustodyVerdict::kMalformed);
}

TEST_CASE("custody proof: keys outside the acceptance policy give bad_signature") {
  Ledger ledger(test::KeyHolder("alice"));
  pb::CustodyProof p = Prove("alice");
  // The identity point (a small-order key): "signatures" under it prove nothing.
  std::string identity(32, '\0');
  identity[0] = 1;
  p.set_signer(identity);
  ledger.item = StateWithCustodian([&] {
    pb::Holder h;
    h.set_holder_key(identity);
    return h;
  }());
  Expect(ledger.Check(p), CustodyVerdict::kBadSignature, "small_order_key");
  // S + L: a second encoding of a valid signature is refused (check 2 of the policy).
  pb::CustodyProof q = Prove("alice");
  ledger.item = StateWithCustodian(test::KeyHolder("alice"));
  std::string sig = q.signature();
  // L = 2^252 + 27742317777372353535851937790883648493, little-endian.
  const uint8_t kL[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                          0xa2, 0xde, 0xf9, 0xde, 0x14, 0,    0,    0,    0,    0,    0,
                          0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10};
  unsigned carry = 0;
  for (int i = 0; i < 32; ++i) {
    unsigned v = static_cast<uint8_t>(sig[32 + i]) + kL[i] + carry;
    sig[32 + i] = static_cast<char>(v & 0xff);
    carry = v >> 8;
  }
  q.set_signature(sig);
  Expect(ledger.Check(q), CustodyVerdict::kBadSignature, "non_canonical_s");
}

TEST_CASE("custody proof: MakeCustodyProof refuses what a checker would refuse") {
  auto key = KeyFor("maison");
  CHECK(!core::MakeCustodyProof(key, kChain, Item(), "", kNow).ok());
  CHECK(!core::MakeCustodyProof(key, kChain, Item(), std::string(257, 'a'), kNow).ok());
  CHECK(!core::MakeCustodyProof(key, kChain, Item(), "\xff", kNow).ok());
  CHECK(!core::MakeCustodyProof(key, "", Item(), kChallenge, kNow).ok());
  CHECK(!core::MakeCustodyProof(key, kChain, Item(), kChallenge, 0).ok());
  CHECK(core::MakeCustodyProof(key, kChain, Item(), std::string(256, 'a'), kNow).ok());
  // UTF-8 of every length passes; surrogates and code points above U+10FFFF do not.
  CHECK(core::ValidateCustodyChallenge("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x91\x9c").ok());
  CHECK(!core::ValidateCustodyChallenge("\xed\xa0\x80").ok());
  CHECK(!core::ValidateCustodyChallenge("\xf4\x90\x80\x80").ok());
  CHECK(!core::ValidateCustodyChallenge("\xe2\x82").ok());
}

TEST_CASE("custody proof: the sign-bytes layout is as documented") {
  const pb::CustodyProof p = Prove("maison", "ab", 0x0102030405060708);
  const core::Bytes bytes = core::CustodyProofSignBytes(p);
  std::string expected = "hallmark/custody-proof/v1";
  expected += static_cast<char>(13);
  expected += kChain;
  expected += static_cast<char>(29);
  expected += test::kMaisonItem;
  expected += std::string("\x00\x02", 2) + "ab";
  expected += std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8);
  expected += std::string(PubFor("maison").view());
  CHECK(std::string(bytes.begin(), bytes.end()) == expected);
}

TEST_CASE("custody proof: its signature can never pass as a record's, a vote's or a hello's") {
  const pb::CustodyProof proof = Prove("maison");
  const core::Bytes sign_bytes = core::CustodyProofSignBytes(proof);
  // As an envelope's payload, the signature verifies, and the record decoders refuse it: a
  // RecordPayload cannot start with the domain tag ('h' = field 13 with the wrong wire type).
  pb::Envelope env;
  env.set_payload(std::string(sign_bytes.begin(), sign_bytes.end()));
  env.set_signer(proof.signer());
  env.set_signature(proof.signature());
  CHECK(!core::CheckRecordSignature(env));
  core::Record record;
  auto rej = core::DecodeRecord(env, kChain, &record);
  REQUIRE(rej);
  CHECK(rej->reason == core::RejectReason::kMalformed);
  core::GovernanceRecord gov;
  CHECK(core::DecodeGovernanceRecord(env, kChain, &gov));
  // The consensus and p2p tags and ours: none is a prefix of another.
  const std::string ours(core::kCustodyProofDomain);
  for (std::string other : {"hallmark/vote/v1", "hallmark/proposal/v1", "hallmark/p2p/hello/v1"}) {
    CHECK(ours.compare(0, other.size(), other) != 0);
    CHECK(other.compare(0, ours.size(), ours) != 0);
  }
  const core::Bytes vote =
      core::VoteSignBytes(kChain, 1, 0, core::VoteType::kPrevote, core::Hash256());
  CHECK(std::string(vote.begin(), vote.begin() + 16) == "hallmark/vote/v1");
  // And a record's signed bytes (a RecordPayload) never start with our tag.
  const pb::Envelope rec = test::Sign("maison", test::Payload(test::kMaisonItem));
  CHECK(rec.payload().rfind(ours, 0) == std::string::npos);
}

TEST_CASE("custody proof JSON: a round trip, and hostile files refused with a message") {
  const pb::CustodyProof proof = Prove("maison");
  const std::string json = core::ToJson(proof, false).value();
  CHECK(json.size() < 400);
  auto back = core::ParseCustodyProofJson(json);
  REQUIRE(back.ok());
  CHECK(back->SerializeAsString() == proof.SerializeAsString());

  auto refused = [](const std::string& text, std::string_view words = "") {
    auto r = core::ParseCustodyProofJson(text);
    REQUIRE_MESSAGE(!r.ok(), text.substr(0, 80));
    CHECK_MESSAGE(r.status().message().find(words) != std::string::npos, r.status().message());
  };
  refused("{\"challenge\":\"" + std::string(20'000, 'a') + "\"}");  // Over the byte cap.
  refused("{\"signer\":\"!!!not base64!!!\"}");
  refused("{\"time_ms\":\"-1\"}");
  refused("{\"time_ms\":\"99999999999999999999999\"}");
  refused("{\"extra\":1}");
  refused("[]");
  refused("{\"challenge\":[\"a\"]}");
  refused("");
  refused("{\"chain_id\":\"a\"} trailing");
  refused(std::string(5'000, '['));

  // Well-formed JSON with wrong sizes parses, and the check refuses it.
  Ledger ledger(test::OrgHolder("maison"));
  auto short_key = core::ParseCustodyProofJson(
      R"({"chain_id":"hallmark-test","item_id":"01/00614141000012/21/BAG-0001","challenge":"x",)"
      R"("time_ms":"1700000100000","signer":"AAAA","signature":"AAAA"})");
  REQUIRE(short_key.ok());
  Expect(ledger.Check(*short_key, "x"), CustodyVerdict::kMalformed, "32-byte");

  // Random bytes and random edits of a good file: never a crash, never a pass.
  std::mt19937 rng(20261203);
  for (int i = 0; i < 3000; ++i) {
    std::string text = json;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % text.size();
      switch (rng() % 3) {
        case 0:
          text[at] = static_cast<char>(rng());
          break;
        case 1:
          text.erase(at, 1 + rng() % 8);
          break;
        default:
          text.insert(at, std::string(1 + rng() % 4, static_cast<char>(rng())));
      }
      if (text.empty()) text = "{";
    }
    auto parsed = core::ParseCustodyProofJson(text);
    if (!parsed.ok()) continue;
    if (parsed->SerializeAsString() == proof.SerializeAsString()) continue;  // Same proof.
    const core::CustodyCheck c = ledger.Check(*parsed);
    REQUIRE_MESSAGE(c.verdict != CustodyVerdict::kCustodian, text);
  }
}

}  // namespace
}  // namespace hallmark
