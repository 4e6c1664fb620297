#pragma once

// Loopback helpers for the p2p tests: a Transport on its own io_context and thread that records
// what it sees, and a raw TLS client that can say things a Transport never would.

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fixtures.h"
#include "node/p2p/framing.h"
#include "node/p2p/hello.h"
#include "node/p2p/tls.h"
#include "node/p2p/transport.h"

namespace hallmark::test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

inline core::PublicKey NodeKey(std::string_view name) {
  return KeyFor(name).public_key();
}
inline std::string ValidatorName(int i) {
  return "validator-" + std::to_string(i);
}

// Polls `pred` every few milliseconds until it holds or `timeout_ms` passes.
template <typename Pred>
bool WaitUntil(Pred pred, int timeout_ms = 5000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

// Limits that make timeouts and backoff fast enough for tests.
inline node::TransportLimits FastLimits() {
  node::TransportLimits l;
  l.handshake_timeout_ms = 2000;
  l.keepalive_interval_ms = 200;
  l.idle_timeout_ms = 3000;
  l.write_stall_timeout_ms = 5000;
  l.dial_backoff_initial_ms = 20;
  l.dial_backoff_max_ms = 300;
  return l;
}

inline pb::PeerMessage StatusMessage(uint64_t height) {
  pb::PeerMessage m;
  m.mutable_status()->set_height(height);
  return m;
}

inline pb::PeerMessage BlockRequestMessage(uint64_t from_height) {
  pb::PeerMessage m;
  m.mutable_block_request()->set_from_height(from_height);
  m.mutable_block_request()->set_max_blocks(1);
  return m;
}

// A Transport on its own io_context and thread, listening on 127.0.0.1 and recording callbacks
// and log lines. Thread-safe accessors.
class TestNode {
 public:
  struct Received {
    core::PublicKey from;
    pb::PeerMessage message;
  };

  TestNode(std::string key_name, const core::Network& network, node::TransportConfig config = {},
           std::vector<core::PublicKey> observers = {})
      : key_(KeyFor(key_name)), name_(std::move(key_name)) {
    if (config.listen_host.empty()) config.listen_host = "127.0.0.1";
    if (config.jitter_seed == 0) config.jitter_seed = 7;
    config.log = [this](std::string_view line) {
      std::lock_guard lock(mu_);
      logs_.emplace_back(line);
    };
    transport_ = std::make_unique<node::Transport>(
        io_, network, key_, std::move(config), std::move(observers),
        [this](const core::PublicKey& from, pb::PeerMessage msg) {
          std::lock_guard lock(mu_);
          received_.push_back({from, std::move(msg)});
        },
        [this](const core::PublicKey& peer, bool connected, const pb::Hello&) {
          std::lock_guard lock(mu_);
          events_.emplace_back(peer, connected);
        });
  }

  // Starts the transport and the io thread. Returns the transport's status.
  core::Status Start() {
    core::Status st = transport_->Start();
    thread_ = std::thread([this] { io_.run(); });
    return st;
  }

  // Stops the transport and returns whether the io_context then ran out of work by itself (no
  // timer or socket left behind) within a second.
  bool Shutdown() {
    if (!thread_.joinable()) return true;
    transport_->Stop();
    work_.reset();
    bool drained = WaitUntil([this] { return io_.stopped(); }, 1000);
    io_.stop();
    thread_.join();
    return drained;
  }

  ~TestNode() {
    Shutdown();
    transport_.reset();  // Before io_, as Transport requires.
  }

  node::Transport& transport() { return *transport_; }
  const core::PublicKey& key() const { return key_.public_key(); }
  uint16_t port() const { return transport_->listen_port(); }
  node::PeerAddress Address() const {
    return node::PeerAddress{name_, "127.0.0.1", port(), key_.public_key()};
  }

  size_t PeerCount() const { return transport_->Peers().size(); }
  bool HasPeer(const core::PublicKey& key) const { return FindPeer(key).has_value(); }
  std::optional<node::PeerInfo> FindPeer(const core::PublicKey& key) const {
    for (auto& p : transport_->Peers()) {
      if (p.key == key) return p;
    }
    return std::nullopt;
  }
  uint64_t Disconnects(node::DisconnectReason reason) const {
    auto s = transport_->stats();
    auto it = s.disconnects.find(reason);
    return it == s.disconnects.end() ? 0 : it->second;
  }

  std::vector<Received> received() const {
    std::lock_guard lock(mu_);
    return received_;
  }
  // Messages received from `from` whose body is not a keepalive StatusUpdate.
  std::vector<pb::PeerMessage> NonStatusFrom(const core::PublicKey& from) const {
    std::lock_guard lock(mu_);
    std::vector<pb::PeerMessage> out;
    for (const auto& r : received_) {
      if (r.from == from && !r.message.has_status()) out.push_back(r.message);
    }
    return out;
  }
  std::vector<std::pair<core::PublicKey, bool>> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }
  bool Logged(std::string_view needle) const {
    std::lock_guard lock(mu_);
    for (const auto& l : logs_) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  std::string Logs() const {
    std::lock_guard lock(mu_);
    std::string out;
    for (const auto& l : logs_) out += l + "\n";
    return out;
  }

 private:
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      asio::make_work_guard(io_)};
  core::SigningKey key_;
  std::string name_;
  std::unique_ptr<node::Transport> transport_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<Received> received_;
  std::vector<std::pair<core::PublicKey, bool>> events_;
  std::vector<std::string> logs_;
};

