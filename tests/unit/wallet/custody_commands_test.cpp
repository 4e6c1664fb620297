// `hallmark prove-custody` and `hallmark check ID --custody-proof FILE --challenge TEXT` against
// the node's real API and ledger (live_node.h), in-process and as the built binary: the cloned-tag
// test as a seller and a marketplace run it.
#include "wallet-cli/custody_commands.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "cli_runner.h"
#include "core/clock.h"
#include "core/codec.h"
#include "core/custody_proof.h"
#include "fixtures.h"
#include "live_node.h"
#include "proto/api.pb.h"
#include "test_util.h"

using namespace hallmark;
using test::CliRun;
using test::RunCli;

namespace {

constexpr const char* kBag = "01/00614141000012/21/BAG-0001";
constexpr const char* kChallenge = "listing 4411: prove it";

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

struct Fixture {
  test::LiveNode node;
  test::TempDir dir;
  std::string maison = test::WriteDevKey(dir.path(), "maison");
  std::string resale = test::WriteDevKey(dir.path(), "resale");
  std::string alice = test::WriteDevKey(dir.path(), "alice");

  Fixture() { ::unsetenv(wallet::kNodeEnvVar); }

  CliRun Run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--node", node.url()});
    return RunCli(std::move(args));
  }
  void MustRun(std::vector<std::string> args) {
    CliRun r = Run(std::move(args));
    INFO(r.out, r.err);
    REQUIRE(r.code == 0);
  }
  // prove-custody to a file; returns its path.
  std::string Prove(const std::string& key, const std::string& name,
                    const std::string& challenge = kChallenge, const std::string& item = kBag) {
    const std::string path = (dir.path() / (name + ".json")).string();
    MustRun({"prove-custody", item, "--key", key, "--challenge", challenge, "--out", path});
    return path;
  }
  CliRun Check(const std::string& proof, const std::string& challenge = kChallenge,
               const std::string& item = kBag) {
    return Run({"check", item, "--custody-proof", proof, "--challenge", challenge});
  }
};

}  // namespace

TEST_CASE("cli custody: the custodian proves custody, a clone seller cannot") {
  Fixture f;
  f.MustRun({"register", "--key", f.maison, "--item", kBag, "--timeout", "10"});

  // prove-custody prints one short line of JSON without --out.
  CliRun printed = f.Run({"prove-custody", kBag, "--key", f.maison, "--challenge", kChallenge});
  INFO(printed.err);
  REQUIRE(printed.code == 0);
  CHECK(printed.out.size() < 500);
  CHECK(printed.out.find('\n') == printed.out.size() - 1);
  auto parsed = core::ParseCustodyProofJson(printed.out);
  REQUIRE(parsed.ok());
  CHECK(parsed->item_id() == kBag);
  CHECK(parsed->challenge() == kChallenge);
  CHECK(parsed->chain_id() == "hallmark-test");
  CHECK(Contains(printed.err, "custody proof for " + std::string(kBag)));

  const std::string good = f.Prove(f.maison, "maison");
  CliRun ok = f.Check(good);
  INFO(ok.out, ok.err);
  CHECK(ok.code == 0);
  CHECK(Contains(ok.out, "CUSTODY  ok: the signer is the item's current custodian"));
  CHECK(Contains(ok.out, "(organization maison)"));

  // Another organisation's key, and a consumer's key that is not the custodian.
  CliRun other = f.Check(f.Prove(f.resale, "resale"));
  CHECK(other.code == 1);
  CHECK(Contains(other.out, "CUSTODY  NOT PROVEN (not_custodian)"));
  CHECK(f.Check(f.Prove(f.alice, "alice")).code == 1);

  // The proof replayed on another listing.
  CliRun replay = f.Check(good, "listing 9999");
  CHECK(replay.code == 1);
  CHECK(Contains(replay.out, "(wrong_challenge)"));

  // One tampered byte of the file: the challenge, then the signature.
  std::string text = ReadAll(good);
  const size_t at = text.find("prove it");
  REQUIRE(at != std::string::npos);
  text[at] = 'P';
  const std::string tampered = (f.dir.path() / "tampered.json").string();
  WriteAll(tampered, text);
  CliRun bad = f.Check(tampered, "listing 4411: Prove it");
  CHECK(bad.code == 1);
  CHECK(Contains(bad.out, "(bad_signature)"));

  // After the sale, the old custodian's fresh proof fails and the buyer's passes.
  f.MustRun({"transfer", "--key", f.maison, "--item", kBag, "--to", test::PubFor("alice").Hex(),
             "--timeout", "10"});
  CliRun old = f.Check(f.Prove(f.maison, "maison-after"));
  CHECK(old.code == 1);
  CHECK(Contains(old.out, "(not_custodian)"));
  CHECK(f.Check(f.Prove(f.alice, "alice-after")).code == 0);

  // --json prints the API's CheckResponse with the custody result.
  CliRun json = f.Run({"check", kBag, "--custody-proof", f.Prove(f.alice, "alice-json"),
                       "--challenge", kChallenge, "--json"});
  CHECK(json.code == 0);
  pb::CheckResponse response;
  REQUIRE(core::FromJson(json.out, &response, "check").ok());
  REQUIRE(response.results_size() == 1);
  CHECK(response.results(0).custody().verdict() == "custodian");
  CHECK(response.results(0).custody().signer() == test::PubFor("alice").Hex());
}

