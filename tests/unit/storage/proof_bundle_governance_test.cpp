// Proof bundles across governance changes, end to end through a real LevelDB ledger: the node's
// builder (storage/proof_bundle.cpp) puts the walk of every completed change in the bundle, and
// the consumer's verifier checks items registered before, between and after the changes with
// genesis alone, or with a state it checked before and only the changes since.
#include <doctest/doctest.h>

#include <leveldb/db.h>
#include <leveldb/write_batch.h>

#include <sstream>

#include "core/codec.h"
#include "core/governance_proof.h"
#include "core/proof_bundle.h"
#include "governance_fixture.h"
#include "proof_fixture.h"
#include "storage/keys.h"

using namespace hallmark;
using namespace hallmark::test;

namespace {

constexpr const char* kNouveauItem = "01/07654321000015/21/N-1";
constexpr const char* kMaisonItem2 = "01/00614141000029/21/BAG-0002";
constexpr const char* kNever = "01/00614141000029/21/NEVER";

core::ProofVerdict Verify(const ProvenChain& chain, const std::string& bytes,
                          const core::TrustedState* trusted = nullptr) {
  core::VerifyOptions o;
  o.trusted = trusted;
  return core::VerifyProofBundle(chain.network(), bytes, o);
}

// Passes `change`: the proposal by `proposer` (a key name) in one block, then the approvals of
// `approvers` in the next.
void Pass(ProvenChain& chain, const std::string& proposer, const pb::GovernanceChange& change,
          const std::vector<std::string>& approvers) {
  pb::Envelope proposal = ProposeEnv(proposer, change, chain.ledger().height() + 100);
  chain.Commit({proposal});
  std::vector<pb::Envelope> approvals;
  for (const auto& a : approvers) approvals.push_back(ApproveEnv(a, RecordId(proposal)));
  chain.Commit(approvals);
}

pb::GovernanceChange RemoveValidator(std::string_view key_name) {
  pb::GovernanceChange c;
  c.mutable_remove_validator()->set_consensus_key(std::string(PubFor(key_name).view()));
  return c;
}

pb::Envelope Register(std::string_view signer, std::string_view item) {
  pb::RecordPayload p = Payload(item);
  p.mutable_register_();
  return Sign(signer, p);
}

// Bytes of a length-delimited field of `length` bytes with a one-byte tag.
size_t Field(size_t length) {
  size_t varint = 1;
  for (size_t v = length; v >= 128; v >>= 7) ++varint;
  return 1 + varint + length;
}

// Where a bundle's bytes go, each part with its tags and lengths (docs/proofs.md, "How large a
// bundle can be").
std::string Breakdown(const pb::ProofBundle& b) {
  size_t history = 0, walk_envelopes = 0, walk_headers = 0, walk_certs = 0, walk_paths = 0,
         walk_framing = 0;
  for (const auto& e : b.history()) history += Field(e.ByteSizeLong());
  for (const auto& block : b.governance().blocks()) {
    walk_headers += Field(block.header().size());
    if (block.has_certificate()) walk_certs += Field(block.certificate().ByteSizeLong());
    for (const auto& r : block.records()) {
      walk_envelopes += Field(r.envelope().ByteSizeLong());
      for (const auto& h : r.inclusion_proof()) walk_paths += Field(h.size());
    }
    const size_t block_size = block.ByteSizeLong();
    walk_framing += Field(block_size) - block_size;
  }
  size_t snapshots = 0;  // Version 4: the snapshots of validator-change blocks.
  for (const auto& block : b.governance().blocks()) {
    if (!block.network_state().empty()) snapshots += Field(block.network_state().size());
    if (!block.network_state_proof().empty())
      snapshots += Field(block.network_state_proof().size());
  }
  const size_t walk_total = Field(b.governance().ByteSizeLong());
  const size_t nsp = Field(b.governance().network_state_proof().size());
  const size_t ns =
      b.governance().network_state().empty() ? 0 : Field(b.governance().network_state().size());
  walk_framing =
      walk_total - walk_envelopes - walk_headers - walk_certs - walk_paths - nsp - ns - snapshots;
  const size_t cert = Field(b.certificate().ByteSizeLong());
  const size_t header = Field(b.header().size());
  const size_t state_proof = Field(b.state_proof().size());
  const size_t state = Field(b.state().size());
  const size_t heights = b.ByteSizeLong() - [&] {
    pb::ProofBundle c = b;
    c.clear_history_heights();
    return c.ByteSizeLong();
  }();
  const size_t rest =
      b.ByteSizeLong() - history - walk_total - cert - header - state_proof - state - heights;
  std::ostringstream out;
  out << "history envelopes " << history << ", heights " << heights << ", header " << header
      << ", certificate " << cert << ", state proof " << state_proof << ", state " << state
      << ", other fields " << rest << "; walk " << walk_total << ": envelopes " << walk_envelopes
      << ", headers " << walk_headers << ", certificates " << walk_certs << ", audit paths "
      << walk_paths << ", network-state proof " << nsp << ", network state " << ns << ", snapshots "
      << snapshots << ", framing and indices " << walk_framing;
  return out.str();
}

}  // namespace

