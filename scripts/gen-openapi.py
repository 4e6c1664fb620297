#!/usr/bin/env python3
"""Writes docs/openapi.json, the OpenAPI 3 description of hallmarkd's HTTP API.

The routes, parameters and answers are written below by hand; the schemas of the bodies come
from proto/*.proto, so that they cannot drift from what the node prints. The JSON mapping rules
(docs/api.md, "Conventions") decide the schema of each field:

  - every field outside a oneof that is not a singular message is printed always, so it is
    `required`: numbers, strings, bools, enums and every repeated field (as []);
  - a singular message field and each member of a oneof are printed only when set;
  - 64-bit integers are JSON strings of digits, bytes are base64, enums are their names.

Run from the repository root after changing an answer's message or a route:
    python3 scripts/gen-openapi.py
tests/unit/node/openapi_test.cpp checks that the routes equal the node's and that the required
properties are in real answers.
"""

import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCALARS = {
    "string": {"type": "string"},
    "bytes": {"type": "string", "format": "byte"},
    "bool": {"type": "boolean"},
    "int32": {"type": "integer", "format": "int32"},
    "uint32": {"type": "integer", "format": "uint32", "minimum": 0},
    "int64": {"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"},
    "uint64": {"type": "string", "format": "uint64", "pattern": "^[0-9]+$"},
    "double": {"type": "number", "format": "double"},
    "float": {"type": "number", "format": "float"},
}


def parse_protos():
    """Messages: name -> [(label, type, name, oneof, comment)]; enums: name -> [value names]."""
    messages, enums = {}, {}
    for fname in sorted(os.listdir(os.path.join(ROOT, "proto"))):
        if not fname.endswith(".proto"):
            continue
        text = open(os.path.join(ROOT, "proto", fname), encoding="utf-8").read()
        current, kind, oneof, depth = None, None, None, 0
        for raw in text.splitlines():
            line = raw.split("//")[0].strip()
            comment = raw.split("//", 1)[1].strip() if "//" in raw else ""
            m = re.match(r"^(message|enum)\s+(\w+)\s*\{", line)
            if m and depth == 0:
                kind, current = m.group(1), m.group(2)
                (messages if kind == "message" else enums)[current] = []
                depth = 1
                continue
            if current is None:
                continue
            m = re.match(r"^oneof\s+(\w+)\s*\{", line)
            if m:
                oneof = m.group(1)
                depth += 1
                continue
            if line.startswith("}"):
                depth -= 1
                if depth == 1:
                    oneof = None
                if depth == 0:
                    current = None
                continue
            if kind == "enum":
                m = re.match(r"^(\w+)\s*=\s*\d+;", line)
                if m:
                    enums[current].append(m.group(1))
                continue
            m = re.match(r"^(repeated\s+)?([\w.]+)\s+(\w+)\s*=\s*\d+\s*;", line)
            if m:
                label = "repeated" if m.group(1) else ""
                messages[current].append((label, m.group(2), m.group(3), oneof, comment))
    return messages, enums


def field_schema(ftype, enums):
    if ftype in SCALARS:
        return dict(SCALARS[ftype])
    if ftype in enums:
        return {"type": "string", "enum": enums[ftype]}
    return {"$ref": "#/components/schemas/" + ftype}


def schemas_for(roots, messages, enums):
    out, todo = {}, list(roots)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        props, required = {}, []
        for label, ftype, fname, oneof, comment in messages[name]:
            s = field_schema(ftype, enums)
            if label == "repeated":
                s = {"type": "array", "items": s}
            if comment:
                s["description"] = comment
            props[fname] = s
            if ftype in messages:
                todo.append(ftype)
            if oneof is None and (label == "repeated" or ftype not in messages):
                required.append(fname)
        schema = {"type": "object", "properties": props}
        if required:
            schema["required"] = required
        oneofs = sorted({f[3] for f in messages[name] if f[3]})
        if oneofs:
            schema["description"] = "At most one of each oneof is present: " + "; ".join(
                o + " (" + ", ".join(f[2] for f in messages[name] if f[3] == o) + ")" for o in oneofs)
        out[name] = schema
    return out


def ref(name):
    return {"$ref": "#/components/schemas/" + name}


def json_body(name, description):
    return {"description": description,
            "content": {"application/json": {"schema": ref(name)},
                        "application/x-protobuf": {"schema": {"type": "string",
                                                              "format": "binary"}}}}


