// Router, Request, content negotiation and the rate limiter, without sockets.
#include <doctest/doctest.h>

#include <stdexcept>

#include "core/codec.h"
#include "node/http/content.h"
#include "node/http/rate_limiter.h"
#include "node/http/router.h"
#include "proto/api.pb.h"

namespace hallmark::node {
namespace {

namespace http = boost::beast::http;

Request MakeRequest(http::verb verb, std::string_view target, std::string body = {},
                    std::vector<std::pair<std::string, std::string>> headers = {}) {
  Request::Message msg{verb, target, 11};
  for (auto& [name, value] : headers) msg.set(name, value);
  msg.body() = std::move(body);
  msg.prepare_payload();
  return Request(std::move(msg));
}

// A handler that answers "<route>|<name>=<value>;…" for the parameters it is told about.
Handler Echo(std::vector<std::string> names) {
  return [names](const Request& req) {
    Response res;
    res.content_type = "text/plain";
    res.body = std::string(req.route());
    for (const auto& n : names) res.body += "|" + n + "=" + std::string(req.param(n));
    return res;
  };
}

Router ApiLikeRouter() {
  Router r;
  r.Add("GET /v1/items/{id...}", Echo({"id"}));
  r.Add("GET /v1/items/{id...}/proof", Echo({"id"}));
  r.Add("POST /v1/items:check", Echo({}));
  r.Add("GET /v1/records/{id}", Echo({"id"}));
  r.Add("GET /v1/blocks/{height}", Echo({"height"}));
  r.Add("GET /v1/blocks/latest", Echo({}));
  r.Add("GET /v1/status", Echo({}));
  r.Add("POST /v1/records", Echo({}));
  r.Add("GET /metrics", Echo({}));
  r.Add("GET /", Echo({}));
  return r;
}

std::string BodyOf(const Router& r, http::verb verb, std::string_view target) {
  Request req = MakeRequest(verb, target);
  Response res = r.Dispatch(req);
  REQUIRE_MESSAGE(res.status == 200, target, " → ", res.status, " ", res.body);
  return res.body;
}

pb::ApiError ErrorOf(const Response& res) {
  pb::ErrorResponse e;
  REQUIRE(res.content_type == kJsonContentType);
  REQUIRE(core::FromJson(res.body, &e, "error").ok());
  return e.error();
}

TEST_CASE("router: literal, parameter and colon routes reach their handlers") {
  Router r = ApiLikeRouter();
  CHECK(BodyOf(r, http::verb::get, "/v1/records/abc") == "GET /v1/records/{id}|id=abc");
  CHECK(BodyOf(r, http::verb::get, "/v1/blocks/12") == "GET /v1/blocks/{height}|height=12");
  CHECK(BodyOf(r, http::verb::post, "/v1/items:check") == "POST /v1/items:check");
  CHECK(BodyOf(r, http::verb::get, "/v1/status?verbose=1") == "GET /v1/status");
  CHECK(BodyOf(r, http::verb::get, "/metrics") == "GET /metrics");
  CHECK(BodyOf(r, http::verb::get, "/") == "GET /");
  // The colon is part of a literal; its encoded spelling matches too.
  CHECK(BodyOf(r, http::verb::post, "/v1/items%3Acheck") == "POST /v1/items:check");
}

TEST_CASE("router: a literal segment wins over a parameter in the same place") {
  Router r = ApiLikeRouter();
  CHECK(BodyOf(r, http::verb::get, "/v1/blocks/latest") == "GET /v1/blocks/latest");
  CHECK(BodyOf(r, http::verb::get, "/v1/blocks/latest2") ==
        "GET /v1/blocks/{height}|height=latest2");
}

TEST_CASE("router: path parameters are percent-decoded") {
  Router r = ApiLikeRouter();
  CHECK(BodyOf(r, http::verb::get, "/v1/records/a%20b%2Fc%25") == "GET /v1/records/{id}|id=a b/c%");
  // '+' is not a space in a path.
  CHECK(BodyOf(r, http::verb::get, "/v1/records/a+b") == "GET /v1/records/{id}|id=a+b");
}

TEST_CASE("router: a rest parameter takes slashes, raw or percent-encoded, to the same id") {
  Router r = ApiLikeRouter();
  const std::string want = "GET /v1/items/{id...}|id=01/09506000134352/21/ABC123";
  CHECK(BodyOf(r, http::verb::get, "/v1/items/01/09506000134352/21/ABC123") == want);
  CHECK(BodyOf(r, http::verb::get, "/v1/items/01%2F09506000134352%2F21%2FABC123") == want);
  CHECK(BodyOf(r, http::verb::get, "/v1/items/01%2f09506000134352/21%2FABC123") == want);
  CHECK(BodyOf(r, http::verb::get, "/v1/items/https%3A%2F%2Fid.example%2F01%2F1") ==
        "GET /v1/items/{id...}|id=https://id.example/01/1");
  // One segment is enough.
  CHECK(BodyOf(r, http::verb::get, "/v1/items/X") == "GET /v1/items/{id...}|id=X");
}

TEST_CASE("router: a suffix after a rest parameter matches the end of the path") {
  Router r = ApiLikeRouter();
  CHECK(BodyOf(r, http::verb::get, "/v1/items/01/09506000134352/21/ABC123/proof") ==
        "GET /v1/items/{id...}/proof|id=01/09506000134352/21/ABC123");
  CHECK(BodyOf(r, http::verb::get, "/v1/items/01%2F09506000134352%2F21%2FABC123/proof") ==
        "GET /v1/items/{id...}/proof|id=01/09506000134352/21/ABC123");
  // An encoded slash never ends a segment: a serial "proof" stays part of the id.
  CHECK(BodyOf(r, http::verb::get, "/v1/items/01%2F09506000134352%2F21%2Fproof") ==
        "GET /v1/items/{id...}|id=01/09506000134352/21/proof");
  // The rest needs at least one segment before the suffix.
  CHECK(BodyOf(r, http::verb::get, "/v1/items/proof") == "GET /v1/items/{id...}|id=proof");
}

TEST_CASE("router: parameters between literals and after a rest parameter") {
  Router r;
  r.Add("GET /a/{x}/b/{rest...}/c/{y}", Echo({"x", "rest", "y"}));
  CHECK(BodyOf(r, http::verb::get, "/a/1/b/2/3/c/4") ==
        "GET /a/{x}/b/{rest...}/c/{y}|x=1|rest=2/3|y=4");
  Request req = MakeRequest(http::verb::get, "/a/1/b/c/4");
  CHECK(r.Dispatch(req).status == 404);
}

TEST_CASE("router: unknown paths are 404, wrong methods 405 with Allow") {
  Router r = ApiLikeRouter();
  r.Add("DELETE /v1/records/{id}", Echo({}));
  for (std::string_view target : {"/v2/status", "/v1/status/", "/v1//status", "/v1/records/",
                                  "/v1/items", "/v1/items/", "/metrics/x", "/v1/records/a/b"}) {
    Request req = MakeRequest(http::verb::get, target);
    Response res = r.Dispatch(req);
    CHECK_MESSAGE(res.status == 404, target);
    CHECK(ErrorOf(res).code() == "not_found");
    CHECK(r.RouteIndex(req) == r.size());
    CHECK(req.route().empty());
  }
  Request req = MakeRequest(http::verb::put, "/v1/records/abc");
  Response res = r.Dispatch(req);
  CHECK(res.status == 405);
  CHECK(ErrorOf(res).code() == "method_not_allowed");
  REQUIRE(res.headers.size() == 1);
  CHECK(res.headers[0].first == "Allow");
  CHECK(res.headers[0].second == "GET, HEAD, DELETE");

  Request post = MakeRequest(http::verb::post, "/v1/status");
  Response res2 = r.Dispatch(post);
  CHECK(res2.status == 405);
  CHECK(res2.headers.at(0).second == "GET, HEAD");

  // HEAD is answered by the GET route; a route of another method never answers it.
  Request head = MakeRequest(http::verb::head, "/v1/status");
  CHECK(r.Dispatch(head).status == 200);
  CHECK(head.route() == "GET /v1/status");
  Request head_post = MakeRequest(http::verb::head, "/v1/items:check");
  Response res3 = r.Dispatch(head_post);
  CHECK(res3.status == 405);
  CHECK(res3.headers.at(0).second == "POST");
}

TEST_CASE("router: bad percent-encoding is 400, a non-path target 400, too many segments 414") {
  Router r = ApiLikeRouter();
  for (std::string_view target : {"/v1/records/%zz", "/v1/records/%4", "/v1/items/a/%"}) {
    Request req = MakeRequest(http::verb::get, target);
    Response res = r.Dispatch(req);
    CHECK_MESSAGE(res.status == 400, target);
    CHECK(ErrorOf(res).code() == "bad_request");
  }
  Request star = MakeRequest(http::verb::get, "*");
  CHECK(r.Dispatch(star).status == 400);
  Request absolute = MakeRequest(http::verb::get, "http://example.com/v1/status");
  CHECK(r.Dispatch(absolute).status == 400);

  std::string deep = "/v1/items";
  for (int i = 0; i < 100; ++i) deep += "/x";
  Request req = MakeRequest(http::verb::get, deep);
  Response res = r.Dispatch(req);
  CHECK(res.status == 414);
  CHECK(ErrorOf(res).code() == "uri_too_long");
}

TEST_CASE("router: a throwing handler gives a generic 500 and reports what was thrown") {
  Router r;
  r.Add("GET /boom", [](const Request&) -> Response { throw std::runtime_error("secret detail"); });
  r.Add("GET /int", [](const Request&) -> Response { throw 42; });
  std::vector<std::string> reported;
  auto report = [&](std::string_view route, std::string_view what) {
    reported.push_back(std::string(route) + ": " + std::string(what));
  };
  Request req = MakeRequest(http::verb::get, "/boom");
  Response res = r.Dispatch(req, report);
  CHECK(res.status == 500);
  CHECK(ErrorOf(res).code() == "internal");
  CHECK(res.body.find("secret") == std::string::npos);
  Request req2 = MakeRequest(http::verb::get, "/int");
  CHECK(r.Dispatch(req2, report).status == 500);
  REQUIRE(reported.size() == 2);
  CHECK(reported[0] == "GET /boom: secret detail");
  CHECK(reported[1].starts_with("GET /int: "));
}

TEST_CASE("request: query parameters are form-decoded, headers case-insensitive") {
  Request req = MakeRequest(http::verb::get, "/x?a=1&b=hello+world%21&c&d=%zz&a=2&e%20f=g", "",
                            {{"X-Thing", "v"}});
  CHECK(req.path() == "/x");
  CHECK(req.query_string() == "a=1&b=hello+world%21&c&d=%zz&a=2&e%20f=g");
  CHECK(req.query("a") == "1");
  CHECK(req.query("b") == "hello world!");
  CHECK(req.query("c") == "");
  CHECK(req.query("d") == "%zz");
  CHECK(req.query("e f") == "g");
  CHECK_FALSE(req.query("z").has_value());
  CHECK(req.header("x-thing") == "v");
  CHECK(req.header("missing").empty());
}

TEST_CASE("percent decoding: escapes, case, truncation") {
  std::string out;
  CHECK(PercentDecode("a%2Fb%2fc", &out));
  CHECK(out == "a/b/c");
  CHECK(PercentDecode("%00", &out));
  CHECK(out == std::string(1, '\0'));
  CHECK(PercentDecode("a+b", &out, true));
  CHECK(out == "a b");
  CHECK_FALSE(PercentDecode("%", &out));
  CHECK_FALSE(PercentDecode("%a", &out));
  CHECK_FALSE(PercentDecode("%g0", &out));
  CHECK_FALSE(PercentDecode("ab%", &out));
}

TEST_CASE(
    "content: ParseBody refuses malformed JSON, unknown fields and wrong types, naming them") {
  auto parse = [](std::string body, std::string content_type = "application/json") {
    Request req =
        MakeRequest(http::verb::post, "/x", std::move(body), {{"Content-Type", content_type}});
    return ParseBody<pb::CheckRequest>(req);
  };
  auto ok = parse(R"({"ids": ["a", "b"]})");
  REQUIRE(ok.ok());
  CHECK(ok->ids_size() == 2);
  CHECK(parse(R"({"ids": []})", "application/json; charset=utf-8").ok());

  auto unknown = parse(R"({"idz": ["a"]})");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().code() == core::StatusCode::kInvalidInput);
  CHECK(unknown.status().message() == "request body: unknown field \"idz\"");

