#!/usr/bin/env python3
"""Validates EPCIS 2.0 JSON documents against GS1's EPCIS 2.0 JSON schema.

    validate_epcis.py SCHEMA [--cbv-words FILE] DOCUMENT...
    validate_epcis.py SCHEMA --schema-only DOCUMENT...

With --schema-only (the import's test documents, which use every form EPCIS 2.0 allows, compact
IRIs and private vocabularies included), only the schema is checked, with formats.

Exits 0 when every document is valid, 1 otherwise (every error is printed with its path).

Beyond the schema:
  * Formats are checked. jsonschema checks "format" only with a format checker, and checks
    "uri" only when rfc3987 or rfc3986-validator is installed; without them the schema would
    accept "stole" as a bizStep (a non-GS1 vocabulary URI). This script registers an RFC 3986
    URI check (and an RFC 3339 date-time check) when the installed jsonschema lacks one.
  * Every bizStep, disposition, persistent disposition and source/destination type must be a
    bare CBV 2.0 word from the schema's own enumerations, not just any URI.
  * Event ids are unique.
  * With --cbv-words (lines "<vocabulary> <word>", written from core/epcis.h's lists), the
    exporter's word lists must equal the schema's enumerations exactly.
  * Negative controls: mutated copies of the first event that the schema must reject, so a
    validator that checks nothing cannot pass this test.
"""

import copy
import json
import re
import sys

import jsonschema

# RFC 3986 §3 (URI, absolute with optional query and fragment), from its ABNF.
_UNRESERVED = r"[A-Za-z0-9\-._~]"
_PCT = r"%[0-9A-Fa-f]{2}"
_SUB = r"[!$&'()*+,;=]"
_PCHAR = rf"(?:{_UNRESERVED}|{_PCT}|{_SUB}|[:@])"
_SEGMENT = rf"{_PCHAR}*"
_SEGMENT_NZ = rf"{_PCHAR}+"
_USERINFO = rf"(?:{_UNRESERVED}|{_PCT}|{_SUB}|:)*"
_HOST = rf"(?:\[[0-9A-Fa-f:.vV]+\]|(?:{_UNRESERVED}|{_PCT}|{_SUB})*)"
_AUTHORITY = rf"(?:{_USERINFO}@)?{_HOST}(?::[0-9]*)?"
_HIER = (rf"(?://{_AUTHORITY}(?:/{_SEGMENT})*"
         rf"|/(?:{_SEGMENT_NZ}(?:/{_SEGMENT})*)?"
         rf"|{_SEGMENT_NZ}(?:/{_SEGMENT})*"
         r"|)")
_QUERY = rf"(?:{_PCHAR}|[/?])*"
URI_RE = re.compile(rf"^[A-Za-z][A-Za-z0-9+\-.]*:{_HIER}(?:\?{_QUERY})?(?:#{_QUERY})?\Z")

# RFC 3339 §5.6 date-time.
DATE_TIME_RE = re.compile(
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)"
    r"(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)\Z")


def format_checker():
    """A format checker that certainly checks "uri" and "date-time"; returns it and notes."""
    checker = jsonschema.FormatChecker()
    notes = []
    if "uri" not in checker.checkers:
        @checker.checks("uri")
        def _uri(value):  # pylint: disable=unused-variable
            return not isinstance(value, str) or bool(URI_RE.match(value))
        notes.append("uri: RFC 3986 regex of this script")
    else:
        notes.append("uri: jsonschema's own (rfc3987 / rfc3986-validator)")
    if "date-time" not in checker.checkers:
        @checker.checks("date-time")
        def _date_time(value):  # pylint: disable=unused-variable
            return not isinstance(value, str) or bool(DATE_TIME_RE.match(value))
        notes.append("date-time: RFC 3339 regex of this script")
    else:
        notes.append("date-time: jsonschema's own")
    return checker, notes


def enum_of(schema, name):
    """The bare words of a CBV vocabulary definition: its anyOf branch with an enum."""
    for branch in schema["definitions"][name]["anyOf"]:
        if "enum" in branch:
            return set(branch["enum"])
    raise SystemExit(f"schema definition {name} has no enumeration; has the schema changed?")


def where(error):
    return "/" + "/".join(str(p) for p in error.absolute_path)


def schema_only(schema_path, paths):
    """Checks each document against the schema alone; 0 when all are valid."""
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    checker, notes = format_checker()
    validator = cls(schema, format_checker=checker)
    failures = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        for e in errors:
            print(f"FAIL {path}: {where(e)}: {e.message}")
        failures += len(errors)
        print(f"ok   {path}: {len(doc.get('epcisBody', {}).get('eventList', []))} events, "
              f"{len(errors)} schema errors")
    print(f"formats: {'; '.join(notes)}")
    if failures:
        print(f"FAILED: {failures} schema errors in {len(paths)} import test documents")
        return 1
    print(f"PASSED: {len(paths)} import test documents valid against GS1's EPCIS 2.0 JSON schema")
    return 0


