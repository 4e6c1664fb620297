#!/usr/bin/env python3
"""Bad input (reliability plan T5) against a running hallmarkd, at the process level: its HTTP API
and its P2P port. Every case must get a clear error (HTTP 4xx with {"error":{"code","message"}})
or a closed connection; the caller then checks that the node is up and still committing.

Usage: bad_input.py BIN_DIR TESTNET_DIR NODE (api|p2p|forgery)...

NODE is the node's index in TESTNET_DIR. Records are built and signed by the hallmark CLI: a
stand-in node (FakeNode) answers the CLI's reads from the real node, altered where a case needs
it (another chain id, a stale prev), and keeps the envelope the CLI submits. Standard library
only, plus the openssl command for a client certificate and one signature by a second key.
"""

import base64
import hashlib
import http.client
import http.server
import json
import os
import re
import selectors
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # No __pycache__ in the source tree.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hm import Fail, Node, item_path, wait_committed  # noqa: E402
from pb import pb_bytes, pb_varint  # noqa: E402

GTIN = "01/00614141000012/21/"  # The first brand's (maison-aurele) company prefix.
ED25519_L = 2**252 + 27742317777372353535851937790883648493
passed, failed = [], []


def case(name):
    """Runs a test case; a Fail (or any error) fails it and the run continues."""
    def wrap(fn):
        t0 = time.monotonic()
        try:
            fn()
            passed.append(name)
            print(f"ok: {name} [{time.monotonic() - t0:.1f} s]", flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure the same way
            failed.append(name)
            print(f"FAIL: {name}: {type(e).__name__}: {e}", flush=True)
        return fn
    return wrap


def expect(cond, what):
    if not cond:
        raise Fail(what)


# ---------------------------------------------------------------------------------------------
# Protobuf and envelopes, by hand.

def envelope_binary(env):
    return b"".join(pb_bytes(i, base64.b64decode(env[k]))
                    for i, k in ((1, "payload"), (2, "signer"), (3, "signature")) if env.get(k))


def record_id(env):
    """SHA-256(payload || signer || signature): the id binds the whole envelope (docs/proofs.md)."""
    return hashlib.sha256(b"".join(base64.b64decode(env[k])
                                   for k in ("payload", "signer", "signature"))).hexdigest()


def keystore(path):
    """(public key hex, seed) of an unencrypted development keystore (docs/keystore.md)."""
    k = json.load(open(path))
    expect(not k.get("encrypted"), f"{path} is encrypted")
    return k["public_key"], base64.b64decode(k["ciphertext"])


def openssl_sign(seed, message, workdir):
    der = bytes.fromhex("302e020100300506032b657004220420") + seed  # PKCS#8 Ed25519 key
    key, msg = os.path.join(workdir, "sign.der"), os.path.join(workdir, "sign.msg")
    open(key, "wb").write(der)
    open(msg, "wb").write(message)
    r = subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", key, "-keyform", "DER",
                        "-in", msg], capture_output=True, check=True)
    os.unlink(key)
    return r.stdout


# ---------------------------------------------------------------------------------------------
# The CLI signs; a stand-in node keeps what it submits.

class FakeNode:
    """Answers the CLI's GET /v1/status and GET /v1/items/... from the real node, altered by
    `status_patch` / `item_patch`, and keeps the body of its POST /v1/records."""

    def __init__(self, real_url):
        self.real = Node(real_url)
        self.status_patch, self.item_patch, self.captured = {}, None, None
        self.lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, status, body):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                with fake.lock:
                    status, _, body = fake.real.request("GET", self.path)
                if status == 200 and self.path == "/v1/status":
                    j = json.loads(body)
                    j.update(fake.status_patch)
                    body = json.dumps(j).encode()
                elif status == 200 and self.path.startswith("/v1/items/") and fake.item_patch:
                    j = json.loads(body)
                    fake.item_patch(j)
                    body = json.dumps(j).encode()
                self.answer(status, body)

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path == "/v1/records":
                    fake.captured = body
                    self.answer(202, b'{"status":"pending"}')
                else:
                    self.answer(404, b'{"error":{"code":"not_found","message":"fake"}}')

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def sign(self, *args, status_patch=None, item_patch=None):
        """Runs `hallmark --node FAKE ARGS --no-wait` and returns the envelope it submitted."""
        self.status_patch, self.item_patch, self.captured = status_patch or {}, item_patch, None
        r = subprocess.run([HALLMARK, "--node", self.url, *args, "--no-wait"], capture_output=True,
                           text=True, timeout=60)
        expect(r.returncode == 0 and self.captured, f"hallmark {' '.join(args)}: exit {r.returncode}: "
                                                    f"{r.stdout.strip()} {r.stderr.strip()}")
        return json.loads(self.captured)


