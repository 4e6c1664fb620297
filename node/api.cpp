#include "node/api.h"

#include <chrono>
#include <memory>
#include <optional>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/codec.h"
#include "core/consensus_codec.h"
#include "core/crypto/sha256.h"
#include "core/item_id.h"
#include "core/records.h"
#include "node/http/content.h"
#include "node/version.h"
#include "storage/proof_bundle.h"

namespace hallmark::node {

namespace {

using core::Hash256;

std::string Hex(const std::string& bytes) {
  return core::ToHex(bytes);
}

// A local failure (disk, corruption) goes to the log in full; the client learns only that the
// node could not answer, never our store's details.
Response LocalFailure(const Request& req, const core::Status& st) {
  spdlog::error("{} {}: {}", req.method(), req.target().substr(0, 256), st.ToString());
  return ErrorReply(req, 500, "internal", "the node could not read its store; see its log");
}

// Block times by height, memoised for the length of one request.
class HeaderTimes {
 public:
  explicit HeaderTimes(const storage::Ledger* ledger) : ledger_(ledger) {}
  uint64_t operator()(uint64_t height) {
    auto it = cache_.find(height);
    if (it != cache_.end()) return it->second;
    uint64_t t = 0;
    auto header = ledger_->GetHeader(height);
    if (header.ok() && header->has_value()) t = (*header)->time_ms();
    cache_.emplace(height, t);
    return t;
  }

