// `hallmark key show | split | combine`, run in-process through the library functions and
// through the whole command line (wallet::Main).
#include "wallet-cli/key_commands.h"

#include <doctest/doctest.h>
#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "core/crypto/keystore.h"
#include "core/crypto/sha256.h"
#include "core/crypto/shamir.h"
#include "proto/share.pb.h"
#include "test_util.h"
#include "wallet-cli/keystore.h"

using namespace hallmark;
using hallmark::test::RunCli;
using hallmark::test::TempDir;
namespace fs = std::filesystem;

namespace {

const core::ScryptCost kFastCost{.n = 1u << 10, .r = 8, .p = 1};

// RFC 8032 §7.1, test 1.
constexpr std::string_view kRfcSeed =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr std::string_view kRfcPublicKey =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

struct Output {
  int code = -1;
  std::string out;
  std::string err;
};

core::SigningKey RfcKey() {
  return core::SigningKey::FromSeed(*core::FromHex(kRfcSeed)).value();
}

wallet::ExistingPassphraseSource FixedExisting(std::string p) {
  return [p](const fs::path&) { return core::Result<std::string>(p); };
}

wallet::ExistingPassphraseSource NeverAskedExisting() {
  return [](const fs::path&) {
    FAIL("the passphrase source must not be called");
    return core::Result<std::string>(core::Status::Internal("unreachable"));
  };
}

wallet::PassphraseSource FixedNew(std::string p) {
  return [p] { return core::Result<std::string>(p); };
}

wallet::PassphraseSource NeverAskedNew() {
  return [] {
    FAIL("the passphrase source must not be called");
    return core::Result<std::string>(core::Status::Internal("unreachable"));
  };
}

// Writes the RFC key to `name` in `dir`: encrypted with `passphrase`, or a development key.
fs::path WriteKey(const fs::path& dir, std::string_view name, std::optional<std::string> passphrase,
                  std::string label = "org:maison") {
  const fs::path path = dir / name;
  core::KeystoreWriteOptions options;
  options.label = std::move(label);
  options.cost = kFastCost;
  const core::Status s = core::WriteKeystore(
      path, RfcKey(), passphrase ? std::optional<std::string_view>(*passphrase) : std::nullopt,
      options);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  return path;
}

Output Show(const wallet::KeyShowOptions& options, const wallet::ExistingPassphraseSource& source) {
  std::ostringstream out, err;
  Output o;
  o.code = wallet::RunKeyShow(options, source, out, err);
  o.out = out.str();
  o.err = err.str();
  return o;
}

Output Split(const fs::path& keystore, uint32_t k, uint32_t n, const fs::path& out_dir,
             const wallet::ExistingPassphraseSource& source, bool json = false) {
  wallet::KeySplitOptions options;
  options.keystore = keystore;
  options.threshold = k;
  options.shares = n;
  options.out_dir = out_dir;
  options.json = json;
  std::ostringstream out, err;
  Output o;
  o.code = wallet::RunKeySplit(options, source, out, err);
  o.out = out.str();
  o.err = err.str();
  return o;
}

wallet::KeyCombineOptions CombineOptions(std::vector<fs::path> shares, const fs::path& out) {
  wallet::KeyCombineOptions options;
  options.shares = std::move(shares);
  options.out_path = out;
  options.cost = kFastCost;
  return options;
}

Output Combine(const wallet::KeyCombineOptions& options, const wallet::PassphraseSource& source) {
  std::ostringstream out, err;
  Output o;
  o.code = wallet::RunKeyCombine(options, source, out, err);
  o.out = out.str();
  o.err = err.str();
  return o;
}

// Share i of n as split writes it into `dir`.
fs::path SharePath(const fs::path& dir, uint32_t i, uint32_t n) {
  return dir / wallet::ShareFileName(i, n);
}

bool Contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

std::string ReadText(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t FilesIn(const fs::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

template <typename Message>
Message ParseJson(const std::string& line) {
  Message m;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  REQUIRE(google::protobuf::util::JsonStringToMessage(line, &m, options).ok());
  return m;
}

// Sets HALLMARK_PASSPHRASE for one scope.
class ScopedPassphraseEnv {
 public:
  explicit ScopedPassphraseEnv(const std::string& value) {
    REQUIRE(::setenv(wallet::kPassphraseEnvVar, value.c_str(), 1) == 0);
  }
  ~ScopedPassphraseEnv() { ::unsetenv(wallet::kPassphraseEnvVar); }
  ScopedPassphraseEnv(const ScopedPassphraseEnv&) = delete;
  ScopedPassphraseEnv& operator=(const ScopedPassphraseEnv&) = delete;
};

}  // namespace

TEST_CASE("key fingerprint: first 8 bytes of SHA-256 of the public key, in groups of four") {
  const core::PublicKey pk = core::PublicKey::FromHex(kRfcPublicKey).value();
  // sha256(d75a98…511a) starts 21fe31dfa154a261 (computed independently with Python's hashlib).
  CHECK(wallet::KeyFingerprint(pk) == "21fe:31df:a154:a261");
  const core::Hash256 digest = core::Sha256Of(pk.span());
  std::string expected = core::ToHex(digest.span().first(8));
  for (size_t pos : {12, 8, 4}) expected.insert(pos, ":");
  CHECK(wallet::KeyFingerprint(pk) == expected);
}

TEST_CASE("key show: prints the public key and fingerprint without asking for a passphrase") {
  TempDir dir;
  for (const bool encrypted : {true, false}) {
    CAPTURE(encrypted);
    const fs::path path = WriteKey(dir.path(), encrypted ? "enc.json" : "dev.json",
                                   encrypted ? std::optional<std::string>("pw") : std::nullopt);
    Output o = Show({.keystore = path}, NeverAskedExisting());
    REQUIRE(o.code == 0);
    CHECK(Contains(o.out, "public_key:  " + std::string(kRfcPublicKey) + "\n"));
    CHECK(Contains(o.out, "fingerprint: 21fe:31df:a154:a261\n"));
    CHECK(Contains(o.out, "label:       org:maison\n"));
    CHECK(
        Contains(o.out, encrypted ? "encrypted:   yes\n" : "encrypted:   no (development key)\n"));
    CHECK_FALSE(Contains(o.out, "verified"));
    CHECK(o.err.empty());
  }
}

TEST_CASE("key show --json: the KeyShowOutput message, one line") {
  TempDir dir;
  const fs::path path = WriteKey(dir.path(), "enc.json", "pw");
  Output o = Show({.keystore = path, .json = true}, NeverAskedExisting());
  REQUIRE(o.code == 0);
  REQUIRE(o.out.back() == '\n');
  CHECK(o.out.find('\n') == o.out.size() - 1);
  const auto msg = ParseJson<pb::KeyShowOutput>(o.out);
  CHECK(msg.public_key() == kRfcPublicKey);
  CHECK(msg.fingerprint() == "21fe:31df:a154:a261");
  CHECK(msg.label() == "org:maison");
  CHECK(msg.encrypted());
  CHECK_FALSE(msg.verified());
  // Every field is printed, false ones included, with the proto field names.
  CHECK(Contains(o.out, "\"verified\":false"));
}

TEST_CASE("key show --verify: decrypts with the passphrase, a wrong one exits 2") {
  TempDir dir;
  const fs::path path = WriteKey(dir.path(), "enc.json", "pw");
  Output ok = Show({.keystore = path, .verify = true}, FixedExisting("pw"));
  REQUIRE(ok.code == 0);
  CHECK(Contains(ok.out, "verified:    yes"));

  Output json = Show({.keystore = path, .json = true, .verify = true}, FixedExisting("pw"));
  REQUIRE(json.code == 0);
  CHECK(ParseJson<pb::KeyShowOutput>(json.out).verified());

  Output wrong = Show({.keystore = path, .verify = true}, FixedExisting("nope"));
  CHECK(wrong.code == 2);
  CHECK(Contains(wrong.err, "wrong passphrase or corrupted keystore"));
  CHECK(wrong.out.empty());

  Output no_tty = Show({.keystore = path, .verify = true}, [](const fs::path&) {
    return core::Result<std::string>(core::Status::IoError("no passphrase: not a terminal"));
  });
  CHECK(no_tty.code == 3);

  // A development key verifies without a passphrase.
  const fs::path dev = WriteKey(dir.path(), "dev.json", std::nullopt);
  CHECK(Show({.keystore = dev, .verify = true}, NeverAskedExisting()).code == 0);
}

TEST_CASE("key show: a missing file exits 3, a file that is not a keystore exits 2") {
  TempDir dir;
  Output missing = Show({.keystore = dir.path() / "nope.json"}, NeverAskedExisting());
  CHECK(missing.code == 3);
  CHECK(Contains(missing.err, "hallmark key show: keystore file not found"));

  std::ofstream(dir.path() / "bad.json") << "{\"version\": 1";
  Output bad = Show({.keystore = dir.path() / "bad.json"}, NeverAskedExisting());
  CHECK(bad.code == 2);
  CHECK(Contains(bad.err, "not valid keystore JSON"));
}

TEST_CASE("key split: writes N share files, mode 0600, and lists them") {
  TempDir dir;
  const fs::path key = WriteKey(dir.path(), "enc.json", "pw");
  const fs::path shares = dir.path() / "shares";  // Created by split.
  Output o = Split(key, 3, 5, shares, FixedExisting("pw"));
  REQUIRE_MESSAGE(o.code == 0, o.err);
  CHECK(Contains(o.out, "public_key:  " + std::string(kRfcPublicKey)));
  CHECK(Contains(o.out, "fingerprint: 21fe:31df:a154:a261"));
  CHECK(Contains(o.out, "threshold:   any 3 of the 5 shares restore the key"));
  CHECK(Contains(o.err, "wrote 5 share files (mode 0600)"));
  CHECK(FilesIn(shares) == 5);
  struct stat dir_st {};
  REQUIRE(::stat(shares.c_str(), &dir_st) == 0);
  CHECK((dir_st.st_mode & 0777) == 0700);

  std::string split_id;
  for (uint32_t i = 1; i <= 5; ++i) {
    const fs::path p = SharePath(shares, i, 5);
    CHECK(Contains(o.out, p.string() + "\n"));
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    core::Result<pb::KeyShare> share = core::ReadKeyShareFile(p);
    REQUIRE(share.ok());
    CHECK(share->index() == i);
    CHECK(share->threshold() == 3);
    CHECK(share->total() == 5);
    CHECK(share->public_key() == kRfcPublicKey);
    CHECK(share->label() == "org:maison");
    if (i == 1) split_id = share->split_id();
    CHECK(share->split_id() == split_id);
  }
  CHECK(Contains(o.out, "split_id:    " + split_id));
}

TEST_CASE("key split --json: the KeySplitOutput message") {
  TempDir dir;
  const fs::path key = WriteKey(dir.path(), "dev.json", std::nullopt);
  Output o = Split(key, 2, 3, dir.path() / "s", NeverAskedExisting(), /*json=*/true);
  REQUIRE(o.code == 0);
  const auto msg = ParseJson<pb::KeySplitOutput>(o.out);
  CHECK(msg.public_key() == kRfcPublicKey);
  CHECK(msg.fingerprint() == "21fe:31df:a154:a261");
  CHECK(msg.threshold() == 2);
  CHECK(msg.total() == 3);
  REQUIRE(msg.files_size() == 3);
  CHECK(msg.files(0) == SharePath(dir.path() / "s", 1, 3).string());
  CHECK(msg.split_id() == core::ReadKeyShareFile(msg.files(2)).value().split_id());
}

TEST_CASE("key split: bad K and N are usage errors (exit 3), checked before anything else") {
  TempDir dir;
  const fs::path key = WriteKey(dir.path(), "enc.json", "pw");
  struct Case {
    uint32_t k, n;
    std::string_view says;
  };
  for (const Case& c :
       {Case{1, 3, "threshold must be at least 2"},
        Case{4, 3, "threshold (4) cannot exceed the number of shares (3)"},
        Case{2, 256, "between 2 and 255, got 256"}, Case{0, 0, "between 2 and 255, got 0"}}) {
    CAPTURE(c.k);
    CAPTURE(c.n);
    Output o = Split(key, c.k, c.n, dir.path() / "s", NeverAskedExisting());
    CHECK(o.code == 3);
    CHECK(Contains(o.err, "hallmark key split: usage: "));
    CHECK(Contains(o.err, c.says));
    CHECK_FALSE(fs::exists(dir.path() / "s"));
  }
}

TEST_CASE("key split: refuses a folder that already holds shares, or a file, before asking") {
  TempDir dir;
  const fs::path key = WriteKey(dir.path(), "enc.json", "pw");
  const fs::path shares = dir.path() / "shares";
  REQUIRE(Split(key, 2, 3, shares, FixedExisting("pw")).code == 0);
  const std::string before = ReadText(SharePath(shares, 1, 3));

  // Another split into the same folder, even with other K and N, is refused outright.
  Output again = Split(key, 3, 4, shares, NeverAskedExisting());
  CHECK(again.code == 3);
  CHECK(Contains(again.err, "already holds share files"));
  CHECK(FilesIn(shares) == 3);
  CHECK(ReadText(SharePath(shares, 1, 3)) == before);

  // A folder holding other files is fine.
  const fs::path other = dir.path() / "other";
  fs::create_directory(other);
  std::ofstream(other / "README.txt") << "officer shares";
  CHECK(Split(key, 2, 2, other, FixedExisting("pw")).code == 0);
  CHECK(FilesIn(other) == 3);

  Output file = Split(key, 2, 3, key, NeverAskedExisting());
  CHECK(file.code == 3);
  CHECK(Contains(file.err, "is not a folder"));
}

TEST_CASE("key split: a wrong passphrase or a missing keystore writes nothing") {
  TempDir dir;
  const fs::path key = WriteKey(dir.path(), "enc.json", "pw");
  Output wrong = Split(key, 2, 3, dir.path() / "s", FixedExisting("nope"));
  CHECK(wrong.code == 2);
  CHECK(Contains(wrong.err, "wrong passphrase or corrupted keystore"));
  CHECK_FALSE(fs::exists(dir.path() / "s"));

  Output missing = Split(dir.path() / "none.json", 2, 3, dir.path() / "s", NeverAskedExisting());
  CHECK(missing.code == 3);
  CHECK_FALSE(fs::exists(dir.path() / "s"));
}

TEST_CASE("key combine: any K shares restore a keystore that signs identically") {
  TempDir dir;
  const fs::path key = WriteKey(dir.path(), "enc.json", "pw");
  const fs::path shares = dir.path() / "shares";
  REQUIRE(Split(key, 3, 5, shares, FixedExisting("pw")).code == 0);

  const core::SigningKey original = RfcKey();
  const std::string message = "register 01/00614141000012/21/BAG-0001";
  int n = 0;
  for (const std::vector<uint32_t>& subset :
       {std::vector<uint32_t>{1, 2, 3}, {5, 3, 1}, {2, 4, 5}, {1, 2, 3, 4, 5}}) {
    const fs::path out = dir.path() / ("restored-" + std::to_string(n++) + ".json");
    std::vector<fs::path> files;
    for (uint32_t i : subset) files.push_back(SharePath(shares, i, 5));
    Output o = Combine(CombineOptions(files, out), FixedNew("new-pw"));
    REQUIRE_MESSAGE(o.code == 0, o.err);
    CHECK(o.out == std::string(kRfcPublicKey) + "\n");
    CHECK(Contains(o.err, "restored key 21fe:31df:a154:a261 from " + std::to_string(subset.size()) +
                              " shares"));
    CHECK(Contains(o.err, "wrote encrypted keystore"));

    struct stat st {};
    REQUIRE(::stat(out.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    core::Result<core::SigningKey> restored = core::ReadKeystore(out, "new-pw");
    REQUIRE(restored.ok());
    CHECK(restored->public_key() == original.public_key());
    CHECK(restored->Sign(message) == original.Sign(message));
    CHECK(core::ReadKeystoreInfo(out).value().label() == "org:maison");
  }
}

TEST_CASE("key combine: --label, --no-passphrase and --json") {
  TempDir dir;
  const fs::path key = WriteKey(dir.path(), "dev.json", std::nullopt);
  const fs::path shares = dir.path() / "shares";
  REQUIRE(Split(key, 2, 3, shares, NeverAskedExisting()).code == 0);

  wallet::KeyCombineOptions options =
      CombineOptions({SharePath(shares, 3, 3), SharePath(shares, 1, 3)}, dir.path() / "out.json");
  options.no_passphrase = true;
  options.label = "org:maison (restored)";
  options.json = true;
  Output o = Combine(options, NeverAskedNew());
  REQUIRE_MESSAGE(o.code == 0, o.err);
  CHECK(Contains(o.err, "warning: --no-passphrase"));
  const auto msg = ParseJson<pb::KeyCombineOutput>(o.out);
  CHECK(msg.public_key() == kRfcPublicKey);
  CHECK(msg.fingerprint() == "21fe:31df:a154:a261");
  CHECK(msg.shares_used() == 2);
  CHECK(msg.file() == (dir.path() / "out.json").string());
  CHECK_FALSE(msg.encrypted());
  CHECK(msg.split_id() == core::ReadKeyShareFile(SharePath(shares, 1, 3)).value().split_id());

  const pb::Keystore info = core::ReadKeystoreInfo(dir.path() / "out.json").value();
  CHECK_FALSE(info.encrypted());
  CHECK(info.label() == "org:maison (restored)");
  CHECK(core::ReadKeystore(dir.path() / "out.json", std::nullopt).value().public_key() ==
        RfcKey().public_key());
}

TEST_CASE("key combine: refuses to overwrite --out, before reading shares or asking") {
  TempDir dir;
  const fs::path key = WriteKey(dir.path(), "dev.json", std::nullopt);
  const fs::path shares = dir.path() / "shares";
  REQUIRE(Split(key, 2, 2, shares, NeverAskedExisting()).code == 0);
  const std::string before = ReadText(key);
  Output o = Combine(CombineOptions({SharePath(shares, 1, 2), SharePath(shares, 2, 2)}, key),
                     NeverAskedNew());
  CHECK(o.code == 3);
  CHECK(Contains(o.err, "already exists; key combine never overwrites a file"));
  CHECK(ReadText(key) == before);

  Output folder = Combine(CombineOptions({SharePath(shares, 1, 2)}, dir.path()), NeverAskedNew());
  CHECK(folder.code == 3);
  CHECK(Contains(folder.err, "is a folder"));
}

TEST_CASE("key combine: too few, mixed, duplicated or corrupted shares exit 2, write nothing") {
  TempDir dir;
  const fs::path key = WriteKey(dir.path(), "dev.json", std::nullopt);
  const fs::path a = dir.path() / "a";
  const fs::path b = dir.path() / "b";
  REQUIRE(Split(key, 3, 5, a, NeverAskedExisting()).code == 0);
  REQUIRE(Split(key, 3, 5, b, NeverAskedExisting()).code == 0);
  const fs::path out = dir.path() / "out.json";

  auto combine = [&](std::vector<fs::path> files) {
    Output o = Combine(CombineOptions(std::move(files), out), NeverAskedNew());
    CHECK(o.code == 2);
    CHECK(o.out.empty());
    CHECK_FALSE(fs::exists(out));
    return o.err;
  };

  CHECK(Contains(combine({SharePath(a, 1, 5), SharePath(a, 4, 5)}),
                 "hallmark key combine: need 3 shares, got 2"));

  const std::string mixed = combine({SharePath(a, 1, 5), SharePath(a, 2, 5), SharePath(b, 3, 5)});
  CHECK(Contains(mixed, "different splits"));
  CHECK(Contains(mixed, SharePath(b, 3, 5).string()));

  const std::string dup = combine({SharePath(a, 1, 5), SharePath(a, 2, 5), SharePath(a, 2, 5)});
  CHECK(Contains(dup, "share 2 of 5 was given twice"));

  // A copy of share 2 under another name is still share 2.
  fs::copy_file(SharePath(a, 2, 5), dir.path() / "copy.json");
  CHECK(Contains(combine({SharePath(a, 1, 5), SharePath(a, 2, 5), dir.path() / "copy.json"}),
                 "was given twice"));

  // Flip one base64 character of the share bytes: the checksum catches it and names the file.
  const fs::path edited = dir.path() / "edited.json";
  std::string text = ReadText(SharePath(a, 3, 5));
  const size_t at = text.find("\"share\": \"") + 10;
  text[at] = text[at] == 'A' ? 'B' : 'A';
  std::ofstream(edited) << text;
  const std::string corrupt = combine({SharePath(a, 1, 5), SharePath(a, 2, 5), edited});
  CHECK(Contains(corrupt, edited.string()));
  CHECK(Contains(corrupt, "checksum does not match"));

  // Edited with a recomputed checksum: the restored key is not the recorded one.
  pb::KeyShare forged = core::ReadKeyShareFile(SharePath(a, 3, 5)).value();
  std::string bytes = forged.share();
  bytes[7] ^= 0x10;
  forged.set_share(bytes);
  forged.set_checksum(core::KeyShareChecksum(forged));
  REQUIRE(core::WriteKeyShareFile(dir.path() / "forged.json", forged).ok());
  CHECK(Contains(combine({SharePath(a, 1, 5), SharePath(a, 2, 5), dir.path() / "forged.json"}),
                 "do not restore the key they were split from"));

  // A keystore is not a share.
  CHECK(Contains(combine({SharePath(a, 1, 5), SharePath(a, 2, 5), key}), "not a key share file"));
}

TEST_CASE("key combine: a missing share file exits 3, passphrase problems exit 2 and 3") {
  TempDir dir;
  const fs::path key = WriteKey(dir.path(), "dev.json", std::nullopt);
  const fs::path shares = dir.path() / "shares";
  REQUIRE(Split(key, 2, 2, shares, NeverAskedExisting()).code == 0);
  const fs::path out = dir.path() / "out.json";

  Output missing = Combine(CombineOptions({SharePath(shares, 1, 2), dir.path() / "gone.json"}, out),
                           NeverAskedNew());
  CHECK(missing.code == 3);
  CHECK(Contains(missing.err, "share file not found"));

  const std::vector<fs::path> both = {SharePath(shares, 1, 2), SharePath(shares, 2, 2)};
  Output mismatch = Combine(CombineOptions(both, out), [] {
    return core::Result<std::string>(core::Status::InvalidInput("the two passphrases differ"));
  });
  CHECK(mismatch.code == 2);
  CHECK(Contains(mismatch.err, "the two passphrases differ"));
  Output no_tty = Combine(CombineOptions(both, out), [] {
    return core::Result<std::string>(core::Status::IoError("no passphrase"));
  });
  CHECK(no_tty.code == 3);
  CHECK_FALSE(fs::exists(out));

  // More files than any split has shares: refused before any is read.
  std::vector<fs::path> many(core::kKeySharesMax + 1, dir.path() / "gone.json");
  Output too_many = Combine(CombineOptions(many, out), NeverAskedNew());
  CHECK(too_many.code == 3);
  CHECK(Contains(too_many.err, "at most 255 share files, got 256"));
}

TEST_CASE("key commands: the full command line, with HALLMARK_PASSPHRASE") {
  TempDir dir;
  const std::string key = (dir.path() / "brand.json").string();
  const std::string shares = (dir.path() / "shares").string();
  const std::string restored = (dir.path() / "restored.json").string();
  ScopedPassphraseEnv env("brand-pw");

  test::CliRun keygen = RunCli({"keygen", "--out", key, "--label", "org:maison"});
  REQUIRE_MESSAGE(keygen.code == 0, keygen.err);
  const std::string public_key = keygen.out.substr(0, 64);

  test::CliRun show = RunCli({"key", "show", key, "--json"});
  REQUIRE(show.code == 0);
  const auto shown = ParseJson<pb::KeyShowOutput>(show.out);
  CHECK(shown.public_key() == public_key);
  // The global flag works before the command too.
  CHECK(RunCli({"--json", "key", "show", key}).out == show.out);
  CHECK(Contains(RunCli({"key", "show", key, "--verify"}).out, "verified:    yes"));

  test::CliRun split =
      RunCli({"key", "split", key, "--shares", "3", "--threshold", "2", "--out-dir", shares});
  REQUIRE_MESSAGE(split.code == 0, split.err);

  test::CliRun too_few =
      RunCli({"key", "combine", shares + "/share-2-of-3.json", "--out", restored});
  CHECK(too_few.code == 2);
  CHECK(Contains(too_few.err, "need 2 shares, got 1"));

  test::CliRun combine = RunCli({"key", "combine", shares + "/share-3-of-3.json",
                                 shares + "/share-1-of-3.json", "--out", restored});
  REQUIRE_MESSAGE(combine.code == 0, combine.err);
  CHECK(combine.out == public_key + "\n");
  test::CliRun again = RunCli({"key", "show", restored, "--json"});
  CHECK(ParseJson<pb::KeyShowOutput>(again.out).fingerprint() == shown.fingerprint());
  CHECK(ParseJson<pb::KeyShowOutput>(again.out).label() == "org:maison");
  CHECK(core::ReadKeystore(restored, "brand-pw").ok());
}

TEST_CASE("key commands: command-line usage errors exit 3") {
  TempDir dir;
  CHECK(RunCli({"key"}).code == 3);
  CHECK(RunCli({"key", "rotate"}).code == 3);
  CHECK(RunCli({"key", "show"}).code == 3);
  CHECK(RunCli({"key", "split", "k.json", "--shares", "3", "--out-dir", dir.str()}).code == 3);
  CHECK(RunCli(
            {"key", "split", "k.json", "--shares", "x", "--threshold", "2", "--out-dir", dir.str()})
            .code == 3);
  CHECK(RunCli({"key", "combine", "--out", (dir.path() / "o.json").string()}).code == 3);
  CHECK(RunCli({"key", "combine", "s.json"}).code == 3);
  test::CliRun help = RunCli({"key", "--help"});
  CHECK(help.code == 0);
  CHECK(Contains(help.out, "combine"));
}