def cli(*args):
    """A record through the real node with the CLI, waiting for commit."""
    r = subprocess.run([HALLMARK, "--node", API, *args, "--timeout", "60"], capture_output=True,
                       text=True, timeout=90)
    expect(r.returncode == 0, f"hallmark {' '.join(args)}: exit {r.returncode}: {r.stdout} {r.stderr}")


# ---------------------------------------------------------------------------------------------
# Raw HTTP.

class Raw:
    """One TCP connection to the API, for requests no HTTP library would send."""

    def __init__(self, port, timeout=15):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def _more(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise Fail("the server closed the connection without an answer")
        self.buf += chunk

    def response(self):
        """(status, headers, body) of the next answer."""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._more()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def closed_within(self, seconds):
        """True once the server has closed the connection (data before that is discarded)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                if not self.s.recv(65536):
                    return True
            except (ConnectionResetError, BrokenPipeError):
                return True
            except socket.timeout:
                return False
        return False

    def close(self):
        self.s.close()


def expect_error(resp, status, code=None, contains=None):
    st, hdrs, body = resp
    expect(st == status, f"answered {st}, not {status}: {body[:300]!r}")
    expect(hdrs.get("content-type", "").startswith("application/json"),
           f"error answer is {hdrs.get('content-type')}, not JSON")
    e = json.loads(body).get("error", {})
    expect(isinstance(e.get("code"), str) and e["code"], f"no error code in {body!r}")
    expect(isinstance(e.get("message"), str) and e["message"], f"no error message in {body!r}")
    if code:
        expect(e["code"] == code, f"error code {e['code']!r}, not {code!r}: {e['message']}")
    if contains:
        expect(contains in e["message"], f"message {e['message']!r} does not mention {contains!r}")
    return e


def post(path, body):
    """The bytes of a JSON POST."""
    body = body.encode()
    return (f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def request(method, path, body=None, content_type="application/json", accept=None):
    headers = {"Content-Type": content_type} if body is not None else {}
    if accept:
        headers["Accept"] = accept
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    node = Node(API)
    try:
        return node.request(method, path, body, headers)
    finally:
        node.close()


def submit(env):
    """POST /v1/records with an envelope (a dict, sent as JSON) or raw body bytes."""
    return request("POST", "/v1/records", env)


def history(item):
    return Node(API).json("GET", item_path(item)).get("history", [])


# ---------------------------------------------------------------------------------------------
# API cases.

def api_cases():
    slow = {}

    def slowloris():
        # Trickles a request header, one byte every 0.5 s: the header timeout (10 s) ends it.
        r = Raw(HTTP_PORT, timeout=5)
        r.send(b"POST /v1/records HTTP/1.1\r\nHost: t\r\n")
        t0 = time.monotonic()
        try:
            for _ in range(120):
                r.send(b"X")
                time.sleep(0.5)
        except (BrokenPipeError, ConnectionResetError):
            slow["closed_after"] = time.monotonic() - t0
            return
        slow["closed_after"] = time.monotonic() - t0 if r.closed_within(1) else None

    trickler = threading.Thread(target=slowloris, daemon=True)
    trickler.start()

    @case("api: a body above body_bytes_max gets 413 payload_too_large before it is sent, then close")
    def _():
        r = Raw(HTTP_PORT)
        r.send(b"POST /v1/records HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
               b"Content-Length: 2000000\r\n\r\n" + b"{" * 65536)
        expect_error(r.response(), 413, "payload_too_large")
        expect(r.closed_within(10), "the connection stayed open")

    @case("api: a header above header_bytes_max gets 431 headers_too_large, then close")
    def _():
        r = Raw(HTTP_PORT)
        r.send(b"GET /v1/health HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"a" * 20000 + b"\r\n\r\n")
        expect_error(r.response(), 431, "headers_too_large")
        expect(r.closed_within(10), "the connection stayed open")

    @case("api: many header fields adding up past the limit get 431")
    def _():
        r = Raw(HTTP_PORT)
        r.send(b"GET /v1/health HTTP/1.1\r\nHost: t\r\n" +
               b"".join(b"X-F%d: %s\r\n" % (i, b"b" * 100) for i in range(300)) + b"\r\n")
        expect_error(r.response(), 431, "headers_too_large")

    @case("api: a malformed request line gets 400 bad_request, then close")
    def _():
        r = Raw(HTTP_PORT)
        r.send(b"THIS IS NOT HTTP\r\n\r\n")
        expect_error(r.response(), 400, "bad_request")
        expect(r.closed_within(10), "the connection stayed open")

    @case("api: malformed JSON gets 400 bad_request and the connection stays usable")
    def _():
        r = Raw(HTTP_PORT)
        r.send(post("/v1/records", '{"payload": "AAAA",'))
        expect_error(r.response(), 400, "bad_request")
        r.send(b"GET /v1/health HTTP/1.1\r\nHost: t\r\n\r\n")
        st, _, body = r.response()
        expect(st == 200, f"the next request on the connection got {st}: {body!r}")

    @case("api: an unknown field gets 400 naming it")
    def _():
        expect_error(submit({"payload": "", "idz": 1}), 400, "bad_request", 'unknown field "idz"')
        expect_error(request("POST", "/v1/items:check", {"ids": [], "bogus": True}), 400,
                     "bad_request", "bogus")

    @case("api: a value of the wrong type gets 400")
    def _():
        expect_error(request("POST", "/v1/items:check", {"ids": ["x", 7]}), 400, "bad_request")
        expect_error(submit({"payload": 7}), 400, "bad_request")

    @case("api: JSON nested 100,000 deep gets 400 (objects, arrays on a scalar field)")
    def _():
        n = 100000
        expect_error(request("POST", "/v1/items:check", ('{"a":' * n + "1" + "}" * n).encode()),
                     400, "bad_request")
        expect_error(submit(('{"payload":' + "[" * n + "]" * n + "}").encode()), 400, "bad_request")
        # Protobuf's JSON parser flattens nested arrays in a repeated field ({"ids": [["a"]]} reads
        # as {"ids": ["a"]}); whatever the verdict, the node must answer.
        st, _, body = request("POST", "/v1/items:check", ('{"ids":' + "[" * n + "]" * n + "}").encode())
        expect(st < 500, f"answered {st}: {body[:200]!r}")

    @case("api: an empty body, a wrong content type and garbage Protobuf get 400")
    def _():
        expect_error(submit(b""), 400, "bad_request")
        expect_error(request("POST", "/v1/records", b"payload=1", "text/plain"), 400, "bad_request")
        expect_error(request("POST", "/v1/records", os.urandom(64) + b"\xff" * 8,
                             "application/x-protobuf", accept="application/json"), 400)

    @case("api: an unknown route gets 404, a wrong method 405, both as JSON errors")
    def _():
        expect_error(request("GET", "/v1/nothing"), 404, "not_found")
        expect_error(request("DELETE", "/v1/records"), 405, "method_not_allowed")
        expect_error(request("GET", "/v1/blocks/notanumber"), 400, "bad_request")
        expect_error(request("GET", "/v1/items/not-an-id"), 400)

    # Idle connections: the shell script set this node's connections_max to IDLE_MAX and its
    # idle timeout to IDLE_TIMEOUT_S.
    @case(f"api: {IDLE_OPEN} idle connections: beyond {IDLE_MAX} 503 unavailable, the rest "
          f"closed by the idle timeout, then the node answers again")
    def _():
        conns = []
        for _ in range(IDLE_OPEN):
            conns.append(socket.create_connection(("127.0.0.1", HTTP_PORT), timeout=10))
        time.sleep(0.5)  # Let the server accept them; the checks below poll.
        refused, deadline = 0, time.monotonic() + IDLE_TIMEOUT_S + 20
        sel = selectors.DefaultSelector()
        for i, s in enumerate(conns):
            sel.register(s, selectors.EVENT_READ, i)
        open_ = set(range(len(conns)))
        answers = {}
        while open_ and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1.0):
                i = key.data
                try:
                    data = key.fileobj.recv(65536)
                except (ConnectionResetError, BrokenPipeError):
                    data = b""
                if data:
                    answers[i] = answers.get(i, b"") + data
                else:
                    open_.discard(i)
                    sel.unregister(key.fileobj)
        sel.close()
        for s in conns:
            s.close()
        expect(not open_, f"{len(open_)} idle connections were still open after "
                          f"{IDLE_TIMEOUT_S + 20} s (idle timeout {IDLE_TIMEOUT_S} s)")
        for data in answers.values():
            st = int(data.split(b" ", 2)[1])
            expect(st == 503, f"an idle connection was answered {st}")
            expect(b'"unavailable"' in data, f"a 503 without the unavailable code: {data[:200]!r}")
            refused += 1
        expect(refused >= IDLE_OPEN - IDLE_MAX, f"only {refused} of the {IDLE_OPEN} connections "
                                                f"were refused with 503 (limit {IDLE_MAX})")
        st, _, _ = request("GET", "/v1/health")
        expect(st == 200, f"/v1/health answered {st} after the idle connections were closed")

    trickler.join(timeout=70)

    @case("api: a slow client trickling its header is cut off by the header timeout")
    def _():
        after = slow.get("closed_after")
        expect(after is not None, "the server did not close the slow connection within 60 s")
        expect(after < 40, f"the slow connection was closed only after {after:.0f} s")


def record_cases(workdir):
    fake = FakeNode(API)
    brand = os.path.join(KEYS, "maison-aurele.key")
    market = os.path.join(KEYS, "lux-resale.key")
    market2 = os.path.join(KEYS, "second-luxe.key")
    lab = os.path.join(KEYS, "veritas-lab.key")
    cli("register", "--key", brand, "--item", GTIN + "BI-1")
    first = history(GTIN + "BI-1")[0]

    @case("records: a committed record sent again gets 200 committed, and is stored once")
    def _():
        for _ in range(2):
            st, _, body = submit(first["envelope"])
            expect(st == 200, f"answered {st}: {body!r}")
            j = json.loads(body)
            expect(j.get("status") == "committed" and j.get("record_id") == first["record_id"]
                   and j.get("height") == first["height"], f"answer {j}")
        expect(len(history(GTIN + "BI-1")) == 1, "the item's history grew")

    @case("records: the same record as binary Protobuf gets 200 committed, same id")
    def _():
        st, hdrs, body = request("POST", "/v1/records", envelope_binary(first["envelope"]),
                                 "application/x-protobuf", accept="application/json")
        expect(st == 200, f"answered {st}: {body!r}")
        expect(json.loads(body).get("record_id") == first["record_id"], f"answer {body!r}")

    @case("records: the same payload signed by another key is another record: refused, one record")
    def _():
        pub, seed = keystore(market2)
        payload = base64.b64decode(first["envelope"]["payload"])
        sig = openssl_sign(seed, payload, workdir)
        env = {"payload": first["envelope"]["payload"],
               "signer": base64.b64encode(bytes.fromhex(pub)).decode(),
               "signature": base64.b64encode(sig).decode()}
        # The record id binds the signer, so this is not the committed record: it is a second
        # registration of the item, by a key that may not register it.
        expect_error(submit(env), 400)
        expect(len(history(GTIN + "BI-1")) == 1, "the item's history grew")

    @case("records: a pending record sent twice is accepted once (202, then 200)")
    def _():
        env = fake.sign("register", "--key", brand, "--item", GTIN + "BI-2")
        st1, _, b1 = submit(env)
        st2, _, b2 = submit(env)
        expect(st1 == 202, f"first answer {st1}: {b1!r}")
        expect(st2 == 200 and json.loads(b2).get("record_id") == record_id(env), f"{st2} {b2!r}")
        wait_committed(API, [GTIN + "BI-2"], 60)
        expect(len(history(GTIN + "BI-2")) == 1, "two records for one submission")

    @case("records: a non-canonical signature (S + L) gets 400 bad_signature; the canonical one commits")
    def _():
        env = fake.sign("register", "--key", brand, "--item", GTIN + "BI-3")
        sig = base64.b64decode(env["signature"])
        s = int.from_bytes(sig[32:], "little") + ED25519_L
        bad = dict(env, signature=base64.b64encode(sig[:32] + s.to_bytes(32, "little")).decode())
        expect_error(submit(bad), 400, "bad_signature")
        st, _, body = submit(env)
        expect(st == 202, f"the canonical envelope got {st}: {body!r}")
        wait_committed(API, [GTIN + "BI-3"], 60)

    @case("records: an envelope with a short key, no signature or a garbage payload gets 400")
    def _():
        env = fake.sign("register", "--key", brand, "--item", GTIN + "BI-4")
        expect_error(submit(dict(env, signer=base64.b64encode(b"k" * 31).decode())), 400)
        expect_error(submit({"payload": env["payload"], "signer": env["signer"]}), 400)
        expect_error(submit(dict(env, payload=base64.b64encode(b"\xff\xff garbage").decode())), 400)

    @case("records: another chain id gets 400 wrong_chain")
    def _():
        env = fake.sign("register", "--key", brand, "--item", GTIN + "BI-5",
                        status_patch={"chain_id": "another-chain"})
        expect_error(submit(env), 400, "wrong_chain")

    @case("records: a stale prev gets 400 stale_prev")
    def _():
        cli("transfer", "--key", brand, "--item", GTIN + "BI-1", "--to", "lux-resale")

        def stale(item):
            item["state"]["last_record"] = base64.b64encode(bytes.fromhex(first["record_id"])).decode()
        env = fake.sign("attest", "--key", lab, "--item", GTIN + "BI-1", "--verdict", "genuine",
                        item_patch=stale)
        expect_error(submit(env), 400, "stale_prev")

    @case("records: a marketplace registering a brand's GTIN gets 400 not_authorized")
    def _():
        env = fake.sign("register", "--key", market, "--item", GTIN + "BI-6")
        expect_error(submit(env), 400, "not_authorized")

    @case("records: a transfer not signed by the custodian gets 400 not_authorized")
    def _():
        env = fake.sign("transfer", "--key", market2, "--item", GTIN + "BI-1", "--to", "veritas-lab")
        expect_error(submit(env), 400, "not_authorized")

    @case("records: any record on a decommissioned item gets 400 decommissioned")
    def _():
        cli("register", "--key", brand, "--item", GTIN + "BI-7")
        cli("decommission", "--key", brand, "--item", GTIN + "BI-7", "--reason", "test")
        env = fake.sign("attest", "--key", lab, "--item", GTIN + "BI-7", "--verdict", "genuine")
        expect_error(submit(env), 400, "decommissioned")


def forgery_cases():
    """A signature verified for one envelope must not vouch for another envelope that shares its
    payload: otherwise anyone can submit a payload with a valid signature of their own key and then
    the same payload under a brand's key, and the node takes it as the brand's."""
    fake = FakeNode(API)
    market = os.path.join(KEYS, "lux-resale.key")
    brand_pub, _ = keystore(os.path.join(KEYS, "maison-aurele.key"))

    @case("records: a payload verified under one key is refused under another (bad_signature)")
    def _():
        item = GTIN + "FORGED-1"
        env = fake.sign("register", "--key", market, "--item", item)
        forged = dict(env, signer=base64.b64encode(bytes.fromhex(brand_pub)).decode())
        problems = []
        for url in ALL_APIS:
            own = Node(url)
            st, _, body = own.request("POST", "/v1/records", json.dumps(env).encode(),
                                      {"Content-Type": "application/json"})
            expect(st == 400 and b"not_authorized" in body, f"{url}: marketplace's own: {st} {body!r}")
            st, _, body = own.request("POST", "/v1/records", json.dumps(forged).encode(),
                                      {"Content-Type": "application/json"})
            if not (st == 400 and b"bad_signature" in body):
                problems.append(f"{url} took the marketplace's signature as the brand's: {st} {body!r}")
        # Nothing of it may commit (given time to do so).
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            got = Node(API).json("POST", "/v1/items:check", {"ids": [item]})["results"][0]
            if got.get("registered"):
                problems.append(f"the forged registration committed in the brand's name: {got}")
                break
            time.sleep(0.5)
        expect(not problems, "; ".join(problems))


# ---------------------------------------------------------------------------------------------
# P2P cases.

def tls_context(workdir, with_cert=True):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    if with_cert:
        cert, key = os.path.join(workdir, "client.crt"), os.path.join(workdir, "client.key")
        if not os.path.exists(cert):
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                            "-days", "1", "-subj", "/CN=bad-input-test"],
                           capture_output=True, check=True)
        ctx.load_cert_chain(cert, key)
    return ctx


def closed_within(sock, seconds):
    """Reads (and discards, e.g. the node's own Hello) until the peer closes; True if it did."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError, ConnectionResetError, BrokenPipeError):
            return True
        except ssl.SSLError as e:
            if "timed out" in str(e):
                return False
            return True
        except socket.timeout:
            return False
    return False


def tls(workdir, with_cert=True):
    s = socket.create_connection(("127.0.0.1", P2P_PORT), timeout=10)
    return tls_context(workdir, with_cert).wrap_socket(s)


def frame(body):
    return struct.pack(">I", len(body)) + body


def hello(chain_id, genesis_hash, key, signature=b"\x00" * 64, observer=False):
    h = (pb_bytes(1, chain_id.encode()) + pb_bytes(2, genesis_hash) + pb_bytes(3, key) +
         pb_bytes(4, signature) + (pb_varint(5, 1) if observer else b"") + pb_varint(6, 1) +
         pb_bytes(7, b"bad-input-test"))
    return pb_bytes(1, h)  # PeerMessage.hello


def p2p_cases(workdir):
    status = Node(API).json("GET", "/v1/status")
    chain, genesis = status["chain_id"], bytes.fromhex(status["genesis_hash"])
    own_key = bytes.fromhex(status["node_key"])
    other = bytes.fromhex(next(v["key"] for v in status["validators"] if v["key"] != status["node_key"]))

    def closes(what, send, reason, with_cert=True, wait=10):
        """Sends `send` after the TLS handshake; the node must close the connection and log
        `reason`."""
        mark = os.path.getsize(LOG)
        try:
            t = tls(workdir, with_cert)
            if send:
                t.sendall(send)
            expect(closed_within(t, wait), f"the node kept the connection open after {what}")
            t.close()
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            pass  # Closed before we finished: also a closed connection.
        logged(mark, reason)

    def logged(mark, reason):
        pattern = re.compile(r"p2p: (refused|disconnected): inbound .*: " + reason + r"\b")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(LOG, errors="replace") as f:
                f.seek(mark)
                if pattern.search(f.read()):
                    return
            time.sleep(0.2)
        raise Fail(f"the node logged no {reason} refusal")

    @case("p2p: bytes that are not TLS are dropped (tls_failed)")
    def _():
        mark = os.path.getsize(LOG)
        s = socket.create_connection(("127.0.0.1", P2P_PORT), timeout=10)
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" + os.urandom(512))
        expect(closed_within(s, 10), "the connection stayed open")
        logged(mark, "tls_failed")

    @case("p2p: a TLS client without a certificate is refused (tls_failed)")
    def _():
        closes("a TLS handshake without a client certificate", frame(b"x"), "tls_failed",
               with_cert=False)

    for name, data, reason in [
        ("a frame of length 0", struct.pack(">I", 0), "empty_frame"),
        ("a frame above the pre-Hello limit (4 KiB + 1)", struct.pack(">I", 4097) + b"\x00" * 4097,
         "frame_too_large"),
        ("a frame above the 40 MiB limit", struct.pack(">I", 40 * 1024 * 1024 + 1) + b"\x00" * 100,
         "frame_too_large"),
        ("a frame of length 2^32 - 1", struct.pack(">I", 2**32 - 1) + b"\x00" * 100, "frame_too_large"),
        ("a frame of garbage bytes", frame(b"\xff" * 7 + os.urandom(57)), "bad_message"),
        ("a first frame that is not a Hello", frame(pb_bytes(6, pb_varint(1, 5))), "not_hello"),
        ("a Hello for another chain", frame(hello("another-chain", genesis, other)), "wrong_chain"),
        ("a Hello with another genesis hash", frame(hello(chain, b"\x01" * 32, other)),
         "wrong_genesis"),
        ("a Hello with a 31-byte key", frame(hello(chain, genesis, other[:31])), "bad_hello"),
        ("a Hello from a key that is not a validator", frame(hello(chain, genesis, os.urandom(32))),
         "unknown_peer"),
        ("a Hello as an observer the node does not know",
         frame(hello(chain, genesis, os.urandom(32), observer=True)), "unknown_peer"),
        ("a Hello with a validator's key it cannot sign for", frame(hello(chain, genesis, other)),
         "bad_signature"),
        ("a Hello with the node's own key", frame(hello(chain, genesis, own_key)), "self"),
    ]:
        case(f"p2p: {name} closes the connection ({reason})")(
            lambda data=data, name=name, reason=reason: closes(name, data, reason))

    @case("p2p: a truncated frame, then the client hangs up (truncated_frame)")
    def _():
        mark = os.path.getsize(LOG)
        t = tls(workdir)
        t.sendall(struct.pack(">I", 100) + b"\x0a\x05")
        t.close()
        logged(mark, "truncated_frame")

    @case("p2p: a TLS client that sends nothing is closed by the handshake timeout")
    def _():
        closes("5 s of silence", b"", "handshake_timeout", wait=30)

    @case("p2p: 100 TCP connections that send nothing are all closed")
    def _():
        conns = [socket.create_connection(("127.0.0.1", P2P_PORT), timeout=10) for _ in range(100)]
        still = [s for s in conns if not closed_within(s, 0.01)]
        deadline = time.monotonic() + 40
        while still and time.monotonic() < deadline:
            still = [s for s in still if not closed_within(s, 0.5)]
        for s in conns:
            s.close()
        expect(not still, f"{len(still)} silent connections were still open after 40 s")


def main(argv):
    global HALLMARK, KEYS, API, ALL_APIS, HTTP_PORT, P2P_PORT, LOG, IDLE_MAX, IDLE_OPEN, IDLE_TIMEOUT_S
    bin_dir, testnet, index, parts = argv[1], argv[2], int(argv[3]), argv[4:]
    HALLMARK = os.path.join(bin_dir, "hallmark")
    KEYS = os.path.join(testnet, "keys")
    home = os.path.join(testnet, f"node{index}")
    config = json.load(open(os.path.join(home, "config.json")))
    HTTP_PORT = int(config["http_listen"].rsplit(":", 1)[1])
    P2P_PORT = int(config["p2p_listen"].rsplit(":", 1)[1])
    API = f"http://127.0.0.1:{HTTP_PORT}"
    ALL_APIS = []
    for name in sorted(os.listdir(testnet)):
        if name.startswith("node"):
            c = json.load(open(os.path.join(testnet, name, "config.json")))
            ALL_APIS.append("http://" + c["http_listen"])
    LOG = os.path.join(home, "log")
    IDLE_MAX = config.get("http", {}).get("max_connections", 4096)
    IDLE_OPEN = IDLE_MAX + 300
    IDLE_TIMEOUT_S = config.get("http", {}).get("idle_timeout_ms", 60000) / 1000
    workdir = os.path.join(testnet, "bad-input")
    os.makedirs(workdir, exist_ok=True)
    for part in parts:
        if part == "api":
            api_cases()
            record_cases(workdir)
        elif part == "p2p":
            p2p_cases(workdir)
        elif part == "forgery":
            forgery_cases()
    print(f"{len(passed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
