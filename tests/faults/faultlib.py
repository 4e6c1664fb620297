#!/usr/bin/env python3
"""The fault suite's machinery (issue 15, docs/reliability.md): a 4-validator testnet of real
hallmarkd processes whose peers reach each other only through userspace TCP proxies, a steady
load of signed records, watchers that read every node's chain while faults are injected, and a
checker that runs at the end. Standard library only; scenarios.py drives it.

  Testnet      writes a testnet (hallmarkd testnet), points every peer address at a proxy, and
               starts, stops, pauses and kills the nodes.
  Net / Link   one proxy per directed peer link (node i dials node j through link i->j); each link
               passes, refuses (closes new and existing connections), blackholes (accepts and
               drops every byte), or delays each chunk (delay_ms +- jitter_ms, order kept) and
               drops the connection with probability `loss` per chunk (TCP cannot lose a chunk
               and go on: losing bytes means losing the connection).
  Load         submits registrations signed here (Ed25519 below) at a steady rate, spread over
               the nodes, and keeps every 202 and every commit acknowledgement; a second thread
               appends service records to a few hot items one at a time.
  Watcher      one per node: follows the node's head, reads every block and the hot items'
               histories as they appear (every read is kept for the checker), and marks records
               acknowledged as committed (a node served a committed block holding them).
  Checker      at the end: every node the same block hash at every height and parents linked,
               no record twice, every acknowledged-committed record committed exactly once on
               every node, every block and history read during the run a prefix of the final
               chain, no node's height ever going back; per fault the stall (longest gap between
               commits while it lasted) and the recovery (heal -> next commit).
"""

import base64
import hashlib
import http.client
import json
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from hm import Fail, Node, item_path  # noqa: E402
from pb import pb_bytes, pb_varint  # noqa: E402

GTIN = "01/00614141000012/21/"  # maison-aurele's company prefix (hallmarkd testnet).
BRAND = "maison-aurele"

# ---------------------------------------------------------------------------------------------
# Ed25519 signing (RFC 8032, PureEdDSA), written for this suite: fixed-base multiplication from
# a table of j * 256^i * B, so that a signature costs about 32 point additions in Python.

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_D2 = 2 * _D % _P


