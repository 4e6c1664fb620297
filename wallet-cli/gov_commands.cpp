#include "wallet-cli/gov_commands.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <ostream>
#include <system_error>
#include <variant>

#include "core/codec.h"
#include "core/crypto/keystore.h"
#include "core/genesis.h"
#include "core/governance.h"
#include "core/limits.h"
#include "proto/cli.pb.h"
#include "wallet-cli/format.h"
#include "wallet-cli/keystore.h"
#include "wallet-cli/node_client.h"
#include "wallet-cli/records.h"
#include "wallet-cli/reporter.h"

namespace hallmark::wallet {
namespace {

// A proposal id typed as a prefix must have at least this many hex digits.
constexpr size_t kIdPrefixDigitsMin = 8;
// Ids in tables: this many hex digits (gov show/approve take any unique prefix).
constexpr size_t kShortIdDigits = 16;
constexpr size_t kSummaryCharsMax = 90;

struct Failure {
  ExitCode code;
  std::string message;
};

Failure Usage(std::string message) {
  return {ExitCode::kFileOrUsage, std::move(message)};
}
Failure Invalid(std::string message) {
  return {ExitCode::kInvalidInput, std::move(message)};
}

bool IsHex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Bytes(const core::Hash256& h) {
  return std::string(h.view());
}

core::Result<pb::Role> ParseRole(std::string_view word) {
  std::string w = Lower(std::string(word));
  std::replace(w.begin(), w.end(), '_', '-');
  if (w == "brand") return pb::BRAND;
  if (w == "marketplace") return pb::MARKETPLACE;
  if (w == "authenticator") return pb::AUTHENTICATOR;
  if (w == "service-center" || w == "service-centre") return pb::SERVICE_CENTER;
  return core::Status::InvalidInput(
      "--role must be brand, marketplace, authenticator or service-center, not \"" +
      std::string(word.substr(0, 64)) + "\"");
}

std::string RoleWord(int role) {
  switch (static_cast<pb::Role>(role)) {
    case pb::BRAND:
      return "brand";
    case pb::MARKETPLACE:
      return "marketplace";
    case pb::AUTHENTICATOR:
      return "authenticator";
    case pb::SERVICE_CENTER:
      return "service-center";
    case pb::ROLE_UNSPECIFIED:
    case pb::Role_INT_MIN_SENTINEL_DO_NOT_USE_:
    case pb::Role_INT_MAX_SENTINEL_DO_NOT_USE_:
      break;
  }
  return "unknown";
}

template <typename Roles>
std::string RolesText(const Roles& roles) {
  std::string out;
  for (int r : roles) out += (out.empty() ? "" : ",") + RoleWord(r);
  return out.empty() ? "-" : out;
}

template <typename Strings>
std::string JoinText(const Strings& items, std::string_view sep = ",") {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : std::string(sep)) + ForTerminal(s);
  return out.empty() ? "-" : out;
}

// Cuts to at most `max` characters (UTF-8 aware), marking the cut.
std::string Cut(const std::string& s, size_t max) {
  size_t chars = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && ++chars > max) {
      return s.substr(0, i) + "…";
    }
  }
  return s;
}

// The member organisation whose key `key` is valid in the next block, or nullptr.
const pb::OrganizationView* MemberOfKey(const pb::NetworkResponse& net, const core::Hash256& key) {
  const std::string hex = key.Hex();
  for (const pb::OrganizationView& o : net.members()) {
    for (const pb::SigningKeyView& k : o.signing_keys()) {
      if (k.key() == hex && k.valid()) return &o;
    }
  }
  return nullptr;
}

const pb::OrganizationView* FindMember(const pb::NetworkResponse& net, const std::string& id) {
  for (const pb::OrganizationView& o : net.members()) {
    if (o.id() == id) return &o;
  }
  return nullptr;
}

const pb::SigningKeyView* FindKey(const pb::OrganizationView& org, const core::Hash256& key) {
  const std::string hex = key.Hex();
  for (const pb::SigningKeyView& k : org.signing_keys()) {
    if (k.key() == hex) return &k;
  }
  return nullptr;
}

// The validator a name or key names, in the latest set (the last scheduled one, else the one in
// force): what a proposal is checked against.
const pb::ValidatorSetView& LatestSet(const pb::NetworkResponse& net) {
  return net.scheduled().empty() ? net.validators() : net.scheduled(net.scheduled_size() - 1);
}

std::string MemberIds(const pb::NetworkResponse& net) {
  std::vector<std::string> ids;
  for (const auto& o : net.members()) ids.push_back(o.id());
  return JoinText(ids, ", ");
}

// --- Printing --------------------------------------------------------------------------------

std::string StatusText(const pb::ProposalView& p) {
  if (p.status() == "pending") {
    std::string s = "pending: " + std::to_string(p.approvals_counted()) + " of " +
                    std::to_string(p.approvals_needed()) + " approvals";
    if (p.approvals_missing() > 0) {
      s += ", " + std::to_string(p.approvals_missing()) + " more needed";
    }
    return s;
  }
  if (p.status() == "completed") {
    return "completed at height " + std::to_string(p.completed_height()) +
           "; in force from height " + std::to_string(p.effective_height());
  }
  if (p.status() == "expired") {
    return "expired after height " + std::to_string(p.expires_height()) +
           " without enough approvals";
  }
  if (p.status() == "submitted") return "submitted: waiting in the node's mempool for a block";
  return ForTerminal(p.status());
}

std::string FormatProposal(const pb::ProposalView& p) {
  TextTable t;
  t.AddRow({"proposal", ForTerminal(p.id())});
  t.AddRow({"status", StatusText(p)});
  if (p.status() == "submitted") return t.Render();
  const pb::ChangeView& c = p.change();
  t.AddRow({"change", ForTerminal(c.summary())});
  if (!c.organization().empty()) t.AddRow({"  organisation", ForTerminal(c.organization())});
  if (!c.display_name().empty()) t.AddRow({"  name", ForTerminal(c.display_name())});
  if (c.roles_size() > 0) t.AddRow({"  roles", RolesText(c.roles())});
  if (c.gs1_company_prefixes_size() > 0) {
    t.AddRow({"  GS1 prefixes", JoinText(c.gs1_company_prefixes())});
  }
  for (int i = 0; i < c.signing_keys_size(); ++i) {
    t.AddRow({i == 0 ? "  signing key" : "", ForTerminal(c.signing_keys(i))});
  }
  if (!c.validator_name().empty()) t.AddRow({"  validator", ForTerminal(c.validator_name())});
  if (!c.consensus_key().empty()) t.AddRow({"  consensus key", ForTerminal(c.consensus_key())});
  if (!c.new_consensus_key().empty()) {
    t.AddRow({"  new key", ForTerminal(c.new_consensus_key())});
  }
  if (c.voting_power() != 0) t.AddRow({"  power", std::to_string(c.voting_power())});
  t.AddRow({"proposer", ForTerminal(p.proposer()) +
                            (p.signer().empty() ? "" : " (key " + ForTerminal(p.signer()) + ")")});
  if (!p.note().empty()) t.AddRow({"note", ForTerminal(p.note())});
  t.AddRow({"proposed", "height " + std::to_string(p.proposed_height())});
  t.AddRow({"expires", "after height " + std::to_string(p.expires_height())});
  t.AddRow({"approvals", JoinText(p.approvals(), ", ")});
  t.AddRow({"as of", "height " + std::to_string(p.height())});
  return t.Render();
}

