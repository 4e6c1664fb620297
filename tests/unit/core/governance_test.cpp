// The governance rules (core/governance.h, docs/governance.md): every rule allowed and refused,
// the threshold at its boundary, expiry, when changes bite, key revocation by height, and the
// state's deterministic form.
#include "core/governance.h"

#include <deque>

#include "core/codec.h"

#include <doctest/doctest.h>
#include "fixtures.h"

namespace hallmark {
namespace {

using core::RejectReason;
using test::KeyFor;
using test::PubFor;

constexpr const char* kChain = "hallmark-test";

std::string Key(std::string_view name) {
  return std::string(PubFor(name).view());
}

// `orgs` organisations o0..o{n-1} (o0 a brand with prefix 0614141, the others marketplaces), each
// with key KeyFor(id); validators v0.. with the given powers, v{i} of organisation o{i % orgs}.
pb::Genesis GovGenesis(int orgs, std::vector<uint64_t> powers = {1, 1, 1, 1}) {
  pb::Genesis g;
  g.set_chain_id(kChain);
  for (int i = 0; i < orgs; ++i) {
    pb::Organization* o = g.add_organizations();
    o->set_id("o" + std::to_string(i));
    o->set_display_name("Org " + std::to_string(i));
    o->add_roles(i == 0 ? pb::BRAND : pb::MARKETPLACE);
    if (i == 0) o->add_gs1_company_prefixes("0614141");
    o->add_signing_keys(PubFor(o->id()).Hex());
  }
  for (size_t i = 0; i < powers.size(); ++i) {
    pb::Validator* v = g.add_validators();
    v->set_name("v" + std::to_string(i));
    v->set_organization("o" + std::to_string(i % orgs));
    v->set_consensus_key(PubFor("val-" + std::to_string(i)).Hex());
    v->set_voting_power(powers[i]);
  }
  return g;
}

// A network's governance state and the records applied to it, through the real decoder, rules
// and application.
struct Gov {
  explicit Gov(const pb::Genesis& g)
      : net(std::move(core::Network::FromProto(g).value())),
        state(core::NetworkState::FromGenesis(net)) {}

  core::GovernanceRecord Decode(std::string_view signer, const pb::Governance& body) {
    pb::RecordPayload p;
    p.set_chain_id(kChain);
    p.set_timestamp_ms(test::kTestTimeMs);
    *p.mutable_governance() = body;
    envelopes.push_back(test::Sign(signer, p));
    core::GovernanceRecord rec;
    auto rej = core::DecodeGovernanceRecord(envelopes.back(), kChain, &rec);
    REQUIRE_MESSAGE(!rej, rej->ToString());
    return rec;
  }

  // Validates and, when allowed, applies. Returns the refusal.
  std::optional<core::Rejection> Submit(std::string_view signer, const pb::Governance& body,
                                        uint64_t height) {
    core::GovernanceRecord rec = Decode(signer, body);
    last_id = rec.id;
    if (auto rej = core::ValidateGovernance(state, rec, height)) return rej;
    core::AppliedGovernance applied = core::ApplyGovernance(state, rec, height);
    state = applied.state;
    completed = applied.completed;
    effective = applied.effective_height;
    return std::nullopt;
  }

  std::optional<core::Rejection> TryPropose(std::string_view signer, const pb::GovernanceChange& c,
                                            uint64_t height, uint64_t expires = 0) {
    pb::Governance g;
    *g.mutable_proposal()->mutable_change() = c;
    g.mutable_proposal()->set_expires_height(expires ? expires : height + 100);
    return Submit(signer, g, height);
  }
  core::Hash256 Propose(std::string_view signer, const pb::GovernanceChange& c, uint64_t height,
                        uint64_t expires = 0) {
    auto rej = TryPropose(signer, c, height, expires);
    REQUIRE_MESSAGE(!rej, rej->ToString());
    return last_id;
  }
  std::optional<core::Rejection> Approve(std::string_view signer, const core::Hash256& id,
                                         uint64_t height) {
    pb::Governance g;
    g.mutable_approval()->set_proposal(std::string(id.view()));
    return Submit(signer, g, height);
  }
  // Proposes by o0 and approves by o1, o2, … until complete, all in block `height`.
  void Pass(const pb::GovernanceChange& c, uint64_t height) {
    core::Hash256 id = Propose("o0", c, height);
    for (int i = 1; !completed || *completed != id; ++i) {
      REQUIRE(i < 64);
      auto rej = Approve("o" + std::to_string(i), id, height);
      REQUIRE_MESSAGE(!rej, rej->ToString());
    }
  }

