// The storage side of a join by state sync (docs/state-sync.md, "Measured"): builds a chain of
// N registered items through the Ledger's own block path (records signed, blocks certified by 3
// of 4 test validators; signatures are not re-verified while building, to save time), takes a
// snapshot, and installs it into an empty ledger chunk by chunk (every check of a peer's chunk,
// then the state tree rebuilt and its root compared with the certified header's). Prints the
// time of each step. The P2P transfer of the chunks is not included.
//   hallmark-snapshot-join --items 1000000 [--dir DIR] [--threads 2] [--keep]
//     [--leveldb-mib WRITE_BUFFER MAX_FILE]   (the installing ledger's LevelDB sizes)
// --keep leaves DIR in place; a later run with --keep and the same DIR and --items reuses its chain
// and snapshot and measures the install alone again.
#define DOCTEST_CONFIG_DISABLE  // The proof fixture's checks are for tests.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "core/codec.h"
#include "core/proof_bundle.h"
#include "proof_fixture.h"
#include "storage/ledger.h"
#include "storage/proof_bundle.h"
#include "storage/snapshot.h"

using namespace hallmark;
using Clock = std::chrono::steady_clock;

namespace {

// CPU seconds (user + system, all threads) this process has used so far.
double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "hallmark-snapshot-join: %s\n", what.c_str());
  std::exit(1);
}

std::string Serial(size_t i) {
  char s[32];
  std::snprintf(s, sizeof(s), "J%09zu", i);
  return std::string("01/09506000134352/21/") + s;
}

uint64_t FolderBytes(const std::filesystem::path& p) {
  uint64_t n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(p)) {
    if (e.is_regular_file()) n += e.file_size();
  }
  return n;
}

// Steps 1 and 2: the chain of `items` registrations in `src`, and its snapshot in DIR/snapshot.
void BuildAndSnapshot(const core::Network& network, storage::Ledger& src,
                      const std::filesystem::path& dir, size_t items, size_t threads) {
  // 1. Sign the registrations on `threads` threads, then commit them in full blocks.
  auto t = Clock::now();
  std::vector<pb::Envelope> envs(items);
  {
    const core::SigningKey key = test::KeyFor("maison");
    std::vector<std::thread> pool;
    for (size_t w = 0; w < threads; ++w) {
      pool.emplace_back([&, w] {
        for (size_t i = w; i < items; i += threads) {
          pb::RecordPayload p = test::Payload(Serial(i));
          auto* a = p.mutable_register_()->add_attributes();
          a->set_key("model");
          a->set_value("Sac Aurele 30");
          envs[i] = test::Sign(key, p);
        }
      });
    }
    for (auto& th : pool) th.join();
  }
  const double sign_s = Seconds(t);
  t = Clock::now();
  const storage::SignatureCheck trusted = [](const pb::Envelope&, const core::Hash256&) {
    return std::optional<core::Rejection>();
  };
  uint64_t time_ms = test::kTestTimeMs;
  size_t next = 0;
  while (next < items) {
    time_ms += 1000;
    auto prepared = src.BuildBlock(std::span(envs).subspan(next), time_ms,
                                   test::PubFor("validator-0"), trusted);
    if (!prepared.ok()) Die(prepared.status().ToString());
    if (!prepared->dropped.empty())
      Die("a record was dropped: " + prepared->dropped[0].rejection.message);
    next += prepared->record_ids.size();
    auto cert = test::CertifyBlock(network.chain_id(), prepared->header.height(), prepared->hash);
    if (auto st = src.Commit(*prepared, core::EncodeCertificate(cert)); !st.ok()) {
      Die(st.ToString());
    }
  }
  envs.clear();
  envs.shrink_to_fit();
  const double build_s = Seconds(t);
  std::printf("chain: %zu items in %llu blocks (signing %.1f s, committing %.1f s)\n", items,
              static_cast<unsigned long long>(src.height()), sign_s, build_s);

  // 2. Take a snapshot.
  t = Clock::now();
  double cpu = CpuSeconds();
  auto m = storage::TakeSnapshot(src, dir / "snapshot");
  if (!m.ok()) Die(m.status().ToString());
  const double take_s = Seconds(t);
  const double take_cpu = CpuSeconds() - cpu;
  const uint64_t snap_bytes = FolderBytes(dir / "snapshot");
  std::printf("snapshot: height %llu, %u chunks, %.1f MiB, taken in %.1f s (%.1f s of CPU)\n",
              static_cast<unsigned long long>(m->height()), m->chunk_count(),
              static_cast<double>(snap_bytes) / (1 << 20), take_s, take_cpu);
}

}  // namespace

