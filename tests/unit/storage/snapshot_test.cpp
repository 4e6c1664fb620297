#include <doctest/doctest.h>
#include <leveldb/db.h>

#include <atomic>
#include <fstream>

#include "core/codec.h"
#include "core/crypto/sha256.h"
#include "core/proof_bundle.h"
#include "governance_fixture.h"
#include "proof_fixture.h"
#include "storage/keys.h"
#include "storage/snapshot.h"

using namespace hallmark;
using namespace hallmark::test;
using core::Hash256;

namespace {

constexpr std::string_view kItemPrefix = "01/09506000134352/21/SNAP-";

std::string ItemName(int i) {
  return std::string(kItemPrefix) + std::to_string(i);
}

// A chain of 12 items, some with several records, all certified; snapshots cut into small
// chunks so that there are several.
struct SnapshotChain {
  ProvenChain chain;
  std::vector<std::vector<pb::Envelope>> lives;
  SnapshotChain() {
    std::vector<pb::Envelope> regs;
    for (int i = 0; i < 10; ++i) {
      pb::RecordPayload reg = Payload(ItemName(i));
      reg.mutable_register_()->add_attributes()->set_key("n");
      reg.mutable_register_()->mutable_attributes(0)->set_value(std::to_string(i));
      regs.push_back(Sign("maison", reg));
    }
    chain.CommitAll(regs);
    lives.push_back(LiveItem(chain, ItemName(100), 5));
    lives.push_back(LiveItem(chain, ItemName(101), 3));
  }
};

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string ChunkPath(uint32_t i) {
  char name[32];
  std::snprintf(name, sizeof(name), "chunk-%06u.pb", i);
  return name;
}

struct Taken {
  TempDir dir;
  pb::SnapshotManifest manifest;
  std::vector<std::string> chunks;
};

std::unique_ptr<Taken> Take(storage::Ledger& ledger, size_t target = 600) {
  auto out = std::make_unique<Taken>();
  auto m = storage::TakeSnapshot(ledger, out->dir.path() / "snap", target);
  REQUIRE_MESSAGE(m.ok(), m.status().ToString());
  out->manifest = *m;
  for (uint32_t i = 0; i < m->chunk_count(); ++i) {
    out->chunks.push_back(ReadFile(out->dir.path() / "snap" / ChunkPath(i)));
  }
  return out;
}

std::unique_ptr<storage::Ledger> OpenAt(const std::filesystem::path& dir,
                                        const core::Network& net) {
  auto l = storage::Ledger::Open(dir, net, storage::LedgerOptions{.sync = false});
  REQUIRE_MESSAGE(l.ok(), l.status().ToString());
  return std::move(l).value();
}

// Every key of the store, with its value, for "nothing changed" checks.
std::map<std::string, std::string> Dump(const std::filesystem::path& dir) {
  leveldb::DB* db = nullptr;
  leveldb::Options o;
  REQUIRE(leveldb::DB::Open(o, dir.string(), &db).ok());
  std::map<std::string, std::string> out;
  std::unique_ptr<leveldb::Iterator> it(db->NewIterator(leveldb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next())
    out[it->key().ToString()] = it->value().ToString();
  it.reset();
  delete db;
  return out;
}

// A chunk re-encoded after `edit`, with the manifest's hash updated: what a lying peer that
// controls both can send.
std::string Reencode(pb::SnapshotManifest* m, uint32_t index, const std::string& bytes,
                     const std::function<void(pb::SnapshotChunk*)>& edit) {
  pb::SnapshotChunk chunk;
  REQUIRE(chunk.ParseFromString(bytes));
  edit(&chunk);
  std::string out = core::SerializeDeterministic(chunk);
  m->set_chunk_hashes(static_cast<int>(index),
                      std::string(core::Sha256Of(std::string_view(out)).view()));
  return out;
}

void CheckSameItems(storage::Ledger& a, storage::Ledger& b) {
  size_t n = 0;
  REQUIRE(a.ForEachItem([&](const Hash256& key, std::string_view bytes) {
             ++n;
             auto other = b.GetItem(key);
             REQUIRE(other.ok());
             REQUIRE(other->has_value());
             CHECK((*other)->bytes == bytes);
             auto ha = a.GetHistory(key);
             auto hb = b.GetHistory(key);
             REQUIRE(ha.ok());
             REQUIRE(hb.ok());
             REQUIRE(ha->size() == hb->size());
             for (size_t i = 0; i < ha->size(); ++i) {
               CHECK(core::SerializeDeterministic((*ha)[i]) ==
                     core::SerializeDeterministic((*hb)[i]));
             }
           }).ok());
  CHECK(n == 12);
}

}  // namespace

TEST_CASE("snapshot: round trip into an empty ledger, chunks in any order, then blocks continue") {
  SnapshotChain src;
  storage::Ledger& ledger = src.chain.ledger();
  auto taken = Take(ledger);
  CHECK(taken->manifest.chunk_count() >= 3);
  CHECK(taken->manifest.item_count() == 12);
  CHECK(taken->manifest.height() == ledger.height());

  TempDir dst_dir;
  auto dst = OpenAt(dst_dir.path(), src.chain.network());
  auto inst = storage::SnapshotInstaller::Begin(dst.get(), taken->manifest);
  REQUIRE_MESSAGE(inst.ok(), inst.status().ToString());
  CHECK(dst->sync_pending());
  for (uint32_t i = taken->manifest.chunk_count(); i-- > 0;) {
    core::Status st = (*inst)->AddChunk(i, taken->chunks[i]);
    REQUIRE_MESSAGE(st.ok(), st.ToString());
  }
  core::Status finished = (*inst)->Finish();
  REQUIRE_MESSAGE(finished.ok(), finished.ToString());
  CHECK_FALSE(dst->sync_pending());
  CHECK(dst->height() == ledger.height());
  CHECK(dst->head().block_hash() == ledger.head().block_hash());
  CHECK(dst->StateRoot() == ledger.StateRoot());
  CHECK(dst->first_height() == ledger.height() + 1);
  CheckSameItems(ledger, *dst);

  // Proofs of current items check against genesis alone.
  auto id = core::ParseItemId(ItemName(100));
  auto bundle = storage::BuildProofBundle(*dst, *id);
  REQUIRE_MESSAGE(bundle.ok(), bundle.status().ToString());
  auto verdict =
      core::VerifyProofBundle(src.chain.network(), core::SerializeDeterministic(*bundle));
  CHECK_MESSAGE(verdict.ok(), verdict.failure->message);
  CHECK(verdict.item.steps.size() == 5);

  // The listing index came along.
  storage::ItemListQuery q;
  q.limit = 100;
  auto page = dst->ListItems(q);
  REQUIRE(page.ok());
  CHECK(page->items.size() == 12);

  // Pre-snapshot blocks are not there; the next block validates and commits on top.
  auto old_block = dst->GetBlock(1);
  REQUIRE(old_block.ok());
  CHECK_FALSE(old_block->has_value());
  pb::RecordPayload next = Payload(ItemName(200));
  next.mutable_register_();
  src.chain.Commit({Sign("maison", next)});
  auto block = ledger.GetBlock(ledger.height());
  REQUIRE(block.ok());
  core::Status st = dst->CommitBlock(**block);
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  CHECK(dst->StateRoot() == ledger.StateRoot());

  // Reopening keeps all of it.
  dst.reset();
  dst = OpenAt(dst_dir.path(), src.chain.network());
  CHECK(dst->height() == ledger.height());
  CHECK(dst->first_height() == taken->manifest.height() + 1);
}

TEST_CASE("snapshot: a bad chunk is refused and changes nothing") {
  SnapshotChain src;
  auto taken = Take(src.chain.ledger());
  TempDir dst_dir;
  const core::Network& net = src.chain.network();
  auto dst = OpenAt(dst_dir.path(), net);
  auto inst = storage::SnapshotInstaller::Begin(dst.get(), taken->manifest);
  REQUIRE(inst.ok());
  const std::string good = taken->chunks[1];

  auto refused = [&](uint32_t index, const std::string& bytes, std::string_view why) {
    dst.reset();
    auto before = Dump(dst_dir.path());
    dst = OpenAt(dst_dir.path(), net);
    auto again = storage::SnapshotInstaller::Begin(dst.get(), taken->manifest);
    REQUIRE(again.ok());
    core::Status st = (*again)->AddChunk(index, bytes);
    INFO(why);
    CHECK(st.code() == core::StatusCode::kInvalidInput);
    INFO(why << ": " << st.message());
    CHECK_FALSE((*again)->HasChunk(index));
    dst.reset();
    CHECK(Dump(dst_dir.path()) == before);
    dst = OpenAt(dst_dir.path(), net);
  };

  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 0x01;
  refused(1, flipped, "a flipped bit");
  refused(1, good + "x", "a trailing byte");
  refused(1, "", "an empty chunk");
  refused(2, good, "another chunk's bytes");
  refused(taken->manifest.chunk_count(), good, "an index beyond the manifest");
  refused(1, std::string(storage::kSnapshotChunkMaxBytes + 1, 'a'), "an oversized chunk");

  // Installed once, refused the second time.
  {
    auto again = storage::SnapshotInstaller::Begin(dst.get(), taken->manifest);
    REQUIRE(again.ok());
    REQUIRE((*again)->AddChunk(1, good).ok());
    core::Status st = (*again)->AddChunk(1, good);
    CHECK(st.code() == core::StatusCode::kInvalidInput);
    CHECK(st.message().find("already installed") != std::string::npos);
  }
}

TEST_CASE("snapshot: chunks a lying peer re-hashed into its manifest are refused") {
  SnapshotChain src;
  auto taken = Take(src.chain.ledger());
  const core::Network& net = src.chain.network();

  struct Case {
    std::string name;
    uint32_t index;
    std::function<void(pb::SnapshotChunk*)> edit;
  };
  std::vector<Case> cases = {
      {"a record dropped from a history", 0,
       [](pb::SnapshotChunk* c) {
         for (auto& item : *c->mutable_items()) {
           if (item.history_size() > 1) {
             item.mutable_history()->RemoveLast();
             return;
           }
         }
         // No multi-record item in this chunk: drop the only record instead.
         c->mutable_items(0)->mutable_history()->RemoveLast();
       }},
      {"a record's envelope altered", 1,
       [](pb::SnapshotChunk* c) {
         c->mutable_items(0)->mutable_history(0)->mutable_envelope()->mutable_signature()->at(0) ^=
             1;
       }},
      {"items out of key order", 1,
       [](pb::SnapshotChunk* c) {
         if (c->items_size() < 2) {
           *c->add_items() = c->items(0);
         } else {
           c->mutable_items()->SwapElements(0, 1);
         }
       }},
      {"a history record dated after the snapshot", 1,
       [&](pb::SnapshotChunk* c) {
         c->mutable_items(0)->mutable_history(0)->set_height(taken->manifest.height() + 5);
       }},
      {"the chain-wide part outside chunk 0", 1,
       [](pb::SnapshotChunk* c) { c->mutable_meta()->add_evidence(); }},
      {"chunk 0 without the chain-wide part", 0, [](pb::SnapshotChunk* c) { c->clear_meta(); }},
      {"a chunk of another index", 1, [](pb::SnapshotChunk* c) { c->set_index(2); }},
      {"an item state that does not parse", 1,
       [](pb::SnapshotChunk* c) { c->mutable_items(0)->set_state("\xff\xff"); }},
  };
  for (const Case& k : cases) {
    CAPTURE(k.name);
    pb::SnapshotManifest m = taken->manifest;
    std::string bytes = Reencode(&m, k.index, taken->chunks[k.index], k.edit);
    TempDir dst_dir;
    auto dst = OpenAt(dst_dir.path(), net);
    auto inst = storage::SnapshotInstaller::Begin(dst.get(), m);
    REQUIRE(inst.ok());
    dst.reset();
    auto before = Dump(dst_dir.path());
    dst = OpenAt(dst_dir.path(), net);
    inst = storage::SnapshotInstaller::Begin(dst.get(), m);
    REQUIRE(inst.ok());
    core::Status st = (*inst)->AddChunk(k.index, bytes);
    CHECK(st.code() == core::StatusCode::kInvalidInput);
    INFO(k.name << ": " << st.message());
    dst.reset();
    CHECK(Dump(dst_dir.path()) == before);
  }
}

TEST_CASE("snapshot: a state that is not the certified one is refused at the end") {
  SnapshotChain src;
  auto taken = Take(src.chain.ledger());
  const core::Network& net = src.chain.network();
  // An attribute changed in an item's state: its history still chains to its latest record, so
  // only the rebuilt state root shows the lie.
  pb::SnapshotManifest m = taken->manifest;
  std::string bad = Reencode(&m, 1, taken->chunks[1], [](pb::SnapshotChunk* c) {
    pb::ItemState state;
    REQUIRE(state.ParseFromString(c->items(0).state()));
    state.add_attributes()->set_key("forged");
    state.mutable_attributes(state.attributes_size() - 1)->set_value("yes");
    c->mutable_items(0)->set_state(core::SerializeDeterministic(state));
  });
  TempDir dst_dir;
  auto dst = OpenAt(dst_dir.path(), net);
  auto inst = storage::SnapshotInstaller::Begin(dst.get(), m);
  REQUIRE(inst.ok());
  for (uint32_t i = 0; i < m.chunk_count(); ++i) {
    core::Status st = (*inst)->AddChunk(i, i == 1 ? bad : taken->chunks[i]);
    REQUIRE_MESSAGE(st.ok(), st.ToString());
  }
  core::Status st = (*inst)->Finish();
  CHECK(st.code() == core::StatusCode::kInvalidInput);
  CHECK(st.message().find("state root") != std::string::npos);
  CHECK(dst->height() == 0);
  CHECK(dst->sync_pending());
  // Abort leaves an empty ledger that takes the honest snapshot.
  REQUIRE((*inst)->Abort().ok());
  CHECK_FALSE(dst->sync_pending());
  CHECK(dst->height() == 0);
  auto honest = storage::SnapshotInstaller::Begin(dst.get(), taken->manifest);
  REQUIRE_MESSAGE(honest.ok(), honest.status().ToString());
  for (uint32_t i = 0; i < m.chunk_count(); ++i)
    REQUIRE((*honest)->AddChunk(i, taken->chunks[i]).ok());
  REQUIRE((*honest)->Finish().ok());
  CHECK(dst->StateRoot() == src.chain.ledger().StateRoot());

  // A missing item: the manifest's count and the root both disagree.
  pb::SnapshotManifest m2 = taken->manifest;
  std::string fewer = Reencode(&m2, 1, taken->chunks[1],
                               [](pb::SnapshotChunk* c) { c->mutable_items()->RemoveLast(); });
  TempDir dir2;
  auto dst2 = OpenAt(dir2.path(), net);
  auto inst2 = storage::SnapshotInstaller::Begin(dst2.get(), m2);
  REQUIRE(inst2.ok());
  for (uint32_t i = 0; i < m2.chunk_count(); ++i) {
    REQUIRE((*inst2)->AddChunk(i, i == 1 ? fewer : taken->chunks[i]).ok());
  }
  CHECK((*inst2)->Finish().code() == core::StatusCode::kInvalidInput);
  CHECK(dst2->height() == 0);
}

TEST_CASE("snapshot: a manifest that does not check out from genesis is refused, nothing written") {
  SnapshotChain src;
  auto taken = Take(src.chain.ledger());
  const core::Network& net = src.chain.network();
  std::vector<std::pair<std::string, std::function<void(pb::SnapshotManifest*)>>> cases = {
      {"a certificate of two validators (no quorum)",
       [](pb::SnapshotManifest* m) {
         m->mutable_certificate()->mutable_signatures()->RemoveLast();
       }},
      {"a header altered", [](pb::SnapshotManifest* m) { m->mutable_header()->back() ^= 1; }},
      {"a height that is not the header's",
       [](pb::SnapshotManifest* m) { m->set_height(m->height() + 1); }},
      {"another chain", [](pb::SnapshotManifest* m) { m->set_chain_id("other"); }},
      {"another genesis", [](pb::SnapshotManifest* m) { m->mutable_genesis_hash()->at(0) ^= 1; }},
      {"an unknown format", [](pb::SnapshotManifest* m) { m->set_format_version(2); }},
      {"a chunk hash missing",
       [](pb::SnapshotManifest* m) { m->mutable_chunk_hashes()->RemoveLast(); }},
      {"no chunks",
       [](pb::SnapshotManifest* m) {
         m->set_chunk_count(0);
         m->clear_chunk_hashes();
       }},
      {"a short chunk hash",
       [](pb::SnapshotManifest* m) { m->mutable_chunk_hashes(0)->pop_back(); }},
      {"the walk's network-state proof removed",
       [](pb::SnapshotManifest* m) { m->mutable_governance()->clear_network_state_proof(); }},
  };
  TempDir dst_dir;
  { auto dst = OpenAt(dst_dir.path(), net); }
  auto before = Dump(dst_dir.path());
  for (const auto& [name, edit] : cases) {
    CAPTURE(name);
    pb::SnapshotManifest m = taken->manifest;
    edit(&m);
    auto dst = OpenAt(dst_dir.path(), net);
    auto inst = storage::SnapshotInstaller::Begin(dst.get(), m);
    CHECK(inst.status().code() == core::StatusCode::kInvalidInput);
    INFO(name << ": " << inst.status().message());
    CHECK_FALSE(dst->sync_pending());
    dst.reset();
    CHECK(Dump(dst_dir.path()) == before);
  }
  // Bytes that are not a manifest.
  CHECK_FALSE(storage::ParseSnapshotManifest("\x0a\xff\xff\xff").ok());
  CHECK_FALSE(
      storage::ParseSnapshotManifest(std::string(storage::kSnapshotManifestMaxBytes + 1, 0)).ok());
  // A ledger that is not empty takes no snapshot.
  auto inst = storage::SnapshotInstaller::Begin(&src.chain.ledger(), taken->manifest);
  CHECK(inst.status().code() == core::StatusCode::kInvalidInput);
}

TEST_CASE("snapshot: a Finish stopped part-way writes no head, and a later Finish completes") {
  SnapshotChain src;
  auto taken = Take(src.chain.ledger());
  const core::Network& net = src.chain.network();
  TempDir dst_dir;
  {
    auto dst = OpenAt(dst_dir.path(), net);
    auto inst = storage::SnapshotInstaller::Begin(dst.get(), taken->manifest);
    REQUIRE(inst.ok());
    for (uint32_t i = 0; i < taken->manifest.chunk_count(); ++i) {
      REQUIRE((*inst)->AddChunk(i, taken->chunks[i]).ok());
    }
    core::Status st = (*inst)->Finish([] { return true; });
    CHECK(st.code() == core::StatusCode::kCancelled);
    CHECK(dst->sync_pending());
    CHECK(dst->height() == 0);
    // The node stops here.
  }
  auto dst = OpenAt(dst_dir.path(), net);
  CHECK(dst->sync_pending());
  auto inst = storage::SnapshotInstaller::Begin(dst.get(), taken->manifest);
  REQUIRE(inst.ok());
  CHECK((*inst)->complete());
  REQUIRE((*inst)->Finish([] { return false; }).ok());
  CHECK_FALSE(dst->sync_pending());
  CHECK(dst->height() == taken->manifest.height());
  CHECK(dst->StateRoot() == src.chain.ledger().StateRoot());
  CheckSameItems(src.chain.ledger(), *dst);
}

TEST_CASE("snapshot: an interrupted install resumes with the chunks it had") {
  SnapshotChain src;
  auto taken = Take(src.chain.ledger());
  const core::Network& net = src.chain.network();
  TempDir dst_dir;
  const uint32_t n = taken->manifest.chunk_count();
  {
    auto dst = OpenAt(dst_dir.path(), net);
    auto inst = storage::SnapshotInstaller::Begin(dst.get(), taken->manifest);
    REQUIRE(inst.ok());
    for (uint32_t i = 0; i < n; i += 2) REQUIRE((*inst)->AddChunk(i, taken->chunks[i]).ok());
    // The process dies here.
  }
  auto dst = OpenAt(dst_dir.path(), net);
  CHECK(dst->sync_pending());
  CHECK(dst->height() == 0);
  auto pending = storage::SnapshotInstaller::Pending(*dst);
  REQUIRE(pending.ok());
  REQUIRE(pending->has_value());
  CHECK((*pending)->height() == taken->manifest.height());
  auto inst = storage::SnapshotInstaller::Begin(dst.get(), **pending);
  REQUIRE(inst.ok());
  for (uint32_t i = 0; i < n; ++i) CHECK((*inst)->HasChunk(i) == (i % 2 == 0));
  for (uint32_t i : (*inst)->MissingChunks()) REQUIRE((*inst)->AddChunk(i, taken->chunks[i]).ok());
  REQUIRE((*inst)->Finish().ok());
  CHECK(dst->StateRoot() == src.chain.ledger().StateRoot());
  CheckSameItems(src.chain.ledger(), *dst);

  // An interrupted install of another snapshot is wiped and started again.
  TempDir other_dir;
  {
    auto other = OpenAt(other_dir.path(), net);
    auto first = storage::SnapshotInstaller::Begin(other.get(), taken->manifest);
    REQUIRE(first.ok());
    REQUIRE((*first)->AddChunk(0, taken->chunks[0]).ok());
  }
  pb::RecordPayload more = Payload(ItemName(300));
  more.mutable_register_();
  src.chain.Commit({Sign("maison", more)});
  auto newer = Take(src.chain.ledger());
  auto other = OpenAt(other_dir.path(), net);
  auto second = storage::SnapshotInstaller::Begin(other.get(), newer->manifest);
  REQUIRE(second.ok());
  CHECK((*second)->MissingChunks().size() == newer->manifest.chunk_count());
  for (uint32_t i = 0; i < newer->manifest.chunk_count(); ++i) {
    REQUIRE((*second)->AddChunk(i, newer->chunks[i]).ok());
  }
  REQUIRE((*second)->Finish().ok());
  CHECK(other->StateRoot() == src.chain.ledger().StateRoot());
}

TEST_CASE("snapshot store: keeps the newest two, reads chunks back") {
  SnapshotChain src;
  TempDir root;
  storage::SnapshotStore store(root.path() / "snapshots", 2);
  for (int i = 0; i < 3; ++i) {
    auto m = store.Take(src.chain.ledger(), 600);
    REQUIRE_MESSAGE(m.ok(), m.status().ToString());
    pb::RecordPayload p = Payload(ItemName(400 + i));
    p.mutable_register_();
    src.chain.Commit({Sign("maison", p)});
  }
  auto heights = store.Heights();
  REQUIRE(heights.size() == 2);
  CHECK(heights.back() == src.chain.ledger().height() - 1);
  auto newest = store.NewestManifest();
  REQUIRE(newest.ok());
  REQUIRE(newest->has_value());
  auto m = storage::ParseSnapshotManifest(**newest);
  REQUIRE(m.ok());
  CHECK(m->height() == heights.back());
  auto chunk = store.ReadChunk(m->height(), 0);
  REQUIRE(chunk.ok());
  REQUIRE(chunk->has_value());
  CHECK(core::Sha256Of(std::string_view(**chunk)).view() == m->chunk_hashes(0));
  auto none = store.ReadChunk(m->height(), m->chunk_count());
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
}

TEST_CASE("snapshot: a take stopped part-way is cancelled and leaves no folder") {
  SnapshotChain src;
  TempDir root;
  const std::filesystem::path dir = root.path() / "snap";
  int asked = 0;
  // Stops after the 5th of the 12 items: some chunks are written by then (600-byte target).
  auto m = storage::TakeSnapshot(src.chain.ledger(), dir, 600, [&] { return ++asked > 5; });
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().code() == core::StatusCode::kCancelled);
  CHECK(asked == 6);
  CHECK_FALSE(std::filesystem::exists(dir));
  // The same folder can be taken into afterwards.
  auto again = storage::TakeSnapshot(src.chain.ledger(), dir, 600, [] { return false; });
  REQUIRE_MESSAGE(again.ok(), again.status().ToString());
  CHECK(again->item_count() == 12);
}