  core::Network net;
  core::NetworkState state;
  std::deque<pb::Envelope> envelopes;
  core::Hash256 last_id;
  std::optional<core::Hash256> completed;
  uint64_t effective = 0;
};

void CheckRefused(const std::optional<core::Rejection>& rej, RejectReason reason,
                  std::string_view words = "") {
  REQUIRE(rej.has_value());
  CHECK_MESSAGE(rej->reason == reason, rej->ToString());
  CHECK_MESSAGE(rej->message.find(words) != std::string::npos, rej->ToString());
}

// --- Changes ---

pb::GovernanceChange AddOrg(const std::string& id, std::vector<std::string> keys,
                            pb::Role role = pb::MARKETPLACE,
                            std::vector<std::string> prefixes = {}) {
  pb::GovernanceChange c;
  auto* a = c.mutable_add_organization();
  a->set_id(id);
  a->set_display_name(id);
  a->add_roles(role);
  for (const auto& k : keys) a->add_signing_keys(Key(k));
  for (const auto& p : prefixes) a->add_gs1_company_prefixes(p);
  return c;
}
pb::GovernanceChange UpdateOrg(const std::string& id, const std::string& name, pb::Role role,
                               std::vector<std::string> prefixes = {}) {
  pb::GovernanceChange c;
  auto* u = c.mutable_update_organization();
  u->set_id(id);
  u->set_display_name(name);
  u->add_roles(role);
  for (const auto& p : prefixes) u->add_gs1_company_prefixes(p);
  return c;
}
pb::GovernanceChange RemoveOrg(const std::string& id) {
  pb::GovernanceChange c;
  c.mutable_remove_organization()->set_id(id);
  return c;
}
pb::GovernanceChange AddKey(const std::string& org, const std::string& key) {
  pb::GovernanceChange c;
  c.mutable_add_signing_key()->set_organization(org);
  c.mutable_add_signing_key()->set_key(Key(key));
  return c;
}
pb::GovernanceChange RevokeKey(const std::string& org, const std::string& key) {
  pb::GovernanceChange c;
  c.mutable_revoke_signing_key()->set_organization(org);
  c.mutable_revoke_signing_key()->set_key(Key(key));
  return c;
}
pb::GovernanceChange AddVal(const std::string& name, const std::string& org, const std::string& key,
                            uint64_t power) {
  pb::GovernanceChange c;
  auto* a = c.mutable_add_validator();
  a->set_name(name);
  a->set_organization(org);
  a->set_consensus_key(Key(key));
  a->set_voting_power(power);
  return c;
}
pb::GovernanceChange RemoveVal(const std::string& key) {
  pb::GovernanceChange c;
  c.mutable_remove_validator()->set_consensus_key(Key(key));
  return c;
}
pb::GovernanceChange SetPower(const std::string& key, uint64_t power) {
  pb::GovernanceChange c;
  c.mutable_set_validator_power()->set_consensus_key(Key(key));
  c.mutable_set_validator_power()->set_voting_power(power);
  return c;
}
pb::GovernanceChange ChangeValKey(const std::string& key, const std::string& new_key) {
  pb::GovernanceChange c;
  c.mutable_change_validator_key()->set_consensus_key(Key(key));
  c.mutable_change_validator_key()->set_new_consensus_key(Key(new_key));
  return c;
}

// --- Genesis ---

TEST_CASE("governance genesis: defaults are more than 2/3, 100,000 heights, a delay of 10") {
  auto net = core::Network::FromProto(GovGenesis(4));
  REQUIRE(net.ok());
  CHECK(net->governance().threshold_numerator() == 2);
  CHECK(net->governance().threshold_denominator() == 3);
  CHECK(net->governance().proposal_lifetime_heights() == 100'000);
  CHECK(net->governance().validator_change_delay_heights() == 10);
  // Without the section the hashed genesis stays as it was before governance existed.
  CHECK(!net->genesis().has_governance());
  pb::Genesis explicit_defaults = GovGenesis(4);
  explicit_defaults.mutable_governance()->set_validator_change_delay_heights(10);
  auto spelled = core::Network::FromProto(explicit_defaults);
  REQUIRE(spelled.ok());
  CHECK(spelled->genesis().governance().threshold_denominator() == 3);
  CHECK(spelled->hash() != net->hash());
  auto json = core::Network::FromJson(
      R"({"chain_id":"x","organizations":[{"id":"a","roles":
    ["MARKETPLACE"],"signing_keys":[")" +
      PubFor("a").Hex() + R"("]}],"validators":[{"organization":"a","consensus_key":")" +
      PubFor("v").Hex() + R"(","voting_power":"1"}],
    "governance":{"threshold_numerator":3,"threshold_denominator":4,
    "proposal_lifetime_heights":"50","validator_change_delay_heights":"2"}})");
  REQUIRE_MESSAGE(json.ok(), json.status().ToString());
  CHECK(json->governance().threshold_numerator() == 3);
  CHECK(json->governance().validator_change_delay_heights() == 2);
}

TEST_CASE("governance genesis: a threshold under 1/2 or of 1, and a delay under 2, are refused") {
  auto with = [](uint32_t num, uint32_t den, uint64_t delay) {
    pb::Genesis g = GovGenesis(3);
    g.mutable_governance()->set_threshold_numerator(num);
    g.mutable_governance()->set_threshold_denominator(den);
    g.mutable_governance()->set_validator_change_delay_heights(delay);
    return core::Network::FromProto(g).status();
  };
  CHECK(with(1, 2, 2).ok());
  CHECK(with(999, 1000, 2).ok());
  CHECK(with(1, 3, 10).message().find("threshold 1/3") != std::string::npos);
  CHECK(!with(3, 3, 10).ok());
  CHECK(!with(2, 0, 10).ok());
  CHECK(!with(0, 3, 10).ok());
  CHECK(with(2, 3, 1).message().find("validator_change_delay_heights is 1") != std::string::npos);
}

// --- State from genesis, queries, serialisation ---

