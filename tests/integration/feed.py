#!/usr/bin/env python3
"""Clients of GET /v1/events for feed_test.sh. Standard library only.

  feed.py watch URL QUERY OUT [LAST_EVENT_ID] [STOP_AFTER]
        follows the feed; appends "RECEIVED_MS ID TYPE RECORD_ID BLOCK_TIME_MS" to OUT per event
        (and "RECEIVED_MS caught_up HEIGHT"), flushed at once; exits after STOP_AFTER events
        (0: never) or when the node closes the stream (status 0) or refuses it (status 1)
  feed.py expect URL FROM TO EVENTS_FILE...
        the events in the files (watch's OUT, or `hallmark watch --json` output) are exactly the records of blocks FROM+1..TO, each
        once, with ids HEIGHT.POSITION matching the blocks; prints the count
  feed.py interval URL N
        the mean time between the last N blocks' header times, in ms
  feed.py crowd URL N STATUS_FILE
        holds N feeds that read, plus one that never reads (a small receive buffer); writes
        "open N", then "nonreader-closed SECONDS" when the node drops the non-reader, and checks
        that the readers stay open; runs until killed
"""

import json
import os
import select
import socket
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hm  # noqa: E402


def now_ms():
    return int(time.time() * 1000)


def connect(url, query, last_event_id=None, rcvbuf=None):
    u = urllib.parse.urlsplit(url)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(30)
    s.connect((u.hostname, u.port))
    target = "/v1/events" + (("?" + query) if query else "")
    req = f"GET {target} HTTP/1.1\r\nHost: {u.hostname}\r\nAccept: text/event-stream\r\n"
    if last_event_id:
        req += f"Last-Event-ID: {last_event_id}\r\n"
    s.sendall((req + "\r\n").encode())
    return s


