// The engine across validator set changes (docs/consensus.md, "Changing validator sets"): every
// vote, proposal, certificate and proposer of height h is checked against the set of height h.

#include <doctest/doctest.h>

#include <deque>
#include <map>
#include <memory>
#include <set>

#include "consensus/engine.h"
#include "consensus_fixture.h"
#include "core/crypto/sha256.h"

using namespace hallmark;
using namespace hallmark::consensus;
using core::Hash256;
using test::BlockId;
using test::kChain;

namespace {

template <typename T>
std::vector<T> Only(const Actions& actions) {
  std::vector<T> out;
  for (const Action& a : actions)
    if (auto* x = std::get_if<T>(&a)) out.push_back(*x);
  return out;
}

// Six keys; sets are made of some of them.
struct Keys {
  test::TestValidators all{6};
  ValidatorSet Set(std::vector<std::pair<size_t, uint64_t>> members) const {
    std::vector<core::ValidatorEntry> entries;
    for (auto [i, power] : members) entries.push_back({all.signers[i]->public_key(), power});
    return std::move(ValidatorSet::Create(std::move(entries)).value());
  }
  const PublicKey& Key(size_t i) const { return all.signers[i]->public_key(); }
};

EngineConfig Config(const ValidatorSet& set) {
  EngineConfig c;
  c.chain_id = kChain;
  c.validators = set;
  return c;
}

// One engine per key, joined by an instant, lossless network that reaches followers too.
// When nothing is in flight, every up node's timeouts for its current round fire.
struct Net {
  Net(const Keys& keys, const ValidatorSet& first, std::map<uint64_t, ValidatorSet> later)
      : keys(keys), epochs(std::move(later)) {
    for (size_t i = 0; i < 6; ++i)
      engines.push_back(
          std::make_unique<Engine>(Config(first), keys.all.signers[i].get(), EngineStart{}));
    committed.resize(6);
  }
  void Start() {
    for (size_t i = 0; i < engines.size(); ++i) {
      Apply(i, engines[i]->Start());
      // What the driver does once it knows the schedule (here: from the start).
      for (const auto& [from, set] : epochs)
        Apply(i, engines[i]->Step(ScheduleValidators{from, set}));
    }
  }
  void Apply(size_t node, const Actions& actions) {
    for (const Action& a : actions) {
      if (auto* b = std::get_if<Broadcast>(&a)) {
        if (auto* v = std::get_if<Vote>(&b->message); v && v->validator == keys.Key(node))
          signed_votes[node].insert(v->height);
        if (auto* p = std::get_if<Proposal>(&b->message); p && p->proposer == keys.Key(node))
          signed_votes[node].insert(p->height);
        for (size_t j = 0; j < engines.size(); ++j)
          if (j != node && !down.count(j)) queue.push_back({j, ToEvent(b->message)});
      } else if (auto* s = std::get_if<SendTo>(&a)) {
        for (size_t j = 0; j < engines.size(); ++j)
          if (keys.Key(j) == s->key) queue.push_back({j, ToEvent(s->message)});
      } else if (auto* t = std::get_if<ScheduleTimeout>(&a)) {
        timeouts.push_back({node, t->timeout});
      } else if (auto* bb = std::get_if<BuildBlock>(&a)) {
        const std::string data = "block h=" + std::to_string(bb->height) +
                                 " r=" + std::to_string(bb->round) + " by " + std::to_string(node);
        Block block{core::Sha256Of(data), core::Bytes(data.begin(), data.end())};
        queue.push_back({node, BlockBuilt{bb->height, bb->round, block}});
      } else if (auto* vb = std::get_if<ValidateBlock>(&a)) {
        queue.push_back({node, BlockVerdict{vb->height, vb->block.id, true}});
      } else if (auto* c = std::get_if<CommitBlock>(&a)) {
        committed[node].push_back(*c);
      } else if (auto* f = std::get_if<FetchBlocks>(&a)) {
        // Served by any node that has the blocks.
        for (size_t j = 0; j < engines.size(); ++j) {
          if (committed[j].size() < f->to_height) continue;
          for (uint64_t h = f->from_height; h <= f->to_height; ++h)
            queue.push_back(
                {node, BlockFetched{committed[j][h - 1].block, committed[j][h - 1].certificate}});
          break;
        }
      }
    }
  }
  static Event ToEvent(const Message& m) {
    if (auto* p = std::get_if<Proposal>(&m)) return ProposalReceived{*p};
    if (auto* v = std::get_if<Vote>(&m)) return VoteReceived{*v};
    return CertificateReceived{std::get<CommitCertificate>(m)};
  }
  // Runs until every up node has committed `heights` blocks (or the step budget runs out).
  void RunTo(uint64_t heights, size_t max_steps = 200000) {
    for (size_t steps = 0; steps < max_steps; ++steps) {
      bool all = true;
      for (size_t i = 0; i < engines.size(); ++i)
        if (!down.count(i) && committed[i].size() < heights) all = false;
      if (all) return;
      if (queue.empty()) {
        auto pending = std::move(timeouts);
        timeouts.clear();
        for (const auto& [n, t] : pending) {
          if (down.count(n)) continue;
          if (t.height == engines[n]->height() && t.round == engines[n]->round()) {
            Apply(n, engines[n]->Step(TimeoutFired{t}));
          } else if (t.height >= engines[n]->height()) {
            timeouts.push_back({n, t});
          }
        }
        continue;
      }
      auto [node, event] = queue.front();
      queue.pop_front();
      if (down.count(node)) continue;
      Apply(node, engines[node]->Step(event));
    }
  }

