#include "bench/load/write_load.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <memory>
#include <optional>
#include <thread>
#include <unordered_map>

#include "bench/load/http_conn.h"
#include "bench/load/report.h"
#include "core/codec.h"
#include "core/crypto/keystore.h"
#include "core/genesis.h"
#include "core/item_id.h"
#include "proto/api.pb.h"
#include "wallet-cli/http_client.h"
#include "wallet-cli/records.h"

namespace hallmark::bench {

namespace asio = boost::asio;

namespace {

struct Brand {
  std::string org;
  std::string prefix;  // GS1 company prefix.
  core::SigningKey key;
};

enum class State : uint8_t {
  kWaiting,   // Not yet sent (a transfer waits for its registration's answer).
  kInFlight,  // Sent, no answer yet (or waiting to be sent again after a 429).
  kAccepted,  // 200/202 from the node.
  kRejected,  // 4xx other than 429: the node refused it.
  kFailed,    // Never answered after retries, or a transfer whose registration was refused.
};

struct Rec {
  std::string body;  // The serialized Envelope, sent as is.
  core::Hash256 id;
  uint32_t node = 0;
  int64_t transfer = -1;  // A registration's transfer, by index.
  State state = State::kWaiting;
  bool committed = false;
  uint8_t attempts = 0;
  Clock::time_point t0{};    // Due (open loop) or first sent (closed loop).
  Clock::time_point seen{};  // Its block seen on the watched node.
};

constexpr uint8_t kMaxAttempts = 20;
constexpr uint32_t kRetryFullMs = 50;    // After a 429 (mempool full or rate limited).
constexpr uint32_t kRetryErrorMs = 200;  // After a connection error.

std::string RunTag() {
  // Serial numbers must not collide with an earlier run on the same network.
  static const char kDigits[] = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
  uint64_t v = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch() /
                                     std::chrono::milliseconds(1));
  std::string s;
  for (int i = 0; i < 7; ++i) {
    s += kDigits[v % 34];
    v /= 34;
  }
  return s;
}

// A GTIN-14 under the brand's company prefix: indicator 0, the prefix, a fixed item reference,
// and the check digit.
std::string GtinFor(const std::string& prefix) {
  std::string data = "0" + prefix;
  while (data.size() < 12) data += "0";
  data += "1";
  return data + std::to_string(core::Gs1CheckDigit(data));
}

class WriteRun {
 public:
  WriteRun(const WriteOptions& o, std::vector<Endpoint> endpoints, std::vector<Rec> recs,
           uint64_t start_height)
      : o_(o),
        endpoints_(std::move(endpoints)),
        recs_(std::move(recs)),
        next_height_(start_height + 1),
        nodes_(endpoints_.size()) {
    for (uint32_t i = 0; i < recs_.size(); ++i) by_id_.emplace(recs_[i].id, i);
    // Registrations come first, transfers after them.
    uint32_t transfers = 0;
    for (const Rec& r : recs_) transfers += r.transfer >= 0 ? 1 : 0;
    regs_total_ = static_cast<uint32_t>(recs_.size()) - transfers;
    for (uint32_t i = 0; i < regs_total_; ++i) nodes_[recs_[i].node].regs.push_back(i);
  }

  void Run() {
    for (uint32_t c = 0; c < o_.clients; ++c) {
      auto client = std::make_shared<Client>();
      client->node = c % nodes_.size();
      client->conn = std::make_shared<HttpConnection>(io_, endpoints_[client->node]);
      client->timer = std::make_unique<asio::steady_timer>(io_);
      clients_.push_back(client);
    }
    watcher_ = std::make_shared<HttpConnection>(io_, endpoints_[0]);
    watch_timer_ = std::make_unique<asio::steady_timer>(io_);
    tick_timer_ = std::make_unique<asio::steady_timer>(io_);
    progress_timer_ = std::make_unique<asio::steady_timer>(io_);

    start_ = Clock::now();
    last_event_ = start_;
    Watch();
    // Closed loop: every connection starts sending. Open loop: they all wait for due records.
    for (auto& c : clients_) Pump(c.get());
    if (o_.rate > 0) Tick();
    ProgressLoop();
    io_.run();
  }

