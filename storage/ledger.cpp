#include "storage/ledger.h"

#include <chrono>

#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/env.h>
#include <leveldb/filter_policy.h>
#include <leveldb/write_batch.h>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <algorithm>
#include <limits>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_set>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/codec.h"
#include "core/consensus_codec.h"
#include "core/crypto/sha256.h"
#include "core/limits.h"
#include "core/merkle.h"
#include "storage/keys.h"
#include "storage/list_index.h"
#include "storage/smt_store.h"

namespace hallmark::storage {

using core::Hash256;
using core::Result;
using core::Status;

namespace {

constexpr uint64_t kBlockOverheadBytes = 512;

Status FromLevelDb(const leveldb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  if (s.IsCorruption()) return Status::Corruption(std::string(what) + ": " + s.ToString());
  return Status::IoError(std::string(what) + ": " + s.ToString());
}

// Reads one key; nullopt when absent.
Result<std::optional<std::string>> Get(leveldb::DB* db, const std::string& key,
                                       std::string_view what) {
  std::string value;
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  leveldb::Status s = db->Get(ro, key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  HM_RETURN_IF_ERROR(FromLevelDb(s, what));
  return std::optional<std::string>(std::move(value));
}

// Stored bytes that fail to parse are corruption: our own data, never served.
template <typename Message>
Status ParseStored(const std::string& bytes, Message* out, std::string_view what) {
  if (!out->ParseFromString(bytes))
    return Status::Corruption(std::string(what) + " does not parse");
  return Status::Ok();
}

std::string HeightValue(uint64_t height) {
  std::string v;
  core::PutBigEndian64(&v, height);
  return v;
}

// The block's records executed on top of the ledger's state; items read from disk on first
// use and kept with their changes.
class Overlay final : public core::StateView {
 public:
  explicit Overlay(const Ledger* ledger) : ledger_(ledger) {}

  Result<const pb::ItemState*> Find(const Hash256& key) override {
    auto it = states_.find(key);
    if (it != states_.end()) return it->second ? &*it->second : nullptr;
    auto stored = ledger_->GetItem(key);
    if (!stored.ok()) return stored.status();
    auto& slot = states_[key];
    if (stored->has_value()) slot = std::move((*stored)->state);
    return slot ? &*slot : nullptr;
  }

  void Put(const Hash256& key, pb::ItemState state) override {
    auto& slot = states_[key];
    if (dirty_set_.insert(key).second) {
      dirty_.push_back(key);
      // The state before the block (the rules read an item before they change it).
      if (slot) originals_.emplace(key, *slot);
    }
    slot = std::move(state);
  }

  const std::vector<Hash256>& dirty() const { return dirty_; }
  // The item's state before the block; null when the block registered it.
  const pb::ItemState* original(const Hash256& key) const {
    auto it = originals_.find(key);
    return it == originals_.end() ? nullptr : &it->second;
  }
  const pb::ItemState& state(const Hash256& key) const { return *states_.at(key); }

 private:
  const Ledger* ledger_;
  std::unordered_map<Hash256, std::optional<pb::ItemState>> states_;
  std::unordered_set<Hash256> dirty_set_;
  std::vector<Hash256> dirty_;
  std::unordered_map<Hash256, pb::ItemState> originals_;
};

}  // namespace

SignatureCheck VerifyEverySignature() {
  return [](const pb::Envelope& env, const Hash256&) { return core::CheckRecordSignature(env); };
}

Ledger::Ledger(const core::Network& network, LedgerOptions options)
    : network_(network), options_(options) {}

Ledger::~Ledger() {
  tree_.reset();
  tree_reader_.reset();
  db_.reset();
}

namespace {

// LevelDB's environment with its background work (memtable flushes and compactions, on the one
// thread Env::Default keeps for them) run at a lower CPU priority. A flush of a 32 MiB memtable
// takes ~0.4 s of CPU; at normal priority it competes with consensus and stalls the heights
// around it (docs/bench.md, "Commit latency at half load"). Linux gives each thread its own nice
// value, so only that thread is lowered. Never destroyed, like Env::Default(): a DB may outlive any
// owner.
class LowPriorityEnv final : public leveldb::EnvWrapper {
 public:
  explicit LowPriorityEnv(int nice) : leveldb::EnvWrapper(leveldb::Env::Default()), nice_(nice) {}

  void Schedule(void (*function)(void*), void* arg) override {
    target()->Schedule(&LowPriorityEnv::Run, new Job{nice_, function, arg});
  }

 private:
  struct Job {
    int nice;
    void (*function)(void*);
    void* arg;
  };

  static void Run(void* p) {
    std::unique_ptr<Job> job(static_cast<Job*>(p));
    // Relative to the value the thread started with (the process's: `nice hallmarkd` stays
    // honoured), and set again only when another DB asked for a different one. Best effort: a
    // failure leaves the thread where it was.
    const auto tid = static_cast<id_t>(syscall(SYS_gettid));
    thread_local std::optional<int> base;
    thread_local int current = 0;
    if (!base) base = getpriority(PRIO_PROCESS, tid);
    if (current != job->nice) {
      setpriority(PRIO_PROCESS, tid, std::min(19, *base + job->nice));
      current = job->nice;
    }
    job->function(job->arg);
  }

