// The consensus driver across a validator set change: two nodes with real engines, ledgers and
// mempools on one io_context, joined by a loopback sender. Genesis has one validator; a second
// one joins at height 3 (an epoch in the network state the drivers read).

#include <doctest/doctest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <thread>
#include <vector>

#include "core/consensus_codec.h"
#include "fixtures.h"
#include "node/driver.h"
#include "test_util.h"

using namespace hallmark;
using namespace hallmark::test;

namespace {

namespace asio = boost::asio;

constexpr uint64_t kJoinHeight = 3;

// Delivers every message to the other drivers, as the transport would.
class Loopback final : public node::PeerSender {
 public:
  void Attach(const core::PublicKey& key, node::ConsensusDriver* driver) {
    nodes_.emplace_back(key, driver);
  }
  void SetSelf(const core::PublicKey& key) { self_ = key; }
  // Delivers only block responses: the others hear no vote, proposal or status from this node.
  void OnlyBlocks() { only_blocks_ = true; }
  void Broadcast(const pb::PeerMessage& message) override {
    if (only_blocks_ && !message.has_block_response()) return;
    for (auto& [key, driver] : nodes_)
      if (key != self_) driver->OnPeerMessage(self_, message);
  }
  void Send(const core::PublicKey& to, const pb::PeerMessage& message) override {
    if (only_blocks_ && !message.has_block_response()) return;
    for (auto& [key, driver] : nodes_)
      if (key == to) driver->OnPeerMessage(self_, message);
  }

 private:
  bool only_blocks_ = false;
  core::PublicKey self_;
  std::vector<std::pair<core::PublicKey, node::ConsensusDriver*>> nodes_;
};

// The network state with `joiner` added (power 1, like validator-0) from kJoinHeight on.
std::shared_ptr<const core::NetworkState> StateWithJoiner(const core::Network& net,
                                                          const core::PublicKey& joiner) {
  pb::NetworkStateProto proto = core::NetworkState::FromGenesis(net).ToProto();
  pb::ValidatorEpoch* epoch = proto.add_validator_epochs();
  *epoch = proto.validator_epochs(0);
  epoch->set_from_height(kJoinHeight);
  epoch->set_moved_power(1);
  pb::ValidatorEntry* v = epoch->add_validators();
  v->set_name("v1");
  v->set_organization("resale");
  v->set_consensus_key(std::string(reinterpret_cast<const char*>(joiner.bytes.data()), 32));
  v->set_voting_power(1);
  auto state = core::NetworkState::FromProto(proto, net.governance());
  REQUIRE(state.ok());
  return std::make_shared<const core::NetworkState>(std::move(state).value());
}

struct Member {
  Member(const core::Network& net, std::string_view name, Loopback* sender,
         std::shared_ptr<const core::NetworkState> state, asio::io_context& io,
         bool observer = false)
      : key(KeyFor(name)), signer(key) {
    ledger = std::move(storage::Ledger::Open(dir.path(), net, {.sync = false}).value());
    REQUIRE(ledger->PutLocal("signer", node::EncodeSignerState(consensus::SignerState{})).ok());
    pool = std::make_unique<node::Mempool>(net, ledger.get());
    node::DriverOptions options;
    options.network_state = [state] { return state; };
    driver = std::make_unique<node::ConsensusDriver>(
        io, net, ledger.get(), pool.get(), sender, observer ? nullptr : &signer, &metrics, options);
  }
  TempDir dir;
  core::SigningKey key;
  node::KeySigner signer;
  node::MetricsRegistry metrics;
  std::unique_ptr<storage::Ledger> ledger;
  std::unique_ptr<node::Mempool> pool;
  std::unique_ptr<node::ConsensusDriver> driver;
};

// Senders per node, so that each knows who it is.
struct Senders {
  Loopback a, b;
};

bool Signs(const core::CommitCertificate& c, const core::PublicKey& key) {
  for (const auto& s : c.signatures)
    if (s.validator == key) return true;
  return false;
}

}  // namespace

pb::Genesis FastSoloGenesis() {
  pb::Genesis g = TestGenesis();
  while (g.validators_size() > 1) g.mutable_validators()->RemoveLast();
  g.mutable_consensus()->set_timeout_propose_ms(300);
  g.mutable_consensus()->set_timeout_prevote_ms(100);
  g.mutable_consensus()->set_timeout_precommit_ms(100);
  g.mutable_consensus()->set_timeout_delta_ms(50);
  g.mutable_consensus()->set_idle_block_interval_ms(100);
  return g;
}

