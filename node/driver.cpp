#include "node/driver.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <chrono>
#include <deque>

#include "core/clock.h"
#include "core/codec.h"
#include "core/consensus_codec.h"
#include "core/crypto/sha256.h"
#include "core/limits.h"
#include "node/signer_state.h"
#include "proto/node.pb.h"

namespace hallmark::node {

namespace asio = boost::asio;
using core::Hash256;
using core::Status;

namespace {

constexpr uint32_t kMaxBlocksPerResponse = 64;
constexpr uint64_t kMaxResponseBytes = 16ull << 20;
constexpr uint64_t kFetchRetryMs = 2000;
// Catching up: heights asked for beyond the head at most, and the bytes of fetched blocks that
// may wait for their turn before no more are asked for (requests in flight still arrive: at
// most FetchPlannerLimits::max_in_flight responses of kMaxResponseBytes).
constexpr uint64_t kMaxFetchAhead = 256;
constexpr size_t kMaxFetchedBytes = 64u << 20;

std::string EncodeLock(const consensus::LockRecord& l) {
  pb::LockRecordProto r;
  r.set_height(l.height);
  r.set_round(l.round);
  r.set_block_id(std::string(l.block.id.view()));
  r.set_block(core::ToString(l.block.data));
  for (const auto& v : l.polka) *r.add_polka() = core::ToProto(v);
  return core::SerializeDeterministic(r);
}

core::Result<consensus::LockRecord> DecodeLock(const std::string& bytes) {
  pb::LockRecordProto r;
  HM_RETURN_IF_ERROR(core::ParseStrict(bytes, &r, "lock record"));
  auto id = Hash256::FromBytes(r.block_id());
  if (!id) return Status::Corruption("lock record is malformed");
  consensus::LockRecord l;
  l.height = r.height();
  l.round = r.round();
  l.block.id = *id;
  l.block.data.assign(r.block().begin(), r.block().end());
  for (const auto& v : r.polka()) {
    auto vote = core::FromProto(v);
    if (!vote.ok()) return Status::Corruption("lock record vote: " + vote.status().message());
    l.polka.push_back(*vote);
  }
  return l;
}

}  // namespace

ConsensusDriver::ConsensusDriver(asio::io_context& io, const core::Network& network,
                                 storage::Ledger* ledger, Mempool* mempool, PeerSender* peers,
                                 const consensus::VoteSigner* signer, MetricsRegistry* metrics,
                                 DriverOptions options)
    : options_(options),
      io_(io),
      strand_(asio::make_strand(io)),
      network_(network),
      ledger_(ledger),
      mempool_(mempool),
      peers_(peers),
      signer_(signer),
      metrics_(metrics),
      evidence_(network, ledger, core::limits::kMaxPendingEvidence, options_.network_state) {
  height_gauge_ = &metrics_->GetGauge("hallmark_height", "Height of the latest committed block.");
  commit_latency_ = &metrics_->GetHistogram("hallmark_commit_latency_seconds",
                                            "Time from entering a height to committing it.",
                                            kLatencyBucketsSeconds);
  rounds_ = &metrics_->GetCounter("hallmark_consensus_round_changes_total",
                                  "Rounds entered after the first of a height.");
  evidence_committed_ = &metrics_->GetGauge("hallmark_evidence_committed",
                                            "Pieces of equivocation evidence committed in blocks.");
  evidence_pending_ = &metrics_->GetGauge("hallmark_evidence_pending",
                                          "Verified evidence waiting for a block on this node.");
  using R = EvidencePool::AddResult;
  for (R r : {R::kAdded, R::kKnown, R::kCommitted, R::kTooOld, R::kInvalid, R::kFull}) {
    evidence_received_[r] = &metrics_->GetCounter(
        "hallmark_evidence_received_total",
        "Evidence reported by this node's engine or received from peers, by outcome.",
        {{"outcome", std::string(EvidencePool::AddResultName(r))}});
  }
}

ConsensusDriver::~ConsensusDriver() {
  Stop();
}

void ConsensusDriver::PreVerifyRecords(const pb::Block& block) {
  std::vector<const pb::Envelope*> envs;
  envs.reserve(static_cast<size_t>(block.records_size()));
  for (const pb::Envelope& env : block.records()) envs.push_back(&env);
  mempool_->PreVerify(envs);
}

uint64_t ConsensusDriver::NowMs() const {
  return core::UnixTimeMs();
}

WatermarkOwner ConsensusDriver::WatermarkOwnerOf() const {
  return WatermarkOwner{network_.chain_id(), signer_->public_key()};
}

core::Result<std::optional<consensus::SignerState>> ConsensusDriver::LoadSignerState() {
  std::optional<consensus::SignerState> data_folder;
  auto bytes = ledger_->GetLocal("signer");
  if (!bytes.ok()) return bytes.status();
  if (bytes->has_value()) {
    auto state = DecodeSignerState(**bytes);
    if (!state.ok()) return state.status();
    data_folder = *state;
  }
  if (!signer_) return data_folder;  // An observer signs nothing.
  const std::string file = options_.signer_watermark.string();
  SignerStateChoice choice;
  if (options_.signer_watermark.empty()) {
    // No watermark configured (the driver's own tests): the data folder alone decides.
    choice = data_folder ? SignerStateChoice{SignerStateSource::kBothAgree, data_folder, false}
                         : SignerStateChoice{};
  } else {
    auto read = ReadWatermarkFile(options_.signer_watermark, WatermarkOwnerOf());
    if (!read.ok()) return read.status().WithContext("signer watermark");
    std::optional<consensus::SignerState> watermark;
    if (read->has_value()) {
      watermark = (*read)->state;
      restored_ = (*read)->restored;
    }
    choice = ChooseSignerState(watermark, data_folder);
    if (restored_) {
      spdlog::warn(
          "signer state: the watermark {} was restored from a backup of height {}: this key may "
          "have signed after the backup, so this validator signs nothing until it has seen a "
          "live commit and the network has committed two more heights (double-sign check); "
          "never run the validator's old copy too",
          file, restored_->from_height);
    }
  }
  switch (choice.source) {
    case SignerStateSource::kBothAgree:
      break;
    case SignerStateSource::kWatermark:
      spdlog::warn(
          "signer state: the data folder's is {} and the watermark {} is ahead of it ({}): the "
          "data folder was restored from an older copy or wiped (or the node stopped between "
          "the two writes). Using the watermark: this validator signs nothing at or below it",
          data_folder ? DescribeSignerState(*data_folder) : "missing", file,
          DescribeSignerState(*choice.state));
      break;
    case SignerStateSource::kDataFolder:
      spdlog::warn(
          "signer state: the watermark {} is behind the data folder's ({}): an older copy of the "
          "file? Using the data folder's and rewriting the watermark",
          file, DescribeSignerState(*choice.state));
      break;
    case SignerStateSource::kAbstainNoMark:
      spdlog::warn(
          "signer state: no watermark at {}, and the data folder's ({}) may be an old copy: "
          "this validator will not vote until it has caught up and seen the network commit past "
          "any height it may have signed (double-sign check). The watermark is written again at "
          "the next signature. When moving a validator, move signer_state.json with node.key "
          "(docs/operations.md)",
          file, DescribeSignerState(*data_folder));
      break;
    case SignerStateSource::kAbstainNone:
      spdlog::warn(
          "signer state: none in the data folder (wiped or restored?) and no watermark{}{}: this "
          "validator will not vote until it has caught up and seen the network commit past any "
          "height it may have signed (double-sign check)",
          file.empty() ? "" : " at ", file);
      break;
    case SignerStateSource::kAbstainConflict:
      spdlog::error(
          "signer state: the watermark {} and the data folder disagree at the same height, round "
          "and step ({}): this key has signed in two places (did a copy of this validator run "
          "elsewhere?). Not voting until the double-sign check passes; make sure only one copy "
          "of this validator runs (docs/operations.md)",
          file, DescribeSignerState(*data_folder));
      break;
  }
  if (choice.rewrite_watermark) {
    HM_RETURN_IF_ERROR(
        WriteWatermark(options_.signer_watermark, WatermarkOwnerOf(), *choice.state, restored_)
            .WithContext("signer watermark"));
  }
  return choice.state;
}

std::shared_ptr<const core::NetworkState> ConsensusDriver::NetworkState() const {
  if (options_.network_state) return options_.network_state();
  return genesis_state_;
}

void ConsensusDriver::ScheduleNewEpochs(std::vector<consensus::Event>* events) {
  const std::shared_ptr<const core::NetworkState> state = NetworkState();
  for (const core::ValidatorEpoch& epoch : state->validator_epochs()) {
    if (epoch.from_height <= scheduled_to_) continue;
    auto set = core::ToValidatorSet(epoch);
    if (!set.ok()) {
      Fatal("the validator set scheduled from height " + std::to_string(epoch.from_height) +
            " is not a valid set: " + set.status().ToString());
      return;
    }
    const bool mine = signer_ && set->IndexOf(signer_->public_key()).has_value();
    spdlog::info(
        "validator set from height {}: {} validators, total power {}{}", epoch.from_height,
        set->size(), set->total_power(),
        signer_ ? (mine ? "; this node's key is in it" : "; this node's key is not in it") : "");
    scheduled_to_ = epoch.from_height;
    events->push_back(consensus::ScheduleValidators{epoch.from_height, std::move(set).value()});
  }
}

Status ConsensusDriver::Start() {
  if (!options_.network_state)
    genesis_state_ =
        std::make_shared<const core::NetworkState>(core::NetworkState::FromGenesis(network_));
  const std::shared_ptr<const core::NetworkState> state = NetworkState();
  // The engine starts with the set of the height it enters; later sets are scheduled at once.
  const uint64_t first = ledger_->height() + 1;
  auto set = core::ToValidatorSet(state->ValidatorSetAt(first));
  if (!set.ok())
    return set.status().WithContext("the validator set of height " + std::to_string(first));
  scheduled_to_ = first;

  consensus::EngineConfig config;
  config.chain_id = network_.chain_id();
  config.validators = std::move(set).value();
  const auto& p = network_.genesis().consensus();
  config.timeouts = consensus::TimeoutConfig{p.timeout_propose_ms(), p.timeout_prevote_ms(),
                                             p.timeout_precommit_ms(), p.timeout_delta_ms()};
  if (p.timeout_max_growth_ms() != 0) config.timeouts.max_growth_ms = p.timeout_max_growth_ms();
  config.max_block_bytes = network_.max_block_bytes();
  consensus::EngineStart start;
  start.committed_height = ledger_->height();
  auto signer_state = LoadSignerState();
  if (!signer_state.ok()) return signer_state.status();
  start.signer_state = std::move(signer_state).value();
  last_signed_ = start.signer_state;
  start.abstain = restored_.has_value();
  auto lock_bytes = ledger_->GetLocal("lock");
  if (!lock_bytes.ok()) return lock_bytes.status();
  if (lock_bytes->has_value()) {
    auto lock = DecodeLock(**lock_bytes);
    if (!lock.ok()) return lock.status();
    start.lock = std::move(lock).value();
  }
  engine_ = std::make_unique<consensus::Engine>(std::move(config), signer_, std::move(start));
  height_gauge_->Set(static_cast<double>(ledger_->height()));
  evidence_committed_->Set(static_cast<double>(ledger_->committed_evidence_count()));
  build_timer_ = std::make_unique<asio::steady_timer>(strand_);
  Post([this] {
    height_started_ = std::chrono::steady_clock::now();
    Execute(engine_->Start());
    std::vector<consensus::Event> schedules;
    ScheduleNewEpochs(&schedules);
    for (const consensus::Event& e : schedules) Handle(e);
  });
  return Status::Ok();
}

void ConsensusDriver::Stop() {
  if (stopped_.exchange(true)) return;
  // Timers are cancelled on the strand so that no handler runs concurrently with the cancel.
  // Shared: if the wait below times out, the handler may still run later.
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  asio::post(strand_, [this, done] {
    for (auto& [key, timer] : timers_) timer->cancel();
    if (build_timer_) build_timer_->cancel();
    done->set_value();
  });
  if (!io_.stopped()) fut.wait_for(std::chrono::seconds(2));
}

void ConsensusDriver::Post(std::function<void()> fn) {
  asio::post(strand_, [this, fn = std::move(fn)] {
    if (!stopped_.load()) fn();
  });
}

void ConsensusDriver::AddCommitListener(CommitListener listener) {
  Post([this, listener = std::move(listener)]() mutable {
    listeners_.push_back(std::move(listener));
  });
}

void ConsensusDriver::Handle(const consensus::Event& event) {
  Execute(engine_->Step(event));
}

void ConsensusDriver::Execute(consensus::Actions actions) {
  // Actions run in the order given; events they produce (verdicts, built blocks) are fed back
  // only after the whole list has run, as the engine expects.
  std::vector<consensus::Event> events;
  for (const consensus::Action& action : actions) {
    if (stopped_.load()) return;
    Do(action, &events);
  }
  abstaining_.store(engine_->abstaining());
  if (restored_ && signer_ && !engine_->abstaining()) {
    // The double-sign check has passed: the watermark no longer needs its restore mark.
    Status st =
        WriteWatermark(options_.signer_watermark, WatermarkOwnerOf(), engine_->signer_state());
    if (!st.ok()) Fatal("cannot write the signer watermark: " + st.ToString());
    spdlog::info(
        "signer state: the double-sign check after the restore has passed; the "
        "watermark's restore mark is cleared");
    restored_.reset();
  }
  engine_height_.store(engine_->height());
  voting_.store(signer_ && engine_->my_index() && !engine_->abstaining());
  for (const consensus::Event& event : events) Handle(event);
}

void ConsensusDriver::Do(const consensus::Action& action, std::vector<consensus::Event>* out) {
  std::visit(
      [&](const auto& a) {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, consensus::Broadcast>) {
          SendMessage(a.message, nullptr);
        } else if constexpr (std::is_same_v<T, consensus::SendTo>) {
          // By key: the index is of the set of the height the engine was at when it sent it.
          SendMessage(a.message, &a.key);
        } else if constexpr (std::is_same_v<T, consensus::ScheduleTimeout>) {
          Schedule(a.timeout, a.delay_ms);
        } else if constexpr (std::is_same_v<T, consensus::BuildBlock>) {
          DoBuild(a, out);
        } else if constexpr (std::is_same_v<T, consensus::ValidateBlock>) {
          DoValidate(a, out);
        } else if constexpr (std::is_same_v<T, consensus::PersistSignerState>) {
          // The watermark first: after a crash between the two writes it is the newer one,
          // which is what LoadSignerState expects of a restored data folder too.
          if (!options_.signer_watermark.empty()) {
            Status st = WriteWatermark(options_.signer_watermark, WatermarkOwnerOf(), a.state);
            if (!st.ok()) Fatal("cannot write the signer watermark: " + st.ToString());
          }
          Status st = ledger_->PutLocal("signer", EncodeSignerState(a.state));
          if (!st.ok()) Fatal("cannot persist the signer state: " + st.ToString());
          last_signed_ = a.state;
        } else if constexpr (std::is_same_v<T, consensus::PersistLock>) {
          Status st = ledger_->PutLocal("lock", EncodeLock(a.lock));
          if (!st.ok()) Fatal("cannot persist the lock: " + st.ToString());
        } else if constexpr (std::is_same_v<T, consensus::CommitBlock>) {
          DoCommit(a);
          // The block may have scheduled validator sets; the engine hears of them after this
          // list, before any other message (delay >= 2: none is for the height it just entered).
          ScheduleNewEpochs(out);
        } else if constexpr (std::is_same_v<T, consensus::FetchBlocks>) {
          DoFetch(a);
        } else if constexpr (std::is_same_v<T, consensus::ReportEvidence>) {
          const pb::Evidence ev = core::ToProto(a.evidence);
          const std::string bytes = core::SerializeDeterministic(ev);
          Status st = ledger_->PutEvidence(core::Sha256Of(std::string_view(bytes)), bytes);
          const core::Offence offence = core::OffenceOf(a.evidence);
          spdlog::warn("evidence of equivocation ({}) by validator {}: {}",
                       core::OffenceKindName(offence.kind), offence.validator.Hex().substr(0, 16),
                       st.ok() ? "stored" : st.ToString());
          AddEvidence(a.evidence, "this node");
        } else if constexpr (std::is_same_v<T, consensus::Log>) {
          spdlog::info("consensus: {}", a.message);
        }
      },
      action);
}

