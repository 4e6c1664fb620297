#pragma once

// How the CLI prints what the node says: aligned tables for people, one line of JSON (Protobuf
// JSON mapping) for scripts. Text that came from the network passes through ForTerminal first.
// All functions are pure and thread-safe.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proto/api.pb.h"
#include "proto/records.pb.h"

namespace google::protobuf {
class Message;
}

namespace hallmark::wallet {

// A message as one line of JSON with the proto field names and every field, zeros included, so
// scripts need not know proto3's defaults. Ends without a newline.
std::string JsonLine(const google::protobuf::Message& message);

// "2024-05-01 12:00:03" in UTC, or "-" for 0 (unknown).
std::string FormatUtc(uint64_t unix_ms);

// Text from the network with control characters (escape sequences, newlines) replaced by '?',
// so a note or attribute cannot move the cursor or recolour the user's terminal.
std::string ForTerminal(std::string_view text);

// An organisation id, or "key " and the hex public key: in full, or its first 8 bytes and "…".
std::string HolderText(const pb::Holder& holder, bool full_key);

// The details column of one history entry: "→ resale", "flag stolen: left in a taxi", …
std::string HistoryDetails(const pb::HistoryEntry& entry);

// `hallmark show`: the item's state, then its chain of custody, oldest first.
std::string FormatItem(const pb::ItemResponse& item);

// Registered, active and carrying no flag: what a listing-time check wants to see.
bool IsClean(const pb::CheckResult& result);

// `hallmark check`: one row per result and a summary line. `height` 0 means the node was not
// asked (every input was invalid).
std::string FormatCheck(const std::vector<pb::CheckResult>& results, uint64_t height);

// `hallmark list`: one row per item, newest change first; the column names when `header`.
std::string FormatItemList(const pb::ItemListResponse& page, bool header);

// Rows of cells printed in columns padded to the widest cell (counting UTF-8 characters, not
// bytes). The last column is not padded. Value type; thread-compatible.
class TextTable {
 public:
  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  std::string Render(std::string_view indent = "") const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace hallmark::wallet
