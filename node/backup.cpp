#include "node/backup.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <tuple>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/codec.h"
#include "core/crypto/keystore.h"
#include "core/crypto/secret_file.h"
#include "core/genesis.h"
#include "node/admin_socket.h"
#include "node/config.h"
#include "node/signer_state.h"
#include "node/version.h"
#include "storage/ledger.h"

namespace hallmark::node {

using core::Status;

namespace {

Status Bad(const std::string& what) {
  return Status::InvalidInput("the backup " + what);
}

std::string Hex8(const std::string& bytes) {
  return core::Hash256::FromBytes(bytes) ? core::Hash256::FromBytes(bytes)->Hex().substr(0, 16)
                                         : "?";
}

// Collects small writes into large ones (a frame per LevelDB entry would be a syscall each).
class BufferedSink {
 public:
  explicit BufferedSink(const ByteSink& out) : out_(out) {}
  Status Write(std::string_view bytes) {
    buf_.append(bytes);
    if (buf_.size() < kFlushBytes) return Status::Ok();
    return Flush();
  }
  Status Flush() {
    if (buf_.empty()) return Status::Ok();
    Status st = out_(buf_);
    buf_.clear();
    return st;
  }

 private:
  static constexpr size_t kFlushBytes = 256 * 1024;
  const ByteSink& out_;
  std::string buf_;
};

// A file created for writing with mode 0600, closed on destruction.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Status WriteAllFd(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IoError("cannot write " + what + ": " + std::strerror(errno));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status SyncDir(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::IoError("cannot open " + dir.string() + ": " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Status::IoError("cannot sync " + dir.string() + ": " + std::strerror(err));
  return Status::Ok();
}

// A small file of the home (config, genesis, watermark, keystore); nullopt when absent.
core::Result<std::optional<std::string>> ReadSmallFile(const std::filesystem::path& path,
                                                       std::string_view what) {
  auto text = core::ReadSecretFile(path, kBackupFileBytesMax, what);
  if (!text.ok()) {
    if (text.status().code() == core::StatusCode::kNotFound) return std::optional<std::string>();
    return text.status();
  }
  return std::optional<std::string>(std::move(text).value());
}

std::filesystem::path ParentOf(const std::filesystem::path& p) {
  return p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
}

}  // namespace

// --- The format ---------------------------------------------------------------------------

Status BackupWriter::Frame(const pb::BackupFrame& frame, bool hashed) {
  const std::string body = core::SerializeDeterministic(frame);
  if (body.size() > kBackupFrameBytesMax) {
    return Status::InvalidInput("a backup entry of " + std::to_string(body.size()) +
                                " bytes is larger than the format allows");
  }
  std::string out;
  out.reserve(4 + body.size());
  core::PutBigEndian32(&out, static_cast<uint32_t>(body.size()));
  out += body;
  if (hashed) hash_.Update(out);
  return sink_(out);
}

Status BackupWriter::Begin(const pb::BackupHeader& header) {
  hash_.Update(kBackupMagic);
  HM_RETURN_IF_ERROR(sink_(kBackupMagic));
  pb::BackupFrame f;
  *f.mutable_header() = header;
  return Frame(f, true);
}

Status BackupWriter::Add(pb::BackupEntry::Kind kind, std::string_view key, std::string_view value) {
  pb::BackupFrame f;
  pb::BackupEntry* e = f.mutable_entry();
  e->set_kind(kind);
  e->set_key(std::string(key));
  e->set_value(std::string(value));
  ++entries_;
  return Frame(f, true);
}

Status BackupWriter::Finish() {
  pb::BackupFrame f;
  f.mutable_trailer()->set_entry_count(entries_);
  f.mutable_trailer()->set_sha256(std::string(hash_.Finish().view()));
  return Frame(f, false);
}