void ConsensusDriver::SendMessage(const consensus::Message& message, const core::PublicKey* to) {
  pb::PeerMessage msg;
  pb::ConsensusMessage* cm = msg.mutable_consensus();
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, core::Proposal>) {
          *cm->mutable_proposal() = core::ToProto(m);
        } else if constexpr (std::is_same_v<T, core::Vote>) {
          *cm->mutable_vote() = core::ToProto(m);
        } else {
          *cm->mutable_certificate() = core::ToProto(m);
        }
      },
      message);
  if (to) {
    peers_->Send(*to, msg);
  } else {
    peers_->Broadcast(msg);
  }
}

void ConsensusDriver::Schedule(const consensus::Timeout& timeout, uint64_t delay_ms) {
  // With nothing to propose, the proposer makes an empty block only once the idle interval has
  // passed (BuildDelayMs), so round 0's propose timeout waits that long as well. The first
  // record admitted re-arms it at its normal length (OnRecordsAvailable), so a silent proposer
  // still costs only the usual timeout once there is work.
  // The flag is raised before the pool is looked at, so an admission either lands before the
  // look or sees the flag (as with build_wait_).
  if (timeout.kind == consensus::TimeoutKind::kPropose && timeout.round == 0) {
    idle_propose_ = timeout;
    idle_propose_armed_.store(true);
    if (mempool_->stats().records == 0) {
      delay_ms += IdleRemainingMs();
    } else {
      idle_propose_.reset();
      idle_propose_armed_.store(false);
    }
  } else if (timeout.kind == consensus::TimeoutKind::kPropose) {
    idle_propose_.reset();
    idle_propose_armed_.store(false);
  }
  // Every round starts by scheduling its propose timeout, once.
  if (timeout.kind == consensus::TimeoutKind::kPropose && timeout.round > 0) rounds_->Inc();
  auto key = std::make_tuple(timeout.height, timeout.round, static_cast<int>(timeout.kind));
  auto timer = std::make_unique<asio::steady_timer>(strand_);
  timer->expires_after(std::chrono::milliseconds(delay_ms));
  timer->async_wait([this, timeout, key](const boost::system::error_code& ec) {
    if (ec || stopped_.load()) return;
    timers_.erase(key);
    Handle(consensus::TimeoutFired{timeout});
  });
  timers_[key] = std::move(timer);
  // Timers of heights already passed are dropped (their handlers see operation_aborted), except
  // the double-sign check's, which spans heights.
  for (auto it = timers_.begin();
       it != timers_.end() && std::get<0>(it->first) + 1 < engine_->height();) {
    if (std::get<2>(it->first) == static_cast<int>(consensus::TimeoutKind::kDoubleSignCheck)) {
      ++it;
      continue;
    }
    it->second->cancel();
    it = timers_.erase(it);
  }
}

