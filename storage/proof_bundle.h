#pragma once

#include "core/item_id.h"
#include "core/status.h"
#include "proto/proof.pb.h"
#include "storage/ledger.h"

namespace hallmark::storage {

// Builds the proof bundle of `item` at the ledger's head: the head's header and certificate,
// the state proof, the state bytes and the full history, all read from one committed state
// (Ledger::ReadConsistent). NotFound when nothing is committed yet (no certified header);
// Corruption when the head's certificate is missing or the store disagrees with itself.
core::Result<pb::ProofBundle> BuildProofBundle(const Ledger& ledger, const core::ItemId& item);

}  // namespace hallmark::storage