  const Keys& keys;
  std::map<uint64_t, ValidatorSet> epochs;
  std::vector<std::unique_ptr<Engine>> engines;
  std::deque<std::pair<size_t, Event>> queue;
  std::vector<std::pair<size_t, Timeout>> timeouts;
  std::vector<std::vector<CommitBlock>> committed;
  std::map<size_t, std::set<uint64_t>> signed_votes;  // Heights each node signed at.
  std::set<size_t> down;
};

bool Signs(const CommitCertificate& c, const PublicKey& key) {
  for (const auto& s : c.signatures)
    if (s.validator == key) return true;
  return false;
}

}  // namespace

TEST_CASE(
    "validator change: a certificate by the old set for the new set's first height is refused") {
  Keys k;
  // Validator 3 is replaced by validator 4 (a key change) from height 2.
  const ValidatorSet a = k.Set({{0, 1}, {1, 1}, {2, 1}, {3, 1}});
  const ValidatorSet b = k.Set({{0, 1}, {1, 1}, {2, 1}, {4, 1}});
  Engine e(Config(a), k.all.signers[5].get(), EngineStart{});
  (void)e.Start();
  (void)e.Step(ScheduleValidators{2, b});
  CHECK(e.ValidatorSetAt(1).IndexOf(k.Key(3)).has_value());
  CHECK_FALSE(e.ValidatorSetAt(2).IndexOf(k.Key(3)).has_value());

  const Block b1{BlockId("one"), core::Bytes{1}};
  const Block b2{BlockId("two"), core::Bytes{2}};
  // Height 1 by the old set, with validator 3.
  REQUIRE(Only<CommitBlock>(e.Step(BlockFetched{b1, k.all.Certificate(1, 0, b1.id, {0, 1, 3})}))
              .size() == 1);
  REQUIRE(e.height() == 2);
  CHECK(e.validators().IndexOf(k.Key(4)).has_value());
  // Height 2 by the old set: 3 is a stranger there, so {0, 1, 3} is no quorum of the new set.
  CHECK(Only<CommitBlock>(e.Step(BlockFetched{b2, k.all.Certificate(2, 0, b2.id, {0, 1, 3})}))
            .empty());
  CHECK(Only<FetchBlocks>(e.Step(CertificateReceived{k.all.Certificate(2, 0, b2.id, {0, 1, 3})}))
            .empty());
  CHECK(e.height() == 2);
  // By the new set it commits.
  CHECK(Only<CommitBlock>(e.Step(BlockFetched{b2, k.all.Certificate(2, 0, b2.id, {0, 1, 4})}))
            .size() == 1);
  CHECK(e.height() == 3);
}

TEST_CASE(
    "validator change: a certificate for a later height is checked by the set of its height") {
  Keys k;
  const ValidatorSet a = k.Set({{0, 1}, {1, 1}, {2, 1}, {3, 1}});
  const ValidatorSet b = k.Set({{0, 1}, {1, 1}, {2, 1}, {4, 1}});
  Engine e(Config(a), k.all.signers[0].get(), EngineStart{});
  (void)e.Start();
  (void)e.Step(ScheduleValidators{3, b});
  const Hash256 id = BlockId("x");
  // Height 2 is the old set's: {1, 2, 3} proves it, {1, 2, 4} does not.
  CHECK(Only<FetchBlocks>(e.Step(CertificateReceived{k.all.Certificate(2, 0, id, {1, 2, 4})}))
            .empty());
  auto fetch =
      Only<FetchBlocks>(e.Step(CertificateReceived{k.all.Certificate(2, 0, id, {1, 2, 3})}));
  REQUIRE(fetch.size() == 1);
  CHECK(fetch[0].to_height == 2);
  // Beyond the last schedule the latest known set is used: {1, 2, 4} proves height 9.
  CHECK(Only<FetchBlocks>(e.Step(CertificateReceived{k.all.Certificate(9, 0, id, {1, 2, 3})}))
            .empty());
  fetch = Only<FetchBlocks>(e.Step(CertificateReceived{k.all.Certificate(9, 0, id, {1, 2, 4})}));
  REQUIRE(fetch.size() == 1);
  CHECK(fetch[0].to_height == 9);
  // Peers are named by index in the current set and by key; 4 is not in the current set.
  CHECK(fetch[0].peer_keys.size() == fetch[0].peers.size());
  for (size_t i = 0; i < fetch[0].peers.size(); ++i)
    CHECK(e.validators().at(fetch[0].peers[i]).key == fetch[0].peer_keys[i]);
  for (const PublicKey& key : fetch[0].peer_keys) CHECK(key != k.Key(4));
}