TEST_CASE(
    "snapshot store: a cancelled take is not listed, the kept ones stay, a later take works") {
  SnapshotChain src;
  TempDir root;
  storage::SnapshotStore store(root.path() / "snapshots", 2);
  auto first = store.Take(src.chain.ledger(), 600);
  REQUIRE_MESSAGE(first.ok(), first.status().ToString());
  pb::RecordPayload p = Payload(ItemName(500));
  p.mutable_register_();
  src.chain.Commit({Sign("maison", p)});

  std::atomic<bool> stop{false};
  int items = 0;
  auto cancelled = store.Take(src.chain.ledger(), 600, [&] {
    if (++items == 4) stop.store(true);  // As Node::Stop sets its flag while a take runs.
    return stop.load();
  });
  REQUIRE_FALSE(cancelled.ok());
  CHECK(cancelled.status().code() == core::StatusCode::kCancelled);
  CHECK(store.Heights() == std::vector<uint64_t>{first->height()});
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(root.path() / "snapshots")) {
    names.push_back(e.path().filename().string());
  }
  CHECK(names == std::vector<std::string>{std::to_string(first->height())});
  auto newest = store.NewestManifest();
  REQUIRE(newest.ok());
  REQUIRE(newest->has_value());
  CHECK(storage::ParseSnapshotManifest(**newest)->height() == first->height());

  auto later = store.Take(src.chain.ledger(), 600);
  REQUIRE_MESSAGE(later.ok(), later.status().ToString());
  CHECK(later->height() == src.chain.ledger().height());
  CHECK(later->item_count() == 13);
  CHECK(store.Heights() == std::vector<uint64_t>{first->height(), later->height()});
  // The later snapshot is whole: it installs into an empty ledger with the source's root.
  TempDir other_dir;
  auto other = OpenAt(other_dir.path(), src.chain.ledger().network());
  auto installer = storage::SnapshotInstaller::Begin(other.get(), *later);
  REQUIRE(installer.ok());
  for (uint32_t i = 0; i < later->chunk_count(); ++i) {
    auto chunk = store.ReadChunk(later->height(), i);
    REQUIRE(chunk.ok());
    REQUIRE(chunk->has_value());
    REQUIRE((*installer)->AddChunk(i, **chunk).ok());
  }
  REQUIRE((*installer)->Finish().ok());
  CHECK(other->StateRoot() == src.chain.ledger().StateRoot());
}

