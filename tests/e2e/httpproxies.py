"""HTTP peers written for test_http.py (the http transport), stdlib only.

HttpProxy is a small HTTP/1.1 proxy that reads whole request heads and
Content-Length bodies and forwards them, as forward proxies (absolute-form
targets, `http://host:port/path?...`) and reverse/intercepting proxies
(origin-form targets, sent to a fixed upstream) do. It never does CONNECT
(405) and refuses WebSocket upgrades (403). Its behaviours, each labelled in
the test that uses it:

  record      every request: method, target as received, the client
              connection it came on, how long the upstream took to answer
              and the size of the answer
  close_each  answer every response with `Connection: close` and close the
              client connection after it (an old proxy, or one configured so)
  buffer      read a response's whole Content-Length from the upstream
              before sending a byte of it (an inspecting proxy); otherwise
              bytes are relayed as they come
  faults      {kind: probability}, a seed and a number of requests spared at
              the start: the i-th request to arrive gets its fate from
              random.Random(f"{seed}:{i}"), the same sequence of fates on
              every run (which request comes i-th may vary): "drop_request" (read it, close, forward
              nothing), "drop_response" (forward it, read the answer, close
              without a byte of it), "cut_response" (forward it, send part of
              the answer, close), "reset" (an RST to the client: before
              forwarding, after it, or part-way through the answer)

Also runnable as a script, so that it can run inside a network namespace
(`ip netns exec NS /usr/bin/python3 httpproxies.py proxy ...`): it prints
`listening PORT` and then one `request METHOD TARGET` line per request on
stderr.

BigSource is a TCP service that sends a given byte string, shuts down its
write side and reads until EOF (services.py's "source" with any size).
"""

import argparse
import random
import socket
import struct
import sys
import threading
import time

FAULT_KINDS = ("drop_request", "drop_response", "cut_response", "reset")
HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization",
              b"te", b"trailer", b"upgrade"}
HEAD_MAX = 16384


class ProxyError(Exception):
    pass


class SockReader:
    """Buffered reads from a socket: up to a marker, or exactly n bytes."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def _fill(self):
        d = self.sock.recv(262144)
        if not d:
            return False
        self.buf += d
        return True

    def first_byte(self):
        """The first byte (None at EOF), left in the buffer."""
        while not self.buf:
            if not self._fill():
                return None
        return self.buf[0]

    def until(self, marker, cap=HEAD_MAX):
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                out = bytes(self.buf[:i + len(marker)])
                del self.buf[:i + len(marker)]
                return out
            if len(self.buf) > cap:
                raise ProxyError("head too long")
            if not self._fill():
                if self.buf:
                    raise ProxyError("EOF in a head")
                return None

    def exact(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise ProxyError(f"EOF after {len(self.buf)} of {n} body bytes")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def some(self, limit):
        """Up to limit bytes (at least one); raises at EOF."""
        if not self.buf and not self._fill():
            raise ProxyError("EOF in a body")
        n = min(limit, len(self.buf))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


def parse_head(head):
    """(first line split in three, [(name lower, name, value)])."""
    lines = head[:-4].split(b"\r\n")
    first = lines[0].split(b" ", 2)
    if len(first) != 3:
        raise ProxyError(f"bad first line {lines[0][:80]!r}")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise ProxyError(f"bad header line {line[:80]!r}")
        headers.append((name.lower(), name, value.strip()))
    return first, headers


def header(headers, name):
    for low, _n, v in headers:
        if low == name:
            return v
    return None


def content_length(headers):
    v = header(headers, b"content-length")
    if header(headers, b"transfer-encoding") is not None:
        raise ProxyError("chunked bodies are not supported by this proxy")
    if v is None:
        return 0
    if not v.isdigit():
        raise ProxyError(f"bad Content-Length {v!r}")
    return int(v)


def wants_close(version, headers):
    conn = (header(headers, b"connection") or b"").lower()
    if b"close" in conn:
        return True
    return version == b"HTTP/1.0" and b"keep-alive" not in conn


def rst_close(sock):
    """Close with an RST (SO_LINGER 0)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def simple_response(status, reason, close=True):
    body = f"{status} {reason}\n".encode()
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
            + ("Connection: close\r\n" if close else "") + "\r\n").encode() + body


