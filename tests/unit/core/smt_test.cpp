#include "core/smt.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "core/crypto/sha256.h"

using namespace hallmark::core;

namespace {

using Pair = std::pair<Hash256, Hash256>;

// The node store as a std::map; thread-safe so that the race test can write while trees read.
class MemStore : public SmtNodeReader {
 public:
  Result<std::optional<std::string>> GetNode(std::string_view node_key) const override {
    std::lock_guard lock(mu_);
    ++reads_;
    auto it = nodes_.find(node_key);
    if (it == nodes_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  void Write(const SmtUpdate& u) {
    std::lock_guard lock(mu_);
    u.ForEachWrite([&](std::string_view k, std::string_view v) { nodes_[std::string(k)] = v; });
  }
  // Direct access for corruption tests.
  std::map<std::string, std::string, std::less<>>& nodes() { return nodes_; }
  uint64_t reads() const { return reads_; }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string, std::less<>> nodes_;
  mutable std::atomic<uint64_t> reads_{0};
};

Hash256 RandomHash(std::mt19937_64& rng) {
  Hash256 h;
  for (size_t i = 0; i < 32; i += 8) {
    uint64_t v = rng();
    std::memcpy(h.bytes.data() + i, &v, 8);
  }
  return h;
}

Hash256 FlipBit(Hash256 h, int bit) {
  h.bytes[static_cast<size_t>(bit / 8)] ^= static_cast<uint8_t>(0x80 >> (bit % 8));
  return h;
}

// Random keys, plus clusters that share long prefixes so that deep paths, single-reference
// chains and collapses at every depth inside a stored node all occur.
std::vector<Pair> MakePairs(std::mt19937_64& rng, size_t n, bool clustered) {
  std::set<Hash256> seen;
  std::vector<Pair> out;
  while (out.size() < n) {
    Hash256 key = RandomHash(rng);
    if (clustered && !out.empty() && rng() % 2 == 0) {
      key = out[rng() % out.size()].first;
      int from = static_cast<int>(rng() % 256);
      for (int b = from; b < 256; ++b) {
        if (rng() % 2) key = FlipBit(key, b);
      }
    }
    if (!seen.insert(key).second) continue;
    out.emplace_back(key, RandomHash(rng));
  }
  return out;
}

Hash256 Apply(SparseMerkleTree& tree, MemStore& store, std::span<const Pair> updates) {
  auto u = tree.PrepareUpdate(updates);
  REQUIRE_MESSAGE(u.ok(), u.status().ToString());
  store.Write(*u);
  tree.Commit(*u);
  CHECK(tree.root() == u->root);
  return u->root;
}

// The tree straight from its binary definition (core/smt.h), with no grouping, no cache and
// no store: the reference the real tree must agree with.
int Bit(const Hash256& k, int d) {
  return (k.bytes[static_cast<size_t>(d / 8)] >> (7 - d % 8)) & 1;
}

Hash256 RefHash(std::span<const Pair> sorted, int depth) {
  if (sorted.empty()) return SmtEmptyHash();
  if (sorted.size() == 1) return SmtLeafHash(sorted[0].first, sorted[0].second);
  auto mid = std::partition_point(sorted.begin(), sorted.end(),
                                  [&](const Pair& p) { return Bit(p.first, depth) == 0; });
  size_t k = static_cast<size_t>(mid - sorted.begin());
  return SmtInnerHash(RefHash(sorted.subspan(0, k), depth + 1),
                      RefHash(sorted.subspan(k), depth + 1));
}

SmtProof RefProof(std::span<const Pair> sorted, const Hash256& key) {
  SmtProof proof;
  int depth = 0;
  while (sorted.size() >= 2) {
    auto mid = std::partition_point(sorted.begin(), sorted.end(),
                                    [&](const Pair& p) { return Bit(p.first, depth) == 0; });
    size_t k = static_cast<size_t>(mid - sorted.begin());
    auto left = sorted.subspan(0, k);
    auto right = sorted.subspan(k);
    if (Bit(key, depth) == 0) {
      proof.siblings.push_back(RefHash(right, depth + 1));
      sorted = left;
    } else {
      proof.siblings.push_back(RefHash(left, depth + 1));
      sorted = right;
    }
    ++depth;
  }
  if (sorted.size() == 1) proof.leaf = SmtLeaf{sorted[0].first, sorted[0].second};
  std::reverse(proof.siblings.begin(), proof.siblings.end());
  return proof;
}

std::vector<Pair> Sorted(std::vector<Pair> v) {
  std::sort(v.begin(), v.end());
  return v;
}

SmtProof MustProve(const SparseMerkleTree& tree, const Hash256& key) {
  auto p = tree.Prove(key);
  REQUIRE_MESSAGE(p.ok(), p.status().ToString());
  return *p;
}

}  // namespace

TEST_CASE("smt: hashes are SHA-256 of the documented tags") {
  Hash256 k = Sha256Of(std::string_view("key"));
  Hash256 v = Sha256Of(std::string_view("value"));
  CHECK(SmtEmptyHash() == Sha256Of(std::string_view("hallmark/smt/empty")));
  CHECK(SmtLeafHash(k, v) == Sha256().Update("hallmark/smt/leaf").Update(k).Update(v).Finish());
  CHECK(SmtInnerHash(k, v) == Sha256().Update("hallmark/smt/node").Update(k).Update(v).Finish());
  CHECK(SmtLeafHash(k, v) != SmtInnerHash(k, v));
}

TEST_CASE("smt: an empty tree has root EMPTY and proves every key absent with no siblings") {
  MemStore store;
  SparseMerkleTree tree(&store);
  REQUIRE(tree.status().ok());
  CHECK(tree.root() == SmtEmptyHash());
  std::mt19937_64 rng(1);
  Hash256 key = RandomHash(rng);
  SmtProof p = MustProve(tree, key);
  CHECK_FALSE(p.leaf.has_value());
  CHECK(p.siblings.empty());
  CHECK(VerifySmtProof(tree.root(), key, std::nullopt, p));
  CHECK_FALSE(VerifySmtProof(tree.root(), key, RandomHash(rng), p));
  CHECK_FALSE(tree.GetValueHash(key)->has_value());
  // An empty batch changes nothing.
  auto u = tree.PrepareUpdate({});
  REQUIRE(u.ok());
  CHECK(u->write_count() == 0);
  CHECK(u->root == SmtEmptyHash());
}

TEST_CASE("smt: a one-key tree's root is that key's leaf, other keys prove absent through it") {
  MemStore store;
  SparseMerkleTree tree(&store);
  std::mt19937_64 rng(2);
  Pair kv{RandomHash(rng), RandomHash(rng)};
  Hash256 root = Apply(tree, store, std::vector<Pair>{kv});
  CHECK(root == SmtLeafHash(kv.first, kv.second));
  SmtProof p = MustProve(tree, kv.first);
  REQUIRE(p.leaf.has_value());
  CHECK(p.siblings.empty());
  CHECK(VerifySmtProof(root, kv.first, kv.second, p));
  CHECK_FALSE(VerifySmtProof(root, kv.first, std::nullopt, p));
  CHECK(**tree.GetValueHash(kv.first) == kv.second);

  Hash256 other = RandomHash(rng);
  SmtProof q = MustProve(tree, other);
  CHECK(q.leaf == p.leaf);
  CHECK(VerifySmtProof(root, other, std::nullopt, q));
  CHECK_FALSE(VerifySmtProof(root, other, kv.second, q));
}

TEST_CASE("smt: two keys differing only in the last bit need 256 siblings, the most, and verify") {
  MemStore store;
  SparseMerkleTree tree(&store);
  std::mt19937_64 rng(3);
  Hash256 a = RandomHash(rng);
  Hash256 b = FlipBit(a, 255);
  std::vector<Pair> pairs = {{a, RandomHash(rng)}, {b, RandomHash(rng)}};
  Hash256 root = Apply(tree, store, pairs);
  CHECK(root == RefHash(Sorted(pairs), 0));
  for (const auto& [k, v] : pairs) {
    SmtProof p = MustProve(tree, k);
    // They split at depth 255, so each leaf sits at depth 256: 255 EMPTY siblings and the
    // other leaf.
    CHECK(p.siblings.size() == 256);
    CHECK(VerifySmtProof(root, k, v, p));
    CHECK(p == RefProof(Sorted(pairs), k));
  }
  // A key sharing 200 bits with both proves absent through an EMPTY sibling at depth 200.
  Hash256 c = FlipBit(a, 200);
  SmtProof p = MustProve(tree, c);
  CHECK_FALSE(p.leaf.has_value());
  CHECK(p.siblings.size() == 201);
  CHECK(VerifySmtProof(root, c, std::nullopt, p));
  // 64 stored nodes, one per nibble depth, hold the shared path.
  CHECK(store.nodes().size() == 64);

  // Keys differing in the first bit: one sibling each.
  MemStore store2;
  SparseMerkleTree tree2(&store2);
  std::vector<Pair> far = {{a, RandomHash(rng)}, {FlipBit(a, 0), RandomHash(rng)}};
  Hash256 root2 = Apply(tree2, store2, far);
  for (const auto& [k, v] : far) {
    SmtProof q = MustProve(tree2, k);
    CHECK(q.siblings.size() == 1);
    CHECK(VerifySmtProof(root2, k, v, q));
  }
}

TEST_CASE("smt: the root and proofs equal the binary definition for random and clustered keys") {
  std::mt19937_64 rng(4);
  for (bool clustered : {false, true}) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{5}, size_t{16}, size_t{17},
                     size_t{100}, size_t{257}, size_t{1000}}) {
      CAPTURE(clustered);
      CAPTURE(n);
      MemStore store;
      SparseMerkleTree tree(&store);
      auto pairs = MakePairs(rng, n, clustered);
      Hash256 root = Apply(tree, store, pairs);
      auto sorted = Sorted(pairs);
      REQUIRE(root == RefHash(sorted, 0));
      for (size_t i = 0; i < std::min<size_t>(n, 50); ++i) {
        const Hash256& key = pairs[rng() % n].first;
        CHECK(MustProve(tree, key) == RefProof(sorted, key));
        Hash256 absent = FlipBit(key, static_cast<int>(rng() % 256));
        CHECK(MustProve(tree, absent) == RefProof(sorted, absent));
      }
    }
  }
}

