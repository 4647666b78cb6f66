"""The shared HTTP port: requests routed by Host and path prefix.

`burrow server --http ADDR:PORT` (YAML `http:`) opens one plain HTTP port for
every client's names; a client registers names with `-R
http:NAME[,NAME...]:host:port` (YAML `type: http`, `domains:`, optional
`paths:`, `local:`), a name exact or `*.suffix` (one or more labels in
front), each with path prefixes ("/" unless the tunnel names paths). Per
request, on keep-alive and pipelined connections too, the server picks the
exact name, else the longest wildcard, then within that name the longest
path prefix ("/api" takes "/api" and "/api/...", not "/apix"; "/v2/" takes
"/v2/...", not "/v2"), rewrites the head (hop-by-hop headers out, the
visitor's own X-Forwarded-* / X-Real-IP / Forwarded out unless it is one of
--trusted-proxies, ours in) and frames the response back. Unknown host or
path: 404; no usable Host: 400; CONNECT: 405; the service closed or
answered garbage: 502; no response within --response-timeout: 504; a head
not whole within 10 s: 400 and closed.

Real peers, all on loopback: Python HTTP services (http.server's
ThreadingHTTPServer with protocol_version HTTP/1.1, in threads of the test
process) that answer with JSON naming themselves and what they received
(method, path, headers, body length and SHA-256), and serve downloads,
HTTP/1.0 close-delimited responses, `Connection: close`, truncated
responses and a response whose body comes late; raw listeners that answer
garbage or nothing; a python3-websockets echo server (a subprocess, the
asyncio API of websockets 10). Visitors: curl (--resolve NAME:PORT:127.0.0.1)
for whole requests and big bodies (Expect: 100-continue, chunked uploads),
raw sockets for exact heads, pipelining, keep-alive, HEAD, 100-continue,
the slow loris and a visitor from 127.0.0.2 (a trusted proxy or not),
python3-websockets for the upgrade.

Most clients take their tunnels from YAML (named tunnels); the tests of the
-R http: flag accept any tunnel name in the logs except the one that checks
the flag tunnels' names (r1, r2... as for -R https:).
"""

import asyncio
import hashlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import LOG_TIMEOUT, Proc, closed_port, sha
from test_usage import run

MB = 1024 * 1024
RE_HTTP_LISTENING = r"http listening on 127\.0\.0\.1:(\d+) \(requests routed by Host and path\)$"
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy",
              "HTTP_PROXY", "http_proxy")
# The tunnel name in the client's log for -R http: tunnels (see the module
# docstring); test_flag_tunnels_named_like_other_r_tunnels wants r1, r2...
ANY_TUNNEL = r"\S+"
# What /download/N serves: BLOCK repeated, cut at N bytes.
BLOCK = os.urandom(MB)


def q(s):
    return re.escape(str(s))


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch):
    """curl reads http_proxy and friends: none here."""
    for v in PROXY_VARS:
        monkeypatch.delenv(v, raising=False)


def pattern(n):
    """The bytes of /download/n."""
    reps = -(-n // len(BLOCK))
    return (BLOCK * reps)[:n]


# --------------------------------------------------------------------------
# The services: HTTP/1.1 in threads, answering with what they received
# --------------------------------------------------------------------------

class EchoHandler(BaseHTTPRequestHandler):
    """Answers every method with JSON: the service's label, the connection
    (a number per TCP connection the service accepted), method, path,
    headers as received (a list of pairs, duplicates kept), body length and
    SHA-256 (Content-Length or chunked bodies). Special paths:
      /download/N   N bytes of pattern(N), with Content-Length
      /http10/N     an HTTP/1.0 response of pattern(N), no length, then close
      /close        the JSON with Connection: close, then close
      /truncate     Content-Length: 1000, 100 bytes of it, then close
      /slow-body    the head at once, the body 1.5 s later
    """
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        svc = self.server.svc
        with svc.lock:
            svc.conns += 1
            self.conn_id = svc.conns

    def log_message(self, fmt, *args):
        pass

    def _read_body(self):
        h = hashlib.sha256()
        n = 0
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                left = size
                while left:
                    d = self.rfile.read(min(left, MB))
                    if not d:
                        raise ConnectionError("EOF in a chunk")
                    h.update(d)
                    n += len(d)
                    left -= len(d)
                self.rfile.readline(16)  # the chunk's CRLF
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left:
                d = self.rfile.read(min(left, MB))
                if not d:
                    raise ConnectionError("EOF in the body")
                h.update(d)
                n += len(d)
                left -= len(d)
        return n, h.hexdigest()

    def _send(self, status, body, ctype="application/json", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Service", self.server.svc.label)
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _answer(self):
        n, digest = self._read_body()
        svc = self.server.svc
        info = {"service": svc.label, "conn": self.conn_id, "method": self.command,
                "path": self.path, "version": self.request_version,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body_len": n, "body_sha": digest, "peer": self.client_address[0]}
        with svc.lock:
            svc.records.append(info)
        path = self.path
        if path.startswith("/download/"):
            size = int(path.rsplit("/", 1)[1])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.send_header("X-Service", svc.label)
            self.end_headers()
            if self.command != "HEAD":
                for off in range(0, size, MB):
                    self.wfile.write(BLOCK[:min(MB, size - off)])
        elif path.startswith("/http10/"):
            size = int(path.rsplit("/", 1)[1])
            self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n"
                             b"X-Service: " + svc.label.encode() + b"\r\n\r\n" + pattern(size))
            self.close_connection = True
        elif path == "/close":
            self._send(200, json.dumps(info).encode(), extra=[("Connection", "close")])
        elif path == "/truncate":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 100)
            self.close_connection = True
        elif path == "/slow-body":
            body = b"the body came late\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            time.sleep(1.5)  # the service is slow: its head is out, its body is not
            self.wfile.write(body)
        else:
            self._send(200, json.dumps(info).encode())

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = _answer


class EchoServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many streams may open at once (the default is 5)


class WebService:
    """An EchoHandler service on 127.0.0.1:0 (a thread of the test process)."""

    def __init__(self, label):
        self.label = label
        self.lock = threading.Lock()
        self.records = []
        self.conns = 0
        self.httpd = EchoServer(("127.0.0.1", 0), EchoHandler)
        self.httpd.svc = self
        self.port = self.httpd.server_address[1]
        self._t = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                   daemon=True)
        self._t.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class RawService:
    """A TCP listener on 127.0.0.1:0 in a thread. "garbage": reads a little,
    answers bytes that are not HTTP, closes. "silent": reads, never answers
    (the connection is held until the test ends)."""

    def __init__(self, mode):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.accepted = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.set()
            if self.mode == "garbage":
                try:
                    c.settimeout(LOG_TIMEOUT)
                    c.recv(65536)
                    c.sendall(b"SSH-2.0-OpenSSH_9.2 this is no HTTP\r\n\x00\x01\x02\r\n\r\n")
                except OSError:
                    pass
                c.close()
            else:
                self.held.append(c)

    def close(self):
        self.sock.close()
        for c in self.held:
            c.close()


@pytest.fixture
def web():
    """Factory: web(label) -> WebService."""
    started = []

    def start(label):
        s = WebService(label)
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


@pytest.fixture
def raw_service():
    """Factory: raw_service("garbage" | "silent") -> RawService."""
    started = []

    def start(mode):
        s = RawService(mode)
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


# --------------------------------------------------------------------------
# burrow: the server's HTTP port, clients that serve names on it
# --------------------------------------------------------------------------

def http_server(burrow_server, *extra):
    """A burrow server with --http 127.0.0.1:0 (and extra): (server, HTTP port)."""
    srv = burrow_server("--http", "127.0.0.1:0", *extra)
    return srv, int(srv.wait_log(RE_HTTP_LISTENING).group(1))


def url_re(names, hport):
    """The URL a registration answers: the first name's, on the HTTP port."""
    return q(f"http://{names.split(',')[0]}:{hport}/")


def serving_re(tunnel, names, hport, target_port, paths=None):
    """The client's line for a registered http tunnel."""
    return (r"tunnel %s: serving %s%s on %s -> 127\.0\.0\.1:%d \(HTTP\)$"
            % (tunnel, q(names), " paths " + q(paths) if paths else "", url_re(names, hport),
               target_port))


