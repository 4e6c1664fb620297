#include <doctest/doctest.h>
#include <leveldb/db.h>
#include <sys/resource.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/codec.h"
#include "core/merkle.h"
#include "fixtures.h"
#include "storage/keys.h"
#include "storage/ledger.h"
#include "storage/snapshot.h"
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

pb::RecordPayload RegisterPayload(const std::string& serial) {
  auto p = Payload("01/00614141000012/21/" + serial);
  auto* a = p.mutable_register_()->add_attributes();
  a->set_key("colour");
  a->set_value("noir");
  return p;
}

pb::Envelope RegisterEnv(const std::string& serial) {
  return Sign("maison", RegisterPayload(serial));
}

pb::Envelope TransferEnv(const std::string& signer, const std::string& serial,
                         const std::string& prev, pb::Holder to) {
  auto p = Payload("01/00614141000012/21/" + serial, prev);
  *p.mutable_transfer()->mutable_to() = std::move(to);
  return Sign(signer, p);
}

std::vector<pb::Envelope> Recs(std::initializer_list<pb::Envelope> list) {
  return list;
}

Hash256 ItemKey(const std::string& serial) {
  return core::ParseItemId("01/00614141000012/21/" + serial)->Key();
}

}  // namespace

TEST_CASE("ledger: a new store starts at height 0 with the empty state root") {
  TempDir dir;
  auto net = TestNetwork();
  auto ledger = OpenLedger(dir, net);
  CHECK(ledger->head().height() == 0);
  CHECK(ledger->head().state_root() == ledger->StateRoot().view());
  CHECK(ledger->head().genesis_hash() == net.hash().view());
}

TEST_CASE("ledger: the proposer drops invalid records with reasons and commits the rest") {
  TempDir dir;
  auto net = TestNetwork();
  auto ledger = OpenLedger(dir, net);
  auto reg = RegisterEnv("A1");
  std::vector<pb::Envelope> candidates = {
      reg,
      Sign("resale", Payload("01/00614141000012/21/A2")),         // No body.
      RegisterEnv("A1"),                                          // Same record again.
      Sign("atelier", RegisterPayload("A3")),                     // Another brand's GTIN.
      TransferEnv("maison", "A1", Id(reg), OrgHolder("resale")),  // Chained inside the block.
  };
  auto built = ledger->BuildBlock(candidates, kTestTimeMs, kProposer);
  REQUIRE(built.ok());
  CHECK(built->block.records_size() == 2);
  REQUIRE(built->dropped.size() == 3);
  CHECK(built->dropped[0].index == 1);
  CHECK(built->dropped[0].rejection.reason == core::RejectReason::kMalformed);
  CHECK(built->dropped[1].index == 2);
  CHECK(built->dropped[2].rejection.reason == core::RejectReason::kNotAuthorized);
  CHECK(built->header.height() == 1);
  CHECK(built->header.record_count() == 2);

  REQUIRE(ledger->Commit(*built).ok());
  CHECK(ledger->head().height() == 1);
  CHECK(ledger->head().block_hash() == built->hash.view());

  auto item = ledger->GetItem(ItemKey("A1"));
  REQUIRE(item.ok());
  REQUIRE(item->has_value());
  CHECK((*item)->state.custodian().organization() == "resale");
  CHECK((*item)->state.record_count() == 2);

  auto history = ledger->GetHistory(ItemKey("A1"));
  REQUIRE(history.ok());
  REQUIRE(history->size() == 2);
  CHECK((*history)[0].envelope().payload() == reg.payload());
  CHECK((*history)[0].height() == 1);
  CHECK((*history)[1].position() == 1);

  auto block = ledger->GetBlock(1);
  REQUIRE(block.ok());
  REQUIRE(block->has_value());
  CHECK((*block)->SerializeAsString() == built->block.SerializeAsString());
  CHECK(*ledger->GetBlockHeight(built->hash).value() == 1);
  CHECK_FALSE(ledger->GetBlock(2)->has_value());
  CHECK_FALSE(ledger->GetItem(ItemKey("nope"))->has_value());
}

