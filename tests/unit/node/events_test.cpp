// The event feed's unit (node/events.h) against a real ledger in a temporary folder and a
// socketless StreamSink: query parsing, the events a block yields, filters, resuming, the move
// from catch-up to live, bounded queues and the watcher limit.
#include <doctest/doctest.h>

#include <atomic>
#include <set>
#include <thread>

#include "core/codec.h"
#include "events_sink.h"
#include "node/events.h"
#include "proof_fixture.h"

namespace hallmark::test {
namespace {

using node::EventHub;
using node::EventPlace;
using node::kWholeBlock;

// A registration by the brand (an empty Register body: custodian the brand).
pb::RecordPayload Reg(std::string_view item) {
  pb::RecordPayload p = Payload(item);
  p.mutable_register_();
  return p;
}

std::string Serial(int n) {
  return "01/00614141000012/21/S-" + std::to_string(n);
}

// A chain with an item's life in it: block 1 registers item A (maison), block 2 transfers it to
// resale, block 3 holds resale's attest and a stolen flag set by resale, block 4 registers an
// atelier item, block 5 clears the flag.
struct FeedChain {
  ProvenChain chain;
  std::vector<pb::Envelope> a;
  FeedChain() {
    a.push_back(chain.CommitOne("maison", Reg(kMaisonItem)));
    pb::RecordPayload t = Payload(kMaisonItem, Id(a.back()));
    *t.mutable_transfer()->mutable_to() = OrgHolder("resale");
    a.push_back(chain.CommitOne("maison", t));
    pb::RecordPayload at = Payload(kMaisonItem, Id(a.back()));
    at.mutable_attest()->set_verdict(pb::GENUINE);
    at.mutable_attest()->set_note("checked");
    pb::Envelope attest = Sign("resale", at);
    pb::RecordPayload fl = Payload(kMaisonItem, Id(attest));
    fl.mutable_flag()->set_kind(pb::STOLEN);
    fl.mutable_flag()->set_note("shop break-in");
    pb::Envelope flag = Sign("resale", fl);
    chain.Commit({attest, flag});
    a.push_back(attest);
    a.push_back(flag);
    chain.CommitOne("atelier", Reg(kAtelierItem));
    pb::RecordPayload cl = Payload(kMaisonItem, Id(flag));
    cl.mutable_clear_flag()->set_kind(pb::STOLEN);
    a.push_back(chain.CommitOne("resale", cl));
  }
};

// Registers `n` maison items in one block each, numbered from `first`.
void RegisterItems(ProvenChain& chain, int first, int n, int per_block = 1) {
  for (int i = 0; i < n; i += per_block) {
    std::vector<pb::Envelope> block;
    for (int j = i; j < std::min(n, i + per_block); ++j) {
      block.push_back(Sign("maison", Reg(Serial(first + j))));
    }
    chain.Commit(block);
  }
}

std::vector<std::string> Ids(const std::vector<SseEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) {
    if (!e.id.empty()) out.push_back(e.id);
  }
  return out;
}

// Every record's id from block `from` + 1 to the head, in order.
std::vector<std::string> ChainIds(const storage::Ledger& ledger, uint64_t from = 0) {
  std::vector<std::string> out;
  for (uint64_t h = from + 1; h <= ledger.height(); ++h) {
    auto events = node::ReadBlockEvents(ledger, h);
    REQUIRE(events.ok());
    for (const auto& e : *events) out.push_back(node::EventId(e.height(), e.position()));
  }
  return out;
}

node::EventHubOptions FastOptions() {
  node::EventHubOptions o;
  o.heartbeat_ms = 60'000;
  o.stall_ms_max = 200;
  return o;
}

struct Watch {
  std::shared_ptr<FakeSink> sink;
  std::shared_ptr<EventHub::Feed> feed;
};

Watch Open(EventHub& hub, node::EventFilter filter, std::optional<EventPlace> after,
           size_t queue = 256 * 1024, bool drains = true) {
  Watch w;
  w.sink = std::make_shared<FakeSink>(queue + 64 * 1024, drains);
  w.feed = hub.Open(std::move(filter), after);
  REQUIRE(w.feed);
  hub.Attach(w.feed, w.sink);
  return w;
}

bool HasCaughtUp(const FakeSink& sink) {
  for (const auto& e : ParseSse(sink.received())) {
    if (e.event == "caught_up") return true;
  }
  return false;
}

}  // namespace