def _recover_x(y, sign):
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * pow(2, (_P - 1) // 4, _P) % _P
    if x & 1 != sign:
        x = _P - x
    return x


_BY = 4 * pow(5, _P - 2, _P) % _P
_BX = _recover_x(_BY, 0)


def _add(p, q):
    """Extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z (RFC 8032 5.1.4)."""
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = t1 * _D2 * t2 % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


_ZERO = (0, 1, 1, 0)


def _table():
    rows = []
    base = (_BX, _BY, 1, _BX * _BY % _P)
    for _ in range(32):
        row = [_ZERO]
        for _ in range(255):
            row.append(_add(row[-1], base))
        rows.append(row)
        base = _add(row[255], base)  # 256 * base
    return rows


_TABLE = None


def _mul_base(k):
    global _TABLE
    if _TABLE is None:
        _TABLE = _table()
    acc = _ZERO
    for i in range(32):
        byte = (k >> (8 * i)) & 255
        if byte:
            acc = _add(acc, _TABLE[i][byte])
    return acc


def _encode(pt):
    x, y, z, _ = pt
    zi = pow(z, _P - 2, _P)
    x, y = x * zi % _P, y * zi % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


class Signer:
    """An Ed25519 key from a 32-byte seed."""

    def __init__(self, seed):
        h = hashlib.sha512(seed).digest()
        a = int.from_bytes(h[:32], "little")
        a &= (1 << 254) - 8
        a |= 1 << 254
        self.a, self.prefix = a, h[32:]
        self.public = _encode(_mul_base(a))

    def sign(self, msg):
        r = int.from_bytes(hashlib.sha512(self.prefix + msg).digest(), "little") % _L
        big_r = _encode(_mul_base(r))
        k = int.from_bytes(hashlib.sha512(big_r + self.public + msg).digest(), "little") % _L
        s = (r + k * self.a) % _L
        return big_r + s.to_bytes(32, "little")


def load_signer(keystore_path):
    k = json.load(open(keystore_path))
    if k.get("encrypted"):
        raise RuntimeError(f"{keystore_path} is encrypted; the suite needs development keys")
    signer = Signer(base64.b64decode(k["ciphertext"]))
    if signer.public.hex() != k["public_key"]:
        raise RuntimeError(f"{keystore_path}: the seed does not give its public key")
    return signer


# ---------------------------------------------------------------------------------------------
# Records, encoded by hand in field order (Protobuf's deterministic form; no varint here is 0).

def register_payload(chain_id, item_id, tag):
    attr = pb_bytes(1, b"fault") + pb_bytes(2, tag.encode())
    body = pb_bytes(1, attr)  # Register.attributes
    return (pb_bytes(1, chain_id.encode()) + pb_bytes(2, item_id.encode()) +
            pb_varint(4, int(time.time() * 1000)) + pb_bytes(10, body))


def service_payload(chain_id, item_id, prev_hex, note):
    body = pb_varint(1, 1) + pb_bytes(2, note.encode())  # REPAIR
    return (pb_bytes(1, chain_id.encode()) + pb_bytes(2, item_id.encode()) +
            pb_bytes(3, bytes.fromhex(prev_hex)) + pb_varint(4, int(time.time() * 1000)) +
            pb_bytes(15, body))


def envelope(signer, payload):
    """(record id, the JSON body of POST /v1/records)."""
    sig = signer.sign(payload)
    rid = hashlib.sha256(payload + signer.public + sig).hexdigest()
    body = {"payload": base64.b64encode(payload).decode(),
            "signer": base64.b64encode(signer.public).decode(),
            "signature": base64.b64encode(sig).decode()}
    return rid, body


# ---------------------------------------------------------------------------------------------
# The proxies.

class Mode:
    """What a link does to its traffic."""

    def __init__(self, kind="pass", delay_ms=0, jitter_ms=0, loss=0.0):
        assert kind in ("pass", "refuse", "blackhole"), kind
        self.kind, self.delay_ms, self.jitter_ms, self.loss = kind, delay_ms, jitter_ms, loss

    def __repr__(self):
        if self.kind != "pass":
            return self.kind
        parts = []
        if self.delay_ms:
            parts.append(f"delay {self.delay_ms}+-{self.jitter_ms} ms")
        if self.loss:
            parts.append(f"loss {self.loss:g}")
        return ", ".join(parts) or "pass"


PASS = Mode()


class _Conn:
    """One proxied TCP connection: a reader and a writer thread per direction. The writer sends
    each chunk at its due time, never before an earlier chunk (order is kept)."""

    def __init__(self, link, client, upstream):
        self.link, self.socks = link, (client, upstream)
        self.closed = False
        self.tainted = False  # Bytes were dropped: the stream is broken for good.
        self.lock = threading.Lock()
        for src, dst in ((client, upstream), (upstream, client)):
            q = queue.Queue()
            threading.Thread(target=self._read, args=(src, q), daemon=True).start()
            threading.Thread(target=self._write, args=(dst, q), daemon=True).start()

    def _read(self, sock, q):
        last_due = 0.0
        while not self.closed:
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            mode = self.link.mode
            if mode.kind == "refuse":
                break
            if mode.kind == "blackhole":
                self.tainted = True
                continue
            if mode.loss and self.link.rng.random() < mode.loss:
                self.link.dropped += 1
                break
            due = time.monotonic()
            if mode.delay_ms:
                jitter = self.link.rng.uniform(-mode.jitter_ms, mode.jitter_ms)
                due += max(0.0, mode.delay_ms + jitter) / 1000.0
            last_due = max(due, last_due)
            q.put((last_due, data))
        q.put(None)
        self.close()

    def _write(self, sock, q):
        while True:
            item = q.get()
            if item is None or self.closed:
                break
            due, data = item
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                sock.sendall(data)
            except OSError:
                break
        self.close()

    def close(self):
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self.link.forget(self)


class Link:
    """The proxy for node src dialing node dst: listens on `port`, forwards to `target`."""

    def __init__(self, src, dst, port, target, seed):
        self.src, self.dst, self.port, self.target = src, dst, port, target
        self.mode = PASS
        self.rng = random.Random(seed)
        self.conns = set()
        self.lock = threading.Lock()
        self.accepted = self.dropped = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while self.running:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            if self.mode.kind == "refuse":
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=2)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(self, client, upstream)
            with self.lock:
                self.conns.add(conn)
            if conn.closed:
                self.forget(conn)

    def forget(self, conn):
        with self.lock:
            self.conns.discard(conn)

    def set(self, mode):
        """Switches the link; refusing closes every open connection, and leaving a blackhole
        closes the connections whose bytes it dropped (their TLS streams cannot go on)."""
        self.mode = mode
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            if mode.kind == "refuse" or (mode.kind == "pass" and c.tainted):
                c.close()

    def stop(self):
        self.running = False
        self.sock.close()
        self.set(Mode("refuse"))


