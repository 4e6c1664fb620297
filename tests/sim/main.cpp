// hallmark-sim: runs the consensus simulator over a range of seeds.
//
//   hallmark-sim [--seed S] [--seeds N] [--validators 4|7] [--twins K] [--trace-hash] [--trace]
//                [--stop-on-failure] [--check-determinism] [--ci-budget] [--expect-failure]
//                [--deployment-invariants] [--set-changes mixed|always|never]
//                [--quorum-loss MS [--recovery-bound-ms MS]]
//
// Runs seeds S .. S+N-1 (S defaults to 1, N to 1). --twins K runs Twins scenarios with K twin
// pairs instead of the fault simulation. Prints one line per failing seed with the command that
// replays it, then a summary line; exits 1 if any seed failed, 2 on bad usage.
//
// --check-determinism runs every seed twice and fails it when the two traces differ.
// --ci-budget runs the CI budget in one go: Twins scenarios 1..1000 at n = 4 with one pair and
// 1..1000 at n = 7 with two pairs, then fault seeds 1..500 (n = 4 and 7 mixed).
// --expect-failure (for the deliberately broken builds) stops at the first failure and inverts
// the exit status: 0 when some seed failed, 1 when every seed passed.
// --deployment-invariants checks only agreement, validity, double signs, bounded memory and
// liveness: no certificate re-check and no restored-lock check.
// --set-changes: validator set changes during the run in every third seed (mixed, the default),
// in every seed, or in none.
// --quorum-loss MS: each seed stops (SIGSTOP) or cuts off f + 1 validators for MS ms and fails
// unless a new height is committed within the recovery bound of healing (default: two rounds at
// the capped timeouts); the summary gives the slowest and the mean wait.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "sim.h"

