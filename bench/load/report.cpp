#include "bench/load/report.h"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

namespace hallmark::bench {

Percentiles ComputePercentiles(std::vector<double>* sample) {
  Percentiles p;
  p.count = sample->size();
  if (sample->empty()) return p;
  std::sort(sample->begin(), sample->end());
  auto rank = [&](double q) {
    size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(sample->size())));
    return (*sample)[std::clamp<size_t>(i, 1, sample->size()) - 1];
  };
  p.p50 = rank(0.50);
  p.p95 = rank(0.95);
  p.p99 = rank(0.99);
  p.max = sample->back();
  p.mean =
      std::accumulate(sample->begin(), sample->end(), 0.0) / static_cast<double>(sample->size());
  return p;
}

void JsonLine::Key(std::string_view key) {
  if (!body_.empty()) body_ += ",";
  body_ += "\"";
  body_ += key;
  body_ += "\":";
}

JsonLine& JsonLine::Add(std::string_view key, double value, int decimals) {
  Key(key);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, std::isfinite(value) ? value : 0.0);
  body_ += buf;
  return *this;
}

JsonLine& JsonLine::Add(std::string_view key, uint64_t value) {
  Key(key);
  body_ += std::to_string(value);
  return *this;
}

JsonLine& JsonLine::Add(std::string_view key, std::string_view value) {
  Key(key);
  body_ += "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') {
      body_ += '\\';
      body_ += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      body_ += ' ';
    } else {
      body_ += c;
    }
  }
  body_ += "\"";
  return *this;
}

double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return s(u.ru_utime) + s(u.ru_stime);
}

void Progress(const std::string& line) {
  std::fprintf(stderr, "hallmark-bench: %s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace hallmark::bench
