#include "consensus/engine.h"

#include <algorithm>
#include <utility>

#include "consensus/quorum.h"
#include "core/limits.h"

namespace hallmark::consensus {

namespace {

// Rounds beyond this add no more timeout: delays stay far from overflow.
constexpr uint64_t kMaxTimeoutRounds = 10'000;

std::string Short(const Hash256& id) {
  return core::IsNil(id) ? "nil" : id.Hex().substr(0, 12);
}

}  // namespace

Engine::Engine(EngineConfig config, const VoteSigner* signer, EngineStart start)
    : config_(std::move(config)), signer_(signer) {
  HM_ASSERT(config_.validators.size() > 0);
  height_ = start.committed_height + 1;
  known_committed_ = start.committed_height;
  epochs_.emplace(height_, config_.validators);
  {
    Actions ignored;  // Nothing to say yet: the first set is the one configured.
    EnterHeight(&ignored);
  }
  if (start.signer_state) {
    signer_state_ = *start.signer_state;
#ifdef HALLMARK_MUTANT_LOCK_NOT_RESTORED
    // Mutant: the lock is not restored after a restart.
    if (false) {
#else
    if (signer_state_.lock_height == height_ && !core::IsNil(signer_state_.lock_block_id)) {
#endif
      locked_round_ = signer_state_.lock_round;
      locked_block_ = signer_state_.lock_block_id;
      const std::optional<LockRecord>& lock = start.lock;
      if (lock && lock->height == height_ && lock->round == *locked_round_ &&
          lock->block.id == locked_block_) {
        // The locked block is also the valid value, with its proof of lock.
        valid_round_ = lock->round;
        valid_block_ = lock->block.id;
        blocks_.try_emplace(lock->block.id, lock->block.data);
        verdicts_[lock->block.id] = Verdict::kValid;
        RoundState& rs = Round(lock->round);
        for (const Vote& v : lock->polka) {
          auto index = validators_.IndexOf(v.validator);
          if (index && v.height == height_ && v.round == lock->round &&
              v.type == VoteType::kPrevote && v.block_id == lock->block.id)
            rs.prevotes.Add(static_cast<ValidatorIndex>(*index), v, nullptr);
        }
      }
    }
  } else {
    abstaining_ = true;
  }
  if (start.abstain) abstaining_ = true;
}

Actions Engine::Start() {
  HM_ASSERT(!started_);
  started_ = true;
  Actions out;
  if (signer_ && !my_index_)
    LogLine("this node's key is not in the validator set of this height: following only", &out);
  // Also for a key outside the current set: it may join a later set, and must not sign there
  // before the check has passed.
  if (abstaining_ && signer_) {
    LogLine(
        "signer state is missing (wiped or restored data folder) or restored from a backup: "
        "abstaining from signing until the network has committed past any height this "
        "validator could have signed (double-sign check)",
        &out);
    Schedule(TimeoutKind::kDoubleSignCheck, 0, &out);
  }
  // After a restart inside a height, resume at the round last signed in: the guard forbids
  // signing in earlier rounds anyway.
  const uint32_t first_round = signer_state_.height == height_ ? signer_state_.round : 0;
  StartRound(first_round, &out);
  // Votes signed in this round before a crash may never have left: count them and send them
  // again, and continue from the step they imply.
  if (signer_state_.height == height_ && signer_state_.round == first_round && my_index_) {
    RoundState& rs = Round(first_round);
    for (const std::optional<Vote>* v : {&signer_state_.prevote, &signer_state_.precommit}) {
      if (!*v || (*v)->height != height_ || (*v)->round != first_round) continue;
      const Vote& vote = **v;
      (vote.type == VoteType::kPrevote ? rs.own_prevote : rs.own_precommit) = vote;
      step_ = vote.type == VoteType::kPrevote ? RoundStep::kPrevote : RoundStep::kPrecommit;
      RecordVote(*my_index_, vote, &out);
      if (!abstaining_) out.push_back(Broadcast{vote});
    }
    if (signer_state_.precommit) step_ = RoundStep::kPrecommit;
  }
  ProcessRules(&out);
  return out;
}

Actions Engine::Step(const Event& event) {
  HM_ASSERT(started_);
  Actions out;
  Dispatch(event, &out);
  ProcessRules(&out);
  return out;
}

void Engine::Dispatch(const Event& event, Actions* out) {
  std::visit(
      [&](const auto& e) {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, ProposalReceived>) {
          OnProposal(e.proposal, out);
        } else if constexpr (std::is_same_v<E, VoteReceived>) {
          OnVote(e.vote, out);
        } else if constexpr (std::is_same_v<E, CertificateReceived>) {
          OnCertificate(e.certificate, out);
        } else if constexpr (std::is_same_v<E, TimeoutFired>) {
          OnTimeout(e.timeout, out);
        } else if constexpr (std::is_same_v<E, BlockBuilt>) {
          OnBlockBuilt(e, out);
        } else if constexpr (std::is_same_v<E, BlockVerdict>) {
          OnVerdict(e, out);
        } else if constexpr (std::is_same_v<E, BlockFetched>) {
          OnFetched(e, out);
        } else {
          static_assert(std::is_same_v<E, ScheduleValidators>);
          OnSchedule(e, out);
        }
      },
      event);
}

Engine::RoundState& Engine::Round(uint32_t round) {
  return rounds_.try_emplace(round, height_, round, &validators_).first->second;
}

const ValidatorSet& Engine::ValidatorSetAt(uint64_t height) const {
#ifdef HALLMARK_MUTANT_SET_ONE_HEIGHT_EARLY
  // Mutant: a scheduled set is applied one height before it is in force.
  ++height;
#endif
  auto it = epochs_.upper_bound(height);
  if (it == epochs_.begin()) return validators_;  // Before the first epoch kept.
  return std::prev(it)->second;
}

ValidatorIndex Engine::ProposerOf(uint64_t height, uint32_t round) const {
  if (height == height_) return ProposerFor(schedule_, height, round);
  if (height == height_ + 1) return ProposerFor(next_schedule_, height, round);
  return ProposerFor(ProposerSchedule(ValidatorSetAt(height)), height, round);
}

namespace {

bool SameSet(const ValidatorSet& a, const ValidatorSet& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a.at(i).key != b.at(i).key || a.at(i).voting_power != b.at(i).voting_power) return false;
  return true;
}

// `values`, indexed by `from`, re-indexed by `to`: a validator keeps its entry by key, a new one
// gets `fresh`.
template <typename T>
std::vector<T> Remap(std::vector<T> values, const ValidatorSet& from, const ValidatorSet& to,
                     const T& fresh) {
  std::vector<T> out(to.size(), fresh);
  for (size_t i = 0; i < to.size(); ++i) {
    std::optional<size_t> j = from.IndexOf(to.at(i).key);
    if (j && *j < values.size()) out[i] = std::move(values[*j]);
  }
  return out;
}

}  // namespace

