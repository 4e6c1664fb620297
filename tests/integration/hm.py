#!/usr/bin/env python3
"""Helpers for the multi-process tests: talk to hallmarkd's HTTP API over keep-alive connections
and check what every node holds. Standard library only.

Used from the shell scripts as a command:
  hm.py chain URL...                    every node: same block hash and state root at every
                                        height up to the lowest head, parents linked, no record
                                        twice; prints "HEIGHT RECORDS"
  hm.py committed URL IDS_FILE SECONDS  waits until every id in IDS_FILE (one per line) is
                                        registered on the node at URL
  hm.py same-items IDS_FILE URL...      GET /v1/items/{id} and POST /v1/items:check answer the
                                        same on every node (no records in flight)
  hm.py monitor OUT URL...              until killed, appends "SECONDS HEIGHT" to OUT each time
                                        the highest head among the nodes grows (polls 10/s)
  hm.py max-gap OUT                     prints the longest time in seconds between two growths
                                        that `monitor` wrote, and the height after it
  hm.py registers URL IDS_FILE          walks every block on the node and counts the register
                                        records of each item: each id in IDS_FILE exactly once;
                                        prints "ITEMS REGISTERS"
and imported by bad_input.py, feed.py and tests/faults/faultlib.py.
"""

import base64
import http.client
import json
import sys
import time
import urllib.parse


class Fail(Exception):
    pass


class Node:
    """One keep-alive HTTP/1.1 connection to a node's API; reconnects once if it was closed.
    With retry=False any error closes the connection and is raised at once, not tried again
    (the fault suite: it must not wait twice on a paused node, nor post a record twice)."""

    def __init__(self, url, timeout=10, retry=True):
        u = urllib.parse.urlsplit(url)
        self.url = url
        self.host, self.port = u.hostname, u.port
        self.timeout = timeout
        self.attempts = 2 if retry else 1
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        """Returns (status, headers dict with lower-case names, body bytes)."""
        headers = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, bytearray)):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        for attempt in range(self.attempts):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                r = self.conn.getresponse()
                data = r.read()
                hdrs = {k.lower(): v for k, v in r.getheaders()}
                if hdrs.get("connection", "").lower() == "close":
                    self.close()
                return r.status, hdrs, data
            except (ConnectionError, http.client.HTTPException, OSError):
                self.close()
                if attempt == self.attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def json(self, method, path, body=None, expect=200):
        status, _, data = self.request(method, path, body)
        if status != expect:
            raise Fail(f"{self.url}: {method} {path} answered {status}, not {expect}: {data[:300]!r}")
        return json.loads(data)

    def height(self):
        return int(self.json("GET", "/v1/health").get("height", 0))

    def block(self, h):
        return self.json("GET", f"/v1/blocks/{h}")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def item_path(item_id):
    return "/v1/items/" + urllib.parse.quote(item_id, safe="/")


def check_chain(urls):
    """Every node holds the same block (hash) and state root at every height up to the lowest
    head; each header names its parent; no record id appears twice. Returns (height, records)."""
    nodes = [Node(u) for u in urls]
    top = min(n.height() for n in nodes)
    seen = set()
    prev_hash = None
    for h in range(1, top + 1):
        ref = None
        for n in nodes:
            b = n.block(h)
            got = (b["hash"], b["header"].get("state_root", ""))
            if ref is None:
                ref = got
                ids = b.get("record_ids", [])
                parent = base64.b64decode(b["header"].get("prev_hash", "")).hex()
            elif got != ref:
                raise Fail(f"height {h}: {urls[0]} has block {ref[0][:16]} state root {ref[1]}, "
                           f"{n.url} has block {got[0][:16]} state root {got[1]}")
        if prev_hash is not None and parent != prev_hash:
            raise Fail(f"height {h}: prev_hash {parent[:16]} is not block {h - 1} ({prev_hash[:16]})")
        prev_hash = ref[0]
        for rid in ids:
            if rid in seen:
                raise Fail(f"record {rid} is committed twice (again at height {h})")
            seen.add(rid)
    heads = {}
    for n in nodes:
        st = n.json("GET", "/v1/status")
        if int(st["height"]) == top:
            heads[n.url] = st.get("state_root", "")
    if len(set(heads.values())) > 1:
        raise Fail(f"/v1/status state roots differ at height {top}: {heads}")
    for n in nodes:
        n.close()
    return top, len(seen)


def check_all(node, ids):
    """POST /v1/items:check in batches of 1000; returns the results, in order."""
    out = []
    for i in range(0, len(ids), 1000):
        r = node.json("POST", "/v1/items:check", {"ids": ids[i:i + 1000]})
        out.extend(r.get("results", []))
    return out


