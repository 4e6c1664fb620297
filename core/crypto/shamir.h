#pragma once

// K-of-N custody of an Ed25519 signing key: the 32-byte seed split into N shares, any K of which
// restore it, with Shamir's secret sharing as Crypto++ implements it (CryptoPP::SecretSharing /
// SecretRecovery, ida.h). Fewer than K shares say nothing about the seed.
//
// What Crypto++ computes. The seed is read as eight 32-bit words; each word is shared on its own
// with a polynomial of degree K - 1 over GF(2^32). The polynomial is fixed by its value at
// x = 0xffffffff (the secret word) and at x = 0 .. K-2 (random words from the system CSPRNG);
// share i (1-based, as in the files) is its value at x = i - 1. So shares 1 .. K-1 are the random
// words themselves, which is still Shamir: any K-1 shares are uniformly random whatever the seed.
// No padding is added (32 bytes is a whole number of words), so each share is 32 bytes.
//
// A share travels as a pb::KeyShare (proto/share.proto), written as JSON, carrying what combining
// needs to check itself: a split id binding the shares of one split, K, N, the index, the public
// key the shares restore, and a checksum over all of it. docs/keystore.md ("Key custody") is the
// format's description.
//
// All functions are thread-safe (they share no state).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/crypto/ed25519.h"
#include "core/status.h"
#include "proto/share.pb.h"

namespace hallmark::core {

inline constexpr uint32_t kKeyShareVersion = 1;
inline constexpr std::string_view kKeyShareScheme = "cryptopp-secret-sharing-gf2_32";
// Our limits on K and N. Crypto++ itself would take up to 2^32 - 1 shares (every x but the
// secret's); 255 is far more officers than any brand has, and keeps a split's work and files small.
inline constexpr uint32_t kKeyShareThresholdMin = 2;
inline constexpr uint32_t kKeySharesMax = 255;
inline constexpr size_t kKeyShareSplitIdSize = 16;  // Bytes; 32 hex digits in the file.
inline constexpr size_t kKeyShareSize = kEd25519SeedSize;
inline constexpr size_t kKeyShareChecksumSize = 32;
inline constexpr size_t kKeyShareLabelBytesMax = 256;  // As a keystore's label.
inline constexpr size_t kKeyShareFileBytesMax = 64 * 1024;

// 2 <= threshold <= total <= kKeySharesMax, else kInvalidInput naming the rule.
Status CheckSplitParameters(uint32_t threshold, uint32_t total);

// Splits `key`'s seed into `total` shares, any `threshold` of which restore it, under a new
// random split id. The shares come back in index order (1 .. total), checksums filled in.
// Errors: kInvalidInput for parameters CheckSplitParameters refuses or a label that is too long.
Result<std::vector<pb::KeyShare>> SplitKey(const SigningKey& key, uint32_t threshold,
                                           uint32_t total, std::string_view label);

// SHA-256 over every field but the checksum, in the fixed layout docs/keystore.md gives.
std::string KeyShareChecksum(const pb::KeyShare& share);

// Structure checks without combining: version, scheme, sizes, ranges, the checksum.
Status ValidateKeyShare(const pb::KeyShare& share);

// A share and the name to use for it in messages (its file name).
struct NamedKeyShare {
  std::string name;
  pb::KeyShare share;
};

// Restores the key from shares of one split, each already passed through ValidateKeyShare (this
// checks again). Errors (kInvalidInput), checked in this order: no shares; shares of different
// splits; shares of one split that disagree on K, N, public key or label (an edited file); one
// index given twice; fewer than K distinct shares ("need 3 shares, got 2"); a result whose public
// key is not the one recorded in the shares (a corrupted or edited share). With more than K
// shares, every share is used in some restoration and each must give the recorded key.
Result<SigningKey> CombineKeyShares(std::span<const NamedKeyShare> shares);

// --- Files --------------------------------------------------------------------------------------

// The share as a JSON document (Protobuf JSON mapping, proto field names, whitespace).
Result<std::string> EncodeKeyShare(const pb::KeyShare& share);

// Parses share JSON strictly (an unknown field is an error) and runs ValidateKeyShare.
Result<pb::KeyShare> ParseKeyShare(std::string_view json);

// Writes the share to `path` with mode 0600, atomically, and never over an existing file
// (kIoError "… already exists; not overwriting it").
Status WriteKeyShareFile(const std::filesystem::path& path, const pb::KeyShare& share);

// Reads and parses a share file. Errors: kNotFound, kIoError, kInvalidInput (too large, not a
// share, failed checks), each naming the file.
Result<pb::KeyShare> ReadKeyShareFile(const std::filesystem::path& path);

}  // namespace hallmark::core