TEST_CASE("ledger: the same blocks give the same roots and hashes on another machine") {
  TempDir a_dir, b_dir;
  auto net = TestNetwork();
  auto a = OpenLedger(a_dir, net);
  auto b = OpenLedger(b_dir, net);
  std::string prev;
  for (int h = 0; h < 5; ++h) {
    std::vector<pb::Envelope> recs;
    for (int i = 0; i < 20; ++i)
      recs.push_back(RegisterEnv("D" + std::to_string(h) + "-" + std::to_string(i)));
    auto built = a->BuildBlock(recs, kTestTimeMs + h, kProposer);
    REQUIRE(built.ok());
    REQUIRE(built->dropped.empty());
    REQUIRE(a->Commit(*built).ok());
    auto st = b->CommitBlock(built->block);
    INFO(st.ToString());
    REQUIRE(st.ok());
    CHECK(a->head().block_hash() == b->head().block_hash());
    CHECK(a->StateRoot() == b->StateRoot());
  }
}

TEST_CASE("ledger: a block with any invalid part is rejected whole and changes nothing") {
  TempDir a_dir, b_dir;
  auto net = TestNetwork();
  auto a = OpenLedger(a_dir, net);
  auto b = OpenLedger(b_dir, net);
  auto reg = RegisterEnv("E1");
  auto built = a->BuildBlock(Recs({reg, RegisterEnv("E2")}), kTestTimeMs, kProposer);
  REQUIRE(built.ok());
  const pb::Block good = built->block;
  pb::BlockHeader header = built->header;

  auto with_header = [&](const pb::BlockHeader& h) {
    pb::Block blk = good;
    blk.set_header(core::SerializeDeterministic(h));
    return blk;
  };
  std::vector<std::pair<std::string, pb::Block>> bad;
  {
    pb::Block blk = good;
    blk.mutable_records(0)->set_signature(std::string(64, '\x01'));
    bad.emplace_back("bad signature", blk);
  }
  {
    pb::Block blk = good;
    blk.mutable_records()->SwapElements(0, 1);
    bad.emplace_back("records reordered", blk);
  }
  {
    pb::Block blk = good;
    *blk.add_records() = reg;
    bad.emplace_back("record count differs", blk);
  }
  {
    pb::Block blk = good;
    *blk.mutable_records(1) = TransferEnv("resale", "E1", Id(reg), OrgHolder("resale"));
    bad.emplace_back("unauthorised record", blk);
  }
  {
    pb::BlockHeader h = header;
    h.set_state_root(std::string(32, '\x07'));
    bad.emplace_back("state root", with_header(h));
  }
  {
    pb::BlockHeader h = header;
    h.set_records_root(std::string(32, '\x07'));
    bad.emplace_back("records root", with_header(h));
  }
  {
    pb::BlockHeader h = header;
    h.set_height(2);
    bad.emplace_back("height", with_header(h));
  }
  {
    pb::BlockHeader h = header;
    h.set_prev_hash(std::string(32, '\x01'));
    bad.emplace_back("prev hash", with_header(h));
  }
  {
    pb::BlockHeader h = header;
    h.set_time_ms(net.genesis().genesis_time_ms());
    bad.emplace_back("time", with_header(h));
  }
  {
    pb::BlockHeader h = header;
    h.set_chain_id("other");
    bad.emplace_back("chain id", with_header(h));
  }
  {
    pb::BlockHeader h = header;
    h.set_proposer(std::string(PubFor("stranger").view()));
    bad.emplace_back("proposer", with_header(h));
  }
  {
    pb::Block blk = good;
    blk.set_header("\xff\xff garbage");
    bad.emplace_back("garbage header", blk);
  }
  for (const auto& [what, blk] : bad) {
    CAPTURE(what);
    auto st = b->CommitBlock(blk);
    CHECK(st.code() == core::StatusCode::kInvalidInput);
    MESSAGE(what << ": " << st.message());
    CHECK(b->head().height() == 0);
    CHECK_FALSE(b->GetItem(ItemKey("E1"))->has_value());
  }
  // The untouched block still commits, and gives the proposer's state root.
  CHECK(b->CommitBlock(good).ok());
  CHECK(b->StateRoot().view() == header.state_root());
}

