#include "consensus/engine.h"

#include <doctest/doctest.h>

#include <deque>
#include <map>
#include <memory>

#include "consensus_fixture.h"
#include "core/crypto/sha256.h"

using namespace hallmark;
using namespace hallmark::consensus;
using core::Hash256;
using test::BlockId;
using test::kChain;

namespace {

EngineConfig Config(const test::TestValidators& v) {
  EngineConfig c;
  c.chain_id = kChain;
  c.validators = v.set;
  return c;
}

template <typename T>
std::vector<T> Only(const Actions& actions) {
  std::vector<T> out;
  for (const Action& a : actions)
    if (auto* x = std::get_if<T>(&a)) out.push_back(*x);
  return out;
}

bool HasBroadcastVote(const Actions& actions, VoteType type, const Hash256& block) {
  for (const auto& b : Only<Broadcast>(actions))
    if (auto* v = std::get_if<Vote>(&b.message))
      if (v->type == type && v->block_id == block) return true;
  return false;
}

// n engines joined by an instant, lossless network. Timeouts are collected, never fired unless
// a test fires them, so a commit without timeouts proves there is no artificial waiting.
struct Cluster {
  explicit Cluster(size_t n) : validators(n) {
    for (size_t i = 0; i < n; ++i) {
      engines.push_back(
          std::make_unique<Engine>(Config(validators), validators.signers[i].get(), EngineStart{}));
    }
    committed.resize(n);
    persisted.resize(n);
  }
  void StartAll() {
    for (size_t i = 0; i < engines.size(); ++i) Apply(i, engines[i]->Start());
  }
  void Apply(size_t node, const Actions& actions) {
    for (const Action& a : actions) {
      all_actions.push_back({node, a});
      if (auto* b = std::get_if<Broadcast>(&a)) {
        for (size_t j = 0; j < engines.size(); ++j)
          if (j != node && !down.count(j)) queue.push_back({j, ToEvent(b->message)});
      } else if (auto* s = std::get_if<SendTo>(&a)) {
        queue.push_back({s->to, ToEvent(s->message)});
      } else if (auto* t = std::get_if<ScheduleTimeout>(&a)) {
        timeouts.push_back({node, t->timeout});
      } else if (auto* bb = std::get_if<BuildBlock>(&a)) {
        const std::string data = "block h=" + std::to_string(bb->height) +
                                 " r=" + std::to_string(bb->round) + " by " + std::to_string(node);
        Block block{core::Sha256Of(data), core::Bytes(data.begin(), data.end())};
        queue.push_back({node, BlockBuilt{bb->height, bb->round, block}});
      } else if (auto* vb = std::get_if<ValidateBlock>(&a)) {
        queue.push_back(
            {node, BlockVerdict{vb->height, vb->block.id, !invalid.count(vb->block.id)}});
      } else if (auto* p = std::get_if<PersistSignerState>(&a)) {
        persisted[node] = p->state;
      } else if (auto* c = std::get_if<CommitBlock>(&a)) {
        committed[node].push_back(*c);
      }
    }
  }
  static Event ToEvent(const Message& m) {
    if (auto* p = std::get_if<Proposal>(&m)) return ProposalReceived{*p};
    if (auto* v = std::get_if<Vote>(&m)) return VoteReceived{*v};
    return CertificateReceived{std::get<CommitCertificate>(m)};
  }
  void Run(size_t max_steps = 100000) {
    for (size_t i = 0; i < max_steps && !queue.empty(); ++i) {
      auto [node, event] = queue.front();
      queue.pop_front();
      if (down.count(node)) continue;
      Apply(node, engines[node]->Step(event));
    }
  }
  // Fires every pending timeout of `node` for its current height and round, oldest first.
  void FireTimeouts(size_t node, TimeoutKind kind) {
    auto pending = timeouts;
    for (const auto& [n, t] : pending)
      if (n == node && t.kind == kind && t.height == engines[node]->height() &&
          t.round == engines[node]->round())
        Apply(node, engines[node]->Step(TimeoutFired{t}));
  }

  test::TestValidators validators;
  std::vector<std::unique_ptr<Engine>> engines;
  std::deque<std::pair<size_t, Event>> queue;
  std::vector<std::pair<size_t, Timeout>> timeouts;
  std::vector<std::pair<size_t, Action>> all_actions;
  std::vector<std::vector<CommitBlock>> committed;
  std::vector<SignerState> persisted;
  std::set<size_t> down;
  std::set<Hash256> invalid;
};

}  // namespace

TEST_CASE("engine: four validators commit heights in a few message delays, without timeouts") {
  Cluster c(4);
  c.StartAll();
  c.Run(2000);  // Bounded: heights follow each other at once.
  for (size_t i = 0; i < 4; ++i) REQUIRE(c.committed[i].size() >= 5);
  for (size_t h = 0; h < 5; ++h) {
    const CommitBlock& first = c.committed[0][h];
    CHECK(first.certificate.height == h + 1);
    CHECK(first.certificate.round == 0);
    CHECK(core::VerifyCommitCertificate(c.validators.set, kChain, first.certificate, h + 1,
                                        first.block.id)
              .ok());
    for (size_t i = 1; i < 4; ++i) CHECK(c.committed[i][h].block.id == first.block.id);
  }
}

TEST_CASE("engine: seven validators with unequal power agree") {
  Cluster c(7);
  c.StartAll();
  c.Run(6000);
  for (size_t i = 0; i < 7; ++i) REQUIRE(c.committed[i].size() >= 3);
  for (size_t i = 1; i < 7; ++i) CHECK(c.committed[i][2].block.id == c.committed[0][2].block.id);
}

TEST_CASE("engine: signer state is persisted before every signed message is broadcast") {
  Cluster c(4);
  c.StartAll();
  c.Run(500);
  std::map<size_t, std::optional<SignerState>> last_persisted;
  size_t checked = 0;
  for (const auto& [node, action] : c.all_actions) {
    if (auto* p = std::get_if<PersistSignerState>(&action)) last_persisted[node] = p->state;
    auto* b = std::get_if<Broadcast>(&action);
    if (!b) continue;
    if (auto* v = std::get_if<Vote>(&b->message)) {
      REQUIRE(last_persisted[node].has_value());
      const SignerState& s = *last_persisted[node];
      const uint8_t step = v->type == VoteType::kPrevote ? 2 : 3;
      CHECK(std::make_tuple(s.height, s.round, s.step) >=
            std::make_tuple(v->height, v->round, step));
      ++checked;
    }
  }
  CHECK(checked > 20);
}

