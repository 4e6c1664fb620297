#include "storage/proof_bundle.h"

#include <string>

#include "core/codec.h"
#include "core/proof_bundle.h"
#include "core/smt.h"

namespace hallmark::storage {

using core::Hash256;
using core::Status;

core::Result<pb::ProofBundle> BuildProofBundle(const Ledger& ledger, const core::ItemId& item) {
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
    if (!stored->has_value()) return Status::Ok();
    bundle.set_state((*stored)->bytes);

    auto history = ledger.GetHistory(key);
    if (!history.ok()) return history.status();
    for (pb::StoredRecord& sr : *history) *bundle.add_history() = std::move(*sr.mutable_envelope());
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return bundle;
}

}  // namespace hallmark::storage
