#include "core/smt.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <iterator>
#include <mutex>
#include <system_error>
#include <thread>

#include "core/crypto/sha256.h"

namespace hallmark::core {

namespace {

constexpr std::string_view kLeafTag = "hallmark/smt/leaf";
constexpr std::string_view kNodeTag = "hallmark/smt/node";
constexpr std::string_view kEmptyTag = "hallmark/smt/empty";

// SHA-256(tag || a || b) as one Update: both tags are 17 bytes, so 81 bytes, two blocks. (The
// incremental hasher, not Sha256Of: OpenSSL 3's one-shot SHA256() looks the algorithm up on
// every call, which costs more than the hashing.)
Hash256 TaggedHash(std::string_view tag, const Hash256& a, const Hash256& b) {
  uint8_t buf[32 + 2 * Hash256::kSize];
  std::memcpy(buf, tag.data(), tag.size());
  std::memcpy(buf + tag.size(), a.data(), Hash256::kSize);
  std::memcpy(buf + tag.size() + Hash256::kSize, b.data(), Hash256::kSize);
  return Sha256().Update(ByteSpan(buf, tag.size() + 2 * Hash256::kSize)).Finish();
}

// Bit `depth` of the key; bit 0 is the most significant bit of byte 0.
int KeyBit(const Hash256& key, int depth) {
  return (key.bytes[static_cast<size_t>(depth / 8)] >> (7 - depth % 8)) & 1;
}

// Nibble `index` of the key (0..63); nibble 0 is the high half of byte 0.
int KeyNibble(const Hash256& key, int index) {
  uint8_t b = key.bytes[static_cast<size_t>(index / 2)];
  return index % 2 == 0 ? b >> 4 : b & 0x0f;
}

int CommonPrefixBits(const Hash256& a, const Hash256& b) {
  for (size_t i = 0; i < Hash256::kSize; ++i) {
    uint8_t x = a.bytes[i] ^ b.bytes[i];
    if (x != 0) return static_cast<int>(i * 8) + std::countl_zero(x);
  }
  return 256;
}

// Node keys: one byte holding the number of nibbles of the path (0..63), then the path's
// nibbles packed two to a byte, the last low half zero when the count is odd. The root is "\0".
std::string NodeKey(const Hash256& any_key_below, int nibbles) {
  std::string out;
  out.reserve(1 + static_cast<size_t>(nibbles + 1) / 2);
  out.push_back(static_cast<char>(nibbles));
  for (int i = 0; i < nibbles / 2; ++i) {
    out.push_back(static_cast<char>(any_key_below.bytes[static_cast<size_t>(i)]));
  }
  if (nibbles % 2 != 0) {
    out.push_back(static_cast<char>(any_key_below.bytes[static_cast<size_t>(nibbles / 2)] & 0xf0));
  }
  return out;
}

// Inside a stored node the 16 children and the 15 binary nodes above them are numbered as a
// heap: 1 is the node itself, position p has children 2p (bit 0) and 2p + 1 (bit 1), and the
// children (slots) are 16..31. kRangeMask[p] has bit s set for each slot s below position p.
constexpr std::array<uint16_t, 32> MakeRangeMasks() {
  std::array<uint16_t, 32> masks{};
  for (int p = 1; p < 32; ++p) {
    int level = std::bit_width(static_cast<unsigned>(p)) - 1;
    int width = 16 >> level;
    int first = (p - (1 << level)) * width;
    masks[static_cast<size_t>(p)] = static_cast<uint16_t>(((1u << width) - 1) << first);
  }
  return masks;
}
constexpr std::array<uint16_t, 32> kRangeMask = MakeRangeMasks();

constexpr uint8_t kNodeFormat = 1;
constexpr size_t kNodeHeaderBytes = 5;
constexpr uint8_t kProofFormat = 1;
constexpr uint8_t kProofHasLeaf = 0x01;

// A read that meets a mix of old and new nodes starts again at most this often.
constexpr int kMaxReadAttempts = 4;

// PrepareUpdate shares out the root's subtrees among threads only for batches this large:
// below it, starting a thread costs more than it saves.
constexpr size_t kMinItemsForThreads = 64;

// One thread per hardware thread, at most one per slot of the root.
size_t DefaultPrepareThreads() {
  return std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 16);
}

uint16_t Bit16(int s) {
  return static_cast<uint16_t>(1u << s);
}
// Population count of a 16-bit mask without a libgcc call (the build does not assume POPCNT).
int Pop16(unsigned x) {
  x = x - ((x >> 1) & 0x5555u);
  x = (x & 0x3333u) + ((x >> 2) & 0x3333u);
  x = (x + (x >> 4)) & 0x0f0fu;
  return static_cast<int>((x + (x >> 8)) & 0x1fu);
}
int Ctz(unsigned mask) {
  return std::countr_zero(mask);
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
constexpr bool kAddressSanitizer = __has_feature(address_sanitizer);
#else
constexpr bool kAddressSanitizer = false;
#endif

// Memory for decoded nodes, recycled by size. A node takes 44 + 32 * count bytes, often over
// 1 KiB, which glibc serves from its slow large-chunk bins; and a block commit frees about as
// many nodes (the versions it replaces in the cache) as the next block allocates, mostly of the
// same sizes. So a stack of free blocks per count keeps both cheap (and, unlike a list threaded
// through the blocks, takes one without touching its cold memory). Bounded: at most kMaxBytes
// and kStackSize blocks per count; beyond that memory goes back to the allocator. Thread-safe:
// nodes are released on whichever thread drops the last reference.
class NodePool {
 public:
  static constexpr size_t kMaxCount = 15 + 3 * 16;
  static constexpr size_t kMaxBytes = size_t{8} << 20;
  static constexpr size_t kStackSize = 2048;
  static constexpr bool kBypass = kAddressSanitizer;  // Let it see every node's lifetime.

  // Never destroyed, so that nodes released during static destruction still find it.
  static NodePool& Get() {
    static NodePool* const pool = new NodePool();
    return *pool;
  }

  void* Allocate(size_t bytes, size_t count) {
    if constexpr (kBypass) return ::operator new(bytes);
    {
      std::lock_guard lock(mu_);
      Stack& stack = free_[count];
      if (stack.size != 0) {
        held_bytes_ -= bytes;
        return stack.blocks[--stack.size];
      }
    }
    return ::operator new(bytes);
  }

  void Free(void* p, size_t bytes, size_t count) {
    if constexpr (kBypass) return ::operator delete(p);
    {
      std::lock_guard lock(mu_);
      Stack& stack = free_[count];
      if (held_bytes_ + bytes <= kMaxBytes && stack.size < kStackSize) {
        stack.blocks[stack.size++] = p;
        held_bytes_ += bytes;
        return;
      }
    }
    ::operator delete(p);
  }

 private:
  struct Stack {
    size_t size = 0;
    std::array<void*, kStackSize> blocks;
  };
  NodePool() = default;

  std::mutex mu_;
  std::array<Stack, kMaxCount + 1> free_;  // Guarded by mu_; by count. About 1 MiB.
  size_t held_bytes_ = 0;                  // Guarded by mu_.
};

}  // namespace

Hash256 SmtLeafHash(const Hash256& key, const Hash256& value_hash) {
  return TaggedHash(kLeafTag, key, value_hash);
}

Hash256 SmtInnerHash(const Hash256& left, const Hash256& right) {
  return TaggedHash(kNodeTag, left, right);
}

const Hash256& SmtEmptyHash() {
  static const Hash256 empty = Sha256().Update(kEmptyTag).Finish();
  return empty;
}

// A decoded stored node, immutable once built and shared between the cache, readers and
// updates through SmtNodeRef. One allocation holds the reference count, the header below and
// `count` hashes right after it, in order: the hash of each inner binary position (bit p of
// inner_bits, p = 1..15, ascending), then for each non-empty slot in slot order either key,
// value_hash, leaf hash (a leaf) or the child's hash (a reference to a deeper node). A position
// is inner when its range holds two or more children, or a single reference: a single leaf
// collapses into the leaf. hash_at[p] indexes the hash of position p (for a collapsed position,
// its leaf's hash), kNone when the position is empty.
struct SmtNode {
  static constexpr uint8_t kNone = 0xff;
  mutable std::atomic<uint32_t> refs{1};
  uint16_t leaf_bits = 0;
  uint16_t ref_bits = 0;
  uint16_t inner_bits = 0;
  uint8_t count = 0;
  std::array<uint8_t, 32> hash_at{};

