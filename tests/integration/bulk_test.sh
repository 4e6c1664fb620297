#!/usr/bin/env bash
# Real processes on loopback: `hallmark register --from` a CSV of 20,000 bags (3 bad lines) into a
# 4-validator network; part-way, one validator and then the CLI itself are killed with SIGKILL;
# the validator restarts and the same command runs again. Every good line must be registered
# exactly once (counted over every block), the bad lines reported by line number, and the last
# run must say that the earlier runs' items were already there. An earlier run is stopped with
# SIGINT (Ctrl-C) first: it must exit 4 with its report written.
# Usage: bulk_test.sh BIN_DIR [ITEMS]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
hm_init "$1" bulk 20500
items=${2:-20000}

hm_testnet --validators 4
for i in 0 1 2 3; do hm_start "$i"; done
wait_up 60 0 1 2 3
pass "4 validators up"

# The file: item,attr:model,attr:n; bad lines at 101 (check digit), 5001 (column count) and
# 15001 (the item of line 2 again). Line L holds item L-1 otherwise.
csv=$dir/bags.csv
python3 - "$csv" "$items" "$dir/ids" <<'PY'
import sys
path, n, ids_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
gtin = "00614141000012"
with open(path, "w") as f, open(ids_path, "w") as ids:
    f.write("item,attr:model,attr:n\n")
    line = 1
    for i in range(1, n + 1):
        line += 1
        if line == 101:
            f.write(f"01/00614141000013/21/BK-{i},\"Speedy, 30\",{i}\n")
        elif line == 5001:
            f.write(f"01/{gtin}/21/BK-{i},Speedy\n")
        elif line == 15001:
            f.write(f"01/{gtin}/21/BK-1,Speedy,1\n")
        else:
            f.write(f"01/{gtin}/21/BK-{i},\"Speedy, 30\",{i}\n")
            ids.write(f"01/{gtin}/21/BK-{i}\n")
PY
good=$(wc -l <"$dir/ids")
nodes=(--node "$(api 0)" --node "$(api 1)" --node "$(api 2)" --node "$(api 3)")
cmd=("$bin/hallmark" "${nodes[@]}" register --from "$csv" --key "$dir/keys/maison-aurele.key"
  --clients 8 --timeout 120)

# Ctrl-C first: the CLI stops sending, waits for what is in flight, writes the report, exits 4.
"${cmd[@]}" >"$dir/run0.out" 2>"$dir/run0.err" &
cli=$!
hm_pids[cli]=$cli
sed -n '500p' "$dir/ids" >"$dir/one-id"
python3 "$hm_here/hm.py" committed "$(api 0)" "$dir/one-id" 120 || fail "the first run stalled"
kill -INT "$cli"
set +e
wait "$cli"
code=$?
set -e
unset "hm_pids[cli]"
[[ $code -eq 4 ]] || fail "after SIGINT the CLI exited $code, not 4: $(tail -3 "$dir/run0.err")"
grep -q interrupted "$dir/run0.err" || fail "after SIGINT the CLI did not say it was interrupted"
[[ $(grep -c ',committed,' "$csv.report.csv") -ge 500 ]] || fail "the interrupted run's report lacks its commits"
grep -q ',not-sent,\|,pending,' "$csv.report.csv" || fail "the interrupted run's report shows nothing left to do"
pass "SIGINT: exit 4, report written with $(grep -c ',committed,' "$csv.report.csv") committed"

t0=$SECONDS
"${cmd[@]}" >"$dir/run1.out" 2>"$dir/run1.err" &
cli=$!
hm_pids[cli]=$cli
# Part-way: a validator dies, then the CLI.
sed -n '2000p' "$dir/ids" >"$dir/one-id"
python3 "$hm_here/hm.py" committed "$(api 0)" "$dir/one-id" 120 || fail "the first run stalled"
hm_kill 3
pass "validator 3 killed with SIGKILL while the CLI runs"
sed -n '6000p' "$dir/ids" >"$dir/one-id"
python3 "$hm_here/hm.py" committed "$(api 0)" "$dir/one-id" 120 || fail "the first run stalled without validator 3"
kill -0 "$cli" 2>/dev/null || fail "the first run ended before it could be killed: $(cat "$dir/run1.out" "$dir/run1.err")"
kill -KILL "$cli"
wait "$cli" 2>/dev/null || true
unset "hm_pids[cli]"
pass "the CLI killed with SIGKILL part-way ($((SECONDS - t0)) s in)"
journal=$csv.report.csv.journal
[[ -s $journal ]] || fail "the killed run left no journal of its signed envelopes"

hm_start 3
wait_height 3 1 60

set +e
"${cmd[@]}" >"$dir/run2.out" 2>"$dir/run2.err"
code=$?
set -e
cat "$dir/run2.out"
[[ $code -eq 2 ]] || fail "the second run exited $code, not 2 (bad lines): $(tail -5 "$dir/run2.err")"
field() { sed -n "s/^$1: *\([0-9]*\).*/\1/p" "$dir/run2.out"; }
committed=$(field committed)
already=$(field "already there")
bad=$(field "bad lines")
[[ $bad -eq 3 ]] || fail "$bad bad lines reported, not 3"
[[ $already -gt 0 ]] || fail "the second run found nothing already there"
[[ $((committed + already)) -eq $good ]] ||
  fail "committed $committed + already there $already is not the $good good lines"
[[ ! -e $journal ]] || fail "the journal is still there after a run that finished everything"
pass "second run: $committed committed, $already already there, 3 bad lines"

report=$csv.report.csv
for l in 101 5001 15001; do
  grep -q "^$l,.*,invalid,," "$report" || fail "line $l is not reported invalid: $(grep "^$l," "$report")"
done
grep -q '^15001,.*line 2' "$report" || fail "the duplicate on line 15001 does not name line 2"
[[ $(grep -c ',committed,\|,already-committed,' "$report") -eq $good ]] || fail "the report does not list every good line as committed"
pass "the report names the 3 bad lines by number"

# Every good item registered exactly once, and no other registrations, over every block.
target=$(height 0)
out=$(python3 "$hm_here/hm.py" registers "$(api 0)" "$dir/ids") || fail "$out"
read -r n regs <<<"$out"
[[ $regs -eq $good ]] || fail "the chain holds $regs registrations, not $good"
wait_height 3 "$target" 60
pass "every one of the $good good lines registered exactly once (up to height $target)"
echo "1 passed, 0 failed"
