#include "node/node.h"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>
#include <bit>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>

#include "core/clock.h"
#include "core/codec.h"
#include "core/crypto/keystore.h"
#include "node/config.h"
#include "node/p2p/record_gossip.h"
#include "proto/p2p.pb.h"

namespace hallmark::node {

using core::Status;

namespace {

// The transport as the driver's PeerSender, and record gossip both ways (record_gossip.h):
// records this node admits leave in batches; records from peers are admitted on a strand of
// their own, so that a backlog of them never holds up the consensus messages behind it.
class TransportSender final : public PeerSender {
 public:
  TransportSender(boost::asio::io_context& io, Transport* t, GossipReceiver::Admit admit,
                  std::function<void()> on_accepted)
      : t_(t),
        out_(io, [t](const pb::PeerMessage& m) { t->Broadcast(m); }),
        in_(io, std::move(admit), std::move(on_accepted)) {}
  void Broadcast(const pb::PeerMessage& m) override { t_->Broadcast(m); }
  void Send(const core::PublicKey& to, const pb::PeerMessage& m) override { t_->Send(to, m); }

  GossipBatcher& gossip_out() { return out_; }
  GossipReceiver& gossip_in() { return in_; }

 private:
  Transport* t_;
  GossipBatcher out_;
  GossipReceiver in_;
};

TransportSender& Net(const std::unique_ptr<PeerSender>& sender) {
  return static_cast<TransportSender&>(*sender);  // The only PeerSender a Node makes.
}

}  // namespace

core::Result<std::unique_ptr<Node>> Node::Create(const std::filesystem::path& home, bool observer) {
  std::unique_ptr<Node> node(new Node());
  node->home_ = home;
  auto config = LoadConfig(home);
  if (!config.ok()) return config.status();
  node->config_ = std::move(config).value();
  if (observer) node->config_.set_observer(true);
  spdlog::set_level(spdlog::level::from_str(node->config_.log_level()));

  auto network = core::Network::FromFile(ResolvePath(home, node->config_.genesis_file()));
  if (!network.ok()) return network.status();
  node->network_ = std::make_unique<core::Network>(std::move(network).value());

  std::filesystem::path key_path = ResolvePath(home, node->config_.node_key_file());
  auto info = core::ReadKeystoreInfo(key_path);
  if (!info.ok()) return info.status().WithContext("node key");
  std::optional<std::string> passphrase;
  if (core::KeystoreNeedsPassphrase(*info)) {
    const char* env = std::getenv("HALLMARK_NODE_PASSPHRASE");
    if (!env) {
      return Status::InvalidInput("the node key " + key_path.string() +
                                  " is encrypted; set HALLMARK_NODE_PASSPHRASE");
    }
    passphrase = env;
  }
  auto key = core::ReadKeystore(key_path, passphrase);
  if (!key.ok()) return key.status().WithContext("node key");
  node->key_ = std::make_unique<core::SigningKey>(std::move(key).value());

  storage::LedgerOptions
      ledger_options;  // Its block cache is the default when cache_mib is absent.
  if (node->config_.has_cache_mib()) {
    ledger_options.block_cache_bytes = size_t{node->config_.cache_mib()} << 20;
  }
  auto ledger = storage::Ledger::Open(ResolvePath(home, node->config_.data_dir()) / "ledger",
                                      *node->network_, ledger_options);
  if (!ledger.ok()) return ledger.status();
  node->ledger_ = std::move(ledger).value();

  // A validator's node: its key is in some validator set, past, current or scheduled. It votes
  // at the heights whose set holds its key and follows at the others (a validator that has
  // left, or one whose set is not in force yet).
  const core::Hash256 my_key = core::Hash256::FromSpan(node->key_->public_key().span());
  const std::shared_ptr<const core::NetworkState> state = node->NetworkState();
  bool is_validator = false;
  for (const auto& epoch : state->validator_epochs())
    for (const auto& v : epoch.validators) is_validator |= v.key == my_key;
  // Also a key a pending proposal would make a validator's: its node can start, follow and sync
  // before the change completes, and vote once its set is in force, without a restart.
  const std::string mine(my_key.view());
  for (const auto& [id, proposal] : state->pending()) {
    const pb::GovernanceChange& change = proposal.change;
    is_validator |= change.has_add_validator() && change.add_validator().consensus_key() == mine;
    is_validator |= change.has_change_validator_key() &&
                    change.change_validator_key().new_consensus_key() == mine;
  }
  if (!node->config_.observer() && !is_validator) {
    // A node joining through governance: it syncs first (its data folder may not hold the
    // proposal yet) and votes from the first height whose set holds its key. Peers accept it
    // while it is in their observer_keys or, once the change is known, in a validator set.
    spdlog::warn(
        "the node key {}… is in no validator set this node knows of yet (height {}); it "
        "follows the chain and votes once governance puts it in a set that is in force. "
        "If this node should never vote, set observer in config.json",
        my_key.Hex().substr(0, 16), node->ledger_->height());
  }
  if (!node->config_.observer()) node->signer_ = std::make_unique<KeySigner>(*node->key_);

  MempoolLimits limits;
  limits.max_records = node->config_.mempool().max_records();
  limits.max_bytes = node->config_.mempool().max_bytes();
  limits.admission_ms = node->config_.mempool().admission_ms();
  limits.admission_floor = node->config_.mempool().admission_floor();
  node->mempool_ = std::make_unique<Mempool>(*node->network_, node->ledger_.get(), limits);
  node->mempool_file_ = ResolvePath(home, node->config_.data_dir()) / "mempool.pb";
  node->snapshots_ = std::make_unique<storage::SnapshotStore>(
      ResolvePath(home, node->config_.data_dir()) / "snapshots", 2);
  node->LoadSavedMempool();
  return node;
}

Node::~Node() {
  Stop();
}

std::shared_ptr<const core::NetworkState> Node::NetworkState() const {
  return ledger_->network_state();
}

Status Node::Start() {
  auto p2p = ParseHostPort(config_.p2p_listen(), "p2p_listen");
  if (!p2p.ok()) return p2p.status();
  TransportConfig tc;
  tc.listen_host = p2p->host;
  tc.listen_port = p2p->port;
  tc.observer = config_.observer();
  tc.log = [](std::string_view line) { spdlog::info("p2p: {}", line); };
  for (const auto& peer : config_.peers()) {
    auto hp = ParseHostPort(peer.address(), "peer address");
    auto key = core::PublicKey::FromHex(peer.key());
    if (!hp.ok() || !key.ok()) return Status::InvalidInput("bad peer " + peer.name());
    tc.peers.push_back(PeerAddress{peer.name(), hp->host, hp->port, *key});
  }
  std::vector<core::PublicKey> observers;
  for (const auto& hex : config_.observer_keys()) {
    auto key = core::PublicKey::FromHex(hex);
    if (key.ok()) observers.push_back(*key);
  }
  transport_ = std::make_unique<Transport>(
      io_, *network_, *key_, std::move(tc), std::move(observers),
      [this](const core::PublicKey& from, pb::PeerMessage m) { OnPeerMessage(from, std::move(m)); },
      [this](const core::PublicKey& peer, bool connected, const pb::Hello& hello) {
        if (driver_ready_.load()) driver_->OnPeerStatus(peer, connected, hello.height());
      });
  sender_ = std::make_unique<TransportSender>(
      io_, transport_.get(),
      [this](const pb::Envelope& env) {
        return mempool_->Admit(env, core::UnixTimeMs()).kind == AdmitResult::Kind::kAccepted;
      },
      [this] { driver_->OnRecordsAvailable(); });
  Net(sender_).gossip_in().set_prepare(
      [this](const std::vector<const pb::Envelope*>& envs) { mempool_->PreVerify(envs); });
  sync_server_ = std::make_unique<StateSyncServer>(
      snapshots_.get(), [this](const core::PublicKey& to, const pb::PeerMessage& m) {
        return transport_->Send(to, m);
      });
  auto synced = SyncState();
  if (!synced.ok()) {
    Stop();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    threads_.clear();
    return synced.status();
  }
  if (!*synced) return Status::Ok();  // Stopped meanwhile: Wait finishes the stop.
  // Validators may connect if they are in the set of the next height or a later one.
  p2p_state_ = NetworkState();
  {
    std::set<core::PublicKey> keys;
    auto named = ValidatorsFrom(*p2p_state_, ledger_->height() + 1);
    for (const auto& [key, name] : named) keys.insert(key);
    transport_->SetValidators(std::move(keys), std::move(named));
  }
  DriverOptions driver_options;
  driver_options.block_interval_ms = config_.block_interval_ms();
  driver_options.block_batch_records = config_.block_batch_records();
  driver_options.network_state = [this] { return NetworkState(); };
  // Beside node.key, outside the data folder: a restored data folder cannot roll it back.
  if (signer_) driver_options.signer_watermark = home_ / kWatermarkFileName;
  driver_ =
      std::make_unique<ConsensusDriver>(io_, *network_, ledger_.get(), mempool_.get(),
                                        sender_.get(), signer_.get(), &metrics_, driver_options);
  EventHubOptions eo;
  eo.watchers_max = config_.http().events_watchers_max();
  eo.queue_bytes_max = config_.http().events_queue_bytes();
  eo.log = [](std::string_view line) { spdlog::info("{}", line); };
  events_ = std::make_unique<EventHub>(ledger_.get(), &metrics_, std::move(eo));
  driver_->AddCommitListener([this](const pb::Block&, uint64_t height) {
    events_->OnCommit(height);  // A notify: delivery runs on the hub's own thread.
    transport_->SetHeight(height);
    // The network state changes only with governance records: recompute who may connect as a
    // validator then (this runs on the driver's strand).
    std::shared_ptr<const core::NetworkState> state = NetworkState();
    if (state != p2p_state_) {
      p2p_state_ = state;
      std::set<core::PublicKey> keys;
      auto named = ValidatorsFrom(*state, height + 1);
      for (const auto& [key, name] : named) keys.insert(key);
      transport_->SetValidators(std::move(keys), std::move(named));
    }
    const uint32_t every = config_.snapshot_interval();
    if (every > 0 && height % every == 0 && !snapshot_busy_.exchange(true)) {
      // The previous snapshot's thread has ended (busy was false): joining it is immediate.
      if (snapshot_thread_.joinable()) snapshot_thread_.join();
      snapshot_thread_ = std::thread([this] {
        TakeSnapshotAndPrune();
        snapshot_busy_.store(false);
      });
    }
  });
  transport_->SetHeight(ledger_->height());

  Router router;
  ApiContext ctx;
  ctx.network = network_.get();
  ctx.ledger = ledger_.get();
  ctx.mempool = mempool_.get();
  ctx.metrics = &metrics_;
  ctx.on_accepted = [this](const pb::Envelope& env) { Gossip(env); };
  ctx.peers = [this] { return PeerViews(); };
  ctx.pending_evidence = [this] { return static_cast<uint64_t>(driver_->pending_evidence()); };
  ctx.node_key_hex = key_->public_key().Hex();
  ctx.observer = config_.observer();
  ctx.events = events_.get();
  RegisterApiRoutes(router, std::move(ctx));
  auto http = ParseHostPort(config_.http_listen(), "http_listen");
  if (!http.ok()) return http.status();
  HttpServerOptions ho;
  ho.address = http->host;
  ho.port = http->port;
  ho.metrics = &metrics_;
  ho.log = [](std::string_view line) { spdlog::info("http: {}", line); };
  ho.limits = HttpLimitsFromConfig(config_.http());
  if (!config_.http().tls_cert_file().empty()) {
    ho.tls_cert_file = ResolvePath(home_, config_.http().tls_cert_file()).string();
    ho.tls_key_file = ResolvePath(home_, config_.http().tls_key_file()).string();
  }
  http_ = std::make_unique<HttpServer>(io_, std::move(router), ho);

  if (!transport_started_) HM_RETURN_IF_ERROR(transport_->Start().WithContext("p2p"));
  events_->Start();
  HM_RETURN_IF_ERROR(http_->Start().WithContext("http"));
  HM_RETURN_IF_ERROR(driver_->Start().WithContext("consensus"));
  admin_ = std::make_unique<AdminServer>(
      home_ / kAdminSocketName,
      [this](const pb::AdminBackupRequest& request, const ByteSink& sink) {
        BackupSource source;
        source.home = home_;
        source.config = config_;
        source.chain_id = network_->chain_id();
        source.genesis_hash = std::string(network_->hash().view());
        source.validator_key_hex = key_->public_key().Hex();
        source.include_node_key = request.include_node_key();
        source.scan = [this](const auto& begin, const auto& visit) {
          return ledger_->ScanSnapshot(begin, visit);
        };
        return WriteBackup(source, sink);
      },
      [](std::string_view line) { spdlog::info("{}", line); });
  if (Status st = admin_->Start(); !st.ok()) {
    // The node runs without it: only `hallmarkd backup` of the running node needs it.
    spdlog::warn("admin socket: {}; `hallmarkd backup` cannot back up this node while it runs",
                 st.message());
    admin_.reset();
  }

  signals_ = std::make_unique<boost::asio::signal_set>(io_, SIGINT, SIGTERM);
  signals_->async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: stopping", sig);
    RequestStop();
  });

  spdlog::info("{} started: chain {} height {} p2p {} {} {}{}", config_.moniker(),
               network_->chain_id(), ledger_->height(), config_.p2p_listen(),
               config_.http().tls_cert_file().empty() ? "http" : "https", config_.http_listen(),
               config_.observer() ? " (observer)" : "");
  driver_ready_.store(true);  // Peer messages go to the driver from now on.
  unsigned threads = std::max(2u, config_.http().threads());
  work_ =
      std::make_unique<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(
          io_.get_executor());
  // State sync may have started some already (StartIoThreads).
  for (unsigned i = static_cast<unsigned>(threads_.size()); i < threads; ++i) {
    threads_.emplace_back([this] { io_.run(); });
  }
  return Status::Ok();
}

