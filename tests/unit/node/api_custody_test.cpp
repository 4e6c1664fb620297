// POST /v1/items:check with custody proofs (`items`), over the real router and a real ledger:
// the cloned-tag test as a marketplace runs it against a node.
#include <doctest/doctest.h>

#include <string>

#include "core/clock.h"
#include "core/codec.h"
#include "core/custody_proof.h"
#include "fixtures.h"
#include "governance_fixture.h"
#include "node/api.h"
#include "node/http/content.h"
#include "proto/api.pb.h"
#include "test_util.h"

namespace hallmark::test {
namespace {

namespace http = boost::beast::http;

constexpr const char* kBag = "01/00614141000012/21/BAG-0001";
constexpr const char* kChallenge = "resale listing 77120";

struct CustodyApi {
  TempDir dir;
  core::Network network = TestNetwork();
  std::unique_ptr<storage::Ledger> ledger =
      std::move(storage::Ledger::Open(dir.path(), network, {.sync = false}).value());
  node::Mempool mempool{network, ledger.get()};
  node::MetricsRegistry metrics;
  node::Router router;
  std::vector<pb::Envelope> kept;  // Envelopes whose ids later records name.

  CustodyApi() {
    node::ApiContext ctx;
    ctx.network = &network;
    ctx.ledger = ledger.get();
    ctx.mempool = &mempool;
    ctx.metrics = &metrics;
    node::RegisterApiRoutes(router, ctx);
  }

  void Commit(const std::vector<pb::Envelope>& records) {
    auto built = ledger->BuildBlock(records, kTestTimeMs + 1000 * (ledger->height() + 1),
                                    PubFor("validator-0"));
    REQUIRE(built.ok());
    for (const auto& d : built->dropped) FAIL(d.rejection.ToString());
    REQUIRE(ledger->Commit(*built).ok());
  }

  // A governance change proposed by `proposer` and approved by enough others, one block each.
  void Pass(const pb::GovernanceChange& change, const std::string& proposer) {
    const pb::Envelope proposal = ProposeEnv(proposer, change, ledger->height() + 100);
    Commit({proposal});
    std::vector<pb::Envelope> approvals;
    for (const std::string& org : TestApprovers(proposer)) {
      approvals.push_back(ApproveEnv(org, RecordId(proposal)));
    }
    Commit(approvals);
  }

  std::pair<unsigned, std::string> Post(const std::string& body) {
    node::Request::Message msg{http::verb::post, "/v1/items:check", 11};
    msg.set(http::field::content_type, "application/json");
    msg.body() = body;
    msg.prepare_payload();
    node::Request req(std::move(msg));
    node::Response res = router.Dispatch(req);
    return {res.status, res.body};
  }

  pb::CheckResponse Check(const pb::CheckRequest& request) {
    auto [status, body] = Post(core::ToJson(request, false).value());
    INFO(body);
    REQUIRE(status == 200);
    pb::CheckResponse out;
    REQUIRE(core::FromJson(body, &out, "answer").ok());
    REQUIRE(out.results_size() == request.ids_size() + request.items_size());
    return out;
  }

