// Micro benchmarks for the consensus engine: CPU time per committed height for n = 4 and 7
// validators (all n engines together, over an instant in-memory network), with real Ed25519 and
// with a trivial signer that isolates the engine's own work; and heights per simulated second
// with zero network delay (a manual clock; the application answers after 1 ms).

#include <benchmark/benchmark.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <queue>
#include <string>
#include <tuple>
#include <vector>

#include "consensus/engine.h"
#include "core/crypto/ed25519.h"
#include "core/crypto/sha256.h"

namespace {

using namespace hallmark;
using namespace hallmark::consensus;

class KeySigner : public VoteSigner {
 public:
  explicit KeySigner(core::SigningKey key) : key_(std::move(key)) {}
  const PublicKey& public_key() const override { return key_.public_key(); }
  Signature Sign(core::ByteSpan bytes) const override { return key_.Sign(bytes); }

 private:
  core::SigningKey key_;
};

// Stands in for a signature when only the engine's own cost is measured: the first 32 bytes
// of SHA-256(message), which the matching check recomputes. Never used outside benchmarks.
class FakeSigner : public VoteSigner {
 public:
  explicit FakeSigner(PublicKey key) : key_(key) {}
  const PublicKey& public_key() const override { return key_; }
  Signature Sign(core::ByteSpan bytes) const override {
    Signature s;
    const core::Hash256 h = core::Sha256Of(bytes);
    std::copy(h.bytes.begin(), h.bytes.end(), s.bytes.begin());
    return s;
  }

 private:
  PublicKey key_;
};

bool FakeCheck(const PublicKey&, core::ByteSpan message, const Signature& sig) {
  const core::Hash256 h = core::Sha256Of(message);
  return std::equal(h.bytes.begin(), h.bytes.end(), sig.bytes.begin());
}

Event ToEvent(const Message& m) {
  if (auto* p = std::get_if<Proposal>(&m)) return ProposalReceived{*p};
  if (auto* v = std::get_if<Vote>(&m)) return VoteReceived{*v};
  return CertificateReceived{std::get<CommitCertificate>(m)};
}

// n engines, a manual clock, a network with a fixed delay, an application that answers after
// app_latency_ms. Timeouts are scheduled like any event, so a slow height would show.
class Cluster {
 public:
  Cluster(int n, bool real_crypto, uint64_t delay_ms, uint64_t app_latency_ms)
      : delay_ms_(delay_ms), app_latency_ms_(app_latency_ms) {
    std::vector<core::ValidatorEntry> entries;
    for (int i = 0; i < n; ++i) {
      core::Hash256 seed = core::Sha256Of("bench-validator-" + std::to_string(i));
      auto key = std::move(core::SigningKey::FromSeed(seed.span()).value());
      const PublicKey pub = key.public_key();
      if (real_crypto) {
        signers_.push_back(std::make_unique<KeySigner>(std::move(key)));
      } else {
        signers_.push_back(std::make_unique<FakeSigner>(pub));
      }
      entries.push_back({pub, 1});
    }
    EngineConfig config;
    config.chain_id = "hallmark-bench";
    config.validators = std::move(core::ValidatorSet::Create(std::move(entries)).value());
    if (!real_crypto) config.check = FakeCheck;
    for (int i = 0; i < n; ++i)
      engines_.push_back(std::make_unique<Engine>(config, signers_[i].get(), EngineStart{}));
    tips_.resize(n);
    for (int i = 0; i < n; ++i) Apply(i, engines_[i]->Start());
  }

  // Runs until node 0 has committed `heights` more blocks.
  void RunHeights(uint64_t heights) {
    const uint64_t target = committed_ + heights;
    while (committed_ < target && !queue_.empty()) StepOnce();
  }
  // Runs until the clock passes `ms`.
  void RunUntil(uint64_t ms) {
    while (!queue_.empty() && queue_.top().at <= ms) StepOnce();
  }
  uint64_t committed() const { return committed_; }
  uint64_t timeouts_fired() const { return timeouts_fired_; }

