#pragma once

// Catching up, measured: `gen-chain` writes a 4-validator testnet and builds, offline, a valid
// chain of item registrations into its validators' ledgers (signed records, blocks built by the
// ledger itself, commit certificates signed with the validators' own keys); `sync` starts the
// validators on that chain and a fresh observer, and reports how fast the observer fetches,
// re-validates and commits it (docs/bench.md, "Catching up").

#include <cstdint>
#include <filesystem>
#include <string>

namespace hallmark::bench {

struct GenChainOptions {
  std::filesystem::path dir;
  uint64_t items = 100'000;
  uint32_t records_per_block = 2'000;  // At most the genesis' max_block_records.
  uint16_t base_port = 25500;          // Validator i: P2P base+i, HTTP base+100+i.
  bool force = false;                  // Replace DIR's contents.
  unsigned sign_threads = 0;           // 0: one per core.
};

// Returns the process exit code (0 ok, 2 bad input, 3 local failure).
int RunGenChain(const GenChainOptions& options);

struct SyncOptions {
  std::filesystem::path dir;
  std::filesystem::path hallmarkd;  // Empty: beside this program.
  uint32_t timeout_s = 3600;        // Give up waiting for the joiner after this long.
  uint32_t poll_ms = 100;           // Between looks at the joiner's height.
  // Command words put before the joiner's `hallmarkd start ...` (e.g. "perf record -g -o F --").
  std::string joiner_prefix;
  // Join by state sync: node0 takes a snapshot just after the chain's head and the joiner, with
  // `state_sync` on, installs it and follows blocks from there. Otherwise it replays every block.
  bool state_sync = false;
};

// Returns the process exit code (0 the joiner reached the head, 1 it did not in time, 2 bad
// input, 3 local failure).
int RunSync(const SyncOptions& options);

}  // namespace hallmark::bench
