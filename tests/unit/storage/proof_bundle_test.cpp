// Proof bundles: built from a real ledger, checked by the consumer's verifier against genesis
// alone, and refused when tampered with in any way (docs/proofs.md).

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "core/crypto/sha256.h"
#include "core/limits.h"
#include "core/proof_bundle.h"
#include "gov_chain_fixture.h"
#include "proof_fixture.h"
#include "proof_tamper.h"
#include "proto/chain.pb.h"

using namespace hallmark;
using namespace hallmark::test;
using core::ProofCheck;

namespace {

constexpr const char* kItem2 = "01/00614141000012/21/BAG-0002";
constexpr const char* kNeverItem = "01/00614141000012/21/NEVER-1";

core::ProofVerdict Verify(const ProvenChain& chain, const std::string& bytes,
                          std::optional<std::string_view> item = std::nullopt) {
  return core::VerifyProofBundle(chain.network(), bytes, item);
}

// The check that failed, or nullopt when the bundle checked out.
std::optional<ProofCheck> FailedCheck(const ProvenChain& chain, const std::string& bytes) {
  auto v = Verify(chain, bytes);
  if (v.ok()) return std::nullopt;
  return v.failure->check;
}

}  // namespace

TEST_CASE("proof bundle: a registered item's bundle checks out and proves its custody") {
  ProvenChain chain;
  auto records = LiveItem(chain, kMaisonItem, 5);
  std::string bytes = chain.BundleBytes(kMaisonItem);
  auto v = Verify(chain, bytes, kMaisonItem);
  INFO((v.failure ? v.failure->message : std::string()));
  REQUIRE(v.ok());
  const core::ProvenItem& item = v.item;
  CHECK(item.item_id == kMaisonItem);
  CHECK(item.height == chain.ledger().height());
  CHECK(item.header_time_ms == chain.time_ms());
  CHECK(item.signers == 3);
  REQUIRE(item.state.has_value());
  CHECK(item.state->brand() == "maison");
  CHECK(item.state->custodian().organization() == "resale");  // alice sold it back.
  CHECK(item.NotCleanReasons().empty());
  REQUIRE(item.steps.size() == 5);
  CHECK(item.steps[0].type == core::RecordType::kRegister);
  CHECK(item.steps[0].author == "maison");
  CHECK(item.steps[2].type == core::RecordType::kAttest);
  CHECK(item.steps[2].author == "resale");
  CHECK(item.steps[3].author == "resale");
  CHECK(item.steps[4].author.empty());  // Signed by alice's holder key.
  CHECK(item.steps[4].signer == PubFor("alice"));
  for (size_t i = 0; i < records.size(); ++i)
    CHECK(item.steps[i].record_id == RecordId(records[i]));
  // Other id forms name the same item.
  CHECK(Verify(chain, bytes, "https://id.gs1.org/01/00614141000012/21/BAG-0001").ok());
}

TEST_CASE("proof bundle: an item never registered is proven absent and is not clean") {
  ProvenChain chain;
  LiveItem(chain, kMaisonItem, 2);
  auto v = Verify(chain, chain.BundleBytes(kNeverItem), kNeverItem);
  REQUIRE(v.ok());
  CHECK(!v.item.state.has_value());
  CHECK(v.item.steps.empty());
  CHECK(v.item.NotCleanReasons() == std::vector<std::string>{"never registered"});
}

