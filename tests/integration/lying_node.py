#!/usr/bin/env python3
"""`hallmark verify` as a process against stand-in nodes that lie (issue 9).

Usage: lying_node.py BIN_DIR GENESIS REAL_NODE_URL STOLEN_ID OTHER_ID OLD_JSON OTHER_JSON

OLD_JSON is the proof bundle of STOLEN_ID saved (as the node's JSON answer) while it was still
clean; it has since been flagged stolen on the real network. OTHER_JSON is another clean item's
bundle. Each case starts a stand-in HTTP node on 127.0.0.1, runs the CLI against it, and checks
the exit code, that the message is clear, and the CLI's peak memory (ru_maxrss via wait4).
No case may exit 0. Standard library only.
"""

import os
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stub import Stub, answer  # noqa: E402

MAX_RSS_KB = 96 * 1024  # The CLI's peak memory in any case: its 16 MiB answer limit plus itself.


def huge_length(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 3221225472\r\n\r\n{\"history\":[")
    block = b" " * (1 << 20)
    for _ in range(3 * 1024):  # Up to 3 GiB, until the client hangs up.
        conn.sendall(block)


def endless_chunks(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"100000\r\n" + b" " * 0x100000 + b"\r\n"
    for _ in range(3 * 1024):
        conn.sendall(chunk)


def drip(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
    for _ in range(600):
        conn.sendall(b" ")
        time.sleep(0.5)


def drip_headers(conn):
    for b in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 600:
        conn.sendall(bytes([b]))
        time.sleep(0.5)


def silent(conn):
    time.sleep(60)


def run(argv, timeout=120):
    """Runs the CLI; returns (exit code, stdout, stderr, its peak RSS in KiB, seconds)."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    got = {}

    def drain(name, stream):
        got[name] = stream.read()

    readers = [threading.Thread(target=drain, args=(n, s)) for n, s in (("out", p.stdout), ("err", p.stderr))]
    for r in readers:
        r.start()
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            p.kill()
        time.sleep(0.05)
    for r in readers:
        r.join()
    code = os.waitstatus_to_exitcode(status)
    return (code, got["out"].decode(errors="replace"), got["err"].decode(errors="replace"),
            usage.ru_maxrss, time.monotonic() - t0)


def main(argv):
    bin_dir, genesis, real, stolen, other, old_json, other_json = argv[1:8]
    old = open(old_json, "rb").read()
    other_bundle = open(other_json, "rb").read()
    tampered = bytearray(old)
    at = old.rfind(b'"signature":"') + len('"signature":"') + 5
    tampered[at] = ord("A") if tampered[at] != ord("A") else ord("B")
    hallmark = os.path.join(bin_dir, "hallmark")
    failed = []
    peak = 0

    def case(name, handler, expect, contains, extra=(), max_s=None, nodes=None):
        nonlocal peak
        stub = Stub(handler) if handler else None
        urls = nodes(stub) if nodes else [stub.url]
        cmd = [hallmark, "verify", stolen, "--genesis", genesis, "--timeout", "5"] + list(extra)
        for u in urls:
            cmd += ["--node", u]
        code, out, err, rss, secs = run(cmd)
        if stub:
            stub.close()
        peak = max(peak, rss)
        problems = []
        if code not in expect:
            problems.append(f"exit {code}, not {' or '.join(map(str, expect))}")
        if contains and contains not in out + err:
            problems.append(f"output lacks {contains!r}")
        if rss > MAX_RSS_KB:
            problems.append(f"peak memory {rss // 1024} MiB")
        if max_s and secs > max_s:
            problems.append(f"took {secs:.1f} s")
        status = "ok" if not problems else "FAIL"
        print(f"{status}: {name}: exit {code}, {rss // 1024} MiB peak, {secs:.1f} s"
              + ("" if not problems else " — " + "; ".join(problems)))
        if problems:
            print("   stdout: " + out[:400].replace("\n", "\n   "))
            print("   stderr: " + err[:400].replace("\n", "\n   "))
            failed.append(name)

    time.sleep(3)  # The saved bundle is now more than 2 s old.
    case("an old bundle of an item flagged since is stale (exit 4), never genuine",
         answer(old), {4}, "TOO OLD TO TRUST", extra=["--max-age", "2s"])
    case("with the real node asked too, the newest proof wins: flagged (exit 1)",
         answer(old), {1}, "flagged stolen", nodes=lambda s: [s.url, real])
    case("another item's bundle is refused (exit 2)", answer(other_bundle), {2},
         "bundle is about item")
    case("a bundle with one signature character changed is refused (exit 2)",
         answer(bytes(tampered)), {2}, "PROOF DOES NOT CHECK OUT")
    case("a 3 GiB Content-Length is refused before reading it (exit 3)", huge_length, {3},
         "larger", max_s=20)
    case("an endless chunked answer stops at the limit (exit 3)", endless_chunks, {3}, "larger",
         max_s=30)
    case("an answer dripped a byte at a time ends at the deadline (exit 3)", drip, {3}, "",
         max_s=20)
    case("headers dripped a byte at a time end at the deadline (exit 3)", drip_headers, {3}, "",
         max_s=20)
    case("a node that never answers ends at the deadline (exit 3)", silent, {3}, "", max_s=20)
    case("nested JSON arrays are refused, not expanded (exit 2 or 3)",
         answer(b'{"history":' + b"[" * 200000 + b"]" * 200000 + b"}"), {2, 3}, "", max_s=20)
    case("16 MiB of empty records as binary Protobuf are refused, not built (exit 3)",
         answer(b"\x4a\x00" * (8 * 1024 * 1024 - 8), "application/x-protobuf"), {3},
         "holds more than", max_s=20)
    print(f"peak CLI memory over all cases: {peak // 1024} MiB")
    if failed:
        print(f"FAIL: {len(failed)} case(s): " + "; ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
