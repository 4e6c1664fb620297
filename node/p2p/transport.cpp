#include "node/p2p/transport.h"

#include <spdlog/spdlog.h>
#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <deque>
#include <mutex>
#include <set>

#include "core/clock.h"
#include "core/crypto/random.h"
#include "node/p2p/backoff.h"
#include "node/p2p/framing.h"
#include "node/p2p/hello.h"
#include "node/p2p/tie_break.h"
#include "node/p2p/tls.h"
#include "node/version.h"

namespace hallmark::node {
namespace p2p_detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using ErrorCode = boost::system::error_code;

namespace {

// Writes are issued in chunks of at most this size so that a large frame shows progress to the
// write-stall check, which would otherwise see one long write to a slow but live peer as stuck.
constexpr size_t kWriteChunkBytes = 256 * 1024;
// A body buffer larger than this is released after use rather than kept for the next frame.
constexpr size_t kKeepBodyBufferBytes = 1024 * 1024;

std::string ShortKey(const core::PublicKey& key) {
  return key.Hex().substr(0, 16);
}

std::string EndpointText(const tcp::endpoint& ep) {
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

core::PublicKey ToPublicKey(const core::Hash256& h) {
  core::PublicKey key;
  key.bytes = h.bytes;
  return key;
}

// True for a read error that means "the peer hung up": a clean TCP close, a TCP close without a
// TLS close_notify (which is how most peers, including ours, end a connection), or a reset (what
// the kernel sends instead when the peer closes with our data still unread, or dies).
bool IsHangUp(const ErrorCode& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
         ec == asio::error::connection_reset;
}

}  // namespace

class Connection;

// One configured peer and the state of dialing it. Owned by TransportImpl and never removed,
// so connections may point at it. `state` and `dialing` are guarded by TransportImpl::mu_; the
// timer is used on TransportImpl::strand_ only.
struct Dialer {
  enum class State {
    kIdle,     // Connected (in either direction), or stopped.
    kWaiting,  // A dial is scheduled.
    kDialing,  // A connection attempt is under way.
  };

  Dialer(PeerAddress a, const TransportLimits& limits, uint64_t seed,
         const asio::any_io_executor& ex)
      : address(std::move(a)),
        backoff(limits.dial_backoff_initial_ms, limits.dial_backoff_max_ms, seed),
        timer(ex) {}

  PeerAddress address;
  Backoff backoff;
  asio::steady_timer timer;
  State state = State::kIdle;
  const Connection* dialing = nullptr;  // Identity of the attempt under way.
  uint64_t failures = 0;                // Consecutive failed attempts, for the log.
};

// Counters read by stats() without the mutex.
struct Counters {
  std::atomic<uint64_t> frames_in{0};
  std::atomic<uint64_t> frames_out{0};
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> bytes_out{0};
  std::atomic<uint64_t> dropped_messages{0};
  std::atomic<uint64_t> dropped_bytes{0};
  std::atomic<uint64_t> unsendable_messages{0};
  std::atomic<uint64_t> dials{0};
  std::atomic<uint64_t> handshakes_ok{0};
};

// The state shared by the Transport facade, its connections and its pending handlers. Handlers
// hold it by shared_ptr, so it lives until the last of them has run or been destroyed with the
// io_context. Thread-safe: immutable members are set in the constructor, the rest are atomics
// or guarded by mu_.
class TransportImpl : public std::enable_shared_from_this<TransportImpl> {
 public:
  TransportImpl(asio::io_context& io, const core::Network& network,
                const core::SigningKey& node_key, TransportConfig config,
                std::vector<core::PublicKey> allowed_observers, Transport::OnMessage on_message,
                Transport::OnPeer on_peer);

  core::Status Start();
  void Stop();
  core::Status AddPeer(PeerAddress peer);
  size_t Broadcast(const pb::PeerMessage& message);
  bool Send(const core::PublicKey& to, const pb::PeerMessage& message);
  std::vector<PeerInfo> Peers() const;
  TransportStats Stats() const;

  // For connections.

  // Makes an authenticated connection the link to its peer, resolving duplicates. A refusal
  // means the connection must close with that reason.
  std::optional<HelloRefusal> Register(const std::shared_ptr<Connection>& conn,
                                       const pb::Hello& hello);
  // Every connection reports here exactly once when it ends.
  void OnClosed(const std::shared_ptr<Connection>& conn, DisconnectReason reason,
                const std::string& detail);
  // `warning` marks refusals of bad input, which an operator should look at.
  void Log(const std::string& line, bool warning = false) const;
  std::string PeerName(const core::PublicKey& key) const;  // REQUIRES: mu_ not held.

  // Our Hello for the TLS session with this exporter value.
  pb::Hello SignHello(const core::Hash256& exporter);

  asio::io_context& io_;
  // Who may connect. The validators change with the validator sets (SetValidators); the rest is
  // fixed. Guarded by mu_.
  HelloPolicy policy_;
  HelloPolicy Policy() const {
    std::lock_guard lock(mu_);
    return policy_;
  }
  void SetValidators(std::set<core::PublicKey> validators,
                     std::map<core::PublicKey, std::string> names);
  const core::SigningKey key_;
  // SigningKey is thread-compatible only, and connections on different threads sign Hellos.
  std::mutex key_mu_;
  const TransportConfig config_;
  const TransportLimits& limits_ = config_.limits;
  const Transport::OnMessage on_message_;
  const Transport::OnPeer on_peer_;
  // Runs the acceptor and the dial timers.
  const asio::strand<asio::io_context::executor_type> strand_;
  const asio::any_io_executor callback_ex_;
  std::map<core::PublicKey, std::string> validator_names_;  // Guarded by mu_.
  std::unique_ptr<asio::ssl::context> tls_;                 // Set once in Start().
  std::atomic<uint16_t> listen_port_{0};
  std::atomic<uint64_t> height_{0};
  std::atomic<bool> stopped_{false};
  Counters counters_;