TEST_CASE("engine: a silent proposer makes the round time out to nil and move on") {
  Cluster c(4);
  const ValidatorIndex proposer = c.engines[0]->ProposerOf(1, 0);
  c.down.insert(proposer);
  for (size_t i = 0; i < 4; ++i)
    if (i != proposer) c.Apply(i, c.engines[i]->Start());
  c.Run();
  for (size_t i = 0; i < 4; ++i) {
    if (i == proposer) continue;
    CHECK(c.committed[i].empty());
    c.FireTimeouts(i, TimeoutKind::kPropose);
  }
  c.Run();
  for (size_t i = 0; i < 4; ++i) {
    if (i == proposer) continue;
    CHECK(c.engines[i]->step() == RoundStep::kPrecommit);  // Nil polka, then nil precommit.
    c.FireTimeouts(i, TimeoutKind::kPrecommit);
  }
  c.Run(300);
  for (size_t i = 0; i < 4; ++i) {
    if (i == proposer) continue;
    REQUIRE_FALSE(c.committed[i].empty());
    CHECK(c.committed[i][0].certificate.round == 1);
  }
}

TEST_CASE("engine: an invalid block gets a nil prevote") {
  test::TestValidators v(4);
  const ValidatorIndex proposer = ProposerFor(ProposerSchedule(v.set), 1, 0);
  const size_t me = (proposer + 1) % 4;
  Engine e(Config(v), v.signers[me].get(), EngineStart{});
  (void)e.Start();
  Proposal p{1, 0, std::nullopt, BlockId("bad"), {1}, v.signers[proposer]->public_key(), {}};
  p.signature = v.signers[proposer]->Sign(core::ProposalSignBytes(kChain, p));
  Actions a = e.Step(ProposalReceived{p});
  REQUIRE(Only<ValidateBlock>(a).size() == 1);
  a = e.Step(BlockVerdict{1, p.block_id, false});
  CHECK(HasBroadcastVote(a, VoteType::kPrevote, Hash256()));
}

TEST_CASE("engine: a quorum for a block the application refused is logged once, naming the clock") {
  test::TestValidators v(4);
  const ValidatorIndex proposer = ProposerFor(ProposerSchedule(v.set), 1, 0);
  const size_t me = (proposer + 1) % 4;
  Engine e(Config(v), v.signers[me].get(), EngineStart{});
  (void)e.Start();
  Proposal p{1, 0, std::nullopt, BlockId("bad"), {1}, v.signers[proposer]->public_key(), {}};
  p.signature = v.signers[proposer]->Sign(core::ProposalSignBytes(kChain, p));
  (void)e.Step(ProposalReceived{p});
  (void)e.Step(BlockVerdict{1, p.block_id, false});
  auto lines = [](const Actions& a) {
    size_t n = 0;
    for (const auto& l : Only<Log>(a))
      if (l.message.find("check its clock") != std::string::npos) ++n;
    return n;
  };
  size_t logged = 0;
  for (size_t i = 0; i < 4; ++i) {
    if (i == me) continue;
    logged += lines(e.Step(VoteReceived{
        v.SignedVote(static_cast<ValidatorIndex>(i), 1, 0, VoteType::kPrecommit, p.block_id)}));
  }
  CHECK(logged == 1);
  // Every later message of the height runs the commit rule again: no new line.
  for (size_t i = 0; i < 4; ++i) {
    if (i == me) continue;
    logged += lines(e.Step(VoteReceived{
        v.SignedVote(static_cast<ValidatorIndex>(i), 1, 0, VoteType::kPrevote, p.block_id)}));
  }
  CHECK(logged == 1);
  CHECK(e.height() == 1);  // Nothing committed: the application refused the block.
}

TEST_CASE("engine: a proposal from the wrong proposer or with a bad signature is ignored") {
  test::TestValidators v(4);
  const ValidatorIndex proposer = ProposerFor(ProposerSchedule(v.set), 1, 0);
  const size_t other = (proposer + 1) % 4;
  Engine e(Config(v), v.signers[(proposer + 2) % 4].get(), EngineStart{});
  (void)e.Start();
  Proposal p{1, 0, std::nullopt, BlockId("x"), {1}, v.signers[other]->public_key(), {}};
  p.signature = v.signers[other]->Sign(core::ProposalSignBytes(kChain, p));
  CHECK(Only<ValidateBlock>(e.Step(ProposalReceived{p})).empty());
  p.proposer = v.signers[proposer]->public_key();
  CHECK(Only<ValidateBlock>(e.Step(ProposalReceived{p})).empty());  // Signed by `other`.
}

TEST_CASE("engine: votes from strangers or with bad signatures do not count") {
  test::TestValidators v(4);
  test::TestValidators more(6);
  Engine e(Config(v), v.signers[0].get(), EngineStart{});
  (void)e.Start();
  const Hash256 nil;
  // Two strangers and one forged vote: with our own nil prevote that would be a quorum.
  (void)e.Step(VoteReceived{more.SignedVote(4, 1, 0, VoteType::kPrevote, nil)});
  (void)e.Step(VoteReceived{more.SignedVote(5, 1, 0, VoteType::kPrevote, nil)});
  Vote forged = v.SignedVote(1, 1, 0, VoteType::kPrevote, nil);
  forged.signature.bytes[3] ^= 1;
  (void)e.Step(VoteReceived{forged});
  Actions a = e.Step(VoteReceived{v.SignedVote(2, 1, 0, VoteType::kPrevote, nil)});
  CHECK(Only<ScheduleTimeout>(a).empty());
  CHECK(e.step() == RoundStep::kPropose);
}

TEST_CASE("engine: two conflicting votes from one validator become one piece of evidence") {
  test::TestValidators v(4);
  Engine e(Config(v), v.signers[0].get(), EngineStart{});
  (void)e.Start();
  Vote a = v.SignedVote(2, 1, 0, VoteType::kPrevote, BlockId("a"));
  Vote b = v.SignedVote(2, 1, 0, VoteType::kPrevote, BlockId("b"));
  Vote c = v.SignedVote(2, 1, 0, VoteType::kPrevote, Hash256());
  CHECK(Only<ReportEvidence>(e.Step(VoteReceived{a})).empty());
  CHECK(Only<ReportEvidence>(e.Step(VoteReceived{a})).empty());  // A duplicate is not evidence.
  auto ev = Only<ReportEvidence>(e.Step(VoteReceived{b}));
  REQUIRE(ev.size() == 1);
  const auto* votes = std::get_if<DuplicateVoteEvidence>(&ev[0].evidence);
  REQUIRE(votes != nullptr);
  // Reported in canonical order: the vote whose sign-bytes sort first comes first.
  CHECK(((votes->first == a && votes->second == b) || (votes->first == b && votes->second == a)));
  CHECK(core::IsCanonicalEvidence(kChain, ev[0].evidence));
  CHECK(core::VerifyEvidence(v.set, kChain, ev[0].evidence).ok());
  CHECK(Only<ReportEvidence>(e.Step(VoteReceived{c})).empty());  // Reported once.
}

