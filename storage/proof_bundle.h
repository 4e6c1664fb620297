#pragma once

#include "core/item_id.h"
#include "core/status.h"
#include "proto/proof.pb.h"
#include "storage/ledger.h"

namespace hallmark::storage {

// Builds the proof bundle of `item` at the ledger's head: the head's header and certificate,
// the governance walk of the changes completed after `since_height` (0: from genesis; a height
// above the head also gives a walk from genesis) with the network-state proof, the item's state
// proof, the state bytes, the full history and each record's block height, all read from one
// committed state (Ledger::ReadConsistent). NotFound when nothing is committed yet (no
// certified header); Corruption when a certificate is missing or the store disagrees with
// itself.
core::Result<pb::ProofBundle> BuildProofBundle(const Ledger& ledger, const core::ItemId& item,
                                               uint64_t since_height = 0);

// The governance walk alone, for a header at the ledger's head (what BuildProofBundle adds).
// REQUIRES: called inside Ledger::ReadConsistent with the head at `head_height`.
core::Result<pb::GovernanceWalk> BuildGovernanceWalk(const Ledger& ledger, uint64_t since_height,
                                                     uint64_t head_height);

}  // namespace hallmark::storage
