#include "node/metrics.h"

#include <doctest/doctest.h>

#include <thread>
#include <vector>

namespace hallmark::node {
namespace {

TEST_CASE("metrics: counters and gauges render with HELP and TYPE in the 0.0.4 text format") {
  MetricsRegistry registry;
  registry.GetCounter("hallmark_blocks_total", "Blocks committed.").Inc(3);
  Gauge& g = registry.GetGauge("hallmark_height", "Committed height.");
  g.Set(12);
  g.Inc();
  g.Dec();
  g.Add(0.5);
  registry.GetGauge("hallmark_negative", "A gauge below zero.").Set(-2);
  CHECK(registry.Render() ==
        "# HELP hallmark_blocks_total Blocks committed.\n"
        "# TYPE hallmark_blocks_total counter\n"
        "hallmark_blocks_total 3\n"
        "# HELP hallmark_height Committed height.\n"
        "# TYPE hallmark_height gauge\n"
        "hallmark_height 12.5\n"
        "# HELP hallmark_negative A gauge below zero.\n"
        "# TYPE hallmark_negative gauge\n"
        "hallmark_negative -2\n");
}

TEST_CASE("metrics: histogram buckets are cumulative, with +Inf, _sum and _count") {
  MetricsRegistry registry;
  const double bounds[] = {0.25, 0.5, 1};
  Histogram& h = registry.GetHistogram("hallmark_latency_seconds", "Latency.", bounds,
                                       {{"route", "GET /v1/status"}});
  for (double v : {0.125, 0.25, 0.375, 0.75, 2.0, 3.0}) h.Observe(v);
  CHECK(registry.Render() ==
        "# HELP hallmark_latency_seconds Latency.\n"
        "# TYPE hallmark_latency_seconds histogram\n"
        "hallmark_latency_seconds_bucket{route=\"GET /v1/status\",le=\"0.25\"} 2\n"
        "hallmark_latency_seconds_bucket{route=\"GET /v1/status\",le=\"0.5\"} 3\n"
        "hallmark_latency_seconds_bucket{route=\"GET /v1/status\",le=\"1\"} 4\n"
        "hallmark_latency_seconds_bucket{route=\"GET /v1/status\",le=\"+Inf\"} 6\n"
        "hallmark_latency_seconds_sum{route=\"GET /v1/status\"} 6.5\n"
        "hallmark_latency_seconds_count{route=\"GET /v1/status\"} 6\n");

  Histogram::Snapshot s = h.Take();
  CHECK(s.count == 6);
  CHECK(s.cumulative.back() == s.count);
}

TEST_CASE("metrics: a histogram without labels and the default latency buckets") {
  MetricsRegistry registry;
  Histogram& h = registry.GetHistogram("hallmark_x_seconds", "X.", kLatencyBucketsSeconds);
  h.Observe(0.0001);
  h.Observe(100);
  std::string text = registry.Render();
  CHECK(text.find("hallmark_x_seconds_bucket{le=\"0.0005\"} 1\n") != std::string::npos);
  CHECK(text.find("hallmark_x_seconds_bucket{le=\"10\"} 1\n") != std::string::npos);
  CHECK(text.find("hallmark_x_seconds_bucket{le=\"+Inf\"} 2\n") != std::string::npos);
  CHECK(text.find("hallmark_x_seconds_count 2\n") != std::string::npos);
}

TEST_CASE("metrics: label values and help text are escaped") {
  CHECK(EscapeLabelValue("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
  MetricsRegistry registry;
  registry
      .GetCounter("hallmark_odd_total", "Help with \\ and\nnewline and \"quotes\".",
                  {{"path", "C:\\dir\n\"x\""}})
      .Inc();
  CHECK(registry.Render() ==
        "# HELP hallmark_odd_total Help with \\\\ and\\nnewline and \"quotes\".\n"
        "# TYPE hallmark_odd_total counter\n"
        "hallmark_odd_total{path=\"C:\\\\dir\\n\\\"x\\\"\"} 1\n");
}

TEST_CASE("metrics: one name and label set is one series, whatever the label order") {
  MetricsRegistry registry;
  Counter& a =
      registry.GetCounter("hallmark_req_total", "Requests.", {{"route", "r"}, {"status", "2xx"}});
  Counter& b =
      registry.GetCounter("hallmark_req_total", "Requests.", {{"status", "2xx"}, {"route", "r"}});
  Counter& c =
      registry.GetCounter("hallmark_req_total", "Requests.", {{"route", "r"}, {"status", "5xx"}});
  CHECK(&a == &b);
  CHECK(&a != &c);
  a.Inc();
  b.Inc();
  c.Inc(7);
  CHECK(registry.Render() ==
        "# HELP hallmark_req_total Requests.\n"
        "# TYPE hallmark_req_total counter\n"
        "hallmark_req_total{route=\"r\",status=\"2xx\"} 2\n"
        "hallmark_req_total{route=\"r\",status=\"5xx\"} 7\n");
}

TEST_CASE("metrics: increments from several threads are all counted") {
  MetricsRegistry registry;
  Counter& counter = registry.GetCounter("hallmark_hits_total", "Hits.");
  Gauge& gauge = registry.GetGauge("hallmark_level", "Level.");
  const double bounds[] = {1, 2};
  Histogram& hist = registry.GetHistogram("hallmark_h", "H.", bounds);
  constexpr int kThreads = 4;
  constexpr int kEach = 100'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        counter.Inc();
        gauge.Inc();
        hist.Observe(1.5);
        // Registration and rendering may run alongside.
        if (i % 10'000 == 0) {
          registry.GetCounter("hallmark_hits_total", "Hits.").Inc(0);
          (void)registry.Render();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(counter.value() == uint64_t{kThreads} * kEach);
  CHECK(gauge.value() == double{kThreads} * kEach);
  Histogram::Snapshot s = hist.Take();
  CHECK(s.count == uint64_t{kThreads} * kEach);
  CHECK(s.cumulative[0] == 0);
  CHECK(s.cumulative[1] == s.count);
  CHECK(s.sum == doctest::Approx(1.5 * kThreads * kEach));
}

}  // namespace
}  // namespace hallmark::node
