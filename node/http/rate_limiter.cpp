#include "node/http/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace hallmark::node {
namespace {

// A full shard is swept for idle buckets at most this often; in between, inserting into a full
// shard drops an arbitrary bucket, so a flood of new addresses costs O(1) per request.
constexpr int64_t kSweepIntervalNs = 1'000'000'000;

uint64_t LoadBigEndian(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

RateLimiter::RateLimiter(double rate_per_second, double burst, uint32_t clients_max)
    : rate_per_second_(rate_per_second),
      burst_(std::max(burst, 1.0)),
      per_shard_max_(std::max<size_t>(1, clients_max / kShards)) {}

size_t RateLimiter::KeyHash::operator()(const Key& k) const {
  uint64_t h = k.hi * 0x9E3779B97F4A7C15ull;
  h ^= (k.lo + 0x632BE59BD9B4E019ull) * 0xC2B2AE3D27D4EB4Full;
  return static_cast<size_t>(h ^ (h >> 29));
}

RateLimiter::Key RateLimiter::KeyOf(const boost::asio::ip::address& client) {
  Key key;
  if (client.is_v4()) {
    key.lo = client.to_v4().to_uint();
    return key;
  }
  auto v6 = client.to_v6();
  if (v6.is_v4_mapped()) {
    key.lo = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_uint();
    return key;
  }
  auto bytes = v6.to_bytes();
  key.hi = LoadBigEndian(bytes.data());  // The /64 prefix; the interface id is ignored.
  key.lo = 1;                            // Keeps IPv6 keys apart from IPv4 ones (hi == 0).
  return key;
}

void RateLimiter::MakeRoom(Shard& shard, int64_t now_ns) {
  if (shard.last_sweep_ns == INT64_MIN || now_ns - shard.last_sweep_ns >= kSweepIntervalNs) {
    shard.last_sweep_ns = now_ns;
    double full_after_s = burst_ / rate_per_second_;
    auto idle = static_cast<int64_t>(full_after_s * 1e9);
    std::erase_if(shard.buckets,
                  [&](const auto& kv) { return now_ns - kv.second.last_ns >= idle; });
  }
  if (shard.buckets.size() >= per_shard_max_) shard.buckets.erase(shard.buckets.begin());
}

uint32_t RateLimiter::Acquire(const boost::asio::ip::address& client,
                              std::chrono::steady_clock::time_point now) {
  if (rate_per_second_ <= 0) return 0;
  int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  Key key = KeyOf(client);
  Shard& shard = (*shards_)[KeyHash{}(key) % kShards];
  std::lock_guard lock(shard.mu);
  auto it = shard.buckets.find(key);
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() >= per_shard_max_) MakeRoom(shard, now_ns);
    it = shard.buckets.emplace(key, Bucket{burst_, now_ns}).first;
  }
  Bucket& b = it->second;
  if (now_ns > b.last_ns) {
    b.tokens = std::min(
        burst_, b.tokens + static_cast<double>(now_ns - b.last_ns) * 1e-9 * rate_per_second_);
    b.last_ns = now_ns;
  }
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  double wait_s = (1 - b.tokens) / rate_per_second_;
  return static_cast<uint32_t>(std::clamp(std::ceil(wait_s), 1.0, 86'400.0));
}

size_t RateLimiter::tracked() const {
  size_t n = 0;
  for (const Shard& shard : *shards_) {
    std::lock_guard lock(shard.mu);
    n += shard.buckets.size();
  }
  return n;
}

}  // namespace hallmark::node