 private:
  std::string PeerNameLocked(const core::PublicKey& key) const;
  core::Status AddPeerLocked(PeerAddress peer);
  void ScheduleDialLocked(Dialer* d);
  void Dial(Dialer* d);  // On strand_.
  void DoAccept();       // On strand_.

  std::optional<tcp::acceptor> acceptor_;  // Used on strand_ after Start().
  asio::steady_timer accept_retry_;        // On strand_.

  struct PeerEntry {
    std::shared_ptr<Connection> conn;
    pb::Hello hello;
    uint64_t connected_at_ms = 0;
  };

  mutable std::mutex mu_;
  bool started_ = false;
  std::map<core::PublicKey, PeerEntry> peers_;
  std::set<std::shared_ptr<Connection>> conns_;  // Every open connection.
  std::map<core::PublicKey, std::unique_ptr<Dialer>> dialers_;
  std::map<DisconnectReason, uint64_t> disconnects_;
};

// One TCP + TLS connection to a peer, inbound or outbound, from connect to close. All work
// happens on its own strand (`ex_`); TrySend and Close may be called from any thread. The
// members read by other threads are atomics, or written before the connection is registered
// and only read after (under TransportImpl::mu_).
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // Inbound: `socket` was accepted on a strand of its own.
  Connection(std::shared_ptr<TransportImpl> impl, tcp::socket socket)
      : impl_(std::move(impl)),
        ex_(socket.get_executor()),
        stream_(std::move(socket), *impl_->tls_),
        resolver_(ex_),
        handshake_timer_(ex_),
        tick_timer_(ex_) {
    ErrorCode ec;
    tcp::endpoint ep = stream_.lowest_layer().remote_endpoint(ec);
    remote_ = ec ? std::string("unknown") : EndpointText(ep);
    describe_ = "inbound from " + remote_;
  }

  // Outbound: dials `dialer->address`.
  Connection(std::shared_ptr<TransportImpl> impl, Dialer* dialer)
      : impl_(std::move(impl)),
        ex_(asio::make_strand(impl_->io_)),
        stream_(ex_, *impl_->tls_),
        resolver_(ex_),
        handshake_timer_(ex_),
        tick_timer_(ex_),
        dialer_(dialer),
        target_(dialer->address) {
    remote_ = target_.host + ":" + std::to_string(target_.port);
    describe_ = "outbound to " + target_.name + " at " + remote_;
  }

  void Start() {
    asio::post(ex_, [self = shared_from_this()] { self->DoStart(); });
  }

  // Reserves room in the outbound queue and hands the frame to the strand; drops it (and
  // counts the drop) when the queue is full.
  bool TrySend(std::shared_ptr<const std::string> frame) {
    if (closed_.load()) return false;
    if (!Reserve(frame->size())) {
      dropped_.fetch_add(1);
      impl_->counters_.dropped_messages.fetch_add(1);
      impl_->counters_.dropped_bytes.fetch_add(frame->size());
      return false;
    }
    asio::post(ex_, [self = shared_from_this(), frame = std::move(frame)]() mutable {
      self->Push(std::move(frame));
    });
    return true;
  }

  void Close(DisconnectReason reason, std::string detail) {
    asio::post(ex_, [self = shared_from_this(), reason, detail = std::move(detail)] {
      self->CloseNow(reason, detail);
    });
  }

  bool outbound() const { return dialer_ != nullptr; }
  Dialer* dialer() const { return dialer_; }
  bool authenticated() const { return authenticated_.load(); }
  // REQUIRES: authenticated().
  const core::PublicKey& peer_key() const { return peer_key_; }
  const std::string& remote() const { return remote_; }
  const std::string& describe() const { return describe_; }

  std::atomic<uint64_t> height_{0};
  std::atomic<uint64_t> frames_in_{0};
  std::atomic<uint64_t> frames_out_{0};
  std::atomic<uint64_t> queued_messages_{0};
  std::atomic<uint64_t> queued_bytes_{0};
  std::atomic<uint64_t> dropped_{0};

 private:
  void DoStart() {
    handshake_timer_.expires_after(std::chrono::milliseconds(impl_->limits_.handshake_timeout_ms));
    handshake_timer_.async_wait([self = shared_from_this()](const ErrorCode& ec) {
      if (ec || self->closed_ || self->authenticated_) return;
      self->CloseNow(DisconnectReason::kHandshakeTimeout,
                     "no authenticated Hello within " +
                         std::to_string(self->impl_->limits_.handshake_timeout_ms) + " ms");
    });
    if (!outbound()) {
      DoTlsHandshake(asio::ssl::stream_base::server);
      return;
    }
    resolver_.async_resolve(
        target_.host, std::to_string(target_.port),
        [self = shared_from_this()](const ErrorCode& ec, tcp::resolver::results_type results) {
          if (self->closed_) return;
          if (ec) return self->CloseNow(DisconnectReason::kConnectFailed, ec.message());
          asio::async_connect(self->stream_.lowest_layer(), results,
                              [self](const ErrorCode& ec2, const tcp::endpoint& ep) {
                                if (self->closed_) return;
                                if (ec2)
                                  return self->CloseNow(DisconnectReason::kConnectFailed,
                                                        ec2.message());
                                self->remote_ = EndpointText(ep);
                                self->DoTlsHandshake(asio::ssl::stream_base::client);
                              });
        });
  }

