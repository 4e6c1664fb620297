#!/usr/bin/env python3
"""Makes the in-browser verifier's test page: one HTML file with core/web/verifier.js and
tests/web/verifier_test.js as its single inline script (allowed by a CSP that names only that
script's SHA-256, as on the real page) and the fixtures inlined as JSON (a page opened from file://
cannot read files).

  make_verifier_test_page.py SOURCE_DIR OUT.html [--bundles DIR]

DIR is the output of hallmark-web-bundles (genesis.bin, cases.txt, NAME.bin, and the same in
DIR/gov for a governed network); the page then also
checks that the browser's verdicts equal the reference verifier's. The Wycheproof Ed25519 vectors
are read from SOURCE_DIR/../shared/peer-vectors when present (the test notes their absence).
"""
import argparse
import base64
import hashlib
import json
import os


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def b64(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def read_cases(d, name):
    cases = []
    for line in read(os.path.join(d, "cases.txt")).splitlines():
        case, item, now, max_age, verdict, failed, reasons = line.split("\t")
        cases.append({
            "name": case,
            "item": None if item == "-" else item,
            "nowMs": None if now == "-" else int(now),
            "maxAgeMs": None if max_age == "-" else int(max_age),
            "verdict": verdict,
            "failedCheck": "" if failed == "-" else failed,
            "notClean": [] if reasons == "-" else reasons.split(";"),
            "bytes": b64(os.path.join(d, case + ".bin")),
        })
    return {"name": name, "genesis": b64(os.path.join(d, "genesis.bin")), "cases": cases}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("out")
    ap.add_argument("--bundles")
    a = ap.parse_args()
    src = a.source
    data = {
        "rfc6962": read(os.path.join(src, "tests/fixtures/rfc6962_vectors.txt")),
        "rfc8032": read(os.path.join(src, "tests/fixtures/ed25519_rfc8032.txt")),
        "speccheck": read(os.path.join(src, "tests/fixtures/ed25519_speccheck.txt")),
        "wycheproof": None,
        "bundles": None,
    }
    wp = os.path.join(src, "..", "shared", "peer-vectors", "wycheproof_ed25519_test.json")
    if os.path.exists(wp):
        data["wycheproof"] = read(wp)
    if a.bundles:
        data["bundles"] = []
        for sub in ("", "gov", "validators"):
            d = os.path.join(a.bundles, sub)
            if os.path.exists(os.path.join(d, "cases.txt")):
                data["bundles"].append(read_cases(d, sub or "main"))
    script = read(os.path.join(src, "core/web/verifier.js")) + "\n" + read(
        os.path.join(src, "tests/web/verifier_test.js"))
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    csp = "default-src 'none'; script-src 'sha256-%s'; style-src 'unsafe-inline'" % digest
    payload = json.dumps(data).replace("<", "\\u003c")
    page = ("<!doctype html>\n<html><head><meta charset=\"utf-8\">\n"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"%s\">\n"
            "<title>verifier.js tests</title></head><body>\n"
            "<pre id=\"hallmark-result\"></pre>\n"
            "<script id=\"test-data\" type=\"application/json\">%s</script>\n"
            "<script>%s</script>\n</body></html>\n") % (csp, payload, script)
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(page)


if __name__ == "__main__":
    main()