TEST_CASE("governance state: built from genesis, it answers keys and validators at any height") {
  Gov gov(GovGenesis(3, {5, 3, 2}));
  const auto& s = gov.state;
  CHECK(s.MemberCountAt(0) == 3);
  CHECK(s.IsKeyValid(PubFor("o1"), "o1", 0));
  CHECK(s.IsKeyValid(PubFor("o1"), "o1", 1'000'000));
  CHECK(!s.IsKeyValid(PubFor("o1"), "o2", 5));
  CHECK(!s.IsKeyValid(PubFor("stranger"), "o1", 5));
  CHECK(s.OrganizationOfKeyAt(PubFor("o2"), 7)->id == "o2");
  CHECK(s.ValidatorSetAt(0).validators.size() == 3);
  CHECK(s.ValidatorSetAt(999).total_power() == 10);
  CHECK(s.ValidatorSetAt(999).validators[0].name == "v0");  // Genesis order.
  CHECK(s.FindOrganization("o0")->VersionAt(3).prefixes == std::vector<std::string>{"0614141"});
  CHECK(s.pending().empty());
}

TEST_CASE("governance state: the serialisation is deterministic and round-trips") {
  Gov a(GovGenesis(4));
  Gov b(GovGenesis(4));
  CHECK(a.state.Serialize() == b.state.Serialize());
  // The same proposal approved in two orders gives the same state.
  core::GovernanceRecord prop = a.Decode("o0", [] {
    pb::Governance g;
    *g.mutable_proposal()->mutable_change() = AddOrg("n1", {"n1"});
    g.mutable_proposal()->set_expires_height(50);
    return g;
  }());
  for (Gov* gov : {&a, &b}) {
    REQUIRE(!core::ValidateGovernance(gov->state, prop, 10));
    gov->state = core::ApplyGovernance(gov->state, prop, 10).state;
  }
  REQUIRE(!a.Approve("o1", prop.id, 11));
  REQUIRE(!a.Approve("o2", prop.id, 12));
  REQUIRE(!b.Approve("o2", prop.id, 11));
  REQUIRE(!b.Approve("o1", prop.id, 12));
  // o0 proposed; two more of four orgs: 3 of 4 completes at the second approval.
  CHECK(a.completed.has_value());
  CHECK(a.state.Serialize() == b.state.Serialize());
  CHECK(a.state.Hash() == b.state.Hash());
}

// Round trip through the stored form, with a pending proposal, a key history, an organisation's
// versions and a scheduled validator set in it.
TEST_CASE("governance state: round trip through the stored form keeps every byte") {
  Gov gov(GovGenesis(4, {10, 10, 10, 10}));
  gov.Pass(AddKey("o3", "o3-new"), 5);  // o0 proposes, o1 and o2 approve: o3 never signs.
  gov.Pass(RevokeKey("o3", "o3"), 6);
  gov.Pass(UpdateOrg("o2", "Org Two", pb::AUTHENTICATOR), 7);
  gov.Pass(SetPower("val-3", 5), 8);
  gov.Propose("o0", AddOrg("n1", {"n1"}), 9);
  auto back = core::NetworkState::FromProto(gov.state.ToProto(), gov.state.params());
  REQUIRE(back.ok());
  CHECK(back->Serialize() == gov.state.Serialize());
  CHECK(!back->IsKeyValid(PubFor("o3"), "o3", 7));
  CHECK(back->IsKeyValid(PubFor("o3"), "o3", 6));
  Gov other(GovGenesis(4, {10, 10, 10, 10}));
  CHECK(other.state.Hash() != gov.state.Hash());
}

// --- Threshold ---

TEST_CASE("governance threshold: more than 2/3 of the members, exactly 2/3 is not enough") {
  pb::GovernanceParams p;
  p.set_threshold_numerator(2);
  p.set_threshold_denominator(3);
  CHECK(!core::ThresholdReached(2, 3, p));  // Exactly 2/3.
  CHECK(core::ThresholdReached(3, 3, p));
  CHECK(!core::ThresholdReached(2, 4, p));
  CHECK(core::ThresholdReached(3, 4, p));
  CHECK(!core::ThresholdReached(4, 6, p));  // Exactly 2/3.
  CHECK(core::ThresholdReached(5, 6, p));
  CHECK(!core::ThresholdReached(4, 7, p));
  CHECK(core::ThresholdReached(5, 7, p));
  CHECK(!core::ThresholdReached(0, 0, p));
}

// Proposal by o0 (its approval), then approvals o1, o2, …: the proposal completes exactly when
// the approvals first exceed 2/3 of the members.
TEST_CASE("governance threshold: a proposal completes at the boundary with 3, 4 and 7 members") {
  for (auto [orgs, needed] : {std::pair{3, 3}, std::pair{4, 3}, std::pair{7, 5}}) {
    CAPTURE(orgs);
    Gov gov(GovGenesis(orgs));
    core::Hash256 id = gov.Propose("o0", AddOrg("n1", {"n1"}), 10);
    for (int i = 1; i < needed; ++i) {
      CHECK(!gov.completed);
      std::vector<std::string> so_far;
      for (int j = 0; j < i; ++j) so_far.push_back("o" + std::to_string(j));
      CheckRefused(core::CheckApprovalThreshold(gov.state, so_far, 10),
                   RejectReason::kThresholdNotReached,
                   std::to_string(i) + " of " + std::to_string(orgs) + " member organizations");
      REQUIRE(!gov.Approve("o" + std::to_string(i), id, 10));
    }
    REQUIRE(gov.completed);
    CHECK(*gov.completed == id);
    CHECK(gov.effective == 11);
    CHECK(gov.state.pending().empty());
  }
}