  void DoTlsHandshake(asio::ssl::stream_base::handshake_type type) {
    ErrorCode ignored;
    // Consensus messages are small and latency-bound: do not let Nagle hold them back.
    stream_.lowest_layer().set_option(tcp::no_delay(true), ignored);
    stream_.lowest_layer().set_option(asio::socket_base::keep_alive(true), ignored);
    stream_.async_handshake(type, [self = shared_from_this()](const ErrorCode& ec) {
      if (self->closed_) return;
      if (ec) return self->CloseNow(DisconnectReason::kTlsFailed, ec.message());
      auto exporter = ExportHelloKeyingMaterial(self->stream_.native_handle());
      if (!exporter.ok()) {
        return self->CloseNow(DisconnectReason::kTlsFailed, exporter.status().message());
      }
      self->exporter_ = *exporter;
      // Our Hello goes first in the queue; we read theirs at the same time, so the handshake
      // costs one round trip after TLS.
      pb::PeerMessage msg;
      *msg.mutable_hello() = self->impl_->SignHello(self->exporter_);
      auto frame = EncodeFrame(msg, self->impl_->limits_.max_hello_frame_bytes);
      HM_ASSERT_MSG(frame.ok(), "our own Hello does not fit in a Hello frame");
      bool reserved = self->Reserve((*frame)->size());
      HM_ASSERT(reserved);
      self->Push(std::move(*frame));
      self->ReadHeader();
    });
  }

  void ReadHeader() {
    asio::async_read(
        stream_, asio::buffer(header_), [self = shared_from_this()](const ErrorCode& ec, size_t n) {
          if (self->closed_) return;
          if (ec) return self->OnReadError(ec, /*inside_frame=*/n > 0);
          uint32_t length = core::GetBigEndian32(self->header_.data());
          uint32_t limit = self->authenticated_ ? self->impl_->limits_.max_frame_bytes
                                                : self->impl_->limits_.max_hello_frame_bytes;
          // The only allocation a peer can cause, so the check comes first.
          if (auto refusal = CheckFrameLength(length, limit)) {
            return self->CloseNow(*refusal, "frame length " + std::to_string(length) + " (limit " +
                                                std::to_string(limit) + ")");
          }
          self->body_.resize(length);
          self->ReadBody();
        });
  }

  void ReadBody() {
    asio::async_read(stream_, asio::buffer(body_.data(), body_.size()),
                     [self = shared_from_this()](const ErrorCode& ec, size_t) {
                       if (self->closed_) return;
                       if (ec) return self->OnReadError(ec, /*inside_frame=*/true);
                       self->OnFrame();
                     });
  }

  void OnReadError(const ErrorCode& ec, bool inside_frame) {
    if (IsHangUp(ec)) {
      if (inside_frame) {
        return CloseNow(DisconnectReason::kTruncatedFrame, "connection ended inside a frame");
      }
      return CloseNow(DisconnectReason::kPeerClosed, "closed by peer");
    }
    CloseNow(DisconnectReason::kIoError, "read: " + ec.message());
  }

  void OnFrame() {
    const size_t length = body_.size();
    frames_in_.fetch_add(1);
    impl_->counters_.frames_in.fetch_add(1);
    impl_->counters_.bytes_in.fetch_add(kFrameHeaderBytes + length);
    last_rx_ = Clock::now();
    pb::PeerMessage msg;
    std::optional<DisconnectReason> refusal = ParseFrameBody(body_, &msg);
    if (body_.capacity() > kKeepBodyBufferBytes) {
      std::string().swap(body_);
    }
    if (refusal) {
      return CloseNow(*refusal,
                      "frame of " + std::to_string(length) + " bytes is not a valid PeerMessage");
    }
    if (!authenticated_) {
      if (!msg.has_hello()) {
        return CloseNow(DisconnectReason::kNotHello,
                        "first message has body case " + std::to_string(msg.body_case()));
      }
      return HandleHello(msg.hello());
    }
    if (msg.has_hello()) {
      return CloseNow(DisconnectReason::kUnexpectedHello, "Hello after the handshake");
    }
    if (msg.has_status()) height_.store(msg.status().height());
    Deliver(std::move(msg), length);
    ContinueReading();
  }

  void HandleHello(const pb::Hello& hello) {
    if (auto refusal = CheckHello(hello, impl_->Policy(), exporter_)) {
      return CloseNow(refusal->reason, refusal->detail);
    }
    core::PublicKey key = core::PublicKey::FromBytes(core::AsSpan(hello.node_key())).value();
    if (outbound() && key != target_.key) {
      return CloseNow(DisconnectReason::kUnexpectedKey, "dialed " + target_.name + " (" +
                                                            ShortKey(target_.key) + "...) but " +
                                                            ShortKey(key) + "... answered");
    }
    peer_key_ = key;
    height_.store(hello.height());
    describe_ += " (" + impl_->PeerName(key) + ")";
    authenticated_.store(true);
    if (auto refusal = impl_->Register(shared_from_this(), hello)) {
      return CloseNow(refusal->reason, refusal->detail);
    }
    handshake_timer_.cancel();
    ScheduleTick();
    ReadHeader();
  }