def wait_committed(url, ids, seconds):
    node = Node(url)
    deadline = time.monotonic() + seconds
    missing = ids
    while True:
        results = check_all(node, missing)
        missing = [r["input"] for r in results if not r.get("registered")]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise Fail(f"{url}: {len(missing)} of {len(ids)} items not committed after {seconds} s, "
                       f"e.g. {missing[:3]}")
        time.sleep(0.25)


def same_items(ids, urls):
    """Every node answers item reads and checks identically (apart from the head height each
    answer was read at). REQUIRES: no record for these items in flight."""
    nodes = [Node(u) for u in urls]
    ref_checks = None
    for n in nodes:
        checks = check_all(n, ids)
        if ref_checks is None:
            ref_checks = checks
        elif checks != ref_checks:
            diff = next(i for i, (a, b) in enumerate(zip(ref_checks, checks)) if a != b)
            raise Fail(f"items:check differs: {urls[0]} {ref_checks[diff]} vs {n.url} {checks[diff]}")
    for item in ids:
        ref = None
        for n in nodes:
            got = n.json("GET", item_path(item))
            # The head the answer was read at; the item itself must not differ.
            got.pop("height", None)
            got.pop("block_time_ms", None)
            if ref is None:
                ref = got
            elif got != ref:
                raise Fail(f"GET /v1/items/{item} differs between {urls[0]} and {n.url}")
    for n in nodes:
        n.close()


def pb_fields(data):
    """The (field number, value) pairs of a serialized Protobuf message: varints as int,
    length-delimited fields as bytes (RecordPayload has no fixed-width fields)."""
    i, out = 0, []

    def varint():
        nonlocal i
        v, shift = 0, 0
        while True:
            b = data[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return v

    while i < len(data):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            out.append((field, varint()))
        elif wire == 2:
            n = varint()
            out.append((field, data[i:i + n]))
            i += n
        else:
            raise Fail(f"unexpected wire type {wire} in field {field}")
    return out


def count_registers(url):
    """Register records per item id over every block from 1 to the head of the node at url."""
    node = Node(url, timeout=30)
    counts = {}
    for h in range(1, node.height() + 1):
        for envelope in node.block(h).get("block", {}).get("records", []):
            fields = dict(pb_fields(base64.b64decode(envelope.get("payload", ""))))
            if 10 in fields:  # RecordPayload.register
                item = fields.get(2, b"").decode()
                counts[item] = counts.get(item, 0) + 1
    node.close()
    return counts


def monitor(out, urls):
    nodes = [Node(u, timeout=2) for u in urls]
    best = 0
    with open(out, "a") as f:
        while True:
            for n in nodes:
                try:
                    h = n.height()
                except (Fail, OSError, http.client.HTTPException, ValueError):
                    n.close()
                    continue
                if h > best:
                    best = h
                    f.write(f"{time.monotonic():.3f} {h}\n")
                    f.flush()
            time.sleep(0.1)


def max_gap(out):
    rows = [line.split() for line in open(out) if line.strip()]
    gap, after = 0.0, 0
    for (t0, _), (t1, h1) in zip(rows, rows[1:]):
        if float(t1) - float(t0) > gap:
            gap, after = float(t1) - float(t0), int(h1)
    return gap, after


def main(argv):
    try:
        if argv[1] == "chain":
            top, records = check_chain(argv[2:])
            print(top, records)
        elif argv[1] == "committed":
            ids = open(argv[3]).read().split()
            wait_committed(argv[2], ids, float(argv[4]))
        elif argv[1] == "monitor":
            monitor(argv[2], argv[3:])
        elif argv[1] == "max-gap":
            gap, after = max_gap(argv[2])
            print(f"{gap:.1f} {after}")
        elif argv[1] == "registers":
            ids = open(argv[3]).read().split()
            counts = count_registers(argv[2])
            wrong = [(i, counts.get(i, 0)) for i in ids if counts.get(i, 0) != 1]
            if wrong:
                raise Fail(f"{len(wrong)} items are not registered exactly once, e.g. {wrong[:3]}")
            print(len(ids), sum(counts.values()))
        elif argv[1] == "same-items":
            ids = open(argv[2]).read().split()
            same_items(ids, argv[3:])
        else:
            print(__doc__, file=sys.stderr)
            return 3
    except (Fail, OSError, http.client.HTTPException, KeyError, ValueError) as e:
        print(f"FAIL: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
