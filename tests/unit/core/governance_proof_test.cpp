// The governance walk of proof bundles (docs/proofs.md, "The governance walk"): a consumer
// checks items with genesis alone across any number of changes of organisations, keys and
// validators, and every forgery of the walk fails the governance check (or the certificate
// check for the final header), naming the block. Chains are built by hand from the core rules
// (tests/unit/gov_chain_fixture.h).
#include "core/governance_proof.h"

#include <doctest/doctest.h>

#include "core/codec.h"
#include "core/proof_bundle.h"
#include "gov_chain_fixture.h"

using namespace hallmark;
using namespace hallmark::test;
using core::ProofCheck;

namespace {

constexpr const char* kNouveauItem = "01/07654321000015/21/N-1";
constexpr const char* kMaisonItem2 = "01/00614141000029/21/BAG-0002";

core::ProofVerdict Check(const GovChain& chain, const pb::ProofBundle& bundle,
                         const core::TrustedState* trusted = nullptr) {
  core::VerifyOptions o;
  o.trusted = trusted;
  return core::VerifyProofBundle(chain.network(), core::SerializeDeterministic(bundle), o);
}

// Fails with `check`, and the message contains `needle`.
void ExpectFailure(const core::ProofVerdict& v, ProofCheck check, std::string_view needle) {
  REQUIRE_FALSE(v.ok());
  INFO(v.failure->message);
  CHECK(core::ProofCheckName(v.failure->check) == core::ProofCheckName(check));
  CHECK(v.failure->message.find(needle) != std::string::npos);
}

pb::RecordPayload Register(std::string_view item) {
  pb::RecordPayload p = Payload(item);
  auto* a = p.mutable_register_()->add_attributes();
  a->set_key("model");
  a->set_value("Sac");
  return p;
}
pb::RecordPayload TransferTo(std::string_view item, const std::string& prev, pb::Holder to) {
  pb::RecordPayload p = Payload(item, prev);
  *p.mutable_transfer()->mutable_to() = std::move(to);
  return p;
}

// The chain the tests share: an item registered before any change, an organisation added, its
// item, a key rotation (add, then revoke the old key), items moved under the new key, a
// validator added and, once in force, another removed; records between every step.
struct Story {
  GovChain chain;
  std::string early_bundle;  // kMaisonItem's bundle before any change, at height 2.
  uint64_t rotation_height = 0;
  uint64_t validator_added = 0;
  uint64_t validator_removed = 0;

  Story() {
    chain.CommitRecord("maison", Register(kMaisonItem));
    chain.CommitRecord("maison",
                       TransferTo(kMaisonItem, chain.Prev(kMaisonItem), OrgHolder("resale")));
    early_bundle = chain.BundleBytes(kMaisonItem);
    chain.Pass(AddOrgChange("nouveau", pb::BRAND, {"7654321"}));
    chain.CommitRecord("nouveau", Register(kNouveauItem));
    chain.Pass(AddKeyChange("maison", "maison-2"),
               {"atelier", "resale", "authlab", "repairco", "nouveau"});
    chain.Pass(RevokeKeyChange("maison", "maison"),
               {"atelier", "resale", "authlab", "repairco", "nouveau"});
    rotation_height = chain.height();
    chain.CommitRecord("maison-2", Register(kMaisonItem2));
    chain.CommitRecord("resale",
                       TransferTo(kMaisonItem, chain.Prev(kMaisonItem), KeyHolder("alice")));
    chain.Pass(AddValidatorChange("v4", "nouveau", "validator-4", 1),
               {"atelier", "resale", "authlab", "repairco", "nouveau"}, "maison-2");
    validator_added = chain.height();
    chain.AdvanceTo(validator_added +
                    chain.network().governance().validator_change_delay_heights());
    chain.Pass(RemoveValidatorChange("validator-3"),
               {"atelier", "resale", "authlab", "repairco", "nouveau"}, "maison-2");
    validator_removed = chain.height();
    chain.AdvanceTo(validator_removed +
                    chain.network().governance().validator_change_delay_heights() + 1);
    chain.CommitRecord("alice",
                       TransferTo(kMaisonItem, chain.Prev(kMaisonItem), OrgHolder("nouveau")));
  }
};

}  // namespace

TEST_CASE("governance walk: items from before, between and after changes verify with genesis") {
  Story s;
  GovChain& chain = s.chain;
  REQUIRE(chain.changes() == 5);
  // The set that certifies the head is not genesis'.
  const auto& head_set = chain.state().ValidatorSetAt(chain.height()).validators;
  REQUIRE(head_set.size() == 4);
  CHECK(head_set.back().name == "v4");

  for (const char* item : {kMaisonItem, kNouveauItem, kMaisonItem2, kAtelierItem}) {
    INFO(item);
    pb::ProofBundle b = chain.Bundle(item);
    auto v = Check(chain, b);
    REQUIRE_MESSAGE(v.ok(), v.failure->message);
    CHECK(v.item.walk_changes == 5);
    REQUIRE(v.item.network_state.has_value());
    CHECK(v.item.network_state->GovernedHash() == chain.state().GovernedHash());
    CHECK(v.item.validators == 4);
  }
  // Records signed by the revoked key before the revocation stay valid; authors are resolved at
  // their heights.
  auto v = Check(chain, chain.Bundle(kMaisonItem));
  REQUIRE(v.ok());
  REQUIRE(v.item.steps.size() == 4);
  CHECK(v.item.steps[0].author == "maison");
  CHECK(v.item.steps[3].author.empty());  // alice, a holder key.
  CHECK(v.item.state->custodian().organization() == "nouveau");
  auto v2 = Check(chain, chain.Bundle(kMaisonItem2));
  REQUIRE(v2.ok());
  CHECK(v2.item.steps[0].author == "maison");
  CHECK(v2.item.steps[0].signer == PubFor("maison-2"));

  // The bundle saved before any change still verifies: an empty walk, the state leaf absent.
  auto early = core::VerifyProofBundle(chain.network(), s.early_bundle);
  REQUIRE_MESSAGE(early.ok(), early.failure->message);
  CHECK(early.item.walk_changes == 0);
  CHECK(pb::ProofBundle().ParseFromString(s.early_bundle));
}

