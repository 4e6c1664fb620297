// The signer watermark (node/signer_state.h): which signer state a validator starts with, the
// file's format and checks, its durable write, and the driver keeping it with every signature.

#include <doctest/doctest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/certificate.h"
#include "core/crypto/sha256.h"
#include "fixtures.h"
#include "node/driver.h"
#include "node/signer_state.h"
#include "test_util.h"

using namespace hallmark;
using namespace hallmark::test;
using node::SignerStateSource;

namespace {

namespace asio = boost::asio;

consensus::SignerState At(uint64_t height, uint32_t round, uint8_t step,
                          std::string_view block = "a") {
  consensus::SignerState s;
  s.height = height;
  s.round = round;
  s.step = step;
  s.block_id = core::Sha256Of(block);
  if (step == 3) {
    s.lock_height = height;
    s.lock_round = round;
    s.lock_block_id = s.block_id;
  }
  return s;
}

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteText(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

node::WatermarkOwner Owner() {
  return {"hallmark-test", KeyFor("validator-0").public_key()};
}

}  // namespace

TEST_CASE("signer state choice: a watermark ahead of a restored data folder wins") {
  for (const auto& [w, d] :
       {std::pair{At(10, 0, 1), At(7, 2, 3)}, std::pair{At(7, 3, 1), At(7, 2, 3)},
        std::pair{At(7, 2, 3), At(7, 2, 2)}}) {
    const auto choice = node::ChooseSignerState(w, d);
    CHECK(choice.source == SignerStateSource::kWatermark);
    REQUIRE(choice.state);
    CHECK(*choice.state == w);
    CHECK_FALSE(choice.rewrite_watermark);
  }
}

TEST_CASE("signer state choice: a data folder ahead of the watermark wins and rewrites it") {
  const auto choice = node::ChooseSignerState(At(5, 0, 3), At(6, 1, 2));
  CHECK(choice.source == SignerStateSource::kDataFolder);
  REQUIRE(choice.state);
  CHECK(*choice.state == At(6, 1, 2));
  CHECK(choice.rewrite_watermark);
}

TEST_CASE("signer state choice: equal states agree") {
  const auto choice = node::ChooseSignerState(At(6, 1, 2), At(6, 1, 2));
  CHECK(choice.source == SignerStateSource::kBothAgree);
  REQUIRE(choice.state);
  CHECK(*choice.state == At(6, 1, 2));
  CHECK_FALSE(choice.rewrite_watermark);
  // A fresh validator: both empty.
  CHECK(node::ChooseSignerState(consensus::SignerState{}, consensus::SignerState{}).source ==
        SignerStateSource::kBothAgree);
}

TEST_CASE("signer state choice: a wiped data folder uses the watermark") {
  const auto choice = node::ChooseSignerState(At(6, 1, 2), std::nullopt);
  CHECK(choice.source == SignerStateSource::kWatermark);
  REQUIRE(choice.state);
  CHECK(*choice.state == At(6, 1, 2));
}

TEST_CASE("signer state choice: no watermark means abstain, whatever the data folder holds") {
  auto choice = node::ChooseSignerState(std::nullopt, At(6, 1, 2));
  CHECK(choice.source == SignerStateSource::kAbstainNoMark);
  CHECK_FALSE(choice.state);
  CHECK_FALSE(choice.rewrite_watermark);
  choice = node::ChooseSignerState(std::nullopt, consensus::SignerState{});
  CHECK(choice.source == SignerStateSource::kAbstainNoMark);
  CHECK_FALSE(choice.state);
  choice = node::ChooseSignerState(std::nullopt, std::nullopt);
  CHECK(choice.source == SignerStateSource::kAbstainNone);
  CHECK_FALSE(choice.state);
}

TEST_CASE("signer state choice: two states at one (height, round, step) mean abstain") {
  const auto choice = node::ChooseSignerState(At(6, 1, 2, "a"), At(6, 1, 2, "b"));
  CHECK(choice.source == SignerStateSource::kAbstainConflict);
  CHECK_FALSE(choice.state);
  CHECK_FALSE(choice.rewrite_watermark);
}

TEST_CASE("signer watermark: written and read back, votes included, as versioned JSON") {
  TempDir dir;
  const auto path = dir.path() / node::kWatermarkFileName;
  consensus::SignerState s = At(42, 3, 3);
  const core::SigningKey key = KeyFor("validator-0");
  core::Vote vote{42, 3, core::VoteType::kPrecommit, s.block_id, key.public_key(), {}};
  vote.signature = key.Sign(core::VoteSignBytes("hallmark-test", vote));
  s.precommit = vote;
  REQUIRE(node::WriteWatermark(path, Owner(), s).ok());
  const std::string text = ReadAll(path);
  CHECK(text.find("\"version\": 1") != std::string::npos);
  CHECK(text.find("\"chain_id\": \"hallmark-test\"") != std::string::npos);
  CHECK(text.find(key.public_key().Hex()) != std::string::npos);
  auto read = node::ReadWatermark(path, Owner());
  REQUIRE(read.ok());
  REQUIRE(read->has_value());
  CHECK(**read == s);
  // Only the owner may read and write it.
  CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::group_read) ==
        std::filesystem::perms::none);
}

