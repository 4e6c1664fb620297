#include <doctest/doctest.h>

#include <future>

#include "fixtures.h"
#include "node/catch_up.h"

using namespace hallmark;
using namespace hallmark::test;
using node::FetchPlanner;
using node::FetchPlannerLimits;

namespace {

core::PublicKey Peer(int i) {
  return KeyFor("peer-" + std::to_string(i)).public_key();
}

using Clock = std::chrono::steady_clock;
const Clock::time_point kT0{};

FetchPlanner Planner() {
  return FetchPlanner(FetchPlannerLimits{
      .max_blocks_per_request = 10, .max_in_flight = 3, .max_ahead = 100, .timeout_ms = 1000});
}

}  // namespace

TEST_CASE("fetch planner: consecutive ranges, one request per peer, within the window") {
  FetchPlanner p = Planner();
  std::map<core::PublicKey, uint64_t> peers{
      {Peer(0), 500}, {Peer(1), 500}, {Peer(2), 500}, {Peer(3), 500}};
  auto reqs = p.Plan(5, 500, peers, kT0);
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[0].from == 6);
  CHECK(reqs[0].to == 15);
  CHECK(reqs[1].from == 16);
  CHECK(reqs[2].to == 35);
  CHECK(reqs[0].peer != reqs[1].peer);
  CHECK(reqs[1].peer != reqs[2].peer);
  CHECK(reqs[0].peer != reqs[2].peer);
  // Nothing more while all three are out.
  CHECK(p.Plan(5, 500, peers, kT0).empty());
  // One answers in full: its slot goes to the next range.
  p.OnResponse(reqs[0].peer, 6, 15);
  auto next = p.Plan(5, 500, peers, kT0);
  REQUIRE(next.size() == 1);
  CHECK(next[0].from == 36);
  CHECK(next[0].to == 45);
}

TEST_CASE("fetch planner: what a response left out is asked for first") {
  FetchPlanner p = Planner();
  std::map<core::PublicKey, uint64_t> peers{{Peer(0), 500}, {Peer(1), 500}};
  auto reqs = p.Plan(0, 500, peers, kT0);
  REQUIRE(reqs.size() == 2);
  p.OnResponse(reqs[0].peer, 1, 4);  // Asked 1..10: 5..10 is a hole.
  auto next = p.Plan(0, 500, peers, kT0);
  REQUIRE(next.size() == 1);
  CHECK(next[0].from == 5);
  CHECK(next[0].to == 10);
  // An empty answer leaves the whole range to ask again.
  p.OnResponse(reqs[1].peer, 1, 0);
  next = p.Plan(4, 500, peers, kT0);
  REQUIRE(next.size() == 1);
  CHECK(next[0].from == 11);
  CHECK(next[0].to == 20);
}

TEST_CASE("fetch planner: an unanswered request goes to another peer after the timeout") {
  FetchPlanner p = Planner();
  std::map<core::PublicKey, uint64_t> peers{{Peer(0), 15}, {Peer(1), 15}};
  auto reqs = p.Plan(0, 15, peers, kT0);
  REQUIRE(reqs.size() == 2);  // 1..10 and 11..15.
  p.OnResponse(reqs[1].peer, 11, 15);
  CHECK(p.Plan(0, 15, peers, kT0 + std::chrono::milliseconds(999)).empty());
  auto again = p.Plan(0, 15, peers, kT0 + std::chrono::milliseconds(1001));
  REQUIRE(again.size() == 1);
  CHECK(again[0].from == 1);
  CHECK(again[0].to == 10);
}

