#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/bytes.h"
#include "core/limits.h"
#include "core/status.h"
#include "proto/genesis.pb.h"

namespace hallmark::core {

// One validator of the genesis set, with its key decoded.
struct ValidatorInfo {
  std::string name;
  std::string organization;
  Hash256 key;  // Ed25519 consensus public key.
  uint64_t voting_power = 0;
};

// A loaded and validated genesis: the network's identity, its organisations and validators,
// with the look-ups the record rules need. Immutable after loading; safe to share across threads.
class Network {
 public:
  // Parses genesis JSON through Protobuf's JSON mapping (unknown fields are errors) and validates
  // it. Every error names the organisation, validator or field at fault.
  static Result<Network> FromJson(std::string_view json);
  static Result<Network> FromFile(const std::filesystem::path& path);
  // Validates an already-parsed genesis (used by tools that build one).
  static Result<Network> FromProto(pb::Genesis genesis);

  const pb::Genesis& genesis() const { return genesis_; }
  const std::string& chain_id() const { return genesis_.chain_id(); }
  // SHA-256 of the genesis' deterministic Protobuf encoding; names the network in handshakes
  // and in the data folder.
  const Hash256& hash() const { return hash_; }

  // nullptr when unknown.
  const pb::Organization* FindOrganization(std::string_view id) const;
  // The organisation holding this signing key, or nullptr (a consumer's key, or a stranger's).
  const pb::Organization* OrganizationOfKey(const Hash256& key) const;
  // The brand owning the GS1 company prefix that starts `prefix_region` (GTIN-14 digits 2..13),
  // or nullptr. Prefixes never overlap, so at most one matches.
  const pb::Organization* BrandForPrefixRegion(std::string_view prefix_region) const;
  static bool HasRole(const pb::Organization& org, pb::Role role);

  // This network (same chain id, hash, parameters) with its organisations and validators
  // replaced: what the custody rules see at a height after governance changed the membership
  // (NetworkState::MembershipAt). The replacement comes from a state the governance rules built,
  // so it is indexed without genesis' checks. Keys in `organizations` are hex, as in genesis.
  Network WithMembership(std::vector<pb::Organization> organizations,
                         std::vector<ValidatorInfo> validators) const;

  const std::vector<ValidatorInfo>& validators() const { return validators_; }
  uint64_t total_voting_power() const { return total_power_; }
  uint32_t max_block_records() const { return genesis_.consensus().max_block_records(); }
  uint64_t max_block_bytes() const { return genesis_.consensus().max_block_bytes(); }
  uint64_t idle_block_interval_ms() const { return genesis_.consensus().idle_block_interval_ms(); }
  uint64_t max_clock_skew_ms() const { return genesis_.consensus().max_clock_skew_ms(); }
  // Approval threshold, proposal lifetime and validator-change delay (docs/governance.md), with
  // defaults filled in (also when genesis has no governance section).
  const pb::GovernanceParams& governance() const { return governance_; }
  // The default age past which a verifier calls a proof stale: the network certifies a new head
  // at least every idle interval, so an honest node's answer is never much older than that.
  uint64_t freshness_ms() const {
    return limits::kFreshnessIdleIntervals * idle_block_interval_ms() + max_clock_skew_ms();
  }

 private:
  Network() = default;
  Status Index();
  // Builds the look-ups of organisations without checking them.
  void IndexOrganizations();

  pb::Genesis genesis_;
  pb::GovernanceParams governance_;
  Hash256 hash_;
  std::unordered_map<std::string, int> org_by_id_;
  std::unordered_map<Hash256, int> org_by_key_;
  std::unordered_map<std::string, int> brand_by_prefix_;
  std::vector<ValidatorInfo> validators_;
  uint64_t total_power_ = 0;
};

// Parses a 64-hex-digit Ed25519 public key and checks it against the acceptance policy.
Result<Hash256> ParsePublicKeyHex(std::string_view hex);

// Where an organisation's QR codes point when it names no resolver_domain: GS1's global resolver.
inline constexpr std::string_view kDefaultResolverDomain = "id.gs1.org";

// An organisation's resolver_domain (the host of its GS1 Digital Link resolver): a lower-case DNS
// host name of at most 253 bytes with at least one dot, each label 1 to 63 characters of a-z, 0-9
// and '-', not starting or ending with '-'; no scheme, port or path. Empty is allowed (the
// default). InvalidInput saying what is wrong otherwise; the caller names the organisation.
Status CheckResolverDomain(std::string_view domain);
// An organisation's website: "https://" then a host (letters, digits, '.', '-', an optional
// :port) and an optional path, query or fragment; at most 512 bytes of printable ASCII without
// spaces, quotes, backslashes, backticks or angle brackets, and no user info ('@' before the
// path), so that the link goes where it reads. Empty is allowed (none).
Status CheckWebsite(std::string_view url);

}  // namespace hallmark::core
