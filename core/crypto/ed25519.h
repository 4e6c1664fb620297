#pragma once

// Ed25519 keys, signing and verification (RFC 8032, PureEdDSA), computed by Crypto++.
//
// ACCEPTANCE POLICY. Every node must reach the same verdict on the same bytes, and RFC 8032
// leaves room for libraries to disagree, so Hallmark fixes its own rules. VerifySignature() is
// the only function that decides; it applies these checks in this order and reports the first
// that fails (docs/signatures.md says the same in prose):
//
//   1. Lengths: the public key A is 32 bytes, the signature R || S is 64 bytes.
//      -> kBadLength
//   2. S, read as a 256-bit little-endian integer, is less than the group order
//      L = 2^252 + 27742317777372353535851937790883648493. Crypto++ 8.7 accepts S + L, so this
//      check is ours. -> kNonCanonicalS
//   3. A is a canonical point encoding: its y (the low 255 bits) is less than p = 2^255 - 19,
//      and the sign bit is clear when x = 0 (y = 1 or y = p - 1), since "-0" is not an encoding
//      an honest encoder produces. -> kNonCanonicalKey
//   4. A is not one of the 8 points of small order (order 1, 2, 4 or 8). Such a key verifies
//      signatures it never made. Non-canonical encodings of these points already failed at 3.
//      -> kSmallOrderKey
//   5. R is a canonical point encoding (same rule as 3). -> kNonCanonicalR
//   6. R is not a point of small order (same set as 4). An honest signer never produces one
//      (R = [r]B has order L), and rejecting it costs nothing, so we do. -> kSmallOrderR
//   7. The cofactored equation [8][S]B = [8]R + [8][k]A, k = SHA-512(R || A || M) mod L,
//      holds. An A or R that is not a point on the curve fails here. -> kBadSignature
//      (Until 2026-12 this was the cofactorless [S]B = R + [k]A. Every signature that passed
//      that passes this; the two differ only on mixed-order A or R, which no honest signer
//      makes. Only the cofactored equation can be checked in batches with the same verdicts.)
//
// With these rules only a signature a holder of A's secret could have produced verifies, and a
// signature has exactly one accepted encoding (no malleability through S + L or re-encoded
// points). Of the 12 vectors of "Taming the many EdDSAs" (Chalkias, Garillot, Nikolaenko,
// 2020), vectors 3, 4 and 5 verify (mixed-order points, cofactored equation).
//
// How: Crypto++'s ed25519Verifier checks the cofactorless equation, which implies the
// cofactored one; only when it fails does core/crypto/curve25519 check the cofactored one.
// VerifySignatures checks many at once (random linear combination, docs/signatures.md).

#include <array>
#include <compare>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"

namespace hallmark::core {

inline constexpr size_t kEd25519PublicKeySize = 32;
inline constexpr size_t kEd25519SignatureSize = 64;
inline constexpr size_t kEd25519SeedSize = 32;

// An Ed25519 public key: 32 bytes as they travel. Holding one says nothing about its validity;
// VerifySignature applies the acceptance policy. Value type; thread-compatible.
struct PublicKey {
  std::array<uint8_t, kEd25519PublicKeySize> bytes{};

  ByteSpan span() const { return ByteSpan(bytes.data(), bytes.size()); }
  std::string Hex() const;
  // Exactly 64 hex digits.
  static Result<PublicKey> FromHex(std::string_view hex);
  // Exactly 32 bytes.
  static Result<PublicKey> FromBytes(ByteSpan data);

  auto operator<=>(const PublicKey&) const = default;
  bool operator==(const PublicKey&) const = default;
};

// An Ed25519 signature R || S: 64 bytes. Value type; thread-compatible.
struct Signature {
  std::array<uint8_t, kEd25519SignatureSize> bytes{};

