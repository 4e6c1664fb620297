#include "node/catch_up.h"

#include <algorithm>
#include <atomic>

#include "core/records.h"

namespace hallmark::node {

namespace {

constexpr size_t kRecordsPerChunk = 256;  // A batch verification of 256 is near its best rate.

}  // namespace

void FetchPlanner::AddHole(uint64_t from, uint64_t to) {
  if (from > to) return;
  auto [it, added] = holes_.emplace(from, to);
  if (!added) it->second = std::max(it->second, to);
}

std::vector<FetchPlanner::Request> FetchPlanner::Plan(
    uint64_t head, uint64_t target, const std::map<core::PublicKey, uint64_t>& peer_heights,
    TimePoint now) {
  frontier_ = std::max(frontier_, head);
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (it->second.to <= head) {
      it = in_flight_.erase(it);
    } else if (now - it->second.sent > std::chrono::milliseconds(limits_.timeout_ms)) {
      AddHole(std::max(it->second.from, head + 1), it->second.to);
      it = in_flight_.erase(it);
    } else {
      ++it;
    }
  }
  // Holes at or below the head are filled.
  std::map<uint64_t, uint64_t> holes;
  for (const auto& [from, to] : holes_) {
    if (to > head) holes.emplace(std::max(from, head + 1), to);
  }
  holes_ = std::move(holes);

  const uint64_t limit = std::min(target, head + limits_.max_ahead);

  std::vector<Request> out;
  std::vector<const std::pair<const core::PublicKey, uint64_t>*> peers;
  for (const auto& entry : peer_heights) peers.push_back(&entry);
  while (in_flight_.size() < limits_.max_in_flight && !peers.empty()) {
    uint64_t from = 0, to = 0;
    const bool hole = !holes_.empty() && holes_.begin()->first <= limit;
    if (hole) {
      from = holes_.begin()->first;
      to = std::min<uint64_t>(
          {holes_.begin()->second, from + limits_.max_blocks_per_request - 1, limit});
    } else if (frontier_ < limit) {
      from = frontier_ + 1;
      to = std::min<uint64_t>(limit, frontier_ + limits_.max_blocks_per_request);
    } else {
      break;
    }
    // A free peer that has the whole range, in turn; else the free peer furthest ahead, for the
    // part it has.
    const std::pair<const core::PublicKey, uint64_t>* chosen = nullptr;
    const std::pair<const core::PublicKey, uint64_t>* furthest = nullptr;
    for (size_t k = 0; k < peers.size(); ++k) {
      const auto* p = peers[(cursor_ + k) % peers.size()];
      if (in_flight_.contains(p->first)) continue;
      if (auto pruned = first_heights_.find(p->first);
          pruned != first_heights_.end() && pruned->second > from) {
        continue;  // It no longer holds `from`: it would answer no blocks again.
      }
      if (p->second >= to) {
        chosen = p;
        cursor_ = (cursor_ + k + 1) % peers.size();
        break;
      }
      if (!furthest || p->second > furthest->second) furthest = p;
    }
    if (!chosen) {
      if (!furthest || furthest->second < from) break;
      chosen = furthest;
      to = furthest->second;
    }
    if (hole) {
      const uint64_t hole_to = holes_.begin()->second;
      holes_.erase(holes_.begin());
      if (to < hole_to) holes_.emplace(to + 1, hole_to);
    } else {
      frontier_ = to;
    }
    in_flight_[chosen->first] = InFlight{from, to, now};
    out.push_back(Request{from, to, chosen->first});
  }
  return out;
}

void FetchPlanner::OnResponse(const core::PublicKey& peer, uint64_t first, uint64_t last) {
  auto it = in_flight_.find(peer);
  if (it == in_flight_.end()) return;
  const InFlight r = it->second;
  in_flight_.erase(it);
  if (last < first || last < r.from || first > r.to) {
    AddHole(r.from, r.to);
    return;
  }
  if (first > r.from) AddHole(r.from, first - 1);
  if (last < r.to) AddHole(last + 1, r.to);
}

