#pragma once

#include "core/crypto/ed25519.h"

namespace hallmark::node {

// Decides which of two authenticated connections between us and `peer` to keep, when a new one
// arrives while `existing` is up. `*_outbound` says whether we dialed that connection.
//
// The rule: keep the connection dialed by the lower key; if both were dialed by the same side,
// keep the new one (the old one is most likely dead: the dialer restarted or lost it). Both
// nodes apply the rule to the same two connections with the roles swapped and reach the same
// answer, so they converge on one link without exchanging a message. The rule never forces a
// redial: a single link dialed by the higher key is kept when no other exists.
inline bool PreferNewConnection(const core::PublicKey& own, const core::PublicKey& peer,
                                bool existing_outbound, bool new_outbound) {
  const core::PublicKey& existing_dialer = existing_outbound ? own : peer;
  const core::PublicKey& new_dialer = new_outbound ? own : peer;
  return existing_dialer == new_dialer || new_dialer < existing_dialer;
}

}  // namespace hallmark::node
