#pragma once

// `hallmark key`: key custody. `key show` prints a keystore's public key and fingerprint;
// `key rotate` replaces an organisation's signing key through governance (gov_commands.h);
// `key split` and `key combine` hold a signing key as K-of-N Shamir shares, so that a brand's key
// can be restored by any K of N officers and by no fewer (core/crypto/shamir.h; the share files
// are described in docs/keystore.md, "Key custody"). Like the other commands these are library
// functions that return the exit code and write only to the streams they are given.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/crypto/ed25519.h"
#include "core/crypto/keystore.h"
#include "core/status.h"
#include "wallet-cli/commands.h"

namespace CLI {
class App;
}

namespace hallmark::wallet {

// A key's short fingerprint, for people comparing keys by eye or over the phone: the first 8
// bytes of SHA-256 over the 32 raw public-key bytes, as 16 lower-case hex digits in groups of four
// joined by ':', e.g. "3f2a:91c0:5be4:0d17". It identifies a key; it is not a secret, and being
// 64 bits it is no substitute for the full public key where an adversary may grind keys.
std::string KeyFingerprint(const core::PublicKey& key);

// Supplies the passphrase of an existing encrypted keystore. Called only when the keystore is
// encrypted. The CLI uses AskExistingPassphrase; tests pass a fixed value or an error.
using ExistingPassphraseSource =
    std::function<core::Result<std::string>(const std::filesystem::path& keystore)>;

// HALLMARK_PASSPHRASE if set, else asked once on the terminal ("Passphrase for FILE: ").
core::Result<std::string> AskExistingPassphrase(const std::filesystem::path& keystore);

struct KeyShowOptions {
  std::filesystem::path keystore;
  bool json = false;
  // Also decrypt the secret key (asking for the passphrase) and check that it derives the
  // public key in the file. Without it nothing secret is read and no passphrase is asked.
  bool verify = false;
};

// `hallmark key show FILE [--verify] [--json]`: the public key (hex, as keygen prints it), the
// fingerprint, the label and whether the key is encrypted (or a pb::KeyShowOutput as JSON).
// Exit codes: 0; 2 a malformed keystore or a wrong passphrase; 3 a missing or unreadable file.
int RunKeyShow(const KeyShowOptions& options, const ExistingPassphraseSource& passphrase,
               std::ostream& out, std::ostream& err);

struct KeySplitOptions {
  std::filesystem::path keystore;
  uint32_t shares = 0;     // N.
  uint32_t threshold = 0;  // K.
  std::filesystem::path out_dir;
  bool json = false;
};

// The name of share `index` of `total` in the output folder: "share-2-of-5.json".
std::string ShareFileName(uint32_t index, uint32_t total);

// `hallmark key split FILE --shares N --threshold K --out-dir DIR`: reads the keystore (asking
// for its passphrase if it is encrypted) and writes N share files, mode 0600, into DIR (created
// if missing), any K of which restore the key. Refuses, before asking anything, N and K outside
// 2 <= K <= N <= 255 and a DIR that already holds share files (shares of two splits must not
// mix); never overwrites a file, and removes the shares it wrote if a later one fails.
// Exit codes: 0; 2 a malformed keystore or a wrong passphrase; 3 usage or file errors.
int RunKeySplit(const KeySplitOptions& options, const ExistingPassphraseSource& passphrase,
                std::ostream& out, std::ostream& err);

struct KeyCombineOptions {
  std::vector<std::filesystem::path> shares;
  std::filesystem::path out_path;
  bool no_passphrase = false;        // Write a development keystore, as keygen --no-passphrase.
  std::optional<std::string> label;  // Unset: the label recorded in the shares.
  core::ScryptCost cost;             // The default; tests pass a cheaper one.
  bool json = false;
};

// `hallmark key combine SHARE... --out FILE [--label TEXT] [--no-passphrase]`: restores the key
// from K or more shares of one split, checks it against the public key the shares record, and
// writes it to a new keystore as keygen does (the passphrase comes from `passphrase`). Prints the
// public key (or a pb::KeyCombineOutput as JSON). Exit codes: 0; 2 shares that cannot restore
// the key (too few, mixed splits, a duplicate, a corrupted share) or mismatched passphrases;
// 3 usage or file errors, including an --out FILE that exists (it is never overwritten).
int RunKeyCombine(const KeyCombineOptions& options, const PassphraseSource& passphrase,
                  std::ostream& out, std::ostream& err);

// The `key` command group on the command line. Construct it on the CLI11 app before parsing;
// after parsing, parsed() says whether `key` was given and Run() runs the chosen subcommand with
// the terminal/environment passphrase sources. Not copyable; must outlive the parse.
class KeyCommandLine {
 public:
  explicit KeyCommandLine(CLI::App& app);
  ~KeyCommandLine();
  KeyCommandLine(const KeyCommandLine&) = delete;
  KeyCommandLine& operator=(const KeyCommandLine&) = delete;

  bool parsed() const;
  // `json` is the global --json flag, `node_url` the global --node (for `key rotate`).
  int Run(bool json, const std::string& node_url, std::ostream& out, std::ostream& err);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace hallmark::wallet
