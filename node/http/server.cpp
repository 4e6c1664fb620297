#include "node/http/server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "node/http/content.h"
#include "node/http/rate_limiter.h"

namespace hallmark::node {
namespace http_internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

// How much one read asks for while waiting for a request, and while draining before a close.
constexpr size_t kReadChunkBytes = 4096;
// A connection waiting for its next request keeps at most this much read buffer.
constexpr size_t kIdleBufferBytesMax = 16 * 1024;
// After a failed accept (out of file descriptors, say), wait this long before trying again, so
// the loop does not spin.
constexpr Ms kAcceptRetryDelay{50};
constexpr std::string_view kUnroutedLabel = "unrouted";
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// Why a request was refused before reaching a handler; the label of
// hallmark_http_rejected_total.
enum class Rejection {
  kHeaderTooLarge,
  kBodyTooLarge,
  kMalformed,
  kHeaderTimeout,
  kBodyTimeout,
  kRateLimited
};
constexpr size_t kRejectionCount = 6;

std::string_view RejectionName(Rejection r) {
  switch (r) {
    case Rejection::kHeaderTooLarge:
      return "header_too_large";
    case Rejection::kBodyTooLarge:
      return "body_too_large";
    case Rejection::kMalformed:
      return "malformed";
    case Rejection::kHeaderTimeout:
      return "header_timeout";
    case Rejection::kBodyTimeout:
      return "body_timeout";
    case Rejection::kRateLimited:
      return "rate_limited";
  }
  return "unknown";
}

// Why the server cut a streamed answer short; the label of hallmark_http_streams_dropped_total.
enum class StreamDrop { kQueueFull, kWriteTimeout };
constexpr size_t kStreamDropCount = 2;

std::string_view StreamDropName(StreamDrop d) {
  switch (d) {
    case StreamDrop::kQueueFull:
      return "queue_full";
    case StreamDrop::kWriteTimeout:
      return "write_timeout";
  }
  return "unknown";
}

// Metric objects of one route, looked up once so that a request only touches atomics.
struct RouteMetrics {
  Histogram* latency = nullptr;
  std::array<Counter*, 5> by_class{};  // 1xx … 5xx.
};

void AppendNumber(std::string* out, uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end);
}

// Header names and values from handlers must not be able to end the header early.
void AppendSanitized(std::string* out, std::string_view s) {
  for (char c : s) out->push_back(c == '\r' || c == '\n' ? ' ' : c);
}

// Writes the status line and header fields of `res` into `out`. Returns whether the body is
// sent (HTTP forbids one for 1xx, 204 and 304).
bool AppendHead(std::string* out, const Response& res, bool close, bool http10) {
  const bool with_body = !(res.status < 200 || res.status == 204 || res.status == 304);
  out->append("HTTP/1.1 ");
  AppendNumber(out, res.status);
  out->push_back(' ');
  std::string_view reason = http::obsolete_reason(static_cast<http::status>(res.status));
  out->append(reason.starts_with('<') ? std::string_view("Status") : reason);
  out->append("\r\n");
  if (with_body) {
    if (!res.body.empty() && !res.content_type.empty()) {
      out->append("Content-Type: ");
      AppendSanitized(out, res.content_type);
      out->append("\r\n");
    }
    out->append("Content-Length: ");
    AppendNumber(out, res.body.size());
    out->append("\r\n");
  }
  for (const auto& [name, value] : res.headers) {
    AppendSanitized(out, name);
    out->append(": ");
    AppendSanitized(out, value);
    out->append("\r\n");
  }
  if (close) {
    out->append("Connection: close\r\n");
  } else if (http10) {
    out->append("Connection: keep-alive\r\n");
  }
  out->append("\r\n");
  return with_body;
}

// The head of a streamed answer: no Content-Length; HTTP/1.1 frames the body in chunks, HTTP/1.0
// delimits it by closing. Either way the connection ends with the stream.
void AppendStreamHead(std::string* out, const Response& res, bool chunked) {
  out->append("HTTP/1.1 200 OK\r\n");
  if (!res.content_type.empty()) {
    out->append("Content-Type: ");
    AppendSanitized(out, res.content_type);
    out->append("\r\n");
  }
  for (const auto& [name, value] : res.headers) {
    AppendSanitized(out, name);
    out->append(": ");
    AppendSanitized(out, value);
    out->append("\r\n");
  }
  if (chunked) out->append("Transfer-Encoding: chunked\r\n");
  out->append("Connection: close\r\n\r\n");
}

// What the server, its listener and channels need of a connection, whatever its transport.
class SessionBase : public std::enable_shared_from_this<SessionBase> {
 public:
  virtual ~SessionBase() = default;
  virtual void Start() = 0;
  // REQUIRES: on the session's strand.
  virtual void Close() = 0;
  // REQUIRES: on the session's strand.
  virtual void PumpStream() = 0;
  virtual tcp::socket::executor_type executor() = 0;
};

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// The answer to plain HTTP on a TLS port.
constexpr std::string_view kHttpsOnly =
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 28\r\n"
    "Connection: close\r\n\r\nthis port serves HTTPS only\n";

