#!/usr/bin/env bash
# The demo for what exists so far: item ids, keys, and a local ledger.
set -euo pipefail
bin=${1:-build/bin}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== One item, four ways of writing it"
for id in 'https://id.gs1.org/01/09506000134352/21/ABC123' \
          '01/09506000134352/21/ABC123' \
          '(01)09506000134352(21)ABC123' \
          'urn:epc:id:sgtin:0614141.812345.12345'; do
  echo "\$ hallmark id '$id'"
  "$bin/hallmark" id "$id"
done
echo
echo "== A typo is caught, with a message that says what is wrong"
echo "\$ hallmark id '(01)09506000134353(21)ABC123'"
"$bin/hallmark" id '(01)09506000134353(21)ABC123' || echo "(exit $?)"
echo
echo "== A development key"
echo "\$ hallmark keygen --out brand.key --no-passphrase"
"$bin/hallmark" keygen --out "$work/brand.key" --no-passphrase
echo
echo "The networked node and 'make demo' walking an item's life arrive with hallmarkd."