  auto wrong_type = parse(R"({"ids": 5})");
  REQUIRE_FALSE(wrong_type.ok());
  CHECK(wrong_type.status().message().find("field \"ids\"") != std::string::npos);

  auto wrong_item = parse(R"({"ids": ["a", 7]})");
  REQUIRE_FALSE(wrong_item.ok());
  CHECK(wrong_item.status().message().find("ids[1]") != std::string::npos);

  for (std::string bad : {R"({"ids": [)", "nul", "{", R"({"ids": ["a"]} trailing)", "[1]"}) {
    auto r = parse(bad);
    REQUIRE_FALSE_MESSAGE(r.ok(), bad);
    CHECK(r.status().message().starts_with("request body"));
    // One line, short, no echo of the caret diagram protobuf adds.
    CHECK(r.status().message().find('\n') == std::string::npos);
  }

  auto empty = parse("  ");
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.status().message().find("empty") != std::string::npos);

  auto text = parse("ids=a", "text/plain");
  REQUIRE_FALSE(text.ok());
  CHECK(text.status().message().find("text/plain") != std::string::npos);
}

TEST_CASE("content: ParseBody reads binary Protobuf and refuses garbage and unknown fields") {
  pb::CheckRequest in;
  in.add_ids("01/09506000134352/21/ABC123");
  Request req = MakeRequest(http::verb::post, "/x", in.SerializeAsString(),
                            {{"Content-Type", "application/x-protobuf"}});
  auto out = ParseBody<pb::CheckRequest>(req);
  REQUIRE(out.ok());
  CHECK(out->ids(0) == in.ids(0));

  Request garbage = MakeRequest(http::verb::post, "/x", "\xff\xff\xff\xff",
                                {{"Content-Type", "application/x-protobuf"}});
  CHECK_FALSE(ParseBody<pb::CheckRequest>(garbage).ok());
  // Field 9, varint: unknown to CheckRequest.
  Request unknown = MakeRequest(http::verb::post, "/x", std::string("\x48\x01", 2),
                                {{"Content-Type", "application/x-protobuf"}});
  CHECK_FALSE(ParseBody<pb::CheckRequest>(unknown).ok());
}