TEST_CASE("smt: every present key proves present and every absent key proves absent") {
  std::mt19937_64 rng(5);
  MemStore store;
  SparseMerkleTree tree(&store);
  auto pairs = MakePairs(rng, 2000, /*clustered=*/true);
  Hash256 root = Apply(tree, store, pairs);
  for (size_t i = 0; i < pairs.size(); ++i) {
    const auto& [k, v] = pairs[i];
    SmtProof p = MustProve(tree, k);
    REQUIRE(VerifySmtProof(root, k, v, p));
    REQUIRE(**tree.GetValueHash(k) == v);
    // Never as absent, never with another value, never for another key.
    CHECK_FALSE(VerifySmtProof(root, k, std::nullopt, p));
    CHECK_FALSE(VerifySmtProof(root, k, FlipBit(v, 7), p));
    const auto& [k2, v2] = pairs[(i + 1) % pairs.size()];
    CHECK_FALSE(VerifySmtProof(root, k2, v2, p));
    CHECK_FALSE(VerifySmtProof(root, k2, v, p));
    CHECK_FALSE(VerifySmtProof(root, k2, std::nullopt, p));
  }
  std::set<Hash256> present;
  for (const auto& kv : pairs) present.insert(kv.first);
  for (int i = 0; i < 1000; ++i) {
    // Absent keys both far from and right next to present ones.
    Hash256 k = i % 2 ? RandomHash(rng)
                      : FlipBit(pairs[rng() % pairs.size()].first, static_cast<int>(rng() % 256));
    if (present.count(k)) continue;
    SmtProof p = MustProve(tree, k);
    REQUIRE(VerifySmtProof(root, k, std::nullopt, p));
    CHECK_FALSE(tree.GetValueHash(k)->has_value());
    CHECK_FALSE(VerifySmtProof(root, k, RandomHash(rng), p));
    if (p.leaf) {
      // The neighbour's leaf in the proof does not make the absent key present with its value.
      CHECK_FALSE(VerifySmtProof(root, k, p.leaf->value_hash, p));
      // Nor does it prove the neighbour absent.
      CHECK_FALSE(VerifySmtProof(root, p.leaf->key, std::nullopt, p));
    }
  }
}

