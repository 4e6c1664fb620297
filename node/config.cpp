#include "node/config.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/codec.h"
#include "core/genesis.h"
#include "core/json.h"

namespace hallmark::node {

using core::Status;

core::Result<HostPort> ParseHostPort(std::string_view text, std::string_view field) {
  auto bad = [&](std::string why) {
    return Status::InvalidInput(std::string(field) + " \"" + std::string(text.substr(0, 100)) +
                                "\" " + why);
  };
  HostPort hp;
  size_t colon;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return bad("must be [ipv6]:port");
    }
    hp.host = std::string(text.substr(1, close - 1));
    colon = close + 1;
  } else {
    colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return bad("must be host:port");
    hp.host = std::string(text.substr(0, colon));
  }
  std::string_view port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5) return bad("has no valid port");
  uint32_t value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return bad("has a port that is not a number");
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > 65535) return bad("has a port above 65535");
  hp.port = static_cast<uint16_t>(value);
  return hp;
}

std::filesystem::path ResolvePath(const std::filesystem::path& home, const std::string& path) {
  std::filesystem::path p(path);
  return p.is_absolute() ? p : home / p;
}

Status ValidateConfig(pb::NodeConfig* c) {
  if (c->genesis_file().empty()) c->set_genesis_file("genesis.json");
  if (c->node_key_file().empty()) c->set_node_key_file("node.key");
  if (c->data_dir().empty()) c->set_data_dir("data");
  if (c->log_level().empty()) c->set_log_level("info");
  if (c->p2p_listen().empty()) c->set_p2p_listen("127.0.0.1:7700");
  if (c->http_listen().empty()) c->set_http_listen("127.0.0.1:7800");
  static const char* kLevels[] = {"trace", "debug", "info", "warn", "error"};
  bool level_ok = false;
  for (const char* l : kLevels) level_ok |= c->log_level() == l;
  if (!level_ok) {
    return Status::InvalidInput("log_level \"" + c->log_level().substr(0, 40) +
                                "\" must be one of trace, debug, info, warn, error");
  }
  if (auto hp = ParseHostPort(c->p2p_listen(), "p2p_listen"); !hp.ok()) return hp.status();
  if (auto hp = ParseHostPort(c->http_listen(), "http_listen"); !hp.ok()) return hp.status();
  for (int i = 0; i < c->peers_size(); ++i) {
    const auto& peer = c->peers(i);
    std::string where = "peers[" + std::to_string(i) + "]";
    if (auto hp = ParseHostPort(peer.address(), where + ".address"); !hp.ok()) return hp.status();
    if (auto key = core::ParsePublicKeyHex(peer.key()); !key.ok()) {
      return key.status().WithContext(where + ".key");
    }
  }
  for (int i = 0; i < c->observer_keys_size(); ++i) {
    if (auto key = core::ParsePublicKeyHex(c->observer_keys(i)); !key.ok()) {
      return key.status().WithContext("observer_keys[" + std::to_string(i) + "]");
    }
  }
  auto* m = c->mutable_mempool();
  if (m->max_records() == 0) m->set_max_records(100'000);
  if (m->max_bytes() == 0) m->set_max_bytes(128ull << 20);
  if (m->max_records() > 10'000'000)
    return Status::InvalidInput("mempool.max_records is above 10,000,000");
  if (!m->has_admission_ms()) m->set_admission_ms(kDefaultAdmissionMs);
  if (m->admission_ms() > kAdmissionMsMax) {
    return Status::InvalidInput("mempool.admission_ms is " + std::to_string(m->admission_ms()) +
                                "; at most " + std::to_string(kAdmissionMsMax));
  }
  if (m->admission_floor() == 0)
    m->set_admission_floor(std::min<uint64_t>(kDefaultAdmissionFloor, m->max_records()));
  if (m->admission_floor() > m->max_records()) {
    return Status::InvalidInput("mempool.admission_floor is above mempool.max_records");
  }
  if (!c->has_block_interval_ms()) c->set_block_interval_ms(kDefaultBlockIntervalMs);
  if (c->block_interval_ms() > kBlockIntervalMsMax) {
    return Status::InvalidInput("block_interval_ms is " + std::to_string(c->block_interval_ms()) +
                                "; at most " + std::to_string(kBlockIntervalMsMax));
  }
  if (!c->has_block_batch_records()) c->set_block_batch_records(kDefaultBlockBatchRecords);
  if (c->has_cache_mib() && (c->cache_mib() < kCacheMibMin || c->cache_mib() > kCacheMibMax)) {
    return Status::InvalidInput("cache_mib is " + std::to_string(c->cache_mib()) + "; from " +
                                std::to_string(kCacheMibMin) + " to " +
                                std::to_string(kCacheMibMax));
  }
  if (c->has_prune_keep_blocks() && c->snapshot_interval() == 0) {
    return Status::InvalidInput(
        "prune_keep_blocks needs snapshot_interval: blocks are pruned after each snapshot, and "
        "never those a node joining from a kept snapshot needs");
  }
  auto* h = c->mutable_http();
  if (h->threads() == 0) h->set_threads(2);
  if (h->threads() > 64) return Status::InvalidInput("http.threads is above 64");
  // Written out explicitly, so that an operator sees the limit in config.json and can change it.
  if (!h->has_rate_limit_per_second()) {
    h->set_rate_limit_per_second(static_cast<uint32_t>(http_limits::kRatePerSecond));
  }
  if (h->tls_cert_file().empty() != h->tls_key_file().empty()) {
    return Status::InvalidInput(
        "http.tls_cert_file and http.tls_key_file go together: set both for HTTPS, or neither");
  }
  if (h->rate_limit_per_second() > kRateLimitPerSecondMax) {
    return Status::InvalidInput(
        "http.rate_limit_per_second is " + std::to_string(h->rate_limit_per_second()) +
        "; at most " + std::to_string(kRateLimitPerSecondMax) + " (0 turns the limit off)");
  }
  if (h->events_watchers_max() == 0) h->set_events_watchers_max(kDefaultEventsWatchersMax);
  if (h->events_watchers_max() > kEventsWatchersMaxMax) {
    return Status::InvalidInput("http.events_watchers_max is " +
                                std::to_string(h->events_watchers_max()) + "; at most " +
                                std::to_string(kEventsWatchersMaxMax));
  }
  if (h->events_queue_bytes() == 0) h->set_events_queue_bytes(kDefaultEventsQueueBytes);
  if (h->events_queue_bytes() < kEventsQueueBytesMin ||
      h->events_queue_bytes() > kEventsQueueBytesMax) {
    return Status::InvalidInput("http.events_queue_bytes is " +
                                std::to_string(h->events_queue_bytes()) + "; it must be from " +
                                std::to_string(kEventsQueueBytesMin) + " to " +
                                std::to_string(kEventsQueueBytesMax));
  }
  return Status::Ok();
}

HttpLimits HttpLimitsFromConfig(const pb::HttpConfig& http) {
  HttpLimits limits;
  if (http.max_body_bytes() > 0) limits.body_bytes_max = http.max_body_bytes();
  if (http.max_connections() > 0) limits.connections_max = http.max_connections();
  if (http.idle_timeout_ms() > 0) limits.idle_timeout_ms = http.idle_timeout_ms();
  if (http.has_rate_limit_per_second()) {
    limits.rate_per_second = http.rate_limit_per_second();
    limits.rate_burst = 2.0 * http.rate_limit_per_second();
  }
  return limits;
}

core::Result<pb::NodeConfig> LoadConfig(const std::filesystem::path& home) {
  std::filesystem::path path = home / "config.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot open " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (ss.str().size() > core::limits::kMaxConfigJsonBytes) {
    return Status::InvalidInput(path.string() + " is over 1 MiB");
  }
  pb::NodeConfig config;
  HM_RETURN_IF_ERROR(
      core::ParseJsonStrict(ss.str(), &config, core::kConfigJsonLimits).WithContext(path.string()));
  HM_RETURN_IF_ERROR(ValidateConfig(&config).WithContext(path.string()));
  return config;
}

Status WriteConfig(const std::filesystem::path& home, const pb::NodeConfig& config) {
  auto json = core::ToJson(config);
  if (!json.ok()) return json.status();
  std::filesystem::path tmp = home / "config.json.tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << *json << "\n";
    if (!out) return Status::IoError("cannot write " + tmp.string());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, home / "config.json", ec);
  if (ec) return Status::IoError("cannot write config.json: " + ec.message());
  return Status::Ok();
}

}  // namespace hallmark::node
