#pragma once

// `hallmark verify`'s trust file: per network (by genesis hash), the governed network state that
// this verifier itself checked, as of a certified header. With it, a node only needs to send the
// governance changes after that height (GET /v1/items/{id}/proof?since=H). Written only after a
// bundle checked out, atomically (a temporary file and a rename). A file that is unreadable,
// damaged, for another network or not an extension of genesis is ignored with a warning, and the
// verifier starts from genesis: a corrupt trust file costs a longer walk, never a wrong verdict
// on a bundle whose walk starts at genesis (docs/proofs.md, "The trust file").

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>

#include "core/bytes.h"
#include "core/genesis.h"
#include "core/governance_proof.h"
#include "core/status.h"

namespace hallmark::wallet {

// The folder: `dir` when given; else $XDG_STATE_HOME/hallmark/trust; else
// $HOME/.local/state/hallmark/trust; empty when none of them is known.
std::filesystem::path TrustDir(const std::filesystem::path& dir);
// <dir>/<genesis hash hex>.pb
std::filesystem::path TrustFilePath(const std::filesystem::path& dir, const core::Network& network);

// The trusted state of `network` in `dir`, or nullopt when there is none or it cannot be used
// (a warning on `err` says why).
std::optional<core::TrustedState> LoadTrust(const std::filesystem::path& dir,
                                            const core::Network& network, std::ostream& err);

// Records `state` as checked at `height` (header `block_hash`). REQUIRES: the state came from a
// bundle that checked out (core::ProvenItem::network_state).
core::Status SaveTrust(const std::filesystem::path& dir, const core::Network& network,
                       uint64_t height, const core::Hash256& block_hash,
                       const core::NetworkState& state);

}  // namespace hallmark::wallet