TEST_CASE("engine: two proposals from the round's proposer become evidence anyone can check") {
  test::TestValidators v(4);
  const ValidatorIndex proposer = ProposerFor(ProposerSchedule(v.set), 1, 0);
  Engine e(Config(v), v.signers[(proposer + 1) % 4].get(), EngineStart{});
  (void)e.Start();
  auto signed_proposal = [&](const char* block) {
    Proposal p{1, 0, std::nullopt, BlockId(block), {1, 2}, v.signers[proposer]->public_key(), {}};
    p.signature = v.signers[proposer]->Sign(core::ProposalSignBytes(kChain, p));
    return p;
  };
  const Proposal first = signed_proposal("x");
  CHECK(Only<ReportEvidence>(e.Step(ProposalReceived{first})).empty());
  CHECK(Only<ReportEvidence>(e.Step(ProposalReceived{first})).empty());  // The same again.
  auto ev = Only<ReportEvidence>(e.Step(ProposalReceived{signed_proposal("y")}));
  REQUIRE(ev.size() == 1);
  const auto* pair = std::get_if<DuplicateProposalEvidence>(&ev[0].evidence);
  REQUIRE(pair != nullptr);
  CHECK(pair->first.block_id != pair->second.block_id);
  CHECK(core::IsCanonicalEvidence(kChain, ev[0].evidence));
  CHECK(pair->second.block.empty());  // Signatures cover ids, so the bytes are left out.
  CHECK(core::VerifyEvidence(v.set, kChain, ev[0].evidence).ok());
  CHECK(core::OffenceOf(ev[0].evidence).kind == core::OffenceKind::kDuplicateProposal);
  CHECK(core::OffenceOf(ev[0].evidence).validator == v.signers[proposer]->public_key());
}

TEST_CASE("engine: after a crash the signer guard refuses to sign a conflicting proposal") {
  test::TestValidators v(4);
  const ValidatorIndex me = ProposerFor(ProposerSchedule(v.set), 1, 0);
  // Before the crash this validator proposed block P at (1, 0).
  SignerState persisted = AfterSigning(SignerState{}, 1, 0, RoundStep::kPropose, BlockId("P"));
  Engine e(Config(v), v.signers[me].get(), EngineStart{0, persisted, std::nullopt});
  Actions start = e.Start();
  REQUIRE(Only<BuildBlock>(start).size() == 1);
  // The application builds a different block: proposing it would be equivocation.
  Block other{BlockId("Q"), {1, 2}};
  Actions a = e.Step(BlockBuilt{1, 0, other});
  CHECK(Only<Broadcast>(a).empty());
  CHECK(Only<PersistSignerState>(a).empty());
  CHECK(e.signer_state() == persisted);
  bool logged = false;
  for (const auto& l : Only<Log>(a)) logged |= l.message.find("signer guard") != std::string::npos;
  CHECK(logged);
}

TEST_CASE("engine: after a crash it re-sends the identical vote instead of a conflicting one") {
  test::TestValidators v(4);
  const ValidatorIndex proposer = ProposerFor(ProposerSchedule(v.set), 1, 0);
  const size_t me = (proposer + 1) % 4;
  // Before the crash this validator prevoted for block A at (1, 0); the vote may not have left.
  SignerState persisted = AfterSigning(SignerState{}, 1, 0, RoundStep::kPrevote, BlockId("A"));
  persisted.prevote = v.SignedVote(me, 1, 0, VoteType::kPrevote, BlockId("A"));
  Engine e(Config(v), v.signers[me].get(), EngineStart{0, persisted, std::nullopt});
  Actions start = e.Start();
  CHECK(HasBroadcastVote(start, VoteType::kPrevote, BlockId("A")));
  CHECK(Only<PersistSignerState>(start).empty());  // Sent again, not signed again.
  CHECK(e.step() == RoundStep::kPrevote);
  // The propose timeout no longer prevotes nil.
  Actions a = e.Step(TimeoutFired{Timeout{1, 0, TimeoutKind::kPropose}});
  CHECK(Only<Broadcast>(a).empty());
  // It may still precommit nil later in the round: that step comes after.
  a = e.Step(TimeoutFired{Timeout{1, 0, TimeoutKind::kPrevote}});
  CHECK(HasBroadcastVote(a, VoteType::kPrecommit, Hash256()));
}

TEST_CASE("engine: restarts at the round it last signed in, and keeps its lock") {
  test::TestValidators v(4);
  const Hash256 locked = BlockId("locked");
  SignerState persisted = AfterSigning(SignerState{}, 3, 2, RoundStep::kPrecommit, locked);
  Engine e(Config(v), v.signers[0].get(), EngineStart{2, persisted, std::nullopt});
  (void)e.Start();
  CHECK(e.height() == 3);
  CHECK(e.round() == 2);
  CHECK(e.lock().locked_round == 2u);
  CHECK(e.lock().locked_block == locked);
}

TEST_CASE("engine: a restarted proposer re-proposes its locked block with the proof of lock") {
  test::TestValidators v(4);
  const std::vector<ValidatorIndex> schedule = ProposerSchedule(v.set);
  const ValidatorIndex me = ProposerFor(schedule, 1, 3);
  const Block block{BlockId("locked"), {7, 7}};
  LockRecord lock{1, 2, block, {}};
  for (size_t i = 0; i < 3; ++i)
    lock.polka.push_back(v.SignedVote(i, 1, 2, VoteType::kPrevote, block.id));
  SignerState persisted = AfterSigning(SignerState{}, 1, 2, RoundStep::kPrecommit, block.id);
  persisted = AfterSigning(persisted, 1, 3, RoundStep::kPropose, Hash256());  // Round 3 began.
  persisted.step = 0;
  Engine e(Config(v), v.signers[me].get(), EngineStart{0, persisted, lock});
  Actions a = e.Start();
  REQUIRE(e.round() == 3);
  size_t proposals = 0, relayed = 0;
  for (const auto& b : Only<Broadcast>(a)) {
    if (auto* p = std::get_if<Proposal>(&b.message)) {
      ++proposals;
      CHECK(p->block_id == block.id);
      CHECK(p->pol_round == 2u);
    }
    if (auto* vote = std::get_if<Vote>(&b.message))
      relayed += vote->round == 2 && vote->block_id == block.id;
  }
  CHECK(proposals == 1);
  CHECK(relayed == 3);
}

