#!/usr/bin/env bash
# Real processes on loopback: a validator backed up while it runs, restored from that backup
# after the chain has moved on, rejoins without signing anything conflicting
# (docs/operations.md, "Backup and restore").
#
# Four validators under a light load (about 3 records/s through node3). node1 is backed up
# through its admin socket while it votes; the chain goes on. Then node2 is stopped, so that
# every commit needs node1's votes, and node1 is killed with SIGKILL: it may have signed at the
# next height, which nothing in the backup knows. Its home is wiped and restored from the backup
# (watermark marked as restored). Started again with node2 still down, the restored node1 must
# sign nothing: node0, node1 and node3 would be a quorum, so the chain must not move. node2 comes
# back: the chain moves, node1 sees a live commit X, and signs again only after X + 2, above
# anything its previous life signed. node0 is then stopped to prove node1 votes again (1, 2, 3
# commit). At the end every node holds the same chain, no node saw or committed evidence of
# equivocation, and every record accepted during the test is committed.
# Usage: backup_test.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh"
hm_init "$1" backup 23600

# "height round step restored" of node N's watermark.
mark() {
  python3 -c 'import json,sys; w=json.load(open(sys.argv[1])); s=w.get("state",{})
print(int(s.get("height",0)), s.get("round",0), s.get("step",0), "restored" if w.get("restored") else "live")' \
    "$dir/node$1/signer_state.json"
}
# The light load: one registration every 0.3 s through node3; accepted serials go to $dir/ids.
load_pid=""
load_start() {
  (
    i=0
    while :; do
      i=$((i + 1))
      if "$bin/hallmark" --node "$(api 3)" register --no-wait --key "$dir/keys/maison-aurele.key" \
        --item "01/00614141000012/21/BK-$i" --attr "test=backup" >/dev/null 2>&1; then
        echo "01/00614141000012/21/BK-$i" >>"$dir/ids"
      fi
      sleep 0.3
    done
  ) &
  load_pid=$!
}
load_stop() {
  [[ -n $load_pid ]] || return 0
  kill "$load_pid" 2>/dev/null || true
  wait "$load_pid" 2>/dev/null || true
  load_pid=""
}
trap 'load_stop; hm_cleanup' EXIT

hm_testnet --validators 4
for i in 0 1 2 3; do hm_start "$i"; done
wait_up 60 0 1 2 3
: >"$dir/ids"
load_start
wait_height 0 8 60
pass "4 validators up under a light load (height $(height 0))"

# The backup, taken while node1 runs and votes.
out=$("$bin/hallmarkd" backup --home "$dir/node1" --out "$dir/node1.bak" --include-node-key) ||
  fail "hallmarkd backup of the running node1"
echo "  $out"
[[ $out == *"from the running node"* ]] || fail "the backup did not come from the running node: $out"
backup_height=$(sed -n 's/.* at height \([0-9]*\) .*/\1/p' <<<"$out")
hm_alive 1 || fail "node1 exited during the backup"
if "$bin/hallmarkd" backup --home "$dir/node1" --out "$dir/node1.bak" 2>"$dir/err"; then
  fail "backup replaced an existing file without --force"
fi
grep -q -- "--force" "$dir/err" || fail "no clear error for an existing --out: $(cat "$dir/err")"
pass "node1 backed up while running, at height $backup_height"

# The chain goes on with node1 voting.
wait_height 1 $((backup_height + 10)) 90
# node2 down: from now on every commit needs node1's votes.
hm_stop 2
h=$(height 0)
wait_height 0 $((h + 3)) 60
hm_kill 1
signed=$(mark 1)
signed_height=${signed%% *}
((signed_height > backup_height)) || fail "node1 signed nothing after the backup ($signed)"
pass "node1 signed up to ($signed) after the backup, then was killed (node2 down)"

# Wipe node1's home and restore it from the backup.
rm -rf "$dir/node1"
restored=$("$bin/hallmarkd" restore --from "$dir/node1.bak" --home "$dir/node1" \
  --genesis "$dir/genesis.json") || fail "hallmarkd restore"
echo "  $restored"
[[ $(mark 1) == *restored ]] || fail "the restored watermark is not marked as restored: $(mark 1)"
((${signed_height} > $(mark 1 | cut -d' ' -f1))) || fail "the backup's watermark is not older"
if "$bin/hallmarkd" restore --from "$dir/node1.bak" --home "$dir/node1" 2>"$dir/err"; then
  fail "restore into a non-empty home without --force"
fi
pass "node1 restored from the backup: watermark ($(mark 1)), older than what it signed"

# node1 starts with node0 and node3 only: 0, 1, 3 would be a quorum; node1 must abstain.
hm_start 1
stuck=$(height 0)
wait_height 1 "$stuck" 60
deadline=$((SECONDS + 8))
while ((SECONDS < deadline)); do
  hm_alive 1 || fail "node1 exited after the restore"
  [[ $(height 0) == "$stuck" ]] || fail "the chain moved past $stuck with node2 down: node1 signed before its double-sign check"
  sleep 0.2
done
grep -q "restored from a backup" "$dir/node1/log" || fail "node1 did not say it starts from a restored watermark"
[[ $(mark 1) == *restored ]] || fail "node1's watermark changed while it abstained: $(mark 1)"
pass "restored node1 caught up to $stuck and signed nothing for 8 s (the chain stayed)"

# node2 back: the chain moves; node1 resumes after X + 2.
hm_start 2
wait_height 0 $((stuck + 4)) 90
deadline=$((SECONDS + 60))
until grep -q "double-sign check passed" "$dir/node1/log"; do
  ((SECONDS < deadline)) || fail "node1 never passed its double-sign check"
  sleep 0.2
done
resume=$(sed -n 's/.*double-sign check passed: signing again from height \([0-9]*\).*/\1/p' "$dir/node1/log" | tail -1)
((resume > signed_height)) || fail "node1 signs again from height $resume, not above $signed_height"
deadline=$((SECONDS + 30))
until [[ $(mark 1) == *live ]]; do
  ((SECONDS < deadline)) || fail "node1's restore mark was never cleared: $(mark 1)"
  sleep 0.2
done
pass "commits resumed; node1 signs again from height $resume (its old life signed up to $signed_height); mark cleared"

# node0 down: 1, 2, 3 commit, so node1 votes.
hm_kill 0
h=$(height 1)
wait_height 1 $((h + 3)) 90
pass "with node0 down, 1, 2 and the restored node1 commit (height $(height 1))"

hm_start 0
load_stop
target=$(height 1)
for i in 0 2 3; do wait_height "$i" "$target" 90; done
for i in 0 1 2 3; do
  python3 "$hm_here/hm.py" committed "$(api "$i")" "$dir/ids" 90 || fail "records missing on node$i"
done
hm_chain 0 1 2 3
[[ $chain_height -ge $target ]] || fail "compared only up to height $chain_height"
no_equivocation
for i in 0 1 2 3; do
  ev=$(curl -fsS --max-time 5 "$(api "$i")/v1/evidence") || fail "GET /v1/evidence on node$i"
  [[ $ev != *'"validator"'* ]] || fail "node$i holds committed evidence: $ev"
  metrics=$(curl -fsS --max-time 5 "$(api "$i")/metrics") || fail "GET /metrics on node$i"
  received=$(awk '/^hallmark_evidence_received_total/ {s += $NF} END {print s + 0}' <<<"$metrics")
  [[ $received == 0 ]] || fail "node$i received $received pieces of evidence"
done
pass "4 nodes hold the same $chain_height blocks and state roots, all $(wc -l <"$dir/ids") records; no evidence anywhere"
echo "1 passed, 0 failed"