  int Report(double presign_s) {
    std::vector<double> latency_ms;
    std::vector<Clock::time_point> commits;
    uint64_t accepted = 0, rejected = 0, failed = 0, committed = 0;
    Clock::time_point last_commit = start_;
    for (const Rec& r : recs_) {
      accepted += r.state == State::kAccepted || r.committed;
      rejected += r.state == State::kRejected && !r.committed;
      failed += r.state == State::kFailed && !r.committed;
      if (!r.committed) continue;
      ++committed;
      commits.push_back(r.seen);
      last_commit = std::max(last_commit, r.seen);
      if (r.t0 != Clock::time_point{}) {
        latency_ms.push_back(std::chrono::duration<double, std::milli>(r.seen - r.t0).count());
      }
    }
    std::sort(commits.begin(), commits.end());
    // The middle 80% of commits, leaving out the ramp up and the drain.
    double steady = 0;
    if (commits.size() >= 10) {
      size_t a = commits.size() / 10, b = commits.size() * 9 / 10;
      double span = SecondsBetween(commits[a], commits[b]);
      if (span > 0) steady = static_cast<double>(b - a) / span;
    }
    Percentiles p = ComputePercentiles(&latency_ms);
    const double duration = SecondsBetween(start_, last_commit);
    const double answered = SecondsBetween(start_, last_answer_);
    uint64_t connects = 0;
    for (const auto& c : clients_) connects += c->conn->connects();

    JsonLine j;
    j.Add("mode", "write")
        .Add("nodes", static_cast<uint64_t>(endpoints_.size()))
        .Add("clients", static_cast<uint64_t>(o_.clients))
        .Add("rate", o_.rate, 0)
        .Add("records", static_cast<uint64_t>(recs_.size()))
        .Add("transfers", static_cast<uint64_t>(recs_.size() - regs_total_))
        .Add("accepted", accepted)
        .Add("rejected", rejected)
        .Add("failed", failed)
        .Add("committed", committed)
        .Add("retries_full", retries_full_)
        .Add("retries_error", retries_error_)
        .Add("connections_opened", connects)
        .Add("accepted_per_s", answered > 0 ? static_cast<double>(accepted) / answered : 0.0)
        .Add("committed_per_s", duration > 0 ? static_cast<double>(committed) / duration : 0.0)
        .Add("committed_per_s_steady", steady)
        .Add("latency_ms_p50", p.p50)
        .Add("latency_ms_p95", p.p95)
        .Add("latency_ms_p99", p.p99)
        .Add("latency_ms_max", p.max)
        .Add("latency_ms_mean", p.mean)
        .Add("duration_s", duration, 2)
        .Add("blocks", blocks_)
        .Add("records_per_block",
             blocks_ > 0 ? static_cast<double>(block_records_) / static_cast<double>(blocks_) : 0.0)
        .Add("max_block_records", max_block_records_)
        .Add("presign_s", presign_s, 2)
        .Add("bench_cpu_s", ProcessCpuSeconds(), 2);
    std::printf("%s\n", j.str().c_str());
    std::fflush(stdout);
    return (rejected == 0 && failed == 0 && committed == recs_.size()) ? 0 : 1;
  }

 private:
  struct Client {
    uint32_t node = 0;
    std::shared_ptr<HttpConnection> conn;
    std::unique_ptr<asio::steady_timer> timer;
  };
  struct NodeQueue {
    std::deque<uint32_t> due;    // Ready to send, oldest first.
    std::vector<uint32_t> regs;  // Closed loop: this node's registrations, in order.
    size_t next_reg = 0;
    std::vector<Client*> idle;
  };

  std::optional<uint32_t> NextFor(uint32_t node) {
    NodeQueue& q = nodes_[node];
    if (!q.due.empty()) {
      uint32_t i = q.due.front();
      q.due.pop_front();
      return i;
    }
    if (o_.rate <= 0 && q.next_reg < q.regs.size()) return q.regs[q.next_reg++];
    return std::nullopt;
  }

