// `hallmark verify` keeps the governance state it checked in a trust file, per network: the next
// verify asks only for the changes since (GET …/proof?since=H), a saved bundle from genesis
// checks with or without it, and a damaged or foreign trust file is ignored with a warning and
// never makes a bundle pass.

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "core/codec.h"
#include "fake_node.h"
#include "gov_chain_fixture.h"
#include "proto/cli.pb.h"
#include "test_util.h"
#include "wallet-cli/trust_store.h"
#include "wallet-cli/verify_commands.h"

namespace hallmark::test {
namespace {

struct Run {
  int code = -1;
  std::string out, err;
};

struct TrustFixture {
  TrustFixture() {
    genesis = files.path() / "genesis.json";
    std::ofstream(genesis) << core::ToJson(TestGenesis()).value();
    trust_dir = files.path() / "trust";
    chain.CommitRecord("maison", [] {
      pb::RecordPayload p = Payload(kMaisonItem);
      p.mutable_register_();
      return p;
    }());
    chain.Pass(AddOrgChange("nouveau", pb::BRAND, {"7654321"}));
  }
  std::filesystem::path Save(const std::string& name, const std::string& bytes) {
    auto p = files.path() / name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  wallet::VerifyOptions Options() const {
    wallet::VerifyOptions o;
    o.item = kMaisonItem;
    o.genesis_path = genesis;
    o.now_ms = chain.time_ms() + 1'000;
    o.trust_dir = trust_dir;
    o.timeout_ms = 5000;
    return o;
  }
  Run Verify(wallet::VerifyOptions o) {
    std::ostringstream out, err;
    Run r;
    r.code = wallet::RunVerify(o, out, err);
    r.out = out.str();
    r.err = err.str();
    return r;
  }
  Run Offline(const std::string& bytes) {
    auto o = Options();
    o.now_ms = chain.time_ms() + 1'000;
    o.proof_path = Save("bundle.pb", bytes);
    return Verify(o);
  }
  std::filesystem::path TrustFile() const {
    return wallet::TrustFilePath(trust_dir, chain.network());
  }

  TempDir files;
  std::filesystem::path genesis;
  std::filesystem::path trust_dir;
  GovChain chain;
};

}  // namespace

TEST_CASE("verify trust: a checked state is kept, and a bundle since it then checks offline") {
  TrustFixture t;
  const uint64_t first_height = t.chain.height();
  Run cold = t.Offline(t.chain.BundleBytes(kMaisonItem));
  INFO(cold.out << cold.err);
  REQUIRE(cold.code == 0);
  CHECK(cold.out.find("1 change checked since genesis") != std::string::npos);
  REQUIRE(std::filesystem::exists(t.TrustFile()));
  auto trusted = wallet::LoadTrust(t.trust_dir, t.chain.network(), std::cerr);
  REQUIRE(trusted.has_value());
  CHECK(trusted->height == first_height);
  CHECK(trusted->state.GovernedHash() == t.chain.state().GovernedHash());

  t.chain.Pass(AddKeyChange("maison", "maison-2"),
               {"atelier", "resale", "authlab", "repairco", "nouveau"});
  const std::string since = t.chain.BundleBytes(kMaisonItem, first_height);
  Run warm = t.Offline(since);
  INFO(warm.out << warm.err);
  CHECK(warm.code == 0);
  CHECK(warm.out.find("since height " + std::to_string(first_height) + " (trust file)") !=
        std::string::npos);
  CHECK(wallet::LoadTrust(t.trust_dir, t.chain.network(), std::cerr)->height == t.chain.height());

  // Without the trust file, the same bundle does not check out: it names the governance check.
  std::filesystem::remove(t.TrustFile());
  Run alone = t.Offline(since);
  CHECK(alone.code == 2);
  CHECK(alone.out.find("governance") != std::string::npos);
}

TEST_CASE("verify trust: a damaged, foreign or edited trust file is ignored with a warning") {
  TrustFixture t;
  const std::string full = t.chain.BundleBytes(kMaisonItem);
  REQUIRE(t.Offline(full).code == 0);
  const uint64_t trusted_height = t.chain.height();
  t.chain.Pass(AddKeyChange("maison", "maison-2"),
               {"atelier", "resale", "authlab", "repairco", "nouveau"});
  const std::string since = t.chain.BundleBytes(kMaisonItem, trusted_height);
  const std::string newest_full = t.chain.BundleBytes(kMaisonItem);

  std::string good;
  {
    std::ifstream in(t.TrustFile(), std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  pb::TrustFile parsed;
  REQUIRE(parsed.ParseFromString(good));

  std::vector<std::pair<std::string, std::string>> bad;
  bad.emplace_back("garbage", "not a trust file at all");
  {
    std::string flipped = good;
    flipped[flipped.size() / 2] ^= 0x01;
    bad.emplace_back("a flipped byte", flipped);
  }
  {
    pb::TrustFile f = parsed;
    f.set_genesis_hash(std::string(32, 'x'));
    bad.emplace_back("another network (checksum redone)", "");
    // Recompute the checksum as an attacker would: the genesis check still refuses it.
    f.clear_checksum();
    f.set_checksum(
        std::string(core::Sha256Of(std::string_view(core::SerializeDeterministic(f))).view()));
    bad.back().second = core::SerializeDeterministic(f);
  }
  {
    // A state with a genesis organisation's key swapped for an attacker's.
    pb::TrustFile f = parsed;
    f.mutable_state()->mutable_organizations(0)->mutable_keys(0)->set_key(
        std::string(PubFor("mallory").view()));
    f.clear_checksum();
    f.set_checksum(
        std::string(core::Sha256Of(std::string_view(core::SerializeDeterministic(f))).view()));
    bad.emplace_back("an edited genesis key", core::SerializeDeterministic(f));
  }
  for (const auto& [what, bytes] : bad) {
    INFO(what);
    std::ofstream(t.TrustFile(), std::ios::binary | std::ios::trunc) << bytes;
    // The bundle since the trusted height cannot be checked: exit 2, never 0.
    Run r = t.Offline(since);
    CHECK(r.code == 2);
    CHECK(r.err.find("warning: ignoring the trust file") != std::string::npos);
    // A bundle from genesis checks out regardless, and the trust file is rewritten.
    std::ofstream(t.TrustFile(), std::ios::binary | std::ios::trunc) << bytes;
    Run full_run = t.Offline(newest_full);
    CHECK(full_run.code == 0);
    CHECK(wallet::LoadTrust(t.trust_dir, t.chain.network(), std::cerr).has_value());
    std::ofstream(t.TrustFile(), std::ios::binary | std::ios::trunc) << good;
  }
}

TEST_CASE(
    "verify trust: a trust file with a validator set scheduled beyond its height is ignored "
    "and the verifier does not abort") {
  TrustFixture t;
  REQUIRE(t.Offline(t.chain.BundleBytes(kMaisonItem)).code == 0);
  const uint64_t trusted_height = t.chain.height();
  t.chain.Pass(AddValidatorChange("v4", "nouveau", "validator-4", 1),
               {"atelier", "resale", "authlab", "repairco", "nouveau"});
  const std::string since = t.chain.BundleBytes(kMaisonItem, trusted_height);

  // An edited state (checksum redone) with a set scheduled far beyond what any change completed
  // at the trusted height could schedule.
  pb::TrustFile f;
  {
    std::ifstream in(t.TrustFile(), std::ios::binary);
    REQUIRE(f.ParseFromString(
        std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>())));
  }
  pb::ValidatorEpoch* far = f.mutable_state()->add_validator_epochs();
  *far = f.state().validator_epochs(0);
  far->set_from_height(1'000'000);
  f.clear_checksum();
  f.set_checksum(
      std::string(core::Sha256Of(std::string_view(core::SerializeDeterministic(f))).view()));
  std::ofstream(t.TrustFile(), std::ios::binary | std::ios::trunc)
      << core::SerializeDeterministic(f);

  Run r = t.Offline(since);
  INFO(r.out << r.err);
  CHECK(r.code == 2);
  CHECK(r.err.find("warning: ignoring the trust file") != std::string::npos);
  CHECK(r.err.find("scheduled") != std::string::npos);
}

TEST_CASE("verify trust: online, a warm verify asks only for the changes since") {
  TrustFixture t;
  FakeNode node;
  std::vector<std::string> asked;
  node.SetOverride([&](const FakeNode::Request& r) -> std::optional<FakeNode::Response> {
    const size_t at = r.target.find("/proof");
    if (at == std::string::npos) return std::nullopt;
    asked.push_back(r.target);
    uint64_t since = 0;
    if (const size_t q = r.target.find("?since="); q != std::string::npos) {
      since = std::stoull(r.target.substr(q + 7));
    }
    FakeNode::Response answer;
    answer.body = core::ToJson(t.chain.Bundle(kMaisonItem, since), false).value();
    return answer;
  });
  auto o = t.Options();
  o.node_urls = {node.url()};
  Run cold = t.Verify(o);
  INFO(cold.out << cold.err);
  REQUIRE(cold.code == 0);
  REQUIRE(asked.size() == 1);
  CHECK(asked[0].find("since") == std::string::npos);
  const uint64_t trusted_height = t.chain.height();

  t.chain.Pass(AddKeyChange("maison", "maison-2"),
               {"atelier", "resale", "authlab", "repairco", "nouveau"});
  o.now_ms = t.chain.time_ms() + 1'000;
  Run warm = t.Verify(o);
  INFO(warm.out << warm.err);
  CHECK(warm.code == 0);
  REQUIRE(asked.size() == 2);
  CHECK(asked[1].ends_with("/proof?since=" + std::to_string(trusted_height)));
  CHECK(warm.out.find("1 change checked since height") != std::string::npos);

  // --save-proof asks from genesis, so the saved file checks anywhere with genesis alone.
  o.save_path = t.files.path() / "saved.pb";
  Run saving = t.Verify(o);
  CHECK(saving.code == 0);
  CHECK(asked.back().find("since") == std::string::npos);
}

}  // namespace hallmark::test

namespace hallmark::test {

TEST_CASE("verify: forged governance walks exit 2 naming the check and the block") {
  TrustFixture t;
  t.trust_dir.clear();  // Genesis alone.
  t.chain.Pass(AddKeyChange("maison", "maison-2"),
               {"atelier", "resale", "authlab", "repairco", "nouveau"});
  const pb::ProofBundle good = t.chain.Bundle(kMaisonItem);
  REQUIRE(t.Offline(core::SerializeDeterministic(good)).code == 0);
  struct Case {
    const char* what;
    pb::ProofBundle bundle;
    const char* check;
    const char* names;
  };
  std::vector<Case> cases;
  {
    pb::ProofBundle b = good;  // The second change withheld.
    REQUIRE(b.governance().blocks_size() == 9);
    b.mutable_governance()->mutable_blocks()->DeleteSubrange(4, 5);
    // The last block left was certified through the withheld ones: give it its own certificate,
    // so that only the certified network state can tell.
    pb::BlockHeader h;
    REQUIRE(h.ParseFromString(b.governance().blocks(3).header()));
    *b.mutable_governance()->mutable_blocks(3)->mutable_certificate() =
        t.chain.WalkBlock(h.height(), {0}).certificate();
    cases.push_back({"withheld change", b, "governance", "at the header's height"});
  }
  {
    pb::ProofBundle b = good;  // A byte of an approval changed.
    auto* env = b.mutable_governance()->mutable_blocks(1)->mutable_records(0)->mutable_envelope();
    std::string payload = env->payload();
    payload.back() ^= 0x01;
    env->set_payload(payload);
    cases.push_back({"tampered approval", b, "governance", "walk block 2"});
  }
  {
    pb::ProofBundle b = good;  // A forged signature on an approval.
    auto* env = b.mutable_governance()->mutable_blocks(2)->mutable_records(0)->mutable_envelope();
    pb::Envelope forged = Approval("mallory", pb::Envelope());
    env->set_signer(forged.signer());
    cases.push_back({"approval re-attributed", b, "governance", "walk block 3"});
  }
  {
    // A walk block with its certificate cut down to one validator (the walk leaves certificates
    // out where a later block certifies the block; one that is sent is checked all the same).
    pb::ProofBundle b = good;
    pb::BlockHeader h;
    REQUIRE(h.ParseFromString(b.governance().blocks(0).header()));
    pb::CommitCertificate cert = t.chain.WalkBlock(h.height(), {0}).certificate();
    REQUIRE(cert.signatures_size() >= 2);
    cert.mutable_signatures()->DeleteSubrange(1, cert.signatures_size() - 1);
    *b.mutable_governance()->mutable_blocks(0)->mutable_certificate() = cert;
    cases.push_back({"minority certificate", b, "governance", "walk block"});
  }
  for (const Case& c : cases) {
    INFO(c.what);
    Run r = t.Offline(core::SerializeDeterministic(c.bundle));
    INFO(r.out << r.err);
    CHECK(r.code == 2);
    CHECK(r.out.find(std::string("failed check  ") + c.check) != std::string::npos);
    CHECK(r.out.find(c.names) != std::string::npos);
  }
}

}  // namespace hallmark::test
