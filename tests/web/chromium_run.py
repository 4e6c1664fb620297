#!/usr/bin/env python3
"""Runs a page in headless Chromium and prints what it reported.

The page writes its result, when it has finished, as the text of an element with id
"hallmark-result" whose data-done attribute is "1" (JSON, by convention). This prints that text
and exits 0; it exits 1 when the page never finished (the dump shows how far it got), and 77
(CTest's "skipped") when no Chromium is installed (scripts/install-deps installs Debian's).

  chromium_run.py PAGE [--budget-ms N] [--screenshot FILE] [--window WxH] [--dom-out FILE]

PAGE is a path or a URL. Each run gets its own throw-away profile, so runs can go in parallel.
"""
import argparse
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile


def find_chromium():
    for name in (os.environ.get("HALLMARK_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def base_args(chromium, profile):
    args = [chromium, "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--disable-sync",
            "--user-data-dir=" + profile, "--hide-scrollbars"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox.
    return args


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("page")
    ap.add_argument("--budget-ms", type=int, default=120000,
                    help="virtual time the page may take (Chromium stops earlier when idle)")
    ap.add_argument("--timeout", type=float, default=300, help="real seconds before giving up")
    ap.add_argument("--screenshot")
    ap.add_argument("--window", default="412x915", help="viewport, a phone's by default")
    ap.add_argument("--dom-out", help="also write the dumped DOM here")
    a = ap.parse_args()

    chromium = find_chromium()
    if not chromium:
        print("chromium_run: no Chromium found (scripts/install-deps installs Debian's 'chromium'); skipped")
        return 77
    url = a.page if re.match(r"^[a-z]+://", a.page) else "file://" + os.path.abspath(a.page)
    w, h = a.window.split("x")
    with tempfile.TemporaryDirectory(prefix="hallmark-chromium-") as profile:
        args = base_args(chromium, profile) + ["--window-size=%s,%s" % (w, h),
                                               "--virtual-time-budget=%d" % a.budget_ms]
        try:
            dom = subprocess.run(args + ["--dump-dom", url], capture_output=True, text=True,
                                 timeout=a.timeout).stdout
        except subprocess.TimeoutExpired:
            print("chromium_run: Chromium did not finish within %.0f s" % a.timeout, file=sys.stderr)
            return 1
        if a.dom_out:
            with open(a.dom_out, "w") as f:
                f.write(dom)
        if a.screenshot:
            subprocess.run(args + ["--screenshot=" + os.path.abspath(a.screenshot), url],
                           capture_output=True, timeout=a.timeout)
    m = re.search(r'<[a-z]+ [^>]*id="hallmark-result"[^>]*>(.*?)</[a-z]+>', dom, re.S)
    if not m or 'data-done="1"' not in m.group(0):
        print("chromium_run: the page did not report a finished result; DOM starts:\n" + dom[:2000],
              file=sys.stderr)
        return 1
    sys.stdout.write(html.unescape(m.group(1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
