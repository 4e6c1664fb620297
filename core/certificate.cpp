#include "core/certificate.h"

#include <algorithm>
#include <cstring>

#include "core/genesis.h"
#include "core/limits.h"

namespace hallmark::core {

namespace {

constexpr std::string_view kVoteDomain = "hallmark/vote/v1";
constexpr std::string_view kProposalDomain = "hallmark/proposal/v1";

void PutBytes(Bytes* out, std::string_view s) {
  out->insert(out->end(), s.begin(), s.end());
}
void PutU64(Bytes* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutU32(Bytes* out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out->push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutChainId(Bytes* out, std::string_view chain_id) {
  // Genesis loading enforces the limit, so a longer id here is our bug.
  HM_ASSERT(chain_id.size() <= limits::kMaxChainIdBytes);
  out->push_back(static_cast<uint8_t>(chain_id.size()));
  PutBytes(out, chain_id);
}

std::string ShortKey(const PublicKey& key) {
  return key.Hex().substr(0, 16);
}

}  // namespace

uint64_t QuorumThreshold(uint64_t total) {
  // floor(2t/3) computed as 2 * floor(t/3) + floor(2 * (t mod 3) / 3), which cannot overflow.
  return 2 * (total / 3) + (2 * (total % 3)) / 3 + 1;
}

bool IsQuorum(uint64_t power, uint64_t total) {
  return power >= QuorumThreshold(total);
}

bool IsOneThirdPlus(uint64_t power, uint64_t total) {
  return power > total / 3;
}

Result<ValidatorSet> ValidatorSet::Create(std::vector<ValidatorEntry> validators) {
  if (validators.empty()) return Status::InvalidInput("the validator set is empty");
  if (validators.size() > limits::kMaxValidators)
    return Status::InvalidInput("the validator set has more than " +
                                std::to_string(limits::kMaxValidators) + " validators");
  ValidatorSet set;
  for (size_t i = 0; i < validators.size(); ++i) {
    const ValidatorEntry& v = validators[i];
    if (v.voting_power == 0)
      return Status::InvalidInput("validator " + ShortKey(v.key) + " has zero voting power");
    if (v.voting_power > limits::kMaxTotalVotingPower - set.total_power_)
      return Status::InvalidInput("the total voting power exceeds the limit");
    set.total_power_ += v.voting_power;
    set.sorted_.emplace_back(v.key, i);
  }
  std::sort(set.sorted_.begin(), set.sorted_.end());
  for (size_t i = 1; i < set.sorted_.size(); ++i) {
    if (set.sorted_[i].first == set.sorted_[i - 1].first)
      return Status::InvalidInput("validator " + ShortKey(set.sorted_[i].first) +
                                  " appears twice in the set");
  }
  set.validators_ = std::move(validators);
  return set;
}

Result<ValidatorSet> ValidatorSet::FromNetwork(const Network& network) {
  std::vector<ValidatorEntry> entries;
  for (const ValidatorInfo& v : network.validators()) {
    ValidatorEntry e;
    std::memcpy(e.key.bytes.data(), v.key.data(), kEd25519PublicKeySize);
    e.voting_power = v.voting_power;
    entries.push_back(e);
  }
  return Create(std::move(entries));
}

std::optional<size_t> ValidatorSet::IndexOf(const PublicKey& key) const {
  auto it = std::lower_bound(sorted_.begin(), sorted_.end(), key,
                             [](const auto& entry, const PublicKey& k) { return entry.first < k; });
  if (it == sorted_.end() || it->first != key) return std::nullopt;
  return it->second;
}

std::string_view VoteTypeName(VoteType type) {
  switch (type) {
    case VoteType::kPrevote:
      return "prevote";
    case VoteType::kPrecommit:
      return "precommit";
  }
  return "unknown";
}

Bytes VoteSignBytes(std::string_view chain_id, uint64_t height, uint32_t round, VoteType type,
                    const Hash256& block_id) {
  Bytes out;
  out.reserve(kVoteDomain.size() + 1 + chain_id.size() + 8 + 4 + 2 + 32);
  PutBytes(&out, kVoteDomain);
  PutChainId(&out, chain_id);
  PutU64(&out, height);
  PutU32(&out, round);
  out.push_back(static_cast<uint8_t>(type));
  if (IsNil(block_id)) {
    out.push_back(0);
  } else {
    out.push_back(1);
    out.insert(out.end(), block_id.bytes.begin(), block_id.bytes.end());
  }
  return out;
}

Bytes ProposalSignBytes(std::string_view chain_id, uint64_t height, uint32_t round,
                        std::optional<uint32_t> pol_round, const Hash256& block_id) {
  Bytes out;
  out.reserve(kProposalDomain.size() + 1 + chain_id.size() + 8 + 4 + 5 + 32);
  PutBytes(&out, kProposalDomain);
  PutChainId(&out, chain_id);
  PutU64(&out, height);
  PutU32(&out, round);
  if (pol_round) {
    out.push_back(1);
    PutU32(&out, *pol_round);
  } else {
    out.push_back(0);
  }
  out.insert(out.end(), block_id.bytes.begin(), block_id.bytes.end());
  return out;
}

bool PolicySignatureCheck(const PublicKey& key, ByteSpan message, const Signature& signature) {
  return VerifySignature(key, message, signature) == SigVerdict::kValid;
}

Status VerifyVote(const ValidatorSet& validators, std::string_view chain_id, const Vote& vote,
                  const SignatureCheck& check) {
  if (!validators.IndexOf(vote.validator))
    return Status::InvalidInput("vote from " + ShortKey(vote.validator) +
                                ", which is not a validator");
  if (!check(vote.validator, VoteSignBytes(chain_id, vote), vote.signature))
    return Status::InvalidInput(std::string(VoteTypeName(vote.type)) + " from " +
                                ShortKey(vote.validator) + " at height " +
                                std::to_string(vote.height) + " has a bad signature");
  return Status::Ok();
}

Status VerifyProposalSignature(std::string_view chain_id, const Proposal& proposal,
                               const PublicKey& expected_proposer, const SignatureCheck& check) {
  if (proposal.proposer != expected_proposer)
    return Status::InvalidInput("proposal for height " + std::to_string(proposal.height) +
                                " round " + std::to_string(proposal.round) + " is from " +
                                ShortKey(proposal.proposer) + ", not the round's proposer");
  if (IsNil(proposal.block_id)) return Status::InvalidInput("proposal names the nil block");
  if (proposal.pol_round && *proposal.pol_round >= proposal.round)
    return Status::InvalidInput("proposal's proof-of-lock round is not before its round");
  if (!check(proposal.proposer, ProposalSignBytes(chain_id, proposal), proposal.signature))
    return Status::InvalidInput("proposal for height " + std::to_string(proposal.height) +
                                " has a bad signature");
  return Status::Ok();
}

Status VerifyCommitCertificate(const ValidatorSet& validators, std::string_view chain_id,
                               const CommitCertificate& certificate, uint64_t expected_height,
                               const Hash256& expected_block_id, const SignatureCheck& check) {
  const std::string where = "commit certificate for height " + std::to_string(certificate.height);
  if (certificate.height != expected_height)
    return Status::InvalidInput(where + ": expected height " + std::to_string(expected_height));
  if (IsNil(certificate.block_id)) return Status::InvalidInput(where + ": names the nil block");
  if (certificate.block_id != expected_block_id)
    return Status::InvalidInput(where + ": certifies block " + certificate.block_id.Hex() +
                                ", not " + expected_block_id.Hex());
  if (certificate.signatures.empty()) return Status::InvalidInput(where + ": has no signatures");
  // More signatures than validators means a duplicate or a stranger; refusing early bounds the
  // work a hostile certificate can cause.
  if (certificate.signatures.size() > validators.size())
    return Status::InvalidInput(where + ": has more signatures than there are validators");
  std::vector<bool> seen(validators.size(), false);
  uint64_t power = 0;
  const Bytes sign_bytes = VoteSignBytes(chain_id, certificate.height, certificate.round,
                                         VoteType::kPrecommit, certificate.block_id);
  for (const CommitSignature& s : certificate.signatures) {
    std::optional<size_t> index = validators.IndexOf(s.validator);
    if (!index)
      return Status::InvalidInput(where + ": signer " + ShortKey(s.validator) +
                                  " is not a validator");
    if (seen[*index])
      return Status::InvalidInput(where + ": signer " + ShortKey(s.validator) + " appears twice");
    seen[*index] = true;
    if (!check(s.validator, sign_bytes, s.signature))
      return Status::InvalidInput(where + ": the signature of " + ShortKey(s.validator) +
                                  " is not over this block's precommit");
    power += validators.at(*index).voting_power;  // Bounded by total_power: no overflow.
  }
  if (!IsQuorum(power, validators.total_power()))
    return Status::InvalidInput(where + ": signers hold " + std::to_string(power) + " of " +
                                std::to_string(validators.total_power()) +
                                " voting power, not more than 2/3");
  return Status::Ok();
}

Status VerifyCommitCertificate(const Network& network, const CommitCertificate& certificate,
                               uint64_t expected_height, const Hash256& expected_block_id) {
  Result<ValidatorSet> set = ValidatorSet::FromNetwork(network);
  if (!set.ok()) return set.status();
  return VerifyCommitCertificate(*set, network.chain_id(), certificate, expected_height,
                                 expected_block_id);
}

Status VerifyEvidence(const ValidatorSet& validators, std::string_view chain_id,
                      const DuplicateVoteEvidence& evidence, const SignatureCheck& check) {
  const Vote& a = evidence.first;
  const Vote& b = evidence.second;
  if (a.validator != b.validator)
    return Status::InvalidInput("evidence: the two votes are from different validators");
  if (a.height != b.height || a.round != b.round || a.type != b.type)
    return Status::InvalidInput("evidence: the votes are not for one height, round and type");
  if (a.block_id == b.block_id)
    return Status::InvalidInput("evidence: the votes are for the same block");
  HM_RETURN_IF_ERROR(VerifyVote(validators, chain_id, a, check).WithContext("evidence"));
  HM_RETURN_IF_ERROR(VerifyVote(validators, chain_id, b, check).WithContext("evidence"));
  return Status::Ok();
}

Status VerifyEvidence(const ValidatorSet& validators, std::string_view chain_id,
                      const DuplicateProposalEvidence& evidence, const SignatureCheck& check) {
  const Proposal& a = evidence.first;
  const Proposal& b = evidence.second;
  if (a.proposer != b.proposer)
    return Status::InvalidInput("evidence: the two proposals are from different validators");
  if (a.height != b.height || a.round != b.round)
    return Status::InvalidInput("evidence: the proposals are not for one height and round");
  if (a.block_id == b.block_id && a.pol_round == b.pol_round)
    return Status::InvalidInput("evidence: the proposals are for the same block");
  if (!a.block.empty() || !b.block.empty())
    return Status::InvalidInput("evidence: a proposal carries block bytes");
  if (!validators.IndexOf(a.proposer))
    return Status::InvalidInput("evidence: proposals from " + ShortKey(a.proposer) +
                                ", which is not a validator");
  for (const Proposal* p : {&a, &b}) {
    if (!check(p->proposer, ProposalSignBytes(chain_id, *p), p->signature))
      return Status::InvalidInput("evidence: proposal from " + ShortKey(p->proposer) +
                                  " at height " + std::to_string(p->height) +
                                  " has a bad signature");
  }
  return Status::Ok();
}

namespace {

Bytes FirstSignBytes(std::string_view chain_id, const DuplicateVoteEvidence& e, bool second) {
  return VoteSignBytes(chain_id, second ? e.second : e.first);
}
Bytes FirstSignBytes(std::string_view chain_id, const DuplicateProposalEvidence& e, bool second) {
  return ProposalSignBytes(chain_id, second ? e.second : e.first);
}

}  // namespace

bool IsCanonicalEvidence(std::string_view chain_id, const Evidence& evidence) {
  return std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, DuplicateProposalEvidence>) {
          if (!e.first.block.empty() || !e.second.block.empty()) return false;
        }
        return FirstSignBytes(chain_id, e, false) < FirstSignBytes(chain_id, e, true);
      },
      evidence);
}

