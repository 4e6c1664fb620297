// State tree and block Merkle tree benchmarks.
//
// The state tree benchmarks run against a LevelDB-backed tree of HALLMARK_SMT_BENCH_ITEMS items
// (default 1,000,000), built once in a temporary folder (HALLMARK_SMT_BENCH_DIR, default the
// system temp dir) before the first of them runs; only the timed batches and proofs count.
// Throughput is per wall-clock second for block commits (the LevelDB write and its background
// compaction count) and PrepareUpdate alone (the tree's own threads do part of it), and per CPU
// second of the calling thread for the others. The block commits also report the CPU of each
// phase on the calling thread, of all other threads (compaction, the tree's helpers), and their
// total: on a machine with few cores, the total bounds the throughput.
//
// The 10^7 run, by hand (building the tree takes a while; KEEP leaves it in place, under a name
// with the item count, and later runs with the same settings reopen it instead):
//   export HALLMARK_SMT_BENCH_ITEMS=10000000 HALLMARK_SMT_BENCH_DIR=/var/tmp
//   export HALLMARK_SMT_BENCH_KEEP=1
//   hallmark-microbench --benchmark_filter=Smt
// Other knobs: HALLMARK_SMT_BENCH_CACHE_NODES (tree cache, default 262144 as in the ledger),
// HALLMARK_SMT_BENCH_BLOCK_CACHE_MB (LevelDB block cache, default 64),
// HALLMARK_SMT_BENCH_WRITE_BUFFER_MB (LevelDB write buffer, default 4),
// HALLMARK_SMT_BENCH_PREPARE_THREADS (the tree's prepare_threads, default 0: one per hardware
// thread), HALLMARK_SMT_BENCH_SNAPPY (0: LevelDB compression off; default 1, LevelDB's default).

#include <benchmark/benchmark.h>
#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/filter_policy.h>
#include <leveldb/write_batch.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/crypto/sha256.h"
#include "core/merkle.h"
#include "core/smt.h"
#include "storage/smt_store.h"

namespace {

using hallmark::core::Hash256;
using Pair = std::pair<Hash256, Hash256>;

constexpr std::string_view kPrefix = "N";
constexpr const char* kItemsKey = "bench/items";
constexpr size_t kBlockUpdates = 1000;
// As the ledger configures it (LedgerOptions::state_tree_cache_nodes).
constexpr size_t kCacheNodes = size_t{1} << 18;

// Item i's key: SHA-256 of its number, as a stand-in for SHA-256 of a canonical item id.
Hash256 ItemKey(uint64_t i) {
  std::string s;
  hallmark::core::PutBigEndian64(&s, i);
  return hallmark::core::Sha256().Update(std::string_view("item")).Update(s).Finish();
}
Hash256 ValueHash(uint64_t i, uint64_t version) {
  std::string s;
  hallmark::core::PutBigEndian64(&s, i);
  hallmark::core::PutBigEndian64(&s, version);
  return hallmark::core::Sha256().Update(s).Finish();
}

size_t EnvSize(const char* name, size_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? static_cast<size_t>(std::strtoull(v, nullptr, 10)) : fallback;
}

// Counts the tree's reads from LevelDB (cache misses) and the time they take.
class CountingReader : public hallmark::core::SmtNodeReader {
 public:
  explicit CountingReader(const hallmark::core::SmtNodeReader* inner) : inner_(inner) {}
  hallmark::core::Result<std::optional<std::string>> GetNode(
      std::string_view node_key) const override {
    auto t0 = std::chrono::steady_clock::now();
    auto r = inner_->GetNode(node_key);
    nanos_ += static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
            .count());
    ++reads_;
    return r;
  }
  uint64_t reads() const { return reads_; }
  double seconds() const { return static_cast<double>(nanos_) * 1e-9; }

 private:
  const hallmark::core::SmtNodeReader* inner_;
  mutable std::atomic<uint64_t> reads_{0};
  mutable std::atomic<uint64_t> nanos_{0};
};

// The LevelDB store and tree shared by the state tree benchmarks; built on first use, removed at
// exit.
struct World {
  std::filesystem::path dir;
  std::unique_ptr<leveldb::Cache> block_cache;
  std::unique_ptr<const leveldb::FilterPolicy> filter;
  std::unique_ptr<leveldb::DB> db;
  std::unique_ptr<hallmark::storage::LevelDbSmtReader> reader;
  std::unique_ptr<CountingReader> counting;
  std::unique_ptr<hallmark::core::SparseMerkleTree> tree;
  uint64_t items = 0;  // Items 0..items-1 are in the tree.
  // Bumped for every value written after the build; starts anywhere, so that a reopened tree
  // never sees the values of an earlier run again (which would write nothing).
  uint64_t version = std::random_device()() | 1;

