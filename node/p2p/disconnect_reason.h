#pragma once

#include <string_view>

namespace hallmark::node {

// Why a peer connection ended or was refused. Logged with every disconnect and counted in
// TransportStats, so an operator can tell a misconfigured peer from an attacker from a network
// fault. Refusals of bad input are the peer's fault; the rest are ordinary events.
enum class DisconnectReason {
  // Ordinary events.
  kShutdown,            // We are stopping.
  kPeerClosed,          // The peer closed the connection between frames.
  kIoError,             // The socket failed (reset, broken pipe, ...).
  kConnectFailed,       // Our dial did not reach the peer (resolve or connect error).
  kHandshakeTimeout,    // TCP + TLS + Hello did not finish in time.
  kIdleTimeout,         // Nothing received for the idle timeout.
  kWriteStalled,        // The peer stopped reading: one write made no progress for too long.
  kDuplicate,           // Another connection to the same peer won the tie-break.
  kTooManyConnections,  // Connection limits reached.

  // Bad input: refused.
  kTlsFailed,        // TLS handshake failed or negotiated something other than TLS 1.3.
  kEmptyFrame,       // A frame of length 0.
  kFrameTooLarge,    // A frame length above the limit (checked before allocating).
  kTruncatedFrame,   // The connection ended inside a frame.
  kBadMessage,       // The frame is not a PeerMessage we understand.
  kNotHello,         // The first message was not a Hello.
  kUnexpectedHello,  // A second Hello.
  kBadHello,         // Hello fields of the wrong size.
  kWrongChain,       // Hello names another chain id.
  kWrongGenesis,     // Hello names another genesis hash.
  kUnknownPeer,      // Key is neither a genesis validator nor an allowed observer (for its role).
  kUnexpectedKey,    // We dialed a configured peer and another key answered.
  kSelf,             // The peer presented our own key (a loop or a reflection).
  kBadSignature,     // The Hello signature does not verify for this TLS session.
};

// A short stable name for logs and metrics, e.g. "frame_too_large".
std::string_view DisconnectReasonName(DisconnectReason reason);

// True for the "bad input: refused" group: the peer broke the protocol or is not allowed in.
// These are logged as warnings; the others as ordinary events.
bool IsRefusal(DisconnectReason reason);

}  // namespace hallmark::node
