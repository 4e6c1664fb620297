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