std::string FormatProposalList(const pb::ProposalListResponse& list) {
  if (list.proposals().empty()) {
    return "no pending proposals (as of height " + std::to_string(list.height()) + ")\n";
  }
  TextTable t;
  t.AddRow({"ID", "PROPOSER", "APPROVALS", "EXPIRES", "CHANGE"});
  for (const pb::ProposalView& p : list.proposals()) {
    t.AddRow({ForTerminal(p.id().substr(0, kShortIdDigits)), ForTerminal(p.proposer()),
              std::to_string(p.approvals_counted()) + "/" + std::to_string(p.approvals_needed()),
              std::to_string(p.expires_height()),
              Cut(ForTerminal(p.change().summary()), kSummaryCharsMax)});
  }
  std::string out = t.Render();
  out += std::to_string(list.proposals_size()) + " pending (as of height " +
         std::to_string(list.height()) + "; " + std::to_string(list.members()) + " members, " +
         std::to_string(list.approvals_needed()) +
         " approvals complete a proposal). Ids are shortened: `hallmark gov show ID` and "
         "`hallmark gov approve ID` take any unique prefix.\n";
  return out;
}

void AddSetRows(TextTable* t, const pb::ValidatorSetView& set) {
  for (const pb::ValidatorView& v : set.validators()) {
    t->AddRow({"  " + ForTerminal(v.name()), ForTerminal(v.organization()),
               std::to_string(v.voting_power()), ForTerminal(v.key())});
  }
}

std::string FormatNetwork(const pb::NetworkResponse& net) {
  std::string out;
  const pb::GovernanceParams& g = net.governance();
  out += "network " + ForTerminal(net.chain_id()) + " (genesis " +
         ForTerminal(net.genesis_hash().substr(0, kShortIdDigits)) + "…), as of height " +
         std::to_string(net.height()) + "\n";
  out += "governance: a proposal completes with more than " +
         std::to_string(g.threshold_numerator()) + "/" + std::to_string(g.threshold_denominator()) +
         " of the " + std::to_string(net.members_size()) + " members (" +
         std::to_string(net.approvals_needed()) + " approvals now); it may be approved for up to " +
         std::to_string(g.proposal_lifetime_heights()) + " heights; validator changes apply " +
         std::to_string(g.validator_change_delay_heights()) + " heights after completion\n\n";

  TextTable members;
  members.AddRow({"MEMBER", "NAME", "ROLES", "GS1 PREFIXES", "SINCE"});
  for (const pb::OrganizationView& o : net.members()) {
    members.AddRow(
        {ForTerminal(o.id()), ForTerminal(o.display_name()), RolesText(o.roles()),
         JoinText(o.gs1_company_prefixes()),
         o.member_from() == 0 ? "genesis" : "height " + std::to_string(o.member_from())});
  }
  for (const pb::OrganizationView& o : net.removed()) {
    members.AddRow({ForTerminal(o.id()), ForTerminal(o.display_name()), RolesText(o.roles()),
                    JoinText(o.gs1_company_prefixes()),
                    "REMOVED at height " + std::to_string(o.removed_at())});
  }
  out += members.Render() + "\n";

  TextTable settings;
  settings.AddRow({"SETTINGS", "QR RESOLVER", "WEBSITE"});
  bool any_settings = false;
  for (const pb::OrganizationView& o : net.members()) {
    if (o.resolver_domain().empty() && o.website().empty()) continue;
    any_settings = true;
    settings.AddRow({ForTerminal(o.id()),
                     o.resolver_domain().empty()
                         ? std::string(core::kDefaultResolverDomain) + " (default)"
                         : ForTerminal(o.resolver_domain()),
                     ForTerminal(o.website())});
  }
  if (any_settings) out += settings.Render() + "\n";

  TextTable keys;
  keys.AddRow({"SIGNING KEYS", "KEY", "VALID FROM", "STATUS"});
  for (const pb::OrganizationView& o : net.members()) {
    for (const pb::SigningKeyView& k : o.signing_keys()) {
      std::string status = k.valid() ? "valid" : "not yet valid";
      if (k.revoked_at() != 0) status = "revoked at height " + std::to_string(k.revoked_at());
      keys.AddRow(
          {ForTerminal(o.id()), ForTerminal(k.key()), std::to_string(k.valid_from()), status});
    }
  }
  out += keys.Render() + "\n";

  TextTable validators;
  validators.AddRow({"VALIDATORS", "ORGANISATION", "POWER", "CONSENSUS KEY"});
  validators.AddRow({"in force (since height " + std::to_string(net.validators().from_height()) +
                         ", total power " + std::to_string(net.validators().total_power()) + ")",
                     "", "", ""});
  AddSetRows(&validators, net.validators());
  for (const pb::ValidatorSetView& s : net.scheduled()) {
    validators.AddRow({"scheduled from height " + std::to_string(s.from_height()) +
                           " (total power " + std::to_string(s.total_power()) + ")",
                       "", "", ""});
    AddSetRows(&validators, s);
  }
  out += validators.Render();
  return out;
}

// --- Talking to the node ---------------------------------------------------------------------

// What every governance write needs from the node: the chain id, the head, the network.
struct NodeView {
  pb::StatusResponse status;
  pb::NetworkResponse network;
};

// A proposal id: 64 hex digits, or a unique prefix of a pending proposal's id.
std::variant<core::Hash256, Failure, NodeError> ResolveProposalId(NodeClient& node,
                                                                  const std::string& text,
                                                                  uint32_t timeout_ms) {
  if (text.size() == 64) {
    auto id = core::Hash256::FromHex(text);
    if (id) return *id;
  }
  if (!IsHex(text) || text.size() > 64) {
    return Invalid("proposal id must be 64 hex digits (or a unique prefix of at least " +
                   std::to_string(kIdPrefixDigitsMin) + "), not \"" + text.substr(0, 70) + "\"");
  }
  if (text.size() < kIdPrefixDigitsMin) {
    return Invalid("a proposal id prefix needs at least " + std::to_string(kIdPrefixDigitsMin) +
                   " hex digits, found " + std::to_string(text.size()));
  }
  NodeResult<pb::ProposalListResponse> list = node.ListProposals(timeout_ms);
  if (!list.ok()) return list.error();
  const std::string prefix = Lower(text);
  std::vector<std::string> found;
  for (const pb::ProposalView& p : list->proposals()) {
    if (p.id().rfind(prefix, 0) == 0) found.push_back(p.id());
  }
  if (found.empty()) {
    return Invalid("no pending proposal's id starts with " + prefix +
                   " (give the whole id of a completed or expired one)");
  }
  if (found.size() > 1) {
    return Invalid("the prefix " + prefix + " matches " + std::to_string(found.size()) +
                   " pending proposals; give more digits");
  }
  return *core::Hash256::FromHex(found.front());
}