TEST_CASE("engine: without signer state it abstains, says so, and signs again after the check") {
  Cluster c(4);
  // Validator 3 lost its signer state.
  c.engines[3] = std::make_unique<Engine>(Config(c.validators), c.validators.signers[3].get(),
                                          EngineStart{0, std::nullopt, std::nullopt});
  Actions start = c.engines[3]->Start();
  bool logged = false;
  for (const auto& l : Only<Log>(start))
    logged |= l.message.find("double-sign check") != std::string::npos;
  CHECK(logged);
  CHECK(c.engines[3]->abstaining());
  c.Apply(3, start);
  // It listens for a while before any commit can count (here: before the others start).
  size_t observe = 0;
  for (const auto& t : Only<ScheduleTimeout>(start)) {
    if (t.timeout.kind != TimeoutKind::kDoubleSignCheck) continue;
    ++observe;
    c.Apply(3, c.engines[3]->Step(TimeoutFired{t.timeout}));
  }
  CHECK(observe == 1);
  for (size_t i = 0; i < 3; ++i) c.Apply(i, c.engines[i]->Start());
  // Rounds that the abstaining validator would propose in end by timeouts.
  for (int k = 0; k < 10 && c.committed[3].size() < 6; ++k) {
    c.Run(3000);
    for (size_t i = 0; i < 4; ++i) c.FireTimeouts(i, TimeoutKind::kPropose);
    c.Run(3000);
    for (size_t i = 0; i < 4; ++i) c.FireTimeouts(i, TimeoutKind::kPrecommit);
  }
  c.Run(3000);
  REQUIRE(c.committed[3].size() >= 6);
  CHECK_FALSE(c.engines[3]->abstaining());
  // It signed nothing at heights 1 to 3 (first live commit at 1, resume after 3).
  for (const auto& [node, action] : c.all_actions) {
    if (node != 3) continue;
    if (auto* b = std::get_if<Broadcast>(&action)) {
      if (auto* vote = std::get_if<Vote>(&b->message)) CHECK(vote->height >= 4);
      if (auto* p = std::get_if<Proposal>(&b->message)) CHECK(p->height >= 4);
    }
  }
}

TEST_CASE(
    "engine: a restored signer state abstains until a live commit X, then signs after X + 2") {
  Cluster c(4);
  // Validator 3 restarts from a watermark restored from a backup: it knows it signed up to
  // height 1 round 0 (step 3), but it may have signed later heights after the backup.
  SignerState old;
  old.height = 1;
  old.round = 0;
  old.step = 3;
  old.block_id = core::Sha256Of("signed before the backup");
  c.engines[3] = std::make_unique<Engine>(Config(c.validators), c.validators.signers[3].get(),
                                          EngineStart{0, old, std::nullopt, /*abstain=*/true});
  CHECK(c.engines[3]->abstaining());
  Actions start = c.engines[3]->Start();
  bool logged = false;
  for (const auto& l : Only<Log>(start))
    logged |= l.message.find("restored from a backup") != std::string::npos;
  CHECK(logged);
  c.Apply(3, start);
  for (const auto& t : Only<ScheduleTimeout>(start)) {
    if (t.timeout.kind == TimeoutKind::kDoubleSignCheck)
      c.Apply(3, c.engines[3]->Step(TimeoutFired{t.timeout}));
  }
  for (size_t i = 0; i < 3; ++i) c.Apply(i, c.engines[i]->Start());
  for (int k = 0; k < 10 && c.committed[3].size() < 6; ++k) {
    c.Run(3000);
    for (size_t i = 0; i < 4; ++i) c.FireTimeouts(i, TimeoutKind::kPropose);
    c.Run(3000);
    for (size_t i = 0; i < 4; ++i) c.FireTimeouts(i, TimeoutKind::kPrecommit);
  }
  c.Run(3000);
  REQUIRE(c.committed[3].size() >= 6);
  CHECK_FALSE(c.engines[3]->abstaining());
  // The first live commit is height 1: nothing signed at heights 1 to 3, and it signs again
  // from height 4 (its votes count: it is back in the quorum).
  bool signed_later = false;
  for (const auto& [node, action] : c.all_actions) {
    if (node != 3) continue;
    if (auto* b = std::get_if<Broadcast>(&action)) {
      if (auto* vote = std::get_if<Vote>(&b->message)) {
        CHECK(vote->height >= 4);
        signed_later = true;
      }
      if (auto* p = std::get_if<Proposal>(&b->message)) CHECK(p->height >= 4);
    }
  }
  CHECK(signed_later);
}

TEST_CASE("engine: a restored signer state stays abstaining on fetched blocks alone") {
  Cluster c(4);
  c.StartAll();
  c.Run(3000);
  REQUIRE(c.committed[0].size() >= 5);
  test::TestValidators& v = c.validators;
  // Fetched blocks are history, not live: they could be replays long after the network moved
  // on, so they never end the double-sign check.
  Engine restored(Config(v), v.signers[1].get(), EngineStart{0, SignerState{}, std::nullopt, true});
  Actions start = restored.Start();
  for (const auto& t : Only<ScheduleTimeout>(start))
    if (t.timeout.kind == TimeoutKind::kDoubleSignCheck)
      (void)restored.Step(TimeoutFired{t.timeout});
  for (size_t h = 0; h < 5; ++h) {
    Actions a = restored.Step(BlockFetched{c.committed[0][h].block, c.committed[0][h].certificate});
    REQUIRE(Only<CommitBlock>(a).size() == 1);
    for (const auto& b : Only<Broadcast>(a)) {
      CHECK_FALSE(std::holds_alternative<Vote>(b.message));
      CHECK_FALSE(std::holds_alternative<Proposal>(b.message));
    }
  }
  CHECK(restored.height() == 6);
  CHECK(restored.abstaining());
}

TEST_CASE("engine: a certificate for a later height asks for blocks, and fetched blocks commit") {
  Cluster c(4);
  c.StartAll();
  c.Run(3000);
  REQUIRE(c.committed[0].size() >= 3);
  test::TestValidators& v = c.validators;
  Engine late(Config(v), v.signers[1].get(), EngineStart{});
  (void)late.Start();
  const CommitBlock& third = c.committed[0][2];
  Actions a = late.Step(CertificateReceived{third.certificate});
  auto fetch = Only<FetchBlocks>(a);
  REQUIRE(fetch.size() == 1);
  CHECK(fetch[0].from_height == 1);
  CHECK(fetch[0].to_height == 3);
  CHECK_FALSE(fetch[0].peers.empty());
  // A forged certificate is ignored.
  CommitCertificate forged = third.certificate;
  forged.height = 9;
  CHECK(Only<FetchBlocks>(late.Step(CertificateReceived{forged})).empty());
  // The wrong block for a certificate is ignored; the right ones commit in order.
  CHECK(Only<CommitBlock>(
            late.Step(BlockFetched{c.committed[0][1].block, c.committed[0][0].certificate}))
            .empty());
  for (size_t h = 0; h < 3; ++h) {
    auto commits = Only<CommitBlock>(
        late.Step(BlockFetched{c.committed[0][h].block, c.committed[0][h].certificate}));
    REQUIRE(commits.size() == 1);
    CHECK(commits[0].block.id == c.committed[0][h].block.id);
  }
  CHECK(late.height() == 4);
}