TEST_CASE("governance proofs: items before, between and after changes verify with genesis") {
  ProvenChain chain;
  auto a = LiveItem(chain, kMaisonItem, 3);
  const std::string before = chain.BundleBytes(kMaisonItem);
  const std::vector<std::string> five = {"atelier", "resale", "authlab", "repairco"};

  Pass(chain, "maison", AddOrgChange("nouveau", pb::BRAND, {"7654321"}),
       {"atelier", "resale", "authlab"});
  chain.Commit({Register("nouveau", kNouveauItem)});
  Pass(chain, "maison", AddKeyChange("maison", "maison-2"), five);
  Pass(chain, "maison", RevokeKeyChange("maison", "maison"), five);
  chain.Commit({Register("maison-2", kMaisonItem2)});
  const std::string between = chain.BundleBytes(kMaisonItem2);

  // A validator joins; once it is in force it certifies, and then another leaves.
  Pass(chain, "maison-2", AddValidatorChange("v4", "nouveau", "validator-4", 1), five);
  const uint64_t delay = chain.network().governance().validator_change_delay_heights();
  for (uint64_t i = 0; i < delay; ++i) chain.Commit({});
  chain.SetSigners({0, 1, 2, 4});  // 4 of 5.
  Pass(chain, "maison-2", RemoveValidator("validator-3"), five);
  for (uint64_t i = 0; i < delay; ++i) chain.Commit({});
  chain.SetSigners({0, 2, 4});  // 3 of 4.
  {
    pb::RecordPayload p = Payload(kMaisonItem, Id(a.back()));
    *p.mutable_transfer()->mutable_to() = OrgHolder("nouveau");
    chain.CommitOne("resale", p);
  }
  auto head_set = chain.ledger().ValidatorSetAt(chain.ledger().height());
  REQUIRE(head_set.validators.size() == 4);
  REQUIRE(head_set.Find(PubFor("validator-3")) == nullptr);

  for (const char* item : {kMaisonItem, kNouveauItem, kMaisonItem2, kNever}) {
    INFO(item);
    const std::string bytes = chain.BundleBytes(item);
    auto v = Verify(chain, bytes);
    REQUIRE_MESSAGE(v.ok(), v.failure->message);
    CHECK(v.item.walk_changes == 5);
    CHECK(v.item.validators == 4);
    CHECK(v.item.network_state->GovernedHash() == chain.ledger().network_state()->GovernedHash());
  }
  auto v = Verify(chain, chain.BundleBytes(kMaisonItem2));
  REQUIRE(v.ok());
  CHECK(v.item.steps[0].author == "maison");
  // Bundles saved before stay checkable with genesis alone.
  auto old = Verify(chain, before);
  REQUIRE_MESSAGE(old.ok(), old.failure->message);
  CHECK(old.item.walk_changes == 0);
  auto mid = Verify(chain, between);
  REQUIRE_MESSAGE(mid.ok(), mid.failure->message);
  CHECK(mid.item.walk_changes == 3);

  // A walk with one record dropped (a skipped approval) or a withheld change fails by name.
  pb::ProofBundle b;
  REQUIRE(b.ParseFromString(chain.BundleBytes(kMaisonItem)));
  pb::ProofBundle skipped = b;
  skipped.mutable_governance()->mutable_blocks(1)->mutable_records()->RemoveLast();
  auto sv = Verify(chain, core::SerializeDeterministic(skipped));
  REQUIRE_FALSE(sv.ok());
  CHECK(sv.failure->check == core::ProofCheck::kGovernance);
  // The key revocation (walk blocks 5 and 6) withheld: no certificate shows it, the state does.
  pb::ProofBundle withheld = b;
  REQUIRE(withheld.governance().blocks_size() == 10);
  withheld.mutable_governance()->mutable_blocks()->DeleteSubrange(4, 2);
  // Walk block 4 was certified through the withheld blocks: give it its own certificate, so
  // only the state leaf can tell.
  {
    pb::BlockHeader h;
    REQUIRE(h.ParseFromString(withheld.governance().blocks(3).header()));
    auto stored = chain.ledger().GetCertificate(h.height());
    REQUIRE(stored.ok());
    REQUIRE(stored->has_value());
    REQUIRE(
        withheld.mutable_governance()->mutable_blocks(3)->mutable_certificate()->ParseFromString(
            **stored));
  }
  // Version 4: the next validator change's snapshot already differs from the replayed state.
  auto wv = Verify(chain, core::SerializeDeterministic(withheld));
  REQUIRE_FALSE(wv.ok());
  CHECK(wv.failure->check == core::ProofCheck::kGovernance);
  INFO(wv.failure->message);
  CHECK(wv.failure->message.find("snapshot is not the governed state") != std::string::npos);
  // Version 3 (no snapshots): only the certified state leaf can tell.
  withheld.set_version(3);
  withheld.mutable_governance()->clear_network_state();
  for (auto& block : *withheld.mutable_governance()->mutable_blocks()) {
    block.clear_network_state();
    block.clear_network_state_proof();
  }
  auto wv3 = Verify(chain, core::SerializeDeterministic(withheld));
  REQUIRE_FALSE(wv3.ok());
  CHECK(wv3.failure->check == core::ProofCheck::kGovernance);
  CHECK(wv3.failure->message.find("does not match") != std::string::npos);
}

