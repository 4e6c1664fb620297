#include "node/state_sync.h"

#include <algorithm>
#include <thread>
#include <unordered_map>

#include "core/codec.h"
#include "core/crypto/sha256.h"

namespace hallmark::node {

using core::Result;
using core::Status;

StateSyncServer::StateSyncServer(const storage::SnapshotStore* store, PeerSend send)
    : store_(store), send_(std::move(send)) {}

bool StateSyncServer::OnMessage(const core::PublicKey& from, const pb::PeerMessage& message) {
  switch (message.body_case()) {
    case pb::PeerMessage::kSnapshotManifestRequest: {
      pb::PeerMessage out;
      pb::SnapshotManifestResponse* resp = out.mutable_snapshot_manifest_response();
      if (store_) {
        auto bytes = store_->NewestManifest();
        if (bytes.ok() && bytes->has_value()) resp->set_manifest(std::move(**bytes));
      }
      send_(from, out);
      return true;
    }
    case pb::PeerMessage::kSnapshotChunkRequest: {
      const pb::SnapshotChunkRequest& req = message.snapshot_chunk_request();
      pb::PeerMessage out;
      pb::SnapshotChunkResponse* resp = out.mutable_snapshot_chunk_response();
      resp->set_height(req.height());
      resp->set_index(req.index());
      if (store_) {
        auto bytes = store_->ReadChunk(req.height(), req.index());
        if (bytes.ok() && bytes->has_value()) resp->set_chunk(std::move(**bytes));
      }
      send_(from, out);
      return true;
    }
    case pb::PeerMessage::kHello:
    case pb::PeerMessage::kConsensus:
    case pb::PeerMessage::kRecords:
    case pb::PeerMessage::kBlockRequest:
    case pb::PeerMessage::kBlockResponse:
    case pb::PeerMessage::kStatus:
    case pb::PeerMessage::kEvidence:
    case pb::PeerMessage::kSnapshotManifestResponse:
    case pb::PeerMessage::kSnapshotChunkResponse:
    case pb::PeerMessage::BODY_NOT_SET:
      return false;
  }
  return false;
}

StateSyncClient::StateSyncClient(storage::Ledger* ledger, PeerSend send, PeerList peers,
                                 StateSyncOptions options)
    : ledger_(ledger),
      send_(std::move(send)),
      peers_(std::move(peers)),
      options_(std::move(options)) {}

void StateSyncClient::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

bool StateSyncClient::OnMessage(const core::PublicKey& from, const pb::PeerMessage& message) {
  if (message.body_case() != pb::PeerMessage::kSnapshotManifestResponse &&
      message.body_case() != pb::PeerMessage::kSnapshotChunkResponse) {
    return false;
  }
  {
    std::lock_guard lock(mu_);
    // Bounded: a peer answers only what was asked, but a hostile one may send unasked.
    if (inbox_.size() >= 256) inbox_.pop_front();
    inbox_.emplace_back(from, message);
  }
  cv_.notify_all();
  return true;
}

std::optional<StateSyncClient::Offer> StateSyncClient::Discover(
    const std::function<bool()>& stopping) {
  std::vector<core::PublicKey> asked;
  {
    std::lock_guard lock(mu_);
    inbox_.clear();
    for (const core::PublicKey& p : peers_()) {
      if (!banned_.contains(p)) asked.push_back(p);
    }
  }
  if (asked.empty()) return std::nullopt;
  pb::PeerMessage req;
  req.mutable_snapshot_manifest_request();
  for (const core::PublicKey& p : asked) send_(p, req);

  std::map<core::PublicKey, std::string> answers;
  const auto deadline = std::chrono::steady_clock::now() + options_.manifest_wait;
  while (answers.size() < asked.size() && std::chrono::steady_clock::now() < deadline &&
         !stopping()) {
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() +
                                                std::chrono::milliseconds(100)));
    while (!inbox_.empty()) {
      auto [from, msg] = std::move(inbox_.front());
      inbox_.pop_front();
      if (msg.body_case() != pb::PeerMessage::kSnapshotManifestResponse) continue;
      if (std::find(asked.begin(), asked.end(), from) == asked.end()) continue;
      answers[from] = std::move(*msg.mutable_snapshot_manifest_response()->mutable_manifest());
    }
  }

  // One check per distinct manifest; the peers offering it are its sources.
  std::unordered_map<core::Hash256, Offer> offers;
  std::set<core::Hash256> refused;
  for (auto& [peer, bytes] : answers) {
    if (bytes.empty()) continue;
    const core::Hash256 id = core::Sha256Of(std::string_view(bytes));
    if (auto it = offers.find(id); it != offers.end()) {
      it->second.peers.insert(peer);
      continue;
    }
    if (refused.contains(id)) {
      std::lock_guard lock(mu_);
      banned_.insert(peer);
      continue;
    }
    auto manifest = storage::ParseSnapshotManifest(bytes);
    Status st = manifest.ok()
                    ? storage::VerifySnapshotManifest(ledger_->network(), *manifest).status()
                    : manifest.status();
    if (!st.ok()) {
      Log("state sync: peer " + peer.Hex().substr(0, 16) +
          " offers a snapshot that does not check " + "out from genesis (" + st.message() +
          "); it is asked no more");
      refused.insert(id);
      std::lock_guard lock(mu_);
      banned_.insert(peer);
      continue;
    }
    Offer offer;
    offer.manifest = std::move(manifest).value();
    offer.peers.insert(peer);
    offers.emplace(id, std::move(offer));
  }
  std::optional<Offer> best;
  for (auto& [id, offer] : offers) {
    if (!best || offer.manifest.height() > best->manifest.height() ||
        (offer.manifest.height() == best->manifest.height() &&
         offer.peers.size() > best->peers.size())) {
      best = offer;
    }
  }
  return best;
}

