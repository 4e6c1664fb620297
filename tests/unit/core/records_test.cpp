// The custody rules: every cell of the authorisation table in docs/architecture.md, and every
// structural rejection of DecodeRecord.
#include <doctest/doctest.h>

#include <unordered_map>

#include "core/limits.h"
#include "core/records.h"
#include "fixtures.h"

using namespace hallmark;
using namespace hallmark::test;
using core::RejectReason;

namespace {

// Submits records one by one to an in-memory state, as a block of one record each.
struct Chain {
  core::Network net = TestNetwork();
  MapView view;
  uint64_t height = 0;
  std::vector<pb::Envelope> kept;  // DecodeRecord keeps a pointer to the envelope.

  std::optional<core::Rejection> Submit(const pb::Envelope& env) {
    kept.push_back(env);
    core::Record rec;
    if (auto rej = core::DecodeRecord(kept.back(), net.chain_id(), &rec)) return rej;
    if (auto rej = core::CheckRecordSignature(kept.back())) return rej;
    core::BlockContext ctx{++height, kTestTimeMs + height};
    auto r = core::ValidateAndApply(net, rec, ctx, &view);
    REQUIRE(r.ok());
    return *r;
  }
  // Submits and requires success; returns the record id (the next prev).
  std::string Ok(const pb::Envelope& env) {
    auto rej = Submit(env);
    INFO((rej ? rej->ToString() : std::string()));
    REQUIRE_FALSE(rej.has_value());
    return Id(env);
  }
  RejectReason Fails(const pb::Envelope& env) {
    auto rej = Submit(env);
    REQUIRE(rej.has_value());
    MESSAGE(rej->ToString());
    return rej->reason;
  }
  const pb::ItemState& State(std::string_view item) {
    auto id = core::ParseItemId(item);
    REQUIRE(id.ok());
    auto it = view.states.find(id->Key());
    REQUIRE(it != view.states.end());
    return it->second;
  }
  std::string Last(std::string_view item) { return State(item).last_record(); }
};

pb::RecordPayload Register(std::string_view item, std::optional<pb::Holder> custodian = {}) {
  auto p = Payload(item);
  auto* r = p.mutable_register_();
  auto* a = r->add_attributes();
  a->set_key("model");
  a->set_value("Speedy 30");
  if (custodian) *r->mutable_custodian() = *custodian;
  return p;
}
pb::RecordPayload Transfer(std::string_view item, const std::string& prev, pb::Holder to) {
  auto p = Payload(item, prev);
  *p.mutable_transfer()->mutable_to() = std::move(to);
  return p;
}
pb::RecordPayload Attest(std::string_view item, const std::string& prev) {
  auto p = Payload(item, prev);
  p.mutable_attest()->set_verdict(pb::GENUINE);
  p.mutable_attest()->set_note("stitching and date code consistent");
  return p;
}
pb::RecordPayload FlagP(std::string_view item, const std::string& prev, pb::FlagKind kind) {
  auto p = Payload(item, prev);
  p.mutable_flag()->set_kind(kind);
  return p;
}
pb::RecordPayload ClearP(std::string_view item, const std::string& prev, pb::FlagKind kind) {
  auto p = Payload(item, prev);
  p.mutable_clear_flag()->set_kind(kind);
  return p;
}
pb::RecordPayload ServiceP(std::string_view item, const std::string& prev, pb::ServiceKind kind) {
  auto p = Payload(item, prev);
  p.mutable_service()->set_kind(kind);
  return p;
}
pb::RecordPayload DecommissionP(std::string_view item, const std::string& prev) {
  auto p = Payload(item, prev);
  p.mutable_decommission()->set_kind(pb::DESTROYED);
  p.mutable_decommission()->set_reason("water damage beyond repair");
  return p;
}
pb::RecordPayload ReassignP(std::string_view item, const std::string& prev, std::string_view key) {
  auto p = Payload(item, prev);
  p.mutable_reassign()->set_new_holder_key(std::string(PubFor(key).view()));
  p.mutable_reassign()->set_reason("holder lost their key; identity checked in store");
  return p;
}

}  // namespace

// ---- Register ------------------------------------------------------------------------------

TEST_CASE("register: the brand owning the GTIN's company prefix registers it") {
  Chain c;
  c.Ok(Sign("maison", Register(kMaisonItem)));
  const auto& s = c.State(kMaisonItem);
  CHECK(s.brand() == "maison");
  CHECK(s.custodian().organization() == "maison");
  CHECK(s.status() == pb::ACTIVE);
  CHECK(s.record_count() == 1);
  CHECK(s.attributes_size() == 1);
}

TEST_CASE("register: a brand's second company prefix works too") {
  Chain c;
  c.Ok(Sign("maison", Register("01/09506000134352/21/X1")));
}

TEST_CASE("register: initial custodian may be another organisation or a holder key") {
  Chain c;
  c.Ok(Sign("maison", Register(kMaisonItem, OrgHolder("resale"))));
  CHECK(c.State(kMaisonItem).custodian().organization() == "resale");
  c.Ok(Sign("maison", Register("01/00614141000012/21/BAG-0002", KeyHolder("alice"))));
  CHECK(c.State("01/00614141000012/21/BAG-0002").custodian().holder_key() ==
        PubFor("alice").view());
}

TEST_CASE("register: rejected when custodian names an unknown organisation") {
  Chain c;
  CHECK(c.Fails(Sign("maison", Register(kMaisonItem, OrgHolder("nobody")))) ==
        RejectReason::kInvalidField);
}

TEST_CASE("register: rejected when signed by another brand") {
  Chain c;
  CHECK(c.Fails(Sign("atelier", Register(kMaisonItem))) == RejectReason::kNotAuthorized);
}