TEST_CASE("governance threshold: only members count, each once") {
  Gov gov(GovGenesis(3));
  CheckRefused(core::CheckApprovalThreshold(gov.state, {"o0", "o1", "o1", "nobody"}, 5),
               RejectReason::kThresholdNotReached, "2 of 3");
  CHECK(!core::CheckApprovalThreshold(gov.state, {"o0", "o1", "o2"}, 5));
}

// --- Signers, proposals, approvals ---

TEST_CASE("governance signer: only a valid key of a member organisation proposes or approves") {
  Gov gov(GovGenesis(4));
  CheckRefused(gov.TryPropose("stranger", AddOrg("n1", {"n1"}), 10), RejectReason::kNotMember,
               "not a signing key of any member");
  core::Hash256 id = gov.Propose("o0", AddOrg("n1", {"n1"}), 10);
  CheckRefused(gov.Approve("stranger", id, 10), RejectReason::kNotMember);
  CHECK(!gov.Approve("o1", id, 10));
}

TEST_CASE("governance proposal: expiry within the lifetime, approvals up to it, not after") {
  pb::Genesis g = GovGenesis(4);
  g.mutable_governance()->set_proposal_lifetime_heights(50);
  Gov gov(g);
  CheckRefused(gov.TryPropose("o0", AddOrg("n1", {"n1"}), 10, 10), RejectReason::kInvalidField,
               "expires_height 10 must be after its block 10");
  CheckRefused(gov.TryPropose("o0", AddOrg("n1", {"n1"}), 10, 61), RejectReason::kInvalidField,
               "at most 50 heights later");
  core::Hash256 id = gov.Propose("o0", AddOrg("n1", {"n1"}), 10, 60);
  CHECK(!gov.Approve("o1", id, 60));  // At its expiry height: still allowed.
  CheckRefused(gov.Approve("o2", id, 61), RejectReason::kExpired, "expired at height 60");
  // Any record applied later drops the expired proposal; then it is unknown.
  gov.Propose("o1", AddOrg("n2", {"n2"}), 62, 70);
  CHECK(gov.state.FindProposal(id) == nullptr);
  CheckRefused(gov.Approve("o2", id, 63), RejectReason::kUnknownProposal);
}

TEST_CASE("governance approval: unknown proposal, and each organisation once") {
  Gov gov(GovGenesis(7));
  CheckRefused(gov.Approve("o1", core::Sha256Of(std::string_view("nothing")), 10),
               RejectReason::kUnknownProposal, "never proposed, already complete, or expired");
  core::Hash256 id = gov.Propose("o0", AddOrg("n1", {"n1"}), 10);
  CheckRefused(gov.Approve("o0", id, 10), RejectReason::kDuplicateApproval, "proposed");
  REQUIRE(!gov.Approve("o1", id, 10));
  CheckRefused(gov.Approve("o1", id, 11), RejectReason::kDuplicateApproval, "already approved");
  // Another key of the same organisation is the same organisation.
  gov.Pass(AddKey("o2", "o2-second"), 12);
  REQUIRE(!gov.Approve("o2", id, 20));
  CheckRefused(gov.Approve("o2-second", id, 20), RejectReason::kDuplicateApproval);
}

TEST_CASE("governance proposal: pending proposals per organisation are limited") {
  Gov gov(GovGenesis(7));
  for (size_t i = 0; i < core::limits::kMaxPendingProposalsPerOrganization; ++i) {
    gov.Propose("o1", AddOrg("n" + std::to_string(i), {"n" + std::to_string(i)}), 10);
  }
  CheckRefused(gov.TryPropose("o1", AddOrg("nx", {"nx"}), 10), RejectReason::kLimitExceeded);
  CHECK(!gov.TryPropose("o2", AddOrg("nx", {"nx"}), 10));
  // Once they expire, the organisation may propose again.
  CHECK(!gov.TryPropose("o1", AddOrg("ny", {"ny"}), 200));
}

TEST_CASE("governance approval: completing a change that is no longer valid is refused") {
  Gov gov(GovGenesis(4, {2, 2, 2, 1, 1, 1}));
  // Each removal moves 2 of 9; together they would move 4 of 9, more than a third.
  core::Hash256 a = gov.Propose("o0", RemoveVal("val-1"), 10);
  core::Hash256 b = gov.Propose("o0", RemoveVal("val-2"), 10);
  REQUIRE(!gov.Approve("o1", a, 10));
  REQUIRE(!gov.Approve("o2", a, 10));
  REQUIRE(gov.completed == a);
  REQUIRE(!gov.Approve("o1", b, 11));
  CheckRefused(gov.Approve("o2", b, 11), RejectReason::kPowerShiftTooLarge,
               "would complete proposal");
  // After the first change is in force (10 + delay 10), the second may complete.
  CHECK(!gov.Approve("o2", b, 20));
  CHECK(gov.completed == b);
  CHECK(gov.effective == 30);
}

// --- When changes bite ---

TEST_CASE("governance timing: a new organisation and its keys count from the next block") {
  Gov gov(GovGenesis(4));
  gov.Pass(AddOrg("n1", {"n1"}), 10);
  CHECK(gov.effective == 11);
  CHECK(!gov.state.IsKeyValid(PubFor("n1"), "n1", 10));
  CHECK(gov.state.IsKeyValid(PubFor("n1"), "n1", 11));
  CHECK(gov.state.MemberCountAt(10) == 4);
  CHECK(gov.state.MemberCountAt(11) == 5);
  core::Hash256 id = gov.Propose("o0", AddKey("o1", "o1-b"), 10);
  CheckRefused(gov.Approve("n1", id, 10), RejectReason::kNotMember);
  CHECK(!gov.Approve("n1", id, 11));
}

