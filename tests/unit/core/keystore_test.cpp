#include "core/crypto/keystore.h"

#include <doctest/doctest.h>
#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/crypto/ed25519.h"
#include "test_util.h"

using namespace hallmark::core;
using hallmark::test::TempDir;
namespace pb = hallmark::pb;

namespace {

// Cheap scrypt for tests; the format is the same as with the default cost.
const ScryptCost kFastCost{.n = 1u << 10, .r = 8, .p = 1};

KeystoreWriteOptions Fast(std::string label = "test") {
  KeystoreWriteOptions o;
  o.label = std::move(label);
  o.cost = kFastCost;
  return o;
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

std::string ToJson(const pb::Keystore& ks) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  REQUIRE(google::protobuf::util::MessageToJsonString(ks, &json, options).ok());
  return json;
}

// A valid encrypted keystore as a message, for tests that edit one field.
pb::Keystore EncryptedKeystore(const SigningKey& key, std::string_view passphrase) {
  Result<std::string> json = EncodeKeystore(key, passphrase, "label", kFastCost);
  REQUIRE(json.ok());
  Result<pb::Keystore> ks = ParseKeystore(*json);
  REQUIRE(ks.ok());
  return *ks;
}

}  // namespace

TEST_CASE("keystore: encrypted round trip restores the same key, file mode 0600") {
  TempDir dir;
  const auto path = dir.path() / "key.json";
  const SigningKey key = SigningKey::Generate();
  REQUIRE(WriteKeystore(path, key, "correct horse", Fast("org:acme")).ok());

  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  const std::string text = ReadText(path);
  CHECK(text.find("\"encrypted\": true") != std::string::npos);
  CHECK(text.find("\"cipher\": \"aes-256-gcm\"") != std::string::npos);
  CHECK(text.find("\"public_key\": \"" + key.public_key().Hex() + "\"") != std::string::npos);

  Result<SigningKey> back = ReadKeystore(path, "correct horse");
  REQUIRE(back.ok());
  CHECK(back->public_key() == key.public_key());
  CHECK(ToHex(back->seed()) == ToHex(key.seed()));

  // Only the keystore is left in the folder: the temporary file was renamed or removed.
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  CHECK(files == 1);
}

TEST_CASE("keystore: the default scrypt cost is N=2^15, r=8, p=1 and works") {
  const ScryptCost cost;
  CHECK(cost.n == 32768);
  CHECK(cost.r == 8);
  CHECK(cost.p == 1);
  TempDir dir;
  const auto path = dir.path() / "key.json";
  const SigningKey key = SigningKey::Generate();
  REQUIRE(WriteKeystore(path, key, "pw", KeystoreWriteOptions{}).ok());
  Result<pb::Keystore> info = ReadKeystoreInfo(path);
  REQUIRE(info.ok());
  CHECK(info->kdf().n() == 32768);
  CHECK(info->kdf().r() == 8);
  CHECK(info->kdf().p() == 1);
  CHECK(info->kdf().salt().size() == kKeystoreSaltSize);
  CHECK(ReadKeystore(path, "pw").ok());
}

TEST_CASE("keystore: a wrong passphrase gives a clear error") {
  TempDir dir;
  const auto path = dir.path() / "key.json";
  const SigningKey key = SigningKey::Generate();
  REQUIRE(WriteKeystore(path, key, "right", Fast()).ok());
  for (std::string_view wrong : {"wrong", "Right", "right ", ""}) {
    Result<SigningKey> r = ReadKeystore(path, wrong);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kInvalidInput);
    CHECK(r.status().message().find("wrong passphrase or corrupted keystore") != std::string::npos);
  }
}

TEST_CASE("keystore: an encrypted keystore read without a passphrase says one is needed") {
  TempDir dir;
  const auto path = dir.path() / "key.json";
  REQUIRE(WriteKeystore(path, SigningKey::Generate(), "pw", Fast()).ok());
  Result<SigningKey> r = ReadKeystore(path, std::nullopt);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("passphrase is needed") != std::string::npos);
}

TEST_CASE("keystore: development keys are stored plainly and marked encrypted=false") {
  TempDir dir;
  const auto path = dir.path() / "dev.json";
  const SigningKey key = SigningKey::Generate();
  REQUIRE(WriteKeystore(path, key, std::nullopt, Fast("dev")).ok());
  const std::string text = ReadText(path);
  CHECK(text.find("\"encrypted\": false") != std::string::npos);

  Result<pb::Keystore> info = ReadKeystoreInfo(path);
  REQUIRE(info.ok());
  CHECK_FALSE(KeystoreNeedsPassphrase(*info));
  CHECK(info->label() == "dev");
  CHECK(info->ciphertext().empty());  // The plain seed is not handed out with the info.

  Result<SigningKey> back = ReadKeystore(path, std::nullopt);
  REQUIRE(back.ok());
  CHECK(back->public_key() == key.public_key());
  // A passphrase is ignored for a development key.
  CHECK(ReadKeystore(path, "anything").ok());
}

