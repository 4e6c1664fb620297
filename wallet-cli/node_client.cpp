#include "wallet-cli/node_client.h"

#include <algorithm>

#include "core/codec.h"
#include "core/json.h"
#include "proto/proof.pb.h"

namespace hallmark::wallet {
namespace {

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kProtobuf = "application/x-protobuf";
// How much of an unexpected (non-API) answer body is quoted in an error message.
constexpr size_t kQuotedBodyBytesMax = 200;

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// A node's plain-text answer (from a proxy, say) is quoted in messages, with control characters
// replaced so that it cannot drive the terminal.
std::string Printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, kQuotedBodyBytesMax)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? ' ' : c;
  }
  if (text.size() > kQuotedBodyBytesMax) out += "…";
  return out;
}

NodeError Error(NodeErrorKind kind, unsigned http_status, std::string code, std::string message) {
  NodeError e;
  e.kind = kind;
  e.http_status = http_status;
  e.error.set_code(std::move(code));
  e.error.set_message(std::move(message));
  return e;
}

NodeErrorKind KindForStatus(unsigned status) {
  if (status == 429 || status == 503) return NodeErrorKind::kBusy;
  if (status >= 400 && status < 500) return NodeErrorKind::kRejected;
  if (status >= 500) return NodeErrorKind::kServer;
  return NodeErrorKind::kBadResponse;
}

// Turns an exchange into the API message T when the status is one of `ok`, into the node's
// ErrorResponse otherwise. `limits` are for reading T; an error answer is read with the API
// answers' limits.
template <typename T>
NodeResult<T> Interpret(const core::Result<HttpResponse>& r, std::initializer_list<unsigned> ok,
                        std::string_view what, const std::string& url,
                        const core::JsonLimits& limits = core::kApiAnswerJsonLimits) {
  if (!r.ok()) return Error(NodeErrorKind::kTransport, 0, "unreachable", r.status().message());
  const HttpResponse& res = *r;
  if (std::find(ok.begin(), ok.end(), res.status) != ok.end()) {
    T value;
    core::Status s = ParseApiBody(res, &value, limits);
    if (!s.ok()) {
      return Error(NodeErrorKind::kBadResponse, res.status, "bad_response",
                   "node at " + url + " sent a " + std::string(what) +
                       " this CLI cannot read: " + s.message());
    }
    return value;
  }
  NodeError e;
  pb::ErrorResponse body;
  if (ParseApiBody(res, &body).ok() && !body.error().code().empty()) {
    e = Error(KindForStatus(res.status), res.status, body.error().code(), body.error().message());
  } else {
    std::string message = "node at " + url + " answered HTTP " + std::to_string(res.status);
    if (!res.body.empty()) message += ": " + Printable(res.body);
    e = Error(KindForStatus(res.status), res.status, "http_" + std::to_string(res.status),
              std::move(message));
  }
  e.retry_after_s = res.retry_after_s;
  return e;
}

}  // namespace

std::string NodeError::ToString() const {
  if (kind == NodeErrorKind::kTransport || kind == NodeErrorKind::kBadResponse) {
    return error.message();
  }
  return error.code() + ": " + error.message();
}

// A query parameter's value with every byte outside RFC 3986's unreserved set percent-encoded.
std::string QueryValue(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c)) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::string ItemPath(const core::ItemId& id) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string path = "/v1/items/";
  for (char ch : id.Canonical()) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c) || c == '/') {
      path += ch;
    } else {
      path += '%';
      path += kHex[c >> 4];
      path += kHex[c & 0xf];
    }
  }
  return path;
}

core::Status ParseApiBody(const HttpResponse& response, google::protobuf::Message* out,
                          const core::JsonLimits& limits) {
  if (response.content_type.rfind(kProtobuf, 0) == 0) {
    // As many messages as the JSON form may hold values: no amplification through empty
    // repeated messages either.
    HM_RETURN_IF_ERROR(core::CheckMessageCount(response.body, *out->GetDescriptor(),
                                               limits.values_max, "the Protobuf body"));
    if (!out->ParseFromString(response.body)) {
      return core::Status::InvalidInput("the Protobuf body does not parse");
    }
    return core::Status::Ok();
  }
  return core::ParseJsonStrict(response.body, out, limits);
}

NodeResult<pb::StatusResponse> NodeClient::GetStatus(uint32_t timeout_ms) {
  return Interpret<pb::StatusResponse>(http_.Get("/v1/status", timeout_ms), {200}, "status", url());
}

NodeResult<pb::ItemResponse> NodeClient::GetItem(const core::ItemId& id, uint32_t timeout_ms) {
  return Interpret<pb::ItemResponse>(http_.Get(ItemPath(id), timeout_ms), {200}, "item", url());
}

NodeResult<pb::ProofBundle> NodeClient::GetProofBundle(const core::ItemId& id, uint32_t timeout_ms,
                                                       size_t bytes_max, uint64_t since_height) {
  std::string path = ItemPath(id) + "/proof";
  if (since_height != 0) path += "?since=" + std::to_string(since_height);
  return Interpret<pb::ProofBundle>(http_.Get(path, timeout_ms, bytes_max), {200}, "proof bundle",
                                    url(), core::kProofBundleJsonLimits);
}

