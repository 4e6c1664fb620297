// hallmark-bench: the load generator. `write` pre-signs records and submits them to a network,
// reporting committed records/s and submit-to-commit latency; `read` measures item reads and
// items:check throughput on one node; `etcd` drives an etcd cluster the same way, for the
// side-by-side comparison (bench/compare-etcd.sh); `gen-chain` builds a chain offline and `sync`
// measures how fast a late joiner catches up on it. Each prints one JSON line on standard output;
// progress goes to standard error. docs/bench.md explains how to run it.
#include <CLI/CLI.hpp>

#include "bench/load/chain_sync.h"
#include "bench/load/etcd_load.h"
#include "bench/load/read_load.h"
#include "bench/load/write_load.h"

using namespace hallmark;

int main(int argc, char** argv) {
  CLI::App app{"hallmark-bench: load generator for a Hallmark network"};
  app.require_subcommand(1);

  bench::WriteOptions w;
  std::string genesis, keys;
  auto* write =
      app.add_subcommand("write", "Submit pre-signed records; report commits/s and latency");
  write->add_option("--genesis", genesis, "The network's genesis.json")->required();
  write->add_option("--keys", keys, "Folder with <org>.key for the brands (testnet's DIR/keys)")
      ->required();
  write->add_option("--node", w.nodes, "Node API URL; repeat to spread records over nodes")
      ->required();
  write->add_option("--records", w.records, "Records to submit (registrations + transfers)")
      ->default_val(10'000);
  write->add_option("--clients", w.clients, "Concurrent keep-alive connections")->default_val(64);
  write
      ->add_option("--rate", w.rate,
                   "Open loop: release this many records/s (0: closed loop, as fast as answered)")
      ->default_val(0);
  write
      ->add_option("--transfer-share", w.transfer_share,
                   "Share of records that are transfers of registered items (0..0.5)")
      ->default_val(0.25);
  write->add_option("--to", w.to, "Marketplace that receives the transfers (default: the first)");
  write->add_option("--run-tag", w.run_tag, "Serial prefix (default: from the clock)");
  write->add_option("--poll-ms", w.poll_ms, "Pause between looks for the next block")
      ->default_val(5);
  write->add_option("--drain-s", w.drain_s, "Seconds to wait for commits after the last answer")
      ->default_val(60);
  write->add_option("--sign-threads", w.sign_threads, "Threads for pre-signing (0: one per core)")
      ->default_val(0);

  bench::ReadOptions r;
  auto* read = app.add_subcommand("read", "Item reads/s and items:check ids/s from one node");
  read->add_option("--node", r.node, "Node API URL")->required();
  read->add_option("--records", r.records, "Item reads (GET /v1/items/{id})")->default_val(100'000);
  read->add_option("--clients", r.clients, "Concurrent keep-alive connections")->default_val(64);
  read->add_option("--check-ids", r.check_ids,
                   "Ids to check through POST /v1/items:check (default: --records)");
  read->add_option("--proofs", r.proofs, "Proof bundles to fetch (GET /v1/items/{id}/proof)")
      ->default_val(0);
  read->add_option("--batch", r.batch, "Ids per check request (at most 1,000)")->default_val(1000);
  read->add_option("--items", r.items, "Distinct items to find on the chain")->default_val(20'000);
  read->add_option("--spread-blocks", r.spread_blocks,
                   "Find the items in this many blocks spread over the chain (default: the "
                   "newest blocks)")
      ->default_val(0);
  read->add_option("--threads", r.threads, "Generator io threads")->default_val(1);
  read->add_option("--seed", r.seed, "Seed for the choice of items")->default_val(1);

  bench::EtcdOptions e;
  auto* etcd = app.add_subcommand(
      "etcd", "Closed-loop puts to etcd through its JSON gateway; report commits/s and latency");
  etcd->add_option("--endpoint", e.endpoints,
                   "etcd client URL (http://host:port); repeat to spread connections")
      ->required();
  etcd->add_option("--records", e.records, "Puts")->default_val(100'000);
  etcd->add_option("--clients", e.clients, "Concurrent keep-alive connections")->default_val(64);
  etcd->add_option("--value-bytes", e.value_bytes, "Bytes per value")->default_val(256);
  etcd->add_option("--threads", e.threads, "Generator io threads")->default_val(1);
  etcd->add_option("--run-tag", e.run_tag, "Key prefix (default: from the clock)");

  bench::GenChainOptions g;
  auto* gen = app.add_subcommand(
      "gen-chain",
      "Write a 4-validator testnet and build, offline, a valid chain of item registrations");
  gen->add_option("--dir", g.dir, "Folder to write (the testnet and its ledgers)")->required();
  gen->add_option("--items", g.items, "Item registrations on the chain")->default_val(100'000);
  gen->add_option("--records-per-block", g.records_per_block,
                  "Records per block (at most the genesis' max_block_records)")
      ->default_val(2'000);
  gen->add_option("--base-port", g.base_port,
                  "Validator i: P2P on P+i, HTTP on P+100+i; the joiner P+50, P+150")
      ->default_val(25500);
  gen->add_flag("--force", g.force, "Replace the folder's contents");
  gen->add_option("--sign-threads", g.sign_threads, "Signing threads (0: one per core)")
      ->default_val(0);

  bench::SyncOptions s;
  auto* sync = app.add_subcommand(
      "sync", "Start the validators of a gen-chain folder and a fresh joiner; time its catch-up");
  sync->add_option("--dir", s.dir, "A folder written by gen-chain")->required();
  sync->add_option("--hallmarkd", s.hallmarkd, "The node program (default: beside this one)");
  sync->add_option("--timeout-s", s.timeout_s, "Give up after this long")->default_val(3600);
  sync->add_option("--poll-ms", s.poll_ms, "Pause between looks at the joiner's height")
      ->default_val(100);
  sync->add_option("--joiner-prefix", s.joiner_prefix,
                   "Words run before the joiner's command, e.g. 'perf record -g -o F --'");
  sync->add_flag("--state-sync", s.state_sync,
                 "node0 takes a snapshot after the head; the joiner installs it, then follows");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (app.got_subcommand(write)) {
    w.genesis = genesis;
    w.keys_dir = keys;
    return bench::RunWrite(w);
  }
  if (app.got_subcommand(etcd)) return bench::RunEtcd(e);
  if (app.got_subcommand(gen)) return bench::RunGenChain(g);
  if (app.got_subcommand(sync)) return bench::RunSync(s);
  return bench::RunRead(r);
}