TEST_CASE("smt: the root does not depend on insertion order or batch splitting") {
  std::mt19937_64 rng(6);
  auto pairs = MakePairs(rng, 600, /*clustered=*/true);
  Hash256 expected = RefHash(Sorted(pairs), 0);
  for (int trial = 0; trial < 5; ++trial) {
    std::shuffle(pairs.begin(), pairs.end(), rng);
    MemStore store;
    SparseMerkleTree tree(&store, /*cache_nodes=*/trial == 4 ? 3 : 1 << 16);
    size_t at = 0;
    while (at < pairs.size()) {
      size_t len = std::min<size_t>(pairs.size() - at, trial == 0 ? pairs.size() : 1 + rng() % 97);
      Apply(tree, store, std::span<const Pair>(pairs).subspan(at, len));
      at += len;
    }
    CHECK(tree.root() == expected);
    // A fresh tree over the same store sees the same root and the same stored nodes.
    SparseMerkleTree reopened(&store);
    CHECK(reopened.root() == expected);
  }
  // The stored nodes are the same too, whatever the order.
  MemStore a, b;
  SparseMerkleTree ta(&a), tb(&b);
  Apply(ta, a, pairs);
  std::reverse(pairs.begin(), pairs.end());
  for (const auto& kv : pairs) Apply(tb, b, std::vector<Pair>{kv});
  CHECK(a.nodes() == b.nodes());
}

TEST_CASE("smt: a key given twice in a batch keeps its last value, a no-op writes nothing") {
  std::mt19937_64 rng(7);
  MemStore store;
  SparseMerkleTree tree(&store);
  auto pairs = MakePairs(rng, 50, false);
  Apply(tree, store, pairs);
  Hash256 k = pairs[10].first;
  Hash256 v1 = RandomHash(rng), v2 = RandomHash(rng);
  std::vector<Pair> batch = {{k, v1}, pairs[3], {k, v2}};
  Apply(tree, store, batch);
  CHECK(**tree.GetValueHash(k) == v2);
  pairs[10].second = v2;
  CHECK(tree.root() == RefHash(Sorted(pairs), 0));
  // Writing values that are already there changes no node.
  auto u = tree.PrepareUpdate(pairs);
  REQUIRE(u.ok());
  CHECK(u->write_count() == 0);
  CHECK(u->root == tree.root());
  tree.Commit(*u);
}

