#include "core/crypto/shamir.h"

#include <crypto++/channels.h>
#include <crypto++/cryptlib.h>
#include <crypto++/filters.h>
#include <crypto++/ida.h>
#include <crypto++/misc.h>
#include <google/protobuf/util/json_util.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <memory>

#include "core/bytes.h"
#include "core/crypto/random.h"
#include "core/crypto/secret_file.h"
#include "core/crypto/sha256.h"
#include "core/json.h"

namespace hallmark::core {
namespace {

// Domain separation for the checksum, so it can never equal a hash of anything else we write.
constexpr std::string_view kChecksumPrefix = "hallmark-key-share";

// Crypto++ puts the secret at x = 0xffffffff; share i sits at x = i - 1, never there.
static_assert(kKeySharesMax - 1 < 0xffffffffu);

// Crypto++'s random-number interface over the system CSPRNG, so that the shares' randomness
// comes from the same place as every key and nonce (core/crypto/random.h).
class SystemRng final : public CryptoPP::RandomNumberGenerator {
 public:
  void GenerateBlock(CryptoPP::byte* output, size_t size) override {
    RandomBytes(std::span<uint8_t>(output, size));
  }
  std::string AlgorithmName() const override { return "OpenSSL RAND_bytes"; }
};

void Wipe(std::string* s) {
  if (!s->empty()) OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

void PutField(std::string* out, std::string_view bytes) {
  PutBigEndian32(out, static_cast<uint32_t>(bytes.size()));
  out->append(bytes);
}

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Share n of m, for messages: "share 2 of 5".
std::string ShareText(const pb::KeyShare& s) {
  return "share " + std::to_string(s.index()) + " of " + std::to_string(s.total());
}

// The name of a share in messages: its file name, or "share 2 of 5" when it has none.
std::string NameOf(const NamedKeyShare& s) {
  return s.name.empty() ? ShareText(s.share) : s.name;
}

// Crypto++'s SecretRecovery over exactly threshold shares of one split, checked beforehand
// (distinct indexes within range, 32 bytes each). Returns the 32-byte seed.
Result<SigningKey> Recover(const std::vector<const pb::KeyShare*>& shares, uint32_t threshold) {
  HM_ASSERT(shares.size() == threshold);
  std::string seed;
  seed.reserve(2 * kEd25519SeedSize);  // No reallocation leaving copies of the seed behind.
  try {
    CryptoPP::SecretRecovery recovery(static_cast<int>(threshold), new CryptoPP::StringSink(seed),
                                      /*removePadding=*/false);
    for (const pb::KeyShare* s : shares) {
      const std::string channel = CryptoPP::WordToString<CryptoPP::word32>(s->index() - 1);
      recovery.ChannelPut(channel, reinterpret_cast<const CryptoPP::byte*>(s->share().data()),
                          s->share().size());
    }
    for (const pb::KeyShare* s : shares) {
      recovery.ChannelMessageEnd(CryptoPP::WordToString<CryptoPP::word32>(s->index() - 1));
    }
  } catch (const CryptoPP::Exception& e) {
    Wipe(&seed);
    return Status::Internal(std::string("Crypto++ secret recovery failed: ") + e.what());
  }
  if (seed.size() != kEd25519SeedSize) {
    const size_t got = seed.size();
    Wipe(&seed);
    return Status::Internal("Crypto++ secret recovery gave " + std::to_string(got) +
                            " bytes, expected " + std::to_string(kEd25519SeedSize));
  }
  Result<SigningKey> key = SigningKey::FromSeed(AsSpan(seed));
  Wipe(&seed);
  return key;
}

}  // namespace

Status CheckSplitParameters(uint32_t threshold, uint32_t total) {
  if (total < kKeyShareThresholdMin || total > kKeySharesMax) {
    return Status::InvalidInput("the number of shares must be between " +
                                std::to_string(kKeyShareThresholdMin) + " and " +
                                std::to_string(kKeySharesMax) + ", got " + std::to_string(total));
  }
  if (threshold < kKeyShareThresholdMin) {
    return Status::InvalidInput(
        "the threshold must be at least " + std::to_string(kKeyShareThresholdMin) + ", got " +
        std::to_string(threshold) + " (a threshold of 1 would make every share a copy of the key)");
  }
  if (threshold > total) {
    return Status::InvalidInput("the threshold (" + std::to_string(threshold) +
                                ") cannot exceed the number of shares (" + std::to_string(total) +
                                ")");
  }
  return Status::Ok();
}

Result<std::vector<pb::KeyShare>> SplitKey(const SigningKey& key, uint32_t threshold,
                                           uint32_t total, std::string_view label) {
  HM_RETURN_IF_ERROR(CheckSplitParameters(threshold, total));
  if (label.size() > kKeyShareLabelBytesMax) {
    return Status::InvalidInput("label is longer than " + std::to_string(kKeyShareLabelBytesMax) +
                                " bytes");
  }
  std::array<uint8_t, kKeyShareSplitIdSize> split_id_bytes;
  RandomBytes(split_id_bytes);
  const std::string split_id = ToHex(split_id_bytes);
  const std::string public_key = key.public_key().Hex();

  // One sink per share; Crypto++ names share i's output channel by the 4-byte big-endian word i.
  std::vector<std::string> outputs(total);
  for (std::string& o : outputs) o.reserve(2 * kKeyShareSize);
  try {
    std::vector<std::unique_ptr<CryptoPP::StringSink>> sinks;
    sinks.reserve(total);
    auto* channel_switch = new CryptoPP::ChannelSwitch;  // Owned by SecretSharing.
    for (uint32_t i = 0; i < total; ++i) {
      sinks.push_back(std::make_unique<CryptoPP::StringSink>(outputs[i]));
      channel_switch->AddRoute(CryptoPP::WordToString<CryptoPP::word32>(i), *sinks.back(),
                               CryptoPP::DEFAULT_CHANNEL);
    }
    SystemRng rng;
    const ByteSpan seed = key.seed();
    CryptoPP::ArraySource source(
        seed.data(), seed.size(), /*pumpAll=*/true,
        new CryptoPP::SecretSharing(rng, static_cast<int>(threshold), static_cast<int>(total),
                                    channel_switch,
                                    /*addPadding=*/false));
  } catch (const CryptoPP::Exception& e) {
    for (std::string& o : outputs) Wipe(&o);
    return Status::Internal(std::string("Crypto++ secret sharing failed: ") + e.what());
  }

  std::vector<pb::KeyShare> shares;
  shares.reserve(total);
  for (uint32_t i = 0; i < total; ++i) {
    if (outputs[i].size() != kKeyShareSize) {
      const size_t got = outputs[i].size();
      for (std::string& o : outputs) Wipe(&o);
      return Status::Internal("Crypto++ secret sharing gave a share of " + std::to_string(got) +
                              " bytes, expected " + std::to_string(kKeyShareSize));
    }
    pb::KeyShare s;
    s.set_version(kKeyShareVersion);
    s.set_scheme(std::string(kKeyShareScheme));
    s.set_split_id(split_id);
    s.set_index(i + 1);
    s.set_threshold(threshold);
    s.set_total(total);
    s.set_public_key(public_key);
    s.set_label(std::string(label));
    s.set_share(outputs[i]);
    Wipe(&outputs[i]);
    s.set_checksum(KeyShareChecksum(s));
    shares.push_back(std::move(s));
  }

  // Check the split before anyone relies on it: combining all the shares uses every one of
  // them in some restoration, and each must give back this very key.
  std::vector<NamedKeyShare> named;
  named.reserve(total);
  for (const pb::KeyShare& s : shares) named.push_back({"", s});
  const Result<SigningKey> back = CombineKeyShares(named);
  for (NamedKeyShare& n : named) Wipe(n.share.mutable_share());
  if (!back.ok()) {
    return Status::Internal("the shares just made do not combine: " + back.status().message());
  }
  // CombineKeyShares compared the result with the public key recorded in the shares: ours.
  HM_ASSERT(back->public_key() == key.public_key());
  return shares;
}

std::string KeyShareChecksum(const pb::KeyShare& share) {
  std::string data(kChecksumPrefix);
  PutBigEndian32(&data, share.version());
  PutField(&data, share.scheme());
  PutField(&data, share.split_id());
  PutBigEndian32(&data, share.index());
  PutBigEndian32(&data, share.threshold());
  PutBigEndian32(&data, share.total());
  PutField(&data, share.public_key());
  PutField(&data, share.label());
  PutField(&data, share.share());
  const Hash256 h = Sha256Of(data);
  Wipe(&data);
  return std::string(h.view());
}

Status ValidateKeyShare(const pb::KeyShare& share) {
  if (share.version() != kKeyShareVersion) {
    if (share.version() == 0) return Status::InvalidInput("key share has no version field");
    return Status::InvalidInput("unsupported key share version " + std::to_string(share.version()) +
                                " (this build reads version " + std::to_string(kKeyShareVersion) +
                                ")");
  }
  if (share.scheme() != kKeyShareScheme) {
    return Status::InvalidInput("unsupported key share scheme \"" + share.scheme() +
                                "\" (expected " + std::string(kKeyShareScheme) + ")");
  }
  if (share.split_id().size() != 2 * kKeyShareSplitIdSize || !IsLowerHex(share.split_id())) {
    return Status::InvalidInput("key share split_id must be " +
                                std::to_string(2 * kKeyShareSplitIdSize) +
                                " lower-case hex digits");
  }
  if (share.total() < kKeyShareThresholdMin || share.total() > kKeySharesMax) {
    return Status::InvalidInput(
        "key share total must be between " + std::to_string(kKeyShareThresholdMin) + " and " +
        std::to_string(kKeySharesMax) + ", got " + std::to_string(share.total()));
  }
  if (share.threshold() < kKeyShareThresholdMin || share.threshold() > share.total()) {
    return Status::InvalidInput("key share threshold must be between " +
                                std::to_string(kKeyShareThresholdMin) + " and the total (" +
                                std::to_string(share.total()) + "), got " +
                                std::to_string(share.threshold()));
  }
  if (share.index() < 1 || share.index() > share.total()) {
    return Status::InvalidInput("key share index must be between 1 and the total (" +
                                std::to_string(share.total()) + "), got " +
                                std::to_string(share.index()));
  }
  const Result<PublicKey> pk = PublicKey::FromHex(share.public_key());
  if (!pk.ok()) return pk.status().WithContext("key share public_key");
  if (share.label().size() > kKeyShareLabelBytesMax) {
    return Status::InvalidInput("key share label is longer than " +
                                std::to_string(kKeyShareLabelBytesMax) + " bytes");
  }
  if (share.share().size() != kKeyShareSize) {
    return Status::InvalidInput("key share must hold " + std::to_string(kKeyShareSize) +
                                " share bytes, got " + std::to_string(share.share().size()));
  }
  if (share.checksum().size() != kKeyShareChecksumSize) {
    return Status::InvalidInput("key share checksum must be " +
                                std::to_string(kKeyShareChecksumSize) + " bytes, got " +
                                std::to_string(share.checksum().size()));
  }
  const std::string expected = KeyShareChecksum(share);
  if (CRYPTO_memcmp(expected.data(), share.checksum().data(), expected.size()) != 0) {
    return Status::InvalidInput(
        "key share checksum does not match its contents (corrupted or edited file)");
  }
  return Status::Ok();
}

Result<SigningKey> CombineKeyShares(std::span<const NamedKeyShare> shares) {
  if (shares.empty()) return Status::InvalidInput("no shares given");
  for (const NamedKeyShare& s : shares) {
    HM_RETURN_IF_ERROR(ValidateKeyShare(s.share).WithContext(NameOf(s)));
  }

  const NamedKeyShare& first = shares.front();
  const pb::KeyShare& ref = first.share;
  for (const NamedKeyShare& s : shares) {
    if (s.share.split_id() != ref.split_id()) {
      return Status::InvalidInput("the shares come from different splits: " + NameOf(first) +
                                  " is from split " + ref.split_id() + ", " + NameOf(s) +
                                  " from split " + s.share.split_id() +
                                  "; give shares of one split only");
    }
  }
  // Shares of one split agree on everything but index and share bytes; their checksums are
  // good, so a disagreement means someone edited a file and recomputed its checksum.
  auto disagree = [&](const NamedKeyShare& s, std::string_view field, const std::string& a,
                      const std::string& b) {
    return Status::InvalidInput("shares of split " + ref.split_id() + " disagree on the " +
                                std::string(field) + ": " + NameOf(first) + " says " + a + ", " +
                                NameOf(s) + " says " + b + " (an edited share file)");
  };
  for (const NamedKeyShare& s : shares) {
    const pb::KeyShare& x = s.share;
    if (x.threshold() != ref.threshold()) {
      return disagree(s, "threshold", std::to_string(ref.threshold()),
                      std::to_string(x.threshold()));
    }
    if (x.total() != ref.total()) {
      return disagree(s, "number of shares", std::to_string(ref.total()),
                      std::to_string(x.total()));
    }
    if (PublicKey::FromHex(x.public_key()).value() !=
        PublicKey::FromHex(ref.public_key()).value()) {
      return disagree(s, "public key", ref.public_key(), x.public_key());
    }
    if (x.label() != ref.label()) {
      return disagree(s, "label", "\"" + ref.label() + "\"", "\"" + x.label() + "\"");
    }
  }

  // One share per index, in index order.
  std::vector<const NamedKeyShare*> by_index(ref.total() + 1, nullptr);
  for (const NamedKeyShare& s : shares) {
    const NamedKeyShare*& slot = by_index[s.share.index()];
    if (slot != nullptr) {
      return Status::InvalidInput(ShareText(s.share) + " was given twice (" + NameOf(*slot) +
                                  " and " + NameOf(s) + "); each share counts once");
    }
    slot = &s;
  }
  std::vector<const pb::KeyShare*> distinct;
  for (const NamedKeyShare* s : by_index) {
    if (s != nullptr) distinct.push_back(&s->share);
  }
  const uint32_t k = ref.threshold();
  if (distinct.size() < k) {
    return Status::InvalidInput("need " + std::to_string(k) + " shares, got " +
                                std::to_string(distinct.size()) + " (any " + std::to_string(k) +
                                " of the " + std::to_string(ref.total()) + " shares of split " +
                                ref.split_id() + " restore the key)");
  }

  // Restore from the first K; then each further share, in place of the K-th, must restore the
  // same key, so that every share given has been checked.
  const PublicKey recorded = PublicKey::FromHex(ref.public_key()).value();
  auto corrupt = [&](const std::string& which) {
    return Status::InvalidInput(
        "the shares do not restore the key they were split from "
        "(public key " +
        ref.public_key() + "): " + which + " corrupted or was edited");
  };
  std::vector<const pb::KeyShare*> subset(distinct.begin(), distinct.begin() + k);
  Result<SigningKey> key = Recover(subset, k);
  if (!key.ok()) return key.status();
  if (key->public_key() != recorded) return corrupt("a share is");
  for (size_t extra = k; extra < distinct.size(); ++extra) {
    subset.back() = distinct[extra];
    const Result<SigningKey> again = Recover(subset, k);
    if (!again.ok()) return again.status();
    if (again->public_key() != recorded) return corrupt(ShareText(*distinct[extra]) + " is");
  }
  return key;
}

Result<std::string> EncodeKeyShare(const pb::KeyShare& share) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  const auto st = google::protobuf::util::MessageToJsonString(share, &json, options);
  if (!st.ok()) return Status::Internal("cannot print key share JSON: " + st.ToString());
  return json;
}

Result<pb::KeyShare> ParseKeyShare(std::string_view json) {
  if (json.size() > kKeyShareFileBytesMax) {
    return Status::InvalidInput("key share is larger than " +
                                std::to_string(kKeyShareFileBytesMax) + " bytes");
  }
  if (json.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return Status::InvalidInput("key share file is empty");
  }
  pb::KeyShare share;
  // A field we do not know is a file we do not understand: unknown fields are refused.
  const Status st = ParseJsonStrict(json, &share, kKeyFileJsonLimits);
  if (!st.ok()) {
    return Status::InvalidInput(
        "not a key share file (truncated, edited, or another kind of file?): " + st.message());
  }
  HM_RETURN_IF_ERROR(ValidateKeyShare(share));
  return share;
}

Status WriteKeyShareFile(const std::filesystem::path& path, const pb::KeyShare& share) {
  HM_RETURN_IF_ERROR(ValidateKeyShare(share));
  Result<std::string> json = EncodeKeyShare(share);
  if (!json.ok()) return json.status();
  const Status s = WriteSecretFileAtomically(path, *json, /*overwrite=*/false);
  Wipe(&*json);
  return s;
}

Result<pb::KeyShare> ReadKeyShareFile(const std::filesystem::path& path) {
  Result<std::string> data = ReadSecretFile(path, kKeyShareFileBytesMax, "key share");
  if (!data.ok()) return data.status();
  Result<pb::KeyShare> share = ParseKeyShare(*data);
  Wipe(&*data);
  if (!share.ok()) return share.status().WithContext(path.string());
  return share;
}

}  // namespace hallmark::core
