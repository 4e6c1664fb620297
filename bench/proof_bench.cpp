// Proof bundles (docs/proofs.md): the consumer's verification of a 20-record bundle, and the
// node's work to build one from LevelDB. Issue figures: verify under 5 ms of CPU, bundle under
// 16 KB.
#define DOCTEST_CONFIG_DISABLE  // The proof fixture's checks are for tests.
#include <benchmark/benchmark.h>

#include "core/item_id.h"
#include "core/proof_bundle.h"
#include "proof_fixture.h"
#include "storage/proof_bundle.h"

namespace hallmark {
namespace {

void BM_VerifyProofBundle(benchmark::State& state) {
  test::ProvenChain chain;
  test::LiveItem(chain, test::kMaisonItem, static_cast<size_t>(state.range(0)));
  const std::string bytes = chain.BundleBytes(test::kMaisonItem);
  for (auto _ : state) {
    core::ProofVerdict v = core::VerifyProofBundle(chain.network(), bytes, test::kMaisonItem);
    if (!v.ok()) state.SkipWithError("the bundle does not verify");
    benchmark::DoNotOptimize(v);
  }
  state.counters["bundle_bytes"] = static_cast<double>(bytes.size());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyProofBundle)->ArgName("records")->Arg(1)->Arg(20)->Unit(benchmark::kMillisecond);

void BM_BuildProofBundle(benchmark::State& state) {
  test::ProvenChain chain;
  test::LiveItem(chain, test::kMaisonItem, 20);
  const core::ItemId item = core::ParseItemId(test::kMaisonItem).value();
  for (auto _ : state) {
    auto bundle = storage::BuildProofBundle(chain.ledger(), item);
    if (!bundle.ok()) state.SkipWithError("cannot build");
    benchmark::DoNotOptimize(bundle);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BuildProofBundle);

}  // namespace
}  // namespace hallmark
