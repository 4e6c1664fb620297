// `hallmark verify ID --node URL…` against stand-in nodes that lie: old bundles, another
// item's, bundles that do not check out. Issue 9, finding 1: none of them may give exit 0.

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "core/codec.h"
#include "fake_node.h"
#include "proof_fixture.h"
#include "proto/cli.pb.h"
#include "proto/proof.pb.h"
#include "wallet-cli/verify_commands.h"

namespace hallmark::test {
namespace {

constexpr const char* kOtherItem = "01/00614141000012/21/BAG-0002";

// A node that answers every proof request with `bundle` (binary bytes, sent as JSON).
void ServeBundle(FakeNode& node, const std::string& bundle) {
  pb::ProofBundle b;
  REQUIRE(b.ParseFromString(bundle));
  const std::string json = core::ToJson(b, false).value();
  node.SetOverride([json](const FakeNode::Request& r) -> std::optional<FakeNode::Response> {
    if (!r.target.ends_with("/proof")) return std::nullopt;
    FakeNode::Response answer;
    answer.body = json;
    return answer;
  });
}

struct Online {
  Online() {
    genesis = files.path() / "genesis.json";
    std::ofstream(genesis) << core::ToJson(TestGenesis()).value();
  }
  struct Out {
    int code;
    std::string out, err;
    pb::VerifyOutput json;
  };
  Out Verify(std::vector<std::string> urls, uint64_t now_ms, bool json = false,
             std::optional<uint64_t> max_age = std::nullopt) {
    wallet::VerifyOptions o;
    o.item = kMaisonItem;
    o.genesis_path = genesis;
    o.node_urls = std::move(urls);
    o.now_ms = now_ms;
    o.json = json;
    o.max_age_ms = max_age;
    o.timeout_ms = 5000;
    std::ostringstream out, err;
    Out r;
    r.code = wallet::RunVerify(o, out, err);
    r.out = out.str();
    r.err = err.str();
    if (json) REQUIRE(core::FromJson(r.out, &r.json, "output").ok());
    return r;
  }
  TempDir files;
  std::filesystem::path genesis;
  ProvenChain chain;
};

}  // namespace

TEST_CASE("verify online: an old bundle of a now-stolen item is stale (exit 4), never genuine") {
  Online t;
  auto recs = LiveItem(t.chain, kMaisonItem, 2);
  const std::string clean = t.chain.BundleBytes(kMaisonItem);
  const uint64_t clean_time = t.chain.time_ms();
  pb::RecordPayload flag = Payload(kMaisonItem, Id(recs.back()));
  flag.mutable_flag()->set_kind(pb::STOLEN);
  t.chain.CommitOne("resale", flag);

  FakeNode liar;
  ServeBundle(liar, clean);
  // The default limit comes from genesis: 18 idle intervals + the skew allowance (3.5 min).
  const uint64_t limit = t.chain.network().freshness_ms();
  auto fresh = t.Verify({liar.url()}, clean_time + limit - 1'000);
  CHECK(fresh.code == 0);  // Young enough: as of its date, it is what the chain said.
  auto r = t.Verify({liar.url()}, clean_time + limit + 1'000);
  INFO(r.out << r.err);
  CHECK(r.code == 4);
  CHECK(r.out.starts_with("TOO OLD TO TRUST"));
  CHECK(r.out.find("ask another node") != std::string::npos);
  auto j = t.Verify({liar.url()}, clean_time + 3'600'000, true);
  CHECK(j.code == 4);
  CHECK(j.json.verdict() == "stale");
  CHECK(j.json.max_age_ms() == limit);
  // --max-age overrides the default, both ways.
  CHECK(t.Verify({liar.url()}, clean_time + 3'600'000, false, 2 * 3'600'000).code == 0);
  CHECK(t.Verify({liar.url()}, clean_time + 60'000, false, 30'000).code == 4);
}

TEST_CASE(
    "verify online: an old absence proof of a registered item is stale, not 'never registered'") {
  Online t;
  LiveItem(t.chain, kOtherItem, 1);
  const std::string absent = t.chain.BundleBytes(kMaisonItem);  // Before its registration.
  const uint64_t then = t.chain.time_ms();
  LiveItem(t.chain, kMaisonItem, 2);
  FakeNode liar;
  ServeBundle(liar, absent);
  auto r = t.Verify({liar.url()}, then + 3'600'000, true);
  CHECK(r.code == 4);
  CHECK(r.json.verdict() == "stale");
  CHECK(!r.json.registered());
}

TEST_CASE("verify online: another item's bundle, a tampered one, or one from the future: exit 2") {
  Online t;
  LiveItem(t.chain, kMaisonItem, 2);
  LiveItem(t.chain, kOtherItem, 2);
  FakeNode liar;
  ServeBundle(liar, t.chain.BundleBytes(kOtherItem));
  auto wrong = t.Verify({liar.url()}, t.chain.time_ms() + 1'000, true);
  CHECK(wrong.code == 2);
  CHECK(wrong.json.failed_check() == "format");
  CHECK(wrong.json.message().find("not " + std::string(kMaisonItem)) != std::string::npos);

  std::string tampered = t.chain.BundleBytes(kMaisonItem);
  tampered[tampered.size() - 5] ^= 0x20;
  ServeBundle(liar, tampered);
  CHECK(t.Verify({liar.url()}, t.chain.time_ms() + 1'000).code == 2);

  ServeBundle(liar, t.chain.BundleBytes(kMaisonItem));
  auto future = t.Verify({liar.url()}, t.chain.time_ms() - 5 * 60'000, true);
  CHECK(future.code == 2);
  CHECK(future.json.failed_check() == "freshness");
}

TEST_CASE("verify online: with several nodes the newest bundle that checks out wins") {
  Online t;
  auto recs = LiveItem(t.chain, kMaisonItem, 2);
  const std::string old_clean = t.chain.BundleBytes(kMaisonItem);
  pb::RecordPayload flag = Payload(kMaisonItem, Id(recs.back()));
  flag.mutable_flag()->set_kind(pb::STOLEN);
  t.chain.CommitOne("resale", flag);
  const std::string flagged = t.chain.BundleBytes(kMaisonItem);
  std::string broken = flagged;
  broken[broken.size() / 2] ^= 0x01;

  FakeNode withholding, honest, forger;
  ServeBundle(withholding, old_clean);
  ServeBundle(honest, flagged);
  ServeBundle(forger, broken);
  const uint64_t now = t.chain.time_ms() + 10'000;
  for (const auto& order :
       std::vector<std::vector<std::string>>{{withholding.url(), honest.url(), forger.url()},
                                             {forger.url(), honest.url(), withholding.url()},
                                             {honest.url(), withholding.url()}}) {
    auto r = t.Verify(order, now, true);
    CHECK(r.code == 1);
    CHECK(r.json.verdict() == "not_clean");
    CHECK(r.json.height() == t.chain.ledger().height());
  }
  auto warned = t.Verify({forger.url(), honest.url()}, now);
  CHECK(warned.err.find("sent a proof that does not check out") != std::string::npos);
  CHECK(warned.err.find(forger.url()) != std::string::npos);
  CHECK(warned.out.find("from          " + honest.url()) != std::string::npos);
  // Only the forger: exit 2. Only the withholding node: a 10 s old proof is fine.
  CHECK(t.Verify({forger.url()}, now).code == 2);
  // One node unreachable, one honest: the honest answer, with a warning.
  auto partial = t.Verify({"http://127.0.0.1:1", honest.url()}, now);
  CHECK(partial.code == 1);
  CHECK(partial.err.find("no answer from http://127.0.0.1:1") != std::string::npos);
}

TEST_CASE("verify online: two nodes showing different certified blocks at one height: exit 2") {
  // Only possible if more than a third of the validators signed both: a fork. Neither answer
  // may be trusted, whichever node is listed first.
  Online t;
  ProvenChain other;  // Same genesis, another history: another block at the same heights.
  LiveItem(t.chain, kMaisonItem, 2);
  auto recs = LiveItem(other, kMaisonItem, 1);
  pb::RecordPayload flag = Payload(kMaisonItem, Id(recs.back()));
  flag.mutable_flag()->set_kind(pb::STOLEN);
  other.CommitOne("maison", flag);
  REQUIRE(t.chain.ledger().height() == other.ledger().height());
  FakeNode a, b;
  ServeBundle(a, t.chain.BundleBytes(kMaisonItem));
  ServeBundle(b, other.BundleBytes(kMaisonItem));
  const uint64_t now = t.chain.time_ms() + 1'000;
  for (const auto& order :
       std::vector<std::vector<std::string>>{{a.url(), b.url()}, {b.url(), a.url()}}) {
    auto r = t.Verify(order, now, true);
    CHECK(r.code == 2);
    CHECK(r.json.failed_check() == "certificate");
    CHECK(r.json.message().find("two different certified blocks at height") != std::string::npos);
  }
}

}  // namespace hallmark::test
