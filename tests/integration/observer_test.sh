#!/usr/bin/env bash
# Real processes on loopback: an observer (testnet observer home, `hallmarkd start --observer`)
# started after the chain has moved on follows it to the validators' height, holds the same
# blocks and state roots, and answers item reads and listing-time checks exactly as the
# validators do; killed with SIGKILL and restarted, it catches up again.
# Usage: observer_test.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh"
hm_init "$1" observer 19820
item() { echo "01/00614141000012/21/OB-$1"; }
cli() { "$bin/hallmark" --node "$(api "$1")" "${@:2}" >/dev/null || fail "hallmark ${*:2} (via node$1)"; }

hm_testnet --validators 4 --observers 1
for i in 0 1 2 3; do hm_start "$i"; done
wait_up 60 0 1 2 3

# Histories of one to three records: registrations, then transfers, then attestations.
for i in $(seq 1 30); do item "$i"; done >"$dir/ids"
for i in $(seq 1 30); do
  cli $((i % 4)) register --no-wait --key "$dir/keys/maison-aurele.key" --item "$(item "$i")"
done
python3 "$hm_here/hm.py" committed "$(api 0)" "$dir/ids" 60 || fail "registrations did not commit"
for i in $(seq 1 20); do
  cli $((i % 4)) transfer --timeout 60 --key "$dir/keys/maison-aurele.key" --item "$(item "$i")" --to lux-resale
done
for i in $(seq 1 10); do
  cli $((i % 4)) attest --timeout 60 --key "$dir/keys/veritas-lab.key" --item "$(item "$i")" --verdict genuine
done
cli 2 flag --timeout 60 --key "$dir/keys/lux-resale.key" --item "$(item 1)" --reason stolen
pass "validators committed 30 items with 61 records (height $(height 0))"

# The observer starts late and catches up.
hm_start o0 --observer
target=$(height 0)
wait_height o0 "$target" 90
curl -fsS "$(api o0)/v1/status" | grep -q '"observer":true' || fail "the observer does not say it is one"
pass "the observer caught up to height $target"

# Same chain, same answers.
hm_chain 0 1 2 3 o0
python3 "$hm_here/hm.py" same-items "$dir/ids" "$(api 0)" "$(api 3)" "$(api o0)" ||
  fail "the observer's reads differ from the validators'"
out=$("$bin/hallmark" --node "$(api o0)" check "$(item 1)" "$(item 2)" "$(item 31)" 2>&1 || true)
grep -q "1 clean, 2 not clean" <<<"$out" || fail "hallmark check through the observer: $out"
pass "blocks, state roots, GET /v1/items and items:check agree with the validators (height $chain_height)"

# It follows live: a record through a validator appears on the observer.
cli 1 register --no-wait --key "$dir/keys/maison-aurele.key" --item "$(item 31)"
item 31 >"$dir/one"
python3 "$hm_here/hm.py" committed "$(api o0)" "$dir/one" 60 || fail "the observer did not see OB-31"
pass "the observer follows new commits"

# A record submitted through the observer reaches the validators and commits.
cli o0 register --no-wait --key "$dir/keys/maison-aurele.key" --item "$(item 32)"
item 32 >"$dir/one"
python3 "$hm_here/hm.py" committed "$(api 0)" "$dir/one" 60 || fail "OB-32, sent through the observer, did not commit"
pass "a record submitted through the observer commits"

# SIGKILL and restart: it catches up from where it was.
hm_kill o0
cli 0 transfer --timeout 60 --key "$dir/keys/maison-aurele.key" --item "$(item 31)" --to second-luxe
hm_start o0 --observer
target=$(height 0)
wait_height o0 "$target" 90
item 31 >>"$dir/ids"
item 32 >>"$dir/ids"
python3 "$hm_here/hm.py" same-items "$dir/ids" "$(api 2)" "$(api o0)" ||
  fail "after its restart the observer's reads differ from the validators'"
hm_chain 0 1 2 3 o0
pass "killed and restarted, the observer caught up and agrees (height $chain_height)"
grep -q "abstaining" "$dir/observer0/log" && fail "the observer logged a double-sign check"
no_equivocation
echo "1 passed, 0 failed"