TEST_CASE("governance walk: records of a block share one header and certificate") {
  GovChain chain;
  chain.Pass(AddOrgChange("nouveau", pb::BRAND, {"7654321"}), {"atelier", "resale", "authlab"},
             "maison", /*one_block=*/true);
  chain.CommitRecord("nouveau", Register(kNouveauItem));
  pb::ProofBundle b = chain.Bundle(kNouveauItem);
  REQUIRE(b.governance().blocks_size() == 1);
  CHECK(b.governance().blocks(0).records_size() == 4);
  auto v = Check(chain, b);
  REQUIRE_MESSAGE(v.ok(), v.failure->message);
  CHECK(v.item.walk_changes == 1);
}

TEST_CASE("governance walk: a registration by an organisation before it was admitted fails") {
  // The custody replay uses the membership at each record's height: claiming a record of the
  // rotated-out key at a height after its revocation fails the rules.
  GovChain chain;
  chain.CommitRecord("maison", Register(kMaisonItem));
  chain.CommitRecord("maison",
                     TransferTo(kMaisonItem, chain.Prev(kMaisonItem), OrgHolder("resale")));
  chain.Pass(AddKeyChange("maison", "maison-2"));
  chain.Pass(RevokeKeyChange("maison", "maison"));
  chain.CommitRecord("resale",
                     TransferTo(kMaisonItem, chain.Prev(kMaisonItem), KeyHolder("alice")));
  pb::ProofBundle b = chain.Bundle(kMaisonItem);
  REQUIRE(Check(chain, b).ok());
  REQUIRE(b.history_heights_size() == 3);
  // Record 2 (maison's old key) said to be in the block of record 3, after the revocation.
  b.set_history_heights(1, b.history_heights(2));
  ExpectFailure(Check(chain, b), ProofCheck::kRules, "record 2");

  // Heights that decrease, exceed the header, or do not match the certified state's.
  pb::ProofBundle c = chain.Bundle(kMaisonItem);
  c.set_history_heights(1, c.history_heights(0) - 1 + 0);
  c.set_history_heights(1, 0);
  ExpectFailure(Check(chain, c), ProofCheck::kHistory, "record 2");
  c = chain.Bundle(kMaisonItem);
  c.set_history_heights(2, chain.height() + 1);
  ExpectFailure(Check(chain, c), ProofCheck::kHistory, "record 3");
  c = chain.Bundle(kMaisonItem);
  c.set_history_heights(2, c.history_heights(2) - 1);
  ExpectFailure(Check(chain, c), ProofCheck::kHistory, "latest height");
  c = chain.Bundle(kMaisonItem);
  c.mutable_history_heights()->RemoveLast();
  ExpectFailure(Check(chain, c), ProofCheck::kHistory, "record heights");
}

TEST_CASE("governance walk: a forged approval fails the governance check") {
  // Colluding validators certify a block holding an approval that no honest node would take;
  // the verifier's own replay of the rules refuses it.
  for (const char* forgery : {"bad signature", "non-member signer"}) {
    INFO(forgery);
    GovChain chain;
    const pb::Envelope proposal =
        Proposal("maison", AddOrgChange("nouveau", pb::BRAND, {"7654321"}), 500);
    chain.Commit({proposal, Approval("atelier", proposal), Approval("resale", proposal)});
    pb::Envelope forged;
    if (std::string_view(forgery) == "bad signature") {
      forged = Approval("authlab", proposal);
      std::string sig = forged.signature();
      sig[5] ^= 0x01;
      forged.set_signature(sig);
    } else {
      forged = Approval("mallory", proposal);
    }
    chain.Commit({forged}, std::nullopt, /*unchecked=*/true);
    pb::GovernanceWalk walk;
    *walk.add_blocks() = chain.WalkBlock(1, {0, 1, 2});
    *walk.add_blocks() = chain.WalkBlock(2, {0});
    GovChain::EncodeWalkHeaders(walk);
    auto v = Check(chain, chain.Bundle(kMaisonItem, 0, walk));
    ExpectFailure(v, ProofCheck::kGovernance, "walk block 2 (height 2), record 1");
    CHECK(v.failure->message.find(std::string_view(forgery) == "bad signature"
                                      ? "bad_signature"
                                      : "not_member") != std::string::npos);
  }
}

