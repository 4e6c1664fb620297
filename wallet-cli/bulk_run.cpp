// RunBulk: the network side of `hallmark register --from` / `transfer --from` (bulk.h).
//
// Phases: read and check the file; learn the items' state (POST /v1/items:check in batches, and
// GET /v1/items/{id} where the content must be compared or `prev` is needed); sign what must be
// sent (or take the journal's envelope for it); append the envelopes to the journal and fsync;
// submit over `clients` connections while a watcher follows new blocks; write the report.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <deque>
#include <fstream>
#include <mutex>
#include <ostream>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "core/codec.h"
#include "core/item_id.h"
#include "proto/cli.pb.h"
#include "wallet-cli/bulk.h"
#include "wallet-cli/format.h"
#include "wallet-cli/keystore.h"
#include "wallet-cli/node_client.h"
#include "wallet-cli/node_commands.h"
#include "wallet-cli/records.h"
#include "wallet-cli/reporter.h"

namespace hallmark::wallet {
namespace {

constexpr uint32_t kRetryFirstMs = 100;
constexpr uint32_t kRetryMaxMs = 2'000;
constexpr uint32_t kResendAfterMs = 15'000;  // Accepted but not seen committed: offer it again.
constexpr uint32_t kWatchPollMs = 20;
constexpr uint32_t kRequestMs = 10'000;

std::atomic<bool> g_sigint{false};
extern "C" void OnSigint(int) {
  g_sigint.store(true);
}

enum class Outcome { kNone, kCommitted, kAlready, kConflict, kRefused, kInvalid };

// What became of one line. Guarded by Run::mu_ once the workers run.
struct LineResult {
  Outcome outcome = Outcome::kNone;
  std::string record_id;  // Hex.
  uint64_t height = 0;
  std::string reason;
};

enum class TaskState { kQueued, kSending, kAccepted, kDone };

struct Task {
  size_t line = 0;  // Index into the lines.
  pb::Envelope envelope;
  std::string id_hex;
  TaskState state = TaskState::kQueued;
  bool ever_sent = false;
  std::chrono::steady_clock::time_point accepted_at{};
};

std::string CsvField(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

bool SameHolder(const pb::Holder& a, const pb::Holder& b) {
  return core::SerializeDeterministic(a) == core::SerializeDeterministic(b);
}

std::string HolderText(const pb::Holder& h) {
  if (h.kind_case() == pb::Holder::kOrganization) return h.organization();
  if (h.kind_case() == pb::Holder::kHolderKey) return "key " + core::ToHex(h.holder_key());
  return "(nobody)";
}

// Attributes and documents compared as sets: the order a file lists them in is not content.
std::vector<std::string> Sorted(const google::protobuf::RepeatedPtrField<pb::Attribute>& a) {
  std::vector<std::string> v;
  for (const auto& x : a) v.push_back(x.key() + '\0' + x.value());
  std::sort(v.begin(), v.end());
  return v;
}
std::vector<std::string> Sorted(const google::protobuf::RepeatedPtrField<pb::DocumentDigest>& d) {
  std::vector<std::string> v;
  for (const auto& x : d) v.push_back(x.name() + '\0' + x.sha256());
  std::sort(v.begin(), v.end());
  return v;
}

pb::Register RegisterBody(const BulkLine& l) {
  pb::Register body;
  for (const auto& a : l.attributes) *body.add_attributes() = a;
  for (const auto& d : l.documents) *body.add_documents() = d;
  if (l.custodian) *body.mutable_custodian() = *l.custodian;
  return body;
}

// Why a registration on the ledger differs from the line, or "" when it is the same.
std::string RegisterDifference(const pb::Register& want, const pb::Register& have,
                               const std::string& our_org) {
  pb::Holder want_c = want.custodian(), have_c = have.custodian();
  if (!want.has_custodian()) want_c.set_organization(our_org);
  if (!have.has_custodian()) have_c.set_organization(our_org);
  if (Sorted(want.attributes()) != Sorted(have.attributes())) return "other attributes";
  if (Sorted(want.documents()) != Sorted(have.documents())) return "other documents";
  if (!SameHolder(want_c, have_c)) return "first custodian " + HolderText(have_c);
  return "";
}

class Run {
 public:
  Run(const BulkOptions& o, std::vector<BulkLine> lines, std::ostream& out, std::ostream& err)
      : o_(o), lines_(std::move(lines)), results_(lines_.size()), out_(out), err_(err) {}

  int Go();

 private:
  // --- Connections ------------------------------------------------------------------------------
  struct Conn {
    size_t node = 0;
    std::unique_ptr<NodeClient> client;
  };
  Conn MakeConn(size_t node) {
    Conn c;
    c.node = node % addresses_.size();
    HttpClientOptions ho;
    ho.request_timeout_ms = kRequestMs;
    c.client =
        std::make_unique<NodeClient>(HttpClient(addresses_[c.node], ho), WireFormat::kProtobuf);
    return c;
  }
  bool Stopping() const {
    return g_sigint.load() || (o_.stop != nullptr && o_.stop->load()) || gave_up_.load();
  }
  // Calls `call` until it succeeds or is refused; busy answers wait for Retry-After, transport
  // and server failures move to the next node. Gives up when stopping or after the stall limit.
  // `attempts_max` (0: no limit) makes a first contact fail fast when no node answers.
  template <typename T, typename F>
  NodeResult<T> Retry(Conn& c, F call, size_t attempts_max = 0) {
    uint32_t backoff = kRetryFirstMs;
    const auto give_up = Clock::now() + std::chrono::milliseconds(o_.stall_timeout_ms);
    for (size_t attempt = 1;; ++attempt) {
      NodeResult<T> r = call(*c.client);
      if (attempts_max != 0 && attempt >= attempts_max) return r;
      if (r.ok() || r.error().kind == NodeErrorKind::kRejected) return r;
      uint32_t wait = backoff;
      if (r.error().kind == NodeErrorKind::kBusy) {
        ++busy_retries_;
        if (r.error().retry_after_s)
          wait = std::min<uint32_t>(*r.error().retry_after_s * 1000, 10'000);
      } else {
        ++error_retries_;
        NoteError(r.error().ToString());
        if (addresses_.size() > 1) c = MakeConn(c.node + 1);
      }
      backoff = std::min(backoff * 2, kRetryMaxMs);
      if (Stopping() || Clock::now() + std::chrono::milliseconds(wait) > give_up) return r;
      SleepUnlessStopping(wait);
    }
  }
  void SleepUnlessStopping(uint32_t ms) {
    const auto until = Clock::now() + std::chrono::milliseconds(ms);
    while (Clock::now() < until && !Stopping()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<uint32_t>(ms, 50)));
    }
  }
  void NoteError(const std::string& e) {
    std::lock_guard lock(mu_);
    last_error_ = e;
  }

  // Runs fn(conn, i) for i in [0, n) over `clients` threads, each with its own connection.
  template <typename F>
  void ParallelFor(size_t n, F fn) {
    std::atomic<size_t> next{0};
    std::vector<std::thread> threads;
    const size_t count = std::min<size_t>(o_.clients, std::max<size_t>(n, 1));
    for (size_t t = 0; t < count; ++t) {
      threads.emplace_back([&, t] {
        Conn c = MakeConn(t);
        for (size_t i = next++; i < n && !Stopping(); i = next++) fn(c, i);
      });
    }
    for (auto& th : threads) th.join();
  }

  // --- Phases -----------------------------------------------------------------------------------
  int Setup();
  int Classify();
  int Sign();
  int WriteJournal();
  void Submit();
  void Worker(size_t t);
  void Watch();
  void Settle(Task& task, Outcome outcome, uint64_t height, std::string reason);
  void PrintProgress(bool final_line);
  int Finish();
  void LoadJournal();

  void SetResult(size_t line, Outcome outcome, std::string record_id, uint64_t height,
                 std::string reason) {
    LineResult& r = results_[line];
    r.outcome = outcome;
    r.record_id = std::move(record_id);
    r.height = height;
    r.reason = std::move(reason);
  }

  const BulkOptions& o_;
  std::vector<BulkLine> lines_;
  std::vector<LineResult> results_;
  std::ostream& out_;
  std::ostream& err_;
  std::string command_;
  std::filesystem::path report_path_, journal_path_;

  std::vector<NodeAddress> addresses_;
  std::optional<core::SigningKey> key_;
  std::string chain_id_;
  std::string our_org_;
  pb::Holder to_;
  uint64_t start_height_ = 0;
  std::unordered_map<std::string, pb::Envelope> journal_;  // By canonical item.

  std::vector<Task> tasks_;
  // Lines to sign (index into lines_) and, for transfers, the item's latest record.
  std::vector<size_t> to_sign_;
  std::vector<std::string> prev_;                  // Parallel to lines_.
  std::unordered_map<std::string, size_t> by_id_;  // Record id hex -> task.

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<size_t> queue_;
  size_t open_tasks_ = 0;  // Not yet done.
  std::atomic<bool> gave_up_{false};
  std::atomic<bool> finished_{false};
  std::atomic<uint64_t> busy_retries_{0}, error_retries_{0};
  std::string last_error_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point submit_start_{};
  Clock::time_point last_progress_ = Clock::now();
  bool tty_ = false;
  bool interrupted_ = false;
};

int Run::Setup() {
  const Reporter report(command_, o_.json, out_, err_);
  std::vector<std::string> urls = o_.nodes;
  if (urls.empty()) urls.push_back(ResolveNodeUrl(""));
  for (const std::string& u : urls) {
    core::Result<NodeAddress> a = ParseNodeUrl(u);
    if (!a.ok()) return report.Fail(ExitCode::kFileOrUsage, a.status().message());
    addresses_.push_back(*a);
  }
  if (o_.type == core::RecordType::kTransfer) {
    core::Result<pb::Holder> h = ParseHolder(o_.to);
    if (!h.ok()) return report.Fail(ExitCode::kInvalidInput, "--to: " + h.status().message());
    to_ = *h;
  }
  core::Result<core::SigningKey> key = LoadSigningKey(o_.key_path);
  if (!key.ok()) return report.Fail(key.status(), "cannot load key " + o_.key_path.string());
  key_.emplace(std::move(*key));

  // The chain and our organisation, from the first node that answers.
  Conn c = MakeConn(0);
  // Each node is tried (and a busy one once more) before the command gives up: a wrong --node
  // fails at once.
  NodeResult<pb::StatusResponse> status = Retry<pb::StatusResponse>(
      c, [](NodeClient& n) { return n.GetStatus(); }, addresses_.size() + 2);
  if (!status.ok()) return report.FailNode(status.error(), "the status request");
  chain_id_ = status->chain_id();
  NodeResult<pb::NetworkResponse> net =
      Retry<pb::NetworkResponse>(c, [](NodeClient& n) { return n.GetNetwork(); });
  if (!net.ok()) return report.FailNode(net.error(), "the network request");
  const std::string pub = key_->public_key().Hex();
  for (const auto& m : net->members()) {
    for (const auto& k : m.signing_keys()) {
      if (k.valid() && k.key() == pub) our_org_ = m.id();
    }
  }
  if (our_org_.empty()) {
    return report.Fail(ExitCode::kInvalidInput, "key " + pub +
                                                    " is not a valid signing key of any member "
                                                    "of the network at " +
                                                    c.client->url());
  }
  if (o_.type == core::RecordType::kTransfer && to_.kind_case() == pb::Holder::kOrganization) {
    bool known = false;
    for (const auto& m : net->members()) known |= m.id() == to_.organization();
    if (!known) {
      return report.Fail(ExitCode::kInvalidInput,
                         "--to: the network has no member \"" + to_.organization() + "\"");
    }
  }
  return 0;
}

void Run::LoadJournal() {
  std::ifstream in(journal_path_);
  std::string line;
  const std::string_view want = o_.type == core::RecordType::kRegister ? "register" : "transfer";
  while (std::getline(in, line)) {
    // A line torn by a crash does not decode and is skipped: its record was never sent.
    std::optional<core::Bytes> bytes = core::FromHex(line);
    if (!bytes) continue;
    pb::Envelope env;
    pb::RecordPayload payload;
    if (!env.ParseFromArray(bytes->data(), static_cast<int>(bytes->size())) ||
        !payload.ParseFromString(env.payload())) {
      continue;
    }
    std::optional<core::RecordType> t = PayloadType(payload);
    if (!t || core::RecordTypeName(*t) != want || payload.chain_id() != chain_id_) continue;
    journal_[payload.item_id()] = std::move(env);
  }
}

int Run::Classify() {
  const Reporter report(command_, o_.json, out_, err_);
  std::vector<size_t> good;
  for (size_t i = 0; i < lines_.size(); ++i) {
    if (!lines_[i].error.empty()) {
      SetResult(i, Outcome::kInvalid, "", 0, lines_[i].error);
    } else {
      good.push_back(i);
    }
  }
  prev_.assign(lines_.size(), "");
  // The items' state in batches; the batches run in parallel.
  const size_t batches = (good.size() + kCheckBatchMax - 1) / kCheckBatchMax;
  std::vector<pb::CheckResponse> answers(batches);
  std::atomic<bool> failed{false};
  std::string failure;
  std::mutex failure_mu;
  ParallelFor(batches, [&](Conn& c, size_t b) {
    std::vector<std::string> ids;
    for (size_t k = b * kCheckBatchMax; k < std::min(good.size(), (b + 1) * kCheckBatchMax); ++k) {
      ids.push_back(lines_[good[k]].item);
    }
    NodeResult<pb::CheckResponse> r =
        Retry<pb::CheckResponse>(c, [&](NodeClient& n) { return n.Check(ids, kRequestMs); });
    if (!r.ok() || static_cast<size_t>(r->results_size()) != ids.size()) {
      std::lock_guard lock(failure_mu);
      failed = true;
      failure = r.ok() ? "the node answered a check of " + std::to_string(ids.size()) +
                             " ids with " + std::to_string(r->results_size()) + " results"
                       : r.error().ToString();
      return;
    }
    answers[b] = std::move(*r);
  });
  if (Stopping()) return ToInt(ExitCode::kPending);
  if (failed) return report.Fail(ExitCode::kFileOrUsage, "checking the items: " + failure);

  // What needs the item's history: a registered item (compare content), or a transfer (prev).
  std::vector<size_t> lookup;
  for (size_t k = 0; k < good.size(); ++k) {
    const size_t i = good[k];
    const pb::CheckResult& r =
        answers[k / kCheckBatchMax].results(static_cast<int>(k % kCheckBatchMax));
    if (r.status() == "invalid") {
      SetResult(i, Outcome::kInvalid, "", 0, r.error().code() + ": " + r.error().message());
      continue;
    }
    if (o_.type == core::RecordType::kRegister) {
      if (!r.registered()) {
        to_sign_.push_back(i);
      } else if (r.brand() != our_org_) {
        SetResult(i, Outcome::kConflict, "", r.latest_height(),
                  "already registered by \"" + r.brand() + "\"");
      } else {
        lookup.push_back(i);
      }
      continue;
    }
    pb::Holder us;
    us.set_organization(our_org_);
    if (!r.registered()) {
      SetResult(i, Outcome::kRefused, "", 0, "not_registered: the item is not registered");
    } else if (r.status() == "decommissioned") {
      SetResult(i, Outcome::kConflict, "", r.latest_height(), "the item is decommissioned");
    } else if (SameHolder(r.custodian(), us) || SameHolder(r.custodian(), to_)) {
      lookup.push_back(i);
    } else {
      SetResult(i, Outcome::kConflict, "", r.latest_height(),
                "the custodian is " + HolderText(r.custodian()) + ", not " + our_org_);
    }
  }

  std::vector<std::optional<pb::ItemResponse>> items(lookup.size());
  ParallelFor(lookup.size(), [&](Conn& c, size_t k) {
    core::Result<core::ItemId> id = core::ParseItemId(lines_[lookup[k]].item);
    HM_ASSERT(id.ok());
    NodeResult<pb::ItemResponse> r =
        Retry<pb::ItemResponse>(c, [&](NodeClient& n) { return n.GetItem(*id, kRequestMs); });
    if (!r.ok()) {
      std::lock_guard lock(failure_mu);
      failed = true;
      failure = r.error().ToString();
      return;
    }
    items[k] = std::move(*r);
  });
  if (Stopping()) return ToInt(ExitCode::kPending);
  if (failed) return report.Fail(ExitCode::kFileOrUsage, "reading the items: " + failure);

  for (size_t k = 0; k < lookup.size(); ++k) {
    const size_t i = lookup[k];
    const pb::ItemResponse& item = *items[k];
    if (!item.registered() || item.history_size() == 0) {
      // Changed under our feet; the node will judge.
      if (o_.type == core::RecordType::kRegister)
        to_sign_.push_back(i);
      else
        SetResult(i, Outcome::kRefused, "", 0, "not_registered: the item is not registered");
      continue;
    }
    if (o_.type == core::RecordType::kRegister) {
      const pb::HistoryEntry& first = item.history(0);
      const std::string diff =
          RegisterDifference(RegisterBody(lines_[i]), first.payload().register_(), our_org_);
      if (diff.empty()) {
        SetResult(i, Outcome::kAlready, first.record_id(), first.height(), "");
      } else {
        SetResult(i, Outcome::kConflict, first.record_id(), first.height(),
                  "already registered by \"" + item.state().brand() + "\" with " + diff);
      }
      continue;
    }
    pb::Holder us;
    us.set_organization(our_org_);
    if (SameHolder(item.state().custodian(), us)) {
      prev_[i] = item.state().last_record();
      to_sign_.push_back(i);
      continue;
    }
    // The custodian is already --to: by our transfer?
    const pb::HistoryEntry* ours = nullptr;
    for (int h = item.history_size() - 1; h >= 0; --h) {
      const pb::HistoryEntry& e = item.history(h);
      if (e.type() != "transfer" && e.type() != "reassign" && e.type() != "register") continue;
      if (e.type() == "transfer" && e.signer_organization() == our_org_ &&
          SameHolder(e.payload().transfer().to(), to_)) {
        ours = &e;
      }
      break;  // Only the latest change of custody counts.
    }
    if (ours != nullptr) {
      SetResult(i, Outcome::kAlready, ours->record_id(), ours->height(), "");
    } else {
      SetResult(i, Outcome::kConflict, "", item.state().updated_height(),
                "the custodian is already " + HolderText(to_) + ", but not by our transfer");
    }
  }
  std::sort(to_sign_.begin(), to_sign_.end());
  return 0;
}

int Run::Sign() {
  tasks_.resize(to_sign_.size());
  std::vector<std::string> errors(to_sign_.size());
  unsigned threads = o_.sign_threads ? o_.sign_threads : std::thread::hardware_concurrency();
  threads = std::clamp<unsigned>(threads, 1, 64);
  std::atomic<size_t> next{0};
  const uint64_t now_ms = NowMs();
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      // A key is not shared between threads.
      core::SigningKey key = core::SigningKey::FromSeed(key_->seed()).value();
      for (size_t k = next++; k < to_sign_.size() && !Stopping(); k = next++) {
        const size_t i = to_sign_[k];
        const BulkLine& l = lines_[i];
        Task& task = tasks_[k];
        task.line = i;
        PayloadHeader h;
        h.chain_id = chain_id_;
        h.item = core::ParseItemId(l.item).value();
        h.prev = prev_[i];
        h.timestamp_ms = now_ms;
        pb::RecordPayload payload = o_.type == core::RecordType::kRegister
                                        ? BuildPayload(h, RegisterBody(l))
                                        : BuildPayload(h, TransferBody(to_));
        // The journal's envelope for the same record, when there is one, is sent again instead:
        // it may be pending, and a second, newer record would be a second registration.
        if (auto j = journal_.find(l.item); j != journal_.end()) {
          pb::RecordPayload old;
          if (old.ParseFromString(j->second.payload())) {
            pb::RecordPayload want = payload;
            want.set_timestamp_ms(old.timestamp_ms());
            if (core::SerializeDeterministic(want) == core::SerializeDeterministic(old) &&
                j->second.signer() == core::ToString(key.public_key().span())) {
              task.envelope = j->second;
              task.id_hex = RecordIdOf(task.envelope).Hex();
              continue;
            }
          }
        }
        core::Result<pb::Envelope> env = SignAndCheck(key, payload, chain_id_);
        if (!env.ok()) {
          errors[k] = env.status().message();
          continue;
        }
        task.envelope = std::move(*env);
        task.id_hex = RecordIdOf(task.envelope).Hex();
      }
    });
  }
  for (auto& th : pool) th.join();
  for (size_t k = 0; k < tasks_.size(); ++k) tasks_[k].line = to_sign_[k];
  if (Stopping()) return ToInt(ExitCode::kPending);  // Nothing is sent; all are reported not-sent.
  std::vector<Task> kept;
  for (size_t k = 0; k < tasks_.size(); ++k) {
    if (!errors[k].empty()) {
      SetResult(tasks_[k].line, Outcome::kInvalid, "", 0, errors[k]);
    } else {
      kept.push_back(std::move(tasks_[k]));
    }
  }
  const bool bad = kept.size() != tasks_.size();
  tasks_ = std::move(kept);
  if (bad && o_.strict) return ToInt(ExitCode::kInvalidInput);
  return 0;
}

