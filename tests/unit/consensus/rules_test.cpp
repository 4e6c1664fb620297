#include "consensus/rules.h"

#include <doctest/doctest.h>

#include <map>

#include "consensus/vote_set.h"
#include "consensus_fixture.h"

using namespace hallmark;
using consensus::LockState;
using consensus::PrevoteForProposal;
using consensus::RoundStep;
using consensus::SignerState;
using core::Hash256;
using test::BlockId;

TEST_CASE("lock rule: unlocked validators prevote any valid proposal, never an invalid one") {
  const Hash256 v = BlockId("v");
  CHECK(PrevoteForProposal({}, v, true, std::nullopt) == v);
  CHECK(PrevoteForProposal({}, v, false, std::nullopt).IsZero());
  CHECK(PrevoteForProposal({}, v, true, 0u) == v);
  CHECK(PrevoteForProposal({}, Hash256(), true, std::nullopt).IsZero());
}

TEST_CASE("lock rule: a locked validator prevotes nil for another block without a newer polka") {
  const Hash256 locked = BlockId("locked");
  const Hash256 other = BlockId("other");
  const LockState lock{2u, locked};
  CHECK(PrevoteForProposal(lock, locked, true, std::nullopt) == locked);
  CHECK(PrevoteForProposal(lock, other, true, std::nullopt).IsZero());
  // Line 28: a proof-of-lock older than the lock does not unlock.
  CHECK(PrevoteForProposal(lock, other, true, 1u).IsZero());
  // A proof-of-lock at or after the lock round does.
  CHECK(PrevoteForProposal(lock, other, true, 2u) == other);
  CHECK(PrevoteForProposal(lock, other, true, 3u) == other);
  // The locked block itself is fine with any proof-of-lock, but never when invalid.
  CHECK(PrevoteForProposal(lock, locked, true, 0u) == locked);
  CHECK(PrevoteForProposal(lock, locked, false, 5u).IsZero());
}

TEST_CASE("proposer: equal powers rotate through every validator by height and round") {
  test::TestValidators v(4);
  auto schedule = consensus::ProposerSchedule(v.set);
  REQUIRE(schedule.size() == 4);
  std::map<uint32_t, int> seen;
  for (uint64_t h = 1; h <= 4; ++h) seen[consensus::ProposerFor(schedule, h, 0)]++;
  CHECK(seen.size() == 4);
  // The next round has the next proposer.
  CHECK(consensus::ProposerFor(schedule, 1, 1) == consensus::ProposerFor(schedule, 2, 0));
  CHECK(consensus::ProposerFor(schedule, 1, 0) != consensus::ProposerFor(schedule, 1, 1));
  // Huge heights and rounds do not overflow.
  CHECK(consensus::ProposerFor(schedule, UINT64_MAX, UINT32_MAX) < 4);
}

TEST_CASE("proposer: voting power sets the share of rounds, interleaved") {
  test::TestValidators v(3, {3, 1, 1});
  auto schedule = consensus::ProposerSchedule(v.set);
  REQUIRE(schedule.size() == 5);
  std::map<uint32_t, int> count;
  for (auto i : schedule) count[i]++;
  CHECK(count[0] == 3);
  CHECK(count[1] == 1);
  CHECK(count[2] == 1);
  // Smooth: the heavy validator never holds three slots in a row.
  for (size_t i = 0; i + 2 < schedule.size() * 2; ++i) {
    const auto at = [&](size_t k) { return schedule[k % schedule.size()]; };
    CHECK_FALSE((at(i) == 0 && at(i + 1) == 0 && at(i + 2) == 0));
  }
}

TEST_CASE("proposer: huge powers are scaled to a bounded cycle") {
  test::TestValidators v(2, {uint64_t{1} << 50, uint64_t{1} << 49});
  auto schedule = consensus::ProposerSchedule(v.set);
  CHECK(schedule.size() <= consensus::kMaxScheduleLength);
  std::map<uint32_t, int> count;
  for (auto i : schedule) count[i]++;
  CHECK(count[0] == 2 * count[1]);
}

