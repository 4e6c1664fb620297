#pragma once

// `hallmark verify`: checks an item's proof bundle against genesis.json alone, so the answer
// does not depend on trusting the node that served it (docs/proofs.md). Like the other
// commands, a library function returning the exit code, so tests run it in-process.

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace hallmark::wallet {

// Exit codes of `hallmark verify`.
enum class VerifyExit : int {
  kClean = 0,     // The proof checks out; the item is registered, active and unflagged.
  kNotClean = 1,  // The proof checks out; the item was never registered, is flagged or is
                  // decommissioned (the output says which).
  kInvalid = 2,   // The proof does not check out (the output names the check that failed).
  kUsage = 3,     // Usage, file or network error: nothing was verified.
  kStale = 4,     // The proof checks out but its header is older than the age limit: it says
                  // nothing about the item now (a newer flag may be missing).
};

struct VerifyOptions {
  std::string item;                    // Any id form; required with proof_path unless any_item.
  std::filesystem::path genesis_path;  // Required: the only thing trusted.
  // The nodes to ask; empty: ResolveNodeUrl(""). The newest header that checks out wins.
  std::vector<std::string> node_urls;
  std::filesystem::path proof_path;  // Offline: verify this saved bundle instead.
  std::filesystem::path save_path;   // Save the fetched bundle here (binary Protobuf).
  // A proof whose header is older is stale (exit 4). Online it defaults to the network's
  // freshness limit (core::Network::freshness_ms); offline there is none unless given.
  std::optional<uint64_t> max_age_ms;
  // Offline only: verify whichever item the bundle is about (it is named first) instead of
  // requiring the id from the tag.
  bool any_item = false;
  bool json = false;
  uint32_t timeout_ms = 0;  // 0: the HTTP client's default.
  uint64_t now_ms = 0;      // 0: this machine's clock (tests fix it).
  // The folder of trust files (wallet-cli/trust_store.h): the network state last checked is
  // read from there, only the governance changes since it are asked for, and a newer checked
  // state is written back. Empty: none (the CLI passes TrustDir(--trust-dir)).
  std::filesystem::path trust_dir;
};

int RunVerify(const VerifyOptions& options, std::ostream& out, std::ostream& err);

// A saved bundle file: binary Protobuf, or JSON (Protobuf's mapping) when its first non-blank
// byte is '{', returned as binary. IoError when it cannot be read; InvalidInput when it is too
// large or is JSON that does not parse (a bundle that fails the format check).
core::Result<std::string> ReadProofBundleFile(const std::filesystem::path& path);

// Writes `text` to `path` (replacing it) through a temporary file in the same folder and a
// rename, so a reader sees the whole file or the old one; a failed run leaves nothing behind.
// `option` names the flag in messages ("--out").
core::Status WriteOutputFile(const std::filesystem::path& path, std::string_view text,
                             std::string_view option);

// "90s", "10m", "2h", "7d", "1500ms", "1h30m" → milliseconds. InvalidInput otherwise.
core::Result<uint64_t> ParseDuration(std::string_view text);
// "2 h 5 min", "40 s", "3 d 4 h": the two largest units.
std::string FormatAge(uint64_t ms);

}  // namespace hallmark::wallet