// Signs a governance body with `key`, checks it as the node will (structure, signature), and
// returns the envelope.
core::Result<pb::Envelope> SignGovernance(const core::SigningKey& key, const std::string& chain_id,
                                          const pb::Governance& body) {
  pb::RecordPayload payload;
  payload.set_chain_id(chain_id);
  payload.set_timestamp_ms(NowMs());
  *payload.mutable_governance() = body;
  pb::Envelope env = SignEnvelope(key, payload);
  core::GovernanceRecord record;
  if (auto rej = core::DecodeGovernanceRecord(env, chain_id, &record)) {
    return core::Status::InvalidInput(rej->ToString());
  }
  if (auto rej = core::CheckRecordSignature(env)) {
    return core::Status::InvalidInput(rej->ToString());
  }
  return env;
}

// The heights a new proposal lives: `expires_in` (default: the longest the network allows).
std::variant<uint64_t, Failure> ExpiresHeight(const NodeView& view,
                                              std::optional<uint64_t> expires_in) {
  const uint64_t lifetime = view.network.governance().proposal_lifetime_heights();
  const uint64_t n = expires_in.value_or(lifetime);
  if (n < 1 || n > lifetime) {
    return Invalid("--expires-in must be between 1 and " + std::to_string(lifetime) +
                   " heights (the network's proposal lifetime), not " + std::to_string(n));
  }
  return view.status.height() + n;
}

// Proposes `change`, waits for its block (unless !wait) and returns the proposal as the node
// then shows it. On failure the reason is printed and the exit code returned.
struct Proposed {
  std::optional<int> failure;
  core::Hash256 id;
  std::optional<pb::ProposalView> view;  // Unset without waiting.
};

Proposed ProposeChange(NodeClient& node, const NodeView& view, const core::SigningKey& key,
                       const pb::GovernanceChange& change, uint64_t expires_height,
                       const std::string& note, const GovWriteOptions& o,
                       Clock::time_point deadline, const Reporter& report, std::ostream& out) {
  Proposed result;
  pb::Governance body;
  *body.mutable_proposal()->mutable_change() = change;
  body.mutable_proposal()->set_expires_height(expires_height);
  body.mutable_proposal()->set_note(note);
  core::Result<pb::Envelope> env = SignGovernance(key, view.status.chain_id(), body);
  if (!env.ok()) {
    result.failure = report.Fail(env.status(), "the proposal is not valid");
    return result;
  }
  result.id = RecordIdOf(*env);
  SubmitOutcome done = SubmitAndWait(
      node, *env, deadline, o.timeout_ms, o.wait, o.json, report,
      "it may still commit: `hallmark gov show " + result.id.Hex() + "` will tell", out);
  if (done.failure) {
    result.failure = done.failure;
    return result;
  }
  if (!o.wait) return result;
  NodeResult<pb::ProposalView> shown = node.GetProposal(result.id, RequestTimeoutMs(deadline));
  if (shown.ok()) {
    result.view = std::move(*shown);
  } else {
    // Committed, but the node cannot show it (an older node?): the id is what matters.
    pb::ProposalView v;
    v.set_id(result.id.Hex());
    v.set_status("pending");
    v.set_proposed_height(done.status.height());
    result.view = std::move(v);
  }
  return result;
}

// Reads the status and the network, after the key is loaded.
std::variant<NodeView, int> ReadNodeView(NodeClient& node, Clock::time_point deadline,
                                         const Reporter& report) {
  NodeView v;
  NodeResult<pb::StatusResponse> status = node.GetStatus(RequestTimeoutMs(deadline));
  if (!status.ok()) return report.FailNode(status.error(), "the status request");
  v.status = std::move(*status);
  NodeResult<pb::NetworkResponse> network = node.GetNetwork(RequestTimeoutMs(deadline));
  if (!network.ok()) return report.FailNode(network.error(), "the network request");
  v.network = std::move(*network);
  return v;
}

// The signer's organisation, or a refusal in the node's words before anything is signed.
std::variant<const pb::OrganizationView*, int> SignerOrganization(const NodeView& view,
                                                                  const core::SigningKey& key,
                                                                  const Reporter& report) {
  const core::Hash256 pub = core::Hash256::FromSpan(key.public_key().span());
  const pb::OrganizationView* org = MemberOfKey(view.network, pub);
  if (org == nullptr) {
    return report.Fail(ExitCode::kInvalidInput,
                       "not_member: the signing key " + pub.Hex() +
                           " is not a valid key of any member organisation (as of height " +
                           std::to_string(view.network.height()) +
                           "); only members propose and approve (`hallmark network` lists them)");
  }
  return org;
}

// --- Building a change from the options ------------------------------------------------------

std::variant<core::Hash256, Failure> KeyOption(const std::string& option, const std::string& text) {
  if (text.empty()) return Usage(option + " KEY is required");
  core::Result<core::Hash256> key = ParseKeyArgument(text);
  if (!key.ok()) return Failure{ExitCodeFor(key.status()), option + ": " + key.status().message()};
  return *key;
}

std::variant<std::vector<pb::Role>, Failure> RolesOption(const std::vector<std::string>& words) {
  std::vector<pb::Role> roles;
  for (const std::string& w : words) {
    core::Result<pb::Role> r = ParseRole(w);
    if (!r.ok()) return Invalid(r.status().message());
    roles.push_back(*r);
  }
  return roles;
}

// The validator named by `text` (a name, or a key as 64 hex digits or a keystore) in the latest
// set; its key.
std::variant<core::Hash256, Failure> ValidatorOption(const pb::NetworkResponse& net,
                                                     const std::string& text) {
  if (text.empty()) return Usage("--validator NAME|KEY is required");
  const pb::ValidatorSetView& set = LatestSet(net);
  for (const pb::ValidatorView& v : set.validators()) {
    if (v.name() == text || v.key() == Lower(text)) return *core::Hash256::FromHex(v.key());
  }
  if (text.size() == 64 || std::filesystem::exists(text)) {
    core::Result<core::Hash256> key = ParseKeyArgument(text);
    if (!key.ok()) return Invalid("--validator: " + key.status().message());
    return *key;  // The node names what is wrong with it (unknown_validator).
  }
  std::vector<std::string> names;
  for (const pb::ValidatorView& v : set.validators()) names.push_back(v.name());
  return Invalid("--validator: no validator is named \"" + text.substr(0, 64) + "\" (there are " +
                 JoinText(names, ", ") + ")");
}