TEST_CASE("engine: a signer state ahead of the chain keeps its lock when the chain gets there") {
  // A data folder restored from an old copy, started with the newer watermark: locked at height
  // 3 while the chain is at 0. Catching up to height 3 must not forget the lock.
  Cluster c(4);
  c.StartAll();
  c.Run(3000);
  REQUIRE(c.committed[0].size() >= 3);
  test::TestValidators& v = c.validators;
  const Hash256 locked = BlockId("locked at 3");
  SignerState ahead = AfterSigning(SignerState{}, 3, 1, RoundStep::kPrecommit, locked);
  Engine restored(Config(v), v.signers[1].get(), EngineStart{0, ahead, std::nullopt});
  (void)restored.Start();
  CHECK_FALSE(restored.lock().locked_round);
  for (size_t h = 0; h < 2; ++h) {
    (void)restored.Step(BlockFetched{c.committed[0][h].block, c.committed[0][h].certificate});
  }
  REQUIRE(restored.height() == 3);
  CHECK(restored.lock().locked_round == 1u);
  CHECK(restored.lock().locked_block == locked);
}

TEST_CASE("engine: validators holding more than 1/3 in a later round pull a validator forward") {
  test::TestValidators v(4);
  Engine e(Config(v), v.signers[0].get(), EngineStart{});
  (void)e.Start();
  (void)e.Step(VoteReceived{v.SignedVote(1, 1, 5, VoteType::kPrevote, Hash256())});
  CHECK(e.round() == 0);  // One of four is not more than 1/3.
  (void)e.Step(VoteReceived{v.SignedVote(2, 1, 3, VoteType::kPrecommit, Hash256())});
  CHECK(e.round() == 3);  // Two validators are at round 3 or later.
}

TEST_CASE("engine: a stale vote from a lagging peer is answered with a certificate") {
  Cluster c(4);
  c.StartAll();
  c.Run(1500);
  REQUIRE(c.engines[0]->height() > 2);
  c.FireTimeouts(0, TimeoutKind::kRebroadcast);  // Forget whom it already helped.
  Actions a = c.engines[0]->Step(
      VoteReceived{c.validators.SignedVote(2, 1, 0, VoteType::kPrevote, Hash256())});
  auto sends = Only<SendTo>(a);
  REQUIRE(sends.size() == 1);
  CHECK(sends[0].to == 2);
  REQUIRE(std::holds_alternative<CommitCertificate>(sends[0].message));
  // Height 1 is older than the certificates kept: the latest one tells the peer how far behind
  // it is.
  const uint64_t latest = c.engines[0]->height() - 1;
  CHECK(std::get<CommitCertificate>(sends[0].message).height == latest);
  // Once per height.
  CHECK(Only<SendTo>(c.engines[0]->Step(VoteReceived{
                         c.validators.SignedVote(2, 1, 0, VoteType::kPrecommit, Hash256())}))
            .empty());
  c.FireTimeouts(0, TimeoutKind::kRebroadcast);
  // A peer within reach gets the certificate for its own height.
  auto near = Only<SendTo>(c.engines[0]->Step(
      VoteReceived{c.validators.SignedVote(3, latest - 1, 0, VoteType::kPrevote, Hash256())}));
  REQUIRE(near.size() == 1);
  CHECK(std::get<CommitCertificate>(near[0].message).height == latest - 1);
}

namespace {

// A proposal for (height, round) signed by that round's proposer.
Proposal SignedProposal(const test::TestValidators& v, uint64_t height, uint32_t round,
                        std::optional<uint32_t> pol_round, const Block& block) {
  const ValidatorIndex proposer = ProposerFor(ProposerSchedule(v.set), height, round);
  Proposal p{height, round, pol_round, block.id, block.data, v.signers[proposer]->public_key(), {}};
  p.signature = v.signers[proposer]->Sign(core::ProposalSignBytes(kChain, p));
  return p;
}

// Moves `e` (at height 1, round 0) to `round` with round-skip votes from two validators other
// than `me`.
void SkipTo(Engine& e, const test::TestValidators& v, size_t me, uint32_t round) {
  size_t sent = 0;
  for (size_t i = 0; i < v.signers.size() && sent < 2; ++i) {
    if (i == me) continue;
    (void)e.Step(VoteReceived{v.SignedVote(i, 1, round, VoteType::kPrevote, Hash256())});
    ++sent;
  }
  REQUIRE(e.round() == round);
}

}  // namespace

TEST_CASE("engine: a re-proposal with a polka more than 64 rounds old still gets a prevote") {
  // Line 28 needs the polka of round vr however old it is: a validator locked at round 2 and cut
  // off for a long time can only be joined by the others through it.
  test::TestValidators v(4);
  const Block block{BlockId("locked at round 2"), {1, 2, 3}};
  for (uint32_t round : {41u, 66u, 67u, 70u, 200u}) {
    CAPTURE(round);
    const ValidatorIndex proposer = ProposerFor(ProposerSchedule(v.set), 1, round);
    const size_t me = (proposer + 1) % 4;
    Engine e(Config(v), v.signers[me].get(), EngineStart{});
    (void)e.Start();
    SkipTo(e, v, me, round);
    Actions a = e.Step(ProposalReceived{SignedProposal(v, 1, round, 2u, block)});
    REQUIRE(Only<ValidateBlock>(a).size() == 1);
    for (size_t i = 0; i < 4; ++i)
      if (i != me) (void)e.Step(VoteReceived{v.SignedVote(i, 1, 2, VoteType::kPrevote, block.id)});
    a = e.Step(BlockVerdict{1, block.id, true});
    CHECK(HasBroadcastVote(a, VoteType::kPrevote, block.id));
  }
}

