// The edwards25519 arithmetic of core/crypto/curve25519 and batch verification
// (VerifySignatures): checked against Crypto++ (key derivation, verdicts), against a naive
// double-and-add, and against the one-by-one policy on valid, corrupted and edge-case inputs.

#include <doctest/doctest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/crypto/curve25519.h"
#include "core/crypto/ed25519.h"

using namespace hallmark::core;
namespace c25519 = hallmark::core::curve25519;

namespace {

Bytes Hex(const std::string& hex) {
  std::optional<Bytes> b = FromHex(hex);
  REQUIRE_MESSAGE(b.has_value(), "bad hex in test: " << hex);
  return *b;
}

std::string Encode(const c25519::Point& p) {
  uint8_t out[32];
  c25519::Compress(p, out);
  return ToHex(ByteSpan(out, 32));
}

// [s]P by plain double-and-add over the bits of s, most significant first.
c25519::Point NaiveMul(const c25519::Point& p, const c25519::Scalar& s) {
  c25519::Point r = c25519::Identity();
  for (int bit = 255; bit >= 0; --bit) {
    r = c25519::Double(r);
    if ((s.w[bit / 64] >> (bit % 64)) & 1) r = c25519::Add(r, p);
  }
  return r;
}

c25519::Scalar RandomScalar(std::mt19937_64& rng, int bits) {
  c25519::Scalar s{{rng(), rng(), rng(), rng()}};
  for (int i = 0; i < 4; ++i) {
    const int keep = std::clamp(bits - 64 * i, 0, 64);
    s.w[i] = keep == 64 ? s.w[i] : (keep == 0 ? 0 : s.w[i] & ((uint64_t{1} << keep) - 1));
  }
  return s;
}

// L, little-endian words.
constexpr c25519::Scalar kL = {
    {0x5812631a5cf5d3edULL, 0x14def9dea2f79cd6ULL, 0, 0x1000000000000000ULL}};

struct Signed {
  Bytes key, message, signature;
};

std::vector<Signed> MakeSignatures(size_t n, size_t keys, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<SigningKey> signers;
  for (size_t k = 0; k < keys; ++k) signers.push_back(SigningKey::Generate());
  std::vector<Signed> out;
  for (size_t i = 0; i < n; ++i) {
    const SigningKey& key = signers[i % keys];
    Bytes msg(rng() % 300);
    for (auto& b : msg) b = static_cast<uint8_t>(rng());
    const Signature sig = key.Sign(msg);
    out.push_back(Signed{Bytes(key.public_key().bytes.begin(), key.public_key().bytes.end()), msg,
                         Bytes(sig.bytes.begin(), sig.bytes.end())});
  }
  return out;
}

std::vector<SignatureToCheck> Items(const std::vector<Signed>& s) {
  std::vector<SignatureToCheck> items;
  for (const Signed& x : s) items.push_back({x.key, x.message, x.signature});
  return items;
}

// VerifySignatures must give VerifySignature's verdict on every item.
void CheckBatchMatchesSingles(const std::vector<Signed>& s) {
  const std::vector<SigVerdict> batch = VerifySignatures(Items(s));
  REQUIRE(batch.size() == s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    CAPTURE(i);
    CHECK(SigVerdictName(batch[i]) ==
          SigVerdictName(VerifySignature(s[i].key, s[i].message, s[i].signature)));
  }
}

}  // namespace

TEST_CASE("curve25519: the base point encodes as RFC 8032 gives it, and [L]B is the identity") {
  CHECK(Encode(c25519::BasePoint()) ==
        "5866666666666666666666666666666666666666666666666666666666666666");
  const c25519::Point b = c25519::BasePoint();
  const c25519::Scalar l = kL;
  CHECK(c25519::IsIdentity(c25519::MultiScalarMul(std::span(&b, 1), std::span(&l, 1))));
  CHECK(c25519::IsIdentity(NaiveMul(b, kL)));
  CHECK_FALSE(c25519::IsIdentity(b));
  CHECK(c25519::IsIdentity(c25519::Add(b, c25519::Negate(b))));
}

