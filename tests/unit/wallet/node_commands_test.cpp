// The record commands, `show` and `check` against a fake node on loopback (fake_node.h): what
// they send, what they print, and their exit codes.
#include "wallet-cli/node_commands.h"

#include <doctest/doctest.h>
#include <google/protobuf/util/json_util.h>
#include <stdlib.h>

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <fstream>
#include <thread>
#include <utility>

#include "cli_runner.h"
#include "core/codec.h"
#include "fake_node.h"
#include "fixtures.h"
#include "test_util.h"
#include "wallet-cli/http_client.h"
#include "wallet-cli/node_client.h"
#include "wallet-cli/records.h"

using namespace hallmark;
using test::CliRun;
using test::FakeNode;
using test::RunCli;

namespace {

constexpr const char* kItem = test::kMaisonItem;  // 01/00614141000012/21/BAG-0001

// A fake node, the organisations' keys as development keystores, and shorthands for commands.
struct Fixture {
  FakeNode node;
  test::TempDir dir;
  std::string maison = test::WriteDevKey(dir.path(), "maison");
  std::string resale = test::WriteDevKey(dir.path(), "resale");
  std::string authlab = test::WriteDevKey(dir.path(), "authlab");
  std::string repairco = test::WriteDevKey(dir.path(), "repairco");
  std::string alice = test::WriteDevKey(dir.path(), "alice");

  Fixture() { ::unsetenv(wallet::kNodeEnvVar); }

