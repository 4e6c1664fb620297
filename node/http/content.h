#pragma once

#include <google/protobuf/message.h>

#include <string_view>

#include "core/status.h"
#include "node/http/message.h"

namespace hallmark::node {

// Content types the API speaks. JSON is the default; binary Protobuf on request.
inline constexpr std::string_view kJsonContentType = "application/json";
inline constexpr std::string_view kProtobufContentType = "application/x-protobuf";

// True when the answer to `req` should be binary Protobuf: its Accept names
// application/x-protobuf, or it has no Accept and its body was sent as application/x-protobuf.
bool WantsProtobuf(const Request& req);

// `message` as the body, JSON (Protobuf's JSON mapping, field names as in the .proto, every
// field without presence printed even at its default: core::ToApiJson) or binary Protobuf as
// WantsProtobuf(req) decides. Thread-safe.
Response Reply(const Request& req, const google::protobuf::Message& message, unsigned status = 200);

// An ErrorResponse {"error": {"code": code, "message": message}} in the negotiated format.
// `code` is stable and machine-readable (bad_request, not_found, …); `message` is for people.
Response ErrorReply(const Request& req, unsigned status, std::string_view code,
                    std::string_view message);

// An error Status as a response: kInvalidInput → 400 bad_request, kNotFound → 404 not_found,
// both with the Status's message; any local failure → 500 internal with a generic message (the
// details are ours, for the log, not for clients). REQUIRES: !status.ok().
Response StatusReply(const Request& req, const core::Status& status);

// Parses the body into `out`: binary Protobuf when Content-Type is application/x-protobuf,
// otherwise JSON. Unknown fields, malformed JSON, wrong types and an empty JSON body are
// kInvalidInput with a message naming the problem (e.g. `request body: unknown field "idz"`).
core::Status ParseBodyInto(const Request& req, google::protobuf::Message* out);

// As ParseBodyInto, returning the message. On error, answer with StatusReply(req, r.status()):
//   auto body = ParseBody<pb::CheckRequest>(req);
//   if (!body.ok()) return StatusReply(req, body.status());
template <class Msg>
core::Result<Msg> ParseBody(const Request& req) {
  Msg msg;
  core::Status status = ParseBodyInto(req, &msg);
  if (!status.ok()) return status;
  return msg;
}

}  // namespace hallmark::node
