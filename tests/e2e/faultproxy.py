#!/usr/bin/env python3
"""A fault-injecting TCP proxy for the end-to-end tests (python3 stdlib only).

    faultproxy.py --target HOST:PORT [--listen PORT] [--port-file FILE]
                  [--mode-file FILE] [--log FILE] [--seed N] [MODE...]

Listens on 127.0.0.1 (PORT, default a free one, written to --port-file once
listening) and forwards each connection to the target, with faults.  MODE
words, given on the command line and re-read from --mode-file (when it
exists) at each new connection, so that a test changes the link while the
proxy runs:

    latency=MS     wait MS milliseconds before forwarding each chunk (both ways)
    rate=BYTES     forward at most BYTES per second per direction (0: no limit)
    drop=P         close a new connection at once with probability P (0..1)
    cut=N          cut the connection after N bytes from the server ...
    cutup=N        ... or after N bytes from the client
    cutp=P         probability that a connection gets its cut (default 1)
    stall=N        forward N bytes from the server, then nothing more, and hold the
                   connection open: the client waits, as on a link that hangs mid-pack
    blackhole=1    accept and never answer: read and discard until the client gives up
    down=1         reset every new connection (as a server that is not there)

Every connection and what was done to it is logged, a line each, to --log
(default stderr): "conn N accept", "conn N drop", "conn N cut down|up at B",
"conn N stall at B", "conn N blackhole", "conn N down", "conn N close up=B
down=B", so that a test can check the faults happened.  SIGTERM stops it.
"""

import argparse
import os
import random
import signal
import socket
import struct
import sys
import threading
import time

log_lock = threading.Lock()
log_file = sys.stderr


def log(msg):
    with log_lock:
        log_file.write(msg + "\n")
        log_file.flush()


def parse_modes(words, base=None):
    m = dict(base or {"latency": 0.0, "rate": 0, "drop": 0.0, "cut": 0, "cutup": 0,
                      "cutp": 1.0, "stall": 0, "blackhole": 0, "down": 0})
    for w in words:
        w = w.strip()
        if not w or w.startswith("#"):
            continue
        k, sep, v = w.partition("=")
        if not sep or k not in m:
            raise ValueError("bad mode word %r" % w)
        m[k] = float(v) if k in ("latency", "drop", "cutp") else int(v)
    return m


class Modes:
    def __init__(self, words, path):
        self.base = parse_modes(words)
        self.path = path

    def current(self):
        if self.path and os.path.exists(self.path):
            try:
                with open(self.path) as f:
                    return parse_modes(f.read().split(), self.base)
            except (OSError, ValueError) as e:
                log("mode file: %s" % e)
        return dict(self.base)


def reset(sock):
    """Close with a RST, as a port nobody listens on would answer."""
    try:
        # Wakes a thread blocked reading it (close alone would not), sends nothing.
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class Conn:
    def __init__(self, n, client, target, modes, rng):
        self.n = n
        self.client = client
        self.target = target
        self.m = modes
        self.rng = rng
        self.count = {"up": 0, "down": 0}
        self.done = threading.Event()
        self.cut_done = False
        self.lock = threading.Lock()

    def run(self):
        m = self.m
        if m["down"]:
            log("conn %d down" % self.n)
            reset(self.client)
            return
        if self.rng.random() < m["drop"]:
            log("conn %d drop" % self.n)
            reset(self.client)
            return
        if m["blackhole"]:
            log("conn %d blackhole" % self.n)
            try:
                while self.client.recv(65536):
                    pass
            except OSError:
                pass
            self.client.close()
            return
        self.cuts = {"down": 0, "up": 0}
        if self.rng.random() < m["cutp"]:
            self.cuts = {"down": m["cut"], "up": m["cutup"]}
        try:
            server = socket.create_connection(self.target, timeout=10)
            server.settimeout(None)
        except OSError as e:
            log("conn %d connect failed: %s" % (self.n, e))
            reset(self.client)
            return
        self.server = server
        log("conn %d accept" % self.n)
        t1 = threading.Thread(target=self.pump, args=(self.client, server, "up"), daemon=True)
        t2 = threading.Thread(target=self.pump, args=(server, self.client, "down"), daemon=True)
        t1.start()
        t2.start()
        t1.join()
        t2.join()
        for s in (self.client, server):
            try:
                s.close()
            except OSError:
                pass
        log("conn %d close up=%d down=%d" % (self.n, self.count["up"], self.count["down"]))

    def cut(self, way):
        with self.lock:
            if self.cut_done:
                return
            self.cut_done = True
        log("conn %d cut %s at %d" % (self.n, way, self.count[way]))
        reset(self.client)
        reset(self.server)

    def send_upto(self, dst, data, way, limit):
        """Forward the part of data that keeps this direction within limit bytes."""
        keep = limit - self.count[way]
        if keep > 0:
            dst.sendall(data[:keep])
            self.count[way] += keep

    def pump(self, src, dst, way):
        m = self.m
        limit = self.cuts[way]
        try:
            while True:
                data = src.recv(16384 if not m["rate"] else max(1, min(16384, m["rate"])))
                if not data:
                    break
                if m["latency"]:
                    time.sleep(m["latency"] / 1000.0)
                if way == "down" and m["stall"] and self.count[way] + len(data) >= m["stall"]:
                    self.send_upto(dst, data, way, m["stall"])
                    # No half close: the client is left waiting for the rest.
                    log("conn %d stall at %d" % (self.n, self.count[way]))
                    return
                if limit and self.count[way] + len(data) >= limit:
                    self.send_upto(dst, data, way, limit)
                    self.cut(way)
                    return
                dst.sendall(data)
                self.count[way] += len(data)
                if m["rate"]:
                    time.sleep(len(data) / float(m["rate"]))
        except OSError:
            pass
        if self.cut_done:
            return
        # A half close is passed on: git's protocols rely on it.
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def main():
    global log_file
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--target", required=True, help="HOST:PORT to forward to")
    p.add_argument("--listen", type=int, default=0, help="port on 127.0.0.1 (default: free)")
    p.add_argument("--port-file", help="write the port here once listening")
    p.add_argument("--mode-file", help="mode words, re-read at each new connection")
    p.add_argument("--log", help="event log (default stderr)")
    p.add_argument("--seed", type=int, default=None, help="seed of the random faults")
    p.add_argument("modes", nargs="*", help="mode words: latency=MS drop=P ...")
    a = p.parse_args()
    host, _, port = a.target.rpartition(":")
    target = (host or "127.0.0.1", int(port))
    try:
        modes = Modes(a.modes, a.mode_file)
    except ValueError as e:
        p.error(str(e))
    if a.log:
        log_file = open(a.log, "a")
    rng = random.Random(a.seed)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", a.listen))
    ls.listen(64)
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % ls.getsockname()[1])
        os.rename(tmp, a.port_file)
    n = 0
    while True:
        client, _ = ls.accept()
        n += 1
        c = Conn(n, client, target, modes.current(), random.Random(rng.random()))
        threading.Thread(target=c.run, daemon=True).start()


if __name__ == "__main__":
    main()
