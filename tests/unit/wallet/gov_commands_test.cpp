// `hallmark gov …`, `hallmark network` and `hallmark key rotate` against the node's real API and
// ledger (live_node.h): what they propose, what they print, their exit codes, and bad input.
#include "wallet-cli/gov_commands.h"

#include <doctest/doctest.h>
#include <google/protobuf/util/json_util.h>
#include <stdlib.h>

#include "cli_runner.h"
#include "fixtures.h"
#include "live_node.h"
#include "proto/cli.pb.h"
#include "test_util.h"

using namespace hallmark;
using test::CliRun;
using test::RunCli;

namespace {

struct Fixture {
  test::LiveNode node;
  test::TempDir dir;
  std::string maison = test::WriteDevKey(dir.path(), "maison");
  std::string maison2 = test::WriteDevKey(dir.path(), "maison-2");
  std::string atelier = test::WriteDevKey(dir.path(), "atelier");
  std::string atelier2 = test::WriteDevKey(dir.path(), "atelier-2");
  std::string atelier3 = test::WriteDevKey(dir.path(), "atelier-3");
  std::string resale = test::WriteDevKey(dir.path(), "resale");
  std::string authlab = test::WriteDevKey(dir.path(), "authlab");
  std::string repairco = test::WriteDevKey(dir.path(), "repairco");
  std::string alice = test::WriteDevKey(dir.path(), "alice");

  Fixture() { ::unsetenv(wallet::kNodeEnvVar); }

  CliRun Run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--node", node.url()});
    return RunCli(std::move(args));
  }
  CliRun Approve(const std::string& id, const std::string& key) {
    return Run({"gov", "approve", id, "--key", key, "--timeout", "10"});
  }
  // Approves with each key; every approval must succeed.
  void ApproveAll(const std::string& id, const std::vector<std::string>& keys) {
    for (const std::string& k : keys) {
      CliRun r = Approve(id, k);
      INFO(r.out, r.err);
      REQUIRE(r.code == 0);
    }
  }
  pb::NetworkResponse Network() { return Json<pb::NetworkResponse>(Run({"network", "--json"})); }

  template <typename T>
  static T Json(const CliRun& r) {
    INFO(r.out, r.err);
    REQUIRE(r.code == 0);
    T msg;
    REQUIRE(!r.out.empty());
    CHECK(r.out.find('\n') == r.out.size() - 1);  // One line.
    const auto st = google::protobuf::util::JsonStringToMessage(r.out, &msg);
    REQUIRE_MESSAGE(st.ok(), st.ToString());
    return msg;
  }
};

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

