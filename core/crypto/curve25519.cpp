#include "core/crypto/curve25519.h"

#include <openssl/bn.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/status.h"

namespace hallmark::core::curve25519 {
namespace {

__extension__ typedef unsigned __int128 u128;  // GCC and Clang; -Wpedantic-clean.
constexpr uint64_t kMask51 = (uint64_t{1} << 51) - 1;

// ---------------------------------------------------------------------------------------------
// GF(2^255 - 19). Every operation returns limbs below 2^51 + 2^15, which keeps the products in
// FeMul below 2^103 and their sums of five (one term times 19 folded in) below 2^110.

Fe FeFromU64(uint64_t x) {
  return Fe{{x & kMask51, x >> 51, 0, 0, 0}};
}

// Carries each limb's bits above 51 into the next and returns what leaves the top limb.
[[gnu::always_inline]] inline uint64_t FeCarryUp(Fe* a) {
  uint64_t c = 0;
  for (int i = 0; i < 5; ++i) {
    a->v[i] += c;
    c = a->v[i] >> 51;
    a->v[i] &= kMask51;
  }
  return c;
}

// Propagates carries once around; the result's limbs are below 2^51 + 19 * 2^13.
[[gnu::always_inline]] inline Fe FeCarry(Fe a) {
  a.v[0] += 19 * FeCarryUp(&a);  // 2^255 = 19 (mod p)
  return a;
}

[[gnu::always_inline]] inline Fe FeAdd(const Fe& a, const Fe& b) {
  Fe r;
  for (int i = 0; i < 5; ++i) r.v[i] = a.v[i] + b.v[i];
  return FeCarry(r);
}

// a - b + 4p, so no limb goes negative for inputs below 2^53 - 76.
[[gnu::always_inline]] inline Fe FeSub(const Fe& a, const Fe& b) {
  Fe r;
  r.v[0] = a.v[0] + ((uint64_t{1} << 53) - 76) - b.v[0];
  for (int i = 1; i < 5; ++i) r.v[i] = a.v[i] + ((uint64_t{1} << 53) - 4) - b.v[i];
  return FeCarry(r);
}

Fe FeNeg(const Fe& a) {
  return FeSub(Fe{{0, 0, 0, 0, 0}}, a);
}

// Reduces the five 128-bit column sums of a product.
[[gnu::always_inline]] inline Fe FeReduceWide(u128 r0, u128 r1, u128 r2, u128 r3, u128 r4) {
  Fe out;
  r1 += static_cast<uint64_t>(r0 >> 51);
  out.v[0] = static_cast<uint64_t>(r0) & kMask51;
  r2 += static_cast<uint64_t>(r1 >> 51);
  out.v[1] = static_cast<uint64_t>(r1) & kMask51;
  r3 += static_cast<uint64_t>(r2 >> 51);
  out.v[2] = static_cast<uint64_t>(r2) & kMask51;
  r4 += static_cast<uint64_t>(r3 >> 51);
  out.v[3] = static_cast<uint64_t>(r3) & kMask51;
  const uint64_t c = static_cast<uint64_t>(r4 >> 51);  // Below 2^60.
  out.v[4] = static_cast<uint64_t>(r4) & kMask51;
  out.v[0] += 19 * c;
  out.v[1] += out.v[0] >> 51;
  out.v[0] &= kMask51;
  return out;
}

[[gnu::always_inline]] inline Fe FeMul(const Fe& a, const Fe& b) {
  const uint64_t b1_19 = 19 * b.v[1], b2_19 = 19 * b.v[2], b3_19 = 19 * b.v[3], b4_19 = 19 * b.v[4];
  const u128 r0 = u128(a.v[0]) * b.v[0] + u128(a.v[1]) * b4_19 + u128(a.v[2]) * b3_19 +
                  u128(a.v[3]) * b2_19 + u128(a.v[4]) * b1_19;
  const u128 r1 = u128(a.v[0]) * b.v[1] + u128(a.v[1]) * b.v[0] + u128(a.v[2]) * b4_19 +
                  u128(a.v[3]) * b3_19 + u128(a.v[4]) * b2_19;
  const u128 r2 = u128(a.v[0]) * b.v[2] + u128(a.v[1]) * b.v[1] + u128(a.v[2]) * b.v[0] +
                  u128(a.v[3]) * b4_19 + u128(a.v[4]) * b3_19;
  const u128 r3 = u128(a.v[0]) * b.v[3] + u128(a.v[1]) * b.v[2] + u128(a.v[2]) * b.v[1] +
                  u128(a.v[3]) * b.v[0] + u128(a.v[4]) * b4_19;
  const u128 r4 = u128(a.v[0]) * b.v[4] + u128(a.v[1]) * b.v[3] + u128(a.v[2]) * b.v[2] +
                  u128(a.v[3]) * b.v[1] + u128(a.v[4]) * b.v[0];
  return FeReduceWide(r0, r1, r2, r3, r4);
}

[[gnu::always_inline]] inline Fe FeSq(const Fe& a) {
  const uint64_t d0 = 2 * a.v[0], d1 = 2 * a.v[1];
  const uint64_t a3_19 = 19 * a.v[3], a4_19 = 19 * a.v[4];
  const uint64_t a3_38 = 2 * a3_19, a4_38 = 2 * a4_19;
  const u128 r0 = u128(a.v[0]) * a.v[0] + u128(a.v[1]) * a4_38 + u128(a.v[2]) * a3_38;
  const u128 r1 = u128(d0) * a.v[1] + u128(a.v[2]) * a4_38 + u128(a.v[3]) * a3_19;
  const u128 r2 = u128(d0) * a.v[2] + u128(a.v[1]) * a.v[1] + u128(a.v[3]) * a4_38;
  const u128 r3 = u128(d0) * a.v[3] + u128(d1) * a.v[2] + u128(a.v[4]) * a4_19;
  const u128 r4 = u128(d0) * a.v[4] + u128(d1) * a.v[3] + u128(a.v[2]) * a.v[2];
  return FeReduceWide(r0, r1, r2, r3, r4);
}

Fe FeSqN(Fe a, int n) {
  for (int i = 0; i < n; ++i) a = FeSq(a);
  return a;
}

// The canonical 32-byte little-endian encoding, fully reduced below p.
void FeToBytes(const Fe& in, uint8_t out[32]) {
  Fe h = FeCarry(FeCarry(in));  // Now below 2^255 + a little: limbs < 2^51 except limb 0.
  h = FeCarry(h);
  // q = 1 exactly when h >= p, i.e. h + 19 >= 2^255.
  uint64_t q = (h.v[0] + 19) >> 51;
  q = (h.v[1] + q) >> 51;
  q = (h.v[2] + q) >> 51;
  q = (h.v[3] + q) >> 51;
  q = (h.v[4] + q) >> 51;
  h.v[0] += 19 * q;
  FeCarryUp(&h);  // Drops the 2^255 of h + 19 - 2^255 = h - p.
  const uint64_t w0 = h.v[0] | (h.v[1] << 51);
  const uint64_t w1 = (h.v[1] >> 13) | (h.v[2] << 38);
  const uint64_t w2 = (h.v[2] >> 26) | (h.v[3] << 25);
  const uint64_t w3 = (h.v[3] >> 39) | (h.v[4] << 12);
  const uint64_t w[4] = {w0, w1, w2, w3};
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 8; ++j) out[8 * i + j] = static_cast<uint8_t>(w[i] >> (8 * j));
  }
}

