// GET /v1/items: the listing by brand, flag and time over the real router and a real ledger.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "core/codec.h"
#include "core/item_id.h"
#include "fixtures.h"
#include "node/api.h"
#include "node/http/content.h"
#include "proto/api.pb.h"
#include "test_util.h"

namespace hallmark::test {
namespace {

namespace http = boost::beast::http;

struct ListApi {
  TempDir dir;
  core::Network network = TestNetwork();
  std::unique_ptr<storage::Ledger> ledger =
      std::move(storage::Ledger::Open(dir.path(), network, {.sync = false}).value());
  node::Mempool mempool{network, ledger.get()};
  node::MetricsRegistry metrics;
  node::Router router;
  uint64_t time_ms = kTestTimeMs;
  std::map<std::string, std::string> prev;

  ListApi() {
    node::ApiContext ctx;
    ctx.network = &network;
    ctx.ledger = ledger.get();
    ctx.mempool = &mempool;
    ctx.metrics = &metrics;
    node::RegisterApiRoutes(router, ctx);
  }

  uint64_t Commit(std::vector<pb::Envelope> records) {
    time_ms += 1000;
    auto built = ledger->BuildBlock(records, time_ms, PubFor("validator-0"));
    REQUIRE(built.ok());
    REQUIRE(built->dropped.empty());
    REQUIRE(ledger->Commit(*built).ok());
    for (const auto& env : records) {
      pb::RecordPayload p;
      REQUIRE(p.ParseFromString(env.payload()));
      prev[p.item_id()] = Id(env);
    }
    return time_ms;
  }
  pb::Envelope Register(const std::string& id, const std::string& brand) {
    auto p = Payload(id);
    p.mutable_register_();
    return Sign(brand, p);
  }
  pb::Envelope Flag(const std::string& id, const std::string& brand, pb::FlagKind kind) {
    auto p = Payload(id, prev.at(id));
    p.mutable_flag()->set_kind(kind);
    return Sign(brand, p);
  }

  node::Response Get(std::string_view target, bool binary = false) {
    node::Request::Message msg{http::verb::get, target, 11};
    if (binary) msg.set(http::field::accept, "application/x-protobuf");
    node::Request req(std::move(msg));
    return router.Dispatch(req);
  }

  pb::ItemListResponse List(std::string_view target) {
    node::Response res = Get(target);
    INFO(target, " → ", res.body);
    REQUIRE(res.status == 200);
    pb::ItemListResponse out;
    REQUIRE(core::FromJson(res.body, &out, "answer").ok());
    return out;
  }