  // A node with room for `count` hashes (left unset) and one reference, held by the result.
  static size_t Bytes(size_t count) { return sizeof(SmtNode) + count * sizeof(Hash256); }
  static SmtNode* Create(size_t count) {
    HM_ASSERT(count <= NodePool::kMaxCount);
    void* mem = NodePool::Get().Allocate(Bytes(count), count);
    SmtNode* node = new (mem) SmtNode();
    node->count = static_cast<uint8_t>(count);
    return node;
  }
  // A copy of `other` with its own reference count.
  static SmtNode* Copy(const SmtNode& other) {
    SmtNode* node = Create(other.count);
    node->leaf_bits = other.leaf_bits;
    node->ref_bits = other.ref_bits;
    node->inner_bits = other.inner_bits;
    node->hash_at = other.hash_at;
    std::memcpy(static_cast<void*>(node->h()), other.h(), other.count * sizeof(Hash256));
    return node;
  }
  static SmtNodeRef Adopt(SmtNode* node) { return SmtNodeRef(node); }
  static void Release(SmtNode* node) {
    if (node->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      const size_t count = node->count;
      node->~SmtNode();
      NodePool::Get().Free(node, Bytes(count), count);
    }
  }

  Hash256* h() { return reinterpret_cast<Hash256*>(this + 1); }
  const Hash256* h() const { return reinterpret_cast<const Hash256*>(this + 1); }
  bool IsLeaf(int s) const { return (leaf_bits & Bit16(s)) != 0; }
  bool IsRef(int s) const { return (ref_bits & Bit16(s)) != 0; }
  // REQUIRES: IsLeaf(s).
  SmtLeaf Leaf(int s) const {
    size_t at = hash_at[static_cast<size_t>(16 + s)];
    return {h()[at - 2], h()[at - 1]};
  }
  const Hash256& HashAt(int pos) const {
    uint8_t at = hash_at[static_cast<size_t>(pos)];
    return at == kNone ? SmtEmptyHash() : h()[at];
  }
  const Hash256& hash() const { return HashAt(1); }
};
static_assert(alignof(Hash256) == 1);

SmtNodeRef::SmtNodeRef(const SmtNodeRef& other) : p_(other.p_) {
  if (p_ != nullptr) p_->refs.fetch_add(1, std::memory_order_relaxed);
}

SmtNodeRef::~SmtNodeRef() {
  if (p_ != nullptr) SmtNode::Release(p_);
}

namespace {
void EncodeNode(const SmtNode& node, std::string* out);
}  // namespace

void SmtUpdate::ForEachWrite(
    const std::function<void(std::string_view node_key, std::string_view bytes)>& put) const {
  HM_ASSERT(node_keys.size() == nodes.size());
  std::string buffer;
  for (size_t i = 0; i < nodes.size(); ++i) {
    // The nodes are cold by now; fetch the header of one a few ahead while encoding this one.
    if (i + 4 < nodes.size()) __builtin_prefetch(nodes[i + 4].get());
    EncodeNode(*nodes[i], &buffer);
    put(node_keys[i], buffer);
  }
}

namespace {

// A mutable, unpacked copy of a node: change slots, then Finish() rehashes only the binary
// positions above changed slots and packs the result.
class NodeBuilder {
 public:
  explicit NodeBuilder(const SmtNode* base) {
    if (base == nullptr) return;
    leaf_bits_ = base->leaf_bits;
    ref_bits_ = base->ref_bits;
    for (int p = 1; p < 16; ++p) {
      if ((base->inner_bits >> p) & 1) inner_[p] = base->HashAt(p);
    }
    for (int s = 0; s < 16; ++s) {
      if (base->IsLeaf(s)) {
        SmtLeaf leaf = base->Leaf(s);
        key_[s] = leaf.key;
        value_[s] = leaf.value_hash;
        slot_hash_[s] = base->HashAt(16 + s);
      } else if (base->IsRef(s)) {
        slot_hash_[s] = base->HashAt(16 + s);
      }
    }
  }

  bool IsEmpty(int s) const { return ((leaf_bits_ | ref_bits_) & Bit16(s)) == 0; }
  bool IsLeaf(int s) const { return (leaf_bits_ & Bit16(s)) != 0; }

  // Puts a leaf in slot s, computing its leaf hash.
  void SetLeaf(int s, const Hash256& key, const Hash256& value_hash) {
    leaf_bits_ |= Bit16(s);
    ref_bits_ &= static_cast<uint16_t>(~Bit16(s));
    key_[s] = key;
    value_[s] = value_hash;
    slot_hash_[s] = SmtLeafHash(key, value_hash);
    dirty_ |= Bit16(s);
  }
  void SetRef(int s, const Hash256& child_hash) {
    ref_bits_ |= Bit16(s);
    leaf_bits_ &= static_cast<uint16_t>(~Bit16(s));
    slot_hash_[s] = child_hash;
    dirty_ |= Bit16(s);
  }