// A hand-driven client for bad-input tests. Every operation runs the client's own io_context
// for at most `timeout_ms`, so no test can hang on it.
class RawClient {
 public:
  explicit RawClient(uint16_t port)
      : port_(port), tls_(std::move(node::MakePeerTlsContext().value())), stream_(io_, *tls_) {}

  // TCP connect only.
  bool ConnectTcp(int timeout_ms = 3000) {
    bool done = false;
    boost::system::error_code result;
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port_);
    stream_.lowest_layer().async_connect(ep, [&](const boost::system::error_code& ec) {
      done = true;
      result = ec;
    });
    return Run(done, timeout_ms) && !result;
  }

  // TCP connect and TLS 1.3 handshake.
  bool ConnectTls(int timeout_ms = 3000) {
    if (!ConnectTcp(timeout_ms)) return false;
    bool done = false;
    boost::system::error_code result;
    stream_.async_handshake(asio::ssl::stream_base::client,
                            [&](const boost::system::error_code& ec) {
                              done = true;
                              result = ec;
                            });
    tls_up_ = Run(done, timeout_ms) && !result;
    return tls_up_;
  }

  core::Hash256 Exporter() {
    return node::ExportHelloKeyingMaterial(stream_.native_handle()).value();
  }

  // Writes raw bytes, through TLS when it is up, else in the clear.
  bool Write(const std::string& bytes, int timeout_ms = 3000) {
    bool done = false;
    boost::system::error_code result;
    auto handler = [&](const boost::system::error_code& ec, size_t) {
      done = true;
      result = ec;
    };
    if (tls_up_) {
      asio::async_write(stream_, asio::buffer(bytes), handler);
    } else {
      asio::async_write(stream_.next_layer(), asio::buffer(bytes), handler);
    }
    return Run(done, timeout_ms) && !result;
  }

  bool SendMessage(const pb::PeerMessage& msg) {
    return Write(*node::EncodeFrame(msg, node::p2p_limits::kMaxFrameBytes).value());
  }

  // Sends a Hello signed by `key` over `exporter` (this session's by default).
  bool SendHello(const core::SigningKey& key, const core::Network& network,
                 std::optional<core::Hash256> exporter = std::nullopt, bool observer = false) {
    pb::PeerMessage msg;
    *msg.mutable_hello() = node::MakeHello(network.chain_id(), network.hash(),
                                           exporter ? *exporter : Exporter(), key, observer,
                                           /*height=*/0, "raw-client");
    return SendMessage(msg);
  }

  // Reads and discards whatever arrives until the server closes the connection. True when it
  // closed within `timeout_ms`.
  bool WaitClosed(int timeout_ms = 3000) {
    bool closed = false;
    std::function<void()> read_more;
    read_more = [&] {
      auto handler = [&](const boost::system::error_code& ec, size_t) {
        if (ec) {
          closed = true;
          return;
        }
        read_more();
      };
      if (tls_up_) {
        stream_.async_read_some(asio::buffer(sink_), handler);
      } else {
        stream_.next_layer().async_read_some(asio::buffer(sink_), handler);
      }
    };
    read_more();
    return Run(closed, timeout_ms);
  }

  // Reads one frame (TLS only).
  std::optional<pb::PeerMessage> ReadMessage(int timeout_ms = 3000) {
    std::array<uint8_t, 4> header{};
    bool done = false;
    boost::system::error_code result;
    asio::async_read(stream_, asio::buffer(header),
                     [&](const boost::system::error_code& ec, size_t) {
                       done = true;
                       result = ec;
                     });
    if (!Run(done, timeout_ms) || result) return std::nullopt;
    std::string body(core::GetBigEndian32(header.data()), '\0');
    done = false;
    asio::async_read(stream_, asio::buffer(body.data(), body.size()),
                     [&](const boost::system::error_code& ec, size_t) {
                       done = true;
                       result = ec;
                     });
    if (!Run(done, timeout_ms) || result) return std::nullopt;
    pb::PeerMessage msg;
    if (node::ParseFrameBody(body, &msg)) return std::nullopt;
    return msg;
  }

  // Half-closes TCP: the server reads what was sent, then end of stream.
  void StopSending() {
    boost::system::error_code ignored;
    stream_.lowest_layer().shutdown(tcp::socket::shutdown_send, ignored);
  }

  void Close() {
    boost::system::error_code ignored;
    stream_.lowest_layer().close(ignored);
    io_.restart();
    io_.poll();
  }

 private:
  // Runs the io_context until `done` or the timeout; on timeout closes the socket so that the
  // pending operation finishes (and no handler outlives this call's locals).
  bool Run(bool& done, int timeout_ms) {
    io_.restart();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!done && std::chrono::steady_clock::now() < deadline) {
      io_.run_one_for(std::chrono::milliseconds(10));
    }
    if (!done) {
      boost::system::error_code ignored;
      stream_.lowest_layer().close(ignored);
      io_.restart();
      io_.run_for(std::chrono::milliseconds(500));
      return false;
    }
    return true;
  }

  uint16_t port_;
  asio::io_context io_;
  std::unique_ptr<asio::ssl::context> tls_;
  asio::ssl::stream<tcp::socket> stream_;
  bool tls_up_ = false;
  std::array<uint8_t, 16 * 1024> sink_{};
};

}  // namespace hallmark::test
