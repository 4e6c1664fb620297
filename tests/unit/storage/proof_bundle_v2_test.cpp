// Proof bundle format 2 (docs/proofs.md): record ids bind authors, every level of the bundle is
// strict and canonical, and a header dated ahead of the verifier's clock is refused. Each case
// reproduces a finding of issue 9 that version 1 let through.

#include <doctest/doctest.h>

#include "core/codec.h"
#include "core/crypto/sha256.h"
#include "core/proof_bundle.h"
#include "peak_memory.h"
#include "proof_fixture.h"
#include "proof_tamper.h"
#include "proto/chain.pb.h"

using namespace hallmark;
using namespace hallmark::test;
using core::ProofCheck;

namespace {

std::optional<ProofCheck> FailedCheck(const ProvenChain& chain, const std::string& bytes,
                                      std::string* message = nullptr) {
  auto v = core::VerifyProofBundle(chain.network(), bytes);
  if (v.ok()) return std::nullopt;
  if (message) *message = v.failure->message;
  return v.failure->check;
}

}  // namespace

TEST_CASE("proof bundle v2: a record re-signed by another authorised key breaks the proof") {
  // Finding 2: the attest below is resale's. Version 1 ids covered the payload only, so the
  // same payload re-signed by authlab (also allowed to attest) verified and showed authlab.
  ProvenChain chain;
  auto recs = LiveItem(chain, kMaisonItem, 3);  // Register, ship to resale, resale attests.
  pb::RecordPayload attest;
  REQUIRE(attest.ParseFromString(recs[2].payload()));
  REQUIRE(attest.has_attest());
  const std::string good = chain.BundleBytes(kMaisonItem);
  auto v = core::VerifyProofBundle(chain.network(), good);
  REQUIRE(v.ok());
  CHECK(v.item.steps[2].author == "resale");

  for (const char* other : {"authlab", "maison", "alice"}) {
    INFO(other);
    pb::ProofBundle b = ParseBundle(good);
    pb::Envelope resigned = Sign(other, attest);
    REQUIRE(resigned.signature() != b.history(2).signature());
    *b.mutable_history(2) = resigned;
    std::string msg;
    auto failed = FailedCheck(chain, core::SerializeDeterministic(b), &msg);
    REQUIRE(failed.has_value());
    CHECK(*failed == ProofCheck::kChain);
    CHECK(msg.find("latest") != std::string::npos);
  }
  // The id names the whole envelope.
  CHECK(core::RecordIdOf(recs[2]) != core::Sha256Of(std::string_view(recs[2].payload())));
}

TEST_CASE("proof bundle v2: unknown fields at any depth are refused") {
  // Finding 6: inside the certificate and inside a commit signature, version 1 accepted them.
  ProvenChain chain;
  LiveItem(chain, kMaisonItem, 3);
  const pb::ProofBundle good = ParseBundle(chain.BundleBytes(kMaisonItem));

  // Inside the certificate, a commit signature, an envelope, 50 nested groups deep, at the top
  // level, and appended to the raw bytes (tests/unit/proof_tamper.h).
  const std::vector<Tamper> tampers = UnknownFieldTampers(good);
  CHECK(tampers.size() == 6);
  for (const Tamper& t : tampers) {
    INFO(t.what);
    std::string msg;
    auto failed = FailedCheck(chain, t.bytes, &msg);
    REQUIRE(failed.has_value());
    CHECK(*failed == ProofCheck::kFormat);
    if (t.what.find("appended to the raw") == std::string::npos) {
      CHECK(msg.find("fields this version does not know") != std::string::npos);
    }
  }
}

TEST_CASE("proof bundle v2: a non-canonical encoding of the same bundle is refused") {
  ProvenChain chain;
  LiveItem(chain, kMaisonItem, 2);
  const std::string good = chain.BundleBytes(kMaisonItem);
  REQUIRE_FALSE(FailedCheck(chain, good).has_value());

  // item_id written twice, the version as an over-long varint, fields out of order
  // (tests/unit/proof_tamper.h): each parses to the same bundle, and is refused.
  const std::vector<Tamper> tampers = NonCanonicalTampers(good);
  CHECK(tampers.size() == 3);
  for (const Tamper& t : tampers) {
    INFO(t.what);
    pb::ProofBundle reparsed;
    REQUIRE(reparsed.ParseFromString(t.bytes));
    REQUIRE(core::SerializeDeterministic(reparsed) == good);
    std::string msg;
    CHECK(FailedCheck(chain, t.bytes, &msg) == ProofCheck::kFormat);
    if (t.what == "item_id written twice") CHECK(msg.find("canonical") != std::string::npos);
  }
}

TEST_CASE("proof bundle v2: version 1 and 2 bundles are refused with a clear message") {
  ProvenChain chain;
  LiveItem(chain, kMaisonItem, 2);
  pb::ProofBundle b = ParseBundle(chain.BundleBytes(kMaisonItem));
  CHECK(b.version() == 4);
  b.set_version(1);
  std::string msg;
  CHECK(FailedCheck(chain, core::SerializeDeterministic(b), &msg) == ProofCheck::kFormat);
  CHECK(msg.find("version 1 is no longer accepted") != std::string::npos);
  CHECK(msg.find("new proof") != std::string::npos);
  b.set_version(2);
  CHECK(FailedCheck(chain, core::SerializeDeterministic(b), &msg) == ProofCheck::kFormat);
  CHECK(msg.find("version 2 is no longer accepted") != std::string::npos);
  CHECK(msg.find("new proof") != std::string::npos);
  b.set_version(5);
  CHECK(FailedCheck(chain, core::SerializeDeterministic(b), &msg) == ProofCheck::kFormat);
  CHECK(msg.find("not supported") != std::string::npos);
}