int Run::WriteJournal() {
  const Reporter report(command_, o_.json, out_, err_);
  std::string text;
  for (const Task& t : tasks_) {
    auto j = journal_.find(lines_[t.line].item);
    if (j != journal_.end() &&
        core::SerializeDeterministic(j->second) == core::SerializeDeterministic(t.envelope)) {
      continue;  // Already there.
    }
    text += core::ToHex(core::SerializeDeterministic(t.envelope));
    text += '\n';
  }
  if (text.empty()) return 0;
  const int fd = ::open(journal_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    return report.Fail(ExitCode::kFileOrUsage, "cannot open the journal " + journal_path_.string());
  }
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t w = ::write(fd, text.data() + done, text.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      ::close(fd);
      return report.Fail(ExitCode::kFileOrUsage,
                         "cannot write the journal " + journal_path_.string());
    }
    done += static_cast<size_t>(w);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) {
    return report.Fail(ExitCode::kFileOrUsage, "cannot sync the journal " + journal_path_.string());
  }
  return 0;
}

void Run::Settle(Task& task, Outcome outcome, uint64_t height, std::string reason) {
  // REQUIRES: mu_ held.
  if (task.state == TaskState::kDone) return;
  task.state = TaskState::kDone;
  SetResult(task.line, outcome, task.id_hex, height, std::move(reason));
  --open_tasks_;
  last_progress_ = Clock::now();
  cv_.notify_all();
}

