#include "wallet-cli/import_commands.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <ostream>
#include <thread>

#include "core/genesis.h"
#include "wallet-cli/commands.h"
#include "wallet-cli/format.h"
#include "wallet-cli/keystore.h"
#include "wallet-cli/node_client.h"
#include "wallet-cli/node_commands.h"
#include "wallet-cli/records.h"
#include "wallet-cli/reporter.h"

namespace hallmark::wallet {
namespace {

constexpr std::string_view kCommand = "hallmark import";

// Reads at most the document limit (and one byte more, to tell a larger file), so a hostile
// "file" such as /dev/zero costs nothing.
core::Result<std::string> ReadDocument(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return core::Status::IoError(path.string() + " is a folder; give the EPCIS document");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::Status::IoError("cannot open " + path.string());
  const size_t limit = kImportDocumentBytesMax;
  std::string bytes(limit + 1, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (in.bad()) return core::Status::IoError("cannot read " + path.string());
  bytes.resize(static_cast<size_t>(in.gcount()));
  if (bytes.size() > limit) {
    return core::Status::InvalidInput(path.string() + " is larger than " + std::to_string(limit) +
                                      " bytes, the most one import reads; split the document");
  }
  return bytes;
}

std::string_view DoneWord(core::RecordType type) {
  switch (type) {
    case core::RecordType::kRegister:
      return "registered";
    case core::RecordType::kTransfer:
      return "transferred";
    case core::RecordType::kAttest:
    case core::RecordType::kFlag:
    case core::RecordType::kClearFlag:
    case core::RecordType::kService:
    case core::RecordType::kDecommission:
    case core::RecordType::kReassign:
      break;
  }
  return "recorded";
}

// Submits the plan's records in rounds: the first record of every item, then the second, …, each
// round committed before the next (a record's prev is the one before it). A record the node
// rejects stops its item: the later ones are skipped. Returns false on a network failure or a
// timeout, with the reason in `*failure` and its exit code in `*code`.
std::vector<SubmitResult> SubmitPlan(NodeClient& node, const ImportPlan& plan, uint32_t timeout_ms,
                                     ExitCode* code, std::string* failure) {
  std::vector<SubmitResult> results(plan.records.size());
  std::map<std::string, std::vector<size_t>> by_item;
  for (size_t i = 0; i < plan.records.size(); ++i) by_item[plan.records[i].item].push_back(i);
  size_t rounds = 0;
  for (const auto& [item, list] : by_item) rounds = std::max(rounds, list.size());
  std::map<std::string, std::string> stopped;  // Item → why its later records are skipped.

  for (size_t round = 0; round < rounds; ++round) {
    const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    std::vector<size_t> waiting;
    for (const auto& [item, list] : by_item) {
      if (round >= list.size()) continue;
      const size_t i = list[round];
      if (auto s = stopped.find(item); s != stopped.end()) {
        results[i] = {SubmitState::kSkipped, s->second};
        continue;
      }
      uint32_t busy_ms = kBusyFirstMs;
      while (true) {
        NodeResult<pb::SubmitResponse> r =
            node.Submit(plan.records[i].envelope, RequestTimeoutMs(deadline));
        if (r.ok()) {
          waiting.push_back(i);
          break;
        }
        const NodeError& e = r.error();
        if (e.kind == NodeErrorKind::kRejected) {
          results[i] = {SubmitState::kRejected, e.ToString()};
          stopped[item] = "not submitted: an earlier record of this item was rejected";
          break;
        }
        if (e.kind != NodeErrorKind::kBusy || busy_ms >= RemainingMs(deadline)) {
          *code = ExitCodeForNode(e);
          *failure = "submitting the record of " + item + ": " + e.ToString();
          return results;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(busy_ms));
        busy_ms = std::min(busy_ms * 2, kBusyMaxMs);
      }
    }
    uint32_t poll_ms = kPollFirstMs;
    while (!waiting.empty()) {
      if (RemainingMs(deadline) == 0) {
        *code = ExitCode::kPending;
        *failure = std::to_string(waiting.size()) + " records were still pending after " +
                   SecondsText(timeout_ms) +
                   "; they may still commit: run the import again to see (what is committed is "
                   "then reported as already there)";
        return results;
      }
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::min(poll_ms, RemainingMs(deadline))));
      poll_ms = std::min(poll_ms * 2, kPollMaxMs);
      std::vector<size_t> still;
      for (size_t i : waiting) {
        NodeResult<pb::RecordStatusResponse> r =
            node.GetRecord(plan.records[i].record_id, RequestTimeoutMs(deadline));
        if (!r.ok()) {
          if (r.error().kind == NodeErrorKind::kRejected) {
            *code = ExitCodeForNode(r.error());
            *failure = "the record status request: " + r.error().ToString();
            return results;
          }
          still.push_back(i);
          continue;
        }
        if (r->status() == "committed") {
          results[i] = {SubmitState::kCommitted, ""};
        } else if (r->status() == "rejected") {
          results[i] = {SubmitState::kRejected,
                        r->rejection().code() + ": " + r->rejection().message()};
          stopped[plan.records[i].item] =
              "not submitted: an earlier record of this item was "
              "rejected";
        } else {
          still.push_back(i);
        }
      }
      waiting = std::move(still);
    }
  }
  return results;
}

}  // namespace

