#pragma once

// The node's HTTP API (proto/api.proto) as typed calls: what the CLI and the load generator use
// to read state and submit records. Bodies travel as JSON through Protobuf's JSON mapping.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/bytes.h"
#include "core/item_id.h"
#include "core/json.h"
#include "core/status.h"
#include "proto/api.pb.h"
#include "proto/proof.pb.h"
#include "proto/records.pb.h"
#include "wallet-cli/http_client.h"

namespace hallmark::wallet {

// POST /v1/items:check takes at most this many ids per request.
inline constexpr size_t kCheckBatchMax = 1'000;
// The default limit on a proof bundle fetched from a node (a saved one may be larger: see
// core::kMaxProofBundleBytes). Callers may set their own.
inline constexpr size_t kOnlineProofBundleBytesMax = 16 * 1024 * 1024;

// Why a call to the node failed, in a form that keeps the node's own words.
enum class NodeErrorKind {
  kTransport,    // No answer: unreachable, timed out, connection lost.
  kBadResponse,  // An answer that is not what the API promises (bad JSON, wrong status).
  kRejected,     // 4xx with an ErrorResponse: the request (the record, the id) is at fault.
  kBusy,         // 429 or 503: the node is full or not ready; try again later.
  kServer,       // Another 5xx: the node failed.
};

// Value type.
struct NodeError {
  NodeErrorKind kind = NodeErrorKind::kTransport;
  unsigned http_status = 0;               // 0 when there was no answer.
  pb::ApiError error;                     // The node's code and message, verbatim; ours otherwise.
  std::optional<uint32_t> retry_after_s;  // From a 429/503's Retry-After header.

  // "stale_prev: prev is not …" (the node's words), or our message for transport failures.
  std::string ToString() const;
};

// A value or the NodeError that prevented it. Thread-compatible.
template <typename T>
class [[nodiscard]] NodeResult {
 public:
  NodeResult(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design.
  NodeResult(NodeError error) : v_(std::move(error)) {}  // NOLINT: implicit by design.

  bool ok() const { return std::holds_alternative<T>(v_); }
  // REQUIRES: !ok().
  const NodeError& error() const {
    HM_ASSERT(!ok());
    return std::get<NodeError>(v_);
  }
  // REQUIRES: ok().
  T& value() {
    HM_ASSERT(ok());
    return std::get<T>(v_);
  }
  T* operator->() { return &value(); }
  T& operator*() { return value(); }

 private:
  std::variant<T, NodeError> v_;
};

// The path of GET /v1/items/{id} for `id`: the canonical form with its slashes kept and every
// other byte outside RFC 3986's unreserved set percent-encoded, so that a serial holding '%',
// '?' or '+' reaches the node as written.
std::string ItemPath(const core::ItemId& id);

// How request bodies travel. The node takes both; JSON is the readable default, binary
// Protobuf is smaller and cheaper for the load generator.
enum class WireFormat {
  kJson,      // application/json, Protobuf's JSON mapping.
  kProtobuf,  // application/x-protobuf.
};

// Typed calls on one node, over one keep-alive HttpClient. Not thread-safe (like HttpClient):
// give each thread its own NodeClient.
class NodeClient {
 public:
  explicit NodeClient(HttpClient http, WireFormat format = WireFormat::kJson)
      : http_(std::move(http)), format_(format) {}

  // GET /v1/status.
  NodeResult<pb::StatusResponse> GetStatus(uint32_t timeout_ms = 0);
  // GET /v1/items/{id}. An unregistered item is a success with registered == false.
  NodeResult<pb::ItemResponse> GetItem(const core::ItemId& id, uint32_t timeout_ms = 0);
  // POST /v1/records. 202 (pending) and 200 (already known) are both successes.
  NodeResult<pb::SubmitResponse> Submit(const pb::Envelope& envelope, uint32_t timeout_ms = 0);
  // GET /v1/items/{id}/proof: the item's proof bundle, as the node sent it. Unverified: pass
  // it to core::VerifyProofBundle before believing any of it. An answer larger than
  // `bytes_max` is refused; its JSON is read strictly (unknown fields refused at every level).
  // `since_height`: a governance height the client already checked (0: walk from genesis).
  NodeResult<pb::ProofBundle> GetProofBundle(const core::ItemId& id, uint32_t timeout_ms = 0,
                                             size_t bytes_max = kOnlineProofBundleBytesMax,
                                             uint64_t since_height = 0);
  // GET /v1/records/{id hex}.
  NodeResult<pb::RecordStatusResponse> GetRecord(const core::Hash256& record_id,
                                                 uint32_t timeout_ms = 0);
  // GET /v1/network: members, keys, validators and governance parameters.
  NodeResult<pb::NetworkResponse> GetNetwork(uint32_t timeout_ms = 0);
  // GET /v1/governance/proposals: the pending proposals.
  NodeResult<pb::ProposalListResponse> ListProposals(uint32_t timeout_ms = 0);
  // GET /v1/governance/proposals/{id hex}. An unknown id is a kRejected error (404 not_found).
  NodeResult<pb::ProposalView> GetProposal(const core::Hash256& id, uint32_t timeout_ms = 0);
  // GET /v1/items: one page of the listing, newest change first. Empty strings and zeros are
  // left out of the query. `flag` is a flag's name ("stolen", …), `after` a `next` cursor.
  struct ListQuery {
    std::string brand;
    std::string flag;
    uint64_t since_ms = 0;
    uint32_t limit = 0;  // 0: the node's default (100).
    std::string after;
  };
  NodeResult<pb::ItemListResponse> ListItems(const ListQuery& query, uint32_t timeout_ms = 0);
  // POST /v1/items:check. REQUIRES: ids.size() <= kCheckBatchMax.
  NodeResult<pb::CheckResponse> Check(const std::vector<std::string>& ids, uint32_t timeout_ms = 0);
  // POST /v1/items:check with items that carry custody proofs.
  // REQUIRES: items.size() <= kCheckBatchMax.
  NodeResult<pb::CheckResponse> CheckItems(const std::vector<pb::CheckItem>& items,
                                           uint32_t timeout_ms = 0);

  HttpClient& http() { return http_; }
  const std::string& url() const { return http_.address().url; }

 private:
  // The body and content type of a request carrying `message`.
  core::Result<std::pair<std::string, std::string_view>> Encode(
      const google::protobuf::Message& message) const;

  HttpClient http_;
  WireFormat format_;
};

// One-shot: the serialized proof bundle of `item` from the node at `node_url` (unverified).
// Errors name the node and keep its words; every failure is a usage or network error.
core::Result<std::string> FetchProofBundle(const std::string& node_url, const core::ItemId& item,
                                           uint32_t timeout_ms = 0,
                                           size_t bytes_max = kOnlineProofBundleBytesMax,
                                           uint64_t since_height = 0);

// Parses an API answer body into `out`: JSON by default (core::ParseJsonStrict with `limits`),
// binary Protobuf when the content type says application/x-protobuf. With the default limits,
// fields this version does not know are skipped, so a newer node still works with an older CLI.
core::Status ParseApiBody(const HttpResponse& response, google::protobuf::Message* out,
                          const core::JsonLimits& limits = core::kApiAnswerJsonLimits);

}  // namespace hallmark::wallet