  // Hands a message to the callback executor, counting it in the backlog until it has run.
  void Deliver(pb::PeerMessage msg, size_t length) {
    backlog_messages_.fetch_add(1);
    backlog_bytes_.fetch_add(length);
    asio::post(impl_->callback_ex_,
               [self = shared_from_this(), msg = std::move(msg), length]() mutable {
                 const TransportImpl& impl = *self->impl_;
                 if (!impl.stopped_.load() && impl.on_message_) {
                   impl.on_message_(self->peer_key_, std::move(msg));
                 }
                 self->backlog_messages_.fetch_sub(1);
                 self->backlog_bytes_.fetch_sub(length);
                 if (self->read_paused_.load()) {
                   asio::post(self->ex_, [self] { self->MaybeResumeReading(); });
                 }
               });
  }

  bool BacklogFull() const {
    return backlog_messages_.load() >= impl_->limits_.max_inbound_backlog_messages ||
           backlog_bytes_.load() >= impl_->limits_.max_inbound_backlog_bytes;
  }

  // Reads the next frame unless the callback executor is behind. The flag is raised before the
  // second look at the backlog, so a delivery that drains it in between sees the flag and
  // schedules MaybeResumeReading: no wake-up is lost.
  void ContinueReading() {
    if (BacklogFull()) {
      read_paused_.store(true);
      if (BacklogFull()) return;
      read_paused_.store(false);
    }
    ReadHeader();
  }

  void MaybeResumeReading() {
    if (closed_ || !read_paused_.load() || BacklogFull()) return;
    read_paused_.store(false);
    ReadHeader();
  }

  // Every keepalive interval: drop a silent or stuck peer, else tell it our height.
  void ScheduleTick() {
    tick_timer_.expires_after(std::chrono::milliseconds(impl_->limits_.keepalive_interval_ms));
    tick_timer_.async_wait([self = shared_from_this()](const ErrorCode& ec) {
      if (ec || self->closed_) return;
      self->Tick();
    });
  }

  void Tick() {
    const auto now = Clock::now();
    const auto idle = std::chrono::milliseconds(impl_->limits_.idle_timeout_ms);
    const auto stall = std::chrono::milliseconds(impl_->limits_.write_stall_timeout_ms);
    // While paused we are the slow side, so silence proves nothing about the peer.
    if (!read_paused_.load() && now - last_rx_ > idle) {
      return CloseNow(
          DisconnectReason::kIdleTimeout,
          "nothing received for " + std::to_string(impl_->limits_.idle_timeout_ms) + " ms");
    }
    if (writing_ && now - write_progress_ > stall) {
      return CloseNow(
          DisconnectReason::kWriteStalled,
          "peer has not read for " + std::to_string(impl_->limits_.write_stall_timeout_ms) + " ms");
    }
    pb::PeerMessage keepalive;
    keepalive.mutable_status()->set_height(impl_->height_.load());
    auto frame = EncodeFrame(keepalive, impl_->limits_.max_frame_bytes);
    HM_ASSERT(frame.ok());
    // A full queue means traffic is already flowing or about to stall; either way no keepalive
    // is needed, and it is not counted as a drop.
    if (Reserve((*frame)->size())) Push(std::move(*frame));
    ScheduleTick();
  }

  // Admission to the outbound queue; see p2p_limits::kMaxOutboundQueueBytes.
  bool Reserve(size_t size) {
    if (queued_messages_.fetch_add(1) >= impl_->limits_.max_outbound_queue_messages) {
      queued_messages_.fetch_sub(1);
      return false;
    }
    uint64_t before = queued_bytes_.fetch_add(size);
    if (before != 0 && before + size > impl_->limits_.max_outbound_queue_bytes) {
      queued_bytes_.fetch_sub(size);
      queued_messages_.fetch_sub(1);
      return false;
    }
    return true;
  }

  void Release(size_t size) {
    queued_messages_.fetch_sub(1);
    queued_bytes_.fetch_sub(size);
  }

  void Push(std::shared_ptr<const std::string> frame) {
    if (closed_) return Release(frame->size());
    queue_.push_back(std::move(frame));
    if (!writing_) WriteNext();
  }

  void WriteNext() {
    if (queue_.empty()) {
      writing_ = false;
      return;
    }
    if (!writing_) {
      writing_ = true;
      write_progress_ = Clock::now();
    }
    const std::string& frame = *queue_.front();
    size_t chunk = std::min(kWriteChunkBytes, frame.size() - write_offset_);
    asio::async_write(stream_, asio::buffer(frame.data() + write_offset_, chunk),
                      [self = shared_from_this()](const ErrorCode& ec, size_t n) {
                        if (self->closed_) return;
                        if (ec) {
                          return self->CloseNow(DisconnectReason::kIoError,
                                                "write: " + ec.message());
                        }
                        self->OnWritten(n);
                      });
  }

