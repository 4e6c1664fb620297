// GET /v1/items/{id...}/proof through the router, against a real ledger: the bundle it serves
// checks out against genesis, in JSON and in binary Protobuf.
#include <doctest/doctest.h>

#include "core/codec.h"
#include "core/proof_bundle.h"
#include "node/api.h"
#include "node/http/content.h"
#include "proof_fixture.h"
#include "proto/api.pb.h"

namespace hallmark::test {
namespace {

namespace http = boost::beast::http;

node::Request Get(std::string_view target, bool protobuf = false) {
  node::Request::Message msg{http::verb::get, target, 11};
  if (protobuf) msg.set(http::field::accept, "application/x-protobuf");
  msg.prepare_payload();
  return node::Request(std::move(msg));
}

struct ApiFixture {
  ProvenChain chain;
  node::Mempool mempool{chain.network(), &chain.ledger()};
  node::MetricsRegistry metrics;
  node::Router router;
  ApiFixture() {
    node::ApiContext ctx;
    ctx.network = &chain.network();
    ctx.ledger = &chain.ledger();
    ctx.mempool = &mempool;
    ctx.metrics = &metrics;
    node::RegisterApiRoutes(router, ctx);
  }
  node::Response Dispatch(std::string_view target, bool protobuf = false) {
    node::Request req = Get(target, protobuf);
    return router.Dispatch(req);
  }
};

}  // namespace

TEST_CASE("api: the proof route serves a bundle that checks out, in binary and JSON") {
  ApiFixture f;
  LiveItem(f.chain, kMaisonItem, 3);
  node::Response bin = f.Dispatch("/v1/items/01/00614141000012/21/BAG-0001/proof", true);
  REQUIRE(bin.status == 200);
  CHECK(bin.content_type == "application/x-protobuf");
  auto v = core::VerifyProofBundle(f.chain.network(), bin.body, kMaisonItem);
  REQUIRE(v.ok());
  CHECK(v.item.steps.size() == 3);

  // JSON (Protobuf's JSON mapping) round-trips to the same bundle.
  node::Response json = f.Dispatch("/v1/items/01/00614141000012/21/BAG-0001/proof");
  REQUIRE(json.status == 200);
  pb::ProofBundle parsed;
  REQUIRE(core::FromJson(json.body, &parsed, "bundle").ok());
  CHECK(core::VerifyProofBundle(f.chain.network(), core::SerializeDeterministic(parsed)).ok());

  // Any id form; a never-registered item gets a proof of absence.
  node::Response dl = f.Dispatch("/v1/items/(01)00614141000012(21)NEVER/proof", true);
  REQUIRE(dl.status == 200);
  auto absent = core::VerifyProofBundle(f.chain.network(), dl.body);
  REQUIRE(absent.ok());
  CHECK(!absent.item.state.has_value());
}

TEST_CASE("api: an item whose serial is 'proof' is still readable, and provable") {
  ApiFixture f;
  LiveItem(f.chain, "01/00614141000012/21/proof", 2);
  node::Response item = f.Dispatch("/v1/items/01/00614141000012/21/proof", true);
  REQUIRE(item.status == 200);
  pb::ItemResponse ir;
  REQUIRE(ir.ParseFromString(item.body));
  CHECK(ir.registered());
  CHECK(ir.history_size() == 2);
  node::Response proof = f.Dispatch("/v1/items/01/00614141000012/21/proof/proof", true);
  REQUIRE(proof.status == 200);
  CHECK(core::VerifyProofBundle(f.chain.network(), proof.body, "01/00614141000012/21/proof").ok());
}

TEST_CASE("api: proof route errors are clear") {
  ApiFixture f;
  node::Response early = f.Dispatch("/v1/items/01/00614141000012/21/BAG-0001/proof");
  CHECK(early.status == 503);
  CHECK(early.body.find("no_certified_header") != std::string::npos);
  LiveItem(f.chain, kMaisonItem, 1);
  node::Response bad = f.Dispatch("/v1/items/01/00614141000013/21/X/proof");
  CHECK(bad.status == 400);
  CHECK(bad.body.find("bad_item_id") != std::string::npos);
  CHECK(bad.body.find("check digit") != std::string::npos);
}

}  // namespace hallmark::test

namespace hallmark::test {

TEST_CASE("api: the proof route's since gives the walk after a trusted height") {
  ApiFixture f;
  LiveItem(f.chain, kMaisonItem, 2);
  pb::Envelope proposal = Sign("maison", [&] {
    pb::RecordPayload p;
    p.set_chain_id("hallmark-test");
    p.set_timestamp_ms(kTestTimeMs);
    auto* g = p.mutable_governance()->mutable_proposal();
    g->mutable_change()->mutable_add_signing_key()->set_organization("maison");
    g->mutable_change()->mutable_add_signing_key()->set_key(std::string(PubFor("maison-2").view()));
    g->set_expires_height(f.chain.ledger().height() + 100);
    return p;
  }());
  f.chain.Commit({proposal});
  std::vector<pb::Envelope> approvals;
  for (const char* org : {"atelier", "resale", "authlab"}) {
    pb::RecordPayload p;
    p.set_chain_id("hallmark-test");
    p.set_timestamp_ms(kTestTimeMs);
    p.mutable_governance()->mutable_approval()->set_proposal(Id(proposal));
    approvals.push_back(Sign(org, p));
  }
  f.chain.Commit(approvals);
  const uint64_t head = f.chain.ledger().height();

  auto walk_of = [&](std::string_view target) {
    node::Response r = f.Dispatch(target, true);
    REQUIRE(r.status == 200);
    pb::ProofBundle b;
    REQUIRE(b.ParseFromString(r.body));
    return b.governance();
  };
  const std::string path = "/v1/items/01/00614141000012/21/BAG-0001/proof";
  auto full = walk_of(path);
  CHECK(full.from_height() == 0);
  CHECK(full.blocks_size() == 2);
  auto since_before = walk_of(path + "?since=" + std::to_string(head - 2));
  CHECK(since_before.from_height() == head - 2);
  CHECK(since_before.blocks_size() == 2);
  auto since_head = walk_of(path + "?since=" + std::to_string(head));
  CHECK(since_head.from_height() == head);
  CHECK(since_head.blocks_size() == 0);
  auto ahead = walk_of(path + "?since=" + std::to_string(head + 10));
  CHECK(ahead.from_height() == 0);
  CHECK(ahead.blocks_size() == 2);
  CHECK(f.Dispatch(path + "?since=soon", true).status == 400);
}

}  // namespace hallmark::test