  void Pump(Client* c) {
    std::optional<uint32_t> i = NextFor(c->node);
    if (!i) {
      nodes_[c->node].idle.push_back(c);
      return;
    }
    Send(c, *i);
  }

  void Wake(uint32_t node) {
    NodeQueue& q = nodes_[node];
    while (!q.idle.empty() && !q.due.empty()) {
      Client* c = q.idle.back();
      q.idle.pop_back();
      Pump(c);
    }
  }

  void Send(Client* c, uint32_t i) {
    Rec& r = recs_[i];
    if (r.t0 == Clock::time_point{}) r.t0 = Clock::now();
    if (r.state == State::kWaiting) {
      r.state = State::kInFlight;
      ++in_flight_;
    }
    ++r.attempts;
    c->conn->Post("/v1/records", r.body, [this, c, i](HttpResult&& res) { OnAnswer(c, i, res); });
  }

  void RetryLater(Client* c, uint32_t i, uint32_t delay_ms) {
    c->timer->expires_after(std::chrono::milliseconds(delay_ms));
    c->timer->async_wait([this, c, i](const boost::system::error_code& ec) {
      if (ec) return;
      Send(c, i);
    });
  }

  void OnAnswer(Client* c, uint32_t i, const HttpResult& res) {
    Rec& r = recs_[i];
    last_answer_ = last_event_ = Clock::now();
    if ((res.error || res.status == 429 || res.status >= 500) && r.attempts < kMaxAttempts) {
      if (res.error || res.status >= 500) {
        if (retries_error_++ < 5) {
          Progress("record " + std::to_string(i) + ": " +
                   (res.error ? res.error.message() : "HTTP " + std::to_string(res.status)) +
                   "; retrying");
        }
        RetryLater(c, i, kRetryErrorMs);
      } else {
        ++retries_full_;
        RetryLater(c, i, kRetryFullMs);
      }
      return;
    }
    --in_flight_;
    if (!res.error && (res.status == 200 || res.status == 202)) {
      r.state = State::kAccepted;
      if (r.transfer >= 0) Release(static_cast<uint32_t>(r.transfer));
    } else {
      r.state =
          res.error || res.status == 429 || res.status >= 500 ? State::kFailed : State::kRejected;
      if (rejections_shown_++ < 5) {
        std::string why = res.error ? res.error.message() : "HTTP " + std::to_string(res.status);
        pb::ErrorResponse err;
        if (!res.error && err.ParseFromString(res.body)) {
          why += " " + err.error().code() + ": " + err.error().message();
        }
        Progress("record " + std::to_string(i) + " not accepted: " + why);
      }
      if (!r.committed) ++settled_;
      if (r.transfer >= 0) {
        // Its transfer cannot be valid now; it is never sent.
        recs_[r.transfer].state = State::kFailed;
        ++settled_;
        ++skipped_;
      }
    }
    Pump(c);
  }

  // A registration was accepted: its transfer may go, to the same node (which has the
  // registration pending, so it admits the transfer on top).
  void Release(uint32_t t) {
    Rec& r = recs_[t];
    if (o_.rate > 0) {
      r.t0 = Clock::now();  // Ready from now; Tick makes it due.
      ready_transfers_.push_back(t);
      return;
    }
    nodes_[r.node].due.push_back(t);
    Wake(r.node);
  }

