#include "node/p2p/framing.h"

#include "core/bytes.h"
#include "core/codec.h"

namespace hallmark::node {

std::optional<DisconnectReason> CheckFrameLength(uint32_t length, uint32_t max_frame_bytes) {
  if (length == 0) return DisconnectReason::kEmptyFrame;
  if (length > max_frame_bytes) return DisconnectReason::kFrameTooLarge;
  return std::nullopt;
}

std::optional<DisconnectReason> ParseFrameBody(std::string_view body, pb::PeerMessage* out) {
  out->Clear();
  if (!core::ParseStrict(body, out, "peer message").ok()) return DisconnectReason::kBadMessage;
  if (out->body_case() == pb::PeerMessage::BODY_NOT_SET) return DisconnectReason::kBadMessage;
  return std::nullopt;
}

core::Result<std::shared_ptr<const std::string>> EncodeFrame(const pb::PeerMessage& message,
                                                             uint32_t max_frame_bytes) {
  if (message.body_case() == pb::PeerMessage::BODY_NOT_SET) {
    return core::Status::InvalidInput("peer message has no body");
  }
  const size_t size = message.ByteSizeLong();
  if (size == 0 || size > max_frame_bytes) {
    return core::Status::InvalidInput("peer message of " + std::to_string(size) +
                                      " bytes is outside the frame limit of " +
                                      std::to_string(max_frame_bytes));
  }
  std::string frame;
  frame.reserve(kFrameHeaderBytes + size);
  core::PutBigEndian32(&frame, static_cast<uint32_t>(size));
  frame.resize(kFrameHeaderBytes + size);
  bool ok = message.SerializeWithCachedSizesToArray(
                reinterpret_cast<uint8_t*>(frame.data() + kFrameHeaderBytes)) ==
            reinterpret_cast<uint8_t*>(frame.data() + frame.size());
  HM_ASSERT_MSG(ok, "peer message serialised to a size other than its ByteSizeLong");
  return std::shared_ptr<const std::string>(std::make_shared<std::string>(std::move(frame)));
}

}  // namespace hallmark::node
