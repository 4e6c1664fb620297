#pragma once

// Backups of a node (`hallmarkd backup`, `hallmarkd restore`; docs/operations.md, "Backup and
// restore"). A backup file (proto/backup.proto) holds one consistent copy of the ledger (a
// LevelDB snapshot: commits go on while it is taken), config.json, the genesis file, the signer
// watermark and, when asked for, the node key's keystore; a header, and a trailing SHA-256.
//
// A running node is backed up through its admin socket (<home>/admin.sock, node/admin_socket.h):
// the node streams the backup and the command checks every byte before it renames the file into
// place. A stopped node's data folder is read directly, only when LevelDB's lock can be taken.
// A restore checks the whole file first, stages everything beside the home, opens the staged
// ledger as the node would, and only then moves the files in: a truncated, corrupted or foreign
// file changes nothing. The watermark it writes carries a restore mark, so the node signs
// nothing until the double-sign check has passed (RestoreMark, node/signer_state.h).

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/crypto/sha256.h"
#include "core/status.h"
#include "proto/backup.pb.h"
#include "proto/node.pb.h"

namespace hallmark::node {

inline constexpr std::string_view kBackupMagic = "HMBACKUP";
inline constexpr uint32_t kBackupFormatVersion = 1;
// A frame holds one LevelDB entry (a block is at most a few MiB) or one small file.
inline constexpr uint32_t kBackupFrameBytesMax = 64u << 20;
// config.json, genesis, watermark and keystore are small; anything larger is not one.
inline constexpr size_t kBackupFileBytesMax = 16u << 20;
inline constexpr char kAdminSocketName[] = "admin.sock";

// Where backup bytes go (a socket, a file); an error ends the backup.
using ByteSink = std::function<core::Status(std::string_view)>;
// Reads up to `n` bytes into `buf`; returns 0 only at the end of the stream.
using ByteSource = std::function<core::Result<size_t>(char* buf, size_t n)>;

// Writes the framing of proto/backup.proto and keeps the running checksum. Thread-compatible.
class BackupWriter {
 public:
  explicit BackupWriter(ByteSink sink) : sink_(std::move(sink)) {}
  core::Status Begin(const pb::BackupHeader& header);  // The magic and the header.
  core::Status Add(pb::BackupEntry::Kind kind, std::string_view key, std::string_view value);
  core::Status Finish();  // The trailer.
  uint64_t entries() const { return entries_; }

 private:
  core::Status Frame(const pb::BackupFrame& frame, bool hashed);
  ByteSink sink_;
  core::Sha256 hash_;
  uint64_t entries_ = 0;
};

// Reads and checks a backup stream. Every error is InvalidInput naming what is wrong (truncated,
// corrupted, another format); an entry is only trusted once Next has returned nullopt (the
// checksum matched and nothing followed). Thread-compatible.
class BackupReader {
 public:
  explicit BackupReader(ByteSource source) : source_(std::move(source)) {}
  core::Result<pb::BackupHeader> ReadHeader();  // REQUIRES: called first, once.
  // The next entry, or nullopt after a trailer whose count and checksum match, at the end.
  core::Result<std::optional<pb::BackupEntry>> Next();
  uint64_t bytes_read() const { return bytes_; }

 private:
  // Exactly n bytes; `*clean_end` (when given) is set if the stream ended before the first one.
  core::Status ReadExact(char* buf, size_t n, bool* clean_end);
  core::Result<pb::BackupFrame> ReadFrame(std::string* raw);
  ByteSource source_;
  core::Sha256 hash_;
  uint64_t entries_ = 0;
  uint64_t bytes_ = 0;
  bool done_ = false;
};

// What a backup is made of. `scan` is Ledger::ScanSnapshot (a running node) or
// storage::ScanStore (a stopped one).
struct BackupSource {
  std::filesystem::path home;
  pb::NodeConfig config;  // Validated (LoadConfig).
  std::string chain_id;
  std::string genesis_hash;  // 32 bytes.
  std::string validator_key_hex;
  bool include_node_key = false;
  std::function<core::Status(
      const std::function<core::Status(uint64_t height)>& begin,
      const std::function<core::Status(std::string_view key, std::string_view value)>& visit)>
      scan;
};

// Writes the whole backup to `sink`. The watermark is read after the ledger's snapshot is taken,
// so it is at least as new as the data folder's signer state in the backup.
core::Status WriteBackup(const BackupSource& source, const ByteSink& sink);

struct BackupOptions {
  std::filesystem::path home;
  std::filesystem::path out;
  bool force = false;  // Replace an existing --out.
  bool include_node_key = false;
};
// `hallmarkd backup`: asks the node at `home` over its admin socket, or reads a stopped node's
// data folder. Writes a temporary file beside `out`, checks it whole, then renames it. Returns a
// summary for the operator.
core::Result<std::string> RunBackup(const BackupOptions& options);

struct RestoreOptions {
  std::filesystem::path from;
  std::filesystem::path home;
  std::optional<std::filesystem::path> genesis;  // The file must belong to this network.
  bool force = false;                            // Replace a non-empty home's files.
};
// `hallmarkd restore`. Returns a summary for the operator.
core::Result<std::string> RunRestore(const RestoreOptions& options);

// A summary of a checked backup file (also what `RunBackup` verifies).
struct BackupSummary {
  pb::BackupHeader header;
  uint64_t ledger_entries = 0;
  uint64_t bytes = 0;
  bool has_watermark = false;
};
core::Result<BackupSummary> VerifyBackupFile(const std::filesystem::path& path);

}  // namespace hallmark::node
