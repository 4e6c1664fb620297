#!/usr/bin/env bash
# A clean stop every time (issue 15, item 1): a 4-validator testnet under steady write load;
# one validator after another gets SIGTERM at a random moment, must exit 0 having logged
# "stopped at height", and is started again. Any crash (signal exit, a missing "stopped" line)
# fails the test. At the end all four chains agree and no validator signed twice.
#
#   sigterm_loop.sh BIN_DIR [STOPS]      (STOPS default 24; `make chaos` runs 200+)
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
hm_init "$1" sigterm 22000
stops=${2:-24}

hm_testnet --validators 4
for n in 0 1 2 3; do hm_start "$n"; done
wait_up 60 0 1 2 3

# Steady load (open loop, ~150 records/s) spread over all four nodes, for the whole test.
"$bin/hallmark-bench" write --genesis "$dir/genesis.json" --keys "$dir/keys" \
  --node "$(api 0)" --node "$(api 1)" --node "$(api 2)" --node "$(api 3)" \
  --records $((150 * (2 * stops + 20))) --rate 150 --clients 8 --drain-s 1 >"$dir/load.log" 2>&1 &
load_pid=$!
# Records are signed before the first is sent: wait until blocks carry them.
deadline=$((SECONDS + 120))
until (( $(python3 "$hm_here/hm.py" chain "$(api 0)" | cut -d' ' -f2) > 0 )); do
  ((SECONDS < deadline)) || fail "the load never reached the chain: $(tail -3 "$dir/load.log")"
  sleep 0.5
done

RANDOM=${HALLMARK_SEED:-12}
crashes=0
for ((i = 1; i <= stops; i++)); do
  n=$((i % 4))
  home=$(hm_home "$n")
  # A random moment: 0..600 ms after the node came up again.
  sleep "0.$(printf '%03d' $((RANDOM % 600)))"
  before=$(grep -c "stopped at height" "$home/log" || true)
  kill -TERM "${hm_pids[$n]}"
  rc=0
  wait "${hm_pids[$n]}" || rc=$?
  unset "hm_pids[$n]"
  after=$(grep -c "stopped at height" "$home/log" || true)
  if ((rc != 0 || after != before + 1)); then
    crashes=$((crashes + 1))
    echo "stop $i of node$n: exit $rc, 'stopped at height' lines $before -> $after"
    tail -5 "$home/log"
  fi
  hm_start "$n"
  wait_height "$n" 1 60
done
kill "$load_pid" 2>/dev/null || true
wait "$load_pid" 2>/dev/null || true

((crashes == 0)) || fail "$crashes of $stops SIGTERM stops were not clean"
h=$(height 0)
for n in 1 2 3; do wait_height "$n" "$h" 60; done
hm_chain 0 1 2 3
no_equivocation
# While a validator is down its turns as proposer time out and the others enter round 1, and
# count it: node3 stays down while the others commit 8 more heights (its turn comes in any 4
# consecutive heights at equal power).
kill -TERM "${hm_pids[3]}"
wait "${hm_pids[3]}" || true
unset "hm_pids[3]"
wait_height 0 $(($(height 0) + 8)) 120
rounds=0
for n in 0 1 2; do
  r=$(curl -fsS --max-time 5 "$(api "$n")/metrics" | sed -n 's/^hallmark_consensus_round_changes_total \([0-9]*\).*/\1/p')
  rounds=$((rounds + ${r:-0}))
done
((rounds > 0)) || fail "hallmark_consensus_round_changes_total stayed 0 on every node"
pass "$stops SIGTERM stops under load, all clean; chains agree to height $chain_height ($chain_records records); $rounds round changes counted"
