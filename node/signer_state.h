#pragma once

// The validator's signer state on disk, in two places:
//   - the data folder's "signer" record (Ledger::PutLocal), beside the lock record it pairs with;
//   - the high-water mark <home>/signer_state.json, beside node.key and outside the data folder,
//     so that restoring an old copy of the data folder cannot roll it back (CometBFT keeps
//     priv_validator_state.json apart for the same reason).
// Both are written, the watermark first, before any vote they guard leaves the node. At start
// ChooseSignerState compares them (docs/operations.md, "What happens at start").

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "consensus/types.h"
#include "core/crypto/ed25519.h"
#include "core/json.h"
#include "core/status.h"

namespace hallmark::node {

inline constexpr char kWatermarkFileName[] = "signer_state.json";
inline constexpr uint32_t kWatermarkVersion = 1;
// A watermark is a few hundred bytes (two votes at most); anything near these bounds is not one.
inline constexpr core::JsonLimits kWatermarkJsonLimits{.bytes_max = 64 * 1024, .values_max = 1'000};

// The data folder's form: binary Protobuf (pb::SignerStateRecord), read with ParseStrict. A new
// validator's data folder is initialised with the empty state; a folder without one (wiped,
// restored) is settled by ChooseSignerState.
std::string EncodeSignerState(const consensus::SignerState& state);
core::Result<consensus::SignerState> DecodeSignerState(std::string_view bytes);

// Writes `data` so that after a crash or power loss `path` holds the old contents or all of the
// new, and the new contents are durable once this returns Ok: a temporary file in the same
// folder (mode 0600), fsync, rename over `path`, fsync of the folder. Any failure is an error,
// the folder's fsync included (without it the rename could be lost, and the file roll back).
core::Status WriteFileDurably(const std::filesystem::path& path, std::string_view data);

// What a watermark guards: one validator key on one chain.
struct WatermarkOwner {
  std::string chain_id;
  core::PublicKey validator;
};

// A watermark written by `hallmarkd restore` (pb::SignerWatermark fields 5-6): the key may have
// signed after it, so the node abstains until the double-sign check passes, then writes the
// watermark again without the mark (docs/operations.md, "Backup and restore").
struct RestoreMark {
  uint64_t from_height = 0;  // The backup's ledger height.
  bool operator==(const RestoreMark&) const = default;
};

// The watermark file's JSON (pb::SignerWatermark through Protobuf's JSON mapping).
std::string EncodeWatermark(const WatermarkOwner& owner, const consensus::SignerState& state,
                            std::optional<RestoreMark> restored = std::nullopt);
// nullopt when `path` does not exist. Corruption when it does not parse (strictly) or is
// malformed; InvalidInput when it has another version or belongs to another chain or key.
core::Result<std::optional<consensus::SignerState>> ReadWatermark(const std::filesystem::path& path,
                                                                  const WatermarkOwner& owner);
core::Status WriteWatermark(const std::filesystem::path& path, const WatermarkOwner& owner,
                            const consensus::SignerState& state,
                            std::optional<RestoreMark> restored = std::nullopt);

// A watermark with its restore mark, if any.
struct WatermarkFile {
  consensus::SignerState state;
  std::optional<RestoreMark> restored;
};
// As ReadWatermark, with the restore mark.
core::Result<std::optional<WatermarkFile>> ReadWatermarkFile(const std::filesystem::path& path,
                                                             const WatermarkOwner& owner);
// The same checks over the file's contents; `name` is what errors call it.
core::Result<WatermarkFile> ParseWatermark(std::string_view json, const WatermarkOwner& owner,
                                           const std::string& name);

// Which signer state a validator starts with. The rule (docs/operations.md): never roll back,
// and abstain (the engine's double-sign check) whenever what was signed last is not known.
enum class SignerStateSource : uint8_t {
  kBothAgree,        // Watermark and data folder hold the same state.
  kWatermark,        // The data folder is behind (restored, wiped) or missing: the watermark.
  kDataFolder,       // The watermark is behind (an older copy): the data folder; rewrite it.
  kAbstainNoMark,    // No watermark: the data folder's state may be an old copy. Abstain.
  kAbstainNone,      // Neither: abstain.
  kAbstainConflict,  // Same (height, round, step), different contents: two lives. Abstain.
};

struct SignerStateChoice {
  SignerStateSource source = SignerStateSource::kAbstainNone;
  // The state to start the engine with; nullopt: abstain until the double-sign check passes.
  std::optional<consensus::SignerState> state;
  // The watermark must be rewritten with `state` before the engine starts.
  bool rewrite_watermark = false;
};

// Pure: compares (height, round, step) of the two states; see SignerStateSource.
SignerStateChoice ChooseSignerState(const std::optional<consensus::SignerState>& watermark,
                                    const std::optional<consensus::SignerState>& data_folder);

// "h=12 r=0 step=3", for logs.
std::string DescribeSignerState(const consensus::SignerState& state);

}  // namespace hallmark::node