  const int nice_;
};

// Every DB of the process goes through one of these, nice 0 included: the background thread is
// shared, so each job sets the value its DB asked for.
leveldb::Env* EnvWithBackgroundNice(int nice) {
  static std::mutex mu;
  static std::map<int, LowPriorityEnv*>* envs = new std::map<int, LowPriorityEnv*>();
  std::lock_guard lock(mu);
  auto [it, added] = envs->try_emplace(nice, nullptr);
  if (added) it->second = new LowPriorityEnv(nice);
  return it->second;
}

}  // namespace

Result<std::unique_ptr<Ledger>> Ledger::Open(const std::filesystem::path& dir,
                                             const core::Network& network, LedgerOptions options) {
  std::unique_ptr<Ledger> ledger(new Ledger(network, options));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IoError("cannot create data folder " + dir.string() + ": " + ec.message());

  leveldb::Options lo;
  lo.create_if_missing = true;
  lo.paranoid_checks = true;
  ledger->block_cache_.reset(leveldb::NewLRUCache(options.block_cache_bytes));
  ledger->filter_policy_.reset(leveldb::NewBloomFilterPolicy(10));
  lo.block_cache = ledger->block_cache_.get();
  lo.filter_policy = ledger->filter_policy_.get();
  lo.write_buffer_size = options.write_buffer_bytes;
  lo.env = EnvWithBackgroundNice(std::clamp(options.background_nice, 0, 19));
  lo.max_file_size = options.max_file_bytes;
  leveldb::DB* raw = nullptr;
  leveldb::Status s = leveldb::DB::Open(lo, dir.string(), &raw);
  if (!s.ok()) {
    return FromLevelDb(s, "opening ledger at " + dir.string());
  }
  ledger->db_.reset(raw);
  ledger->dir_ = dir;
  HM_RETURN_IF_ERROR(ledger->Load().WithContext("ledger at " + dir.string()));
  return ledger;
}

Status Ledger::Load() {
  {
    std::lock_guard lock(block_times_mu_);
    block_times_.assign(kBlockTimeSlots, BlockTime{});
    ++block_times_generation_;
  }
  tree_reader_ = std::make_unique<LevelDbSmtReader>(db_.get(), keys::kStateTreePrefix);
  tree_ =
      std::make_unique<core::SparseMerkleTree>(tree_reader_.get(), options_.state_tree_cache_nodes);
  HM_RETURN_IF_ERROR(tree_->status().WithContext("state tree"));

  sync_pending_ = false;
  first_height_.store(1, std::memory_order_release);
  auto sync = Get(db_.get(), keys::SyncManifest(), "state sync marker");
  if (!sync.ok()) return sync.status();
  if (sync->has_value()) {
    // An install from a snapshot is in progress or was interrupted: nothing of the head can be
    // trusted until the installer finishes or aborts it (storage/snapshot.h).
    sync_pending_ = true;
    head_.Clear();
    head_.set_height(0);
    head_.set_block_hash(std::string(32, '\0'));
    head_.set_state_root(std::string(core::SmtEmptyHash().view()));
    head_.set_time_ms(network_.genesis().genesis_time_ms());
    head_.set_genesis_hash(std::string(network_.hash().view()));
    head_header_.clear();
    head_certificate_.clear();
    std::lock_guard lock(head_mu_);
    SetStateLocked(
        std::make_shared<const core::NetworkState>(core::NetworkState::FromGenesis(network_)));
    return Status::Ok();
  }
  auto base = Get(db_.get(), keys::FirstHeight(), "first height");
  if (!base.ok()) return base.status();
  if (base->has_value()) {
    if ((*base)->size() != 8) return Status::Corruption("the first height is not 8 bytes");
    first_height_.store(core::GetBigEndian64(reinterpret_cast<const uint8_t*>((*base)->data())),
                        std::memory_order_release);
  }
  auto head_bytes = Get(db_.get(), keys::Head(), "chain head");
  if (!head_bytes.ok()) return head_bytes.status();
  if (!head_bytes->has_value()) {
    // A new store: the genesis state, height 0, an empty tree.
    auto any = Get(db_.get(), keys::GenesisHash(), "genesis hash");
    if (!any.ok()) return any.status();
    head_.Clear();
    head_.set_height(0);
    head_.set_block_hash(std::string(32, '\0'));
    head_.set_state_root(std::string(tree_->root().view()));
    head_.set_time_ms(network_.genesis().genesis_time_ms());
    head_.set_genesis_hash(std::string(network_.hash().view()));
    {
      std::lock_guard lock(head_mu_);
      SetStateLocked(
          std::make_shared<const core::NetworkState>(core::NetworkState::FromGenesis(network_)));
    }
    leveldb::WriteBatch batch;
    batch.Put(keys::GenesisHash(), std::string(network_.hash().view()));
    batch.Put(keys::Head(), core::SerializeDeterministic(head_));
    batch.Put(keys::ListIndexVersion(), std::string(keys::kListIndexVersion));
    batch.Put(keys::NetworkStateProofsVersion(), std::string(keys::kNetworkStateProofsVersion));
    leveldb::WriteOptions wo;
    wo.sync = true;
    return FromLevelDb(db_->Write(wo, &batch), "initialising the ledger");
  }
  HM_RETURN_IF_ERROR(ParseStored(**head_bytes, &head_, "chain head"));
  if (head_.genesis_hash() != network_.hash().view()) {
    return Status::InvalidInput("this data folder belongs to another network (genesis " +
                                core::ToHex(head_.genesis_hash()).substr(0, 16) + "…, expected " +
                                network_.hash().Hex().substr(0, 16) +
                                "…); point --home at the right folder");
  }
  // The head, its block and the state tree were written in one batch; check they agree.
  Hash256 tree_root = tree_->root();
  if (tree_root.view() != head_.state_root()) {
    return Status::Corruption("state tree root " + tree_root.Hex() +
                              " does not match the head's state root " +
                              core::ToHex(head_.state_root()));
  }
  if (head_.height() > 0) {
    auto stored = Get(db_.get(), keys::Block(head_.height()), "head block");
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) {
      return Status::Corruption("head block " + std::to_string(head_.height()) + " is missing");
    }
    pb::StoredBlock sb;
    HM_RETURN_IF_ERROR(ParseStored(**stored, &sb, "head block"));
    if (core::Sha256Of(std::string_view(sb.header())).view() != head_.block_hash()) {
      return Status::Corruption("head block " + std::to_string(head_.height()) +
                                " does not match the head's hash");
    }
    pb::BlockHeader header;
    HM_RETURN_IF_ERROR(ParseStored(sb.header(), &header, "head block header"));
    if (header.state_root() != head_.state_root()) {
      return Status::Corruption("head block's state root does not match the state tree");
    }
    head_header_ = sb.header();
    head_certificate_.clear();
    auto cert = GetCertificate(head_.height());
    if (!cert.ok()) return cert.status();
    if (cert->has_value()) head_certificate_ = std::move(**cert);
  }
  // The network state: the last one stored, which the state tree's leaf must match (no leaf
  // while governance never acted).
  auto stored_state = StoredNetworkStateAfter(head_.height());
  if (!stored_state.ok()) return stored_state.status();
  auto leaf = tree_->GetValueHash(core::NetworkStateLeafKey());
  if (!leaf.ok()) return leaf.status();
  if (leaf->has_value() != stored_state->has_value() ||
      (leaf->has_value() && **leaf != (*stored_state)->GovernedHash())) {
    return Status::Corruption("the stored network state does not match the state tree's leaf");
  }
  {
    std::lock_guard lock(head_mu_);
    SetStateLocked(std::make_shared<const core::NetworkState>(
        stored_state->has_value() ? std::move(**stored_state)
                                  : core::NetworkState::FromGenesis(network_)));
  }
  auto version = Get(db_.get(), keys::ListIndexVersion(), "listing index version");
  if (!version.ok()) return version.status();
  if (!version->has_value() || **version != keys::kListIndexVersion) {
    HM_RETURN_IF_ERROR(RebuildListIndex().WithContext("building the item listing index"));
  }
  auto proofs = Get(db_.get(), keys::NetworkStateProofsVersion(), "network-state proofs version");
  if (!proofs.ok()) return proofs.status();
  if (!proofs->has_value() || **proofs != keys::kNetworkStateProofsVersion) {
    HM_RETURN_IF_ERROR(RebuildNetworkStateProofs().WithContext(
        "rebuilding the network-state proofs of validator changes"));
  }
  return Status::Ok();
}

Status Ledger::RebuildNetworkStateProofs() {
  // The heights whose stored state added a validator epoch and has no proof yet.
  std::vector<uint64_t> missing;
  {
    size_t epochs = core::NetworkState::FromGenesis(network_).validator_epochs().size();
    std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
    const std::string prefix = keys::NetworkStatePrefix();
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (it->key().size() != 9) return Status::Corruption("a network state key is malformed");
      const uint64_t height =
          core::GetBigEndian64(reinterpret_cast<const uint8_t*>(it->key().data() + 1));
      pb::NetworkStateProto proto;
      if (!proto.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return Status::Corruption("network state at height " + std::to_string(height) +
                                  " does not parse");
      }
      const size_t now = static_cast<size_t>(proto.validator_epochs_size());
      if (now > epochs) {
        auto have = GetNetworkStateProof(height);
        if (!have.ok()) return have.status();
        if (!have->has_value()) missing.push_back(height);
      }
      epochs = now;
    }
    HM_RETURN_IF_ERROR(FromLevelDb(it->status(), "reading the network states"));
  }
  leveldb::WriteBatch batch;
  if (!missing.empty()) {
    // Replay the chain into a scratch store: the same blocks give the same trees, and each
    // prepared validator-change block its proof (checked against the stored header's root).
    std::filesystem::path scratch = dir_;
    scratch += ".network-state-proofs";
    std::error_code ec;
    std::filesystem::remove_all(scratch, ec);
    struct RemoveScratch {
      const std::filesystem::path& path;
      ~RemoveScratch() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
      }
    } remove_scratch{scratch};
    {
      LedgerOptions o;
      o.sync = false;
      auto replay = Ledger::Open(scratch, network_, o);
      if (!replay.ok()) return replay.status();
      // Signatures were checked when the blocks were committed here.
      const SignatureCheck trusted = [](const pb::Envelope&, const Hash256&) {
        return std::optional<core::Rejection>();
      };
      for (uint64_t h = 1; h <= missing.back(); ++h) {
        auto block = GetBlock(h);
        if (!block.ok()) return block.status();
        if (!block->has_value()) {
          return Status::Corruption("block " + std::to_string(h) + " is missing");
        }
        auto prepared = (*replay)->ValidateBlock(**block, trusted);
        if (!prepared.ok()) {
          return Status::Corruption("replaying block " + std::to_string(h) + ": " +
                                    prepared.status().message());
        }
        if (!prepared->network_state_proof.empty()) {
          batch.Put(keys::NetworkStateProofAt(h), prepared->network_state_proof);
        }
        HM_RETURN_IF_ERROR((*replay)->Commit(*prepared, ""));
      }
    }
  }
  batch.Put(keys::NetworkStateProofsVersion(), std::string(keys::kNetworkStateProofsVersion));
  leveldb::WriteOptions wo;
  wo.sync = true;
  return FromLevelDb(db_->Write(wo, &batch), "writing the network-state proofs");
}

