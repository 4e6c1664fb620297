#include "core/merkle.h"

#include <algorithm>
#include <bit>

#include "core/crypto/sha256.h"
#include "core/status.h"

namespace hallmark::core {

namespace {

constexpr uint8_t kLeafPrefix = 0x00;
constexpr uint8_t kNodePrefix = 0x01;

// The largest power of two strictly below n. REQUIRES: n >= 2.
uint64_t SplitPoint(uint64_t n) {
  return std::bit_floor(n - 1);
}

}  // namespace

Hash256 MerkleLeafHash(ByteSpan leaf) {
  Sha256 h;
  h.Update(ByteSpan(&kLeafPrefix, 1));
  h.Update(leaf);
  return h.Finish();
}

Hash256 MerkleNodeHash(const Hash256& left, const Hash256& right) {
  uint8_t buf[1 + 2 * Hash256::kSize];
  buf[0] = kNodePrefix;
  std::copy(left.bytes.begin(), left.bytes.end(), buf + 1);
  std::copy(right.bytes.begin(), right.bytes.end(), buf + 1 + Hash256::kSize);
  // The incremental hasher: OpenSSL 3's one-shot SHA256() (behind Sha256Of) looks the
  // algorithm up on every call, which costs more than hashing 65 bytes.
  return Sha256().Update(ByteSpan(buf, sizeof(buf))).Finish();
}

Hash256 MerkleRoot(std::span<const Hash256> leaf_hashes) {
  if (leaf_hashes.empty()) return Sha256().Finish();
  // A stack of the roots of complete subtrees, heights strictly decreasing from the bottom. Two
  // subtrees of equal height merge at once; what is left at the end is folded from the right,
  // which is exactly the RFC's split at the largest power of two.
  struct Entry {
    Hash256 hash;
    int height;
  };
  Entry stack[65];
  int top = 0;
  for (const Hash256& leaf : leaf_hashes) {
    Entry e{leaf, 0};
    while (top > 0 && stack[top - 1].height == e.height) {
      e.hash = MerkleNodeHash(stack[top - 1].hash, e.hash);
      ++e.height;
      --top;
    }
    stack[top++] = e;
  }
  Hash256 h = stack[--top].hash;
  while (top > 0) h = MerkleNodeHash(stack[--top].hash, h);
  return h;
}

std::vector<Hash256> MerkleInclusionProof(std::span<const Hash256> leaf_hashes, uint64_t index) {
  HM_ASSERT(index < leaf_hashes.size());
  // RFC 9162 §2.1.3.1, unrolled: walk down from the root, collecting the root of the other side
  // at each split; the result lists them leaf side first.
  std::vector<Hash256> proof;
  uint64_t lo = 0;
  uint64_t hi = leaf_hashes.size();
  while (hi - lo > 1) {
    uint64_t k = SplitPoint(hi - lo);
    if (index - lo < k) {
      proof.push_back(MerkleRoot(leaf_hashes.subspan(lo + k, hi - lo - k)));
      hi = lo + k;
    } else {
      proof.push_back(MerkleRoot(leaf_hashes.subspan(lo, k)));
      lo += k;
    }
  }
  std::reverse(proof.begin(), proof.end());
  return proof;
}

bool VerifyMerkleInclusion(const Hash256& leaf_hash, uint64_t index, uint64_t size,
                           std::span<const Hash256> proof, const Hash256& root) {
  // RFC 9162 §2.1.3.2, written as the loop in docs: the inner part of the path climbs from the
  // leaf while the leaf's and the last leaf's paths differ; the border part only joins left
  // siblings on the right edge of the tree.
  if (index >= size) return false;
  const uint64_t inner = static_cast<uint64_t>(std::bit_width(index ^ (size - 1)));
  const uint64_t border = static_cast<uint64_t>(std::popcount(index >> inner));
  if (proof.size() != inner + border) return false;
  Hash256 h = leaf_hash;
  for (uint64_t i = 0; i < inner; ++i) {
    h = ((index >> i) & 1) == 0 ? MerkleNodeHash(h, proof[i]) : MerkleNodeHash(proof[i], h);
  }
  for (uint64_t i = inner; i < proof.size(); ++i) h = MerkleNodeHash(proof[i], h);
  return h == root;
}

std::vector<Hash256> MerkleConsistencyProof(std::span<const Hash256> leaf_hashes,
                                            uint64_t old_size) {
  HM_ASSERT(old_size <= leaf_hashes.size());
  std::vector<Hash256> proof;
  if (old_size == 0 || old_size == leaf_hashes.size()) return proof;
  // RFC 9162 §2.1.4.1 SUBPROOF(m, D[lo:hi], b), unrolled. Each step appends after its recursive
  // call in the RFC, so the hashes are collected top-down and reversed at the end.
  uint64_t lo = 0;
  uint64_t hi = leaf_hashes.size();
  uint64_t m = old_size;
  bool complete = true;  // The RFC's b: the subtree so far is the whole old tree.
  while (m != hi - lo) {
    uint64_t k = SplitPoint(hi - lo);
    if (m <= k) {
      proof.push_back(MerkleRoot(leaf_hashes.subspan(lo + k, hi - lo - k)));
      hi = lo + k;
    } else {
      proof.push_back(MerkleRoot(leaf_hashes.subspan(lo, k)));
      lo += k;
      m -= k;
      complete = false;
    }
  }
  if (!complete) proof.push_back(MerkleRoot(leaf_hashes.subspan(lo, hi - lo)));
  std::reverse(proof.begin(), proof.end());
  return proof;
}

bool VerifyMerkleConsistency(uint64_t old_size, uint64_t new_size, const Hash256& old_root,
                             const Hash256& new_root, std::span<const Hash256> proof) {
  if (old_size > new_size) return false;
  if (old_size == new_size) {
    // The same tree: nothing to prove. The empty tree has exactly one root, MTH({}) =
    // SHA-256("") (RFC 9162 §2.1.1), so two equal but arbitrary roots of size 0 prove nothing.
    if (!proof.empty() || old_root != new_root) return false;
    return old_size != 0 || old_root == Sha256().Finish();
  }
  // RFC 9162 §2.1.4.2 verifies only 0 < first < second. From the empty tree there is nothing to
  // check new_root against, so such a "proof" could never fail: refuse it rather than pass it.
  if (old_size == 0) return false;
  // RFC 9162 §2.1.4.2, step 1.
  if (proof.empty()) return false;
  size_t next = 0;
  Hash256 first;
  if (std::has_single_bit(old_size)) {
    first = old_root;  // The old tree is a complete subtree: its root starts the path.
  } else {
    first = proof[next++];
  }
  uint64_t fn = old_size - 1;
  uint64_t sn = new_size - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash256 fr = first;
  Hash256 sr = first;
  for (; next < proof.size(); ++next) {
    const Hash256& c = proof[next];
    if (sn == 0) return false;
    if ((fn & 1) != 0 || fn == sn) {
      fr = MerkleNodeHash(c, fr);
      sr = MerkleNodeHash(c, sr);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = MerkleNodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return fr == old_root && sr == new_root && sn == 0;
}

}  // namespace hallmark::core
