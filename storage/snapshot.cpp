#include "storage/snapshot.h"

#include <unistd.h>

#include <leveldb/db.h>
#include <leveldb/write_batch.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <unordered_set>

#include "core/codec.h"
#include "core/consensus_codec.h"
#include "core/crypto/sha256.h"
#include "core/governance_proof.h"
#include "core/item_id.h"
#include "core/limits.h"
#include "core/merkle.h"
#include "core/records.h"
#include "core/smt.h"
#include "storage/keys.h"
#include "storage/list_index.h"
#include "storage/proof_bundle.h"
#include "storage/smt_store.h"

namespace hallmark::storage {

using core::Hash256;
using core::Result;
using core::Status;

// The ledger's insides that snapshots need: its LevelDB, its tree, and a reload after an install.
class SnapshotAccess {
 public:
  static leveldb::DB* db(const Ledger& l) { return l.db_.get(); }
  static core::SparseMerkleTree* tree(Ledger& l) { return l.tree_.get(); }
  static Status Reload(Ledger& l) { return l.Load(); }
  static const std::filesystem::path& dir(const Ledger& l) { return l.dir_; }
};

namespace {

Status FromLevelDb(const leveldb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  if (s.IsCorruption()) return Status::Corruption(std::string(what) + ": " + s.ToString());
  return Status::IoError(std::string(what) + ": " + s.ToString());
}

Result<std::optional<std::string>> Get(leveldb::DB* db, const leveldb::ReadOptions& ro,
                                       const std::string& key, std::string_view what) {
  std::string value;
  leveldb::Status s = db->Get(ro, key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  HM_RETURN_IF_ERROR(FromLevelDb(s, what));
  return std::optional<std::string>(std::move(value));
}

std::string U64(uint64_t v) {
  std::string out;
  core::PutBigEndian64(&out, v);
  return out;
}

uint64_t ReadU64(std::string_view bytes) {
  return core::GetBigEndian64(reinterpret_cast<const uint8_t*>(bytes.data()));
}

std::string ChunkFileName(uint32_t index) {
  char name[32];
  std::snprintf(name, sizeof(name), "chunk-%06u.pb", index);
  return name;
}

Status WriteFileSynced(const std::filesystem::path& path, std::string_view bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return Status::IoError("cannot create " + path.string());
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() &&
                  std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  std::fclose(f);
  if (!ok) return Status::IoError("cannot write " + path.string());
  return Status::Ok();
}

Result<std::optional<std::string>> ReadFileIfAny(const std::filesystem::path& path,
                                                 size_t max_bytes) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<std::string>();
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return Status::IoError("cannot read " + path.string() + ": " + ec.message());
  if (size > max_bytes) return Status::Corruption(path.string() + " is larger than allowed");
  std::ifstream in(path, std::ios::binary);
  std::string bytes(size, '\0');
  if (!in.read(bytes.data(), static_cast<std::streamsize>(size))) {
    return Status::IoError("cannot read " + path.string());
  }
  return std::optional<std::string>(std::move(bytes));
}

// Writes chunks as they fill up.
class ChunkWriter {
 public:
  ChunkWriter(std::filesystem::path dir, uint64_t height, size_t target)
      : dir_(std::move(dir)), height_(height), target_(target) {
    Start();
  }
  pb::SnapshotChunk& chunk() { return chunk_; }
  // Adds the item; closes the chunk once it reached its target.
  Status Add(pb::SnapshotItem item) {
    bytes_ += item.ByteSizeLong() + 8;
    *chunk_.add_items() = std::move(item);
    ++items_;
    if (bytes_ >= target_) return Close();
    return Status::Ok();
  }
  Status Close() {
    std::string bytes = core::SerializeDeterministic(chunk_);
    if (bytes.size() > kSnapshotChunkMaxBytes) {
      return Status::Internal("a snapshot chunk came to " + std::to_string(bytes.size()) +
                              " bytes, above the limit");
    }
    HM_RETURN_IF_ERROR(WriteFileSynced(dir_ / ChunkFileName(next_index_), bytes));
    hashes_.push_back(core::Sha256Of(std::string_view(bytes)));
    ++next_index_;
    Start();
    return Status::Ok();
  }
  // Closes the last chunk unless it is empty (chunk 0 is always written).
  Status Finish() {
    if (next_index_ == 0 || chunk_.items_size() > 0) return Close();
    return Status::Ok();
  }
  const std::vector<Hash256>& hashes() const { return hashes_; }
  uint64_t items() const { return items_; }

