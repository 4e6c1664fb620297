#!/usr/bin/env bash
# Real processes on loopback: bad input (reliability plan T5) against node0 of a running
# 4-validator network, on its HTTP API and its P2P port (bad_input.py does the cases). Each case
# must get a clear error or a closed connection; afterwards node0 must be the same process, still
# connected to its peers, and a new record through it must commit, with every node agreeing.
# Usage: bad_input_test.sh BIN_DIR [api|p2p|forgery]...   (default: api p2p)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
parts=("${@:2}")
((${#parts[@]})) || parts=(api p2p)
hm_init "$1" "bad-${parts[0]}" $((19830 + 10 * $([[ ${parts[0]} == forgery ]] && echo 1 || echo 0)))

hm_testnet --validators 4
# node0: a small connection limit and idle timeout, so that the idle-connection case is quick.
python3 - "$dir/node0/config.json" <<'EOF'
import json, sys
path = sys.argv[1]
c = json.load(open(path))
c.setdefault("http", {}).update({"max_connections": 1000, "idle_timeout_ms": 3000})
json.dump(c, open(path, "w"), indent=1)
EOF
for i in 0 1 2 3; do hm_start "$i"; done
wait_up 60 0 1 2 3
pid0=${hm_pids[0]}
pass "4 validators up"

python3 "$hm_here/bad_input.py" "$bin" "$dir" 0 "${parts[@]}" || fail "bad input cases failed (above)"

# node0 is the same process, answers, keeps its peers and commits.
hm_alive 0 && [[ ${hm_pids[0]} == "$pid0" ]] || fail "node0 exited"
deadline=$((SECONDS + 30))
until curl -fsS "$(api 0)/v1/health" | grep -q '"peers":"3"'; do
  ((SECONDS < deadline)) || fail "node0 lost peers: $(curl -sS "$(api 0)/v1/health")"
  sleep 0.5
done
"$bin/hallmark" --node "$(api 0)" register --timeout 60 --key "$dir/keys/maison-aurele.key" \
  --item 01/00614141000012/21/BI-after >/dev/null || fail "a record through node0 did not commit"
h=$(height 0)
for i in 1 2 3; do wait_height "$i" "$h" 60; done
hm_chain 0 1 2 3
pass "node0 survived, kept its 3 peers, committed a new record; 4 nodes agree up to height $chain_height"
echo "1 passed, 0 failed"