void Engine::EnterHeight(Actions* out) {
  // Sets in force before this height are no longer needed.
  auto current = epochs_.upper_bound(height_);
  HM_ASSERT(current != epochs_.begin());
  --current;
  epochs_.erase(epochs_.begin(), current);
  const ValidatorSet& set = ValidatorSetAt(height_);
  const bool first = validators_.size() == 0;
  if (first || !SameSet(set, validators_)) {
    if (!first) {
      peer_height_ = Remap(std::move(peer_height_), validators_, set, uint64_t{0});
      helped_at_ = Remap(std::move(helped_at_), validators_, set, uint64_t{0});
      asked_to_ = Remap(std::move(asked_to_), validators_, set, uint64_t{0});
      rounds_helped_ = Remap(std::move(rounds_helped_), validators_, set, std::set<uint32_t>{});
    } else {
      peer_height_.assign(set.size(), 0);
      helped_at_.assign(set.size(), 0);
      asked_to_.assign(set.size(), 0);
      rounds_helped_.assign(set.size(), {});
    }
    validators_ = set;
    schedule_ = ProposerSchedule(validators_);
    const std::optional<ValidatorIndex> was = my_index_;
    my_index_.reset();
    if (signer_) {
      if (std::optional<size_t> index = validators_.IndexOf(signer_->public_key()))
        my_index_ = static_cast<ValidatorIndex>(*index);
    }
    if (!first) {
      LogLine("validator set changes: " + std::to_string(validators_.size()) +
                  " validators, total power " + std::to_string(validators_.total_power()),
              out);
      if (signer_ && !was && my_index_)
        LogLine("this node's key is in the set from this height: it votes", out);
      if (signer_ && was && !my_index_)
        LogLine("this node's key is no longer in the set: it stops voting and follows", out);
    }
  }
  max_round_.assign(validators_.size(), 0);
  shown_round_.assign(validators_.size(), 0);
  RefreshNextSet();
  future_.assign(next_validators_.size(), {});
}

void Engine::RefreshNextSet() {
  const ValidatorSet& next = ValidatorSetAt(height_ + 1);
  if (next_validators_.size() > 0 && SameSet(next, next_validators_)) return;
  next_validators_ = next;
  next_schedule_ = ProposerSchedule(next_validators_);
  // Messages buffered for height + 1 were checked against the set that was known for it; drop
  // them rather than re-check (their senders repeat them).
  future_.assign(next_validators_.size(), {});
}

void Engine::OnSchedule(const ScheduleValidators& schedule, Actions* out) {
  if (schedule.from_height <= height_ || schedule.set.size() == 0) {
    LogLine("ignoring a validator set scheduled from height " +
                std::to_string(schedule.from_height) +
                ", a height already entered (or an empty set): the driver's bug",
            out);
    return;
  }
  epochs_.insert_or_assign(schedule.from_height, schedule.set);
  RefreshNextSet();
}

Engine::Verdict Engine::VerdictOf(const Hash256& block_id) const {
  auto it = verdicts_.find(block_id);
  return it == verdicts_.end() ? Verdict::kPending : it->second;
}

bool Engine::Check(const PublicKey& key, const Bytes& message, const Signature& signature) const {
  return config_.check(key, message, signature);
}

void Engine::LogLine(std::string message, Actions* out) const {
  out->push_back(Log{"h=" + std::to_string(height_) + " r=" + std::to_string(round_) + ": " +
                     std::move(message)});
}

void Engine::Schedule(TimeoutKind kind, uint32_t round, Actions* out) {
  const TimeoutConfig& t = config_.timeouts;
  uint64_t base = 0;
  switch (kind) {
    case TimeoutKind::kPropose:
    case TimeoutKind::kRebroadcast:
      base = t.propose_ms;
      break;
    case TimeoutKind::kPrevote:
      base = t.prevote_ms;
      break;
    case TimeoutKind::kPrecommit:
      base = t.precommit_ms;
      break;
    case TimeoutKind::kDoubleSignCheck:
      base = kDoubleSignObservePeriods * (uint64_t{t.propose_ms} + t.prevote_ms + t.precommit_ms);
      break;
  }
  const uint64_t growth = std::min<uint64_t>(
      uint64_t{t.delta_ms} * std::min<uint64_t>(round, kMaxTimeoutRounds), t.max_growth_ms);
  const uint64_t delay = base + growth;
  out->push_back(ScheduleTimeout{Timeout{height_, round, kind}, delay});
}

// Lines 11-21: StartRound.
void Engine::StartRound(uint32_t round, Actions* out) {
  round_ = round;
  step_ = RoundStep::kPropose;
  PruneRounds();
  RoundState& rs = Round(round);
  // Deviation: the proposer schedules the propose timeout too, so that a proposer whose block
  // never arrives (a slow application, or a refusal to sign) still moves on.
  Schedule(TimeoutKind::kPropose, round, out);
  Schedule(TimeoutKind::kRebroadcast, round, out);
  if (my_index_ && !abstaining_ && ProposerOf(height_, round) == *my_index_) {
    if (valid_block_) {
      // PruneRounds keeps the valid block's bytes.
      Propose(Block{*valid_block_, HeldBlock(*valid_block_)}, valid_round_, out);
      RelayPolka(*valid_round_, *valid_block_, out);
    } else if (!rs.build_requested) {
      rs.build_requested = true;
      out->push_back(BuildBlock{height_, round});
    }
  }
}

bool Engine::IsProofRound(uint32_t round) const {
  if ((valid_round_ && *valid_round_ == round) || (locked_round_ && *locked_round_ == round))
    return true;
  for (auto it = rounds_.lower_bound(round_); it != rounds_.end(); ++it) {
    const std::optional<Proposal>& p = it->second.proposal;
    if (p && p->pol_round && *p->pol_round == round && round < p->round) return true;
  }
  return false;
}

