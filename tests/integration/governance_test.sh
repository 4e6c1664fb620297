#!/usr/bin/env bash
# Real processes on loopback: a consortium that changes under steady load (issue 11).
#  1. Four validators commit while a client registers items one after another, each waiting for
#     its commit (an acknowledged record).
#  2. A new marketplace organisation is admitted by proposal and approvals, and its node (written
#     by `hallmarkd testnet --joiners 1`, following since the start) is added as a fifth
#     validator; once that is in force it votes: with an original validator then stopped, the
#     chain goes on only with its signatures.
#  3. The stopped validator is removed from the set by governance.
#  4. A brand rotates its only signing key (`hallmark key rotate`, twice); a record signed with the
#     revoked key is refused with a clear error, the new key signs.
#  5. Commits never stopped for long, every node (the joiner too) holds the same blocks and
#     state roots at every height, every acknowledged record is committed, and items registered
#     before, between and after the changes verify with the original genesis.json alone, online
#     and offline, also with a warm trust file; a tampered saved bundle is refused.
# Usage: governance_test.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh"
hm_init "$1" gov 19890
export XDG_STATE_HOME=$dir/state  # verify's trust files stay in the test folder

hm_testnet --validators 4 --joiners 1
joiner_home=$dir/joiner0
joiner_api=http://127.0.0.1:$((base + 180))
for i in 0 1 2 3; do hm_start "$i"; done
"$bin/hallmarkd" start --home "$joiner_home" >>"$joiner_home/log" 2>&1 &
hm_pids[j0]=$!
wait_up 60 0 1 2 3
pass "4 validators up, the joiner's node following"

hm() { "$bin/hallmark" --node "$(api 0)" "$@"; }
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
keys=$dir/keys
# The genesis members other than the proposer maison-aurele: 6 members need 5 approvals.
approvers=(lux-resale atelier-nord second-luxe veritas-lab)

# Proposes (maison-aurele signs) and approves until complete; prints "COMPLETED EFFECTIVE".
pass_change() {  # gov propose ARGS...
  local id out
  id=$(hm gov propose "$@" --key "$keys/maison-aurele.key" --json | json_field "['id']") ||
    fail "gov propose $*"
  for org in "${approvers[@]}"; do
    out=$(hm gov approve "$id" --key "$keys/$org.key" --json) || fail "gov approve $id by $org"
  done
  echo "$out" | json_field "['status']" | grep -qx completed || fail "proposal $id not completed: $out"
  echo "$out" | python3 -c "import json,sys; d=json.load(sys.stdin); print(d['completed_height'], d['effective_height'])"
}

# Steady load: registrations through the four original nodes in turn, each acknowledged only
# once committed; acknowledged ids go to $dir/acked.
: >"$dir/acked"
(
  n=0
  while [[ ! -f $dir/stop-load ]]; do
    n=$((n + 1))
    node=$((n % 3))  # node3 is stopped part way; its clients would only time out
    id="01/00614141000012/21/LOAD-$n"
    if "$bin/hallmark" --node "$(api "$node")" register --timeout 30 --key "$keys/maison-aurele.key" \
      --item "$id" --attr n="$n" >/dev/null 2>>"$dir/load-errors"; then
      echo "$id" >>"$dir/acked"
    fi
    sleep 0.1
  done
) &
load_pid=$!
python3 "$hm_here/hm.py" monitor "$dir/heights" "$(api 0)" "$(api 1)" "$(api 2)" &
monitor_pid=$!
cleanup_bg() { kill "$load_pid" "$monitor_pid" 2>/dev/null || true; }
trap 'cleanup_bg; hm_cleanup' EXIT

register_atelier() {  # KEYFILE SERIAL: registers an atelier-nord item; prints the CLI's output
  "$bin/hallmark" --node "$(api 0)" register --key "$1" --item "01/09506000000015/21/$2" 2>&1
}
hm register --key "$keys/maison-aurele.key" --item 01/00614141000012/21/BEFORE >/dev/null ||
  fail "registering BEFORE"
register_atelier "$keys/atelier-nord.key" A-BEFORE >/dev/null || fail "registering A-BEFORE"
pass "items registered before any change"

