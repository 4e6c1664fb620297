#pragma once

// Conversion between the plain consensus structs of core/certificate.h and their Protobuf wire
// form (proto/consensus.proto), for the node's transport and the CLI's certificate reader. The
// decoders check every length; signatures are checked elsewhere (core/certificate.h).

#include <string>
#include <string_view>

#include "core/certificate.h"
#include "core/status.h"
#include "proto/consensus.pb.h"

namespace hallmark::core {

pb::Vote ToProto(const Vote& vote);
pb::Proposal ToProto(const Proposal& proposal);
pb::CommitCertificate ToProto(const CommitCertificate& certificate);
pb::DuplicateVoteEvidence ToProto(const DuplicateVoteEvidence& evidence);
pb::DuplicateProposalEvidence ToProto(const DuplicateProposalEvidence& evidence);
pb::Evidence ToProto(const Evidence& evidence);

Result<Vote> FromProto(const pb::Vote& vote);
Result<Proposal> FromProto(const pb::Proposal& proposal);
Result<CommitCertificate> FromProto(const pb::CommitCertificate& certificate);
Result<DuplicateVoteEvidence> FromProto(const pb::DuplicateVoteEvidence& evidence);
// Proposals in evidence must carry no block bytes.
Result<DuplicateProposalEvidence> FromProto(const pb::DuplicateProposalEvidence& evidence);
Result<Evidence> FromProto(const pb::Evidence& evidence);

// Deterministic bytes of a piece of evidence, and its id: SHA-256 of those bytes. Canonical
// evidence (core/certificate.h) has one encoding, so one id.
std::string EncodeEvidence(const Evidence& evidence);
Hash256 EvidenceId(const pb::Evidence& evidence);
Result<Evidence> DecodeEvidence(std::string_view bytes);

// Deterministic bytes of a certificate, and a strict parse of them (unknown fields and more
// signatures than limits::kMaxValidators are errors).
std::string EncodeCertificate(const CommitCertificate& certificate);
Result<CommitCertificate> DecodeCertificate(std::string_view bytes);

}  // namespace hallmark::core