Result<std::optional<std::string>> Ledger::GetNetworkStateProof(uint64_t height) const {
  return Get(db_.get(), keys::NetworkStateProofAt(height), "network-state proof");
}

Status Ledger::RebuildListIndex() {
  leveldb::WriteOptions wo;
  wo.sync = options_.sync;
  // Whatever an earlier version or an interrupted rebuild left goes first.
  for (const std::string& prefix : {keys::ListScopePrefix(), keys::ItemTimePrefix()}) {
    std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
    leveldb::WriteBatch batch;
    size_t n = 0;
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      batch.Delete(it->key());
      if (++n % 10'000 == 0) {
        HM_RETURN_IF_ERROR(FromLevelDb(db_->Write(wo, &batch), "clearing the old index"));
        batch.Clear();
      }
    }
    HM_RETURN_IF_ERROR(FromLevelDb(it->status(), "reading the old index"));
    HM_RETURN_IF_ERROR(FromLevelDb(db_->Write(wo, &batch), "clearing the old index"));
  }
  // Every item's entries at the time of the block that last changed it. Block times are read
  // once per height.
  std::unordered_map<uint64_t, uint64_t> times;
  leveldb::WriteBatch batch;
  size_t pending = 0;
  Status failed = Status::Ok();
  HM_RETURN_IF_ERROR(ForEachItem([&](const Hash256& key, std::string_view bytes) {
    if (!failed.ok()) return;
    pb::ItemState state;
    if (!state.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      failed = Status::Corruption("item state " + key.Hex() + " does not parse");
      return;
    }
    if (state.brand().size() > 255) {
      failed = Status::Corruption("item state " + key.Hex() + " has an overlong brand");
      return;
    }
    auto [it, fresh] = times.try_emplace(state.updated_height(), 0);
    if (fresh) {
      auto header = GetHeader(state.updated_height());
      if (!header.ok()) {
        failed = header.status();
        return;
      }
      if (!header->has_value()) {
        failed =
            Status::Corruption("item " + key.Hex() + " was updated at height " +
                               std::to_string(state.updated_height()) + ", which has no block");
        return;
      }
      it->second = (*header)->time_ms();
    }
    const std::string height_value = HeightValue(state.updated_height());
    for (const std::string& k : ListIndexKeys(key, state, it->second)) batch.Put(k, height_value);
    std::string time_value;
    core::PutBigEndian64(&time_value, it->second);
    batch.Put(keys::ItemTime(key), time_value);
    if (++pending == 10'000) {
      failed = FromLevelDb(db_->Write(wo, &batch), "writing the index");
      batch.Clear();
      pending = 0;
    }
  }));
  HM_RETURN_IF_ERROR(failed);
  // The marker last: a crash before it only means another rebuild at the next opening.
  batch.Put(keys::ListIndexVersion(), std::string(keys::kListIndexVersion));
  leveldb::WriteOptions synced;
  synced.sync = true;
  return FromLevelDb(db_->Write(synced, &batch), "writing the index");
}

Result<ItemListPage> Ledger::ListItems(const ItemListQuery& query) const {
  HM_ASSERT(query.limit >= 1);
  ItemListPage page;
  if (query.brand.size() > 255) return page;  // No organisation has such an id.
  // One snapshot: the index, the states and the head agree whatever commits meanwhile.
  struct SnapshotGuard {
    leveldb::DB* db;
    const leveldb::Snapshot* snapshot;
    ~SnapshotGuard() { db->ReleaseSnapshot(snapshot); }
  } guard{db_.get(), db_->GetSnapshot()};
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  ro.snapshot = guard.snapshot;
  {
    std::string head_bytes;
    leveldb::Status s = db_->Get(ro, keys::Head(), &head_bytes);
    HM_RETURN_IF_ERROR(FromLevelDb(s, "reading the chain head"));
    pb::ChainHead head;
    HM_RETURN_IF_ERROR(ParseStored(head_bytes, &head, "chain head"));
    page.height = head.height();
    page.head_time_ms = head.time_ms();
  }
  const std::string scope = keys::ListScope(query.brand, static_cast<int>(query.flag));
  const size_t entry_size = scope.size() + 8 + 32;
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(ro));
  if (query.after) {
    const std::string start = keys::ListEntry(scope, query.after->time_ms, query.after->item_key);
    it->Seek(start);
    if (it->Valid() && it->key() == leveldb::Slice(start)) it->Next();
  } else {
    it->Seek(scope);
  }
  for (; it->Valid() && it->key().starts_with(scope); it->Next()) {
    if (it->key().size() != entry_size || it->value().size() != 8) {
      return Status::Corruption("listing index entry " + core::ToHex(it->key().ToString()) +
                                " is malformed");
    }
    const auto* k = reinterpret_cast<const uint8_t*>(it->key().data()) + scope.size();
    const uint64_t time_ms = UINT64_MAX - core::GetBigEndian64(k);
    if (time_ms < query.since_ms) break;  // Older entries follow.
    const Hash256 item_key = Hash256::FromSpan(std::span<const uint8_t>(k + 8, 32));
    if (page.items.size() == query.limit) {
      page.next = ItemListCursor{page.items.back().updated_time_ms, page.items.back().item_key};
      break;
    }
    std::string bytes;
    leveldb::Status s = db_->Get(ro, keys::Item(item_key), &bytes);
    if (s.IsNotFound()) {
      return Status::Corruption("listing index names item " + item_key.Hex() +
                                ", which has no state");
    }
    HM_RETURN_IF_ERROR(FromLevelDb(s, "reading an item state"));
    ListedItem item{item_key, time_ms, {}};
    HM_RETURN_IF_ERROR(ParseStored(bytes, &item.state, "item state " + item_key.Hex()));
    const uint64_t height =
        core::GetBigEndian64(reinterpret_cast<const uint8_t*>(it->value().data()));
    if (item.state.updated_height() != height) {
      return Status::Corruption("listing index entry of item " + item_key.Hex() + " is of height " +
                                std::to_string(height) + ", its state of height " +
                                std::to_string(item.state.updated_height()));
    }
    page.items.push_back(std::move(item));
  }
  HM_RETURN_IF_ERROR(FromLevelDb(it->status(), "reading the listing index"));
  return page;
}

void Ledger::SetStateLocked(std::shared_ptr<const core::NetworkState> state) {
  membership_ =
      std::make_shared<const core::Network>(state->MembershipAt(network_, head_.height() + 1));
  state_ = std::move(state);
}

Result<core::NetworkState> Ledger::NetworkStateAfter(uint64_t height) const {
  auto stored = StoredNetworkStateAfter(height);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return core::NetworkState::FromGenesis(network_);
  return std::move(**stored);
}

Result<std::optional<core::NetworkState>> Ledger::StoredNetworkStateAfter(uint64_t height) const {
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  // The last `G` entry at or below `height`.
  std::string after = keys::NetworkStateAt(height);
  it->Seek(after);
  if (it->Valid() && it->key() == leveldb::Slice(after)) {
    // Exactly at `height`.
  } else if (it->Valid()) {
    it->Prev();
  } else {
    it->SeekToLast();
  }
  if (!it->Valid() || !it->key().starts_with(keys::NetworkStatePrefix())) {
    HM_RETURN_IF_ERROR(FromLevelDb(it->status(), "reading the network state"));
    return std::optional<core::NetworkState>();
  }
  pb::NetworkStateProto proto;
  if (!proto.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
    return Status::Corruption("network state at " + core::ToHex(it->key().ToString()) +
                              " does not parse");
  }
  auto state = core::NetworkState::FromProto(proto, network_.governance());
  if (!state.ok()) return state.status();
  return std::optional<core::NetworkState>(std::move(state).value());
}

