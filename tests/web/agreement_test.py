#!/usr/bin/env python3
"""The two verifiers agree: `hallmark verify` and core/web/verifier.js give the same verdict on
every bundle of the corpus tests/web/make_corpus.cpp writes.

  agreement_test.py --bin BUILD/bin --verifier core/web/verifier.js [--jobs N] [--keep DIR]
                    [--governance]

1. make_corpus writes the corpus (genesis.json, genesis.pb, NNNN.pb, corpus.tsv).
2. `hallmark verify --proof F --genesis genesis.json (ID | --any-item) [--max-age MSms]
   --trust-dir FRESH --json` runs for every case, a few at a time, each with its own trust folder.
3. One HTML page holds verifier.js and the corpus (base64) and verifies every case with
   HallmarkVerifier.verifyBundle(bytes, genesis, {itemId, nowMs: Date.now(), maxAgeMs}) in
   headless Chromium (tests/web/chromium_run.py); offline the CLI applies no age limit unless
   --max-age is given, so a case without one passes maxAgeMs 0 (none), and a case under the
   genesis' freshness limit passes null (the verifier derives the limit from genesis).
4. For every case: the verdicts are equal; for invalid ones the failed checks are equal; the
   not-clean reasons are equal. No bundle of a class named tamper* or lie* is clean in either
   verifier, and the CLI gives each case the verdict it was built for (the corpus' own check).

Prints a table per class and every disagreement; exits 1 on any, or when fewer than 1,000 cases
ran; 77 (CTest's "skipped") when the CLI side passed but the browser side cannot run (no
Chromium, or verifier.js is still the placeholder that defines no HallmarkVerifier).
"""
import argparse
import base64
import collections
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MIN_CASES = 1000