bool StateSyncClient::FetchChunks(storage::SnapshotInstaller* installer, Offer* offer,
                                  const std::function<bool()>& stopping) {
  const uint64_t height = offer->manifest.height();
  std::deque<uint32_t> missing;
  for (uint32_t i : installer->MissingChunks()) missing.push_back(i);
  struct InFlight {
    core::PublicKey peer;
    std::chrono::steady_clock::time_point sent;
  };
  std::map<uint32_t, InFlight> in_flight;
  size_t cursor = 0;
  size_t installed = 0;
  const size_t total = offer->manifest.chunk_count();
  auto last_log = std::chrono::steady_clock::now();
  while (!missing.empty() || !in_flight.empty()) {
    if (stopping()) return false;
    std::vector<core::PublicKey> sources;
    {
      std::lock_guard lock(mu_);
      for (const core::PublicKey& p : offer->peers) {
        if (!banned_.contains(p)) sources.push_back(p);
      }
    }
    if (sources.empty()) {
      Log("state sync: no peer is left to supply the snapshot at height " + std::to_string(height));
      return false;
    }
    while (in_flight.size() < std::max<size_t>(options_.parallel_chunks, 1) && !missing.empty()) {
      const uint32_t index = missing.front();
      missing.pop_front();
      const core::PublicKey& peer = sources[cursor++ % sources.size()];
      pb::PeerMessage req;
      req.mutable_snapshot_chunk_request()->set_height(height);
      req.mutable_snapshot_chunk_request()->set_index(index);
      send_(peer, req);
      in_flight[index] = InFlight{peer, std::chrono::steady_clock::now()};
    }
    std::deque<std::pair<core::PublicKey, pb::PeerMessage>> got;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return !inbox_.empty(); });
      got.swap(inbox_);
    }
    for (auto& [from, msg] : got) {
      if (msg.body_case() != pb::PeerMessage::kSnapshotChunkResponse) continue;
      const pb::SnapshotChunkResponse& resp = msg.snapshot_chunk_response();
      auto it = in_flight.find(resp.index());
      if (resp.height() != height || it == in_flight.end() || it->second.peer != from) continue;
      in_flight.erase(it);
      if (resp.chunk().empty()) {
        // The peer no longer holds this snapshot (it took newer ones): ask the others.
        offer->peers.erase(from);
        missing.push_front(resp.index());
        continue;
      }
      Status st = installer->AddChunk(resp.index(), resp.chunk());
      if (st.ok()) {
        ++installed;
        continue;
      }
      if (st.code() != core::StatusCode::kInvalidInput) {
        Log("state sync: writing chunk " + std::to_string(resp.index()) + ": " + st.ToString());
        return false;
      }
      Log("state sync: peer " + from.Hex().substr(0, 16) + " sent a bad chunk (" + st.message() +
          "); it is asked no more and another peer is asked");
      {
        std::lock_guard lock(mu_);
        banned_.insert(from);
      }
      missing.push_front(resp.index());
    }
    const auto now = std::chrono::steady_clock::now();
    for (auto it = in_flight.begin(); it != in_flight.end();) {
      if (now - it->second.sent > options_.chunk_timeout) {
        missing.push_back(it->first);
        it = in_flight.erase(it);
      } else {
        ++it;
      }
    }
    if (now - last_log > std::chrono::seconds(5)) {
      last_log = now;
      Log("state sync: " + std::to_string(total - installer->MissingChunks().size()) + " of " +
          std::to_string(total) + " chunks installed");
    }
  }
  (void)installed;
  return true;
}

