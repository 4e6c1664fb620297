// Tests of core/web/verifier.js, run in headless Chromium by tests/web/verifier_test.sh (the page
// is made by tests/web/make_verifier_test_page.py, which inlines this file, the verifier and the
// fixtures). Reads its data from <script id="test-data" type="application/json">; reports a JSON
// summary as the text of #hallmark-result (tests/web/chromium_run.py).
"use strict";

(function () {
  var V = HallmarkVerifier;
  var I = V._internal;
  var failures = [];
  var counts = {};
  var notes = [];
  var timings = {};
  function count(group) {
    counts[group] = (counts[group] || 0) + 1;
  }
  function check(group, cond, what) {
    count(group);
    if (!cond) failures.push(group + ": " + what);
  }
  function hexToBytes(h) {
    var b = I.fromHex(h);
    if (!b) throw new Error("bad hex in fixture: " + h.substring(0, 40));
    return b;
  }
  function b64ToBytes(s) {
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function records(text) {
    // key=value records separated by blank lines; # comments.
    var out = [];
    var cur = null;
    text.split("\n").forEach(function (line) {
      line = line.replace(/\r$/, "");
      if (line.startsWith("#")) return;
      if (line.trim() === "") {
        if (cur) out.push(cur);
        cur = null;
        return;
      }
      var eqAt = line.indexOf("=");
      if (eqAt < 0) return;
      cur = cur || {};
      cur[line.substring(0, eqAt)] = line.substring(eqAt + 1);
    });
    if (cur) out.push(cur);
    return out;
  }

  async function testSha256() {
    var h = I.hex;
    check("sha256", h(await I.sha256(new Uint8Array(0))) === "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "empty");
    check("sha256", h(await I.sha256(new TextEncoder().encode("abc"))) === "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "abc");
  }

  async function testRfc6962(text) {
    var leaves = [];
    var lines = text.split("\n");
    for (var i = 0; i < lines.length; i++) {
      var parts = lines[i].trim().split(/\s+/);
      if (parts[0] === "leaf") leaves.push(await I.merkleLeafHash(parts[1] === "-" ? new Uint8Array(0) : hexToBytes(parts[1])));
    }
    for (var j = 0; j < lines.length; j++) {
      var p = lines[j].trim().split(/\s+/);
      if (p[0] === "root") {
        var n = Number(p[1]);
        var root = await I.merkleRootOfLeaves(leaves.slice(0, n));
        check("rfc6962", I.hex(root) === p[2], "root of " + n);
      } else if (p[0] === "inclusion") {
        var idx = Number(p[1]);
        var size = Number(p[2]);
        var path = p[3] ? p[3].split(",").map(hexToBytes) : [];
        var rt = await I.merkleRootOfLeaves(leaves.slice(0, size));
        check("rfc6962", await I.verifyInclusion(leaves[idx], idx, size, path, rt), "inclusion " + idx + " of " + size);
        check("rfc6962", !(await I.verifyInclusion(leaves[(idx + 1) % size], idx, size, path, rt)), "inclusion of another leaf refused");
        if (path.length > 0) {
          check("rfc6962", !(await I.verifyInclusion(leaves[idx], idx, size, path.slice(1), rt)), "a shortened path refused");
        }
        check("rfc6962", !(await I.verifyInclusion(leaves[idx], idx + size, size, path, rt)), "an index past the size refused");
      }
    }
  }

  async function testRfc8032(text) {
    var recs = records(text);
    check("rfc8032", recs.length === 4, "four vectors read");
    for (var i = 0; i < recs.length; i++) {
      var r = recs[i];
      var pk = hexToBytes(r.pk);
      var msg = hexToBytes(r.msg || "");
      var sig = hexToBytes(r.sig);
      check("rfc8032", (await I.verifySignature(pk, msg, sig)) === "valid", r.name + " verifies");
      var other = new Uint8Array(msg.length + 1);
      other.set(msg);
      check("rfc8032", (await I.verifySignature(pk, other, sig)) === "bad_signature", r.name + " over another message fails");
      var s2 = sig.slice();
      s2[63] ^= 0x01;
      check("rfc8032", (await I.verifySignature(pk, msg, s2)) !== "valid", r.name + " with a changed S fails");
      // S + L: the malleable twin (the policy's own check).
      var L = (1n << 252n) + 27742317777372353535851937790883648493n;
      var s = 0n;
      for (var k = 63; k >= 32; k--) s = (s << 8n) | BigInt(sig[k]);
      s += L;
      var s3 = sig.slice();
      for (var m = 32; m < 64; m++) {
        s3[m] = Number(s & 0xffn);
        s >>= 8n;
      }
      check("rfc8032", (await I.verifySignature(pk, msg, s3)) === "non_canonical_s", r.name + " with S + L is non_canonical_s");
      check("rfc8032", (await I.verifySignature(pk.subarray(0, 31), msg, sig)) === "bad_length", "short key");
    }
  }

  async function testSpeccheck(text) {
    var recs = records(text);
    check("speccheck", recs.length === 12, "twelve vectors read (" + recs.length + ")");
    for (var i = 0; i < recs.length; i++) {
      var r = recs[i];
      var got = await I.verifySignature(hexToBytes(r.pk), hexToBytes(r.msg), hexToBytes(r.sig));
      check("speccheck", got === r.verdict, "vector " + r.name + ": expected " + r.verdict + ", got " + got);
    }
  }

  function modpow(b, e, m) {
    var r = 1n;
    b %= m;
    while (e > 0n) {
      if (e & 1n) r = (r * b) % m;
      b = (b * b) % m;
      e >>= 1n;
    }
    return r;
  }
  async function testSmallOrder() {
    // y8 satisfies d*y^4 + 2*y^2 - 1 = 0 (mod p), d = -121665/121666: the points with this y have
    // order 8 (doubling one gives y = 0, a point of order 4).
    var p = I.P;
    var d = ((p - 121665n) * modpow(121666n, p - 2n, p)) % p;
    var y = I.Y8;
    var y2 = (y * y) % p;
    check("small_order", (((d * y2) % p) * y2 + 2n * y2 - 1n) % p === 0n, "y8 is the y of the order-8 points");
    // The 14 encodings of small-order points: the 8 canonical ones are small_order_key, the 6
    // non-canonical ones non_canonical_key.
    function enc(yv, sign) {
      var b = new Uint8Array(32);
      var v = yv;
      for (var i = 0; i < 32; i++) {
        b[i] = Number(v & 0xffn);
        v >>= 8n;
      }
      if (sign) b[31] |= 0x80;
      return b;
    }
    var msg = new Uint8Array([1, 2, 3]);
    var sig = new Uint8Array(64);
    sig[0] = 0x58; // Any R that is canonical and not small.
    var canonical = [enc(1n, 0), enc(p - 1n, 0), enc(0n, 0), enc(0n, 1), enc(y, 0), enc(y, 1), enc(p - y, 0), enc(p - y, 1)];
    var noncanonical = [enc(1n, 1), enc(p - 1n, 1), enc(p, 0), enc(p, 1), enc(p + 1n, 0), enc(p + 1n, 1)];
    for (var i = 0; i < canonical.length; i++) {
      var v = await I.verifySignature(canonical[i], msg, sig);
      check("small_order", v === "small_order_key", "small-order encoding " + I.hex(canonical[i]) + " as A: " + v);
      var sr = new Uint8Array(64);
      sr.set(canonical[i]);
      var vr = await I.verifySignature(hexToBytes("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"), msg, sr);
      check("small_order", vr === "small_order_r", "small-order encoding as R: " + vr);
    }
    for (var j = 0; j < noncanonical.length; j++) {
      var w = await I.verifySignature(noncanonical[j], msg, sig);
      check("small_order", w === "non_canonical_key", "non-canonical encoding " + I.hex(noncanonical[j]) + ": " + w);
    }
    // All 19 values y >= p, each with both signs, as A: non-canonical.
    for (var k = 0n; k < 19n; k++) {
      for (var s = 0; s < 2; s++) {
        var x = await I.verifySignature(enc(p + k, s), msg, sig);
        check("small_order", x === "non_canonical_key", "y = p + " + k + " as A");
      }
    }
  }

  async function testWycheproof(json) {
    if (!json) {
      notes.push("Wycheproof Ed25519 vectors skipped: ../shared/peer-vectors/wycheproof_ed25519_test.json is absent");
      return;
    }
    var d = JSON.parse(json);
    for (var g = 0; g < d.testGroups.length; g++) {
      var grp = d.testGroups[g];
      var pk = hexToBytes(grp.publicKey.pk);
      for (var t = 0; t < grp.tests.length; t++) {
        var tc = grp.tests[t];
        var got = await I.verifySignature(pk, hexToBytes(tc.msg), hexToBytes(tc.sig));
        check("wycheproof", (got === "valid") === (tc.result === "valid"), "tcId " + tc.tcId + ": expected " + tc.result + ", got " + got);
      }
    }
  }

  function bytes(arr) {
    return new Uint8Array(arr);
  }
  function refused(fn) {
    try {
      fn();
      return false;
    } catch (e) {
      return e instanceof I.PbError;
    }
  }
  function testProtobuf() {
    var S = I.schemas;
    // CommitSignature{validator=1: bytes, signature=2: bytes}; CommitCertificate{height=1 u64,
    // round=2 u32, block_id=3 bytes, signatures=4}.
    var ok = bytes([0x08, 0x05, 0x10, 0x01, 0x1a, 0x01, 0xaa]);
    var c = I.parseCanonical(ok, S.CommitCertificate, "c");
    check("protobuf", c.height === 5n && c.round === 1 && c.blockId[0] === 0xaa, "a canonical certificate parses");
    check("protobuf", refused(function () {
      I.parseCanonical(bytes([0x08, 0x85, 0x00]), S.CommitCertificate, "c");
    }), "an over-long varint is not canonical");
    check("protobuf", I.decode(bytes([0x08, 0x85, 0x00]), S.CommitCertificate).height === 5n, "but it parses (as Protobuf does)");
    check("protobuf", refused(function () {
      I.parseCanonical(bytes([0x10, 0x01, 0x08, 0x05]), S.CommitCertificate, "c");
    }), "fields out of order are not canonical");
    check("protobuf", refused(function () {
      I.parseCanonical(bytes([0x08, 0x05, 0x08, 0x05]), S.CommitCertificate, "c");
    }), "a field given twice is not canonical");
    check("protobuf", I.decode(bytes([0x08, 0x05, 0x08, 0x07]), S.CommitCertificate).height === 7n, "the last value wins");
    check("protobuf", refused(function () {
      I.parseCanonical(bytes([0x08, 0x00]), S.CommitCertificate, "c");
    }), "a default value written out is not canonical");
    check("protobuf", refused(function () {
      I.parseStrict(bytes([0x28, 0x01]), S.CommitCertificate, "c");
    }), "an unknown field is refused");
    check("protobuf", refused(function () {
      I.parseStrict(bytes([0x22, 0x02, 0x18, 0x01]), S.CommitCertificate, "c");
    }), "an unknown field inside a nested message is refused");
    check("protobuf", refused(function () {
      I.parseStrict(bytes([0x0a, 0x01, 0x05]), S.CommitCertificate, "c");
    }), "a known field with the wrong wire type is refused");
    check("protobuf", refused(function () {
      I.parseStrict(bytes([0x08]), S.CommitCertificate, "c");
    }), "a truncated varint is refused");
    check("protobuf", refused(function () {
      I.parseStrict(bytes([0x1a, 0x05, 0x01]), S.CommitCertificate, "c");
    }), "a length past the end is refused");
    check("protobuf", refused(function () {
      I.parseStrict(bytes([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), S.CommitCertificate, "c");
    }), "an 11-byte varint is refused");
    var max = I.parseCanonical(bytes([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), S.CommitCertificate, "c");
    check("protobuf", max.height === (1n << 64n) - 1n, "2^64 - 1 decodes exactly");
    var big = I.parseCanonical(bytes([0x08, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]), S.CommitCertificate, "c");
    check("protobuf", big.height === (1n << 53n) + 1n, "2^53 + 1 decodes exactly (no rounding)");
    check("protobuf", refused(function () {
      I.parseCanonical(bytes([0x10, 0x80, 0x80, 0x80, 0x80, 0x10]), S.CommitCertificate, "c");
    }), "a uint32 above 2^32 - 1 is not canonical (it would be truncated)");
    // Packed repeated uint64 (ProofBundle.history_heights = 11).
    var packed = I.parseCanonical(bytes([0x5a, 0x03, 0x01, 0x02, 0x03]), S.ProofBundle, "b");
    check("protobuf", packed.historyHeights.length === 3 && packed.historyHeights[2] === 3n, "packed heights");
    var unpacked = I.parseStrict(bytes([0x58, 0x01, 0x58, 0x02]), S.ProofBundle, "b");
    check("protobuf", unpacked.historyHeights.length === 2, "unpacked heights parse");
    check("protobuf", refused(function () {
      I.parseCanonical(bytes([0x58, 0x01, 0x58, 0x02]), S.ProofBundle, "b");
    }), "unpacked heights are not canonical");
    check("protobuf", refused(function () {
      I.parseCanonical(bytes([0x5a, 0x00]), S.ProofBundle, "b");
    }), "an empty packed field written out is not canonical");
    // Strings must be UTF-8 (ProofBundle.chain_id = 2).
    check("protobuf", refused(function () {
      I.parseStrict(bytes([0x12, 0x02, 0xc3, 0x28]), S.ProofBundle, "b");
    }), "invalid UTF-8 in a string is refused");
    // Oneof: Holder{organization=1 | holder_key=2}: the later member replaces the earlier.
    var h = I.decode(bytes([0x0a, 0x01, 0x61, 0x12, 0x01, 0x07]), S.Holder);
    check("protobuf", h.$kind === "holderKey" && h.organization === undefined, "a oneof keeps the last member");
    // Messages given twice merge (ItemState.custodian = 3).
    var st = I.decode(bytes([0x1a, 0x03, 0x0a, 0x01, 0x61, 0x1a, 0x00]), S.ItemState);
    check("protobuf", st.custodian.organization === "a", "a message given twice merges");
    // An empty message present is written (presence), so it stays canonical.
    var em = I.parseCanonical(bytes([0x32, 0x00]), S.ProofBundle, "b");
    check("protobuf", em.certificate !== undefined, "an empty present message round-trips");
    // Enum: a negative value is 10 bytes on the wire.
    var neg = I.decode(bytes([0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), S.ItemState);
    check("protobuf", neg.status === -1 && I.encode(neg, S.ItemState).length === 11, "a negative enum round-trips");
    check("protobuf", refused(function () {
      I.parseStrict(bytes([0x0b, 0x0c]), S.ProofBundle, "b");
    }), "a group is refused");
  }

  function testItemIds() {
    var good = [
      ["01/09506000134352/21/ABC123", "01/09506000134352/21/ABC123"],
      ["https://id.gs1.org/01/09506000134352/21/ABC123", "01/09506000134352/21/ABC123"],
      ["HTTPS://example.com/some/prefix/01/09506000134352/21/ABC123?linkType=all#frag", "01/09506000134352/21/ABC123"],
      ["/01/09506000134352/22/2A/10/LOT1/21/ABC123", "01/09506000134352/21/ABC123"],
      ["/gtin/9506000134352/ser/ABC%2F1", "01/09506000134352/21/ABC/1"],
      ["/01/95060001343/21/X", null], // 11 digits: refused below.
      ["(01)09506000134352(21)ABC123", "01/09506000134352/21/ABC123"],
      ["(01)09506000134352(17)261231(21)A\\(B", "01/09506000134352/21/A(B"],
      ["https://id.gs1.org/01/96385074/21/1", "01/00000096385074/21/1"],
      ["https://id.gs1.org/01/614141000012/21/1", "01/00614141000012/21/1"],
      ["urn:epc:id:sgtin:0614141.812345.6789", "01/80614141123458/21/6789"],
      ["/01/09506000134352/21/50%25", "01/09506000134352/21/50%"],
      ["/01/09506000134352/21/A?3103=000189", "01/09506000134352/21/A"],
    ];
    for (var i = 0; i < good.length; i++) {
      var want = good[i][1];
      var got;
      try {
        got = V.parseItemId(good[i][0]);
      } catch (e) {
        got = "error: " + e.message;
      }
      if (want === null) check("item_id", got.startsWith("error"), good[i][0] + " is refused");
      else check("item_id", got === want, good[i][0] + " -> " + got);
    }
    var bad = [
      "", " 01/09506000134352/21/A", "01/09506000134352/21/", "01/09506000134353/21/A", "(01)9506000134352(21)A",
      "https://id.gs1.org/01/09506000134352", "ftp://x/01/09506000134352/21/A", "Https://x/01/09506000134352/21/A",
      "/01/09506000134352/21/A/B", "/01/09506000134352/21/" + "A".repeat(21), "/01/09506000134352/21/A#B",
      "/01/09506000134352/10/L/22/C/21/A", "/01/09506000134352/21/A?21=B", "/01/09506000134352/21/A?17=1&17=2",
      "01/09506000134352/21/AB\u00e9", "09506000134352", "https://id.gs1.org/01/09506000134352/21/A B",
      "urn:epc:id:sgtin:0614141.81234.6789", "/01/09506000134352/21/%00",
    ];
    for (var j = 0; j < bad.length; j++) {
      var threw = false;
      try {
        V.parseItemId(bad[j]);
      } catch (e) {
        threw = e instanceof Error && e.message.length > 0;
      }
      check("item_id", threw, JSON.stringify(bad[j]) + " is refused");
    }
    // GS1 check digits: every GTIN-13 of a run, one right digit.
    for (var k = 0; k < 30; k++) {
      var data = String(950600013430 + k * 7);
      var okCount = 0;
      for (var dgt = 0; dgt < 10; dgt++) {
        try {
          V.parseItemId("/01/" + data + dgt + "/21/X");
          okCount++;
        } catch (e) {
          /* refused */
        }
      }
      check("item_id", okCount === 1, "exactly one check digit accepted for " + data);
    }
  }

  async function testBundles(sets) {
    if (!sets) {
      notes.push("bundle cases skipped: no bundles given");
      return;
    }
    for (var si = 0; si < sets.length; si++) await testBundleSet(sets[si]);
  }

  async function testBundleSet(data) {
    var G = await V.loadGenesis(b64ToBytes(data.genesis));
    check("genesis", G.hashHex.length === 64 && G.fingerprint.split(" ").length === 8, "hash and fingerprint");
    check("genesis", G.freshnessMs === 18 * 10000 + 30000, "freshness limit " + G.freshnessMs);
    var bad = b64ToBytes(data.genesis);
    var extended = new Uint8Array(bad.length + 2);
    extended.set(bad);
    extended[bad.length] = 0x78; // Field 15, varint: unknown.
    var refusedGenesis = false;
    try {
      await V.loadGenesis(extended);
    } catch (e) {
      refusedGenesis = true;
    }
    check("genesis", refusedGenesis, "a genesis with an unknown field is refused");
    var byVerdict = {};
    var group = "bundles_" + data.name;
    for (var i = 0; i < data.cases.length; i++) {
      var c = data.cases[i];
      var opts = { itemId: c.item, nowMs: c.nowMs, maxAgeMs: c.maxAgeMs };
      var t0 = performance.now();
      var r = await V.verifyBundle(b64ToBytes(c.bytes), G, opts);
      var dt = performance.now() - t0;
      if (/^(clean4|items20|flagged|gov_clean|vset_clean)$/.test(c.name)) timings[c.name] = dt;
      var key = c.verdict + (c.failedCheck ? "/" + c.failedCheck : "");
      byVerdict[key] = (byVerdict[key] || 0) + 1;
      var same = r.verdict === c.verdict && r.failedCheck === c.failedCheck && JSON.stringify(r.notClean) === JSON.stringify(c.notClean);
      check(group, same, c.name + ": reference " + c.verdict + "/" + c.failedCheck + "/" + c.notClean.join(";") + ", browser " + r.verdict + "/" + r.failedCheck + "/" + r.notClean.join(";") + " (" + r.message + ")");
      if (c.name === "vset_clean") {
        check(group, r.validators === 4 && r.signers === 3 && r.state.custodian.organization === "nouveau", c.name + ": the set after the changes certifies it");
      }
      if (c.name === "clean4" || c.name === "gov_clean") {
        check(group, r.state && r.state.brand === "maison" && r.steps.length === 4 && r.steps[0].type === "register" && r.steps[0].organization === "maison", c.name + ": state and steps shown");
      }
    }
    notes.push(group + ": reference verdicts " + JSON.stringify(byVerdict));
    // Timing: the 20-record bundle, several times (the first run warms the key cache).
    var c20 = data.cases.filter(function (x) {
      return x.name === "items20";
    })[0];
    if (c20) {
      var b20 = b64ToBytes(c20.bytes);
      var runs = 10;
      var t1 = performance.now();
      for (var k = 0; k < runs; k++) await V.verifyBundle(b20, G, { itemId: c20.item, nowMs: c20.nowMs });
      timings.items20_avg_ms = (performance.now() - t1) / runs;
      var pk = hexToBytes("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
      var sig = hexToBytes("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
      var t2 = performance.now();
      for (var s = 0; s < 200; s++) await I.verifySignature(pk, new Uint8Array(0), sig);
      timings.signature_ms = (performance.now() - t2) / 200;
    }
  }

  async function main() {
    var data = JSON.parse(document.getElementById("test-data").textContent);
    var started = Date.now();
    var steps = [
      ["sha256", function () { return testSha256(); }],
      ["rfc6962", function () { return testRfc6962(data.rfc6962); }],
      ["rfc8032", function () { return testRfc8032(data.rfc8032); }],
      ["speccheck", function () { return testSpeccheck(data.speccheck); }],
      ["small_order", function () { return testSmallOrder(); }],
      ["wycheproof", function () { return testWycheproof(data.wycheproof); }],
      ["protobuf", function () { return testProtobuf(); }],
      ["item_id", function () { return testItemIds(); }],
      ["bundles", function () { return testBundles(data.bundles); }],
    ];
    for (var i = 0; i < steps.length; i++) {
      try {
        await steps[i][1]();
      } catch (e) {
        failures.push(steps[i][0] + ": threw " + (e && e.stack ? e.stack : e));
      }
    }
    var result = {
      ok: failures.length === 0,
      checks: counts,
      failures: failures.slice(0, 50),
      failureCount: failures.length,
      notes: notes,
      timingsMs: timings,
      totalMs: Date.now() - started,
    };
    var el = document.getElementById("hallmark-result");
    el.textContent = JSON.stringify(result);
    el.setAttribute("data-done", "1");
  }
  main();
})();
