#include "core/genesis.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "core/codec.h"
#include "core/crypto/ed25519.h"
#include "core/crypto/sha256.h"
#include "core/json.h"
#include "core/limits.h"

namespace hallmark::core {

namespace {

bool IsValidOrgId(std::string_view id) {
  if (id.empty() || id.size() > limits::kMaxOrgIdBytes) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool IsValidChainId(std::string_view id) {
  if (id.empty() || id.size() > limits::kMaxChainIdBytes) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The approval threshold is a fraction in [1/2, 1): a minority never governs, and the strict
// "more than" keeps every fraction below 1 reachable (by all members at worst).
Status CheckGovernanceParams(const pb::GovernanceParams& gov) {
  const uint64_t num = gov.threshold_numerator();
  const uint64_t den = gov.threshold_denominator();
  if (den == 0 || den > limits::kMaxApprovalDenominator || num >= den || 2 * num < den) {
    return Status::InvalidInput(
        "governance threshold " + std::to_string(num) + "/" + std::to_string(den) +
        " must be a fraction from 1/2 up to (not including) 1, with a denominator of at most " +
        std::to_string(limits::kMaxApprovalDenominator) +
        " (a proposal passes with more than that fraction of the member organizations)");
  }
  if (gov.proposal_lifetime_heights() > limits::kMaxProposalLifetimeHeights) {
    return Status::InvalidInput("governance.proposal_lifetime_heights is " +
                                std::to_string(gov.proposal_lifetime_heights()) + "; at most " +
                                std::to_string(limits::kMaxProposalLifetimeHeights) +
                                " is supported");
  }
  if (gov.validator_change_delay_heights() < limits::kMinValidatorChangeDelayHeights ||
      gov.validator_change_delay_heights() > limits::kMaxValidatorChangeDelayHeights) {
    return Status::InvalidInput("governance.validator_change_delay_heights is " +
                                std::to_string(gov.validator_change_delay_heights()) +
                                "; it must be from " +
                                std::to_string(limits::kMinValidatorChangeDelayHeights) + " to " +
                                std::to_string(limits::kMaxValidatorChangeDelayHeights));
  }
  return Status::Ok();
}

// A value quoted in an error message: cut, with bytes outside printable ASCII shown as '?', so
// that a hostile value cannot steer the terminal that prints the message.
std::string Shown(std::string_view value) {
  std::string out = "\"";
  for (char c : value.substr(0, 80)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (value.size() > 80) out += "…";
  return out + "\"";
}

}  // namespace

Status CheckResolverDomain(std::string_view d) {
  if (d.empty()) return Status::Ok();
  const std::string what = "resolver_domain " + Shown(d);
  if (d.size() > limits::kMaxResolverDomainBytes) {
    return Status::InvalidInput(what + " is " + std::to_string(d.size()) +
                                " bytes; a host name has at most " +
                                std::to_string(limits::kMaxResolverDomainBytes));
  }
  if (d.find("://") != std::string_view::npos) {
    return Status::InvalidInput(what +
                                " must be a host name only, without a scheme (such as "
                                "resolver.example.com, not https://resolver.example.com)");
  }
  if (d.find(':') != std::string_view::npos) {
    return Status::InvalidInput(what +
                                " must be a host name only, without a port (QR codes "
                                "point at https on port 443)");
  }
  if (d.find_first_of("/?#") != std::string_view::npos) {
    return Status::InvalidInput(what + " must be a host name only, without a path");
  }
  if (d.find('.') == std::string_view::npos) {
    return Status::InvalidInput(what +
                                " must be a fully qualified host name with at least one "
                                "dot (such as resolver.example.com)");
  }
  size_t start = 0;
  while (start <= d.size()) {
    size_t end = d.find('.', start);
    if (end == std::string_view::npos) end = d.size();
    std::string_view label = d.substr(start, end - start);
    if (label.empty()) {
      return Status::InvalidInput(what +
                                  " has an empty label (a leading, trailing or double "
                                  "dot)");
    }
    if (label.size() > limits::kMaxDnsLabelBytes) {
      return Status::InvalidInput(what + " has a label longer than " +
                                  std::to_string(limits::kMaxDnsLabelBytes) + " characters");
    }
    for (char c : label) {
      if (c >= 'A' && c <= 'Z') return Status::InvalidInput(what + " must be lower case");
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
        return Status::InvalidInput(what +
                                    " may hold only a-z, 0-9, '-' and '.' (write an "
                                    "international name in its xn-- form)");
      }
    }
    if (label.front() == '-' || label.back() == '-') {
      return Status::InvalidInput(what + " has a label that starts or ends with '-'");
    }
    start = end + 1;
  }
  return Status::Ok();
}

Status CheckWebsite(std::string_view url) {
  if (url.empty()) return Status::Ok();
  const std::string what = "website " + Shown(url);
  if (url.size() > limits::kMaxWebsiteBytes) {
    return Status::InvalidInput(what + " is " + std::to_string(url.size()) + " bytes; at most " +
                                std::to_string(limits::kMaxWebsiteBytes) + " are allowed");
  }
  for (char c : url) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '"' || c == '\'' || c == '<' || c == '>' || c == '\\' ||
        c == '`') {
      return Status::InvalidInput(
          what +
          " holds a space, a control or non-ASCII character, a quote, a backslash, a "
          "backtick or an angle bracket; percent-encode it (and write an international "
          "host in its xn-- form)");
    }
  }
  constexpr std::string_view kScheme = "https://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return Status::InvalidInput(what + " must start with https://");
  }
  std::string_view rest = url.substr(kScheme.size());
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) {
    return Status::InvalidInput(what +
                                " must not hold user info ('@' before the path): the link "
                                "would not go where it reads");
  }
  std::string_view host = authority;
  if (size_t colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    std::string_view port = authority.substr(colon + 1);
    if (port.empty() || port.size() > 5 || !AllDigits(port) || std::stoul(std::string(port)) == 0 ||
        std::stoul(std::string(port)) > 65535) {
      return Status::InvalidInput(what + " has a bad port (1 to 65535)");
    }
  }
  if (host.empty()) return Status::InvalidInput(what + " has no host");
  for (char c : host) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '.')) {
      return Status::InvalidInput(what + ": the host may hold only letters, digits, '-' and '.'");
    }
  }
  if (host.front() == '.' || host.back() == '.' || host.find("..") != std::string_view::npos) {
    return Status::InvalidInput(what + ": the host has an empty label");
  }
  return Status::Ok();
}

