#include <doctest/doctest.h>

#include <fstream>

#include "core/codec.h"
#include "node/config.h"
#include "test_util.h"

using namespace hallmark;

namespace {

// A minimal config.json with the given "http" object.
core::Result<pb::NodeConfig> LoadWithHttp(const test::TempDir& dir, const std::string& http) {
  std::ofstream(dir.path() / "config.json") << "{\"moniker\": \"n\", \"http\": " << http << "}";
  return node::LoadConfig(dir.path());
}

}  // namespace

TEST_CASE("config: an absent http rate limit becomes the default, written out for operators") {
  test::TempDir dir;
  auto c = LoadWithHttp(dir, "{}");
  REQUIRE(c.ok());
  REQUIRE(c->http().has_rate_limit_per_second());
  CHECK(c->http().rate_limit_per_second() == 2'000);
  node::HttpLimits limits = node::HttpLimitsFromConfig(c->http());
  CHECK(limits.rate_per_second == node::http_limits::kRatePerSecond);
  CHECK(limits.rate_burst == node::http_limits::kRateBurst);
  // Written back, the setting is visible in the file, so it can be changed there.
  auto json = core::ToJson(*c);
  REQUIRE(json.ok());
  CHECK(json->find("\"rate_limit_per_second\": 2000") != std::string::npos);
}

TEST_CASE("config: http rate limit 0 turns the limiter off and survives a round trip") {
  test::TempDir dir;
  auto c = LoadWithHttp(dir, "{\"rate_limit_per_second\": 0}");
  REQUIRE(c.ok());
  REQUIRE(c->http().has_rate_limit_per_second());
  CHECK(c->http().rate_limit_per_second() == 0);
  CHECK(node::HttpLimitsFromConfig(c->http()).rate_per_second == 0);

  REQUIRE(node::WriteConfig(dir.path(), *c).ok());
  auto again = node::LoadConfig(dir.path());
  REQUIRE(again.ok());
  CHECK(again->http().has_rate_limit_per_second());
  CHECK(again->http().rate_limit_per_second() == 0);
}

TEST_CASE("config: a chosen http rate limit sets the rate and a burst of twice that") {
  test::TempDir dir;
  auto c = LoadWithHttp(dir,
                        "{\"rate_limit_per_second\": 50000, \"idle_timeout_ms\": 1500, "
                        "\"max_connections\": 10, \"max_body_bytes\": \"4096\"}");
  REQUIRE(c.ok());
  node::HttpLimits limits = node::HttpLimitsFromConfig(c->http());
  CHECK(limits.rate_per_second == 50'000);
  CHECK(limits.rate_burst == 100'000);
  CHECK(limits.idle_timeout_ms == 1500);
  CHECK(limits.connections_max == 10);
  CHECK(limits.body_bytes_max == 4096);
  // What the config does not set keeps the server's defaults.
  CHECK(limits.header_timeout_ms == node::http_limits::kHeaderTimeoutMs);
}

TEST_CASE("config: an http rate limit above the maximum is refused, naming the setting") {
  test::TempDir dir;
  auto c = LoadWithHttp(dir, "{\"rate_limit_per_second\": 1000001}");
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().code() == core::StatusCode::kInvalidInput);
  CHECK(c.status().message().find("http.rate_limit_per_second") != std::string::npos);
  CHECK(c.status().message().find("0 turns the limit off") != std::string::npos);

  auto wrong_type = LoadWithHttp(dir, "{\"rate_limit_per_second\": -1}");
  CHECK_FALSE(wrong_type.ok());
}

TEST_CASE("config: the block interval defaults to 50 ms, may be 0, and is bounded") {
  test::TempDir dir;
  std::ofstream(dir.path() / "config.json") << "{\"moniker\": \"n\"}";
  auto c = node::LoadConfig(dir.path());
  REQUIRE(c.ok());
  CHECK(c->block_interval_ms() == node::kDefaultBlockIntervalMs);
  CHECK(c->block_batch_records() == node::kDefaultBlockBatchRecords);

  std::ofstream(dir.path() / "config.json") << "{\"block_interval_ms\": 0}";
  c = node::LoadConfig(dir.path());
  REQUIRE(c.ok());
  CHECK(c->has_block_interval_ms());
  CHECK(c->block_interval_ms() == 0);

  std::ofstream(dir.path() / "config.json") << "{\"block_interval_ms\": 10001}";
  c = node::LoadConfig(dir.path());
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().message().find("block_interval_ms") != std::string::npos);
}

TEST_CASE("config: the ledger cache is absent by default and bounded to 8-65,536 MiB") {
  test::TempDir dir;
  std::ofstream(dir.path() / "config.json") << "{\"moniker\": \"n\"}";
  auto c = node::LoadConfig(dir.path());
  REQUIRE(c.ok());
  CHECK_FALSE(c->has_cache_mib());

  std::ofstream(dir.path() / "config.json") << "{\"cache_mib\": 256}";
  c = node::LoadConfig(dir.path());
  REQUIRE(c.ok());
  CHECK(c->cache_mib() == 256);

  for (const char* bad : {"0", "7", "65537", "4294967295"}) {
    std::ofstream(dir.path() / "config.json") << "{\"cache_mib\": " << bad << "}";
    c = node::LoadConfig(dir.path());
    REQUIRE_FALSE(c.ok());
    CHECK(c.status().message().find("cache_mib") != std::string::npos);
  }
  std::ofstream(dir.path() / "config.json") << "{\"cache_mib\": -1}";
  CHECK_FALSE(node::LoadConfig(dir.path()).ok());
}

TEST_CASE("config: admission defaults to 250 ms over a floor of 500, may be off, and is checked") {
  test::TempDir dir;
  std::ofstream(dir.path() / "config.json") << "{\"moniker\": \"n\"}";
  auto c = node::LoadConfig(dir.path());
  REQUIRE(c.ok());
  CHECK(c->mempool().admission_ms() == node::kDefaultAdmissionMs);
  CHECK(c->mempool().admission_floor() == node::kDefaultAdmissionFloor);

  std::ofstream(dir.path() / "config.json") << "{\"mempool\": {\"admission_ms\": 0}}";
  c = node::LoadConfig(dir.path());
  REQUIRE(c.ok());
  CHECK(c->mempool().has_admission_ms());
  CHECK(c->mempool().admission_ms() == 0);

  // A small pool lowers the default floor to its size; a floor set above it is an error.
  std::ofstream(dir.path() / "config.json") << "{\"mempool\": {\"max_records\": 100}}";
  c = node::LoadConfig(dir.path());
  REQUIRE(c.ok());
  CHECK(c->mempool().admission_floor() == 100);
  for (const char* bad : {"{\"mempool\": {\"max_records\": 100, \"admission_floor\": 101}}",
                          "{\"mempool\": {\"admission_ms\": 600001}}"}) {
    std::ofstream(dir.path() / "config.json") << bad;
    c = node::LoadConfig(dir.path());
    REQUIRE_FALSE(c.ok());
    CHECK(c.status().message().find("mempool.admission") != std::string::npos);
  }
}

TEST_CASE("config: the event feed's bounds default to 2,048 feeds and 256 KiB queues, checked") {
  test::TempDir dir;
  auto c = LoadWithHttp(dir, "{}");
  REQUIRE(c.ok());
  CHECK(c->http().events_watchers_max() == 2'048);
  CHECK(c->http().events_queue_bytes() == 256 * 1024);
  auto set = LoadWithHttp(dir, "{\"events_watchers_max\": 10, \"events_queue_bytes\": 65536}");
  REQUIRE(set.ok());
  CHECK(set->http().events_watchers_max() == 10);
  CHECK(set->http().events_queue_bytes() == 65'536);
  for (const char* bad : {"{\"events_queue_bytes\": 1024}", "{\"events_queue_bytes\": 1e9}",
                          "{\"events_watchers_max\": 1000000}"}) {
    CAPTURE(bad);
    auto r = LoadWithHttp(dir, bad);
    REQUIRE(!r.ok());
    CHECK(r.status().message().find("http.events_") != std::string::npos);
  }
}

TEST_CASE("config: http TLS files go together, both or neither") {
  test::TempDir dir;
  auto both = LoadWithHttp(dir, R"({"tls_cert_file": "tls.pem", "tls_key_file": "tls.key"})");
  REQUIRE(both.ok());
  CHECK(both->http().tls_cert_file() == "tls.pem");
  CHECK(both->http().tls_key_file() == "tls.key");
  auto neither = LoadWithHttp(dir, "{}");
  REQUIRE(neither.ok());
  CHECK(neither->http().tls_cert_file().empty());
  for (const char* one : {R"({"tls_cert_file": "tls.pem"})", R"({"tls_key_file": "tls.key"})"}) {
    CAPTURE(one);
    auto c = LoadWithHttp(dir, one);
    REQUIRE_FALSE(c.ok());
    CHECK(c.status().code() == core::StatusCode::kInvalidInput);
    CHECK(c.status().message().find("http.tls_cert_file and http.tls_key_file go together") !=
          std::string::npos);
  }
}