def server_serving_re(tunnel, names, hport, paths=None):
    """The server's line for a registered http tunnel."""
    return (r"tunnel %s serving %s%s on %s \(HTTP\)$"
            % (tunnel, q(names), ";" + q(paths) if paths else "", url_re(names, hport)))


def commas(s):
    """A comma-separated YAML scalar as burrow logs it (no spaces)."""
    return ",".join(p.strip() for p in s.split(","))


def yaml_client(burrow_client, srv, tmp_path, *tunnels, wait_hport=None):
    """A client whose http tunnels come from a YAML file: each tunnel a
    tuple (name, domains, target port[, paths]) (domains and paths as the
    comma-separated scalars the file takes). With wait_hport, waits until
    each tunnel is served."""
    cfg = tmp_path / f"client-{secrets.token_hex(4)}.yaml"
    text = "tunnels:\n"
    for t in tunnels:
        name, domains, port = t[:3]
        paths = t[3] if len(t) > 3 else None
        text += (f"  - name: {name}\n    type: http\n    domains: {domains}\n"
                 + (f"    paths: {paths}\n" if paths else "")
                 + f"    local: 127.0.0.1:{port}\n")
    cfg.write_text(text)
    cli = burrow_client(srv, "-c", str(cfg))
    if wait_hport is not None:
        for t in tunnels:
            name, domains, port = t[:3]
            paths = t[3] if len(t) > 3 else None
            cli.wait_log(serving_re(q(name), commas(domains), wait_hport, port,
                                    commas(paths) if paths else None))
    return cli


# --------------------------------------------------------------------------
# Visitors: curl, and raw sockets that read responses exactly
# --------------------------------------------------------------------------

def curl(name, port, path="/", *args, timeout=LOG_TIMEOUT):
    """curl http://NAME:PORT/path with NAME resolved to 127.0.0.1:
    (rc, status, body bytes, stderr)."""
    r = subprocess.run(["curl", "-sS", "--max-time", str(timeout), "--resolve",
                        f"{name}:{port}:127.0.0.1", "-w", "\n%{http_code}", *args,
                        f"http://{name}:{port}{path}"], capture_output=True, timeout=timeout + 5)
    body, _, code = r.stdout.rpartition(b"\n")
    return r.returncode, int(code or 0), body, r.stderr.decode("latin-1")


def curl_json(name, port, path="/", *args):
    """A 200 with a service's JSON through the HTTP port."""
    rc, status, body, err = curl(name, port, path, *args)
    assert rc == 0 and status == 200, (name, path, rc, status, body[:300], err)
    return json.loads(body)


class Response:
    def __init__(self, status, reason, headers, body):
        self.status, self.reason, self.headers, self.body = status, reason, headers, body

    def header(self, name):
        vals = [v for k, v in self.headers if k.lower() == name.lower()]
        return vals[0] if vals else None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.reason} {self.headers} {self.body[:200]!r}>"


class Visitor:
    """A raw HTTP/1.1 connection to the HTTP port, from `source`."""

    def __init__(self, port, source="127.0.0.1"):
        self.s = socket.socket()
        self.s.bind((source, 0))
        self.s.settimeout(LOG_TIMEOUT)
        self.s.connect(("127.0.0.1", port))
        self.sport = self.s.getsockname()[1]
        self.buf = bytearray()

    def close(self):
        self.s.close()

    def send(self, data):
        self.s.sendall(data)

    @staticmethod
    def build(method, host, path="/", headers=(), body=None, version="HTTP/1.1"):
        lines = [f"{method} {path} {version}"]
        if host is not None:
            lines.append(f"Host: {host}")
        lines += [f"{k}: {v}" for k, v in headers]
        if body is not None and not any(k.lower() in ("content-length", "transfer-encoding")
                                        for k, _ in headers):
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")

    def request(self, method, host, path="/", headers=(), body=None, version="HTTP/1.1"):
        self.send(self.build(method, host, path, headers, body, version))

    def _more(self):
        d = self.s.recv(262144)
        if not d:
            raise EOFError(f"EOF; unread: {bytes(self.buf[:300])!r}")
        self.buf += d

    def _take(self, n):
        while len(self.buf) < n:
            self._more()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _line(self):
        while b"\r\n" not in self.buf:
            self._more()
        i = self.buf.index(b"\r\n")
        return self._take(i + 2)[:-2]

    def read_head(self):
        """The next response head: (status, reason, [(name, value)])."""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        i = self.buf.index(b"\r\n\r\n")
        head = self._take(i + 4)[:-4].decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3}) ?(.*)$", head[0])
        assert m, f"not a status line: {head[0]!r}"
        headers = [tuple(x.strip() for x in line.split(":", 1)) for line in head[1:]]
        return int(m.group(1)), m.group(2), headers

    def response(self, method="GET"):
        """The next final response (1xx skipped), its body read as its
        framing says (none after HEAD)."""
        while True:
            status, reason, headers = self.read_head()
            if not (100 <= status < 200):
                break
        r = Response(status, reason, headers, b"")
        te = (r.header("Transfer-Encoding") or "").lower()
        cl = r.header("Content-Length")
        if method == "HEAD" or status in (204, 304):
            return r
        if "chunked" in te:
            body = bytearray()
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line() != b"":
                        pass
                    break
                body += self._take(size)
                self._take(2)
            r.body = bytes(body)
        elif cl is not None:
            r.body = self._take(int(cl))
        else:
            r.body = self.read_to_eof()
        return r

    def read_to_eof(self, timeout=LOG_TIMEOUT):
        """What is left before EOF (a reset counts as the end)."""
        self.s.settimeout(timeout)
        try:
            while True:
                d = self.s.recv(262144)
                if not d:
                    break
                self.buf += d
        except ConnectionResetError:
            pass
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def still_open(self):
        """True if nothing (no byte, no EOF, no reset) has come yet."""
        if self.buf:
            return False
        self.s.setblocking(False)
        try:
            self.s.recv(1, socket.MSG_PEEK)
            return False
        except BlockingIOError:
            return True
        except OSError:
            return False
        finally:
            self.s.setblocking(True)
            self.s.settimeout(LOG_TIMEOUT)


def seen(info, name):
    """The values of header `name` a service received (info: its JSON)."""
    return [v for k, v in info["headers"] if k.lower() == name.lower()]


def get(v, host, path="/", headers=()):
    """GET on a Visitor: the response (asserted 200) as the service's JSON."""
    v.request("GET", host, path, headers)
    r = v.response()
    assert r.status == 200, r
    return r.json()


# --------------------------------------------------------------------------
# (1) Routing by Host
# --------------------------------------------------------------------------

def test_two_clients_by_host(burrow_server, burrow_client, web):
    """Two clients, each -R http: one name to its own service: curl through
    the HTTP port reaches each name's service (several times, in turns);
    the server logs each tunnel with its names (HTTP)."""
    a, b = web("A"), web("B")
    srv, hport = http_server(burrow_server)
    ca = burrow_client(srv, "-R", f"http:a.test:127.0.0.1:{a.port}")
    ca.wait_log(serving_re(ANY_TUNNEL, "a.test", hport, a.port))
    cb = burrow_client(srv, "-R", f"http:b.test:127.0.0.1:{b.port}")
    cb.wait_log(serving_re(ANY_TUNNEL, "b.test", hport, b.port))
    srv.wait_log(server_serving_re(ANY_TUNNEL, "a.test", hport))
    srv.wait_log(server_serving_re(ANY_TUNNEL, "b.test", hport))
    for _ in range(3):
        for name, label in (("a.test", "A"), ("b.test", "B")):
            info = curl_json(name, hport, f"/from/{name}")
            assert info["service"] == label and info["path"] == f"/from/{name}", info
            assert seen(info, "Host") == [f"{name}:{hport}"], info
    assert len(a.records) == 3 and len(b.records) == 3


def test_flag_tunnels_named_like_other_r_tunnels(burrow_server, burrow_client, web, echo):
    """-R tunnels given as flags are named r1, r2, r3 in order, whatever
    their kind (as -R https: ones are): two http tunnels then a tcp one;
    the server names them the same way."""
    a, b = web("A"), web("B")
    srv, hport = http_server(burrow_server)
    cli = burrow_client(srv, "-R", f"http:a.test:127.0.0.1:{a.port}",
                        "-R", f"http:b.test,*.b.test:127.0.0.1:{b.port}",
                        "-R", f"0:127.0.0.1:{echo.port}")
    cli.wait_log(serving_re("r1", "a.test", hport, a.port))
    cli.wait_log(serving_re("r2", "b.test,*.b.test", hport, b.port))
    cli.tunnel_port("r3")
    srv.wait_log(server_serving_re("r1", "a.test", hport))
    srv.wait_log(server_serving_re("r2", "b.test,*.b.test", hport))
    assert curl_json("x.b.test", hport)["service"] == "B"