TEST_CASE("smt: updating one key rewrites only its path, its old proof fails, the new verifies") {
  std::mt19937_64 rng(8);
  MemStore store;
  SparseMerkleTree tree(&store);
  auto pairs = MakePairs(rng, 3000, false);
  Hash256 old_root = Apply(tree, store, pairs);
  const auto& [k, v] = pairs[42];
  SmtProof old_proof = MustProve(tree, k);
  Hash256 other = pairs[43].first;
  SmtProof other_old = MustProve(tree, other);

  Hash256 v_new = RandomHash(rng);
  auto u = tree.PrepareUpdate(std::vector<Pair>{{k, v_new}});
  REQUIRE(u.ok());
  // One node per nibble level the key's path passes through (its leaf is 4 bits per node).
  CHECK(u->write_count() == (old_proof.siblings.size() + 3) / 4);
  for (const std::string& node_key : u->node_keys) {
    CHECK(static_cast<size_t>(node_key[0]) * 4 < old_proof.siblings.size());
  }
  store.Write(*u);
  tree.Commit(*u);
  Hash256 new_root = tree.root();
  CHECK(new_root != old_root);
  CHECK_FALSE(VerifySmtProof(new_root, k, v, old_proof));
  CHECK_FALSE(VerifySmtProof(new_root, k, v_new, old_proof));
  SmtProof new_proof = MustProve(tree, k);
  CHECK(VerifySmtProof(new_root, k, v_new, new_proof));
  CHECK_FALSE(VerifySmtProof(new_root, k, v, new_proof));
  CHECK(new_proof.siblings == old_proof.siblings);  // Only the leaf changed below the root.
  // Another key: same value; its proof differs only where it shares the updated path.
  SmtProof other_new = MustProve(tree, other);
  CHECK(VerifySmtProof(new_root, other, pairs[43].second, other_new));
  CHECK_FALSE(VerifySmtProof(new_root, other, pairs[43].second, other_old));
  int shared = 0;
  while (Bit(k, shared) == Bit(other, shared)) ++shared;
  size_t n = other_new.siblings.size();
  for (size_t i = 0; i < n; ++i) {
    size_t depth = n - 1 - i;
    if (depth != static_cast<size_t>(shared)) CHECK(other_new.siblings[i] == other_old.siblings[i]);
  }
}

TEST_CASE("smt: proofs have about log2(n) siblings") {
  std::mt19937_64 rng(9);
  MemStore store;
  SparseMerkleTree tree(&store);
  const size_t n = 4096;
  auto pairs = MakePairs(rng, n, false);
  Apply(tree, store, pairs);
  double total = 0;
  size_t longest = 0;
  for (const auto& kv : pairs) {
    size_t len = MustProve(tree, kv.first).siblings.size();
    total += static_cast<double>(len);
    longest = std::max(longest, len);
  }
  double mean = total / n;
  MESSAGE("n=" << n << " mean siblings " << mean << ", longest " << longest);
  CHECK(mean > 11.0);
  CHECK(mean < 14.5);  // log2(4096) = 12, plus about 1.3 for random keys.
  CHECK(longest <= 2 * 12 + 4);
  CHECK(EncodeSmtProof(MustProve(tree, pairs[0].first)).size() < 4 + 64 + 4 + 32 * longest);
}

TEST_CASE("smt: damaged proofs are rejected") {
  std::mt19937_64 rng(10);
  MemStore store;
  SparseMerkleTree tree(&store);
  auto pairs = MakePairs(rng, 500, true);
  Hash256 root = Apply(tree, store, pairs);
  for (int i = 0; i < 100; ++i) {
    const auto& [k, v] = pairs[rng() % pairs.size()];
    SmtProof p = MustProve(tree, k);
    REQUIRE(VerifySmtProof(root, k, v, p));
    REQUIRE(!p.siblings.empty());
    const size_t n = p.siblings.size();

    SmtProof flipped = p;
    size_t at = rng() % n;
    flipped.siblings[at] = FlipBit(flipped.siblings[at], static_cast<int>(rng() % 256));
    CHECK_FALSE(VerifySmtProof(root, k, v, flipped));

    SmtProof dropped_top = p;
    dropped_top.siblings.pop_back();
    CHECK_FALSE(VerifySmtProof(root, k, v, dropped_top));
    SmtProof dropped_bottom = p;
    dropped_bottom.siblings.erase(dropped_bottom.siblings.begin());
    CHECK_FALSE(VerifySmtProof(root, k, v, dropped_bottom));

    for (const Hash256& extra : {SmtEmptyHash(), RandomHash(rng)}) {
      SmtProof added_top = p;
      added_top.siblings.push_back(extra);
      CHECK_FALSE(VerifySmtProof(root, k, v, added_top));
      SmtProof added_bottom = p;
      added_bottom.siblings.insert(added_bottom.siblings.begin(), extra);
      CHECK_FALSE(VerifySmtProof(root, k, v, added_bottom));
    }
    if (n >= 2 && p.siblings[0] != p.siblings[1]) {
      SmtProof swapped = p;
      std::swap(swapped.siblings[0], swapped.siblings[1]);
      CHECK_FALSE(VerifySmtProof(root, k, v, swapped));
    }
    // Another key's leaf and value in place of this one.
    const auto& [k2, v2] = pairs[rng() % pairs.size()];
    if (k2 != k) {
      SmtProof other_leaf = p;
      other_leaf.leaf = SmtLeaf{k2, v2};
      CHECK_FALSE(VerifySmtProof(root, k, v, other_leaf));
      CHECK_FALSE(VerifySmtProof(root, k, std::nullopt, other_leaf));
      CHECK_FALSE(VerifySmtProof(root, k2, v2, other_leaf));
    }
    SmtProof no_leaf = p;
    no_leaf.leaf.reset();
    CHECK_FALSE(VerifySmtProof(root, k, std::nullopt, no_leaf));
    CHECK_FALSE(VerifySmtProof(root, k, v, no_leaf));
    // The right proof against the wrong root.
    CHECK_FALSE(VerifySmtProof(FlipBit(root, 0), k, v, p));
    CHECK_FALSE(VerifySmtProof(SmtEmptyHash(), k, v, p));
  }
  // More than 256 siblings is never accepted.
  SmtProof huge;
  huge.siblings.assign(257, SmtEmptyHash());
  CHECK_FALSE(VerifySmtProof(SmtEmptyHash(), pairs[0].first, std::nullopt, huge));
}