// The organisation settings of add-org and update-org, checked before anything is signed (the
// node checks them too, with the same rules).
std::optional<Failure> CheckSettings(const std::string& resolver_domain,
                                     const std::string& website) {
  if (core::Status st = core::CheckResolverDomain(resolver_domain); !st.ok()) {
    return Invalid("--resolver-domain: " + st.message());
  }
  if (core::Status st = core::CheckWebsite(website); !st.ok()) {
    return Invalid("--website: " + st.message());
  }
  return std::nullopt;
}

std::variant<pb::GovernanceChange, Failure> BuildChange(const ProposeOptions& o,
                                                        const pb::NetworkResponse& net) {
  pb::GovernanceChange c;
  const std::string& kind = o.kind;
  if (kind == "add-org") {
    if (o.id.empty()) return Usage("--id ORG is required");
    auto roles = RolesOption(o.roles);
    if (auto* f = std::get_if<Failure>(&roles)) return *f;
    if (std::get<0>(roles).empty()) return Usage("--role is required (repeat it for several)");
    if (o.signing_keys.empty()) return Usage("--signing-key KEY is required (repeatable)");
    auto* a = c.mutable_add_organization();
    a->set_id(o.id);
    a->set_display_name(o.name.value_or(o.id));
    for (pb::Role r : std::get<0>(roles)) a->add_roles(r);
    for (const std::string& k : o.signing_keys) {
      auto key = KeyOption("--signing-key", k);
      if (auto* f = std::get_if<Failure>(&key)) return *f;
      a->add_signing_keys(Bytes(std::get<0>(key)));
    }
    for (const std::string& p : o.prefixes) a->add_gs1_company_prefixes(p);
    a->set_resolver_domain(o.resolver_domain.value_or(""));
    a->set_website(o.website.value_or(""));
    if (auto f = CheckSettings(a->resolver_domain(), a->website())) return *f;
    return c;
  }
  if (kind == "update-org") {
    if (o.id.empty()) return Usage("--id ORG is required");
    const pb::OrganizationView* current = FindMember(net, o.id);
    if (current == nullptr) {
      return Invalid("unknown_organization: \"" + o.id.substr(0, 64) +
                     "\" is not a member (members: " + MemberIds(net) + ")");
    }
    auto roles = RolesOption(o.roles);
    if (auto* f = std::get_if<Failure>(&roles)) return *f;
    if (o.clear_prefixes && !o.prefixes.empty()) {
      return Usage("--clear-prefixes and --prefix exclude each other");
    }
    // What is not given stays as it is: the change states the organisation as it will be.
    auto* u = c.mutable_update_organization();
    u->set_id(o.id);
    u->set_display_name(o.name.value_or(current->display_name()));
    if (std::get<0>(roles).empty()) {
      for (int r : current->roles()) u->add_roles(static_cast<pb::Role>(r));
    } else {
      for (pb::Role r : std::get<0>(roles)) u->add_roles(r);
    }
    if (!o.prefixes.empty()) {
      for (const std::string& p : o.prefixes) u->add_gs1_company_prefixes(p);
    } else if (!o.clear_prefixes) {
      for (const std::string& p : current->gs1_company_prefixes()) u->add_gs1_company_prefixes(p);
    }
    u->set_resolver_domain(o.resolver_domain.value_or(current->resolver_domain()));
    u->set_website(o.website.value_or(current->website()));
    if (auto f = CheckSettings(u->resolver_domain(), u->website())) return *f;
    return c;
  }
  if (kind == "remove-org") {
    if (o.id.empty()) return Usage("--id ORG is required");
    c.mutable_remove_organization()->set_id(o.id);
    return c;
  }
  if (kind == "add-key" || kind == "revoke-key") {
    if (o.org.empty()) return Usage("--org ORG is required");
    if (o.signing_keys.size() != 1) return Usage("give exactly one --signing-key KEY");
    auto key = KeyOption("--signing-key", o.signing_keys.front());
    if (auto* f = std::get_if<Failure>(&key)) return *f;
    if (kind == "add-key") {
      c.mutable_add_signing_key()->set_organization(o.org);
      c.mutable_add_signing_key()->set_key(Bytes(std::get<0>(key)));
    } else {
      c.mutable_revoke_signing_key()->set_organization(o.org);
      c.mutable_revoke_signing_key()->set_key(Bytes(std::get<0>(key)));
    }
    return c;
  }
  if (kind == "add-validator") {
    if (!o.name || o.name->empty()) return Usage("--name NAME is required");
    if (o.org.empty()) return Usage("--org ORG is required");
    auto key = KeyOption("--consensus-key", o.consensus_key);
    if (auto* f = std::get_if<Failure>(&key)) return *f;
    auto* a = c.mutable_add_validator();
    a->set_name(*o.name);
    a->set_organization(o.org);
    a->set_consensus_key(Bytes(std::get<0>(key)));
    a->set_voting_power(o.power.value_or(1));
    return c;
  }
  if (kind == "remove-validator" || kind == "set-power" || kind == "change-validator-key") {
    auto key = ValidatorOption(net, o.validator);
    if (auto* f = std::get_if<Failure>(&key)) return *f;
    const std::string current = Bytes(std::get<0>(key));
    if (kind == "remove-validator") {
      c.mutable_remove_validator()->set_consensus_key(current);
    } else if (kind == "set-power") {
      if (!o.power) return Usage("--power N is required");
      c.mutable_set_validator_power()->set_consensus_key(current);
      c.mutable_set_validator_power()->set_voting_power(*o.power);
    } else {
      auto next = KeyOption("--new-consensus-key", o.new_consensus_key);
      if (auto* f = std::get_if<Failure>(&next)) return *f;
      c.mutable_change_validator_key()->set_consensus_key(current);
      c.mutable_change_validator_key()->set_new_consensus_key(Bytes(std::get<0>(next)));
    }
    return c;
  }
  std::string kinds;
  for (const char* k : kChangeKinds) kinds += (kinds.empty() ? "" : ", ") + std::string(k);
  return Invalid("unknown change kind \"" + kind.substr(0, 64) + "\": one of " + kinds);
}

void PrintProposed(const pb::ProposalView& p, bool json, std::ostream& out) {
  if (json) {
    out << JsonLine(p) << "\n";
    return;
  }
  out << FormatProposal(p);
  if (p.status() == "pending") {
    out << "Other members approve it with: hallmark gov approve " << p.id() << " --key THEIR.key\n";
  }
}

}  // namespace

core::Result<core::Hash256> ParseKeyArgument(const std::string& text) {
  if (text.size() == 64 && IsHex(text)) return core::ParsePublicKeyHex(Lower(text));
  std::error_code ec;
  if (!text.empty() && std::filesystem::is_regular_file(text, ec)) {
    core::Result<pb::Keystore> info = core::ReadKeystoreInfo(text);
    if (!info.ok()) return info.status();
    return core::ParsePublicKeyHex(info->public_key());
  }
  return core::Status::InvalidInput("\"" + text.substr(0, 70) +
                                    "\" is neither a public key (64 hex digits) nor a keystore "
                                    "file");
}

