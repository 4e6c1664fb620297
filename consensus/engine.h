#pragma once

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "consensus/rules.h"
#include "consensus/types.h"
#include "consensus/vote_set.h"
#include "core/limits.h"

namespace hallmark::consensus {

// Bounds on what the engine keeps (docs/consensus.md, "Limits").
inline constexpr uint32_t kMaxRoundsAhead = 32;  // Votes further ahead are not stored.
// Messages for height + 1 buffered per validator, after their signature is checked; at most one
// of them a proposal.
inline constexpr size_t kMaxFutureMessagesPerValidator = 8;
inline constexpr size_t kRecentCertificates = 16;  // Kept to help lagging peers.
inline constexpr uint64_t kMaxFetchHeights = 64;   // Heights asked for in one FetchBlocks.
// Proposals (and their blocks) are kept from kBlockRoundsKept rounds behind the current round
// to kMaxProposalRoundsAhead rounds ahead of it.
inline constexpr uint32_t kBlockRoundsKept = 2;
inline constexpr uint32_t kMaxProposalRoundsAhead = 2;
// A validator restarted without signer state listens this many times (timeout_propose +
// timeout_prevote + timeout_precommit) before a commit can end its double-sign check.
inline constexpr uint64_t kDoubleSignObservePeriods = 2;
// Older rounds of a height are dropped, except proof rounds (IsProofRound).
inline constexpr uint32_t kMaxRoundsKept = 64;

struct EngineConfig {
  std::string chain_id;
  // The validator set of the first height the engine enters (EngineStart::committed_height + 1).
  // Later sets arrive as ScheduleValidators events (docs/consensus.md, "Changing validator
  // sets").
  ValidatorSet validators;
  TimeoutConfig timeouts;
  // genesis.json's consensus.max_block_bytes: larger proposals are dropped unread.
  uint64_t max_block_bytes = core::limits::kMaxBlockBytes;
  // How signatures are checked. The default applies core's acceptance policy; the simulator
  // passes the same policy behind a cache of verdicts.
  core::SignatureCheck check = core::PolicySignatureCheck;
};

// What the engine holds that peers can make it hold, for tests, the simulator and metrics.
// FootprintLimit gives the bound on each (docs/consensus.md, "Limits"). Validator sets the driver
// schedules are not counted: they come from the committed chain, not from peers.
struct EngineFootprint {
  size_t rounds = 0;        // Rounds of the current height kept.
  size_t vote_entries = 0;  // (block, validator) pairs remembered, over every vote set.
  size_t blocks = 0;        // Blocks held for the current height.
  uint64_t block_bytes = 0;
  size_t buffered = 0;  // Messages buffered for the next height.
  uint64_t buffered_bytes = 0;
  size_t other = 0;  // Verdicts, evidence keys and lagging rounds helped.
};

// Where the engine starts: the last committed height (0 before the first block) and the signer
// state read back from disk. nullopt means the signer state is missing (a wiped or restored data
// folder): the engine then abstains from signing until a double-sign check passes.
struct EngineStart {
  uint64_t committed_height = 0;
  std::optional<SignerState> signer_state = SignerState{};
  // The last PersistLock record, if any. Used only when it matches the signer state's lock.
  std::optional<LockRecord> lock;
  // Abstain even with a signer state: it is known to be old (a watermark restored from a backup;
  // the key may have signed after it). The state still guards what it covers, and the engine
  // signs nothing until the double-sign check has passed, as without one.
  bool abstain = false;
};

// Tendermint's BFT consensus (Buchman, Kwon, Milosevic, arXiv 1807.04938) as a pure state
// machine: Step(event) returns the actions to carry out, in order. No I/O, clock, thread or
// randomness inside; time arrives as TimeoutFired events for timeouts the engine scheduled.
// The same state and the same event always give the same actions.
//
// One function, SignAndBroadcast, signs: it applies the signer guard (MaySign), emits
// PersistSignerState before the Broadcast, and refuses while the double-sign check is pending.
//
// Thread-compatible: one driver thread (or strand) calls Start and Step.
//
// FootprintLimit bounds what an engine holds with config.validators as its set; when the set
// changes, the bound is that of the larger of the sets of the current and the next height
// (Engine::Limit), so a caller that checks against a fixed bound passes the largest set it
// schedules.
EngineFootprint FootprintLimit(const EngineConfig& config);

class Engine {
 public:
  // `signer` may be null for a node that only follows (it never signs). A signer whose key is
  // not in the set of the current height follows too, and signs from the first height whose set
  // holds its key (and stops at the first one that does not). `signer` must outlive the engine.
  Engine(EngineConfig config, const VoteSigner* signer, EngineStart start);

  // Enters the first round of the next height. Call once, before any Step.
  Actions Start();
  Actions Step(const Event& event);

