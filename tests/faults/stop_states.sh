#!/usr/bin/env bash
# A clean stop in the states sigterm_loop.sh does not reach (issue 15): while a snapshot is
# taken, and while a fresh observer installs a snapshot by state sync.
#
#  (a) Four validators hold a 40,000 items and take a snapshot every 10 blocks. node0 gets
#      SIGTERM right after it logs "snapshot at height N: started": it must exit 0 within 10 s
#      having logged "stopped at height", and the take must have been cancelled, not waited for
#      (a stop that lets the take finish logs the take's "… items in … chunks" line after
#      "signal 15"). Restarted, it takes snapshots again.
#  (b) A fresh observer with state_sync gets SIGTERM at random moments of its install (0-0.1 s
#      after it begins or resumes), up to 7 times until the install is done:
#      each stop exits 0 within 10 s with "stopped at height", and at least 2 land during the
#      install (logged "state sync: stopped during the install"); (c) the 2nd stop is a kill -9
#      during the install. Restarted each time, it finishes the install, reaches the validators'
#      head with the same blocks, and serves proofs that `hallmark verify` accepts against
#      genesis.json alone.
#
#   stop_states.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
hm_init "$1" stop-states 23420
items=${HALLMARK_STOP_ITEMS:-40000}

hm_testnet --validators 4 --observers 1
python3 - "$dir" <<'PY'
import json, pathlib, sys
d = pathlib.Path(sys.argv[1])
for n in range(4):
    p = d / f"node{n}" / "config.json"
    c = json.loads(p.read_text())
    c["snapshot_interval"] = 10
    p.write_text(json.dumps(c, indent=2))
p = d / "observer0" / "config.json"
c = json.loads(p.read_text())
c["state_sync"] = True
p.write_text(json.dumps(c, indent=2))
PY
for n in 0 1 2 3; do hm_start "$n"; done
wait_up 60 0 1 2 3

for i in 1 2 3; do hm_submit "$i" "STOP-$i"; done
wait_committed 0 STOP-3 60
"$bin/hallmark-bench" write --genesis "$dir/genesis.json" --keys "$dir/keys" \
  --node "$(api 0)" --node "$(api 1)" --node "$(api 2)" --node "$(api 3)" \
  --records "$items" --transfer-share 0 --clients 16 --drain-s 60 >"$dir/load.log" 2>&1 ||
  fail "the load did not commit: $(tail -3 "$dir/load.log")"
pass "$items items committed"

now() { date +%s.%N; }
# SIGTERMs node/observer WHO; fails unless it exits 0 within 10 s with one more "stopped at
# height" line. Sets stop_s to the seconds the stop took.
clean_stop() {  # WHO WHAT
  local who=$1 home rc=0 before after t0
  home=$(hm_home "$who")
  before=$(grep -c "stopped at height" "$home/log" || true)
  t0=$(now)
  kill -TERM "${hm_pids[$who]}"
  local pid=${hm_pids[$who]}
  (sleep 10 && kill -KILL "$pid" 2>/dev/null) &
  local guard=$!
  wait "$pid" || rc=$?
  stop_s=$(python3 -c "print(f'{$(now) - $t0:.2f}')")
  kill "$guard" 2>/dev/null || true
  wait "$guard" 2>/dev/null || true
  unset "hm_pids[$who]"
  after=$(grep -c "stopped at height" "$home/log" || true)
  ((rc == 0 && after == before + 1)) ||
    fail "$2: $(hm_home "$who") exited $rc after $stop_s s (a stop must exit 0 within 10 s); 'stopped at height' lines $before -> $after"
}

# (a) SIGTERM while a snapshot is taken. A take may end before the signal lands; then try again
# at the next snapshot (at most 6 tries).
log0=$dir/node0/log
cancelled=0
for try in 1 2 3 4 5 6; do
  starts=$(grep -c "snapshot at height [0-9]*: started" "$log0" || true)
  deadline=$((SECONDS + 60))
  while (($(grep -c "snapshot at height [0-9]*: started" "$log0" || true) == starts)); do
    ((SECONDS < deadline)) || fail "node0 started no snapshot within 60 s"
    sleep 0.02
  done
  mark=$(wc -l <"$log0")
  clean_stop 0 "a stop during a snapshot"
  tail -n +"$((mark + 1))" "$log0" >"$dir/stop-$try.log"
  if grep -q "snapshot: cancelled by the stop" "$dir/stop-$try.log"; then
    cancelled=1
    pass "node0 stopped during a snapshot in $stop_s s, the take cancelled ($(grep -o 'cancelled by the stop after [0-9.]* s' "$dir/stop-$try.log"))"
    break
  fi
  if sed -n '/signal 15: stopping/,$p' "$dir/stop-$try.log" | grep -q "snapshot at height [0-9]*: [0-9]* items"; then
    fail "the stop waited for the snapshot to finish ($stop_s s) instead of cancelling it: $(cat "$dir/stop-$try.log")"
  fi
  echo "try $try: the take ended before the signal; again at the next snapshot"
  hm_start 0
  wait_height 0 1 60
