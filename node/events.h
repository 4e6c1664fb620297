#pragma once

// The live feed of committed records behind GET /v1/events (docs/api.md): which events a block
// holds, how a feed's query selects them, and the EventHub that delivers them to open feeds as
// Server-Sent Events, from any committed height onward and then live.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/status.h"
#include "node/http/message.h"
#include "node/metrics.h"
#include "proto/api.pb.h"
#include "storage/ledger.h"

namespace hallmark::node {

// The record types a feed can select (`type=`), as HistoryEntry.type names them.
inline constexpr std::string_view kFeedTypes[] = {"register",
                                                  "transfer",
                                                  "attest",
                                                  "flag",
                                                  "clear_flag",
                                                  "service",
                                                  "decommission",
                                                  "reassign",
                                                  "governance_proposal",
                                                  "governance_approval"};
// The flag kinds `flag=` takes, as core::FlagKindName prints them.
inline constexpr std::string_view kFeedFlags[] = {"stolen", "lost", "counterfeit-suspected",
                                                  "recalled"};

// Which events one feed gets; an empty field matches every event. Plain data.
struct EventFilter {
  std::string brand;               // The item's brand, an organisation id.
  std::string item_id;             // Canonical.
  std::vector<std::string> types;  // Any of these (kFeedTypes).
  // Any of these kinds (kFeedFlags); when set, only flag and clear_flag events match.
  std::vector<std::string> flags;

  bool Matches(const pb::FeedEvent& event) const;
};

// A place in the chain: the position of a record in the block at `height`. A feed resuming
// "after" a place gets the events strictly after it; kWholeBlock stands after the block's last
// record, so {h, kWholeBlock} means "the blocks above h".
inline constexpr uint32_t kWholeBlock = std::numeric_limits<uint32_t>::max();
struct EventPlace {
  uint64_t height = 0;
  uint32_t position = kWholeBlock;

  bool operator==(const EventPlace&) const = default;
};

// The query of GET /v1/events, parsed.
struct EventsQuery {
  EventFilter filter;
  std::optional<uint64_t> since;  // since=H: the events of blocks above H.
};

// Parses a query string (still percent-encoded, without the '?'): brand=ORG, item=ID (any form
// core::ParseItemId reads), type=T and flag=F (each repeatable and comma-separated), since=H.
// Anything else, a repeated brand, item or since, an unknown type or flag name, or a malformed
// value is InvalidInput with a message naming the parameter.
core::Result<EventsQuery> ParseEventsQuery(std::string_view query_string);

// "H.P", the SSE id of the record at position P of block H, as Last-Event-ID sends it back.
std::string EventId(uint64_t height, uint32_t position);
core::Result<EventPlace> ParseEventId(std::string_view text);

// The events of committed block `height`, in block order, one per record (governance records
// too). NotFound-style InvalidInput when the block is not committed; local failures as read.
// Reads the ledger only (block, item states for the brand, the network state for signers'
// organisations); any thread.
core::Result<std::vector<pb::FeedEvent>> ReadBlockEvents(const storage::Ledger& ledger,
                                                         uint64_t height);

// The SSE frame of one event: "id: H.P\nevent: TYPE\ndata: JSON\n\n", JSON on one line.
std::string EventFrame(const pb::FeedEvent& event);

// Limits and timings of the hub. Plain data.
struct EventHubOptions {
  // Open feeds at once (config http.events_watchers_max); Open refuses one more.
  size_t watchers_max = 2'048;
  // Bytes queued for one feed and not yet written to its socket (config http.events_queue_bytes).
  size_t queue_bytes_max = 256 * 1024;
  // A comment line to each feed that had nothing else to say for this long.
  uint32_t heartbeat_ms = 15'000;
  // A feed with events waiting whose queue has had no room for them for this long is dropped as
  // a slow reader. Until then it is only paused: its place is kept and the events are read back
  // from the ledger when it drains, so a burst never grows memory.
  uint32_t stall_ms_max = 5'000;
  // A feed the server never started (no sink) within this long is forgotten.
  uint32_t attach_timeout_ms = 30'000;
  // Decoded blocks kept for feeds to share (live feeds all read the newest one).
  size_t cache_bytes_max = 16 * 1024 * 1024;
  // Records (and blocks) one feed may scan per delivery round, so that one catching up over a
  // long chain does not hold up the others.
  size_t scan_per_round = 4'096;
  std::function<void(std::string_view)> log;
};

// Delivers committed records to open feeds. The consensus driver only calls OnCommit (an
// atomic increment and a notify: it never waits for a feed); one delivery thread of the hub's
// own reads committed blocks from the ledger, filters each feed's events and queues the
// matching ones on the feed's StreamSink, as far as its queue has room. A feed catching up
// reads the chain block by block as its client drains; when it reaches the head it gets
// `event: caught_up` and then each new block, through the same path, so nothing is skipped or
// sent twice between catch-up and live. Memory is bounded: per feed by the queue, shared by the
// block cache.
//
// Thread-safety: every public method may be called from any thread.
class EventHub {
 public:
  // `ledger` and `metrics` (may be null) must outlive the hub.
  EventHub(const storage::Ledger* ledger, MetricsRegistry* metrics, EventHubOptions options = {});
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // Starts the delivery thread.
  void Start();
  // Ends every feed (what is queued is still written) and stops the thread. Idempotent.
  void Stop();

  // A block was committed. Called by the driver on its strand; never blocks.
  void OnCommit(uint64_t height);

  // One open feed, for the HTTP handler to hold.
  class Feed;
  // Reserves a feed that gets the events after `after` (nullopt: after the current head, live
  // only). Null when watchers_max feeds are open.
  std::shared_ptr<Feed> Open(EventFilter filter, std::optional<EventPlace> after);
  // The stream of `feed` has started: delivery begins.
  void Attach(const std::shared_ptr<Feed>& feed, std::shared_ptr<StreamSink> sink);
  // The stream of `feed` is over (the server's on_close); frees its place. Idempotent.
  void Close(const std::shared_ptr<Feed>& feed, std::string_view reason);

  size_t watchers() const;
  const EventHubOptions& options() const { return options_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Frame {
    pb::FeedEvent event;
    std::string bytes;
  };
  struct CachedBlock {
    std::vector<Frame> frames;
    size_t bytes = 0;
    uint64_t last_use = 0;
  };
  enum class PumpResult : uint8_t { kIdle, kPaused, kMore, kDone };

  void Run();
  PumpResult Pump(Feed& feed, uint64_t head, Clock::time_point now);
  core::Result<std::shared_ptr<const CachedBlock>> Block(uint64_t height);
  void Drop(Feed& feed, std::string_view reason, std::string_view metric_reason);
  void Log(std::string_view line) const;
  void UpdateGauge();

  const storage::Ledger* ledger_;
  const EventHubOptions options_;
  Gauge* watchers_gauge_ = nullptr;
  std::map<std::string, Counter*, std::less<>> dropped_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;                         // Guarded by mu_.
  bool stopping_ = false;                     // Guarded by mu_.
  std::vector<std::shared_ptr<Feed>> feeds_;  // Guarded by mu_.
  std::thread worker_;

  // Used by the delivery thread only.
  std::map<uint64_t, std::shared_ptr<CachedBlock>> cache_;
  size_t cache_bytes_ = 0;
  uint64_t use_tick_ = 0;
};

}  // namespace hallmark::node