  // Introspection for the driver, tests and the simulator's checks.
  uint64_t height() const { return height_; }
  uint32_t round() const { return round_; }
  RoundStep step() const { return step_; }
  const SignerState& signer_state() const { return signer_state_; }
  bool abstaining() const { return abstaining_; }
  LockState lock() const { return {locked_round_, locked_block_}; }
  // This validator's index in the set of the current height; nullopt while it only follows.
  std::optional<ValidatorIndex> my_index() const { return my_index_; }
  // The proposer of (height, round) by the set of `height` (the latest known for heights beyond
  // the next one).
  ValidatorIndex ProposerOf(uint64_t height, uint32_t round) const;
  // The set of the current height, and of any height: the latest scheduled set with
  // from_height <= height (the set of the current height for earlier ones).
  const ValidatorSet& validators() const { return validators_; }
  const ValidatorSet& ValidatorSetAt(uint64_t height) const;
  const EngineConfig& config() const { return config_; }
  EngineFootprint Footprint() const;
  // The bound on Footprint() for the sets the engine holds now (see FootprintLimit).
  EngineFootprint Limit() const;

 private:
  enum class Verdict { kPending, kValid, kInvalid };

  struct RoundState {
    RoundState(uint64_t height, uint32_t round, const ValidatorSet* validators)
        : prevotes(height, round, VoteType::kPrevote, validators),
          precommits(height, round, VoteType::kPrecommit, validators) {}
    std::optional<Proposal> proposal;  // Without its block's bytes.
    VoteSet prevotes;
    VoteSet precommits;
    bool prevote_timeout_scheduled = false;    // Line 34 "for the first time".
    bool precommit_timeout_scheduled = false;  // Line 47 "for the first time".
    bool polka_handled = false;                // Line 36 "for the first time".
    bool build_requested = false;
    // What this validator signed in the round, for re-sending.
    std::optional<Proposal> own_proposal;  // Without its block's bytes.
    std::optional<Vote> own_prevote;
    std::optional<Vote> own_precommit;
  };

  // Handlers; each appends to *out.
  void OnProposal(const Proposal& proposal, Actions* out);
  void OnVote(const Vote& vote, Actions* out);
  void OnCertificate(const CommitCertificate& certificate, Actions* out);
  void OnTimeout(const Timeout& timeout, Actions* out);
  void OnBlockBuilt(const BlockBuilt& built, Actions* out);
  void OnVerdict(const BlockVerdict& verdict, Actions* out);
  void OnFetched(const BlockFetched& fetched, Actions* out);
  void OnSchedule(const ScheduleValidators& schedule, Actions* out);
  void Dispatch(const Event& event, Actions* out);
  // Takes the sets of height_ and height_ + 1 from epochs_; at a set boundary rebuilds the
  // per-validator state by key. Leaves future_ empty, sized for the set of height_ + 1.
  void EnterHeight(Actions* out);
  // Re-reads the set of height_ + 1 after a schedule; drops buffered messages if it changed.
  void RefreshNextSet();

  void StartRound(uint32_t round, Actions* out);
  // Applies every rule whose condition holds until none does.
  void ProcessRules(Actions* out);
  bool TryCommit(Actions* out);
  bool TrySkipRound(Actions* out);
  void Prevote(const Hash256& block_id, Actions* out);
  void Precommit(const Hash256& block_id, Actions* out);
  void Propose(const Block& block, std::optional<uint32_t> pol_round, Actions* out);
  // Relays the prevote quorum for `block_id` at `round` (signed by others; no new signature).
  void RelayPolka(uint32_t round, const Hash256& block_id, Actions* out);
  // THE signing function: guard, persist, sign, broadcast, in that order. Returns false (and
  // sends nothing) when the guard or the double-sign check refuses.
  bool SignAndBroadcast(Message message, Actions* out);
  void Commit(const Block& block, const CommitCertificate& certificate, bool live, Actions* out);
  // REQUIRES: the message from `peer` at `their_height` < height_ has a valid signature.
  void HelpLaggard(ValidatorIndex peer, uint64_t their_height, Actions* out);
  // Whether HelpLaggard would answer `peer` now; checked before a stale message's signature.
  bool WillHelp(ValidatorIndex peer) const;
  // The highest height at which validators holding more than 1/3 of the power have been heard
  // (signed messages, checked), so at least one honest validator has reached it.
  uint64_t HeightOfOneThird() const;
  // A message from `peer` at a later height: that peer has committed our height. `verified`
  // says its signature was checked already; otherwise it is checked before acting on it.
  void NoteAhead(ValidatorIndex peer, uint64_t their_height, bool verified, const PublicKey& key,
                 const Bytes& sign_bytes, const Signature& signature, Actions* out);
  void FetchFromPeersAhead(Actions* out);
  // A FetchBlocks from height_ to `to`, asking `peers` (indices in validators_).
  FetchBlocks Fetch(uint64_t to, std::vector<ValidatorIndex> peers) const;
  // The last height of one fetch batch starting at height_ and asking up to `to`.
  uint64_t FetchLimit(uint64_t to) const { return std::min(to, height_ + kMaxFetchHeights - 1); }
  // A peer still in an earlier round of our height: send it what we signed in that round, which
  // it may have lost (the paper's gossip does this).
  void HelpLaggingRound(ValidatorIndex peer, uint32_t their_round, Actions* out);
  // Sends a validator heard in an earlier round our own messages of the current round.
  void ShowCurrentRound(ValidatorIndex peer, Actions* out);
  // Takes a polka completed late for an earlier round as the valid value (see the .cpp).
  void AdoptLatePolka(uint32_t round, const RoundState& rs);
  void RecordVote(ValidatorIndex index, const Vote& vote, Actions* out);
  void NoteRound(ValidatorIndex index, uint32_t round);
  void Schedule(TimeoutKind kind, uint32_t round, Actions* out);
  void RequestValidation(const Hash256& block_id, Actions* out);
  void BufferFuture(ValidatorIndex index, Event event);
  // Drops rounds more than kMaxRoundsKept behind, except proof rounds.
  void PruneRounds();
  // A round whose polka line 28 may need: the valid round, the locked round, or the
  // proof-of-lock round of a proposal kept for the current round or a later one.
  bool IsProofRound(uint32_t round) const;
  // Whether proposals and blocks of `round` are kept (Limits).
  bool HoldsBlocksOf(uint32_t round) const;
  // The bytes of a block PruneRounds keeps (the valid value, the current round's proposal).
  const Bytes& HeldBlock(const Hash256& id) const;
  // `proposal` with its block's bytes, which blocks_ holds; nullopt once they are dropped.
  std::optional<Proposal> WithBlock(const std::optional<Proposal>& proposal) const;
  RoundState& Round(uint32_t round);
  Verdict VerdictOf(const Hash256& block_id) const;
  bool Check(const PublicKey& key, const Bytes& message, const Signature& signature) const;
  void LogLine(std::string message, Actions* out) const;

