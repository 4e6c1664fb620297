#!/usr/bin/env bash
# Real processes on loopback: a validator whose data folder is restored from an old copy does
# not sign again what it signed after the copy was made (docs/operations.md).
#
# The copy of node3's data folder holds an old signer state; only the watermark beside its key
# (signer_state.json) knows what node3 signed since. The three others are stopped while node3
# restarts on the old copy, so the only heights it could sign at are heights it has already
# signed at: every signature it made there would roll the watermark back (it is written before
# each signature leaves). With the watermark it signs nothing and says why; then the others come
# back, node3 catches up and votes again (node0 is stopped to prove it), no node sees
# equivocation, and all hold the same chain.
# Usage: restore_test.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh"
hm_init "$1" restore 19870

# "height round step" of node N's watermark.
mark() {
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1])).get("state",{})
print(int(s.get("height",0)), s.get("round",0), s.get("step",0))' "$dir/node$1/signer_state.json"
}
# 0 when "h r s" $1 is at or after $2.
not_before() { python3 -c 'import sys; a=tuple(map(int,sys.argv[1].split())); b=tuple(map(int,sys.argv[2].split())); sys.exit(0 if a>=b else 1)' "$1" "$2"; }

hm_testnet --validators 4
for i in 0 1 2 3; do hm_start "$i"; done
wait_up 60 0 1 2 3
for i in $(seq 1 8); do hm_submit $((i % 4)) "RS-$i"; done
wait_committed 3 RS-8 60
pass "4 validators committed 8 records"

# The backup: node3 stopped briefly, its data folder copied, node3 started again.
hm_stop 3
cp -a "$dir/node3/data" "$dir/node3-backup"
backup_mark=$(mark 3)
hm_start 3
h=$(height 0)
wait_height 3 "$h" 60
pass "node3's data folder copied at signer state ($backup_mark), node3 back"

# The network goes on with node3 voting, under a light load.
for i in $(seq 9 16); do
  hm_submit $((i % 4)) "RS-$i"
  sleep 0.3
done
wait_height 3 $((h + 12)) 90
wait_committed 3 RS-16 60
hm_kill 3
before=$(mark 3)
not_before "$before" "$((h + 10)) 0 0" || fail "node3's watermark ($before) did not follow the chain"
pass "12 more heights; node3 killed, having signed up to ($before)"

# Restore the old copy; the others stopped, node3 starts alone on it.
hm_stop 0 1 2
rm -rf "$dir/node3/data"
cp -a "$dir/node3-backup" "$dir/node3/data"
hm_start 3
deadline=$((SECONDS + 6))
while ((SECONDS < deadline)); do
  hm_alive 3 || fail "node3 exited after the restore"
  now=$(mark 3)
  not_before "$now" "$before" || fail "node3 signed at ($now), at or below what it had signed before ($before)"
  sleep 0.05
done
[[ $(mark 3) == "$before" ]] || fail "node3's watermark moved from ($before) to ($(mark 3)) while alone"
grep -q "Using the watermark" "$dir/node3/log" || fail "node3 did not say that it used the watermark"
grep -q "signer guard: not signing" "$dir/node3/log" || fail "node3 never tried to sign while alone"
pass "node3 on the old copy ($backup_mark): used the watermark ($before), signed nothing for 6 s"

# The others back: node3 catches up, then votes again.
for i in 0 1 2; do hm_start "$i"; done
wait_up 60 0 1 2
h=$(height 0)
hm_submit 0 RS-17
wait_committed 3 RS-17 90
wait_height 3 $((h + 3)) 90
not_before "$(mark 3)" "$before" || fail "node3's watermark went back to ($(mark 3))"
pass "the network resumes (height $(height 0)); node3 caught up, watermark at ($(mark 3))"

# node0 down: only 1, 2, 3 are left, so commits prove that node3 votes again.
hm_kill 0
h=$(height 1)
hm_submit 1 RS-18
wait_committed 3 RS-18 90
wait_height 1 $((h + 3)) 90
pass "with node0 down, 1, 2 and the restored node3 commit (height $(height 1))"

hm_start 0
target=$(height 1)
for i in 0 2 3; do wait_height "$i" "$target" 90; done
hm_chain 0 1 2 3
[[ $chain_height -ge $target ]] || fail "compared only up to height $chain_height"
for s in $(seq 1 18); do echo "01/00614141000012/21/RS-$s"; done >"$dir/ids"
for i in 0 1 2 3; do
  python3 "$hm_here/hm.py" committed "$(api "$i")" "$dir/ids" 30 || fail "records missing on node$i"
done
no_equivocation
pass "4 nodes hold the same $chain_height blocks and state roots, all 18 records; no equivocation"
echo "1 passed, 0 failed"
