#!/usr/bin/env bash
# Real processes on loopback: a 4-validator network commits records submitted through different
# nodes, every node holds the same block at every height, a validator killed with SIGKILL does
# not stop the others, and once restarted it catches up and agrees.
# Usage: network_test.sh BIN_DIR
set -euo pipefail
bin=$1
base=${HALLMARK_TEST_BASE_PORT:-19700}
dir=$(mktemp -d /tmp/hallmark-net-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP  # So that a CTest timeout also runs the cleanup.
fail() {
  echo "FAIL: $*"
  for log in "$dir"/node*/log; do echo "--- $log"; tail -20 "$log"; done
  exit 1
}
api() { echo "http://127.0.0.1:$((base + 100 + $1))"; }
height() { curl -fsS "$(api "$1")/v1/health" 2>/dev/null | sed -n 's/.*"height":"\{0,1\}\([0-9]*\).*/\1/p'; }
start() {
  "$bin/hallmarkd" start --home "$dir/node$1" >>"$dir/node$1/log" 2>&1 &
  pids[$1]=$!
}
wait_height() {  # node, minimum height, seconds
  for _ in $(seq 1 $(($3 * 10))); do
    h=$(height "$1" || true)
    [[ -n $h && $h -ge $2 ]] && return 0
    sleep 0.1
  done
  fail "node$1 did not reach height $2 within $3 s (at ${h:-none})"
}
same_blocks() {  # up to height: every node has the same block hash at each height
  for ((hh = 1; hh <= $1; hh++)); do
    ref=""
    for n in "$@"; do
      [[ $n == "$1" ]] && continue
      hash=$(curl -fsS "$(api "$n")/v1/blocks/$hh" | sed -n 's/.*"hash":"\([0-9a-f]*\)".*/\1/p' | head -c 64)
      [[ -n $hash ]] || fail "node$n has no block $hh"
      [[ -z $ref || $ref == "$hash" ]] || fail "node$n disagrees at height $hh"
      ref=$hash
    done
  done
}

"$bin/hallmarkd" testnet --validators 4 --dir "$dir" --base-port "$base" --chain-id net-test \
  --idle-block-interval-ms 500 >/dev/null
for i in 0 1 2 3; do start "$i"; done
wait_height 0 1 30
wait_height 3 1 30

# Records through different nodes: registrations by the brand, signed once and posted.
submit() {  # node, serial
  "$bin/hallmark" --node "$(api "$1")" register --no-wait --key "$dir/keys/maison-aurele.key" \
    --item "01/00614141000012/21/NT-$2" --attr batch=net-test >/dev/null || fail "submit $2 via node$1"
}
for i in $(seq 1 40); do submit $((i % 4)) "$i"; done
for i in $(seq 1 40); do
  out=$("$bin/hallmark" --node "$(api $((i % 3)))" check "01/00614141000012/21/NT-$i" 2>&1 || true)
  for _ in $(seq 1 100); do
    grep -q "1 clean" <<<"$out" && break
    sleep 0.1
    out=$("$bin/hallmark" --node "$(api $((i % 3)))" check "01/00614141000012/21/NT-$i" 2>&1 || true)
  done
  grep -q "1 clean" <<<"$out" || fail "record NT-$i did not commit: $out"
done
echo "ok: 40 records submitted through 4 nodes committed"
h=$(height 0)
same_blocks "$h" 0 1 2 3
echo "ok: all nodes hold the same blocks up to height $h"

# Kill -9 one validator: the other three keep committing.
kill -KILL "${pids[3]}"
before=$(height 0)
for i in $(seq 41 60); do submit $((i % 3)) "$i"; done
wait_height 0 $((before + 3)) 30
echo "ok: three validators keep committing after a SIGKILL (height $(height 0))"

# Restarted, it catches up and agrees.
start 3
target=$(height 0)
wait_height 3 "$target" 60
same_blocks "$target" 0 1 2 3
echo "ok: the restarted validator caught up to height $target and agrees"

# Kill two: commits stop; bring one back: they resume.
kill -KILL "${pids[2]}" "${pids[3]}"
sleep 2
stalled=$(height 0)
submit 0 stall
sleep 3
[[ $(height 0) -le $((stalled + 1)) ]] || fail "commits went on with only two of four validators"
start 2
wait_height 0 $((stalled + 2)) 60
echo "ok: two of four stall, three resume (height $(height 0))"
"$bin/hallmark" --node "$(api 0)" check "01/00614141000012/21/NT-stall" | grep -q "1 clean" \
  || fail "the record submitted during the stall was lost"
echo "ok: nothing submitted during the stall was lost"
echo "1 passed, 0 failed"