void FetchPlanner::Retry(uint64_t height) {
  AddHole(height, height);
}

void FetchPlanner::OnPeerFirstHeight(const core::PublicKey& peer, uint64_t first_height) {
  if (first_height > 1) {
    first_heights_[peer] = first_height;
  } else {
    first_heights_.erase(peer);
  }
}

storage::SignatureCheck VerifiedOrCheck(std::shared_ptr<const VerifiedRecords> verified) {
  return [verified = std::move(verified)](
             const pb::Envelope& env, const core::Hash256& id) -> std::optional<core::Rejection> {
    if (verified && verified->ids.contains(id)) return std::nullopt;
    return core::CheckRecordSignature(env);
  };
}

struct RecordVerifier::Batch {
  std::shared_ptr<const pb::Block> block;
  Done done;
  std::atomic<size_t> chunks_left{0};
  std::mutex mu;
  std::shared_ptr<VerifiedRecords> verified = std::make_shared<VerifiedRecords>();
};

RecordVerifier::RecordVerifier(unsigned threads) {
  if (threads == 0) threads = std::thread::hardware_concurrency();
  threads_ = std::clamp(threads, 1u, 8u);
}

RecordVerifier::~RecordVerifier() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  for (auto& w : workers_) w.join();
}

void RecordVerifier::Verify(std::shared_ptr<const pb::Block> block, uint64_t height, Done done) {
  auto batch = std::make_shared<Batch>();
  const size_t n = static_cast<size_t>(block->records_size());
  batch->block = std::move(block);
  batch->done = std::move(done);
  if (n == 0) {
    batch->done(batch->verified);
    return;
  }
  const size_t chunks = (n + kRecordsPerChunk - 1) / kRecordsPerChunk;
  batch->chunks_left.store(chunks);
  batch->verified->ids.reserve(n);
  {
    std::lock_guard lock(mu_);
    if (workers_.empty()) {
      for (unsigned t = 0; t < threads_; ++t) workers_.emplace_back([this] { Work(); });
    }
    // Before the first chunk of a higher block: the queue stays in height order.
    auto pos = std::find_if(queue_.begin(), queue_.end(),
                            [height](const Chunk& q) { return q.height > height; });
    std::vector<Chunk> add;
    add.reserve(chunks);
    for (size_t c = 0; c < chunks; ++c) {
      add.push_back(
          Chunk{batch, height, c * kRecordsPerChunk, std::min(n, (c + 1) * kRecordsPerChunk)});
    }
    queue_.insert(pos, add.begin(), add.end());
  }
  cv_.notify_all();
}

void RecordVerifier::Work() {
  std::vector<core::Hash256> ids;
  std::vector<const pb::Envelope*> envs;
  for (;;) {
    Chunk chunk;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      chunk = std::move(queue_.front());
      queue_.pop_front();
    }
    ids.clear();
    envs.clear();
    const pb::Block& block = *chunk.batch->block;
    for (size_t i = chunk.begin; i < chunk.end; ++i)
      envs.push_back(&block.records(static_cast<int>(i)));
    // One batch verification per chunk (core::VerifySignatures).
    const std::vector<bool> valid = core::RecordSignaturesValid(envs);
    for (size_t i = 0; i < envs.size(); ++i) {
      if (valid[i]) ids.push_back(core::RecordIdOf(*envs[i]));
    }
    {
      std::lock_guard lock(chunk.batch->mu);
      chunk.batch->verified->ids.insert(ids.begin(), ids.end());
    }
    if (chunk.batch->chunks_left.fetch_sub(1) == 1) {
      std::shared_ptr<Batch> batch = std::move(chunk.batch);
      batch->done(batch->verified);
    }
  }
}

}  // namespace hallmark::node