const Bytes& Engine::HeldBlock(const Hash256& id) const {
  auto it = blocks_.find(id);
  HM_ASSERT_MSG(it != blocks_.end(), "a block the engine must hold was dropped");
  return it->second;
}

bool Engine::HoldsBlocksOf(uint32_t round) const {
  return round + kBlockRoundsKept >= round_ && round <= round_ + kMaxProposalRoundsAhead;
}

std::optional<Proposal> Engine::WithBlock(const std::optional<Proposal>& proposal) const {
  if (!proposal) return std::nullopt;
  auto it = blocks_.find(proposal->block_id);
  if (it == blocks_.end()) return std::nullopt;
  Proposal full = *proposal;
  full.block = it->second;
  return full;
}

void Engine::PruneRounds() {
  const uint32_t oldest = round_ < kMaxRoundsKept ? 0 : round_ - kMaxRoundsKept;
  for (auto it = rounds_.begin(); it != rounds_.end() && it->first < oldest;) {
    // Line 28 needs the polka of a proof-of-lock round however old it is: without it, a
    // validator locked long ago could never be joined by the others again.
    if (IsProofRound(it->first)) {
      ++it;
    } else {
      evidence_reported_.erase(
          evidence_reported_.lower_bound({it->first, 0, VoteType::kPrevote}),
          evidence_reported_.lower_bound({it->first + 1, 0, VoteType::kPrevote}));
      it = rounds_.erase(it);
    }
  }
  // Block bytes are kept for the rounds near the current one and for the valid value only.
  std::set<Hash256> held;
  if (valid_block_) held.insert(*valid_block_);
  for (const auto& [round, rs] : rounds_) {
    if (!HoldsBlocksOf(round)) continue;
    if (rs.proposal) held.insert(rs.proposal->block_id);
    if (rs.own_proposal) held.insert(rs.own_proposal->block_id);
  }
  std::erase_if(blocks_, [&](const auto& entry) { return !held.count(entry.first); });
  std::erase_if(verdicts_, [&](const auto& entry) { return !held.count(entry.first); });
}

void Engine::Propose(const Block& block, std::optional<uint32_t> pol_round, Actions* out) {
  HM_ASSERT(my_index_ && signer_);
  Proposal p;
  p.height = height_;
  p.round = round_;
  p.pol_round = pol_round;
  p.block_id = block.id;
  p.block = block.data;
  p.proposer = signer_->public_key();
  blocks_.try_emplace(block.id, block.data);
  // A block this validator built, or its valid value, needs no second opinion.
  verdicts_[block.id] = Verdict::kValid;
  SignAndBroadcast(std::move(p), out);
}

void Engine::RelayPolka(uint32_t round, const Hash256& block_id, Actions* out) {
  auto it = rounds_.find(round);
  if (it == rounds_.end()) return;
  for (const auto& entry : it->second.prevotes.votes())
    if (entry.second.block_id == block_id) out->push_back(Broadcast{entry.second});
}

void Engine::Prevote(const Hash256& block_id, Actions* out) {
  step_ = RoundStep::kPrevote;
  SignAndBroadcast(Vote{height_, round_, VoteType::kPrevote, block_id, {}, {}}, out);
}

void Engine::Precommit(const Hash256& block_id, Actions* out) {
  step_ = RoundStep::kPrecommit;
  SignAndBroadcast(Vote{height_, round_, VoteType::kPrecommit, block_id, {}, {}}, out);
}

bool Engine::SignAndBroadcast(Message message, Actions* out) {
  if (!my_index_ || !signer_ || abstaining_) return false;
  uint64_t height = 0;
  uint32_t round = 0;
  RoundStep step = RoundStep::kPropose;
  Hash256 block_id;
  if (auto* p = std::get_if<Proposal>(&message)) {
    height = p->height;
    round = p->round;
    block_id = p->block_id;
  } else if (auto* v = std::get_if<Vote>(&message)) {
    height = v->height;
    round = v->round;
    step = v->type == VoteType::kPrevote ? RoundStep::kPrevote : RoundStep::kPrecommit;
    block_id = v->block_id;
  } else {
    HM_ASSERT_MSG(false, "only proposals and votes are signed");
  }
  if (!MaySign(signer_state_, height, round, step, block_id)) {
    LogLine("signer guard: not signing " + std::string(RoundStepName(step)) + " for " +
                Short(block_id) + " at round " + std::to_string(round) +
                "; already signed up to h=" + std::to_string(signer_state_.height) + " r=" +
                std::to_string(signer_state_.round) + " step=" + std::to_string(signer_state_.step),
            out);
    return false;
  }
  signer_state_ = AfterSigning(signer_state_, height, round, step, block_id);
  RoundState& rs = Round(round);
  if (auto* p = std::get_if<Proposal>(&message)) {
    p->signature = signer_->Sign(core::ProposalSignBytes(config_.chain_id, *p));
    // The round keeps the proposal without its bytes: blocks_ holds them once.
    Proposal kept = *p;
    kept.block.clear();
    rs.own_proposal = kept;
    if (!rs.proposal) rs.proposal = std::move(kept);
  } else {
    Vote& v = std::get<Vote>(message);
    v.validator = signer_->public_key();
    v.signature = signer_->Sign(core::VoteSignBytes(config_.chain_id, v));
    (v.type == VoteType::kPrevote ? rs.own_prevote : rs.own_precommit) = v;
    (v.type == VoteType::kPrevote ? signer_state_.prevote : signer_state_.precommit) = v;
  }
  // The signer state must be on disk before the message can leave: after a crash between the
  // two, the restarted validator knows what it may have sent.
#ifdef HALLMARK_MUTANT_SEND_BEFORE_PERSIST
  out->push_back(Broadcast{message});
  out->push_back(PersistSignerState{signer_state_});
#else
  out->push_back(PersistSignerState{signer_state_});
  out->push_back(Broadcast{message});
#endif
  if (auto* v = std::get_if<Vote>(&message)) RecordVote(*my_index_, *v, out);
  return true;
}