int RunGovPropose(const ProposeOptions& o, std::ostream& out, std::ostream& err) {
  const Reporter report("hallmark gov propose " + o.kind, o.write.json, out, err);
  if (o.write.key_path.empty())
    return report.Fail(ExitCode::kFileOrUsage, "--key FILE is required");
  if (o.write.timeout_ms == 0) {
    return report.Fail(ExitCode::kFileOrUsage, "--timeout must be positive");
  }
  if (o.note.size() > core::limits::kMaxNoteBytes) {
    return report.Fail(ExitCode::kInvalidInput, "--note is " + std::to_string(o.note.size()) +
                                                    " bytes; at most " +
                                                    std::to_string(core::limits::kMaxNoteBytes));
  }
  core::Result<NodeAddress> address = ParseNodeUrl(ResolveNodeUrl(o.write.node_url));
  if (!address.ok()) return report.Fail(ExitCode::kFileOrUsage, address.status().message());
  // What the command line alone settles (kinds, keys, roles) is checked before the passphrase.
  {
    pb::NetworkResponse none;
    if (o.kind != "update-org" && o.kind != "remove-validator" && o.kind != "set-power" &&
        o.kind != "change-validator-key") {
      auto change = BuildChange(o, none);
      if (auto* f = std::get_if<Failure>(&change)) return report.Fail(f->code, f->message);
    }
  }
  core::Result<core::SigningKey> key = LoadSigningKey(o.write.key_path);
  if (!key.ok()) return report.Fail(key.status(), "cannot load key " + o.write.key_path.string());

  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(o.write.timeout_ms);
  NodeClient node{HttpClient(*address)};
  auto view = ReadNodeView(node, deadline, report);
  if (int* code = std::get_if<int>(&view)) return *code;
  const NodeView& v = std::get<NodeView>(view);
  auto signer = SignerOrganization(v, *key, report);
  if (int* code = std::get_if<int>(&signer)) return *code;
  auto change = BuildChange(o, v.network);
  if (auto* f = std::get_if<Failure>(&change)) return report.Fail(f->code, f->message);
  auto expires = ExpiresHeight(v, o.expires_in);
  if (auto* f = std::get_if<Failure>(&expires)) return report.Fail(f->code, f->message);

  Proposed p = ProposeChange(node, v, *key, std::get<pb::GovernanceChange>(change),
                             std::get<uint64_t>(expires), o.note, o.write, deadline, report, out);
  if (p.failure) return *p.failure;
  if (!p.view) {
    if (o.write.json) {
      pb::ProposalView submitted;
      submitted.set_id(p.id.Hex());
      submitted.set_status("submitted");
      out << JsonLine(submitted) << "\n";
    } else {
      out << "proposal " << p.id.Hex() << " submitted; `hallmark gov show " << p.id.Hex()
          << "` follows it\n";
    }
    return ToInt(ExitCode::kOk);
  }
  PrintProposed(*p.view, o.write.json, out);
  return ToInt(ExitCode::kOk);
}

int RunGovApprove(const GovWriteOptions& o, const std::string& id_text, std::ostream& out,
                  std::ostream& err) {
  const Reporter report("hallmark gov approve", o.json, out, err);
  if (o.key_path.empty()) return report.Fail(ExitCode::kFileOrUsage, "--key FILE is required");
  if (o.timeout_ms == 0) return report.Fail(ExitCode::kFileOrUsage, "--timeout must be positive");
  if (!IsHex(id_text) || id_text.size() > 64 || id_text.size() < kIdPrefixDigitsMin) {
    return report.Fail(ExitCode::kInvalidInput,
                       "proposal id must be 64 hex digits (or a unique prefix of at least " +
                           std::to_string(kIdPrefixDigitsMin) + "), not \"" +
                           id_text.substr(0, 70) + "\"");
  }
  core::Result<NodeAddress> address = ParseNodeUrl(ResolveNodeUrl(o.node_url));
  if (!address.ok()) return report.Fail(ExitCode::kFileOrUsage, address.status().message());
  core::Result<core::SigningKey> key = LoadSigningKey(o.key_path);
  if (!key.ok()) return report.Fail(key.status(), "cannot load key " + o.key_path.string());

  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(o.timeout_ms);
  NodeClient node{HttpClient(*address)};
  auto resolved = ResolveProposalId(node, id_text, RequestTimeoutMs(deadline));
  if (auto* f = std::get_if<Failure>(&resolved)) return report.Fail(f->code, f->message);
  if (auto* e = std::get_if<NodeError>(&resolved)) return report.FailNode(*e, "the proposal list");
  const core::Hash256 id = std::get<core::Hash256>(resolved);

  auto view = ReadNodeView(node, deadline, report);
  if (int* code = std::get_if<int>(&view)) return *code;
  const NodeView& v = std::get<NodeView>(view);
  auto signer = SignerOrganization(v, *key, report);
  if (int* code = std::get_if<int>(&signer)) return *code;
  const pb::OrganizationView* org = std::get<const pb::OrganizationView*>(signer);

  NodeResult<pb::ProposalView> current = node.GetProposal(id, RequestTimeoutMs(deadline));
  if (!current.ok()) return report.FailNode(current.error(), "the proposal look-up");
  if (current->status() == "completed" || current->status() == "expired") {
    return report.Fail(
        ExitCode::kInvalidInput,
        "proposal " + id.Hex() + " is " + StatusText(*current) + ": there is nothing to approve");
  }
  for (const std::string& a : current->approvals()) {
    if (a == org->id()) {
      return report.Fail(ExitCode::kInvalidInput, "duplicate_approval: " + org->id() +
                                                      " has already approved proposal " + id.Hex() +
                                                      " (" + StatusText(*current) + ")");
    }
  }

  pb::Governance body;
  body.mutable_approval()->set_proposal(Bytes(id));
  core::Result<pb::Envelope> env = SignGovernance(*key, v.status.chain_id(), body);
  if (!env.ok()) return report.Fail(env.status(), "the approval is not valid");
  const std::string hint = "it may still commit: `hallmark gov show " + id.Hex() + "` will tell";
  SubmitOutcome done =
      SubmitAndWait(node, *env, deadline, o.timeout_ms, o.wait, o.json, report, hint, out);
  if (done.failure) return *done.failure;
  if (!o.wait) {
    if (o.json) {
      out << JsonLine(done.submitted) << "\n";
    } else {
      out << "approval " << RecordIdOf(*env).Hex() << " of proposal " << id.Hex() << " by "
          << ForTerminal(org->id()) << " submitted\n";
    }
    return ToInt(ExitCode::kOk);
  }
  NodeResult<pb::ProposalView> after = node.GetProposal(id, RequestTimeoutMs(deadline));
  if (!after.ok()) return report.FailNode(after.error(), "the proposal look-up");
  if (o.json) {
    out << JsonLine(*after) << "\n";
  } else {
    out << "approved by " << ForTerminal(org->id()) << " at height " << done.status.height() << "\n"
        << FormatProposal(*after);
  }
  return ToInt(ExitCode::kOk);
}