 private:
  void Start() {
    chunk_.Clear();
    chunk_.set_format_version(kSnapshotFormatVersion);
    chunk_.set_height(height_);
    chunk_.set_index(next_index_);
    bytes_ = 64;
  }
  std::filesystem::path dir_;
  uint64_t height_;
  size_t target_;
  pb::SnapshotChunk chunk_;
  size_t bytes_ = 0;
  uint32_t next_index_ = 0;
  uint64_t items_ = 0;
  std::vector<Hash256> hashes_;
};

template <typename Message>
Status ParseStoredBytes(std::string_view bytes, Message* out, std::string_view what) {
  if (!out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::Corruption(std::string(what) + " does not parse");
  }
  return Status::Ok();
}

// The chain-wide part of a snapshot, read from one LevelDB snapshot.
Status ReadMeta(leveldb::DB* db, const leveldb::ReadOptions& ro, uint64_t height,
                pb::SnapshotMeta* meta) {
  std::unique_ptr<leveldb::Iterator> it(db->NewIterator(ro));
  const std::string g = keys::NetworkStatePrefix();
  for (it->Seek(g); it->Valid() && it->key().starts_with(g); it->Next()) {
    if (it->key().size() != 9) return Status::Corruption("a network state key is malformed");
    const uint64_t h = ReadU64(std::string_view(it->key().data() + 1, 8));
    if (h > height) break;
    pb::SnapshotNetworkState* ns = meta->add_network_states();
    ns->set_height(h);
    ns->set_state(it->value().ToString());
    auto proof = Get(db, ro, keys::NetworkStateProofAt(h), "network-state proof");
    if (!proof.ok()) return proof.status();
    if (proof->has_value()) ns->set_proof(std::move(**proof));
  }
  HM_RETURN_IF_ERROR(FromLevelDb(it->status(), "reading network states"));

  std::vector<uint64_t> gov_heights;
  const std::string p = keys::GovernancePrefix();
  for (it->Seek(p); it->Valid() && it->key().starts_with(p); it->Next()) {
    if (it->key().size() != 13) return Status::Corruption("a governance key is malformed");
    const uint64_t h = ReadU64(std::string_view(it->key().data() + 1, 8));
    if (h > height) break;
    auto id = Hash256::FromBytes(std::string_view(it->value().data(), it->value().size()));
    if (!id) return Status::Corruption("a governance entry is malformed");
    auto rec = Get(db, ro, keys::Record(*id), "governance record");
    if (!rec.ok()) return rec.status();
    if (!rec->has_value()) return Status::Corruption("a governance record is missing");
    HM_RETURN_IF_ERROR(ParseStoredBytes(**rec, meta->add_governance(), "governance record"));
    if (gov_heights.empty() || gov_heights.back() != h) gov_heights.push_back(h);
  }
  HM_RETURN_IF_ERROR(FromLevelDb(it->status(), "reading governance records"));
  for (uint64_t h : gov_heights) {
    auto block = Get(db, ro, keys::Block(h), "governance block");
    if (!block.ok()) return block.status();
    auto cert = Get(db, ro, keys::Certificate(h), "governance block certificate");
    if (!cert.ok()) return cert.status();
    if (!block->has_value() || !cert->has_value()) {
      return Status::Corruption("block " + std::to_string(h) +
                                " of a governance record or its certificate is missing");
    }
    pb::SnapshotBlock* sb = meta->add_governance_blocks();
    HM_RETURN_IF_ERROR(ParseStoredBytes(**block, sb->mutable_block(), "governance block"));
    sb->set_certificate(std::move(**cert));
  }

  const std::string v = keys::CommittedEvidencePrefix();
  for (it->Seek(v); it->Valid() && it->key().starts_with(v); it->Next()) {
    if (it->key().size() != 13) return Status::Corruption("an evidence key is malformed");
    const uint64_t h = ReadU64(std::string_view(it->key().data() + 1, 8));
    if (h > height) break;
    HM_RETURN_IF_ERROR(ParseStoredBytes(std::string_view(it->value().data(), it->value().size()),
                                        meta->add_evidence(), "committed evidence"));
  }
  return FromLevelDb(it->status(), "reading evidence");
}

}  // namespace

Result<pb::SnapshotManifest> ParseSnapshotManifest(std::string_view bytes) {
  if (bytes.size() > kSnapshotManifestMaxBytes) {
    return Status::InvalidInput("snapshot manifest of " + std::to_string(bytes.size()) +
                                " bytes is over the limit of " +
                                std::to_string(kSnapshotManifestMaxBytes));
  }
  HM_RETURN_IF_ERROR(core::CheckMessageCount(bytes, *pb::SnapshotManifest::descriptor(),
                                             kSnapshotMaxMessages, "snapshot manifest"));
  pb::SnapshotManifest manifest;
  HM_RETURN_IF_ERROR(core::ParseStrict(bytes, &manifest, "snapshot manifest"));
  return manifest;
}

Result<VerifiedManifest> VerifySnapshotManifest(const core::Network& network,
                                                const pb::SnapshotManifest& m) {
  if (m.format_version() != kSnapshotFormatVersion) {
    return Status::InvalidInput("snapshot format version " + std::to_string(m.format_version()) +
                                " is not supported (this node reads version " +
                                std::to_string(kSnapshotFormatVersion) + ")");
  }
  if (m.chain_id() != network.chain_id() || m.genesis_hash() != network.hash().view()) {
    return Status::InvalidInput("the snapshot is for chain '" + m.chain_id() +
                                "' or another genesis, not this network's");
  }
  if (m.height() == 0) return Status::InvalidInput("a snapshot at height 0 holds nothing");
  if (m.chunk_count() == 0 || m.chunk_count() > kSnapshotMaxChunks) {
    return Status::InvalidInput("the snapshot has " + std::to_string(m.chunk_count()) +
                                " chunks; between 1 and " + std::to_string(kSnapshotMaxChunks) +
                                " are allowed");
  }
  if (static_cast<uint64_t>(m.chunk_hashes_size()) != m.chunk_count()) {
    return Status::InvalidInput("the snapshot lists " + std::to_string(m.chunk_hashes_size()) +
                                " chunk hashes for " + std::to_string(m.chunk_count()) + " chunks");
  }
  for (const std::string& h : m.chunk_hashes()) {
    if (h.size() != 32) return Status::InvalidInput("a chunk hash is not 32 bytes");
  }
  VerifiedManifest out;
  HM_RETURN_IF_ERROR(core::ParseStrict(m.header(), &out.header, "snapshot header"));
  if (out.header.height() != m.height() || out.header.chain_id() != network.chain_id()) {
    return Status::InvalidInput("the snapshot's header is for height " +
                                std::to_string(out.header.height()) + ", not " +
                                std::to_string(m.height()));
  }
  auto walked =
      core::VerifyGovernanceWalk(network, m.governance(), m.height(), m.header(), nullptr, true);
  if (!walked.ok()) {
    return Status::InvalidInput("the snapshot's governance walk: " + walked.status().message());
  }
  if (m.governance().from_height() != 0) {
    return Status::InvalidInput("the snapshot's governance walk must start at genesis");
  }
  out.block_hash = core::Sha256Of(std::string_view(m.header()));
  auto cert = core::FromProto(m.certificate());
  if (!cert.ok())
    return Status::InvalidInput("the snapshot's certificate: " + cert.status().message());
  auto set = core::ToValidatorSet(walked->state.ValidatorSetAt(m.height()));
  if (!set.ok()) return Status::InvalidInput(set.status().message());
  if (Status st = core::VerifyCommitCertificate(*set, network.chain_id(), *cert, m.height(),
                                                out.block_hash);
      !st.ok()) {
    return Status::InvalidInput("the snapshot's header at height " + std::to_string(m.height()) +
                                " is not certified: " + st.message());
  }
  auto root = Hash256::FromBytes(out.header.state_root());
  if (!root) return Status::InvalidInput("the snapshot header's state root is not 32 bytes");
  out.state_root = *root;
  HM_RETURN_IF_ERROR(core::CheckNetworkStateLeaf(network, walked->state, *root,
                                                 m.governance().network_state_proof())
                         .WithContext("the snapshot's network state"));
  HM_RETURN_IF_ERROR(core::CheckWalkNetworkState(walked->state, *root, m.governance())
                         .WithContext("the snapshot's network state"));
  out.height = m.height();
  out.governed = std::move(walked->state);
  return out;
}

Result<pb::SnapshotManifest> TakeSnapshot(const Ledger& ledger, const std::filesystem::path& dir,
                                          size_t chunk_target_bytes,
                                          const SnapshotStopCheck& stopping) {
  leveldb::DB* db = SnapshotAccess::db(ledger);
  // The head, its certificate, the walk and a LevelDB snapshot, all of one committed state.
  const leveldb::Snapshot* snap = nullptr;
  Ledger::HeadSnapshot head;
  pb::GovernanceWalk walk;
  Status st = ledger.ReadConsistent([&]() -> Status {
    if (snap) db->ReleaseSnapshot(snap);
    snap = db->GetSnapshot();
    head = ledger.head_snapshot();
    if (head.head.height() == 0) return Status::NotFound("nothing is committed yet");
    if (head.certificate.empty()) {
      return Status::Corruption("the head block has no commit certificate");
    }
    auto w = BuildGovernanceWalk(ledger, 0, head.head.height());
    if (!w.ok()) return w.status();
    walk = std::move(w).value();
    return Status::Ok();
  });
  struct Release {
    leveldb::DB* db;
    const leveldb::Snapshot*& snap;
    ~Release() {
      if (snap) db->ReleaseSnapshot(snap);
    }
  } release{db, snap};
  if (!st.ok()) return st;
  const uint64_t height = head.head.height();

  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    return Status::InvalidInput("snapshot folder " + dir.string() + " already exists");
  }
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IoError("cannot create " + dir.string() + ": " + ec.message());
  // Removes the folder again unless the take completes: a half snapshot is never left.
  struct RemoveUnlessDone {
    const std::filesystem::path& dir;
    bool done = false;
    ~RemoveUnlessDone() {
      std::error_code ignored;
      if (!done) std::filesystem::remove_all(dir, ignored);
    }
  } partial{dir};

  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  ro.snapshot = snap;
  ChunkWriter writer(dir, height, chunk_target_bytes);
  HM_RETURN_IF_ERROR(ReadMeta(db, ro, height, writer.chunk().mutable_meta()));