TEST_CASE("governance walk: a skipped or withheld change fails the governance check") {
  Story s;
  GovChain& chain = s.chain;
  const pb::ProofBundle good = chain.Bundle(kMaisonItem);
  REQUIRE(Check(chain, good).ok());
  const auto& blocks = good.governance().blocks();

  // Each change is one walk block per record (Pass commits one record per block): proposals are
  // the blocks whose record is a proposal.
  std::vector<int> proposal_blocks;
  for (int i = 0; i < blocks.size(); ++i) {
    pb::RecordPayload p;
    REQUIRE(p.ParseFromString(blocks[i].records(0).envelope().payload()));
    if (p.governance().has_proposal()) proposal_blocks.push_back(i);
  }
  REQUIRE(proposal_blocks.size() == 5);

  auto without = [&](int from, int to) {
    pb::ProofBundle b = good;
    auto* bl = b.mutable_governance()->mutable_blocks();
    bl->DeleteSubrange(from, to - from);
    return b;
  };
  // The completing approval of the first change (add an organisation) left out: the change
  // never completes, and nouveau's later approvals are refused.
  {
    auto v = Check(chain, without(proposal_blocks[1] - 1, proposal_blocks[1]));
    ExpectFailure(v, ProofCheck::kGovernance, "walk block");
  }
  // A middle approval left out: the would-be completing one does not reach the threshold, so a
  // later record is refused or the rebuilt state differs.
  {
    auto v = Check(chain, without(proposal_blocks[3] + 1, proposal_blocks[3] + 2));
    REQUIRE_FALSE(v.ok());
    CHECK(v.failure->check == ProofCheck::kGovernance);
  }
  // The whole validator addition left out: the set after it certifies the later blocks with a
  // signer the walk does not know.
  {
    auto v = Check(chain, without(proposal_blocks[3], proposal_blocks[4]));
    ExpectFailure(v, ProofCheck::kGovernance, "certificate by the validator set of that height");
  }
  // The last change (remove a validator) withheld entirely: every certificate still checks
  // (three of four old validators signed), but the certified network state differs.
  {
    auto v = Check(chain, without(proposal_blocks[4], blocks.size()));
    REQUIRE_FALSE(v.ok());
    INFO(v.failure->message);
    CHECK(v.failure->check == ProofCheck::kGovernance);
  }
  // Withheld, a change of organisations whose absence no certificate shows: the state leaf.
  {
    GovChain c2;
    c2.Pass(AddOrgChange("nouveau", pb::BRAND, {"7654321"}));
    c2.CommitRecord("maison", Register(kMaisonItem));
    pb::ProofBundle b = c2.Bundle(kMaisonItem);
    b.mutable_governance()->clear_blocks();
    ExpectFailure(Check(c2, b), ProofCheck::kGovernance, "does not match");
  }
}

TEST_CASE("governance walk: a certificate by the outgoing minority fails") {
  GovChain chain;
  chain.Pass(RemoveValidatorChange("validator-3"));
  const uint64_t done = chain.height();
  const uint64_t delay = chain.network().governance().validator_change_delay_heights();
  chain.AdvanceTo(done + delay);
  // In force now: v0, v1, v2. Old quorum v1, v2, v3 certifies the head.
  chain.Commit({Sign("maison", Register(kMaisonItem))},
               std::vector<std::string>{"validator-1", "validator-2", "validator-3"});
  auto v = Check(chain, chain.Bundle(kMaisonItem));
  ExpectFailure(v, ProofCheck::kCertificate, "height " + std::to_string(chain.height()));
  // Before the change bites, the same signers certify validly.
  GovChain early;
  early.Pass(RemoveValidatorChange("validator-3"));
  early.Commit({Sign("maison", Register(kMaisonItem))},
               std::vector<std::string>{"validator-1", "validator-2", "validator-3"});
  CHECK(Check(early, early.Bundle(kMaisonItem)).ok());

  // A walk block certified by the outgoing minority after the change bit.
  GovChain c3;
  c3.Pass(RemoveValidatorChange("validator-3"));
  c3.AdvanceTo(c3.height() + delay);
  const pb::Envelope p =
      Proposal("maison", AddOrgChange("nouveau", pb::BRAND, {"7654321"}), c3.height() + 100);
  c3.Commit({p}, std::vector<std::string>{"validator-1", "validator-3"});
  c3.Commit({Approval("atelier", p), Approval("resale", p), Approval("authlab", p)});
  // The walk leaves a block's certificate out when the next block certifies it; a node that
  // sends the minority's certificate all the same is refused.
  pb::ProofBundle b3 = c3.Bundle(kMaisonItem);
  bool replaced = false;
  for (auto& block : *b3.mutable_governance()->mutable_blocks()) {
    pb::BlockHeader h;
    REQUIRE(h.ParseFromString(block.header()));
    if (h.height() != c3.height() - 1) continue;
    *block.mutable_certificate() = c3.WalkBlock(h.height(), {0}).certificate();
    replaced = true;
  }
  REQUIRE(replaced);
  auto v3 = Check(c3, b3);
  ExpectFailure(v3, ProofCheck::kGovernance, "certificate by the validator set of that height");
}

TEST_CASE("governance walk: any changed byte of the walk is refused") {
  GovChain chain;
  chain.Pass(AddOrgChange("nouveau", pb::BRAND, {"7654321"}), {"atelier", "resale", "authlab"},
             "maison", /*one_block=*/true);
  chain.CommitRecord("nouveau", Register(kNouveauItem));
  const pb::ProofBundle good = chain.Bundle(kNouveauItem);
  REQUIRE(Check(chain, good).ok());
  const std::string walk = core::SerializeDeterministic(good.governance());
  size_t refused = 0;
  for (size_t i = 0; i < walk.size(); ++i) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}}) {
      std::string w = walk;
      w[i] = static_cast<char>(w[i] ^ mask);
      pb::ProofBundle b = good;
      if (!b.mutable_governance()->ParseFromString(w)) {
        ++refused;  // Does not even parse.
        continue;
      }
      auto v = core::VerifyProofBundle(chain.network(), core::SerializeDeterministic(b));
      INFO("byte " << i << " mask " << int(mask));
      CHECK_FALSE(v.ok());
      ++refused;
    }
  }
  CHECK(refused == 2 * walk.size());
}