uint64_t Load64(const uint8_t* p) {
  uint64_t x = 0;
  for (int i = 7; i >= 0; --i) x = (x << 8) | p[i];
  return x;
}

// The low 255 bits of 32 little-endian bytes.
Fe FeFromBytes(const uint8_t in[32]) {
  const uint64_t w0 = Load64(in), w1 = Load64(in + 8), w2 = Load64(in + 16),
                 w3 = Load64(in + 24) & ((uint64_t{1} << 63) - 1);
  Fe r;
  r.v[0] = w0 & kMask51;
  r.v[1] = ((w0 >> 51) | (w1 << 13)) & kMask51;
  r.v[2] = ((w1 >> 38) | (w2 << 26)) & kMask51;
  r.v[3] = ((w2 >> 25) | (w3 << 39)) & kMask51;
  r.v[4] = w3 >> 12;
  return r;
}

bool FeEqual(const Fe& a, const Fe& b) {
  uint8_t x[32], y[32];
  FeToBytes(a, x);
  FeToBytes(b, y);
  return std::memcmp(x, y, 32) == 0;
}

bool FeIsZero(const Fe& a) {
  uint8_t x[32];
  FeToBytes(a, x);
  return std::all_of(x, x + 32, [](uint8_t b) { return b == 0; });
}

