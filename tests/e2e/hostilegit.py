#!/usr/bin/env python3
"""A hostile git server for the end-to-end tests (python3 stdlib only).

    hostilegit.py --mode trickle|endless [--proto git|http] [--port-file FILE]
                  [--log FILE] [--oid HEX] [--delay SECONDS]

Listens on a free port of 127.0.0.1 (written to --port-file once listening)
and speaks just enough of git's upload-pack protocol (v0, over git:// or
smart HTTP) to keep a client busy:

  trickle  a ref advertisement without end, one byte every --delay seconds
           (default 1): only a deadline stops it, never a size cap
  endless  a plausible advertisement (HEAD and refs/heads/main at --oid,
           default a made-up one), then, once the client says "done", a
           pack announcing a million objects (4 GB) and streaming well-formed,
           random blobs of 4 KiB (in side-band-64k when the
           client asks for it): only a size or object cap, or a deadline,
           stops it

A push (receive-pack) is refused by closing the connection.  Each connection
is logged, a line each, to --log (default stderr): "conn N git-upload-pack",
"conn N pack started", "conn N closed after B bytes".  SIGTERM stops it.
"""

import argparse
import os
import signal
import socket
import struct
import sys
import threading
import time
import zlib

log_lock = threading.Lock()
log_file = sys.stderr


def log(msg):
    with log_lock:
        log_file.write(msg + "\n")
        log_file.flush()


def pkt(data):
    if isinstance(data, str):
        data = data.encode()
    return b"%04x" % (len(data) + 4) + data


FLUSH = b"0000"


def advertisement(oid, endless_refs):
    caps = "side-band-64k ofs-delta symref=HEAD:refs/heads/main agent=git/2.39.2"
    yield pkt("%s HEAD\0%s\n" % (oid, caps))
    yield pkt("%s refs/heads/main\n" % oid)
    if endless_refs:
        n = 0
        while True:
            n += 1
            yield pkt("%s refs/tags/t%09d\n" % (oid, n))
    yield FLUSH


def object_header(kind, size):
    b = (kind << 4) | (size & 0x0F)
    size >>= 4
    out = bytearray()
    while size:
        out.append(b | 0x80)
        b = size & 0x7F
        size >>= 7
    out.append(b)
    return bytes(out)


def endless_pack():
    yield b"PACK" + struct.pack(">II", 2, 1000000)
    n = 0
    while True:
        n += 1
        # Distinct and incompressible: both the byte and the object count grow.
        blob = os.urandom(4096)
        yield object_header(3, len(blob)) + zlib.compress(blob, 0)


class Reader:
    """pkt-lines from a socket (or from a request body already read)."""

    def __init__(self, sock=None, data=b""):
        self.sock = sock
        self.buf = data

    def need(self, n):
        while len(self.buf) < n:
            if not self.sock:
                return False
            d = self.sock.recv(65536)
            if not d:
                return False
            self.buf += d
        return True

    def pkt(self):
        """A payload (bytes), b"" for a flush, None at the end."""
        if not self.need(4):
            return None
        try:
            n = int(self.buf[:4], 16)
        except ValueError:
            return None
        if n == 0:
            self.buf = self.buf[4:]
            return b""
        if n < 4 or not self.need(n):
            return None
        p, self.buf = self.buf[4:n], self.buf[n:]
        return p


def negotiate(reader, send):
    """Read wants and haves until "done"; answer NAK to each round.  Whether side-band was asked."""
    sideband = False
    wants_done = False
    while True:
        p = reader.pkt()
        if p is None:
            return None
        if p == b"":
            if wants_done:
                send(pkt("NAK\n"))
            wants_done = True
            continue
        if p.startswith(b"want ") and b"side-band-64k" in p:
            sideband = True
        if p.strip() == b"done":
            send(pkt("NAK\n"))
            return sideband


def stream_pack(send, sideband, n):
    log("conn %d pack started" % n)
    for chunk in endless_pack():
        if sideband:
            while chunk:
                part, chunk = chunk[:65515], chunk[65515:]
                send(pkt(b"\x01" + part))
        else:
            send(chunk)


class Server:
    def __init__(self, a):
        self.a = a

    def handle(self, sock, n):
        sent = [0]

        def send(data):
            sock.sendall(data)
            sent[0] += len(data)

        try:
            if self.a.proto == "git":
                self.handle_git(sock, n, send)
            else:
                self.handle_http(sock, n, send)
        except OSError:
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass
            log("conn %d closed after %d bytes" % (n, sent[0]))

    def trickle(self, send, first=b""):
        data = first
        for p in advertisement(self.a.oid, True):
            data += p
            while data:
                send(data[:1])
                data = data[1:]
                time.sleep(self.a.delay)

    def handle_git(self, sock, n, send):
        r = Reader(sock)
        req = r.pkt()
        if not req:
            return
        service = req.split(b" ", 1)[0].decode(errors="replace")
        log("conn %d %s" % (n, service))
        if service != "git-upload-pack":
            return
        if self.a.mode == "trickle":
            self.trickle(send)
            return
        for p in advertisement(self.a.oid, False):
            send(p)
        sideband = negotiate(r, send)
        if sideband is not None:
            stream_pack(send, sideband, n)

    def handle_http(self, sock, n, send):
        f = sock.makefile("rb")
        line = f.readline().decode(errors="replace")
        parts = line.split()
        if len(parts) < 2:
            return
        method, path = parts[0], parts[1]
        headers = {}
        while True:
            h = f.readline().decode(errors="replace")
            if h in ("\r\n", "\n", ""):
                break
            k, _, v = h.partition(":")
            headers[k.strip().lower()] = v.strip()
        log("conn %d %s %s" % (n, method, path))
        if "git-upload-pack" not in path:
            send(b"HTTP/1.0 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        if method == "GET":
            head = (b"HTTP/1.0 200 OK\r\nContent-Type: application/x-git-upload-pack-advertisement\r\n"
                    b"Cache-Control: no-cache\r\n\r\n" + pkt("# service=git-upload-pack\n") + FLUSH)
            if self.a.mode == "trickle":
                self.trickle(send, head)
                return
            send(head)
            for p in advertisement(self.a.oid, False):
                send(p)
            return
        body = b""
        if "content-length" in headers:
            body = f.read(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(f.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    f.readline()
                    break
                body += f.read(size)
                f.readline()
        if headers.get("content-encoding", "").lower() in ("gzip", "x-gzip"):
            body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
        send(b"HTTP/1.0 200 OK\r\nContent-Type: application/x-git-upload-pack-result\r\n"
             b"Cache-Control: no-cache\r\n\r\n")
        replies = []
        sideband = negotiate(Reader(None, body), replies.append)
        if sideband is None:
            # A negotiation round without "done": NAK, and the client asks again.
            send(b"".join(replies) or pkt("NAK\n"))
            return
        send(b"".join(replies[-1:]))
        stream_pack(send, sideband, n)


def main():
    global log_file
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mode", choices=("trickle", "endless"), required=True)
    p.add_argument("--proto", choices=("git", "http"), default="git")
    p.add_argument("--port-file")
    p.add_argument("--log")
    p.add_argument("--oid", default="5e1f" * 10)
    p.add_argument("--delay", type=float, default=1.0)
    a = p.parse_args()
    if a.log:
        log_file = open(a.log, "a")
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write("%d\n" % ls.getsockname()[1])
        os.rename(a.port_file + ".tmp", a.port_file)
    srv = Server(a)
    n = 0
    while True:
        c, _ = ls.accept()
        n += 1
        threading.Thread(target=srv.handle, args=(c, n), daemon=True).start()


if __name__ == "__main__":
    main()