Result<Hash256> ParsePublicKeyHex(std::string_view hex) {
  auto key = Hash256::FromHex(hex);
  if (!key) {
    return Status::InvalidInput("public key must be 64 hex digits, found \"" +
                                std::string(hex.substr(0, 80)) + "\"");
  }
  if (!IsCanonicalPointEncoding(key->span())) {
    return Status::InvalidInput("public key " + std::string(hex) +
                                " is not a canonical Ed25519 point encoding");
  }
  if (IsSmallOrderPointEncoding(key->span())) {
    return Status::InvalidInput("public key " + std::string(hex) +
                                " is a small-order point, which no honest key is");
  }
  return *key;
}

Result<Network> Network::FromJson(std::string_view json) {
  if (json.size() > limits::kMaxGenesisBytes) {
    return Status::InvalidInput("genesis is " + std::to_string(json.size()) +
                                " bytes; the limit is " + std::to_string(limits::kMaxGenesisBytes));
  }
  pb::Genesis genesis;
  HM_RETURN_IF_ERROR(
      ParseJsonStrict(json, &genesis, kGenesisJsonLimits).WithContext("genesis JSON"));
  return FromProto(std::move(genesis));
}

Result<Network> Network::FromFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot open genesis file " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::IoError("cannot read genesis file " + path.string());
  auto net = FromJson(ss.str());
  if (!net.ok()) return net.status().WithContext(path.string());
  return net;
}