uint64_t ConsensusDriver::IdleRemainingMs() const {
  const auto since = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - height_started_)
                         .count();
  const uint64_t idle = network_.idle_block_interval_ms();
  if (since < 0) return idle;
  return static_cast<uint64_t>(since) >= idle ? 0 : idle - static_cast<uint64_t>(since);
}

uint64_t ConsensusDriver::BuildAtOnceRecords() const {
  const uint64_t full = network_.max_block_records();
  if (options_.block_batch_records == 0) return full;
  return std::min<uint64_t>(full, options_.block_batch_records);
}

uint64_t ConsensusDriver::BuildDelayMs(uint64_t pending_records) const {
  // Never so long that the others' propose timeout could expire first.
  const uint64_t cap = network_.genesis().consensus().timeout_propose_ms() / 2;
  // With nothing to propose, make an empty block only when the idle interval has passed since
  // the last commit: often enough that a recent certified head exists for verifiers' freshness
  // limit, rarely enough that an idle chain does not fill the disk. The others' round-0 propose
  // timeout is stretched by the same interval (Schedule).
  if (pending_records == 0) return IdleRemainingMs();
  // With some, wait until the block interval has passed since the last commit, unless a full
  // block is already waiting: every block costs each validator signatures, synced writes and
  // messages whatever its size, so small blocks in quick succession waste the CPU that records
  // need.
  if (options_.block_interval_ms == 0 || pending_records >= BuildAtOnceRecords()) return 0;
  const auto since = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - height_started_)
                         .count();
  if (since < 0 || static_cast<uint64_t>(since) >= options_.block_interval_ms) return 0;
  return std::min<uint64_t>(options_.block_interval_ms - static_cast<uint64_t>(since), cap);
}