// What the listener and all connections share. Immutable after construction except for the
// atomics and the session table (behind its mutex).
struct ServerCore {
  ServerCore(Router r, HttpServerOptions o)
      : router(std::move(r)),
        options(std::move(o)),
        limits(options.limits),
        rate(limits.rate_per_second, limits.rate_burst, limits.rate_clients_max) {
    if (!options.log) {
      options.log = [](std::string_view line) {
        std::fprintf(stderr, "http: %.*s\n", static_cast<int>(line.size()), line.data());
      };
    }
    on_exception = [this](std::string_view route, std::string_view what) {
      options.log(std::string(route) + ": the handler threw: " + std::string(what));
    };
    MetricsRegistry* registry = options.metrics;
    if (registry != nullptr && !router.Has("GET /metrics")) {
      router.Add("GET /metrics", [registry](const Request&) {
        Response res;
        res.content_type = MetricsRegistry::kContentType;
        res.body = registry->Render();
        return res;
      });
    }
    route_metrics.resize(router.size() + 1);
    if (registry != nullptr) {
      for (size_t i = 0; i <= router.size(); ++i) {
        std::string route = i < router.size() ? router.name(i) : std::string(kUnroutedLabel);
        RouteMetrics& m = route_metrics[i];
        m.latency = &registry->GetHistogram(
            "hallmark_api_request_duration_seconds",
            "Time from a complete HTTP request to its response written, by route.",
            kLatencyBucketsSeconds, {{"route", route}});
        for (size_t c = 0; c < m.by_class.size(); ++c) {
          m.by_class[c] = &registry->GetCounter(
              "hallmark_api_requests_total", "HTTP responses by route and status class.",
              {{"route", route}, {"status", std::to_string(c + 1) + "xx"}});
        }
      }
      for (size_t i = 0; i < kRejectionCount; ++i) {
        rejected_metric[i] = &registry->GetCounter(
            "hallmark_http_rejected_total",
            "HTTP requests refused before a handler saw them, by reason.",
            {{"reason", std::string(RejectionName(static_cast<Rejection>(i)))}});
      }
      active_metric =
          &registry->GetGauge("hallmark_http_connections_active", "Open HTTP connections.");
      accepted_metric = &registry->GetCounter("hallmark_http_connections_accepted_total",
                                              "HTTP connections accepted.");
      refused_metric = &registry->GetCounter(
          "hallmark_http_connections_refused_total",
          "HTTP connections closed at once because connections_max were open.");
      streams_active_metric =
          &registry->GetGauge("hallmark_http_streams_active", "Streamed HTTP answers in progress.");
      for (size_t i = 0; i < kStreamDropCount; ++i) {
        stream_dropped_metric[i] = &registry->GetCounter(
            "hallmark_http_streams_dropped_total",
            "Streamed HTTP answers cut off because the client did not read them fast enough, "
            "by reason.",
            {{"reason", std::string(StreamDropName(static_cast<StreamDrop>(i)))}});
      }
    }
    // The answer to a connection beyond the limit, rendered once.
    Response busy =
        ErrorReply(Request(), 503, "unavailable", "too many open connections; try again later");
    AppendHead(&refusal, busy, /*close=*/true, /*http10=*/false);
    refusal += busy.body;
  }

  void Count(Rejection r) {
    if (r == Rejection::kRateLimited) {
      rate_limited.fetch_add(1);
    } else if (r == Rejection::kHeaderTimeout || r == Rejection::kBodyTimeout) {
      timeouts.fetch_add(1);
    } else {
      rejected.fetch_add(1);
    }
    Counter* c = rejected_metric[static_cast<size_t>(r)];
    if (c != nullptr) c->Inc();
  }

