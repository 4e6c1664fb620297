// Streamed answers (Response::stream) over loopback: chunked framing, End, slow readers, the
// client leaving, Stop(), and on_close exactly once.
#include <doctest/doctest.h>

#include <boost/beast/http/parser.hpp>

#include <atomic>
#include <stdexcept>
#include <thread>

#include "http_test_util.h"
#include "node/http/content.h"

namespace hallmark::node {
namespace {

namespace asio = boost::asio;
using test::Get;
using test::TestClient;
using test::TestServer;
using namespace std::chrono_literals;

// What a producer sees: the sink handed to `start`, and every on_close call. Thread-safe.
class Probe {
 public:
  std::shared_ptr<StreamBody> Body(size_t queue_bytes_max = 256 * 1024) {
    auto body = std::make_shared<StreamBody>();
    body->queue_bytes_max = queue_bytes_max;
    body->start = [this](std::shared_ptr<StreamSink> sink) {
      std::lock_guard lock(mu_);
      if (throw_on_start_) throw std::runtime_error("no subscriber slot");
      sinks_.push_back(std::move(sink));
    };
    body->on_close = [this](std::string_view reason) {
      std::lock_guard lock(mu_);
      closes_.emplace_back(reason);
    };
    return body;
  }

  // The sink of the `n`th stream started, once it has started.
  std::shared_ptr<StreamSink> WaitSink(size_t n = 0) {
    std::shared_ptr<StreamSink> out;
    TestServer::WaitFor([&] {
      std::lock_guard lock(mu_);
      if (sinks_.size() > n) out = sinks_[n];
      return out != nullptr;
    });
    return out;
  }

  std::vector<std::string> closes() {
    std::lock_guard lock(mu_);
    return closes_;
  }
  // Waits for the first on_close, then a little more, so that a second call would be seen.
  std::vector<std::string> WaitCloses() {
    TestServer::WaitFor([&] { return !closes().empty(); });
    std::this_thread::sleep_for(100ms);
    return closes();
  }
  void ThrowOnStart() {
    std::lock_guard lock(mu_);
    throw_on_start_ = true;
  }

 private:
  std::mutex mu_;
  std::vector<std::shared_ptr<StreamSink>> sinks_;
  std::vector<std::string> closes_;
  bool throw_on_start_ = false;
};

Router StreamRouter(Probe* probe, size_t queue_bytes_max = 256 * 1024) {
  Router r;
  r.Add("GET /stream", [probe, queue_bytes_max](const Request&) {
    Response res;
    res.content_type = "text/event-stream";
    res.headers.emplace_back("Cache-Control", "no-cache");
    res.stream = probe->Body(queue_bytes_max);
    return res;
  });
  r.Add("GET /stream-404", [probe](const Request& req) {
    Response res = ErrorReply(req, 404, "not_found", "no such stream");
    res.stream = probe->Body();
    return res;
  });
  r.Add("GET /plain", [](const Request&) {
    Response res;
    res.content_type = "text/plain";
    res.body = "plain";
    return res;
  });
  return r;
}

// A client reading raw bytes, to see the framing and what arrives before the stream ends.
// Every operation has a deadline.
class RawClient {
 public:
  // `receive_buffer_bytes` > 0 shrinks the socket's receive buffer before connecting, so that a
  // client that does not read stalls the server's writes sooner.
  explicit RawClient(uint16_t port, int receive_buffer_bytes = 0) : socket_(io_) {
    boost::system::error_code ec;
    socket_.open(asio::ip::tcp::v4(), ec);
    if (receive_buffer_bytes > 0) {
      socket_.set_option(asio::socket_base::receive_buffer_size(receive_buffer_bytes), ec);
    }
    socket_.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
    connected_ = !ec;
  }
  bool connected() const { return connected_; }

  bool Send(std::string_view bytes) {
    boost::system::error_code ec;
    asio::write(socket_, asio::buffer(bytes.data(), bytes.size()), ec);
    return !ec;
  }

