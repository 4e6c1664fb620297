#include "core/certificate.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>

#include "consensus_fixture.h"
#include "core/consensus_codec.h"
#include "fixtures.h"

using namespace hallmark;
using core::CommitCertificate;
using core::Hash256;
using core::VoteType;
using test::BlockId;
using test::kChain;
using test::TestValidators;

TEST_CASE("quorum: threshold is floor(2t/3) + 1 for small totals") {
  CHECK(core::QuorumThreshold(1) == 1);
  CHECK(core::QuorumThreshold(2) == 2);
  CHECK(core::QuorumThreshold(3) == 3);
  CHECK(core::QuorumThreshold(4) == 3);
  CHECK(core::QuorumThreshold(6) == 5);
  CHECK(core::QuorumThreshold(7) == 5);
  CHECK(core::QuorumThreshold(100) == 67);
  for (uint64_t t = 1; t < 2000; ++t) {
    // 3p > 2t exactly at the threshold, not below it.
    const uint64_t q = core::QuorumThreshold(t);
    CHECK(3 * q > 2 * t);
    CHECK(3 * (q - 1) <= 2 * t);
  }
}

TEST_CASE("quorum: exact at 2/3 is not a quorum, one more is") {
  CHECK_FALSE(core::IsQuorum(2, 3));
  CHECK(core::IsQuorum(3, 3));
  CHECK_FALSE(core::IsQuorum(2, 4));
  CHECK(core::IsQuorum(3, 4));
  CHECK_FALSE(core::IsQuorum(4, 7));
  CHECK(core::IsQuorum(5, 7));
  CHECK_FALSE(core::IsQuorum(200, 300));
  CHECK(core::IsQuorum(201, 300));
}

TEST_CASE("quorum: no overflow near the 64-bit limit") {
  const uint64_t max = std::numeric_limits<uint64_t>::max();  // = 3 * 6148914691236517205
  CHECK(core::QuorumThreshold(max) == 2 * (max / 3) + 1);
  CHECK_FALSE(core::IsQuorum(2 * (max / 3), max));
  CHECK(core::IsQuorum(2 * (max / 3) + 1, max));
  const uint64_t big = uint64_t{1} << 60;
  CHECK(core::IsQuorum(core::QuorumThreshold(big), big));
  CHECK_FALSE(core::IsQuorum(core::QuorumThreshold(big) - 1, big));
}

TEST_CASE("quorum: more than one third") {
  CHECK_FALSE(core::IsOneThirdPlus(1, 3));
  CHECK(core::IsOneThirdPlus(2, 4));
  CHECK_FALSE(core::IsOneThirdPlus(1, 4));
  CHECK_FALSE(core::IsOneThirdPlus(2, 7));
  CHECK(core::IsOneThirdPlus(3, 7));
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  CHECK_FALSE(core::IsOneThirdPlus(max / 3, max));
  CHECK(core::IsOneThirdPlus(max / 3 + 1, max));
}

TEST_CASE("validator set: rejects empty sets, zero power and duplicate keys") {
  TestValidators v(2);
  CHECK_FALSE(core::ValidatorSet::Create({}).ok());
  CHECK_FALSE(core::ValidatorSet::Create({{v.set.at(0).key, 0}}).ok());
  auto dup = core::ValidatorSet::Create({{v.set.at(0).key, 1}, {v.set.at(0).key, 1}});
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.status().message().find("twice") != std::string::npos);
  CHECK_FALSE(
      core::ValidatorSet::Create({{v.set.at(0).key, uint64_t{1} << 60}, {v.set.at(1).key, 1}})
          .ok());
  CHECK(v.set.IndexOf(v.set.at(1).key) == 1u);
  CHECK_FALSE(v.set.IndexOf(core::PublicKey{}).has_value());
}

TEST_CASE("validator set: built from genesis in genesis order") {
  core::Network net = test::TestNetwork();
  auto set = core::ValidatorSet::FromNetwork(net);
  REQUIRE(set.ok());
  REQUIRE(set->size() == 4);
  CHECK(set->at(2).key == test::ValidatorKey(2).public_key());
  CHECK(set->total_power() == 4);
}

TEST_CASE("sign-bytes: domain-separated and sensitive to every field") {
  const Hash256 b = BlockId("b");
  const core::Bytes base = core::VoteSignBytes(kChain, 5, 2, VoteType::kPrecommit, b);
  const std::string prefix = "hallmark/vote/v1";
  REQUIRE(base.size() == prefix.size() + 1 + std::string(kChain).size() + 8 + 4 + 1 + 1 + 32);
  CHECK(std::string(base.begin(), base.begin() + prefix.size()) == prefix);
  CHECK(base != core::VoteSignBytes("other-chain", 5, 2, VoteType::kPrecommit, b));
  CHECK(base != core::VoteSignBytes(kChain, 6, 2, VoteType::kPrecommit, b));
  CHECK(base != core::VoteSignBytes(kChain, 5, 3, VoteType::kPrecommit, b));
  CHECK(base != core::VoteSignBytes(kChain, 5, 2, VoteType::kPrevote, b));
  CHECK(base != core::VoteSignBytes(kChain, 5, 2, VoteType::kPrecommit, BlockId("c")));
  const core::Bytes nil = core::VoteSignBytes(kChain, 5, 2, VoteType::kPrecommit, Hash256());
  CHECK(nil.size() == base.size() - 32);
  CHECK(nil.back() == 0);
  // A proposal's bytes never equal a vote's.
  const core::Bytes proposal = core::ProposalSignBytes(kChain, 5, 2, std::nullopt, b);
  CHECK(std::string(proposal.begin(), proposal.begin() + 20) == "hallmark/proposal/v1");
  CHECK(proposal != core::ProposalSignBytes(kChain, 5, 2, 1u, b));
  // A chain id that is a prefix of another cannot shift bytes into the height (length prefix).
  CHECK(core::VoteSignBytes("ab", 0x6300000000000000ull, 0, VoteType::kPrevote, b) !=
        core::VoteSignBytes("abc", 0, 0, VoteType::kPrevote, b));
}