TEST_CASE(
    "register: rejected when signed by a marketplace, authenticator, service centre or consumer") {
  Chain c;
  for (const char* who : {"resale", "authlab", "repairco", "alice"}) {
    CHECK(c.Fails(Sign(who, Register(kMaisonItem))) == RejectReason::kNotAuthorized);
  }
}

TEST_CASE("register: rejected when no brand owns the GTIN's prefix") {
  Chain c;
  CHECK(c.Fails(Sign("maison", Register("01/09521234543213/21/Z"))) ==
        RejectReason::kNotAuthorized);
}

TEST_CASE("register: rejected the second time, even by the same brand") {
  Chain c;
  c.Ok(Sign("maison", Register(kMaisonItem)));
  auto p = Register(kMaisonItem);
  p.set_timestamp_ms(kTestTimeMs + 1);  // Another payload, so another record id.
  CHECK(c.Fails(Sign("maison", p)) == RejectReason::kAlreadyRegistered);
}

TEST_CASE("register: rejected with a prev") {
  Chain c;
  auto p = Register(kMaisonItem);
  p.set_prev(std::string(32, 'x'));
  CHECK(c.Fails(Sign("maison", p)) == RejectReason::kInvalidField);
}

TEST_CASE("register: attribute limits are enforced") {
  Chain c;
  auto p = Register(kMaisonItem);
  SUBCASE("too many attributes") {
    for (size_t i = 0; i < core::limits::kMaxAttributes; ++i) {
      auto* a = p.mutable_register_()->add_attributes();
      a->set_key("k" + std::to_string(i));
      a->set_value("v");
    }
    CHECK(c.Fails(Sign("maison", p)) == RejectReason::kLimitExceeded);
  }
  SUBCASE("value too long") {
    p.mutable_register_()->mutable_attributes(0)->set_value(
        std::string(core::limits::kMaxAttributeValueBytes + 1, 'v'));
    CHECK(c.Fails(Sign("maison", p)) == RejectReason::kLimitExceeded);
  }
  SUBCASE("key too long") {
    p.mutable_register_()->mutable_attributes(0)->set_key(
        std::string(core::limits::kMaxAttributeKeyBytes + 1, 'k'));
    CHECK(c.Fails(Sign("maison", p)) == RejectReason::kLimitExceeded);
  }
  SUBCASE("empty key") {
    p.mutable_register_()->mutable_attributes(0)->set_key("");
    CHECK(c.Fails(Sign("maison", p)) == RejectReason::kInvalidField);
  }
  SUBCASE("duplicate key") {
    auto* a = p.mutable_register_()->add_attributes();
    a->set_key("model");
    a->set_value("other");
    CHECK(c.Fails(Sign("maison", p)) == RejectReason::kInvalidField);
  }
  SUBCASE("document digest of the wrong size") {
    auto* d = p.mutable_register_()->add_documents();
    d->set_name("certificate.pdf");
    d->set_sha256("short");
    CHECK(c.Fails(Sign("maison", p)) == RejectReason::kInvalidField);
  }
  SUBCASE("too many documents") {
    for (size_t i = 0; i <= core::limits::kMaxDocuments; ++i) {
      auto* d = p.mutable_register_()->add_documents();
      d->set_name("photo" + std::to_string(i));
      d->set_sha256(std::string(32, 'd'));
    }
    CHECK(c.Fails(Sign("maison", p)) == RejectReason::kLimitExceeded);
  }
}

TEST_CASE("register: 32 attributes and 16 documents are accepted") {
  Chain c;
  auto p = Payload(kMaisonItem);
  for (size_t i = 0; i < core::limits::kMaxAttributes; ++i) {
    auto* a = p.mutable_register_()->add_attributes();
    a->set_key("k" + std::to_string(i));
    a->set_value(std::string(core::limits::kMaxAttributeValueBytes, 'v'));
  }
  for (size_t i = 0; i < core::limits::kMaxDocuments; ++i) {
    auto* d = p.mutable_register_()->add_documents();
    d->set_name("doc" + std::to_string(i));
    d->set_sha256(std::string(32, 'd'));
  }
  c.Ok(Sign("maison", p));
}

// ---- Envelope and payload structure --------------------------------------------------------

TEST_CASE("decode: rejected for another chain id") {
  Chain c;
  auto p = Register(kMaisonItem);
  p.set_chain_id("other-net");
  CHECK(c.Fails(Sign("maison", p)) == RejectReason::kWrongChain);
}

TEST_CASE("decode: rejected when the item id is not canonical or not valid") {
  Chain c;
  CHECK(c.Fails(Sign("maison", Register("(01)00614141000012(21)BAG-0001"))) ==
        RejectReason::kBadItemId);
  CHECK(c.Fails(Sign("maison", Register("01/00614141000013/21/BAG-0001"))) ==
        RejectReason::kBadItemId);
}

TEST_CASE("decode: rejected when the body is missing") {
  Chain c;
  CHECK(c.Fails(Sign("maison", Payload(kMaisonItem))) == RejectReason::kMalformed);
}

TEST_CASE("decode: rejected when the payload is garbage or has unknown fields") {
  Chain c;
  auto env = Sign("maison", Register(kMaisonItem));
  SUBCASE("garbage") {
    env.set_payload("\xff\xff\xff\xff");
    CHECK(c.Fails(env) == RejectReason::kMalformed);
  }
  SUBCASE("unknown field") {
    std::string extra = env.payload();
    extra += std::string("\xa0\x06\x01", 3);  // Field 100, varint 1.
    auto key = KeyFor("maison");
    env.set_payload(extra);
    auto sig = key.Sign(env.payload());
    env.set_signature(std::string(reinterpret_cast<const char*>(sig.bytes.data()), 64));
    CHECK(c.Fails(env) == RejectReason::kMalformed);
  }
}

