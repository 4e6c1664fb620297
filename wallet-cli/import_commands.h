#pragma once

// `hallmark import FILE --key KEY --genesis FILE [--dry-run]`: reads a GS1 EPCIS 2.0 JSON-LD
// document, validates it whole, plans every event (wallet-cli/epcis_import.h: PlanImport) and
// submits the records this key may sign, in order, waiting for each round to commit. Like the
// other commands, a library function returning the exit code and writing only to the streams it
// is given.

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <string>

#include "wallet-cli/epcis_import.h"

namespace CLI {
class App;
}

namespace hallmark::wallet {

struct ImportOptions {
  std::filesystem::path document_path;  // The EPCIS document (JSON-LD).
  std::filesystem::path key_path;       // Keystore of the signing key.
  std::filesystem::path genesis_path;   // Required: organisations, prefixes, custody rules.
  std::string node_url;                 // Empty: ResolveNodeUrl("").
  bool dry_run = false;                 // Plan and report; submit nothing.
  uint32_t timeout_ms = 30'000;         // Each round of submissions must commit within this.
};

// Exit codes: 0 every event is registered, transferred, recorded or already there; 2 some event
// was refused (each is listed with its index, eventID and reason) or the node rejected a record;
// 3 usage, file or network error, or an invalid document (nothing is submitted then); 4 a round
// did not commit in time (what was submitted may still commit: run the import again).
int RunImport(const ImportOptions& options, std::ostream& out, std::ostream& err);

// The result of submitting a plan: what became of each planned record.
enum class SubmitState { kCommitted, kRejected, kSkipped, kPending };
struct SubmitResult {
  SubmitState state = SubmitState::kPending;
  std::string detail;  // kRejected: the node's code and message; kSkipped: why.
};

// The `import` command on the command line. Construct it on the CLI11 app before parsing; after
// parsing, parsed() says whether `import` was given and Run() runs it. Not copyable.
class ImportCommandLine {
 public:
  explicit ImportCommandLine(CLI::App& app);
  ~ImportCommandLine();
  ImportCommandLine(const ImportCommandLine&) = delete;
  ImportCommandLine& operator=(const ImportCommandLine&) = delete;

  bool parsed() const;
  // `json`: the global --json flag, which import does not support yet (refused, exit 3).
  int Run(bool json, const std::string& node_url, std::ostream& out, std::ostream& err);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace hallmark::wallet
