#pragma once

// Record gossip between mempools, in batches.
//
// Sending: every record this node admits through its API goes to every peer. One P2P message
// per record costs a frame, a TLS record and a callback on each side for a few hundred bytes;
// under load that overhead, not the records, dominated. GossipBatcher collects records for at
// most `flush_ms` (or until a batch is full) and sends them as one RecordGossip.
//
// Receiving: admitting a record means checking its signature, which is slow next to a vote.
// GossipReceiver admits gossiped records on a strand of its own, in the order they arrived,
// so that a backlog of records never delays consensus messages from the same peers. The
// backlog is bounded; a batch that would exceed it is dropped and counted. Nothing is lost:
// the node that accepted a record keeps it and proposes it, and the others then check it
// while validating the block.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

#include "node/p2p/limits.h"
#include "proto/p2p.pb.h"

namespace hallmark::node {

struct GossipLimits {
  size_t batch_records_max = p2p_limits::kGossipBatchRecordsMax;
  uint64_t batch_bytes_max = p2p_limits::kGossipBatchBytesMax;
  uint32_t flush_ms = p2p_limits::kGossipFlushMs;
  size_t backlog_records_max = p2p_limits::kGossipBacklogRecordsMax;
};

struct GossipStats {
  uint64_t records = 0;          // Sent: records added. Received: records admitted or refused.
  uint64_t batches = 0;          // Messages sent or received.
  uint64_t dropped_records = 0;  // Received: dropped because the backlog was full.
  uint64_t dropped_batches = 0;
};

// Collects records and hands them to `send` as one PeerMessage (RecordGossip) per batch: when
// the batch reaches batch_records_max or batch_bytes_max, or flush_ms after its first record.
// Batches are sent in the order their records were added.
//
// Thread-safe: Add and Flush may be called from any thread. `send` is called from the thread
// that completes a batch (an Add that fills it, or the io_context running the timer), never
// twice at once. Stop() cancels the timer; records still pending are dropped.
// REQUIRES: the io_context runs for time-based flushes, and has stopped running before the
// batcher is destroyed (its handlers refer to the batcher).
class GossipBatcher {
 public:
  using Send = std::function<void(const pb::PeerMessage&)>;
  GossipBatcher(boost::asio::io_context& io, Send send, GossipLimits limits = {});
  ~GossipBatcher();
  GossipBatcher(const GossipBatcher&) = delete;
  GossipBatcher& operator=(const GossipBatcher&) = delete;

  void Add(const pb::Envelope& envelope);
  // Sends whatever is pending now.
  void Flush();
  void Stop();

  GossipStats stats() const;

 private:
  void ArmTimer();

  const Send send_;
  const GossipLimits limits_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::steady_timer timer_;  // Used on strand_ only.

  std::mutex send_mu_;     // Held while a batch is taken and sent: keeps batches in order.
  mutable std::mutex mu_;  // Guards the members below.
  pb::PeerMessage batch_;
  uint64_t batch_bytes_ = 0;
  bool timer_armed_ = false;
  bool stopped_ = false;
  GossipStats stats_;
};

// Admits the records of RecordGossip messages through `admit` on a strand of its own, in
// arrival order, and calls `on_accepted` once per message that added at least one record.
// At most backlog_records_max records wait; a message that does not fit is dropped whole.
//
// Thread-safe. `admit` and `on_accepted` run on the receiver's strand, one call at a time.
// REQUIRES: the io_context and the callbacks' targets outlive the receiver and every handler
// it posted (stop the io_context and join its threads before destroying them).
class GossipReceiver {
 public:
  // Returns true when the record was new and valid (AdmitResult::Kind::kAccepted).
  using Admit = std::function<bool(const pb::Envelope&)>;
  GossipReceiver(boost::asio::io_context& io, Admit admit, std::function<void()> on_accepted,
                 GossipLimits limits = {});

  // Called on the receiver's strand with the records of every message waiting there, before
  // they are admitted one by one (the node checks their signatures together). Messages that
  // arrive while the strand is busy wait and are taken together, so under load the batches
  // grow by themselves, without a timer. Set before the first Receive.
  using Prepare = std::function<void(const std::vector<const pb::Envelope*>&)>;
  void set_prepare(Prepare prepare) { prepare_ = std::move(prepare); }

  // False when the message was dropped because the backlog is full.
  bool Receive(pb::RecordGossip gossip);

  size_t backlog() const { return backlog_.load(); }
  GossipStats stats() const;

 private:
  const Admit admit_;
  const std::function<void()> on_accepted_;
  Prepare prepare_;
  // Admits what waits, until nothing does. Runs on strand_.
  void Drain();
  std::mutex queue_mu_;
  std::deque<pb::RecordGossip> queue_;  // Guarded by queue_mu_.
  bool draining_ = false;               // A Drain is posted or running; guarded by queue_mu_.
  const GossipLimits limits_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  std::atomic<size_t> backlog_{0};
  std::atomic<uint64_t> records_{0};
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> dropped_batches_{0};
};

}  // namespace hallmark::node