def errors(*codes):
    text = {
        "400": "Invalid input: a bad parameter, body or id (code bad_request, bad_item_id, "
               "limit_exceeded, or a rejection code of docs/api.md)",
        "404": "Not found (code not_found)",
        "405": "Method not allowed (Allow names the methods)",
        "410": "Gone: the block was pruned, or is before the snapshot this node joined from "
               "(code pruned; first_height is the first block it holds, docs/state-sync.md)",
        "413": "Body too large",
        "429": "Rate limited or mempool full (Retry-After), or busy: the mempool holds what the "
               "network commits in mempool.admission_ms (code busy; retry after a short backoff)",
        "500": "The node could not read its store (code internal)",
        "503": "Not ready (code no_certified_header or unavailable)",
    }
    return {c: json_body("ErrorResponse", text[c]) for c in codes}


def param(name, where, description, schema=None, required=False):
    return {"name": name, "in": where, "description": description, "required": required,
            "schema": schema or {"type": "string"}}


ITEM_ID = param("id", "path",
                "Item id in any accepted form (docs/api.md, \"Item ids\"). The router takes one or "
                "more path segments here (its pattern {id...}), so the canonical "
                "01/<GTIN-14>/21/<serial> may be sent with its slashes as they are or "
                "percent-encoded.", required=True)


DIGITAL_LINK = param("link", "path",
                     "The rest of a GS1 Digital Link path after /01/ (or /gtin/): "
                     "<GTIN>[/22/<cpv>][/10/<lot>]/21/<serial>, short aliases cpv, lot and ser "
                     "allowed, values percent-encoded as GS1 asks (the router's pattern "
                     "{link...}: one or more segments).", required=True)

LINK_TYPE = param("linkType", "query",
                  "linkset or all: the linkset; a link type (gs1:epcis, "
                  "https://gs1.org/voc/epcis, hallmark:proof, describedby, gs1:homepage) the "
                  "item has: 307 to it; gs1:pip, gs1:defaultLink and any other: the page")


def resolver(alias):
    """GET /01/{link} or /gtin/{link}: the GS1 Digital Link resolver (docs/api.md, "Resolver")."""
    return {
        "summary": "GS1 Digital Link resolver" + (" (short alias gtin)" if alias else "") +
                   ": the item page, its JSON or its linkset",
        "description": "Content negotiation as a GS1-Conformant resolver: ?linkType=linkset "
                       "or Accept: application/linkset+json gives the RFC 9264 linkset; "
                       "Accept: application/json (weighted above text/html) the item as GET "
                       "/v1/items/{id}; anything else the consumer page, which verifies the "
                       "item's proof bundle in the browser. A path that names no item: 400 (an "
                       "HTML page, or ErrorResponse JSON when JSON was asked for).",
        "parameters": [DIGITAL_LINK, LINK_TYPE,
                       param("Accept", "header", "text/html (default), application/json or "
                                                 "application/linkset+json")],
        "responses": {
            "200": {"description": "The page, the item or the linkset",
                    "content": {"text/html": {"schema": {"type": "string"}},
                                "application/json": {"schema": ref("ItemResponse")},
                                "application/linkset+json": {"schema": {"type": "object"}}}},
            "307": {"description": "The link of the requested linkType (Location)"},
            "400": {"description": "The path names no item: a short HTML page saying why "
                                   "(ErrorResponse JSON, code bad_item_id, when JSON was asked "
                                   "for)",
                    "content": {"text/html": {"schema": {"type": "string"}},
                                "application/json": {"schema": ref("ErrorResponse")}}},
            **errors("500")}}


def with_preflight(item):
    """Adds the OPTIONS preflight of a public read route (docs/api.md, "CORS")."""
    item["options"] = {
        "summary": "CORS preflight",
        "responses": {"204": {"description": "Access-Control-Allow-Origin: *, "
                                             "Allow-Methods GET, HEAD, OPTIONS, "
                                             "Allow-Headers Accept, Max-Age 86400"}}}
    return item


PUBLIC_READS = ["/v1/items", "/v1/items/{id}", "/v1/items/{id}/proof", "/v1/items/{id}/epcis",
                "/v1/status", "/v1/genesis", "/01/{link}", "/gtin/{link}"]


def paths():
    out = routes()
    for path in PUBLIC_READS:
        with_preflight(out[path])
    return out


