// hallmark-sim: runs the consensus simulator over a range of seeds.
//
//   hallmark-sim [--seed S] [--seeds N] [--validators 4|7] [--twins K] [--trace-hash] [--trace]
//                [--stop-on-failure]
//
// Runs seeds S .. S+N-1 (S defaults to 1, N to 1). --twins K runs Twins scenarios with K twin
// pairs instead of the fault simulation. Prints one line per failing seed with the command that
// replays it, then a summary line; exits 1 if any seed failed, 2 on bad usage.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "sim.h"

namespace {

void Usage() {
  std::fprintf(stderr,
               "usage: hallmark-sim [--seed S] [--seeds N] [--validators 4|7] [--twins K] "
               "[--trace-hash] [--trace] [--stop-on-failure]\n");
}

bool ParseU64(const char* s, uint64_t* out) {
  if (!s || !*s) return false;
  char* end = nullptr;
  *out = std::strtoull(s, &end, 10);
  return *end == '\0';
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = 1;
  uint64_t seeds = 1;
  uint64_t validators = 0;
  uint64_t twins = 0;
  bool trace_hash = false;
  bool trace = false;
  bool stop_on_failure = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const char* next = i + 1 < argc ? argv[i + 1] : nullptr;
    bool ok = true;
    if (arg == "--seed") {
      ok = ParseU64(next, &seed), ++i;
    } else if (arg == "--seeds") {
      ok = ParseU64(next, &seeds) && seeds > 0, ++i;
    } else if (arg == "--validators") {
      ok = ParseU64(next, &validators) && (validators == 4 || validators == 7), ++i;
    } else if (arg == "--twins") {
      ok = ParseU64(next, &twins) && twins <= 2, ++i;
    } else if (arg == "--trace-hash") {
      trace_hash = true;
    } else if (arg == "--trace") {
      trace = true;
    } else if (arg == "--stop-on-failure") {
      stop_on_failure = true;
    } else {
      ok = false;
    }
    if (!ok) {
      Usage();
      return 2;
    }
  }
  if (twins > 0 && validators != 0 && twins > (validators - 1) / 3) {
    std::fprintf(stderr, "hallmark-sim: %llu twin pairs exceed f for %llu validators\n",
                 static_cast<unsigned long long>(twins),
                 static_cast<unsigned long long>(validators));
    return 2;
  }

  const auto started = std::chrono::steady_clock::now();
  uint64_t failed = 0, ran = 0, heights = 0, evidence = 0, crashes = 0, max_round = 0;
  for (uint64_t s = seed; s < seed + seeds; ++s) {
    hallmark::sim::SimOptions options;
    options.seed = s;
    options.validators = static_cast<int>(validators);
    options.twins = static_cast<int>(twins);
    options.print_trace = trace;
    hallmark::sim::SimResult r = hallmark::sim::RunSimulation(options);
    ++ran;
    heights += r.heights;
    evidence += r.evidence;
    crashes += r.crashes;
    max_round = std::max(max_round, r.max_round);
    if (trace_hash)
      std::printf("seed %llu trace-hash %s\n", static_cast<unsigned long long>(s),
                  r.trace_hash.Hex().c_str());
    if (!r.ok) {
      ++failed;
      std::printf("FAIL seed %llu (n=%d%s): %s\n  replay: %s --seed %llu --validators %d%s\n",
                  static_cast<unsigned long long>(s), r.validators,
                  twins ? (", twins=" + std::to_string(twins)).c_str() : "", r.failure.c_str(),
                  argv[0], static_cast<unsigned long long>(s), r.validators,
                  twins ? (" --twins " + std::to_string(twins)).c_str() : "");
      std::fflush(stdout);
      if (stop_on_failure) break;
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf(
      "hallmark-sim: %llu %s from seed %llu, %llu failed; %llu heights committed, max round %llu, "
      "%llu crashes, %llu evidence; %.1f s\n",
      static_cast<unsigned long long>(ran), twins ? "twins scenarios" : "seeds",
      static_cast<unsigned long long>(seed), static_cast<unsigned long long>(failed),
      static_cast<unsigned long long>(heights), static_cast<unsigned long long>(max_round),
      static_cast<unsigned long long>(crashes), static_cast<unsigned long long>(evidence), secs);
  return failed ? 1 : 0;
}