  SmtNodeRef Finish() {
    uint16_t inner_bits = 0;
    for (int p = 15; p >= 1; --p) {
      if (!IsInner(p)) continue;
      inner_bits |= Bit16(p);
      if ((dirty_ & kRangeMask[static_cast<size_t>(p)]) != 0) {
        inner_[p] = SmtInnerHash(HashAt(2 * p), HashAt(2 * p + 1));
      }
    }
    SmtNode* node = SmtNode::Create(
        static_cast<size_t>(Pop16(inner_bits) + 3 * Pop16(leaf_bits_) + Pop16(ref_bits_)));
    node->leaf_bits = leaf_bits_;
    node->ref_bits = ref_bits_;
    node->inner_bits = inner_bits;
    node->hash_at.fill(SmtNode::kNone);
    Hash256* out = node->h();
    uint8_t at = 0;
    for (int p = 1; p < 16; ++p) {
      if ((inner_bits >> p) & 1) {
        node->hash_at[static_cast<size_t>(p)] = at;
        new (&out[at++]) Hash256(inner_[p]);
      }
    }
    for (int s = 0; s < 16; ++s) {
      if (IsLeaf(s)) {
        new (&out[at++]) Hash256(key_[s]);
        new (&out[at++]) Hash256(value_[s]);
        node->hash_at[static_cast<size_t>(16 + s)] = at;
        new (&out[at++]) Hash256(slot_hash_[s]);
      } else if (!IsEmpty(s)) {
        node->hash_at[static_cast<size_t>(16 + s)] = at;
        new (&out[at++]) Hash256(slot_hash_[s]);
      }
    }
    HM_ASSERT(at == node->count);
    // Positions that are neither inner nor empty hold exactly one leaf: they take its hash.
    for (int p = 1; p < 16; ++p) {
      if ((inner_bits >> p) & 1) continue;
      uint16_t filled = (leaf_bits_ | ref_bits_) & kRangeMask[static_cast<size_t>(p)];
      if (filled != 0) node->hash_at[static_cast<size_t>(p)] = node->hash_at[16 + Ctz(filled)];
    }
    return SmtNode::Adopt(node);
  }

 private:
  bool IsInner(int p) const {
    uint16_t filled = (leaf_bits_ | ref_bits_) & kRangeMask[static_cast<size_t>(p)];
    return Pop16(filled) >= 2 || (filled & ref_bits_) != 0;
  }
  const Hash256& HashAt(int p) const {
    if (p >= 16) return IsEmpty(p - 16) ? SmtEmptyHash() : slot_hash_[p - 16];
    if (IsInner(p)) return inner_[p];
    uint16_t filled = (leaf_bits_ | ref_bits_) & kRangeMask[static_cast<size_t>(p)];
    if (filled == 0) return SmtEmptyHash();
    return slot_hash_[Ctz(filled)];
  }

  uint16_t leaf_bits_ = 0;
  uint16_t ref_bits_ = 0;
  uint16_t dirty_ = 0;
  Hash256 key_[16];
  Hash256 value_[16];
  Hash256 slot_hash_[16];  // The leaf hash, or the referenced child's hash.
  Hash256 inner_[16];      // Valid where inner; [0] unused.
};

// Replaces *out with the node's stored form.
void EncodeNode(const SmtNode& node, std::string* out_buffer) {
  std::string& out = *out_buffer;
  out.resize(kNodeHeaderBytes + 64 * static_cast<size_t>(Pop16(node.leaf_bits)) +
             32 * static_cast<size_t>(Pop16(node.ref_bits)));
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  p[0] = kNodeFormat;
  p[1] = static_cast<uint8_t>(node.leaf_bits >> 8);
  p[2] = static_cast<uint8_t>(node.leaf_bits & 0xff);
  p[3] = static_cast<uint8_t>(node.ref_bits >> 8);
  p[4] = static_cast<uint8_t>(node.ref_bits & 0xff);
  p += kNodeHeaderBytes;
  // In the node's hashes a leaf is key, value hash, leaf hash, and hash_at points at the last.
  const Hash256* h = node.h();
  for (unsigned filled = node.leaf_bits | node.ref_bits; filled != 0; filled &= filled - 1) {
    const int s = Ctz(filled);
    const size_t at = node.hash_at[static_cast<size_t>(16 + s)];
    if (node.IsLeaf(s)) {
      std::memcpy(p, h[at - 2].data(), 2 * Hash256::kSize);
      p += 2 * Hash256::kSize;
    } else {
      std::memcpy(p, h[at].data(), Hash256::kSize);
      p += Hash256::kSize;
    }
  }
  HM_ASSERT(p == reinterpret_cast<uint8_t*>(out.data()) + out.size());
}

std::string Describe(std::string_view node_key) {
  return "state tree node " + ToHex(node_key.substr(0, 1)) + "/" + ToHex(node_key.substr(1));
}

// Decodes a stored node found at the path of `nibbles` nibbles of `path_key`, checking
// everything that can be checked without its parent. Any failure is Corruption.
Result<SmtNodeRef> DecodeNode(std::string_view bytes, const Hash256& path_key, int nibbles,
                              bool is_root) {
  auto corrupt = [&](std::string why) {
    return Status::Corruption(Describe(NodeKey(path_key, nibbles)) + ": " + why);
  };
  if (bytes.size() < kNodeHeaderBytes) return corrupt("truncated");
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  if (p[0] != kNodeFormat) return corrupt("unknown format " + std::to_string(p[0]));
  const uint16_t leaf_bits = static_cast<uint16_t>(p[1] << 8 | p[2]);
  const uint16_t ref_bits = static_cast<uint16_t>(p[3] << 8 | p[4]);
  if ((leaf_bits & ref_bits) != 0) return corrupt("a slot is both leaf and reference");
  const size_t want = kNodeHeaderBytes + 64 * static_cast<size_t>(Pop16(leaf_bits)) +
                      32 * static_cast<size_t>(Pop16(ref_bits));
  if (bytes.size() != want) {
    return corrupt(std::to_string(bytes.size()) + " bytes, expected " + std::to_string(want));
  }
  const int children = Pop16(leaf_bits | ref_bits);
  if (children == 0) return corrupt("no children");
  if (!is_root && children == 1 && leaf_bits != 0) return corrupt("a lone leaf not collapsed");
  if (nibbles == 63 && ref_bits != 0) return corrupt("a reference below the last level");
  NodeBuilder b(nullptr);
  size_t at = kNodeHeaderBytes;
  for (int s = 0; s < 16; ++s) {
    if ((leaf_bits & Bit16(s)) != 0) {
      Hash256 key = Hash256::FromSpan(AsSpan(bytes.substr(at, 32)));
      Hash256 value = Hash256::FromSpan(AsSpan(bytes.substr(at + 32, 32)));
      at += 64;
      if (CommonPrefixBits(key, path_key) < 4 * nibbles || KeyNibble(key, nibbles) != s) {
        return corrupt("leaf " + key.Hex() + " is not under this node's path");
      }
      b.SetLeaf(s, key, value);
    } else if ((ref_bits & Bit16(s)) != 0) {
      b.SetRef(s, Hash256::FromSpan(AsSpan(bytes.substr(at, 32))));
      at += 32;
    }
  }
  return b.Finish();
}

struct KeyValue {
  Hash256 key;
  Hash256 value_hash;
};

// A new content for one slot of a node: a leaf (key a, value hash b) or a reference to a child
// (hash a).
struct SlotChange {
  int slot = 0;
  bool leaf = false;
  Hash256 a;
  Hash256 b;
};

// The common case of an update: every changed slot keeps its kind (a leaf gets a new value, a
// child a new hash). Copies the packed node, patches it and rehashes only the binary positions
// above the changed slots, without unpacking.
// REQUIRES: each change's slot already holds a leaf with the same key, or a reference.
SmtNodeRef WithNewValues(const SmtNode& base, std::span<const SlotChange> changes) {
  SmtNode* node = SmtNode::Copy(base);
  Hash256* h = node->h();
  uint16_t dirty = 0;
  for (const SlotChange& c : changes) {
    const size_t at = node->hash_at[static_cast<size_t>(16 + c.slot)];
    if (c.leaf) {
      HM_ASSERT(node->IsLeaf(c.slot) && h[at - 2] == c.a);
      h[at - 1] = c.b;
      h[at] = SmtLeafHash(c.a, c.b);
    } else {
      HM_ASSERT(node->IsRef(c.slot));
      h[at] = c.a;
    }
    dirty |= Bit16(c.slot);
  }
  for (int p = 15; p >= 1; --p) {
    if (((node->inner_bits >> p) & 1) && (dirty & kRangeMask[static_cast<size_t>(p)]) != 0) {
      h[node->hash_at[static_cast<size_t>(p)]] =
          SmtInnerHash(node->HashAt(2 * p), node->HashAt(2 * p + 1));
    }
  }
  return SmtNode::Adopt(node);
}

// A node's path in fixed-size form: the node key (see NodeKey) padded with zeroes.
struct NodeId {
  std::array<uint8_t, 33> bytes{};  // [0] = nibble count, then the packed path.