TEST_CASE("ledger: a prepared block is refused once the head has moved") {
  TempDir dir;
  auto net = TestNetwork();
  auto ledger = OpenLedger(dir, net);
  auto first = ledger->BuildBlock(Recs({RegisterEnv("F1")}), kTestTimeMs, kProposer);
  auto second = ledger->BuildBlock(Recs({RegisterEnv("F2")}), kTestTimeMs, kProposer);
  REQUIRE(ledger->Commit(*first).ok());
  CHECK(ledger->Commit(*second).code() == core::StatusCode::kInvalidInput);
}

TEST_CASE("ledger: block limits cap what the proposer takes") {
  TempDir dir;
  auto g = TestGenesis();
  g.mutable_consensus()->set_max_block_records(3);
  auto net = std::move(core::Network::FromProto(g).value());
  auto ledger = OpenLedger(dir, net);
  std::vector<pb::Envelope> recs;
  for (int i = 0; i < 5; ++i) recs.push_back(RegisterEnv("L" + std::to_string(i)));
  auto built = ledger->BuildBlock(recs, kTestTimeMs, kProposer);
  REQUIRE(built.ok());
  CHECK(built->block.records_size() == 3);
}

TEST_CASE("ledger: reopening gives the same head, state and proofs") {
  TempDir dir;
  auto net = TestNetwork();
  Hash256 root;
  std::string hash;
  {
    auto ledger = OpenLedger(dir, net);
    for (int h = 0; h < 3; ++h) {
      auto built = ledger->BuildBlock(Recs({RegisterEnv("R" + std::to_string(h))}), kTestTimeMs + h,
                                      kProposer);
      REQUIRE(ledger->Commit(*built).ok());
    }
    root = ledger->StateRoot();
    hash = ledger->head().block_hash();
  }
  auto ledger = OpenLedger(dir, net);
  CHECK(ledger->head().height() == 3);
  CHECK(ledger->head().block_hash() == hash);
  CHECK(ledger->StateRoot() == root);
  auto item = ledger->GetItem(ItemKey("R1"));
  REQUIRE(item->has_value());
  auto proof = ledger->ProveItem(ItemKey("R1"));
  REQUIRE(proof.ok());
  CHECK(core::VerifySmtProof(root, ItemKey("R1"), core::Sha256Of(std::string_view((*item)->bytes)),
                             *proof));
  auto absent = ledger->ProveItem(ItemKey("never"));
  REQUIRE(absent.ok());
  CHECK(core::VerifySmtProof(root, ItemKey("never"), std::nullopt, *absent));
}

TEST_CASE("ledger: a data folder of another network is refused") {
  TempDir dir;
  auto net = TestNetwork();
  { OpenLedger(dir, net); }
  auto g = TestGenesis();
  g.set_chain_id("another-net");
  auto other = std::move(core::Network::FromProto(g).value());
  auto l = storage::Ledger::Open(dir.path(), other);
  REQUIRE_FALSE(l.ok());
  CHECK(l.status().message().find("another network") != std::string::npos);
}

TEST_CASE("ledger: a head that disagrees with the stored block or tree is reported as corruption") {
  TempDir dir;
  auto net = TestNetwork();
  {
    auto ledger = OpenLedger(dir, net);
    auto built = ledger->BuildBlock(Recs({RegisterEnv("C1")}), kTestTimeMs, kProposer);
    REQUIRE(ledger->Commit(*built).ok());
  }
  {
    leveldb::DB* raw = nullptr;
    REQUIRE(leveldb::DB::Open(leveldb::Options(), dir.str(), &raw).ok());
    std::unique_ptr<leveldb::DB> db(raw);
    std::string bytes;
    REQUIRE(db->Get({}, "M/head", &bytes).ok());
    pb::ChainHead head;
    REQUIRE(head.ParseFromString(bytes));
    SUBCASE("state root") {
      head.set_state_root(std::string(32, '\x09'));
    }
    SUBCASE("block hash") {
      head.set_block_hash(std::string(32, '\x09'));
    }
    SUBCASE("missing block") {
      head.set_height(7);
    }
    REQUIRE(db->Put({}, "M/head", head.SerializeAsString()).ok());
  }
  auto l = storage::Ledger::Open(dir.path(), net);
  REQUIRE_FALSE(l.ok());
  MESSAGE(l.status().ToString());
  CHECK(l.status().code() == core::StatusCode::kCorruption);
}