Evidence CanonicalEvidence(Evidence evidence) {
  // The chain id is the same prefix of both sign-bytes, so any chain id orders them alike.
  std::visit(
      [](auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, DuplicateProposalEvidence>) {
          e.first.block.clear();
          e.second.block.clear();
        }
        if (FirstSignBytes("", e, true) < FirstSignBytes("", e, false))
          std::swap(e.first, e.second);
      },
      evidence);
  return evidence;
}

Status VerifyEvidence(const ValidatorSet& validators, std::string_view chain_id,
                      const Evidence& evidence, const SignatureCheck& check) {
  HM_RETURN_IF_ERROR(std::visit(
      [&](const auto& e) { return VerifyEvidence(validators, chain_id, e, check); }, evidence));
  if (!IsCanonicalEvidence(chain_id, evidence))
    return Status::InvalidInput("evidence: the two messages are not in canonical order");
  return Status::Ok();
}

Status VerifyEvidence(const Network& network, const Evidence& evidence) {
  Result<ValidatorSet> set = ValidatorSet::FromNetwork(network);
  if (!set.ok()) return set.status();
  return VerifyEvidence(*set, network.chain_id(), evidence);
}

std::string_view OffenceKindName(OffenceKind kind) {
  switch (kind) {
    case OffenceKind::kDuplicatePrevote:
      return "duplicate_prevote";
    case OffenceKind::kDuplicatePrecommit:
      return "duplicate_precommit";
    case OffenceKind::kDuplicateProposal:
      return "duplicate_proposal";
  }
  return "unknown";
}

Offence OffenceOf(const Evidence& evidence) {
  return std::visit(
      [](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, DuplicateVoteEvidence>) {
          return Offence{e.first.validator, e.first.height, e.first.round,
                         e.first.type == VoteType::kPrevote ? OffenceKind::kDuplicatePrevote
                                                            : OffenceKind::kDuplicatePrecommit};
        } else {
          return Offence{e.first.proposer, e.first.height, e.first.round,
                         OffenceKind::kDuplicateProposal};
        }
      },
      evidence);
}

}  // namespace hallmark::core
