#include "core/consensus_codec.h"

#include <cstring>

#include "core/codec.h"
#include "core/crypto/sha256.h"
#include "core/limits.h"

namespace hallmark::core {

namespace {

std::string Raw(ByteSpan s) {
  return std::string(AsView(s));
}

Status ReadKey(const std::string& in, std::string_view what, PublicKey* out) {
  if (in.size() != kEd25519PublicKeySize)
    return Status::InvalidInput(std::string(what) + " must be 32 bytes, got " +
                                std::to_string(in.size()));
  std::memcpy(out->bytes.data(), in.data(), kEd25519PublicKeySize);
  return Status::Ok();
}
Status ReadSignature(const std::string& in, std::string_view what, Signature* out) {
  if (in.size() != kEd25519SignatureSize)
    return Status::InvalidInput(std::string(what) + " must be 64 bytes, got " +
                                std::to_string(in.size()));
  std::memcpy(out->bytes.data(), in.data(), kEd25519SignatureSize);
  return Status::Ok();
}
Status ReadBlockId(const std::string& in, bool allow_nil, Hash256* out) {
  if (in.empty() && allow_nil) {
    *out = Hash256();
    return Status::Ok();
  }
  auto h = Hash256::FromBytes(in);
  if (!h || h->IsZero()) return Status::InvalidInput("block id must be 32 bytes and not all zero");
  *out = *h;
  return Status::Ok();
}

}  // namespace

pb::Vote ToProto(const Vote& vote) {
  pb::Vote out;
  out.set_height(vote.height);
  out.set_round(vote.round);
  out.set_type(vote.type == VoteType::kPrevote ? pb::PREVOTE : pb::PRECOMMIT);
  if (!IsNil(vote.block_id)) out.set_block_id(std::string(vote.block_id.view()));
  out.set_validator(Raw(vote.validator.span()));
  out.set_signature(Raw(vote.signature.span()));
  return out;
}

pb::Proposal ToProto(const Proposal& proposal) {
  pb::Proposal out;
  out.set_height(proposal.height);
  out.set_round(proposal.round);
  out.set_has_pol_round(proposal.pol_round.has_value());
  out.set_pol_round(proposal.pol_round.value_or(0));
  out.set_block_id(std::string(proposal.block_id.view()));
  out.set_block(Raw(proposal.block));
  out.set_proposer(Raw(proposal.proposer.span()));
  out.set_signature(Raw(proposal.signature.span()));
  return out;
}

pb::CommitCertificate ToProto(const CommitCertificate& certificate) {
  pb::CommitCertificate out;
  out.set_height(certificate.height);
  out.set_round(certificate.round);
  out.set_block_id(std::string(certificate.block_id.view()));
  for (const CommitSignature& s : certificate.signatures) {
    pb::CommitSignature* o = out.add_signatures();
    o->set_validator(Raw(s.validator.span()));
    o->set_signature(Raw(s.signature.span()));
  }
  return out;
}

pb::DuplicateVoteEvidence ToProto(const DuplicateVoteEvidence& evidence) {
  pb::DuplicateVoteEvidence out;
  *out.mutable_first() = ToProto(evidence.first);
  *out.mutable_second() = ToProto(evidence.second);
  return out;
}

pb::DuplicateProposalEvidence ToProto(const DuplicateProposalEvidence& evidence) {
  pb::DuplicateProposalEvidence out;
  *out.mutable_first() = ToProto(evidence.first);
  *out.mutable_second() = ToProto(evidence.second);
  out.mutable_first()->clear_block();
  out.mutable_second()->clear_block();
  return out;
}

pb::Evidence ToProto(const Evidence& evidence) {
  pb::Evidence out;
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, DuplicateVoteEvidence>) {
          *out.mutable_duplicate_vote() = ToProto(e);
        } else {
          *out.mutable_duplicate_proposal() = ToProto(e);
        }
      },
      evidence);
  return out;
}

Result<Vote> FromProto(const pb::Vote& in) {
  Vote vote;
  vote.height = in.height();
  vote.round = in.round();
  switch (in.type()) {
    case pb::PREVOTE:
      vote.type = VoteType::kPrevote;
      break;
    case pb::PRECOMMIT:
      vote.type = VoteType::kPrecommit;
      break;
    default:
      return Status::InvalidInput("vote type must be PREVOTE or PRECOMMIT");
  }
  HM_RETURN_IF_ERROR(ReadBlockId(in.block_id(), /*allow_nil=*/true, &vote.block_id));
  HM_RETURN_IF_ERROR(ReadKey(in.validator(), "vote validator", &vote.validator));
  HM_RETURN_IF_ERROR(ReadSignature(in.signature(), "vote signature", &vote.signature));
  return vote;
}