Result<Network> Network::FromProto(pb::Genesis genesis) {
  Network net;
  net.genesis_ = std::move(genesis);
  auto* params = net.genesis_.mutable_consensus();
  if (params->max_block_records() == 0) params->set_max_block_records(limits::kDefaultBlockRecords);
  if (params->max_block_bytes() == 0) params->set_max_block_bytes(limits::kDefaultBlockBytes);
  if (params->timeout_propose_ms() == 0) params->set_timeout_propose_ms(1000);
  if (params->timeout_prevote_ms() == 0) params->set_timeout_prevote_ms(500);
  if (params->timeout_precommit_ms() == 0) params->set_timeout_precommit_ms(500);
  if (params->timeout_delta_ms() == 0) params->set_timeout_delta_ms(250);
  if (params->idle_block_interval_ms() == 0) {
    params->set_idle_block_interval_ms(limits::kDefaultIdleBlockIntervalMs);
  }
  if (params->max_clock_skew_ms() == 0)
    params->set_max_clock_skew_ms(limits::kDefaultMaxClockSkewMs);
  // Governance defaults are filled into the genesis only when it has the section: a genesis
  // written before governance existed keeps its hash, so upgraded nodes keep their data folders
  // and saved proofs keep checking. Without the section the defaults apply all the same.
  pb::GovernanceParams gov = net.genesis_.governance();
  if (gov.threshold_numerator() == 0 && gov.threshold_denominator() == 0) {
    gov.set_threshold_numerator(limits::kDefaultApprovalNumerator);
    gov.set_threshold_denominator(limits::kDefaultApprovalDenominator);
  }
  if (gov.proposal_lifetime_heights() == 0) {
    gov.set_proposal_lifetime_heights(limits::kDefaultProposalLifetimeHeights);
  }
  if (gov.validator_change_delay_heights() == 0) {
    gov.set_validator_change_delay_heights(limits::kDefaultValidatorChangeDelayHeights);
  }
  if (net.genesis_.has_governance()) *net.genesis_.mutable_governance() = gov;
  net.governance_ = gov;
  HM_RETURN_IF_ERROR(net.Index());

  net.hash_ = Sha256Of(std::string_view(SerializeDeterministic(net.genesis_)));
  return net;
}

