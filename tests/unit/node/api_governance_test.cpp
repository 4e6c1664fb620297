// The governance routes (GET /v1/network, /v1/governance/proposals[/{id}]) and the governance
// side of /v1/records/{id}, /v1/items/{id} and /v1/status, over the real router and a real
// ledger whose blocks carry governance records.
#include <doctest/doctest.h>

#include <string>

#include "core/codec.h"
#include "fixtures.h"
#include "governance_fixture.h"
#include "node/api.h"
#include "node/http/content.h"
#include "proto/api.pb.h"
#include "test_util.h"

namespace hallmark::test {
namespace {

namespace http = boost::beast::http;

struct GovApi {
  TempDir dir;
  core::Network network = TestNetwork();
  std::unique_ptr<storage::Ledger> ledger =
      std::move(storage::Ledger::Open(dir.path(), network, {.sync = false}).value());
  node::Mempool mempool{network, ledger.get()};
  node::MetricsRegistry metrics;
  node::Router router;

  GovApi() {
    node::ApiContext ctx;
    ctx.network = &network;
    ctx.ledger = ledger.get();
    ctx.mempool = &mempool;
    ctx.metrics = &metrics;
    node::RegisterApiRoutes(router, ctx);
  }

  // Commits a block of `records`; every one must be taken.
  void Commit(const std::vector<pb::Envelope>& records) {
    auto built = ledger->BuildBlock(records, kTestTimeMs + 1000 * (ledger->height() + 1),
                                    PubFor("validator-0"));
    REQUIRE(built.ok());
    for (const auto& d : built->dropped) FAIL(d.rejection.ToString());
    REQUIRE(ledger->Commit(*built).ok());
  }

  node::Response Get(std::string_view target) {
    node::Request::Message msg{http::verb::get, target, 11};
    node::Request req(std::move(msg));
    return router.Dispatch(req);
  }

  template <typename T>
  T GetJson(std::string_view target) {
    node::Response res = Get(target);
    INFO(target, " → ", res.body);
    REQUIRE(res.status == 200);
    T out;
    REQUIRE(core::FromJson(res.body, &out, "answer").ok());
    return out;
  }

