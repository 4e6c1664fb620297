#include "bench/load/etcd_load.h"

#include <openssl/evp.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "bench/load/http_conn.h"
#include "bench/load/report.h"

namespace hallmark::bench {

namespace asio = boost::asio;

namespace {

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

struct EtcdWorker {
  std::shared_ptr<HttpConnection> conn;
  uint32_t id = 0;
  uint64_t quota = 0;
  uint64_t done = 0;
  uint64_t errors = 0;
  unsigned last_error_status = 0;
  std::vector<double> latency_ms;
  Clock::time_point sent;
};

}  // namespace

int RunEtcd(const EtcdOptions& o) {
  if (o.endpoints.empty() || o.clients == 0 || o.records == 0 || o.threads == 0 ||
      o.value_bytes == 0 || o.value_bytes > (1u << 20)) {
    std::fprintf(stderr,
                 "hallmark-bench etcd: need --endpoint, and positive --records, --clients, "
                 "--threads and --value-bytes (at most 1 MiB)\n");
    return 2;
  }
  std::vector<Endpoint> endpoints;
  for (const std::string& url : o.endpoints) {
    auto e = ResolveNode(url);
    if (!e.ok()) {
      Progress("endpoint " + url + ": " + e.status().ToString());
      return 3;
    }
    endpoints.push_back(*e);
  }
  const std::string tag =
      o.run_tag.empty() ? std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count())
                        : o.run_tag;
  // One value for every put (its bytes do not matter to etcd); keys are distinct.
  const std::string value_b64 = Base64(std::string(o.value_bytes, 'v'));

  asio::io_context io(static_cast<int>(o.threads));
  const uint32_t clients = static_cast<uint32_t>(std::min<uint64_t>(o.clients, o.records));
  std::vector<std::unique_ptr<EtcdWorker>> workers;
  std::function<void(EtcdWorker*)> next = [&](EtcdWorker* w) {
    std::string key =
        "hallmark-bench/" + tag + "/" + std::to_string(w->id) + "/" + std::to_string(w->done);
    std::string body = "{\"key\":\"" + Base64(key) + "\",\"value\":\"" + value_b64 + "\"}";
    w->sent = Clock::now();
    w->conn->Post("/v3/kv/put", std::move(body), [w, &next](HttpResult&& res) {
      w->latency_ms.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - w->sent).count());
      // A put that committed answers 200 with the cluster's response header.
      if (res.error || res.status != 200 || res.body.find("\"header\"") == std::string::npos) {
        ++w->errors;
        w->last_error_status = res.error ? 0 : res.status;
      }
      if (++w->done < w->quota) next(w);
    });
  };
  for (uint32_t c = 0; c < clients; ++c) {
    auto w = std::make_unique<EtcdWorker>();
    w->id = c;
    w->conn =
        std::make_shared<HttpConnection>(io, endpoints[c % endpoints.size()], "application/json");
    w->quota = o.records / clients + (c < o.records % clients ? 1 : 0);
    w->latency_ms.reserve(w->quota);
    workers.push_back(std::move(w));
  }
  Progress("putting " + std::to_string(o.records) + " keys of " + std::to_string(o.value_bytes) +
           "-byte values over " + std::to_string(clients) + " connections to " +
           std::to_string(endpoints.size()) + " endpoint(s), closed loop");
  const double cpu0 = ProcessCpuSeconds();
  const auto start = Clock::now();
  for (auto& w : workers) {
    EtcdWorker* raw = w.get();
    if (raw->quota > 0) asio::post(io, [raw, &next] { next(raw); });
  }
  std::vector<std::thread> pool;
  for (uint32_t t = 1; t < o.threads; ++t) pool.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
  const double seconds = SecondsBetween(start, Clock::now());
  const double cpu = ProcessCpuSeconds() - cpu0;

  uint64_t done = 0, errors = 0;
  unsigned last_status = 0;
  std::vector<double> all;
  for (auto& w : workers) {
    done += w->done;
    errors += w->errors;
    if (w->errors > 0) last_status = w->last_error_status;
    all.insert(all.end(), w->latency_ms.begin(), w->latency_ms.end());
  }
  const Percentiles lat = ComputePercentiles(&all);
  JsonLine j;
  j.Add("mode", "etcd")
      .Add("endpoints", static_cast<uint64_t>(endpoints.size()))
      .Add("clients", static_cast<uint64_t>(clients))
      .Add("value_bytes", static_cast<uint64_t>(o.value_bytes))
      .Add("puts", done - errors)
      .Add("errors", errors);
  if (errors == 0) j.Add("committed_per_s", seconds > 0 ? static_cast<double>(done) / seconds : 0);
  j.Add("latency_ms_p50", lat.p50, 2)
      .Add("latency_ms_p95", lat.p95, 2)
      .Add("latency_ms_p99", lat.p99, 2)
      .Add("latency_ms_max", lat.max, 2)
      .Add("latency_ms_mean", lat.mean, 2)
      .Add("duration_s", seconds, 2)
      .Add("bench_cpu_s", cpu, 2);
  std::printf("%s\n", j.str().c_str());
  std::fflush(stdout);
  if (errors > 0) {
    Progress("no rate reported: " + std::to_string(errors) + " puts failed (last HTTP status " +
             std::to_string(last_status) + ", 0: no answer)");
    return 1;
  }
  return 0;
}

}  // namespace hallmark::bench
