#include "node/evidence_pool.h"

#include <doctest/doctest.h>

#include "core/consensus_codec.h"
#include "evidence_fixture.h"
#include "fixtures.h"
#include "test_util.h"

using namespace hallmark;
using namespace hallmark::test;
using Result = node::EvidencePool::AddResult;

namespace {

struct PoolFixture {
  TempDir dir;
  core::Network network = TestNetwork();
  std::unique_ptr<storage::Ledger> ledger =
      std::move(storage::Ledger::Open(dir.path(), network, {.sync = false}).value());

  void CommitBlock(std::vector<pb::Evidence> evidence = {}) {
    auto built = ledger->BuildBlock({}, kTestTimeMs + ledger->height() + 1, PubFor("validator-0"),
                                    storage::VerifyEverySignature(), evidence);
    REQUIRE(built.ok());
    REQUIRE(ledger->Commit(*built).ok());
  }
};

}  // namespace

TEST_CASE("evidence pool: keeps checked evidence once per offence, in canonical form") {
  PoolFixture f;
  node::EvidencePool pool(f.network, f.ledger.get());
  const core::Evidence e = DoubleVote(1, 1);
  auto swapped = std::get<core::DuplicateVoteEvidence>(e);
  std::swap(swapped.first, swapped.second);
  CHECK(pool.Add(core::Evidence(swapped)) == Result::kAdded);
  CHECK(pool.Add(e) == Result::kKnown);
  // A third block from the same validator at the same round is the same offence.
  CHECK(pool.Add(core::CanonicalEvidence(core::DuplicateVoteEvidence{
            SignedTestVote(1, 1, 0, core::VoteType::kPrevote, NamedBlock("a")),
            SignedTestVote(1, 1, 0, core::VoteType::kPrevote, NamedBlock("z"))})) ==
        Result::kKnown);
  REQUIRE(pool.size() == 1);
  auto pending = pool.Pending(10);
  REQUIRE(pending.size() == 1);
  CHECK(core::EvidenceId(pending[0]) == core::EvidenceId(core::ToProto(e)));

  core::Evidence forged = DoubleVote(2, 1);
  std::get<core::DuplicateVoteEvidence>(forged).first.signature.bytes[1] ^= 1;
  std::string why;
  CHECK(pool.Add(forged, &why) == Result::kInvalid);
  CHECK(why.find("bad signature") != std::string::npos);
  CHECK(pool.Add(DoubleVote(2, 5)) == Result::kTooOld);  // Above the next block's height.

  // Committed: dropped from the pool, and refused afterwards.
  f.CommitBlock(pending);
  pool.OnCommitted(*std::move(f.ledger->GetBlock(1).value()), 1);
  CHECK(pool.size() == 0);
  CHECK(pool.Add(e) == Result::kCommitted);
}

TEST_CASE("evidence pool: a flood stays within the pool's bounds, per validator and in all") {
  PoolFixture f;
  for (int i = 0; i < 3; ++i) f.CommitBlock();
  const size_t per_validator = core::limits::kMaxPendingEvidencePerValidator;
  node::EvidencePool pool(f.network, f.ledger.get(), /*max_pieces=*/per_validator + 4);
  // One validator equivocating in round after round fills only its own share.
  size_t added = 0;
  for (uint32_t r = 0; r < 3 * per_validator; ++r) {
    Result res = pool.Add(DoubleVote(1, 2, r));
    added += res == Result::kAdded;
    CHECK((res == Result::kAdded || res == Result::kFull));
  }
  CHECK(added == per_validator);
  CHECK(pool.size() == per_validator);
  // Another validator still gets in, up to the pool's total.
  for (uint32_t r = 0; r < 4; ++r) CHECK(pool.Add(DoubleVote(2, 2, r)) == Result::kAdded);
  CHECK(pool.Add(DoubleVote(3, 2, 0)) == Result::kFull);
  CHECK(pool.size() == per_validator + 4);
  // Oldest offence first, and no more than asked for.
  f.CommitBlock();
  CHECK(pool.Pending(core::limits::kMaxEvidencePerBlock).size() ==
        std::min<size_t>(core::limits::kMaxEvidencePerBlock, per_validator + 4));
}
