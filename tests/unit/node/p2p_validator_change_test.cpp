// Who may connect as a validator follows the validator sets (Transport::SetValidators), without
// a restart; and the node's view of the sets (node/validator_sets.h).

#include <doctest/doctest.h>

#include "node/validator_sets.h"
#include "p2p_harness.h"

namespace hallmark::test {
namespace {

using node::DisconnectReason;

node::TransportConfig FastConfig() {
  node::TransportConfig c;
  c.limits = FastLimits();
  return c;
}

// Genesis' validators plus `extra`, by key, with names.
std::pair<std::set<core::PublicKey>, std::map<core::PublicKey, std::string>> GenesisPlus(
    const core::Network& net, const core::PublicKey& extra, const std::string& name) {
  auto named = node::ValidatorsFrom(core::NetworkState::FromGenesis(net), 1);
  named[extra] = name;
  std::set<core::PublicKey> keys;
  for (const auto& [key, n] : named) keys.insert(key);
  return {keys, named};
}

}  // namespace

TEST_CASE("p2p transport: a validator added to the sets connects without a restart") {
  core::Network net = TestNetwork();
  TestNode server(ValidatorName(0), net, FastConfig());
  TestNode joiner("validator-9", net, FastConfig());
  REQUIRE(server.Start().ok());
  REQUIRE(joiner.Start().ok());
  REQUIRE(joiner.transport().AddPeer(server.Address()).ok());
  // Not in any set yet: refused, and it keeps redialing.
  REQUIRE(WaitUntil([&] { return server.Disconnects(DisconnectReason::kUnknownPeer) >= 1; }));
  CHECK_FALSE(server.HasPeer(joiner.key()));
  // Its addition completes (the set is scheduled): the next Hello is accepted.
  auto [keys, names] = GenesisPlus(net, joiner.key(), "v9");
  server.transport().SetValidators(keys, names);
  REQUIRE(WaitUntil([&] { return server.HasPeer(joiner.key()); }));
  CHECK(server.FindPeer(joiner.key())->name == "v9");
  CHECK_FALSE(server.FindPeer(joiner.key())->observer);
}

TEST_CASE("validator sets: the union from a height is the set in force there and every later one") {
  pb::Genesis g = TestGenesis();
  const core::Network net = std::move(core::Network::FromProto(g).value());
  pb::NetworkStateProto proto = core::NetworkState::FromGenesis(net).ToProto();
  // validator-3 is replaced by validator-7 from height 10.
  pb::ValidatorEpoch* epoch = proto.add_validator_epochs();
  *epoch = proto.validator_epochs(0);
  epoch->set_from_height(10);
  epoch->set_moved_power(1);
  const core::PublicKey seven = NodeKey("validator-7");
  epoch->mutable_validators(3)->set_consensus_key(
      std::string(reinterpret_cast<const char*>(seven.bytes.data()), 32));
  auto state = core::NetworkState::FromProto(proto, net.governance());
  REQUIRE(state.ok());
  const core::PublicKey three = NodeKey("validator-3");
  // Before height 10 both may connect (current and scheduled); from 10 on only the new key.
  auto before = node::ValidatorsFrom(*state, 5);
  CHECK(before.size() == 5);
  CHECK(before.count(three));
  CHECK(before.count(seven));
  auto after = node::ValidatorsFrom(*state, 10);
  CHECK(after.size() == 4);
  CHECK_FALSE(after.count(three));
  CHECK(after.count(seven));
  // The set of each height, for the engine, in the epoch's order.
  auto set = node::ValidatorSetOf(state->ValidatorSetAt(10));
  REQUIRE(set.ok());
  CHECK(set->at(3).key == seven);
  CHECK(node::ValidatorSetOf(state->ValidatorSetAt(9))->at(3).key == three);
}

}  // namespace hallmark::test