TEST_CASE("proof bundle v2: a header dated beyond the skew allowance is refused") {
  ProvenChain chain;
  LiveItem(chain, kMaisonItem, 2);
  const uint64_t skew = chain.network().max_clock_skew_ms();
  CHECK(skew == 30'000);
  const std::string bytes = chain.BundleBytes(kMaisonItem);
  const uint64_t header_time = chain.time_ms();
  auto at = [&](uint64_t now) {
    core::VerifyOptions o;
    o.now_ms = now;
    return core::VerifyProofBundle(chain.network(), bytes, o);
  };
  CHECK(at(header_time + 5'000).ok());
  CHECK(core::ProofAgeMs(at(header_time + 5'000).item, header_time + 5'000) == 5'000);
  // Ahead, within the allowance: fine, and 0 old.
  auto ahead = at(header_time - skew);
  REQUIRE(ahead.ok());
  CHECK(core::ProofAgeMs(ahead.item, header_time - skew) == 0);
  // Beyond it: the freshness check fails and says what to look at.
  auto future = at(header_time - skew - 1'000);
  REQUIRE_FALSE(future.ok());
  CHECK(future.failure->check == ProofCheck::kFreshness);
  CHECK(future.failure->message.find("ahead of this computer's clock") != std::string::npos);
  // Without a clock the verifier is pure and does not judge time.
  CHECK(core::VerifyProofBundle(chain.network(), bytes).ok());
}

TEST_CASE("genesis: idle block interval and clock skew default, and are bounded") {
  pb::Genesis g = TestGenesis();
  auto net = core::Network::FromProto(g);
  REQUIRE(net.ok());
  CHECK(net->idle_block_interval_ms() == 10'000);
  CHECK(net->max_clock_skew_ms() == 30'000);
  CHECK(net->freshness_ms() == 18 * 10'000 + 30'000);
  g.mutable_consensus()->set_idle_block_interval_ms(2'000);
  CHECK(core::Network::FromProto(g)->freshness_ms() == 18 * 2'000 + 30'000);
  g.mutable_consensus()->set_idle_block_interval_ms(50);
  auto low = core::Network::FromProto(g);
  REQUIRE_FALSE(low.ok());
  CHECK(low.status().message().find("idle_block_interval_ms") != std::string::npos);
  g.mutable_consensus()->set_idle_block_interval_ms(2'000);
  g.mutable_consensus()->set_max_clock_skew_ms(3'600'000);
  CHECK_FALSE(core::Network::FromProto(g).ok());
}

TEST_CASE("proof bundle v2: megabytes of empty records are refused before they are built") {
  // Two bytes (field 9, length 0) are one empty Envelope: 64 MiB of them would be 33 million
  // objects, gigabytes, before the record count is compared with the proven state.
  ProvenChain chain;
  LiveItem(chain, kMaisonItem, 2);
  const std::string good = chain.BundleBytes(kMaisonItem);
  std::string flood;
  flood.reserve(64 * 1024 * 1024);
  while (flood.size() + 2 <= 64 * 1024 * 1024) flood += std::string("\x4a\x00", 2);
  std::optional<ProofCheck> failed;
  std::string msg;
  auto peak = PeakMemoryGrowthBytes([&] { failed = FailedCheck(chain, flood, &msg); });
  REQUIRE(failed.has_value());
  CHECK(*failed == ProofCheck::kFormat);
  CHECK(msg.find("holds more than") != std::string::npos);
  if (peak) {
    MESSAGE("64 MiB of empty records refused with " << Megabytes(*peak) << " of peak growth");
    CHECK(*peak < 64ull * 1024 * 1024);
  }
  // Just over the cap (history, signatures and a governance walk's messages) behind a real
  // bundle; empty commit signatures and walk blocks too.
  std::string over = good;
  for (size_t i = 0; i < core::kMaxBundleRecords + core::kMaxWalkMessages + 300; ++i) {
    over += std::string("\x4a\x00", 2);
  }
  CHECK(FailedCheck(chain, over, &msg) == ProofCheck::kFormat);
  CHECK(msg.find("holds more than") != std::string::npos);
  pb::ProofBundle b = ParseBundle(good);
  for (int i = 0; i < 300; ++i) b.mutable_certificate()->add_signatures();
  b.mutable_history()->Clear();
  for (int i = 0; i < 100'000; ++i) b.add_history();
  for (size_t i = 0; i < core::kMaxWalkMessages; ++i) b.mutable_governance()->add_blocks();
  CHECK(FailedCheck(chain, core::SerializeDeterministic(b), &msg) == ProofCheck::kFormat);
  CHECK(msg.find("holds more than") != std::string::npos);
}
