# Shared helpers for the multi-process tests (bash; source it). Each test runs a testnet written by
# `hallmarkd testnet` in its own /tmp folder on its own ports, and everything it started is
# killed on exit. Waits poll with generous deadlines: the machine may be slow and loaded.
#
#   source lib.sh; hm_init BIN_DIR NAME BASE_PORT     # sets bin, dir, base; traps EXIT
#   hm_testnet --validators 4 [--observers 1]         # hallmarkd testnet into $dir
#   hm_start N | hm_start o0 [ARGS]                    # node N or observer 0, log in <home>/log
#   hm_kill N                                          # SIGKILL
#   hm_stop N...                                       # SIGTERM, then reap (a clean stop)
#   api N, height N, wait_height N H SECS, hm_chain N..., hm_submit N SERIAL, pass MSG, fail MSG
#
# Set HALLMARK_KEEP_TEST_DIR=1 to keep the folder (and its logs) after the test.

hm_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PYTHONDONTWRITEBYTECODE=1
declare -A hm_pids=()

hm_init() {  # BIN_DIR NAME BASE_PORT
  bin=$1
  hm_name=$2
  base=${HALLMARK_TEST_BASE_PORT:-$3}
  [[ -x $bin/hallmarkd && -x $bin/hallmark ]] || { echo "FAIL: no hallmarkd/hallmark in $bin"; exit 1; }
  dir=$(mktemp -d "/tmp/hallmark-$2-XXXXXX")
  hm_t0=$SECONDS
  trap hm_cleanup EXIT
  trap 'exit 143' TERM INT HUP  # So that a CTest timeout also runs the cleanup.
}

hm_cleanup() {
  local pid
  for pid in "${hm_pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${hm_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n ${HALLMARK_KEEP_TEST_DIR:-} ]]; then echo "kept $dir"; else rm -rf "$dir"; fi
}

# The home folder of node N (a number) or observer J (oJ).
hm_home() { if [[ $1 == o* ]]; then echo "$dir/observer${1#o}"; else echo "$dir/node$1"; fi; }
api() {
  if [[ $1 == o* ]]; then echo "http://127.0.0.1:$((base + 150 + ${1#o}))"; else echo "http://127.0.0.1:$((base + 100 + $1))"; fi
}
p2p_port() { if [[ $1 == o* ]]; then echo $((base + 50 + ${1#o})); else echo $((base + $1)); fi; }

fail() {
  echo "FAIL: $*"
  local log
  for log in "$dir"/node*/log "$dir"/observer*/log; do
    [[ -f $log ]] || continue
    echo "--- $log"
    tail -25 "$log"
  done
  exit 1
}
pass() { echo "ok: $* [$((SECONDS - hm_t0)) s]"; }

hm_testnet() {
  # Empty blocks every 500 ms, so that heights advance while idle as the tests expect.
  "$bin/hallmarkd" testnet --dir "$dir" --base-port "$base" --chain-id "$hm_name-test" \
    --idle-block-interval-ms 500 "$@" >/dev/null ||
    fail "hallmarkd testnet $*"
}

hm_start() {  # N|oJ [extra hallmarkd start args]
  local who=$1 home
  shift
  home=$(hm_home "$who")
  "$bin/hallmarkd" start --home "$home" "$@" >>"$home/log" 2>&1 &
  hm_pids[$who]=$!
}

hm_kill() {  # N|oJ ...: SIGKILL, and reap
  local who
  for who in "$@"; do
    kill -KILL "${hm_pids[$who]}" 2>/dev/null || true
    wait "${hm_pids[$who]}" 2>/dev/null || true
    unset "hm_pids[$who]"
  done
}

hm_stop() {  # N|oJ ...: SIGTERM (all at once), and reap
  local who
  for who in "$@"; do kill -TERM "${hm_pids[$who]}" 2>/dev/null || true; done
  for who in "$@"; do
    wait "${hm_pids[$who]}" 2>/dev/null || true
    unset "hm_pids[$who]"
  done
}

hm_alive() { kill -0 "${hm_pids[$1]}" 2>/dev/null; }

height() { curl -fsS --max-time 5 "$(api "$1")/v1/health" 2>/dev/null | sed -n 's/.*"height":"\{0,1\}\([0-9]*\).*/\1/p'; }

wait_height() {  # N|oJ, minimum height, seconds
  local h="" deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    h=$(height "$1" || true)
    [[ -n $h && $h -ge $2 ]] && return 0
    hm_alive "$1" || fail "$(hm_home "$1") exited while waiting for height $2"
    sleep 0.2
  done
  fail "$(hm_home "$1") did not reach height $2 within $3 s (at ${h:-none})"
}

# Waits until every node answers its API and has committed block 1.
wait_up() {  # seconds, N|oJ...
  local secs=$1 who
  shift
  for who in "$@"; do wait_height "$who" 1 "$secs"; done
}

# Every given node holds the same block and state root at every height up to the lowest head.
# Sets chain_height (that height) and chain_records (records in those blocks).
hm_chain() {
  local urls=() who out
  for who in "$@"; do urls+=("$(api "$who")"); done
  out=$(python3 "$hm_here/hm.py" chain "${urls[@]}") || fail "the nodes' chains differ: $out"
  read -r chain_height chain_records <<<"$out"
}

# A registration by the first brand, submitted through node N without waiting for commit.
hm_submit() {  # N SERIAL
  "$bin/hallmark" --node "$(api "$1")" register --no-wait --key "$dir/keys/maison-aurele.key" \
    --item "01/00614141000012/21/$2" --attr "test=$hm_name" >/dev/null ||
    fail "submitting $2 through node$1"
}

# Waits until item 01/00614141000012/21/SERIAL is committed as seen by node N.
wait_committed() {  # N SERIAL seconds
  echo "01/00614141000012/21/$2" >"$dir/one-id"
  python3 "$hm_here/hm.py" committed "$(api "$1")" "$dir/one-id" "$3" || fail "record $2 did not commit on node$1"
}

# Fails if any node logged evidence of a validator signing twice.
no_equivocation() {
  if grep -h "evidence of equivocation" "$dir"/node*/log "$dir"/observer*/log 2>/dev/null; then
    fail "a node saw a validator sign two conflicting votes"
  fi
}