void Engine::RecordVote(ValidatorIndex index, const Vote& vote, Actions* out) {
  RoundState& rs = Round(vote.round);
  VoteSet& set = vote.type == VoteType::kPrevote ? rs.prevotes : rs.precommits;
  Vote first;
  if (set.Add(index, vote, &first) == VoteSet::AddResult::kConflict &&
      evidence_reported_.insert({vote.round, index, vote.type}).second) {
    LogLine("equivocation by validator " + std::to_string(index) + ": two " +
                std::string(core::VoteTypeName(vote.type)) + "s at round " +
                std::to_string(vote.round) + " (" + Short(first.block_id) + ", " +
                Short(vote.block_id) + ")",
            out);
    // In canonical order (core::CanonicalEvidence), the one form every node keeps and commits.
    out->push_back(ReportEvidence{core::CanonicalEvidence(DuplicateVoteEvidence{first, vote})});
  }
  NoteRound(index, vote.round);
  if (vote.type == VoteType::kPrevote && vote.round < round_) AdoptLatePolka(vote.round, rs);
}

// Deviation: a polka completed for an earlier round than ours, later than our valid round,
// becomes the valid value (not a lock). Line 36 takes a polka only in the current round, so a
// validator that moved on before the last prevotes of a round arrived would, as proposer, offer a
// fresh block that the validators locked in that round must refuse; after a quorum was lost and
// regained, that could cost a round per such proposer. Proposing the polka's block with its
// round as the proof-of-lock round is safe whoever proposes it (receivers check the polka and
// their lock, lines 28-33), so this changes only which proposals are made.
void Engine::AdoptLatePolka(uint32_t round, const RoundState& rs) {
  if (valid_round_ && *valid_round_ >= round) return;
  if (!rs.proposal || !HoldsBlocksOf(round)) return;
  const Hash256& id = rs.proposal->block_id;
  if (VerdictOf(id) != Verdict::kValid || !blocks_.count(id) || !rs.prevotes.HasQuorumFor(id))
    return;
  valid_round_ = round;
  valid_block_ = id;
}

EngineFootprint Engine::Footprint() const {
  EngineFootprint f;
  f.rounds = rounds_.size();
  for (const auto& [round, rs] : rounds_)
    f.vote_entries += rs.prevotes.entries() + rs.precommits.entries();
  f.blocks = blocks_.size();
  for (const auto& [id, bytes] : blocks_) f.block_bytes += bytes.size();
  for (const auto& events : future_) {
    f.buffered += events.size();
    for (const Event& e : events)
      if (auto* p = std::get_if<ProposalReceived>(&e)) f.buffered_bytes += p->proposal.block.size();
  }
  f.other = verdicts_.size() + evidence_reported_.size();
  for (const auto& helped : rounds_helped_) f.other += helped.size();
  return f;
}

namespace {

EngineFootprint LimitFor(size_t n, uint64_t max_block_bytes) {
  EngineFootprint f;
  // The window behind and ahead, and the proof rounds older than it: the valid round, the locked
  // round, and one per proposal kept at the current round or later.
  f.rounds = kMaxRoundsKept + 1 + kMaxRoundsAhead + 2 + (kMaxProposalRoundsAhead + 1);
  f.vote_entries = f.rounds * 2 * n * VoteSet::MaxVotesPerValidator(n);
  // One proposal per round whose blocks are held, and the valid value.
  f.blocks = kBlockRoundsKept + 1 + kMaxProposalRoundsAhead + 1;
  f.block_bytes = f.blocks * max_block_bytes;
  f.buffered = n * kMaxFutureMessagesPerValidator;
  f.buffered_bytes = n * max_block_bytes;  // One proposal per validator.
  f.other = f.blocks + f.rounds * n * 2 + n * kMaxRoundsKept;
  return f;
}

}  // namespace

EngineFootprint FootprintLimit(const EngineConfig& config) {
  return LimitFor(config.validators.size(), config.max_block_bytes);
}

EngineFootprint Engine::Limit() const {
  return LimitFor(std::max(validators_.size(), next_validators_.size()), config_.max_block_bytes);
}

void Engine::NoteRound(ValidatorIndex index, uint32_t round) {
  max_round_[index] = std::max(max_round_[index], round + 1);
}

void Engine::BufferFuture(ValidatorIndex index, Event event) {
  // REQUIRES (callers): the message is signed by validator `index`, so nobody else can take its
  // slots. A repeat is not buffered twice, and a validator gets one proposal slot.
  std::vector<Event>& slots = future_[index];
  if (slots.size() >= kMaxFutureMessagesPerValidator) return;
  const bool proposal = std::holds_alternative<ProposalReceived>(event);
  for (const Event& e : slots) {
    if (proposal && std::holds_alternative<ProposalReceived>(e)) return;
    if (auto* v = std::get_if<VoteReceived>(&e))
      if (auto* w = std::get_if<VoteReceived>(&event); w && v->vote == w->vote) return;
  }
  slots.push_back(std::move(event));
}

void Engine::OnVote(const Vote& vote, Actions* out) {
  // Index in the set of the current height; per-validator state is kept by it.
  std::optional<size_t> index = validators_.IndexOf(vote.validator);
  if (vote.height > height_) {
    // Signed by a validator of the vote's height: the next height's set, or for later heights
    // the latest set known (a vote that fails only triggers no fetch).
    const ValidatorSet& set =
        vote.height == height_ + 1 ? next_validators_ : ValidatorSetAt(vote.height);
    std::optional<size_t> signer = set.IndexOf(vote.validator);
    if (!signer) return;
    const Bytes sign_bytes = core::VoteSignBytes(config_.chain_id, vote);
    bool verified = false;
    if (vote.height == height_ + 1) {
      // Checked before it takes one of the validator's slots: a forgery would take them from
      // the validator it names.
      if (!Check(vote.validator, sign_bytes, vote.signature)) return;
      verified = true;
      BufferFuture(static_cast<ValidatorIndex>(*signer), VoteReceived{vote});
    }
    // Only validators of the current height are followed (and fetched from) on their word.
    if (index)
      NoteAhead(static_cast<ValidatorIndex>(*index), vote.height, verified, vote.validator,
                sign_bytes, vote.signature, out);
    return;
  }
  if (!index) return;
  const auto peer = static_cast<ValidatorIndex>(*index);
  if (vote.height < height_) {
    // Helped only while it is a validator of our height (its own height's set may be gone).
    if (!WillHelp(peer) ||
        !Check(vote.validator, core::VoteSignBytes(config_.chain_id, vote), vote.signature))
      return;
    return HelpLaggard(peer, vote.height, out);
  }
  // Old rounds are dropped, except the prevotes of a round that line 28 may still need.
  const bool old_round = vote.round + kMaxRoundsKept < round_;
  if (old_round && !(vote.type == VoteType::kPrevote && IsProofRound(vote.round))) {
    // Kept from nothing, but it tells us the validator is far behind (it was cut off, or
    // stopped): show it where we are. Verified first, at most once per round and validator.
    if (shown_round_[peer] != round_ + 1 &&
        Check(vote.validator, core::VoteSignBytes(config_.chain_id, vote), vote.signature))
      ShowCurrentRound(peer, out);
    return;
  }
  if (!Check(vote.validator, core::VoteSignBytes(config_.chain_id, vote), vote.signature)) return;
  if (vote.round < round_) ShowCurrentRound(peer, out);
  if (vote.round < round_ && !old_round) HelpLaggingRound(peer, vote.round, out);
  if (vote.round > round_ + kMaxRoundsAhead) {
    // Too far ahead to store, but it still tells us the validator has moved on (line 55).
    NoteRound(peer, vote.round);
    return;
  }
  RecordVote(peer, vote, out);
}