TEST_CASE("certificate: a quorum of valid precommits verifies") {
  TestValidators v(4);
  const Hash256 b = BlockId("block-7");
  CommitCertificate c = v.Certificate(7, 1, b, {0, 1, 3});
  CHECK(core::VerifyCommitCertificate(v.set, kChain, c, 7, b).ok());
  c = v.Certificate(7, 1, b, {0, 1, 2, 3});
  CHECK(core::VerifyCommitCertificate(v.set, kChain, c, 7, b).ok());
}

TEST_CASE("certificate: checked against genesis.json's validators") {
  core::Network net = test::TestNetwork();
  TestValidators v(4);  // Same seeds as TestGenesis.
  const Hash256 b = BlockId("x");
  core::Vote vote{3, 0, VoteType::kPrecommit, b, {}, {}};
  CommitCertificate c{3, 0, b, {}};
  for (size_t i : {0, 2, 3}) {
    vote.validator = v.signers[i]->public_key();
    vote.signature = v.signers[i]->Sign(core::VoteSignBytes("hallmark-test", vote));
    c.signatures.push_back({vote.validator, vote.signature});
  }
  CHECK(core::VerifyCommitCertificate(net, c, 3, b).ok());
  c.signatures.pop_back();
  CHECK_FALSE(core::VerifyCommitCertificate(net, c, 3, b).ok());
}

TEST_CASE("certificate: rejected with too little power") {
  TestValidators v(4);
  const Hash256 b = BlockId("b");
  core::Status s =
      core::VerifyCommitCertificate(v.set, kChain, v.Certificate(1, 0, b, {0, 2}), 1, b);
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == core::StatusCode::kInvalidInput);
  CHECK(s.message().find("2 of 4") != std::string::npos);
}

TEST_CASE("certificate: weighted power is honoured") {
  TestValidators v(4, {10, 1, 1, 1});
  const Hash256 b = BlockId("b");
  // 10 of 13 > 2/3 alone.
  CHECK(core::VerifyCommitCertificate(v.set, kChain, v.Certificate(1, 0, b, {0}), 1, b).ok());
  // 3 of 13 is not, even with three signers.
  CHECK_FALSE(
      core::VerifyCommitCertificate(v.set, kChain, v.Certificate(1, 0, b, {1, 2, 3}), 1, b).ok());
}

TEST_CASE("certificate: rejected with a duplicate signer") {
  TestValidators v(4);
  const Hash256 b = BlockId("b");
  CommitCertificate c = v.Certificate(1, 0, b, {0, 1, 1});
  core::Status s = core::VerifyCommitCertificate(v.set, kChain, c, 1, b);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find("twice") != std::string::npos);
}

TEST_CASE("certificate: rejected with an unknown signer") {
  TestValidators v(4);
  TestValidators other(5);  // Validator 4 of this set is a stranger to v.
  const Hash256 b = BlockId("b");
  CommitCertificate c = v.Certificate(1, 0, b, {0, 1});
  CommitCertificate extra = other.Certificate(1, 0, b, {4});
  c.signatures.push_back(extra.signatures[0]);
  core::Status s = core::VerifyCommitCertificate(v.set, kChain, c, 1, b);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find("not a validator") != std::string::npos);
}

TEST_CASE("certificate: rejected when a signature is over other bytes") {
  TestValidators v(4);
  const Hash256 b = BlockId("b");
  auto swap_in = [&](CommitCertificate c, const core::Vote& vote) {
    c.signatures[2] = {vote.validator, vote.signature};
    return core::VerifyCommitCertificate(v.set, kChain, c, 1, b);
  };
  CommitCertificate c = v.Certificate(1, 0, b, {0, 1, 2});
  CHECK_FALSE(swap_in(c, v.SignedVote(2, 1, 0, VoteType::kPrevote, b)).ok());            // Type.
  CHECK_FALSE(swap_in(c, v.SignedVote(2, 1, 1, VoteType::kPrecommit, b)).ok());          // Round.
  CHECK_FALSE(swap_in(c, v.SignedVote(2, 2, 0, VoteType::kPrecommit, b)).ok());          // Height.
  CHECK_FALSE(swap_in(c, v.SignedVote(2, 1, 0, VoteType::kPrecommit, Hash256())).ok());  // Nil.
  // Another chain.
  core::Vote foreign{1, 0, VoteType::kPrecommit, b, v.signers[2]->public_key(), {}};
  foreign.signature = v.signers[2]->Sign(core::VoteSignBytes("other-chain", foreign));
  core::Status s = swap_in(c, foreign);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find("not over this block's precommit") != std::string::npos);
  // A flipped bit.
  c.signatures[1].signature.bytes[5] ^= 1;
  CHECK_FALSE(core::VerifyCommitCertificate(v.set, kChain, c, 1, b).ok());
}