TEST_CASE("events query: filters, repeated and comma-separated types, since") {
  auto q = node::ParseEventsQuery(
      "brand=maison&item=(01)00614141000012(21)BAG-0001&type=flag,clear_flag&type=transfer&"
      "flag=stolen&flag=counterfeit-suspected&since=42");
  REQUIRE(q.ok());
  CHECK(q->filter.brand == "maison");
  CHECK(q->filter.item_id == kMaisonItem);
  CHECK(q->filter.types == std::vector<std::string>{"flag", "clear_flag", "transfer"});
  CHECK(q->filter.flags == std::vector<std::string>{"stolen", "counterfeit-suspected"});
  REQUIRE(q->since.has_value());
  CHECK(*q->since == 42);

  // A percent-encoded Digital Link as the item.
  auto dl =
      node::ParseEventsQuery("item=https%3A%2F%2Fid.gs1.org%2F01%2F00614141000012%2F21%2FBAG-0001");
  REQUIRE(dl.ok());
  CHECK(dl->filter.item_id == kMaisonItem);

  auto none = node::ParseEventsQuery("");
  REQUIRE(none.ok());
  CHECK(!none->since);
  CHECK(none->filter.types.empty());
}

TEST_CASE("events query: every malformed parameter is refused with its name") {
  for (const char* bad :
       {"types=flag", "type=flags", "type=flag,", "flag=broken", "since=-1", "since=12a",
        "since=99999999999999999999", "item=not-an-id", "brand=a&brand=b", "since=1&since=2",
        "item=%zz", "brand=", "type=governance"}) {
    CAPTURE(bad);
    auto q = node::ParseEventsQuery(bad);
    REQUIRE(!q.ok());
    CHECK(q.status().code() == core::StatusCode::kInvalidInput);
  }
  auto q = node::ParseEventsQuery("tpye=flag");
  REQUIRE(!q.ok());
  CHECK(q.status().message().find("tpye") != std::string::npos);
}

TEST_CASE("events: Last-Event-ID is HEIGHT.POSITION and nothing else") {
  auto p = node::ParseEventId("12.3");
  REQUIRE(p.ok());
  CHECK(*p == EventPlace{12, 3});
  CHECK(node::EventId(12, 3) == "12.3");
  for (const char* bad : {"", "12", ".3", "12.", "12.3.4", "a.b", " 12.3", "12.4294967295",
                          "123456789012345678901.0"}) {
    CAPTURE(bad);
    CHECK(!node::ParseEventId(bad).ok());
  }
}

TEST_CASE("events: a block's records become events with brand, custodian, flag and note") {
  FeedChain f;
  auto b1 = node::ReadBlockEvents(f.chain.ledger(), 1);
  REQUIRE(b1.ok());
  REQUIRE(b1->size() == 1);
  CHECK((*b1)[0].type() == "register");
  CHECK((*b1)[0].brand() == "maison");
  CHECK((*b1)[0].custodian_organization() == "maison");
  CHECK((*b1)[0].signer_organization() == "maison");
  CHECK((*b1)[0].record_id() == RecordId(f.a[0]).Hex());
  CHECK((*b1)[0].block_time_ms() > 0);

  auto b2 = node::ReadBlockEvents(f.chain.ledger(), 2);
  REQUIRE(b2.ok());
  CHECK((*b2)[0].type() == "transfer");
  CHECK((*b2)[0].custodian_organization() == "resale");

  auto b3 = node::ReadBlockEvents(f.chain.ledger(), 3);
  REQUIRE(b3.ok());
  REQUIRE(b3->size() == 2);
  CHECK((*b3)[0].type() == "attest");
  CHECK((*b3)[0].kind() == "genuine");
  CHECK((*b3)[0].note() == "checked");
  CHECK((*b3)[1].type() == "flag");
  CHECK((*b3)[1].position() == 1);
  CHECK((*b3)[1].flag() == "stolen");
  CHECK((*b3)[1].brand() == "maison");
  CHECK((*b3)[1].signer_organization() == "resale");
  CHECK((*b3)[1].custodian_organization().empty());

  auto b5 = node::ReadBlockEvents(f.chain.ledger(), 5);
  REQUIRE(b5.ok());
  CHECK((*b5)[0].type() == "clear_flag");
  CHECK((*b5)[0].flag() == "stolen");

  CHECK(!node::ReadBlockEvents(f.chain.ledger(), 6).ok());

  // The frame: id, event name, one line of JSON that parses back to the event.
  const std::string frame = node::EventFrame((*b3)[1]);
  auto events = ParseSse(frame);
  REQUIRE(events.size() == 1);
  CHECK(events[0].id == "3.1");
  CHECK(events[0].event == "flag");
  pb::FeedEvent back;
  REQUIRE(core::FromJson(events[0].data, &back, "event").ok());
  CHECK(back.record_id() == (*b3)[1].record_id());
  CHECK(back.note() == "shop break-in");
}