  std::unique_ptr<leveldb::Iterator> it(db->NewIterator(ro));
  const std::string s = keys::ItemPrefix();
  leveldb::ReadOptions scan = ro;
  scan.fill_cache = false;
  std::unique_ptr<leveldb::Iterator> hist(db->NewIterator(scan));
  for (it->Seek(s); it->Valid() && it->key().starts_with(s); it->Next()) {
    if (stopping && stopping()) {
      return Status::Cancelled("the snapshot at height " + std::to_string(height) +
                               " was stopped part-way; its folder is removed");
    }
    auto key = Hash256::FromBytes(std::string_view(it->key().data() + 1, it->key().size() - 1));
    if (!key) return Status::Corruption("an item state key is malformed");
    pb::SnapshotItem item;
    item.set_state(it->value().ToString());
    const std::string prefix = keys::HistoryPrefix(*key);
    for (hist->Seek(prefix); hist->Valid() && hist->key().starts_with(prefix); hist->Next()) {
      auto id = Hash256::FromBytes(std::string_view(hist->value().data(), hist->value().size()));
      if (!id) return Status::Corruption("history entry of item " + key->Hex() + " is malformed");
      auto rec = Get(db, ro, keys::Record(*id), "record");
      if (!rec.ok()) return rec.status();
      if (!rec->has_value()) return Status::Corruption("record " + id->Hex() + " is missing");
      HM_RETURN_IF_ERROR(ParseStoredBytes(**rec, item.add_history(), "record"));
    }
    HM_RETURN_IF_ERROR(FromLevelDb(hist->status(), "reading a history"));
    auto time = Get(db, ro, keys::ItemTime(*key), "item time");
    if (!time.ok()) return time.status();
    if (!time->has_value() || (*time)->size() != 8) {
      return Status::Corruption("item " + key->Hex() + " has no updated time");
    }
    item.set_updated_time_ms(ReadU64(**time));
    HM_RETURN_IF_ERROR(writer.Add(std::move(item)));
  }
  HM_RETURN_IF_ERROR(FromLevelDb(it->status(), "reading item states"));
  HM_RETURN_IF_ERROR(writer.Finish());