void Run::Worker(size_t t) {
  Conn c = MakeConn(t);
  while (true) {
    size_t k = 0;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(100),
                   [&] { return !queue_.empty() || finished_.load() || Stopping(); });
      if (finished_.load() || Stopping()) return;
      if (queue_.empty()) continue;
      k = queue_.front();
      queue_.pop_front();
      Task& task = tasks_[k];
      if (task.state == TaskState::kDone) continue;
      task.state = TaskState::kSending;
      task.ever_sent = true;
    }
    const pb::Envelope& envelope = tasks_[k].envelope;  // Never changes once workers run.
    NodeResult<pb::SubmitResponse> r =
        Retry<pb::SubmitResponse>(c, [&](NodeClient& n) { return n.Submit(envelope, kRequestMs); });
    std::lock_guard lock(mu_);
    Task& task = tasks_[k];
    if (task.state == TaskState::kDone) continue;  // The watcher saw it committed meanwhile.
    if (r.ok()) {
      if (r->status() == "committed") {
        Settle(task, Outcome::kCommitted, r->height(), "");
      } else {
        task.state = TaskState::kAccepted;
        task.accepted_at = Clock::now();
        last_progress_ = task.accepted_at;
      }
      continue;
    }
    if (r.error().kind == NodeErrorKind::kRejected) {
      const std::string& code = r.error().error.code();
      const bool conflict =
          code == "already_registered" || code == "stale_prev" || code == "duplicate";
      Settle(task, conflict ? Outcome::kConflict : Outcome::kRefused, 0,
             r.error().error.code() + ": " + r.error().error.message());
      continue;
    }
    // Stopping, or no node answered within the stall limit: it may or may not have arrived.
    task.state = TaskState::kAccepted;
    task.accepted_at = Clock::now();
  }
}