int RunGovList(const GovReadOptions& o, std::ostream& out, std::ostream& err) {
  const Reporter report("hallmark gov list", o.json, out, err);
  core::Result<NodeAddress> address = ParseNodeUrl(ResolveNodeUrl(o.node_url));
  if (!address.ok()) return report.Fail(ExitCode::kFileOrUsage, address.status().message());
  NodeClient node{HttpClient(*address)};
  NodeResult<pb::ProposalListResponse> list = node.ListProposals(o.timeout_ms);
  if (!list.ok()) return report.FailNode(list.error(), "the proposal list");
  out << (o.json ? JsonLine(*list) + "\n" : FormatProposalList(*list));
  return ToInt(ExitCode::kOk);
}

int RunGovShow(const GovReadOptions& o, const std::string& id_text, std::ostream& out,
               std::ostream& err) {
  const Reporter report("hallmark gov show", o.json, out, err);
  core::Result<NodeAddress> address = ParseNodeUrl(ResolveNodeUrl(o.node_url));
  if (!address.ok()) return report.Fail(ExitCode::kFileOrUsage, address.status().message());
  NodeClient node{HttpClient(*address)};
  auto resolved = ResolveProposalId(node, id_text, o.timeout_ms);
  if (auto* f = std::get_if<Failure>(&resolved)) return report.Fail(f->code, f->message);
  if (auto* e = std::get_if<NodeError>(&resolved)) return report.FailNode(*e, "the proposal list");
  NodeResult<pb::ProposalView> p =
      node.GetProposal(std::get<core::Hash256>(resolved), o.timeout_ms);
  if (!p.ok()) return report.FailNode(p.error(), "the proposal look-up");
  out << (o.json ? JsonLine(*p) + "\n" : FormatProposal(*p));
  return ToInt(ExitCode::kOk);
}

int RunNetwork(const GovReadOptions& o, std::ostream& out, std::ostream& err) {
  const Reporter report("hallmark network", o.json, out, err);
  core::Result<NodeAddress> address = ParseNodeUrl(ResolveNodeUrl(o.node_url));
  if (!address.ok()) return report.Fail(ExitCode::kFileOrUsage, address.status().message());
  NodeClient node{HttpClient(*address)};
  NodeResult<pb::NetworkResponse> net = node.GetNetwork(o.timeout_ms);
  if (!net.ok()) return report.FailNode(net.error(), "the network request");
  out << (o.json ? JsonLine(*net) + "\n" : FormatNetwork(*net));
  return ToInt(ExitCode::kOk);
}

int RunKeyRotate(const KeyRotateOptions& o, std::ostream& out, std::ostream& err) {
  const Reporter report("hallmark key rotate", o.write.json, out, err);
  if (o.write.key_path.empty())
    return report.Fail(ExitCode::kFileOrUsage, "--key FILE is required");
  if (o.org.empty()) return report.Fail(ExitCode::kFileOrUsage, "--org ORG is required");
  if (o.write.timeout_ms == 0) {
    return report.Fail(ExitCode::kFileOrUsage, "--timeout must be positive");
  }
  if (o.new_key.empty() && !o.revoke_old) {
    return report.Fail(ExitCode::kFileOrUsage,
                       "--new KEY is required (the new key's keystore or its public key), unless "
                       "--revoke-old finishes a rotation");
  }
  std::optional<core::Hash256> new_key;
  if (!o.new_key.empty()) {
    core::Result<core::Hash256> k = ParseKeyArgument(o.new_key);
    if (!k.ok()) return report.Fail(ExitCodeFor(k.status()), "--new: " + k.status().message());
    new_key = *k;
  }
  std::optional<core::Hash256> old_given;
  if (!o.old_key.empty()) {
    core::Result<core::Hash256> k = ParseKeyArgument(o.old_key);
    if (!k.ok()) return report.Fail(ExitCodeFor(k.status()), "--old: " + k.status().message());
    old_given = *k;
  }
  core::Result<NodeAddress> address = ParseNodeUrl(ResolveNodeUrl(o.write.node_url));
  if (!address.ok()) return report.Fail(ExitCode::kFileOrUsage, address.status().message());
  core::Result<core::SigningKey> key = LoadSigningKey(o.write.key_path);
  if (!key.ok()) return report.Fail(key.status(), "cannot load key " + o.write.key_path.string());
  const core::Hash256 old_key =
      old_given.value_or(core::Hash256::FromSpan(key->public_key().span()));
  if (new_key && *new_key == old_key) {
    return report.Fail(ExitCode::kInvalidInput, "the new key is the old key " + old_key.Hex());
  }

  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(o.write.timeout_ms);
  NodeClient node{HttpClient(*address)};
  auto view = ReadNodeView(node, deadline, report);
  if (int* code = std::get_if<int>(&view)) return *code;
  const NodeView& v = std::get<NodeView>(view);
  auto signer = SignerOrganization(v, *key, report);
  if (int* code = std::get_if<int>(&signer)) return *code;
  const pb::OrganizationView* org = FindMember(v.network, o.org);
  if (org == nullptr) {
    return report.Fail(ExitCode::kInvalidInput,
                       "unknown_organization: \"" + o.org.substr(0, 64) +
                           "\" is not a member (members: " + MemberIds(v.network) + ")");
  }
  const pb::SigningKeyView* old_view = FindKey(*org, old_key);
  if (old_view == nullptr) {
    return report.Fail(
        ExitCode::kInvalidInput,
        "the old key " + old_key.Hex() + " is not a signing key of " + o.org +
            (old_given ? "" : " (it is --key's; name the key to replace with --old)"));
  }
  NodeResult<pb::ProposalListResponse> pending = node.ListProposals(RequestTimeoutMs(deadline));
  if (!pending.ok()) return report.FailNode(pending.error(), "the proposal list");
  // A pending proposal of the same change, so that running the command again repeats nothing.
  auto find_pending = [&](std::string_view kind,
                          const core::Hash256& k) -> const pb::ProposalView* {
    for (const pb::ProposalView& p : pending->proposals()) {
      if (p.change().kind() == kind && p.change().organization() == o.org &&
          p.change().signing_keys_size() == 1 && p.change().signing_keys(0) == k.Hex()) {
        return &p;
      }
    }
    return nullptr;
  };
  auto expires = ExpiresHeight(v, o.expires_in);
  if (auto* f = std::get_if<Failure>(&expires)) return report.Fail(f->code, f->message);

  pb::KeyRotateOutput result;
  std::vector<std::string> lines;
  std::optional<std::string> add_id;  // The add proposal the revocation waits for.

  if (new_key && !o.revoke_old) {
    const pb::SigningKeyView* known = FindKey(*org, *new_key);
    if (known != nullptr && known->revoked_at() != 0) {
      return report.Fail(ExitCode::kInvalidInput,
                         "the new key " + new_key->Hex() + " was revoked at height " +
                             std::to_string(known->revoked_at()) +
                             "; keys are never reused: make a new one with hallmark keygen");
    }
    if (known != nullptr) {
      lines.push_back("the new key " + new_key->Hex() + " is already a key of " + o.org +
                      " (valid from height " + std::to_string(known->valid_from()) + ")");
    } else if (const pb::ProposalView* p = find_pending("add_signing_key", *new_key)) {
      add_id = p->id();
      *result.add_proposals() = *p;
      lines.push_back("adding the new key is already proposed: " + p->id() + " (" + StatusText(*p) +
                      ")");
    } else {
      pb::GovernanceChange add;
      add.mutable_add_signing_key()->set_organization(o.org);
      add.mutable_add_signing_key()->set_key(Bytes(*new_key));
      Proposed made = ProposeChange(node, v, *key, add, std::get<uint64_t>(expires), o.note,
                                    o.write, deadline, report, out);
      if (made.failure) return *made.failure;
      add_id = made.id.Hex();
      if (made.view) *result.add_proposals() = *made.view;
      lines.push_back("proposed adding the new key " + new_key->Hex() + " to " + o.org + ": " +
                      made.id.Hex() +
                      (made.view ? " (" + StatusText(*made.view) + ")" : " (submitted)"));
    }
  }

  // The revocation, when another key of the organisation stays valid.
  if (old_view->revoked_at() != 0) {
    lines.push_back("the old key " + old_key.Hex() + " is already revoked (from height " +
                    std::to_string(old_view->revoked_at()) + ")");
  } else if (const pb::ProposalView* p = find_pending("revoke_signing_key", old_key)) {
    *result.add_proposals() = *p;
    lines.push_back("revoking the old key is already proposed: " + p->id() + " (" + StatusText(*p) +
                    ")");
  } else {
    size_t others = 0;
    for (const pb::SigningKeyView& k : org->signing_keys()) {
      if (k.valid() && k.key() != old_key.Hex()) ++others;
    }
    if (others == 0) {
      std::string next = "the old key " + old_key.Hex() + " is " + o.org +
                         "'s only valid key, so its revocation must wait until the new key is in "
                         "force (the node would refuse it now: last_key).";
      if (add_id) {
        next += " Once proposal " + *add_id + " is complete and in force (`hallmark gov show " +
                *add_id + "`), run this command again, or: hallmark key rotate --key KEY --org " +
                o.org + " --old " + old_key.Hex() + " --revoke-old";
      }
      result.set_next_step(next);
      if (o.revoke_old) return report.Fail(ExitCode::kInvalidInput, next);
    } else {
      pb::GovernanceChange revoke;
      revoke.mutable_revoke_signing_key()->set_organization(o.org);
      revoke.mutable_revoke_signing_key()->set_key(Bytes(old_key));
      Proposed made = ProposeChange(node, v, *key, revoke, std::get<uint64_t>(expires), o.note,
                                    o.write, deadline, report, out);
      if (made.failure) return *made.failure;
      if (made.view) *result.add_proposals() = *made.view;
      lines.push_back("proposed revoking the old key " + old_key.Hex() + " of " + o.org + ": " +
                      made.id.Hex() +
                      (made.view ? " (" + StatusText(*made.view) + ")" : " (submitted)"));
    }
  }

  if (o.write.json) {
    out << JsonLine(result) << "\n";
    return ToInt(ExitCode::kOk);
  }
  for (const std::string& l : lines) out << l << "\n";
  if (!result.next_step().empty()) out << result.next_step() << "\n";
  bool any_pending = false;
  for (const pb::ProposalView& p : result.proposals()) any_pending |= p.status() == "pending";
  if (any_pending) {
    out << "Other members approve with: hallmark gov approve ID --key THEIR.key "
           "(`hallmark gov list` shows what is pending)\n";
  }
  return ToInt(ExitCode::kOk);
}

