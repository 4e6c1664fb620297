#include "core/governance.h"

#include <algorithm>
#include <set>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include "core/codec.h"
#include "core/crypto/ed25519.h"
#include "core/crypto/sha256.h"
#include "core/limits.h"

namespace hallmark::core {

namespace {

Rejection Reject(RejectReason reason, std::string message) {
  return Rejection{reason, std::move(message)};
}

std::string Short(const Hash256& h) {
  return ToHex(h.span().subspan(0, 8)) + "…";
}
std::string Short(std::string_view bytes) {
  return ToHex(AsSpan(bytes).subspan(0, std::min<size_t>(bytes.size(), 8))) + "…";
}
std::string Quote(std::string_view s) {
  return "\"" + std::string(s.substr(0, 64)) + "\"";
}
std::string H(uint64_t height) {
  return std::to_string(height);
}

bool IsValidOrgId(std::string_view id) {
  if (id.empty() || id.size() > limits::kMaxOrgIdBytes) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool IsValidPrefix(std::string_view p) {
  return p.size() >= 6 && p.size() <= 12 &&
         std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A public key named in a change: 32 bytes, a canonical point, not of small order (the
// acceptance policy of docs/signatures.md, as for genesis keys).
std::optional<Rejection> CheckKeyBytes(std::string_view field, const std::string& key) {
  if (key.size() != 32) {
    return Reject(RejectReason::kInvalidField, std::string(field) + " must be a 32-byte Ed25519 " +
                                                   "public key, found " +
                                                   std::to_string(key.size()) + " bytes");
  }
  if (!IsCanonicalPointEncoding(AsSpan(key)) || IsSmallOrderPointEncoding(AsSpan(key))) {
    return Reject(RejectReason::kInvalidField, std::string(field) + " " + ToHex(key) +
                                                   " is not an acceptable Ed25519 public key "
                                                   "(non-canonical or small-order point)");
  }
  return std::nullopt;
}

std::optional<Rejection> CheckOrgId(std::string_view field, const std::string& id) {
  if (IsValidOrgId(id)) return std::nullopt;
  return Reject(RejectReason::kInvalidField, std::string(field) + " " + Quote(id) +
                                                 " must be 1 to 32 characters of a-z, 0-9 and '-'");
}

// An organisation's name, roles and prefixes, as AddOrganization and UpdateOrganization state
// them. The same rules as genesis (core/genesis.cpp).
template <typename Change>
std::optional<Rejection> CheckOrgFields(const Change& change) {
  const std::string& id = change.id();
  const auto& roles = change.roles();
  const auto& prefixes = change.gs1_company_prefixes();
  const std::string where = "organization " + Quote(id);
  if (change.display_name().size() > limits::kMaxDisplayNameBytes) {
    return Reject(RejectReason::kLimitExceeded, where + ": display_name is longer than " +
                                                    std::to_string(limits::kMaxDisplayNameBytes) +
                                                    " bytes");
  }
  if (Status st = CheckResolverDomain(change.resolver_domain()); !st.ok()) {
    return Reject(RejectReason::kInvalidField, where + ": " + st.message());
  }
  if (Status st = CheckWebsite(change.website()); !st.ok()) {
    return Reject(RejectReason::kInvalidField, where + ": " + st.message());
  }
  if (roles.empty()) return Reject(RejectReason::kInvalidField, where + " has no roles");
  std::set<int> seen;
  bool brand = false;
  for (int r : roles) {
    if (r == pb::ROLE_UNSPECIFIED || !pb::Role_IsValid(r)) {
      return Reject(RejectReason::kInvalidField,
                    where + " has an unknown role (" + std::to_string(r) +
                        "); roles are BRAND, MARKETPLACE, AUTHENTICATOR, SERVICE_CENTER");
    }
    if (!seen.insert(r).second) {
      return Reject(RejectReason::kInvalidField,
                    where + " lists role " + pb::Role_Name(r) + " twice");
    }
    brand = brand || r == pb::BRAND;
  }
  if (!brand && !prefixes.empty()) {
    return Reject(RejectReason::kInvalidField,
                  where + " has GS1 company prefixes but is not a " + "BRAND");
  }
  if (brand && prefixes.empty()) {
    return Reject(RejectReason::kInvalidField,
                  where + " is a BRAND but has no GS1 company " + "prefixes");
  }
  if (static_cast<size_t>(prefixes.size()) > limits::kMaxPrefixesPerBrand) {
    return Reject(
        RejectReason::kLimitExceeded,
        where + " has more than " + std::to_string(limits::kMaxPrefixesPerBrand) + " prefixes");
  }
  std::vector<std::string> sorted;
  for (const std::string& p : prefixes) {
    if (!IsValidPrefix(p)) {
      return Reject(RejectReason::kInvalidField,
                    where + ": GS1 company prefix " + Quote(p) + " must be 6 to 12 digits");
    }
    sorted.push_back(p);
  }
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i + 1 < sorted.size(); ++i) {
    if (sorted[i + 1].compare(0, sorted[i].size(), sorted[i]) == 0) {
      return Reject(RejectReason::kDuplicate, where + ": GS1 company prefixes " + sorted[i] +
                                                  " and " + sorted[i + 1] + " overlap");
    }
  }
  return std::nullopt;
}

std::optional<Rejection> CheckPower(std::string_view field, uint64_t power) {
  if (power == 0) {
    return Reject(RejectReason::kInvalidField,
                  std::string(field) + " must be > 0 (to remove a validator, propose its removal)");
  }
  if (power > limits::kMaxTotalVotingPower) {
    return Reject(RejectReason::kLimitExceeded, std::string(field) + " is over 2^60");
  }
  return std::nullopt;
}

std::optional<Rejection> CheckChangeStructure(const pb::GovernanceChange& c) {
  switch (c.kind_case()) {
    case pb::GovernanceChange::kAddOrganization: {
      const auto& a = c.add_organization();
      if (auto rej = CheckOrgId("add_organization id", a.id())) return rej;
      if (auto rej = CheckOrgFields(a)) return rej;
      if (a.signing_keys_size() == 0) {
        return Reject(RejectReason::kInvalidField,
                      "organization " + Quote(a.id()) + " has no signing keys");
      }
      if (static_cast<size_t>(a.signing_keys_size()) > limits::kMaxKeysPerOrganization) {
        return Reject(RejectReason::kLimitExceeded,
                      "organization " + Quote(a.id()) + " has more than " +
                          std::to_string(limits::kMaxKeysPerOrganization) + " signing keys");
      }
      std::set<std::string> keys;
      for (const std::string& k : a.signing_keys()) {
        if (auto rej = CheckKeyBytes("signing key", k)) return rej;
        if (!keys.insert(k).second) {
          return Reject(RejectReason::kDuplicate, "signing key " + ToHex(k) + " is listed twice");
        }
      }
      return std::nullopt;
    }
    case pb::GovernanceChange::kUpdateOrganization: {
      const auto& u = c.update_organization();
      if (auto rej = CheckOrgId("update_organization id", u.id())) return rej;
      return CheckOrgFields(u);
    }
    case pb::GovernanceChange::kRemoveOrganization:
      return CheckOrgId("remove_organization id", c.remove_organization().id());
    case pb::GovernanceChange::kAddSigningKey:
      if (auto rej = CheckOrgId("add_signing_key organization", c.add_signing_key().organization()))
        return rej;
      return CheckKeyBytes("add_signing_key key", c.add_signing_key().key());
    case pb::GovernanceChange::kRevokeSigningKey:
      if (auto rej =
              CheckOrgId("revoke_signing_key organization", c.revoke_signing_key().organization()))
        return rej;
      if (c.revoke_signing_key().key().size() != 32) {
        return Reject(RejectReason::kInvalidField, "revoke_signing_key key must be 32 bytes");
      }
      return std::nullopt;
    case pb::GovernanceChange::kAddValidator: {
      const auto& v = c.add_validator();
      if (v.name().empty() || v.name().size() > limits::kMaxValidatorNameBytes) {
        return Reject(RejectReason::kInvalidField,
                      "add_validator name must be 1 to " +
                          std::to_string(limits::kMaxValidatorNameBytes) + " bytes");
      }
      if (auto rej = CheckOrgId("add_validator organization", v.organization())) return rej;
      if (auto rej = CheckKeyBytes("add_validator consensus_key", v.consensus_key())) return rej;
      return CheckPower("add_validator voting_power", v.voting_power());
    }
    case pb::GovernanceChange::kRemoveValidator:
      if (c.remove_validator().consensus_key().size() != 32) {
        return Reject(RejectReason::kInvalidField,
                      "remove_validator consensus_key must be 32 "
                      "bytes");
      }
      return std::nullopt;
    case pb::GovernanceChange::kSetValidatorPower:
      if (c.set_validator_power().consensus_key().size() != 32) {
        return Reject(RejectReason::kInvalidField,
                      "set_validator_power consensus_key must be 32 "
                      "bytes");
      }
      return CheckPower("set_validator_power voting_power", c.set_validator_power().voting_power());
    case pb::GovernanceChange::kChangeValidatorKey:
      if (c.change_validator_key().consensus_key().size() != 32) {
        return Reject(RejectReason::kInvalidField,
                      "change_validator_key consensus_key must be 32 "
                      "bytes");
      }
      return CheckKeyBytes("change_validator_key new_consensus_key",
                           c.change_validator_key().new_consensus_key());
    case pb::GovernanceChange::KIND_NOT_SET:
      return Reject(RejectReason::kMalformed, "proposal has no change");
  }
  return Reject(RejectReason::kMalformed, "proposal's change is of an unknown kind");
}

Hash256 KeyOf(const std::string& bytes) {
  return Hash256::FromSpan(AsSpan(bytes));
}

// The set after a validator change. REQUIRES: the change was checked against `latest`.
ValidatorEpoch ApplyValidatorChange(const ValidatorEpoch& latest, const pb::GovernanceChange& c) {
  ValidatorEpoch next = latest;
  auto& vs = next.validators;
  auto find = [&](const std::string& key) {
    auto it = std::find_if(vs.begin(), vs.end(),
                           [&](const ValidatorInfo& v) { return v.key == KeyOf(key); });
    HM_ASSERT(it != vs.end());
    return it;
  };
  switch (c.kind_case()) {
    case pb::GovernanceChange::kAddValidator: {
      const auto& a = c.add_validator();
      vs.push_back(
          ValidatorInfo{a.name(), a.organization(), KeyOf(a.consensus_key()), a.voting_power()});
      break;
    }
    case pb::GovernanceChange::kRemoveValidator:
      vs.erase(find(c.remove_validator().consensus_key()));
      break;
    case pb::GovernanceChange::kSetValidatorPower:
      find(c.set_validator_power().consensus_key())->voting_power =
          c.set_validator_power().voting_power();
      break;
    case pb::GovernanceChange::kChangeValidatorKey:
      find(c.change_validator_key().consensus_key())->key =
          KeyOf(c.change_validator_key().new_consensus_key());
      break;
    case pb::GovernanceChange::kAddOrganization:
    case pb::GovernanceChange::kUpdateOrganization:
    case pb::GovernanceChange::kRemoveOrganization:
    case pb::GovernanceChange::kAddSigningKey:
    case pb::GovernanceChange::kRevokeSigningKey:
    case pb::GovernanceChange::KIND_NOT_SET:
      HM_ASSERT_MSG(false, "not a validator change");
  }
  return next;
}

template <typename Roles>
std::vector<pb::Role> SortedRoles(const Roles& roles) {
  std::vector<pb::Role> out;
  for (int r : roles) out.push_back(static_cast<pb::Role>(r));
  std::sort(out.begin(), out.end());
  return out;
}
template <typename Prefixes>
std::vector<std::string> SortedPrefixes(const Prefixes& prefixes) {
  std::vector<std::string> out(prefixes.begin(), prefixes.end());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

bool IsValidatorChange(const pb::GovernanceChange& c) {
  switch (c.kind_case()) {
    case pb::GovernanceChange::kAddValidator:
    case pb::GovernanceChange::kRemoveValidator:
    case pb::GovernanceChange::kSetValidatorPower:
    case pb::GovernanceChange::kChangeValidatorKey:
      return true;
    case pb::GovernanceChange::kAddOrganization:
    case pb::GovernanceChange::kUpdateOrganization:
    case pb::GovernanceChange::kRemoveOrganization:
    case pb::GovernanceChange::kAddSigningKey:
    case pb::GovernanceChange::kRevokeSigningKey:
    case pb::GovernanceChange::KIND_NOT_SET:
      return false;
  }
  return false;
}

// --- Decoding ---

std::optional<Rejection> DecodeGovernanceRecord(const pb::Envelope& env, std::string_view chain_id,
                                                GovernanceRecord* out) {
  if (auto rej = DecodeEnvelope(env, chain_id, &out->payload)) return rej;
  const pb::RecordPayload& p = out->payload;
  if (!p.has_governance()) {
    return Reject(RejectReason::kMalformed, "not a governance record (no governance body)");
  }
  if (HasUnknownFieldsDeep(p.governance())) {
    return Reject(RejectReason::kMalformed, "payload has fields this version does not know");
  }
  if (p.body_case() != pb::RecordPayload::BODY_NOT_SET) {
    return Reject(RejectReason::kMalformed, "record has both a custody body and a governance body");
  }
  if (!p.item_id().empty() || !p.prev().empty()) {
    return Reject(RejectReason::kInvalidField,
                  "a governance record is about no item: item_id and prev must be empty");
  }
  const pb::Governance& g = p.governance();
  switch (g.kind_case()) {
    case pb::Governance::kProposal:
      if (g.proposal().note().size() > limits::kMaxNoteBytes) {
        return Reject(RejectReason::kLimitExceeded,
                      "proposal note is " + std::to_string(g.proposal().note().size()) +
                          " bytes; the limit is " + std::to_string(limits::kMaxNoteBytes));
      }
      if (auto rej = CheckChangeStructure(g.proposal().change())) return rej;
      break;
    case pb::Governance::kApproval:
      if (g.approval().proposal().size() != 32) {
        return Reject(RejectReason::kInvalidField,
                      "approval must name a proposal by its 32-byte record id, found " +
                          std::to_string(g.approval().proposal().size()) + " bytes");
      }
      break;
    case pb::Governance::KIND_NOT_SET:
      return Reject(RejectReason::kMalformed, "governance record is neither proposal nor approval");
  }
  out->id = RecordIdOf(env);
  out->signer = Hash256::FromSpan(AsSpan(env.signer()));
  out->envelope = &env;
  return std::nullopt;
}

// --- NetworkState ---

const OrganizationVersion& OrganizationRecord::VersionAt(uint64_t height) const {
  HM_ASSERT(!versions.empty());
  const OrganizationVersion* v = &versions.front();
  for (const auto& candidate : versions) {
    if (candidate.from_height > height) break;
    v = &candidate;
  }
  return *v;
}

bool OrganizationRecord::HasRoleAt(pb::Role role, uint64_t height) const {
  const auto& roles = VersionAt(height).roles;
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

uint64_t ValidatorEpoch::total_power() const {
  uint64_t total = 0;
  for (const auto& v : validators) total += v.voting_power;
  return total;
}

const ValidatorInfo* ValidatorEpoch::Find(const Hash256& key) const {
  for (const auto& v : validators)
    if (v.key == key) return &v;
  return nullptr;
}

NetworkState NetworkState::FromGenesis(const Network& network) {
  NetworkState s;
  s.params_ = network.governance();
  for (const pb::Organization& org : network.genesis().organizations()) {
    OrganizationRecord rec;
    rec.id = org.id();
    rec.versions.push_back(OrganizationVersion{0, org.display_name(), SortedRoles(org.roles()),
                                               SortedPrefixes(org.gs1_company_prefixes()),
                                               org.resolver_domain(), org.website()});
    for (const std::string& hex : org.signing_keys()) {
      // Genesis validated every key.
      rec.keys.push_back(KeyPeriod{*Hash256::FromHex(hex), 0, 0});
    }
    s.orgs_.emplace(rec.id, std::move(rec));
  }
  s.epochs_.push_back(ValidatorEpoch{0, network.validators(), 0});
  s.Reindex();
  return s;
}

void NetworkState::Reindex() {
  org_by_key_.clear();
  for (const auto& [id, org] : orgs_) {
    for (const auto& k : org.keys) org_by_key_.emplace(k.key, id);
  }
}

const OrganizationRecord* NetworkState::FindOrganization(std::string_view id) const {
  auto it = orgs_.find(std::string(id));
  return it == orgs_.end() ? nullptr : &it->second;
}

std::vector<const OrganizationRecord*> NetworkState::MembersAt(uint64_t height) const {
  std::vector<const OrganizationRecord*> out;
  for (const auto& [id, org] : orgs_)
    if (org.MemberAt(height)) out.push_back(&org);
  return out;
}

uint64_t NetworkState::MemberCountAt(uint64_t height) const {
  uint64_t n = 0;
  for (const auto& [id, org] : orgs_) n += org.MemberAt(height) ? 1 : 0;
  return n;
}

bool NetworkState::IsKeyValid(const Hash256& key, std::string_view org_id, uint64_t height) const {
  const OrganizationRecord* org = FindOrganization(org_id);
  if (!org || !org->MemberAt(height)) return false;
  for (const auto& k : org->keys)
    if (k.key == key && k.ValidAt(height)) return true;
  return false;
}

const OrganizationRecord* NetworkState::OrganizationEverHoldingKey(const Hash256& key) const {
  auto it = org_by_key_.find(key);
  return it == org_by_key_.end() ? nullptr : FindOrganization(it->second);
}

const OrganizationRecord* NetworkState::OrganizationOfKeyAt(const Hash256& key,
                                                            uint64_t height) const {
  const OrganizationRecord* org = OrganizationEverHoldingKey(key);
  return org && IsKeyValid(key, org->id, height) ? org : nullptr;
}

const ValidatorEpoch& NetworkState::ValidatorSetAt(uint64_t height) const {
  HM_ASSERT(!epochs_.empty());
  const ValidatorEpoch* e = &epochs_.front();
  for (const auto& candidate : epochs_) {
    if (candidate.from_height > height) break;
    e = &candidate;
  }
  return *e;
}

const PendingProposal* NetworkState::FindProposal(const Hash256& id) const {
  auto it = pending_.find(id);
  return it == pending_.end() ? nullptr : &it->second;
}

pb::NetworkStateProto NetworkState::ToProto() const {
  pb::NetworkStateProto out;
  for (const auto& [id, org] : orgs_) {
    pb::OrganizationRecord* o = out.add_organizations();
    o->set_id(org.id);
    o->set_member_from(org.member_from);
    o->set_removed_at(org.removed_at);
    for (const auto& v : org.versions) {
      pb::OrganizationVersion* pv = o->add_versions();
      pv->set_from_height(v.from_height);
      pv->set_display_name(v.display_name);
      for (pb::Role r : v.roles) pv->add_roles(r);
      for (const auto& p : v.prefixes) pv->add_gs1_company_prefixes(p);
      // Empty strings are not encoded, so states that never set these keep their bytes (and
      // GovernedHash) from before the fields existed.
      pv->set_resolver_domain(v.resolver_domain);
      pv->set_website(v.website);
    }
    for (const auto& k : org.keys) {
      pb::KeyPeriod* pk = o->add_keys();
      pk->set_key(std::string(k.key.view()));
      pk->set_valid_from(k.valid_from);
      pk->set_revoked_at(k.revoked_at);
    }
  }
  for (const auto& e : epochs_) {
    pb::ValidatorEpoch* pe = out.add_validator_epochs();
    pe->set_from_height(e.from_height);
    pe->set_moved_power(e.moved_power);
    for (const auto& v : e.validators) {
      pb::ValidatorEntry* pv = pe->add_validators();
      pv->set_name(v.name);
      pv->set_organization(v.organization);
      pv->set_consensus_key(std::string(v.key.view()));
      pv->set_voting_power(v.voting_power);
    }
  }
  for (const auto& [id, p] : pending_) {
    pb::PendingProposal* pp = out.add_pending();
    pp->set_id(std::string(p.id.view()));
    pp->set_proposer(p.proposer);
    pp->set_proposed_height(p.proposed_height);
    pp->set_expires_height(p.expires_height);
    *pp->mutable_change() = p.change;
    for (const auto& a : p.approvals) pp->add_approvals(a);
  }
  return out;
}

std::string NetworkState::Serialize() const {
  return SerializeDeterministic(ToProto());
}

Hash256 NetworkState::Hash() const {
  return Sha256Of(std::string_view(Serialize()));
}

Result<NetworkState> NetworkState::FromProto(const pb::NetworkStateProto& proto,
                                             const pb::GovernanceParams& params) {
  auto bad = [](std::string what) { return Status::Corruption("network state: " + what); };
  NetworkState s;
  s.params_ = params;
  for (const auto& o : proto.organizations()) {
    if (!s.orgs_.empty() && !(s.orgs_.rbegin()->first < o.id())) {
      return bad("organizations are not in ascending id order at " + Quote(o.id()));
    }
    if (o.versions_size() == 0) return bad("organization " + Quote(o.id()) + " has no version");
    OrganizationRecord rec;
    rec.id = o.id();
    rec.member_from = o.member_from();
    rec.removed_at = o.removed_at();
    for (const auto& v : o.versions()) {
      if (!rec.versions.empty() && rec.versions.back().from_height >= v.from_height()) {
        return bad("organization " + Quote(o.id()) + " has versions out of order");
      }
      rec.versions.push_back(OrganizationVersion{
          v.from_height(), v.display_name(), SortedRoles(v.roles()),
          SortedPrefixes(v.gs1_company_prefixes()), v.resolver_domain(), v.website()});
    }
    for (const auto& k : o.keys()) {
      auto key = Hash256::FromBytes(k.key());
      if (!key) return bad("organization " + Quote(o.id()) + " has a key that is not 32 bytes");
      rec.keys.push_back(KeyPeriod{*key, k.valid_from(), k.revoked_at()});
    }
    s.orgs_.emplace(rec.id, std::move(rec));
  }
  for (const auto& e : proto.validator_epochs()) {
    if (s.epochs_.empty() ? e.from_height() != 0
                          : s.epochs_.back().from_height >= e.from_height()) {
      return bad("validator epochs are not in ascending height order from 0");
    }
    ValidatorEpoch epoch{e.from_height(), {}, e.moved_power()};
    for (const auto& v : e.validators()) {
      auto key = Hash256::FromBytes(v.consensus_key());
      if (!key) return bad("a validator key is not 32 bytes");
      epoch.validators.push_back(ValidatorInfo{v.name(), v.organization(), *key, v.voting_power()});
    }
    if (epoch.validators.empty()) return bad("a validator epoch is empty");
    s.epochs_.push_back(std::move(epoch));
  }
  if (s.epochs_.empty()) return bad("no validator epoch");
  for (const auto& p : proto.pending()) {
    auto id = Hash256::FromBytes(p.id());
    if (!id) return bad("a pending proposal id is not 32 bytes");
    if (!s.pending_.empty() && !(s.pending_.rbegin()->first < *id)) {
      return bad("pending proposals are not in ascending id order");
    }
    PendingProposal pp{*id,
                       p.proposer(),
                       p.proposed_height(),
                       p.expires_height(),
                       p.change(),
                       {p.approvals().begin(), p.approvals().end()}};
    if (!std::is_sorted(pp.approvals.begin(), pp.approvals.end())) {
      return bad("approvals of a pending proposal are not in ascending order");
    }
    s.pending_.emplace(*id, std::move(pp));
  }
  s.Reindex();
  return s;
}

// --- Rules ---

bool ThresholdReached(uint64_t approvals, uint64_t members, const pb::GovernanceParams& params) {
  // Both sides stay far below 2^64: at most 4,096 organisations, a denominator of at most 1,000.
  return members > 0 && approvals * params.threshold_denominator() >
                            uint64_t{params.threshold_numerator()} * members;
}

std::optional<Rejection> CheckApprovalThreshold(const NetworkState& state,
                                                const std::vector<std::string>& approvals,
                                                uint64_t height) {
  std::set<std::string> counted;
  for (const auto& org : approvals) {
    const OrganizationRecord* rec = state.FindOrganization(org);
    if (rec && rec->MemberAt(height)) counted.insert(org);
  }
  const uint64_t members = state.MemberCountAt(height);
  if (ThresholdReached(counted.size(), members, state.params())) return std::nullopt;
  return Reject(RejectReason::kThresholdNotReached,
                std::to_string(counted.size()) + " of " + std::to_string(members) +
                    " member organizations approve at height " + H(height) + "; more than " +
                    std::to_string(state.params().threshold_numerator()) + "/" +
                    std::to_string(state.params().threshold_denominator()) + " must");
}

uint64_t MovedPower(const ValidatorEpoch& latest, const pb::GovernanceChange& c) {
  auto power_of = [&](const std::string& key) -> uint64_t {
    auto hash = Hash256::FromBytes(key);
    const ValidatorInfo* v = hash ? latest.Find(*hash) : nullptr;
    return v ? v->voting_power : 0;
  };
  switch (c.kind_case()) {
    case pb::GovernanceChange::kAddValidator:
      return c.add_validator().voting_power();
    case pb::GovernanceChange::kRemoveValidator:
      return power_of(c.remove_validator().consensus_key());
    case pb::GovernanceChange::kSetValidatorPower: {
      uint64_t before = power_of(c.set_validator_power().consensus_key());
      uint64_t after = c.set_validator_power().voting_power();
      return before > after ? before - after : after - before;
    }
    case pb::GovernanceChange::kChangeValidatorKey:
      return power_of(c.change_validator_key().consensus_key());
    case pb::GovernanceChange::kAddOrganization:
    case pb::GovernanceChange::kUpdateOrganization:
    case pb::GovernanceChange::kRemoveOrganization:
    case pb::GovernanceChange::kAddSigningKey:
    case pb::GovernanceChange::kRevokeSigningKey:
    case pb::GovernanceChange::KIND_NOT_SET:
      return 0;
  }
  return 0;
}

std::string_view GovernanceChangeName(const pb::GovernanceChange& c) {
  switch (c.kind_case()) {
    case pb::GovernanceChange::kAddOrganization:
      return "add_organization";
    case pb::GovernanceChange::kUpdateOrganization:
      return "update_organization";
    case pb::GovernanceChange::kRemoveOrganization:
      return "remove_organization";
    case pb::GovernanceChange::kAddSigningKey:
      return "add_signing_key";
    case pb::GovernanceChange::kRevokeSigningKey:
      return "revoke_signing_key";
    case pb::GovernanceChange::kAddValidator:
      return "add_validator";
    case pb::GovernanceChange::kRemoveValidator:
      return "remove_validator";
    case pb::GovernanceChange::kSetValidatorPower:
      return "set_validator_power";
    case pb::GovernanceChange::kChangeValidatorKey:
      return "change_validator_key";
    case pb::GovernanceChange::KIND_NOT_SET:
      break;
  }
  return "none";
}

// Changes the private parts of a state; the rules below are its only users.
struct GovernanceMutator {
  // Prefix overlap with the current prefixes of every member organisation but `self`.
  static std::optional<Rejection> CheckPrefixesFree(const NetworkState& s, const std::string& self,
                                                    const std::vector<std::string>& prefixes) {
    for (const auto& [id, org] : s.orgs_) {
      if (id == self || org.removed_at != 0) continue;
      for (const auto& theirs : org.latest().prefixes) {
        for (const auto& mine : prefixes) {
          const auto& shorter = mine.size() <= theirs.size() ? mine : theirs;
          const auto& longer = mine.size() <= theirs.size() ? theirs : mine;
          if (longer.compare(0, shorter.size(), shorter) == 0) {
            return Reject(RejectReason::kDuplicate,
                          "GS1 company prefix " + mine +
                              (mine == theirs ? " is already " : " overlaps " + theirs + " of ") +
                              "organization " + Quote(id));
          }
        }
      }
    }
    return std::nullopt;
  }

  static std::optional<Rejection> CheckSigningKeyUnused(const NetworkState& s,
                                                        const std::string& key) {
    auto it = s.org_by_key_.find(KeyOf(key));
    if (it == s.org_by_key_.end()) return std::nullopt;
    return Reject(RejectReason::kDuplicate, "signing key " + Short(key) + " was already used by " +
                                                "organization " + Quote(it->second) +
                                                "; a key is never reused");
  }

  static std::optional<Rejection> CheckConsensusKeyUnused(const NetworkState& s,
                                                          const std::string& key) {
    for (const auto& e : s.epochs_) {
      if (const ValidatorInfo* v = e.Find(KeyOf(key))) {
        return Reject(RejectReason::kDuplicate, "consensus key " + Short(key) +
                                                    " was already used by validator " +
                                                    Quote(v->name) + "; a key is never reused");
      }
    }
    return std::nullopt;
  }

  static const OrganizationRecord* Member(const NetworkState& s, const std::string& id) {
    const OrganizationRecord* org = s.FindOrganization(id);
    return org && org->removed_at == 0 ? org : nullptr;
  }

  static Rejection NotMember(const NetworkState& s, std::string_view field, const std::string& id) {
    const OrganizationRecord* org = s.FindOrganization(id);
    return Reject(RejectReason::kUnknownOrganization,
                  std::string(field) + " " + Quote(id) +
                      (org ? " was removed at height " + H(org->removed_at)
                           : " is not a member organization"));
  }

  // The validator sets after `height`'s own: those in force from height + 1 on and those
  // scheduled. A change must keep each of them valid.
  static std::vector<const ValidatorEpoch*> SetsFrom(const NetworkState& s, uint64_t height) {
    std::vector<const ValidatorEpoch*> out{&s.ValidatorSetAt(height)};
    for (const auto& e : s.epochs_)
      if (e.from_height > height) out.push_back(&e);
    return out;
  }

  // Is `change` valid on the state as it will be (every completed change applied, scheduled
  // validator sets included), at `height`?
  static std::optional<Rejection> CheckChange(const NetworkState& s, const pb::GovernanceChange& c,
                                              uint64_t height) {
    const ValidatorEpoch& latest = s.LatestValidatorSet();
    switch (c.kind_case()) {
      case pb::GovernanceChange::kAddOrganization: {
        const auto& a = c.add_organization();
        if (const OrganizationRecord* org = s.FindOrganization(a.id())) {
          return Reject(
              RejectReason::kDuplicate,
              "organization id " + Quote(a.id()) +
                  (org->removed_at == 0 ? " is already a member"
                                        : " belonged to an organization removed at "
                                          "height " +
                                              H(org->removed_at) + "; ids are never reused"));
        }
        if (s.orgs_.size() >= limits::kMaxOrganizationRecords ||
            s.MembersAt(height + 1).size() >= limits::kMaxOrganizations) {
          return Reject(RejectReason::kLimitExceeded,
                        "the network has as many organizations as "
                        "it may have");
        }
        for (const auto& k : a.signing_keys())
          if (auto rej = CheckSigningKeyUnused(s, k)) return rej;
        return CheckPrefixesFree(s, a.id(), SortedPrefixes(a.gs1_company_prefixes()));
      }
      case pb::GovernanceChange::kUpdateOrganization: {
        const auto& u = c.update_organization();
        const OrganizationRecord* org = Member(s, u.id());
        if (!org) return NotMember(s, "update_organization", u.id());
        const OrganizationVersion& cur = org->latest();
        if (cur.display_name == u.display_name() && cur.roles == SortedRoles(u.roles()) &&
            cur.prefixes == SortedPrefixes(u.gs1_company_prefixes()) &&
            cur.resolver_domain == u.resolver_domain() && cur.website == u.website()) {
          return Reject(RejectReason::kInvalidField,
                        "update_organization changes nothing of " + Quote(u.id()));
        }
        return CheckPrefixesFree(s, u.id(), SortedPrefixes(u.gs1_company_prefixes()));
      }
      case pb::GovernanceChange::kRemoveOrganization: {
        const std::string& id = c.remove_organization().id();
        if (!Member(s, id)) return NotMember(s, "remove_organization", id);
        for (const ValidatorEpoch* e : SetsFrom(s, height + 1)) {
          for (const auto& v : e->validators) {
            if (v.organization == id) {
              return Reject(RejectReason::kStillValidator,
                            "organization " + Quote(id) + " still has validator " + Quote(v.name) +
                                " (in the set from height " + H(e->from_height) +
                                "); remove the validator first and wait until that takes effect");
            }
          }
        }
        if (s.MembersAt(height + 1).size() <= 1) {
          return Reject(RejectReason::kInvalidField,
                        "removing " + Quote(id) + " would leave no member organization");
        }
        return std::nullopt;
      }
      case pb::GovernanceChange::kAddSigningKey: {
        const auto& a = c.add_signing_key();
        const OrganizationRecord* org = Member(s, a.organization());
        if (!org) return NotMember(s, "add_signing_key", a.organization());
        if (auto rej = CheckSigningKeyUnused(s, a.key())) return rej;
        size_t current = std::count_if(org->keys.begin(), org->keys.end(),
                                       [](const KeyPeriod& k) { return k.revoked_at == 0; });
        if (current >= limits::kMaxKeysPerOrganization ||
            org->keys.size() >= limits::kMaxKeyHistoryPerOrganization) {
          return Reject(RejectReason::kLimitExceeded,
                        "organization " + Quote(org->id) + " has " + std::to_string(current) +
                            " current keys and " + std::to_string(org->keys.size()) +
                            " in its history; the limits are " +
                            std::to_string(limits::kMaxKeysPerOrganization) + " and " +
                            std::to_string(limits::kMaxKeyHistoryPerOrganization));
        }
        return std::nullopt;
      }
      case pb::GovernanceChange::kRevokeSigningKey: {
        const auto& r = c.revoke_signing_key();
        const OrganizationRecord* org = Member(s, r.organization());
        if (!org) return NotMember(s, "revoke_signing_key", r.organization());
        const Hash256 key = KeyOf(r.key());
        auto it = std::find_if(org->keys.begin(), org->keys.end(),
                               [&](const KeyPeriod& k) { return k.key == key; });
        if (it == org->keys.end()) {
          return Reject(RejectReason::kInvalidField, "key " + Short(key) + " is not a key of " +
                                                         "organization " + Quote(org->id));
        }
        if (it->revoked_at != 0) {
          return Reject(RejectReason::kInvalidField, "key " + Short(key) + " of " + Quote(org->id) +
                                                         " was already revoked at height " +
                                                         H(it->revoked_at));
        }
        size_t current = std::count_if(org->keys.begin(), org->keys.end(),
                                       [](const KeyPeriod& k) { return k.revoked_at == 0; });
        if (current <= 1) {
          return Reject(RejectReason::kLastKey,
                        "key " + Short(key) + " is the last signing key of " + Quote(org->id) +
                            "; add its successor first (rotation is an add, then a revoke)");
        }
        return std::nullopt;
      }
      case pb::GovernanceChange::kAddValidator: {
        const auto& a = c.add_validator();
        if (!Member(s, a.organization())) return NotMember(s, "add_validator", a.organization());
        for (const auto& v : latest.validators) {
          if (v.name == a.name()) {
            return Reject(RejectReason::kDuplicate,
                          "a validator is already named " + Quote(a.name()));
          }
        }
        if (auto rej = CheckConsensusKeyUnused(s, a.consensus_key())) return rej;
        if (latest.validators.size() >= limits::kMaxValidators) {
          return Reject(RejectReason::kLimitExceeded, "the validator set has " +
                                                          std::to_string(limits::kMaxValidators) +
                                                          " validators, the most it may have");
        }
        if (a.voting_power() > limits::kMaxTotalVotingPower - latest.total_power()) {
          return Reject(RejectReason::kLimitExceeded, "total voting power would exceed 2^60");
        }
        return CheckPowerShift(s, c, height);
      }
      case pb::GovernanceChange::kRemoveValidator: {
        const ValidatorInfo* v = latest.Find(KeyOf(c.remove_validator().consensus_key()));
        if (!v) return UnknownValidator(c.remove_validator().consensus_key());
        if (latest.validators.size() == 1) {
          return Reject(RejectReason::kNoValidatorLeft,
                        "removing validator " + Quote(v->name) + " would leave no validator");
        }
        return CheckPowerShift(s, c, height);
      }
      case pb::GovernanceChange::kSetValidatorPower: {
        const auto& p = c.set_validator_power();
        const ValidatorInfo* v = latest.Find(KeyOf(p.consensus_key()));
        if (!v) return UnknownValidator(p.consensus_key());
        if (v->voting_power == p.voting_power()) {
          return Reject(RejectReason::kInvalidField, "validator " + Quote(v->name) +
                                                         " already has voting power " +
                                                         std::to_string(p.voting_power()));
        }
        if (p.voting_power() > v->voting_power &&
            p.voting_power() - v->voting_power >
                limits::kMaxTotalVotingPower - latest.total_power()) {
          return Reject(RejectReason::kLimitExceeded, "total voting power would exceed 2^60");
        }
        return CheckPowerShift(s, c, height);
      }
      case pb::GovernanceChange::kChangeValidatorKey: {
        const auto& k = c.change_validator_key();
        if (!latest.Find(KeyOf(k.consensus_key()))) return UnknownValidator(k.consensus_key());
        if (auto rej = CheckConsensusKeyUnused(s, k.new_consensus_key())) return rej;
        return CheckPowerShift(s, c, height);
      }
      case pb::GovernanceChange::KIND_NOT_SET:
        return Reject(RejectReason::kMalformed, "proposal has no change");
    }
    return Reject(RejectReason::kMalformed, "proposal's change is of an unknown kind");
  }

  static Rejection UnknownValidator(const std::string& key) {
    return Reject(RejectReason::kUnknownValidator,
                  "consensus key " + Short(key) +
                      " is not a validator's (in the latest set, scheduled changes included)");
  }

  // The changes scheduled and not yet in force at height + 1, and this one, together move at
  // most a third of the power of the set in force: more than two thirds of the set that
  // certifies now stays in every set that follows, and a missing newcomer never stalls a quorum.
  static std::optional<Rejection> CheckPowerShift(const NetworkState& s,
                                                  const pb::GovernanceChange& c, uint64_t height) {
    const ValidatorEpoch& now = s.ValidatorSetAt(height);
    uint64_t moved = MovedPower(s.LatestValidatorSet(), c);
    uint64_t scheduled = 0;
    for (const auto& e : s.epochs_)
      if (e.from_height > height) scheduled += e.moved_power;
    const uint64_t total = now.total_power();
    if (3 * (moved + scheduled) <= total) return std::nullopt;
    return Reject(RejectReason::kPowerShiftTooLarge,
                  "this change moves voting power " + std::to_string(moved) +
                      (scheduled ? " on top of " + std::to_string(scheduled) + " already scheduled"
                                 : std::string()) +
                      "; at most a third of the " + std::to_string(total) + " in force at height " +
                      H(height) +
                      " may move at once (split the change, or wait for the scheduled ones)");
  }

  static std::optional<Rejection> Validate(const NetworkState& s, const GovernanceRecord& rec,
                                           uint64_t height) {
    const OrganizationRecord* org = s.OrganizationOfKeyAt(rec.signer, height);
    if (!org) {
      const OrganizationRecord* former = s.OrganizationEverHoldingKey(rec.signer);
      if (!former) {
        return Reject(RejectReason::kNotMember,
                      "the signer " + Short(rec.signer) +
                          " is not a signing key of any member organization; only members "
                          "propose and approve");
      }
      return Reject(RejectReason::kNotMember,
                    "the signer " + Short(rec.signer) + " of organization " + Quote(former->id) +
                        " is not a valid key of a member at height " + H(height) +
                        " (revoked, not yet in effect, or the organization was removed)");
    }
    const pb::Governance& g = rec.body();
    switch (g.kind_case()) {
      case pb::Governance::kProposal: {
        const pb::GovernanceProposal& p = g.proposal();
        const uint64_t lifetime = s.params_.proposal_lifetime_heights();
        if (p.expires_height() <= height || p.expires_height() - height > lifetime) {
          return Reject(RejectReason::kInvalidField,
                        "proposal expires_height " + H(p.expires_height()) +
                            " must be after its block " + H(height) + " and at most " +
                            std::to_string(lifetime) + " heights later");
        }
        if (s.pending_.contains(rec.id)) {
          return Reject(RejectReason::kDuplicate, "proposal " + Short(rec.id) + " is pending");
        }
        size_t open = 0;
        size_t mine = 0;
        for (const auto& [id, pp] : s.pending_) {
          if (pp.expires_height < height) continue;
          ++open;
          mine += pp.proposer == org->id ? 1 : 0;
        }
        if (open >= limits::kMaxPendingProposals ||
            mine >= limits::kMaxPendingProposalsPerOrganization) {
          return Reject(RejectReason::kLimitExceeded,
                        std::to_string(open) + " proposals are pending, " + std::to_string(mine) +
                            " of them by " + Quote(org->id) + "; the limits are " +
                            std::to_string(limits::kMaxPendingProposals) + " and " +
                            std::to_string(limits::kMaxPendingProposalsPerOrganization));
        }
        return CheckChange(s, p.change(), height);
      }
      case pb::Governance::kApproval: {
        const Hash256 id = KeyOf(g.approval().proposal());
        const PendingProposal* p = s.FindProposal(id);
        if (!p) {
          return Reject(RejectReason::kUnknownProposal,
                        "no pending proposal " + Short(id) +
                            " (never proposed, already complete, or expired)");
        }
        if (p->expires_height < height) {
          return Reject(RejectReason::kExpired, "proposal " + Short(id) + " expired at height " +
                                                    H(p->expires_height) +
                                                    "; this block is at height " + H(height));
        }
        if (std::binary_search(p->approvals.begin(), p->approvals.end(), org->id)) {
          return Reject(RejectReason::kDuplicateApproval,
                        "organization " + Quote(org->id) +
                            (p->proposer == org->id ? " proposed " : " already approved ") +
                            "proposal " + Short(id) + "; each organization counts once");
        }
        std::vector<std::string> approvals = p->approvals;
        approvals.push_back(org->id);
        if (!CheckApprovalThreshold(s, approvals, height)) {
          if (auto rej = CheckChange(s, p->change, height)) {
            rej->message = "this approval would complete proposal " + Short(id) + " (" +
                           std::string(GovernanceChangeName(p->change)) +
                           "), which is no longer valid: " + rej->message;
            return rej;
          }
        }
        return std::nullopt;
      }
      case pb::Governance::KIND_NOT_SET:
        return Reject(RejectReason::kMalformed,
                      "governance record is neither proposal nor "
                      "approval");
    }
    return Reject(RejectReason::kMalformed, "governance record of an unknown kind");
  }

  // Applies a completed change at `height`. REQUIRES: CheckChange passed.
  static uint64_t ApplyChange(NetworkState& s, const pb::GovernanceChange& c, uint64_t height) {
    const uint64_t next = height + 1;
    if (IsValidatorChange(c)) {
      const uint64_t from = height + s.params_.validator_change_delay_heights();
      const uint64_t moved = MovedPower(s.LatestValidatorSet(), c);
      ValidatorEpoch epoch = ApplyValidatorChange(s.LatestValidatorSet(), c);
      HM_ASSERT(s.epochs_.back().from_height <= from);
      if (s.epochs_.back().from_height == from) {
        epoch.moved_power = s.epochs_.back().moved_power + moved;
        s.epochs_.back() = std::move(epoch);
      } else {
        epoch.from_height = from;
        epoch.moved_power = moved;
        s.epochs_.push_back(std::move(epoch));
      }
      return from;
    }
    auto new_version = [&](OrganizationRecord& org, OrganizationVersion v) {
      v.from_height = next;
      if (org.versions.back().from_height == next) {
        org.versions.back() = std::move(v);
      } else {
        org.versions.push_back(std::move(v));
      }
    };
    switch (c.kind_case()) {
      case pb::GovernanceChange::kAddOrganization: {
        const auto& a = c.add_organization();
        OrganizationRecord org;
        org.id = a.id();
        org.member_from = next;
        org.versions.push_back(OrganizationVersion{next, a.display_name(), SortedRoles(a.roles()),
                                                   SortedPrefixes(a.gs1_company_prefixes()),
                                                   a.resolver_domain(), a.website()});
        for (const auto& k : a.signing_keys()) {
          org.keys.push_back(KeyPeriod{KeyOf(k), next, 0});
          s.org_by_key_.emplace(KeyOf(k), a.id());
        }
        s.orgs_.emplace(a.id(), std::move(org));
        break;
      }
      case pb::GovernanceChange::kUpdateOrganization: {
        const auto& u = c.update_organization();
        new_version(s.orgs_.at(u.id()),
                    OrganizationVersion{next, u.display_name(), SortedRoles(u.roles()),
                                        SortedPrefixes(u.gs1_company_prefixes()),
                                        u.resolver_domain(), u.website()});
        break;
      }
      case pb::GovernanceChange::kRemoveOrganization:
        s.orgs_.at(c.remove_organization().id()).removed_at = next;
        break;
      case pb::GovernanceChange::kAddSigningKey: {
        const auto& a = c.add_signing_key();
        s.orgs_.at(a.organization()).keys.push_back(KeyPeriod{KeyOf(a.key()), next, 0});
        s.org_by_key_.emplace(KeyOf(a.key()), a.organization());
        break;
      }
      case pb::GovernanceChange::kRevokeSigningKey: {
        const auto& r = c.revoke_signing_key();
        for (auto& k : s.orgs_.at(r.organization()).keys) {
          if (k.key == KeyOf(r.key()) && k.revoked_at == 0) k.revoked_at = next;
        }
        break;
      }
      case pb::GovernanceChange::kAddValidator:
      case pb::GovernanceChange::kRemoveValidator:
      case pb::GovernanceChange::kSetValidatorPower:
      case pb::GovernanceChange::kChangeValidatorKey:
      case pb::GovernanceChange::KIND_NOT_SET:
        HM_ASSERT_MSG(false, "not an organization change");
    }
    return next;
  }

  static AppliedGovernance Apply(const NetworkState& state, const GovernanceRecord& rec,
                                 uint64_t height) {
    AppliedGovernance out{state, std::nullopt, 0};
    NetworkState& s = out.state;
    std::erase_if(s.pending_, [&](const auto& kv) { return kv.second.expires_height < height; });
    const OrganizationRecord* org = s.OrganizationOfKeyAt(rec.signer, height);
    HM_ASSERT(org != nullptr);
    const std::string org_id = org->id;
    PendingProposal* p = nullptr;
    const pb::Governance& g = rec.body();
    if (g.has_proposal()) {
      auto [it, fresh] = s.pending_.emplace(rec.id, PendingProposal{rec.id,
                                                                    org_id,
                                                                    height,
                                                                    g.proposal().expires_height(),
                                                                    g.proposal().change(),
                                                                    {org_id}});
      HM_ASSERT(fresh);
      p = &it->second;
    } else {
      auto it = s.pending_.find(KeyOf(g.approval().proposal()));
      HM_ASSERT(it != s.pending_.end());
      p = &it->second;
      auto& a = p->approvals;
      a.insert(std::upper_bound(a.begin(), a.end(), org_id), org_id);
    }
    if (!CheckApprovalThreshold(s, p->approvals, height)) {
      const Hash256 id = p->id;
      const pb::GovernanceChange change = p->change;
      s.pending_.erase(id);
      out.completed = id;
      out.effective_height = ApplyChange(s, change, height);
    }
    return out;
  }
};

std::optional<Rejection> ValidateGovernance(const NetworkState& state,
                                            const GovernanceRecord& record, uint64_t height) {
  return GovernanceMutator::Validate(state, record, height);
}

AppliedGovernance ApplyGovernance(const NetworkState& state, const GovernanceRecord& record,
                                  uint64_t height) {
  return GovernanceMutator::Apply(state, record, height);
}

}  // namespace hallmark::core

namespace hallmark::core {

bool IsGovernanceEnvelope(const pb::Envelope& envelope) {
  using google::protobuf::internal::WireFormatLite;
  const std::string& payload = envelope.payload();
  if (payload.size() > limits::kMaxPayloadBytes) return false;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(payload.data()),
                                            static_cast<int>(payload.size()));
  while (uint32_t tag = in.ReadTag()) {
    if (WireFormatLite::GetTagFieldNumber(tag) == pb::RecordPayload::kGovernanceFieldNumber &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      return true;
    }
    if (!WireFormatLite::SkipField(&in, tag)) return false;
  }
  return false;
}

Result<ValidatorSet> ToValidatorSet(const ValidatorEpoch& epoch) {
  std::vector<ValidatorEntry> entries;
  entries.reserve(epoch.validators.size());
  for (const ValidatorInfo& v : epoch.validators) {
    ValidatorEntry e;
    std::copy(v.key.span().begin(), v.key.span().end(), e.key.bytes.begin());
    e.voting_power = v.voting_power;
    entries.push_back(e);
  }
  return ValidatorSet::Create(std::move(entries));
}

Hash256 NetworkStateLeafKey() {
  static const Hash256 key = Sha256Of(std::string_view("hallmark/network-state"));
  return key;
}

std::string NetworkState::GovernedBytes() const {
  pb::NetworkStateProto proto = ToProto();
  proto.clear_pending();
  return SerializeDeterministic(proto);
}

Hash256 NetworkState::GovernedHash() const {
  return Sha256Of(std::string_view(GovernedBytes()));
}

Network NetworkState::MembershipAt(const Network& genesis, uint64_t height) const {
  std::vector<pb::Organization> orgs;
  for (const auto& [id, org] : orgs_) {
    if (!org.MemberAt(height)) continue;
    const OrganizationVersion& v = org.VersionAt(height);
    pb::Organization o;
    o.set_id(org.id);
    o.set_display_name(v.display_name);
    for (pb::Role r : v.roles) o.add_roles(r);
    for (const auto& p : v.prefixes) o.add_gs1_company_prefixes(p);
    o.set_resolver_domain(v.resolver_domain);
    o.set_website(v.website);
    for (const auto& k : org.keys)
      if (k.ValidAt(height)) o.add_signing_keys(k.key.Hex());
    orgs.push_back(std::move(o));
  }
  return genesis.WithMembership(std::move(orgs), ValidatorSetAt(height).validators);
}

std::optional<Rejection> CheckSignerStanding(const NetworkState& state, const Hash256& signer,
                                             uint64_t height) {
  const OrganizationRecord* org = state.OrganizationEverHoldingKey(signer);
  if (!org) return std::nullopt;
  const std::string who =
      "signing key " + signer.Hex().substr(0, 16) + "… of organization \"" + org->id + "\"";
  if (!org->MemberAt(height)) {
    if (org->removed_at != 0 && height >= org->removed_at) {
      return Rejection{RejectReason::kNotAuthorized,
                       who + ": the organization was removed at height " +
                           std::to_string(org->removed_at) +
                           "; its keys sign nothing from then on (earlier records stay valid)"};
    }
    return Rejection{RejectReason::kNotAuthorized,
                     who + ": the organization is a member from height " +
                         std::to_string(org->member_from) + " on"};
  }
  for (const auto& k : org->keys) {
    if (k.key != signer) continue;
    if (k.ValidAt(height)) return std::nullopt;
    if (k.revoked_at != 0 && height >= k.revoked_at) {
      return Rejection{RejectReason::kNotAuthorized,
                       who + " was revoked at height " + std::to_string(k.revoked_at) +
                           "; records it signs are refused from then on (records it signed "
                           "before stay valid). Sign with a current key of the organization"};
    }
    return Rejection{RejectReason::kNotAuthorized,
                     who + " is valid from height " + std::to_string(k.valid_from) + " on"};
  }
  return std::nullopt;
}

}  // namespace hallmark::core
