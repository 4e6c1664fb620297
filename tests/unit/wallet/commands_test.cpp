// The CLI's commands run in-process through the library functions main() uses.
#include "wallet-cli/commands.h"

#include <doctest/doctest.h>
#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "core/crypto/keystore.h"
#include "proto/cli.pb.h"
#include "test_util.h"

using namespace hallmark;
using hallmark::test::TempDir;
using wallet::ExitCode;

namespace {

// GS1's example GTIN with a valid check digit.
constexpr std::string_view kGtin = "09506000134352";

struct Output {
  int code = -1;
  std::string out;
  std::string err;
};

Output Id(std::string_view input, bool json = false) {
  std::ostringstream out, err;
  Output o;
  o.code = wallet::RunId(input, json, out, err);
  o.out = out.str();
  o.err = err.str();
  return o;
}

// Runs the whole CLI (argument parsing included) in-process.
Output Cli(std::vector<std::string> args) {
  args.insert(args.begin(), "hallmark");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  Output o;
  o.code = wallet::Main(static_cast<int>(argv.size()), argv.data(), out, err);
  o.out = out.str();
  o.err = err.str();
  return o;
}

wallet::KeygenOptions FastKeygen(const std::filesystem::path& path) {
  wallet::KeygenOptions o;
  o.out_path = path;
  o.cost = core::ScryptCost{.n = 1u << 10, .r = 8, .p = 1};
  return o;
}

Output Keygen(const wallet::KeygenOptions& options, wallet::PassphraseSource source) {
  std::ostringstream out, err;
  Output o;
  o.code = wallet::RunKeygen(options, source, out, err);
  o.out = out.str();
  o.err = err.str();
  return o;
}

wallet::PassphraseSource Fixed(std::string p) {
  return [p] { return core::Result<std::string>(p); };
}

wallet::PassphraseSource NeverAsked() {
  return [] {
    FAIL("the passphrase source must not be called");
    return core::Result<std::string>(core::Status::Internal("unreachable"));
  };
}

}  // namespace

TEST_CASE("cli id: a Digital Link URL prints the canonical id and the Digital Link") {
  Output o = Id("https://example.com/01/" + std::string(kGtin) + "/21/ABC123?x=1");
  CHECK(o.code == 0);
  CHECK(o.out ==
        "canonical:    01/09506000134352/21/ABC123\n"
        "digital_link: https://id.gs1.org/01/09506000134352/21/ABC123\n");
  CHECK(o.err.empty());
}

TEST_CASE("cli id: element strings and the canonical form are accepted too") {
  CHECK(Id("(01)09506000134352(21)ABC123").out.find("01/09506000134352/21/ABC123") !=
        std::string::npos);
  CHECK(Id("01/09506000134352/21/ABC123").code == 0);
}

TEST_CASE("cli id: --json prints canonical and digital_link through the proto JSON mapping") {
  Output o = Id("(01)09506000134352(21)A/B", /*json=*/true);
  REQUIRE(o.code == 0);
  CHECK(o.out.back() == '\n');
  pb::IdOutput parsed;
  REQUIRE(google::protobuf::util::JsonStringToMessage(o.out, &parsed).ok());
  CHECK(parsed.canonical() == "01/09506000134352/21/A/B");
  CHECK(parsed.digital_link() == "https://id.gs1.org/01/09506000134352/21/A%2FB");
  CHECK(o.out.find("\"digital_link\"") != std::string::npos);
}

TEST_CASE("cli id: a bad id prints the reason on stderr and exits 2") {
  for (std::string_view bad : {"", "nonsense", "(01)09506000134353(21)ABC",  // Bad check digit.
                               "https://id.gs1.org/01/09506000134352"}) {    // No serial.
    CAPTURE(bad);
    Output o = Id(bad);
    CHECK(o.code == 2);
    CHECK(o.out.empty());
    CHECK(o.err.find("invalid item id") != std::string::npos);
    Output j = Id(bad, /*json=*/true);
    CHECK(j.code == 2);
    CHECK(j.out.empty());
  }
}

TEST_CASE("cli: --help exits 0 and documents the exit codes") {
  Output o = Cli({"--help"});
  CHECK(o.code == 0);
  CHECK(o.out.find("Exit codes") != std::string::npos);
  CHECK(o.out.find("2  invalid input") != std::string::npos);
  CHECK(o.out.find("3  file or usage error") != std::string::npos);
  CHECK(o.out.find("keygen") != std::string::npos);
  CHECK(Cli({"keygen", "--help"}).code == 0);
}

TEST_CASE("cli: usage errors exit 3") {
  CHECK(Cli({}).code == 3);
  CHECK(Cli({"frobnicate"}).code == 3);
  CHECK(Cli({"id"}).code == 3);
  CHECK(Cli({"id", "01/09506000134352/21/A", "--bogus"}).code == 3);
  Output o = Cli({"keygen"});
  CHECK(o.code == 3);
  CHECK(o.err.find("--out") != std::string::npos);
}

