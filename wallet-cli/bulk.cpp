#include "wallet-cli/bulk.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <ostream>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "core/codec.h"
#include "core/item_id.h"
#include "core/json.h"
#include "proto/cli.pb.h"
#include "wallet-cli/format.h"
#include "wallet-cli/keystore.h"
#include "wallet-cli/node_client.h"
#include "wallet-cli/node_commands.h"
#include "wallet-cli/records.h"
#include "wallet-cli/reporter.h"

namespace hallmark::wallet {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string Shown(std::string_view text) {
  constexpr size_t kEchoBytesMax = 64;
  std::string s(text.substr(0, kEchoBytesMax));
  if (text.size() > kEchoBytesMax) s += "…";
  return s;
}

// --- Checking one line --------------------------------------------------------------------------

// Hashes each document file once, however many lines name it.
class DocumentCache {
 public:
  explicit DocumentCache(std::filesystem::path base_dir) : base_dir_(std::move(base_dir)) {}

  core::Result<pb::DocumentDigest> Digest(const std::string& name, const std::string& path_text) {
    std::filesystem::path path(path_text);
    if (path.is_relative() && !base_dir_.empty()) path = base_dir_ / path;
    const std::string key = path.string();
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      // DocumentDigestOfFile takes "name=FILE"; the name is set below.
      it = cache_.emplace(key, DocumentDigestOfFile("d=" + key)).first;
    }
    if (!it->second.ok()) return it->second.status();
    pb::DocumentDigest d = *it->second;
    d.set_name(name);
    return d;
  }

 private:
  std::filesystem::path base_dir_;
  std::map<std::string, core::Result<pb::DocumentDigest>> cache_;
};

struct RawLine {
  uint64_t line = 0;
  std::string item;
  std::vector<std::pair<std::string, std::string>> attributes;  // name, value
  std::vector<std::pair<std::string, std::string>> documents;   // name, path
  std::string custodian;
};

BulkLine CheckLine(RawLine raw, core::RecordType type, DocumentCache& docs) {
  BulkLine out;
  out.line = raw.line;
  out.input = raw.item;
  const std::string_view item_text = TrimSpaces(raw.item);
  if (item_text.empty()) {
    out.error = "no item id";
    return out;
  }
  core::Result<core::ItemId> id = core::ParseItemId(item_text);
  if (!id.ok()) {
    out.error = "invalid item id \"" + Shown(item_text) + "\": " + id.status().message();
    return out;
  }
  out.item = id->Canonical();
  if (type != core::RecordType::kRegister) return out;
  for (auto& [name, value] : raw.attributes) {
    if (value.empty()) continue;  // An empty cell: this item has no such attribute.
    pb::Attribute a;
    a.set_key(name);
    a.set_value(std::move(value));
    out.attributes.push_back(std::move(a));
  }
  for (auto& [name, path] : raw.documents) {
    const std::string_view p = TrimSpaces(path);
    if (p.empty()) continue;
    core::Result<pb::DocumentDigest> d = docs.Digest(name, std::string(p));
    if (!d.ok()) {
      out.error = "doc:" + name + ": " + d.status().message();
      return out;
    }
    out.documents.push_back(std::move(*d));
  }
  const std::string_view custodian = TrimSpaces(raw.custodian);
  if (!custodian.empty()) {
    core::Result<pb::Holder> h = ParseHolder(custodian);
    if (!h.ok()) {
      out.error = "custodian: " + h.status().message();
      return out;
    }
    out.custodian = std::move(*h);
  }
  return out;
}

// Marks every later line naming an item an earlier line named.
void MarkDuplicates(std::vector<BulkLine>* lines) {
  std::unordered_map<std::string, uint64_t> first;
  for (BulkLine& l : *lines) {
    if (!l.error.empty()) continue;
    auto [it, fresh] = first.emplace(l.item, l.line);
    if (!fresh)
      l.error = "duplicate: item " + l.item + " is also on line " + std::to_string(it->second);
  }
}