def test_wildcards_and_exact_names(burrow_server, burrow_client, web):
    """Client A serves *.dev.test, B api.dev.test, C *.x.dev.test: a.dev and
    b.c.dev (more than one label in front) go to A, api.dev to B (exact
    before a wildcard), q.x.dev to C (the longest wildcard) while y.dev
    stays A; dev.test itself, xdev.test and api.dev.test.evil.test are
    unknown (404, logged)."""
    a, b, c = web("A"), web("B"), web("C")
    srv, hport = http_server(burrow_server)
    for svc, name in ((a, "*.dev.test"), (b, "api.dev.test"), (c, "*.x.dev.test")):
        cli = burrow_client(srv, "-R", f"http:{name}:127.0.0.1:{svc.port}")
        cli.wait_log(serving_re(ANY_TUNNEL, name, hport, svc.port))
    for host, label in (("a.dev.test", "A"), ("b.c.dev.test", "A"), ("api.dev.test", "B"),
                        ("q.x.dev.test", "C"), ("deep.q.x.dev.test", "C"), ("y.dev.test", "A")):
        assert curl_json(host, hport)["service"] == label, host
    for host in ("dev.test", "xdev.test", "api.dev.test.evil.test"):
        mark = srv.mark()
        rc, status, body, err = curl(host, hport)
        assert rc == 0 and status == 404 and body == f"No tunnel serves {host}.\n".encode(), \
            (host, status, body)
        srv.wait_log(r"http: 127\.0\.0\.1:\d+: %s/: no tunnel serves this host \(404\)$" % q(host),
                     since=mark)


def test_unknown_host_404_and_closed(burrow_server, burrow_client, web, tmp_path):
    """A Host nobody serves: 404 "No tunnel serves HOST.\\n" with
    Connection: close, then the connection ends; the server logs the visitor,
    the host and the path."""
    a = web("A")
    srv, hport = http_server(burrow_server)
    yaml_client(burrow_client, srv, tmp_path, ("web", "app.test", a.port), wait_hport=hport)
    mark = srv.mark()
    v = Visitor(hport)
    v.request("GET", "nobody.test", "/some/page?q=1")
    r = v.response()
    assert r.status == 404 and r.body == b"No tunnel serves nobody.test.\n", r
    assert (r.header("Connection") or "").lower() == "close", r
    assert v.read_to_eof() == b""
    v.close()
    srv.wait_log(r"http: 127\.0\.0\.1:%d: nobody\.test/some/page: no tunnel serves this host \(404\)$"
                 % v.sport, since=mark)
    assert a.records == []


def test_host_port_case_and_dot_ignored(burrow_server, burrow_client, web, tmp_path):
    """Host: App.Test:8080, APP.TEST and app.test. (the root's dot) all go to
    app.test's service; the service gets the Host as sent and
    X-Forwarded-Host the same."""
    a = web("A")
    srv, hport = http_server(burrow_server)
    yaml_client(burrow_client, srv, tmp_path, ("web", "app.test", a.port), wait_hport=hport)
    v = Visitor(hport)
    for host in ("App.Test:8080", "APP.TEST", "app.test.", "app.test:1"):
        info = get(v, host)
        assert info["service"] == "A"
        assert seen(info, "Host") == [host], info
        assert seen(info, "X-Forwarded-Host") == [host], info
    v.close()


@pytest.mark.parametrize("host_lines", [
    [],
    ["Host: bad_host.test"],
    ["Host: "],
    ["Host: [::1]:80"],
    ["Host: app.test/evil"],
], ids=["none", "underscore", "empty", "ipv6-literal", "slash"])
def test_no_usable_host_400(burrow_server, burrow_client, web, tmp_path, host_lines):
    """An HTTP/1.1 request without a Host, or with one that is no host name:
    400, closed; the service sees nothing."""
    a = web("A")
    srv, hport = http_server(burrow_server)
    yaml_client(burrow_client, srv, tmp_path, ("web", "app.test", a.port), wait_hport=hport)
    v = Visitor(hport)
    v.send(("GET / HTTP/1.1\r\n" + "".join(l + "\r\n" for l in host_lines) + "\r\n").encode())
    r = v.response()
    assert r.status == 400, r
    assert v.read_to_eof() == b""
    v.close()
    assert a.records == []
    # The port still works.
    assert curl_json("app.test", hport)["service"] == "A"


def test_connect_405(burrow_server, burrow_client, web, tmp_path):
    """CONNECT (a forward proxy's method), even for a served name: 405, and
    the service sees nothing."""
    a = web("A")
    srv, hport = http_server(burrow_server)
    yaml_client(burrow_client, srv, tmp_path, ("web", "app.test", a.port), wait_hport=hport)
    v = Visitor(hport)
    v.send(b"CONNECT app.test:443 HTTP/1.1\r\nHost: app.test:443\r\n\r\n")
    r = v.response()
    assert r.status == 405 and r.body == b"This is not a forward proxy.\n", r
    assert v.read_to_eof() == b""
    v.close()
    assert a.records == []


# --------------------------------------------------------------------------
# (2) Routing by path prefix (YAML)
# --------------------------------------------------------------------------

def test_paths_longest_prefix(burrow_server, burrow_client, web, tmp_path):
    """One YAML client, three tunnels for app.test: "root" (no paths: "/"),
    "api" (paths: /api) and "v2" (paths: /v2/, and b.test's /x): the longest
    prefix that takes the path wins: /api and /api/... and /api?q go to api
    but /apix, /API and /v2 to root, /v2/... to v2; b.test has only /v2/ and /x
    (v2's), so b.test/, b.test/v2 and b.test/xy are 404 "No tunnel serves
    this path on b.test." (logged), while b.test/x/1 and b.test/v2/ go to
    v2."""
    root, api, v2 = web("root"), web("api"), web("v2")
    srv, hport = http_server(burrow_server)
    cli = yaml_client(burrow_client, srv, tmp_path, ("root", "app.test", root.port),
                      ("api", "app.test", api.port, "/api"),
                      ("v2", "app.test, b.test", v2.port, "/v2/, /x"), wait_hport=hport)
    assert cli.find(r"registration failed") is None
    srv.wait_log(server_serving_re("v2", "app.test,b.test", hport, "/v2/,/x"))
    cases = [("/", "root"), ("/index.html", "root"), ("/api", "api"), ("/api/", "api"),
             ("/api/users/7", "api"), ("/api?q=1", "api"), ("/apix", "root"), ("/API", "root"),
             ("/v2", "root"), ("/v2/", "v2"), ("/v2/items?a=b", "v2"), ("/x", "v2"),
             ("/x/y", "v2"), ("/xy", "root")]
    for path, label in cases:
        info = curl_json("app.test", hport, path)
        assert info["service"] == label and info["path"] == path, (path, info)
    assert curl_json("b.test", hport, "/x/1")["service"] == "v2"
    assert curl_json("b.test", hport, "/v2/")["service"] == "v2"
    for path in ("/", "/v2", "/xy"):
        mark = srv.mark()
        rc, status, body, err = curl("b.test", hport, path)
        assert status == 404 and body == b"No tunnel serves this path on b.test.\n", (path, body)
        srv.wait_log(r"http: 127\.0\.0\.1:\d+: b\.test%s: no tunnel serves this path \(404\)$"
                     % q(path), since=mark)


def test_keepalive_alternating_paths(burrow_server, burrow_client, web, tmp_path):
    """One connection, requests alternating between the tunnel of /api and
    that of /: each goes to the right service, on the same visitor
    connection."""
    root, api = web("root"), web("api")
    srv, hport = http_server(burrow_server)
    yaml_client(burrow_client, srv, tmp_path, ("root", "app.test", root.port),
                ("api", "app.test", api.port, "/api"), wait_hport=hport)
    v = Visitor(hport)
    for i in range(4):
        for path, label in ((f"/api/{i}", "api"), (f"/page/{i}", "root"), ("/api", "api"),
                            ("/apix", "root")):
            info = get(v, "app.test", path)
            assert info["service"] == label and info["path"] == path, (path, info)
    assert v.still_open()
    v.close()
    assert len(api.records) == 8 and len(root.records) == 8


