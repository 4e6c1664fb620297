#pragma once

#include <cstddef>
#include <cstdint>

// Every limit of the HTTP server in one place. The constants are the defaults; HttpLimits lets
// the configuration (and tests) change them. Each one bounds something a client controls.
namespace hallmark::node::http_limits {

// A request body above this is refused with 413, as soon as its Content-Length (or the running
// size of a chunked body) shows it, before the rest is read.
inline constexpr uint64_t kBodyBytesMax = 1024 * 1024;
// The request line plus all header fields; above it, 431.
inline constexpr uint32_t kHeaderBytesMax = 16 * 1024;
// Open connections. A new connection beyond it gets a best-effort 503 and is closed at once.
inline constexpr uint32_t kConnectionsMax = 4'096;
// From the first byte of a request to the end of its header (slowloris).
inline constexpr uint32_t kHeaderTimeoutMs = 10'000;
// From the end of the header to the end of the body.
inline constexpr uint32_t kBodyTimeoutMs = 30'000;
// Waiting for the first byte of a request on an open connection (keep-alive).
inline constexpr uint32_t kIdleTimeoutMs = 60'000;
// Writing one response (a client that stops reading).
inline constexpr uint32_t kWriteTimeoutMs = 30'000;
// Token bucket per client address (IPv4 address, IPv6 /64): sustained requests per second and
// burst size. Above it, 429 with Retry-After. A rate of 0 turns the limiter off.
inline constexpr double kRatePerSecond = 2'000;
inline constexpr double kRateBurst = 4'000;
// Client addresses tracked by the rate limiter; idle ones are forgotten first when it is full.
inline constexpr uint32_t kRateClientsMax = 65'536;
// Requests served on one connection before it is closed; 0 means no limit.
inline constexpr uint32_t kRequestsPerConnectionMax = 0;

// Fixed, not configurable: they bound the router and the lingering close.
// Path segments of a request; more is answered with 414.
inline constexpr size_t kPathSegmentsMax = 64;
// Parameters in one route pattern.
inline constexpr size_t kPathParamsMax = 8;
// After an error response that ends a connection, unread request bytes are drained (so the
// client sees the response rather than a reset) for at most this long and this many bytes.
inline constexpr uint32_t kLingerMs = 2'000;
inline constexpr uint64_t kLingerBytesMax = 256 * 1024;

}  // namespace hallmark::node::http_limits

namespace hallmark::node {

// The HTTP server's limits; see http_limits for what each one bounds. Plain data.
struct HttpLimits {
  uint64_t body_bytes_max = http_limits::kBodyBytesMax;
  uint32_t header_bytes_max = http_limits::kHeaderBytesMax;
  uint32_t connections_max = http_limits::kConnectionsMax;
  uint32_t header_timeout_ms = http_limits::kHeaderTimeoutMs;
  uint32_t body_timeout_ms = http_limits::kBodyTimeoutMs;
  uint32_t idle_timeout_ms = http_limits::kIdleTimeoutMs;
  uint32_t write_timeout_ms = http_limits::kWriteTimeoutMs;
  double rate_per_second = http_limits::kRatePerSecond;
  double rate_burst = http_limits::kRateBurst;
  uint32_t rate_clients_max = http_limits::kRateClientsMax;
  uint32_t requests_per_connection_max = http_limits::kRequestsPerConnectionMax;
};

}  // namespace hallmark::node
