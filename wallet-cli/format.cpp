#include "wallet-cli/format.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <ctime>
#include <optional>

#include "core/bytes.h"
#include "core/item_id.h"
#include "core/records.h"
#include "wallet-cli/records.h"

namespace hallmark::wallet {
namespace {

// Details longer than this are cut in the table; --json has them in full.
constexpr size_t kDetailsCharsMax = 100;
constexpr size_t kShortKeyBytes = 8;

size_t DisplayWidth(std::string_view s) {
  size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;  // Count lead bytes only.
  }
  return n;
}

// Cuts `s` to at most `max_chars` characters, never inside a UTF-8 sequence.
std::string Truncate(std::string s, size_t max_chars) {
  if (DisplayWidth(s) <= max_chars) return s;
  size_t chars = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && ++chars == max_chars) {
      return s.substr(0, i) + "…";
    }
  }
  return s;
}

std::string ShortKeyHex(std::string_view key_bytes) {
  return "key " + core::ToHex(key_bytes.substr(0, kShortKeyBytes)) + "…";
}

std::string SignerText(const pb::HistoryEntry& e) {
  if (!e.signer_organization().empty()) return ForTerminal(e.signer_organization());
  const std::optional<core::Bytes> key = core::FromHex(e.signer());
  if (!key) return ForTerminal(e.signer());
  return ShortKeyHex(core::AsView(*key));
}

std::string WithNote(std::string head, const std::string& note) {
  if (note.empty()) return head;
  return head + ": " + ForTerminal(note);
}

std::string StatusWord(pb::ItemStatus status) {
  switch (status) {
    case pb::ACTIVE:
      return "active";
    case pb::DECOMMISSIONED:
      return "decommissioned";
    case pb::ITEM_STATUS_UNSPECIFIED:
    case pb::ItemStatus_INT_MIN_SENTINEL_DO_NOT_USE_:
    case pb::ItemStatus_INT_MAX_SENTINEL_DO_NOT_USE_:
      break;
  }
  return "unknown";
}

std::string TypeWord(std::string type) {
  for (char& c : type) {
    if (c == '_') c = '-';  // As the CLI's commands spell it: clear-flag.
  }
  return ForTerminal(type);
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (const std::string& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

}  // namespace

std::string JsonLine(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string text;
  const auto st = google::protobuf::util::MessageToJsonString(message, &text, options);
  // Printing our own well-formed message cannot fail short of a bug in Protobuf or in us.
  HM_ASSERT_MSG(st.ok(), "printing a message as JSON failed");
  return text;
}

std::string FormatUtc(uint64_t unix_ms) {
  if (unix_ms == 0) return "-";
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  if (::gmtime_r(&seconds, &tm) == nullptr) return "-";
  char buf[32];
  const size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return std::string(buf, n);
}

std::string ForTerminal(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? '?' : c;
  }
  return out;
}

std::string HolderText(const pb::Holder& holder, bool full_key) {
  switch (holder.kind_case()) {
    case pb::Holder::kOrganization:
      return ForTerminal(holder.organization());
    case pb::Holder::kHolderKey:
      return full_key ? "key " + core::ToHex(holder.holder_key())
                      : ShortKeyHex(holder.holder_key());
    case pb::Holder::KIND_NOT_SET:
      break;
  }
  return "-";
}

std::string HistoryDetails(const pb::HistoryEntry& entry) {
  const pb::RecordPayload& p = entry.payload();
  std::string d;
  switch (p.body_case()) {
    case pb::RecordPayload::kRegister: {
      const pb::Register& r = p.register_();
      d = r.has_custodian() ? "→ " + HolderText(r.custodian(), false) : "→ " + SignerText(entry);
      if (r.attributes_size() > 0) {
        d += " (" + std::to_string(r.attributes_size()) + " attribute" +
             (r.attributes_size() == 1 ? "" : "s") + ")";
      }
      break;
    }
    case pb::RecordPayload::kTransfer:
      d = "→ " + HolderText(p.transfer().to(), false);
      break;
    case pb::RecordPayload::kAttest:
      d = WithNote(std::string(core::VerdictName(p.attest().verdict())), p.attest().note());
      break;
    case pb::RecordPayload::kFlag:
      d = WithNote("flag " + std::string(core::FlagKindName(p.flag().kind())), p.flag().note());
      break;
    case pb::RecordPayload::kClearFlag:
      d = WithNote("clear " + std::string(core::FlagKindName(p.clear_flag().kind())),
                   p.clear_flag().note());
      break;
    case pb::RecordPayload::kService:
      d = WithNote(std::string(core::ServiceKindName(p.service().kind())), p.service().note());
      break;
    case pb::RecordPayload::kDecommission:
      d = WithNote(std::string(core::DecommissionKindName(p.decommission().kind())),
                   p.decommission().reason());
      break;
    case pb::RecordPayload::kReassign:
      d = WithNote("→ " + ShortKeyHex(p.reassign().new_holder_key()), p.reassign().reason());
      break;
    case pb::RecordPayload::BODY_NOT_SET:
      break;
  }
  return Truncate(std::move(d), kDetailsCharsMax);
}

