// Hostile JSON bodies on the node's real API routes, over a real socket: each is a 400 whose
// message names the problem, before Protobuf's lenient JSON parser sees it (core/json.h).
#include <doctest/doctest.h>

#include <string>

#include "core/codec.h"
#include "http_test_util.h"
#include "node/api.h"
#include "node/http/content.h"
#include "peak_memory.h"
#include "proof_fixture.h"
#include "proto/api.pb.h"

namespace hallmark::test {
namespace {

struct ApiServer {
  ProvenChain chain;
  node::Mempool mempool{chain.network(), &chain.ledger()};
  node::MetricsRegistry metrics;
  std::unique_ptr<TestServer> server;
  ApiServer() {
    node::ApiContext ctx;
    ctx.network = &chain.network();
    ctx.ledger = &chain.ledger();
    ctx.mempool = &mempool;
    ctx.metrics = &metrics;
    node::Router router;
    node::RegisterApiRoutes(router, ctx);
    server = std::make_unique<TestServer>(std::move(router));
  }

  // POSTs `body` as JSON and returns the status and the ErrorResponse's code and message.
  std::tuple<unsigned, std::string, std::string> Post(std::string_view target,
                                                      std::string_view body) {
    TestClient client(server->port());
    auto res = client.Request(test::Post(target, body));
    REQUIRE(res);
    pb::ErrorResponse error;
    if (res->result_int() != 200 && res->result_int() != 202) {
      REQUIRE(core::FromJson(res->body(), &error, "error").ok());
    }
    return {res->result_int(), error.error().code(), error.error().message()};
  }
};

}  // namespace

TEST_CASE("api: nested arrays, null in arrays and unknown nested fields in a body are 400") {
  ApiServer api;
  struct Case {
    std::string target;
    std::string body;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"/v1/items:check", R"({"ids":[["01/00614141000012/21/BAG-0001"]]})",
       "request body: field \"ids[0]\": an array inside an array is not allowed (a repeated "
       "field is one flat list)"},
      {"/v1/items:check", R"({"ids":[null]})",
       "request body: field \"ids[0]\": null is not allowed inside an array or a map"},
      {"/v1/items:check", R"({"ids":[)" + std::string(10'000, '[') + "]}",
       "request body: field \"ids[0]\": an array inside an array is not allowed (a repeated "
       "field is one flat list)"},
      {"/v1/items:check", R"({"ids":{"a":1}})",
       "request body: field \"ids\": expected an array (the field is repeated), found an object"},
      {"/v1/records", R"({"payload":[[]]})",
       "request body: field \"payload\": expected a string, found an array"},
      {"/v1/records", R"({"payload":"", "signer":"", "extra":{"deep":[[[1]]]}})",
       "request body: unknown field \"extra\""},
      {"/v1/records", R"({"payload":"AAAA"} {"payload":"AAAA"})",
       "request body: malformed JSON at byte 20: unexpected text after the object"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.body.substr(0, 100));
    auto [status, code, message] = api.Post(c.target, c.body);
    CHECK(status == 400);
    CHECK(code == "bad_request");
    CHECK(message == c.message);
  }
  // The honest forms still pass.
  auto [status, code, message] =
      api.Post("/v1/items:check", R"({"ids":["01/00614141000012/21/X"]})");
  CHECK(status == 200);
}

TEST_CASE("api: a body of 346,000 tiny values is refused within bounded memory") {
  ApiServer api;
  // Just under the HTTP server's 1 MiB body limit: 349,000 empty strings.
  std::string body = R"({"ids":[)";
  while (body.size() < 1'040'000) body += R"("",)";
  body.back() = ']';
  body += '}';
  std::tuple<unsigned, std::string, std::string> answer;
  std::optional<uint64_t> peak =
      PeakMemoryGrowthBytes([&] { answer = api.Post("/v1/items:check", body); });
  CHECK(std::get<0>(answer) == 400);
  CHECK(std::get<2>(answer) ==
        "request body: the JSON holds more than 100000 values (objects, arrays and their "
        "elements), the limit for this input");
  if (peak) {
    MESSAGE("peak memory +" << Megabytes(*peak) << " for a " << body.size() << "-byte body");
    CHECK(*peak < 32'000'000);
  }
}

}  // namespace hallmark::test