void Run::Watch() {
  Conn c = MakeConn(0);
  uint64_t next = start_height_ + 1;
  uint32_t backoff = kRetryFirstMs;
  while (!finished_.load()) {
    core::Result<HttpResponse> r =
        c.client->http().Get("/v1/blocks/" + std::to_string(next), kRequestMs);
    if (!r.ok() || (r->status != 200 && r->status != 404)) {
      NoteError(r.ok() ? "block " + std::to_string(next) + ": HTTP " + std::to_string(r->status)
                       : r.status().message());
      if (addresses_.size() > 1) c = MakeConn(c.node + 1);
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff));
      backoff = std::min(backoff * 2, kRetryMaxMs);
      continue;
    }
    backoff = kRetryFirstMs;
    if (r->status == 404) {
      std::this_thread::sleep_for(std::chrono::milliseconds(kWatchPollMs));
      continue;
    }
    pb::BlockView view;
    if (!ParseApiBody(*r, &view).ok()) {
      NoteError("block " + std::to_string(next) + " does not parse");
      if (addresses_.size() > 1) c = MakeConn(c.node + 1);
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff));
      continue;
    }
    std::lock_guard lock(mu_);
    for (const std::string& id : view.record_ids()) {
      auto it = by_id_.find(id);
      if (it == by_id_.end()) continue;
      Settle(tasks_[it->second], Outcome::kCommitted, next, "");
    }
    ++next;
  }
}

