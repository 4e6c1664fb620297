#include "wallet-cli/watch_commands.h"

#include <unistd.h>
#include <csignal>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <ostream>
#include <thread>

#include "core/item_id.h"
#include "core/json.h"
#include "wallet-cli/commands.h"
#include "wallet-cli/format.h"
#include "wallet-cli/http_client.h"
#include "wallet-cli/node_commands.h"

namespace hallmark::wallet {
namespace {

constexpr std::string_view kCommand = "hallmark watch";
constexpr uint32_t kWholeBlock = UINT32_MAX;

// A place in the chain: everything up to and including it has been printed (or was not asked
// for). position kWholeBlock: the whole block.
struct Place {
  uint64_t height = 0;
  uint32_t position = kWholeBlock;
  auto operator<=>(const Place&) const = default;
};

std::optional<uint64_t> Decimal(std::string_view s, size_t digits_max) {
  if (s.empty() || s.size() > digits_max) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

std::optional<Place> ParseId(std::string_view id) {
  const size_t dot = id.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  auto h = Decimal(id.substr(0, dot), 19);
  auto p = Decimal(id.substr(dot + 1), 10);
  if (!h || !p || *p >= kWholeBlock) return std::nullopt;
  return Place{*h, static_cast<uint32_t>(*p)};
}

// Query values: unreserved characters as they are, everything else %XX.
std::string QueryEscape(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

// The request for the next connection, resuming after `resume` when set.
std::string Target(const WatchOptions& o, const std::string& item,
                   const std::optional<Place>& resume) {
  std::string q;
  const auto add = [&](std::string_view name, const std::string& value) {
    if (value.empty()) return;
    q += (q.empty() ? "?" : "&") + std::string(name) + "=" + QueryEscape(value);
  };
  add("brand", o.brand);
  add("item", item);
  add("type", Join(o.types));
  add("flag", Join(o.flags));
  if (resume && resume->position == kWholeBlock) add("since", std::to_string(resume->height));
  return "/v1/events" + q;
}

std::string ErrorMessage(const std::string& body) {
  pb::ErrorResponse e;
  if (core::ParseJsonStrict(body, &e, core::kApiAnswerJsonLimits).ok() &&
      !e.error().message().empty()) {
    return e.error().code() + ": " + e.error().message();
  }
  return body.substr(0, 200);
}

// The HTTP opener: HttpClient::Stream. No overall deadline (a feed lasts); the node's keep-alive
// comments every 15 s keep the read timeout from firing while the connection is healthy.
StreamOpener HttpOpener(const NodeAddress& address) {
  return [address](
             const std::string& target,
             const std::vector<std::pair<std::string, std::string>>& headers,
             const std::function<bool(std::string_view)>& on_data) -> core::Result<StreamAnswer> {
    HttpClientOptions options;
    // Three missed keep-alives (15 s each): the link is dead even if no error says so.
    options.stream_idle_timeout_ms = 45'000;
    HttpClient client(address, options);
    std::vector<std::pair<std::string, std::string>> all = headers;
    all.emplace_back("Accept", "text/event-stream");
    core::Status st = client.Stream(target, all, on_data);
    StreamAnswer a;
    if (st.ok()) {
      a.status = 200;  // The body ended (the node stopped) or we stopped reading.
      return a;
    }
    // A 404 or another 4xx carries the node's "code: message"; 5xx, 429, 503 and transport
    // failures are IoError, retried by the caller.
    if (st.code() == core::StatusCode::kNotFound) a.status = 404;
    if (st.code() == core::StatusCode::kInvalidInput) a.status = 400;
    if (a.status == 0) return st;
    a.error_body = st.message();
    return a;
  };
}

std::atomic<bool> g_interrupted{false};

extern "C" void OnInterrupt(int) {
  // Every line printed so far has been flushed; nothing is lost by leaving now.
  g_interrupted.store(true);
  _exit(0);
}

}  // namespace

core::Status SseParser::Feed(std::string_view bytes,
                             const std::function<bool(SseMessage)>& on_event) {
  bool go_on = true;
  for (size_t i = 0; i < bytes.size() && go_on; ++i) {
    const char c = bytes[i];
    if (c == '\n' && after_cr_) {  // The LF of a CRLF: the line already ended at the CR.
      after_cr_ = false;
      continue;
    }
    after_cr_ = c == '\r';
    if (c == '\n' || c == '\r') {
      HM_RETURN_IF_ERROR(Line(line_, on_event, &go_on));
      line_.clear();
      continue;
    }
    if (line_.size() >= line_bytes_max_) {
      return core::Status::InvalidInput("the node sent a line longer than " +
                                        std::to_string(line_bytes_max_) + " bytes");
    }
    line_ += c;
  }
  return core::Status::Ok();
}

core::Status SseParser::Line(std::string_view line, const std::function<bool(SseMessage)>& on_event,
                             bool* go_on) {
  if (line.empty()) {  // Dispatch.
    if (has_data_ || !cur_.event.empty()) {
      SseMessage m = std::move(cur_);
      if (m.event.empty()) m.event = "message";
      cur_ = {};
      has_data_ = false;
      *go_on = on_event(std::move(m));
    }
    cur_ = {};
    has_data_ = false;
    return core::Status::Ok();
  }
  if (line[0] == ':') return core::Status::Ok();  // A comment: keep-alive.
  const size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (cur_.data.size() + value.size() + 1 > line_bytes_max_) {
      return core::Status::InvalidInput("the node sent an event larger than " +
                                        std::to_string(line_bytes_max_) + " bytes");
    }
    if (has_data_) cur_.data += '\n';
    cur_.data += value;
    has_data_ = true;
  } else if (field == "event") {
    cur_.event = value;
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) cur_.id = value;
  }
  // "retry" and unknown fields are ignored, as the format says.
  return core::Status::Ok();
}

std::string FormatFeedEvent(const pb::FeedEvent& e) {
  std::string line = FormatUtc(e.block_time_ms()) + "  " + std::to_string(e.height()) + "." +
                     std::to_string(e.position()) + "  ";
  std::string type = e.type();
  if (type.size() < 12) type.resize(12, ' ');
  line += type + "  ";
  std::string details;
  const std::string by = e.signer_organization().empty() ? "key " + e.signer().substr(0, 16) + "…"
                                                         : e.signer_organization();
  const std::string custodian =
      !e.custodian_organization().empty()
          ? e.custodian_organization()
          : (e.custodian_key().empty() ? std::string()
                                       : "key " + e.custodian_key().substr(0, 16) + "…");
  if (e.type() == "register") {
    details = "brand " + e.brand() + (custodian.empty() ? "" : ", held by " + custodian);
  } else if (e.type() == "transfer" || e.type() == "reassign") {
    details = "→ " + custodian + ", by " + by;
  } else if (e.type() == "flag" || e.type() == "clear_flag") {
    details = e.flag() + ", by " + by;
  } else if (e.type().starts_with("governance")) {
    details = (e.kind().empty() ? "" : e.kind() + ", ") + "proposal " +
              e.proposal_id().substr(0, 16) + "…, by " + by;
  } else {
    details = (e.kind().empty() ? "" : e.kind() + ", ") + "by " + by;
  }
  if (!e.note().empty()) details += ": " + e.note();
  line += (e.item_id().empty() ? std::string("-") : e.item_id()) + "  " + details;
  return ForTerminal(line);
}

int RunWatch(const WatchOptions& o, std::ostream& out, std::ostream& err) {
  const auto fail = [&](ExitCode code, std::string_view message) {
    err << kCommand << ": " << ForTerminal(message) << "\n";
    return ToInt(code);
  };
  std::string item;
  if (!o.item.empty()) {
    auto id = core::ParseItemId(o.item);
    if (!id.ok()) return fail(ExitCode::kInvalidInput, "--item: " + id.status().message());
    item = id->Canonical();
  }
  StreamOpener opener = o.opener;
  std::string url = ResolveNodeUrl(o.node_url);
  if (!opener) {
    auto address = ParseNodeUrl(url);
    if (!address.ok()) return fail(ExitCode::kFileOrUsage, address.status().message());
    url = address->url;
    opener = HttpOpener(*address);
  }
  const auto stopped = [&] { return (o.stopped && o.stopped()) || g_interrupted.load(); };

  std::optional<Place> resume;
  if (o.since) resume = Place{*o.since, kWholeBlock};
  size_t printed = 0;
  uint32_t wait_ms = o.retry_first_ms;
  bool outage_reported = false;
  core::Status fatal = core::Status::Ok();
  ExitCode fatal_code = ExitCode::kOk;

  while (!stopped()) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (resume && resume->position != kWholeBlock) {
      headers.emplace_back("Last-Event-ID",
                           std::to_string(resume->height) + "." + std::to_string(resume->position));
    }
    SseParser parser;
    bool got_bytes = false;
    const auto on_event = [&](SseMessage m) {
      if (m.event == "caught_up") {
        if (auto h = Decimal(m.data, 19)) resume = std::max(resume.value_or(Place{}), Place{*h});
        return !stopped();
      }
      auto place = ParseId(m.id);
      if (!place) {
        fatal = core::Status::InvalidInput("the node sent an event without a valid id");
        return false;
      }
      if (resume && *place <= *resume) return !stopped();  // Already printed.
      pb::FeedEvent event;
      auto st = core::ParseJsonStrict(m.data, &event, core::kApiAnswerJsonLimits);
      if (!st.ok()) {
        fatal = st.WithContext("the node sent an event that is not a FeedEvent");
        return false;
      }
      if (o.json) {
        out << JsonLine(event) << std::endl;
      } else {
        out << FormatFeedEvent(event) << std::endl;
      }
      resume = *place;
      ++printed;
      if (o.max_events && printed >= o.max_events) return false;
      return !stopped();
    };
    auto answer = opener(Target(o, item, resume), headers, [&](std::string_view bytes) {
      if (!got_bytes) {
        got_bytes = true;
        if (outage_reported) err << kCommand << ": connected again to " << url << "\n";
        outage_reported = false;
        wait_ms = o.retry_first_ms;
      }
      auto st = parser.Feed(bytes, on_event);
      if (!st.ok()) {
        fatal = st;
        return false;
      }
      return fatal.ok() && !(o.max_events && printed >= o.max_events) && !stopped();
    });
    if (!fatal.ok()) {
      fatal_code = ExitCode::kFileOrUsage;
      break;
    }
    if (o.max_events && printed >= o.max_events) break;
    if (stopped()) break;
    std::optional<uint32_t> retry_after;
    if (answer.ok()) {
      const unsigned s = answer->status;
      if (s == 400) {
        fatal = core::Status::InvalidInput("the node refused the query: " +
                                           ErrorMessage(answer->error_body));
        fatal_code = ExitCode::kInvalidInput;
        break;
      }
      if (s == 404) {
        fatal = core::Status::InvalidInput("the node at " + url +
                                           " does not serve GET /v1/events (an older version?)");
        fatal_code = ExitCode::kFileOrUsage;
        break;
      }
      if (s != 200) {
        retry_after = answer->retry_after_s;
        if (!outage_reported) {
          err << kCommand << ": the node answered " << s << " ("
              << ForTerminal(ErrorMessage(answer->error_body)) << "); retrying\n";
          outage_reported = true;
        }
      } else if (!outage_reported) {
        err << kCommand << ": the feed from " << url << " ended; reconnecting\n";
        outage_reported = true;
      }
    } else if (!outage_reported) {
      err << kCommand << ": " << ForTerminal(answer.status().message()) << "; retrying\n";
      outage_reported = true;
    }
    // Back off, checking for Ctrl-C (or a test's stop) every 50 ms.
    uint64_t wait = retry_after ? std::max<uint64_t>(*retry_after * 1000ull, wait_ms) : wait_ms;
    wait = std::min<uint64_t>(wait, o.retry_max_ms);
    for (uint64_t slept = 0; slept < wait && !stopped(); slept += 50) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<uint64_t>(50, wait)));
    }
    wait_ms = std::min<uint32_t>(wait_ms * 2, o.retry_max_ms);
  }
  if (!fatal.ok()) return fail(fatal_code, fatal.message());
  return ToInt(ExitCode::kOk);
}