  pb::SnapshotManifest m;
  m.set_format_version(kSnapshotFormatVersion);
  m.set_chain_id(ledger.network().chain_id());
  m.set_genesis_hash(std::string(ledger.network().hash().view()));
  m.set_height(height);
  m.set_header(head.header);
  if (!core::ParseStrict(head.certificate, m.mutable_certificate(), "stored certificate").ok()) {
    return Status::Corruption("the head's stored certificate does not parse");
  }
  *m.mutable_governance() = std::move(walk);
  m.set_chunk_count(static_cast<uint32_t>(writer.hashes().size()));
  for (const Hash256& h : writer.hashes()) m.add_chunk_hashes(std::string(h.view()));
  m.set_item_count(writer.items());
  HM_RETURN_IF_ERROR(WriteFileSynced(dir / "manifest.pb", core::SerializeDeterministic(m)));
  partial.done = true;
  return m;
}

// --- SnapshotStore ---

SnapshotStore::SnapshotStore(std::filesystem::path root, size_t keep)
    : root_(std::move(root)), keep_(std::max<size_t>(keep, 1)) {}

std::vector<uint64_t> SnapshotStore::Heights() const {
  std::vector<uint64_t> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root_, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.size() > 20 ||
        !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;  // Temporary folders and anything else.
    }
    if (!std::filesystem::exists(entry.path() / "manifest.pb", ec)) continue;
    out.push_back(std::stoull(name));
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<pb::SnapshotManifest> SnapshotStore::Take(const Ledger& ledger, size_t chunk_target_bytes,
                                                 const SnapshotStopCheck& stopping) {
  std::error_code ec;
  std::filesystem::create_directories(root_, ec);
  if (ec) return Status::IoError("cannot create " + root_.string() + ": " + ec.message());
  const std::filesystem::path tmp = root_ / "taking.tmp";
  std::filesystem::remove_all(tmp, ec);
  auto m = TakeSnapshot(ledger, tmp, chunk_target_bytes, stopping);
  if (!m.ok()) {
    std::filesystem::remove_all(tmp, ec);
    return m.status();
  }
  const std::filesystem::path final_dir = root_ / std::to_string(m->height());
  if (std::filesystem::exists(final_dir, ec)) {
    std::filesystem::remove_all(tmp, ec);
  } else {
    std::filesystem::rename(tmp, final_dir, ec);
    if (ec) return Status::IoError("cannot rename " + tmp.string() + ": " + ec.message());
  }
  std::vector<uint64_t> heights = Heights();
  while (heights.size() > keep_) {
    std::filesystem::remove_all(root_ / std::to_string(heights.front()), ec);
    heights.erase(heights.begin());
  }
  return m;
}

Result<std::optional<std::string>> SnapshotStore::NewestManifest() const {
  std::vector<uint64_t> heights = Heights();
  if (heights.empty()) return std::optional<std::string>();
  return ReadFileIfAny(root_ / std::to_string(heights.back()) / "manifest.pb",
                       kSnapshotManifestMaxBytes);
}

Result<std::optional<std::string>> SnapshotStore::ReadChunk(uint64_t height, uint32_t index) const {
  return ReadFileIfAny(root_ / std::to_string(height) / ChunkFileName(index),
                       kSnapshotChunkMaxBytes);
}

// --- Installing ---

Status WipeLedger(Ledger* ledger) {
  leveldb::DB* db = SnapshotAccess::db(*ledger);
  leveldb::WriteOptions wo;
  wo.sync = true;
  std::unique_ptr<leveldb::Iterator> it(db->NewIterator(leveldb::ReadOptions()));
  leveldb::WriteBatch batch;
  size_t n = 0;
  const std::string local = keys::Local("");
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().starts_with(local) || it->key() == keys::GenesisHash() ||
        it->key() == keys::SyncManifest()) {
      continue;
    }
    batch.Delete(it->key());
    if (++n % 10'000 == 0) {
      HM_RETURN_IF_ERROR(FromLevelDb(db->Write(wo, &batch), "wiping the ledger"));
      batch.Clear();
    }
  }
  HM_RETURN_IF_ERROR(FromLevelDb(it->status(), "wiping the ledger"));
  // The sync marker goes last: until then, a crash leaves an install to restart.
  batch.Delete(keys::SyncManifest());
  HM_RETURN_IF_ERROR(FromLevelDb(db->Write(wo, &batch), "wiping the ledger"));
  return SnapshotAccess::Reload(*ledger);
}

