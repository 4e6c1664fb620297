#include "sim.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "consensus/engine.h"
#include "core/certificate.h"
#include "core/crypto/ed25519.h"
#include "core/crypto/sha256.h"
#include "rng.h"

namespace hallmark::sim {

namespace {

using namespace hallmark::consensus;

constexpr const char* kChainId = "hallmark-sim";
constexpr size_t kMaxBlockRecords = 20;  // The simulated genesis' block limits.
constexpr uint64_t kMaxBlockBytes = 64 * 1024;
constexpr uint64_t kRecordIntervalMs = 25;  // One record becomes ready every 25 ms.
constexpr uint64_t kMaxEvents = 4'000'000;  // A run that needs more is stuck in a loop.
constexpr size_t kMaxFetchBlocks = 64;      // Blocks served per fetch request.
constexpr uint64_t kLivenessHeights = 3;    // Heights every honest node must add after healing.
constexpr uint64_t kTwinsHeights = 2;       // Twins: heights with per-round partitions,
constexpr uint32_t kTwinsRounds = 3;        // and rounds per height.

// Validator keys: fixed seeds, made once per process. Keys 0..n-1 are the first set's; the next
// ones belong to nodes that follow until a set change makes them validators.
constexpr size_t kKeys = 10;
class KeySigner : public VoteSigner {
 public:
  explicit KeySigner(core::SigningKey key) : key_(std::move(key)) {}
  const PublicKey& public_key() const override { return key_.public_key(); }
  Signature Sign(core::ByteSpan bytes) const override { return key_.Sign(bytes); }

 private:
  core::SigningKey key_;
};

const KeySigner& SignerFor(size_t index) {
  static std::vector<std::unique_ptr<KeySigner>> signers = [] {
    std::vector<std::unique_ptr<KeySigner>> out;
    for (size_t i = 0; i < kKeys; ++i) {
      core::Hash256 seed = core::Sha256Of("hallmark-sim/validator-" + std::to_string(i));
      out.push_back(
          std::make_unique<KeySigner>(std::move(core::SigningKey::FromSeed(seed.span()).value())));
    }
    return out;
  }();
  return *signers.at(index);
}

// Every signature check goes through core's acceptance policy; the verdict is cached by
// SHA-256(key || signature || message), since a broadcast vote is checked by every node.
// The cache changes only speed, never a verdict, so it does not affect the trace.
bool CachedPolicyCheck(const PublicKey& key, core::ByteSpan message, const Signature& sig) {
  static std::unordered_map<core::Hash256, bool> cache;
  if (cache.size() > 2'000'000) cache.clear();
  core::Sha256 h;
  h.Update(key.span()).Update(sig.span()).Update(message);
  const core::Hash256 k = h.Finish();
  auto it = cache.find(k);
  if (it != cache.end()) return it->second;
  const bool ok = core::PolicySignatureCheck(key, message, sig);
  cache.emplace(k, ok);
  return ok;
}

// The simulated application's block: "h=<height>;prev=<hex>;by=<validator>;recs=<a,b,...>".
struct BlockInfo {
  bool ok = false;
  uint64_t height = 0;
  Hash256 prev;
  std::vector<uint64_t> records;
};

BlockInfo ParseBlock(const Bytes& data) {
  BlockInfo info;
  const std::string s(data.begin(), data.end());
  auto field = [&](const std::string& name) -> std::optional<std::string> {
    const std::string key = name + "=";
    size_t at = s.find(key);
    if (at == std::string::npos) return std::nullopt;
    size_t end = s.find(';', at);
    return s.substr(at + key.size(),
                    end == std::string::npos ? std::string::npos : end - at - key.size());
  };
  auto h = field("h");
  auto prev = field("prev");
  auto recs = field("recs");
  if (!h || !prev || !recs || h->empty()) return info;
  for (char c : *h)
    if (c < '0' || c > '9') return info;
  info.height = std::stoull(*h);
  auto p = Hash256::FromHex(*prev);
  if (!p) return info;
  info.prev = *p;
  std::string cur;
  for (char c : *recs + ",") {
    if (c == ',') {
      if (!cur.empty()) info.records.push_back(std::stoull(cur));
      cur.clear();
    } else if (c >= '0' && c <= '9' && cur.size() < 12) {
      cur += c;
    } else {
      return info;
    }
  }
  info.ok = true;
  return info;
}

Event ToEvent(const Message& m) {
  if (auto* p = std::get_if<Proposal>(&m)) return ProposalReceived{*p};
  if (auto* v = std::get_if<Vote>(&m)) return VoteReceived{*v};
  return CertificateReceived{std::get<CommitCertificate>(m)};
}

// (height, round, step) of a message; step 0 = proposal, 1 = prevote, 2 = precommit.
std::tuple<uint64_t, uint32_t, int> HeightRoundStep(const Message& m) {
  if (auto* p = std::get_if<Proposal>(&m)) return {p->height, p->round, 0};
  if (auto* v = std::get_if<Vote>(&m))
    return {v->height, v->round, v->type == VoteType::kPrevote ? 1 : 2};
  const auto& c = std::get<CommitCertificate>(m);
  return {c.height, c.round, 2};
}

struct Instance {
  ValidatorIndex validator = 0;  // Its key (SignerFor); the first set's index for 0..n-1.
  bool twin = false;             // A second copy of a validator's key (or the first copy of one).
  bool faulty = false;           // Counts against f: twins, lost signer state, a lying application.
  bool bad_app = false;          // Builds blocks that do not extend the chain.
  // A Byzantine actor: the sim signs with its key behind its engine's back (Adversary).
  uint32_t attacks = 0;      // kAttack* bits.
  int crash_after_lock = 0;  // Twins: crash this often, each right after precommitting a block.
  bool up = true;
  uint64_t frozen_until = 0;  // Stopped (SIGSTOP) until then: its events wait.
  uint64_t incarnation = 0;
  uint32_t skew_permille = 1000;
  std::unique_ptr<Engine> engine;
  // Durable state: survives crashes.
  std::vector<CommitBlock> chain;
  std::optional<SignerState> signer_state = SignerState{};
  std::optional<LockRecord> lock;
  std::set<uint64_t> records;
  uint64_t low_water = 1;  // Every record below it is committed.
};

// What a Byzantine actor does, drawn per seed (Simulation::Adversary).
constexpr uint32_t kAttackEquivocate = 1;  // Two proposals per round, to different peers.
constexpr uint32_t kAttackDoubleVote = 2;  // Prevotes and precommits for two blocks.
constexpr uint32_t kAttackLieVr = 4;       // Fresh proposals with a proof-of-lock round it lacks.
constexpr uint32_t kAttackFar = 8;         // Votes and certificates at far heights and rounds.
constexpr uint32_t kAttackFlood = 16;      // Bursts of signed junk votes and forged messages.
constexpr uint32_t kAttackSelective = 32;  // Each message to a random subset of peers only.
constexpr uint32_t kAttackAll = 63;

struct SimEvent {
  enum class Kind { kEngine, kCrash, kRestart, kPartition, kPartitionEnd, kHeal, kQuorumLoss };
  Kind kind = Kind::kEngine;
  size_t instance = 0;
  std::optional<uint64_t> incarnation;  // Timers and application replies die with a crash.
  std::optional<Event> event;
  uint64_t param = 0;
  bool lost_state = false;
};

class Simulation {
 public:
  explicit Simulation(const SimOptions& options) : options_(options), rng_(options.seed) {}