Result<std::vector<pb::StoredRecord>> Ledger::ListGovernance(uint64_t from_height,
                                                             size_t limit) const {
  std::vector<pb::StoredRecord> out;
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  for (it->Seek(keys::GovernanceAt(from_height, 0));
       it->Valid() && it->key().starts_with(keys::GovernancePrefix()) && out.size() < limit;
       it->Next()) {
    if (it->value().size() != 32) return Status::Corruption("governance index entry is not an id");
    Hash256 id = Hash256::FromSpan(core::AsSpan(std::string_view(it->value().data(), 32)));
    auto rec = GetRecord(id);
    if (!rec.ok()) return rec.status();
    if (!rec->has_value()) {
      return Status::Corruption("governance record " + id.Hex() + " is indexed but not stored");
    }
    out.push_back(std::move(**rec));
  }
  HM_RETURN_IF_ERROR(FromLevelDb(it->status(), "listing governance records"));
  return out;
}

Result<PreparedBlock> Ledger::BuildBlock(std::span<const pb::Envelope> candidates, uint64_t time_ms,
                                         const Hash256& proposer, const SignatureCheck& check,
                                         std::span<const pb::Evidence> evidence) {
  return Execute(nullptr, pb::Block(), candidates, time_ms, proposer, check, evidence);
}

Result<PreparedBlock> Ledger::ValidateBlock(const pb::Block& block, const SignatureCheck& check) {
  pb::BlockHeader header;
  Status st = core::ParseStrict(block.header(), &header, "block header");
  if (!st.ok()) return st;
  auto fail = [&](std::string msg) {
    return Status::InvalidInput("block " + std::to_string(header.height()) + ": " + msg);
  };
  if (header.chain_id() != network_.chain_id()) {
    return fail("chain id \"" + header.chain_id().substr(0, 64) + "\" is not this network's");
  }
  if (header.height() != head_.height() + 1) {
    return fail("expected height " + std::to_string(head_.height() + 1));
  }
  if (header.prev_hash() != head_.block_hash()) return fail("prev_hash is not the head's hash");
  if (header.time_ms() <= head_.time_ms()) {
    return fail("time " + std::to_string(header.time_ms()) + " is not after the previous block's " +
                std::to_string(head_.time_ms()));
  }
  if (header.proposer().size() != 32) return fail("proposer must be a 32-byte key");
  Hash256 proposer = Hash256::FromSpan(core::AsSpan(header.proposer()));
  if (!state_->ValidatorSetAt(header.height()).Find(proposer)) {
    return fail("proposer " + proposer.Hex().substr(0, 16) + "… is not a validator at height " +
                std::to_string(header.height()));
  }
  if (header.record_count() != static_cast<uint32_t>(block.records_size())) {
    return fail("header says " + std::to_string(header.record_count()) + " records, block has " +
                std::to_string(block.records_size()));
  }
  if (static_cast<uint64_t>(block.records_size()) > network_.max_block_records()) {
    return fail("has " + std::to_string(block.records_size()) + " records; the limit is " +
                std::to_string(network_.max_block_records()));
  }
  if (header.evidence_count() != static_cast<uint32_t>(block.evidence_size())) {
    return fail("header says " + std::to_string(header.evidence_count()) +
                " pieces of evidence, block has " + std::to_string(block.evidence_size()));
  }
  if (static_cast<uint64_t>(block.evidence_size()) > core::limits::kMaxEvidencePerBlock) {
    return fail("has " + std::to_string(block.evidence_size()) +
                " pieces of evidence; the limit is " +
                std::to_string(core::limits::kMaxEvidencePerBlock));
  }
  if (block.ByteSizeLong() > network_.max_block_bytes()) {
    return fail("is " + std::to_string(block.ByteSizeLong()) + " bytes; the limit is " +
                std::to_string(network_.max_block_bytes()));
  }
  return Execute(&header, block, {}, header.time_ms(), proposer, check, {});
}

Result<core::Offence> Ledger::CheckEvidence(const pb::Evidence& evidence, uint64_t height,
                                            std::vector<core::Offence>* seen) const {
  auto decoded = core::FromProto(evidence);
  if (!decoded.ok()) return decoded.status();
  // Checked against the set of the offence's height; a later height is refused below, and the
  // set of such a height would only be a guess.
  const core::Offence named = core::OffenceOf(*decoded);
  auto validators = core::ToValidatorSet(state_->ValidatorSetAt(std::min(named.height, height)));
  if (!validators.ok()) return validators.status();
  HM_RETURN_IF_ERROR(core::VerifyEvidence(*validators, network_.chain_id(), *decoded));
  core::Offence offence = core::OffenceOf(*decoded);
  const std::string what = std::string(core::OffenceKindName(offence.kind)) + " by " +
                           offence.validator.Hex().substr(0, 16) + "… at height " +
                           std::to_string(offence.height) + " round " +
                           std::to_string(offence.round);
  if (offence.height > height) return Status::InvalidInput(what + " is from a later height");
  if (height - offence.height > core::limits::kMaxEvidenceAgeHeights) {
    return Status::InvalidInput(what + " is more than " +
                                std::to_string(core::limits::kMaxEvidenceAgeHeights) +
                                " heights old");
  }
  if (std::find(seen->begin(), seen->end(), offence) != seen->end())
    return Status::InvalidInput(what + " appears twice in the block");
  auto committed = FindOffence(offence);
  if (!committed.ok()) return committed.status();
  if (committed->has_value()) {
    return Status::InvalidInput(what + " was already committed at height " +
                                std::to_string((*committed)->height));
  }
  seen->push_back(offence);
  return offence;
}

