#!/usr/bin/python3
"""An independent implementation of sealed content (docs/FORMAT.md, "Sealed
content"), with python3-cryptography and nothing of cymat's:

  seal-check.py open REPO ID KEY.x25519.key KID
      read record ID's file from REPO's main with `git cat-file`, open its
      sealed part as the recipient KID holding the X25519 key in the PEM
      file, and write the plaintext (its JCS bytes) to standard output
  seal-check.py seal CONF.json KID=X25519PUB...
      seal the JSON object in CONF.json for each recipient (X25519PUB: the
      standard base64 of the raw public key, as in NAME.x25519.pub) and
      write the sealed object to standard output

Exit 77 when python3-cryptography is missing, 1 when a check fails.
"""
import base64
import json
import os
import subprocess
import sys

try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import (X25519PrivateKey,
                                                                  X25519PublicKey)
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.keywrap import (InvalidUnwrap, aes_key_unwrap,
                                                        aes_key_wrap)
except ImportError:
    sys.stderr.write("SKIP: python3-cryptography is not installed (apt-get install "
                     "python3-cryptography)\n")
    sys.exit(77)

ALG = "X25519-HKDF-SHA256-A256GCM"
INFO = b"CYMAT-LEDGER-SEAL-V1\x00"


def die(msg):
    sys.stderr.write("seal-check: %s\n" % msg)
    sys.exit(1)


def b64d(text, length=None):
    raw = base64.b64decode(text, validate=True)
    if base64.b64encode(raw).decode() != text:
        die("not canonical base64: %r" % text)
    if length is not None and len(raw) != length:
        die("%r holds %d bytes, not %d" % (text, len(raw), length))
    return raw


def b64e(raw):
    return base64.b64encode(raw).decode()


def canonical(obj):
    """JCS for the objects these tests seal: string keys, strings and integers."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def raw_public(key):
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def kek_for(shared, epk, recipient):
    if shared == bytes(32):
        die("all-zero X25519 secret (small-order point)")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=INFO + epk + recipient).derive(shared)


def open_record(repo, rid, key_path, kid):
    path = "records/%s/%s/%s.json" % (rid[0:2], rid[2:4], rid)
    data = subprocess.run(["git", "-C", repo, "cat-file", "blob", "main:" + path],
                          check=True, stdout=subprocess.PIPE).stdout
    sealed = json.loads(data)["record"]["sealed"]
    if sorted(sealed) != ["alg", "ct", "iv", "recipients"] or sealed["alg"] != ALG:
        die("not a sealed object of %s: %r" % (ALG, sorted(sealed)))
    entries = [e for e in sealed["recipients"] if e["kid"] == kid]
    if len(entries) != 1:
        die("%d entries for kid %s" % (len(entries), kid))
    with open(key_path, "rb") as f:
        priv = serialization.load_pem_private_key(f.read(), password=None)
    if not isinstance(priv, X25519PrivateKey):
        die("%s is not an X25519 key" % key_path)
    epk = b64d(entries[0]["epk"], 32)
    kek = kek_for(priv.exchange(X25519PublicKey.from_public_bytes(epk)), epk,
                  raw_public(priv.public_key()))
    cek = aes_key_unwrap(kek, b64d(entries[0]["key"], 40))
    plain = AESGCM(cek).decrypt(b64d(sealed["iv"], 12), b64d(sealed["ct"]), ALG.encode())
    if canonical(json.loads(plain)) != plain:
        die("the plaintext is not in its JCS form")
    sys.stdout.buffer.write(plain)


def seal(conf_path, recipients):
    with open(conf_path, "rb") as f:
        plain = canonical(json.loads(f.read()))
    cek, iv = os.urandom(32), os.urandom(12)
    entries = []
    for arg in recipients:
        kid, pub = arg.split("=", 1)
        rpub = b64d(pub.strip(), 32)
        eph = X25519PrivateKey.generate()
        epk = raw_public(eph.public_key())
        kek = kek_for(eph.exchange(X25519PublicKey.from_public_bytes(rpub)), epk, rpub)
        entries.append({"kid": kid, "epk": b64e(epk), "key": b64e(aes_key_wrap(kek, cek))})
    ct = AESGCM(cek).encrypt(iv, plain, ALG.encode())
    json.dump({"alg": ALG, "recipients": entries, "iv": b64e(iv), "ct": b64e(ct)},
              sys.stdout, separators=(",", ":"))


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "open":
        open_record(*sys.argv[2:])
    elif len(sys.argv) >= 4 and sys.argv[1] == "seal":
        seal(sys.argv[2], sys.argv[3:])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    try:
        main()
    except (InvalidTag, InvalidUnwrap) as e:
        die("%s: the entry or the content does not open" % type(e).__name__)