  Router router;
  HttpServerOptions options;
  const HttpLimits limits;
  RateLimiter rate;
  std::function<void(std::string_view, std::string_view)> on_exception;
  std::vector<RouteMetrics> route_metrics;  // router.size() + 1; the last is "unrouted".
  std::array<Counter*, kRejectionCount> rejected_metric{};
  Gauge* active_metric = nullptr;
  Counter* accepted_metric = nullptr;
  Counter* refused_metric = nullptr;
  Gauge* streams_active_metric = nullptr;
  std::array<Counter*, kStreamDropCount> stream_dropped_metric{};
  std::string refusal;
  // Set by HttpServer::Start() before the first accept when the server speaks TLS.
  std::optional<asio::ssl::context> tls;

  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> refused{0};
  std::atomic<uint64_t> active{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> rate_limited{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<uint64_t> timeouts{0};
  std::atomic<uint64_t> streams_active{0};
  std::atomic<uint64_t> streams_dropped{0};

  std::mutex sessions_mu;
  std::unordered_map<uint64_t, std::weak_ptr<SessionBase>> sessions;  // Guarded by sessions_mu.
  uint64_t next_session_id = 0;                                       // Guarded by sessions_mu.
};

// The shared half of a streamed answer: producers write into it from any thread, the session
// takes from it on its strand. Everything is behind one mutex, held only to move strings.
class StreamChannel final : public StreamSink {
 public:
  StreamChannel(std::weak_ptr<SessionBase> session, asio::any_io_executor strand, size_t bytes_max)
      : session_(std::move(session)), strand_(std::move(strand)), bytes_max_(bytes_max) {}

  bool Write(std::string bytes) override {
    std::lock_guard lock(mu_);
    if (!accepting_) return false;
    // An empty chunk would end a chunked body; nothing to send anyway.
    if (bytes.empty()) return true;
    if (bytes.size() > bytes_max_ - queued_) {
      accepting_ = false;
      abort_ = "slow reader: " + std::to_string(queued_) + " bytes not yet written and " +
               std::to_string(bytes.size()) + " more would pass the stream's limit of " +
               std::to_string(bytes_max_) + " bytes";
      drop_ = StreamDrop::kQueueFull;
      DropQueueLocked();
      KickLocked();
      return false;
    }
    queued_ += bytes.size();
    queue_.push_back(std::move(bytes));
    KickLocked();
    return true;
  }

  void End() override {
    std::lock_guard lock(mu_);
    if (!accepting_) return;
    accepting_ = false;
    end_ = true;
    KickLocked();
  }

  void Abort(std::string_view reason) override {
    std::lock_guard lock(mu_);
    if (over_ || abort_) return;
    accepting_ = false;
    abort_ = reason.empty() ? std::string("aborted") : std::string(reason);
    DropQueueLocked();
    KickLocked();
  }

  size_t queued_bytes() const override {
    std::lock_guard lock(mu_);
    return queued_;
  }

  bool closed() const override {
    std::lock_guard lock(mu_);
    return !accepting_;
  }

  // What the session does next, taken on its strand.
  struct Next {
    std::vector<std::string> chunks;  // To write now; they stay counted until Written().
    bool end = false;                 // End() was called and nothing is left to write.
    std::optional<std::string> abort;
    std::optional<StreamDrop> drop;  // Set when `abort` is the server's slow-reader verdict.
  };
  // While a write is in flight only an abort is taken: it must not wait for a stalled write.
  Next Take(bool writing) {
    std::lock_guard lock(mu_);
    kicked_ = false;
    Next next;
    if (abort_) {
      next.abort = abort_;
      next.drop = drop_;
      return next;
    }
    if (writing) return next;
    next.chunks.reserve(queue_.size());
    for (auto& chunk : queue_) next.chunks.push_back(std::move(chunk));
    queue_.clear();
    next.end = end_ && next.chunks.empty();
    return next;
  }

  void Written(size_t bytes) {
    std::lock_guard lock(mu_);
    queued_ -= std::min(bytes, queued_);
  }

  // The connection is over: refuse writes, free the queue, post nothing more.
  void Close() {
    std::lock_guard lock(mu_);
    accepting_ = false;
    over_ = true;
    queue_.clear();
    queued_ = 0;
  }

 private:
  // Bytes already handed to the socket stay counted until their write finishes.
  void DropQueueLocked() {
    for (const auto& chunk : queue_) queued_ -= chunk.size();
    queue_.clear();
  }
  void KickLocked();  // Posts one Pump to the session unless one is pending.

  const std::weak_ptr<SessionBase> session_;
  const asio::any_io_executor strand_;
  const size_t bytes_max_;
  mutable std::mutex mu_;
  std::deque<std::string> queue_;     // Guarded by mu_.
  size_t queued_ = 0;                 // queue_ plus chunks being written. Guarded by mu_.
  bool accepting_ = true;             // Guarded by mu_.
  bool end_ = false;                  // Guarded by mu_.
  bool kicked_ = false;               // Guarded by mu_.
  bool over_ = false;                 // Guarded by mu_.
  std::optional<std::string> abort_;  // Guarded by mu_.
  std::optional<StreamDrop> drop_;    // Guarded by mu_.
};

// One client connection: wait for a request (idle timeout), read its header (header timeout,
// size limit), apply the rate limit, read its body (body timeout, size limit), dispatch, write
// the response (write timeout), and again. Every step runs on the connection's strand, one at a
// time; the session keeps itself alive through the handlers it has pending.
//
// A streamed answer (Response::stream) ends that loop: the session writes the head, hands a
// StreamChannel to the producer, writes whatever is queued (one socket write at a time, each
// bounded by the write timeout), and watches the socket for the client leaving. It is not idle
// meanwhile (no idle timeout) and still counts as an open connection.
//
// `Stream` is beast::tcp_stream for HTTP or TlsStream for HTTPS; a TLS session first checks that
// the client speaks TLS and runs the handshake, both within the header timeout.
template <class Stream>
class Session final : public SessionBase {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  template <class... Args>
  Session(tcp::socket socket, std::shared_ptr<ServerCore> core, Args&... args)
      : stream_(std::move(socket), args...), core_(std::move(core)) {
    core_->active.fetch_add(1);
    if (core_->active_metric != nullptr) core_->active_metric->Inc();
    beast::error_code ec;
    tcp::endpoint remote = Lowest().socket().remote_endpoint(ec);
    if (!ec) remote_ = remote.address();
    // Responses go out in one write; waiting to coalesce them only adds latency.
    Lowest().socket().set_option(tcp::no_delay(true), ec);
  }

  ~Session() {
    // The io_context went away with the stream still running (its handlers were destroyed
    // without running): the producer must still hear of the end.
    if (channel_ != nullptr && !stream_over_) {
      channel_->Close();
      NotifyStreamClosed("server stopping");
      core_->streams_active.fetch_sub(1);
      if (core_->streams_active_metric != nullptr) core_->streams_active_metric->Dec();
    }
    core_->active.fetch_sub(1);
    if (core_->active_metric != nullptr) core_->active_metric->Dec();
    if (registered_) {
      std::lock_guard lock(core_->sessions_mu);
      core_->sessions.erase(id_);
    }
  }

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void Start() override {
    {
      std::lock_guard lock(core_->sessions_mu);
      id_ = core_->next_session_id++;
      core_->sessions.emplace(id_, weak_from_this());
      registered_ = true;
    }
    asio::dispatch(stream_.get_executor(), [self = Self()] {
      if constexpr (kTls) {
        self->DetectTls();
      } else {
        self->ReadNext();
      }
    });
  }

  // REQUIRES: on the session's strand.
  void Close() override {
    if (channel_ != nullptr && !stream_over_) {
      return FinishStream("server stopping", std::nullopt, /*graceful=*/false);
    }
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    Lowest().close();
  }

  tcp::socket::executor_type executor() override { return stream_.get_executor(); }

  // Writes what the stream's producer queued, or ends the stream as it asked.
  // REQUIRES: on the session's strand.
  void PumpStream() override {
    if (stream_over_) return;
    StreamChannel::Next next = channel_->Take(stream_writing_);
    if (next.abort) return FinishStream(std::move(*next.abort), next.drop, /*graceful=*/false);
    if (stream_writing_) return;  // Its completion pumps again.
    if (!next.chunks.empty()) return WriteChunks(std::move(next.chunks));
    if (next.end) {
      if (!chunked_) return FinishStream("ended", std::nullopt, /*graceful=*/true);
      static constexpr std::string_view kLastChunk = "0\r\n\r\n";
      stream_writing_ = true;
      Lowest().expires_after(Ms(core_->limits.write_timeout_ms));
      asio::async_write(stream_, asio::buffer(kLastChunk.data(), kLastChunk.size()),
                        [self = Self()](beast::error_code ec, size_t) {
                          self->stream_writing_ = false;
                          if (ec) return self->OnStreamWriteError(ec);
                          self->FinishStream("ended", std::nullopt, /*graceful=*/true);
                        });
    }
  }

 private:
  std::shared_ptr<Session> Self() { return std::static_pointer_cast<Session>(shared_from_this()); }
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  // TLS only: the first bytes must start a TLS handshake (a record of type 0x16); anything else
  // gets a plain-text 400 and the connection closes. The handshake then consumes what was read.
  void DetectTls() {
    if (core_->stopping.load()) return Close();
    Lowest().expires_after(Ms(core_->limits.header_timeout_ms));
    beast::async_detect_ssl(Lowest(), buffer_, [self = Self()](beast::error_code ec, bool tls) {
      if (ec) {
        if (ec == beast::error::timeout) self->core_->Count(Rejection::kHeaderTimeout);
        return;
      }
      if (!tls) return self->RefusePlain();
      self->Handshake();
    });
  }

  void Handshake() {
    if constexpr (kTls) {
      stream_.async_handshake(asio::ssl::stream_base::server, buffer_.data(),
                              [self = Self()](beast::error_code ec, size_t used) {
                                if (ec) {
                                  if (ec == beast::error::timeout) {
                                    self->core_->Count(Rejection::kHeaderTimeout);
                                  }
                                  return;  // A client that does not trust us, or not TLS.
                                }
                                self->buffer_.consume(used);
                                self->ReadNext();
                              });
    }
  }

  void RefusePlain() {
    core_->Count(Rejection::kMalformed);
    Lowest().expires_after(Ms(core_->limits.write_timeout_ms));
    asio::async_write(Lowest(), asio::buffer(kHttpsOnly.data(), kHttpsOnly.size()),
                      [self = Self()](beast::error_code ec, size_t) {
                        if (ec) return;
                        beast::error_code ignored;
                        self->Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
                        self->Lowest().expires_after(Ms(http_limits::kLingerMs));
                        self->DrainPlain();
                      });
  }

  // As Drain, below the TLS layer.
  void DrainPlain() {
    buffer_.consume(buffer_.size());
    Lowest().async_read_some(buffer_.prepare(kReadChunkBytes),
                             [self = Self()](beast::error_code ec, size_t n) {
                               if (ec) return;
                               self->drained_ += n;
                               if (self->drained_ < http_limits::kLingerBytesMax) {
                                 self->DrainPlain();
                               }
                             });
  }

  void ReadNext() {
    if (core_->stopping.load()) return Close();
    if (buffer_.size() > 0) return ReadHeader();  // A pipelined request is already here.
    // Nor to the read buffer a large body grew; thousands of idle connections add up.
    if (buffer_.capacity() > kIdleBufferBytesMax) buffer_.shrink_to_fit();
    Lowest().expires_after(Ms(core_->limits.idle_timeout_ms));
    stream_.async_read_some(buffer_.prepare(kReadChunkBytes),
                            [self = Self()](beast::error_code ec, size_t n) {
                              // Idle timeout, the client left, or Stop(): nothing to answer.
                              if (ec) return;
                              self->buffer_.commit(n);
                              self->ReadHeader();
                            });
  }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(core_->limits.header_bytes_max);
    parser_->body_limit(core_->limits.body_bytes_max);
    header_bytes_ = 0;
    Lowest().expires_after(Ms(core_->limits.header_timeout_ms));
    ParseHeader();
  }

  // Feeds the parser by hand rather than with http::async_read_header: Beast 1.74 applies its
  // header limit to each read separately, so a header arriving in pieces could grow without
  // bound. Here the limit counts every byte of the header, consumed or still buffered.
  void ParseHeader() {
    while (buffer_.size() > 0) {
      beast::error_code ec;
      size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      header_bytes_ += used;
      if (header_bytes_ > core_->limits.header_bytes_max) break;
      if (ec == http::error::need_more) break;
      if (ec) return OnReadError(ec, /*in_body=*/false);
      if (parser_->is_header_done()) return OnHeader();
      if (used == 0) break;
    }
    // Whatever is buffered now belongs to the unfinished header.
    if (header_bytes_ + buffer_.size() > core_->limits.header_bytes_max) {
      return OnReadError(http::error::header_limit, /*in_body=*/false);
    }
    stream_.async_read_some(buffer_.prepare(kReadChunkBytes),
                            [self = Self()](beast::error_code ec, size_t n) {
                              if (ec) return self->OnReadError(ec, /*in_body=*/false);
                              self->buffer_.commit(n);
                              self->ParseHeader();
                            });
  }

  void OnHeader() {
    uint32_t retry_after_s = core_->rate.Acquire(remote_, Clock::now());
    if (retry_after_s > 0) {
      started_ = Clock::now();
      core_->Count(Rejection::kRateLimited);
      // A body still on the wire would have to be read to keep the connection in step; closing
      // is cheaper for us.
      bool has_body = !parser_->is_done();
      Request req(parser_->release(), remote_);
      parser_.reset();
      Response res = ErrorReply(req, 429, "rate_limited",
                                "too many requests from this address; retry after " +
                                    std::to_string(retry_after_s) + " s");
      res.headers.emplace_back("Retry-After", std::to_string(retry_after_s));
      bool close = has_body || !req.message().keep_alive();
      return Send(std::move(res), close, req.message().version(), core_->router.size(),
                  req.verb() == http::verb::head);
    }
    if (!parser_->is_done() &&
        beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
      Lowest().expires_after(Ms(core_->limits.write_timeout_ms));
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = Self()](beast::error_code ec, size_t) {
                          if (!ec) self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    if (parser_->is_done()) return Handle();
    Lowest().expires_after(Ms(core_->limits.body_timeout_ms));
    http::async_read(stream_, buffer_, *parser_, [self = Self()](beast::error_code ec, size_t) {
      if (ec) return self->OnReadError(ec, /*in_body=*/true);
      self->Handle();
    });
  }

  void OnReadError(beast::error_code ec, bool in_body) {
    const HttpLimits& limits = core_->limits;
    if (ec == http::error::header_limit) {
      return Reject(Rejection::kHeaderTooLarge, 431, "headers_too_large",
                    "the request header is larger than " + std::to_string(limits.header_bytes_max) +
                        " bytes");
    }
    if (ec == http::error::body_limit) {
      return Reject(
          Rejection::kBodyTooLarge, 413, "payload_too_large",
          "the request body is larger than " + std::to_string(limits.body_bytes_max) + " bytes");
    }
    if (ec == beast::error::timeout) {
      // tcp_stream has closed the socket already: a slow client gets no answer.
      core_->Count(in_body ? Rejection::kBodyTimeout : Rejection::kHeaderTimeout);
      return;
    }
    // The client went away (cleanly or not), or Stop(): nobody to answer.
    if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
        ec.category() != http::make_error_code(http::error::bad_method).category()) {
      return;
    }
    Reject(Rejection::kMalformed, 400, "bad_request", "malformed HTTP request: " + ec.message());
  }

  // Answers an error the connection cannot recover from, then closes it.
  void Reject(Rejection why, unsigned status, std::string_view code, std::string message) {
    started_ = Clock::now();
    core_->Count(why);
    parser_.reset();
    // The header may be incomplete, so there is nothing to negotiate with: JSON.
    Send(ErrorReply(Request(), status, code, message), /*close=*/true, 11, core_->router.size());
  }

  void Handle() {
    started_ = Clock::now();
    Request req(parser_->release(), remote_);
    parser_.reset();
    Response res = core_->router.Dispatch(req, core_->on_exception);
    // HEAD is answered by the GET route (the router's rule) without the body; a stream the
    // handler opened is over before it starts.
    const bool head = req.verb() == http::verb::head;
    if (head && res.stream != nullptr) {
      if (res.stream->on_close) res.stream->on_close("HEAD request");
      res.stream.reset();
    }
    Send(std::move(res), !req.message().keep_alive(), req.message().version(),
         core_->router.RouteIndex(req), head);
  }

  // `head_only`: the answer to a HEAD request: the head as for GET (Content-Length included),
  // no body.
  void Send(Response res, bool close, unsigned version, size_t route_index,
            bool head_only = false) {
    ++served_;
    uint32_t max = core_->limits.requests_per_connection_max;
    if ((max != 0 && served_ >= max) || core_->stopping.load()) close = true;
    if (res.status < 100 || res.status > 599) {
      core_->options.log(RouteName(route_index) + ": the handler answered status " +
                         std::to_string(res.status));
      res = ErrorReply(Request(), 500, "internal", "internal error");
    }
    if (res.stream != nullptr && res.status == 200) {
      if (!core_->stopping.load()) return StartStream(std::move(res), version, route_index);
      res = ErrorReply(Request(), 503, "unavailable", "the node is shutting down");
      close = true;
    }
    response_ = std::move(res);
    route_index_ = route_index;
    head_.clear();
    bool with_body = AppendHead(&head_, response_, close, version == 10) && !head_only;
    if constexpr (kTls) {
      // One buffer: Beast's ssl_stream (its flat_stream) sent only the head of a two-buffer
      // answer whose body was large. The copy is small next to the encryption.
      if (with_body) head_ += response_.body;
      with_body = false;
    }
    std::array<asio::const_buffer, 2> buffers = {
        asio::buffer(head_), with_body ? asio::buffer(response_.body) : asio::const_buffer()};
    Lowest().expires_after(Ms(core_->limits.write_timeout_ms));
    asio::async_write(stream_, buffers, [self = Self(), close](beast::error_code ec, size_t) {
      self->OnWrite(ec, close);
    });
  }

  // Counts a response as written (for a stream: its head), with its route's metrics.
  void CountResponse() {
    core_->requests.fetch_add(1);
    const RouteMetrics& m = core_->route_metrics[route_index_];
    if (m.latency != nullptr) {
      m.latency->Observe(std::chrono::duration<double>(Clock::now() - started_).count());
      unsigned cls = response_.status / 100;
      if (cls >= 1 && cls <= 5) m.by_class[cls - 1]->Inc();
    }
  }

  std::string RouteName(size_t route_index) const {
    return route_index < core_->router.size() ? core_->router.name(route_index)
                                              : std::string(kUnroutedLabel);
  }

  void OnWrite(beast::error_code ec, bool close) {
    CountResponse();
    // An idle keep-alive connection should not hold on to a large answer's memory.
    response_ = Response();
    if (ec) return;
    if (close) return Linger();
    ReadNext();
  }

  // Writes the head of a streamed answer, then hands the producer its sink. The producer's
  // writes queue behind the head.
  void StartStream(Response res, unsigned version, size_t route_index) {
    body_ = std::move(res.stream);
    route_index_ = route_index;
    chunked_ = version >= 11;
    response_ = std::move(res);
    response_.body.clear();
    head_.clear();
    AppendStreamHead(&head_, response_, chunked_);
    channel_ =
        std::make_shared<StreamChannel>(weak_from_this(), executor(), body_->queue_bytes_max);
    core_->streams_active.fetch_add(1);
    if (core_->streams_active_metric != nullptr) core_->streams_active_metric->Inc();
    // Nothing more will be read but the client's leaving; that read has no deadline.
    Lowest().expires_never();
    WatchClient();
    stream_writing_ = true;
    Lowest().expires_after(Ms(core_->limits.write_timeout_ms));
    asio::async_write(stream_, asio::buffer(head_), [self = Self()](beast::error_code ec, size_t) {
      self->stream_writing_ = false;
      self->CountResponse();
      if (ec) return self->OnStreamWriteError(ec);
      self->PumpStream();
    });
    if (body_->start) {
      try {
        body_->start(channel_);
      } catch (const std::exception& e) {
        channel_->Abort(std::string("the stream's start threw: ") + e.what());
      } catch (...) {
        channel_->Abort("the stream's start threw");
      }
    }
  }

  // Reads (and drops) whatever the client sends while the stream runs; the read ends when the
  // client closes the connection or the session closes it.
  void WatchClient() {
    buffer_.consume(buffer_.size());
    stream_.async_read_some(
        buffer_.prepare(kReadChunkBytes), [self = Self()](beast::error_code ec, size_t) {
          if (self->stream_over_) {
            // The stream ended: this read was cancelled, or saw more bytes, so linger.
            if (self->lingering_ && (!ec || ec == asio::error::operation_aborted)) {
              self->Lowest().expires_after(Ms(http_limits::kLingerMs));
              self->Drain();
            }
            return;
          }
          // A write timeout closes the socket, which aborts this read too; the write's own
          // completion then tells the slow reader apart from a client that left.
          if (ec == asio::error::operation_aborted && self->stream_writing_) return;
          if (ec) return self->FinishStream("client closed", std::nullopt, /*graceful=*/false);
          self->WatchClient();
        });
  }

  void WriteChunks(std::vector<std::string> chunks) {
    chunks_ = std::move(chunks);
    chunk_sizes_.clear();
    buffers_.clear();
    size_t payload = 0;
    static constexpr std::string_view kCrLf = "\r\n";
    if (chunked_) {
      chunk_sizes_.reserve(chunks_.size());
      for (const auto& chunk : chunks_) {
        char line[24];
        int n = std::snprintf(line, sizeof(line), "%zx\r\n", chunk.size());
        chunk_sizes_.emplace_back(line, static_cast<size_t>(n));
      }
    }
    for (size_t i = 0; i < chunks_.size(); ++i) {
      if (chunked_) buffers_.push_back(asio::buffer(chunk_sizes_[i]));
      buffers_.push_back(asio::buffer(chunks_[i]));
      if (chunked_) buffers_.push_back(asio::buffer(kCrLf.data(), kCrLf.size()));
      payload += chunks_[i].size();
    }
    if constexpr (kTls) {
      // One buffer, as in Send(): see there.
      flat_.clear();
      for (const auto& b : buffers_) flat_.append(static_cast<const char*>(b.data()), b.size());
      buffers_.assign(1, asio::buffer(flat_));
    }
    stream_writing_ = true;
    Lowest().expires_after(Ms(core_->limits.write_timeout_ms));
    asio::async_write(stream_, buffers_, [self = Self(), payload](beast::error_code ec, size_t) {
      self->stream_writing_ = false;
      self->channel_->Written(payload);
      self->chunks_.clear();
      if (ec) return self->OnStreamWriteError(ec);
      self->PumpStream();
    });
  }

  void OnStreamWriteError(beast::error_code ec) {
    if (ec == beast::error::timeout) {
      return FinishStream("slow reader: a write did not finish within " +
                              std::to_string(core_->limits.write_timeout_ms) + " ms",
                          StreamDrop::kWriteTimeout, /*graceful=*/false);
    }
    FinishStream("client closed", std::nullopt, /*graceful=*/false);
  }

  // Ends the stream once: the sink refuses further writes, the producer hears why, and the
  // connection closes (after the last byte and a short linger when `graceful`).
  void FinishStream(std::string reason, std::optional<StreamDrop> drop, bool graceful) {
    if (stream_over_) return;
    stream_over_ = true;
    channel_->Close();
    core_->streams_active.fetch_sub(1);
    if (core_->streams_active_metric != nullptr) core_->streams_active_metric->Dec();
    if (drop) {
      core_->streams_dropped.fetch_add(1);
      Counter* c = core_->stream_dropped_metric[static_cast<size_t>(*drop)];
      if (c != nullptr) c->Inc();
    }
    if (drop || (reason != "ended" && reason != "client closed" && reason != "server stopping")) {
      core_->options.log(RouteName(route_index_) + ": stream to " + remote_.to_string() +
                         " closed: " + reason);
    }
    NotifyStreamClosed(reason);
    if (!graceful) {
      // A reset, not a FIN: a FIN would wait behind the bytes the client never read, so the
      // client would not learn that it was dropped, and the kernel would keep those bytes.
      beast::error_code ec;
      Lowest().socket().set_option(asio::socket_base::linger(true, 0), ec);
      Lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
      Lowest().close();
      return;
    }
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return Lowest().close();
    // The watch read completes (cancelled) and starts the linger.
    lingering_ = true;
    Lowest().cancel();
  }

  void NotifyStreamClosed(std::string_view reason) {
    std::shared_ptr<StreamBody> body = std::move(body_);
    if (body == nullptr || !body->on_close) return;
    try {
      body->on_close(reason);
    } catch (const std::exception& e) {
      core_->options.log(RouteName(route_index_) + ": the stream's on_close threw: " + e.what());
    } catch (...) {
      core_->options.log(RouteName(route_index_) + ": the stream's on_close threw");
    }
  }

  // Closes our side and reads what the client still sends for a short while: closing a socket
  // with unread data makes the kernel send a reset, which can destroy the response before the
  // client reads it.
  void Linger() {
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return;
    Lowest().expires_after(Ms(http_limits::kLingerMs));
    Drain();
  }

  void Drain() {
    buffer_.consume(buffer_.size());
    stream_.async_read_some(buffer_.prepare(kReadChunkBytes),
                            [self = Self()](beast::error_code ec, size_t n) {
                              // End of stream: the client has our answer and closed too.
                              if (ec) return;
                              self->buffer_.commit(n);
                              self->drained_ += n;
                              if (self->drained_ < http_limits::kLingerBytesMax) self->Drain();
                            });
  }

  Stream stream_;
  std::shared_ptr<ServerCore> core_;
  asio::ip::address remote_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string head_;   // The response head being written, reused across requests.
  Response response_;  // The response being written.
  size_t route_index_ = 0;
  Clock::time_point started_;
  uint32_t served_ = 0;
  uint64_t drained_ = 0;
  uint64_t header_bytes_ = 0;  // Of the request being read.
  uint64_t id_ = 0;
  bool registered_ = false;

  // A streamed answer, once the handler returned one.
  std::shared_ptr<StreamBody> body_;  // Until on_close was called.
  std::shared_ptr<StreamChannel> channel_;
  std::vector<std::string> chunks_;       // Being written.
  std::vector<std::string> chunk_sizes_;  // Their chunk-size lines.
  std::vector<asio::const_buffer> buffers_;
  std::string flat_;  // TLS: buffers_ copied into one.
  bool chunked_ = false;
  bool stream_writing_ = false;
  bool stream_over_ = false;
  bool lingering_ = false;
};

void StreamChannel::KickLocked() {
  if (kicked_ || over_) return;
  kicked_ = true;
  asio::post(strand_, [weak = session_] {
    if (auto session = weak.lock()) session->PumpStream();
  });
}

// Accepts connections and hands them to sessions, refusing those beyond connections_max.
// Everything runs on the acceptor's strand.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(asio::io_context& io, std::shared_ptr<ServerCore> core)
      : io_(io),
        acceptor_(asio::make_strand(io)),
        retry_(acceptor_.get_executor()),
        core_(std::move(core)) {}

