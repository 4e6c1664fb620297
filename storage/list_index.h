#pragma once

#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"
#include "proto/records.pb.h"
#include "storage/keys.h"

// Private to storage/: the listing index entries of one item state, shared by the ledger's
// commits and the snapshot installer.
namespace hallmark::storage {

// The listing index entries (keys::ListEntry) of an item's state, changed at block time
// `time_ms`: every item, its brand, and each flag it carries with and without its brand.
// REQUIRES: state.brand().size() <= 255.
inline std::vector<std::string> ListIndexKeys(const core::Hash256& key, const pb::ItemState& state,
                                              uint64_t time_ms) {
  HM_ASSERT(state.brand().size() <= 255);  // Organisation ids are at most 32 bytes.
  std::vector<std::string> out;
  out.push_back(keys::ListEntry(keys::ListScope("", 0), time_ms, key));
  if (!state.brand().empty()) {
    out.push_back(keys::ListEntry(keys::ListScope(state.brand(), 0), time_ms, key));
  }
  for (const pb::ActiveFlag& f : state.flags()) {
    if (f.kind() <= 0 || f.kind() > 255) continue;
    out.push_back(keys::ListEntry(keys::ListScope("", f.kind()), time_ms, key));
    if (!state.brand().empty()) {
      out.push_back(keys::ListEntry(keys::ListScope(state.brand(), f.kind()), time_ms, key));
    }
  }
  return out;
}

}  // namespace hallmark::storage
