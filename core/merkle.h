#pragma once

// RFC 6962 / RFC 9162 Merkle tree over byte-string leaves: the transactions of a block and any
// append-only log. All functions are pure and thread-safe.
//
//   leaf_hash(d)   = SHA-256(0x00 || d)
//   node_hash(l,r) = SHA-256(0x01 || l || r)
//   root([])       = SHA-256("")
//   root([d])      = leaf_hash(d)
//   root(D[0:n])   = node_hash(root(D[0:k]), root(D[k:n])), k the largest power of two < n
//
// The last node of an odd level is never duplicated (unlike Bitcoin), so no two different leaf
// lists share a root.

#include <cstdint>
#include <span>
#include <vector>

#include "core/bytes.h"

namespace hallmark::core {

Hash256 MerkleLeafHash(ByteSpan leaf);
Hash256 MerkleNodeHash(const Hash256& left, const Hash256& right);

// The root of the tree whose leaves hash to `leaf_hashes`; SHA-256("") for none. Iterative,
// O(n) hashes and O(log n) memory.
Hash256 MerkleRoot(std::span<const Hash256> leaf_hashes);

// The audit path of leaf `index` (RFC 9162 §2.1.3.1), leaf side first.
// REQUIRES: index < leaf_hashes.size().
std::vector<Hash256> MerkleInclusionProof(std::span<const Hash256> leaf_hashes, uint64_t index);

// True iff `proof` shows that `leaf_hash` is leaf `index` of the tree of `size` leaves whose
// root is `root` (RFC 9162 §2.1.3.2). Rejects index >= size and any proof of the wrong length,
// so a short proof can never pass an inner node off as a leaf. `root` must be the signed one.
bool VerifyMerkleInclusion(const Hash256& leaf_hash, uint64_t index, uint64_t size,
                           std::span<const Hash256> proof, const Hash256& root);

// The consistency proof between the tree of the first `old_size` leaves and the tree of all of
// `leaf_hashes` (RFC 9162 §2.1.4.1). Empty when old_size is 0 or equals the full size.
// REQUIRES: old_size <= leaf_hashes.size().
std::vector<Hash256> MerkleConsistencyProof(std::span<const Hash256> leaf_hashes,
                                            uint64_t old_size);

// True iff `proof` shows that the tree of `old_size` leaves with root `old_root` is a prefix of
// the tree of `new_size` leaves with root `new_root` (RFC 9162 §2.1.4.2, which verifies only
// 0 < old_size < new_size). Equal sizes need an empty proof and equal roots, and for size 0 both
// must be SHA-256(""), the empty tree's root. Any old_size 0 < new_size is refused: RFC 9162
// defines no proof from the empty tree, and one would leave new_root unchecked.
bool VerifyMerkleConsistency(uint64_t old_size, uint64_t new_size, const Hash256& old_root,
                             const Hash256& new_root, std::span<const Hash256> proof);

}  // namespace hallmark::core
