#pragma once

// Governance records for tests over TestNetwork() (fixtures.h): proposals, approvals and the
// changes they carry, signed with the test keys (KeyFor(name)).

#include <string>
#include <vector>

#include "core/governance.h"
#include "fixtures.h"
#include "proto/governance.pb.h"

namespace hallmark::test {

inline pb::Envelope GovEnvelope(std::string_view signer, const pb::Governance& body,
                                uint64_t timestamp_ms = kTestTimeMs) {
  pb::RecordPayload p;
  p.set_chain_id("hallmark-test");
  p.set_timestamp_ms(timestamp_ms);
  *p.mutable_governance() = body;
  return Sign(signer, p);
}

inline pb::Envelope ProposeEnv(std::string_view signer, const pb::GovernanceChange& change,
                               uint64_t expires_height) {
  pb::Governance g;
  *g.mutable_proposal()->mutable_change() = change;
  g.mutable_proposal()->set_expires_height(expires_height);
  return GovEnvelope(signer, g);
}

inline pb::Envelope ApproveEnv(std::string_view signer, const core::Hash256& proposal,
                               uint64_t timestamp_ms = kTestTimeMs) {
  pb::Governance g;
  g.mutable_approval()->set_proposal(std::string(proposal.view()));
  return GovEnvelope(signer, g, timestamp_ms);
}

inline pb::GovernanceChange AddKeyChange(const std::string& org, std::string_view key_name) {
  pb::GovernanceChange c;
  c.mutable_add_signing_key()->set_organization(org);
  c.mutable_add_signing_key()->set_key(std::string(PubFor(key_name).view()));
  return c;
}

inline pb::GovernanceChange RevokeKeyChange(const std::string& org, std::string_view key_name) {
  pb::GovernanceChange c;
  c.mutable_revoke_signing_key()->set_organization(org);
  c.mutable_revoke_signing_key()->set_key(std::string(PubFor(key_name).view()));
  return c;
}

inline pb::GovernanceChange AddOrgChange(const std::string& id, pb::Role role,
                                         std::vector<std::string> prefixes = {}) {
  pb::GovernanceChange c;
  auto* a = c.mutable_add_organization();
  a->set_id(id);
  a->set_display_name(id);
  a->add_roles(role);
  a->add_signing_keys(std::string(PubFor(id).view()));
  for (const auto& p : prefixes) a->add_gs1_company_prefixes(p);
  return c;
}

inline pb::GovernanceChange RemoveOrgChange(const std::string& id) {
  pb::GovernanceChange c;
  c.mutable_remove_organization()->set_id(id);
  return c;
}

inline pb::GovernanceChange AddValidatorChange(const std::string& name, const std::string& org,
                                               std::string_view key_name, uint64_t power) {
  pb::GovernanceChange c;
  auto* a = c.mutable_add_validator();
  a->set_name(name);
  a->set_organization(org);
  a->set_consensus_key(std::string(PubFor(key_name).view()));
  a->set_voting_power(power);
  return c;
}

inline pb::GovernanceChange RemoveValidatorKeyChange(std::string_view key_name) {
  pb::GovernanceChange c;
  c.mutable_remove_validator()->set_consensus_key(std::string(PubFor(key_name).view()));
  return c;
}

// Passes `change` on `chain` (a ProvenChain, tests/unit/proof_fixture.h): the proposal by
// `proposer` (a key name) in one block, then the approvals of `approvers` in the next.
template <class Chain>
void PassChange(Chain& chain, const std::string& proposer, const pb::GovernanceChange& change,
                const std::vector<std::string>& approvers) {
  pb::Envelope proposal = ProposeEnv(proposer, change, chain.ledger().height() + 100);
  chain.Commit({proposal});
  std::vector<pb::Envelope> approvals;
  for (const auto& a : approvers) approvals.push_back(ApproveEnv(a, RecordId(proposal)));
  chain.Commit(approvals);
}

// The approvers TestNetwork() needs after the proposer: 5 members, so 4 organisations in all
// (4 × 3 > 2 × 5).
inline std::vector<std::string> TestApprovers(const std::string& proposer) {
  std::vector<std::string> out;
  for (const char* org : {"maison", "atelier", "resale", "authlab", "repairco"}) {
    if (org != proposer && out.size() < 3) out.push_back(org);
  }
  return out;
}

}  // namespace hallmark::test