Result<std::optional<pb::SnapshotManifest>> SnapshotInstaller::Pending(const Ledger& ledger) {
  auto bytes = Get(SnapshotAccess::db(ledger), leveldb::ReadOptions(), keys::SyncManifest(),
                   "state sync marker");
  if (!bytes.ok()) return bytes.status();
  if (!bytes->has_value()) return std::optional<pb::SnapshotManifest>();
  pb::SnapshotManifest m;
  if (!m.ParseFromString(**bytes))
    return Status::Corruption("the state sync marker does not parse");
  return std::optional<pb::SnapshotManifest>(std::move(m));
}

SnapshotInstaller::SnapshotInstaller(Ledger* ledger, VerifiedManifest verified,
                                     pb::SnapshotManifest manifest)
    : ledger_(ledger),
      verified_(std::move(verified)),
      manifest_(std::move(manifest)),
      chunk_count_(manifest_.chunk_count()) {}

Result<std::unique_ptr<SnapshotInstaller>> SnapshotInstaller::Begin(
    Ledger* ledger, const pb::SnapshotManifest& manifest) {
  auto verified = VerifySnapshotManifest(ledger->network(), manifest);
  if (!verified.ok()) return verified.status();
  leveldb::DB* db = SnapshotAccess::db(*ledger);
  const std::string bytes = core::SerializeDeterministic(manifest);
  std::unique_ptr<SnapshotInstaller> out(
      new SnapshotInstaller(ledger, std::move(verified).value(), manifest));
  if (ledger->sync_pending()) {
    auto pending = Get(db, leveldb::ReadOptions(), keys::SyncManifest(), "state sync marker");
    if (!pending.ok()) return pending.status();
    if (pending->has_value() && **pending == bytes) {
      // Resume: the chunks already written stay.
      std::unique_ptr<leveldb::Iterator> it(db->NewIterator(leveldb::ReadOptions()));
      const std::string prefix = keys::SyncChunkPrefix();
      for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
        if (it->key().size() != prefix.size() + 4) {
          return Status::Corruption("a state sync chunk marker is malformed");
        }
        out->received_.insert(core::GetBigEndian32(
            reinterpret_cast<const uint8_t*>(it->key().data() + prefix.size())));
      }
      HM_RETURN_IF_ERROR(FromLevelDb(it->status(), "reading the state sync markers"));
      return out;
    }
    // Another snapshot's install: start again from an empty store.
    HM_RETURN_IF_ERROR(WipeLedger(ledger));
  }
  if (ledger->height() != 0) {
    return Status::InvalidInput(
        "a snapshot installs only into an empty ledger; this one is at "
        "height " +
        std::to_string(ledger->height()));
  }
  {
    std::unique_ptr<leveldb::Iterator> it(db->NewIterator(leveldb::ReadOptions()));
    it->Seek(keys::ItemPrefix());
    if (it->Valid() && it->key().starts_with(keys::ItemPrefix())) {
      return Status::InvalidInput(
          "a snapshot installs only into an empty ledger; this one holds "
          "items");
    }
  }
  leveldb::WriteOptions wo;
  wo.sync = true;
  HM_RETURN_IF_ERROR(
      FromLevelDb(db->Put(wo, keys::SyncManifest(), bytes), "writing the state sync marker"));
  HM_RETURN_IF_ERROR(SnapshotAccess::Reload(*ledger));  // Now sync_pending().
  return out;
}

std::vector<uint32_t> SnapshotInstaller::MissingChunks() const {
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < chunk_count_; ++i) {
    if (!received_.contains(i)) out.push_back(i);
  }
  return out;
}

