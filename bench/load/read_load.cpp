#include "bench/load/read_load.h"

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <memory>
#include <thread>
#include <unordered_set>
#include <vector>

#include "bench/load/http_conn.h"
#include "bench/load/report.h"
#include "core/codec.h"
#include "proto/api.pb.h"
#include "proto/proof.pb.h"
#include "wallet-cli/http_client.h"

namespace hallmark::bench {

namespace asio = boost::asio;

namespace {

// xorshift64*: a fixed seed gives the same sequence of items on every run.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t Next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
};

// Walks the chain back from its head and collects up to `want` distinct item ids.
// The items of the newest blocks, or with `spread_blocks` > 0, an equal share from each of that
// many blocks evenly spaced over the whole chain (so that the reads reach cold items too).
core::Result<std::vector<std::string>> FindItems(const std::string& url, uint32_t want,
                                                 uint32_t spread_blocks) {
  auto addr = wallet::ParseNodeUrl(url);
  if (!addr.ok()) return addr.status();
  wallet::HttpClientOptions options;
  options.request_timeout_ms = 60'000;
  options.response_bytes_max = 256u << 20;
  wallet::HttpClient http(*addr, options);
  auto st = http.Get("/v1/status");
  if (!st.ok()) return st.status();
  pb::StatusResponse status;
  if (st->status != 200)
    return core::Status::IoError("GET /v1/status: HTTP " + std::to_string(st->status));
  HM_RETURN_IF_ERROR(core::FromJson(st->body, &status, "status"));
  std::unordered_set<std::string> seen;
  std::vector<std::string> items;
  const uint64_t head = status.height();
  std::vector<uint64_t> heights;
  size_t per_block = want;
  if (spread_blocks > 0 && head > 0) {
    const uint64_t n = std::min<uint64_t>(spread_blocks, head);
    for (uint64_t i = 0; i < n; ++i) heights.push_back(head - i * head / n);
    per_block = (want + n - 1) / n;
  } else {
    for (uint64_t h = head; h >= 1; --h) heights.push_back(h);
  }
  for (uint64_t h : heights) {
    if (items.size() >= want) break;
    auto res = http.Get("/v1/blocks/" + std::to_string(h));
    if (!res.ok()) return res.status();
    if (res->status != 200) {
      return core::Status::IoError("GET /v1/blocks/" + std::to_string(h) + ": HTTP " +
                                   std::to_string(res->status));
    }
    pb::BlockView view;
    HM_RETURN_IF_ERROR(core::FromJson(res->body, &view, "block"));
    size_t taken = 0;
    for (const pb::Envelope& env : view.block().records()) {
      pb::RecordPayload p;
      if (!p.ParseFromString(env.payload())) continue;
      if (seen.insert(p.item_id()).second) {
        items.push_back(p.item_id());
        ++taken;
      }
      if (items.size() >= want || taken >= per_block) break;
    }
  }
  return items;
}

// One connection's share of a phase: `quota` requests, one after another.
struct Worker : std::enable_shared_from_this<Worker> {
  std::shared_ptr<HttpConnection> conn;
  uint64_t quota = 0;
  uint64_t done = 0;
  uint64_t errors = 0;
  uint64_t rate_limited = 0;
  uint64_t unregistered = 0;
  std::vector<double> latency_ms;
  Rng rng{1};
  std::function<void(Worker&)> next;  // Issues the next request.
  Clock::time_point sent;
};

struct PhaseResult {
  uint64_t requests = 0;
  uint64_t errors = 0;
  uint64_t rate_limited = 0;
  uint64_t unregistered = 0;
  double seconds = 0;
  double cpu_s = 0;
  Percentiles latency;
};

// Runs `clients` workers on `threads` io threads until each has done its quota.
PhaseResult RunPhase(const Endpoint& endpoint, uint32_t clients, uint32_t threads, uint64_t total,
                     uint64_t seed, const std::function<void(Worker&, HttpCallback)>& request) {
  asio::io_context io(static_cast<int>(threads));
  std::vector<std::shared_ptr<Worker>> workers;
  for (uint32_t c = 0; c < clients; ++c) {
    auto w = std::make_shared<Worker>();
    w->conn = std::make_shared<HttpConnection>(io, endpoint);
    w->quota = total / clients + (c < total % clients ? 1 : 0);
    w->rng = Rng(seed * 1000 + c);
    w->latency_ms.reserve(w->quota);
    Worker* raw = w.get();
    w->next = [raw, &request](Worker&) {
      raw->sent = Clock::now();
      request(*raw, [raw](HttpResult&& res) {
        raw->latency_ms.push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - raw->sent).count());
        if (res.error || res.status != 200) {
          ++raw->errors;
          if (!res.error && res.status == 429) ++raw->rate_limited;
        }
        if (++raw->done < raw->quota) raw->next(*raw);
      });
    };
    workers.push_back(std::move(w));
  }
  const double cpu0 = ProcessCpuSeconds();
  const auto start = Clock::now();
  for (auto& w : workers) {
    if (w->quota > 0) asio::post(io, [w] { w->next(*w); });
  }
  std::vector<std::thread> pool;
  for (uint32_t t = 1; t < threads; ++t) pool.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
  PhaseResult r;
  r.seconds = SecondsBetween(start, Clock::now());
  r.cpu_s = ProcessCpuSeconds() - cpu0;
  std::vector<double> all;
  for (auto& w : workers) {
    r.requests += w->done;
    r.errors += w->errors;
    r.rate_limited += w->rate_limited;
    r.unregistered += w->unregistered;
    all.insert(all.end(), w->latency_ms.begin(), w->latency_ms.end());
  }
  r.latency = ComputePercentiles(&all);
  return r;
}

