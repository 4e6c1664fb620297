#!/usr/bin/env bash
# Real processes on loopback: a validator restarted with a wiped data folder (keys and config
# kept) re-syncs to the others' height and does not sign twice.
#
# Its signer state lived in the wiped folder and its watermark (signer_state.json) is lost with it,
# so it cannot know what it signed before the crash (a wiped folder with the watermark kept starts
# from the watermark instead: restore_test.sh).
# The test makes that matter: node2 is down and node3 is killed while the network of three
# (0, 1, 3) depends on it, so node3 may have signed at the next height. After the wipe it must
# abstain (0, 1 and the wiped node3 would be a quorum, so the chain must stay where it is), sync,
# and vote again only after the network committed past any height it could have signed (docs/
# consensus.md, double-sign check), which the test proves by stopping node0: 1, 2, 3 go on.
# No node may see evidence of equivocation, and all nodes hold the same chain.
# Usage: wipe_test.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh"
hm_init "$1" wipe 19810

hm_testnet --validators 4
for i in 0 1 2 3; do hm_start "$i"; done
wait_up 60 0 1 2 3
for i in $(seq 1 12); do hm_submit $((i % 4)) "WP-$i"; done
wait_committed 3 WP-12 60
pass "4 validators committed 12 records"

# node2 down: the chain now needs node3's votes.
hm_kill 2
h=$(height 0)
hm_submit 0 WP-before
wait_height 3 $((h + 2)) 60
wait_committed 3 WP-before 60
# Kill node3 while it votes (the chain never idles: empty blocks follow when there is no work).
hm_kill 3
# Wait until node0 and node1 have settled: the height stays the same for 3 s.
stalled=$(height 0) since=$SECONDS deadline=$((SECONDS + 60))
while ((SECONDS - since < 3)); do
  ((SECONDS < deadline)) || fail "node0 kept committing with two of four validators"
  sleep 0.5
  now=$(height 0)
  if [[ $now != "$stalled" ]]; then stalled=$now since=$SECONDS; fi
done
pass "node2 down, node3 killed while voting; node0 and node1 stall at height $stalled"

# Wipe node3's data and its watermark, keep its key and config, start it again.
[[ -f $dir/node3/node.key && -f $dir/node3/config.json ]] || fail "node3's key or config is missing"
rm -rf "$dir/node3/data" "$dir/node3/signer_state.json"
hm_start 3
wait_height 3 "$stalled" 60
grep -q "abstaining" "$dir/node3/log" || fail "the wiped validator did not say that it abstains"
pass "the wiped node3 re-synced to height $stalled and abstains"

# With node3 voting, 0, 1, 3 would be a quorum: the chain must not move while it abstains.
hm_submit 0 WP-stall
sleep 6
[[ $(height 0) == "$stalled" ]] || fail "the chain moved from $stalled to $(height 0): the wiped validator voted"
pass "nothing committed with node0, node1 and the abstaining node3"

# node2 back: 0, 1, 2 commit; node3 follows and passes its double-sign check.
hm_start 2
wait_committed 0 WP-stall 90
deadline=$((SECONDS + 90))
until grep -q "double-sign check passed" "$dir/node3/log"; do
  ((SECONDS < deadline)) || fail "node3 did not pass its double-sign check within 90 s"
  hm_alive 3 || fail "node3 exited"
  sleep 0.5
done
pass "node2 back, the chain resumes (height $(height 0)); node3 passed its double-sign check"

# node0 down: only 1, 2, 3 are left, so commits prove that node3 votes again.
hm_kill 0
h=$(height 1)
hm_submit 1 WP-after
wait_committed 3 WP-after 90
wait_height 1 $((h + 3)) 90
pass "with node0 down, 1, 2 and the re-synced node3 commit (height $(height 1))"

hm_start 0
target=$(height 1)
for i in 0 2 3; do wait_height "$i" "$target" 90; done
hm_chain 0 1 2 3
[[ $chain_height -ge $target ]] || fail "compared only up to height $chain_height"
for s in $(seq 1 12) before stall after; do echo "01/00614141000012/21/WP-$s"; done >"$dir/ids"
for i in 0 1 2 3; do
  python3 "$hm_here/hm.py" committed "$(api "$i")" "$dir/ids" 30 || fail "records missing on node$i"
done
no_equivocation
pass "4 nodes hold the same $chain_height blocks and state roots, all 15 records; no equivocation"
echo "1 passed, 0 failed"