TEST_CASE("signer watermark: a missing file reads as none") {
  TempDir dir;
  auto read = node::ReadWatermark(dir.path() / node::kWatermarkFileName, Owner());
  REQUIRE(read.ok());
  CHECK_FALSE(read->has_value());
}

TEST_CASE("signer watermark: another key's, another chain's or another version's is refused") {
  TempDir dir;
  const auto path = dir.path() / node::kWatermarkFileName;
  REQUIRE(
      node::WriteWatermark(path, {"hallmark-test", KeyFor("validator-1").public_key()}, At(3, 0, 1))
          .ok());
  auto read = node::ReadWatermark(path, Owner());
  REQUIRE_FALSE(read.ok());
  CHECK(read.status().code() == core::StatusCode::kInvalidInput);
  CHECK(read.status().message().find("another validator's file") != std::string::npos);

  REQUIRE(node::WriteWatermark(path, {"other-chain", Owner().validator}, At(3, 0, 1)).ok());
  read = node::ReadWatermark(path, Owner());
  REQUIRE_FALSE(read.ok());
  CHECK(read.status().code() == core::StatusCode::kInvalidInput);
  CHECK(read.status().message().find("other-chain") != std::string::npos);

  std::string text = node::EncodeWatermark(Owner(), At(3, 0, 1));
  text.replace(text.find("\"version\": 1"), 12, "\"version\": 2");
  WriteText(path, text);
  read = node::ReadWatermark(path, Owner());
  REQUIRE_FALSE(read.ok());
  CHECK(read.status().message().find("version 2") != std::string::npos);
}

TEST_CASE("signer watermark: a damaged file is corruption, not a missing one") {
  TempDir dir;
  const auto path = dir.path() / node::kWatermarkFileName;
  const std::string good = node::EncodeWatermark(Owner(), At(3, 0, 1));
  for (const std::string& bad :
       {std::string(), good.substr(0, good.size() / 2), std::string("{\"version\": 1, \"x\": 1}"),
        std::string("{\"version\": 1, \"chainId\": \"hallmark-test\", \"validatorKey\": \"") +
            Owner().validator.Hex() + "\"}",
        std::string(70 * 1024, ' ')}) {
    WriteText(path, bad);
    auto read = node::ReadWatermark(path, Owner());
    REQUIRE_FALSE(read.ok());
    CHECK(read.status().code() != core::StatusCode::kNotFound);
  }
}

TEST_CASE("durable write: replaces the whole file and leaves no temporary file") {
  TempDir dir;
  const auto path = dir.path() / "f.json";
  REQUIRE(node::WriteFileDurably(path, "first").ok());
  REQUIRE(node::WriteFileDurably(path, "second, longer").ok());
  CHECK(ReadAll(path) == "second, longer");
  // A leftover temporary file from a crash is simply reused.
  WriteText(dir.path() / ".f.json.tmp", "half-written garbage");
  REQUIRE(node::WriteFileDurably(path, "third").ok());
  CHECK(ReadAll(path) == "third");
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++files;
  }
  CHECK(files == 1);
}

TEST_CASE("durable write: a failure leaves the old contents and says why") {
  TempDir dir;
  const auto path = dir.path() / "f.json";
  REQUIRE(node::WriteFileDurably(path, "old").ok());
  // The temporary file cannot be created: a folder stands in its way.
  std::filesystem::create_directory(dir.path() / ".f.json.tmp");
  const core::Status st = node::WriteFileDurably(path, "new");
  CHECK(st.code() == core::StatusCode::kIoError);
  CHECK(st.message().find(".f.json.tmp") != std::string::npos);
  CHECK(ReadAll(path) == "old");
  CHECK(node::WriteFileDurably(dir.path() / "no-such-folder" / "f.json", "x").code() ==
        core::StatusCode::kIoError);
}

namespace {

class NullSender final : public node::PeerSender {
 public:
  void Broadcast(const pb::PeerMessage&) override {}
  void Send(const core::PublicKey&, const pb::PeerMessage&) override {}
};

// One validator ("validator-0") with its home in a temporary folder: the data folder's signer
// state and the watermark are set up by the test, then a driver starts on them.
class SoloHome {
 public:
  SoloHome() {
    pb::Genesis g = TestGenesis();
    while (g.validators_size() > 1) g.mutable_validators()->RemoveLast();
    g.mutable_consensus()->set_idle_block_interval_ms(100);
    net_ = std::make_unique<core::Network>(std::move(core::Network::FromProto(g).value()));
    OpenLedger();
  }
  ~SoloHome() { StopDriver(); }