TEST_CASE("fetch planner: asks only peers that announced the heights, never past the target") {
  FetchPlanner p = Planner();
  std::map<core::PublicKey, uint64_t> peers{{Peer(0), 3}, {Peer(1), 12}};
  auto reqs = p.Plan(0, 12, peers, kT0);
  // 1..10 from the peer at 12; the peer at 3 cannot serve 11..12, so nothing is asked of it.
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].from == 1);
  CHECK(reqs[0].to == 10);
  CHECK(reqs[0].peer == Peer(1));
  p.OnResponse(Peer(1), 1, 10);
  auto next = p.Plan(10, 12, peers, kT0);
  REQUIRE(next.size() == 1);
  CHECK(next[0].from == 11);
  CHECK(next[0].to == 12);
  CHECK(next[0].peer == Peer(1));
}

TEST_CASE("fetch planner: nothing to ask at the target, and never more than max_ahead") {
  FetchPlanner p = Planner();
  std::map<core::PublicKey, uint64_t> peers{{Peer(0), 1000}, {Peer(1), 1000}, {Peer(2), 1000}};
  CHECK(p.Plan(1000, 1000, peers, kT0).empty());
  FetchPlanner q = Planner();
  uint64_t highest = 0;
  for (int round = 0; round < 20; ++round) {
    for (const auto& r : q.Plan(0, 1000, peers, kT0)) {
      highest = std::max(highest, r.to);
      q.OnResponse(r.peer, r.from, r.to);
    }
  }
  CHECK(highest == 100);  // The head stayed at 0.
}

TEST_CASE("record verifier: every record is checked, a bad signature is left out of the set") {
  auto block = std::make_shared<pb::Block>();
  for (int i = 0; i < 300; ++i) {
    auto p = Payload("01/00614141000012/21/V-" + std::to_string(i));
    p.mutable_register_();
    *block->add_records() = Sign("maison", p);
  }
  // Record 200: another payload under the same signature.
  pb::Envelope& bad = *block->mutable_records(200);
  auto p = Payload("01/00614141000012/21/V-FORGED");
  p.mutable_register_();
  bad.set_payload(core::SerializeDeterministic(p));

  node::RecordVerifier verifier(2);
  std::promise<std::shared_ptr<const node::VerifiedRecords>> got;
  verifier.Verify(block, 1,
                  [&](std::shared_ptr<const node::VerifiedRecords> v) { got.set_value(v); });
  auto verified = got.get_future().get();
  REQUIRE(verified);
  CHECK(verified->ids.size() == 299);
  CHECK_FALSE(verified->ids.contains(RecordId(block->records(200))));
  CHECK(verified->ids.contains(RecordId(block->records(0))));

  // The ledger's check accepts the verified ones and gives the policy's verdict on the other.
  auto check = node::VerifiedOrCheck(verified);
  CHECK_FALSE(check(block->records(7), RecordId(block->records(7))));
  auto rej = check(block->records(200), RecordId(block->records(200)));
  REQUIRE(rej);
  CHECK(rej->reason == core::RejectReason::kBadSignature);
  // No set at all: every record is verified in place.
  auto plain = node::VerifiedOrCheck(nullptr);
  CHECK_FALSE(plain(block->records(7), RecordId(block->records(7))));
  CHECK(plain(block->records(200), RecordId(block->records(200))));
}

TEST_CASE("record verifier: lower heights first, whatever the order blocks arrive in") {
  auto make = [](const std::string& tag, int n) {
    auto block = std::make_shared<pb::Block>();
    for (int i = 0; i < n; ++i) {
      auto p = Payload("01/00614141000012/21/" + tag + std::to_string(i));
      p.mutable_register_();
      *block->add_records() = Sign("maison", p);
    }
    return block;
  };
  // One worker, held in the done callback of a first block until the others are all queued, in
  // the order 10, 30, 15, 5.
  auto at10 = make("A", 300), at30 = make("C", 300), at15 = make("B", 300), at5 = make("D", 300);
  node::RecordVerifier verifier(1);
  std::promise<void> queued;
  std::shared_future<void> go = queued.get_future().share();
  verifier.Verify(make("G", 1), 1,
                  [go](std::shared_ptr<const node::VerifiedRecords>) { go.wait(); });
  std::mutex mu;
  std::vector<uint64_t> order;
  std::promise<void> all;
  auto done = [&](uint64_t h) {
    return [&, h](std::shared_ptr<const node::VerifiedRecords> v) {
      CHECK(v->ids.size() == 300u);
      std::lock_guard lock(mu);
      order.push_back(h);
      if (order.size() == 4) all.set_value();
    };
  };
  verifier.Verify(at10, 10, done(10));
  verifier.Verify(at30, 30, done(30));
  verifier.Verify(at15, 15, done(15));
  verifier.Verify(at5, 5, done(5));
  queued.set_value();
  all.get_future().get();
  CHECK(order == std::vector<uint64_t>{5, 10, 15, 30});
}