  // A 400 whose message holds `words`.
  void Refused(std::string_view target, std::string_view words) {
    node::Response res = Get(target);
    INFO(target, " → ", res.body);
    CHECK(res.status == 400);
    pb::ErrorResponse err;
    REQUIRE(core::FromJson(res.body, &err, "error").ok());
    CHECK(err.error().code() == "bad_request");
    CHECK(err.error().message().find(words) != std::string::npos);
  }
};

std::string Maison(int n) {
  return "01/00614141000012/21/L" + std::to_string(n);
}
std::string Atelier(int n) {
  return "01/01234567000015/21/L" + std::to_string(n);
}

}  // namespace

TEST_CASE("api: GET /v1/items lists by brand and flag, newest change first, with a cursor") {
  ListApi api;
  const uint64_t t1 =
      api.Commit({api.Register(Maison(1), "maison"), api.Register(Maison(2), "maison"),
                  api.Register(Atelier(3), "atelier")});
  const uint64_t t2 = api.Commit({api.Flag(Maison(1), "maison", pb::STOLEN)});

  pb::ItemListResponse all = api.List("/v1/items");
  CHECK(all.height() == 2);
  CHECK(all.head_time_ms() == t2);
  CHECK(all.next().empty());
  REQUIRE(all.items_size() == 3);
  const pb::ListedItem& first = all.items(0);
  CHECK(first.item_id() == Maison(1));
  CHECK(first.brand() == "maison");
  CHECK(first.custodian().organization() == "maison");
  CHECK(first.status() == "active");
  REQUIRE(first.flags_size() == 1);
  CHECK(first.flags(0) == "stolen");
  CHECK(first.updated_height() == 2);
  CHECK(first.updated_time_ms() == t2);
  CHECK(all.items(1).updated_time_ms() == t1);

  pb::ItemListResponse stolen = api.List("/v1/items?flag=stolen");
  REQUIRE(stolen.items_size() == 1);
  CHECK(stolen.items(0).item_id() == Maison(1));
  CHECK(api.List("/v1/items?brand=atelier&flag=stolen").items_size() == 0);
  CHECK(api.List("/v1/items?brand=maison&flag=stolen").items_size() == 1);
  CHECK(api.List("/v1/items?brand=atelier").items_size() == 1);
  // Unknown brand: an empty list, not an error.
  CHECK(api.List("/v1/items?brand=nobody").items_size() == 0);

  // Pages of one, following `next`.
  std::vector<std::string> paged;
  std::string target = "/v1/items?brand=maison&limit=1";
  for (int i = 0; i < 5; ++i) {
    pb::ItemListResponse page = api.List(target);
    for (const auto& item : page.items()) paged.push_back(item.item_id());
    if (page.next().empty()) break;
    target = "/v1/items?brand=maison&limit=1&after=" + page.next();
  }
  CHECK(paged == std::vector<std::string>{Maison(1), Maison(2)});

  // since: in milliseconds, as a date and in RFC 3339.
  CHECK(api.List("/v1/items?since=" + std::to_string(t2)).items_size() == 1);
  CHECK(api.List("/v1/items?since=" + std::to_string(t2 + 1)).items_size() == 0);
  CHECK(api.List("/v1/items?since=2023-11-14").items_size() == 3);  // kTestTimeMs' day.
  CHECK(api.List("/v1/items?since=2100-01-01T00:00:00Z").items_size() == 0);
  CHECK(api.List("/v1/items?since=2023-11-14T22:00:00%2B00:00").items_size() == 3);

  // Binary Protobuf too.
  node::Response bin = api.Get("/v1/items?flag=stolen", true);
  CHECK(bin.status == 200);
  pb::ItemListResponse parsed;
  REQUIRE(parsed.ParseFromString(bin.body));
  CHECK(parsed.items_size() == 1);
}

TEST_CASE("api: GET /v1/items refuses bad parameters with 400 and a clear message") {
  ListApi api;
  api.Refused("/v1/items?limit=0", "limit must be between 1 and 1000");
  api.Refused("/v1/items?limit=1001", "limit must be between 1 and 1000");
  api.Refused("/v1/items?limit=ten", "limit must be between 1 and 1000");
  api.Refused("/v1/items?limit=-1", "limit must be between 1 and 1000");
  api.Refused("/v1/items?flag=stole", "flag must be one of stolen, lost");
  api.Refused("/v1/items?flag=", "flag must be one of");
  api.Refused("/v1/items?flag=STOLEN", "flag must be one of");
  api.Refused("/v1/items?brand=", "brand must be an organisation id");
  api.Refused("/v1/items?brand=" + std::string(33, 'x'), "brand must be an organisation id");
  api.Refused("/v1/items?since=yesterday", "since: ");
  api.Refused("/v1/items?since=2026-02-30", "is not a time");
  api.Refused("/v1/items?since=99999999999999999999", "is not a time");
  api.Refused("/v1/items?since=1969-12-31", "is not a time");
  api.Refused("/v1/items?after=abc", "after must be a cursor");
  api.Refused("/v1/items?after=12.zz", "after must be a cursor");
  api.Refused("/v1/items?after=." + std::string(64, '0'), "after must be a cursor");
  api.Refused("/v1/items?after=%00%01", "after must be a cursor");
  // A good cursor of an item that does not exist is just a place in the order.
  CHECK(api.List("/v1/items?after=5." + std::string(64, 'a')).items_size() == 0);
  // Only GET.
  node::Request::Message msg{http::verb::delete_, "/v1/items", 11};
  node::Request req(std::move(msg));
  CHECK(api.router.Dispatch(req).status == 405);
}

TEST_CASE("api: GET /v1/items pages at most 1,000 items, 100 by default") {
  ListApi api;
  std::vector<pb::Envelope> regs;
  for (int i = 0; i < 1100; ++i) regs.push_back(api.Register(Maison(i), "maison"));
  api.Commit(std::vector<pb::Envelope>(regs.begin(), regs.begin() + 600));
  api.Commit(std::vector<pb::Envelope>(regs.begin() + 600, regs.end()));
  pb::ItemListResponse def = api.List("/v1/items");
  CHECK(def.items_size() == 100);
  CHECK_FALSE(def.next().empty());
  pb::ItemListResponse max = api.List("/v1/items?limit=1000");
  CHECK(max.items_size() == 1000);
  pb::ItemListResponse rest = api.List("/v1/items?limit=1000&after=" + max.next());
  CHECK(rest.items_size() == 100);
  CHECK(rest.next().empty());
  std::set<std::string> seen;
  for (const auto& i : max.items()) seen.insert(i.item_id());
  for (const auto& i : rest.items()) seen.insert(i.item_id());
  CHECK(seen.size() == 1100);
}

}  // namespace hallmark::test
