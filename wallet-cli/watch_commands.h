#pragma once

// `hallmark watch`: follows a node's live feed of committed records (GET /v1/events, Server-Sent
// Events, docs/api.md) and prints one line per event. After a lost connection (a node restart)
// it reconnects with backoff and resumes right after the last event it printed, so no event is
// lost or printed twice. Like the other commands, a library function returning the exit code
// and writing only to the streams it is given.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "proto/api.pb.h"

namespace CLI {
class App;
}

namespace hallmark::wallet {

// One Server-Sent Event as read: the fields the feed uses.
struct SseMessage {
  std::string id;     // Empty when the event had no id line.
  std::string event;  // "message" when the event had no event line.
  std::string data;   // Data lines joined by '\n'.
};

// Reads the text/event-stream format (WHATWG HTML, "Server-sent events": lines end with LF, CR
// or CRLF; "field: value"; a blank line ends an event; ':' starts a comment) from bytes as they
// arrive. Memory is bounded: a line longer than `line_bytes_max`, or an event whose data grows
// beyond it, is an error (a hostile node cannot make it buffer without end).
// Not thread-safe.
class SseParser {
 public:
  explicit SseParser(size_t line_bytes_max = 64 * 1024) : line_bytes_max_(line_bytes_max) {}
  // Calls `on_event` for each event completed by `bytes`; stops early (returning Ok) when it
  // returns false. InvalidInput when a line or an event is too long.
  core::Status Feed(std::string_view bytes, const std::function<bool(SseMessage)>& on_event);

 private:
  core::Status Line(std::string_view line, const std::function<bool(SseMessage)>& on_event,
                    bool* go_on);

  const size_t line_bytes_max_;
  std::string line_;
  bool after_cr_ = false;
  SseMessage cur_;
  bool has_data_ = false;
};

// What the command does on the wire, for tests to replace: GET `target` with `headers`, passing
// the body to `on_data` as it arrives until it returns false or the stream ends. Returns the
// HTTP status (and the body of a non-200 answer in `error_body`), or a transport error.
struct StreamAnswer {
  unsigned status = 0;
  std::string error_body;  // Bounded: the start of a non-200 answer.
  std::optional<uint32_t> retry_after_s;
};
using StreamOpener = std::function<core::Result<StreamAnswer>(
    const std::string& target, const std::vector<std::pair<std::string, std::string>>& headers,
    const std::function<bool(std::string_view)>& on_data)>;

struct WatchOptions {
  std::string node_url;  // Empty: ResolveNodeUrl("").
  std::string brand;
  std::string item;  // Any form ParseItemId reads; sent canonical.
  std::vector<std::string> types;
  std::vector<std::string> flags;
  std::optional<uint64_t> since;  // The events of blocks above this height; none: live only.
  bool json = false;              // One FeedEvent as JSON per line instead of text.
  // Reconnection backoff: the first wait, doubled after each failure up to the last.
  uint32_t retry_first_ms = 500;
  uint32_t retry_max_ms = 30'000;
  // Tests: stop after this many events (0: never), and a stop check made between reads.
  size_t max_events = 0;
  std::function<bool()> stopped;
  StreamOpener opener;  // Unset: HTTP to the node.
};

// Prints events until stopped (Ctrl-C), max_events, or an error that reconnecting cannot cure:
// exit 0 when stopped; 2 when the node refuses the query (400: its message is printed); 3 on a
// usage error, or a node whose feed breaks the format (a line over 64 KiB, an event that is not
// a FeedEvent). A node that cannot be reached, restarts or is full (503) is retried with
// backoff, saying so on `err` once per outage.
int RunWatch(const WatchOptions& options, std::ostream& out, std::ostream& err);

// The one line printed for an event without --json:
// "2026-12-03 17:00:01  12.0  flag          01/…/21/ABC  stolen, by resale: left in a taxi".
std::string FormatFeedEvent(const pb::FeedEvent& event);

// The `watch` command on the command line (see ExportCommandLine).
class WatchCommandLine {
 public:
  explicit WatchCommandLine(CLI::App& app);
  ~WatchCommandLine();
  WatchCommandLine(const WatchCommandLine&) = delete;
  WatchCommandLine& operator=(const WatchCommandLine&) = delete;

  bool parsed() const;
  // Installs a SIGINT/SIGTERM handler that ends the watch cleanly (exit 0).
  int Run(bool json, const std::string& node_url, std::ostream& out, std::ostream& err);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace hallmark::wallet