Status BackupReader::ReadExact(char* buf, size_t n, bool* clean_end) {
  size_t done = 0;
  while (done < n) {
    auto got = source_(buf + done, n - done);
    if (!got.ok()) return got.status();
    if (*got == 0) {
      if (done == 0 && clean_end) {
        *clean_end = true;
        return Status::Ok();
      }
      return Bad("is truncated: it ends after " + std::to_string(bytes_ + done) +
                 " bytes, before its trailer (an interrupted copy or backup?)");
    }
    done += *got;
  }
  bytes_ += n;
  return Status::Ok();
}

core::Result<pb::BackupFrame> BackupReader::ReadFrame(std::string* raw) {
  uint8_t len[4];
  bool end = false;
  HM_RETURN_IF_ERROR(ReadExact(reinterpret_cast<char*>(len), 4, &end));
  if (end) {
    return Bad("is truncated: it ends after " + std::to_string(bytes_) +
               " bytes, before its trailer (an interrupted copy or backup?)");
  }
  const uint32_t n = core::GetBigEndian32(len);
  if (n > kBackupFrameBytesMax) {
    return Bad("is corrupted: a frame at byte " + std::to_string(bytes_ - 4) + " claims " +
               std::to_string(n) + " bytes");
  }
  raw->assign(reinterpret_cast<const char*>(len), 4);
  raw->resize(4 + n);
  HM_RETURN_IF_ERROR(ReadExact(raw->data() + 4, n, nullptr));
  pb::BackupFrame frame;
  if (!frame.ParseFromArray(raw->data() + 4, static_cast<int>(n)) ||
      frame.body_case() == pb::BackupFrame::BODY_NOT_SET) {
    return Bad("is corrupted: the frame at byte " + std::to_string(bytes_ - 4 - n) +
               " does not parse");
  }
  return frame;
}

core::Result<pb::BackupHeader> BackupReader::ReadHeader() {
  std::string magic(kBackupMagic.size(), '\0');
  bool end = false;
  HM_RETURN_IF_ERROR(ReadExact(magic.data(), magic.size(), &end));
  if (end) return Bad("is empty");
  if (magic != kBackupMagic) return Bad("is not a Hallmark backup (no HMBACKUP at its start)");
  hash_.Update(magic);
  std::string raw;
  auto frame = ReadFrame(&raw);
  if (!frame.ok()) return frame.status();
  if (!frame->has_header()) return Bad("is corrupted: it does not start with its header");
  hash_.Update(raw);
  const pb::BackupHeader& h = frame->header();
  if (h.format_version() != kBackupFormatVersion) {
    return Bad("has format version " + std::to_string(h.format_version()) +
               "; this hallmarkd reads version " + std::to_string(kBackupFormatVersion));
  }
  return h;
}

core::Result<std::optional<pb::BackupEntry>> BackupReader::Next() {
  HM_ASSERT(!done_);
  std::string raw;
  auto frame = ReadFrame(&raw);
  if (!frame.ok()) return frame.status();
  if (frame->has_entry()) {
    hash_.Update(raw);
    ++entries_;
    return std::optional<pb::BackupEntry>(std::move(*frame->mutable_entry()));
  }
  if (!frame->has_trailer()) return Bad("is corrupted: a second header");
  const pb::BackupTrailer& t = frame->trailer();
  if (t.entry_count() != entries_) {
    return Bad("is corrupted: its trailer counts " + std::to_string(t.entry_count()) +
               " entries, the file holds " + std::to_string(entries_));
  }
  if (t.sha256() != std::string(hash_.Finish().view())) {
    return Bad("is corrupted: its SHA-256 checksum does not match its contents");
  }
  char extra;
  bool end = false;
  HM_RETURN_IF_ERROR(ReadExact(&extra, 1, &end));
  if (!end) return Bad("is corrupted: bytes follow its trailer");
  done_ = true;
  return std::optional<pb::BackupEntry>();
}

// --- Taking a backup ------------------------------------------------------------------------