# --------------------------------------------------------------------------
# (3) The head the service sees
# --------------------------------------------------------------------------

def test_forwarded_headers_replace_visitor_claims(burrow_server, burrow_client, web, tmp_path):
    """A visitor from 127.0.0.2 (no trusted proxies) that claims
    X-Forwarded-For / -Proto / -Host, X-Real-IP and Forwarded: the service
    sees only ours, once each: X-Forwarded-For and X-Real-IP 127.0.0.2,
    X-Forwarded-Proto http, X-Forwarded-Host the Host as sent, Forwarded
    for=127.0.0.2;host="...";proto=http; its other headers as sent."""
    a = web("A")
    srv, hport = http_server(burrow_server)
    yaml_client(burrow_client, srv, tmp_path, ("web", "app.test", a.port), wait_hport=hport)
    v = Visitor(hport, source="127.0.0.2")
    info = get(v, "app.test:8080", "/who", [
        ("X-Forwarded-For", "10.9.9.9"), ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "evil.example"), ("X-Real-IP", "10.9.9.9"),
        ("Forwarded", "for=10.9.9.9;proto=https"), ("X-Forwarded-For", "10.8.8.8"),
        ("User-Agent", "burrow-e2e/1"), ("Accept", "*/*"), ("X-Custom", "a, b")])
    v.close()
    assert info["peer"] == "127.0.0.1"  # the service sees the client's connection
    assert seen(info, "X-Forwarded-For") == ["127.0.0.2"], info
    assert seen(info, "X-Real-IP") == ["127.0.0.2"], info
    assert seen(info, "X-Forwarded-Proto") == ["http"], info
    assert seen(info, "X-Forwarded-Host") == ["app.test:8080"], info
    assert seen(info, "Forwarded") == ['for=127.0.0.2;host="app.test:8080";proto=http'], info
    assert seen(info, "Host") == ["app.test:8080"]
    assert seen(info, "User-Agent") == ["burrow-e2e/1"]
    assert seen(info, "Accept") == ["*/*"]
    assert seen(info, "X-Custom") == ["a, b"]


def test_hop_by_hop_headers_removed(burrow_server, burrow_client, web, tmp_path):
    """Connection, Keep-Alive, Proxy-Connection, Proxy-Authorization, TE,
    Trailer, a header named in Connection and Upgrade (no upgrade asked)
    do not reach the service; other headers do, and the connection stays
    usable."""
    a = web("A")
    srv, hport = http_server(burrow_server)
    yaml_client(burrow_client, srv, tmp_path, ("web", "app.test", a.port), wait_hport=hport)
    v = Visitor(hport)
    info = get(v, "app.test", "/hop", [
        ("Connection", "keep-alive, X-Secret-Hop"), ("Keep-Alive", "timeout=5"),
        ("Proxy-Connection", "keep-alive"), ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
        ("TE", "trailers"), ("Trailer", "X-Checksum"), ("X-Secret-Hop", "must not pass"),
        ("Upgrade", "h2c"), ("X-Kept", "yes")])
    names = {k.lower() for k, _ in info["headers"]}
    for gone in ("connection", "keep-alive", "proxy-connection", "proxy-authorization", "te",
                 "trailer", "x-secret-hop", "upgrade"):
        assert gone not in names, (gone, info["headers"])
    assert seen(info, "X-Kept") == ["yes"]
    assert get(v, "app.test", "/again")["path"] == "/again"
    v.close()


@pytest.mark.parametrize("how", ["flag", "yaml"])
def test_trusted_proxy_headers_appended(burrow_server, burrow_client, web, tmp_path, how):
    """--trusted-proxies 127.0.0.2:* (or YAML trusted_proxies): a visitor from
    127.0.0.2 keeps its X-Forwarded-Proto / -Host and X-Real-IP, and its
    X-Forwarded-For and Forwarded get its own address appended; the same
    headers from 127.0.0.1 (not trusted) are replaced by ours."""
    a = web("A")
    if how == "flag":
        srv, hport = http_server(burrow_server, "--trusted-proxies", "127.0.0.2:*")
    else:
        scfg = tmp_path / "server.yaml"
        scfg.write_text('http: 127.0.0.1:0\ntrusted_proxies: "127.0.0.2:*"\n')
        srv = burrow_server("-c", str(scfg))
        hport = int(srv.wait_log(RE_HTTP_LISTENING).group(1))
    yaml_client(burrow_client, srv, tmp_path, ("web", "app.test", a.port), wait_hport=hport)
    claims = [("X-Forwarded-For", "10.9.9.9"), ("X-Forwarded-Proto", "https"),
              ("X-Forwarded-Host", "public.example"), ("X-Real-IP", "10.9.9.9"),
              ("Forwarded", 'for=10.9.9.9;host="public.example";proto=https')]
    v = Visitor(hport, source="127.0.0.2")
    info = get(v, "app.test", "/", claims)
    v.close()
    assert seen(info, "X-Forwarded-For") == ["10.9.9.9, 127.0.0.2"], info
    assert seen(info, "X-Forwarded-Proto") == ["https"], info
    assert seen(info, "X-Forwarded-Host") == ["public.example"], info
    assert seen(info, "X-Real-IP") == ["10.9.9.9"], info
    assert seen(info, "Forwarded") == ['for=10.9.9.9;host="public.example";proto=https, '
                                       'for=127.0.0.2;host="app.test";proto=http'], info
    # A trusted proxy that claims nothing gets ours.
    v = Visitor(hport, source="127.0.0.2")
    info = get(v, "app.test")
    v.close()
    assert seen(info, "X-Forwarded-For") == ["127.0.0.2"], info
    assert seen(info, "X-Forwarded-Proto") == ["http"], info
    assert seen(info, "X-Real-IP") == ["127.0.0.2"], info
    # Not trusted: replaced.
    v = Visitor(hport, source="127.0.0.1")
    info = get(v, "app.test", "/", claims)
    v.close()
    assert seen(info, "X-Forwarded-For") == ["127.0.0.1"], info
    assert seen(info, "X-Forwarded-Proto") == ["http"], info
    assert seen(info, "X-Forwarded-Host") == ["app.test"], info
    assert seen(info, "X-Real-IP") == ["127.0.0.1"], info
    assert seen(info, "Forwarded") == ['for=127.0.0.1;host="app.test";proto=http'], info


# --------------------------------------------------------------------------
# (4) Errors: 502, 504, the slow loris
# --------------------------------------------------------------------------

def test_closed_service_port_502(burrow_server, burrow_client):
    """A tunnel whose target port has nobody listening: each request gets
    502 "... closed the connection without a response." and the
    connection closes; the client logs the failed dial, the server the
    502."""
    dead = closed_port()
    srv, hport = http_server(burrow_server)
    cli = burrow_client(srv, "-R", f"http:dead.test:127.0.0.1:{dead}")
    cli.wait_log(serving_re(ANY_TUNNEL, "dead.test", hport, dead))
    for _ in range(2):
        mark, cmark = srv.mark(), cli.mark()
        v = Visitor(hport)
        v.request("GET", "dead.test", "/x")
        r = v.response()
        assert r.status == 502, r
        assert r.body == b"The service of dead.test closed the connection without a response.\n", r
        assert v.read_to_eof() == b""
        v.close()
        srv.wait_log(r"http: 127\.0\.0\.1:%d: dead\.test: the service closed without a response "
                     r"\(502; the client's log says why\)$" % v.sport, since=mark)
        cli.wait_log(r"tunnel \S+: stream \d+: open failed: dial 127\.0\.0\.1:%d: Connection refused"
                     % dead, since=cmark)


def test_garbage_service_502(burrow_server, burrow_client, raw_service, web, tmp_path):
    """A service that answers bytes that are not HTTP: 502 "answered
    garbage", logged; another name on the port keeps working."""
    junk, a = raw_service("garbage"), web("A")
    srv, hport = http_server(burrow_server)
    yaml_client(burrow_client, srv, tmp_path, ("junk", "junk.test", junk.port),
                ("web", "app.test", a.port), wait_hport=hport)
    mark = srv.mark()
    rc, status, body, err = curl("junk.test", hport, "/")
    assert rc == 0 and status == 502, (rc, status, body, err)
    assert body == b"The service of junk.test answered garbage.\n", body
    srv.wait_log(r"http: 127\.0\.0\.1:\d+: junk\.test: the service's response is not HTTP "
                 r"\(\w+\) \(502\)$", since=mark)
    assert curl_json("app.test", hport)["service"] == "A"