TEST_CASE("proof bundle: a flagged or decommissioned item is valid but not clean") {
  ProvenChain chain;
  auto recs = LiveItem(chain, kMaisonItem, 4);  // Ends with alice holding it.
  pb::RecordPayload flag = Payload(kMaisonItem, Id(recs.back()));
  flag.mutable_flag()->set_kind(pb::STOLEN);
  chain.CommitOne("alice", flag);
  auto v = Verify(chain, chain.BundleBytes(kMaisonItem));
  REQUIRE(v.ok());
  REQUIRE(v.item.NotCleanReasons().size() == 1);
  CHECK(v.item.NotCleanReasons()[0].starts_with("flagged stolen by key "));

  auto reg = LiveItem(chain, kItem2, 1);
  pb::RecordPayload d = Payload(kItem2, Id(reg.back()));
  d.mutable_decommission()->set_kind(pb::DESTROYED);
  d.mutable_decommission()->set_reason("water damage");
  chain.CommitOne("maison", d);
  auto v2 = Verify(chain, chain.BundleBytes(kItem2));
  REQUIRE(v2.ok());
  CHECK(v2.item.NotCleanReasons() == std::vector<std::string>{"decommissioned"});
}

TEST_CASE("proof bundle: nothing committed yet means no certified header") {
  ProvenChain chain;
  auto bundle = storage::BuildProofBundle(chain.ledger(), *core::ParseItemId(kMaisonItem));
  REQUIRE(!bundle.ok());
  CHECK(bundle.status().code() == core::StatusCode::kNotFound);
}

TEST_CASE("proof bundle: a bundle for another item is refused when an item is asked for") {
  ProvenChain chain;
  LiveItem(chain, kMaisonItem, 1);
  auto v = Verify(chain, chain.BundleBytes(kNeverItem), kMaisonItem);
  REQUIRE(!v.ok());
  CHECK(v.failure->check == ProofCheck::kFormat);
  CHECK(v.failure->message.find("not 01/00614141000012/21/BAG-0001") != std::string::npos);
}

// A tampered bundle that was accepted proves exactly what the genuine one proves.
void CheckSameProof(const core::ProofVerdict& tampered, const core::ProofVerdict& good) {
  REQUIRE(tampered.ok());
  CHECK(tampered.item.block_hash == good.item.block_hash);
  CHECK(tampered.item.state.has_value() == good.item.state.has_value());
  if (good.item.state) {
    CHECK(core::SerializeDeterministic(*tampered.item.state) ==
          core::SerializeDeterministic(*good.item.state));
  }
  REQUIRE(tampered.item.steps.size() == good.item.steps.size());
  for (size_t i = 0; i < good.item.steps.size(); ++i) {
    CHECK(tampered.item.steps[i].record_id == good.item.steps[i].record_id);
    CHECK(tampered.item.steps[i].author == good.item.steps[i].author);
  }
}

TEST_CASE("proof bundle tamper: every byte flipped is refused") {
  ProvenChain chain;
  LiveItem(chain, kMaisonItem, 4);
  const std::string good = chain.BundleBytes(kMaisonItem);
  const core::ProofVerdict good_verdict = Verify(chain, good);
  REQUIRE(good_verdict.ok());
  std::map<ProofCheck, int> by_check;
  int plausible_claims = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0xff}}) {
      std::string bad = good;
      bad[i] = static_cast<char>(static_cast<uint8_t>(bad[i]) ^ mask);
      auto failed = FailedCheck(chain, bad);
      INFO("byte " << i << " of " << good.size() << " xor " << int(mask));
      if (!failed && InHeightClaims(good, i)) {
        CheckSameProof(Verify(chain, bad), good_verdict);
        ++plausible_claims;
        continue;
      }
      REQUIRE(failed.has_value());
      ++by_check[*failed];
    }
  }
  // Only changes of the two middle records' heights within their neighbours' can pass.
  CHECK(plausible_claims <= 4);
  std::string counts;
  int total = 0;
  for (const auto& [check, n] : by_check) {
    counts += std::string(counts.empty() ? "" : ", ") + std::string(core::ProofCheckName(check)) +
              " " + std::to_string(n);
    total += n;
  }
  MESSAGE("every byte of a " << good.size() << "-byte bundle, xor 0x01 and 0xff: " << total
                             << " tampered bundles refused (" << counts << "); " << plausible_claims
                             << " changed record heights accepted, proving the same");
  // Every kind of check saw some of it (the bundle's parts are all covered).
  for (ProofCheck c : {ProofCheck::kFormat, ProofCheck::kGovernance, ProofCheck::kCertificate,
                       ProofCheck::kStateProof, ProofCheck::kHistory, ProofCheck::kSignature}) {
    INFO(core::ProofCheckName(c));
    CHECK(by_check[c] > 0);
  }
}

