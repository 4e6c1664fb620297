#!/usr/bin/env bash
# Real processes on loopback: the live feed (GET /v1/events, `hallmark watch`) of a 4-validator
# network.
#  (a) a watcher started before a flag sees it within 2 block intervals (measured on the chain);
#  (b) feeds resumed from a height and from an event id, and `hallmark watch` across a kill -9
#      and restart of its node, see every record of the blocks exactly once, in block order;
#  (c) 1,000 idle watchers and one that never reads: the node keeps committing, drops the
#      non-reader, and its resident memory stays bounded (before/after figures printed).
# Usage: feed_test.sh BIN_DIR
set -euo pipefail
source "$(dirname "$0")/lib.sh"
hm_init "$1" feed 20800
feed() { python3 "$hm_here/feed.py" "$@"; }
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"
(($(ulimit -n) >= 2200)) || fail "ulimit -n is $(ulimit -n); 1,000 feeds need 2,200"
now_ms() { date +%s%3N; }
rss_kib() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }
metric() {  # N NAME_WITH_LABELS: the value on node N's /metrics, 0 when absent
  curl -fsS --max-time 5 "$(api "$1")/metrics" | awk -v m="$2" '$1 == m {print $2; f=1} END {if (!f) print 0}'
}

hm_testnet --validators 4
for i in 0 1 2 3; do hm_start "$i"; done
wait_up 60 0 1 2 3
pass "4 validators up"

key=$dir/keys/maison-aurele.key
item=01/00614141000012/21/FEED-1
"$bin/hallmark" --node "$(api 0)" register --key "$key" --item "$item" >/dev/null ||
  fail "registering $item"

# --- (a) a flag reaches a watcher that was waiting for it --------------------------------------
feed watch "$(api 0)" "type=flag&flag=stolen" "$dir/a.events" "" 1 >"$dir/a.log" 2>&1 &
a_pid=$!
deadline=$((SECONDS + 30))
until grep -q caught_up "$dir/a.events" 2>/dev/null; do
  ((SECONDS < deadline)) || fail "the watcher did not connect: $(cat "$dir/a.log")"
  sleep 0.1
done
t_submit=$(now_ms)
"$bin/hallmark" --node "$(api 1)" flag --no-wait --key "$key" --item "$item" --reason stolen \
  --note 'feed test' >/dev/null || fail "flagging $item"
deadline=$((SECONDS + 30))
while kill -0 "$a_pid" 2>/dev/null; do
  ((SECONDS < deadline)) || fail "the flag did not reach the watcher within 30 s"
  sleep 0.05
done
wait "$a_pid" || fail "watcher: $(cat "$dir/a.log")"
read -r t_seen _id _type _rid t_block < <(grep -v caught_up "$dir/a.events")
[[ $_type == flag ]] || fail "the watcher saw $_type, not the flag"
interval=$(feed interval "$(api 0)" 20) || fail "measuring the block interval: $interval"
after_block=$((t_seen - t_block))
after_submit=$((t_seen - t_submit))
echo "block interval (mean of the last 20 blocks): $interval ms; the flag was seen" \
  "$after_block ms after its block's time, $after_submit ms after it was submitted"
((after_block <= 2 * interval)) ||
  fail "the flag took $after_block ms from its block to the watcher, over 2 block intervals"
pass "(a) a watcher sees a flag within 2 block intervals of its block"

# --- (b) resuming: from a height, from an event id, and hallmark watch across a restart --------
h0=$(height 1)
"$bin/hallmark" --node "$(api 0)" watch --json --since "$h0" >"$dir/cli.out" 2>"$dir/cli.err" &
cli_pid=$!
hm_pids[cli]=$cli_pid
feed watch "$(api 1)" "since=$h0" "$dir/b1.events" "" 10 >"$dir/b1.log" 2>&1 &
b1_pid=$!
: >"$dir/ids"
: >"$dir/commands"
for ((i = 1; i <= 120; i++)); do
  echo "01/00614141000012/21/FD-$i" >>"$dir/ids"
  echo "--node $(api $((1 + i % 3))) register --no-wait --timeout 60 --key $key --item 01/00614141000012/21/FD-$i" >>"$dir/commands"
done
head -60 "$dir/commands" | xargs -P 4 -L 1 "$bin/hallmark" >/dev/null 2>"$dir/submit-errors" ||
  fail "submissions failed: $(head -3 "$dir/submit-errors")"
wait "$b1_pid" || fail "first feed: $(cat "$dir/b1.log")"
last=$(grep -v caught_up "$dir/b1.events" | tail -1 | cut -d' ' -f2)
# The second half of the same feed, resumed after the last event the first one saw.
feed watch "$(api 1)" "" "$dir/b2.events" "$last" >"$dir/b2.log" 2>&1 &
b2_pid=$!
hm_pids[b2]=$b2_pid
# Node 0, which `hallmark watch` follows, dies and comes back while records keep coming.
hm_kill 0
tail -60 "$dir/commands" | xargs -P 4 -L 1 "$bin/hallmark" >/dev/null 2>"$dir/submit-errors" ||
  fail "submissions failed: $(head -3 "$dir/submit-errors")"
