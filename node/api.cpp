#include "node/api.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/codec.h"
#include "core/consensus_codec.h"
#include "core/crypto/sha256.h"
#include "core/custody_proof.h"
#include "core/epcis.h"
#include "core/item_id.h"
#include "core/limits.h"
#include "core/records.h"
#include "core/time_text.h"
#include "core/web_page.h"
#include "node/http/content.h"
#include "node/resolver.h"
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
    auto time_ms = ledger_->GetBlockTimeMs(height);
    if (time_ms.ok() && time_ms->has_value()) t = **time_ms;
    cache_.emplace(height, t);
    return t;
  }

 private:
  const storage::Ledger* ledger_;
  std::unordered_map<uint64_t, uint64_t> cache_;
};

std::string TypeOf(const pb::RecordPayload& p) {
  return std::string(core::PayloadTypeName(p));
}

void ValidatorViewOf(const core::ValidatorInfo& v, pb::ValidatorView* out) {
  out->set_name(v.name);
  out->set_organization(v.organization);
  out->set_key(v.key.Hex());
  out->set_voting_power(v.voting_power);
}

void ValidatorSetViewOf(const core::ValidatorEpoch& epoch, pb::ValidatorSetView* out) {
  out->set_from_height(epoch.from_height);
  for (const auto& v : epoch.validators) ValidatorViewOf(v, out->add_validators());
  out->set_total_power(epoch.total_power());
}

// An organisation as it is at `height` (its version then, every key with its period).
void OrganizationViewOf(const core::OrganizationRecord& org, uint64_t height,
                        pb::OrganizationView* out) {
  const core::OrganizationVersion& v = org.VersionAt(height);
  out->set_id(org.id);
  out->set_display_name(v.display_name);
  for (pb::Role r : v.roles) out->add_roles(r);
  for (const std::string& p : v.prefixes) out->add_gs1_company_prefixes(p);
  out->set_resolver_domain(v.resolver_domain);
  out->set_website(v.website);
  out->set_member_from(org.member_from);
  out->set_removed_at(org.removed_at);
  for (const core::KeyPeriod& k : org.keys) {
    pb::SigningKeyView* kv = out->add_signing_keys();
    kv->set_key(k.key.Hex());
    kv->set_valid_from(k.valid_from);
    kv->set_revoked_at(k.revoked_at);
    kv->set_valid(org.MemberAt(height) && k.ValidAt(height));
  }
}

// The fewest approving organisations that reach the threshold among `members`.
uint64_t ApprovalsNeeded(uint64_t members, const pb::GovernanceParams& params) {
  for (uint64_t k = 1; k <= members; ++k) {
    if (core::ThresholdReached(k, members, params)) return k;
  }
  return members;
}

std::string KeyHex(const std::string& bytes) {
  return core::ToHex(bytes);
}

// "3f2a91c05be40d17…": enough of a key for a summary line; the fields have it in full.
std::string ShortKey(const std::string& bytes) {
  return core::ToHex(std::string_view(bytes).substr(0, 8)) + "…";
}

std::string RoleList(const google::protobuf::RepeatedField<int>& roles) {
  std::string out;
  for (int r : roles) {
    out += (out.empty() ? "" : ",") + pb::Role_Name(static_cast<pb::Role>(r));
  }
  return out.empty() ? "no role" : out;
}

std::string ValidatorName(const core::ValidatorEpoch& latest, const std::string& key_bytes) {
  auto key = Hash256::FromBytes(key_bytes);
  const core::ValidatorInfo* v = key ? latest.Find(*key) : nullptr;
  return v ? "\"" + v->name + "\"" : "with key " + ShortKey(key_bytes);
}

