#pragma once

// A small synchronous HTTP/1.1 client for talking to one Hallmark node. This is the wallet's one
// gate to Boost.Beast and Asio: nothing else in wallet-cli includes them, so the rest of the CLI
// stays plain C++ and the choice of HTTP library can change in one file.
//
// http:// and https://. Over https the node's certificate chain is verified against the system's
// CA store (OpenSSL's default paths) or, when one is set, a CA file (--cacert), and its name
// against the URL's host (a DNS name, or an IP address literal); there is no way to skip the
// check. TLS 1.2 at least.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace hallmark::wallet {

// Where the node is, parsed from a URL such as "http://127.0.0.1:7800" or "http://node:80/api".
// Value type.
struct NodeAddress {
  std::string host;       // Name or address; an IPv6 address without its brackets.
  std::string port;       // Digits; "80" (or "443" for https) when the URL gives none.
  std::string base_path;  // "" or "/prefix" without a trailing '/'; prepended to every target.
  std::string url;        // Normalised, for messages: "http://127.0.0.1:7800".
  bool tls = false;       // https://
};

inline constexpr size_t kNodeUrlBytesMax = 2048;

// Accepts "http://host[:port][/base]", "https://host[:port][/base]" and, as a convenience,
// "host:port" (http assumed). Refuses other schemes, user info, query strings and fragments with
// kInvalidInput.
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
  // Stream(): the longest wait for the next bytes of a streamed body; 0 waits forever (a feed
  // with heartbeats can set it to a few heartbeat periods to notice a dead link).
  uint32_t stream_idle_timeout_ms = 0;
  // https: the PEM file of the CA certificates trusted for the node's chain. Empty: the
  // process-wide default (SetDefaultCaFile), and when that is empty too, the system's CA store.
  std::string ca_file;
};

// Sets the process-wide CA file for https (the CLI's --cacert / $HALLMARK_CACERT); "" goes back
// to the system's CA store. The file is read once here: kInvalidInput when it cannot be read or
// holds no PEM certificate, and the default is then left as it was. Call it before clients are
// made, from one thread.
core::Status SetDefaultCaFile(const std::string& path);
const std::string& DefaultCaFile();

// Stream(): the largest piece handed to on_data at once, and the most of a non-2xx answer's
// body that is read (to quote the node's ErrorResponse).
inline constexpr size_t kStreamPieceBytesMax = 64 * 1024;
inline constexpr size_t kStreamErrorBytesMax = 64 * 1024;

// A keep-alive connection to one node, opened on first use and reused by later requests (a
// command typically makes several: status, item, submit, then polls). When the node has closed
// an idle connection, the request is sent once more on a fresh one; that is safe for every
// request the CLI makes, including a record submission, which the node answers idempotently.
//
// Transport failures come back as kIoError with a message naming the node, e.g.
// "cannot reach node at http://127.0.0.1:7800: connection refused", or over https
// "cannot reach node at https://127.0.0.1:7443: certificate verify failed (unable to get local
// issuer certificate); pass --cacert FILE if the node uses a private CA". The TLS handshake
// counts as part of connecting (connect timeout). Any HTTP status is a
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

  // A GET whose answer body arrives over time (a Server-Sent Events feed such as
  // GET /v1/events): each piece of the body is handed to `on_data` as it arrives, chunked
  // framing already removed. Pieces are at most kStreamPieceBytesMax bytes and need not line
  // up with the server's chunks or events: the caller splits events itself. `on_data`
  // returning false stops the stream (the connection is closed) and Stream returns Ok.
  //
  // The stream gets a connection of its own (a kept-alive one is closed first, and later
  // requests open a new one) and blocks this thread until the body ends (Ok), the node closes
  // or breaks the connection mid-body (kIoError, "lost the connection to node at URL: …"), or
  // on_data says stop. `headers` are sent as given (e.g. {"Accept", "text/event-stream"},
  // {"Last-Event-ID", "42"}); a name or value holding CR, LF or NUL is refused with
  // kInvalidInput before anything is sent.
  //
  // Connecting is bounded by `connect_timeout_ms` (0: the options' connect timeout), sending
  // the request and receiving the answer's header by the request timeout; the body has no
  // overall deadline, only HttpClientOptions::stream_idle_timeout_ms between pieces. Memory
  // stays bounded whatever the node sends: the header is limited to 16 KiB, one read to
  // 64 KiB (a chunk-size line or trailer that does not fit is refused), and a chunk's size is
  // never allocated up front.
  //
  // A non-2xx answer is an error carrying the node's ErrorResponse, "<code>: <message>"
  // (kNotFound for 404, kInvalidInput for other 4xx, kIoError for 5xx, 429 and anything that
  // is not an API error); its body is read up to kStreamErrorBytesMax bytes.
  core::Status Stream(std::string_view target,
                      const std::vector<std::pair<std::string, std::string>>& headers,
                      const std::function<bool(std::string_view chunk)>& on_data,
                      uint32_t connect_timeout_ms = 0);

  const NodeAddress& address() const;
  // How many TCP connections this client has opened so far (tests check keep-alive with it).
  uint64_t connections_opened() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hallmark::wallet
