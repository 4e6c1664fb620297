// GET /v1/events through the router against a real ledger: the streamed answer's head, its
// events (started on a socketless sink), resuming by since= and Last-Event-ID, the errors, and
// the watcher limit.
#include <doctest/doctest.h>

#include "core/codec.h"
#include "events_sink.h"
#include "http_test_util.h"
#include "node/api.h"
#include "node/http/content.h"
#include "proof_fixture.h"
#include "proto/api.pb.h"

namespace hallmark::test {
namespace {

namespace http = boost::beast::http;
using namespace std::chrono_literals;

struct EventsApi {
  ProvenChain chain;
  node::Mempool mempool{chain.network(), &chain.ledger()};
  node::MetricsRegistry metrics;
  std::unique_ptr<node::EventHub> hub;
  node::Router router;
  explicit EventsApi(size_t watchers_max = 2'048) {
    node::EventHubOptions o;
    o.watchers_max = watchers_max;
    hub = std::make_unique<node::EventHub>(&chain.ledger(), &metrics, o);
    hub->Start();
    node::ApiContext ctx;
    ctx.network = &chain.network();
    ctx.ledger = &chain.ledger();
    ctx.mempool = &mempool;
    ctx.metrics = &metrics;
    ctx.events = hub.get();
    node::RegisterApiRoutes(router, ctx);
    LiveItem(chain, kMaisonItem, 4);  // Blocks 1..4: register, transfer, attest, transfer.
  }
  node::Response Get(std::string_view target, std::string_view last_event_id = {}) {
    node::Request::Message msg{http::verb::get, target, 11};
    if (!last_event_id.empty()) msg.set("Last-Event-ID", last_event_id);
    node::Request req(std::move(msg));
    return router.Dispatch(req);
  }
  // Starts the streamed answer on a fake sink, as the server would.
  std::shared_ptr<FakeSink> Start(const node::Response& r) {
    REQUIRE(r.status == 200);
    REQUIRE(r.stream);
    auto sink = std::make_shared<FakeSink>(r.stream->queue_bytes_max);
    r.stream->start(sink);
    return sink;
  }
};

std::vector<std::string> EventIds(const FakeSink& sink) {
  std::vector<std::string> out;
  for (const auto& e : ParseSse(sink.received())) {
    if (!e.id.empty()) out.push_back(e.id);
  }
  return out;
}

bool CaughtUp(const FakeSink& sink) {
  for (const auto& e : ParseSse(sink.received())) {
    if (e.event == "caught_up") return true;
  }
  return false;
}

std::string ErrorCode(const node::Response& r) {
  pb::ErrorResponse e;
  REQUIRE(core::FromJson(r.body, &e, "error").ok());
  return e.error().code();
}

}  // namespace

TEST_CASE("api events: a text/event-stream answer that replays from since= and marks caught_up") {
  EventsApi api;
  node::Response r = api.Get("/v1/events?since=1");
  CHECK(r.content_type == "text/event-stream");
  bool no_cache = false;
  for (const auto& [k, v] : r.headers) no_cache |= k == "Cache-Control" && v == "no-cache";
  CHECK(no_cache);
  CHECK(r.stream->queue_bytes_max >= api.hub->options().queue_bytes_max);
  auto sink = api.Start(r);
  REQUIRE(WaitFor([&] { return CaughtUp(*sink); }));
  CHECK(EventIds(*sink) == std::vector<std::string>{"2.0", "3.0", "4.0"});
  auto events = ParseSse(sink->received());
  CHECK(events[0].event == "transfer");
  pb::FeedEvent e;
  REQUIRE(core::FromJson(events[1].data, &e, "event").ok());
  CHECK(e.type() == "attest");
  CHECK(e.brand() == "maison");
  CHECK(e.item_id() == kMaisonItem);
  CHECK(e.height() == 3);
  CHECK(MetricValue(api.metrics, "hallmark_events_watchers") == 1);
  // The server calls on_close when the stream ends: the place is freed.
  r.stream->on_close("client closed");
  CHECK(api.hub->watchers() == 0);
}

TEST_CASE("api events: Last-Event-ID resumes after that record and wins over since=") {
  EventsApi api;
  node::Response r = api.Get("/v1/events?since=0&type=transfer,attest", "2.0");
  auto sink = api.Start(r);
  REQUIRE(WaitFor([&] { return CaughtUp(*sink); }));
  CHECK(EventIds(*sink) == std::vector<std::string>{"3.0", "4.0"});
}

TEST_CASE("api events: filters by item in any form, and by brand") {
  EventsApi api;
  auto by_item = api.Start(api.Get("/v1/events?since=0&item=(01)00614141000012(21)BAG-0001"));
  auto other_brand = api.Start(api.Get("/v1/events?since=0&brand=atelier"));
  REQUIRE(WaitFor([&] { return CaughtUp(*by_item) && CaughtUp(*other_brand); }));
  CHECK(EventIds(*by_item).size() == 4);
  CHECK(EventIds(*other_brand).empty());
}

TEST_CASE("api events: malformed queries and ids are 400 with a message, nothing opened") {
  EventsApi api;
  for (const char* target :
       {"/v1/events?type=teleport", "/v1/events?since=yesterday", "/v1/events?flag=stolen,gone",
        "/v1/events?item=nope", "/v1/events?brand=a&brand=b", "/v1/events?everything=1"}) {
    CAPTURE(target);
    node::Response r = api.Get(target);
    CHECK(r.status == 400);
    CHECK(!r.stream);
    CHECK(ErrorCode(r) == "bad_request");
  }
  node::Response bad_id = api.Get("/v1/events", "last");
  CHECK(bad_id.status == 400);
  CHECK(bad_id.body.find("Last-Event-ID") != std::string::npos);
  CHECK(api.hub->watchers() == 0);
}

TEST_CASE("api events: over events_watchers_max the answer is 503 too_many_watchers") {
  EventsApi api(2);
  node::Response a = api.Get("/v1/events");
  node::Response b = api.Get("/v1/events");
  REQUIRE(a.stream);
  REQUIRE(b.stream);
  node::Response c = api.Get("/v1/events");
  CHECK(c.status == 503);
  CHECK(!c.stream);
  CHECK(ErrorCode(c) == "too_many_watchers");
  bool retry_after = false;
  for (const auto& [k, v] : c.headers) retry_after |= k == "Retry-After";
  CHECK(retry_after);
  a.stream->on_close("client closed");
  CHECK(api.Get("/v1/events").status == 200);
}

TEST_CASE("api events: a node without a hub answers 503 unavailable") {
  ProvenChain chain;
  node::Mempool mempool{chain.network(), &chain.ledger()};
  node::MetricsRegistry metrics;
  node::Router router;
  node::ApiContext ctx;
  ctx.network = &chain.network();
  ctx.ledger = &chain.ledger();
  ctx.mempool = &mempool;
  ctx.metrics = &metrics;
  node::RegisterApiRoutes(router, ctx);
  node::Request req(node::Request::Message{http::verb::get, "/v1/events", 11});
  node::Response r = router.Dispatch(req);
  CHECK(r.status == 503);
  CHECK(ErrorCode(r) == "unavailable");
}

TEST_CASE("api events: over a real HTTP server, chunked SSE from since=0, then live") {
  EventsApi api;
  TestServer server(std::move(api.router));
  TestClient client(server.port());
  REQUIRE(client.connected());
  REQUIRE(client.Send(Get("/v1/events?since=0&type=register,transfer")));
  // Read raw bytes with a deadline until `needle` has arrived.
  std::string raw;
  const auto read_until = [&](std::string_view needle) {
    timeval tv{.tv_sec = 1, .tv_usec = 0};
    setsockopt(client.socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (raw.find(needle) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      char buf[4096];
      const ssize_t n = ::recv(client.socket().native_handle(), buf, sizeof buf, 0);
      if (n > 0) raw.append(buf, static_cast<size_t>(n));
      if (n == 0) break;
    }
    return raw.find(needle) != std::string::npos;
  };
  REQUIRE(read_until("event: caught_up"));
  CHECK(raw.starts_with("HTTP/1.1 200"));
  CHECK(raw.find("Content-Type: text/event-stream") != std::string::npos);
  CHECK(raw.find("Transfer-Encoding: chunked") != std::string::npos);
  CHECK(raw.find("id: 1.0\nevent: register\n") != std::string::npos);
  CHECK(raw.find("id: 2.0\nevent: transfer\n") != std::string::npos);
  CHECK(raw.find("event: attest") == std::string::npos);
  // A new block reaches the open feed.
  pb::RecordPayload reg = Payload("01/00614141000012/21/LIVE-1");
  reg.mutable_register_();
  api.chain.CommitOne("maison", reg);
  api.hub->OnCommit(api.chain.ledger().height());
  REQUIRE(read_until("id: 5.0\nevent: register\n"));
  CHECK(api.hub->watchers() == 1);
  // The client leaves: the server's on_close frees the feed's place.
  client.socket().close();
  CHECK(TestServer::WaitFor([&] { return api.hub->watchers() == 0; }));
}

}  // namespace hallmark::test