  core::Status Open(const std::string& address, uint16_t port, uint16_t* bound) {
    beast::error_code ec;
    asio::ip::address addr = asio::ip::make_address(address, ec);
    if (ec) return core::Status::InvalidInput("not an IP address: \"" + address + "\"");
    tcp::endpoint endpoint(addr, port);
    std::string where = address + ":" + std::to_string(port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return core::Status::IoError("cannot listen on " + where + ": " + ec.message());
    *bound = acceptor_.local_endpoint(ec).port();
    return core::Status::Ok();
  }

  void Accept() {
    acceptor_.async_accept(asio::make_strand(io_),
                           [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                             self->OnAccept(ec, std::move(socket));
                           });
  }

  void Close() {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      self->acceptor_.close(ec);
      self->retry_.cancel();
    });
  }

 private:
  void OnAccept(beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Typically out of file descriptors. Log at most once a second, and back off.
      auto now = Clock::now();
      if (now - last_error_log_ >= std::chrono::seconds(1)) {
        last_error_log_ = now;
        core_->options.log("accept failed: " + ec.message());
      }
      retry_.expires_after(kAcceptRetryDelay);
      retry_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
        if (!wait_ec) self->Accept();
      });
      return;
    }
    if (core_->stopping.load()) return;
    if (core_->active.load() >= core_->limits.connections_max) {
      Refuse(std::move(socket));
    } else {
      // The session counts itself as active first, so that accepted never runs ahead of it.
      std::shared_ptr<SessionBase> session;
      if (core_->tls) {
        session = std::make_shared<Session<TlsStream>>(std::move(socket), core_, *core_->tls);
      } else {
        session = std::make_shared<Session<beast::tcp_stream>>(std::move(socket), core_);
      }
      core_->accepted.fetch_add(1);
      if (core_->accepted_metric != nullptr) core_->accepted_metric->Inc();
      session->Start();
    }
    Accept();
  }

  // A best-effort 503 without blocking, then close.
  void Refuse(tcp::socket socket) {
    core_->refused.fetch_add(1);
    if (core_->refused_metric != nullptr) core_->refused_metric->Inc();
    beast::error_code ec;
    socket.non_blocking(true, ec);
    if (!ec) socket.write_some(asio::buffer(core_->refusal), ec);
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_;
  std::shared_ptr<ServerCore> core_;
  Clock::time_point last_error_log_;
};

