#pragma once

// A deterministic simulator that drives the real consensus engines of n validators with a
// manual clock and a seeded network (delays, loss, duplication, reordering, partitions,
// crashes and restarts, clock skew), or runs Twins scenarios (a validator run twice with one
// key), and checks the safety and liveness invariants after every event.
//
// One seed gives one byte-identical trace: the only randomness is a std::mt19937_64 seeded from
// the options, with distributions written here (std:: distributions differ across libraries),
// and nothing iterates an unordered container.

#include <cstdint>
#include <string>

#include "core/bytes.h"

namespace hallmark::sim {

struct SimOptions {
  uint64_t seed = 1;
  int validators = 0;  // 4 or 7; 0 picks by seed (odd: 4, even: 7).
  int twins = 0;       // Twin pairs; 0 runs the fault simulation instead of Twins.
  bool print_trace = false;
  // Check only what a deployment would notice (agreement, validity, double signs, bounded
  // memory, liveness), not the certificate re-check or the restored-lock check, to show that
  // a broken engine is caught by those too.
  bool deployment_invariants_only = false;
  // Validator set changes during the run (docs/consensus.md, "The simulator"): kMixed has them
  // in every third seed (seed % 3 == 0).
  enum class SetChanges { kMixed, kAlways, kNever };
  SetChanges set_changes = SetChanges::kMixed;
  // Quorum loss: when nonzero, the run stops f + 1 validators (SIGSTOP: their timers and the
  // messages sent to them wait) or cuts them off (their timers run, messages are lost) for this
  // long, then heals, and fails unless a new height is committed within recovery_bound_ms of
  // healing (0: two capped rounds, see QuorumLossBoundMs). No other faults in such a run.
  uint64_t quorum_loss_ms = 0;
  uint64_t recovery_bound_ms = 0;
};

struct SimResult {
  bool ok = true;
  std::string failure;  // The first invariant violated, with the simulated time.
  core::Hash256 trace_hash;
  int validators = 0;
  uint64_t heights = 0;    // Highest height committed by any node.
  uint64_t max_round = 0;  // Highest round of any commit certificate.
  uint64_t evidence = 0;   // Pieces of evidence reported by honest nodes.
  uint64_t crashes = 0;
  uint64_t set_changes = 0;  // Validator sets scheduled after the first.
  uint64_t events = 0;
  uint64_t simulated_ms = 0;
  // Quorum-loss runs: from healing to the first commit of a new height, and the bound used.
  uint64_t recovery_ms = 0;
  uint64_t recovery_bound_ms = 0;
};

SimResult RunSimulation(const SimOptions& options);

}  // namespace hallmark::sim