// A change in readable form. `latest` names validators by their current name.
pb::ChangeView ChangeViewOf(const pb::GovernanceChange& c, const core::ValidatorEpoch& latest) {
  pb::ChangeView v;
  v.set_kind(std::string(core::GovernanceChangeName(c)));
  std::string summary;
  switch (c.kind_case()) {
    case pb::GovernanceChange::kAddOrganization: {
      const auto& a = c.add_organization();
      v.set_organization(a.id());
      v.set_display_name(a.display_name());
      for (int r : a.roles()) v.add_roles(static_cast<pb::Role>(r));
      for (const auto& p : a.gs1_company_prefixes()) v.add_gs1_company_prefixes(p);
      for (const auto& k : a.signing_keys()) v.add_signing_keys(KeyHex(k));
      summary = "add organisation " + a.id() + " (\"" + a.display_name() + "\", " +
                RoleList(a.roles()) + ", " + std::to_string(a.signing_keys_size()) +
                " signing key" + (a.signing_keys_size() == 1 ? "" : "s");
      if (a.gs1_company_prefixes_size() > 0) {
        summary += ", GS1 prefix";
        for (const auto& p : a.gs1_company_prefixes()) summary += " " + p;
      }
      summary += ")";
      break;
    }
    case pb::GovernanceChange::kUpdateOrganization: {
      const auto& u = c.update_organization();
      v.set_organization(u.id());
      v.set_display_name(u.display_name());
      for (int r : u.roles()) v.add_roles(static_cast<pb::Role>(r));
      for (const auto& p : u.gs1_company_prefixes()) v.add_gs1_company_prefixes(p);
      summary = "update organisation " + u.id() + " to \"" + u.display_name() + "\", " +
                RoleList(u.roles());
      if (u.gs1_company_prefixes_size() > 0) {
        summary += ", GS1 prefix";
        for (const auto& p : u.gs1_company_prefixes()) summary += " " + p;
      }
      break;
    }
    case pb::GovernanceChange::kRemoveOrganization:
      v.set_organization(c.remove_organization().id());
      summary = "remove organisation " + c.remove_organization().id();
      break;
    case pb::GovernanceChange::kAddSigningKey:
      v.set_organization(c.add_signing_key().organization());
      v.add_signing_keys(KeyHex(c.add_signing_key().key()));
      summary = "add signing key " + ShortKey(c.add_signing_key().key()) + " to " +
                c.add_signing_key().organization();
      break;
    case pb::GovernanceChange::kRevokeSigningKey:
      v.set_organization(c.revoke_signing_key().organization());
      v.add_signing_keys(KeyHex(c.revoke_signing_key().key()));
      summary = "revoke signing key " + ShortKey(c.revoke_signing_key().key()) + " of " +
                c.revoke_signing_key().organization();
      break;
    case pb::GovernanceChange::kAddValidator: {
      const auto& a = c.add_validator();
      v.set_organization(a.organization());
      v.set_validator_name(a.name());
      v.set_consensus_key(KeyHex(a.consensus_key()));
      v.set_voting_power(a.voting_power());
      summary = "add validator \"" + a.name() + "\" of " + a.organization() + " (key " +
                ShortKey(a.consensus_key()) + ", power " + std::to_string(a.voting_power()) + ")";
      break;
    }
    case pb::GovernanceChange::kRemoveValidator:
      v.set_consensus_key(KeyHex(c.remove_validator().consensus_key()));
      summary = "remove validator " + ValidatorName(latest, c.remove_validator().consensus_key());
      break;
    case pb::GovernanceChange::kSetValidatorPower:
      v.set_consensus_key(KeyHex(c.set_validator_power().consensus_key()));
      v.set_voting_power(c.set_validator_power().voting_power());
      summary = "set the power of validator " +
                ValidatorName(latest, c.set_validator_power().consensus_key()) + " to " +
                std::to_string(c.set_validator_power().voting_power());
      break;
    case pb::GovernanceChange::kChangeValidatorKey:
      v.set_consensus_key(KeyHex(c.change_validator_key().consensus_key()));
      v.set_new_consensus_key(KeyHex(c.change_validator_key().new_consensus_key()));
      summary = "change the key of validator " +
                ValidatorName(latest, c.change_validator_key().consensus_key()) + " to " +
                ShortKey(c.change_validator_key().new_consensus_key());
      break;
    case pb::GovernanceChange::KIND_NOT_SET:
      break;
  }
  v.set_summary(summary);
  return v;
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

// "stolen" → STOLEN, …; nullopt for a name that is not a flag.
std::optional<pb::FlagKind> FlagKindFromName(std::string_view name) {
  for (pb::FlagKind kind : {pb::STOLEN, pb::LOST, pb::COUNTERFEIT_SUSPECTED, pb::RECALLED}) {
    if (core::FlagKindName(kind) == name) return kind;
  }
  return std::nullopt;
}

// A listing cursor as `next` gives it: "<updated_time_ms>.<item key hex>".
std::string FormatItemCursor(const storage::ItemListCursor& c) {
  return std::to_string(c.time_ms) + "." + c.item_key.Hex();
}

std::optional<storage::ItemListCursor> ParseItemCursor(std::string_view text) {
  const size_t dot = text.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  auto time_ms = ParseUnsigned(text.substr(0, dot));
  auto key = Hash256::FromHex(text.substr(dot + 1));
  if (!time_ms || !key) return std::nullopt;
  return storage::ItemListCursor{*time_ms, *key};
}

// A brand's resolver host as `hallmark qr` puts it in QR codes; "https://id.gs1.org" when it has
// none (or, defensively, one that is not a plain lower-case host name).
std::string ResolverBase(std::string_view domain) {
  const bool plain =
      !domain.empty() && domain.size() <= 253 &&
      domain.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-") == std::string_view::npos;
  return plain ? "https://" + std::string(domain) : std::string("https://id.gs1.org");
}

// `</01/…/21/…?linkType=linkset>; rel="linkset"; …`: where the item's linkset is (RFC 9264 §6).
std::string LinksetLinkHeader(const core::ItemId& id) {
  return "<" + id.DigitalLinkUrl("") + "?linkType=linkset>; rel=\"linkset\"; type=\"" +
         std::string(kLinksetContentType) + "\"";
}

class Api {
 public:
  explicit Api(ApiContext ctx)
      : ctx_(std::move(ctx)),
        genesis_bytes_(core::SerializeDeterministic(ctx_.network->genesis())) {
    // The page and GET /v1/genesis hand these bytes out as the genesis whose hash is the network's.
    HM_ASSERT(core::Sha256Of(std::string_view(genesis_bytes_)) == ctx_.network->hash());
    for (const char* type :
         {"register", "transfer", "attest", "flag", "clear_flag", "service", "decommission",
          "reassign", "governance_proposal", "governance_approval", "unknown"}) {
      for (const char* outcome :
           {"accepted", "duplicate", "committed", "rejected", "full", "busy"}) {
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
    AdmitResult r = ctx_.mempool->Admit(*env, core::UnixTimeMs(), Source::kClient);
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
      case AdmitResult::Kind::kBusy: {
        Count(type, "busy");
        // No Retry-After: room opens at the next commit, well under its one-second grain.
        return ErrorReply(req, 429, "busy",
                          "the node already holds as many records as the network commits in "
                          "its admission window (mempool.admission_ms); retry in a moment");
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

  // GET /v1/items/{id...}/epcis: the item's proven chain of custody as an EPCIS 2.0 JSON-LD
  // document (core/epcis.h, docs/epcis.md), built from a proof bundle this node makes and checks
  // against genesis first, exactly as `hallmark export` does with one it fetched. An item whose
  // serial is "epcis" reaches this route too; see Proof.
  Response Epcis(const Request& req) {
    auto item = ItemFromPath(req);
    if (!item.ok()) {
      auto whole = core::ParseItemId(std::string(req.param("id")) + "/epcis");
      if (whole.ok()) return ItemReply(req, *whole);
      return ErrorReply(req, 400, "bad_item_id", item.status().message());
    }
    auto bundle = storage::BuildProofBundle(*ctx_.ledger, *item, 0);
    if (!bundle.ok()) {
      if (bundle.status().code() == core::StatusCode::kNotFound) {
        return ErrorReply(req, 503, "no_certified_header", bundle.status().message());
      }
      return LocalFailure(req, bundle.status());
    }
    const std::string bytes = core::SerializeDeterministic(*bundle);
    const core::ProofVerdict verdict =
        core::VerifyProofBundle(*ctx_.network, bytes, item->Canonical());
    if (!verdict.ok()) {
      // Our own bundle failing our own verifier is our bug (or a corrupt store).
      return LocalFailure(req,
                          core::Status::Internal("the proof bundle of " + item->Canonical() +
                                                 " does not verify: " + verdict.failure->message));
    }
    if (!verdict.item.state.has_value()) {
      return ErrorReply(req, 404, "not_found",
                        item->Canonical() + " is not registered (as of height " +
                            std::to_string(verdict.item.height) +
                            "); it has no chain of custody to export");
    }
    auto doc = core::EpcisDocumentJson(*ctx_.network, verdict.item, core::UnixTimeMs());
    // A registered item always has a history, and committed records carry times near their
    // blocks', which RFC 3339 can write: a failure here is ours.
    if (!doc.ok()) return LocalFailure(req, doc.status());
    Response res;
    res.content_type = std::string(kEpcisContentType);
    res.body = std::move(doc).value();
    return res;
  }

  // GET /v1/genesis: the genesis this node runs, as deterministic Protobuf bytes (whose SHA-256 is
  // the genesis hash) on request, else as JSON in genesis.json's shape.
  Response Genesis(const Request& req) {
    Response res;
    if (WantsProtobuf(req)) {
      res.content_type = std::string(kProtobufContentType);
      res.body = genesis_bytes_;
    } else {
      auto json = core::ToApiJson(ctx_.network->genesis());
      if (!json.ok()) return LocalFailure(req, json.status());
      res.content_type = std::string(kJsonContentType);
      res.body = std::move(json).value();
    }
    res.headers.emplace_back(std::string(kGenesisHashHeader), ctx_.network->hash().Hex());
    return res;
  }

  // GET /01/… and /gtin/…: the GS1 Digital Link resolver (docs/api.md, GET /01/…). The whole
  // request target (path and query, still percent-encoded) is read as a Digital Link path, so
  // every form core::ParseItemId accepts works and its message names what is wrong.
  Response Resolve(const Request& req) {
    Representation rep = NegotiateRepresentation(req.header("Accept"));
    std::string relation;
    if (auto link_type = req.query("linkType")) relation = LinkTypeRelation(*link_type);
    auto id = core::ParseItemId(req.target());
    if (!id.ok()) {
      if (rep != Representation::kPage) {
        Response res = ErrorReply(req, 400, "bad_item_id", id.status().message());
        AddResolverHeaders(&res);
        return res;
      }
      return HtmlProblemPage(400, "This link does not name an item", id.status().message(),
                             req.path());
    }
    const core::ItemId& item = *id;
    auto stored = ctx_.ledger->GetItem(item.Key());
    if (!stored.ok()) return LocalFailure(req, stored.status());
    const Brand brand = BrandOf(stored->has_value() ? (*stored)->state.brand() : "");
    const ItemLinks links =
        LinksFor(item, ResolverBase(brand.resolver_domain), brand.website, brand.display_name);

    if (relation == "linkset") {
      rep = Representation::kLinkset;
    } else if (!relation.empty()) {
      // A link type: the page for its own (and for one this item has no link of, as GS1
      // resolvers answer with the default link); a redirect for the others.
      rep = Representation::kPage;
      if (relation != kRelDefaultLink && relation != kRelPip) {
        if (auto link = FindLink(links, relation)) {
          Response res;
          res.status = 307;
          res.headers.emplace_back("Location", link->href);
          res.headers.emplace_back("Link", LinksetLinkHeader(item));
          AddResolverHeaders(&res);
          return res;
        }
      }
    }

    Response res;
    switch (rep) {
      case Representation::kItemJson:
        res = ItemReply(req, item);
        break;
      case Representation::kLinkset: {
        auto json = core::ToJson(LinksetOf(links), /*pretty=*/false);
        if (!json.ok()) return LocalFailure(req, json.status());
        res.content_type = std::string(kLinksetContentType);
        res.body = std::move(json).value();
        break;
      }
      case Representation::kPage: {
        pb::PageConfig config;
        config.set_genesis(genesis_bytes_);
        config.set_item_id(item.Canonical());
        config.set_digital_link(links.anchor);
        core::RenderedPage page = core::RenderItemPage(config);
        res.content_type = "text/html; charset=utf-8";
        res.body = std::move(page.html);
        res.headers.emplace_back("Content-Security-Policy",
                                 std::move(page.content_security_policy));
        break;
      }
    }
    res.headers.emplace_back("Link", LinksetLinkHeader(item));
    AddResolverHeaders(&res);
    return res;
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
    auto history = ctx_.ledger->GetHistory(key, out.state().record_count());
    if (!history.ok()) return LocalFailure(req, history.status());
    HeaderTimes times(ctx_.ledger);
    // A key names its organisation also after it was rotated out or revoked, and for an
    // organisation admitted by governance: keys are never reused.
    const std::shared_ptr<const core::NetworkState> state = ctx_.ledger->network_state();
    for (pb::StoredRecord& sr : *history) {
      pb::HistoryEntry* e = out.add_history();
      Hash256 id = core::RecordIdOf(sr.envelope());
      e->set_record_id(id.Hex());
      e->set_height(sr.height());
      e->set_position(sr.position());
      e->set_block_time_ms(times(sr.height()));
      e->set_signer(Hex(sr.envelope().signer()));
      if (auto signer = Hash256::FromBytes(sr.envelope().signer())) {
        if (const auto* org = state->OrganizationEverHoldingKey(*signer)) {
          e->set_signer_organization(org->id);
        }
      }
      if (e->mutable_payload()->ParseFromString(sr.envelope().payload())) {
        e->set_type(TypeOf(e->payload()));
      }
      *e->mutable_envelope() = std::move(*sr.mutable_envelope());
    }
    return Reply(req, out);
  }

  // GET /v1/items[?brand=ORG][&flag=REASON][&since=TIME][&limit=N][&after=CURSOR]: items by
  // brand and/or current flag, newest change first, from the listing index.
  Response ListItems(const Request& req) {
    storage::ItemListQuery query;
    query.limit = kDefaultItemPage;
    if (auto text = req.query("limit")) {
      auto n = ParseUnsigned(*text);
      if (!n || *n == 0 || *n > kMaxItemPage) {
        return ErrorReply(req, 400, "bad_request",
                          "limit must be between 1 and " + std::to_string(kMaxItemPage));
      }
      query.limit = *n;
    }
    if (auto text = req.query("brand")) {
      if (text->empty() || text->size() > core::limits::kMaxOrgIdBytes) {
        return ErrorReply(req, 400, "bad_request",
                          "brand must be an organisation id of 1 to " +
                              std::to_string(core::limits::kMaxOrgIdBytes) + " bytes");
      }
      query.brand = std::string(*text);
    }
    if (auto text = req.query("flag")) {
      auto kind = FlagKindFromName(*text);
      if (!kind) {
        return ErrorReply(req, 400, "bad_request",
                          "flag must be one of stolen, lost, counterfeit-suspected, recalled");
      }
      query.flag = *kind;
    }
    if (auto text = req.query("since")) {
      auto since = core::ParseTimeMs(*text);
      if (!since.ok())
        return ErrorReply(req, 400, "bad_request", "since: " + since.status().message());
      query.since_ms = *since;
    }
    if (auto text = req.query("after")) {
      query.after = ParseItemCursor(*text);
      if (!query.after) {
        return ErrorReply(req, 400, "bad_request",
                          "after must be a cursor as given in `next` (TIME.ITEMKEY)");
      }
    }
    auto page = ctx_.ledger->ListItems(query);
    if (!page.ok()) return LocalFailure(req, page.status());
    pb::ItemListResponse out;
    out.set_height(page->height);
    out.set_head_time_ms(page->head_time_ms);
    for (storage::ListedItem& item : page->items) {
      pb::ListedItem* li = out.add_items();
      pb::ItemState& s = item.state;
      li->set_item_id(s.item_id());
      li->set_brand(s.brand());
      *li->mutable_custodian() = std::move(*s.mutable_custodian());
      li->set_status(s.status() == pb::DECOMMISSIONED ? "decommissioned" : "active");
      for (const auto& f : s.flags()) li->add_flags(std::string(core::FlagKindName(f.kind())));
      li->set_updated_height(s.updated_height());
      li->set_updated_time_ms(item.updated_time_ms);
    }
    if (page->next) out.set_next(FormatItemCursor(*page->next));
    return Reply(req, out);
  }

  Response Check(const Request& req) {
    auto body = ParseBody<pb::CheckRequest>(req);
    if (!body.ok()) return ErrorReply(req, 400, "bad_request", body.status().message());
    const size_t count = static_cast<size_t>(body->ids_size()) + body->items_size();
    if (count > kMaxCheckIds) {
      return ErrorReply(req, 400, "limit_exceeded",
                        "at most " + std::to_string(kMaxCheckIds) +
                            " ids and items together per check, found " + std::to_string(count));
    }
    pb::CheckResponse out;
    const pb::ChainHead head = ctx_.ledger->head();
    out.set_height(head.height());
    out.set_head_time_ms(head.time_ms());
    // Fills `r` for one input. When `keep` is given, the item's state (if registered) is moved
    // there for the custody check; plain ids do not pay for a copy.
    auto check_one = [&](const std::string& input, pb::CheckResult* r,
                         std::optional<pb::ItemState>* keep) -> core::Status {
      if (keep != nullptr) keep->reset();
      r->set_input(input.substr(0, 600));
      auto id = core::ParseItemId(input);
      if (!id.ok()) {
        r->set_status("invalid");
        r->mutable_error()->set_code("bad_item_id");
        r->mutable_error()->set_message(id.status().message());
        return core::Status::Ok();
      }
      r->set_item_id(id->Canonical());
      auto stored = ctx_.ledger->GetItem(id->Key());
      if (!stored.ok()) return stored.status();
      if (!stored->has_value()) {
        r->set_status("unregistered");
        return core::Status::Ok();
      }
      pb::ItemState& s = (*stored)->state;
      r->set_registered(true);
      r->set_status(s.status() == pb::DECOMMISSIONED ? "decommissioned" : "active");
      for (const auto& f : s.flags()) r->add_flags(std::string(core::FlagKindName(f.kind())));
      *r->mutable_custodian() = s.custodian();
      r->set_brand(s.brand());
      r->set_latest_height(s.updated_height());
      if (keep != nullptr) *keep = std::move(s);
      return core::Status::Ok();
    };
    for (const std::string& input : body->ids()) {
      if (core::Status st = check_one(input, out.add_results(), nullptr); !st.ok()) {
        return LocalFailure(req, st);
      }
    }
    if (body->items_size() == 0) return Reply(req, out);

    // Custody proofs: who may sign for the item as the custody rules would see a record signed
    // now (in the block after the head), by this node's clock.
    const std::shared_ptr<const core::NetworkState> network_state = ctx_.ledger->network_state();
    const uint64_t height = head.height() + 1;
    const core::Network membership = network_state->MembershipAt(*ctx_.network, height);
    const uint64_t now_ms = core::UnixTimeMs();
    std::optional<pb::ItemState> state;
    for (const pb::CheckItem& item : body->items()) {
      pb::CheckResult* r = out.add_results();
      if (core::Status st = check_one(item.id(), r, &state); !st.ok()) {
        return LocalFailure(req, st);
      }
      if (r->item_id().empty()) continue;  // Not a valid id: the error says so.
      pb::CustodyResult* custody = r->mutable_custody();
      if (!item.has_custody_proof()) {
        custody->set_verdict(
            std::string(core::CustodyVerdictName(core::CustodyVerdict::kMalformed)));
        custody->set_message("no custody_proof given for this item");
        continue;
      }
      const core::CustodyExpectation expect{.chain_id = ctx_.network->chain_id(),
                                            .item_id = r->item_id(),
                                            .challenge = item.challenge(),
                                            .now_ms = now_ms};
      const core::CustodyLedgerView view{.state = state ? &*state : nullptr,
                                         .membership = &membership,
                                         .network_state = network_state.get(),
                                         .height = height};
      core::CustodyCheck c = core::CheckCustodyProof(item.custody_proof(), expect, view);
      custody->set_verdict(std::string(core::CustodyVerdictName(c.verdict)));
      custody->set_message(std::move(c.message));
      custody->set_signer(std::move(c.signer));
      custody->set_signer_organization(std::move(c.signer_organization));
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
    // The set that certifies the next block, after every change in force by then.
    const auto state = ctx_.ledger->network_state();
    for (const auto& v : state->ValidatorSetAt(head.height() + 1).validators) {
      ValidatorViewOf(v, out.add_validators());
    }
    if (ctx_.peers) {
      for (auto& p : ctx_.peers()) *out.add_peers() = std::move(p);
    }
    MempoolStats ms = ctx_.mempool->stats();
    out.mutable_mempool()->set_records(ms.records);
    out.mutable_mempool()->set_bytes(ms.bytes);
    out.mutable_mempool()->set_priority(ms.priority);
    out.mutable_mempool()->set_bulk(ms.bulk);
    out.mutable_mempool()->set_admission_limit(ms.admission_limit);
    out.mutable_mempool()->set_commit_rate(ms.commit_rate);
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

  // GET /v1/network: the consortium as the next block sees it.
  Response NetworkView(const Request& req) {
    auto [head, state] = HeadAndState();
    const uint64_t next = head.height() + 1;
    pb::NetworkResponse out;
    out.set_chain_id(ctx_.network->chain_id());
    out.set_genesis_hash(ctx_.network->hash().Hex());
    out.set_height(head.height());
    for (const core::OrganizationRecord* org : state->MembersAt(next)) {
      OrganizationViewOf(*org, next, out.add_members());
    }
    for (const auto& [id, org] : state->organizations()) {
      if (org.removed_at != 0 && org.removed_at <= next) {
        OrganizationViewOf(org, org.removed_at - 1, out.add_removed());
      }
    }
    ValidatorSetViewOf(state->ValidatorSetAt(next), out.mutable_validators());
    for (const core::ValidatorEpoch& epoch : state->validator_epochs()) {
      if (epoch.from_height > next) ValidatorSetViewOf(epoch, out.add_scheduled());
    }
    *out.mutable_governance() = state->params();
    out.set_approvals_needed(ApprovalsNeeded(state->MemberCountAt(next), state->params()));
    return Reply(req, out);
  }

  // GET /v1/governance/proposals: the pending proposals that can still be approved.
  Response Proposals(const Request& req) {
    auto [head, state] = HeadAndState();
    const uint64_t next = head.height() + 1;
    pb::ProposalListResponse out;
    out.set_height(head.height());
    out.set_members(state->MemberCountAt(next));
    out.set_approvals_needed(ApprovalsNeeded(out.members(), state->params()));
    for (const auto& [id, pending] : state->pending()) {
      if (pending.expires_height < next) continue;  // Expired; pruned by the next record.
      pb::ProposalView* v = out.add_proposals();
      *v = PendingView(pending, *state, head.height());
      if (auto st = AddRecordDetails(id, v); !st.ok()) return LocalFailure(req, st);
    }
    return Reply(req, out);
  }

  // GET /v1/governance/proposals/{id}: pending, completed or expired; 404 when unknown.
  Response Proposal(const Request& req) {
    auto id = Hash256::FromHex(req.param("id"));
    if (!id) return ErrorReply(req, 400, "bad_request", "proposal id must be 64 hex digits");
    auto [head, state] = HeadAndState();
    if (const core::PendingProposal* pending = state->FindProposal(*id)) {
      pb::ProposalView v = PendingView(*pending, *state, head.height());
      if (auto st = AddRecordDetails(*id, &v); !st.ok()) return LocalFailure(req, st);
      return Reply(req, v);
    }
    auto stored = ctx_.ledger->GetRecord(*id);
    if (!stored.ok()) return LocalFailure(req, stored.status());
    if (!stored->has_value()) {
      core::Rejection rejection;
      switch (ctx_.mempool->Lookup(*id, &rejection)) {
        case Mempool::Known::kPending: {
          pb::ProposalView v;
          v.set_id(id->Hex());
          v.set_status("submitted");
          v.set_height(head.height());
          return Reply(req, v);
        }
        case Mempool::Known::kRejected:
          return ErrorReply(req, 404, "not_found",
                            "no committed proposal " + id->Hex() + "; this node refused it: " +
                                std::string(core::RejectReasonCode(rejection.reason)) + ": " +
                                rejection.message);
        case Mempool::Known::kUnknown:
          break;
      }
      return ErrorReply(req, 404, "not_found",
                        "no proposal " + id->Hex() + " on this node (as of height " +
                            std::to_string(head.height()) + ")");
    }
    const pb::StoredRecord& sr = **stored;
    pb::RecordPayload payload;
    if (!payload.ParseFromString(sr.envelope().payload()) || !payload.has_governance() ||
        !payload.governance().has_proposal()) {
      return ErrorReply(req, 404, "not_found",
                        "record " + id->Hex() + " is a " + TypeOf(payload) +
                            " record, not a governance proposal");
    }
    const pb::GovernanceProposal& proposal = payload.governance().proposal();
    pb::ProposalView v;
    v.set_id(id->Hex());
    v.set_height(head.height());
    v.set_signer(Hex(sr.envelope().signer()));
    auto signer = Hash256::FromBytes(sr.envelope().signer());
    const core::OrganizationRecord* proposer =
        signer ? state->OrganizationEverHoldingKey(*signer) : nullptr;
    if (proposer) v.set_proposer(proposer->id);
    *v.mutable_change() = ChangeViewOf(proposal.change(), state->LatestValidatorSet());
    v.set_note(proposal.note());
    v.set_proposed_height(sr.height());
    v.set_expires_height(proposal.expires_height());

    // Not pending any more: completed by an approval in a block up to its expiry, or expired.
    // The blocks that could have completed it are its own and those of its approvals; the first
    // after which it is no longer pending completed it.
    const uint64_t last = std::min(proposal.expires_height(), head.height());
    std::vector<std::pair<uint64_t, std::string>> approvals;  // (height, organisation)
    uint64_t from = sr.height();
    size_t scanned = 0;
    bool done = false;
    while (!done) {
      auto page = ctx_.ledger->ListGovernance(from, kGovernanceScanPage);
      if (!page.ok()) return LocalFailure(req, page.status());
      for (const pb::StoredRecord& r : *page) {
        if (r.height() > last) {
          done = true;
          break;
        }
        pb::RecordPayload p;
        if (!p.ParseFromString(r.envelope().payload()) || !p.governance().has_approval() ||
            p.governance().approval().proposal() != std::string(id->view())) {
          continue;
        }
        auto key = Hash256::FromBytes(r.envelope().signer());
        const core::OrganizationRecord* org =
            key ? state->OrganizationEverHoldingKey(*key) : nullptr;
        approvals.emplace_back(r.height(), org ? org->id : Hex(r.envelope().signer()));
      }
      scanned += page->size();
      if (page->size() < kGovernanceScanPage) break;
      if (scanned >= kMaxGovernanceScan) {
        return ErrorReply(req, 503, "unavailable",
                          "the proposal's history is longer than this node reads in one request");
      }
      // A page may end inside a block: the next one reads that block again (what repeats is
      // deduplicated below).
      from = page->back().height();
    }
    std::vector<uint64_t> candidates{sr.height()};
    for (const auto& [h, org] : approvals) candidates.push_back(h);
    std::sort(candidates.begin(), candidates.end());
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
    std::optional<uint64_t> completed;
    for (uint64_t h : candidates) {
      if (h > last) break;
      auto after = ctx_.ledger->NetworkStateAfter(h);
      if (!after.ok()) return LocalFailure(req, after.status());
      if (after->FindProposal(*id) == nullptr) {
        completed = h;
        break;
      }
    }
    std::vector<std::string> orgs;
    if (proposer) orgs.push_back(proposer->id);
    for (const auto& [h, org] : approvals) {
      if (!completed || h <= *completed) orgs.push_back(org);
    }
    std::sort(orgs.begin(), orgs.end());
    orgs.erase(std::unique(orgs.begin(), orgs.end()), orgs.end());
    for (const std::string& o : orgs) v.add_approvals(o);
    if (completed) {
      v.set_status("completed");
      v.set_completed_height(*completed);
      v.set_effective_height(core::IsValidatorChange(proposal.change())
                                 ? *completed + state->params().validator_change_delay_heights()
                                 : *completed + 1);
    } else {
      v.set_status("expired");
    }
    return Reply(req, v);
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
    if (height >= 1 && height < ctx_.ledger->first_height() && height <= ctx_.ledger->height()) {
      return PrunedReply(req, height);
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

  // GET /v1/events: committed records as Server-Sent Events (docs/api.md). Last-Event-ID (sent
  // by EventSource when it reconnects) wins over since=, which the reconnect repeats.
  Response Events(const Request& req) {
    EventHub* hub = ctx_.events;
    if (!hub) return ErrorReply(req, 503, "unavailable", "this node does not serve the event feed");
    auto query = ParseEventsQuery(req.query_string());
    if (!query.ok()) return ErrorReply(req, 400, "bad_request", query.status().message());
    std::optional<EventPlace> after;
    if (const std::string_view last = req.header("Last-Event-ID"); !last.empty()) {
      auto place = ParseEventId(last);
      if (!place.ok()) return ErrorReply(req, 400, "bad_request", place.status().message());
      after = *place;
    } else if (query->since) {
      after = EventPlace{*query->since, kWholeBlock};
    }
    if (after) {
      // A feed resuming below the first block this node holds cannot be served from here.
      const uint64_t next = after->position == kWholeBlock ? after->height + 1 : after->height;
      if (next >= 1 && next < ctx_.ledger->first_height() && next <= ctx_.ledger->height()) {
        return PrunedReply(req, next);
      }
    }
    std::shared_ptr<EventHub::Feed> feed = hub->Open(std::move(query->filter), after);
    if (!feed) {
      Response resp =
          ErrorReply(req, 503, "too_many_watchers",
                     "this node serves at most " + std::to_string(hub->options().watchers_max) +
                         " event feeds at once and all are open; retry later or ask another node");
      resp.headers.emplace_back("Retry-After", "5");
      return resp;
    }
    Response resp;
    resp.content_type = "text/event-stream";
    resp.headers.emplace_back("Cache-Control", "no-cache");
    resp.headers.emplace_back("X-Accel-Buffering", "no");
    resp.stream = std::make_shared<StreamBody>();
    resp.stream->start = [hub, feed](std::shared_ptr<StreamSink> sink) {
      hub->Attach(feed, std::move(sink));
    };
    resp.stream->on_close = [hub, feed](std::string_view reason) { hub->Close(feed, reason); };
    // The hub keeps within its own bound and drops a stalled feed itself; the server's bound is
    // a backstop above it.
    resp.stream->queue_bytes_max = hub->options().queue_bytes_max + 64 * 1024;
    return resp;
  }

  // 410 pruned: block `height` was pruned, or is before the snapshot this node joined from
  // (docs/state-sync.md); says where this node's blocks start.
  Response PrunedReply(const Request& req, uint64_t height) {
    const uint64_t first = ctx_.ledger->first_height();
    pb::ErrorResponse gone;
    gone.mutable_error()->set_code("pruned");
    gone.mutable_error()->set_message("block " + std::to_string(height) +
                                      " was pruned from this node; its blocks start at " +
                                      std::to_string(first));
    gone.mutable_error()->set_first_height(first);
    return Reply(req, gone, 410);
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
  struct Brand {
    std::string display_name;
    std::string website;  // An https URL, or empty.
    std::string resolver_domain;
  };

  // What the resolver shows of organisation `id` as the next block sees it; empty for an empty or
  // unknown id.
  Brand BrandOf(std::string_view id) const {
    Brand out;
    if (id.empty()) return out;
    auto [head, state] = HeadAndState();
    const core::Network membership = state->MembershipAt(*ctx_.network, head.height() + 1);
    const pb::Organization* org = membership.FindOrganization(id);
    if (org == nullptr) return out;
    out.display_name = org->display_name();
    out.website = org->website();
    out.resolver_domain = org->resolver_domain();
    // Only an https page is linked; governance checks this too, the page relies on it.
    if (!out.website.starts_with("https://")) out.website.clear();
    return out;
  }

  // The head and the network state after it, read so that both are of the same block.
  std::pair<pb::ChainHead, std::shared_ptr<const core::NetworkState>> HeadAndState() const {
    for (int attempt = 0;; ++attempt) {
      pb::ChainHead head = ctx_.ledger->head();
      auto state = ctx_.ledger->network_state();
      if (ctx_.ledger->height() == head.height() || attempt == 8) return {head, state};
    }
  }

  // A pending proposal as the next block sees it.
  pb::ProposalView PendingView(const core::PendingProposal& p, const core::NetworkState& state,
                               uint64_t height) const {
    const uint64_t next = height + 1;
    pb::ProposalView v;
    v.set_id(p.id.Hex());
    v.set_status(p.expires_height >= next ? "pending" : "expired");
    v.set_proposer(p.proposer);
    *v.mutable_change() = ChangeViewOf(p.change, state.LatestValidatorSet());
    v.set_proposed_height(p.proposed_height);
    v.set_expires_height(p.expires_height);
    uint64_t counted = 0;
    for (const std::string& org : p.approvals) {
      v.add_approvals(org);
      const core::OrganizationRecord* o = state.FindOrganization(org);
      if (o != nullptr && o->MemberAt(next)) ++counted;
    }
    const uint64_t needed = ApprovalsNeeded(state.MemberCountAt(next), state.params());
    v.set_approvals_counted(counted);
    v.set_approvals_needed(needed);
    v.set_approvals_missing(needed > counted ? needed - counted : 0);
    v.set_height(height);
    return v;
  }

  // The proposal record's signer and note.
  core::Status AddRecordDetails(const Hash256& id, pb::ProposalView* v) const {
    auto stored = ctx_.ledger->GetRecord(id);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) {
      return core::Status::Corruption("pending proposal " + id.Hex() + " is not stored");
    }
    v->set_signer(Hex((*stored)->envelope().signer()));
    pb::RecordPayload p;
    if (p.ParseFromString((*stored)->envelope().payload())) {
      v->set_note(p.governance().proposal().note());
    }
    return core::Status::Ok();
  }

  void Count(const std::string& type, const char* outcome) {
    auto it = records_.find(type + "/" + outcome);
    if (it != records_.end()) it->second->Inc();
  }

  ApiContext ctx_;
  // The genesis' deterministic encoding: SHA-256 of it is ctx_.network->hash().
  const std::string genesis_bytes_;
  std::unordered_map<std::string, Counter*> records_;
  std::vector<Gauge*> lanes_;
  Gauge* peers_gauge_ = nullptr;
};

}  // namespace

void RegisterApiRoutes(Router& router, ApiContext context) {
  auto api = std::make_shared<Api>(std::move(context));
  // A public read route: its answers carry CORS headers, so that a page from any origin (a saved
  // page's "null" one, a brand's site) may read them, and OPTIONS answers the preflight.
  auto public_get = [&](std::string_view pattern, Response (Api::*handler)(const Request&)) {
    router.Add("GET " + std::string(pattern), [api, handler](const Request& r) {
      Response res = ((*api).*handler)(r);
      AddCorsHeaders(&res);
      return res;
    });
    router.Add("OPTIONS " + std::string(pattern), [](const Request&) { return CorsPreflight(); });
  };
  router.Add("POST /v1/records", [api](const Request& r) { return api->Submit(r); });
  router.Add("GET /v1/records/{id}", [api](const Request& r) { return api->RecordStatus(r); });
  public_get("/v1/items/{id...}", &Api::Item);
  public_get("/v1/items/{id...}/proof", &Api::Proof);
  public_get("/v1/items/{id...}/epcis", &Api::Epcis);
  public_get("/v1/items", &Api::ListItems);
  router.Add("POST /v1/items:check", [api](const Request& r) { return api->Check(r); });
  public_get("/v1/status", &Api::Status);
  public_get("/v1/genesis", &Api::Genesis);
  public_get("/01/{link...}", &Api::Resolve);
  public_get("/gtin/{link...}", &Api::Resolve);
  router.Add("GET /v1/blocks/{height}", [api](const Request& r) { return api->Block(r); });
  router.Add("GET /v1/evidence", [api](const Request& r) { return api->Evidence(r); });
  router.Add("GET /v1/network", [api](const Request& r) { return api->NetworkView(r); });
  router.Add("GET /v1/governance/proposals", [api](const Request& r) { return api->Proposals(r); });
  router.Add("GET /v1/governance/proposals/{id}",
             [api](const Request& r) { return api->Proposal(r); });
  router.Add("GET /v1/events", [api](const Request& r) { return api->Events(r); });
  router.Add("GET /v1/health", [api](const Request& r) { return api->Health(r); });
  router.Add("GET /metrics", [api](const Request& r) { return api->Metrics(r); });
}

}  // namespace hallmark::node
