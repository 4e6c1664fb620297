#include <doctest/doctest.h>

#include "core/certificate.h"
#include "core/consensus_codec.h"
#include "evidence_fixture.h"
#include "fixtures.h"

using namespace hallmark;
using namespace hallmark::test;
using core::DuplicateProposalEvidence;
using core::DuplicateVoteEvidence;
using core::Evidence;
using core::VoteType;

namespace {

core::ValidatorSet Validators() {
  return std::move(core::ValidatorSet::FromNetwork(TestNetwork()).value());
}

core::Status Check(const Evidence& e) {
  return core::VerifyEvidence(Validators(), kTestChain, e);
}

bool Says(const core::Status& st, std::string_view text) {
  INFO(st.ToString());
  return !st.ok() && st.message().find(text) != std::string::npos;
}

}  // namespace

TEST_CASE("evidence: two votes of one validator for different blocks verify against genesis") {
  for (VoteType type : {VoteType::kPrevote, VoteType::kPrecommit}) {
    const Evidence e = DoubleVote(2, 7, 3, type);
    CHECK(Check(e).ok());
    CHECK(core::VerifyEvidence(TestNetwork(), e).ok());
    const core::Offence o = core::OffenceOf(e);
    CHECK(o.validator == KeyFor("validator-2").public_key());
    CHECK(o.height == 7);
    CHECK(o.round == 3);
    CHECK(o.kind == (type == VoteType::kPrevote ? core::OffenceKind::kDuplicatePrevote
                                                : core::OffenceKind::kDuplicatePrecommit));
  }
  // A nil vote and a block vote conflict too.
  CHECK(Check(core::CanonicalEvidence(DuplicateVoteEvidence{
                  SignedTestVote(1, 4, 0, VoteType::kPrecommit, core::Hash256()),
                  SignedTestVote(1, 4, 0, VoteType::kPrecommit, NamedBlock("x"))}))
            .ok());
}

TEST_CASE("evidence: refused for one block, other heights, rounds or types, strangers, forgeries") {
  auto pair = [](core::Vote a, core::Vote b) {
    return core::CanonicalEvidence(DuplicateVoteEvidence{std::move(a), std::move(b)});
  };
  const core::Vote base = SignedTestVote(1, 5, 2, VoteType::kPrevote, NamedBlock("a"));
  CHECK(Says(Check(pair(base, SignedTestVote(1, 5, 2, VoteType::kPrevote, NamedBlock("a")))),
             "same block"));
  CHECK(Says(Check(pair(base, SignedTestVote(1, 6, 2, VoteType::kPrevote, NamedBlock("b")))),
             "one height, round and type"));
  CHECK(Says(Check(pair(base, SignedTestVote(1, 5, 3, VoteType::kPrevote, NamedBlock("b")))),
             "one height, round and type"));
  CHECK(Says(Check(pair(base, SignedTestVote(1, 5, 2, VoteType::kPrecommit, NamedBlock("b")))),
             "one height, round and type"));
  CHECK(Says(Check(pair(base, SignedTestVote(2, 5, 2, VoteType::kPrevote, NamedBlock("b")))),
             "different validators"));

  // A key outside the genesis validator set.
  const core::SigningKey stranger = KeyFor("validator-9");
  auto vote_by = [&](const core::Hash256& block) {
    core::Vote v{5, 2, VoteType::kPrevote, block, stranger.public_key(), {}};
    v.signature = stranger.Sign(core::VoteSignBytes(kTestChain, v));
    return v;
  };
  CHECK(Says(Check(pair(vote_by(NamedBlock("a")), vote_by(NamedBlock("b")))), "not a validator"));

  // A bad signature on either vote, and votes signed for another chain.
  Evidence forged = DoubleVote(1, 5, 2);
  std::get<DuplicateVoteEvidence>(forged).second.signature.bytes[10] ^= 1;
  CHECK(Says(Check(forged), "bad signature"));
  forged = DoubleVote(1, 5, 2);
  std::get<DuplicateVoteEvidence>(forged).first.signature.bytes[0] ^= 1;
  CHECK(Says(Check(forged), "bad signature"));
  CHECK(Says(Check(pair(SignedTestVote(1, 5, 2, VoteType::kPrevote, NamedBlock("a"), "other"),
                        SignedTestVote(1, 5, 2, VoteType::kPrevote, NamedBlock("b"), "other"))),
             "bad signature"));
}

TEST_CASE("evidence: one pair has one canonical form, one encoding and one id") {
  const Evidence e = DoubleVote(0, 3);
  auto swapped = std::get<DuplicateVoteEvidence>(e);
  std::swap(swapped.first, swapped.second);
  // The swapped pair is still proof of equivocation, but not the record a block carries.
  CHECK(core::VerifyEvidence(Validators(), kTestChain, swapped).ok());
  CHECK(Says(Check(Evidence(swapped)), "canonical order"));
  CHECK(core::CanonicalEvidence(Evidence(swapped)) == e);
  CHECK(core::EvidenceId(core::ToProto(core::CanonicalEvidence(Evidence(swapped)))) ==
        core::EvidenceId(core::ToProto(e)));

  auto back = core::DecodeEvidence(core::EncodeEvidence(e));
  REQUIRE(back.ok());
  CHECK(*back == e);
  CHECK_FALSE(core::DecodeEvidence("").ok());  // No kind.
  CHECK_FALSE(core::DecodeEvidence("\xff\xff").ok());
}

TEST_CASE("evidence: two different proposals of one validator for one round verify") {
  const core::Proposal a = SignedTestProposal(3, 9, 1, NamedBlock("a"));
  const core::Proposal b = SignedTestProposal(3, 9, 1, NamedBlock("b"));
  const Evidence e = core::CanonicalEvidence(DuplicateProposalEvidence{a, b});
  CHECK(Check(e).ok());
  CHECK(core::OffenceOf(e).kind == core::OffenceKind::kDuplicateProposal);
  // Same block, another proof-of-lock round: still two different signed proposals.
  CHECK(Check(core::CanonicalEvidence(
                  DuplicateProposalEvidence{a, SignedTestProposal(3, 9, 1, NamedBlock("a"), 0u)}))
            .ok());
  // The block bytes never travel with evidence.
  core::Proposal with_block = a;
  with_block.block = {1, 2, 3};
  CHECK(core::CanonicalEvidence(DuplicateProposalEvidence{with_block, b}) == e);
  CHECK(
      Says(core::VerifyEvidence(Validators(), kTestChain, DuplicateProposalEvidence{with_block, b}),
           "block bytes"));
  auto back = core::DecodeEvidence(core::EncodeEvidence(e));
  REQUIRE(back.ok());
  CHECK(*back == e);

  auto check_pair = [](core::Proposal x, core::Proposal y) {
    return Check(core::CanonicalEvidence(DuplicateProposalEvidence{std::move(x), std::move(y)}));
  };
  CHECK(Says(check_pair(a, a), "same block"));
  CHECK(Says(check_pair(a, SignedTestProposal(3, 9, 2, NamedBlock("b"))), "height and round"));
  CHECK(Says(check_pair(a, SignedTestProposal(2, 9, 1, NamedBlock("b"))), "different validators"));
  core::Proposal forged = b;
  forged.signature.bytes[5] ^= 1;
  CHECK(Says(check_pair(a, forged), "bad signature"));
}