  void OnWritten(size_t n) {
    write_progress_ = Clock::now();
    write_offset_ += n;
    const size_t size = queue_.front()->size();
    if (write_offset_ == size) {
      queue_.pop_front();
      write_offset_ = 0;
      Release(size);
      frames_out_.fetch_add(1);
      impl_->counters_.frames_out.fetch_add(1);
      impl_->counters_.bytes_out.fetch_add(size);
    }
    WriteNext();
  }

  void CloseNow(DisconnectReason reason, const std::string& detail) {
    if (closed_.exchange(true)) return;
    ErrorCode ignored;
    handshake_timer_.cancel();
    tick_timer_.cancel();
    resolver_.cancel();
    // No TLS close_notify: it could wait on a peer that is not reading, and the peer treats a
    // plain TCP close between frames the same way.
    stream_.lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.lowest_layer().close(ignored);
    for (const auto& frame : queue_) Release(frame->size());
    queue_.clear();
    std::string().swap(body_);
    impl_->OnClosed(shared_from_this(), reason, detail);
  }

  const std::shared_ptr<TransportImpl> impl_;
  const asio::any_io_executor ex_;  // This connection's strand.
  asio::ssl::stream<tcp::socket> stream_;
  tcp::resolver resolver_;
  asio::steady_timer handshake_timer_;
  asio::steady_timer tick_timer_;
  Dialer* const dialer_ = nullptr;  // Set for outbound connections.
  const PeerAddress target_;        // The dialed peer (outbound only).
  std::string remote_;
  std::string describe_;

  std::atomic<bool> closed_{false};
  std::atomic<bool> authenticated_{false};
  core::PublicKey peer_key_;  // Set before authenticated_.
  core::Hash256 exporter_;

  // Reading.
  std::array<uint8_t, kFrameHeaderBytes> header_{};
  std::string body_;
  Clock::time_point last_rx_ = Clock::now();
  std::atomic<bool> read_paused_{false};
  std::atomic<size_t> backlog_messages_{0};
  std::atomic<size_t> backlog_bytes_{0};

  // Writing.
  std::deque<std::shared_ptr<const std::string>> queue_;
  bool writing_ = false;
  size_t write_offset_ = 0;  // Into queue_.front().
  Clock::time_point write_progress_ = Clock::now();
};

// ---------------------------------------------------------------------------------------------
// TransportImpl

namespace {

HelloPolicy MakePolicy(const core::Network& network, const core::SigningKey& key,
                       const std::vector<core::PublicKey>& observers) {
  HelloPolicy policy;
  policy.chain_id = network.chain_id();
  policy.genesis_hash = network.hash();
  for (const auto& v : network.validators()) policy.validators.insert(ToPublicKey(v.key));
  policy.observers.insert(observers.begin(), observers.end());
  policy.own_key = key.public_key();
  return policy;
}

core::SigningKey CopyKey(const core::SigningKey& key) {
  return std::move(core::SigningKey::FromSeed(key.seed()).value());
}

asio::any_io_executor CallbackExecutor(const TransportConfig& config, asio::io_context& io) {
  if (config.callback_executor) return *config.callback_executor;
  return asio::make_strand(io);
}

}  // namespace

TransportImpl::TransportImpl(asio::io_context& io, const core::Network& network,
                             const core::SigningKey& node_key, TransportConfig config,
                             std::vector<core::PublicKey> allowed_observers,
                             Transport::OnMessage on_message, Transport::OnPeer on_peer)
    : io_(io),
      policy_(MakePolicy(network, node_key, allowed_observers)),
      key_(CopyKey(node_key)),
      config_(std::move(config)),
      on_message_(std::move(on_message)),
      on_peer_(std::move(on_peer)),
      strand_(asio::make_strand(io)),
      callback_ex_(CallbackExecutor(config_, io)),
      accept_retry_(strand_) {
  for (const auto& v : network.validators()) validator_names_[ToPublicKey(v.key)] = v.name;
}

pb::Hello TransportImpl::SignHello(const core::Hash256& exporter) {
  std::lock_guard lock(key_mu_);
  // chain_id and genesis_hash never change after construction.
  return MakeHello(policy_.chain_id, policy_.genesis_hash, exporter, key_, config_.observer,
                   height_.load(), Version());
}

void TransportImpl::SetValidators(std::set<core::PublicKey> validators,
                                  std::map<core::PublicKey, std::string> names) {
  std::lock_guard lock(mu_);
  if (validators == policy_.validators) return;
  // Connections already open stay; the new policy applies to every Hello from now on.
  policy_.validators = std::move(validators);
  for (auto& [key, name] : names) validator_names_.insert_or_assign(key, std::move(name));
}

void TransportImpl::Log(const std::string& line, bool warning) const {
  if (config_.log) {
    config_.log(line);
  } else if (warning) {
    spdlog::warn("p2p: {}", line);
  } else {
    spdlog::info("p2p: {}", line);
  }
}

std::string TransportImpl::PeerName(const core::PublicKey& key) const {
  std::lock_guard lock(mu_);
  return PeerNameLocked(key);
}

std::string TransportImpl::PeerNameLocked(const core::PublicKey& key) const {
  if (auto it = validator_names_.find(key); it != validator_names_.end()) return it->second;
  if (auto it = dialers_.find(key); it != dialers_.end() && !it->second->address.name.empty()) {
    return it->second->address.name;
  }
  return "observer " + ShortKey(key);
}

core::Status TransportImpl::Start() {
  const TransportLimits& l = limits_;
  if (l.max_frame_bytes == 0 || l.max_hello_frame_bytes == 0 ||
      l.max_outbound_queue_messages == 0 || l.max_inbound_backlog_messages == 0 ||
      l.max_connections == 0 || l.max_handshaking_connections == 0 ||
      l.dial_backoff_initial_ms == 0 || l.dial_backoff_initial_ms > l.dial_backoff_max_ms ||
      l.keepalive_interval_ms == 0 || l.idle_timeout_ms <= l.keepalive_interval_ms) {
    return core::Status::InvalidInput(
        "p2p limits: sizes must be positive, backoff initial <= max, and the idle timeout "
        "longer than the keepalive interval");
  }
  std::lock_guard lock(mu_);
  if (started_) return core::Status::Internal("p2p transport started twice");
  if (stopped_) return core::Status::Internal("p2p transport started after Stop()");
  for (const auto& peer : config_.peers) HM_RETURN_IF_ERROR(AddPeerLocked(peer));
  auto tls = MakePeerTlsContext();
  if (!tls.ok()) return tls.status();
  tls_ = std::move(*tls);

  if (!config_.listen_host.empty()) {
    ErrorCode ec;
    auto address = asio::ip::make_address(config_.listen_host, ec);
    if (ec) {
      return core::Status::InvalidInput("p2p listen address \"" + config_.listen_host +
                                        "\" is not an IP address");
    }
    tcp::endpoint endpoint(address, config_.listen_port);
    const std::string where = config_.listen_host + ":" + std::to_string(config_.listen_port);
    acceptor_.emplace(strand_);
    acceptor_->open(endpoint.protocol(), ec);
    // Lets a restarted node bind again while old connections linger in TIME_WAIT.
    if (!ec) acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      acceptor_.reset();
      return core::Status::IoError("cannot listen for peers on " + where + ": " + ec.message());
    }
    listen_port_.store(acceptor_->local_endpoint(ec).port());
    asio::post(strand_, [self = shared_from_this()] { self->DoAccept(); });
  }
  started_ = true;
  for (auto& [key, d] : dialers_) {
    if (d->state != Dialer::State::kIdle || peers_.contains(key)) continue;
    d->state = Dialer::State::kWaiting;
    asio::post(strand_, [self = shared_from_this(), d = d.get()] { self->Dial(d); });
  }
  return core::Status::Ok();
}

