#pragma once

// `hallmark-bench etcd`: the side-by-side anchor of docs/bench.md. Drives an etcd cluster through
// its HTTP JSON gateway (POST /v3/kv/put, etcd 3.4's grpc-gateway) over C keep-alive
// connections, closed loop, with values of a fixed size, and reports committed puts/s and
// latency percentiles in the same JSON line shape as `write`. etcd answers a put only once the
// Raft log entry is committed and applied, so the answer is its commit.

#include <cstdint>
#include <string>
#include <vector>

namespace hallmark::bench {

struct EtcdOptions {
  std::vector<std::string> endpoints;  // Client URLs; connections are spread over them.
  uint64_t records = 100'000;          // Puts.
  uint32_t clients = 64;               // Connections.
  uint32_t value_bytes = 256;
  uint32_t threads = 1;  // io threads of the generator.
  std::string run_tag;   // Key prefix; empty: derived from the clock.
};

// Returns the process exit code: 0 success, 1 some puts failed, 2 bad options, 3 setup failed.
int RunEtcd(const EtcdOptions& options);

}  // namespace hallmark::bench