TEST_CASE("engine: one signed vote at a huge height does not switch off block fetching") {
  Cluster c(4);
  c.StartAll();
  c.Run(3000);
  REQUIRE(c.committed[0].size() >= 3);
  test::TestValidators& v = c.validators;
  const uint64_t huge = uint64_t{1} << 62;
  Engine late(Config(v), v.signers[1].get(), EngineStart{});
  (void)late.Start();
  // Validator 3 claims a height far ahead: it is asked (it signed the claim), for one batch.
  auto fetch = Only<FetchBlocks>(
      late.Step(VoteReceived{v.SignedVote(3, huge, 0, VoteType::kPrevote, Hash256())}));
  REQUIRE(fetch.size() == 1);
  CHECK(fetch[0].peers == std::vector<ValidatorIndex>{3});
  CHECK(fetch[0].to_height < fetch[0].from_height + kMaxFetchHeights);
  // A certificate still asks for blocks.
  fetch = Only<FetchBlocks>(late.Step(CertificateReceived{c.committed[0][2].certificate}));
  REQUIRE(fetch.size() == 1);
  CHECK(fetch[0].to_height == 3);
  // So does a message from another validator a few heights ahead.
  fetch = Only<FetchBlocks>(
      late.Step(VoteReceived{v.SignedVote(2, 6, 0, VoteType::kPrevote, Hash256())}));
  REQUIRE(fetch.size() == 1);
  CHECK(fetch[0].peers == std::vector<ValidatorIndex>{2});
  CHECK(fetch[0].to_height == 5);

  // And a precommit quorum for a block never seen fetches it.
  Engine other(Config(v), v.signers[1].get(), EngineStart{});
  (void)other.Start();
  (void)other.Step(VoteReceived{v.SignedVote(3, huge, 0, VoteType::kPrevote, Hash256())});
  const Hash256 unseen = BlockId("never proposed to us");
  Actions a;
  for (size_t i : {0, 2, 3})
    a = other.Step(VoteReceived{v.SignedVote(i, 1, 0, VoteType::kPrecommit, unseen)});
  fetch = Only<FetchBlocks>(a);
  REQUIRE(fetch.size() == 1);
  CHECK(fetch[0].from_height == 1);
  CHECK(fetch[0].to_height == 1);
}

namespace {

void CheckUnder(const EngineFootprint& f, const EngineFootprint& limit) {
  CHECK(f.rounds <= limit.rounds);
  CHECK(f.vote_entries <= limit.vote_entries);
  CHECK(f.blocks <= limit.blocks);
  CHECK(f.block_bytes <= limit.block_bytes);
  CHECK(f.buffered <= limit.buffered);
  CHECK(f.buffered_bytes <= limit.buffered_bytes);
  CHECK(f.other <= limit.other);
}

}  // namespace

TEST_CASE("engine: votes for ever new blocks from one validator are remembered three times") {
  test::TestValidators v(4);
  Engine e(Config(v), v.signers[0].get(), EngineStart{});
  (void)e.Start();
  const size_t before = e.Footprint().vote_entries;
  for (int i = 0; i < 300; ++i) {
    const Hash256 forged = BlockId("forged " + std::to_string(i));
    (void)e.Step(VoteReceived{v.SignedVote(3, 1, 0, VoteType::kPrevote, forged)});
    (void)e.Step(VoteReceived{v.SignedVote(3, 1, 0, VoteType::kPrecommit, forged)});
  }
  CHECK(e.Footprint().vote_entries == before + 2 * VoteSet::kMaxVotesPerValidator);
  CheckUnder(e.Footprint(), FootprintLimit(e.config()));
}

TEST_CASE("engine: a proposal larger than genesis' max_block_bytes is dropped unread") {
  test::TestValidators v(4);
  const ValidatorIndex proposer = ProposerFor(ProposerSchedule(v.set), 1, 0);
  EngineConfig config = Config(v);
  config.max_block_bytes = 4096;
  Engine e(config, v.signers[(proposer + 1) % 4].get(), EngineStart{});
  (void)e.Start();
  const Block big{BlockId("big"), core::Bytes(4097, 7)};
  CHECK(Only<ValidateBlock>(e.Step(ProposalReceived{SignedProposal(v, 1, 0, std::nullopt, big)}))
            .empty());
  const Block fits{BlockId("fits"), core::Bytes(4096, 7)};
  CHECK(Only<ValidateBlock>(e.Step(ProposalReceived{SignedProposal(v, 1, 0, std::nullopt, fits)}))
            .size() == 1);
}

TEST_CASE("engine: proposals for every round a proposer owns stay under the block limit") {
  // Each round's proposer sends a full block for its round and for every later round it owns
  // within reach, as a Byzantine proposer would; the validator moves through 150 rounds.
  test::TestValidators v(4);
  EngineConfig config = Config(v);
  config.max_block_bytes = 2048;
  const size_t me = 0;
  Engine e(config, v.signers[me].get(), EngineStart{});
  (void)e.Start();
  const EngineFootprint limit = FootprintLimit(e.config());
  CHECK(limit.block_bytes <= 6 * config.max_block_bytes);
  size_t blocks_seen = 0;
  while (e.round() < 150) {
    const uint32_t round = e.round();
    for (uint32_t r = round; r <= round + kMaxRoundsAhead; ++r) {
      if (ProposerFor(ProposerSchedule(v.set), 1, r) == me) continue;
      const Block b{BlockId("r" + std::to_string(r) + " seen at " + std::to_string(round)),
                    core::Bytes(2048, static_cast<uint8_t>(r))};
      for (const auto& check : Only<ValidateBlock>(
               e.Step(ProposalReceived{SignedProposal(v, 1, r, std::nullopt, b)}))) {
        (void)e.Step(BlockVerdict{1, check.block.id, true});
        ++blocks_seen;
      }
      CheckUnder(e.Footprint(), limit);
    }
    // The proposers' rounds pull it forward (line 55); else two validators do.
    if (e.round() == round) SkipTo(e, v, me, round + 1);
  }
  CHECK(blocks_seen >= 40);
}

TEST_CASE("engine: forged next-height messages take no validator's slots") {
  test::TestValidators v(4);
  Engine e(Config(v), v.signers[0].get(), EngineStart{});
  (void)e.Start();
  // Anyone (an observer too) can send messages naming validator 2; only its signature counts.
  for (int i = 0; i < 20; ++i) {
    Vote forged = v.SignedVote(2, 2, static_cast<uint32_t>(i), VoteType::kPrevote, Hash256());
    forged.signature.bytes[0] ^= 1;
    (void)e.Step(VoteReceived{forged});
    Proposal p = SignedProposal(v, 2, 0, std::nullopt, Block{BlockId("f"), {1}});
    p.block_id = BlockId("forged " + std::to_string(i));  // No longer what was signed.
    (void)e.Step(ProposalReceived{p});
  }
  CHECK(e.Footprint().buffered == 0);
  // The real ones are buffered, each once, and a validator fills only its own slots.
  const Vote real = v.SignedVote(2, 2, 0, VoteType::kPrevote, Hash256());
  (void)e.Step(VoteReceived{real});
  (void)e.Step(VoteReceived{real});
  CHECK(e.Footprint().buffered == 1);
  for (uint32_t r = 0; r < 40; ++r)
    (void)e.Step(VoteReceived{v.SignedVote(3, 2, r, VoteType::kPrecommit, Hash256())});
  CHECK(e.Footprint().buffered == 1 + kMaxFutureMessagesPerValidator);
  CheckUnder(e.Footprint(), FootprintLimit(e.config()));
}