  bool keep = false;

  World() {
    const size_t target = EnvSize("HALLMARK_SMT_BENCH_ITEMS", 1'000'000);
    const char* base = std::getenv("HALLMARK_SMT_BENCH_DIR");
    keep = EnvSize("HALLMARK_SMT_BENCH_KEEP", 0) != 0;
    dir = std::filesystem::path(base != nullptr ? base : std::filesystem::temp_directory_path()) /
          (keep ? "hallmark-smt-bench-" + std::to_string(target)
                : "hallmark-smt-bench-" + std::to_string(::getpid()));
    if (!keep) std::filesystem::remove_all(dir);
    leveldb::Options options;
    options.create_if_missing = true;
    block_cache.reset(leveldb::NewLRUCache(EnvSize("HALLMARK_SMT_BENCH_BLOCK_CACHE_MB", 64) << 20));
    filter.reset(leveldb::NewBloomFilterPolicy(10));
    options.block_cache = block_cache.get();
    options.filter_policy = filter.get();
    options.write_buffer_size = EnvSize("HALLMARK_SMT_BENCH_WRITE_BUFFER_MB", 4) << 20;
    // Nodes are hashes, which Snappy cannot shrink: this shows what trying costs.
    if (EnvSize("HALLMARK_SMT_BENCH_SNAPPY", 1) == 0) options.compression = leveldb::kNoCompression;
    leveldb::DB* raw = nullptr;
    leveldb::Status s = leveldb::DB::Open(options, dir.string(), &raw);
    if (!s.ok()) {
      std::fprintf(stderr, "cannot open %s: %s\n", dir.c_str(), s.ToString().c_str());
      std::abort();
    }
    db.reset(raw);
    std::string stored_items;
    if (db->Get(leveldb::ReadOptions(), kItemsKey, &stored_items).ok()) {
      items = std::strtoull(stored_items.c_str(), nullptr, 10);
      std::fprintf(stderr, "smt bench: reopened %s with %llu items\n", dir.c_str(),
                   static_cast<unsigned long long>(items));
    }
    reader = std::make_unique<hallmark::storage::LevelDbSmtReader>(db.get(), kPrefix);
    counting = std::make_unique<CountingReader>(reader.get());
    tree = std::make_unique<hallmark::core::SparseMerkleTree>(
        counting.get(), EnvSize("HALLMARK_SMT_BENCH_CACHE_NODES", kCacheNodes),
        hallmark::core::SparseMerkleTree::kDefaultCommitWait,
        EnvSize("HALLMARK_SMT_BENCH_PREPARE_THREADS", 0));
    if (!tree->status().ok()) {
      std::fprintf(stderr, "smt bench: %s\n", tree->status().ToString().c_str());
      std::abort();
    }

    auto start = std::chrono::steady_clock::now();
    std::vector<Pair> batch;
    while (items < target) {
      batch.clear();
      for (size_t j = 0; j < 10'000 && items < target; ++j, ++items) {
        batch.emplace_back(ItemKey(items), ValueHash(items, 0));
      }
      Commit(batch);
      if (items % 1'000'000 == 0) {
        double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::fprintf(stderr, "smt bench: built %llu items in %.1f s\n",
                     static_cast<unsigned long long>(items), secs);
      }
    }
    SaveItems();
    if (stored_items.empty()) return;
    // A reopened tree starts with a cold cache, unlike a freshly built one: warm it with proofs
    // of random items, as a node that has been running a while would be.
    std::mt19937_64 rng(7);
    const size_t warm = EnvSize("HALLMARK_SMT_BENCH_CACHE_NODES", kCacheNodes);
    for (size_t i = 0; i < warm; ++i) {
      if (!tree->Prove(ItemKey(rng() % items)).ok()) std::abort();
    }
    std::fprintf(stderr, "smt bench: warmed the cache with %zu proofs (%zu nodes cached)\n", warm,
                 tree->cache_stats().nodes);
  }
  ~World() {
    if (keep) SaveItems();
    tree.reset();
    counting.reset();
    reader.reset();
    db.reset();
    if (!keep) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }
  void SaveItems() {
    leveldb::WriteOptions sync;
    sync.sync = true;
    (void)db->Put(sync, kItemsKey, std::to_string(items));
  }

  // Time spent in each phase of Commit, for the benchmark's counters.
  double prepare_s = 0, write_s = 0, commit_s = 0;