TEST_CASE("prune: old blocks go, proofs of current items still check out") {
  SnapshotChain src;
  storage::Ledger& ledger = src.chain.ledger();
  const uint64_t head = ledger.height();
  CHECK(ledger.first_height() == 1);
  CHECK(ledger.Prune(head + 1).code() == core::StatusCode::kInvalidInput);
  REQUIRE(ledger.Prune(head - 2).ok());
  CHECK(ledger.first_height() == head - 2);
  for (uint64_t h = 1; h < head - 2; ++h) {
    auto b = ledger.GetBlock(h);
    REQUIRE(b.ok());
    CHECK_FALSE(b->has_value());
  }
  auto kept = ledger.GetBlock(head - 2);
  REQUIRE(kept.ok());
  CHECK(kept->has_value());
  for (const std::string& item : {ItemName(0), ItemName(100)}) {
    auto verdict = core::VerifyProofBundle(src.chain.network(), src.chain.BundleBytes(item));
    CHECK_MESSAGE(verdict.ok(), verdict.failure->message);
  }
  // It survives reopening, and a snapshot of a pruned ledger installs.
  src.chain.Reopen();
  CHECK(src.chain.ledger().first_height() == head - 2);
  auto taken = Take(src.chain.ledger());
  TempDir dst_dir;
  auto dst = OpenAt(dst_dir.path(), src.chain.network());
  auto inst = storage::SnapshotInstaller::Begin(dst.get(), taken->manifest);
  REQUIRE(inst.ok());
  for (uint32_t i = 0; i < taken->manifest.chunk_count(); ++i) {
    REQUIRE((*inst)->AddChunk(i, taken->chunks[i]).ok());
  }
  REQUIRE((*inst)->Finish().ok());
  CheckSameItems(src.chain.ledger(), *dst);
}

