#pragma once

// The `hallmark` CLI's commands as library functions, so tests can run them without a process.
// Each returns the process exit code and writes only to the streams it is given.

#include <filesystem>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>

#include "core/crypto/keystore.h"
#include "core/status.h"

namespace hallmark::wallet {

// Exit codes of every command (also printed by `hallmark --help`).
enum class ExitCode : int {
  kOk = 0,
  kInternal = 1,  // Our bug or an unexpected local failure.
  // `hallmark check` only: some item is unregistered, decommissioned or flagged. It shares 1
  // with kInternal, as grep's "no match" does with its errors, so a script can test for 0.
  kNotClean = 1,
  kInvalidInput = 2,  // The input is wrong: a bad item id, mismatched passphrases, a record the
                      // node refused.
  kFileOrUsage = 3,   // A file cannot be read or written, the command line is wrong, or the
                      // node cannot be reached.
  kPending = 4,       // Waiting for commit timed out: the record was accepted and may still
                      // commit.
};

inline int ToInt(ExitCode c) {
  return static_cast<int>(c);
}

// Maps a Status to the exit code for it.
ExitCode ExitCodeFor(const core::Status& status);

// `hallmark id INPUT [--json]`: prints the canonical id and its GS1 Digital Link URL.
int RunId(std::string_view input, bool json, std::ostream& out, std::ostream& err);

struct KeygenOptions {
  std::filesystem::path out_path;
  bool no_passphrase = false;
  std::string label;
  bool force = false;
  core::ScryptCost cost;  // The default; tests pass a cheaper one.
};

// Supplies the passphrase for a new key. The CLI uses ReadNewPassphrase (environment variable
// or terminal); tests pass a fixed value or an error.
using PassphraseSource = std::function<core::Result<std::string>()>;

// `hallmark keygen --out FILE [--no-passphrase] [--label TEXT] [--force]`: writes a new keystore
// and prints the public key (hex) on `out`.
int RunKeygen(const KeygenOptions& options, const PassphraseSource& passphrase, std::ostream& out,
              std::ostream& err);

// The whole CLI: parses the command line (CLI11) and runs the command. main() only calls this.
// `check` reads ids from `in` when none are given as arguments.
int Main(int argc, const char* const* argv, std::istream& in, std::ostream& out, std::ostream& err);
// The same with standard input as `in`.
int Main(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace hallmark::wallet
