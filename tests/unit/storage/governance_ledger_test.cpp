// Governance records in the ledger (docs/governance.md): they commit in ordinary blocks, change
// the network state, which the state tree commits to under NetworkStateLeafKey(); the custody
// rules of each block see the members and keys in force at its height; a revoked key's records
// are refused from the block after the revocation completes, and what it signed before stays.
#include <doctest/doctest.h>

#include "core/codec.h"
#include "core/merkle.h"
#include "core/smt.h"
#include "fixtures.h"
#include "governance_fixture.h"
#include "storage/ledger.h"
#include "test_util.h"

using namespace hallmark;
using namespace hallmark::test;
using core::Hash256;

namespace {

const Hash256 kProposer = PubFor("validator-0");

std::unique_ptr<storage::Ledger> OpenGovLedger(const TempDir& dir, const core::Network& net) {
  auto l = storage::Ledger::Open(dir.path(), net, storage::LedgerOptions{.sync = false});
  INFO(l.status().ToString());
  REQUIRE(l.ok());
  return std::move(l).value();
}

// Builds and commits a block of `records`; returns what was dropped.
std::vector<storage::DroppedRecord> Commit(storage::Ledger& ledger,
                                           const std::vector<pb::Envelope>& records) {
  const uint64_t time = kTestTimeMs + 1000 * (ledger.height() + 1);
  auto prepared = ledger.BuildBlock(records, time, kProposer);
  INFO(prepared.status().ToString());
  REQUIRE(prepared.ok());
  REQUIRE(ledger.Commit(*prepared).ok());
  return prepared->dropped;
}

pb::Envelope Register(std::string_view signer, const std::string& serial) {
  auto p = Payload("01/00614141000012/21/" + serial);
  p.mutable_register_();
  return Sign(signer, p);
}

bool LeafPresent(const storage::Ledger& ledger) {
  auto proof = ledger.ProveItem(core::NetworkStateLeafKey());
  REQUIRE(proof.ok());
  // An absence proof may end at another key's leaf: ask the verifier.
  return !core::VerifySmtProof(ledger.StateRoot(), core::NetworkStateLeafKey(), std::nullopt,
                               *proof);
}

// Passes `change` proposed by `proposer`: the proposal in one block, the approvals in the next.
// Returns the height of the completing block.
uint64_t Pass(storage::Ledger& ledger, const std::string& proposer_key, const std::string& org,
              const pb::GovernanceChange& change) {
  pb::Envelope proposal = ProposeEnv(proposer_key, change, ledger.height() + 100);
  REQUIRE(Commit(ledger, {proposal}).empty());
  std::vector<pb::Envelope> approvals;
  for (const auto& o : TestApprovers(org)) approvals.push_back(ApproveEnv(o, RecordId(proposal)));
  auto dropped = Commit(ledger, approvals);
  for (const auto& d : dropped) FAIL(d.rejection.ToString());
  return ledger.height();
}

}  // namespace

TEST_CASE("ledger governance: a store without governance has no network-state leaf") {
  TempDir dir;
  auto net = TestNetwork();
  auto ledger = OpenGovLedger(dir, net);
  Commit(*ledger, {Register("maison", "G-1")});
  CHECK_FALSE(LeafPresent(*ledger));
  CHECK(ledger->network_state()->Hash() == core::NetworkState::FromGenesis(net).Hash());
  CHECK(ledger->ListGovernance(0, 100)->empty());
}

