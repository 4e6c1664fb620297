#!/usr/bin/env bash
# `make demo`: a 4-validator network on loopback, and one item's life through the CLI.
set -euo pipefail
bin=${1:-build/bin}
dir=${DEMO_DIR:-devnet}
export HALLMARK_BIN=$bin
base_port=${HALLMARK_BASE_PORT:-7700}
h() {
  echo "\$ hallmark $*"
  "$bin/hallmark" "$@"
}

echo "== Starting a 4-validator network in $dir/ (loopback)"
bash scripts/devnet.sh start "$dir" 4
export HALLMARK_NODE=http://127.0.0.1:$((base_port + 100))
item='01/00614141000012/21/BAG-0001'
wallet='01/00614141000012/21/WAL-0007'
genesis=$dir/genesis.json
keys=$dir/keys

echo
echo "== The brand registers a bag and ships it to a marketplace"
h register --key "$keys/maison-aurele.key" --item "$item" --attr model="Sac Aurèle 30" --attr colour=noir --attr material=calfskin
h transfer --key "$keys/maison-aurele.key" --item "$item" --to lux-resale
echo
echo "== The marketplace attests it and sells it to a consumer (a pseudonymous key)"
h attest --key "$keys/lux-resale.key" --item "$item" --verdict genuine --note "stitching, date code and hardware consistent"
"$bin/hallmark" keygen --out "$dir/alice.key" --no-passphrase 2>/dev/null >"$dir/alice.pub"
"$bin/hallmark" keygen --out "$dir/bob.key" --no-passphrase 2>/dev/null >"$dir/bob.pub"
h transfer --key "$keys/lux-resale.key" --item "$item" --to "$(cat "$dir/alice.pub")"
echo
echo "== She also buys a wallet straight from the brand"
h register --key "$keys/maison-aurele.key" --item "$wallet" --attr model="Portefeuille Aurèle" --custodian "$(cat "$dir/alice.pub")"
echo
echo "== The consumer resells it to another consumer"
h transfer --key "$dir/alice.key" --item "$item" --to "$(cat "$dir/bob.pub")"
echo
echo "== The bag is stolen: its holder flags it"
h flag --key "$dir/bob.key" --item "$item" --reason stolen --note "taken from a car, police report 2026-1128"
echo
echo "== A marketplace checks the serial when someone lists it (asking another node)"
h --node "http://127.0.0.1:$((base_port + 102))" check "$item" || echo "(exit $?: the item is not clean)"
echo
echo "== Its chain of custody"
h show "$item"
echo
echo "== The consumer checks her wallet herself: a proof checked against genesis.json alone"
h verify "$wallet" --genesis "$genesis" --node "$HALLMARK_NODE" --node "http://127.0.0.1:$((base_port + 103))" \
  --save-proof "$dir/wallet.proof" && echo "(exit 0: genuine and clean; two nodes asked, the newest proof used)"
echo
echo "== ... and the stolen bag: the proof checks out, but the item is flagged"
set +e
h verify "$item" --genesis "$genesis"
code=$?
echo "(exit $code: valid proof, item not clean)"
echo
echo "== A bundle tampered with after it was saved (one bit flipped) is refused"
size=$(stat -c %s "$dir/wallet.proof")
offset=$((size - 40))
byte=$(od -An -tu1 -j "$offset" -N1 "$dir/wallet.proof" | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 1)))" | dd of="$dir/wallet.proof" bs=1 seek="$offset" conv=notrunc status=none
h verify --proof "$dir/wallet.proof" --genesis "$genesis" "$wallet"
code=$?
echo "(exit $code: the proof does not check out)"
set -e
echo
bash scripts/demo-governance.sh "$bin"
echo
echo "== The page behind the bag's QR code: a browser checks the proof itself, against genesis"
page_url="$HALLMARK_NODE/01/${item#01/}"
echo "Open $page_url in a browser on this machine: it shows \"Reported stolen\"."
qr_file="$(dirname "$bin")/demo-bag-qr.svg"
h qr "$item" --base "$HALLMARK_NODE" --out "$qr_file"
echo "(the bag's QR code, pointing at this page, is in $qr_file; printed on a real label it would"
echo " point at the brand's resolver domain: hallmark qr $item --out label.svg)"
echo
echo "The network is still running (logs in $dir/node*/hallmarkd.log; API at $HALLMARK_NODE)."
echo "Try: build/bin/hallmark --node $HALLMARK_NODE show '$item'"
echo "Stop it with: make demo-stop"