TEST_CASE("keystore: info gives the public key and label without the passphrase") {
  TempDir dir;
  const auto path = dir.path() / "key.json";
  const SigningKey key = SigningKey::Generate();
  REQUIRE(WriteKeystore(path, key, "pw", Fast("org:acme")).ok());
  Result<pb::Keystore> info = ReadKeystoreInfo(path);
  REQUIRE(info.ok());
  CHECK(info->public_key() == key.public_key().Hex());
  CHECK(info->label() == "org:acme");
  CHECK(KeystoreNeedsPassphrase(*info));
}

TEST_CASE("keystore: an existing file is not overwritten unless asked") {
  TempDir dir;
  const auto path = dir.path() / "key.json";
  const SigningKey first = SigningKey::Generate();
  const SigningKey second = SigningKey::Generate();
  REQUIRE(WriteKeystore(path, first, std::nullopt, Fast()).ok());
  const std::string before = ReadText(path);

  Status s = WriteKeystore(path, second, std::nullopt, Fast());
  CHECK(s.code() == StatusCode::kIoError);
  CHECK(s.message().find("already exists") != std::string::npos);
  CHECK(ReadText(path) == before);

  KeystoreWriteOptions o = Fast();
  o.overwrite = true;
  REQUIRE(WriteKeystore(path, second, std::nullopt, o).ok());
  Result<SigningKey> back = ReadKeystore(path, std::nullopt);
  REQUIRE(back.ok());
  CHECK(back->public_key() == second.public_key());
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  CHECK(files == 1);
}

TEST_CASE("keystore: bad arguments to write are rejected") {
  TempDir dir;
  const SigningKey key = SigningKey::Generate();
  Status empty = WriteKeystore(dir.path() / "a.json", key, "", Fast());
  CHECK(empty.code() == StatusCode::kInvalidInput);
  CHECK(empty.message().find("--no-passphrase") != std::string::npos);

  Status long_label = WriteKeystore(dir.path() / "b.json", key, "pw", Fast(std::string(1000, 'x')));
  CHECK(long_label.code() == StatusCode::kInvalidInput);

  KeystoreWriteOptions bad_n = Fast();
  bad_n.cost.n = 1000;  // Not a power of two.
  CHECK(WriteKeystore(dir.path() / "c.json", key, "pw", bad_n).code() == StatusCode::kInvalidInput);

  CHECK(WriteKeystore(dir.path() / "missing-folder" / "d.json", key, "pw", Fast()).code() ==
        StatusCode::kIoError);
  CHECK(std::filesystem::is_empty(dir.path()));
}

TEST_CASE("keystore: missing, empty, huge and non-JSON files give clear errors") {
  TempDir dir;
  Result<SigningKey> missing = ReadKeystore(dir.path() / "nope.json", "pw");
  CHECK(missing.status().code() == StatusCode::kNotFound);

  WriteText(dir.path() / "empty.json", "");
  Result<pb::Keystore> empty = ReadKeystoreInfo(dir.path() / "empty.json");
  CHECK(empty.status().message().find("empty") != std::string::npos);

  WriteText(dir.path() / "huge.json", std::string(kKeystoreFileBytesMax + 1, ' '));
  Result<pb::Keystore> huge = ReadKeystoreInfo(dir.path() / "huge.json");
  CHECK(huge.status().code() == StatusCode::kInvalidInput);
  CHECK(huge.status().message().find("larger than") != std::string::npos);

  WriteText(dir.path() / "junk.json", "this is not json");
  Result<pb::Keystore> junk = ReadKeystoreInfo(dir.path() / "junk.json");
  CHECK(junk.status().code() == StatusCode::kInvalidInput);
  CHECK(junk.status().message().find("not valid keystore JSON") != std::string::npos);

  // A folder is not a keystore either.
  CHECK_FALSE(ReadKeystoreInfo(dir.path()).ok());
}

TEST_CASE("keystore: every truncation of a keystore is rejected without a crash") {
  const SigningKey key = SigningKey::Generate();
  for (std::optional<std::string_view> pass :
       {std::optional<std::string_view>("pw"), std::optional<std::string_view>()}) {
    Result<std::string> json = EncodeKeystore(key, pass, "label", kFastCost);
    REQUIRE(json.ok());
    REQUIRE(DecodeKeystore(*json, pass).ok());
    // Every prefix that lacks the closing brace, from the empty file on.
    const size_t closing = json->rfind('}');
    REQUIRE(closing != std::string::npos);
    for (size_t len = 0; len <= closing; ++len) {
      CAPTURE(len);
      CHECK_FALSE(ParseKeystore(std::string_view(*json).substr(0, len)).ok());
    }
  }
}