  // Open loop: releases records at the configured rate.
  void Tick() {
    const auto now = Clock::now();
    const double elapsed = SecondsBetween(start_, now);
    const uint64_t target = static_cast<uint64_t>(elapsed * o_.rate);
    const uint32_t regs_total = regs_total_;
    while (dispatched_ < target) {
      std::optional<uint32_t> i;
      if (!ready_transfers_.empty()) {
        i = ready_transfers_.front();
        ready_transfers_.pop_front();
      } else if (next_reg_ < regs_total) {
        i = next_reg_++;
      }
      if (!i) break;
      Rec& r = recs_[*i];
      // Due when the schedule said, or when it became ready (a transfer) if that was later.
      auto due = start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                              static_cast<double>(dispatched_) / o_.rate));
      r.t0 = std::max(due, r.t0);
      nodes_[r.node].due.push_back(*i);
      Wake(r.node);
      ++dispatched_;
    }
    if (dispatched_ + skipped_ >= recs_.size()) return;
    tick_timer_->expires_after(std::chrono::milliseconds(1));
    tick_timer_->async_wait([this](const boost::system::error_code& ec) {
      if (!ec) Tick();
    });
  }

  // Follows the chain on the first node: each new block names the records it committed.
  void Watch() {
    watcher_->Get("/v1/blocks/" + std::to_string(next_height_), [this](HttpResult&& res) {
      if (res.error || res.status != 200) {
        if (!res.error && res.status != 404 && watch_errors_++ < 5) {
          Progress("watching blocks: HTTP " + std::to_string(res.status));
        }
        watch_timer_->expires_after(std::chrono::milliseconds(o_.poll_ms));
        watch_timer_->async_wait([this](const boost::system::error_code& ec) {
          if (!ec) Watch();
        });
        return;
      }
      const auto now = Clock::now();
      pb::BlockView view;
      if (!view.ParseFromString(res.body)) {
        Progress("block " + std::to_string(next_height_) + " does not parse");
      }
      for (const std::string& hex : view.record_ids()) {
        auto id = core::Hash256::FromHex(hex);
        if (!id) continue;
        auto it = by_id_.find(*id);
        if (it == by_id_.end()) continue;
        Rec& r = recs_[it->second];
        if (r.committed) continue;
        r.committed = true;
        r.seen = now;
        ++committed_;
        if (r.state != State::kRejected && r.state != State::kFailed) ++settled_;
      }
      ++blocks_;
      block_records_ += static_cast<uint64_t>(view.record_ids_size());
      max_block_records_ =
          std::max<uint64_t>(max_block_records_, static_cast<uint64_t>(view.record_ids_size()));
      ++next_height_;
      last_event_ = now;
      if (settled_ >= recs_.size()) {
        io_.stop();
        return;
      }
      Watch();
    });
  }

  void ProgressLoop() {
    progress_timer_->expires_after(std::chrono::seconds(1));
    progress_timer_->async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      const auto now = Clock::now();
      uint64_t sent = 0, accepted = 0;
      for (const Rec& r : recs_) {
        sent += r.state != State::kWaiting;
        accepted += r.state == State::kAccepted;
      }
      Progress("t=" + std::to_string(static_cast<int>(SecondsBetween(start_, now))) +
               "s sent=" + std::to_string(sent) + " accepted=" + std::to_string(accepted) +
               " committed=" + std::to_string(committed_) + " (+" +
               std::to_string(committed_ - committed_last_) + "/s) height=" +
               std::to_string(next_height_ - 1) + " in_flight=" + std::to_string(in_flight_) +
               " retries_429=" + std::to_string(retries_full_));
      committed_last_ = committed_;
      const bool nothing_to_send = in_flight_ == 0 && dispatched_ + skipped_ >= recs_.size();
      const bool all_sent = in_flight_ == 0 && sent >= recs_.size() - skipped_;
      if ((nothing_to_send || all_sent) &&
          SecondsBetween(last_event_, now) > static_cast<double>(o_.drain_s)) {
        Progress("gave up waiting for " + std::to_string(recs_.size() - settled_) +
                 " records to commit");
        io_.stop();
        return;
      }
      ProgressLoop();
    });
  }

  const WriteOptions& o_;
  asio::io_context io_;
  std::vector<Endpoint> endpoints_;
  std::vector<Rec> recs_;
  std::unordered_map<core::Hash256, uint32_t> by_id_;
  uint64_t next_height_;
  std::vector<NodeQueue> nodes_;
  std::vector<std::shared_ptr<Client>> clients_;
  std::shared_ptr<HttpConnection> watcher_;
  std::unique_ptr<asio::steady_timer> watch_timer_, tick_timer_, progress_timer_;
  std::deque<uint32_t> ready_transfers_;
  Clock::time_point start_, last_answer_, last_event_;
  uint64_t in_flight_ = 0;
  uint64_t dispatched_ = 0;
  uint32_t next_reg_ = 0;
  uint32_t regs_total_ = 0;
  uint64_t settled_ = 0;  // Committed, rejected or failed.
  uint64_t skipped_ = 0;
  uint64_t committed_ = 0, committed_last_ = 0;
  uint64_t retries_full_ = 0, retries_error_ = 0;
  uint64_t rejections_shown_ = 0, watch_errors_ = 0;
  uint64_t blocks_ = 0, block_records_ = 0, max_block_records_ = 0;
};

