#pragma once

// The peer-to-peer transport of hallmarkd: authenticated, framed, bounded message links between
// the nodes of one network. docs/p2p.md describes the protocol; this header the API.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/crypto/ed25519.h"
#include "core/genesis.h"
#include "core/status.h"
#include "node/p2p/disconnect_reason.h"
#include "node/p2p/limits.h"
#include "proto/p2p.pb.h"

namespace hallmark::node {

// A peer this node dials, and keeps dialing while it is not connected.
struct PeerAddress {
  std::string name;  // For logs.
  std::string host;  // A name or an IP address.
  uint16_t port = 0;
  core::PublicKey key;  // The key that must answer; another key there is refused.
};

// The transport's limits (node/p2p/limits.h gives the defaults and the reasons). Only tests
// should need to change them.
struct TransportLimits {
  uint32_t max_frame_bytes = p2p_limits::kMaxFrameBytes;
  uint32_t max_hello_frame_bytes = p2p_limits::kMaxHelloFrameBytes;
  size_t max_outbound_queue_messages = p2p_limits::kMaxOutboundQueueMessages;
  size_t max_outbound_queue_bytes = p2p_limits::kMaxOutboundQueueBytes;
  size_t max_inbound_backlog_messages = p2p_limits::kMaxInboundBacklogMessages;
  size_t max_inbound_backlog_bytes = p2p_limits::kMaxInboundBacklogBytes;
  size_t max_connections = p2p_limits::kMaxConnections;
  size_t max_handshaking_connections = p2p_limits::kMaxHandshakingConnections;
  uint32_t handshake_timeout_ms = p2p_limits::kHandshakeTimeoutMs;
  uint32_t keepalive_interval_ms = p2p_limits::kKeepaliveIntervalMs;
  uint32_t idle_timeout_ms = p2p_limits::kIdleTimeoutMs;
  uint32_t write_stall_timeout_ms = p2p_limits::kWriteStallTimeoutMs;
  uint32_t dial_backoff_initial_ms = p2p_limits::kDialBackoffInitialMs;
  uint32_t dial_backoff_max_ms = p2p_limits::kDialBackoffMaxMs;
};

// How a node takes part in the peer network: where it listens, whom it dials, its role.
// Plain data; thread-compatible.
struct TransportConfig {
  // Where to accept peers: an IP address (not a host name). An empty host means do not listen
  // (an observer that only dials).
  std::string listen_host;
  uint16_t listen_port = 0;  // 0 picks a free port; listen_port() tells which.
  // Peers to dial. Our own key may appear (one list for the whole network) and is skipped.
  std::vector<PeerAddress> peers;
  // True for a node that follows the chain without voting; its Hello says so.
  bool observer = false;
  // Where OnMessage and OnPeer run. Give the consensus driver's strand so that callbacks and
  // the driver never race; unset, the transport uses a strand of its own on the io_context.
  std::optional<boost::asio::any_io_executor> callback_executor;
  // One line per connection event (refusals with their reason, connects, disconnects).
  // Called from the io_context's threads, so it must be thread-safe. Unset: spdlog, with
  // refusals of bad input as warnings.
  std::function<void(std::string_view line)> log;
  // Seeds the reconnect jitter; 0 draws a random seed.
  uint64_t jitter_seed = 0;
  TransportLimits limits;
};

// An authenticated peer, for /v1/status and metrics.
struct PeerInfo {
  core::PublicKey key;
  std::string name;            // The validator's name in genesis, else the configured name.
  std::string remote_address;  // "ip:port" of the other end.
  bool outbound = false;       // True when we dialed this connection.
  bool observer = false;
  uint64_t height = 0;  // Its committed height: from Hello, then from its StatusUpdates.
  std::string version;
  uint64_t connected_at_ms = 0;  // Unix time.
  uint64_t frames_in = 0;
  uint64_t frames_out = 0;
  uint64_t queued_messages = 0;  // Outbound, not yet taken by the socket.
  uint64_t queued_bytes = 0;
  uint64_t dropped_messages = 0;  // Outbound messages dropped because the queue was full.
};

// Totals since Start(), for metrics.
struct TransportStats {
  uint64_t frames_in = 0;
  uint64_t frames_out = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t dropped_messages = 0;  // Outbound queue full (all peers).
  uint64_t dropped_bytes = 0;
  uint64_t unsendable_messages = 0;  // No body, or larger than a frame: a caller's bug.
  uint64_t dials = 0;                // Outbound connection attempts.
  uint64_t handshakes_ok = 0;        // Connections that authenticated.
  // Every ended or refused connection, by reason (see DisconnectReason).
  std::map<DisconnectReason, uint64_t> disconnects;
  uint64_t connections = 0;  // Open now, authenticated or not.
  uint64_t peers = 0;        // Authenticated now.
};

namespace p2p_detail {
class TransportImpl;
}

// Keeps one authenticated TLS 1.3 connection to each peer of the network and moves
// pb::PeerMessages over them.
//
// Who may connect: the validators (genesis', then whatever SetValidators says: the union of the
// current and scheduled validator sets), and as observers the keys in `allowed_observers`.
// Each side proves its consensus key with a Hello bound to the TLS session (see hello.h); a
// peer that fails any check is logged with the reason and disconnected. When two connections
// link the same pair of nodes, both nodes keep the one dialed by the lower key (or, if both
// were dialed by the same side, the newer one), so they converge on a single link without
// talking about it. Configured peers are redialed with exponential backoff and jitter.
//
// Messages to a peer go through a bounded queue; when it is full the new message is dropped and
// counted (consensus re-sends on its own timeouts). Inbound messages are handed to OnMessage in
// the order the peer sent them. Reading from a peer pauses while too many of its messages wait
// for the callback executor.
//
// Threading. The transport runs on the given io_context, which may be run by any number of
// threads: each connection works on its own strand, shared state is behind one small mutex.
// All public methods are thread-safe. OnPeer and OnMessage run on the callback executor (see
// TransportConfig); for one peer, OnPeer(connected) comes before its messages, and its messages
// come in order. OnPeer(true) may repeat for a peer whose connection was replaced (its newest
// Hello is passed); OnPeer(false) comes when no connection to that peer is left.
// REQUIRES: the Transport is destroyed before the io_context.
class Transport {
 public:
  using OnMessage = std::function<void(const core::PublicKey& from, pb::PeerMessage message)>;
  using OnPeer =
      std::function<void(const core::PublicKey& peer, bool connected, const pb::Hello& hello)>;