  SimResult Run();

 private:
  struct Queued {
    uint64_t at;
    uint64_t seq;
    SimEvent event;
    bool operator>(const Queued& o) const { return std::tie(at, seq) > std::tie(o.at, o.seq); }
  };

  void Setup();
  void SetupFaults();
  void SetupTwins();
  void SetupQuorumLoss();
  // The default bound on the wait after a quorum loss heals: two rounds at the capped timeouts
  // (one that may still fail, because the validators that were away enter it late, and one
  // that commits), plus a second for messages and block building.
  uint64_t QuorumLossBoundMs() const {
    const TimeoutConfig& t = config_.timeouts;
    return 2 * (uint64_t{t.propose_ms} + t.prevote_ms + t.precommit_ms + 3 * t.max_growth_ms) +
           1000;
  }
  // Validator set changes: followers for the keys that join, then the schedule of sets.
  void AddFollowers();
  void PlanChanges();
  // The set of height h by the plan: what every honest ledger would say.
  const ValidatorSet& SetAt(uint64_t h) const;
  // What the driver does: start the engine, and tell it the sets its chain has scheduled.
  void StartEngine(size_t i);
  // After instance i committed height h: the sets block h scheduled (ScheduleValidators).
  void ScheduleAfterCommit(size_t i, uint64_t h);
  const PublicKey& KeyOf(size_t i) const { return SignerFor(instances_[i].validator).public_key(); }
  // The key id (SignerFor index) of a validator's key.
  ValidatorIndex IdOf(const PublicKey& key) const {
    for (ValidatorIndex k = 0; k < kKeys; ++k)
      if (SignerFor(k).public_key() == key) return k;
    return static_cast<ValidatorIndex>(kKeys);
  }
  void Push(uint64_t at, SimEvent e) { queue_.push(Queued{at, next_seq_++, std::move(e)}); }
  void PushEngine(uint64_t at, size_t i, Event e, bool with_incarnation) {
    SimEvent se;
    se.instance = i;
    se.event = std::move(e);
    if (with_incarnation) se.incarnation = instances_[i].incarnation;
    Push(at, std::move(se));
  }
  void Handle(SimEvent& e);
  void Execute(size_t i, const Actions& actions);
  void Send(size_t from, size_t to, const Message& message);
  bool Connected(size_t from, size_t to, const Message* message) const;
  void CheckSigned(size_t i, const Message& message);
  // A Byzantine actor's broadcast: what it sends instead, signed with its key.
  void Adversary(size_t i, const Message& message);
  void SendSigned(size_t from, const std::vector<size_t>& to, Message message);
  Proposal SignProposal(ValidatorIndex v, Proposal p) const;
  Vote SignVote(ValidatorIndex v, Vote vote) const;
  void CheckFootprint(size_t i);
  void OnCommit(size_t i, const CommitBlock& c);
  void OnFetch(size_t i, const FetchBlocks& f);
  // `tag` makes a second, different block for the same round (an equivocating proposer's).
  Block BuildFor(size_t i, uint64_t height, uint32_t round, const std::string& tag = "");
  bool ValidFor(size_t i, uint64_t height, const Block& block) const;
  void Crash(size_t i, bool lost_state, uint64_t restart_after_ms);
  void Restart(size_t i);
  void Heal();
  void CheckLiveness();
  std::unique_ptr<Engine> MakeEngine(size_t i);
  uint64_t Submitted() const { return 1 + now_ / kRecordIntervalMs; }
  bool Honest(size_t i) const { return !instances_[i].faulty; }
  void Fail(const std::string& what) {
    if (!failed_) {
      failed_ = true;
      result_.ok = false;
      result_.failure = "t=" + std::to_string(now_) + "ms: " + what;
    }
  }
  void Trace(size_t i, const std::string& line) {
    std::string text = std::to_string(now_) + " " + std::to_string(i) + " " + line + "\n";
    hasher_.Update(text);
    if (options_.print_trace) std::fputs(text.c_str(), stdout);
  }

  SimOptions options_;
  Rng rng_;
  SimResult result_;
  core::Sha256 hasher_;
  bool failed_ = false;
  bool done_ = false;

  int n_ = 4;
  int f_ = 1;
  EngineConfig config_;
  std::vector<Instance> instances_;
  std::vector<std::vector<size_t>> instances_of_;  // Per key id.
  std::set<ValidatorIndex> twinned_;
  // Validator set changes.
  struct Epoch {
    uint64_t from_height = 0;
    uint64_t completed = 0;  // The height whose commit schedules it (from_height - delay).
    ValidatorSet set;
  };
  bool changes_ = false;
  std::vector<Epoch> epochs_;                // By from_height; the first from height 1.
  ValidatorIndex joiner_ = 0, new_key_ = 0;  // Key ids of the two followers.

  uint64_t now_ = 0;
  uint64_t next_seq_ = 0;
  std::priority_queue<Queued, std::vector<Queued>, std::greater<>> queue_;

  // Network and faults.
  bool faults_active_ = true;
  uint64_t delay_min_ms_ = 1;
  uint64_t delay_jitter_ms_ = 10;
  uint64_t loss_ppm_ = 0;
  uint64_t dup_ppm_ = 0;
  uint64_t crash_point_ppm_ = 0;
  std::vector<std::vector<bool>> blocked_;
  std::vector<std::vector<int>> twins_groups_;  // Per (height, round, step).
  uint64_t twins_until_ms_ = 0;

  // Quorum loss: the stopped or cut-off instances, and when healing came at which height.
  std::vector<size_t> lost_;
  bool freeze_ = false;
  uint64_t heal_at_ = 0;
  uint64_t heal_top_ = 0;
  bool recovered_ = false;

  // Liveness.
  bool healed_ = false;
  uint64_t liveness_target_ = 0;
  uint64_t liveness_deadline_ = 0;

