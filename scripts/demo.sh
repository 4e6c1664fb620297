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
echo "The network is still running (logs in $dir/node*/hallmarkd.log; API at $HALLMARK_NODE)."
echo "Try: build/bin/hallmark --node $HALLMARK_NODE show '$item'"
echo "Stop it with: make demo-stop"
