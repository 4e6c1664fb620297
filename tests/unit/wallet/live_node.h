#pragma once

// The node's real API for the CLI's tests: a ledger in a temporary folder (the test network of
// fixtures.h), the mempool, the routes of node/api.cpp on an HttpServer on 127.0.0.1, and a
// block maker that commits whatever the mempool holds every few milliseconds, as a one-validator
// network would. No consensus and no peers: what the CLI sees is the API's behaviour exactly.
//
// Thread-safety: the server and the block maker run on their own threads; ledger() may be read
// from the test's thread while they run.

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "core/clock.h"
#include "fixtures.h"
#include "node/api.h"
#include "node/events.h"
#include "node/http/server.h"
#include "node/mempool.h"
#include "node/metrics.h"
#include "storage/ledger.h"
#include "test_util.h"

namespace hallmark::test {

class LiveNode {
 public:
  // `limits`: the mempool's, so a test can make it full (429 mempool_full).
  explicit LiveNode(node::MempoolLimits limits = {}) {
    auto opened = storage::Ledger::Open(dir_.path(), network_, {.sync = false});
    if (!opened.ok()) throw std::runtime_error(opened.status().ToString());
    ledger_ = std::move(opened).value();
    mempool_ = std::make_unique<node::Mempool>(network_, ledger_.get(), limits);
    node::ApiContext ctx;
    ctx.network = &network_;
    ctx.ledger = ledger_.get();
    ctx.mempool = mempool_.get();
    ctx.metrics = &metrics_;
    events_ = std::make_unique<node::EventHub>(ledger_.get(), &metrics_);
    events_->Start();
    ctx.events = events_.get();
    node::Router router;
    node::RegisterApiRoutes(router, ctx);
    node::HttpServerOptions options;
    options.limits.rate_per_second = 0;
    options.log = [](std::string_view) {};
    server_ = std::make_unique<node::HttpServer>(io_, std::move(router), std::move(options));
    auto st = server_->Start();
    if (!st.ok()) throw std::runtime_error(st.ToString());
    for (int i = 0; i < 2; ++i) io_threads_.emplace_back([this] { io_.run(); });
    maker_ = std::thread([this] { MakeBlocks(); });
  }
  ~LiveNode() {
    stop_ = true;
    maker_.join();
    server_->Stop();
    events_->Stop();
    io_.stop();
    for (auto& t : io_threads_) t.join();
    server_.reset();
  }
  LiveNode(const LiveNode&) = delete;
  LiveNode& operator=(const LiveNode&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  const storage::Ledger& ledger() const { return *ledger_; }
  const core::Network& network() const { return network_; }

 private:
  void MakeBlocks() {
    uint64_t last_time = 0;
    while (!stop_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      std::vector<pb::Envelope> records = mempool_->Take(1000, 1 << 20);
      if (records.empty()) continue;
      const uint64_t time = std::max(core::UnixTimeMs(), last_time + 1);
      auto built = ledger_->BuildBlock(records, time, PubFor("validator-0"),
                                       mempool_->CachedSignatureCheck());
      if (!built.ok() || !ledger_->Commit(*built).ok()) continue;
      last_time = time;
      mempool_->OnCommitted(built->block, core::UnixTimeMs());
      events_->OnCommit(ledger_->height());
    }
  }

  TempDir dir_;
  core::Network network_ = TestNetwork();
  std::unique_ptr<storage::Ledger> ledger_;
  std::unique_ptr<node::Mempool> mempool_;
  node::MetricsRegistry metrics_;
  std::unique_ptr<node::EventHub> events_;  // GET /v1/events; outlives the server's streams.
  boost::asio::io_context io_;
  std::unique_ptr<node::HttpServer> server_;
  std::vector<std::thread> io_threads_;
  std::thread maker_;
  std::atomic<bool> stop_{false};
};

}  // namespace hallmark::test