Result<PreparedBlock> Ledger::Execute(const pb::BlockHeader* expected, pb::Block block,
                                      std::span<const pb::Envelope> candidates, uint64_t time_ms,
                                      const Hash256& proposer, const SignatureCheck& check,
                                      std::span<const pb::Evidence> evidence) {
  const bool building = expected == nullptr;
  PreparedBlock out;
  out.base_height = head_.height();
  const core::BlockContext ctx{head_.height() + 1, time_ms};
  if (building && time_ms <= head_.time_ms()) {
    return Status::InvalidInput("block time " + std::to_string(time_ms) +
                                " must be after the previous block's " +
                                std::to_string(head_.time_ms()));
  }

  // Evidence first: it is small, capped per block, and counts against the block's bytes.
  uint64_t bytes = 0;
  std::vector<const pb::Evidence*> kept_evidence;
  {
    const size_t m = building ? evidence.size() : static_cast<size_t>(block.evidence_size());
    for (size_t i = 0; i < m; ++i) {
      const pb::Evidence& ev = building ? evidence[i] : block.evidence(static_cast<int>(i));
      if (building) {
        if (kept_evidence.size() >= core::limits::kMaxEvidencePerBlock) break;
        const size_t size = ev.ByteSizeLong() + 8;
        if (bytes + size + kBlockOverheadBytes > network_.max_block_bytes()) break;
        bytes += size;
      }
      auto offence = CheckEvidence(ev, ctx.height, &out.offences);
      if (!offence.ok()) {
        if (offence.status().code() != core::StatusCode::kInvalidInput) return offence.status();
        if (!building) {
          return Status::InvalidInput("block " + std::to_string(ctx.height) + " evidence " +
                                      std::to_string(i) +
                                      " is invalid: " + offence.status().message());
        }
        out.dropped_evidence.push_back(offence.status().message());
        continue;
      }
      kept_evidence.push_back(&ev);
    }
  }

  Overlay overlay(this);
  // Governance records of this block change `gov`; every record of the block is checked under
  // the membership in force at its height (a block is one unit: a change completed here bites
  // from the next block).
  const core::Network& members = *membership_;
  std::optional<core::NetworkState> gov;
  std::vector<const pb::Envelope*> accepted;
  const size_t n = building ? candidates.size() : static_cast<size_t>(block.records_size());
  std::unordered_set<Hash256> seen;
  core::Record rec;
  for (size_t i = 0; i < n; ++i) {
    const pb::Envelope& env = building ? candidates[i] : block.records(static_cast<int>(i));
    if (building) {
      if (accepted.size() >= network_.max_block_records()) break;
      size_t size = env.ByteSizeLong() + 8;
      // Leave room for the header and the block's own framing.
      if (bytes + size + kBlockOverheadBytes > network_.max_block_bytes()) break;
      bytes += size;
    }
    if (core::IsGovernanceEnvelope(env)) {
      core::GovernanceRecord g;
      std::optional<core::Rejection> grej =
          core::DecodeGovernanceRecord(env, network_.chain_id(), &g);
      if (!grej && !seen.insert(g.id).second) {
        grej = core::Rejection{core::RejectReason::kStalePrev, "record appears twice in the block"};
      }
      // A governance record has no `prev` to stop its replay: once a proposal has completed it
      // is no longer pending, and the same envelope with its approvals would pass the rules
      // again until it expires, re-applying its change. Every record applies once.
      if (!grej) {
        auto committed = GetRecord(g.id);
        if (!committed.ok()) return committed.status();
        if (committed->has_value()) {
          grej = core::Rejection{core::RejectReason::kDuplicate,
                                 "governance record " + g.id.Hex().substr(0, 16) +
                                     "… was already committed at height " +
                                     std::to_string((*committed)->height()) +
                                     "; a record is applied once"};
        }
      }
      if (!grej) grej = check(env, g.id);
      const core::NetworkState& now = gov ? *gov : *state_;
      if (!grej) grej = core::ValidateGovernance(now, g, ctx.height);
      if (grej) {
        if (!building) {
          return Status::InvalidInput("block " + std::to_string(ctx.height) + " record " +
                                      std::to_string(i) +
                                      " (governance) is invalid: " + grej->ToString());
        }
        out.dropped.push_back(DroppedRecord{i, g.envelope == &env ? g.id : Hash256(), *grej});
        continue;
      }
      gov = core::ApplyGovernance(now, g, ctx.height).state;
      out.governance.emplace_back(static_cast<uint32_t>(accepted.size()), g.id);
      accepted.push_back(&env);
      out.record_ids.push_back(g.id);
      continue;
    }
    std::optional<core::Rejection> rej = core::DecodeRecord(env, network_.chain_id(), &rec);
    if (!rej && !seen.insert(rec.id).second) {
      rej = core::Rejection{core::RejectReason::kStalePrev, "record appears twice in the block"};
    }
    if (!rej) rej = check(env, rec.id);
    if (!rej) rej = core::CheckSignerStanding(*state_, rec.signer, ctx.height);
    if (!rej) {
      auto applied = core::ValidateAndApply(members, rec, ctx, &overlay);
      if (!applied.ok()) return applied.status();
      rej = *applied;
    }
    if (rej) {
      if (!building) {
        return Status::InvalidInput(
            "block " + std::to_string(ctx.height) + " record " + std::to_string(i) + " (" +
            (rec.envelope == &env ? rec.id.Hex().substr(0, 16) + "…" : std::string("undecodable")) +
            ") is invalid: " + rej->ToString());
      }
      out.dropped.push_back(DroppedRecord{i, rec.envelope == &env ? rec.id : Hash256(), *rej});
      rec.envelope = nullptr;
      continue;
    }
    accepted.push_back(&env);
    out.record_ids.push_back(rec.id);
    const pb::ItemState& after = overlay.state(rec.item_key);
    out.history.push_back({rec.item_key, static_cast<uint32_t>(after.record_count() - 1), rec.id});
    rec.envelope = nullptr;
  }

  // State: every changed item's new bytes and its leaf in the tree.
  std::vector<std::pair<Hash256, Hash256>> updates;
  updates.reserve(overlay.dirty().size());
  out.items.reserve(overlay.dirty().size());
  for (const Hash256& key : overlay.dirty()) {
    std::string bytes_out = core::SerializeDeterministic(overlay.state(key));
    updates.emplace_back(key, core::Sha256Of(std::string_view(bytes_out)));
    PreparedBlock::ItemWrite write{key, std::move(bytes_out), {}, {}};
    if (const pb::ItemState* before = overlay.original(key)) {
      auto stored = Get(db_.get(), keys::ItemTime(key), "item time");
      if (!stored.ok()) return stored.status();
      if (!stored->has_value() || (*stored)->size() != 8) {
        return Status::Corruption("item " + key.Hex() + " has no updated time in the index");
      }
      const uint64_t before_ms =
          core::GetBigEndian64(reinterpret_cast<const uint8_t*>((*stored)->data()));
      write.index_removed = ListIndexKeys(key, *before, before_ms);
    }
    write.index_added = ListIndexKeys(key, overlay.state(key), time_ms);
    out.items.push_back(std::move(write));
  }
  const bool adds_epoch = gov && gov->validator_epochs().size() > state_->validator_epochs().size();
  if (gov) {
    updates.emplace_back(core::NetworkStateLeafKey(), gov->GovernedHash());
    out.network_state = std::make_shared<const core::NetworkState>(std::move(*gov));
  }
  auto tree_update = tree_->PrepareUpdate(updates);
  if (!tree_update.ok()) return tree_update.status();
  out.tree_update = std::move(tree_update).value();
  if (adds_epoch) {
    // Proof bundles (version 4) carry the state after this block with its proof under this
    // root, which the tree will not keep: prove it now, in the tree as the update leaves it.
    auto proof = tree_->ProveAfter(out.tree_update, core::NetworkStateLeafKey());
    if (!proof.ok()) return proof.status();
    out.network_state_proof = core::EncodeSmtProof(*proof);
  }

  std::vector<Hash256> leaves;
  leaves.reserve(out.record_ids.size());
  for (const Hash256& id : out.record_ids) leaves.push_back(core::MerkleLeafHash(id.span()));
  Hash256 records_root = core::MerkleRoot(leaves);
  std::vector<Hash256> evidence_leaves;
  for (const pb::Evidence* ev : kept_evidence)
    evidence_leaves.push_back(core::MerkleLeafHash(core::EvidenceId(*ev).span()));
  const std::string evidence_root = evidence_leaves.empty()
                                        ? std::string()
                                        : std::string(core::MerkleRoot(evidence_leaves).view());

  if (building) {
    pb::BlockHeader& h = out.header;
    h.set_chain_id(network_.chain_id());
    h.set_height(ctx.height);
    h.set_time_ms(time_ms);
    h.set_prev_hash(head_.block_hash());
    h.set_proposer(std::string(proposer.view()));
    h.set_records_root(std::string(records_root.view()));
    h.set_state_root(std::string(out.tree_update.root.view()));
    h.set_record_count(static_cast<uint32_t>(accepted.size()));
    h.set_evidence_root(evidence_root);
    h.set_evidence_count(static_cast<uint32_t>(kept_evidence.size()));
    out.block.set_header(core::SerializeDeterministic(h));
    for (const pb::Envelope* env : accepted) *out.block.add_records() = *env;
    for (const pb::Evidence* ev : kept_evidence) *out.block.add_evidence() = *ev;
  } else {
    if (expected->records_root() != records_root.view()) {
      return Status::InvalidInput("block " + std::to_string(ctx.height) +
                                  ": records_root does not match its records");
    }
    if (expected->evidence_root() != evidence_root) {
      return Status::InvalidInput("block " + std::to_string(ctx.height) +
                                  ": evidence_root does not match its evidence");
    }
    if (expected->state_root() != out.tree_update.root.view()) {
      return Status::InvalidInput("block " + std::to_string(ctx.height) +
                                  ": state_root does not match the state after its records");
    }
    out.header = *expected;
    out.block = std::move(block);
  }
  out.hash = core::Sha256Of(std::string_view(out.block.header()));
  return out;
}