TEST_CASE("governance walk: a trusted state verifies only the changes after it") {
  // The verifier checked the chain at some height; later changes come since then.
  GovChain early;
  early.CommitRecord("maison", Register(kMaisonItem));
  early.Pass(AddOrgChange("nouveau", pb::BRAND, {"7654321"}));
  auto first = Check(early, early.Bundle(kMaisonItem));
  REQUIRE(first.ok());
  core::TrustedState trusted{first.item.height, *first.item.network_state};

  // A straddling change: proposed before the trusted height, completed after.
  const pb::Envelope p =
      Proposal("maison", AddKeyChange("maison", "maison-2"), early.height() + 500);
  early.Commit({p, Approval("atelier", p)});
  auto mid = Check(early, early.Bundle(kMaisonItem));
  REQUIRE(mid.ok());
  core::TrustedState trusted_mid{mid.item.height, *mid.item.network_state};
  early.Commit({Approval("resale", p), Approval("authlab", p), Approval("nouveau", p)});
  early.Pass(AddValidatorChange("v4", "nouveau", "validator-4", 1),
             {"atelier", "resale", "authlab", "repairco", "nouveau"});
  early.CommitRecord("maison-2",
                     TransferTo(kMaisonItem, early.Prev(kMaisonItem), OrgHolder("resale")));

  pb::ProofBundle since = early.Bundle(kMaisonItem, trusted_mid.height);
  CHECK(since.governance().from_height() == trusted_mid.height);
  pb::ProofBundle full = early.Bundle(kMaisonItem);
  CHECK(since.governance().blocks_size() < full.governance().blocks_size());
  auto warm = Check(early, since, &trusted_mid);
  REQUIRE_MESSAGE(warm.ok(), warm.failure->message);
  CHECK(warm.item.walk_changes == 2);
  CHECK(warm.item.network_state->GovernedHash() == early.state().GovernedHash());
  // The same bundle without that trusted state, or with another one, is refused.
  ExpectFailure(Check(early, since), ProofCheck::kGovernance, "has not checked");
  ExpectFailure(Check(early, since, &trusted), ProofCheck::kGovernance, "has not checked");
  // A full walk checks with or without a trusted state.
  CHECK(Check(early, full).ok());
  CHECK(Check(early, full, &trusted_mid).ok());
  // A trusted state that is missing a change does not make a walk since it pass.
  core::TrustedState wrong{trusted_mid.height, core::NetworkState::FromGenesis(early.network())};
  CHECK_FALSE(Check(early, since, &wrong).ok());
}

TEST_CASE("network state: the leaf key, the governed hash and the membership at a height") {
  GovChain chain;
  const core::Hash256 genesis_hash = chain.state().GovernedHash();
  CHECK(core::NetworkStateLeafKey() == core::Sha256Of(std::string_view("hallmark/network-state")));
  // A pending proposal does not change the governed hash, but does change Hash().
  const pb::Envelope p = Proposal("maison", AddKeyChange("maison", "maison-2"), 100);
  chain.Commit({p});
  CHECK(chain.state().GovernedHash() == genesis_hash);
  CHECK(chain.state().Hash() != core::NetworkState::FromGenesis(chain.network()).Hash());
  chain.Commit({Approval("atelier", p), Approval("resale", p), Approval("authlab", p)});
  const uint64_t done = chain.height();
  CHECK(chain.state().GovernedHash() != genesis_hash);
  chain.Pass(RevokeKeyChange("maison", "maison"));
  const uint64_t revoked = chain.height();

  const core::Network before = chain.state().MembershipAt(chain.network(), done);
  CHECK(before.hash() == chain.network().hash());
  CHECK(before.chain_id() == chain.network().chain_id());
  CHECK(before.OrganizationOfKey(PubFor("maison-2")) == nullptr);
  CHECK(before.OrganizationOfKey(PubFor("maison"))->id() == "maison");
  const core::Network after = chain.state().MembershipAt(chain.network(), revoked + 1);
  CHECK(after.OrganizationOfKey(PubFor("maison-2"))->id() == "maison");
  CHECK(after.OrganizationOfKey(PubFor("maison")) == nullptr);
  CHECK(after.BrandForPrefixRegion("061414100001")->id() == "maison");
  CHECK(after.validators().size() == 4);
}

TEST_CASE("governance walk: a block certified by its successor must be its parent") {
  // With the shortest delay (2), a change bites two blocks after its own: only the next block of
  // the chain may certify an uncertified walk block.
  pb::Genesis genesis = TestGenesis();
  genesis.mutable_governance()->set_validator_change_delay_heights(2);
  GovChain chain(genesis);
  chain.Pass(AddKeyChange("maison", "maison-2"));  // Proposal, then an approval a block.
  chain.CommitRecord("maison", Register(kMaisonItem));
  const pb::ProofBundle good = chain.Bundle(kMaisonItem);
  REQUIRE(good.governance().blocks_size() == 4);
  // Each block but the last is certified by the next one, which keeps its own certificate.
  CHECK_FALSE(good.governance().blocks(0).has_certificate());
  CHECK(good.governance().blocks(1).has_certificate());
  CHECK_FALSE(good.governance().blocks(2).has_certificate());
  CHECK(good.governance().blocks(3).has_certificate());
  REQUIRE(Check(chain, good).ok());

  // A fabricated header in place of an uncertified block (another time): its successor, whose
  // header is rebuilt naming it, is no longer the block its certificate certifies.
  {
    pb::ProofBundle b = good;
    pb::BlockHeader h;
    REQUIRE(h.ParseFromString(b.governance().blocks(0).header()));
    h.set_time_ms(h.time_ms() + 1);
    b.mutable_governance()->mutable_blocks(0)->set_header(core::SerializeDeterministic(h));
    ExpectFailure(Check(chain, b), ProofCheck::kGovernance,
                  "walk block 2 (height 2): certificate by the validator set of that height");
  }
  // Its successor left out.
  {
    pb::ProofBundle b = good;
    b.mutable_governance()->mutable_blocks()->DeleteSubrange(1, 1);
    ExpectFailure(Check(chain, b), ProofCheck::kGovernance, "walk block 2");
  }
  // Its successor's certificate left out too.
  {
    pb::ProofBundle b = good;
    b.mutable_governance()->mutable_blocks(1)->clear_certificate();
    ExpectFailure(Check(chain, b), ProofCheck::kGovernance,
                  "walk block 2 (height 2) has no certificate, nor have");
  }
  // The last walk block uncertified but not the header's parent (its successor left out).
  {
    pb::ProofBundle b = good;
    b.mutable_governance()->mutable_blocks()->DeleteSubrange(3, 1);
    ExpectFailure(Check(chain, b), ProofCheck::kGovernance, "not the parent");
  }
}