void Run::Submit() {
  {
    Conn c = MakeConn(0);
    NodeResult<pb::StatusResponse> s =
        Retry<pb::StatusResponse>(c, [](NodeClient& n) { return n.GetStatus(); });
    // Records already sent by an earlier run may have committed before this height; those were
    // told apart by the check above, except for the few that committed in between, which the
    // node answers as "committed" when they are sent again.
    if (s.ok()) start_height_ = s->height();
  }
  for (size_t k = 0; k < tasks_.size(); ++k) {
    by_id_.emplace(tasks_[k].id_hex, k);
    queue_.push_back(k);
  }
  open_tasks_ = tasks_.size();
  submit_start_ = Clock::now();
  last_progress_ = submit_start_;
  std::thread watcher([this] { Watch(); });
  std::vector<std::thread> workers;
  for (size_t t = 0; t < o_.clients; ++t) workers.emplace_back([this, t] { Worker(t); });

  auto last_print = Clock::now();
  std::optional<Clock::time_point> stop_at;
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(200));
      if (open_tasks_ == 0) break;
      const auto now = Clock::now();
      const bool stop_asked = g_sigint.load() || (o_.stop != nullptr && o_.stop->load());
      if (stop_asked && !stop_at) {
        interrupted_ = true;
        stop_at = now;
      }
      if (stop_at) {
        // Waiting is for answers and commits of records sent; with none out, stop now.
        const bool any_out = std::any_of(tasks_.begin(), tasks_.end(), [](const Task& t) {
          return t.state == TaskState::kSending || t.state == TaskState::kAccepted;
        });
        if (!any_out || now - *stop_at > std::chrono::milliseconds(o_.stop_grace_ms)) break;
      }
      if (now - last_progress_ > std::chrono::milliseconds(o_.stall_timeout_ms)) {
        gave_up_ = true;
        break;
      }
      // Accepted long ago and still not in a block: the node that took it may have died before
      // passing it on. The same envelope is offered again; the node answers idempotently.
      if (!stop_at) {
        for (size_t k = 0; k < tasks_.size(); ++k) {
          Task& t = tasks_[k];
          if (t.state == TaskState::kAccepted &&
              now - t.accepted_at > std::chrono::milliseconds(kResendAfterMs)) {
            t.state = TaskState::kQueued;
            queue_.push_back(k);
          }
        }
        cv_.notify_all();
      }
    }
    if (Clock::now() - last_print >=
        std::chrono::milliseconds(tty_ ? 250 : o_.progress_interval_ms)) {
      PrintProgress(false);
      last_print = Clock::now();
    }
  }
  finished_ = true;
  cv_.notify_all();
  for (auto& w : workers) w.join();
  watcher.join();
}

