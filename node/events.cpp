#include "node/events.h"

#include <algorithm>
#include <unordered_map>

#include "core/codec.h"
#include "core/governance.h"
#include "core/item_id.h"
#include "core/records.h"

namespace hallmark::node {

using core::Result;
using core::Status;

namespace {

// Longest brand=, in bytes: organisation ids are short names.
constexpr size_t kBrandBytesMax = 128;

void SetCustodian(const pb::Holder& h, pb::FeedEvent* e) {
  if (h.has_organization()) e->set_custodian_organization(h.organization());
  if (h.has_holder_key()) e->set_custodian_key(core::ToHex(h.holder_key()));
}

bool Contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

template <size_t N>
bool Known(const std::string_view (&names)[N], std::string_view value) {
  return std::find(std::begin(names), std::end(names), value) != std::end(names);
}

// Splits a comma-separated value into `out`, refusing names not in `names`, without repeats.
template <size_t N>
Status AddNames(std::string_view param, std::string_view value, const std::string_view (&names)[N],
                std::vector<std::string>* out) {
  size_t start = 0;
  while (start <= value.size()) {
    size_t comma = value.find(',', start);
    if (comma == std::string_view::npos) comma = value.size();
    const std::string_view name = value.substr(start, comma - start);
    if (!Known(names, name)) {
      std::string all;
      for (std::string_view n : names) all += (all.empty() ? "" : ", ") + std::string(n);
      return Status::InvalidInput(std::string(param) + "=" + std::string(name.substr(0, 64)) +
                                  " is not one of " + all);
    }
    if (!Contains(*out, name)) out->emplace_back(name);
    start = comma + 1;
  }
  return Status::Ok();
}

std::optional<uint64_t> ParseDecimal(std::string_view text, size_t digits_max) {
  if (text.empty() || text.size() > digits_max) return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

bool EventFilter::Matches(const pb::FeedEvent& e) const {
  if (!brand.empty() && e.brand() != brand) return false;
  if (!item_id.empty() && e.item_id() != item_id) return false;
  if (!types.empty() && !Contains(types, e.type())) return false;
  if (!flags.empty()) {
    if (e.type() != "flag" && e.type() != "clear_flag") return false;
    if (!Contains(flags, e.flag())) return false;
  }
  return true;
}

Result<EventsQuery> ParseEventsQuery(std::string_view qs) {
  EventsQuery q;
  bool brand_seen = false;
  bool item_seen = false;
  size_t start = 0;
  while (start < qs.size()) {
    size_t amp = qs.find('&', start);
    if (amp == std::string_view::npos) amp = qs.size();
    const std::string_view pair = qs.substr(start, amp - start);
    start = amp + 1;
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string name;
    std::string value;
    if (!PercentDecode(pair.substr(0, eq), &name, true) ||
        (eq != std::string_view::npos && !PercentDecode(pair.substr(eq + 1), &value, true))) {
      return Status::InvalidInput("the query has a '%' that is not followed by two hex digits");
    }
    if (value.empty()) {
      return Status::InvalidInput("query parameter " + name.substr(0, 64) + " has no value");
    }
    if (name == "brand") {
      if (brand_seen) return Status::InvalidInput("brand= may be given once");
      if (value.size() > kBrandBytesMax) {
        return Status::InvalidInput("brand= is longer than " + std::to_string(kBrandBytesMax) +
                                    " bytes");
      }
      brand_seen = true;
      q.filter.brand = std::move(value);
    } else if (name == "item") {
      if (item_seen) return Status::InvalidInput("item= may be given once");
      item_seen = true;
      Result<core::ItemId> id = core::ParseItemId(value);
      if (!id.ok()) return Status::InvalidInput("item=: " + id.status().message());
      q.filter.item_id = id->Canonical();
    } else if (name == "type") {
      HM_RETURN_IF_ERROR(AddNames("type", value, kFeedTypes, &q.filter.types));
    } else if (name == "flag") {
      HM_RETURN_IF_ERROR(AddNames("flag", value, kFeedFlags, &q.filter.flags));
    } else if (name == "since") {
      if (q.since) return Status::InvalidInput("since= may be given once");
      q.since = ParseDecimal(value, 19);
      if (!q.since) {
        return Status::InvalidInput("since= must be a block height (decimal digits), not " +
                                    value.substr(0, 32));
      }
    } else {
      return Status::InvalidInput("unknown query parameter " + name.substr(0, 64) +
                                  "; GET /v1/events takes brand, item, type, flag and since");
    }
  }
  return q;
}

std::string EventId(uint64_t height, uint32_t position) {
  return std::to_string(height) + "." + std::to_string(position);
}

Result<EventPlace> ParseEventId(std::string_view text) {
  const size_t dot = text.find('.');
  const auto bad = [&] {
    return Status::InvalidInput("Last-Event-ID must be HEIGHT.POSITION as the feed sent it, not " +
                                std::string(text.substr(0, 48)));
  };
  if (dot == std::string_view::npos) return bad();
  auto h = ParseDecimal(text.substr(0, dot), 19);
  auto p = ParseDecimal(text.substr(dot + 1), 10);
  if (!h || !p || *p >= kWholeBlock) return bad();
  return EventPlace{*h, static_cast<uint32_t>(*p)};
}

Result<std::vector<pb::FeedEvent>> ReadBlockEvents(const storage::Ledger& ledger, uint64_t height) {
  auto block = ledger.GetBlock(height);
  if (!block.ok()) return block.status();
  if (!block->has_value()) {
    return Status::InvalidInput("block " + std::to_string(height) + " is not committed");
  }
  pb::BlockHeader header;
  if (!header.ParseFromString((*block)->header())) {
    return Status::Corruption("block " + std::to_string(height) + ": unreadable header");
  }
  const std::shared_ptr<const core::NetworkState> state = ledger.network_state();
  std::unordered_map<std::string, std::string> brands;  // Item id → brand, for this block.
  std::vector<pb::FeedEvent> events;
  events.reserve((*block)->records_size());
  for (int i = 0; i < (*block)->records_size(); ++i) {
    const pb::Envelope& env = (*block)->records(i);
    pb::FeedEvent& e = events.emplace_back();
    e.set_height(height);
    e.set_position(static_cast<uint32_t>(i));
    e.set_block_time_ms(header.time_ms());
    e.set_record_id(core::RecordIdOf(env).Hex());
    e.set_signer(core::ToHex(env.signer()));
    if (auto signer = core::Hash256::FromBytes(env.signer())) {
      // A key names its organisation also after it was revoked: keys are never reused.
      if (const auto* org = state->OrganizationEverHoldingKey(*signer)) {
        e.set_signer_organization(org->id);
      }
    }
    pb::RecordPayload parsed;
    // Read through a const reference: the non-const clear_flag() clears the flag field.
    const pb::RecordPayload& p = parsed;
    if (!parsed.ParseFromString(env.payload())) {
      return Status::Corruption("block " + std::to_string(height) + " record " + std::to_string(i) +
                                ": unreadable payload");
    }
    e.set_type(std::string(core::PayloadTypeName(p)));
    if (p.has_governance()) {
      if (p.governance().has_proposal()) {
        e.set_proposal_id(e.record_id());
        e.set_kind(std::string(core::GovernanceChangeName(p.governance().proposal().change())));
        e.set_note(p.governance().proposal().note());
      } else if (p.governance().has_approval()) {
        e.set_proposal_id(core::ToHex(p.governance().approval().proposal()));
      }
      continue;
    }
    e.set_item_id(p.item_id());
    auto [it, added] = brands.try_emplace(p.item_id());
    if (added) {
      // The brand never changes after the registration, so the state after the head names it.
      auto id = core::ParseItemId(p.item_id());
      if (id.ok()) {
        auto item = ledger.GetItem(id->Key());
        if (!item.ok()) return item.status();
        if (item->has_value()) it->second = (*item)->state.brand();
      }
    }
    e.set_brand(it->second);
    switch (p.body_case()) {
      case pb::RecordPayload::kRegister: {
        const pb::Holder& c = p.register_().custodian();
        if (c.kind_case() == pb::Holder::KIND_NOT_SET) {
          e.set_custodian_organization(it->second);
        } else {
          SetCustodian(c, &e);
        }
        break;
      }
      case pb::RecordPayload::kTransfer:
        SetCustodian(p.transfer().to(), &e);
        break;
      case pb::RecordPayload::kAttest:
        e.set_kind(std::string(core::VerdictName(p.attest().verdict())));
        e.set_note(p.attest().note());
        break;
      case pb::RecordPayload::kFlag:
        e.set_flag(std::string(core::FlagKindName(p.flag().kind())));
        e.set_note(p.flag().note());
        break;
      case pb::RecordPayload::kClearFlag:
        e.set_flag(std::string(core::FlagKindName(p.clear_flag().kind())));
        e.set_note(p.clear_flag().note());
        break;
      case pb::RecordPayload::kService:
        e.set_kind(std::string(core::ServiceKindName(p.service().kind())));
        e.set_note(p.service().note());
        break;
      case pb::RecordPayload::kDecommission:
        e.set_kind(std::string(core::DecommissionKindName(p.decommission().kind())));
        e.set_note(p.decommission().reason());
        break;
      case pb::RecordPayload::kReassign:
        e.set_custodian_key(core::ToHex(p.reassign().new_holder_key()));
        e.set_note(p.reassign().reason());
        break;
      case pb::RecordPayload::BODY_NOT_SET:
        break;
    }
  }
  return events;
}

std::string EventFrame(const pb::FeedEvent& event) {
  // Protobuf's JSON printer escapes control characters, so the JSON is one line whatever a note
  // holds, and no data line can end the event early.
  Result<std::string> json = core::ToApiJson(event);  // One line, every field present.
  std::string out =
      "id: " + EventId(event.height(), event.position()) + "\nevent: " + event.type() + "\ndata: ";
  out += json.ok() ? *json : std::string("{}");
  out += "\n\n";
  return out;
}

// One open feed. Its fields are the delivery thread's, except sink and closed (under mu_).
class EventHub::Feed {
 public:
  Feed(EventFilter f, EventPlace a, std::chrono::steady_clock::time_point now)
      : filter(std::move(f)), after(a), opened(now), last_write(now) {}

  const EventFilter filter;
  EventPlace after;  // The last place delivered (or skipped by the filter).
  bool caught_up = false;
  std::chrono::steady_clock::time_point opened;
  std::chrono::steady_clock::time_point last_write;
  std::optional<std::chrono::steady_clock::time_point> stalled_since;
  // Guarded by the hub's mu_.
  std::shared_ptr<StreamSink> sink;
  bool closed = false;
};

EventHub::EventHub(const storage::Ledger* ledger, MetricsRegistry* metrics, EventHubOptions options)
    : ledger_(ledger), options_(std::move(options)) {
  if (metrics) {
    watchers_gauge_ = &metrics->GetGauge("hallmark_events_watchers", "Open GET /v1/events feeds.");
    for (const char* reason : {"slow_reader", "write_failed", "internal"}) {
      dropped_[reason] = &metrics->GetCounter(
          "hallmark_events_dropped_total",
          "GET /v1/events feeds the node ended, by reason: slow_reader (its queue stayed full), "
          "write_failed (the server refused a write), internal (the ledger could not be read).",
          {{"reason", reason}});
    }
  }
}

EventHub::~EventHub() {
  Stop();
}

void EventHub::Start() {
  std::lock_guard lock(mu_);
  if (worker_.joinable() || stopping_) return;
  worker_ = std::thread([this] { Run(); });
}

void EventHub::Stop() {
  std::vector<std::shared_ptr<Feed>> feeds;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    feeds.swap(feeds_);
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  for (auto& f : feeds) {
    if (f->sink) f->sink->End();
  }
  UpdateGauge();
}

void EventHub::OnCommit(uint64_t /*height*/) {
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_one();
}

std::shared_ptr<EventHub::Feed> EventHub::Open(EventFilter filter,
                                               std::optional<EventPlace> after) {
  const EventPlace start = after.value_or(EventPlace{ledger_->height(), kWholeBlock});
  auto feed = std::make_shared<Feed>(std::move(filter), start, Clock::now());
  {
    std::lock_guard lock(mu_);
    if (stopping_ || feeds_.size() >= options_.watchers_max) return nullptr;
    feeds_.push_back(feed);
    // The hub may be asleep until a heartbeat: it must see the feed to time out its attach.
    wake_ = true;
  }
  cv_.notify_one();
  UpdateGauge();
  return feed;
}

void EventHub::Attach(const std::shared_ptr<Feed>& feed, std::shared_ptr<StreamSink> sink) {
  {
    std::lock_guard lock(mu_);
    if (feed->closed || stopping_) {
      sink->End();
      return;
    }
    feed->sink = std::move(sink);
    wake_ = true;
  }
  cv_.notify_one();
}

void EventHub::Close(const std::shared_ptr<Feed>& feed, std::string_view /*reason*/) {
  {
    std::lock_guard lock(mu_);
    feed->closed = true;
    std::erase(feeds_, feed);
  }
  UpdateGauge();
}

size_t EventHub::watchers() const {
  std::lock_guard lock(mu_);
  return feeds_.size();
}

void EventHub::UpdateGauge() {
  if (watchers_gauge_) watchers_gauge_->Set(static_cast<double>(watchers()));
}

void EventHub::Log(std::string_view line) const {
  if (options_.log) options_.log(line);
}

void EventHub::Drop(Feed& feed, std::string_view reason, std::string_view metric_reason) {
  std::shared_ptr<StreamSink> sink;
  {
    std::lock_guard lock(mu_);
    feed.closed = true;
    sink = feed.sink;
    std::erase_if(feeds_, [&](const std::shared_ptr<Feed>& f) { return f.get() == &feed; });
  }
  if (auto it = dropped_.find(metric_reason); it != dropped_.end()) it->second->Inc();
  Log("events: feed dropped: " + std::string(reason));
  if (sink) sink->Abort(reason);
  UpdateGauge();
}

void EventHub::Run() {
  while (true) {
    std::vector<std::shared_ptr<Feed>> feeds;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      wake_ = false;
      feeds = feeds_;
    }
    const Clock::time_point now = Clock::now();
    const uint64_t head = ledger_->height();
    bool more = false;
    bool paused = false;
    Clock::time_point next = now + std::chrono::milliseconds(options_.heartbeat_ms);
    for (const auto& feed : feeds) {
      std::shared_ptr<StreamSink> sink;
      {
        std::lock_guard lock(mu_);
        if (feed->closed) continue;
        sink = feed->sink;
      }
      if (!sink) {
        if (now - feed->opened > std::chrono::milliseconds(options_.attach_timeout_ms)) {
          Close(feed, "never started");
        } else {
          paused = true;  // Look again soon.
        }
        continue;
      }
      if (sink->closed()) {
        Close(feed, "closed");
        continue;
      }
      switch (Pump(*feed, head, now)) {
        case PumpResult::kMore:
          more = true;
          break;
        case PumpResult::kPaused:
          paused = true;
          break;
        case PumpResult::kIdle:
        case PumpResult::kDone:
          break;
      }
      next = std::min(next, feed->last_write + std::chrono::milliseconds(options_.heartbeat_ms));
    }
    feeds.clear();  // Release before waiting, so a Close frees the feed at once.
    if (more) continue;
    std::unique_lock lock(mu_);
    if (paused) next = std::min(next, Clock::now() + std::chrono::milliseconds(20));
    cv_.wait_until(lock, next, [this] { return wake_ || stopping_; });
  }
}

EventHub::PumpResult EventHub::Pump(Feed& feed, uint64_t head, Clock::time_point now) {
  std::shared_ptr<StreamSink> sink;
  {
    std::lock_guard lock(mu_);
    sink = feed.sink;
  }
  // Writes `bytes` if the queue has room. False when it has none (the feed is paused, or
  // dropped once it has had none for stall_ms_max) or the sink refused (the feed is dropped).
  bool refused = false;
  const auto write = [&](std::string bytes) {
    if (sink->queued_bytes() + bytes.size() > options_.queue_bytes_max) {
      if (!feed.stalled_since) feed.stalled_since = now;
      if (now - *feed.stalled_since >= std::chrono::milliseconds(options_.stall_ms_max)) {
        Drop(feed,
             "slow reader: its queue of " + std::to_string(options_.queue_bytes_max) +
                 " bytes stayed full for " + std::to_string(options_.stall_ms_max) + " ms",
             "slow_reader");
        refused = true;
      }
      return false;
    }
    if (!sink->Write(std::move(bytes))) {
      if (!sink->closed()) Drop(feed, "the server refused a write", "write_failed");
      refused = true;
      return false;
    }
    feed.stalled_since.reset();
    feed.last_write = now;
    return true;
  };

  // A comment now and then, so that proxies and clients see the connection is alive.
  if (now - feed.last_write >= std::chrono::milliseconds(options_.heartbeat_ms)) {
    if (!write(": keep-alive\n\n") && refused) return PumpResult::kDone;
  }
  size_t scanned = 0;
  while (true) {
    const uint64_t h =
        feed.after.position == kWholeBlock ? feed.after.height + 1 : feed.after.height;
    if (h > head || h == 0) {
      if (h == 0) {  // after = {0, P}: nothing lies at height 0.
        feed.after = EventPlace{0, kWholeBlock};
        continue;
      }
      if (!feed.caught_up) {
        if (!write("event: caught_up\ndata: " + std::to_string(head) + "\n\n")) {
          return refused ? PumpResult::kDone : PumpResult::kPaused;
        }
        feed.caught_up = true;
      }
      return PumpResult::kIdle;
    }
    if (++scanned > options_.scan_per_round) return PumpResult::kMore;
    auto block = Block(h);
    if (!block.ok()) {
      Log("events: cannot read block " + std::to_string(h) + ": " + block.status().ToString());
      Drop(feed, "internal: the node could not read block " + std::to_string(h), "internal");
      return PumpResult::kDone;
    }
    const std::vector<Frame>& frames = (*block)->frames;
    // The first frame after the feed's place in this block.
    auto it = frames.begin();
    if (feed.after.height == h) {
      it = std::upper_bound(frames.begin(), frames.end(), feed.after.position,
                            [](uint32_t p, const Frame& f) { return p < f.event.position(); });
    }
    for (; it != frames.end(); ++it) {
      if (++scanned > options_.scan_per_round) return PumpResult::kMore;
      if (feed.filter.Matches(it->event)) {
        if (!write(it->bytes)) return refused ? PumpResult::kDone : PumpResult::kPaused;
      }
      feed.after = EventPlace{h, it->event.position()};
    }
    feed.after = EventPlace{h, kWholeBlock};
  }
}

Result<std::shared_ptr<const EventHub::CachedBlock>> EventHub::Block(uint64_t height) {
  ++use_tick_;
  if (auto it = cache_.find(height); it != cache_.end()) {
    it->second->last_use = use_tick_;
    return std::shared_ptr<const CachedBlock>(it->second);
  }
  auto events = ReadBlockEvents(*ledger_, height);
  if (!events.ok()) return events.status();
  auto block = std::make_shared<CachedBlock>();
  block->frames.reserve(events->size());
  for (pb::FeedEvent& e : *events) {
    std::string bytes = EventFrame(e);
    block->bytes += bytes.size() + static_cast<size_t>(e.SpaceUsedLong());
    block->frames.push_back(Frame{std::move(e), std::move(bytes)});
  }
  block->bytes += sizeof(CachedBlock);
  block->last_use = use_tick_;
  // Evict the least recently used blocks until the new one fits (it is kept even if alone it
  // is larger than the bound: a feed needs it now).
  while (!cache_.empty() && cache_bytes_ + block->bytes > options_.cache_bytes_max) {
    auto oldest = std::min_element(cache_.begin(), cache_.end(), [](const auto& a, const auto& b) {
      return a.second->last_use < b.second->last_use;
    });
    cache_bytes_ -= oldest->second->bytes;
    cache_.erase(oldest);
  }
  cache_bytes_ += block->bytes;
  cache_.emplace(height, block);
  return std::shared_ptr<const CachedBlock>(block);
}

}  // namespace hallmark::node