TEST_CASE("governance timing: a validator change bites after the delay, not a height earlier") {
  Gov gov(GovGenesis(4, {10, 10, 10, 10}));
  gov.Pass(AddVal("v4", "o1", "val-4", 10), 100);
  CHECK(gov.effective == 110);
  CHECK(gov.state.ValidatorSetAt(109).validators.size() == 4);
  CHECK(gov.state.ValidatorSetAt(110).validators.size() == 5);
  CHECK(gov.state.ValidatorSetAt(110).validators.back().name == "v4");
  CHECK(gov.state.ValidatorSetAt(110).total_power() == 50);
  // Two changes completing in one block share one epoch.
  gov.Pass(SetPower("val-0", 12), 200);
  gov.Pass(SetPower("val-1", 8), 200);
  CHECK(gov.state.validator_epochs().size() == 3);
  CHECK(gov.state.ValidatorSetAt(210).total_power() == 50);
  CHECK(gov.state.ValidatorSetAt(210).validators[0].voting_power == 12);
}

TEST_CASE("governance timing: an organisation update is in force from the next block") {
  Gov gov(GovGenesis(4));
  gov.Pass(UpdateOrg("o1", "Org One", pb::AUTHENTICATOR), 10);
  const auto* o1 = gov.state.FindOrganization("o1");
  CHECK(o1->VersionAt(10).display_name == "Org 1");
  CHECK(o1->HasRoleAt(pb::MARKETPLACE, 10));
  CHECK(o1->VersionAt(11).display_name == "Org One");
  CHECK(o1->HasRoleAt(pb::AUTHENTICATOR, 11));
  CHECK(!o1->HasRoleAt(pb::MARKETPLACE, 11));
}

// --- Keys ---

TEST_CASE("governance keys: a revoked key stops at the next block, older records stay valid") {
  Gov gov(GovGenesis(4));
  gov.Pass(AddKey("o1", "o1-new"), 10);
  CHECK(gov.state.IsKeyValid(PubFor("o1-new"), "o1", 11));
  gov.Pass(RevokeKey("o1", "o1"), 20);
  CHECK(gov.effective == 21);
  // The query answers by height: a record in block 20 or before was signed with a valid key.
  CHECK(gov.state.IsKeyValid(PubFor("o1"), "o1", 5));
  CHECK(gov.state.IsKeyValid(PubFor("o1"), "o1", 20));
  CHECK(!gov.state.IsKeyValid(PubFor("o1"), "o1", 21));
  CHECK(gov.state.OrganizationOfKeyAt(PubFor("o1"), 21) == nullptr);
  CHECK(gov.state.OrganizationEverHoldingKey(PubFor("o1"))->id == "o1");
  core::Hash256 id = gov.Propose("o0", AddOrg("n1", {"n1"}), 21);
  CheckRefused(gov.Approve("o1", id, 21), RejectReason::kNotMember, "\"o1\"");
  CHECK(!gov.Approve("o1-new", id, 21));
}

TEST_CASE("governance keys: add and revoke refusals") {
  Gov gov(GovGenesis(4));
  CheckRefused(gov.TryPropose("o0", RevokeKey("o1", "o1"), 10), RejectReason::kLastKey,
               "last signing key");
  CheckRefused(gov.TryPropose("o0", RevokeKey("o1", "o2"), 10), RejectReason::kInvalidField,
               "is not a key of");
  CheckRefused(gov.TryPropose("o0", AddKey("o1", "o2"), 10), RejectReason::kDuplicate,
               "already used by organization \"o2\"");
  CheckRefused(gov.TryPropose("o0", AddKey("zz", "k"), 10), RejectReason::kUnknownOrganization);
  gov.Pass(AddKey("o1", "o1-new"), 10);
  gov.Pass(RevokeKey("o1", "o1"), 20);
  CheckRefused(gov.TryPropose("o0", RevokeKey("o1", "o1"), 30), RejectReason::kInvalidField,
               "already revoked at height 21");
  // A revoked key is never reused, by its organisation or another.
  CheckRefused(gov.TryPropose("o0", AddKey("o1", "o1"), 30), RejectReason::kDuplicate);
  CheckRefused(gov.TryPropose("o0", AddKey("o2", "o1"), 30), RejectReason::kDuplicate);
}

// --- Organisations ---