Status Ledger::Commit(const PreparedBlock& p, std::string_view certificate) {
  if (p.base_height != head_.height()) {
    return Status::InvalidInput("block " + std::to_string(p.header.height()) +
                                " was prepared on height " + std::to_string(p.base_height) +
                                " but the head is at " + std::to_string(head_.height()));
  }
  const uint64_t height = p.header.height();
  leveldb::WriteBatch batch;
  pb::StoredBlock sb;
  sb.set_header(p.block.header());
  for (const Hash256& id : p.record_ids) sb.add_record_ids(std::string(id.view()));
  batch.Put(keys::Block(height), core::SerializeDeterministic(sb));
  std::string height_bytes;
  core::PutBigEndian64(&height_bytes, height);
  batch.Put(keys::BlockHash(p.hash), height_bytes);
  if (!certificate.empty())
    batch.Put(keys::Certificate(height), leveldb::Slice(certificate.data(), certificate.size()));

  pb::StoredRecord sr;
  for (size_t i = 0; i < p.record_ids.size(); ++i) {
    *sr.mutable_envelope() = p.block.records(static_cast<int>(i));
    sr.set_height(height);
    sr.set_position(static_cast<uint32_t>(i));
    batch.Put(keys::Record(p.record_ids[i]), core::SerializeDeterministic(sr));
  }
  for (const auto& h : p.history) {
    batch.Put(keys::History(h.item_key, h.seq), std::string(h.record_id.view()));
  }
  const std::string height_value = HeightValue(height);
  std::string time_value;
  core::PutBigEndian64(&time_value, p.header.time_ms());
  for (const auto& item : p.items) {
    batch.Put(keys::Item(item.key), item.state_bytes);
    for (const std::string& k : item.index_removed) batch.Delete(k);
    for (const std::string& k : item.index_added) batch.Put(k, height_value);
    batch.Put(keys::ItemTime(item.key), time_value);
  }
  PutSmtUpdate(p.tree_update, keys::kStateTreePrefix, &batch);
  HM_ASSERT(p.offences.size() == static_cast<size_t>(p.block.evidence_size()));
  pb::StoredEvidence se;
  for (size_t i = 0; i < p.offences.size(); ++i) {
    const uint32_t position = static_cast<uint32_t>(i);
    *se.mutable_evidence() = p.block.evidence(static_cast<int>(i));
    se.set_height(height);
    se.set_position(position);
    const std::string at = keys::CommittedEvidenceAt(height, position);
    batch.Put(at, core::SerializeDeterministic(se));
    const core::Offence& o = p.offences[i];
    batch.Put(keys::Offence(Hash256::FromSpan(o.validator.span()), o.height, o.round,
                            static_cast<uint8_t>(o.kind)),
              at.substr(1));
  }

  for (const auto& [position, id] : p.governance) {
    batch.Put(keys::GovernanceAt(height, position), std::string(id.view()));
  }
  if (p.network_state) batch.Put(keys::NetworkStateAt(height), p.network_state->Serialize());
  if (!p.network_state_proof.empty()) {
    batch.Put(keys::NetworkStateProofAt(height), p.network_state_proof);
  }

  pb::ChainHead head = head_;
  head.set_evidence_count(head.evidence_count() + p.offences.size());
  head.set_height(height);
  head.set_block_hash(std::string(p.hash.view()));
  head.set_state_root(p.header.state_root());
  head.set_time_ms(p.header.time_ms());
  batch.Put(keys::Head(), core::SerializeDeterministic(head));

  leveldb::WriteOptions wo;
  wo.sync = options_.sync;
  commit_seq_.fetch_add(1, std::memory_order_acq_rel);  // Odd: readers retry.
  Status written =
      FromLevelDb(db_->Write(wo, &batch), "committing block " + std::to_string(height));
  if (written.ok()) {
    tree_->Commit(p.tree_update);
    std::lock_guard lock(head_mu_);
    head_ = std::move(head);
    head_header_ = p.block.header();
    head_certificate_.assign(certificate.data(), certificate.size());
    // The membership is recomputed only when the state changed: with no change, the members
    // and keys in force at the next height are those in force now.
    if (p.network_state) SetStateLocked(p.network_state);
  }
  commit_seq_.fetch_add(1, std::memory_order_acq_rel);  // Even again.
  return written;
}

Status Ledger::ReadConsistent(const std::function<Status()>& read, int max_attempts) const {
  // A commit in flight (odd sequence) lasts as long as a synced LevelDB write, milliseconds:
  // wait it out, first by yielding, then by short sleeps, for up to 5 s in all. Only reads that
  // a commit overtook count as attempts. (Counting every look at an odd sequence once made
  // readers give up within microseconds under write load: a 500 on about 1% of proof requests.)
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int waits = 0;
  for (int attempt = 0; attempt < max_attempts;) {
    uint64_t before = commit_seq_.load(std::memory_order_acquire);
    if (before % 2 == 1) {
      if (++waits <= 64) {
        std::this_thread::yield();
      } else if (std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      } else {
        break;
      }
      continue;
    }
    HM_RETURN_IF_ERROR(read());
    std::atomic_thread_fence(std::memory_order_acquire);
    if (commit_seq_.load(std::memory_order_acquire) == before) return Status::Ok();
    ++attempt;
  }
  return Status::IoError("the store kept changing under a read of " + std::to_string(max_attempts) +
                         " attempts; retry");
}

Status Ledger::CommitBlock(const pb::Block& block, const SignatureCheck& check,
                           std::string_view certificate) {
  auto prepared = ValidateBlock(block, check);
  if (!prepared.ok()) return prepared.status();
  return Commit(*prepared, certificate);
}

Result<std::optional<std::string>> Ledger::GetCertificate(uint64_t height) const {
  return Get(db_.get(), keys::Certificate(height), "certificate");
}

Status Ledger::PutLocal(std::string_view name, std::string_view value) {
  leveldb::WriteOptions wo;
  wo.sync = true;  // Always: the signer state must be on disk before a vote leaves.
  return FromLevelDb(db_->Put(wo, keys::Local(name), leveldb::Slice(value.data(), value.size())),
                     "writing " + std::string(name));
}

Result<std::optional<std::string>> Ledger::GetLocal(std::string_view name) const {
  return Get(db_.get(), keys::Local(name), name);
}

Status Ledger::PutEvidence(const Hash256& id, std::string_view encoded) {
  leveldb::WriteOptions wo;
  wo.sync = options_.sync;
  return FromLevelDb(
      db_->Put(wo, keys::Evidence(id), leveldb::Slice(encoded.data(), encoded.size())),
      "writing evidence");
}

Result<std::vector<std::string>> Ledger::ListEvidence(size_t max) const {
  std::vector<std::string> out;
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  const std::string prefix = keys::EvidencePrefix();
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix) && out.size() < max;
       it->Next()) {
    out.emplace_back(it->value().data(), it->value().size());
  }
  HM_RETURN_IF_ERROR(FromLevelDb(it->status(), "reading evidence"));
  return out;
}

Result<std::optional<CommittedEvidence>> Ledger::ReadCommittedEvidence(std::string_view key) const {
  auto stored = Get(db_.get(), std::string(key), "evidence");
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return std::optional<CommittedEvidence>();
  pb::StoredEvidence se;
  HM_RETURN_IF_ERROR(ParseStored(**stored, &se, "committed evidence"));
  CommittedEvidence out;
  out.height = se.height();
  out.position = se.position();
  out.evidence = std::move(*se.mutable_evidence());
  return std::optional<CommittedEvidence>(std::move(out));
}

Result<std::vector<CommittedEvidence>> Ledger::ListCommittedEvidence(uint64_t before_height,
                                                                     uint32_t before_position,
                                                                     size_t limit) const {
  std::vector<CommittedEvidence> out;
  const std::string prefix = keys::CommittedEvidencePrefix();
  const std::string start = keys::CommittedEvidenceAt(before_height, before_position);
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(ro));
  // The last key before `start`: Seek finds the first at or after it.
  it->Seek(start);
  if (it->Valid()) {
    it->Prev();
  } else {
    it->SeekToLast();
  }
  for (; it->Valid() && it->key().starts_with(prefix) && out.size() < limit; it->Prev()) {
    pb::StoredEvidence se;
    HM_RETURN_IF_ERROR(ParseStored(it->value().ToString(), &se, "committed evidence"));
    out.push_back(CommittedEvidence{se.height(), se.position(), std::move(*se.mutable_evidence())});
  }
  HM_RETURN_IF_ERROR(FromLevelDb(it->status(), "reading evidence"));
  return out;
}

