// The item listing index (Ledger::ListItems, keys `X` and `U`): its entries after each kind of
// record, paging, the since filter, the rebuild of a store written before it, and agreement
// with a full scan of the item states after reopening.
#include <doctest/doctest.h>
#include <leveldb/db.h>
#include <leveldb/write_batch.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "core/codec.h"
#include "core/item_id.h"
#include "fixtures.h"
#include "storage/keys.h"
#include "storage/ledger.h"
#include "test_util.h"

using namespace hallmark;
using namespace hallmark::test;
using core::Hash256;

namespace {

const Hash256 kProposer = PubFor("validator-0");

std::string MaisonId(const std::string& serial) {
  return "01/00614141000012/21/" + serial;
}
std::string AtelierId(const std::string& serial) {
  return "01/01234567000015/21/" + serial;
}
Hash256 KeyOf(const std::string& id) {
  return core::ParseItemId(id)->Key();
}

std::unique_ptr<storage::Ledger> Open(const std::filesystem::path& dir, const core::Network& net) {
  auto l = storage::Ledger::Open(dir, net, storage::LedgerOptions{.sync = false});
  INFO(l.status().ToString());
  REQUIRE(l.ok());
  return std::move(l).value();
}

// Commits blocks one second apart and keeps each item's latest record id for `prev`.
class Chain {
 public:
  Chain(storage::Ledger* ledger, uint64_t time_ms) : ledger_(ledger), time_ms_(time_ms) {}

  pb::Envelope Register(const std::string& id, const std::string& signer = "") {
    auto p = Payload(id);
    p.mutable_register_();
    return Sign(signer.empty() ? BrandOf(id) : signer, p);
  }
  pb::Envelope Transfer(const std::string& signer, const std::string& id, const std::string& to) {
    auto p = Payload(id, prev_.at(id));
    *p.mutable_transfer()->mutable_to() = OrgHolder(to);
    return Sign(signer, p);
  }
  pb::Envelope Flag(const std::string& signer, const std::string& id, pb::FlagKind kind) {
    auto p = Payload(id, prev_.at(id));
    p.mutable_flag()->set_kind(kind);
    return Sign(signer, p);
  }
  pb::Envelope Clear(const std::string& signer, const std::string& id, pb::FlagKind kind) {
    auto p = Payload(id, prev_.at(id));
    p.mutable_clear_flag()->set_kind(kind);
    return Sign(signer, p);
  }
  pb::Envelope Decommission(const std::string& signer, const std::string& id) {
    auto p = Payload(id, prev_.at(id));
    p.mutable_decommission()->set_kind(pb::DESTROYED);
    p.mutable_decommission()->set_reason("water damage");
    return Sign(signer, p);
  }

  // Commits one block of `records` (each must be valid); returns its time.
  uint64_t Commit(const std::vector<pb::Envelope>& records) {
    time_ms_ += 1000;
    auto built = ledger_->BuildBlock(records, time_ms_, kProposer);
    REQUIRE(built.ok());
    INFO((built->dropped.empty() ? std::string() : built->dropped[0].rejection.ToString()));
    REQUIRE(built->dropped.empty());
    REQUIRE(ledger_->Commit(*built).ok());
    for (const auto& env : records) {
      pb::RecordPayload p;
      REQUIRE(p.ParseFromString(env.payload()));
      prev_[p.item_id()] = Id(env);
    }
    return time_ms_;
  }
  uint64_t time_ms() const { return time_ms_; }

  // Adopts the items of a store opened from elsewhere.
  void Know(const std::string& id, const std::string& prev) { prev_[id] = prev; }

