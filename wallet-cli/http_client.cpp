// The wallet's only use of Boost.Beast and Asio (see http_client.h for why it is kept to one
// file). Beast's synchronous calls have no timeouts, so each step runs as an asynchronous
// operation on a private io_context that this thread drives to completion; beast::tcp_stream's
// expiry then cancels a step that takes too long.
#include "wallet-cli/http_client.h"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <charconv>
#include <chrono>
#include <optional>

namespace hallmark::wallet {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::string_view kUserAgent = "hallmark-cli";

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Asio's messages start with a capital ("Connection refused"); ours continue a sentence.
std::string Describe(const beast::error_code& ec) {
  std::string m = ec.message();
  if (!m.empty() && m.size() > 1 && std::isupper(static_cast<unsigned char>(m[0])) &&
      std::islower(static_cast<unsigned char>(m[1]))) {
    m[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(m[0])));
  }
  return m;
}

std::string Seconds(uint32_t ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  std::string s = std::to_string(ms / 1000) + "." + std::to_string((ms % 1000) / 100);
  return s + " s";
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

core::Result<NodeAddress> ParseNodeUrl(std::string_view url) {
  if (url.size() > kNodeUrlBytesMax) {
    return core::Status::InvalidInput("node URL is longer than " +
                                      std::to_string(kNodeUrlBytesMax) + " bytes");
  }
  const std::string shown = "\"" + std::string(url.substr(0, 100)) + "\"";
  std::string_view rest = url;
  if (const size_t sep = url.find("://"); sep != std::string_view::npos) {
    const std::string scheme = Lower(url.substr(0, sep));
    if (scheme == "https") {
      return core::Status::InvalidInput(
          "node URL " + shown +
          ": https is not supported yet (the node's API is plain HTTP for now); use http://");
    }
    if (scheme != "http") {
      return core::Status::InvalidInput("node URL " + shown + " must start with http://");
    }
    rest = url.substr(sep + 3);
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return core::Status::InvalidInput("node URL " + shown +
                                      " must not have a query string or fragment");
  }
  const size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    return core::Status::InvalidInput("node URL " + shown + " must not contain user info");
  }

  NodeAddress a;
  std::string_view port;
  bool ipv6 = false;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return core::Status::InvalidInput("node URL " + shown + " has an unclosed '['");
    }
    a.host = std::string(authority.substr(1, close - 1));
    ipv6 = true;
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return core::Status::InvalidInput("node URL " + shown + " has text after ']'");
      }
      port = after.substr(1);
    }
  } else {
    const size_t colon = authority.find(':');
    if (colon != std::string_view::npos &&
        authority.find(':', colon + 1) != std::string_view::npos) {
      return core::Status::InvalidInput(
          "node URL " + shown + ": write an IPv6 address in brackets, e.g. http://[::1]:7800");
    }
    a.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (a.host.empty()) return core::Status::InvalidInput("node URL " + shown + " has no host");
  if (port.empty()) {
    a.port = "80";
  } else {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (!AllDigits(port) || port.size() > 5 || ec != std::errc() ||
        end != port.data() + port.size() || value == 0 || value > 65535) {
      return core::Status::InvalidInput("node URL " + shown + " has a bad port \"" +
                                        std::string(port.substr(0, 10)) + "\"");
    }
    a.port = std::to_string(value);
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  a.base_path = std::string(path);
  a.url = "http://" + (ipv6 ? "[" + a.host + "]" : a.host) + ":" + a.port + a.base_path;
  return a;
}

struct HttpClient::Impl {
  NodeAddress address;
  HttpClientOptions options;
  asio::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  uint64_t connections_opened = 0;
  uint64_t requests_on_connection = 0;

  Impl(NodeAddress a, HttpClientOptions o) : address(std::move(a)), options(o) {}
  ~Impl() { Close(); }

  // Drives the io_context until the operations just started have all completed.
  void RunAll() {
    ioc.restart();
    ioc.run();
  }

  void Close() {
    if (!stream) return;
    beast::error_code ignored;
    stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream->socket().close(ignored);
    stream.reset();
    buffer.clear();
    requests_on_connection = 0;
  }

  std::string CannotReach(std::string_view why) const {
    return "cannot reach node at " + address.url + ": " + std::string(why);
  }

  core::Status Connect() {
    // Name lookup is synchronous: its time is bounded by the system resolver's own timeouts,
    // and for the usual numeric address it returns at once.
    tcp::resolver resolver(ioc);
    beast::error_code ec;
    const tcp::resolver::results_type endpoints = resolver.resolve(address.host, address.port, ec);
    if (ec) return core::Status::IoError(CannotReach(Describe(ec)));

    stream.emplace(ioc);
    stream->expires_after(std::chrono::milliseconds(options.connect_timeout_ms));
    ec = asio::error::would_block;
    stream->async_connect(endpoints,
                          [&ec](const beast::error_code& e, const tcp::endpoint&) { ec = e; });
    RunAll();
    if (ec) {
      stream.reset();
      if (ec == beast::error::timeout) {
        return core::Status::IoError(
            CannotReach("no connection within " + Seconds(options.connect_timeout_ms)));
      }
      return core::Status::IoError(CannotReach(Describe(ec)));
    }
    beast::error_code ignored;
    stream->socket().set_option(tcp::no_delay(true), ignored);
    ++connections_opened;
    requests_on_connection = 0;
    buffer.clear();
    return core::Status::Ok();
  }

  // One request and its answer on the open connection. `*stale` is set when the failure looks
  // like a kept-alive connection the node had already closed, so a retry on a new one is right.
  core::Result<HttpResponse> Exchange(http::request<http::string_body>& req, uint32_t timeout_ms,
                                      bool* stale) {
    *stale = false;
    const bool reused = requests_on_connection > 0;
    ++requests_on_connection;
    stream->expires_after(std::chrono::milliseconds(timeout_ms));

    beast::error_code ec = asio::error::would_block;
    http::async_write(*stream, req, [&ec](const beast::error_code& e, size_t) { ec = e; });
    RunAll();
    if (ec) {
      Close();
      *stale = reused && ec != beast::error::timeout;
      if (ec == beast::error::timeout) {
        return core::Status::IoError("node at " + address.url +
                                     " did not take the request within " + Seconds(timeout_ms));
      }
      return core::Status::IoError("lost the connection to node at " + address.url + ": " +
                                   Describe(ec));
    }

    http::response_parser<http::string_body> parser;
    parser.body_limit(options.response_bytes_max);
    ec = asio::error::would_block;
    http::async_read(*stream, buffer, parser,
                     [&ec](const beast::error_code& e, size_t) { ec = e; });
    RunAll();
    if (ec) {
      const bool nothing_read = !parser.got_some();
      Close();
      if (ec == beast::error::timeout) {
        return core::Status::IoError("node at " + address.url + " did not answer within " +
                                     Seconds(timeout_ms));
      }
      if (ec == http::error::body_limit) {
        return core::Status::IoError("node at " + address.url + " sent an answer larger than " +
                                     std::to_string(options.response_bytes_max) + " bytes");
      }
      *stale = reused && nothing_read;
      return core::Status::IoError("lost the connection to node at " + address.url + ": " +
                                   Describe(ec));
    }

    http::response<http::string_body>& res = parser.get();
    HttpResponse out;
    out.status = res.result_int();
    out.content_type = std::string(res[http::field::content_type]);
    const std::string_view retry_after = res[http::field::retry_after];
    uint32_t seconds = 0;
    if (AllDigits(retry_after) &&
        std::from_chars(retry_after.data(), retry_after.data() + retry_after.size(), seconds).ec ==
            std::errc()) {
      out.retry_after_s = seconds;
    }
    const bool keep_alive = res.keep_alive();
    out.body = std::move(res.body());
    if (!keep_alive) Close();
    return out;
  }

  core::Result<HttpResponse> Request(http::verb verb, std::string_view target,
                                     std::string_view body, std::string_view content_type,
                                     uint32_t timeout_ms) {
    http::request<http::string_body> req{verb, address.base_path + std::string(target), 11};
    const bool ipv6 = address.host.find(':') != std::string::npos;
    req.set(http::field::host,
            (ipv6 ? "[" + address.host + "]" : address.host) + ":" + address.port);
    req.set(http::field::user_agent, kUserAgent);
    req.set(http::field::accept, "application/json");
    req.keep_alive(true);
    if (verb == http::verb::post) {
      req.set(http::field::content_type, content_type);
      req.body() = std::string(body);
    }
    req.prepare_payload();
    const uint32_t timeout = timeout_ms != 0 ? timeout_ms : options.request_timeout_ms;

    // At most two attempts: the second only when the first met a connection the node had
    // closed while it sat idle.
    for (int attempt = 0;; ++attempt) {
      if (!stream) {
        core::Status s = Connect();
        if (!s.ok()) return s;
      }
      bool stale = false;
      core::Result<HttpResponse> r = Exchange(req, timeout, &stale);
      if (r.ok() || !stale || attempt > 0) return r;
    }
  }
};

HttpClient::HttpClient(NodeAddress address, HttpClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(address), options)) {}
HttpClient::~HttpClient() = default;
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;

core::Result<HttpResponse> HttpClient::Get(std::string_view target, uint32_t timeout_ms) {
  return impl_->Request(http::verb::get, target, "", "", timeout_ms);
}

core::Result<HttpResponse> HttpClient::Post(std::string_view target, std::string_view body,
                                            std::string_view content_type, uint32_t timeout_ms) {
  return impl_->Request(http::verb::post, target, body, content_type, timeout_ms);
}

const NodeAddress& HttpClient::address() const {
  return impl_->address;
}

uint64_t HttpClient::connections_opened() const {
  return impl_->connections_opened;
}

}  // namespace hallmark::wallet
