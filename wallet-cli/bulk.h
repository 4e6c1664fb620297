#pragma once

// Bulk registration and transfer: `hallmark register --from FILE` and `hallmark transfer --from
// FILE --to ORG` (docs/bulk.md). The file (CSV or JSON Lines) is read and checked line by line,
// the items' current state is learnt in batches (POST /v1/items:check), the records are signed
// locally, written to a journal and fsynced, then submitted over several keep-alive connections
// while one more connection follows new blocks to learn which records committed. A re-run of
// the same file skips what is already on the ledger with the same content, and re-sends the
// journal's envelopes for records that were accepted but not yet committed, so that nothing is
// registered twice.
//
// The parsers are pure functions; RunBulk owns its threads and returns when they have ended.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/records.h"
#include "core/status.h"
#include "proto/records.pb.h"

namespace hallmark::wallet {

// Bounds on the input: a larger file, line or field is refused with a clear error.
inline constexpr size_t kBulkFileBytesMax = 1024ull * 1024 * 1024;
inline constexpr size_t kBulkLinesMax = 2'000'000;
inline constexpr size_t kBulkFieldBytesMax = 64 * 1024;
inline constexpr size_t kBulkJsonLineBytesMax = 1024 * 1024;
inline constexpr uint32_t kBulkClientsMax = 256;
inline constexpr uint32_t kBulkClientsDefault = 8;

enum class BulkFormat { kAuto, kCsv, kJsonl };

// "csv" | "jsonl" | "ndjson" (and "auto"). kInvalidInput otherwise.
core::Result<BulkFormat> ParseBulkFormat(std::string_view word);
// By the file's extension: .csv, .jsonl or .ndjson; kInvalidInput for any other.
core::Result<BulkFormat> BulkFormatOf(const std::filesystem::path& path);

// One CSV record (RFC 4180): its fields and the number of the physical line it starts on
// (1-based). A record the grammar refuses keeps `error` and no fields; reading goes on at the
// next line.
struct CsvRecord {
  uint64_t line = 0;
  std::vector<std::string> fields;
  std::string error;
};

// Splits CSV text into records. Accepts a UTF-8 byte order mark, CRLF or LF line ends, quoted
// fields holding commas, doubled quotes and line breaks. Empty lines are skipped. A field longer
// than kBulkFieldBytesMax, a quote inside an unquoted field, text after a closing quote and an
// unterminated quote are errors of their record.
std::vector<CsvRecord> ParseCsv(std::string_view text);

// One line of the input, checked: either `error` is set (a bad line, with its reason) or the
// item is a valid id and, for register, the attributes, documents and custodian are valid.
struct BulkLine {
  uint64_t line = 0;  // Physical line number in the file (the CSV header is line 1).
  std::string input;  // The item as written (for the report).
  std::string item;   // Canonical, when it parsed.
  std::vector<pb::Attribute> attributes;      // In column order (JSON: sorted by name).
  std::vector<pb::DocumentDigest> documents;  // Likewise.
  std::optional<pb::Holder> custodian;        // register: empty means the brand.
  std::string error;                          // Why the line is bad.
};

// Reads and checks `path`. `type` is kRegister or kTransfer: a transfer file needs only the
// `item` column (others are ignored). Document paths are read relative to the file's folder;
// the same document is hashed once. Errors: kNotFound / kIoError when the file cannot be read,
// kInvalidInput for a file that is wrong as a whole (no `item` column, an unknown column, too
// big). Bad lines are not errors: they come back with `error` set, duplicates of an earlier
// line's item included.
core::Result<std::vector<BulkLine>> ReadBulkFile(const std::filesystem::path& path,
                                                 BulkFormat format, core::RecordType type);
// The same from text already in memory; `base_dir` resolves document paths.
core::Result<std::vector<BulkLine>> ParseBulkText(std::string_view text, BulkFormat format,
                                                  core::RecordType type,
                                                  const std::filesystem::path& base_dir);

struct BulkOptions {
  core::RecordType type = core::RecordType::kRegister;  // kRegister or kTransfer.
  std::filesystem::path from;
  BulkFormat format = BulkFormat::kAuto;
  std::filesystem::path key_path;
  std::string to;                  // transfer: ORG or holder key.
  std::vector<std::string> nodes;  // Empty: ResolveNodeUrl("").
  uint32_t clients = kBulkClientsDefault;
  std::filesystem::path report;  // Empty: <from>.report.csv; the journal is <report>.journal.
  bool strict = false;           // Any bad line refuses the whole file before anything is sent.
  bool json = false;             // Print the summary as a BulkSummary JSON line.
  // Give up when nothing has been committed or answered for this long (records still pending
  // are reported so; a re-run finishes them).
  uint32_t stall_timeout_ms = 60'000;
  uint32_t sign_threads = 0;  // 0: one per core.
  // Progress output: kAuto redraws one line when `err` is the terminal's stderr.
  enum class Progress { kAuto, kLines, kNone } progress = Progress::kAuto;
  uint32_t progress_interval_ms = 5'000;  // Between plain progress lines.
  // Set from outside to stop as SIGINT does (tests). RunBulk also installs a SIGINT handler
  // while it runs, and restores the previous one on return.
  std::atomic<bool>* stop = nullptr;
  // After a stop, how long to wait for answers and commits of records already sent.
  uint32_t stop_grace_ms = 5'000;
};

// Runs a bulk registration or transfer. Exit codes: 0 every line committed now or before (with
// the same content); 2 some lines were bad, conflicted or were refused by the node (all in the
// report) or, with --strict, the file has bad lines and nothing was sent; 3 usage, file or
// network error before anything was sent (file unreadable, node unreachable, wrong key);
// 4 interrupted, or some records were still pending when the node stopped answering (a re-run
// of the same command finishes them without registering anything twice); 4 comes before 2.
int RunBulk(const BulkOptions& options, std::ostream& out, std::ostream& err);

// The report file's outcomes.
inline constexpr std::string_view kOutcomeCommitted = "committed";
inline constexpr std::string_view kOutcomeAlready = "already-committed";
inline constexpr std::string_view kOutcomeConflict = "conflict";
inline constexpr std::string_view kOutcomeRefused = "refused";
inline constexpr std::string_view kOutcomeInvalid = "invalid";
inline constexpr std::string_view kOutcomePending = "pending";
inline constexpr std::string_view kOutcomeNotSent = "not-sent";

}  // namespace hallmark::wallet