 private:
  struct Item {
    uint64_t at, seq;
    size_t node;
    Event event;
    bool operator>(const Item& o) const { return std::tie(at, seq) > std::tie(o.at, o.seq); }
  };
  void Push(uint64_t at, size_t node, Event e) { queue_.push({at, seq_++, node, std::move(e)}); }
  void StepOnce() {
    Item item = queue_.top();
    queue_.pop();
    now_ = item.at;
    if (auto* t = std::get_if<TimeoutFired>(&item.event)) {
      if (t->timeout.height != engines_[item.node]->height() ||
          t->timeout.round != engines_[item.node]->round())
        return;  // Stale: costs the engine nothing worth measuring.
      if (t->timeout.kind != TimeoutKind::kRebroadcast) ++timeouts_fired_;
    }
    Apply(item.node, engines_[item.node]->Step(item.event));
  }
  void Apply(size_t node, const Actions& actions) {
    for (const Action& a : actions) {
      if (auto* b = std::get_if<Broadcast>(&a)) {
        for (size_t j = 0; j < engines_.size(); ++j)
          if (j != node) Push(now_ + delay_ms_, j, ToEvent(b->message));
      } else if (auto* s = std::get_if<SendTo>(&a)) {
        Push(now_ + delay_ms_, s->to, ToEvent(s->message));
      } else if (auto* t = std::get_if<ScheduleTimeout>(&a)) {
        Push(now_ + t->delay_ms, node, TimeoutFired{t->timeout});
      } else if (auto* bb = std::get_if<BuildBlock>(&a)) {
        std::string data = "h=" + std::to_string(bb->height) + " r=" + std::to_string(bb->round) +
                           " prev=" + tips_[node].Hex();
        Block block{core::Sha256Of(data), core::Bytes(data.begin(), data.end())};
        Push(now_ + app_latency_ms_, node, BlockBuilt{bb->height, bb->round, block});
      } else if (auto* vb = std::get_if<ValidateBlock>(&a)) {
        Push(now_ + app_latency_ms_, node, BlockVerdict{vb->height, vb->block.id, true});
      } else if (auto* c = std::get_if<CommitBlock>(&a)) {
        tips_[node] = c->block.id;
        if (node == 0) ++committed_;
      }
    }
  }

  uint64_t delay_ms_;
  uint64_t app_latency_ms_;
  std::vector<std::unique_ptr<VoteSigner>> signers_;
  std::vector<std::unique_ptr<Engine>> engines_;
  std::vector<core::Hash256> tips_;
  std::priority_queue<Item, std::vector<Item>, std::greater<>> queue_;
  uint64_t now_ = 0;
  uint64_t seq_ = 0;
  uint64_t committed_ = 0;
  uint64_t timeouts_fired_ = 0;
};

// CPU time of all n engines (and their signing and verification) per committed height.
void BM_ConsensusHeight(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const bool real_crypto = state.range(1) != 0;
  Cluster cluster(n, real_crypto, 0, 0);
  for (auto _ : state) cluster.RunHeights(1);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetLabel(std::string(real_crypto ? "ed25519" : "engine only") + ", all " +
                 std::to_string(n) + " engines");
}
BENCHMARK(BM_ConsensusHeight)
    ->ArgsProduct({{4, 7}, {0, 1}})
    ->ArgNames({"n", "ed25519"})
    ->Unit(benchmark::kMicrosecond);

// Heights per simulated second with zero network delay: only the application's 1 ms answers
// take time, so a height costs two of them (build, validate) and no timer.
void BM_HeightsPerSimulatedSecond(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  double heights = 0;
  uint64_t timeouts = 0;
  for (auto _ : state) {
    Cluster cluster(n, /*real_crypto=*/false, /*delay_ms=*/0, /*app_latency_ms=*/1);
    cluster.RunUntil(10'000);
    heights = static_cast<double>(cluster.committed()) / 10.0;
    timeouts = cluster.timeouts_fired();
  }
  state.counters["heights_per_sim_s"] = heights;
  state.counters["timeouts_fired"] = static_cast<double>(timeouts);
}
BENCHMARK(BM_HeightsPerSimulatedSecond)
    ->Arg(4)
    ->Arg(7)
    ->ArgName("n")
    ->Unit(benchmark::kMillisecond);

}  // namespace
