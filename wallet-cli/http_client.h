#pragma once

// A small synchronous HTTP/1.1 client for talking to one Hallmark node. This is the wallet's one
// gate to Boost.Beast and Asio: nothing else in wallet-cli includes them, so the rest of the CLI
// stays plain C++ and the choice of HTTP library can change in one file.
//
// Plain http:// only: TLS for the node's API is out of scope for now, and an https:// URL is
// refused with a message that says so rather than silently sent in the clear.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace hallmark::wallet {

// Where the node is, parsed from a URL such as "http://127.0.0.1:7800" or "http://node:80/api".
// Value type.
struct NodeAddress {
  std::string host;       // Name or address; an IPv6 address without its brackets.
  std::string port;       // Digits; "80" when the URL gives none.
  std::string base_path;  // "" or "/prefix" without a trailing '/'; prepended to every target.
  std::string url;        // Normalised, for messages: "http://127.0.0.1:7800".
};

inline constexpr size_t kNodeUrlBytesMax = 2048;

// Accepts "http://host[:port][/base]" and, as a convenience, "host:port" (http assumed). Refuses
// https (not supported yet), user info, query strings and fragments with kInvalidInput.
core::Result<NodeAddress> ParseNodeUrl(std::string_view url);

// An answer from the node, whatever its status code.
struct HttpResponse {
  unsigned status = 0;                    // 200, 202, 400, …
  std::string content_type;               // As sent, e.g. "application/json".
  std::string body;                       // At most HttpClientOptions::response_bytes_max.
  std::optional<uint32_t> retry_after_s;  // The Retry-After header, when it holds seconds.
};

// The default limit on an answer's body; a request may set its own (proof bundles).
inline constexpr size_t kResponseBytesMax = 16 * 1024 * 1024;

struct HttpClientOptions {
  uint32_t connect_timeout_ms = 5'000;   // Name resolution and TCP connect.
  uint32_t request_timeout_ms = 15'000;  // Writing the request and reading the whole answer.
  // An answer larger than this is refused (an item's full history is the largest legitimate
  // one, and far smaller).
  size_t response_bytes_max = kResponseBytesMax;
};

// A keep-alive connection to one node, opened on first use and reused by later requests (a
// command typically makes several: status, item, submit, then polls). When the node has closed
// an idle connection, the request is sent once more on a fresh one; that is safe for every
// request the CLI makes, including a record submission, which the node answers idempotently.
//
// Transport failures come back as kIoError with a message naming the node, e.g.
// "cannot reach node at http://127.0.0.1:7800: connection refused". Any HTTP status is a
// successful exchange; interpreting it is the caller's job.
//
// Not thread-safe: one client belongs to one thread. Movable, not copyable.
class HttpClient {
 public:
  explicit HttpClient(NodeAddress address, HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // `target` is the path below the base path, starting with '/', already percent-encoded.
  // `timeout_ms` and `response_bytes_max` (when non-zero) replace the options' request timeout
  // and answer size limit for this request only. The timeout is a deadline for the whole
  // exchange: a node that drip-feeds its answer is cut off with "node at URL sent N bytes in
  // 30 s and did not finish its answer". An answer over the size limit, by its Content-Length
  // or by the bytes that arrive (chunked or not), is refused without reading it to the end.
  core::Result<HttpResponse> Get(std::string_view target, uint32_t timeout_ms = 0,
                                 size_t response_bytes_max = 0);
  core::Result<HttpResponse> Post(std::string_view target, std::string_view body,
                                  std::string_view content_type, uint32_t timeout_ms = 0,
                                  size_t response_bytes_max = 0);

  const NodeAddress& address() const;
  // How many TCP connections this client has opened so far (tests check keep-alive with it).
  uint64_t connections_opened() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hallmark::wallet