struct WatchCommandLine::State {
  CLI::App* cmd = nullptr;
  WatchOptions options;
  uint64_t since = 0;
};

WatchCommandLine::WatchCommandLine(CLI::App& app) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.cmd = app.add_subcommand(
      "watch",
      "Follow the node's feed of committed records, one line per event; reconnects and resumes "
      "after a node restart without losing or repeating events. Ctrl-C stops it");
  s.cmd->add_option("--brand", s.options.brand, "Only items of this brand (organisation id)");
  s.cmd->add_option("--item", s.options.item, "Only this item (any supported id form)");
  s.cmd
      ->add_option("--type", s.options.types,
                   "Only these record types: register, transfer, attest, flag, clear_flag, "
                   "service, decommission, reassign, governance_proposal, governance_approval "
                   "(repeat, or separate with commas)")
      ->delimiter(',');
  s.cmd
      ->add_option("--flag", s.options.flags,
                   "Only flag and clear_flag events of these kinds: stolen, lost, "
                   "counterfeit-suspected, recalled")
      ->delimiter(',');
  s.cmd->add_option("--since", s.since,
                    "Start with the events of the blocks above this height (default: only new "
                    "ones)");
}

WatchCommandLine::~WatchCommandLine() = default;

bool WatchCommandLine::parsed() const {
  return state_->cmd->parsed();
}

int WatchCommandLine::Run(bool json, const std::string& node_url, std::ostream& out,
                          std::ostream& err) {
  WatchOptions o = state_->options;
  o.json = json;
  o.node_url = node_url;
  if (state_->cmd->count("--since") > 0) o.since = state_->since;
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  return RunWatch(o, out, err);
}

}  // namespace hallmark::wallet
