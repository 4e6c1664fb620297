// Writes real proof bundles, built through a LevelDB ledger with real certificates
// (tests/unit/proof_fixture.h), with the verdicts of the reference verifier
// (core::VerifyProofBundle), for the in-browser verifier's end-to-end test
// (tests/web/make_verifier_test_page.py, docs/page.md).
//
//   hallmark-web-bundles OUT_DIR
//
// OUT_DIR/genesis.bin: the genesis' deterministic bytes (what a page is given);
// OUT_DIR/NAME.bin: a bundle; OUT_DIR/cases.txt: one line per case, tab-separated:
//   name  item(or -)  now_ms(or -)  max_age_ms(or -)  verdict  failed_check(or -)
//   not_clean(';'-joined or -)
// The verdict is what `hallmark verify` derives: invalid, stale, not_clean or clean.
#define DOCTEST_CONFIG_DISABLE  // The fixtures' checks are for tests.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>

#include "core/codec.h"
#include "core/crypto/sha256.h"
#include "core/proof_bundle.h"
#include "governance_fixture.h"
#include "proof_fixture.h"
#include "proto/proof.pb.h"

using namespace hallmark;
using namespace hallmark::test;

namespace {

struct Writer {
  std::filesystem::path dir;
  std::ofstream cases;
  const core::Network* network = nullptr;
  int count = 0;

  void Case(const std::string& name, const std::string& bytes,
            std::optional<std::string> item = std::nullopt,
            std::optional<uint64_t> now_ms = std::nullopt,
            std::optional<uint64_t> max_age_ms = std::nullopt) {
    std::ofstream(dir / (name + ".bin"), std::ios::binary) << bytes;
    core::VerifyOptions o;
    o.expected_item = item;
    o.now_ms = now_ms;
    core::ProofVerdict v = core::VerifyProofBundle(*network, bytes, o);
    std::string verdict, failed = "-", reasons;
    if (!v.ok()) {
      verdict = "invalid";
      failed = std::string(core::ProofCheckName(v.failure->check));
    } else {
      uint64_t max_age = max_age_ms.value_or(now_ms ? network->freshness_ms() : 0);
      bool stale = false;
      if (now_ms && max_age != 0) stale = core::ProofAgeMs(v.item, *now_ms) > max_age;
      for (const auto& r : v.item.NotCleanReasons()) reasons += (reasons.empty() ? "" : ";") + r;
      verdict = stale ? "stale" : reasons.empty() ? "clean" : "not_clean";
    }
    cases << name << '\t' << (item ? *item : "-") << '\t'
          << (now_ms ? std::to_string(*now_ms) : "-") << '\t'
          << (max_age_ms ? std::to_string(*max_age_ms) : "-") << '\t' << verdict << '\t' << failed
          << '\t' << (reasons.empty() ? "-" : reasons) << '\n';
    ++count;
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: hallmark-web-bundles OUT_DIR\n";
    return 2;
  }
  Writer w;
  w.dir = argv[1];
  std::filesystem::create_directories(w.dir);
  w.cases.open(w.dir / "cases.txt");

  ProvenChain chain;
  w.network = &chain.network();
  std::ofstream(w.dir / "genesis.bin", std::ios::binary)
      << core::SerializeDeterministic(chain.network().genesis());

  constexpr const char* kItem2 = "01/00614141000012/21/BAG-0002";
  constexpr const char* kItem3 = "01/00614141000012/21/BAG-0003";
  auto four = LiveItem(chain, kMaisonItem, 4);  // Ends with alice holding it.
  const std::string four_bytes = chain.BundleBytes(kMaisonItem);
  LiveItem(chain, kItem2, 20);
  auto reg3 = LiveItem(chain, kItem3, 1);
  pb::RecordPayload d = Payload(kItem3, Id(reg3.back()));
  d.mutable_decommission()->set_kind(pb::DESTROYED);
  d.mutable_decommission()->set_reason("water damage");
  chain.CommitOne("maison", d);
  const uint64_t now = chain.time_ms();

