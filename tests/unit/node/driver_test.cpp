// The consensus driver's proposer policy on a one-validator chain: real engine, real ledger in a
// temporary folder, real mempool, on an io_context thread.

#include <doctest/doctest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "fixtures.h"
#include "node/driver.h"
#include "test_util.h"

using namespace hallmark;
using namespace hallmark::test;

namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

class NullSender final : public node::PeerSender {
 public:
  void Broadcast(const pb::PeerMessage&) override {}
  void Send(const core::PublicKey&, const pb::PeerMessage&) override {}
};

struct Commit {
  uint64_t height = 0;
  int records = 0;
  Clock::time_point at;
};

// One validator ("validator-0") that proposes every block and commits it alone.
class SoloChain {
 public:
  SoloChain(uint32_t block_interval_ms, uint32_t max_block_records = 0,
            uint32_t idle_block_interval_ms = 200, uint32_t block_batch_records = 0) {
    pb::Genesis g = TestGenesis();
    while (g.validators_size() > 1) g.mutable_validators()->RemoveLast();
    g.mutable_consensus()->set_timeout_propose_ms(20'000);
    g.mutable_consensus()->set_idle_block_interval_ms(idle_block_interval_ms);
    if (max_block_records > 0) g.mutable_consensus()->set_max_block_records(max_block_records);
    net_ = std::make_unique<core::Network>(std::move(core::Network::FromProto(g).value()));
    ledger_ = std::move(storage::Ledger::Open(dir_.path(), *net_, {.sync = false}).value());
    REQUIRE(ledger_->PutLocal("signer", node::EncodeSignerState(consensus::SignerState{})).ok());
    pool_ = std::make_unique<node::Mempool>(*net_, ledger_.get());
    node::DriverOptions options;
    options.block_interval_ms = block_interval_ms;
    options.block_batch_records = block_batch_records;
    driver_ = std::make_unique<node::ConsensusDriver>(io_, *net_, ledger_.get(), pool_.get(),
                                                      &sender_, &signer_, &metrics_, options);
    driver_->AddCommitListener([this](const pb::Block& block, uint64_t height) {
      std::lock_guard lock(mu_);
      commits_.push_back(Commit{height, block.records_size(), Clock::now()});
    });
    REQUIRE(driver_->Start().ok());
    thread_ = std::thread([this] { io_.run(); });
  }

  ~SoloChain() {
    driver_->Stop();
    work_.reset();
    io_.stop();
    thread_.join();
  }

  // Admits a registration of a new serial, as the API would, and wakes the driver.
  void Submit(const std::string& serial) {
    auto p = Payload("01/00614141000012/21/" + serial);
    p.mutable_register_();
    auto r = pool_->Admit(Sign("maison", p), NowMs());
    REQUIRE(r.kind == node::AdmitResult::Kind::kAccepted);
    driver_->OnRecordsAvailable();
  }

  std::vector<Commit> commits() {
    std::lock_guard lock(mu_);
    return commits_;
  }

  // Waits until `n` records have been committed; the commits that held records, in order.
  std::vector<Commit> WaitForRecords(int n, int timeout_ms = 10'000) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < deadline) {
      int total = 0;
      for (const Commit& c : commits()) total += c.records;
      if (total >= n) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    std::vector<Commit> out;
    for (const Commit& c : commits()) {
      if (c.records > 0) out.push_back(c);
    }
    return out;
  }

  // Waits for the first (empty) block, so that tests start right after a commit.
  Clock::time_point WaitForFirstCommit() {
    for (int i = 0; i < 5000 && commits().empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    REQUIRE_FALSE(commits().empty());
    return commits().back().at;
  }

 private:
  static uint64_t NowMs() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  }

  TempDir dir_;
  std::unique_ptr<core::Network> net_;
  std::unique_ptr<storage::Ledger> ledger_;
  std::unique_ptr<node::Mempool> pool_;
  NullSender sender_;
  core::SigningKey key_ = KeyFor("validator-0");
  node::KeySigner signer_{key_};
  node::MetricsRegistry metrics_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::unique_ptr<node::ConsensusDriver> driver_;
  std::mutex mu_;
  std::vector<Commit> commits_;
  std::thread thread_;
};

}  // namespace

