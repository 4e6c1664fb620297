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
  CHECK(ev[0].evidence.first == a);
  CHECK(ev[0].evidence.second == b);
  CHECK(core::VerifyEvidence(v.set, kChain, ev[0].evidence).ok());
  CHECK(Only<ReportEvidence>(e.Step(VoteReceived{c})).empty());  // Reported once.
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
  for (size_t i = 0; i < 3; ++i) c.Apply(i, c.engines[i]->Start());
  c.Run(4000);
  REQUIRE(c.committed[3].size() >= 4);
  CHECK_FALSE(c.engines[3]->abstaining());
  // It signed nothing at heights 1 and 2 (first live commit at 1, resume after 2).
  for (const auto& [node, action] : c.all_actions) {
    if (node != 3) continue;
    if (auto* b = std::get_if<Broadcast>(&action)) {
      if (auto* vote = std::get_if<Vote>(&b->message)) CHECK(vote->height >= 3);
      if (auto* p = std::get_if<Proposal>(&b->message)) CHECK(p->height >= 3);
    }
  }
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
