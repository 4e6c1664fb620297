// Evidence through the consensus driver on a one-validator chain: real engine, real ledger in a
// temporary folder, real mempool. Evidence a peer gossips is checked, passed on once, and
// committed in the next block the node proposes.
#include <doctest/doctest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "evidence_fixture.h"
#include "fixtures.h"
#include "node/driver.h"
#include "test_util.h"

using namespace hallmark;
using namespace hallmark::test;

namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// Keeps every evidence message the driver sends.
class EvidenceSender final : public node::PeerSender {
 public:
  void Broadcast(const pb::PeerMessage& m) override { Keep(m); }
  void Send(const core::PublicKey&, const pb::PeerMessage& m) override { Keep(m); }
  std::vector<pb::EvidenceGossip> sent() {
    std::lock_guard lock(mu_);
    return sent_;
  }

 private:
  void Keep(const pb::PeerMessage& m) {
    if (m.body_case() != pb::PeerMessage::kEvidence) return;
    std::lock_guard lock(mu_);
    sent_.push_back(m.evidence());
  }
  std::mutex mu_;
  std::vector<pb::EvidenceGossip> sent_;
};

// "validator-0" alone: it proposes every block (an empty one every 50 ms) and commits it alone.
class SoloValidator {
 public:
  SoloValidator() {
    pb::Genesis g = TestGenesis();
    while (g.validators_size() > 1) g.mutable_validators()->RemoveLast();
    g.mutable_consensus()->set_idle_block_interval_ms(100);
    net_ = std::make_unique<core::Network>(std::move(core::Network::FromProto(g).value()));
    ledger_ = std::move(storage::Ledger::Open(dir_.path(), *net_, {.sync = false}).value());
    REQUIRE(ledger_->PutLocal("signer", node::EncodeSignerState(consensus::SignerState{})).ok());
    pool_ = std::make_unique<node::Mempool>(*net_, ledger_.get());
    driver_ = std::make_unique<node::ConsensusDriver>(io_, *net_, ledger_.get(), pool_.get(),
                                                      &sender_, &signer_, &metrics_);
    REQUIRE(driver_->Start().ok());
    thread_ = std::thread([this] { io_.run(); });
  }
  ~SoloValidator() {
    driver_->Stop();
    work_.reset();
    io_.stop();
    thread_.join();
  }

  void Gossip(std::vector<pb::Evidence> evidence) {
    pb::PeerMessage m;
    for (auto& e : evidence) *m.mutable_evidence()->add_evidence() = std::move(e);
    driver_->OnPeerMessage(KeyFor("peer").public_key(), std::move(m));
  }

  template <class Cond>
  bool WaitFor(Cond cond, int timeout_ms = 10'000) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!cond()) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  }

  storage::Ledger& ledger() { return *ledger_; }
  node::ConsensusDriver& driver() { return *driver_; }
  EvidenceSender& sender() { return sender_; }
  std::string metrics() { return metrics_.Render(); }

 private:
  TempDir dir_;
  std::unique_ptr<core::Network> net_;
  std::unique_ptr<storage::Ledger> ledger_;
  std::unique_ptr<node::Mempool> pool_;
  EvidenceSender sender_;
  core::SigningKey key_ = KeyFor("validator-0");
  node::KeySigner signer_{key_};
  node::MetricsRegistry metrics_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::unique_ptr<node::ConsensusDriver> driver_;
  std::thread thread_;
};

bool Has(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("driver: gossiped evidence is checked, passed on once and committed in a block") {
  SoloValidator node;
  REQUIRE(node.WaitFor([&] { return node.ledger().height() >= 1; }));

  // A forgery is neither kept nor passed on; the real piece is, once, however often it comes
  // and in whichever order its two votes arrive.
  pb::Evidence forged = DoubleVoteProto(0, 1);
  (*forged.mutable_duplicate_vote()->mutable_first()->mutable_signature())[0] ^= 1;
  const pb::Evidence real = DoubleVoteProto(0, 1);
  pb::Evidence swapped = real;
  std::swap(*swapped.mutable_duplicate_vote()->mutable_first(),
            *swapped.mutable_duplicate_vote()->mutable_second());
  node.Gossip({forged});
  node.Gossip({swapped});
  node.Gossip({real, real});

  REQUIRE(node.WaitFor([&] { return node.ledger().committed_evidence_count() == 1; }));
  auto committed = node.ledger().ListCommittedEvidence(UINT64_MAX, UINT32_MAX, 10);
  REQUIRE(committed.ok());
  REQUIRE(committed->size() == 1);
  CHECK(core::EvidenceId((*committed)[0].evidence) == core::EvidenceId(real));
  auto block = node.ledger().GetBlock((*committed)[0].height);
  REQUIRE(block.ok());
  REQUIRE(block->has_value());
  CHECK((*block)->evidence_size() == 1);

  const auto sent = node.sender().sent();
  REQUIRE(sent.size() == 1);
  REQUIRE(sent[0].evidence_size() == 1);
  CHECK(core::EvidenceId(sent[0].evidence(0)) == core::EvidenceId(real));

  // Committed once: gossiped again, it is recognised and never reaches another block.
  node.Gossip({real});
  const uint64_t h = node.ledger().height();
  REQUIRE(node.WaitFor([&] { return node.ledger().height() >= h + 2; }));
  CHECK(node.ledger().committed_evidence_count() == 1);
  CHECK(node.driver().pending_evidence() == 0);
  CHECK(node.sender().sent().size() == 1);

  const std::string m = node.metrics();
  CHECK(Has(m, "hallmark_evidence_committed 1"));
  CHECK(Has(m, "hallmark_evidence_pending 0"));
  CHECK(Has(m, "hallmark_evidence_received_total{outcome=\"added\"} 1"));
  CHECK(Has(m, "hallmark_evidence_received_total{outcome=\"invalid\"} 1"));
  CHECK(Has(m, "hallmark_evidence_received_total{outcome=\"known\"} 2"));
  CHECK(Has(m, "hallmark_evidence_received_total{outcome=\"committed\"} 1"));
}

TEST_CASE("driver: a gossip message with more pieces than the limit is dropped whole") {
  SoloValidator node;
  REQUIRE(node.WaitFor([&] { return node.ledger().height() >= 1; }));
  std::vector<pb::Evidence> many;
  for (uint32_t r = 0; r <= core::limits::kMaxEvidencePerGossip; ++r)
    many.push_back(DoubleVoteProto(0, 1, r));
  node.Gossip(many);
  node.Gossip({DoubleVoteProto(0, 1, 999)});
  REQUIRE(node.WaitFor([&] { return node.ledger().committed_evidence_count() == 1; }));
  const uint64_t h = node.ledger().height();
  REQUIRE(node.WaitFor([&] { return node.ledger().height() >= h + 1; }));
  CHECK(node.ledger().committed_evidence_count() == 1);
}
