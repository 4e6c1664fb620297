// The consumer page (docs/page.md, "What the page shows"): asks the configured nodes for the
// item's proof bundle, checks each with HallmarkVerifier (core/web/verifier.js, which runs
// just before this file in the page's one script) against the genesis embedded in the page, and
// shows the newest answer that checks out, verdict first, in a shopper's words.
//
// Everything shown is built with textContent: no value from a node, the config or the address
// ever becomes markup. When it has finished, the page writes its result as JSON into the hidden
// <pre id="hallmark-result"> and sets data-done="1" on it (tests/web/chromium_run.py reads it).
(function () {
  "use strict";

  // A node's answer larger than this is not read (the verifier's own bundle limit is 64 MiB).
  const MAX_ANSWER_BYTES = 64 * 1024 * 1024;
  // After this long, the page shows the best answer so far (if one checks out) and names the
  // nodes it still waits for. No answer is ever cut off by a timer: a timer cannot turn a node's
  // late answer into "unreachable" (nor, in a test browser's virtual time, fire early and do so).
  const SLOW_NODE_MS = 15000;

  const byId = (id) => document.getElementById(id);

  function setText(id, text) {
    const node = byId(id);
    node.textContent = text;
    node.hidden = text === "";
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // ---- What the page reports, for people and for tests ----

  let reported = false;

  function report(result) {
    if (reported) return;
    reported = true;
    const out = byId("hallmark-result");
    out.textContent = JSON.stringify({
      verdict: result.verdict,
      headline: byId("verdict").textContent,
      failedCheck: result.failedCheck || "",
      notClean: result.notClean || [],
      itemId: result.itemId || "",
      height: result.height === undefined || result.height === null ? null : String(result.height),
    });
    out.setAttribute("data-done", "1");
  }

  // tone: "ok" (green), "bad" (red), "warn" (amber), "wait" (grey).
  function showVerdict(tone, headline, detail, small) {
    const box = byId("verdict-box");
    box.className = "verdict tone-" + tone;
    byId("verdict").textContent = headline;
    document.title = headline + " · Hallmark item check";
    setText("verdict-detail", detail || "");
    setText("verdict-small", small || "");
  }

  function fail(verdict, headline, detail, small, itemId) {
    showVerdict(verdict === "insecure" || verdict === "broken" ? "bad" : "wait", headline, detail,
                small);
    report({ verdict: verdict, itemId: itemId });
  }

  // ---- Words and dates ----

  function formatDate(ms) {
    if (typeof ms !== "number" || !isFinite(ms) || ms <= 0) return "an unknown date";
    try {
      return new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
    } catch (e) {
      return new Date(ms).toISOString();
    }
  }

  function isoDate(ms) {
    try {
      return new Date(ms).toISOString();
    } catch (e) {
      return "";
    }
  }

  function formatAge(ms) {
    if (typeof ms !== "number" || !isFinite(ms)) return "of unknown age";
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 120) return s + (s === 1 ? " second" : " seconds") + " old";
    const m = Math.round(s / 60);
    if (m < 120) return m + " minutes old";
    const h = Math.round(m / 60);
    if (h < 48) return h + " hours old";
    return Math.round(h / 24) + " days old";
  }

  // Ends `text` with a full stop unless it already ends a sentence.
  function sentence(text) {
    const t = String(text || "").trim();
    return t === "" || /[.!?…”]$/.test(t) ? t : t + ".";
  }

  function shortKey(hex) {
    const h = String(hex || "");
    return h.length > 8 ? h.slice(0, 8) + "…" : h;
  }

  // Who signed or holds: the organisation's name, else a private holder key's first digits.
  function who(organizationName, organization, keyHex) {
    if (organizationName) return organizationName;
    if (organization) return organization;
    if (keyHex) return "a private holder key " + shortKey(keyHex);
    return "an unknown signer";
  }

  function flagKind(flag) {
    return String((flag && flag.kind) || "").toLowerCase().replace(/_/g, "-");
  }

  // The verdict headline for each flag kind, most serious first.
  const FLAG_WORDS = [
    ["stolen", "Reported stolen"],
    ["counterfeit-suspected", "Reported counterfeit"],
    ["lost", "Reported lost"],
    ["recalled", "Recalled by the brand"],
  ];

  function flagHeadline(kind) {
    for (const [k, words] of FLAG_WORDS) if (k === kind) return words;
    return "Reported: " + kind.replace(/-/g, " ");
  }

  // "destroyed", "recycled", … from the item's last decommission step, when it says.
  function decommissionKind(result) {
    const steps = (result.steps || []).filter((s) => s && s.type === "decommission");
    const last = steps[steps.length - 1];
    if (!last) return "";
    for (const field of [last.kind, last.decommissionKind]) {
      if (field) return String(field).toLowerCase();
    }
    const m = /\b(destroyed|recycled)\b/i.exec(String(last.summary || ""));
    return m ? m[1].toLowerCase() : "";
  }

  function describeItemId(itemId) {
    const m = /^01\/(\d{14})\/21\/(.+)$/.exec(itemId || "");
    return m ? { gtin: m[1], serial: m[2] } : { gtin: "", serial: itemId || "" };
  }

  // ---- Showing a proof that checks out (clean, not_clean or stale) ----

  function showChecked(result, genesis, askedNodes, lyingNodes, unreachable, pending) {
    const state = result.state;
    const item = describeItemId(result.itemId);
    const asOf = formatDate(result.headerTimeMs);
    let tone = "ok";
    let headline = "";
    let detail = "";
    let small = "";
    if (result.verdict === "stale") {
      tone = "warn";
      headline = "This proof is too old to trust";
      detail = "The newest proof any node sent is from " + asOf + " (" + formatAge(result.ageMs) +
               "). The item may have been reported stolen since.";
      const limit = typeof result.maxAgeMs === "number" ? result.maxAgeMs : genesis.freshnessMs;
      small = "An up-to-date node always has a proof less than " + formatAge(limit).replace(" old", "") +
              " old. The node may be out of date or hiding something, or this device’s clock may be wrong.";
    } else if (!result.registered || !state) {
      tone = "warn";
      headline = "Unknown serial: this item was never registered";
      detail = "The network has no record of serial " + item.serial +
               (item.gtin ? " for product " + item.gtin : "") +
               ". A genuine item of a brand on this network is registered when it is made.";
    } else if (result.verdict === "clean") {
      headline = "Genuine, and not reported stolen";
      detail = "Registered by " + (state.brandName || state.brand || "its brand") +
               "; no one has reported it stolen, lost, counterfeit or recalled.";
    } else {
      tone = "bad";
      const flags = (state.flags || []).map(flagKind);
      const ranked = FLAG_WORDS.map((f) => f[0]).filter((k) => flags.includes(k));
      const top = ranked.length ? ranked[0] : flags[0];
      if (top) {
        headline = flagHeadline(top);
        const first = (state.flags || []).find((f) => flagKind(f) === top) || {};
        detail = "Flagged by " + who(first.byOrganizationName || first.byOrganization,
                                     "", first.byKeyHex) +
                 (first.timeMs ? " on " + formatDate(first.timeMs) : "") + ".";
        if (first.note) detail += " Note: “" + first.note + "”";
        if (state.status === "DECOMMISSIONED") detail += " It is also decommissioned.";
      } else if (state.status === "DECOMMISSIONED") {
        tone = "warn";
        const kind = decommissionKind(result);
        headline = "No longer in circulation (decommissioned" + (kind ? ": " + kind : "") + ")";
        detail = "The brand or its custodian took this item out of circulation. An item with this " +
                 "serial offered for sale is not what the record describes.";
      } else {
        headline = "Not clean: " + (result.notClean || []).join("; ");
      }
      if ((result.notClean || []).length) small = sentence("The network’s record: " + result.notClean.join("; "));
    }
    showVerdict(tone, headline, detail, small);

    if (state) showItem(result, state);
    byId("item-title").textContent = result.verdict === "stale"
      ? "The item, as the old proof showed it on " + asOf : "The item";
    showHistory(result.steps || []);
    showBasis(result, genesis, askedNodes, lyingNodes, unreachable, pending);
  }

  function addFact(list, term, value) {
    if (value === undefined || value === null || value === "") return;
    list.appendChild(element("dt", "", term));
    const dd = element("dd");
    if (value instanceof Node) dd.appendChild(value);
    else dd.textContent = String(value);
    list.appendChild(dd);
  }

  function showItem(result, state) {
    const facts = byId("item-facts");
    facts.replaceChildren();
    const item = describeItemId(result.itemId);
    addFact(facts, "Brand", state.brandName || state.brand);
    for (const a of state.attributes || []) {
      if (a && a.key) addFact(facts, a.key, a.value);
    }
    addFact(facts, "Product (GTIN)", item.gtin);
    addFact(facts, "Serial", item.serial);
    const c = state.custodian || {};
    addFact(facts, "Held by", who(c.name || c.organizationName, c.organization, c.key || c.keyHex));
    if (state.status && state.status !== "ACTIVE") {
      addFact(facts, "Status", String(state.status).toLowerCase());
    }
    byId("item").hidden = false;
  }

  function showHistory(steps) {
    const list = byId("steps");
    list.replaceChildren();
    for (const s of steps) {
      if (!s) continue;
      const li = element("li", s.type === "flag" ? "step-alert" : "");
      const when = element("time", "when", formatDate(s.timeMs));
      const iso = isoDate(s.timeMs);
      if (iso) when.setAttribute("datetime", iso);
      li.appendChild(when);
      li.appendChild(element("span", "what", s.summary || s.type || "a step"));
      li.appendChild(element("span", "who", "Signed by " + who(s.organizationName, s.organization, s.signerHex)));
      list.appendChild(li);
    }
    byId("history").hidden = list.childElementCount === 0;
  }

  function nodeName(node) {
    return node === "" ? location.origin + " (the site this page came from)" : node;
  }

  function showBasis(result, genesis, askedNodes, lyingNodes, unreachable, pending) {
    const text = [];
    if (result && result.height !== undefined && result.height !== null &&
        result.verdict !== "invalid") {
      text.push("Verified in this browser against network " + (result.chainId || genesis.chainId) +
                " (genesis fingerprint " + (result.genesisFingerprint || genesis.fingerprint) +
                "), as of " + formatDate(result.headerTimeMs) + " (block " + result.height + ").");
    } else if (genesis) {
      text.push("Checked in this browser against network " + genesis.chainId +
                " (genesis fingerprint " + genesis.fingerprint + ").");
    }
    byId("basis-text").textContent = text.join(" ");
    const notes = byId("basis-notes");
    notes.replaceChildren();
    if (askedNodes.length) {
      notes.appendChild(element("li", "", "Asked: " + askedNodes.map(nodeName).join(", ") + "."));
    }
    for (const l of lyingNodes) {
      notes.appendChild(element("li", "", "A proof that does not check out came from " +
                                          nodeName(l.node) + " (" + l.message + ")."));
    }
    for (const u of unreachable) {
      notes.appendChild(element("li", "", sentence("No proof from " + nodeName(u.node) + ": " + u.message)));
    }
    for (const p of pending) {
      notes.appendChild(element("li", "", "Still waiting for " + nodeName(p) +
                                          "; this may change if it answers with a newer proof."));
    }
    byId("basis").hidden = false;
  }

  // ---- Asking the nodes ----

  function proofUrl(node, itemId) {
    // Each segment encoded on its own: a serial may hold '/', '%', '?' or '#'.
    const path = "/v1/items/" + itemId.split("/").map(encodeURIComponent).join("/") + "/proof";
    return node === "" ? path : node.replace(/\/+$/, "") + path;
  }

  async function readLimited(response) {
    const length = Number(response.headers.get("Content-Length"));
    if (length > MAX_ANSWER_BYTES) throw new Error("the answer is larger than " + MAX_ANSWER_BYTES + " bytes");
    if (!response.body || !response.body.getReader) {
      const whole = new Uint8Array(await response.arrayBuffer());
      if (whole.length > MAX_ANSWER_BYTES) throw new Error("the answer is too large");
      return whole;
    }
    const reader = response.body.getReader();
    const chunks = [];
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > MAX_ANSWER_BYTES) {
        reader.cancel();
        throw new Error("the answer is larger than " + MAX_ANSWER_BYTES + " bytes");
      }
      chunks.push(value);
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  // One node: {node, result} when it answered with a bundle (the verifier's Result, whatever
  // its verdict), or {node, error} when there was no bundle to check.
  // A node that is busy (429, 503) or caught by a block mid-read (500 "the store kept changing")
  // is asked once more after a short wait.
  async function askNode(node, itemId, genesis) {
    const first = await askNodeOnce(node, itemId, genesis);
    if (!(first.status === 429 || first.status === 500 || first.status === 503)) return first;
    const after = Math.min(5, Math.max(1, Number(first.retryAfter) || 1));
    await new Promise((resolve) => setTimeout(resolve, after * 1000));
    return askNodeOnce(node, itemId, genesis);
  }

  async function askNodeOnce(node, itemId, genesis) {
    try {
      let response;
      try {
        response = await fetch(proofUrl(node, itemId), {
          headers: { Accept: "application/x-protobuf" },
          cache: "no-store",
          credentials: "omit",
          redirect: "follow",
        });
      } catch (e) {
        return { node: node, error: "could not connect" };
      }
      if (!response.ok) {
        let code = "";
        try {
          const body = JSON.parse(new TextDecoder().decode(await readLimited(response)));
          code = body && body.error && body.error.message ? String(body.error.message).slice(0, 200) : "";
        } catch (e) {
          code = "";
        }
        return { node: node, status: response.status, retryAfter: response.headers.get("Retry-After"),
                 error: "it answered HTTP " + response.status + (code ? " (" + code + ")" : "") };
      }
      const bytes = await readLimited(response);
      let result;
      try {
        result = await HallmarkVerifier.verifyBundle(bytes, genesis, {
          itemId: itemId,
          nowMs: Date.now(),
          maxAgeMs: null,
        });
      } catch (e) {
        // The verifier answers every bad bundle with a Result; should it throw all the same, the
        // bundle still did not check out.
        result = null;
      }
      if (!result || typeof result !== "object" || typeof result.verdict !== "string") {
        result = { verdict: "invalid", failedCheck: "format",
                   message: "the verifier could not read this answer" };
      }
      return { node: node, result: result };
    } catch (e) {
      return { node: node, error: String((e && e.message) || e).slice(0, 200) };
    }
  }

  function checksOut(r) {
    return r.result && (r.result.verdict === "clean" || r.result.verdict === "not_clean" ||
                        r.result.verdict === "stale");
  }

  function newer(a, b) {
    const ha = Number(a.height), hb = Number(b.height);
    if (ha !== hb) return ha > hb;
    return Number(a.headerTimeMs) > Number(b.headerTimeMs);
  }

  // Shows what the settled answers say; returns what to report when all are in.
  function decide(itemId, genesis, nodes, answers, pending) {
    const good = answers.filter(checksOut);
    const lying = answers.filter((a) => a.result && !checksOut(a))
                         .map((a) => ({ node: a.node, message: a.result.message || a.result.failedCheck }));
    const unreachable = answers.filter((a) => a.error).map((a) => ({ node: a.node, message: a.error }));
    if (good.length) {
      let best = good[0].result;
      for (const g of good) if (newer(g.result, best)) best = g.result;
      showChecked(best, genesis, nodes, lying, unreachable, pending);
      return best;
    }
    if (pending.length) {
      showVerdict("wait", "Checking this item…", "Still waiting for " + pending.map(nodeName).join(", ") +
                  ". Nothing has been checked yet.", "");
      return null;
    }
    const invalid = answers.find((a) => a.result);
    if (invalid) {
      const r = invalid.result;
      showVerdict("bad", "This proof does not check out",
                  "Do not rely on what this node says about the item: the proof it sent fails the " +
                  "network’s checks. The node may be lying, or broken.",
                  "Asked about " + describeItemId(itemId).serial + " (product " + describeItemId(itemId).gtin + "). " +
                  sentence("Failed check: " + (r.failedCheck || "unknown") + (r.message ? ": " + r.message : "")));
      showBasis(null, genesis, nodes, lying.slice(1), unreachable, []);
      return Object.assign({}, r, { itemId: itemId });
    }
    const first = unreachable[0] || { message: "no answer" };
    const only = nodes.length === 1;
    const noHeader = answers.some((a) => a.status === 503);
    showVerdict("wait", only ? "Could not reach the node" : "Could not reach any node",
                noHeader ? "The network has not certified a block yet. Try again in a moment."
                         : "No proof could be fetched, so nothing about this item was checked. " +
                           "Check your connection and try again.",
                sentence((only ? "" : "First problem: ") + nodeName(first.node) + ": " + first.message));
    showBasis(null, genesis, nodes, [], unreachable.slice(1), []);
    return { verdict: "unreachable", itemId: itemId };
  }

  async function check(itemId, config, genesis) {
    showVerdict("wait", "Checking this item…", "Asking the network for this item’s proof and " +
                "checking it in this browser.", "");
    const nodes = config.nodes.length ? config.nodes : [""];
    if (config.nodes.length === 0 && location.protocol === "file:") {
      fail("unreachable", "Could not reach the node",
           "This saved page does not say which node to ask.", "", itemId);
      return;
    }
    const answers = [];
    const pending = new Set(nodes.map((n, i) => i));
    const pendingNodes = () => Array.from(pending).map((i) => nodes[i]);
    const slow = setTimeout(() => {
      if (pending.size) decide(itemId, genesis, nodes, answers, pendingNodes());
    }, SLOW_NODE_MS);
    await Promise.all(nodes.map((n, i) => askNode(n, itemId, genesis).then((a) => {
      answers[i] = a;
      pending.delete(i);
    })));
    clearTimeout(slow);
    report(decide(itemId, genesis, nodes, answers.filter(Boolean), []));
  }

  // ---- The item: from the config, the address, or the person ----

  function itemFromLocation() {
    const candidates = [];
    try {
      const q = new URLSearchParams(location.search).get("id");
      if (q) candidates.push(q);
    } catch (e) { /* no query */ }
    const hash = location.hash.replace(/^#/, "");
    if (hash) {
      try {
        const h = new URLSearchParams(hash).get("id");
        if (h) candidates.push(h);
      } catch (e) { /* not a parameter list */ }
    }
    if (location.protocol !== "file:" && /\/(01|gtin)\//.test(location.pathname)) {
      candidates.push(location.pathname);
    }
    for (const c of candidates) {
      try {
        return { id: HallmarkVerifier.parseItemId(c) };
      } catch (e) {
        return { error: "The address does not name an item: " + String((e && e.message) || e) };
      }
    }
    return {};
  }

  function askForItem(config, genesis, problem) {
    showVerdict("wait", "Which item?", "Type the code printed under the QR code to check the item.", problem || "");
    const form = byId("ask");
    form.hidden = false;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = byId("ask-code").value.trim();
      let id;
      try {
        id = HallmarkVerifier.parseItemId(text);
      } catch (e) {
        setText("ask-error", "That code is not an item code: " + String((e && e.message) || e));
        return;
      }
      setText("ask-error", "");
      form.hidden = true;
      reported = false;
      try {
        history.replaceState(null, "", "#id=" + encodeURIComponent(id));
      } catch (e) { /* a file: page may refuse; the check goes on */ }
      check(id, config, genesis);
    });
    report({ verdict: "no_item" });
  }

  function base64Bytes(text) {
    const raw = atob(String(text || ""));
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; ++i) out[i] = raw.charCodeAt(i);
    return out;
  }

  function readConfig() {
    const raw = JSON.parse(byId("hallmark-config").textContent);
    if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new Error("not a JSON object");
    const nodes = raw.nodes === undefined ? [] : raw.nodes;
    if (!Array.isArray(nodes) || nodes.some((n) => typeof n !== "string")) {
      throw new Error("nodes is not a list of URLs");
    }
    return {
      nodes: nodes.filter((n) => n !== ""),
      genesis: base64Bytes(raw.genesis),
      itemId: String(raw.item_id || raw.itemId || ""),
      digitalLink: String(raw.digital_link || raw.digitalLink || ""),
    };
  }

  async function main() {
    if (typeof HallmarkVerifier !== "object" || HallmarkVerifier === null) {
      fail("broken", "This page is broken", "Its verifier is missing, so it cannot check anything.");
      return;
    }
    if (!window.isSecureContext || !window.crypto || !window.crypto.subtle) {
      fail("insecure", "Open this page over https",
           "Your browser only lets a page check signatures when the page comes over https " +
           "(or from this device). This copy came over plain http, so it cannot check the item.",
           "Nothing on this page has been checked.");
      return;
    }
    let config;
    let genesis;
    try {
      config = readConfig();
      genesis = await HallmarkVerifier.loadGenesis(config.genesis);
    } catch (e) {
      fail("broken", "This page is broken",
           "Its network settings are damaged, so it cannot check anything.",
           String((e && e.message) || e));
      return;
    }
    let itemId = "";
    let problem = "";
    if (config.itemId) {
      try {
        itemId = HallmarkVerifier.parseItemId(config.itemId);
      } catch (e) {
        problem = "The page names an item that is not a valid code: " + String((e && e.message) || e);
      }
    } else {
      const found = itemFromLocation();
      itemId = found.id || "";
      problem = found.error || "";
    }
    if (!itemId) {
      askForItem(config, genesis, problem);
      return;
    }
    await check(itemId, config, genesis);
  }

  main().catch((e) => {
    fail("broken", "This page is broken", "Something went wrong while checking.",
         String((e && e.message) || e));
  });
})();
