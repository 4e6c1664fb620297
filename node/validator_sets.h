#pragma once

// Validator sets as the node reads them from the network state (core/governance.h): for the
// engine, the transport and the evidence pool.

#include <map>
#include <string>

#include "core/certificate.h"
#include "core/governance.h"

namespace hallmark::node {

// The validators of an epoch as the engine wants them (same order). Fails only on a set the
// governance rules could not have built (our bug or a corrupt store).
core::Result<core::ValidatorSet> ValidatorSetOf(const core::ValidatorEpoch& epoch);

// Every validator of the set in force at `height` or of a set scheduled after it, by key, with
// its name: who may connect as a validator (Transport::SetValidators).
std::map<core::PublicKey, std::string> ValidatorsFrom(const core::NetworkState& state,
                                                      uint64_t height);

}  // namespace hallmark::node
