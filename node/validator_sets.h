#pragma once

// Validator sets as the node reads them from the network state (core/governance.h): for the
// transport. The engine and the evidence pool take core::ToValidatorSet of an epoch.

#include <map>
#include <string>

#include "core/certificate.h"
#include "core/governance.h"

namespace hallmark::node {

// Every validator of the set in force at `height` or of a set scheduled after it, by key, with
// its name: who may connect as a validator (Transport::SetValidators).
std::map<core::PublicKey, std::string> ValidatorsFrom(const core::NetworkState& state,
                                                      uint64_t height);

}  // namespace hallmark::node