bool FeIsNegative(const Fe& a) {
  uint8_t x[32];
  FeToBytes(a, x);
  return (x[0] & 1) != 0;
}

// z^(2^250 - 1), and z^11 on the side: the common start of inversion and square roots.
Fe FePow2250m1(const Fe& z, Fe* z11) {
  const Fe z2 = FeSq(z);
  const Fe z9 = FeMul(FeSqN(z2, 2), z);
  *z11 = FeMul(z9, z2);
  const Fe z5_0 = FeMul(FeSq(*z11), z9);  // z^(2^5 - 1)
  const Fe z10_0 = FeMul(FeSqN(z5_0, 5), z5_0);
  const Fe z20_0 = FeMul(FeSqN(z10_0, 10), z10_0);
  const Fe z40_0 = FeMul(FeSqN(z20_0, 20), z20_0);
  const Fe z50_0 = FeMul(FeSqN(z40_0, 10), z10_0);
  const Fe z100_0 = FeMul(FeSqN(z50_0, 50), z50_0);
  const Fe z200_0 = FeMul(FeSqN(z100_0, 100), z100_0);
  return FeMul(FeSqN(z200_0, 50), z50_0);
}

// z^(p - 2) = z^(2^255 - 21) = 1/z (0 for 0).
Fe FeInvert(const Fe& z) {
  Fe z11;
  const Fe t = FePow2250m1(z, &z11);
  return FeMul(FeSqN(t, 5), z11);
}

// z^((p - 5) / 8) = z^(2^252 - 3).
Fe FePow22523(const Fe& z) {
  Fe z11;
  const Fe t = FePow2250m1(z, &z11);
  return FeMul(FeSqN(t, 2), z);
}

// z^e for a 256-bit little-endian exponent; for constants only.
Fe FePow(const Fe& z, const uint8_t e[32]) {
  Fe r = FeFromU64(1);
  for (int bit = 255; bit >= 0; --bit) {
    r = FeSq(r);
    if ((e[bit / 8] >> (bit % 8)) & 1) r = FeMul(r, z);
  }
  return r;
}

struct Constants {
  Fe d;       // -121665 / 121666
  Fe d2;      // 2d
  Fe sqrtm1;  // 2^((p - 1) / 4), a square root of -1
  Point base;
};

const Constants& K() {
  static const Constants k = [] {
    Constants c;
    c.d = FeMul(FeNeg(FeFromU64(121665)), FeInvert(FeFromU64(121666)));
    c.d2 = FeAdd(c.d, c.d);
    uint8_t e[32];  // (p - 1) / 4 = 2^253 - 5
    std::memset(e, 0xff, sizeof e);
    e[0] = 0xfb;
    e[31] = 0x1f;
    c.sqrtm1 = FePow(FeFromU64(2), e);
    return c;
  }();
  return k;
}

// ---------------------------------------------------------------------------------------------
// Points

// (Y + X, Y - X, 2Z, 2dT): a point prepared for additions.
struct Cached {
  Fe y_plus_x, y_minus_x, z2, t2d;
};

