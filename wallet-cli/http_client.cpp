// The wallet's only use of Boost.Beast and Asio (see http_client.h for why it is kept to one
// file). Beast's synchronous calls have no timeouts, so each step runs as an asynchronous
// operation on a private io_context that this thread drives to completion; beast::tcp_stream's
// expiry then cancels a step that takes too long.
#include "wallet-cli/http_client.h"

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "core/json.h"
#include "proto/api.pb.h"

namespace hallmark::wallet {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::string_view kUserAgent = "hallmark-cli";
// An answer's status line and header fields; the node's are a few hundred bytes.
constexpr uint32_t kHeaderBytesMax = 16 * 1024;
// The most one read from the socket brings in (it also holds a whole header).
constexpr size_t kReadBufferBytesMax = 64 * 1024;

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

// "16 MiB", "8 KiB" or "1000 bytes".
std::string FormatSize(uint64_t bytes) {
  constexpr uint64_t kKiB = 1024;
  constexpr uint64_t kMiB = 1024 * kKiB;
  if (bytes >= kMiB && bytes % kMiB == 0) return std::to_string(bytes / kMiB) + " MiB";
  if (bytes >= kKiB && bytes % kKiB == 0) return std::to_string(bytes / kKiB) + " KiB";
  return std::to_string(bytes) + " bytes";
}

// At most this much of a non-API answer is quoted, with control characters replaced so that it
// cannot drive the terminal.
std::string Printable(std::string_view text) {
  constexpr size_t kQuotedBytesMax = 200;
  std::string out;
  for (char c : text.substr(0, kQuotedBytesMax)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? ' ' : c;
  }
  if (text.size() > kQuotedBytesMax) out += "…";
  return out;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string& DefaultCaFileStorage() {
  static std::string path;
  return path;
}

// The reason of OpenSSL's oldest queued error, and the queue cleared.
std::string OpenSslReason(std::string_view fallback) {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  const char* reason = e != 0 ? ERR_reason_error_string(e) : nullptr;
  return reason != nullptr ? std::string(reason) : std::string(fallback);
}

// Loads `path` as the trusted CA certificates of `ctx`; the error names the file.
core::Status LoadCaFile(SSL_CTX* ctx, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return core::Status::InvalidInput("cannot read the CA file " + path + ": " +
                                      std::strerror(errno));
  }
  ERR_clear_error();
  if (SSL_CTX_load_verify_locations(ctx, path.c_str(), nullptr) != 1) {
    return core::Status::InvalidInput("the CA file " + path + " holds no usable PEM certificate (" +
                                      OpenSslReason("unreadable") + ")");
  }
  return core::Status::Ok();
}

// Verification failures that a private CA explains (the chain ends at an unknown issuer).
bool IssuerError(long v) {
  return v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
         v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT || v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
         v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
         v == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE;
}

}  // namespace

core::Status SetDefaultCaFile(const std::string& path) {
  if (!path.empty()) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == nullptr) return core::Status::Internal("OpenSSL could not make a TLS context");
    core::Status s = LoadCaFile(ctx, path);
    SSL_CTX_free(ctx);
    HM_RETURN_IF_ERROR(s);
  }
  DefaultCaFileStorage() = path;
  return core::Status::Ok();
}

const std::string& DefaultCaFile() {
  return DefaultCaFileStorage();
}

