#include "bench/load/chain_sync.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "bench/load/report.h"
#include "core/certificate.h"
#include "core/codec.h"
#include "core/consensus_codec.h"
#include "core/crypto/keystore.h"
#include "core/genesis.h"
#include "core/item_id.h"
#include "node/testnet.h"
#include "proto/api.pb.h"
#include "proto/node.pb.h"
#include "storage/ledger.h"
#include "storage/snapshot.h"
#include "wallet-cli/http_client.h"
#include "wallet-cli/records.h"

namespace hallmark::bench {

namespace fs = std::filesystem;

namespace {

constexpr int kValidators = 4;
constexpr const char* kChainFile = "bench-chain.json";
constexpr const char* kJoiner = "observer0";

// A GTIN-14 under the brand's company prefix: indicator 0, the prefix, item reference 2 (the
// write generator uses 1), and the check digit.
std::string GtinFor(const std::string& prefix) {
  std::string data = "0" + prefix;
  while (data.size() < 12) data += "0";
  data += "2";
  return data + std::to_string(core::Gs1CheckDigit(data));
}

struct Brand {
  std::string prefix;
  std::string seed;  // The signing key's seed; each signing thread makes its own key from it.
};

double LoadAverage1() {
  double load[3] = {0, 0, 0};
  return getloadavg(load, 3) >= 1 ? load[0] : -1;
}

// Signed blocks of records, made by worker threads ahead of the (single) block builder. Block b
// holds items [b * per_block, min((b + 1) * per_block, items)).
class Signer {
 public:
  Signer(const core::Network& net, std::vector<Brand> brands, uint64_t items, uint32_t per_block,
         unsigned threads, uint64_t base_time_ms)
      : net_(net),
        brands_(std::move(brands)),
        items_(items),
        per_block_(per_block),
        blocks_((items + per_block - 1) / per_block),
        base_time_ms_(base_time_ms) {
    for (const Brand& b : brands_) gtins_.push_back(GtinFor(b.prefix));
    for (unsigned t = 0; t < threads; ++t) {
      workers_.emplace_back([this, t, threads] { Work(t, threads); });
    }
  }
  ~Signer() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
  }

  uint64_t blocks() const { return blocks_; }
  // The time the records of block index b carry; the block itself is dated at least this.
  uint64_t TimeOf(uint64_t b) const { return base_time_ms_ + b + 1; }

  // Block b's envelopes, once signed. REQUIRES: called for b = 0, 1, 2, ... in order.
  std::vector<pb::Envelope> Take(uint64_t b) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return ready_.contains(b); });
    std::vector<pb::Envelope> out = std::move(ready_[b]);
    ready_.erase(b);
    taken_ = b + 1;
    cv_.notify_all();
    return out;
  }

 private:
  void Work(unsigned t, unsigned threads) {
    std::vector<core::SigningKey> keys;
    for (const Brand& b : brands_) {
      keys.push_back(core::SigningKey::FromSeed(core::AsSpan(b.seed)).value());
    }
    for (uint64_t b = t; b < blocks_; b += threads) {
      {
        // Stay at most a few blocks ahead of the builder.
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || b < taken_ + 2 * threads_ahead_; });
        if (stop_) return;
      }
      std::vector<pb::Envelope> envs;
      const uint64_t first = b * per_block_;
      const uint64_t last = std::min<uint64_t>(first + per_block_, items_);
      envs.reserve(last - first);
      for (uint64_t i = first; i < last; ++i) {
        const size_t k = i % brands_.size();
        wallet::PayloadHeader h;
        h.chain_id = net_.chain_id();
        h.item = core::ItemId{gtins_[k], "SYNC-" + std::to_string(i)};
        h.timestamp_ms = TimeOf(b);
        pb::Register body;
        pb::Attribute* a = body.add_attributes();
        a->set_key("model");
        a->set_value("catch-up");
        envs.push_back(wallet::SignEnvelope(keys[k], wallet::BuildPayload(h, body)));
      }
      std::lock_guard lock(mu_);
      ready_.emplace(b, std::move(envs));
      cv_.notify_all();
    }
  }

  const core::Network& net_;
  const std::vector<Brand> brands_;
  std::vector<std::string> gtins_;
  const uint64_t items_;
  const uint32_t per_block_;
  const uint64_t blocks_;
  const uint64_t base_time_ms_;
  const uint64_t threads_ahead_ = 4;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, std::vector<pb::Envelope>> ready_;  // Guarded by mu_.
  uint64_t taken_ = 0;                                   // Guarded by mu_.
  bool stop_ = false;                                    // Guarded by mu_.
  std::vector<std::thread> workers_;
};