TEST_CASE("governance organisations: add, update and remove refusals") {
  Gov gov(GovGenesis(4));
  CheckRefused(gov.TryPropose("o0", AddOrg("o1", {"x"}), 10), RejectReason::kDuplicate,
               "already a member");
  CheckRefused(gov.TryPropose("o0", AddOrg("b2", {"b2"}, pb::BRAND, {"06141410"}), 10),
               RejectReason::kDuplicate, "overlaps 0614141");
  CheckRefused(gov.TryPropose("o0", AddOrg("b2", {"o3"}), 10), RejectReason::kDuplicate);
  CHECK(!gov.TryPropose("o0", AddOrg("b2", {"b2"}, pb::BRAND, {"0614142"}), 10));
  CheckRefused(gov.TryPropose("o0", UpdateOrg("zz", "Z", pb::MARKETPLACE), 10),
               RejectReason::kUnknownOrganization, "not a member");
  CheckRefused(gov.TryPropose("o0", UpdateOrg("o1", "Org 1", pb::MARKETPLACE), 10),
               RejectReason::kInvalidField, "changes nothing");
  CheckRefused(gov.TryPropose("o0", UpdateOrg("o1", "Org 1", pb::BRAND, {"0614141"}), 10),
               RejectReason::kDuplicate, "is already organization \"o0\"");
  CHECK(!gov.TryPropose("o0", UpdateOrg("o0", "Org 0", pb::BRAND, {"0614141", "9506000"}), 10));
  CheckRefused(gov.TryPropose("o0", RemoveOrg("zz"), 10), RejectReason::kUnknownOrganization);
  // o1 runs validator v1.
  CheckRefused(gov.TryPropose("o0", RemoveOrg("o1"), 10), RejectReason::kStillValidator,
               "validator \"v1\"");
}

TEST_CASE("governance organisations: removal after its validator left, its id stays resolvable") {
  Gov gov(GovGenesis(5, {10, 10, 10, 10}));  // v0..v3 belong to o0..o3.
  gov.Pass(RemoveVal("val-3"), 10);
  CheckRefused(gov.TryPropose("o0", RemoveOrg("o3"), 15), RejectReason::kStillValidator,
               "from height 0");
  gov.Pass(RemoveOrg("o3"), 20);  // The validator left at 20.
  CHECK(gov.effective == 21);
  CHECK(gov.state.MemberCountAt(20) == 5);
  CHECK(gov.state.MemberCountAt(21) == 4);
  const auto* o3 = gov.state.FindOrganization("o3");
  REQUIRE(o3 != nullptr);
  CHECK(o3->latest().display_name == "Org 3");
  CHECK(gov.state.IsKeyValid(PubFor("o3"), "o3", 20));
  CHECK(!gov.state.IsKeyValid(PubFor("o3"), "o3", 21));
  CheckRefused(gov.TryPropose("o3", AddOrg("n1", {"n1"}), 21), RejectReason::kNotMember,
               "the organization was removed");
  CheckRefused(gov.TryPropose("o0", AddOrg("o3", {"o3-again"}), 21), RejectReason::kDuplicate,
               "ids are never reused");
  CheckRefused(gov.TryPropose("o0", AddKey("o3", "o3-b"), 21), RejectReason::kUnknownOrganization,
               "removed at height 21");
}

// --- Validators ---

TEST_CASE("governance validators: at most a third of the power moves at once") {
  SUBCASE("exactly a third is allowed, more is refused") {
    Gov gov(GovGenesis(3, {1, 1, 1}));
    CHECK(!gov.TryPropose("o0", RemoveVal("val-0"), 10));
    Gov four(GovGenesis(3, {1, 1, 1, 1}));
    CheckRefused(four.TryPropose("o0", AddVal("v9", "o1", "val-9", 2), 10),
                 RejectReason::kPowerShiftTooLarge, "at most a third of the 4");
    CHECK(!four.TryPropose("o0", AddVal("v9", "o1", "val-9", 1), 10));
  }
  SUBCASE("re-weighting moves the difference; a key change the validator's power") {
    Gov gov(GovGenesis(3, {30, 30, 40}));
    CHECK(!gov.TryPropose("o0", SetPower("val-2", 73), 10));  // +33 of 100.
    CheckRefused(gov.TryPropose("o0", SetPower("val-2", 74), 10),
                 RejectReason::kPowerShiftTooLarge);
    CHECK(!gov.TryPropose("o0", ChangeValKey("val-0", "val-0b"), 10));
    CheckRefused(gov.TryPropose("o0", ChangeValKey("val-2", "val-2b"), 10),
                 RejectReason::kPowerShiftTooLarge);
  }
  SUBCASE("scheduled changes count until they are in force") {
    Gov gov(GovGenesis(4, {1, 1, 1, 1}));
    gov.Pass(RemoveVal("val-3"), 10);
    CheckRefused(gov.TryPropose("o0", RemoveVal("val-2"), 19), RejectReason::kPowerShiftTooLarge,
                 "already scheduled");
    CHECK(!gov.TryPropose("o0", RemoveVal("val-2"), 20));
  }
}

TEST_CASE("governance validators: refusals for each change") {
  Gov gov(GovGenesis(3, {10, 10, 10}));
  CheckRefused(gov.TryPropose("o0", AddVal("v0", "o1", "val-9", 1), 10), RejectReason::kDuplicate,
               "already named");
  CheckRefused(gov.TryPropose("o0", AddVal("v9", "zz", "val-9", 1), 10),
               RejectReason::kUnknownOrganization);
  CheckRefused(gov.TryPropose("o0", AddVal("v9", "o1", "val-1", 1), 10), RejectReason::kDuplicate,
               "never reused");
  CheckRefused(gov.TryPropose("o0", RemoveVal("val-9"), 10), RejectReason::kUnknownValidator);
  CheckRefused(gov.TryPropose("o0", SetPower("val-9", 3), 10), RejectReason::kUnknownValidator);
  CheckRefused(gov.TryPropose("o0", SetPower("val-0", 10), 10), RejectReason::kInvalidField,
               "already has voting power 10");
  CheckRefused(gov.TryPropose("o0", ChangeValKey("val-9", "val-8"), 10),
               RejectReason::kUnknownValidator);
  CheckRefused(gov.TryPropose("o0", ChangeValKey("val-0", "val-1"), 10), RejectReason::kDuplicate);
  CHECK(!gov.TryPropose("o0", ChangeValKey("val-0", "val-0b"), 10));
}

