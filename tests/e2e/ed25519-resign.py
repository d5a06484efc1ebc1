# ed25519-resign.py KEY.key RECORD.json > OUT.json: the same record file with
# another valid Ed25519 signature by KEY (a random nonce instead of RFC 8032's
# derived one), as a signer who wants two files for one record could make.
# Textbook Ed25519 over Python integers: for tests only, not constant time.
import base64, hashlib, os, sys

p = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
d = -121665 * pow(121666, p - 2, p) % p
By = 4 * pow(5, p - 2, p) % p

def xrecover(y):
    xx = (y * y - 1) * pow(d * y * y + 1, p - 2, p)
    x = pow(xx, (p + 3) // 8, p)
    if (x * x - xx) % p:
        x = x * pow(2, (p - 1) // 4, p) % p
    return p - x if x % 2 else x

B = (xrecover(By), By, 1, xrecover(By) * By % p)

def add(P, Q):
    x1, y1, z1, t1 = P
    x2, y2, z2, t2 = Q
    a = (y1 - x1) * (y2 - x2) % p
    b = (y1 + x1) * (y2 + x2) % p
    c = t1 * 2 * d * t2 % p
    dd = z1 * 2 * z2 % p
    e, f, g, h = b - a, dd - c, dd + c, b + a
    return (e * f % p, g * h % p, f * g % p, e * h % p)

def mul(s, P):
    Q = (0, 1, 1, 0)
    while s:
        if s & 1:
            Q = add(Q, P)
        P = add(P, P)
        s >>= 1
    return Q

def enc(P):
    x, y, z, _ = P
    zi = pow(z, p - 2, p)
    x, y = x * zi % p, y * zi % p
    return (y | ((x & 1) << 255)).to_bytes(32, "little")

def H(b):
    return int.from_bytes(hashlib.sha512(b).digest(), "little")

pem = open(sys.argv[1]).read().split("-----")[2]
seed = base64.b64decode("".join(pem.split()))[-32:]
h = hashlib.sha512(seed).digest()
a = int.from_bytes(h[:32], "little")
a &= (1 << 254) - 8
a |= 1 << 254
A = enc(mul(a, B))
text = open(sys.argv[2]).read()
head = '{"record":'
rec = text[len(head):text.rindex(',"sig":"')]
msg = b"CYMAT-LEDGER-RECORD-V1\0" + rec.encode()
r = int.from_bytes(os.urandom(64), "little") % L
R = enc(mul(r, B))
S = (r + H(R + A + msg) * a) % L
sig = base64.b64encode(R + S.to_bytes(32, "little")).decode()
sys.stdout.write(head + rec + ',"sig":"' + sig + '"}')