core::Result<std::vector<Brand>> LoadBrands(const core::Network& net,
                                            const std::filesystem::path& keys_dir) {
  std::vector<Brand> brands;
  const char* env = std::getenv("HALLMARK_PASSPHRASE");
  for (const auto& org : net.genesis().organizations()) {
    if (!core::Network::HasRole(org, pb::BRAND) || org.gs1_company_prefixes().empty()) continue;
    std::filesystem::path path = keys_dir / (org.id() + ".key");
    if (!std::filesystem::exists(path)) {
      Progress("no key for brand " + org.id() + " (" + path.string() + "); skipping it");
      continue;
    }
    std::optional<std::string> pass;
    if (env) pass = env;
    auto key = core::ReadKeystore(path, pass);
    if (!key.ok()) return key.status().WithContext(path.string());
    brands.push_back(Brand{org.id(), org.gs1_company_prefixes(0), std::move(key).value()});
  }
  if (brands.empty()) {
    return core::Status::InvalidInput("no brand keys in " + keys_dir.string() +
                                      " match a BRAND organisation with a GS1 prefix in genesis");
  }
  return brands;
}

// Signs every record before the clock starts. Registrations come first (index i = item i), then
// transfers; item i goes to node i % nodes, its transfer to the same node.
std::vector<Rec> PreSign(const WriteOptions& o, const core::Network& net,
                         const std::vector<Brand>& brands, const std::string& market,
                         size_t node_count) {
  const uint64_t transfers = static_cast<uint64_t>(
      std::floor(static_cast<double>(o.records) * std::clamp(o.transfer_share, 0.0, 0.5)));
  const uint64_t regs = o.records - transfers;
  std::vector<Rec> recs(o.records);
  std::vector<int64_t> transfer_of(regs, -1);
  uint64_t t = regs;
  for (uint64_t i = 0; i < regs; ++i) {
    if (transfers > 0 && (i + 1) * transfers / regs > i * transfers / regs) {
      transfer_of[i] = static_cast<int64_t>(t++);
    }
  }
  const std::string tag = o.run_tag.empty() ? RunTag() : o.run_tag;
  std::vector<std::string> gtins;
  for (const Brand& b : brands) gtins.push_back(GtinFor(b.prefix));
  const uint64_t now_ms = wallet::NowMs();
  pb::Holder to;
  to.set_organization(market);

  unsigned threads = o.sign_threads ? o.sign_threads : std::thread::hardware_concurrency();
  threads = std::max(1u, std::min<unsigned>(threads, 64));
  std::vector<std::thread> pool;
  for (unsigned w = 0; w < threads; ++w) {
    pool.emplace_back([&, w] {
      // A key is not to be shared between threads: each has its own copies.
      std::vector<core::SigningKey> keys;
      for (const Brand& b : brands)
        keys.push_back(core::SigningKey::FromSeed(b.key.seed()).value());
      for (uint64_t i = w; i < regs; i += threads) {
        const size_t b = i % brands.size();
        wallet::PayloadHeader h;
        h.chain_id = net.chain_id();
        h.item = core::ItemId{gtins[b], tag + "-" + std::to_string(i)};
        h.timestamp_ms = now_ms;
        pb::Register body;
        pb::Attribute* a = body.add_attributes();
        a->set_key("model");
        a->set_value("load-test");
        pb::Envelope env = wallet::SignEnvelope(keys[b], wallet::BuildPayload(h, body));
        Rec& r = recs[i];
        r.id = wallet::RecordIdOf(env);
        r.body = env.SerializeAsString();
        r.node = static_cast<uint32_t>(i % node_count);
        r.transfer = transfer_of[i];
        if (r.transfer >= 0) {
          h.prev = std::string(r.id.view());
          pb::Envelope tenv =
              wallet::SignEnvelope(keys[b], wallet::BuildPayload(h, wallet::TransferBody(to)));
          Rec& tr = recs[static_cast<size_t>(r.transfer)];
          tr.id = wallet::RecordIdOf(tenv);
          tr.body = tenv.SerializeAsString();
          tr.node = r.node;
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  return recs;
}

}  // namespace

int RunWrite(const WriteOptions& o) {
  if (o.nodes.empty() || o.records == 0 || o.clients == 0) {
    Progress("write needs --node, --records > 0 and --clients > 0");
    return 2;
  }
  if (o.records > 50'000'000) {
    Progress("--records is above 50,000,000");
    return 2;
  }
  auto net = core::Network::FromFile(o.genesis);
  if (!net.ok()) {
    Progress("genesis: " + net.status().ToString());
    return 3;
  }
  auto brands = LoadBrands(*net, o.keys_dir);
  if (!brands.ok()) {
    Progress(brands.status().ToString());
    return 3;
  }
  std::string market = o.to;
  if (market.empty()) {
    for (const auto& org : net->genesis().organizations()) {
      if (core::Network::HasRole(org, pb::MARKETPLACE)) {
        market = org.id();
        break;
      }
    }
  }
  if (market.empty() || !net->FindOrganization(market)) {
    Progress("no marketplace organisation to transfer to; pass --to ORG");
    return 2;
  }
  std::vector<Endpoint> endpoints;
  for (const std::string& url : o.nodes) {
    auto e = ResolveNode(url);
    if (!e.ok()) {
      Progress(e.status().ToString());
      return 3;
    }
    endpoints.push_back(*e);
  }

  // Where the chain is now, and that it is the network of this genesis.
  auto addr = wallet::ParseNodeUrl(o.nodes[0]);
  wallet::HttpClient http(*addr);
  auto st = http.Get("/v1/status");
  pb::StatusResponse status;
  if (!st.ok() || st->status != 200 || !core::FromJson(st->body, &status, "status").ok()) {
    Progress("cannot read " + o.nodes[0] + "/v1/status: " +
             (st.ok() ? "HTTP " + std::to_string(st->status) : st.status().ToString()));
    return 3;
  }
  if (status.chain_id() != net->chain_id()) {
    Progress("the node runs chain " + status.chain_id() + ", the genesis names " + net->chain_id());
    return 2;
  }

  // Check one record of each kind against the node's own structural rules before signing all.
  {
    wallet::PayloadHeader h;
    h.chain_id = net->chain_id();
    h.item = core::ItemId{GtinFor((*brands)[0].prefix), "CHECK"};
    h.timestamp_ms = wallet::NowMs();
    auto reg = wallet::SignAndCheck((*brands)[0].key, wallet::BuildPayload(h, pb::Register{}),
                                    net->chain_id());
    if (!reg.ok()) {
      Progress("a registration would be refused: " + reg.status().ToString());
      return 3;
    }
  }

  Progress("signing " + std::to_string(o.records) + " records (" + std::to_string(brands->size()) +
           " brands, transfers to " + market + ")");
  const auto sign_start = Clock::now();
  std::vector<Rec> recs = PreSign(o, *net, *brands, market, endpoints.size());
  const double presign_s = SecondsBetween(sign_start, Clock::now());
  Progress("signed in " + std::to_string(presign_s) + " s; submitting over " +
           std::to_string(o.clients) + " connections to " + std::to_string(endpoints.size()) +
           " node(s), " + (o.rate > 0 ? std::to_string(o.rate) + " records/s" : "closed loop") +
           "; chain at height " + std::to_string(status.height()));

  WriteRun run(o, std::move(endpoints), std::move(recs), status.height());
  run.Run();
  return run.Report(presign_s);
}

}  // namespace hallmark::bench