namespace {

void Usage() {
  std::fprintf(stderr,
               "usage: hallmark-sim [--seed S] [--seeds N] [--validators 4|7] [--twins K] "
               "[--trace-hash] [--trace] [--stop-on-failure] [--check-determinism] [--ci-budget] "
               "[--expect-failure] [--deployment-invariants] [--set-changes mixed|always|never] "
               "[--quorum-loss MS [--recovery-bound-ms MS]]\n");
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
  bool check_determinism = false;
  bool ci_budget = false;
  uint64_t quorum_loss_ms = 0;
  uint64_t recovery_bound_ms = 0;
  bool expect_failure = false;
  bool deployment_invariants = false;
  auto set_changes = hallmark::sim::SimOptions::SetChanges::kMixed;
  std::string set_changes_arg;
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
    } else if (arg == "--check-determinism") {
      check_determinism = true;
    } else if (arg == "--ci-budget") {
      ci_budget = true;
    } else if (arg == "--deployment-invariants") {
      deployment_invariants = true;
    } else if (arg == "--set-changes") {
      using S = hallmark::sim::SimOptions::SetChanges;
      const std::string v = next ? next : "";
      ok = v == "mixed" || v == "always" || v == "never", ++i;
      set_changes = v == "always" ? S::kAlways : (v == "never" ? S::kNever : S::kMixed);
      if (v != "mixed") set_changes_arg = " --set-changes " + v;
    } else if (arg == "--quorum-loss") {
      ok = ParseU64(next, &quorum_loss_ms) && quorum_loss_ms > 0, ++i;
    } else if (arg == "--recovery-bound-ms") {
      ok = ParseU64(next, &recovery_bound_ms) && recovery_bound_ms > 0, ++i;
    } else if (arg == "--expect-failure") {
      expect_failure = stop_on_failure = true;
    } else {
      ok = false;
    }
    if (!ok) {
      Usage();
      return 2;
    }
  }
  if (quorum_loss_ms > 0 && (twins > 0 || ci_budget)) {
    std::fprintf(stderr, "hallmark-sim: --quorum-loss runs alone (no --twins, no --ci-budget)\n");
    return 2;
  }
  if (recovery_bound_ms > 0 && quorum_loss_ms == 0) {
    Usage();
    return 2;
  }
  if (twins > 0 && validators != 0 && twins > (validators - 1) / 3) {
    std::fprintf(stderr, "hallmark-sim: %llu twin pairs exceed f for %llu validators\n",
                 static_cast<unsigned long long>(twins),
                 static_cast<unsigned long long>(validators));
    return 2;
  }

  struct Run {
    uint64_t seed, seeds, validators, twins;
  };
  std::vector<Run> runs;
  if (ci_budget) {
    runs = {{1, 1000, 4, 1}, {1, 1000, 7, 2}, {1, 500, 0, 0}};
  } else {
    runs = {{seed, seeds, validators, twins}};
  }

  const auto started = std::chrono::steady_clock::now();
  uint64_t failed = 0, ran = 0, heights = 0, evidence = 0, crashes = 0, max_round = 0, changes = 0;
  uint64_t recovery_max = 0, recovery_sum = 0, recovery_bound = 0;
  for (const Run& run : runs) {
    for (uint64_t s = run.seed; s < run.seed + run.seeds; ++s) {
      if (stop_on_failure && failed) break;
      hallmark::sim::SimOptions options;
      options.seed = s;
      options.validators = static_cast<int>(run.validators);
      options.twins = static_cast<int>(run.twins);
      options.print_trace = trace;
      options.deployment_invariants_only = deployment_invariants;
      options.set_changes = set_changes;
      options.quorum_loss_ms = quorum_loss_ms;
      options.recovery_bound_ms = recovery_bound_ms;
      hallmark::sim::SimResult r = hallmark::sim::RunSimulation(options);
      if (r.ok && check_determinism) {
        options.print_trace = false;
        hallmark::sim::SimResult again = hallmark::sim::RunSimulation(options);
        if (again.trace_hash != r.trace_hash) {
          r.ok = false;
          r.failure = "determinism: two runs of the seed gave different traces";
        }
      }
      ++ran;
      heights += r.heights;
      evidence += r.evidence;
      crashes += r.crashes;
      changes += r.set_changes;
      max_round = std::max(max_round, r.max_round);
      recovery_max = std::max(recovery_max, r.recovery_ms);
      recovery_sum += r.recovery_ms;
      recovery_bound = r.recovery_bound_ms;
      if (trace_hash)
        std::printf("seed %llu trace-hash %s\n", static_cast<unsigned long long>(s),
                    r.trace_hash.Hex().c_str());
      if (!r.ok) {
        ++failed;
        const std::string twins_note = run.twins ? ", twins=" + std::to_string(run.twins) : "";
        std::string twins_arg = run.twins ? " --twins " + std::to_string(run.twins) : "";
        if (quorum_loss_ms > 0) {
          twins_arg += " --quorum-loss " + std::to_string(quorum_loss_ms);
          if (recovery_bound_ms > 0)
            twins_arg += " --recovery-bound-ms " + std::to_string(recovery_bound_ms);
        }
        std::printf("FAIL seed %llu (n=%d%s): %s\n  replay: %s --seed %llu --validators %d%s%s\n",
                    static_cast<unsigned long long>(s), r.validators, twins_note.c_str(),
                    r.failure.c_str(), argv[0], static_cast<unsigned long long>(s), r.validators,
                    twins_arg.c_str(), set_changes_arg.c_str());
        std::fflush(stdout);
      }
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf(
      "hallmark-sim: %llu %s from seed %llu, %llu failed; %llu heights committed, max round %llu, "
      "%llu crashes, %llu evidence, %llu validator set changes; %.1f s\n",
      static_cast<unsigned long long>(ran),
      ci_budget ? "runs (CI budget)" : (twins ? "twins scenarios" : "seeds"),
      static_cast<unsigned long long>(seed), static_cast<unsigned long long>(failed),
      static_cast<unsigned long long>(heights), static_cast<unsigned long long>(max_round),
      static_cast<unsigned long long>(crashes), static_cast<unsigned long long>(evidence),
      static_cast<unsigned long long>(changes), secs);
  if (quorum_loss_ms > 0 && ran > 0)
    std::printf(
        "hallmark-sim: quorum lost for %llu ms; first commit after healing: slowest %llu ms, "
        "mean %llu ms (bound %llu ms)\n",
        static_cast<unsigned long long>(quorum_loss_ms),
        static_cast<unsigned long long>(recovery_max),
        static_cast<unsigned long long>(recovery_sum / ran),
        static_cast<unsigned long long>(recovery_bound));
  if (expect_failure) {
    std::printf("hallmark-sim: %s\n",
                failed ? "the broken build was caught" : "the broken build was NOT caught");
    return failed ? 0 : 1;
  }
  return failed ? 1 : 0;
}
