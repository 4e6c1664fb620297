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
// Committed evidence: `V` + committing height + position among that block's evidence.
inline std::string CommittedEvidencePrefix() {
  return "V";
}
inline std::string CommittedEvidenceAt(uint64_t height, uint32_t position) {
  std::string k = "V";
  core::PutBigEndian64(&k, height);
  core::PutBigEndian32(&k, position);
  return k;
}
inline std::string CommittedEvidenceAtHeight(uint64_t height) {
  std::string k = "V";
  core::PutBigEndian64(&k, height);
  return k;
}
// Offences with committed evidence: `O` + validator (32) + height (8) + round (4) + kind (1);
// the value is the committed evidence's height (8) and position (4).
inline std::string OffencePrefix(const core::Hash256& validator) {
  return "O" + std::string(validator.view());
}
inline std::string Offence(const core::Hash256& validator, uint64_t height, uint32_t round,
                           uint8_t kind) {
  std::string k = OffencePrefix(validator);
  core::PutBigEndian64(&k, height);
  core::PutBigEndian32(&k, round);
  k.push_back(static_cast<char>(kind));
  return k;
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

// The network state (core::NetworkState::Serialize) after each block that changed it:
// `G` + height. The current state is the last of them; none while governance never acted.
inline std::string NetworkStatePrefix() {
  return "G";
}
inline std::string NetworkStateAt(uint64_t height) {
  std::string k = "G";
  core::PutBigEndian64(&k, height);
  return k;
}
// Committed governance records in block order: `P` + height + position; the value is the
// record id (the envelope is under `R`).
inline std::string GovernancePrefix() {
  return "P";
}
inline std::string GovernanceAt(uint64_t height, uint32_t position) {
  std::string k = "P";
  core::PutBigEndian64(&k, height);
  core::PutBigEndian32(&k, position);
  return k;
}

}  // namespace hallmark::storage::keys