TEST_CASE("governance proofs: since a trusted height, only the newer changes are sent") {
  ProvenChain chain;
  auto a = LiveItem(chain, kMaisonItem, 2);
  Pass(chain, "maison", AddKeyChange("maison", "maison-2"), {"atelier", "resale", "authlab"});
  auto first = Verify(chain, chain.BundleBytes(kMaisonItem));
  REQUIRE(first.ok());
  const core::TrustedState trusted{first.item.height, *first.item.network_state};

  Pass(chain, "maison", AddKeyChange("atelier", "atelier-2"), {"atelier", "resale", "authlab"});
  Pass(chain, "maison", AddKeyChange("resale", "resale-2"), {"atelier", "resale", "authlab"});
  const std::string full = chain.BundleBytes(kMaisonItem);
  const std::string since = chain.BundleBytes(kMaisonItem, trusted.height);
  CHECK(since.size() < full.size());
  auto warm = Verify(chain, since, &trusted);
  REQUIRE_MESSAGE(warm.ok(), warm.failure->message);
  CHECK(warm.item.walk_changes == 2);
  CHECK(warm.item.network_state->GovernedHash() == chain.ledger().network_state()->GovernedHash());
  auto cold = Verify(chain, since);
  REQUIRE_FALSE(cold.ok());
  CHECK(cold.failure->check == core::ProofCheck::kGovernance);
  CHECK(Verify(chain, full).ok());
  // A client ahead of this node gets a walk from genesis.
  pb::ProofBundle ahead;
  REQUIRE(ahead.ParseFromString(chain.BundleBytes(kMaisonItem, chain.ledger().height() + 5)));
  CHECK(ahead.governance().from_height() == 0);
  MESSAGE("bundle with 3 changes: " << full.size() << " bytes from genesis, " << since.size()
                                    << " bytes since height " << trusted.height);
}