  // Reads until `needle` is among the bytes received, the connection closes, or the deadline.
  bool ReadUntil(std::string_view needle, std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (received_.find(needle) == std::string::npos) {
      if (eof_ || !ReadSome(deadline)) return false;
    }
    return true;
  }
  // Reads until the server closes; true when it did before the deadline.
  bool ReadToEof(std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!eof_) {
      if (!ReadSome(deadline)) return eof_;
    }
    return true;
  }
  const std::string& received() const { return received_; }
  // The bytes after the head.
  std::string body() const {
    size_t end = received_.find("\r\n\r\n");
    return end == std::string::npos ? std::string() : received_.substr(end + 4);
  }
  void Close() {
    boost::system::error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

 private:
  bool ReadSome(std::chrono::steady_clock::time_point deadline) {
    char buf[8192];
    bool done = false;
    size_t got = 0;
    boost::system::error_code result;
    socket_.async_read_some(asio::buffer(buf), [&](boost::system::error_code ec, size_t n) {
      done = true;
      got = n;
      result = ec;
    });
    io_.restart();
    io_.run_until(deadline);
    if (!done) {
      boost::system::error_code ec;
      socket_.cancel(ec);
      io_.restart();
      io_.run();
      return false;
    }
    received_.append(buf, got);
    if (result) eof_ = true;
    return !result;
  }

  asio::io_context io_;
  asio::ip::tcp::socket socket_;
  std::string received_;
  bool connected_ = false;
  bool eof_ = false;
};

TEST_CASE("http stream: writes arrive as chunks before the end, End sends the last chunk") {
  Probe probe;
  TestServer server(StreamRouter(&probe));
  RawClient client(server.port());
  REQUIRE(client.connected());
  REQUIRE(client.Send(Get("/stream")));
  auto sink = probe.WaitSink();
  REQUIRE(sink != nullptr);

  CHECK(sink->Write("data: 1\n\n"));
  // The first event is on the wire while the stream is still open.
  REQUIRE(client.ReadUntil("data: 1\n\n\r\n"));
  const std::string& raw = client.received();
  CHECK(raw.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(raw.find("Content-Type: text/event-stream\r\n") != std::string::npos);
  CHECK(raw.find("Cache-Control: no-cache\r\n") != std::string::npos);
  CHECK(raw.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
  CHECK(raw.find("Content-Length") == std::string::npos);
  CHECK(client.body() == "9\r\ndata: 1\n\n\r\n");
  CHECK(server.server().stats().streams_active == 1);

  CHECK(sink->Write(std::string(300, 'x')));
  CHECK(sink->Write(""));  // Nothing to send; it must not end the chunked body.
  CHECK(sink->Write("data: 3\n\n"));
  sink->End();
  CHECK(sink->closed());
  CHECK_FALSE(sink->Write("data: after end\n\n"));
  REQUIRE(client.ReadToEof());
  CHECK(client.body() == "9\r\ndata: 1\n\n\r\n12c\r\n" + std::string(300, 'x') +
                             "\r\n9\r\ndata: 3\n\n\r\n0\r\n\r\n");
  CHECK(probe.WaitCloses() == std::vector<std::string>{"ended"});
  CHECK(TestServer::WaitFor([&] { return server.server().stats().streams_active == 0; }));
  CHECK(sink->queued_bytes() == 0);
}

TEST_CASE("http stream: writes from several threads decode in order per thread") {
  Probe probe;
  TestServer server(StreamRouter(&probe, 64 * 1024 * 1024));
  TestClient client(server.port());
  REQUIRE(client.connected());
  REQUIRE(client.Send(Get("/stream")));
  auto sink = probe.WaitSink();
  REQUIRE(sink != nullptr);

  constexpr int kThreads = 4;
  constexpr int kWrites = 200;
  std::vector<std::thread> writers;
  std::atomic<int> refused{0};
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i) {
        if (!sink->Write(std::to_string(t) + ":" + std::to_string(i) + "\n")) refused.fetch_add(1);
      }
    });
  }
  for (auto& w : writers) w.join();
  sink->End();
  CHECK(refused.load() == 0);

  // Beast's parser does the chunked decoding, as any HTTP client would.
  auto res = client.Read();
  REQUIRE(res);
  CHECK(res->result_int() == 200);
  CHECK(res->chunked());
  std::vector<int> next(kThreads, 0);
  size_t lines = 0;
  std::string_view body = res->body();
  while (!body.empty()) {
    size_t nl = body.find('\n');
    REQUIRE(nl != std::string_view::npos);
    std::string_view line = body.substr(0, nl);
    body.remove_prefix(nl + 1);
    size_t colon = line.find(':');
    REQUIRE(colon != std::string_view::npos);
    int t = std::stoi(std::string(line.substr(0, colon)));
    int i = std::stoi(std::string(line.substr(colon + 1)));
    REQUIRE(t >= 0);
    REQUIRE(t < kThreads);
    CHECK(i == next[t]);
    next[t] = i + 1;
    ++lines;
  }
  CHECK(lines == kThreads * kWrites);
  CHECK(client.WaitClosed());
  CHECK(probe.WaitCloses() == std::vector<std::string>{"ended"});
}

