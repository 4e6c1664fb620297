#pragma once

#include <filesystem>
#include <string>

#include "core/status.h"

namespace hallmark::node {

struct TestnetOptions {
  int validators = 4;
  int observers = 0;
  // Nodes whose consensus keys are not in genesis, each with an organisation that is not a member
  // yet: what governance adds later (add-org, then add-validator). They start as observers.
  int joiners = 0;
  std::filesystem::path dir;
  uint16_t base_port = 7700;  // Validator i: P2P on base+i, HTTP on base+100+i.
  std::string chain_id = "hallmark-testnet";
  std::string host = "127.0.0.1";
  bool force = false;  // Replace an existing folder's contents.
  // Genesis consensus.idle_block_interval_ms; 0: the genesis default (10 s).
  uint32_t idle_block_interval_ms = 0;
};

// What `hallmarkd testnet` writes: DIR/genesis.json; DIR/node<i>/{config.json,node.key,data/}
// per validator (observers in DIR/observer<j>, joiners in DIR/joiner<k>); DIR/keys/<org>.key for
// every organisation's signing key, also for each joiner's organisation (joiner-<k>, not in
// genesis). A joiner's node is configured as an observer that dials every validator, and every
// genesis node accepts it as a peer; its consensus key and organisation are printed so that a
// demo can propose add-org and add-validator for it. Ports: validator i P2P base+i and HTTP
// base+100+i, observer j base+50+j and base+150+j, joiner k base+80+k and base+180+k. Keys are
// development keystores without a passphrase. Organisations alternate BRAND and MARKETPLACE; each
// brand owns a distinct GS1 company prefix; an AUTHENTICATOR and a SERVICE_CENTER are added for
// completeness. `summary` receives the lines to print.
core::Status WriteTestnet(const TestnetOptions& options, std::string* summary);

}  // namespace hallmark::node
