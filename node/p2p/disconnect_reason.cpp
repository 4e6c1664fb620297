#include "node/p2p/disconnect_reason.h"

namespace hallmark::node {

std::string_view DisconnectReasonName(DisconnectReason reason) {
  switch (reason) {
    case DisconnectReason::kShutdown:
      return "shutdown";
    case DisconnectReason::kPeerClosed:
      return "peer_closed";
    case DisconnectReason::kIoError:
      return "io_error";
    case DisconnectReason::kConnectFailed:
      return "connect_failed";
    case DisconnectReason::kHandshakeTimeout:
      return "handshake_timeout";
    case DisconnectReason::kIdleTimeout:
      return "idle_timeout";
    case DisconnectReason::kWriteStalled:
      return "write_stalled";
    case DisconnectReason::kDuplicate:
      return "duplicate";
    case DisconnectReason::kTooManyConnections:
      return "too_many_connections";
    case DisconnectReason::kTlsFailed:
      return "tls_failed";
    case DisconnectReason::kEmptyFrame:
      return "empty_frame";
    case DisconnectReason::kFrameTooLarge:
      return "frame_too_large";
    case DisconnectReason::kTruncatedFrame:
      return "truncated_frame";
    case DisconnectReason::kBadMessage:
      return "bad_message";
    case DisconnectReason::kNotHello:
      return "not_hello";
    case DisconnectReason::kUnexpectedHello:
      return "unexpected_hello";
    case DisconnectReason::kBadHello:
      return "bad_hello";
    case DisconnectReason::kWrongChain:
      return "wrong_chain";
    case DisconnectReason::kWrongGenesis:
      return "wrong_genesis";
    case DisconnectReason::kUnknownPeer:
      return "unknown_peer";
    case DisconnectReason::kUnexpectedKey:
      return "unexpected_key";
    case DisconnectReason::kSelf:
      return "self";
    case DisconnectReason::kBadSignature:
      return "bad_signature";
  }
  return "unknown";
}

bool IsRefusal(DisconnectReason reason) {
  switch (reason) {
    case DisconnectReason::kShutdown:
    case DisconnectReason::kPeerClosed:
    case DisconnectReason::kIoError:
    case DisconnectReason::kConnectFailed:
    case DisconnectReason::kHandshakeTimeout:
    case DisconnectReason::kIdleTimeout:
    case DisconnectReason::kWriteStalled:
    case DisconnectReason::kDuplicate:
    case DisconnectReason::kTooManyConnections:
      return false;
    case DisconnectReason::kTlsFailed:
    case DisconnectReason::kEmptyFrame:
    case DisconnectReason::kFrameTooLarge:
    case DisconnectReason::kTruncatedFrame:
    case DisconnectReason::kBadMessage:
    case DisconnectReason::kNotHello:
    case DisconnectReason::kUnexpectedHello:
    case DisconnectReason::kBadHello:
    case DisconnectReason::kWrongChain:
    case DisconnectReason::kWrongGenesis:
    case DisconnectReason::kUnknownPeer:
    case DisconnectReason::kUnexpectedKey:
    case DisconnectReason::kSelf:
    case DisconnectReason::kBadSignature:
      return true;
  }
  return true;
}

}  // namespace hallmark::node