void ConsensusDriver::DoBuild(const consensus::BuildBlock& a,
                              std::vector<consensus::Event>* events) {
  // Raised before the pool is looked at: see build_wait_.
  build_wait_.store(BuildWait::kForRecords);
  if (waiting_build_) return BuildNow(a, events);
  const uint64_t records = mempool_->stats().records;
  const uint64_t delay_ms = BuildDelayMs(records);
  if (delay_ms == 0) return BuildNow(a, events);
  if (records > 0) build_wait_.store(BuildWait::kForInterval);
  WaitToBuild(a, delay_ms);
}

void ConsensusDriver::WaitToBuild(const consensus::BuildBlock& a, uint64_t delay_ms) {
  waiting_build_ = a;
  build_timer_->expires_after(std::chrono::milliseconds(delay_ms));
  build_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_.load() || !waiting_build_) return;
    consensus::BuildBlock pending = *waiting_build_;
    std::vector<consensus::Event> evs;
    BuildNow(pending, &evs);
    for (const auto& e : evs) Handle(e);
  });
}

void ConsensusDriver::OnRecordsAvailable() {
  if (idle_propose_armed_.exchange(false)) {
    Post([this] {
      if (!idle_propose_) return;
      const consensus::Timeout t = *idle_propose_;
      idle_propose_.reset();
      const auto key = std::make_tuple(t.height, t.round, static_cast<int>(t.kind));
      // Only while that timeout is still pending: once fired, the engine has moved on.
      auto pending = timers_.find(key);
      if (t.height != engine_->height() || engine_->round() != 0 || pending == timers_.end()) {
        return;
      }
      // The normal timeout from now, but never later than the stretched one would have fired.
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            pending->second->expiry() - std::chrono::steady_clock::now())
                            .count();
      const uint64_t normal = network_.genesis().consensus().timeout_propose_ms();
      Schedule(t, left <= 0 ? 0 : std::min<uint64_t>(normal, static_cast<uint64_t>(left)));
    });
  }
  switch (build_wait_.load()) {
    case BuildWait::kNone:
      return;
    case BuildWait::kForRecords:
      break;
    case BuildWait::kForInterval:
      // Only a full block, or a batch, cuts the interval short.
      if (mempool_->stats().records < BuildAtOnceRecords()) return;
      break;
  }
  Post([this] {
    if (!waiting_build_) return;
    const uint64_t delay_ms = BuildDelayMs(std::max<uint64_t>(1, mempool_->stats().records));
    if (delay_ms > 0) {
      // The pool is no longer empty: from now on the block interval decides when to build.
      if (build_wait_.exchange(BuildWait::kForInterval) == BuildWait::kForRecords) {
        WaitToBuild(*waiting_build_, delay_ms);
      }
      return;
    }
    build_timer_->cancel();
    consensus::BuildBlock pending = *waiting_build_;
    std::vector<consensus::Event> evs;
    BuildNow(pending, &evs);
    for (const auto& e : evs) Handle(e);
  });
}