TEST_CASE("smt: proof encoding round-trips, is canonical and compresses EMPTY siblings") {
  std::mt19937_64 rng(11);
  MemStore store;
  SparseMerkleTree tree(&store);
  auto pairs = MakePairs(rng, 300, true);
  Hash256 root = Apply(tree, store, pairs);
  for (int i = 0; i < 200; ++i) {
    Hash256 k = i % 2 ? pairs[rng() % pairs.size()].first : RandomHash(rng);
    SmtProof p = MustProve(tree, k);
    std::string enc = EncodeSmtProof(p);
    CHECK(enc.size() <= kSmtMaxProofBytes);
    auto dec = DecodeSmtProof(enc);
    REQUIRE(dec.ok());
    CHECK(*dec == p);
    auto v = tree.GetValueHash(k);
    CHECK(VerifySmtProof(root, k, *v, *dec));
  }
  // The 256-sibling proof is mostly EMPTY siblings and stays small.
  Hash256 a = RandomHash(rng);
  MemStore s2;
  SparseMerkleTree t2(&s2);
  Apply(t2, s2, std::vector<Pair>{{a, a}, {FlipBit(a, 255), a}});
  SmtProof deep = MustProve(t2, a);
  REQUIRE(deep.siblings.size() == 256);
  std::string enc = EncodeSmtProof(deep);
  CHECK(enc.size() == 4 + 64 + 32 + 32);
  CHECK(*DecodeSmtProof(enc) == deep);
  // Edge sizes: no siblings, exactly 8, exactly 256.
  for (size_t n : {size_t{0}, size_t{8}, size_t{256}}) {
    SmtProof q;
    for (size_t j = 0; j < n; ++j) q.siblings.push_back(j % 3 ? RandomHash(rng) : SmtEmptyHash());
    auto d = DecodeSmtProof(EncodeSmtProof(q));
    REQUIRE(d.ok());
    CHECK(*d == q);
  }
}

TEST_CASE("smt: proof decoding rejects malformed bytes and never crashes on garbage") {
  std::mt19937_64 rng(12);
  MemStore store;
  SparseMerkleTree tree(&store);
  auto pairs = MakePairs(rng, 200, true);
  Apply(tree, store, pairs);
  SmtProof p = MustProve(tree, pairs[0].first);
  const std::string good = EncodeSmtProof(p);
  // Every truncation and every extension.
  for (size_t len = 0; len < good.size(); ++len)
    CHECK_FALSE(DecodeSmtProof(good.substr(0, len)).ok());
  CHECK_FALSE(DecodeSmtProof(good + std::string(1, '\0')).ok());
  CHECK_FALSE(DecodeSmtProof(good + std::string(32, 'x')).ok());
  // Header fields.
  auto with = [&](size_t at, char c) {
    std::string s = good;
    s[at] = c;
    return s;
  };
  CHECK_FALSE(DecodeSmtProof(with(0, 2)).ok());     // Version.
  CHECK_FALSE(DecodeSmtProof(with(1, 0x03)).ok());  // Unknown flag.
  CHECK_FALSE(DecodeSmtProof(with(1, 0x00)).ok());  // Leaf flag cleared.
  std::string many = "\x01\x00\x01\x01";            // 257 siblings.
  many += std::string(33, '\xff');
  CHECK_FALSE(DecodeSmtProof(many).ok());
  CHECK_FALSE(DecodeSmtProof(std::string("\x01\x00\xff\xff", 4)).ok());
  // Stray bits past the last sibling, and an EMPTY sibling written out in full.
  SmtProof three;
  three.siblings = {RandomHash(rng), RandomHash(rng), RandomHash(rng)};
  std::string e3 = EncodeSmtProof(three);
  std::string stray = e3;
  stray[4] = static_cast<char>(0x01);
  CHECK_FALSE(DecodeSmtProof(stray).ok());
  SmtProof explicit_empty;
  explicit_empty.siblings = {RandomHash(rng)};
  std::string e1 = EncodeSmtProof(explicit_empty);
  e1.replace(5, 32, SmtEmptyHash().view());
  CHECK_FALSE(DecodeSmtProof(e1).ok());
  // Random mutations and random garbage: decode either fails or gives back the same bytes.
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    if (i % 2 == 0) {
      s = good;
      int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits; ++e) {
        size_t at = rng() % s.size();
        switch (rng() % 3) {
          case 0:
            s[at] = static_cast<char>(rng());
            break;
          case 1:
            s.erase(at, 1 + rng() % 40);
            break;
          default:
            s.insert(at, std::string(1 + rng() % 40, static_cast<char>(rng())));
            break;
        }
        if (s.empty()) break;
      }
    } else {
      s.resize(rng() % 400);
      for (char& c : s) c = static_cast<char>(rng());
      if (s.size() >= 4 && rng() % 2) s[0] = 1, s[1] = static_cast<char>(rng() % 2), s[2] = 0;
    }
    auto d = DecodeSmtProof(s);
    if (d.ok()) CHECK(EncodeSmtProof(*d) == s);
  }
}

