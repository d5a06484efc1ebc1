#!/usr/bin/env python3
"""Regenerate the record file vectors in this folder (see README.md).

Independent of the project's code: JCS by Python's json module (enough for
these records: ASCII member names, integers, strings), SHA-256 by hashlib,
Ed25519 signatures by the stock `openssl pkeyutl`, all with the committed
throwaway key test.key.  Run from anywhere: python3 generate.py
"""
import base64
import copy
import hashlib
import json
import os
import shutil
import struct
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = os.path.join(HERE, "test.key")
CONTEXT = b"CYMAT-LEDGER-RECORD-V1\x00"


def jcs(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def public_key():
    der = subprocess.run(["openssl", "pkey", "-in", KEY, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return der[-32:]


def sign(message):
    with tempfile.TemporaryDirectory() as tmp:
        msg = os.path.join(tmp, "msg")
        with open(msg, "wb") as f:
            f.write(message)
        return subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", KEY,
                               "-in", msg], check=True, capture_output=True).stdout


def b64(data):
    return base64.b64encode(data).decode("ascii")


PUB = public_key()
KID = hashlib.sha256(PUB).hexdigest()
ID_A = hashlib.sha256(b"a").hexdigest()  # ca978112...
ID_B = hashlib.sha256(b"b").hexdigest()  # 3e23e816...
ID_C = hashlib.sha256(b"c").hexdigest()  # 2e7d2c03...

BASE = {
    "v": 1, "type": "request", "agency": "nisc", "author": "nisc/alice", "kid": KID,
    "seq": 1, "prev": None, "time": "2026-04-01T09:00:00Z", "refs": [], "class": "c1",
    "body": {"summary": "test"},
}


def record(**changes):
    r = copy.deepcopy(BASE)
    for k, v in changes.items():
        if v is DROP:
            del r[k]
        else:
            r[k] = v
    return r


DROP = object()


def signature(r):
    return sign(CONTEXT + jcs(r))


def envelope(r, sig=None):
    """The canonical record file of r, signed for real unless sig is given."""
    return jcs({"record": r, "sig": b64(signature(r)) if sig is None else sig})


def raw(text):
    return text.encode("utf-8")


SEQ2 = dict(seq=2, prev=ID_A, refs=sorted([ID_A, ID_B, ID_C]), incident=ID_A)
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

VALID = {
    "seq1-minimal": record(),
    "seq2-prev-refs-incident": record(**SEQ2),
    "leap-day-2024-02-29": record(time="2024-02-29T23:59:59Z"),
    "leap-day-2000-02-29": record(time="2000-02-29T00:00:00Z"),
    "time-epoch": record(time="1970-01-01T00:00:00Z"),
    "time-end-of-9999": record(time="9999-12-31T23:59:59Z"),
    "class-c3-sealed": record(**{"class": "c3", "sealed": {"alg": "x", "ct": "AAAA"}}),
    "unicode-body": record(body={"summary": "不正アクセス \u00e9 \U0001f600", "n": -5}),
    "names-at-limits": record(agency="a" + "b" * 31, author="a" + "b" * 31 + "/x" + "y" * 63,
                              type="council_report", seq=9007199254740991, prev=ID_B),
}

GOOD = BASE
GOOD_SIG = b64(signature(GOOD))
GOOD_FILE = envelope(GOOD, GOOD_SIG).decode("utf-8")
GOOD_R = jcs(GOOD).decode("utf-8")
SIG_BYTES = base64.b64decode(GOOD_SIG)

# name -> (file bytes, substring of the error message).  "noncanonical-*" must fail with
# LEDGER_ENONCANONICAL, every other one with LEDGER_EINVALID.
INVALID = {
    # The envelope.
    "envelope-array": (raw("[]"), "not a record envelope"),
    "envelope-string": (raw('"record"'), "not a record envelope"),
    "envelope-record-array": (raw('{"record":[],"sig":"%s"}' % GOOD_SIG), "not a record envelope"),
    "envelope-extra-member": (jcs({"record": GOOD, "sig": GOOD_SIG, "x": 1}),
                              "not a record envelope"),
    "envelope-missing-sig": (jcs({"record": GOOD}), "not a record envelope"),
    "envelope-missing-record": (jcs({"sig": GOOD_SIG}), "not a record envelope"),
    "sig-number": (jcs({"record": GOOD, "sig": 1}), "not a record envelope"),
    "sig-unpadded": (envelope(GOOD, GOOD_SIG.rstrip("=")), '"sig"'),
    "sig-63-bytes": (envelope(GOOD, b64(SIG_BYTES[:63])), '"sig"'),
    "sig-65-bytes": (envelope(GOOD, b64(SIG_BYTES + b"\0")), '"sig"'),
    "sig-url-safe": (envelope(GOOD, "-_" + GOOD_SIG[2:]), '"sig"'),
    # The last character before "==" carries 4 bits that must be zero.
    "sig-trailing-bits": (envelope(GOOD, GOOD_SIG[:85] + B64[B64.index(GOOD_SIG[85]) + 1] + "=="),
                          '"sig"'),
    "sig-empty": (envelope(GOOD, ""), '"sig"'),
    "sig-embedded-nul": (envelope(GOOD, GOOD_SIG + "\0"), '"sig"'),
    # Not the file's own JCS form.
    "noncanonical-whitespace": (raw(json.dumps({"record": GOOD, "sig": GOOD_SIG}, sort_keys=True,
                                               ensure_ascii=False)), "not in canonical form"),
    "noncanonical-trailing-newline": (raw(GOOD_FILE + "\n"), "not in canonical form"),
    "noncanonical-leading-space": (raw(" " + GOOD_FILE), "not in canonical form"),
    "noncanonical-envelope-unsorted": (raw('{"sig":"%s","record":%s}' % (GOOD_SIG, GOOD_R)),
                                       "not in canonical form"),
    "noncanonical-record-unsorted": (raw(GOOD_FILE.replace('{"agency":"nisc",', '{')
                                         .replace('"type":"request"',
                                                  '"type":"request","agency":"nisc"')),
                                     "not in canonical form"),
    "noncanonical-escaped-slash": (raw(GOOD_FILE.replace("nisc/alice", "nisc\\/alice")),
                                   "not in canonical form"),
    "noncanonical-unicode-escape": (raw(GOOD_FILE.replace('"test"', '"t\\u0065st"')),
                                    "not in canonical form"),
    "noncanonical-escaped-non-ascii": (raw(envelope(record(body={"s": "\u00e9"}))
                                           .decode("utf-8").replace("\u00e9", "\\u00e9")),
                                       "not in canonical form"),
    # Strict JSON.
    "duplicate-key": (raw(GOOD_FILE.replace('"v":1', '"v":1,"v":1')), "duplicate"),
    "float-seq": (raw(GOOD_FILE.replace('"seq":1', '"seq":1.0')), "only integers"),
    "float-body": (raw(GOOD_FILE.replace('"summary":"test"', '"n":0.5,"summary":"test"')),
                   "only integers"),
    # The common members of R.
    "v-2": (envelope(record(v=2)), '"v"'),
    "v-string": (envelope(record(v="1")), '"v"'),
    "v-missing": (envelope(record(v=DROP)), '"v"'),
    "type-uppercase": (envelope(record(type="Request")), '"type"'),
    "type-empty": (envelope(record(type="")), '"type"'),
    "type-hyphen": (envelope(record(type="council-report")), '"type"'),
    "type-missing": (envelope(record(type=DROP)), '"type"'),
    "agency-one-letter": (envelope(record(agency="n", author="n/alice")), '"agency"'),
    "agency-uppercase": (envelope(record(agency="Nisc", author="Nisc/alice")), '"agency"'),
    "agency-leading-digit": (envelope(record(agency="9nisc", author="9nisc/alice")), '"agency"'),
    "agency-too-long": (envelope(record(agency="a" * 33, author="a" * 33 + "/alice")), '"agency"'),
    "agency-missing": (envelope(record(agency=DROP)), '"agency"'),
    "author-no-slash": (envelope(record(author="alice")), '"author"'),
    "author-uppercase": (envelope(record(author="nisc/Alice")), '"author"'),
    "author-empty-name": (envelope(record(author="nisc/")), '"author"'),
    "author-name-too-long": (envelope(record(author="nisc/a" + "b" * 64)), '"author"'),
    "author-two-slashes": (envelope(record(author="nisc/alice/bob")), '"author"'),
    "author-other-agency": (envelope(record(author="mod/alice")),
                            'author "mod/alice" is not of agency "nisc"'),
    "author-agency-prefix": (envelope(record(author="nisc-x/alice")),
                             'author "nisc-x/alice" is not of agency "nisc"'),
    "kid-uppercase": (envelope(record(kid=KID.upper())), '"kid"'),
    "kid-short": (envelope(record(kid=KID[:63])), '"kid"'),
    "kid-missing": (envelope(record(kid=DROP)), '"kid"'),
    "seq-0": (envelope(record(seq=0)), '"seq"'),
    "seq-negative": (envelope(record(seq=-1)), '"seq"'),
    "seq-string": (envelope(record(seq="1")), '"seq"'),
    "seq-missing": (envelope(record(seq=DROP)), '"seq"'),
    "prev-at-seq-1": (envelope(record(prev=ID_A)), '"prev"'),
    "prev-null-at-seq-2": (envelope(record(seq=2)), '"prev"'),
    "prev-missing": (envelope(record(prev=DROP)), '"prev"'),
    "prev-uppercase": (envelope(record(seq=2, prev=ID_A.upper())), '"prev"'),
    "time-2026-02-30": (envelope(record(time="2026-02-30T09:00:00Z")),
                        'time "2026-02-30T09:00:00Z"'),
    "time-2023-02-29": (envelope(record(time="2023-02-29T09:00:00Z")),
                        'time "2023-02-29T09:00:00Z"'),
    "time-2100-02-29": (envelope(record(time="2100-02-29T09:00:00Z")),
                        'time "2100-02-29T09:00:00Z"'),
    "time-leap-second": (envelope(record(time="2016-12-31T23:59:60Z")),
                         'time "2016-12-31T23:59:60Z"'),
    "time-offset": (envelope(record(time="2026-04-01T09:00:00+09:00")),
                    'time "2026-04-01T09:00:00+09:00"'),
    "time-fraction": (envelope(record(time="2026-04-01T09:00:00.000Z")),
                      'time "2026-04-01T09:00:00.000Z"'),
    "time-lowercase": (envelope(record(time="2026-04-01t09:00:00z")),
                       'time "2026-04-01t09:00:00z"'),
    "time-number": (envelope(record(time=1775034000)), '"time"'),
    "time-missing": (envelope(record(time=DROP)), '"time"'),
    "refs-unsorted": (envelope(record(refs=[ID_B, ID_C])), "refs"),
    "refs-duplicate": (envelope(record(refs=[ID_B, ID_B])), "refs"),
    "refs-not-id": (envelope(record(refs=["nisc/alice"])), "refs[0]"),
    "refs-uppercase": (envelope(record(refs=[ID_C, ID_B.upper()])), "refs[1]"),
    "refs-string": (envelope(record(refs=ID_B)), '"refs"'),
    "refs-missing": (envelope(record(refs=DROP)), '"refs"'),
    "incident-short": (envelope(record(incident=ID_A[:40])), '"incident"'),
    "incident-null": (envelope(record(incident=None)), '"incident"'),
    "class-c4": (envelope(record(**{"class": "c4"})), '"class"'),
    "class-uppercase": (envelope(record(**{"class": "C1"})), '"class"'),
    "class-missing": (envelope(record(**{"class": DROP})), '"class"'),
    "body-array": (envelope(record(body=[])), '"body"'),
    "body-null": (envelope(record(body=None)), '"body"'),
    "body-missing": (envelope(record(body=DROP)), '"body"'),
    "sealed-string": (envelope(record(**{"class": "c2", "sealed": "AAAA"})), '"sealed"'),
    # U+0000 is valid JSON but no member's pattern allows it (C strings would stop there).
    "type-embedded-nul": (envelope(record(type="request\0x")), '"type"'),
    "agency-embedded-nul": (envelope(record(agency="nisc\0x")), '"agency"'),
    "author-embedded-nul": (envelope(record(author="nisc/alice\0x")), '"author"'),
    "kid-embedded-nul": (envelope(record(kid=KID + "\0")), '"kid"'),
    "prev-embedded-nul": (envelope(record(seq=2, prev=ID_A + "\0" + ID_B)), '"prev"'),
    "time-embedded-nul": (envelope(record(time="2026-04-01T09:00:00Z\0")), '"time"'),
    "refs-embedded-nul": (envelope(record(refs=[ID_B + "\0"])), "refs[0]"),
    "incident-embedded-nul": (envelope(record(incident=ID_A + "\0")), '"incident"'),
    "class-embedded-nul": (envelope(record(**{"class": "c1\0"})), '"class"'),
    "unknown-member": (envelope(record(note="hi")), 'unknown record member "note"'),
}


def main():
    for sub in ("valid", "invalid"):
        shutil.rmtree(os.path.join(HERE, sub), ignore_errors=True)
        os.mkdir(os.path.join(HERE, sub))
    for name, r in VALID.items():
        with open(os.path.join(HERE, "valid", name + ".json"), "wb") as f:
            f.write(envelope(r))
        with open(os.path.join(HERE, "valid", name + ".id"), "w") as f:
            f.write(hashlib.sha256(jcs(r)).hexdigest() + "\n")
    for name, (data, err) in INVALID.items():
        with open(os.path.join(HERE, "invalid", name + ".json"), "wb") as f:
            f.write(data)
        with open(os.path.join(HERE, "invalid", name + ".err"), "w") as f:
            f.write(err + "\n")
    blob = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + PUB
    with open(os.path.join(HERE, "test.pub"), "w") as f:
        f.write("ssh-ed25519 %s cymat-envelope-test-key\n" % b64(blob))
    print("kid %s: %d valid, %d invalid" % (KID, len(VALID), len(INVALID)))


main()