TEST_CASE("keystore: unknown versions and unknown fields are rejected") {
  const SigningKey key = SigningKey::Generate();
  pb::Keystore ks = EncryptedKeystore(key, "pw");
  ks.set_version(2);
  Result<SigningKey> v2 = DecodeKeystore(ToJson(ks), "pw");
  CHECK(v2.status().message().find("unsupported keystore version 2") != std::string::npos);
  ks.set_version(0);
  CHECK(DecodeKeystore(ToJson(ks), "pw").status().message().find("no version") !=
        std::string::npos);

  ks.set_version(1);
  std::string json = ToJson(ks);
  REQUIRE(DecodeKeystore(json, "pw").ok());
  json.insert(1, "\"colour\":\"blue\",");
  Result<SigningKey> unknown = DecodeKeystore(json, "pw");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().message().find("colour") != std::string::npos);
}

TEST_CASE("keystore: wrong sizes of each field are rejected with the field named") {
  const SigningKey key = SigningKey::Generate();
  const pb::Keystore good = EncryptedKeystore(key, "pw");
  struct Case {
    const char* name;
    void (*edit)(pb::Keystore*);
    const char* expect;
  };
  const Case cases[] = {
      {"short nonce", [](pb::Keystore* k) { k->mutable_nonce()->pop_back(); }, "nonce"},
      {"long tag", [](pb::Keystore* k) { k->mutable_tag()->push_back('x'); }, "tag"},
      {"short ciphertext", [](pb::Keystore* k) { k->mutable_ciphertext()->pop_back(); },
       "ciphertext"},
      {"short salt", [](pb::Keystore* k) { k->mutable_kdf()->set_salt("12345678"); }, "salt"},
      {"short public key", [](pb::Keystore* k) { k->mutable_public_key()->pop_back(); },
       "public_key"},
      {"non-hex public key", [](pb::Keystore* k) { (*k->mutable_public_key())[0] = 'z'; },
       "public_key"},
      {"other cipher", [](pb::Keystore* k) { k->set_cipher("chacha20"); }, "cipher"},
      {"no kdf", [](pb::Keystore* k) { k->clear_kdf(); }, "kdf"},
      {"huge N", [](pb::Keystore* k) { k->mutable_kdf()->set_n(uint64_t{1} << 40); }, "scrypt N"},
      {"N not a power of two", [](pb::Keystore* k) { k->mutable_kdf()->set_n(1000); }, "scrypt N"},
      {"r zero", [](pb::Keystore* k) { k->mutable_kdf()->set_r(0); }, "scrypt r"},
      {"huge p", [](pb::Keystore* k) { k->mutable_kdf()->set_p(1000000); }, "scrypt p"},
      {"memory", [](pb::Keystore* k) { k->mutable_kdf()->set_n(uint64_t{1} << 20); }, "MiB"},
      {"plain with cipher fields", [](pb::Keystore* k) { k->set_encrypted(false); },
       "encrypted=false"},
      {"long label", [](pb::Keystore* k) { k->set_label(std::string(300, 'x')); }, "label"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    pb::Keystore ks = good;
    c.edit(&ks);
    Result<SigningKey> r = DecodeKeystore(ToJson(ks), "pw");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kInvalidInput);
    CHECK_MESSAGE(r.status().message().find(c.expect) != std::string::npos, r.status().message());
  }
}

TEST_CASE("keystore: tampering with ciphertext, tag, nonce, salt or public key is detected") {
  const SigningKey key = SigningKey::Generate();
  const SigningKey other = SigningKey::Generate();
  const pb::Keystore good = EncryptedKeystore(key, "pw");
  REQUIRE(DecodeKeystore(ToJson(good), "pw").ok());
  for (int field = 0; field < 5; ++field) {
    CAPTURE(field);
    pb::Keystore ks = good;
    switch (field) {
      case 0:
        (*ks.mutable_ciphertext())[5] ^= 1;
        break;
      case 1:
        (*ks.mutable_tag())[0] ^= 1;
        break;
      case 2:
        (*ks.mutable_nonce())[11] ^= 1;
        break;
      case 3:
        (*ks.mutable_kdf()->mutable_salt())[3] ^= 1;
        break;
      case 4:
        ks.set_public_key(other.public_key().Hex());
        break;  // Authenticated as AAD.
    }
    Result<SigningKey> r = DecodeKeystore(ToJson(ks), "pw");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message() == "wrong passphrase or corrupted keystore");
  }
}

TEST_CASE("keystore: a development key whose seed does not match its public key is rejected") {
  const SigningKey key = SigningKey::Generate();
  const SigningKey other = SigningKey::Generate();
  Result<std::string> json = EncodeKeystore(key, std::nullopt, "dev", kFastCost);
  REQUIRE(json.ok());
  Result<pb::Keystore> ks = ParseKeystore(*json);
  REQUIRE(ks.ok());
  ks->set_public_key(other.public_key().Hex());
  Result<SigningKey> r = DecodeKeystore(ToJson(*ks), std::nullopt);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("does not derive its public key") != std::string::npos);
}