# --- 2. A new marketplace and its validator -------------------------------------------------
org_key=$("$bin/hallmark" key show "$keys/joiner-0.key" | awk '/public_key/ {print $2}')
node_key=$("$bin/hallmark" key show "$joiner_home/node.key" | awk '/public_key/ {print $2}')
read -r done_at in_force <<<"$(pass_change add-org --id joiner-0 --name "Joiner Resale" \
  --role marketplace --signing-key "$org_key")"
pass "organisation joiner-0 admitted at height $done_at (a member from $in_force)"
read -r done_at in_force <<<"$(pass_change add-validator --name joiner0 --org joiner-0 \
  --consensus-key "$node_key" --power 1)"
pass "validator joiner0 added at height $done_at, in force from $in_force"
hm register --key "$keys/maison-aurele.key" --item 01/00614141000012/21/BETWEEN >/dev/null ||
  fail "registering BETWEEN"

# The new marketplace signs records as a member from now on: an attestation of a listing.
"$bin/hallmark" --node "$joiner_api" attest --key "$keys/joiner-0.key" \
  --item 01/00614141000012/21/BETWEEN --verdict genuine --note "listing checked" >/dev/null ||
  fail "the new marketplace's attestation was refused"
pass "the new marketplace attests a listing through its own node"

wait_height 0 $((in_force + 2)) 60
grep -q "it votes" "$joiner_home/log" || fail "the joiner never said it votes"
# With node3 stopped, 4 of 5 validators remain: a quorum needs the joiner's signature.
hm_kill 3
h_stop=$(height 0)
wait_height 0 $((h_stop + 6)) 60
python3 - "$(api 0)" "$node_key" "$h_stop" <<'EOF' || fail "the joiner's signature is missing"
import base64, json, sys, urllib.request
url, key, start = sys.argv[1], bytes.fromhex(sys.argv[2]), int(sys.argv[3])
# Block start + 1 may have been certified with node3's last precommit; later ones cannot.
for h in range(start + 2, start + 6):
    cert = json.load(urllib.request.urlopen(f"{url}/v1/blocks/{h}"))["certificate"]
    signers = {base64.b64decode(s["validator"]) for s in cert["signatures"]}
    if key not in signers:
        sys.exit(f"block {h} is certified without the joiner")
EOF
pass "node3 stopped: blocks $((h_stop + 2))..$((h_stop + 5)) certified with the joiner's signature"

# --- 3. The stopped validator leaves the set ------------------------------------------------
read -r done_at out_from <<<"$(pass_change remove-validator --validator node3)"
wait_height 0 $((out_from + 2)) 60
hm network --json | python3 -c "
import json, sys
d = json.load(sys.stdin)
names = sorted(v['name'] for v in d['validators']['validators'])
assert names == ['joiner0', 'node0', 'node1', 'node2'], names
" || fail "the validator set after the removal is wrong: $(hm network --json)"
pass "validator node3 removed at height $done_at, out of the set from $out_from"