std::string FormatItem(const pb::ItemResponse& item) {
  std::string out;
  TextTable head;
  const std::string as_of =
      "height " + std::to_string(item.height()) +
      (item.block_time_ms() != 0 ? " (" + FormatUtc(item.block_time_ms()) + " UTC)"
                                 : std::string());
  head.AddRow({"item", ForTerminal(item.item_id())});
  if (!item.digital_link().empty()) head.AddRow({"digital link", ForTerminal(item.digital_link())});
  if (!item.registered()) {
    head.AddRow({"status", "not registered"});
    head.AddRow({"as of", as_of});
    return head.Render();
  }
  const pb::ItemState& s = item.state();
  head.AddRow({"brand", ForTerminal(s.brand())});
  head.AddRow({"status", StatusWord(s.status())});
  head.AddRow({"custodian", HolderText(s.custodian(), true)});
  if (s.flags().empty()) {
    head.AddRow({"flags", "none"});
  }
  for (int i = 0; i < s.flags_size(); ++i) {
    const pb::ActiveFlag& f = s.flags(i);
    std::string text = std::string(core::FlagKindName(f.kind())) + " (set by " +
                       HolderText(f.set_by(), false) + ")";
    head.AddRow({i == 0 ? "flags" : "", WithNote(std::move(text), f.note())});
  }
  for (int i = 0; i < s.attributes_size(); ++i) {
    head.AddRow({i == 0 ? "attributes" : "", ForTerminal(s.attributes(i).key()) + " = " +
                                                 ForTerminal(s.attributes(i).value())});
  }
  for (int i = 0; i < s.documents_size(); ++i) {
    head.AddRow({i == 0 ? "documents" : "", ForTerminal(s.documents(i).name()) + " (sha256 " +
                                                core::ToHex(s.documents(i).sha256()) + ")"});
  }
  head.AddRow({"records", std::to_string(s.record_count()) + ", latest " +
                              core::ToHex(s.last_record()) + " at height " +
                              std::to_string(s.updated_height())});
  head.AddRow({"as of", as_of});
  out += head.Render();

  out += "\nchain of custody\n";
  if (item.history().empty()) {
    out += "  (the node sent no history)\n";
    return out;
  }
  TextTable history;
  history.AddRow({"HEIGHT", "TIME (UTC)", "TYPE", "SIGNER", "RECORD", "DETAILS"});
  for (const pb::HistoryEntry& e : item.history()) {
    history.AddRow({std::to_string(e.height()), FormatUtc(e.block_time_ms()), TypeWord(e.type()),
                    SignerText(e), ForTerminal(e.record_id().substr(0, 2 * kShortKeyBytes)),
                    HistoryDetails(e)});
  }
  out += history.Render("  ");
  return out;
}

bool IsClean(const pb::CheckResult& r) {
  return r.registered() && r.status() == "active" && r.flags().empty() && !r.has_error();
}

std::string FormatCheck(const std::vector<pb::CheckResult>& results, uint64_t height) {
  TextTable table;
  table.AddRow({"RESULT", "ITEM", "STATUS", "FLAGS", "CUSTODIAN", "BRAND", "NOTE"});
  size_t clean = 0, invalid = 0;
  for (const pb::CheckResult& r : results) {
    std::string verdict;
    if (r.status() == "invalid" || r.has_error()) {
      verdict = "INVALID";
      ++invalid;
    } else if (!r.registered()) {
      verdict = "UNREGISTERED";
    } else if (r.status() != "active") {
      verdict = "DECOMMISSIONED";
    } else if (!r.flags().empty()) {
      verdict = "FLAGGED";
    } else {
      verdict = "ok";
      ++clean;
    }
    std::vector<std::string> flags;
    for (const std::string& f : r.flags()) flags.push_back(ForTerminal(f));
    const bool has_holder = r.custodian().kind_case() != pb::Holder::KIND_NOT_SET;
    table.AddRow({verdict, ForTerminal(Truncate(r.item_id().empty() ? r.input() : r.item_id(), 60)),
                  ForTerminal(r.status()), flags.empty() ? "-" : Join(flags, ","),
                  has_holder ? HolderText(r.custodian(), false) : "-",
                  r.brand().empty() ? "-" : ForTerminal(r.brand()),
                  r.has_error() ? ForTerminal(r.error().message()) : ""});
  }
  std::string out = table.Render();
  out += std::to_string(results.size()) + " checked: " + std::to_string(clean) + " clean, " +
         std::to_string(results.size() - clean - invalid) + " not clean, " +
         std::to_string(invalid) + " invalid";
  if (height != 0) out += " (as of height " + std::to_string(height) + ")";
  out += "\n";
  return out;
}

std::string FormatItemList(const pb::ItemListResponse& page, bool header) {
  TextTable table;
  if (header)
    table.AddRow({"UPDATED (UTC)", "HEIGHT", "ITEM", "BRAND", "CUSTODIAN", "STATUS", "FLAGS"});
  for (const pb::ListedItem& i : page.items()) {
    std::vector<std::string> flags;
    for (const std::string& f : i.flags()) flags.push_back(ForTerminal(f));
    const bool has_holder = i.custodian().kind_case() != pb::Holder::KIND_NOT_SET;
    table.AddRow({FormatUtc(i.updated_time_ms()), std::to_string(i.updated_height()),
                  ForTerminal(Truncate(i.item_id(), 60)), ForTerminal(i.brand()),
                  has_holder ? HolderText(i.custodian(), false) : "-", ForTerminal(i.status()),
                  flags.empty() ? "-" : Join(flags, ",")});
  }
  return table.Render();
}

std::string TextTable::Render(std::string_view indent) const {
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(row[i]));
    }
  }
  std::string out;
  for (const auto& row : rows_) {
    std::string line(indent);
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - DisplayWidth(row[i]) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

}  // namespace hallmark::wallet