void Engine::OnProposal(const Proposal& proposal, Actions* out) {
  std::optional<size_t> index = validators_.IndexOf(proposal.proposer);
  if (proposal.height > height_) {
    // As for votes: signed by a validator of the proposal's height (next set, or latest known).
    const ValidatorSet& set =
        proposal.height == height_ + 1 ? next_validators_ : ValidatorSetAt(proposal.height);
    std::optional<size_t> signer = set.IndexOf(proposal.proposer);
    if (!signer) return;
    const Bytes sign_bytes = core::ProposalSignBytes(config_.chain_id, proposal);
    bool verified = false;
    if (proposal.height == height_ + 1) {
      // Buffered only when it could be kept at the next height's round 0 and is signed by the
      // proposer of its round (by the next height's set).
      if (proposal.round > kMaxProposalRoundsAhead ||
          proposal.block.size() > config_.max_block_bytes ||
          ProposerOf(proposal.height, proposal.round) != *signer ||
          !Check(proposal.proposer, sign_bytes, proposal.signature))
        return;
      verified = true;
      BufferFuture(static_cast<ValidatorIndex>(*signer), ProposalReceived{proposal});
    }
    if (index)
      NoteAhead(static_cast<ValidatorIndex>(*index), proposal.height, verified, proposal.proposer,
                sign_bytes, proposal.signature, out);
    return;
  }
  if (!index) return;
  const auto peer = static_cast<ValidatorIndex>(*index);
  if (proposal.height < height_) {
    if (!WillHelp(peer) ||
        !core::VerifyProposalSignature(config_.chain_id, proposal, proposal.proposer, config_.check)
             .ok())
      return;
    return HelpLaggard(peer, proposal.height, out);
  }
  if (proposal.round > round_ + kMaxRoundsAhead || proposal.round + kMaxRoundsKept < round_) return;
  if (proposal.block.size() > config_.max_block_bytes) return;
  const ValidatorIndex expected = ProposerOf(height_, proposal.round);
  if (!core::VerifyProposalSignature(config_.chain_id, proposal, validators_.at(expected).key,
                                     config_.check)
           .ok())
    return;
  NoteRound(expected, proposal.round);
  if (proposal.round < round_) ShowCurrentRound(expected, out);
  if (!HoldsBlocksOf(proposal.round)) {
    // Too far from the current round to keep its block (Limits); the proposer sends it again
    // if the round comes, and a block decided in an old round is fetched once committed.
    if (proposal.round < round_) HelpLaggingRound(expected, proposal.round, out);
    return;
  }
  RoundState& rs = Round(proposal.round);
  if (rs.proposal) {
    if (proposal.round < round_) HelpLaggingRound(expected, proposal.round, out);
    if (rs.proposal->block_id != proposal.block_id ||
        rs.proposal->pol_round != proposal.pol_round) {
      LogLine("validator " + std::to_string(expected) + " sent two proposals for round " +
                  std::to_string(proposal.round) + "; keeping the first",
              out);
      // Both are signed by the round's proposer: evidence anyone can check (the signatures
      // cover the block ids, not the blocks, so the bytes are left out).
      Proposal second = proposal;
      second.block.clear();
      out->push_back(ReportEvidence{
          core::CanonicalEvidence(DuplicateProposalEvidence{*rs.proposal, std::move(second)})});
    }
    return;
  }
  blocks_.try_emplace(proposal.block_id, proposal.block);
  rs.proposal = proposal;
  rs.proposal->block.clear();
  RequestValidation(proposal.block_id, out);
}

void Engine::RequestValidation(const Hash256& block_id, Actions* out) {
  if (verdicts_.count(block_id)) return;
  auto it = blocks_.find(block_id);
  HM_ASSERT(it != blocks_.end());
  verdicts_[block_id] = Verdict::kPending;
  out->push_back(ValidateBlock{height_, Block{block_id, it->second}});
}

void Engine::OnVerdict(const BlockVerdict& verdict, Actions* /*out*/) {
  if (verdict.height != height_) return;
  auto it = verdicts_.find(verdict.block_id);
  if (it == verdicts_.end() || it->second != Verdict::kPending) return;
  it->second = verdict.valid ? Verdict::kValid : Verdict::kInvalid;
}

void Engine::OnBlockBuilt(const BlockBuilt& built, Actions* out) {
  if (built.height != height_ || built.round != round_ || step_ != RoundStep::kPropose) return;
  if (!my_index_ || ProposerOf(height_, round_) != *my_index_) return;
  if (Round(round_).own_proposal || core::IsNil(built.block.id)) return;
  Propose(built.block, std::nullopt, out);
}

