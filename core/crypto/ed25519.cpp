#include "core/crypto/ed25519.h"

#include <crypto++/cryptlib.h>
#include <crypto++/xed25519.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>

#include "core/crypto/curve25519.h"
#include "core/crypto/random.h"

namespace hallmark::core {
namespace {

// The group order L = 2^252 + 27742317777372353535851937790883648493 (RFC 8032 §5.1),
// little-endian.
constexpr std::array<uint8_t, 32> kGroupOrderL = {
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};

// The y coordinates (sign bit clear) of the 8 points of small order, as canonical encodings:
//   y = 1      the identity (order 1)
//   y = p - 1  (0, -1), order 2
//   y = 0      (±sqrt(-1), 0), order 4 (both signs of x)
//   y = y8, p - y8  the four points of order 8 (both signs of x each)
// y8 is the y of a point P whose double is (±sqrt(-1), 0). The values below are the ones
// libsodium's small-order blocklist and the C2SP CCTV Ed25519 vectors list; we checked
// [8]P = identity for all eight points with an independent big-integer computation.
constexpr std::array<std::array<uint8_t, 32>, 5> kSmallOrderY = {{
    {0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
     0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
     0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
    {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
     0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
     0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
}};

// The low 255 bits of an encoding, i.e. y with the sign bit of x cleared.
std::array<uint8_t, 32> YOf(const uint8_t* encoding) {
  std::array<uint8_t, 32> y;
  std::memcpy(y.data(), encoding, 32);
  y[31] &= 0x7f;
  return y;
}

bool IsCanonicalPoint(const uint8_t* encoding) {
  const std::array<uint8_t, 32> y = YOf(encoding);
  const bool sign = (encoding[31] & 0x80) != 0;
  // Bytes 1..30 decide most cases: y >= p needs them all 0xff.
  const bool middle_all_ff =
      std::all_of(y.begin() + 1, y.begin() + 31, [](uint8_t b) { return b == 0xff; });
  const bool middle_all_00 =
      std::all_of(y.begin() + 1, y.begin() + 31, [](uint8_t b) { return b == 0x00; });
  // y >= p = 2^255 - 19: top byte 0x7f, middle all 0xff, low byte >= 0xed.
  if (y[31] == 0x7f && middle_all_ff && y[0] >= 0xed) return false;
  if (sign) {
    // x = 0 exactly when y = 1 or y = p - 1; "-0" is not canonical.
    const bool y_is_one = y[31] == 0x00 && middle_all_00 && y[0] == 0x01;
    const bool y_is_minus_one = y[31] == 0x7f && middle_all_ff && y[0] == 0xec;
    if (y_is_one || y_is_minus_one) return false;
  }
  return true;
}

// REQUIRES: IsCanonicalPoint(encoding).
bool IsSmallOrderPoint(const uint8_t* encoding) {
  const std::array<uint8_t, 32> y = YOf(encoding);
  return std::any_of(kSmallOrderY.begin(), kSmallOrderY.end(),
                     [&](const std::array<uint8_t, 32>& s) { return s == y; });
}

bool IsScalarBelowL(const uint8_t* s) {
  for (int i = 31; i >= 0; --i) {
    if (s[i] < kGroupOrderL[i]) return true;
    if (s[i] > kGroupOrderL[i]) return false;
  }
  return false;  // Equal to L.
}

// The cofactorless equation, computed by Crypto++. Building the verifier costs about 0.2 us
// (measured) against about 60 us for the verification itself, so we build one per call rather
// than cache them: no shared state, nothing to lock.
bool CryptoppVerify(const uint8_t* public_key, ByteSpan message, const uint8_t* signature) {
  try {
    const CryptoPP::ed25519Verifier verifier(public_key);
    return verifier.VerifyMessage(message.data(), message.size(), signature, kEd25519SignatureSize);
  } catch (const CryptoPP::Exception&) {
    return false;
  }
}

// k = SHA-512(R || A || M) mod L (RFC 8032 §5.1.7).
curve25519::Scalar ChallengeScalar(const uint8_t* r, const uint8_t* a, ByteSpan message) {
  struct Ctx {
    Ctx() : md(EVP_MD_CTX_new()) { HM_ASSERT(md != nullptr); }
    ~Ctx() { EVP_MD_CTX_free(md); }
    EVP_MD_CTX* md;
  };
  thread_local Ctx ctx;
  uint8_t h[64];
  unsigned int len = 0;
  HM_ASSERT(EVP_DigestInit_ex(ctx.md, EVP_sha512(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx.md, r, 32) == 1 && EVP_DigestUpdate(ctx.md, a, 32) == 1 &&
            EVP_DigestUpdate(ctx.md, message.data(), message.size()) == 1 &&
            EVP_DigestFinal_ex(ctx.md, h, &len) == 1 && len == 64);
  return curve25519::ReduceModL(h);
}

// The cofactored equation [8]([S]B - R - [k]A) = 0, with our own arithmetic. A or R that does
// not decode to a point fails. REQUIRES: S < L (check 2).
bool CofactoredEquation(const uint8_t* a, ByteSpan message, const uint8_t* sig) {
  namespace c = curve25519;
  c::Point pa, pr;
  if (!c::Decompress(a, &pa) || !c::Decompress(sig, &pr)) return false;
  const c::Point points[3] = {c::BasePoint(), c::Negate(pa), c::Negate(pr)};
  const c::Scalar scalars[3] = {c::ScalarFromBytes(sig + 32), ChallengeScalar(sig, a, message),
                                c::Scalar{{1, 0, 0, 0}}};
  const c::Point e = c::MultiScalarMul(points, scalars);
  return c::IsIdentity(c::Double(c::Double(c::Double(e))));
}

// Checks 2 to 6 of the policy; nullopt when they pass. REQUIRES: the lengths were checked.
std::optional<SigVerdict> EncodingChecks(const uint8_t* a, const uint8_t* sig) {
  if (!IsScalarBelowL(sig + 32)) return SigVerdict::kNonCanonicalS;
  if (!IsCanonicalPoint(a)) return SigVerdict::kNonCanonicalKey;
  if (IsSmallOrderPoint(a)) return SigVerdict::kSmallOrderKey;
  if (!IsCanonicalPoint(sig)) return SigVerdict::kNonCanonicalR;
  if (IsSmallOrderPoint(sig)) return SigVerdict::kSmallOrderR;
  return std::nullopt;
}

// Check 7. The cofactorless equation implies the cofactored one, and Crypto++ checks it
// fastest; only a signature it refuses (a bad one, or a mixed-order one) costs a second check.
SigVerdict EquationCheck(const uint8_t* a, ByteSpan message, const uint8_t* sig) {
  if (CryptoppVerify(a, message, sig) || CofactoredEquation(a, message, sig)) {
    return SigVerdict::kValid;
  }
  return SigVerdict::kBadSignature;
}

// Below this many signatures a batch is checked one by one: the multi-scalar multiplication
// has a fixed cost of a few hundred point additions (bench/crypto_bench.cpp measures both).
constexpr size_t kMinBatch = 4;

}  // namespace

// ---------------------------------------------------------------------------------------------
// PublicKey, Signature

std::string PublicKey::Hex() const {
  return ToHex(span());
}

Result<PublicKey> PublicKey::FromBytes(ByteSpan data) {
  if (data.size() != kEd25519PublicKeySize) {
    return Status::InvalidInput("an Ed25519 public key is 32 bytes, got " +
                                std::to_string(data.size()));
  }
  PublicKey key;
  std::copy(data.begin(), data.end(), key.bytes.begin());
  return key;
}

Result<PublicKey> PublicKey::FromHex(std::string_view hex) {
  if (hex.size() != 2 * kEd25519PublicKeySize) {
    return Status::InvalidInput("an Ed25519 public key is 64 hex digits, got " +
                                std::to_string(hex.size()) + " characters");
  }
  std::optional<Bytes> bytes = core::FromHex(hex);
  if (!bytes) return Status::InvalidInput("public key is not valid hex");
  return FromBytes(*bytes);
}

std::string Signature::Hex() const {
  return ToHex(span());
}

Result<Signature> Signature::FromBytes(ByteSpan data) {
  if (data.size() != kEd25519SignatureSize) {
    return Status::InvalidInput("an Ed25519 signature is 64 bytes, got " +
                                std::to_string(data.size()));
  }
  Signature sig;
  std::copy(data.begin(), data.end(), sig.bytes.begin());
  return sig;
}

Result<Signature> Signature::FromHex(std::string_view hex) {
  if (hex.size() != 2 * kEd25519SignatureSize) {
    return Status::InvalidInput("an Ed25519 signature is 128 hex digits, got " +
                                std::to_string(hex.size()) + " characters");
  }
  std::optional<Bytes> bytes = core::FromHex(hex);
  if (!bytes) return Status::InvalidInput("signature is not valid hex");
  return FromBytes(*bytes);
}

// ---------------------------------------------------------------------------------------------
// SigningKey

struct SigningKey::Impl {
  explicit Impl(const uint8_t* seed_bytes) : signer(seed_bytes) {
    std::memcpy(seed.data(), seed_bytes, seed.size());
    const auto& key = static_cast<const CryptoPP::ed25519PrivateKey&>(signer.GetPrivateKey());
    std::memcpy(public_key.bytes.data(), key.GetPublicKeyBytePtr(), kEd25519PublicKeySize);
  }
  ~Impl() { OPENSSL_cleanse(seed.data(), seed.size()); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  std::array<uint8_t, kEd25519SeedSize> seed{};
  // Crypto++ keeps its copy of the seed in a SecBlock, which wipes itself.
  CryptoPP::ed25519Signer signer;
  PublicKey public_key;
};

SigningKey::SigningKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SigningKey::SigningKey(SigningKey&&) noexcept = default;
SigningKey& SigningKey::operator=(SigningKey&&) noexcept = default;
SigningKey::~SigningKey() = default;

SigningKey SigningKey::Generate() {
  std::array<uint8_t, kEd25519SeedSize> seed;
  RandomBytes(seed);
  SigningKey key(std::make_unique<Impl>(seed.data()));
  OPENSSL_cleanse(seed.data(), seed.size());
  return key;
}

Result<SigningKey> SigningKey::FromSeed(ByteSpan seed) {
  if (seed.size() != kEd25519SeedSize) {
    return Status::InvalidInput("an Ed25519 seed is 32 bytes, got " + std::to_string(seed.size()));
  }
  return SigningKey(std::make_unique<Impl>(seed.data()));
}

const PublicKey& SigningKey::public_key() const {
  HM_ASSERT_MSG(impl_ != nullptr, "SigningKey used after move");
  return impl_->public_key;
}

ByteSpan SigningKey::seed() const {
  HM_ASSERT_MSG(impl_ != nullptr, "SigningKey used after move");
  return ByteSpan(impl_->seed.data(), impl_->seed.size());
}

Signature SigningKey::Sign(ByteSpan message) const {
  HM_ASSERT_MSG(impl_ != nullptr, "SigningKey used after move");
  Signature sig;
  // Ed25519 signing is deterministic, so Crypto++ asks for no randomness.
  const size_t n = impl_->signer.SignMessage(CryptoPP::NullRNG(), message.data(), message.size(),
                                             sig.bytes.data());
  HM_ASSERT(n == kEd25519SignatureSize);
  return sig;
}

// ---------------------------------------------------------------------------------------------
// The acceptance policy

bool IsCanonicalPointEncoding(ByteSpan encoding) {
  return encoding.size() == 32 && IsCanonicalPoint(encoding.data());
}

bool IsSmallOrderPointEncoding(ByteSpan encoding) {
  return IsCanonicalPointEncoding(encoding) && IsSmallOrderPoint(encoding.data());
}

bool IsCanonicalScalar(ByteSpan scalar) {
  return scalar.size() == 32 && IsScalarBelowL(scalar.data());
}

SigVerdict VerifySignature(ByteSpan public_key, ByteSpan message, ByteSpan signature) {
  if (public_key.size() != kEd25519PublicKeySize || signature.size() != kEd25519SignatureSize) {
    return SigVerdict::kBadLength;
  }
  if (auto v = EncodingChecks(public_key.data(), signature.data())) return *v;
  return EquationCheck(public_key.data(), message, signature.data());
}

std::vector<SigVerdict> VerifySignatures(std::span<const SignatureToCheck> items,
                                         BatchVerifyStats* stats) {
  namespace c = curve25519;
  std::vector<SigVerdict> verdicts(items.size(), SigVerdict::kValid);
  std::vector<size_t> pending;
  pending.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const SignatureToCheck& it = items[i];
    if (it.public_key.size() != kEd25519PublicKeySize ||
        it.signature.size() != kEd25519SignatureSize) {
      verdicts[i] = SigVerdict::kBadLength;
    } else if (auto v = EncodingChecks(it.public_key.data(), it.signature.data())) {
      verdicts[i] = *v;
    } else {
      pending.push_back(i);
    }
  }
  BatchVerifyStats local;
  BatchVerifyStats& st = stats ? *stats : local;
  auto one_by_one = [&](std::span<const size_t> which) {
    st.alone += which.size();
    for (size_t i : which) {
      verdicts[i] =
          EquationCheck(items[i].public_key.data(), items[i].message, items[i].signature.data());
    }
  };
  if (pending.size() < kMinBatch) {
    one_by_one(pending);
    return verdicts;
  }

  // sum_i z_i ([8](R_i + [k_i]A_i - [S_i]B)) = 0 for random 128-bit z_i: the terms of one key
  // share a point, and B takes -sum z_i S_i. A point that does not decode fails its signature
  // alone (as the single check would), and is left out of the batch.
  std::vector<c::Point> points;
  std::vector<c::ScalarSum> sums;  // sums[0] for B, then one per distinct key.
  std::vector<size_t> batch;       // The items in the combination.
  std::map<std::array<uint8_t, 32>, size_t> key_index;
  points.reserve(2 * pending.size() + 1);
  points.push_back(c::BasePoint());
  sums.emplace_back();
  std::vector<uint64_t> z(2 * pending.size());
  RandomBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(z.data()), z.size() * 8));
  std::vector<c::Point> r_points;
  std::vector<c::Scalar> r_scalars;
  r_points.reserve(pending.size());
  r_scalars.reserve(pending.size());
  for (size_t n = 0; n < pending.size(); ++n) {
    const size_t i = pending[n];
    const uint8_t* a = items[i].public_key.data();
    const uint8_t* sig = items[i].signature.data();
    std::array<uint8_t, 32> key;
    std::memcpy(key.data(), a, 32);
    auto [it, inserted] = key_index.try_emplace(key, points.size());
    if (inserted) {
      c::Point pa;
      if (!c::Decompress(a, &pa)) {
        it->second = SIZE_MAX;  // Not a point: every signature under it fails.
      } else {
        points.push_back(pa);
        sums.emplace_back();
      }
    }
    c::Point pr;
    if (it->second == SIZE_MAX || !c::Decompress(sig, &pr)) {
      verdicts[i] = SigVerdict::kBadSignature;
      continue;
    }
    const uint64_t* zi = &z[2 * n];
    sums[0].AddProduct(zi, c::ScalarFromBytes(sig + 32));
    sums[it->second].AddProduct(zi, ChallengeScalar(sig, a, items[i].message));
    r_points.push_back(pr);
    r_scalars.push_back(c::Scalar{{zi[0], zi[1], 0, 0}});
    batch.push_back(i);
  }
  std::vector<c::Scalar> scalars;
  scalars.reserve(points.size() + r_points.size());
  scalars.push_back(c::NegateModL(sums[0].ModL()));
  for (size_t k = 1; k < sums.size(); ++k) scalars.push_back(sums[k].ModL());
  points.insert(points.end(), r_points.begin(), r_points.end());
  scalars.insert(scalars.end(), r_scalars.begin(), r_scalars.end());
  const c::Point e = c::MultiScalarMul(points, scalars);
  st.combined += batch.size();
  if (!c::IsIdentity(c::Double(c::Double(c::Double(e))))) {
    one_by_one(batch);  // At least one is bad: find which.
  }
  return verdicts;
}

std::string_view SigVerdictMessage(SigVerdict verdict) {
  switch (verdict) {
    case SigVerdict::kValid:
      return "the signature is valid";
    case SigVerdict::kBadLength:
      return "the public key must be 32 bytes and the signature 64 bytes";
    case SigVerdict::kNonCanonicalS:
      return "the signature's scalar S is not reduced below the group order (S >= L)";
    case SigVerdict::kNonCanonicalKey:
      return "the public key is not a canonical point encoding";
    case SigVerdict::kSmallOrderKey:
      return "the public key is a point of small order, which no honest key generator produces";
    case SigVerdict::kNonCanonicalR:
      return "the signature's point R is not a canonical point encoding";
    case SigVerdict::kSmallOrderR:
      return "the signature's point R has small order, which no honest signer produces";
    case SigVerdict::kBadSignature:
      return "the signature does not match the public key and message";
  }
  HM_ASSERT_MSG(false, "unknown SigVerdict");
  return {};
}

std::string_view SigVerdictName(SigVerdict verdict) {
  switch (verdict) {
    case SigVerdict::kValid:
      return "valid";
    case SigVerdict::kBadLength:
      return "bad_length";
    case SigVerdict::kNonCanonicalS:
      return "non_canonical_s";
    case SigVerdict::kNonCanonicalKey:
      return "non_canonical_key";
    case SigVerdict::kSmallOrderKey:
      return "small_order_key";
    case SigVerdict::kNonCanonicalR:
      return "non_canonical_r";
    case SigVerdict::kSmallOrderR:
      return "small_order_r";
    case SigVerdict::kBadSignature:
      return "bad_signature";
  }
  HM_ASSERT_MSG(false, "unknown SigVerdict");
  return {};
}

// ---------------------------------------------------------------------------------------------
// OpenSSL, for comparison only

bool OpenSslVerifyForBenchmark(ByteSpan public_key, ByteSpan message, ByteSpan signature) {
  if (public_key.size() != kEd25519PublicKeySize || signature.size() != kEd25519SignatureSize) {
    return false;
  }
  EVP_PKEY* pkey =
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(), public_key.size());
  if (pkey == nullptr) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pkey) == 1 &&
            EVP_DigestVerify(ctx, signature.data(), signature.size(), message.data(),
                             message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pkey);
  return ok;
}

}  // namespace hallmark::core
