#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "consensus/engine.h"
#include "core/certificate.h"
#include "core/crypto/ed25519.h"
#include "core/governance.h"
#include "node/catch_up.h"
#include "node/evidence_pool.h"
#include "node/mempool.h"
#include "node/metrics.h"
#include "node/signer_state.h"
#include "node/validator_sets.h"
#include "proto/p2p.pb.h"
#include "storage/ledger.h"

namespace hallmark::node {

// Where the driver's messages go: the P2P transport, or a test double.
class PeerSender {
 public:
  virtual ~PeerSender() = default;
  virtual void Broadcast(const pb::PeerMessage& message) = 0;
  virtual void Send(const core::PublicKey& to, const pb::PeerMessage& message) = 0;
};

// Signs with the node's consensus key (core::SigningKey), for the engine.
// REQUIRES: `key` outlives the signer.
class KeySigner final : public consensus::VoteSigner {
 public:
  explicit KeySigner(const core::SigningKey& key) : key_(key) {}
  const core::PublicKey& public_key() const override { return key_.public_key(); }
  core::Signature Sign(core::ByteSpan sign_bytes) const override { return key_.Sign(sign_bytes); }

 private:
  const core::SigningKey& key_;
};

// Node-local settings, not part of consensus. Plain data.
struct DriverOptions {
  // A proposer with records waiting (fewer than a full block) builds no sooner than this long
  // after the previous commit, so that under load blocks carry many records instead of each
  // paying the fixed cost of a height for a few. 0: build as soon as any record waits.
  uint32_t block_interval_ms = 0;
  // This many waiting records cut the block interval short, as a full block does: under steady
  // load the next height starts as soon as the last commits, while a trickle of records still
  // waits for the interval. 0: only a full block cuts it short.
  uint32_t block_batch_records = 0;
  // The signer watermark (<home>/signer_state.json, node/signer_state.h), written before the
  // data folder's signer state and compared with it at start. Empty: none (observers, and tests
  // of the driver alone), and the data folder's state is used as it is.
  std::filesystem::path signer_watermark;
  // The network state after the head block, whose validator epochs (past, current and
  // scheduled) say which set certifies each height: the ledger's
  // (storage::Ledger::network_state()). Called on the driver's strand, at start and after each
  // commit. Unset: genesis' state (no governance), read once.
  std::function<std::shared_ptr<const core::NetworkState>()> network_state;
};

// Called after each commit, on the driver's strand.
using CommitListener = std::function<void(const pb::Block& block, uint64_t height)>;

// Drives the consensus engine for one node: turns peer messages and timers into engine events on
// one strand, and carries out the engine's actions in order — persisting the signer state
// (synced) before any vote it guards is sent, building and validating blocks through the
// ledger with the mempool's records, committing blocks with their certificates, and fetching
// blocks from peers when behind.
//
// Thread-safety: every public method may be called from any thread; work runs on the strand.
class ConsensusDriver {
 public:
  // `signer` is null for an observer. All pointers must outlive the driver.
  ConsensusDriver(boost::asio::io_context& io, const core::Network& network,
                  storage::Ledger* ledger, Mempool* mempool, PeerSender* peers,
                  const consensus::VoteSigner* signer, MetricsRegistry* metrics,
                  DriverOptions options = {});
  ~ConsensusDriver();

  // Reads the signer state and lock back from the ledger and starts the engine.
  core::Status Start();
  void Stop();

  // A message from an authenticated peer (consensus, blocks, status).
  void OnPeerMessage(const core::PublicKey& from, pb::PeerMessage message);
  // A peer connected (with the height it announced) or went away.
  void OnPeerStatus(const core::PublicKey& peer, bool connected, uint64_t height);
  // Records were admitted; the driver wakes a proposer that is waiting for work (or, when it
  // waits for the block interval, for a full block). Cheap when no build waits (an atomic
  // load), so it may be called for every record.
  void OnRecordsAvailable();

  void AddCommitListener(CommitListener listener);
  bool abstaining() const { return abstaining_.load(); }
  // Verified evidence waiting for a block on this node.
  size_t pending_evidence() const { return evidence_.size(); }
  uint64_t engine_height() const { return engine_height_.load(); }
  // Whether this node signs at its engine's current height (its key is in that height's set,
  // and it is not abstaining). Any thread.
  bool voting() const { return voting_.load(); }

