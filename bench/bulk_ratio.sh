#!/usr/bin/env bash
# Bulk registration against the load generator: starts a fresh 4-validator network on loopback
# (HTTP rate limit off, as docs/bench.md advises for a generator on the same machine), runs
# `hallmark-bench write` (registrations only, closed loop) to saturation, then
# `hallmark register --from` on a generated CSV of as many new items, and prints the items/s of
# each and their ratio (goal: bulk >= 0.5 x the generator).
#   bench/bulk_ratio.sh [ITEMS (20000)] [BASE_PORT (19600)]
# Environment: HALLMARK_BIN (build/bin), BULK_CLIENTS (16), BENCH_CLIENTS (64).
set -euo pipefail
items=${1:-20000}
base=${2:-19600}
bin=${HALLMARK_BIN:-build/bin}
dir=$(mktemp -d /tmp/hallmark-bulk-ratio-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

"$bin/hallmarkd" testnet --validators 4 --dir "$dir" --base-port "$base" --force >/dev/null
for i in 0 1 2 3; do
  sed -i 's/"rate_limit_per_second": 2000/"rate_limit_per_second": 0/' "$dir/node$i/config.json"
  "$bin/hallmarkd" start --home "$dir/node$i" >"$dir/node$i/log" 2>&1 &
  pids+=($!)
done
nodes=()
for i in 0 1 2 3; do
  url="http://127.0.0.1:$((base + 100 + i))"
  nodes+=(--node "$url")
  for _ in $(seq 1 100); do curl -fsS "$url/v1/health" >/dev/null 2>&1 && break; sleep 0.1; done
done
sleep 2

echo "== hallmark-bench write: $items registrations, ${BENCH_CLIENTS:-64} connections" >&2
bench=$("$bin/hallmark-bench" write --genesis "$dir/genesis.json" --keys "$dir/keys" "${nodes[@]}" \
  --records "$items" --clients "${BENCH_CLIENTS:-64}" --transfer-share 0 2>"$dir/bench.err" || true)
bench_rate=$(sed -n 's/.*"committed_per_s":\([0-9.]*\).*/\1/p' <<<"$bench")
[[ -n $bench_rate ]] || { echo "hallmark-bench failed: $(tail -5 "$dir/bench.err")" >&2; exit 1; }

brand=$(ls "$dir/keys" | sed -n 's/\.key$//p' | head -1)
prefix=$(python3 -c "
import json,sys
g=json.load(open('$dir/genesis.json'))
print(next(o['gs1_company_prefixes'][0] for o in g['organizations'] if o['id']=='$brand'))")
python3 - "$dir/bags.csv" "$items" "$prefix" <<'PY'
import sys
path, n, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = ("0" + prefix).ljust(12, "0") + "2"
s = sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(reversed(data)))
gtin = data + str((10 - s % 10) % 10)
with open(path, "w") as f:
    f.write("item,attr:model,attr:colour\n")
    for i in range(n):
        f.write(f"01/{gtin}/21/BULK-{i},\"Speedy, 30\",monogram\n")
PY

echo "== hallmark register --from: $items items, ${BULK_CLIENTS:-16} connections" >&2
bulk=$("$bin/hallmark" "${nodes[@]}" register --from "$dir/bags.csv" --key "$dir/keys/$brand.key" \
  --clients "${BULK_CLIENTS:-16}" --json 2>"$dir/bulk.err") || {
  echo "hallmark register --from failed: $(tail -5 "$dir/bulk.err")" >&2
  exit 1
}
bulk_rate=$(sed -n 's/.*"committed_per_s":\([0-9.]*\).*/\1/p' <<<"$bulk")
python3 - "$bench_rate" "$bulk_rate" <<'PY'
import sys
bench, bulk = float(sys.argv[1]), float(sys.argv[2])
print(f"hallmark-bench write:      {bench:.0f} items/s")
print(f"hallmark register --from:  {bulk:.0f} items/s (file read, state checked, signed, committed)")
print(f"ratio:                     {bulk / bench:.2f} (goal >= 0.5)")
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
