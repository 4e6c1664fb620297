// `hallmark watch`: the bounded SSE reader, and the follow/reconnect/resume loop against a
// scripted feed (what each connection sends, and what the command asked for).
#include <doctest/doctest.h>

#include <sstream>

#include "core/codec.h"
#include "wallet-cli/format.h"
#include "wallet-cli/watch_commands.h"

namespace hallmark::wallet {
namespace {

std::vector<SseMessage> ParseAll(SseParser& p, std::string_view bytes, core::Status* st = nullptr) {
  std::vector<SseMessage> out;
  core::Status s = p.Feed(bytes, [&](SseMessage m) {
    out.push_back(std::move(m));
    return true;
  });
  if (st) *st = s;
  return out;
}

std::string Frame(uint64_t h, uint32_t pos, std::string_view type = "flag") {
  pb::FeedEvent e;
  e.set_height(h);
  e.set_position(pos);
  e.set_type(std::string(type));
  e.set_record_id(std::string(64, 'a'));
  e.set_item_id("01/00614141000012/21/W-" + std::to_string(h));
  e.set_brand("maison");
  e.set_flag("stolen");
  e.set_signer_organization("resale");
  auto json = core::ToJson(e, false);
  REQUIRE(json.ok());
  return "id: " + std::to_string(h) + "." + std::to_string(pos) + "\nevent: " + std::string(type) +
         "\ndata: " + *json + "\n\n";
}

// One scripted connection: the answer's status and the body chunks it sends.
struct Script {
  unsigned status = 200;
  std::vector<std::string> chunks;
  std::string error_body;
};

struct Recorded {
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
};

StreamOpener Scripted(std::vector<Script> scripts, std::vector<Recorded>* calls) {
  auto state = std::make_shared<std::pair<std::vector<Script>, size_t>>(std::move(scripts), 0);
  return [state, calls](
             const std::string& target,
             const std::vector<std::pair<std::string, std::string>>& headers,
             const std::function<bool(std::string_view)>& on_data) -> core::Result<StreamAnswer> {
    calls->push_back({target, headers});
    auto& [list, next] = *state;
    if (next >= list.size()) return core::Status::IoError("connection refused");
    const Script& s = list[next++];
    StreamAnswer a;
    a.status = s.status;
    a.error_body = s.error_body;
    if (s.status != 200) return a;
    for (const auto& c : s.chunks) {
      if (!on_data(c)) break;
    }
    return a;
  };
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("sse parser: fields, comments, multi-line data, CR, LF and CRLF, split anywhere") {
  const std::string text =
      ": keep-alive\r\nid: 1.0\r\nevent: flag\r\ndata: a\r\ndata: b\r\n\r\n"
      "id: 1.1\rdata:c\r\revent: caught_up\ndata: 7\n\nretry: 5\nunknown: x\n\n";
  // Byte by byte gives the same as all at once.
  for (size_t step : {text.size(), size_t{1}, size_t{3}}) {
    SseParser p;
    std::vector<SseMessage> got;
    for (size_t i = 0; i < text.size(); i += step) {
      auto part = ParseAll(p, std::string_view(text).substr(i, step));
      got.insert(got.end(), part.begin(), part.end());
    }
    REQUIRE(got.size() == 3);
    CHECK(got[0].id == "1.0");
    CHECK(got[0].event == "flag");
    CHECK(got[0].data == "a\nb");
    CHECK(got[1].id == "1.1");
    CHECK(got[1].event == "message");
    CHECK(got[1].data == "c");
    CHECK(got[2].event == "caught_up");
    CHECK(got[2].data == "7");
  }
}

TEST_CASE("sse parser: an endless line or an endless event is refused, memory bounded") {
  SseParser p(1024);
  core::Status st;
  const std::string chunk(512, 'x');
  ParseAll(p, "data: ", &st);
  REQUIRE(st.ok());
  ParseAll(p, chunk, &st);
  REQUIRE(st.ok());
  ParseAll(p, chunk, &st);
  CHECK(!st.ok());
  CHECK(st.message().find("longer than 1024") != std::string::npos);

  SseParser q(1024);
  std::string many;
  for (int i = 0; i < 10; ++i) many += "data: " + std::string(200, 'y') + "\n";
  ParseAll(q, many, &st);
  CHECK(!st.ok());
  CHECK(st.message().find("event larger") != std::string::npos);
}

TEST_CASE("watch: prints each event once across reconnects, resuming after the last one") {
  std::vector<Recorded> calls;
  // Connection 1 ends after 5.0 and half of 5.1's frame; connection 2 (resumed after 5.0)
  // repeats 5.0 (a node must not, but the command ignores it), then sends 5.1 and 6.0.
  const std::string f51 = Frame(5, 1);
  std::vector<Script> scripts = {
      {200, {": keep-alive\n\n", Frame(4, 0), Frame(5, 0), f51.substr(0, 20)}, {}},
      {503, {}, R"({"error":{"code":"too_many_watchers","message":"full"}})"},
      {200, {Frame(5, 0), f51, "event: caught_up\ndata: 6\n\n"}, {}},
      {200, {Frame(7, 0)}, {}},
  };
  WatchOptions o;
  o.opener = Scripted(scripts, &calls);
  o.since = 3;
  o.types = {"flag", "clear_flag"};
  o.brand = "maison";
  o.retry_first_ms = 1;
  o.max_events = 4;
  std::ostringstream out, err;
  CHECK(RunWatch(o, out, err) == 0);
  auto lines = Lines(out.str());
  REQUIRE(lines.size() == 4);
  CHECK(lines[0].find("4.0") != std::string::npos);
  CHECK(lines[1].find("5.0") != std::string::npos);
  CHECK(lines[2].find("5.1") != std::string::npos);
  CHECK(lines[3].find("7.0") != std::string::npos);
  CHECK(lines[0].find("stolen, by resale") != std::string::npos);
  REQUIRE(calls.size() == 4);
  CHECK(calls[0].target == "/v1/events?brand=maison&type=flag%2Cclear_flag&since=3");
  CHECK(calls[0].headers.empty());
  // After 5.0: Last-Event-ID, no since.
  CHECK(calls[1].target == "/v1/events?brand=maison&type=flag%2Cclear_flag");
  REQUIRE(calls[1].headers.size() == 1);
  CHECK(calls[1].headers[0] == std::pair<std::string, std::string>{"Last-Event-ID", "5.0"});
  CHECK(calls[2].headers[0].second == "5.0");
  // After caught_up 6, past the last event (5.1): since=6.
  CHECK(calls[3].target == "/v1/events?brand=maison&type=flag%2Cclear_flag&since=6");
  CHECK(calls[3].headers.empty());
  CHECK(err.str().find("reconnecting") != std::string::npos);
}

TEST_CASE("watch: --json prints one FeedEvent per line") {
  std::vector<Recorded> calls;
  WatchOptions o;
  o.opener = Scripted({{200, {Frame(9, 2, "transfer")}, {}}}, &calls);
  o.json = true;
  o.max_events = 1;
  std::ostringstream out, err;
  CHECK(RunWatch(o, out, err) == 0);
  pb::FeedEvent e;
  REQUIRE(core::FromJson(Lines(out.str()).at(0), &e, "line").ok());
  CHECK(e.height() == 9);
  CHECK(e.position() == 2);
  CHECK(e.type() == "transfer");
  CHECK(calls.at(0).target == "/v1/events");  // Live only.
}

TEST_CASE("watch: a refused query exits 2 with the node's words, a hostile feed exits 3") {
  {
    std::vector<Recorded> calls;
    WatchOptions o;
    o.opener = Scripted(
        {{400, {}, R"({"error":{"code":"bad_request","message":"type=x is not one of …"}})"}},
        &calls);
    std::ostringstream out, err;
    CHECK(RunWatch(o, out, err) == 2);
    CHECK(err.str().find("type=x is not one of") != std::string::npos);
  }
  {
    std::vector<Recorded> calls;
    WatchOptions o;
    o.opener = Scripted({{200, {"data: " + std::string(100'000, 'z')}, {}}}, &calls);
    std::ostringstream out, err;
    CHECK(RunWatch(o, out, err) == 3);
    CHECK(err.str().find("longer than") != std::string::npos);
  }
  {
    std::vector<Recorded> calls;
    WatchOptions o;
    o.opener = Scripted({{200, {"id: 1.0\nevent: flag\ndata: {\"height\": [1]}\n\n"}, {}}}, &calls);
    std::ostringstream out, err;
    CHECK(RunWatch(o, out, err) == 3);
    CHECK(err.str().find("not a FeedEvent") != std::string::npos);
  }
  {
    std::vector<Recorded> calls;
    WatchOptions o;
    o.opener = Scripted({{200, {"event: flag\ndata: {}\n\n"}, {}}}, &calls);
    std::ostringstream out, err;
    CHECK(RunWatch(o, out, err) == 3);
    CHECK(err.str().find("without a valid id") != std::string::npos);
  }
}

TEST_CASE("watch: a bad --item is refused before any request, and stop ends the loop") {
  std::vector<Recorded> calls;
  WatchOptions o;
  o.opener = Scripted({}, &calls);
  o.item = "not-an-id";
  std::ostringstream out, err;
  CHECK(RunWatch(o, out, err) == 2);
  CHECK(calls.empty());

  // Nothing answers: it keeps retrying until stopped, then exits 0.
  WatchOptions s;
  s.opener = Scripted({}, &calls);
  s.retry_first_ms = 1;
  s.retry_max_ms = 5;
  int tries = 0;
  s.stopped = [&] { return calls.size() >= 3 && ++tries > 0; };
  CHECK(RunWatch(s, out, err) == 0);
  CHECK(err.str().find("connection refused") != std::string::npos);
}

TEST_CASE("watch: the text line escapes control characters from the node") {
  pb::FeedEvent e;
  e.set_height(3);
  e.set_type("attest");
  e.set_item_id("01/00614141000012/21/X");
  e.set_signer_organization("resale");
  e.set_kind("genuine");
  e.set_note("ok\x1b[31m red\nnext");
  const std::string line = FormatFeedEvent(e);
  CHECK(line.find('\x1b') == std::string::npos);
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line.find("genuine, by resale: ok") != std::string::npos);
}

}  // namespace hallmark::wallet