TEST_CASE(
    "validator change: a joining validator signs from its first height, and its votes count") {
  Keys k;
  const ValidatorSet a = k.Set({{0, 3}, {1, 3}, {2, 3}, {3, 3}});
  // Validator 4 joins at height 3 with power 4 (3 x 4 <= 12: the one-third rule).
  const ValidatorSet b = k.Set({{0, 3}, {1, 3}, {2, 3}, {3, 3}, {4, 4}});
  Net net(k, a, {{3, b}});
  // Validator 3 is down from the start: a keeps a quorum (9 of 12), b only with 4 (13 of 16).
  net.down = {3, 5};
  net.Start();
  CHECK_FALSE(net.engines[4]->my_index().has_value());
  net.RunTo(6);
  for (size_t i : {0, 1, 2, 4}) REQUIRE(net.committed[i].size() >= 6);
  // Same blocks everywhere, the follower included.
  for (size_t h = 0; h < 6; ++h)
    for (size_t i : {1, 2, 4}) CHECK(net.committed[i][h].block.id == net.committed[0][h].block.id);
  // Heights 1-2 certified by a (4 never signs there), 3 on by b, which needs 4's precommit.
  for (size_t h = 1; h <= 6; ++h) {
    const CommitCertificate& c = net.committed[0][h - 1].certificate;
    const ValidatorSet& set = h < 3 ? a : b;
    CHECK(core::VerifyCommitCertificate(set, kChain, c, h, c.block_id).ok());
    CHECK(Signs(c, k.Key(4)) == (h >= 3));
  }
  for (uint64_t h : net.signed_votes[4]) CHECK(h >= 3);
  CHECK(net.signed_votes[4].count(3));
  CHECK(net.engines[4]->my_index() == std::optional<ValidatorIndex>(4));
}

TEST_CASE("validator change: a leaving validator stops signing and keeps following") {
  Keys k;
  const ValidatorSet a = k.Set({{0, 1}, {1, 1}, {2, 1}, {3, 1}, {4, 1}});
  // Validator 4 leaves at height 3, and validator 0 is re-weighted (1 -> 2) at height 5.
  const ValidatorSet b = k.Set({{0, 1}, {1, 1}, {2, 1}, {3, 1}});
  const ValidatorSet c = k.Set({{0, 2}, {1, 1}, {2, 1}, {3, 1}});
  Net net(k, a, {{3, b}, {5, c}});
  net.down = {5};
  net.Start();
  net.RunTo(7);
  for (size_t i : {0, 1, 2, 3, 4}) REQUIRE(net.committed[i].size() >= 7);
  for (size_t h = 0; h < 7; ++h)
    for (size_t i : {1, 2, 3, 4})
      CHECK(net.committed[i][h].block.id == net.committed[0][h].block.id);
  for (uint64_t h : net.signed_votes[4]) CHECK(h < 3);
  CHECK_FALSE(net.engines[4]->my_index().has_value());
  for (size_t h = 1; h <= 7; ++h) {
    const CommitCertificate& cert = net.committed[1][h - 1].certificate;
    const ValidatorSet& set = h < 3 ? a : (h < 5 ? b : c);
    CHECK(core::VerifyCommitCertificate(set, kChain, cert, h, cert.block_id).ok());
  }
  CHECK(net.engines[0]->validators().at(0).voting_power == 2);
}