  CliRun Run(std::vector<std::string> args, const std::string& stdin_text = "") {
    args.insert(args.begin(), {"--node", node.url()});
    return RunCli(std::move(args), stdin_text);
  }
  CliRun Write(const std::string& command, const std::string& key, const std::string& item,
               std::vector<std::string> more = {}) {
    std::vector<std::string> args = {command, "--key", key, "--item", item, "--timeout", "10"};
    args.insert(args.end(), more.begin(), more.end());
    return Run(std::move(args));
  }
  CliRun Register(const std::string& item = kItem, std::vector<std::string> more = {}) {
    return Write("register", maison, item, std::move(more));
  }
  pb::RecordPayload LastPayload() {
    const std::vector<pb::Envelope> sent = node.submitted();
    REQUIRE_FALSE(sent.empty());
    pb::RecordPayload p;
    REQUIRE(p.ParseFromString(sent.back().payload()));
    return p;
  }
  std::string LastRecordId() { return wallet::RecordIdOf(node.submitted().back()).Hex(); }
};

template <typename T>
T ParseJsonLine(const std::string& text) {
  T msg;
  REQUIRE_MESSAGE(!text.empty(), "no output");
  CHECK(text.back() == '\n');
  CHECK(text.find('\n') == text.size() - 1);  // One line.
  const auto st = google::protobuf::util::JsonStringToMessage(text, &msg);
  REQUIRE_MESSAGE(st.ok(), st.ToString() << " in " << text);
  return msg;
}

// A port on which nothing listens: bound once to learn a free number, then closed.
uint16_t ClosedPort() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const uint16_t port = a.local_endpoint().port();
  a.close();
  return port;
}

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("cli register: posts a correctly signed envelope and waits for commit") {
  Fixture f;
  f.node.SetPollsBeforeCommit(2);
  const uint64_t before = wallet::NowMs();
  CliRun r = f.Register("https://id.gs1.org/01/00614141000012/21/BAG-0001",
                        {"--attr", "model=Speedy 30", "--attr", "colour=brown"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.err.empty());

  const std::vector<pb::Envelope> sent = f.node.submitted();
  REQUIRE(sent.size() == 1);
  const pb::Envelope& env = sent[0];
  CHECK(env.signer() == std::string(test::PubFor("maison").view()));
  CHECK(core::VerifySignature(core::AsSpan(env.signer()), core::AsSpan(env.payload()),
                              core::AsSpan(env.signature())) == core::SigVerdict::kValid);
  pb::RecordPayload p = f.LastPayload();
  CHECK(p.chain_id() == "hallmark-test");  // From GET /v1/status.
  CHECK(p.item_id() == kItem);             // Canonical, whatever form was typed.
  CHECK(p.prev().empty());
  CHECK(p.timestamp_ms() >= before);
  CHECK(p.timestamp_ms() <= wallet::NowMs());
  REQUIRE(p.register_().attributes_size() == 2);
  CHECK(p.register_().attributes(0).key() == "model");
  CHECK(p.register_().attributes(0).value() == "Speedy 30");

  // Two pending answers, then the commit.
  CHECK(f.node.RequestsTo("GET", "/v1/records/").size() == 3);
  const std::string id = wallet::RecordIdOf(env).Hex();
  CHECK(Contains(r.out, "record  " + id + "\n"));
  CHECK(Contains(r.out, "status  committed\n"));
  CHECK(Contains(r.out, "height  11\n"));
}

TEST_CASE("cli register: a JSON submission as the API's mapping, over one kept-alive connection") {
  Fixture f;
  f.node.SetPollsBeforeCommit(1);
  REQUIRE(f.Register().code == 0);
  const auto posts = f.node.RequestsTo("POST", "/v1/records");
  REQUIRE(posts.size() == 1);
  CHECK(posts[0].content_type == "application/json");
  pb::Envelope parsed;
  CHECK(core::FromJson(posts[0].body, &parsed, "envelope").ok());  // Strict: no unknown fields.
  // status, item, submit and two polls, all on the same connection.
  CHECK(f.node.requests().size() == 5);
  CHECK(f.node.connections() == 1);
}

TEST_CASE("cli transfer: fills prev from the item's latest record") {
  Fixture f;
  REQUIRE(f.Register().code == 0);
  const std::string registration = std::string(wallet::RecordIdOf(f.node.submitted()[0]).view());

  CliRun t = f.Write("transfer", f.maison, kItem, {"--to", "resale"});
  INFO(t.err);
  REQUIRE(t.code == 0);
  pb::RecordPayload p = f.LastPayload();
  CHECK(p.prev() == registration);
  CHECK(p.transfer().to().organization() == "resale");
  const std::string first_transfer = std::string(wallet::RecordIdOf(f.node.submitted()[1]).view());

  // To a consumer's key, as `hallmark keygen` prints it.
  const std::string alice_hex = test::PubFor("alice").Hex();
  CliRun t2 = f.Write("transfer", f.resale, kItem, {"--to", alice_hex});
  INFO(t2.err);
  REQUIRE(t2.code == 0);
  p = f.LastPayload();
  CHECK(p.prev() == first_transfer);
  CHECK(p.transfer().to().holder_key() == std::string(test::PubFor("alice").view()));
}

TEST_CASE("cli: every record type through its command, committed by the custody rules") {
  Fixture f;
  test::TempDir docs;
  const auto cert = docs.path() / "cert.pdf";
  std::ofstream(cert) << "certificate";
  REQUIRE(
      f.Register(kItem, {"--doc", "certificate=" + cert.string(), "--custodian", "resale"}).code ==
      0);
  pb::RecordPayload p = f.LastPayload();
  CHECK(p.register_().documents(0).name() == "certificate");
  CHECK(p.register_().documents(0).sha256() ==
        std::string(core::Sha256Of(std::string_view("certificate")).view()));
  CHECK(p.register_().custodian().organization() == "resale");

  CliRun a =
      f.Write("attest", f.authlab, kItem, {"--verdict", "genuine", "--note", "stitching ok"});
  REQUIRE_MESSAGE(a.code == 0, a.err);
  p = f.LastPayload();
  CHECK(p.attest().verdict() == pb::GENUINE);
  CHECK(p.attest().note() == "stitching ok");

  CliRun fl = f.Write("flag", f.resale, kItem, {"--reason", "lost", "--note", "warehouse"});
  REQUIRE_MESSAGE(fl.code == 0, fl.err);
  p = f.LastPayload();
  CHECK(p.flag().kind() == pb::LOST);
  CHECK(p.flag().note() == "warehouse");

  CliRun cl = f.Write("clear-flag", f.resale, kItem, {"--kind", "lost", "--note", "found"});
  REQUIRE_MESSAGE(cl.code == 0, cl.err);
  p = f.LastPayload();
  CHECK(std::as_const(p).clear_flag().kind() == pb::LOST);

  CliRun sv =
      f.Write("service", f.repairco, kItem, {"--kind", "refurbishment", "--note", "lining"});
  REQUIRE_MESSAGE(sv.code == 0, sv.err);
  p = f.LastPayload();
  CHECK(p.service().kind() == pb::REFURBISHMENT);
  CHECK(p.service().note() == "lining");

  const std::string alice_hex = test::PubFor("alice").Hex();
  REQUIRE(f.Write("transfer", f.resale, kItem, {"--to", alice_hex}).code == 0);
  const std::string bob_hex = test::PubFor("bob").Hex();
  CliRun re = f.Write("reassign", f.maison, kItem, {"--to", bob_hex, "--reason", "lost phone"});
  REQUIRE_MESSAGE(re.code == 0, re.err);
  p = f.LastPayload();
  CHECK(p.reassign().new_holder_key() == std::string(test::PubFor("bob").view()));
  CHECK(p.reassign().reason() == "lost phone");

  CliRun d = f.Write("decommission", f.maison, kItem, {"--reason", "water damage"});
  REQUIRE_MESSAGE(d.code == 0, d.err);
  p = f.LastPayload();
  CHECK(p.decommission().kind() == pb::DESTROYED);  // The default.
  CHECK(p.decommission().reason() == "water damage");

  // Every record continued the chain: each prev is the record before it.
  const auto sent = f.node.submitted();
  REQUIRE(sent.size() == 8);
  for (size_t i = 1; i < sent.size(); ++i) {
    pb::RecordPayload cur;
    REQUIRE(cur.ParseFromString(sent[i].payload()));
    CHECK(cur.prev() == std::string(wallet::RecordIdOf(sent[i - 1]).view()));
  }
}

TEST_CASE("cli write: the node's refusal is printed as the node worded it, exit 2") {
  Fixture f;
  REQUIRE(f.Register().code == 0);
  const std::string message = "prev 1234abcd… is not the latest record of " + std::string(kItem);
  f.node.SetOverride([&](const FakeNode::Request& r) -> std::optional<FakeNode::Response> {
    if (r.method == "POST") return FakeNode::Error(400, "stale_prev", message);
    return std::nullopt;
  });
  CliRun t = f.Write("transfer", f.maison, kItem, {"--to", "resale"});
  CHECK(t.code == 2);
  CHECK(t.out.empty());
  CHECK(t.err == "hallmark transfer: the node refused the record: stale_prev: " + message + "\n");

  CliRun j = f.Write("transfer", f.maison, kItem, {"--to", "resale", "--json"});
  CHECK(j.code == 2);
  const auto e = ParseJsonLine<pb::ErrorResponse>(j.out);
  CHECK(e.error().code() == "stale_prev");
  CHECK(e.error().message() == message);
}

TEST_CASE("cli write: a rejection at commit is printed with the node's code, exit 2") {
  Fixture f;
  REQUIRE(f.Register().code == 0);
  // resale is not the custodian: the node takes the record, then the rules refuse it.
  CliRun t = f.Write("transfer", f.resale, kItem, {"--to", "authlab"});
  CHECK(t.code == 2);
  CHECK(Contains(t.out, "status  rejected"));
  CHECK(Contains(t.err, "was rejected: not_authorized: only the current custodian"));
}

TEST_CASE("cli write: an unregistered item is reported without submitting anything") {
  Fixture f;
  CliRun t = f.Write("flag", f.maison, kItem, {"--reason", "stolen"});
  CHECK(t.code == 2);
  CHECK(Contains(t.err, "not_registered: item " + std::string(kItem) + " is not registered"));
  CHECK(f.node.submitted().empty());

  REQUIRE(f.Register().code == 0);
  CliRun again = f.Register();
  CHECK(again.code == 2);
  CHECK(Contains(again.err, "already_registered"));
}

TEST_CASE("cli write: --no-wait returns once the node has accepted the record") {
  Fixture f;
  f.node.SetPollsBeforeCommit(1'000'000);
  CliRun r = f.Register(kItem, {"--no-wait"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(Contains(r.out, "record  " + f.LastRecordId()));
  CHECK(Contains(r.out, "status  pending"));
  CHECK(f.node.RequestsTo("GET", "/v1/records/").empty());

  CliRun j =
      f.Write("register", f.maison, "01/00614141000012/21/BAG-0002", {"--no-wait", "--json"});
  REQUIRE(j.code == 0);
  const auto s = ParseJsonLine<pb::SubmitResponse>(j.out);
  CHECK(s.status() == "pending");
  CHECK(s.record_id() == f.LastRecordId());
}

TEST_CASE("cli write: --json prints the RecordStatusResponse of the commit") {
  Fixture f;
  CliRun r = f.Register(kItem, {"--json"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const auto s = ParseJsonLine<pb::RecordStatusResponse>(r.out);
  CHECK(s.status() == "committed");
  CHECK(s.record_id() == f.LastRecordId());
  CHECK(s.height() == 11);
  CHECK(s.item_id() == kItem);
}

TEST_CASE("cli write: still pending when --timeout runs out exits 4 with the record id") {
  Fixture f;
  f.node.SetPollsBeforeCommit(1'000'000);
  const auto start = std::chrono::steady_clock::now();
  CliRun r = f.Run({"register", "--key", f.maison, "--item", kItem, "--timeout", "0.4"});
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(r.code == 4);
  CHECK(Contains(r.out, "record  " + f.LastRecordId()));
  CHECK(Contains(r.out, "status  pending"));
  CHECK(Contains(r.err, "is still pending after 0.4 s; it may still commit"));
  CHECK(elapsed < std::chrono::seconds(3));
  // Backoff: 50, 100, 200 ms … so a 0.4 s wait polls only a few times.
  CHECK(f.node.RequestsTo("GET", "/v1/records/").size() <= 5);
}

TEST_CASE("cli write: a busy node is offered the record again until it takes it") {
  Fixture f;
  int refusals = 1;
  f.node.SetOverride([&](const FakeNode::Request& r) -> std::optional<FakeNode::Response> {
    if (r.method == "POST" && refusals > 0) {
      --refusals;
      FakeNode::Response busy = FakeNode::Error(429, "mempool_full", "the mempool is full");
      busy.retry_after_s = 0;
      return busy;
    }
    return std::nullopt;
  });
  CliRun r = f.Register();
  CHECK_MESSAGE(r.code == 0, r.err);
  CHECK(f.node.RequestsTo("POST", "/v1/records").size() == 2);

  // Busy for longer than --timeout: a network-class failure (3) with the node's words.
  f.node.SetOverride([](const FakeNode::Request& r) -> std::optional<FakeNode::Response> {
    if (r.method == "POST") return FakeNode::Error(503, "not_ready", "the node is syncing");
    return std::nullopt;
  });
  CliRun busy = f.Run(
      {"register", "--key", f.maison, "--item", "01/00614141000012/21/B-2", "--timeout", "0.5"});
  CHECK(busy.code == 3);
  CHECK(Contains(busy.err,
                 "the node is busy (HTTP 503) and refused the record: not_ready: the node is "
                 "syncing; try again later"));
}

TEST_CASE("cli: an unreachable node is a clear error, exit 3") {
  const std::string url = "http://127.0.0.1:" + std::to_string(ClosedPort());
  CliRun r = RunCli({"--node", url, "show", kItem});
  CHECK(r.code == 3);
  CHECK(r.err == "hallmark show: cannot reach node at " + url + ": connection refused\n");
}

TEST_CASE("cli: HALLMARK_NODE names the node when --node is absent") {
  Fixture f;
  REQUIRE(::setenv(wallet::kNodeEnvVar, f.node.url().c_str(), 1) == 0);
  CliRun r = RunCli({"show", kItem});
  ::unsetenv(wallet::kNodeEnvVar);
  CHECK(r.code == 0);
  CHECK(f.node.RequestsTo("GET", "/v1/items/").size() == 1);
  CHECK(wallet::ResolveNodeUrl("") == wallet::kDefaultNodeUrl);
  CHECK(wallet::ResolveNodeUrl("http://x:1") == "http://x:1");
}

TEST_CASE("cli write: --genesis checks organisations and rules locally, before sending") {
  Fixture f;
  const auto genesis = f.dir.path() / "genesis.json";
  std::ofstream(genesis) << core::ToJson(test::TestGenesis()).value();
  REQUIRE(f.Register().code == 0);
  f.node.ClearRequests();

  CliRun unknown =
      f.Write("transfer", f.maison, kItem, {"--to", "lux-resale", "--genesis", genesis.string()});
  CHECK(unknown.code == 2);
  CHECK(Contains(unknown.err,
                 "--to: the genesis has no organisation \"lux-resale\" (it has "
                 "maison, atelier, resale, authlab, repairco)"));
  CHECK(f.node.requests().empty());

  CliRun not_custodian =
      f.Write("transfer", f.resale, kItem, {"--to", "authlab", "--genesis", genesis.string()});
  CHECK(not_custodian.code == 2);
  CHECK(Contains(not_custodian.err, "not_authorized: only the current custodian"));
  CHECK(Contains(not_custodian.err, "(checked against " + genesis.string() + ")"));
  CHECK(f.node.RequestsTo("POST", "/v1/records").empty());

  CliRun ok =
      f.Write("transfer", f.maison, kItem, {"--to", "resale", "--genesis", genesis.string()});
  CHECK_MESSAGE(ok.code == 0, ok.err);
}

TEST_CASE("cli show: the item's state and its chain of custody as a table") {
  Fixture f;
  REQUIRE(f.Register(kItem, {"--attr", "model=Speedy 30"}).code == 0);
  REQUIRE(f.Write("transfer", f.maison, kItem, {"--to", "resale"}).code == 0);
  REQUIRE(
      f.Write("flag", f.resale, kItem, {"--reason", "stolen", "--note", "shop break-in"}).code ==
      0);

  CliRun s = f.Run({"show", "(01)00614141000012(21)BAG-0001"});
  INFO(s.out);
  REQUIRE(s.code == 0);
  CHECK(Contains(s.out, "item          01/00614141000012/21/BAG-0001\n"));
  CHECK(Contains(s.out, "brand         maison\n"));
  CHECK(Contains(s.out, "status        active\n"));
  CHECK(Contains(s.out, "custodian     resale\n"));
  CHECK(Contains(s.out, "flags         stolen (set by resale): shop break-in\n"));
  CHECK(Contains(s.out, "attributes    model = Speedy 30\n"));
  CHECK(Contains(s.out, "chain of custody"));
  // One row per record, oldest first, with the step each made.
  const size_t reg = s.out.find("register");
  const size_t xfer = s.out.find("transfer", reg);
  const size_t flag = s.out.find("flag ", xfer);
  CHECK(reg != std::string::npos);
  CHECK(xfer != std::string::npos);
  CHECK(flag != std::string::npos);
  CHECK(Contains(s.out, "→ maison (1 attribute)"));
  CHECK(Contains(s.out, "→ resale"));
  CHECK(Contains(s.out, "flag stolen: shop break-in"));

  CliRun j = f.Run({"show", kItem, "--json"});
  REQUIRE(j.code == 0);
  const auto item = ParseJsonLine<pb::ItemResponse>(j.out);
  CHECK(item.registered());
  CHECK(item.history_size() == 3);
  CHECK(item.state().custodian().organization() == "resale");

  CliRun none = f.Run({"show", "01/00614141000012/21/NEVER"});
  CHECK(none.code == 0);
  CHECK(Contains(none.out, "not registered"));
  CHECK(f.Run({"show", "not-an-id"}).code == 2);
}

TEST_CASE("cli check: clean items from standard input exit 0") {
  Fixture f;
  REQUIRE(f.Register().code == 0);
  REQUIRE(f.Register("01/00614141000012/21/BAG-0002").code == 0);
  CliRun c = f.Run({"check"}, std::string(kItem) + "\n  (01)00614141000012(21)BAG-0002\r\n\n");
  INFO(c.out, c.err);
  CHECK(c.code == 0);
  CHECK(Contains(c.out, "ok      01/00614141000012/21/BAG-0001"));
  CHECK(Contains(c.out, "2 checked: 2 clean, 0 not clean, 0 invalid (as of height 12)"));
  const auto checks = f.node.RequestsTo("POST", "/v1/items:check");
  REQUIRE(checks.size() == 1);
}

TEST_CASE("cli check: an unregistered or flagged item exits 1, an invalid id exits 2") {
  Fixture f;
  REQUIRE(f.Register().code == 0);
  REQUIRE(f.Write("flag", f.maison, kItem, {"--reason", "counterfeit-suspected"}).code == 0);
  CliRun flagged = f.Run({"check", kItem});
  CHECK(flagged.code == 1);
  CHECK(Contains(flagged.out, "FLAGGED"));
  CHECK(Contains(flagged.out, "counterfeit-suspected"));

  CliRun unregistered = f.Run({"check", "01/00614141000012/21/NEVER"});
  CHECK(unregistered.code == 1);
  CHECK(Contains(unregistered.out, "UNREGISTERED"));

  CliRun invalid = f.Run({"check", "01/00614141000012/21/NEVER", "(01)123"});
  CHECK(invalid.code == 2);
  CHECK(Contains(invalid.out, "INVALID"));

  // --json: the API's CheckResponse, with each input as it was given.
  CliRun j = f.Run({"check", "--json"}, "(01)00614141000012(21)BAG-0001\nbad id\n");
  CHECK(j.code == 2);
  const auto response = ParseJsonLine<pb::CheckResponse>(j.out);
  REQUIRE(response.results_size() == 2);
  CHECK(response.results(0).input() == "(01)00614141000012(21)BAG-0001");
  CHECK(response.results(0).item_id() == kItem);
  CHECK(response.results(0).flags(0) == "counterfeit-suspected");
  CHECK(response.results(1).status() == "invalid");
  CHECK(response.results(1).error().code() == "bad_item_id");
}

TEST_CASE("cli check: ids go to the node in batches of at most 1,000") {
  Fixture f;
  std::string input;
  for (int i = 0; i < 1'001; ++i) input += "01/00614141000012/21/S" + std::to_string(i) + "\n";
  CliRun c = f.Run({"check", "--json"}, input);
  CHECK(c.code == 1);  // None is registered.
  const auto batches = f.node.RequestsTo("POST", "/v1/items:check");
  REQUIRE(batches.size() == 2);
  pb::CheckRequest first, second;
  REQUIRE(core::FromJson(batches[0].body, &first, "check").ok());
  REQUIRE(core::FromJson(batches[1].body, &second, "check").ok());
  CHECK(first.ids_size() == 1'000);
  CHECK(second.ids_size() == 1);
  CHECK(ParseJsonLine<pb::CheckResponse>(c.out).results_size() == 1'001);
  CHECK(f.node.connections() == 1);
}

TEST_CASE("cli: a node answer that is not the API's is a clear error, exit 3") {
  Fixture f;
  f.node.SetOverride([](const FakeNode::Request&) -> std::optional<FakeNode::Response> {
    return FakeNode::Response{502, "<html>Bad Gateway</html>", std::nullopt, false};
  });
  CliRun r = f.Run({"show", kItem});
  CHECK(r.code == 3);
  CHECK(Contains(r.err, "http_502: node at " + f.node.url() + " answered HTTP 502: <html>"));
}

TEST_CASE("http client: a connection the node closed while idle is replaced on the next request") {
  FakeNode node;
  node.SetOverride([](const FakeNode::Request&) -> std::optional<FakeNode::Response> {
    pb::StatusResponse s;
    s.set_chain_id("hallmark-test");
    FakeNode::Response r = FakeNode::Json(200, s);
    r.close_after = true;
    return r;
  });
  wallet::HttpClient http(wallet::ParseNodeUrl(node.url()).value());
  for (int i = 0; i < 3; ++i) {
    core::Result<wallet::HttpResponse> r = http.Get("/v1/status");
    REQUIRE_MESSAGE(r.ok(), r.status().message());
    CHECK(r->status == 200);
    CHECK(Contains(r->body, "hallmark-test"));
  }
  CHECK(http.connections_opened() == 3);
  CHECK(node.connections() == 3);
}

TEST_CASE("http client: a node that does not answer in time is a clear error") {
  FakeNode node;
  node.SetOverride([](const FakeNode::Request&) -> std::optional<FakeNode::Response> {
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    return std::nullopt;
  });
  wallet::HttpClientOptions options;
  options.request_timeout_ms = 200;
  wallet::HttpClient http(wallet::ParseNodeUrl(node.url()).value(), options);
  const auto start = std::chrono::steady_clock::now();
  core::Result<wallet::HttpResponse> r = http.Get("/v1/status");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(700));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == core::StatusCode::kIoError);
  CHECK(r.status().message() == "node at " + node.url() + " did not answer within 0.2 s");
}

TEST_CASE("node client: records and checks can travel as binary Protobuf") {
  FakeNode node;
  wallet::NodeClient client(wallet::HttpClient(wallet::ParseNodeUrl(node.url()).value()),
                            wallet::WireFormat::kProtobuf);
  auto status = client.GetStatus();
  REQUIRE(status.ok());
  wallet::PayloadHeader h;
  h.chain_id = status->chain_id();
  h.item = core::ParseItemId(kItem).value();
  h.timestamp_ms = wallet::NowMs();
  const pb::Envelope env =
      wallet::SignEnvelope(test::KeyFor("maison"), wallet::BuildPayload(h, pb::Register()));
  auto submitted = client.Submit(env);
  REQUIRE(submitted.ok());
  CHECK(submitted->record_id() == wallet::RecordIdOf(env).Hex());
  CHECK(node.RequestsTo("POST", "/v1/records")[0].content_type == "application/x-protobuf");
  auto committed = client.GetRecord(wallet::RecordIdOf(env));
  REQUIRE(committed.ok());
  CHECK(committed->status() == "committed");
  auto checked = client.Check({kItem});
  REQUIRE(checked.ok());
  CHECK(checked->results(0).registered());
}

TEST_CASE("cli check: answers from a head older than --max-age are stale and never exit 0") {
  Fixture f;
  REQUIRE(f.Register().code == 0);
  // A node that stopped following the chain ten minutes ago.
  f.node.SetHeadTimeMs(wallet::NowMs() - 10 * 60'000);
  CliRun stale = f.Run({"check", kItem});
  INFO(stale.out, stale.err);
  CHECK(stale.code == 1);
  CHECK(Contains(stale.out, "ok      01/00614141000012/21/BAG-0001"));
  CHECK(Contains(stale.out, "STALE: the node's answers are as of block"));
  CHECK(Contains(stale.out, "older than the limit of 3 min 30 s"));
  const auto j = ParseJsonLine<pb::CheckResponse>(f.Run({"check", "--json", kItem}).out);
  CHECK(j.stale());
  CHECK(j.age_ms() >= 10 * 60'000);
  // A wider limit accepts it; a fresh head is fine by default.
  CHECK(f.Run({"check", "--max-age", "20m", kItem}).code == 0);
  f.node.SetHeadTimeMs(wallet::NowMs() - 5'000);
  CliRun fresh = f.Run({"check", kItem});
  CHECK(fresh.code == 0);
  CHECK_FALSE(Contains(fresh.out, "STALE"));
  CHECK(f.Run({"check", "--max-age", "nonsense", kItem}).code == 3);
  CHECK(f.Run({"check", "--max-age", "0s", kItem}).code == 3);
  // A node that does not report its head time is not trusted to be current.
  f.node.SetHeadTimeMs(0);
  CliRun unknown = f.Run({"check", kItem});
  CHECK(unknown.code == 1);
  CHECK(Contains(unknown.out, "did not say how recent its answers are"));
}
