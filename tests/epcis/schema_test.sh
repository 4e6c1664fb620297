#!/usr/bin/env bash
# Checks `hallmark export --format epcis` against GS1's published EPCIS 2.0 JSON schema.
#
#   schema_test.sh WALLET_TESTS HALLMARK SCHEMA
#
# WALLET_TESTS writes a genesis and real proof bundles (a chain holding every kind of record;
# tests/unit/wallet/epcis_test.cpp, case "epcis: sample bundles for the schema check"), the real
# HALLMARK binary exports each, and validate_epcis.py checks the documents against SCHEMA; then
# the documents the import's tests read are checked against SCHEMA too.
#
# The schema is GS1's and may not be copied into the project: it is read from shared/reference
# beside the repository. Without it, or without a python3 that has the jsonschema module (Debian
# package python3-jsonschema), the test prints why and exits 77, which CTest reports as skipped.
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 WALLET_TESTS HALLMARK SCHEMA" >&2
  exit 2
fi
wallet_tests=$1
hallmark=$2
schema=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

skip() {
  echo "SKIPPED: $*"
  exit 77
}

[[ -f $schema ]] ||
  skip "GS1's EPCIS 2.0 JSON schema is not at $schema (it lives in shared/reference, outside the project)"

python=""
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "import jsonschema" 2>/dev/null; then
    python=$candidate
    break
  fi
done
[[ -n $python ]] || skip "no python3 with the jsonschema module (Debian package python3-jsonschema)"

work=$(mktemp -d "${TMPDIR:-/tmp}/hallmark-epcis.XXXXXX")
trap 'rm -rf "$work"' EXIT

if ! HALLMARK_EPCIS_SAMPLE_DIR=$work "$wallet_tests" \
    --test-case="epcis: sample bundles for the schema check" >"$work/generate.log" 2>&1; then
  cat "$work/generate.log"
  echo "FAILED: could not write the sample bundles"
  exit 1
fi
[[ -s $work/items.txt ]] || {
  cat "$work/generate.log"
  echo "FAILED: $wallet_tests wrote no items.txt (was the test case renamed?)"
  exit 1
}

exports=()
while read -r file item; do
  out="$work/${file%.pb}.epcis.json"
  echo "hallmark export $item --format epcis --proof $file --genesis genesis.json --out ${out##*/}"
  "$hallmark" export "$item" --format epcis --proof "$work/$file" \
    --genesis "$work/genesis.json" --out "$out"
  exports+=("$out")
done <"$work/items.txt"

"$python" "$here/validate_epcis.py" "$schema" --cbv-words "$work/cbv-words.txt" "${exports[@]}"

# The documents the import's tests read (tests/unit/wallet/epcis_import_test.cpp) must be EPCIS as
# GS1's schema defines it, whatever forms of the vocabulary they use.
if ! HALLMARK_EPCIS_SAMPLE_DIR=$work "$wallet_tests" \
    --test-case="import: sample documents for the schema check" >"$work/import.log" 2>&1; then
  cat "$work/import.log"
  echo "FAILED: could not write the import's sample documents"
  exit 1
fi
imports=("$work"/import-*.jsonld)
[[ -f ${imports[0]} ]] || {
  cat "$work/import.log"
  echo "FAILED: $wallet_tests wrote no import-*.jsonld (was the test case renamed?)"
  exit 1
}
"$python" "$here/validate_epcis.py" "$schema" --schema-only "${imports[@]}"