  std::pair<unsigned, std::string> GetError(std::string_view target) {
    node::Response res = Get(target);
    pb::ErrorResponse e;
    REQUIRE(core::FromJson(res.body, &e, "error").ok());
    return {res.status, e.error().code() + ": " + e.error().message()};
  }
};

pb::Envelope Register(std::string_view signer, const std::string& serial) {
  auto p = Payload("01/00614141000012/21/" + serial);
  p.mutable_register_();
  return Sign(signer, p);
}

const pb::OrganizationView* FindOrg(
    const google::protobuf::RepeatedPtrField<pb::OrganizationView>& orgs, const std::string& id) {
  for (const auto& o : orgs) {
    if (o.id() == id) return &o;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("api governance: /v1/network shows genesis' members, validators and parameters") {
  GovApi api;
  auto net = api.GetJson<pb::NetworkResponse>("/v1/network");
  CHECK(net.chain_id() == "hallmark-test");
  CHECK(net.genesis_hash() == api.network.hash().Hex());
  CHECK(net.height() == 0);
  REQUIRE(net.members_size() == 5);
  CHECK(net.members(0).id() == "atelier");  // By id.
  const auto* maison = FindOrg(net.members(), "maison");
  REQUIRE(maison != nullptr);
  CHECK(maison->roles_size() == 1);
  CHECK(maison->roles(0) == pb::BRAND);
  CHECK(maison->gs1_company_prefixes_size() == 2);
  REQUIRE(maison->signing_keys_size() == 1);
  CHECK(maison->signing_keys(0).key() == PubFor("maison").Hex());
  CHECK(maison->signing_keys(0).valid());
  CHECK(net.removed_size() == 0);
  CHECK(net.validators().from_height() == 0);
  CHECK(net.validators().validators_size() == 4);
  CHECK(net.validators().total_power() == 4);
  CHECK(net.scheduled_size() == 0);
  CHECK(net.governance().threshold_numerator() == 2);
  CHECK(net.governance().threshold_denominator() == 3);
  CHECK(net.governance().proposal_lifetime_heights() == 100'000);
  CHECK(net.governance().validator_change_delay_heights() == 10);
  CHECK(net.approvals_needed() == 4);  // 5 members: 4 × 3 > 2 × 5.
  // The JSON uses the proto field names.
  CHECK(api.Get("/v1/network").body.find("\"approvals_needed\":\"4\"") != std::string::npos);
}

TEST_CASE(
    "api governance: a proposal is listed with its approvals, then shown completed with its "
    "effective height, and the network shows the result") {
  GovApi api;
  api.Commit({Register("maison", "K-1")});  // Height 1, signed by the key about to be revoked.

  pb::GovernanceChange add_key = AddKeyChange("maison", "maison-2");
  pb::Envelope proposal = ProposeEnv("maison", add_key, 50);
  api.Commit({proposal});  // Height 2.
  const std::string id = RecordId(proposal).Hex();

  auto list = api.GetJson<pb::ProposalListResponse>("/v1/governance/proposals");
  CHECK(list.height() == 2);
  CHECK(list.members() == 5);
  CHECK(list.approvals_needed() == 4);
  REQUIRE(list.proposals_size() == 1);
  const pb::ProposalView& p = list.proposals(0);
  CHECK(p.id() == id);
  CHECK(p.status() == "pending");
  CHECK(p.proposer() == "maison");
  CHECK(p.signer() == PubFor("maison").Hex());
  CHECK(p.change().kind() == "add_signing_key");
  CHECK(p.change().organization() == "maison");
  REQUIRE(p.change().signing_keys_size() == 1);
  CHECK(p.change().signing_keys(0) == PubFor("maison-2").Hex());
  CHECK(p.change().summary().find("add signing key") != std::string::npos);
  CHECK(p.proposed_height() == 2);
  CHECK(p.expires_height() == 50);
  REQUIRE(p.approvals_size() == 1);
  CHECK(p.approvals(0) == "maison");
  CHECK(p.approvals_counted() == 1);
  CHECK(p.approvals_needed() == 4);
  CHECK(p.approvals_missing() == 3);

  // GET /v1/records/{id} knows governance records.
  auto rec = api.GetJson<pb::RecordStatusResponse>("/v1/records/" + id);
  CHECK(rec.status() == "committed");
  CHECK(rec.height() == 2);
  CHECK(rec.type() == "governance_proposal");
  CHECK(rec.item_id().empty());

  // Two approvals: still pending, one missing.
  pb::Envelope a1 = ApproveEnv("atelier", RecordId(proposal));
  pb::Envelope a2 = ApproveEnv("resale", RecordId(proposal));
  api.Commit({a1, a2});  // Height 3.
  auto shown = api.GetJson<pb::ProposalView>("/v1/governance/proposals/" + id);
  CHECK(shown.status() == "pending");
  CHECK(shown.approvals_counted() == 3);
  CHECK(shown.approvals_missing() == 1);
  CHECK(api.GetJson<pb::RecordStatusResponse>("/v1/records/" + RecordId(a1).Hex()).type() ==
        "governance_approval");

  // The fourth completes it at height 4; in force from 5.
  api.Commit({ApproveEnv("authlab", RecordId(proposal))});
  CHECK(api.GetJson<pb::ProposalListResponse>("/v1/governance/proposals").proposals_size() == 0);
  shown = api.GetJson<pb::ProposalView>("/v1/governance/proposals/" + id);
  CHECK(shown.status() == "completed");
  CHECK(shown.completed_height() == 4);
  CHECK(shown.effective_height() == 5);
  CHECK(shown.proposer() == "maison");
  CHECK(shown.change().kind() == "add_signing_key");
  CHECK(shown.approvals_size() == 4);

  auto net = api.GetJson<pb::NetworkResponse>("/v1/network");
  const auto* maison = FindOrg(net.members(), "maison");
  REQUIRE(maison != nullptr);
  REQUIRE(maison->signing_keys_size() == 2);
  CHECK(maison->signing_keys(1).key() == PubFor("maison-2").Hex());
  CHECK(maison->signing_keys(1).valid_from() == 5);
  CHECK(maison->signing_keys(1).valid());

  // Revoke the old key (proposed by the new one), and the item's history still names maison
  // for the record the old key signed.
  pb::Envelope revoke = ProposeEnv("maison-2", RevokeKeyChange("maison", "maison"), 60);
  api.Commit({revoke});
  std::vector<pb::Envelope> approvals;
  for (const auto& o : TestApprovers("maison"))
    approvals.push_back(ApproveEnv(o, RecordId(revoke)));
  api.Commit(approvals);  // Height 6: in force from 7.
  net = api.GetJson<pb::NetworkResponse>("/v1/network");
  maison = FindOrg(net.members(), "maison");
  REQUIRE(maison != nullptr);
  CHECK(maison->signing_keys(0).revoked_at() == 7);
  CHECK_FALSE(maison->signing_keys(0).valid());
  auto item = api.GetJson<pb::ItemResponse>("/v1/items/01/00614141000012/21/K-1");
  REQUIRE(item.history_size() == 1);
  CHECK(item.history(0).signer_organization() == "maison");
}

TEST_CASE(
    "api governance: a removed organisation, an added one, scheduled validator sets and "
    "/v1/status's current validators") {
  GovApi api;
  // Add an organisation and a validator for it.
  pb::Envelope add_org = ProposeEnv("maison", AddOrgChange("newmarket", pb::MARKETPLACE), 90);
  api.Commit({add_org});
  std::vector<pb::Envelope> approvals;
  for (const auto& o : TestApprovers("maison"))
    approvals.push_back(ApproveEnv(o, RecordId(add_org)));
  api.Commit(approvals);  // Height 2; newmarket a member from 3.
  auto net = api.GetJson<pb::NetworkResponse>("/v1/network");
  const auto* newmarket = FindOrg(net.members(), "newmarket");
  REQUIRE(newmarket != nullptr);
  CHECK(newmarket->member_from() == 3);
  CHECK(net.approvals_needed() == 5);  // 6 members: 5 × 3 > 2 × 6.

  pb::GovernanceChange add_validator;
  auto* v = add_validator.mutable_add_validator();
  v->set_name("v4");
  v->set_organization("newmarket");
  v->set_consensus_key(std::string(PubFor("validator-4").view()));
  v->set_voting_power(1);
  pb::Envelope propose_v = ProposeEnv("newmarket", add_validator, 90);
  api.Commit({propose_v});  // Height 3.
  approvals.clear();
  for (const char* o : {"maison", "atelier", "resale", "authlab"}) {
    approvals.push_back(ApproveEnv(o, RecordId(propose_v)));
  }
  api.Commit(approvals);  // Height 4: the set changes at 14.
  net = api.GetJson<pb::NetworkResponse>("/v1/network");
  CHECK(net.validators().validators_size() == 4);
  REQUIRE(net.scheduled_size() == 1);
  CHECK(net.scheduled(0).from_height() == 14);
  CHECK(net.scheduled(0).validators_size() == 5);
  CHECK(net.scheduled(0).validators(4).name() == "v4");
  auto shown =
      api.GetJson<pb::ProposalView>("/v1/governance/proposals/" + RecordId(propose_v).Hex());
  CHECK(shown.status() == "completed");
  CHECK(shown.effective_height() == 14);
  CHECK(shown.change().summary() == "add validator \"v4\" of newmarket (key " +
                                        PubFor("validator-4").Hex().substr(0, 16) + "…, power 1)");

  // Until 13 the status shows genesis' set; from the head 13 on (next block 14), the new one.
  while (api.ledger->height() < 12) api.Commit({});
  CHECK(api.GetJson<pb::StatusResponse>("/v1/status").validators_size() == 4);
  api.Commit({});
  CHECK(api.GetJson<pb::StatusResponse>("/v1/status").validators_size() == 5);
  net = api.GetJson<pb::NetworkResponse>("/v1/network");
  CHECK(net.validators().from_height() == 14);
  CHECK(net.scheduled_size() == 0);

  // Remove repairco: listed among the removed, with removed_at.
  pb::Envelope remove = ProposeEnv("atelier", RemoveOrgChange("repairco"), 200);
  api.Commit({remove});
  approvals.clear();
  for (const char* o : {"maison", "resale", "authlab", "newmarket"}) {
    approvals.push_back(ApproveEnv(o, RecordId(remove)));
  }
  api.Commit(approvals);
  net = api.GetJson<pb::NetworkResponse>("/v1/network");
  CHECK(FindOrg(net.members(), "repairco") == nullptr);
  const auto* removed = FindOrg(net.removed(), "repairco");
  REQUIRE(removed != nullptr);
  CHECK(removed->removed_at() == api.ledger->height() + 1);
  CHECK(removed->roles(0) == pb::SERVICE_CENTER);
}

TEST_CASE("api governance: an expired proposal is shown expired, and bad and unknown ids are 4xx") {
  GovApi api;
  pb::Envelope proposal = ProposeEnv("maison", RemoveOrgChange("repairco"), 3);
  api.Commit({proposal});  // Height 1, expires after 3.
  api.Commit({ApproveEnv("atelier", RecordId(proposal))});
  const std::string id = RecordId(proposal).Hex();
  api.Commit({});
  api.Commit({});  // Height 4: no longer approvable; still in the state until pruned.
  CHECK(api.GetJson<pb::ProposalListResponse>("/v1/governance/proposals").proposals_size() == 0);
  auto shown = api.GetJson<pb::ProposalView>("/v1/governance/proposals/" + id);
  CHECK(shown.status() == "expired");
  // Another governance record prunes it; it is still found, expired, with its approvals.
  pb::Envelope other = ProposeEnv("atelier", AddKeyChange("atelier", "atelier-2"), 100);
  api.Commit({other});
  shown = api.GetJson<pb::ProposalView>("/v1/governance/proposals/" + id);
  CHECK(shown.status() == "expired");
  CHECK(shown.proposed_height() == 1);
  CHECK(shown.expires_height() == 3);
  CHECK(shown.approvals_size() == 2);
  CHECK(shown.change().kind() == "remove_organization");

  auto [status, error] = api.GetError("/v1/governance/proposals/nothex");
  CHECK(status == 400);
  CHECK(error == "bad_request: proposal id must be 64 hex digits");
  std::tie(status, error) = api.GetError("/v1/governance/proposals/" + std::string(64, 'a'));
  CHECK(status == 404);
  CHECK(error.find("not_found: no proposal aaaa") == 0);
  // A custody record's id is not a proposal's.
  pb::Envelope reg = Register("maison", "NP-1");
  api.Commit({reg});
  std::tie(status, error) = api.GetError("/v1/governance/proposals/" + RecordId(reg).Hex());
  CHECK(status == 404);
  CHECK(error.find("is a register record, not a governance proposal") != std::string::npos);
  // Waiting in the mempool: "submitted".
  pb::Envelope waiting = ProposeEnv("resale", AddKeyChange("resale", "resale-2"), 100);
  auto admitted = api.mempool.Admit(waiting, kTestTimeMs);
  REQUIRE(admitted.kind == node::AdmitResult::Kind::kAccepted);
  shown = api.GetJson<pb::ProposalView>("/v1/governance/proposals/" + RecordId(waiting).Hex());
  CHECK(shown.status() == "submitted");
}

}  // namespace hallmark::test