TEST_CASE("governance validators: the last validator cannot leave, a key change bites late") {
  Gov one(GovGenesis(3, {5}));
  CheckRefused(one.TryPropose("o0", RemoveVal("val-0"), 10), RejectReason::kNoValidatorLeft);
  Gov gov(GovGenesis(4, {10, 10, 10, 10}));
  gov.Pass(ChangeValKey("val-1", "val-1b"), 50);
  CHECK(gov.state.ValidatorSetAt(59).Find(PubFor("val-1")) != nullptr);
  CHECK(gov.state.ValidatorSetAt(60).Find(PubFor("val-1")) == nullptr);
  CHECK(gov.state.ValidatorSetAt(60).Find(PubFor("val-1b"))->name == "v1");
  // The old key is used, so it cannot come back.
  CheckRefused(gov.TryPropose("o0", AddVal("v7", "o1", "val-1", 1), 70), RejectReason::kDuplicate);
}

// --- Decoding ---

TEST_CASE("governance decode: structure is checked, DecodeRecord refuses governance bodies") {
  auto decode = [](pb::RecordPayload p) {
    pb::Envelope env = test::Sign("o0", p);
    core::GovernanceRecord rec;
    return core::DecodeGovernanceRecord(env, kChain, &rec);
  };
  auto payload = [](const pb::GovernanceChange& c) {
    pb::RecordPayload p;
    p.set_chain_id(kChain);
    *p.mutable_governance()->mutable_proposal()->mutable_change() = c;
    p.mutable_governance()->mutable_proposal()->set_expires_height(9);
    return p;
  };
  CHECK(!decode(payload(AddOrg("n1", {"n1"}))));
  pb::RecordPayload p = payload(AddOrg("n1", {"n1"}));
  p.set_item_id(test::kMaisonItem);
  CheckRefused(decode(p), RejectReason::kInvalidField, "item_id and prev must be empty");
  p = payload(AddOrg("n1", {"n1"}));
  p.mutable_flag()->set_kind(pb::STOLEN);
  CheckRefused(decode(p), RejectReason::kMalformed, "both");
  p = payload(AddOrg("n1", {"n1"}));
  p.set_chain_id("other");
  CheckRefused(decode(p), RejectReason::kWrongChain);
  CheckRefused(decode(payload(AddOrg("N 1", {"n1"}))), RejectReason::kInvalidField, "a-z, 0-9");
  CheckRefused(decode(payload(AddOrg("n1", {}))), RejectReason::kInvalidField, "no signing keys");
  CheckRefused(decode(payload(AddOrg("n1", {"n1", "n1"}))), RejectReason::kDuplicate);
  CheckRefused(decode(payload(AddOrg("n1", {"n1"}, pb::BRAND))), RejectReason::kInvalidField,
               "BRAND but has no");
  CheckRefused(decode(payload(AddOrg("n1", {"n1"}, pb::MARKETPLACE, {"123456"}))),
               RejectReason::kInvalidField, "not a BRAND");
  CheckRefused(decode(payload(AddOrg("n1", {"n1"}, pb::BRAND, {"12345"}))),
               RejectReason::kInvalidField, "6 to 12 digits");
  pb::GovernanceChange bad_key = AddKey("o1", "x");
  bad_key.mutable_add_signing_key()->set_key(std::string(32, '\0'));  // Small order.
  CheckRefused(decode(payload(bad_key)), RejectReason::kInvalidField, "not an acceptable");
  CheckRefused(decode(payload(SetPower("val-0", 0))), RejectReason::kInvalidField,
               "propose its removal");
  CheckRefused(decode(payload(pb::GovernanceChange())), RejectReason::kMalformed, "no change");
  pb::RecordPayload approval;
  approval.set_chain_id(kChain);
  approval.mutable_governance()->mutable_approval()->set_proposal("short");
  CheckRefused(decode(approval), RejectReason::kInvalidField, "32-byte record id");
  pb::RecordPayload empty;
  empty.set_chain_id(kChain);
  empty.mutable_governance();
  CheckRefused(decode(empty), RejectReason::kMalformed, "neither proposal nor approval");
  pb::RecordPayload custody = test::Payload(test::kMaisonItem);
  custody.mutable_flag()->set_kind(pb::STOLEN);
  CheckRefused(decode(custody), RejectReason::kMalformed, "not a governance record");

  // The custody decoder refuses a governance payload, so today's nodes never take one for a
  // custody record.
  pb::Envelope env = test::Sign("o0", payload(AddOrg("n1", {"n1"})));
  core::Record rec;
  CheckRefused(core::DecodeRecord(env, kChain, &rec), RejectReason::kMalformed,
               "not a custody record");
  CHECK(core::RejectReasonCode(RejectReason::kPowerShiftTooLarge) == "power_shift_too_large");
}

}  // namespace
}  // namespace hallmark

// --- Organisation settings: resolver_domain and website ---