void ConsensusDriver::BuildNow(const consensus::BuildBlock& a,
                               std::vector<consensus::Event>* events) {
  waiting_build_.reset();
  build_wait_.store(BuildWait::kNone);
  if (a.height != ledger_->height() + 1 || !signer_) return;  // A stale request.
  pb::ChainHead head = ledger_->head();
  uint64_t time_ms = std::max(NowMs(), head.time_ms() + 1);
  auto candidates = mempool_->Take(network_.max_block_records(), network_.max_block_bytes() - 4096);
  Hash256 proposer = Hash256::FromSpan(signer_->public_key().span());
  const std::vector<pb::Evidence> evidence = evidence_.Pending(core::limits::kMaxEvidencePerBlock);
  auto built = ledger_->BuildBlock(candidates, time_ms, proposer, mempool_->CachedSignatureCheck(),
                                   evidence);
  if (!built.ok()) {
    Fatal("building block " + std::to_string(a.height) + ": " + built.status().ToString());
    return;
  }
  for (const auto& why : built->dropped_evidence)
    spdlog::info("proposer dropped evidence: {}", why);
  for (const auto& d : built->dropped) {
    spdlog::debug("proposer dropped record {}: {}", d.record_id.Hex().substr(0, 16),
                  d.rejection.ToString());
  }
  consensus::Block block;
  block.id = built->hash;
  std::string bytes = core::SerializeDeterministic(built->block);
  block.data.assign(bytes.begin(), bytes.end());
  prepared_.insert_or_assign(built->hash, std::move(built).value());
  events->push_back(consensus::BlockBuilt{a.height, a.round, std::move(block)});
}

void ConsensusDriver::DoValidate(const consensus::ValidateBlock& a,
                                 std::vector<consensus::Event>* events) {
  consensus::BlockVerdict verdict{a.height, a.block.id, false};
  if (prepared_.contains(a.block.id)) {
    verdict.valid = true;
    events->push_back(verdict);
    return;
  }
  pb::Block block;
  if (a.height != ledger_->height() + 1 || a.block.data.size() > network_.max_block_bytes() ||
      !block.ParseFromArray(a.block.data.data(), static_cast<int>(a.block.data.size())) ||
      core::Sha256Of(std::string_view(block.header())) != a.block.id) {
    spdlog::info("proposal for height {}: block does not parse or does not match its id", a.height);
    events->push_back(verdict);
    return;
  }
  PreVerifyRecords(block);
  auto prepared = ledger_->ValidateBlock(block, mempool_->CachedSignatureCheck());
  if (!prepared.ok()) {
    if (prepared.status().code() != core::StatusCode::kInvalidInput) {
      Fatal("validating block " + std::to_string(a.height) + ": " + prepared.status().ToString());
      return;
    }
    spdlog::info("proposal for height {} rejected: {}", a.height, prepared.status().message());
    events->push_back(verdict);
    return;
  }
  // Honest validators never prevote a block dated beyond the genesis' skew allowance, so a
  // certified header is never further ahead of real time: verifiers rely on it (docs/proofs.md).
  if (prepared->header.time_ms() > NowMs() + network_.max_clock_skew_ms()) {
    spdlog::info(
        "proposal for height {} rejected: its time is {} ms ahead of this node's clock, more "
        "than the {} ms the genesis allows (is this node's clock right?)",
        a.height, prepared->header.time_ms() - NowMs(), network_.max_clock_skew_ms());
    events->push_back(verdict);
    return;
  }
  prepared_.insert_or_assign(a.block.id, std::move(prepared).value());
  verdict.valid = true;
  events->push_back(verdict);
}

