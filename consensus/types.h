#pragma once

// The consensus engine's vocabulary: the events it consumes, the actions it emits, the signer
// state it asks the driver to persist, and the small interface through which it signs. Plain
// structs only: no I/O types, no Protobuf.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/bytes.h"
#include "core/certificate.h"
#include "core/crypto/ed25519.h"

namespace hallmark::consensus {

using core::Bytes;
using core::CommitCertificate;
using core::CommitSignature;
using core::DuplicateProposalEvidence;
using core::DuplicateVoteEvidence;
using core::Evidence;
using core::Hash256;
using core::Proposal;
using core::PublicKey;
using core::Signature;
using core::ValidatorSet;
using core::Vote;
using core::VoteType;

// An index into the validator set of one height (the set's order: genesis order, validators
// added by governance appended).
using ValidatorIndex = uint32_t;

// A block as the engine sees it: an id and bytes only the application understands. The
// application guarantees that `id` names `data` (e.g. the hash of its header).
struct Block {
  Hash256 id;
  Bytes data;
  bool operator==(const Block&) const = default;
};

// The step of a round, in the order the protocol passes through them.
enum class RoundStep : uint8_t {
  kPropose = 1,
  kPrevote = 2,
  kPrecommit = 3,
};
std::string_view RoundStepName(RoundStep step);

enum class TimeoutKind : uint8_t {
  kPropose,
  kPrevote,
  kPrecommit,
  // Re-sends this round's own messages when the round makes no progress, standing in for the
  // gossip layer the paper assumes (lost messages are otherwise never repeated).
  kRebroadcast,
  // Once, after a start without signer state: the double-sign check's observation window. It
  // belongs to no height or round; the driver must not drop it when heights pass.
  kDoubleSignCheck,
};
std::string_view TimeoutKindName(TimeoutKind kind);

struct Timeout {
  uint64_t height = 0;
  uint32_t round = 0;
  TimeoutKind kind = TimeoutKind::kPropose;
  bool operator==(const Timeout&) const = default;
};

// Round timeouts; each grows by delta_ms per round (Tendermint's timeoutX(r) = X + r * delta).
struct TimeoutConfig {
  uint32_t propose_ms = 1000;
  uint32_t prevote_ms = 500;
  uint32_t precommit_ms = 500;
  uint32_t delta_ms = 250;
  // The growth (round × delta_ms) stops here: after a quorum was lost for minutes, timeouts
  // would otherwise have grown to minutes too, and the network would wait that long after
  // healing. Networks whose messages may take longer than the base timeouts plus this need a
  // larger cap (genesis consensus.timeout_max_growth_ms), or rounds could keep failing.
  uint32_t max_growth_ms = 2000;
};

// What must survive a crash so that this validator never signs two different messages for one
// (height, round, step): the last signed (height, round, step, block), and the lock, since a
// validator that forgets its lock can help commit a second block. The driver persists it
// (synced) when it sees a PersistSignerState action, which always precedes the send.
// Value type; thread-compatible.
struct SignerState {
  uint64_t height = 0;  // 0 with step 0: nothing signed yet (a fresh validator).
  uint32_t round = 0;
  uint8_t step = 0;  // 0, or a RoundStep value.
  Hash256 block_id;  // Of the last signed message; zero for a nil vote.
  // The lock at `lock_height` (Tendermint's lockedRound / lockedValue); lock_block_id zero
  // when unlocked.
  uint64_t lock_height = 0;
  uint32_t lock_round = 0;
  Hash256 lock_block_id;
  // The prevote and precommit signed at (height, round), so that a restarted validator can send
  // them again: a vote lost in a crash could otherwise leave the others short of a quorum.
  std::optional<Vote> prevote;
  std::optional<Vote> precommit;

