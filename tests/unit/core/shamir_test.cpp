// K-of-N key shares (core/crypto/shamir.h): round trips over every subset of small splits, the
// refusals combine must give, the share format and its files.
#include "core/crypto/shamir.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/crypto/ed25519.h"
#include "core/crypto/keystore.h"
#include "test_util.h"

using namespace hallmark::core;
using hallmark::test::TempDir;
namespace pb = hallmark::pb;

namespace {

// A fixed key, so failures reproduce.
SigningKey TestKey(uint8_t first_byte = 1) {
  std::array<uint8_t, kEd25519SeedSize> seed;
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(first_byte + 7 * i);
  return SigningKey::FromSeed(seed).value();
}

std::vector<pb::KeyShare> Split(const SigningKey& key, uint32_t k, uint32_t n,
                                std::string_view label = "org:maison") {
  Result<std::vector<pb::KeyShare>> shares = SplitKey(key, k, n, label);
  REQUIRE_MESSAGE(shares.ok(), shares.status().ToString());
  REQUIRE(shares->size() == n);
  return *shares;
}

std::vector<NamedKeyShare> Named(const std::vector<pb::KeyShare>& shares,
                                 const std::vector<size_t>& positions) {
  std::vector<NamedKeyShare> out;
  for (size_t p : positions) {
    out.push_back({"s" + std::to_string(shares[p].index()) + ".json", shares[p]});
  }
  return out;
}

std::string CombineError(const std::vector<NamedKeyShare>& shares) {
  Result<SigningKey> key = CombineKeyShares(shares);
  REQUIRE_FALSE(key.ok());
  CHECK(key.status().code() == StatusCode::kInvalidInput);
  return key.status().message();
}

bool Contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// Every subset of {0 .. n-1} with exactly `size` members, in lexicographic order.
std::vector<std::vector<size_t>> Subsets(size_t n, size_t size) {
  std::vector<std::vector<size_t>> out;
  for (uint32_t mask = 0; mask < (1u << n); ++mask) {
    if (static_cast<size_t>(__builtin_popcount(mask)) != size) continue;
    std::vector<size_t> s;
    for (size_t i = 0; i < n; ++i) {
      if (mask & (1u << i)) s.push_back(i);
    }
    out.push_back(s);
  }
  return out;
}

std::string ReadText(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteText(const std::filesystem::path& p, std::string_view text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

}  // namespace

TEST_CASE("shamir: every subset of at least K shares restores a key that signs identically") {
  const SigningKey key = TestKey();
  const std::string message = "transfer 01/00614141000012/21/BAG-0001";
  const Signature expected = key.Sign(message);
  size_t combinations = 0;
  for (uint32_t n = 2; n <= 6; ++n) {
    for (uint32_t k = 2; k <= n; ++k) {
      CAPTURE(n);
      CAPTURE(k);
      const std::vector<pb::KeyShare> shares = Split(key, k, n);
      for (size_t size = k; size <= n; ++size) {
        for (const std::vector<size_t>& subset : Subsets(n, size)) {
          Result<SigningKey> back = CombineKeyShares(Named(shares, subset));
          REQUIRE_MESSAGE(back.ok(), back.status().ToString());
          CHECK(back->public_key() == key.public_key());
          CHECK(back->Sign(message) == expected);
          CHECK(ToHex(back->seed()) == ToHex(key.seed()));
          ++combinations;
        }
      }
    }
  }
  CHECK(combinations == 201);  // Sum over n = 2..6, k = 2..n of the subsets of size >= k.
}

TEST_CASE("shamir: larger splits restore the key from any K shares, given in any order") {
  const SigningKey key = TestKey(9);
  struct Case {
    uint32_t k, n;
    std::vector<size_t> subset;
  };
  const std::vector<Case> cases = {
      {3, 10, {9, 0, 4}},   {10, 10, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}},
      {2, 255, {254, 127}}, {7, 40, {39, 1, 30, 5, 22, 17, 11}},
      {255, 255, {}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.k);
    CAPTURE(c.n);
    const std::vector<pb::KeyShare> shares = Split(key, c.k, c.n);
    std::vector<size_t> subset = c.subset;
    if (subset.empty()) {
      for (size_t i = 0; i < c.n; ++i) subset.push_back(i);
    }
    Result<SigningKey> back = CombineKeyShares(Named(shares, subset));
    REQUIRE_MESSAGE(back.ok(), back.status().ToString());
    CHECK(back->public_key() == key.public_key());
  }
}

TEST_CASE("shamir: K and N outside 2 <= K <= N <= 255 are refused with the rule") {
  const SigningKey key = TestKey();
  struct Case {
    uint32_t k, n;
    std::string_view says;
  };
  for (const Case& c :
       {Case{1, 3, "at least 2"}, Case{0, 3, "at least 2"},
        Case{4, 3, "cannot exceed the number of shares"}, Case{2, 1, "between 2 and 255"},
        Case{2, 256, "between 2 and 255"}, Case{0, 0, "between 2 and 255"}}) {
    CAPTURE(c.k);
    CAPTURE(c.n);
    Result<std::vector<pb::KeyShare>> shares = SplitKey(key, c.k, c.n, "");
    REQUIRE_FALSE(shares.ok());
    CHECK(shares.status().code() == StatusCode::kInvalidInput);
    CHECK(Contains(shares.status().message(), c.says));
    CHECK(CheckSplitParameters(c.k, c.n).code() == StatusCode::kInvalidInput);
  }
  CHECK(CheckSplitParameters(2, 2).ok());
  CHECK(CheckSplitParameters(255, 255).ok());
  CHECK(SplitKey(key, 2, 3, std::string(kKeyShareLabelBytesMax + 1, 'x')).status().code() ==
        StatusCode::kInvalidInput);
}

TEST_CASE("shamir: shares describe themselves and differ between splits of one key") {
  const SigningKey key = TestKey();
  const std::vector<pb::KeyShare> a = Split(key, 3, 5, "org:maison");
  const std::vector<pb::KeyShare> b = Split(key, 3, 5, "org:maison");
  for (uint32_t i = 0; i < 5; ++i) {
    const pb::KeyShare& s = a[i];
    CHECK(s.version() == kKeyShareVersion);
    CHECK(s.scheme() == kKeyShareScheme);
    CHECK(s.index() == i + 1);
    CHECK(s.threshold() == 3);
    CHECK(s.total() == 5);
    CHECK(s.split_id() == a[0].split_id());
    CHECK(s.split_id().size() == 2 * kKeyShareSplitIdSize);
    CHECK(s.public_key() == key.public_key().Hex());
    CHECK(s.label() == "org:maison");
    CHECK(s.share().size() == kKeyShareSize);
    CHECK(s.checksum() == KeyShareChecksum(s));
    CHECK(ValidateKeyShare(s).ok());
    // No share is the seed itself, and a fresh split draws fresh randomness.
    CHECK(s.share() != ToString(key.seed()));
    CHECK(s.share() != b[i].share());
  }
  CHECK(a[0].split_id() != b[0].split_id());
}

TEST_CASE("shamir: combine refuses fewer than K shares: need 3 shares, got 2") {
  const std::vector<pb::KeyShare> shares = Split(TestKey(), 3, 5);
  const std::string why = CombineError(Named(shares, {0, 4}));
  CHECK(Contains(why, "need 3 shares, got 2"));
  CHECK(Contains(why, shares[0].split_id()));
  CHECK(Contains(CombineError(Named(shares, {2})), "need 3 shares, got 1"));
  CHECK(CombineError({}) == "no shares given");
}

TEST_CASE("shamir: combine refuses shares of different splits, even of the same key") {
  const SigningKey key = TestKey();
  const std::vector<pb::KeyShare> a = Split(key, 2, 3);
  const std::vector<pb::KeyShare> b = Split(key, 2, 3);
  std::vector<NamedKeyShare> mixed = Named(a, {0});
  mixed.push_back({"other.json", b[1]});
  const std::string why = CombineError(mixed);
  CHECK(Contains(why, "different splits"));
  CHECK(Contains(why, "other.json"));
  CHECK(Contains(why, a[0].split_id()));
  CHECK(Contains(why, b[0].split_id()));

  // And of another key with other parameters.
  std::vector<NamedKeyShare> other = Named(a, {0, 1});
  other.push_back({"x.json", Split(TestKey(2), 3, 4)[2]});
  CHECK(Contains(CombineError(other), "different splits"));
}

TEST_CASE("shamir: combine refuses a share given twice, whatever else is given") {
  const std::vector<pb::KeyShare> shares = Split(TestKey(), 2, 4);
  const std::string why = CombineError(Named(shares, {1, 1}));
  CHECK(Contains(why, "share 2 of 4 was given twice (s2.json and s2.json)"));
  // Enough distinct shares besides the duplicate still do not make it acceptable.
  CHECK(Contains(CombineError(Named(shares, {0, 1, 2, 0})), "share 1 of 4 was given twice"));
}

TEST_CASE("shamir: a share whose bytes changed fails its checksum, naming the share") {
  std::vector<pb::KeyShare> shares = Split(TestKey(), 2, 3);
  std::string bytes = shares[1].share();
  bytes[5] ^= 0x01;
  shares[1].set_share(bytes);
  const std::string why = CombineError(Named(shares, {0, 1}));
  CHECK(Contains(why, "s2.json"));
  CHECK(Contains(why, "checksum does not match"));
}

TEST_CASE("shamir: a corrupted share with a recomputed checksum restores the wrong key: refused") {
  const SigningKey key = TestKey();
  std::vector<pb::KeyShare> shares = Split(key, 3, 5);
  std::string bytes = shares[4].share();
  bytes[0] ^= 0x80;
  shares[4].set_share(bytes);
  shares[4].set_checksum(KeyShareChecksum(shares[4]));
  REQUIRE(ValidateKeyShare(shares[4]).ok());

  // Among the K shares used for restoring (the K lowest indexes given).
  std::string why = CombineError(Named(shares, {4, 0, 1}));
  CHECK(Contains(why, "do not restore the key they were split from"));
  CHECK(Contains(why, key.public_key().Hex()));
  CHECK(Contains(why, "a share is corrupted or was edited"));
  // As a share beyond the first K: still checked, and named.
  why = CombineError(Named(shares, {4, 0, 1, 3}));
  CHECK(Contains(why, "share 5 of 5 is corrupted or was edited"));
  // Without it the others still work.
  CHECK(CombineKeyShares(Named(shares, {0, 1, 2, 3})).ok());
}

TEST_CASE("shamir: edited parameters are caught: disagreement, or the public key check") {
  const SigningKey key = TestKey();
  std::vector<pb::KeyShare> shares = Split(key, 3, 4);
  auto edit = [](pb::KeyShare s, auto change) {
    change(&s);
    s.set_checksum(KeyShareChecksum(s));
    return s;
  };

  // One share claims another threshold: the shares disagree.
  std::vector<NamedKeyShare> one = Named(shares, {0, 1, 2});
  one[1].share = edit(one[1].share, [](pb::KeyShare* s) { s->set_threshold(2); });
  CHECK(Contains(CombineError(one), "disagree on the threshold"));

  // Every share claims threshold 2: two shares "restore" a key, the wrong one.
  std::vector<NamedKeyShare> all = Named(shares, {0, 1});
  for (NamedKeyShare& s : all) {
    s.share = edit(s.share, [](pb::KeyShare* x) { x->set_threshold(2); });
  }
  CHECK(Contains(CombineError(all), "do not restore the key"));

  // One share claims another public key or label.
  std::vector<NamedKeyShare> pk = Named(shares, {0, 1, 2});
  pk[2].share =
      edit(pk[2].share, [&](pb::KeyShare* s) { s->set_public_key(TestKey(3).public_key().Hex()); });
  CHECK(Contains(CombineError(pk), "disagree on the public key"));
  std::vector<NamedKeyShare> label = Named(shares, {0, 1, 2});
  label[0].share = edit(label[0].share, [](pb::KeyShare* s) { s->set_label("org:evil"); });
  CHECK(Contains(CombineError(label), "disagree on the label"));

  // Two shares swap indexes: both checksums recomputed, still the wrong points.
  std::vector<NamedKeyShare> swapped = Named(shares, {0, 1, 2});
  swapped[0].share = edit(swapped[0].share, [](pb::KeyShare* s) { s->set_index(2); });
  swapped[1].share = edit(swapped[1].share, [](pb::KeyShare* s) { s->set_index(1); });
  CHECK(Contains(CombineError(swapped), "do not restore the key"));
}

TEST_CASE("shamir: structural checks name the field") {
  const pb::KeyShare good = Split(TestKey(), 2, 3)[0];
  struct Case {
    std::string_view what;
    void (*change)(pb::KeyShare*);
    std::string_view says;
  };
  const std::vector<Case> cases = {
      {"no version", [](pb::KeyShare* s) { s->set_version(0); }, "no version field"},
      {"version 2", [](pb::KeyShare* s) { s->set_version(2); }, "unsupported key share version 2"},
      {"scheme", [](pb::KeyShare* s) { s->set_scheme("gf256"); }, "unsupported key share scheme"},
      {"split id case",
       [](pb::KeyShare* s) { s->set_split_id("ABCDEF0123456789ABCDEF0123456789"); },
       "split_id must be 32 lower-case hex digits"},
      {"split id length", [](pb::KeyShare* s) { s->set_split_id("abcd"); }, "split_id"},
      {"index 0", [](pb::KeyShare* s) { s->set_index(0); }, "index must be between 1"},
      {"index > total", [](pb::KeyShare* s) { s->set_index(4); }, "index must be between 1"},
      {"threshold 1", [](pb::KeyShare* s) { s->set_threshold(1); }, "threshold must be"},
      {"threshold > total", [](pb::KeyShare* s) { s->set_threshold(4); }, "threshold must be"},
      {"total 256", [](pb::KeyShare* s) { s->set_total(256); }, "total must be between 2 and 255"},
      {"public key", [](pb::KeyShare* s) { s->set_public_key("00"); }, "public_key"},
      {"label", [](pb::KeyShare* s) { s->set_label(std::string(257, 'x')); }, "label is longer"},
      {"share size", [](pb::KeyShare* s) { s->set_share(std::string(31, 'x')); },
       "must hold 32 share bytes, got 31"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    pb::KeyShare s = good;
    c.change(&s);
    s.set_checksum(KeyShareChecksum(s));
    const Status st = ValidateKeyShare(s);
    CHECK(st.code() == StatusCode::kInvalidInput);
    CHECK(Contains(st.message(), c.says));
  }
  pb::KeyShare s = good;
  s.set_checksum("short");
  CHECK(Contains(ValidateKeyShare(s).message(), "checksum must be 32 bytes"));
  s = good;
  s.set_label("edited without a new checksum");
  CHECK(Contains(ValidateKeyShare(s).message(), "checksum does not match"));
}

TEST_CASE("shamir files: written 0600 as JSON, read back equal, never overwritten") {
  TempDir dir;
  const std::vector<pb::KeyShare> shares = Split(TestKey(), 2, 3);
  const auto path = dir.path() / "share-1-of-3.json";
  REQUIRE(WriteKeyShareFile(path, shares[0]).ok());
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  const std::string text = ReadText(path);
  CHECK(Contains(text, "\"version\": 1"));
  CHECK(Contains(text, "\"scheme\": \"cryptopp-secret-sharing-gf2_32\""));
  CHECK(Contains(text, "\"split_id\": \"" + shares[0].split_id() + "\""));
  CHECK(Contains(text, "\"index\": 1"));
  CHECK(Contains(text, "\"threshold\": 2"));
  CHECK(Contains(text, "\"total\": 3"));

  Result<pb::KeyShare> back = ReadKeyShareFile(path);
  REQUIRE(back.ok());
  CHECK(back->SerializeAsString() == shares[0].SerializeAsString());

  const Status again = WriteKeyShareFile(path, shares[1]);
  CHECK(again.code() == StatusCode::kIoError);
  CHECK(Contains(again.message(), "already exists"));
  CHECK(ReadText(path) == text);
  // No temporary file is left behind.
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  CHECK(files == 1);
}

TEST_CASE("shamir files: missing, empty, truncated, foreign and oversized files are refused") {
  TempDir dir;
  CHECK(ReadKeyShareFile(dir.path() / "missing.json").status().code() == StatusCode::kNotFound);

  const std::vector<pb::KeyShare> shares = Split(TestKey(), 2, 3);
  const std::string good = EncodeKeyShare(shares[0]).value();
  struct Case {
    std::string_view name;
    std::string text;
    std::string_view says;
  };
  std::string unknown = good;
  unknown.insert(1, "\"colour\": \"red\",");
  std::string edited = good;
  edited.replace(edited.find("\"index\": 1"), 10, "\"index\": 2");
  const std::string keystore =
      EncodeKeystore(TestKey(), std::nullopt, "dev").value();  // A keystore, not a share.
  const std::vector<Case> cases = {
      {"empty", "", "empty"},
      {"truncated", good.substr(0, good.size() / 2), "not a key share file"},
      {"not json", "hello", "not a key share file"},
      {"unknown field", unknown, "colour"},
      {"edited index", edited, "checksum does not match"},
      {"keystore", keystore, "not a key share file"},
      {"huge", std::string(kKeyShareFileBytesMax + 1, ' '), "larger than"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const auto path = dir.path() / (std::string(c.name) + ".json");
    WriteText(path, c.text);
    Result<pb::KeyShare> r = ReadKeyShareFile(path);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kInvalidInput);
    CHECK(Contains(r.status().message(), c.says));
    CHECK(Contains(r.status().message(), path.string()));
  }
}

// Shares written by this code (2 of 3) of the RFC 8032 §7.1 test 1 key. They pin the format and
// Crypto++'s arithmetic: shares stored today must combine in every later build. The seed was also
// recovered from them by an independent Lagrange interpolation over GF(2^32) (modulus
// x^32 + x^7 + x^3 + x^2 + 1, big-endian words, share i at x = i - 1, the secret at x = 2^32 - 1),
// which is how docs/keystore.md describes the scheme.
TEST_CASE("shamir: stored shares of a known key combine to it (known-answer vector)") {
  constexpr std::string_view kShare1 = R"({
 "version": 1,
 "scheme": "cryptopp-secret-sharing-gf2_32",
 "split_id": "d78d223489e9f5afb1002c94d3f102a1",
 "index": 1,
 "threshold": 2,
 "total": 3,
 "public_key": "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
 "label": "rfc8032-test-1",
 "share": "ZE5nYkpGiVgArHq1gHBSThtQmd8UFLhgPuccit7m9s4=",
 "checksum": "Lsf6v9bvvLgfJUkWIZVTy1NcOlzmWCbR9Q/hJMqBs8U="
})";
  constexpr std::string_view kShare3 = R"({
 "version": 1,
 "scheme": "cryptopp-secret-sharing-gf2_32",
 "split_id": "d78d223489e9f5afb1002c94d3f102a1",
 "index": 3,
 "threshold": 2,
 "total": 3,
 "public_key": "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
 "label": "rfc8032-test-1",
 "share": "8ZC9vQMg7cfJRFig5dke3xjzEqSsnclrvYeG+HQEp2U=",
 "checksum": "IR8H4H+wK35G1ZL6BtQ5cEOx6CGAAmfSVpomkOXRLF4="
})";
  Result<pb::KeyShare> s1 = ParseKeyShare(kShare1);
  Result<pb::KeyShare> s3 = ParseKeyShare(kShare3);
  REQUIRE_MESSAGE(s1.ok(), s1.status().ToString());
  REQUIRE_MESSAGE(s3.ok(), s3.status().ToString());
  const std::vector<NamedKeyShare> shares = {{"share-3", *s3}, {"share-1", *s1}};
  Result<SigningKey> key = CombineKeyShares(shares);
  REQUIRE_MESSAGE(key.ok(), key.status().ToString());
  CHECK(ToHex(key->seed()) == "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  CHECK(key->public_key().Hex() ==
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  // And the encoder writes exactly these bytes back.
  CHECK(EncodeKeyShare(*s1).value() == std::string(kShare1) + "\n");
}