# --- 4. A brand rotates its only key --------------------------------------------------------
"$bin/hallmark" keygen --out "$dir/atelier-new.key" --no-passphrase >/dev/null 2>&1
rotate() {
  "$bin/hallmark" --node "$(api 0)" key rotate --key "$keys/atelier-nord.key" \
    --new "$dir/atelier-new.key" --org atelier-nord --json
}
approve_all_pending_of() {  # ORG: approves every pending proposal ORG made
  local ids id
  ids=$(hm gov list --json | python3 -c "
import json, sys
for p in json.load(sys.stdin).get('proposals', []):
    if p['proposer'] == '$1': print(p['id'])
")
  for id in $ids; do
    for org in maison-aurele lux-resale second-luxe veritas-lab; do
      hm gov approve "$id" --key "$keys/$org.key" >/dev/null || fail "approving $id by $org"
    done
  done
}
rotate >"$dir/rotate1.json" || fail "key rotate (add): $(cat "$dir/rotate1.json")"
approve_all_pending_of atelier-nord
register_atelier "$keys/atelier-nord.key" A-BETWEEN >/dev/null || fail "old key before revocation"
rotate >"$dir/rotate2.json" || fail "key rotate (revoke): $(cat "$dir/rotate2.json")"
approve_all_pending_of atelier-nord
if out=$(register_atelier "$keys/atelier-nord.key" A-STOLEN); then
  fail "a record signed with the revoked key was accepted: $out"
fi
echo "$out" | grep -q "not_authorized" || fail "no not_authorized refusal: $out"
echo "$out" | grep -q "revoked at height" || fail "the refusal does not say the key was revoked: $out"
register_atelier "$dir/atelier-new.key" A-AFTER >/dev/null || fail "the new key could not register"
pass "atelier-nord rotated its key; the revoked key is refused: ${out##*: }"
hm register --key "$keys/maison-aurele.key" --item 01/00614141000012/21/AFTER >/dev/null ||
  fail "registering AFTER"

# --- 5. Agreement, nothing lost, no long stall ------------------------------------------------
touch "$dir/stop-load"
wait "$load_pid" || true
kill "$monitor_pid" 2>/dev/null || true
acked=$(wc -l <"$dir/acked")
((acked >= 20)) || fail "only $acked records acknowledged under load: $(tail -3 "$dir/load-errors")"
for who in 0 1 2; do
  python3 "$hm_here/hm.py" committed "$(api "$who")" "$dir/acked" 60 || fail "acknowledged records missing on node$who"
done
python3 "$hm_here/hm.py" committed "$joiner_api" "$dir/acked" 60 || fail "acknowledged records missing on the joiner"
target=$(height 0)
for who in 1 2; do wait_height "$who" "$target" 60; done
urls=("$(api 0)" "$(api 1)" "$(api 2)" "$joiner_api")
out=$(python3 "$hm_here/hm.py" chain "${urls[@]}") || fail "the nodes' chains differ: $out"
read -r chain_height chain_records <<<"$out"
read -r gap gap_at <<<"$(python3 "$hm_here/hm.py" max-gap "$dir/heights")"
python3 -c "import sys; sys.exit(0 if float('$gap') <= 8.0 else 1)" ||
  fail "commits stopped for $gap s (before height $gap_at)"
pass "$acked acknowledged records all committed; 4 nodes agree on $chain_height blocks ($chain_records records); longest pause between commits ${gap} s"

genesis=$dir/genesis.json
for item in 01/00614141000012/21/BEFORE 01/00614141000012/21/BETWEEN 01/00614141000012/21/AFTER \
  01/09506000000015/21/A-BEFORE 01/09506000000015/21/A-BETWEEN 01/09506000000015/21/A-AFTER; do
  name=${item##*/}
  "$bin/hallmark" verify "$item" --genesis "$genesis" --node "$(api 1)" --trust-dir "$dir/cold-$name" \
    --save-proof "$dir/$name.proof" >/dev/null 2>>"$dir/verify-stderr" || fail "online verify of $item"
  "$bin/hallmark" verify --proof "$dir/$name.proof" "$item" --genesis "$genesis" --max-age 1h \
    --trust-dir "$dir/offline-$name" >/dev/null || fail "offline verify of $item"
  "$bin/hallmark" verify "$item" --genesis "$genesis" --node "$joiner_api" --trust-dir "$dir/warm" \
    >/dev/null || fail "verify of $item with the warm trust file"
done
sizes=$(for f in "$dir"/*.proof; do printf '%s %s B; ' "$(basename "$f" .proof)" "$(stat -c %s "$f")"; done)
pass "items from before, between and after the changes verify with genesis.json alone (online, offline, warm); bundles from genesis: $sizes"

# One governance record's byte flipped inside a saved bundle: refused, exit 2.
python3 - "$dir/AFTER.proof" "$dir/tampered.proof" <<'EOF'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
# The walk's first proposal: flip a byte inside the bundle's governance section (field 10) by
# finding the add-org change's organisation id.
i = data.find(b"joiner-0")
assert i > 0, "no governance walk in the bundle"
data[i] ^= 0x01
open(sys.argv[2], "wb").write(bytes(data))
EOF
set +e
"$bin/hallmark" verify --proof "$dir/tampered.proof" 01/00614141000012/21/AFTER --genesis "$genesis" \
  --max-age 1h --trust-dir "$dir/tampered-trust" >"$dir/tampered.out" 2>&1
code=$?
set -e
[[ $code -eq 2 ]] || fail "a tampered governance walk gave exit $code: $(cat "$dir/tampered.out")"
grep -qi "governance" "$dir/tampered.out" || fail "the refusal does not name the governance check: $(cat "$dir/tampered.out")"
pass "a bundle with a tampered governance record is refused (exit 2, governance check)"
no_equivocation
echo "1 passed, 0 failed"