  w.Case("clean4", four_bytes, std::string(kMaisonItem), now);
  w.Case("clean4_any_item_no_clock", four_bytes);
  w.Case("clean4_dl_url", four_bytes, "https://id.gs1.org/01/00614141000012/21/BAG-0001", now);
  w.Case("clean4_other_item", four_bytes, std::string(kItem2), now);
  w.Case("clean4_stale", four_bytes, std::string(kMaisonItem), now + 3'600'000);
  w.Case("clean4_max_age", four_bytes, std::string(kMaisonItem), now + 60'000, 10'000);
  w.Case("clean4_max_age_none", four_bytes, std::string(kMaisonItem), now + 3'600'000, 0);
  w.Case("clean4_future", four_bytes, std::string(kMaisonItem), now - 3'600'000);
  w.Case("items20", chain.BundleBytes(kItem2), std::string(kItem2), now);
  w.Case("decommissioned", chain.BundleBytes(kItem3), std::string(kItem3), now);
  w.Case("never", chain.BundleBytes("01/00614141000012/21/NEVER-1"), std::nullopt, now);

  // Flagged stolen by alice's holder key, then the 4-record bundle taken again.
  pb::RecordPayload flag = Payload(kMaisonItem, Id(four.back()));
  flag.mutable_flag()->set_kind(pb::STOLEN);
  flag.mutable_flag()->set_note("taken from a car");
  chain.CommitOne("alice", flag);
  w.Case("flagged", chain.BundleBytes(kMaisonItem), std::string(kMaisonItem), chain.time_ms());