core::Result<std::vector<BulkLine>> ParseCsvBulk(std::string_view text, core::RecordType type,
                                                 DocumentCache& docs) {
  std::vector<CsvRecord> records = ParseCsv(text);
  if (records.empty())
    return core::Status::InvalidInput("the file is empty: expected a header row");
  if (records.size() - 1 > kBulkLinesMax) {
    return core::Status::InvalidInput("the file has more than " + std::to_string(kBulkLinesMax) +
                                      " lines; split it");
  }
  const CsvRecord& header = records[0];
  if (!header.error.empty()) {
    return core::Status::InvalidInput("line " + std::to_string(header.line) +
                                      " (the header): " + header.error);
  }
  enum class Kind { kItem, kCustodian, kAttr, kDoc };
  std::vector<std::pair<Kind, std::string>> columns;
  std::optional<size_t> item_col;
  std::map<std::string, int> seen;
  for (size_t c = 0; c < header.fields.size(); ++c) {
    const std::string name(TrimSpaces(header.fields[c]));
    const std::string where = "line " + std::to_string(header.line) + ", column " +
                              std::to_string(c + 1) + " of the header";
    if (seen[name]++ > 0) {
      return core::Status::InvalidInput(where + ": column \"" + Shown(name) + "\" is given twice");
    }
    if (name == "item") {
      item_col = c;
      columns.emplace_back(Kind::kItem, "");
    } else if (name == "custodian") {
      columns.emplace_back(Kind::kCustodian, "");
    } else if (name.starts_with("attr:") && name.size() > 5) {
      columns.emplace_back(Kind::kAttr, name.substr(5));
    } else if (name.starts_with("doc:") && name.size() > 4 && name.find('=') == std::string::npos) {
      columns.emplace_back(Kind::kDoc, name.substr(4));
    } else {
      return core::Status::InvalidInput(where + ": unknown column \"" + Shown(name) +
                                        "\"; the columns are item, custodian, attr:NAME and "
                                        "doc:NAME");
    }
  }
  if (!item_col) {
    return core::Status::InvalidInput("line " + std::to_string(header.line) +
                                      " (the header) has no \"item\" column");
  }
  std::vector<BulkLine> lines;
  lines.reserve(records.size() - 1);
  for (size_t r = 1; r < records.size(); ++r) {
    CsvRecord& rec = records[r];
    if (!rec.error.empty()) {
      BulkLine bad;
      bad.line = rec.line;
      bad.error = rec.error;
      lines.push_back(std::move(bad));
      continue;
    }
    if (rec.fields.size() != columns.size()) {
      BulkLine bad;
      bad.line = rec.line;
      if (*item_col < rec.fields.size()) bad.input = rec.fields[*item_col];
      bad.error = std::to_string(rec.fields.size()) + " fields, but the header has " +
                  std::to_string(columns.size());
      lines.push_back(std::move(bad));
      continue;
    }
    RawLine raw;
    raw.line = rec.line;
    for (size_t c = 0; c < columns.size(); ++c) {
      std::string& v = rec.fields[c];
      switch (columns[c].first) {
        case Kind::kItem:
          raw.item = std::move(v);
          break;
        case Kind::kCustodian:
          raw.custodian = std::move(v);
          break;
        case Kind::kAttr:
          raw.attributes.emplace_back(columns[c].second, std::move(v));
          break;
        case Kind::kDoc:
          raw.documents.emplace_back(columns[c].second, std::move(v));
          break;
      }
    }
    lines.push_back(CheckLine(std::move(raw), type, docs));
  }
  return lines;
}

core::Result<std::vector<BulkLine>> ParseJsonlBulk(std::string_view text, core::RecordType type,
                                                   DocumentCache& docs) {
  if (text.starts_with(kBom)) text.remove_prefix(kBom.size());
  std::vector<BulkLine> lines;
  uint64_t number = 0;
  core::JsonLimits limits;
  limits.bytes_max = kBulkJsonLineBytesMax;
  limits.values_max = 10'000;
  while (!text.empty()) {
    ++number;
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    if (lines.size() >= kBulkLinesMax) {
      return core::Status::InvalidInput("the file has more than " + std::to_string(kBulkLinesMax) +
                                        " lines; split it");
    }
    pb::BulkLine msg;
    core::Status st = core::ParseJsonStrict(line, &msg, limits);
    if (!st.ok()) {
      BulkLine bad;
      bad.line = number;
      bad.error = "not a valid line: " + st.message();
      lines.push_back(std::move(bad));
      continue;
    }
    RawLine raw;
    raw.line = number;
    raw.item = msg.item();
    raw.custodian = msg.custodian();
    // Protobuf maps keep no order: attributes and documents go by name.
    std::map<std::string, std::string> attrs(msg.attributes().begin(), msg.attributes().end());
    std::map<std::string, std::string> ds(msg.documents().begin(), msg.documents().end());
    bool bad_name = false;
    for (auto& [k, v] : attrs) {
      if (k.empty()) bad_name = true;
      raw.attributes.emplace_back(k, v);
    }
    for (auto& [k, v] : ds) {
      if (k.empty()) bad_name = true;
      raw.documents.emplace_back(k, v);
    }
    BulkLine checked = CheckLine(std::move(raw), type, docs);
    if (checked.error.empty() && bad_name && type == core::RecordType::kRegister) {
      checked.error = "an attribute or document name is empty";
    }
    lines.push_back(std::move(checked));
  }
  return lines;
}

}  // namespace