Result<Proposal> FromProto(const pb::Proposal& in) {
  Proposal p;
  p.height = in.height();
  p.round = in.round();
  if (in.has_pol_round()) p.pol_round = in.pol_round();
  HM_RETURN_IF_ERROR(ReadBlockId(in.block_id(), /*allow_nil=*/false, &p.block_id));
  if (in.block().size() > limits::kMaxBlockBytes)
    return Status::InvalidInput("proposal's block is larger than the block limit");
  p.block.assign(in.block().begin(), in.block().end());
  HM_RETURN_IF_ERROR(ReadKey(in.proposer(), "proposer", &p.proposer));
  HM_RETURN_IF_ERROR(ReadSignature(in.signature(), "proposal signature", &p.signature));
  return p;
}

Result<CommitCertificate> FromProto(const pb::CommitCertificate& in) {
  CommitCertificate c;
  c.height = in.height();
  c.round = in.round();
  HM_RETURN_IF_ERROR(ReadBlockId(in.block_id(), /*allow_nil=*/false, &c.block_id));
  if (static_cast<size_t>(in.signatures_size()) > limits::kMaxValidators)
    return Status::InvalidInput("certificate has more signatures than the validator limit");
  for (const pb::CommitSignature& s : in.signatures()) {
    CommitSignature out;
    HM_RETURN_IF_ERROR(ReadKey(s.validator(), "certificate signer", &out.validator));
    HM_RETURN_IF_ERROR(ReadSignature(s.signature(), "certificate signature", &out.signature));
    c.signatures.push_back(out);
  }
  return c;
}

Result<DuplicateVoteEvidence> FromProto(const pb::DuplicateVoteEvidence& in) {
  Result<Vote> a = FromProto(in.first());
  if (!a.ok()) return a.status().WithContext("evidence first vote");
  Result<Vote> b = FromProto(in.second());
  if (!b.ok()) return b.status().WithContext("evidence second vote");
  return DuplicateVoteEvidence{*a, *b};
}

Result<DuplicateProposalEvidence> FromProto(const pb::DuplicateProposalEvidence& in) {
  if (!in.first().block().empty() || !in.second().block().empty())
    return Status::InvalidInput("evidence proposals must carry no block bytes");
  Result<Proposal> a = FromProto(in.first());
  if (!a.ok()) return a.status().WithContext("evidence first proposal");
  Result<Proposal> b = FromProto(in.second());
  if (!b.ok()) return b.status().WithContext("evidence second proposal");
  return DuplicateProposalEvidence{*a, *b};
}

Result<Evidence> FromProto(const pb::Evidence& in) {
  switch (in.kind_case()) {
    case pb::Evidence::kDuplicateVote: {
      Result<DuplicateVoteEvidence> e = FromProto(in.duplicate_vote());
      if (!e.ok()) return e.status();
      return Evidence(*e);
    }
    case pb::Evidence::kDuplicateProposal: {
      Result<DuplicateProposalEvidence> e = FromProto(in.duplicate_proposal());
      if (!e.ok()) return e.status();
      return Evidence(*e);
    }
    case pb::Evidence::KIND_NOT_SET:
      break;
  }
  return Status::InvalidInput("evidence names no kind");
}

std::string EncodeEvidence(const Evidence& evidence) {
  return SerializeDeterministic(ToProto(evidence));
}

Hash256 EvidenceId(const pb::Evidence& evidence) {
  return Sha256Of(std::string_view(SerializeDeterministic(evidence)));
}

Result<Evidence> DecodeEvidence(std::string_view bytes) {
  pb::Evidence proto;
  HM_RETURN_IF_ERROR(ParseStrict(bytes, &proto, "evidence"));
  return FromProto(proto);
}

std::string EncodeCertificate(const CommitCertificate& certificate) {
  return SerializeDeterministic(ToProto(certificate));
}

Result<CommitCertificate> DecodeCertificate(std::string_view bytes) {
  pb::CommitCertificate proto;
  HM_RETURN_IF_ERROR(ParseStrict(bytes, &proto, "commit certificate"));
  return FromProto(proto);
}

}  // namespace hallmark::core
