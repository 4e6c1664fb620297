#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/status.h"
#include "node/http/limits.h"
#include "proto/node.pb.h"

namespace hallmark::node {

struct HostPort {
  std::string host;
  uint16_t port = 0;
};

// "127.0.0.1:7700" or "[::1]:7700"; InvalidInput naming `field` otherwise.
core::Result<HostPort> ParseHostPort(std::string_view text, std::string_view field);

// Reads <home>/config.json through Protobuf's JSON mapping, fills defaults and checks every
// setting; each error names the setting ("config.json: peers[2].key: …").
core::Result<pb::NodeConfig> LoadConfig(const std::filesystem::path& home);

// Fills defaults and validates an in-memory config (used by LoadConfig and testnet).
core::Status ValidateConfig(pb::NodeConfig* config);

// block_interval_ms when the config leaves it out, and the largest accepted.
inline constexpr uint32_t kDefaultBlockIntervalMs = 50;
inline constexpr uint32_t kBlockIntervalMsMax = 10'000;
inline constexpr uint32_t kDefaultBlockBatchRecords = 64;
inline constexpr uint32_t kDefaultAdmissionMs = 250;
inline constexpr uint32_t kAdmissionMsMax = 600'000;
inline constexpr uint64_t kDefaultAdmissionFloor = 500;
inline constexpr uint32_t kCacheMibMin = 8;
inline constexpr uint32_t kCacheMibMax = 65'536;

// Largest http.rate_limit_per_second accepted; 0 (no limit) is the way to ask for more.
inline constexpr uint32_t kRateLimitPerSecondMax = 1'000'000;

// GET /v1/events: open feeds (http.events_watchers_max) and each feed's queue
// (http.events_queue_bytes), by default and at most. A queue must hold a few events (each under
// 4 KiB); 64 MiB per feed is already more than any reader needs.
inline constexpr uint32_t kDefaultEventsWatchersMax = 2'048;
inline constexpr uint32_t kEventsWatchersMaxMax = 100'000;
inline constexpr uint64_t kDefaultEventsQueueBytes = 256 * 1024;
inline constexpr uint64_t kEventsQueueBytesMin = 16 * 1024;
inline constexpr uint64_t kEventsQueueBytesMax = 64ull * 1024 * 1024;

// The HTTP server's limits from a validated config: the defaults of node/http/limits.h, with
// what `http` sets. A rate limit of 0 turns the limiter off; otherwise the burst is two
// seconds' worth, as with the default.
HttpLimits HttpLimitsFromConfig(const pb::HttpConfig& http);

// A path from the config, relative to home unless absolute.
std::filesystem::path ResolvePath(const std::filesystem::path& home, const std::string& path);

// Writes `config` as pretty JSON, atomically.
core::Status WriteConfig(const std::filesystem::path& home, const pb::NodeConfig& config);

}  // namespace hallmark::node