Cached ToCached(const Point& p) {
  return Cached{FeAdd(p.Y, p.X), FeSub(p.Y, p.X), FeAdd(p.Z, p.Z), FeMul(p.T, K().d2)};
}

// p + q, or p - q when `subtract` (the negation of q swaps Y + X with Y - X and negates T).
Point AddCached(const Point& p, const Cached& q, bool subtract) {
  const Fe a = FeMul(FeSub(p.Y, p.X), subtract ? q.y_plus_x : q.y_minus_x);
  const Fe b = FeMul(FeAdd(p.Y, p.X), subtract ? q.y_minus_x : q.y_plus_x);
  const Fe c = FeMul(p.T, q.t2d);
  const Fe d = FeMul(p.Z, q.z2);
  const Fe e = FeSub(b, a);
  const Fe f = subtract ? FeAdd(d, c) : FeSub(d, c);
  const Fe g = subtract ? FeSub(d, c) : FeAdd(d, c);
  const Fe h = FeAdd(b, a);
  return Point{FeMul(e, f), FeMul(g, h), FeMul(f, g), FeMul(e, h)};
}

// Bits [pos, pos + w) of a 256-bit scalar (zero beyond bit 255). REQUIRES: w <= 32.
uint32_t ScalarBits(const Scalar& s, int pos, int w) {
  if (pos >= 256) return 0;
  const int word = pos / 64, off = pos % 64;
  u128 x = s.w[word] >> off;
  if (off + w > 64 && word + 1 < 4) x |= u128(s.w[word + 1]) << (64 - off);
  return static_cast<uint32_t>(x & ((uint64_t{1} << w) - 1));
}

int BitLength(const Scalar& s) {
  for (int i = 3; i >= 0; --i) {
    if (s.w[i] != 0) return 64 * i + 64 - __builtin_clzll(s.w[i]);
  }
  return 0;
}

}  // namespace

bool Decompress(const uint8_t encoding[32], Point* out) {
  const Constants& k = K();
  const Fe y = FeFromBytes(encoding);
  const bool sign = (encoding[31] >> 7) != 0;
  const Fe one = FeFromU64(1);
  const Fe y2 = FeSq(y);
  const Fe u = FeSub(y2, one);              // y^2 - 1
  const Fe v = FeAdd(FeMul(k.d, y2), one);  // d y^2 + 1
  const Fe v3 = FeMul(FeSq(v), v);
  const Fe v7 = FeMul(FeSq(v3), v);
  Fe x = FeMul(FeMul(u, v3), FePow22523(FeMul(u, v7)));  // RFC 8032 §5.1.3 step 2
  const Fe vx2 = FeMul(v, FeSq(x));
  if (!FeEqual(vx2, u)) {
    if (!FeEqual(vx2, FeNeg(u))) return false;  // x^2 = u / v has no root: not on the curve.
    x = FeMul(x, k.sqrtm1);
  }
  if (FeIsZero(x) && sign) return false;
  if (FeIsNegative(x) != sign) x = FeNeg(x);
  *out = Point{x, y, one, FeMul(x, y)};
  return true;
}

void Compress(const Point& p, uint8_t out[32]) {
  const Fe zinv = FeInvert(p.Z);
  const Fe x = FeMul(p.X, zinv);
  const Fe y = FeMul(p.Y, zinv);
  FeToBytes(y, out);
  if (FeIsNegative(x)) out[31] |= 0x80;
}

const Point& BasePoint() {
  static const Point base = [] {
    // y = 4/5, x even (RFC 8032 §5.1).
    uint8_t enc[32];
    FeToBytes(FeMul(FeFromU64(4), FeInvert(FeFromU64(5))), enc);
    Point b;
    HM_ASSERT(Decompress(enc, &b));
    return b;
  }();
  return base;
}

Point Identity() {
  return Point{FeFromU64(0), FeFromU64(1), FeFromU64(1), FeFromU64(0)};
}

Point Negate(const Point& p) {
  return Point{FeNeg(p.X), p.Y, p.Z, FeNeg(p.T)};
}