TEST_CASE("signer guard: only later steps, or the same vote again, may be signed") {
  const Hash256 a = BlockId("a");
  const Hash256 b = BlockId("b");
  SignerState fresh;
  CHECK(consensus::MaySign(fresh, 1, 0, RoundStep::kPropose, a));
  SignerState s = consensus::AfterSigning(fresh, 5, 2, RoundStep::kPrevote, a);
  CHECK(consensus::MaySign(s, 5, 2, RoundStep::kPrevote, a));        // The same vote again.
  CHECK_FALSE(consensus::MaySign(s, 5, 2, RoundStep::kPrevote, b));  // A conflicting vote.
  CHECK_FALSE(consensus::MaySign(s, 5, 2, RoundStep::kPrevote, Hash256()));
  CHECK_FALSE(consensus::MaySign(s, 5, 2, RoundStep::kPropose, a));    // An earlier step.
  CHECK_FALSE(consensus::MaySign(s, 5, 1, RoundStep::kPrecommit, a));  // An earlier round.
  CHECK_FALSE(consensus::MaySign(s, 4, 9, RoundStep::kPrecommit, a));  // An earlier height.
  CHECK(consensus::MaySign(s, 5, 2, RoundStep::kPrecommit, b));
  CHECK(consensus::MaySign(s, 5, 3, RoundStep::kPropose, b));
  CHECK(consensus::MaySign(s, 6, 0, RoundStep::kPropose, b));
}

TEST_CASE("signer guard: a non-nil precommit records the lock, a nil one keeps it") {
  const Hash256 a = BlockId("a");
  SignerState s = consensus::AfterSigning({}, 5, 2, RoundStep::kPrecommit, a);
  CHECK(s.lock_height == 5);
  CHECK(s.lock_round == 2);
  CHECK(s.lock_block_id == a);
  s = consensus::AfterSigning(s, 5, 3, RoundStep::kPrecommit, Hash256());
  CHECK(s.lock_round == 2);
  CHECK(s.lock_block_id == a);
  CHECK(s.round == 3);
  CHECK(s.block_id.IsZero());
}

TEST_CASE("vote set: a validator counts once per block, a second, different vote is a conflict") {
  test::TestValidators v(4);
  consensus::VoteSet set(1, 0, core::VoteType::kPrevote, &v.set);
  const Hash256 a = BlockId("a");
  auto vote = [&](size_t i, const Hash256& b) {
    return v.SignedVote(i, 1, 0, core::VoteType::kPrevote, b);
  };
  CHECK(set.Add(0, vote(0, a), nullptr) == consensus::VoteSet::AddResult::kAdded);
  CHECK(set.Add(0, vote(0, a), nullptr) == consensus::VoteSet::AddResult::kDuplicate);
  core::Vote first;
  CHECK(set.Add(0, vote(0, BlockId("b")), &first) == consensus::VoteSet::AddResult::kConflict);
  CHECK(first.block_id == a);
  // The equivocator counts once for each block, and once for "anything".
  CHECK(set.PowerFor(a) == 1);
  CHECK(set.PowerFor(BlockId("b")) == 1);
  CHECK(set.total_power_voted() == 1);
  CHECK(set.Add(0, vote(0, BlockId("b")), nullptr) == consensus::VoteSet::AddResult::kDuplicate);
  CHECK(set.Add(1, vote(1, a), nullptr) == consensus::VoteSet::AddResult::kAdded);
  CHECK_FALSE(set.HasQuorumFor(a));
  CHECK(set.Add(2, vote(2, Hash256()), nullptr) == consensus::VoteSet::AddResult::kAdded);
  CHECK(set.HasQuorumAny());
  CHECK_FALSE(set.QuorumBlock().has_value());
  CHECK(set.Add(3, vote(3, a), nullptr) == consensus::VoteSet::AddResult::kAdded);
  REQUIRE(set.QuorumBlock().has_value());
  CHECK(*set.QuorumBlock() == a);
  auto sigs = set.SignaturesFor(a);
  REQUIRE(sigs.size() == 3);
  CHECK(sigs[0].validator == v.set.at(0).key);
  CHECK(sigs[2].validator == v.set.at(3).key);
}
