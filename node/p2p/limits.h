#pragma once

#include <cstddef>
#include <cstdint>

#include "core/limits.h"

// Every limit of the peer-to-peer transport, in one place. Each is the default of a field of
// TransportLimits (transport.h), so that tests can shrink timeouts; production uses these values.
namespace hallmark::node::p2p_limits {

// Frames. A frame is a 4-byte big-endian length and that many bytes of PeerMessage. The length
// is checked against these limits before anything is allocated for the body.
//
// The largest legitimate frame is a BlockResponse: one block of at most kMaxBlockBytes plus its
// commit certificate. Sync code must keep its responses under this bound.
inline constexpr uint32_t kMaxFrameBytes = 40u * 1024 * 1024;
// Until a peer has proved its key, it may make us allocate only this much: a Hello is ~200 bytes.
inline constexpr uint32_t kMaxHelloFrameBytes = 4 * 1024;
static_assert(kMaxFrameBytes >= core::limits::kMaxBlockBytes + 4 * 1024 * 1024,
              "a frame must hold the largest block and its certificate");

// Outbound queue, per peer, counted from the moment Send/Broadcast accepts a message until the
// socket has taken it. When either bound would be exceeded the new message is dropped and
// counted: consensus re-sends what matters on its own timeouts. One frame larger than the byte
// bound is still admitted into an empty queue, so a large block response is never unsendable.
inline constexpr size_t kMaxOutboundQueueMessages = 4096;
inline constexpr size_t kMaxOutboundQueueBytes = 64ull * 1024 * 1024;

// Inbound backlog, per peer: messages handed to the callback executor that it has not yet run.
// Above either bound we stop reading from that peer (TCP then pushes back on the sender) until
// the executor catches up, so a slow consumer cannot make us buffer without limit.
inline constexpr size_t kMaxInboundBacklogMessages = 4096;
inline constexpr size_t kMaxInboundBacklogBytes = 64ull * 1024 * 1024;

// Connections. Handshaking connections are unauthenticated, so they get a tighter bound.
inline constexpr size_t kMaxConnections = 512;
inline constexpr size_t kMaxHandshakingConnections = 64;

// Timeouts. The handshake (TCP connect, TLS, Hello both ways) must finish in time. Each side
// sends a StatusUpdate every keepalive interval; a peer silent for the idle timeout, or a write
// that makes no progress for the stall timeout, is disconnected.
inline constexpr uint32_t kHandshakeTimeoutMs = 5'000;
inline constexpr uint32_t kKeepaliveIntervalMs = 5'000;
inline constexpr uint32_t kIdleTimeoutMs = 20'000;
inline constexpr uint32_t kWriteStallTimeoutMs = 30'000;

// Reconnecting to configured peers: exponential backoff with jitter between these bounds.
inline constexpr uint32_t kDialBackoffInitialMs = 100;
inline constexpr uint32_t kDialBackoffMaxMs = 5'000;

// Record gossip (record_gossip.h). Records this node admits are sent to peers in batches: a
// batch goes out when it holds this many records or bytes, or this long after its first record
// (the delay a record may wait before leaving; small next to a consensus round). A batch stays
// far below kMaxFrameBytes.
inline constexpr size_t kGossipBatchRecordsMax = 1'024;
inline constexpr uint64_t kGossipBatchBytesMax = 4ull * 1024 * 1024;
inline constexpr uint32_t kGossipFlushMs = 5;
static_assert(kGossipBatchBytesMax + core::limits::kMaxEnvelopeBytes < kMaxFrameBytes / 2);
// Gossiped records waiting for admission on the receiving side. Beyond it, incoming batches are
// dropped: their records are still proposed by the node that accepted them.
inline constexpr size_t kGossipBacklogRecordsMax = 50'000;

// A failing accept() (e.g. out of file descriptors) is retried after this pause, not in a loop.
inline constexpr uint32_t kAcceptRetryMs = 100;

}  // namespace hallmark::node::p2p_limits