void ConsensusDriver::DoCommit(const consensus::CommitBlock& a) {
  if (a.certificate.height != ledger_->height() + 1) {
    spdlog::debug("ignoring commit of height {} at head {}", a.certificate.height,
                  ledger_->height());
    return;
  }
  auto it = prepared_.find(a.block.id);
  std::optional<storage::PreparedBlock> fresh;
  const storage::PreparedBlock* prepared = nullptr;
  if (it != prepared_.end()) {
    prepared = &it->second;
  } else {
    // A fetched block was parsed once on arrival and its records' signatures checked on the
    // verifier's workers; every record is still checked, here or there.
    auto f = fetched_.find(a.certificate.height);
    const bool was_fetched = f != fetched_.end() && f->second.id == a.block.id;
    pb::Block parsed;
    if (!was_fetched &&
        (!parsed.ParseFromArray(a.block.data.data(), static_cast<int>(a.block.data.size())) ||
         core::Sha256Of(std::string_view(parsed.header())) != a.block.id)) {
      Fatal("a certified block does not parse: the network committed garbage?");
      return;
    }
    if (!was_fetched) PreVerifyRecords(parsed);
    auto p = was_fetched
                 ? ledger_->ValidateBlock(*f->second.block, VerifiedOrCheck(f->second.verified))
                 : ledger_->ValidateBlock(parsed, mempool_->CachedSignatureCheck());
    if (!p.ok()) {
      Fatal("certified block " + std::to_string(a.certificate.height) +
            " fails validation here: " + p.status().ToString());
      return;
    }
    fresh = std::move(p).value();
    prepared = &*fresh;
  }
  Status st = ledger_->Commit(*prepared, core::EncodeCertificate(a.certificate));
  if (!st.ok()) {
    Fatal("committing block " + std::to_string(a.certificate.height) + ": " + st.ToString());
    return;
  }
  const pb::Block committed = prepared->block;
  const uint64_t height = a.certificate.height;
  prepared_.clear();
  waiting_build_.reset();
  build_wait_.store(BuildWait::kNone);
  mempool_->OnCommitted(committed, NowMs());
  evidence_.OnCommitted(committed, height);
  evidence_pending_->Set(static_cast<double>(evidence_.size()));
  evidence_committed_->Set(static_cast<double>(ledger_->committed_evidence_count()));
  if (committed.evidence_size() > 0) {
    spdlog::warn("block {} commits {} piece(s) of equivocation evidence", height,
                 committed.evidence_size());
  }
  auto now = std::chrono::steady_clock::now();
  commit_latency_->Observe(std::chrono::duration<double>(now - height_started_).count());
  height_started_ = now;
  height_gauge_->Set(static_cast<double>(height));
  for (auto& listener : listeners_) listener(committed, height);
  spdlog::debug("committed height {} ({} records, round {})", height, committed.records_size(),
                a.certificate.round);
}

void ConsensusDriver::DoFetch(const consensus::FetchBlocks& a) {
  // The engine's peers signed a certificate or votes at to_height: they have the blocks.
  for (const core::PublicKey& key : a.peer_keys) {
    uint64_t& height = peer_heights_[key];
    height = std::max(height, a.to_height);
  }
  fetch_target_ = std::max(fetch_target_, a.to_height);
  PumpFetches();
}

void ConsensusDriver::CatchUp() {
  PumpFetches();
}

void ConsensusDriver::PumpFetches() {
  if (!engine_) return;
  const uint64_t head = ledger_->height();
  uint64_t target = fetch_target_;
  uint64_t best = 0;
  for (const auto& [key, height] : peer_heights_) best = std::max(best, height);
  // One height ahead is routine (a peer committed a moment before us). A peer's height is only
  // its word; the blocks are committed only after their certificates check against the set of
  // their height.
  if (best > head + 1) target = std::max(target, best);
  if (target <= head) return;
  // With the waiting blocks at their byte limit, only what is missing below the first of them
  // is asked for: the head's successor must come before anything else can be committed.
  uint64_t plan_to = target;
  if (fetched_bytes_ >= kMaxFetchedBytes) {
    plan_to = fetched_.empty() ? target : std::min(target, fetched_.begin()->first - 1);
  }
  if (plan_to > head) {
    for (const FetchPlanner::Request& r :
         fetch_planner_.Plan(head, plan_to, peer_heights_, std::chrono::steady_clock::now())) {
      pb::PeerMessage msg;
      msg.mutable_block_request()->set_from_height(r.from);
      msg.mutable_block_request()->set_max_blocks(static_cast<uint32_t>(r.to - r.from + 1));
      peers_->Send(r.peer, msg);
    }
  }
  // A request nobody answers is asked of another peer once the planner's timeout passes.
  if (fetch_timer_armed_ || fetch_planner_.in_flight() == 0) return;
  fetch_timer_armed_ = true;
  auto timer = std::make_shared<asio::steady_timer>(strand_);
  timer->expires_after(std::chrono::milliseconds(kFetchRetryMs));
  timer->async_wait([this, timer](const boost::system::error_code& ec) {
    if (ec || stopped_.load()) return;
    fetch_timer_armed_ = false;
    PumpFetches();
  });
}