TEST_CASE("validator change: messages for the next height are checked against its set") {
  Keys k;
  const ValidatorSet a = k.Set({{0, 1}, {1, 1}, {2, 1}, {3, 1}});
  const ValidatorSet b = k.Set({{0, 1}, {1, 1}, {2, 1}, {4, 1}});
  Engine e(Config(a), k.all.signers[0].get(), EngineStart{});
  (void)e.Start();
  (void)e.Step(ScheduleValidators{2, b});
  const Hash256 id = BlockId("next");
  // 3 is not in the set of height 2: its vote for height 2 is not buffered; 4's is.
  (void)e.Step(VoteReceived{k.all.SignedVote(3, 2, 0, VoteType::kPrevote, id)});
  CHECK(e.Footprint().buffered == 0);
  (void)e.Step(VoteReceived{k.all.SignedVote(4, 2, 0, VoteType::kPrevote, id)});
  CHECK(e.Footprint().buffered == 1);
  // A later schedule that changes the next height's set drops what was buffered for it.
  Engine f(Config(a), k.all.signers[0].get(), EngineStart{});
  (void)f.Start();
  (void)f.Step(VoteReceived{k.all.SignedVote(3, 2, 0, VoteType::kPrevote, id)});
  CHECK(f.Footprint().buffered == 1);
  (void)f.Step(ScheduleValidators{2, b});
  CHECK(f.Footprint().buffered == 0);
  CHECK(f.ProposerOf(2, 0) < b.size());
  CHECK(f.Limit().buffered >= FootprintLimit(Config(b)).buffered);
}

TEST_CASE("validator change: a schedule for a height already entered is ignored and logged") {
  Keys k;
  const ValidatorSet a = k.Set({{0, 1}, {1, 1}, {2, 1}, {3, 1}});
  const ValidatorSet b = k.Set({{0, 1}, {1, 1}, {2, 1}, {4, 1}});
  Engine e(Config(a), k.all.signers[0].get(), EngineStart{2, SignerState{}, std::nullopt});
  (void)e.Start();
  REQUIRE(e.height() == 3);
  Actions out = e.Step(ScheduleValidators{3, b});
  CHECK(Only<Log>(out).size() == 1);
  CHECK(e.validators().IndexOf(k.Key(3)).has_value());
  CHECK(e.ValidatorSetAt(4).IndexOf(k.Key(3)).has_value());
}

TEST_CASE("validator change: the proposer of a height rotates over the set of that height") {
  Keys k;
  const ValidatorSet a = k.Set({{0, 1}, {1, 1}, {2, 1}, {3, 1}});
  const ValidatorSet b = k.Set({{0, 1}, {1, 1}, {2, 1}, {3, 1}, {4, 1}});
  Engine e(Config(a), nullptr, EngineStart{});
  (void)e.Start();
  (void)e.Step(ScheduleValidators{2, b});
  for (uint32_t r = 0; r < 10; ++r) {
    CHECK(e.ProposerOf(1, r) == ProposerFor(ProposerSchedule(a), 1, r));
    CHECK(e.ProposerOf(2, r) == ProposerFor(ProposerSchedule(b), 2, r));
    CHECK(e.ProposerOf(7, r) == ProposerFor(ProposerSchedule(b), 7, r));
  }
}

TEST_CASE("validator change: a key outside the set without signer state still runs the check") {
  // It may join a later set, and must not sign there before the double-sign check has passed.
  Keys k;
  const ValidatorSet a = k.Set({{0, 1}, {1, 1}, {2, 1}, {3, 1}});
  Engine e(Config(a), k.all.signers[4].get(), EngineStart{0, std::nullopt, std::nullopt});
  Actions out = e.Start();
  CHECK(e.abstaining());
  CHECK_FALSE(e.my_index().has_value());
  bool check_scheduled = false;
  for (const auto& t : Only<ScheduleTimeout>(out))
    check_scheduled |= t.timeout.kind == TimeoutKind::kDoubleSignCheck;
  CHECK(check_scheduled);
}

TEST_CASE("validator change: SendTo and FetchBlocks name validators by key as well as index") {
  Keys k;
  const ValidatorSet a = k.Set({{0, 1}, {1, 1}, {2, 1}, {3, 1}});
  const ValidatorSet b = k.Set({{0, 1}, {4, 1}, {2, 1}, {3, 1}});
  Engine e(Config(a), k.all.signers[0].get(), EngineStart{});
  (void)e.Start();
  (void)e.Step(ScheduleValidators{2, b});
  const Block b1{BlockId("one"), core::Bytes{1}};
  // After the commit of height 1 the engine is at height 2, whose set is b: indices are b's, and
  // the keys say which validator is meant.
  Actions out = e.Step(BlockFetched{b1, k.all.Certificate(1, 0, b1.id, {0, 1, 2})});
  REQUIRE(Only<CommitBlock>(out).size() == 1);
  auto fetch = Only<FetchBlocks>(
      e.Step(CertificateReceived{k.all.Certificate(3, 0, BlockId("x"), {2, 3, 4})}));
  REQUIRE(fetch.size() == 1);
  REQUIRE(fetch[0].peers.size() == fetch[0].peer_keys.size());
  for (size_t i = 0; i < fetch[0].peers.size(); ++i)
    CHECK(b.at(fetch[0].peers[i]).key == fetch[0].peer_keys[i]);
}
