#!/usr/bin/env bash
# The second part of `make demo` (scripts/demo.sh runs it; it can also run on its own against a
# running devnet): the consortium changes on the ledger. A new marketplace is admitted by
# proposal and approvals, checks a seller's listing and attests it with its own key, and a
# consumer's proof still checks against the original genesis.json alone.
set -euo pipefail
bin=${1:-build/bin}
dir=${DEMO_DIR:-devnet}
base_port=${HALLMARK_BASE_PORT:-7700}
export HALLMARK_NODE=${HALLMARK_NODE:-http://127.0.0.1:$((base_port + 100))}
keys=$dir/keys
genesis=$dir/genesis.json
listing='01/00614141000012/21/BAG-0042'
h() {
  echo "\$ hallmark $*"
  "$bin/hallmark" "$@"
}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

echo "== Governance: a new marketplace joins the consortium"
"$bin/hallmark" keygen --out "$dir/nouvelle-vente.key" --no-passphrase >/dev/null 2>&1
h network
echo
echo "== The brand proposes to admit it; the proposal counts as the brand's approval"
echo "\$ hallmark gov propose add-org --id nouvelle-vente --name 'Nouvelle Vente' --role marketplace --signing-key $dir/nouvelle-vente.key --key $keys/maison-aurele.key"
id=$("$bin/hallmark" gov propose add-org --id nouvelle-vente --name "Nouvelle Vente" \
  --role marketplace --signing-key "$dir/nouvelle-vente.key" --key "$keys/maison-aurele.key" \
  --note "second-hand marketplace, Lyon" --json | field "['id']")
echo "proposal $id"
h gov list
echo
echo "== More than two thirds of the members approve it"
for org in lux-resale atelier-nord second-luxe veritas-lab; do
  h gov approve "$id" --key "$keys/$org.key"
done
h gov show "$id"
echo
echo "== A seller lists a bag on the new marketplace; it checks the serial, then attests it"
"$bin/hallmark" register --key "$keys/maison-aurele.key" --item "$listing" --attr model="Sac Aurèle 25" >/dev/null
h check "$listing"
h attest --key "$dir/nouvelle-vente.key" --item "$listing" --verdict genuine --note "listing 7731 checked in store"
echo
echo "== A buyer checks it with the original genesis.json: the proof walks the membership change"
h verify "$listing" --genesis "$genesis" --trust-dir "$dir/trust"