void ConsensusDriver::DrainFetched() {
  for (;;) {
    const uint64_t head = ledger_->height();
    while (!fetched_.empty() && fetched_.begin()->first <= head) {
      fetched_bytes_ -= fetched_.begin()->second.bytes;
      fetched_.erase(fetched_.begin());
    }
    auto it = fetched_.find(head + 1);
    if (it == fetched_.end() || !it->second.verified) break;
    consensus::BlockFetched fetched;
    const std::string bytes = core::SerializeDeterministic(*it->second.block);
    fetched.block.id = it->second.id;
    fetched.block.data.assign(bytes.begin(), bytes.end());
    fetched.certificate = it->second.certificate;
    Handle(fetched);
    if (stopped_.load()) return;
    if (ledger_->height() == head) {
      // Its certificate does not check, or the engine is elsewhere: ask again, maybe elsewhere.
      spdlog::info("fetched block {} was not committed; asking for it again", head + 1);
      auto again = fetched_.find(head + 1);
      if (again != fetched_.end()) {
        fetched_bytes_ -= again->second.bytes;
        fetched_.erase(again);
      }
      fetch_planner_.Retry(head + 1);
      break;
    }
  }
  PumpFetches();
}

void ConsensusDriver::ServeBlocks(const core::PublicKey& to, const pb::BlockRequest& request) {
  pb::PeerMessage msg;
  pb::BlockResponse* resp = msg.mutable_block_response();
  uint64_t head = ledger_->height();
  resp->set_peer_height(head);
  // Blocks below the first height were pruned (or predate this node's snapshot): the answer
  // holds none of them, and says where this node's blocks start.
  const uint64_t first = ledger_->first_height();
  if (first > 1) resp->set_first_height(first);
  uint64_t bytes = 0;
  uint32_t max = std::min(request.max_blocks(), kMaxBlocksPerResponse);
  for (uint64_t h = request.from_height(); h <= head && h < request.from_height() + max; ++h) {
    if (h == 0) continue;
    if (h < first) break;
    auto block = ledger_->GetBlock(h);
    auto cert = ledger_->GetCertificate(h);
    if (!block.ok() || !block->has_value() || !cert.ok() || !cert->has_value()) break;
    auto decoded = core::DecodeCertificate(**cert);
    if (!decoded.ok()) break;
    pb::CommittedBlock* cb = resp->add_blocks();
    *cb->mutable_block() = std::move(**block);
    *cb->mutable_certificate() = core::ToProto(*decoded);
    bytes += cb->ByteSizeLong();
    if (bytes > kMaxResponseBytes) break;
  }
  peers_->Send(to, msg);
}

void ConsensusDriver::OnBlocks(const core::PublicKey& from, const pb::BlockResponse& response) {
  // Its own word about its head, as of serving: it replaces what we assumed of it.
  peer_heights_[from] = response.peer_height();
  const uint64_t head = ledger_->height();
  uint64_t first = 1, last = 0;  // The consecutive heights delivered, for the planner.
  if (response.blocks_size() == 0 && response.first_height() > head + 1) {
    spdlog::warn(
        "peer {} no longer holds blocks below {} (pruned); this node at height {} can catch up "
        "only from a peer that still has them, or by state sync (docs/state-sync.md)",
        from.Hex().substr(0, 16), response.first_height(), head);
  }
  for (const pb::CommittedBlock& cb : response.blocks()) {
    auto cert = core::FromProto(cb.certificate());
    if (!cert.ok()) {
      spdlog::info("peer {} sent a malformed certificate: {}", from.Hex().substr(0, 16),
                   cert.status().message());
      break;
    }
    const uint64_t height = cert->height;
    if (last >= first && height != last + 1) break;
    if (last < first) first = height;
    last = height;
    if (height <= head || height > head + kMaxFetchAhead || fetched_.contains(height)) continue;
    auto block = std::make_shared<const pb::Block>(cb.block());
    const Hash256 id = core::Sha256Of(std::string_view(block->header()));
    const size_t bytes = cb.block().ByteSizeLong();
    fetched_.emplace(height, FetchedBlock{block, id, std::move(cert).value(), bytes, nullptr});
    fetched_bytes_ += bytes;
    verifier_->Verify(block, height,
                      [this, height, id](std::shared_ptr<const VerifiedRecords> verified) {
                        Post([this, height, id, verified = std::move(verified)] {
                          auto it = fetched_.find(height);
                          if (it == fetched_.end() || it->second.id != id) return;
                          it->second.verified = verified;
                          DrainFetched();
                        });
                      });
  }
  fetch_planner_.OnResponse(from, first, last);
  // Absent (0) means it pruned nothing. A pruned peer is not asked below its first height again.
  fetch_planner_.OnPeerFirstHeight(from, std::max<uint64_t>(response.first_height(), 1));
  // Nothing delivered: what was asked is asked again when the retry timer fires, not at once,
  // so that a peer announcing blocks it does not serve cannot keep us asking in a loop.
  if (last < first) return;
  DrainFetched();
}

