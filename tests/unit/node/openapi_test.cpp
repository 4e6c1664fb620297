// docs/openapi.json against the node: its routes are exactly the router's (RegisterApiRoutes, as
// node/node.cpp builds it), and every property it marks required is in real answers from a real
// ledger. The description is read with Protobuf's JSON parser into google.protobuf.Struct.
#include <doctest/doctest.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "node/api.h"
#include "node/http/content.h"
#include "proof_fixture.h"
#include "proto/api.pb.h"

namespace hallmark::test {
namespace {

namespace http = boost::beast::http;
using google::protobuf::Struct;
using google::protobuf::Value;

Struct ParseJson(const std::string& text, const std::string& what) {
  Struct s;
  const auto st = google::protobuf::util::JsonStringToMessage(text, &s);
  REQUIRE_MESSAGE(st.ok(), what << ": " << st.ToString());
  return s;
}

Struct OpenApi() {
  const std::filesystem::path path =
      std::filesystem::path(HALLMARK_SOURCE_DIR) / "docs" / "openapi.json";
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  std::stringstream text;
  text << in.rdbuf();
  return ParseJson(text.str(), path.string());
}

const Value& Field(const Struct& s, const std::string& name, const std::string& where) {
  auto it = s.fields().find(name);
  REQUIRE_MESSAGE(it != s.fields().end(), where << " has no \"" << name << "\"");
  return it->second;
}

const Struct& Object(const Struct& s, const std::string& name, const std::string& where) {
  const Value& v = Field(s, name, where);
  REQUIRE_MESSAGE(v.has_struct_value(), where << "." << name << " is not an object");
  return v.struct_value();
}

// The router's pattern in OpenAPI's spelling: a rest parameter "{id...}" is "{id}".
std::string OpenApiPath(std::string route) {
  for (size_t at = route.find("...}"); at != std::string::npos; at = route.find("...}")) {
    route.erase(at, 3);
  }
  return route;
}

struct Node {
  ProvenChain chain;
  node::Mempool mempool{chain.network(), &chain.ledger()};
  node::MetricsRegistry metrics;
  node::Router router;
  Node() {
    node::ApiContext ctx;
    ctx.network = &chain.network();
    ctx.ledger = &chain.ledger();
    ctx.mempool = &mempool;
    ctx.metrics = &metrics;
    node::RegisterApiRoutes(router, ctx);
  }
  node::Response Send(http::verb verb, std::string_view target, std::string body = "") {
    node::Request::Message msg{verb, target, 11};
    if (!body.empty()) {
      msg.set(http::field::content_type, "application/json");
      msg.body() = std::move(body);
    }
    msg.prepare_payload();
    node::Request req(std::move(msg));
    return router.Dispatch(req);
  }
};

// Checks `answer` against `schema`: every required property present, recursively through the
// properties and array items the answer holds. `where` names the place for failures.
class SchemaCheck {
 public:
  explicit SchemaCheck(const Struct& doc)
      : schemas_(Object(Object(doc, "components", "openapi"), "schemas", "components")) {}

  void Check(const Struct& schema_in, const Value& answer, const std::string& where) {
    const Struct& schema = Resolve(schema_in, where);
    auto props = schema.fields().find("properties");
    auto required = schema.fields().find("required");
    if (props == schema.fields().end() && required == schema.fields().end()) return;
    REQUIRE_MESSAGE(answer.has_struct_value(), where << " is not an object");
    const Struct& object = answer.struct_value();
    if (required != schema.fields().end()) {
      for (const Value& name : required->second.list_value().values()) {
        ++required_checked_;
        CHECK_MESSAGE(object.fields().count(name.string_value()) == 1,
                      where << " lacks required property \"" << name.string_value() << "\"");
      }
    }
    if (props == schema.fields().end()) return;
    for (const auto& [name, value] : object.fields()) {
      auto p = props->second.struct_value().fields().find(name);
      CHECK_MESSAGE(p != props->second.struct_value().fields().end(),
                    where << " has property \"" << name << "\" the description does not list");
      if (p == props->second.struct_value().fields().end()) continue;
      const Struct& ps = Resolve(p->second.struct_value(), where + "." + name);
      auto items = ps.fields().find("items");
      if (items != ps.fields().end() && value.has_list_value()) {
        int i = 0;
        for (const Value& element : value.list_value().values()) {
          Check(items->second.struct_value(), element,
                where + "." + name + "[" + std::to_string(i++) + "]");
        }
      } else if (value.has_struct_value()) {
        Check(ps, value, where + "." + name);
      }
    }
  }