int main(int argc, char** argv) {
  size_t items = 100'000;
  size_t threads = 2;
  bool keep = false;
  storage::LedgerOptions dst_options;
  std::filesystem::path dir;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--items" && i + 1 < argc) {
      items = std::stoull(argv[++i]);
    } else if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (a == "--leveldb-mib" && i + 2 < argc) {  // Memtable and table sizes, MiB.
      dst_options.write_buffer_bytes = std::stoull(argv[++i]) << 20;
      dst_options.max_file_bytes = std::stoull(argv[++i]) << 20;
    } else if (a == "--keep") {
      keep = true;
    } else if (a == "--threads" && i + 1 < argc) {
      threads = std::max<size_t>(1, std::stoull(argv[++i]));
    } else {
      Die("usage: hallmark-snapshot-join --items N [--dir DIR] [--threads T] [--keep] "
          "[--leveldb-mib WB FILE]");
    }
  }
  if (dir.empty()) dir = std::filesystem::temp_directory_path() / "hallmark-snapshot-join";
  const std::filesystem::path marker = dir / "items";
  bool reuse = false;
  if (keep && std::filesystem::exists(marker)) {
    std::ifstream in(marker);
    size_t had = 0;
    reuse =
        (in >> had) && had == items && std::filesystem::exists(dir / "snapshot" / "manifest.pb");
  }
  if (!reuse) std::filesystem::remove_all(dir);
  std::filesystem::remove_all(dir / "dst");
  std::filesystem::create_directories(dir);
  const core::Network network = test::TestNetwork();
  auto src = storage::Ledger::Open(dir / "src", network, storage::LedgerOptions{.sync = false});
  if (!src.ok()) Die(src.status().ToString());
  if (reuse) {
    std::printf("reusing the chain and snapshot in %s\n", dir.c_str());
  } else {
    BuildAndSnapshot(network, **src, dir, items, threads);
    std::ofstream(marker) << items << "\n";
  }

  // 3. Install into an empty ledger: every chunk as a peer's, then the root check.
  auto dst = storage::Ledger::Open(dir / "dst", network, dst_options);
  if (!dst.ok()) Die(dst.status().ToString());
  auto t = Clock::now();
  double cpu = CpuSeconds();
  auto manifest_bytes = [&] {
    std::ifstream in(dir / "snapshot" / "manifest.pb", std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  auto manifest = storage::ParseSnapshotManifest(manifest_bytes);
  if (!manifest.ok()) Die(manifest.status().ToString());
  auto inst = storage::SnapshotInstaller::Begin(dst->get(), *manifest);
  if (!inst.ok()) Die(inst.status().ToString());
  for (uint32_t i = 0; i < manifest->chunk_count(); ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "chunk-%06u.pb", i);
    std::ifstream in(dir / "snapshot" / name, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    if (auto st = (*inst)->AddChunk(i, bytes); !st.ok()) Die(st.ToString());
  }
  const double chunks_s = Seconds(t);
  auto t_finish = Clock::now();
  if (auto st = (*inst)->Finish(); !st.ok()) Die(st.ToString());
  const double finish_s = Seconds(t_finish);
  const double install_s = Seconds(t);
  const double install_cpu = CpuSeconds() - cpu;
  if ((*dst)->StateRoot() != (*src)->StateRoot()) Die("the installed root differs");
  auto id = core::ParseItemId(Serial(items / 2));
  auto bundle = storage::BuildProofBundle(**dst, *id);
  if (!bundle.ok()) Die(bundle.status().ToString());
  if (!core::VerifyProofBundle(network, core::SerializeDeterministic(*bundle)).ok()) {
    Die("a proof from the installed ledger does not verify");
  }
  std::printf(
      "install: %.1f s, %.1f s of CPU (chunks checked and written %.1f s, state tree rebuilt and "
      "root checked %.1f s); a proof from it verifies\n",
      install_s, install_cpu, chunks_s, finish_s);
  if (!keep) std::filesystem::remove_all(dir);
  return 0;
}