core::Status CopyFolder(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::remove_all(to, ec);
  if (ec) return core::Status::IoError("cannot remove " + to.string() + ": " + ec.message());
  fs::copy(from, to, fs::copy_options::recursive, ec);
  if (ec) {
    return core::Status::IoError("cannot copy " + from.string() + " to " + to.string() + ": " +
                                 ec.message());
  }
  return core::Status::Ok();
}

// Builds the chain into `ledger_dir`. Returns the head height.
core::Result<uint64_t> BuildChain(const GenChainOptions& o, const core::Network& net,
                                  const fs::path& ledger_dir) {
  // Validator keys in genesis order: they sign the precommits of every certificate.
  std::vector<core::SigningKey> validators;
  for (int i = 0; i < net.genesis().validators_size(); ++i) {
    auto key = core::ReadKeystore(o.dir / ("node" + std::to_string(i)) / "node.key", std::nullopt);
    if (!key.ok()) return key.status();
    if (key->public_key().Hex() != net.genesis().validators(i).consensus_key()) {
      return core::Status::InvalidInput("node" + std::to_string(i) + "/node.key is not validator " +
                                        std::to_string(i));
    }
    validators.push_back(std::move(key).value());
  }
  std::vector<Brand> brands;
  for (const auto& org : net.genesis().organizations()) {
    if (!core::Network::HasRole(org, pb::BRAND) || org.gs1_company_prefixes().empty()) continue;
    auto key = core::ReadKeystore(o.dir / "keys" / (org.id() + ".key"), std::nullopt);
    if (!key.ok()) return key.status();
    const core::ByteSpan seed = key->seed();
    brands.push_back(Brand{org.gs1_company_prefixes(0),
                           std::string(reinterpret_cast<const char*>(seed.data()), seed.size())});
  }
  if (brands.empty()) return core::Status::InvalidInput("the testnet has no brand");

  storage::LedgerOptions lo;
  lo.sync = false;  // One flush at the end; a crash here only loses the bench's own chain.
  auto ledger = storage::Ledger::Open(ledger_dir, net, lo);
  if (!ledger.ok()) return ledger.status();
  if ((*ledger)->height() != 0) return core::Status::InvalidInput("the ledger is not empty");

  unsigned threads = o.sign_threads ? o.sign_threads : std::thread::hardware_concurrency();
  threads = std::clamp(threads, 1u, 64u);
  const uint64_t base_time = net.genesis().genesis_time_ms();
  Signer signer(net, std::move(brands), o.items, o.records_per_block, threads, base_time);
  // The records were signed just now by this program: checking them again here would only
  // double the time. Every node that fetches the chain verifies each of them.
  const storage::SignatureCheck trusted = [](const pb::Envelope&, const core::Hash256&) {
    return std::optional<core::Rejection>();
  };
  const auto start = Clock::now();
  auto last_progress = start;
  for (uint64_t b = 0; b < signer.blocks(); ++b) {
    const std::vector<pb::Envelope> envs = signer.Take(b);
    const uint64_t height = b + 1;
    const core::SigningKey& proposer = validators[b % validators.size()];
    auto built = (*ledger)->BuildBlock(
        envs, signer.TimeOf(b), core::Hash256::FromSpan(proposer.public_key().span()), trusted);
    if (!built.ok()) return built.status().WithContext("block " + std::to_string(height));
    if (!built->dropped.empty()) {
      return core::Status::Internal("block " + std::to_string(height) + " dropped record " +
                                    std::to_string(built->dropped[0].index) + ": " +
                                    built->dropped[0].rejection.ToString());
    }
    // Precommits of every validator for (height, round 0, block), in validator-set order: the
    // certificate live validators would have made.
    core::CommitCertificate cert;
    cert.height = height;
    cert.round = 0;
    cert.block_id = built->hash;
    const core::Bytes sign_bytes =
        core::VoteSignBytes(net.chain_id(), height, 0, core::VoteType::kPrecommit, built->hash);
    for (const core::SigningKey& v : validators) {
      cert.signatures.push_back(
          core::CommitSignature{v.public_key(), v.Sign(core::ByteSpan(sign_bytes))});
    }
    HM_RETURN_IF_ERROR(
        core::VerifyCommitCertificate(net, cert, height, built->hash).WithContext("certificate"));
    HM_RETURN_IF_ERROR((*ledger)->Commit(*built, core::EncodeCertificate(cert)));
    const auto now = Clock::now();
    if (now - last_progress > std::chrono::seconds(5) || b + 1 == signer.blocks()) {
      last_progress = now;
      const double s = SecondsBetween(start, now);
      const uint64_t done = std::min<uint64_t>(o.items, (b + 1) * o.records_per_block);
      Progress("block " + std::to_string(height) + "/" + std::to_string(signer.blocks()) + ", " +
               std::to_string(done) + " items, " + std::to_string(static_cast<uint64_t>(done / s)) +
               " items/s");
    }
  }
  return (*ledger)->height();
}

}  // namespace