int RunImport(const ImportOptions& o, std::ostream& out, std::ostream& err) {
  const Reporter report(std::string(kCommand), false, out, err);
  if (o.document_path.empty()) return report.Fail(ExitCode::kFileOrUsage, "give the FILE");
  if (o.key_path.empty()) return report.Fail(ExitCode::kFileOrUsage, "--key FILE is required");
  if (o.genesis_path.empty()) {
    return report.Fail(ExitCode::kFileOrUsage, "--genesis FILE is required");
  }
  if (o.timeout_ms == 0) return report.Fail(ExitCode::kFileOrUsage, "--timeout must be positive");
  core::Result<NodeAddress> address = ParseNodeUrl(ResolveNodeUrl(o.node_url));
  if (!address.ok()) return report.Fail(ExitCode::kFileOrUsage, address.status().message());

  // The document is read and validated whole before anything else: an invalid one costs no
  // passphrase and no round trip, and nothing is submitted.
  core::Result<std::string> bytes = ReadDocument(o.document_path);
  if (!bytes.ok()) return report.Fail(ExitCode::kFileOrUsage, bytes.status().message());
  core::Result<EpcisDocument> doc = ParseEpcisDocument(*bytes);
  if (!doc.ok()) {
    return report.Fail(ExitCode::kFileOrUsage,
                       o.document_path.string() + ": " + doc.status().message());
  }
  core::Result<core::Network> network = core::Network::FromFile(o.genesis_path);
  if (!network.ok()) return report.Fail(network.status(), "--genesis " + o.genesis_path.string());
  core::Result<core::SigningKey> key = LoadSigningKey(o.key_path);
  if (!key.ok()) return report.Fail(key.status(), "cannot load key " + o.key_path.string());

  NodeClient node{HttpClient(*address)};
  const uint32_t request_ms = std::min(o.timeout_ms, kRequestTimeoutMsMax);
  NodeResult<pb::StatusResponse> status = node.GetStatus(request_ms);
  if (!status.ok()) return report.FailNode(status.error(), "the status request");
  if (status->chain_id() != network->chain_id()) {
    return report.Fail(ExitCode::kInvalidInput, "the node at " + node.url() + " is on chain \"" +
                                                    status->chain_id() + "\" but " +
                                                    o.genesis_path.string() + " is for \"" +
                                                    network->chain_id() + "\"");
  }
  // The current state and history of every item the document names.
  ItemStates items;
  uint64_t height = status->height();
  for (const std::string& id : doc->ItemIds()) {
    core::Result<core::ItemId> parsed = core::ParseCanonicalItemId(id);
    HM_ASSERT(parsed.ok());
    NodeResult<pb::ItemResponse> item = node.GetItem(*parsed, request_ms);
    if (!item.ok()) return report.FailNode(item.error(), "the look-up of item " + id);
    height = std::max<uint64_t>(height, item->height());
    items.emplace(id, std::move(*item));
  }

  PlanContext context;
  context.network = &*network;
  context.key = &*key;
  context.items = &items;
  context.height = height;
  context.now_ms = NowMs();
  ImportPlan plan = PlanImport(*doc, context);

  std::vector<SubmitResult> submitted;
  ExitCode failure_code = ExitCode::kOk;
  std::string failure;
  if (!o.dry_run && !plan.records.empty()) {
    submitted = SubmitPlan(node, plan, o.timeout_ms, &failure_code, &failure);
  }

  // The summary: counts, then every refusal by event.
  std::map<std::string, size_t> done;  // "registered", "transferred", "recorded".
  size_t already = 0;
  size_t refused = 0;
  size_t planned = 0;
  std::vector<std::string> refusals;
  for (const EventResult& r : plan.results) {
    const std::string where =
        r.event_name + (r.item.empty() ? std::string() : ", item " + r.item) + ": ";
    switch (r.outcome) {
      case ImportOutcome::kAlreadyThere:
        ++already;
        break;
      case ImportOutcome::kRefused:
        ++refused;
        refusals.push_back(where + r.reason);
        break;
      case ImportOutcome::kPlanned: {
        if (o.dry_run || submitted.empty()) {
          ++planned;
          break;
        }
        const SubmitResult& s = submitted[r.record];
        switch (s.state) {
          case SubmitState::kCommitted:
            ++done[std::string(DoneWord(r.type))];
            break;
          case SubmitState::kRejected:
            ++refused;
            refusals.push_back(where + "the node rejected the " +
                               std::string(core::RecordTypeName(r.type)) + ": " + s.detail);
            break;
          case SubmitState::kSkipped:
            ++refused;
            refusals.push_back(where + s.detail);
            break;
          case SubmitState::kPending:
            ++planned;
            break;
        }
        break;
      }
    }
  }
  TextTable t;
  if (o.dry_run) {
    t.AddRow({"to submit", std::to_string(planned)});
  } else {
    for (std::string_view w : {"registered", "transferred", "recorded"}) {
      t.AddRow({std::string(w), std::to_string(done[std::string(w)])});
    }
    if (planned > 0) t.AddRow({"not committed", std::to_string(planned)});
  }
  t.AddRow({"already there", std::to_string(already)});
  t.AddRow({"refused", std::to_string(refused)});
  out << t.Render();
  for (const std::string& r : refusals) out << "refused: " << ForTerminal(r) << "\n";
  err << (o.dry_run ? "dry run: nothing was submitted; " : "") << doc->events().size()
      << (doc->events().size() == 1 ? " event" : " events") << " read from "
      << o.document_path.string() << "\n";
  if (failure_code != ExitCode::kOk) return report.Fail(failure_code, failure);
  return ToInt(refused > 0 ? ExitCode::kInvalidInput : ExitCode::kOk);
}