TEST_CASE("smt: corrupt or missing stored nodes give Corruption, never a crash") {
  std::mt19937_64 rng(13);
  MemStore store;
  auto pairs = MakePairs(rng, 400, false);
  {
    SparseMerkleTree tree(&store);
    Apply(tree, store, pairs);
  }
  const auto pristine = store.nodes();
  // A deep node: pick one under the root.
  std::string victim;
  for (const auto& [k, v] : pristine) {
    if (k[0] == 2) victim = k;
  }
  REQUIRE(!victim.empty());
  // Find a key whose path goes through the victim.
  Hash256 through;
  for (const auto& kv : pairs) {
    if (kv.first.bytes[0] == static_cast<uint8_t>(victim[1])) through = kv.first;
  }
  auto expect_corruption = [&](const char* what) {
    CAPTURE(what);
    SparseMerkleTree tree(&store, 16, std::chrono::milliseconds(0));
    REQUIRE(tree.status().ok());
    auto p = tree.Prove(through);
    CHECK_FALSE(p.ok());
    CHECK(p.status().code() == StatusCode::kCorruption);
    auto g = tree.GetValueHash(through);
    CHECK(g.status().code() == StatusCode::kCorruption);
    auto u = tree.PrepareUpdate(std::vector<Pair>{{through, RandomHash(rng)}});
    CHECK(u.status().code() == StatusCode::kCorruption);
    store.nodes() = pristine;
  };
  auto& nodes = store.nodes();
  nodes.erase(victim);
  expect_corruption("missing");
  nodes[victim].resize(3);
  expect_corruption("truncated");
  nodes[victim].push_back('\0');
  expect_corruption("extended");
  nodes[victim][0] = 9;
  expect_corruption("unknown format");
  nodes[victim][1] = static_cast<char>(0xff);
  nodes[victim][3] = static_cast<char>(0xff);
  expect_corruption("leaf and reference bits overlap");
  nodes[victim].back() ^= 1;
  expect_corruption("a flipped bit");
  nodes[victim] = std::string(nodes[victim].size(), '\0');
  expect_corruption("zeroed");
  // Another node's (valid) bytes in this node's place.
  for (const auto& [k, v] : pristine) {
    if (k != victim && k[0] == 2) {
      nodes[victim] = v;
      break;
    }
  }
  expect_corruption("another node's bytes");
  // Random damage to any node below the root: any outcome but a crash, and Corruption whenever
  // the answer would be wrong. (Damage to the root node itself changes the root, which the
  // ledger catches by comparing it with the head's state root.)
  for (int i = 0; i < 300; ++i) {
    auto it = nodes.begin();
    std::advance(it, static_cast<long>(1 + rng() % (nodes.size() - 1)));
    std::string& bytes = it->second;
    if (rng() % 4 == 0) {
      bytes.resize(rng() % (bytes.size() + 8));
    } else if (!bytes.empty()) {
      bytes[rng() % bytes.size()] ^= static_cast<char>(1 + rng() % 255);
    }
    SparseMerkleTree tree(&store, 16, std::chrono::milliseconds(0));
    if (!tree.status().ok()) {
      CHECK(tree.status().code() == StatusCode::kCorruption);
    } else {
      for (int j = 0; j < 4; ++j) {
        const auto& [k, v] = pairs[rng() % pairs.size()];
        auto p = tree.Prove(k);
        if (p.ok()) {
          // A proof served from damaged nodes must at least be honest about its root.
          CHECK(VerifySmtProof(tree.root(), k, v, *p));
        } else {
          CHECK(p.status().code() == StatusCode::kCorruption);
        }
      }
    }
    store.nodes() = pristine;
  }
  // A damaged root node is reported at construction.
  nodes[std::string(1, '\0')].resize(7);
  SparseMerkleTree broken(&store);
  CHECK(broken.status().code() == StatusCode::kCorruption);
  CHECK(broken.root() == Hash256());
  CHECK(broken.Prove(through).status().code() == StatusCode::kCorruption);
}

TEST_CASE("smt: a prepared update that is never committed changes nothing") {
  std::mt19937_64 rng(14);
  MemStore store;
  SparseMerkleTree tree(&store, 8);
  auto pairs = MakePairs(rng, 300, false);
  Hash256 root = Apply(tree, store, pairs);
  auto more = MakePairs(rng, 50, false);
  auto u = tree.PrepareUpdate(more);  // Say the batch write then fails: no Write, no Commit.
  REQUIRE(u.ok());
  CHECK(u->root != root);
  CHECK(tree.root() == root);
  for (const auto& [k, v] : pairs) CHECK(VerifySmtProof(root, k, v, MustProve(tree, k)));
  for (const auto& [k, v] : more) CHECK(VerifySmtProof(root, k, std::nullopt, MustProve(tree, k)));
  // The next prepared update starts from the committed tree and succeeds.
  Hash256 after = Apply(tree, store, more);
  CHECK(after == u->root);
}

