#!/usr/bin/env python3
"""The page behind the QR code as a person sees it (issue 12), in headless Chromium.

Usage: page_test.py SHOTS_DIR REAL_NODE_URL GENESIS_JSON OLD_BUNDLE OLD_SAVED_AT_MS ITEMS_JSON [BIN_DIR]

ITEMS_JSON names the items the shell script made: {"clean": ID, "stolen": ID, "dead": ID,
"unknown": ID}. OLD_BUNDLE is the binary proof bundle of the stolen item, saved (at
OLD_SAVED_AT_MS) while it was still clean. Every case loads a page with
tests/web/chromium_run.py, reads the result the page reports (#hallmark-result) and the verdict
heading in the rendered DOM, and saves a screenshot as SHOTS_DIR/NAME.png (a phone's 412x915;
one case also at desktop width). Saved pages (a brand's site, a copy on disk) are written by
`hallmark page` from BIN_DIR. No page fed by a
lying node may say "Genuine". Exits 77 when no Chromium is installed. Standard library only.
"""

import html
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from stub import Stub, answer  # noqa: E402

CHROMIUM_RUN = os.path.join(HERE, "..", "web", "chromium_run.py")


def page_url(node, item_id):
    """The Digital Link path of an item on a node: /01/<gtin>/21/<serial>, serial encoded."""
    _, gtin, _, serial = item_id.split("/", 3)
    return "%s/01/%s/21/%s" % (node, gtin, urllib.parse.quote(serial, safe=""))


def get(url, accept):
    """GET with a few tries: a node may answer 500 when blocks commit under its read."""
    for attempt in range(5):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": accept}),
                                        timeout=20) as r:
                return r.headers.get("Content-Type", ""), r.read()
        except urllib.error.HTTPError as e:
            if e.code not in (429, 500, 503) or attempt == 4:
                raise
            time.sleep(1)


def fetch_page(url):
    content_type, body = get(url, "text/html")
    if "text/html" not in content_type:
        raise AssertionError("%s answered %s, not HTML" % (url, content_type))
    return body.decode()


CONFIG_RE = re.compile(r'(<script id="hallmark-config" type="application/json">)(.*?)(</script>)', re.S)


HALLMARK = None  # bin/hallmark when it has `hallmark page` (set in main)
GENESIS = None


def save_page(served_html, path, nodes, item_id):
    """A saved copy of the page (or a brand's site's) asking `nodes`: written by `hallmark page`
    when the CLI has it; else the served page with its config's nodes (and item) replaced (the
    config is not part of the script's CSP hash, so the page runs unchanged)."""
    if HALLMARK:
        cmd = [HALLMARK, "page"] + ([item_id] if item_id else []) + ["--genesis", GENESIS, "--out", path]
        for n in nodes:
            cmd += ["--node", n]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise AssertionError("hallmark page: exit %d: %s" % (p.returncode, p.stderr[-500:]))
        return path
    m = CONFIG_RE.search(served_html)
    if not m:
        raise AssertionError("the served page has no hallmark-config script")
    config = json.loads(m.group(2))
    config["nodes"] = nodes
    config["item_id"] = item_id
    text = json.dumps(config).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    with open(path, "w") as f:
        f.write(served_html[:m.start(2)] + text + served_html[m.end(2):])
    return path


def heading(dom):
    m = re.search(r'<h1 id="verdict"[^>]*>(.*?)</h1>', dom, re.S)
    return html.unescape(m.group(1)).strip() if m else None