TEST_CASE("proof bundle tamper: random byte flips in a 20-record bundle are refused") {
  ProvenChain chain;
  LiveItem(chain, kMaisonItem, 20);
  const std::string good = chain.BundleBytes(kMaisonItem);
  REQUIRE(Verify(chain, good).ok());
  std::mt19937_64 rng(20261128);
  for (int n = 0; n < 2000; ++n) {
    std::string bad = good;
    size_t i = rng() % bad.size();
    uint8_t mask = static_cast<uint8_t>(1 + rng() % 255);
    bad[i] = static_cast<char>(static_cast<uint8_t>(bad[i]) ^ mask);
    INFO("byte " << i << " xor " << int(mask));
    if (InHeightClaims(good, i) && !FailedCheck(chain, bad).has_value()) {
      CheckSameProof(Verify(chain, bad), Verify(chain, good));
      continue;
    }
    REQUIRE(FailedCheck(chain, bad).has_value());
  }
  // Truncations too.
  for (size_t len = 0; len < good.size(); len += 1 + good.size() / 300) {
    INFO("truncated to " << len);
    REQUIRE(FailedCheck(chain, good.substr(0, len)).has_value());
  }
}

TEST_CASE("proof bundle tamper: dropped, duplicated, reordered and foreign records") {
  ProvenChain chain;
  LiveItem(chain, kMaisonItem, 6);
  LiveItem(chain, kItem2, 3);
  const pb::ProofBundle good = ParseBundle(chain.BundleBytes(kMaisonItem));
  const pb::ProofBundle other = ParseBundle(chain.BundleBytes(kItem2));
  // Each record dropped, duplicated in place of the next, appended again, swapped with the
  // next, or taken from the other item; the other item's state proof and state; the state
  // left out; a forged record appended (tests/unit/proof_tamper.h).
  const std::vector<Tamper> tampers = RecordTampers(good, other);
  CHECK(tampers.size() == 6 + 5 + 1 + 5 + 3 + 2 + 1 + 1);
  for (const Tamper& t : tampers) {
    INFO(t.what);
    CHECK(FailedCheck(chain, t.bytes) == t.check);
  }
}

TEST_CASE("proof bundle tamper: an older header, a forged header, a stale certificate") {
  ProvenChain chain;
  LiveItem(chain, kMaisonItem, 3);
  const pb::ProofBundle old_bundle = ParseBundle(chain.BundleBytes(kMaisonItem));
  LiveItem(chain, kItem2, 2);
  const pb::ProofBundle good = ParseBundle(chain.BundleBytes(kMaisonItem));
  REQUIRE(good.header() != old_bundle.header());

  // An older header with the new certificate and the reverse, a forged header with another
  // state root, alone and with a certificate re-signed for it by too few validators.
  const std::vector<Tamper> tampers = HeaderTampers(good, old_bundle);
  CHECK(tampers.size() == 4);
  for (const Tamper& t : tampers) {
    INFO(t.what);
    CHECK(FailedCheck(chain, t.bytes) == t.check);
  }
  // An older header with its own certificate is valid, and shows its height.
  auto v = Verify(chain, EncodeBundle(old_bundle));
  REQUIRE(v.ok());
  CHECK(v.item.height < chain.ledger().height());
}

