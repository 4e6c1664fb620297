#include "storage/smt_store.h"

#include <doctest/doctest.h>
#include <leveldb/db.h>
#include <leveldb/write_batch.h>

#include <cstring>
#include <map>
#include <memory>
#include <random>

#include "core/smt.h"
#include "test_util.h"

using namespace hallmark;
using core::Hash256;
using Pair = std::pair<Hash256, Hash256>;

namespace {

constexpr std::string_view kPrefix = "n";

std::unique_ptr<leveldb::DB> OpenDb(const std::string& dir) {
  leveldb::Options options;
  options.create_if_missing = true;
  leveldb::DB* db = nullptr;
  leveldb::Status s = leveldb::DB::Open(options, dir, &db);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  return std::unique_ptr<leveldb::DB>(db);
}

Hash256 RandomHash(std::mt19937_64& rng) {
  Hash256 h;
  for (size_t i = 0; i < 32; i += 8) {
    uint64_t v = rng();
    std::memcpy(h.bytes.data() + i, &v, 8);
  }
  return h;
}

// The ledger's commit path: prepare, write the nodes (with other data) in one batch, commit.
Hash256 CommitBatch(leveldb::DB* db, core::SparseMerkleTree& tree, std::span<const Pair> updates) {
  auto u = tree.PrepareUpdate(updates);
  REQUIRE_MESSAGE(u.ok(), u.status().ToString());
  leveldb::WriteBatch batch;
  batch.Put("other/key", "other data");
  storage::PutSmtUpdate(*u, kPrefix, &batch);
  leveldb::Status s = db->Write(leveldb::WriteOptions(), &batch);
  REQUIRE(s.ok());
  tree.Commit(*u);
  return u->root;
}

// The same pairs in a tree over a plain map, for the expected root.
class MapReader : public core::SmtNodeReader {
 public:
  core::Result<std::optional<std::string>> GetNode(std::string_view k) const override {
    auto it = nodes.find(std::string(k));
    if (it == nodes.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  std::map<std::string, std::string> nodes;
};

Hash256 ExpectedRoot(std::span<const Pair> pairs) {
  MapReader r;
  core::SparseMerkleTree t(&r);
  auto u = t.PrepareUpdate(pairs);
  REQUIRE(u.ok());
  return u->root;
}

}  // namespace

TEST_CASE("smt store: after reopening LevelDB the tree has the same root and proofs") {
  test::TempDir dir;
  std::mt19937_64 rng(21);
  std::vector<Pair> pairs;
  for (int i = 0; i < 3000; ++i) pairs.emplace_back(RandomHash(rng), RandomHash(rng));
  Hash256 root;
  std::vector<core::SmtProof> proofs;
  {
    auto db = OpenDb(dir.str());
    storage::LevelDbSmtReader reader(db.get(), kPrefix);
    core::SparseMerkleTree tree(&reader, 256);
    REQUIRE(tree.status().ok());
    CHECK(tree.root() == core::SmtEmptyHash());
    for (size_t at = 0; at < pairs.size(); at += 500) {
      root = CommitBatch(db.get(), tree, std::span<const Pair>(pairs).subspan(at, 500));
    }
    CHECK(root == ExpectedRoot(pairs));
    for (size_t i = 0; i < 100; ++i) {
      auto p = tree.Prove(pairs[i].first);
      REQUIRE(p.ok());
      proofs.push_back(*p);
    }
  }
  {
    auto db = OpenDb(dir.str());
    storage::LevelDbSmtReader reader(db.get(), kPrefix);
    core::SparseMerkleTree tree(&reader, 256);
    REQUIRE(tree.status().ok());
    CHECK(tree.root() == root);
    for (size_t i = 0; i < 100; ++i) {
      auto p = tree.Prove(pairs[i].first);
      REQUIRE(p.ok());
      CHECK(*p == proofs[i]);
      CHECK(core::VerifySmtProof(root, pairs[i].first, pairs[i].second, *p));
      CHECK(**tree.GetValueHash(pairs[i].first) == pairs[i].second);
    }
    // Keep going after the reopen: updates of old keys and new keys.
    std::vector<Pair> more;
    for (int i = 0; i < 200; ++i)
      more.emplace_back(pairs[rng() % pairs.size()].first, RandomHash(rng));
    for (int i = 0; i < 200; ++i) more.emplace_back(RandomHash(rng), RandomHash(rng));
    root = CommitBatch(db.get(), tree, more);
    for (const auto& [k, v] : more) {
      for (auto& p : pairs) {
        if (p.first == k) p.second = v;
      }
    }
    for (int i = 200; i < 400; ++i) pairs.push_back(more[static_cast<size_t>(i)]);
    CHECK(root == ExpectedRoot(pairs));
  }
  {
    auto db = OpenDb(dir.str());
    storage::LevelDbSmtReader reader(db.get(), kPrefix);
    core::SparseMerkleTree tree(&reader);
    CHECK(tree.root() == root);
    // An update prepared but never written leaves the stored tree as it was.
    auto u = tree.PrepareUpdate(std::vector<Pair>{{RandomHash(rng), RandomHash(rng)}});
    REQUIRE(u.ok());
  }
  {
    auto db = OpenDb(dir.str());
    storage::LevelDbSmtReader reader(db.get(), kPrefix);
    core::SparseMerkleTree tree(&reader);
    CHECK(tree.root() == root);
  }
}

TEST_CASE("smt store: nodes live under their prefix and a damaged node reads as Corruption") {
  test::TempDir dir;
  auto db = OpenDb(dir.str());
  std::mt19937_64 rng(22);
  std::vector<Pair> pairs;
  for (int i = 0; i < 300; ++i) pairs.emplace_back(RandomHash(rng), RandomHash(rng));
  storage::LevelDbSmtReader reader(db.get(), kPrefix);
  core::SparseMerkleTree tree(&reader);
  CommitBatch(db.get(), tree, pairs);

  // Every key the tree wrote starts with the prefix; the root is prefix + "\0".
  std::unique_ptr<leveldb::Iterator> it(db->NewIterator(leveldb::ReadOptions()));
  size_t nodes = 0;
  std::string victim;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string k = it->key().ToString();
    if (k == "other/key") continue;
    CHECK(k.substr(0, kPrefix.size()) == kPrefix);
    if (k.size() > 1 && k[1] == 1) victim = k;
    ++nodes;
  }
  CHECK(nodes > 16);
  std::string root_bytes;
  CHECK(db->Get(leveldb::ReadOptions(), std::string(kPrefix) + std::string(1, '\0'), &root_bytes)
            .ok());

  // Damage a node one level down and read through it with a fresh tree (empty cache).
  std::string bytes;
  REQUIRE(db->Get(leveldb::ReadOptions(), victim, &bytes).ok());
  bytes[bytes.size() / 2] ^= 0x40;
  REQUIRE(db->Put(leveldb::WriteOptions(), victim, bytes).ok());
  core::SparseMerkleTree fresh(&reader, 64, std::chrono::milliseconds(0));
  REQUIRE(fresh.status().ok());
  int corrupt = 0;
  for (const auto& [k, v] : pairs) {
    if (static_cast<uint8_t>(k.bytes[0] >> 4) != static_cast<uint8_t>(victim[2]) >> 4) continue;
    auto p = fresh.Prove(k);
    CHECK(p.status().code() == core::StatusCode::kCorruption);
    corrupt += p.ok() ? 0 : 1;
  }
  CHECK(corrupt > 0);
}
