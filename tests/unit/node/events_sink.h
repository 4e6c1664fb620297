#pragma once

// A StreamSink without a socket, for tests of the event feed: what is written waits in a queue
// (bounded as the server bounds it) until the test "reads" it with Drain, or at once when the
// sink drains by itself (a fast reader). Thread-safe, like the real one.

#include <algorithm>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "node/http/message.h"
#include "node/metrics.h"

namespace hallmark::test {

class FakeSink final : public node::StreamSink {
 public:
  explicit FakeSink(size_t queue_bytes_max, bool drains_itself = true)
      : queue_bytes_max_(queue_bytes_max), drains_itself_(drains_itself) {}

  bool Write(std::string bytes) override {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    if (queued_.size() + bytes.size() > queue_bytes_max_) {
      closed_ = true;
      reason_ = "slow reader: server queue full";
      return false;
    }
    if (drains_itself_) {
      received_ += bytes;
    } else {
      queued_ += bytes;
    }
    return true;
  }
  void End() override {
    std::lock_guard lock(mu_);
    if (!closed_) reason_ = "ended";
    received_ += queued_;
    queued_.clear();
    closed_ = true;
  }
  void Abort(std::string_view reason) override {
    std::lock_guard lock(mu_);
    if (!closed_) reason_ = std::string(reason);
    queued_.clear();
    closed_ = true;
  }
  size_t queued_bytes() const override {
    std::lock_guard lock(mu_);
    return queued_.size();
  }
  bool closed() const override {
    std::lock_guard lock(mu_);
    return closed_;
  }

  // The client reads up to `bytes` of what is queued.
  void Drain(size_t bytes = SIZE_MAX) {
    std::lock_guard lock(mu_);
    const size_t n = std::min(bytes, queued_.size());
    received_ += queued_.substr(0, n);
    queued_.erase(0, n);
  }
  // Simulates the client going away.
  void Disconnect() {
    std::lock_guard lock(mu_);
    closed_ = true;
    reason_ = "client closed";
  }
  std::string received() const {
    std::lock_guard lock(mu_);
    return received_;
  }
  std::string reason() const {
    std::lock_guard lock(mu_);
    return reason_;
  }

 private:
  const size_t queue_bytes_max_;
  const bool drains_itself_;
  mutable std::mutex mu_;
  std::string queued_;
  std::string received_;
  std::string reason_;
  bool closed_ = false;
};

// One Server-Sent Event as a client reads it: the id, event and data fields (comments dropped).
struct SseEvent {
  std::string id;
  std::string event;
  std::string data;
};

// Parses complete events from `text` (a test's own parser: the feed's frames are simple).
inline std::vector<SseEvent> ParseSse(std::string_view text) {
  std::vector<SseEvent> out;
  SseEvent cur;
  bool any = false;
  size_t start = 0;
  while (true) {
    const size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) break;
    const std::string_view line = text.substr(start, nl - start);
    start = nl + 1;
    if (line.empty()) {
      if (any) out.push_back(cur);
      cur = {};
      any = false;
      continue;
    }
    if (line[0] == ':') continue;
    const size_t colon = line.find(": ");
    if (colon == std::string_view::npos) continue;
    const std::string_view field = line.substr(0, colon);
    const std::string value(line.substr(colon + 2));
    any = true;
    if (field == "id") cur.id = value;
    if (field == "event") cur.event = value;
    if (field == "data") cur.data = value;
  }
  return out;
}

// The value of one series in the registry's Prometheus text, e.g.
// `hallmark_events_dropped_total{reason="slow_reader"}`; -1 when absent.
inline double MetricValue(const node::MetricsRegistry& metrics, std::string_view series) {
  const std::string text = metrics.Render();
  size_t at = 0;
  while ((at = text.find(series, at)) != std::string::npos) {
    const bool line_start = at == 0 || text[at - 1] == '\n';
    const size_t end = at + series.size();
    if (line_start && end < text.size() && text[end] == ' ') return std::stod(text.substr(end + 1));
    at = end;
  }
  return -1;
}

// Polls `done` every few milliseconds for up to `timeout`.
inline bool WaitFor(const std::function<bool()>& done,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

}  // namespace hallmark::test