  static NodeId Of(const Hash256& any_key_below, int nibbles) {
    NodeId id;
    id.bytes[0] = static_cast<uint8_t>(nibbles);
    std::memcpy(id.bytes.data() + 1, any_key_below.data(), static_cast<size_t>(nibbles / 2));
    if (nibbles % 2 != 0) {
      id.bytes[static_cast<size_t>(1 + nibbles / 2)] =
          any_key_below.bytes[static_cast<size_t>(nibbles / 2)] & 0xf0;
    }
    return id;
  }
  // REQUIRES: `node_key` came from NodeKey.
  static NodeId FromKey(std::string_view node_key) {
    NodeId id;
    HM_ASSERT(node_key.size() <= id.bytes.size());
    std::memcpy(id.bytes.data(), node_key.data(), node_key.size());
    return id;
  }
  bool operator==(const NodeId&) const = default;
  uint64_t Hash() const {
    // Paths are prefixes of SHA-256 outputs, so their first bytes are already well mixed; the
    // nibble count tells apart a node from its ancestors.
    uint64_t v;
    std::memcpy(&v, bytes.data() + 1, sizeof(v));
    v ^= uint64_t{bytes[0]} * 0x9e3779b97f4a7c15ull;
    v *= 0xff51afd7ed558ccdull;
    return v ^ (v >> 32);
  }
};

// A bounded cache of decoded nodes: an open-addressing table (linear probing, at most half
// full) with CLOCK eviction, so that a lookup costs about one cache miss and an insert no
// allocation. Not thread-safe; the tree guards it with its mutex.
class NodeCache {
 public:
  explicit NodeCache(size_t capacity)
      : capacity_(capacity),
        slots_(std::bit_ceil(std::max<size_t>(2 * capacity, 16))),
        mask_(slots_.size() - 1) {}

  // Starts fetching the memory a Find or Put of `id` will look at first.
  void Prefetch(const NodeId& id) const { __builtin_prefetch(&slots_[id.Hash() & mask_]); }

  const SmtNodeRef* Find(const NodeId& id) {
    const uint64_t hash = id.Hash();
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (!s.node) return nullptr;
      if (s.hash == hash && s.id == id) {
        s.referenced = true;
        return &s.node;
      }
    }
  }

  // Returns the node this one replaced or evicted, if any, so that the caller can let it go
  // after unlocking.
  [[nodiscard]] SmtNodeRef Put(const NodeId& id, SmtNodeRef node) {
    HM_ASSERT(node);
    const uint64_t hash = id.Hash();
    size_t i = hash & mask_;
    for (;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (!s.node) break;
      if (s.hash == hash && s.id == id) {
        std::swap(s.node, node);
        s.referenced = true;
        return node;
      }
    }
    SmtNodeRef evicted;
    if (count_ == capacity_) {
      evicted = EvictOne();
      // Eviction may have shifted entries; find the free slot again.
      for (i = hash & mask_; slots_[i].node; i = (i + 1) & mask_) {
      }
    }
    slots_[i] = Slot{hash, id, true, std::move(node)};
    ++count_;
    return evicted;
  }

  void Erase(const NodeId& id) {
    const uint64_t hash = id.Hash();
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      if (!slots_[i].node) return;
      if (slots_[i].hash == hash && slots_[i].id == id) {
        (void)EraseAt(i);
        return;
      }
    }
  }

  size_t size() const { return count_; }

 private:
  struct Slot {
    uint64_t hash = 0;  // id.Hash(), compared first.
    NodeId id;
    bool referenced = false;
    SmtNodeRef node;  // Null: a free slot.
  };