void Run::PrintProgress(bool final_line) {
  if (o_.progress == BulkOptions::Progress::kNone) return;
  size_t done = 0, committed = 0;
  {
    std::lock_guard lock(mu_);
    for (const LineResult& r : results_) {
      done += r.outcome != Outcome::kNone;
      committed += r.outcome == Outcome::kCommitted;
    }
  }
  const double elapsed =
      std::chrono::duration<double>(Clock::now() -
                                    (submit_start_ == Clock::time_point{} ? start_ : submit_start_))
          .count();
  const double rate = elapsed > 0 ? static_cast<double>(committed) / elapsed : 0;
  const size_t total = lines_.size();
  const size_t left = total - done;
  char eta[32] = "--";
  if (rate > 0) {
    const auto s = static_cast<uint64_t>(static_cast<double>(left) / rate);
    std::snprintf(eta, sizeof eta, "%llu:%02llu", static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  }
  char text[160];
  if (tty_) {
    constexpr int kWidth = 30;
    const int filled = total ? static_cast<int>(kWidth * done / total) : kWidth;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    std::snprintf(text, sizeof text, "\r[%s] %zu/%zu  %.0f/s  ETA %s ", bar.c_str(), done, total,
                  rate, eta);
    err_ << text << (final_line ? "\n" : "") << std::flush;
  } else {
    std::snprintf(text, sizeof text, "%s: %zu/%zu done, %zu committed, %.0f/s, ETA %s",
                  command_.c_str(), done, total, committed, rate, eta);
    err_ << text << "\n" << std::flush;
  }
}

int Run::Finish() {
  const Reporter report(command_, o_.json, out_, err_);
  pb::BulkSummary s;
  s.set_lines(lines_.size());
  std::vector<bool> pending(lines_.size(), false), sent(lines_.size(), false);
  std::vector<const Task*> task_of(lines_.size(), nullptr);
  for (const Task& t : tasks_) {
    task_of[t.line] = &t;
    if (t.state != TaskState::kDone) {
      pending[t.line] = true;
      sent[t.line] = t.ever_sent;
    }
  }
  std::string text = "line,item,outcome,record_id,height,reason\n";
  for (size_t i = 0; i < lines_.size(); ++i) {
    const LineResult& r = results_[i];
    std::string_view outcome;
    switch (r.outcome) {
      case Outcome::kCommitted:
        outcome = kOutcomeCommitted;
        s.set_committed(s.committed() + 1);
        break;
      case Outcome::kAlready:
        outcome = kOutcomeAlready;
        s.set_already_committed(s.already_committed() + 1);
        break;
      case Outcome::kConflict:
        outcome = kOutcomeConflict;
        s.set_conflicts(s.conflicts() + 1);
        break;
      case Outcome::kRefused:
        outcome = kOutcomeRefused;
        s.set_refused(s.refused() + 1);
        break;
      case Outcome::kInvalid:
        outcome = kOutcomeInvalid;
        s.set_invalid(s.invalid() + 1);
        break;
      case Outcome::kNone:
        if (pending[i] && sent[i]) {
          outcome = kOutcomePending;
          s.set_pending(s.pending() + 1);
        } else {
          outcome = kOutcomeNotSent;
          s.set_not_sent(s.not_sent() + 1);
        }
        break;
    }
    std::string record_id = r.record_id;
    if (r.outcome == Outcome::kNone && task_of[i] != nullptr) record_id = task_of[i]->id_hex;
    const BulkLine& l = lines_[i];
    text += std::to_string(l.line) + "," + CsvField(l.item.empty() ? l.input : l.item) + "," +
            std::string(outcome) + "," + record_id + "," +
            (r.height ? std::to_string(r.height) : "") + "," + CsvField(r.reason) + "\n";
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  s.set_elapsed_s(elapsed);
  s.set_committed_per_s(elapsed > 0 ? static_cast<double>(s.committed()) / elapsed : 0);
  s.set_report(report_path_.string());
  s.set_interrupted(interrupted_);
  s.set_busy_retries(busy_retries_.load());
  s.set_error_retries(error_retries_.load());

  const std::filesystem::path tmp = report_path_.string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    f.flush();
    if (!f) return report.Fail(ExitCode::kFileOrUsage, "cannot write the report " + tmp.string());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, report_path_, ec);
  if (ec)
    return report.Fail(ExitCode::kFileOrUsage, "cannot write the report " + report_path_.string());
  // Nothing left in flight: the journal has served its purpose.
  if (s.pending() == 0 && s.not_sent() == 0) std::filesystem::remove(journal_path_, ec);

  if (o_.json) {
    out_ << JsonLine(s) << "\n";
  } else {
    char rate[32];
    std::snprintf(rate, sizeof rate, "%.1f s, %.0f/s", elapsed, s.committed_per_s());
    out_ << "lines:             " << s.lines() << "\n"
         << "committed:         " << s.committed() << "\n"
         << "already there:     " << s.already_committed() << "\n"
         << "conflicts:         " << s.conflicts() << "\n"
         << "refused:           " << s.refused() << "\n"
         << "bad lines:         " << s.invalid() << "\n";
    if (s.pending() + s.not_sent() > 0) {
      out_ << "pending:           " << s.pending() << "\n"
           << "not sent:          " << s.not_sent() << "\n";
    }
    out_ << "elapsed:           " << rate << "\n"
         << "report:            " << report_path_.string() << "\n";
  }
  if (interrupted_ || gave_up_) {
    err_ << command_ << ": "
         << (interrupted_ ? "interrupted" : "no progress for " + SecondsText(o_.stall_timeout_ms))
         << (last_error_.empty() ? "" : " (last error: " + ForTerminal(last_error_) + ")")
         << "; run the same command again to finish\n";
  }
  // An unfinished run says so first: the re-run it calls for reports the bad lines again.
  if (interrupted_ || s.pending() + s.not_sent() > 0) return ToInt(ExitCode::kPending);
  if (s.conflicts() + s.refused() + s.invalid() > 0) return ToInt(ExitCode::kInvalidInput);
  return ToInt(ExitCode::kOk);
}

int Run::Go() {
  command_ = "hallmark " + std::string(CommandName(o_.type));
  const Reporter report(command_, o_.json, out_, err_);
  report_path_ =
      o_.report.empty() ? std::filesystem::path(o_.from.string() + ".report.csv") : o_.report;
  journal_path_ = report_path_.string() + ".journal";
  tty_ =
      o_.progress == BulkOptions::Progress::kAuto && &err_ == &std::cerr && ::isatty(STDERR_FILENO);

  size_t bad = 0;
  for (const BulkLine& l : lines_) bad += !l.error.empty();
  if (bad > 0 && o_.strict) {
    for (size_t i = 0; i < lines_.size(); ++i) {
      if (!lines_[i].error.empty()) SetResult(i, Outcome::kInvalid, "", 0, lines_[i].error);
    }
    err_ << command_ << ": --strict: " << bad << " bad line(s); nothing was sent (see "
         << report_path_.string() << ")\n";
    Finish();
    return ToInt(ExitCode::kInvalidInput);
  }
  if (int e = Setup(); e != 0) return e;
  LoadJournal();
  if (int e = Classify(); e != 0) {
    if (e == ToInt(ExitCode::kPending)) {
      interrupted_ = true;
      return Finish();
    }
    return e;
  }
  if (int e = Sign(); e != 0) {
    if (e == ToInt(ExitCode::kPending)) {
      interrupted_ = true;
      return Finish();
    }
    err_ << command_ << ": --strict: some records are not valid; nothing was sent (see "
         << report_path_.string() << ")\n";
    tasks_.clear();
    Finish();
    return e;
  }
  if (int e = WriteJournal(); e != 0) return e;
  if (Stopping()) {
    interrupted_ = true;
    return Finish();
  }
  if (o_.progress != BulkOptions::Progress::kNone) {
    size_t counts[6] = {};
    for (const LineResult& r : results_) ++counts[static_cast<size_t>(r.outcome)];
    err_ << command_ << ": " << lines_.size() << " lines: " << counts[size_t(Outcome::kInvalid)]
         << " bad, " << counts[size_t(Outcome::kAlready)] << " already there, "
         << counts[size_t(Outcome::kConflict)] + counts[size_t(Outcome::kRefused)]
         << " conflicting or refused; sending " << tasks_.size() << " records over " << o_.clients
         << " connection(s)\n";
  }
  if (!tasks_.empty()) Submit();
  PrintProgress(true);
  return Finish();
}

}  // namespace

