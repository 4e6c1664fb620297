#pragma once

// `hallmark export ID --format epcis [--node URL | --proof FILE] --genesis FILE [--out FILE]`:
// writes an item's chain of custody as a GS1 EPCIS 2.0 JSON-LD document (core/epcis.h,
// docs/epcis.md). The history always comes from a proof bundle that core::VerifyProofBundle
// accepted against --genesis, fetched from the node or read from a saved file, so an export
// never holds data that was not checked. Like the other commands, a library function returning
// the exit code and writing only to the streams it is given.

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>

namespace CLI {
class App;
}

namespace hallmark::wallet {

// The export formats `--format` takes.
inline constexpr std::string_view kExportFormatEpcis = "epcis";

struct ExportOptions {
  std::string item;    // Any form ParseItemId reads.
  std::string format;  // kExportFormatEpcis.
  // The node to fetch the proof from (empty: ResolveNodeUrl("")). Ignored with proof_path, but
  // `node_url_given` with proof_path is a usage error: the user asked for two sources.
  std::string node_url;
  bool node_url_given = false;
  std::filesystem::path proof_path;    // A saved bundle: binary Protobuf, or JSON if it starts
                                       // with '{'.
  std::filesystem::path genesis_path;  // Required: what the bundle is verified against.
  std::filesystem::path out_path;      // Empty or "-": standard output.
  uint32_t timeout_ms = 0;             // For the node; 0: the HTTP client's default.
  uint64_t now_ms = 0;                 // creationDate; 0: this machine's clock (tests fix it).
};

// Exit codes: 0 written; 2 the bundle does not check out (the failed check is named, e.g.
// "proof check failed (signature): record 3: …"), the item was never registered (nothing to
// export), or an invalid item id or genesis; 3 usage, file or network error. On any failure
// nothing is written: the --out file is written to a temporary name and renamed into place.
int RunExport(const ExportOptions& options, std::ostream& out, std::ostream& err);

// The `export` command on the command line. Construct it on the CLI11 app before parsing; after
// parsing, parsed() says whether `export` was given and Run() runs it. `node_url` is the
// global --node option (empty when not given). Not copyable; must outlive the parse.
class ExportCommandLine {
 public:
  explicit ExportCommandLine(CLI::App& app);
  ~ExportCommandLine();
  ExportCommandLine(const ExportCommandLine&) = delete;
  ExportCommandLine& operator=(const ExportCommandLine&) = delete;

  bool parsed() const;
  int Run(const std::string& node_url, std::ostream& out, std::ostream& err);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace hallmark::wallet