TEST_CASE("engine: a forged stale message is not answered") {
  Cluster c(4);
  c.StartAll();
  c.Run(1500);
  REQUIRE(c.engines[0]->height() > 2);
  c.FireTimeouts(0, TimeoutKind::kRebroadcast);
  Vote forged = c.validators.SignedVote(2, 1, 0, VoteType::kPrevote, Hash256());
  forged.signature.bytes[5] ^= 1;
  CHECK(Only<SendTo>(c.engines[0]->Step(VoteReceived{forged})).empty());
  // The validator's own message still is.
  CHECK(Only<SendTo>(c.engines[0]->Step(VoteReceived{
                         c.validators.SignedVote(2, 1, 0, VoteType::kPrevote, Hash256())}))
            .size() == 1);
}

TEST_CASE(
    "engine: replayed proposals and certificate precommits do not end the double-sign check") {
  // Validator 3 took part in heights 1 to 8 and more; then it comes back from an old backup (no
  // signer state, nothing committed) and a Byzantine peer replays old heights to it.
  Cluster c(4);
  c.StartAll();
  c.Run(6000);
  REQUIRE(c.committed[0].size() >= 8);
  std::map<std::pair<uint64_t, uint32_t>, Proposal> proposals;
  for (const auto& [node, action] : c.all_actions)
    if (auto* b = std::get_if<Broadcast>(&action))
      if (auto* p = std::get_if<Proposal>(&b->message))
        proposals.try_emplace({p->height, p->round}, *p);
  auto replay = [&](Engine& e, uint64_t h) {
    const CommitCertificate& cert = c.committed[0][h - 1].certificate;
    Actions a = e.Step(ProposalReceived{proposals.at({h, cert.round})});
    for (const auto& check : Only<ValidateBlock>(a))
      (void)e.Step(BlockVerdict{check.height, check.block.id, true});
    for (const CommitSignature& s : cert.signatures) {
      a = e.Step(VoteReceived{
          Vote{h, cert.round, VoteType::kPrecommit, cert.block_id, s.validator, s.signature}});
      for (const auto& l : Only<Log>(a)) CHECK(l.message.find("check passed") == std::string::npos);
    }
  };
  test::TestValidators& v = c.validators;

  SUBCASE("right after the restart") {
    Engine e(Config(v), v.signers[3].get(), EngineStart{0, std::nullopt, std::nullopt});
    (void)e.Start();
    for (uint64_t h = 1; h <= 4; ++h) replay(e, h);
    CHECK(e.height() == 5);  // It follows the chain,
    CHECK(e.abstaining());   // but none of these commits is live.
  }
  SUBCASE("after listening, having heard the network further on") {
    Engine e(Config(v), v.signers[3].get(), EngineStart{0, std::nullopt, std::nullopt});
    const Actions start = e.Start();
    const uint64_t now = c.engines[0]->height();
    for (size_t i : {0, 1})
      (void)e.Step(VoteReceived{v.SignedVote(i, now, 0, VoteType::kPrevote, Hash256())});
    for (const auto& t : Only<ScheduleTimeout>(start)) (void)e.Step(TimeoutFired{t.timeout});
    for (uint64_t h = 1; h <= 5; ++h) replay(e, h);
    CHECK(e.height() == 6);
    CHECK(e.abstaining());
  }
}

TEST_CASE("engine: an equivocator that filled its vote slots with junk cannot keep a polka out") {
  // Validator 3 sends prevotes for three blocks nobody proposed at round 2, then its real
  // prevote is part of the round-2 polka that a re-proposal at round 5 relays. Without it the
  // polka is short, and a validator that needs it (line 28) could never prevote the block.
  test::TestValidators v(4);
  const uint32_t round = 5;
  const ValidatorIndex proposer = ProposerFor(ProposerSchedule(v.set), 1, round);
  const size_t me = proposer == 0 ? 1 : 0;
  Engine e(Config(v), v.signers[me].get(), EngineStart{});
  (void)e.Start();
  for (int i = 0; i < 3; ++i)
    (void)e.Step(VoteReceived{
        v.SignedVote(3, 1, 2, VoteType::kPrevote, BlockId("junk " + std::to_string(i)))});
  SkipTo(e, v, me, round);
  const Block block{BlockId("polka at round 2"), {4, 2}};
  Actions a = e.Step(ProposalReceived{SignedProposal(v, 1, round, 2u, block)});
  REQUIRE(Only<ValidateBlock>(a).size() == 1);
  for (size_t i = 0; i < 4; ++i)
    if (i != me) (void)e.Step(VoteReceived{v.SignedVote(i, 1, 2, VoteType::kPrevote, block.id)});
  a = e.Step(BlockVerdict{1, block.id, true});
  CHECK(HasBroadcastVote(a, VoteType::kPrevote, block.id));
  CheckUnder(e.Footprint(), FootprintLimit(e.config()));
}

namespace {

// Fires the round timeouts of `nodes` in the order a stuck round needs them until every one of
// them has reached `round` (or a height past 1), delivering messages in between. Only the nodes
// in the lowest round time out, as if the network were synchronous and timeouts long enough:
// a faster node waits for the others.
void AdvanceRounds(Cluster& c, const std::vector<size_t>& nodes, uint32_t round) {
  for (int guard = 0; guard < 5000; ++guard) {
    uint32_t lowest = UINT32_MAX;
    for (size_t n : nodes)
      if (c.engines[n]->height() == 1) lowest = std::min(lowest, c.engines[n]->round());
    if (lowest == UINT32_MAX || lowest >= round) return;
    for (TimeoutKind kind :
         {TimeoutKind::kPropose, TimeoutKind::kRebroadcast, TimeoutKind::kPrevote,
          TimeoutKind::kRebroadcast, TimeoutKind::kPrecommit}) {
      for (size_t n : nodes)
        if (c.engines[n]->height() == 1 && c.engines[n]->round() == lowest) c.FireTimeouts(n, kind);
      c.Run();
    }
  }
  FAIL("rounds did not advance");
}

}  // namespace

TEST_CASE("engine: after long asynchrony a validator locked long ago is joined again") {
  // Validator 0 locked on X at round 2 with the prevotes of 0, 1 and 3; 1 prevoted X there but
  // precommitted nil (unlocked); 2 never saw X. Then 3 falls silent for good and 0 is cut off
  // while 1 and 2 go through 70 rounds. When 0 is back, 0, 1 and 2 are all that is left: they
  // commit only if 1 and 2 accept X on the round-2 polka that 0 relays with its re-proposal.
  Cluster c(4);
  test::TestValidators& v = c.validators;
  const Block x{BlockId("X, locked at round 2"), {2, 2}};
  LockRecord lock{1, 2, x, {}};
  for (size_t i : {0, 1, 3}) lock.polka.push_back(v.SignedVote(i, 1, 2, VoteType::kPrevote, x.id));
  SignerState s0 = AfterSigning(SignerState{}, 1, 2, RoundStep::kPrecommit, x.id);
  SignerState s1 = AfterSigning(SignerState{}, 1, 2, RoundStep::kPrecommit, Hash256());
  c.engines[0] = std::make_unique<Engine>(Config(v), v.signers[0].get(), EngineStart{0, s0, lock});
  c.engines[1] =
      std::make_unique<Engine>(Config(v), v.signers[1].get(), EngineStart{0, s1, std::nullopt});
  c.down = {0, 3};
  for (size_t i : {1, 2}) c.Apply(i, c.engines[i]->Start());
  c.Run();
  AdvanceRounds(c, {1, 2}, 70);
  REQUIRE(c.committed[1].empty());
  c.down = {3};
  c.Apply(0, c.engines[0]->Start());
  c.Run();
  AdvanceRounds(c, {0, 1, 2}, 90);
  for (size_t i : {0, 1, 2}) {
    REQUIRE(c.committed[i].size() >= 1);
    CHECK(c.committed[i][0].block.id == x.id);
  }
}