int RunBulk(const BulkOptions& o, std::ostream& out, std::ostream& err) {
  const std::string command = "hallmark " + std::string(CommandName(o.type));
  const Reporter report(command, o.json, out, err);
  if (o.type != core::RecordType::kRegister && o.type != core::RecordType::kTransfer) {
    return report.Fail(ExitCode::kFileOrUsage, "--from is for register and transfer only");
  }
  if (o.key_path.empty()) return report.Fail(ExitCode::kFileOrUsage, "--key FILE is required");
  if (o.type == core::RecordType::kTransfer && o.to.empty()) {
    return report.Fail(ExitCode::kFileOrUsage, "--to ORG|KEYHEX is required");
  }
  if (o.clients == 0 || o.clients > kBulkClientsMax) {
    return report.Fail(ExitCode::kFileOrUsage,
                       "--clients must be 1 to " + std::to_string(kBulkClientsMax));
  }
  if (o.stall_timeout_ms == 0)
    return report.Fail(ExitCode::kFileOrUsage, "--timeout must be positive");
  BulkFormat format = o.format;
  if (format == BulkFormat::kAuto) {
    core::Result<BulkFormat> f = BulkFormatOf(o.from);
    if (!f.ok()) return report.Fail(ExitCode::kFileOrUsage, f.status().message());
    format = *f;
  }
  core::Result<std::vector<BulkLine>> lines = ReadBulkFile(o.from, format, o.type);
  if (!lines.ok()) return report.Fail(lines.status());

  g_sigint = false;
  struct sigaction sa {
  }, old{};
  sa.sa_handler = OnSigint;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, &old);
  Run run(o, std::move(*lines), out, err);
  const int code = run.Go();
  ::sigaction(SIGINT, &old, nullptr);
  return code;
}

}  // namespace hallmark::wallet