TEST_CASE("proof bundle tamper: certificates that are not a quorum of the right validators") {
  ProvenChain chain;
  LiveItem(chain, kMaisonItem, 2);
  const pb::ProofBundle good = ParseBundle(chain.BundleBytes(kMaisonItem));
  // f+1 = 2 of 4 signatures, a duplicated signer, a non-validator's signature, signatures over
  // another height, another round's bytes, another chain or a prevote: refused. All four, or
  // any three in any order: fine (tests/unit/proof_tamper.h).
  const std::vector<Tamper> tampers = CertificateTampers(good);
  CHECK(tampers.size() == 10);
  for (const Tamper& t : tampers) {
    INFO(t.what);
    CHECK(FailedCheck(chain, t.bytes) == t.check);
  }
}

TEST_CASE("proof bundle: checked against another network's genesis, it is refused") {
  ProvenChain chain;
  LiveItem(chain, kMaisonItem, 2);
  const std::string bytes = chain.BundleBytes(kMaisonItem);
  pb::Genesis other = TestGenesis();
  other.set_genesis_time_ms(other.genesis_time_ms() + 1);  // Same chain id, another genesis.
  auto other_net = core::Network::FromProto(other);
  REQUIRE(other_net.ok());
  auto v = core::VerifyProofBundle(*other_net, bytes);
  REQUIRE(!v.ok());
  CHECK(v.failure->check == ProofCheck::kNetwork);
  // Even with the genesis hash doctored to match, the certificate is not from its validators.
  pb::Genesis renamed = TestGenesis();
  for (auto& val : *renamed.mutable_validators()) {
    val.set_consensus_key(PubFor("impostor-" + val.name()).Hex());
  }
  auto renamed_net = core::Network::FromProto(renamed);
  REQUIRE(renamed_net.ok());
  pb::ProofBundle b = ParseBundle(bytes);
  b.set_genesis_hash(std::string(renamed_net->hash().view()));
  auto v2 = core::VerifyProofBundle(*renamed_net, EncodeBundle(b));
  REQUIRE(!v2.ok());
  CHECK(v2.failure->check == ProofCheck::kCertificate);
}

TEST_CASE("proof bundle: hostile sizes are refused before any signature is checked") {
  ProvenChain chain;
  LiveItem(chain, kMaisonItem, 2);
  pb::ProofBundle b = ParseBundle(chain.BundleBytes(kMaisonItem));
  for (int i = 0; i < 5000; ++i) *b.add_history() = b.history(0);
  auto v = Verify(chain, EncodeBundle(b));
  REQUIRE(!v.ok());
  CHECK(v.failure->check == ProofCheck::kHistory);
  CHECK(Verify(chain, std::string(core::kMaxProofBundleBytes + 1, '\0')).failure->check ==
        ProofCheck::kFormat);
  CHECK(Verify(chain, "").failure->check == ProofCheck::kFormat);
}