TEST_CASE("ledger: an item's history is read by point look-ups up to its record count") {
  TempDir dir;
  auto net = TestNetwork();
  const Hash256 key = ItemKey("H1");
  {
    auto ledger = OpenLedger(dir, net);
    auto reg = RegisterEnv("H1");
    auto built =
        ledger->BuildBlock(Recs({reg, TransferEnv("maison", "H1", Id(reg), OrgHolder("resale"))}),
                           kTestTimeMs, kProposer);
    REQUIRE(built->block.records_size() == 2);
    REQUIRE(ledger->Commit(*built).ok());
    // A caller that read the state before a later record holds a count below the stored one:
    // it gets the history of that state.
    auto first = ledger->GetHistory(key, 1);
    REQUIRE(first.ok());
    REQUIRE(first->size() == 1);
    CHECK((*first)[0].envelope().payload() == reg.payload());
    CHECK(ledger->GetHistory(key, 0)->empty());
    CHECK(ledger->GetHistory(ItemKey("never"))->empty());
    auto both = ledger->GetHistory(key);
    REQUIRE(both.ok());
    CHECK(both->size() == 2);
    // A count the store cannot hold names entries that were never written.
    auto past = ledger->GetHistory(key, 3);
    REQUIRE_FALSE(past.ok());
    CHECK(past.status().code() == core::StatusCode::kCorruption);
    CHECK(past.status().message().find("gap at 2") != std::string::npos);
    CHECK(ledger->GetHistory(key, uint64_t{1} << 40).status().code() ==
          core::StatusCode::kCorruption);
  }
  {
    leveldb::DB* raw = nullptr;
    REQUIRE(leveldb::DB::Open(leveldb::Options(), dir.str(), &raw).ok());
    std::unique_ptr<leveldb::DB> db(raw);
    SUBCASE("an entry deleted") {
      REQUIRE(db->Delete({}, storage::keys::History(key, 0)).ok());
    }
    SUBCASE("an entry that is not a record id") {
      REQUIRE(db->Put({}, storage::keys::History(key, 1), "short").ok());
    }
    SUBCASE("an entry naming a record that is not stored") {
      REQUIRE(db->Put({}, storage::keys::History(key, 1), std::string(32, '\x07')).ok());
    }
  }
  auto ledger = OpenLedger(dir, net);
  auto history = ledger->GetHistory(key);
  REQUIRE_FALSE(history.ok());
  MESSAGE(history.status().ToString());
  CHECK(history.status().code() == core::StatusCode::kCorruption);
}

// The nice values of this process's threads, from /proc/self/task/*/stat (field 19).
std::vector<int> ThreadNiceValues() {
  std::vector<int> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Fields after the command name in parentheses, which may hold spaces.
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));
    std::string field;
    for (int i = 3; i <= 19 && fields >> field; ++i) {
      if (i == 19) out.push_back(std::stoi(field));
    }
  }
  return out;
}

TEST_CASE("ledger: LevelDB's flushes run on a thread at the background nice value") {
  TempDir dir;
  auto net = TestNetwork();
  storage::LedgerOptions options;
  options.sync = false;
  options.write_buffer_bytes = 64 << 10;  // A flush after a few blocks.
  options.background_nice = 7;
  auto opened = storage::Ledger::Open(dir.path(), net, options);
  REQUIRE(opened.ok());
  auto ledger = std::move(opened).value();
  for (int h = 0; h < 40; ++h) {
    std::vector<pb::Envelope> recs;
    for (int i = 0; i < 20; ++i) recs.push_back(RegisterEnv("N" + std::to_string(h * 20 + i)));
    auto built = ledger->BuildBlock(recs, kTestTimeMs + h, kProposer);
    REQUIRE(built.ok());
    REQUIRE(ledger->Commit(*built).ok());
  }
  // The flushes happened (tables exist), and the thread that ran them is the only one lowered.
  size_t tables = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir.path())) {
    if (f.path().extension() == ".ldb") ++tables;
  }
  CHECK(tables > 1);
  // Relative to the nice value the process runs at (0 unless started under `nice`).
  const int base = getpriority(PRIO_PROCESS, 0);
  const int lowered = std::min(19, base + 7);
  REQUIRE(lowered != base);
  const std::vector<int> nice = ThreadNiceValues();
  CHECK(std::count(nice.begin(), nice.end(), lowered) == 1);
  CHECK(std::count(nice.begin(), nice.end(), base) >= 1);  // This thread, untouched.
}