void Node::StartIoThreads() {
  // While state sync runs, before Start sets up the rest: a stop request ends the sync.
  sync_signals_ = std::make_unique<boost::asio::signal_set>(io_, SIGINT, SIGTERM);
  sync_signals_->async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: stopping", sig);
    RequestStop();
  });
  unsigned threads = std::max(2u, config_.http().threads());
  work_ =
      std::make_unique<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(
          io_.get_executor());
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
}

core::Result<bool> Node::SyncState() {
  const bool pending = ledger_->sync_pending();
  if (pending && !config_.state_sync()) {
    spdlog::warn(
        "the data folder holds an interrupted state sync and state_sync is off: it is removed, "
        "and the node catches up by blocks from genesis");
    HM_RETURN_IF_ERROR(storage::WipeLedger(ledger_.get()));
    return true;
  }
  if (!config_.state_sync() || (!pending && ledger_->height() > 0)) return true;
  // The transport and the io threads run first, to talk to peers; the driver starts after.
  HM_RETURN_IF_ERROR(transport_->Start().WithContext("p2p"));
  transport_started_ = true;
  StartIoThreads();
  StateSyncOptions options;
  options.log = [](std::string_view line) { spdlog::info("{}", line); };
  sync_client_owned_ = std::make_unique<StateSyncClient>(
      ledger_.get(),
      [this](const core::PublicKey& to, const pb::PeerMessage& m) {
        return transport_->Send(to, m);
      },
      [this] {
        std::vector<core::PublicKey> out;
        for (const PeerInfo& p : transport_->Peers()) out.push_back(p.key);
        return out;
      },
      options);
  StateSyncClient& client = *sync_client_owned_;
  syncing_.store(true);
  sync_client_.store(&client);
  auto stopping = [this] {
    std::lock_guard<std::mutex> lock(stop_mu_);
    return stop_requested_;
  };
  auto installed = client.Run(stopping);
  sync_client_.store(nullptr);
  syncing_.store(false);
  if (stopping()) {
    if (ledger_->sync_pending()) {
      spdlog::info(
          "state sync: stopped during the install; the chunks installed so far are kept and the "
          "install resumes at the next start");
    }
    return false;
  }
  if (installed.ok()) {
    transport_->SetHeight(ledger_->height());
    return true;
  }
  if (installed.status().code() == core::StatusCode::kNotFound) {
    spdlog::warn("state sync: {}; catching up by blocks from height {}",
                 installed.status().message(), ledger_->height());
    return true;
  }
  return installed.status();
}

