#include "node/validator_sets.h"

#include <algorithm>

namespace hallmark::node {

core::Result<core::ValidatorSet> ValidatorSetOf(const core::ValidatorEpoch& epoch) {
  std::vector<core::ValidatorEntry> entries;
  entries.reserve(epoch.validators.size());
  for (const core::ValidatorInfo& v : epoch.validators) {
    core::ValidatorEntry e;
    std::copy(v.key.span().begin(), v.key.span().end(), e.key.bytes.begin());
    e.voting_power = v.voting_power;
    entries.push_back(e);
  }
  return core::ValidatorSet::Create(std::move(entries));
}

std::map<core::PublicKey, std::string> ValidatorsFrom(const core::NetworkState& state,
                                                      uint64_t height) {
  std::map<core::PublicKey, std::string> out;
  const std::vector<core::ValidatorEpoch>& epochs = state.validator_epochs();
  for (size_t i = 0; i < epochs.size(); ++i) {
    // Epoch i is in force until the next one starts.
    if (i + 1 < epochs.size() && epochs[i + 1].from_height <= height) continue;
    for (const core::ValidatorInfo& v : epochs[i].validators) {
      core::PublicKey key;
      std::copy(v.key.span().begin(), v.key.span().end(), key.bytes.begin());
      out.insert_or_assign(key, v.name);
    }
  }
  return out;
}

}  // namespace hallmark::node
