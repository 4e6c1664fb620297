// HTTPS between the CLI's HttpClient and the node's HttpServer: certificates made at test time
// (tls_test_certs.h), the chain and the name checked, plain HTTP and TLS on the wrong port each
// refused with a clear message, and unusable TLS files refused when the server starts.
#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>

#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "node/http/content.h"
#include "node/http/server.h"
#include "node/http_test_util.h"
#include "test_util.h"
#include "tls_test_certs.h"
#include "wallet-cli/http_client.h"

using namespace hallmark;

namespace {

node::Router MakeRouter() {
  node::Router r;
  r.Add("GET /v1/ping", [](const node::Request&) {
    node::Response res;
    res.content_type = "application/json";
    res.body = R"({"pong":true})";
    return res;
  });
  r.Add("POST /v1/echo", [](const node::Request& req) {
    node::Response res;
    res.content_type = "text/plain";
    res.body = std::string(req.body());
    return res;
  });
  r.Add("GET /v1/big", [](const node::Request&) {
    node::Response res;
    res.content_type = "text/plain";
    res.body = std::string(300'000, 'b');
    return res;
  });
  r.Add("POST /v1/size", [](const node::Request& req) {
    node::Response res;
    res.content_type = "text/plain";
    res.body = std::to_string(req.body().size());
    return res;
  });
  r.Add("GET /v1/feed", [](const node::Request&) {
    node::Response res;
    res.content_type = "text/event-stream";
    res.stream = std::make_shared<node::StreamBody>();
    res.stream->start = [](std::shared_ptr<node::StreamSink> sink) {
      for (int i = 0; i < 3; ++i) sink->Write("data: " + std::to_string(i) + "\n\n");
      sink->Write("data: " + std::string(200'000, 'z') + "\n\n");
      sink->End();
    };
    return res;
  });
  return r;
}

// An HttpServer on 127.0.0.1 (TLS when given files), run by two io threads.
class Server {
 public:
  explicit Server(std::string cert_file = "", std::string key_file = "") {
    node::HttpServerOptions options;
    options.limits = test::FastLimits();
    options.limits.body_timeout_ms = 3000;
    options.tls_cert_file = std::move(cert_file);
    options.tls_key_file = std::move(key_file);
    options.log = [](std::string_view) {};
    server_ = std::make_unique<node::HttpServer>(io_, MakeRouter(), std::move(options));
    start_ = server_->Start();
    if (start_.ok()) {
      for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
    }
  }
  ~Server() {
    server_->Stop();
    io_.stop();
    for (auto& t : threads_) t.join();
    server_.reset();
  }
  const core::Status& start() const { return start_; }
  std::string port() const { return std::to_string(server_->port()); }

 private:
  boost::asio::io_context io_;
  std::unique_ptr<node::HttpServer> server_;
  core::Status start_;
  std::vector<std::thread> threads_;
};

wallet::HttpClient Client(const std::string& url, const std::string& ca_file) {
  wallet::HttpClientOptions options;
  options.ca_file = ca_file;
  options.connect_timeout_ms = 3'000;
  options.request_timeout_ms = 3'000;
  return wallet::HttpClient(wallet::ParseNodeUrl(url).value(), options);
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("node URL: https:// is accepted, port 443 by default") {
  auto a = wallet::ParseNodeUrl("https://node.example/api/");
  REQUIRE(a.ok());
  CHECK(a->tls);
  CHECK(a->port == "443");
  CHECK(a->url == "https://node.example:443/api");
  auto b = wallet::ParseNodeUrl("HTTPS://[::1]:7443");
  REQUIRE(b.ok());
  CHECK(b->tls);
  CHECK(b->host == "::1");
  CHECK(b->url == "https://[::1]:7443");
  auto c = wallet::ParseNodeUrl("http://node.example");
  REQUIRE(c.ok());
  CHECK(!c->tls);
  CHECK(c->port == "80");
  auto d = wallet::ParseNodeUrl("ftp://node.example");
  REQUIRE(!d.ok());
  CHECK(Has(d.status().message(), "must start with http:// or https://"));
}

TEST_CASE("https: with the right CA, Get, Post and Stream work, and the connection is kept") {
  test::TempDir dir;
  test::TestPki pki = test::MakeTestPki(dir.path(), "node");
  Server server(pki.cert_file, pki.key_file);
  REQUIRE_MESSAGE(server.start().ok(), server.start().message());

  for (const std::string host : {"127.0.0.1", "localhost"}) {
    CAPTURE(host);
    wallet::HttpClient http = Client("https://" + host + ":" + server.port(), pki.ca_file);
    auto got = http.Get("/v1/ping");
    REQUIRE_MESSAGE(got.ok(), got.status().message());
    CHECK(got->status == 200);
    CHECK(got->body == R"({"pong":true})");
    auto big = http.Get("/v1/big");
    REQUIRE_MESSAGE(big.ok(), big.status().message());
    CHECK(big->body == std::string(300'000, 'b'));
    auto sized = http.Post("/v1/size", std::string(100'000, 'x'), "text/plain");
    REQUIRE_MESSAGE(sized.ok(), sized.status().message());
    CHECK(sized->body == "100000");
    auto posted = http.Post("/v1/echo", std::string(100'000, 'x'), "text/plain");
    REQUIRE_MESSAGE(posted.ok(), posted.status().message());
    CHECK(posted->body == std::string(100'000, 'x'));
    CHECK(http.connections_opened() == 1);

    std::string received;
    core::Status s =
        http.Stream("/v1/feed", {{"Accept", "text/event-stream"}}, [&](std::string_view piece) {
          received += piece;
          return true;
        });
    REQUIRE_MESSAGE(s.ok(), s.message());
    CHECK(received ==
          "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: " + std::string(200'000, 'z') + "\n\n");
  }
}

TEST_CASE("https: the process-wide CA file is used when the options name none") {
  test::TempDir dir;
  test::TestPki pki = test::MakeTestPki(dir.path(), "node");
  Server server(pki.cert_file, pki.key_file);
  REQUIRE(server.start().ok());
  REQUIRE(wallet::SetDefaultCaFile(pki.ca_file).ok());
  CHECK(wallet::DefaultCaFile() == pki.ca_file);
  auto got = Client("https://127.0.0.1:" + server.port(), "").Get("/v1/ping");
  REQUIRE(wallet::SetDefaultCaFile("").ok());
  REQUIRE_MESSAGE(got.ok(), got.status().message());
  CHECK(got->status == 200);
}

TEST_CASE("https: a certificate from another CA is refused with the reason and a hint") {
  test::TempDir dir;
  test::TestPki pki = test::MakeTestPki(dir.path(), "node");
  test::TestPki other = test::MakeTestPki(dir.path(), "other");
  Server server(pki.cert_file, pki.key_file);
  REQUIRE(server.start().ok());
  const std::string url = "https://127.0.0.1:" + server.port();
  wallet::HttpClient http = Client(url, other.ca_file);
  auto got = http.Get("/v1/ping");
  REQUIRE(!got.ok());
  CHECK(got.status().code() == core::StatusCode::kIoError);
  CHECK(got.status().message() ==
        "cannot reach node at " + url +
            ": certificate verify failed (unable to get local issuer certificate); pass "
            "--cacert FILE if the node uses a private CA");
  // Stream and Post are refused the same way.
  core::Status s = http.Stream("/v1/feed", {}, [](std::string_view) { return true; });
  CHECK(Has(s.message(), "certificate verify failed"));
  CHECK(!http.Post("/v1/echo", "x", "text/plain").ok());
  CHECK(http.connections_opened() == 0);
}

TEST_CASE("https: a certificate for another name or address is refused") {
  test::TempDir dir;
  test::TestPki pki = test::MakeTestPki(dir.path(), "node", "DNS:node.example,IP:10.9.8.7");
  Server server(pki.cert_file, pki.key_file);
  REQUIRE(server.start().ok());
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    CAPTURE(host);
    auto got = Client("https://" + host + ":" + server.port(), pki.ca_file).Get("/v1/ping");
    REQUIRE(!got.ok());
    const std::string& m = got.status().message();
    CHECK(Has(m, "cannot reach node at https://" + host + ":" + server.port() +
                     ": certificate verify failed ("));
    CHECK(Has(m, "mismatch"));
    CHECK(!Has(m, "--cacert"));
  }
}

TEST_CASE("https: plain http on a TLS port gets a clear 400, TLS on a plain port a clear error") {
  test::TempDir dir;
  test::TestPki pki = test::MakeTestPki(dir.path(), "node");
  Server tls(pki.cert_file, pki.key_file);
  REQUIRE(tls.start().ok());
  auto plain = Client("http://127.0.0.1:" + tls.port(), "").Get("/v1/ping");
  REQUIRE_MESSAGE(plain.ok(), plain.status().message());
  CHECK(plain->status == 400);
  CHECK(plain->body == "this port serves HTTPS only\n");

  Server http_only;
  REQUIRE(http_only.start().ok());
  const std::string url = "https://127.0.0.1:" + http_only.port();
  auto got = Client(url, pki.ca_file).Get("/v1/ping");
  REQUIRE(!got.ok());
  CHECK(Has(got.status().message(), "cannot reach node at " + url + ": TLS handshake failed"));
  // The plain server still serves plain clients afterwards.
  auto after = Client("http://127.0.0.1:" + http_only.port(), "").Get("/v1/ping");
  REQUIRE(after.ok());
  CHECK(after->status == 200);
  auto posted = Client("http://127.0.0.1:" + http_only.port(), "")
                    .Post("/v1/echo", std::string(100'000, 'x'), "text/plain");
  REQUIRE_MESSAGE(posted.ok(), posted.status().message());
}

TEST_CASE("https: an unreadable or non-PEM CA file is a clear error") {
  test::TempDir dir;
  const std::string missing = (dir.path() / "missing.pem").string();
  core::Status s = wallet::SetDefaultCaFile(missing);
  CHECK(s.code() == core::StatusCode::kInvalidInput);
  CHECK(Has(s.message(), "cannot read the CA file " + missing));
  const std::string junk = (dir.path() / "junk.pem").string();
  std::ofstream(junk) << "not a certificate\n";
  s = wallet::SetDefaultCaFile(junk);
  CHECK(s.code() == core::StatusCode::kInvalidInput);
  CHECK(Has(s.message(), "the CA file " + junk + " holds no usable PEM certificate"));
  CHECK(wallet::DefaultCaFile().empty());
  // A client given such a file fails to connect with the same message, sending nothing.
  auto got = Client("https://127.0.0.1:1", junk).Get("/v1/ping");
  REQUIRE(!got.ok());
  CHECK(Has(got.status().message(), "holds no usable PEM certificate"));
}

TEST_CASE("https server: unusable TLS files are refused at Start") {
  test::TempDir dir;
  test::TestPki pki = test::MakeTestPki(dir.path(), "node");
  test::TestPki other = test::MakeTestPki(dir.path(), "other");
  const std::string junk = (dir.path() / "junk.pem").string();
  std::ofstream(junk) << "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  const std::string missing = (dir.path() / "missing.pem").string();
  struct Case {
    std::string cert, key, expected;
  };
  const std::vector<Case> cases = {
      {pki.cert_file, "", "TLS needs both a certificate file and a key file"},
      {"", pki.key_file, "TLS needs both a certificate file and a key file"},
      {missing, pki.key_file, "cannot read the TLS certificate file " + missing},
      {pki.cert_file, missing, "cannot read the TLS key file " + missing},
      {junk, pki.key_file, "the TLS certificate file " + junk + " holds no usable PEM"},
      {pki.cert_file, junk, "the TLS key file " + junk + " holds no usable unencrypted PEM"},
      {pki.cert_file, pki.cert_file, "holds no usable unencrypted PEM private key"},
      {pki.cert_file, other.key_file,
       "the TLS key file " + other.key_file + " does not match the certificate in " +
           pki.cert_file},
  };
  for (const Case& c : cases) {
    CAPTURE(c.cert);
    CAPTURE(c.key);
    Server server(c.cert, c.key);
    CHECK(server.start().code() == core::StatusCode::kInvalidInput);
    CHECK_MESSAGE(Has(server.start().message(), c.expected), server.start().message());
  }
}
