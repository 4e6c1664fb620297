// Micro benchmarks for core/crypto: Ed25519 sign and verify (Hallmark's policy over Crypto++,
// next to OpenSSL's EVP verification of the same inputs) and SHA-256 of small inputs.
// Items per second are signatures (or hashes) per second.

#include <benchmark/benchmark.h>

#include <array>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/crypto/ed25519.h"
#include "core/crypto/sha256.h"

namespace {

using hallmark::core::Bytes;
using hallmark::core::ByteSpan;
using hallmark::core::Signature;
using hallmark::core::SigningKey;
using hallmark::core::SigVerdict;

// A fixed key and a 200-byte message, about the size of a signed record payload.
struct Fixture {
  Fixture() : key(std::move(SigningKey::FromSeed(Seed()).value())), message(200, 0x5a) {
    signature = key.Sign(message);
  }
  static std::array<uint8_t, 32> Seed() {
    std::array<uint8_t, 32> seed;
    seed.fill(0x42);
    return seed;
  }
  SigningKey key;
  Bytes message;
  Signature signature;
};

const Fixture& GetFixture() {
  static const Fixture* fixture = new Fixture();
  return *fixture;
}

void BM_Ed25519VerifyCryptopp(benchmark::State& state) {
  const Fixture& f = GetFixture();
  for (auto _ : state) {
    SigVerdict v = hallmark::core::VerifySignature(f.key.public_key(), f.message, f.signature);
    benchmark::DoNotOptimize(v);
  }
  if (hallmark::core::VerifySignature(f.key.public_key(), f.message, f.signature) !=
      SigVerdict::kValid) {
    state.SkipWithError("signature did not verify");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Ed25519VerifyCryptopp);

void BM_Ed25519VerifyOpenSsl(benchmark::State& state) {
  const Fixture& f = GetFixture();
  for (auto _ : state) {
    bool ok = hallmark::core::OpenSslVerifyForBenchmark(f.key.public_key().span(), f.message,
                                                        f.signature.span());
    benchmark::DoNotOptimize(ok);
  }
  if (!hallmark::core::OpenSslVerifyForBenchmark(f.key.public_key().span(), f.message,
                                                 f.signature.span())) {
    state.SkipWithError("OpenSSL did not verify the signature");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Ed25519VerifyOpenSsl);

// VerifySignatures on a batch of N valid 200-byte records' signatures, from `keys` keys (one
// key per brand in the common case; one per holder for transfers). Items are signatures.
void BM_Ed25519VerifyBatch(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const size_t keys = static_cast<size_t>(state.range(1));
  std::vector<SigningKey> signers;
  for (size_t k = 0; k < keys; ++k) signers.push_back(SigningKey::Generate());
  std::vector<Bytes> messages;
  std::vector<Signature> sigs;
  for (size_t i = 0; i < n; ++i) {
    Bytes m(200, 0x5a);
    m[0] = static_cast<uint8_t>(i);
    m[1] = static_cast<uint8_t>(i >> 8);
    sigs.push_back(signers[i % keys].Sign(m));
    messages.push_back(std::move(m));
  }
  std::vector<hallmark::core::SignatureToCheck> items;
  for (size_t i = 0; i < n; ++i) {
    items.push_back({signers[i % keys].public_key().span(), messages[i], sigs[i].span()});
  }
  for (auto _ : state) {
    auto v = hallmark::core::VerifySignatures(items);
    benchmark::DoNotOptimize(v);
  }
  for (SigVerdict v : hallmark::core::VerifySignatures(items)) {
    if (v != SigVerdict::kValid) state.SkipWithError("a signature did not verify");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
}
BENCHMARK(BM_Ed25519VerifyBatch)
    ->Args({4, 1})
    ->Args({16, 1})
    ->Args({64, 4})
    ->Args({256, 4})
    ->Args({1000, 4})
    ->Args({1000, 1000});

// The policy checks that run before the curve arithmetic, on a signature they reject (S >= L):
// what a flood of malformed signatures costs.
void BM_Ed25519RejectNonCanonicalS(benchmark::State& state) {
  const Fixture& f = GetFixture();
  Signature bad = f.signature;
  for (size_t i = 32; i < 64; ++i) bad.bytes[i] = 0xff;
  for (auto _ : state) {
    SigVerdict v = hallmark::core::VerifySignature(f.key.public_key(), f.message, bad);
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Ed25519RejectNonCanonicalS);

void BM_Ed25519Sign(benchmark::State& state) {
  const Fixture& f = GetFixture();
  for (auto _ : state) {
    Signature sig = f.key.Sign(f.message);
    benchmark::DoNotOptimize(sig);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Ed25519Sign);

void BM_Ed25519KeyFromSeed(benchmark::State& state) {
  const auto seed = Fixture::Seed();
  for (auto _ : state) {
    auto key = SigningKey::FromSeed(seed);
    benchmark::DoNotOptimize(key);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Ed25519KeyFromSeed);

void BM_Sha256(benchmark::State& state) {
  const Bytes data(static_cast<size_t>(state.range(0)), 0xa5);
  for (auto _ : state) {
    auto h = hallmark::core::Sha256Of(ByteSpan(data));
    benchmark::DoNotOptimize(h);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Sha256)->Arg(64)->Arg(256);

}  // namespace