Status Network::Index() {
  const pb::Genesis& g = genesis_;
  if (!IsValidChainId(g.chain_id())) {
    return Status::InvalidInput("chain_id \"" + g.chain_id().substr(0, 80) +
                                "\" must be 1 to 64 characters of a-z, 0-9, '-', '.', '_'");
  }
  const auto& p = g.consensus();
  if (p.max_block_records() > limits::kMaxBlockRecords) {
    return Status::InvalidInput("consensus.max_block_records is " +
                                std::to_string(p.max_block_records()) + "; at most " +
                                std::to_string(limits::kMaxBlockRecords) + " is supported");
  }
  if (p.max_block_bytes() > limits::kMaxBlockBytes) {
    return Status::InvalidInput("consensus.max_block_bytes is " +
                                std::to_string(p.max_block_bytes()) + "; at most " +
                                std::to_string(limits::kMaxBlockBytes) + " is supported");
  }
  if (p.idle_block_interval_ms() < limits::kMinIdleBlockIntervalMs ||
      p.idle_block_interval_ms() > limits::kMaxIdleBlockIntervalMs) {
    return Status::InvalidInput("consensus.idle_block_interval_ms is " +
                                std::to_string(p.idle_block_interval_ms()) + "; it must be from " +
                                std::to_string(limits::kMinIdleBlockIntervalMs) + " to " +
                                std::to_string(limits::kMaxIdleBlockIntervalMs));
  }
  if (p.max_clock_skew_ms() > limits::kMaxClockSkewMsLimit) {
    return Status::InvalidInput("consensus.max_clock_skew_ms is " +
                                std::to_string(p.max_clock_skew_ms()) + "; at most " +
                                std::to_string(limits::kMaxClockSkewMsLimit) + " is supported");
  }
  HM_RETURN_IF_ERROR(CheckGovernanceParams(governance_));
  if (g.organizations_size() == 0) return Status::InvalidInput("genesis has no organizations");
  if (static_cast<size_t>(g.organizations_size()) > limits::kMaxOrganizations) {
    return Status::InvalidInput("genesis has more than " +
                                std::to_string(limits::kMaxOrganizations) + " organizations");
  }

  std::vector<std::pair<std::string, int>> all_prefixes;
  for (int i = 0; i < g.organizations_size(); ++i) {
    const pb::Organization& org = g.organizations(i);
    std::string where = "organization " + std::to_string(i);
    if (!IsValidOrgId(org.id())) {
      return Status::InvalidInput(where + ": id \"" + org.id().substr(0, 80) +
                                  "\" must be 1 to 32 characters of a-z, 0-9 and '-'");
    }
    where = "organization \"" + org.id() + "\"";
    if (!org_by_id_.emplace(org.id(), i).second) {
      return Status::InvalidInput(where + " is listed twice");
    }
    if (org.display_name().size() > limits::kMaxDisplayNameBytes) {
      return Status::InvalidInput(where + ": display_name is longer than " +
                                  std::to_string(limits::kMaxDisplayNameBytes) + " bytes");
    }
    if (org.roles_size() == 0) return Status::InvalidInput(where + " has no roles");
    std::set<int> roles;
    for (int r : org.roles()) {
      if (r == pb::ROLE_UNSPECIFIED || !pb::Role_IsValid(r)) {
        return Status::InvalidInput(where + " has an unknown role (" + std::to_string(r) +
                                    "); roles are BRAND, MARKETPLACE, AUTHENTICATOR, "
                                    "SERVICE_CENTER");
      }
      if (!roles.insert(r).second) {
        return Status::InvalidInput(where + " lists role " + pb::Role_Name(r) + " twice");
      }
    }
    if (org.signing_keys_size() == 0) return Status::InvalidInput(where + " has no signing keys");
    if (static_cast<size_t>(org.signing_keys_size()) > limits::kMaxKeysPerOrganization) {
      return Status::InvalidInput(where + " has more than " +
                                  std::to_string(limits::kMaxKeysPerOrganization) +
                                  " signing keys");
    }
    for (const std::string& hex : org.signing_keys()) {
      auto key = ParsePublicKeyHex(hex);
      if (!key.ok()) return key.status().WithContext(where + ": signing key");
      auto [it, fresh] = org_by_key_.emplace(*key, i);
      if (!fresh) {
        return Status::InvalidInput(where + ": signing key " + hex + " is already used by \"" +
                                    g.organizations(it->second).id() + "\"");
      }
    }
    if (Status st = CheckResolverDomain(org.resolver_domain()); !st.ok()) {
      return st.WithContext(where);
    }
    if (Status st = CheckWebsite(org.website()); !st.ok()) return st.WithContext(where);
    bool brand = HasRole(org, pb::BRAND);
    if (!brand && org.gs1_company_prefixes_size() > 0) {
      return Status::InvalidInput(where + " has GS1 company prefixes but is not a BRAND");
    }
    if (brand && org.gs1_company_prefixes_size() == 0) {
      return Status::InvalidInput(where + " is a BRAND but has no gs1_company_prefixes");
    }
    if (static_cast<size_t>(org.gs1_company_prefixes_size()) > limits::kMaxPrefixesPerBrand) {
      return Status::InvalidInput(where + " has more than " +
                                  std::to_string(limits::kMaxPrefixesPerBrand) + " prefixes");
    }
    for (const std::string& prefix : org.gs1_company_prefixes()) {
      if (!AllDigits(prefix) || prefix.size() < 6 || prefix.size() > 12) {
        return Status::InvalidInput(where + ": GS1 company prefix \"" + prefix.substr(0, 40) +
                                    "\" must be 6 to 12 digits");
      }
      all_prefixes.emplace_back(prefix, i);
    }
  }

  // Overlap: after sorting, a prefix that is a prefix of another sorts right before some string
  // it prefixes, so comparing neighbours finds every overlap.
  std::sort(all_prefixes.begin(), all_prefixes.end());
  for (size_t i = 0; i + 1 < all_prefixes.size(); ++i) {
    const auto& [a, ai] = all_prefixes[i];
    const auto& [b, bi] = all_prefixes[i + 1];
    if (b.compare(0, a.size(), a) == 0) {
      std::string msg = a == b ? "GS1 company prefix " + a + " is listed twice"
                               : "GS1 company prefixes overlap: " + a + " is a prefix of " + b;
      msg += " (\"" + g.organizations(ai).id() + "\" and \"" + g.organizations(bi).id() + "\")";
      return Status::InvalidInput(msg);
    }
  }
  for (const auto& [prefix, idx] : all_prefixes) brand_by_prefix_.emplace(prefix, idx);

  if (g.validators_size() == 0) return Status::InvalidInput("genesis has no validators");
  if (static_cast<size_t>(g.validators_size()) > limits::kMaxValidators) {
    return Status::InvalidInput("genesis has more than " + std::to_string(limits::kMaxValidators) +
                                " validators");
  }
  std::set<Hash256> validator_keys;
  for (int i = 0; i < g.validators_size(); ++i) {
    const pb::Validator& v = g.validators(i);
    std::string where = "validator " + std::to_string(i) +
                        (v.name().empty() ? "" : " (\"" + v.name().substr(0, 64) + "\")");
    if (!org_by_id_.contains(v.organization())) {
      return Status::InvalidInput(where + ": unknown organization \"" +
                                  v.organization().substr(0, 64) + "\"");
    }
    auto key = ParsePublicKeyHex(v.consensus_key());
    if (!key.ok()) return key.status().WithContext(where + ": consensus key");
    if (!validator_keys.insert(*key).second) {
      return Status::InvalidInput(where + ": consensus key " + v.consensus_key() +
                                  " is used by another validator");
    }
    if (v.voting_power() == 0) return Status::InvalidInput(where + ": voting_power must be > 0");
    if (v.voting_power() > limits::kMaxTotalVotingPower - total_power_) {
      return Status::InvalidInput("total voting power exceeds 2^60");
    }
    total_power_ += v.voting_power();
    validators_.push_back(ValidatorInfo{v.name(), v.organization(), *key, v.voting_power()});
  }
  return Status::Ok();
}

