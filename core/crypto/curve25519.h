#pragma once

// The edwards25519 group, for Ed25519 verification that Crypto++ does not offer: the cofactored
// equation and batches (docs/signatures.md, "Batches"). Internal to core/crypto; everything
// else verifies through VerifySignature / VerifySignatures (ed25519.h).
//
// Arithmetic follows the definitions of RFC 8032 §5.1: the field GF(p), p = 2^255 - 19, in five
// 51-bit limbs; points in extended coordinates (X : Y : Z : T) with x = X/Z, y = Y/Z, xy = T/Z
// on -x^2 + y^2 = 1 + d x^2 y^2 (Hisil, Wong, Carter, Dawson, "Twisted Edwards curves
// revisited", 2008, the a = -1 formulas); multi-scalar multiplication by Pippenger's bucket
// method with signed digits. Variable time: it handles public values only (keys, signatures,
// messages, and the verifier's own random coefficients, which reveal nothing if they leak
// except the means to forge against that one batch, already finished).

#include <cstdint>
#include <span>

namespace hallmark::core::curve25519 {

// An element of GF(p): value = v[0] + v[1] 2^51 + ... + v[4] 2^204, limbs a little above 2^51
// allowed between operations.
struct Fe {
  uint64_t v[5];
};

// A point in extended coordinates.
struct Point {
  Fe X, Y, Z, T;
};

// A 256-bit unsigned integer, little-endian 64-bit words.
struct Scalar {
  uint64_t w[4];
};

// Decodes a 32-byte point encoding (RFC 8032 §5.1.3). False when no point has this y and sign.
// A y >= p is read modulo p; the acceptance policy refuses such encodings before they get here.
bool Decompress(const uint8_t encoding[32], Point* out);
// The canonical encoding of `p`.
void Compress(const Point& p, uint8_t out[32]);

const Point& BasePoint();
Point Identity();
Point Negate(const Point& p);
Point Add(const Point& p, const Point& q);
Point Double(const Point& p);
bool IsIdentity(const Point& p);

// sum(scalars[i] * points[i]). REQUIRES: equal lengths; every scalar below 2^255.
Point MultiScalarMul(std::span<const Point> points, std::span<const Scalar> scalars);

// Scalars modulo the group order L.
Scalar ScalarFromBytes(const uint8_t bytes[32]);  // Read as is, no reduction.
void ScalarToBytes(const Scalar& s, uint8_t out[32]);
Scalar ReduceModL(const uint8_t bytes[64]);  // A 512-bit little-endian integer mod L.
Scalar NegateModL(const Scalar& s);          // REQUIRES: s < L.

// A 512-bit accumulator of products (a 128-bit factor times a 256-bit one), reduced mod L at
// the end; exact for up to 2^128 terms.
class ScalarSum {
 public:
  void AddProduct(const uint64_t z[2], const Scalar& s);
  Scalar ModL() const;

 private:
  uint64_t acc_[8] = {};
};

}  // namespace hallmark::core::curve25519