int RunGenChain(const GenChainOptions& o) {
  if (o.items == 0 || o.items > 100'000'000) {
    Progress("--items must be between 1 and 100,000,000");
    return 2;
  }
  node::TestnetOptions t;
  t.validators = kValidators;
  t.observers = 1;
  t.dir = o.dir;
  t.base_port = o.base_port;
  t.force = o.force;
  t.chain_id = "hallmark-bench-sync";
  std::string summary;
  if (auto st = node::WriteTestnet(t, &summary); !st.ok()) {
    Progress("testnet: " + st.ToString());
    return st.code() == core::StatusCode::kInvalidInput ? 2 : 3;
  }
  auto net = core::Network::FromFile(o.dir / "genesis.json");
  if (!net.ok()) {
    Progress("genesis: " + net.status().ToString());
    return 3;
  }
  if (o.records_per_block == 0 || o.records_per_block > net->max_block_records()) {
    Progress("--records-per-block must be between 1 and the genesis' max_block_records (" +
             std::to_string(net->max_block_records()) + ")");
    return 2;
  }
  const auto start = Clock::now();
  const fs::path first = o.dir / "node0" / "data" / "ledger";
  auto head = BuildChain(o, *net, first);
  if (!head.ok()) {
    Progress("building the chain: " + head.status().ToString());
    return 3;
  }
  const double build_s = SecondsBetween(start, Clock::now());
  for (int i = 1; i < kValidators; ++i) {
    auto st = CopyFolder(first, o.dir / ("node" + std::to_string(i)) / "data" / "ledger");
    if (!st.ok()) {
      Progress(st.ToString());
      return 3;
    }
  }
  uint64_t bytes = 0;
  for (const auto& e : fs::recursive_directory_iterator(first)) {
    if (e.is_regular_file()) bytes += e.file_size();
  }
  JsonLine line;
  line.Add("items", o.items)
      .Add("blocks", *head)
      .Add("records_per_block", static_cast<uint64_t>(o.records_per_block))
      .Add("ledger_bytes", bytes)
      .Add("build_s", build_s, 2)
      .Add("items_per_s", static_cast<double>(o.items) / build_s, 0);
  std::ofstream out(o.dir / kChainFile, std::ios::trunc);
  out << line.str() << "\n";
  if (!out) {
    Progress("cannot write " + (o.dir / kChainFile).string());
    return 3;
  }
  std::printf("%s\n", line.str().c_str());
  return 0;
}