 private:
  const storage::Ledger* ledger_;
  std::unordered_map<uint64_t, uint64_t> cache_;
};

std::string TypeOf(const pb::RecordPayload& p) {
  switch (p.body_case()) {
    case pb::RecordPayload::kRegister:
      return "register";
    case pb::RecordPayload::kTransfer:
      return "transfer";
    case pb::RecordPayload::kAttest:
      return "attest";
    case pb::RecordPayload::kFlag:
      return "flag";
    case pb::RecordPayload::kClearFlag:
      return "clear_flag";
    case pb::RecordPayload::kService:
      return "service";
    case pb::RecordPayload::kDecommission:
      return "decommission";
    case pb::RecordPayload::kReassign:
      return "reassign";
    case pb::RecordPayload::BODY_NOT_SET:
      break;
  }
  return "unknown";
}

// A decimal integer of at most 19 digits (fits in 63 bits); nullopt otherwise.
std::optional<uint64_t> ParseUnsigned(std::string_view text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

// Item ids arrive percent-decoded by the router, in any form ParseItemId accepts.
core::Result<core::ItemId> ItemFromPath(const Request& req) {
  return core::ParseItemId(req.param("id"));
}

class Api {
 public:
  explicit Api(ApiContext ctx) : ctx_(std::move(ctx)) {
    for (const char* type : {"register", "transfer", "attest", "flag", "clear_flag", "service",
                             "decommission", "reassign", "unknown"}) {
      for (const char* outcome : {"accepted", "duplicate", "committed", "rejected", "full"}) {
        records_[std::string(type) + "/" + outcome] = &ctx_.metrics->GetCounter(
            "hallmark_records_total", "Records submitted, by type and outcome.",
            {{"type", type}, {"outcome", outcome}});
      }
    }
    for (const char* lane : {"priority", "bulk"}) {
      lanes_.push_back(&ctx_.metrics->GetGauge(
          "hallmark_mempool_depth", "Records waiting in the mempool, by lane.", {{"lane", lane}}));
    }
    peers_gauge_ = &ctx_.metrics->GetGauge("hallmark_peers", "Connected peers.");
  }

  Response Submit(const Request& req) {
    auto env = ParseBody<pb::Envelope>(req);
    if (!env.ok()) return ErrorReply(req, 400, "bad_request", env.status().message());
    AdmitResult r = ctx_.mempool->Admit(*env, core::UnixTimeMs());
    pb::RecordPayload payload;
    std::string type = payload.ParseFromString(env->payload()) ? TypeOf(payload) : "unknown";
    pb::SubmitResponse out;
    out.set_record_id(r.id.Hex());
    switch (r.kind) {
      case AdmitResult::Kind::kAccepted:
        Count(type, "accepted");
        if (ctx_.on_accepted) ctx_.on_accepted(*env);
        out.set_status("pending");
        return Reply(req, out, 202);
      case AdmitResult::Kind::kDuplicate:
        Count(type, "duplicate");
        out.set_status("pending");
        return Reply(req, out, 200);
      case AdmitResult::Kind::kCommitted:
        Count(type, "committed");
        out.set_status("committed");
        out.set_height(r.height);
        return Reply(req, out, 200);
      case AdmitResult::Kind::kRejected:
        Count(type, "rejected");
        return ErrorReply(req, 400, core::RejectReasonCode(r.rejection->reason),
                          r.rejection->message);
      case AdmitResult::Kind::kFull: {
        Count(type, "full");
        Response resp =
            ErrorReply(req, 429, "mempool_full", "the node's mempool is full; retry in a second");
        resp.headers.emplace_back("Retry-After", "1");
        return resp;
      }
    }
    return ErrorReply(req, 500, "internal", "unknown admission outcome");
  }

  Response RecordStatus(const Request& req) {
    auto id = Hash256::FromHex(req.param("id"));
    if (!id) return ErrorReply(req, 400, "bad_request", "record id must be 64 hex digits");
    pb::RecordStatusResponse out;
    out.set_record_id(id->Hex());
    auto stored = ctx_.ledger->GetRecord(*id);
    if (!stored.ok()) return LocalFailure(req, stored.status());
    if (stored->has_value()) {
      const pb::StoredRecord& sr = **stored;
      out.set_status("committed");
      out.set_height(sr.height());
      out.set_position(sr.position());
      HeaderTimes times(ctx_.ledger);
      out.set_block_time_ms(times(sr.height()));
      pb::RecordPayload p;
      if (p.ParseFromString(sr.envelope().payload())) {
        out.set_item_id(p.item_id());
        out.set_type(TypeOf(p));
      }
      return Reply(req, out);
    }
    core::Rejection rejection;
    switch (ctx_.mempool->Lookup(*id, &rejection)) {
      case Mempool::Known::kPending:
        out.set_status("pending");
        break;
      case Mempool::Known::kRejected:
        out.set_status("rejected");
        out.mutable_rejection()->set_code(std::string(core::RejectReasonCode(rejection.reason)));
        out.mutable_rejection()->set_message(rejection.message);
        break;
      case Mempool::Known::kUnknown:
        out.set_status("unknown");
        break;
    }
    return Reply(req, out);
  }

  Response Item(const Request& req) {
    auto item = ItemFromPath(req);
    if (!item.ok()) return ErrorReply(req, 400, "bad_item_id", item.status().message());
    return ItemReply(req, *item);
  }

  // GET /v1/items/{id...}/proof[?since=H]. An item whose serial is "proof" reaches this route
  // too, with the serial cut off: when the id does not parse, the whole path is read as an item
  // id. `since`: the governance walk holds only the changes completed after height H (a height
  // the client already checked); above the head, the walk starts at genesis.
  Response Proof(const Request& req) {
    uint64_t since = 0;
    if (auto text = req.query("since")) {
      auto n = ParseUnsigned(*text);
      if (!n) return ErrorReply(req, 400, "bad_request", "since must be a block height");
      since = *n;
    }
    auto item = ItemFromPath(req);
    if (!item.ok()) {
      auto whole = core::ParseItemId(std::string(req.param("id")) + "/proof");
      if (whole.ok()) return ItemReply(req, *whole);
      return ErrorReply(req, 400, "bad_item_id", item.status().message());
    }
    auto bundle = storage::BuildProofBundle(*ctx_.ledger, *item, since);
    if (!bundle.ok()) {
      if (bundle.status().code() == core::StatusCode::kNotFound) {
        return ErrorReply(req, 503, "no_certified_header", bundle.status().message());
      }
      return LocalFailure(req, bundle.status());
    }
    return Reply(req, *bundle);
  }

  Response ItemReply(const Request& req, const core::ItemId& id) {
    const core::ItemId* item = &id;
    pb::ItemResponse out;
    pb::ChainHead head = ctx_.ledger->head();
    out.set_item_id(item->Canonical());
    out.set_digital_link(item->DigitalLinkUrl());
    out.set_height(head.height());
    out.set_block_time_ms(head.time_ms());
    const Hash256 key = item->Key();
    auto stored = ctx_.ledger->GetItem(key);
    if (!stored.ok()) return LocalFailure(req, stored.status());
    if (!stored->has_value()) {
      out.set_registered(false);
      return Reply(req, out);
    }
    out.set_registered(true);
    *out.mutable_state() = std::move((*stored)->state);
    auto history = ctx_.ledger->GetHistory(key);
    if (!history.ok()) return LocalFailure(req, history.status());
    HeaderTimes times(ctx_.ledger);
    for (pb::StoredRecord& sr : *history) {
      pb::HistoryEntry* e = out.add_history();
      Hash256 id = core::RecordIdOf(sr.envelope());
      e->set_record_id(id.Hex());
      e->set_height(sr.height());
      e->set_position(sr.position());
      e->set_block_time_ms(times(sr.height()));
      e->set_signer(Hex(sr.envelope().signer()));
      if (auto signer = Hash256::FromBytes(sr.envelope().signer())) {
        if (const auto* org = ctx_.network->OrganizationOfKey(*signer)) {
          e->set_signer_organization(org->id());
        }
      }
      if (e->mutable_payload()->ParseFromString(sr.envelope().payload())) {
        e->set_type(TypeOf(e->payload()));
      }
      *e->mutable_envelope() = std::move(*sr.mutable_envelope());
    }
    return Reply(req, out);
  }

  Response Check(const Request& req) {
    auto body = ParseBody<pb::CheckRequest>(req);
    if (!body.ok()) return ErrorReply(req, 400, "bad_request", body.status().message());
    if (static_cast<size_t>(body->ids_size()) > kMaxCheckIds) {
      return ErrorReply(req, 400, "limit_exceeded",
                        "at most " + std::to_string(kMaxCheckIds) + " ids per check, found " +
                            std::to_string(body->ids_size()));
    }
    pb::CheckResponse out;
    const pb::ChainHead head = ctx_.ledger->head();
    out.set_height(head.height());
    out.set_head_time_ms(head.time_ms());
    for (const std::string& input : body->ids()) {
      pb::CheckResult* r = out.add_results();
      r->set_input(input.substr(0, 600));
      auto id = core::ParseItemId(input);
      if (!id.ok()) {
        r->set_status("invalid");
        r->mutable_error()->set_code("bad_item_id");
        r->mutable_error()->set_message(id.status().message());
        continue;
      }
      r->set_item_id(id->Canonical());
      auto stored = ctx_.ledger->GetItem(id->Key());
      if (!stored.ok()) return LocalFailure(req, stored.status());
      if (!stored->has_value()) {
        r->set_status("unregistered");
        continue;
      }
      const pb::ItemState& s = (*stored)->state;
      r->set_registered(true);
      r->set_status(s.status() == pb::DECOMMISSIONED ? "decommissioned" : "active");
      for (const auto& f : s.flags()) r->add_flags(std::string(core::FlagKindName(f.kind())));
      *r->mutable_custodian() = s.custodian();
      r->set_brand(s.brand());
      r->set_latest_height(s.updated_height());
    }
    return Reply(req, out);
  }

  Response Status(const Request& req) {
    pb::StatusResponse out;
    pb::ChainHead head = ctx_.ledger->head();
    out.set_chain_id(ctx_.network->chain_id());
    out.set_height(head.height());
    out.set_block_hash(Hex(head.block_hash()));
    out.set_block_time_ms(head.time_ms());
    out.set_state_root(Hex(head.state_root()));
    out.set_genesis_hash(ctx_.network->hash().Hex());
    for (const auto& v : ctx_.network->validators()) {
      pb::ValidatorView* vv = out.add_validators();
      vv->set_name(v.name);
      vv->set_organization(v.organization);
      vv->set_key(v.key.Hex());
      vv->set_voting_power(v.voting_power);
    }
    if (ctx_.peers) {
      for (auto& p : ctx_.peers()) *out.add_peers() = std::move(p);
    }
    MempoolStats ms = ctx_.mempool->stats();
    out.mutable_mempool()->set_records(ms.records);
    out.mutable_mempool()->set_bytes(ms.bytes);
    out.mutable_mempool()->set_priority(ms.priority);
    out.mutable_mempool()->set_bulk(ms.bulk);
    out.set_node_key(ctx_.node_key_hex);
    out.set_observer(ctx_.observer);
    out.set_version(std::string(Version()));
    out.mutable_evidence()->set_committed(ctx_.ledger->committed_evidence_count());
    if (ctx_.pending_evidence) out.mutable_evidence()->set_pending(ctx_.pending_evidence());
    return Reply(req, out);
  }

  // GET /v1/evidence[?before=H.P][&height=H][&validator=KEY][&limit=N]
  Response Evidence(const Request& req) {
    uint64_t limit = kDefaultEvidencePage;
    if (auto text = req.query("limit")) {
      auto n = ParseUnsigned(*text);
      if (!n || *n == 0 || *n > kMaxEvidencePage) {
        return ErrorReply(req, 400, "bad_request",
                          "limit must be between 1 and " + std::to_string(kMaxEvidencePage));
      }
      limit = *n;
    }
    pb::EvidenceListResponse out;
    pb::ChainHead head = ctx_.ledger->head();
    out.set_height(head.height());
    out.set_committed(head.evidence_count());
    std::vector<storage::CommittedEvidence> found;
    if (auto key_hex = req.query("validator")) {
      // Every committed offence of one validator, oldest first: what governance acts on.
      auto key = core::PublicKey::FromHex(*key_hex);
      if (!key.ok())
        return ErrorReply(req, 400, "bad_request", "validator must be a 64-digit hex key");
      auto listed = ctx_.ledger->ListEvidenceAgainst(*key, limit);
      if (!listed.ok()) return LocalFailure(req, listed.status());
      found = std::move(listed).value();
    } else {
      uint64_t before_height = UINT64_MAX;
      uint32_t before_position = UINT32_MAX;
      std::optional<uint64_t> only_height;
      if (auto text = req.query("height")) {
        only_height = ParseUnsigned(*text);
        if (!only_height) return ErrorReply(req, 400, "bad_request", "height must be an integer");
        if (*only_height < UINT64_MAX) {
          before_height = *only_height + 1;
          before_position = 0;
        }
      }
      if (auto text = req.query("before")) {
        // "H.P", as returned in `next`.
        const size_t dot = text->find('.');
        auto h = ParseUnsigned(text->substr(0, dot));
        auto p = dot == std::string::npos ? std::optional<uint64_t>()
                                          : ParseUnsigned(text->substr(dot + 1));
        if (!h || !p || *p > UINT32_MAX) {
          return ErrorReply(req, 400, "bad_request",
                            "before must be HEIGHT.POSITION, as given in `next`");
        }
        if (*h < before_height || (*h == before_height && *p < before_position)) {
          before_height = *h;
          before_position = static_cast<uint32_t>(*p);
        }
      }
      // One more than asked for tells whether there is a next page.
      auto listed = ctx_.ledger->ListCommittedEvidence(before_height, before_position, limit + 1);
      if (!listed.ok()) return LocalFailure(req, listed.status());
      found = std::move(listed).value();
      if (only_height) {
        std::erase_if(found, [&](const auto& e) { return e.height != *only_height; });
      }
      if (found.size() > limit) {
        found.resize(limit);
        out.set_next(std::to_string(found.back().height) + "." +
                     std::to_string(found.back().position));
      }
    }
    for (auto& e : found) {
      pb::EvidenceEntry* entry = out.add_evidence();
      entry->set_id(core::EvidenceId(e.evidence).Hex());
      entry->set_height(e.height);
      entry->set_position(e.position);
      auto decoded = core::FromProto(e.evidence);
      if (decoded.ok()) {
        const core::Offence offence = core::OffenceOf(*decoded);
        entry->set_validator(offence.validator.Hex());
        entry->set_kind(std::string(core::OffenceKindName(offence.kind)));
        entry->set_offence_height(offence.height);
        entry->set_offence_round(offence.round);
      }
      *entry->mutable_evidence() = std::move(e.evidence);
    }
    return Reply(req, out);
  }

  Response Block(const Request& req) {
    uint64_t height = 0;
    std::string_view text = req.param("height");
    if (text.empty() || text.size() > 19) {
      return ErrorReply(req, 400, "bad_request", "height must be a positive integer");
    }
    for (char c : text) {
      if (c < '0' || c > '9') {
        return ErrorReply(req, 400, "bad_request", "height must be a positive integer");
      }
      height = height * 10 + static_cast<uint64_t>(c - '0');
    }
    auto block = ctx_.ledger->GetBlock(height);
    if (!block.ok()) return LocalFailure(req, block.status());
    if (!block->has_value()) {
      return ErrorReply(req, 404, "not_found",
                        "no block at height " + std::to_string(height) + "; the head is at " +
                            std::to_string(ctx_.ledger->height()));
    }
    pb::BlockView out;
    out.set_height(height);
    out.set_hash(core::Sha256Of(std::string_view((*block)->header())).Hex());
    out.mutable_header()->ParseFromString((*block)->header());
    for (const auto& env : (*block)->records()) {
      out.add_record_ids(core::RecordIdOf(env).Hex());
    }
    auto cert = ctx_.ledger->GetCertificate(height);
    if (cert.ok() && cert->has_value()) {
      auto decoded = core::DecodeCertificate(**cert);
      if (decoded.ok()) *out.mutable_certificate() = core::ToProto(*decoded);
    }
    *out.mutable_block() = std::move(**block);
    return Reply(req, out);
  }

  Response Health(const Request& req) {
    pb::HealthResponse out;
    out.set_height(ctx_.ledger->height());
    uint64_t peers = ctx_.peers ? ctx_.peers().size() : 0;
    out.set_peers(peers);
    out.set_status("ok");
    return Reply(req, out);
  }

  Response Metrics(const Request&) {
    MempoolStats ms = ctx_.mempool->stats();
    lanes_[0]->Set(static_cast<double>(ms.priority));
    lanes_[1]->Set(static_cast<double>(ms.bulk));
    if (ctx_.peers) {
      size_t connected = 0;
      for (const auto& p : ctx_.peers()) connected += p.connected() ? 1 : 0;
      peers_gauge_->Set(static_cast<double>(connected));
    }
    Response resp;
    resp.status = 200;
    resp.content_type = std::string(MetricsRegistry::kContentType);
    resp.body = ctx_.metrics->Render();
    return resp;
  }

 private:
  void Count(const std::string& type, const char* outcome) {
    auto it = records_.find(type + "/" + outcome);
    if (it != records_.end()) it->second->Inc();
  }

  ApiContext ctx_;
  std::unordered_map<std::string, Counter*> records_;
  std::vector<Gauge*> lanes_;
  Gauge* peers_gauge_ = nullptr;
};

}  // namespace

void RegisterApiRoutes(Router& router, ApiContext context) {
  auto api = std::make_shared<Api>(std::move(context));
  router.Add("POST /v1/records", [api](const Request& r) { return api->Submit(r); });
  router.Add("GET /v1/records/{id}", [api](const Request& r) { return api->RecordStatus(r); });
  router.Add("GET /v1/items/{id...}", [api](const Request& r) { return api->Item(r); });
  router.Add("GET /v1/items/{id...}/proof", [api](const Request& r) { return api->Proof(r); });
  router.Add("POST /v1/items:check", [api](const Request& r) { return api->Check(r); });
  router.Add("GET /v1/status", [api](const Request& r) { return api->Status(r); });
  router.Add("GET /v1/blocks/{height}", [api](const Request& r) { return api->Block(r); });
  router.Add("GET /v1/evidence", [api](const Request& r) { return api->Evidence(r); });
  router.Add("GET /v1/health", [api](const Request& r) { return api->Health(r); });
  router.Add("GET /metrics", [api](const Request& r) { return api->Metrics(r); });
}

}  // namespace hallmark::node