TEST_CASE("content: replies are JSON by default and Protobuf when asked for") {
  pb::HealthResponse msg;
  msg.set_status("ok");
  msg.set_height(7);

  Request plain = MakeRequest(http::verb::get, "/x");
  Response json = Reply(plain, msg);
  CHECK(json.status == 200);
  CHECK(json.content_type == "application/json");
  pb::HealthResponse back;
  REQUIRE(core::FromJson(json.body, &back, "reply").ok());
  CHECK(back.height() == 7);

  for (auto headers : std::vector<std::vector<std::pair<std::string, std::string>>>{
           {{"Accept", "application/x-protobuf"}},
           {{"Accept", "application/json;q=0.5, application/x-protobuf"}},
           {{"Content-Type", "application/x-protobuf"}},
           {{"Accept", "*/*"}, {"Content-Type", "application/x-protobuf"}}}) {
    Request req = MakeRequest(http::verb::get, "/x", "", headers);
    Response res = Reply(req, msg, 201);
    CHECK(res.status == 201);
    CHECK(res.content_type == "application/x-protobuf");
    pb::HealthResponse parsed;
    REQUIRE(parsed.ParseFromString(res.body));
    CHECK(parsed.status() == "ok");
  }
  // An explicit Accept for JSON wins over a Protobuf request body.
  Request mixed =
      MakeRequest(http::verb::get, "/x", "",
                  {{"Accept", "application/json"}, {"Content-Type", "application/x-protobuf"}});
  CHECK(Reply(mixed, msg).content_type == "application/json");
}