void ConsensusDriver::OnPeerMessage(const core::PublicKey& from, pb::PeerMessage message) {
  Post([this, from, message = std::move(message)] {
    switch (message.body_case()) {
      case pb::PeerMessage::kConsensus: {
        const auto& cm = message.consensus();
        switch (cm.body_case()) {
          case pb::ConsensusMessage::kProposal: {
            auto p = core::FromProto(cm.proposal());
            if (p.ok()) Handle(consensus::ProposalReceived{std::move(p).value()});
            break;
          }
          case pb::ConsensusMessage::kVote: {
            auto v = core::FromProto(cm.vote());
            if (v.ok()) Handle(consensus::VoteReceived{std::move(v).value()});
            break;
          }
          case pb::ConsensusMessage::kCertificate: {
            auto c = core::FromProto(cm.certificate());
            if (c.ok()) Handle(consensus::CertificateReceived{std::move(c).value()});
            break;
          }
          case pb::ConsensusMessage::BODY_NOT_SET:
            break;
        }
        break;
      }
      case pb::PeerMessage::kBlockRequest:
        ServeBlocks(from, message.block_request());
        break;
      case pb::PeerMessage::kBlockResponse:
        OnBlocks(from, message.block_response());
        break;
      case pb::PeerMessage::kStatus:
        peer_heights_[from] = message.status().height();
        CatchUp();
        break;
      case pb::PeerMessage::kEvidence:
        OnEvidenceGossip(from, message.evidence());
        break;
      case pb::PeerMessage::kHello:
      case pb::PeerMessage::kRecords:
      // State sync's messages are the node's (node/state_sync.h), never the driver's.
      case pb::PeerMessage::kSnapshotManifestRequest:
      case pb::PeerMessage::kSnapshotManifestResponse:
      case pb::PeerMessage::kSnapshotChunkRequest:
      case pb::PeerMessage::kSnapshotChunkResponse:
      case pb::PeerMessage::BODY_NOT_SET:
        break;
    }
  });
}

void ConsensusDriver::OnPeerStatus(const core::PublicKey& peer, bool connected, uint64_t height) {
  Post([this, peer, connected, height] {
    if (connected) {
      peer_heights_[peer] = height;
      // Our latest votes of the current height, already signed (nothing new is signed here):
      // with them a peer that was cut off or stopped learns our round at once and, once it
      // has heard more than 1/3 of the power, joins it (the engine's round skip).
      if (last_signed_ && last_signed_->height == engine_->height()) {
        if (last_signed_->prevote) SendMessage(*last_signed_->prevote, &peer);
        if (last_signed_->precommit) SendMessage(*last_signed_->precommit, &peer);
      }
      CatchUp();
    } else {
      peer_heights_.erase(peer);
    }
  });
}

void ConsensusDriver::AddEvidence(const core::Evidence& evidence, std::string_view source) {
  std::string why;
  const EvidencePool::AddResult result = evidence_.Add(evidence, &why);
  evidence_received_.at(result)->Inc();
  evidence_pending_->Set(static_cast<double>(evidence_.size()));
  const core::Offence offence = core::OffenceOf(evidence);
  if (result != EvidencePool::AddResult::kAdded) {
    spdlog::debug("evidence from {} about {} at height {}: {} ({})", source,
                  offence.validator.Hex().substr(0, 16), offence.height,
                  EvidencePool::AddResultName(result), why);
    return;
  }
  spdlog::warn("evidence from {}: {} by validator {} at height {} round {}; passing it on", source,
               core::OffenceKindName(offence.kind), offence.validator.Hex().substr(0, 16),
               offence.height, offence.round);
  pb::PeerMessage msg;
  *msg.mutable_evidence()->add_evidence() = core::ToProto(core::CanonicalEvidence(evidence));
  peers_->Broadcast(msg);
}

void ConsensusDriver::OnEvidenceGossip(const core::PublicKey& from,
                                       const pb::EvidenceGossip& gossip) {
  if (static_cast<size_t>(gossip.evidence_size()) > core::limits::kMaxEvidencePerGossip) {
    spdlog::info("peer {} sent {} pieces of evidence in one message; ignored",
                 from.Hex().substr(0, 16), gossip.evidence_size());
    return;
  }
  const std::string source = "peer " + from.Hex().substr(0, 16);
  for (const pb::Evidence& ev : gossip.evidence()) {
    auto decoded = core::FromProto(ev);
    if (!decoded.ok()) {
      evidence_received_.at(EvidencePool::AddResult::kInvalid)->Inc();
      spdlog::info("{} sent malformed evidence: {}", source, decoded.status().message());
      continue;
    }
    AddEvidence(*decoded, source);
  }
}

void ConsensusDriver::Fatal(const std::string& what) {
  spdlog::critical("stopping: {}", what);
  spdlog::shutdown();
  // Nothing acknowledged is lost: every commit is one synced batch, and the signer state is
  // written before any vote it guards. Exit without running destructors that may block.
  std::_Exit(70);
}

}  // namespace hallmark::node