TEST_CASE("driver: with a block interval, records arriving apart share one block") {
  SoloChain chain(/*block_interval_ms=*/400);
  const auto first = chain.WaitForFirstCommit();
  for (int i = 0; i < 5; ++i) {
    chain.Submit("BI-" + std::to_string(i));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  auto blocks = chain.WaitForRecords(5);
  REQUIRE_FALSE(blocks.empty());
  CHECK(blocks.size() <= 2);
  // The block waited for the interval after the commit before it.
  CHECK(blocks.front().at - first >= std::chrono::milliseconds(300));
}

TEST_CASE("driver: with no block interval, each record arriving apart gets a block at once") {
  SoloChain chain(/*block_interval_ms=*/0);
  chain.WaitForFirstCommit();
  for (int i = 0; i < 5; ++i) {
    chain.Submit("NI-" + std::to_string(i));
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
  auto blocks = chain.WaitForRecords(5);
  CHECK(blocks.size() >= 3);
}

TEST_CASE("driver: a full block is built without waiting for the interval") {
  SoloChain chain(/*block_interval_ms=*/5'000, /*max_block_records=*/4);
  const auto first = chain.WaitForFirstCommit();
  for (int i = 0; i < 8; ++i) chain.Submit("FB-" + std::to_string(i));
  auto blocks = chain.WaitForRecords(4, 3'000);
  REQUIRE_FALSE(blocks.empty());
  CHECK(blocks.front().records == 4);
  CHECK(blocks.front().at - first < std::chrono::milliseconds(2'500));
}

TEST_CASE("driver: a batch of waiting records cuts the interval short, fewer wait it out") {
  SoloChain chain(/*block_interval_ms=*/5'000, /*max_block_records=*/100,
                  /*idle_block_interval_ms=*/200, /*block_batch_records=*/3);
  const auto first = chain.WaitForFirstCommit();
  // Two records: below the batch, so they wait (the interval is far longer than this test).
  chain.Submit("BB-0");
  chain.Submit("BB-1");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(chain.WaitForRecords(1, 10).empty());
  // The third makes a batch: built at once, all three in one block.
  chain.Submit("BB-2");
  auto blocks = chain.WaitForRecords(3, 3'000);
  REQUIRE(blocks.size() == 1);
  CHECK(blocks.front().records == 3);
  CHECK(blocks.front().at - first < std::chrono::milliseconds(2'500));
}

TEST_CASE("driver: an idle chain makes one empty block per idle interval, not two a second") {
  SoloChain chain(/*block_interval_ms=*/0, /*max_block_records=*/0,
                  /*idle_block_interval_ms=*/1'000);
  for (int i = 0; i < 2000 && chain.commits().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  REQUIRE_FALSE(chain.commits().empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(3'300));
  const auto commits = chain.commits();
  REQUIRE(commits.size() >= 3);
  CHECK(commits.size() <= 5);
  for (size_t i = 1; i < commits.size(); ++i) {
    CHECK(commits[i].records == 0);
    CHECK(commits[i].at - commits[i - 1].at >= std::chrono::milliseconds(900));
  }
}

TEST_CASE("driver: a record arriving during the idle wait is committed without waiting it out") {
  SoloChain chain(/*block_interval_ms=*/0, /*max_block_records=*/0,
                  /*idle_block_interval_ms=*/30'000);
  const auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  chain.Submit("IDLE-1");
  auto blocks = chain.WaitForRecords(1, 5'000);
  REQUIRE(blocks.size() == 1);
  CHECK(blocks.front().at - start < std::chrono::milliseconds(3'000));
}