TEST_CASE("events: a note with line breaks stays on one data line") {
  ProvenChain chain;
  pb::Envelope reg = chain.CommitOne("maison", Reg(kMaisonItem));
  pb::RecordPayload fl = Payload(kMaisonItem, Id(reg));
  fl.mutable_flag()->set_kind(pb::LOST);
  fl.mutable_flag()->set_note("line one\n\ndata: forged\r\nid: 99.0");
  chain.CommitOne("maison", fl);
  auto events = node::ReadBlockEvents(chain.ledger(), 2);
  REQUIRE(events.ok());
  auto parsed = ParseSse(node::EventFrame((*events)[0]));
  REQUIRE(parsed.size() == 1);
  CHECK(parsed[0].id == "2.0");
  pb::FeedEvent back;
  REQUIRE(core::FromJson(parsed[0].data, &back, "event").ok());
  CHECK(back.note() == "line one\n\ndata: forged\r\nid: 99.0");
}

TEST_CASE("event hub: since=0 replays every record in order, marks caught_up, then goes live") {
  FeedChain f;
  EventHub hub(&f.chain.ledger(), nullptr, FastOptions());
  hub.Start();
  Watch w = Open(hub, {}, EventPlace{0, kWholeBlock});
  REQUIRE(WaitFor([&] { return HasCaughtUp(*w.sink); }));
  auto events = ParseSse(w.sink->received());
  CHECK(Ids(events) == ChainIds(f.chain.ledger()));
  CHECK(events.back().event == "caught_up");
  CHECK(events.back().data == "5");

  // Live: the next block arrives through OnCommit.
  RegisterItems(f.chain, 0, 1);
  hub.OnCommit(6);
  REQUIRE(WaitFor([&] { return Ids(ParseSse(w.sink->received())).size() == 7; }));
  CHECK(Ids(ParseSse(w.sink->received())) == ChainIds(f.chain.ledger()));
  int caught_up = 0;
  for (const auto& e : ParseSse(w.sink->received())) caught_up += e.event == "caught_up";
  CHECK(caught_up == 1);
}

TEST_CASE("event hub: resuming after H.P gives the records after it, after H the blocks above") {
  FeedChain f;
  EventHub hub(&f.chain.ledger(), nullptr, FastOptions());
  hub.Start();
  Watch mid = Open(hub, {}, EventPlace{3, 0});  // After the attest: the flag, then blocks 4, 5.
  Watch above = Open(hub, {}, EventPlace{3, kWholeBlock});
  Watch last = Open(hub, {}, EventPlace{3, 1});
  REQUIRE(WaitFor([&] {
    return HasCaughtUp(*mid.sink) && HasCaughtUp(*above.sink) && HasCaughtUp(*last.sink);
  }));
  CHECK(Ids(ParseSse(mid.sink->received())) == std::vector<std::string>{"3.1", "4.0", "5.0"});
  CHECK(Ids(ParseSse(above.sink->received())) == std::vector<std::string>{"4.0", "5.0"});
  CHECK(Ids(ParseSse(last.sink->received())) == std::vector<std::string>{"4.0", "5.0"});
}

TEST_CASE("event hub: a feed resuming beyond the head waits for those blocks") {
  FeedChain f;
  EventHub hub(&f.chain.ledger(), nullptr, FastOptions());
  hub.Start();
  Watch w = Open(hub, {}, EventPlace{6, kWholeBlock});
  REQUIRE(WaitFor([&] { return HasCaughtUp(*w.sink); }));
  RegisterItems(f.chain, 0, 2);  // Blocks 6 and 7.
  hub.OnCommit(7);
  REQUIRE(WaitFor([&] { return !Ids(ParseSse(w.sink->received())).empty(); }));
  CHECK(Ids(ParseSse(w.sink->received())) == std::vector<std::string>{"7.0"});
}

TEST_CASE("event hub: live only (no place) gets nothing from before it opened") {
  FeedChain f;
  EventHub hub(&f.chain.ledger(), nullptr, FastOptions());
  hub.Start();
  Watch w = Open(hub, {}, std::nullopt);
  REQUIRE(WaitFor([&] { return HasCaughtUp(*w.sink); }));
  CHECK(Ids(ParseSse(w.sink->received())).empty());
  RegisterItems(f.chain, 0, 1);
  hub.OnCommit(6);
  REQUIRE(WaitFor([&] { return !Ids(ParseSse(w.sink->received())).empty(); }));
  CHECK(Ids(ParseSse(w.sink->received())) == std::vector<std::string>{"6.0"});
}

