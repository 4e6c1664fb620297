#pragma once

#include <string>
#include <string_view>

#include "core/certificate.h"
#include "core/consensus_codec.h"
#include "core/crypto/sha256.h"
#include "fixtures.h"

// Signed consensus messages of TestNetwork()'s validators (keys KeyFor("validator-<i>")), and
// evidence made from them.
namespace hallmark::test {

inline constexpr std::string_view kTestChain = "hallmark-test";

inline core::Hash256 NamedBlock(std::string_view name) {
  return core::Sha256Of(std::string("block/") + std::string(name));
}

inline core::Vote SignedTestVote(int validator, uint64_t height, uint32_t round,
                                 core::VoteType type, const core::Hash256& block,
                                 std::string_view chain = kTestChain) {
  const core::SigningKey key = KeyFor("validator-" + std::to_string(validator));
  core::Vote v;
  v.height = height;
  v.round = round;
  v.type = type;
  v.block_id = block;
  v.validator = key.public_key();
  v.signature = key.Sign(core::VoteSignBytes(chain, v));
  return v;
}

inline core::Proposal SignedTestProposal(int validator, uint64_t height, uint32_t round,
                                         const core::Hash256& block,
                                         std::optional<uint32_t> pol_round = std::nullopt) {
  const core::SigningKey key = KeyFor("validator-" + std::to_string(validator));
  core::Proposal p;
  p.height = height;
  p.round = round;
  p.pol_round = pol_round;
  p.block_id = block;
  p.proposer = key.public_key();
  p.signature = key.Sign(core::ProposalSignBytes(kTestChain, p));
  return p;
}

// Validator `validator` prevoted (or precommitted) two blocks at (height, round), in canonical
// order.
inline core::Evidence DoubleVote(int validator, uint64_t height, uint32_t round = 0,
                                 core::VoteType type = core::VoteType::kPrevote) {
  return core::CanonicalEvidence(
      core::DuplicateVoteEvidence{SignedTestVote(validator, height, round, type, NamedBlock("a")),
                                  SignedTestVote(validator, height, round, type, NamedBlock("b"))});
}
inline pb::Evidence DoubleVoteProto(int validator, uint64_t height, uint32_t round = 0,
                                    core::VoteType type = core::VoteType::kPrevote) {
  return core::ToProto(DoubleVote(validator, height, round, type));
}

}  // namespace hallmark::test