void Node::TakeSnapshotAndPrune() {
  const auto started = std::chrono::steady_clock::now();
  spdlog::info("snapshot at height {}: started", ledger_->height());
  auto m = snapshots_->Take(*ledger_, storage::kSnapshotChunkTargetBytes,
                            [this] { return snapshot_stop_.load(); });
  if (!m.ok()) {
    if (m.status().code() == core::StatusCode::kCancelled) {
      spdlog::info(
          "snapshot: cancelled by the stop after {:.2f} s ({})",
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
          m.status().message());
    } else {
      spdlog::warn("snapshot: {}", m.status().ToString());
    }
    return;
  }
  spdlog::info("snapshot at height {}: {} items in {} chunks, {:.2f} s", m->height(),
               m->item_count(), m->chunk_count(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (!config_.has_prune_keep_blocks() || snapshot_stop_.load()) return;
  // Keep the blocks after the older kept snapshot: a node that installs it catches up by them.
  const std::vector<uint64_t> heights = snapshots_->Heights();
  const uint64_t head = ledger_->height();
  if (heights.empty() || head <= config_.prune_keep_blocks()) return;
  const uint64_t floor = std::min(head - config_.prune_keep_blocks(), heights.front() + 1);
  if (floor <= ledger_->first_height()) return;
  Status st = ledger_->Prune(floor);
  if (!st.ok()) {
    spdlog::warn("pruning below height {}: {}", floor, st.ToString());
    return;
  }
  spdlog::info("pruned the blocks below height {}", floor);
}

void Node::Wait() {
  {
    std::unique_lock<std::mutex> lock(stop_mu_);
    stop_cv_.wait(lock, [this] { return stop_requested_ || stopped_; });
  }
  Stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void Node::RequestStop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_requested_ = true;
  }
  stop_cv_.notify_all();
}

void Node::Stop() {
  std::lock_guard<std::mutex> run(stop_run_mu_);
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stopped_) return;
  }
  if (admin_) admin_->Stop();  // A backup in progress ends before the ledger closes.
  if (http_) http_->Stop();
  if (events_) events_->Stop();
  if (driver_) driver_->Stop();
  snapshot_stop_.store(true);  // A take in progress ends at its next item.
  if (snapshot_thread_.joinable()) snapshot_thread_.join();
  if (sender_) Net(sender_).gossip_out().Stop();
  if (transport_) transport_->Stop();
  if (signals_) {
    boost::system::error_code ec;
    signals_->cancel(ec);
  }
  if (sync_signals_) {
    boost::system::error_code ec;
    sync_signals_->cancel(ec);
  }
  SaveMempool();
  work_.reset();
  io_.stop();
  spdlog::info("stopped at height {}", ledger_ ? ledger_->height() : 0);
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stopped_ = true;
  }
  stop_cv_.notify_all();
}