TEST_CASE("certificate: rejected for another height or block, nil, or with no signatures") {
  TestValidators v(4);
  const Hash256 b = BlockId("b");
  CommitCertificate c = v.Certificate(1, 0, b, {0, 1, 2});
  CHECK_FALSE(core::VerifyCommitCertificate(v.set, kChain, c, 2, b).ok());
  CHECK_FALSE(core::VerifyCommitCertificate(v.set, kChain, c, 1, BlockId("c")).ok());
  CommitCertificate nil = v.Certificate(1, 0, Hash256(), {0, 1, 2});
  CHECK_FALSE(core::VerifyCommitCertificate(v.set, kChain, nil, 1, Hash256()).ok());
  CommitCertificate empty{1, 0, b, {}};
  CHECK_FALSE(core::VerifyCommitCertificate(v.set, kChain, empty, 1, b).ok());
  CommitCertificate many = v.Certificate(1, 0, b, {0, 1, 2, 3, 3});
  CHECK_FALSE(core::VerifyCommitCertificate(v.set, kChain, many, 1, b).ok());
}

TEST_CASE("evidence: two signed votes for different blocks verify, anything less does not") {
  TestValidators v(4);
  core::DuplicateVoteEvidence e{v.SignedVote(1, 3, 0, VoteType::kPrevote, BlockId("a")),
                                v.SignedVote(1, 3, 0, VoteType::kPrevote, BlockId("b"))};
  CHECK(core::VerifyEvidence(v.set, kChain, e).ok());
  auto same = e;
  same.second = same.first;
  CHECK_FALSE(core::VerifyEvidence(v.set, kChain, same).ok());
  auto other_round = e;
  other_round.second = v.SignedVote(1, 3, 1, VoteType::kPrevote, BlockId("b"));
  CHECK_FALSE(core::VerifyEvidence(v.set, kChain, other_round).ok());
  auto other_validator = e;
  other_validator.second = v.SignedVote(2, 3, 0, VoteType::kPrevote, BlockId("b"));
  CHECK_FALSE(core::VerifyEvidence(v.set, kChain, other_validator).ok());
  auto forged = e;
  forged.second.signature.bytes[0] ^= 1;
  CHECK_FALSE(core::VerifyEvidence(v.set, kChain, forged).ok());
}

TEST_CASE("codec: certificates, votes, proposals and evidence survive the wire") {
  TestValidators v(4);
  const Hash256 b = BlockId("b");
  CommitCertificate c = v.Certificate(9, 2, b, {0, 2, 3});
  auto back = core::DecodeCertificate(core::EncodeCertificate(c));
  REQUIRE(back.ok());
  CHECK(*back == c);
  CHECK(core::VerifyCommitCertificate(v.set, kChain, *back, 9, b).ok());

  core::Vote nil = v.SignedVote(1, 9, 2, VoteType::kPrevote, Hash256());
  auto nil_back = core::FromProto(core::ToProto(nil));
  REQUIRE(nil_back.ok());
  CHECK(*nil_back == nil);

  core::Proposal p{9, 2, 1u, b, {1, 2, 3}, v.signers[0]->public_key(), {}};
  p.signature = v.signers[0]->Sign(core::ProposalSignBytes(kChain, p));
  auto p_back = core::FromProto(core::ToProto(p));
  REQUIRE(p_back.ok());
  CHECK(*p_back == p);

  core::DuplicateVoteEvidence e{v.SignedVote(1, 3, 0, VoteType::kPrevote, BlockId("a")), nil};
  auto e_back = core::FromProto(core::ToProto(e));
  REQUIRE(e_back.ok());
  CHECK(*e_back == e);
}

TEST_CASE("codec: malformed certificates are rejected with a reason") {
  CHECK_FALSE(core::DecodeCertificate("\xff\xff garbage").ok());
  hallmark::pb::CommitCertificate proto;
  proto.set_height(1);
  proto.set_block_id(std::string(31, 'x'));
  CHECK_FALSE(core::FromProto(proto).ok());
  proto.set_block_id(std::string(32, 'x'));
  auto* s = proto.add_signatures();
  s->set_validator(std::string(32, 'k'));
  s->set_signature(std::string(63, 's'));
  auto r = core::FromProto(proto);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("64 bytes") != std::string::npos);
  hallmark::pb::Vote vote;
  vote.set_type(hallmark::pb::VOTE_TYPE_UNSPECIFIED);
  CHECK_FALSE(core::FromProto(vote).ok());
}
