// Record gossip in batches (node/p2p/record_gossip.h): what leaves together, when, and in
// which order; and admission of received batches off the consensus path, bounded.

#include <doctest/doctest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "fixtures.h"
#include "node/mempool.h"
#include "node/p2p/record_gossip.h"
#include "test_util.h"

using namespace hallmark;
using namespace hallmark::test;

namespace {

namespace asio = boost::asio;

// An io_context run by one thread for the length of a test.
struct IoThread {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  std::thread thread{[this] { io.run(); }};
  ~IoThread() { Stop(); }
  void Stop() {
    work.reset();
    io.stop();
    if (thread.joinable()) thread.join();
  }
};

// Records what the batcher sends.
struct Sink {
  std::mutex mu;
  std::vector<pb::PeerMessage> sent;
  node::GossipBatcher::Send fn() {
    return [this](const pb::PeerMessage& m) {
      std::lock_guard lock(mu);
      sent.push_back(m);
    };
  }
  size_t messages() {
    std::lock_guard lock(mu);
    return sent.size();
  }
  std::vector<std::string> payloads() {
    std::lock_guard lock(mu);
    std::vector<std::string> out;
    for (const auto& m : sent) {
      for (const auto& e : m.records().records()) out.push_back(e.payload());
    }
    return out;
  }
};

pb::Envelope Env(const std::string& tag, size_t size = 0) {
  pb::Envelope e;
  e.set_payload(tag + std::string(size, 'x'));
  return e;
}

template <typename Pred>
bool WaitFor(Pred pred, int timeout_ms = 5000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

}  // namespace

TEST_CASE("gossip batcher: records added within the flush window leave as one message, in order") {
  IoThread t;
  Sink sink;
  node::GossipLimits limits;
  limits.flush_ms = 50;
  node::GossipBatcher batcher(t.io, sink.fn(), limits);
  for (int i = 0; i < 100; ++i) batcher.Add(Env("r" + std::to_string(i)));
  CHECK(sink.messages() == 0);  // Nothing leaves before the window closes.
  REQUIRE(WaitFor([&] { return sink.messages() == 1; }));
  auto got = sink.payloads();
  REQUIRE(got.size() == 100);
  for (int i = 0; i < 100; ++i) CHECK(got[static_cast<size_t>(i)] == "r" + std::to_string(i));
  CHECK(sink.sent[0].body_case() == pb::PeerMessage::kRecords);
  CHECK(batcher.stats().batches == 1);
  CHECK(batcher.stats().records == 100);

  // A later record starts a new window.
  batcher.Add(Env("late"));
  REQUIRE(WaitFor([&] { return sink.messages() == 2; }));
  CHECK(sink.payloads().back() == "late");
  t.Stop();
}

TEST_CASE("gossip batcher: a full batch leaves at once, by record count or by bytes") {
  IoThread t;
  Sink sink;
  node::GossipLimits limits;
  limits.flush_ms = 60'000;  // The timer never fires during the test.
  limits.batch_records_max = 3;
  limits.batch_bytes_max = 10'000;
  node::GossipBatcher batcher(t.io, sink.fn(), limits);
  batcher.Add(Env("a"));
  batcher.Add(Env("b"));
  CHECK(sink.messages() == 0);
  batcher.Add(Env("c"));  // Third record: sent by this call.
  CHECK(sink.messages() == 1);
  CHECK(sink.sent[0].records().records_size() == 3);

  batcher.Add(Env("big", 12'000));  // Over the byte bound on its own.
  CHECK(sink.messages() == 2);
  CHECK(sink.sent[1].records().records_size() == 1);

  batcher.Add(Env("d"));
  batcher.Flush();
  CHECK(sink.messages() == 3);
  batcher.Flush();  // Nothing pending: nothing sent.
  CHECK(sink.messages() == 3);
  t.Stop();
}

TEST_CASE("gossip batcher: records from many threads are each sent once, each thread in order") {
  IoThread t;
  Sink sink;
  node::GossipLimits limits;
  limits.flush_ms = 1;
  limits.batch_records_max = 7;
  node::GossipBatcher batcher(t.io, sink.fn(), limits);
  constexpr int kThreads = 4, kEach = 500;
  std::vector<std::thread> threads;
  for (int w = 0; w < kThreads; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kEach; ++i) {
        batcher.Add(Env(std::to_string(w) + ":" + std::to_string(i)));
      }
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(WaitFor([&] { return sink.payloads().size() == kThreads * kEach; }));
  std::vector<int> next(kThreads, 0);
  for (const std::string& p : sink.payloads()) {
    int w = std::stoi(p.substr(0, p.find(':')));
    int i = std::stoi(p.substr(p.find(':') + 1));
    CHECK(i == next[static_cast<size_t>(w)]);
    next[static_cast<size_t>(w)] = i + 1;
  }
  for (int n : next) CHECK(n == kEach);
  CHECK(sink.messages() < static_cast<size_t>(kThreads * kEach));  // Batching happened.
  t.Stop();
}

TEST_CASE("gossip batcher: after Stop nothing more is sent") {
  IoThread t;
  Sink sink;
  node::GossipLimits limits;
  limits.flush_ms = 20;
  node::GossipBatcher batcher(t.io, sink.fn(), limits);
  batcher.Add(Env("dropped"));
  batcher.Stop();
  batcher.Add(Env("also dropped"));
  batcher.Flush();
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  CHECK(sink.messages() == 0);
  t.Stop();
}

TEST_CASE("gossip receiver: a batch is admitted in order, one wake-up per batch that added any") {
  asio::io_context io;
  std::vector<std::string> admitted;
  int wakeups = 0;
  node::GossipReceiver receiver(
      io,
      [&](const pb::Envelope& e) {
        admitted.push_back(e.payload());
        return e.payload() != "dup";
      },
      [&] { ++wakeups; });
  // The prepare hook sees the records of every waiting message at once (both arrive before the
  // strand runs), before the first is admitted.
  receiver.set_prepare([&](const std::vector<const pb::Envelope*>& envs) {
    admitted.push_back("prepare " + std::to_string(envs.size()));
  });
  pb::RecordGossip g1;
  for (const char* p : {"a", "b", "c"}) *g1.add_records() = Env(p);
  pb::RecordGossip g2;
  *g2.add_records() = Env("dup");
  CHECK(receiver.Receive(g1));
  CHECK(receiver.Receive(g2));
  CHECK(receiver.backlog() == 4);
  CHECK(admitted.empty());  // Admission happens on the receiver's strand, not in Receive.
  io.run();
  CHECK(admitted == std::vector<std::string>{"prepare 4", "a", "b", "c", "dup"});
  CHECK(wakeups == 1);  // g2 added nothing new.
  CHECK(receiver.backlog() == 0);
  CHECK(receiver.stats().records == 4);
  CHECK(receiver.stats().batches == 2);
}

TEST_CASE("gossip receiver: a message arriving during admission waits for the next round") {
  asio::io_context io;
  std::vector<std::string> seen;
  node::GossipReceiver* self = nullptr;
  node::GossipReceiver receiver(
      io,
      [&](const pb::Envelope& e) {
        seen.push_back(e.payload());
        if (e.payload() == "a") {  // Arrives while "a" is admitted.
          pb::RecordGossip late;
          *late.add_records() = Env("late");
          CHECK(self->Receive(late));
        }
        return true;
      },
      nullptr);
  self = &receiver;
  receiver.set_prepare([&](const std::vector<const pb::Envelope*>& envs) {
    seen.push_back("prepare " + std::to_string(envs.size()));
  });
  pb::RecordGossip g;
  for (const char* p : {"a", "b"}) *g.add_records() = Env(p);
  CHECK(receiver.Receive(g));
  io.run();
  CHECK(seen == std::vector<std::string>{"prepare 2", "a", "b", "prepare 1", "late"});
  CHECK(receiver.backlog() == 0);
  CHECK(receiver.stats().records == 3);
}

TEST_CASE("gossip receiver: a batch that would overfill the backlog is dropped whole and counted") {
  asio::io_context io;
  size_t admitted = 0;
  node::GossipLimits limits;
  limits.backlog_records_max = 5;
  node::GossipReceiver receiver(
      io, [&](const pb::Envelope&) { return ++admitted > 0; }, nullptr, limits);
  pb::RecordGossip three;
  for (int i = 0; i < 3; ++i) *three.add_records() = Env("x");
  CHECK(receiver.Receive(three));
  CHECK_FALSE(receiver.Receive(three));  // 6 > 5.
  CHECK(receiver.stats().dropped_records == 3);
  CHECK(receiver.stats().dropped_batches == 1);
  io.run();  // The backlog drains...
  CHECK(admitted == 3);
  CHECK(receiver.Receive(three));  // ...and there is room again.
  io.restart();
  io.run();
  CHECK(admitted == 6);
}

TEST_CASE("gossip: a registration and its transfer batched together are both admitted by a peer") {
  TempDir dir;
  core::Network net = TestNetwork();
  auto ledger = std::move(storage::Ledger::Open(dir.path(), net, {.sync = false}).value());
  node::Mempool pool(net, ledger.get());

  auto reg_payload = Payload("01/00614141000012/21/G-1");
  reg_payload.mutable_register_();
  pb::Envelope reg = Sign("maison", reg_payload);
  auto tr_payload = Payload("01/00614141000012/21/G-1", std::string(RecordId(reg).view()));
  tr_payload.mutable_transfer()->mutable_to()->set_organization("resale");
  pb::Envelope tr = Sign("maison", tr_payload);

  // Sender side: both leave in one message.
  asio::io_context io;
  std::vector<pb::PeerMessage> wire;
  node::GossipBatcher batcher(io, [&](const pb::PeerMessage& m) { wire.push_back(m); });
  batcher.Add(reg);
  batcher.Add(tr);
  batcher.Flush();
  REQUIRE(wire.size() == 1);
  REQUIRE(wire[0].records().records_size() == 2);

  // Receiver side: admitted in order, so the transfer finds its registration pending.
  int accepted = 0;
  node::GossipReceiver receiver(
      io,
      [&](const pb::Envelope& e) {
        return pool.Admit(e, kTestTimeMs).kind == node::AdmitResult::Kind::kAccepted;
      },
      [&] { ++accepted; });
  CHECK(receiver.Receive(wire[0].records()));
  io.run();
  CHECK(accepted == 1);
  CHECK(pool.stats().records == 2);
  CHECK(pool.Lookup(RecordId(tr), nullptr) == node::Mempool::Known::kPending);
}
