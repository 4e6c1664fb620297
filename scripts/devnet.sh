#!/usr/bin/env bash
# Starts or stops a local network of hallmarkd processes on loopback.
#   scripts/devnet.sh start [DIR] [VALIDATORS]   writes a fresh testnet in DIR and starts it
#   scripts/devnet.sh stop [DIR]                 stops the nodes started from DIR
set -euo pipefail
cmd=${1:-start}
dir=${2:-devnet}
validators=${3:-4}
bin=${HALLMARK_BIN:-build/bin}
base_port=${HALLMARK_BASE_PORT:-7700}

stop_nodes() {
  local any=0
  for pidfile in "$dir"/node*/hallmarkd.pid "$dir"/observer*/hallmarkd.pid; do
    [[ -f $pidfile ]] || continue
    local pid
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      any=1
    fi
    rm -f "$pidfile"
  done
  # Give them a moment to stop cleanly.
  for _ in $(seq 1 50); do
    pgrep -f "hallmarkd start --home $dir/" >/dev/null || break
    sleep 0.1
  done
  pkill -KILL -f "hallmarkd start --home $dir/" 2>/dev/null || true
  [[ $any == 1 ]] && echo "devnet: stopped the nodes in $dir" || echo "devnet: no nodes running in $dir"
}

case $cmd in
  start)
    stop_nodes >/dev/null
    "$bin/hallmarkd" testnet --validators "$validators" --dir "$dir" --base-port "$base_port" \
      --chain-id hallmark-devnet --force
    for ((i = 0; i < validators; i++)); do
      home="$dir/node$i"
      "$bin/hallmarkd" start --home "$home" >"$home/hallmarkd.log" 2>&1 &
      echo $! >"$home/hallmarkd.pid"
    done
    # Wait until every node answers and the chain has committed a block.
    for ((i = 0; i < validators; i++)); do
      url="http://127.0.0.1:$((base_port + 100 + i))/v1/health"
      for _ in $(seq 1 100); do
        curl -fsS "$url" >/dev/null 2>&1 && break
        sleep 0.1
      done
    done
    echo "devnet: $validators validators running; logs in $dir/node*/hallmarkd.log"
    ;;
  stop)
    stop_nodes
    ;;
  *)
    echo "usage: $0 start|stop [DIR] [VALIDATORS]" >&2
    exit 3
    ;;
esac
