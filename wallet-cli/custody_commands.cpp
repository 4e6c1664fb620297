#include "wallet-cli/custody_commands.h"

#include <CLI/CLI.hpp>
#include <cmath>
#include <fstream>
#include <ostream>

#include "core/clock.h"
#include "core/codec.h"
#include "core/custody_proof.h"
#include "core/genesis.h"
#include "core/item_id.h"
#include "core/limits.h"
#include "wallet-cli/commands.h"
#include "wallet-cli/format.h"
#include "wallet-cli/http_client.h"
#include "wallet-cli/keystore.h"
#include "wallet-cli/node_client.h"
#include "wallet-cli/reporter.h"
#include "wallet-cli/verify_commands.h"

namespace hallmark::wallet {
namespace {

// The proof file, read whole only when it is no larger than any proof: IoError when it cannot
// be read, InvalidInput when it is not a custody proof.
core::Result<pb::CustodyProof> ReadCustodyProofFile(const std::filesystem::path& path) {
  const std::string name = "--custody-proof " + path.string();
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return core::Status::IoError(name + " is a folder; give the proof file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::Status::IoError("cannot open " + name);
  // Read one byte past the limit, so that an endless or huge file costs nothing.
  constexpr size_t kMax = core::limits::kMaxCustodyProofJsonBytes;
  std::string bytes(kMax + 1, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (in.bad()) return core::Status::IoError("cannot read " + name);
  bytes.resize(static_cast<size_t>(in.gcount()));
  if (bytes.size() > kMax) {
    return core::Status::InvalidInput(name + " is larger than any custody proof (" +
                                      std::to_string(kMax) + " bytes)");
  }
  core::Result<pb::CustodyProof> proof = core::ParseCustodyProofJson(bytes);
  if (!proof.ok()) {
    return core::Status::InvalidInput(name +
                                      " is not a custody proof (JSON from hallmark "
                                      "prove-custody): " +
                                      proof.status().message());
  }
  return proof;
}

std::string CustodyLine(const pb::CheckResult& r) {
  if (!r.has_custody()) return "CUSTODY  not checked: " + ForTerminal(r.error().message()) + "\n";
  const pb::CustodyResult& c = r.custody();
  std::string line = c.verdict() == core::CustodyVerdictName(core::CustodyVerdict::kCustodian)
                         ? "CUSTODY  ok: "
                         : "CUSTODY  NOT PROVEN (" + ForTerminal(c.verdict()) + "): ";
  line += ForTerminal(c.message());
  if (!c.signer().empty()) {
    line += "\n  signer: " + ForTerminal(c.signer());
    if (!c.signer_organization().empty()) {
      line += " (organization " + ForTerminal(c.signer_organization()) + ")";
    }
  }
  return line + "\n";
}

}  // namespace

int RunProveCustody(const ProveCustodyOptions& o, std::ostream& out, std::ostream& err) {
  const Reporter report("hallmark prove-custody", false, out, err);
  core::Result<core::ItemId> item = core::ParseItemId(o.item);
  if (!item.ok())
    return report.Fail(ExitCode::kInvalidInput, "invalid item id: " + item.status().message());
  if (core::Status st = core::ValidateCustodyChallenge(o.challenge); !st.ok()) {
    return report.Fail(ExitCode::kInvalidInput, "--challenge: " + st.message());
  }

  std::string chain_id;
  if (!o.genesis_path.empty()) {
    core::Result<core::Network> network = core::Network::FromFile(o.genesis_path);
    if (!network.ok()) {
      return report.Fail(network.status(), "--genesis " + o.genesis_path.string());
    }
    chain_id = network->chain_id();
  } else {
    core::Result<NodeAddress> address = ParseNodeUrl(ResolveNodeUrl(o.node_url));
    if (!address.ok()) return report.Fail(ExitCode::kFileOrUsage, address.status().message());
    NodeClient node{HttpClient(*address)};
    NodeResult<pb::StatusResponse> status = node.GetStatus(o.timeout_ms);
    if (!status.ok()) return report.FailNode(status.error(), "the status request");
    chain_id = status->chain_id();
  }

  core::Result<core::SigningKey> key = LoadSigningKey(o.key_path);
  if (!key.ok()) return report.Fail(key.status(), "cannot load key " + o.key_path.string());
  const uint64_t now = o.now_ms != 0 ? o.now_ms : core::UnixTimeMs();
  core::Result<pb::CustodyProof> proof =
      core::MakeCustodyProof(*key, chain_id, *item, o.challenge, now);
  if (!proof.ok()) return report.Fail(proof.status());
  core::Result<std::string> json = core::ToJson(*proof, false);
  if (!json.ok()) return report.Fail(json.status());

  const std::string summary = "custody proof for " + item->Canonical() + " signed by " +
                              key->public_key().Hex().substr(0, 16) +
                              "…; a checker accepts it for " +
                              FormatAge(core::limits::kCustodyProofMaxAgeMsDefault) +
                              " if this key is the item's custodian";
  if (o.out_path.empty() || o.out_path == "-") {
    out << *json << "\n";
    if (!out) return report.Fail(ExitCode::kFileOrUsage, "cannot write to standard output");
    err << summary << "\n";
    return ToInt(ExitCode::kOk);
  }
  core::Status st = WriteOutputFile(o.out_path, *json + "\n", "--out");
  if (!st.ok()) return report.Fail(st);
  err << "wrote " << summary << " to " << o.out_path.string() << "\n";
  return ToInt(ExitCode::kOk);
}

int RunCustodyCheck(const CheckOptions& o, std::ostream& out, std::ostream& err) {
  const Reporter report("hallmark check", o.json, out, err);
  if (o.custody_proof_path.empty() || o.challenge.empty()) {
    return report.Fail(ExitCode::kFileOrUsage,
                       "--custody-proof FILE and --challenge TEXT go together: the proof must "
                       "answer the challenge you gave the seller");
  }
  if (o.ids.size() != 1) {
    return report.Fail(ExitCode::kFileOrUsage,
                       "with --custody-proof, give exactly one item ID (found " +
                           std::to_string(o.ids.size()) + ")");
  }
  core::Result<NodeAddress> address = ParseNodeUrl(ResolveNodeUrl(o.node_url));
  if (!address.ok()) return report.Fail(ExitCode::kFileOrUsage, address.status().message());
  core::Result<core::ItemId> item = core::ParseItemId(o.ids.front());
  if (!item.ok()) {
    return report.Fail(ExitCode::kInvalidInput, "invalid item id: " + item.status().message());
  }
  if (core::Status st = core::ValidateCustodyChallenge(o.challenge); !st.ok()) {
    return report.Fail(ExitCode::kInvalidInput, "--challenge: " + st.message());
  }
  core::Result<pb::CustodyProof> proof = ReadCustodyProofFile(o.custody_proof_path);
  if (!proof.ok()) return report.Fail(proof.status());

  pb::CheckItem request;
  request.set_id(item->Canonical());
  *request.mutable_custody_proof() = std::move(*proof);
  request.set_challenge(o.challenge);
  NodeClient node{HttpClient(*address)};
  NodeResult<pb::CheckResponse> r = node.CheckItems({request}, o.timeout_ms);
  if (!r.ok()) return report.FailNode(r.error(), "the check");
  if (r->results_size() != 1) {
    return report.Fail(ExitCode::kFileOrUsage, "the node at " + node.url() + " answered " +
                                                   std::to_string(r->results_size()) +
                                                   " results for 1 item");
  }
  pb::CheckResult& result = *r->mutable_results(0);
  result.set_input(o.ids.front());

  // As in RunCheck: the node is trusted, but not to be current (a transfer a minute ago could
  // be missing, and the seller no longer the custodian).
  const uint64_t now = o.now_ms != 0 ? o.now_ms : core::UnixTimeMs();
  const uint64_t head_time = r->head_time_ms();
  const uint64_t age = now > head_time ? now - head_time : 0;
  const bool stale = o.max_age_ms != 0 && (head_time == 0 || age > o.max_age_ms);
  const bool custodian =
      result.has_custody() &&
      result.custody().verdict() == core::CustodyVerdictName(core::CustodyVerdict::kCustodian);
  if (o.json) {
    r->set_age_ms(age);
    r->set_stale(stale);
    out << JsonLine(*r) << "\n";
  } else {
    out << FormatCheck({result}, r->height()) << CustodyLine(result);
    if (stale) {
      out << "STALE: the node's answers are as of block " << r->height() << ", "
          << (head_time == 0 ? std::string("of unknown age") : FormatAge(age) + " ago")
          << ", older than the limit of " << FormatAge(o.max_age_ms)
          << "; a recent transfer could be missing. Ask another node (--node URL).\n";
    }
  }
  if (result.status() == "invalid" || result.has_error()) return ToInt(ExitCode::kInvalidInput);
  return ToInt(custodian && IsClean(result) && !stale ? ExitCode::kOk : ExitCode::kNotClean);
}

struct CustodyCommandLine::State {
  CLI::App* app = nullptr;
  ProveCustodyOptions options;
  std::string key_file;
  std::string out_file;
  std::string genesis_file;
  double timeout_s = 0;
};

CustodyCommandLine::CustodyCommandLine(CLI::App& app) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.app = app.add_subcommand(
      "prove-custody",
      "Sign a custody proof for a marketplace: a short statement, on the marketplace's "
      "challenge, that the key's holder is the item's custodian now. Prints it as JSON (or "
      "writes --out); the marketplace checks it with hallmark check ID --custody-proof FILE "
      "--challenge TEXT within 10 minutes");
  s.app->add_option("ID", s.options.item, "The item id, in any supported form")->required();
  s.app->add_option("--key", s.key_file, "Keystore of the custodian's key")->required();
  s.app
      ->add_option("--challenge", s.options.challenge,
                   "The marketplace's challenge, exactly as given (1 to 256 bytes)")
      ->required();
  s.app->add_option("--out", s.out_file, "Write the proof to FILE; default: standard output");
  s.app->add_option("--genesis", s.genesis_file,
                    "Take the chain id from this genesis.json instead of asking --node");
  s.app->add_option("--timeout", s.timeout_s, "Seconds to wait for the node")
      ->check(CLI::Range(0.001, 86400.0));
}

CustodyCommandLine::~CustodyCommandLine() = default;

bool CustodyCommandLine::parsed() const {
  return state_->app->parsed();
}

int CustodyCommandLine::Run(const std::string& node_url, std::ostream& out, std::ostream& err) {
  State& s = *state_;
  s.options.node_url = node_url;
  s.options.key_path = s.key_file;
  s.options.out_path = s.out_file;
  s.options.genesis_path = s.genesis_file;
  s.options.timeout_ms = static_cast<uint32_t>(std::llround(s.timeout_s * 1000));
  return RunProveCustody(s.options, out, err);
}

}  // namespace hallmark::wallet