core::Result<BulkFormat> ParseBulkFormat(std::string_view word) {
  if (word == "auto") return BulkFormat::kAuto;
  if (word == "csv") return BulkFormat::kCsv;
  if (word == "jsonl" || word == "ndjson") return BulkFormat::kJsonl;
  return core::Status::InvalidInput("--format must be csv, jsonl or ndjson, not \"" + Shown(word) +
                                    "\"");
}

core::Result<BulkFormat> BulkFormatOf(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".csv") return BulkFormat::kCsv;
  if (ext == ".jsonl" || ext == ".ndjson") return BulkFormat::kJsonl;
  return core::Status::InvalidInput("cannot tell the format of " + path.string() +
                                    " from its extension (.csv, .jsonl or .ndjson); give --format");
}

std::vector<CsvRecord> ParseCsv(std::string_view text) {
  std::vector<CsvRecord> out;
  size_t i = text.starts_with(kBom) ? kBom.size() : 0;
  const size_t n = text.size();
  uint64_t line = 1;
  const auto at_line_end = [&](size_t k) {
    return text[k] == '\n' || (text[k] == '\r' && k + 1 < n && text[k + 1] == '\n');
  };
  const auto skip_line_end = [&] {
    i += text[i] == '\r' ? 2 : 1;
    ++line;
  };
  while (i < n) {
    if (at_line_end(i)) {  // An empty line.
      skip_line_end();
      continue;
    }
    CsvRecord rec;
    rec.line = line;
    bool done = false;
    // The rest of the physical line is skipped; reading goes on at the next one.
    const auto fail = [&](std::string message) {
      rec.error = std::move(message);
      rec.fields.clear();
      while (i < n && !at_line_end(i)) ++i;
      if (i < n) skip_line_end();
      done = true;
    };
    const std::string too_long =
        "a field is longer than " + std::to_string(kBulkFieldBytesMax) + " bytes";
    while (!done) {
      std::string field;
      if (i < n && text[i] == '"') {
        ++i;
        bool closed = false;
        while (i < n) {
          const char c = text[i];
          if (c == '"') {
            if (i + 1 < n && text[i + 1] == '"') {
              field.push_back('"');
              i += 2;
              continue;
            }
            ++i;
            closed = true;
            break;
          }
          if (c == '\n') ++line;
          field.push_back(c);
          ++i;
          if (field.size() > kBulkFieldBytesMax) break;
        }
        if (field.size() > kBulkFieldBytesMax) {
          fail(too_long);
          break;
        }
        if (!closed) {
          fail("a quoted field is not closed before the end of the file");
          break;
        }
        if (i < n && text[i] != ',' && !at_line_end(i)) {
          fail("text after the closing quote of a field (double a quote inside a quoted field)");
          break;
        }
      } else {
        while (i < n && text[i] != ',' && !at_line_end(i)) {
          if (text[i] == '"') break;
          field.push_back(text[i]);
          ++i;
          if (field.size() > kBulkFieldBytesMax) break;
        }
        if (field.size() > kBulkFieldBytesMax) {
          fail(too_long);
          break;
        }
        if (i < n && text[i] == '"') {
          fail("a quote inside an unquoted field (quote the whole field and double the quote)");
          break;
        }
      }
      rec.fields.push_back(std::move(field));
      if (i >= n) break;
      if (text[i] == ',') {
        ++i;
        if (i >= n) rec.fields.emplace_back();  // "a,b," at the very end: a last empty field.
        continue;
      }
      skip_line_end();
      break;
    }
    out.push_back(std::move(rec));
  }
  return out;
}

core::Result<std::vector<BulkLine>> ParseBulkText(std::string_view text, BulkFormat format,
                                                  core::RecordType type,
                                                  const std::filesystem::path& base_dir) {
  HM_ASSERT(format != BulkFormat::kAuto);
  DocumentCache docs(base_dir);
  core::Result<std::vector<BulkLine>> lines = format == BulkFormat::kCsv
                                                  ? ParseCsvBulk(text, type, docs)
                                                  : ParseJsonlBulk(text, type, docs);
  if (lines.ok()) MarkDuplicates(&*lines);
  return lines;
}

core::Result<std::vector<BulkLine>> ReadBulkFile(const std::filesystem::path& path,
                                                 BulkFormat format, core::RecordType type) {
  if (format == BulkFormat::kAuto) {
    core::Result<BulkFormat> f = BulkFormatOf(path);
    if (!f.ok()) return f.status();
    format = *f;
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return core::Status::IoError(path.string() + " is a folder, not a file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::Status::NotFound("cannot open " + path.string());
  std::string text;
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kBulkFileBytesMax) {
      return core::Status::InvalidInput(path.string() + " is larger than " +
                                        std::to_string(kBulkFileBytesMax >> 20) + " MiB; split it");
    }
  }
  if (in.bad()) return core::Status::IoError("cannot read " + path.string());
  return ParseBulkText(text, format, type, path.parent_path());
}

}  // namespace hallmark::wallet