TEST_CASE("cli custody: a stale proof, a proof for another item, and an unregistered item fail") {
  Fixture f;
  f.MustRun({"register", "--key", f.maison, "--item", kBag, "--timeout", "10"});
  // Signed 11 minutes ago (the library lets the test set the proof's time).
  wallet::ProveCustodyOptions o;
  o.item = kBag;
  o.key_path = f.maison;
  o.challenge = kChallenge;
  o.node_url = f.node.url();
  o.now_ms = core::UnixTimeMs() - 11 * 60 * 1000;
  o.out_path = f.dir.path() / "stale.json";
  std::ostringstream out, err;
  REQUIRE(wallet::RunProveCustody(o, out, err) == 0);
  CliRun stale = f.Check(o.out_path.string());
  CHECK(stale.code == 1);
  CHECK(Contains(stale.out, "(stale)"));

  const std::string other = f.Prove(f.maison, "other", kChallenge, "01/00614141000012/21/BAG-0002");
  CliRun wrong = f.Check(other);
  CHECK(wrong.code == 1);
  CHECK(Contains(wrong.out, "(wrong_item)"));
  CliRun unregistered = f.Check(other, kChallenge, "01/00614141000012/21/BAG-0002");
  CHECK(unregistered.code == 1);
  CHECK(Contains(unregistered.out, "not registered"));
}

TEST_CASE("cli custody: bad input is refused with a clear message and its exit code") {
  Fixture f;
  const std::string good = f.Prove(f.maison, "maison");
  // prove-custody: bad challenge or item (2), missing key file (3).
  CliRun r =
      f.Run({"prove-custody", kBag, "--key", f.maison, "--challenge", std::string(257, 'a')});
  CHECK(r.code == 2);
  CHECK(Contains(r.err, "limit is 256"));
  CHECK(f.Run({"prove-custody", kBag, "--key", f.maison, "--challenge", ""}).code == 2);
  CHECK(f.Run({"prove-custody", kBag, "--key", f.maison, "--challenge", "\xff"}).code == 2);
  CHECK(f.Run({"prove-custody", "nope", "--key", f.maison, "--challenge", "x"}).code == 2);
  CHECK(f.Run({"prove-custody", kBag, "--key", "/nonexistent.key", "--challenge", "x"}).code == 3);
  CHECK(f.Run({"prove-custody", kBag, "--key", f.maison}).code == 3);  // --challenge required.

  // check: the two options go together, with exactly one id.
  CHECK(f.Run({"check", kBag, "--custody-proof", good}).code == 3);
  CHECK(f.Run({"check", kBag, "--challenge", kChallenge}).code == 3);
  CHECK(f.Run({"check", kBag, kBag, "--custody-proof", good, "--challenge", kChallenge}).code == 3);
  CHECK(f.Check("/nonexistent.json").code == 3);
  CHECK(f.Check(f.dir.path().string()).code == 3);

  // Hostile proof files: each refused as not a custody proof (exit 2), none sent.
  const std::vector<std::string> hostile = {
      "",
      "{",
      "[]",
      R"({"signer":"***"})",
      R"({"time_ms":"-1"})",
      R"({"unknown":1})",
      std::string(5'000, '{'),
      std::string("\x00\x01\x02", 3),
  };
  for (const std::string& text : hostile) {
    const std::filesystem::path p = f.dir.path() / "hostile.json";
    WriteAll(p, text);
    CliRun h = f.Check(p.string());
    INFO(text.substr(0, 40), " → ", h.err);
    CHECK(h.code == 2);
    CHECK(Contains(h.err, "is not a custody proof"));
  }
  const std::filesystem::path big = f.dir.path() / "big.json";
  WriteAll(big, std::string(1 << 20, ' '));
  CliRun h = f.Check(big.string());
  CHECK(h.code == 2);
  CHECK(Contains(h.err, "larger than any custody proof"));
  // Parses, but the node finds it malformed: a challenge over 256 bytes, a 3-byte key.
  const std::filesystem::path long_challenge = f.dir.path() / "long.json";
  WriteAll(long_challenge, R"({"challenge":")" + std::string(7'000, 'a') + R"("})");
  CliRun l = f.Check(long_challenge.string());
  CHECK(l.code == 1);
  CHECK(Contains(l.out, "(malformed)"));
  const std::filesystem::path short_key = f.dir.path() / "short.json";
  WriteAll(short_key, R"({"chain_id":"hallmark-test","item_id":")" + std::string(kBag) +
                          R"(","challenge":"x","time_ms":"1","signer":"AAAA","signature":"AAAA"})");
  CliRun m = f.Check(short_key.string(), "x");
  CHECK(m.code == 1);
  CHECK(Contains(m.out, "(malformed)"));
}