@pytest.mark.parametrize("how", ["flag", "yaml"])
def test_silent_service_504(burrow_server, burrow_client, raw_service, web, tmp_path, how):
    """--response-timeout 1s (or YAML response_timeout): a service that
    accepts and never answers gets the visitor a 504 "did not answer in
    time" after about 1 s (not before), logged; meanwhile another name is
    served at once."""
    silent, a = raw_service("silent"), web("A")
    if how == "flag":
        srv, hport = http_server(burrow_server, "--response-timeout", "1s")
    else:
        scfg = tmp_path / "server.yaml"
        scfg.write_text("http: 127.0.0.1:0\nresponse_timeout: 1s\n")
        srv = burrow_server("-c", str(scfg))
        hport = int(srv.wait_log(RE_HTTP_LISTENING).group(1))
    yaml_client(burrow_client, srv, tmp_path, ("slow", "slow.test", silent.port),
                ("web", "app.test", a.port), wait_hport=hport)
    mark = srv.mark()
    v = Visitor(hport)
    t0 = time.monotonic()
    v.request("GET", "slow.test", "/wait")
    assert silent.accepted.wait(LOG_TIMEOUT), "the service got no connection"
    assert curl_json("app.test", hport)["service"] == "A"
    r = v.response()
    elapsed = time.monotonic() - t0
    assert r.status == 504 and r.body == b"The service of slow.test did not answer in time.\n", r
    assert 0.9 <= elapsed < LOG_TIMEOUT, elapsed
    assert v.read_to_eof() == b""
    v.close()
    srv.wait_log(r"http: 127\.0\.0\.1:%d: slow\.test: no response within response_timeout \(504\)$"
                 % v.sport, since=mark)


def test_response_begun_before_timeout_is_not_504(burrow_server, burrow_client, web, tmp_path):
    """--response-timeout 1s: a service that sends its head at once and its
    body 1.5 s later is a response begun in time: the visitor gets it whole,
    no 504."""
    a = web("A")
    srv, hport = http_server(burrow_server, "--response-timeout", "1s")
    yaml_client(burrow_client, srv, tmp_path, ("web", "app.test", a.port), wait_hport=hport)
    v = Visitor(hport)
    t0 = time.monotonic()
    v.request("GET", "app.test", "/slow-body")
    r = v.response()
    assert r.status == 200 and r.body == b"the body came late\n", r
    assert time.monotonic() - t0 >= 1.4
    assert get(v, "app.test", "/next")["path"] == "/next"
    v.close()
    assert srv.find(r"\(504\)") is None


def test_slow_upload_is_not_504(burrow_server, burrow_client, web, tmp_path):
    """--response-timeout 1s runs from the request's end: a visitor that
    sends half its body, pauses 1.5 s (the slow uploader this is about)
    and sends the rest gets the service's 200 with the whole body, no
    504."""
    a = web("A")
    srv, hport = http_server(burrow_server, "--response-timeout", "1s")
    yaml_client(burrow_client, srv, tmp_path, ("web", "app.test", a.port), wait_hport=hport)
    v = Visitor(hport)
    body = b"x" * 2000
    whole = v.build("POST", "app.test", "/upload", body=body)
    v.send(whole[:-1000])
    time.sleep(1.5)  # the upload is slow on purpose: longer than response_timeout
    v.send(whole[-1000:])
    r = v.response()
    assert r.status == 200, r
    assert json.loads(r.body)["body_len"] == 2000, r.body
    v.close()
    assert srv.find(r"\(504\)") is None


def test_service_closes_mid_response(burrow_server, burrow_client, web, tmp_path):
    """A service that closes in the middle of its body (100 of 1000 bytes):
    the visitor gets the head and those bytes, then the end (no 502 glued
    to it); logged."""
    a = web("A")
    srv, hport = http_server(burrow_server)
    yaml_client(burrow_client, srv, tmp_path, ("web", "app.test", a.port), wait_hport=hport)
    mark = srv.mark()
    v = Visitor(hport)
    v.request("GET", "app.test", "/truncate")
    status, _, headers = v.read_head()
    assert status == 200 and ("Content-Length", "1000") in headers, headers
    assert v.read_to_eof() == b"x" * 100
    v.close()
    srv.wait_log(r"http: 127\.0\.0\.1:%d: app\.test: the service closed in the middle of its "
                 r"response$" % v.sport, since=mark)


def test_slow_loris_head_400_after_10s(burrow_server, burrow_client, web, tmp_path):
    """A visitor sends part of a head and stalls; meanwhile curl is served
    and a keep-alive visitor makes requests; the stalled one is answered
    400 "Request head too slow." and closed after 10 s (not before 9 s),
    logged; the keep-alive visitor, idle past those 10 s, is still served
    (the 10 s are for a head begun, not for an idle connection)."""
    a = web("A")
    srv, hport = http_server(burrow_server)
    yaml_client(burrow_client, srv, tmp_path, ("web", "app.test", a.port), wait_hport=hport)
    mark = srv.mark()
    t0 = time.monotonic()
    loris = Visitor(hport)
    loris.send(b"GET / HTTP/1.1\r\nHost: app.test\r\nX-Slow: 1")
    idle = Visitor(hport)
    assert get(idle, "app.test", "/before")["path"] == "/before"
    for _ in range(3):
        assert curl_json("app.test", hport)["service"] == "A"
    assert loris.still_open()
    r = loris.response()  # waits for the server's timer
    elapsed = time.monotonic() - t0
    assert r.status == 400 and r.body == b"Request head too slow.\n", r
    assert 9.0 <= elapsed < 10 + LOG_TIMEOUT, elapsed
    assert loris.read_to_eof() == b""
    loris.close()
    srv.wait_log(r"http: 127\.0\.0\.1:%d: no whole request head within 10 s: closed$" % loris.sport,
                 since=mark)
    assert get(idle, "app.test", "/after")["path"] == "/after"
    idle.close()
    assert all(seen(r, "X-Slow") == [] for r in a.records), "the stalled head reached the service"


# --------------------------------------------------------------------------
# (5) Bodies both ways
# --------------------------------------------------------------------------

@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_large_post(burrow_server, burrow_client, web, tmp_path, chunked):
    """curl POSTs 20 MB (Content-Length, or chunked Transfer-Encoding; curl
    sends Expect: 100-continue for such bodies): the service receives it
    whole (length and SHA-256) with the header that framed it."""
    a = web("A")
    srv, hport = http_server(burrow_server)
    yaml_client(burrow_client, srv, tmp_path, ("web", "app.test", a.port), wait_hport=hport)
    data = os.urandom(20 * MB)
    f = tmp_path / "upload.bin"
    f.write_bytes(data)
    args = ["--data-binary", f"@{f}", "-H", "Content-Type: application/octet-stream"]
    if chunked:
        args += ["-H", "Transfer-Encoding: chunked"]
    rc, status, body, err = curl("app.test", hport, "/upload", *args, timeout=60)
    assert rc == 0 and status == 200, (rc, status, body[:300], err)
    info = json.loads(body)
    assert info["method"] == "POST" and info["body_len"] == len(data), info["body_len"]
    assert info["body_sha"] == sha(data)
    if chunked:
        assert seen(info, "Transfer-Encoding") == ["chunked"], info
    else:
        assert seen(info, "Content-Length") == [str(len(data))], info
    assert seen(info, "Expect") == ["100-continue"], info


def test_large_download(burrow_server, burrow_client, web, tmp_path):
    """curl downloads 50 MB through the HTTP port: byte-exact (SHA-256)."""
    a = web("A")
    srv, hport = http_server(burrow_server)
    yaml_client(burrow_client, srv, tmp_path, ("web", "app.test", a.port), wait_hport=hport)
    size = 50 * MB
    out = tmp_path / "download.bin"
    rc, status, body, err = curl("app.test", hport, f"/download/{size}", "-o", str(out), timeout=60)
    assert rc == 0 and status == 200, (rc, status, err)
    got = out.read_bytes()
    assert len(got) == size and sha(got) == sha(pattern(size))