  // Invariants.
  std::map<uint64_t, Hash256> canonical_;  // Height -> the block every node must commit.
  std::set<Hash256> proposed_;
  std::set<Hash256> validated_by_honest_;
  std::map<std::tuple<ValidatorIndex, uint64_t, uint32_t, int>, Hash256> signed_;
  std::set<ValidatorIndex> equivocators_;  // Key ids that may sign twice (evidence is fine).
  EngineFootprint limit_;
};

std::unique_ptr<Engine> Simulation::MakeEngine(size_t i) {
  Instance& in = instances_[i];
  EngineConfig config = config_;
  config.validators = SetAt(in.chain.size() + 1);
  return std::make_unique<Engine>(std::move(config), &SignerFor(in.validator),
                                  EngineStart{in.chain.size(), in.signer_state, in.lock});
}

const ValidatorSet& Simulation::SetAt(uint64_t h) const {
  const ValidatorSet* set = &epochs_.front().set;
  for (const Epoch& e : epochs_)
    if (e.from_height <= h) set = &e.set;
  return *set;
}

void Simulation::StartEngine(size_t i) {
  Execute(i, instances_[i].engine->Start());
  const uint64_t h = instances_[i].chain.size();
  for (const Epoch& e : epochs_) {
    if (failed_ || !instances_[i].up) return;
    if (e.completed >= 1 && e.completed <= h && e.from_height > h + 1)
      Execute(i, instances_[i].engine->Step(ScheduleValidators{e.from_height, e.set}));
  }
}

void Simulation::ScheduleAfterCommit(size_t i, uint64_t h) {
  for (const Epoch& e : epochs_) {
    if (failed_ || !instances_[i].up) return;
    if (e.completed == h) {
      Trace(i, "schedule validators from h=" + std::to_string(e.from_height));
      Execute(i, instances_[i].engine->Step(ScheduleValidators{e.from_height, e.set}));
    }
  }
}

void Simulation::AddFollowers() {
  // Two nodes with keys outside the first set, following from the start: one joins, the other
  // takes over a validator's key (a replaced machine).
  joiner_ = static_cast<ValidatorIndex>(n_);
  new_key_ = static_cast<ValidatorIndex>(n_ + 1);
  for (ValidatorIndex k : {joiner_, new_key_}) {
    instances_.emplace_back();
    instances_.back().validator = k;
    instances_of_[k].push_back(instances_.size() - 1);
  }
}

void Simulation::PlanChanges() {
  // Its own generator, so that runs without changes draw exactly what they drew before.
  Rng plan(Rng::Mix(options_.seed ^ 0x5e7c4a9e5ull));
  std::vector<std::pair<ValidatorIndex, uint64_t>> cur;  // (key id, power), in set order.
  for (int v = 0; v < n_; ++v) cur.push_back({static_cast<ValidatorIndex>(v), 1});
  std::set<ValidatorIndex> faulty;
  for (const Instance& in : instances_)
    if (in.faulty) faulty.insert(in.validator);
  auto total = [&] {
    uint64_t t = 0;
    for (auto [k, p] : cur) t += p;
    return t;
  };
  auto faulty_power = [&] {
    uint64_t t = 0;
    for (auto [k, p] : cur) t += faulty.count(k) ? p : 0;
    return t;
  };
  auto honest = [&] {
    std::vector<size_t> out;
    for (size_t j = 0; j < cur.size(); ++j)
      if (!faulty.count(cur[j].first)) out.push_back(j);
    return out;
  };
  bool joined = false, rekeyed = false;
  auto schedule = [&](uint64_t completed, uint64_t delay, int kind) {
    // kind: 0 add, 1 remove, 2 re-weight, 3 change key. Each moves power 1 while the previous
    // change is in force already, so the one-third rule (3 x moved <= total) holds for totals
    // of 3 or more; and faulty validators keep less than a third of every set.
    const uint64_t before = total();
    if (kind == 0 && joined) kind = 2;
    if (kind == 3 && rekeyed) kind = 2;
    if (kind == 1) {
      std::optional<size_t> victim;
      for (size_t j = 0; j < cur.size(); ++j)
        if (faulty.count(cur[j].first) && !victim) victim = j;
      if (!victim && 3 * faulty_power() < before - 1) {
        auto h = honest();
        victim = h[plan.Below(h.size())];
      }
      if (!victim || cur.size() <= 3)
        kind = 2;
      else
        cur.erase(cur.begin() + static_cast<std::ptrdiff_t>(*victim));
    }
    if (kind == 0) {
      joined = true;
      cur.push_back({joiner_, 1});
    } else if (kind == 2) {
      auto h = honest();
      ++cur[h[plan.Below(h.size())]].second;
    } else if (kind == 3) {
      rekeyed = true;
      auto h = honest();
      cur[h[plan.Below(h.size())]].first = new_key_;
    }
    HM_ASSERT(3 * 1 <= before && 3 * faulty_power() < total());
    std::vector<core::ValidatorEntry> entries;
    for (auto [k, p] : cur) entries.push_back({SignerFor(k).public_key(), p});
    epochs_.push_back(Epoch{completed + delay, completed,
                            std::move(core::ValidatorSet::Create(std::move(entries)).value())});
    ++result_.set_changes;
    Trace(0, "plan: validators from h=" + std::to_string(completed + delay) + " (completed at " +
                 std::to_string(completed) + "): kind " + std::to_string(kind) + ", " +
                 std::to_string(cur.size()) + " validators, power " + std::to_string(total()));
    return completed + delay;
  };
  if (options_.twins > 0) {
    // The Twin of a leaving validator: a twinned validator (faulty, so the first one removal
    // picks) is removed while the partitions of the first heights still hold; then a validator
    // joins or changes its key. Delays of 3 as well as 2: with 2, a set is scheduled only when
    // the height before it is entered, so applying it a height early is only possible with 3.
    uint64_t at = schedule(plan.Between(1, 2), plan.Between(2, 3), 1);
    at = schedule(at, plan.Between(2, 3), plan.Chance(500'000) ? 0 : 3);
    // Every honest node must reach the last set, and commit a height under it.
    liveness_target_ = std::max(liveness_target_, at + 1);
    return;
  }
  uint64_t completed = plan.Between(1, 3);
  for (uint64_t c = plan.Between(1, 3); c > 0; --c) {
    const uint64_t from = schedule(completed, plan.Between(2, 4), static_cast<int>(plan.Below(4)));
    completed = from + plan.Below(2);
  }
  // Half the runs: the joiner's node comes up late, with an empty chain, and has to sync (by
  // fetching) before and perhaps after its set is in force.
  if (plan.Chance(500'000)) {
    SimEvent e;
    e.kind = SimEvent::Kind::kCrash;
    e.instance = instances_of_[joiner_].front();
    e.param = plan.Between(500, 6000);
    Push(0, e);
  }
}

void Simulation::Setup() {
  n_ = options_.validators;
  if (n_ == 0)
    n_ = options_.twins >= 2 ? 7 : (options_.twins == 1 ? 4 : (options_.seed % 2 ? 4 : 7));
  f_ = (n_ - 1) / 3;
  result_.validators = n_;
  std::vector<core::ValidatorEntry> entries;
  for (int v = 0; v < n_; ++v) entries.push_back({SignerFor(v).public_key(), 1});
  config_.chain_id = kChainId;
  config_.validators = std::move(core::ValidatorSet::Create(std::move(entries)).value());
  config_.check = CachedPolicyCheck;
  config_.max_block_bytes = kMaxBlockBytes;
  instances_of_.assign(kKeys, {});
  for (int v = 0; v < n_; ++v) {
    instances_.emplace_back();
    instances_.back().validator = v;
    instances_of_[v].push_back(v);
  }
  epochs_.push_back(Epoch{1, 0, config_.validators});
  switch (options_.set_changes) {
    case SimOptions::SetChanges::kMixed:
      changes_ = options_.seed % 3 == 0;
      break;
    case SimOptions::SetChanges::kAlways:
      changes_ = true;
      break;
    case SimOptions::SetChanges::kNever:
      changes_ = false;
      break;
  }
  if (options_.quorum_loss_ms > 0) changes_ = false;
  if (changes_) AddFollowers();
  if (options_.quorum_loss_ms > 0) {
    SetupQuorumLoss();
  } else if (options_.twins > 0) {
    SetupTwins();
  } else {
    SetupFaults();
  }
  if (changes_) PlanChanges();
  // Bounded memory: the bound of the largest set the run schedules.
  EngineConfig largest = config_;
  for (const Epoch& e : epochs_)
    if (e.set.size() > largest.validators.size()) largest.validators = e.set;
  limit_ = FootprintLimit(largest);
  blocked_.assign(instances_.size(), std::vector<bool>(instances_.size(), false));
  for (size_t i = 0; i < instances_.size(); ++i) {
    instances_[i].engine = MakeEngine(i);
    Trace(i, "start validator=" + std::to_string(instances_[i].validator) +
                 (instances_[i].twin ? " twin" : "") + (instances_[i].bad_app ? " bad-app" : "") +
                 " skew=" + std::to_string(instances_[i].skew_permille));
  }
}

void Simulation::SetupFaults() {
  // Network quality for the fault period; each seed draws its own mix.
  delay_min_ms_ = rng_.Between(1, 30);
  delay_jitter_ms_ = rng_.Between(0, 150);
  const uint64_t loss_levels[] = {0, 0, 10'000, 50'000, 150'000};
  const uint64_t dup_levels[] = {0, 20'000, 100'000};
  loss_ppm_ = loss_levels[rng_.Below(5)];
  dup_ppm_ = dup_levels[rng_.Below(3)];
  crash_point_ppm_ = rng_.Chance(500'000) ? rng_.Between(500, 4000) : 0;
  const bool skew = rng_.Chance(500'000);
  for (Instance& in : instances_) in.skew_permille = skew ? rng_.Between(900, 1100) : 1000;
  const uint64_t fault_ms = rng_.Between(2000, 10000);

  // Up to f validators are byzantine: a wiped signer state, or an application that lies.
  const uint64_t byzantine = rng_.Below(f_ + 1);
  std::vector<ValidatorIndex> order(n_);
  for (int v = 0; v < n_; ++v) order[v] = v;
  for (size_t k = order.size(); k > 1; --k) std::swap(order[k - 1], order[rng_.Below(k)]);
  for (uint64_t b = 0; b < byzantine; ++b) {
    Instance& in = instances_[order[b]];
    in.faulty = true;
    const uint64_t kind = rng_.Below(4);
    if (kind == 0) {
      in.bad_app = true;
    } else if (kind >= 2) {
      // A Byzantine actor with a seed-drawn set of attacks.
      in.attacks = static_cast<uint32_t>(rng_.Between(1, kAttackAll));
      equivocators_.insert(in.validator);
    } else {
      SimEvent e;
      e.kind = SimEvent::Kind::kCrash;
      e.instance = order[b];
      e.lost_state = true;
      e.param = rng_.Between(50, 2000);
      Push(rng_.Between(200, fault_ms), e);
    }
  }
  // Crashes of honest nodes (they come back with their signer state).
  for (uint64_t c = rng_.Below(4); c > 0; --c) {
    SimEvent e;
    e.kind = SimEvent::Kind::kCrash;
    e.instance = rng_.Below(n_);
    e.param = rng_.Between(100, 3000);
    Push(rng_.Between(0, fault_ms), e);
  }
  // Partitions: isolate the proposer, random splits, asymmetric links.
  for (uint64_t p = rng_.Below(5); p > 0; --p) {
    SimEvent e;
    e.kind = SimEvent::Kind::kPartition;
    e.param = rng_.Below(3);
    const uint64_t start = rng_.Between(0, fault_ms);
    Push(start, e);
    SimEvent end;
    end.kind = SimEvent::Kind::kPartitionEnd;
    Push(std::min(fault_ms, start + rng_.Between(300, 4000)), end);
  }
  SimEvent heal;
  heal.kind = SimEvent::Kind::kHeal;
  Push(fault_ms, heal);
}

void Simulation::SetupQuorumLoss() {
  // A sound network, and all validators honest: the only fault is the loss of a quorum.
  delay_min_ms_ = rng_.Between(1, 30);
  delay_jitter_ms_ = rng_.Between(0, 50);
  for (Instance& in : instances_) in.skew_permille = rng_.Between(950, 1050);
  std::vector<size_t> order(instances_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (size_t k = order.size(); k > 1; --k) std::swap(order[k - 1], order[rng_.Below(k)]);
  lost_.assign(order.begin(), order.begin() + f_ + 1);
  std::sort(lost_.begin(), lost_.end());
  freeze_ = rng_.Chance(500'000);
  result_.recovery_bound_ms =
      options_.recovery_bound_ms ? options_.recovery_bound_ms : QuorumLossBoundMs();
  const uint64_t start = rng_.Between(1000, 4000);
  SimEvent loss;
  loss.kind = SimEvent::Kind::kQuorumLoss;
  Push(start, loss);
  SimEvent heal;
  heal.kind = SimEvent::Kind::kHeal;
  Push(start + options_.quorum_loss_ms, heal);
}

void Simulation::SetupTwins() {
  const int pairs = options_.twins;
  delay_min_ms_ = rng_.Between(1, 10);
  delay_jitter_ms_ = rng_.Between(0, 40);
  // Which validators are twinned: the leader of one of the first rounds, or any validator.
  std::vector<ValidatorIndex> schedule = ProposerSchedule(config_.validators);
  while (static_cast<int>(twinned_.size()) < pairs) {
    const uint64_t pick = rng_.Below(kTwinsRounds + 1);
    ValidatorIndex v = pick < kTwinsRounds ? ProposerFor(schedule, 1, static_cast<uint32_t>(pick))
                                           : static_cast<ValidatorIndex>(rng_.Below(n_));
    twinned_.insert(v);
  }
  // Half the scenarios have the twins lie about the proof-of-lock round of fresh proposals.
  const uint32_t twin_attacks = rng_.Chance(500'000) ? kAttackLieVr : 0;
  for (ValidatorIndex v : twinned_) {
    equivocators_.insert(v);
    instances_[v].twin = true;
    instances_[v].faulty = true;
    instances_[v].attacks = twin_attacks;
    Instance copy;
    copy.validator = v;
    copy.twin = true;
    copy.faulty = true;
    copy.attacks = twin_attacks;
    instances_of_[v].push_back(instances_.size());
    instances_.push_back(std::move(copy));
  }
  // A partition of all instances into at most two groups for each (height, round, step) the
  // scenario controls; later messages travel freely. Tendermint has three message steps per
  // round (the Twins paper's DiemBFT has one), and locks only matter when a round's prevotes
  // and precommits reach different nodes, so each step gets its own partition.
  const size_t count = instances_.size();
  for (uint64_t k = 0; k < kTwinsHeights * kTwinsRounds * 3; ++k) {
    std::vector<int> groups(count, 0);
    const uint64_t shape = rng_.Below(4);
    if (shape == 1) {
      // Any split of the instances.
      for (size_t i = 0; i < count; ++i) groups[i] = static_cast<int>(rng_.Below(2));
    } else if (shape >= 2) {
      // The Twins shape: each copy of a twinned validator on its own side, honest nodes split.
      for (size_t i = 0; i < count; ++i) groups[i] = static_cast<int>(rng_.Below(2));
      for (ValidatorIndex v : twinned_) {
        groups[instances_of_[v][0]] = 0;
        groups[instances_of_[v][1]] = 1;
      }
    }
    twins_groups_.push_back(groups);
  }
  twins_until_ms_ = rng_.Between(3000, 8000);
  // Some scenarios restart one copy with a blank signer state: it forgets its lock and what it
  // signed, and signs again.
  if (rng_.Chance(333'333)) {
    SimEvent e;
    e.kind = SimEvent::Kind::kCrash;
    e.instance = instances_of_[*twinned_.begin()].back();
    e.param = rng_.Between(10, 500);
    e.lost_state = true;
    Push(rng_.Between(50, 1500), e);
  }
  // An honest validator crashes right after it precommits a block (so it is locked), up to
  // twice; it comes back with its signer state and lock, and must keep its lock.
  {
    std::vector<size_t> honest;
    for (size_t i = 0; i < instances_.size(); ++i)
      if (!instances_[i].twin) honest.push_back(i);
    instances_[honest[rng_.Below(honest.size())]].crash_after_lock = 2;
  }
  faults_active_ = false;  // No loss or duplication; the partitions are the faults.
  healed_ = true;
  liveness_target_ = kTwinsHeights + kLivenessHeights;
  liveness_deadline_ = 180'000;
}

bool Simulation::Connected(size_t from, size_t to, const Message* message) const {
  if (!twins_groups_.empty()) {
    if (!message) return true;
    auto [h, r, step] = HeightRoundStep(*message);
    // Partitions hold until the scenario's synchronous phase begins; after it, messages of
    // every round (rebroadcasts included) arrive, as partial synchrony requires.
    if (now_ < twins_until_ms_ && h >= 1 && h <= kTwinsHeights && r < kTwinsRounds) {
      const auto& g = twins_groups_[((h - 1) * kTwinsRounds + r) * 3 + step];
      return g[from] == g[to];
    }
    return true;
  }
  return !blocked_[from][to];
}

void Simulation::Send(size_t from, size_t to, const Message& message) {
  if (!Connected(from, to, &message)) return;
  if (faults_active_ && rng_.Chance(loss_ppm_)) return;
  PushEngine(now_ + delay_min_ms_ + rng_.Below(delay_jitter_ms_ + 1), to, ToEvent(message), false);
  if (faults_active_ && rng_.Chance(dup_ppm_))
    PushEngine(now_ + delay_min_ms_ + rng_.Below(2 * delay_jitter_ms_ + 1), to, ToEvent(message),
               false);
}

// No honest validator ever signs two different messages for one (height, round, step).
void Simulation::CheckSigned(size_t i, const Message& message) {
  const Instance& in = instances_[i];
  if (auto* p = std::get_if<Proposal>(&message)) proposed_.insert(p->block_id);
  if (in.twin || in.attacks) return;
  int step = 0;
  Hash256 id;
  uint64_t h = 0;
  uint32_t r = 0;
  const PublicKey& own = KeyOf(i);
  if (auto* p = std::get_if<Proposal>(&message)) {
    if (p->proposer != own) return;
    step = 1;
    id = p->block_id;
    h = p->height;
    r = p->round;
  } else if (auto* v = std::get_if<Vote>(&message)) {
    if (v->validator != own) return;  // Relayed, not signed here.
    step = v->type == VoteType::kPrevote ? 2 : 3;
    id = v->block_id;
    h = v->height;
    r = v->round;
  } else {
    return;
  }
  // An honest node signs only at heights whose set holds its key.
  if (!SetAt(h).IndexOf(own))
    Fail("validator " + std::to_string(in.validator) + " (node " + std::to_string(i) +
         ") signed at h=" + std::to_string(h) + ", where its key is not in the validator set");
  auto [it, inserted] = signed_.try_emplace({in.validator, h, r, step}, id);
  if (!inserted && it->second != id)
    Fail("double sign: validator " + std::to_string(in.validator) + " signed two different " +
         (step == 1   ? "proposals"
          : step == 2 ? "prevotes"
                      : "precommits") +
         " at h=" + std::to_string(h) + " r=" + std::to_string(r));
}

Proposal Simulation::SignProposal(ValidatorIndex v, Proposal p) const {
  p.proposer = SignerFor(v).public_key();
  p.signature = SignerFor(v).Sign(core::ProposalSignBytes(kChainId, p));
  return p;
}

Vote Simulation::SignVote(ValidatorIndex v, Vote vote) const {
  vote.validator = SignerFor(v).public_key();
  vote.signature = SignerFor(v).Sign(core::VoteSignBytes(kChainId, vote));
  return vote;
}

void Simulation::SendSigned(size_t from, const std::vector<size_t>& to, Message message) {
  if (auto* p = std::get_if<Proposal>(&message)) proposed_.insert(p->block_id);
  Trace(from, "> byzantine " + Describe(message) + " to " + std::to_string(to.size()));
  for (size_t j : to) Send(from, j, message);
}

void Simulation::Adversary(size_t i, const Message& message) {
  const Instance& in = instances_[i];
  const ValidatorIndex v = in.validator;
  const PublicKey& own = KeyOf(i);
  std::vector<size_t> all, side_a, side_b;
  for (size_t j = 0; j < instances_.size(); ++j) {
    if (j == i) continue;
    all.push_back(j);
    (rng_.Below(2) ? side_a : side_b).push_back(j);
  }
  const auto [h, r, step] = HeightRoundStep(message);
  Message out = message;
  std::optional<Message> second;  // Sent to side_b instead of `out`.
  if (auto* p = std::get_if<Proposal>(&message); p && p->proposer == own) {
    if ((in.attacks & kAttackLieVr) && p->round > 0 && rng_.Chance(500'000)) {
      // A block with a proof-of-lock round it has no polka for (the last round, so that it is
      // no older than anyone's lock): whoever prevotes it without checking the polka gives up
      // its lock (line 28).
      Proposal lie = *p;
      if (lie.pol_round) {
        const Block b = BuildFor(i, p->height, p->round, "/lie");
        lie.block_id = b.id;
        lie.block = b.data;
      }
      lie.pol_round = p->round - 1;
      out = SignProposal(v, lie);
    }
    if (in.attacks & kAttackEquivocate) {
      Proposal other = std::get<Proposal>(out);
      const Block b = BuildFor(i, p->height, p->round, "/twin");
      other.block_id = b.id;
      other.block = b.data;
      second = SignProposal(v, other);
    }
  } else if (auto* vote = std::get_if<Vote>(&message);
             vote && vote->validator == own && (in.attacks & kAttackDoubleVote)) {
    Vote other = *vote;
    other.block_id = core::IsNil(vote->block_id)
                         ? BuildFor(i, vote->height, vote->round, "/twin").id
                         : Hash256();
    second = SignVote(v, other);
  }
  if (second) {
    SendSigned(i, side_a, out);
    SendSigned(i, side_b, *second);
  } else if ((in.attacks & kAttackSelective) && rng_.Chance(500'000)) {
    SendSigned(i, side_a, out);
  } else {
    SendSigned(i, all, out);
  }
  auto random_id = [&] {
    std::string seed = std::to_string(rng_.Next());
    return core::Sha256Of(seed);
  };
  if ((in.attacks & kAttackFar) && rng_.Chance(100'000)) {
    // Far heights and rounds, validly signed; a certificate for a far height that cannot check.
    const uint64_t far = h + (uint64_t{1} << rng_.Between(1, 62));
    SendSigned(
        i, all,
        SignVote(
            v,
            Vote{
                far, static_cast<uint32_t>(rng_.Next()), VoteType::kPrevote, random_id(), {}, {}}));
    SendSigned(i, all,
               SignVote(v, Vote{h,
                                r + 33 + static_cast<uint32_t>(rng_.Below(1u << 30)),
                                VoteType::kPrecommit,
                                random_id(),
                                {},
                                {}}));
    if (!in.chain.empty()) {
      CommitCertificate c = in.chain.back().certificate;
      c.height = far;
      SendSigned(i, all, c);
    }
  }
  if ((in.attacks & kAttackFlood) && rng_.Chance(20'000)) {
    // Valid-looking votes for blocks nobody proposed, and forgeries in honest validators' names
    // at this height and the next.
    for (int k = 0; k < 12; ++k) {
      SendSigned(i, all,
                 SignVote(v, Vote{h,
                                  r + static_cast<uint32_t>(rng_.Below(3)),
                                  rng_.Below(2) ? VoteType::kPrevote : VoteType::kPrecommit,
                                  random_id(),
                                  {},
                                  {}}));
      const ValidatorIndex victim = static_cast<ValidatorIndex>(rng_.Below(n_));
      Vote forged{h + rng_.Below(2),
                  r,
                  VoteType::kPrevote,
                  random_id(),
                  SignerFor(victim).public_key(),
                  {}};
      for (auto& byte : forged.signature.bytes) byte = static_cast<uint8_t>(rng_.Next());
      SendSigned(i, all, forged);
    }
    Proposal forged{h + 1,
                    0,
                    std::nullopt,
                    random_id(),
                    Bytes(1024, 7),
                    SetAt(h + 1).at(ProposerFor(ProposerSchedule(SetAt(h + 1)), h + 1, 0)).key,
                    {}};
    for (auto& byte : forged.signature.bytes) byte = static_cast<uint8_t>(rng_.Next());
    SendSigned(i, all, forged);
  }
}

void Simulation::CheckFootprint(size_t i) {
  const Instance& in = instances_[i];
  if (!in.up || !in.engine) return;
  const EngineFootprint f = in.engine->Footprint();
  auto over = [&](const char* what, uint64_t have, uint64_t bound) {
    if (have > bound)
      Fail("bounded memory: node " + std::to_string(i) + " holds " + std::to_string(have) + " " +
           what + ", more than the limit of " + std::to_string(bound));
  };
  over("rounds", f.rounds, limit_.rounds);
  over("vote entries", f.vote_entries, limit_.vote_entries);
  over("blocks", f.blocks, limit_.blocks);
  over("block bytes", f.block_bytes, limit_.block_bytes);
  over("buffered messages", f.buffered, limit_.buffered);
  over("buffered bytes", f.buffered_bytes, limit_.buffered_bytes);
  over("other entries", f.other, limit_.other);
}

Block Simulation::BuildFor(size_t i, uint64_t height, uint32_t round, const std::string& tag) {
  const Instance& in = instances_[i];
  Hash256 prev = in.chain.empty() ? Hash256() : in.chain.back().block.id;
  if (in.bad_app) prev = core::Sha256Of("not the chain " + std::to_string(rng_.Next()));
  std::string s = "h=" + std::to_string(height) + ";prev=" + prev.Hex() +
                  ";by=" + std::to_string(in.validator) + "/" + std::to_string(round) + tag +
                  ";recs=";
  size_t taken = 0;
  const uint64_t ready = Submitted();
  for (uint64_t r = in.low_water; r <= ready && taken < kMaxBlockRecords; ++r) {
    if (in.records.count(r)) continue;
    s += (taken ? "," : "") + std::to_string(r);
    ++taken;
  }
  Block b{core::Sha256Of(s), Bytes(s.begin(), s.end())};
  return b;
}

bool Simulation::ValidFor(size_t i, uint64_t height, const Block& block) const {
  const Instance& in = instances_[i];
  if (core::Sha256Of(core::ByteSpan(block.data)) != block.id) return false;
  BlockInfo info = ParseBlock(block.data);
  if (!info.ok || info.height != height || height != in.chain.size() + 1) return false;
  const Hash256 tip = in.chain.empty() ? Hash256() : in.chain.back().block.id;
  if (info.prev != tip || info.records.size() > kMaxBlockRecords) return false;
  std::set<uint64_t> seen;
  for (uint64_t r : info.records) {
    if (r == 0 || r > Submitted() || in.records.count(r) || !seen.insert(r).second) return false;
  }
  return true;
}

void Simulation::OnCommit(size_t i, const CommitBlock& c) {
  Instance& in = instances_[i];
  const uint64_t h = c.certificate.height;
  if (h != in.chain.size() + 1) {
    Fail("node " + std::to_string(i) + " committed height " + std::to_string(h) + " after " +
         std::to_string(in.chain.size()));
    return;
  }
  // By the set of its height (the plan's, as every honest ledger knows it).
  core::Status s = core::VerifyCommitCertificate(SetAt(h), kChainId, c.certificate, h, c.block.id,
                                                 CachedPolicyCheck);
  if (!s.ok() && !options_.deployment_invariants_only) {
    Fail("node " + std::to_string(i) + " committed with a bad certificate: " + s.ToString());
    return;
  }
  BlockInfo info = ParseBlock(c.block.data);
  const Hash256 tip = in.chain.empty() ? Hash256() : in.chain.back().block.id;
  if (!info.ok || info.height != h || info.prev != tip) {
    Fail("node " + std::to_string(i) + " committed a block at height " + std::to_string(h) +
         " that does not extend its chain");
    return;
  }
  // Agreement: one block per height across all nodes (with at most f faulty, even the twins
  // cannot commit a second block).
  auto [it, first] = canonical_.try_emplace(h, c.block.id);
  if (!first && it->second != c.block.id) {
    Fail("agreement: node " + std::to_string(i) + " committed " + c.block.id.Hex().substr(0, 12) +
         " at height " + std::to_string(h) + " where another node committed " +
         it->second.Hex().substr(0, 12));
    return;
  }
  // Validity: the block was proposed and an honest node's application accepted it.
  if (!proposed_.count(c.block.id) || !validated_by_honest_.count(c.block.id)) {
    Fail("validity: node " + std::to_string(i) + " committed block " +
         c.block.id.Hex().substr(0, 12) + " at height " + std::to_string(h) +
         " that no honest node proposed and validated");
    return;
  }
  for (uint64_t r : info.records) {
    if (!in.records.insert(r).second) {
      Fail("record " + std::to_string(r) + " committed twice");
      return;
    }
  }
  while (in.records.count(in.low_water)) ++in.low_water;
  in.chain.push_back(c);
  if (options_.quorum_loss_ms > 0 && healed_ && !recovered_ && h > heal_top_) {
    recovered_ = true;
    result_.recovery_ms = now_ - heal_at_;
    Trace(0, "recovered after " + std::to_string(result_.recovery_ms) + " ms");
  }
  result_.heights = std::max(result_.heights, h);
  result_.max_round = std::max<uint64_t>(result_.max_round, c.certificate.round);
  CheckLiveness();
}

void Simulation::OnFetch(size_t i, const FetchBlocks& f) {
  if (f.peer_keys.empty()) return;
  const ValidatorIndex v = IdOf(f.peer_keys[rng_.Below(f.peer_keys.size())]);
  if (v >= kKeys) return;
  for (size_t j : instances_of_[v]) {
    if (j == i || !instances_[j].up || instances_[j].frozen_until > now_ ||
        !Connected(j, i, nullptr))
      continue;
    if (faults_active_ && rng_.Chance(loss_ppm_)) return;
    const auto& chain = instances_[j].chain;
    uint64_t at = now_ + delay_min_ms_ + rng_.Below(delay_jitter_ms_ + 1);
    for (uint64_t h = f.from_height;
         h <= f.to_height && h <= chain.size() && h < f.from_height + kMaxFetchBlocks; ++h) {
      PushEngine(at++, i, BlockFetched{chain[h - 1].block, chain[h - 1].certificate}, false);
    }
    return;
  }
}

void Simulation::Execute(size_t i, const Actions& actions) {
  std::vector<uint64_t> committed;  // Heights committed by these actions.
  for (const Action& a : actions) {
    if (failed_) return;
    Instance& in = instances_[i];
    Trace(i, "> " + Describe(a));
    bool crash_point = false;
    if (auto* b = std::get_if<Broadcast>(&a)) {
      CheckSigned(i, b->message);
      if (in.attacks) {
        Adversary(i, b->message);
      } else {
        for (size_t j = 0; j < instances_.size(); ++j)
          if (j != i) Send(i, j, b->message);
      }
      crash_point = true;
    } else if (auto* s = std::get_if<SendTo>(&a)) {
      for (size_t j : instances_of_.at(IdOf(s->key)))
        if (j != i) Send(i, j, s->message);
    } else if (auto* t = std::get_if<ScheduleTimeout>(&a)) {
      PushEngine(now_ + t->delay_ms * in.skew_permille / 1000, i, TimeoutFired{t->timeout}, true);
    } else if (auto* bb = std::get_if<BuildBlock>(&a)) {
      Block b = BuildFor(i, bb->height, bb->round);
      if (Honest(i)) validated_by_honest_.insert(b.id);
      PushEngine(now_ + rng_.Below(4), i, BlockBuilt{bb->height, bb->round, b}, true);
    } else if (auto* vb = std::get_if<ValidateBlock>(&a)) {
      const bool valid = ValidFor(i, vb->height, vb->block);
      if (valid && Honest(i)) validated_by_honest_.insert(vb->block.id);
      PushEngine(now_ + rng_.Below(4), i, BlockVerdict{vb->height, vb->block.id, valid}, true);
    } else if (auto* p = std::get_if<PersistSignerState>(&a)) {
      if (in.signer_state) {
        const SignerState& o = *in.signer_state;
        if (std::tie(p->state.height, p->state.round, p->state.step) <
            std::tie(o.height, o.round, o.step))
          Fail("signer state of node " + std::to_string(i) + " went backwards");
      }
      in.signer_state = p->state;
      crash_point = true;
    } else if (auto* l = std::get_if<PersistLock>(&a)) {
      in.lock = l->lock;
    } else if (auto* c = std::get_if<CommitBlock>(&a)) {
      OnCommit(i, *c);
      if (in.chain.size() == c->certificate.height) committed.push_back(c->certificate.height);
      crash_point = true;
    } else if (auto* f = std::get_if<FetchBlocks>(&a)) {
      OnFetch(i, *f);
    } else if (auto* e = std::get_if<ReportEvidence>(&a)) {
      if (!in.twin) {
        // Checked against the set of the offence's height.
        const core::Offence offence = core::OffenceOf(e->evidence);
        core::Status s =
            core::VerifyEvidence(SetAt(offence.height), kChainId, e->evidence, CachedPolicyCheck);
        const ValidatorIndex id = IdOf(offence.validator);
        if (!s.ok()) Fail("node " + std::to_string(i) + " reported bad evidence: " + s.ToString());
        if (!equivocators_.count(id))
          Fail("evidence from node " + std::to_string(i) + " names validator " +
               (id < kKeys ? std::to_string(id) : "?") + ", which never signed twice");
        ++result_.evidence;
      }
    }
    if (auto* b = std::get_if<Broadcast>(&a); b && in.crash_after_lock) {
      const Vote* v = std::get_if<Vote>(&b->message);
      if (v && v->type == VoteType::kPrecommit && !core::IsNil(v->block_id) &&
          v->validator == KeyOf(i)) {
        --in.crash_after_lock;
        Trace(i, "crash after lock");
        Crash(i, false, rng_.Between(10, 500));
        return;
      }
    }
    // Crash points: right after a vote leaves, after the signer state is written, after a
    // commit (reliability plan, T4).
    if (crash_point && faults_active_ && crash_point_ppm_ && !in.twin &&
        rng_.Chance(crash_point_ppm_)) {
      Trace(i, "crash point");
      Crash(i, false, rng_.Between(50, 2000));
      return;
    }
  }
  // As the driver does once the whole list has run: the sets the committed blocks scheduled.
  for (uint64_t h : committed) ScheduleAfterCommit(i, h);
}

void Simulation::Crash(size_t i, bool lost_state, uint64_t restart_after_ms) {
  Instance& in = instances_[i];
  if (!in.up) return;
  in.up = false;
  in.engine.reset();
  ++in.incarnation;
  ++result_.crashes;
  if (lost_state) {
    in.faulty = true;
    if (in.twin) {
      // A twin copy that forgets its lock and what it signed, and signs again.
      in.signer_state = SignerState{};
      in.lock.reset();
    } else {
      in.lock.reset();
      // A data folder restored from an old snapshot: older chain, no signer state.
      in.signer_state.reset();
      in.chain.resize(rng_.Below(in.chain.size() + 1));
      in.records.clear();
      for (const CommitBlock& c : in.chain)
        for (uint64_t r : ParseBlock(c.block.data).records) in.records.insert(r);
      in.low_water = 1;
      while (in.records.count(in.low_water)) ++in.low_water;
    }
  }
  Trace(i, std::string("crash") + (lost_state ? " lost-state" : "") +
               " chain=" + std::to_string(in.chain.size()));
  SimEvent e;
  e.kind = SimEvent::Kind::kRestart;
  e.instance = i;
  Push(now_ + restart_after_ms, e);
}

void Simulation::Restart(size_t i) {
  Instance& in = instances_[i];
  if (in.up) return;
  in.up = true;
  in.engine = MakeEngine(i);
  // The restarted engine must act on what was persisted: its lock, and no earlier round than
  // the one it last signed in.
  if (in.signer_state && in.signer_state->height == in.engine->height() &&
      !options_.deployment_invariants_only) {
    const SignerState& s = *in.signer_state;
    const LockState lock = in.engine->lock();
    if (!core::IsNil(s.lock_block_id) && s.lock_height == s.height &&
        (lock.locked_round != s.lock_round || lock.locked_block != s.lock_block_id))
      Fail("node " + std::to_string(i) + " restarted without its lock on " +
           s.lock_block_id.Hex().substr(0, 12) + " from round " + std::to_string(s.lock_round));
  }
  Trace(i, "restart chain=" + std::to_string(in.chain.size()));
  StartEngine(i);
}

void Simulation::Heal() {
  faults_active_ = false;
  healed_ = true;
  for (auto& row : blocked_) std::fill(row.begin(), row.end(), false);
  uint64_t top = 0;
  uint32_t max_round = 0;
  for (size_t i = 0; i < instances_.size(); ++i) {
    top = std::max<uint64_t>(top, instances_[i].chain.size());
    if (instances_[i].up) max_round = std::max(max_round, instances_[i].engine->round());
  }
  for (size_t i = 0; i < instances_.size(); ++i)
    if (!instances_[i].up) Restart(i);
  liveness_target_ = top + kLivenessHeights;
  heal_at_ = now_;
  heal_top_ = top;
  // Enough time for every round up to well past the current one, with the slowest clock.
  const TimeoutConfig& t = config_.timeouts;
  uint64_t window = 5000;
  for (uint64_t r = 0; r <= max_round + 2 * static_cast<uint64_t>(n_) + 4; ++r)
    window += t.propose_ms + t.prevote_ms + t.precommit_ms + 3 * r * t.delta_ms;
  liveness_deadline_ = now_ + window * 14 / 10 + kLivenessHeights * 2000;
  Trace(0, "heal target=" + std::to_string(liveness_target_) +
               " deadline=" + std::to_string(liveness_deadline_));
  CheckLiveness();
}

void Simulation::CheckLiveness() {
  if (!healed_) return;
  for (size_t i = 0; i < instances_.size(); ++i)
    if (Honest(i) && instances_[i].chain.size() < liveness_target_) return;
  done_ = true;
}

void Simulation::Handle(SimEvent& e) {
  switch (e.kind) {
    case SimEvent::Kind::kEngine: {
      Instance& in = instances_[e.instance];
      if (!in.up || (e.incarnation && *e.incarnation != in.incarnation)) return;
      if (in.frozen_until > now_) {
        // Stopped: timers and delivered messages wait, in order, until it runs again.
        Push(in.frozen_until, std::move(e));
        return;
      }
      Trace(e.instance, "< " + Describe(*e.event));
      Execute(e.instance, in.engine->Step(*e.event));
      CheckFootprint(e.instance);
      return;
    }
    case SimEvent::Kind::kCrash:
      if (faults_active_ || e.lost_state) Crash(e.instance, e.lost_state, e.param);
      return;
    case SimEvent::Kind::kRestart:
      Restart(e.instance);
      return;
    case SimEvent::Kind::kPartition: {
      if (!faults_active_) return;
      const size_t count = instances_.size();
      if (e.param == 0) {
        // Isolate the proposer of the most advanced honest node's current round.
        size_t lead = 0;
        for (size_t i = 0; i < count; ++i) {
          if (!instances_[i].up) continue;
          const Engine& en = *instances_[i].engine;
          if (!instances_[lead].up || std::make_pair(en.height(), en.round()) >
                                          std::make_pair(instances_[lead].engine->height(),
                                                         instances_[lead].engine->round()))
            lead = i;
        }
        if (!instances_[lead].up) return;
        const ValidatorIndex p = instances_[lead].engine->ProposerOf(
            instances_[lead].engine->height(), instances_[lead].engine->round());
        const Engine& lead_engine = *instances_[lead].engine;
        const ValidatorIndex p_id =
            IdOf(lead_engine.ValidatorSetAt(lead_engine.height()).at(p).key);
        for (size_t j : instances_of_.at(p_id))
          for (size_t k = 0; k < count; ++k) blocked_[j][k] = blocked_[k][j] = (j != k);
        Trace(0, "partition: isolate proposer " + std::to_string(p));
      } else if (e.param == 1) {
        std::vector<int> side(count);
        for (size_t i = 0; i < count; ++i) side[i] = static_cast<int>(rng_.Below(2));
        for (size_t a = 0; a < count; ++a)
          for (size_t b = 0; b < count; ++b) blocked_[a][b] = side[a] != side[b];
        Trace(0, "partition: random split");
      } else {
        for (size_t a = 0; a < count; ++a)
          for (size_t b = 0; b < count; ++b) blocked_[a][b] = a != b && rng_.Chance(300'000);
        Trace(0, "partition: asymmetric links");
      }
      return;
    }
    case SimEvent::Kind::kPartitionEnd:
      for (auto& row : blocked_) std::fill(row.begin(), row.end(), false);
      Trace(0, "partition ends");
      return;
    case SimEvent::Kind::kHeal:
      Heal();
      return;
    case SimEvent::Kind::kQuorumLoss: {
      std::string names;
      for (size_t i : lost_) {
        names += " " + std::to_string(i);
        if (freeze_) {
          instances_[i].frozen_until = now_ + options_.quorum_loss_ms;
        } else {
          for (size_t k = 0; k < instances_.size(); ++k) blocked_[i][k] = blocked_[k][i] = i != k;
        }
      }
      Trace(0, std::string(freeze_ ? "quorum loss: stop" : "quorum loss: cut off") + names);
      return;
    }
  }
}

SimResult Simulation::Run() {
  Setup();
  for (size_t i = 0; i < instances_.size(); ++i) StartEngine(i);
  while (!failed_ && !done_ && !queue_.empty()) {
    Queued q = std::move(const_cast<Queued&>(queue_.top()));
    queue_.pop();
    now_ = q.at;
    if (healed_ && now_ > liveness_deadline_) {
      std::string behind;
      for (size_t i = 0; i < instances_.size(); ++i)
        if (Honest(i) && instances_[i].chain.size() < liveness_target_)
          behind += " node " + std::to_string(i) + " at height " +
                    std::to_string(instances_[i].chain.size()) + " round " +
                    std::to_string(instances_[i].engine ? instances_[i].engine->round() : 0) + ";";
      Fail("liveness: after the faults stopped, not every honest node reached height " +
           std::to_string(liveness_target_) + ":" + behind);
      break;
    }
    if (options_.quorum_loss_ms > 0 && healed_ && !recovered_ &&
        now_ > heal_at_ + result_.recovery_bound_ms) {
      Fail("recovery: no new height committed within " + std::to_string(result_.recovery_bound_ms) +
           " ms of the quorum loss healing (" + (freeze_ ? "stopped" : "cut off") + " for " +
           std::to_string(options_.quorum_loss_ms) + " ms)");
      break;
    }
    if (++result_.events > kMaxEvents) {
      Fail("event budget exhausted");
      break;
    }
    Handle(q.event);
  }
  if (!failed_ && !done_) Fail("the simulation ran out of events before reaching liveness");
  result_.simulated_ms = now_;
  result_.trace_hash = hasher_.Finish();
  return result_;
}

}  // namespace

SimResult RunSimulation(const SimOptions& options) {
  Simulation sim(options);
  return sim.Run();
}

}  // namespace hallmark::sim