TEST_CASE(
    "snapshot: after validator-set changes, the manifest checks from genesis and blocks go on") {
  ProvenChain chain;
  auto life = LiveItem(chain, ItemName(1), 3);
  const std::vector<std::string> five = {"atelier", "resale", "authlab", "repairco"};
  auto pass = [&](const pb::GovernanceChange& change, const std::vector<std::string>& approvers) {
    pb::Envelope proposal = ProposeEnv("maison", change, chain.ledger().height() + 100);
    chain.Commit({proposal});
    std::vector<pb::Envelope> approvals;
    for (const auto& a : approvers) approvals.push_back(ApproveEnv(a, RecordId(proposal)));
    chain.Commit(approvals);
  };
  const uint64_t delay = chain.network().governance().validator_change_delay_heights();
  pass(AddOrgChange("nouveau", pb::BRAND, {"7654321"}), {"atelier", "resale", "authlab"});
  pass(AddValidatorChange("v4", "nouveau", "validator-4", 1), five);
  for (uint64_t i = 0; i < delay; ++i) chain.Commit({});
  chain.SetSigners({0, 1, 2, 4});
  pb::GovernanceChange remove;
  remove.mutable_remove_validator()->set_consensus_key(std::string(PubFor("validator-3").view()));
  pass(remove, five);
  for (uint64_t i = 0; i < delay; ++i) chain.Commit({});
  chain.SetSigners({0, 2, 4});
  chain.Commit({});
  // Pruning keeps the blocks of governance records: the walk still reads them.
  REQUIRE(chain.ledger().Prune(chain.ledger().height()).ok());

  auto taken = Take(chain.ledger());
  TempDir dst_dir;
  auto dst = OpenAt(dst_dir.path(), chain.network());
  auto inst = storage::SnapshotInstaller::Begin(dst.get(), taken->manifest);
  REQUIRE_MESSAGE(inst.ok(), inst.status().ToString());
  for (uint32_t i = 0; i < taken->manifest.chunk_count(); ++i) {
    REQUIRE((*inst)->AddChunk(i, taken->chunks[i]).ok());
  }
  core::Status st = (*inst)->Finish();
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  CHECK(dst->network_state()->GovernedBytes() == chain.ledger().network_state()->GovernedBytes());
  auto bundle = storage::BuildProofBundle(*dst, *core::ParseItemId(ItemName(1)));
  REQUIRE_MESSAGE(bundle.ok(), bundle.status().ToString());
  auto verdict = core::VerifyProofBundle(chain.network(), core::SerializeDeterministic(*bundle));
  CHECK_MESSAGE(verdict.ok(), verdict.failure->message);
  CHECK(verdict.item.walk_changes == 3);

  // A certificate by the old set no longer checks: the set of the snapshot's height is the new one.
  pb::SnapshotManifest old_set = taken->manifest;
  *old_set.mutable_certificate() =
      core::ToProto(CertifyBlock(chain.network().chain_id(), old_set.height(),
                                 core::Sha256Of(std::string_view(old_set.header())), {0, 1, 3}));
  TempDir other;
  auto fresh = OpenAt(other.path(), chain.network());
  CHECK(storage::SnapshotInstaller::Begin(fresh.get(), old_set).status().code() ==
        core::StatusCode::kInvalidInput);

  // The next block, certified by the new set, commits on the installed ledger.
  chain.Commit({});
  auto block = chain.ledger().GetBlock(chain.ledger().height());
  REQUIRE(block.ok());
  REQUIRE(block->has_value());
  st = dst->CommitBlock(**block);
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  CHECK(dst->StateRoot() == chain.ledger().StateRoot());
}
