#!/usr/bin/env bash
# Real processes on loopback: 1,000 records submitted through all four validators of a network
# (parallel CLI processes, --no-wait) all commit, and every node then holds the same block hash
# and state root at every height, each block naming its parent, with every record exactly once.
# Usage: load_test.sh BIN_DIR [RECORDS]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
hm_init "$1" load 19800
records=${2:-1000}
parallel=${HALLMARK_TEST_PARALLEL:-8}

hm_testnet --validators 4
for i in 0 1 2 3; do hm_start "$i"; done
wait_up 60 0 1 2 3
pass "4 validators up"

# One CLI process per record, $parallel at a time, round robin over the nodes.
: >"$dir/ids"
: >"$dir/commands"
for ((i = 1; i <= records; i++)); do
  id="01/00614141000012/21/LD-$i"
  echo "$id" >>"$dir/ids"
  echo "--node $(api $((i % 4))) register --no-wait --timeout 60 --key $dir/keys/maison-aurele.key --item $id --attr n=$i" >>"$dir/commands"
done
xargs -P "$parallel" -L 1 "$bin/hallmark" <"$dir/commands" >/dev/null 2>"$dir/submit-errors" ||
  fail "some submissions failed: $(head -5 "$dir/submit-errors")"
pass "$records records accepted through 4 nodes"

for i in 0 1 2 3; do
  python3 "$hm_here/hm.py" committed "$(api "$i")" "$dir/ids" 120 || fail "records missing on node$i"
done
pass "all $records records committed on every node"

# Compare the chains once every node has passed the height where node 0 saw the last record.
target=$(height 0)
for i in 1 2 3; do wait_height "$i" "$target" 60; done
hm_chain 0 1 2 3
[[ $chain_height -ge $target ]] || fail "compared only up to height $chain_height, below $target"
[[ $chain_records -eq $records ]] || fail "the chain holds $chain_records records, not $records"
pass "4 nodes hold the same $chain_height blocks and state roots; $chain_records records, each once"
echo "1 passed, 0 failed"