def test_response_over_16k_then_next_request(burrow_server, burrow_client, web, tmp_path):
    """A 1 MB response (Content-Length) on a keep-alive connection arrives
    whole (more than the server's 16 KiB buffer), and the connection then
    takes the next request."""
    a = web("A")
    srv, hport = http_server(burrow_server)
    yaml_client(burrow_client, srv, tmp_path, ("web", "app.test", a.port), wait_hport=hport)
    v = Visitor(hport)
    v.request("GET", "app.test", f"/download/{MB}")
    r = v.response()
    assert r.status == 200 and len(r.body) == MB and r.body == pattern(MB), len(r.body)
    assert get(v, "app.test", "/next")["path"] == "/next"
    v.close()


def test_expect_100_continue(burrow_server, burrow_client, web, tmp_path):
    """A raw POST with Expect: 100-continue sends its head only: the
    service's 100 Continue comes back through the port before the body is
    sent; then the body, then the final response; the connection then takes
    another request."""
    a = web("A")
    srv, hport = http_server(burrow_server)
    yaml_client(burrow_client, srv, tmp_path, ("web", "app.test", a.port), wait_hport=hport)
    v = Visitor(hport)
    body = os.urandom(100000)
    v.send(b"POST /up HTTP/1.1\r\nHost: app.test\r\nContent-Length: %d\r\n"
           b"Expect: 100-continue\r\n\r\n" % len(body))
    status, reason, _ = v.read_head()
    assert status == 100, (status, reason)
    v.send(body)
    r = v.response("POST")
    assert r.status == 200, r
    info = r.json()
    assert info["body_len"] == len(body) and info["body_sha"] == sha(body), info
    assert get(v, "app.test", "/next")["path"] == "/next"
    v.close()


def test_head_then_get_on_one_connection(burrow_server, burrow_client, web, tmp_path):
    """HEAD of a 50 MB download: its Content-Length and no body; the same
    connection then gets a GET's 1000 bytes, another HEAD, and a GET of the
    JSON (the HEAD's length is not read as a body)."""
    a = web("A")
    srv, hport = http_server(burrow_server)
    yaml_client(burrow_client, srv, tmp_path, ("web", "app.test", a.port), wait_hport=hport)
    v = Visitor(hport)
    v.request("HEAD", "app.test", f"/download/{50 * MB}")
    r = v.response("HEAD")
    assert r.status == 200 and r.header("Content-Length") == str(50 * MB) and r.body == b"", r
    v.request("GET", "app.test", "/download/1000")
    r = v.response()
    assert r.status == 200 and r.body == pattern(1000), r
    v.request("HEAD", "app.test", "/json")
    r = v.response("HEAD")
    assert r.status == 200 and int(r.header("Content-Length")) > 0 and r.body == b"", r
    info = get(v, "app.test", "/json")
    assert info["path"] == "/json" and info["method"] == "GET"
    assert [x["method"] for x in a.records] == ["HEAD", "GET", "HEAD", "GET"]
    assert v.still_open()
    v.close()


# --------------------------------------------------------------------------
# (6) Keep-alive and pipelining
# --------------------------------------------------------------------------

def test_keepalive_alternating_hosts(burrow_server, burrow_client, web, tmp_path):
    """One visitor connection: requests alternating between a.test and
    b.test (two clients), each answered by its service; a chunked POST
    followed by a GET on the same connection (the body's end found);
    requests in a row to one name keep the service's connection (one stream
    while the route stays)."""
    a, b = web("A"), web("B")
    srv, hport = http_server(burrow_server)
    yaml_client(burrow_client, srv, tmp_path, ("a", "a.test", a.port), wait_hport=hport)
    yaml_client(burrow_client, srv, tmp_path, ("b", "b.test", b.port), wait_hport=hport)
    v = Visitor(hport)
    for i in range(5):
        for host, label in (("a.test", "A"), ("b.test", "B")):
            info = get(v, host, f"/{i}")
            assert info["service"] == label and info["path"] == f"/{i}", info
    chunked = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    v.request("POST", "b.test", "/chunks", [("Transfer-Encoding", "chunked")], chunked)
    r = v.response("POST")
    assert r.status == 200, r
    assert r.json()["body_len"] == 11 and r.json()["body_sha"] == sha(b"hello world")
    conns = {get(v, "a.test", f"/same/{i}")["conn"] for i in range(4)}
    assert len(conns) == 1, conns
    assert v.still_open()
    v.close()


def test_pipelined_requests_in_order(burrow_server, burrow_client, web, tmp_path):
    """Six requests in one send() (GET a, GET b, POST a with a body, HEAD b,
    GET b/api (another tunnel of b.test by path), GET a with Connection:
    close): six responses in order, each from the right service, the HEAD's
    without a body, then the end of the connection."""
    a, b, bapi = web("A"), web("B"), web("Bapi")
    srv, hport = http_server(burrow_server)
    yaml_client(burrow_client, srv, tmp_path, ("a", "a.test", a.port), ("b", "b.test", b.port),
                ("bapi", "b.test", bapi.port, "/api"), wait_hport=hport)
    v = Visitor(hport)
    reqs = [("GET", "a.test", "/p1", (), None), ("GET", "b.test", "/p2", (), None),
            ("POST", "a.test", "/p3", (), b"hello pipeline"), ("HEAD", "b.test", "/p4", (), None),
            ("GET", "b.test", "/api/p5", (), None),
            ("GET", "a.test", "/p6", (("Connection", "close"),), None)]
    v.send(b"".join(Visitor.build(m, h, p, hd, body) for m, h, p, hd, body in reqs))
    want = ["A", "B", "A", "B", "Bapi", "A"]
    for (method, host, path, _, body), label in zip(reqs, want):
        r = v.response(method)
        assert r.status == 200, (path, r)
        assert r.header("X-Service") == label, (path, r)
        if method == "HEAD":
            assert r.body == b""
            continue
        info = r.json()
        assert info["path"] == path and info["method"] == method, info
        if body:
            assert info["body_len"] == len(body) and info["body_sha"] == sha(body)
    assert v.read_to_eof() == b""
    v.close()


@pytest.mark.parametrize("how", ["connection-close", "http10"])
def test_visitor_close_after_response(burrow_server, burrow_client, web, tmp_path, how):
    """A request with Connection: close (HTTP/1.1), or an HTTP/1.0 request
    without keep-alive: the whole response, then the connection ends; the
    service never sees a Connection header."""
    a = web("A")
    srv, hport = http_server(burrow_server)
    yaml_client(burrow_client, srv, tmp_path, ("web", "app.test", a.port), wait_hport=hport)
    v = Visitor(hport)
    if how == "http10":
        v.request("GET", "app.test", "/last", version="HTTP/1.0")
    else:
        v.request("GET", "app.test", "/last", [("Connection", "close")])
    r = v.response()
    assert r.status == 200 and r.json()["path"] == "/last", r
    assert seen(r.json(), "Connection") == []
    assert v.read_to_eof() == b""
    v.close()


def test_response_headers_set_and_removed(burrow_server, burrow_client, web, tmp_path):
    """YAML response_headers: the service's Date and X-Service are removed,
    Server replaced and X-Frame-Options added, on every response of a
    keep-alive connection (a 100 Continue before a final one passes as it
    is); the bodies are whole. Another tunnel without them is untouched."""
    a, b = web("A"), web("B")
    srv, hport = http_server(burrow_server)
    cfg = tmp_path / "client-rh.yaml"
    cfg.write_text(
        "tunnels:\n"
        f"  - name: rh\n    type: http\n    domains: rh.test\n    local: 127.0.0.1:{a.port}\n"
        "    response_headers:\n      set: {X-Frame-Options: DENY, Server: burrow-test}\n"
        "      remove: [Date, X-Service]\n"
        f"  - name: plain\n    type: http\n    domains: plain.test\n    local: 127.0.0.1:{b.port}\n")
    cli = burrow_client(srv, "-c", str(cfg))
    cli.wait_log(serving_re("rh", "rh.test", hport, a.port))
    cli.wait_log(serving_re("plain", "plain.test", hport, b.port))
    v = Visitor(hport)
    for path in ("/one", "/two"):
        v.request("GET", "rh.test", path)
        r = v.response()
        assert r.status == 200 and r.json()["path"] == path, r
        assert r.header("X-Frame-Options") == "DENY" and r.header("Server") == "burrow-test", r
        assert r.header("Date") is None and r.header("X-Service") is None, r
        assert [k for k, _ in r.headers].count("Server") == 1, r
    body = b"y" * 5000
    v.request("POST", "rh.test", "/up", headers=[("Expect", "100-continue"),
                                                 ("Content-Length", str(len(body)))])
    status, _, headers = v.read_head()
    assert status == 100 and not [h for h in headers if h[0] == "X-Frame-Options"], headers
    v.send(body)
    r = v.response()
    assert r.status == 200 and r.json()["body_len"] == 5000, r
    assert r.header("X-Frame-Options") == "DENY", r
    v.request("GET", "plain.test", "/p")
    r = v.response()
    assert r.header("X-Service") == "B" and r.header("X-Frame-Options") is None, r
    assert r.header("Date") is not None, r
    v.close()


