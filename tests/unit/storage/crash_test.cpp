// Crash consistency for real: a child process commits blocks with synced writes and is killed
// with SIGKILL at random moments. After each kill the store must reopen at a block at least as
// high as the last one the child acknowledged, and its roots, recomputed from what is stored,
// must match the head block's header.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <thread>

#include "core/merkle.h"
#include "core/smt.h"
#include "fixtures.h"
#include "storage/ledger.h"
#include "test_util.h"

using namespace hallmark;
using core::Hash256;

namespace {

// The state tree rebuilt from scratch in memory, to compare with the stored one.
class MapReader final : public core::SmtNodeReader {
 public:
  core::Result<std::optional<std::string>> GetNode(std::string_view key) const override {
    auto it = nodes.find(std::string(key));
    if (it == nodes.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  std::map<std::string, std::string> nodes;
};

// The listing index (written in the block's batch) agrees with a full scan of the item states:
// every item once, at the time of the block that last changed it, newest first.
void CheckListingIndex(const storage::Ledger& ledger) {
  std::vector<std::pair<uint64_t, Hash256>> expected;
  std::map<uint64_t, uint64_t> times;
  REQUIRE(ledger
              .ForEachItem([&](const Hash256& key, std::string_view bytes) {
                pb::ItemState s;
                REQUIRE(s.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
                if (!times.count(s.updated_height())) {
                  auto header = ledger.GetHeader(s.updated_height());
                  REQUIRE(header.ok());
                  REQUIRE(header->has_value());
                  times[s.updated_height()] = (*header)->time_ms();
                }
                expected.emplace_back(times[s.updated_height()], key);
              })
              .ok());
  std::sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<std::pair<uint64_t, Hash256>> listed;
  storage::ItemListQuery q;
  q.limit = 1000;
  for (;;) {
    auto page = ledger.ListItems(q);
    INFO(page.status().ToString());
    REQUIRE(page.ok());
    for (const auto& i : page->items) listed.emplace_back(i.updated_time_ms, i.item_key);
    if (!page->next) break;
    q.after = page->next;
  }
  CHECK(listed == expected);
}

Hash256 RecomputeStateRoot(const storage::Ledger& ledger) {
  std::vector<std::pair<Hash256, Hash256>> leaves;
  auto st = ledger.ForEachItem([&](const Hash256& key, std::string_view bytes) {
    leaves.emplace_back(key, core::Sha256Of(bytes));
  });
  REQUIRE(st.ok());
  MapReader reader;
  core::SparseMerkleTree tree(&reader);
  auto update = tree.PrepareUpdate(leaves);
  REQUIRE(update.ok());
  return update->root;
}

struct Child {
  pid_t pid = -1;
  int out = -1;
};

Child Spawn(const std::string& dir) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::string bin = std::string(HALLMARK_BIN_DIR) + "/hallmark-crash-child";
    execl(bin.c_str(), bin.c_str(), dir.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  return Child{pid, fds[0]};
}

// Blocks until the child has printed a first full line (one acknowledged commit), so that every
// round makes progress however slow the machine. Gives up after 60 s. Returns what was read.
std::string WaitForFirstCommit(int fd) {
  std::string got;
  char buf[256];
  while (got.find('\n') == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 60'000) <= 0) break;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

// Everything the child printed: its acknowledged heights.
uint64_t LastAcknowledged(int fd, std::string all, uint64_t previous) {
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) all.append(buf, static_cast<size_t>(n));
  uint64_t last = previous;
  size_t pos = 0;
  while (pos < all.size()) {
    size_t nl = all.find('\n', pos);
    if (nl == std::string::npos) break;  // A line cut by the kill was never acknowledged.
    last = std::stoull(all.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return last;
}

}  // namespace

TEST_CASE("crash: the store survives 50 SIGKILLs at random moments with roots intact") {
  test::TempDir dir;
  auto net = test::TestNetwork();
  std::mt19937 rng(20261128);
  uint64_t acknowledged = 0;
  int kills_mid_run = 0;
  for (int round = 0; round < 50; ++round) {
    CAPTURE(round);
    Child child = Spawn(dir.str());
    // One round in five kills at a random moment from the start (often while opening); the
    // others first wait for a commit, then kill at a random moment up to 50 ms later, which on
    // this workload usually falls inside a later commit.
    std::string early;
    if (round % 5 != 0) early = WaitForFirstCommit(child.out);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 50'000));
    REQUIRE(kill(child.pid, SIGKILL) == 0);
    int status = 0;
    REQUIRE(waitpid(child.pid, &status, 0) == child.pid);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ++kills_mid_run;
    uint64_t before = acknowledged;
    acknowledged = LastAcknowledged(child.out, std::move(early), acknowledged);
    close(child.out);
    CHECK(acknowledged >= before);

    auto opened = storage::Ledger::Open(dir.path(), net);
    INFO(opened.status().ToString());
    REQUIRE(opened.ok());
    auto& ledger = *opened.value();
    REQUIRE(ledger.head().height() >= acknowledged);
    if (ledger.head().height() == 0) continue;

    auto block = ledger.GetBlock(ledger.head().height());
    REQUIRE(block.ok());
    REQUIRE(block->has_value());
    pb::BlockHeader header;
    REQUIRE(header.ParseFromString((*block)->header()));
    CHECK(core::Sha256Of(std::string_view((*block)->header())).view() ==
          ledger.head().block_hash());
    std::vector<Hash256> leaves;
    for (const auto& env : (*block)->records()) {
      leaves.push_back(core::MerkleLeafHash(core::RecordIdOf(env).span()));
    }
    CHECK(core::MerkleRoot(leaves).view() == header.records_root());
    CHECK(RecomputeStateRoot(ledger).view() == header.state_root());
    CHECK(ledger.StateRoot().view() == header.state_root());
    CheckListingIndex(ledger);
    // The chain links back: the previous block's hash is this header's prev_hash.
    if (header.height() > 1) {
      auto prev = ledger.GetBlock(header.height() - 1);
      REQUIRE(prev->has_value());
      CHECK(core::Sha256Of(std::string_view((*prev)->header())).view() == header.prev_hash());
    }
  }
  MESSAGE("acknowledged height after 50 kills: " << acknowledged);
  CHECK(kills_mid_run == 50);  // Every round really was a kill, not a clean exit.
  CHECK(acknowledged >= 40);   // And the child made progress between kills.
}
