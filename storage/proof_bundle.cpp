#include "storage/proof_bundle.h"

#include <string>
#include <vector>

#include "core/codec.h"
#include "core/governance.h"
#include "core/governance_proof.h"
#include "core/proof_bundle.h"
#include "core/smt.h"

namespace hallmark::storage {

using core::Hash256;
using core::Status;

namespace {

// Every governance record committed up to `head_height`, in block order.
core::Result<std::vector<core::CommittedGovernanceRecord>> CommittedGovernance(
    const Ledger& ledger, uint64_t head_height) {
  constexpr size_t kPage = 1024;
  std::vector<core::CommittedGovernanceRecord> out;
  uint64_t from = 1;
  while (from <= head_height) {
    auto page = ledger.ListGovernance(from, kPage);
    if (!page.ok()) return page.status();
    for (pb::StoredRecord& sr : *page) {
      if (sr.height() > head_height) return out;
      // A page ends mid-block at worst; the next starts again at that block's height.
      if (!out.empty() &&
          (sr.height() < out.back().height ||
           (sr.height() == out.back().height && sr.position() <= out.back().position))) {
        continue;
      }
      out.push_back({std::move(*sr.mutable_envelope()), sr.height(), sr.position()});
    }
    if (page->size() < kPage) break;
    const uint64_t next = out.empty() ? from + 1 : out.back().height;
    if (next == from) {
      // One block holds a whole page of governance records: ask for the rest by a larger page.
      auto all = ledger.ListGovernance(from, SIZE_MAX);
      if (!all.ok()) return all.status();
      for (pb::StoredRecord& sr : *all) {
        if (sr.height() > head_height) return out;
        if (sr.height() == out.back().height && sr.position() <= out.back().position) continue;
        if (sr.height() < out.back().height) continue;
        out.push_back({std::move(*sr.mutable_envelope()), sr.height(), sr.position()});
      }
      break;
    }
    from = next;
  }
  return out;
}

core::Result<core::WalkBlockSource> ReadWalkBlock(const Ledger& ledger, uint64_t height) {
  auto stored = ledger.GetBlock(height);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) {
    return Status::Corruption("block " + std::to_string(height) +
                              " of a governance record is missing");
  }
  core::WalkBlockSource out;
  out.header = (*stored)->header();
  for (const pb::Envelope& env : (*stored)->records())
    out.record_ids.push_back(core::RecordIdOf(env));
  auto cert = ledger.GetCertificate(height);
  if (!cert.ok()) return cert.status();
  if (!cert->has_value()) {
    return Status::Corruption("block " + std::to_string(height) + " has no commit certificate");
  }
  if (!core::ParseStrict(**cert, &out.certificate, "stored certificate").ok()) {
    return Status::Corruption("the stored certificate of block " + std::to_string(height) +
                              " does not parse");
  }
  auto proof = ledger.GetNetworkStateProof(height);
  if (!proof.ok()) return proof.status();
  if (proof->has_value()) out.network_state_proof = std::move(**proof);
  return out;
}

}  // namespace

core::Result<pb::GovernanceWalk> BuildGovernanceWalk(const Ledger& ledger, uint64_t since_height,
                                                     uint64_t head_height) {
  auto committed = CommittedGovernance(ledger, head_height);
  if (!committed.ok()) return committed.status();
  auto walk =
      core::AssembleGovernanceWalk(ledger.network(), *committed, since_height, head_height,
                                   [&](uint64_t height) { return ReadWalkBlock(ledger, height); });
  if (!walk.ok()) return walk.status();
  auto proof = ledger.ProveItem(core::NetworkStateLeafKey());
  if (!proof.ok()) return proof.status();
  walk->set_network_state_proof(core::EncodeSmtProof(*proof));
  return walk;
}

core::Result<pb::ProofBundle> BuildProofBundle(const Ledger& ledger, const core::ItemId& item,
                                               uint64_t since_height) {
  const Hash256 key = item.Key();
  pb::ProofBundle bundle;
  Status st = ledger.ReadConsistent([&]() -> Status {
    bundle.Clear();
    Ledger::HeadSnapshot snap = ledger.head_snapshot();
    if (snap.head.height() == 0) {
      return Status::NotFound("no block has been committed yet, so there is no certified header");
    }
    if (snap.certificate.empty()) {
      return Status::Corruption("the head block " + std::to_string(snap.head.height()) +
                                " has no commit certificate");
    }
    auto walk = BuildGovernanceWalk(ledger, since_height, snap.head.height());
    if (!walk.ok()) return walk.status();
    auto proof = ledger.ProveItem(key);
    if (!proof.ok()) return proof.status();
    auto stored = ledger.GetItem(key);
    if (!stored.ok()) return stored.status();

    bundle.set_version(core::kProofBundleVersion);
    bundle.set_chain_id(ledger.network().chain_id());
    bundle.set_genesis_hash(std::string(ledger.network().hash().view()));
    bundle.set_item_id(item.Canonical());
    bundle.set_header(std::move(snap.header));
    // Stored as the certificate's deterministic Protobuf encoding (EncodeCertificate).
    if (!core::ParseStrict(snap.certificate, bundle.mutable_certificate(), "stored certificate")
             .ok()) {
      return Status::Corruption("the head's stored certificate does not parse");
    }
    bundle.set_state_proof(core::EncodeSmtProof(*proof));
    *bundle.mutable_governance() = std::move(*walk);
    if (!stored->has_value()) return Status::Ok();
    bundle.set_state((*stored)->bytes);

    auto history = ledger.GetHistory(key, (*stored)->state.record_count());
    if (!history.ok()) return history.status();
    for (pb::StoredRecord& sr : *history) {
      bundle.add_history_heights(sr.height());
      *bundle.add_history() = std::move(*sr.mutable_envelope());
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return bundle;
}

}  // namespace hallmark::storage