def test_service_connection_close(burrow_server, burrow_client, web, tmp_path):
    """After a first exchange on a keep-alive connection, a service's
    response with Connection: close reaches the visitor whole, then the
    connection ends."""
    a = web("A")
    srv, hport = http_server(burrow_server)
    yaml_client(burrow_client, srv, tmp_path, ("web", "app.test", a.port), wait_hport=hport)
    v = Visitor(hport)
    assert get(v, "app.test", "/first")["path"] == "/first"
    v.request("GET", "app.test", "/close")
    r = v.response()
    assert r.status == 200 and (r.header("Connection") or "").lower() == "close", r
    assert r.json()["path"] == "/close"
    assert v.read_to_eof() == b""
    v.close()


def test_http10_service_response_until_close(burrow_server, burrow_client, web, tmp_path):
    """An HTTP/1.0 response with no length (ended by the service's close),
    300 KB: it arrives whole, then the connection ends."""
    a = web("A")
    srv, hport = http_server(burrow_server)
    yaml_client(burrow_client, srv, tmp_path, ("web", "app.test", a.port), wait_hport=hport)
    size = 300 * 1000
    v = Visitor(hport)
    v.request("GET", "app.test", f"/http10/{size}")
    status, _, headers = v.read_head()
    assert status == 200 and ("X-Service", "A") in headers, headers
    body = v.read_to_eof()  # no length: the body ends with the connection
    v.close()
    assert len(body) == size and body == pattern(size), len(body)