  // CLOCK: sweep from the hand, giving each recently used entry a second chance.
  SmtNodeRef EvictOne() {
    for (;;) {
      Slot& s = slots_[hand_];
      if (s.node && !s.referenced) {
        return EraseAt(hand_);  // The hand stays: a shifted entry may now sit under it.
      }
      s.referenced = false;
      hand_ = (hand_ + 1) & mask_;
    }
  }

  // Deletion without tombstones: shift later entries of the probe run back into the hole.
  // Returns the erased node.
  SmtNodeRef EraseAt(size_t hole) {
    SmtNodeRef erased = std::move(slots_[hole].node);
    --count_;
    for (size_t j = (hole + 1) & mask_; slots_[j].node; j = (j + 1) & mask_) {
      size_t home = slots_[j].hash & mask_;
      // Move j into the hole unless its home lies cyclically in (hole, j].
      bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
      if (stays) continue;
      slots_[hole] = std::move(slots_[j]);
      slots_[j].node = SmtNodeRef();
      hole = j;
    }
    return erased;
  }

  const size_t capacity_;
  std::vector<Slot> slots_;
  const size_t mask_;
  size_t count_ = 0;
  size_t hand_ = 0;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Verification and proof encoding.

bool VerifySmtProof(const Hash256& root, const Hash256& key,
                    const std::optional<Hash256>& value_hash, const SmtProof& proof) {
  const size_t n = proof.siblings.size();
  if (n > kSmtMaxSiblings) return false;
  if (value_hash.has_value()) {
    // Present: the path must end in this key's own leaf with this value.
    if (!proof.leaf || proof.leaf->key != key || proof.leaf->value_hash != *value_hash) {
      return false;
    }
  } else if (proof.leaf) {
    // Absent: another key's leaf owns the whole subtree the key's path leads to.
    if (proof.leaf->key == key) return false;
    if (static_cast<size_t>(CommonPrefixBits(key, proof.leaf->key)) < n) return false;
  }
  // (Absent with no leaf: the path ends in an empty subtree.)
  Hash256 h = proof.leaf ? SmtLeafHash(proof.leaf->key, proof.leaf->value_hash) : SmtEmptyHash();
  for (size_t i = 0; i < n; ++i) {
    const int depth = static_cast<int>(n - 1 - i);
    h = KeyBit(key, depth) ? SmtInnerHash(proof.siblings[i], h)
                           : SmtInnerHash(h, proof.siblings[i]);
  }
  return h == root;
}

std::string EncodeSmtProof(const SmtProof& proof) {
  HM_ASSERT(proof.siblings.size() <= kSmtMaxSiblings);
  const size_t n = proof.siblings.size();
  std::string out;
  out.reserve(4 + 64 + (n + 7) / 8 + 32 * n);
  out.push_back(static_cast<char>(kProofFormat));
  out.push_back(static_cast<char>(proof.leaf ? kProofHasLeaf : 0));
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n & 0xff));
  if (proof.leaf) {
    out.append(proof.leaf->key.view());
    out.append(proof.leaf->value_hash.view());
  }
  std::string bitmap((n + 7) / 8, '\0');
  for (size_t i = 0; i < n; ++i) {
    if (proof.siblings[i] == SmtEmptyHash()) {
      bitmap[i / 8] = static_cast<char>(bitmap[i / 8] | (0x80 >> (i % 8)));
    }
  }
  out.append(bitmap);
  for (const Hash256& s : proof.siblings) {
    if (s != SmtEmptyHash()) out.append(s.view());
  }
  return out;
}

Result<SmtProof> DecodeSmtProof(std::string_view bytes) {
  auto bad = [](std::string why) { return Status::InvalidInput("state proof: " + why); };
  if (bytes.size() > kSmtMaxProofBytes) return bad("too long");
  if (bytes.size() < 4) return bad("truncated header");
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  if (p[0] != kProofFormat) return bad("unknown format " + std::to_string(p[0]));
  if ((p[1] & ~kProofHasLeaf) != 0) return bad("unknown flags");
  const bool has_leaf = (p[1] & kProofHasLeaf) != 0;
  const size_t n = static_cast<size_t>(p[2]) << 8 | p[3];
  if (n > kSmtMaxSiblings) return bad(std::to_string(n) + " siblings, at most 256 allowed");
  const size_t bitmap_at = 4 + (has_leaf ? 64 : 0);
  const size_t bitmap_len = (n + 7) / 8;
  if (bytes.size() < bitmap_at + bitmap_len) return bad("truncated");
  size_t empties = 0;
  for (size_t i = 0; i < bitmap_len; ++i) empties += static_cast<size_t>(Pop16(p[bitmap_at + i]));
  if (n % 8 != 0 && (p[bitmap_at + bitmap_len - 1] & (0xff >> (n % 8))) != 0) {
    return bad("bits set past the last sibling");
  }
  const size_t want = bitmap_at + bitmap_len + 32 * (n - empties);
  if (bytes.size() != want) {
    return bad(std::to_string(bytes.size()) + " bytes, expected " + std::to_string(want));
  }
  SmtProof proof;
  if (has_leaf) {
    proof.leaf = SmtLeaf{Hash256::FromSpan(AsSpan(bytes.substr(4, 32))),
                         Hash256::FromSpan(AsSpan(bytes.substr(36, 32)))};
  }
  proof.siblings.reserve(n);
  size_t at = bitmap_at + bitmap_len;
  for (size_t i = 0; i < n; ++i) {
    if ((p[bitmap_at + i / 8] & (0x80 >> (i % 8))) != 0) {
      proof.siblings.push_back(SmtEmptyHash());
      continue;
    }
    Hash256 s = Hash256::FromSpan(AsSpan(bytes.substr(at, 32)));
    at += 32;
    if (s == SmtEmptyHash()) return bad("an empty sibling written out in full");
    proof.siblings.push_back(s);
  }
  return proof;
}

// ---------------------------------------------------------------------------------------------
// The tree.

class SparseMerkleTree::Impl {
 public:
  Impl(SmtNodeReader* reader, size_t capacity, std::chrono::milliseconds commit_wait,
       size_t prepare_threads)
      : reader_(reader),
        commit_wait_(commit_wait),
        prepare_threads_(prepare_threads),
        cache_(capacity) {}

  // What one read works from: the committed root node when it started, and the epoch that
  // tells whether a Commit happened since.
  struct Snapshot {
    SmtNodeRef root;
    uint64_t epoch = 0;
    bool inconsistent = false;  // Met a node that does not match its parent's hash.
  };

