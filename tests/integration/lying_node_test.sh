#!/usr/bin/env bash
# `hallmark verify` as a process against stand-in nodes that lie (issue 9): an old bundle of an
# item flagged stolen since, another item's bundle, a tampered one, oversized, endless, dripped
# and silent answers. A real 4-validator network makes the bundles; lying_node.py runs the cases
# and checks exit codes, messages and the CLI's peak memory. No case may exit 0.
# Usage: lying_node_test.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh"
hm_init "$1" lying 19850
# The verifier's trust files (docs/proofs.md) stay in the test's folder, not the user's.
export XDG_STATE_HOME="$dir/state"

hm_testnet --validators 4
for i in 0 1 2 3; do hm_start "$i"; done
wait_up 60 0 1 2 3
stolen=01/00614141000012/21/LIE-1
other=01/00614141000012/21/LIE-2
brand="$dir/keys/maison-aurele.key"
for item in "$stolen" "$other"; do
  "$bin/hallmark" --node "$(api 0)" register --key "$brand" --item "$item" --attr model=test >/dev/null ||
    fail "registering $item"
done
proof() { curl -fsS -H 'Accept: application/json' "$(api 0)/v1/items/$1/proof"; }
proof "$stolen" >"$dir/old.json" || fail "fetching the proof of $stolen"
proof "$other" >"$dir/other.json" || fail "fetching the proof of $other"
"$bin/hallmark" --node "$(api 0)" verify "$stolen" --genesis "$dir/genesis.json" >/dev/null ||
  fail "the honest node's proof of $stolen does not verify clean"
"$bin/hallmark" --node "$(api 0)" flag --key "$brand" --item "$stolen" --reason stolen >/dev/null ||
  fail "flagging $stolen"
pass "registered two items, saved their proofs, flagged one stolen"
python3 "$hm_here/lying_node.py" "$bin" "$dir/genesis.json" "$(api 1)" "$stolen" "$other" \
  "$dir/old.json" "$dir/other.json" || fail "hallmark verify trusted a lying node"
pass "no lying node got exit 0"
