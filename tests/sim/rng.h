#pragma once

#include <cstdint>
#include <random>

namespace hallmark::sim {

// The simulator's only source of randomness. std::mt19937_64 is specified bit for bit by the
// standard; its distributions are not, so the ones we need are written here.
// Thread-compatible.
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(Mix(seed)) {}

  uint64_t Next() { return engine_(); }
  // Uniform in [0, n). REQUIRES: n > 0. Rejection sampling keeps it exactly uniform.
  uint64_t Below(uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
      x = engine_();
    } while (x >= limit);
    return x % n;
  }
  // Uniform in [lo, hi].
  uint64_t Between(uint64_t lo, uint64_t hi) { return lo + Below(hi - lo + 1); }
  // True with probability ppm / 1,000,000.
  bool Chance(uint64_t ppm) { return ppm > 0 && Below(1'000'000) < ppm; }

  // SplitMix64: spreads consecutive seeds over the generator's state.
  static uint64_t Mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace hallmark::sim