// --- Command line ----------------------------------------------------------------------------

constexpr const char* kResolverDomainHelp =
    "Host of the resolver its QR codes point to (hallmark qr), e.g. id.example.com (default "
    "id.gs1.org)";
constexpr const char* kWebsiteHelp =
    "Its page for people, an https:// URL (linked from item pages)";

struct GovCommandLine::State {
  CLI::App* gov = nullptr;
  CLI::App* propose = nullptr;
  std::vector<std::pair<std::string, CLI::App*>> kinds;
  CLI::App* approve = nullptr;
  CLI::App* list = nullptr;
  CLI::App* show = nullptr;
  CLI::App* network = nullptr;
  CLI::App* members = nullptr;  // `gov members`: the same as `network`.

  ProposeOptions propose_options;
  std::string key_path;
  std::string name;
  std::string resolver_domain;
  std::string website;
  CLI::Option* name_option = nullptr;
  std::vector<CLI::Option*> name_options;
  uint64_t power = 0;
  std::vector<CLI::Option*> power_options;
  uint64_t expires_in = 0;
  std::vector<CLI::Option*> expires_options;
  double timeout_s = kDefaultWaitTimeoutMs / 1000.0;
  bool no_wait = false;
  std::string proposal_id;
  bool local_json = false;
};