class Net:
    """Every directed link between the validators."""

    def __init__(self, links):
        self.links = links  # (src, dst) -> Link

    def set(self, mode, pairs=None):
        for key, link in self.links.items():
            if pairs is None or key in pairs:
                link.set(mode)

    def heal(self):
        self.set(PASS)

    def partition(self, groups, kind="refuse"):
        """No link between nodes of different groups, in either direction."""
        where = {n: gi for gi, g in enumerate(groups) for n in g}
        cut = {k for k in self.links if where.get(k[0]) != where.get(k[1])}
        self.set(Mode(kind), cut)

    def stop(self):
        for link in self.links.values():
            link.stop()

    def dropped(self):
        return sum(link.dropped for link in self.links.values())


# ---------------------------------------------------------------------------------------------
# The testnet.

def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Testnet:
    """4 validators on loopback: node i's P2P port base+i, API base+100+i, and the proxy for
    its link to node j on base+200+4*i+j."""

    def __init__(self, bin_dir, name, base, validators=4, seed=1, keep=False):
        self.bin, self.base, self.n, self.keep = os.path.abspath(bin_dir), base, validators, keep
        self.dir = tempfile.mkdtemp(prefix=f"hallmark-faults-{name}-")
        self.procs = {}
        self.env = {}  # node -> extra environment (faketime)
        self.t0 = time.monotonic()
        subprocess.run([os.path.join(bin_dir, "hallmarkd"), "testnet", "--dir", self.dir,
                        "--validators", str(validators), "--base-port", str(base),
                        "--chain-id", f"faults-{name}", "--idle-block-interval-ms", "500"],
                       check=True, stdout=subprocess.DEVNULL)
        self.chain_id = json.load(open(os.path.join(self.dir, "genesis.json")))["chain_id"]
        listen = {}
        for i in range(validators):
            listen[json.load(open(self.config_path(i)))["p2p_listen"]] = i
        links = {}
        for i in range(validators):
            cfg = json.load(open(self.config_path(i)))
            for peer in cfg["peers"]:
                j = listen[peer["address"]]
                port = self.proxy_port(i, j)
                links[(i, j)] = Link(i, j, port, int(peer["address"].rsplit(":", 1)[1]),
                                     seed * 1000 + 10 * i + j)
                peer["address"] = f"127.0.0.1:{port}"
            with open(self.config_path(i), "w") as f:
                json.dump(cfg, f, indent=1)
        self.net = Net(links)

    def home(self, i):
        return os.path.join(self.dir, f"node{i}")

    def config_path(self, i):
        return os.path.join(self.home(i), "config.json")

    def api_port(self, i):
        return self.base + 100 + i

    def client(self, i, timeout=2.0):
        """A keep-alive connection to node i's API (hm.Node) that raises each error at once."""
        return Node(f"http://127.0.0.1:{self.api_port(i)}", timeout, retry=False)

    def proxy_port(self, i, j):
        return self.base + 200 + 4 * i + j

    def log_path(self, i):
        return os.path.join(self.home(i), "log")

    def start(self, i):
        assert i not in self.procs or self.procs[i].poll() is not None, f"node{i} runs"
        env = dict(os.environ)
        env.update(self.env.get(i, {}))
        def cores():  # HALLMARK_FAULTS_CORES=1: a crashing node leaves <home>/core
            import resource
            resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,) * 2)

        want_cores = bool(os.environ.get("HALLMARK_FAULTS_CORES"))
        with open(self.log_path(i), "ab") as out:
            self.procs[i] = subprocess.Popen(
                [os.path.join(self.bin, "hallmarkd"), "start", "--home", self.home(i)],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.home(i),
                preexec_fn=cores if want_cores else None)

    def alive(self, i):
        return i in self.procs and self.procs[i].poll() is None

    def signal(self, i, sig):
        self.procs[i].send_signal(sig)

    def kill(self, i):
        p = self.procs.get(i)
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGCONT)
            p.kill()
            p.wait()

    def stop(self, i, timeout=60):
        """SIGTERM; returns the exit code."""
        p = self.procs[i]
        if p.poll() is None:
            p.send_signal(signal.SIGCONT)
            p.terminate()
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Failure(f"node{i} did not stop within {timeout} s of SIGTERM:\n{self.tail(i)}")

    def height(self, i, timeout=2.0):
        h = self.client(i, timeout)
        try:
            return h.height()
        except (OSError, http.client.HTTPException, ValueError, Fail):
            return None
        finally:
            h.close()

    def wait_height(self, i, height, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            h = self.height(i)
            if h is not None and h >= height:
                return h
            if not self.alive(i):
                raise Failure(f"node{i} exited ({self.exit_text(i)}) while waiting for height "
                              f"{height}:\n" + self.tail(i))
            time.sleep(0.2)
        raise Failure(f"node{i} did not reach height {height} within {seconds} s "
                      f"(at {self.height(i)})")

    def exit_text(self, i):
        p = self.procs.get(i)
        if p is None or p.returncode is None:
            return "running"
        if p.returncode < 0:
            return f"killed by signal {-p.returncode} ({signal.Signals(-p.returncode).name})"
        return f"exit code {p.returncode}"

    def tail(self, i, lines=15):
        try:
            with open(self.log_path(i), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def close(self):
        for i in list(self.procs):
            self.kill(i)
        self.net.stop()
        if self.keep:
            log(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


class Failure(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# The load.

class _Threads:
    """Daemon threads that run until stop_flag is set; stop() sets it and joins them."""

    def __init__(self):
        self.stop_flag = threading.Event()
        self.threads = []

    def _spawn(self, target, *args):
        t = threading.Thread(target=target, args=args, daemon=True)
        t.start()
        self.threads.append(t)

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(30)


class Load(_Threads):
    """Registrations at `rate` per second, spread round-robin over the nodes that answer (a
    node that failed is skipped for a second), from `workers` threads; and, one at a time,
    service records on `hot` items, each waiting for its commit before the next."""

    def __init__(self, net, rate=150, workers=6, hot=2, tag=None):
        super().__init__()
        self.tn, self.rate, self.workers = net, rate, workers
        self.signer = load_signer(os.path.join(net.dir, "keys", f"{BRAND}.key"))
        self.tag = tag or f"{os.getpid() % 10000:04d}"
        self.lock = threading.Lock()
        self.submitted = {}   # record id -> (time, node)
        self.accepted = {}    # record id -> time of the 202
        self.committed = {}   # record id -> (time, node, height): acknowledged as committed
        self.refused = {}     # status -> count (429, 400, errors)
        self.down_until = [0.0] * net.n
        self.seq = 0
        self.next_node = 0
        self.hot_items = [f"{GTIN}H{self.tag}{k}" for k in range(hot)]
        self.hot_last = {}    # item -> last committed record id
        self.hot_errors = []
        self.hot_records = 0    # Hot-item records committed.
        self.hot_refusals = 0   # Times a node refused one (it was behind the head).

    def _pick(self):
        now = time.monotonic()
        for _ in range(self.tn.n):
            i = self.next_node % self.tn.n
            self.next_node += 1
            if self.down_until[i] <= now:
                return i
        return self.next_node % self.tn.n

    def _count(self, what):
        self.refused[what] = self.refused.get(what, 0) + 1

    def _post(self, conns, i, body):
        """(status, json) or (None, None) after a network error (marks the node down)."""
        try:
            status, _, data = conns[i].request("POST", "/v1/records", body)
            return status, (json.loads(data) if data else {})
        except (OSError, http.client.HTTPException, ValueError):
            self.down_until[i] = time.monotonic() + 1.0
            return None, None

    def _worker(self, k):
        conns = [self.tn.client(i) for i in range(self.tn.n)]
        period = self.workers / self.rate
        due = time.monotonic() + k * period / self.workers
        while not self.stop_flag.is_set():
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            due = max(due + period, time.monotonic() - 1.0)  # No burst after a stall.
            with self.lock:
                self.seq += 1
                seq = self.seq
                i = self._pick()
            item = f"{GTIN}F{self.tag}{seq}"
            rid, body = envelope(self.signer, register_payload(self.tn.chain_id, item, self.tag))
            t = time.monotonic()
            with self.lock:
                self.submitted[rid] = (t, i)
            status, answer = self._post(conns, i, body)
            with self.lock:
                if status == 202 or (status == 200 and answer.get("status") == "pending"):
                    self.accepted[rid] = time.monotonic()
                elif status == 200 and answer.get("status") == "committed":
                    self.accepted[rid] = time.monotonic()
                    self.committed.setdefault(rid, (time.monotonic(), i,
                                                    int(answer.get("height", 0))))
                else:
                    self._count(status if status is not None else "error")
        for c in conns:
            c.close()

    def _hot(self):
        conns = [self.tn.client(i) for i in range(self.tn.n)]
        rng = random.Random(7)
        n = 0
        while not self.stop_flag.is_set():
            for item in self.hot_items:
                if self.stop_flag.is_set():
                    break
                n += 1
                prev = self.hot_last.get(item)
                if prev is None:
                    payload = register_payload(self.tn.chain_id, item, self.tag)
                else:
                    payload = service_payload(self.tn.chain_id, item, prev, f"fault run {n}")
                rid, body = envelope(self.signer, payload)
                with self.lock:
                    self.submitted[rid] = (time.monotonic(), -1)
                # Submit (again, to another node, while it stays pending: idempotent) until a
                # node says it is committed. A node behind the head refuses it (stale_prev: it
                # does not know the previous record yet) and says "rejected": ask another.
                deadline = time.monotonic() + 60
                last_post = 0.0
                while not self.stop_flag.is_set() and time.monotonic() < deadline:
                    i = rng.randrange(self.tn.n)
                    if time.monotonic() - last_post > 2.0:
                        status, answer = self._post(conns, i, body)
                        last_post = time.monotonic()
                        if status in (200, 202):
                            with self.lock:
                                self.accepted.setdefault(rid, time.monotonic())
                        elif status is not None:
                            self.hot_refusals += 1
                            last_post = 0.0
                            time.sleep(0.1)
                            continue
                    try:
                        st = conns[i].json("GET", f"/v1/records/{rid}")
                    except (OSError, http.client.HTTPException, ValueError, Fail):
                        time.sleep(0.1)
                        continue
                    if st.get("status") == "committed":
                        with self.lock:
                            self.committed.setdefault(rid, (time.monotonic(), i,
                                                            int(st.get("height", 0))))
                        self.hot_last[item] = rid
                        self.hot_records += 1
                        break
                    time.sleep(0.05)
                else:
                    if not self.stop_flag.is_set():
                        self.hot_errors.append(f"{item}: record {rid[:16]} not committed in 60 s")
        for c in conns:
            c.close()

    def start(self):
        for k in range(self.workers):
            self._spawn(self._worker, k)
        if self.hot_items:
            self._spawn(self._hot)

    def ack(self, rid, node, height):
        """A node served a committed block holding `rid`."""
        with self.lock:
            if rid in self.submitted and rid not in self.committed:
                self.committed[rid] = (time.monotonic(), node, height)


# ---------------------------------------------------------------------------------------------
# Watchers: read each node's chain as it grows.

class Watchers(_Threads):
    def __init__(self, tn, load):
        super().__init__()
        self.tn, self.load = tn, load
        self.lock = threading.Lock()
        self.block_reads = []    # (node, height, hash)
        self.history_reads = []  # (node, item, [record ids])
        self.commits = []        # (time, height): each time the highest head seen grew
        self.best = 0
        self.last_height = {}    # node -> last height it answered
        self.regressions = []

    def _watch(self, i):
        conn = self.tn.client(i)
        seen = 0
        last_items = 0.0
        while not self.stop_flag.is_set():
            try:
                h = conn.height()
                with self.lock:
                    before = self.last_height.get(i, 0)
                    if h < before:
                        self.regressions.append(f"node{i} answered height {h} after {before}")
                    self.last_height[i] = h
                    if h > self.best:
                        self.best = h
                        self.commits.append((time.monotonic(), h))
                # Read the blocks we have not read from this node, newest last, a bounded
                # number per turn so that the head stays fresh.
                for height in range(seen + 1, min(h, seen + 50) + 1):
                    b = conn.block(height)
                    with self.lock:
                        self.block_reads.append((i, height, b["hash"]))
                    for rid in b.get("record_ids", []):
                        self.load.ack(rid, i, height)
                    seen = height
                if time.monotonic() - last_items > 1.0:
                    last_items = time.monotonic()
                    for item in self.load.hot_items:
                        j = conn.json("GET", item_path(item))
                        ids = [r["record_id"] for r in j.get("history", [])]
                        with self.lock:
                            self.history_reads.append((i, item, ids))
            except (OSError, http.client.HTTPException, ValueError, KeyError, Fail):
                conn.close()
                time.sleep(0.2)
                continue
            time.sleep(0.1 if seen >= h else 0)
        conn.close()

    def start(self):
        for i in range(self.tn.n):
            self._spawn(self._watch, i)


# ---------------------------------------------------------------------------------------------
# Faults, timing and the checker.

class Fault:
    def __init__(self, name, start):
        self.name, self.start, self.heal, self.end = name, start, None, None
        self.stall = self.recovery = None
        self.catchup = None  # Seconds for a node that was cut off to reach the others' head.
        self.bound = None    # Seconds allowed from healing to the next commit (None: the run's).
        self.note = ""


class Evidence:
    """What the checker looks at: each node's final chain [(hash, prev_hash, record ids)] by
    node, the records acknowledged as committed {id: (time, node, height)}, the blocks read
    during the run [(node, height, hash)], the hot items' histories read during the run
    [(node, item, [ids])] and their final histories {item: [ids]}."""

    def __init__(self, chains, acked, block_reads, history_reads, finals):
        self.chains, self.acked = chains, acked
        self.block_reads, self.history_reads, self.finals = block_reads, history_reads, finals


class Verdict:
    def __init__(self):
        self.failures, self.lost, self.divergence, self.height, self.where = [], [], "none", 0, {}


def verify(ev):
    """The end-of-run checks, a pure function of the evidence."""
    v = Verdict()
    if not ev.chains:
        v.failures.append("no chain to check")
        return v
    ref_node = min(ev.chains)
    ref = ev.chains[ref_node]
    v.height = len(ref)
    # Agreement: the same block at every height on every node, parents linked.
    for i, blocks in sorted(ev.chains.items()):
        if len(blocks) != len(ref):
            v.failures.append(f"node{i} has {len(blocks)} blocks, node{ref_node} {len(ref)}")
        for h, (a, b) in enumerate(zip(ref, blocks), start=1):
            if a[0] != b[0]:
                v.divergence = f"height {h}"
                v.failures.append(f"height {h}: node{ref_node} has block {a[0][:16]}, "
                                  f"node{i} has {b[0][:16]}")
                break
        for h in range(2, len(blocks) + 1):
            if blocks[h - 1][1] != blocks[h - 2][0]:
                v.failures.append(f"node{i}, height {h}: prev_hash is not block {h - 1}'s hash")
                v.divergence = f"link at {h}"
                break
    # Durability: every acknowledged record exactly once on every node's chain, at the height
    # it was acknowledged at.
    for i, blocks in sorted(ev.chains.items()):
        where = {}
        for h, (_, _, ids) in enumerate(blocks, start=1):
            for rid in ids:
                if rid in where:
                    v.failures.append(f"node{i}: record {rid[:16]} committed twice: heights "
                                      f"{where[rid]} and {h}")
                where[rid] = h
        lost = [rid for rid in ev.acked if rid not in where]
        for rid in lost[:3]:
            t, node, h = ev.acked[rid]
            v.failures.append(f"record {rid[:16]} was acknowledged as committed (node{node}, "
                              f"height {h}) and is not on node{i}'s final chain")
        if len(lost) > 3:
            v.failures.append(f"... {len(lost)} acknowledged records missing on node{i}")
        moved = [(rid, h, where[rid]) for rid, (_, _, h) in ev.acked.items()
                 if rid in where and h and where[rid] != h]
        if moved:
            rid, h, fh = moved[0]
            v.failures.append(f"record {rid[:16]}: acknowledged at height {h}, node{i}'s final "
                              f"chain has it at {fh}")
        if i == ref_node:
            v.where, v.lost = where, lost
        else:
            v.lost = sorted(set(v.lost) | set(lost))
    # Reads during the run: prefixes of the final chain.
    bad = [(i, h, hs) for i, h, hs in ev.block_reads if h <= len(ref) and ref[h - 1][0] != hs]
    if bad:
        i, h, hs = bad[0]
        v.divergence = f"read at {h}"
        v.failures.append(f"{len(bad)} blocks read during the run differ from the final chain, "
                          f"e.g. node{i} served {hs[:16]} at height {h}")
    above = [(i, h) for i, h, _ in ev.block_reads if h > len(ref)]
    if above:
        v.failures.append(f"node{above[0][0]} served height {above[0][1]} during the run, above "
                          f"the final head {len(ref)}")
    nbad = 0
    for i, item, ids in ev.history_reads:
        final = ev.finals.get(item)
        if final is None:
            continue
        if final[:len(ids)] != ids:
            nbad += 1
            if nbad == 1:
                v.failures.append(f"node{i} served a history of {item} ({len(ids)} records) that "
                                  f"is not a prefix of the final one ({len(final)})")
    return v


def self_check_cases(ev):
    """Copies of the evidence, each with one fault the checker must find."""
    import copy
    cases = []
    nodes = sorted(ev.chains)
    if ev.acked and nodes:
        rid = next(iter(ev.acked))
        broken = copy.deepcopy(ev)
        node = nodes[-1]
        broken.chains[node] = [(h, p, tuple(x for x in ids if x != rid))
                               for h, p, ids in broken.chains[node]]
        cases.append(("an acknowledged record missing on one node", broken))
        broken = copy.deepcopy(ev)
        broken.acked["f" * 64] = (0.0, 0, 1)
        cases.append(("an acknowledged record on no node", broken))
    if nodes and ev.chains[nodes[-1]]:
        broken = copy.deepcopy(ev)
        blocks = broken.chains[nodes[-1]]
        h, p, ids = blocks[len(blocks) // 2]
        blocks[len(blocks) // 2] = ("0" * 64, p, ids)
        cases.append(("a node with another block at one height", broken))
        broken = copy.deepcopy(ev)
        broken.block_reads.append((0, 1, "1" * 64))
        cases.append(("a block read during the run that differs from the final chain", broken))
    if ev.history_reads:
        broken = copy.deepcopy(ev)
        i, item, ids = broken.history_reads[-1]
        broken.history_reads.append((i, item, ["2" * 64] + ids))
        cases.append(("a history read that is not a prefix of the final one", broken))
    return cases


class Run:
    """A testnet under load with watchers; scenarios call fault()/healed() around each fault,
    then check()."""

    def __init__(self, bin_dir, name, base, seed=1, rate=150, keep=False):
        self.name, self.seed = name, seed
        self.rng = random.Random(seed)
        self.tn = Testnet(bin_dir, name, base, seed=seed, keep=keep)
        self.load = Load(self.tn, rate=rate, tag=f"{seed % 100:02d}{base % 1000:03d}")
        self.watchers = Watchers(self.tn, self.load)
        self.faults = []
        self.failures = []
        self.notes = []
        self.divergence, self.lost, self.final_height = "unknown", [], 0
        self.accepted_uncommitted = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.load.stop_flag.set()
        self.watchers.stop_flag.set()
        self.tn.close()
        return False

    def start(self, up_s=90):
        for i in range(self.tn.n):
            self.tn.start(i)
        for i in range(self.tn.n):
            self.tn.wait_height(i, 1, up_s)
        self.watchers.start()
        self.load.start()
        # The load reaches the chain before any fault.
        deadline = time.monotonic() + 60
        while not self.load.committed:
            if time.monotonic() > deadline:
                raise Failure(f"no record committed within 60 s of starting the load "
                              f"(refused: {self.load.refused})")
            time.sleep(0.2)

    def fault(self, name):
        f = Fault(name, time.monotonic())
        self.faults.append(f)
        log(f"fault: {name}")
        return f

    def healed(self, f):
        f.heal = time.monotonic()
        log(f"healed: {f.name}")

    def settle(self, seconds):
        time.sleep(seconds)

    def wait_commit_after(self, t, seconds):
        """Waits until the highest head grows after time t; returns when, or None."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.watchers.lock:
                later = [c for c in self.watchers.commits if c[0] > t]
            if later:
                return later[0][0]
            time.sleep(0.05)
        return None

    def wait_catchup(self, f, i, seconds):
        """Node i reaches the highest head seen when fault f healed; sets f.catchup."""
        target = self.watchers.best
        self.tn.wait_height(i, target, seconds)
        f.catchup = time.monotonic() - f.heal

    def fail(self, msg):
        log(f"FAIL: {msg}")
        self.failures.append(msg)

    def _timings(self, recovery_bound_s):
        commits = self.watchers.commits
        times = [t for t, _ in commits]
        for k, f in enumerate(self.faults):
            if f.heal is None:
                continue
            f.end = self.faults[k + 1].start if k + 1 < len(self.faults) else time.monotonic()
            # Stall: the longest time without a commit while the fault lasted, counting from
            # the last commit before it and up to the first commit after healing.
            inside = [t for t in times if f.start <= t <= f.heal]
            before = [t for t in times if t < f.start]
            after = [t for t in times if t > f.heal]
            points = ([before[-1]] if before else [f.start]) + inside + \
                     ([after[0]] if after else [f.heal])
            f.stall = max(b - a for a, b in zip(points, points[1:])) if len(points) > 1 else 0.0
            f.recovery = (after[0] - f.heal) if after else None
            bound = f.bound or recovery_bound_s
            if f.recovery is None or f.recovery > bound:
                self.fail(f"{f.name}: no commit within {bound} s of healing")

    def check(self, recovery_bound_s=60, final_s=120):
        """Stops the load, waits until every node has the same head, then checks everything.
        Returns the number of failures (printed)."""
        self.load.stop()
        # Records answered 202 still on their way get a few seconds to reach a block.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self.load.lock:
                waiting = [r for r in self.load.accepted if r not in self.load.committed]
            if not waiting:
                break
            time.sleep(0.5)
        self._timings(recovery_bound_s)
        tn = self.tn
        for i in range(tn.n):
            if not tn.alive(i):
                self.fail(f"node{i} is not running at the end ({tn.exit_text(i)}):\n{tn.tail(i)}")
        # The watchers stop first, so that nothing is read above the height checked; then every
        # node reaches the highest head any of them served (idle blocks come every 500 ms).
        self.watchers.stop()
        heights = [h for h in (tn.height(i) for i in range(tn.n)) if h is not None]
        top = max(heights + [h for _, h, _ in self.watchers.block_reads] + [0])
        for i in range(tn.n):
            if tn.alive(i):
                try:
                    tn.wait_height(i, top, final_s)
                except Failure as e:
                    self.fail(str(e))
        chains = {}
        for i in range(tn.n):
            if not tn.alive(i):
                continue
            conn = tn.client(i, timeout=30)
            blocks = []
            try:
                for h in range(1, top + 1):
                    b = conn.block(h)
                    blocks.append((b["hash"], base64.b64decode(b["header"].get("prev_hash", "")).hex(),
                                   tuple(b.get("record_ids", []))))
            except (OSError, http.client.HTTPException, ValueError, KeyError, Fail) as e:
                self.fail(f"node{i}: reading its chain failed: {e}")
                continue
            finally:
                conn.close()
            chains[i] = blocks
        finals = {}
        if chains:
            conn = tn.client(min(chains), timeout=30)
            for item in self.load.hot_items:
                try:
                    j = conn.json("GET", item_path(item))
                    finals[item] = [r["record_id"] for r in j.get("history", [])]
                except (OSError, http.client.HTTPException, ValueError, Fail) as e:
                    self.fail(f"reading {item} at the end failed: {e}")
            conn.close()
        acked = dict(self.load.committed)
        evidence = Evidence(chains, acked, list(self.watchers.block_reads),
                            list(self.watchers.history_reads), finals)
        v = verify(evidence)
        for m in v.failures:
            self.fail(m)
        self.divergence, self.lost, self.final_height = v.divergence, v.lost, v.height
        where = v.where
        # The checks themselves must be able to fail: run them on copies with one acknowledged
        # record removed from a node's chain, one block changed on a node, and one history read
        # that is no prefix; each must be caught.
        for what, broken in self_check_cases(evidence):
            if not verify(broken).failures:
                self.fail(f"self-check: the checker missed {what}")
        for r in self.watchers.regressions[:3]:
            self.fail(f"height went back: {r}")
        if self.load.hot_errors:
            self.notes.append(f"hot-item writer: {self.load.hot_errors[:3]}")
        # The suite must have tested something.
        if len(acked) < 50:
            self.fail(f"only {len(acked)} records were acknowledged as committed: the load did not run")
        if len(chains) < tn.n:
            self.fail(f"only {len(chains)} of {tn.n} chains could be read at the end")
        self.accepted_uncommitted = [rid for rid in self.load.accepted if rid not in where]
        by_node = {}
        for rid in self.accepted_uncommitted:
            node = self.load.submitted.get(rid, (0, -1))[1]
            key = f"node{node}" if node >= 0 else "hot items"
            by_node[key] = by_node.get(key, 0) + 1
        if by_node:
            self.notes.append(f"records answered 202 and not committed, by the node that "
                              f"answered: {by_node}")
        return self.report()

    def report(self):
        acked = self.load.committed
        print()
        print(f"== {self.name} (seed {self.seed}): final height {self.final_height}, "
              f"{len(self.load.submitted)} submitted, {len(self.load.accepted)} accepted (200/202), "
              f"{len(acked)} acknowledged as committed, {len(self.lost)} lost; "
              f"202s not committed: {len(self.accepted_uncommitted)}; refused {self.load.refused}; "
              f"{self.load.hot_records} hot-item records committed "
              f"({self.load.hot_refusals} refusals by nodes behind the head), "
              f"{len(self.watchers.history_reads)} history reads, "
              f"{len(self.watchers.block_reads)} block reads; proxy connection drops "
              f"{self.tn.net.dropped()}")
        fmt = "{:<44} {:>8} {:>9} {:>8} {:>13} {:>5} {:>11}"
        print(fmt.format("fault", "stall s", "recov. s", "catchup", "acknowledged", "lost", "divergence"))
        lost = set(self.lost)
        for f in self.faults:
            end = f.end or time.monotonic()
            in_window = [rid for rid, (t, _, _) in acked.items() if f.start <= t < end]
            print(fmt.format(f.name[:44],
                             "-" if f.stall is None else f"{f.stall:.2f}",
                             "-" if f.recovery is None else f"{f.recovery:.2f}",
                             "-" if f.catchup is None else f"{f.catchup:.1f}",
                             len(in_window), len([r for r in in_window if r in lost]),
                             self.divergence))
            if f.note:
                print(f"    {f.note}")
        for n in self.notes:
            print(f"note: {n}")
        if self.failures:
            print(f"{len(self.failures)} check(s) FAILED:")
            for m in self.failures:
                print(f"  - {m}")
        else:
            print("all checks passed: every acknowledged record committed once on every node, "
                  "same block at every height, every read a prefix of the final chain")
        return 1 if self.failures else 0
