#include "node/p2p/record_gossip.h"

#include <boost/asio/post.hpp>

#include <utility>

namespace hallmark::node {

namespace asio = boost::asio;

GossipBatcher::GossipBatcher(asio::io_context& io, Send send, GossipLimits limits)
    : send_(std::move(send)), limits_(limits), strand_(asio::make_strand(io)), timer_(strand_) {}

GossipBatcher::~GossipBatcher() {
  std::lock_guard lock(mu_);
  stopped_ = true;
}

void GossipBatcher::Add(const pb::Envelope& envelope) {
  bool full = false;
  bool arm = false;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    *batch_.mutable_records()->add_records() = envelope;
    batch_bytes_ += envelope.ByteSizeLong() + 8;
    ++stats_.records;
    full = static_cast<size_t>(batch_.records().records_size()) >= limits_.batch_records_max ||
           batch_bytes_ >= limits_.batch_bytes_max;
    if (!full && !timer_armed_) {
      timer_armed_ = true;
      arm = true;
    }
  }
  if (full) {
    Flush();
  } else if (arm) {
    ArmTimer();
  }
}

void GossipBatcher::ArmTimer() {
  asio::post(strand_, [this] {
    timer_.expires_after(std::chrono::milliseconds(limits_.flush_ms));
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      {
        std::lock_guard lock(mu_);
        timer_armed_ = false;
      }
      Flush();
    });
  });
}

void GossipBatcher::Flush() {
  std::lock_guard send_lock(send_mu_);
  pb::PeerMessage out;
  {
    std::lock_guard lock(mu_);
    if (stopped_ || batch_.records().records_size() == 0) return;
    out.Swap(&batch_);
    batch_bytes_ = 0;
    ++stats_.batches;
  }
  send_(out);
}

void GossipBatcher::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    batch_.Clear();
  }
  asio::post(strand_, [this] { timer_.cancel(); });
}

GossipStats GossipBatcher::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

GossipReceiver::GossipReceiver(asio::io_context& io, Admit admit, std::function<void()> on_accepted,
                               GossipLimits limits)
    : admit_(std::move(admit)),
      on_accepted_(std::move(on_accepted)),
      limits_(limits),
      strand_(asio::make_strand(io)) {}

bool GossipReceiver::Receive(pb::RecordGossip gossip) {
  const size_t n = static_cast<size_t>(gossip.records_size());
  if (n == 0) return true;
  if (backlog_.fetch_add(n) + n > limits_.backlog_records_max) {
    backlog_.fetch_sub(n);
    dropped_.fetch_add(n);
    dropped_batches_.fetch_add(1);
    return false;
  }
  batches_.fetch_add(1);
  bool post = false;
  {
    std::lock_guard lock(queue_mu_);
    queue_.push_back(std::move(gossip));
    post = !draining_;
    draining_ = true;
  }
  if (post) asio::post(strand_, [this] { Drain(); });
  return true;
}

void GossipReceiver::Drain() {
  for (;;) {
    std::deque<pb::RecordGossip> batch;
    {
      std::lock_guard lock(queue_mu_);
      if (queue_.empty()) {
        draining_ = false;
        return;
      }
      batch.swap(queue_);
    }
    if (prepare_) {
      std::vector<const pb::Envelope*> envs;
      for (const pb::RecordGossip& g : batch) {
        for (const pb::Envelope& env : g.records()) envs.push_back(&env);
      }
      prepare_(envs);
    }
    for (const pb::RecordGossip& g : batch) {
      const size_t n = static_cast<size_t>(g.records_size());
      bool any = false;
      for (const pb::Envelope& env : g.records()) any |= admit_(env);
      records_.fetch_add(n);
      backlog_.fetch_sub(n);
      if (any && on_accepted_) on_accepted_();
    }
  }
}

GossipStats GossipReceiver::stats() const {
  return GossipStats{records_.load(), batches_.load(), dropped_.load(), dropped_batches_.load()};
}

}  // namespace hallmark::node
