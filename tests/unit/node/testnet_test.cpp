// `hallmarkd testnet`: the homes it writes, and joiners (nodes and organisations that are not in
// genesis, for governance to add later).
#include "node/testnet.h"

#include <doctest/doctest.h>

#include "core/crypto/keystore.h"
#include "core/genesis.h"
#include "node/config.h"
#include "test_util.h"

namespace hallmark::test {

TEST_CASE("testnet: joiners get homes whose keys are not in genesis, and every node accepts them") {
  TempDir dir;
  node::TestnetOptions o;
  o.dir = dir.path() / "net";
  o.validators = 4;
  o.joiners = 2;
  o.base_port = 21000;
  std::string summary;
  auto st = node::WriteTestnet(o, &summary);
  INFO(st.ToString());
  REQUIRE(st.ok());

  auto network = core::Network::FromFile(o.dir / "genesis.json");
  REQUIRE(network.ok());
  CHECK(network->validators().size() == 4);
  CHECK(network->FindOrganization("joiner-0") == nullptr);

  for (int k = 0; k < 2; ++k) {
    const std::string name = "joiner" + std::to_string(k);
    auto config = node::LoadConfig(o.dir / name);
    INFO(config.status().ToString());
    REQUIRE(config.ok());
    // Not a genesis validator, but a validator's node: it follows until governance adds it.
    CHECK_FALSE(config->observer());
    CHECK(config->p2p_listen() == "127.0.0.1:" + std::to_string(21080 + k));
    CHECK(config->http_listen() == "127.0.0.1:" + std::to_string(21180 + k));
    REQUIRE(config->peers_size() == 4);  // It dials every validator.
    for (int i = 0; i < 4; ++i) {
      CHECK(config->peers(i).key() == network->validators()[static_cast<size_t>(i)].key.Hex());
    }
    auto key = core::ReadKeystoreInfo(o.dir / name / "node.key");
    REQUIRE(key.ok());
    const std::string consensus_key = key->public_key();
    for (const auto& v : network->validators()) CHECK(v.key.Hex() != consensus_key);
    // Every genesis node accepts it as a peer.
    for (int i = 0; i < 4; ++i) {
      auto c = node::LoadConfig(o.dir / ("node" + std::to_string(i)));
      REQUIRE(c.ok());
      CHECK(std::find(c->observer_keys().begin(), c->observer_keys().end(), consensus_key) !=
            c->observer_keys().end());
    }
    // Its organisation's key is written, and the summary says how to add both.
    const std::string org = "joiner-" + std::to_string(k);
    auto org_key = core::ReadKeystoreInfo(o.dir / "keys" / (org + ".key"));
    REQUIRE(org_key.ok());
    CHECK(summary.find("consensus key " + consensus_key) != std::string::npos);
    CHECK(summary.find("gov propose add-org --id " + org + " --role marketplace --signing-key " +
                       org_key->public_key()) != std::string::npos);
    CHECK(summary.find("gov propose add-validator --name " + name + " --org " + org +
                       " --consensus-key " + consensus_key + " --power 1") != std::string::npos);
    // Its signer state is ready for the day it votes.
    CHECK(std::filesystem::exists(o.dir / name / "signer_state.json"));
  }
}

TEST_CASE("testnet: a joiner count outside 0..16 is refused") {
  TempDir dir;
  node::TestnetOptions o;
  o.dir = dir.path() / "net";
  o.joiners = 17;
  auto st = node::WriteTestnet(o, nullptr);
  CHECK(st.code() == core::StatusCode::kInvalidInput);
  CHECK(st.message() == "--joiners must be between 0 and 16");
}

}  // namespace hallmark::test
