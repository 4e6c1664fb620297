#!/usr/bin/env bash
# A record answered 202 survives a clean stop of the node that accepted it (issue 15, item 2).
# Only node0 runs, so nothing can commit: 20 registrations wait in its mempool. node0 gets
# SIGTERM, starts again, and then the other three validators start: all 20 commit. A damaged
# saved file is ignored with a warning and the node starts.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
hm_init "$1" mempool 22300

hm_testnet --validators 4
hm_start 0
deadline=$((SECONDS + 60))
until curl -fsS --max-time 2 "$(api 0)/v1/health" >/dev/null 2>&1; do
  ((SECONDS < deadline)) || fail "node0 did not answer"
  sleep 0.2
done
for i in $(seq 1 20); do hm_submit 0 "WAIT-$i"; done

kill -TERM "${hm_pids[0]}"
wait "${hm_pids[0]}" || fail "node0 did not stop cleanly"
unset "hm_pids[0]"
grep -q "saved 20 waiting records" "$(hm_home 0)/log" || fail "node0 did not save its 20 waiting records"

hm_start 0
for n in 1 2 3; do hm_start "$n"; done
wait_up 60 0 1 2 3
grep -q "admitted 20 of the 20 records saved at the last stop" "$(hm_home 0)/log" ||
  fail "node0 did not admit its saved records again"
for i in $(seq 1 20); do echo "01/00614141000012/21/WAIT-$i"; done >"$dir/ids"
python3 "$hm_here/hm.py" committed "$(api 1)" "$dir/ids" 60 || fail "the saved records did not commit"

# A damaged file: ignored, removed, and the node runs.
kill -TERM "${hm_pids[0]}"
wait "${hm_pids[0]}" || true
unset "hm_pids[0]"
file=$(sed -n 's/.*saved [0-9]* waiting records to \(.*\); they.*/\1/p' "$(hm_home 0)/log" | tail -1)
[[ -n $file ]] || file="$(hm_home 0)/data/mempool.pb"
printf '\xff\xff\xff\xff garbage' >"$file"
hm_start 0
wait_height 0 1 60
grep -q "is not a saved mempool" "$(hm_home 0)/log" || fail "the damaged file was not reported"
[[ ! -e $file ]] || fail "the damaged file was left behind"
pass "20 records accepted with no quorum survived a clean stop and committed; a damaged saved file is ignored"