class Stream:
    """Reads an HTTP response head, then a chunked (or close-delimited) SSE body."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.status = None
        self.chunked = False
        self.body = b""
        self.chunk_left = 0
        self.closed = False

    def feed(self, data):
        if not data:
            self.closed = True
            return
        self.buf += data
        if self.status is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1").split("\r\n")
            self.status = int(head[0].split()[1])
            for h in head[1:]:
                k, _, v = h.partition(":")
                if k.strip().lower() == "transfer-encoding" and "chunked" in v.lower():
                    self.chunked = True
            self.buf = self.buf[end + 4:]
        if not self.chunked:
            self.body += self.buf
            self.buf = b""
            return
        while True:
            if self.chunk_left == 0:
                nl = self.buf.find(b"\r\n")
                if nl < 0:
                    return
                line = self.buf[:nl]
                if not line:  # The CRLF after a chunk's data.
                    self.buf = self.buf[2:]
                    continue
                size = int(line.split(b";")[0], 16)
                self.buf = self.buf[nl + 2:]
                if size == 0:
                    self.closed = True
                    return
                self.chunk_left = size
            take = self.buf[:self.chunk_left]
            self.body += take
            self.buf = self.buf[len(take):]
            self.chunk_left -= len(take)
            if self.chunk_left > 0 or not self.buf:
                return

    def events(self):
        """Complete events parsed out of the body so far: dicts of id, event, data."""
        out = []
        while True:
            end = self.body.find(b"\n\n")
            if end < 0:
                return out
            block = self.body[:end].decode()
            self.body = self.body[end + 2:]
            ev = {}
            for line in block.split("\n"):
                if not line or line.startswith(":"):
                    continue
                k, _, v = line.partition(": ")
                ev[k] = v
            if ev:
                out.append(ev)


def watch(url, query, out_path, last_event_id=None, stop_after=0):
    s = connect(url, query, last_event_id)
    s.settimeout(60)
    st = Stream(s)
    seen = 0
    with open(out_path, "a") as out:
        while not st.closed:
            try:
                data = s.recv(65536)
            except socket.timeout:
                print("FAIL: no byte for 60 s (not even a keep-alive)")
                return 1
            st.feed(data)
            if st.status is not None and st.status != 200:
                print(f"FAIL: status {st.status}: {st.buf[:300]!r}")
                return 1
            for ev in st.events():
                t = now_ms()
                if ev.get("event") == "caught_up":
                    out.write(f"{t} caught_up {ev['data']}\n")
                elif "id" in ev:
                    d = json.loads(ev["data"])
                    out.write(f"{t} {ev['id']} {ev['event']} {d['record_id']} {d['block_time_ms']}\n")
                    seen += 1
                out.flush()
                if stop_after and seen >= stop_after:
                    return 0
    return 0


def read_events(paths):
    events = []
    for p in paths:
        for line in open(p):
            if line.startswith("{"):  # hallmark watch --json: one FeedEvent per line.
                d = json.loads(line)
                events.append((f"{int(d.get('height', 0))}.{int(d.get('position', 0))}", d["record_id"]))
                continue
            parts = line.split()
            if len(parts) >= 5:
                events.append((parts[1], parts[3]))
    return events


def expect(url, lo, hi, paths):
    node = hm.Node(url)
    want = []
    for h in range(lo + 1, hi + 1):
        b = node.block(h)
        for pos, rid in enumerate(b.get("record_ids", [])):
            want.append((f"{h}.{pos}", rid))
    got = [e for e in read_events(paths) if lo < int(e[0].split(".")[0]) <= hi]
    if len(got) != len(set(got)):
        dup = [e for e in got if got.count(e) > 1][:3]
        raise hm.Fail(f"events seen twice: {dup}")
    if sorted(got) != sorted(want):
        missing = [e for e in want if e not in got][:3]
        extra = [e for e in got if e not in want][:3]
        raise hm.Fail(f"{len(got)} events, the blocks hold {len(want)}; missing {missing}, extra {extra}")
    if got != want:
        raise hm.Fail("the events came out of block order")
    print(len(got))


def interval(url, n):
    node = hm.Node(url)
    top = node.height()
    times = [int(node.block(h)["header"]["time_ms"]) for h in range(max(1, top - n), top + 1)]
    gaps = [b - a for a, b in zip(times, times[1:])]
    print(int(sum(gaps) / max(1, len(gaps))))


def crowd(url, n, status_path):
    def status(line):
        with open(status_path, "a") as f:
            f.write(line + "\n")

    readers = []
    for i in range(n):
        s = connect(url, "type=decommission")  # Matches nothing here: idle feeds.
        s.setblocking(False)
        readers.append((s, Stream(s)))
    mute = connect(url, "", rcvbuf=4096)  # Every event, and never read.
    t0 = time.time()
    status(f"open {n + 1}")
    by_fd = {s.fileno(): (s, st) for s, st in readers}
    mute_closed = False
    while True:
        ready, _, _ = select.select(list(by_fd.keys()), [], [], 0.5)
        for fd in ready:
            s, st = by_fd[fd]
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            st.feed(data)
            st.raw = (getattr(st, "raw", b"") + data)[-300:]
            if st.status not in (None, 200) or st.closed:
                status(f"FAIL reader {fd} closed after {time.time() - t0:.1f} s: status {st.status}, "
                       f"{'end of stream' if not data else 'last chunk'}; last bytes {st.raw!r}")
                return 1
            st.events()
        if not mute_closed:
            # The node closes the non-reader: a peek sees EOF or a reset once the kernel buffer
            # is read... which we never do, so look at the socket's state instead.
            r, _, x = select.select([mute], [], [mute], 0)
            try:
                info = mute.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
                state = info[0]
            except OSError:
                state = 0
            # The node resets a dropped feed (TCP_CLOSE, 7); a FIN would leave it in
            # TCP_CLOSE_WAIT (8), but only once every byte before it was read.
            if state in (7, 8):
                mute_closed = True
                status(f"nonreader-closed {time.time() - t0:.1f}")


def main(argv):
    try:
        if argv[1] == "watch":
            return watch(argv[2], argv[3], argv[4], argv[5] if len(argv) > 5 and argv[5] else None,
                         int(argv[6]) if len(argv) > 6 else 0)
        if argv[1] == "expect":
            expect(argv[2], int(argv[3]), int(argv[4]), argv[5:])
            return 0
        if argv[1] == "interval":
            interval(argv[2], int(argv[3]))
            return 0
        if argv[1] == "crowd":
            return crowd(argv[2], int(argv[3]), argv[4])
        print(__doc__, file=sys.stderr)
        return 3
    except (hm.Fail, OSError, ValueError, KeyError) as e:
        print(f"FAIL: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