TEST_CASE("governance proofs: size of a 20-record bundle after 10 changes") {
  // Ten key additions, each a proposal and three approvals (5 members): either the proposal in
  // one block and the approvals in the next (the usual shape), or all four in one block.
  for (bool one_block : {false, true}) {
    ProvenChain chain;
    const char* orgs[] = {"maison", "atelier", "resale", "authlab", "repairco"};
    for (int i = 0; i < 10; ++i) {
      const std::string org = orgs[i % 5];
      const auto change = AddKeyChange(org, org + "-k" + std::to_string(i));
      if (one_block) {
        pb::Envelope proposal = ProposeEnv(org, change, chain.ledger().height() + 100);
        std::vector<pb::Envelope> records{proposal};
        for (const auto& a : TestApprovers(org)) {
          records.push_back(ApproveEnv(a, RecordId(proposal)));
        }
        chain.Commit(records);
      } else {
        Pass(chain, org, change, TestApprovers(org));
      }
    }
    LiveItem(chain, kMaisonItem, 20);
    const std::string bytes = chain.BundleBytes(kMaisonItem);
    auto v = Verify(chain, bytes);
    REQUIRE_MESSAGE(v.ok(), v.failure->message);
    CHECK(v.item.walk_changes == 10);
    pb::ProofBundle b;
    REQUIRE(b.ParseFromString(bytes));
    const size_t walk = core::SerializeDeterministic(b.governance()).size();
    pb::ProofBundle no_walk = b;
    no_walk.clear_governance();
    MESSAGE("20 records, 10 changes ("
            << b.governance().blocks_size() << " walk blocks, 40 governance records): bundle "
            << bytes.size() << " bytes, of which the walk " << walk << " bytes; without the walk "
            << core::SerializeDeterministic(no_walk).size() << " bytes");
    MESSAGE(Breakdown(b));
  }
}

namespace {

std::vector<uint64_t> SnapshotHeights(const pb::GovernanceWalk& walk) {
  std::vector<uint64_t> out;
  for (const auto& b : walk.blocks()) {
    if (b.network_state().empty() && b.network_state_proof().empty()) continue;
    pb::BlockHeader h;
    REQUIRE(h.ParseFromString(b.header()));
    out.push_back(h.height());
  }
  return out;
}

// Deletes every key starting with `prefix` from the closed store in `dir`.
void DeleteRaw(const std::filesystem::path& dir, std::string_view prefix) {
  leveldb::DB* raw = nullptr;
  REQUIRE(leveldb::DB::Open(leveldb::Options(), dir.string(), &raw).ok());
  std::unique_ptr<leveldb::DB> db(raw);
  leveldb::WriteBatch batch;
  std::unique_ptr<leveldb::Iterator> it(db->NewIterator(leveldb::ReadOptions()));
  for (it->Seek(leveldb::Slice(prefix.data(), prefix.size()));
       it->Valid() && it->key().starts_with(leveldb::Slice(prefix.data(), prefix.size()));
       it->Next()) {
    batch.Delete(it->key());
  }
  REQUIRE(db->Write(leveldb::WriteOptions(), &batch).ok());
}

}  // namespace