GovCommandLine::GovCommandLine(CLI::App& app) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.gov = app.add_subcommand(
      "gov",
      "Governance: propose changes to the consortium (organisations, signing keys, validators), "
      "approve them, list and show proposals");
  s.gov->require_subcommand(1);

  // Options every signing command has.
  auto add_write = [&s](CLI::App* c) {
    c->add_option("--key", s.key_path, "Keystore of a member organisation's signing key")
        ->required();
    c->add_flag("--no-wait", s.no_wait, "Return once the node has accepted the record");
    c->add_option("--timeout", s.timeout_s, "Seconds to wait for the node and for commit (30)")
        ->check(CLI::Range(0.001, 86400.0));
    c->add_flag("--json", s.local_json, "Print one line of JSON");
  };

  s.propose = s.gov->add_subcommand(
      "propose",
      "Propose one change, signed with --key; it completes when more than the network's "
      "threshold of member organisations approve (the proposal counts as its organisation's)");
  s.propose->require_subcommand(1);
  ProposeOptions& p = s.propose_options;
  auto add_kind = [&](const std::string& kind, const std::string& description) {
    CLI::App* c = s.propose->add_subcommand(kind, description);
    add_write(c);
    s.expires_options.push_back(c->add_option(
        "--expires-in", s.expires_in,
        "Heights after the current one during which it may be approved (default: the network's "
        "proposal lifetime)"));
    c->add_option("--note", p.note, "Why, for the other members (at most 512 bytes)");
    s.kinds.emplace_back(kind, c);
    return c;
  };
  const std::string key_help = "64 hex digits, or a keystore file (its public key is read)";

  CLI::App* add_org = add_kind("add-org", "Admit a new member organisation");
  add_org->add_option("--id", p.id, "Its id: a-z, 0-9 and '-', at most 32")->required();
  s.name_options.push_back(add_org->add_option("--name", s.name, "Display name (default: the id)"));
  add_org->add_option("--resolver-domain", s.resolver_domain, kResolverDomainHelp);
  add_org->add_option("--website", s.website, kWebsiteHelp);
  add_org->add_option("--role", p.roles, "brand | marketplace | authenticator | service-center")
      ->required()
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  add_org->add_option("--signing-key", p.signing_keys, "A signing key: " + key_help)
      ->required()
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  add_org->add_option("--prefix", p.prefixes, "A GS1 company prefix (brands; repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);

  CLI::App* update_org =
      add_kind("update-org",
               "Change a member's display name, roles, GS1 prefixes, resolver domain or website "
               "(what is not given stays)");
  update_org->add_option("--id", p.id, "The organisation")->required();
  s.name_options.push_back(update_org->add_option("--name", s.name, "New display name"));
  update_org->add_option("--role", p.roles, "New roles (repeatable; replace the current ones)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  update_org->add_option("--prefix", p.prefixes, "New GS1 prefixes (repeatable; replace)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  update_org->add_flag("--clear-prefixes", p.clear_prefixes, "No GS1 prefixes any more");
  update_org->add_option("--resolver-domain", s.resolver_domain,
                         std::string(kResolverDomainHelp) + "; \"\" clears it");
  update_org->add_option("--website", s.website, std::string(kWebsiteHelp) + "; \"\" clears it");

  CLI::App* remove_org = add_kind("remove-org", "End an organisation's membership");
  remove_org->add_option("--id", p.id, "The organisation")->required();

  for (const char* k : {"add-key", "revoke-key"}) {
    const bool add = std::string_view(k) == "add-key";
    CLI::App* c = add_kind(k, add ? "Add a signing key to a member organisation"
                                  : "Revoke a member organisation's signing key (from the "
                                    "block after the one that completes it)");
    c->add_option("--org", p.org, "The organisation")->required();
    c->add_option("--signing-key", p.signing_keys, "The key: " + key_help)->required()->expected(1);
  }

  CLI::App* add_validator = add_kind("add-validator", "Add a validator (a node's consensus key)");
  s.name_options.push_back(
      add_validator->add_option("--name", s.name, "The validator's name (1..64 bytes)")
          ->required());
  add_validator->add_option("--org", p.org, "The member organisation running it")->required();
  add_validator->add_option("--consensus-key", p.consensus_key, "Its consensus key: " + key_help)
      ->required();
  s.power_options.push_back(
      add_validator->add_option("--power", s.power, "Voting power (default 1)"));

  for (const char* k : {"remove-validator", "set-power", "change-validator-key"}) {
    const std::string kind = k;
    CLI::App* c = add_kind(kind, kind == "remove-validator" ? "Remove a validator"
                                 : kind == "set-power"      ? "Change a validator's voting power"
                                                            : "Replace a validator's consensus key "
                                                              "(a replaced machine)");
    c->add_option("--validator", p.validator, "The validator: its name or consensus key")
        ->required();
    if (kind == "set-power") {
      s.power_options.push_back(
          c->add_option("--power", s.power, "New voting power (> 0)")->required());
    }
    if (kind == "change-validator-key") {
      c->add_option("--new-consensus-key", p.new_consensus_key, "The new key: " + key_help)
          ->required();
    }
  }

  s.approve = s.gov->add_subcommand(
      "approve", "Approve a pending proposal for the signing key's organisation");
  s.approve->add_option("ID", s.proposal_id, "The proposal id (or a unique prefix)")->required();
  add_write(s.approve);

  s.list = s.gov->add_subcommand("list", "List the pending proposals");
  s.list->add_flag("--json", s.local_json, "Print one line of JSON");

  s.show = s.gov->add_subcommand("show", "Show one proposal: pending, completed or expired");
  s.show->add_option("ID", s.proposal_id, "The proposal id (or a unique prefix of a pending one)")
      ->required();
  s.show->add_flag("--json", s.local_json, "Print one line of JSON");

  s.network = app.add_subcommand(
      "network",
      "Show the consortium: members and their signing keys, removed organisations, the "
      "validator set in force and scheduled ones, and the governance parameters");
  s.network->add_flag("--json", s.local_json, "Print one line of JSON");
  s.members = s.gov->add_subcommand("members", "The same as hallmark network");
  s.members->add_flag("--json", s.local_json, "Print one line of JSON");
}

GovCommandLine::~GovCommandLine() = default;

std::optional<std::string> GovCommandLine::UnknownKind(int argc, const char* const* argv) {
  for (int i = 1; i + 2 < argc; ++i) {
    if (std::string_view(argv[i]) != "gov" || std::string_view(argv[i + 1]) != "propose") continue;
    const std::string_view word = argv[i + 2];
    if (word.empty() || word.front() == '-') return std::nullopt;
    for (const char* k : kChangeKinds) {
      if (word == k) return std::nullopt;
    }
    std::string kinds;
    for (const char* k : kChangeKinds) kinds += (kinds.empty() ? "" : ", ") + std::string(k);
    return "hallmark gov propose: unknown change kind \"" + ForTerminal(word.substr(0, 64)) +
           "\": one of " + kinds;
  }
  return std::nullopt;
}

bool GovCommandLine::parsed() const {
  return state_->gov->parsed() || state_->network->parsed();
}

int GovCommandLine::Run(bool json, const std::string& node_url, std::ostream& out,
                        std::ostream& err) {
  State& s = *state_;
  json = json || s.local_json;
  GovReadOptions read{.node_url = node_url, .json = json};
  GovWriteOptions write{.node_url = node_url,
                        .json = json,
                        .key_path = s.key_path,
                        .wait = !s.no_wait,
                        .timeout_ms = static_cast<uint32_t>(std::llround(s.timeout_s * 1000))};
  if (s.network->parsed() || s.members->parsed()) return RunNetwork(read, out, err);
  if (s.list->parsed()) return RunGovList(read, out, err);
  if (s.show->parsed()) return RunGovShow(read, s.proposal_id, out, err);
  if (s.approve->parsed()) return RunGovApprove(write, s.proposal_id, out, err);
  for (const auto& [kind, app] : s.kinds) {
    if (!app->parsed()) continue;
    ProposeOptions o = s.propose_options;
    o.kind = kind;
    o.write = write;
    for (CLI::Option* opt : s.name_options) {
      if (opt->count() > 0) o.name = s.name;
    }
    if (CLI::Option* opt = app->get_option_no_throw("--resolver-domain"); opt && opt->count() > 0) {
      o.resolver_domain = s.resolver_domain;
    }
    if (CLI::Option* opt = app->get_option_no_throw("--website"); opt && opt->count() > 0) {
      o.website = s.website;
    }
    for (CLI::Option* opt : s.power_options) {
      if (opt->count() > 0) o.power = s.power;
    }
    for (CLI::Option* opt : s.expires_options) {
      if (opt->count() > 0) o.expires_in = s.expires_in;
    }
    return RunGovPropose(o, out, err);
  }
  err << "hallmark gov: give a subcommand: propose, approve, list, show or members\n";
  return ToInt(ExitCode::kFileOrUsage);
}

}  // namespace hallmark::wallet
