#pragma once

// `hallmark gov …`, `hallmark network` and `hallmark key rotate`: the consortium's governance
// from the command line (docs/governance.md). A member organisation proposes one change, the
// others approve it; these commands build, sign and submit the proposals and approvals and show
// where they stand, through the node's API (GET /v1/network, /v1/governance/proposals[/{id}],
// POST /v1/records). Like the other commands they are library functions that return the exit
// code (commands.h: 0 ok, 2 invalid input or a refusal by the node, 3 usage, file or network
// error, 4 still pending when the timeout ran out) and write only to the streams they are given.

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"
#include "proto/governance.pb.h"
#include "wallet-cli/node_commands.h"

namespace CLI {
class App;
}

namespace hallmark::wallet {

// The change kinds as typed after `hallmark gov propose`.
inline constexpr const char* kChangeKinds[] = {
    "add-org",          "update-org", "remove-org",
    "add-key",          "revoke-key", "add-validator",
    "remove-validator", "set-power",  "change-validator-key"};

// Options every command that signs and submits a governance record shares.
struct GovWriteOptions {
  std::string node_url;  // Empty: ResolveNodeUrl("").
  bool json = false;
  std::filesystem::path key_path;  // Keystore of the signing key.
  bool wait = true;
  uint32_t timeout_ms = kDefaultWaitTimeoutMs;
};

// `hallmark gov propose KIND …`. Strings are parsed by RunGovPropose, so the library and the
// command line report bad values in the same words. Fields a kind does not use are ignored.
struct ProposeOptions {
  GovWriteOptions write;
  std::string kind;                 // One of kChangeKinds.
  std::string id;                   // add-org, update-org, remove-org: the organisation.
  std::string org;                  // add-key, revoke-key, add-validator: the organisation.
  std::optional<std::string> name;  // add-org, update-org: display name; add-validator: name.
  std::vector<std::string> roles;   // brand | marketplace | authenticator | service-center.
  std::vector<std::string> prefixes;
  bool clear_prefixes = false;  // update-org: no prefixes any more.
  // add-org, update-org: the organisation's settings (docs/governance.md). Not given: empty for
  // add-org, unchanged for update-org; an empty string clears it.
  std::optional<std::string> resolver_domain;  // Host of its QR codes' resolver.
  std::optional<std::string> website;          // https URL of its page for people.
  std::vector<std::string> signing_keys;       // 64 hex digits or a keystore file, each.
  std::string validator;          // remove-validator, set-power, change-validator-key: name or key.
  std::string consensus_key;      // add-validator: 64 hex digits or a keystore (node.key).
  std::string new_consensus_key;  // change-validator-key.
  std::optional<uint64_t> power;  // add-validator (default 1), set-power.
  std::optional<uint64_t> expires_in;  // Heights after the head; default: the network's lifetime.
  std::string note;
};

// Builds the change, signs the proposal with the keystore, submits it, waits for its block, and
// prints the proposal's id and what it still needs (or, with json, the ProposalView).
int RunGovPropose(const ProposeOptions& options, std::ostream& out, std::ostream& err);

// `hallmark gov approve ID`: ID is 64 hex digits or a unique prefix (8 or more) of a pending
// proposal's id. Refuses, before signing, a proposal that is completed, expired or already
// approved by the signer's organisation.
int RunGovApprove(const GovWriteOptions& options, const std::string& id, std::ostream& out,
                  std::ostream& err);

struct GovReadOptions {
  std::string node_url;
  bool json = false;
  uint32_t timeout_ms = 0;
};

// `hallmark gov list`: the pending proposals (or the ProposalListResponse as JSON).
int RunGovList(const GovReadOptions& options, std::ostream& out, std::ostream& err);
// `hallmark gov show ID`: one proposal, pending, completed or expired (or its ProposalView).
// An unknown id exits 2 with the node's words.
int RunGovShow(const GovReadOptions& options, const std::string& id, std::ostream& out,
               std::ostream& err);
// `hallmark network`: members with their signing keys, removed organisations, the validator
// set in force and scheduled ones, the governance parameters (or the NetworkResponse as JSON).
int RunNetwork(const GovReadOptions& options, std::ostream& out, std::ostream& err);

struct KeyRotateOptions {
  GovWriteOptions write;
  std::string org;
  std::string new_key;  // 64 hex digits or a keystore; may be empty with revoke_old.
  std::string old_key;  // The key to replace; empty: the signing key (--key).
  // Propose only the revocation of the old key (the add is complete and in force).
  bool revoke_old = false;
  std::optional<uint64_t> expires_in;
  std::string note;
};

// `hallmark key rotate --key K --new NEW --org ORG`: proposes add_signing_key(NEW) and, when ORG
// has another valid key besides the old one, revoke_signing_key(old) as a second proposal. When
// the old key is ORG's only valid key the revocation has to wait until the add is in force (the
// node would refuse it: last_key): the command says so and how to finish (the same command
// again, or with --revoke-old). Steps already done or already proposed are reported, not
// repeated, so running it again is safe.
int RunKeyRotate(const KeyRotateOptions& options, std::ostream& out, std::ostream& err);

// A key given on the command line: 64 hex digits (checked against the acceptance policy), or
// the path of a keystore whose public key is read without its passphrase.
core::Result<core::Hash256> ParseKeyArgument(const std::string& text);

// The `gov` and `network` commands on the command line. Construct on the CLI11 app before
// parsing; after parsing, parsed() says whether one of them was given and Run() runs it. Not
// copyable; must outlive the parse.
class GovCommandLine {
 public:
  explicit GovCommandLine(CLI::App& app);
  ~GovCommandLine();
  GovCommandLine(const GovCommandLine&) = delete;
  GovCommandLine& operator=(const GovCommandLine&) = delete;

  // "unknown change kind …" when the command line is `gov propose WORD …` and WORD is not one of
  // kChangeKinds: CLI11 alone would only say that a subcommand is required.
  static std::optional<std::string> UnknownKind(int argc, const char* const* argv);

  bool parsed() const;
  // `json` and `node_url` are the global options.
  int Run(bool json, const std::string& node_url, std::ostream& out, std::ostream& err);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace hallmark::wallet