  Status LoadRoot() {
    Hash256 zero;
    auto bytes = reader_->GetNode(NodeKey(zero, 0));
    if (!bytes.ok()) return bytes.status().WithContext("reading the state tree root");
    if (!bytes->has_value()) return Status::Ok();  // An empty tree.
    auto node = DecodeNode(**bytes, zero, 0, /*is_root=*/true);
    if (!node.ok()) return node.status();
    std::lock_guard lock(mu_);
    root_node_ = std::move(node).value();
    return Status::Ok();
  }

  Hash256 root() const {
    std::lock_guard lock(mu_);
    return root_node_ ? root_node_->hash() : SmtEmptyHash();
  }

  // Runs `fn(snapshot)`, again from a fresh snapshot when it met nodes of two versions (a
  // Commit racing with it), for as long as Commits keep explaining the mismatch.
  template <typename Fn>
  auto Read(Fn fn) const {
    for (int attempt = 1;; ++attempt) {
      Snapshot snap;
      {
        std::lock_guard lock(mu_);
        snap.root = root_node_;
        snap.epoch = epoch_;
      }
      auto result = fn(snap);
      if (!snap.inconsistent || attempt == kMaxReadAttempts) return result;
      std::unique_lock lock(mu_);
      if (!commit_cv_.wait_for(lock, commit_wait_, [&] { return epoch_ != snap.epoch; })) {
        return result;  // No Commit explains it: the store disagrees with the tree.
      }
    }
  }

  // The child node at the path of `nibbles` nibbles of `key`, which its parent says hashes to
  // `expected`.
  Result<SmtNodeRef> LoadChild(const Hash256& key, int nibbles, const Hash256& expected,
                               Snapshot& snap) const {
    HM_ASSERT(nibbles >= 1 && nibbles <= 63);
    const NodeId id = NodeId::Of(key, nibbles);
    {
      std::lock_guard lock(mu_);
      if (const auto* cached = cache_.Find(id)) {
        ++hits_;
        if ((*cached)->hash() == expected) return *cached;
        // A stale entry, or a stale parent; either way drop it and let Read() retry.
        cache_.Erase(id);
        snap.inconsistent = true;
        return Status::Corruption(Describe(NodeKey(key, nibbles)) +
                                  " does not match its parent's hash");
      }
      ++misses_;
    }
    const std::string node_key = NodeKey(key, nibbles);
    SmtNodeRef node;
    auto bytes = reader_->GetNode(node_key);
    if (!bytes.ok()) return bytes.status().WithContext("reading " + Describe(node_key));
    if (!bytes->has_value()) {
      snap.inconsistent = true;
      return Status::Corruption(Describe(node_key) + " is missing");
    }
    auto decoded = DecodeNode(**bytes, key, nibbles, /*is_root=*/false);
    if (!decoded.ok()) return decoded.status();
    node = std::move(decoded).value();
    if (node->hash() != expected) {
      snap.inconsistent = true;
      return Status::Corruption(Describe(node_key) + " does not match its parent's hash");
    }
    SmtNodeRef evicted;  // Let go after unlocking.
    std::lock_guard lock(mu_);
    // Only a read that no Commit overtook may fill the cache, or it could put back a node
    // that Commit just replaced.
    if (epoch_ == snap.epoch) evicted = cache_.Put(id, node);
    return node;
  }

  // `pending`: prove in the tree as that prepared update leaves it (its root and changed
  // nodes, the committed nodes elsewhere); null for the committed tree.
  Status Prove(const Hash256& key, Snapshot& snap, SmtProof* proof,
               const SmtUpdate* pending = nullptr) const {
    proof->leaf.reset();
    proof->siblings.clear();
    SmtNodeRef node = pending ? pending->root_node : snap.root;
    if (!node) return Status::Ok();  // An empty tree: EMPTY is the root.
    int nibbles = 0;
    int pos = 1;
    for (;;) {
      if (pos >= 16) {
        const int s = pos - 16;
        if (node->IsLeaf(s)) {
          proof->leaf = node->Leaf(s);
          break;
        }
        if (!node->IsRef(s)) break;  // Empty slot.
        if (const SmtNodeRef* changed = pending ? FindPending(*pending, key, nibbles + 1) : nullptr;
            changed && (*changed)->hash() == node->HashAt(pos)) {
          node = *changed;
        } else {
          auto child = LoadChild(key, nibbles + 1, node->HashAt(pos), snap);
          if (!child.ok()) return child.status();
          node = std::move(child).value();
        }
        ++nibbles;
        pos = 1;  // The child's own position 1 is this slot.
        continue;
      }
      const uint16_t filled =
          (node->leaf_bits | node->ref_bits) & kRangeMask[static_cast<size_t>(pos)];
      if (filled == 0) break;  // An empty subtree.
      if (((node->inner_bits >> pos) & 1) == 0) {
        proof->leaf = node->Leaf(Ctz(filled));  // A collapsed one-leaf subtree.
        break;
      }
      const int level = std::bit_width(static_cast<unsigned>(pos)) - 1;
      const int bit = KeyBit(key, 4 * nibbles + level);
      proof->siblings.push_back(node->HashAt(2 * pos + (1 - bit)));
      pos = 2 * pos + bit;
    }
    std::reverse(proof->siblings.begin(), proof->siblings.end());
    return Status::Ok();
  }

  // The node an update changed at the path of `nibbles` nibbles of `key`, or null.
  static const SmtNodeRef* FindPending(const SmtUpdate& update, const Hash256& key, int nibbles) {
    const std::string node_key = NodeKey(key, nibbles);
    for (size_t i = 0; i < update.node_keys.size(); ++i) {
      if (update.node_keys[i] == node_key) return &update.nodes[i];
    }
    return nullptr;
  }

  Result<std::optional<Hash256>> GetValueHash(const Hash256& key, Snapshot& snap) const {
    SmtNodeRef node = snap.root;
    int nibbles = 0;
    while (node) {
      const int s = KeyNibble(key, nibbles);
      if (node->IsLeaf(s)) {
        SmtLeaf leaf = node->Leaf(s);
        if (leaf.key == key) return std::optional<Hash256>(leaf.value_hash);
        break;
      }
      if (!node->IsRef(s)) break;
      auto child = LoadChild(key, nibbles + 1, node->HashAt(16 + s), snap);
      if (!child.ok()) return child.status();
      node = std::move(child).value();
      ++nibbles;
    }
    return std::optional<Hash256>();
  }