Point Add(const Point& p, const Point& q) {
  return AddCached(p, ToCached(q), false);
}

Point Double(const Point& p) {
  const Fe a = FeSq(p.X);
  const Fe b = FeSq(p.Y);
  const Fe c = FeAdd(FeSq(p.Z), FeSq(p.Z));
  const Fe h = FeAdd(a, b);
  const Fe e = FeSub(h, FeSq(FeAdd(p.X, p.Y)));
  const Fe g = FeSub(a, b);
  const Fe f = FeAdd(c, g);
  return Point{FeMul(e, f), FeMul(g, h), FeMul(f, g), FeMul(e, h)};
}

bool IsIdentity(const Point& p) {
  return FeIsZero(p.X) && FeEqual(p.Y, p.Z);
}

Point MultiScalarMul(std::span<const Point> points, std::span<const Scalar> scalars) {
  HM_ASSERT(points.size() == scalars.size());
  const size_t n = points.size();
  if (n == 0) return Identity();
  std::vector<int> bits(n);
  int max_bits = 0;
  for (size_t i = 0; i < n; ++i) {
    HM_ASSERT_MSG(scalars[i].w[3] >> 63 == 0, "scalar above 2^255");
    bits[i] = BitLength(scalars[i]);
    max_bits = std::max(max_bits, bits[i]);
  }
  if (max_bits == 0) return Identity();

  // The window: each window costs one addition per point with a digit in it and two per bucket
  // (the running sums); pick the cheapest for these scalars' lengths.
  // longer[b]: how many scalars are longer than b bits.
  std::vector<size_t> of_length(257, 0), longer(257, 0);
  for (size_t i = 0; i < n; ++i) ++of_length[bits[i]];
  for (int b = 255; b >= 0; --b) longer[b] = longer[b + 1] + of_length[b + 1];
  int w = 1;
  uint64_t best = UINT64_MAX;
  for (int c = 1; c <= 12; ++c) {
    const int windows = (max_bits + 1 + c - 1) / c;
    uint64_t cost = 0;
    for (int j = 0; j < windows; ++j) {
      const size_t in = longer[std::min(j * c, 256)];
      cost += in + (uint64_t{2} << (c - 1)) + static_cast<uint64_t>(c);
    }
    if (cost < best) {
      best = cost;
      w = c;
    }
  }
  const int windows = (max_bits + 1 + w - 1) / w;
  const int half = 1 << (w - 1);

  // Signed digits in (-2^(w-1), 2^(w-1)]: a digit above half borrows from the next window. The
  // top window holds fewer than w bits of the scalar, so it never borrows.
  std::vector<int16_t> digits(n * windows);
  for (size_t i = 0; i < n; ++i) {
    int carry = 0;
    for (int j = 0; j < windows; ++j) {
      int d = static_cast<int>(ScalarBits(scalars[i], j * w, w)) + carry;
      carry = 0;
      if (d > half) {
        d -= 1 << w;
        carry = 1;
      }
      digits[i * windows + j] = static_cast<int16_t>(d);
    }
    HM_ASSERT(carry == 0);
  }

  std::vector<Cached> cached(n);
  for (size_t i = 0; i < n; ++i) cached[i] = ToCached(points[i]);

  std::vector<Point> buckets(half);
  std::vector<uint8_t> used(half);
  Point acc = Identity();
  bool acc_set = false;
  for (int j = windows - 1; j >= 0; --j) {
    if (acc_set) {
      for (int k = 0; k < w; ++k) acc = Double(acc);
    }
    std::fill(used.begin(), used.end(), 0);
    for (size_t i = 0; i < n; ++i) {
      const int d = digits[i * windows + j];
      if (d == 0) continue;
      const int b = (d > 0 ? d : -d) - 1;
      if (used[b]) {
        buckets[b] = AddCached(buckets[b], cached[i], d < 0);
      } else {
        buckets[b] = d > 0 ? points[i] : Negate(points[i]);
        used[b] = 1;
      }
    }
    // sum_b (b + 1) * bucket[b], as running sums from the top bucket down.
    Point sum, total;
    bool sum_set = false, total_set = false;
    for (int b = half - 1; b >= 0; --b) {
      if (used[b]) {
        sum = sum_set ? Add(sum, buckets[b]) : buckets[b];
        sum_set = true;
      }
      if (sum_set) {
        total = total_set ? Add(total, sum) : sum;
        total_set = true;
      }
    }
    if (total_set) {
      acc = acc_set ? Add(acc, total) : total;
      acc_set = true;
    }
  }
  return acc;
}

