#pragma once

#include <boost/asio/ip/address.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace hallmark::node {

// Token buckets per client: an IPv4 address, or an IPv6 /64 (one host usually owns a whole
// /64, so limiting single IPv6 addresses would limit nothing). Each bucket refills at
// `rate_per_second` up to `burst`; a request takes one token. At most `clients_max` buckets are
// kept: when full, buckets that have refilled (idle clients) are dropped first, then arbitrary
// ones, so the table cannot grow with the number of addresses an attacker controls.
//
// Thread-safe. The table is split into shards, each behind its own mutex, so concurrent
// requests from different clients rarely wait for each other.
class RateLimiter {
 public:
  // A rate of 0 (or less) admits everything.
  RateLimiter(double rate_per_second, double burst, uint32_t clients_max);

  // Takes a token for `client`. Returns 0 when the request may go ahead, otherwise the whole
  // seconds (at least 1) until a token will be available, for Retry-After.
  uint32_t Acquire(const boost::asio::ip::address& client,
                   std::chrono::steady_clock::time_point now);

  // Buckets currently kept.
  size_t tracked() const;

 private:
  static constexpr size_t kShards = 16;
  struct Key {
    uint64_t hi = 0;
    uint64_t lo = 0;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  struct Bucket {
    double tokens = 0;
    int64_t last_ns = 0;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<Key, Bucket, KeyHash> buckets;
    int64_t last_sweep_ns = INT64_MIN;
  };

  static Key KeyOf(const boost::asio::ip::address& client);
  void MakeRoom(Shard& shard, int64_t now_ns);

  const double rate_per_second_;
  const double burst_;
  const size_t per_shard_max_;
  std::unique_ptr<std::array<Shard, kShards>> shards_ =
      std::make_unique<std::array<Shard, kShards>>();
};

}  // namespace hallmark::node