 private:
  // The signer state to start with, from the watermark and the data folder
  // (ChooseSignerState); nullopt: abstain until the double-sign check passes.
  core::Result<std::optional<consensus::SignerState>> LoadSignerState();
  WatermarkOwner WatermarkOwnerOf() const;  // REQUIRES: signer_.
  void Post(std::function<void()> fn);
  void Handle(const consensus::Event& event);
  void Execute(consensus::Actions actions);
  void Do(const consensus::Action& action, std::vector<consensus::Event>* events);
  void DoBuild(const consensus::BuildBlock& a, std::vector<consensus::Event>* events);
  // Checks together the signatures of the block's records this node has not verified yet (the
  // mempool's verdict cache), so that validating the block finds them all cached.
  void PreVerifyRecords(const pb::Block& block);
  void BuildNow(const consensus::BuildBlock& a, std::vector<consensus::Event>* events);
  // How long a proposer with `pending_records` should still wait before building.
  uint64_t BuildDelayMs(uint64_t pending_records) const;
  // Waiting records that make a proposer build without waiting out the block interval.
  uint64_t BuildAtOnceRecords() const;
  // What is left of the idle block interval since this height started.
  uint64_t IdleRemainingMs() const;
  void WaitToBuild(const consensus::BuildBlock& a, uint64_t delay_ms);
  void DoValidate(const consensus::ValidateBlock& a, std::vector<consensus::Event>* events);
  void DoCommit(const consensus::CommitBlock& a);
  void DoFetch(const consensus::FetchBlocks& a);
  // Asks peers that announce a height above ours + 1 for the blocks in between, at most once per
  // retry period. The engine fetches on proof and on the word of validators of its height; a
  // node behind by several validator set changes may know none of the validators that are
  // still signing, and this is how it catches up (their certificates are checked, per height,
  // when the engine gets there).
  void CatchUp();
  // Sends the requests the planner makes for heights up to what peers announced or the engine
  // proved (fetch_target_), while the fetched blocks waiting take less than kMaxFetchedBytes.
  void PumpFetches();
  // Hands the fetched blocks that follow the head, once their signatures are checked, to the
  // engine in height order; a block the engine does not commit is dropped and asked for again.
  void DrainFetched();
  void SendMessage(const consensus::Message& message, const core::PublicKey* to);
  void ServeBlocks(const core::PublicKey& to, const pb::BlockRequest& request);
  void OnBlocks(const core::PublicKey& from, const pb::BlockResponse& response);
  void Schedule(const consensus::Timeout& timeout, uint64_t delay_ms);
  // Checks a piece of evidence into the pool and, when it is new, passes it to every peer.
  void AddEvidence(const core::Evidence& evidence, std::string_view source);
  void OnEvidenceGossip(const core::PublicKey& from, const pb::EvidenceGossip& gossip);
  // The network state to read validator sets from (DriverOptions::network_state, or genesis').
  std::shared_ptr<const core::NetworkState> NetworkState() const;
  // After a commit: ScheduleValidators for every epoch the state holds that the engine has not
  // been told of yet (from_height above the last one sent), appended to `events`.
  void ScheduleNewEpochs(std::vector<consensus::Event>* events);
  void Fatal(const std::string& what);
  uint64_t NowMs() const;

  const DriverOptions options_;
  boost::asio::io_context& io_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  const core::Network& network_;
  std::shared_ptr<const core::NetworkState> genesis_state_;  // When no network_state is given.
  uint64_t scheduled_to_ = 0;  // Highest from_height the engine knows a set for.
  storage::Ledger* ledger_;
  Mempool* mempool_;
  PeerSender* peers_;
  const consensus::VoteSigner* signer_;
  MetricsRegistry* metrics_;
  Gauge* height_gauge_ = nullptr;
  Histogram* commit_latency_ = nullptr;
  Counter* rounds_ = nullptr;
  Gauge* evidence_committed_ = nullptr;
  Gauge* evidence_pending_ = nullptr;
  std::map<EvidencePool::AddResult, Counter*> evidence_received_;

  EvidencePool evidence_;  // Used on the strand.

  std::unique_ptr<consensus::Engine> engine_;
  std::atomic<bool> stopped_{false};
  std::atomic<bool> abstaining_{false};
  std::atomic<uint64_t> engine_height_{0};
  std::atomic<bool> voting_{false};
  // The watermark was restored from a backup (RestoreMark): the engine starts abstaining, and
  // the mark is cleared (the watermark written again without it) once the double-sign check
  // has passed. On the strand after Start.
  std::optional<RestoreMark> restored_;
  // Blocks this node built or validated, ready to commit without re-executing.
  std::unordered_map<core::Hash256, storage::PreparedBlock> prepared_;
  std::map<std::tuple<uint64_t, uint32_t, int>, std::unique_ptr<boost::asio::steady_timer>> timers_;
  std::vector<CommitListener> listeners_;
  std::map<core::PublicKey, uint64_t> peer_heights_;
  // The last signer state persisted: its votes are what this validator signed most recently,
  // sent to a peer that (re)connects so that it learns our round without waiting for a
  // rebroadcast (after a partition heals, say).
  std::optional<consensus::SignerState> last_signed_;
  // A proposer asked to build while the pool was empty: the build waits briefly for records.
  std::optional<consensus::BuildBlock> waiting_build_;
  // What a waiting build waits for. kForRecords is set before a proposer looks at the pool, so
  // an admission either lands before the look or sees the flag and wakes the build; while it
  // waits only for the block interval, an admission wakes it only when a full block waits.
  enum class BuildWait : uint8_t { kNone, kForRecords, kForInterval };
  std::atomic<BuildWait> build_wait_{BuildWait::kNone};
  std::unique_ptr<boost::asio::steady_timer> build_timer_;
  std::chrono::steady_clock::time_point height_started_;
  // Set while round 0's propose timeout is stretched by the idle interval (the pool was empty):
  // the first admitted record re-arms it at its normal length (see Schedule).
  std::optional<consensus::Timeout> idle_propose_;
  std::atomic<bool> idle_propose_armed_{false};

  // Catching up (node/catch_up.h), on the strand: the requests in flight, and fetched blocks
  // above the head waiting for their turn and for their records' signature checks.
  FetchPlanner fetch_planner_{FetchPlannerLimits{
      .max_blocks_per_request = 32, .max_in_flight = 4, .max_ahead = 256, .timeout_ms = 15'000}};
  uint64_t fetch_target_ = 0;  // Highest height the engine asked to fetch.
  struct FetchedBlock {
    std::shared_ptr<const pb::Block> block;
    core::Hash256 id;
    core::CommitCertificate certificate;
    size_t bytes = 0;
    std::shared_ptr<const VerifiedRecords> verified;  // Null until the workers are done.
  };
  std::map<uint64_t, FetchedBlock> fetched_;  // By height.
  size_t fetched_bytes_ = 0;
  bool fetch_timer_armed_ = false;
  // Last member: destroyed first, so its workers stop before what their callbacks touch.
  std::unique_ptr<RecordVerifier> verifier_ = std::make_unique<RecordVerifier>();
};

}  // namespace hallmark::node