TEST_CASE("decode: rejected when signer or signature has the wrong size") {
  Chain c;
  auto env = Sign("maison", Register(kMaisonItem));
  auto bad_signer = env;
  bad_signer.set_signer("abc");
  CHECK(c.Fails(bad_signer) == RejectReason::kMalformed);
  auto bad_sig = env;
  bad_sig.set_signature(std::string(63, 's'));
  CHECK(c.Fails(bad_sig) == RejectReason::kMalformed);
}

TEST_CASE("decode: rejected when the payload is over the size limit") {
  Chain c;
  auto env = Sign("maison", Register(kMaisonItem));
  env.set_payload(std::string(core::limits::kMaxPayloadBytes + 1, '\0'));
  CHECK(c.Fails(env) == RejectReason::kLimitExceeded);
}

TEST_CASE("signature: rejected when the payload was changed after signing") {
  Chain c;
  auto env = Sign("maison", Register(kMaisonItem));
  auto p = Register(kMaisonItem);
  p.set_timestamp_ms(kTestTimeMs + 5);
  env.set_payload(core::SerializeDeterministic(p));
  CHECK(c.Fails(env) == RejectReason::kBadSignature);
}

TEST_CASE("signature: rejected when signed by another key than the envelope names") {
  Chain c;
  auto env = Sign("atelier", Register(kMaisonItem));
  env.set_signer(std::string(PubFor("maison").view()));
  CHECK(c.Fails(env) == RejectReason::kBadSignature);
}