// ---------------------------------------------------------------------------------------------
// Scalars mod L

namespace {

// L = 2^252 + 27742317777372353535851937790883648493 (RFC 8032 §5.1), little-endian words.
constexpr Scalar kL = {{0x5812631a5cf5d3edULL, 0x14def9dea2f79cd6ULL, 0, 0x1000000000000000ULL}};

struct BnScratch {
  BnScratch() : ctx(BN_CTX_new()), x(BN_new()), r(BN_new()), l(BN_new()) {
    HM_ASSERT(ctx && x && r && l);
    uint8_t bytes[32];
    ScalarToBytes(kL, bytes);
    HM_ASSERT(BN_lebin2bn(bytes, 32, l) != nullptr);
  }
  ~BnScratch() {
    BN_free(x);
    BN_free(r);
    BN_free(l);
    BN_CTX_free(ctx);
  }
  BN_CTX* ctx;
  BIGNUM *x, *r, *l;
};

BnScratch& Scratch() {
  thread_local BnScratch scratch;
  return scratch;
}

}  // namespace

Scalar ScalarFromBytes(const uint8_t bytes[32]) {
  return Scalar{{Load64(bytes), Load64(bytes + 8), Load64(bytes + 16), Load64(bytes + 24)}};
}

void ScalarToBytes(const Scalar& s, uint8_t out[32]) {
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 8; ++j) out[8 * i + j] = static_cast<uint8_t>(s.w[i] >> (8 * j));
  }
}

Scalar ReduceModL(const uint8_t bytes[64]) {
  BnScratch& s = Scratch();
  HM_ASSERT(BN_lebin2bn(bytes, 64, s.x) != nullptr);
  HM_ASSERT(BN_nnmod(s.r, s.x, s.l, s.ctx) == 1);
  uint8_t out[32];
  HM_ASSERT(BN_bn2lebinpad(s.r, out, 32) == 32);
  return ScalarFromBytes(out);
}

Scalar NegateModL(const Scalar& s) {
  if ((s.w[0] | s.w[1] | s.w[2] | s.w[3]) == 0) return s;
  Scalar r;
  uint64_t borrow = 0;
  for (int i = 0; i < 4; ++i) {
    const u128 d = u128(kL.w[i]) - s.w[i] - borrow;
    r.w[i] = static_cast<uint64_t>(d);
    borrow = static_cast<uint64_t>(d >> 64) & 1;
  }
  HM_ASSERT_MSG(borrow == 0, "NegateModL of a scalar not below L");
  return r;
}

void ScalarSum::AddProduct(const uint64_t z[2], const Scalar& s) {
  for (int i = 0; i < 2; ++i) {
    u128 carry = 0;
    for (int j = 0; j < 4; ++j) {
      const u128 t = u128(z[i]) * s.w[j] + acc_[i + j] + carry;
      acc_[i + j] = static_cast<uint64_t>(t);
      carry = t >> 64;
    }
    for (int k = i + 4; k < 8 && carry != 0; ++k) {
      const u128 t = u128(acc_[k]) + carry;
      acc_[k] = static_cast<uint64_t>(t);
      carry = t >> 64;
    }
  }
}

Scalar ScalarSum::ModL() const {
  uint8_t bytes[64];
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 8; ++j) bytes[8 * i + j] = static_cast<uint8_t>(acc_[i] >> (8 * j));
  }
  return ReduceModL(bytes);
}

}  // namespace hallmark::core::curve25519