namespace {

pb::GovernanceChange SetPowerChange(std::string_view validator, uint64_t power) {
  pb::GovernanceChange c;
  c.mutable_set_validator_power()->set_consensus_key(std::string(PubFor(validator).view()));
  c.mutable_set_validator_power()->set_voting_power(power);
  return c;
}

}  // namespace

TEST_CASE(
    "governance walk: a change completed at or below the trusted height, sent again, is "
    "refused, also when it moved validators") {
  // Powers of 100 leave room for two re-weightings at once.
  pb::Genesis genesis = TestGenesis();
  for (auto& v : *genesis.mutable_validators()) v.set_voting_power(100);
  GovChain chain(genesis);
  chain.CommitRecord("maison", Register(kMaisonItem));
  // v0 goes to 110, then back to 100: both completed and scheduled at the trusted height.
  chain.Pass(SetPowerChange("validator-0", 110), {"atelier", "resale", "authlab"}, "maison",
             /*one_block=*/true);
  const uint64_t first = chain.height();
  chain.Pass(SetPowerChange("validator-0", 100), {"atelier", "resale", "authlab"}, "maison",
             /*one_block=*/true);
  auto checked = Check(chain, chain.Bundle(kMaisonItem));
  REQUIRE_MESSAGE(checked.ok(), checked.failure->message);
  core::TrustedState trusted{checked.item.height, *checked.item.network_state};
  chain.CommitRecord("maison",
                     TransferTo(kMaisonItem, chain.Prev(kMaisonItem), OrgHolder("resale")));

  // A lying node's walk since the trusted height replays the first change's certified block:
  // refused as a change completed before the trusted height (not an abort of the verifier).
  pb::GovernanceWalk walk;
  walk.set_from_height(trusted.height);
  *walk.add_blocks() = chain.WalkBlock(first, {0, 1, 2, 3});
  GovChain::EncodeWalkHeaders(walk);
  ExpectFailure(Check(chain, chain.Bundle(kMaisonItem, trusted.height, walk), &trusted),
                ProofCheck::kGovernance, "at or below the trusted height");
  // The honest walk since then verifies.
  auto warm = Check(chain, chain.Bundle(kMaisonItem, trusted.height), &trusted);
  CHECK_MESSAGE(warm.ok(), warm.failure->message);
}

TEST_CASE("governance walk: a block carried whole has no audit paths, and its root is rebuilt") {
  GovChain chain;
  chain.Pass(AddOrgChange("nouveau", pb::BRAND, {"7654321"}), {"atelier", "resale", "authlab"},
             "maison", /*one_block=*/true);
  chain.CommitRecord("nouveau", Register(kNouveauItem));
  const pb::ProofBundle good = chain.Bundle(kNouveauItem);
  REQUIRE(good.governance().blocks_size() == 1);
  REQUIRE(good.governance().blocks(0).records_size() == 4);
  for (const auto& r : good.governance().blocks(0).records()) CHECK(r.inclusion_proof_size() == 0);
  REQUIRE(Check(chain, good).ok());

  // Two records swapped (indices kept): the rebuilt root differs.
  {
    pb::ProofBundle b = good;
    auto* recs = b.mutable_governance()->mutable_blocks(0)->mutable_records();
    std::swap(*recs->Mutable(1)->mutable_envelope(), *recs->Mutable(2)->mutable_envelope());
    ExpectFailure(Check(chain, b), ProofCheck::kGovernance, "do not rebuild the header's records");
  }
  // An audit path where none belongs (the encoding would no longer be the only one).
  {
    pb::ProofBundle b = good;
    b.mutable_governance()->mutable_blocks(0)->mutable_records(0)->add_inclusion_proof(
        std::string(32, '\0'));
    ExpectFailure(Check(chain, b), ProofCheck::kGovernance, "carries an inclusion proof");
  }
  // A record left out: the block is no longer whole, and the others have no audit paths.
  {
    pb::ProofBundle b = good;
    b.mutable_governance()->mutable_blocks(0)->mutable_records()->RemoveLast();
    ExpectFailure(Check(chain, b), ProofCheck::kGovernance, "is not in the block");
  }
}