TEST_CASE("smt: a tiny cache gives the same answers and counts hits and misses") {
  std::mt19937_64 rng(15);
  MemStore store;
  auto pairs = MakePairs(rng, 1000, true);
  SparseMerkleTree big(&store);
  Hash256 root = Apply(big, store, pairs);
  SparseMerkleTree tiny(&store, 1);
  CHECK(tiny.root() == root);
  for (int i = 0; i < 200; ++i) {
    const auto& [k, v] = pairs[rng() % pairs.size()];
    SmtProof a = MustProve(big, k);
    SmtProof b = MustProve(tiny, k);
    CHECK(a == b);
  }
  auto stats = tiny.cache_stats();
  CHECK(stats.nodes <= 1);
  CHECK(stats.misses > 0);
  CHECK(big.cache_stats().hits > 0);
}

TEST_CASE("smt: reads racing a commit answer from a committed root") {
  std::mt19937_64 rng(16);
  MemStore store;
  SparseMerkleTree tree(&store, 64);
  auto pairs = MakePairs(rng, 500, false);
  std::mutex roots_mu;
  std::set<Hash256> roots = {Apply(tree, store, pairs)};
  std::atomic<bool> done{false};
  std::atomic<int> failures{0}, proofs{0};
  auto reader = [&](uint64_t seed) {
    std::mt19937_64 r(seed);
    while (!done) {
      const Hash256& k = pairs[r() % pairs.size()].first;
      auto p = tree.Prove(k);
      auto v = tree.GetValueHash(k);
      if (!p.ok() || !v.ok() || !v->has_value()) {
        ++failures;
        continue;
      }
      std::lock_guard lock(roots_mu);
      bool any = false;
      for (const Hash256& root : roots)
        any = any || VerifySmtProof(root, k, p->leaf->value_hash, *p);
      if (!any) ++failures;
      ++proofs;
    }
  };
  std::thread t1(reader, 1), t2(reader, 2);
  for (int round = 0; round < 30; ++round) {
    std::vector<Pair> batch;
    for (int j = 0; j < 20; ++j)
      batch.emplace_back(pairs[rng() % pairs.size()].first, RandomHash(rng));
    auto u = tree.PrepareUpdate(batch);
    REQUIRE(u.ok());
    {
      std::lock_guard lock(roots_mu);
      roots.insert(u->root);
    }
    store.Write(*u);  // On "disk" now, not yet in the tree: readers meet both versions.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    tree.Commit(*u);
  }
  done = true;
  t1.join();
  t2.join();
  MESSAGE(proofs.load() << " proofs during 30 commits");
  CHECK(failures == 0);
  CHECK(proofs > 0);
}

namespace {

// An update's writes, in order, as (node key, encoded node).
std::vector<std::pair<std::string, std::string>> Writes(const SmtUpdate& u) {
  std::vector<std::pair<std::string, std::string>> out;
  u.ForEachWrite([&](std::string_view k, std::string_view v) { out.emplace_back(k, v); });
  return out;
}

}  // namespace

TEST_CASE("smt: preparing on several threads gives the same root and writes as on one") {
  std::mt19937_64 rng(17);
  for (bool clustered : {false, true}) {
    CAPTURE(clustered);
    MemStore store;
    // One tree per thread count over the same store; a tiny cache on one of them, so that its
    // threads read from the store at the same time.
    SparseMerkleTree serial(&store, 1 << 16, SparseMerkleTree::kDefaultCommitWait, 1);
    SparseMerkleTree two(&store, 1 << 16, SparseMerkleTree::kDefaultCommitWait, 2);
    SparseMerkleTree five(&store, 8, SparseMerkleTree::kDefaultCommitWait, 5);
    SparseMerkleTree many(&store, 1 << 16, SparseMerkleTree::kDefaultCommitWait, 16);
    SparseMerkleTree* parallel[] = {&two, &five, &many};
    std::vector<Pair> all;
    for (int round = 0; round < 14; ++round) {
      CAPTURE(round);
      // Sizes around the threshold and well above it; the first batch builds the tree from
      // nothing.
      const size_t sizes[] = {1000, 1, 63, 64, 65, 200, 3000};
      const size_t n = sizes[static_cast<size_t>(round) % std::size(sizes)];
      std::vector<Pair> batch;
      auto fresh = MakePairs(rng, n, clustered);
      for (size_t i = 0; i < n; ++i) {
        switch (all.empty() ? 0 : rng() % 4) {
          case 0:
          case 1:
            batch.push_back(fresh[i]);  // A new key (or, rarely, a clash with an old one).
            break;
          case 2:
            batch.emplace_back(all[rng() % all.size()].first, RandomHash(rng));  // A new value.
            break;
          default:
            batch.push_back(all[rng() % all.size()]);  // The same value: changes nothing.
            break;
        }
      }
      if (round == 5) {
        // Every key under one slot of the root: nothing to share out.
        for (auto& [k, v] : batch) k.bytes[0] = static_cast<uint8_t>((k.bytes[0] & 0x0f) | 0x30);
      }
      auto want = serial.PrepareUpdate(batch);
      REQUIRE_MESSAGE(want.ok(), want.status().ToString());
      const auto want_writes = Writes(*want);
      std::set<std::string> distinct;
      for (const auto& w : want_writes) distinct.insert(w.first);
      CHECK(distinct.size() == want_writes.size());  // Each changed node once.
      std::vector<SmtUpdate> updates;
      for (SparseMerkleTree* t : parallel) {
        auto got = t->PrepareUpdate(batch);
        REQUIRE_MESSAGE(got.ok(), got.status().ToString());
        CHECK(got->root == want->root);
        CHECK(got->node_keys == want->node_keys);
        CHECK(Writes(*got) == want_writes);
        updates.push_back(std::move(got).value());
      }
      store.Write(*want);
      serial.Commit(*want);
      for (size_t i = 0; i < updates.size(); ++i) parallel[i]->Commit(updates[i]);

      std::map<Hash256, Hash256> merged(all.begin(), all.end());
      for (const auto& [k, v] : batch) merged[k] = v;
      all.assign(merged.begin(), merged.end());
      for (SparseMerkleTree* t : parallel) CHECK(t->root() == serial.root());
    }
    REQUIRE(serial.root() == RefHash(all, 0));
    // Proofs through the trees that prepared in parallel agree with the definition.
    for (int i = 0; i < 20; ++i) {
      const Hash256& k = all[rng() % all.size()].first;
      const SmtProof want = RefProof(all, k);
      for (SparseMerkleTree* t : parallel) CHECK(MustProve(*t, k) == want);
    }
  }
}

