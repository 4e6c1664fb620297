#pragma once

// The load generator's HTTP client: one keep-alive HTTP/1.1 connection to one node, driven
// asynchronously on an io_context, one request at a time. Bodies travel as binary Protobuf
// (application/x-protobuf both ways), the cheapest encoding for the node and for us.
//
// Unlike wallet::HttpClient (synchronous, one request per call), many of these share one
// io_context thread, so C connections give C requests in flight without C threads.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace hallmark::bench {

// Where a node's HTTP API is, resolved once before any timing starts.
struct Endpoint {
  boost::asio::ip::tcp::endpoint address;
  std::string host_header;  // "127.0.0.1:19400"
  std::string base_path;    // "" or "/prefix"
  std::string url;          // For messages.
};

// "http://host:port[/base]" → an Endpoint (numeric or resolvable host; plain HTTP only).
core::Result<Endpoint> ResolveNode(std::string_view url);

// One finished exchange. `error` is set when no complete answer arrived (connect refused,
// connection lost); otherwise `status` and `body` hold the answer.
struct HttpResult {
  boost::beast::error_code error;
  unsigned status = 0;
  std::string body;
};

using HttpCallback = std::function<void(HttpResult&&)>;

// One keep-alive connection. Connects on the first request; after an error the next request
// reconnects. A request that meets a kept-alive connection the server had closed (nothing read)
// is sent once more on a fresh connection. There are no per-request timeouts (timers on every
// step cost the generator more CPU than the request itself): a node that stops answering shows
// up as stalled progress, and `write` gives up after its drain time.
//
// Not thread-safe: all calls and callbacks run on the io_context's thread(s) in sequence, one
// request at a time. REQUIRES: no request is started before the previous callback ran; the
// object is held by a shared_ptr (callbacks keep it alive).
class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  // `media_type` is sent as Accept and as the Content-Type of request bodies.
  HttpConnection(boost::asio::io_context& io, const Endpoint& endpoint,
                 std::string media_type = "application/x-protobuf");

  void Get(std::string_view target, HttpCallback done);
  // The body is sent with the connection's media type.
  void Post(std::string_view target, std::string body, HttpCallback done);

  uint64_t connects() const { return connects_; }

 private:
  void Begin(boost::beast::http::verb verb, std::string_view target, std::string* body,
             HttpCallback done);
  void Connect();
  void Write();
  void Read();
  void Finish(HttpResult&& result);
  void Fail(boost::beast::error_code ec, bool nothing_read);

  const Endpoint& endpoint_;
  const std::string media_type_;
  boost::asio::ip::tcp::socket socket_;
  bool connected_ = false;
  bool reused_ = false;  // The current request went out on a connection that served others.
  bool retried_ = false;
  uint64_t connects_ = 0;
  boost::beast::flat_buffer buffer_;
  boost::beast::http::request<boost::beast::http::string_body> request_;
  std::optional<boost::beast::http::response_parser<boost::beast::http::string_body>> parser_;
  HttpCallback done_;
};

}  // namespace hallmark::bench
