#include "core/crypto/keystore.h"

#include <google/protobuf/util/json_util.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <array>
#include <cstring>
#include <memory>

#include "core/crypto/random.h"
#include "core/crypto/secret_file.h"
#include "core/json.h"

namespace hallmark::core {
namespace {

constexpr size_t kSaltSizeMin = 16;
constexpr size_t kSaltSizeMax = 64;
constexpr size_t kAesKeySize = 32;
// Associated data authenticated by AES-GCM: this prefix, the version (4 bytes, big-endian) and
// the 32-byte public key. Editing the public key or version in the file breaks the tag.
constexpr std::string_view kAadPrefix = "hallmark-keystore";

constexpr std::string_view kWrongPassphrase = "wrong passphrase or corrupted keystore";

// Wipes a buffer of secrets when it goes out of scope.
template <size_t N>
struct SecretArray {
  std::array<uint8_t, N> bytes{};
  SecretArray() = default;
  SecretArray(const SecretArray&) = delete;
  SecretArray& operator=(const SecretArray&) = delete;
  ~SecretArray() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
  uint8_t* data() { return bytes.data(); }
  const uint8_t* data() const { return bytes.data(); }
  static constexpr size_t size() { return N; }
};

// Wipes a string that held secrets (the JSON of a development key, a plain seed).
void WipeString(std::string* s) {
  if (!s->empty()) OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
struct KdfDeleter {
  void operator()(EVP_KDF* k) const { EVP_KDF_free(k); }
};
struct KdfCtxDeleter {
  void operator()(EVP_KDF_CTX* c) const { EVP_KDF_CTX_free(c); }
};

Status CheckCost(uint64_t n, uint32_t r, uint32_t p) {
  if (n < 2 || n > kScryptNMax || (n & (n - 1)) != 0) {
    return Status::InvalidInput("scrypt N must be a power of two between 2 and " +
                                std::to_string(kScryptNMax) + ", got " + std::to_string(n));
  }
  if (r < 1 || r > kScryptRMax) {
    return Status::InvalidInput("scrypt r must be between 1 and " + std::to_string(kScryptRMax) +
                                ", got " + std::to_string(r));
  }
  if (p < 1 || p > kScryptPMax) {
    return Status::InvalidInput("scrypt p must be between 1 and " + std::to_string(kScryptPMax) +
                                ", got " + std::to_string(p));
  }
  // Bounded above by 2^20 * 32 * 128 + ..., so no overflow in 64 bits.
  const uint64_t memory_bytes = 128 * uint64_t{r} * (n + p);
  if (memory_bytes > kScryptMemoryBytesMax) {
    return Status::InvalidInput("scrypt parameters need " + std::to_string(memory_bytes >> 20) +
                                " MiB, more than the limit of " +
                                std::to_string(kScryptMemoryBytesMax >> 20) + " MiB");
  }
  return Status::Ok();
}

// The AES key: scrypt(passphrase, salt, N, r, p), 32 bytes (RFC 7914).
Status DeriveKey(std::string_view passphrase, const std::string& salt, uint64_t n, uint32_t r,
                 uint32_t p, SecretArray<kAesKeySize>* key) {
  HM_RETURN_IF_ERROR(CheckCost(n, r, p));
  std::unique_ptr<EVP_KDF, KdfDeleter> kdf(EVP_KDF_fetch(nullptr, "SCRYPT", nullptr));
  if (!kdf) return Status::Internal("OpenSSL has no SCRYPT KDF");
  std::unique_ptr<EVP_KDF_CTX, KdfCtxDeleter> ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) return Status::Internal("cannot create a SCRYPT context");
  uint64_t maxmem = kScryptMemoryBytesMax + (uint64_t{1} << 20);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
                                        const_cast<char*>(passphrase.data()), passphrase.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_KDF_derive(ctx.get(), key->data(), key->size(), params) != 1) {
    return Status::Internal("scrypt key derivation failed");
  }
  return Status::Ok();
}

std::string AssociatedData(uint32_t version, const PublicKey& public_key) {
  std::string aad(kAadPrefix);
  PutBigEndian32(&aad, version);
  aad.append(AsView(public_key.span()));
  return aad;
}

// AES-256-GCM encryption of the seed; fills nonce, ciphertext and tag.
Status EncryptSeed(const SecretArray<kAesKeySize>& key, ByteSpan seed, std::string_view aad,
                   pb::Keystore* out) {
  std::array<uint8_t, kKeystoreNonceSize> nonce;
  RandomBytes(nonce);
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter> ctx(EVP_CIPHER_CTX_new());
  std::array<uint8_t, kEd25519SeedSize> ciphertext{};
  std::array<uint8_t, kKeystoreTagSize> tag{};
  int len = 0;
  const bool ok =
      ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kKeystoreNonceSize, nullptr) == 1 &&
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce.data()) == 1 &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const uint8_t*>(aad.data()),
                        static_cast<int>(aad.size())) == 1 &&
      EVP_EncryptUpdate(ctx.get(), ciphertext.data(), &len, seed.data(),
                        static_cast<int>(seed.size())) == 1 &&
      len == static_cast<int>(seed.size()) &&
      EVP_EncryptFinal_ex(ctx.get(), ciphertext.data() + len, &len) == 1 && len == 0 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kKeystoreTagSize, tag.data()) == 1;
  if (!ok) return Status::Internal("AES-256-GCM encryption failed");
  out->set_nonce(ToString(nonce));
  out->set_ciphertext(ToString(ciphertext));
  out->set_tag(ToString(tag));
  return Status::Ok();
}

