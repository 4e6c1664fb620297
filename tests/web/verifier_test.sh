#!/usr/bin/env bash
# The in-browser verifier's tests (tests/web/verifier_test.js) in headless Chromium, with real
# bundles and the reference verifier's verdicts from hallmark-web-bundles.
#   verifier_test.sh HALLMARK_WEB_BUNDLES SOURCE_DIR
# Exit 0: all passed; 1: a failure; 77: no Chromium (skipped).
set -euo pipefail
tool=$1
src=$2
work=$(mktemp -d /tmp/hallmark-webverifier.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$tool" "$work/bundles" >/dev/null 2>&1
python3 "$src/tests/web/make_verifier_test_page.py" "$src" "$work/page.html" --bundles "$work/bundles"
set +e
out=$(python3 "$src/tests/web/chromium_run.py" "$work/page.html" --timeout 500)
rc=$?
set -e
if [ $rc -eq 77 ]; then
  echo "$out"
  exit 77
fi
if [ $rc -ne 0 ]; then
  echo "verifier_test: the page did not finish (chromium_run exit $rc)" >&2
  exit 1
fi
echo "$out" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
print("checks:", json.dumps(r["checks"]))
print("timings (ms):", json.dumps(r["timingsMs"]))
for n in r["notes"]:
    print("note:", n)
for f in r["failures"]:
    print("FAIL:", f)
if not r["ok"]:
    print("%d failures" % r["failureCount"])
    sys.exit(1)
print("all passed in %d ms" % r["totalMs"])
'