TEST_CASE("engine: timeouts grow by delta per round up to the cap, so a long outage heals fast") {
  test::TestValidators v(4);
  EngineConfig config = Config(v);
  config.timeouts = TimeoutConfig{1000, 500, 500, 250, 2000};
  const auto propose_delay = [&](uint32_t round) {
    Engine e(config, v.signers[0].get(), EngineStart{});
    Actions start = e.Start();
    if (round == 0) return Only<ScheduleTimeout>(start).at(0).delay_ms;
    Actions a;
    for (size_t i = 1; i <= 2; ++i) {
      Actions step = e.Step(VoteReceived{v.SignedVote(i, 1, round, VoteType::kPrevote, Hash256())});
      a.insert(a.end(), step.begin(), step.end());
    }
    REQUIRE(e.round() == round);
    for (const ScheduleTimeout& t : Only<ScheduleTimeout>(a))
      if (t.timeout.kind == TimeoutKind::kPropose && t.timeout.round == round) return t.delay_ms;
    FAIL("no propose timeout scheduled for round " << round);
    return uint64_t{0};
  };
  CHECK(propose_delay(0) == 1000);
  CHECK(propose_delay(3) == 1000 + 3 * 250);
  CHECK(propose_delay(8) == 1000 + 2000);  // Exactly at the cap.
  CHECK(propose_delay(9) == 1000 + 2000);
  CHECK(propose_delay(5000) == 1000 + 2000);  // Was 1000 + 1,250,000 before the cap.

  config.timeouts.max_growth_ms = 0;  // No growth at all.
  CHECK(propose_delay(7) == 1000);
}

TEST_CASE("engine: a validator heard in an earlier round is shown the current round once") {
  test::TestValidators v(4);
  Engine e(Config(v), v.signers[0].get(), EngineStart{});
  (void)e.Start();
  SkipTo(e, v, 0, 5);
  (void)e.Step(TimeoutFired{Timeout{1, 5, TimeoutKind::kPropose}});  // Prevotes nil in round 5.
  auto shown = [](const Actions& a, size_t to) {
    std::vector<Vote> votes;
    for (const SendTo& s : Only<SendTo>(a))
      if (auto* vote = std::get_if<Vote>(&s.message); vote && s.to == to) votes.push_back(*vote);
    return votes;
  };
  Actions a = e.Step(VoteReceived{v.SignedVote(3, 1, 1, VoteType::kPrevote, Hash256())});
  // Its prevote and (with the two round-skip prevotes, a nil quorum) its precommit of round 5.
  auto votes = shown(a, 3);
  REQUIRE(votes.size() == 2);
  for (const Vote& vote : votes) {
    CHECK(vote.round == 5);
    CHECK(vote.validator == v.signers[0]->public_key());
  }
  CHECK(votes[0].type == VoteType::kPrevote);
  // Once per round: a second message from round 1 or 2 shows nothing of round 5 again.
  CHECK(
      shown(e.Step(VoteReceived{v.SignedVote(3, 1, 2, VoteType::kPrevote, Hash256())}), 3).empty());
  // A forged vote (bad signature) in another validator's name gets nothing.
  Vote forged = v.SignedVote(1, 1, 1, VoteType::kPrevote, Hash256());
  forged.signature.bytes[0] ^= 1;
  CHECK(Only<SendTo>(e.Step(VoteReceived{forged})).empty());

  // More than 64 rounds behind: its vote is kept from nothing, yet it is shown where we are.
  SkipTo(e, v, 0, 80);
  (void)e.Step(TimeoutFired{Timeout{1, 80, TimeoutKind::kPropose}});
  votes = shown(e.Step(VoteReceived{v.SignedVote(3, 1, 2, VoteType::kPrecommit, Hash256())}), 3);
  REQUIRE(!votes.empty());
  for (const Vote& vote : votes) CHECK(vote.round == 80);
  Vote forged_old = v.SignedVote(2, 1, 3, VoteType::kPrecommit, Hash256());
  forged_old.signature.bytes[5] ^= 1;
  CHECK(Only<SendTo>(e.Step(VoteReceived{forged_old})).empty());
}

TEST_CASE("engine: validators stopped while the others went 30 rounds on follow at once") {
  // Validators 2 and 3 are stopped at round 0 (a quorum is lost) while 0 and 1 time out through
  // 30 rounds. When 2 and 3 run again, their first round-0 messages are answered with the
  // current round's messages (or, while 0 and 1 have signed nothing in it yet, the previous
  // round's), and they follow without waiting for anyone's rebroadcast timer.
  Cluster c(4);
  c.down = {2, 3};
  for (size_t i : {0, 1}) c.Apply(i, c.engines[i]->Start());
  c.Apply(2, c.engines[2]->Start());
  c.Apply(3, c.engines[3]->Start());
  c.Run();
  AdvanceRounds(c, {0, 1}, 30);
  const uint32_t round = c.engines[0]->round();
  REQUIRE(round >= 30);
  REQUIRE(c.engines[1]->round() == round);
  c.down.clear();
  // Their overdue propose timeouts fire first, as after SIGCONT.
  c.FireTimeouts(2, TimeoutKind::kPropose);
  c.FireTimeouts(3, TimeoutKind::kPropose);
  c.Run();
  CHECK(c.engines[2]->round() >= round - 1);
  CHECK(c.engines[3]->round() >= round - 1);
  // And the four commit, with round timeouts only (no rebroadcast needed).
  for (int guard = 0; guard < 10 && c.committed[0].empty(); ++guard) {
    for (TimeoutKind kind : {TimeoutKind::kPropose, TimeoutKind::kPrevote, TimeoutKind::kPrecommit})
      for (size_t n = 0; n < 4; ++n) c.FireTimeouts(n, kind);
    c.Run();
  }
  for (size_t n = 0; n < 4; ++n) CHECK(c.committed[n].size() >= 1);
}