  // Copies what it needs from `network` and `node_key`; neither need outlive the call.
  Transport(boost::asio::io_context& io, const core::Network& network,
            const core::SigningKey& node_key, TransportConfig config,
            std::vector<core::PublicKey> allowed_observers, OnMessage on_message, OnPeer on_peer);
  // Stops (see Stop()).
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Validates the configuration, binds and listens, and starts dialing the configured peers.
  // Fails on a bad configuration or when the address cannot be bound. Call once.
  [[nodiscard]] core::Status Start();

  // Closes the listener and every connection and stops redialing. Returns at once; the sockets
  // close on the io_context shortly after. No callback starts after Stop() returns (one already
  // running on another thread may finish). Idempotent.
  void Stop();

  // Adds a peer to dial and keep dialing, before or after Start(). Refuses a key that may not
  // connect (neither validator nor allowed observer) or one already added; skips our own key.
  [[nodiscard]] core::Status AddPeer(PeerAddress peer);

  // Queues `message` to every authenticated peer, encoded once. Returns how many peers took it
  // (the others' queues were full).
  size_t Broadcast(const pb::PeerMessage& message);
  // Queues `message` to one peer. False when that peer is not connected or its queue is full.
  bool Send(const core::PublicKey& to, const pb::PeerMessage& message);

  // Who may connect as a validator from now on (the union of the validator sets current and
  // scheduled), with names for logs and PeerInfo. Connections already open are kept; the next
  // Hello of any peer is checked against it.
  void SetValidators(std::set<core::PublicKey> validators,
                     std::map<core::PublicKey, std::string> names);

  // Our committed height, sent in the next Hello and in keepalive StatusUpdates.
  void SetHeight(uint64_t height);

  std::vector<PeerInfo> Peers() const;
  // The port we listen on (the real one when 0 was configured); 0 when not listening.
  uint16_t listen_port() const;
  TransportStats stats() const;

 private:
  std::shared_ptr<p2p_detail::TransportImpl> impl_;
};

}  // namespace hallmark::node
