#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/crypto/ed25519.h"
#include "core/genesis.h"
#include "node/admin_socket.h"
#include "node/api.h"
#include "node/driver.h"
#include "node/events.h"
#include "node/http/server.h"
#include "node/mempool.h"
#include "node/metrics.h"
#include "node/p2p/transport.h"
#include "node/state_sync.h"
#include "proto/node.pb.h"
#include "storage/ledger.h"
#include "storage/snapshot.h"

namespace hallmark::node {

// One hallmarkd process: the ledger, the mempool, the consensus driver, the P2P transport and
// the HTTP API, on one io_context run by a few threads. Create, Start, then Wait until a signal
// (SIGINT, SIGTERM) or RequestStop asks for a stop; Wait then stops the node on its own thread
// and returns once every io thread has ended, so the caller may destroy the node.
//
// Thread-safety: Create/Start/Wait from one thread; RequestStop from any thread; Stop from any
// thread (it runs once; a concurrent caller waits until the first has finished).
class Node {
 public:
  // Loads <home>/config.json, the genesis, the node key, and opens the ledger. `observer`
  // forces observer mode (follow and serve reads, never vote).
  static core::Result<std::unique_ptr<Node>> Create(const std::filesystem::path& home,
                                                    bool observer);
  ~Node();

  core::Status Start();
  void Wait();
  void RequestStop();
  void Stop();

  uint16_t http_port() const { return http_ ? http_->port() : 0; }

 private:
  Node() = default;
  void OnPeerMessage(const core::PublicKey& from, pb::PeerMessage message);
  void Gossip(const pb::Envelope& envelope);
  std::vector<pb::PeerView> PeerViews() const;

  std::filesystem::path home_;
  pb::NodeConfig config_;
  std::unique_ptr<core::Network> network_;
  std::unique_ptr<core::SigningKey> key_;
  std::unique_ptr<KeySigner> signer_;
  std::unique_ptr<storage::Ledger> ledger_;
  // The network state after the head block (storage::Ledger::network_state()), for the
  // validator sets. REQUIRES: the ledger is open.
  std::shared_ptr<const core::NetworkState> NetworkState() const;
  // The records still waiting when the node stops cleanly are written to mempool_file_ and
  // admitted again at the next start (docs/api.md: what a 202 promises).
  void SaveMempool();
  void LoadSavedMempool();
  std::filesystem::path mempool_file_;
  // The state whose validators the transport was last given (on the driver's strand).
  std::shared_ptr<const core::NetworkState> p2p_state_;
  MetricsRegistry metrics_;
  std::unique_ptr<Mempool> mempool_;
  boost::asio::io_context io_;
  std::unique_ptr<Transport> transport_;
  std::unique_ptr<PeerSender> sender_;
  std::unique_ptr<ConsensusDriver> driver_;
  std::unique_ptr<EventHub> events_;  // Outlives http_, whose feeds it serves.
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<boost::asio::signal_set> signals_;
  // <home>/admin.sock: backups of the running node (node/admin_socket.h).
  std::unique_ptr<AdminServer> admin_;
  // Keeps the io threads running until Stop, so that Wait never returns while Stop is still
  // tearing things down (which once let main destroy the node under a running Stop).
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  std::mutex stop_run_mu_;  // Held for the whole of Stop: one runs, a concurrent one waits.
  std::mutex stop_mu_;      // Guards stop_requested_ and stopped_; never held while stopping.
  std::condition_variable stop_cv_;
  bool stop_requested_ = false;
  bool stopped_ = false;

  // State sync and snapshots (docs/state-sync.md). The store serves peers; the client exists
  // only while Start installs a snapshot (before the driver runs). Snapshots are taken on their
  // own thread every snapshot_interval blocks, one at a time.
  // Runs state sync when the config asks for it and the ledger is empty; false when a stop
  // request ended it (Start then returns at once and Wait stops the node).
  core::Result<bool> SyncState();
  void StartIoThreads();
  void TakeSnapshotAndPrune();
  std::unique_ptr<storage::SnapshotStore> snapshots_;
  std::unique_ptr<StateSyncServer> sync_server_;
  std::atomic<StateSyncClient*> sync_client_{nullptr};
  std::atomic<bool> syncing_{false};
  // Set once the driver runs: peer messages go to it from then on (before, they are dropped).
  std::atomic<bool> driver_ready_{false};
  std::thread snapshot_thread_;
  std::atomic<bool> snapshot_busy_{false};
  // Set by Stop before it joins snapshot_thread_: a take in progress ends at its next item and
  // removes its partial folder (storage::SnapshotStore::Take), so a stop never waits for it.
  std::atomic<bool> snapshot_stop_{false};
  // The state sync client, kept until the node is destroyed: a transport thread that loaded
  // sync_client_ just before SyncState cleared it may still hand it a message.
  std::unique_ptr<StateSyncClient> sync_client_owned_;
  bool transport_started_ = false;
  std::unique_ptr<boost::asio::signal_set> sync_signals_;  // Only while state sync runs.
};

}  // namespace hallmark::node