TEST_CASE("cli custody: prove-custody --genesis signs offline for that network") {
  test::TempDir dir;
  const std::string key = test::WriteDevKey(dir.path(), "maison");
  const std::filesystem::path genesis = dir.path() / "genesis.json";
  WriteAll(genesis, core::ToJson(test::TestGenesis()).value());
  ::unsetenv(wallet::kNodeEnvVar);
  // No node listens here: the chain id comes from the file.
  CliRun r = RunCli({"--node", "http://127.0.0.1:1", "prove-custody", kBag, "--key", key,
                     "--challenge", "x", "--genesis", genesis.string()});
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto proof = core::ParseCustodyProofJson(r.out);
  REQUIRE(proof.ok());
  CHECK(proof->chain_id() == "hallmark-test");
}

// ---- The built binary ----

namespace {

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

ProcessResult RunBinary(const std::vector<std::string>& args) {
  const std::string binary = std::string(HALLMARK_BIN_DIR) + "/hallmark";
  REQUIRE_MESSAGE(std::filesystem::exists(binary), binary << " is missing");
  test::TempDir io;
  const std::string out_path = (io.path() / "out").string();
  const std::string err_path = (io.path() / "err").string();
  std::vector<std::string> storage = {binary};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int in = ::open("/dev/null", O_RDONLY);
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0 || err < 0) ::_exit(120);
    ::dup2(in, STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    ::execv(binary.c_str(), argv.data());
    ::_exit(121);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  return {WEXITSTATUS(status), ReadAll(out_path), ReadAll(err_path)};
}

}  // namespace

TEST_CASE(
    "hallmark binary: prove-custody and check --custody-proof, exit 0 only for the custodian") {
  Fixture f;
  f.MustRun({"register", "--key", f.maison, "--item", kBag, "--timeout", "10"});
  const std::string proof = (f.dir.path() / "bin-proof.json").string();
  ProcessResult p = RunBinary({"--node", f.node.url(), "prove-custody", kBag, "--key", f.maison,
                               "--challenge", kChallenge, "--out", proof});
  INFO(p.err);
  REQUIRE(p.exit_code == 0);
  ProcessResult ok = RunBinary(
      {"--node", f.node.url(), "check", kBag, "--custody-proof", proof, "--challenge", kChallenge});
  INFO(ok.out, ok.err);
  CHECK(ok.exit_code == 0);
  CHECK(Contains(ok.out, "CUSTODY  ok"));

  const std::string clone = (f.dir.path() / "bin-clone.json").string();
  REQUIRE(RunBinary({"--node", f.node.url(), "prove-custody", kBag, "--key", f.resale,
                     "--challenge", kChallenge, "--out", clone})
              .exit_code == 0);
  ProcessResult no = RunBinary(
      {"--node", f.node.url(), "check", kBag, "--custody-proof", clone, "--challenge", kChallenge});
  CHECK(no.exit_code == 1);
  CHECK(Contains(no.out, "(not_custodian)"));
  ProcessResult replay = RunBinary({"--node", f.node.url(), "check", kBag, "--custody-proof", proof,
                                    "--challenge", "another listing"});
  CHECK(replay.exit_code == 1);
  CHECK(Contains(replay.out, "(wrong_challenge)"));
}
