#pragma once

// What the commands that talk to a node share: the exit code for a node's error, a Reporter that
// prints failures in one form, the time left before a command's deadline, and submitting a signed
// record and waiting for its commit (SubmitAndWait, in node_commands.cpp). Internal to the CLI.

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "wallet-cli/commands.h"
#include "wallet-cli/format.h"
#include "wallet-cli/node_client.h"

namespace hallmark::wallet {

using Clock = std::chrono::steady_clock;

// A single request never waits longer than this, however long --timeout is, so that one lost
// answer does not eat the whole wait.
inline constexpr uint32_t kRequestTimeoutMsMax = 15'000;

inline ExitCode ExitCodeForNode(const NodeError& e) {
  switch (e.kind) {
    case NodeErrorKind::kRejected:
      return ExitCode::kInvalidInput;
    case NodeErrorKind::kTransport:
    case NodeErrorKind::kBadResponse:
    case NodeErrorKind::kBusy:
    case NodeErrorKind::kServer:
      return ExitCode::kFileOrUsage;
  }
  return ExitCode::kInternal;
}

// Prints a command's failures, each prefixed with the command's name, and with --json also the
// node's ErrorResponse on stdout so that scripts can read the code.
class Reporter {
 public:
  Reporter(std::string command, bool json, std::ostream& out, std::ostream& err)
      : command_(std::move(command)), json_(json), out_(out), err_(err) {}

  // Messages may quote the node's words, which pass through ForTerminal like all network text.
  int Fail(ExitCode code, std::string_view message) const {
    err_ << command_ << ": " << ForTerminal(message) << "\n";
    return ToInt(code);
  }
  int Fail(const core::Status& status, std::string_view context = "") const {
    return Fail(ExitCodeFor(status), context.empty()
                                         ? status.message()
                                         : std::string(context) + ": " + status.message());
  }
  // `what` names the request ("the record", "the item look-up"). A transport failure already
  // names the node, so it is printed alone; otherwise the node's code and message follow as sent.
  int FailNode(const NodeError& e, std::string_view what) const {
    if (json_) {
      pb::ErrorResponse r;
      *r.mutable_error() = e.error;
      out_ << JsonLine(r) << "\n";
    }
    const std::string status = " (HTTP " + std::to_string(e.http_status) + ")";
    switch (e.kind) {
      case NodeErrorKind::kTransport:
      case NodeErrorKind::kBadResponse:
        return Fail(ExitCodeForNode(e), e.ToString());
      case NodeErrorKind::kRejected:
        return Fail(ExitCodeForNode(e),
                    "the node refused " + std::string(what) + ": " + e.ToString());
      case NodeErrorKind::kBusy:
        return Fail(ExitCodeForNode(e), "the node is busy" + status + " and refused " +
                                            std::string(what) + ": " + e.ToString() +
                                            "; try again later");
      case NodeErrorKind::kServer:
        return Fail(ExitCodeForNode(e),
                    "the node failed" + status + " on " + std::string(what) + ": " + e.ToString());
    }
    return Fail(ExitCode::kInternal, e.ToString());
  }
  const std::string& command() const { return command_; }

 private:
  std::string command_;
  bool json_;
  std::ostream& out_;
  std::ostream& err_;
};

inline uint32_t RemainingMs(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return static_cast<uint32_t>(std::min<int64_t>(left, std::numeric_limits<uint32_t>::max()));
}

// The timeout for one request made before `deadline`; at least 1 ms, since 0 means "default".
inline uint32_t RequestTimeoutMs(Clock::time_point deadline) {
  return std::max<uint32_t>(1, std::min(RemainingMs(deadline), kRequestTimeoutMsMax));
}

inline std::string SecondsText(uint32_t ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms / 1000) + "." + std::to_string((ms % 1000) / 100) + " s";
}

inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// How SubmitAndWait ended. On failure it has printed the reason (and, with --json, the node's
// answer) and `failure` holds the exit code.
struct SubmitOutcome {
  std::optional<int> failure;
  pb::SubmitResponse submitted;     // The node's answer to the submission.
  pb::RecordStatusResponse status;  // When waiting: the committed record.
};

// Submits `envelope` (offering it again while the node is busy, until `deadline`) and, when
// `wait`, polls GET /v1/records/{id} until it is committed or rejected. `still_pending_hint`
// ends the message when the deadline passes with the record still pending ("`hallmark show ID`
// will tell"). Prints nothing on success.
SubmitOutcome SubmitAndWait(NodeClient& node, const pb::Envelope& envelope,
                            Clock::time_point deadline, uint32_t timeout_ms, bool wait, bool json,
                            const Reporter& report, std::string_view still_pending_hint,
                            std::ostream& out);

}  // namespace hallmark::wallet