def read_manifest(corpus):
    cases = []
    with open(os.path.join(corpus, "corpus.tsv"), encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            row = dict(zip(header, line.rstrip("\n").split("\t")))
            m = row["max_age_ms"]
            row["max_age_ms"] = m if m == "genesis" else int(m) if m else None
            cases.append(row)
    return cases


def run_cli(hallmark, corpus, trust_root, case):
    trust = tempfile.mkdtemp(prefix="t", dir=trust_root)
    args = [hallmark, "verify", "--proof", os.path.join(corpus, case["file"]),
            "--genesis", os.path.join(corpus, "genesis.json"), "--trust-dir", trust, "--json"]
    args += ["--any-item"] if case["item"] == "-" else [case["item"]]
    if case["max_age_ms"] == "genesis":
        with open(os.path.join(corpus, "freshness_ms")) as f:
            args += ["--max-age", "%dms" % int(f.read())]
    elif case["max_age_ms"] is not None:
        args += ["--max-age", "%dms" % case["max_age_ms"]]
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    shutil.rmtree(trust, ignore_errors=True)
    out = p.stdout.strip()
    if p.returncode == 3 or not out:
        return {"verdict": "usage", "failed_check": "", "not_clean": [], "exit": p.returncode,
                "message": (p.stderr or out).strip()}
    try:
        v = json.loads(out.splitlines()[-1])
    except ValueError:
        return {"verdict": "unparsable", "failed_check": "", "not_clean": [],
                "exit": p.returncode, "message": out[:500]}
    return {"verdict": v.get("verdict", ""), "failed_check": v.get("failedCheck", v.get("failed_check", "")),
            "not_clean": v.get("notClean", v.get("not_clean", [])), "exit": p.returncode,
            "message": v.get("message", "")}


HARNESS = r"""
(function () {
  "use strict";
  function bytes(b64) {
    const s = atob(b64);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  async function main() {
    const res = document.getElementById("hallmark-result");
    let report;
    try {
      if (typeof globalThis.HallmarkVerifier === "undefined") {
        report = { placeholder: true };
      } else {
        const V = globalThis.HallmarkVerifier;
        const data = JSON.parse(document.getElementById("corpus").textContent);
        const genesis = await V.loadGenesis(bytes(data.genesis));
        const results = [];
        const started = Date.now();
        for (const c of data.cases) {
          const r = { file: c.file };
          let itemId = null;
          try {
            if (c.item !== "-") itemId = V.parseItemId(c.item);
          } catch (e) {
            r.verdict = "usage";
            r.message = String(e && e.message);
            results.push(r);
            continue;
          }
          try {
            const v = await V.verifyBundle(bytes(c.bytes), genesis,
                { itemId: itemId, nowMs: Date.now(), maxAgeMs: c.maxAgeMs });
            r.verdict = v.verdict;
            r.failedCheck = v.failedCheck;
            r.notClean = v.notClean;
            if (v.verdict === "invalid") r.message = v.message;
          } catch (e) {
            r.verdict = "threw";
            r.message = String(e && (e.stack || e.message || e));
          }
          results.push(r);
        }
        report = { nowMs: Date.now(), elapsedMs: Date.now() - started, results: results };
      }
    } catch (e) {
      report = { error: String(e && (e.stack || e.message || e)) };
    }
    res.textContent = JSON.stringify(report);
    res.setAttribute("data-done", "1");
  }
  main();
})();
"""


def write_page(path, verifier_js, corpus, cases):
    with open(os.path.join(corpus, "genesis.pb"), "rb") as f:
        genesis = base64.b64encode(f.read()).decode()
    data = {"genesis": genesis, "cases": []}
    for c in cases:
        with open(os.path.join(corpus, c["file"]), "rb") as f:
            b = base64.b64encode(f.read()).decode()
        # No max age: 0 (none), as the CLI offline; the genesis' limit: null (the verifier
        # derives it from genesis).
        age = {None: 0, "genesis": None}.get(c["max_age_ms"], c["max_age_ms"])
        data["cases"].append({"file": c["file"], "item": c["item"], "maxAgeMs": age, "bytes": b})
    # Inside a <script> element only "</" could end it early; JSON escapes '/' as needed here.
    blob = json.dumps(data).replace("</", "<\\/")
    js = verifier_js.replace("</script", "<\\/script")
    with open(path, "w", encoding="utf-8") as f:
        f.write('<!doctype html>\n<html><head><meta charset="utf-8"><title>agreement</title></head>'
                '<body><pre id="hallmark-result"></pre>\n'
                '<script id="corpus" type="application/json">' + blob + '</script>\n'
                "<script>" + js + "\n</script>\n<script>" + HARNESS + "</script>\n</body></html>\n")


def run_browser(page, budget_ms):
    p = subprocess.run([sys.executable, os.path.join(HERE, "chromium_run.py"), page,
                        "--budget-ms", str(budget_ms)], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="the build's bin folder (hallmark, make_corpus)")
    ap.add_argument("--verifier", required=True, help="core/web/verifier.js")
    ap.add_argument("--jobs", type=int, default=min(8, 2 * (os.cpu_count() or 1)))
    ap.add_argument("--keep", help="write the corpus, page and results here and keep them")
    ap.add_argument("--governance", action="store_true",
                    help="include the governance cases even before bundle version 4")
    a = ap.parse_args()

    work = a.keep or tempfile.mkdtemp(prefix="hallmark-agreement-")
    os.makedirs(work, exist_ok=True)
    corpus = os.path.join(work, "corpus")
    t0 = time.time()
    try:
        subprocess.run([os.path.join(a.bin, "make_corpus"), corpus]
                       + (["--governance"] if a.governance else []), check=True)
        t_corpus = time.time() - t0
        cases = read_manifest(corpus)
        by_file = {c["file"]: c for c in cases}

        # The CLI.
        t1 = time.time()
        hallmark = os.path.join(a.bin, "hallmark")
        trust_root = os.path.join(work, "trust")
        os.makedirs(trust_root, exist_ok=True)
        with concurrent.futures.ThreadPoolExecutor(a.jobs) as pool:
            cli = dict(zip((c["file"] for c in cases),
                           pool.map(lambda c: run_cli(hallmark, corpus, trust_root, c), cases)))
        t_cli = time.time() - t1

        failures = []
        # The corpus' own check: each case gets the verdict it was built for.
        for c in cases:
            v = cli[c["file"]]
            if c["expect"] and v["verdict"] != c["expect"]:
                failures.append("corpus: %s [%s] %s: built to be %s, hallmark verify says %s %s %s"
                                % (c["file"], c["class"], c["what"], c["expect"], v["verdict"],
                                   v["failed_check"], v["message"]))

        # The browser.
        with open(a.verifier, encoding="utf-8") as f:
            verifier_js = f.read()
        page = os.path.join(work, "agreement.html")
        write_page(page, verifier_js, corpus, cases)
        t2 = time.time()
        js = None
        skip_reason = None
        if "HallmarkVerifier" not in verifier_js:
            skip_reason = a.verifier + " defines no HallmarkVerifier yet (the placeholder)"
        else:
            rc, out, err = run_browser(page, 600000)
            if rc == 77:
                skip_reason = out.strip() or "no Chromium"
            elif rc != 0:
                failures.append("browser: the page did not finish (chromium_run exit %d): %s"
                                % (rc, err[-3000:]))
            else:
                report = json.loads(out)
                if "error" in report:
                    failures.append("browser: the harness failed: " + report["error"])
                elif report.get("placeholder"):
                    failures.append("browser: verifier.js names HallmarkVerifier but defines none")
                else:
                    js = {r["file"]: r for r in report["results"]}
                    drift = report["nowMs"] / 1000 - time.time()
                    if abs(drift) > 60:
                        print("warning: the page's clock is %.0f s off this computer's" % drift)
        t_js = time.time() - t2

        # Compare.
        table = collections.OrderedDict()
        disagreements = []
        for c in cases:
            row = table.setdefault(c["class"], {"count": 0, "agree": 0, "verdicts": collections.Counter()})
            row["count"] += 1
            v = cli[c["file"]]
            row["verdicts"][v["verdict"] + ("/" + v["failed_check"] if v["failed_check"] else "")] += 1
            adversarial = c["class"].startswith(("tamper", "lie"))
            if adversarial and v["verdict"] == "clean":
                failures.append("adversarial: %s [%s] %s is clean in hallmark verify"
                                % (c["file"], c["class"], c["what"]))
            if js is None:
                continue
            j = js.get(c["file"])
            if j is None:
                disagreements.append((c, v, {"verdict": "(no result)"}))
                continue
            if adversarial and j.get("verdict") == "clean":
                failures.append("adversarial: %s [%s] %s is clean in verifier.js"
                                % (c["file"], c["class"], c["what"]))
            same = j.get("verdict") == v["verdict"]
            if same and v["verdict"] == "invalid":
                same = j.get("failedCheck") == v["failed_check"]
            if same and v["verdict"] != "invalid":
                same = list(j.get("notClean") or []) == list(v["not_clean"])
            if same:
                row["agree"] += 1
            else:
                disagreements.append((c, v, j))

        print("%-26s %6s %6s  %s" % ("class", "cases", "agree", "hallmark verify's verdicts"))
        for cls, row in table.items():
            print("%-26s %6d %6s  %s" % (cls, row["count"], row["agree"] if js is not None else "-",
                                         ", ".join("%s %d" % kv for kv in sorted(row["verdicts"].items()))))
        print("%-26s %6d %6s" % ("total", len(cases),
                                 sum(r["agree"] for r in table.values()) if js is not None else "-"))
        print("times: corpus %.1f s, hallmark verify %.1f s (%d jobs), browser %.1f s"
              % (t_corpus, t_cli, a.jobs, t_js))
        for c, v, j in disagreements:
            print("DISAGREE %s [%s] %s (item %s, max age %s):\n  hallmark verify: %s %s %s %s\n"
                  "  verifier.js:     %s %s %s %s"
                  % (c["file"], c["class"], c["what"], c["item"], c["max_age_ms"],
                     v["verdict"], v["failed_check"], v["not_clean"], v["message"][:300],
                     j.get("verdict"), j.get("failedCheck", ""), j.get("notClean", ""),
                     str(j.get("message", ""))[:300]))
        for f in failures:
            print("FAIL " + f)
        if len(cases) < MIN_CASES:
            print("FAIL only %d cases (at least %d)" % (len(cases), MIN_CASES))
            return 1
        if failures or disagreements:
            print("%d disagreements, %d other failures" % (len(disagreements), len(failures)))
            return 1
        if skip_reason:
            print("hallmark verify gave every case its verdict; the browser side was skipped: "
                  + skip_reason)
            return 77
        print("the two verifiers agree on all %d bundles" % len(cases))
        return 0
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