  // CPU seconds of the calling thread, and of the whole process (every thread: the tree's
  // helpers and LevelDB's compaction too).
  static double ThreadCpu() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  }
  static double ProcessCpu() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  }
  double prepare_cpu_s = 0, write_cpu_s = 0, commit_cpu_s = 0;

  // One block's tree work: prepare, write with the block's batch, commit. Returns bytes written.
  size_t Commit(std::span<const Pair> updates) {
    using Clock = std::chrono::steady_clock;
    const double c0 = ThreadCpu();
    auto t0 = Clock::now();
    auto u = tree->PrepareUpdate(updates);
    if (!u.ok()) {
      std::fprintf(stderr, "smt bench: %s\n", u.status().ToString().c_str());
      std::abort();
    }
    auto t1 = Clock::now();
    const double c1 = ThreadCpu();
    leveldb::WriteBatch batch;
    hallmark::storage::PutSmtUpdate(*u, kPrefix, &batch);
    leveldb::Status s = db->Write(leveldb::WriteOptions(), &batch);
    if (!s.ok()) {
      std::fprintf(stderr, "smt bench: %s\n", s.ToString().c_str());
      std::abort();
    }
    auto t2 = Clock::now();
    const double c2 = ThreadCpu();
    tree->Commit(*u);
    auto t3 = Clock::now();
    const double c3 = ThreadCpu();
    prepare_cpu_s += c1 - c0;
    write_cpu_s += c2 - c1;
    commit_cpu_s += c3 - c2;
    prepare_s += std::chrono::duration<double>(t1 - t0).count();
    write_s += std::chrono::duration<double>(t2 - t1).count();
    commit_s += std::chrono::duration<double>(t3 - t2).count();
    return batch.ApproximateSize();
  }
};

World& GetWorld() {
  static World world;
  return world;
}

// A block of 1,000 leaf updates: Arg(0) percent of them new items, the rest new values of
// random existing items. Timed: PrepareUpdate, the LevelDB batch write (not synced) and Commit.
void BM_SmtBlockCommit(benchmark::State& state) {
  World& w = GetWorld();
  const size_t new_percent = static_cast<size_t>(state.range(0));
  // One sequence for all runs: a repetition updates other items, whose nodes are not all cached
  // already.
  static std::mt19937_64 rng(42);
  std::vector<Pair> batch;
  size_t bytes = 0;
  auto before = w.tree->cache_stats();
  const uint64_t reads_before = w.counting->reads();
  const double read_s_before = w.counting->seconds();
  w.prepare_s = w.write_s = w.commit_s = 0;
  w.prepare_cpu_s = w.write_cpu_s = w.commit_cpu_s = 0;
  const double process_cpu_before = World::ProcessCpu();
  const double thread_cpu_before = World::ThreadCpu();
  for (auto _ : state) {
    state.PauseTiming();
    batch.clear();
    for (size_t j = 0; j < kBlockUpdates; ++j) {
      if (j * 100 < new_percent * kBlockUpdates) {
        batch.emplace_back(ItemKey(w.items), ValueHash(w.items, 0));
        ++w.items;
      } else {
        uint64_t i = rng() % w.items;
        batch.emplace_back(ItemKey(i), ValueHash(i, w.version++));
      }
    }
    state.ResumeTiming();
    bytes += w.Commit(batch);
  }
  // CPU of every thread but the calling one: LevelDB's compaction (and the tree's helpers).
  const double other_cpu_s =
      (World::ProcessCpu() - process_cpu_before) - (World::ThreadCpu() - thread_cpu_before);
  auto after = w.tree->cache_stats();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBlockUpdates));
  state.counters["tree_items"] = static_cast<double>(w.items);
  const double n = static_cast<double>(state.iterations());
  state.counters["batch_KiB"] = static_cast<double>(bytes) / 1024.0 / n;
  state.counters["prepare_ms"] = w.prepare_s * 1e3 / n;
  state.counters["write_ms"] = w.write_s * 1e3 / n;
  state.counters["commit_ms"] = w.commit_s * 1e3 / n;
  // The same phases in CPU time of this thread, which other load on the machine inflates less.
  state.counters["prepare_cpu_ms"] = w.prepare_cpu_s * 1e3 / n;
  state.counters["write_cpu_ms"] = w.write_cpu_s * 1e3 / n;
  state.counters["commit_cpu_ms"] = w.commit_cpu_s * 1e3 / n;
  state.counters["other_threads_cpu_ms"] = other_cpu_s * 1e3 / n;
  // All the CPU a block costs: this thread's three phases and every other thread.
  state.counters["total_cpu_ms"] =
      (w.prepare_cpu_s + w.write_cpu_s + w.commit_cpu_s + other_cpu_s) * 1e3 / n;
  state.counters["disk_reads"] = static_cast<double>(w.counting->reads() - reads_before) / n;
  state.counters["read_ms"] = (w.counting->seconds() - read_s_before) * 1e3 / n;
  double lookups = static_cast<double>(after.hits + after.misses - before.hits - before.misses);
  state.counters["cache_hit"] =
      lookups > 0 ? static_cast<double>(after.hits - before.hits) / lookups : 0;
}
BENCHMARK(BM_SmtBlockCommit)
    ->Arg(0)
    ->Arg(50)
    ->Arg(100)
    ->MinTime(2.0)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// PrepareUpdate alone (the tree work of a block, no disk write), 1,000 existing items, on