TEST_CASE("curve25519: [a]B equals the public key Crypto++ derives from the seed") {
  for (int i = 0; i < 20; ++i) {
    const SigningKey key = SigningKey::Generate();
    // RFC 8032 §5.1.5: a = the first half of SHA-512(seed), clamped.
    uint8_t h[64];
    unsigned len = 0;
    REQUIRE(EVP_Digest(key.seed().data(), key.seed().size(), h, &len, EVP_sha512(), nullptr) == 1);
    h[0] &= 248;
    h[31] &= 127;
    h[31] |= 64;
    const c25519::Scalar a = c25519::ScalarFromBytes(h);
    const c25519::Point b = c25519::BasePoint();
    const c25519::Point pub = c25519::MultiScalarMul(std::span(&b, 1), std::span(&a, 1));
    CHECK(Encode(pub) == key.public_key().Hex());
    c25519::Point back;
    REQUIRE(c25519::Decompress(key.public_key().bytes.data(), &back));
    CHECK(Encode(back) == key.public_key().Hex());
  }
}

TEST_CASE("curve25519: decompress refuses a y with no x, and keeps the sign") {
  // y = 2: (y^2 - 1) / (d y^2 + 1) is not a square (checked: Crypto++ refuses it as a key too).
  uint8_t enc[32] = {2};
  c25519::Point p;
  bool any_refused = false;
  for (uint8_t y = 2; y < 40; ++y) {
    enc[0] = y;
    if (!c25519::Decompress(enc, &p)) {
      any_refused = true;
      continue;
    }
    CHECK(Encode(p) == ToHex(ByteSpan(enc, 32)));
    enc[31] |= 0x80;
    REQUIRE(c25519::Decompress(enc, &p));
    CHECK(Encode(p) == ToHex(ByteSpan(enc, 32)));
    enc[31] &= 0x7f;
  }
  CHECK(any_refused);
  // y = 1 is the identity (x = 0): "-0" does not decode.
  uint8_t one[32] = {1};
  REQUIRE(c25519::Decompress(one, &p));
  CHECK(c25519::IsIdentity(p));
  one[31] = 0x80;
  CHECK_FALSE(c25519::Decompress(one, &p));
}

TEST_CASE("curve25519: a small-order point times 8 is the identity, a mixed-order one is not") {
  // An order-8 point (speccheck vector 0's key) and a mixed-order key (vector 3's).
  const Bytes small = Hex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa");
  const Bytes mixed = Hex("cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d");
  c25519::Point p;
  REQUIRE(c25519::Decompress(small.data(), &p));
  c25519::Point q = p;
  for (int i = 0; i < 2; ++i) q = c25519::Double(q);
  CHECK_FALSE(c25519::IsIdentity(q));  // [4]P != 0: order 8 exactly
  CHECK(c25519::IsIdentity(c25519::Double(q)));
  REQUIRE(c25519::Decompress(mixed.data(), &p));
  CHECK_FALSE(c25519::IsIdentity(c25519::Double(c25519::Double(c25519::Double(p)))));
  CHECK_FALSE(c25519::IsIdentity(NaiveMul(p, kL)));  // has a torsion component
}

