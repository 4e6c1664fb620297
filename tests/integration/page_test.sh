#!/usr/bin/env bash
# The page behind the QR code as a person sees it (issue 12): a real 4-validator network, items
# registered, sold on, flagged stolen and decommissioned as the demo does, a serial never
# registered; each item's page loaded from a node's Digital Link path in headless Chromium, and
# saved copies of the page pointed at nodes that lie (an old bundle of the item flagged since,
# another item's bundle, altered bundles). page_test.py runs the pages and checks the verdicts;
# screenshots go to SHOTS_DIR (build/page-screenshots).
# Usage: page_test.sh BIN_DIR [SHOTS_DIR]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
hm_init "$1" page 21600
shots=${2:-$(pwd)/page-screenshots}
export XDG_STATE_HOME="$dir/state"

hm_testnet --validators 4
for i in 0 1 2 3; do hm_start "$i"; done
wait_up 60 0 1 2 3
brand="$dir/keys/maison-aurele.key"
market="$dir/keys/lux-resale.key"
gtin=00614141000012
clean=01/$gtin/21/PAGE-BAG-1
stolen=01/$gtin/21/PAGE-BAG-2
dead=01/$gtin/21/PAGE-BAG-3
unknown=01/$gtin/21/PAGE-NEVER-9
h() { "$bin/hallmark" --node "$(api 0)" "$@" >/dev/null || fail "hallmark $*"; }
"$bin/hallmark" keygen --out "$dir/alice.key" --no-passphrase 2>/dev/null >"$dir/alice.pub" ||
  fail "hallmark keygen"
alice=$(cat "$dir/alice.pub")

for item in "$clean" "$stolen" "$dead"; do
  h register --key "$brand" --item "$item" --attr model="Sac Aurèle 30" --attr colour=noir
done
h transfer --key "$brand" --item "$clean" --to lux-resale
h attest --key "$market" --item "$clean" --verdict genuine --note "stitching and hardware consistent"
h transfer --key "$market" --item "$clean" --to "$alice"
h transfer --key "$brand" --item "$stolen" --to "$alice"
# The stolen item's proof while it was still clean: what a lying node will serve later.
saved_at_ms=$(($(date +%s%N) / 1000000))
curl -fsS -H 'Accept: application/x-protobuf' -o "$dir/old.bundle" "$(api 1)/v1/items/$stolen/proof" ||
  fail "fetching the proof of $stolen"
h flag --key "$dir/alice.key" --item "$stolen" --reason stolen --note "taken from a car"
h decommission --key "$brand" --item "$dead" --kind destroyed --reason "burnt in a fire"
pass "registered three items, sold one on, flagged one stolen, decommissioned one"

python3 "$hm_here/page_test.py" "$shots" "$(api 1)" "$dir/genesis.json" "$dir/old.bundle" \
  "$saved_at_ms" "{\"clean\":\"$clean\",\"stolen\":\"$stolen\",\"dead\":\"$dead\",\"unknown\":\"$unknown\"}" "$bin" ||
  {
    code=$?
    [[ $code == 77 ]] && exit 77
    fail "a page showed the wrong verdict (screenshots in $shots)"
  }
pass "every page showed its verdict; no lying node got \"Genuine\" (screenshots in $shots)"