  EngineConfig config_;
  const VoteSigner* signer_;
  std::optional<ValidatorIndex> my_index_;  // In validators_.
  bool started_ = false;

  // Validator sets by the first height they are in force; the first entry is the set of
  // height_ (older ones are dropped on entering a height), later ones are scheduled.
  std::map<uint64_t, ValidatorSet> epochs_;
  ValidatorSet validators_;  // Of height_: every per-validator vector below is indexed by it.
  std::vector<ValidatorIndex> schedule_;
  ValidatorSet next_validators_;  // Of height_ + 1: future_ is indexed by it.
  std::vector<ValidatorIndex> next_schedule_;

  // Tendermint's per-height state.
  uint64_t height_ = 1;
  uint32_t round_ = 0;
  RoundStep step_ = RoundStep::kPropose;
  std::optional<uint32_t> locked_round_;
  Hash256 locked_block_;
  std::optional<uint32_t> valid_round_;
  std::optional<Hash256> valid_block_;  // Its bytes are in blocks_.
  // Rounds hold proposals without their bytes; the bytes of every block named by a kept
  // proposal, and of the valid value, are here, once.
  std::map<uint32_t, RoundState> rounds_;
  std::map<Hash256, Bytes> blocks_;
  std::map<Hash256, Verdict> verdicts_;
  std::vector<uint32_t> max_round_;  // Per validator, highest round heard at this height + 1.
  std::set<std::tuple<uint32_t, ValidatorIndex, VoteType>> evidence_reported_;  // Round first.

  // Catching up.
  uint64_t known_committed_ = 0;  // Highest certified height heard of.
  // The last block a quorum precommitted that the application refused, already logged.
  std::optional<std::pair<uint64_t, Hash256>> invalid_quorum_logged_;
  // Highest height asked for on proof (a certificate or a precommit quorum) since the last
  // rebroadcast; a peer's unproven claim never raises it.
  uint64_t fetch_requested_to_ = 0;
  std::vector<uint64_t> helped_at_;    // Per validator: our height when we last helped it.
  std::vector<uint64_t> peer_height_;  // Per validator: the highest height heard from it.
  std::vector<uint64_t> asked_to_;     // Per validator: last height asked of it on its word.
  std::vector<std::set<uint32_t>> rounds_helped_;  // Per validator, since the last rebroadcast.
  // Per validator: our round + 1 when we last showed it our current round (ShowCurrentRound).
  std::vector<uint32_t> shown_round_;
  std::deque<CommitCertificate> recent_certificates_;
  // Per validator of the set of height + 1, messages for height + 1.
  std::vector<std::vector<Event>> future_;

  // Signing.
  SignerState signer_state_;
  bool abstaining_ = false;
  bool observed_ = false;                  // The double-sign check's observation window has passed.
  std::optional<uint64_t> abstain_until_;  // Set at the first live commit while abstaining.
};

}  // namespace hallmark::consensus