Network Network::WithMembership(std::vector<pb::Organization> organizations,
                                std::vector<ValidatorInfo> validators) const {
  Network net;
  net.genesis_ = genesis_;
  net.governance_ = governance_;
  net.hash_ = hash_;
  net.genesis_.clear_organizations();
  for (auto& org : organizations) *net.genesis_.add_organizations() = std::move(org);
  net.IndexOrganizations();
  net.validators_ = std::move(validators);
  for (const auto& v : net.validators_) net.total_power_ += v.voting_power;
  return net;
}

void Network::IndexOrganizations() {
  org_by_id_.clear();
  org_by_key_.clear();
  brand_by_prefix_.clear();
  for (int i = 0; i < genesis_.organizations_size(); ++i) {
    const pb::Organization& org = genesis_.organizations(i);
    org_by_id_.emplace(org.id(), i);
    // The keys passed the acceptance policy when governance admitted them: only decode the hex.
    for (const std::string& hex : org.signing_keys()) {
      if (auto key = Hash256::FromHex(hex)) org_by_key_.emplace(*key, i);
    }
    for (const std::string& prefix : org.gs1_company_prefixes())
      brand_by_prefix_.emplace(prefix, i);
  }
}

const pb::Organization* Network::FindOrganization(std::string_view id) const {
  auto it = org_by_id_.find(std::string(id));
  return it == org_by_id_.end() ? nullptr : &genesis_.organizations(it->second);
}

const pb::Organization* Network::OrganizationOfKey(const Hash256& key) const {
  auto it = org_by_key_.find(key);
  return it == org_by_key_.end() ? nullptr : &genesis_.organizations(it->second);
}

const pb::Organization* Network::BrandForPrefixRegion(std::string_view region) const {
  // Prefixes are 6..12 digits and never overlap, so try each length once.
  for (size_t len = 6; len <= 12 && len <= region.size(); ++len) {
    auto it = brand_by_prefix_.find(std::string(region.substr(0, len)));
    if (it != brand_by_prefix_.end()) return &genesis_.organizations(it->second);
  }
  return nullptr;
}

bool Network::HasRole(const pb::Organization& org, pb::Role role) {
  for (int r : org.roles())
    if (r == role) return true;
  return false;
}

}  // namespace hallmark::core