  int required_checked() const { return required_checked_; }

 private:
  const Struct& Resolve(const Struct& schema, const std::string& where) {
    auto r = schema.fields().find("$ref");
    if (r == schema.fields().end()) return schema;
    const std::string& target = r->second.string_value();
    const std::string prefix = "#/components/schemas/";
    REQUIRE_MESSAGE(target.starts_with(prefix), where << ": $ref " << target);
    return Object(schemas_, target.substr(prefix.size()), "components.schemas");
  }

  const Struct& schemas_;
  int required_checked_ = 0;
};

// The JSON schema of the answer to METHOD path with `status`.
const Struct& AnswerSchema(const Struct& doc, const std::string& path, const std::string& method,
                           const std::string& status) {
  const std::string where = method + " " + path;
  const Struct& op = Object(Object(Object(doc, "paths", "openapi"), path, "paths"), method, where);
  const Struct& response = Object(Object(op, "responses", where), status, where + " responses");
  return Object(Object(Object(response, "content", where), "application/json", where), "schema",
                where);
}

}  // namespace

TEST_CASE("openapi: docs/openapi.json describes exactly the routes the node serves") {
  Node node;
  std::set<std::string> served;
  for (size_t i = 0; i < node.router.size(); ++i) served.insert(OpenApiPath(node.router.name(i)));
  REQUIRE(served.count("GET /metrics") == 1);

  const Struct doc = OpenApi();
  CHECK(Field(doc, "openapi", "openapi").string_value().starts_with("3."));
  std::set<std::string> described;
  // Routes another branch is adding: described, marked "x-hallmark-pending", not served yet.
  std::set<std::string> pending;
  for (const auto& [path, item] : Object(doc, "paths", "openapi").fields()) {
    for (const auto& [method, op] : item.struct_value().fields()) {
      std::string upper;
      for (char c : method) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      const std::string route = upper + " " + path;
      described.insert(route);
      if (op.struct_value().fields().count("x-hallmark-pending")) pending.insert(route);
    }
  }
  for (const std::string& route : served) {
    CHECK_MESSAGE(described.count(route) == 1,
                  "the node serves " << route << " but docs/openapi.json does not describe it");
    CHECK_MESSAGE(
        pending.count(route) == 0,
        "the node serves " << route << " now: remove its x-hallmark-pending in docs/openapi.json");
  }
  for (const std::string& route : described) {
    CHECK_MESSAGE((served.count(route) == 1 || pending.count(route) == 1),
                  "docs/openapi.json describes " << route << " but the node does not serve it");
  }
}

TEST_CASE("openapi: every required property is in the node's real answers") {
  Node node;
  LiveItem(node.chain, kMaisonItem, 3);
  const Struct doc = OpenApi();
  SchemaCheck check(doc);

  struct Case {
    http::verb verb;
    std::string target;
    std::string body;
    std::string path;  // As described.
    std::string status;
  };
  const std::string item = "/v1/items/01/00614141000012/21/BAG-0001";
  std::vector<Case> cases = {
      {http::verb::get, item, "", "/v1/items/{id}", "200"},
      {http::verb::get, "/v1/items/01/00614141000012/21/NEVER", "", "/v1/items/{id}", "200"},
      {http::verb::get, item + "/proof", "", "/v1/items/{id}/proof", "200"},
      {http::verb::get, "/v1/items", "", "/v1/items", "200"},
      {http::verb::get, "/v1/items?flag=lost", "", "/v1/items", "200"},
      {http::verb::post, "/v1/items:check",
       R"({"ids":["01/00614141000012/21/BAG-0001","01/00614141000012/21/NEVER","bad"]})",
       "/v1/items:check", "200"},
      {http::verb::get, "/v1/status", "", "/v1/status", "200"},
      {http::verb::get, "/v1/genesis", "", "/v1/genesis", "200"},
      {http::verb::get, "/v1/health", "", "/v1/health", "200"},
      {http::verb::get, "/v1/network", "", "/v1/network", "200"},
      {http::verb::get, "/v1/governance/proposals", "", "/v1/governance/proposals", "200"},
      {http::verb::get, "/v1/blocks/1", "", "/v1/blocks/{height}", "200"},
      {http::verb::get, "/v1/evidence", "", "/v1/evidence", "200"},
      {http::verb::get, "/v1/records/" + std::string(64, 'a'), "", "/v1/records/{id}", "200"},
      {http::verb::get, "/v1/items?limit=0", "", "/v1/items", "400"},
      {http::verb::get, "/v1/blocks/99", "", "/v1/blocks/{height}", "404"},
      {http::verb::post, "/v1/records", R"({"payload":"AA=="})", "/v1/records", "400"},
  };
  // A committed record's status.
  auto history = node.chain.ledger().GetHistory(core::ParseItemId(kMaisonItem)->Key());
  REQUIRE(history.ok());
  REQUIRE_FALSE(history->empty());
  cases.push_back({http::verb::get,
                   "/v1/records/" + core::RecordIdOf((*history)[0].envelope()).Hex(), "",
                   "/v1/records/{id}", "200"});

  for (const Case& c : cases) {
    CAPTURE(c.target);
    node::Response res = node.Send(c.verb, c.target, c.body);
    INFO(res.body.substr(0, 500));
    REQUIRE(std::to_string(res.status) == c.status);
    REQUIRE(res.content_type == "application/json");
    const std::string method = c.verb == http::verb::get ? "get" : "post";
    Value answer;
    *answer.mutable_struct_value() = ParseJson(res.body, c.target);
    check.Check(AnswerSchema(doc, c.path, method, c.status), answer,
                method + " " + c.target + " → " + c.status);
  }
  // The check looked at many properties, nested ones included.
  CHECK(check.required_checked() > 200);
}

TEST_CASE("openapi: answers print zeros, empty strings, false and empty lists") {
  Node node;
  node::Response res = node.Send(http::verb::get, "/v1/items/01/00614141000012/21/NEVER");
  REQUIRE(res.status == 200);
  CHECK(res.body.find("\"registered\":false") != std::string::npos);
  CHECK(res.body.find("\"history\":[]") != std::string::npos);
  // An absent message field stays absent: an unregistered item has no state.
  CHECK(res.body.find("\"state\"") == std::string::npos);
  node::Response list = node.Send(http::verb::get, "/v1/items");
  CHECK(list.body.find("\"items\":[]") != std::string::npos);
  CHECK(list.body.find("\"next\":\"\"") != std::string::npos);
  CHECK(list.body.find("\"height\":\"0\"") != std::string::npos);
  // Binary Protobuf is unchanged: defaults are not encoded.
  node::Request::Message msg{http::verb::get, "/v1/items/01/00614141000012/21/NEVER", 11};
  msg.set(http::field::accept, "application/x-protobuf");
  node::Request req(std::move(msg));
  node::Response bin = node.router.Dispatch(req);
  pb::ItemResponse parsed;
  REQUIRE(parsed.ParseFromString(bin.body));
  CHECK(bin.body == core::SerializeDeterministic(parsed));
  CHECK(bin.body.size() < 120);
}

}  // namespace hallmark::test
