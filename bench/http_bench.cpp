// HTTP server throughput: keep-alive item reads over loopback, and the per-request pieces
// (routing, metrics) on their own. The item route answers a small ItemResponse as JSON through
// the same Reply() path the API uses; nothing is read from disk, so this is the framework's
// ceiling, not the node's.
#define DOCTEST_CONFIG_DISABLE  // The proof fixture's checks are for tests.
#include <benchmark/benchmark.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "node/api.h"
#include "node/http/content.h"
#include "node/http/server.h"
#include "node/metrics.h"
#include "proof_fixture.h"
#include "proto/api.pb.h"

namespace hallmark::node {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

constexpr std::string_view kItemTarget = "/v1/items/01/09506000134352/21/ABC123";

Router BenchRouter() {
  Router r;
  r.Add("GET /v1/items/{id...}", [](const Request& req) {
    pb::ItemResponse out;
    out.set_item_id(std::string(req.param("id")));
    out.set_registered(true);
    out.set_height(123'456);
    out.set_block_time_ms(1'700'000'000'000);
    return Reply(req, out);
  });
  r.Add("GET /v1/items/{id...}/proof", [](const Request&) { return Response(); });
  r.Add("POST /v1/items:check", [](const Request&) { return Response(); });
  r.Add("GET /v1/records/{id}", [](const Request&) { return Response(); });
  r.Add("POST /v1/records", [](const Request&) { return Response(); });
  r.Add("GET /v1/blocks/{height}", [](const Request&) { return Response(); });
  r.Add("GET /v1/status", [](const Request&) { return Response(); });
  r.Add("GET /v1/health", [](const Request&) { return Response(); });
  return r;
}

// Keep-alive connections, each with one request in flight, driven by one thread. It parses just
// enough of each response (header end, Content-Length, status) to stay in step.
class LoadClient {
 public:
  LoadClient(uint16_t port, int connections, std::string_view target = kItemTarget,
             std::string_view accept = "application/json") {
    request_ = "GET " + std::string(target) +
               " HTTP/1.1\r\nHost: bench\r\nAccept: " + std::string(accept) + "\r\n\r\n";
    tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
    for (int i = 0; i < connections; ++i) {
      auto c = std::make_unique<Conn>(io_);
      c->socket.connect(endpoint);
      c->socket.set_option(tcp::no_delay(true));
      conns_.push_back(std::move(c));
    }
  }

  // Completes `n` requests; returns how many were not 200.
  int64_t Run(int64_t n) {
    remaining_ = n;
    failures_ = 0;
    for (auto& c : conns_) Next(*c);
    io_.restart();
    io_.run();
    return failures_;
  }

 private:
  struct Conn {
    explicit Conn(asio::io_context& io) : socket(io) {}
    tcp::socket socket;
    std::string in;
  };

  void Next(Conn& c) {
    if (remaining_ <= 0) return;
    --remaining_;
    asio::async_write(c.socket, asio::buffer(request_), [this, &c](auto ec, size_t) {
      if (ec) return Fail();
      asio::async_read_until(c.socket, asio::dynamic_buffer(c.in), "\r\n\r\n",
                             [this, &c](auto ec2, size_t header) { OnHeader(c, ec2, header); });
    });
  }

  void OnHeader(Conn& c, boost::system::error_code ec, size_t header) {
    if (ec) return Fail();
    if (!c.in.starts_with("HTTP/1.1 200")) ++failures_;
    size_t body = 0;
    size_t at = c.in.find("Content-Length: ");
    if (at != std::string::npos && at < header) body = std::stoul(c.in.substr(at + 16, 12));
    size_t need = header + body;
    auto done = [this, &c, need] {
      c.in.erase(0, need);
      Next(c);
    };
    if (c.in.size() >= need) return done();
    asio::async_read(c.socket, asio::dynamic_buffer(c.in),
                     asio::transfer_exactly(need - c.in.size()), [this, done](auto ec2, size_t) {
                       if (ec2) return Fail();
                       done();
                     });
  }

  void Fail() {
    ++failures_;
    io_.stop();
  }

  asio::io_context io_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::string request_;
  int64_t remaining_ = 0;
  int64_t failures_ = 0;
};

double CpuSeconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Serves `router` with state.range(0) io threads and drives it from state.range(1) keep-alive
// connections asking for `target`, `batch` requests per iteration.
void RunKeepAlive(benchmark::State& state, Router router, std::string_view target,
                  std::string_view accept, int64_t batch) {
  const int server_threads = static_cast<int>(state.range(0));
  const int connections = static_cast<int>(state.range(1));
  MetricsRegistry metrics;  // Outlives the io_context: sessions touch it until they are gone.
  asio::io_context io;
  HttpServerOptions options;
  options.metrics = &metrics;
  options.limits.rate_per_second = 0;  // One client address at full speed.
  HttpServer server(io, std::move(router), options);
  if (!server.Start().ok()) {
    state.SkipWithError("cannot listen");
    return;
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < server_threads; ++i) threads.emplace_back([&] { io.run(); });

  {
    LoadClient client(server.port(), connections, target, accept);
    int64_t failures = 0;
    // CPU time splits what the server costs per request from what the client costs, which
    // stays meaningful when other processes share the machine and wall-clock rates do not.
    const double process0 = CpuSeconds(CLOCK_PROCESS_CPUTIME_ID);
    const double client0 = CpuSeconds(CLOCK_THREAD_CPUTIME_ID);
    for (auto _ : state) failures += client.Run(batch);
    const double client_s = CpuSeconds(CLOCK_THREAD_CPUTIME_ID) - client0;
    const double server_s = CpuSeconds(CLOCK_PROCESS_CPUTIME_ID) - process0 - client_s;
    const auto requests = static_cast<double>(state.iterations() * batch);
    state.SetItemsProcessed(state.iterations() * batch);
    state.counters["server_cpu_us_per_req"] = server_s * 1e6 / requests;
    state.counters["client_cpu_us_per_req"] = client_s * 1e6 / requests;
    if (failures > 0) state.SkipWithError("some requests failed");
  }
  server.Stop();
  io.stop();
  for (auto& t : threads) t.join();
}

// Args: server io threads, client connections.
void BM_HttpItemReadKeepAlive(benchmark::State& state) {
  RunKeepAlive(state, BenchRouter(), kItemTarget, "application/json", 2'000);
}
BENCHMARK(BM_HttpItemReadKeepAlive)
    ->ArgNames({"server_threads", "connections"})
    ->Args({1, 4})
    ->Args({1, 16})
    ->Args({2, 4})
    ->Args({2, 16})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Proofs served by the real API over a real ledger: GET /v1/items/{id}/proof for an item with
// a 20-record history, binary Protobuf, keep-alive. Args: server io threads, connections.
void BM_HttpProofKeepAlive(benchmark::State& state) {
  test::ProvenChain chain;
  test::LiveItem(chain, test::kMaisonItem, 20);
  Mempool mempool(chain.network(), &chain.ledger());
  MetricsRegistry api_metrics;
  Router router;
  ApiContext ctx;
  ctx.network = &chain.network();
  ctx.ledger = &chain.ledger();
  ctx.mempool = &mempool;
  ctx.metrics = &api_metrics;
  RegisterApiRoutes(router, ctx);
  RunKeepAlive(state, std::move(router), "/v1/items/01/00614141000012/21/BAG-0001/proof",
               "application/x-protobuf", 1'000);
}
BENCHMARK(BM_HttpProofKeepAlive)
    ->ArgNames({"server_threads", "connections"})
    ->Args({2, 8})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Routing alone: the item route among the API's, with the id decoded into the request.
void BM_RouterDispatchItem(benchmark::State& state) {
  Router router;
  router.Add("GET /v1/items/{id...}", [](const Request&) { return Response(); });
  router.Add("GET /v1/items/{id...}/proof", [](const Request&) { return Response(); });
  router.Add("POST /v1/items:check", [](const Request&) { return Response(); });
  router.Add("GET /v1/records/{id}", [](const Request&) { return Response(); });
  router.Add("POST /v1/records", [](const Request&) { return Response(); });
  router.Add("GET /v1/blocks/{height}", [](const Request&) { return Response(); });
  router.Add("GET /v1/status", [](const Request&) { return Response(); });
  router.Add("GET /metrics", [](const Request&) { return Response(); });
  Request req(Request::Message{boost::beast::http::verb::get, kItemTarget, 11});
  for (auto _ : state) {
    Response res = router.Dispatch(req);
    benchmark::DoNotOptimize(res);
  }
}
BENCHMARK(BM_RouterDispatchItem);

// The server's work for one item read without the sockets: parse the request, route it, and
// encode the JSON answer.
void BM_ParseRouteReplyItem(benchmark::State& state) {
  Router router = BenchRouter();
  const std::string raw = "GET " + std::string(kItemTarget) +
                          " HTTP/1.1\r\nHost: bench\r\nAccept: application/json\r\n\r\n";
  for (auto _ : state) {
    boost::beast::http::request_parser<boost::beast::http::string_body> parser;
    boost::beast::error_code ec;
    parser.put(asio::buffer(raw), ec);
    Request req(parser.release());
    Response res = router.Dispatch(req);
    benchmark::DoNotOptimize(res);
  }
}
BENCHMARK(BM_ParseRouteReplyItem);

void BM_MetricsHistogramObserve(benchmark::State& state) {
  static MetricsRegistry registry;
  static Histogram& h = registry.GetHistogram("hallmark_bench_seconds", "Bench.",
                                              kLatencyBucketsSeconds, {{"route", "x"}});
  double v = 0.0001;
  for (auto _ : state) {
    h.Observe(v);
    v = v < 1 ? v * 1.5 : 0.0001;
  }
}
BENCHMARK(BM_MetricsHistogramObserve)->Threads(1)->Threads(2);

}  // namespace
}  // namespace hallmark::node
