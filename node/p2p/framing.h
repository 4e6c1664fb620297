#pragma once

// Framing of peer messages: each frame is a 4-byte big-endian length followed by that many bytes
// of one serialized pb::PeerMessage. These are pure functions, shared by the transport and by
// tests and fuzzers, so the checks that guard allocation live in exactly one place.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "node/p2p/disconnect_reason.h"
#include "proto/p2p.pb.h"

namespace hallmark::node {

inline constexpr size_t kFrameHeaderBytes = 4;

// Checks a frame length read from the wire before any memory is set aside for the body.
// Returns kEmptyFrame for 0 and kFrameTooLarge above `max_frame_bytes`; nullopt when acceptable.
std::optional<DisconnectReason> CheckFrameLength(uint32_t length, uint32_t max_frame_bytes);

// Parses a frame body. Refuses (kBadMessage) anything that is not valid Protobuf, has unknown
// top-level fields, or carries no message body at all: a peer that sends these is broken or
// hostile, and either way we stop talking to it.
std::optional<DisconnectReason> ParseFrameBody(std::string_view body, pb::PeerMessage* out);

// Encodes `message` as one frame (header included), ready to be shared by every peer a
// broadcast goes to. Fails when the message has no body (it would be a frame of length 0, which
// peers refuse) or is larger than `max_frame_bytes`: both are bugs of the caller, reported as
// values so that one bad message cannot take the node down.
core::Result<std::shared_ptr<const std::string>> EncodeFrame(const pb::PeerMessage& message,
                                                             uint32_t max_frame_bytes);

}  // namespace hallmark::node