// The largest history the custody rules allow (docs/architecture.md): 10,000 records, as many
// bytes as the caps let through. Outsiders' attests and services (at most 1 KiB each) and the
// holders' transfers fill it to 7 MiB at record 9,000, the holders' transfers to 8 MiB - 20 KiB at
// record 9,999, and a decommission of the largest size ends it. It must verify, and its bundle must
// fit the CLI's answer limit (wallet-cli/http_client.h, HttpClientOptions::response_bytes_max) as
// binary and as JSON.
TEST_CASE(
    "proof bundle: the largest history the custody rules allow verifies, as binary and as "
    "JSON within the CLI's 16 MiB answer limit") {
  namespace lim = core::limits;
  constexpr size_t kAnswerBytesMax = 16 * 1024 * 1024;
  constexpr uint64_t kOutsiderRecords = lim::kMaxItemRecords - lim::kItemRecordsKeptForOwners;
  constexpr uint64_t kOutsiderBytes =
      lim::kMaxItemHistoryBytes - lim::kItemHistoryBytesKeptForOwners;
  constexpr uint64_t kOwnerBytes = lim::kMaxItemHistoryBytes - lim::kMaxEnvelopeBytes;
  // The history's bytes to reach after record n (1-based).
  auto aim = [&](uint64_t n) -> uint64_t {
    if (n <= kOutsiderRecords) return n * kOutsiderBytes / kOutsiderRecords;
    if (n < lim::kMaxItemRecords) {
      return kOutsiderBytes + (n - kOutsiderRecords) * (kOwnerBytes - kOutsiderBytes) /
                                  (lim::kMaxItemRecords - 1 - kOutsiderRecords);
    }
    return lim::kMaxItemHistoryBytes;
  };

  ProvenChain chain;
  const core::SigningKey maison = KeyFor("maison"), resale = KeyFor("resale"),
                         authlab = KeyFor("authlab"), repairco = KeyFor("repairco"),
                         alice = KeyFor("alice"), bob = KeyFor("bob");
  std::vector<pb::Envelope> history;
  history.reserve(lim::kMaxItemRecords);
  uint64_t bytes = 0;
  auto add = [&](const core::SigningKey& key, pb::RecordPayload p,
                 size_t max_bytes = lim::kMaxEnvelopeBytes) {
    p.set_prev(history.empty() ? std::string() : Id(history.back()));
    const size_t want = std::min<size_t>(aim(history.size() + 1) - bytes, max_bytes);
    history.push_back(SignBytes(key, PaddedPayload(p, want)));
    bytes += history.back().ByteSizeLong();
  };
  pb::RecordPayload reg = Payload(kMaisonItem);
  *reg.mutable_register_()->mutable_custodian() = KeyHolder("alice");
  add(maison, reg);
  bool alice_holds = true;
  while (history.size() < lim::kMaxItemRecords - 1) {
    const uint64_t n = history.size() + 1;
    pb::RecordPayload p = Payload(kMaisonItem);
    if (n > kOutsiderRecords || (n - 2) % 4 == 0) {  // A new custody period.
      *p.mutable_transfer()->mutable_to() = KeyHolder(alice_holds ? "bob" : "alice");
      add(alice_holds ? alice : bob, p);
      alice_holds = !alice_holds;
    } else if ((n - 2) % 4 == 3) {
      p.mutable_service()->set_kind(pb::REPAIR);
      p.mutable_service()->set_note("strap replaced");
      add(repairco, p, lim::kMaxOutsiderEnvelopeBytes);
    } else {
      p.mutable_attest()->set_verdict(pb::GENUINE);
      p.mutable_attest()->set_note("stitching and hardware checked");
      add((n - 2) % 4 == 1 ? resale : authlab, p, lim::kMaxOutsiderEnvelopeBytes);
    }
  }
  chain.CommitAll(history);
  REQUIRE(chain.ledger().height() > 1);

  // Full: neither an outsider nor the holder may add a record; a decommission of the largest
  // size may.
  auto refused = [&](const core::SigningKey& key, pb::RecordPayload p) {
    p.set_prev(Id(history.back()));
    std::vector<pb::Envelope> one{SignBytes(key, core::SerializeDeterministic(p))};
    auto prepared = chain.ledger().BuildBlock(one, chain.time_ms() + 1000, PubFor("validator-0"));
    REQUIRE(prepared.ok());
    REQUIRE(prepared->dropped.size() == 1);
    return prepared->dropped[0].rejection.reason;
  };
  pb::RecordPayload attest = Payload(kMaisonItem);
  attest.mutable_attest()->set_verdict(pb::GENUINE);
  CHECK(refused(resale, attest) == core::RejectReason::kHistoryFull);
  pb::RecordPayload transfer = Payload(kMaisonItem);
  *transfer.mutable_transfer()->mutable_to() = OrgHolder("resale");
  CHECK(refused(alice_holds ? alice : bob, transfer) == core::RejectReason::kHistoryFull);
  pb::RecordPayload decommission = Payload(kMaisonItem);
  decommission.mutable_decommission()->set_kind(pb::DESTROYED);
  decommission.mutable_decommission()->set_reason("water damage");
  add(alice_holds ? alice : bob, decommission);
  CHECK(history.back().payload().size() == lim::kMaxPayloadBytes);
  chain.Commit({history.back()});

  std::string binary = chain.BundleBytes(kMaisonItem);
  const auto start = std::chrono::steady_clock::now();
  auto v = Verify(chain, binary, kMaisonItem);
  const auto verify_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - start)
                             .count();
  INFO((v.failure ? v.failure->message : std::string()));
  REQUIRE(v.ok());
  REQUIRE(v.item.state.has_value());
  CHECK(v.item.state->record_count() == lim::kMaxItemRecords);
  CHECK(v.item.state->history_bytes() == bytes);
  CHECK(bytes > lim::kMaxItemHistoryBytes - lim::kMaxEnvelopeBytes);
  CHECK(v.item.steps.size() == lim::kMaxItemRecords);
  CHECK(v.item.NotCleanReasons() == std::vector<std::string>{"decommissioned"});

  auto json = core::ToJson(ParseBundle(binary), /*pretty=*/false);
  REQUIRE(json.ok());
  CHECK(binary.size() < kAnswerBytesMax);
  CHECK(json->size() < kAnswerBytesMax);
  pb::ProofBundle from_json;
  REQUIRE(core::FromJson(*json, &from_json, "proof bundle").ok());
  CHECK(Verify(chain, EncodeBundle(from_json), kMaisonItem).ok());
  MESSAGE("largest history: " << history.size() << " records, " << bytes << " bytes; bundle "
                              << binary.size() << " bytes binary, " << json->size()
                              << " bytes JSON; verified in " << verify_ms << " ms");
}

