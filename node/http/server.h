#pragma once

#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "node/http/limits.h"
#include "node/http/router.h"
#include "node/metrics.h"

namespace hallmark::node {

namespace http_internal {
struct ServerCore;
class Listener;
}  // namespace http_internal

struct HttpServerOptions {
  std::string address = "127.0.0.1";  // IPv4 or IPv6 literal; "0.0.0.0" or "::" for all.
  uint16_t port = 0;                  // 0 picks a free port; see HttpServer::port().
  HttpLimits limits;
  // When set, the server records per-route latency and status classes into it and answers
  // GET /metrics with its rendering (unless the router already has that route). It must outlive
  // the server's connections.
  MetricsRegistry* metrics = nullptr;
  // Receives one line per event worth a person's attention (a handler threw, accept failed).
  // Called from io threads, possibly concurrently. Unset: lines go to stderr.
  std::function<void(std::string_view)> log;
  // HTTPS: PEM files of the certificate chain (leaf first) and its unencrypted private key, both
  // or neither. When set, the port serves TLS (1.2 or later) only: a client that speaks plain
  // HTTP gets a plain-text 400 "this port serves HTTPS only". Read by Start().
  std::string tls_cert_file;
  std::string tls_key_file;
};

// Counters since Start(), for tests and status pages. Plain data.
struct HttpServerStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_refused = 0;  // Beyond connections_max.
  uint64_t connections_active = 0;
  uint64_t requests = 0;         // Responses written, of any status.
  uint64_t rate_limited = 0;     // 429s.
  uint64_t rejected = 0;         // 400 malformed HTTP, 413, 431: the connection was closed.
  uint64_t timeouts = 0;         // Header or body not received in time (slowloris).
  uint64_t streams_active = 0;   // Streamed answers in progress (Response::stream).
  uint64_t streams_dropped = 0;  // Streams cut off for a slow reader (queue full, write timeout).
};

// hallmarkd's HTTP/1.1 server: keep-alive, one request at a time per connection (pipelined
// requests are answered in order), every limit in HttpLimits enforced, and a Router that picks
// the handler. A handler may answer with a stream (Response::stream, see message.h), which the
// connection then carries until it ends.
//
// The server runs on the caller's io_context; run it on as many threads as wanted. Each
// connection lives on its own strand, so one connection's steps never overlap, but handlers
// for different connections run concurrently on different threads (see Handler).
//
// Start() and Stop() may be called from any thread. Stop() closes the listening socket and every
// connection; handlers already running finish first. To be sure that no handler runs any more
// (before destroying what handlers use), call Stop() and then let the io_context threads finish
// (io.stop() and join, or run() returning). The destructor calls Stop(). The io_context must
// outlive the server. stats() is thread-safe.
class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, Router router, HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts accepting. InvalidInput when the address is not an IP literal or
  // the TLS files are unusable (one without the other, unreadable, not PEM, a key that does not
  // match the certificate), IoError when it cannot be listened on (taken, not ours).
  core::Status Start();
  // The bound port, once Start() succeeded.
  uint16_t port() const { return port_; }
  void Stop();

  HttpServerStats stats() const;

 private:
  boost::asio::io_context& io_;
  std::shared_ptr<http_internal::ServerCore> core_;
  std::shared_ptr<http_internal::Listener> listener_;
  uint16_t port_ = 0;
};

}  // namespace hallmark::node