  const std::filesystem::path watermark() const { return dir_.path() / node::kWatermarkFileName; }
  node::WatermarkOwner owner() const { return {net_->chain_id(), key_.public_key()}; }
  storage::Ledger& ledger() { return *ledger_; }

  void OpenLedger() {
    ledger_.reset();
    ledger_ =
        std::move(storage::Ledger::Open(dir_.path() / "ledger", *net_, {.sync = false}).value());
  }

  core::Status StartDriver() {
    pool_ = std::make_unique<node::Mempool>(*net_, ledger_.get());
    node::DriverOptions options;
    options.signer_watermark = watermark();
    driver_ = std::make_unique<node::ConsensusDriver>(io_, *net_, ledger_.get(), pool_.get(),
                                                      &sender_, &signer_, &metrics_, options);
    core::Status st = driver_->Start();
    if (st.ok()) thread_ = std::thread([this] { io_.run(); });
    return st;
  }

  void StopDriver() {
    if (!driver_) return;
    driver_->Stop();
    work_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
    driver_.reset();
  }

  bool WaitForHeight(uint64_t height) {
    for (int i = 0; i < 5000; ++i) {
      if (driver_->engine_height() > height) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }

  bool abstaining() {
    // The engine's first actions run on the driver's strand.
    for (int i = 0; i < 200 && driver_->engine_height() == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return driver_->abstaining();
  }

 private:
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
  std::thread thread_;
};

consensus::SignerState DataFolderState(storage::Ledger& ledger) {
  auto bytes = ledger.GetLocal("signer");
  REQUIRE(bytes.ok());
  REQUIRE(bytes->has_value());
  return node::DecodeSignerState(**bytes).value();
}

}  // namespace

TEST_CASE(
    "driver: every signature is in the watermark before it leaves, equal to the data folder's") {
  SoloHome home;
  REQUIRE(home.ledger().PutLocal("signer", node::EncodeSignerState({})).ok());
  REQUIRE(node::WriteWatermark(home.watermark(), home.owner(), {}).ok());
  REQUIRE(home.StartDriver().ok());
  CHECK_FALSE(home.abstaining());
  REQUIRE(home.WaitForHeight(3));
  home.StopDriver();
  auto mark = node::ReadWatermark(home.watermark(), home.owner());
  REQUIRE(mark.ok());
  REQUIRE(mark->has_value());
  CHECK((*mark)->height >= 3);
  CHECK(**mark == DataFolderState(home.ledger()));
}

TEST_CASE("driver: a data folder behind the watermark starts from the watermark") {
  SoloHome home;
  REQUIRE(home.ledger().PutLocal("signer", node::EncodeSignerState({})).ok());
  // Signed up to height 3, precommit: the guard refuses everything up to there, so the solo
  // validator cannot commit heights 1-3 again; with the data folder's state it would at once.
  REQUIRE(node::WriteWatermark(home.watermark(), home.owner(), At(3, 0, 3)).ok());
  REQUIRE(home.StartDriver().ok());
  CHECK_FALSE(home.abstaining());
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  CHECK(home.ledger().height() == 0);
  home.StopDriver();
  CHECK(**node::ReadWatermark(home.watermark(), home.owner()) == At(3, 0, 3));
}

TEST_CASE("driver: a watermark behind the data folder is rewritten at start") {
  SoloHome home;
  REQUIRE(home.ledger().PutLocal("signer", node::EncodeSignerState(At(4, 1, 2))).ok());
  REQUIRE(node::WriteWatermark(home.watermark(), home.owner(), At(2, 0, 3)).ok());
  REQUIRE(home.StartDriver().ok());
  CHECK_FALSE(home.abstaining());
  home.StopDriver();
  CHECK(**node::ReadWatermark(home.watermark(), home.owner()) == At(4, 1, 2));
}

TEST_CASE("driver: without a watermark the validator abstains, even with a data folder state") {
  SoloHome home;
  REQUIRE(home.ledger().PutLocal("signer", node::EncodeSignerState({})).ok());
  REQUIRE(home.StartDriver().ok());
  CHECK(home.abstaining());
}

TEST_CASE("driver: another validator's watermark stops the start") {
  SoloHome home;
  REQUIRE(home.ledger().PutLocal("signer", node::EncodeSignerState({})).ok());
  REQUIRE(node::WriteWatermark(home.watermark(),
                               {home.owner().chain_id, KeyFor("validator-1").public_key()}, {})
              .ok());
  const core::Status st = home.StartDriver();
  CHECK(st.code() == core::StatusCode::kInvalidInput);
  CHECK(st.message().find("another validator's file") != std::string::npos);
}