TEST_CASE("curve25519: multi-scalar multiplication equals the sum of double-and-adds") {
  std::mt19937_64 rng(20261206);
  const c25519::Point b = c25519::BasePoint();
  for (size_t n : {1u, 2u, 3u, 7u, 33u, 150u}) {
    for (int bits : {1, 5, 128, 253, 255}) {
      CAPTURE(n);
      CAPTURE(bits);
      std::vector<c25519::Point> points;
      std::vector<c25519::Scalar> scalars;
      c25519::Point expected = c25519::Identity();
      for (size_t i = 0; i < n; ++i) {
        // Points [r]B + (a small-order point for some): the arithmetic must not care.
        const c25519::Scalar r = RandomScalar(rng, 64);
        c25519::Point p = NaiveMul(b, r);
        if (i % 3 == 1) p = c25519::Negate(p);
        // Mix the lengths: one scalar in four is short, one is zero.
        c25519::Scalar s = RandomScalar(rng, i % 4 == 0 ? 7 : bits);
        if (i % 5 == 4) s = c25519::Scalar{{0, 0, 0, 0}};
        if (bits == 255 && i == 0) s = c25519::Scalar{{~0ULL, ~0ULL, ~0ULL, ~0ULL >> 1}};
        points.push_back(p);
        scalars.push_back(s);
        expected = c25519::Add(expected, NaiveMul(p, s));
      }
      CHECK(Encode(c25519::MultiScalarMul(points, scalars)) == Encode(expected));
    }
  }
}

TEST_CASE("curve25519: scalars reduce modulo L") {
  uint8_t wide[64] = {};
  c25519::ScalarToBytes(kL, wide);
  c25519::Scalar r = c25519::ReduceModL(wide);
  CHECK((r.w[0] | r.w[1] | r.w[2] | r.w[3]) == 0);
  wide[0] += 5;  // L + 5 (L's low byte is 0xed: no carry)
  r = c25519::ReduceModL(wide);
  CHECK(r.w[0] == 5);
  CHECK((r.w[1] | r.w[2] | r.w[3]) == 0);
  c25519::Scalar neg = c25519::NegateModL(c25519::Scalar{{1, 0, 0, 0}});
  CHECK(neg.w[0] == kL.w[0] - 1);
  // sum z_i s_i mod L, checked as a point: [sum]B = sum [z_i]([s_i]B).
  std::mt19937_64 rng(7);
  c25519::ScalarSum sum;
  const c25519::Point b = c25519::BasePoint();
  c25519::Point expected = c25519::Identity();
  for (int i = 0; i < 50; ++i) {
    const uint64_t z[2] = {rng(), rng()};
    const c25519::Scalar s = RandomScalar(rng, 252);
    sum.AddProduct(z, s);
    expected = c25519::Add(expected, NaiveMul(NaiveMul(b, s), c25519::Scalar{{z[0], z[1], 0, 0}}));
  }
  const c25519::Scalar total = sum.ModL();
  CHECK(Encode(NaiveMul(b, total)) == Encode(expected));
}

TEST_CASE("ed25519 batch: valid signatures from few and from many keys all verify") {
  for (size_t keys : {1u, 3u, 64u}) {
    for (size_t n : {0u, 1u, 3u, 4u, 5u, 64u, 300u}) {
      CAPTURE(keys);
      CAPTURE(n);
      const auto sigs = MakeSignatures(n, std::min(keys, std::max<size_t>(n, 1)), n * 31 + keys);
      BatchVerifyStats stats;
      const auto verdicts = VerifySignatures(Items(sigs), &stats);
      REQUIRE(verdicts.size() == n);
      for (SigVerdict v : verdicts) CHECK(v == SigVerdict::kValid);
      // From 4 on, the combination alone decides: nothing is checked twice.
      CHECK(stats.combined == (n >= 4 ? n : 0));
      CHECK(stats.alone == (n >= 4 ? 0 : n));
    }
  }
}

TEST_CASE("ed25519 batch: one bad signature among many is found, and only it") {
  auto sigs = MakeSignatures(200, 5, 1);
  for (size_t bad : {0u, 99u, 199u}) {
    for (int what = 0; what < 4; ++what) {
      CAPTURE(bad);
      CAPTURE(what);
      auto copy = sigs;
      Signed& s = copy[bad];
      switch (what) {
        case 0:  // another message
          s.message.push_back(1);
          break;
        case 1:  // another S (still below L)
          s.signature[32] ^= 1;
          break;
        case 2:  // another key of the batch
          s.key = copy[(bad + 1) % copy.size()].key;
          break;
        case 3:  // R that is not a point
          for (uint8_t y = 2;; ++y) {
            uint8_t enc[32] = {y};
            c25519::Point p;
            if (!c25519::Decompress(enc, &p)) {
              std::memcpy(s.signature.data(), enc, 32);
              break;
            }
          }
          break;
      }
      const auto verdicts = VerifySignatures(Items(copy));
      for (size_t i = 0; i < copy.size(); ++i) {
        CAPTURE(i);
        CHECK(verdicts[i] == (i == bad ? SigVerdict::kBadSignature : SigVerdict::kValid));
      }
    }
  }
}

