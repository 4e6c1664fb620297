// The CLI's HTTP client against a node that lies about sizes, drip-feeds its answer, never
// answers, or does not speak HTTP: each ends with a clear error, within the request's deadline,
// holding bounded memory (tests/unit/wallet/hostile_server.h).
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "cli_runner.h"
#include "fake_node.h"
#include "hostile_server.h"
#include "peak_memory.h"
#include "wallet-cli/http_client.h"
#include "wallet-cli/node_client.h"
#include "wallet-cli/node_commands.h"

using namespace hallmark;
using test::HostileServer;

namespace {

constexpr size_t kMiB = 1024 * 1024;
// Endless answers stop here, so that a client without limits fails its test without taking
// the machine's memory with it.
constexpr uint64_t kServerBytesMax = 256 * kMiB;
const std::string kBlock(64 * 1024, 'x');

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// Writes 64 KiB blocks (each wrapped by `wrap`) until the client hangs up or kServerBytesMax.
void Flood(HostileServer::Connection& c, const std::string& first,
           const std::function<std::string(const std::string&)>& wrap) {
  if (!c.Write(first + wrap(kBlock))) return;
  for (uint64_t sent = 0; sent < kServerBytesMax; sent += kBlock.size()) {
    if (!c.Write(wrap(kBlock))) return;
  }
}

std::string Plain(const std::string& block) {
  return block;
}

std::string Chunk(const std::string& block) {
  char size[16];
  std::snprintf(size, sizeof(size), "%zx\r\n", block.size());
  return size + block + "\r\n";
}

struct Outcome {
  core::Result<wallet::HttpResponse> result = core::Status::Internal("not run");
  std::optional<uint64_t> peak_bytes;
  std::chrono::milliseconds elapsed{0};
};

Outcome GetFrom(const HostileServer& server, uint32_t timeout_ms = 10'000, size_t bytes_max = 0) {
  wallet::HttpClient http(wallet::ParseNodeUrl(server.url()).value());
  Outcome o;
  const auto start = std::chrono::steady_clock::now();
  o.peak_bytes = test::PeakMemoryGrowthBytes(
      [&] { o.result = http.Get("/v1/status", timeout_ms, bytes_max); });
  o.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  return o;
}

void CheckPeak(const Outcome& o, uint64_t bytes_max) {
  if (!o.peak_bytes) {
    MESSAGE("cannot measure peak memory here (/proc/self/clear_refs)");
    return;
  }
  MESSAGE("peak memory +" << test::Megabytes(*o.peak_bytes));
  CHECK(*o.peak_bytes <= bytes_max);
}

}  // namespace

TEST_CASE("http client: a 3 GiB Content-Length sent with the body's start is refused unread") {
  // Header and body in one write: the case where Beast 1.74 drops its own body_limit error.
  HostileServer server([](HostileServer::Connection& c) {
    Flood(c,
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 3221225472\r\n\r\n",
          Plain);
  });
  Outcome o = GetFrom(server);
  REQUIRE_FALSE(o.result.ok());
  CHECK(o.result.status().code() == core::StatusCode::kIoError);
  CHECK(o.result.status().message() == "the answer from node at " + server.url() +
                                           " is larger than the 16 MiB limit (it announced "
                                           "3221225472 bytes)");
  CheckPeak(o, 16'000'000);
  CHECK(server.bytes_written() < 64 * kMiB);
}

TEST_CASE("http client: an endless chunked answer is cut off at the limit") {
  HostileServer server([](HostileServer::Connection& c) {
    Flood(c,
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
          Chunk);
  });
  Outcome o = GetFrom(server);
  REQUIRE_FALSE(o.result.ok());
  CHECK(o.result.status().message() ==
        "the answer from node at " + server.url() + " is larger than the 16 MiB limit");
  CheckPeak(o, 80'000'000);
  CHECK(server.bytes_written() < 64 * kMiB);
}

TEST_CASE("http client: an endless answer without a length is cut off at the limit") {
  HostileServer server([](HostileServer::Connection& c) {
    Flood(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
          Plain);
  });
  Outcome o = GetFrom(server);
  REQUIRE_FALSE(o.result.ok());
  CHECK(o.result.status().message() ==
        "the answer from node at " + server.url() + " is larger than the 16 MiB limit");
  CheckPeak(o, 80'000'000);
  CHECK(server.bytes_written() < 64 * kMiB);
}

