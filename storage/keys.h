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
// The sparse Merkle proof (core::EncodeSmtProof) of the network-state key under the state root
// of each block that adds a validator epoch: `Q` + height. The tree keeps the latest version of
// its nodes only, so the proof is made when the block is prepared and written in its batch
// (proof bundles of version 4 carry it, docs/proofs.md).
inline std::string NetworkStateProofPrefix() {
  return "Q";
}
inline std::string NetworkStateProofAt(uint64_t height) {
  std::string k = "Q";
  core::PutBigEndian64(&k, height);
  return k;
}
// Present ("1") when every block that added a validator epoch has its `Q` proof: written when a
// store is created, and by Open once it has rebuilt the proofs of a store written before them.
inline std::string NetworkStateProofsVersion() {
  return "M/network-state-proofs";
}
inline constexpr std::string_view kNetworkStateProofsVersion = "1";

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

// The item listing index (Ledger::ListItems), written in the block's batch. `X` + scope + ... +
// (UINT64_MAX - updated block time, 8 B) + item key (32 B), so that a forward scan of one scope
// runs newest first; the value is the item's updated height (8 B). Scopes:
//   'a'                              every item;
//   'b' + brand length (1 B) + brand  the brand's items;
//   'f' + flag kind (1 B)             items currently carrying that flag;
//   'g' + flag kind + brand length + brand   both.
inline constexpr char kListAll = 'a';
inline constexpr char kListBrand = 'b';
inline constexpr char kListFlag = 'f';
inline constexpr char kListBrandFlag = 'g';
inline std::string ListScopePrefix() {
  return "X";
}
// REQUIRES: brand.size() <= 255 (organisation ids are at most 32 bytes).
inline std::string ListScope(std::string_view brand, int flag_kind) {
  std::string k = "X";
  if (brand.empty() && flag_kind == 0) {
    k.push_back(kListAll);
    return k;
  }
  if (flag_kind == 0) {
    k.push_back(kListBrand);
  } else {
    k.push_back(brand.empty() ? kListFlag : kListBrandFlag);
    k.push_back(static_cast<char>(flag_kind));
  }
  if (!brand.empty()) {
    k.push_back(static_cast<char>(brand.size()));
    k.append(brand);
  }
  return k;
}
inline std::string ListEntry(std::string_view scope, uint64_t time_ms,
                             const core::Hash256& item_key) {
  std::string k(scope);
  core::PutBigEndian64(&k, UINT64_MAX - time_ms);
  k.append(item_key.view());
  return k;
}
// Each item's updated block time (8 B): `U` + item key. What the index entries of its state are
// keyed by, so that the block that changes the item can delete them.
inline std::string ItemTime(const core::Hash256& item_key) {
  return "U" + std::string(item_key.view());
}
inline std::string ItemTimePrefix() {
  return "U";
}
// The listing index's version; absent (a store written before the index) or another version
// makes Open rebuild the index from the item states.
inline std::string ListIndexVersion() {
  return "M/list-index";
}
inline constexpr std::string_view kListIndexVersion = "1";

// Pruning (Ledger::Prune) and state sync (storage/snapshot.h). `M/base`: the first height whose
// whole block this store holds (8 B); absent means 1. Blocks below it are gone, except those
// holding governance records, which proof bundles' governance walks need.
inline std::string FirstHeight() {
  return "M/base";
}
// Present while a snapshot is being installed: the manifest's bytes. The store's head means
// nothing until the install finishes (it deletes the marker in the batch that writes the head).
inline std::string SyncManifest() {
  return "M/sync";
}
// One per chunk the install has written, in the chunk's own batch: `M/sync/` + index (4 B).
inline std::string SyncChunkPrefix() {
  return "M/sync/";
}
inline std::string SyncChunk(uint32_t index) {
  std::string k = SyncChunkPrefix();
  core::PutBigEndian32(&k, index);
  return k;
}

}  // namespace hallmark::storage::keys