TEST_CASE("governance proofs: the ledger keeps a certified snapshot of each validator change") {
  ProvenChain chain;
  LiveItem(chain, kMaisonItem, 2);
  const std::vector<std::string> five = {"atelier", "resale", "authlab", "repairco"};
  Pass(chain, "maison", AddOrgChange("nouveau", pb::BRAND, {"7654321"}),
       {"atelier", "resale", "authlab"});
  Pass(chain, "maison", AddKeyChange("maison", "maison-2"), five);
  Pass(chain, "maison", AddValidatorChange("v4", "nouveau", "validator-4", 1), five);
  const uint64_t joined = chain.ledger().height();
  const uint64_t delay = chain.network().governance().validator_change_delay_heights();
  for (uint64_t i = 0; i < delay; ++i) chain.Commit({});
  chain.SetSigners({0, 1, 2, 4});
  Pass(chain, "maison", RemoveValidator("validator-3"), five);
  const uint64_t left = chain.ledger().height();
  for (uint64_t i = 0; i < delay; ++i) chain.Commit({});
  chain.SetSigners({0, 2, 4});
  chain.Commit({Register("nouveau", kNouveauItem)});

  // Stored at commit time, for the validator-change blocks only.
  for (uint64_t h = 1; h <= chain.ledger().height(); ++h) {
    auto proof = chain.ledger().GetNetworkStateProof(h);
    REQUIRE(proof.ok());
    CHECK(proof->has_value() == (h == joined || h == left));
  }
  const std::string bytes = chain.BundleBytes(kMaisonItem);
  auto v = Verify(chain, bytes);
  REQUIRE_MESSAGE(v.ok(), v.failure->message);
  pb::ProofBundle b;
  REQUIRE(b.ParseFromString(bytes));
  CHECK(b.version() == 4);
  CHECK(SnapshotHeights(b.governance()) == std::vector<uint64_t>{joined, left});
  CHECK(b.governance().network_state() == chain.ledger().network_state()->GovernedBytes());
  core::NetworkState read = core::NetworkState::FromGenesis(chain.network());
  core::Status light =
      core::LightWalkCheck(chain.network(), b.governance(), b.header(), b.certificate(), &read);
  REQUIRE_MESSAGE(light.ok(), light.message());
  CHECK(read.validator_epochs().size() == 3);
  MESSAGE("a 2-record item after 4 changes, 2 of them validator changes: bundle "
          << bytes.size() << " bytes; " << Breakdown(b));

  SUBCASE("a store written before the proofs were kept rebuilds them when opened") {
    chain.Reopen([](const std::filesystem::path& dir) {
      DeleteRaw(dir, storage::keys::NetworkStateProofPrefix());
      DeleteRaw(dir, storage::keys::NetworkStateProofsVersion());
    });
    CHECK(chain.BundleBytes(kMaisonItem) == bytes);
    std::filesystem::path scratch = chain.dir();
    scratch += ".network-state-proofs";
    CHECK_FALSE(std::filesystem::exists(scratch));
    // Once rebuilt, opening again replays nothing and keeps them.
    chain.Reopen();
    CHECK(chain.BundleBytes(kMaisonItem) == bytes);
  }
  SUBCASE("a store without validator changes only gets the marker") {
    ProvenChain plain;
    LiveItem(plain, kMaisonItem, 2);
    Pass(plain, "maison", AddKeyChange("maison", "maison-2"), {"atelier", "resale", "authlab"});
    const std::string before = plain.BundleBytes(kMaisonItem);
    plain.Reopen([](const std::filesystem::path& dir) {
      DeleteRaw(dir, storage::keys::NetworkStateProofsVersion());
    });
    CHECK(plain.BundleBytes(kMaisonItem) == before);
    pb::ProofBundle pb4;
    REQUIRE(pb4.ParseFromString(before));
    CHECK(SnapshotHeights(pb4.governance()).empty());
    CHECK_FALSE(pb4.governance().network_state().empty());
    CHECK(Verify(plain, before).ok());
  }
  SUBCASE("a version 3 bundle of the same chain still verifies") {
    pb::ProofBundle v3 = b;
    v3.set_version(3);
    v3.mutable_governance()->clear_network_state();
    for (auto& block : *v3.mutable_governance()->mutable_blocks()) {
      block.clear_network_state();
      block.clear_network_state_proof();
    }
    auto ok3 = Verify(chain, core::SerializeDeterministic(v3));
    REQUIRE_MESSAGE(ok3.ok(), ok3.failure->message);
  }
}
