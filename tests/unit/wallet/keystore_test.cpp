// The wallet's passphrase sources and key loading. The terminal prompt itself is exercised on a
// pseudo-terminal in cli_binary_test.cpp; here the passphrase always comes from the environment,
// so these tests never wait for input.
#include "wallet-cli/keystore.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "core/crypto/keystore.h"
#include "test_util.h"

using namespace hallmark;
using hallmark::test::TempDir;

namespace {

// Sets HALLMARK_PASSPHRASE for one scope and removes it afterwards.
class ScopedPassphraseEnv {
 public:
  explicit ScopedPassphraseEnv(const std::string& value) {
    REQUIRE(::setenv(wallet::kPassphraseEnvVar, value.c_str(), 1) == 0);
  }
  ~ScopedPassphraseEnv() { ::unsetenv(wallet::kPassphraseEnvVar); }
  ScopedPassphraseEnv(const ScopedPassphraseEnv&) = delete;
  ScopedPassphraseEnv& operator=(const ScopedPassphraseEnv&) = delete;
};

const core::ScryptCost kFastCost{.n = 1u << 10, .r = 8, .p = 1};

}  // namespace

TEST_CASE("wallet passphrase: HALLMARK_PASSPHRASE is used as is for a new key") {
  ScopedPassphraseEnv env(" spaces kept ");
  core::Result<std::string> p = wallet::ReadNewPassphrase();
  REQUIRE(p.ok());
  CHECK(*p == " spaces kept ");
}

TEST_CASE("wallet passphrase: an empty or over-long HALLMARK_PASSPHRASE is invalid input") {
  {
    ScopedPassphraseEnv env("");
    core::Result<std::string> p = wallet::ReadNewPassphrase();
    REQUIRE_FALSE(p.ok());
    CHECK(p.status().code() == core::StatusCode::kInvalidInput);
    CHECK(p.status().message().find("HALLMARK_PASSPHRASE") != std::string::npos);
  }
  {
    ScopedPassphraseEnv env(std::string(wallet::kPassphraseBytesMax + 1, 'x'));
    CHECK(wallet::ReadNewPassphrase().status().code() == core::StatusCode::kInvalidInput);
  }
}

TEST_CASE("wallet: LoadSigningKey asks for a passphrase only when the keystore is encrypted") {
  TempDir dir;
  const core::SigningKey key = core::SigningKey::Generate();
  core::KeystoreWriteOptions options;
  options.cost = kFastCost;

  const auto dev = dir.path() / "dev.json";
  REQUIRE(core::WriteKeystore(dev, key, std::nullopt, options).ok());
  ::unsetenv(wallet::kPassphraseEnvVar);
  core::Result<core::SigningKey> plain = wallet::LoadSigningKey(dev);
  REQUIRE(plain.ok());
  CHECK(plain->public_key() == key.public_key());

  const auto enc = dir.path() / "enc.json";
  REQUIRE(core::WriteKeystore(enc, key, "pw", options).ok());
  {
    ScopedPassphraseEnv env("pw");
    core::Result<core::SigningKey> loaded = wallet::LoadSigningKey(enc);
    REQUIRE(loaded.ok());
    CHECK(loaded->public_key() == key.public_key());
  }
  {
    ScopedPassphraseEnv env("not-pw");
    core::Result<core::SigningKey> wrong = wallet::LoadSigningKey(enc);
    REQUIRE_FALSE(wrong.ok());
    CHECK(wrong.status().message().find("wrong passphrase or corrupted keystore") !=
          std::string::npos);
  }
  CHECK(wallet::LoadSigningKey(dir.path() / "missing.json").status().code() ==
        core::StatusCode::kNotFound);
}

TEST_CASE("wallet: WipeString clears the contents") {
  std::string s = "secret";
  wallet::WipeString(&s);
  CHECK(s.empty());
}
