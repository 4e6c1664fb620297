#pragma once

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "consensus/rules.h"
#include "consensus/types.h"
#include "consensus/vote_set.h"

namespace hallmark::consensus {

// Bounds on what the engine keeps (docs/consensus.md, "Limits").
inline constexpr uint32_t kMaxRoundsAhead = 32;              // Votes further ahead are not stored.
inline constexpr size_t kMaxFutureMessagesPerValidator = 8;  // Buffered for height + 1.
inline constexpr size_t kRecentCertificates = 16;            // Kept to help lagging peers.
inline constexpr uint64_t kMaxFetchHeights = 64;  // Heights asked for in one FetchBlocks.
// Older rounds of a height are dropped, except proof rounds (IsProofRound).
inline constexpr uint32_t kMaxRoundsKept = 64;

struct EngineConfig {
  std::string chain_id;
  ValidatorSet validators;
  TimeoutConfig timeouts;
  // How signatures are checked. The default applies core's acceptance policy; the simulator
  // passes the same policy behind a cache of verdicts.
  core::SignatureCheck check = core::PolicySignatureCheck;
};

// Where the engine starts: the last committed height (0 before the first block) and the signer
// state read back from disk. nullopt means the signer state is missing (a wiped or restored data
// folder): the engine then abstains from signing until a double-sign check passes.
struct EngineStart {
  uint64_t committed_height = 0;
  std::optional<SignerState> signer_state = SignerState{};
  // The last PersistLock record, if any. Used only when it matches the signer state's lock.
  std::optional<LockRecord> lock;
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
class Engine {
 public:
  // `signer` may be null for a node that only follows (it never signs); otherwise its key must
  // be in the validator set. `signer` must outlive the engine.
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
  std::optional<ValidatorIndex> my_index() const { return my_index_; }
  ValidatorIndex ProposerOf(uint64_t height, uint32_t round) const {
    return ProposerFor(schedule_, height, round);
  }
  const EngineConfig& config() const { return config_; }

 private:
  enum class Verdict { kPending, kValid, kInvalid };

  struct RoundState {
    RoundState(uint64_t height, uint32_t round, const ValidatorSet* validators)
        : prevotes(height, round, VoteType::kPrevote, validators),
          precommits(height, round, VoteType::kPrecommit, validators) {}
    std::optional<Proposal> proposal;
    VoteSet prevotes;
    VoteSet precommits;
    bool prevote_timeout_scheduled = false;    // Line 34 "for the first time".
    bool precommit_timeout_scheduled = false;  // Line 47 "for the first time".
    bool polka_handled = false;                // Line 36 "for the first time".
    bool build_requested = false;
    // What this validator signed in the round, for re-sending.
    std::optional<Proposal> own_proposal;
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
  void Dispatch(const Event& event, Actions* out);

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
  void HelpLaggard(ValidatorIndex peer, uint64_t their_height, Actions* out);
  // A signed message from `peer` at a later height: that peer has committed our height.
  void NoteAhead(ValidatorIndex peer, uint64_t their_height, const PublicKey& key,
                 const Bytes& sign_bytes, const Signature& signature, Actions* out);
  void FetchFromPeersAhead(Actions* out);
  // The last height of one fetch batch starting at height_ and asking up to `to`.
  uint64_t FetchLimit(uint64_t to) const { return std::min(to, height_ + kMaxFetchHeights - 1); }
  // A peer still in an earlier round of our height: send it what we signed in that round, which
  // it may have lost (the paper's gossip does this).
  void HelpLaggingRound(ValidatorIndex peer, uint32_t their_round, Actions* out);
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
  RoundState& Round(uint32_t round);
  Verdict VerdictOf(const Hash256& block_id) const;
  bool Check(const PublicKey& key, const Bytes& message, const Signature& signature) const;
  void LogLine(std::string message, Actions* out) const;

  EngineConfig config_;
  const VoteSigner* signer_;
  std::optional<ValidatorIndex> my_index_;
  std::vector<ValidatorIndex> schedule_;
  bool started_ = false;

  // Tendermint's per-height state.
  uint64_t height_ = 1;
  uint32_t round_ = 0;
  RoundStep step_ = RoundStep::kPropose;
  std::optional<uint32_t> locked_round_;
  Hash256 locked_block_;
  std::optional<uint32_t> valid_round_;
  std::optional<Block> valid_block_;
  std::map<uint32_t, RoundState> rounds_;
  std::map<Hash256, Bytes> blocks_;  // Block bytes named by this height's proposals.
  std::map<Hash256, Verdict> verdicts_;
  std::vector<uint32_t> max_round_;  // Per validator, highest round heard at this height + 1.
  std::set<std::tuple<ValidatorIndex, uint32_t, VoteType>> evidence_reported_;

  // Catching up.
  uint64_t known_committed_ = 0;  // Highest certified height heard of.
  // Highest height asked for on proof (a certificate or a precommit quorum) since the last
  // rebroadcast; a peer's unproven claim never raises it.
  uint64_t fetch_requested_to_ = 0;
  std::vector<uint64_t> helped_at_;    // Per validator: our height when we last helped it.
  std::vector<uint64_t> peer_height_;  // Per validator: the highest height heard from it.
  std::vector<uint64_t> asked_to_;     // Per validator: last height asked of it on its word.
  std::vector<std::set<uint32_t>> rounds_helped_;  // Per validator, since the last rebroadcast.
  std::deque<CommitCertificate> recent_certificates_;
  std::vector<std::vector<Event>> future_;  // Per validator, messages for height + 1.

  // Signing.
  SignerState signer_state_;
  bool abstaining_ = false;
  std::optional<uint64_t> abstain_until_;  // Set at the first live commit while abstaining.
};

}  // namespace hallmark::consensus
