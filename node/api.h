#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/genesis.h"
#include "node/events.h"
#include "node/http/router.h"
#include "node/mempool.h"
#include "node/metrics.h"
#include "proto/api.pb.h"
#include "storage/ledger.h"

namespace hallmark::node {

// What the API's handlers read and call. Every pointer must outlive the router.
struct ApiContext {
  const core::Network* network = nullptr;
  const storage::Ledger* ledger = nullptr;
  Mempool* mempool = nullptr;
  MetricsRegistry* metrics = nullptr;
  // A record was admitted: gossip it and wake a waiting proposer.
  std::function<void(const pb::Envelope&)> on_accepted;
  std::function<std::vector<pb::PeerView>()> peers;
  // Verified evidence waiting for a block on this node (the driver's pool); 0 when unset.
  std::function<uint64_t()> pending_evidence;
  std::string node_key_hex;
  bool observer = false;
  // GET /v1/events (node/events.h); null: the route answers 503 unavailable.
  EventHub* events = nullptr;
};

// Registers every /v1 route, /metrics and /v1/health (docs/api.md). Handlers are thread-safe.
void RegisterApiRoutes(Router& router, ApiContext context);

// Caps of the API itself.
inline constexpr size_t kMaxCheckIds = 1000;
inline constexpr size_t kMaxHistoryRecords = 10'000;
// GET /v1/evidence: pieces per page, by default and at most.
inline constexpr size_t kDefaultEvidencePage = 100;
inline constexpr size_t kMaxEvidencePage = 1'000;
// GET /v1/items: items per page, by default and at most.
inline constexpr size_t kDefaultItemPage = 100;
inline constexpr size_t kMaxItemPage = 1'000;
// GET /v1/governance/proposals/{id} of a proposal no longer pending reads the governance records
// from its block to its expiry, in pages of this many, and at most kMaxGovernanceScan of them.
inline constexpr size_t kGovernanceScanPage = 1'000;
inline constexpr size_t kMaxGovernanceScan = 100'000;

}  // namespace hallmark::node
