#include "wallet-cli/trust_store.h"

#include <cstdlib>
#include <fstream>
#include <ostream>
#include <string>

#include "core/codec.h"
#include "core/crypto/sha256.h"
#include "core/governance.h"
#include "proto/cli.pb.h"
#include "wallet-cli/verify_commands.h"

namespace hallmark::wallet {
namespace {

constexpr uint32_t kTrustFileVersion = 1;
// A network state of the largest size the rules allow (4,096 organisations of 256 keys) fits.
constexpr uintmax_t kMaxTrustFileBytes = 64 * 1024 * 1024;

std::string Checksum(pb::TrustFile file) {
  file.clear_checksum();
  return std::string(core::Sha256Of(std::string_view(core::SerializeDeterministic(file))).view());
}

// The trusted state must extend genesis: the genesis organisations as admitted at height 0 with
// their genesis keys first, and the genesis validator set from height 0. A state for another
// network, or an edited one that drops or changes genesis, is refused.
core::Status ExtendsGenesis(const pb::NetworkStateProto& trusted, const core::Network& network) {
  const pb::NetworkStateProto genesis = core::NetworkState::FromGenesis(network).ToProto();
  if (trusted.validator_epochs_size() == 0 ||
      core::SerializeDeterministic(trusted.validator_epochs(0)) !=
          core::SerializeDeterministic(genesis.validator_epochs(0))) {
    return core::Status::InvalidInput("its first validator set is not genesis'");
  }
  for (const pb::OrganizationRecord& g : genesis.organizations()) {
    const pb::OrganizationRecord* t = nullptr;
    for (const pb::OrganizationRecord& o : trusted.organizations()) {
      if (o.id() == g.id()) t = &o;
    }
    if (!t || t->member_from() != 0 || t->versions_size() == 0 ||
        core::SerializeDeterministic(t->versions(0)) !=
            core::SerializeDeterministic(g.versions(0)) ||
        t->keys_size() < g.keys_size()) {
      return core::Status::InvalidInput("genesis organization \"" + g.id() +
                                        "\" is missing or different");
    }
    for (int i = 0; i < g.keys_size(); ++i) {
      if (t->keys(i).key() != g.keys(i).key() || t->keys(i).valid_from() != 0) {
        return core::Status::InvalidInput("a genesis key of \"" + g.id() + "\" is different");
      }
    }
  }
  if (trusted.pending_size() != 0) return core::Status::InvalidInput("it holds pending proposals");
  return core::Status::Ok();
}

}  // namespace

std::filesystem::path TrustDir(const std::filesystem::path& dir) {
  if (!dir.empty()) return dir;
  if (const char* state = std::getenv("XDG_STATE_HOME"); state && *state) {
    return std::filesystem::path(state) / "hallmark" / "trust";
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    return std::filesystem::path(home) / ".local" / "state" / "hallmark" / "trust";
  }
  return {};
}

std::filesystem::path TrustFilePath(const std::filesystem::path& dir,
                                    const core::Network& network) {
  return dir / (network.hash().Hex() + ".pb");
}

std::optional<core::TrustedState> LoadTrust(const std::filesystem::path& dir,
                                            const core::Network& network, std::ostream& err) {
  if (dir.empty()) return std::nullopt;
  const std::filesystem::path path = TrustFilePath(dir, network);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  auto ignore = [&](const std::string& why) -> std::optional<core::TrustedState> {
    err << "warning: ignoring the trust file " << path.string() << " (" << why
        << "); checking from genesis, and it will be rewritten after this check\n";
    return std::nullopt;
  };
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return ignore("cannot read it: " + ec.message());
  if (size > kMaxTrustFileBytes) return ignore("it is too large");
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) return ignore("cannot read it");
  pb::TrustFile file;
  if (core::Status st = core::ParseCanonical(bytes, &file, "trust file"); !st.ok()) {
    return ignore(st.message());
  }
  if (file.version() != kTrustFileVersion) {
    return ignore("version " + std::to_string(file.version()) + " is not known");
  }
  if (file.checksum() != Checksum(file)) return ignore("its checksum does not match: damaged");
  if (file.genesis_hash() != network.hash().view()) return ignore("it is for another network");
  if (file.height() == 0) return ignore("height 0");
  if (core::Status st = ExtendsGenesis(file.state(), network); !st.ok()) {
    return ignore("it does not extend this genesis: " + st.message());
  }
  auto state = core::NetworkState::FromProto(file.state(), network.governance());
  if (!state.ok()) return ignore(state.status().message());
  // A change completed by the trusted height is in force by height + delay: a set scheduled
  // later was never certified (and the walk's rules assume none is).
  const uint64_t delay = network.governance().validator_change_delay_heights();
  const uint64_t latest_from = state->LatestValidatorSet().from_height;
  if (latest_from > delay && latest_from - delay > file.height()) {
    return ignore("a validator set is scheduled from height " + std::to_string(latest_from) +
                  ", beyond what changes up to its height " + std::to_string(file.height()) +
                  " can schedule");
  }
  return core::TrustedState{file.height(), std::move(state).value()};
}

core::Status SaveTrust(const std::filesystem::path& dir, const core::Network& network,
                       uint64_t height, const core::Hash256& block_hash,
                       const core::NetworkState& state) {
  if (dir.empty()) return core::Status::Ok();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return core::Status::IoError("cannot create " + dir.string() + ": " + ec.message());
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  pb::TrustFile file;
  file.set_version(kTrustFileVersion);
  file.set_genesis_hash(std::string(network.hash().view()));
  file.set_height(height);
  file.set_block_hash(std::string(block_hash.view()));
  *file.mutable_state() = state.ToProto();
  file.mutable_state()->clear_pending();
  file.set_checksum(Checksum(file));
  return WriteOutputFile(TrustFilePath(dir, network), core::SerializeDeterministic(file),
                         "trust file");
}

}  // namespace hallmark::wallet