TEST_CASE("event hub: brand, item, type and flag filters select before queueing") {
  FeedChain f;
  EventHub hub(&f.chain.ledger(), nullptr, FastOptions());
  hub.Start();
  node::EventFilter atelier;
  atelier.brand = "atelier";
  node::EventFilter item;
  item.item_id = kMaisonItem;
  node::EventFilter flags;
  flags.types = {"flag", "clear_flag"};
  node::EventFilter stolen;
  stolen.flags = {"stolen"};
  node::EventFilter lost;
  lost.flags = {"lost"};
  node::EventFilter reg_or_attest;
  reg_or_attest.types = {"register", "attest"};
  node::EventFilter both;
  both.brand = "maison";
  both.types = {"register"};
  const EventPlace from0{0, kWholeBlock};
  Watch w_atelier = Open(hub, atelier, from0);
  Watch w_item = Open(hub, item, from0);
  Watch w_flags = Open(hub, flags, from0);
  Watch w_stolen = Open(hub, stolen, from0);
  Watch w_lost = Open(hub, lost, from0);
  Watch w_ra = Open(hub, reg_or_attest, from0);
  Watch w_both = Open(hub, both, from0);
  for (auto* w : {&w_atelier, &w_item, &w_flags, &w_stolen, &w_lost, &w_ra, &w_both}) {
    REQUIRE(WaitFor([&] { return HasCaughtUp(*w->sink); }));
  }
  using V = std::vector<std::string>;
  CHECK(Ids(ParseSse(w_atelier.sink->received())) == V{"4.0"});
  CHECK(Ids(ParseSse(w_item.sink->received())) == V{"1.0", "2.0", "3.0", "3.1", "5.0"});
  CHECK(Ids(ParseSse(w_flags.sink->received())) == V{"3.1", "5.0"});
  CHECK(Ids(ParseSse(w_stolen.sink->received())) == V{"3.1", "5.0"});
  CHECK(Ids(ParseSse(w_lost.sink->received())).empty());
  CHECK(Ids(ParseSse(w_ra.sink->received())) == V{"1.0", "3.0", "4.0"});
  CHECK(Ids(ParseSse(w_both.sink->received())) == V{"1.0"});
}