  bool operator==(const SignerState&) const = default;
};

// The block a validator is locked on, with the prevote quorum (proof of lock) that locked it.
// Persisted when the lock is taken so that a restarted validator can still re-propose the block
// and show others why: a lock without its block would leave a restarted validator refusing
// every other block while unable to offer its own, and with a few such validators the chain
// would stall. Value type; thread-compatible.
struct LockRecord {
  uint64_t height = 0;
  uint32_t round = 0;
  Block block;
  std::vector<Vote> polka;  // Prevotes for block.id at (height, round).
  bool operator==(const LockRecord&) const = default;
};

// Signs consensus sign-bytes with this validator's key. The node implements it with
// core::SigningKey; tests and the simulator may use their own. Implementations must be
// deterministic (Ed25519 is). Thread-compatible; the engine calls it from its own thread only.
class VoteSigner {
 public:
  virtual ~VoteSigner() = default;
  virtual const PublicKey& public_key() const = 0;
  virtual Signature Sign(core::ByteSpan sign_bytes) const = 0;
};

// ---------------------------------------------------------------------------------------------
// Events.
struct ProposalReceived {
  Proposal proposal;
};
struct VoteReceived {
  Vote vote;
};
struct CertificateReceived {
  CommitCertificate certificate;
};
struct TimeoutFired {
  Timeout timeout;
};
// The application's answer to BuildBlock.
struct BlockBuilt {
  uint64_t height = 0;
  uint32_t round = 0;
  Block block;
};
// The application's verdict on a block named by a proposal (answer to ValidateBlock).
struct BlockVerdict {
  uint64_t height = 0;
  Hash256 block_id;
  bool valid = false;
};
// A block fetched from a peer, with the certificate that makes it final (answer to FetchBlocks,
// one event per height, in order).
struct BlockFetched {
  Block block;
  CommitCertificate certificate;
};
// The validator set in force from `from_height` on (until a later schedule), sent by the driver
// after it has applied a committed block, once for each epoch that block scheduled. Because a
// change completed in block h is in force from h + delay with delay >= 2, the set of every height
// the engine enters, and of the one after it, is known before it is needed.
// REQUIRES: from_height > the engine's height (a schedule for a height already entered is the
// driver's bug; the engine logs it and ignores it).
struct ScheduleValidators {
  uint64_t from_height = 0;
  ValidatorSet set;
};
using Event = std::variant<ProposalReceived, VoteReceived, CertificateReceived, TimeoutFired,
                           BlockBuilt, BlockVerdict, BlockFetched, ScheduleValidators>;

// ---------------------------------------------------------------------------------------------
// Actions, carried out by the driver in the order given.
using Message = std::variant<Proposal, Vote, CommitCertificate>;

struct Broadcast {
  Message message;
};
// To one validator: `to` is its index in the set of the height the engine was at when it emitted
// the action, `key` its key. The driver should use `key`: one Step's actions can span a commit,
// after which indices refer to another set.
struct SendTo {
  ValidatorIndex to = 0;
  Message message;
  PublicKey key;
};
struct ScheduleTimeout {
  Timeout timeout;
  uint64_t delay_ms = 0;
};
// Build a block for (height, round) on top of the last committed block, from whatever records
// are ready, up to the block limits; answer with BlockBuilt.
struct BuildBlock {
  uint64_t height = 0;
  uint32_t round = 0;
};
// Check a proposed block against the committed chain; answer with BlockVerdict.
struct ValidateBlock {
  uint64_t height = 0;
  Block block;
};
// Persist (synced) before carrying out any later action.
struct PersistSignerState {
  SignerState state;
};
// Persist (synced) with the signer state; only the latest record matters.
struct PersistLock {
  LockRecord lock;
};
struct CommitBlock {
  Block block;
  CommitCertificate certificate;
};
// Fetch committed blocks [from_height, to_height] with their certificates from one of `peers`
// (validators that signed a certificate at to_height) and deliver them as BlockFetched. `peers`
// are indices in the set of the engine's height when it emitted the action, `peer_keys` their
// keys in the same order (see SendTo).
struct FetchBlocks {
  uint64_t from_height = 0;
  uint64_t to_height = 0;
  std::vector<ValidatorIndex> peers;
  std::vector<PublicKey> peer_keys;
};
// Two conflicting signed votes, or two conflicting signed proposals, from one validator.
struct ReportEvidence {
  Evidence evidence;
};
struct Log {
  std::string message;
};
using Action =
    std::variant<Broadcast, SendTo, ScheduleTimeout, BuildBlock, ValidateBlock, PersistSignerState,
                 PersistLock, CommitBlock, FetchBlocks, ReportEvidence, Log>;
using Actions = std::vector<Action>;

// A one-line description of a message, event or action, for logs and simulator traces.
std::string Describe(const Message& message);
std::string Describe(const Event& event);
std::string Describe(const Action& action);

}  // namespace hallmark::consensus
