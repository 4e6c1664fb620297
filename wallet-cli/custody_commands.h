#pragma once

// Custody proofs on the command line (core/custody_proof.h): a seller proves to a marketplace
// that they hold an item's custody, and the marketplace checks it against a node.
//   hallmark prove-custody ID --key KEY --challenge TEXT [--out FILE] [--genesis FILE]
//   hallmark check ID --custody-proof FILE --challenge TEXT
// Like the other commands, library functions returning the exit code and writing only to the
// streams they are given.

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <string>

#include "wallet-cli/node_commands.h"

namespace CLI {
class App;
}

namespace hallmark::wallet {

struct ProveCustodyOptions {
  std::string item;                    // Any form ParseItemId reads.
  std::filesystem::path key_path;      // Keystore of the custodian's key.
  std::string challenge;               // The marketplace's text, 1..256 bytes of UTF-8.
  std::filesystem::path out_path;      // Empty or "-": standard output.
  std::filesystem::path genesis_path;  // The chain id from here, offline; else from the node.
  std::string node_url;                // Empty: ResolveNodeUrl("").
  uint32_t timeout_ms = 0;
  uint64_t now_ms = 0;  // The proof's time; 0: this machine's clock (tests fix it).
};

// Signs a custody proof and writes it as one line of JSON (Protobuf JSON mapping of
// pb::CustodyProof, a few hundred bytes). Does not ask whether the key is the custodian: the
// checker does. Exit codes: 0 written; 2 invalid input (item id, challenge); 3 usage, key, file
// or network error.
int RunProveCustody(const ProveCustodyOptions& options, std::ostream& out, std::ostream& err);

// `hallmark check ID --custody-proof FILE --challenge TEXT`: the listing-time check of one item
// with a custody proof, sent to the node (POST /v1/items:check, `items`). Prints the check and
// whether the proof's signer is the item's current custodian. Exit codes: 0 the signer is the
// custodian, the item is clean, and the node's head is fresh; 1 not the custodian (any verdict
// but "custodian"), not clean, or stale; 2 an invalid item id or a proof file that is not a
// custody proof; 3 usage, file or network error.
// REQUIRES: options.custody_proof_path or options.challenge is set (RunCheck sends it here).
int RunCustodyCheck(const CheckOptions& options, std::ostream& out, std::ostream& err);

// `prove-custody` on the command line. Construct it on the CLI11 app before parsing; after
// parsing, parsed() says whether it was given and Run() runs it with the global --node.
// Not copyable; must outlive the parse.
class CustodyCommandLine {
 public:
  explicit CustodyCommandLine(CLI::App& app);
  ~CustodyCommandLine();
  CustodyCommandLine(const CustodyCommandLine&) = delete;
  CustodyCommandLine& operator=(const CustodyCommandLine&) = delete;

  bool parsed() const;
  int Run(const std::string& node_url, std::ostream& out, std::ostream& err);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace hallmark::wallet
