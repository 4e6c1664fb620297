#pragma once

// `hallmark-bench write`: pre-signs registrations (distinct serials under each brand's GS1
// prefix) and transfers of some of those items to a marketplace, submits them over C keep-alive
// connections spread across the given nodes, learns which records committed by following the
// chain block by block on one node, and reports committed records/s and submit-to-commit
// latency percentiles.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace hallmark::bench {

struct WriteOptions {
  std::filesystem::path genesis;
  std::filesystem::path keys_dir;  // <org>.key for each brand (hallmarkd testnet writes these).
  std::vector<std::string> nodes;  // Records are spread over these, item by item.
  uint64_t records = 10'000;       // Registrations + transfers.
  uint32_t clients = 64;           // Connections, spread round-robin over the nodes.
  // 0: closed loop (each connection submits its next record as soon as the previous one is
  // answered). Otherwise open loop: records are released at this many per second whatever the
  // answers, and latency counts from the moment a record was due.
  double rate = 0;
  double transfer_share = 0.25;  // Share of the records that are transfers.
  std::string to;                // Marketplace receiving the transfers; empty: the first one.
  std::string run_tag;           // Serial prefix; empty: derived from the clock.
  uint32_t poll_ms = 5;          // Pause between looks for the next block.
  uint32_t drain_s = 60;         // After the last answer, how long to wait for commits.
  uint32_t sign_threads = 0;     // 0: one per core.
};

// Returns the process exit code: 0 success, 1 some records were rejected or never committed,
// 2 bad options, 3 setup failed (files, node unreachable).
int RunWrite(const WriteOptions& options);

}  // namespace hallmark::bench