TEST_CASE("content: error replies carry code and message, local failures hide details") {
  Request req = MakeRequest(http::verb::get, "/x");
  Response res = ErrorReply(req, 409, "stale_prev", "prev is not the latest record");
  CHECK(res.status == 409);
  CHECK(ErrorOf(res).code() == "stale_prev");
  CHECK(ErrorOf(res).message() == "prev is not the latest record");

  CHECK(StatusReply(req, core::Status::InvalidInput("bad id")).status == 400);
  CHECK(ErrorOf(StatusReply(req, core::Status::InvalidInput("bad id"))).message() == "bad id");
  CHECK(StatusReply(req, core::Status::NotFound("no such block")).status == 404);
  Response internal = StatusReply(req, core::Status::IoError("disk /dev/sda1 on fire"));
  CHECK(internal.status == 500);
  CHECK(internal.body.find("sda1") == std::string::npos);

  // Invalid UTF-8 and control characters in a message cannot break the JSON encoding.
  Response odd = ErrorReply(req, 404, "not_found", "path \xff\xfe\x01 end \xc3\xa9");
  CHECK(odd.status == 404);
  CHECK(ErrorOf(odd).message() == "path ??? end \xc3\xa9");
}

TEST_CASE("rate limiter: a burst, then refill at the rate, with Retry-After") {
  RateLimiter limiter(/*rate_per_second=*/10, /*burst=*/5, /*clients_max=*/1024);
  auto a = boost::asio::ip::make_address("192.0.2.1");
  auto b = boost::asio::ip::make_address("192.0.2.2");
  auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 5; ++i) CHECK(limiter.Acquire(a, t0) == 0);
  CHECK(limiter.Acquire(a, t0) == 1);  // 0.1 s until a token: Retry-After rounds up to 1.
  CHECK(limiter.Acquire(b, t0) == 0);  // Another address has its own bucket.
  CHECK(limiter.Acquire(a, t0 + std::chrono::milliseconds(100)) == 0);
  CHECK(limiter.Acquire(a, t0 + std::chrono::milliseconds(100)) > 0);
  // Never more than the burst, however long the pause.
  auto later = t0 + std::chrono::hours(1);
  int admitted = 0;
  for (int i = 0; i < 20; ++i) admitted += limiter.Acquire(a, later) == 0;
  CHECK(admitted == 5);

  RateLimiter slow(/*rate_per_second=*/0.1, /*burst=*/1, 1024);
  CHECK(slow.Acquire(a, t0) == 0);
  CHECK(slow.Acquire(a, t0) == 10);

  RateLimiter off(0, 0, 16);
  for (int i = 0; i < 100; ++i) CHECK(off.Acquire(a, t0) == 0);
}

