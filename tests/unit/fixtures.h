#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>

#include "core/codec.h"
#include "core/crypto/ed25519.h"
#include "core/crypto/sha256.h"
#include "core/genesis.h"
#include "core/limits.h"
#include "core/records.h"

namespace hallmark::test {

// Item states in a map: the StateView of tests and benchmarks.
class MapView final : public core::StateView {
 public:
  core::Result<const pb::ItemState*> Find(const core::Hash256& key) override {
    auto it = states.find(key);
    return it == states.end() ? nullptr : &it->second;
  }
  void Put(const core::Hash256& key, pb::ItemState state) override {
    states[key] = std::move(state);
  }
  std::unordered_map<core::Hash256, pb::ItemState> states;
};

// A deterministic key: the seed is SHA-256 of the name.
inline core::SigningKey KeyFor(std::string_view name) {
  core::Hash256 seed = core::Sha256Of(std::string("hallmark-test-key/") + std::string(name));
  return std::move(core::SigningKey::FromSeed(seed.span()).value());
}
inline core::Hash256 PubFor(std::string_view name) {
  return core::Hash256::FromSpan(KeyFor(name).public_key().span());
}

// A small network: two brands, a marketplace, an authenticator, a service centre, four
// validators. Organisation keys are KeyFor(<org id>).
inline pb::Genesis TestGenesis() {
  pb::Genesis g;
  g.set_chain_id("hallmark-test");
  g.set_genesis_time_ms(1'700'000'000'000);
  auto add_org = [&](const std::string& id, std::initializer_list<pb::Role> roles,
                     std::initializer_list<std::string> prefixes) {
    pb::Organization* o = g.add_organizations();
    o->set_id(id);
    o->set_display_name(id);
    for (auto r : roles) o->add_roles(r);
    o->add_signing_keys(PubFor(id).Hex());
    for (const auto& p : prefixes) o->add_gs1_company_prefixes(p);
  };
  add_org("maison", {pb::BRAND}, {"0614141", "9506000"});
  add_org("atelier", {pb::BRAND}, {"1234567"});
  add_org("resale", {pb::MARKETPLACE}, {});
  add_org("authlab", {pb::AUTHENTICATOR}, {});
  add_org("repairco", {pb::SERVICE_CENTER}, {});
  for (int i = 0; i < 4; ++i) {
    pb::Validator* v = g.add_validators();
    v->set_name("v" + std::to_string(i));
    v->set_organization(i % 2 == 0 ? "maison" : "resale");
    v->set_consensus_key(PubFor("validator-" + std::to_string(i)).Hex());
    v->set_voting_power(1);
  }
  return g;
}

inline core::Network TestNetwork() {
  return std::move(core::Network::FromProto(TestGenesis()).value());
}

// Items of brand "maison" (prefix 0614141) and "atelier" (1234567).
inline constexpr const char* kMaisonItem = "01/00614141000012/21/BAG-0001";
inline constexpr const char* kAtelierItem = "01/01234567000015/21/W-42";

inline constexpr uint64_t kTestTimeMs = 1'700'000'100'000;

inline pb::Envelope Sign(const core::SigningKey& key, const pb::RecordPayload& payload) {
  pb::Envelope env;
  env.set_payload(core::SerializeDeterministic(payload));
  env.set_signer(std::string(reinterpret_cast<const char*>(key.public_key().bytes.data()), 32));
  core::Signature sig = key.Sign(env.payload());
  env.set_signature(std::string(reinterpret_cast<const char*>(sig.bytes.data()), 64));
  return env;
}
inline pb::Envelope Sign(std::string_view signer_name, const pb::RecordPayload& payload) {
  return Sign(KeyFor(signer_name), payload);
}

inline pb::RecordPayload Payload(std::string_view item, const std::string& prev = "") {
  pb::RecordPayload p;
  p.set_chain_id("hallmark-test");
  p.set_item_id(std::string(item));
  p.set_prev(prev);
  p.set_timestamp_ms(kTestTimeMs);
  return p;
}

inline core::Hash256 RecordId(const pb::Envelope& env) {
  return core::RecordIdOf(env);
}
inline std::string Id(const pb::Envelope& env) {
  return std::string(RecordId(env).view());
}

inline pb::Holder OrgHolder(const std::string& org) {
  pb::Holder h;
  h.set_organization(org);
  return h;
}
inline pb::Holder KeyHolder(std::string_view name) {
  pb::Holder h;
  h.set_holder_key(std::string(PubFor(name).view()));
  return h;
}

// Records of any size the rules allow, for tests of the growth limits.
inline size_t VarintBytes(uint64_t v) {
  size_t n = 1;
  for (; v >= 128; v >>= 7) ++n;
  return n;
}

// An envelope's encoded size for a payload of `payload_bytes`: payload, signer (32 bytes) and
// signature (64 bytes), each with its tag and length.
inline size_t EnvelopeBytes(size_t payload_bytes) {
  return 1 + VarintBytes(payload_bytes) + payload_bytes + 2 + 32 + 2 + 64;
}

// `payload` serialized with filler in a leading chain_id field, so that its envelope is as close
// to `envelope_bytes` as the encoding allows, never over it, and the payload at most
// kMaxPayloadBytes. Protobuf keeps the last value of a singular field, so the record means the
// same; the custody rules count its bytes.
inline std::string PaddedPayload(const pb::RecordPayload& payload, size_t envelope_bytes) {
  std::string natural = core::SerializeDeterministic(payload);
  size_t target = std::min(envelope_bytes, core::limits::kMaxPayloadBytes);
  while (target > 0 && EnvelopeBytes(target) > envelope_bytes) --target;
  if (target < natural.size() + 2) return natural;
  size_t filler = target - natural.size() - 1;
  while (1 + VarintBytes(filler) + filler + natural.size() > target) --filler;
  std::string out;
  out.reserve(target);
  out.push_back(0x0a);  // Field 1 (chain_id), length-delimited.
  for (uint64_t v = filler;; v >>= 7) {
    if (v < 128) {
      out.push_back(static_cast<char>(v));
      break;
    }
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
  }
  out.append(filler, 'x');
  out += natural;
  return out;
}

inline pb::Envelope SignBytes(const core::SigningKey& key, std::string payload) {
  pb::Envelope env;
  env.set_payload(std::move(payload));
  env.set_signer(std::string(reinterpret_cast<const char*>(key.public_key().bytes.data()), 32));
  core::Signature sig = key.Sign(env.payload());
  env.set_signature(std::string(reinterpret_cast<const char*>(sig.bytes.data()), 64));
  return env;
}

}  // namespace hallmark::test