TEST_CASE(
    "governance walk: one certificate makes a run of consecutive blocks shorter than the delay "
    "final") {
  // Delay 10: a certificate's set never depends on the records of the 9 blocks before it.
  GovChain chain;
  REQUIRE(chain.network().governance().validator_change_delay_heights() == 10);
  chain.Pass(AddKeyChange("maison", "maison-2"));  // Four blocks each: heights 1 to 12.
  chain.Pass(AddKeyChange("atelier", "atelier-2"));
  chain.Pass(AddKeyChange("resale", "resale-2"));
  chain.CommitRecord("maison", Register(kMaisonItem));  // The header, at 13.
  const pb::ProofBundle good = chain.Bundle(kMaisonItem);
  REQUIRE(good.governance().blocks_size() == 12);
  // Blocks 1 to 9 are certified by block 10's certificate, 11 and 12 by the bundle's.
  for (int i = 0; i < 12; ++i) {
    INFO(i);
    CHECK(good.governance().blocks(i).has_certificate() == (i == 9));
  }
  auto v = Check(chain, good);
  REQUIRE_MESSAGE(v.ok(), v.failure->message);
  CHECK(v.item.walk_changes == 3);

  // Without block 10's certificate the run would reach the delay: refused at block 10.
  {
    pb::ProofBundle b = good;
    b.mutable_governance()->mutable_blocks(9)->clear_certificate();
    ExpectFailure(
        Check(chain, b), ProofCheck::kGovernance,
        "walk block 10 (height 10) has no certificate, nor have the walk blocks before it "
        "from height 1");
  }
  // The first block of the run altered: the blocks after it, rebuilt naming it, are no longer
  // those the certificate at the end of the run makes final.
  {
    pb::ProofBundle b = good;
    pb::BlockHeader h;
    REQUIRE(h.ParseFromString(b.governance().blocks(0).header()));
    h.set_time_ms(h.time_ms() + 1);
    b.mutable_governance()->mutable_blocks(0)->set_header(core::SerializeDeterministic(h));
    ExpectFailure(Check(chain, b), ProofCheck::kGovernance,
                  "walk block 10 (height 10): certificate by the validator set of that height");
  }
  // A block in the middle of the run left out: the run is broken.
  {
    pb::ProofBundle b = good;
    b.mutable_governance()->mutable_blocks()->DeleteSubrange(4, 1);
    ExpectFailure(Check(chain, b), ProofCheck::kGovernance, "does not follow");
  }
  // The bundle's certificate cut to a minority: the blocks it certifies are not final.
  {
    pb::ProofBundle b = good;
    b.mutable_certificate()->mutable_signatures()->DeleteSubrange(1, 2);
    ExpectFailure(Check(chain, b), ProofCheck::kCertificate, "not more than 2/3");
  }
}

TEST_CASE("governance walk: headers come without the chain id and the parent they follow") {
  GovChain chain;
  chain.Pass(AddKeyChange("maison", "maison-2"));  // Heights 1 to 4.
  chain.CommitRecord("maison", Register(kMaisonItem));
  const pb::ProofBundle good = chain.Bundle(kMaisonItem);
  REQUIRE(good.governance().blocks_size() == 4);
  for (int i = 0; i < 4; ++i) {
    pb::BlockHeader h;
    REQUIRE(h.ParseFromString(good.governance().blocks(i).header()));
    CHECK(h.chain_id().empty());
    CHECK(h.prev_hash().empty() == (i > 0));  // Height 1 names the zero parent.
  }
  REQUIRE(Check(chain, good).ok());

  auto edit = [&](int block, auto&& change) {
    pb::ProofBundle b = good;
    pb::BlockHeader h;
    REQUIRE(h.ParseFromString(b.governance().blocks(block).header()));
    change(h);
    b.mutable_governance()->mutable_blocks(block)->set_header(core::SerializeDeterministic(h));
    return b;
  };
  // The chain id written out, even the right one: a second encoding of the same walk.
  ExpectFailure(Check(chain, edit(0, [&](pb::BlockHeader& h) { h.set_chain_id("hallmark-test"); })),
                ProofCheck::kGovernance,
                "walk block 1 (height 1): the header carries the chain id");
  // The parent written out where it is the walk block before, even the right one.
  {
    pb::BlockHeader first;
    REQUIRE(first.ParseFromString(good.governance().blocks(0).header()));
    first.set_chain_id("hallmark-test");
    const std::string parent(core::Sha256Of(core::SerializeDeterministic(first)).view());
    ExpectFailure(Check(chain, edit(1, [&](pb::BlockHeader& h) { h.set_prev_hash(parent); })),
                  ProofCheck::kGovernance, "walk block 2 (height 2): the header names its parent");
  }
  // A header encoded otherwise (a field repeated: the last one wins when parsed).
  {
    pb::ProofBundle b = good;
    pb::BlockHeader h;
    REQUIRE(h.ParseFromString(b.governance().blocks(2).header()));
    std::string bytes = b.governance().blocks(2).header();
    bytes += core::SerializeDeterministic([&] {
      pb::BlockHeader only;
      only.set_height(h.height());
      return only;
    }());
    b.mutable_governance()->mutable_blocks(2)->set_header(bytes);
    ExpectFailure(Check(chain, b), ProofCheck::kGovernance, "not in canonical encoding");
  }
  // A walk block left out: the one after it names no parent.
  {
    pb::ProofBundle b = good;
    b.mutable_governance()->mutable_blocks()->DeleteSubrange(1, 1);
    ExpectFailure(Check(chain, b), ProofCheck::kGovernance, "names no parent");
  }
}

// --- Version 4: certified network-state snapshots (docs/proofs.md, "Following the validator
// sets without the rules") ---

namespace {

pb::GovernanceChange ChangeValidatorKeyChange(std::string_view from, std::string_view to) {
  pb::GovernanceChange c;
  c.mutable_change_validator_key()->set_consensus_key(std::string(PubFor(from).view()));
  c.mutable_change_validator_key()->set_new_consensus_key(std::string(PubFor(to).view()));
  return c;
}

uint64_t HeaderHeight(const pb::GovernanceBlock& b) {
  pb::BlockHeader h;
  REQUIRE(h.ParseFromString(b.header()));
  return h.height();
}

// The heights of the walk blocks that carry a snapshot.
std::vector<uint64_t> SnapshotHeights(const pb::GovernanceWalk& walk) {
  std::vector<uint64_t> out;
  for (const auto& b : walk.blocks()) {
    if (!b.network_state().empty() || !b.network_state_proof().empty()) {
      out.push_back(HeaderHeight(b));
    }
  }
  return out;
}
int WalkIndexAt(const pb::GovernanceWalk& walk, uint64_t height) {
  for (int i = 0; i < walk.blocks_size(); ++i) {
    if (HeaderHeight(walk.blocks(i)) == height) return i;
  }
  FAIL("no walk block at height " << height);
  return -1;
}

// Every kind of change: organisation and key changes (no snapshot), and a validator joining,
// its power changing, a validator's key changing and one leaving (a snapshot each), each in
// force before the next, then a record.
struct ValidatorStory {
  GovChain chain;
  std::vector<uint64_t> validator_changes;  // Heights of the completing blocks.
  uint64_t membership_change = 0;
  std::string after_second_change;  // kMaisonItem's bundle once the second is in force.