void Engine::OnTimeout(const Timeout& timeout, Actions* out) {
  if (timeout.kind == TimeoutKind::kDoubleSignCheck) {
    // Spans heights: the observation window after a restart without signer state.
    observed_ = true;
    return;
  }
  if (timeout.height != height_ || timeout.round != round_) return;
  switch (timeout.kind) {
    case TimeoutKind::kPropose:  // Lines 57-60.
      if (step_ == RoundStep::kPropose) Prevote(Hash256(), out);
      break;
    case TimeoutKind::kPrevote:  // Lines 61-64.
      if (step_ == RoundStep::kPrevote) Precommit(Hash256(), out);
      break;
    case TimeoutKind::kPrecommit:  // Lines 65-67.
      StartRound(round_ + 1, out);
      break;
    case TimeoutKind::kDoubleSignCheck:
      break;  // Handled above.
    case TimeoutKind::kRebroadcast: {
      // The round is stuck: repeat what we signed in it (never anything new), allow helping
      // lagging peers again, and ask again for blocks we know are certified.
      RoundState& rs = Round(round_);
      if (std::optional<Proposal> own = WithBlock(rs.own_proposal)) {
        out->push_back(Broadcast{std::move(*own)});
        if (rs.own_proposal->pol_round)
          RelayPolka(*rs.own_proposal->pol_round, rs.own_proposal->block_id, out);
      }
      if (rs.own_prevote) out->push_back(Broadcast{*rs.own_prevote});
      if (rs.own_precommit) out->push_back(Broadcast{*rs.own_precommit});
      std::fill(helped_at_.begin(), helped_at_.end(), 0);
      for (auto& helped : rounds_helped_) helped.clear();
      // Deviation: a round whose quorum never forms still ends. The paper starts the prevote
      // and precommit timeouts only on 2f + 1 votes, which never arrive if a vote was lost for
      // good (its signer crashed, or it was sent while a partition held and the signer has
      // moved to a later round). Ending a round early never affects safety.
      if (step_ == RoundStep::kPrevote && !rs.prevote_timeout_scheduled) {
        rs.prevote_timeout_scheduled = true;
        Schedule(TimeoutKind::kPrevote, round_, out);
      }
      if (step_ == RoundStep::kPrecommit && !rs.precommit_timeout_scheduled) {
        rs.precommit_timeout_scheduled = true;
        Schedule(TimeoutKind::kPrecommit, round_, out);
      }
      FetchFromPeersAhead(out);
      Schedule(TimeoutKind::kRebroadcast, round_, out);
      break;
    }
  }
}

void Engine::OnCertificate(const CommitCertificate& certificate, Actions* out) {
  if (certificate.height < height_) return;
  // By the set of the certificate's height; beyond the next height, the latest set known, which
  // may not be the right one: then the certificate triggers no fetch (the round's rebroadcast
  // still asks peers heard ahead), and a fetched block is committed only after its own
  // certificate checks against the set of its height.
  if (!core::VerifyCommitCertificate(ValidatorSetAt(certificate.height), config_.chain_id,
                                     certificate, certificate.height, certificate.block_id,
                                     config_.check)
           .ok())
    return;
  known_committed_ = std::max(known_committed_, certificate.height);
  if (certificate.height == height_) {
    auto it = blocks_.find(certificate.block_id);
    if (it != blocks_.end()) {
      Commit(Block{it->first, it->second}, certificate, /*live=*/false, out);
      return;
    }
  }
  const uint64_t to = FetchLimit(certificate.height);
  if (fetch_requested_to_ >= to) return;
  fetch_requested_to_ = to;
  std::vector<ValidatorIndex> peers;
  for (const CommitSignature& s : certificate.signatures) {
    auto i = validators_.IndexOf(s.validator);
    if (i && (!my_index_ || *i != *my_index_)) peers.push_back(static_cast<ValidatorIndex>(*i));
  }
  LogLine("behind: height " + std::to_string(certificate.height) +
              " is certified; fetching blocks from " + std::to_string(height_),
          out);
  out->push_back(Fetch(to, std::move(peers)));
}

FetchBlocks Engine::Fetch(uint64_t to, std::vector<ValidatorIndex> peers) const {
  FetchBlocks f{height_, to, std::move(peers), {}};
  for (ValidatorIndex i : f.peers) f.peer_keys.push_back(validators_.at(i).key);
  return f;
}

void Engine::OnFetched(const BlockFetched& fetched, Actions* out) {
  const CommitCertificate& c = fetched.certificate;
  if (c.height != height_ || fetched.block.id != c.block_id) return;
  if (!core::VerifyCommitCertificate(validators_, config_.chain_id, c, height_, fetched.block.id,
                                     config_.check)
           .ok())
    return;
  Commit(fetched.block, c, /*live=*/false, out);
}

void Engine::NoteAhead(ValidatorIndex peer, uint64_t their_height, bool verified,
                       const PublicKey& key, const Bytes& sign_bytes, const Signature& signature,
                       Actions* out) {
  if (their_height <= peer_height_[peer]) return;
  // Checked first (once per peer and height), so that a forged message can neither send us
  // fetching nor make a validator seem further ahead than it is (the double-sign check counts
  // on that).
  if (!verified && !Check(key, sign_bytes, signature)) return;
  peer_height_[peer] = their_height;
  // Messages one height ahead are routine (the peer committed a moment before us); further
  // ahead, we are behind: fetch at once rather than wait for a stuck round. A signed message is
  // only its signer's word (a Byzantine validator may claim any height), so it asks that signer
  // alone, for one batch, once until that batch is committed or the round is stuck again, and
  // it never holds back the fetches that certificates and quorums prove necessary.
  if (their_height > height_ + 1 && their_height - 1 > fetch_requested_to_ &&
      height_ > asked_to_[peer]) {
    asked_to_[peer] = FetchLimit(their_height - 1);
    LogLine("behind: validator " + std::to_string(peer) + " is at height " +
                std::to_string(their_height) + "; fetching blocks",
            out);
    out->push_back(Fetch(asked_to_[peer], {peer}));
  }
}

// When the round is stuck, ask again for every height we know is committed: certified heights
// we have heard of, and heights below those at which peers are already voting.
void Engine::FetchFromPeersAhead(Actions* out) {
  uint64_t target = known_committed_;
  std::vector<ValidatorIndex> peers;
  for (ValidatorIndex i = 0; i < peer_height_.size(); ++i) {
    if (peer_height_[i] > height_) {
      target = std::max(target, peer_height_[i] - 1);
      peers.push_back(i);
    }
  }
  std::fill(asked_to_.begin(), asked_to_.end(), 0);
  if (target < height_) return;
  if (peers.empty()) {
    for (ValidatorIndex i = 0; i < validators_.size(); ++i)
      if (!my_index_ || i != *my_index_) peers.push_back(i);
  }
  target = FetchLimit(target);
  // Only proven heights (certificates, quorums) hold back later fetches.
  fetch_requested_to_ = std::min(target, known_committed_);
  out->push_back(Fetch(target, std::move(peers)));
}

