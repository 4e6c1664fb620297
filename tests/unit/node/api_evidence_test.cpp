// GET /v1/evidence and the evidence counts in /v1/status, over the real router and
// a real ledger.
#include <doctest/doctest.h>

#include <string>

#include "core/codec.h"
#include "core/consensus_codec.h"
#include "evidence_fixture.h"
#include "fixtures.h"
#include "node/api.h"
#include "node/http/content.h"
#include "proto/api.pb.h"
#include "test_util.h"

namespace hallmark::test {
namespace {

namespace http = boost::beast::http;

struct EvidenceApi {
  TempDir dir;
  core::Network network = TestNetwork();
  std::unique_ptr<storage::Ledger> ledger =
      std::move(storage::Ledger::Open(dir.path(), network, {.sync = false}).value());
  node::Mempool mempool{network, ledger.get()};
  node::MetricsRegistry metrics;
  node::Router router;

  EvidenceApi() {
    node::ApiContext ctx;
    ctx.network = &network;
    ctx.ledger = ledger.get();
    ctx.mempool = &mempool;
    ctx.metrics = &metrics;
    ctx.pending_evidence = [] { return uint64_t{5}; };
    node::RegisterApiRoutes(router, ctx);
  }

  void CommitBlock(std::vector<pb::Evidence> evidence) {
    auto built = ledger->BuildBlock({}, kTestTimeMs + ledger->height() + 1, PubFor("validator-0"),
                                    storage::VerifyEverySignature(), evidence);
    REQUIRE(built.ok());
    REQUIRE(built->block.evidence_size() == static_cast<int>(evidence.size()));
    REQUIRE(ledger->Commit(*built).ok());
  }

  node::Response Get(std::string_view target, bool binary = false) {
    node::Request::Message msg{http::verb::get, target, 11};
    if (binary) msg.set(http::field::accept, "application/x-protobuf");
    node::Request req(std::move(msg));
    return router.Dispatch(req);
  }

  pb::EvidenceListResponse List(std::string_view target) {
    node::Response res = Get(target);
    INFO(target, " → ", res.body);
    REQUIRE(res.status == 200);
    pb::EvidenceListResponse out;
    REQUIRE(core::FromJson(res.body, &out, "answer").ok());
    return out;
  }
};

}  // namespace

TEST_CASE("api: GET /v1/evidence pages committed evidence newest first, and by validator") {
  EvidenceApi api;
  api.CommitBlock({DoubleVoteProto(1, 1)});
  api.CommitBlock({});
  api.CommitBlock({DoubleVoteProto(2, 2), DoubleVoteProto(1, 3, 0, core::VoteType::kPrecommit)});

  pb::EvidenceListResponse all = api.List("/v1/evidence");
  CHECK(all.height() == 3);
  CHECK(all.committed() == 3);
  CHECK(all.next().empty());
  REQUIRE(all.evidence_size() == 3);
  CHECK(all.evidence(0).height() == 3);
  CHECK(all.evidence(0).position() == 1);
  CHECK(all.evidence(0).kind() == "duplicate_precommit");
  CHECK(all.evidence(0).validator() == KeyFor("validator-1").public_key().Hex());
  CHECK(all.evidence(0).offence_height() == 3);
  CHECK(all.evidence(2).height() == 1);
  CHECK(all.evidence(2).kind() == "duplicate_prevote");
  CHECK(all.evidence(2).id() == core::EvidenceId(DoubleVoteProto(1, 1)).Hex());
  // What the route serves checks against genesis alone.
  for (const auto& entry : all.evidence()) {
    auto decoded = core::FromProto(entry.evidence());
    REQUIRE(decoded.ok());
    CHECK(core::VerifyEvidence(api.network, *decoded).ok());
  }

  pb::EvidenceListResponse first = api.List("/v1/evidence?limit=2");
  REQUIRE(first.evidence_size() == 2);
  CHECK(first.next() == "3.0");
  pb::EvidenceListResponse second = api.List("/v1/evidence?limit=2&before=" + first.next());
  REQUIRE(second.evidence_size() == 1);
  CHECK(second.evidence(0).height() == 1);
  CHECK(second.next().empty());

  pb::EvidenceListResponse at3 = api.List("/v1/evidence?height=3");
  CHECK(at3.evidence_size() == 2);
  CHECK(api.List("/v1/evidence?height=2").evidence_size() == 0);

  pb::EvidenceListResponse v1 =
      api.List("/v1/evidence?validator=" + KeyFor("validator-1").public_key().Hex());
  REQUIRE(v1.evidence_size() == 2);
  CHECK(v1.evidence(0).offence_height() == 1);  // Oldest offence first.
  CHECK(v1.evidence(1).offence_height() == 3);

  // Binary, like every route.
  node::Response bin = api.Get("/v1/evidence?limit=1", /*binary=*/true);
  REQUIRE(bin.status == 200);
  CHECK(bin.content_type == "application/x-protobuf");
  pb::EvidenceListResponse parsed;
  REQUIRE(parsed.ParseFromString(bin.body));
  CHECK(parsed.evidence_size() == 1);

  for (std::string_view bad :
       {"/v1/evidence?limit=0", "/v1/evidence?limit=1001", "/v1/evidence?before=x",
        "/v1/evidence?before=3", "/v1/evidence?validator=zz", "/v1/evidence?height=-1"}) {
    CHECK_MESSAGE(api.Get(bad).status == 400, bad);
  }
}

TEST_CASE("api: /v1/status counts committed and pending evidence") {
  EvidenceApi api;
  api.CommitBlock({DoubleVoteProto(3, 1)});
  node::Response res = api.Get("/v1/status");
  REQUIRE(res.status == 200);
  pb::StatusResponse status;
  REQUIRE(core::FromJson(res.body, &status, "answer").ok());
  CHECK(status.evidence().committed() == 1);
  CHECK(status.evidence().pending() == 5);
}

}  // namespace hallmark::test