TEST_CASE("event hub: catching up while blocks keep committing loses and repeats nothing") {
  ProvenChain chain;
  RegisterItems(chain, 0, 40, 3);
  node::EventHubOptions o = FastOptions();
  o.scan_per_round = 5;          // Many small rounds, interleaved with commits.
  o.cache_bytes_max = 4 * 1024;  // And a cache too small to keep much.
  o.queue_bytes_max = 2 * 1024;  // And a queue that fills.
  o.stall_ms_max = 10'000;
  EventHub hub(&chain.ledger(), nullptr, o);
  hub.Start();
  Watch w = Open(hub, {}, EventPlace{2, 1}, o.queue_bytes_max, /*drains=*/false);
  std::atomic<bool> stop{false};
  // The client reads a little at a time while the chain grows.
  std::thread reader([&] {
    while (!stop) {
      w.sink->Drain(700);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  for (int i = 0; i < 30; ++i) {
    RegisterItems(chain, 1000 + i * 2, 2, 2);
    hub.OnCommit(chain.ledger().height());
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }
  const auto expected = [&] {
    std::vector<std::string> out;
    for (const auto& id : ChainIds(chain.ledger())) {
      auto p = node::ParseEventId(id);
      if (p->height > 2 || (p->height == 2 && p->position > 1)) out.push_back(id);
    }
    return out;
  }();
  REQUIRE(WaitFor([&] { return Ids(ParseSse(w.sink->received())).size() >= expected.size(); }));
  stop = true;
  reader.join();
  w.sink->Drain();
  const auto got = Ids(ParseSse(w.sink->received()));
  CHECK(got == expected);
  CHECK(std::set<std::string>(got.begin(), got.end()).size() == got.size());
  CHECK(!w.sink->closed());
}

TEST_CASE("event hub: a reader that stops reading is dropped, counted, and its place freed") {
  ProvenChain chain;
  RegisterItems(chain, 0, 30, 10);
  node::MetricsRegistry metrics;
  node::EventHubOptions o = FastOptions();
  o.queue_bytes_max = 4 * 1024;
  o.stall_ms_max = 100;
  std::vector<std::string> log;
  std::mutex log_mu;
  o.log = [&](std::string_view line) {
    std::lock_guard lock(log_mu);
    log.emplace_back(line);
  };
  EventHub hub(&chain.ledger(), &metrics, o);
  hub.Start();
  Watch stuck = Open(hub, {}, EventPlace{0, kWholeBlock}, o.queue_bytes_max, /*drains=*/false);
  Watch fine = Open(hub, {}, EventPlace{0, kWholeBlock});
  CHECK(hub.watchers() == 2);
  REQUIRE(WaitFor([&] { return stuck.sink->closed(); }));
  CHECK(stuck.sink->reason().find("slow reader") != std::string::npos);
  REQUIRE(WaitFor([&] { return hub.watchers() == 1; }));
  CHECK(MetricValue(metrics, R"(hallmark_events_dropped_total{reason="slow_reader"})") == 1);
  CHECK(MetricValue(metrics, "hallmark_events_watchers") == 1);
  {
    std::lock_guard lock(log_mu);
    REQUIRE(!log.empty());
    CHECK(log.back().find("slow reader") != std::string::npos);
  }
  // Its queue never held more than the bound; the other feed got everything.
  REQUIRE(WaitFor([&] { return HasCaughtUp(*fine.sink); }));
  CHECK(Ids(ParseSse(fine.sink->received())) == ChainIds(chain.ledger()));
}

TEST_CASE("event hub: a slow but steady reader of a long catch-up is paced, not dropped") {
  ProvenChain chain;
  RegisterItems(chain, 0, 200, 50);
  node::EventHubOptions o = FastOptions();
  o.queue_bytes_max = 8 * 1024;  // Far less than the 200 events.
  o.stall_ms_max = 2'000;
  EventHub hub(&chain.ledger(), nullptr, o);
  hub.Start();
  Watch w = Open(hub, {}, EventPlace{0, kWholeBlock}, o.queue_bytes_max, /*drains=*/false);
  size_t max_queued = 0;
  REQUIRE(WaitFor(
      [&] {
        max_queued = std::max(max_queued, w.sink->queued_bytes());
        w.sink->Drain(2'000);
        return HasCaughtUp(*w.sink);
      },
      std::chrono::seconds(20)));
  CHECK(max_queued <= o.queue_bytes_max);
  CHECK(Ids(ParseSse(w.sink->received())) == ChainIds(chain.ledger()));
  CHECK(!w.sink->closed());
}

TEST_CASE("event hub: at most watchers_max feeds, and closing one frees its place") {
  ProvenChain chain;
  node::EventHubOptions o = FastOptions();
  o.watchers_max = 3;
  EventHub hub(&chain.ledger(), nullptr, o);
  hub.Start();
  Watch a = Open(hub, {}, std::nullopt);
  Watch b = Open(hub, {}, std::nullopt);
  Watch c = Open(hub, {}, std::nullopt);
  CHECK(hub.Open({}, std::nullopt) == nullptr);
  hub.Close(b.feed, "client closed");
  CHECK(hub.watchers() == 2);
  // Let the hub fall asleep (nothing to send, heartbeats a minute apart): opening a feed must
  // wake it, or it would not see the feed, nor the disconnect below, for a minute.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto d = hub.Open({}, std::nullopt);
  CHECK(d != nullptr);
  // A client that disconnects is noticed by the hub itself too.
  a.sink->Disconnect();
  REQUIRE(WaitFor([&] { return hub.watchers() == 2; }));
  // Stop ends every feed.
  hub.Stop();
  CHECK(c.sink->closed());
  CHECK(hub.watchers() == 0);
}

TEST_CASE("event hub: a feed the server never starts is forgotten") {
  ProvenChain chain;
  node::EventHubOptions o = FastOptions();
  o.watchers_max = 1;
  o.attach_timeout_ms = 50;
  EventHub hub(&chain.ledger(), nullptr, o);
  hub.Start();
  auto feed = hub.Open({}, std::nullopt);
  REQUIRE(feed);
  CHECK(hub.Open({}, std::nullopt) == nullptr);
  REQUIRE(WaitFor([&] { return hub.watchers() == 0; }));
  CHECK(hub.Open({}, std::nullopt) != nullptr);
}

TEST_CASE("event hub: an idle feed gets keep-alive comments") {
  ProvenChain chain;
  node::EventHubOptions o = FastOptions();
  o.heartbeat_ms = 30;
  EventHub hub(&chain.ledger(), nullptr, o);
  hub.Start();
  Watch w = Open(hub, {}, std::nullopt);
  REQUIRE(WaitFor([&] {
    const std::string r = w.sink->received();
    size_t n = 0;
    for (size_t at = r.find(": keep-alive\n\n"); at != std::string::npos;
         at = r.find(": keep-alive\n\n", at + 1)) {
      ++n;
    }
    return n >= 2;
  }));
}

}  // namespace hallmark::test