void Engine::ShowCurrentRound(ValidatorIndex peer, Actions* out) {
  // A validator heard in an earlier round than ours, typically one that was stopped or cut off
  // while the others went through many rounds without a quorum. Our messages of the current
  // round (or, before we sign any, our votes of the previous one) let it follow us at once
  // (line 55, TrySkipRound) instead of after our next rebroadcast. Only what we already signed
  // is sent, once per round and validator.
  if ((my_index_ && peer == *my_index_) || shown_round_[peer] == round_ + 1) return;
  shown_round_[peer] = round_ + 1;
  const auto send = [&](const std::optional<Vote>& vote) {
    if (vote) out->push_back(SendTo{peer, *vote, validators_.at(peer).key});
  };
  if (auto it = rounds_.find(round_); it != rounds_.end()) {
    const RoundState& rs = it->second;
    if (std::optional<Proposal> own = WithBlock(rs.own_proposal))
      out->push_back(SendTo{peer, std::move(*own), validators_.at(peer).key});
    send(rs.own_prevote);
    send(rs.own_precommit);
    if (rs.own_proposal || rs.own_prevote || rs.own_precommit) return;
  }
  if (round_ == 0) return;
  if (auto it = rounds_.find(round_ - 1); it != rounds_.end()) {
    send(it->second.own_prevote);
    send(it->second.own_precommit);
  }
}

void Engine::HelpLaggingRound(ValidatorIndex peer, uint32_t their_round, Actions* out) {
  if (my_index_ && peer == *my_index_) return;
  if (rounds_helped_[peer].size() >= kMaxRoundsKept ||
      !rounds_helped_[peer].insert(their_round).second)
    return;
  auto it = rounds_.find(their_round);
  if (it == rounds_.end()) return;
  const RoundState& rs = it->second;
  if (std::optional<Proposal> own = WithBlock(rs.own_proposal))
    out->push_back(SendTo{peer, std::move(*own), validators_.at(peer).key});
  if (rs.own_prevote) out->push_back(SendTo{peer, *rs.own_prevote, validators_.at(peer).key});
  if (rs.own_precommit) out->push_back(SendTo{peer, *rs.own_precommit, validators_.at(peer).key});
}

uint64_t Engine::HeightOfOneThird() const {
  std::vector<std::pair<uint64_t, uint64_t>> heard;  // (height, power)
  for (ValidatorIndex i = 0; i < peer_height_.size(); ++i)
    heard.emplace_back(peer_height_[i], validators_.at(i).voting_power);
  std::sort(heard.begin(), heard.end(), std::greater<>());
  uint64_t power = 0;
  for (const auto& [height, p] : heard) {
    power += p;
    if (HasOneThirdPlus(power, validators_.total_power())) return height;
  }
  return 0;
}

bool Engine::WillHelp(ValidatorIndex peer) const {
  return helped_at_[peer] != height_ && !recent_certificates_.empty();
}

void Engine::HelpLaggard(ValidatorIndex peer, uint64_t their_height, Actions* out) {
  if (!WillHelp(peer)) return;
  helped_at_[peer] = height_;
  const CommitCertificate* send = &recent_certificates_.back();
  for (const CommitCertificate& c : recent_certificates_)
    if (c.height == their_height) send = &c;
  out->push_back(SendTo{peer, *send, validators_.at(peer).key});
}

void Engine::ProcessRules(Actions* out) {
  for (bool progress = true; progress;) {
    progress = false;
    if (TryCommit(out) || TrySkipRound(out)) {
      progress = true;
      continue;
    }
    RoundState& rs = Round(round_);
    const LockState lock{locked_round_, locked_block_};
    // Lines 22-33: prevote on the round's proposal once the application has judged it.
    if (step_ == RoundStep::kPropose && rs.proposal) {
      const Proposal& p = *rs.proposal;
      const Verdict verdict = VerdictOf(p.block_id);
      if (verdict != Verdict::kPending) {
        const bool valid = verdict == Verdict::kValid;
        if (!p.pol_round) {
          Prevote(PrevoteForProposal(lock, p.block_id, valid, std::nullopt), out);
          progress = true;
#ifdef HALLMARK_MUTANT_LINE28_NO_POLKA_CHECK
          // Mutant: the proof-of-lock round is taken on the proposer's word.
        } else if (*p.pol_round < round_) {
#else
        } else if (*p.pol_round < round_ && rounds_.count(*p.pol_round) &&
                   rounds_.at(*p.pol_round).prevotes.HasQuorumFor(p.block_id)) {
#endif
          Prevote(PrevoteForProposal(lock, p.block_id, valid, p.pol_round), out);
          progress = true;
        }
      }
    }
    RoundState& cur = Round(round_);
    // Line 34: a prevote quorum for anything starts the prevote timeout.
    if (step_ == RoundStep::kPrevote && cur.prevotes.HasQuorumAny() &&
        !cur.prevote_timeout_scheduled) {
      cur.prevote_timeout_scheduled = true;
      Schedule(TimeoutKind::kPrevote, round_, out);
    }
    // Lines 36-43: a polka for a valid proposal locks (if still prevoting) and sets the valid
    // value.
    if (step_ != RoundStep::kPropose && !cur.polka_handled && cur.proposal &&
        VerdictOf(cur.proposal->block_id) == Verdict::kValid &&
        cur.prevotes.HasQuorumFor(cur.proposal->block_id)) {
      cur.polka_handled = true;
      const Block block{cur.proposal->block_id, HeldBlock(cur.proposal->block_id)};
      if (step_ == RoundStep::kPrevote) {
        locked_round_ = round_;
        locked_block_ = block.id;
        if (my_index_ && !abstaining_) {
          LockRecord record{height_, round_, block, {}};
          for (const auto& [index, vote] : cur.prevotes.votes())
            if (vote.block_id == block.id) record.polka.push_back(vote);
          out->push_back(PersistLock{std::move(record)});
        }
        Precommit(block.id, out);
      }
      valid_round_ = round_;
      valid_block_ = block.id;
      progress = true;
    }
    // Lines 44-46: a polka for nil.
    if (step_ == RoundStep::kPrevote && cur.prevotes.HasQuorumFor(Hash256())) {
      Precommit(Hash256(), out);
      progress = true;
    }
    // Lines 47-48: a precommit quorum for anything starts the precommit timeout.
    if (cur.precommits.HasQuorumAny() && !cur.precommit_timeout_scheduled) {
      cur.precommit_timeout_scheduled = true;
      Schedule(TimeoutKind::kPrecommit, round_, out);
    }
  }
}

