#include "wallet-cli/export_commands.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <ostream>

#include "core/clock.h"
#include "core/codec.h"
#include "core/epcis.h"
#include "core/genesis.h"
#include "core/item_id.h"
#include "core/proof_bundle.h"
#include "proto/proof.pb.h"
#include "wallet-cli/commands.h"
#include "wallet-cli/format.h"
#include "wallet-cli/http_client.h"
#include "wallet-cli/node_client.h"
#include "wallet-cli/node_commands.h"
#include "wallet-cli/verify_commands.h"

namespace hallmark::wallet {
namespace {

constexpr std::string_view kCommand = "hallmark export";

int Fail(std::ostream& err, ExitCode code, std::string_view message) {
  err << kCommand << ": " << ForTerminal(message) << "\n";
  return ToInt(code);
}

// The bundle did not check out: exit 2, naming the check as core::ProofCheckName does.
int FailCheck(std::ostream& err, core::ProofCheck check, std::string_view message) {
  return Fail(err, ExitCode::kInvalidInput,
              "proof check failed (" + std::string(core::ProofCheckName(check)) +
                  "): " + std::string(message) + "; nothing was exported");
}

}  // namespace

int RunExport(const ExportOptions& o, std::ostream& out, std::ostream& err) {
  if (o.format != kExportFormatEpcis) {
    return Fail(err, ExitCode::kFileOrUsage,
                "--format " + o.format + " is not supported; the only format is epcis");
  }
  if (o.item.empty()) return Fail(err, ExitCode::kFileOrUsage, "give the item ID");
  if (o.genesis_path.empty()) {
    return Fail(err, ExitCode::kFileOrUsage,
                "--genesis FILE is required: the history is verified against it");
  }
  if (o.node_url_given && !o.proof_path.empty()) {
    return Fail(err, ExitCode::kFileOrUsage,
                "give either --node URL or --proof FILE, not both: they are two sources");
  }
  core::Result<core::ItemId> item = core::ParseItemId(o.item);
  if (!item.ok()) {
    return Fail(err, ExitCode::kInvalidInput, "invalid item id: " + item.status().message());
  }
  core::Result<core::Network> network = core::Network::FromFile(o.genesis_path);
  if (!network.ok()) {
    return Fail(err, ExitCodeFor(network.status()),
                "--genesis " + o.genesis_path.string() + ": " + network.status().message());
  }

  std::string bytes;
  if (!o.proof_path.empty()) {
    core::Result<std::string> read = ReadProofBundleFile(o.proof_path);
    if (!read.ok()) {
      if (read.status().code() == core::StatusCode::kInvalidInput) {
        return FailCheck(err, core::ProofCheck::kFormat, read.status().message());
      }
      return Fail(err, ExitCodeFor(read.status()), read.status().message());
    }
    bytes = std::move(*read);
  } else {
    const std::string url = ResolveNodeUrl(o.node_url);
    core::Result<NodeAddress> address = ParseNodeUrl(url);
    if (!address.ok()) return Fail(err, ExitCode::kFileOrUsage, address.status().message());
    core::Result<std::string> fetched = FetchProofBundle(url, *item, o.timeout_ms);
    if (!fetched.ok()) {
      // Whatever went wrong, nothing was verified: a network or usage error.
      return Fail(err, ExitCode::kFileOrUsage, fetched.status().message());
    }
    bytes = std::move(*fetched);
  }

  const uint64_t now = o.now_ms != 0 ? o.now_ms : core::UnixTimeMs();
  core::VerifyOptions checks;
  checks.expected_item = o.item;
  checks.now_ms = now;  // A header dated beyond the skew allowance ahead is refused here too.
  const core::ProofVerdict verdict = core::VerifyProofBundle(*network, bytes, checks);
  if (!verdict.ok()) return FailCheck(err, verdict.failure->check, verdict.failure->message);

  core::Result<std::string> doc = core::EpcisDocumentJson(*network, verdict.item, now);
  if (!doc.ok()) return Fail(err, ExitCodeFor(doc.status()), doc.status().message());

  const size_t events = verdict.item.steps.size();
  const std::string summary = std::to_string(events) + (events == 1 ? " event" : " events") +
                              " of " + verdict.item.item_id + ", verified at height " +
                              std::to_string(verdict.item.height);
  if (o.out_path.empty() || o.out_path == "-") {
    out << *doc << "\n";
    if (!out) return Fail(err, ExitCode::kFileOrUsage, "cannot write to standard output");
    err << "exported " << summary << "\n";
    return ToInt(ExitCode::kOk);
  }
  core::Status st = WriteOutputFile(o.out_path, *doc + "\n", "--out");
  if (!st.ok()) return Fail(err, ExitCodeFor(st), st.message());
  err << "wrote " << summary << " to " << o.out_path.string() << "\n";
  return ToInt(ExitCode::kOk);
}

struct ExportCommandLine::State {
  CLI::App* app = nullptr;
  ExportOptions options;
  std::string proof_file;
  std::string genesis_file;
  std::string out_file;
  double timeout_s = 0;
};

ExportCommandLine::ExportCommandLine(CLI::App& app) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.app = app.add_subcommand(
      "export",
      "Write an item's verified chain of custody as a GS1 EPCIS 2.0 JSON-LD document (one "
      "ObjectEvent per record). The history comes from a proof bundle checked against "
      "--genesis: fetched from --node (the global option), or read from --proof FILE. Exit 2 "
      "when the proof does not check out; nothing is written then");
  s.app->add_option("ID", s.options.item, "The item id, in any supported form")->required();
  s.app->add_option("--format", s.options.format, "Output format: epcis")->required();
  s.app->add_option("--proof", s.proof_file,
                    "Export from this saved proof bundle (binary or JSON) instead of asking "
                    "--node");
  s.app->add_option("--genesis", s.genesis_file, "The network's genesis.json")->required();
  s.app->add_option("--out", s.out_file,
                    "Write the document to FILE (replaced whole, only once verified); default: "
                    "standard output");
  s.app->add_option("--timeout", s.timeout_s, "Seconds to wait for the node")
      ->check(CLI::Range(0.001, 86400.0));
}

ExportCommandLine::~ExportCommandLine() = default;

bool ExportCommandLine::parsed() const {
  return state_->app->parsed();
}

int ExportCommandLine::Run(const std::string& node_url, std::ostream& out, std::ostream& err) {
  State& s = *state_;
  s.options.node_url = node_url;
  s.options.node_url_given = !node_url.empty();
  s.options.proof_path = s.proof_file;
  s.options.genesis_path = s.genesis_file;
  s.options.out_path = s.out_file;
  s.options.timeout_ms = static_cast<uint32_t>(std::llround(s.timeout_s * 1000));
  return RunExport(s.options, out, err);
}

}  // namespace hallmark::wallet
