#pragma once

// Consensus messages as plain structs, their canonical sign-bytes, quorum arithmetic, and the
// pure checks every node and the consumer's CLI run on them: a vote's signature, a commit
// certificate, a piece of equivocation evidence. Nothing here includes Protobuf, so the
// consensus engine can use these types; core/consensus_codec.h converts them for the wire.
//
// Sign-bytes (all integers big-endian; docs/consensus.md has the same layout):
//   vote      = "hallmark/vote/v1"     || u8 len(chain_id) || chain_id || u64 height
//               || u32 round || u8 type || u8 has_block || block_id (32 bytes, when has_block)
//   proposal  = "hallmark/proposal/v1" || u8 len(chain_id) || chain_id || u64 height
//               || u32 round || u8 has_pol || u32 pol_round (when has_pol) || block_id (32 bytes)
// The domain tag keeps a vote from ever passing as a record, a proposal or another version's
// vote; the chain id keeps a vote from one network out of another.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/bytes.h"
#include "core/crypto/ed25519.h"
#include "core/status.h"

namespace hallmark::core {

class Network;

// ---------------------------------------------------------------------------------------------
// Quorum arithmetic. Powers are voting powers; `total` is the power of the whole set. All of
// these are exact in 64-bit integers for any total (no 2 * total or 3 * power overflow).

// The smallest power that is more than 2/3 of `total`: floor(2 * total / 3) + 1.
uint64_t QuorumThreshold(uint64_t total);
// power > 2/3 total: enough for a polka, a lock or a commit certificate.
bool IsQuorum(uint64_t power, uint64_t total);
// power > 1/3 total: at least one honest validator is among them when at most f of n = 3f + 1
// are faulty (used to skip to a higher round).
bool IsOneThirdPlus(uint64_t power, uint64_t total);

// ---------------------------------------------------------------------------------------------
// The validator set: keys with voting power, in genesis order (proposer rotation depends on
// the order). Immutable after creation; safe to share across threads.
struct ValidatorEntry {
  PublicKey key;
  uint64_t voting_power = 0;
};

class ValidatorSet {
 public:
  ValidatorSet() = default;
  // Rejects an empty set, a zero power, a duplicate key, a total above
  // limits::kMaxTotalVotingPower or more than limits::kMaxValidators entries.
  static Result<ValidatorSet> Create(std::vector<ValidatorEntry> validators);
  static Result<ValidatorSet> FromNetwork(const Network& network);

  size_t size() const { return validators_.size(); }
  const ValidatorEntry& at(size_t index) const { return validators_.at(index); }
  const std::vector<ValidatorEntry>& entries() const { return validators_; }
  uint64_t total_power() const { return total_power_; }
  // The index of `key`, or nullopt for a stranger. O(log n).
  std::optional<size_t> IndexOf(const PublicKey& key) const;

 private:
  std::vector<ValidatorEntry> validators_;
  std::vector<std::pair<PublicKey, size_t>> sorted_;  // For IndexOf.
  uint64_t total_power_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Messages.

enum class VoteType : uint8_t {
  kPrevote = 1,
  kPrecommit = 2,
};
std::string_view VoteTypeName(VoteType type);

// A block id of all zero bytes means nil (a vote for no block). SHA-256 never yields it in
// practice, and the application never names a block by it.
inline bool IsNil(const Hash256& block_id) {
  return block_id.IsZero();
}

// A signed prevote or precommit. Value type; thread-compatible.
struct Vote {
  uint64_t height = 0;
  uint32_t round = 0;
  VoteType type = VoteType::kPrevote;
  Hash256 block_id;  // Zero for nil.
  PublicKey validator;
  Signature signature;

  bool operator==(const Vote&) const = default;
};

// A signed proposal: the proposer's choice of block for (height, round). `pol_round` is the
// round of the prevote quorum (proof of lock) that justifies re-proposing a block, or nullopt.
// The block's bytes travel beside the proposal and are opaque here; the application checks
// they hash to `block_id`. Value type; thread-compatible.
struct Proposal {
  uint64_t height = 0;
  uint32_t round = 0;
  std::optional<uint32_t> pol_round;
  Hash256 block_id;
  Bytes block;  // Opaque block bytes.
  PublicKey proposer;
  Signature signature;

  bool operator==(const Proposal&) const = default;
};

struct CommitSignature {
  PublicKey validator;
  Signature signature;
  bool operator==(const CommitSignature&) const = default;
};

// Proof that a block is final: precommits for it at one (height, round) from validators
// holding more than 2/3 of the voting power. Signatures are listed in validator-set order.
// Value type; thread-compatible.
struct CommitCertificate {
  uint64_t height = 0;
  uint32_t round = 0;
  Hash256 block_id;
  std::vector<CommitSignature> signatures;

  bool operator==(const CommitCertificate&) const = default;
};

// Two conflicting signed votes from one validator at one height, round and type: proof that
// the validator equivocated. Value type; thread-compatible.
struct DuplicateVoteEvidence {
  Vote first;
  Vote second;

  bool operator==(const DuplicateVoteEvidence&) const = default;
};

// Two different signed proposals from one validator at one height and round (different blocks,
// or one block with different proof-of-lock rounds). The proposals' block bytes are not part of
// the evidence: the signatures cover only the block id. Value type; thread-compatible.
struct DuplicateProposalEvidence {
  Proposal first;
  Proposal second;