namespace {

// A child process: `hallmarkd start --home HOME`, with its output in HOME/bench.log.
struct Child {
  pid_t pid = -1;
  std::string name;
};

core::Result<Child> Spawn(const std::vector<std::string>& argv, const fs::path& log,
                          std::string name) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return core::Status::IoError("fork failed");
  if (pid == 0) {
    FILE* f = std::freopen(log.c_str(), "w", stdout);
    if (f) dup2(fileno(stdout), fileno(stderr));
    execvp(args[0], args.data());
    std::_Exit(127);
  }
  return Child{pid, std::move(name)};
}

void StopAll(std::vector<Child>* children) {
  for (const Child& c : *children) {
    if (c.pid > 0) kill(c.pid, SIGTERM);
  }
  for (const Child& c : *children) {
    if (c.pid <= 0) continue;
    int status = 0;
    for (int i = 0; i < 100; ++i) {
      if (waitpid(c.pid, &status, WNOHANG) == c.pid) break;
      if (i == 99) {
        kill(c.pid, SIGKILL);
        waitpid(c.pid, &status, 0);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  children->clear();
}

std::optional<pb::StatusResponse> ReadStatus(const std::string& url) {
  auto addr = wallet::ParseNodeUrl(url);
  if (!addr.ok()) return std::nullopt;
  wallet::HttpClient http(*addr);
  auto r = http.Get("/v1/status", 2000);
  pb::StatusResponse status;
  if (!r.ok() || r->status != 200 || !core::FromJson(r->body, &status, "status").ok()) {
    return std::nullopt;
  }
  return status;
}

// CPU seconds (user + system) a child has used so far, from /proc.
double ChildCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  unsigned long utime = 0, stime = 0;
  // Fields 3.. after the command: state is 3; utime is 14, stime 15.
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoul(f);
    if (i == 15) stime = std::stoul(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string HttpUrl(const pb::NodeConfig& c) {
  return "http://" + c.http_listen();
}

// Reads HOME/config.json, applies `edit` and writes it back.
core::Status EditConfig(const fs::path& home, const std::function<void(pb::NodeConfig*)>& edit) {
  const fs::path path = home / "config.json";
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  pb::NodeConfig c;
  HM_RETURN_IF_ERROR(core::FromJson(text, &c, "config").WithContext(path.string()));
  edit(&c);
  auto json = core::ToJson(c);
  if (!json.ok()) return json.status();
  std::ofstream out(path, std::ios::trunc);
  out << *json << "\n";
  out.close();
  if (!out) return core::Status::IoError("cannot write " + path.string());
  return core::Status::Ok();
}

// The height of the ledger at HOME/data/ledger (the node must not be running).
core::Result<uint64_t> StoredHeight(const fs::path& dir, const fs::path& home) {
  auto net = core::Network::FromFile(dir / "genesis.json");
  if (!net.ok()) return net.status();
  auto ledger = storage::Ledger::Open(home / "data" / "ledger", *net, storage::LedgerOptions{});
  if (!ledger.ok()) return ledger.status();
  return (*ledger)->height();
}

}  // namespace

int RunSync(const SyncOptions& o) {
  std::ifstream chain_in(o.dir / kChainFile);
  std::string chain_line;
  if (!chain_in || !std::getline(chain_in, chain_line)) {
    Progress("no " + (o.dir / kChainFile).string() + ": run hallmark-bench gen-chain first");
    return 2;
  }
  auto items_pos = chain_line.find("\"items\":");
  const uint64_t items =
      items_pos == std::string::npos ? 0 : std::stoull(chain_line.substr(items_pos + 8));
  fs::path hallmarkd = o.hallmarkd;
  if (hallmarkd.empty()) hallmarkd = fs::read_symlink("/proc/self/exe").parent_path() / "hallmarkd";
  if (!fs::exists(hallmarkd)) {
    Progress("no hallmarkd at " + hallmarkd.string() + "; pass --hallmarkd");
    return 2;
  }
  // The HTTP addresses from the node homes.
  auto http_of = [&](const std::string& node) -> std::optional<std::string> {
    std::ifstream in(o.dir / node / "config.json");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    pb::NodeConfig c;
    if (!in.good() && text.empty()) return std::nullopt;
    if (!core::FromJson(text, &c, "config").ok()) return std::nullopt;
    return HttpUrl(c);
  };
  std::vector<std::string> urls;
  for (int i = 0; i < kValidators; ++i) {
    auto u = http_of("node" + std::to_string(i));
    if (!u) {
      Progress("cannot read " + (o.dir / ("node" + std::to_string(i)) / "config.json").string());
      return 2;
    }
    urls.push_back(*u);
  }
  auto joiner_url = http_of(kJoiner);
  if (!joiner_url) {
    Progress("cannot read " + (o.dir / kJoiner / "config.json").string());
    return 2;
  }
  // A fresh joiner every run: its data folder is emptied (the validators keep theirs).
  std::error_code ec;
  fs::remove_all(o.dir / kJoiner / "data", ec);
  // --state-sync: node0 alone takes one snapshot, at the first height after its stored head (the
  // validators' first new block, empty), and the joiner installs it, then follows blocks. Without
  // it neither happens. node0's snapshots are removed, so every run takes its own.
  const fs::path serving = o.dir / "node0";
  const fs::path snapshots = serving / "data" / "snapshots";
  fs::remove_all(snapshots, ec);
  uint64_t snapshot_every = 0;
  if (o.state_sync) {
    auto stored = StoredHeight(o.dir, serving);
    if (!stored.ok()) {
      Progress("node0's ledger: " + stored.status().ToString());
      return 3;
    }
    snapshot_every = *stored + 1;
  }
  for (const auto& [home, edit] :
       std::vector<std::pair<fs::path, std::function<void(pb::NodeConfig*)>>>{
           {serving, [&](pb::NodeConfig* c) { c->set_snapshot_interval(snapshot_every); }},
           {o.dir / kJoiner, [&](pb::NodeConfig* c) { c->set_state_sync(o.state_sync); }}}) {
    if (auto st = EditConfig(home, edit); !st.ok()) {
      Progress(st.ToString());
      return 3;
    }
  }

  const double load_before = LoadAverage1();
  std::vector<Child> children;
  for (int i = 0; i < kValidators; ++i) {
    const fs::path home = o.dir / ("node" + std::to_string(i));
    auto c = Spawn({hallmarkd.string(), "start", "--home", home.string()}, home / "bench.log",
                   "node" + std::to_string(i));
    if (!c.ok()) {
      StopAll(&children);
      Progress(c.status().ToString());
      return 3;
    }
    children.push_back(*c);
  }
  // Wait for the validators to answer and agree on where the chain is.
  uint64_t head = 0;
  const auto wait_start = Clock::now();
  for (int up = 0; up < kValidators;) {
    up = 0;
    for (const std::string& u : urls) {
      auto s = ReadStatus(u);
      if (s) {
        ++up;
        head = std::max(head, s->height());
      }
    }
    if (Clock::now() - wait_start > std::chrono::seconds(60)) {
      StopAll(&children);
      Progress("the validators did not answer within 60 s (see DIR/node*/bench.log)");
      return 3;
    }
    if (up < kValidators) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  Progress("validators up at height " + std::to_string(head));
  double snapshot_ready_s = 0;
  if (o.state_sync) {
    // Wait for node0's snapshot (a folder appears only once complete), then for the validators'
    // head again.
    const storage::SnapshotStore store(snapshots);
    const auto s0 = Clock::now();
    while (store.Heights().empty()) {
      if (Clock::now() - s0 > std::chrono::seconds(o.timeout_s)) {
        StopAll(&children);
        Progress("node0 took no snapshot within --timeout-s (see DIR/node0/bench.log)");
        return 3;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    snapshot_ready_s = SecondsBetween(s0, Clock::now());
    for (const std::string& u : urls) {
      if (auto s = ReadStatus(u)) head = std::max(head, s->height());
    }
    Progress("node0's snapshot at height " + std::to_string(store.Heights().back()) + " after " +
             std::to_string(snapshot_ready_s) + " s; validators at height " + std::to_string(head));
  }
  Progress("starting the joiner");

  std::vector<std::string> argv;
  {
    std::istringstream words(o.joiner_prefix);
    std::string w;
    while (words >> w) argv.push_back(w);
  }
  const fs::path joiner_home = o.dir / kJoiner;
  argv.push_back(hallmarkd.string());
  argv.push_back("start");
  argv.push_back("--home");
  argv.push_back(joiner_home.string());
  const auto t0 = Clock::now();
  auto joiner = Spawn(argv, joiner_home / "bench.log", kJoiner);
  if (!joiner.ok()) {
    StopAll(&children);
    Progress(joiner.status().ToString());
    return 3;
  }
  children.push_back(*joiner);
  Progress("joiner pid " + std::to_string(joiner->pid) + "; catching up to height " +
           std::to_string(head));

  std::optional<Clock::time_point> first_block;
  uint64_t height = 0;
  uint64_t first_height = 0;
  auto last_progress = t0;
  bool reached = false;
  double joiner_cpu = 0;
  while (Clock::now() - t0 < std::chrono::seconds(o.timeout_s)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(o.poll_ms));
    int status = 0;
    if (o.joiner_prefix.empty() && waitpid(joiner->pid, &status, WNOHANG) == joiner->pid) {
      children.back().pid = -1;
      Progress("the joiner exited (see " + (joiner_home / "bench.log").string() + ")");
      break;
    }
    auto s = ReadStatus(*joiner_url);
    if (!s) continue;
    height = s->height();
    if (!first_block && height > 0) {
      first_block = Clock::now();
      first_height = height;
    }
    if (o.joiner_prefix.empty()) joiner_cpu = ChildCpuSeconds(joiner->pid);
    if (height >= head) {
      reached = true;
      break;
    }
    if (Clock::now() - last_progress > std::chrono::seconds(5)) {
      last_progress = Clock::now();
      Progress("joiner at height " + std::to_string(height) + "/" + std::to_string(head) +
               " after " + std::to_string(SecondsBetween(t0, last_progress)) + " s");
    }
  }
  const auto t1 = Clock::now();
  const double load_after = LoadAverage1();
  StopAll(&children);
  if (!reached) {
    Progress("the joiner reached height " + std::to_string(height) + " of " + std::to_string(head) +
             " in " + std::to_string(SecondsBetween(t0, t1)) + " s");
    return 1;
  }
  const double total_s = SecondsBetween(t0, t1);
  // Every block of the generated chain holds records; later ones (the validators' own) are
  // empty, so the items are the records fetched.
  const double catch_up_s = first_block ? SecondsBetween(*first_block, t1) : total_s;
  head = std::max(head, height);  // Blocks made while the joiner caught up count too.
  // By state sync the first height seen is the snapshot's, which may be the head itself.
  const uint64_t blocks_after_first = head > first_height ? head - first_height : 0;
  JsonLine line;
  line.Add("mode", o.state_sync ? "state_sync" : "blocks")
      .Add("head", head)
      .Add("records", items)
      .Add("time_to_head_s", total_s, 2)
      .Add("first_block_s", first_block ? SecondsBetween(t0, *first_block) : 0.0, 2)
      .Add("blocks_per_s", static_cast<double>(head) / total_s, 1)
      .Add("records_per_s", static_cast<double>(items) / total_s, 0)
      .Add("steady_blocks_per_s",
           catch_up_s > 0 ? static_cast<double>(blocks_after_first) / catch_up_s : 0.0, 1)
      .Add("first_height", first_height)
      .Add("joiner_cpu_s", joiner_cpu, 2)
      .Add("snapshot_ready_s", snapshot_ready_s, 2)
      .Add("load_before", load_before, 2)
      .Add("load_after", load_after, 2);
  std::printf("%s\n", line.str().c_str());
  return 0;
}

}  // namespace hallmark::bench