Result<std::vector<CommittedEvidence>> Ledger::ListEvidenceAgainst(const core::PublicKey& validator,
                                                                   size_t limit) const {
  std::vector<CommittedEvidence> out;
  const std::string prefix = keys::OffencePrefix(Hash256::FromSpan(validator.span()));
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(ro));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix) && out.size() < limit;
       it->Next()) {
    auto found = ReadCommittedEvidence(keys::CommittedEvidencePrefix() + it->value().ToString());
    if (!found.ok()) return found.status();
    if (!found->has_value()) return Status::Corruption("offence index names missing evidence");
    out.push_back(std::move(**found));
  }
  HM_RETURN_IF_ERROR(FromLevelDb(it->status(), "reading the offence index"));
  return out;
}

Result<std::optional<CommittedEvidence>> Ledger::FindOffence(const core::Offence& o) const {
  auto at = Get(db_.get(),
                keys::Offence(Hash256::FromSpan(o.validator.span()), o.height, o.round,
                              static_cast<uint8_t>(o.kind)),
                "offence index");
  if (!at.ok()) return at.status();
  if (!at->has_value()) return std::optional<CommittedEvidence>();
  auto found = ReadCommittedEvidence(keys::CommittedEvidencePrefix() + **at);
  if (!found.ok()) return found.status();
  if (!found->has_value()) return Status::Corruption("offence index names missing evidence");
  return found;
}

Result<std::optional<pb::Block>> Ledger::GetBlock(uint64_t height) const {
  auto stored = Get(db_.get(), keys::Block(height), "block");
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return std::optional<pb::Block>();
  pb::StoredBlock sb;
  HM_RETURN_IF_ERROR(ParseStored(**stored, &sb, "block " + std::to_string(height)));
  if (height < first_height()) {
    // Below the first height only governance blocks are whole; the block a snapshot was taken
    // at is kept as its header alone (storage/snapshot.h), which is not a block to serve.
    pb::BlockHeader header;
    HM_RETURN_IF_ERROR(ParseStored(sb.header(), &header, "block header"));
    if (static_cast<uint64_t>(sb.record_ids_size()) != header.record_count()) {
      return std::optional<pb::Block>();
    }
  }
  pb::Block block;
  block.set_header(sb.header());
  for (const std::string& id : sb.record_ids()) {
    auto key = Hash256::FromBytes(id);
    if (!key) return Status::Corruption("block " + std::to_string(height) + " has a bad record id");
    auto rec = GetRecord(*key);
    if (!rec.ok()) return rec.status();
    if (!rec->has_value()) {
      return Status::Corruption("block " + std::to_string(height) + " names record " + key->Hex() +
                                " which is missing");
    }
    *block.add_records() = (*rec)->envelope();
  }
  const std::string prefix = keys::CommittedEvidenceAtHeight(height);
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    pb::StoredEvidence se;
    HM_RETURN_IF_ERROR(
        ParseStored(it->value().ToString(), &se, "evidence of block " + std::to_string(height)));
    if (se.position() != static_cast<uint32_t>(block.evidence_size())) {
      return Status::Corruption("evidence of block " + std::to_string(height) + " has a gap");
    }
    *block.add_evidence() = std::move(*se.mutable_evidence());
  }
  HM_RETURN_IF_ERROR(FromLevelDb(it->status(), "reading evidence"));
  return std::optional<pb::Block>(std::move(block));
}

Result<std::optional<uint64_t>> Ledger::GetBlockTimeMs(uint64_t height) const {
  if (height == 0) return std::optional<uint64_t>();
  const size_t index = height % kBlockTimeSlots;
  uint64_t generation = 0;
  {
    std::lock_guard lock(block_times_mu_);
    const BlockTime& slot = block_times_[index];
    if (slot.height == height) return std::optional<uint64_t>(slot.time_ms);
    generation = block_times_generation_;
  }
  auto header = GetHeader(height);
  if (!header.ok()) return header.status();
  if (!header->has_value()) return std::optional<uint64_t>();
  const uint64_t time_ms = (*header)->time_ms();
  std::lock_guard lock(block_times_mu_);
  // Not if the ledger was loaded again meanwhile: the header may be of the ledger wiped.
  if (generation == block_times_generation_) block_times_[index] = BlockTime{height, time_ms};
  return std::optional<uint64_t>(time_ms);
}

Result<std::optional<pb::BlockHeader>> Ledger::GetHeader(uint64_t height) const {
  auto stored = Get(db_.get(), keys::Block(height), "block");
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return std::optional<pb::BlockHeader>();
  // Only the header: the block's record ids (up to 10,000) are skipped, not parsed, so that a
  // history read that needs one block time per record stays cheap with large blocks.
  std::string header_bytes;
  {
    const std::string& bytes = **stored;
    google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                              static_cast<int>(bytes.size()));
    bool found = false;
    while (uint32_t tag = in.ReadTag()) {
      using google::protobuf::internal::WireFormatLite;
      if (WireFormatLite::GetTagFieldNumber(tag) == pb::StoredBlock::kHeaderFieldNumber &&
          WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
        if (!WireFormatLite::ReadBytes(&in, &header_bytes)) break;
        found = true;
      } else if (!WireFormatLite::SkipField(&in, tag)) {
        found = false;
        break;
      }
    }
    if (!found || !in.ConsumedEntireMessage()) {
      return Status::Corruption("block " + std::to_string(height) + " is not a stored block");
    }
  }
  pb::BlockHeader header;
  HM_RETURN_IF_ERROR(ParseStored(header_bytes, &header, "block header " + std::to_string(height)));
  return std::optional<pb::BlockHeader>(std::move(header));
}

Result<std::optional<uint64_t>> Ledger::GetBlockHeight(const Hash256& hash) const {
  auto stored = Get(db_.get(), keys::BlockHash(hash), "block index");
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return std::optional<uint64_t>();
  if ((*stored)->size() != 8) return Status::Corruption("block index entry is not 8 bytes");
  return std::optional<uint64_t>(
      core::GetBigEndian64(reinterpret_cast<const uint8_t*>((*stored)->data())));
}

Result<std::optional<pb::StoredRecord>> Ledger::GetRecord(const Hash256& record_id) const {
  auto stored = Get(db_.get(), keys::Record(record_id), "record");
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return std::optional<pb::StoredRecord>();
  pb::StoredRecord sr;
  HM_RETURN_IF_ERROR(ParseStored(**stored, &sr, "record " + record_id.Hex()));
  return std::optional<pb::StoredRecord>(std::move(sr));
}

Result<std::optional<StoredItem>> Ledger::GetItem(const Hash256& item_key) const {
  auto stored = Get(db_.get(), keys::Item(item_key), "item state");
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return std::optional<StoredItem>();
  StoredItem item;
  item.bytes = std::move(**stored);
  HM_RETURN_IF_ERROR(ParseStored(item.bytes, &item.state, "item state " + item_key.Hex()));
  return std::optional<StoredItem>(std::move(item));
}

Result<std::vector<pb::StoredRecord>> Ledger::GetHistory(const Hash256& item_key) const {
  auto item = GetItem(item_key);
  if (!item.ok()) return item.status();
  if (!item->has_value()) return std::vector<pb::StoredRecord>();
  return GetHistory(item_key, (*item)->state.record_count());
}