core::Result<std::string> FetchProofBundle(const std::string& node_url, const core::ItemId& item,
                                           uint32_t timeout_ms, size_t bytes_max,
                                           uint64_t since_height) {
  core::Result<NodeAddress> address = ParseNodeUrl(node_url);
  if (!address.ok()) return address.status();
  NodeClient node{HttpClient(*address)};
  NodeResult<pb::ProofBundle> r = node.GetProofBundle(item, timeout_ms, bytes_max, since_height);
  if (!r.ok()) return core::Status::IoError("fetching the proof: " + r.error().ToString());
  return core::SerializeDeterministic(*r);
}

core::Result<std::pair<std::string, std::string_view>> NodeClient::Encode(
    const google::protobuf::Message& message) const {
  switch (format_) {
    case WireFormat::kJson: {
      core::Result<std::string> body = core::ToJson(message, /*pretty=*/false);
      if (!body.ok()) return body.status();
      return std::pair<std::string, std::string_view>(std::move(*body), kJson);
    }
    case WireFormat::kProtobuf:
      return std::pair<std::string, std::string_view>(core::SerializeDeterministic(message),
                                                      kProtobuf);
  }
  return core::Status::Internal("unknown wire format");
}

NodeResult<pb::SubmitResponse> NodeClient::Submit(const pb::Envelope& envelope,
                                                  uint32_t timeout_ms) {
  auto body = Encode(envelope);
  if (!body.ok()) return Error(NodeErrorKind::kBadResponse, 0, "internal", body.status().message());
  return Interpret<pb::SubmitResponse>(
      http_.Post("/v1/records", body->first, body->second, timeout_ms), {200, 202}, "submit answer",
      url());
}

NodeResult<pb::RecordStatusResponse> NodeClient::GetRecord(const core::Hash256& record_id,
                                                           uint32_t timeout_ms) {
  NodeResult<pb::RecordStatusResponse> r = Interpret<pb::RecordStatusResponse>(
      http_.Get("/v1/records/" + record_id.Hex(), timeout_ms), {200}, "record status", url());
  // A node may say 404 for a record it has never seen; that is the "unknown" status.
  if (!r.ok() && r.error().http_status == 404) {
    pb::RecordStatusResponse unknown;
    unknown.set_record_id(record_id.Hex());
    unknown.set_status("unknown");
    return unknown;
  }
  return r;
}

NodeResult<pb::NetworkResponse> NodeClient::GetNetwork(uint32_t timeout_ms) {
  return Interpret<pb::NetworkResponse>(http_.Get("/v1/network", timeout_ms), {200}, "network view",
                                        url());
}

NodeResult<pb::ProposalListResponse> NodeClient::ListProposals(uint32_t timeout_ms) {
  return Interpret<pb::ProposalListResponse>(http_.Get("/v1/governance/proposals", timeout_ms),
                                             {200}, "proposal list", url());
}

NodeResult<pb::ProposalView> NodeClient::GetProposal(const core::Hash256& id, uint32_t timeout_ms) {
  return Interpret<pb::ProposalView>(http_.Get("/v1/governance/proposals/" + id.Hex(), timeout_ms),
                                     {200}, "proposal", url());
}

NodeResult<pb::ItemListResponse> NodeClient::ListItems(const ListQuery& q, uint32_t timeout_ms) {
  std::string path = "/v1/items";
  char sep = '?';
  auto add = [&](std::string_view name, std::string_view value) {
    path += sep;
    path += name;
    path += '=';
    path += QueryValue(value);
    sep = '&';
  };
  if (!q.brand.empty()) add("brand", q.brand);
  if (!q.flag.empty()) add("flag", q.flag);
  if (q.since_ms != 0) add("since", std::to_string(q.since_ms));
  if (q.limit != 0) add("limit", std::to_string(q.limit));
  if (!q.after.empty()) add("after", q.after);
  return Interpret<pb::ItemListResponse>(http_.Get(path, timeout_ms), {200}, "item list", url());
}

NodeResult<pb::CheckResponse> NodeClient::Check(const std::vector<std::string>& ids,
                                                uint32_t timeout_ms) {
  HM_ASSERT(ids.size() <= kCheckBatchMax);
  pb::CheckRequest request;
  for (const std::string& id : ids) request.add_ids(id);
  auto body = Encode(request);
  if (!body.ok()) return Error(NodeErrorKind::kBadResponse, 0, "internal", body.status().message());
  return Interpret<pb::CheckResponse>(
      http_.Post("/v1/items:check", body->first, body->second, timeout_ms), {200}, "check answer",
      url());
}

NodeResult<pb::CheckResponse> NodeClient::CheckItems(const std::vector<pb::CheckItem>& items,
                                                     uint32_t timeout_ms) {
  HM_ASSERT(items.size() <= kCheckBatchMax);
  pb::CheckRequest request;
  for (const pb::CheckItem& item : items) *request.add_items() = item;
  auto body = Encode(request);
  if (!body.ok()) return Error(NodeErrorKind::kBadResponse, 0, "internal", body.status().message());
  return Interpret<pb::CheckResponse>(
      http_.Post("/v1/items:check", body->first, body->second, timeout_ms), {200}, "check answer",
      url());
}

}  // namespace hallmark::wallet