TEST_CASE("http client: a drip-fed answer ends at the request's deadline, saying how much came") {
  HostileServer server([](HostileServer::Connection& c) {
    if (!c.Write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")) return;
    for (int i = 0; i < 1000; ++i) {
      if (!c.Write("x") || !c.Pause(50)) return;
    }
  });
  Outcome o = GetFrom(server, 1'000);
  REQUIRE_FALSE(o.result.ok());
  const std::string& m = o.result.status().message();
  CHECK(m.starts_with("node at " + server.url() + " sent "));
  CHECK(m.ends_with(" bytes in 1 s and did not finish its answer"));
  CHECK(o.elapsed < std::chrono::milliseconds(1'800));
}

TEST_CASE("http client: a header dripped a byte at a time ends at the deadline too") {
  HostileServer server([](HostileServer::Connection& c) {
    if (!c.Write("HTTP/1.1 200 OK\r\nX-Slow: ")) return;
    for (int i = 0; i < 1000; ++i) {
      if (!c.Write("a") || !c.Pause(50)) return;
    }
  });
  Outcome o = GetFrom(server, 1'000);
  REQUIRE_FALSE(o.result.ok());
  const std::string& m = o.result.status().message();
  CHECK(m.starts_with("node at " + server.url() + " sent "));
  CHECK(m.ends_with(" bytes in 1 s and did not finish its answer"));
  CHECK(o.elapsed < std::chrono::milliseconds(1'800));
}

TEST_CASE("http client: a node that takes the request and never answers times out cleanly") {
  HostileServer server([](HostileServer::Connection& c) { c.Pause(30'000); });
  Outcome o = GetFrom(server, 500);
  REQUIRE_FALSE(o.result.ok());
  CHECK(o.result.status().message() == "node at " + server.url() + " did not answer within 0.5 s");
  CHECK(o.elapsed < std::chrono::milliseconds(1'300));
}

TEST_CASE("http client: garbage instead of a status line, or an endless header, is a clear error") {
  HostileServer garbage(
      [](HostileServer::Connection& c) { c.Write("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n\r\n"); });
  Outcome o = GetFrom(garbage);
  REQUIRE_FALSE(o.result.ok());
  CHECK(o.result.status().message().starts_with("node at " + garbage.url() +
                                                " sent an answer that is not valid HTTP/1.1 ("));

  HostileServer endless(
      [](HostileServer::Connection& c) { Flood(c, "HTTP/1.1 200 OK\r\nX-Endless: ", Plain); });
  o = GetFrom(endless);
  REQUIRE_FALSE(o.result.ok());
  CHECK(o.result.status().message() ==
        "node at " + endless.url() + " sent an answer whose header is larger than 16 KiB");
  CheckPeak(o, 16'000'000);
}

TEST_CASE("http client: the size limit is the caller's to set per request") {
  HostileServer server([](HostileServer::Connection& c) {
    c.Write("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(20 * kMiB) + "\r\n\r\n" +
            std::string(20 * kMiB, 'y'));
  });
  Outcome small = GetFrom(server);
  REQUIRE_FALSE(small.result.ok());
  CHECK(Contains(small.result.status().message(), "larger than the 16 MiB limit"));
  Outcome large = GetFrom(server, 10'000, 32 * kMiB);
  REQUIRE_MESSAGE(large.result.ok(), large.result.status().message());
  CHECK(large.result->body.size() == 20 * kMiB);
  Outcome tiny = GetFrom(server, 10'000, 1000);
  REQUIRE_FALSE(tiny.result.ok());
  CHECK(Contains(tiny.result.status().message(), "larger than the 1000 bytes limit"));
}

TEST_CASE("node client: a proof bundle's size limit defaults to 16 MiB and is settable") {
  HostileServer server([](HostileServer::Connection& c) {
    c.Write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
            std::to_string(2 * kMiB) + "\r\n\r\n" + std::string(2 * kMiB, ' '));
  });
  const core::ItemId item = core::ParseItemId(test::kMaisonItem).value();
  CHECK(wallet::kOnlineProofBundleBytesMax == 16 * kMiB);
  core::Result<std::string> r = wallet::FetchProofBundle(server.url(), item, 5'000, kMiB);
  REQUIRE_FALSE(r.ok());
  CHECK(Contains(r.status().message(), "larger than the 1 MiB limit (it announced 2097152 bytes)"));
  r = wallet::FetchProofBundle(server.url(), item, 5'000);  // Read; then it is not a bundle.
  REQUIRE_FALSE(r.ok());
  CHECK(Contains(r.status().message(), "the JSON text is empty; expected an object"));
}

TEST_CASE("cli: a node answering 3 GiB or amplifying JSON gets a clear error, not gigabytes") {
  ::unsetenv(wallet::kNodeEnvVar);
  HostileServer huge([](HostileServer::Connection& c) {
    Flood(c, "HTTP/1.1 200 OK\r\nContent-Length: 3221225472\r\n\r\n", Plain);
  });
  test::CliRun r;
  std::optional<uint64_t> peak = test::PeakMemoryGrowthBytes([&] {
    r = test::RunCli({"--node", huge.url(), "show", test::kMaisonItem});
  });
  CHECK(r.code == 3);
  CHECK(Contains(r.err, "is larger than the 16 MiB limit (it announced 3221225472 bytes)"));
  if (peak) CHECK(*peak < 32'000'000);

  // 16 MB of nested arrays as the item's history: 2.35 GB in Protobuf's parser alone.
  test::FakeNode node;
  const std::string nested =
      R"({"history":)" + std::string(8'000'000, '[') + std::string(8'000'000, ']') + "}";
  node.SetOverride(
      [&](const test::FakeNode::Request& req) -> std::optional<test::FakeNode::Response> {
        if (req.target.rfind("/v1/items/", 0) != 0) return std::nullopt;
        return test::FakeNode::Response{200, nested, std::nullopt, false};
      });
  peak = test::PeakMemoryGrowthBytes([&] {
    r = test::RunCli({"--node", node.url(), "show", test::kMaisonItem});
  });
  CHECK(r.code == 3);
  CHECK(Contains(r.err, "field \"history[0]\": an array inside an array is not allowed"));
  if (peak) {
    MESSAGE("show against 16 MB of nested arrays: peak memory +" << test::Megabytes(*peak));
    CHECK(*peak < 120'000'000);
  }
}
