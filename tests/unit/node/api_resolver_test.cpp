// The GS1 Digital Link resolver (GET /01/…, /gtin/…), GET /v1/genesis, GET /v1/items/{id}/epcis
// and CORS, through the router against a real ledger (docs/api.md, "Resolver"): every branch of
// the negotiation, every path form, hostile paths, the linkset's shape, and the page's escaping.
#include <doctest/doctest.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <string>
#include <vector>

#include "core/codec.h"
#include "core/crypto/sha256.h"
#include "core/epcis.h"
#include "core/proof_bundle.h"
#include "core/web_page.h"
#include "http_test_util.h"
#include "node/api.h"
#include "node/http/content.h"
#include "node/resolver.h"
#include "proof_fixture.h"
#include "proto/api.pb.h"

namespace hallmark::test {
namespace {

namespace http = boost::beast::http;
using google::protobuf::Struct;
using google::protobuf::Value;

constexpr const char* kPath = "/01/00614141000012/21/BAG-0001";

struct Resolver {
  ProvenChain chain;
  node::Mempool mempool{chain.network(), &chain.ledger()};
  node::MetricsRegistry metrics;
  node::Router router;
  explicit Resolver(pb::Genesis genesis = TestGenesis()) : chain(std::move(genesis)) {
    node::ApiContext ctx;
    ctx.network = &chain.network();
    ctx.ledger = &chain.ledger();
    ctx.mempool = &mempool;
    ctx.metrics = &metrics;
    node::RegisterApiRoutes(router, ctx);
  }
  node::Response Send(http::verb verb, std::string_view target, std::string_view accept = {},
                      std::string body = {}) {
    node::Request::Message msg{verb, target, 11};
    if (!accept.empty()) msg.set(http::field::accept, accept);
    if (!body.empty()) {
      msg.set(http::field::content_type, "application/json");
      msg.body() = std::move(body);
    }
    msg.prepare_payload();
    node::Request req(std::move(msg));
    return router.Dispatch(req);
  }
  node::Response Get(std::string_view target, std::string_view accept = {}) {
    return Send(http::verb::get, target, accept);
  }
};

std::string Header(const node::Response& res, std::string_view name) {
  for (const auto& [n, v] : res.headers) {
    if (n == name) return v;
  }
  return "";
}
bool HasHeader(const node::Response& res, std::string_view name) {
  for (const auto& [n, v] : res.headers) {
    if (n == name) return true;
  }
  return false;
}

Struct ParseStruct(const std::string& json) {
  Struct s;
  auto st = google::protobuf::util::JsonStringToMessage(json, &s);
  REQUIRE_MESSAGE(st.ok(), st.ToString() << ": " << json.substr(0, 300));
  return s;
}

// The page's config: the JSON inside <script id="hallmark-config" type="application/json">,
// un-escaped (the page escapes '<', '>' and '&' as \u escapes, which JSON reads back).
pb::PageConfig ConfigOf(const std::string& html) {
  const std::string open = "<script id=\"hallmark-config\" type=\"application/json\">";
  const size_t at = html.find(open);
  REQUIRE(at != std::string::npos);
  const size_t start = at + open.size();
  const size_t end = html.find("</script>", start);
  REQUIRE(end != std::string::npos);
  pb::PageConfig config;
  REQUIRE(core::FromJson(html.substr(start, end - start), &config, "page config").ok());
  return config;
}

void CheckPageHeaders(const node::Response& res) {
  CHECK(res.content_type == "text/html; charset=utf-8");
  CHECK(Header(res, "X-Content-Type-Options") == "nosniff");
  CHECK(Header(res, "Referrer-Policy") == "no-referrer");
  CHECK(Header(res, "Cache-Control") == "no-store");
  CHECK(Header(res, "Vary") == "Accept");
  CHECK(Header(res, "Content-Security-Policy").starts_with("default-src 'none'"));
}

}  // namespace

TEST_CASE("resolver: a Digital Link path serves the item page by default, with its config") {
  Resolver r;
  LiveItem(r.chain, kMaisonItem, 3);
  for (std::string_view accept :
       {std::string_view(), std::string_view("*/*"),
        std::string_view("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
        std::string_view("application/x-protobuf")}) {
    CAPTURE(accept);
    node::Response res = r.Get(kPath, accept);
    REQUIRE(res.status == 200);
    CheckPageHeaders(res);
    pb::PageConfig expected;
    expected.set_genesis(core::SerializeDeterministic(r.chain.network().genesis()));
    expected.set_item_id(kMaisonItem);
    expected.set_digital_link("https://id.gs1.org/01/00614141000012/21/BAG-0001");
    const core::RenderedPage page = core::RenderItemPage(expected);
    CHECK(res.body == page.html);
    CHECK(Header(res, "Content-Security-Policy") == page.content_security_policy);
    const pb::PageConfig config = ConfigOf(res.body);
    CHECK(config.nodes_size() == 0);
    CHECK(config.item_id() == kMaisonItem);
    CHECK(core::Sha256Of(std::string_view(config.genesis())) == r.chain.network().hash());
    CHECK(Header(res, "Link") ==
          "</01/00614141000012/21/BAG-0001?linkType=linkset>; rel=\"linkset\"; "
          "type=\"application/linkset+json\"");
    CHECK(Header(res, "Access-Control-Allow-Origin") == "*");
  }
}

TEST_CASE("resolver: every Digital Link path form names the same item") {
  Resolver r;
  LiveItem(r.chain, kMaisonItem, 1);
  for (std::string_view target : {
           "/01/00614141000012/21/BAG-0001",
           "/gtin/00614141000012/ser/BAG-0001",
           "/01/00614141000012/10/LOT7/21/BAG-0001",
           "/01/00614141000012/22/V2/10/LOT7/21/BAG-0001",
           "/gtin/00614141000012/cpv/V2/lot/LOT7/ser/BAG-0001",
           "/01/614141000012/21/BAG-0001",  // GTIN-12, padded.
           "/01/00614141000012/21/BAG%2D0001",
           "/01/00614141000012/21/BAG-0001?17=271231",
           "/01/00614141000012/21/BAG-0001?linkType=gs1:unknownThing&x=y",
       }) {
    CAPTURE(target);
    node::Response res = r.Get(target);
    REQUIRE(res.status == 200);
    CHECK(ConfigOf(res.body).item_id() == kMaisonItem);
    // A link type this resolver does not have gives the page whatever the Accept.
    if (target.find("linkType") != std::string_view::npos) continue;
    node::Response json = r.Get(target, "application/json");
    REQUIRE(json.status == 200);
    pb::ItemResponse item;
    REQUIRE(core::FromJson(json.body, &item, "item").ok());
    CHECK(item.item_id() == kMaisonItem);
    CHECK(item.registered());
  }
}

TEST_CASE("resolver: Accept application/json gives exactly GET /v1/items/{id}'s JSON") {
  Resolver r;
  LiveItem(r.chain, kMaisonItem, 3);
  node::Response api = r.Get("/v1/items/01/00614141000012/21/BAG-0001");
  REQUIRE(api.status == 200);
  for (std::string_view accept :
       {"application/json", "application/json, text/html;q=0.5", "text/html;q=0.1, application/*",
        "application/json;q=0.9, */*;q=0.1"}) {
    CAPTURE(accept);
    node::Response res = r.Get(kPath, accept);
    REQUIRE(res.status == 200);
    CHECK(res.content_type == "application/json");
    CHECK(res.body == api.body);
    CHECK(Header(res, "Vary") == "Accept");
  }
  // Equal weight: the page.
  CHECK(r.Get(kPath, "application/json, text/html").content_type == "text/html; charset=utf-8");
  // A type refused with q=0 is never chosen.
  CHECK(r.Get(kPath, "text/html;q=0, application/json;q=0.2").content_type == "application/json");
  CHECK(r.Get(kPath, "application/json;q=0").content_type == "text/html; charset=utf-8");
}

TEST_CASE("resolver: the linkset (RFC 9264) names the page, proof, EPCIS, item and brand") {
  pb::Genesis g = TestGenesis();
  g.mutable_organizations(0)->set_website("https://maison.example/about");
  g.mutable_organizations(0)->set_resolver_domain("id.maison.example");
  Resolver r(g);
  LiveItem(r.chain, kMaisonItem, 2);
  for (const auto& [target_, accept_] : std::vector<std::pair<std::string, std::string>>{
           {std::string(kPath) + "?linkType=linkset", ""},
           {std::string(kPath) + "?linkType=all", "text/html"},
           {kPath, "application/linkset+json"},
           {std::string(kPath) + "?linkType=linkset", "application/json"},
       }) {
    const std::string target = target_;
    const std::string accept = accept_;
    CAPTURE(target);
    CAPTURE(accept);
    node::Response res = r.Get(target, accept);
    REQUIRE(res.status == 200);
    CHECK(res.content_type == "application/linkset+json");
    CHECK(Header(res, "Access-Control-Allow-Origin") == "*");
    CHECK(Header(res, "Vary") == "Accept");
    const Struct doc = ParseStruct(res.body);
    REQUIRE(doc.fields().count("linkset") == 1);
    const auto& sets = doc.fields().at("linkset").list_value().values();
    REQUIRE(sets.size() == 1);
    const Struct& ctx = sets[0].struct_value();
    CHECK(ctx.fields().at("anchor").string_value() ==
          "https://id.maison.example/01/00614141000012/21/BAG-0001");
    auto targets = [&](const std::string& rel) {
      std::vector<std::pair<std::string, std::string>> out;  // (href, type)
      auto it = ctx.fields().find(rel);
      if (it == ctx.fields().end()) return out;
      for (const Value& v : it->second.list_value().values()) {
        const auto& f = v.struct_value().fields();
        CHECK(f.count("title") == 1);
        out.emplace_back(f.at("href").string_value(), f.at("type").string_value());
      }
      return out;
    };
    using Targets = std::vector<std::pair<std::string, std::string>>;
    CHECK(targets("https://gs1.org/voc/defaultLink") == Targets{{kPath, "text/html"}});
    CHECK(targets("https://gs1.org/voc/pip") == Targets{{kPath, "text/html"}});
    const std::string item = "/v1/items/01/00614141000012/21/BAG-0001";
    CHECK(targets("urn:hallmark:vocab:proof") ==
          Targets{{item + "/proof", "application/x-protobuf"},
                  {item + "/proof", "application/json"}});
    CHECK(targets("https://gs1.org/voc/epcis") ==
          Targets{{item + "/epcis", "application/ld+json"}});
    CHECK(targets("describedby") == Targets{{item, "application/json"}});
    CHECK(targets("https://gs1.org/voc/homepage") ==
          Targets{{"https://maison.example/about", "text/html"}});
    CHECK(ctx.fields().size() == 7);
    // Every href the node serves itself answers.
    for (const std::string& href : {item, item + "/proof", item + "/epcis"}) {
      CHECK(r.Get(href).status == 200);
    }
  }
  // The page's Digital Link is on the brand's resolver host.
  CHECK(ConfigOf(r.Get(kPath).body).digital_link() ==
        "https://id.maison.example/01/00614141000012/21/BAG-0001");
}

TEST_CASE("resolver: no brand link without a website, nor for an unregistered item") {
  Resolver r;
  LiveItem(r.chain, kMaisonItem, 1);
  for (std::string target : {std::string(kPath), std::string("/01/00614141000012/21/NEVER-9")}) {
    node::Response res = r.Get(target + "?linkType=linkset");
    REQUIRE(res.status == 200);
    const Struct doc = ParseStruct(res.body);
    const Struct& ctx = doc.fields().at("linkset").list_value().values(0).struct_value();
    CHECK(ctx.fields().count("https://gs1.org/voc/homepage") == 0);
    CHECK(ctx.fields().size() == 6);
    // And ?linkType=gs1:homepage falls back to the default link: the page.
    node::Response home = r.Get(target + "?linkType=gs1:homepage");
    CHECK(home.status == 200);
    CHECK(home.content_type == "text/html; charset=utf-8");
  }
}

TEST_CASE("resolver: a known link type redirects (307), its own and unknown ones give the page") {
  pb::Genesis g = TestGenesis();
  g.mutable_organizations(0)->set_website("https://maison.example/");
  Resolver r(g);
  LiveItem(r.chain, kMaisonItem, 2);
  const std::string item = "/v1/items/01/00614141000012/21/BAG-0001";
  for (const auto& [link_type_, location] : std::vector<std::pair<std::string, std::string>>{
           {"gs1:epcis", item + "/epcis"},
           {"https://gs1.org/voc/epcis", item + "/epcis"},
           {"https%3A%2F%2Fref.gs1.org%2Fvoc%2Fepcis", item + "/epcis"},
           {"hallmark:proof", item + "/proof"},
           {"describedby", item},
           {"gs1:homepage", "https://maison.example/"},
       }) {
    const std::string link_type = link_type_;
    CAPTURE(link_type);
    node::Response res = r.Get(std::string(kPath) + "?linkType=" + link_type);
    CHECK(res.status == 307);
    CHECK(Header(res, "Location") == location);
    CHECK(res.body.empty());
    CHECK(Header(res, "Cache-Control") == "no-store");
  }
  for (std::string link_type : {"gs1:pip", "gs1:defaultLink", "https://gs1.org/voc/pip",
                                "gs1:recipeInfo", "nonsense", "", "%3Cscript%3E"}) {
    CAPTURE(link_type);
    node::Response res = r.Get(std::string(kPath) + "?linkType=" + link_type, "application/json");
    CHECK(res.status == 200);
    CHECK(res.content_type ==
          (link_type.empty() ? "application/json" : "text/html; charset=utf-8"));
  }
}

TEST_CASE("resolver: an unregistered serial still gets the page (it proves the absence)") {
  Resolver r;
  LiveItem(r.chain, kMaisonItem, 1);
  node::Response res = r.Get("/01/00614141000012/21/NEVER-1");
  REQUIRE(res.status == 200);
  CheckPageHeaders(res);
  CHECK(ConfigOf(res.body).item_id() == "01/00614141000012/21/NEVER-1");
  node::Response json = r.Get("/01/00614141000012/21/NEVER-1", "application/json");
  REQUIRE(json.status == 200);
  pb::ItemResponse item;
  REQUIRE(core::FromJson(json.body, &item, "item").ok());
  CHECK(!item.registered());
  // The page's proof request answers with a proof of absence that checks out.
  node::Response proof =
      r.Get("/v1/items/01/00614141000012/21/NEVER-1/proof", "application/x-protobuf");
  REQUIRE(proof.status == 200);
  auto v = core::VerifyProofBundle(r.chain.network(), proof.body, "01/00614141000012/21/NEVER-1");
  REQUIRE(v.ok());
  CHECK(!v.item.state.has_value());
}

TEST_CASE("resolver: a malformed path gets a small 400 HTML page that says what is wrong") {
  Resolver r;
  LiveItem(r.chain, kMaisonItem, 1);
  struct Case {
    std::string target;
    std::string says;  // In the page, escaped.
  };
  for (const Case& c : std::vector<Case>{
           {"/01/00614141000013/21/BAG-0001", "check digit"},
           {"/01/00614141000012", "product, not an item"},
           {"/01/00614141000012/21/", "serial"},
           {"/01/00614141000012/21/" + std::string(21, 'A'), "20"},
           {"/01/00614141000012/21/A%00B", "serial"},
           {"/01/../21/X", "GTIN"},
           {"/01/00614141000012/21/../../v1/status", ""},
           {"/01/00614141000012/21/X?21=Y", "key qualifiers"},
           {"/gtin/" + std::string(600, '1') + "/21/X", ""},
           {"/01/00614141000012/21/%FF%FE", "serial"},
       }) {
    CAPTURE(c.target);
    node::Response res = r.Get(c.target);
    CHECK(res.status == 400);
    CHECK(res.content_type == "text/html; charset=utf-8");
    CHECK(res.body.starts_with("<!DOCTYPE html>"));
    CHECK(res.body.size() < 4096);
    CHECK(res.body.find("<script") == std::string::npos);
    CHECK(res.body.find(c.says) != std::string::npos);
    CHECK(Header(res, "X-Content-Type-Options") == "nosniff");
    CHECK(Header(res, "Content-Security-Policy").starts_with("default-src 'none'"));
    // A client asking for JSON gets the API's error instead.
    node::Response json = r.Get(c.target, "application/json");
    CHECK(json.status == 400);
    pb::ErrorResponse err;
    REQUIRE(core::FromJson(json.body, &err, "error").ok());
    CHECK(err.error().code() == "bad_item_id");
  }
}

TEST_CASE("resolver: markup in the path is escaped on the problem page") {
  Resolver r;
  const std::string target = "/01/00614141000012/21/<script>alert(1)</script>\"'&";
  node::Response res = r.Get(target);
  CHECK(res.status == 400);
  CHECK(res.body.find("<script>") == std::string::npos);
  CHECK(res.body.find("</script>") == std::string::npos);
  CHECK(res.body.find("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;") !=
        std::string::npos);
  // Percent-encoded markup stays encoded on the page.
  node::Response enc = r.Get("/01/00614141000012/21/%3Cscript%3Ealert(1)%3C%2Fscript%3E");
  CHECK(enc.status == 400);
  CHECK(enc.body.find("<script") == std::string::npos);
  // Control characters and invalid UTF-8 never reach the page raw.
  CHECK(node::HtmlEscape(std::string("a\x01\xff\xe2\x80\xa8<b")) == "a??\xe2\x80\xa8&lt;b");
}

TEST_CASE("resolver: the server's own limits turn away huge and deep paths, never a 500") {
  Resolver r;
  LiveItem(r.chain, kMaisonItem, 1);
  // Deeper than the router takes: 414 from the router.
  std::string deep = "/01/00614141000012/21";
  for (int i = 0; i < 70; ++i) deep += "/x";
  CHECK(r.Get(deep).status == 414);
  // A 1 MB path through a real server: refused by the header limit (431).
  TestServer server(std::move(r.router));
  TestClient client(server.port());
  // The server answers 431 and closes while the client may still be writing the megabyte: the
  // client then sees the connection reset before it reads the answer (about 1 run in 1,000 on
  // a loaded machine). Either way the request is turned away; what must never come is another
  // status.
  auto res = client.Request(Get("/01/00614141000012/21/" + std::string(1024 * 1024, 'A')));
  if (res) CHECK(res->result_int() == 431);
  // And the same server still answers a good one.
  TestClient good(server.port());
  auto ok = good.Request(Get(kPath));
  REQUIRE(ok);
  CHECK(ok->result_int() == 200);
  CHECK(std::string((*ok)[http::field::content_type]) == "text/html; charset=utf-8");
  // A bad percent-escape is the router's 400.
  TestClient bad(server.port());
  auto esc = bad.Request(Get("/01/00614141000012/21/%ZZ"));
  REQUIRE(esc);
  CHECK(esc->result_int() == 400);
}

TEST_CASE("genesis: the node's genesis in bytes (hash = the network's) and in JSON") {
  Resolver r;
  node::Response bin = r.Get("/v1/genesis", "application/x-protobuf");
  REQUIRE(bin.status == 200);
  CHECK(bin.content_type == "application/x-protobuf");
  CHECK(core::Sha256Of(std::string_view(bin.body)) == r.chain.network().hash());
  CHECK(Header(bin, "X-Hallmark-Genesis-Hash") == r.chain.network().hash().Hex());
  CHECK(Header(bin, "Access-Control-Allow-Origin") == "*");
  CHECK(Header(bin, "Access-Control-Expose-Headers").find("X-Hallmark-Genesis-Hash") !=
        std::string::npos);
  pb::Genesis parsed;
  REQUIRE(core::ParseCanonical(bin.body, &parsed, "genesis").ok());

  node::Response json = r.Get("/v1/genesis");
  REQUIRE(json.status == 200);
  CHECK(json.content_type == "application/json");
  CHECK(Header(json, "X-Hallmark-Genesis-Hash") == r.chain.network().hash().Hex());
  pb::Genesis from_json;
  REQUIRE(core::FromJson(json.body, &from_json, "genesis").ok());
  auto net = core::Network::FromProto(from_json);
  REQUIRE(net.ok());
  CHECK(net->hash() == r.chain.network().hash());
}

TEST_CASE("epcis: the route serves the item's EPCIS 2.0 document, checked first") {
  Resolver r;
  LiveItem(r.chain, kMaisonItem, 4);
  node::Response res = r.Get("/v1/items/01/00614141000012/21/BAG-0001/epcis");
  REQUIRE(res.status == 200);
  CHECK(res.content_type == "application/ld+json");
  CHECK(Header(res, "Access-Control-Allow-Origin") == "*");
  const Struct doc = ParseStruct(res.body);
  CHECK(doc.fields().at("type").string_value() == "EPCISDocument");
  const auto& events =
      doc.fields().at("epcisBody").struct_value().fields().at("eventList").list_value().values();
  CHECK(events.size() == 4);
  // The same document as core::EpcisDocumentJson makes from a verified bundle (but the time).
  auto v = core::VerifyProofBundle(r.chain.network(), r.chain.BundleBytes(kMaisonItem));
  REQUIRE(v.ok());
  const uint64_t created = 1'767'225'600'000;
  auto expected = core::EpcisDocumentJson(r.chain.network(), v.item, created);
  REQUIRE(expected.ok());
  Struct a = doc;
  Struct b = ParseStruct(*expected);
  a.mutable_fields()->erase("creationDate");
  b.mutable_fields()->erase("creationDate");
  CHECK(core::SerializeDeterministic(a) == core::SerializeDeterministic(b));
  // Any id form; unregistered and malformed ids are clear errors.
  CHECK(r.Get("/v1/items/(01)00614141000012(21)BAG-0001/epcis").status == 200);
  node::Response never = r.Get("/v1/items/01/00614141000012/21/NEVER/epcis");
  CHECK(never.status == 404);
  CHECK(never.body.find("not registered") != std::string::npos);
  node::Response bad = r.Get("/v1/items/01/00614141000013/21/X/epcis");
  CHECK(bad.status == 400);
  CHECK(bad.body.find("check digit") != std::string::npos);
}

TEST_CASE("epcis: before any certified block the route says so (503)") {
  Resolver r;
  node::Response res = r.Get("/v1/items/01/00614141000012/21/BAG-0001/epcis");
  CHECK(res.status == 503);
  CHECK(res.body.find("no_certified_header") != std::string::npos);
}

TEST_CASE("epcis: an item whose serial is 'epcis' is still readable, and exportable") {
  Resolver r;
  LiveItem(r.chain, "01/00614141000012/21/epcis", 2);
  node::Response item = r.Get("/v1/items/01/00614141000012/21/epcis", "application/x-protobuf");
  REQUIRE(item.status == 200);
  pb::ItemResponse ir;
  REQUIRE(ir.ParseFromString(item.body));
  CHECK(ir.item_id() == "01/00614141000012/21/epcis");
  CHECK(ir.registered());
  node::Response doc = r.Get("/v1/items/01/00614141000012/21/epcis/epcis");
  REQUIRE(doc.status == 200);
  CHECK(doc.content_type == "application/ld+json");
  CHECK(doc.body.find("00614141000012") != std::string::npos);
}

TEST_CASE("cors: public GETs allow any origin, OPTIONS answers the preflight, POSTs do not") {
  Resolver r;
  LiveItem(r.chain, kMaisonItem, 2);
  for (std::string_view target : {"/v1/items", "/v1/items/01/00614141000012/21/BAG-0001",
                                  "/v1/items/01/00614141000012/21/BAG-0001/proof",
                                  "/v1/items/01/00614141000012/21/BAG-0001/epcis", "/v1/genesis",
                                  "/v1/status", kPath, "/gtin/00614141000012/ser/BAG-0001"}) {
    CAPTURE(target);
    node::Response get = r.Get(target);
    CHECK(get.status == 200);
    CHECK(Header(get, "Access-Control-Allow-Origin") == "*");
    CHECK(HasHeader(get, "Access-Control-Expose-Headers"));
    node::Response options = r.Send(http::verb::options, target);
    CHECK(options.status == 204);
    CHECK(options.body.empty());
    CHECK(Header(options, "Access-Control-Allow-Origin") == "*");
    CHECK(Header(options, "Access-Control-Allow-Methods").find("GET") != std::string::npos);
    CHECK(Header(options, "Access-Control-Allow-Headers") == "Accept");
    CHECK(HasHeader(options, "Access-Control-Max-Age"));
  }
  // Errors are readable too, so a page can show them.
  CHECK(Header(r.Get("/v1/items/01/00614141000013/21/X"), "Access-Control-Allow-Origin") == "*");
  // Writes are for the network's own clients, never for a page on another origin.
  node::Response post = r.Send(http::verb::post, "/v1/items:check", "",
                               R"({"ids": ["01/00614141000012/21/BAG-0001"]})");
  CHECK(post.status == 200);
  CHECK(!HasHeader(post, "Access-Control-Allow-Origin"));
  node::Response submit = r.Send(http::verb::post, "/v1/records", "", R"({"payload": ""})");
  CHECK(!HasHeader(submit, "Access-Control-Allow-Origin"));
  CHECK(r.Send(http::verb::options, "/v1/items:check").status == 405);
  CHECK(r.Send(http::verb::options, "/v1/records").status == 405);
  CHECK(!HasHeader(r.Get("/v1/health"), "Access-Control-Allow-Origin"));
}

TEST_CASE("page: the config cannot end its script element, and the CSP hash is the script's") {
  pb::PageConfig config;
  const std::string hostile = "</script><script>alert(1)</script>\xe2\x80\xa8\xe2\x80\xa9<!--";
  config.add_nodes("https://node.example/" + hostile);
  config.set_item_id("01/00614141000012/21/" + hostile);
  config.set_digital_link("https://id.gs1.org/" + hostile);
  config.set_genesis(std::string("\x00\x01<>&", 5));
  const core::RenderedPage page = core::RenderItemPage(config);
  // The config element holds no byte that could end it, open a comment or end a JS line.
  const std::string open_config = "<script id=\"hallmark-config\" type=\"application/json\">";
  const size_t config_at = page.html.find(open_config);
  REQUIRE(config_at != std::string::npos);
  const size_t config_start = config_at + open_config.size();
  const size_t config_end = page.html.find("</script>", config_start);
  REQUIRE(config_end != std::string::npos);
  const std::string element = page.html.substr(config_start, config_end - config_start);
  CHECK(element.find_first_of("<>&") == std::string::npos);
  CHECK(element.find("\xe2\x80\xa8") == std::string::npos);
  CHECK(element.find("\xe2\x80\xa9") == std::string::npos);
  CHECK(element.find("\\u003c/script\\u003e") != std::string::npos);
  CHECK(element.find("\\u2028") != std::string::npos);
  CHECK(page.html.find("alert(1)</script>") == std::string::npos);
  // The page has exactly its two script elements: the config and the one script.
  auto count = [&](std::string_view needle) {
    size_t n = 0;
    for (size_t at = page.html.find(needle); at != std::string::npos;
         at = page.html.find(needle, at + 1)) {
      ++n;
    }
    return n;
  };
  CHECK(count("<script") == 2);
  CHECK(count("</script") == 2);
  // The config reads back exactly.
  const pb::PageConfig back = ConfigOf(page.html);
  CHECK(back.item_id() == config.item_id());
  CHECK(back.nodes(0) == config.nodes(0));
  CHECK(back.digital_link() == config.digital_link());
  CHECK(back.genesis() == config.genesis());
  // The one executable script is between the last <script> and its </script>; the CSP allows
  // exactly its SHA-256.
  const size_t open = page.html.rfind("<script>");
  REQUIRE(open != std::string::npos);
  const size_t start = open + std::string("<script>").size();
  const size_t end = page.html.find("</script>", start);
  REQUIRE(end != std::string::npos);
  const std::string script = page.html.substr(start, end - start);
  CHECK(script == std::string(core::VerifierJs()) + "\n" + std::string(core::PageJs()));
  const core::Hash256 digest = core::Sha256Of(std::string_view(script));
  pb::PageConfig b64;  // Protobuf's base64 of the digest, through the JSON mapping of bytes.
  b64.set_genesis(std::string(digest.view()));
  auto json = core::ToJson(b64, false);
  REQUIRE(json.ok());
  const std::string base64 = ParseStruct(*json).fields().at("genesis").string_value();
  CHECK(page.content_security_policy.find("script-src 'sha256-" + base64 + "'") !=
        std::string::npos);
  CHECK(page.html.find(page.content_security_policy) != std::string::npos);
}

}  // namespace hallmark::test

namespace hallmark::test {

TEST_CASE("resolver: Accept negotiation weighs, prefers the exact name, and never fails") {
  using node::NegotiateRepresentation;
  using node::Representation;
  CHECK(NegotiateRepresentation("") == Representation::kPage);
  CHECK(NegotiateRepresentation("*/*") == Representation::kPage);
  CHECK(NegotiateRepresentation("image/png") == Representation::kPage);
  CHECK(NegotiateRepresentation("application/*") == Representation::kItemJson);
  CHECK(NegotiateRepresentation("APPLICATION/JSON") == Representation::kItemJson);
  CHECK(NegotiateRepresentation("application/linkset+json") == Representation::kLinkset);
  CHECK(NegotiateRepresentation("application/json, application/linkset+json") ==
        Representation::kLinkset);
  CHECK(NegotiateRepresentation("application/linkset+json;q=0.5, application/json") ==
        Representation::kItemJson);
  CHECK(NegotiateRepresentation("text/*;q=0.3, application/json;q=0.4") ==
        Representation::kItemJson);
  CHECK(NegotiateRepresentation("text/html;q=0.3, text/*;q=0.9, application/json;q=0.4") ==
        Representation::kItemJson);
  CHECK(NegotiateRepresentation("application/json;q=nope") == Representation::kItemJson);
  CHECK(NegotiateRepresentation(",,;;,;q=,application/json;;q=2") == Representation::kItemJson);
  CHECK(NegotiateRepresentation(std::string(10000, ',')) == Representation::kPage);
}

}  // namespace hallmark::test

namespace hallmark::test {

TEST_CASE("resolver: HEAD gets the page's head (Content-Length as GET's) and no body") {
  Resolver r;
  LiveItem(r.chain, kMaisonItem, 1);
  const size_t page_bytes = r.Get(kPath).body.size();
  TestServer server(std::move(r.router));
  TestClient client(server.port());
  REQUIRE(client.connected());
  REQUIRE(client.Send("HEAD " + std::string(kPath) +
                      " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"));
  // Everything the server sends before it closes: the head and nothing after it.
  std::string received;
  boost::system::error_code ec;
  boost::asio::read(client.socket(), boost::asio::dynamic_buffer(received), ec);
  CHECK(ec == boost::asio::error::eof);
  const size_t end = received.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  CHECK(received.size() == end + 4);
  CHECK(received.starts_with("HTTP/1.1 200"));
  CHECK(received.find("Content-Length: " + std::to_string(page_bytes) + "\r\n") !=
        std::string::npos);
  CHECK(received.find("Content-Type: text/html; charset=utf-8\r\n") != std::string::npos);
  CHECK(received.find("Content-Security-Policy: ") != std::string::npos);
}

}  // namespace hallmark::test