TEST_CASE(
    "ledger governance: a key rotation commits, bites from the next block, and survives "
    "a restart") {
  TempDir dir;
  auto net = TestNetwork();
  auto ledger = OpenGovLedger(dir, net);
  Commit(*ledger, {Register("maison", "OLD-1")});

  // Add "maison-2" to maison: proposed at 2, completed at 3, in force from 4.
  const uint64_t added = Pass(*ledger, "maison", "maison", AddKeyChange("maison", "maison-2"));
  CHECK(added == 3);
  CHECK(LeafPresent(*ledger));
  CHECK(ledger->network_state()->IsKeyValid(PubFor("maison-2"), "maison", 4));
  CHECK_FALSE(ledger->network_state()->IsKeyValid(PubFor("maison-2"), "maison", 3));
  CHECK(ledger->ListGovernance(0, 100)->size() == 4);
  CHECK(ledger->ListGovernance(3, 100)->size() == 3);

  // The leaf holds the governed hash of the state.
  auto proof = ledger->ProveItem(core::NetworkStateLeafKey());
  REQUIRE(proof.ok());
  REQUIRE(proof->leaf.has_value());
  CHECK(core::VerifySmtProof(ledger->StateRoot(), core::NetworkStateLeafKey(),
                             ledger->network_state()->GovernedHash(), *proof));

  // Revoke the old key, proposed with the new one: proposed at 4, completed at 5, in force at 6.
  pb::Envelope proposal =
      ProposeEnv("maison-2", RevokeKeyChange("maison", "maison"), ledger->height() + 100);
  REQUIRE(Commit(*ledger, {proposal}).empty());
  std::vector<pb::Envelope> block5;
  for (const auto& o : TestApprovers("maison")) block5.push_back(ApproveEnv(o, RecordId(proposal)));
  // In the completing block the old key still signs: a block is one unit.
  block5.push_back(Register("maison", "OLD-2"));
  auto dropped = Commit(*ledger, block5);
  for (const auto& d : dropped) FAIL(d.rejection.ToString());
  CHECK(ledger->height() == 5);

  // From block 6 the old key is refused, with the reason; the new one signs.
  dropped = Commit(*ledger, {Register("maison", "OLD-3"), Register("maison-2", "NEW-1")});
  REQUIRE(dropped.size() == 1);
  CHECK(dropped[0].index == 0);
  CHECK(dropped[0].rejection.reason == core::RejectReason::kNotAuthorized);
  CHECK(dropped[0].rejection.message.find("revoked at height 6") != std::string::npos);
  CHECK(dropped[0].rejection.message.find("maison") != std::string::npos);

  // What the old key signed before stays.
  auto old = ledger->GetItem(core::ParseItemId("01/00614141000012/21/OLD-2")->Key());
  REQUIRE(old.ok());
  CHECK(old->has_value());

  // A restart reads the state back and checks it against the tree.
  const Hash256 state_hash = ledger->network_state()->Hash();
  const Hash256 root = ledger->StateRoot();
  ledger.reset();
  ledger = OpenGovLedger(dir, net);
  CHECK(ledger->network_state()->Hash() == state_hash);
  CHECK(ledger->StateRoot() == root);
  auto again = ledger->BuildBlock(std::vector<pb::Envelope>{Register("maison", "OLD-4")},
                                  kTestTimeMs + 100'000, kProposer);
  REQUIRE(again.ok());
  CHECK(again->dropped.size() == 1);

  // Earlier states stay readable.
  auto at2 = ledger->NetworkStateAfter(2);
  REQUIRE(at2.ok());
  CHECK(at2->pending().size() == 1);
  CHECK_FALSE(at2->IsKeyValid(PubFor("maison-2"), "maison", 100));
  auto at0 = ledger->NetworkStateAfter(0);
  REQUIRE(at0.ok());
  CHECK(at0->Hash() == core::NetworkState::FromGenesis(net).Hash());
}

TEST_CASE(
    "ledger governance: followers validate governance blocks to the same roots, and "
    "refuse a block with a forged or premature governance record") {
  TempDir a_dir, b_dir;
  auto net = TestNetwork();
  auto a = OpenGovLedger(a_dir, net);
  auto b = OpenGovLedger(b_dir, net);
  Pass(*a, "maison", "maison", AddOrgChange("newmarket", pb::MARKETPLACE));
  Commit(*a, {Register("maison", "X-1")});
  for (uint64_t h = 1; h <= a->height(); ++h) {
    auto block = a->GetBlock(h);
    REQUIRE(block.ok());
    REQUIRE(block->has_value());
    auto st = b->CommitBlock(**block);
    INFO(st.ToString());
    REQUIRE(st.ok());
  }
  CHECK(b->StateRoot() == a->StateRoot());
  CHECK(b->network_state()->Hash() == a->network_state()->Hash());
  CHECK(b->membership()->FindOrganization("newmarket") != nullptr);

  // A block whose approval is signed by a non-member is refused whole.
  pb::Envelope proposal = ProposeEnv("atelier", RemoveOrgChange("repairco"), a->height() + 50);
  Commit(*a, {proposal});
  REQUIRE(b->CommitBlock(**a->GetBlock(a->height())).ok());
  pb::Envelope stranger = ApproveEnv("mallory", RecordId(proposal));
  auto forged =
      a->BuildBlock(std::vector<pb::Envelope>{stranger}, kTestTimeMs + 500'000, kProposer);
  REQUIRE(forged.ok());
  REQUIRE(forged->dropped.size() == 1);
  CHECK(forged->dropped[0].rejection.reason == core::RejectReason::kNotMember);
  // Hand-made: the record slipped into a block a proposer built without it.
  auto honest = a->BuildBlock(std::vector<pb::Envelope>{}, kTestTimeMs + 500'000, kProposer);
  REQUIRE(honest.ok());
  pb::Block bad = honest->block;
  *bad.add_records() = stranger;
  pb::BlockHeader header = honest->header;
  header.set_record_count(1);
  const std::vector<Hash256> leaves{core::MerkleLeafHash(RecordId(stranger).span())};
  header.set_records_root(std::string(core::MerkleRoot(leaves).view()));
  bad.set_header(core::SerializeDeterministic(header));
  auto verdict = b->ValidateBlock(bad);
  CHECK_FALSE(verdict.ok());
  CHECK(verdict.status().message().find("governance") != std::string::npos);
}

TEST_CASE("ledger governance: a removed organisation's keys sign nothing, its items stay") {
  TempDir dir;
  auto net = TestNetwork();
  auto ledger = OpenGovLedger(dir, net);
  // repairco services an item before its removal.
  pb::Envelope reg = Register("maison", "R-1");
  Commit(*ledger, {reg});
  const uint64_t removed = Pass(*ledger, "atelier", "atelier", RemoveOrgChange("repairco"));
  CHECK(ledger->network_state()->FindOrganization("repairco") != nullptr);
  CHECK_FALSE(ledger->network_state()->FindOrganization("repairco")->MemberAt(removed + 1));
  CHECK(ledger->membership()->FindOrganization("repairco") == nullptr);
  auto p = Payload("01/00614141000012/21/R-1", Id(reg));
  p.mutable_service()->set_kind(pb::REPAIR);
  p.mutable_service()->set_note("polish");
  auto dropped = Commit(*ledger, {Sign("repairco", p)});
  REQUIRE(dropped.size() == 1);
  CHECK(dropped[0].rejection.reason == core::RejectReason::kNotAuthorized);
  CHECK(dropped[0].rejection.message.find("removed") != std::string::npos);
  auto item = ledger->GetItem(core::ParseItemId("01/00614141000012/21/R-1")->Key());
  REQUIRE(item.ok());
  CHECK(item->has_value());
}

TEST_CASE("ledger governance: a validator added in block h proposes from h + delay, not before") {
  TempDir dir;
  auto net = TestNetwork();
  auto ledger = OpenGovLedger(dir, net);
  const uint64_t done =
      Pass(*ledger, "maison", "maison", AddValidatorChange("v4", "resale", "validator-4", 1));
  const uint64_t delay = net.governance().validator_change_delay_heights();
  CHECK(ledger->ValidatorSetAt(done + delay).Find(PubFor("validator-4")) != nullptr);
  CHECK(ledger->ValidatorSetAt(done + delay - 1).Find(PubFor("validator-4")) == nullptr);
  // A follower refuses the newcomer's blocks until its set is in force.
  TempDir other_dir;
  auto other = OpenGovLedger(other_dir, net);
  for (uint64_t h = 1; h <= ledger->height(); ++h)
    REQUIRE(other->CommitBlock(**ledger->GetBlock(h)).ok());
  while (ledger->height() + 1 < done + delay) {
    auto early =
        ledger->BuildBlock(std::vector<pb::Envelope>{},
                           kTestTimeMs + 10'000 * (ledger->height() + 1), PubFor("validator-4"));
    REQUIRE(early.ok());
    auto verdict = other->ValidateBlock(early->block);
    REQUIRE_FALSE(verdict.ok());
    CHECK(verdict.status().message().find("is not a validator at height") != std::string::npos);
    Commit(*ledger, {});
    REQUIRE(other->CommitBlock(**ledger->GetBlock(ledger->height())).ok());
  }
  auto in_force =
      ledger->BuildBlock(std::vector<pb::Envelope>{}, kTestTimeMs + 10'000 * (ledger->height() + 1),
                         PubFor("validator-4"));
  REQUIRE(in_force.ok());
  auto verdict = other->ValidateBlock(in_force->block);
  INFO(verdict.status().ToString());
  CHECK(verdict.ok());
}

namespace {

pb::GovernanceChange RenameChange(const std::string& org, const std::string& name) {
  pb::GovernanceChange c;
  auto* u = c.mutable_update_organization();
  u->set_id(org);
  u->set_display_name(name);
  u->add_roles(pb::MARKETPLACE);
  return c;
}

// A block with `records` on top of `ledger`'s head, hand-made as a proposer that skips the rules
// would make it (the honest BuildBlock drops what the rules refuse).
pb::Block HandMadeBlock(storage::Ledger& ledger, const std::vector<pb::Envelope>& records) {
  auto empty = ledger.BuildBlock(std::vector<pb::Envelope>{},
                                 kTestTimeMs + 1000 * (ledger.height() + 1), kProposer);
  REQUIRE(empty.ok());
  pb::Block block = empty->block;
  pb::BlockHeader header = empty->header;
  std::vector<Hash256> leaves;
  for (const auto& r : records) {
    *block.add_records() = r;
    leaves.push_back(core::MerkleLeafHash(RecordId(r).span()));
  }
  header.set_record_count(static_cast<uint32_t>(records.size()));
  header.set_records_root(std::string(core::MerkleRoot(leaves).view()));
  block.set_header(core::SerializeDeterministic(header));
  return block;
}

}  // namespace

TEST_CASE(
    "ledger governance: a committed proposal and its approvals cannot be replayed to apply "
    "their change again") {
  TempDir dir;
  auto net = TestNetwork();
  auto ledger = OpenGovLedger(dir, net);
  // resale is renamed "First", then "Second"; both proposals are still unexpired.
  pb::Envelope first = ProposeEnv("resale", RenameChange("resale", "First"), 100);
  REQUIRE(Commit(*ledger, {first}).empty());
  std::vector<pb::Envelope> first_approvals;
  for (const auto& o : TestApprovers("resale"))
    first_approvals.push_back(ApproveEnv(o, RecordId(first)));
  REQUIRE(Commit(*ledger, first_approvals).empty());
  const uint64_t first_height = 1;
  Pass(*ledger, "resale", "resale", RenameChange("resale", "Second"));
  const uint64_t next = ledger->height() + 1;
  REQUIRE(ledger->network_state()->FindOrganization("resale")->VersionAt(next).display_name ==
          "Second");

  // A proposer puts the old proposal and its approvals in a block again: every record is
  // refused as already committed, and the rename is not undone.
  std::vector<pb::Envelope> replay{first};
  replay.insert(replay.end(), first_approvals.begin(), first_approvals.end());
  auto built = ledger->BuildBlock(replay, kTestTimeMs + 1000 * next, kProposer);
  REQUIRE(built.ok());
  REQUIRE(built->dropped.size() == replay.size());
  CHECK(built->dropped[0].rejection.reason == core::RejectReason::kDuplicate);
  CHECK(built->dropped[0].rejection.message.find(
            "already committed at height " + std::to_string(first_height)) != std::string::npos);
  CHECK(built->header.record_count() == 0);

  // A follower refuses such a block whole; the ledger is unchanged.
  const Hash256 root = ledger->StateRoot();
  auto verdict = ledger->ValidateBlock(HandMadeBlock(*ledger, replay));
  REQUIRE_FALSE(verdict.ok());
  CHECK(verdict.status().message().find("already committed") != std::string::npos);
  CHECK(ledger->StateRoot() == root);
  CHECK(ledger->network_state()->FindOrganization("resale")->VersionAt(next).display_name ==
        "Second");
  // The proposal stays indexed at the height it was committed.
  auto stored = ledger->GetRecord(RecordId(first));
  REQUIRE(stored.ok());
  REQUIRE(stored->has_value());
  CHECK((*stored)->height() == first_height);
}

TEST_CASE(
    "ledger governance: a data folder written before governance opens with its roots and "
    "takes governance on top") {
  // tests/fixtures/pre_governance_ledger/README.md says how it was written.
  TempDir dir;
  const std::filesystem::path src =
      std::filesystem::path(HALLMARK_SOURCE_DIR) / "tests/fixtures/pre_governance_ledger";
  for (const char* name : {"CURRENT", "MANIFEST-000002", "000003.log"}) {
    std::filesystem::copy_file(src / name, dir.path() / name);
  }
  auto net = TestNetwork();
  auto ledger = OpenGovLedger(dir, net);
  CHECK(ledger->height() == 3);
  CHECK(ledger->StateRoot().Hex() ==
        "d5b22837251c4361bb442e3e72d55b67feb309ffef1018d96578274cd3baa95b");
  CHECK_FALSE(LeafPresent(*ledger));
  CHECK(ledger->network_state()->Hash() == core::NetworkState::FromGenesis(net).Hash());
  CHECK(ledger->ListGovernance(0, 100)->empty());
  auto item = ledger->GetItem(core::ParseItemId("01/00614141000012/21/PG-2")->Key());
  REQUIRE(item.ok());
  CHECK(item->has_value());

  // Governance then acts on it, and it reopens.
  Pass(*ledger, "maison", "maison", AddKeyChange("maison", "maison-2"));
  CHECK(LeafPresent(*ledger));
  const Hash256 root = ledger->StateRoot();
  ledger.reset();
  ledger = OpenGovLedger(dir, net);
  CHECK(ledger->StateRoot() == root);
  CHECK(ledger->network_state()->IsKeyValid(PubFor("maison-2"), "maison", ledger->height() + 1));
}