  ByteSpan span() const { return ByteSpan(bytes.data(), bytes.size()); }
  std::string Hex() const;
  // Exactly 128 hex digits.
  static Result<Signature> FromHex(std::string_view hex);
  // Exactly 64 bytes.
  static Result<Signature> FromBytes(ByteSpan data);

  bool operator==(const Signature&) const = default;
};

// An Ed25519 secret key: the 32-byte seed of RFC 8032 §5.1.5 and its public key. Signing is
// deterministic. The seed is wiped from memory when the key is destroyed. Move-only, so that
// copies of the secret do not spread by accident.
// Thread-compatible: a key may be shared between threads only with external synchronisation.
class SigningKey {
 public:
  // A new key from the system CSPRNG.
  static SigningKey Generate();
  // REQUIRES nothing: an input of the wrong length is an error, not a crash.
  static Result<SigningKey> FromSeed(ByteSpan seed);

  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;
  ~SigningKey();

  // REQUIRES: *this was not moved from (likewise for the other accessors).
  const PublicKey& public_key() const;
  Signature Sign(ByteSpan message) const;
  Signature Sign(std::string_view message) const { return Sign(AsSpan(message)); }
  // The 32-byte secret seed, for the keystore. Valid while *this lives.
  ByteSpan seed() const;

 private:
  struct Impl;
  explicit SigningKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The outcome of verifying a signature; see the policy above for the order of checks.
enum class SigVerdict {
  kValid,
  kBadLength,
  kNonCanonicalS,
  kNonCanonicalKey,
  kSmallOrderKey,
  kNonCanonicalR,
  kSmallOrderR,
  kBadSignature,
};

// THE acceptance policy. Every signature check in Hallmark goes through this function.
// Thread-safe: may be called from many threads at once.
SigVerdict VerifySignature(ByteSpan public_key, ByteSpan message, ByteSpan signature);
inline SigVerdict VerifySignature(const PublicKey& public_key, ByteSpan message,
                                  const Signature& signature) {
  return VerifySignature(public_key.span(), message, signature.span());
}

// One signature of a batch. The spans must stay valid during the call.
struct SignatureToCheck {
  ByteSpan public_key;
  ByteSpan message;
  ByteSpan signature;
};

// The policy's verdict on each signature, exactly as VerifySignature would give it, computed
// together: one multi-scalar multiplication checks a random linear combination of the
// equations (3-4x faster a signature than one by one for batches of 64 to 1,000), and only
// when that fails is each signature checked alone. A false "all valid" has probability below
// 2^-120 per call, from coefficients drawn from the system CSPRNG. Thread-safe.
struct BatchVerifyStats {
  size_t combined = 0;  // Signatures in the linear combination.
  size_t alone = 0;     // Signatures checked one by one (small batch, or the combination failed).
};
std::vector<SigVerdict> VerifySignatures(std::span<const SignatureToCheck> items,
                                         BatchVerifyStats* stats = nullptr);

// A sentence a user can read, e.g. "the signature does not match the key and message".
std::string_view SigVerdictMessage(SigVerdict verdict);
// A short stable name for logs and metrics, e.g. "small_order_key".
std::string_view SigVerdictName(SigVerdict verdict);

// Individual policy predicates, exposed for tests and for rejecting keys early (e.g. in a
// genesis file). REQUIRES: encoding.size() == 32 (else they return false).
bool IsCanonicalPointEncoding(ByteSpan encoding);
// True when a canonical encoding names one of the 8 points of small order.
bool IsSmallOrderPointEncoding(ByteSpan encoding);
// True when the 32-byte little-endian scalar is less than L.
bool IsCanonicalScalar(ByteSpan scalar);

// For the benchmark and cross-checks in tests only: OpenSSL 3's EVP Ed25519 verification of
// the same inputs, with OpenSSL's own (different, looser) acceptance rules. Never use it to
// accept a signature. Thread-safe.
bool OpenSslVerifyForBenchmark(ByteSpan public_key, ByteSpan message, ByteSpan signature);

}  // namespace hallmark::core
