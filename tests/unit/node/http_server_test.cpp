// The HTTP server over loopback: routing, negotiation, keep-alive, pipelining, errors, metrics.
#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>
#include <thread>

#include "core/codec.h"
#include "http_test_util.h"
#include "node/http/content.h"
#include "proto/api.pb.h"

namespace hallmark::node {
namespace {

using test::Get;
using test::HttpResponse;
using test::Post;
using test::TestClient;
using test::TestServer;
using namespace std::chrono_literals;

// Routes shaped like the node's, answering what they saw.
Router TestRouter() {
  Router r;
  auto echo_param = [](const Request& req) {
    pb::CheckResult out;
    out.set_input(std::string(req.param("id")));
    out.set_status(std::string(req.route()));
    return Reply(req, out);
  };
  r.Add("GET /v1/items/{id...}", echo_param);
  r.Add("GET /v1/items/{id...}/proof", echo_param);
  r.Add("GET /v1/records/{id}", echo_param);
  r.Add("POST /v1/items:check", [](const Request& req) {
    auto body = ParseBody<pb::CheckRequest>(req);
    if (!body.ok()) return StatusReply(req, body.status());
    pb::CheckResponse out;
    for (const auto& id : body->ids()) out.add_results()->set_input(id);
    out.set_height(42);
    return Reply(req, out);
  });
  r.Add("GET /boom", [](const Request&) -> Response { throw std::runtime_error("kaboom"); });
  r.Add("GET /client", [](const Request& req) {
    Response res;
    res.content_type = "text/plain";
    res.body = req.client_address().to_string();
    return res;
  });
  r.Add("GET /empty", [](const Request&) {
    Response res;
    res.status = 204;
    return res;
  });
  return r;
}

pb::CheckResult CheckResultOf(const HttpResponse& res) {
  pb::CheckResult out;
  REQUIRE(core::FromJson(res.body(), &out, "response").ok());
  return out;
}

pb::ApiError ErrorOf(const HttpResponse& res) {
  pb::ErrorResponse out;
  REQUIRE(core::FromJson(res.body(), &out, "response").ok());
  return out.error();
}

TEST_CASE("http server: routes with parameters, rest parameters and suffixes over the wire") {
  TestServer server(TestRouter());
  TestClient client(server.port());
  REQUIRE(client.connected());

  auto res = client.Request(Get("/v1/items/01/09506000134352/21/ABC123"));
  REQUIRE(res);
  CHECK(res->result_int() == 200);
  CHECK((*res)[boost::beast::http::field::content_type] == "application/json");
  CHECK(CheckResultOf(*res).input() == "01/09506000134352/21/ABC123");
  CHECK(CheckResultOf(*res).status() == "GET /v1/items/{id...}");

  res = client.Request(Get("/v1/items/01%2F09506000134352%2F21%2FABC123"));
  REQUIRE(res);
  CHECK(CheckResultOf(*res).input() == "01/09506000134352/21/ABC123");

  res = client.Request(Get("/v1/items/01%2F09506000134352%2F21%2FABC123/proof"));
  REQUIRE(res);
  CHECK(CheckResultOf(*res).input() == "01/09506000134352/21/ABC123");
  CHECK(CheckResultOf(*res).status() == "GET /v1/items/{id...}/proof");

  res = client.Request(Get("/v1/records/ab%20cd"));
  REQUIRE(res);
  CHECK(CheckResultOf(*res).input() == "ab cd");

  res = client.Request(Get("/client"));
  REQUIRE(res);
  CHECK(res->body() == "127.0.0.1");

  res = client.Request(Get("/empty"));
  REQUIRE(res);
  CHECK(res->result_int() == 204);
  CHECK(res->body().empty());
}

TEST_CASE("http server: 404 for unknown paths, 405 with Allow for wrong methods") {
  TestServer server(TestRouter());
  TestClient client(server.port());
  auto res = client.Request(Get("/v1/nothing"));
  REQUIRE(res);
  CHECK(res->result_int() == 404);
  CHECK(ErrorOf(*res).code() == "not_found");
  CHECK(ErrorOf(*res).message().find("/v1/nothing") != std::string::npos);

  res = client.Request(Post("/v1/records/abc", "{}"));
  REQUIRE(res);
  CHECK(res->result_int() == 405);
  CHECK((*res)[boost::beast::http::field::allow] == "GET, HEAD");
  CHECK(ErrorOf(*res).code() == "method_not_allowed");

  // Still the same connection.
  res = client.Request(Get("/v1/records/abc"));
  REQUIRE(res);
  CHECK(res->result_int() == 200);
}

TEST_CASE("http server: JSON by default, binary Protobuf when asked, both ways") {
  TestServer server(TestRouter());
  TestClient client(server.port());

  auto res = client.Request(Post("/v1/items:check", R"({"ids": ["a", "b"]})"));
  REQUIRE(res);
  CHECK(res->result_int() == 200);
  CHECK((*res)[boost::beast::http::field::content_type] == "application/json");
  pb::CheckResponse json;
  REQUIRE(core::FromJson(res->body(), &json, "response").ok());
  CHECK(json.results_size() == 2);
  CHECK(json.height() == 42);

  pb::CheckRequest in;
  in.add_ids("x");
  in.add_ids("y");
  in.add_ids("z");
  res = client.Request(Post("/v1/items:check", in.SerializeAsString(), "application/x-protobuf"));
  REQUIRE(res);
  CHECK(res->result_int() == 200);
  CHECK((*res)[boost::beast::http::field::content_type] == "application/x-protobuf");
  pb::CheckResponse binary;
  REQUIRE(binary.ParseFromString(res->body()));
  CHECK(binary.results_size() == 3);
  CHECK(binary.results(2).input() == "z");

  // JSON in, Protobuf out.
  res = client.Request(Post("/v1/items:check", R"({"ids": ["q"]})", "application/json",
                            "Accept: application/x-protobuf\r\n"));
  REQUIRE(res);
  REQUIRE(binary.ParseFromString(res->body()));
  CHECK(binary.results(0).input() == "q");

  // Errors are negotiated too.
  res = client.Request(Get("/nowhere", "Accept: application/x-protobuf\r\n"));
  REQUIRE(res);
  CHECK(res->result_int() == 404);
  pb::ErrorResponse err;
  REQUIRE(err.ParseFromString(res->body()));
  CHECK(err.error().code() == "not_found");
}

TEST_CASE("http server: malformed JSON and unknown fields answer 400 naming the problem") {
  TestServer server(TestRouter());
  TestClient client(server.port());

  auto res = client.Request(Post("/v1/items:check", R"({"idz": ["a"]})"));
  REQUIRE(res);
  CHECK(res->result_int() == 400);
  CHECK(ErrorOf(*res).code() == "bad_request");
  CHECK(ErrorOf(*res).message() == "request body: unknown field \"idz\"");

  res = client.Request(Post("/v1/items:check", R"({"ids": ["a",)"));
  REQUIRE(res);
  CHECK(res->result_int() == 400);
  CHECK(ErrorOf(*res).message().starts_with("request body: "));

  res = client.Request(Post("/v1/items:check", R"({"ids": 5})"));
  REQUIRE(res);
  CHECK(res->result_int() == 400);
  CHECK(ErrorOf(*res).message().find("\"ids\"") != std::string::npos);

  res = client.Request(Post("/v1/items:check", "\x01\x02garbage", "application/x-protobuf"));
  REQUIRE(res);
  CHECK(res->result_int() == 400);

  // The connection survives bad bodies.
  res = client.Request(Post("/v1/items:check", R"({"ids": ["ok"]})"));
  REQUIRE(res);
  CHECK(res->result_int() == 200);
}

TEST_CASE("http server: keep-alive serves many requests on one connection") {
  TestServer server(TestRouter());
  TestClient client(server.port());
  for (int i = 0; i < 200; ++i) {
    auto res = client.Request(Get("/v1/records/r" + std::to_string(i)));
    REQUIRE(res);
    CHECK(res->result_int() == 200);
    CHECK(res->keep_alive());
  }
  CHECK(server.server().stats().connections_accepted == 1);
  // The count moves when a write completes, which may be just after the client has read it.
  CHECK(TestServer::WaitFor([&] { return server.server().stats().requests == 200; }));
}

TEST_CASE("http server: pipelined requests are answered in order") {
  TestServer server(TestRouter());
  TestClient client(server.port());
  std::string batch;
  for (int i = 0; i < 20; ++i) batch += Get("/v1/records/p" + std::to_string(i));
  batch += Post("/v1/items:check", R"({"ids": ["last"]})");
  REQUIRE(client.Send(batch));
  for (int i = 0; i < 20; ++i) {
    auto res = client.Read();
    REQUIRE(res);
    CHECK(CheckResultOf(*res).input() == "p" + std::to_string(i));
  }
  auto res = client.Read();
  REQUIRE(res);
  pb::CheckResponse last;
  REQUIRE(core::FromJson(res->body(), &last, "response").ok());
  CHECK(last.results(0).input() == "last");
}

TEST_CASE("http server: a throwing handler gives 500, a log line, and the server goes on") {
  TestServer server(TestRouter());
  TestClient client(server.port());
  auto res = client.Request(Get("/boom"));
  REQUIRE(res);
  CHECK(res->result_int() == 500);
  CHECK(ErrorOf(*res).code() == "internal");
  CHECK(res->body().find("kaboom") == std::string::npos);
  auto logs = server.logs();
  REQUIRE(logs.size() == 1);
  CHECK(logs[0] == "GET /boom: the handler threw: kaboom");

  res = client.Request(Get("/v1/records/after"));
  REQUIRE(res);
  CHECK(res->result_int() == 200);
  TestClient other(server.port());
  res = other.Request(Get("/v1/records/other"));
  REQUIRE(res);
  CHECK(res->result_int() == 200);
}

TEST_CASE("http server: Connection: close and HTTP/1.0 are honoured") {
  TestServer server(TestRouter());
  {
    TestClient client(server.port());
    auto res = client.Request(Get("/v1/records/a", "Connection: close\r\n"));
    REQUIRE(res);
    CHECK(res->result_int() == 200);
    CHECK_FALSE(res->keep_alive());
    CHECK(client.WaitClosed(2s));
  }
  {
    TestClient client(server.port());
    auto res = client.Request("GET /v1/records/b HTTP/1.0\r\n\r\n");
    REQUIRE(res);
    CHECK(res->result_int() == 200);
    CHECK(client.WaitClosed(2s));
  }
  {
    TestClient client(server.port());
    auto res = client.Request("GET /v1/records/c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    REQUIRE(res);
    CHECK(res->keep_alive());
    res = client.Request("GET /v1/records/d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    REQUIRE(res);
    CHECK(CheckResultOf(*res).input() == "d");
  }
}

TEST_CASE("http server: a connection closes after requests_per_connection_max") {
  HttpLimits limits = test::FastLimits();
  limits.requests_per_connection_max = 3;
  TestServer server(TestRouter(), limits);
  TestClient client(server.port());
  for (int i = 0; i < 3; ++i) {
    auto res = client.Request(Get("/v1/records/x"));
    REQUIRE(res);
    CHECK(res->keep_alive() == (i < 2));
  }
  CHECK(client.WaitClosed(2s));
}

TEST_CASE("http server: Expect: 100-continue gets an interim response before the body") {
  TestServer server(TestRouter());
  TestClient client(server.port());
  std::string body = R"({"ids": ["cont"]})";
  REQUIRE(
      client.Send("POST /v1/items:check HTTP/1.1\r\nHost: t\r\nContent-Type: "
                  "application/json\r\nExpect: 100-continue\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n"));
  auto interim = client.Read(2s);
  REQUIRE(interim);
  CHECK(interim->result_int() == 100);
  REQUIRE(client.Send(body));
  auto res = client.Read();
  REQUIRE(res);
  CHECK(res->result_int() == 200);
}

TEST_CASE("http server: GET /metrics shows latency by route and requests by status class") {
  MetricsRegistry metrics;
  TestServer server(TestRouter(), test::FastLimits(), &metrics);
  TestClient client(server.port());
  for (int i = 0; i < 3; ++i) REQUIRE(client.Request(Get("/v1/items/01/2/21/X")));
  REQUIRE(client.Request(Get("/boom")));
  REQUIRE(client.Request(Get("/nowhere")));
  auto res = client.Request(Get("/metrics"));
  REQUIRE(res);
  CHECK(res->result_int() == 200);
  CHECK((*res)[boost::beast::http::field::content_type] ==
        "text/plain; version=0.0.4; charset=utf-8");
  const std::string& text = res->body();
  CHECK(text.find("# TYPE hallmark_api_request_duration_seconds histogram") != std::string::npos);
  CHECK(text.find("hallmark_api_request_duration_seconds_count{route=\"GET "
                  "/v1/items/{id...}\"} 3\n") != std::string::npos);
  CHECK(text.find("hallmark_api_request_duration_seconds_bucket{route=\"GET "
                  "/v1/items/{id...}\",le=\"+Inf\"} 3\n") != std::string::npos);
  CHECK(text.find("hallmark_api_requests_total{route=\"GET /v1/items/{id...}\",status=\"2xx\"} "
                  "3\n") != std::string::npos);
  CHECK(text.find("hallmark_api_requests_total{route=\"GET /boom\",status=\"5xx\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("hallmark_api_requests_total{route=\"unrouted\",status=\"4xx\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("hallmark_http_connections_active 1\n") != std::string::npos);
  CHECK(text.find("hallmark_http_connections_accepted_total 1\n") != std::string::npos);
}

TEST_CASE("http server: several clients on several threads are all served") {
  TestServer server(TestRouter(), test::FastLimits(), nullptr, /*threads=*/4);
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      TestClient client(server.port());
      for (int i = 0; i < 100; ++i) {
        std::string id = std::to_string(c) + "-" + std::to_string(i);
        auto res = client.Request(Get("/v1/records/" + id));
        if (res && res->result_int() == 200 && res->body().find(id) != std::string::npos) ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  CHECK(ok.load() == 800);
}

TEST_CASE("http server: Stop closes open connections and refuses new ones") {
  boost::asio::io_context io;
  HttpServerOptions options;
  options.limits = test::FastLimits();
  options.log = [](std::string_view) {};
  HttpServer server(io, TestRouter(), options);
  REQUIRE(server.Start().ok());
  std::thread runner([&] { io.run(); });
  TestClient client(server.port());
  REQUIRE(client.Request(Get("/v1/records/a")));
  server.Stop();
  CHECK(client.WaitClosed(2s));
  CHECK(TestServer::WaitFor([&] { return server.stats().connections_active == 0; }));
  TestClient late(server.port());
  CHECK((!late.connected() || !late.Request(Get("/v1/records/b"))));
  io.stop();
  runner.join();
}

TEST_CASE("http server: a port in use is an error, not a crash") {
  TestServer first(TestRouter());
  boost::asio::io_context io;
  HttpServerOptions options;
  options.port = first.port();
  HttpServer second(io, TestRouter(), options);
  core::Status st = second.Start();
  CHECK(st.code() == core::StatusCode::kIoError);
  options.address = "not-an-address";
  options.port = 0;
  HttpServer third(io, TestRouter(), options);
  CHECK_FALSE(third.Start().ok());
}

}  // namespace
}  // namespace hallmark::node
