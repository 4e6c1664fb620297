#!/usr/bin/env bash
# Recovery after a lost quorum is bounded, whatever the outage's length (issue 15, item 3).
# Four validators make a block every 500 ms; two of them are stopped (SIGSTOP) for OUTAGE_S
# seconds, so the other two time out round after round; then both continue (SIGCONT). Before
# round timeouts were capped (consensus.timeout_max_growth_ms), the wait after healing grew with
# the outage: 2-9 s after 20-30 s. Measured here after 60 s: 6.6 and 14.5 s with the cap,
# 15.2 s without it (HALLMARK_MAX_GROWTH_MS=4000000000); the cap matters most for outages of
# minutes, where uncapped rounds last tens of seconds. The wait is still up to about two capped
# rounds (~16 s): validators that were cut off enter their peers' round late. CTest checks a
# 20 s outage against a 25 s bound (a slow machine must not fail it); the wait is printed.
#   quorum_loss.sh BIN_DIR [OUTAGE_S (20)] [BOUND_S (25)]
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
hm_init "$1" quorum-loss 23800
outage=${2:-20}
bound=${3:-25}

hm_testnet --validators 4
# HALLMARK_MAX_GROWTH_MS sets consensus.timeout_max_growth_ms, e.g. 4000000000 to compare with
# timeouts that grow without bound.
if [[ -n ${HALLMARK_MAX_GROWTH_MS:-} ]]; then
  python3 - "$dir" "$HALLMARK_MAX_GROWTH_MS" <<'PY'
import json, pathlib, sys
for p in pathlib.Path(sys.argv[1]).glob("**/genesis.json"):
    g = json.loads(p.read_text())
    g["consensus"]["timeout_max_growth_ms"] = int(sys.argv[2])
    p.write_text(json.dumps(g, indent=2))
PY
  rm -rf "$dir"/node*/data/ledger  # Made for the old genesis; made again at start.
fi
for n in 0 1 2 3; do hm_start "$n"; done
wait_up 60 0 1 2 3
wait_height 0 3 60

kill -STOP "${hm_pids[2]}" "${hm_pids[3]}"
stopped_at=$(height 0)
sleep "$outage"
[[ $(height 0) == "$stopped_at" ]] || fail "node0 committed with two of four validators stopped"
before=$(height 0)
healed=$(date +%s.%N)
kill -CONT "${hm_pids[2]}" "${hm_pids[3]}"
deadline=$((SECONDS + 120))
until h=$(height 0) && [[ -n $h && $h -gt $before ]]; do
  ((SECONDS < deadline)) || fail "no commit within 120 s of healing"
  sleep 0.05
done
wait_s=$(python3 -c "import time; print(f'{time.time() - $healed:.2f}')")
rounds=$(curl -fsS --max-time 5 "$(api 0)/metrics" | sed -n 's/^hallmark_consensus_round_changes_total \([0-9.e+]*\)$/\1/p')
echo "outage ${outage} s: first commit ${wait_s} s after healing (node0 round changes: ${rounds:-?})"
python3 -c "import sys; sys.exit(0 if $wait_s <= $bound else 1)" ||
  fail "commits resumed ${wait_s} s after healing, more than ${bound} s"
wait_height 2 $((before + 2)) 60
hm_chain 0 1 2 3
no_equivocation
pass "after ${outage} s without a quorum, commits resumed ${wait_s} s after healing"