TEST_CASE("rate limiter: IPv6 addresses share a bucket per /64, v4-mapped is IPv4") {
  RateLimiter limiter(1, 2, 1024);
  auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  auto x1 = boost::asio::ip::make_address("2001:db8:1:2::1");
  auto x2 = boost::asio::ip::make_address("2001:db8:1:2:ffff::9");
  auto y = boost::asio::ip::make_address("2001:db8:1:3::1");
  CHECK(limiter.Acquire(x1, t0) == 0);
  CHECK(limiter.Acquire(x2, t0) == 0);
  CHECK(limiter.Acquire(x1, t0) > 0);
  CHECK(limiter.Acquire(y, t0) == 0);

  auto v4 = boost::asio::ip::make_address("198.51.100.7");
  auto mapped = boost::asio::ip::make_address("::ffff:198.51.100.7");
  CHECK(limiter.Acquire(v4, t0) == 0);
  CHECK(limiter.Acquire(mapped, t0) == 0);
  CHECK(limiter.Acquire(v4, t0) > 0);
}

TEST_CASE("rate limiter: the table stays bounded under many addresses") {
  RateLimiter limiter(100, 100, /*clients_max=*/256);
  auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  for (uint32_t i = 0; i < 100'000; ++i) {
    auto addr = boost::asio::ip::address_v4(0x0A000000u + i);
    CHECK(limiter.Acquire(addr, t0 + std::chrono::microseconds(i)) == 0);
  }
  CHECK(limiter.tracked() <= 256);
}

}  // namespace
}  // namespace hallmark::node
