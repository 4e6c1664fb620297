#include "wallet-cli/node_commands.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <istream>
#include <limits>
#include <optional>
#include <ostream>
#include <thread>
#include <variant>

#include "core/clock.h"
#include "core/genesis.h"
#include "core/item_id.h"
#include "core/time_text.h"
#include "wallet-cli/commands.h"
#include "wallet-cli/custody_commands.h"
#include "wallet-cli/format.h"
#include "wallet-cli/keystore.h"
#include "wallet-cli/node_client.h"
#include "wallet-cli/records.h"
#include "wallet-cli/reporter.h"
#include "wallet-cli/verify_commands.h"

namespace hallmark::wallet {
namespace {

// How many organisation ids an "unknown organisation" message lists.
constexpr size_t kListedOrgsMax = 12;

// --- Turning options into a payload ------------------------------------------------------------

using PayloadMaker = std::function<pb::RecordPayload(const PayloadHeader&)>;

struct ArgError {
  ExitCode code;
  std::string message;
};
ArgError Usage(std::string message) {
  return {ExitCode::kFileOrUsage, std::move(message)};
}
ArgError Invalid(std::string message) {
  return {ExitCode::kInvalidInput, std::move(message)};
}

// "--verdict must be genuine or suspect, not …" from the parser's "verdict must be …": the
// option the user typed names the subject better than the parser's word for it.
std::string OptionMessage(std::string_view option, const core::Status& status) {
  const std::string& m = status.message();
  const size_t at = m.find(" must be ");
  if (at == std::string::npos) return std::string(option) + ": " + m;
  return std::string(option) + m.substr(at);
}

// With a genesis at hand, a holder naming an unknown organisation gets a friendly error here
// instead of the node's rejection later.
std::optional<ArgError> CheckOrgKnown(const core::Network* network, std::string_view option,
                                      const pb::Holder& holder) {
  if (network == nullptr || holder.kind_case() != pb::Holder::kOrganization ||
      network->FindOrganization(holder.organization()) != nullptr) {
    return std::nullopt;
  }
  std::string known;
  const auto& orgs = network->genesis().organizations();
  for (int i = 0; i < orgs.size() && static_cast<size_t>(i) < kListedOrgsMax; ++i) {
    known += (i == 0 ? "" : ", ") + orgs[i].id();
  }
  if (static_cast<size_t>(orgs.size()) > kListedOrgsMax) known += ", …";
  return Invalid(std::string(option) + ": the genesis has no organisation \"" +
                 holder.organization() + "\" (it has " + known + ")");
}

std::variant<PayloadMaker, ArgError> PrepareBody(const WriteOptions& o,
                                                 const core::Network* network) {
  switch (o.type) {
    case core::RecordType::kRegister: {
      pb::Register body;
      for (const std::string& a : o.attributes) {
        core::Result<pb::Attribute> attr = ParseAttribute(a);
        if (!attr.ok()) return Invalid("--attr: " + attr.status().message());
        *body.add_attributes() = std::move(*attr);
      }
      for (const std::string& d : o.documents) {
        core::Result<pb::DocumentDigest> doc = DocumentDigestOfFile(d);
        if (!doc.ok())
          return ArgError{ExitCodeFor(doc.status()), "--doc: " + doc.status().message()};
        *body.add_documents() = std::move(*doc);
      }
      if (!o.custodian.empty()) {
        core::Result<pb::Holder> holder = ParseHolder(o.custodian);
        if (!holder.ok()) return Invalid("--custodian: " + holder.status().message());
        if (auto e = CheckOrgKnown(network, "--custodian", *holder)) return *e;
        *body.mutable_custodian() = std::move(*holder);
      }
      return [body](const PayloadHeader& h) { return BuildPayload(h, body); };
    }
    case core::RecordType::kTransfer: {
      if (o.to.empty()) return Usage("--to ORG|KEYHEX is required");
      core::Result<pb::Holder> holder = ParseHolder(o.to);
      if (!holder.ok()) return Invalid("--to: " + holder.status().message());
      if (auto e = CheckOrgKnown(network, "--to", *holder)) return *e;
      const pb::Transfer body = TransferBody(*holder);
      return [body](const PayloadHeader& h) { return BuildPayload(h, body); };
    }
    case core::RecordType::kAttest: {
      if (o.verdict.empty()) return Usage("--verdict genuine|suspect is required");
      core::Result<pb::Verdict> verdict = ParseVerdict(o.verdict);
      if (!verdict.ok()) return Usage(OptionMessage("--verdict", verdict.status()));
      const pb::Attest body = AttestBody(*verdict, o.note);
      return [body](const PayloadHeader& h) { return BuildPayload(h, body); };
    }
    case core::RecordType::kFlag:
    case core::RecordType::kClearFlag: {
      if (o.kind.empty()) {
        return Usage("--reason stolen|lost|counterfeit-suspected|recalled is required");
      }
      core::Result<pb::FlagKind> kind = ParseFlagKind(o.kind);
      if (!kind.ok()) return Usage(OptionMessage("--reason", kind.status()));
      if (o.type == core::RecordType::kFlag) {
        const pb::Flag body = FlagBody(*kind, o.note);
        return [body](const PayloadHeader& h) { return BuildPayload(h, body); };
      }
      const pb::ClearFlag body = ClearFlagBody(*kind, o.note);
      return [body](const PayloadHeader& h) { return BuildPayload(h, body); };
    }
    case core::RecordType::kService: {
      if (o.kind.empty()) return Usage("--kind repair|refurbishment|authentication is required");
      core::Result<pb::ServiceKind> kind = ParseServiceKind(o.kind);
      if (!kind.ok()) return Usage(OptionMessage("--kind", kind.status()));
      const pb::Service body = ServiceBody(*kind, o.note);
      return [body](const PayloadHeader& h) { return BuildPayload(h, body); };
    }
    case core::RecordType::kDecommission: {
      core::Result<pb::DecommissionKind> kind =
          ParseDecommissionKind(o.kind.empty() ? "destroyed" : o.kind);
      if (!kind.ok()) return Usage(OptionMessage("--kind", kind.status()));
      if (o.reason.empty()) {
        return Usage("--reason TEXT is required: say why the item leaves circulation");
      }
      const pb::Decommission body = DecommissionBody(*kind, o.reason);
      return [body](const PayloadHeader& h) { return BuildPayload(h, body); };
    }
    case core::RecordType::kReassign: {
      if (o.to.empty()) return Usage("--to KEYHEX (the holder's new public key) is required");
      core::Result<core::PublicKey> key = ParseHolderKey(o.to);
      if (!key.ok()) return Invalid("--to: " + key.status().message());
      if (o.reason.empty()) return Usage("--reason TEXT is required: say why custody is restored");
      const pb::Reassign body = ReassignBody(*key, o.reason);
      return [body](const PayloadHeader& h) { return BuildPayload(h, body); };
    }
  }
  return Usage("unknown record type");
}

void PrintRecordStatus(const pb::RecordStatusResponse& r, bool json, std::ostream& out) {
  if (json) {
    out << JsonLine(r) << "\n";
    return;
  }
  TextTable t;
  t.AddRow({"record", ForTerminal(r.record_id())});
  t.AddRow({"status", ForTerminal(r.status())});
  if (r.status() == "committed") {
    t.AddRow({"height", std::to_string(r.height())});
    if (r.block_time_ms() != 0) t.AddRow({"time", FormatUtc(r.block_time_ms()) + " UTC"});
  }
  out << t.Render();
}

void PrintSubmitted(const pb::SubmitResponse& r, bool json, std::ostream& out) {
  if (json) {
    out << JsonLine(r) << "\n";
    return;
  }
  TextTable t;
  t.AddRow({"record", ForTerminal(r.record_id())});
  t.AddRow({"status", ForTerminal(r.status())});
  if (r.height() != 0) t.AddRow({"height", std::to_string(r.height())});
  out << t.Render();
}

// Reads one line of at most `max_bytes` into `*line`; the rest of a longer line is skipped and
// `*too_long` set. Returns false at the end of input when nothing was read.
bool ReadBoundedLine(std::istream& in, size_t max_bytes, std::string* line, bool* too_long) {
  line->clear();
  *too_long = false;
  bool any = false;
  char c = 0;
  while (in.get(c)) {
    any = true;
    if (c == '\n') return true;
    if (line->size() < max_bytes) {
      line->push_back(c);
    } else {
      *too_long = true;
    }
  }
  return any;
}

std::string_view Trim(std::string_view s) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

pb::CheckResult InvalidResult(std::string input, std::string message) {
  pb::CheckResult r;
  r.set_input(std::move(input));
  r.set_status("invalid");
  r.mutable_error()->set_code(std::string(core::RejectReasonCode(core::RejectReason::kBadItemId)));
  r.mutable_error()->set_message(std::move(message));
  return r;
}

}  // namespace

std::string ResolveNodeUrl(std::string_view flag) {
  if (!flag.empty()) return std::string(flag);
  const char* env = std::getenv(kNodeEnvVar);
  if (env != nullptr && *env != '\0') return env;
  return std::string(kDefaultNodeUrl);
}

std::string_view CommandName(core::RecordType type) {
  switch (type) {
    case core::RecordType::kRegister:
      return "register";
    case core::RecordType::kTransfer:
      return "transfer";
    case core::RecordType::kAttest:
      return "attest";
    case core::RecordType::kFlag:
      return "flag";
    case core::RecordType::kClearFlag:
      return "clear-flag";
    case core::RecordType::kService:
      return "service";
    case core::RecordType::kDecommission:
      return "decommission";
    case core::RecordType::kReassign:
      return "reassign";
  }
  return "record";
}

int RunWrite(const WriteOptions& o, std::ostream& out, std::ostream& err) {
  const Reporter report("hallmark " + std::string(CommandName(o.type)), o.json, out, err);

  // Everything the command line alone can settle is settled before the key is read or the node
  // is asked, so a typo never costs a passphrase prompt or a round trip.
  if (o.item.empty()) return report.Fail(ExitCode::kFileOrUsage, "--item ID is required");
  if (o.key_path.empty()) return report.Fail(ExitCode::kFileOrUsage, "--key FILE is required");
  if (o.timeout_ms == 0) return report.Fail(ExitCode::kFileOrUsage, "--timeout must be positive");
  core::Result<core::ItemId> item = core::ParseItemId(o.item);
  if (!item.ok()) return report.Fail(item.status(), "invalid item id");
  core::Result<NodeAddress> address = ParseNodeUrl(ResolveNodeUrl(o.node_url));
  if (!address.ok()) return report.Fail(ExitCode::kFileOrUsage, address.status().message());

  std::optional<core::Network> network;
  if (!o.genesis_path.empty()) {
    core::Result<core::Network> loaded = core::Network::FromFile(o.genesis_path);
    if (!loaded.ok()) return report.Fail(loaded.status(), "--genesis " + o.genesis_path.string());
    network.emplace(std::move(*loaded));
  }
  std::variant<PayloadMaker, ArgError> prepared = PrepareBody(o, network ? &*network : nullptr);
  if (const ArgError* e = std::get_if<ArgError>(&prepared)) return report.Fail(e->code, e->message);
  const PayloadMaker& make_payload = std::get<PayloadMaker>(prepared);

  core::Result<core::SigningKey> key = LoadSigningKey(o.key_path);
  if (!key.ok()) return report.Fail(key.status(), "cannot load key " + o.key_path.string());

  // The clock starts once the key is loaded, so time spent typing a passphrase does not count.
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(o.timeout_ms);
  NodeClient node{HttpClient(*address)};

  NodeResult<pb::StatusResponse> status = node.GetStatus(RequestTimeoutMs(deadline));
  if (!status.ok()) return report.FailNode(status.error(), "the status request");
  const std::string& chain_id = status->chain_id();
  if (network && network->chain_id() != chain_id) {
    return report.Fail(ExitCode::kInvalidInput, "the node at " + node.url() + " is on chain \"" +
                                                    chain_id + "\" but " + o.genesis_path.string() +
                                                    " is for \"" + network->chain_id() + "\"");
  }

  // `prev` must be the item's latest record; the item's current state also lets obvious
  // mistakes (registering twice, writing to an unregistered item) be reported in plain words.
  NodeResult<pb::ItemResponse> current = node.GetItem(*item, RequestTimeoutMs(deadline));
  if (!current.ok()) return report.FailNode(current.error(), "the item look-up");
  const std::string canonical = item->Canonical();
  if (o.type == core::RecordType::kRegister && current->registered()) {
    return report.Fail(ExitCode::kInvalidInput, "already_registered: item " + canonical +
                                                    " is already registered by \"" +
                                                    current->state().brand() + "\"");
  }
  if (o.type != core::RecordType::kRegister && !current->registered()) {
    return report.Fail(ExitCode::kInvalidInput, "not_registered: item " + canonical +
                                                    " is not registered (as of height " +
                                                    std::to_string(current->height()) + ")");
  }

  PayloadHeader header;
  header.chain_id = chain_id;
  header.item = *item;
  header.prev = o.type == core::RecordType::kRegister ? "" : current->state().last_record();
  header.timestamp_ms = NowMs();
  core::Result<pb::Envelope> envelope = SignAndCheck(*key, make_payload(header), chain_id);
  if (!envelope.ok()) return report.Fail(envelope.status(), "the record is not valid");

  if (network) {
    core::Record record;
    if (auto rej = core::DecodeRecord(*envelope, chain_id, &record)) {
      return report.Fail(ExitCode::kInvalidInput, rej->ToString());
    }
    const core::BlockContext ctx{.height = current->height() + 1, .time_ms = NowMs()};
    if (auto rej = core::ValidateRecord(*network, record,
                                        current->registered() ? &current->state() : nullptr, ctx)) {
      return report.Fail(ExitCode::kInvalidInput,
                         rej->ToString() + " (checked against " + o.genesis_path.string() + ")");
    }
  }

  const std::string still_pending =
      "it may still commit: `hallmark show " + canonical + "` will tell";
  SubmitOutcome done = SubmitAndWait(node, *envelope, deadline, o.timeout_ms, o.wait, o.json,
                                     report, still_pending, out);
  if (done.failure) return *done.failure;
  if (!o.wait) {
    PrintSubmitted(done.submitted, o.json, out);
  } else {
    PrintRecordStatus(done.status, o.json, out);
  }
  return ToInt(ExitCode::kOk);
}

SubmitOutcome SubmitAndWait(NodeClient& node, const pb::Envelope& envelope,
                            Clock::time_point deadline, uint32_t timeout_ms, bool wait, bool json,
                            const Reporter& report, std::string_view still_pending_hint,
                            std::ostream& out) {
  SubmitOutcome outcome;
  const core::Hash256 record_id = RecordIdOf(envelope);
  const std::string record_hex = record_id.Hex();

  // A full mempool answers 429 or 503; the record is offered again until the deadline.
  uint32_t busy_wait_ms = kBusyFirstMs;
  std::optional<pb::SubmitResponse> submitted;
  while (!submitted) {
    NodeResult<pb::SubmitResponse> r = node.Submit(envelope, RequestTimeoutMs(deadline));
    if (r.ok()) {
      submitted = std::move(*r);
      break;
    }
    const NodeError& e = r.error();
    const uint32_t wait_ms =
        e.retry_after_s
            ? static_cast<uint32_t>(std::min<uint64_t>(uint64_t{*e.retry_after_s} * 1000,
                                                       std::numeric_limits<uint32_t>::max()))
            : busy_wait_ms;
    if (e.kind != NodeErrorKind::kBusy || wait_ms >= RemainingMs(deadline)) {
      outcome.failure = report.FailNode(e, "the record");
      return outcome;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
    busy_wait_ms = std::min(busy_wait_ms * 2, kBusyMaxMs);
  }
  if (!submitted->record_id().empty() && !EqualsIgnoreCase(submitted->record_id(), record_hex)) {
    outcome.failure = report.Fail(ExitCode::kFileOrUsage,
                                  "the node at " + node.url() + " names the record " +
                                      submitted->record_id() + " but its id is " + record_hex);
    return outcome;
  }
  submitted->set_record_id(record_hex);
  outcome.submitted = *submitted;
  if (!wait) return outcome;

  pb::RecordStatusResponse last;
  last.set_record_id(record_hex);
  last.set_status("pending");
  std::optional<NodeError> last_error;
  uint32_t poll_ms = submitted->status() == "committed" ? 0 : kPollFirstMs;
  while (true) {
    const uint32_t left = RemainingMs(deadline);
    if (left == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(poll_ms, left)));
    poll_ms = std::clamp(poll_ms * 2, kPollFirstMs, kPollMaxMs);
    if (RemainingMs(deadline) == 0) break;
    NodeResult<pb::RecordStatusResponse> r = node.GetRecord(record_id, RequestTimeoutMs(deadline));
    if (!r.ok()) {
      // A refusal is final; a lost answer or a busy node may be fine at the next poll.
      if (r.error().kind == NodeErrorKind::kRejected) {
        outcome.failure = report.FailNode(r.error(), "the record status request");
        return outcome;
      }
      last_error = r.error();
      continue;
    }
    last = std::move(*r);
    last.set_record_id(record_hex);
    if (last.status() == "committed") {
      outcome.status = std::move(last);
      return outcome;
    }
    if (last.status() == "rejected") {
      PrintRecordStatus(last, json, out);
      outcome.failure =
          report.Fail(ExitCode::kInvalidInput, "record " + record_hex +
                                                   " was rejected: " + last.rejection().code() +
                                                   ": " + last.rejection().message());
      return outcome;
    }
  }

  PrintRecordStatus(last, json, out);
  std::string why = "record " + record_hex + " is still " + ForTerminal(last.status()) + " after " +
                    SecondsText(timeout_ms);
  if (last.status() == "unknown") {
    why += "; the node does not know it (it may have been dropped): submit it again";
  } else {
    why += "; " + std::string(still_pending_hint);
  }
  if (last_error) why += " (last poll: " + last_error->ToString() + ")";
  outcome.failure = report.Fail(ExitCode::kPending, why);
  return outcome;
}

int RunShow(const ShowOptions& o, std::ostream& out, std::ostream& err) {
  const Reporter report("hallmark show", o.json, out, err);
  core::Result<core::ItemId> item = core::ParseItemId(o.item);
  if (!item.ok()) return report.Fail(item.status(), "invalid item id");
  core::Result<NodeAddress> address = ParseNodeUrl(ResolveNodeUrl(o.node_url));
  if (!address.ok()) return report.Fail(ExitCode::kFileOrUsage, address.status().message());

  NodeClient node{HttpClient(*address)};
  NodeResult<pb::ItemResponse> r = node.GetItem(*item, o.timeout_ms);
  if (!r.ok()) return report.FailNode(r.error(), "the item look-up");
  if (o.json) {
    out << JsonLine(*r) << "\n";
  } else {
    out << FormatItem(*r);
  }
  return ToInt(ExitCode::kOk);
}

int RunList(const ListOptions& o, std::ostream& out, std::ostream& err) {
  const Reporter report("hallmark list", o.json, out, err);
  NodeClient::ListQuery query;
  query.brand = o.brand;
  if (!o.flag.empty()) {
    bool known = false;
    for (pb::FlagKind kind : {pb::STOLEN, pb::LOST, pb::COUNTERFEIT_SUSPECTED, pb::RECALLED}) {
      known = known || core::FlagKindName(kind) == o.flag;
    }
    if (!known) {
      return report.Fail(ExitCode::kInvalidInput,
                         "--flag must be one of stolen, lost, counterfeit-suspected, recalled");
    }
    query.flag = o.flag;
  }
  if (!o.since.empty()) {
    core::Result<uint64_t> since = core::ParseTimeMs(o.since);
    if (!since.ok())
      return report.Fail(ExitCode::kInvalidInput, "--since: " + since.status().message());
    // 0 (the epoch) asks for everything, which is what no `since` means.
    query.since_ms = *since;
  }
  if (o.limit < 1 || o.limit > kListLimitMax) {
    return report.Fail(ExitCode::kFileOrUsage,
                       "--limit must be between 1 and " + std::to_string(kListLimitMax));
  }
  query.limit = o.limit;
  query.after = o.after;
  core::Result<NodeAddress> address = ParseNodeUrl(ResolveNodeUrl(o.node_url));
  if (!address.ok()) return report.Fail(ExitCode::kFileOrUsage, address.status().message());

  NodeClient node{HttpClient(*address)};
  uint64_t shown = 0;
  std::optional<uint64_t> height;
  // Each page's cursor must move on; a node that repeats one would keep --all going for ever.
  std::string previous_after = query.after;
  for (;;) {
    NodeResult<pb::ItemListResponse> r = node.ListItems(query, o.timeout_ms);
    if (!r.ok()) return report.FailNode(r.error(), "the item listing");
    if (static_cast<uint32_t>(r->items_size()) > query.limit) {
      return report.Fail(ExitCode::kFileOrUsage, "the node at " + node.url() + " answered " +
                                                     std::to_string(r->items_size()) +
                                                     " items for a page of " +
                                                     std::to_string(query.limit));
    }
    if (!height) height = r->height();
    shown += static_cast<uint64_t>(r->items_size());
    if (o.json) {
      out << JsonLine(*r) << "\n";
    } else {
      out << FormatItemList(*r, /*header=*/query.after == o.after);
    }
    const bool more = !r->next().empty();
    if (!more || !o.all) {
      if (!o.json) {
        if (more) {
          out << "more items follow: add --after " << ForTerminal(r->next())
              << " for the next page, or --all\n";
        } else {
          out << shown << (shown == 1 ? " item" : " items") << " as of height " << *height << "\n";
        }
      }
      return ToInt(ExitCode::kOk);
    }
    if (r->next() == previous_after) {
      return report.Fail(ExitCode::kFileOrUsage,
                         "the node at " + node.url() + " gave the same page cursor twice");
    }
    previous_after = r->next();
    query.after = r->next();
  }
}

int RunCheck(const CheckOptions& o, std::istream& in, std::ostream& out, std::ostream& err) {
  if (!o.custody_proof_path.empty() || !o.challenge.empty()) return RunCustodyCheck(o, out, err);
  const Reporter report("hallmark check", o.json, out, err);
  core::Result<NodeAddress> address = ParseNodeUrl(ResolveNodeUrl(o.node_url));
  if (!address.ok()) return report.Fail(ExitCode::kFileOrUsage, address.status().message());

  // Inputs, in order; an over-long line is kept only as its first bytes, marked invalid.
  struct Input {
    std::string text;
    bool too_long = false;
  };
  std::vector<Input> inputs;
  const std::string too_many = "more than " + std::to_string(kCheckIdsMax) +
                               " ids in one run; split the input into smaller runs";
  if (!o.ids.empty()) {
    if (o.ids.size() > kCheckIdsMax) return report.Fail(ExitCode::kFileOrUsage, too_many);
    for (const std::string& id : o.ids) inputs.push_back({id, id.size() > kCheckLineBytesMax});
  } else {
    std::string line;
    bool too_long = false;
    while (ReadBoundedLine(in, kCheckLineBytesMax, &line, &too_long)) {
      const std::string_view text = Trim(line);
      if (text.empty() || text.front() == '#') continue;  // Blank lines and comments.
      if (inputs.size() == kCheckIdsMax) return report.Fail(ExitCode::kFileOrUsage, too_many);
      inputs.push_back({std::string(text), too_long});
    }
    if (in.bad()) return report.Fail(ExitCode::kFileOrUsage, "cannot read standard input");
  }
  if (inputs.empty()) {
    return report.Fail(ExitCode::kFileOrUsage,
                       "no ids given: pass them as arguments or one per line on standard input");
  }

  std::vector<pb::CheckResult> results(inputs.size());
  std::optional<NodeClient> node;
  std::optional<uint64_t> height;
  std::optional<uint64_t> head_time_ms;
  std::vector<size_t> batch_index;
  std::vector<std::string> batch_ids;
  // Sends the batch; only ids that parsed locally go to the node, as canonical ids, and each
  // answer gets back the input exactly as the user gave it.
  auto flush = [&]() -> std::optional<int> {
    if (batch_ids.empty()) return std::nullopt;
    if (!node) node.emplace(HttpClient(*address));
    NodeResult<pb::CheckResponse> r = node->Check(batch_ids, o.timeout_ms);
    if (!r.ok()) return report.FailNode(r.error(), "the check");
    if (static_cast<size_t>(r->results_size()) != batch_ids.size()) {
      return report.Fail(ExitCode::kFileOrUsage, "the node at " + node->url() + " answered " +
                                                     std::to_string(r->results_size()) +
                                                     " results for " +
                                                     std::to_string(batch_ids.size()) + " ids");
    }
    for (size_t j = 0; j < batch_ids.size(); ++j) {
      pb::CheckResult& slot = results[batch_index[j]];
      slot = std::move(*r->mutable_results(static_cast<int>(j)));
      slot.set_input(inputs[batch_index[j]].text);
    }
    // Batches may be answered at different heights; the lowest is what all answers are as fresh
    // as.
    height = std::min(height.value_or(r->height()), r->height());
    // A node that does not say how fresh it is counts as infinitely old (time 0).
    head_time_ms = std::min(head_time_ms.value_or(r->head_time_ms()), r->head_time_ms());
    batch_ids.clear();
    batch_index.clear();
    return std::nullopt;
  };

  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].too_long) {
      results[i] = InvalidResult(inputs[i].text.substr(0, 64) + "…",
                                 "longer than " + std::to_string(kCheckLineBytesMax) + " bytes");
      continue;
    }
    core::Result<core::ItemId> id = core::ParseItemId(inputs[i].text);
    if (!id.ok()) {
      results[i] = InvalidResult(inputs[i].text, id.status().message());
      continue;
    }
    batch_index.push_back(i);
    batch_ids.push_back(id->Canonical());
    if (batch_ids.size() == kCheckBatchMax) {
      if (std::optional<int> code = flush()) return *code;
    }
  }
  if (std::optional<int> code = flush()) return *code;

  bool any_invalid = false;
  bool all_clean = true;
  for (const pb::CheckResult& r : results) {
    if (r.status() == "invalid" || r.has_error()) any_invalid = true;
    if (!IsClean(r)) all_clean = false;
  }
  // The node is trusted here, but not to be current: a node that is behind (or withholds blocks)
  // could show a bag flagged stolen a minute ago as clean.
  const uint64_t now = o.now_ms != 0 ? o.now_ms : core::UnixTimeMs();
  const uint64_t age = head_time_ms && now > *head_time_ms ? now - *head_time_ms : 0;
  const bool stale =
      head_time_ms && o.max_age_ms != 0 && (*head_time_ms == 0 || age > o.max_age_ms);
  if (o.json) {
    pb::CheckResponse response;
    for (pb::CheckResult& r : results) *response.add_results() = std::move(r);
    response.set_height(height.value_or(0));
    response.set_head_time_ms(head_time_ms.value_or(0));
    response.set_age_ms(age);
    response.set_stale(stale);
    out << JsonLine(response) << "\n";
  } else {
    out << FormatCheck(results, height.value_or(0));
    if (stale && *head_time_ms == 0) {
      out << "STALE: the node did not say how recent its answers are (an older node?), so a "
             "recent flag could be missing. Ask another node (--node URL), or verify with "
             "hallmark verify ID --genesis FILE.\n";
    } else if (stale) {
      out << "STALE: the node's answers are as of block " << height.value_or(0) << ", "
          << FormatAge(age) << " ago, older than the limit of " << FormatAge(o.max_age_ms)
          << "; the node may be behind, so a recent flag could be missing. Ask another node "
             "(--node URL), or verify with hallmark verify ID --genesis FILE.\n";
    }
  }
  if (any_invalid) return ToInt(ExitCode::kInvalidInput);
  return ToInt(all_clean && !stale ? ExitCode::kOk : ExitCode::kNotClean);
}

}  // namespace hallmark::wallet