void TransportImpl::Stop() {
  std::set<std::shared_ptr<Connection>> conns;
  {
    std::lock_guard lock(mu_);
    if (stopped_.exchange(true)) return;
    conns.swap(conns_);
    peers_.clear();
    for (auto& [key, d] : dialers_) d->state = Dialer::State::kIdle;
  }
  // Clearing conns_ and peers_ breaks the Connection <-> TransportImpl ownership cycle; the
  // closes below then free every connection once its handlers have finished.
  asio::post(strand_, [self = shared_from_this()] {
    ErrorCode ignored;
    if (self->acceptor_) self->acceptor_->close(ignored);
    self->accept_retry_.cancel();
    std::lock_guard lock(self->mu_);
    for (auto& [key, d] : self->dialers_) d->timer.cancel();
  });
  for (const auto& c : conns) c->Close(DisconnectReason::kShutdown, "transport stopping");
}

core::Status TransportImpl::AddPeer(PeerAddress peer) {
  std::lock_guard lock(mu_);
  if (stopped_) return core::Status::Internal("p2p transport is stopped");
  const core::PublicKey key = peer.key;
  HM_RETURN_IF_ERROR(AddPeerLocked(std::move(peer)));
  auto it = dialers_.find(key);
  if (started_ && it != dialers_.end() && it->second->state == Dialer::State::kIdle &&
      !peers_.contains(key)) {
    it->second->state = Dialer::State::kWaiting;
    asio::post(strand_, [self = shared_from_this(), d = it->second.get()] { self->Dial(d); });
  }
  return core::Status::Ok();
}

core::Status TransportImpl::AddPeerLocked(PeerAddress peer) {
  if (peer.key == policy_.own_key) return core::Status::Ok();
  if (!policy_.validators.contains(peer.key) && !policy_.observers.contains(peer.key)) {
    return core::Status::InvalidInput("p2p peer " + peer.name + " (" + peer.key.Hex() +
                                      ") is neither a validator nor an allowed observer");
  }
  if (dialers_.contains(peer.key)) {
    return core::Status::InvalidInput("p2p peer " + peer.name + " (" + peer.key.Hex() +
                                      ") is listed twice");
  }
  uint64_t seed = config_.jitter_seed;
  if (seed == 0) {
    core::RandomBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(&seed), sizeof(seed)));
  } else {
    seed += dialers_.size();
  }
  if (peer.name.empty()) peer.name = PeerNameLocked(peer.key);
  const core::PublicKey key = peer.key;
  dialers_.emplace(key, std::make_unique<Dialer>(std::move(peer), limits_, seed, strand_));
  return core::Status::Ok();
}

void TransportImpl::ScheduleDialLocked(Dialer* d) {
  if (stopped_) return;
  d->state = Dialer::State::kWaiting;
  const uint32_t delay_ms = d->backoff.NextDelayMs();
  asio::post(strand_, [self = shared_from_this(), d, delay_ms] {
    d->timer.expires_after(std::chrono::milliseconds(delay_ms));
    d->timer.async_wait([self, d](const ErrorCode& ec) {
      if (!ec) self->Dial(d);
    });
  });
}