// AES-256-GCM decryption; a tag mismatch is the wrong-passphrase error.
Status DecryptSeed(const SecretArray<kAesKeySize>& key, const pb::Keystore& ks,
                   std::string_view aad, SecretArray<kEd25519SeedSize>* seed) {
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter> ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return Status::Internal("cannot create a cipher context");
  std::array<uint8_t, kKeystoreTagSize> tag;
  std::memcpy(tag.data(), ks.tag().data(), tag.size());
  int len = 0;
  const bool setup =
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kKeystoreNonceSize, nullptr) == 1 &&
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key.data(),
                         reinterpret_cast<const uint8_t*>(ks.nonce().data())) == 1 &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const uint8_t*>(aad.data()),
                        static_cast<int>(aad.size())) == 1 &&
      EVP_DecryptUpdate(ctx.get(), seed->data(), &len,
                        reinterpret_cast<const uint8_t*>(ks.ciphertext().data()),
                        static_cast<int>(ks.ciphertext().size())) == 1 &&
      len == static_cast<int>(seed->size()) &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kKeystoreTagSize, tag.data()) == 1;
  if (!setup) return Status::Internal("AES-256-GCM decryption setup failed");
  int final_len = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), seed->data() + len, &final_len) != 1) {
    OPENSSL_cleanse(seed->data(), seed->size());
    return Status::InvalidInput(std::string(kWrongPassphrase));
  }
  return Status::Ok();
}