  ValidatorStory() {
    const uint64_t delay = chain.network().governance().validator_change_delay_heights();
    const std::vector<std::string> five = {"atelier", "resale", "authlab", "repairco", "nouveau"};
    chain.CommitRecord("maison", Register(kMaisonItem));
    chain.Pass(AddOrgChange("nouveau", pb::BRAND, {"7654321"}));
    membership_change = chain.height();
    chain.Pass(AddKeyChange("maison", "maison-2"), five);
    for (const pb::GovernanceChange& change :
         {AddValidatorChange("v4", "nouveau", "validator-4", 1), SetPowerChange("validator-0", 2),
          ChangeValidatorKeyChange("validator-1", "validator-5"),
          RemoveValidatorChange("validator-3")}) {
      chain.Pass(change, five);
      validator_changes.push_back(chain.height());
      chain.AdvanceTo(chain.height() + delay);
      if (validator_changes.size() == 2) after_second_change = chain.BundleBytes(kMaisonItem);
    }
    chain.CommitRecord("nouveau", Register(kNouveauItem));
  }
};

}  // namespace

TEST_CASE("walk snapshots: each validator-set change carries a certified snapshot, nothing else") {
  ValidatorStory s;
  GovChain& chain = s.chain;
  REQUIRE(chain.state().validator_epochs().size() == 5);
  pb::ProofBundle b = chain.Bundle(kNouveauItem);
  CHECK(b.version() == 4);
  auto v = Check(chain, b);
  REQUIRE_MESSAGE(v.ok(), v.failure->message);
  CHECK(v.item.walk_changes == 6);
  const pb::GovernanceWalk& walk = b.governance();
  CHECK(SnapshotHeights(walk) == s.validator_changes);
  CHECK(walk.network_state() == chain.state().GovernedBytes());
  for (uint64_t h : s.validator_changes) {
    const pb::GovernanceBlock& block = walk.blocks(WalkIndexAt(walk, h));
    CHECK(block.has_certificate());
    CHECK_FALSE(block.network_state_proof().empty());
  }
  // The membership and key changes carry none.
  CHECK(walk.blocks(WalkIndexAt(walk, s.membership_change)).network_state().empty());

  // The light-client walk reads every validator set from the snapshots and certificates alone:
  // each epoch after genesis' has its completing block (from_height - delay) with a snapshot.
  core::NetworkState read = core::NetworkState::FromGenesis(chain.network());
  core::Status light =
      core::LightWalkCheck(chain.network(), walk, b.header(), b.certificate(), &read);
  REQUIRE_MESSAGE(light.ok(), light.message());
  CHECK(read.GovernedHash() == chain.state().GovernedHash());
  const uint64_t delay = chain.network().governance().validator_change_delay_heights();
  const auto& epochs = read.validator_epochs();
  for (size_t i = 1; i < epochs.size(); ++i) {
    const pb::GovernanceBlock& block =
        walk.blocks(WalkIndexAt(walk, epochs[i].from_height - delay));
    CHECK_FALSE(block.network_state().empty());
  }

  // A bundle of an item before any change: no walk, no network state, the leaf absent.
  GovChain fresh;
  fresh.CommitRecord("maison", Register(kMaisonItem));
  pb::ProofBundle early = fresh.Bundle(kMaisonItem);
  CHECK(early.governance().network_state().empty());
  CHECK(Check(fresh, early).ok());
  CHECK(
      core::LightWalkCheck(fresh.network(), early.governance(), early.header(), early.certificate())
          .ok());
}