namespace hallmark {
namespace {

pb::GovernanceChange WithSettings(pb::GovernanceChange c, const std::string& domain,
                                  const std::string& website) {
  if (c.has_add_organization()) {
    c.mutable_add_organization()->set_resolver_domain(domain);
    c.mutable_add_organization()->set_website(website);
  } else {
    c.mutable_update_organization()->set_resolver_domain(domain);
    c.mutable_update_organization()->set_website(website);
  }
  return c;
}

TEST_CASE(
    "governance settings: add and update carry resolver_domain and website into the "
    "membership") {
  Gov gov(GovGenesis(4));
  const core::Hash256 before = gov.state.GovernedHash();
  gov.Pass(WithSettings(AddOrg("b2", {"b2"}, pb::BRAND, {"0614142"}), "id.b2.example",
                        "https://b2.example/"),
           10);
  const core::OrganizationRecord* b2 = gov.state.FindOrganization("b2");
  REQUIRE(b2 != nullptr);
  CHECK(b2->VersionAt(11).resolver_domain == "id.b2.example");
  CHECK(b2->VersionAt(11).website == "https://b2.example/");
  core::Network at11 = gov.state.MembershipAt(gov.net, 11);
  const pb::Organization* brand = at11.BrandForPrefixRegion("061414200001");
  REQUIRE(brand != nullptr);
  CHECK(brand->id() == "b2");
  CHECK(brand->resolver_domain() == "id.b2.example");
  CHECK(brand->website() == "https://b2.example/");
  CHECK(gov.state.GovernedHash() != before);

  // An update that changes only the website is a change; the same settings again are not.
  pb::GovernanceChange website_only = WithSettings(UpdateOrg("b2", "b2", pb::BRAND, {"0614142"}),
                                                   "id.b2.example", "https://b2.example/new");
  gov.Pass(website_only, 20);
  CHECK(gov.state.FindOrganization("b2")->VersionAt(21).website == "https://b2.example/new");
  CHECK(gov.state.FindOrganization("b2")->VersionAt(20).website == "https://b2.example/");
  CheckRefused(gov.TryPropose("o0", website_only, 30), RejectReason::kInvalidField,
               "changes nothing");
  // The update states the organisation as it will be: empty settings clear them.
  gov.Pass(UpdateOrg("b2", "b2", pb::BRAND, {"0614142"}), 40);
  CHECK(gov.state.MembershipAt(gov.net, 41).FindOrganization("b2")->resolver_domain().empty());
  CHECK(gov.state.MembershipAt(gov.net, 41).FindOrganization("b2")->website().empty());
  CHECK(gov.state.MembershipAt(gov.net, 39).FindOrganization("b2")->website() ==
        "https://b2.example/new");

  // The stored form keeps them.
  auto back = core::NetworkState::FromProto(gov.state.ToProto(), gov.state.params());
  REQUIRE(back.ok());
  CHECK(back->Serialize() == gov.state.Serialize());
  CHECK(back->FindOrganization("b2")->VersionAt(21).resolver_domain == "id.b2.example");
}

TEST_CASE("governance settings: a state that never sets them keeps the bytes it had") {
  // Genesis organisations and changes without settings encode no field 5 or 6 in any version:
  // the bytes (and GovernedHash, the state-tree leaf) are those of states from before the
  // settings existed. The committed pre-governance ledger fixture checks the same end to end.
  Gov gov(GovGenesis(4));
  gov.Pass(UpdateOrg("o1", "Org One", pb::AUTHENTICATOR), 10);
  pb::NetworkStateProto proto = gov.state.ToProto();
  for (const auto& org : proto.organizations()) {
    for (const auto& v : org.versions()) {
      CHECK(v.resolver_domain().empty());
      CHECK(v.website().empty());
      pb::OrganizationVersion copy = v;
      copy.clear_resolver_domain();
      copy.clear_website();
      CHECK(core::SerializeDeterministic(copy) == core::SerializeDeterministic(v));
    }
  }
}

TEST_CASE("governance settings: bad values are refused when the record is decoded") {
  auto decode = [](const pb::GovernanceChange& c) {
    pb::RecordPayload p;
    p.set_chain_id(kChain);
    *p.mutable_governance()->mutable_proposal()->mutable_change() = c;
    p.mutable_governance()->mutable_proposal()->set_expires_height(9);
    pb::Envelope env = test::Sign("o0", p);
    core::GovernanceRecord rec;
    return core::DecodeGovernanceRecord(env, kChain, &rec);
  };
  CHECK(!decode(WithSettings(AddOrg("n1", {"n1"}), "id.n1.example", "https://n1.example")));
  CheckRefused(decode(WithSettings(AddOrg("n1", {"n1"}), "ID.N1.EXAMPLE", "")),
               RejectReason::kInvalidField, "organization \"n1\": resolver_domain");
  CheckRefused(decode(WithSettings(AddOrg("n1", {"n1"}), "n1.example:8443", "")),
               RejectReason::kInvalidField, "without a port");
  CheckRefused(decode(WithSettings(AddOrg("n1", {"n1"}), "", "http://n1.example")),
               RejectReason::kInvalidField, "organization \"n1\": website");
  CheckRefused(
      decode(WithSettings(UpdateOrg("o1", "x", pb::MARKETPLACE), "", "https://a@b.example")),
      RejectReason::kInvalidField, "user info");
  CheckRefused(
      decode(WithSettings(UpdateOrg("o1", "x", pb::MARKETPLACE), std::string(254, 'a'), "")),
      RejectReason::kInvalidField, "at most 253");
}

}  // namespace
}  // namespace hallmark