TEST_CASE("ledger: an unparseable head is reported as corruption") {
  TempDir dir;
  auto net = TestNetwork();
  { OpenLedger(dir, net); }
  {
    leveldb::DB* raw = nullptr;
    REQUIRE(leveldb::DB::Open(leveldb::Options(), dir.str(), &raw).ok());
    std::unique_ptr<leveldb::DB> db(raw);
    REQUIRE(db->Put({}, "M/head", "\xff\xff\xff").ok());
  }
  auto l = storage::Ledger::Open(dir.path(), net);
  REQUIRE_FALSE(l.ok());
  CHECK(l.status().code() == core::StatusCode::kCorruption);
}

TEST_CASE("ledger: GetHeader reads just the header of a stored block, and refuses a bad one") {
  TempDir dir;
  auto net = TestNetwork();
  auto ledger = OpenLedger(dir, net);
  std::vector<pb::Envelope> recs;
  for (int i = 0; i < 50; ++i) recs.push_back(RegisterEnv("H" + std::to_string(i)));
  auto built = ledger->BuildBlock(recs, kTestTimeMs + 1000, kProposer);
  REQUIRE(built.ok());
  REQUIRE(ledger->Commit(*built).ok());
  auto header = ledger->GetHeader(1);
  REQUIRE(header.ok());
  REQUIRE(header->has_value());
  CHECK(core::SerializeDeterministic(**header) == core::SerializeDeterministic(built->header));
  CHECK((*header)->record_count() == 50);
  auto none = ledger->GetHeader(2);
  REQUIRE(none.ok());
  CHECK(!none->has_value());
}

TEST_CASE(
    "ledger: GetBlockTimeMs gives each block's header time, cached, and nothing past the head") {
  TempDir dir;
  auto net = TestNetwork();
  auto ledger = OpenLedger(dir, net);
  for (uint64_t h = 1; h <= 3; ++h) {
    const std::vector<pb::Envelope> recs = {RegisterEnv("T" + std::to_string(h))};
    auto built = ledger->BuildBlock(recs, kTestTimeMs + 1000 * h + 7 * h, kProposer);
    REQUIRE(built.ok());
    REQUIRE(ledger->Commit(*built).ok());
  }
  for (int pass = 0; pass < 2; ++pass) {  // The second pass is answered from the cache.
    for (uint64_t h = 1; h <= 3; ++h) {
      auto header = ledger->GetHeader(h);
      REQUIRE(header.ok());
      REQUIRE(header->has_value());
      auto t = ledger->GetBlockTimeMs(h);
      REQUIRE(t.ok());
      REQUIRE(t->has_value());
      CHECK(**t == (*header)->time_ms());
      CHECK(**t == kTestTimeMs + 1000 * h + 7 * h);
    }
  }
  for (uint64_t h : {uint64_t{0}, uint64_t{4}, uint64_t{4} + (1 << 16)}) {
    auto t = ledger->GetBlockTimeMs(h);
    REQUIRE(t.ok());
    CHECK(!t->has_value());
  }
  // A height that shares height 4's slot (the cache is direct-mapped) is not taken for it.
  auto far = ledger->GetBlockTimeMs(1 + (1 << 16));
  REQUIRE(far.ok());
  CHECK(!far->has_value());
  auto again = ledger->GetBlockTimeMs(1);
  REQUIRE(again.ok());
  REQUIRE(again->has_value());
  CHECK(**again == kTestTimeMs + 1007);
  // A wiped ledger (a state sync starting over) has no block times left, cached or not.
  REQUIRE(storage::WipeLedger(ledger.get()).ok());
  for (uint64_t h = 1; h <= 3; ++h) {
    auto t = ledger->GetBlockTimeMs(h);
    REQUIRE(t.ok());
    CHECK(!t->has_value());
  }
}