done
((cancelled)) || fail "no SIGTERM landed during a snapshot in 6 tries"
ls "$dir/node0/data/snapshots" 2>/dev/null | grep -q taking.tmp &&
  fail "the cancelled take left its folder: $(ls "$dir/node0/data/snapshots")"
takes=$(grep -c "snapshot at height [0-9]*: [0-9]* items" "$log0" || true)
hm_start 0
wait_height 0 1 60
deadline=$((SECONDS + 60))
until (($(grep -c "snapshot at height [0-9]*: [0-9]* items" "$log0" || true) > takes)); do
  ((SECONDS < deadline)) || fail "node0 took no snapshot within 60 s of its restart"
  sleep 0.2
done
pass "node0 takes snapshots again after the restart: $(grep "snapshot at height [0-9]*: [0-9]* items" "$log0" | tail -1 | sed 's/.*snapshot at/snapshot at/')"

# (b) SIGTERM at random moments of the observer's install, up to 7 times, and (c) a kill -9 (the 2nd
# stop). Peers take a snapshot every 5 s, so a restart often begins a newer one from scratch.
logo=$dir/observer0/log
RANDOM=${HALLMARK_SEED:-15}
during=0
killed_during=0
hm_start o0 --observer
for i in 1 2 3 4 5 6 7 8; do
  deadline=$((SECONDS + 60))
  until grep -q "state sync: installing the snapshot\|state sync: installed\|started: chain" "$logo"; do
    ((SECONDS < deadline)) || fail "the observer began no install within 60 s"
    hm_alive o0 || fail "the observer exited"
    sleep 0.02
  done
  grep -q "state sync: installing the snapshot" "$logo" || break  # Installed already.
  # At most 0.1 s into it: on a quiet machine the whole install of 40,000 items takes about a
  # second, and what is left of it after a restart less.
  sleep "0.$(printf '%03d' $((RANDOM % 100)))"
  if ((i == 2)); then
    hm_kill o0
    grep -q "state sync: installed" "$logo" || killed_during=1
    echo "kill -9 $i: $( ((killed_during)) && echo during || echo after) the install"
  else
    clean_stop o0 "SIGTERM $i during the install"
    if grep -q "state sync: stopped during the install" "$logo"; then
      during=$((during + 1))
      echo "SIGTERM $i: stopped during the install in $stop_s s"
    else
      echo "SIGTERM $i: the install had finished ($stop_s s)"
    fi
  fi
  mv "$logo" "$logo.$i"
  hm_start o0 --observer
done
((during >= 2)) || fail "only $during of the SIGTERMs stopped the install (logged \"state sync: stopped during the install\"); the others found it finished or let it run to the end"
((killed_during)) || fail "the kill -9 did not land during the install"
deadline=$((SECONDS + 120))
until grep -q "state sync: installed the snapshot at height" "$logo"* 2>/dev/null && grep -q "started: chain" "$logo"; do
  ((SECONDS < deadline)) || fail "the observer did not finish its install and start within 120 s after the stops"
  hm_alive o0 || fail "the observer exited"
  sleep 0.2
done
pass "$during SIGTERMs during the install were clean and prompt, and a kill -9 landed in it; then the install finished: $(grep -ho 'state sync: installed.*' "$logo"* | tail -1)"

snap=$(cat "$logo"* | sed -n 's/.*installed the snapshot at height \([0-9]*\).*/\1/p' | tail -1)
wait_height o0 "$(height 0)" 120
h=$(height o0)
block_hash() { curl -fsS "$(api "$1")/v1/blocks/$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hash"])'; }
for at in $((snap + 1)) $(((snap + h) / 2)) "$h"; do
  for n in 0 1 2 3; do
    a=$(block_hash "$n" "$at")
    b=$(block_hash o0 "$at")
    [[ -n $a && $a == "$b" ]] || fail "block $at differs between node$n and the observer: $a vs $b"
  done
done
for i in 1 2 3; do
  "$bin/hallmark" verify "01/00614141000012/21/STOP-$i" --genesis "$dir/genesis.json" \
    --node "$(api o0)" --trust-dir "$dir/trust-$i" >/dev/null 2>>"$dir/verify-stderr" ||
    fail "verify of STOP-$i through the observer: $(tail -3 "$dir/verify-stderr")"
done
pass "the observer reached the head $h with the validators' blocks from $((snap + 1)) and serves proofs that verify"