  // One item with its proof: the custody verdict the node gives.
  pb::CustodyResult CheckOne(const pb::CustodyProof& proof, const std::string& id = kBag,
                             const std::string& challenge = kChallenge) {
    pb::CheckRequest request;
    pb::CheckItem* item = request.add_items();
    item->set_id(id);
    *item->mutable_custody_proof() = proof;
    item->set_challenge(challenge);
    pb::CheckResponse r = Check(request);
    REQUIRE(r.results(0).has_custody());
    return r.results(0).custody();
  }
};

pb::CustodyProof Prove(std::string_view key, const char* item = kBag,
                       std::string_view challenge = kChallenge, int64_t age_ms = 2'000) {
  return core::MakeCustodyProof(KeyFor(key), "hallmark-test",
                                core::ParseCanonicalItemId(item).value(), challenge,
                                core::UnixTimeMs() - age_ms)
      .value();
}

void Expect(const pb::CustodyResult& c, std::string_view verdict, std::string_view words = "") {
  CHECK_MESSAGE(c.verdict() == verdict, (c.verdict() + ": " + c.message()));
  CHECK_MESSAGE(c.message().find(words) != std::string::npos, c.message());
}

pb::Envelope RegisterBag() {
  auto p = Payload(kBag);
  p.mutable_register_();
  return Sign("maison", p);
}

pb::Envelope TransferTo(const pb::Envelope& prev, pb::Holder to, std::string_view signer) {
  auto p = Payload(kBag, Id(prev));
  *p.mutable_transfer()->mutable_to() = std::move(to);
  return Sign(signer, p);
}

}  // namespace

TEST_CASE("api custody: only the current custodian's keys pass, through transfers") {
  CustodyApi api;
  const pb::Envelope reg = RegisterBag();
  api.Commit({reg});

  pb::CustodyResult c = api.CheckOne(Prove("maison"));
  Expect(c, "custodian", "organization \"maison\"");
  CHECK(c.signer() == PubFor("maison").Hex());
  CHECK(c.signer_organization() == "maison");
  // Another organisation, and a consumer's key, are not the custodian.
  c = api.CheckOne(Prove("resale"));
  Expect(c, "not_custodian", "the custodian is organization \"maison\"");
  CHECK(c.signer_organization() == "resale");
  Expect(api.CheckOne(Prove("alice")), "not_custodian");

  // Sold to a consumer: the previous custodian can no longer prove custody.
  const pb::Envelope sold = TransferTo(reg, KeyHolder("alice"), "maison");
  api.Commit({sold});
  Expect(api.CheckOne(Prove("maison")), "not_custodian", "the custodian is key ");
  c = api.CheckOne(Prove("alice"));
  Expect(c, "custodian");
  CHECK(c.signer_organization().empty());
  Expect(api.CheckOne(Prove("bob")), "not_custodian");

  // And on to a marketplace: the consumer's key no longer counts, the marketplace's does.
  api.Commit({TransferTo(sold, OrgHolder("resale"), "alice")});
  Expect(api.CheckOne(Prove("alice")), "not_custodian");
  Expect(api.CheckOne(Prove("resale")), "custodian");
}

TEST_CASE("api custody: an added key counts, a revoked one no longer does") {
  CustodyApi api;
  api.Commit({RegisterBag()});
  Expect(api.CheckOne(Prove("maison-2")), "not_custodian");
  api.Pass(AddKeyChange("maison", "maison-2"), "maison");
  pb::CustodyResult c = api.CheckOne(Prove("maison-2"));
  Expect(c, "custodian");
  CHECK(c.signer_organization() == "maison");
  api.Pass(RevokeKeyChange("maison", "maison"), "atelier");
  c = api.CheckOne(Prove("maison"));
  Expect(c, "not_custodian", "revoked");
  CHECK(c.signer_organization().empty());
  Expect(api.CheckOne(Prove("maison-2")), "custodian");
}

TEST_CASE("api custody: replayed, stale, future, tampered and misdirected proofs fail") {
  CustodyApi api;
  api.Commit({RegisterBag()});
  const pb::CustodyProof good = Prove("maison");
  Expect(api.CheckOne(good), "custodian");
  Expect(api.CheckOne(good, kBag, "another listing"), "wrong_challenge");
  Expect(api.CheckOne(good, kBag, ""), "wrong_challenge", "empty");
  Expect(api.CheckOne(Prove("maison", kBag, kChallenge, 11 * 60 * 1000)), "stale");
  Expect(api.CheckOne(Prove("maison", kBag, kChallenge, -3 * 60 * 1000)), "from_future");
  pb::CustodyProof tampered = good;
  std::string sig = tampered.signature();
  sig[5] = static_cast<char>(sig[5] ^ 0x01);
  tampered.set_signature(sig);
  Expect(api.CheckOne(tampered), "bad_signature");
  // A genuine proof for the seller's own item, shown on the listing of a clone's serial.
  api.Commit([] {
    auto p = Payload("01/00614141000012/21/BAG-0002");
    p.mutable_register_();
    return std::vector<pb::Envelope>{Sign("maison", p)};
  }());
  const pb::CustodyProof other = Prove("maison", "01/00614141000012/21/BAG-0002");
  Expect(api.CheckOne(other), "wrong_item", "BAG-0002");
  // The id may be given in any form; the proof names the canonical one.
  Expect(api.CheckOne(good, "https://id.gs1.org/01/00614141000012/21/BAG-0001"), "custodian");
  // An unregistered item has no custodian.
  const char* nope = "01/00614141000012/21/NOPE";
  Expect(api.CheckOne(Prove("maison", nope), nope), "not_custodian", "not registered");
}

TEST_CASE("api custody: ids and items together, in order, within one limit") {
  CustodyApi api;
  api.Commit({RegisterBag()});
  pb::CheckRequest request;
  request.add_ids(kBag);
  request.add_ids("not an id");
  pb::CheckItem* a = request.add_items();
  a->set_id(kBag);
  *a->mutable_custody_proof() = Prove("maison");
  a->set_challenge(kChallenge);
  pb::CheckItem* b = request.add_items();
  b->set_id(kBag);  // No proof.
  b->set_challenge(kChallenge);
  pb::CheckItem* c = request.add_items();
  c->set_id("01/00614141000013/21/X");  // Bad check digit.
  *c->mutable_custody_proof() = Prove("maison");
  c->set_challenge(kChallenge);
  const pb::CheckResponse r = api.Check(request);
  CHECK(r.results(0).status() == "active");
  CHECK(!r.results(0).has_custody());
  CHECK(r.results(1).status() == "invalid");
  CHECK(r.results(2).status() == "active");
  CHECK(r.results(2).custody().verdict() == "custodian");
  CHECK(r.results(3).custody().verdict() == "malformed");
  CHECK(r.results(3).custody().message() == "no custody_proof given for this item");
  CHECK(r.results(4).status() == "invalid");
  CHECK(r.results(4).error().code() == "bad_item_id");
  CHECK(!r.results(4).has_custody());

  // 1,000 ids and one item are over the limit.
  pb::CheckRequest big;
  for (int i = 0; i < 1000; ++i) big.add_ids(kBag);
  *big.add_items() = *a;
  auto [status, body] = api.Post(core::ToJson(big, false).value());
  CHECK(status == 400);
  CHECK(body.find("limit_exceeded") != std::string::npos);
  CHECK(body.find("ids and items together") != std::string::npos);
  big.mutable_ids()->RemoveLast();
  CHECK(api.Post(core::ToJson(big, false).value()).first == 200);
}

TEST_CASE("api custody: hostile proofs in a request are answered, never crash") {
  CustodyApi api;
  api.Commit({RegisterBag()});
  const std::string proof_prefix =
      R"({"items":[{"id":"01/00614141000012/21/BAG-0001","challenge":"x","custody_proof":)";
  // A huge challenge, a key of the wrong length, bad base64, a negative time.
  auto [s1, b1] = api.Post(proof_prefix + R"({"challenge":")" + std::string(100'000, 'a') +
                           R"(","signer":"AAAA","signature":"AAAA"}}]})");
  CHECK(s1 == 200);
  CHECK(b1.find("\"malformed\"") != std::string::npos);
  auto [s2, b2] = api.Post(proof_prefix + R"({"signer":"%%%"}}]})");
  CHECK(s2 == 400);
  auto [s3, b3] = api.Post(proof_prefix + R"({"time_ms":"-5"}}]})");
  CHECK(s3 == 400);
  pb::CustodyProof long_key = Prove("maison");
  long_key.set_signer(long_key.signer() + "x");
  pb::CheckRequest request;
  pb::CheckItem* item = request.add_items();
  item->set_id(kBag);
  *item->mutable_custody_proof() = long_key;
  item->set_challenge(kChallenge);
  Expect(api.Check(request).results(0).custody(), "malformed", "32-byte");
}

}  // namespace hallmark::test
