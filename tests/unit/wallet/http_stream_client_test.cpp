// HttpClient::Stream: a streamed answer read piece by piece from the node's real HTTP server,
// and from servers that misbehave on purpose (endless chunk-size lines, huge chunk sizes,
// silence, a cut-off body), each ending with a clear error and bounded memory.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include "hostile_server.h"
#include "node/http/content.h"
#include "node/http_test_util.h"
#include "peak_memory.h"
#include "proto/api.pb.h"
#include "wallet-cli/http_client.h"

using namespace hallmark;
using test::HostileServer;

namespace {

constexpr size_t kMiB = 1024 * 1024;
const std::vector<std::pair<std::string, std::string>> kSse = {{"Accept", "text/event-stream"}};

// A node route that streams: the test drives the sink it hands out.
struct Feed {
  std::mutex mu;
  std::shared_ptr<node::StreamSink> sink;
  std::vector<std::string> closes;
  std::string last_event_id;

  node::Router MakeRouter() {
    node::Router r;
    r.Add("GET /v1/feed", [this](const node::Request& req) {
      {
        std::lock_guard lock(mu);
        last_event_id = std::string(req.header("Last-Event-ID"));
      }
      node::Response res;
      res.content_type = "text/event-stream";
      res.stream = std::make_shared<node::StreamBody>();
      res.stream->start = [this](std::shared_ptr<node::StreamSink> s) {
        std::lock_guard lock(mu);
        sink = std::move(s);
      };
      res.stream->on_close = [this](std::string_view reason) {
        std::lock_guard lock(mu);
        closes.emplace_back(reason);
      };
      return res;
    });
    return r;
  }
  std::shared_ptr<node::StreamSink> WaitSink() {
    std::shared_ptr<node::StreamSink> out;
    test::TestServer::WaitFor([&] {
      std::lock_guard lock(mu);
      out = sink;
      return out != nullptr;
    });
    return out;
  }
  std::vector<std::string> Closes() {
    std::lock_guard lock(mu);
    return closes;
  }
};

wallet::HttpClient ClientFor(uint16_t port, wallet::HttpClientOptions options = {}) {
  return wallet::HttpClient(
      wallet::ParseNodeUrl("http://127.0.0.1:" + std::to_string(port)).value(), options);
}

wallet::HttpClient ClientFor(const HostileServer& server, wallet::HttpClientOptions options = {}) {
  return wallet::HttpClient(wallet::ParseNodeUrl(server.url()).value(), options);
}

}  // namespace

TEST_CASE("http client stream: events arrive while the stream is open, and End ends it") {
  Feed feed;
  test::TestServer server(feed.MakeRouter());
  wallet::HttpClient http = ClientFor(server.port());

  std::string received;
  std::atomic<int> pieces{0};
  std::thread producer([&] {
    auto sink = feed.WaitSink();
    if (sink == nullptr) return;  // Stream() then fails its checks.
    for (int i = 0; i < 5; ++i) {
      sink->Write("data: " + std::to_string(i) + "\n\n");
      // The next event is only written once the client has the previous one: proof that
      // pieces are delivered as they come, not at the end.
      test::TestServer::WaitFor([&] { return pieces.load() > i; });
    }
    sink->End();
  });
  core::Status s =
      http.Stream("/v1/feed", {{"Accept", "text/event-stream"}, {"Last-Event-ID", "41"}},
                  [&](std::string_view chunk) {
                    received += chunk;
                    pieces.fetch_add(1);
                    return true;
                  });
  producer.join();
  REQUIRE_MESSAGE(s.ok(), s.message());
  CHECK(received == "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n");
  CHECK(pieces.load() == 5);
  std::lock_guard lock(feed.mu);
  CHECK(feed.last_event_id == "41");
}

