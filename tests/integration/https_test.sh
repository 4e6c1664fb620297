#!/usr/bin/env bash
# Real processes on loopback: a 4-validator testnet whose API ports serve HTTPS only, with a CA
# and node certificate made here by the openssl command (no key is committed). `hallmark
# --cacert` registers, shows and verifies through them; the wrong CA is refused with the
# reason and a non-zero exit; plain HTTP on the TLS port gets a clear 400.
# Usage: https_test.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh"
hm_init "$1" https 21100
command -v openssl >/dev/null || fail "no openssl command"

hm_testnet --validators 4
pki=$dir/pki
mkdir -p "$pki"
ca() {  # NAME: a self-signed CA in $pki/NAME.pem, its key in $pki/NAME.key
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=Hallmark test $1" -keyout "$pki/$1.key" -out "$pki/$1.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null || fail "openssl: making $1"
}
ca ca
ca other-ca
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=hallmark node" \
  -keyout "$pki/node.key" -out "$pki/node.csr" 2>/dev/null || fail "openssl: node key"
printf "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n" >"$pki/ext"
openssl x509 -req -in "$pki/node.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial \
  -days 2 -extfile "$pki/ext" -out "$pki/node.pem" 2>/dev/null || fail "openssl: signing node cert"

# Each node gets the files in its home, named relative to it.
for i in 0 1 2 3; do
  home=$(hm_home "$i")
  cp "$pki/node.pem" "$home/tls.pem"
  cp "$pki/node.key" "$home/tls.key"
  python3 - "$home/config.json" <<'PY'
import json, sys
path = sys.argv[1]
config = json.load(open(path))
config.setdefault("http", {})
config["http"]["tlsCertFile"] = "tls.pem"
config["http"]["tlsKeyFile"] = "tls.key"
json.dump(config, open(path, "w"), indent=2)
PY
done
for i in 0 1 2 3; do hm_start "$i"; done

https_api() { echo "https://127.0.0.1:$((base + 100 + $1))"; }
for i in 0 1 2 3; do
  deadline=$((SECONDS + 60))
  until curl -fsS --max-time 5 --cacert "$pki/ca.pem" "$(https_api "$i")/v1/health" 2>/dev/null |
    grep -q '"height":"\{0,1\}[1-9]'; do
    hm_alive "$i" || fail "node$i exited"
    ((SECONDS < deadline)) || fail "node$i did not answer over https with height >= 1 within 60 s"
    sleep 0.2
  done
done
grep -q "https 127.0.0.1" "$(hm_home 0)/log" || fail "node0 does not log that it serves https"
pass "4 validators commit and answer over https"

out=$(curl -sS --max-time 5 -w ' %{http_code}' "$(api 0)/v1/health" 2>&1 || true)
[[ $out == *"this port serves HTTPS only"*" 400" ]] || fail "plain http on the TLS port: $out"
pass "plain http on the TLS port gets a 400 saying so"

item=01/00614141000012/21/TLS-1
"$bin/hallmark" --node "$(https_api 0)" --cacert "$pki/ca.pem" register --timeout 60 \
  --key "$dir/keys/maison-aurele.key" --item "$item" >/dev/null || fail "register over https"
out=$(HALLMARK_CACERT=$pki/ca.pem "$bin/hallmark" --node "$(https_api 1)" show "$item") ||
  fail "show over https: $out"
grep -q "TLS-1" <<<"$out" || fail "show over https does not name the item: $out"
"$bin/hallmark" --node "$(https_api 2)" --cacert "$pki/ca.pem" verify "$item" \
  --genesis "$dir/genesis.json" >/dev/null || fail "verify over https"
pass "hallmark --cacert register, show and verify over https"

set +e
out=$("$bin/hallmark" --node "$(https_api 3)" --cacert "$pki/other-ca.pem" show "$item" 2>&1)
code=$?
set -e
((code != 0)) || fail "the wrong CA was accepted"
[[ $out == *"cannot reach node at $(https_api 3): certificate verify failed (unable to get local issuer certificate); pass --cacert FILE"* ]] ||
  fail "the wrong CA's message: $out"
set +e
out=$("$bin/hallmark" --node "$(https_api 3)" show "$item" 2>&1)
code=$?
set -e
((code != 0)) && [[ $out == *"certificate verify failed"* ]] ||
  fail "the system CA store accepted the test CA: $out"
pass "a wrong CA, or none, is refused with the reason (exit $code)"