def main(argv):
    cbv_words = None
    if len(argv) >= 3 and argv[2] == "--schema-only":
        return schema_only(argv[1], argv[3:])
    if len(argv) >= 4 and argv[2] == "--cbv-words":
        cbv_words = argv[3]
        argv = argv[:2] + argv[4:]
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    checker, notes = format_checker()
    validator = cls(schema, format_checker=checker)

    words = {
        "bizStep": enum_of(schema, "bizStep"),
        "disposition": enum_of(schema, "disposition"),
        "type": enum_of(schema, "source-dest-type"),
    }

    failures = 0
    if cbv_words is not None:
        ours = {"bizStep": set(), "disposition": set(), "type": set()}
        with open(cbv_words, encoding="utf-8") as f:
            for line in f:
                vocabulary, word = line.split()
                ours["type" if vocabulary == "source-dest-type" else vocabulary].add(word)
        for kind, theirs in words.items():
            if ours[kind] != theirs:
                print(f"FAIL the exporter's {kind} list differs from the schema's: only ours "
                      f"{sorted(ours[kind] - theirs)}, only the schema's {sorted(theirs - ours[kind])}")
                failures += 1
        if not failures:
            print(f"ok   the exporter's CBV word lists equal the schema's enumerations "
                  f"({', '.join(f'{len(v)} {k}' for k, v in words.items())})")
    events_total = 0
    first_event = None
    first_doc = None
    for path in argv[2:]:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        for e in errors:
            print(f"FAIL {path}: {where(e)}: {e.message}")
        failures += len(errors)

        events = doc.get("epcisBody", {}).get("eventList", [])
        if not events:
            print(f"FAIL {path}: no events")
            failures += 1
        ids = [ev.get("eventID") for ev in events]
        if len(set(ids)) != len(ids):
            print(f"FAIL {path}: event ids repeat")
            failures += 1
        for i, ev in enumerate(events):
            def word(kind, value, at):
                nonlocal failures
                if value not in words[kind]:
                    print(f"FAIL {path}: /epcisBody/eventList/{i}/{at}: {value!r} is not a "
                          f"CBV 2.0 {kind} word")
                    failures += 1
            word("bizStep", ev.get("bizStep"), "bizStep")
            if "disposition" in ev:
                word("disposition", ev["disposition"], "disposition")
            for op in ("set", "unset"):
                for w in ev.get("persistentDisposition", {}).get(op, []):
                    word("disposition", w, f"persistentDisposition/{op}")
            for lst in ("sourceList", "destinationList"):
                for entry in ev.get(lst, []):
                    word("type", entry.get("type"), f"{lst}/type")
        events_total += len(events)
        if first_event is None and events:
            first_doc, first_event = doc, events[0]
        print(f"ok   {path}: {len(events)} events, {len(errors)} schema errors")

    # Negative controls: each mutation of the first event must be rejected by the schema.
    controls = {
        "eventTimeZoneOffset 'Z'": lambda ev: ev.__setitem__("eventTimeZoneOffset", "Z"),
        "eventTime 'yesterday' (date-time format)": lambda ev: ev.__setitem__("eventTime",
                                                                              "yesterday"),
        "epcList ['not a uri'] (uri format)": lambda ev: ev.__setitem__("epcList", ["not a uri"]),
        "bizStep 'stole' (not CBV, not a URI)": lambda ev: ev.__setitem__("bizStep", "stole"),
        "action missing": lambda ev: ev.pop("action"),
        "action 'MOVE'": lambda ev: ev.__setitem__("action", "MOVE"),
        "an unprefixed extension field": lambda ev: ev.__setitem__("recordId", "x"),
    }
    if first_event is not None:
        for name, mutate in controls.items():
            doc = copy.deepcopy(first_doc)
            mutate(doc["epcisBody"]["eventList"][0])
            if validator.is_valid(doc):
                print(f"FAIL negative control not rejected by the schema: {name}")
                failures += 1
        print(f"ok   {len(controls)} negative controls rejected")

    print(f"schema: {schema.get('$id', argv[1])} ({cls.__name__}); formats: {'; '.join(notes)}")
    if failures:
        print(f"FAILED: {failures} problems in {len(argv) - 2} documents")
        return 1
    print(f"PASSED: {len(argv) - 2} documents, {events_total} events valid against GS1's "
          "EPCIS 2.0 JSON schema, with CBV 2.0 words only")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