  bool operator==(const DuplicateProposalEvidence&) const = default;
};

// A piece of evidence of equivocation, the record a block commits (docs/consensus.md,
// "Evidence"). Value type.
using Evidence = std::variant<DuplicateVoteEvidence, DuplicateProposalEvidence>;

// What a piece of evidence is about. One offence is committed at most once, whichever pair of
// messages proves it.
enum class OffenceKind : uint8_t {
  kDuplicatePrevote = 1,
  kDuplicatePrecommit = 2,
  kDuplicateProposal = 3,
};
std::string_view OffenceKindName(OffenceKind kind);  // "duplicate_prevote", …
struct Offence {
  PublicKey validator;
  uint64_t height = 0;
  uint32_t round = 0;
  OffenceKind kind = OffenceKind::kDuplicatePrevote;

  bool operator==(const Offence&) const = default;
  auto operator<=>(const Offence&) const = default;
};
// The offence a piece names (read from its first message; VerifyEvidence checks the second
// agrees).
Offence OffenceOf(const Evidence& evidence);

// ---------------------------------------------------------------------------------------------
// Sign-bytes. REQUIRES: chain_id.size() <= limits::kMaxChainIdBytes.
Bytes VoteSignBytes(std::string_view chain_id, uint64_t height, uint32_t round, VoteType type,
                    const Hash256& block_id);
inline Bytes VoteSignBytes(std::string_view chain_id, const Vote& vote) {
  return VoteSignBytes(chain_id, vote.height, vote.round, vote.type, vote.block_id);
}
Bytes ProposalSignBytes(std::string_view chain_id, uint64_t height, uint32_t round,
                        std::optional<uint32_t> pol_round, const Hash256& block_id);
inline Bytes ProposalSignBytes(std::string_view chain_id, const Proposal& p) {
  return ProposalSignBytes(chain_id, p.height, p.round, p.pol_round, p.block_id);
}

// Checks (public key, message, signature). The default is VerifySignature == kValid, the
// acceptance policy; a caller may pass one that caches that policy's verdicts.
using SignatureCheck = std::function<bool(const PublicKey&, ByteSpan, const Signature&)>;
bool PolicySignatureCheck(const PublicKey& key, ByteSpan message, const Signature& signature);

// A vote from a member of `validators`, with a valid signature over its sign-bytes.
Status VerifyVote(const ValidatorSet& validators, std::string_view chain_id, const Vote& vote,
                  const SignatureCheck& check = PolicySignatureCheck);
// A proposal signed by `expected_proposer` (the engine computes who that is).
Status VerifyProposalSignature(std::string_view chain_id, const Proposal& proposal,
                               const PublicKey& expected_proposer,
                               const SignatureCheck& check = PolicySignatureCheck);

// THE certificate check, run by every node and by the consumer's CLI against genesis. Pure.
// Accepts iff the certificate is for (expected_height, expected_block_id), the block id is not
// nil, every signer is in `validators`, no signer appears twice, every signature verifies over
// the precommit sign-bytes of (chain_id, height, round, block_id), and the signers hold more
// than 2/3 of the total voting power. At most validators.size() signatures are read.
Status VerifyCommitCertificate(const ValidatorSet& validators, std::string_view chain_id,
                               const CommitCertificate& certificate, uint64_t expected_height,
                               const Hash256& expected_block_id,
                               const SignatureCheck& check = PolicySignatureCheck);
// The same against a loaded genesis.
Status VerifyCommitCertificate(const Network& network, const CommitCertificate& certificate,
                               uint64_t expected_height, const Hash256& expected_block_id);

// Both votes are from one validator of the set, at one height, round and type, for different
// blocks, and both signatures verify.
Status VerifyEvidence(const ValidatorSet& validators, std::string_view chain_id,
                      const DuplicateVoteEvidence& evidence,
                      const SignatureCheck& check = PolicySignatureCheck);
// Both proposals are signed by one validator of the set, at one height and round, differ in
// block id or proof-of-lock round, carry no block bytes, and both signatures verify.
Status VerifyEvidence(const ValidatorSet& validators, std::string_view chain_id,
                      const DuplicateProposalEvidence& evidence,
                      const SignatureCheck& check = PolicySignatureCheck);

// THE evidence check for the record a block commits and peers gossip: one of the two checks
// above, and the pair in canonical order (IsCanonicalEvidence). Pure: needs only the two
// signed messages, the genesis validator set and the chain id.
Status VerifyEvidence(const ValidatorSet& validators, std::string_view chain_id,
                      const Evidence& evidence, const SignatureCheck& check = PolicySignatureCheck);
// The same against a loaded genesis.
Status VerifyEvidence(const Network& network, const Evidence& evidence);

// The canonical form of a pair: the message whose sign-bytes sort first comes first, and
// proposals carry no block bytes. One pair of messages has one canonical form, hence one id.
Evidence CanonicalEvidence(Evidence evidence);
bool IsCanonicalEvidence(std::string_view chain_id, const Evidence& evidence);

}  // namespace hallmark::core