core::Result<NodeAddress> ParseNodeUrl(std::string_view url) {
  if (url.size() > kNodeUrlBytesMax) {
    return core::Status::InvalidInput("node URL is longer than " +
                                      std::to_string(kNodeUrlBytesMax) + " bytes");
  }
  const std::string shown = "\"" + std::string(url.substr(0, 100)) + "\"";
  std::string_view rest = url;
  NodeAddress a;
  if (const size_t sep = url.find("://"); sep != std::string_view::npos) {
    const std::string scheme = Lower(url.substr(0, sep));
    if (scheme != "http" && scheme != "https") {
      return core::Status::InvalidInput("node URL " + shown +
                                        " must start with http:// or https://");
    }
    a.tls = scheme == "https";
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
    a.port = a.tls ? "443" : "80";
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
  a.url = (a.tls ? "https://" : "http://") + (ipv6 ? "[" + a.host + "]" : a.host) + ":" + a.port +
          a.base_path;
  return a;
}

struct HttpClient::Impl {
  NodeAddress address;
  HttpClientOptions options;
  asio::io_context ioc;
  // One of the two is open while connected: `stream` for http, `tls_stream` for https.
  std::optional<beast::tcp_stream> stream;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_stream;
  std::optional<asio::ssl::context> ssl_ctx;  // Made on the first https connection.
  // Bounded, so that one read step brings at most this much of an answer into memory.
  beast::flat_buffer buffer{kReadBufferBytesMax};
  uint64_t connections_opened = 0;
  uint64_t requests_on_connection = 0;

  Impl(NodeAddress a, HttpClientOptions o) : address(std::move(a)), options(o) {}
  ~Impl() { Close(); }

  // Drives the io_context until the operations just started have all completed.
  void RunAll() {
    ioc.restart();
    ioc.run();
  }

  bool Connected() const { return stream.has_value() || tls_stream.has_value(); }

  // REQUIRES: Connected().
  beast::tcp_stream& Lowest() {
    return tls_stream ? beast::get_lowest_layer(*tls_stream) : *stream;
  }

  // Runs `f` on the open connection's stream, whichever kind it is.
  template <class F>
  void WithStream(F&& f) {
    if (tls_stream) {
      f(*tls_stream);
    } else {
      f(*stream);
    }
  }

  // No TLS close_notify: every answer is framed by HTTP, so nothing is lost without it.
  void Close() {
    if (!Connected()) return;
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().socket().close(ignored);
    stream.reset();
    tls_stream.reset();
    buffer.clear();
    requests_on_connection = 0;
  }

  core::Status MakeSslContext() {
    if (ssl_ctx) return core::Status::Ok();
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    const std::string& ca_file = options.ca_file.empty() ? DefaultCaFile() : options.ca_file;
    if (ca_file.empty()) {
      if (SSL_CTX_set_default_verify_paths(ctx.native_handle()) != 1) {
        return core::Status::IoError(CannotReach("cannot load the system's CA certificates (" +
                                                 OpenSslReason("unknown") + ")"));
      }
    } else {
      HM_RETURN_IF_ERROR(LoadCaFile(ctx.native_handle(), ca_file));
    }
    ctx.set_verify_mode(asio::ssl::verify_peer);
    ssl_ctx.emplace(std::move(ctx));
    return core::Status::Ok();
  }

  // Sets up name checks on the fresh `tls_stream` and runs the handshake.
  core::Status Handshake(uint32_t connect_timeout_ms) {
    SSL* ssl = tls_stream->native_handle();
    beast::error_code ec;
    asio::ip::make_address(address.host, ec);
    const bool is_ip = !ec;
    if (is_ip) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      if (X509_VERIFY_PARAM_set1_ip_asc(param, address.host.c_str()) != 1) {
        return core::Status::IoError(CannotReach("cannot check the address " + address.host));
      }
    } else {
      // SNI is for names only (RFC 6066 forbids IP literals there).
      if (SSL_set_tlsext_host_name(ssl, address.host.c_str()) != 1 ||
          SSL_set1_host(ssl, address.host.c_str()) != 1) {
        return core::Status::IoError(CannotReach("cannot check the name " + address.host));
      }
    }
    Lowest().expires_after(std::chrono::milliseconds(connect_timeout_ms));
    ec = asio::error::would_block;
    tls_stream->async_handshake(asio::ssl::stream_base::client,
                                [&ec](const beast::error_code& e) { ec = e; });
    RunAll();
    if (!ec) return core::Status::Ok();
    if (ec == beast::error::timeout) {
      return core::Status::IoError(
          CannotReach("no TLS handshake within " + Seconds(connect_timeout_ms)));
    }
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      std::string m =
          "certificate verify failed (" + std::string(X509_verify_cert_error_string(verify)) + ")";
      if (IssuerError(verify)) m += "; pass --cacert FILE if the node uses a private CA";
      return core::Status::IoError(CannotReach(m));
    }
    if (ec.category() == asio::error::get_ssl_category()) {
      return core::Status::IoError(CannotReach(
          "TLS handshake failed (" + Describe(ec) +
          "); is the node serving https on this port? (an http:// node needs an http:// URL)"));
    }
    return core::Status::IoError(CannotReach("TLS handshake failed: " + Describe(ec)));
  }

  std::string CannotReach(std::string_view why) const {
    return "cannot reach node at " + address.url + ": " + std::string(why);
  }

  core::Status Connect() { return Connect(options.connect_timeout_ms); }

  core::Status Connect(uint32_t connect_timeout_ms) {
    // Name lookup is synchronous: its time is bounded by the system resolver's own timeouts,
    // and for the usual numeric address it returns at once.
    tcp::resolver resolver(ioc);
    beast::error_code ec;
    const tcp::resolver::results_type endpoints = resolver.resolve(address.host, address.port, ec);
    if (ec) return core::Status::IoError(CannotReach(Describe(ec)));

    if (address.tls) {
      HM_RETURN_IF_ERROR(MakeSslContext());
      tls_stream.emplace(ioc, *ssl_ctx);
    } else {
      stream.emplace(ioc);
    }
    Lowest().expires_after(std::chrono::milliseconds(connect_timeout_ms));
    ec = asio::error::would_block;
    Lowest().async_connect(endpoints,
                           [&ec](const beast::error_code& e, const tcp::endpoint&) { ec = e; });
    RunAll();
    if (ec) {
      stream.reset();
      tls_stream.reset();
      if (ec == beast::error::timeout) {
        return core::Status::IoError(
            CannotReach("no connection within " + Seconds(connect_timeout_ms)));
      }
      return core::Status::IoError(CannotReach(Describe(ec)));
    }
    beast::error_code ignored;
    Lowest().socket().set_option(tcp::no_delay(true), ignored);
    if (address.tls) {
      core::Status s = Handshake(connect_timeout_ms);
      if (!s.ok()) {
        Close();
        return s;
      }
    }
    ++connections_opened;
    requests_on_connection = 0;
    buffer.clear();
    return core::Status::Ok();
  }

  // One request and its answer on the open connection. `*stale` is set when the failure looks
  // like a kept-alive connection the node had already closed, so a retry on a new one is right.
  // `timeout_ms` bounds the whole exchange, from the first byte written to the last one read.
  core::Result<HttpResponse> Exchange(http::request<http::string_body>& req, uint32_t timeout_ms,
                                      size_t response_bytes_max, bool* stale) {
    *stale = false;
    const bool reused = requests_on_connection > 0;
    ++requests_on_connection;
    Lowest().expires_after(std::chrono::milliseconds(timeout_ms));

    beast::error_code ec = asio::error::would_block;
    WithStream([&](auto& s) {
      http::async_write(s, req, [&ec](const beast::error_code& e, size_t) { ec = e; });
    });
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
    parser.header_limit(kHeaderBytesMax);
    parser.body_limit(response_bytes_max);
    core::Status read = ReadAnswer(&parser, timeout_ms, response_bytes_max, reused, stale);
    if (!read.ok()) {
      Close();
      return read;
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

  // Reads one answer into `parser`, enforcing the size limit itself rather than trusting Beast's
  // body_limit: Beast 1.74 drops that error when the header and the start of the body arrive in
  // one read, and would then reserve whatever Content-Length the node announced. So the header
  // is read alone first, its Content-Length checked, and the body then read in steps of at most
  // one buffer (kReadBufferBytesMax), counting what has arrived, chunked or not.
  core::Status ReadAnswer(http::response_parser<http::string_body>* parser, uint32_t timeout_ms,
                          size_t bytes_max, bool reused, bool* stale) {
    uint64_t bytes_parsed = 0;
    auto failed = [&](const beast::error_code& ec) {
      const uint64_t received = bytes_parsed + buffer.size();
      if (ec == beast::error::timeout) {
        if (received == 0) {
          return core::Status::IoError("node at " + address.url + " did not answer within " +
                                       Seconds(timeout_ms));
        }
        return core::Status::IoError("node at " + address.url + " sent " +
                                     std::to_string(received) + " bytes in " + Seconds(timeout_ms) +
                                     " and did not finish its answer");
      }
      if (ec == http::error::body_limit) return TooLarge(bytes_max, parser->content_length());
      if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
        return core::Status::IoError("node at " + address.url +
                                     " sent an answer whose header is larger than " +
                                     FormatSize(kHeaderBytesMax));
      }
      if (ec.category() == beast::error_code(http::error::bad_version).category() &&
          ec != http::error::end_of_stream && ec != http::error::partial_message) {
        return core::Status::IoError("node at " + address.url +
                                     " sent an answer that is not valid HTTP/1.1 (" + Describe(ec) +
                                     ")");
      }
      *stale = reused && received == 0;
      return core::Status::IoError("lost the connection to node at " + address.url + ": " +
                                   Describe(ec));
    };

    beast::error_code ec = asio::error::would_block;
    WithStream([&](auto& s) {
      http::async_read_header(s, buffer, *parser, [&](const beast::error_code& e, size_t n) {
        ec = e;
        bytes_parsed += n;
      });
    });
    RunAll();
    if (ec) return failed(ec);
    if (const auto length = parser->content_length(); length && *length > bytes_max) {
      return TooLarge(bytes_max, length);
    }
    while (!parser->is_done()) {
      ec = asio::error::would_block;
      WithStream([&](auto& s) {
        http::async_read_some(s, buffer, *parser, [&](const beast::error_code& e, size_t n) {
          ec = e;
          bytes_parsed += n;
        });
      });
      RunAll();
      if (ec) return failed(ec);
      if (parser->get().body().size() > bytes_max) return TooLarge(bytes_max, boost::none);
    }
    return core::Status::Ok();
  }

  core::Status TooLarge(size_t bytes_max, boost::optional<uint64_t> announced) const {
    std::string m = "the answer from node at " + address.url + " is larger than the " +
                    FormatSize(bytes_max) + " limit";
    if (announced) m += " (it announced " + std::to_string(*announced) + " bytes)";
    return core::Status::IoError(std::move(m));
  }

  // Stream(): see http_client.h.
  core::Status Stream(std::string_view target,
                      const std::vector<std::pair<std::string, std::string>>& headers,
                      const std::function<bool(std::string_view)>& on_data,
                      uint32_t connect_timeout_ms) {
    http::request<http::empty_body> req{http::verb::get, address.base_path + std::string(target),
                                        11};
    req.set(http::field::host, HostField());
    req.set(http::field::user_agent, kUserAgent);
    for (const auto& [name, value] : headers) {
      auto bad = [](std::string_view s) {
        return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
      };
      if (name.empty() || bad(name) || bad(value)) {
        return core::Status::InvalidInput("stream request header \"" + name.substr(0, 40) +
                                          "\" is empty or holds a line break or NUL");
      }
      req.set(name, value);
    }
    // The stream owns its connection to the end; later requests open a fresh one.
    Close();
    HM_RETURN_IF_ERROR(
        Connect(connect_timeout_ms != 0 ? connect_timeout_ms : options.connect_timeout_ms));
    core::Status s = StreamOn(req, on_data);
    Close();
    return s;
  }

  core::Status StreamOn(http::request<http::empty_body>& req,
                        const std::function<bool(std::string_view)>& on_data) {
    const uint32_t timeout_ms = options.request_timeout_ms;
    Lowest().expires_after(std::chrono::milliseconds(timeout_ms));
    beast::error_code ec = asio::error::would_block;
    WithStream([&](auto& s) {
      http::async_write(s, req, [&ec](const beast::error_code& e, size_t) { ec = e; });
    });
    RunAll();
    if (ec == beast::error::timeout) {
      return core::Status::IoError("node at " + address.url + " did not take the request within " +
                                   Seconds(timeout_ms));
    }
    if (ec) {
      return core::Status::IoError("lost the connection to node at " + address.url + ": " +
                                   Describe(ec));
    }

    http::response_parser<http::buffer_body> parser;
    parser.header_limit(kHeaderBytesMax);
    // The body is handed on piece by piece, never held: its length does not matter. (Not
    // boost::none: Beast 1.74 compares a Content-Length against it and always fails.)
    parser.body_limit(std::numeric_limits<uint64_t>::max());
    ec = asio::error::would_block;
    WithStream([&](auto& s) {
      http::async_read_header(s, buffer, parser,
                              [&ec](const beast::error_code& e, size_t) { ec = e; });
    });
    RunAll();
    if (ec) return StreamReadError(ec, /*in_body=*/false, timeout_ms);

    const unsigned status = parser.get().result_int();
    const bool ok = status >= 200 && status < 300;
    const std::string content_type(parser.get()[http::field::content_type]);
    std::string error_body;
    std::array<char, kStreamPieceBytesMax> piece;
    while (!parser.is_done()) {
      parser.get().body().data = piece.data();
      parser.get().body().size = piece.size();
      parser.get().body().more = true;
      // The error answer is short and has the request's deadline; the stream has none.
      if (ok) {
        if (options.stream_idle_timeout_ms != 0) {
          Lowest().expires_after(std::chrono::milliseconds(options.stream_idle_timeout_ms));
        } else {
          Lowest().expires_never();
        }
      }
      ec = asio::error::would_block;
      WithStream([&](auto& s) {
        http::async_read_some(s, buffer, parser,
                              [&ec](const beast::error_code& e, size_t) { ec = e; });
      });
      RunAll();
      if (ec == http::error::need_buffer) ec = {};
      const size_t n = piece.size() - parser.get().body().size;
      if (n > 0) {
        if (ok) {
          if (!on_data(std::string_view(piece.data(), n))) return core::Status::Ok();
        } else {
          error_body.append(piece.data(), std::min(n, kStreamErrorBytesMax - error_body.size()));
          if (error_body.size() >= kStreamErrorBytesMax) break;
        }
      }
      if (ec) {
        if (!ok && ec != beast::error::timeout) break;  // Quote what did arrive.
        return StreamReadError(ec, /*in_body=*/true,
                               ok ? options.stream_idle_timeout_ms : timeout_ms);
      }
    }
    if (ok) return core::Status::Ok();
    return StreamAnswerError(status, content_type, error_body);
  }

  core::Status StreamReadError(const beast::error_code& ec, bool in_body, uint32_t timeout_ms) {
    if (ec == beast::error::timeout) {
      if (!in_body) {
        return core::Status::IoError("node at " + address.url + " did not answer within " +
                                     Seconds(timeout_ms));
      }
      return core::Status::IoError("node at " + address.url + " sent nothing for " +
                                   Seconds(timeout_ms) + " in the middle of a stream");
    }
    if (ec == http::error::header_limit || (!in_body && ec == http::error::buffer_overflow)) {
      return core::Status::IoError("node at " + address.url +
                                   " sent an answer whose header is larger than " +
                                   FormatSize(kHeaderBytesMax));
    }
    if (ec == http::error::buffer_overflow) {
      return core::Status::IoError("node at " + address.url +
                                   " sent a chunk header or trailer larger than " +
                                   FormatSize(kReadBufferBytesMax));
    }
    if (in_body &&
        (ec == http::error::partial_message || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::ssl::error::stream_truncated)) {
      return core::Status::IoError("node at " + address.url +
                                   " closed the connection in the middle of the stream");
    }
    if (ec.category() == beast::error_code(http::error::bad_version).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return core::Status::IoError("node at " + address.url +
                                   " sent an answer that is not valid HTTP/1.1 (" + Describe(ec) +
                                   ")");
    }
    return core::Status::IoError("lost the connection to node at " + address.url + ": " +
                                 Describe(ec));
  }

  core::Status StreamAnswerError(unsigned status, const std::string& content_type,
                                 const std::string& body) const {
    std::string message;
    pb::ErrorResponse error;
    const bool api_error = content_type.rfind("application/json", 0) == 0 &&
                           core::ParseJsonStrict(body, &error, core::kApiAnswerJsonLimits).ok() &&
                           !error.error().code().empty();
    if (api_error) {
      message = error.error().code() + ": " + error.error().message();
    } else {
      message = "node at " + address.url + " answered HTTP " + std::to_string(status);
      if (!body.empty()) message += ": " + Printable(body);
    }
    if (api_error && status == 404) return core::Status::NotFound(std::move(message));
    if (api_error && status >= 400 && status < 500 && status != 429) {
      return core::Status::InvalidInput(std::move(message));
    }
    return core::Status::IoError(std::move(message));
  }

  std::string HostField() const {
    const bool ipv6 = address.host.find(':') != std::string::npos;
    return (ipv6 ? "[" + address.host + "]" : address.host) + ":" + address.port;
  }

  core::Result<HttpResponse> Request(http::verb verb, std::string_view target,
                                     std::string_view body, std::string_view content_type,
                                     uint32_t timeout_ms, size_t response_bytes_max) {
    http::request<http::string_body> req{verb, address.base_path + std::string(target), 11};
    req.set(http::field::host, HostField());
    req.set(http::field::user_agent, kUserAgent);
    req.set(http::field::accept, "application/json");
    req.keep_alive(true);
    if (verb == http::verb::post) {
      req.set(http::field::content_type, content_type);
      req.body() = std::string(body);
    }
    req.prepare_payload();
    const uint32_t timeout = timeout_ms != 0 ? timeout_ms : options.request_timeout_ms;
    const size_t bytes_max =
        response_bytes_max != 0 ? response_bytes_max : options.response_bytes_max;

    // At most two attempts: the second only when the first met a connection the node had
    // closed while it sat idle.
    for (int attempt = 0;; ++attempt) {
      if (!Connected()) {
        core::Status s = Connect();
        if (!s.ok()) return s;
      }
      bool stale = false;
      core::Result<HttpResponse> r = Exchange(req, timeout, bytes_max, &stale);
      if (r.ok() || !stale || attempt > 0) return r;
    }
  }
};

HttpClient::HttpClient(NodeAddress address, HttpClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(address), options)) {}
HttpClient::~HttpClient() = default;
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;

core::Result<HttpResponse> HttpClient::Get(std::string_view target, uint32_t timeout_ms,
                                           size_t response_bytes_max) {
  return impl_->Request(http::verb::get, target, "", "", timeout_ms, response_bytes_max);
}

core::Result<HttpResponse> HttpClient::Post(std::string_view target, std::string_view body,
                                            std::string_view content_type, uint32_t timeout_ms,
                                            size_t response_bytes_max) {
  return impl_->Request(http::verb::post, target, body, content_type, timeout_ms,
                        response_bytes_max);
}

core::Status HttpClient::Stream(std::string_view target,
                                const std::vector<std::pair<std::string, std::string>>& headers,
                                const std::function<bool(std::string_view chunk)>& on_data,
                                uint32_t connect_timeout_ms) {
  return impl_->Stream(target, headers, on_data, connect_timeout_ms);
}

const NodeAddress& HttpClient::address() const {
  return impl_->address;
}

uint64_t HttpClient::connections_opened() const {
  return impl_->connections_opened;
}

}  // namespace hallmark::wallet