TEST_CASE("driver: a node far behind catches up from a peer's announced height alone") {
  // The follower hears no vote from anyone (as when every validator it knows has left the set):
  // only a status with the peer's height, and then the blocks it asks for.
  const core::Network net = std::move(core::Network::FromProto(FastSoloGenesis()).value());
  const auto state =
      std::make_shared<const core::NetworkState>(core::NetworkState::FromGenesis(net));
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  Senders senders;
  Member v0(net, "validator-0", &senders.a, state, io);
  Member follower(net, "observer-0", &senders.b, state, io, /*observer=*/true);
  for (Loopback* l : {&senders.a, &senders.b}) {
    l->Attach(v0.key.public_key(), v0.driver.get());
    l->Attach(follower.key.public_key(), follower.driver.get());
  }
  senders.a.SetSelf(v0.key.public_key());
  senders.a.OnlyBlocks();
  senders.b.SetSelf(follower.key.public_key());
  REQUIRE(v0.driver->Start().ok());
  REQUIRE(follower.driver->Start().ok());
  std::thread thread([&] { io.run(); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline && v0.ledger->height() < 4)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const uint64_t target = v0.ledger->height();
  pb::PeerMessage status;
  status.mutable_status()->set_height(target);
  follower.driver->OnPeerMessage(v0.key.public_key(), status);
  while (std::chrono::steady_clock::now() < deadline && follower.ledger->height() < target)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  v0.driver->Stop();
  follower.driver->Stop();
  work.reset();
  io.stop();
  thread.join();
  REQUIRE(target >= 4);
  CHECK(follower.ledger->height() >= target);
}

TEST_CASE("driver: a node whose key joins the set follows, then votes from its first height") {
  pb::Genesis g = FastSoloGenesis();
  const core::Network net = std::move(core::Network::FromProto(g).value());
  const core::PublicKey joiner = KeyFor("validator-1").public_key();
  const auto state = StateWithJoiner(net, joiner);

  asio::io_context io;
  auto work = asio::make_work_guard(io);
  Senders senders;
  Member v0(net, "validator-0", &senders.a, state, io);
  Member v1(net, "validator-1", &senders.b, state, io);
  for (Loopback* l : {&senders.a, &senders.b}) {
    l->Attach(v0.key.public_key(), v0.driver.get());
    l->Attach(v1.key.public_key(), v1.driver.get());
  }
  senders.a.SetSelf(v0.key.public_key());
  senders.b.SetSelf(v1.key.public_key());
  REQUIRE(v0.driver->Start().ok());
  REQUIRE(v1.driver->Start().ok());
  std::thread thread([&] { io.run(); });

  // Before its height the joiner follows: it commits what validator-0 certifies alone.
  bool followed_without_voting = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline &&
         (v0.ledger->height() < 5 || v1.ledger->height() < 5)) {
    if (v1.ledger->height() >= 1 && v1.driver->engine_height() < kJoinHeight &&
        !v1.driver->voting())
      followed_without_voting = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const bool voting_at_end = v1.driver->voting();
  v0.driver->Stop();
  v1.driver->Stop();
  work.reset();
  io.stop();
  thread.join();

  REQUIRE(v0.ledger->height() >= 5);
  REQUIRE(v1.ledger->height() >= 5);
  CHECK(followed_without_voting);
  CHECK(voting_at_end);
  for (uint64_t h = 1; h <= 5; ++h) {
    auto b0 = v0.ledger->GetCertificate(h);
    auto b1 = v1.ledger->GetCertificate(h);
    REQUIRE((b0.ok() && b0->has_value() && b1.ok() && b1->has_value()));
    auto c = core::DecodeCertificate(**b0);
    REQUIRE(c.ok());
    CHECK(c->block_id == core::DecodeCertificate(**b1)->block_id);
    // Heights 1-2 are certified by validator-0 alone; from 3 on the set needs both.
    CHECK(Signs(*c, joiner) == (h >= kJoinHeight));
    CHECK(Signs(*c, v0.key.public_key()));
  }
}