const pb::OrganizationView* FindOrg(const pb::NetworkResponse& net, const std::string& id) {
  for (const auto& o : net.members()) {
    if (o.id() == id) return &o;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("cli gov: propose, list, show and approve a key until the proposal completes") {
  Fixture f;
  const std::string new_key = test::PubFor("maison-2").Hex();
  CliRun r = f.Run({"gov", "propose", "add-key", "--org", "maison", "--signing-key", new_key,
                    "--key", f.maison, "--note", "second key, kept offline", "--timeout", "10"});
  INFO(r.out, r.err);
  REQUIRE(r.code == 0);
  CHECK(Contains(r.out, "pending: 1 of 4 approvals, 3 more needed"));
  CHECK(Contains(r.out, "add signing key " + new_key.substr(0, 16)));
  CHECK(Contains(r.out, "second key, kept offline"));
  CHECK(Contains(r.out, "hallmark gov approve "));

  auto list = Fixture::Json<pb::ProposalListResponse>(f.Run({"gov", "list", "--json"}));
  REQUIRE(list.proposals_size() == 1);
  const std::string id = list.proposals(0).id();
  CHECK(list.proposals(0).change().kind() == "add_signing_key");
  CHECK(list.proposals(0).note() == "second key, kept offline");
  CHECK(list.proposals(0).expires_height() == list.proposals(0).proposed_height() - 1 + 100'000);
  CHECK(Contains(r.out, id));

  CliRun table = f.Run({"gov", "list"});
  CHECK(table.code == 0);
  CHECK(Contains(table.out, id.substr(0, 16)));
  CHECK(Contains(table.out, "1/4"));

  // A unique prefix is enough.
  CliRun shown = f.Run({"gov", "show", id.substr(0, 10)});
  INFO(shown.err);
  CHECK(shown.code == 0);
  CHECK(Contains(shown.out, id));
  CHECK(Contains(shown.out, "pending: 1 of 4 approvals"));

  f.ApproveAll(id, {f.atelier, f.resale});
  auto view = Fixture::Json<pb::ProposalView>(f.Run({"gov", "show", id, "--json"}));
  CHECK(view.status() == "pending");
  CHECK(view.approvals_missing() == 1);

  CliRun last = f.Approve(id, f.authlab);
  INFO(last.err);
  REQUIRE(last.code == 0);
  CHECK(Contains(last.out, "approved by authlab"));
  CHECK(Contains(last.out, "completed at height"));

  const pb::NetworkResponse network = f.Network();
  const pb::OrganizationView* maison = FindOrg(network, "maison");
  REQUIRE(maison != nullptr);
  REQUIRE(maison->signing_keys_size() == 2);
  CHECK(maison->signing_keys(1).key() == new_key);
  CHECK(maison->signing_keys(1).valid());

  // Nothing left to approve: refused before anything is signed.
  CliRun again = f.Approve(id, f.repairco);
  CHECK(again.code == 2);
  CHECK(Contains(again.err, "is completed at height"));
  CHECK(Contains(again.err, "nothing to approve"));
  // The text view of the network names the new key.
  CliRun net = f.Run({"network"});
  CHECK(net.code == 0);
  CHECK(Contains(net.out, new_key));
  CHECK(Contains(net.out, "4 approvals now"));
  CHECK(f.Run({"gov", "members"}).out == net.out);
}

TEST_CASE(
    "cli key rotate: the only key: proposes the add and says the revocation waits, the same "
    "command again proposes the revocation, and the revoked key then signs nothing") {
  Fixture f;
  auto first = Fixture::Json<pb::KeyRotateOutput>(
      f.Run({"key", "rotate", "--key", f.maison, "--new", f.maison2, "--org", "maison", "--timeout",
             "10", "--json"}));
  REQUIRE(first.proposals_size() == 1);
  CHECK(first.proposals(0).change().kind() == "add_signing_key");
  CHECK(Contains(first.next_step(), "only valid key"));
  CHECK(Contains(first.next_step(), "last_key"));
  CHECK(Contains(first.next_step(), "--revoke-old"));
  const std::string add_id = first.proposals(0).id();

  // Run again before the add completes: nothing is proposed twice.
  CliRun repeat = f.Run({"key", "rotate", "--key", f.maison, "--new", f.maison2, "--org", "maison",
                         "--timeout", "10"});
  INFO(repeat.err);
  CHECK(repeat.code == 0);
  CHECK(Contains(repeat.out, "already proposed: " + add_id));
  // --revoke-old now is refused with the reason.
  CliRun early = f.Run(
      {"key", "rotate", "--key", f.maison, "--org", "maison", "--revoke-old", "--timeout", "10"});
  CHECK(early.code == 2);
  CHECK(Contains(early.err, "only valid key"));

  f.ApproveAll(add_id, {f.atelier, f.resale, f.authlab});

  CliRun second = f.Run({"key", "rotate", "--key", f.maison, "--new", f.maison2, "--org", "maison",
                         "--timeout", "10"});
  INFO(second.out, second.err);
  REQUIRE(second.code == 0);
  CHECK(Contains(second.out, "is already a key of maison"));
  CHECK(Contains(second.out, "proposed revoking the old key " + test::PubFor("maison").Hex()));
  auto list = Fixture::Json<pb::ProposalListResponse>(f.Run({"gov", "list", "--json"}));
  REQUIRE(list.proposals_size() == 1);
  CHECK(list.proposals(0).change().kind() == "revoke_signing_key");
  f.ApproveAll(list.proposals(0).id(), {f.atelier, f.resale, f.authlab});

  const pb::NetworkResponse network = f.Network();
  const pb::OrganizationView* maison = FindOrg(network, "maison");
  REQUIRE(maison != nullptr);
  CHECK(maison->signing_keys(0).revoked_at() != 0);
  CHECK_FALSE(maison->signing_keys(0).valid());

  // The stolen key's records are refused now, with the node's reason; the new key signs.
  CliRun stolen =
      f.Run({"register", "--key", f.maison, "--item", test::kMaisonItem, "--timeout", "10"});
  CHECK(stolen.code == 2);
  CHECK(Contains(stolen.err, "not_authorized"));
  CliRun good =
      f.Run({"register", "--key", f.maison2, "--item", test::kMaisonItem, "--timeout", "10"});
  INFO(good.err);
  CHECK(good.code == 0);
  // And the stolen key cannot propose any more.
  CliRun propose = f.Run({"gov", "propose", "remove-org", "--id", "atelier", "--key", f.maison});
  CHECK(propose.code == 2);
  CHECK(Contains(propose.err, "not_member"));
}

TEST_CASE("cli key rotate: with another valid key, proposes the add and the revocation at once") {
  Fixture f;
  // atelier gets a second key first.
  CliRun r = f.Run({"gov", "propose", "add-key", "--org", "atelier", "--signing-key", f.atelier2,
                    "--key", f.atelier, "--json", "--timeout", "10"});
  auto added = Fixture::Json<pb::ProposalView>(r);
  f.ApproveAll(added.id(), {f.maison, f.resale, f.authlab});

  auto rotated = Fixture::Json<pb::KeyRotateOutput>(
      f.Run({"key", "rotate", "--key", f.atelier, "--new", f.atelier3, "--org", "atelier",
             "--timeout", "10", "--json"}));
  REQUIRE(rotated.proposals_size() == 2);
  CHECK(rotated.proposals(0).change().kind() == "add_signing_key");
  CHECK(rotated.proposals(0).change().signing_keys(0) == test::PubFor("atelier-3").Hex());
  CHECK(rotated.proposals(1).change().kind() == "revoke_signing_key");
  CHECK(rotated.proposals(1).change().signing_keys(0) == test::PubFor("atelier").Hex());
  CHECK(rotated.next_step().empty());

  // Idempotent: both are found pending, nothing new is proposed.
  auto again = Fixture::Json<pb::KeyRotateOutput>(
      f.Run({"key", "rotate", "--key", f.atelier, "--new", f.atelier3, "--org", "atelier",
             "--timeout", "10", "--json"}));
  CHECK(again.proposals_size() == 2);
  CHECK(
      Fixture::Json<pb::ProposalListResponse>(f.Run({"gov", "list", "--json"})).proposals_size() ==
      2);
}

TEST_CASE("cli gov propose: every change kind is built as the node reads it") {
  Fixture f;
  const std::string node_key = test::WriteDevKey(f.dir.path(), "validator-9");
  const std::vector<std::vector<std::string>> proposals = {
      {"add-org", "--id", "veritas", "--name", "Veritas Lab", "--role", "authenticator",
       "--signing-key", test::PubFor("veritas").Hex()},
      {"update-org", "--id", "resale", "--name", "Resale Paris"},
      {"remove-org", "--id", "repairco"},
      {"add-key", "--org", "resale", "--signing-key", test::PubFor("resale-2").Hex()},
      {"revoke-key", "--org", "maison", "--signing-key", f.maison},  // Its only key: refused.
      {"add-validator", "--name", "v9", "--org", "authlab", "--consensus-key", node_key},
      {"remove-validator", "--validator", "v3"},
      {"set-power", "--validator", "v0", "--power", "2"},
      {"change-validator-key", "--validator", test::PubFor("validator-1").Hex(),
       "--new-consensus-key", test::PubFor("validator-8").Hex()},
  };
  const std::vector<std::string> kinds = {
      "add_organization", "update_organization", "remove_organization",
      "add_signing_key",  "revoke_signing_key",  "add_validator",
      "remove_validator", "set_validator_power", "change_validator_key"};
  std::vector<std::string> ids;
  for (size_t i = 0; i < proposals.size(); ++i) {
    std::vector<std::string> args = {"gov", "propose"};
    args.insert(args.end(), proposals[i].begin(), proposals[i].end());
    // Eight unexpired proposals per organisation at most: two proposers share the work.
    args.insert(args.end(), {"--key", i % 2 == 0 ? f.authlab : f.atelier, "--timeout", "10",
                             "--expires-in", "500", "--json"});
    CliRun r = f.Run(args);
    CAPTURE(i);
    if (kinds[i] == "revoke_signing_key") {
      CHECK(r.code == 2);
      CHECK(Contains(r.err, "last_key"));
      // With --json the node's answer is on stdout too.
      CHECK(Contains(r.out, "\"code\":\"last_key\""));
      continue;
    }
    auto view = Fixture::Json<pb::ProposalView>(r);
    CHECK(view.change().kind() == kinds[i]);
    CHECK(view.status() == "pending");
    CHECK(view.expires_height() == view.proposed_height() - 1 + 500);
    ids.push_back(view.id());
  }
  auto list = Fixture::Json<pb::ProposalListResponse>(f.Run({"gov", "list", "--json"}));
  CHECK(list.proposals_size() == 8);
  for (const auto& p : list.proposals()) {
    const pb::ChangeView& c = p.change();
    if (c.kind() == "add_organization") {
      CHECK(c.organization() == "veritas");
      CHECK(c.display_name() == "Veritas Lab");
      CHECK(c.roles(0) == pb::AUTHENTICATOR);
    } else if (c.kind() == "update_organization") {
      // What was not given stays: resale's roles.
      CHECK(c.display_name() == "Resale Paris");
      REQUIRE(c.roles_size() == 1);
      CHECK(c.roles(0) == pb::MARKETPLACE);
    } else if (c.kind() == "add_validator") {
      CHECK(c.consensus_key() == test::PubFor("validator-9").Hex());
      CHECK(c.voting_power() == 1);
    } else if (c.kind() == "remove_validator") {
      CHECK(c.consensus_key() == test::PubFor("validator-3").Hex());
      CHECK(Contains(c.summary(), "\"v3\""));
    } else if (c.kind() == "set_validator_power") {
      CHECK(c.voting_power() == 2);
    } else if (c.kind() == "change_validator_key") {
      CHECK(c.new_consensus_key() == test::PubFor("validator-8").Hex());
    }
  }
}

TEST_CASE("cli gov: bad input is refused with a clear message and exit code") {
  Fixture f;
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string message;
  };
  const std::string aaaa(64, 'a');
  const std::vector<Case> cases = {
      {{"gov", "propose", "frobnicate", "--key", f.maison},
       3,
       "unknown change kind \"frobnicate\": one of add-org, update-org, remove-org, add-key, "
       "revoke-key, add-validator, remove-validator, set-power, change-validator-key"},
      {{"gov", "propose", "add-key", "--org", "maison", "--signing-key", "zz", "--key", f.maison},
       2,
       "--signing-key: \"zz\" is neither a public key (64 hex digits) nor a keystore file"},
      {{"gov", "propose", "add-org", "--id", "x", "--role", "wizard", "--signing-key",
        test::PubFor("x").Hex(), "--key", f.maison},
       2,
       "--role must be brand, marketplace, authenticator or service-center, not \"wizard\""},
      {{"gov", "propose", "add-key", "--org", "maison", "--signing-key", f.maison2, "--key",
        f.maison, "--expires-in", "100001"},
       2,
       "--expires-in must be between 1 and 100000 heights"},
      {{"gov", "propose", "add-key", "--org", "maison", "--signing-key", f.maison2, "--key",
        f.alice},
       2,
       "not_member: the signing key " + test::PubFor("alice").Hex()},
      {{"gov", "propose", "update-org", "--id", "nobody", "--name", "N", "--key", f.maison},
       2,
       "unknown_organization: \"nobody\" is not a member"},
      {{"gov", "propose", "set-power", "--validator", "v77", "--power", "2", "--key", f.maison},
       2,
       "no validator is named \"v77\""},
      {{"gov", "show", "1234"}, 2, "a proposal id prefix needs at least 8 hex digits"},
      {{"gov", "show", "xyz"}, 2, "proposal id must be 64 hex digits"},
      {{"gov", "show", aaaa}, 2, "not_found: no proposal " + aaaa},
      {{"gov", "show", "abcdef01"}, 2, "no pending proposal's id starts with abcdef01"},
      {{"gov", "approve", aaaa, "--key", f.maison}, 2, "not_found: no proposal " + aaaa},
      {{"gov", "approve", "nothex!", "--key", f.maison}, 2, "proposal id must be 64 hex digits"},
      {{"key", "rotate", "--key", f.maison, "--new", "nope", "--org", "maison"},
       2,
       "--new: \"nope\" is neither a public key"},
      {{"key", "rotate", "--key", f.maison, "--new", f.maison2, "--org", "nobody"},
       2,
       "unknown_organization"},
      {{"key", "rotate", "--key", f.maison, "--new", f.maison2, "--org", "atelier"},
       2,
       "is not a signing key of atelier"},
      {{"key", "rotate", "--key", f.maison, "--org", "maison"}, 3, "--new KEY is required"},
  };
  for (const Case& c : cases) {
    CliRun r = f.Run(c.args);
    CAPTURE(c.args[1] + " " + c.args[2]);
    INFO(r.out, r.err);
    CHECK(r.code == c.code);
    CHECK(Contains(r.err, c.message));
  }
  // None of them made a block.
  CHECK(f.node.ledger().height() == 0);
}

TEST_CASE(
    "cli key rotate --revoke-old: signed with the new key, names the old one with --old, and "
    "proposes only the revocation") {
  Fixture f;
  auto first = Fixture::Json<pb::KeyRotateOutput>(
      f.Run({"key", "rotate", "--key", f.atelier, "--new", f.atelier2, "--org", "atelier",
             "--timeout", "10", "--json"}));
  REQUIRE(first.proposals_size() == 1);
  f.ApproveAll(first.proposals(0).id(), {f.maison, f.resale, f.authlab});
  const std::string old_hex = test::PubFor("atelier").Hex();
  auto second = Fixture::Json<pb::KeyRotateOutput>(
      f.Run({"key", "rotate", "--key", f.atelier2, "--org", "atelier", "--old", old_hex,
             "--revoke-old", "--timeout", "10", "--json"}));
  REQUIRE(second.proposals_size() == 1);
  CHECK(second.proposals(0).change().kind() == "revoke_signing_key");
  CHECK(second.proposals(0).change().signing_keys(0) == old_hex);
  CHECK(second.proposals(0).signer() == test::PubFor("atelier-2").Hex());
  CHECK(second.next_step().empty());
}

TEST_CASE(
    "cli gov: update-org sets the resolver domain and website; the network and qr show "
    "them; what is not given stays") {
  Fixture f;
  // Refused before anything is signed.
  CliRun bad = f.Run({"gov", "propose", "update-org", "--id", "maison", "--website",
                      "http://maison.example", "--key", f.maison});
  CHECK(bad.code == 2);
  CHECK(Contains(bad.err, "--website: website \"http://maison.example\" must start with https://"));
  CliRun bad_domain =
      f.Run({"gov", "propose", "add-org", "--id", "n1", "--role", "marketplace", "--signing-key",
             test::PubFor("n1").Hex(), "--resolver-domain", "n1.example:443", "--key", f.maison});
  CHECK(bad_domain.code == 2);
  CHECK(Contains(bad_domain.err, "--resolver-domain: resolver_domain \"n1.example:443\""));
  CHECK(f.node.ledger().height() == 0);

  auto propose = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"gov", "propose", "update-org", "--id", "maison"});
    args.insert(args.end(), {"--key", f.maison, "--timeout", "10", "--json"});
    auto view = Fixture::Json<pb::ProposalView>(f.Run(args));
    f.ApproveAll(view.id(), {f.atelier, f.resale, f.authlab});
  };
  propose({"--resolver-domain", "id.maison.example", "--website", "https://maison.example/"});
  pb::NetworkResponse net = f.Network();
  const pb::OrganizationView* maison = FindOrg(net, "maison");
  REQUIRE(maison != nullptr);
  CHECK(maison->resolver_domain() == "id.maison.example");
  CHECK(maison->website() == "https://maison.example/");
  CliRun table = f.Run({"network"});
  CHECK(Contains(table.out, "QR RESOLVER"));
  CHECK(Contains(table.out, "id.maison.example"));
  CHECK(Contains(table.out, "https://maison.example/"));
  // The QR code follows the membership the node knows.
  CliRun qr = f.Run({"qr", test::kMaisonItem});
  INFO(qr.err);
  CHECK(qr.code == 0);
  CHECK(qr.out.rfind("https://id.maison.example/01/00614141000012/21/BAG-0001\n", 0) == 0);

  // A name change keeps the settings; an empty --website clears only the website.
  propose({"--name", "Maison Aurèle"});
  maison = FindOrg(net = f.Network(), "maison");
  CHECK(maison->display_name() == "Maison Aurèle");
  CHECK(maison->resolver_domain() == "id.maison.example");
  CHECK(maison->website() == "https://maison.example/");
  propose({"--website", ""});
  maison = FindOrg(net = f.Network(), "maison");
  CHECK(maison->resolver_domain() == "id.maison.example");
  CHECK(maison->website().empty());
}