TEST_CASE("http stream: HTTP/1.0 gets a close-delimited body") {
  Probe probe;
  TestServer server(StreamRouter(&probe));
  RawClient client(server.port());
  REQUIRE(client.Send("GET /stream HTTP/1.0\r\n\r\n"));
  auto sink = probe.WaitSink();
  REQUIRE(sink != nullptr);
  CHECK(sink->Write("abc"));
  CHECK(sink->Write("def"));
  sink->End();
  REQUIRE(client.ReadToEof());
  CHECK(client.received().find("Transfer-Encoding") == std::string::npos);
  CHECK(client.received().find("Connection: close\r\n") != std::string::npos);
  CHECK(client.body() == "abcdef");
  CHECK(probe.WaitCloses() == std::vector<std::string>{"ended"});
}

TEST_CASE("http stream: a client that never reads is dropped when the queue is full") {
  Probe probe;
  MetricsRegistry metrics;
  auto limits = test::FastLimits();
  limits.write_timeout_ms = 30'000;  // The queue limit, not the write timeout, must act here.
  constexpr size_t kMax = 256 * 1024;
  TestServer server(StreamRouter(&probe, kMax), limits, &metrics);
  RawClient client(server.port(), 4096);
  REQUIRE(client.Send(Get("/stream")));
  auto sink = probe.WaitSink();
  REQUIRE(sink != nullptr);

  // Socket buffers take a few MiB; past them the queue fills and the sink refuses.
  const std::string event(16 * 1024, 'e');
  size_t max_seen = 0;
  bool refused = false;
  for (int i = 0; i < 64 * 1024 && !refused; ++i) {
    refused = !sink->Write(event);
    max_seen = std::max(max_seen, sink->queued_bytes());
    if (i % 16 == 0) std::this_thread::sleep_for(1ms);
  }
  REQUIRE(refused);
  CHECK(max_seen <= kMax);
  CHECK(sink->closed());
  CHECK(sink->queued_bytes() <= kMax);
  auto closes = probe.WaitCloses();
  REQUIRE(closes.size() == 1);
  CHECK(closes[0].starts_with("slow reader"));
  CHECK(sink->queued_bytes() == 0);
  CHECK_FALSE(sink->Write("more"));
  CHECK(TestServer::WaitFor([&] { return server.server().stats().streams_dropped == 1; }));
  bool logged = false;
  for (const auto& line : server.logs()) {
    if (line.find("GET /stream: stream to 127.0.0.1 closed: slow reader") != std::string::npos) {
      logged = true;
    }
  }
  CHECK(logged);
  CHECK(metrics.Render().find("hallmark_http_streams_dropped_total{reason=\"queue_full\"} 1") !=
        std::string::npos);
  CHECK(TestServer::WaitFor([&] { return server.server().stats().connections_active == 0; }));
}

TEST_CASE("http stream: a write that stalls past the write timeout drops the client") {
  Probe probe;
  auto limits = test::FastLimits();
  limits.write_timeout_ms = 300;
  TestServer server(StreamRouter(&probe, 256 * 1024 * 1024), limits);
  RawClient client(server.port(), 4096);
  REQUIRE(client.Send(Get("/stream")));
  auto sink = probe.WaitSink();
  REQUIRE(sink != nullptr);
  // More than the socket buffers hold, well under the queue limit.
  const std::string event(64 * 1024, 'e');
  for (int i = 0; i < 512 && sink->Write(event); ++i) {
  }
  auto closes = probe.WaitCloses();
  REQUIRE(closes.size() == 1);
  CHECK(closes[0] == "slow reader: a write did not finish within 300 ms");
  CHECK(sink->closed());
  CHECK(sink->queued_bytes() == 0);
  CHECK(server.server().stats().streams_dropped == 1);
}