// Lines 49-54: a precommit quorum for a block we hold and judge valid, in any round, decides.
bool Engine::TryCommit(Actions* out) {
  for (auto& [round, rs] : rounds_) {
    std::optional<Hash256> id = rs.precommits.QuorumBlock();
    if (!id) continue;
    auto block = blocks_.find(*id);
    if (block == blocks_.end()) {
      // Decided without us seeing the proposal: fetch the block once it is committed.
      known_committed_ = std::max(known_committed_, height_);
      if (fetch_requested_to_ < height_) {
        fetch_requested_to_ = height_;
        std::vector<ValidatorIndex> peers;
        for (const auto& [index, vote] : rs.precommits.votes())
          if (vote.block_id == *id && (!my_index_ || index != *my_index_)) peers.push_back(index);
        out->push_back(Fetch(height_, std::move(peers)));
      }
      continue;
    }
    switch (VerdictOf(*id)) {
      case Verdict::kPending:
        RequestValidation(*id, out);
        continue;
      case Verdict::kInvalid:
        // Said once per block: this runs on every message while the height lasts. The likely
        // cause is this node, not a third of the network: a clock behind the others' makes
        // their blocks look dated in the future.
        if (invalid_quorum_logged_ != std::make_pair(height_, *id)) {
          invalid_quorum_logged_ = std::make_pair(height_, *id);
          LogLine("more than 2/3 precommitted block " + Short(*id) + " at height " +
                      std::to_string(height_) +
                      ", which this node's application rejects: most likely this node is wrong "
                      "(check its clock first: a clock behind the network's makes honest blocks "
                      "look dated in the future), otherwise more than f validators are faulty",
                  out);
        }
        continue;
      case Verdict::kValid:
        break;
    }
    CommitCertificate certificate{height_, round, *id, rs.precommits.SignaturesFor(*id)};
    Commit(Block{*id, block->second}, certificate, /*live=*/true, out);
    return true;
  }
  return false;
}

// Line 55: validators holding more than 1/3 of the power are in a later round, so at least one
// honest validator is; follow them. Deviation: a validator counts for every round up to the
// highest it has been heard in, so messages from different later rounds add up.
bool Engine::TrySkipRound(Actions* out) {
  std::vector<std::pair<uint32_t, uint64_t>> ahead;  // (round + 1, power)
  for (ValidatorIndex i = 0; i < max_round_.size(); ++i) {
    if (max_round_[i] > round_ + 1)
      ahead.emplace_back(max_round_[i], validators_.at(i).voting_power);
  }
  std::sort(ahead.begin(), ahead.end(), std::greater<>());
  uint64_t power = 0;
  for (const auto& [round_plus_one, p] : ahead) {
    power += p;
    if (HasOneThirdPlus(power, validators_.total_power())) {
      StartRound(round_plus_one - 1, out);
      return true;
    }
  }
  return false;
}

void Engine::Commit(const Block& block, const CommitCertificate& certificate, bool live,
                    Actions* out) {
  HM_ASSERT(certificate.height == height_ && certificate.block_id == block.id);
  out->push_back(CommitBlock{block, certificate});
  recent_certificates_.push_back(certificate);
  if (recent_certificates_.size() > kRecentCertificates) recent_certificates_.pop_front();
  known_committed_ = std::max(known_committed_, height_);
  if (abstaining_) {
    // A validator without signer state could have signed up to one height past its last
    // commit, and that commit is no later than the first height the network commits while we
    // follow live (a quorum without us includes an honest validator that was there). So sign
    // again once the height after the first live commit is committed.
    //
    // "Live" must mean now, not a replay: a certificate's precommits and the proposal before
    // them can be sent again by anyone, long after the network has moved on. So a commit counts
    // only after the observation window since the restart (time enough to hear the honest
    // validators at their current heights), and only when validators holding more than 1/3 of
    // the power (so at least one honest one) have not been heard more than one height past it:
    // replays can show old heights only, never newer ones. Honest validators that precommitted
    // the last height L our previous life could have committed are at L or later, so the
    // commit X satisfies X + 1 >= L and our previous life signed at most at L + 1 <= X + 2;
    // signing resumes after X + 2 commits.
    if (live && !abstain_until_ && observed_ && known_committed_ <= height_ &&
        HeightOfOneThird() <= height_ + 1) {
      abstain_until_ = height_ + 2;
      LogLine("double-sign check: first live commit; signing resumes after height " +
                  std::to_string(*abstain_until_) + " commits",
              out);
    } else if (abstain_until_ && height_ >= *abstain_until_) {
      abstaining_ = false;
      LogLine("double-sign check passed: signing again from height " + std::to_string(height_ + 1),
              out);
    }
  }
  // Lines 52-54: next height, fresh state, round 0 at once (no commit timeout).
  ++height_;
  locked_round_.reset();
  locked_block_ = Hash256();
  // A signer state ahead of the chain (a data folder restored under a newer watermark) may hold
  // a lock for the height the engine only now reaches: keep it, as the constructor does.
  if (signer_state_.lock_height == height_ && !core::IsNil(signer_state_.lock_block_id)) {
    locked_round_ = signer_state_.lock_round;
    locked_block_ = signer_state_.lock_block_id;
  }
  valid_round_.reset();
  valid_block_.reset();
  rounds_.clear();
  blocks_.clear();
  verdicts_.clear();
  evidence_reported_.clear();
  // Messages that arrived early for this height, checked against its set (now the current one).
  std::vector<std::vector<Event>> buffered;
  buffered.swap(future_);
  EnterHeight(out);
  StartRound(0, out);
  for (auto& events : buffered)
    for (const Event& e : events) Dispatch(e, out);
}

}  // namespace hallmark::consensus