def concurrent_posts(connect, count, a, b):
    """count visitors at once (connect(n) gives visitor n's connection),
    each sending 6 POSTs on it that alternate between a.test (service a)
    and b.test (b), bodies of random sizes up to 256 KB: each answered by
    the right service, byte-exact (SHA-256 in its answer)."""
    errors = []

    def visitor(n):
        try:
            v = connect(n)
            for i in range(6):
                host, label = (("a.test", "A"), ("b.test", "B"))[(n + i) % 2]
                body = os.urandom(int.from_bytes(os.urandom(3), "big") % (256 * 1024))
                v.request("POST", host, f"/v{n}/{i}", (), body)
                r = v.response("POST")
                info = r.json()
                assert r.status == 200 and info["service"] == label, (n, i, r)
                assert info["path"] == f"/v{n}/{i}", info
                assert info["body_len"] == len(body) and info["body_sha"] == sha(body), (n, i)
            v.close()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"visitor {n}: {e!r}")

    threads = [threading.Thread(target=visitor, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(a.records) + len(b.records) == count * 6


def test_concurrent_visitors(burrow_server, burrow_client, web, tmp_path):
    """24 visitors at once, each on one keep-alive connection: 6 requests
    alternating between two names, POST bodies of random sizes up to 256 KB
    (byte-exact at the service, by SHA-256 in its answer)."""
    a, b = web("A"), web("B")
    srv, hport = http_server(burrow_server)
    yaml_client(burrow_client, srv, tmp_path, ("a", "a.test", a.port), ("b", "b.test", b.port),
                wait_hport=hport)
    concurrent_posts(lambda n: Visitor(hport), 24, a, b)


# --------------------------------------------------------------------------
# (7) WebSocket through a name
# --------------------------------------------------------------------------

WS_ECHO = r'''
import asyncio, signal, sys
import websockets

async def echo(ws):
    h = ws.request_headers
    print("ws: path=%s host=%s upgrade=%s xff=%s" % (ws.path, h.get("Host"), h.get("Upgrade"),
          h.get("X-Forwarded-For")), file=sys.stderr, flush=True)
    async for m in ws:
        await ws.send(m)

async def main():
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with websockets.serve(echo, "127.0.0.1", 0, max_size=None, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        print("ws echo listening on %d" % port, file=sys.stderr, flush=True)
        await stop

asyncio.run(main())
'''


def test_websocket_through_a_name(burrow_server, burrow_client, procs, web, tmp_path):
    """A python3-websockets echo server behind ws.test: a websockets client
    connects to ws://ws.test:PORT/chat (the socket to 127.0.0.1, the Host
    header ws.test:PORT), the upgrade passes (the service saw Upgrade:
    websocket and our X-Forwarded-For), and text, binary and a 1 MB message
    come back as sent; after the close another name is served."""
    try:
        import websockets
    except ImportError:
        pytest.skip("python3-websockets not installed")
    a = web("A")
    wsd = Proc("ws-echo", [sys.executable, "-c", WS_ECHO], dict(os.environ))
    procs.append(wsd)
    wport = int(wsd.wait_log(r"ws echo listening on (\d+)").group(1))
    srv, hport = http_server(burrow_server)
    yaml_client(burrow_client, srv, tmp_path, ("ws", "ws.test", wport), ("web", "app.test", a.port),
                wait_hport=hport)
    big = os.urandom(MB)
    msgs = ["hello", "ünïcödé " * 100, b"\x00\x01\x02 binary"] + [f"m{i}" for i in range(20)]
    got = {}

    async def talk():
        async with websockets.connect(f"ws://ws.test:{hport}/chat", host="127.0.0.1", port=hport,
                                      max_size=None, compression=None,
                                      open_timeout=LOG_TIMEOUT) as ws:
            got["small"] = []
            for m in msgs:
                await ws.send(m)
                got["small"].append(await asyncio.wait_for(ws.recv(), LOG_TIMEOUT))
            # Several in flight at once.
            for m in msgs[:3]:
                await ws.send(m)
            for _ in msgs[:3]:
                got["small"].append(await asyncio.wait_for(ws.recv(), LOG_TIMEOUT))
            got["small_ok"] = got["small"] == msgs + msgs[:3]
            await ws.send(big)
            got["big"] = await asyncio.wait_for(ws.recv(), LOG_TIMEOUT)
            await ws.send("after")
            got["after"] = await asyncio.wait_for(ws.recv(), LOG_TIMEOUT)

    try:
        asyncio.run(talk())
    finally:
        assert got.get("small_ok"), got.get("small")
    assert len(got["big"]) == MB and got["big"] == big
    assert got["after"] == "after"
    wsd.wait_log(r"ws: path=/chat host=ws\.test:%d upgrade=websocket xff=127\.0\.0\.1$" % hport)
    assert curl_json("app.test", hport)["service"] == "A"


# --------------------------------------------------------------------------
# (8) Tunnels coming and going, names held by others
# --------------------------------------------------------------------------

@pytest.mark.parametrize("request_bytes,status,body", [
    (b"GET / HTTP/1.1\r\nHost: nobody.test\r\n\r\n", 404, b"No tunnel serves nobody.test.\n"),
    (b"GET /other HTTP/1.1\r\nHost: api.test\r\n\r\n", 404,
     b"No tunnel serves this path on api.test.\n"),
    (b"GET / HTTP/1.1\r\nHost: bad_host\r\n\r\n", 400, b"No usable Host header.\n"),
    (b"CONNECT app.test:443 HTTP/1.1\r\nHost: app.test:443\r\n\r\n", 405,
     b"This is not a forward proxy.\n"),
], ids=["404-host", "404-path", "400-host", "405-connect"])
def test_error_after_a_response_on_keepalive(burrow_server, burrow_client, web, tmp_path,
                                             request_bytes, status, body):
    """A keep-alive connection whose first request was answered 200: its
    second request, one the server answers itself (unknown host, a path no
    tunnel of the name takes, a bad Host, CONNECT), gets that answer (status
    and body), then the end, as it would on a new connection."""
    a, api = web("A"), web("api")
    srv, hport = http_server(burrow_server)
    yaml_client(burrow_client, srv, tmp_path, ("web", "app.test", a.port),
                ("api", "api.test", api.port, "/api"), wait_hport=hport)
    v = Visitor(hport)
    assert get(v, "app.test", "/first")["service"] == "A"
    v.send(request_bytes)
    r = v.response()
    assert r.status == status and r.body == body, r
    assert v.read_to_eof() == b""
    v.close()


def test_tunnel_gone_502_offline(burrow_server, burrow_client, web, tmp_path):
    """A served name; its client is killed (SIGKILL): once the server has
    closed the tunnel, the name answers 502 "offline" (a known name whose
    client is gone, not an unknown one), on a new connection and on a
    keep-alive one that was using the tunnel; a name never served stays 404;
    the client back, the name is served again."""
    a = web("A")
    srv, hport = http_server(burrow_server)
    cli = yaml_client(burrow_client, srv, tmp_path, ("web", "app.test", a.port), wait_hport=hport)
    v = Visitor(hport)
    assert get(v, "app.test", "/alive")["service"] == "A"
    assert curl_json("app.test", hport)["service"] == "A"
    mark = srv.mark()
    cli.kill()
    srv.wait_log(r"tunnel web closed$", since=mark)
    rc, status, body, err = curl("app.test", hport)
    assert status == 502 and body == b"The client serving app.test is offline.\n", (status, body)
    srv.wait_log(r"http: \S+: app\.test/: the client that served this name is offline \(502\)",
                 since=mark)
    v.request("GET", "app.test", "/after")
    r = v.response()
    assert r.status == 502 and r.body == b"The client serving app.test is offline.\n", r
    v.close()
    rc, status, body, err = curl("never.test", hport)
    assert status == 404 and body == b"No tunnel serves never.test.\n", (status, body)
    yaml_client(burrow_client, srv, tmp_path, ("web", "app.test", a.port), wait_hport=hport)
    assert curl_json("app.test", hport)["service"] == "A"


def test_name_held_by_another_client(burrow_server, burrow_client, web, tmp_path):
    """Client 1 serves app.test (path /); client 2 asks for other.test and
    app.test: refused as a whole ("app.test/ is served by another client"),
    so other.test is 404; client 3 (YAML) shares app.test with paths /api:
    accepted, and /api goes to it while / stays client 1's. Client 1 stops:
    client 2 gets both names at its next try."""
    one, two, three = web("one"), web("two"), web("three")
    srv, hport = http_server(burrow_server)
    c1 = burrow_client(srv, "-R", f"http:app.test:127.0.0.1:{one.port}")
    c1.wait_log(serving_re(ANY_TUNNEL, "app.test", hport, one.port))
    c2 = burrow_client(srv, "-R", f"http:other.test,app.test:127.0.0.1:{two.port}")
    c2.wait_log(r"tunnel \S+: registration failed: app\.test/ is served by another client$")
    yaml_client(burrow_client, srv, tmp_path, ("api", "app.test", three.port, "/api"),
                wait_hport=hport)
    assert curl_json("app.test", hport, "/")["service"] == "one"
    assert curl_json("app.test", hport, "/api/x")["service"] == "three"
    rc, status, body, err = curl("other.test", hport)
    assert status == 404 and body == b"No tunnel serves other.test.\n", (status, body)
    mark2 = c2.mark()
    assert c1.stop() == 0
    c2.wait_log(serving_re(ANY_TUNNEL, "other.test,app.test", hport, two.port), since=mark2,
                timeout=15)
    assert curl_json("app.test", hport, "/")["service"] == "two"
    assert curl_json("other.test", hport, "/")["service"] == "two"
    assert curl_json("app.test", hport, "/api")["service"] == "three"


def test_same_name_twice_in_one_client(burrow_server, burrow_client, web, tmp_path):
    """One client (YAML) with two http tunnels for app.test and no paths:
    the first serves it, the second is refused ("another tunnel of this
    client"); a third for app.test with paths /api is accepted."""
    a, b, c = web("A"), web("B"), web("C")
    srv, hport = http_server(burrow_server)
    cli = yaml_client(burrow_client, srv, tmp_path, ("one", "app.test", a.port),
                      ("two", "app.test", b.port), ("three", "app.test", c.port, "/api"))
    cli.wait_log(serving_re("one", "app.test", hport, a.port))
    cli.wait_log(r"tunnel two: registration failed: app\.test/ is served by another tunnel of "
                 r"this client$")
    cli.wait_log(serving_re("three", "app.test", hport, c.port, "/api"))
    assert curl_json("app.test", hport)["service"] == "A"
    assert curl_json("app.test", hport, "/api")["service"] == "C"
    assert cli.find(r"tunnel two: serving") is None


def test_server_without_http_port(burrow_server, burrow_client, echo, tmp_path):
    """A server without --http refuses an http tunnel with the reason; the
    client stays up with its other tunnels (a tcp tunnel beside it echoes)."""
    srv = burrow_server()
    cfg = tmp_path / "client.yaml"
    cfg.write_text("tunnels:\n"
                   "  - name: web\n    type: http\n    domains: app.test\n    local: 127.0.0.1:1\n"
                   f"  - name: plain\n    remote: 0\n    local: 127.0.0.1:{echo.port}\n")
    cli = burrow_client(srv, "-c", str(cfg))
    cli.wait_log(r"tunnel web: registration failed: this server has no HTTP port \(--http\)$")
    port = cli.tunnel_port("plain")
    with socket.create_connection(("127.0.0.1", port), timeout=LOG_TIMEOUT) as s:
        s.sendall(b"still here")
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            got += d
    assert got == b"still here"
    assert srv.find(r"http listening") is None
    assert cli.alive()


# --------------------------------------------------------------------------
# (9) Usage errors
# --------------------------------------------------------------------------

@pytest.mark.parametrize("spec", [
    "http:bad_name:127.0.0.1:1",
    "http::127.0.0.1:1",
    "http:app.test:127.0.0.1",
    "http:app.test:127.0.0.1:0",
    "http:*:127.0.0.1:1",
], ids=["underscore", "empty", "no-port", "port-0", "star"])
def test_bad_http_spec_exit_2(burrow_bin, spec):
    rc, out, err = run(burrow_bin, "client", "--server", "127.0.0.1:1", "-R", spec, token="t")
    assert rc == 2, (rc, err)
    assert f"-R '{spec}'" in err, err


@pytest.mark.parametrize("args,needle", [
    (["--http", "127.0.0.1:99999"], "--http"),
    (["--http", "127.0.0.1:0", "--response-timeout", "soon"], "--response-timeout"),
    (["--http", "127.0.0.1:0", "--trusted-proxies", "bogus"], "--trusted-proxies"),
], ids=["http-port", "response-timeout", "trusted-proxies"])
def test_bad_http_server_flags_exit_2(burrow_bin, args, needle):
    rc, out, err = run(burrow_bin, "server", "--listen", "127.0.0.1:0", *args, token="t")
    assert rc == 2, (rc, err)
    assert needle in err, err


HTTP_HEAD = "server: 127.0.0.1:1\ntoken: x\ntunnels:\n  - name: web\n    type: http\n"


@pytest.mark.parametrize("body,line,key", [
    (HTTP_HEAD + "    domains: app.test\n", 4, "tunnels[0]"),
    (HTTP_HEAD + "    domains: app.test\n    paths: api\n    local: 127.0.0.1:80\n", 7,
     "tunnels[0].paths"),
    (HTTP_HEAD + "    domains: app.test\n    remote: 80\n    local: 127.0.0.1:80\n", 4,
     "tunnels[0]"),
    ("server: 127.0.0.1:1\ntoken: x\ntunnels:\n  - name: web\n    type: https\n"
     "    domains: app.test\n    paths: /api\n    local: 127.0.0.1:80\n", 4, "tunnels[0]"),
], ids=["no-local", "relative-path", "with-remote", "paths-on-https"])
def test_bad_http_yaml_exit_2(burrow_bin, tmp_path, body, line, key):
    cfg = tmp_path / "client.yaml"
    cfg.write_text(body)
    rc, out, err = run(burrow_bin, "client", "-c", str(cfg))
    assert rc == 2, (rc, err)
    assert f"{cfg}:{line}: {key}: " in err, err