void Node::SaveMempool() {
  if (!mempool_ || !ledger_) return;
  const std::vector<pb::Envelope> pending =
      mempool_->Take(std::numeric_limits<size_t>::max(), std::numeric_limits<uint64_t>::max());
  if (pending.empty()) return;
  pb::RecordGossip saved;
  for (const pb::Envelope& env : pending) *saved.add_records() = env;
  const std::string bytes = core::SerializeDeterministic(saved);
  const std::filesystem::path tmp = mempool_file_.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0;
  for (size_t done = 0; ok && done < bytes.size();) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  std::error_code ec;
  if (ok) std::filesystem::rename(tmp, mempool_file_, ec);
  if (!ok || ec) {
    std::filesystem::remove(tmp, ec);
    spdlog::warn(
        "could not save the {} waiting records to {}: they are lost on this node "
        "(peers that received them still hold them)",
        pending.size(), mempool_file_.string());
    return;
  }
  spdlog::info("saved {} waiting records to {}; they are admitted again at the next start",
               pending.size(), mempool_file_.string());
}

void Node::LoadSavedMempool() {
  std::error_code ec;
  if (!std::filesystem::exists(mempool_file_, ec)) return;
  const uint64_t size = std::filesystem::file_size(mempool_file_, ec);
  std::string bytes;
  bool ok = !ec && size <= 2 * config_.mempool().max_bytes() + (1 << 20);
  if (ok) {
    std::ifstream in(mempool_file_, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    ok = in.good() || in.eof();
  }
  pb::RecordGossip saved;
  ok = ok && saved.ParseFromString(bytes);
  if (!ok) {
    spdlog::warn(
        "{} is not a saved mempool (unreadable, too large or damaged): ignored and removed",
        mempool_file_.string());
  } else {
    size_t admitted = 0;
    const uint64_t now = core::UnixTimeMs();
    // Each record is checked again like any other (signature, rules, committed already?); the
    // signatures first, together, in slices.
    std::vector<const pb::Envelope*> envs;
    for (const pb::Envelope& env : saved.records()) envs.push_back(&env);
    for (size_t i = 0; i < envs.size(); i += 1024) {
      mempool_->PreVerify(std::span(envs).subspan(i, std::min<size_t>(1024, envs.size() - i)));
    }
    for (const pb::Envelope& env : saved.records())
      if (mempool_->Admit(env, now).kind == AdmitResult::Kind::kAccepted) ++admitted;
    spdlog::info(
        "admitted {} of the {} records saved at the last stop (the others were "
        "committed meanwhile or are no longer valid)",
        admitted, saved.records_size());
  }
  std::filesystem::remove(mempool_file_, ec);
}

void Node::OnPeerMessage(const core::PublicKey& from, pb::PeerMessage message) {
  if (sync_server_ && sync_server_->OnMessage(from, message)) return;
  if (StateSyncClient* client = sync_client_.load()) {
    if (client->OnMessage(from, message)) return;
  }
  if (syncing_.load() || !driver_ready_.load()) return;  // Nothing else is taken before.
  if (message.body_case() == pb::PeerMessage::kRecords) {
    // Records from peers are admitted like the API's; they are not passed on again (the
    // validators form a full mesh, and the origin sent them to everyone).
    GossipReceiver& in = Net(sender_).gossip_in();
    if (!in.Receive(std::move(*message.mutable_records()))) {
      // Logged at the 1st, 2nd, 4th, 8th, … dropped batch, so a long overload does not flood.
      const GossipStats st = in.stats();
      if (std::has_single_bit(st.dropped_batches)) {
        spdlog::warn("gossip from {}: the admission backlog is full; {} records dropped so far",
                     from.Hex().substr(0, 16), st.dropped_records);
      }
    }
    return;
  }
  driver_->OnPeerMessage(from, std::move(message));
}

void Node::Gossip(const pb::Envelope& envelope) {
  Net(sender_).gossip_out().Add(envelope);
  driver_->OnRecordsAvailable();
}

std::vector<pb::PeerView> Node::PeerViews() const {
  std::vector<pb::PeerView> out;
  if (!transport_) return out;
  for (const PeerInfo& p : transport_->Peers()) {
    pb::PeerView v;
    v.set_name(p.name);
    v.set_key(p.key.Hex());
    v.set_address(p.remote_address);
    v.set_connected(true);
    v.set_height(p.height);
    v.set_observer(p.observer);
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace hallmark::node