TEST_CASE("walk snapshots: every tampering with a snapshot is refused by the governance check") {
  ValidatorStory s;
  GovChain& chain = s.chain;
  const pb::ProofBundle good = chain.Bundle(kNouveauItem);
  REQUIRE(Check(chain, good).ok());
  const pb::GovernanceWalk& walk = good.governance();
  const int snap = WalkIndexAt(walk, s.validator_changes[1]);
  const int other_snap = WalkIndexAt(walk, s.validator_changes[2]);
  const int plain = WalkIndexAt(walk, s.membership_change);
  // A block of the walk that completes nothing (a proposal's block).
  const int proposal_block = snap - 1;
  REQUIRE(walk.blocks(proposal_block).network_state().empty());
  auto refused = [&](const pb::ProofBundle& b, std::string_view needle, bool light_too = true) {
    ExpectFailure(Check(chain, b), ProofCheck::kGovernance, needle);
    if (light_too) {
      CHECK_FALSE(
          core::LightWalkCheck(chain.network(), b.governance(), b.header(), b.certificate()).ok());
    }
  };

  SUBCASE("altered snapshot bytes") {
    pb::ProofBundle b = good;
    std::string* ns = b.mutable_governance()->mutable_blocks(snap)->mutable_network_state();
    (*ns)[ns->size() / 2] ^= 1;
    refused(b, "not the governed state");
  }
  SUBCASE("a snapshot moved to the block before") {
    pb::ProofBundle b = good;
    auto* blocks = b.mutable_governance()->mutable_blocks();
    blocks->Mutable(proposal_block)->set_network_state(blocks->Get(snap).network_state());
    blocks->Mutable(proposal_block)
        ->set_network_state_proof(blocks->Get(snap).network_state_proof());
    blocks->Mutable(snap)->clear_network_state();
    blocks->Mutable(snap)->clear_network_state_proof();
    refused(b, "completes no validator-set change");
  }
  SUBCASE("a snapshot removed") {
    pb::ProofBundle b = good;
    b.mutable_governance()->mutable_blocks(snap)->clear_network_state();
    b.mutable_governance()->mutable_blocks(snap)->clear_network_state_proof();
    refused(b, "carries no network-state snapshot");
  }
  SUBCASE("a snapshot added to a membership change") {
    pb::ProofBundle b = good;
    auto* blocks = b.mutable_governance()->mutable_blocks();
    blocks->Mutable(plain)->set_network_state(blocks->Get(snap).network_state());
    blocks->Mutable(plain)->set_network_state_proof(blocks->Get(snap).network_state_proof());
    refused(b, "completes no validator-set change", /*light_too=*/false);
  }
  SUBCASE("a proof under another block's root") {
    pb::ProofBundle b = good;
    auto* blocks = b.mutable_governance()->mutable_blocks();
    blocks->Mutable(snap)->set_network_state_proof(blocks->Get(other_snap).network_state_proof());
    refused(b, "does not prove under the block's state root");
  }
  SUBCASE("a proof that does not decode") {
    pb::ProofBundle b = good;
    b.mutable_governance()->mutable_blocks(snap)->set_network_state_proof("\x01");
    refused(b, "network-state snapshot proof");
  }
  SUBCASE("a snapshot block without its certificate") {
    pb::ProofBundle b = good;
    b.mutable_governance()->mutable_blocks(snap)->clear_certificate();
    refused(b, "certificate");
  }
  SUBCASE("the walk's network state altered") {
    pb::ProofBundle b = good;
    std::string* ns = b.mutable_governance()->mutable_network_state();
    (*ns)[ns->size() / 2] ^= 1;
    refused(b, "walk's network state");
  }
  SUBCASE("the walk's network state removed") {
    pb::ProofBundle b = good;
    b.mutable_governance()->clear_network_state();
    refused(b, "carries no network state");
  }
  SUBCASE("the walk's network state of an earlier height") {
    pb::ProofBundle b = good;
    b.mutable_governance()->set_network_state(walk.blocks(other_snap).network_state());
    refused(b, "walk's network state");
  }
  SUBCASE("snapshot fields in a version 3 bundle") {
    pb::ProofBundle b = good;
    b.set_version(3);
    b.mutable_governance()->clear_network_state();
    ExpectFailure(Check(chain, b), ProofCheck::kGovernance, "version 3");
    b = good;
    b.set_version(3);
    for (auto& block : *b.mutable_governance()->mutable_blocks()) {
      block.clear_network_state();
      block.clear_network_state_proof();
    }
    ExpectFailure(Check(chain, b), ProofCheck::kGovernance, "version 3");
  }
}

TEST_CASE("walk snapshots: version 3 bundles still verify, versions 5 and 0 are refused") {
  ValidatorStory s;
  GovChain& chain = s.chain;
  // A version 3 bundle as an older node built it: the same walk without the snapshot fields.
  pb::ProofBundle v3 = chain.Bundle(kNouveauItem);
  v3.set_version(3);
  v3.mutable_governance()->clear_network_state();
  for (auto& block : *v3.mutable_governance()->mutable_blocks()) {
    block.clear_network_state();
    block.clear_network_state_proof();
  }
  auto v = Check(chain, v3);
  REQUIRE_MESSAGE(v.ok(), v.failure->message);
  CHECK(v.item.walk_changes == 6);
  // The assembler's version 3 form (its runs may leave out more certificates) verifies as
  // version 3.
  pb::ProofBundle built3 = chain.Bundle(kNouveauItem, 0, chain.Walk(0, /*snapshots=*/false));
  built3.set_version(3);
  CHECK(built3.governance().network_state().empty());
  CHECK(SnapshotHeights(built3.governance()).empty());
  auto v3b = Check(chain, built3);
  REQUIRE_MESSAGE(v3b.ok(), v3b.failure->message);
  // Without its snapshots a version 4 bundle is refused.
  pb::ProofBundle as4 = v3;
  as4.set_version(4);
  ExpectFailure(Check(chain, as4), ProofCheck::kGovernance, "snapshot");

  for (uint32_t version : {0u, 5u, 6u}) {
    pb::ProofBundle b = chain.Bundle(kNouveauItem);
    b.set_version(version);
    ExpectFailure(Check(chain, b), ProofCheck::kFormat, "not supported");
  }
}

TEST_CASE("walk snapshots: a walk from a trusted height carries the snapshots after it") {
  ValidatorStory s;
  GovChain& chain = s.chain;
  auto first = core::VerifyProofBundle(chain.network(), s.after_second_change);
  REQUIRE_MESSAGE(first.ok(), first.failure->message);
  const core::TrustedState trusted{first.item.height, *first.item.network_state};
  pb::ProofBundle warm = chain.Bundle(kNouveauItem, trusted.height);
  const std::vector<uint64_t> expected(s.validator_changes.begin() + 2, s.validator_changes.end());
  CHECK(SnapshotHeights(warm.governance()) == expected);
  CHECK(warm.governance().network_state() == chain.state().GovernedBytes());
  auto v = Check(chain, warm, &trusted);
  REQUIRE_MESSAGE(v.ok(), v.failure->message);
  CHECK(v.item.walk_changes == 2);
  // A snapshot removed is refused here too.
  const int first_snapshot = WalkIndexAt(warm.governance(), expected.front());
  warm.mutable_governance()->mutable_blocks(first_snapshot)->clear_network_state();
  warm.mutable_governance()->mutable_blocks(first_snapshot)->clear_network_state_proof();
  ExpectFailure(Check(chain, warm, &trusted), ProofCheck::kGovernance,
                "carries no network-state snapshot");
}