// Point reads, not an iterator: each Get consults the bloom filters and reads a data block only
// from the table that holds the key, where an iterator's Seek reads a block at every level. The
// entries below the item's record count never change once written, so these reads see the
// history of the state the caller read, even while a later record is being committed.
Result<std::vector<pb::StoredRecord>> Ledger::GetHistory(const Hash256& item_key,
                                                         uint64_t record_count) const {
  if (record_count > std::numeric_limits<uint32_t>::max()) {
    return Status::Corruption("item " + item_key.Hex() + " claims " + std::to_string(record_count) +
                              " records");
  }
  std::vector<pb::StoredRecord> out;
  out.reserve(static_cast<size_t>(std::min<uint64_t>(record_count, 1024)));
  for (uint32_t seq = 0; seq < record_count; ++seq) {
    auto entry = Get(db_.get(), keys::History(item_key, seq), "history entry");
    if (!entry.ok()) return entry.status();
    if (!entry->has_value()) {
      return Status::Corruption("history of item " + item_key.Hex() + " has a gap at " +
                                std::to_string(seq));
    }
    auto id = Hash256::FromBytes(**entry);
    if (!id) {
      return Status::Corruption("history entry of item " + item_key.Hex() + " is malformed");
    }
    auto rec = GetRecord(*id);
    if (!rec.ok()) return rec.status();
    if (!rec->has_value()) {
      return Status::Corruption("history of item " + item_key.Hex() + " names missing record " +
                                id->Hex());
    }
    out.push_back(std::move(**rec));
  }
  return out;
}

Result<core::SmtProof> Ledger::ProveItem(const Hash256& item_key) const {
  return tree_->Prove(item_key);
}

Hash256 Ledger::StateRoot() const {
  return tree_->root();
}

Status Ledger::ForEachItem(
    const std::function<void(const Hash256&, std::string_view)>& visit) const {
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(ro));
  const std::string prefix = keys::ItemPrefix();
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    auto key = Hash256::FromBytes(
        std::string_view(it->key().data() + prefix.size(), it->key().size() - prefix.size()));
    if (!key) return Status::Corruption("item state key is malformed");
    visit(*key, std::string_view(it->value().data(), it->value().size()));
  }
  return FromLevelDb(it->status(), "reading item states");
}

Status Ledger::Prune(uint64_t floor) {
  const uint64_t head = height();
  if (floor > head) {
    return Status::InvalidInput("cannot prune below height " + std::to_string(floor) +
                                ": the head is at " + std::to_string(head));
  }
  uint64_t from = first_height();
  constexpr uint64_t kBatchHeights = 1'000;
  while (from < floor) {
    const uint64_t to = std::min(floor, from + kBatchHeights);
    leveldb::WriteBatch batch;
    for (uint64_t h = from; h < to; ++h) {
      // Blocks with governance records stay: governance walks of proof bundles read them.
      std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
      const std::string gov = keys::GovernanceAt(h, 0).substr(0, 9);
      it->Seek(gov);
      const bool governance = it->Valid() && it->key().starts_with(gov);
      HM_RETURN_IF_ERROR(FromLevelDb(it->status(), "reading governance records"));
      if (governance) continue;
      auto stored = Get(db_.get(), keys::Block(h), "block");
      if (!stored.ok()) return stored.status();
      if (!stored->has_value()) continue;
      pb::StoredBlock sb;
      HM_RETURN_IF_ERROR(ParseStored(**stored, &sb, "block " + std::to_string(h)));
      batch.Delete(keys::BlockHash(core::Sha256Of(std::string_view(sb.header()))));
      batch.Delete(keys::Block(h));
      batch.Delete(keys::Certificate(h));
    }
    batch.Put(keys::FirstHeight(), HeightValue(to));
    leveldb::WriteOptions wo;
    wo.sync = options_.sync;
    HM_RETURN_IF_ERROR(FromLevelDb(db_->Write(wo, &batch), "pruning blocks"));
    first_height_.store(to, std::memory_order_release);
    from = to;
  }
  return Status::Ok();
}

}  // namespace hallmark::storage

namespace hallmark::storage {

namespace {

// One snapshot of `db`: the head it holds, then every entry in key order.
Status ScanDb(leveldb::DB* db, const std::function<Status(uint64_t height)>& begin,
              const std::function<Status(std::string_view, std::string_view)>& visit) {
  struct SnapshotGuard {
    leveldb::DB* db;
    const leveldb::Snapshot* snapshot;
    ~SnapshotGuard() { db->ReleaseSnapshot(snapshot); }
  } guard{db, db->GetSnapshot()};
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  ro.fill_cache = false;  // A backup reads everything once: keep the cache for the node.
  ro.snapshot = guard.snapshot;
  uint64_t height = 0;
  {
    std::string head_bytes;
    leveldb::Status s = db->Get(ro, keys::Head(), &head_bytes);
    if (!s.IsNotFound()) {
      HM_RETURN_IF_ERROR(FromLevelDb(s, "reading the chain head"));
      pb::ChainHead head;
      HM_RETURN_IF_ERROR(ParseStored(head_bytes, &head, "chain head"));
      height = head.height();
    }
  }
  HM_RETURN_IF_ERROR(begin(height));
  std::unique_ptr<leveldb::Iterator> it(db->NewIterator(ro));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const leveldb::Slice k = it->key();
    const leveldb::Slice v = it->value();
    HM_RETURN_IF_ERROR(
        visit(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size())));
  }
  return FromLevelDb(it->status(), "scanning the store");
}

}  // namespace

Status Ledger::ScanSnapshot(
    const std::function<Status(uint64_t height)>& begin,
    const std::function<Status(std::string_view, std::string_view)>& visit) const {
  return ScanDb(db_.get(), begin, visit);
}

Status ScanStore(const std::filesystem::path& dir, const std::function<Status(uint64_t)>& begin,
                 const std::function<Status(std::string_view, std::string_view)>& visit) {
  std::error_code ec;
  if (!std::filesystem::exists(dir / "CURRENT", ec)) {
    return Status::NotFound("no ledger at " + dir.string());
  }
  leveldb::Options lo;
  lo.create_if_missing = false;
  lo.paranoid_checks = true;
  lo.env = EnvWithBackgroundNice(0);
  leveldb::DB* raw = nullptr;
  leveldb::Status s = leveldb::DB::Open(lo, dir.string(), &raw);
  if (!s.ok()) {
    // LevelDB reports a lock held by another process as an I/O error on the LOCK file.
    if (s.IsIOError() && s.ToString().find("LOCK") != std::string::npos) {
      return Status::InvalidInput("the ledger at " + dir.string() +
                                  " is in use by a running node (" + s.ToString() + ")");
    }
    return FromLevelDb(s, "opening ledger at " + dir.string());
  }
  std::unique_ptr<leveldb::DB> db(raw);
  return ScanDb(db.get(), begin, visit);
}

struct StoreWriter::Impl {
  std::unique_ptr<leveldb::DB> db;
  leveldb::WriteBatch batch;
  size_t batch_bytes = 0;
};

StoreWriter::~StoreWriter() = default;

Result<std::unique_ptr<StoreWriter>> StoreWriter::Create(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    return Status::InvalidInput(dir.string() + " already exists");
  }
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IoError("cannot create " + dir.string() + ": " + ec.message());
  leveldb::Options lo;
  lo.create_if_missing = true;
  lo.error_if_exists = true;
  lo.env = EnvWithBackgroundNice(0);
  leveldb::DB* raw = nullptr;
  leveldb::Status s = leveldb::DB::Open(lo, dir.string(), &raw);
  if (!s.ok()) return FromLevelDb(s, "creating ledger at " + dir.string());
  std::unique_ptr<StoreWriter> w(new StoreWriter());
  w->impl_ = std::make_unique<Impl>();
  w->impl_->db.reset(raw);
  return w;
}

Status StoreWriter::Put(std::string_view key, std::string_view value) {
  HM_ASSERT(impl_ && impl_->db);
  impl_->batch.Put(leveldb::Slice(key.data(), key.size()),
                   leveldb::Slice(value.data(), value.size()));
  impl_->batch_bytes += key.size() + value.size();
  if (impl_->batch_bytes < (4u << 20)) return Status::Ok();
  Status st = FromLevelDb(impl_->db->Write(leveldb::WriteOptions(), &impl_->batch),
                          "writing the restored ledger");
  impl_->batch.Clear();
  impl_->batch_bytes = 0;
  return st;
}

Status StoreWriter::Finish() {
  HM_ASSERT(impl_ && impl_->db);
  leveldb::WriteOptions wo;
  wo.sync = true;
  Status st = FromLevelDb(impl_->db->Write(wo, &impl_->batch), "writing the restored ledger");
  impl_->batch.Clear();
  impl_->db.reset();
  return st;
}

}  // namespace hallmark::storage
