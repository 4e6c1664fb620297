#include <doctest/doctest.h>

#include "core/codec.h"
#include "core/consensus_codec.h"
#include "core/merkle.h"
#include "evidence_fixture.h"
#include "fixtures.h"
#include "storage/ledger.h"
#include "test_util.h"

using namespace hallmark;
using namespace hallmark::test;
using core::Hash256;

namespace {

const Hash256 kProposer = PubFor("validator-0");

std::unique_ptr<storage::Ledger> OpenLedger(const TempDir& dir, const core::Network& net) {
  auto l = storage::Ledger::Open(dir.path(), net, storage::LedgerOptions{.sync = false});
  INFO(l.status().ToString());
  REQUIRE(l.ok());
  return std::move(l).value();
}

pb::Envelope Register(const std::string& serial) {
  auto p = Payload("01/00614141000012/21/" + serial);
  p.mutable_register_();
  return Sign("maison", p);
}

// Builds and commits the next block with `records` and `evidence`; returns it.
pb::Block CommitNext(storage::Ledger* ledger, std::vector<pb::Envelope> records,
                     std::vector<pb::Evidence> evidence = {}) {
  auto built = ledger->BuildBlock(records, kTestTimeMs + ledger->height() + 1, kProposer,
                                  storage::VerifyEverySignature(), evidence);
  INFO(built.status().ToString());
  REQUIRE(built.ok());
  auto st = ledger->Commit(*built);
  INFO(st.ToString());
  REQUIRE(st.ok());
  return built->block;
}

// The next block without evidence, then given `evidence` with a header that commits to it: what
// a proposer that skips the checks would send.
pb::Block ForgeNext(storage::Ledger* ledger, const std::vector<pb::Evidence>& evidence) {
  auto built = ledger->BuildBlock({}, kTestTimeMs + ledger->height() + 1, kProposer);
  REQUIRE(built.ok());
  pb::Block block = built->block;
  pb::BlockHeader header = built->header;
  std::vector<Hash256> leaves;
  for (const auto& ev : evidence) {
    *block.add_evidence() = ev;
    leaves.push_back(core::MerkleLeafHash(core::EvidenceId(ev).span()));
  }
  header.set_evidence_count(static_cast<uint32_t>(evidence.size()));
  header.set_evidence_root(evidence.empty() ? "" : std::string(core::MerkleRoot(leaves).view()));
  block.set_header(core::SerializeDeterministic(header));
  return block;
}

std::string Rejection(storage::Ledger* ledger, const pb::Block& block) {
  auto r = ledger->ValidateBlock(block);
  if (r.ok()) return "accepted";
  CHECK(r.status().code() == core::StatusCode::kInvalidInput);
  return r.status().message();
}

bool Contains(const std::string& text, std::string_view part) {
  INFO(text);
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("ledger evidence: a block with evidence commits, and the index survives reopening") {
  TempDir dir;
  auto net = TestNetwork();
  const pb::Evidence prevotes = DoubleVoteProto(1, 1);
  const pb::Evidence precommits = DoubleVoteProto(2, 1, 0, core::VoteType::kPrecommit);
  Hash256 head_hash;
  {
    auto ledger = OpenLedger(dir, net);
    CommitNext(ledger.get(), {Register("E1")});
    // A follower accepts what the proposer built.
    auto built = ledger->BuildBlock({}, kTestTimeMs + 2, kProposer, storage::VerifyEverySignature(),
                                    std::vector<pb::Evidence>{prevotes, precommits});
    REQUIRE(built.ok());
    CHECK(built->dropped_evidence.empty());
    REQUIRE(built->block.evidence_size() == 2);
    CHECK(built->header.evidence_count() == 2);
    CHECK(built->header.evidence_root().size() == 32);
    auto validated = ledger->ValidateBlock(built->block);
    INFO(validated.status().ToString());
    REQUIRE(validated.ok());
    REQUIRE(ledger->Commit(*validated).ok());
    head_hash = validated->hash;
    CHECK(ledger->committed_evidence_count() == 2);
  }
  auto ledger = OpenLedger(dir, net);
  CHECK(ledger->head().block_hash() == head_hash.view());
  CHECK(ledger->committed_evidence_count() == 2);
  // The stored block is the block that was committed, evidence included.
  auto block = ledger->GetBlock(2);
  REQUIRE(block.ok());
  REQUIRE(block->has_value());
  REQUIRE((*block)->evidence_size() == 2);
  CHECK(core::Sha256Of(std::string_view((*block)->header())) == head_hash);
  CHECK(core::SerializeDeterministic((*block)->evidence(0)) ==
        core::SerializeDeterministic(prevotes));
  // Newest first, and by validator.
  auto listed = ledger->ListCommittedEvidence(UINT64_MAX, UINT32_MAX, 10);
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 2);
  CHECK((*listed)[0].height == 2);
  CHECK((*listed)[0].position == 1);
  CHECK((*listed)[1].position == 0);
  auto page = ledger->ListCommittedEvidence(2, 1, 10);
  REQUIRE(page.ok());
  REQUIRE(page->size() == 1);
  CHECK((*page)[0].position == 0);
  auto against = ledger->ListEvidenceAgainst(KeyFor("validator-2").public_key(), 10);
  REQUIRE(against.ok());
  REQUIRE(against->size() == 1);
  CHECK(core::SerializeDeterministic((*against)[0].evidence) ==
        core::SerializeDeterministic(precommits));
  auto none = ledger->ListEvidenceAgainst(KeyFor("validator-3").public_key(), 10);
  REQUIRE(none.ok());
  CHECK(none->empty());
  auto found = ledger->FindOffence(core::OffenceOf(DoubleVote(1, 1)));
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->height == 2);
}

