// Proof bundles (docs/proofs.md): the consumer's verification of a 20-record bundle, and the
// node's work to build one from LevelDB. Issue figures: verify under 5 ms of CPU, bundle under
// 16 KB.
#define DOCTEST_CONFIG_DISABLE  // The proof fixture's checks are for tests.
#include <benchmark/benchmark.h>

#include "core/codec.h"
#include "core/item_id.h"
#include "core/proof_bundle.h"
#include "governance_fixture.h"
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

// Ten key additions through the ledger, each a proposal in one block and three approvals in the
// next (5 members), then an item with 20 records: the governance walk of docs/proofs.md.
void TenChanges(test::ProvenChain& chain, int changes = 10) {
  const char* orgs[] = {"maison", "atelier", "resale", "authlab", "repairco"};
  for (int i = 0; i < changes; ++i) {
    const std::string org = orgs[i % 5];
    pb::Envelope proposal =
        test::ProposeEnv(org, test::AddKeyChange(org, org + "-k" + std::to_string(i)),
                         chain.ledger().height() + 100);
    chain.Commit({proposal});
    std::vector<pb::Envelope> approvals;
    for (const auto& a : test::TestApprovers(org)) {
      approvals.push_back(test::ApproveEnv(a, test::RecordId(proposal)));
    }
    chain.Commit(approvals);
  }
}

// Cold: genesis alone, the whole walk of 10 changes.
void BM_VerifyGovernedBundleFromGenesis(benchmark::State& state) {
  test::ProvenChain chain;
  TenChanges(chain);
  test::LiveItem(chain, test::kMaisonItem, 20);
  const std::string bytes = chain.BundleBytes(test::kMaisonItem);
  for (auto _ : state) {
    core::ProofVerdict v = core::VerifyProofBundle(chain.network(), bytes, test::kMaisonItem);
    if (!v.ok()) state.SkipWithError(v.failure->message.c_str());
    benchmark::DoNotOptimize(v);
  }
  state.counters["bundle_bytes"] = static_cast<double>(bytes.size());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyGovernedBundleFromGenesis)->Unit(benchmark::kMillisecond);

// Warm: a trust file holds the state after the 10 changes (read back from its Protobuf form
// each time, as the CLI does); the bundle carries the changes since (range(0): 0 or 1).
void BM_VerifyGovernedBundleWarm(benchmark::State& state) {
  test::ProvenChain chain;
  TenChanges(chain);
  test::LiveItem(chain, test::kMaisonItem, 20);
  auto first = core::VerifyProofBundle(chain.network(), chain.BundleBytes(test::kMaisonItem));
  if (!first.ok()) {
    state.SkipWithError(first.failure->message.c_str());
    return;
  }
  const uint64_t trusted_height = first.item.height;
  pb::NetworkStateProto trusted_proto = first.item.network_state->ToProto();
  const std::string trusted_bytes = core::SerializeDeterministic(trusted_proto);
  if (state.range(0) > 0) {
    pb::Envelope proposal = test::ProposeEnv("maison", test::AddKeyChange("maison", "maison-late"),
                                             chain.ledger().height() + 100);
    chain.Commit({proposal});
    std::vector<pb::Envelope> approvals;
    for (const auto& a : test::TestApprovers("maison")) {
      approvals.push_back(test::ApproveEnv(a, test::RecordId(proposal)));
    }
    chain.Commit(approvals);
  }
  const std::string bytes = chain.BundleBytes(test::kMaisonItem, trusted_height);
  for (auto _ : state) {
    pb::NetworkStateProto proto;
    proto.ParseFromString(trusted_bytes);
    auto loaded = core::NetworkState::FromProto(proto, chain.network().governance());
    core::TrustedState trusted{trusted_height, std::move(loaded).value()};
    core::VerifyOptions o;
    o.expected_item = test::kMaisonItem;
    o.trusted = &trusted;
    core::ProofVerdict v = core::VerifyProofBundle(chain.network(), bytes, o);
    if (!v.ok()) state.SkipWithError(v.failure->message.c_str());
    benchmark::DoNotOptimize(v);
  }
  state.counters["bundle_bytes"] = static_cast<double>(bytes.size());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyGovernedBundleWarm)
    ->ArgName("new_changes")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace hallmark
