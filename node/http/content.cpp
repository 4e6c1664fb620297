#include "node/http/content.h"

#include <algorithm>
#include <cctype>

#include "core/codec.h"
#include "core/json.h"
#include "proto/api.pb.h"

namespace hallmark::node {
namespace {

// Messages that quote input are cut so that an error body stays small.
constexpr size_t kErrorDetailBytesMax = 300;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool ContainsIgnoreCase(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (EqualsIgnoreCase(haystack.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "application/json; charset=utf-8" → "application/json".
std::string_view MediaType(std::string_view content_type) {
  return Trim(content_type.substr(0, content_type.find(';')));
}

// ParseJsonStrict's one-line message (`unknown field "idz"`, `field "ids[1]": expected a
// string, found a number`), cut short and named as the request body's.
std::string DescribeJsonError(std::string_view message) {
  std::string out(message.substr(0, message.find('\n')));
  if (out.size() > kErrorDetailBytesMax) {
    out.resize(kErrorDetailBytesMax);
    out += "…";
  }
  return "request body: " + out;
}

// Error messages may quote input (a path, a field name). Protobuf refuses to encode invalid UTF-8
// as JSON, and control characters help nobody, so both become '?'.
std::string CleanText(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  auto cont = [&](size_t k, unsigned lo, unsigned hi) {
    if (i + k >= in.size()) return false;
    auto b = static_cast<unsigned char>(in[i + k]);
    return b >= lo && b <= hi;
  };
  while (i < in.size()) {
    auto c = static_cast<unsigned char>(in[i]);
    size_t len = 0;
    if (c < 0x80) {
      len = (c < 0x20 || c == 0x7f) ? 0 : 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
      len = cont(1, 0x80, 0xbf) ? 2 : 0;
    } else if (c >= 0xe0 && c <= 0xef) {
      unsigned lo = c == 0xe0 ? 0xa0 : 0x80;
      unsigned hi = c == 0xed ? 0x9f : 0xbf;
      len = cont(1, lo, hi) && cont(2, 0x80, 0xbf) ? 3 : 0;
    } else if (c >= 0xf0 && c <= 0xf4) {
      unsigned lo = c == 0xf0 ? 0x90 : 0x80;
      unsigned hi = c == 0xf4 ? 0x8f : 0xbf;
      len = cont(1, lo, hi) && cont(2, 0x80, 0xbf) && cont(3, 0x80, 0xbf) ? 4 : 0;
    }
    if (len == 0) {
      out += '?';
      ++i;
    } else {
      out.append(in.substr(i, len));
      i += len;
    }
  }
  return out;
}

}  // namespace

bool WantsProtobuf(const Request& req) {
  std::string_view accept = req.header("Accept");
  if (ContainsIgnoreCase(accept, kProtobufContentType)) return true;
  std::string_view accept_media = MediaType(accept);
  if (!accept_media.empty() && accept_media != "*/*") return false;
  return EqualsIgnoreCase(MediaType(req.header("Content-Type")), kProtobufContentType);
}

Response Reply(const Request& req, const google::protobuf::Message& message, unsigned status) {
  Response res;
  res.status = status;
  if (WantsProtobuf(req)) {
    res.content_type = kProtobufContentType;
    res.body = core::SerializeDeterministic(message);
    return res;
  }
  auto json = core::ToApiJson(message);
  if (!json.ok()) {
    // Only a message with invalid UTF-8 in a string field can fail; that is our bug, but the
    // client still deserves a well-formed answer.
    if (message.GetDescriptor() == pb::ErrorResponse::descriptor()) {
      return Response{.status = 500, .content_type = {}, .body = {}, .headers = {}, .stream = {}};
    }
    return ErrorReply(req, 500, "internal", "internal error");
  }
  res.content_type = kJsonContentType;
  res.body = std::move(json).value();
  return res;
}

Response ErrorReply(const Request& req, unsigned status, std::string_view code,
                    std::string_view message) {
  pb::ErrorResponse error;
  error.mutable_error()->set_code(CleanText(code));
  error.mutable_error()->set_message(CleanText(message));
  return Reply(req, error, status);
}

Response StatusReply(const Request& req, const core::Status& status) {
  HM_ASSERT(!status.ok());
  switch (status.code()) {
    case core::StatusCode::kInvalidInput:
      return ErrorReply(req, 400, "bad_request", status.message());
    case core::StatusCode::kNotFound:
      return ErrorReply(req, 404, "not_found", status.message());
    case core::StatusCode::kOk:
    case core::StatusCode::kCorruption:
    case core::StatusCode::kIoError:
    case core::StatusCode::kInternal:
    case core::StatusCode::kCancelled:
      break;
  }
  return ErrorReply(req, 500, "internal", "internal error");
}

core::Status ParseBodyInto(const Request& req, google::protobuf::Message* out) {
  std::string_view media = MediaType(req.header("Content-Type"));
  if (EqualsIgnoreCase(media, kProtobufContentType)) {
    return core::ParseStrict(req.body(), out, "request body");
  }
  if (!media.empty() && !EqualsIgnoreCase(media, kJsonContentType)) {
    std::string shown(media.substr(0, 100));
    return core::Status::InvalidInput("Content-Type \"" + shown +
                                      "\" is not supported; send application/json or "
                                      "application/x-protobuf");
  }
  std::string_view body = req.body();
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return core::Status::InvalidInput("request body is empty; expected a JSON object");
  }
  core::Status status = core::ParseJsonStrict(body, out, core::kApiRequestJsonLimits);
  if (status.ok()) return status;
  return core::Status::InvalidInput(DescribeJsonError(status.message()));
}

}  // namespace hallmark::node
