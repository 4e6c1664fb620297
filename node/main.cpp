// hallmarkd: the Hallmark node. `hallmarkd testnet` writes a local network, `hallmarkd start`
// runs a node, `hallmarkd version` prints the version.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "node/backup.h"
#include "node/node.h"
#include "node/testnet.h"
#include "node/version.h"

using namespace hallmark;

int main(int argc, char** argv) {
  CLI::App app{"hallmarkd: a node of the Hallmark provenance ledger"};
  app.require_subcommand(1);

  node::TestnetOptions testnet;
  int base_port = 7700;
  auto* tn = app.add_subcommand("testnet", "Write a local network: genesis, node homes, keys");
  tn->add_option("--validators", testnet.validators, "Number of validators")->default_val(4);
  tn->add_option("--observers", testnet.observers, "Number of observer nodes")->default_val(0);
  tn->add_option("--joiners", testnet.joiners,
                 "Number of nodes that join later: consensus keys and organisations not in "
                 "genesis, for governance to add (they start as observers)")
      ->default_val(0);
  tn->add_option("--dir", testnet.dir, "Folder to write")->required();
  tn->add_option("--base-port", base_port,
                 "Node i listens for peers on P+i and serves HTTP on P+100+i")
      ->default_val(7700);
  tn->add_option("--chain-id", testnet.chain_id, "Chain id")->default_val("hallmark-testnet");
  tn->add_flag("--force", testnet.force, "Replace the folder's contents");
  tn->add_option("--idle-block-interval-ms", testnet.idle_block_interval_ms,
                 "With no records, make an empty block this often (default 10000)")
      ->check(CLI::Range(100, 600'000));

  std::string home;
  bool observer = false;
  auto* start = app.add_subcommand("start", "Run a node");
  start->add_option("--home", home, "The node's home folder (with config.json)")->required();
  start->add_flag("--observer", observer, "Follow the chain and serve reads; never vote");

  node::BackupOptions backup;
  auto* bk = app.add_subcommand(
      "backup", "Back up a node (running or stopped): ledger, config, genesis, signer watermark");
  bk->add_option("--home", backup.home, "The node's home folder")->required();
  bk->add_option("--out", backup.out, "The backup file to write")->required();
  bk->add_flag("--force", backup.force, "Replace --out if it exists");
  bk->add_flag("--include-node-key", backup.include_node_key,
               "Also back up the node key's keystore (encrypted unless a development key)");

  node::RestoreOptions restore;
  std::string restore_genesis;
  auto* rs = app.add_subcommand("restore", "Restore a node's home from a backup file");
  rs->add_option("--from", restore.from, "The backup file")->required();
  rs->add_option("--home", restore.home, "The home folder to restore into")->required();
  rs->add_option("--genesis", restore_genesis,
                 "Refuse a backup that is not of this genesis' network");
  rs->add_flag("--force", restore.force, "Replace the node files of a non-empty home");

  app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 3;
  }

  if (app.got_subcommand("version")) {
    std::printf("hallmarkd %s\n", std::string(node::Version()).c_str());
    return 0;
  }
  if (app.got_subcommand(tn)) {
    testnet.base_port = static_cast<uint16_t>(base_port);
    if (base_port < 1024 || base_port > 65335) {
      std::fprintf(stderr, "error: --base-port must be between 1024 and 65335\n");
      return 2;
    }
    std::string summary;
    auto st = node::WriteTestnet(testnet, &summary);
    if (!st.ok()) {
      std::fprintf(stderr, "error: %s\n", st.message().c_str());
      return st.code() == core::StatusCode::kInvalidInput ? 2 : 3;
    }
    std::fputs(summary.c_str(), stdout);
    return 0;
  }
  if (app.got_subcommand(bk) || app.got_subcommand(rs)) {
    if (app.got_subcommand(rs) && !restore_genesis.empty()) restore.genesis = restore_genesis;
    auto done = app.got_subcommand(bk) ? node::RunBackup(backup) : node::RunRestore(restore);
    if (!done.ok()) {
      std::fprintf(stderr, "error: %s\n", done.status().message().c_str());
      return done.status().code() == core::StatusCode::kInvalidInput ? 2 : 3;
    }
    std::fputs(done->c_str(), stdout);
    return 0;
  }
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  auto node = node::Node::Create(home, observer);
  if (!node.ok()) {
    spdlog::error("cannot start: {}", node.status().ToString());
    return node.status().code() == core::StatusCode::kInvalidInput ? 2 : 1;
  }
  auto st = (*node)->Start();
  if (!st.ok()) {
    spdlog::error("cannot start: {}", st.ToString());
    return 1;
  }
  (*node)->Wait();
  return 0;
}
