#pragma once

// Ed25519 signing keys at rest: a JSON file (Protobuf JSON mapping of pb::Keystore) holding the
// 32-byte seed encrypted with AES-256-GCM under a key derived from a passphrase with scrypt.
// docs/keystore.md describes the format. Development keys (no passphrase) store the seed plainly
// and say so in the file (`encrypted: false`).
//
// All functions are thread-safe (they share no state); two writers racing on one path leave one
// complete file, never a mixture.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/crypto/ed25519.h"
#include "core/status.h"
#include "proto/keystore.pb.h"

namespace hallmark::core {

inline constexpr uint32_t kKeystoreVersion = 1;
inline constexpr std::string_view kKeystoreCipher = "aes-256-gcm";
inline constexpr size_t kKeystoreSaltSize = 32;   // Written; 16..64 accepted on read.
inline constexpr size_t kKeystoreNonceSize = 12;  // AES-GCM nonce.
inline constexpr size_t kKeystoreTagSize = 16;    // AES-GCM tag.

// Limits on what a keystore file may ask of us, so that a hostile or damaged file cannot make
// the reader allocate gigabytes or spin for minutes.
inline constexpr size_t kKeystoreFileBytesMax = 64 * 1024;
inline constexpr size_t kKeystoreLabelBytesMax = 256;
inline constexpr uint64_t kScryptNMax = uint64_t{1} << 20;
inline constexpr uint32_t kScryptRMax = 32;
inline constexpr uint32_t kScryptPMax = 16;
inline constexpr uint64_t kScryptMemoryBytesMax = uint64_t{1} << 30;  // 128 * r * (n + p).

// scrypt cost. The default (N = 2^15, r = 8, p = 1) takes about 0.1 s and 32 MiB; tests pass a
// smaller N. REQUIRES (checked, as an error): n a power of two in [2, kScryptNMax],
// r in [1, kScryptRMax], p in [1, kScryptPMax], memory within kScryptMemoryBytesMax.
struct ScryptCost {
  uint64_t n = uint64_t{1} << 15;
  uint32_t r = 8;
  uint32_t p = 1;
};

struct KeystoreWriteOptions {
  std::string label;  // Free text, at most kKeystoreLabelBytesMax bytes.
  ScryptCost cost;
  bool overwrite = false;  // When false an existing file is an error and is left untouched.
};

// --- In memory --------------------------------------------------------------------------------

// The keystore JSON for `key`. With a passphrase (non-empty) the seed is encrypted; with nullopt
// it is stored plainly (development keys only).
Result<std::string> EncodeKeystore(const SigningKey& key,
                                   std::optional<std::string_view> passphrase,
                                   std::string_view label, const ScryptCost& cost = {});

// Parses keystore JSON and checks its structure (version, sizes, parameters, unknown fields)
// without decrypting anything.
Result<pb::Keystore> ParseKeystore(std::string_view json);

// Parses, decrypts and checks that the seed derives the stored public key. A passphrase is
// required when the keystore is encrypted and ignored when it is not.
Result<SigningKey> DecodeKeystore(std::string_view json,
                                  std::optional<std::string_view> passphrase);

// True when the keystore's seed is encrypted, i.e. reading it needs a passphrase.
bool KeystoreNeedsPassphrase(const pb::Keystore& keystore);

// --- Files --------------------------------------------------------------------------------------

// Writes the keystore to `path` atomically (a temporary file in the same folder, fsync, then
// rename or link) with mode 0600. Errors: kInvalidInput for bad arguments (empty passphrase,
// label too long, cost out of range); kIoError when the file exists and !options.overwrite, or
// the file system fails.
Status WriteKeystore(const std::filesystem::path& path, const SigningKey& key,
                     std::optional<std::string_view> passphrase,
                     const KeystoreWriteOptions& options = {});

// Reads and decrypts. Errors: kNotFound, kIoError, kInvalidInput (malformed file, wrong
// passphrase: "wrong passphrase or corrupted keystore", missing passphrase).
Result<SigningKey> ReadKeystore(const std::filesystem::path& path,
                                std::optional<std::string_view> passphrase);

// Reads and checks the structure only: the public key, label and whether a passphrase is needed.
// A development key's plain seed is cleared from the returned message.
Result<pb::Keystore> ReadKeystoreInfo(const std::filesystem::path& path);

}  // namespace hallmark::core