TEST_CASE("http stream: the client closing ends the stream, and on_close is called once") {
  Probe probe;
  TestServer server(StreamRouter(&probe));
  RawClient client(server.port());
  REQUIRE(client.Send(Get("/stream")));
  auto sink = probe.WaitSink();
  REQUIRE(sink != nullptr);
  CHECK(sink->Write("hello"));
  REQUIRE(client.ReadUntil("hello"));
  client.Close();
  CHECK(probe.WaitCloses() == std::vector<std::string>{"client closed"});
  CHECK(sink->closed());
  CHECK_FALSE(sink->Write("anyone?"));
  sink->End();
  sink->Abort("late");
  std::this_thread::sleep_for(50ms);
  CHECK(probe.closes().size() == 1);
  CHECK(TestServer::WaitFor([&] { return server.server().stats().connections_active == 0; }));
}

TEST_CASE("http stream: Abort ends at once with the producer's reason, logged") {
  Probe probe;
  TestServer server(StreamRouter(&probe));
  RawClient client(server.port());
  REQUIRE(client.Send(Get("/stream")));
  auto sink = probe.WaitSink();
  REQUIRE(sink != nullptr);
  sink->Abort("the feed fell behind");
  CHECK(client.ReadToEof());
  CHECK(probe.WaitCloses() == std::vector<std::string>{"the feed fell behind"});
  bool logged = false;
  for (const auto& line : server.logs()) {
    if (line.find("closed: the feed fell behind") != std::string::npos) logged = true;
  }
  CHECK(logged);
}

TEST_CASE("http stream: Stop while streaming closes the stream and calls on_close once") {
  Probe probe;
  TestServer server(StreamRouter(&probe));
  RawClient first(server.port());
  RawClient second(server.port());
  REQUIRE(first.Send(Get("/stream")));
  REQUIRE(second.Send(Get("/stream")));
  auto a = probe.WaitSink(0);
  auto b = probe.WaitSink(1);
  REQUIRE(a != nullptr);
  REQUIRE(b != nullptr);
  CHECK(a->Write("x"));
  server.server().Stop();
  CHECK(first.ReadToEof());
  CHECK(second.ReadToEof());
  CHECK(probe.WaitCloses() == std::vector<std::string>{"server stopping", "server stopping"});
  CHECK(a->closed());
  CHECK(b->closed());
  CHECK_FALSE(a->Write("y"));
}

TEST_CASE("http stream: no idle timeout while streaming, and it counts toward connections_max") {
  Probe probe;
  auto limits = test::FastLimits();
  limits.idle_timeout_ms = 200;
  limits.connections_max = 1;
  TestServer server(StreamRouter(&probe), limits);
  RawClient client(server.port());
  REQUIRE(client.Send(Get("/stream")));
  auto sink = probe.WaitSink();
  REQUIRE(sink != nullptr);

  // A second connection is one too many while the stream holds the only slot.
  TestClient other(server.port());
  auto refused = other.Read();
  REQUIRE(refused);
  CHECK(refused->result_int() == 503);

  std::this_thread::sleep_for(600ms);  // Three idle timeouts.
  CHECK(sink->Write("still here"));
  CHECK(client.ReadUntil("still here"));
  CHECK(probe.closes().empty());
  sink->End();
  CHECK(client.ReadToEof());
}

TEST_CASE("http stream: a start that throws aborts the stream, which still closes once") {
  Probe probe;
  probe.ThrowOnStart();
  TestServer server(StreamRouter(&probe));
  RawClient client(server.port());
  REQUIRE(client.Send(Get("/stream")));
  CHECK(client.ReadToEof());
  auto closes = probe.WaitCloses();
  REQUIRE(closes.size() == 1);
  CHECK(closes[0] == "the stream's start threw: no subscriber slot");
}

TEST_CASE("http stream: a stream with a status other than 200 is ignored, the body is sent") {
  Probe probe;
  TestServer server(StreamRouter(&probe));
  TestClient client(server.port());
  auto res = client.Request(Get("/stream-404"));
  REQUIRE(res);
  CHECK(res->result_int() == 404);
  CHECK(res->body().find("no such stream") != std::string::npos);
  // The connection is still an ordinary keep-alive one.
  res = client.Request(Get("/plain"));
  REQUIRE(res);
  CHECK(res->body() == "plain");
  CHECK(probe.closes().empty());
}

}  // namespace
}  // namespace hallmark::node