TEST_CASE("smt: preparing on several threads reports the same corruption as on one") {
  std::mt19937_64 rng(18);
  MemStore store;
  auto pairs = MakePairs(rng, 2000, false);
  {
    SparseMerkleTree tree(&store, 1 << 16, SparseMerkleTree::kDefaultCommitWait, 1);
    Apply(tree, store, pairs);
  }
  const auto pristine = store.nodes();
  std::vector<Pair> batch;
  for (int i = 0; i < 500; ++i)
    batch.emplace_back(pairs[rng() % pairs.size()].first, RandomHash(rng));
  int corrupt = 0;
  for (int trial = 0; trial < 20; ++trial) {
    // Damage one or two nodes below the root, missing or with a flipped bit.
    for (int d = 0; d < 1 + trial % 2; ++d) {
      auto it = store.nodes().begin();
      std::advance(it, static_cast<long>(1 + rng() % (store.nodes().size() - 1)));
      if (rng() % 2) {
        store.nodes().erase(it);
      } else {
        it->second[rng() % it->second.size()] ^= 0x10;
      }
    }
    SparseMerkleTree serial(&store, 16, std::chrono::milliseconds(0), 1);
    SparseMerkleTree parallel(&store, 16, std::chrono::milliseconds(0), 4);
    auto a = serial.PrepareUpdate(batch);
    auto b = parallel.PrepareUpdate(batch);
    CHECK(a.ok() == b.ok());
    CHECK(a.status().ToString() == b.status().ToString());
    if (a.ok() && b.ok()) CHECK(Writes(*a) == Writes(*b));
    corrupt += a.ok() ? 0 : 1;
    store.nodes() = pristine;
  }
  CHECK(corrupt > 10);
}

TEST_CASE("smt: reads racing commits of batches prepared on several threads stay consistent") {
  std::mt19937_64 rng(19);
  MemStore store;
  SparseMerkleTree tree(&store, 256, SparseMerkleTree::kDefaultCommitWait, 4);
  auto pairs = MakePairs(rng, 3000, false);
  std::mutex roots_mu;
  std::set<Hash256> roots = {Apply(tree, store, pairs)};
  std::atomic<bool> done{false};
  std::atomic<int> failures{0}, proofs{0};
  auto reader = [&](uint64_t seed) {
    std::mt19937_64 r(seed);
    while (!done) {
      const Hash256& k = pairs[r() % pairs.size()].first;
      auto p = tree.Prove(k);
      if (!p.ok() || !p->leaf) {
        ++failures;
        continue;
      }
      std::lock_guard lock(roots_mu);
      bool any = false;
      for (const Hash256& root : roots)
        any = any || VerifySmtProof(root, k, p->leaf->value_hash, *p);
      if (!any) ++failures;
      ++proofs;
    }
  };
  std::thread t1(reader, 1), t2(reader, 2);
  for (int round = 0; round < 20; ++round) {
    std::vector<Pair> batch;
    for (int j = 0; j < 300; ++j)
      batch.emplace_back(pairs[rng() % pairs.size()].first, RandomHash(rng));
    auto u = tree.PrepareUpdate(batch);  // While the readers fill the cache.
    REQUIRE(u.ok());
    {
      std::lock_guard lock(roots_mu);
      roots.insert(u->root);
    }
    store.Write(*u);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    tree.Commit(*u);
  }
  done = true;
  t1.join();
  t2.join();
  MESSAGE(proofs.load() << " proofs during 20 commits");
  CHECK(failures == 0);
  CHECK(proofs > 0);
}