  // Applies `items` (sorted by key, distinct, all under this node's path) to `base` (null for a
  // new node) at depth 4 * nibbles. Returns the new node, or null if nothing changed. Appends the
  // changed nodes to `out` children first (post-order), each once.
  Result<SmtNodeRef> UpdateNode(const SmtNode* base, int nibbles, std::span<const KeyValue> items,
                                Snapshot& snap, SmtUpdate* out) const {
    HM_ASSERT(!items.empty() && nibbles < 64);
    // First what changes in each slot (recursing into children), then the new node.
    std::array<SlotChange, 16> changes;
    size_t n = 0;
    size_t i = 0;
    while (i < items.size()) {
      const int s = KeyNibble(items[i].key, nibbles);
      size_t j = i + 1;
      while (j < items.size() && KeyNibble(items[j].key, nibbles) == s) ++j;
      auto change = UpdateSlot(base, nibbles, s, items.subspan(i, j - i), snap, out);
      if (!change.ok()) return change.status();
      if (*change) changes[n++] = **change;
      i = j;
    }
    return FinishNode(base, nibbles, items[0].key, std::span<const SlotChange>(changes.data(), n),
                      out);
  }

  // What slot `s` of `base` (null for a new node) at depth 4 * nibbles becomes once `group`
  // (sorted, distinct, the items whose nibble `nibbles` is s) is applied; nullopt if it stays.
  // Appends the changed nodes below the slot to `out`.
  Result<std::optional<SlotChange>> UpdateSlot(const SmtNode* base, int nibbles, int s,
                                               std::span<const KeyValue> group, Snapshot& snap,
                                               SmtUpdate* out) const {
    using Change = std::optional<SlotChange>;
    const bool is_leaf = base != nullptr && base->IsLeaf(s);
    const bool is_ref = base != nullptr && base->IsRef(s);
    if (!is_leaf && !is_ref && group.size() == 1) {
      return Change(SlotChange{s, true, group[0].key, group[0].value_hash});
    }
    if (!is_leaf && !is_ref) {
      auto child = UpdateNode(nullptr, nibbles + 1, group, snap, out);
      if (!child.ok()) return child.status();
      return Change(SlotChange{s, false, (*child)->hash(), {}});
    }
    if (is_leaf) {
      const SmtLeaf leaf = base->Leaf(s);
      if (group.size() == 1 && group[0].key == leaf.key) {
        if (group[0].value_hash == leaf.value_hash) return Change();
        return Change(SlotChange{s, true, group[0].key, group[0].value_hash});
      }
      // The slot's leaf and the new keys now share it: push them all one node down.
      std::vector<KeyValue> merged(group.begin(), group.end());
      auto at = std::lower_bound(merged.begin(), merged.end(), leaf.key,
                                 [](const KeyValue& kv, const Hash256& k) { return kv.key < k; });
      if (at == merged.end() || at->key != leaf.key) merged.insert(at, {leaf.key, leaf.value_hash});
      auto child = UpdateNode(nullptr, nibbles + 1, merged, snap, out);
      if (!child.ok()) return child.status();
      return Change(SlotChange{s, false, (*child)->hash(), {}});
    }
    auto current = LoadChild(group[0].key, nibbles + 1, base->HashAt(16 + s), snap);
    if (!current.ok()) return current.status();
    auto child = UpdateNode(current->get(), nibbles + 1, group, snap, out);
    if (!child.ok()) return child.status();
    if (!*child) return Change();
    return Change(SlotChange{s, false, (*child)->hash(), {}});
  }

  // The node `base` (null for a new one) at the path of `nibbles` nibbles of `any_key_below` with
  // `changes` (in slot order) applied, appended to `out`; null if there are no changes.
  static SmtNodeRef FinishNode(const SmtNode* base, int nibbles, const Hash256& any_key_below,
                               std::span<const SlotChange> changes, SmtUpdate* out) {
    if (changes.empty()) return SmtNodeRef();
    // A slot that changes kind (empty -> leaf or reference, leaf -> reference) reshapes the
    // node, which is then rebuilt; otherwise it is patched in place.
    bool reshaped = base == nullptr;
    for (const SlotChange& ch : changes) {
      if (!reshaped && !(ch.leaf ? base->IsLeaf(ch.slot) : base->IsRef(ch.slot))) reshaped = true;
    }
    SmtNodeRef node;
    if (reshaped) {
      NodeBuilder b(base);
      for (const SlotChange& ch : changes) {
        if (ch.leaf) {
          b.SetLeaf(ch.slot, ch.a, ch.b);
        } else {
          b.SetRef(ch.slot, ch.a);
        }
      }
      node = b.Finish();
    } else {
      node = WithNewValues(*base, changes);
    }
    out->node_keys.push_back(NodeKey(any_key_below, nibbles));
    out->nodes.push_back(node);
    return node;
  }