// The server's TLS context from the certificate chain and key files; the errors name them.
core::Status MakeTlsContext(const HttpServerOptions& o, std::optional<asio::ssl::context>* out) {
  if (o.tls_cert_file.empty() && o.tls_key_file.empty()) return core::Status::Ok();
  if (o.tls_cert_file.empty() || o.tls_key_file.empty()) {
    return core::Status::InvalidInput(
        "TLS needs both a certificate file and a key file, or neither");
  }
  for (const std::string* path : {&o.tls_cert_file, &o.tls_key_file}) {
    std::ifstream in(*path, std::ios::binary);
    if (!in) {
      return core::Status::InvalidInput(std::string("cannot read the TLS ") +
                                        (path == &o.tls_cert_file ? "certificate" : "key") +
                                        " file " + *path + ": " + std::strerror(errno));
    }
  }
  auto reason = [] {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    const char* r = e != 0 ? ERR_reason_error_string(e) : nullptr;
    return std::string(r != nullptr ? r : "unknown reason");
  };
  asio::ssl::context ctx(asio::ssl::context::tls_server);
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                  asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  SSL_CTX* native = ctx.native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(native, o.tls_cert_file.c_str()) != 1) {
    return core::Status::InvalidInput("the TLS certificate file " + o.tls_cert_file +
                                      " holds no usable PEM certificate (" + reason() + ")");
  }
  BIO* bio = BIO_new_file(o.tls_key_file.c_str(), "r");
  // No passphrase callback: an encrypted key is refused rather than prompted for.
  EVP_PKEY* key =
      bio != nullptr ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  if (key == nullptr) {
    return core::Status::InvalidInput("the TLS key file " + o.tls_key_file +
                                      " holds no usable unencrypted PEM private key (" + reason() +
                                      ")");
  }
  const bool used = SSL_CTX_use_PrivateKey(native, key) == 1;
  EVP_PKEY_free(key);
  if (!used || SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    return core::Status::InvalidInput("the TLS key file " + o.tls_key_file +
                                      " does not match the certificate in " + o.tls_cert_file);
  }
  out->emplace(std::move(ctx));
  return core::Status::Ok();
}

}  // namespace http_internal