// Structure checks shared by ParseKeystore and the readers.
Status Validate(const pb::Keystore& ks) {
  if (ks.version() != kKeystoreVersion) {
    if (ks.version() == 0) return Status::InvalidInput("keystore has no version field");
    return Status::InvalidInput("unsupported keystore version " + std::to_string(ks.version()) +
                                " (this build reads version " + std::to_string(kKeystoreVersion) +
                                ")");
  }
  Result<PublicKey> pk = PublicKey::FromHex(ks.public_key());
  if (!pk.ok()) return pk.status().WithContext("keystore public_key");
  if (ks.label().size() > kKeystoreLabelBytesMax) {
    return Status::InvalidInput("keystore label is longer than " +
                                std::to_string(kKeystoreLabelBytesMax) + " bytes");
  }
  if (ks.ciphertext().size() != kEd25519SeedSize) {
    return Status::InvalidInput("keystore ciphertext must be " + std::to_string(kEd25519SeedSize) +
                                " bytes, got " + std::to_string(ks.ciphertext().size()));
  }
  if (!ks.encrypted()) {
    if (ks.has_kdf() || !ks.cipher().empty() || !ks.nonce().empty() || !ks.tag().empty()) {
      return Status::InvalidInput(
          "keystore says encrypted=false but carries kdf, cipher, nonce or tag fields");
    }
    return Status::Ok();
  }
  if (ks.cipher() != kKeystoreCipher) {
    return Status::InvalidInput("unsupported keystore cipher \"" + ks.cipher() + "\" (expected " +
                                std::string(kKeystoreCipher) + ")");
  }
  if (!ks.has_kdf()) return Status::InvalidInput("encrypted keystore has no kdf parameters");
  HM_RETURN_IF_ERROR(CheckCost(ks.kdf().n(), ks.kdf().r(), ks.kdf().p()).WithContext("keystore"));
  if (ks.kdf().salt().size() < kSaltSizeMin || ks.kdf().salt().size() > kSaltSizeMax) {
    return Status::InvalidInput("keystore salt must be " + std::to_string(kSaltSizeMin) + " to " +
                                std::to_string(kSaltSizeMax) + " bytes, got " +
                                std::to_string(ks.kdf().salt().size()));
  }
  if (ks.nonce().size() != kKeystoreNonceSize) {
    return Status::InvalidInput("keystore nonce must be " + std::to_string(kKeystoreNonceSize) +
                                " bytes, got " + std::to_string(ks.nonce().size()));
  }
  if (ks.tag().size() != kKeystoreTagSize) {
    return Status::InvalidInput("keystore tag must be " + std::to_string(kKeystoreTagSize) +
                                " bytes, got " + std::to_string(ks.tag().size()));
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> EncodeKeystore(const SigningKey& key,
                                   std::optional<std::string_view> passphrase,
                                   std::string_view label, const ScryptCost& cost) {
  if (label.size() > kKeystoreLabelBytesMax) {
    return Status::InvalidInput("label is longer than " + std::to_string(kKeystoreLabelBytesMax) +
                                " bytes");
  }
  pb::Keystore ks;
  ks.set_version(kKeystoreVersion);
  ks.set_public_key(key.public_key().Hex());
  ks.set_label(std::string(label));
  if (!passphrase.has_value()) {
    ks.set_encrypted(false);
    ks.set_ciphertext(ToString(key.seed()));
  } else {
    if (passphrase->empty()) {
      return Status::InvalidInput(
          "the passphrase is empty; use --no-passphrase for an unprotected development key");
    }
    HM_RETURN_IF_ERROR(CheckCost(cost.n, cost.r, cost.p));
    std::array<uint8_t, kKeystoreSaltSize> salt;
    RandomBytes(salt);
    ks.set_encrypted(true);
    ks.set_cipher(std::string(kKeystoreCipher));
    pb::ScryptParams* kdf = ks.mutable_kdf();
    kdf->set_n(cost.n);
    kdf->set_r(cost.r);
    kdf->set_p(cost.p);
    kdf->set_salt(ToString(salt));
    SecretArray<kAesKeySize> aes_key;
    HM_RETURN_IF_ERROR(DeriveKey(*passphrase, kdf->salt(), cost.n, cost.r, cost.p, &aes_key));
    HM_RETURN_IF_ERROR(
        EncryptSeed(aes_key, key.seed(), AssociatedData(kKeystoreVersion, key.public_key()), &ks));
  }
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;  // Shows "encrypted": false explicitly.
  options.preserve_proto_field_names = true;
  std::string json;
  const auto st = google::protobuf::util::MessageToJsonString(ks, &json, options);
  if (!ks.encrypted()) WipeString(ks.mutable_ciphertext());
  if (!st.ok()) return Status::Internal("cannot print keystore JSON: " + st.ToString());
  return json;
}

Result<pb::Keystore> ParseKeystore(std::string_view json) {
  if (json.size() > kKeystoreFileBytesMax) {
    return Status::InvalidInput("keystore is larger than " + std::to_string(kKeystoreFileBytesMax) +
                                " bytes");
  }
  if (json.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return Status::InvalidInput("keystore is empty");
  }
  pb::Keystore ks;
  // A field we do not know is a file we do not understand: unknown fields are refused.
  const Status st = ParseJsonStrict(json, &ks, kKeyFileJsonLimits);
  if (!st.ok()) {
    return Status::InvalidInput("keystore is not valid keystore JSON (truncated or edited?): " +
                                st.message());
  }
  HM_RETURN_IF_ERROR(Validate(ks));
  return ks;
}

bool KeystoreNeedsPassphrase(const pb::Keystore& keystore) {
  return keystore.encrypted();
}

Result<SigningKey> DecodeKeystore(std::string_view json,
                                  std::optional<std::string_view> passphrase) {
  Result<pb::Keystore> parsed = ParseKeystore(json);
  if (!parsed.ok()) return parsed.status();
  pb::Keystore& ks = *parsed;
  const PublicKey stored = PublicKey::FromHex(ks.public_key()).value();  // Validated above.
  SecretArray<kEd25519SeedSize> seed;
  if (!ks.encrypted()) {
    std::memcpy(seed.data(), ks.ciphertext().data(), seed.size());
    WipeString(ks.mutable_ciphertext());
  } else {
    if (!passphrase.has_value()) {
      return Status::InvalidInput("the keystore is encrypted: a passphrase is needed");
    }
    if (passphrase->empty()) return Status::InvalidInput(std::string(kWrongPassphrase));
    SecretArray<kAesKeySize> aes_key;
    HM_RETURN_IF_ERROR(DeriveKey(*passphrase, ks.kdf().salt(), ks.kdf().n(), ks.kdf().r(),
                                 ks.kdf().p(), &aes_key));
    HM_RETURN_IF_ERROR(DecryptSeed(aes_key, ks, AssociatedData(ks.version(), stored), &seed));
  }
  Result<SigningKey> key = SigningKey::FromSeed(ByteSpan(seed.data(), seed.size()));
  if (!key.ok()) return key.status();
  if (key->public_key() != stored) {
    return Status::InvalidInput(
        "the keystore's secret key does not derive its public key (corrupted or edited file)");
  }
  return key;
}

Status WriteKeystore(const std::filesystem::path& path, const SigningKey& key,
                     std::optional<std::string_view> passphrase,
                     const KeystoreWriteOptions& options) {
  Result<std::string> json = EncodeKeystore(key, passphrase, options.label, options.cost);
  if (!json.ok()) return json.status();
  Status s = WriteSecretFileAtomically(path, *json, options.overwrite);
  WipeString(&*json);
  return s;
}

Result<SigningKey> ReadKeystore(const std::filesystem::path& path,
                                std::optional<std::string_view> passphrase) {
  Result<std::string> data = ReadSecretFile(path, kKeystoreFileBytesMax, "keystore");
  if (!data.ok()) return data.status();
  Result<SigningKey> key = DecodeKeystore(*data, passphrase);
  WipeString(&*data);
  if (!key.ok()) return key.status().WithContext(path.string());
  return key;
}

Result<pb::Keystore> ReadKeystoreInfo(const std::filesystem::path& path) {
  Result<std::string> data = ReadSecretFile(path, kKeystoreFileBytesMax, "keystore");
  if (!data.ok()) return data.status();
  Result<pb::Keystore> ks = ParseKeystore(*data);
  WipeString(&*data);
  if (!ks.ok()) return ks.status().WithContext(path.string());
  // The caller wants the public facts; drop a development key's plain seed.
  if (!ks->encrypted()) WipeString(ks->mutable_ciphertext());
  return ks;
}

}  // namespace hallmark::core