hm_start 0
python3 "$hm_here/hm.py" committed "$(api 0)" "$dir/ids" 120 || fail "records missing on node0"
h1=$(height 0)
deadline=$((SECONDS + 60))
until feed expect "$(api 1)" "$h0" "$h1" "$dir/b1.events" "$dir/b2.events" >"$dir/b.count" 2>&1; do
  ((SECONDS < deadline)) || fail "resumed feeds: $(cat "$dir/b.count")"
  sleep 0.5
done
pass "(b) a feed read from height $h0 in two connections (Last-Event-ID $last) saw each of the $(cat "$dir/b.count") records of blocks $((h0 + 1))..$h1 once"
deadline=$((SECONDS + 60))
until feed expect "$(api 1)" "$h0" "$h1" "$dir/cli.out" >"$dir/cli.count" 2>&1; do
  ((SECONDS < deadline)) || fail "hallmark watch: $(cat "$dir/cli.count"); $(cat "$dir/cli.err")"
  sleep 0.5
done
kill -INT "$cli_pid"
wait "$cli_pid" || fail "hallmark watch exited with $? on Ctrl-C"
unset "hm_pids[cli]"
grep -q "reconnect\|retrying" "$dir/cli.err" || fail "hallmark watch never noticed the restart"
pass "(b) hallmark watch across node0's kill -9 and restart printed each of the $(cat "$dir/cli.count") records once and stopped cleanly on Ctrl-C"
kill "$b2_pid" 2>/dev/null || true
unset "hm_pids[b2]"

# --- (c) 1,000 idle feeds and one that never reads ----------------------------------------------
wait_height 0 "$((h1 + 2))" 60
node0=${hm_pids[0]}
rss_before=$(rss_kib "$node0")
feed crowd "$(api 0)" 1000 "$dir/crowd.status" >"$dir/crowd.log" 2>&1 &
hm_pids[crowd]=$!
deadline=$((SECONDS + 120))
until grep -q "^open" "$dir/crowd.status" 2>/dev/null; do
  ((SECONDS < deadline)) || fail "opening 1,001 feeds: $(cat "$dir/crowd.log")"
  kill -0 "${hm_pids[crowd]}" || fail "the crowd exited: $(cat "$dir/crowd.log") $(cat "$dir/crowd.status")"
  sleep 0.2
done
sleep 1
watchers=$(metric 0 hallmark_events_watchers)
((${watchers%.*} >= 1001)) || fail "node0 counts $watchers open feeds, not 1,001"
rss_open=$(rss_kib "$node0")
h_start=$(height 0)
# The non-reader's events pile up in the node's queue for it (256 KiB) once the kernel's socket
# buffers (up to 4 MiB on loopback) are full; write records until the node drops it.
records=0
for ((round = 1; round <= 8; round++)); do
  "$bin/hallmark-bench" write --genesis "$dir/genesis.json" --keys "$dir/keys" \
    --node "$(api 1)" --node "$(api 2)" --node "$(api 3)" --records 3000 --clients 8 \
    --run-tag "crowd$round" >"$dir/bench.out" 2>&1 || fail "hallmark-bench: $(tail -3 "$dir/bench.out")"
  records=$((records + 3000))
  deadline=$((SECONDS + 10))
  until grep -q "^nonreader-closed" "$dir/crowd.status" || ((SECONDS >= deadline)); do sleep 0.2; done
  grep -q "^nonreader-closed" "$dir/crowd.status" && break
  kill -0 "${hm_pids[crowd]}" || fail "the crowd exited: $(cat "$dir/crowd.status")"
done
grep -q "^nonreader-closed" "$dir/crowd.status" ||
  fail "node0 did not drop the feed that never reads after $records records"
kill -0 "${hm_pids[crowd]}" || fail "a reading feed was closed: $(cat "$dir/crowd.status")"
wait_height 0 "$(($(height 1) - 1))" 60
h_end=$(height 0)
((h_end > h_start)) || fail "node0 stopped committing"
# Dropped by the feed (its queue stayed full) or by the HTTP server (a write timed out).
dropped=$(metric 0 'hallmark_events_dropped_total{reason="slow_reader"}')
stalled=$(metric 0 'hallmark_http_streams_dropped_total{reason="write_timeout"}')
((${dropped%.*} + ${stalled%.*} >= 1)) || fail "no slow reader counted as dropped"
rss_after=$(rss_kib "$node0")
echo "node0 VmRSS: $((rss_before / 1024)) MiB before, $((rss_open / 1024)) MiB with 1,001 feeds open," \
  "$((rss_after / 1024)) MiB after $records records (blocks $h_start..$h_end);" \
  "non-reader dropped after $(sed -n 's/^nonreader-closed //p' "$dir/crowd.status") s"
((rss_after - rss_before < 200 * 1024)) ||
  fail "node0 grew by $(((rss_after - rss_before) / 1024)) MiB"
pass "(c) 1,000 idle feeds and a non-reader: node0 kept committing, dropped the non-reader, memory bounded"
echo "3 passed, 0 failed"