class HttpProxy:
    def __init__(self, upstream=None, host="127.0.0.1", port=0, buffer=False, close_each=False,
                 faults=None, seed=0, spare=0, log=None):
        self.upstream = upstream          # (host, port) for origin-form requests
        self.buffer = buffer
        self.close_each = close_each
        self.faults = dict(faults or {})
        self.seed = seed
        self.spare = spare
        self.log = log                    # a callable taking one line, or None
        self.records = []
        self.injected = {k: 0 for k in FAULT_KINDS}
        self.connections = 0
        self.errors = []
        self.cond = threading.Condition()
        self._open = set()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(128)
        self.host, self.port = self.sock.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    # -- bookkeeping ---------------------------------------------------------
    def _track(self, s):
        with self.cond:
            self._open.add(s)

    def _untrack(self, s):
        with self.cond:
            self._open.discard(s)

    def requests(self, method=None):
        with self.cond:
            return [r for r in self.records if method is None or r["method"] == method]

    def count(self):
        with self.cond:
            return len(self.records)

    def wait_requests(self, n, timeout=10, pred=None):
        with self.cond:
            ok = self.cond.wait_for(
                lambda: sum(1 for r in self.records if pred is None or pred(r)) >= n, timeout)
            got = sum(1 for r in self.records if pred is None or pred(r))
        assert ok, f"proxy: {got} of {n} requests within {timeout}s"

    def total_faults(self):
        with self.cond:
            return sum(self.injected.values())

    def _fate(self, index):
        """The fault (or None) for request number index, and a Random for its details."""
        rng = random.Random(f"{self.seed}:{index}")
        x = rng.random()
        if index < self.spare:
            return None, rng
        acc = 0.0
        for kind in FAULT_KINDS:
            acc += self.faults.get(kind, 0.0)
            if x < acc:
                return kind, rng
        return None, rng

    # -- serving -------------------------------------------------------------
    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.cond:
                self.connections += 1
                n = self.connections
                self._open.add(c)
            threading.Thread(target=self._serve, args=(c, n), daemon=True).start()

    def _serve(self, c, conn_no):
        up = None
        up_addr = None
        cr = SockReader(c)
        ur = None
        try:
            while True:
                b = cr.first_byte()
                if b is None:
                    return
                if not (0x41 <= b <= 0x5a):
                    # Not an HTTP request (TLS, binary frames): refused at once.
                    c.sendall(simple_response(400, "Bad Request"))
                    self._note(None, conn_no, "not-http", bytes(cr.buf[:16]))
                    return
                head = cr.until(b"\r\n\r\n")
                if head is None:
                    return
                (method, target, version), headers = parse_head(head)
                rec = self._note(method.decode("latin-1"), conn_no, target.decode("latin-1"), head)
                index = rec["index"]
                if method == b"CONNECT":
                    c.sendall(simple_response(405, "CONNECT Not Allowed"))
                    return
                if header(headers, b"upgrade") is not None:
                    c.sendall(simple_response(403, "Upgrade Not Allowed"))
                    return
                body = cr.exact(content_length(headers))
                if target.startswith(b"http://"):
                    hostport, _, path = target[len(b"http://"):].partition(b"/")
                    path = b"/" + path
                    h, _, p = hostport.decode().rpartition(":")
                    addr = (h.strip("[]"), int(p) if p else 80)
                elif self.upstream is not None and target.startswith(b"/"):
                    addr, path = tuple(self.upstream), target
                else:
                    c.sendall(simple_response(400, "Bad Request"))
                    return
                client_close = wants_close(version, headers)
                fate, rng = self._fate(index)
                rec["fault"] = fate
                reset_at = rng.choice(("before", "after", "mid")) if fate == "reset" else None
                if fate == "drop_request" or reset_at == "before":
                    self._count(fate)
                    if fate == "reset":
                        rst_close(c)
                    return
                if up is None or up_addr != addr:
                    if up is not None:
                        up.close()
                    up = socket.create_connection(addr, timeout=60)
                    self._track(up)
                    up_addr, ur = addr, SockReader(up)
                out = [b"%s %s HTTP/1.1\r\n" % (method, path)]
                out += [b"%s: %s\r\n" % (n, v) for low, n, v in headers if low not in HOP_BY_HOP]
                out.append(b"Via: 1.1 burrow-e2e-proxy\r\nConnection: keep-alive\r\n\r\n")
                t0 = time.monotonic()
                up.sendall(b"".join(out) + body)
                rhead = ur.until(b"\r\n\r\n")
                if rhead is None:
                    raise ProxyError("upstream closed without an answer")
                (rversion, status, reason), rheaders = parse_head(rhead)
                rlen = content_length(rheaders)
                up_close = wants_close(rversion, rheaders)
                close = self.close_each or client_close or up_close
                hdr = [b"%s %s %s\r\n" % (b"HTTP/1.1", status, reason)]
                hdr += [b"%s: %s\r\n" % (n, v) for low, n, v in rheaders if low not in HOP_BY_HOP]
                hdr.append(b"Via: 1.1 burrow-e2e-proxy\r\n")
                hdr.append(b"Connection: close\r\n\r\n" if close else b"Connection: keep-alive\r\n\r\n")
                rh = b"".join(hdr)
                total = len(rh) + rlen
                if fate == "drop_response" or reset_at == "after":
                    ur.exact(rlen)
                    self._finish(rec, t0, int(status), rlen)
                    self._count(fate)
                    if fate == "reset":
                        rst_close(c)
                    return
                cut = rng.randint(1, total - 1) if fate in ("cut_response", "reset") else None
                sent = 0
                if self.buffer or cut is not None:
                    whole = rh + ur.exact(rlen)
                    self._finish(rec, t0, int(status), rlen)
                    c.sendall(whole[:cut] if cut is not None else whole)
                else:
                    c.sendall(rh)
                    sent = 0
                    while sent < rlen:
                        d = ur.some(rlen - sent)
                        c.sendall(d)
                        sent += len(d)
                    self._finish(rec, t0, int(status), rlen)
                if cut is not None:
                    self._count(fate)
                    if fate == "reset":
                        rst_close(c)
                    return
                if up_close:
                    self._untrack(up)
                    up.close()
                    up = None
                if close:
                    return
        except (OSError, ProxyError) as e:
            with self.cond:
                self.errors.append(repr(e))
        finally:
            for s in (c, up):
                if s is not None:
                    self._untrack(s)
                    try:
                        s.close()
                    except OSError:
                        pass

    def _note(self, method, conn_no, target, head):
        rec = {"method": method, "target": target, "conn": conn_no, "fault": None,
               "status": None, "body": None, "wait": None, "head": head}
        with self.cond:
            rec["index"] = len(self.records)
            self.records.append(rec)
            self.cond.notify_all()
        if self.log:
            self.log(f"request {method} {target}")
        return rec

    def _finish(self, rec, t0, status, body_len):
        with self.cond:
            rec["wait"] = time.monotonic() - t0
            rec["status"] = status
            rec["body"] = body_len
            self.cond.notify_all()

    def _count(self, kind):
        with self.cond:
            self.injected[kind] += 1
            self.cond.notify_all()

    def close(self):
        self.sock.close()
        with self.cond:
            socks = list(self._open)
        for s in socks:
            try:
                s.close()
            except OSError:
                pass