Status WriteBackup(const BackupSource& source, const ByteSink& sink) {
  BufferedSink buffered(sink);
  BackupWriter writer([&](std::string_view b) { return buffered.Write(b); });
  std::optional<std::string> watermark;
  HM_RETURN_IF_ERROR(source.scan(
      [&](uint64_t height) -> Status {
        // The snapshot is taken: a watermark read now is at least as new as the data folder's
        // signer state in it (the watermark is always written first).
        auto w = ReadSmallFile(source.home / kWatermarkFileName, "signer watermark");
        if (!w.ok()) return w.status();
        watermark = std::move(w).value();
        pb::BackupHeader h;
        h.set_format_version(kBackupFormatVersion);
        h.set_chain_id(source.chain_id);
        h.set_height(height);
        h.set_validator_key(source.validator_key_hex);
        h.set_time_ms(core::UnixTimeMs());
        h.set_genesis_hash(source.genesis_hash);
        h.set_includes_node_key(source.include_node_key);
        h.set_hallmarkd_version(std::string(Version()));
        return writer.Begin(h);
      },
      [&](std::string_view key, std::string_view value) {
        return writer.Add(pb::BackupEntry::LEDGER, key, value);
      }));
  auto config = ReadSmallFile(source.home / "config.json", "config.json");
  if (!config.ok()) return config.status();
  if (!*config) return Status::NotFound("no config.json in " + source.home.string());
  HM_RETURN_IF_ERROR(writer.Add(pb::BackupEntry::CONFIG, "config.json", **config));
  const std::filesystem::path genesis_path = ResolvePath(source.home, source.config.genesis_file());
  auto genesis = ReadSmallFile(genesis_path, "genesis");
  if (!genesis.ok()) return genesis.status();
  if (!*genesis) return Status::NotFound("no genesis at " + genesis_path.string());
  HM_RETURN_IF_ERROR(writer.Add(pb::BackupEntry::GENESIS, "genesis.json", **genesis));
  if (watermark) {
    HM_RETURN_IF_ERROR(
        writer.Add(pb::BackupEntry::SIGNER_WATERMARK, kWatermarkFileName, *watermark));
  }
  if (source.include_node_key) {
    const std::filesystem::path key_path = ResolvePath(source.home, source.config.node_key_file());
    auto key = ReadSmallFile(key_path, "node key");
    if (!key.ok()) return key.status();
    if (!*key) return Status::NotFound("no node key at " + key_path.string());
    HM_RETURN_IF_ERROR(writer.Add(pb::BackupEntry::NODE_KEY, "node.key", **key));
  }
  HM_RETURN_IF_ERROR(writer.Finish());
  return buffered.Flush();
}

core::Result<BackupSummary> VerifyBackupFile(const std::filesystem::path& path) {
  Fd in;
  in.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in.fd < 0) {
    const int err = errno;
    if (err == ENOENT) return Status::InvalidInput("no backup file " + path.string());
    return Status::IoError("cannot open " + path.string() + ": " + std::strerror(err));
  }
  BackupReader reader([&](char* buf, size_t n) -> core::Result<size_t> {
    for (;;) {
      const ssize_t got = ::read(in.fd, buf, n);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno != EINTR)
        return Status::IoError("cannot read " + path.string() + ": " + std::strerror(errno));
    }
  });
  BackupSummary summary;
  auto header = reader.ReadHeader();
  if (!header.ok()) return header.status().WithContext(path.string());
  summary.header = *header;
  for (;;) {
    auto entry = reader.Next();
    if (!entry.ok()) return entry.status().WithContext(path.string());
    if (!entry->has_value()) break;
    if ((*entry)->kind() == pb::BackupEntry::LEDGER) ++summary.ledger_entries;
    if ((*entry)->kind() == pb::BackupEntry::SIGNER_WATERMARK) summary.has_watermark = true;
  }
  summary.bytes = reader.bytes_read();
  return summary;
}

