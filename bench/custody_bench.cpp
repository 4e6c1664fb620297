// Micro benchmark for core/custody_proof: one custody check as POST /v1/items:check runs it per
// item (the proof's JSON parsed, its shape and signature checked, custody decided). Items per
// second are proofs checked per second on one core.

#include <benchmark/benchmark.h>

#include "core/codec.h"
#include "core/custody_proof.h"
#include "fixtures.h"

namespace {

namespace core = hallmark::core;
namespace pb = hallmark::pb;
namespace test = hallmark::test;

constexpr uint64_t kNow = test::kTestTimeMs;

struct Fixture {
  Fixture()
      : genesis(test::TestNetwork()),
        state(core::NetworkState::FromGenesis(genesis)),
        membership(state.MembershipAt(genesis, 1)) {
    item.set_item_id(test::kMaisonItem);
    *item.mutable_custodian() = test::OrgHolder("maison");
    proof = core::MakeCustodyProof(test::KeyFor("maison"), "hallmark-test",
                                   core::ParseCanonicalItemId(test::kMaisonItem).value(),
                                   "listing 77120 nonce f3a9c1", kNow - 1'000)
                .value();
    json = core::ToJson(proof, false).value();
  }
  core::Network genesis;
  core::NetworkState state;
  core::Network membership;
  pb::ItemState item;
  pb::CustodyProof proof;
  std::string json;
};

const Fixture& GetFixture() {
  static const Fixture* fixture = new Fixture();
  return *fixture;
}

void BM_CustodyProofCheck(benchmark::State& bench) {
  const Fixture& f = GetFixture();
  const core::CustodyExpectation expect{.chain_id = "hallmark-test",
                                        .item_id = test::kMaisonItem,
                                        .challenge = "listing 77120 nonce f3a9c1",
                                        .now_ms = kNow};
  const core::CustodyLedgerView view{
      .state = &f.item, .membership = &f.membership, .network_state = &f.state, .height = 1};
  for (auto _ : bench) {
    auto proof = core::ParseCustodyProofJson(f.json);
    core::CustodyCheck c = core::CheckCustodyProof(*proof, expect, view);
    benchmark::DoNotOptimize(c);
    if (c.verdict != core::CustodyVerdict::kCustodian) bench.SkipWithError(c.message.c_str());
  }
  bench.SetItemsProcessed(bench.iterations());
  bench.counters["json_bytes"] = static_cast<double>(f.json.size());
}
BENCHMARK(BM_CustodyProofCheck);

}  // namespace