TEST_CASE("record verifier: an empty block is done at once") {
  node::RecordVerifier verifier(1);
  bool called = false;
  verifier.Verify(
      std::make_shared<pb::Block>(), 1,
      [&](std::shared_ptr<const node::VerifiedRecords> v) { called = v && v->ids.empty(); });
  CHECK(called);
}

TEST_CASE("fetch planner: a hole above the target waits until the target reaches it") {
  FetchPlanner p = Planner();
  std::map<core::PublicKey, uint64_t> peers{{Peer(0), 100}, {Peer(1), 100}};
  auto reqs = p.Plan(0, 100, peers, kT0);
  REQUIRE(reqs.size() == 2);  // 1..10 and 11..20.
  const core::PublicKey second = reqs[1].peer;
  p.OnResponse(second, 1, 0);  // 11..20 is a hole.
  // The driver lowers the target to what is missing below its waiting blocks: only 1..5 here.
  CHECK(p.Plan(0, 5, peers, kT0).empty());  // 1..10 is still in flight; 11..20 waits.
  p.OnResponse(reqs[0].peer, 1, 3);         // 4..10 is a hole too.
  auto next = p.Plan(0, 5, peers, kT0);
  REQUIRE(next.size() == 1);
  CHECK(next[0].from == 4);
  CHECK(next[0].to == 5);
  auto later = p.Plan(3, 100, peers, kT0);
  REQUIRE(later.size() == 1);
  CHECK(later[0].from == 6);
  CHECK(later[0].to == 10);
}

TEST_CASE("fetch planner: a pruned peer is not asked again below its first height") {
  FetchPlanner p = Planner();
  std::map<core::PublicKey, uint64_t> peers{{Peer(0), 500}};
  auto reqs = p.Plan(5, 500, peers, kT0);
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].from == 6);
  // It answers no blocks and its first height, 50 (driver: OnBlocks).
  p.OnResponse(Peer(0), 1, 0);
  p.OnPeerFirstHeight(Peer(0), 50);
  CHECK(p.Plan(5, 500, peers, kT0 + std::chrono::seconds(2)).empty());

  // Another peer that holds them is asked instead, and only it.
  peers[Peer(1)] = 500;
  reqs = p.Plan(5, 500, peers, kT0 + std::chrono::seconds(3));
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].peer == Peer(1));
  CHECK(reqs[0].from == 6);

  // Once the head is past its first height, the pruned peer serves again (beside the other,
  // whose request the head has overtaken).
  reqs = p.Plan(55, 500, peers, kT0 + std::chrono::seconds(3));
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].from == 56);
  CHECK((reqs[0].peer == Peer(0) || reqs[1].peer == Peer(0)));
}

TEST_CASE("fetch planner: a peer that says it holds every block again is asked again") {
  FetchPlanner p = Planner();
  std::map<core::PublicKey, uint64_t> peers{{Peer(0), 500}};
  p.OnPeerFirstHeight(Peer(0), 50);
  CHECK(p.Plan(5, 500, peers, kT0).empty());
  p.OnPeerFirstHeight(Peer(0), 1);
  auto reqs = p.Plan(5, 500, peers, kT0);
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].from == 6);
}