  // UpdateNode for the root, with the root's slots shared out among `threads` threads (the
  // caller's and threads - 1 helpers). Each slot's subtree is prepared by one thread into its
  // own list, and the lists are joined in slot order, so the result is exactly UpdateNode's.
  Result<SmtNodeRef> UpdateRootInParallel(const SmtNode* base, std::span<const KeyValue> items,
                                          size_t threads, Snapshot& snap, SmtUpdate* out) const {
    struct Task {
      int slot = 0;
      std::span<const KeyValue> group;
      Snapshot snap;
      SmtUpdate writes;
      Result<std::optional<SlotChange>> change = std::optional<SlotChange>();
    };
    std::vector<Task> tasks;
    tasks.reserve(16);
    for (size_t i = 0; i < items.size();) {
      const int s = KeyNibble(items[i].key, 0);
      size_t j = i + 1;
      while (j < items.size() && KeyNibble(items[j].key, 0) == s) ++j;
      Task& t = tasks.emplace_back();
      t.slot = s;
      t.group = items.subspan(i, j - i);
      t.snap.root = snap.root;
      t.snap.epoch = snap.epoch;
      i = j;
    }
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t k = next.fetch_add(1); k < tasks.size(); k = next.fetch_add(1)) {
        Task& t = tasks[k];
        t.change = UpdateSlot(base, 0, t.slot, t.group, t.snap, &t.writes);
      }
    };
    {
      std::vector<std::jthread> helpers;
      helpers.reserve(threads - 1);
      try {
        for (size_t h = 1; h < std::min(threads, tasks.size()); ++h) helpers.emplace_back(work);
      } catch (const std::system_error&) {
        // No more threads to be had: the ones running and this one share the work.
      }
      work();
    }  // Joins the helpers.

    std::array<SlotChange, 16> changes;
    size_t n = 0;
    size_t writes = 0;
    for (Task& t : tasks) {
      snap.inconsistent = snap.inconsistent || t.snap.inconsistent;
      writes += t.writes.nodes.size();
    }
    for (Task& t : tasks) {
      if (!t.change.ok()) return t.change.status();  // The first error in slot order, as serially.
      if (*t.change) changes[n++] = **t.change;
    }
    out->node_keys.reserve(out->node_keys.size() + writes + 1);
    out->nodes.reserve(out->nodes.size() + writes + 1);
    for (Task& t : tasks) {
      std::move(t.writes.node_keys.begin(), t.writes.node_keys.end(),
                std::back_inserter(out->node_keys));
      std::move(t.writes.nodes.begin(), t.writes.nodes.end(), std::back_inserter(out->nodes));
    }
    return FinishNode(base, 0, items[0].key, std::span<const SlotChange>(changes.data(), n), out);
  }

  void Commit(const SmtUpdate& update) {
    HM_ASSERT(update.node_keys.size() == update.nodes.size());
    // The nodes the update replaces, freed after unlocking so that readers wait less.
    std::vector<SmtNodeRef> retired;
    retired.reserve(update.nodes.size());
    std::vector<NodeId> ids;
    ids.reserve(update.nodes.size());
    for (const std::string& key : update.node_keys) ids.push_back(NodeId::FromKey(key));
    constexpr size_t kAhead = 8;  // Cache slots fetched ahead of their Put.
    std::lock_guard lock(mu_);
    HM_ASSERT_MSG(update.base_epoch == epoch_,
                  "state tree update prepared on a tree that has changed since");
    if (update.nodes.empty()) return;
    for (size_t i = 0; i < std::min(kAhead, ids.size()); ++i) cache_.Prefetch(ids[i]);
    for (size_t i = 0; i < update.nodes.size(); ++i) {
      if (i + kAhead < ids.size()) cache_.Prefetch(ids[i + kAhead]);
      const std::string& key = update.node_keys[i];
      if (key.size() == 1 && key[0] == 0) continue;  // The root is held apart.
      if (SmtNodeRef old = cache_.Put(ids[i], update.nodes[i])) retired.push_back(std::move(old));
    }
    retired.push_back(std::exchange(root_node_, update.root_node));
    ++epoch_;
    commit_cv_.notify_all();
  }

  size_t prepare_threads() const { return prepare_threads_; }

  CacheStats Stats() const {
    std::lock_guard lock(mu_);
    return {hits_, misses_, cache_.size()};
  }

 private:
  SmtNodeReader* const reader_;
  const std::chrono::milliseconds commit_wait_;
  const size_t prepare_threads_;  // At least 1.

  mutable std::mutex mu_;
  mutable std::condition_variable commit_cv_;
  SmtNodeRef root_node_;     // Guarded by mu_; null for an empty tree.
  uint64_t epoch_ = 0;       // Guarded by mu_; counts Commits.
  mutable NodeCache cache_;  // Nodes below the root. Guarded by mu_.
  mutable uint64_t hits_ = 0;
  mutable uint64_t misses_ = 0;
};

SparseMerkleTree::SparseMerkleTree(SmtNodeReader* reader, size_t cache_nodes,
                                   std::chrono::milliseconds commit_wait, size_t prepare_threads)
    : impl_(std::make_unique<Impl>(
          reader, cache_nodes, commit_wait,
          prepare_threads != 0 ? prepare_threads : DefaultPrepareThreads())) {
  HM_ASSERT(reader != nullptr && cache_nodes > 0);
  load_status_ = impl_->LoadRoot();
}

SparseMerkleTree::~SparseMerkleTree() = default;

Hash256 SparseMerkleTree::root() const {
  if (!load_status_.ok()) return Hash256();
  return impl_->root();
}

Result<SmtUpdate> SparseMerkleTree::PrepareUpdate(
    std::span<const std::pair<Hash256, Hash256>> updates) const {
  if (!load_status_.ok()) return load_status_;
  // Sort by key; of equal keys keep the last given.
  std::vector<KeyValue> items;
  items.reserve(updates.size());
  for (const auto& [key, value_hash] : updates) items.push_back({key, value_hash});
  std::stable_sort(items.begin(), items.end(),
                   [](const KeyValue& a, const KeyValue& b) { return a.key < b.key; });
  size_t kept = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i + 1 < items.size() && items[i + 1].key == items[i].key) continue;
    items[kept++] = items[i];
  }
  items.resize(kept);

  return impl_->Read([&](Impl::Snapshot& snap) -> Result<SmtUpdate> {
    SmtUpdate out;
    out.base_epoch = snap.epoch;

    out.root_node = snap.root;
    if (!items.empty()) {
      const bool parallel = impl_->prepare_threads() > 1 && items.size() >= kMinItemsForThreads &&
                            KeyNibble(items.front().key, 0) != KeyNibble(items.back().key, 0);
      auto node = parallel ? impl_->UpdateRootInParallel(snap.root.get(), items,
                                                         impl_->prepare_threads(), snap, &out)
                           : impl_->UpdateNode(snap.root.get(), 0, items, snap, &out);
      if (!node.ok()) return node.status();
      if (*node) out.root_node = *node;
    }
    out.root = out.root_node ? out.root_node->hash() : SmtEmptyHash();
    return out;
  });
}

void SparseMerkleTree::Commit(const SmtUpdate& update) {
  HM_ASSERT(load_status_.ok());
  impl_->Commit(update);
}

Result<SmtProof> SparseMerkleTree::Prove(const Hash256& key) const {
  if (!load_status_.ok()) return load_status_;
  return impl_->Read([&](Impl::Snapshot& snap) -> Result<SmtProof> {
    SmtProof proof;
    HM_RETURN_IF_ERROR(impl_->Prove(key, snap, &proof));
    return proof;
  });
}

Result<SmtProof> SparseMerkleTree::ProveAfter(const SmtUpdate& update, const Hash256& key) const {
  if (!load_status_.ok()) return load_status_;
  return impl_->Read([&](Impl::Snapshot& snap) -> Result<SmtProof> {
    SmtProof proof;
    HM_RETURN_IF_ERROR(impl_->Prove(key, snap, &proof, &update));
    return proof;
  });
}

Result<std::optional<Hash256>> SparseMerkleTree::GetValueHash(const Hash256& key) const {
  if (!load_status_.ok()) return load_status_;
  return impl_->Read([&](Impl::Snapshot& snap) { return impl_->GetValueHash(key, snap); });
}

SparseMerkleTree::CacheStats SparseMerkleTree::cache_stats() const {
  return impl_->Stats();
}

}  // namespace hallmark::core
