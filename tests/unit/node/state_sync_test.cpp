#include <doctest/doctest.h>

#include "core/codec.h"
#include "core/crypto/sha256.h"
#include "node/state_sync.h"
#include "proof_fixture.h"
#include "storage/snapshot.h"

using namespace hallmark;
using namespace hallmark::test;

namespace {

// Peers answered in the caller's thread: each peer is a StateSyncServer over a snapshot store,
// optionally lying (its answers pass through `tamper`).
struct FakePeer {
  core::PublicKey key;
  const storage::SnapshotStore* store = nullptr;
  std::function<void(pb::PeerMessage*)> tamper;
};

struct Net {
  std::vector<FakePeer> peers;
  node::StateSyncClient* client = nullptr;
  std::map<core::PublicKey, int> chunk_requests;

  bool Send(const core::PublicKey& to, const pb::PeerMessage& m) {
    for (FakePeer& p : peers) {
      if (p.key != to) continue;
      if (m.has_snapshot_chunk_request()) ++chunk_requests[to];
      node::StateSyncServer server(p.store,
                                   [&](const core::PublicKey&, const pb::PeerMessage& out) {
                                     pb::PeerMessage answer = out;
                                     if (p.tamper) p.tamper(&answer);
                                     client->OnMessage(p.key, answer);
                                     return true;
                                   });
      server.OnMessage(client_key, m);
      return true;
    }
    return false;
  }
  std::vector<core::PublicKey> Keys() const {
    std::vector<core::PublicKey> out;
    for (const FakePeer& p : peers) out.push_back(p.key);
    return out;
  }
  core::PublicKey client_key = KeyFor("joiner").public_key();
};

struct Source {
  ProvenChain chain;
  TempDir dir;
  std::unique_ptr<storage::SnapshotStore> store;
  Source() {
    std::vector<pb::Envelope> regs;
    for (int i = 0; i < 40; ++i) {
      pb::RecordPayload p = Payload("01/09506000134352/21/SYNC-" + std::to_string(i));
      p.mutable_register_()->add_attributes()->set_key("n");
      p.mutable_register_()->mutable_attributes(0)->set_value(std::to_string(i));
      regs.push_back(Sign("maison", p));
    }
    chain.CommitAll(regs);
    LiveItem(chain, "01/09506000134352/21/LIVE", 4);
    store = std::make_unique<storage::SnapshotStore>(dir.path() / "snapshots", 2);
    auto m = store->Take(chain.ledger(), 800);
    REQUIRE_MESSAGE(m.ok(), m.status().ToString());
    REQUIRE(m->chunk_count() >= 4);
  }
};

node::StateSyncOptions FastOptions() {
  node::StateSyncOptions o;
  o.manifest_wait = std::chrono::milliseconds(200);
  o.chunk_timeout = std::chrono::milliseconds(300);
  o.give_up_after = std::chrono::milliseconds(3'000);
  return o;
}

// The joining node: an empty ledger in its own folder and a StateSyncClient that reaches the
// peers of `net` (which it points back at the client).
struct Joiner {
  TempDir dir;
  std::unique_ptr<storage::Ledger> ledger;
  std::unique_ptr<node::StateSyncClient> client;

  Joiner(const Source& src, Net* net, node::StateSyncOptions options = FastOptions()) {
    auto opened = storage::Ledger::Open(dir.path(), src.chain.network(),
                                        storage::LedgerOptions{.sync = false});
    REQUIRE(opened.ok());
    ledger = std::move(*opened);
    client = std::make_unique<node::StateSyncClient>(
        ledger.get(),
        [net](const core::PublicKey& to, const pb::PeerMessage& m) { return net->Send(to, m); },
        [net] { return net->Keys(); }, std::move(options));
    net->client = client.get();
  }
};

}  // namespace

TEST_CASE("state sync: a peer sending bad chunks is dropped and the others supply them") {
  Source src;
  Net net;
  std::vector<std::string> logs;
  net.peers.push_back({KeyFor("peer-a").public_key(), src.store.get(), {}});
  // The liar offers the same manifest but flips a byte of every chunk it sends.
  net.peers.push_back({KeyFor("peer-b").public_key(), src.store.get(), [](pb::PeerMessage* m) {
                         if (m->has_snapshot_chunk_response() &&
                             !m->snapshot_chunk_response().chunk().empty()) {
                           m->mutable_snapshot_chunk_response()->mutable_chunk()->at(0) ^= 1;
                         }
                       }});
  net.peers.push_back({KeyFor("peer-c").public_key(), src.store.get(), {}});
  node::StateSyncOptions o = FastOptions();
  o.log = [&](std::string_view line) { logs.emplace_back(line); };
  Joiner dst(src, &net, o);
  auto height = dst.client->Run([] { return false; });
  REQUIRE_MESSAGE(height.ok(), height.status().ToString());
  CHECK(*height == src.chain.ledger().height());
  CHECK(dst.ledger->StateRoot() == src.chain.ledger().StateRoot());
  CHECK(net.chunk_requests[KeyFor("peer-b").public_key()] == 1);  // Asked once, then dropped.
  bool logged = false;
  for (const auto& l : logs) logged |= l.find("sent a bad chunk") != std::string::npos;
  CHECK(logged);
}

TEST_CASE("state sync: a forged higher manifest is ignored, the certified one installed") {
  Source src;
  Net net;
  net.peers.push_back({KeyFor("peer-a").public_key(), src.store.get(), {}});
  // The liar claims a snapshot 100 blocks higher whose certificate lacks a quorum.
  net.peers.push_back({KeyFor("peer-b").public_key(), src.store.get(), [](pb::PeerMessage* m) {
                         if (!m->has_snapshot_manifest_response()) return;
                         pb::SnapshotManifest man;
                         REQUIRE(man.ParseFromString(m->snapshot_manifest_response().manifest()));
                         man.set_height(man.height() + 100);
                         m->mutable_snapshot_manifest_response()->set_manifest(
                             core::SerializeDeterministic(man));
                       }});
  Joiner dst(src, &net);
  auto height = dst.client->Run([] { return false; });
  REQUIRE_MESSAGE(height.ok(), height.status().ToString());
  CHECK(*height == src.chain.ledger().height());
  CHECK(net.chunk_requests[KeyFor("peer-b").public_key()] == 0);
}

TEST_CASE("state sync: a snapshot whose state is not the certified one is never installed") {
  Source src;
  // Every peer offers a manifest whose chunk hashes were rewritten for chunks whose first
  // item's state was changed: the chunks pass their hashes, the root check refuses the install.
  const uint64_t h = src.store->Heights().back();
  auto manifest_bytes = src.store->NewestManifest();
  REQUIRE(manifest_bytes.ok());
  pb::SnapshotManifest forged;
  REQUIRE(forged.ParseFromString(**manifest_bytes));
  std::map<uint32_t, std::string> forged_chunks;
  for (uint32_t i = 0; i < forged.chunk_count(); ++i) {
    auto bytes = src.store->ReadChunk(h, i);
    REQUIRE(bytes.ok());
    pb::SnapshotChunk chunk;
    REQUIRE(chunk.ParseFromString(**bytes));
    if (i == 1) {
      pb::ItemState state;
      REQUIRE(state.ParseFromString(chunk.items(0).state()));
      state.mutable_attributes(0)->set_value("forged");
      chunk.mutable_items(0)->set_state(core::SerializeDeterministic(state));
    }
    forged_chunks[i] = core::SerializeDeterministic(chunk);
    forged.set_chunk_hashes(static_cast<int>(i),
                            std::string(core::Sha256Of(std::string_view(forged_chunks[i])).view()));
  }
  auto lie = [&](pb::PeerMessage* m) {
    if (m->has_snapshot_manifest_response()) {
      m->mutable_snapshot_manifest_response()->set_manifest(core::SerializeDeterministic(forged));
    }
    if (m->has_snapshot_chunk_response()) {
      m->mutable_snapshot_chunk_response()->set_chunk(
          forged_chunks[m->snapshot_chunk_response().index()]);
    }
  };
  Net net;
  net.peers.push_back({KeyFor("peer-a").public_key(), src.store.get(), lie});
  net.peers.push_back({KeyFor("peer-b").public_key(), src.store.get(), lie});
  Joiner dst(src, &net);
  auto height = dst.client->Run([] { return false; });
  CHECK(height.status().code() == core::StatusCode::kNotFound);
  // Nothing of it stays: an empty ledger, ready to catch up by blocks.
  CHECK_FALSE(dst.ledger->sync_pending());
  CHECK(dst.ledger->height() == 0);
  CHECK(dst.ledger->StateRoot() == core::SmtEmptyHash());
}