void TransportImpl::Dial(Dialer* d) {
  std::shared_ptr<Connection> conn;
  {
    std::lock_guard lock(mu_);
    if (stopped_ || d->state != Dialer::State::kWaiting) return;
    if (peers_.contains(d->address.key)) {
      d->state = Dialer::State::kIdle;
      return;
    }
    if (conns_.size() >= limits_.max_connections) {
      ++disconnects_[DisconnectReason::kTooManyConnections];
      ScheduleDialLocked(d);
      return;
    }
    d->state = Dialer::State::kDialing;
    conn = std::make_shared<Connection>(shared_from_this(), d);
    d->dialing = conn.get();
    conns_.insert(conn);
  }
  counters_.dials.fetch_add(1);
  conn->Start();
}

void TransportImpl::DoAccept() {
  if (stopped_ || !acceptor_ || !acceptor_->is_open()) return;
  acceptor_->async_accept(
      asio::any_io_executor(asio::make_strand(io_)),
      [self = shared_from_this()](const ErrorCode& ec, tcp::socket socket) {
        if (self->stopped_ || ec == asio::error::operation_aborted) return;
        if (ec) {
          // Typically out of file descriptors: pause rather than spin.
          self->Log("accept failed: " + ec.message(), true);
          self->accept_retry_.expires_after(std::chrono::milliseconds(p2p_limits::kAcceptRetryMs));
          self->accept_retry_.async_wait([self](const ErrorCode& ec2) {
            if (!ec2) self->DoAccept();
          });
          return;
        }
        std::shared_ptr<Connection> conn;
        {
          std::lock_guard lock(self->mu_);
          size_t handshaking = static_cast<size_t>(std::count_if(
              self->conns_.begin(), self->conns_.end(),
              [](const std::shared_ptr<Connection>& c) { return !c->authenticated(); }));
          if (self->conns_.size() >= self->limits_.max_connections ||
              handshaking >= self->limits_.max_handshaking_connections) {
            ++self->disconnects_[DisconnectReason::kTooManyConnections];
          } else {
            conn = std::make_shared<Connection>(self, std::move(socket));
            self->conns_.insert(conn);
          }
        }
        if (conn) {
          conn->Start();
        } else {
          ErrorCode ignored;
          self->Log("refused inbound connection: too_many_connections", true);
          socket.close(ignored);
        }
        self->DoAccept();
      });
}

std::optional<HelloRefusal> TransportImpl::Register(const std::shared_ptr<Connection>& conn,
                                                    const pb::Hello& hello) {
  const core::PublicKey& key = conn->peer_key();
  std::shared_ptr<Connection> replaced;
  std::string name;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return HelloRefusal{DisconnectReason::kShutdown, "transport stopping"};
    name = PeerNameLocked(key);
    auto it = peers_.find(key);
    if (it != peers_.end()) {
      const bool keep_new =
          PreferNewConnection(policy_.own_key, key, it->second.conn->outbound(), conn->outbound());
      if (!keep_new) {
        return HelloRefusal{DisconnectReason::kDuplicate,
                            "already linked to " + name + " by the connection " +
                                it->second.conn->describe() + ", dialed by the lower key"};
      }
      replaced = std::move(it->second.conn);
      peers_.erase(it);
    }
    peers_.emplace(key, PeerEntry{conn, hello, core::UnixTimeMs()});
    if (Dialer* d = conn->dialer()) {
      d->state = Dialer::State::kIdle;
      d->dialing = nullptr;
      d->failures = 0;
      d->backoff.Reset();
    }
    counters_.handshakes_ok.fetch_add(1);
    asio::post(callback_ex_, [self = shared_from_this(), key, hello] {
      if (!self->stopped_.load() && self->on_peer_) self->on_peer_(key, true, hello);
    });
  }
  Log("connected: " + conn->describe() + ", key " + ShortKey(key) + "..., " +
      (hello.observer() ? "observer" : "validator") + ", height " + std::to_string(hello.height()));
  if (replaced) {
    replaced->Close(DisconnectReason::kDuplicate,
                    "replaced by " + conn->describe() + " (the lower key's dial, or newer)");
  }
  return std::nullopt;
}

void TransportImpl::OnClosed(const std::shared_ptr<Connection>& conn, DisconnectReason reason,
                             const std::string& detail) {
  std::string dial_note;
  uint64_t dial_failures = 0;
  {
    std::lock_guard lock(mu_);
    ++disconnects_[reason];
    conns_.erase(conn);
    if (conn->authenticated()) {
      const core::PublicKey& key = conn->peer_key();
      auto it = peers_.find(key);
      if (it != peers_.end() && it->second.conn == conn) {
        pb::Hello hello = std::move(it->second.hello);
        peers_.erase(it);
        asio::post(callback_ex_, [self = shared_from_this(), key, hello = std::move(hello)] {
          if (!self->stopped_.load() && self->on_peer_) self->on_peer_(key, false, hello);
        });
        auto d = dialers_.find(key);
        if (d != dialers_.end() && d->second->state == Dialer::State::kIdle) {
          ScheduleDialLocked(d->second.get());
        }
      }
    }
    if (Dialer* d = conn->dialer(); d != nullptr && d->dialing == conn.get()) {
      d->dialing = nullptr;
      if (peers_.contains(d->address.key)) {
        d->state = Dialer::State::kIdle;
      } else {
        dial_failures = ++d->failures;
        dial_note = " (attempt " + std::to_string(d->failures) + ", will retry)";
        ScheduleDialLocked(d);
      }
    }
  }
  // A peer that is down is redialed every few seconds; log its failures at 1, 2, 4, 8, ...
  const bool quiet_dial_failure = reason == DisconnectReason::kConnectFailed &&
                                  conn->dialer() != nullptr && !std::has_single_bit(dial_failures);
  if (reason != DisconnectReason::kShutdown && !quiet_dial_failure) {
    Log((IsRefusal(reason) ? "refused: " : "disconnected: ") + conn->describe() + ": " +
            std::string(DisconnectReasonName(reason)) + ": " + detail + dial_note,
        IsRefusal(reason));
  }
}