// The fuzz target's seed corpus (tests/fuzz/corpus/proof_bundle): valid bundles of every shape.
// Run with HALLMARK_WRITE_CORPUS=1 to rewrite it after a format change; otherwise this checks
// that every seed named valid-* still checks out, so the fuzzer starts from real bundles.
TEST_CASE("proof bundle: the fuzz corpus seeds are valid bundles") {
  const std::filesystem::path dir =
      std::filesystem::path(HALLMARK_SOURCE_DIR) / "tests/fuzz/corpus/proof_bundle";
  if (std::getenv("HALLMARK_WRITE_CORPUS") != nullptr) {
    ProvenChain chain;
    LiveItem(chain, kMaisonItem, 6);
    auto recs = LiveItem(chain, kItem2, 4);
    pb::RecordPayload flag = Payload(kItem2, Id(recs.back()));
    flag.mutable_flag()->set_kind(pb::STOLEN);
    chain.CommitOne("alice", flag);
    std::filesystem::create_directories(dir);
    auto write = [&](const std::string& name, const std::string& bytes) {
      std::ofstream(dir / name, std::ios::binary) << bytes;
    };
    write("valid-clean-6", chain.BundleBytes(kMaisonItem));
    write("valid-stolen-5", chain.BundleBytes(kItem2));
    write("valid-absent", chain.BundleBytes(kNeverItem));
    // A governance walk: an organisation added (one block), a key added, the new
    // organisation's item registered (a chain built by hand, tests/unit/gov_chain_fixture.h).
    GovChain gov;
    gov.Pass(AddOrgChange("nouveau", pb::BRAND, {"7654321"}), {"atelier", "resale", "authlab"},
             "maison", /*one_block=*/true);
    gov.Pass(AddKeyChange("maison", "maison-2"),
             {"atelier", "resale", "authlab", "repairco", "nouveau"});
    pb::RecordPayload reg = Payload("01/07654321000015/21/N-1");
    reg.mutable_register_();
    gov.CommitRecord("nouveau", reg);
    write("valid-governance-walk", gov.BundleBytes("01/07654321000015/21/N-1"));
    MESSAGE("wrote the seed corpus to " << dir.string());
  }
  size_t seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.path().filename().string().starts_with("valid-")) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    INFO(entry.path().string());
    CHECK(core::VerifyProofBundle(core::Network::FromProto(TestGenesis()).value(), bytes).ok());
    ++seeds;
  }
  CHECK(seeds >= 4);
}
