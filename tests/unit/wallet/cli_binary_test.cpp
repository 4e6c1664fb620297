// Runs the built `hallmark` binary as a real process: exit codes, stdout/stderr, the
// environment variable, and the no-echo passphrase prompt on a pseudo-terminal.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/crypto/keystore.h"
#include "test_util.h"

using hallmark::test::TempDir;
namespace core = hallmark::core;

namespace {

std::string BinaryPath() {
  const std::string path = std::string(HALLMARK_BIN_DIR) + "/hallmark";
  REQUIRE_MESSAGE(std::filesystem::exists(path),
                  "build the `hallmark` target first: " << path << " is missing");
  return path;
}

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs the binary with stdin from /dev/null, HALLMARK_PASSPHRASE unset unless `passphrase` is
// given, and stdout/stderr captured in files.
ProcessResult Run(const std::vector<std::string>& args, const char* passphrase = nullptr) {
  const std::string binary = BinaryPath();
  TempDir io;
  const std::string out_path = (io.path() / "out").string();
  const std::string err_path = (io.path() / "err").string();
  std::vector<std::string> argv_storage = {binary};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
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
    ::unsetenv("HALLMARK_PASSPHRASE");
    if (passphrase != nullptr) ::setenv("HALLMARK_PASSPHRASE", passphrase, 1);
    ::execv(binary.c_str(), argv.data());
    ::_exit(121);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  ProcessResult r;
  r.exit_code = WEXITSTATUS(status);
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  return r;
}

// Reads from the pty master until `needle` has appeared in `*seen` or the deadline passes.
bool ReadUntil(int fd, std::string* seen, std::string_view needle) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (seen->find(needle) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[256];
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) return false;  // EIO once the child has closed the terminal.
    seen->append(buf, static_cast<size_t>(n));
  }
  return true;
}

void ReadToEnd(int fd, std::string* seen) {
  while (ReadUntil(fd, seen, "\x01never\x01")) {
  }
}

struct PtyResult {
  int exit_code = -1;
  std::string transcript;  // Everything the terminal showed.
};

// Runs `hallmark keygen --out path` on a pseudo-terminal and types the two passphrases.
PtyResult KeygenOnTerminal(const std::filesystem::path& path, const std::string& first,
                           const std::string& second) {
  const std::string binary = BinaryPath();
  std::string out_arg = path.string();
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::unsetenv("HALLMARK_PASSPHRASE");
    const char* argv[] = {binary.c_str(), "keygen", "--out", out_arg.c_str(), nullptr};
    ::execv(binary.c_str(), const_cast<char* const*>(argv));
    ::_exit(121);
  }
  PtyResult r;
  CHECK(ReadUntil(master, &r.transcript, "New passphrase: "));
  const std::string line1 = first + "\n";
  CHECK(::write(master, line1.data(), line1.size()) == static_cast<ssize_t>(line1.size()));
  CHECK(ReadUntil(master, &r.transcript, "Repeat passphrase: "));
  const std::string line2 = second + "\n";
  CHECK(::write(master, line2.data(), line2.size()) == static_cast<ssize_t>(line2.size()));
  ReadToEnd(master, &r.transcript);
  // The child should be done; if it hangs (a lost keystroke), kill it rather than the test run.
  int status = 0;
  pid_t done = 0;
  for (int i = 0; i < 100 && done == 0; ++i) {
    done = ::waitpid(pid, &status, WNOHANG);
    if (done == 0) ::usleep(50 * 1000);
  }
  if (done == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    FAIL("hallmark keygen did not finish; transcript: " << r.transcript);
  }
  ::close(master);
  REQUIRE(WIFEXITED(status));
  r.exit_code = WEXITSTATUS(status);
  return r;
}

}  // namespace

TEST_CASE("hallmark binary: --help exits 0 and lists the exit codes") {
  ProcessResult r = Run({"--help"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("Exit codes") != std::string::npos);
  CHECK(r.out.find("HALLMARK_PASSPHRASE") != std::string::npos);
}

TEST_CASE("hallmark binary: id prints the canonical id, exits 2 on a bad id") {
  ProcessResult ok = Run({"id", "https://id.gs1.org/01/09506000134352/21/ABC123"});
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("01/09506000134352/21/ABC123") != std::string::npos);
  ProcessResult bad = Run({"id", "(01)12345(21)X"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.out.empty());
  CHECK_FALSE(bad.err.empty());
}

TEST_CASE("hallmark binary: usage errors exit 3") {
  CHECK(Run({}).exit_code == 3);
  CHECK(Run({"keygen"}).exit_code == 3);
  CHECK(Run({"no-such-command"}).exit_code == 3);
}

TEST_CASE("hallmark binary: keygen without a terminal or HALLMARK_PASSPHRASE fails clearly") {
  TempDir dir;
  const auto path = dir.path() / "k.json";
  ProcessResult r = Run({"keygen", "--out", path.string()});
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("not a terminal") != std::string::npos);
  CHECK(r.err.find("HALLMARK_PASSPHRASE") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("hallmark binary: keygen with HALLMARK_PASSPHRASE, then refuses to overwrite") {
  TempDir dir;
  const auto path = dir.path() / "k.json";
  ProcessResult r = Run({"keygen", "--out", path.string(), "--label", "ci"}, "s3cret");
  REQUIRE(r.exit_code == 0);
  core::Result<core::SigningKey> key = core::ReadKeystore(path, "s3cret");
  REQUIRE(key.ok());
  CHECK(r.out == key->public_key().Hex() + "\n");

  ProcessResult again = Run({"keygen", "--out", path.string()}, "s3cret");
  CHECK(again.exit_code == 3);
  CHECK(again.err.find("--force") != std::string::npos);
  ProcessResult forced = Run({"keygen", "--out", path.string(), "--force"}, "other");
  CHECK(forced.exit_code == 0);
  CHECK(core::ReadKeystore(path, "other").ok());
}

TEST_CASE("hallmark binary: keygen --no-passphrase warns on stderr") {
  TempDir dir;
  const auto path = dir.path() / "dev.json";
  ProcessResult r = Run({"keygen", "--out", path.string(), "--no-passphrase"});
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("warning") != std::string::npos);
  CHECK(r.out.size() == 65);
  CHECK(core::ReadKeystore(path, std::nullopt).ok());
}

TEST_CASE("hallmark binary: keygen asks twice on a terminal without echoing the passphrase") {
  TempDir dir;
  const auto path = dir.path() / "k.json";
  PtyResult r = KeygenOnTerminal(path, "typed-secret", "typed-secret");
  CHECK(r.exit_code == 0);
  CHECK(r.transcript.find("typed-secret") == std::string::npos);  // Never echoed.
  core::Result<core::SigningKey> key = core::ReadKeystore(path, "typed-secret");
  REQUIRE(key.ok());
  CHECK(r.transcript.find(key->public_key().Hex()) != std::string::npos);
}

TEST_CASE("hallmark binary: keygen on a terminal rejects two different passphrases with exit 2") {
  TempDir dir;
  const auto path = dir.path() / "k.json";
  PtyResult r = KeygenOnTerminal(path, "one", "two");
  CHECK(r.exit_code == 2);
  CHECK(r.transcript.find("differ") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(path));
}
