#pragma once

// `hallmark-bench read`: finds registered items by walking the chain back from its head, then
// reads them from one node over C keep-alive connections (GET /v1/items/{id}), then checks them
// in batches (POST /v1/items:check), and reports item reads/s and ids checked/s; with --proofs,
// also fetches proof bundles (GET /v1/items/{id}/proof) and reports proofs/s.

#include <cstdint>
#include <string>

namespace hallmark::bench {

struct ReadOptions {
  std::string node;
  uint64_t records = 100'000;  // Item reads.
  uint64_t check_ids = 0;      // Ids checked through items:check; 0: the same as `records`.
  uint64_t proofs = 0;         // Proof bundles fetched (GET /v1/items/{id}/proof); 0: none.
  uint32_t clients = 64;       // Connections.
  uint32_t batch = 1000;       // Ids per check request (the node allows 1,000).
  uint32_t items = 20'000;     // Distinct items to find on the chain and read at random.
  uint32_t spread_blocks = 0;  // > 0: find them in this many blocks spread over the chain.
  uint32_t threads = 1;        // io threads of the generator.
  uint64_t seed = 1;
};

// Returns the process exit code: 0 success, 1 some reads failed, 2 bad options, 3 setup failed.
int RunRead(const ReadOptions& options);

}  // namespace hallmark::bench