TEST_CASE("cli: the id command through the full command line") {
  Output o = Cli({"id", "(01)09506000134352(21)XYZ", "--json"});
  CHECK(o.code == 0);
  CHECK(o.out ==
        "{\"canonical\":\"01/09506000134352/21/XYZ\","
        "\"digital_link\":\"https://id.gs1.org/01/09506000134352/21/XYZ\"}\n");
  CHECK(Cli({"id", "bad"}).code == 2);
}

TEST_CASE("cli keygen: writes an encrypted keystore and prints its public key") {
  TempDir dir;
  const auto path = dir.path() / "k.json";
  wallet::KeygenOptions options = FastKeygen(path);
  options.label = "org:acme";
  Output o = Keygen(options, Fixed("hunter2"));
  REQUIRE(o.code == 0);
  REQUIRE(o.out.size() == 65);  // 64 hex digits and a newline.
  const std::string pk = o.out.substr(0, 64);

  core::Result<core::SigningKey> key = core::ReadKeystore(path, "hunter2");
  REQUIRE(key.ok());
  CHECK(key->public_key().Hex() == pk);
  core::Result<pb::Keystore> info = core::ReadKeystoreInfo(path);
  REQUIRE(info.ok());
  CHECK(info->encrypted());
  CHECK(info->label() == "org:acme");
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(o.err.find("warning") == std::string::npos);
}

TEST_CASE("cli keygen: --no-passphrase warns on stderr and never asks for a passphrase") {
  TempDir dir;
  const auto path = dir.path() / "dev.json";
  wallet::KeygenOptions options = FastKeygen(path);
  options.no_passphrase = true;
  Output o = Keygen(options, NeverAsked());
  REQUIRE(o.code == 0);
  CHECK(o.err.find("warning") != std::string::npos);
  CHECK(o.err.find("development only") != std::string::npos);
  core::Result<pb::Keystore> info = core::ReadKeystoreInfo(path);
  REQUIRE(info.ok());
  CHECK_FALSE(info->encrypted());
  CHECK(info->public_key() + "\n" == o.out);
}

TEST_CASE("cli keygen: refuses to overwrite without --force, replaces with it") {
  TempDir dir;
  const auto path = dir.path() / "k.json";
  wallet::KeygenOptions options = FastKeygen(path);
  options.no_passphrase = true;
  Output first = Keygen(options, NeverAsked());
  REQUIRE(first.code == 0);

  Output again = Keygen(options, NeverAsked());
  CHECK(again.code == 3);
  CHECK(again.out.empty());
  CHECK(again.err.find("already exists") != std::string::npos);
  CHECK(again.err.find("--force") != std::string::npos);
  CHECK(core::ReadKeystoreInfo(path)->public_key() + "\n" == first.out);

  options.force = true;
  Output forced = Keygen(options, NeverAsked());
  CHECK(forced.code == 0);
  CHECK(forced.out != first.out);
  CHECK(core::ReadKeystoreInfo(path)->public_key() + "\n" == forced.out);
}

TEST_CASE("cli keygen: passphrase problems map to exit codes 2 and 3") {
  TempDir dir;
  const auto path = dir.path() / "k.json";
  Output mismatch = Keygen(FastKeygen(path), [] {
    return core::Result<std::string>(core::Status::InvalidInput("the two passphrases differ"));
  });
  CHECK(mismatch.code == 2);
  CHECK(mismatch.err.find("differ") != std::string::npos);

  Output no_tty = Keygen(FastKeygen(path), [] {
    return core::Result<std::string>(core::Status::IoError("standard input is not a terminal"));
  });
  CHECK(no_tty.code == 3);

  Output empty = Keygen(FastKeygen(path), Fixed(""));
  CHECK(empty.code == 2);
  CHECK(empty.err.find("--no-passphrase") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("cli keygen: an unwritable destination exits 3") {
  TempDir dir;
  Output o = Keygen(FastKeygen(dir.path() / "no-such-folder" / "k.json"), Fixed("pw"));
  CHECK(o.code == 3);
  CHECK(o.out.empty());
  Output folder = Keygen(FastKeygen(dir.path()), Fixed("pw"));
  CHECK(folder.code == 3);
}

TEST_CASE("cli keygen: an over-long label is invalid input") {
  TempDir dir;
  wallet::KeygenOptions options = FastKeygen(dir.path() / "k.json");
  options.label = std::string(1000, 'x');
  CHECK(Keygen(options, Fixed("pw")).code == 2);
}

TEST_CASE("cli keygen: the full command line reads HALLMARK_PASSPHRASE") {
  TempDir dir;
  const auto path = dir.path() / "k.json";
  REQUIRE(::setenv("HALLMARK_PASSPHRASE", "from-env", 1) == 0);
  Output o = Cli({"keygen", "--out", path.string(), "--label", "env"});
  ::unsetenv("HALLMARK_PASSPHRASE");
  REQUIRE(o.code == 0);
  core::Result<core::SigningKey> key = core::ReadKeystore(path, "from-env");
  REQUIRE(key.ok());
  CHECK(key->public_key().Hex() + "\n" == o.out);
}