TEST_CASE("http client stream: on_data returning false closes the connection") {
  Feed feed;
  test::TestServer server(feed.MakeRouter());
  wallet::HttpClient http = ClientFor(server.port());
  std::thread producer([&] {
    auto sink = feed.WaitSink();
    if (sink == nullptr) return;  // Stream() then fails its checks.
    while (sink->Write("data: tick\n\n")) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  });
  int seen = 0;
  core::Status s = http.Stream("/v1/feed", kSse, [&](std::string_view) { return ++seen < 3; });
  producer.join();  // Ends once the server saw the client leave.
  CHECK(s.ok());
  CHECK(seen == 3);
  CHECK(test::TestServer::WaitFor([&] { return !feed.Closes().empty(); }));
  CHECK(feed.Closes() == std::vector<std::string>{"client closed"});
}

TEST_CASE("http client stream: a non-2xx answer is an error with the node's message") {
  Feed feed;
  test::TestServer server(feed.MakeRouter());
  wallet::HttpClient http = ClientFor(server.port());
  bool called = false;
  core::Status s = http.Stream("/v1/nothing", kSse, [&](std::string_view) {
    called = true;
    return true;
  });
  CHECK_FALSE(called);
  CHECK(s.code() == core::StatusCode::kNotFound);
  CHECK(s.message() == "not_found: no route matches GET /v1/nothing");

  // Not an API error: quoted, control characters made harmless.
  HostileServer proxy([](HostileServer::Connection& c) {
    const std::string body = "<html>\x1b[31mBad</html>\r\n";
    c.Write("HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body);
  });
  wallet::HttpClient via_proxy = ClientFor(proxy);
  s = via_proxy.Stream("/v1/feed", kSse, [](std::string_view) { return true; });
  CHECK(s.code() == core::StatusCode::kIoError);
  CHECK(s.message() == "node at " + proxy.url() + " answered HTTP 502: <html> [31mBad</html>  ");
}

TEST_CASE("http client stream: a header with a line break is refused before anything is sent") {
  HostileServer server([](HostileServer::Connection& c) { c.Write("HTTP/1.1 200 OK\r\n\r\n"); });
  wallet::HttpClient http = ClientFor(server);
  core::Status s = http.Stream("/v1/feed", {{"Last-Event-ID", "1\r\nX-Evil: 1"}},
                               [](std::string_view) { return true; });
  CHECK(s.code() == core::StatusCode::kInvalidInput);
  CHECK(http.connections_opened() == 0);
}

TEST_CASE("http client stream: a huge chunk is passed on in pieces, never allocated whole") {
  // A chunk announcing 2^60 bytes, then 256 MiB of data.
  HostileServer server([](HostileServer::Connection& c) {
    if (!c.Write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n")) {
      return;
    }
    const std::string block(64 * 1024, 'z');
    for (int i = 0; i < 4096; ++i) {
      if (!c.Write(block)) return;
    }
  });
  wallet::HttpClient http = ClientFor(server);
  uint64_t total = 0;
  size_t largest = 0;
  core::Status s;
  auto peak = test::PeakMemoryGrowthBytes([&] {
    s = http.Stream("/v1/feed", kSse, [&](std::string_view chunk) {
      total += chunk.size();
      largest = std::max(largest, chunk.size());
      return total < 64 * kMiB;
    });
  });
  CHECK(s.ok());
  CHECK(total >= 64 * kMiB);
  CHECK(largest <= wallet::kStreamPieceBytesMax);
  if (peak) {
    MESSAGE("peak memory +" << test::Megabytes(*peak));
    CHECK(*peak <= 16'000'000);
  }
}

TEST_CASE("http client stream: an endless chunk-size line or header is refused, memory bounded") {
  HostileServer endless_size([](HostileServer::Connection& c) {
    if (!c.Write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1")) return;
    const std::string block(64 * 1024, '0');
    for (int i = 0; i < 4096; ++i) {
      if (!c.Write(block)) return;
    }
  });
  wallet::HttpClient http = ClientFor(endless_size);
  std::string got;
  core::Status s;
  auto peak = test::PeakMemoryGrowthBytes([&] {
    s = http.Stream("/v1/feed", kSse, [&](std::string_view chunk) {
      got += chunk;
      return true;
    });
  });
  CHECK(got == "hello");
  REQUIRE_FALSE(s.ok());
  CHECK(s.message() ==
        "node at " + endless_size.url() + " sent a chunk header or trailer larger than 64 KiB");
  if (peak) CHECK(*peak <= 16'000'000);

  HostileServer endless_header([](HostileServer::Connection& c) {
    if (!c.Write("HTTP/1.1 200 OK\r\nX-Endless: ")) return;
    const std::string block(64 * 1024, 'h');
    for (int i = 0; i < 4096; ++i) {
      if (!c.Write(block)) return;
    }
  });
  wallet::HttpClient http2 = ClientFor(endless_header);
  s = http2.Stream("/v1/feed", kSse, [](std::string_view) { return true; });
  CHECK(s.message() ==
        "node at " + endless_header.url() + " sent an answer whose header is larger than 16 KiB");
}

TEST_CASE("http client stream: a body cut off mid-stream is an error, a clean end is not") {
  HostileServer cut([](HostileServer::Connection& c) {
    c.Write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
  });
  wallet::HttpClient http = ClientFor(cut);
  std::string got;
  core::Status s = http.Stream("/v1/feed", kSse, [&](std::string_view chunk) {
    got += chunk;
    return true;
  });
  CHECK(got == "hello");
  CHECK(s.code() == core::StatusCode::kIoError);
  CHECK(s.message() ==
        "node at " + cut.url() + " closed the connection in the middle of the stream");

  HostileServer clean([](HostileServer::Connection& c) {
    c.Write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  });
  wallet::HttpClient http2 = ClientFor(clean);
  got.clear();
  s = http2.Stream("/v1/feed", kSse, [&](std::string_view chunk) {
    got += chunk;
    return true;
  });
  CHECK(s.ok());
  CHECK(got == "hello");
}

TEST_CASE("http client stream: silence beyond stream_idle_timeout_ms ends the stream") {
  HostileServer quiet([](HostileServer::Connection& c) {
    if (!c.Write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")) return;
    c.Pause(10'000);
  });
  wallet::HttpClientOptions options;
  options.stream_idle_timeout_ms = 300;
  wallet::HttpClient http = ClientFor(quiet, options);
  const auto start = std::chrono::steady_clock::now();
  core::Status s = http.Stream("/v1/feed", kSse, [](std::string_view) { return true; });
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
  CHECK(s.message() ==
        "node at " + quiet.url() + " sent nothing for 0.3 s in the middle of a stream");

  // A node that never answers the request is bounded by the request timeout.
  HostileServer mute([](HostileServer::Connection& c) { c.Pause(10'000); });
  wallet::HttpClientOptions short_request;
  short_request.request_timeout_ms = 300;
  wallet::HttpClient http2 = ClientFor(mute, short_request);
  s = http2.Stream("/v1/feed", kSse, [](std::string_view) { return true; });
  CHECK(s.message() == "node at " + mute.url() + " did not answer within 0.3 s");
}

TEST_CASE("http client stream: the client still serves plain requests afterwards") {
  Feed feed;
  node::Router router = feed.MakeRouter();
  router.Add("GET /v1/ping", [](const node::Request&) {
    node::Response res;
    res.content_type = "text/plain";
    res.body = "pong";
    return res;
  });
  test::TestServer server(std::move(router));
  wallet::HttpClient http = ClientFor(server.port());
  REQUIRE(http.Get("/v1/ping").ok());
  std::thread producer([&] {
    auto sink = feed.WaitSink();
    if (sink == nullptr) return;  // Stream() then fails its checks.
    sink->Write("x");
    sink->End();
  });
  CHECK(http.Stream("/v1/feed", kSse, [](std::string_view) { return true; }).ok());
  producer.join();
  auto res = http.Get("/v1/ping");
  REQUIRE(res.ok());
  CHECK(res->body == "pong");
  CHECK(http.connections_opened() == 3);
}