Status SnapshotInstaller::AddChunk(uint32_t index, std::string_view bytes) {
  const std::string where = "snapshot chunk " + std::to_string(index);
  if (index >= chunk_count_) {
    return Status::InvalidInput(where + " does not exist: the snapshot has " +
                                std::to_string(chunk_count_) + " chunks");
  }
  if (received_.contains(index)) return Status::InvalidInput(where + " is already installed");
  if (bytes.size() > kSnapshotChunkMaxBytes) {
    return Status::InvalidInput(where + " has " + std::to_string(bytes.size()) +
                                " bytes; the limit is " + std::to_string(kSnapshotChunkMaxBytes));
  }
  if (core::Sha256Of(bytes).view() != manifest_.chunk_hashes(static_cast<int>(index))) {
    return Status::InvalidInput(where + " does not match its hash in the manifest");
  }
  // The hash only says the chunk is the one the manifest names; the manifest's chunk list is
  // the peer's word too. Everything below is checked before anything is written.
  HM_RETURN_IF_ERROR(core::CheckMessageCount(bytes, *pb::SnapshotChunk::descriptor(),
                                             kSnapshotMaxMessages, where));
  pb::SnapshotChunk chunk;
  HM_RETURN_IF_ERROR(core::ParseStrict(bytes, &chunk, where));
  if (chunk.format_version() != kSnapshotFormatVersion || chunk.height() != verified_.height ||
      chunk.index() != index) {
    return Status::InvalidInput(where + " names another snapshot, chunk or format");
  }
  if (chunk.has_meta() != (index == 0)) {
    return Status::InvalidInput(where + (index == 0 ? " lacks" : " carries") +
                                " the chain-wide part, which chunk 0 alone carries");
  }
  const uint64_t height = verified_.height;
  const core::Network& network = ledger_->network();
  leveldb::DB* db = SnapshotAccess::db(*ledger_);
  leveldb::ReadOptions ro;
  leveldb::WriteBatch batch;
  std::unordered_set<Hash256> records_seen;
  auto fresh_record = [&](const Hash256& id) -> Status {
    if (!records_seen.insert(id).second) {
      return Status::InvalidInput(where + " holds record " + id.Hex() + " twice");
    }
    auto have = Get(db, ro, keys::Record(id), "record");
    if (!have.ok()) return have.status();
    if (have->has_value()) {
      return Status::InvalidInput(where + " holds record " + id.Hex() +
                                  ", which another chunk already brought");
    }
    return Status::Ok();
  };

  if (chunk.has_meta()) {
    const pb::SnapshotMeta& meta = chunk.meta();
    uint64_t last = 0;
    for (const pb::SnapshotNetworkState& ns : meta.network_states()) {
      if (ns.height() <= last || ns.height() > height) {
        return Status::InvalidInput(where + ": network states out of order or above the height");
      }
      last = ns.height();
      pb::NetworkStateProto proto;
      HM_RETURN_IF_ERROR(core::ParseStrict(ns.state(), &proto, where + " network state"));
      auto state = core::NetworkState::FromProto(proto, network.governance());
      if (!state.ok()) {
        return Status::InvalidInput(where + ": network state at height " +
                                    std::to_string(ns.height()) + ": " + state.status().message());
      }
      if (state->Serialize() != ns.state()) {
        return Status::InvalidInput(where + ": a network state is not in its deterministic form");
      }
      batch.Put(keys::NetworkStateAt(ns.height()), ns.state());
      if (!ns.proof().empty()) {
        if (!core::DecodeSmtProof(ns.proof()).ok()) {
          return Status::InvalidInput(where + ": a network-state proof is malformed");
        }
        batch.Put(keys::NetworkStateProofAt(ns.height()), ns.proof());
      }
    }
    // The last network state must be the certified one (its governed part; the state tree's
    // leaf, rebuilt at Finish, confirms it again).
    if (meta.network_states_size() > 0) {
      pb::NetworkStateProto proto;
      (void)proto.ParseFromString(meta.network_states().rbegin()->state());
      auto state = core::NetworkState::FromProto(proto, network.governance());
      if (!state.ok() || state->GovernedBytes() != verified_.governed->GovernedBytes()) {
        return Status::InvalidInput(where + ": the last network state is not the certified one");
      }
    } else if (verified_.governed->GovernedBytes() !=
               core::NetworkState::FromGenesis(network).GovernedBytes()) {
      return Status::InvalidInput(where + " lacks the network state the header certifies");
    }
    std::pair<uint64_t, uint32_t> at{0, 0};
    for (const pb::StoredRecord& sr : meta.governance()) {
      std::pair<uint64_t, uint32_t> here{sr.height(), sr.position()};
      if (sr.height() == 0 || sr.height() > height || (at.first != 0 && here <= at)) {
        return Status::InvalidInput(where + ": governance records out of order");
      }
      at = here;
      if (!core::IsGovernanceEnvelope(sr.envelope())) {
        return Status::InvalidInput(where + ": a governance record is not one");
      }
      const Hash256 id = core::RecordIdOf(sr.envelope());
      HM_RETURN_IF_ERROR(fresh_record(id));
      batch.Put(keys::GovernanceAt(sr.height(), sr.position()), std::string(id.view()));
      batch.Put(keys::Record(id), core::SerializeDeterministic(sr));
    }
    last = 0;
    for (const pb::SnapshotBlock& sb : meta.governance_blocks()) {
      pb::BlockHeader header;
      HM_RETURN_IF_ERROR(core::ParseStrict(sb.block().header(), &header, where + " block header"));
      if (header.height() <= last || header.height() > height ||
          header.chain_id() != network.chain_id()) {
        return Status::InvalidInput(where + ": governance blocks out of order or not this chain's");
      }
      last = header.height();
      std::vector<Hash256> leaves;
      for (const std::string& id : sb.block().record_ids()) {
        if (id.size() != 32) return Status::InvalidInput(where + ": a record id is not 32 bytes");
        leaves.push_back(core::MerkleLeafHash(core::AsSpan(id)));
      }
      if (leaves.size() != header.record_count() ||
          core::MerkleRoot(leaves).view() != header.records_root()) {
        return Status::InvalidInput(where + ": block " + std::to_string(header.height()) +
                                    "'s record ids do not match its header");
      }
      auto cert = core::DecodeCertificate(sb.certificate());
      if (!cert.ok()) return Status::InvalidInput(where + ": " + cert.status().message());
      auto set = core::ToValidatorSet(verified_.governed->ValidatorSetAt(header.height()));
      if (!set.ok()) return Status::InvalidInput(set.status().message());
      const Hash256 hash = core::Sha256Of(std::string_view(sb.block().header()));
      if (Status st =
              core::VerifyCommitCertificate(*set, network.chain_id(), *cert, header.height(), hash);
          !st.ok()) {
        return Status::InvalidInput(where + ": block " + std::to_string(header.height()) + ": " +
                                    st.message());
      }
      batch.Put(keys::Block(header.height()), core::SerializeDeterministic(sb.block()));
      batch.Put(keys::BlockHash(hash), U64(header.height()));
      batch.Put(keys::Certificate(header.height()), sb.certificate());
    }
    at = {0, 0};
    bool first = true;
    for (const pb::StoredEvidence& se : meta.evidence()) {
      std::pair<uint64_t, uint32_t> here{se.height(), se.position()};
      if (se.height() == 0 || se.height() > height || (!first && here <= at)) {
        return Status::InvalidInput(where + ": evidence out of order");
      }
      first = false;
      at = here;
      auto ev = core::FromProto(se.evidence());
      if (!ev.ok()) return Status::InvalidInput(where + ": " + ev.status().message());
      if (Status st = core::VerifyEvidence(network, *ev); !st.ok()) {
        return Status::InvalidInput(where + ": evidence at height " + std::to_string(se.height()) +
                                    ": " + st.message());
      }
      const std::string key = keys::CommittedEvidenceAt(se.height(), se.position());
      batch.Put(key, core::SerializeDeterministic(se));
      const core::Offence o = core::OffenceOf(*ev);
      batch.Put(keys::Offence(Hash256::FromSpan(o.validator.span()), o.height, o.round,
                              static_cast<uint8_t>(o.kind)),
                key.substr(1));
    }
  }

  std::optional<Hash256> previous_key;
  for (const pb::SnapshotItem& item : chunk.items()) {
    pb::ItemState state;
    HM_RETURN_IF_ERROR(core::ParseStrict(item.state(), &state, where + " item state"));
    auto id = core::ParseItemId(state.item_id());
    if (!id.ok() || id->Canonical() != state.item_id()) {
      return Status::InvalidInput(where + ": item id '" + state.item_id() + "' is not canonical");
    }
    const Hash256 key = id->Key();
    const std::string what = where + ": item " + state.item_id();
    if (previous_key && !(*previous_key < key)) {
      return Status::InvalidInput(where + ": items are not in increasing key order");
    }
    previous_key = key;
    auto have = Get(db, ro, keys::Item(key), "item state");
    if (!have.ok()) return have.status();
    if (have->has_value()) return Status::InvalidInput(what + " was already installed");
    if (state.brand().size() > 255) return Status::InvalidInput(what + " has an overlong brand");
    if (state.record_count() != static_cast<uint64_t>(item.history_size()) ||
        item.history_size() == 0 || state.record_count() > core::limits::kMaxItemRecords) {
      return Status::InvalidInput(what + " has " + std::to_string(item.history_size()) +
                                  " records, its state counts " +
                                  std::to_string(state.record_count()));
    }
    if (state.updated_height() > height || state.registered_height() > state.updated_height() ||
        item.updated_time_ms() > verified_.header.time_ms()) {
      return Status::InvalidInput(what + " is dated after the snapshot");
    }
    // The history is authenticated by its hash chain, which ends in the certified state's
    // latest record: the same check a proof bundle's verifier makes (docs/proofs.md).
    std::string prev;
    uint64_t last_height = state.registered_height();
    uint64_t history_bytes = 0;
    for (int i = 0; i < item.history_size(); ++i) {
      const pb::StoredRecord& sr = item.history(i);
      pb::RecordPayload payload;
      HM_RETURN_IF_ERROR(
          core::ParseStrict(sr.envelope().payload(), &payload, what + " record payload"));
      if (payload.item_id() != state.item_id() || payload.prev() != prev) {
        return Status::InvalidInput(what + ": record " + std::to_string(i) +
                                    " does not continue its history");
      }
      if (sr.height() < last_height || sr.height() > state.updated_height() ||
          (i == 0 && sr.height() != state.registered_height())) {
        return Status::InvalidInput(what + ": record " + std::to_string(i) +
                                    " has a height out of order");
      }
      last_height = sr.height();
      const Hash256 rid = core::RecordIdOf(sr.envelope());
      HM_RETURN_IF_ERROR(fresh_record(rid));
      prev = std::string(rid.view());
      history_bytes += sr.envelope().ByteSizeLong();
      batch.Put(keys::History(key, static_cast<uint32_t>(i)), prev);
      batch.Put(keys::Record(rid), core::SerializeDeterministic(sr));
    }
    if (prev != state.last_record() || last_height != state.updated_height() ||
        history_bytes != state.history_bytes()) {
      return Status::InvalidInput(what + ": the history does not end in the state's latest record");
    }
    batch.Put(keys::Item(key), item.state());
    batch.Put(keys::ItemTime(key), U64(item.updated_time_ms()));
    const std::string height_value = U64(state.updated_height());
    for (const std::string& k : ListIndexKeys(key, state, item.updated_time_ms())) {
      batch.Put(k, height_value);
    }
  }
  batch.Put(keys::SyncChunk(index), U64(static_cast<uint64_t>(chunk.items_size())));
  leveldb::WriteOptions wo;
  wo.sync = true;
  HM_RETURN_IF_ERROR(FromLevelDb(db->Write(wo, &batch), "writing " + where));
  received_.insert(index);
  return Status::Ok();
}