 private:
  static std::string BrandOf(const std::string& id) {
    return id.find("0614141") != std::string::npos ? "maison" : "atelier";
  }
  storage::Ledger* ledger_;
  uint64_t time_ms_;
  std::map<std::string, std::string> prev_;
};

struct Q {
  std::string brand{};
  pb::FlagKind flag = pb::FLAG_UNSPECIFIED;
  uint64_t since_ms = 0;
  size_t limit = 100;
  operator storage::ItemListQuery() const {  // NOLINT: implicit by design, for brevity.
    storage::ItemListQuery q;
    q.brand = brand;
    q.flag = flag;
    q.since_ms = since_ms;
    q.limit = limit;
    return q;
  }
};

storage::ItemListPage List(const storage::Ledger& ledger, storage::ItemListQuery q) {
  auto page = ledger.ListItems(q);
  INFO(page.status().ToString());
  REQUIRE(page.ok());
  return std::move(page).value();
}

std::vector<std::string> Ids(const storage::ItemListPage& page) {
  std::vector<std::string> out;
  for (const auto& i : page.items) out.push_back(i.state.item_id());
  return out;
}
std::set<std::string> IdSet(const storage::ItemListPage& page) {
  std::set<std::string> out;
  for (const auto& i : page.items) out.insert(i.state.item_id());
  return out;
}

// Every page of a query, following the cursor.
std::vector<storage::ListedItem> All(const storage::Ledger& ledger, storage::ItemListQuery q) {
  std::vector<storage::ListedItem> out;
  for (int pages = 0; pages < 10'000; ++pages) {
    storage::ItemListPage page = List(ledger, q);
    for (auto& i : page.items) out.push_back(std::move(i));
    if (!page.next) return out;
    REQUIRE(page.items.size() == q.limit);
    q.after = page.next;
  }
  FAIL("the cursor never ended");
  return out;
}

// What the listing must hold, from a full scan of the item states and the block headers:
// (updated time, item key) newest first, filtered as the query says.
std::vector<std::pair<uint64_t, Hash256>> Expected(const storage::Ledger& ledger,
                                                   const std::string& brand, pb::FlagKind flag) {
  std::vector<std::pair<uint64_t, Hash256>> out;
  REQUIRE(ledger
              .ForEachItem([&](const Hash256& key, std::string_view bytes) {
                pb::ItemState s;
                REQUIRE(s.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
                if (!brand.empty() && s.brand() != brand) return;
                if (flag != pb::FLAG_UNSPECIFIED &&
                    std::none_of(s.flags().begin(), s.flags().end(),
                                 [&](const pb::ActiveFlag& f) { return f.kind() == flag; })) {
                  return;
                }
                auto header = ledger.GetHeader(s.updated_height());
                REQUIRE(header.ok());
                REQUIRE(header->has_value());
                out.emplace_back((*header)->time_ms(), key);
              })
              .ok());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  return out;
}

// The index answers every scope exactly as a full scan does, paging in small pages.
void CheckAgainstScan(const storage::Ledger& ledger) {
  std::vector<std::string> brands = {"", "maison", "atelier", "resale"};
  std::vector<pb::FlagKind> flags = {pb::FLAG_UNSPECIFIED, pb::STOLEN, pb::LOST,
                                     pb::COUNTERFEIT_SUSPECTED, pb::RECALLED};
  for (const std::string& brand : brands) {
    for (pb::FlagKind flag : flags) {
      CAPTURE(brand);
      CAPTURE(flag);
      storage::ItemListQuery q;
      q.brand = brand;
      q.flag = flag;
      q.limit = 3;
      auto listed = All(ledger, q);
      auto expected = Expected(ledger, brand, flag);
      REQUIRE(listed.size() == expected.size());
      for (size_t i = 0; i < listed.size(); ++i) {
        CHECK(listed[i].updated_time_ms == expected[i].first);
        CHECK(listed[i].item_key == expected[i].second);
        CHECK(KeyOf(listed[i].state.item_id()) == listed[i].item_key);
      }
    }
  }
}

// Every raw key under a prefix, read with LevelDB itself (the ledger must be closed).
std::set<std::string> RawKeys(const std::filesystem::path& dir, const std::string& prefix) {
  leveldb::DB* raw = nullptr;
  leveldb::Options o;
  REQUIRE(leveldb::DB::Open(o, dir.string(), &raw).ok());
  std::unique_ptr<leveldb::DB> db(raw);
  std::set<std::string> out;
  std::unique_ptr<leveldb::Iterator> it(db->NewIterator(leveldb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    out.insert(it->key().ToString());
  }
  return out;
}

}  // namespace

TEST_CASE("listing index: register, transfer, flag, clear and decommission move the entries") {
  TempDir dir;
  auto net = TestNetwork();
  auto ledger = Open(dir.path(), net);
  Chain chain(ledger.get(), kTestTimeMs);
  const std::string a = MaisonId("A"), b = MaisonId("B"), c = AtelierId("C");

  const uint64_t t1 = chain.Commit({chain.Register(a), chain.Register(b), chain.Register(c)});
  {
    auto all = List(*ledger, Q{});
    REQUIRE(all.items.size() == 3);
    CHECK(all.height == 1);
    CHECK(all.head_time_ms == t1);
    CHECK_FALSE(all.next);
    for (const auto& i : all.items) {
      CHECK(i.updated_time_ms == t1);
      CHECK(i.state.updated_height() == 1);
    }
    // Within one block, by item key.
    CHECK(all.items[0].item_key < all.items[1].item_key);
    CHECK(all.items[1].item_key < all.items[2].item_key);
    auto maison = List(*ledger, Q{.brand = "maison"});
    CHECK(IdSet(maison) == std::set<std::string>{a, b});
    CHECK(Ids(List(*ledger, Q{.brand = "atelier"})) == std::vector<std::string>{c});
    CHECK(List(*ledger, Q{.flag = pb::STOLEN}).items.empty());
    // A brand with no items, and one no organisation has: empty, not an error.
    CHECK(List(*ledger, Q{.brand = "resale"}).items.empty());
    CHECK(List(*ledger, Q{.brand = "nobody"}).items.empty());
    CHECK(List(*ledger, Q{.brand = std::string(300, 'x')}).items.empty());
  }

  const uint64_t t2 = chain.Commit({chain.Flag("maison", a, pb::STOLEN)});
  {
    auto all = List(*ledger, Q{});
    REQUIRE(all.items.size() == 3);
    CHECK(all.items[0].state.item_id() == a);
    CHECK(all.items[0].updated_time_ms == t2);
    CHECK(Ids(List(*ledger, Q{.flag = pb::STOLEN})) == std::vector<std::string>{a});
    CHECK(Ids(List(*ledger, Q{.brand = "maison", .flag = pb::STOLEN})) ==
          std::vector<std::string>{a});
    CHECK(List(*ledger, Q{.brand = "atelier", .flag = pb::STOLEN}).items.empty());
    CHECK(List(*ledger, Q{.flag = pb::LOST}).items.empty());
    // The brand's listing holds A once, at its new time.
    CHECK(Ids(List(*ledger, Q{.brand = "maison"})) == std::vector<std::string>{a, b});
  }

  const uint64_t t3 = chain.Commit({chain.Transfer("maison", b, "resale")});
  {
    auto maison = List(*ledger, Q{.brand = "maison"});
    CHECK(Ids(maison) == std::vector<std::string>{b, a});
    CHECK(maison.items[0].updated_time_ms == t3);
    CHECK(maison.items[0].state.custodian().organization() == "resale");
    // The brand is the registering brand, not the custodian.
    CHECK(List(*ledger, Q{.brand = "resale"}).items.empty());
  }

  chain.Commit(
      {chain.Clear("maison", a, pb::STOLEN), chain.Flag("resale", c, pb::COUNTERFEIT_SUSPECTED)});
  {
    CHECK(List(*ledger, Q{.flag = pb::STOLEN}).items.empty());
    CHECK(List(*ledger, Q{.brand = "maison", .flag = pb::STOLEN}).items.empty());
    CHECK(Ids(List(*ledger, Q{.brand = "atelier", .flag = pb::COUNTERFEIT_SUSPECTED})) ==
          std::vector<std::string>{c});
    CHECK(List(*ledger, Q{.brand = "maison", .flag = pb::COUNTERFEIT_SUSPECTED}).items.empty());
  }

  const uint64_t t5 = chain.Commit({chain.Decommission("atelier", c)});
  {
    auto all = List(*ledger, Q{});
    REQUIRE(all.items.size() == 3);
    CHECK(all.items[0].state.item_id() == c);
    CHECK(all.items[0].updated_time_ms == t5);
    CHECK(all.items[0].state.status() == pb::DECOMMISSIONED);
    // Still carrying its flag: still listed under it, at its new time.
    auto flagged = List(*ledger, Q{.flag = pb::COUNTERFEIT_SUSPECTED});
    REQUIRE(flagged.items.size() == 1);
    CHECK(flagged.items[0].updated_time_ms == t5);
  }
  CheckAgainstScan(*ledger);

  // Exactly the entries of the current states are stored: nothing stale was left behind.
  ledger.reset();
  // 3 items × (all + brand) + C's flag × (flag + brand and flag).
  CHECK(RawKeys(dir.path(), "X").size() == 3 * 2 + 2);
  CHECK(RawKeys(dir.path(), "U").size() == 3);
}

TEST_CASE("listing index: pages follow the cursor, and commits meanwhile neither repeat nor skip") {
  TempDir dir;
  auto net = TestNetwork();
  auto ledger = Open(dir.path(), net);
  Chain chain(ledger.get(), kTestTimeMs);
  std::vector<std::string> ids;
  for (int block = 0; block < 5; ++block) {
    std::vector<pb::Envelope> recs;
    for (int i = 0; i < 5; ++i) {
      ids.push_back(MaisonId("P" + std::to_string(block) + "-" + std::to_string(i)));
      recs.push_back(chain.Register(ids.back()));
    }
    chain.Commit(recs);
  }
  const auto before = Expected(*ledger, "maison", pb::FLAG_UNSPECIFIED);
  REQUIRE(before.size() == 25);

  storage::ItemListQuery q = Q{.brand = "maison", .limit = 7};
  auto first = List(*ledger, q);
  REQUIRE(first.items.size() == 7);
  REQUIRE(first.next);
  CHECK(first.next->item_key == first.items.back().item_key);
  CHECK(first.next->time_ms == first.items.back().updated_time_ms);

  // New items and a change to an item not yet seen (it moves to the front) and to one seen.
  const std::string unseen = core::ParseItemId(ids[0])->Canonical();  // In the oldest block.
  const std::string seen = first.items[2].state.item_id();
  chain.Commit({chain.Register(MaisonId("NEW-1")), chain.Flag("maison", unseen, pb::LOST),
                chain.Flag("maison", seen, pb::STOLEN)});

  std::vector<Hash256> rest;
  q.after = first.next;
  for (;;) {
    auto page = List(*ledger, q);
    for (const auto& i : page.items) rest.push_back(i.item_key);
    if (!page.next) break;
    q.after = page.next;
  }
  // The items after the cursor that did not change, in their old order; the changed and new
  // ones are at the front of a fresh listing.
  std::vector<Hash256> expected;
  for (size_t i = 7; i < before.size(); ++i) {
    if (before[i].second != KeyOf(unseen)) expected.push_back(before[i].second);
  }
  CHECK(rest == expected);
  auto fresh = List(*ledger, Q{.brand = "maison", .limit = 3});
  CHECK(IdSet(fresh) == std::set<std::string>{MaisonId("NEW-1"), unseen, seen});

  // A cursor whose item changed since still resumes at its place.
  storage::ItemListQuery from_seen = Q{.brand = "maison", .limit = 100};
  from_seen.after = storage::ItemListCursor{first.items[2].updated_time_ms, KeyOf(seen)};
  auto resumed = List(*ledger, from_seen);
  REQUIRE_FALSE(resumed.items.empty());
  CHECK(resumed.items[0].item_key == first.items[3].item_key);

  // A cursor past the end gives an empty last page.
  storage::ItemListQuery past = Q{.limit = 10};
  past.after = storage::ItemListCursor{0, Hash256()};
  auto empty = List(*ledger, past);
  CHECK(empty.items.empty());
  CHECK_FALSE(empty.next);
}

TEST_CASE("listing index: since keeps the items changed at or after a block time") {
  TempDir dir;
  auto net = TestNetwork();
  auto ledger = Open(dir.path(), net);
  Chain chain(ledger.get(), kTestTimeMs);
  std::vector<uint64_t> times;
  for (int block = 0; block < 4; ++block) {
    times.push_back(chain.Commit({chain.Register(MaisonId("S" + std::to_string(block))),
                                  chain.Register(AtelierId("S" + std::to_string(block)))}));
  }
  CHECK(List(*ledger, Q{.since_ms = times[2]}).items.size() == 4);
  CHECK(List(*ledger, Q{.since_ms = times[2] - 1}).items.size() == 4);
  CHECK(List(*ledger, Q{.since_ms = times[2] + 1}).items.size() == 2);
  CHECK(List(*ledger, Q{.since_ms = times[3] + 1}).items.empty());
  CHECK(Ids(List(*ledger, Q{.brand = "atelier", .since_ms = times[1]})) ==
        std::vector<std::string>{AtelierId("S3"), AtelierId("S2"), AtelierId("S1")});
  // With pages: the page that reaches `since` is the last.
  auto page = List(*ledger, Q{.since_ms = times[2], .limit = 2});
  REQUIRE(page.next);
  storage::ItemListQuery q = Q{.since_ms = times[2], .limit = 2};
  q.after = page.next;
  auto last = List(*ledger, q);
  CHECK(last.items.size() == 2);
  CHECK_FALSE(last.next);
  for (const auto& i : last.items) CHECK(i.updated_time_ms == times[2]);
}

TEST_CASE("listing index: a store written before the index gets it built once when opened") {
  // tests/fixtures/pre_governance_ledger/README.md says how it was written.
  TempDir dir;
  const std::filesystem::path src =
      std::filesystem::path(HALLMARK_SOURCE_DIR) / "tests/fixtures/pre_governance_ledger";
  for (const char* name : {"CURRENT", "MANIFEST-000002", "000003.log"}) {
    std::filesystem::copy_file(src / name, dir.path() / name);
  }
  REQUIRE(RawKeys(dir.path(), "X").empty());
  REQUIRE(RawKeys(dir.path(), "M/list-index").empty());
  auto net = TestNetwork();
  auto ledger = Open(dir.path(), net);
  CHECK(ledger->StateRoot().Hex() ==
        "d5b22837251c4361bb442e3e72d55b67feb309ffef1018d96578274cd3baa95b");
  auto all = List(*ledger, Q{});
  REQUIRE(all.items.size() == 3);
  for (int i = 0; i < 3; ++i) {
    // Block h registered PG-(h-1) at kTestTimeMs + 1000 × h; newest first.
    const uint64_t h = 3 - static_cast<uint64_t>(i);
    CHECK(all.items[i].state.item_id() == MaisonId("PG-" + std::to_string(h - 1)));
    CHECK(all.items[i].state.updated_height() == h);
    CHECK(all.items[i].updated_time_ms == kTestTimeMs + 1000 * h);
  }
  CheckAgainstScan(*ledger);

  // Commits on top keep it current.
  Chain chain(ledger.get(), kTestTimeMs + 3000);
  const std::string pg0 = MaisonId("PG-0");
  chain.Know(pg0, std::string(all.items[2].state.last_record()));
  chain.Commit({chain.Flag("maison", pg0, pb::STOLEN)});
  CHECK(Ids(List(*ledger, Q{.flag = pb::STOLEN})) == std::vector<std::string>{pg0});
  CHECK(Ids(List(*ledger, Q{})).front() == pg0);
  CheckAgainstScan(*ledger);
  ledger.reset();
  // Built once: the marker is written, and opening again finds the same entries.
  const auto keys = RawKeys(dir.path(), "X");
  CHECK(RawKeys(dir.path(), "M/list-index").size() == 1);
  ledger = Open(dir.path(), net);
  ledger.reset();
  CHECK(RawKeys(dir.path(), "X") == keys);
}

TEST_CASE("listing index: another index version is rebuilt, dropping what it held") {
  TempDir dir;
  auto net = TestNetwork();
  {
    auto ledger = Open(dir.path(), net);
    Chain chain(ledger.get(), kTestTimeMs);
    chain.Commit({chain.Register(MaisonId("V1")), chain.Register(AtelierId("V2"))});
  }
  const auto good = RawKeys(dir.path(), "X");
  {
    leveldb::DB* raw = nullptr;
    REQUIRE(leveldb::DB::Open(leveldb::Options(), dir.str(), &raw).ok());
    std::unique_ptr<leveldb::DB> db(raw);
    leveldb::WriteBatch batch;
    batch.Put(storage::keys::ListIndexVersion(), "0");
    // A stale entry of a version that no longer exists, and one entry gone.
    batch.Put(storage::keys::ListEntry(storage::keys::ListScope("maison", pb::LOST), 5,
                                       KeyOf(MaisonId("V1"))),
              std::string(8, '\0'));
    batch.Delete(*good.begin());
    REQUIRE(db->Write(leveldb::WriteOptions(), &batch).ok());
  }
  auto ledger = Open(dir.path(), net);
  CHECK(List(*ledger, Q{.flag = pb::LOST}).items.empty());
  CheckAgainstScan(*ledger);
  ledger.reset();
  CHECK(RawKeys(dir.path(), "X") == good);
}

TEST_CASE("listing index: after many blocks and a reopen it agrees with a full scan") {
  TempDir dir;
  auto net = TestNetwork();
  std::mt19937 rng(20261203);  // Fixed seed.
  std::vector<std::string> items;
  std::map<std::string, std::set<pb::FlagKind>> flags;
  uint64_t time_ms = kTestTimeMs;
  std::map<std::string, std::string> prevs;
  for (int round = 0; round < 3; ++round) {
    auto ledger = Open(dir.path(), net);
    Chain chain(ledger.get(), time_ms);
    for (const auto& [id, prev] : prevs) chain.Know(id, prev);
    for (int block = 0; block < 8; ++block) {
      std::vector<pb::Envelope> recs;
      std::set<std::string> touched;
      for (int n = 0; n < 6; ++n) {
        const int what = static_cast<int>(rng() % 3);
        if (what == 0 || items.empty()) {
          const std::string id =
              (rng() % 2 ? MaisonId("R") : AtelierId("R")) + std::to_string(items.size());
          items.push_back(id);
          touched.insert(id);
          recs.push_back(chain.Register(id));
          continue;
        }
        const std::string& id = items[rng() % items.size()];
        if (!touched.insert(id).second) continue;  // One record per item per block: prev.
        const std::string brand = id.find("0614141") != std::string::npos ? "maison" : "atelier";
        const auto kind = static_cast<pb::FlagKind>(1 + rng() % 4);
        if (flags[id].count(kind)) {
          recs.push_back(chain.Clear(brand, id, kind));
          flags[id].erase(kind);
        } else {
          recs.push_back(chain.Flag(brand, id, kind));
          flags[id].insert(kind);
        }
      }
      chain.Commit(recs);
    }
    time_ms = chain.time_ms();
    CheckAgainstScan(*ledger);
    for (const std::string& id : items) {
      auto s = ledger->GetItem(KeyOf(id));
      REQUIRE(s.ok());
      REQUIRE(s->has_value());
      prevs[id] = (*s)->state.last_record();
    }
    ledger.reset();
    // Reopened: the same answers, with no rebuild needed (the marker is there).
    REQUIRE(RawKeys(dir.path(), "M/list-index").size() == 1);
    auto again = Open(dir.path(), net);
    CheckAgainstScan(*again);
  }
}
