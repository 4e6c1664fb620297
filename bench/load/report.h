#pragma once

// What the load generator prints: latency percentiles, the one-line JSON result on standard
// output, and progress lines on standard error.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hallmark::bench {

using Clock = std::chrono::steady_clock;

inline double SecondsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Nearest-rank percentiles of a sample (milliseconds). Sorts the sample.
struct Percentiles {
  double p50 = 0;
  double p95 = 0;
  double p99 = 0;
  double max = 0;
  double mean = 0;
  size_t count = 0;
};
Percentiles ComputePercentiles(std::vector<double>* sample_ms);

// Builds one flat JSON object, fields in the order added. Not thread-safe.
class JsonLine {
 public:
  JsonLine& Add(std::string_view key, double value, int decimals = 1);
  JsonLine& Add(std::string_view key, uint64_t value);
  JsonLine& Add(std::string_view key, std::string_view value);
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void Key(std::string_view key);
  std::string body_;
};

// Seconds of CPU this process has used (user + system), to show that the generator was not the
// bottleneck.
double ProcessCpuSeconds();

// A line on standard error, prefixed with "hallmark-bench: ".
void Progress(const std::string& line);

}  // namespace hallmark::bench