Status SnapshotInstaller::Finish(const SnapshotStopCheck& stopping) {
  if (!complete()) {
    return Status::InvalidInput("the snapshot install lacks " +
                                std::to_string(MissingChunks().size()) + " chunk(s)");
  }
  leveldb::DB* db = SnapshotAccess::db(*ledger_);
  core::SparseMerkleTree* tree = SnapshotAccess::tree(*ledger_);
  // Synced like every write of the install: LevelDB syncs only the current log file, so an
  // unsynced batch in a log file it has since rotated away from could be lost to a power cut
  // even after the final synced batch. (A crash before that batch redoes the tree.)
  leveldb::WriteOptions wo;
  wo.sync = true;
  // The state tree from the installed leaves, in batches. Applying a pair twice (a resumed
  // Finish) changes nothing: the root depends only on the set of pairs.
  constexpr size_t kBatch = 50'000;
  std::vector<std::pair<Hash256, Hash256>> pairs;
  pairs.reserve(kBatch);
  uint64_t items = 0;
  auto flush = [&]() -> Status {
    if (stopping && stopping()) {
      return Status::Cancelled("the snapshot install was stopped while it rebuilt the state tree");
    }
    if (pairs.empty()) return Status::Ok();
    auto update = tree->PrepareUpdate(pairs);
    if (!update.ok()) return update.status();
    leveldb::WriteBatch batch;
    PutSmtUpdate(*update, keys::kStateTreePrefix, &batch);
    HM_RETURN_IF_ERROR(FromLevelDb(db->Write(wo, &batch), "writing the state tree"));
    tree->Commit(*update);
    pairs.clear();
    return Status::Ok();
  };
  {
    std::unique_ptr<leveldb::Iterator> it(db->NewIterator(leveldb::ReadOptions()));
    const std::string s = keys::ItemPrefix();
    for (it->Seek(s); it->Valid() && it->key().starts_with(s); it->Next()) {
      auto key = Hash256::FromBytes(std::string_view(it->key().data() + 1, it->key().size() - 1));
      if (!key) return Status::Corruption("an item state key is malformed");
      pairs.emplace_back(*key,
                         core::Sha256Of(std::string_view(it->value().data(), it->value().size())));
      ++items;
      if (pairs.size() == kBatch) HM_RETURN_IF_ERROR(flush());
    }
    HM_RETURN_IF_ERROR(FromLevelDb(it->status(), "reading item states"));
  }
  if (verified_.governed->GovernedBytes() !=
      core::NetworkState::FromGenesis(ledger_->network()).GovernedBytes()) {
    pairs.emplace_back(core::NetworkStateLeafKey(), verified_.governed->GovernedHash());
  }
  HM_RETURN_IF_ERROR(flush());
  if (items != manifest_.item_count()) {
    return Status::InvalidInput("the snapshot holds " + std::to_string(items) +
                                " items; its manifest says " +
                                std::to_string(manifest_.item_count()));
  }
  if (tree->root() != verified_.state_root) {
    return Status::InvalidInput("the state root rebuilt from the snapshot, " + tree->root().Hex() +
                                ", is not the certified header's " + verified_.state_root.Hex() +
                                ": the snapshot is not the chain's state");
  }

  // The head at the snapshot's height, in one synced batch with the markers' removal.
  leveldb::WriteBatch batch;
  const uint64_t height = verified_.height;
  auto stored = Get(db, leveldb::ReadOptions(), keys::Block(height), "head block");
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) {
    // The header alone: the block's records before the snapshot are not part of it.
    pb::StoredBlock sb;
    sb.set_header(manifest_.header());
    batch.Put(keys::Block(height), core::SerializeDeterministic(sb));
    batch.Put(keys::BlockHash(verified_.block_hash), U64(height));
    auto cert = core::FromProto(manifest_.certificate());
    if (!cert.ok()) return Status::InvalidInput(cert.status().message());
    batch.Put(keys::Certificate(height), core::EncodeCertificate(*cert));
  }
  uint64_t evidence = 0;
  {
    std::unique_ptr<leveldb::Iterator> it(db->NewIterator(leveldb::ReadOptions()));
    const std::string v = keys::CommittedEvidencePrefix();
    for (it->Seek(v); it->Valid() && it->key().starts_with(v); it->Next()) ++evidence;
    const std::string m = keys::SyncChunkPrefix();
    for (it->Seek(m); it->Valid() && it->key().starts_with(m); it->Next()) batch.Delete(it->key());
    HM_RETURN_IF_ERROR(FromLevelDb(it->status(), "reading the install"));
  }
  pb::ChainHead head;
  head.set_height(height);
  head.set_block_hash(std::string(verified_.block_hash.view()));
  head.set_state_root(std::string(verified_.state_root.view()));
  head.set_time_ms(verified_.header.time_ms());
  head.set_genesis_hash(std::string(ledger_->network().hash().view()));
  head.set_evidence_count(evidence);
  batch.Put(keys::Head(), core::SerializeDeterministic(head));
  batch.Put(keys::FirstHeight(), U64(height + 1));
  batch.Put(keys::ListIndexVersion(), std::string(keys::kListIndexVersion));
  batch.Put(keys::NetworkStateProofsVersion(), std::string(keys::kNetworkStateProofsVersion));
  batch.Delete(keys::SyncManifest());
  leveldb::WriteOptions synced;
  synced.sync = true;
  HM_RETURN_IF_ERROR(FromLevelDb(db->Write(synced, &batch), "finishing the snapshot install"));
  return SnapshotAccess::Reload(*ledger_);
}

Status SnapshotInstaller::Abort() {
  received_.clear();
  return WipeLedger(ledger_);
}

}  // namespace hallmark::storage
