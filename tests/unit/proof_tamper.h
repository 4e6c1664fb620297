#pragma once

// Tampered proof bundles: the shared recipes of the tamper tests
// (tests/unit/storage/proof_bundle_test.cpp, proof_bundle_v2_test.cpp) and of the corpus on which
// the C++ and JavaScript verifiers must agree (tests/web/make_corpus.cpp). Each recipe names
// what was done and the check the verifier must fail (docs/proofs.md, "The checks, in order").
// Side effects never sit inside REQUIRE.

#include <doctest/doctest.h>

#include <google/protobuf/unknown_field_set.h>

#include <optional>
#include <string>
#include <vector>

#include "core/codec.h"
#include "core/consensus_codec.h"
#include "core/crypto/sha256.h"
#include "core/proof_bundle.h"
#include "proof_fixture.h"
#include "proto/chain.pb.h"

namespace hallmark::test {

inline pb::ProofBundle ParseBundle(const std::string& bytes) {
  pb::ProofBundle b;
  const bool parsed = b.ParseFromString(bytes);
  REQUIRE(parsed);
  return b;
}

inline std::string EncodeBundle(const pb::ProofBundle& b) {
  return core::SerializeDeterministic(b);
}

// A tampered bundle: what was done, its bytes, and the check that must fail (nullopt: a change
// the verifier accepts because it proves the same, such as another quorum's certificate).
struct Tamper {
  std::string what;
  std::string bytes;
  std::optional<core::ProofCheck> check;
};

// Appends an unknown field (number 99, length-delimited) to `bytes`, which must be a message.
inline std::string WithUnknownField(std::string bytes) {
  constexpr unsigned kTag = 99 << 3 | 2;  // Field 99, wire type 2: the varint 0x9a 0x06.
  bytes += static_cast<char>((kTag & 0x7f) | 0x80);
  bytes += static_cast<char>(kTag >> 7);
  bytes += '\x03';
  bytes += "abc";
  return bytes;
}

// Whether byte `i` of a bundle lies in its record heights (field 11, encoded last): claims of the
// node, not certified (docs/proofs.md). A change there that keeps them plausible (non-decreasing,
// the first and last as the proven state says) is accepted; it can never change what is proven.
inline bool InHeightClaims(const std::string& bundle_bytes, size_t i) {
  pb::ProofBundle b = ParseBundle(bundle_bytes);
  pb::ProofBundle only;
  *only.mutable_history_heights() = b.history_heights();
  return i >= bundle_bytes.size() - core::SerializeDeterministic(only).size();
}

// Records dropped, duplicated, reordered, taken from `other` (another item's bundle of the same
// chain), a state proof and state of `other`, and a forged record. `good` must hold at least four
// records and `other` at least two.
inline std::vector<Tamper> RecordTampers(const pb::ProofBundle& good,
                                         const pb::ProofBundle& other) {
  using core::ProofCheck;
  std::vector<Tamper> out;
  auto add = [&](std::string what, const pb::ProofBundle& b, ProofCheck check) {
    out.push_back({std::move(what), EncodeBundle(b), check});
  };
  for (int i = 0; i < good.history_size(); ++i) {
    pb::ProofBundle b = good;
    b.mutable_history()->DeleteSubrange(i, 1);
    add("record " + std::to_string(i + 1) + " dropped", b, ProofCheck::kHistory);
  }
  for (int i = 1; i < good.history_size(); ++i) {
    pb::ProofBundle b = good;
    *b.mutable_history(i) = good.history(i - 1);
    add("record " + std::to_string(i) + " duplicated in place of record " + std::to_string(i + 1),
        b, ProofCheck::kChain);
  }
  {
    pb::ProofBundle b = good;
    *b.add_history() = good.history(0);
    add("record 1 appended again", b, ProofCheck::kHistory);
  }
  for (int i = 0; i + 1 < good.history_size(); ++i) {
    pb::ProofBundle b = good;
    b.mutable_history()->SwapElements(i, i + 1);
    add("records " + std::to_string(i + 1) + " and " + std::to_string(i + 2) + " swapped", b,
        ProofCheck::kChain);
  }
  for (int i = 0; i < std::min(good.history_size(), other.history_size()); ++i) {
    pb::ProofBundle b = good;
    *b.mutable_history(i) = other.history(i);
    add("record " + std::to_string(i + 1) + " taken from another item", b, ProofCheck::kHistory);
  }
  {
    pb::ProofBundle b = good;
    b.set_state_proof(other.state_proof());
    add("another item's state proof", b, ProofCheck::kStateProof);
    b.set_state(other.state());
    add("another item's state proof and state", b, ProofCheck::kStateProof);
  }
  {
    pb::ProofBundle b = good;
    b.clear_state();
    add("the state left out (an absence claimed under a present leaf)", b, ProofCheck::kStateProof);
  }
  {
    // A record the marketplace signs correctly, naming the right prev, appended; the state then
    // no longer matches, and a state built to match does not prove.
    pb::ProofBundle b = good;
    pb::RecordPayload p = Payload(good.item_id(), Id(good.history(good.history_size() - 1)));
    *p.mutable_transfer()->mutable_to() = OrgHolder("resale");
    *b.add_history() = Sign("resale", p);
    add("a transfer signed by the marketplace appended", b, ProofCheck::kHistory);
  }
  return out;
}

// Certificates for `good`'s header that are not a quorum of the right validators (check
// certificate), and two that are (accepted: another quorum certifies the same block).
inline std::vector<Tamper> CertificateTampers(const pb::ProofBundle& good) {
  using core::ProofCheck;
  pb::BlockHeader h;
  const bool parsed = h.ParseFromString(good.header());
  REQUIRE(parsed);
  const std::string chain = good.chain_id();
  const core::Hash256 id = core::Sha256Of(std::string_view(good.header()));
  std::vector<Tamper> out;
  auto add = [&](std::string what, const core::CommitCertificate& c,
                 std::optional<ProofCheck> check) {
    pb::ProofBundle b = good;
    *b.mutable_certificate() = core::ToProto(c);
    out.push_back({std::move(what), EncodeBundle(b), check});
  };
  add("f+1 = 2 of 4 signatures", CertifyBlock(chain, h.height(), id, {0, 1}),
      ProofCheck::kCertificate);
  add("a signer duplicated (0, 1, 1)", CertifyBlock(chain, h.height(), id, {0, 1, 1}),
      ProofCheck::kCertificate);
  {
    core::CommitCertificate c = CertifyBlock(chain, h.height(), id, {0, 1});
    core::Bytes msg = core::VoteSignBytes(chain, h.height(), 0, core::VoteType::kPrecommit, id);
    core::SigningKey outsider = KeyFor("outsider");
    c.signatures.push_back({outsider.public_key(), outsider.Sign(msg)});
    add("two validators and a non-validator", c, ProofCheck::kCertificate);
  }
  {
    core::CommitCertificate c = CertifyBlock(chain, h.height() + 1, id);
    c.height = h.height();
    add("signatures over the next height", c, ProofCheck::kCertificate);
  }
  {
    core::CommitCertificate r = CertifyBlock(chain, h.height(), id, {0, 1, 2}, 1);
    r.round = 0;
    add("signatures over round 1, certificate says round 0", r, ProofCheck::kCertificate);
  }
  add("signatures over another chain id", CertifyBlock("other-chain", h.height(), id),
      ProofCheck::kCertificate);
  {
    core::CommitCertificate c;
    c.height = h.height();
    c.block_id = id;
    core::Bytes msg = core::VoteSignBytes(chain, h.height(), 0, core::VoteType::kPrevote, id);
    for (int v : {0, 1, 2}) {
      core::SigningKey key = KeyFor("validator-" + std::to_string(v));
      c.signatures.push_back({key.public_key(), key.Sign(msg)});
    }
    add("prevotes instead of precommits", c, ProofCheck::kCertificate);
  }
  add("all four validators", CertifyBlock(chain, h.height(), id, {0, 1, 2, 3}), std::nullopt);
  add("validators 1, 2 and 3", CertifyBlock(chain, h.height(), id, {1, 2, 3}), std::nullopt);
  add("validators 3, 2 and 0, in that order", CertifyBlock(chain, h.height(), id, {3, 2, 0}),
      std::nullopt);
  return out;
}

// `good` with an older bundle's header or certificate (`old`, an earlier bundle of the same item),
// and a forged header, alone or with a certificate re-signed by one validator.
inline std::vector<Tamper> HeaderTampers(const pb::ProofBundle& good, const pb::ProofBundle& old) {
  using core::ProofCheck;
  std::vector<Tamper> out;
  {
    pb::ProofBundle b = good;
    b.set_header(old.header());
    out.push_back(
        {"an older header with the newer certificate", EncodeBundle(b), ProofCheck::kCertificate});
  }
  {
    pb::ProofBundle b = good;
    *b.mutable_certificate() = old.certificate();
    out.push_back(
        {"the newer header with an older certificate", EncodeBundle(b), ProofCheck::kCertificate});
  }
  pb::BlockHeader h;
  const bool parsed = h.ParseFromString(good.header());
  REQUIRE(parsed);
  h.set_state_root(std::string(32, '\x42'));
  pb::ProofBundle b = good;
  b.set_header(core::SerializeDeterministic(h));
  out.push_back(
      {"a forged header with another state root", EncodeBundle(b), ProofCheck::kCertificate});
  const core::Hash256 id = core::Sha256Of(std::string_view(b.header()));
  *b.mutable_certificate() = core::ToProto(CertifyBlock(good.chain_id(), h.height(), id, {0}));
  out.push_back({"a forged header with another state root, certified by one validator",
                 EncodeBundle(b), ProofCheck::kCertificate});
  return out;
}

// Unknown fields inside the certificate, a commit signature, an envelope, 50 nested groups deep,
// at the top level, and appended to the raw bytes: all refused by the format check.
inline std::vector<Tamper> UnknownFieldTampers(const pb::ProofBundle& good) {
  auto unknown = [](google::protobuf::Message* m) {
    return m->GetReflection()->MutableUnknownFields(m);
  };
  std::vector<Tamper> out;
  auto add = [&](std::string what, const pb::ProofBundle& b) {
    out.push_back({std::move(what), EncodeBundle(b), core::ProofCheck::kFormat});
  };
  {
    pb::ProofBundle b = good;
    unknown(b.mutable_certificate())->AddVarint(77, 1);
    add("an unknown varint field in the certificate", b);
  }
  if (good.certificate().signatures_size() > 0) {
    pb::ProofBundle b = good;
    unknown(b.mutable_certificate()->mutable_signatures(0))
        ->AddLengthDelimited(12, "tracking-id-0042");
    add("an unknown bytes field in a commit signature", b);
  }
  if (good.history_size() > 0) {
    pb::ProofBundle b = good;
    unknown(b.mutable_history(0))->AddFixed64(9, 7);
    add("an unknown fixed64 field in record 1's envelope", b);
  }
  {
    pb::ProofBundle b = good;
    auto* set = unknown(b.mutable_certificate());
    for (int i = 0; i < 50; ++i) set = set->AddGroup(5);
    set->AddVarint(1, 1);
    add("50 nested unknown groups in the certificate", b);
  }
  {
    pb::ProofBundle b = good;
    unknown(&b)->AddVarint(100, 1);
    add("an unknown varint field at the top level", b);
  }
  out.push_back({"an unknown bytes field appended to the raw bundle",
                 WithUnknownField(EncodeBundle(good)), core::ProofCheck::kFormat});
  return out;
}

// Encodings of the same bundle that are not the canonical one: each parses to `good`, and the
// format check refuses it. `good` must start with its version (field 1, a one-byte varint).
inline std::vector<Tamper> NonCanonicalTampers(const std::string& good) {
  const pb::ProofBundle b = ParseBundle(good);
  std::vector<Tamper> out;
  // item_id (field 4) written twice: Protobuf keeps the last, so it parses to the same bundle.
  pb::ProofBundle only_id;
  only_id.set_item_id(b.item_id());
  out.push_back({"item_id written twice", good + core::SerializeDeterministic(only_id),
                 core::ProofCheck::kFormat});
  // version (field 1) as an over-long varint: 0x08 0x83 0x00 is still 3.
  REQUIRE(good.size() > 2);
  REQUIRE(good[0] == '\x08');
  REQUIRE(static_cast<uint8_t>(good[1]) < 0x80);
  std::string padded =
      std::string("\x08", 1) + static_cast<char>(good[1] | 0x80) + '\x00' + good.substr(2);
  out.push_back({"version as an over-long varint", padded, core::ProofCheck::kFormat});
  // Fields out of order: the version moved to the end.
  pb::ProofBundle head_only;
  head_only.set_version(b.version());
  pb::ProofBundle rest = b;
  rest.clear_version();
  out.push_back({"the version field moved to the end",
                 core::SerializeDeterministic(rest) + core::SerializeDeterministic(head_only),
                 core::ProofCheck::kFormat});
  return out;
}

}  // namespace hallmark::test
