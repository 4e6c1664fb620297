#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hallmark::node {

// Label name/value pairs of one series, e.g. {{"route", "GET /v1/status"}, {"status", "2xx"}}.
// The order does not matter: the registry sorts them by name.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// Upper bounds, in seconds, for latency histograms: 0.5 ms to 10 s.
inline constexpr double kLatencyBucketsSeconds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                    0.1,    0.25,  0.5,    1,     2.5,  5,     10};

// A monotonically increasing count. Increments are one relaxed atomic add, so it may sit on hot
// paths. Thread-safe.
class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down (connections open, mempool size). Thread-safe and lock-free.
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double d) { value_.fetch_add(d, std::memory_order_relaxed); }
  void Inc() { Add(1); }
  void Dec() { Add(-1); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets chosen at creation, as Prometheus expects: each
// bucket is an upper bound, and the exposition adds the +Inf bucket. Observe() is a short
// search over the bounds and two relaxed atomic updates. Thread-safe.
class Histogram {
 public:
  // REQUIRES: `upper_bounds` strictly increasing and finite.
  explicit Histogram(std::span<const double> upper_bounds);

  void Observe(double value);

  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> cumulative;  // One more entry than upper_bounds: the last is +Inf.
    double sum = 0;
    uint64_t count = 0;
  };
  // Counts taken while others observe may lag each other by a few observations; the count is
  // always the +Inf bucket, so the exposition stays self-consistent.
  Snapshot Take() const;

 private:
  std::vector<double> upper_bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // Per bucket, not cumulative; last is +Inf.
  std::atomic<double> sum_{0};
};

// The node's metrics, rendered in the Prometheus text exposition format (version 0.0.4) for
// GET /metrics. Get*() registers a series on first use and returns the same object afterwards;
// the returned reference lives as long as the registry, so callers look it up once (at start-up)
// and keep it, and the hot path is just the atomic update. Get*() and Render() take a mutex;
// the metric objects themselves do not. Thread-safe.
//
// Names must start with "hallmark_" and use [a-zA-Z0-9_:]; label names [a-zA-Z0-9_]. One name
// has one type, help text and (for histograms) one set of buckets; asking otherwise is our bug
// and stops the node.
class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  Counter& GetCounter(std::string_view name, std::string_view help, MetricLabels labels = {});
  Gauge& GetGauge(std::string_view name, std::string_view help, MetricLabels labels = {});
  Histogram& GetHistogram(std::string_view name, std::string_view help,
                          std::span<const double> upper_bounds, MetricLabels labels = {});

  // The whole registry as Prometheus text, families sorted by name, series by labels.
  std::string Render() const;

  // The content type GET /metrics answers with.
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Series {
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  struct Family {
    Type type = Type::kCounter;
    std::string help;
    std::vector<double> upper_bounds;
    std::map<std::string, Series> series;  // Keyed by rendered labels: a="x",b="y".
  };

  Series& FindOrAdd(std::string_view name, std::string_view help, Type type,
                    std::span<const double> upper_bounds, MetricLabels labels);

  mutable std::mutex mu_;
  std::map<std::string, Family, std::less<>> families_;
};

// Prometheus label-value escaping: backslash, double quote and newline. Exposed for tests.
std::string EscapeLabelValue(std::string_view value);

}  // namespace hallmark::node
