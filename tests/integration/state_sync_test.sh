#!/usr/bin/env bash
# State sync and pruning over real processes (docs/state-sync.md): four validators take a
# snapshot every 20 blocks and prune all but the last 10 blocks (never those after the older kept
# snapshot); items are committed; a pruned validator answers 410 "pruned" for block 1; then a
# fresh observer started with state_sync installs the newest snapshot from its peers (checked
# from genesis), catches up by blocks to the head, agrees with the validators, serves proofs
# that `hallmark verify` checks against genesis.json alone, answers 410 below its snapshot, and
# follows new commits.
#   state_sync_test.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh"
hm_init "$1" state-sync 23400

hm_testnet --validators 4 --observers 1
python3 - "$dir" <<'PY'
import json, pathlib, sys
d = pathlib.Path(sys.argv[1])
for n in range(4):
    p = d / f"node{n}" / "config.json"
    c = json.loads(p.read_text())
    c["snapshot_interval"] = 20
    c["prune_keep_blocks"] = "10"
    p.write_text(json.dumps(c, indent=2))
p = d / "observer0" / "config.json"
c = json.loads(p.read_text())
c["state_sync"] = True
p.write_text(json.dumps(c, indent=2))
PY
for n in 0 1 2 3; do hm_start "$n"; done
wait_up 60 0 1 2 3

for i in $(seq 1 12); do hm_submit $((i % 4)) "SYNC-$i"; done
wait_committed 0 SYNC-12 60
for i in $(seq 1 12); do echo "01/00614141000012/21/SYNC-$i"; done >"$dir/ids"
python3 "$hm_here/hm.py" committed "$(api 0)" "$dir/ids" 60 || fail "the items did not all commit"
items_at=$(height 0)

# Two snapshots after the items, and blocks pruned below the older one.
deadline=$((SECONDS + 120))
until grep -q "pruned the blocks below height" "$dir/node0/log" &&
  (($(height 0) >= items_at + 45)); do
  ((SECONDS < deadline)) || fail "node0 took no snapshot or pruned nothing within 120 s"
  sleep 0.5
done
grep "snapshot at height" "$dir/node0/log" | tail -1
code=$(curl -sS -o "$dir/gone.json" -w '%{http_code}' "$(api 0)/v1/blocks/1")
[[ $code == 410 ]] || fail "a pruned block answered $code, not 410: $(cat "$dir/gone.json")"
python3 - "$dir/gone.json" <<'PY' || fail "the 410 does not say pruned with the first height: $(cat "$dir/gone.json")"
import json, sys
e = json.load(open(sys.argv[1]))["error"]
assert e["code"] == "pruned", e
assert int(e["first_height"]) > 1, e
PY
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "$(api 0)/v1/events?since=0" || true)
[[ $code == 410 ]] || fail "a feed from block 1 on the pruned node answered $code, not 410"
pass "node0 pruned its old blocks and answers 410 pruned ($(cat "$dir/gone.json"))"

# A fresh node joins by state sync.
joined_t0=$SECONDS
hm_start o0 --observer
deadline=$((SECONDS + 120))
until grep -q "state sync: installed the snapshot at height" "$dir/observer0/log"; do
  ((SECONDS < deadline)) || fail "the observer installed no snapshot within 120 s"
  hm_alive o0 || fail "the observer exited"
  sleep 0.2
done
snap=$(sed -n 's/.*installed the snapshot at height \([0-9]*\).*/\1/p' "$dir/observer0/log" | tail -1)
target=$(height 0)
wait_height o0 "$target" 120
pass "the observer installed the snapshot at height $snap and reached the head $target in $((SECONDS - joined_t0)) s"

# It agrees with the validators on the blocks it holds, and answers 410 below its snapshot.
h=$(height o0)
for at in $((snap + 1)) "$h"; do
  a=$(curl -fsS "$(api 0)/v1/blocks/$at" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hash"])')
  b=$(curl -fsS "$(api o0)/v1/blocks/$at" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hash"])')
  [[ -n $a && $a == "$b" ]] || fail "block $at differs: $a vs $b"
done
code=$(curl -sS -o "$dir/gone-o0.json" -w '%{http_code}' "$(api o0)/v1/blocks/$snap")
[[ $code == 410 ]] || fail "the observer answered $code for block $snap, before its first block"

# Proofs of items committed before the snapshot check against genesis alone.
for i in 1 7 12; do
  "$bin/hallmark" verify "01/00614141000012/21/SYNC-$i" --genesis "$dir/genesis.json" \
    --node "$(api o0)" --trust-dir "$dir/trust-$i" >/dev/null 2>>"$dir/verify-stderr" ||
    fail "verify of SYNC-$i through the observer: $(tail -3 "$dir/verify-stderr")"
done
python3 "$hm_here/hm.py" committed "$(api o0)" "$dir/ids" 10 || fail "the observer lacks items"
pass "the observer serves proofs of items from before its snapshot that verify against genesis"

# It follows new commits.
hm_submit 1 SYNC-NEW
wait_committed o0 SYNC-NEW 60
pass "the observer follows new commits after state sync"