TEST_CASE("timestamp: rejected when more than 10 minutes after the block time") {
  Chain c;
  auto p = Register(kMaisonItem);
  p.set_timestamp_ms(kTestTimeMs + core::limits::kMaxTimestampSkewMs + 60'000);
  CHECK(c.Fails(Sign("maison", p)) == RejectReason::kFutureTimestamp);
}

// ---- The custody chain ---------------------------------------------------------------------

TEST_CASE("prev: a record with a stale prev is rejected, which also stops replays") {
  Chain c;
  std::string r1 = c.Ok(Sign("maison", Register(kMaisonItem)));
  auto transfer = Sign("maison", Transfer(kMaisonItem, r1, OrgHolder("resale")));
  c.Ok(transfer);
  CHECK(c.Fails(transfer) == RejectReason::kStalePrev);  // Replay.
  CHECK(c.Fails(Sign("resale", Attest(kMaisonItem, r1))) == RejectReason::kStalePrev);
  CHECK(c.Fails(Sign("resale", Attest(kMaisonItem, ""))) == RejectReason::kStalePrev);
}

TEST_CASE("prev: every record but a registration needs a registered item") {
  Chain c;
  CHECK(c.Fails(Sign("resale", Attest(kMaisonItem, ""))) == RejectReason::kNotRegistered);
}

TEST_CASE("transfer: only the current custodian transfers") {
  Chain c;
  std::string prev = c.Ok(Sign("maison", Register(kMaisonItem)));
  CHECK(c.Fails(Sign("resale", Transfer(kMaisonItem, prev, OrgHolder("resale")))) ==
        RejectReason::kNotAuthorized);
  prev = c.Ok(Sign("maison", Transfer(kMaisonItem, prev, OrgHolder("resale"))));
  // The brand is no longer the custodian.
  CHECK(c.Fails(Sign("maison", Transfer(kMaisonItem, prev, OrgHolder("atelier")))) ==
        RejectReason::kNotAuthorized);
  prev = c.Ok(Sign("resale", Transfer(kMaisonItem, prev, KeyHolder("alice"))));
  CHECK(c.Fails(Sign("bob", Transfer(kMaisonItem, prev, KeyHolder("bob")))) ==
        RejectReason::kNotAuthorized);
  prev = c.Ok(Sign("alice", Transfer(kMaisonItem, prev, KeyHolder("bob"))));
  CHECK(c.State(kMaisonItem).custodian().holder_key() == PubFor("bob").view());
  CHECK(c.State(kMaisonItem).record_count() == 4);
}

TEST_CASE("transfer: rejected to an unknown organisation, a bad key or the current custodian") {
  Chain c;
  std::string prev = c.Ok(Sign("maison", Register(kMaisonItem)));
  CHECK(c.Fails(Sign("maison", Transfer(kMaisonItem, prev, OrgHolder("ghost")))) ==
        RejectReason::kInvalidField);
  pb::Holder bad;
  bad.set_holder_key("short");
  CHECK(c.Fails(Sign("maison", Transfer(kMaisonItem, prev, bad))) == RejectReason::kInvalidField);
  CHECK(c.Fails(Sign("maison", Transfer(kMaisonItem, prev, pb::Holder()))) ==
        RejectReason::kInvalidField);
  CHECK(c.Fails(Sign("maison", Transfer(kMaisonItem, prev, OrgHolder("maison")))) ==
        RejectReason::kInvalidField);
}

TEST_CASE("transfer: blocked while flagged stolen or lost, allowed once cleared") {
  for (pb::FlagKind kind : {pb::STOLEN, pb::LOST}) {
    Chain c;
    std::string prev = c.Ok(Sign("maison", Register(kMaisonItem, KeyHolder("alice"))));
    prev = c.Ok(Sign("alice", FlagP(kMaisonItem, prev, kind)));
    CHECK(c.Fails(Sign("alice", Transfer(kMaisonItem, prev, KeyHolder("bob")))) ==
          RejectReason::kFlagged);
    prev = c.Ok(Sign("alice", ClearP(kMaisonItem, prev, kind)));
    c.Ok(Sign("alice", Transfer(kMaisonItem, prev, KeyHolder("bob"))));
  }
}

TEST_CASE("transfer: allowed while flagged counterfeit-suspected or recalled") {
  Chain c;
  std::string prev = c.Ok(Sign("maison", Register(kMaisonItem, OrgHolder("resale"))));
  prev = c.Ok(Sign("authlab", FlagP(kMaisonItem, prev, pb::COUNTERFEIT_SUSPECTED)));
  prev = c.Ok(Sign("maison", FlagP(kMaisonItem, prev, pb::RECALLED)));
  c.Ok(Sign("resale", Transfer(kMaisonItem, prev, OrgHolder("maison"))));
}

TEST_CASE("attest: marketplaces and authenticators attest, nobody else") {
  Chain c;
  std::string prev = c.Ok(Sign("maison", Register(kMaisonItem)));
  prev = c.Ok(Sign("resale", Attest(kMaisonItem, prev)));
  prev = c.Ok(Sign("authlab", Attest(kMaisonItem, prev)));
  for (const char* who : {"maison", "atelier", "repairco", "alice"}) {
    CHECK(c.Fails(Sign(who, Attest(kMaisonItem, prev))) == RejectReason::kNotAuthorized);
  }
}

TEST_CASE("attest: the verdict must be set") {
  Chain c;
  std::string prev = c.Ok(Sign("maison", Register(kMaisonItem)));
  auto p = Attest(kMaisonItem, prev);
  p.mutable_attest()->set_verdict(pb::VERDICT_UNSPECIFIED);
  CHECK(c.Fails(Sign("resale", p)) == RejectReason::kInvalidField);
}

TEST_CASE("flag stolen/lost: from the custodian or the brand only") {
  for (pb::FlagKind kind : {pb::STOLEN, pb::LOST}) {
    Chain c;
    std::string prev = c.Ok(Sign("maison", Register(kMaisonItem, KeyHolder("alice"))));
    for (const char* who : {"resale", "authlab", "repairco", "atelier", "bob"}) {
      CHECK(c.Fails(Sign(who, FlagP(kMaisonItem, prev, kind))) == RejectReason::kNotAuthorized);
    }
    std::string by_custodian = c.Ok(Sign("alice", FlagP(kMaisonItem, prev, kind)));
    std::string cleared = c.Ok(Sign("alice", ClearP(kMaisonItem, by_custodian, kind)));
    c.Ok(Sign("maison", FlagP(kMaisonItem, cleared, kind)));  // The brand.
    CHECK(c.State(kMaisonItem).flags_size() == 1);
    CHECK(c.State(kMaisonItem).flags(0).set_by().organization() == "maison");
  }
}

TEST_CASE("flag counterfeit-suspected: from marketplaces, authenticators or the brand") {
  Chain c;
  std::string prev = c.Ok(Sign("maison", Register(kMaisonItem, KeyHolder("alice"))));
  for (const char* who : {"alice", "repairco", "atelier"}) {
    CHECK(c.Fails(Sign(who, FlagP(kMaisonItem, prev, pb::COUNTERFEIT_SUSPECTED))) ==
          RejectReason::kNotAuthorized);
  }
  for (const char* who : {"resale", "authlab", "maison"}) {
    prev = c.Ok(Sign(who, FlagP(kMaisonItem, prev, pb::COUNTERFEIT_SUSPECTED)));
    prev = c.Ok(Sign(who, ClearP(kMaisonItem, prev, pb::COUNTERFEIT_SUSPECTED)));
  }
}

TEST_CASE("flag recalled: from the brand only") {
  Chain c;
  std::string prev = c.Ok(Sign("maison", Register(kMaisonItem, OrgHolder("resale"))));
  for (const char* who : {"resale", "authlab", "repairco", "atelier", "alice"}) {
    CHECK(c.Fails(Sign(who, FlagP(kMaisonItem, prev, pb::RECALLED))) ==
          RejectReason::kNotAuthorized);
  }
  c.Ok(Sign("maison", FlagP(kMaisonItem, prev, pb::RECALLED)));
}

TEST_CASE("flag: the same flag twice is rejected, unspecified kind is rejected") {
  Chain c;
  std::string prev = c.Ok(Sign("maison", Register(kMaisonItem)));
  prev = c.Ok(Sign("maison", FlagP(kMaisonItem, prev, pb::STOLEN)));
  CHECK(c.Fails(Sign("maison", FlagP(kMaisonItem, prev, pb::STOLEN))) ==
        RejectReason::kInvalidField);
  CHECK(c.Fails(Sign("maison", FlagP(kMaisonItem, prev, pb::FLAG_UNSPECIFIED))) ==
        RejectReason::kInvalidField);
  CHECK(c.Fails(Sign("maison", FlagP(kMaisonItem, prev, static_cast<pb::FlagKind>(99)))) ==
        RejectReason::kInvalidField);
}

TEST_CASE("clear flag: by its setter or the brand, not by others, not when not set") {
  Chain c;
  std::string prev = c.Ok(Sign("maison", Register(kMaisonItem, OrgHolder("resale"))));
  CHECK(c.Fails(Sign("maison", ClearP(kMaisonItem, prev, pb::STOLEN))) ==
        RejectReason::kInvalidField);
  prev = c.Ok(Sign("resale", FlagP(kMaisonItem, prev, pb::COUNTERFEIT_SUSPECTED)));
  CHECK(c.Fails(Sign("authlab", ClearP(kMaisonItem, prev, pb::COUNTERFEIT_SUSPECTED))) ==
        RejectReason::kNotAuthorized);
  prev = c.Ok(Sign("maison", ClearP(kMaisonItem, prev, pb::COUNTERFEIT_SUSPECTED)));  // The brand.
  prev = c.Ok(Sign("authlab", FlagP(kMaisonItem, prev, pb::COUNTERFEIT_SUSPECTED)));
  prev = c.Ok(Sign("authlab", ClearP(kMaisonItem, prev, pb::COUNTERFEIT_SUSPECTED)));  // Setter.
  CHECK(c.State(kMaisonItem).flags_size() == 0);
}

TEST_CASE(
    "clear flag: a stolen flag set by a former custodian is cleared by that holder or the brand") {
  Chain c;
  std::string prev = c.Ok(Sign("maison", Register(kMaisonItem, KeyHolder("alice"))));
  prev = c.Ok(Sign("alice", FlagP(kMaisonItem, prev, pb::STOLEN)));
  CHECK(c.Fails(Sign("bob", ClearP(kMaisonItem, prev, pb::STOLEN))) ==
        RejectReason::kNotAuthorized);
  CHECK(c.Fails(Sign("resale", ClearP(kMaisonItem, prev, pb::STOLEN))) ==
        RejectReason::kNotAuthorized);
  c.Ok(Sign("maison", ClearP(kMaisonItem, prev, pb::STOLEN)));
}

TEST_CASE(
    "service: by the brand or a service centre; authentication service also by an authenticator") {
  Chain c;
  std::string prev = c.Ok(Sign("maison", Register(kMaisonItem, KeyHolder("alice"))));
  prev = c.Ok(Sign("maison", ServiceP(kMaisonItem, prev, pb::REPAIR)));
  prev = c.Ok(Sign("repairco", ServiceP(kMaisonItem, prev, pb::REFURBISHMENT)));
  prev = c.Ok(Sign("authlab", ServiceP(kMaisonItem, prev, pb::AUTHENTICATION_SERVICE)));
  CHECK(c.Fails(Sign("authlab", ServiceP(kMaisonItem, prev, pb::REPAIR))) ==
        RejectReason::kNotAuthorized);
  for (const char* who : {"resale", "atelier", "alice"}) {
    CHECK(c.Fails(Sign(who, ServiceP(kMaisonItem, prev, pb::REPAIR))) ==
          RejectReason::kNotAuthorized);
  }
  CHECK(c.Fails(Sign("maison", ServiceP(kMaisonItem, prev, pb::SERVICE_UNSPECIFIED))) ==
        RejectReason::kInvalidField);
}

TEST_CASE("decommission: by the brand or the custodian, nothing follows it") {
  SUBCASE("custodian") {
    Chain c;
    std::string prev = c.Ok(Sign("maison", Register(kMaisonItem, KeyHolder("alice"))));
    CHECK(c.Fails(Sign("resale", DecommissionP(kMaisonItem, prev))) ==
          RejectReason::kNotAuthorized);
    prev = c.Ok(Sign("alice", DecommissionP(kMaisonItem, prev)));
    CHECK(c.State(kMaisonItem).status() == pb::DECOMMISSIONED);
    CHECK(c.Fails(Sign("alice", Transfer(kMaisonItem, prev, KeyHolder("bob")))) ==
          RejectReason::kDecommissioned);
    CHECK(c.Fails(Sign("resale", Attest(kMaisonItem, prev))) == RejectReason::kDecommissioned);
    CHECK(c.Fails(Sign("maison", FlagP(kMaisonItem, prev, pb::RECALLED))) ==
          RejectReason::kDecommissioned);
    CHECK(c.Fails(Sign("maison", ServiceP(kMaisonItem, prev, pb::REPAIR))) ==
          RejectReason::kDecommissioned);
    CHECK(c.Fails(Sign("maison", DecommissionP(kMaisonItem, prev))) ==
          RejectReason::kDecommissioned);
    CHECK(c.Fails(Sign("maison", ReassignP(kMaisonItem, prev, "carol"))) ==
          RejectReason::kDecommissioned);
    CHECK(c.Fails(Sign("maison", Register(kMaisonItem))) == RejectReason::kAlreadyRegistered);
  }
  SUBCASE("brand, while a flag is set; the flag cannot be cleared afterwards") {
    Chain c;
    std::string prev = c.Ok(Sign("maison", Register(kMaisonItem, OrgHolder("resale"))));
    prev = c.Ok(Sign("resale", FlagP(kMaisonItem, prev, pb::COUNTERFEIT_SUSPECTED)));
    prev = c.Ok(Sign("maison", DecommissionP(kMaisonItem, prev)));
    CHECK(c.Fails(Sign("resale", ClearP(kMaisonItem, prev, pb::COUNTERFEIT_SUSPECTED))) ==
          RejectReason::kDecommissioned);
  }
  SUBCASE("kind must be set") {
    Chain c;
    std::string prev = c.Ok(Sign("maison", Register(kMaisonItem)));
    auto p = DecommissionP(kMaisonItem, prev);
    p.mutable_decommission()->set_kind(pb::DECOMMISSION_UNSPECIFIED);
    CHECK(c.Fails(Sign("maison", p)) == RejectReason::kInvalidField);
  }
}

TEST_CASE("reassign: the brand restores custody to a new holder key, nobody else may") {
  Chain c;
  std::string prev = c.Ok(Sign("maison", Register(kMaisonItem, KeyHolder("alice"))));
  CHECK(c.Fails(Sign("alice", ReassignP(kMaisonItem, prev, "alice2"))) ==
        RejectReason::kNotAuthorized);
  CHECK(c.Fails(Sign("resale", ReassignP(kMaisonItem, prev, "alice2"))) ==
        RejectReason::kNotAuthorized);
  CHECK(c.Fails(Sign("atelier", ReassignP(kMaisonItem, prev, "alice2"))) ==
        RejectReason::kNotAuthorized);
  CHECK(c.Fails(Sign("maison", ReassignP(kMaisonItem, prev, "alice"))) ==
        RejectReason::kInvalidField);
  CHECK(c.Fails(Sign("maison", ReassignP(kMaisonItem, prev, "resale"))) ==
        RejectReason::kInvalidField);
  prev = c.Ok(Sign("maison", ReassignP(kMaisonItem, prev, "alice2")));
  CHECK(c.State(kMaisonItem).custodian().holder_key() == PubFor("alice2").view());
  // The old key no longer controls the item; the new one does.
  CHECK(c.Fails(Sign("alice", Transfer(kMaisonItem, prev, KeyHolder("bob")))) ==
        RejectReason::kNotAuthorized);
  c.Ok(Sign("alice2", Transfer(kMaisonItem, prev, KeyHolder("bob"))));
}

TEST_CASE("reassign: the new holder key must be 32 bytes") {
  Chain c;
  std::string prev = c.Ok(Sign("maison", Register(kMaisonItem, KeyHolder("alice"))));
  auto p = ReassignP(kMaisonItem, prev, "alice2");
  p.mutable_reassign()->set_new_holder_key("short");
  CHECK(c.Fails(Sign("maison", p)) == RejectReason::kInvalidField);
}

// ---- Growth: per custody period and per item --------------------------------------------

namespace {

// Puts the item's history at `records` records of `bytes` bytes, as if it had grown there.
void SetHistory(Chain& c, std::string_view item, uint64_t records, uint64_t bytes) {
  auto id = core::ParseItemId(item);
  REQUIRE(id.ok());
  pb::ItemState& s = c.view.states.at(id->Key());
  s.set_record_count(records);
  s.set_history_bytes(bytes);
}

const pb::PeriodActivity* Activity(const pb::ItemState& s, const std::string& org) {
  for (const auto& a : s.period_activity())
    if (a.organization() == org) return &a;
  return nullptr;
}

constexpr uint64_t kMaxRecords = core::limits::kMaxItemRecords;
constexpr uint64_t kMaxBytes = core::limits::kMaxItemHistoryBytes;
constexpr uint64_t kOutsiderRecords = kMaxRecords - core::limits::kItemRecordsKeptForOwners;
constexpr uint64_t kOutsiderBytes = kMaxBytes - core::limits::kItemHistoryBytesKeptForOwners;
constexpr uint64_t kOwnerBytes = kMaxBytes - core::limits::kMaxEnvelopeBytes;

}  // namespace

TEST_CASE("history bytes: the state adds up the encoded size of every envelope") {
  Chain c;
  auto reg = Sign("maison", Register(kMaisonItem, OrgHolder("resale")));
  std::string prev = c.Ok(reg);
  CHECK(c.State(kMaisonItem).history_bytes() == reg.ByteSizeLong());
  auto attest = Sign("authlab", Attest(kMaisonItem, prev));
  prev = c.Ok(attest);
  auto transfer = Sign("resale", Transfer(kMaisonItem, prev, KeyHolder("alice")));
  c.Ok(transfer);
  CHECK(c.State(kMaisonItem).history_bytes() ==
        reg.ByteSizeLong() + attest.ByteSizeLong() + transfer.ByteSizeLong());
}

TEST_CASE(
    "attest: an outsider organisation attests once per custody period; a transfer starts "
    "a new one") {
  Chain c;
  std::string prev = c.Ok(Sign("maison", Register(kMaisonItem, KeyHolder("alice"))));
  prev = c.Ok(Sign("resale", Attest(kMaisonItem, prev)));
  const pb::PeriodActivity* a = Activity(c.State(kMaisonItem), "resale");
  REQUIRE(a != nullptr);
  CHECK(a->attests() == 1);
  CHECK(c.Fails(Sign("resale", Attest(kMaisonItem, prev))) == RejectReason::kPeriodLimit);
  prev = c.Ok(Sign("authlab", Attest(kMaisonItem, prev)));  // Another organisation may.
  CHECK(c.Fails(Sign("authlab", Attest(kMaisonItem, prev))) == RejectReason::kPeriodLimit);
  prev = c.Ok(Sign("alice", Transfer(kMaisonItem, prev, KeyHolder("bob"))));
  CHECK(c.State(kMaisonItem).period_activity_size() == 0);
  prev = c.Ok(Sign("resale", Attest(kMaisonItem, prev)));
  c.Ok(Sign("authlab", Attest(kMaisonItem, prev)));
}

TEST_CASE("attest: a reassign starts a new custody period too") {
  Chain c;
  std::string prev = c.Ok(Sign("maison", Register(kMaisonItem, KeyHolder("alice"))));
  prev = c.Ok(Sign("resale", Attest(kMaisonItem, prev)));
  prev = c.Ok(Sign("maison", ReassignP(kMaisonItem, prev, "alice2")));
  c.Ok(Sign("resale", Attest(kMaisonItem, prev)));
}

TEST_CASE("attest: the custodian organisation is not limited per custody period") {
  Chain c;
  std::string prev = c.Ok(Sign("maison", Register(kMaisonItem, OrgHolder("resale"))));
  prev = c.Ok(Sign("resale", Attest(kMaisonItem, prev)));
  prev = c.Ok(Sign("resale", Attest(kMaisonItem, prev)));
  CHECK(c.State(kMaisonItem).period_activity_size() == 0);
}

TEST_CASE(
    "flag counterfeit-suspected: an outsider sets it once per custody period; the brand "
    "has no such limit") {
  Chain c;
  std::string prev = c.Ok(Sign("maison", Register(kMaisonItem, KeyHolder("alice"))));
  prev = c.Ok(Sign("authlab", FlagP(kMaisonItem, prev, pb::COUNTERFEIT_SUSPECTED)));
  prev = c.Ok(Sign("authlab", ClearP(kMaisonItem, prev, pb::COUNTERFEIT_SUSPECTED)));
  CHECK(c.Fails(Sign("authlab", FlagP(kMaisonItem, prev, pb::COUNTERFEIT_SUSPECTED))) ==
        RejectReason::kPeriodLimit);
  prev = c.Ok(Sign("resale", FlagP(kMaisonItem, prev, pb::COUNTERFEIT_SUSPECTED)));
  prev = c.Ok(Sign("maison", ClearP(kMaisonItem, prev, pb::COUNTERFEIT_SUSPECTED)));
  for (int i = 0; i < 3; ++i) {
    prev = c.Ok(Sign("maison", FlagP(kMaisonItem, prev, pb::COUNTERFEIT_SUSPECTED)));
    prev = c.Ok(Sign("maison", ClearP(kMaisonItem, prev, pb::COUNTERFEIT_SUSPECTED)));
  }
  prev = c.Ok(Sign("alice", Transfer(kMaisonItem, prev, KeyHolder("bob"))));
  c.Ok(Sign("authlab", FlagP(kMaisonItem, prev, pb::COUNTERFEIT_SUSPECTED)));
}

TEST_CASE(
    "service: an outsider organisation makes at most 8 per custody period; the brand has "
    "no such limit") {
  Chain c;
  std::string prev = c.Ok(Sign("maison", Register(kMaisonItem, KeyHolder("alice"))));
  for (uint32_t i = 0; i < core::limits::kMaxServicesPerPeriod; ++i)
    prev = c.Ok(Sign("repairco", ServiceP(kMaisonItem, prev, pb::REPAIR)));
  CHECK(c.Fails(Sign("repairco", ServiceP(kMaisonItem, prev, pb::REFURBISHMENT))) ==
        RejectReason::kPeriodLimit);
  // Each organisation has its own count, and an authenticator's attest is counted apart.
  prev = c.Ok(Sign("authlab", ServiceP(kMaisonItem, prev, pb::AUTHENTICATION_SERVICE)));
  prev = c.Ok(Sign("authlab", Attest(kMaisonItem, prev)));
  const pb::PeriodActivity* a = Activity(c.State(kMaisonItem), "authlab");
  REQUIRE(a != nullptr);
  CHECK(a->services() == 1);
  CHECK(a->attests() == 1);
  for (int i = 0; i < 10; ++i) prev = c.Ok(Sign("maison", ServiceP(kMaisonItem, prev, pb::REPAIR)));
  prev = c.Ok(Sign("alice", Transfer(kMaisonItem, prev, KeyHolder("bob"))));
  c.Ok(Sign("repairco", ServiceP(kMaisonItem, prev, pb::REPAIR)));
}

TEST_CASE(
    "history cap: outsiders stop at 9,000 records; the brand and the custodian go on to "
    "9,999; a decommission may be the 10,000th") {
  Chain c;
  std::string prev = c.Ok(Sign("maison", Register(kMaisonItem, KeyHolder("alice"))));
  prev = c.Ok(Sign("authlab", FlagP(kMaisonItem, prev, pb::COUNTERFEIT_SUSPECTED)));
  SetHistory(c, kMaisonItem, kOutsiderRecords - 1, 1000);
  prev = c.Ok(Sign("resale", Attest(kMaisonItem, prev)));  // The 9,000th.
  CHECK(c.State(kMaisonItem).record_count() == kOutsiderRecords);
  CHECK(c.Fails(Sign("resale", Attest(kMaisonItem, prev))) == RejectReason::kPeriodLimit);
  CHECK(c.Fails(Sign("repairco", ServiceP(kMaisonItem, prev, pb::REPAIR))) ==
        RejectReason::kHistoryFull);
  // An outsider can still withdraw its own flag, but not set one; the owners carry on.
  prev = c.Ok(Sign("authlab", ClearP(kMaisonItem, prev, pb::COUNTERFEIT_SUSPECTED)));
  CHECK(c.Fails(Sign("resale", FlagP(kMaisonItem, prev, pb::COUNTERFEIT_SUSPECTED))) ==
        RejectReason::kHistoryFull);
  prev = c.Ok(Sign("alice", FlagP(kMaisonItem, prev, pb::STOLEN)));
  prev = c.Ok(Sign("maison", ClearP(kMaisonItem, prev, pb::STOLEN)));
  prev = c.Ok(Sign("maison", ServiceP(kMaisonItem, prev, pb::REPAIR)));
  prev = c.Ok(Sign("maison", ReassignP(kMaisonItem, prev, "alice2")));
  prev = c.Ok(Sign("alice2", Transfer(kMaisonItem, prev, OrgHolder("resale"))));
  prev = c.Ok(Sign("resale", Attest(kMaisonItem, prev)));  // The custodian's own attest.
  prev = c.Ok(Sign("resale", Transfer(kMaisonItem, prev, KeyHolder("bob"))));
  CHECK(c.Fails(Sign("resale", Attest(kMaisonItem, prev))) == RejectReason::kHistoryFull);

  SetHistory(c, kMaisonItem, kMaxRecords - 2, 1000);
  prev = c.Ok(Sign("bob", Transfer(kMaisonItem, prev, KeyHolder("carol"))));  // The 9,999th.
  CHECK(c.Fails(Sign("carol", Transfer(kMaisonItem, prev, KeyHolder("dave")))) ==
        RejectReason::kHistoryFull);
  CHECK(c.Fails(Sign("carol", FlagP(kMaisonItem, prev, pb::LOST))) == RejectReason::kHistoryFull);
  CHECK(c.Fails(Sign("maison", FlagP(kMaisonItem, prev, pb::RECALLED))) ==
        RejectReason::kHistoryFull);
  CHECK(c.Fails(Sign("maison", ReassignP(kMaisonItem, prev, "dave"))) ==
        RejectReason::kHistoryFull);
  CHECK(c.Fails(Sign("resale", DecommissionP(kMaisonItem, prev))) ==
        RejectReason::kNotAuthorized);                           // Authorisation is checked first.
  prev = c.Ok(Sign("carol", DecommissionP(kMaisonItem, prev)));  // The 10,000th.
  CHECK(c.State(kMaisonItem).record_count() == kMaxRecords);
  CHECK(c.Fails(Sign("maison", ServiceP(kMaisonItem, prev, pb::REPAIR))) ==
        RejectReason::kDecommissioned);
}

TEST_CASE("history cap: a decommission never makes more than 10,000 records") {
  Chain c;
  std::string prev = c.Ok(Sign("maison", Register(kMaisonItem)));
  SetHistory(c, kMaisonItem, kMaxRecords, 1000);
  CHECK(c.Fails(Sign("maison", DecommissionP(kMaisonItem, prev))) == RejectReason::kHistoryFull);
}

TEST_CASE(
    "history cap: outsiders stop at 7 MiB, the brand and the custodian 20 KiB short of "
    "8 MiB, a decommission at 8 MiB") {
  Chain c;
  std::string prev = c.Ok(Sign("maison", Register(kMaisonItem, KeyHolder("alice"))));
  auto attest = Sign("resale", Attest(kMaisonItem, prev));
  const uint64_t attest_bytes = attest.ByteSizeLong();
  SetHistory(c, kMaisonItem, 10, kOutsiderBytes - attest_bytes + 1);
  CHECK(c.Fails(attest) == RejectReason::kHistoryFull);
  SetHistory(c, kMaisonItem, 10, kOutsiderBytes - attest_bytes);
  prev = c.Ok(attest);  // Exactly 7 MiB.
  CHECK(c.State(kMaisonItem).history_bytes() == kOutsiderBytes);

  auto transfer = Sign("alice", Transfer(kMaisonItem, prev, KeyHolder("bob")));
  SetHistory(c, kMaisonItem, 11, kOwnerBytes - transfer.ByteSizeLong() + 1);
  CHECK(c.Fails(transfer) == RejectReason::kHistoryFull);
  SetHistory(c, kMaisonItem, 11, kOwnerBytes - transfer.ByteSizeLong());
  prev = c.Ok(transfer);

  auto decommission = Sign("bob", DecommissionP(kMaisonItem, prev));
  SetHistory(c, kMaisonItem, 12, kMaxBytes - decommission.ByteSizeLong() + 1);
  CHECK(c.Fails(decommission) == RejectReason::kHistoryFull);
  SetHistory(c, kMaisonItem, 12, kMaxBytes - decommission.ByteSizeLong());
  c.Ok(decommission);
  CHECK(c.State(kMaisonItem).history_bytes() == kMaxBytes);
}

TEST_CASE(
    "history size: an outsider's record is at most 1 KiB encoded; the largest "
    "well-formed one fits, and the owners' records may be larger") {
  Chain c;
  std::string prev = c.Ok(Sign("maison", Register(kMaisonItem, KeyHolder("alice"))));
  // The largest attest a person can make: a 64-byte chain id, a 20-character serial, a 512-byte
  // note. (Not submitted: the test network's chain id is shorter.)
  auto largest = Payload("01/00614141000012/21/ABCDEFGHIJKLMNOPQRST", std::string(32, 'p'));
  largest.set_chain_id(std::string(core::limits::kMaxChainIdBytes, 'c'));
  largest.set_timestamp_ms(UINT64_MAX);
  largest.mutable_attest()->set_verdict(pb::SUSPECT);
  largest.mutable_attest()->set_note(std::string(core::limits::kMaxNoteBytes, 'n'));
  CHECK(Sign("resale", largest).ByteSizeLong() < 800);

  auto note = Attest(kMaisonItem, prev);
  note.mutable_attest()->set_note(std::string(core::limits::kMaxNoteBytes, 'n'));
  auto over =
      SignBytes(KeyFor("resale"), PaddedPayload(note, core::limits::kMaxOutsiderEnvelopeBytes + 1));
  REQUIRE(over.ByteSizeLong() == core::limits::kMaxOutsiderEnvelopeBytes + 1);
  CHECK(c.Fails(over) == RejectReason::kLimitExceeded);
  auto at =
      SignBytes(KeyFor("resale"), PaddedPayload(note, core::limits::kMaxOutsiderEnvelopeBytes));
  REQUIRE(at.ByteSizeLong() == core::limits::kMaxOutsiderEnvelopeBytes);
  prev = c.Ok(at);
  // The brand and the custodian may sign records up to the envelope limit.
  prev = c.Ok(SignBytes(KeyFor("maison"), PaddedPayload(ServiceP(kMaisonItem, prev, pb::REPAIR),
                                                        core::limits::kMaxEnvelopeBytes)));
  CHECK(c.State(kMaisonItem).history_bytes() > core::limits::kMaxPayloadBytes);
  c.Ok(SignBytes(KeyFor("alice"),
                 PaddedPayload(Transfer(kMaisonItem, prev, KeyHolder("bob")), 4000)));
}

TEST_CASE("rejections: every reason has a stable code and messages name the rule") {
  Chain c;
  std::string prev = c.Ok(Sign("maison", Register(kMaisonItem)));
  auto rej = c.Submit(Sign("resale", Transfer(kMaisonItem, prev, OrgHolder("resale"))));
  REQUIRE(rej);
  CHECK(rej->ToString().find("not_authorized") == 0);
  CHECK(rej->message.find("custodian") != std::string::npos);
  CHECK(rej->message.find("resale") != std::string::npos);
  CHECK(core::RejectReasonCode(RejectReason::kStalePrev) == "stale_prev");
  CHECK(core::RejectReasonCode(RejectReason::kPeriodLimit) == "period_limit");
  CHECK(core::RejectReasonCode(RejectReason::kHistoryFull) == "history_full");
}