class _Listener:
    def __init__(self, host="127.0.0.1"):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.host, self.port = self.sock.getsockname()[:2]
        self._conns = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self._conns.add(c)
            threading.Thread(target=self._run, args=(c,), daemon=True).start()

    def _run(self, c):
        try:
            self.handle(c)
        except OSError:
            pass
        finally:
            with self._lock:
                self._conns.discard(c)
            c.close()

    def close(self):
        self.sock.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.close()
            except OSError:
                pass


class BigSource(_Listener):
    """Sends `data`, shuts down its write side, reads until EOF."""

    def __init__(self, data, host="127.0.0.1"):
        self.data = data
        super().__init__(host)

    def handle(self, c):
        c.sendall(self.data)
        c.shutdown(socket.SHUT_WR)
        while c.recv(65536):
            pass


def main(argv):
    ap = argparse.ArgumentParser(prog="httpproxies.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("proxy", help="run an HttpProxy until killed")
    p.add_argument("--listen", required=True, help="HOST:PORT (port 0: any)")
    p.add_argument("--upstream", help="HOST:PORT for origin-form requests (reverse proxy)")
    p.add_argument("--close-each", action="store_true")
    p.add_argument("--buffer", action="store_true")
    a = ap.parse_args(argv)
    host, _, port = a.listen.rpartition(":")
    up = None
    if a.upstream:
        uh, _, upp = a.upstream.rpartition(":")
        up = (uh, int(upp))

    def log(line):
        print(line, file=sys.stderr, flush=True)

    px = HttpProxy(upstream=up, host=host, port=int(port), buffer=a.buffer, close_each=a.close_each,
                   log=log)
    log(f"listening {px.port}")
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