HttpServer::HttpServer(boost::asio::io_context& io, Router router, HttpServerOptions options)
    : io_(io),
      core_(std::make_shared<http_internal::ServerCore>(std::move(router), std::move(options))) {}

HttpServer::~HttpServer() {
  Stop();
}

core::Status HttpServer::Start() {
  HM_ASSERT_MSG(listener_ == nullptr, "HttpServer::Start called twice");
  HM_RETURN_IF_ERROR(http_internal::MakeTlsContext(core_->options, &core_->tls));
  auto listener = std::make_shared<http_internal::Listener>(io_, core_);
  HM_RETURN_IF_ERROR(listener->Open(core_->options.address, core_->options.port, &port_));
  listener_ = std::move(listener);
  listener_->Accept();
  return core::Status::Ok();
}

void HttpServer::Stop() {
  if (core_->stopping.exchange(true)) return;
  if (listener_ != nullptr) listener_->Close();
  std::vector<std::shared_ptr<http_internal::SessionBase>> live;
  {
    std::lock_guard lock(core_->sessions_mu);
    for (auto& [id, weak] : core_->sessions) {
      if (auto session = weak.lock()) live.push_back(std::move(session));
    }
  }
  for (auto& session : live) {
    auto executor = session->executor();
    boost::asio::post(executor, [s = std::move(session)] { s->Close(); });
  }
}

HttpServerStats HttpServer::stats() const {
  HttpServerStats s;
  s.connections_accepted = core_->accepted.load();
  s.connections_refused = core_->refused.load();
  s.connections_active = core_->active.load();
  s.requests = core_->requests.load();
  s.rate_limited = core_->rate_limited.load();
  s.rejected = core_->rejected.load();
  s.timeouts = core_->timeouts.load();
  s.streams_active = core_->streams_active.load();
  s.streams_dropped = core_->streams_dropped.load();
  return s;
}

}  // namespace hallmark::node