def visible_text(dom):
    body = re.sub(r"<script.*?</script>|<style.*?</style>", " ", dom, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


class Runner:
    def __init__(self, shots):
        self.shots = shots
        self.failed = []

    def load(self, name, page, window="412x915"):
        """Runs the page; returns (result dict, dom text) or raises AssertionError."""
        dom_file = os.path.join(self.shots, name + ".dom.html")
        cmd = [sys.executable, CHROMIUM_RUN, page, "--screenshot", os.path.join(self.shots, name + ".png"),
               "--dom-out", dom_file, "--window", window, "--budget-ms", "60000", "--timeout", "120"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode == 1 and "did not report a finished result" in p.stderr:
            # Headless Chromium's virtual time (--virtual-time-budget) now and then runs on while a
            # fetch is in flight, and the DOM is dumped before the page has finished. That says
            # nothing about the page: load it once more (the verdict is then checked as ever).
            print("note: %s: the page had not finished when Chromium dumped it; loading it again" % name)
            p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode == 77:
            print("skipped: no Chromium (scripts/install-deps installs Debian's chromium)")
            sys.exit(77)
        if p.returncode != 0:
            raise AssertionError("chromium_run exit %d: %s" % (p.returncode, (p.stderr or p.stdout)[-1500:]))
        with open(dom_file) as f:
            dom = f.read()
        return json.loads(p.stdout), dom

    def case(self, name, page, verdict, headline, contains=(), window="412x915"):
        """headline: the exact heading, or a callable that checks it."""
        t0 = time.monotonic()
        problems = []
        result = {}
        try:
            result, dom = self.load(name, page, window)
            shown = heading(dom)
            if result.get("verdict") != verdict:
                problems.append("verdict %r, not %r" % (result.get("verdict"), verdict))
            if shown != result.get("headline"):
                problems.append("the heading in the DOM %r is not the reported %r" % (shown, result.get("headline")))
            ok = headline(shown or "") if callable(headline) else shown == headline
            if not ok:
                problems.append("heading %r" % shown)
            text = visible_text(dom)
            for c in contains:
                if c not in text:
                    problems.append("the page does not show %r" % c)
            if problems:
                small = re.search(r'<p id="verdict-small"[^>]*>(.*?)</p>', dom, re.S)
                if small:
                    problems.append("its small print: %r" % html.unescape(small.group(1)).strip())
        except AssertionError as e:
            problems.append(str(e))
        status = "ok" if not problems else "FAIL"
        print("%s: %s: %s [%.1f s]" % (status, name, result.get("headline", "-"), time.monotonic() - t0))
        for p in problems:
            print("   " + p)
        if problems:
            self.failed.append(name)
        return result


def never_genuine(expected):
    return lambda shown: shown == expected and "genuine" not in shown.lower()


def main(argv):
    shots, real, genesis_json, old_file, saved_at_ms, items_json = argv[1:7]
    shots = os.path.abspath(shots)
    global HALLMARK, GENESIS
    if len(argv) > 7:
        hallmark = os.path.join(argv[7], "hallmark")
        if subprocess.run([hallmark, "page", "--help"], capture_output=True).returncode == 0:
            HALLMARK, GENESIS = hallmark, genesis_json
    print("saved pages written by %s" % ("hallmark page" if HALLMARK else
                                         "rewriting the served page's config (no hallmark page)"))
    items = json.loads(items_json)
    os.makedirs(shots, exist_ok=True)
    run = Runner(shots)
    genesis = json.load(open(genesis_json))
    chain = genesis["chain_id"]
    consensus = genesis.get("consensus", {})
    freshness_ms = 18 * int(consensus.get("idle_block_interval_ms", 0) or 0) + \
        int(consensus.get("max_clock_skew_ms", 0) or 30000)
    names = {o["id"]: o.get("display_name") or o["id"] for o in genesis["organizations"]}
    brand, market = names["maison-aurele"], names["lux-resale"]

    # --- Served by a real node at the Digital Link path (the page asks its own origin). ---
    run.case("clean", page_url(real, items["clean"]), "clean", "Genuine, and not reported stolen",
             contains=(brand, "Sac Aurèle 30", "a private holder key", market,
                       "Verified in this browser against network " + chain,
                       "genesis fingerprint"))
    run.case("clean-desktop", page_url(real, items["clean"]), "clean",
             "Genuine, and not reported stolen", window="1280x900")
    run.case("stolen", page_url(real, items["stolen"]), "not_clean", "Reported stolen",
             contains=("flagged stolen", brand))
    run.case("decommissioned", page_url(real, items["dead"]), "not_clean",
             "No longer in circulation (decommissioned: destroyed)")
    run.case("unknown-serial", page_url(real, items["unknown"]), "not_clean",
             "Unknown serial: this item was never registered")

    # --- Saved copies of the page (a brand's site, a file), given the node's URL. ---
    served = fetch_page(page_url(real, items["clean"]))
    work = os.path.join(shots, "pages")
    os.makedirs(work, exist_ok=True)
    saved = save_page(served, os.path.join(work, "saved-real.html"), [real], items["stolen"])
    run.case("saved-stolen", saved, "not_clean", "Reported stolen")
    by_hash = save_page(served, os.path.join(work, "saved-no-item.html"), [real], "")
    run.case("saved-item-from-address", "file://" + by_hash + "#id=" + urllib.parse.quote(items["clean"], safe="/"),
             "clean", "Genuine, and not reported stolen")
    run.case("saved-asks-for-code", by_hash, "no_item", "Which item?",
             contains=("Type the code printed under the QR code",))
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_url = "http://127.0.0.1:%d" % dead.getsockname()[1]
    dead.close()  # Nothing listens there now.
    run.case("node-unreachable", save_page(served, os.path.join(work, "dead.html"), [dead_url], items["clean"]),
             "unreachable", "Could not reach the node")

    # --- Lying nodes: what they serve must never show "Genuine". ---
    old = open(old_file, "rb").read()
    _, other = get(real + "/v1/items/" + items["clean"] + "/proof", "application/x-protobuf")
    altered = [bytearray(old) for _ in range(3)]
    for i, at in enumerate((len(old) // 3, len(old) // 2, len(old) - 40)):
        altered[i][at] ^= 0x01
    wait = int(saved_at_ms) + freshness_ms + 2000 - int(time.time() * 1000)
    if wait > 0:
        print("waiting %.1f s until the saved bundle is older than the network's freshness limit "
              "(%d ms)" % (wait / 1000, freshness_ms))
        time.sleep(wait / 1000)

    def lying(name, body, verdict, expected, with_real=False, item=None):
        # A stand-in node that answers every request with one fixed proof bundle.
        stub = Stub(answer(body, "application/x-protobuf", cors=True))
        nodes = [stub.url, real] if with_real else [stub.url]
        page = save_page(served, os.path.join(work, name + ".html"), nodes, item or items["stolen"])
        run.case(name, page, verdict, never_genuine(expected))
        if not stub.requests:
            print("FAIL: %s: the page never asked the lying node" % name)
            run.failed.append(name)
        stub.close()

    lying("lying-old-bundle", old, "stale", "This proof is too old to trust")
    lying("lying-other-items-bundle", other, "invalid", "This proof does not check out")
    for i, body in enumerate(altered):
        lying("lying-altered-bundle-%d" % (i + 1), bytes(body), "invalid", "This proof does not check out")
    lying("lying-old-bundle-and-honest-node", old, "not_clean", "Reported stolen", with_real=True)

    # --- Plain http on an address that is not this machine's loopback: no WebCrypto. ---
    address = next((a for a in subprocess.run(["hostname", "-I"], capture_output=True, text=True)
                    .stdout.split() if ":" not in a and not a.startswith("127.")), None)
    if address:
        with open(saved, "rb") as f:
            # Plain http on ADDRESS, to see the page refuse an insecure origin.
            server = Stub(answer(f.read(), "text/html; charset=utf-8"), address)
        run.case("plain-http", server.url + "/page.html", "insecure", "Open this page over https")
        server.close()
    else:
        print("note: no non-loopback IPv4 address here; the plain-http case did not run")

    if run.failed:
        print("FAIL: %d case(s): %s" % (len(run.failed), "; ".join(run.failed)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