def routes():
    get, post = "get", "post"
    return {
        "/v1/records": {post: {
            "summary": "Submit a signed record",
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": ref("Envelope")},
                "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}}}},
            "responses": {"202": json_body("SubmitResponse", "Accepted into the mempool"),
                          "200": json_body("SubmitResponse", "Already pending or committed"),
                          **errors("400", "413", "429")}}},
        "/v1/records/{id}": {get: {
            "summary": "Where a record stands: pending, committed, rejected or unknown",
            "parameters": [param("id", "path", "Record id, 64 hex digits", required=True)],
            "responses": {"200": json_body("RecordStatusResponse", "The record's status"),
                          **errors("400", "500")}}},
        "/v1/items": {get: {
            "summary": "List items by brand and/or current flag, newest change first",
            "description": "Answered from the listing index (docs/architecture.md). A page costs "
                           "time proportional to its size. An item that changes while a client "
                           "pages moves to the front: later pages neither repeat nor skip the "
                           "items that did not change.",
            "parameters": [
                param("brand", "query", "Only this brand's items (organisation id, 1 to 32 "
                      "bytes); an unknown brand gives an empty list"),
                param("flag", "query", "Only items carrying this flag now",
                      {"type": "string",
                       "enum": ["stolen", "lost", "counterfeit-suspected", "recalled"]}),
                param("since", "query", "Only items whose state changed at or after this block "
                      "time: milliseconds since 1970, a date (2026-12-01, midnight UTC) or RFC "
                      "3339 (2026-12-01T08:30:00Z)"),
                param("limit", "query", "Items per page",
                      {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
                param("after", "query", "The `next` of the previous page (TIME.ITEMKEY)")],
            "responses": {"200": json_body("ItemListResponse", "One page"),
                          **errors("400", "500")}}},
        "/v1/items/{id}": {get: {
            "summary": "An item's state and chain of custody",
            "parameters": [ITEM_ID],
            "responses": {"200": json_body("ItemResponse",
                                           "The item; registered false (and no state) when "
                                           "unknown"),
                          **errors("400", "500")}}},
        "/v1/items/{id}/proof": {get: {
            "summary": "The item's proof bundle, to check against genesis.json (docs/proofs.md)",
            "parameters": [ITEM_ID, param("since", "query",
                                          "A governance height the client already checked",
                                          SCALARS["uint64"])],
            "responses": {"200": json_body("ProofBundle", "The proof bundle"),
                          **errors("400", "500", "503")}}},
        "/v1/items/{id}/epcis": {get: {
            "summary": "The item's chain of custody as a GS1 EPCIS 2.0 JSON-LD document "
                       "(docs/epcis.md), from a proof bundle the node checked against genesis",
            "parameters": [ITEM_ID],
            "responses": {"200": {"description": "The EPCIS document",
                                  "content": {"application/ld+json": {"schema": {
                                      "type": "object"}}}},
                          **errors("400", "404", "500", "503")}}},
        "/v1/genesis": {get: {
            "summary": "The node's genesis: deterministic Protobuf bytes (their SHA-256 is the "
                       "genesis hash) with Accept: application/x-protobuf, else JSON",
            "responses": {"200": {
                "description": "The genesis; header X-Hallmark-Genesis-Hash holds its hash "
                               "(64 hex digits)",
                "headers": {"X-Hallmark-Genesis-Hash": {"schema": {"type": "string"}}},
                "content": {"application/json": {"schema": ref("Genesis")},
                            "application/x-protobuf": {"schema": {"type": "string",
                                                                  "format": "binary"}}}},
                          **errors("500")}}},
        "/01/{link}": {get: resolver(False)},
        "/gtin/{link}": {get: resolver(True)},
        "/v1/items:check": {post: {
            "summary": "The listing-time check of up to 1,000 ids",
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": ref("CheckRequest")},
                "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}}}},
            "responses": {"200": json_body("CheckResponse", "One result per id, in order"),
                          **errors("400", "413", "500")}}},
        "/v1/events": {get: {
            "summary": "Server-Sent Events: committed records as they happen, resumable",
            "description": "text/event-stream, chunked. Each event: `id: HEIGHT.POSITION`, "
                           "`event: <record type>`, `data: <FeedEvent as one line of JSON>`; "
                           "`event: caught_up` (data: a height) once the history is sent; "
                           "`: keep-alive` comments every 15 s (docs/api.md).",
            "parameters": [
                param("since", "query", "Send the events of the blocks above this height "
                                        "(0: the whole chain), then live; absent: live only",
                      SCALARS["uint64"]),
                param("brand", "query", "Only items of this brand (organisation id)"),
                param("item", "query", "Only this item, in any accepted id form"),
                param("type", "query", "Only these record types; repeatable, comma-separated"),
                param("flag", "query", "Only flag/clear_flag events of these kinds; repeatable, "
                                       "comma-separated"),
                param("Last-Event-ID", "header", "Resume right after this event id (H.P); "
                                                 "takes precedence over since")],
            "responses": {"200": {"description": "An event stream; each event's data is a "
                                                 "FeedEvent (components/schemas/FeedEvent)",
                                  "content": {"text/event-stream": {"schema": {
                                      "type": "string"}}}},
                          **errors("400", "410", "500", "503")}}},
        "/v1/status": {get: {
            "summary": "The node: head, validators, peers, mempool, version",
            "responses": {"200": json_body("StatusResponse", "The node's status")}}},
        "/v1/blocks/{height}": {get: {
            "summary": "A committed block with its certificate",
            "parameters": [param("height", "path", "Block height", {"type": "integer",
                                                                    "minimum": 0},
                                 required=True)],
            "responses": {"200": json_body("BlockView", "The block"),
                          **errors("400", "404", "410", "500")}}},
        "/v1/evidence": {get: {
            "summary": "Committed evidence of equivocation, newest first",
            "parameters": [
                param("before", "query", "HEIGHT.POSITION, the `next` of the previous page"),
                param("height", "query", "Only the evidence committed at this height",
                      {"type": "integer", "minimum": 0}),
                param("validator", "query", "Only offences of this validator key (64 hex), "
                      "oldest first"),
                param("limit", "query", "Pieces per page",
                      {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100})],
            "responses": {"200": json_body("EvidenceListResponse", "One page"),
                          **errors("400", "500")}}},
        "/v1/network": {get: {
            "summary": "Members, signing keys, validators and governance parameters",
            "responses": {"200": json_body("NetworkResponse", "The consortium at head + 1")}}},
        "/v1/governance/proposals": {get: {
            "summary": "Pending governance proposals",
            "responses": {"200": json_body("ProposalListResponse", "Pending proposals")}}},
        "/v1/governance/proposals/{id}": {get: {
            "summary": "A proposal: pending, completed, expired or submitted",
            "parameters": [param("id", "path", "Proposal (record) id, 64 hex digits",
                                 required=True)],
            "responses": {"200": json_body("ProposalView", "The proposal"),
                          **errors("400", "404", "500", "503")}}},
        "/v1/health": {get: {
            "summary": "Liveness",
            "responses": {"200": json_body("HealthResponse", "The node answers")}}},
        "/metrics": {get: {
            "summary": "Prometheus metrics (text exposition format 0.0.4)",
            "responses": {"200": {"description": "Metrics",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    }


def main():
    messages, enums = parse_protos()
    roots = ["ErrorResponse", "Envelope", "SubmitResponse", "RecordStatusResponse",
             "ItemListResponse", "ItemResponse", "ProofBundle", "CheckRequest", "CheckResponse",
             "StatusResponse", "BlockView", "EvidenceListResponse", "NetworkResponse",
             "ProposalListResponse", "ProposalView", "HealthResponse", "FeedEvent", "Genesis"]
    schemas = schemas_for(roots, messages, enums)
    doc = {
        "openapi": "3.0.3",
        "info": {
            "title": "Hallmark node API",
            "version": "1",
            "description": "hallmarkd's HTTP API (docs/api.md). Bodies are JSON through "
                           "Protobuf's JSON mapping with the .proto field names, or binary "
                           "Protobuf (application/x-protobuf). Every field outside a oneof "
                           "that is not a singular message is always printed (required "
                           "below). 64-bit integers are strings of digits, bytes are base64, "
                           "ids and keys in answers are lower-case hex strings. Path patterns "
                           "map to the router's: {id} of an item route is the router's "
                           "{id...} (one or more segments); other {name}s are one segment.",
        },
        "paths": paths(),
        "components": {"schemas": dict(sorted(schemas.items()))},
    }
    out = os.path.join(ROOT, "docs", "openapi.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote", out, file=sys.stderr)


if __name__ == "__main__":
    main()