core::Result<std::string> RunBackup(const BackupOptions& o) {
  auto config = LoadConfig(o.home);
  if (!config.ok()) return config.status();
  std::error_code ec;
  if (!o.force && std::filesystem::exists(o.out, ec)) {
    return Status::InvalidInput(o.out.string() + " exists; pass --force to replace it");
  }
  const std::filesystem::path dir = ParentOf(o.out);
  const std::filesystem::path tmp =
      dir / ("." + o.out.filename().string() + ".tmp-" + std::to_string(::getpid()));
  Fd out;
  out.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, S_IRUSR | S_IWUSR);
  if (out.fd < 0)
    return Status::IoError("cannot create " + tmp.string() + ": " + std::strerror(errno));
  struct RemoveTmp {
    const std::filesystem::path& p;
    bool keep = false;
    ~RemoveTmp() {
      std::error_code e;
      if (!keep) std::filesystem::remove(p, e);
    }
  } remove_tmp{tmp};
  const ByteSink to_file = [&](std::string_view b) { return WriteAllFd(out.fd, b, tmp.string()); };

  std::string how;
  auto conn = ConnectAdminSocket(o.home / kAdminSocketName);
  if (conn.ok()) {
    // A running node: it streams the backup from a LevelDB snapshot.
    Fd sock;
    sock.fd = *conn;
    pb::AdminRequest request;
    request.mutable_backup()->set_include_node_key(o.include_node_key);
    HM_RETURN_IF_ERROR(SendMessage(sock.fd, request, "admin socket"));
    pb::AdminResponse response;
    HM_RETURN_IF_ERROR(ReceiveMessage(sock.fd, &response, 64 * 1024, "admin socket"));
    if (!response.error().empty()) return Status::InvalidInput("the node: " + response.error());
    std::string buf(256 * 1024, '\0');
    for (;;) {
      auto got = ReceiveSome(sock.fd, buf.data(), buf.size(), "backup stream");
      if (!got.ok()) return got.status();
      if (*got == 0) break;
      HM_RETURN_IF_ERROR(to_file(std::string_view(buf.data(), *got)));
    }
    how = "from the running node";
  } else if (conn.status().code() == core::StatusCode::kNotFound) {
    // No node answers: read the data folder, only if LevelDB's lock can be taken.
    auto network = core::Network::FromFile(ResolvePath(o.home, config->genesis_file()));
    if (!network.ok()) return network.status();
    BackupSource source;
    source.home = o.home;
    source.config = *config;
    source.chain_id = network->chain_id();
    source.genesis_hash = std::string(network->hash().view());
    auto info = core::ReadKeystoreInfo(ResolvePath(o.home, config->node_key_file()));
    if (info.ok()) source.validator_key_hex = info->public_key();
    source.include_node_key = o.include_node_key;
    const std::filesystem::path ledger = ResolvePath(o.home, config->data_dir()) / "ledger";
    source.scan = [&](const auto& begin, const auto& visit) -> Status {
      Status st = storage::ScanStore(ledger, begin, visit);
      if (st.code() == core::StatusCode::kInvalidInput) {
        return Status::InvalidInput(
            st.message() + "; but no node answers on " + (o.home / kAdminSocketName).string() +
            ": is it a node of an older hallmarkd, or is the socket removed? Stop the node (or "
            "restart it with this hallmarkd) and try again");
      }
      return st;
    };
    HM_RETURN_IF_ERROR(WriteBackup(source, to_file));
    how = "from the stopped node's data folder";
  } else {
    return conn.status();
  }
  if (::fsync(out.fd) != 0)
    return Status::IoError("cannot sync " + tmp.string() + ": " + std::strerror(errno));
  // Check every byte before the file takes the name.
  auto summary = VerifyBackupFile(tmp);
  if (!summary.ok()) return summary.status();
  if (o.force) {
    if (::rename(tmp.c_str(), o.out.c_str()) != 0)
      return Status::IoError("cannot rename to " + o.out.string() + ": " + std::strerror(errno));
  } else if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, o.out.c_str(), RENAME_NOREPLACE) != 0) {
    const int err = errno;
    if (err == EEXIST)
      return Status::InvalidInput(o.out.string() + " exists; pass --force to replace it");
    return Status::IoError("cannot rename to " + o.out.string() + ": " + std::strerror(err));
  }
  remove_tmp.keep = true;
  HM_RETURN_IF_ERROR(SyncDir(dir));
  const pb::BackupHeader& h = summary->header;
  return "backup of chain " + h.chain_id() + " at height " + std::to_string(h.height()) + " " +
         how + ": " + std::to_string(summary->ledger_entries) + " ledger entries, config, genesis" +
         (summary->has_watermark ? ", signer watermark" : "") +
         (h.includes_node_key() ? ", node key" : "") + "; " + std::to_string(summary->bytes) +
         " bytes written to " + o.out.string() + "\n";
}