struct ImportCommandLine::State {
  CLI::App* app = nullptr;
  ImportOptions options;
  std::string document;
  std::string key;
  std::string genesis;
  double timeout_s = 30;
};

ImportCommandLine::ImportCommandLine(CLI::App& app) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.app = app.add_subcommand(
      "import",
      "Read a GS1 EPCIS 2.0 JSON-LD document and record its events with --key: commissioning "
      "becomes a registration, shipping and receiving between known parties a transfer, and "
      "events Hallmark exported their own record. The document is validated whole first; "
      "events this key cannot sign, or with no faithful record, are refused and listed. Exit 0 "
      "all done, 2 some refused, 3 usage, file, network error or an invalid document, 4 a "
      "round did not commit in time");
  s.app->add_option("FILE", s.document, "The EPCIS 2.0 document (JSON-LD)")->required();
  s.app->add_option("--key", s.key, "Keystore of the signing key")->required();
  s.app->add_option("--genesis", s.genesis, "The network's genesis.json")->required();
  s.app->add_flag("--dry-run", s.options.dry_run, "Plan and report; submit nothing");
  s.app
      ->add_option("--timeout", s.timeout_s,
                   "Seconds each round of records may take to commit (30)")
      ->check(CLI::Range(0.001, 86400.0));
}

ImportCommandLine::~ImportCommandLine() = default;

bool ImportCommandLine::parsed() const {
  return state_->app->parsed();
}

int ImportCommandLine::Run(bool json, const std::string& node_url, std::ostream& out,
                           std::ostream& err) {
  State& s = *state_;
  if (json) {
    err << kCommand << ": --json is not supported yet: import prints a text summary\n";
    return ToInt(ExitCode::kFileOrUsage);
  }
  s.options.document_path = s.document;
  s.options.key_path = s.key;
  s.options.genesis_path = s.genesis;
  s.options.node_url = node_url;
  s.options.timeout_ms = static_cast<uint32_t>(std::llround(s.timeout_s * 1000));
  return RunImport(s.options, out, err);
}

}  // namespace hallmark::wallet
