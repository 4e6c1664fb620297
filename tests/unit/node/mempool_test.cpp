#include <doctest/doctest.h>

#include "fixtures.h"
#include "governance_fixture.h"
#include "node/mempool.h"
#include "test_util.h"

using namespace hallmark;
using namespace hallmark::test;
using node::AdmitResult;

namespace {

struct Fixture {
  TempDir dir;
  core::Network net = TestNetwork();
  std::unique_ptr<storage::Ledger> ledger =
      std::move(storage::Ledger::Open(dir.path(), net, {.sync = false}).value());

  pb::Envelope Register(const std::string& serial) {
    auto p = Payload("01/00614141000012/21/" + serial);
    p.mutable_register_();
    return Sign("maison", p);
  }
  pb::Envelope Transfer(const std::string& serial, const std::string& prev,
                        const std::string& signer, pb::Holder to) {
    auto p = Payload("01/00614141000012/21/" + serial, prev);
    *p.mutable_transfer()->mutable_to() = std::move(to);
    return Sign(signer, p);
  }
  pb::Envelope FlagStolen(const std::string& serial, const std::string& prev,
                          const std::string& signer) {
    auto p = Payload("01/00614141000012/21/" + serial, prev);
    p.mutable_flag()->set_kind(pb::STOLEN);
    return Sign(signer, p);
  }
  void CommitAll(node::Mempool& pool, uint64_t t) {
    auto recs = pool.Take(10'000, 1 << 30);
    auto built = ledger->BuildBlock(recs, kTestTimeMs + t, PubFor("validator-0"),
                                    pool.CachedSignatureCheck());
    REQUIRE(built.ok());
    REQUIRE(built->dropped.empty());
    REQUIRE(ledger->Commit(*built).ok());
    pool.OnCommitted(built->block, kTestTimeMs + t);
  }
};

}  // namespace

TEST_CASE("mempool: admits a valid record once, a duplicate is answered idempotently") {
  Fixture f;
  node::Mempool pool(f.net, f.ledger.get());
  auto reg = f.Register("M1");
  auto r = pool.Admit(reg, kTestTimeMs);
  CHECK(r.kind == AdmitResult::Kind::kAccepted);
  CHECK(r.id == RecordId(reg));
  CHECK(pool.Admit(reg, kTestTimeMs).kind == AdmitResult::Kind::kDuplicate);
  CHECK(pool.stats().records == 1);
  CHECK(pool.Lookup(r.id, nullptr) == node::Mempool::Known::kPending);
}

TEST_CASE("mempool: a record that breaks the rules is rejected with its reason and remembered") {
  Fixture f;
  node::Mempool pool(f.net, f.ledger.get());
  auto p = Payload("01/00614141000012/21/M2");
  p.mutable_register_();
  auto bad = Sign("resale", p);
  auto r = pool.Admit(bad, kTestTimeMs);
  CHECK(r.kind == AdmitResult::Kind::kRejected);
  REQUIRE(r.rejection);
  CHECK(r.rejection->reason == core::RejectReason::kNotAuthorized);
  core::Rejection why;
  CHECK(pool.Lookup(RecordId(bad), &why) == node::Mempool::Known::kRejected);
  CHECK(why.reason == core::RejectReason::kNotAuthorized);
  auto forged = f.Register("M3");
  forged.set_signature(std::string(64, '\x05'));
  CHECK(pool.Admit(forged, kTestTimeMs).rejection->reason == core::RejectReason::kBadSignature);
}

TEST_CASE("mempool: a registration and its transfer may wait together, and leave in order") {
  Fixture f;
  node::Mempool pool(f.net, f.ledger.get());
  auto reg = f.Register("M4");
  auto tr = f.Transfer("M4", Id(reg), "maison", OrgHolder("resale"));
  CHECK(pool.Admit(reg, kTestTimeMs).kind == AdmitResult::Kind::kAccepted);
  CHECK(pool.Admit(tr, kTestTimeMs).kind == AdmitResult::Kind::kAccepted);
  auto taken = pool.Take(100, 1 << 20);
  REQUIRE(taken.size() == 2);
  CHECK(Id(taken[0]) == Id(reg));
  f.CommitAll(pool, 1);
  CHECK(pool.stats().records == 0);
  CHECK(pool.Admit(reg, kTestTimeMs).kind == AdmitResult::Kind::kCommitted);
}

TEST_CASE("mempool: a flag jumps the bulk queue, taking the records it builds on with it") {
  Fixture f;
  node::Mempool pool(f.net, f.ledger.get());
  for (int i = 0; i < 20; ++i)
    REQUIRE(pool.Admit(f.Register("B" + std::to_string(i)), kTestTimeMs).kind ==
            AdmitResult::Kind::kAccepted);
  auto reg = f.Register("HOT");
  REQUIRE(pool.Admit(reg, kTestTimeMs).kind == AdmitResult::Kind::kAccepted);
  auto flag = f.FlagStolen("HOT", Id(reg), "maison");
  auto r = pool.Admit(flag, kTestTimeMs);
  REQUIRE(r.kind == AdmitResult::Kind::kAccepted);
  CHECK(r.lane == node::Lane::kPriority);
  auto taken = pool.Take(2, 1 << 20);  // Room for two only: the flag and its registration.
  REQUIRE(taken.size() == 2);
  CHECK(Id(taken[0]) == Id(reg));
  CHECK(Id(taken[1]) == Id(flag));
  CHECK(pool.stats().priority == 1);
}

TEST_CASE("mempool: when full, bulk records are refused but flags still find room") {
  Fixture f;
  node::MempoolLimits limits;
  limits.max_records = 10;
  limits.bulk_share = 0.5;
  node::Mempool pool(f.net, f.ledger.get(), limits);
  std::vector<pb::Envelope> regs;
  for (int i = 0; i < 5; ++i) {
    regs.push_back(f.Register("F" + std::to_string(i)));
    REQUIRE(pool.Admit(regs.back(), kTestTimeMs).kind == AdmitResult::Kind::kAccepted);
  }
  CHECK(pool.Admit(f.Register("F9"), kTestTimeMs).kind == AdmitResult::Kind::kFull);
  CHECK(pool.Admit(f.FlagStolen("F0", Id(regs[0]), "maison"), kTestTimeMs).kind ==
        AdmitResult::Kind::kAccepted);
}

TEST_CASE(
    "mempool: clients wait outside once the pool holds what commits in the admission window") {
  Fixture f;
  node::MempoolLimits limits;
  limits.max_records = 1'000;
  limits.admission_ms = 1'000;
  limits.admission_floor = 4;
  node::Mempool pool(f.net, f.ledger.get(), limits);
  using node::Source;
  // No commit yet: the floor is the limit.
  std::vector<pb::Envelope> regs;
  for (int i = 0; i < 4; ++i) {
    regs.push_back(f.Register("W" + std::to_string(i)));
    REQUIRE(pool.Admit(regs.back(), kTestTimeMs, Source::kClient).kind ==
            AdmitResult::Kind::kAccepted);
  }
  CHECK(pool.stats().admission_limit == 4);
  auto late = f.Register("W4");
  CHECK(pool.Admit(late, kTestTimeMs, Source::kClient).kind == AdmitResult::Kind::kBusy);
  CHECK(pool.stats().records == 4);
  CHECK(pool.Lookup(RecordId(late), nullptr) == node::Mempool::Known::kUnknown);
  // A resubmission is still answered as pending, a flag still finds room, and a peer's record
  // (admitted elsewhere already) meets only the hard limits.
  CHECK(pool.Admit(regs[0], kTestTimeMs, Source::kClient).kind == AdmitResult::Kind::kDuplicate);
  CHECK(pool.Admit(f.FlagStolen("W0", Id(regs[0]), "maison"), kTestTimeMs, Source::kClient).kind ==
        AdmitResult::Kind::kAccepted);
  CHECK(pool.Admit(late, kTestTimeMs, Source::kPeer).kind == AdmitResult::Kind::kAccepted);
  CHECK(pool.Admit(f.Register("W5"), kTestTimeMs, Source::kClient).kind ==
        AdmitResult::Kind::kBusy);
  f.CommitAll(pool, 1);  // Opens the span.
  CHECK(pool.stats().commit_rate == 0);
  // 12 records committed one second later: 12 records/s, so the window of 1 s holds 12.
  for (int i = 10; i < 22; ++i)
    REQUIRE(pool.Admit(f.Register("W" + std::to_string(i)), kTestTimeMs, Source::kPeer).kind ==
            AdmitResult::Kind::kAccepted);
  f.CommitAll(pool, 1'001);
  CHECK(pool.stats().commit_rate == doctest::Approx(12.0));
  CHECK(pool.stats().admission_limit == 12);
  for (int i = 30; i < 42; ++i)
    CHECK(pool.Admit(f.Register("W" + std::to_string(i)), kTestTimeMs + 1'001, Source::kClient)
              .kind == AdmitResult::Kind::kAccepted);
  CHECK(pool.Admit(f.Register("W42"), kTestTimeMs + 1'001, Source::kClient).kind ==
        AdmitResult::Kind::kBusy);
}

TEST_CASE("mempool: with admission off, clients meet only the hard limits") {
  Fixture f;
  node::MempoolLimits limits;
  limits.max_records = 10;
  limits.admission_ms = 0;
  limits.admission_floor = 1;
  node::Mempool pool(f.net, f.ledger.get(), limits);
  for (int i = 0; i < 9; ++i)
    CHECK(
        pool.Admit(f.Register("O" + std::to_string(i)), kTestTimeMs, node::Source::kClient).kind ==
        AdmitResult::Kind::kAccepted);
  CHECK(pool.Admit(f.Register("O9"), kTestTimeMs, node::Source::kClient).kind ==
        AdmitResult::Kind::kFull);
  CHECK(pool.stats().admission_limit == 0);
}

TEST_CASE("mempool: records made invalid by a committed block are evicted with their reason") {
  Fixture f;
  node::Mempool pool(f.net, f.ledger.get());
  auto reg = f.Register("E1");
  REQUIRE(pool.Admit(reg, kTestTimeMs).kind == AdmitResult::Kind::kAccepted);
  f.CommitAll(pool, 1);
  // Two competing transfers; a block elsewhere commits one of them.
  auto to_resale = f.Transfer("E1", Id(reg), "maison", OrgHolder("resale"));
  auto to_atelier = f.Transfer("E1", Id(reg), "maison", OrgHolder("atelier"));
  REQUIRE(pool.Admit(to_resale, kTestTimeMs).kind == AdmitResult::Kind::kAccepted);
  // The second conflicts with the pending first: stale prev against the pending state.
  CHECK(pool.Admit(to_atelier, kTestTimeMs).rejection->reason == core::RejectReason::kStalePrev);
  auto built = f.ledger->BuildBlock(std::vector<pb::Envelope>{to_atelier}, kTestTimeMs + 2,
                                    PubFor("validator-0"));
  REQUIRE(built.ok());
  REQUIRE(built->block.records_size() == 1);
  REQUIRE(f.ledger->Commit(*built).ok());
  pool.OnCommitted(built->block, kTestTimeMs + 2);
  core::Rejection why;
  CHECK(pool.Lookup(RecordId(to_resale), &why) == node::Mempool::Known::kRejected);
  CHECK(why.reason == core::RejectReason::kStalePrev);
  CHECK(why.message.find("evicted") != std::string::npos);
  CHECK(pool.stats().records == 0);
}

TEST_CASE(
    "mempool: the cached signature check does not verify twice, and still refuses forgeries") {
  Fixture f;
  node::Mempool pool(f.net, f.ledger.get());
  auto reg = f.Register("S1");
  REQUIRE(pool.Admit(reg, kTestTimeMs).kind == AdmitResult::Kind::kAccepted);
  auto check = pool.CachedSignatureCheck();
  CHECK_FALSE(check(reg, RecordId(reg)).has_value());
  auto forged = f.Register("S2");
  forged.set_signature(std::string(64, '\x01'));
  CHECK(check(forged, RecordId(forged)).has_value());
}

// Regression: the verdict cache was keyed by record id (a hash of the payload only), so a
// payload someone signed with their own key, once checked, passed as signed by anyone.
TEST_CASE("mempool: a signature verified for one signer never vouches for another") {
  Fixture f;
  node::Mempool pool(f.net, f.ledger.get());
  // The marketplace signs a registration of the brand's GTIN with its own key: refused by the
  // rules, but its signature is valid and was checked.
  auto p = Payload("01/00614141000012/21/FORGED");
  p.mutable_register_();
  pb::Envelope own = Sign("resale", p);
  auto first = pool.Admit(own, kTestTimeMs);
  CHECK(first.kind == AdmitResult::Kind::kRejected);
  // The same payload and signature, now claiming the brand's key as signer.
  pb::Envelope forged = own;
  forged.set_signer(std::string(PubFor("maison").view()));
  auto second = pool.Admit(forged, kTestTimeMs);
  REQUIRE(second.kind == AdmitResult::Kind::kRejected);
  CHECK(second.rejection->message.find("signature") != std::string::npos);
  CHECK(pool.stats().records == 0);
  // And at block validation, through the ledger's check.
  auto check = pool.CachedSignatureCheck();
  CHECK(check(forged, RecordId(forged)).has_value());
  auto built = f.ledger->BuildBlock(std::vector<pb::Envelope>{forged}, kTestTimeMs + 1000,
                                    PubFor("validator-0"), check);
  REQUIRE(built.ok());
  CHECK(built->dropped.size() == 1);
}

TEST_CASE("mempool: committed records sent again are answered as committed, with their height") {
  Fixture f;
  node::Mempool pool(f.net, f.ledger.get());
  auto reg = f.Register("M9");
  auto tr = f.Transfer("M9", Id(reg), "maison", OrgHolder("resale"));
  REQUIRE(pool.Admit(reg, kTestTimeMs).kind == AdmitResult::Kind::kAccepted);
  REQUIRE(pool.Admit(tr, kTestTimeMs).kind == AdmitResult::Kind::kAccepted);
  f.CommitAll(pool, 1);
  // The registration's item now exists, so the pool looks the record up rather than calling
  // it a second registration; the transfer is looked up directly.
  for (const auto& env : {reg, tr}) {
    auto r = pool.Admit(env, kTestTimeMs + 2);
    CHECK(r.kind == AdmitResult::Kind::kCommitted);
    CHECK(r.height == f.ledger->height());
  }
  // A different registration of the same item is still refused.
  auto p = Payload("01/00614141000012/21/M9");
  p.mutable_register_()->add_attributes()->set_key("again");
  auto again = pool.Admit(Sign("maison", p), kTestTimeMs + 2);
  CHECK(again.kind == AdmitResult::Kind::kRejected);
  CHECK(pool.stats().records == 0);
}

// Governance records (docs/governance.md) share the pool: checked in order on the network state
// with the pending ones applied, in the priority lane, and re-checked when a block changes it.
TEST_CASE("mempool: governance records queue in order, commit, and a revoked key is refused") {
  Fixture f;
  node::Mempool pool(f.net, f.ledger.get());
  auto proposal = ProposeEnv("maison", AddKeyChange("maison", "maison-2"), 100);
  auto admitted = pool.Admit(proposal, kTestTimeMs);
  REQUIRE(admitted.kind == AdmitResult::Kind::kAccepted);
  CHECK(admitted.lane == node::Lane::kPriority);
  // An approval of it, pending too, is checked against the pending proposal.
  REQUIRE(pool.Admit(ApproveEnv("atelier", RecordId(proposal)), kTestTimeMs).kind ==
          AdmitResult::Kind::kAccepted);
  // A second approval by one organisation is refused at once.
  auto twice = pool.Admit(ApproveEnv("atelier", RecordId(proposal), kTestTimeMs + 1), kTestTimeMs);
  REQUIRE(twice.rejection.has_value());
  CHECK(twice.rejection->reason == core::RejectReason::kDuplicateApproval);
  // A stranger's approval too.
  auto stranger = pool.Admit(ApproveEnv("mallory", RecordId(proposal)), kTestTimeMs);
  REQUIRE(stranger.rejection.has_value());
  CHECK(stranger.rejection->reason == core::RejectReason::kNotMember);
  for (const char* org : {"resale", "authlab"}) {
    CHECK(pool.Admit(ApproveEnv(org, RecordId(proposal)), kTestTimeMs).kind ==
          AdmitResult::Kind::kAccepted);
  }
  // Complete (pending): one more approval names no pending proposal.
  auto late_approval = pool.Admit(ApproveEnv("repairco", RecordId(proposal)), kTestTimeMs);
  REQUIRE(late_approval.rejection.has_value());
  CHECK(late_approval.rejection->reason == core::RejectReason::kUnknownProposal);

  f.CommitAll(pool, 1000);
  CHECK(pool.stats().records == 0);
  CHECK(f.ledger->network_state()->IsKeyValid(PubFor("maison-2"), "maison", 2));

  // Revoke the old key; from the block after the completing one the old key is refused.
  auto revoke = ProposeEnv("maison-2", RevokeKeyChange("maison", "maison"), 100);
  REQUIRE(pool.Admit(revoke, kTestTimeMs).kind == AdmitResult::Kind::kAccepted);
  for (const auto& org : TestApprovers("maison"))
    REQUIRE(pool.Admit(ApproveEnv(org, RecordId(revoke)), kTestTimeMs).kind ==
            AdmitResult::Kind::kAccepted);
  f.CommitAll(pool, 2000);
  auto late = pool.Admit(f.Register("AFTER"), kTestTimeMs + 3000);
  REQUIRE(late.rejection.has_value());
  CHECK(late.rejection->reason == core::RejectReason::kNotAuthorized);
  CHECK(late.rejection->message.find("revoked at height 3") != std::string::npos);
  auto p = Payload("01/00614141000012/21/AFTER");
  p.mutable_register_();
  CHECK(pool.Admit(Sign("maison-2", p), kTestTimeMs + 3000).kind == AdmitResult::Kind::kAccepted);
}

TEST_CASE("mempool: a pending approval is evicted when another node's block makes it invalid") {
  Fixture f;
  node::Mempool pool(f.net, f.ledger.get());
  auto proposal = ProposeEnv("maison", AddKeyChange("maison", "maison-2"), 100);
  REQUIRE(pool.Admit(proposal, kTestTimeMs).kind == AdmitResult::Kind::kAccepted);
  f.CommitAll(pool, 1000);
  // This node holds atelier's approval; another proposer's block commits another envelope of
  // atelier's approval (a new timestamp), so the pending one would count twice.
  auto mine = ApproveEnv("atelier", RecordId(proposal));
  REQUIRE(pool.Admit(mine, kTestTimeMs).kind == AdmitResult::Kind::kAccepted);
  auto other = ApproveEnv("atelier", RecordId(proposal), kTestTimeMs + 7);
  auto built = f.ledger->BuildBlock(std::vector<pb::Envelope>{other}, kTestTimeMs + 2000,
                                    PubFor("validator-1"));
  REQUIRE(built.ok());
  REQUIRE(built->dropped.empty());
  REQUIRE(f.ledger->Commit(*built).ok());
  pool.OnCommitted(built->block, kTestTimeMs + 2000);
  core::Rejection why;
  CHECK(pool.Lookup(RecordId(mine), &why) == node::Mempool::Known::kRejected);
  CHECK(why.reason == core::RejectReason::kDuplicateApproval);
  CHECK(pool.stats().records == 0);
}

TEST_CASE(
    "mempool: a pending proposal that expires while blocks without governance commit is evicted") {
  Fixture f;
  node::Mempool pool(f.net, f.ledger.get());
  // May be proposed in block 1 only (expires_height must lie after its block).
  auto proposal = ProposeEnv("maison", AddKeyChange("maison", "maison-2"), 2);
  REQUIRE(pool.Admit(proposal, kTestTimeMs).kind == AdmitResult::Kind::kAccepted);
  // Another proposer's block 1 has only a custody record.
  auto built = f.ledger->BuildBlock(std::vector<pb::Envelope>{f.Register("OTHER")},
                                    kTestTimeMs + 1000, PubFor("validator-1"));
  REQUIRE(built.ok());
  REQUIRE(f.ledger->Commit(*built).ok());
  pool.OnCommitted(built->block, kTestTimeMs + 1000);
  // Block 2 could never take it: it leaves the pool with its reason instead of being offered
  // to every block.
  core::Rejection why;
  CHECK(pool.Lookup(RecordId(proposal), &why) == node::Mempool::Known::kRejected);
  CHECK(why.reason == core::RejectReason::kInvalidField);
  CHECK(why.message.find("expires_height") != std::string::npos);
  CHECK(pool.Take(100, 1 << 20).empty());
  CHECK(pool.stats().records == 0);
}

TEST_CASE(
    "mempool: signatures checked together beforehand: good records admitted, forged refused") {
  Fixture f;
  node::Mempool pool(f.net, f.ledger.get());
  std::vector<pb::Envelope> envs;
  for (int i = 0; i < 20; ++i) envs.push_back(f.Register("PV" + std::to_string(i)));
  envs[3].set_signature(std::string(64, '\x05'));  // not a signature at all
  // Signed, then changed: the signature no longer covers the payload.
  envs[11].set_payload(f.Register("PV-other").payload());
  std::vector<const pb::Envelope*> ptrs;
  for (const auto& e : envs) ptrs.push_back(&e);
  pool.PreVerify(ptrs);
  pool.PreVerify(ptrs);  // again: nothing changes
  for (size_t i = 0; i < envs.size(); ++i) {
    CAPTURE(i);
    auto r = pool.Admit(envs[i], kTestTimeMs);
    if (i == 3 || i == 11) {
      REQUIRE(r.kind == AdmitResult::Kind::kRejected);
      CHECK(r.rejection->reason == core::RejectReason::kBadSignature);
    } else {
      CHECK(r.kind == AdmitResult::Kind::kAccepted);
    }
  }
  CHECK(pool.stats().records == 18);
}
