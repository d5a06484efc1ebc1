#!/bin/sh
# t0900: schemas/ is valid JSON Schema 2020-12 for an independent implementation
# (Debian's python3-jsonschema), which gives the example records in
# tests/vectors/records/ the same verdicts the C validator gives them in
# tests/unit/test_schema.c: every valid/ example passes, every invalid/ one fails.
set -eu

: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
PYTHON=/usr/bin/python3

if ! [ -x "$PYTHON" ] || ! "$PYTHON" -c 'import jsonschema' 2>/dev/null; then
	echo "SKIP: t0900: $PYTHON cannot import jsonschema (apt-get install python3-jsonschema)"
	exit 77
fi

exec "$PYTHON" - "$TOP_SRCDIR" <<'PYEOF'
import glob, json, os, sys
import importlib.metadata
import jsonschema
from jsonschema import Draft202012Validator

top = sys.argv[1]
failures = []
store = {}
for path in sorted(glob.glob(os.path.join(top, "schemas", "*.schema.json"))):
    with open(path, encoding="utf-8") as f:
        schema = json.load(f)
    # the schema itself against the 2020-12 metaschema
    try:
        Draft202012Validator.check_schema(schema)
    except jsonschema.exceptions.SchemaError as e:
        failures.append("%s: not a valid 2020-12 schema: %s" % (os.path.basename(path), e.message))
    if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
        failures.append("%s: $schema is not 2020-12" % os.path.basename(path))
    name = os.path.basename(path)
    if schema.get("$id") != "https://cymat-ledger.invalid/schemas/" + name:
        failures.append("%s: unexpected $id %r" % (name, schema.get("$id")))
    store[schema["$id"]] = schema
if len(store) < 24:
    failures.append("only %d schemas found under %s/schemas" % (len(store), top))

try:
    # jsonschema >= 4.18
    from referencing import Registry, Resource
    registry = Registry().with_resources(
        [(uri, Resource.from_contents(s)) for uri, s in store.items()])
    def validator(schema):
        return Draft202012Validator(schema, registry=registry)
except ImportError:
    # Debian 12's jsonschema 4.10: cross-file $refs through a RefResolver store
    from jsonschema import RefResolver
    def validator(schema):
        return Draft202012Validator(schema, resolver=RefResolver.from_schema(schema, store=store))

base = "https://cymat-ledger.invalid/schemas/"
counts = {}
checked = 0
for kind in ("valid", "invalid"):
    for path in sorted(glob.glob(os.path.join(top, "tests", "vectors", "records", kind, "*.json"))):
        name = os.path.basename(path)
        rtype = name.split("-", 1)[0]
        schema = store.get(base + rtype + ".schema.json")
        if schema is None:
            failures.append("%s/%s: no schema for type %r" % (kind, name, rtype))
            continue
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        errors = list(validator(schema).iter_errors(record))
        checked += 1
        counts.setdefault(rtype, {"valid": 0, "invalid": 0})[kind] += 1
        if kind == "valid" and errors:
            failures.append("valid/%s: refused: %s" % (name, "; ".join(
                "%s: %s" % ("/" + "/".join(map(str, e.absolute_path)), e.message) for e in errors[:3])))
        if kind == "invalid" and not errors:
            failures.append("invalid/%s: accepted" % name)
        if kind == "valid" and base + "record.schema.json" in store:
            if list(validator(store[base + "record.schema.json"]).iter_errors(record)):
                failures.append("valid/%s: refused by record.schema.json" % name)

types = [os.path.basename(u)[:-len(".schema.json")] for u in store]
for t in types:
    if t in ("common", "record", "envelope"):
        continue
    c = counts.get(t, {"valid": 0, "invalid": 0})
    if c["valid"] < 1 or c["invalid"] < 2:
        failures.append("type %s: %d valid and %d invalid examples (want >= 1 and >= 2)" %
                        (t, c["valid"], c["invalid"]))

for f in failures:
    print("FAIL: t0900: " + f)
print("t0900: %d schemas, %d example records checked with jsonschema %s, %d failures" %
      (len(store), checked, importlib.metadata.version("jsonschema"), len(failures)))
sys.exit(1 if failures else 0)
PYEOF