// NAMEs, NAME_errors, NAME_rate_limited, NAMEs_per_s, NAME_latency_ms_p50/p99, NAME_bench_cpu_s
// and NAME_s of a phase of single requests.
void AddPhase(JsonLine* j, const std::string& name, const PhaseResult& r) {
  j->Add(name + "s", r.requests - r.errors)
      .Add(name + "_errors", r.errors - r.rate_limited)
      .Add(name + "_rate_limited", r.rate_limited);
  // A rate is reported only when every request succeeded: a 429 or a failed request is quicker
  // than a real one, so counting it would flatter the figure.
  if (r.errors == 0) {
    j->Add(name + "s_per_s", r.seconds > 0 ? static_cast<double>(r.requests) / r.seconds : 0);
  }
  j->Add(name + "_latency_ms_p50", r.latency.p50, 2)
      .Add(name + "_latency_ms_p99", r.latency.p99, 2)
      .Add(name + "_bench_cpu_s", r.cpu_s, 2)
      .Add(name + "_s", r.seconds, 2);
}

}  // namespace

int RunRead(const ReadOptions& o) {
  if (o.node.empty() || o.records == 0 || o.clients == 0 || o.batch == 0 || o.batch > 1000 ||
      o.threads == 0 || o.threads > 64) {
    Progress("read needs --node, --records > 0, --clients > 0, --batch 1..1000, --threads 1..64");
    return 2;
  }
  auto endpoint = ResolveNode(o.node);
  if (!endpoint.ok()) {
    Progress(endpoint.status().ToString());
    return 3;
  }
  auto items = FindItems(o.node, o.items, o.spread_blocks);
  if (!items.ok()) {
    Progress("finding items: " + items.status().ToString());
    return 3;
  }
  if (items->empty()) {
    Progress("the chain holds no items yet; run `hallmark-bench write` first");
    return 3;
  }
  Progress("found " + std::to_string(items->size()) + " items; reading " +
           std::to_string(o.records) + " over " + std::to_string(o.clients) + " connections");

  std::vector<std::string> targets;
  targets.reserve(items->size());
  for (const std::string& id : *items) targets.push_back("/v1/items/" + id);

  // Each worker checks its first answer, so that a wrong id format is noticed.
  PhaseResult reads = RunPhase(
      *endpoint, o.clients, o.threads, o.records, o.seed, [&targets](Worker& w, HttpCallback done) {
        const std::string& target = targets[w.rng.Next() % targets.size()];
        if (w.done > 0) return w.conn->Get(target, std::move(done));
        w.conn->Get(target, [&w, done = std::move(done)](HttpResult&& res) {
          pb::ItemResponse item;
          if (!res.error && res.status == 200 && item.ParseFromString(res.body) &&
              !item.registered()) {
            ++w.unregistered;
          }
          done(std::move(res));
        });
      });
  Progress("reads: " + std::to_string(reads.requests) + " in " + std::to_string(reads.seconds) +
           " s");

  // Proof bundles (GET /v1/items/{id}/proof): each worker checks that its first answer parses
  // as a bundle of the item with a state in it.
  PhaseResult proofs;
  if (o.proofs > 0) {
    std::vector<std::string> ids(items->begin(), items->end());
    proofs = RunPhase(*endpoint, o.clients, o.threads, o.proofs, o.seed + 3,
                      [&ids](Worker& w, HttpCallback done) {
                        const std::string& id = ids[w.rng.Next() % ids.size()];
                        const std::string target = "/v1/items/" + id + "/proof";
                        if (w.done > 0) return w.conn->Get(target, std::move(done));
                        w.conn->Get(target, [&w, &id, done = std::move(done)](HttpResult&& res) {
                          pb::ProofBundle bundle;
                          if (!res.error && res.status == 200 &&
                              (!bundle.ParseFromString(res.body) || bundle.item_id() != id ||
                               bundle.state().empty())) {
                            ++w.unregistered;
                          }
                          done(std::move(res));
                        });
                      });
    Progress("proofs: " + std::to_string(proofs.requests) + " in " +
             std::to_string(proofs.seconds) + " s");
  }

  // Check bodies are built before timing; requests rotate through them.
  const uint64_t check_ids = o.check_ids ? o.check_ids : o.records;
  const uint64_t check_requests = (check_ids + o.batch - 1) / o.batch;
  std::vector<std::string> bodies;
  Rng rng(o.seed + 7);
  for (uint64_t b = 0; b < std::min<uint64_t>(check_requests, 64); ++b) {
    pb::CheckRequest req;
    for (uint32_t k = 0; k < o.batch; ++k) req.add_ids((*items)[rng.Next() % items->size()]);
    bodies.push_back(req.SerializeAsString());
  }
  PhaseResult checks = RunPhase(
      *endpoint, std::min<uint32_t>(o.clients, static_cast<uint32_t>(check_requests)), o.threads,
      check_requests, o.seed, [&bodies](Worker& w, HttpCallback done) {
        w.conn->Post("/v1/items:check", bodies[w.rng.Next() % bodies.size()], std::move(done));
      });
  Progress("checks: " + std::to_string(checks.requests) + " requests in " +
           std::to_string(checks.seconds) + " s");

  const double ids_checked = static_cast<double>(checks.requests) * o.batch;
  JsonLine j;
  j.Add("mode", "read")
      .Add("items", static_cast<uint64_t>(items->size()))
      .Add("clients", static_cast<uint64_t>(o.clients))
      .Add("threads", static_cast<uint64_t>(o.threads));
  AddPhase(&j, "read", reads);
  j.Add("check_requests", checks.requests)
      .Add("check_batch", static_cast<uint64_t>(o.batch))
      .Add("check_errors", checks.errors - checks.rate_limited)
      .Add("check_rate_limited", checks.rate_limited);
  if (checks.errors == 0) {
    j.Add("checks_per_s", checks.seconds > 0 ? ids_checked / checks.seconds : 0)
        .Add("check_requests_per_s",
             checks.seconds > 0 ? static_cast<double>(checks.requests) / checks.seconds : 0);
  }
  j.Add("check_latency_ms_p50", checks.latency.p50, 2)
      .Add("check_latency_ms_p99", checks.latency.p99, 2)
      .Add("check_bench_cpu_s", checks.cpu_s, 2)
      .Add("check_s", checks.seconds, 2);
  if (o.proofs > 0) AddPhase(&j, "proof", proofs);
  std::printf("%s\n", j.str().c_str());
  std::fflush(stdout);
  if (reads.unregistered > 0) Progress("some items read back as unregistered");
  if (proofs.unregistered > 0) Progress("some proof bundles did not parse or held no state");
  if (reads.errors > 0 || checks.errors > 0 || proofs.errors > 0) {
    Progress("no rate reported: " + std::to_string(reads.errors) + " reads, " +
             std::to_string(proofs.errors) + " proofs and " + std::to_string(checks.errors) +
             " checks failed (" +
             std::to_string(reads.rate_limited + checks.rate_limited + proofs.rate_limited) +
             " of them rate-limited with 429; raise http.rate_limit_per_second or use fewer "
             "clients)");
  }
  return reads.errors == 0 && checks.errors == 0 && proofs.errors == 0 && reads.unregistered == 0 &&
                 proofs.unregistered == 0
             ? 0
             : 1;
}

}  // namespace hallmark::bench
