#pragma once

#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "node/http/limits.h"

namespace hallmark::node {

class Router;

// One HTTP request as a handler sees it: method, path parameters, query, headers, body and the
// client's address. It owns the parsed message (moved in from the parser, never copied). The
// server builds one per request and lends it to the handler for the duration of the call; the
// string_views it returns live as long as the Request. Not thread-safe: one request, one thread.
class Request {
 public:
  using Message = boost::beast::http::request<boost::beast::http::string_body>;

  Request() = default;
  // For the server, and for tests that call Router::Dispatch without a socket.
  explicit Request(Message message, boost::asio::ip::address client = {})
      : message_(std::move(message)), client_(std::move(client)) {}

  boost::beast::http::verb verb() const { return message_.method(); }
  std::string_view method() const { return message_.method_string(); }
  // The request target as sent: path and query, percent-encoded.
  std::string_view target() const { return message_.target(); }
  // The target up to '?', still percent-encoded.
  std::string_view path() const;
  // The target after '?', or empty.
  std::string_view query_string() const;

  // The percent-decoded value of path parameter `name` ("{id}" or "{id...}" in the route), or
  // empty when the route has no such parameter.
  std::string_view param(std::string_view name) const;
  // The first query parameter called `name`, decoded as a form ('+' is a space). An escape that
  // is not %XX is kept as written. nullopt when absent.
  std::optional<std::string> query(std::string_view name) const;
  // A header field (case-insensitive name), or empty.
  std::string_view header(std::string_view name) const;
  const std::string& body() const { return message_.body(); }
  const boost::asio::ip::address& client_address() const { return client_; }
  // The matched route, e.g. "GET /v1/items/{id...}"; empty before routing.
  std::string_view route() const { return route_; }
  const Message& message() const { return message_; }

 private:
  friend class Router;

  Message message_;
  boost::asio::ip::address client_;
  std::string_view route_;
  size_t route_index_ = SIZE_MAX;  // SIZE_MAX until a route matched.
  size_t param_count_ = 0;
  std::array<std::string_view, http_limits::kPathParamsMax> param_names_{};
  std::array<std::string, http_limits::kPathParamsMax> param_values_{};
};

// The writing end of a streamed answer (Server-Sent Events, GET /v1/events). The server owns
// the connection; the producer keeps the sink and writes to it from any thread. Thread-safe.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // Queues `bytes` for the client; never blocks. False when the stream is over: the client
  // left, the server is stopping, End/Abort was called, or this write would take the queue over
  // StreamBody::queue_bytes_max (the connection is then closed at once, logged as a slow reader).
  virtual bool Write(std::string bytes) = 0;
  // Ends the stream once what is queued has been written.
  virtual void End() = 0;
  // Ends the stream at once, dropping what is queued; `reason` goes to the log.
  virtual void Abort(std::string_view reason) = 0;
  // Bytes queued and not yet written to the socket.
  virtual size_t queued_bytes() const = 0;
  // True once the stream is over, for any reason.
  virtual bool closed() const = 0;
};

// A response body produced over time. The server writes the head (status, content type, the
// handler's headers, no Content-Length: HTTP/1.1 chunked, HTTP/1.0 close-delimited, and
// "Connection: close"), then calls `start` once with the sink, on the connection's strand (it
// must not block; if it throws, the stream is aborted). Each Write becomes one chunk. The
// connection serves no further request: it ends with the stream. While it streams it has no
// idle timeout and still counts toward connections_max. A write that does not finish within
// the server's write timeout closes the connection (a client that stopped reading).
//
// When the handler's status is not 200, or the server is already stopping (a 503 goes out
// instead), the stream is ignored: neither `start` nor `on_close` is called.
struct StreamBody {
  std::function<void(std::shared_ptr<StreamSink>)> start;
  // Called exactly once when the stream is over, for whatever reason (client gone, End, Abort,
  // server stopping, slow reader), with a short reason: "ended", "client closed", "server
  // stopping", "slow reader: …" (queue full or write timeout), or Abort's reason. It runs on
  // the connection's strand (or, if the io_context is torn down first, in its destructor), after
  // the sink has started refusing writes; it must not block.
  std::function<void(std::string_view reason)> on_close;
  size_t queue_bytes_max = 256 * 1024;
};

// What a handler answers. The server adds Content-Length, Connection and the status line; a
// body with status 1xx, 204 or 304 is dropped, as HTTP requires. Plain data.
struct Response {
  unsigned status = 200;
  std::string content_type;  // Sent when the body is not empty.
  std::string body;
  // Further header fields, e.g. Retry-After or Location. CR and LF in names or values are
  // replaced by spaces when sent, so a value derived from input cannot split the header.
  std::vector<std::pair<std::string, std::string>> headers;
  // When set (with status 200), `body` is ignored and the answer is streamed (see StreamBody).
  std::shared_ptr<StreamBody> stream;
};

// Decodes %XX escapes (and '+' as a space when `plus_is_space`, for query strings). Returns
// false on a '%' not followed by two hex digits; `out` is then unspecified.
bool PercentDecode(std::string_view in, std::string* out, bool plus_is_space = false);

}  // namespace hallmark::node
