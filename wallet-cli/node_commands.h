#pragma once

// The commands that talk to a node: the eight record commands (register … reassign), `show` and
// `check`. Like the other commands they are library functions returning the exit code and
// writing only to the streams they are given, so tests run them in-process.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "core/records.h"

namespace hallmark::wallet {

// The node's URL when --node is not given.
inline constexpr const char* kNodeEnvVar = "HALLMARK_NODE";
inline constexpr std::string_view kDefaultNodeUrl = "http://127.0.0.1:7800";

// Waiting for commit polls GET /v1/records/{id}, backing off from the first interval to the
// last by doubling.
inline constexpr uint32_t kPollFirstMs = 50;
inline constexpr uint32_t kPollMaxMs = 500;
inline constexpr uint32_t kDefaultWaitTimeoutMs = 30'000;
// A 429 or 503 on submission is retried (within --timeout) after Retry-After, or after this
// interval doubling up to the maximum when the node gives none.
inline constexpr uint32_t kBusyFirstMs = 200;
inline constexpr uint32_t kBusyMaxMs = 2'000;

// One `hallmark check` run takes at most this many ids; a line of standard input longer than the
// line limit is reported as an invalid id without being kept.
inline constexpr size_t kCheckIdsMax = 100'000;
inline constexpr uint64_t kCheckMaxAgeMsDefault = 210'000;
inline constexpr size_t kCheckLineBytesMax = 4'096;

// --node if given, else $HALLMARK_NODE if set and non-empty, else kDefaultNodeUrl.
std::string ResolveNodeUrl(std::string_view flag);

// The command name for a record type, as typed on the command line: "clear-flag", …
std::string_view CommandName(core::RecordType type);

// Everything a record command takes. Strings are parsed by RunWrite, so the library and the
// command line report bad values in the same words. Fields another type does not use are ignored.
struct WriteOptions {
  core::RecordType type = core::RecordType::kRegister;
  std::string node_url;  // Empty: ResolveNodeUrl("").
  bool json = false;
  std::filesystem::path key_path;  // Keystore; the passphrase comes from LoadSigningKey.
  std::string item;                // Any form ParseItemId reads.
  bool wait = true;
  uint32_t timeout_ms = kDefaultWaitTimeoutMs;  // Bounds the whole exchange with the node.
  std::filesystem::path genesis_path;           // Optional: check the record locally first.

  std::vector<std::string> attributes;  // register: "key=value", any number.
  std::vector<std::string> documents;   // register: "name=FILE", SHA-256 of FILE.
  std::string custodian;                // register: ORG or KEYHEX; empty means the brand.
  std::string to;                       // transfer: ORG or KEYHEX; reassign: KEYHEX.
  std::string verdict;                  // attest: genuine | suspect.
  // flag, clear-flag: stolen | lost | counterfeit-suspected | recalled;
  // service: repair | refurbishment | authentication; decommission: destroyed | recycled
  // (empty means destroyed).
  std::string kind;
  std::string note;    // attest, flag, clear-flag, service.
  std::string reason;  // decommission, reassign: free text, required.
};

// Builds, signs and submits one record, then (unless !wait) polls until it is committed or
// rejected. Prints the record id, status and height (or, with json, the api.proto message:
// RecordStatusResponse when waiting, SubmitResponse otherwise). Exit codes: 0 committed (or
// accepted, without waiting); 2 invalid input or a rejection by the node, printed as the node
// worded it; 3 usage, file or network error; 4 still pending when the timeout ran out.
int RunWrite(const WriteOptions& options, std::ostream& out, std::ostream& err);

struct ShowOptions {
  std::string node_url;
  bool json = false;
  std::string item;
  uint32_t timeout_ms = 0;  // 0: the HTTP client's default.
};

// Prints an item's state and chain of custody (or the ItemResponse as JSON). An unregistered
// item is shown as such and exits 0.
int RunShow(const ShowOptions& options, std::ostream& out, std::ostream& err);

struct CheckOptions {
  std::string node_url;
  bool json = false;
  std::vector<std::string> ids;  // Empty: read ids from `in`, one per line.
  uint32_t timeout_ms = 0;
  // Answers from a head older than this are stale: never exit 0. The default is the freshness
  // limit of a network with genesis defaults (core::Network::freshness_ms, 3.5 min).
  uint64_t max_age_ms = kCheckMaxAgeMsDefault;
  uint64_t now_ms = 0;  // 0: this machine's clock (tests fix it).
  // With a custody proof file (hallmark prove-custody), exactly one id is checked, and the node
  // also says whether the proof's signer is the item's current custodian (custody_commands.h).
  std::filesystem::path custody_proof_path;
  std::string challenge;  // The challenge the proof must answer.
};

// The listing-time check of many ids, in batches of kCheckBatchMax. Exit codes: 0 every item is
// registered, active and unflagged, as of a head younger than max_age_ms; 1 some item is not, or
// the node's head is older than that (stale: a recent flag could be missing); 2 some input is
// not a valid id; 3 usage or network error.
int RunCheck(const CheckOptions& options, std::istream& in, std::ostream& out, std::ostream& err);

// `hallmark list`: pages of GET /v1/items, newest change first.
inline constexpr uint32_t kListLimitDefault = 100;
inline constexpr uint32_t kListLimitMax = 1'000;

struct ListOptions {
  std::string node_url;
  bool json = false;
  std::string brand;  // Empty: every brand.
  std::string flag;   // Empty: any; else stolen | lost | counterfeit-suspected | recalled.
  std::string since;  // Empty: from the start; else a time core::ParseTimeMs reads.
  uint32_t limit = kListLimitDefault;  // Items per page, 1..kListLimitMax.
  bool all = false;                    // Follow `next` to the last page.
  std::string after;                   // Start after this cursor (a page's `next`).
  uint32_t timeout_ms = 0;
};

// Prints the items (a table with a line naming the next page's cursor, or with json one line of
// ItemListResponse per page). Pages are printed as they arrive, so --all holds one page in
// memory however many items there are. Exit codes: 0 success (an empty listing too); 2 an
// invalid --flag or --since; 3 usage or network error, or the node refused the query.
int RunList(const ListOptions& options, std::ostream& out, std::ostream& err);

}  // namespace hallmark::wallet