TEST_CASE("ledger evidence: blocks without evidence keep the header bytes they always had") {
  TempDir dir;
  auto net = TestNetwork();
  auto ledger = OpenLedger(dir, net);
  pb::Block block = CommitNext(ledger.get(), {Register("E2")});
  pb::BlockHeader header;
  REQUIRE(header.ParseFromString(block.header()));
  CHECK(header.evidence_root().empty());
  CHECK(header.evidence_count() == 0);
  CHECK(block.evidence_size() == 0);
}

TEST_CASE("ledger evidence: evidence already committed, twice in a block or invalid rejects it") {
  TempDir dir;
  auto net = TestNetwork();
  auto ledger = OpenLedger(dir, net);
  const pb::Evidence ev = DoubleVoteProto(1, 1);
  CommitNext(ledger.get(), {}, {ev});
  CHECK(ledger->committed_evidence_count() == 1);

  // Once committed, the offence is never committed again, by the same or another pair.
  CHECK(Contains(Rejection(ledger.get(), ForgeNext(ledger.get(), {ev})), "already committed"));
  const pb::Evidence third_block =
      core::ToProto(core::CanonicalEvidence(core::DuplicateVoteEvidence{
          SignedTestVote(1, 1, 0, core::VoteType::kPrevote, NamedBlock("a")),
          SignedTestVote(1, 1, 0, core::VoteType::kPrevote, NamedBlock("c"))}));
  CHECK(Contains(Rejection(ledger.get(), ForgeNext(ledger.get(), {third_block})),
                 "already committed"));
  // The proposer leaves it out instead.
  auto built = ledger->BuildBlock({}, kTestTimeMs + 2, kProposer, storage::VerifyEverySignature(),
                                  std::vector<pb::Evidence>{ev, DoubleVoteProto(3, 2)});
  REQUIRE(built.ok());
  CHECK(built->block.evidence_size() == 1);
  REQUIRE(built->dropped_evidence.size() == 1);
  CHECK(Contains(built->dropped_evidence[0], "already committed"));

  const pb::Evidence fresh = DoubleVoteProto(3, 2);
  CHECK(
      Contains(Rejection(ledger.get(), ForgeNext(ledger.get(), {fresh, fresh})), "appears twice"));
  pb::Evidence forged = fresh;
  (*forged.mutable_duplicate_vote()->mutable_second()->mutable_signature())[3] ^= 1;
  CHECK(Contains(Rejection(ledger.get(), ForgeNext(ledger.get(), {forged})), "bad signature"));
  pb::Evidence swapped = fresh;
  std::swap(*swapped.mutable_duplicate_vote()->mutable_first(),
            *swapped.mutable_duplicate_vote()->mutable_second());
  CHECK(Contains(Rejection(ledger.get(), ForgeNext(ledger.get(), {swapped})), "canonical"));
  CHECK(Contains(Rejection(ledger.get(), ForgeNext(ledger.get(), {DoubleVoteProto(3, 3)})),
                 "later height"));
  CHECK(Contains(Rejection(ledger.get(), ForgeNext(ledger.get(), {pb::Evidence()})), "no kind"));

  // The header must commit to exactly the block's evidence.
  pb::Block wrong_root = ForgeNext(ledger.get(), {fresh});
  *wrong_root.add_evidence() = DoubleVoteProto(2, 2);
  CHECK(Contains(Rejection(ledger.get(), wrong_root), "pieces of evidence"));
  pb::Block unlisted = ForgeNext(ledger.get(), {});
  *unlisted.add_evidence() = fresh;
  CHECK(Contains(Rejection(ledger.get(), unlisted), "pieces of evidence"));
  pb::Block swapped_root = ForgeNext(ledger.get(), {fresh, DoubleVoteProto(2, 2)});
  std::swap(*swapped_root.mutable_evidence(0), *swapped_root.mutable_evidence(1));
  CHECK(Contains(Rejection(ledger.get(), swapped_root), "evidence_root"));

  // At most kMaxEvidencePerBlock pieces.
  std::vector<pb::Evidence> many;
  for (uint32_t r = 0; r <= core::limits::kMaxEvidencePerBlock; ++r)
    many.push_back(DoubleVoteProto(3, 2, r));
  CHECK(Contains(Rejection(ledger.get(), ForgeNext(ledger.get(), many)), "the limit is 32"));
  auto capped =
      ledger->BuildBlock({}, kTestTimeMs + 2, kProposer, storage::VerifyEverySignature(), many);
  REQUIRE(capped.ok());
  CHECK(capped->block.evidence_size() == static_cast<int>(core::limits::kMaxEvidencePerBlock));
  CHECK(ledger->ValidateBlock(capped->block).ok());
}
