#pragma once

#include <string>
#include <string_view>

#include "core/bytes.h"

// The ledger's LevelDB key layout. One byte of prefix per kind; numbers big-endian so that keys
// sort by number. Documented in docs/architecture.md ("On-disk layout").
namespace hallmark::storage::keys {

inline constexpr std::string_view kStateTreePrefix = "N";  // Sparse Merkle tree nodes.

inline std::string Head() {
  return "M/head";
}
inline std::string GenesisHash() {
  return "M/genesis";
}
inline std::string Block(uint64_t height) {
  std::string k = "B";
  core::PutBigEndian64(&k, height);
  return k;
}
inline std::string Certificate(uint64_t height) {
  std::string k = "C";
  core::PutBigEndian64(&k, height);
  return k;
}
inline std::string Evidence(const core::Hash256& id) {
  return "E" + std::string(id.view());
}
inline std::string EvidencePrefix() {
  return "E";
}
// Node-local state that is not part of the chain (the signer's last vote, its lock).
inline std::string Local(std::string_view name) {
  return "L/" + std::string(name);
}
inline std::string BlockHash(const core::Hash256& hash) {
  return "H" + std::string(hash.view());
}
inline std::string Record(const core::Hash256& id) {
  return "R" + std::string(id.view());
}
inline std::string ItemPrefix() {
  return "S";
}
inline std::string Item(const core::Hash256& item_key) {
  return "S" + std::string(item_key.view());
}
inline std::string HistoryPrefix(const core::Hash256& item_key) {
  return "I" + std::string(item_key.view());
}
inline std::string History(const core::Hash256& item_key, uint32_t seq) {
  std::string k = HistoryPrefix(item_key);
  core::PutBigEndian32(&k, seq);
  return k;
}

}  // namespace hallmark::storage::keys
