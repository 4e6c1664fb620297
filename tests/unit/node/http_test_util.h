#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "node/http/server.h"

namespace hallmark::test {

using namespace std::chrono_literals;

// Limits for tests: short timeouts, no rate limit unless a test asks for one.
inline node::HttpLimits FastLimits() {
  node::HttpLimits limits;
  limits.header_timeout_ms = 300;
  limits.body_timeout_ms = 300;
  limits.idle_timeout_ms = 2'000;
  limits.write_timeout_ms = 1'000;
  limits.rate_per_second = 0;
  return limits;
}

// An HttpServer on 127.0.0.1 with an ephemeral port, run by its own io threads; stops and joins
// on destruction. Log lines are kept for tests to inspect.
class TestServer {
 public:
  explicit TestServer(node::Router router, node::HttpLimits limits = FastLimits(),
                      node::MetricsRegistry* metrics = nullptr, int threads = 2) {
    node::HttpServerOptions options;
    options.limits = limits;
    options.metrics = metrics;
    options.log = [this](std::string_view line) {
      std::lock_guard lock(mu_);
      logs_.emplace_back(line);
    };
    server_ = std::make_unique<node::HttpServer>(io_, std::move(router), std::move(options));
    auto st = server_->Start();
    if (!st.ok()) throw std::runtime_error(st.ToString());
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~TestServer() {
    server_->Stop();
    io_.stop();
    for (auto& t : threads_) t.join();
    server_.reset();
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  uint16_t port() const { return server_->port(); }
  node::HttpServer& server() { return *server_; }
  std::vector<std::string> logs() {
    std::lock_guard lock(mu_);
    return logs_;
  }

  // Polls `cond` until it holds or `timeout` passes.
  template <class Cond>
  static bool WaitFor(Cond cond, std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!cond()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }

 private:
  boost::asio::io_context io_;
  std::unique_ptr<node::HttpServer> server_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::vector<std::string> logs_;
};

using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

// A client on a plain socket that can send anything, byte by byte if need be. Every operation
// has a deadline, so a misbehaving server fails a test instead of hanging it.
class TestClient {
 public:
  explicit TestClient(uint16_t port) : socket_(io_) {
    boost::system::error_code ec;
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
    connected_ = !ec;
  }
  bool connected() const { return connected_; }
  boost::asio::ip::tcp::socket& socket() { return socket_; }

  bool Send(std::string_view bytes, std::chrono::milliseconds timeout = 5s) {
    bool ok = false;
    boost::asio::async_write(socket_, boost::asio::buffer(bytes.data(), bytes.size()),
                             [&](boost::system::error_code ec, size_t) { ok = !ec; });
    return Run(timeout) && ok;
  }

  // One complete response, or nullopt on close, error or timeout.
  std::optional<HttpResponse> Read(std::chrono::milliseconds timeout = 5s) {
    namespace http = boost::beast::http;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    bool ok = false;
    http::async_read(socket_, buffer_, parser,
                     [&](boost::system::error_code ec, size_t) { ok = !ec; });
    if (!Run(timeout) || !ok) return std::nullopt;
    return parser.release();
  }

  std::optional<HttpResponse> Request(std::string_view raw) {
    if (!Send(raw)) return std::nullopt;
    return Read();
  }

  // Reads and discards until the server closes; true when it did within `timeout`.
  bool WaitClosed(std::chrono::milliseconds timeout = 5s) {
    buffer_.consume(buffer_.size());
    bool closed = false;
    std::function<void()> read_more;
    char scratch[4096];
    read_more = [&] {
      socket_.async_read_some(boost::asio::buffer(scratch),
                              [&](boost::system::error_code ec, size_t) {
                                if (ec) {
                                  closed = true;
                                  return;
                                }
                                read_more();
                              });
    };
    read_more();
    return Run(timeout) && closed;
  }

 private:
  // Runs the pending operation; on timeout cancels it and returns false.
  bool Run(std::chrono::milliseconds timeout) {
    io_.restart();
    io_.run_for(timeout);
    if (io_.stopped()) return true;
    boost::system::error_code ec;
    socket_.cancel(ec);
    io_.restart();
    io_.run();
    return false;
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  bool connected_ = false;
};

// "GET <target> HTTP/1.1" with a Host header and any extra header lines ("Name: value\r\n").
inline std::string Get(std::string_view target, std::string_view extra = {}) {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra) + "\r\n";
}

inline std::string Post(std::string_view target, std::string_view body,
                        std::string_view content_type = "application/json",
                        std::string_view extra = {}) {
  return "POST " + std::string(target) +
         " HTTP/1.1\r\nHost: test\r\nContent-Type: " + std::string(content_type) +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + std::string(extra) +
         "\r\n" + std::string(body);
}

}  // namespace hallmark::test