// --- Restoring ------------------------------------------------------------------------------

namespace {

bool IsEmptyDir(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_directory(p, ec) && std::filesystem::is_empty(p, ec);
}

// A path of the config that must stay inside the home: relative, and without "..".
bool InsideHome(const std::string& path) {
  if (path.empty()) return true;
  const std::filesystem::path p(path);
  if (p.is_absolute()) return false;
  for (const auto& part : p)
    if (part == "..") return false;
  return true;
}

Status WriteStaged(const std::filesystem::path& path, std::string_view data) {
  return WriteFileDurably(path, data);  // Mode 0600, synced.
}

}  // namespace

core::Result<std::string> RunRestore(const RestoreOptions& o) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool home_existed = fs::exists(o.home, ec);
  if (home_existed && !fs::is_directory(o.home, ec))
    return Status::InvalidInput(o.home.string() + " is not a folder");
  if (home_existed && !IsEmptyDir(o.home) && !o.force) {
    return Status::InvalidInput(o.home.string() +
                                " is not empty; pass --force to replace its node's files");
  }
  if (auto conn = ConnectAdminSocket(o.home / kAdminSocketName); conn.ok()) {
    ::close(*conn);
    return Status::InvalidInput("a node is running in " + o.home.string() + ": stop it first");
  }
  std::optional<core::Network> given;
  if (o.genesis) {
    auto n = core::Network::FromFile(*o.genesis);
    if (!n.ok()) return n.status();
    given = std::move(n).value();
  }

  Fd in;
  in.fd = ::open(o.from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in.fd < 0) {
    const int err = errno;
    return Status::InvalidInput("cannot open the backup " + o.from.string() + ": " +
                                std::strerror(err));
  }
  BackupReader reader([&](char* buf, size_t n) -> core::Result<size_t> {
    for (;;) {
      const ssize_t got = ::read(in.fd, buf, n);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno != EINTR)
        return Status::IoError("cannot read " + o.from.string() + ": " + std::strerror(errno));
    }
  });
  auto header = reader.ReadHeader();
  if (!header.ok()) return header.status().WithContext(o.from.string());
  if (given) {
    if (given->chain_id() != header->chain_id()) {
      return Status::InvalidInput("the backup " + o.from.string() + " is of chain \"" +
                                  header->chain_id() + "\", not of " + o.genesis->string() +
                                  "'s chain \"" + given->chain_id() + "\"");
    }
    if (std::string(given->hash().view()) != header->genesis_hash()) {
      return Status::InvalidInput("the backup " + o.from.string() + " is of chain \"" +
                                  header->chain_id() + "\" with genesis " +
                                  Hex8(header->genesis_hash()) + "…, not " + o.genesis->string() +
                                  " (" + given->hash().Hex().substr(0, 16) + "…)");
    }
  }

  // Stage everything beside the node's files; nothing of the home changes before the whole
  // file has checked out.
  if (!home_existed) {
    fs::create_directories(o.home, ec);
    if (ec) return Status::IoError("cannot create " + o.home.string() + ": " + ec.message());
  }
  const fs::path stage = o.home / (".restore-" + std::to_string(::getpid()));
  struct Cleanup {
    const fs::path& stage;
    const fs::path& home;
    bool remove_home;
    ~Cleanup() {
      std::error_code e;
      fs::remove_all(stage, e);
      if (remove_home) fs::remove_all(home, e);
    }
  } cleanup{stage, o.home, !home_existed};
  fs::create_directories(stage, ec);
  if (ec) return Status::IoError("cannot create " + stage.string() + ": " + ec.message());
  auto store = storage::StoreWriter::Create(stage / "data" / "ledger");
  if (!store.ok()) return store.status();
  std::optional<std::string> config_bytes, genesis_bytes, watermark_bytes, key_bytes;
  std::string last_key;
  uint64_t ledger_entries = 0;
  for (;;) {
    auto entry = reader.Next();
    if (!entry.ok()) return entry.status().WithContext(o.from.string());
    if (!entry->has_value()) break;
    pb::BackupEntry& e = **entry;
    auto keep_file = [&](std::optional<std::string>* slot, const char* what) -> Status {
      if (*slot) return Bad(std::string("is corrupted: two ") + what + " entries");
      if (e.value().size() > kBackupFileBytesMax)
        return Bad(std::string("is corrupted: its ") + what + " is too large");
      *slot = std::move(*e.mutable_value());
      return Status::Ok();
    };
    switch (e.kind()) {
      case pb::BackupEntry::LEDGER:
        if (ledger_entries > 0 && e.key() <= last_key)
          return Bad("is corrupted: its ledger entries are out of order");
        last_key = e.key();
        ++ledger_entries;
        HM_RETURN_IF_ERROR((*store)->Put(e.key(), e.value()));
        break;
      case pb::BackupEntry::CONFIG:
        HM_RETURN_IF_ERROR(keep_file(&config_bytes, "config.json"));
        break;
      case pb::BackupEntry::GENESIS:
        HM_RETURN_IF_ERROR(keep_file(&genesis_bytes, "genesis"));
        break;
      case pb::BackupEntry::SIGNER_WATERMARK:
        HM_RETURN_IF_ERROR(keep_file(&watermark_bytes, "signer watermark"));
        break;
      case pb::BackupEntry::NODE_KEY:
        HM_RETURN_IF_ERROR(keep_file(&key_bytes, "node key"));
        break;
      default:
        return Bad("has an entry of an unknown kind " + std::to_string(e.kind()) +
                   " (written by a newer hallmarkd?)");
    }
  }
  HM_RETURN_IF_ERROR((*store)->Finish());
  store->reset();
  if (!config_bytes || !genesis_bytes) return Bad("is corrupted: it lacks config.json or genesis");
  if (header->includes_node_key() != key_bytes.has_value())
    return Bad("is corrupted: its header and its entries disagree about the node key");

  // The genesis in the file is the header's network.
  auto network = core::Network::FromJson(*genesis_bytes);
  if (!network.ok()) return network.status().WithContext("the backup's genesis");
  if (network->chain_id() != header->chain_id() ||
      std::string(network->hash().view()) != header->genesis_hash())
    return Bad("is corrupted: its genesis is not the one its header names");

  // config.json, with the files it names inside the home.
  HM_RETURN_IF_ERROR(WriteStaged(stage / "config.json", *config_bytes));
  auto config = LoadConfig(stage);
  if (!config.ok()) return config.status().WithContext("the backup's config.json");
  pb::NodeConfig cfg = *config;
  bool rewrite_config = false;
  if (cfg.genesis_file() != "genesis.json") {
    cfg.set_genesis_file("genesis.json");
    rewrite_config = true;
  }
  if (key_bytes && cfg.node_key_file() != "node.key") {
    cfg.set_node_key_file("node.key");
    rewrite_config = true;
  }
  if (!InsideHome(cfg.data_dir())) {
    cfg.set_data_dir("data");
    rewrite_config = true;
  }
  if (rewrite_config) HM_RETURN_IF_ERROR(WriteConfig(stage, cfg));
  HM_RETURN_IF_ERROR(WriteStaged(stage / "genesis.json", *genesis_bytes));

  // The key must be the one the header names.
  core::PublicKey validator;
  if (!header->validator_key().empty()) {
    auto k = core::PublicKey::FromHex(header->validator_key());
    if (!k.ok()) return Bad("is corrupted: its validator key is not a key");
    validator = *k;
  }
  if (key_bytes) {
    HM_RETURN_IF_ERROR(WriteStaged(stage / "node.key", *key_bytes));
    auto info = core::ReadKeystoreInfo(stage / "node.key");
    if (!info.ok()) return info.status().WithContext("the backup's node key");
    if (info->public_key() != header->validator_key())
      return Bad("is corrupted: its node key is not the validator key its header names");
  }

  // The watermark, marked as restored: the key may have signed after the backup was taken.
  // A watermark already in the home that is further ahead (same chain and key) is kept
  // instead, still marked: it knows more of what was signed.
  std::optional<consensus::SignerState> mark_state;
  if (watermark_bytes) {
    if (header->validator_key().empty())
      return Bad("is corrupted: a signer watermark without a validator key");
    const WatermarkOwner owner{header->chain_id(), validator};
    auto w = ParseWatermark(*watermark_bytes, owner, "the backup's signer watermark");
    if (!w.ok()) return w.status();
    mark_state = w->state;
    auto existing = ReadWatermarkFile(o.home / kWatermarkFileName, owner);
    if (existing.ok() && existing->has_value()) {
      const consensus::SignerState& s = (*existing)->state;
      if (std::tie(s.height, s.round, s.step) >
          std::tie(mark_state->height, mark_state->round, mark_state->step))
        mark_state = s;
    }
    HM_RETURN_IF_ERROR(WriteWatermark(stage / kWatermarkFileName, owner, *mark_state,
                                      RestoreMark{header->height()}));
  }

  // Open the staged ledger as the node would: the head against its block and state tree, the
  // genesis it was made for.
  {
    auto ledger = storage::Ledger::Open(stage / "data" / "ledger", *network);
    if (!ledger.ok()) return ledger.status().WithContext("the backup's ledger");
    if ((*ledger)->height() != header->height()) {
      return Bad("is corrupted: its ledger is at height " + std::to_string((*ledger)->height()) +
                 ", its header says " + std::to_string(header->height()));
    }
  }

  // Everything checked out: move the files in.
  const fs::path data_dir = ResolvePath(o.home, cfg.data_dir());
  fs::remove_all(data_dir, ec);
  if (ec) return Status::IoError("cannot remove " + data_dir.string() + ": " + ec.message());
  fs::create_directories(data_dir, ec);
  if (ec) return Status::IoError("cannot create " + data_dir.string() + ": " + ec.message());
  auto move = [&](const fs::path& from, const fs::path& to) -> Status {
    std::error_code e;
    fs::rename(from, to, e);
    if (e)
      return Status::IoError("cannot move " + from.string() + " to " + to.string() + ": " +
                             e.message());
    return Status::Ok();
  };
  HM_RETURN_IF_ERROR(move(stage / "data" / "ledger", data_dir / "ledger"));
  HM_RETURN_IF_ERROR(move(stage / "genesis.json", o.home / "genesis.json"));
  if (key_bytes) HM_RETURN_IF_ERROR(move(stage / "node.key", o.home / "node.key"));
  if (mark_state) HM_RETURN_IF_ERROR(move(stage / kWatermarkFileName, o.home / kWatermarkFileName));
  HM_RETURN_IF_ERROR(move(stage / "config.json", o.home / "config.json"));
  HM_RETURN_IF_ERROR(SyncDir(o.home));
  cleanup.remove_home = false;

  std::string summary = "restored chain " + header->chain_id() + " at height " +
                        std::to_string(header->height()) + " into " + o.home.string() + ": " +
                        std::to_string(ledger_entries) + " ledger entries, config.json" +
                        (rewrite_config ? " (file paths set inside the home)" : "") +
                        ", genesis.json";
  if (key_bytes) summary += ", node.key";
  if (mark_state) {
    summary +=
        ", signer_state.json marked as restored (the validator signs nothing until the "
        "network has committed past anything it could have signed since the backup)";
  } else if (!header->validator_key().empty()) {
    summary += "; the backup holds no signer watermark: the validator abstains at its start";
  }
  if (!key_bytes) summary += "; the node key is not in the backup: put it back yourself";
  return summary + "\n";
}

}  // namespace hallmark::node