  // Headers a dishonest quorum certified (validators 0..2 sign what they are given): dated 0 (the
  // records are then from its future, which the rules refuse), an hour after the records, or
  // within the clock-skew allowance ahead of the verifier.
  {
    pb::ProofBundle b;
    b.ParseFromString(four_bytes);
    pb::BlockHeader h;
    h.ParseFromString(b.header());
    auto recertified = [&](uint64_t time_ms) {
      pb::BlockHeader x = h;
      x.set_time_ms(time_ms);
      pb::ProofBundle r = b;
      r.set_header(core::SerializeDeterministic(x));
      const core::Hash256 id = core::Sha256Of(std::string_view(r.header()));
      *r.mutable_certificate() = core::ToProto(CertifyBlock(r.chain_id(), x.height(), id));
      return core::SerializeDeterministic(r);
    };
    w.Case("lie_header_time_0", recertified(0), std::nullopt, now, 0);
    w.Case("lie_header_time_0_no_clock", recertified(0));
    w.Case("header_an_hour_later", recertified(kTestTimeMs + 3'600'000), std::nullopt,
           kTestTimeMs + 3'600'000);
    w.Case("header_10s_ahead", recertified(now + 10'000), std::nullopt, now);
    w.Case("header_2p64", recertified(UINT64_MAX), std::nullopt, now);
    w.Case("header_2p53p1_no_clock", recertified((uint64_t{1} << 53) + 1));
  }
  // Every byte of the 4-record bundle XORed with 0x01, every third with 0xFF; truncations.
  for (size_t i = 0; i < four_bytes.size(); ++i) {
    std::string t = four_bytes;
    t[i] = static_cast<char>(t[i] ^ 0x01);
    w.Case("x01_" + std::to_string(i), t, std::nullopt, now);
    if (i % 3 == 0) {
      t = four_bytes;
      t[i] = static_cast<char>(t[i] ^ 0xff);
      w.Case("xff_" + std::to_string(i), t, std::nullopt, now);
    }
  }
  for (size_t n = 0; n < four_bytes.size(); n += 37) {
    w.Case("cut_" + std::to_string(n), four_bytes.substr(0, n), std::nullopt, now);
  }
  // Structural changes: a record dropped, two swapped, the heights changed.
  {
    pb::ProofBundle b;
    b.ParseFromString(four_bytes);
    pb::ProofBundle drop = b;
    drop.mutable_history()->DeleteSubrange(1, 1);
    drop.mutable_history_heights()->RemoveLast();
    w.Case("drop_record", core::SerializeDeterministic(drop), std::nullopt, now);
    pb::ProofBundle swap = b;
    swap.mutable_history()->SwapElements(1, 2);
    w.Case("swap_records", core::SerializeDeterministic(swap), std::nullopt, now);
    pb::ProofBundle heights = b;
    heights.set_history_heights(1, heights.history_heights(2));
    w.Case("height_moved", core::SerializeDeterministic(heights), std::nullopt, now);
    pb::ProofBundle v2 = b;
    v2.set_version(2);
    w.Case("version2", core::SerializeDeterministic(v2), std::nullopt, now);
    pb::ProofBundle noproof = b;
    noproof.clear_state_proof();
    w.Case("no_state_proof", core::SerializeDeterministic(noproof), std::nullopt, now);
  }
  // A governed network: three key additions (each a proposal in one block and three approvals in
  // the next), then a 4-record item; its bundle carries the walk. Bundles of version 3 are turned
  // into version 4 by adding the walk's network state (no validator changed, so no snapshot is
  // needed); the expected verdict is then the reference's on the version 3 bundle.
  {
    ProvenChain gov;
    const char* orgs[] = {"maison", "atelier", "resale"};
    for (int i = 0; i < 3; ++i) {
      const std::string org = orgs[i];
      pb::Envelope proposal = ProposeEnv(org, AddKeyChange(org, org + "-k" + std::to_string(i)),
                                         gov.ledger().height() + 100);
      gov.Commit({proposal});
      std::vector<pb::Envelope> approvals;
      for (const auto& a : TestApprovers(org))
        approvals.push_back(ApproveEnv(a, RecordId(proposal)));
      gov.Commit(approvals);
    }
    LiveItem(gov, kMaisonItem, 4);
    const uint64_t gnow = gov.time_ms();
    const std::string b3 = gov.BundleBytes(kMaisonItem);
    Writer gw;
    gw.dir = w.dir / "gov";
    std::filesystem::create_directories(gw.dir);
    gw.cases.open(gw.dir / "cases.txt");
    gw.network = &gov.network();
    std::ofstream(gw.dir / "genesis.bin", std::ios::binary)
        << core::SerializeDeterministic(gov.network().genesis());
    core::ProofVerdict base = core::VerifyProofBundle(gov.network(), b3, kMaisonItem);
    std::string governed;
    if (base.ok() && base.item.network_state) {
      pb::NetworkStateProto ns = base.item.network_state->ToProto();
      ns.clear_pending();
      governed = core::SerializeDeterministic(ns);
    }
    // The bundle the browser gets for the reference's bytes `t`.
    auto browser_bytes = [&](const std::string& t) {
      pb::ProofBundle b;
      if (!b.ParseFromString(t) || core::SerializeDeterministic(b) != t || b.version() != 3) {
        return t;
      }
      b.set_version(4);
      b.mutable_governance()->set_network_state(governed);
      return core::SerializeDeterministic(b);
    };
    // The reference's verdict on `t`; the browser gets `t` as version 4 (a no-op once the
    // builder makes version 4 itself).
    auto gcase = [&](const std::string& name, const std::string& t) {
      gw.Case(name, t, std::nullopt, gnow);
      std::ofstream(gw.dir / (name + ".bin"), std::ios::binary) << browser_bytes(t);
    };
    gcase("gov_clean", b3);
    for (size_t i = 0; i < b3.size(); i += 2) {
      std::string t = b3;
      t[i] = static_cast<char>(t[i] ^ 0x01);
      gcase("gov_x01_" + std::to_string(i), t);
    }
    pb::ProofBundle pb3;
    pb3.ParseFromString(b3);
    for (int bi = 0; bi < pb3.governance().blocks_size(); ++bi) {
      pb::ProofBundle drop = pb3;
      drop.mutable_governance()->mutable_blocks()->DeleteSubrange(bi, 1);
      gcase("gov_drop_block_" + std::to_string(bi), core::SerializeDeterministic(drop));
    }
    // The last change withheld (its proposal and approval blocks), the block before given its
    // own certificate so that only the network state can tell (as a lying node would).
    {
      pb::ProofBundle withheld = pb3;
      const int n = withheld.governance().blocks_size();
      withheld.mutable_governance()->mutable_blocks()->DeleteSubrange(n - 2, 2);
      pb::BlockHeader h;
      h.ParseFromString(withheld.governance().blocks(n - 3).header());
      auto stored = gov.ledger().GetCertificate(h.height());
      if (stored.ok() && stored->has_value()) {
        withheld.mutable_governance()
            ->mutable_blocks(n - 3)
            ->mutable_certificate()
            ->ParseFromString(**stored);
        gcase("gov_withheld_last_change", core::SerializeDeterministic(withheld));
      }
    }
    std::cout << "wrote " << gw.count << " governance cases\n";
  }
  // Version 4 only (snapshots need the builder's stored network-state proofs): a validator joins
  // and, once in force, another leaves, with an organisation admitted, a key added and revoked on
  // the way; then an item. Every third byte flipped, each walk block dropped, a snapshot moved or
  // stripped of its certificate.
  if constexpr (core::kProofBundleVersion >= 4) {
    ProvenChain vc;
    const std::vector<std::string> five = {"atelier", "resale", "authlab", "repairco"};
    auto pass = [&](const std::string& proposer, const pb::GovernanceChange& change,
                    const std::vector<std::string>& approvers) {
      pb::Envelope proposal = ProposeEnv(proposer, change, vc.ledger().height() + 100);
      vc.Commit({proposal});
      std::vector<pb::Envelope> approvals;
      for (const auto& a : approvers) approvals.push_back(ApproveEnv(a, RecordId(proposal)));
      vc.Commit(approvals);
    };
    auto items = LiveItem(vc, kMaisonItem, 2);
    pass("maison", AddOrgChange("nouveau", pb::BRAND, {"7654321"}),
         {"atelier", "resale", "authlab"});
    pass("maison", AddKeyChange("maison", "maison-2"), five);
    pass("maison", AddValidatorChange("v4", "nouveau", "validator-4", 1), five);
    const uint64_t delay = vc.network().governance().validator_change_delay_heights();
    for (uint64_t i = 0; i < delay; ++i) vc.Commit({});
    vc.SetSigners({0, 1, 2, 4});
    pb::GovernanceChange remove;
    remove.mutable_remove_validator()->set_consensus_key(std::string(PubFor("validator-3").view()));
    pass("maison-2", remove, five);
    pass("maison-2", RevokeKeyChange("maison", "maison"), five);
    for (uint64_t i = 0; i < delay; ++i) vc.Commit({});
    vc.SetSigners({0, 2, 4});
    pb::RecordPayload t = Payload(kMaisonItem, Id(items.back()));
    *t.mutable_transfer()->mutable_to() = OrgHolder("nouveau");
    vc.CommitOne("resale", t);
    Writer vw;
    vw.dir = w.dir / "validators";
    std::filesystem::create_directories(vw.dir);
    vw.cases.open(vw.dir / "cases.txt");
    vw.network = &vc.network();
    std::ofstream(vw.dir / "genesis.bin", std::ios::binary)
        << core::SerializeDeterministic(vc.network().genesis());
    const uint64_t vnow = vc.time_ms();
    const std::string b4 = vc.BundleBytes(kMaisonItem);
    vw.Case("vset_clean", b4, std::nullopt, vnow);
    vw.Case("vset_never", vc.BundleBytes("01/07654321000015/21/N-1"), std::nullopt, vnow);
    for (size_t i = 0; i < b4.size(); i += 3) {
      std::string x = b4;
      x[i] = static_cast<char>(x[i] ^ 0x01);
      vw.Case("vset_x01_" + std::to_string(i), x, std::nullopt, vnow);
    }
    pb::ProofBundle pb4;
    pb4.ParseFromString(b4);
    for (int bi = 0; bi < pb4.governance().blocks_size(); ++bi) {
      pb::ProofBundle drop = pb4;
      drop.mutable_governance()->mutable_blocks()->DeleteSubrange(bi, 1);
      vw.Case("vset_drop_block_" + std::to_string(bi), core::SerializeDeterministic(drop),
              std::nullopt, vnow);
      const pb::GovernanceBlock& blk = pb4.governance().blocks(bi);
      if (!blk.network_state().empty()) {
        pb::ProofBundle nocert = pb4;
        nocert.mutable_governance()->mutable_blocks(bi)->clear_certificate();
        vw.Case("vset_snapshot_uncertified_" + std::to_string(bi),
                core::SerializeDeterministic(nocert), std::nullopt, vnow);
        pb::ProofBundle nosnap = pb4;
        nosnap.mutable_governance()->mutable_blocks(bi)->clear_network_state();
        nosnap.mutable_governance()->mutable_blocks(bi)->clear_network_state_proof();
        vw.Case("vset_snapshot_removed_" + std::to_string(bi), core::SerializeDeterministic(nosnap),
                std::nullopt, vnow);
        if (bi > 0) {
          pb::ProofBundle moved = nosnap;
          moved.mutable_governance()->mutable_blocks(bi - 1)->set_network_state(
              blk.network_state());
          moved.mutable_governance()->mutable_blocks(bi - 1)->set_network_state_proof(
              blk.network_state_proof());
          vw.Case("vset_snapshot_moved_" + std::to_string(bi), core::SerializeDeterministic(moved),
                  std::nullopt, vnow);
        }
      }
    }
    pb::ProofBundle nostate = pb4;
    nostate.mutable_governance()->clear_network_state();
    vw.Case("vset_no_network_state", core::SerializeDeterministic(nostate), std::nullopt, vnow);
    std::cout << "wrote " << vw.count << " validator-change cases\n";
  }
  std::cout << "wrote " << w.count << " cases to " << w.dir.string() << "\n";
  return 0;
}