TEST_CASE("ed25519 batch: random corruptions get exactly the one-by-one verdicts") {
  std::mt19937_64 rng(99);
  for (int round = 0; round < 20; ++round) {
    auto sigs = MakeSignatures(40, 4, round);
    for (Signed& s : sigs) {
      switch (rng() % 8) {
        case 0:
          s.signature[rng() % 64] ^= static_cast<uint8_t>(1u << (rng() % 8));
          break;
        case 1:
          s.key[rng() % 32] ^= static_cast<uint8_t>(1u << (rng() % 8));
          break;
        case 2:
          if (!s.message.empty()) s.message[rng() % s.message.size()] ^= 0x80;
          break;
        case 3:
          s.signature.resize(rng() % 64);
          break;
        default:
          break;  // left valid
      }
    }
    CheckBatchMatchesSingles(sigs);
  }
}

TEST_CASE("ed25519 batch: mixed-order points verify under the cofactored equation, alone or not") {
  // Speccheck vectors 3, 4 and 5 ("Taming the many EdDSAs"; tests/fixtures): mixed-order A (and
  // R for 3 and 4). 4 and 5 hold only with the cofactor, which the policy now uses.
  const std::vector<Signed> edge = {
      {Hex("cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d"),
       Hex("9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79"),
       Hex("9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f87909e14428a7a1d62e9f2"
           "2f3d3ad7802db02eb2e688b6c52fcd6648a98bd009")},
      {Hex("cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d"),
       Hex("e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c"),
       Hex("160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed5125ec6bc982a269b723e0668"
           "e540911a9a6a58921d6925e434ab10aa7940551a09")},
      {Hex("cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d"),
       Hex("e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c"),
       Hex("21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7e40bc836dac0f71076f9ab"
           "e3a53f9c03c1ceeeddb658d0030494ace586687405")},
  };
  for (const Signed& s : edge) {
    CHECK(VerifySignature(s.key, s.message, s.signature) == SigVerdict::kValid);
  }
  auto mixed = MakeSignatures(20, 2, 5);
  mixed.insert(mixed.begin() + 7, edge.begin(), edge.end());
  BatchVerifyStats stats;
  for (SigVerdict v : VerifySignatures(Items(mixed), &stats)) CHECK(v == SigVerdict::kValid);
  CHECK(stats.combined == mixed.size());
  CHECK(stats.alone == 0);
  // The same with a changed message: refused alone and in the batch.
  mixed[8].message[0] ^= 1;
  CheckBatchMatchesSingles(mixed);
  CHECK(VerifySignatures(Items(mixed))[8] == SigVerdict::kBadSignature);
}

TEST_CASE("ed25519 batch: a key that is not a point fails each of its signatures") {
  auto sigs = MakeSignatures(12, 3, 8);
  Bytes not_a_point(32, 0);
  for (uint8_t y = 2;; ++y) {
    not_a_point[0] = y;
    c25519::Point p;
    if (!c25519::Decompress(not_a_point.data(), &p)) break;
  }
  for (size_t i = 0; i < sigs.size(); i += 3) sigs[i].key = not_a_point;
  const auto verdicts = VerifySignatures(Items(sigs));
  for (size_t i = 0; i < sigs.size(); ++i) {
    CAPTURE(i);
    CHECK(verdicts[i] == (i % 3 == 0 ? SigVerdict::kBadSignature : SigVerdict::kValid));
  }
  CheckBatchMatchesSingles(sigs);
}
