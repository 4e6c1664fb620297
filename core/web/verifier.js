// Hallmark's in-browser verifier of proof bundles: a second, independent implementation of
// docs/proofs.md, written from the documents (docs/proofs.md, docs/state-tree.md,
// docs/signatures.md, proto/*.proto), not from the C++. Plain script, no modules, no
// dependencies: only WebCrypto (SHA-256, Ed25519). Defines one global, HallmarkVerifier.
// How it works and what it checks differently from `hallmark verify`: docs/page.md, "How the
// browser verifies".
"use strict";

var HallmarkVerifier = (function () {
  // ---------------------------------------------------------------------------------------------
  // Limits (docs/proofs.md, core/limits.h).
  var MAX_BUNDLE_BYTES = 64 * 1024 * 1024;
  var MAX_BUNDLE_RECORDS = 100000;
  var MAX_VALIDATORS = 256;
  var MAX_WALK_BLOCKS = 4096;
  var MAX_WALK_RECORDS = 16384;
  var MAX_WALK_MESSAGES = 2 * MAX_WALK_RECORDS + 2 * MAX_WALK_BLOCKS + 65536;
  var MAX_BUNDLE_MESSAGES = MAX_BUNDLE_RECORDS + MAX_VALIDATORS + 16 + MAX_WALK_MESSAGES;
  var MAX_PAYLOAD_BYTES = 16 * 1024;
  var MAX_ATTRIBUTES = 32;
  var MAX_ATTRIBUTE_KEY_BYTES = 64;
  var MAX_ATTRIBUTE_VALUE_BYTES = 256;
  var MAX_DOCUMENTS = 16;
  var MAX_DOCUMENT_NAME_BYTES = 128;
  var MAX_NOTE_BYTES = 512;
  var MAX_GENESIS_BYTES = 4 * 1024 * 1024;
  var MAX_TOTAL_VOTING_POWER = 1n << 60n;
  var FRESHNESS_IDLE_INTERVALS = 18;
  var SMT_MAX_SIBLINGS = 256;
  var MAX_INCLUSION_HASHES = 64;
  var U64_MASK = (1n << 64n) - 1n;
  var SAFE = BigInt(Number.MAX_SAFE_INTEGER);

  // ---------------------------------------------------------------------------------------------
  // Bytes.
  var HEX = "0123456789abcdef";
  function hex(b) {
    var s = "";
    for (var i = 0; i < b.length; i++) s += HEX[b[i] >> 4] + HEX[b[i] & 15];
    return s;
  }
  function fromHex(s) {
    if (typeof s !== "string" || s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return null;
    var out = new Uint8Array(s.length / 2);
    for (var i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
    return out;
  }
  function eq(a, b) {
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  function concat(parts) {
    var n = 0;
    for (var i = 0; i < parts.length; i++) n += parts[i].length;
    var out = new Uint8Array(n);
    var at = 0;
    for (var j = 0; j < parts.length; j++) {
      out.set(parts[j], at);
      at += parts[j].length;
    }
    return out;
  }
  var utf8Enc = new TextEncoder();
  var utf8Dec = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  function ascii(s) {
    return utf8Enc.encode(s);
  }
  function utf8Len(s) {
    return utf8Enc.encode(s).length;
  }
  function isZero(b) {
    for (var i = 0; i < b.length; i++) if (b[i] !== 0) return false;
    return true;
  }
  // A uint64 (BigInt) for people: a Number when exact, else its decimal string (never rounded).
  function num(v) {
    if (typeof v === "bigint") return v <= SAFE ? Number(v) : v.toString();
    return v;
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  // ---------------------------------------------------------------------------------------------
  // Protobuf: per-message schemas, a decoder with Protobuf's own parsing rules (so that a
  // message parses exactly when the reference parser's would: last value wins, messages merge,
  // oneof members replace each other, packed and unpacked repeated scalars, unknown fields kept
  // aside and refused afterwards), and the deterministic encoder. Canonical = the encoder gives
  // back exactly the input.
  function PbError(message) {
    this.message = message;
  }

  // Field types: "u32", "u64" (BigInt), "enum" (int32), "bool", "str", "bytes", or a schema.
  function Msg(name, fields) {
    var s = { name: name, byNum: {}, order: [] };
    for (var k in fields) {
      var f = fields[k];
      var d = {
        num: Number(k),
        name: f[0],
        type: f[1],
        rep: !!(f[2] && f[2].rep),
        oneof: (f[2] && f[2].oneof) || null,
      };
      d.isMsg = typeof d.type === "object" || typeof d.type === "function";
      d.packable = d.rep && !d.isMsg && d.type !== "str" && d.type !== "bytes";
      s.byNum[d.num] = d;
      s.order.push(d);
    }
    s.order.sort(function (a, b) {
      return a.num - b.num;
    });
    return s;
  }
  function typeOf(f) {
    return typeof f.type === "function" ? f.type() : f.type;
  }
  var REP = { rep: true };

  var S = {};
  S.CommitSignature = Msg("CommitSignature", { 1: ["validator", "bytes"], 2: ["signature", "bytes"] });
  S.CommitCertificate = Msg("CommitCertificate", {
    1: ["height", "u64"],
    2: ["round", "u32"],
    3: ["blockId", "bytes"],
    4: ["signatures", S.CommitSignature, REP],
  });
  S.Envelope = Msg("Envelope", { 1: ["payload", "bytes"], 2: ["signer", "bytes"], 3: ["signature", "bytes"] });
  S.GovernanceRecordProof = Msg("GovernanceRecordProof", {
    1: ["envelope", S.Envelope],
    2: ["index", "u32"],
    3: ["inclusionProof", "bytes", REP],
  });
  S.GovernanceBlock = Msg("GovernanceBlock", {
    1: ["header", "bytes"],
    2: ["certificate", S.CommitCertificate],
    3: ["records", S.GovernanceRecordProof, REP],
    4: ["networkState", "bytes"],
    5: ["networkStateProof", "bytes"],
  });
  S.GovernanceWalk = Msg("GovernanceWalk", {
    1: ["fromHeight", "u64"],
    2: ["blocks", S.GovernanceBlock, REP],
    3: ["networkStateProof", "bytes"],
    4: ["networkState", "bytes"],
  });
  S.ProofBundle = Msg("ProofBundle", {
    1: ["version", "u32"],
    2: ["chainId", "str"],
    3: ["genesisHash", "bytes"],
    4: ["itemId", "str"],
    5: ["header", "bytes"],
    6: ["certificate", S.CommitCertificate],
    7: ["stateProof", "bytes"],
    8: ["state", "bytes"],
    9: ["history", S.Envelope, REP],
    10: ["governance", S.GovernanceWalk],
    11: ["historyHeights", "u64", REP],
  });
  S.BlockHeader = Msg("BlockHeader", {
    1: ["chainId", "str"],
    2: ["height", "u64"],
    3: ["timeMs", "u64"],
    4: ["prevHash", "bytes"],
    5: ["proposer", "bytes"],
    6: ["recordsRoot", "bytes"],
    7: ["stateRoot", "bytes"],
    8: ["recordCount", "u32"],
    9: ["evidenceRoot", "bytes"],
    10: ["evidenceCount", "u32"],
  });
  S.Holder = Msg("Holder", {
    1: ["organization", "str", { oneof: "kind" }],
    2: ["holderKey", "bytes", { oneof: "kind" }],
  });
  S.Attribute = Msg("Attribute", { 1: ["key", "str"], 2: ["value", "str"] });
  S.DocumentDigest = Msg("DocumentDigest", { 1: ["name", "str"], 2: ["sha256", "bytes"] });
  S.Register = Msg("Register", {
    1: ["attributes", S.Attribute, REP],
    2: ["documents", S.DocumentDigest, REP],
    3: ["custodian", S.Holder],
  });
  S.Transfer = Msg("Transfer", { 1: ["to", S.Holder] });
  S.Attest = Msg("Attest", { 1: ["verdict", "enum"], 2: ["note", "str"] });
  S.Flag = Msg("Flag", { 1: ["kind", "enum"], 2: ["note", "str"] });
  S.ClearFlag = Msg("ClearFlag", { 1: ["kind", "enum"], 2: ["note", "str"] });
  S.Service = Msg("Service", { 1: ["kind", "enum"], 2: ["note", "str"] });
  S.Decommission = Msg("Decommission", { 1: ["kind", "enum"], 2: ["reason", "str"] });
  S.Reassign = Msg("Reassign", { 1: ["newHolderKey", "bytes"], 2: ["reason", "str"] });
  S.AddOrganization = Msg("AddOrganization", {
    1: ["id", "str"],
    2: ["displayName", "str"],
    3: ["roles", "enum", REP],
    4: ["signingKeys", "bytes", REP],
    5: ["gs1CompanyPrefixes", "str", REP],
    6: ["resolverDomain", "str"],
    7: ["website", "str"],
  });
  S.UpdateOrganization = Msg("UpdateOrganization", {
    1: ["id", "str"],
    2: ["displayName", "str"],
    3: ["roles", "enum", REP],
    4: ["gs1CompanyPrefixes", "str", REP],
    5: ["resolverDomain", "str"],
    6: ["website", "str"],
  });
  S.RemoveOrganization = Msg("RemoveOrganization", { 1: ["id", "str"] });
  S.AddSigningKey = Msg("AddSigningKey", { 1: ["organization", "str"], 2: ["key", "bytes"] });
  S.RevokeSigningKey = Msg("RevokeSigningKey", { 1: ["organization", "str"], 2: ["key", "bytes"] });
  S.AddValidator = Msg("AddValidator", {
    1: ["name", "str"],
    2: ["organization", "str"],
    3: ["consensusKey", "bytes"],
    4: ["votingPower", "u64"],
  });
  S.RemoveValidator = Msg("RemoveValidator", { 1: ["consensusKey", "bytes"] });
  S.SetValidatorPower = Msg("SetValidatorPower", { 1: ["consensusKey", "bytes"], 2: ["votingPower", "u64"] });
  S.ChangeValidatorKey = Msg("ChangeValidatorKey", {
    1: ["consensusKey", "bytes"],
    2: ["newConsensusKey", "bytes"],
  });
  var CH = { oneof: "kind" };
  S.GovernanceChange = Msg("GovernanceChange", {
    1: ["addOrganization", S.AddOrganization, CH],
    2: ["updateOrganization", S.UpdateOrganization, CH],
    3: ["removeOrganization", S.RemoveOrganization, CH],
    4: ["addSigningKey", S.AddSigningKey, CH],
    5: ["revokeSigningKey", S.RevokeSigningKey, CH],
    6: ["addValidator", S.AddValidator, CH],
    7: ["removeValidator", S.RemoveValidator, CH],
    8: ["setValidatorPower", S.SetValidatorPower, CH],
    9: ["changeValidatorKey", S.ChangeValidatorKey, CH],
  });
  S.GovernanceProposal = Msg("GovernanceProposal", {
    1: ["change", S.GovernanceChange],
    2: ["expiresHeight", "u64"],
    3: ["note", "str"],
  });
  S.GovernanceApproval = Msg("GovernanceApproval", { 1: ["proposal", "bytes"] });
  S.Governance = Msg("Governance", {
    1: ["proposal", S.GovernanceProposal, CH],
    2: ["approval", S.GovernanceApproval, CH],
  });
  var BODY = { oneof: "body" };
  S.RecordPayload = Msg("RecordPayload", {
    1: ["chainId", "str"],
    2: ["itemId", "str"],
    3: ["prev", "bytes"],
    4: ["timestampMs", "u64"],
    10: ["register", S.Register, BODY],
    11: ["transfer", S.Transfer, BODY],
    12: ["attest", S.Attest, BODY],
    13: ["flag", S.Flag, BODY],
    14: ["clearFlag", S.ClearFlag, BODY],
    15: ["service", S.Service, BODY],
    16: ["decommission", S.Decommission, BODY],
    17: ["reassign", S.Reassign, BODY],
    20: ["governance", S.Governance],
  });
  S.ActiveFlag = Msg("ActiveFlag", {
    1: ["kind", "enum"],
    2: ["setBy", S.Holder],
    3: ["record", "bytes"],
    4: ["note", "str"],
  });
  S.PeriodActivity = Msg("PeriodActivity", {
    1: ["organization", "str"],
    2: ["attests", "u32"],
    3: ["counterfeitFlags", "u32"],
    4: ["services", "u32"],
  });
  S.ItemState = Msg("ItemState", {
    1: ["itemId", "str"],
    2: ["brand", "str"],
    3: ["custodian", S.Holder],
    4: ["status", "enum"],
    5: ["flags", S.ActiveFlag, REP],
    6: ["lastRecord", "bytes"],
    7: ["recordCount", "u64"],
    8: ["attributes", S.Attribute, REP],
    9: ["documents", S.DocumentDigest, REP],
    10: ["registeredHeight", "u64"],
    11: ["updatedHeight", "u64"],
    12: ["historyBytes", "u64"],
    13: ["periodActivity", S.PeriodActivity, REP],
  });
  S.KeyPeriod = Msg("KeyPeriod", { 1: ["key", "bytes"], 2: ["validFrom", "u64"], 3: ["revokedAt", "u64"] });
  S.OrganizationVersion = Msg("OrganizationVersion", {
    1: ["fromHeight", "u64"],
    2: ["displayName", "str"],
    3: ["roles", "enum", REP],
    4: ["gs1CompanyPrefixes", "str", REP],
    5: ["resolverDomain", "str"],
    6: ["website", "str"],
  });
  S.OrganizationRecord = Msg("OrganizationRecord", {
    1: ["id", "str"],
    2: ["memberFrom", "u64"],
    3: ["removedAt", "u64"],
    4: ["versions", S.OrganizationVersion, REP],
    5: ["keys", S.KeyPeriod, REP],
  });
  S.ValidatorEntry = Msg("ValidatorEntry", {
    1: ["name", "str"],
    2: ["organization", "str"],
    3: ["consensusKey", "bytes"],
    4: ["votingPower", "u64"],
  });
  S.ValidatorEpoch = Msg("ValidatorEpoch", {
    1: ["fromHeight", "u64"],
    2: ["validators", S.ValidatorEntry, REP],
    3: ["movedPower", "u64"],
  });
  S.PendingProposal = Msg("PendingProposal", {
    1: ["id", "bytes"],
    2: ["proposer", "str"],
    3: ["proposedHeight", "u64"],
    4: ["expiresHeight", "u64"],
    5: ["change", S.GovernanceChange],
    6: ["approvals", "str", REP],
  });
  S.NetworkStateProto = Msg("NetworkStateProto", {
    1: ["organizations", S.OrganizationRecord, REP],
    2: ["validatorEpochs", S.ValidatorEpoch, REP],
    3: ["pending", S.PendingProposal, REP],
  });
  S.Organization = Msg("Organization", {
    1: ["id", "str"],
    2: ["displayName", "str"],
    3: ["roles", "enum", REP],
    4: ["signingKeys", "str", REP],
    5: ["gs1CompanyPrefixes", "str", REP],
    6: ["resolverDomain", "str"],
    7: ["website", "str"],
  });
  S.Validator = Msg("Validator", {
    1: ["name", "str"],
    2: ["organization", "str"],
    3: ["consensusKey", "str"],
    4: ["votingPower", "u64"],
  });
  S.ConsensusParams = Msg("ConsensusParams", {
    1: ["maxBlockRecords", "u32"],
    2: ["maxBlockBytes", "u64"],
    3: ["timeoutProposeMs", "u32"],
    4: ["timeoutPrevoteMs", "u32"],
    5: ["timeoutPrecommitMs", "u32"],
    6: ["timeoutDeltaMs", "u32"],
    7: ["idleBlockIntervalMs", "u32"],
    8: ["maxClockSkewMs", "u32"],
  });
  S.GovernanceParams = Msg("GovernanceParams", {
    1: ["thresholdNumerator", "u32"],
    2: ["thresholdDenominator", "u32"],
    3: ["proposalLifetimeHeights", "u64"],
    4: ["validatorChangeDelayHeights", "u64"],
  });
  S.Genesis = Msg("Genesis", {
    1: ["chainId", "str"],
    2: ["genesisTimeMs", "u64"],
    3: ["organizations", S.Organization, REP],
    4: ["validators", S.Validator, REP],
    5: ["consensus", S.ConsensusParams],
    6: ["governance", S.GovernanceParams],
  });

  function defaultOf(type) {
    switch (type) {
      case "u32":
      case "enum":
        return 0;
      case "u64":
        return 0n;
      case "bool":
        return false;
      case "str":
        return "";
      case "bytes":
        return new Uint8Array(0);
    }
    return undefined;
  }
  // A new message object: every scalar at its default, repeated fields empty, messages absent.
  function newMsg(schema) {
    var o = {};
    for (var i = 0; i < schema.order.length; i++) {
      var f = schema.order[i];
      if (f.rep) o[f.name] = [];
      else if (f.oneof) o[f.name] = undefined;
      else if (f.isMsg) o[f.name] = undefined;
      else o[f.name] = defaultOf(f.type);
    }
    return o;
  }

  function Reader(buf, start, end) {
    this.b = buf;
    this.p = start;
    this.e = end;
  }
  // A varint of at most 10 bytes, as a BigInt modulo 2^64 (the tenth byte may not continue).
  Reader.prototype.varint64 = function () {
    var b = this.b;
    var p = this.p;
    var lo = 0;
    // Fast path: up to 4 bytes fit a small Number exactly.
    for (var i = 0; i < 4; i++) {
      if (p >= this.e) throw new PbError("truncated varint");
      var c = b[p++];
      lo += (c & 0x7f) * Math.pow(2, 7 * i);
      if (c < 0x80) {
        this.p = p;
        return BigInt(lo);
      }
    }
    var v = BigInt(lo);
    for (var j = 4; j < 10; j++) {
      if (p >= this.e) throw new PbError("truncated varint");
      var d = b[p++];
      v |= BigInt(d & 0x7f) << BigInt(7 * j);
      if (d < 0x80) {
        this.p = p;
        return v & U64_MASK;
      }
    }
    throw new PbError("varint longer than 10 bytes");
  };
  Reader.prototype.varintSmall = function (what) {
    // A length or a tag: at most 5 bytes, below 2^31 (lengths) or 2^32 (tags).
    var b = this.b;
    var v = 0;
    for (var i = 0; i < 5; i++) {
      if (this.p >= this.e) throw new PbError("truncated " + what);
      var c = b[this.p++];
      v += (c & 0x7f) * Math.pow(2, 7 * i);
      if (c < 0x80) {
        if (v > 0xffffffff) throw new PbError(what + " too large");
        return v;
      }
    }
    throw new PbError(what + " is too long");
  };
  Reader.prototype.bytes = function () {
    var n = this.varintSmall("length");
    if (n > 0x7fffffff || n > this.e - this.p) throw new PbError("length past the end");
    var s = this.p;
    this.p += n;
    return [s, this.p];
  };
  Reader.prototype.skip = function (wt) {
    switch (wt) {
      case 0:
        this.varint64();
        return;
      case 1:
        if (this.e - this.p < 8) throw new PbError("truncated fixed64");
        this.p += 8;
        return;
      case 2:
        this.bytes();
        return;
      case 5:
        if (this.e - this.p < 4) throw new PbError("truncated fixed32");
        this.p += 4;
        return;
    }
    throw new PbError("wire type " + wt + " is not accepted");
  };

  function scalarFromVarint(type, v) {
    switch (type) {
      case "u64":
        return v;
      case "u32":
        return Number(v & 0xffffffffn);
      case "enum":
        return Number(BigInt.asIntN(32, v));
      case "bool":
        return v !== 0n;
    }
    throw new PbError("bad scalar type");
  }

  // Decodes buf[start, end) as `schema` into `target` (merging, as Protobuf does).
  function decodeInto(buf, start, end, schema, target, depth) {
    if (depth > 100) throw new PbError("nested too deeply");
    var r = new Reader(buf, start, end);
    while (r.p < r.e) {
      var tag = r.varintSmall("tag");
      var num = Math.floor(tag / 8);
      var wt = tag & 7;
      if (num === 0) throw new PbError("field number 0");
      var f = schema.byNum[num];
      var ok = false;
      if (f) {
        var type = typeOf(f);
        if (f.isMsg) {
          if (wt === 2) {
            ok = true;
            var span = r.bytes();
            if (f.rep) {
              var m = newMsg(type);
              decodeInto(buf, span[0], span[1], type, m, depth + 1);
              target[f.name].push(m);
            } else {
              var cur = target[f.name];
              if (f.oneof && target["$" + f.oneof] !== f.name) cur = undefined;
              if (cur === undefined) cur = newMsg(type);
              decodeInto(buf, span[0], span[1], type, cur, depth + 1);
              if (f.oneof) setOneof(schema, target, f, cur);
              else target[f.name] = cur;
            }
          }
        } else if (type === "str" || type === "bytes") {
          if (wt === 2) {
            ok = true;
            var sp = r.bytes();
            var raw = buf.slice(sp[0], sp[1]);
            var val;
            if (type === "str") {
              try {
                val = utf8Dec.decode(raw);
              } catch (e) {
                throw new PbError("a string field is not valid UTF-8");
              }
            } else {
              val = raw;
            }
            if (f.rep) target[f.name].push(val);
            else if (f.oneof) setOneof(schema, target, f, val);
            else target[f.name] = val;
          }
        } else if (wt === 0) {
          ok = true;
          var sv = scalarFromVarint(type, r.varint64());
          if (f.rep) target[f.name].push(sv);
          else if (f.oneof) setOneof(schema, target, f, sv);
          else target[f.name] = sv;
        } else if (wt === 2 && f.rep) {
          ok = true;
          var pk = r.bytes();
          var pr = new Reader(buf, pk[0], pk[1]);
          while (pr.p < pr.e) target[f.name].push(scalarFromVarint(type, pr.varint64()));
        }
      }
      if (!ok) {
        r.skip(wt);
        target.$unknown = true;
      }
    }
    return target;
  }
  function setOneof(schema, target, f, value) {
    var prev = target["$" + f.oneof];
    if (prev && prev !== f.name) target[prev] = undefined;
    target["$" + f.oneof] = f.name;
    target[f.name] = value;
  }
  function hasUnknownDeep(o, schema) {
    if (o.$unknown) return true;
    for (var i = 0; i < schema.order.length; i++) {
      var f = schema.order[i];
      if (!f.isMsg) continue;
      var t = typeOf(f);
      var v = o[f.name];
      if (f.rep) {
        for (var j = 0; j < v.length; j++) if (hasUnknownDeep(v[j], t)) return true;
      } else if (v !== undefined && hasUnknownDeep(v, t)) {
        return true;
      }
    }
    return false;
  }
  function decode(bytes, schema) {
    return decodeInto(bytes, 0, bytes.length, schema, newMsg(schema), 0);
  }
  // Protobuf's ParseFromString plus "no unknown field at any level" (ParseStrict).
  function parseStrict(bytes, schema, what) {
    var o;
    try {
      o = decode(bytes, schema);
    } catch (e) {
      if (e instanceof PbError) throw new PbError(what + " is not valid Protobuf (" + e.message + ")");
      throw e;
    }
    if (hasUnknownDeep(o, schema)) throw new PbError(what + " has fields this version does not know");
    return o;
  }
  // parseStrict, and the bytes are exactly the deterministic encoding of what they parse to.
  function parseCanonical(bytes, schema, what) {
    var o = parseStrict(bytes, schema, what);
    if (!eq(encode(o, schema), bytes)) {
      throw new PbError(
        what + " is not in canonical encoding (fields repeated, out of order, or encoded at more length than needed)"
      );
    }
    return o;
  }

  // The deterministic encoder.
  function Writer() {
    this.buf = new Uint8Array(256);
    this.n = 0;
  }
  Writer.prototype.need = function (k) {
    if (this.n + k <= this.buf.length) return;
    var size = this.buf.length * 2;
    while (size < this.n + k) size *= 2;
    var nb = new Uint8Array(size);
    nb.set(this.buf.subarray(0, this.n));
    this.buf = nb;
  };
  Writer.prototype.byte = function (b) {
    this.need(1);
    this.buf[this.n++] = b;
  };
  Writer.prototype.varint = function (v) {
    // v: a Number below 2^53 or a BigInt below 2^64.
    if (typeof v === "number" && v < 0x80) {
      this.byte(v);
      return;
    }
    var x = BigInt(v) & U64_MASK;
    while (x >= 0x80n) {
      this.byte(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.byte(Number(x));
  };
  Writer.prototype.raw = function (b) {
    this.need(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  };
  Writer.prototype.done = function () {
    return this.buf.slice(0, this.n);
  };
  function varintOf(type, v) {
    if (type === "enum") return v < 0 ? BigInt.asUintN(64, BigInt(v)) : v;
    if (type === "bool") return v ? 1 : 0;
    return v;
  }
  function isDefault(type, v) {
    if (type === "str") return v === "";
    if (type === "bytes") return v.length === 0;
    if (type === "u64") return v === 0n;
    if (type === "bool") return !v;
    return v === 0;
  }
  function encodeTo(w, o, schema) {
    for (var i = 0; i < schema.order.length; i++) {
      var f = schema.order[i];
      var type = typeOf(f);
      var v = o[f.name];
      if (f.rep) {
        if (v.length === 0) continue;
        if (f.packable) {
          var inner = new Writer();
          for (var j = 0; j < v.length; j++) inner.varint(varintOf(type, v[j]));
          w.varint(f.num * 8 + 2);
          w.varint(inner.n);
          w.raw(inner.done());
        } else {
          for (var k = 0; k < v.length; k++) writeOne(w, f, type, v[k]);
        }
        continue;
      }
      if (f.oneof) {
        if (o["$" + f.oneof] !== f.name) continue;
        writeOne(w, f, type, v);
        continue;
      }
      if (f.isMsg) {
        if (v === undefined) continue;
      } else if (isDefault(type, v)) {
        continue;
      }
      writeOne(w, f, type, v);
    }
  }
  function writeOne(w, f, type, v) {
    if (f.isMsg) {
      var sub = new Writer();
      encodeTo(sub, v, type);
      w.varint(f.num * 8 + 2);
      w.varint(sub.n);
      w.raw(sub.done());
    } else if (type === "str" || type === "bytes") {
      var b = type === "str" ? utf8Enc.encode(v) : v;
      w.varint(f.num * 8 + 2);
      w.varint(b.length);
      w.raw(b);
    } else {
      w.varint(f.num * 8);
      w.varint(varintOf(type, v));
    }
  }
  function encode(o, schema) {
    var w = new Writer();
    encodeTo(w, o, schema);
    return w.done();
  }

  // Counts the messages a parse would create (known message fields with wire type 2), without
  // building them; malformed input ends the scan quietly (the parse reports it). Returns false
  // when more than `max`.
  function countMessages(buf, start, end, schema, depth, state) {
    if (depth > 100) return true;
    var r = new Reader(buf, start, end);
    try {
      while (r.p < r.e) {
        var tag = r.varintSmall("tag");
        var f = schema.byNum[Math.floor(tag / 8)];
        if (f && f.isMsg && (tag & 7) === 2) {
          var span = r.bytes();
          if (++state.count > state.max) return false;
          if (!countMessages(buf, span[0], span[1], typeOf(f), depth + 1, state)) return false;
        } else {
          r.skip(tag & 7);
        }
      }
    } catch (e) {
      if (e instanceof PbError) return true;
      throw e;
    }
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Ed25519 acceptance policy (docs/signatures.md), then WebCrypto's verification.
  var P = (1n << 255n) - 19n;
  var L = (1n << 252n) + 27742317777372353535851937790883648493n;
  function leInt(b, from, to) {
    var v = 0n;
    for (var i = to - 1; i >= from; i--) v = (v << 8n) | BigInt(b[i]);
    return v;
  }
  // y8: the y coordinate of the points of order 8, with y8^2 = (-1 + sqrt(1 + d)) / d (from
  // doubling: 2P has order 4, so y(2P) = 0, i.e. x^2 = -y^2 on -x^2 + y^2 = 1 + d x^2 y^2).
  // The value is checked against that equation by tests/web/verifier_test.js.
  var Y8 = leInt(fromHex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"), 0, 32);
  var SMALL_ORDER_Y = [0n, 1n, P - 1n, Y8, P - Y8];
  function pointY(enc) {
    var b = enc.slice(0, 32);
    b[31] &= 0x7f;
    return leInt(b, 0, 32);
  }
  function isCanonicalPoint(enc) {
    var y = pointY(enc);
    if (y >= P) return false;
    if (enc[31] & 0x80 && (y === 1n || y === P - 1n)) return false;
    return true;
  }
  function isSmallOrderPoint(enc) {
    var y = pointY(enc);
    for (var i = 0; i < SMALL_ORDER_Y.length; i++) if (SMALL_ORDER_Y[i] === y) return true;
    return false;
  }
  var keyCache = new Map();
  function importKey(pk) {
    var k = hex(pk);
    var p = keyCache.get(k);
    if (!p) {
      p = crypto.subtle.importKey("raw", pk, { name: "Ed25519" }, false, ["verify"]).catch(function () {
        return null;
      });
      if (keyCache.size > 4096) keyCache.clear();
      keyCache.set(k, p);
    }
    return p;
  }
  var SIG_MESSAGES = {
    bad_length: "the key or signature has the wrong length",
    non_canonical_s: "the signature's S is not below the group order (a malleable encoding)",
    non_canonical_key: "the public key is not a canonical point encoding",
    small_order_key: "the public key is a point of small order",
    non_canonical_r: "the signature's R is not a canonical point encoding",
    small_order_r: "the signature's R is a point of small order",
    bad_signature: "the signature does not verify",
  };
  // Returns "valid" or the verdict name of docs/signatures.md.
  async function verifySignature(pk, msg, sig) {
    if (pk.length !== 32 || sig.length !== 64) return "bad_length";
    if (leInt(sig, 32, 64) >= L) return "non_canonical_s";
    if (!isCanonicalPoint(pk)) return "non_canonical_key";
    if (isSmallOrderPoint(pk)) return "small_order_key";
    var r = sig.subarray(0, 32);
    if (!isCanonicalPoint(r)) return "non_canonical_r";
    if (isSmallOrderPoint(r)) return "small_order_r";
    var key = await importKey(pk);
    var ok = false;
    if (key) {
      try {
        ok = await crypto.subtle.verify({ name: "Ed25519" }, key, sig, msg);
      } catch (e) {
        ok = false;
      }
    }
    // WebCrypto checks the cofactorless equation, which implies the cofactored one the policy
    // asks for (check 7); only a signature it refuses is checked again, cofactored, here.
    if (!ok) ok = await cofactoredEquation(pk, msg, sig);
    return ok ? "valid" : "bad_signature";
  }

  // The cofactored equation [8]([S]B - R - [k]A) = 0 (RFC 8032 §5.1 arithmetic in BigInt, in
  // extended coordinates). Slow (milliseconds), and only reached by signatures WebCrypto refused:
  // bad ones, and those with mixed-order points that only the cofactored equation accepts.
  function fmod(a) {
    a %= P;
    return a < 0n ? a + P : a;
  }
  function fpow(b, e) {
    var r = 1n;
    b = fmod(b);
    while (e > 0n) {
      if (e & 1n) r = (r * b) % P;
      b = (b * b) % P;
      e >>= 1n;
    }
    return r;
  }
  var curveD = null, curveSqrtM1 = null, curveBase = null;
  function curveInit() {
    if (curveD !== null) return;
    curveD = fmod(-121665n * fpow(121666n, P - 2n));
    curveSqrtM1 = fpow(2n, (P - 1n) / 4n);
    curveBase = decodePoint(fromHex("5866666666666666666666666666666666666666666666666666666666666666"));
  }
  // RFC 8032 §5.1.3; null when the encoding names no point. REQUIRES: a canonical encoding.
  function decodePoint(enc) {
    var y = pointY(enc), sign = enc[31] >> 7;
    var u = fmod(y * y - 1n), v = fmod(curveD * y * y + 1n);
    var v3 = (v * v % P) * v % P;
    var x = (u * v3 % P) * fpow(u * (v3 * v3 % P) * v, (P - 5n) / 8n) % P;
    var vx2 = v * x % P * x % P;
    if (vx2 !== u) {
      if (vx2 !== fmod(-u)) return null;
      x = x * curveSqrtM1 % P;
    }
    if (x === 0n && sign) return null;
    if (Number(x & 1n) !== sign) x = fmod(-x);
    return [x, y, 1n, x * y % P];
  }
  function pointAdd(p, q) {
    var a = fmod((p[1] - p[0]) * (q[1] - q[0])), b = fmod((p[1] + p[0]) * (q[1] + q[0]));
    var c = fmod(2n * curveD * p[3] % P * q[3]), d = fmod(2n * p[2] * q[2]);
    var e = fmod(b - a), f = fmod(d - c), g = fmod(d + c), h = fmod(b + a);
    return [e * f % P, g * h % P, f * g % P, e * h % P];
  }
  function pointMul(p, k) {
    var r = [0n, 1n, 1n, 0n];
    for (var i = 255n; i >= 0n; i--) {
      r = pointAdd(r, r);
      if ((k >> i) & 1n) r = pointAdd(r, p);
    }
    return r;
  }
  function pointNeg(p) {
    return [fmod(-p[0]), p[1], p[2], fmod(-p[3])];
  }
  async function cofactoredEquation(pk, msg, sig) {
    if (typeof BigInt === "undefined") return false;
    curveInit();
    var a = decodePoint(pk), r = decodePoint(sig.subarray(0, 32));
    if (!a || !r) return false;
    var input = new Uint8Array(64 + msg.length);
    input.set(sig.subarray(0, 32), 0);
    input.set(pk, 32);
    input.set(msg, 64);
    var h = new Uint8Array(await crypto.subtle.digest("SHA-512", input));
    var k = leInt(h, 0, 64) % L;
    var e = pointAdd(pointAdd(pointMul(curveBase, leInt(sig, 32, 64)), pointNeg(r)), pointNeg(pointMul(a, k)));
    for (var i = 0; i < 3; i++) e = pointAdd(e, e);
    return e[0] === 0n && e[1] === e[2];
  }

  // ---------------------------------------------------------------------------------------------
  // Merkle trees: the sparse state tree (docs/state-tree.md) and RFC 6962 (RFC 9162 §2.1).
  var SMT_LEAF = ascii("hallmark/smt/leaf");
  var SMT_NODE = ascii("hallmark/smt/node");
  var smtEmptyP = null;
  function smtEmpty() {
    if (!smtEmptyP) smtEmptyP = sha256(ascii("hallmark/smt/empty"));
    return smtEmptyP;
  }
  // Decodes docs/state-tree.md's proof encoding; throws PbError with the reason.
  async function decodeSmtProof(b) {
    if (b.length > 4 + 64 + 32 + SMT_MAX_SIBLINGS * 32) throw new PbError("state proof: too long");
    if (b.length < 4) throw new PbError("state proof: truncated header");
    if (b[0] !== 1) throw new PbError("state proof: unknown format " + b[0]);
    if ((b[1] & ~1) !== 0) throw new PbError("state proof: unknown flags");
    var hasLeaf = (b[1] & 1) !== 0;
    var n = (b[2] << 8) | b[3];
    if (n > SMT_MAX_SIBLINGS) throw new PbError("state proof: " + n + " siblings, at most 256 allowed");
    var bitmapAt = 4 + (hasLeaf ? 64 : 0);
    var bitmapLen = (n + 7) >> 3;
    if (b.length < bitmapAt + bitmapLen) throw new PbError("state proof: truncated");
    var empties = 0;
    for (var i = 0; i < n; i++) if (b[bitmapAt + (i >> 3)] & (0x80 >> (i & 7))) empties++;
    if (n % 8 !== 0 && (b[bitmapAt + bitmapLen - 1] & (0xff >> (n % 8))) !== 0) {
      throw new PbError("state proof: bits set past the last sibling");
    }
    var want = bitmapAt + bitmapLen + 32 * (n - empties);
    if (b.length !== want) throw new PbError("state proof: " + b.length + " bytes, expected " + want);
    var empty = await smtEmpty();
    var proof = { leaf: null, siblings: [] };
    if (hasLeaf) proof.leaf = { key: b.slice(4, 36), value: b.slice(36, 68) };
    var at = bitmapAt + bitmapLen;
    for (var j = 0; j < n; j++) {
      if (b[bitmapAt + (j >> 3)] & (0x80 >> (j & 7))) {
        proof.siblings.push(empty);
        continue;
      }
      var s = b.slice(at, at + 32);
      at += 32;
      if (eq(s, empty)) throw new PbError("state proof: an empty sibling written out in full");
      proof.siblings.push(s);
    }
    return proof;
  }
  function keyBit(key, depth) {
    return (key[depth >> 3] >> (7 - (depth & 7))) & 1;
  }
  function commonPrefixBits(a, b) {
    for (var i = 0; i < 256; i++) if (keyBit(a, i) !== keyBit(b, i)) return i;
    return 256;
  }
  // value: the claimed value hash, or null for "absent".
  async function verifySmtProof(root, key, value, proof) {
    var n = proof.siblings.length;
    if (n > SMT_MAX_SIBLINGS) return false;
    if (value) {
      if (!proof.leaf || !eq(proof.leaf.key, key) || !eq(proof.leaf.value, value)) return false;
    } else if (proof.leaf) {
      if (eq(proof.leaf.key, key)) return false;
      if (commonPrefixBits(key, proof.leaf.key) < n) return false;
    }
    var h = proof.leaf ? await sha256(concat([SMT_LEAF, proof.leaf.key, proof.leaf.value])) : await smtEmpty();
    for (var i = 0; i < n; i++) {
      var depth = n - 1 - i;
      h = await sha256(
        keyBit(key, depth) ? concat([SMT_NODE, proof.siblings[i], h]) : concat([SMT_NODE, h, proof.siblings[i]])
      );
    }
    return eq(h, root);
  }

  async function merkleLeafHash(data) {
    return sha256(concat([new Uint8Array([0]), data]));
  }
  async function merkleNode(l, r) {
    return sha256(concat([new Uint8Array([1]), l, r]));
  }
  // RFC 9162 §2.1.1 over leaf hashes.
  async function merkleRootOfLeaves(leaves) {
    if (leaves.length === 0) return sha256(new Uint8Array(0));
    if (leaves.length === 1) return leaves[0];
    var k = 1;
    while (k * 2 < leaves.length) k *= 2;
    return merkleNode(await merkleRootOfLeaves(leaves.slice(0, k)), await merkleRootOfLeaves(leaves.slice(k)));
  }
  // RFC 9162 §2.1.3.2: leaf hash at index of a tree of `size` leaves, audit path leaf side first.
  async function verifyInclusion(leafHash, index, size, path, root) {
    if (index >= size) return false;
    var fn = index;
    var sn = size - 1;
    var r = leafHash;
    for (var i = 0; i < path.length; i++) {
      var p = path[i];
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        r = await merkleNode(p, r);
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) {
            fn = Math.floor(fn / 2);
            sn = Math.floor(sn / 2);
          }
        }
      } else {
        r = await merkleNode(r, p);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    return sn === 0 && eq(r, root);
  }

  // ---------------------------------------------------------------------------------------------
  // Item ids (the rules of core/item_id.h: GS1 General Specifications, Digital Link URI Syntax,
  // EPC Tag Data Standard).
  var ITEM_ID_INPUT_MAX = 512;
  var SERIAL_MAX = 20;
  function isDigit(c) {
    return c >= "0" && c <= "9";
  }
  function isAlpha(c) {
    return (c >= "a" && c <= "z") || (c >= "A" && c <= "Z");
  }
  function allDigits(s) {
    for (var i = 0; i < s.length; i++) if (!isDigit(s[i])) return false;
    return true;
  }
  function byteHex(code) {
    return "0x" + "0123456789ABCDEF"[code >> 4] + "0123456789ABCDEF"[code & 15];
  }
  function isCs82(ch) {
    var c = ch.charCodeAt(0);
    if (c <= 0x20 || c >= 0x7f) return false;
    return "#$@[\\]^`{|}~".indexOf(ch) < 0;
  }
  function describeChar(ch) {
    var c = ch.charCodeAt(0);
    if (c >= 0x80) return "non-ASCII byte " + byteHex(c);
    if (c < 0x20 || c === 0x7f) return "control character " + byteHex(c);
    return "'" + ch + "'";
  }
  function idError(m) {
    return new Error(m);
  }
  function checkGs1Text(field, value) {
    if (value.length === 0) throw idError(field + " is empty; GS1 allows 1 to 20 characters");
    for (var i = 0; i < value.length; i++) {
      if (!isCs82(value[i])) throw idError(field + " contains " + describeChar(value[i]) + ", which GS1 does not allow");
    }
    if (value.length > SERIAL_MAX) {
      throw idError(field + " is " + value.length + " characters; GS1 allows at most " + SERIAL_MAX);
    }
  }
  function gs1CheckDigit(data) {
    var sum = 0;
    var weight = 3;
    for (var i = data.length - 1; i >= 0; i--) {
      sum += weight * (data.charCodeAt(i) - 48);
      weight = 4 - weight;
    }
    return (10 - (sum % 10)) % 10;
  }
  function normaliseGtin(gtin) {
    for (var i = 0; i < gtin.length; i++) {
      if (!isDigit(gtin[i])) throw idError("GTIN must contain only digits, found " + describeChar(gtin[i]));
    }
    var n = gtin.length;
    if (n !== 8 && n !== 12 && n !== 13 && n !== 14) throw idError("GTIN must be 8, 12, 13 or 14 digits, found " + n);
    var want = gs1CheckDigit(gtin.substr(0, n - 1));
    var found = gtin.charCodeAt(n - 1) - 48;
    if (want !== found) throw idError("GTIN check digit should be " + want + ", found " + found);
    return "0".repeat(14 - n) + gtin;
  }
  function makeItemId(gtin, serial) {
    var g = normaliseGtin(gtin);
    checkGs1Text("serial", serial);
    return { gtin14: g, serial: serial };
  }
  function hexValue(c) {
    if (c === undefined) return -1;
    if (c >= "0" && c <= "9") return c.charCodeAt(0) - 48;
    if (c >= "a" && c <= "f") return c.charCodeAt(0) - 87;
    if (c >= "A" && c <= "F") return c.charCodeAt(0) - 55;
    return -1;
  }
  function percentDecode(field, s) {
    var out = "";
    for (var i = 0; i < s.length; i++) {
      if (s[i] !== "%") {
        out += s[i];
        continue;
      }
      var hi = i + 1 < s.length ? hexValue(s[i + 1]) : -1;
      var lo = i + 2 < s.length ? hexValue(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        throw idError(
          "bad percent-encoding in " + field + ": '%' must be followed by two hex digits, found '" + s.substr(i, 3) + "'"
        );
      }
      out += String.fromCharCode((hi << 4) | lo);
      i += 2;
    }
    return out;
  }
  function dlDecode(s, query) {
    var out = "";
    for (var i = 0; i < s.length; i++) {
      var hi = s[i] === "%" && i + 2 < s.length ? hexValue(s[i + 1]) : -1;
      var lo = hi >= 0 ? hexValue(s[i + 2]) : -1;
      if (lo >= 0) {
        out += String.fromCharCode((hi << 4) | lo);
        i += 2;
      } else if (query && s[i] === "+") {
        out += " ";
      } else {
        out += s[i];
      }
    }
    return out;
  }
  function isUriChar(c) {
    if (isAlpha(c) || isDigit(c)) return true;
    return "-._~:/?#[]@!$&'()*+,;=%".indexOf(c) >= 0;
  }
  function checkUriChars(what, s) {
    for (var i = 0; i < s.length; i++) {
      if (!isUriChar(s[i])) {
        throw idError(
          what +
            " contains " +
            describeChar(s[i]) +
            ", which a URI may not hold as it is; write it percent-encoded as %" +
            byteHex(s.charCodeAt(i)).substr(2)
        );
      }
    }
  }
  var KNOWN_AI_RANGES = [
    ["00", "02"], ["10", "13"], ["15", "17"], ["20", "22"], ["235", "235"], ["240", "243"],
    ["250", "251"], ["253", "255"], ["30", "30"], ["37", "37"], ["3900", "3943"], ["3950", "3955"],
    ["400", "403"], ["410", "417"], ["420", "427"], ["4300", "4326"], ["4330", "4333"],
    ["7001", "7011"], ["7020", "7023"], ["7030", "7040"], ["710", "715"], ["7230", "7242"],
    ["8001", "8013"], ["8017", "8020"], ["8026", "8026"], ["8030", "8030"], ["8110", "8112"],
    ["8200", "8200"], ["90", "99"],
  ];
  function isKnownAi(key) {
    if (!allDigits(key)) return false;
    for (var i = 0; i < KNOWN_AI_RANGES.length; i++) {
      var r = KNOWN_AI_RANGES[i];
      if (key.length === r[0].length && key >= r[0] && key <= r[1]) return true;
    }
    if (key.length !== 4 || key[0] !== "3" || key[3] > "5") return false;
    var block = (key.charCodeAt(1) - 48) * 10 + (key.charCodeAt(2) - 48);
    return (block >= 10 && block <= 16) || (block >= 20 && block <= 37) || (block >= 40 && block <= 57) ||
      (block >= 60 && block <= 69);
  }
  function checkDlQuery(query) {
    var seen = [];
    var start = 0;
    while (start <= query.length) {
      var amp = query.indexOf("&", start);
      if (amp < 0) amp = query.length;
      var param = query.substring(start, amp);
      start = amp + 1;
      var eqAt = param.indexOf("=");
      if (param.length === 0 || eqAt < 0) continue;
      var key = param.substring(0, eqAt);
      if (key.length === 0 || !allDigits(key)) continue;
      var where = "Digital Link query parameter " + key;
      if (!isKnownAi(key)) throw idError(where + " is not a GS1 Application Identifier");
      if (key === "01" || key === "22" || key === "10" || key === "21" || key === "235") {
        throw idError(where + " names the GTIN or one of its key qualifiers, which belong in the path (/01/…/22/…/10/…/21/…)");
      }
      if (seen.indexOf(key) >= 0) throw idError(where + " is given twice");
      seen.push(key);
      var value = dlDecode(param.substring(eqAt + 1), true);
      if (value.length === 0) throw idError(where + " has no value");
      for (var i = 0; i < value.length; i++) {
        if (!isCs82(value[i])) {
          throw idError(where + " contains " + describeChar(value[i]) + " (a '+' in a query means a space), which GS1 does not allow");
        }
      }
    }
  }
  var DL_KEYS = {
    "01": [0, "01", "GTIN"], gtin: [0, "01", "GTIN"],
    "22": [1, "22", "consumer product variant"], cpv: [1, "22", "consumer product variant"],
    "10": [2, "10", "lot"], lot: [2, "10", "lot"],
    "21": [3, "21", "serial"], ser: [3, "21", "serial"],
  };
  function isGtinKey(s) {
    return s === "01" || s === "gtin";
  }
  function parseDlSegments(segs, first) {
    var gtin = "";
    var serial = null;
    var lastRank = -1;
    var lastSegment = "";
    for (var i = first; i < segs.length; i += 2) {
      var seg = segs[i];
      if (serial !== null) {
        if (seg.length === 0 && i + 1 === segs.length) {
          throw idError("Digital Link path ends with '/' after the serial; remove it (a '/' inside a serial must be written %2F)");
        }
        throw idError("Digital Link path continues after the serial with '/" + seg + "'; a '/' inside a serial must be written %2F");
      }
      if (seg.length === 0) {
        if (i + 1 === segs.length) throw idError("Digital Link path ends with '/' where a key was expected");
        throw idError("Digital Link path has an empty segment ('//')");
      }
      var info = Object.prototype.hasOwnProperty.call(DL_KEYS, seg) ? DL_KEYS[seg] : null;
      if (!info) {
        throw idError("Digital Link path has '/" + seg + "/' where /22/, /10/ or /21/ (or /cpv/, /lot/, /ser/) was expected");
      }
      var rank = info[0];
      if (rank === lastRank) throw idError("Digital Link path gives the " + info[2] + " (" + info[1] + ") twice");
      if (rank < lastRank) {
        throw idError("Digital Link path has /" + seg + "/ after /" + lastSegment + "/; the order is /01/, /22/, /10/, /21/");
      }
      lastRank = rank;
      lastSegment = seg;
      if (i + 1 >= segs.length || segs[i + 1].length === 0) {
        throw idError("Digital Link path has /" + seg + "/ with no value after it");
      }
      var value = segs[i + 1];
      if (rank === 0) gtin = value;
      else if (rank === 1 || rank === 2) checkGs1Text(info[2], dlDecode(value, false));
      else serial = dlDecode(value, false);
    }
    var g = normaliseGtin(gtin);
    if (serial === null) throw idError("a GTIN alone names a product, not an item: add /21/<serial>");
    return makeItemId(g, serial);
  }
  function parseDlPath(path, inUrl) {
    checkUriChars(inUrl ? "Digital Link URL" : "Digital Link path", path);
    if (inUrl) {
      var hash = path.indexOf("#");
      if (hash >= 0) path = path.substring(0, hash);
    }
    var query = "";
    var q = path.indexOf("?");
    if (q >= 0) {
      query = path.substring(q + 1);
      path = path.substring(0, q);
    }
    if (path.length > 0 && path[0] === "/") path = path.substring(1);
    if (path.length === 0) {
      if (!inUrl) throw idError("Digital Link path is empty");
      throw idError("Digital Link URL has no path; expected https://<host>/01/<GTIN>/21/<serial>");
    }
    var segs = path.split("/");
    var first = 0;
    if (inUrl) {
      while (first < segs.length && !isGtinKey(segs[first])) first++;
      if (first === segs.length) {
        throw idError("Digital Link URL path has no /01/<GTIN> (or /gtin/<GTIN>); expected https://<host>/01/<GTIN>/21/<serial>");
      }
    } else if (!isGtinKey(segs[0])) {
      throw idError("Digital Link path must start with /01/<GTIN> (or /gtin/<GTIN>), found '/" + segs[0] + "/'");
    }
    var id = parseDlSegments(segs, first);
    checkDlQuery(query);
    return id;
  }
  function parseDlUrl(url) {
    var rest = url.substring(url.indexOf("://") + 3);
    var hostEnd = -1;
    for (var i = 0; i < rest.length; i++) {
      if (rest[i] === "/" || rest[i] === "?" || rest[i] === "#") {
        hostEnd = i;
        break;
      }
    }
    if (hostEnd === 0 || rest.length === 0) throw idError("Digital Link URL has no host");
    if (hostEnd < 0 || rest[hostEnd] !== "/") {
      throw idError("Digital Link URL has no path; expected https://<host>/01/<GTIN>/21/<serial>");
    }
    var host = rest.substring(0, hostEnd);
    checkUriChars("Digital Link URL host", host);
    for (var j = 0; j < host.length; j++) {
      if ("_~?#@!$&'()*+,;=%".indexOf(host[j]) >= 0) {
        throw idError("Digital Link URL host contains '" + host[j] + "', which a domain name may not hold");
      }
    }
    return parseDlPath(rest.substring(hostEnd), true);
  }
  function parseElementString(s) {
    var values = {};
    var pos = 0;
    while (pos < s.length) {
      var close = s.indexOf(")", pos + 1);
      var ai = close < 0 ? "" : s.substring(pos + 1, close);
      if (ai.length < 2 || ai.length > 4 || !allDigits(ai)) {
        throw idError("element string has a '(' that does not start an AI such as (21); write a '(' inside a value as \\(");
      }
      var value = "";
      pos = close + 1;
      while (pos < s.length && s[pos] !== "(") {
        if (s[pos] === "\\" && pos + 1 < s.length && s[pos + 1] === "(") {
          value += "(";
          pos += 2;
        } else {
          value += s[pos];
          pos += 1;
        }
      }
      if (ai !== "01" && ai !== "22" && ai !== "10" && ai !== "21") continue;
      if (Object.prototype.hasOwnProperty.call(values, ai)) throw idError("element string has (" + ai + ") twice");
      values[ai] = value;
    }
    var has = function (k) {
      return Object.prototype.hasOwnProperty.call(values, k);
    };
    if (!has("01")) throw idError("element string has no (01) GTIN; expected (01)<GTIN>(21)<serial>");
    var gtin = values["01"];
    if ((gtin.length === 8 || gtin.length === 12 || gtin.length === 13) && allDigits(gtin)) {
      throw idError("element string (01) must be 14 digits, found " + gtin.length + "; write a GTIN-8, -12 or -13 with leading zeros");
    }
    var g = normaliseGtin(gtin);
    if (!has("21")) throw idError("a GTIN alone names a product, not an item: add (21)<serial>");
    if (has("22")) checkGs1Text("consumer product variant", values["22"]);
    if (has("10")) checkGs1Text("lot", values["10"]);
    return makeItemId(g, values["21"]);
  }
  function startsWithNoCase(s, prefix) {
    return s.length >= prefix.length && s.substring(0, prefix.length).toLowerCase() === prefix.toLowerCase();
  }
  var EPC_PREFIX = "urn:epc:id:sgtin:";
  function parseEpcUri(uri) {
    var body = uri.substring(EPC_PREFIX.length);
    var dot1 = body.indexOf(".");
    var dot2 = dot1 < 0 ? -1 : body.indexOf(".", dot1 + 1);
    if (dot2 < 0) {
      throw idError("urn:epc:id:sgtin: URI must be <company prefix>.<indicator digit and item reference>.<serial>");
    }
    var prefix = body.substring(0, dot1);
    var itemRef = body.substring(dot1 + 1, dot2);
    var rawSerial = body.substring(dot2 + 1);
    for (var i = 0; i < prefix.length; i++) {
      if (!isDigit(prefix[i])) throw idError("EPC URI company prefix must contain only digits, found " + describeChar(prefix[i]));
    }
    for (var j = 0; j < itemRef.length; j++) {
      if (!isDigit(itemRef[j])) {
        throw idError("EPC URI indicator digit and item reference must contain only digits, found " + describeChar(itemRef[j]));
      }
    }
    if (prefix.length < 6 || prefix.length > 12) throw idError("EPC URI company prefix must be 6 to 12 digits, found " + prefix.length);
    if (prefix.length + itemRef.length !== 13) {
      throw idError(
        "EPC URI company prefix and indicator digit plus item reference must together be 13 digits, found " +
          prefix.length + " + " + itemRef.length + " = " + (prefix.length + itemRef.length)
      );
    }
    for (var k = 0; k < rawSerial.length; k++) {
      if ("\"&/<>?".indexOf(rawSerial[k]) >= 0) {
        throw idError("EPC URI serial contains '" + rawSerial[k] + "', which must be written %" + byteHex(rawSerial.charCodeAt(k)).substr(2));
      }
    }
    var serial = percentDecode("serial", rawSerial);
    var data = itemRef[0] + prefix + itemRef.substring(1);
    return makeItemId(data + String(gs1CheckDigit(data)), serial);
  }
  function hasCanonicalShape(s) {
    return s.length >= 21 && s.substring(0, 3) === "01/" && allDigits(s.substring(3, 17)) && s.substring(17, 21) === "/21/";
  }
  function schemeOf(s) {
    var end = s.indexOf("://");
    if (end <= 0 || !isAlpha(s[0])) return "";
    for (var i = 1; i < end; i++) {
      var c = s[i];
      if (!isAlpha(c) && !isDigit(c) && c !== "+" && c !== "-" && c !== ".") return "";
    }
    return s.substring(0, end);
  }
  // Returns {gtin14, serial}; throws Error with a message saying what is wrong.
  function parseItemIdParts(input) {
    if (typeof input !== "string") throw idError("item id is not text");
    if (input.length === 0) throw idError("item id is empty");
    // Byte length: any non-ASCII character is refused below, so characters are bytes.
    var bytes = utf8Enc.encode(input);
    if (bytes.length > ITEM_ID_INPUT_MAX) {
      throw idError("item id is " + bytes.length + " bytes; at most " + ITEM_ID_INPUT_MAX + " are accepted");
    }
    for (var i = 0; i < bytes.length; i++) {
      var c = bytes[i];
      if (c >= 0x80) {
        throw idError("item id contains non-ASCII byte " + byteHex(c) + " at offset " + i + "; GS1 identifiers are ASCII only");
      }
      if (c < 0x20 || c === 0x7f) throw idError("item id contains control character " + byteHex(c) + " at offset " + i);
    }
    if (input[0] === " " || input[input.length - 1] === " ") throw idError("item id has a leading or trailing space; remove it");
    var scheme = schemeOf(input);
    if (scheme.length > 0) {
      var http = scheme === "http" || scheme === "HTTP";
      var https = scheme === "https" || scheme === "HTTPS";
      if (!http && !https) {
        var lower = scheme.toLowerCase();
        if (lower === "http" || lower === "https") {
          throw idError("Digital Link URL scheme must be all lower or all upper case (http, https, HTTP or HTTPS), found '" + scheme + "'");
        }
        throw idError("Digital Link URL must use http or https, found '" + scheme + "'");
      }
      return parseDlUrl(input);
    }
    if (startsWithNoCase(input, EPC_PREFIX)) return parseEpcUri(input);
    if (startsWithNoCase(input, "urn:epc:")) {
      throw idError("EPC URI is not an SGTIN: expected urn:epc:id:sgtin:<company prefix>.<indicator digit and item reference>.<serial>");
    }
    if (input[0] === "(") return parseElementString(input);
    if (hasCanonicalShape(input)) {
      try {
        return makeItemId(input.substring(3, 17), input.substring(21));
      } catch (e) {
        return parseDlPath(input, false);
      }
    }
    if (input[0] === "/" || input.startsWith("01/") || input.startsWith("gtin/")) return parseDlPath(input, false);
    var n = input.length;
    if (allDigits(input) && (n === 8 || n === 12 || n === 13 || n === 14)) {
      throw idError("a GTIN alone names a product, not an item: add a serial, as in 01/<GTIN>/21/<serial>");
    }
    throw idError("unrecognised item id: expected a GS1 Digital Link URL or path, an element string like (01)…(21)…, or an urn:epc:id:sgtin: URI");
  }
  function canonicalOf(id) {
    return "01/" + id.gtin14 + "/21/" + id.serial;
  }
  function parseItemId(text) {
    return canonicalOf(parseItemIdParts(text));
  }

  // ---------------------------------------------------------------------------------------------
  // Genesis.
  var ROLE_NAMES = { 1: "BRAND", 2: "MARKETPLACE", 3: "AUTHENTICATOR", 4: "SERVICE_CENTER" };
  function isValidOrgId(id) {
    return /^[a-z0-9-]{1,32}$/.test(id);
  }
  function isValidChainId(id) {
    return /^[a-z0-9._-]{1,64}$/.test(id);
  }
  function parseKeyHex(s, where) {
    var k = s.length === 64 ? fromHex(s) : null;
    if (!k) throw new Error(where + ": public key must be 64 hex digits");
    if (!isCanonicalPoint(k)) throw new Error(where + ": public key " + s + " is not a canonical Ed25519 point encoding");
    if (isSmallOrderPoint(k)) throw new Error(where + ": public key " + s + " is a small-order point, which no honest key is");
    return k;
  }
  function compareStr(a, b) {
    return a < b ? -1 : a > b ? 1 : 0;
  }
  // The governed network state as of genesis (NetworkState::FromGenesis), as a NetworkStateProto.
  function genesisNetworkState(g) {
    var orgs = g.organizations.slice().sort(function (a, b) {
      return compareStr(a.id, b.id);
    });
    var st = newMsg(S.NetworkStateProto);
    for (var i = 0; i < orgs.length; i++) {
      var o = orgs[i];
      var rec = newMsg(S.OrganizationRecord);
      rec.id = o.id;
      var v = newMsg(S.OrganizationVersion);
      v.displayName = o.displayName;
      v.roles = o.roles.slice().sort(function (a, b) {
        return a - b;
      });
      v.gs1CompanyPrefixes = o.gs1CompanyPrefixes.slice().sort(compareStr);
      v.resolverDomain = o.resolverDomain;
      v.website = o.website;
      rec.versions.push(v);
      for (var j = 0; j < o.signingKeys.length; j++) {
        var kp = newMsg(S.KeyPeriod);
        kp.key = fromHex(o.signingKeys[j].toLowerCase());
        rec.keys.push(kp);
      }
      st.organizations.push(rec);
    }
    var e = newMsg(S.ValidatorEpoch);
    for (var k = 0; k < g.validators.length; k++) {
      var gv = g.validators[k];
      var ve = newMsg(S.ValidatorEntry);
      ve.name = gv.name;
      ve.organization = gv.organization;
      ve.consensusKey = fromHex(gv.consensusKey.toLowerCase());
      ve.votingPower = gv.votingPower;
      e.validators.push(ve);
    }
    st.validatorEpochs.push(e);
    return st;
  }

  async function loadGenesis(bytes) {
    if (bytes instanceof ArrayBuffer) bytes = new Uint8Array(bytes);
    if (!(bytes instanceof Uint8Array)) throw new Error("genesis: expected bytes");
    if (bytes.length > MAX_GENESIS_BYTES) throw new Error("genesis is " + bytes.length + " bytes; the limit is " + MAX_GENESIS_BYTES);
    var g;
    try {
      g = parseStrict(bytes, S.Genesis, "genesis");
    } catch (e) {
      if (e instanceof PbError) throw new Error(e.message);
      throw e;
    }
    // The defaults Network::FromProto fills in; the genesis hash is of the filled-in encoding
    // (for the node's canonical bytes, which are filled in already, the same bytes).
    if (!g.consensus) g.consensus = newMsg(S.ConsensusParams);
    var c = g.consensus;
    if (c.maxBlockRecords === 0) c.maxBlockRecords = 2000;
    if (c.maxBlockBytes === 0n) c.maxBlockBytes = 8n * 1024n * 1024n;
    if (c.timeoutProposeMs === 0) c.timeoutProposeMs = 1000;
    if (c.timeoutPrevoteMs === 0) c.timeoutPrevoteMs = 500;
    if (c.timeoutPrecommitMs === 0) c.timeoutPrecommitMs = 500;
    if (c.timeoutDeltaMs === 0) c.timeoutDeltaMs = 250;
    if (c.idleBlockIntervalMs === 0) c.idleBlockIntervalMs = 10000;
    if (c.maxClockSkewMs === 0) c.maxClockSkewMs = 30000;
    var gov = g.governance ? Object.assign({}, g.governance) : newMsg(S.GovernanceParams);
    if (gov.thresholdNumerator === 0 && gov.thresholdDenominator === 0) {
      gov.thresholdNumerator = 2;
      gov.thresholdDenominator = 3;
    }
    if (gov.proposalLifetimeHeights === 0n) gov.proposalLifetimeHeights = 100000n;
    if (gov.validatorChangeDelayHeights === 0n) gov.validatorChangeDelayHeights = 10n;
    if (g.governance) g.governance = gov;
    // What Network::Index checks, so that a broken genesis is refused here.
    if (!isValidChainId(g.chainId)) throw new Error("genesis: chain_id must be 1 to 64 characters of a-z, 0-9, '-', '.', '_'");
    if (c.idleBlockIntervalMs < 100 || c.idleBlockIntervalMs > 600000) throw new Error("genesis: consensus.idle_block_interval_ms is out of range");
    if (c.maxClockSkewMs > 600000) throw new Error("genesis: consensus.max_clock_skew_ms is out of range");
    var thNum = gov.thresholdNumerator;
    var den = gov.thresholdDenominator;
    if (den === 0 || den > 1000 || thNum >= den || 2 * thNum < den) throw new Error("genesis: the governance threshold is out of range");
    if (gov.validatorChangeDelayHeights < 2n || gov.validatorChangeDelayHeights > 1000000n) {
      throw new Error("genesis: governance.validator_change_delay_heights is out of range");
    }
    if (g.organizations.length === 0) throw new Error("genesis has no organizations");
    if (g.organizations.length > 1024) throw new Error("genesis has more than 1024 organizations");
    var ids = new Set();
    var keys = new Set();
    var prefixes = [];
    var organizations = [];
    for (var i = 0; i < g.organizations.length; i++) {
      var o = g.organizations[i];
      var where = "genesis organization " + (isValidOrgId(o.id) ? '"' + o.id + '"' : i);
      if (!isValidOrgId(o.id)) throw new Error(where + ": id must be 1 to 32 characters of a-z, 0-9 and '-'");
      if (ids.has(o.id)) throw new Error(where + " is listed twice");
      ids.add(o.id);
      if (o.roles.length === 0) throw new Error(where + " has no roles");
      var roleSet = new Set();
      for (var r = 0; r < o.roles.length; r++) {
        if (!ROLE_NAMES[o.roles[r]] || roleSet.has(o.roles[r])) throw new Error(where + " has an unknown or repeated role");
        roleSet.add(o.roles[r]);
      }
      if (o.signingKeys.length === 0 || o.signingKeys.length > 64) throw new Error(where + " must have 1 to 64 signing keys");
      var keysHex = [];
      for (var k = 0; k < o.signingKeys.length; k++) {
        var kh = hex(parseKeyHex(o.signingKeys[k], where + ": signing key"));
        if (keys.has(kh)) throw new Error(where + ": signing key " + kh + " is used twice");
        keys.add(kh);
        keysHex.push(kh);
      }
      var brand = roleSet.has(1);
      if (brand !== o.gs1CompanyPrefixes.length > 0) throw new Error(where + ": only a BRAND, and every BRAND, has GS1 company prefixes");
      for (var p = 0; p < o.gs1CompanyPrefixes.length; p++) {
        var pre = o.gs1CompanyPrefixes[p];
        if (!/^[0-9]{6,12}$/.test(pre)) throw new Error(where + ': GS1 company prefix "' + pre + '" must be 6 to 12 digits');
        prefixes.push(pre);
      }
      organizations.push({
        id: o.id,
        displayName: o.displayName,
        roles: o.roles.map(function (x) {
          return ROLE_NAMES[x];
        }),
        keysHex: keysHex,
        gs1CompanyPrefixes: o.gs1CompanyPrefixes.slice(),
        resolverDomain: o.resolverDomain,
        website: o.website,
      });
    }
    prefixes.sort(compareStr);
    for (var q = 0; q + 1 < prefixes.length; q++) {
      if (prefixes[q + 1].startsWith(prefixes[q])) throw new Error("genesis: GS1 company prefixes overlap or repeat: " + prefixes[q]);
    }
    if (g.validators.length === 0 || g.validators.length > MAX_VALIDATORS) throw new Error("genesis must have 1 to 256 validators");
    var vkeys = new Set();
    var total = 0n;
    var validators = [];
    for (var v = 0; v < g.validators.length; v++) {
      var gv = g.validators[v];
      var vw = "genesis validator " + v;
      if (!ids.has(gv.organization)) throw new Error(vw + ': unknown organization "' + gv.organization + '"');
      var vk = hex(parseKeyHex(gv.consensusKey, vw + ": consensus key"));
      if (vkeys.has(vk)) throw new Error(vw + ": consensus key is used by another validator");
      vkeys.add(vk);
      if (gv.votingPower === 0n) throw new Error(vw + ": voting_power must be > 0");
      total += gv.votingPower;
      if (total > MAX_TOTAL_VOTING_POWER) throw new Error("genesis: total voting power exceeds 2^60");
      validators.push({ name: gv.name, organization: gv.organization, keyHex: vk, votingPower: num(gv.votingPower) });
    }
    var filled = encode(g, S.Genesis);
    var hash = await sha256(filled);
    var hashHex = hex(hash);
    var governedGenesis = await sha256(encode(genesisNetworkState(g), S.NetworkStateProto));
    return {
      chainId: g.chainId,
      hash: hash,
      hashHex: hashHex,
      fingerprint: hashHex.substring(0, 32).match(/.{4}/g).join(" "),
      freshnessMs: FRESHNESS_IDLE_INTERVALS * c.idleBlockIntervalMs + c.maxClockSkewMs,
      maxClockSkewMs: c.maxClockSkewMs,
      idleBlockIntervalMs: c.idleBlockIntervalMs,
      validatorChangeDelayHeights: num(gov.validatorChangeDelayHeights),
      genesisTimeMs: num(g.genesisTimeMs),
      organizations: organizations,
      validators: validators,
      // Internal: what the verifier works from.
      _g: g,
      _delay: gov.validatorChangeDelayHeights,
      _state: genesisNetworkState(g),
      _governedHash: governedGenesis,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // The network state as the verifier reads it: organisations with their key periods and
  // versions, and the validator epochs.
  function Membership(stateProto) {
    this.orgs = new Map();
    this.keyOrg = new Map();
    for (var i = 0; i < stateProto.organizations.length; i++) {
      var o = stateProto.organizations[i];
      this.orgs.set(o.id, o);
      for (var j = 0; j < o.keys.length; j++) {
        var kh = hex(o.keys[j].key);
        if (!this.keyOrg.has(kh)) this.keyOrg.set(kh, o.id);
      }
    }
    this.epochs = stateProto.validatorEpochs;
  }
  function memberAt(o, h) {
    return o.memberFrom <= h && (o.removedAt === 0n || h < o.removedAt);
  }
  function keyValidAt(k, h) {
    return k.validFrom <= h && (k.revokedAt === 0n || h < k.revokedAt);
  }
  Membership.prototype.everHolding = function (keyHex) {
    var id = this.keyOrg.get(keyHex);
    return id === undefined ? null : this.orgs.get(id);
  };
  // The organisation whose valid key `keyHex` is at height h (OrganizationOfKeyAt), or null.
  Membership.prototype.orgOfKeyAt = function (keyHex, h) {
    var o = this.everHolding(keyHex);
    if (!o || !memberAt(o, h)) return null;
    for (var i = 0; i < o.keys.length; i++) {
      if (hex(o.keys[i].key) === keyHex && keyValidAt(o.keys[i], h)) return o;
    }
    return null;
  };
  Membership.prototype.versionAt = function (o, h) {
    var v = o.versions[0];
    for (var i = 0; i < o.versions.length; i++) {
      if (o.versions[i].fromHeight > h) break;
      v = o.versions[i];
    }
    return v;
  };
  // CheckSignerStanding: a key some organisation ever held signs for it only while valid.
  Membership.prototype.standing = function (keyHex, h) {
    var o = this.everHolding(keyHex);
    if (!o) return null;
    var who = "signing key " + keyHex.substring(0, 16) + '… of organization "' + o.id + '"';
    if (!memberAt(o, h)) {
      if (o.removedAt !== 0n && h >= o.removedAt) return who + ": the organization was removed at height " + o.removedAt;
      return who + ": the organization is a member from height " + o.memberFrom + " on";
    }
    for (var i = 0; i < o.keys.length; i++) {
      var k = o.keys[i];
      if (hex(k.key) !== keyHex) continue;
      if (keyValidAt(k, h)) return null;
      if (k.revokedAt !== 0n && h >= k.revokedAt) return who + " was revoked at height " + k.revokedAt;
      return who + " is valid from height " + k.validFrom + " on";
    }
    return null;
  };
  function epochAt(epochs, h) {
    var e = epochs[0];
    for (var i = 0; i < epochs.length; i++) {
      if (epochs[i].fromHeight > h) break;
      e = epochs[i];
    }
    return e;
  }
  // ValidatorSet::Create's checks; returns {byKey: Map(hex -> power), total, size} or throws.
  function validatorSet(epoch) {
    var vs = epoch.validators;
    if (vs.length === 0) throw new PbError("the validator set is empty");
    if (vs.length > MAX_VALIDATORS) throw new PbError("the validator set has more than 256 validators");
    var byKey = new Map();
    var total = 0n;
    for (var i = 0; i < vs.length; i++) {
      var kh = hex(vs[i].consensusKey);
      if (vs[i].votingPower === 0n) throw new PbError("validator " + kh.substring(0, 16) + " has zero voting power");
      total += vs[i].votingPower;
      if (total > MAX_TOTAL_VOTING_POWER) throw new PbError("the total voting power exceeds the limit");
      if (byKey.has(kh)) throw new PbError("validator " + kh.substring(0, 16) + " appears twice in the set");
      byKey.set(kh, vs[i].votingPower);
    }
    return { byKey: byKey, total: total, size: vs.length };
  }

  // ---------------------------------------------------------------------------------------------
  // The certificate (docs/proofs.md, check 4). Throws PbError with the reason.
  function u64be(v) {
    var out = new Uint8Array(8);
    var x = BigInt(v);
    for (var i = 7; i >= 0; i--) {
      out[i] = Number(x & 0xffn);
      x >>= 8n;
    }
    return out;
  }
  function u32be(v) {
    return new Uint8Array([(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
  }
  function precommitSignBytes(chainId, height, round, blockId) {
    var cid = ascii(chainId);
    return concat([
      ascii("hallmark/vote/v1"),
      new Uint8Array([cid.length]),
      cid,
      u64be(height),
      u32be(round),
      new Uint8Array([2, 1]),
      blockId,
    ]);
  }
  async function verifyCertificate(set, chainId, cert, height, blockId) {
    var where = "commit certificate for height " + (cert ? cert.height : 0n);
    if (!cert) cert = newMsg(S.CommitCertificate);
    if (cert.blockId.length !== 32 || isZero(cert.blockId)) throw new PbError("block id must be 32 bytes and not all zero");
    if (cert.signatures.length > MAX_VALIDATORS) throw new PbError("certificate has more signatures than the validator limit");
    for (var i = 0; i < cert.signatures.length; i++) {
      if (cert.signatures[i].validator.length !== 32) throw new PbError("certificate signer must be 32 bytes");
      if (cert.signatures[i].signature.length !== 64) throw new PbError("certificate signature must be 64 bytes");
    }
    if (cert.height !== height) throw new PbError(where + ": expected height " + height);
    if (!eq(cert.blockId, blockId)) throw new PbError(where + ": certifies block " + hex(cert.blockId) + ", not " + hex(blockId));
    if (cert.signatures.length === 0) throw new PbError(where + ": has no signatures");
    if (cert.signatures.length > set.size) throw new PbError(where + ": has more signatures than there are validators");
    var msg = precommitSignBytes(chainId, cert.height, cert.round, cert.blockId);
    var seen = new Set();
    var power = 0n;
    for (var j = 0; j < cert.signatures.length; j++) {
      var s = cert.signatures[j];
      var kh = hex(s.validator);
      if (!set.byKey.has(kh)) throw new PbError(where + ": signer " + kh.substring(0, 16) + " is not a validator");
      if (seen.has(kh)) throw new PbError(where + ": signer " + kh.substring(0, 16) + " appears twice");
      seen.add(kh);
      if ((await verifySignature(s.validator, msg, s.signature)) !== "valid") {
        throw new PbError(where + ": the signature of " + kh.substring(0, 16) + " is not over this block's precommit");
      }
      power += set.byKey.get(kh);
    }
    if (!(3n * power > 2n * set.total)) {
      throw new PbError(where + ": signers hold " + power + " of " + set.total + " voting power, not more than 2/3");
    }
    return cert.signatures.length;
  }

  // ---------------------------------------------------------------------------------------------
  // Records.
  var TYPE_OF_BODY = {
    register: "register",
    transfer: "transfer",
    attest: "attest",
    flag: "flag",
    clearFlag: "clear_flag",
    service: "service",
    decommission: "decommission",
    reassign: "reassign",
  };
  var FLAG_NAMES = { 1: "stolen", 2: "lost", 3: "counterfeit-suspected", 4: "recalled" };
  var VERDICT_NAMES = { 1: "genuine", 2: "suspect" };
  var SERVICE_NAMES = { 1: "repair", 2: "refurbishment", 3: "authentication" };
  var DECOMMISSION_NAMES = { 1: "destroyed", 2: "recycled" };
  var STATUS_NAMES = { 0: "ITEM_STATUS_UNSPECIFIED", 1: "ACTIVE", 2: "DECOMMISSIONED" };
  function flagName(k) {
    return FLAG_NAMES[k] || "unspecified";
  }
  function recordId(env) {
    return sha256(concat([env.payload, env.signer, env.signature]));
  }
  function describeHolder(h) {
    if (!h || !h.$kind) return "nobody";
    if (h.$kind === "organization") return 'organization "' + h.organization + '"';
    return "key " + hex(h.holderKey.subarray(0, 8)) + "…";
  }
  function checkText(field, text, max) {
    var n = utf8Len(text);
    if (n > max) return field + " is " + n + " bytes; the limit is " + max;
    return null;
  }
  // DecodeEnvelope: sizes, a payload of this chain. Returns [payload, null] or [null, reason].
  function decodeEnvelope(env, chainId) {
    if (env.payload.length > MAX_PAYLOAD_BYTES) {
      return [null, "payload is " + env.payload.length + " bytes; the limit is " + MAX_PAYLOAD_BYTES];
    }
    if (env.$unknown) return [null, "envelope has unknown fields"];
    if (env.signer.length !== 32) return [null, "signer must be a 32-byte Ed25519 public key, found " + env.signer.length + " bytes"];
    if (env.signature.length !== 64) return [null, "signature must be 64 bytes, found " + env.signature.length];
    var p;
    try {
      p = decode(env.payload, S.RecordPayload);
    } catch (e) {
      if (e instanceof PbError) return [null, "payload is not a valid RecordPayload"];
      throw e;
    }
    if (p.$unknown) return [null, "payload has fields this version does not know"];
    if (p.chainId !== chainId) return [null, 'record is for chain "' + p.chainId.substring(0, 64) + '", this network is "' + chainId + '"'];
    return [p, null];
  }
  // DecodeRecord: a custody record of this chain with a canonical item id and a well-formed body.
  function decodeRecord(env, chainId) {
    var d = decodeEnvelope(env, chainId);
    if (d[1]) return d;
    var p = d[0];
    if (p.governance !== undefined) {
      return [null, p.$body ? "record has both a custody body and a governance body" : "a governance record (proposal or approval) is not a custody record"];
    }
    var canonical;
    try {
      canonical = parseItemId(p.itemId);
    } catch (e) {
      return [null, e.message];
    }
    if (canonical !== p.itemId) return [null, 'item id must be in canonical form "' + canonical + '"'];
    if (p.prev.length !== 0 && p.prev.length !== 32) return [null, "prev must be empty or a 32-byte record id, found " + p.prev.length + " bytes"];
    var why = checkBody(p);
    if (why) return [null, why];
    return [p, null];
  }
  function checkBody(p) {
    var b = p.$body;
    if (!b) return "record has no body (register, transfer, …)";
    var v = p[b];
    var t;
    switch (b) {
      case "register":
        if (v.attributes.length > MAX_ATTRIBUTES) return "register has " + v.attributes.length + " attributes; the limit is " + MAX_ATTRIBUTES;
        var keys = [];
        for (var i = 0; i < v.attributes.length; i++) {
          var a = v.attributes[i];
          if (a.key === "") return "attribute key is empty";
          if ((t = checkText("attribute key", a.key, MAX_ATTRIBUTE_KEY_BYTES))) return t;
          if ((t = checkText('attribute "' + a.key + '" value', a.value, MAX_ATTRIBUTE_VALUE_BYTES))) return t;
          if (a.$unknown) return "attribute has unknown fields";
          keys.push(a.key);
        }
        // Byte order, as the reference sorts; only equality matters here.
        keys.sort(compareStr);
        for (var k = 0; k + 1 < keys.length; k++) if (keys[k] === keys[k + 1]) return 'attribute "' + keys[k] + '" is given twice';
        if (v.documents.length > MAX_DOCUMENTS) return "register has " + v.documents.length + " document digests; the limit is " + MAX_DOCUMENTS;
        for (var j = 0; j < v.documents.length; j++) {
          var d = v.documents[j];
          if ((t = checkText("document name", d.name, MAX_DOCUMENT_NAME_BYTES))) return t;
          if (d.sha256.length !== 32) return 'document "' + d.name + '" digest must be 32 bytes (SHA-256), found ' + d.sha256.length;
          if (d.$unknown) return "document has unknown fields";
        }
        if (v.$unknown || (v.custodian && v.custodian.$unknown)) return "register has unknown fields";
        return null;
      case "transfer":
        if (v.$unknown || (v.to && v.to.$unknown)) return "transfer has unknown fields";
        return null;
      case "attest":
        if (v.$unknown) return "attest has unknown fields";
        if (v.verdict !== 1 && v.verdict !== 2) return "attest verdict must be GENUINE or SUSPECT";
        return checkText("attest note", v.note, MAX_NOTE_BYTES);
      case "flag":
      case "clearFlag":
        var name = b === "flag" ? "flag" : "clear_flag";
        if (v.$unknown) return name + " has unknown fields";
        if (!FLAG_NAMES[v.kind]) return name + " kind must be STOLEN, LOST, COUNTERFEIT_SUSPECTED or RECALLED";
        return checkText(name + " note", v.note, MAX_NOTE_BYTES);
      case "service":
        if (v.$unknown) return "service has unknown fields";
        if (!SERVICE_NAMES[v.kind]) return "service kind must be REPAIR, REFURBISHMENT or AUTHENTICATION_SERVICE";
        return checkText("service note", v.note, MAX_NOTE_BYTES);
      case "decommission":
        if (v.$unknown) return "decommission has unknown fields";
        if (!DECOMMISSION_NAMES[v.kind]) return "decommission kind must be DESTROYED or RECYCLED";
        return checkText("decommission reason", v.reason, MAX_NOTE_BYTES);
      case "reassign":
        if (v.$unknown) return "reassign has unknown fields";
        if (v.newHolderKey.length !== 32) return "reassign new_holder_key must be 32 bytes, found " + v.newHolderKey.length;
        return checkText("reassign reason", v.reason, MAX_NOTE_BYTES);
    }
    return "record body is of an unknown kind";
  }
  // The structural part of DecodeGovernanceRecord (the change itself is the governance rules',
  // which the browser does not replay: docs/page.md).
  function decodeGovernanceRecord(env, chainId) {
    var d = decodeEnvelope(env, chainId);
    if (d[1]) return d;
    var p = d[0];
    if (p.governance === undefined) return [null, "not a governance record (no governance body)"];
    if (hasUnknownDeep(p.governance, S.Governance)) return [null, "payload has fields this version does not know"];
    if (p.$body) return [null, "record has both a custody body and a governance body"];
    if (p.itemId !== "" || p.prev.length !== 0) return [null, "a governance record is about no item: item_id and prev must be empty"];
    var g = p.governance;
    if (g.$kind === "proposal") {
      var n = utf8Len(g.proposal.note);
      if (n > MAX_NOTE_BYTES) return [null, "proposal note is " + n + " bytes; the limit is " + MAX_NOTE_BYTES];
      if (!g.proposal.change || !g.proposal.change.$kind) return [null, "the proposal names no change"];
    } else if (g.$kind === "approval") {
      if (g.approval.proposal.length !== 32) {
        return [null, "approval must name a proposal by its 32-byte record id, found " + g.approval.proposal.length + " bytes"];
      }
    } else {
      return [null, "governance record is neither proposal nor approval"];
    }
    return [p, null];
  }

  // ---------------------------------------------------------------------------------------------
  // The governance walk, light-client style (docs/page.md, "How the browser verifies"): the
  // validator sets come from certified network-state snapshots; the walk's other blocks are
  // checked for their structure, certificates, records roots and signatures, not replayed.
  function Fail(check, message) {
    this.check = check;
    this.message = message;
  }
  function blockLabel(i, h) {
    return "walk block " + (i + 1) + " (height " + h + ")";
  }
  function parseNetworkState(bytes, what) {
    try {
      return parseStrict(bytes, S.NetworkStateProto, what);
    } catch (e) {
      if (e instanceof PbError) throw new Fail("governance", e.message);
      throw e;
    }
  }
  function epochsEqual(a, b) {
    return eq(encode(a, S.ValidatorEpoch), encode(b, S.ValidatorEpoch));
  }
  async function verifyWalk(G, bundle, header, H) {
    var walk = bundle.governance || newMsg(S.GovernanceWalk);
    var chainId = G.chainId;
    var delay = G._delay;
    if (walk.fromHeight !== 0n) {
      throw new Fail(
        "governance",
        "the walk starts from height " + walk.fromHeight + ", a state this verifier has not checked (it trusts genesis only); ask for a proof since genesis"
      );
    }
    if (walk.blocks.length > MAX_WALK_BLOCKS) throw new Fail("governance", "the walk has " + walk.blocks.length + " blocks; the limit is " + MAX_WALK_BLOCKS);
    var totalRecords = 0;
    for (var i = 0; i < walk.blocks.length; i++) totalRecords += walk.blocks[i].records.length;
    if (totalRecords > MAX_WALK_RECORDS) throw new Fail("governance", "the walk has " + totalRecords + " records; the limit is " + MAX_WALK_RECORDS);
    if (bundle.version === 3) {
      if (walk.blocks.length > 0) {
        throw new Fail("governance", "this bundle predates version 4; the browser needs the certified network states — ask the node again");
      }
      if (walk.networkState.length > 0) throw new Fail("governance", "a version 3 bundle carries a version 4 network state");
    }
    // The network state as of the header, proven at the end (the network-state leaf).
    var finalState = walk.networkState.length > 0 ? parseNetworkState(walk.networkState, "the walk's network state") : null;
    if (!finalState && walk.blocks.length > 0) {
      throw new Fail("governance", "the walk carries changes but no network state (version 4 bundles carry it whenever governance happened)");
    }
    var stateProto = finalState || G._state;
    var epochs = stateProto.validatorEpochs;
    if (epochs.length === 0 || epochs[0].fromHeight !== 0n || !epochsEqual(epochs[0], G._state.validatorEpochs[0])) {
      throw new Fail("governance", "the network state's first validator set is not genesis' set");
    }
    for (var e = 1; e < epochs.length; e++) {
      if (epochs[e].fromHeight <= epochs[e - 1].fromHeight || epochs[e].fromHeight < delay) {
        throw new Fail("governance", "the network state's validator sets are not in order of height");
      }
    }
    var matched = new Array(epochs.length).fill(false);
    matched[0] = true;
    var lastHeight = 0n;
    var previousId = null;
    var unlinked = null; // {first, last, lastId}
    for (var bi = 0; bi < walk.blocks.length; bi++) {
      var block = walk.blocks[bi];
      var hdr;
      try {
        hdr = parseStrict(block.header, S.BlockHeader, "block header");
      } catch (err) {
        if (err instanceof PbError) throw new Fail("governance", "walk block " + (bi + 1) + ": " + err.message);
        throw err;
      }
      var h = hdr.height;
      var where = blockLabel(bi, h);
      if (!eq(encode(hdr, S.BlockHeader), block.header)) throw new Fail("governance", where + ": the header is not in canonical encoding");
      if (hdr.chainId !== "") throw new Fail("governance", where + ": the header carries the chain id, which is left out");
      if (h === 0n || h <= lastHeight) throw new Fail("governance", where + " does not follow the block before (heights must increase)");
      if (h > H) throw new Fail("governance", where + " is above the bundle's header (height " + H + ")");
      var parentBefore = bi > 0 && h === lastHeight + 1n;
      if (parentBefore !== (hdr.prevHash.length === 0)) {
        throw new Fail(
          "governance",
          where + (parentBefore ? ": the header names its parent, the walk block before, which is left out" : " does not follow the walk block before it and names no parent")
        );
      }
      hdr.chainId = chainId;
      if (parentBefore) hdr.prevHash = previousId;
      var full = encode(hdr, S.BlockHeader);
      if (h === H && !eq(full, bundle.header)) throw new Fail("governance", where + " is another block than the bundle's header at the same height");
      lastHeight = h;
      if (block.records.length === 0) throw new Fail("governance", where + " has no records");
      var blockId = await sha256(full);
      previousId = blockId;
      if (unlinked && (h !== unlinked.last + 1n || !eq(hdr.prevHash, unlinked.lastId))) {
        throw new Fail("governance", where + " does not follow the walk block before it, which has no certificate of its own (it must be the next block and name it)");
      }
      var snapshot = block.networkState.length > 0 || block.networkStateProof.length > 0;
      if (block.certificate) {
        var set;
        try {
          set = validatorSet(epochAt(epochs, h));
          await verifyCertificate(set, chainId, block.certificate, h, blockId);
        } catch (err2) {
          if (err2 instanceof PbError) throw new Fail("governance", where + ": certificate by the validator set of that height: " + err2.message);
          throw err2;
        }
        unlinked = null;
      } else if (snapshot) {
        // Never certified by a later block, nor by the bundle's certificate at the header.
        throw new Fail("governance", where + " completes a validator-set change but carries no certificate of its own");
      } else if (h === H) {
        // The bundle's own header, certified by the bundle's certificate (checked next).
        unlinked = null;
      } else {
        var first = unlinked ? unlinked.first : h;
        if (h + 1n - first >= delay) {
          throw new Fail("governance", where + " has no certificate, nor have the walk blocks before it from height " + first);
        }
        unlinked = { first: first, last: h, lastId: blockId };
      }
      if (hdr.recordsRoot.length !== 32) throw new Fail("governance", where + ": records root is not 32 bytes");
      // The records' places in the block, then their signatures.
      var complete = BigInt(block.records.length) === BigInt(hdr.recordCount);
      var leaves = [];
      var lastIndex = -1;
      for (var ri = 0; ri < block.records.length; ri++) {
        var rp = block.records[ri];
        var rwhere = where + ", record " + (ri + 1);
        if (rp.index <= lastIndex) throw new Fail("governance", rwhere + ": records must be in block order");
        lastIndex = rp.index;
        if (complete && rp.inclusionProof.length !== 0) throw new Fail("governance", rwhere + ": carries an inclusion proof, but the walk block holds every record of its block");
        if (rp.inclusionProof.length > MAX_INCLUSION_HASHES) throw new Fail("governance", rwhere + ": inclusion proof is too long");
        for (var pi = 0; pi < rp.inclusionProof.length; pi++) {
          if (rp.inclusionProof[pi].length !== 32) throw new Fail("governance", rwhere + ": an inclusion proof hash is not 32 bytes");
        }
        var env = rp.envelope || newMsg(S.Envelope);
        var dg = decodeGovernanceRecord(env, chainId);
        if (dg[1]) throw new Fail("governance", rwhere + ": " + dg[1]);
        var leaf = await merkleLeafHash(await recordId(env));
        if (complete) {
          leaves.push(leaf);
        } else if (!(await verifyInclusion(leaf, rp.index, hdr.recordCount, rp.inclusionProof, hdr.recordsRoot))) {
          throw new Fail("governance", rwhere + " is not in the block: its inclusion proof does not lead to the header's records root");
        }
      }
      if (complete && !eq(await merkleRootOfLeaves(leaves), hdr.recordsRoot)) {
        throw new Fail("governance", where + ": its records do not rebuild the header's records root (a record is altered, missing or out of order)");
      }
      await inChunks(block.records.length, function (rj) {
        var env2 = block.records[rj].envelope || newMsg(S.Envelope);
        return verifySignature(env2.signer, env2.payload, env2.signature);
      }, function (rj, sv) {
        if (sv !== "valid") throw new Fail("governance", where + ", record " + (rj + 1) + ": bad_signature: " + SIG_MESSAGES[sv]);
      });
      // A block completing a validator-set change: its certified network state, whose validator
      // sets must be the final state's up to the one this change starts.
      if (snapshot) {
        var ei = -1;
        for (var x = 1; x < epochs.length; x++) if (epochs[x].fromHeight === h + delay) ei = x;
        if (ei < 0) throw new Fail("governance", where + " carries a network state but starts no validator set of the header's network state");
        var snap = parseNetworkState(block.networkState, where + ": network state");
        if (snap.validatorEpochs.length !== ei + 1) throw new Fail("governance", where + ": its network state's validator sets are not the header's up to this change");
        for (var y = 0; y <= ei; y++) {
          if (!epochsEqual(snap.validatorEpochs[y], epochs[y])) {
            throw new Fail("governance", where + ": its network state's validator sets are not the header's up to this change");
          }
        }
        var proof;
        try {
          proof = await decodeSmtProof(block.networkStateProof);
        } catch (err3) {
          if (err3 instanceof PbError) throw new Fail("governance", where + ": network-state proof: " + err3.message);
          throw err3;
        }
        if (hdr.stateRoot.length !== 32 || !(await verifySmtProof(hdr.stateRoot, await networkStateKey(), await sha256(block.networkState), proof))) {
          throw new Fail("governance", where + ": its network state does not prove against the block's state root");
        }
        matched[ei] = true;
      }
    }
    // Every change the network state holds took effect at a height that names the block that
    // completed it (members, versions and keys from the next block on, validator sets after the
    // delay): that block must be in the walk, or a change was withheld.
    var walkHeights = new Set();
    for (var wb = 0; wb < walk.blocks.length; wb++) {
      try {
        walkHeights.add(decode(walk.blocks[wb].header, S.BlockHeader).height);
      } catch (e5) {
        /* parsed above */
      }
    }
    var completions = [];
    stateProto.organizations.forEach(function (o) {
      completions.push(o.memberFrom, o.removedAt);
      o.versions.forEach(function (v) {
        completions.push(v.fromHeight);
      });
      o.keys.forEach(function (k) {
        completions.push(k.validFrom, k.revokedAt);
      });
    });
    for (var cc = 0; cc < completions.length; cc++) {
      var at = completions[cc];
      if (at > 0n && !walkHeights.has(at - 1n)) {
        throw new Fail("governance", "the network state holds a change completed at height " + (at - 1n) + ", but the walk has no block there (a change is missing from the walk)");
      }
    }
    for (var m = 1; m < epochs.length; m++) {
      if (!matched[m]) {
        throw new Fail("governance", "the walk holds no certified block completing the validator-set change in force from height " + epochs[m].fromHeight);
      }
    }
    if (unlinked) {
      if (header.height !== unlinked.last + 1n || !eq(header.prevHash, unlinked.lastId)) {
        throw new Fail("governance", "the last walk block (height " + unlinked.last + ") has no certificate and is not the parent of the bundle's header");
      }
    }
    return { membership: new Membership(stateProto), epochs: epochs, finalState: finalState };
  }
  var nsKeyP = null;
  function networkStateKey() {
    if (!nsKeyP) nsKeyP = sha256(ascii("hallmark/network-state"));
    return nsKeyP;
  }

  // ---------------------------------------------------------------------------------------------
  // The bundle.
  function emptyResult(G) {
    return {
      verdict: "invalid",
      failedCheck: "",
      message: "",
      notClean: [],
      itemId: null,
      chainId: G ? G.chainId : null,
      genesisHashHex: G ? G.hashHex : null,
      genesisFingerprint: G ? G.fingerprint : null,
      height: null,
      headerTimeMs: null,
      blockHashHex: null,
      signers: 0,
      validators: 0,
      ageMs: null,
      maxAgeMs: null,
      registered: false,
      state: null,
      steps: [],
    };
  }

  // Runs `start(i)` for i in [0, n) a chunk at a time, in parallel within a chunk; `check(i, v)`
  // sees the results in order before the next chunk starts (and may throw to stop).
  var CHUNK = 256;
  async function inChunks(n, start, check) {
    var out = new Array(n);
    for (var from = 0; from < n; from += CHUNK) {
      var to = Math.min(n, from + CHUNK);
      var pending = [];
      for (var i = from; i < to; i++) pending.push(start(i));
      var got = await Promise.all(pending);
      for (var j = from; j < to; j++) {
        out[j] = got[j - from];
        if (check) check(j, out[j]);
      }
    }
    return out;
  }

  async function verifyBundle(bytes, G, options) {
    var out = emptyResult(G);
    try {
      return await verifyBundleInner(bytes, G, options || {}, out);
    } catch (e) {
      out.verdict = "invalid";
      if (e instanceof Fail) {
        out.failedCheck = e.check;
        out.message = e.message;
      } else {
        // A bug of this verifier, never a verdict about the bundle: say so.
        out.failedCheck = "format";
        out.message = "the verifier failed: " + (e && e.message ? e.message : String(e));
      }
      out.state = null;
      out.steps = [];
      out.notClean = [];
      out.registered = false;
      return out;
    }
  }

  async function verifyBundleInner(bytes, G, options, out) {
    if (!G || !G._g) throw new Fail("network", "no genesis loaded");
    if (bytes instanceof ArrayBuffer) bytes = new Uint8Array(bytes);
    if (!(bytes instanceof Uint8Array)) throw new Fail("format", "the bundle is not bytes");
    // 1. Format.
    if (bytes.length > MAX_BUNDLE_BYTES) throw new Fail("format", "bundle is " + bytes.length + " bytes; the limit is " + MAX_BUNDLE_BYTES);
    if (!countMessages(bytes, 0, bytes.length, S.ProofBundle, 0, { count: 0, max: MAX_BUNDLE_MESSAGES })) {
      throw new Fail("format", "proof bundle holds more than " + MAX_BUNDLE_MESSAGES + " messages");
    }
    var b;
    try {
      b = parseCanonical(bytes, S.ProofBundle, "proof bundle");
    } catch (e) {
      if (e instanceof PbError) throw new Fail("format", e.message);
      throw e;
    }
    if (b.version === 1) {
      throw new Fail("format", "bundle format version 1 is no longer accepted: its record ids did not bind the records' authors. Ask a node for a new proof");
    }
    if (b.version === 2) {
      throw new Fail("format", "bundle format version 2 is no longer accepted: it cannot show the changes of organisations, keys and validators since genesis. Ask a node for a new proof");
    }
    if (b.version !== 3 && b.version !== 4) throw new Fail("format", "bundle version " + b.version + " is not supported (this verifier reads versions 3 and 4)");
    var item;
    try {
      item = parseItemIdParts(b.itemId);
    } catch (e) {
      throw new Fail("format", "bundle item id: " + e.message);
    }
    var itemId = canonicalOf(item);
    if (itemId !== b.itemId) throw new Fail("format", "bundle item id '" + b.itemId + "' is not canonical");
    if (options.itemId !== undefined && options.itemId !== null) {
      var wanted;
      try {
        wanted = parseItemId(options.itemId);
      } catch (e) {
        throw new Fail("format", "item id: " + e.message);
      }
      if (wanted !== itemId) throw new Fail("format", "bundle is about item " + itemId + ", not " + wanted);
    }
    var header;
    try {
      header = parseStrict(b.header, S.BlockHeader, "block header");
    } catch (e) {
      if (e instanceof PbError) throw new Fail("format", e.message);
      throw e;
    }
    if (b.history.length > MAX_BUNDLE_RECORDS) throw new Fail("format", "bundle has " + b.history.length + " records; the limit is " + MAX_BUNDLE_RECORDS);
    var H = header.height;

    // 2. Network.
    if (b.chainId !== G.chainId || header.chainId !== G.chainId) {
      throw new Fail("network", "bundle is for chain '" + header.chainId + "', but the genesis is for '" + G.chainId + "'");
    }
    if (!eq(b.genesisHash, G.hash)) {
      throw new Fail("network", "bundle was built on another genesis (hash " + (b.genesisHash.length === 32 ? hex(b.genesisHash) : "malformed") + ", yours " + G.hashHex + ")");
    }

    // 3. Governance: the validator sets up to the header.
    var walked = await verifyWalk(G, b, header, H);
    var membership = walked.membership;

    // 4. Certificate.
    var blockHash = await sha256(b.header);
    var set;
    var signers;
    try {
      set = validatorSet(epochAt(walked.epochs, H));
    } catch (e) {
      if (e instanceof PbError) throw new Fail("certificate", e.message);
      throw e;
    }
    try {
      signers = await verifyCertificate(set, G.chainId, b.certificate, H, blockHash);
    } catch (e) {
      if (e instanceof PbError) throw new Fail("certificate", "header at height " + H + ": " + e.message);
      throw e;
    }

    // 5. Freshness.
    var nowMs = options.nowMs === undefined ? null : options.nowMs;
    if (nowMs !== null) {
      var now = BigInt(Math.floor(nowMs));
      if (header.timeMs > now + BigInt(G.maxClockSkewMs)) {
        throw new Fail(
          "freshness",
          "the certified header is dated " + (header.timeMs - now) / 1000n + " s ahead of this computer's clock; the network allows " +
            Math.floor(G.maxClockSkewMs / 1000) + " s. Check this computer's date and time; if it is right, the proof is not to be trusted"
        );
      }
    }

    // The network-state leaf (reported as governance).
    if (header.stateRoot.length !== 32) throw new Fail("state_proof", "header state root is not 32 bytes");
    var root = header.stateRoot;
    var nsProof;
    try {
      nsProof = await decodeSmtProof(b.governance ? b.governance.networkStateProof : new Uint8Array(0));
    } catch (e) {
      if (e instanceof PbError) throw new Fail("governance", "at the header's height " + H + ": network-state proof: " + e.message);
      throw e;
    }
    var nsKey = await networkStateKey();
    var leafOk;
    if (walked.finalState) {
      leafOk = await verifySmtProof(root, nsKey, await sha256(b.governance.networkState), nsProof);
    } else {
      leafOk = await verifySmtProof(root, nsKey, null, nsProof);
      // Version 3: a leaf holding genesis' own state (governance records committed, no change
      // completed) is what the reference's replay rebuilds too.
      if (!leafOk && b.version === 3) leafOk = await verifySmtProof(root, nsKey, G._governedHash, nsProof);
    }
    if (!leafOk) {
      throw new Fail(
        "governance",
        "at the header's height " + H + ": the certified network state does not match the one the bundle carries: a change is missing from the walk, or the walk is not this chain's"
      );
    }

    // 6. State proof.
    var proof;
    try {
      proof = await decodeSmtProof(b.stateProof);
    } catch (e) {
      if (e instanceof PbError) throw new Fail("state_proof", e.message);
      throw e;
    }
    var key = await sha256(ascii(itemId));
    var state = null;
    if (b.state.length === 0) {
      if (!(await verifySmtProof(root, key, null, proof))) throw new Fail("state_proof", "the proof does not show item " + itemId + " absent under root " + hex(root));
    } else {
      if (!(await verifySmtProof(root, key, await sha256(b.state), proof))) {
        throw new Fail("state_proof", "the item state does not prove against root " + hex(root) + " of height " + H);
      }
      try {
        state = parseStrict(b.state, S.ItemState, "item state");
      } catch (e) {
        if (e instanceof PbError) throw new Fail("state_proof", e.message);
        throw e;
      }
      if (state.itemId !== itemId) throw new Fail("state_proof", "the proven state is of item '" + state.itemId + "'");
    }

    // 7. History.
    var n = b.history.length;
    var expected = state ? state.recordCount : 0n;
    if (BigInt(n) !== expected) throw new Fail("history", "bundle has " + n + " records but the proven state counts " + expected);
    var heights = b.historyHeights;
    if (heights.length !== n) throw new Fail("history", "bundle has " + n + " records but " + heights.length + " record heights");
    for (var i = 0; i < n; i++) {
      var hh = heights[i];
      if (hh === 0n || hh > H || (i > 0 && hh < heights[i - 1])) {
        throw new Fail("history", "record " + (i + 1) + " is said to be in block " + hh + ": heights must not decrease and must lie within 1 and the header's");
      }
    }
    if (state && n > 0 && (heights[0] !== state.registeredHeight || heights[n - 1] !== state.updatedHeight)) {
      throw new Fail("history", "the record heights do not start at the proven registration height and end at the proven latest height");
    }
    var payloads = new Array(n);
    for (var r = 0; r < n; r++) {
      var d = decodeRecord(b.history[r], G.chainId);
      if (d[1]) throw new Fail("history", "record " + (r + 1) + ": " + d[1]);
      if (d[0].itemId !== itemId) throw new Fail("history", "record " + (r + 1) + " is about item " + d[0].itemId + ", not " + itemId);
      payloads[r] = d[0];
    }

    // 8. Signatures: WebCrypto works on them in parallel, a chunk at a time; the first failure
    // in record order is reported.
    await inChunks(n, function (i) {
      var env = b.history[i];
      return verifySignature(env.signer, env.payload, env.signature);
    }, function (i, v) {
      if (v !== "valid") throw new Fail("signature", "record " + (i + 1) + ": " + SIG_MESSAGES[v]);
    });

    // 9. Chain.
    var ids = await inChunks(n, function (i) {
      return recordId(b.history[i]);
    });
    for (var c = 0; c < n; c++) {
      var prev = payloads[c].prev;
      if (c === 0) {
        if (prev.length !== 0) throw new Fail("chain", "record 1 names a previous record; the history must start at the registration");
      } else if (!eq(prev, ids[c - 1])) {
        throw new Fail("chain", "record " + (c + 1) + " does not follow record " + c + " (its prev is not that record's id)");
      }
    }
    if (state && (n === 0 || !eq(state.lastRecord, ids[n - 1]))) {
      throw new Fail("chain", "the history does not end at the record the proven state names as latest");
    }

    // 10. Rules: what the certified state and the signed records say must agree (docs/page.md).
    if (state) checkRules(G, membership, item, state, b.history, payloads, ids, heights, header.timeMs);

    // Checks out.
    out.itemId = itemId;
    out.height = num(H);
    out.headerTimeMs = num(header.timeMs);
    out.blockHashHex = hex(blockHash);
    out.signers = signers;
    out.validators = set.size;
    out.registered = !!state;
    out.steps = describeSteps(membership, b.history, payloads, heights);
    out.state = state ? describeState(membership, state, out.steps, ids, H) : null;
    var reasons = [];
    if (!state) {
      reasons.push("never registered");
    } else {
      if (state.status === 2) reasons.push("decommissioned");
      for (var f = 0; f < state.flags.length; f++) {
        reasons.push("flagged " + flagName(state.flags[f].kind) + " by " + describeHolder(state.flags[f].setBy));
      }
    }
    out.notClean = reasons;
    var maxAge = options.maxAgeMs === undefined ? null : options.maxAgeMs;
    var age = null;
    if (nowMs !== null) {
      var t = Number(header.timeMs);
      age = nowMs > t ? nowMs - t : 0;
      if (maxAge === null) maxAge = G.freshnessMs;
    }
    out.ageMs = age;
    out.maxAgeMs = maxAge === null ? 0 : maxAge;
    var stale = maxAge !== null && maxAge !== 0 && (age === null || age > maxAge);
    out.verdict = stale ? "stale" : reasons.length === 0 ? "clean" : "not_clean";
    out.failedCheck = "";
    out.message = !stale
      ? ""
      : age === null
        ? "without a clock the proof's age is unknown, and an age limit of " + Math.round(maxAge / 1000) + " s was asked for"
        : "the proof is " + Math.round(age / 1000) + " s old; the limit is " + Math.round(maxAge / 1000) + " s: ask another node";
    return out;
  }

  function holderEquals(a, b) {
    var ka = a ? a.$kind : undefined;
    var kb = b ? b.$kind : undefined;
    if (ka !== kb) return false;
    if (!ka) return true;
    return ka === "organization" ? a.organization === b.organization : eq(a.holderKey, b.holderKey);
  }
  function holderOfSigner(membership, keyHex, signer, h) {
    var o = membership.orgOfKeyAt(keyHex, h);
    var x = newMsg(S.Holder);
    if (o) {
      x.$kind = "organization";
      x.organization = o.id;
    } else {
      x.$kind = "holderKey";
      x.holderKey = signer;
    }
    return x;
  }
  // The "rules" check of the browser: everything the certified state says that follows from the
  // signed records and the certified membership alone. Not the custody rules' authorisation
  // table (docs/page.md says what that leaves to the validators).
  var MAX_TIMESTAMP_SKEW_MS = 600000n;
  function checkRules(G, membership, item, state, history, payloads, ids, heights, headerTimeMs) {
    var n = history.length;
    var custodian = null;
    var flags = [];
    var status = 0;
    var historyBytes = 0n;
    for (var i = 0; i < n; i++) {
      var p = payloads[i];
      var env = history[i];
      var h = heights[i];
      var kh = hex(env.signer);
      var label = "record " + (i + 1) + " (" + TYPE_OF_BODY[p.$body] + "): ";
      var standing = membership.standing(kh, h);
      if (standing) throw new Fail("rules", label + standing);
      // A record's block is never later than the certified header, and no block takes a record
      // signed more than 10 minutes after its own time.
      if (p.timestampMs > headerTimeMs + MAX_TIMESTAMP_SKEW_MS) {
        throw new Fail(
          "rules",
          label + "timestamp " + p.timestampMs + " is more than 10 minutes after the block time " + headerTimeMs + "; check the signer's clock"
        );
      }
      if (i === 0) {
        if (p.$body !== "register") throw new Fail("rules", label + "item " + p.itemId + " is not registered");
        var org = membership.orgOfKeyAt(kh, h);
        if (!org || org.id !== state.brand) {
          throw new Fail("rules", label + 'the registration is not signed by a valid key of the brand "' + state.brand + '" at height ' + h);
        }
        var version = membership.versionAt(org, h);
        if (version.roles.indexOf(1) < 0) throw new Fail("rules", label + 'only a BRAND registers items; "' + org.id + '" is not one at height ' + h);
        var region = item.gtin14.substring(1, 13);
        var owns = false;
        for (var k = 0; k < version.gs1CompanyPrefixes.length; k++) if (region.startsWith(version.gs1CompanyPrefixes[k])) owns = true;
        if (!owns) throw new Fail("rules", label + "GTIN " + item.gtin14 + ' is not under a GS1 company prefix of "' + org.id + '"');
        if (p.register.custodian) {
          custodian = p.register.custodian;
        } else {
          custodian = newMsg(S.Holder);
          custodian.$kind = "organization";
          custodian.organization = org.id;
        }
        status = 1;
      } else {
        if (p.$body === "register") throw new Fail("rules", label + "item " + p.itemId + ' is already registered by "' + state.brand + '"');
        if (status === 2) throw new Fail("rules", label + "item " + p.itemId + " was decommissioned; no record may follow");
        switch (p.$body) {
          case "transfer":
            custodian = p.transfer.to || newMsg(S.Holder);
            break;
          case "reassign":
            custodian = newMsg(S.Holder);
            custodian.$kind = "holderKey";
            custodian.holderKey = p.reassign.newHolderKey;
            break;
          case "flag":
            flags.push({ kind: p.flag.kind, setBy: holderOfSigner(membership, kh, env.signer, h), record: ids[i], note: p.flag.note });
            break;
          case "clearFlag":
            for (var f = 0; f < flags.length; f++) {
              if (flags[f].kind === p.clearFlag.kind) {
                flags.splice(f, 1);
                break;
              }
            }
            break;
          case "decommission":
            status = 2;
            break;
        }
      }
      historyBytes += BigInt(encode(env, S.Envelope).length);
    }
    var bad = function (what) {
      throw new Fail("rules", "the proven state's " + what + " is not what its records say");
    };
    if (!holderEquals(state.custodian, custodian)) bad("custodian");
    if (state.status !== status) bad("status");
    if (state.flags.length !== flags.length) bad("flags");
    for (var j = 0; j < flags.length; j++) {
      var sf = state.flags[j];
      if (sf.kind !== flags[j].kind || !holderEquals(sf.setBy, flags[j].setBy) || !eq(sf.record, flags[j].record) || sf.note !== flags[j].note) bad("flags");
    }
    var reg = payloads[0].register;
    var attrs = newMsg(S.Register);
    attrs.attributes = state.attributes;
    attrs.documents = state.documents;
    var regAttrs = newMsg(S.Register);
    regAttrs.attributes = reg.attributes;
    regAttrs.documents = reg.documents;
    if (!eq(encode(attrs, S.Register), encode(regAttrs, S.Register))) bad("attributes and documents");
    if (state.historyBytes !== historyBytes) bad("history size");
  }

  function orgName(membership, id, h) {
    var o = membership.orgs.get(id);
    if (!o || o.versions.length === 0) return "";
    return membership.versionAt(o, h).displayName;
  }
  function holderView(membership, holder, h) {
    if (!holder || !holder.$kind) return {};
    if (holder.$kind === "organization") return { organization: holder.organization, name: orgName(membership, holder.organization, h) };
    return { key: hex(holder.holderKey) };
  }
  function holderText(membership, holder, h) {
    if (!holder || !holder.$kind) return "nobody";
    if (holder.$kind === "organization") {
      var name = orgName(membership, holder.organization, h);
      return name ? name + " (" + holder.organization + ")" : holder.organization;
    }
    return "holder key " + hex(holder.holderKey).substring(0, 16) + "…";
  }
  function describeSteps(membership, history, payloads, heights) {
    var steps = [];
    for (var i = 0; i < history.length; i++) {
      var p = payloads[i];
      var h = heights[i];
      var kh = hex(history[i].signer);
      var org = membership.orgOfKeyAt(kh, h);
      var who = org ? orgName(membership, org.id, h) || org.id : "holder key " + kh.substring(0, 16) + "…";
      var type = TYPE_OF_BODY[p.$body];
      var body = p[p.$body];
      var summary;
      var withNote = function (text, note) {
        return note ? text + ": " + note : text;
      };
      switch (p.$body) {
        case "register":
          summary = "Registered by " + who + (body.custodian ? ", in the custody of " + holderText(membership, body.custodian, h) : "");
          break;
        case "transfer":
          summary = "Transferred by " + who + " to " + holderText(membership, body.to, h);
          break;
        case "attest":
          summary = withNote("Attested " + (VERDICT_NAMES[body.verdict] || "unspecified") + " by " + who, body.note);
          break;
        case "flag":
          summary = withNote("Flagged " + flagName(body.kind) + " by " + who, body.note);
          break;
        case "clearFlag":
          summary = withNote("Flag " + flagName(body.kind) + " cleared by " + who, body.note);
          break;
        case "service":
          summary = withNote("Serviced (" + (SERVICE_NAMES[body.kind] || "unspecified") + ") by " + who, body.note);
          break;
        case "decommission":
          summary = withNote("Decommissioned (" + (DECOMMISSION_NAMES[body.kind] || "unspecified") + ") by " + who, body.reason);
          break;
        case "reassign":
          summary = withNote("Custody reassigned by " + who + " to holder key " + hex(body.newHolderKey).substring(0, 16) + "…", body.reason);
          break;
      }
      steps.push({
        index: i,
        height: num(h),
        timeMs: num(p.timestampMs),
        type: type,
        signerHex: kh,
        organization: org ? org.id : "",
        organizationName: org ? orgName(membership, org.id, h) : "",
        summary: summary,
        recordIdHex: null,
      });
    }
    return steps;
  }
  function describeState(membership, state, steps, ids, H) {
    for (var i = 0; i < steps.length; i++) steps[i].recordIdHex = hex(ids[i]);
    var flags = state.flags.map(function (f) {
      var x = { kind: flagName(f.kind), note: f.note, recordHex: hex(f.record), timeMs: null };
      if (f.setBy && f.setBy.$kind === "organization") {
        x.byOrganization = f.setBy.organization;
        x.byOrganizationName = orgName(membership, f.setBy.organization, H);
      } else if (f.setBy && f.setBy.$kind === "holderKey") {
        x.byKeyHex = hex(f.setBy.holderKey);
      }
      for (var j = 0; j < steps.length; j++) if (steps[j].recordIdHex === x.recordHex) x.timeMs = steps[j].timeMs;
      return x;
    });
    return {
      brand: state.brand,
      brandName: orgName(membership, state.brand, H),
      custodian: holderView(membership, state.custodian, H),
      status: STATUS_NAMES[state.status] || String(state.status),
      flags: flags,
      attributes: state.attributes.map(function (a) {
        return { key: a.key, value: a.value };
      }),
      documents: state.documents.map(function (d) {
        return { name: d.name, sha256Hex: hex(d.sha256) };
      }),
      registeredHeight: num(state.registeredHeight),
      updatedHeight: num(state.updatedHeight),
      recordCount: num(state.recordCount),
    };
  }

  return {
    loadGenesis: loadGenesis,
    verifyBundle: verifyBundle,
    parseItemId: parseItemId,
    // For tests and tools; not part of the page's contract.
    _internal: {
      sha256: sha256,
      hex: hex,
      fromHex: fromHex,
      verifySignature: verifySignature,
      merkleLeafHash: merkleLeafHash,
      merkleRootOfLeaves: merkleRootOfLeaves,
      verifyInclusion: verifyInclusion,
      decode: decode,
      encode: encode,
      parseStrict: parseStrict,
      parseCanonical: parseCanonical,
      schemas: S,
      P: P,
      Y8: Y8,
      PbError: PbError,
    },
  };
})();
if (typeof globalThis !== "undefined") globalThis.HallmarkVerifier = HallmarkVerifier;
