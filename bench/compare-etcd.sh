#!/usr/bin/env bash
# Hallmark beside etcd, in one run on this machine (issue 14, docs/bench.md "Side by side with
# etcd"). Starts a 3-member etcd cluster (Debian's etcd-server) on loopback and drives it with
# `hallmark-bench etcd` (closed loop, C connections, V-byte values through etcd's JSON gateway);
# then a fresh 4-validator Hallmark network (HTTP rate limit off) driven by `hallmark-bench
# write` with the same connection count, closed loop to saturation, then open loop at half of
# the rate it reached, then `hallmark-bench read` on one node. Prints one table with the ratios
# and the load average before and after; not part of `make test` (`make bench-compare`).
#   bench/compare-etcd.sh [RECORDS (50000)] [BASE_PORT (25000)]
# Environment: HALLMARK_BIN (build/bin), CLIENTS (64), VALUE_BYTES (256), READS (100000),
# ADMISSION_MS (the nodes' mempool.admission_ms; unset: the default, 0: off).
set -euo pipefail
records=${1:-50000}
base=${2:-25000}
bin=${HALLMARK_BIN:-build/bin}
clients=${CLIENTS:-64}
value_bytes=${VALUE_BYTES:-256}
reads=${READS:-100000}
command -v etcd >/dev/null || { echo "compare-etcd: etcd not found; run: scripts/install-deps bench" >&2; exit 2; }
dir=$(mktemp -d /tmp/hallmark-compare-etcd-XXXXXX)
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  stop_all
  rm -rf "$dir"
}
trap cleanup EXIT
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# etcd: members e0..e2, client port base+i, peer port base+10+i; fsync on (etcd's default).
cluster=""
for i in 0 1 2; do cluster+="${cluster:+,}e$i=http://127.0.0.1:$((base + 10 + i))"; done
endpoints=()
for i in 0 1 2; do
  etcd --name "e$i" --data-dir "$dir/etcd$i" \
    --listen-client-urls "http://127.0.0.1:$((base + i))" \
    --advertise-client-urls "http://127.0.0.1:$((base + i))" \
    --listen-peer-urls "http://127.0.0.1:$((base + 10 + i))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((base + 10 + i))" \
    --initial-cluster "$cluster" --initial-cluster-state new \
    --initial-cluster-token hallmark-compare --log-level warn >"$dir/etcd$i.log" 2>&1 &
  pids+=($!)
  endpoints+=(--endpoint "http://127.0.0.1:$((base + i))")
done
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$base/health" 2>/dev/null | grep -q '"true"' && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$base/health" | grep -q '"true"' ||
  { echo "compare-etcd: etcd did not become healthy: $(tail -3 "$dir/etcd0.log")" >&2; exit 1; }
echo "== etcd $(etcd --version | head -1 | awk '{print $3}'), 3 members: $records puts, $clients connections, $value_bytes-byte values" >&2
etcd_line=$("$bin/hallmark-bench" etcd "${endpoints[@]}" --records "$records" --clients "$clients" \
  --value-bytes "$value_bytes" 2>"$dir/etcd-bench.err") ||
  { echo "hallmark-bench etcd failed: $(tail -3 "$dir/etcd-bench.err")" >&2; exit 1; }
stop_all

# Hallmark: 4 validators, P2P base+100+i, HTTP base+200+i.
hbase=$((base + 100))
"$bin/hallmarkd" testnet --validators 4 --dir "$dir/net" --base-port "$hbase" --force >/dev/null
for i in 0 1 2 3; do
  sed -i 's/"rate_limit_per_second": [0-9]*/"rate_limit_per_second": 0/' "$dir/net/node$i/config.json"
  if [[ -n "${ADMISSION_MS:-}" ]]; then
    sed -i "s/\"admission_ms\": [0-9]*/\"admission_ms\": $ADMISSION_MS/" "$dir/net/node$i/config.json"
  fi
  "$bin/hallmarkd" start --home "$dir/net/node$i" >"$dir/net/node$i.log" 2>&1 &
  pids+=($!)
done
nodes=()
for i in 0 1 2 3; do
  url="http://127.0.0.1:$((hbase + 100 + i))"
  nodes+=(--node "$url")
  for _ in $(seq 1 100); do curl -fsS "$url/v1/health" >/dev/null 2>&1 && break; sleep 0.1; done
done
sleep 2
echo "== Hallmark, 4 validators: $records records, $clients connections, closed loop" >&2
closed=$("$bin/hallmark-bench" write --genesis "$dir/net/genesis.json" --keys "$dir/net/keys" \
  "${nodes[@]}" --records "$records" --clients "$clients" 2>"$dir/closed.err") ||
  { echo "hallmark-bench write failed: $(tail -3 "$dir/closed.err")" >&2; exit 1; }
saturation=$(sed -n 's/.*"committed_per_s":\([0-9.]*\).*/\1/p' <<<"$closed")
half=$(python3 -c "print(round($saturation / 2, 1))")
echo "== Hallmark: open loop at $half records/s (half of saturation)" >&2
open_records=$(python3 -c "print(max(1000, int($half * 20)))")
open=$("$bin/hallmark-bench" write --genesis "$dir/net/genesis.json" --keys "$dir/net/keys" \
  "${nodes[@]}" --records "$open_records" --clients "$clients" --rate "$half" 2>"$dir/open.err") ||
  { echo "hallmark-bench write (open loop) failed: $(tail -3 "$dir/open.err")" >&2; exit 1; }
echo "== Hallmark: $reads item reads from one node" >&2
read_line=$("$bin/hallmark-bench" read --node "http://127.0.0.1:$((hbase + 100))" --records "$reads" \
  --clients "$clients" 2>"$dir/read.err") ||
  { echo "hallmark-bench read failed: $(tail -3 "$dir/read.err")" >&2; exit 1; }
stop_all

python3 - "$etcd_line" "$closed" "$open" "$read_line" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, sys
etcd, closed, open_, read = (json.loads(a) for a in sys.argv[1:5])
def ms(d, k): return f"{d[k]:.1f}"
rows = [
    ("committed writes/s, closed loop", f"{etcd['committed_per_s']:,.0f}",
     f"{closed['committed_per_s']:,.0f}", f"{closed['committed_per_s'] / etcd['committed_per_s']:.2f}x"),
    ("p50 / p99 ms at saturation", f"{ms(etcd,'latency_ms_p50')} / {ms(etcd,'latency_ms_p99')}",
     f"{ms(closed,'latency_ms_p50')} / {ms(closed,'latency_ms_p99')}", ""),
    (f"p50 / p99 ms, open loop at {open_['rate']:,.0f}/s", "-",
     f"{ms(open_,'latency_ms_p50')} / {ms(open_,'latency_ms_p99')}", ""),
    ("item reads/s, one node", "-", f"{read['reads_per_s']:,.0f}", ""),
    ("items:check ids/s", "-", f"{read['checks_per_s']:,.0f}", ""),
]
w = [max(len(r[i]) for r in rows + [("", "etcd, 3 members", "Hallmark, 4 validators", "ratio")]) for i in range(4)]
head = ("", "etcd, 3 members", "Hallmark, 4 validators", "ratio")
print("| " + " | ".join(h.ljust(w[i]) for i, h in enumerate(head)) + " |")
print("|" + "|".join("-" * (w[i] + 2) for i in range(4)) + "|")
for r in rows:
    print("| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(r)) + " |")
print(f"clients {closed['clients']}, etcd values {etcd['value_bytes']} B; "
      f"load average before {sys.argv[5]}, after {sys.argv[6]}")
PY