// Arg(0) threads (0: the tree's default, one per hardware thread). Per wall-clock second, as
// the tree's own threads do part of the work.
void BM_SmtPrepareOnly(benchmark::State& state) {
  World& w = GetWorld();
  const size_t threads = static_cast<size_t>(state.range(0));
  // A second tree over the same store when the thread count differs from the shared tree's;
  // dropped before any other benchmark commits.
  std::unique_ptr<hallmark::core::SparseMerkleTree> own;
  if (threads != 0) {
    own = std::make_unique<hallmark::core::SparseMerkleTree>(
        w.counting.get(), EnvSize("HALLMARK_SMT_BENCH_CACHE_NODES", kCacheNodes),
        hallmark::core::SparseMerkleTree::kDefaultCommitWait, threads);
  }
  const hallmark::core::SparseMerkleTree& tree = own ? *own : *w.tree;
  std::mt19937_64 rng(43);
  std::vector<Pair> batch;
  for (size_t j = 0; j < kBlockUpdates; ++j) {
    uint64_t i = rng() % w.items;
    batch.emplace_back(ItemKey(i), ValueHash(i, w.version++));
  }
  if (!tree.PrepareUpdate(batch).ok()) std::abort();  // Brings the batch's nodes into the cache.
  for (auto _ : state) {
    auto u = tree.PrepareUpdate(batch);
    benchmark::DoNotOptimize(u);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBlockUpdates));
}
BENCHMARK(BM_SmtPrepareOnly)->Arg(1)->Arg(0)->UseRealTime()->Unit(benchmark::kMillisecond);

// Proofs of random items (Arg(1): of random absent keys).
void BM_SmtProve(benchmark::State& state) {
  World& w = GetWorld();
  const bool absent = state.range(0) != 0;
  std::mt19937_64 rng(44);
  std::vector<Hash256> keys(1 << 16);
  for (Hash256& k : keys)
    k = absent ? ItemKey(w.items + 1'000'000'000 + rng() % 1'000'000'000)
               : ItemKey(rng() % w.items);
  size_t at = 0;
  size_t siblings = 0;
  auto before = w.tree->cache_stats();
  const uint64_t reads_before = w.counting->reads();
  for (auto _ : state) {
    auto p = w.tree->Prove(keys[at++ & (keys.size() - 1)]);
    if (!p.ok()) state.SkipWithError(p.status().ToString().c_str());
    siblings += p->siblings.size();
  }
  auto after = w.tree->cache_stats();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["siblings"] =
      static_cast<double>(siblings) / static_cast<double>(state.iterations());
  state.counters["disk_reads"] = static_cast<double>(w.counting->reads() - reads_before) /
                                 static_cast<double>(state.iterations());
  double lookups = static_cast<double>(after.hits + after.misses - before.hits - before.misses);
  state.counters["cache_hit"] =
      lookups > 0 ? static_cast<double>(after.hits - before.hits) / lookups : 0;
}
BENCHMARK(BM_SmtProve)->Arg(0)->Arg(1);

// The light client's side: verifying one proof.
void BM_SmtVerify(benchmark::State& state) {
  World& w = GetWorld();
  Hash256 key = ItemKey(7);
  auto p = w.tree->Prove(key);
  auto v = w.tree->GetValueHash(key);
  Hash256 root = w.tree->root();
  for (auto _ : state) {
    bool ok = hallmark::core::VerifySmtProof(root, key, **v, *p);
    if (!ok) state.SkipWithError("proof does not verify");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["proof_bytes"] = static_cast<double>(hallmark::core::EncodeSmtProof(*p).size());
}
BENCHMARK(BM_SmtVerify);

// RFC 6962 root over a block's record ids (leaf hashing included).
void BM_MerkleRoot(benchmark::State& state) {
  std::vector<Hash256> ids;
  for (int64_t i = 0; i < state.range(0); ++i) ids.push_back(ItemKey(static_cast<uint64_t>(i)));
  std::vector<Hash256> leaves(ids.size());
  for (auto _ : state) {
    for (size_t i = 0; i < ids.size(); ++i)
      leaves[i] = hallmark::core::MerkleLeafHash(ids[i].span());
    benchmark::DoNotOptimize(hallmark::core::MerkleRoot(leaves));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_MerkleRoot)->Arg(1000)->Arg(10000);

}  // namespace