Result<uint64_t> StateSyncClient::Run(const std::function<bool()>& stopping) {
  const auto give_up = std::chrono::steady_clock::now() + options_.give_up_after;
  auto cleanup = [&]() -> Status {
    // An interrupted install left behind would make the ledger unusable for block catch-up.
    if (ledger_->sync_pending()) return storage::WipeLedger(ledger_);
    return Status::Ok();
  };
  while (std::chrono::steady_clock::now() < give_up) {
    if (stopping()) return Status::Internal("stopped during state sync");
    std::optional<Offer> offer = Discover(stopping);
    if (!offer) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    const uint64_t height = offer->manifest.height();
    Log("state sync: installing the snapshot at height " + std::to_string(height) + " (" +
        std::to_string(offer->manifest.chunk_count()) + " chunks, " +
        std::to_string(offer->manifest.item_count()) + " items) from " +
        std::to_string(offer->peers.size()) + " peer(s)");
    const auto started = std::chrono::steady_clock::now();
    auto installer = storage::SnapshotInstaller::Begin(ledger_, offer->manifest);
    if (!installer.ok()) {
      if (installer.status().code() != core::StatusCode::kInvalidInput) return installer.status();
      Log("state sync: " + installer.status().message());
      std::lock_guard lock(mu_);
      for (const auto& p : offer->peers) banned_.insert(p);
      continue;
    }
    if (!FetchChunks(installer->get(), &*offer, stopping)) {
      if (stopping()) return Status::Internal("stopped during state sync");
      continue;  // The chunks written stay: the same snapshot from other peers resumes.
    }
    Status st = (*installer)->Finish(stopping);
    if (st.ok()) {
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      Log("state sync: installed the snapshot at height " + std::to_string(height) + " in " +
          std::to_string(s) + " s; catching up by blocks from there");
      return height;
    }
    if (st.code() != core::StatusCode::kInvalidInput) return st;
    Log("state sync: the snapshot at height " + std::to_string(height) +
        " is refused: " + st.message() + "; its peers are asked no more");
    {
      std::lock_guard lock(mu_);
      for (const auto& p : offer->peers) banned_.insert(p);
    }
    HM_RETURN_IF_ERROR((*installer)->Abort());
  }
  HM_RETURN_IF_ERROR(cleanup());
  return Status::NotFound("no peer offered a snapshot that could be installed");
}

}  // namespace hallmark::node
