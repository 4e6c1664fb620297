// Record validation + application, and block commits through the LevelDB ledger.
#include <benchmark/benchmark.h>

#include <unordered_map>

#include "core/records.h"
#include "fixtures.h"
#include "storage/ledger.h"
#include "test_util.h"

using namespace hallmark;

namespace {

std::string Serial(int block, int i) {
  return "B" + std::to_string(block) + "-" + std::to_string(i);
}

// n registrations with two attributes each, signed by the brand.
std::vector<pb::Envelope> Registrations(int block, int n) {
  static const auto maison = test::KeyFor("maison");
  std::vector<pb::Envelope> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) {
    auto p = test::Payload("01/00614141000012/21/" + Serial(block, i));
    auto* r = p.mutable_register_();
    auto* a = r->add_attributes();
    a->set_key("model");
    a->set_value("Speedy 30");
    a = r->add_attributes();
    a->set_key("colour");
    a->set_value("noir");
    out.push_back(test::Sign(maison, p));
  }
  return out;
}

storage::SignatureCheck NoSignatureCheck() {
  return [](const pb::Envelope&, const core::Hash256&) { return std::optional<core::Rejection>(); };
}

// Decode + rules + apply, no signature checks, against an in-memory state: registrations
// followed by a transfer of each item.
void BM_ValidateAndApply(benchmark::State& state) {
  const int n = 10'000;
  auto net = test::TestNetwork();
  auto regs = Registrations(0, n);
  std::vector<pb::Envelope> transfers;
  for (int i = 0; i < n; ++i) {
    auto p = test::Payload("01/00614141000012/21/" + Serial(0, i), test::Id(regs[i]));
    *p.mutable_transfer()->mutable_to() = test::OrgHolder("resale");
    transfers.push_back(test::Sign("maison", p));
  }
  for (auto _ : state) {
    test::MapView view;
    core::BlockContext ctx{1, test::kTestTimeMs};
    core::Record rec;
    for (const auto* batch : {&regs, &transfers}) {
      for (const auto& env : *batch) {
        if (core::DecodeRecord(env, net.chain_id(), &rec)) state.SkipWithError("decode");
        auto r = core::ValidateAndApply(net, rec, ctx, &view);
        if (!r.ok() || r->has_value()) state.SkipWithError("rejected");
      }
    }
    benchmark::DoNotOptimize(view.states.size());
  }
  state.SetItemsProcessed(state.iterations() * 2 * n);
}
BENCHMARK(BM_ValidateAndApply)->Unit(benchmark::kMillisecond);

// Synced block commits of 1,000 registrations: the proposer's build plus the commit, and a
// follower's validation plus commit, without signature checks (admission verified them).
void BM_BlockCommit(benchmark::State& state) {
  const bool follower = state.range(0) == 1;
  test::TempDir leader_dir, follower_dir;
  auto net = test::TestNetwork();
  auto leader = storage::Ledger::Open(leader_dir.path(), net, {.sync = true}).value().release();
  std::unique_ptr<storage::Ledger> leader_owner(leader);
  auto follow = storage::Ledger::Open(follower_dir.path(), net, {.sync = true});
  const auto proposer = test::PubFor("validator-0");
  int block = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto recs = Registrations(++block, 1000);
    std::optional<storage::PreparedBlock> leader_block;
    if (follower) {
      auto built =
          leader->BuildBlock(recs, test::kTestTimeMs + block, proposer, NoSignatureCheck());
      if (!built.ok() || !leader->Commit(*built).ok()) state.SkipWithError("leader");
      leader_block = std::move(built).value();
    }
    state.ResumeTiming();
    if (follower) {
      auto prepared = (*follow)->ValidateBlock(leader_block->block, NoSignatureCheck());
      if (!prepared.ok() || !(*follow)->Commit(*prepared).ok()) state.SkipWithError("follower");
    } else {
      auto built =
          leader->BuildBlock(recs, test::kTestTimeMs + block, proposer, NoSignatureCheck());
      if (!built.ok() || !leader->Commit(*built).ok()) state.SkipWithError("commit");
    }
  }
  state.SetItemsProcessed(state.iterations() * 1000);
  state.SetLabel(follower ? "follower: validate+commit" : "proposer: build+commit");
}
BENCHMARK(BM_BlockCommit)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(30);

}  // namespace