size_t TransportImpl::Broadcast(const pb::PeerMessage& message) {
  auto frame = EncodeFrame(message, limits_.max_frame_bytes);
  if (!frame.ok()) {
    counters_.unsendable_messages.fetch_add(1);
    Log("broadcast not sent: " + frame.status().message());
    return 0;
  }
  std::vector<std::shared_ptr<Connection>> targets;
  {
    std::lock_guard lock(mu_);
    targets.reserve(peers_.size());
    for (const auto& [key, entry] : peers_) targets.push_back(entry.conn);
  }
  size_t sent = 0;
  for (const auto& c : targets) sent += c->TrySend(*frame) ? 1 : 0;
  return sent;
}

bool TransportImpl::Send(const core::PublicKey& to, const pb::PeerMessage& message) {
  std::shared_ptr<Connection> target;
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(to);
    if (it == peers_.end()) return false;
    target = it->second.conn;
  }
  auto frame = EncodeFrame(message, limits_.max_frame_bytes);
  if (!frame.ok()) {
    counters_.unsendable_messages.fetch_add(1);
    Log("message to " + ShortKey(to) + "... not sent: " + frame.status().message());
    return false;
  }
  return target->TrySend(std::move(*frame));
}

std::vector<PeerInfo> TransportImpl::Peers() const {
  std::lock_guard lock(mu_);
  std::vector<PeerInfo> out;
  out.reserve(peers_.size());
  for (const auto& [key, entry] : peers_) {
    const Connection& c = *entry.conn;
    PeerInfo info;
    info.key = key;
    info.name = PeerNameLocked(key);
    info.remote_address = c.remote();
    info.outbound = c.outbound();
    info.observer = entry.hello.observer();
    info.height = c.height_.load();
    info.version = entry.hello.version();
    info.connected_at_ms = entry.connected_at_ms;
    info.frames_in = c.frames_in_.load();
    info.frames_out = c.frames_out_.load();
    info.queued_messages = c.queued_messages_.load();
    info.queued_bytes = c.queued_bytes_.load();
    info.dropped_messages = c.dropped_.load();
    out.push_back(std::move(info));
  }
  return out;
}

TransportStats TransportImpl::Stats() const {
  TransportStats s;
  s.frames_in = counters_.frames_in.load();
  s.frames_out = counters_.frames_out.load();
  s.bytes_in = counters_.bytes_in.load();
  s.bytes_out = counters_.bytes_out.load();
  s.dropped_messages = counters_.dropped_messages.load();
  s.dropped_bytes = counters_.dropped_bytes.load();
  s.unsendable_messages = counters_.unsendable_messages.load();
  s.dials = counters_.dials.load();
  s.handshakes_ok = counters_.handshakes_ok.load();
  std::lock_guard lock(mu_);
  s.disconnects = disconnects_;
  s.connections = conns_.size();
  s.peers = peers_.size();
  return s;
}

}  // namespace p2p_detail

// ---------------------------------------------------------------------------------------------
// Transport

Transport::Transport(boost::asio::io_context& io, const core::Network& network,
                     const core::SigningKey& node_key, TransportConfig config,
                     std::vector<core::PublicKey> allowed_observers, OnMessage on_message,
                     OnPeer on_peer)
    : impl_(std::make_shared<p2p_detail::TransportImpl>(
          io, network, node_key, std::move(config), std::move(allowed_observers),
          std::move(on_message), std::move(on_peer))) {}

Transport::~Transport() {
  Stop();
}

core::Status Transport::Start() {
  return impl_->Start();
}
void Transport::Stop() {
  impl_->Stop();
}
core::Status Transport::AddPeer(PeerAddress peer) {
  return impl_->AddPeer(std::move(peer));
}
size_t Transport::Broadcast(const pb::PeerMessage& message) {
  return impl_->Broadcast(message);
}
bool Transport::Send(const core::PublicKey& to, const pb::PeerMessage& message) {
  return impl_->Send(to, message);
}
void Transport::SetValidators(std::set<core::PublicKey> validators,
                              std::map<core::PublicKey, std::string> names) {
  impl_->SetValidators(std::move(validators), std::move(names));
}

void Transport::SetHeight(uint64_t height) {
  impl_->height_.store(height);
}
std::vector<PeerInfo> Transport::Peers() const {
  return impl_->Peers();
}
uint16_t Transport::listen_port() const {
  return impl_->listen_port_.load();
}
TransportStats Transport::stats() const {
  return impl_->Stats();
}

}  // namespace hallmark::node
