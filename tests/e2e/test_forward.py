"""ssh-style forwarding: -L (local forward, the server dials), -D (a SOCKS5 and
HTTP proxy whose connections exit at the server), -R with no target (a SOCKS5
and HTTP proxy on the server whose connections exit at the client), the
server's forward_to rules (flag, and per named client), a reverse proxy's
allow: rules, the SOCKS5 / HTTP error replies, malformed requests, bulk and
concurrency.

Real processes only: burrow, curl, Python services on loopback. Requests are
checked byte-exact; SOCKS replies are read with socksclient.py, a raw client
that reads exactly what RFC 1928 says the proxy sends. Every wait is on a log
line, a port or a reply, never a sleep.

Where a connection exits (server or client) is shown by the log line of the
side that dialed it: the server's `stream N: forwarded from PEER to DEST` for
-L/-D, the client's `tunnel r1: stream N: from PEER to DEST` for a reverse
proxy (both ends run on this host, so the origin cannot tell them apart).
"""

import functools
import hashlib
import http.server
import os
import re
import signal
import socket
import socketserver
import subprocess
import threading
import time

import pytest

import socksclient as sc
from conftest import (BURROW_BIN, LOG_TIMEOUT, closed_port, recv_exact, roundtrip, sha,
                      wait_refused)
from services import BANNER

MB = 1024 * 1024
AUTHENTICATED = r"session \d+: authenticated to "
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy",
              "HTTP_PROXY", "http_proxy")
CURL_ENV = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}


def q(s):
    return re.escape(str(s))


def client_ready(burrow_client, srv, *args, **kw):
    """A client whose session is up: -L and -D ports listen before the session
    is authenticated and refuse connections until it is (see
    test_local_and_dynamic_before_session_are_closed)."""
    cli = burrow_client(srv, *args, **kw)
    cli.wait_log(AUTHENTICATED)
    return cli


def curl(*args, timeout=30):
    return subprocess.run(["curl", "-sS", "--max-time", "20", *args], capture_output=True,
                          timeout=timeout, env=CURL_ENV)


def assert_eof(s, timeout=LOG_TIMEOUT):
    """The peer closes s without sending anything (a reset counts)."""
    s.settimeout(timeout)
    try:
        got = s.recv(65536)
    except ConnectionResetError:
        return
    except socket.timeout:
        raise AssertionError(f"connection still open after {timeout}s")
    assert got == b"", f"expected the connection closed, got {got!r}"


def forwarded_re(dest):
    """The server's line for a stream it dialed for a -L / -D connection."""
    return r"stream \d+: forwarded from 127\.0\.0\.1:\d+ to %s$" % q(dest)


def refused_re(dest, why=""):
    """The server's line for a -L / -D connection it refused."""
    return r"stream \d+: forward from 127\.0\.0\.1:\d+ to %s refused: .*%s" % (q(dest), why)


def wait_count(proc, regex, n, timeout=LOG_TIMEOUT, since=0):
    """Wait until n stderr lines of proc match regex."""
    r = re.compile(regex)
    with proc.cond:
        proc.cond.wait_for(lambda: sum(1 for l in proc.lines[since:] if r.search(l)) >= n
                           or proc.eof, timeout)
        got = sum(1 for l in proc.lines[since:] if r.search(l))
    assert got >= n, f"{proc.name}: {got} of {n} lines /{regex}/; log:\n" + proc._tail(60)


def syn_sent_count(port):
    """Sockets on this host in SYN_SENT towards port (/proc/net/tcp*)."""
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "02" and int(fields[2].rsplit(":", 1)[1], 16) == port:
                n += 1
    return n


def wait_dialing(port, n=1, timeout=LOG_TIMEOUT):
    """Wait until n connects to port (a Blackhole's) are in progress: the
    dialer has really started, not just been asked to."""
    deadline = time.monotonic() + timeout
    while syn_sent_count(port) < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"{syn_sent_count(port)} of {n} connects to port {port} in "
                                 f"progress after {timeout}s")
        time.sleep(0.02)


def reverse_exit_re(dest, name="r1"):
    """The client's line for a reverse-proxy stream it dials."""
    return r"tunnel %s: stream \d+: from 127\.0\.0\.1:\d+ to %s$" % (q(name), q(dest))


@pytest.fixture(autouse=True)
def no_secrets_in_output(procs, token):
    """House rule: the token never shows in any process's output."""
    yield
    for p in procs:
        with p.cond:
            text = "\n".join(p.lines + p.out_lines)
        assert token not in text, f"{p.name}: the token is in its output"


# --------------------------------------------------------------------------
# Services written for this file
# --------------------------------------------------------------------------

@pytest.fixture
def http_site(tmp_path):
    """A static site on 127.0.0.1 (http.server) with /blob.bin: (port, body)."""
    root = tmp_path / "www"
    root.mkdir()
    body = os.urandom(3 * MB + 77)
    (root / "blob.bin").write_bytes(body)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1], body
    httpd.shutdown()
    httpd.server_close()


class _V6HTTPServer(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


class _V6Echo(socketserver.ThreadingTCPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    allow_reuse_address = True


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            d = self.request.recv(65536)
            if not d:
                self.request.shutdown(socket.SHUT_WR)
                return
            self.request.sendall(d)


@pytest.fixture
def ipv6():
    """::1 usable on this host (skip otherwise)."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in Python")
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
    except OSError as e:
        pytest.skip(f"::1 not available: {e}")


class RecordingOrigin:
    """An HTTP origin on 127.0.0.1 that records each request head (and the
    SHA-256 of a Content-Length body), answers `body` (or, with a request
    body, its hex SHA-256), then closes."""

    def __init__(self, body):
        self.body = body
        self.requests = []  # (head bytes, body sha256 hex or None)
        self.cond = threading.Condition()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.settimeout(LOG_TIMEOUT)
            buf = bytearray()
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            head, _, rest = bytes(buf).partition(b"\r\n\r\n")
            m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
            digest = None
            if m:
                n = int(m.group(1))
                data = bytearray(rest)
                while len(data) < n:
                    d = c.recv(262144)
                    if not d:
                        break
                    data += d
                digest = hashlib.sha256(bytes(data[:n])).hexdigest()
                payload = digest.encode()
            else:
                payload = self.body
            with self.cond:
                self.requests.append((head, digest))
                self.cond.notify_all()
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                      b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(payload) + payload)
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.sock.close()


@pytest.fixture
def origin():
    o = RecordingOrigin(os.urandom(200000))
    yield o
    o.close()


class Source:
    """Sends `data` to each connection, half-closes, reads until EOF."""

    def __init__(self, data):
        self.data = data
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.sendall(self.data)
            c.shutdown(socket.SHUT_WR)
            while c.recv(65536):
                pass
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.sock.close()


class Blackhole:
    """A loopback port whose SYNs go unanswered: a listener that does not
    accept, its accept queue filled, so the kernel drops further SYNs (a
    connect there times out). open_up() accepts the queued connections: a
    SYN retransmitted after that gets in, and accept() returns it."""

    def __init__(self):
        self.lst = socket.socket()
        self.lst.bind(("127.0.0.1", 0))
        self.lst.listen(0)
        self.port = self.lst.getsockname()[1]
        self.fillers = []
        self.accepted = []
        for _ in range(16):
            s = socket.socket()
            s.settimeout(0.5)
            try:
                s.connect(("127.0.0.1", self.port))
                self.fillers.append(s)
            except socket.timeout:
                s.close()
                return
        self.close()
        pytest.skip("could not fill a listener's accept queue on this kernel")

    def open_up(self):
        self.lst.settimeout(LOG_TIMEOUT)
        for _ in self.fillers:
            self.accepted.append(self.lst.accept()[0])

    def accept(self, timeout):
        self.lst.settimeout(timeout)
        c = self.lst.accept()[0]
        self.accepted.append(c)
        return c

    def close(self):
        for s in self.fillers + self.accepted:
            s.close()
        self.lst.close()


@pytest.fixture
def blackhole_obj():
    b = Blackhole()
    yield b
    b.close()


@pytest.fixture
def blackhole(blackhole_obj):
    """The port of a Blackhole."""
    return blackhole_obj.port


# --------------------------------------------------------------------------
# -L: local forwards, dialed by the server
# --------------------------------------------------------------------------

def test_local_forward_curl_byte_exact(burrow_server, burrow_client, http_site):
    http_port, body = http_site
    srv = burrow_server("--forward-to", f"127.0.0.1:{http_port}")
    cli = client_ready(burrow_client, srv, "-L", f"0:127.0.0.1:{http_port}")
    m = cli.wait_log(r"tunnel l1: listening on (\S+):(\d+) -> 127\.0\.0\.1:%d \(dialed by the server\)$"
                     % http_port)
    assert m.group(1) == "127.0.0.1"
    port = int(m.group(2))
    assert port not in (0, http_port)
    for i in range(3):  # sequential requests, one stream each
        r = curl("--fail", "-o", "-", f"http://127.0.0.1:{port}/blob.bin")
        assert r.returncode == 0, r.stderr.decode()
        assert len(r.stdout) == len(body) and sha(r.stdout) == sha(body)
    srv.wait_log(forwarded_re(f"127.0.0.1:{http_port}"))
    r = curl("-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port}/missing")
    assert r.stdout == b"404"


def test_local_forward_half_close_both_ways(burrow_server, burrow_client, service):
    """ssh-like raw TCP: send, shutdown(SHUT_WR), read to EOF, both directions."""
    echo, sha_svc, banner = service("echo"), service("sha"), service("banner")
    srv = burrow_server("--forward-to", "127.0.0.1:*")
    cli = client_ready(burrow_client, srv, "-L", f"0:127.0.0.1:{echo.port}",
                       "-L", f"0:127.0.0.1:{sha_svc.port}", "-L", f"0:127.0.0.1:{banner.port}")
    p_echo, p_sha, p_banner = (cli.tunnel_port(n) for n in ("l1", "l2", "l3"))
    data = os.urandom(MB + 333)
    assert sha(roundtrip("127.0.0.1", p_echo, data)) == sha(data)
    assert roundtrip("127.0.0.1", p_echo, b"") == b""
    # The service only answers after our EOF reached it through the server.
    assert roundtrip("127.0.0.1", p_sha, data) == sha(data).encode() + b"\n"
    # The service half-closes first; we keep sending after its EOF.
    s = socket.create_connection(("127.0.0.1", p_banner), timeout=LOG_TIMEOUT)
    got = bytearray()
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
    assert bytes(got) == BANNER
    after = os.urandom(300000)
    s.sendall(after)
    s.shutdown(socket.SHUT_WR)
    assert banner.wait_record() == (len(after), sha(after))
    s.close()


def test_local_forward_refused_without_forward_to(burrow_server, burrow_client, echo):
    srv = burrow_server()  # no --forward-to: -L and -D are off
    cli = client_ready(burrow_client, srv, "-L", f"0:127.0.0.1:{echo.port}", "-D", "0")
    port = cli.tunnel_port("l1")
    s = socket.create_connection(("127.0.0.1", port), timeout=LOG_TIMEOUT)
    s.sendall(b"hello?")
    assert_eof(s)
    s.close()
    srv.wait_log(refused_re(f"127.0.0.1:{echo.port}", "forward_to"))
    # -D: not allowed, in each protocol's words.
    d = cli.tunnel_port("d1")
    s, rep = sc.socks5_connect(d, "127.0.0.1", echo.port)
    assert rep.rep == sc.REP_NOT_ALLOWED, rep
    assert_eof(s)
    s.close()
    s, status, head = sc.http_connect(d, f"127.0.0.1:{echo.port}")
    assert status == 403, head
    s.close()
    assert echo.connections == 0
    # The session survives the refusal.
    assert cli.alive() and srv.alive()
    assert not srv.find(r"session \d+ .*: closed")


def test_local_forward_forbidden_destination(burrow_server, burrow_client, service):
    allowed, forbidden = service("echo"), service("echo")
    srv = burrow_server("--forward-to", f"127.0.0.1:{allowed.port}")
    cli = client_ready(burrow_client, srv, "-L", f"0:127.0.0.1:{forbidden.port}",
                       "-L", f"0:127.0.0.1:{allowed.port}")
    s = socket.create_connection(("127.0.0.1", cli.tunnel_port("l1")), timeout=LOG_TIMEOUT)
    s.sendall(b"let me in")
    assert_eof(s)
    s.close()
    srv.wait_log(refused_re(f"127.0.0.1:{forbidden.port}", "not allowed"))
    assert forbidden.connections == 0
    assert roundtrip("127.0.0.1", cli.tunnel_port("l2"), b"allowed") == b"allowed"


def test_local_forward_bind_address(burrow_server, burrow_client, echo):
    srv = burrow_server("--forward-to", "*:*")
    cli = client_ready(burrow_client, srv, "-L", f"127.0.0.2:0:127.0.0.1:{echo.port}")
    host, port = cli.tunnel_addr("l1")
    assert host == "127.0.0.2"
    assert roundtrip("127.0.0.2", port, b"on .2") == b"on .2"
    wait_refused("127.0.0.1", port, timeout=2)


@pytest.mark.parametrize("bind", ["*", ""])
def test_local_forward_wildcard_bind(burrow_server, burrow_client, echo, bind):
    """`*` or an empty bind address: every IPv4 address."""
    srv = burrow_server("--forward-to", f"127.0.0.1:{echo.port}")
    cli = client_ready(burrow_client, srv, "-L", f"{bind}:0:127.0.0.1:{echo.port}")
    host, port = cli.tunnel_addr("l1")
    assert host == "0.0.0.0"
    assert roundtrip("127.0.0.3", port, b"any v4") == b"any v4"


def test_local_and_dynamic_port_problems_exit_1(burrow_client):
    """A bind address that is a name other than localhost, or a port in use,
    stops the client at start with exit code 1 and a reason."""
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    busy = blocker.getsockname()[1]
    nowhere = f"127.0.0.1:{closed_port()}"
    try:
        for args, reason in ((["-L", f"{busy}:127.0.0.1:1"], r"tunnel l1: listen 127\.0\.0\.1:%d: "
                              r"Address already in use" % busy),
                             (["-D", str(busy)], r"tunnel d1: listen 127\.0\.0\.1:%d: Address already "
                              r"in use" % busy),
                             (["-L", "nosuch.invalid:0:127.0.0.1:1"], r"tunnel l1: listen "
                              r"nosuch\.invalid:0: not a numeric address")):
            cli = burrow_client(nowhere, *args)
            assert cli.wait_exit() == 1, cli.text()
            assert cli.find(reason), cli.text()
    finally:
        blocker.close()


def test_local_and_dynamic_before_session_are_closed(burrow_client, echo):
    """No session (the server is down): -L and -D ports listen, but a
    connection is refused at once (a SOCKS error reply), never left hanging."""
    nowhere = f"127.0.0.1:{closed_port()}"
    cli = burrow_client(nowhere, "-L", f"0:127.0.0.1:{echo.port}", "-D", "0")
    lport, dport = cli.tunnel_port("l1"), cli.tunnel_port("d1")
    cli.wait_log(r"connect %s: Connection refused" % q(nowhere))
    s = socket.create_connection(("127.0.0.1", lport), timeout=LOG_TIMEOUT)
    assert_eof(s)
    s.close()
    cli.wait_log(r"tunnel l1: connection from 127\.0\.0\.1:\d+ to 127\.0\.0\.1:%d refused: "
                 r"not connected to the server" % echo.port)
    s, rep = sc.socks5_connect(dport, "127.0.0.1", echo.port)
    assert rep.rep == sc.REP_FAILURE, rep
    assert_eof(s)
    s.close()
    assert echo.connections == 0


# --------------------------------------------------------------------------
# forward_to rules
# --------------------------------------------------------------------------

def test_forward_to_name_rules(burrow_server, burrow_client, service):
    """A name rule matches the name the request carries, before any lookup,
    case-insensitively; a numeric destination is not a name."""
    e1, e2 = service("echo"), service("echo")
    srv = burrow_server("--forward-to", f"LOCALHOST:{e1.port},*.invalid:*")
    cli = client_ready(burrow_client, srv, "-D", "0")
    d = cli.tunnel_port("d1")
    s, rep = sc.socks5_connect(d, "localhost", e1.port)
    assert rep.rep == sc.REP_OK, rep
    s.sendall(b"by name")
    assert recv_exact(s, 7) == b"by name"
    s.close()
    srv.wait_log(forwarded_re(f"localhost:{e1.port}"))
    for host, port in (("127.0.0.1", e1.port),   # its address, but not the name
                       ("localhost", e2.port),   # the name, another port
                       ("nonexistent.example", 80)):
        s, rep = sc.socks5_connect(d, host, port)
        assert rep.rep == sc.REP_NOT_ALLOWED, (host, port, rep)
        assert_eof(s)
        s.close()
    # *.invalid matches, so the name is looked up (and does not exist).
    s, rep = sc.socks5_connect(d, "nonexistent.invalid", 80)
    assert rep.rep == sc.REP_HOST_UNREACHABLE, rep
    s.close()
    assert e1.connections == 1 and e2.connections == 0


def test_forward_to_network_rules(burrow_server, burrow_client, service):
    """An address rule matches every address a name resolves to, and a
    numeric destination; the port must match too."""
    e1 = service("echo")
    e2 = service("echo", host="127.0.0.2")
    srv = burrow_server("--forward-to", f"127.0.0.0/8:{e1.port} , 127.0.0.2/32:*")  # blanks: allowed
    cli = client_ready(burrow_client, srv, "-D", "0")
    d = cli.tunnel_port("d1")
    for host, port in (("localhost", e1.port), ("127.0.0.1", e1.port), ("127.0.0.2", e2.port)):
        s, rep = sc.socks5_connect(d, host, port)
        assert rep.rep == sc.REP_OK, (host, port, rep)
        s.sendall(b"net")
        assert recv_exact(s, 3) == b"net"
        s.close()
    free = closed_port()
    for host in ("localhost", "127.0.0.1"):  # 127.0.0.1 on a port no rule names
        s, rep = sc.socks5_connect(d, host, free)
        assert rep.rep == sc.REP_NOT_ALLOWED, (host, rep)
        s.close()
    # Allowed by the /32 rule: dialed, and refused by the kernel.
    s, rep = sc.socks5_connect(d, "127.0.0.2", free)
    assert rep.rep == sc.REP_REFUSED, rep
    s.close()
    assert e1.connections == 2 and e2.connections == 1


def test_per_client_forward_to(burrow_server, burrow_client, service, tmp_path, token):
    """A named client's forward_to replaces the server-wide one (none: nothing
    allowed); a client without one gets the server's."""
    e1, e2 = service("echo"), service("echo")
    alice_tok = "alice-" + os.urandom(16).hex()
    bob_tok = "bob-" + os.urandom(16).hex()
    carol_tok = "carol-" + os.urandom(16).hex()
    cfg = tmp_path / "server.yaml"
    cfg.write_text("clients:\n"
                   f"  - name: alice\n    token: \"{alice_tok}\"\n"
                   f"    forward_to: \"127.0.0.1:{e2.port}\"\n"
                   f"  - name: bob\n    token: \"{bob_tok}\"\n"
                   f"  - name: carol\n    token: \"{carol_tok}\"\n    forward_to: none\n")
    srv = burrow_server("-c", str(cfg), "--forward-to", f"127.0.0.1:{e1.port}")
    specs = ("-L", f"0:127.0.0.1:{e1.port}", "-L", f"0:127.0.0.1:{e2.port}")
    alice = client_ready(burrow_client, srv, "--name", "alice", *specs, token=alice_tok)
    bob = client_ready(burrow_client, srv, "--name", "bob", *specs, token=bob_tok)
    # alice: only e2
    assert roundtrip("127.0.0.1", alice.tunnel_port("l2"), b"a2") == b"a2"
    s = socket.create_connection(("127.0.0.1", alice.tunnel_port("l1")), timeout=LOG_TIMEOUT)
    assert_eof(s)
    s.close()
    srv.wait_log(refused_re(f"127.0.0.1:{e1.port}", "not allowed"))
    # bob: the server-wide rule, only e1
    assert roundtrip("127.0.0.1", bob.tunnel_port("l1"), b"b1") == b"b1"
    mark = srv.mark()
    s = socket.create_connection(("127.0.0.1", bob.tunnel_port("l2")), timeout=LOG_TIMEOUT)
    assert_eof(s)
    s.close()
    srv.wait_log(refused_re(f"127.0.0.1:{e2.port}", "not allowed"), since=mark)
    # carol: forward_to: none refuses her although the server-wide rule is set.
    carol = client_ready(burrow_client, srv, "--name", "carol", *specs, token=carol_tok)
    mark = srv.mark()
    s = socket.create_connection(("127.0.0.1", carol.tunnel_port("l1")), timeout=LOG_TIMEOUT)
    assert_eof(s)
    s.close()
    srv.wait_log(refused_re(f"127.0.0.1:{e1.port}"), since=mark)
    assert e1.connections == 1 and e2.connections == 1
    for p in (srv, alice, bob, carol):
        for t in (alice_tok, bob_tok, carol_tok):
            assert t not in p.text()


# --------------------------------------------------------------------------
# -D: SOCKS5 and HTTP proxy, exits at the server
# --------------------------------------------------------------------------

# (curl flags, proxy URL scheme, the URL's host, what the proxy's far end
# dials: --socks5 resolves the name in curl and sends the address, the others
# send the name or address of the URL)
CURL_VARIANTS = {
    "socks5-hostname": (["--socks5-hostname"], None, "localhost", "localhost"),
    "socks5": (["--socks5"], None, "localhost", "127.0.0.1"),
    "http-forward": (["-x"], "http", "localhost", "localhost"),
    "http-connect": (["-p", "-x"], "http", "127.0.0.1", "127.0.0.1"),
}


def curl_through(variant, proxy_port, http_port, path="/blob.bin"):
    """curl through the proxy; returns (CompletedProcess, the host dialed)."""
    flags, scheme, url_host, dialed = CURL_VARIANTS[variant]
    proxy = f"{scheme}://127.0.0.1:{proxy_port}" if scheme else f"127.0.0.1:{proxy_port}"
    return curl("--fail", "-o", "-", *flags, proxy, f"http://{url_host}:{http_port}{path}"), dialed


@pytest.mark.parametrize("variant", list(CURL_VARIANTS))
def test_dynamic_curl(burrow_server, burrow_client, http_site, variant):
    http_port, body = http_site
    srv = burrow_server("--forward-to", "*:*")
    cli = client_ready(burrow_client, srv, "-D", "0")
    m = cli.wait_log(r"tunnel d1: listening on 127\.0\.0\.1:(\d+) -> SOCKS5 and HTTP proxy, "
                     r"exits at the server$")
    port = int(m.group(1))
    r, host = curl_through(variant, port, http_port)
    assert r.returncode == 0, r.stderr.decode()
    assert len(r.stdout) == len(body) and sha(r.stdout) == sha(body)
    srv.wait_log(forwarded_re(f"{host}:{http_port}"))
    cli.wait_log(r"tunnel d1: stream \d+: from 127\.0\.0\.1:\d+ to %s:%d$" % (q(host), http_port))


def test_dynamic_http_forward_request_rewritten(burrow_server, burrow_client, origin):
    """A plain proxy request reaches the origin in origin-form with its own
    headers, no proxy headers, Connection: close; a request body follows it
    byte-exact."""
    srv = burrow_server("--forward-to", "*:*")
    cli = client_ready(burrow_client, srv, "-D", "0")
    port = cli.tunnel_port("d1")
    r = curl("--fail", "-o", "-", "-x", f"http://127.0.0.1:{port}", "-H", "X-Burrow-Test: 1",
             "-H", "Proxy-Connection: keep-alive", f"http://127.0.0.1:{origin.port}/some/path?q=1")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == origin.body
    head = origin.requests[0][0].decode()
    lines = head.split("\r\n")
    assert lines[0] == "GET /some/path?q=1 HTTP/1.1", head
    low = [l.lower() for l in lines[1:]]
    assert f"host: 127.0.0.1:{origin.port}" in low, head
    assert "x-burrow-test: 1" in low, head
    assert "connection: close" in low, head
    assert not any(l.startswith("proxy-") for l in low), head
    # A POST whose body is bigger than anything buffered before the dial.
    data = os.urandom(2 * MB + 5)
    r = subprocess.run(["curl", "-sS", "--fail", "--max-time", "20", "-x", f"http://127.0.0.1:{port}",
                        "-H", "Expect:", "--data-binary", "@-", f"http://127.0.0.1:{origin.port}/up"],
                       input=data, capture_output=True, timeout=30, env=CURL_ENV)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == sha(data).encode()
    assert origin.requests[1][0].startswith(b"POST /up HTTP/1.1\r\n")
    # RFC 7230 5.4: the URL's authority is the Host (a Host header the client
    # sent is not passed on: the origin would serve that virtual host); the
    # headers that Connection names are hop-by-hop and dropped.
    r = curl("--fail", "-o", "/dev/null", "-x", f"http://127.0.0.1:{port}", "-H", "Host: other.example",
             "-H", "Connection: X-Hop", "-H", "X-Hop: secret-to-the-proxy", "-H", "X-Kept: yes",
             f"http://127.0.0.1:{origin.port}/vhost")
    assert r.returncode == 0, r.stderr.decode()
    head = origin.requests[2][0].decode()
    low = [l.lower() for l in head.split("\r\n")[1:]]
    assert [l for l in low if l.startswith("host:")] == [f"host: 127.0.0.1:{origin.port}"], head
    assert "x-kept: yes" in low, head
    assert not any(l.startswith("x-hop:") for l in low), head
    assert [l for l in low if l.startswith("connection:")] == ["connection: close"], head
    # Two URLs in one curl: the proxy connection ends with the first answer
    # (Connection: close), curl opens another for the second.
    r = curl("--fail", "-x", f"http://127.0.0.1:{port}", f"http://127.0.0.1:{origin.port}/a",
             f"http://127.0.0.1:{origin.port}/b")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == origin.body * 2
    assert [h.split(b"\r\n")[0] for h, _ in origin.requests[3:]] == [b"GET /a HTTP/1.1",
                                                                      b"GET /b HTTP/1.1"]


def test_ipv6_local_and_dynamic(burrow_server, burrow_client, service, ipv6, tmp_path):
    echo4 = service("echo")
    e6 = _V6Echo(("::1", 0), _EchoHandler)
    threading.Thread(target=e6.serve_forever, daemon=True).start()
    root = tmp_path / "www6"
    root.mkdir()
    body = os.urandom(500000)
    (root / "b").write_bytes(body)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    h6 = _V6HTTPServer(("::1", 0), handler)
    threading.Thread(target=h6.serve_forever, daemon=True).start()
    try:
        e6_port, h6_port = e6.server_address[1], h6.server_address[1]
        srv = burrow_server("--forward-to", "[::1]/128:*")
        cli = client_ready(burrow_client, srv, "-D", "0", "-L", f"[::1]:0:[::1]:{e6_port}")
        d = cli.tunnel_port("d1")
        # -L on an IPv6 address, to an IPv6 target.
        host, lport = cli.tunnel_addr("l1")
        assert host == "::1"
        assert cli.find(r"tunnel l1: listening on \[::1\]:%d -> \[::1\]:%d " % (lport, e6_port))
        s = socket.create_connection(("::1", lport), timeout=LOG_TIMEOUT)
        s.sendall(b"-L v6")
        s.shutdown(socket.SHUT_WR)
        assert sc.read_to_eof(s) == b"-L v6"
        s.close()
        s, rep = sc.socks5_connect(d, "::1", e6_port)  # ATYP 4
        assert rep.rep == sc.REP_OK, rep
        data = os.urandom(100000)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        assert sc.read_to_eof(s) == data
        s.close()
        srv.wait_log(forwarded_re(f"[::1]:{e6_port}"))
        for flags in (["--socks5", f"127.0.0.1:{d}"], ["-x", f"http://127.0.0.1:{d}"]):
            r = curl("--fail", "-o", "-", *flags, f"http://[::1]:{h6_port}/b")
            assert r.returncode == 0, (flags, r.stderr.decode())
            assert r.stdout == body
        s, status, head = sc.http_connect(d, f"[::1]:{e6_port}")
        assert status == 200, head
        s.sendall(b"v6 connect")
        assert recv_exact(s, 10) == b"v6 connect"
        s.close()
        # The rule is IPv6 only.
        s, rep = sc.socks5_connect(d, "127.0.0.1", echo4.port)
        assert rep.rep == sc.REP_NOT_ALLOWED, rep
        s.close()
        assert echo4.connections == 0
    finally:
        for x in (e6, h6):
            x.shutdown()
            x.server_close()


def test_dynamic_64mib_sha256(burrow_server, burrow_client, service):
    """64 MiB up (to a service that answers its SHA-256) and 64 MiB down
    (from a source), through one -D port."""
    sink = service("sha")
    down = os.urandom(64 * MB)
    src = Source(down)
    try:
        srv = burrow_server("--forward-to", "127.0.0.1:*")
        cli = client_ready(burrow_client, srv, "-D", "0")
        d = cli.tunnel_port("d1")
        up = os.urandom(64 * MB)
        s, rep = sc.socks5_connect(d, "127.0.0.1", sink.port, timeout=60)
        assert rep.rep == sc.REP_OK, rep
        s.sendall(up)
        s.shutdown(socket.SHUT_WR)
        assert sc.read_to_eof(s) == sha(up).encode() + b"\n"
        s.close()
        s, rep = sc.socks5_connect(d, "127.0.0.1", src.port, timeout=60)
        assert rep.rep == sc.REP_OK, rep
        s.shutdown(socket.SHUT_WR)
        got = bytearray()
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got += chunk
        s.close()
        assert len(got) == len(down) and sha(got) == sha(down)
    finally:
        src.close()


def test_dynamic_50_concurrent_socks_streams(burrow_server, burrow_client, echo):
    n = 50
    srv = burrow_server("--forward-to", "127.0.0.1:*")
    cli = client_ready(burrow_client, srv, "-D", "0")
    d = cli.tunnel_port("d1")
    barrier = threading.Barrier(n, timeout=LOG_TIMEOUT * 2)
    results = [None] * n

    def one(i):
        try:
            s, rep = sc.socks5_connect(d, "127.0.0.1", echo.port, timeout=LOG_TIMEOUT * 3)
            assert rep.rep == sc.REP_OK, rep
            barrier.wait()  # all n streams are open at once
            data = os.urandom(64 * 1024 + i)
            t = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)),
                                 daemon=True)
            t.start()
            got = sc.read_to_eof(s, limit=1 << 24)
            t.join(LOG_TIMEOUT)
            s.close()
            results[i] = sha(got) == sha(data) or f"stream {i}: {len(got)} of {len(data)} bytes"
        except BaseException as e:  # noqa: BLE001 - reported below
            results[i] = f"stream {i}: {e!r}"

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(LOG_TIMEOUT * 6)
    bad = [r for r in results if r is not True]
    assert not bad, bad
    assert echo.connections == n


def test_dynamic_pipelined_and_fragmented_requests(burrow_server, burrow_client, echo):
    """A client that sends greeting, request and data in one write (without
    waiting for the replies) gets its data through; so does a CONNECT head
    followed by data; and requests that arrive one byte at a time are parsed."""
    srv = burrow_server("--forward-to", "*:*")
    cli = client_ready(burrow_client, srv, "-D", "0")
    d = cli.tunnel_port("d1")
    # SOCKS5, all at once.
    s = socket.create_connection(("127.0.0.1", d), timeout=LOG_TIMEOUT)
    s.sendall(b"\x05\x01\x00" + sc.request("localhost", echo.port) + b"early bytes")
    assert recv_exact(s, 2) == b"\x05\x00"
    assert sc.read_reply(s).rep == sc.REP_OK
    assert recv_exact(s, 11) == b"early bytes"
    s.close()
    # HTTP CONNECT with data behind the head.
    s = socket.create_connection(("127.0.0.1", d), timeout=LOG_TIMEOUT)
    s.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n\r\nafter the head" % echo.port)
    head = recv_exact(s, 39)
    assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n"), head
    assert recv_exact(s, 14) == b"after the head"
    s.close()
    # One byte per write.
    for req, want in (
            (b"\x05\x01\x00" + sc.request("localhost", echo.port), None),
            (b"CONNECT localhost:%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % echo.port, b"HTTP/1.1 200 ")):
        s = socket.create_connection(("127.0.0.1", d), timeout=LOG_TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(req)):
            s.send(req[i:i + 1])
        if want is None:
            assert recv_exact(s, 2) == b"\x05\x00"
            assert sc.read_reply(s).rep == sc.REP_OK
        else:
            head = recv_exact(s, len(want))
            while not head.endswith(b"\r\n\r\n"):
                head += recv_exact(s, 1)
            assert head.startswith(want), head
        s.sendall(b"bytewise")
        assert recv_exact(s, 8) == b"bytewise"
        s.close()
    assert echo.connections == 4


@pytest.mark.parametrize("side", ["dynamic", "reverse"])
def test_user_leaves_while_dialing(burrow_server, burrow_client, echo, blackhole, side):
    """The SOCKS client goes away while its destination is being dialed: the
    dial ends (at open_timeout) without harm and the proxy goes on serving."""
    if side == "dynamic":
        srv = burrow_server("--forward-to", "127.0.0.1:*", "--open-timeout", "1s")
        cli = client_ready(burrow_client, srv, "-D", "0")
        port, dialer = cli.tunnel_port("d1"), srv
        gone = refused_re(f"127.0.0.1:{blackhole}")
    else:
        srv = burrow_server()
        cli = burrow_client(srv, "-R", "0", "--open-timeout", "1s")
        port, dialer = cli.tunnel_port("r1"), cli
        gone = r"tunnel r1: stream \d+: from 127\.0\.0\.1:\d+: open failed: "
    n_dialing = 0
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", port), timeout=LOG_TIMEOUT)
        assert sc.greet(s) == b"\x05\x00"
        s.sendall(sc.request("127.0.0.1", blackhole))
        wait_dialing(blackhole, n_dialing + 1)  # the far end is dialing for it
        n_dialing += 1
        s.close()
    dialer.wait_log(gone)
    for i in range(3):
        s, rep = sc.socks5_connect(port, "127.0.0.1", echo.port)
        assert rep.rep == sc.REP_OK, rep
        s.sendall(b"still %d" % i)
        assert recv_exact(s, 7) == b"still %d" % i
        s.close()
    assert srv.alive() and cli.alive()


def test_client_dies_while_server_dials(burrow_server, burrow_client, echo, blackhole):
    """A session that ends (client SIGKILLed) while the server dials for it:
    the dial is dropped, the server serves the next client."""
    srv = burrow_server("--forward-to", "127.0.0.1:*", "--open-timeout", "1s")
    cli = client_ready(burrow_client, srv, "-D", "0")
    d = cli.tunnel_port("d1")
    pending = []
    for _ in range(4):
        s = socket.create_connection(("127.0.0.1", d), timeout=LOG_TIMEOUT)
        assert sc.greet(s) == b"\x05\x00"
        s.sendall(sc.request("127.0.0.1", blackhole))
        pending.append(s)
    wait_count(cli, r"tunnel d1: stream \d+: from .* to 127\.0\.0\.1:%d$" % blackhole, 4)
    wait_dialing(blackhole, 4)  # the server is dialing all four
    cli.kill()
    srv.wait_log(r"session \d+ \(127\.0\.0\.1:\d+\): closed")
    for s in pending:
        assert_eof(s)
        s.close()
    # Past the dials' open_timeout: they were dropped with the session, so
    # nothing is dialed, answered or logged for them.
    srv.expect_no_log(r"to 127\.0\.0\.1:%d( refused|$)" % blackhole, 2.0)
    cli2 = client_ready(burrow_client, srv, "-D", "0")
    s, rep = sc.socks5_connect(cli2.tunnel_port("d1"), "127.0.0.1", echo.port)
    assert rep.rep == sc.REP_OK, rep
    s.sendall(b"after")
    assert recv_exact(s, 5) == b"after"
    s.close()


def test_late_dial_after_the_client_gave_up(burrow_server, burrow_client, echo, blackhole_obj):
    """The client's own open_timeout (1 s) ends a -D request (REP 6) while the
    server still dials (open_timeout 8 s): its RST makes the server cancel the
    dial (logged), so the destination never gets the connection, and the
    session goes on."""
    bh = blackhole_obj
    srv = burrow_server("--forward-to", "127.0.0.1:*", "--open-timeout", "8s")
    cli = client_ready(burrow_client, srv, "-D", "0", "--open-timeout", "1s")
    d = cli.tunnel_port("d1")
    s, rep = sc.socks5_connect(d, "127.0.0.1", bh.port)
    assert rep.raw == b"\x05\x06" + ZERO_BOUND, rep
    assert_eof(s)
    s.close()
    cli.wait_log(r"stream \d+: open failed: no answer within 1000 ms")
    srv.wait_log(r"stream \d+: the client gave up: dial of 127\.0\.0\.1:%d cancelled" % bh.port)
    bh.open_up()  # a SYN retransmitted now would get through: none comes
    with pytest.raises(socket.timeout):
        bh.accept(timeout=3)
    s, rep = sc.socks5_connect(d, "127.0.0.1", echo.port)
    assert rep.rep == sc.REP_OK, rep
    s.sendall(b"later")
    assert recv_exact(s, 5) == b"later"
    s.close()
    assert not srv.find(r"protocol error") and not cli.find(r"protocol error")
    assert not cli.find(r"session \d+: (closed|lost)")


def test_forward_streams_count_against_max_streams(burrow_server, burrow_client, echo):
    srv = burrow_server("--forward-to", "127.0.0.1:*", "--max-streams", "2")
    cli = client_ready(burrow_client, srv, "-D", "0")
    d = cli.tunnel_port("d1")
    held = []
    for i in range(2):
        s, rep = sc.socks5_connect(d, "127.0.0.1", echo.port)
        assert rep.rep == sc.REP_OK, rep
        s.sendall(b"held")
        assert recv_exact(s, 4) == b"held"
        held.append(s)
    s, rep = sc.socks5_connect(d, "127.0.0.1", echo.port)
    assert rep.rep == sc.REP_FAILURE, rep  # a limit: general failure
    assert_eof(s)
    s.close()
    srv.wait_log(refused_re(f"127.0.0.1:{echo.port}", r"max_streams"))
    assert echo.connections == 2
    for s in held:  # the two open ones are untouched
        s.sendall(b"ok")
        assert recv_exact(s, 2) == b"ok"
        s.close()


def test_sighup_reloads_per_client_forward_to(burrow_server, burrow_client, service, tmp_path,
                                              blackhole):
    """A changed forward_to in the clients: list applies to new connections
    after SIGHUP; the session stays; a dial in progress during the reload
    ends normally."""
    e1, e2 = service("echo"), service("echo")
    tok = "alice-" + os.urandom(16).hex()
    cfg = tmp_path / "server.yaml"

    def write(rules):
        tmp = cfg.with_suffix(".tmp")
        tmp.write_text(f"clients:\n  - name: alice\n    token: \"{tok}\"\n    forward_to: \"{rules}\"\n")
        os.replace(tmp, cfg)

    write(f"127.0.0.1:{e1.port},127.0.0.1:{blackhole}")
    srv = burrow_server("-c", str(cfg), "--open-timeout", "2s")
    cli = client_ready(burrow_client, srv, "--name", "alice", "-D", "0", token=tok)
    d = cli.tunnel_port("d1")
    s, rep = sc.socks5_connect(d, "127.0.0.1", e1.port)
    assert rep.rep == sc.REP_OK, rep
    s.close()
    slow = socket.create_connection(("127.0.0.1", d), timeout=LOG_TIMEOUT)
    assert sc.greet(slow) == b"\x05\x00"
    slow.sendall(sc.request("127.0.0.1", blackhole))
    wait_dialing(blackhole)  # the server took the OPEN under the old rules
    write(f"127.0.0.1:{e2.port}")
    mark = srv.mark()
    srv.kill(signal.SIGHUP)
    srv.wait_log(r"reload: 1 named clients, 0 disconnected", since=mark)
    s, rep = sc.socks5_connect(d, "127.0.0.1", e1.port)
    assert rep.rep == sc.REP_NOT_ALLOWED, rep
    s.close()
    s, rep = sc.socks5_connect(d, "127.0.0.1", e2.port)
    assert rep.rep == sc.REP_OK, rep
    s.sendall(b"new rule")
    assert recv_exact(s, 8) == b"new rule"
    s.close()
    # The dial started under the old rules ends by its own timeout.
    assert sc.read_reply(slow).rep == sc.REP_TTL_EXPIRED
    slow.close()
    assert cli.alive() and not cli.find(r"revoked")
    assert tok not in srv.text() and tok not in cli.text()


# --------------------------------------------------------------------------
# -R with no target: a SOCKS5 and HTTP proxy on the server, exits at the client
# --------------------------------------------------------------------------

@pytest.mark.parametrize("variant", list(CURL_VARIANTS))
def test_reverse_dynamic_curl(burrow_server, burrow_client, http_site, variant):
    http_port, body = http_site
    srv = burrow_server()  # no forward_to: it does not govern reverse proxies
    cli = burrow_client(srv, "-R", "0")
    m = cli.wait_log(r"tunnel r1: listening on (\S+):(\d+) -> SOCKS5 and HTTP proxy exiting here$")
    assert m.group(1) == "127.0.0.1"
    port = int(m.group(2))
    srv.wait_log(r"tunnel r1 listening on 127\.0\.0\.1:%d \(SOCKS5 and HTTP proxy, exits at the "
                 r"client\)" % port)
    r, host = curl_through(variant, port, http_port)
    assert r.returncode == 0, r.stderr.decode()
    assert len(r.stdout) == len(body) and sha(r.stdout) == sha(body)
    cli.wait_log(reverse_exit_re(f"{host}:{http_port}"))
    srv.wait_log(r"stream \d+: opened from 127\.0\.0\.1:\d+ on tunnel r1 to %s:%d$" % (q(host), http_port))
    assert not srv.find(r"forwarded from")


def test_reverse_dynamic_allow_yaml(burrow_server, burrow_client, service, tmp_path):
    ok, other = service("echo"), service("echo")
    srv = burrow_server()
    cfg = tmp_path / "client.yaml"
    cfg.write_text("tunnels:\n"
                   "  - name: rsocks\n"
                   "    type: remote_dynamic\n"
                   "    remote: \"0\"\n"
                   f"    allow: \"127.0.0.1:{ok.port}\"\n")
    cli = burrow_client(srv, "-c", str(cfg))
    port = cli.tunnel_port("rsocks")
    s, rep = sc.socks5_connect(port, "127.0.0.1", ok.port)
    assert rep.rep == sc.REP_OK, rep
    s.sendall(b"allowed")
    assert recv_exact(s, 7) == b"allowed"
    s.close()
    cli.wait_log(reverse_exit_re(f"127.0.0.1:{ok.port}", "rsocks"))
    s, rep = sc.socks5_connect(port, "127.0.0.1", other.port)
    assert rep.raw == b"\x05\x02\x00\x01\x00\x00\x00\x00\x00\x00", rep
    assert_eof(s)
    s.close()
    s, status, head = sc.http_connect(port, f"127.0.0.1:{other.port}")
    assert status == 403, head
    s.close()
    r = curl("-o", "/dev/null", "-w", "%{http_code}", "-x", f"http://127.0.0.1:{port}",
             f"http://127.0.0.1:{other.port}/")
    assert r.stdout == b"403", (r.stdout, r.stderr)
    cli.wait_log(r"tunnel rsocks: stream \d+: from 127\.0\.0\.1:\d+: open failed: .*not allowed")
    assert other.connections == 0 and ok.connections == 1


# --------------------------------------------------------------------------
# Error replies (exact bytes) and malformed requests
# --------------------------------------------------------------------------

ZERO_BOUND = b"\x00\x01\x00\x00\x00\x00\x00\x00"  # RSV ATYP=1 0.0.0.0:0


@pytest.mark.parametrize("side", ["dynamic", "reverse"])
@pytest.mark.parametrize("case,rep,status", [
    ("unreachable", 4, 502),
    ("refused", 5, 502),
    ("timeout", 6, 504),
    ("forbidden", 2, 403),
])
def test_error_replies(burrow_server, burrow_client, tmp_path, request, side, case, rep, status):
    """SOCKS5 REP and the HTTP CONNECT status for each way a destination fails,
    read byte-exact; the proxy closes after the reply. -D exits at the server
    (its forward_to, its open_timeout), -R at the client (allow:, its
    open_timeout)."""
    allowed = closed_port()
    if case == "unreachable":
        host, port = "nonexistent.invalid", 80
    elif case == "refused":
        host, port = "127.0.0.1", allowed
    elif case == "timeout":
        host, port = "127.0.0.1", request.getfixturevalue("blackhole")
    else:
        host, port = "127.0.0.2", 9
    rules = "127.0.0.1:*,*.invalid:*"
    if side == "dynamic":
        srv = burrow_server("--forward-to", rules, "--open-timeout", "1s")
        cli = client_ready(burrow_client, srv, "-D", "0")
        pport = cli.tunnel_port("d1")
        log, dest_re = srv, refused_re(f"{host}:{port}")
    else:
        srv = burrow_server()
        cfg = tmp_path / "client.yaml"
        cfg.write_text("tunnels:\n  - type: remote_dynamic\n    remote: \"0\"\n"
                       f"    allow: \"{rules}\"\n")
        cli = burrow_client(srv, "-c", str(cfg), "--open-timeout", "1s")
        pport = cli.tunnel_port("t1")
        log = cli
        dest_re = r"tunnel t1: stream \d+: from 127\.0\.0\.1:\d+: open failed: "
    t0 = time.monotonic()
    s, reply = sc.socks5_connect(pport, host, port)
    assert reply.raw == bytes([5, rep]) + ZERO_BOUND, reply
    assert_eof(s)
    s.close()
    log.wait_log(dest_re)
    if case == "timeout":
        # The dial gave up at open_timeout (1s), well before the 5s default.
        assert time.monotonic() - t0 < 4.5
    s, code, head = sc.http_connect(pport, f"{host}:{port}")
    assert code == status, head
    assert b"Connection: close" in head
    body = sc.read_to_eof(s)
    assert body.startswith(b"burrow: "), body
    s.close()


def test_http_forward_errors(burrow_server, burrow_client):
    """A plain proxy GET gets the same statuses as CONNECT."""
    srv = burrow_server("--forward-to", "127.0.0.1:*")
    cli = client_ready(burrow_client, srv, "-D", "0")
    proxy = f"http://127.0.0.1:{cli.tunnel_port('d1')}"
    for url, want in ((f"http://127.0.0.2:{closed_port()}/", b"403"),
                      (f"http://127.0.0.1:{closed_port()}/", b"502")):
        r = curl("-o", "/dev/null", "-w", "%{http_code}", "-x", proxy, url)
        assert r.stdout == want, (url, r.stdout, r.stderr)


# (name, bytes sent, the exact reply (or a tuple of acceptable ones; an HTTP
# reply: its status line's start), the client's log reason)
MALFORMED = [
    ("socks4", b"\x04\x01\x00\x50\x7f\x00\x00\x01user\x00", b"", r"SOCKS4 is not supported"),
    ("zero-methods", b"\x05\x00", b"", r"offers no method"),
    ("no-acceptable-method", b"\x05\x02\x80\x81", b"\x05\xff", r"no method we speak"),
    ("garbage", b"\x00\xde\xad\xbe\xef" * 20, b"", r"neither SOCKS5 nor HTTP"),
    ("request-version-4", b"\x05\x01\x00" + b"\x04\x01\x00\x01\x7f\x00\x00\x01\x00\x50",
     b"\x05\x00\x05\x01" + ZERO_BOUND, r"bad SOCKS5 request version"),
    ("bind", b"\x05\x01\x00" + b"\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50",
     b"\x05\x00\x05\x07" + ZERO_BOUND, r"(BIND|only CONNECT)"),
    ("udp-associate", b"\x05\x01\x00" + b"\x05\x03\x00\x01\x7f\x00\x00\x01\x00\x50",
     b"\x05\x00\x05\x07" + ZERO_BOUND, r"(UDP ASSOCIATE|only CONNECT)"),
    ("address-type-9", b"\x05\x01\x00" + b"\x05\x01\x00\x09\x7f\x00\x00\x01\x00\x50",
     b"\x05\x00\x05\x08" + ZERO_BOUND, r"unknown SOCKS5 address type"),
    # REP 1 (general failure) or 4 (host unreachable): both fit RFC 1928.
    ("empty-name", b"\x05\x01\x00" + b"\x05\x01\x00\x03\x00\x00\x50",
     (b"\x05\x00\x05\x01" + ZERO_BOUND, b"\x05\x00\x05\x04" + ZERO_BOUND), r"empty host name"),
    ("port-0", b"\x05\x01\x00" + b"\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x00",
     b"\x05\x00\x05\x01" + ZERO_BOUND, r"destination port 0"),
    ("name-with-nul", b"\x05\x01\x00" + b"\x05\x01\x00\x03\x05lo\x00al\x00\x50",
     b"\x05\x00\x05\x04" + ZERO_BOUND, r"host name with a blank"),
    ("http-origin-form", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 400 ", r"no absolute"),
    ("http-https-url", b"GET https://x/ HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 400 ", r"use CONNECT"),
    ("http-connect-no-port", b"CONNECT nohost HTTP/1.1\r\n\r\n", b"HTTP/1.1 400 ",
     r"(bad request target|host:port)"),
    ("http-head-too-big", b"GET http://127.0.0.1/ HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n",
     b"HTTP/1.1 431 ", r""),
]


@pytest.mark.parametrize("name,send,reply,why", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_request_closed_and_next_served(burrow_server, burrow_client, echo,
                                                   name, send, reply, why):
    srv = burrow_server("--forward-to", "127.0.0.1:*")
    cli = client_ready(burrow_client, srv, "-D", "0")
    d = cli.tunnel_port("d1")
    s = socket.create_connection(("127.0.0.1", d), timeout=LOG_TIMEOUT)
    try:
        s.sendall(send)
    except (BrokenPipeError, ConnectionResetError):
        pass  # closed while we were still sending (the oversized head)
    got = sc.read_to_eof(s)
    s.close()
    if isinstance(reply, tuple):
        assert got in reply, got
    elif reply.startswith(b"HTTP/"):
        assert got.startswith(reply), got
        assert b"Connection: close\r\n" in got
    else:
        assert got == reply, got
    cli.wait_log(r"tunnel d1: request from 127\.0\.0\.1:\d+ refused: .*%s" % why)
    # The proxy serves the next client.
    s, rep = sc.socks5_connect(d, "127.0.0.1", echo.port)
    assert rep.rep == sc.REP_OK, rep
    s.sendall(b"next")
    assert recv_exact(s, 4) == b"next"
    s.close()
    assert echo.connections == 1
    assert not srv.find(r"forwarded from .* to 127\.0\.0\.1:(80|0)$")


@pytest.mark.parametrize("side", ["dynamic", "reverse"])
def test_silent_clients_do_not_block(burrow_server, burrow_client, echo, side):
    """Connections that send nothing, half a greeting or half an HTTP head
    stay pending while other clients are served at once."""
    if side == "dynamic":
        srv = burrow_server("--forward-to", "127.0.0.1:*")
        cli = client_ready(burrow_client, srv, "-D", "0")
        port = cli.tunnel_port("d1")
    else:
        srv = burrow_server()
        cli = burrow_client(srv, "-R", "0")
        port = cli.tunnel_port("r1")
    idle = []
    for partial in (b"", b"", b"", b"\x05", b"\x05\x02\x00", b"\x05\x01\x00\x05\x01\x00\x03\x09loc",
                    b"CONNECT 127.0.0.1:"):
        s = socket.create_connection(("127.0.0.1", port), timeout=LOG_TIMEOUT)
        idle.append(s)
        if partial:
            s.sendall(partial)
        if partial.startswith(b"\x05\x01\x00"):  # a whole greeting: answered
            assert recv_exact(s, 2) == b"\x05\x00"
    try:
        for i in range(5):
            s, rep = sc.socks5_connect(port, "127.0.0.1", echo.port, timeout=3)
            assert rep.rep == sc.REP_OK, rep
            s.sendall(b"through %d" % i)
            assert recv_exact(s, 9, timeout=3) == b"through %d" % i
            s.close()
        s, status, head = sc.http_connect(port, f"127.0.0.1:{echo.port}", timeout=3)
        assert status == 200, head
        s.close()
        # The pending ones are still open (not dropped to make room).
        for s in idle:
            s.setblocking(False)
            with pytest.raises(BlockingIOError):
                s.recv(1)
    finally:
        for s in idle:
            s.close()


@pytest.mark.parametrize("side", ["dynamic", "reverse"])
def test_idle_flood_does_not_lock_out_the_proxy(burrow_server, burrow_client, echo, side):
    """300 connections that never send a request (more than a proxy port keeps
    pending, 256) must not lock real clients out for as long as they stay
    silent: as on the control port (test_limits: oldest evicted), a new
    connection gets a place. The -R port is on the server, reachable by
    whoever reaches the server's tunnels."""
    if side == "dynamic":
        srv = burrow_server("--forward-to", "127.0.0.1:*")
        cli = client_ready(burrow_client, srv, "-D", "0")
        port = cli.tunnel_port("d1")
    else:
        srv = burrow_server()
        cli = burrow_client(srv, "-R", "0")
        port = cli.tunnel_port("r1")
    idle = []
    try:
        for _ in range(300):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=LOG_TIMEOUT))
        # A real client, well within the pending requests' 10 s timeout.
        s, rep = sc.socks5_connect(port, "127.0.0.1", echo.port, timeout=5)
        assert rep.rep == sc.REP_OK, rep
        s.sendall(b"through the crowd")
        assert recv_exact(s, 17) == b"through the crowd"
        s.close()
    finally:
        for s in idle:
            s.close()


# --------------------------------------------------------------------------
# YAML tunnel types, --socks-auth, usage errors
# --------------------------------------------------------------------------

def test_yaml_local_and_dynamic_types(burrow_server, burrow_client, echo, tmp_path):
    srv = burrow_server("--forward-to", "127.0.0.1:*")
    cfg = tmp_path / "client.yaml"
    cfg.write_text("tunnels:\n"
                   "  - name: fwd\n    type: local\n    listen: \"127.0.0.1:0\"\n"
                   f"    connect: \"127.0.0.1:{echo.port}\"\n"
                   "  - name: socks\n    type: dynamic\n    listen: \"0\"\n")
    cli = client_ready(burrow_client, srv, "-c", str(cfg))
    cli.wait_log(r"tunnel fwd: listening on 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:%d \(dialed by the server\)"
                 % echo.port)
    assert roundtrip("127.0.0.1", cli.tunnel_port("fwd"), b"yaml -L") == b"yaml -L"
    s, rep = sc.socks5_connect(cli.tunnel_port("socks"), "127.0.0.1", echo.port)
    assert rep.rep == sc.REP_OK, rep
    s.sendall(b"yaml -D")
    assert recv_exact(s, 7) == b"yaml -D"
    s.close()


def _client_help():
    try:
        r = subprocess.run([BURROW_BIN, "client", "--help"], capture_output=True, timeout=10)
        return r.stdout + r.stderr
    except OSError:
        return b""


@pytest.mark.skipif(b"--socks-auth" not in _client_help(), reason="no --socks-auth in this binary")
def test_socks_auth(burrow_server, burrow_client, http_site):
    http_port, body = http_site
    user, pw = "alice", "pw-" + os.urandom(12).hex()
    srv = burrow_server("--forward-to", "127.0.0.1:*")
    cli = client_ready(burrow_client, srv, "-D", "0", "--socks-auth", f"{user}:{pw}")
    d = cli.tunnel_port("d1")
    for url in (f"socks5://{user}:{pw}@127.0.0.1:{d}", f"http://{user}:{pw}@127.0.0.1:{d}"):
        r = curl("--fail", "-o", "-", "-x", url, f"http://127.0.0.1:{http_port}/blob.bin")
        assert r.returncode == 0, r.stderr.decode()
        assert r.stdout == body
    # No credentials: SOCKS5 offers only "none" -> no acceptable method.
    s = socket.create_connection(("127.0.0.1", d), timeout=LOG_TIMEOUT)
    assert sc.greet(s, (0,)) == b"\x05\xff"
    assert_eof(s)
    s.close()
    # A wrong password: RFC 1929 status 1, then closed.
    s = socket.create_connection(("127.0.0.1", d), timeout=LOG_TIMEOUT)
    assert sc.greet(s, (0, 2)) == b"\x05\x02"
    bad = b"wrong-" + os.urandom(4).hex().encode()
    s.sendall(b"\x01" + bytes([len(user)]) + user.encode() + bytes([len(bad)]) + bad)
    assert recv_exact(s, 2) == b"\x01\x01"
    assert_eof(s)
    s.close()
    r = curl("-o", "/dev/null", "-w", "%{http_code}", "-x", f"http://127.0.0.1:{d}",
             f"http://127.0.0.1:{http_port}/")
    assert r.stdout == b"407"
    cli.wait_log(r"tunnel d1: request from 127\.0\.0\.1:\d+ refused: wrong (SOCKS5 )?username or password")
    with open(f"/proc/{cli.pid}/cmdline", "rb") as f:
        assert pw.encode() not in f.read()
    for p in (srv, cli):
        assert pw not in p.text() and bad.decode() not in p.text()


def _run(*args, env_token="tok-" + "ab" * 16, timeout=10):
    env = dict(os.environ)
    env["BURROW_TOKEN"] = env_token
    r = subprocess.run([BURROW_BIN, *args], capture_output=True, timeout=timeout, env=env)
    return r.returncode, r.stderr.decode(errors="replace") + r.stdout.decode(errors="replace")


@pytest.mark.parametrize("args,needle", [
    (["-L", "x"], "-L 'x'"),
    (["-L", "0:127.0.0.1"], "-L '0:127.0.0.1'"),
    (["-L", "0:127.0.0.1:0"], "-L '0:127.0.0.1:0': target port must not be 0"),
    (["-L", "0:127.0.0.1:70000"], "-L '0:127.0.0.1:70000'"),
    (["-L", "99999:h:1"], "-L '99999:h:1'"),
    (["-L", "0:[::1:80"], "-L '0:[::1:80'"),
    (["-D", "abc"], "-D 'abc'"),
    (["-D", "70000"], "-D '70000'"),
    (["-D", "0:h:1"], "-D '0:h:1'"),
    (["-R", "70000"], "-R '70000'"),
])
def test_bad_client_forward_flags_exit_2(args, needle):
    rc, out = _run("client", "--server", f"127.0.0.1:{closed_port()}", *args)
    assert rc == 2, (rc, out)
    assert needle in out, out
    assert "listening" not in out


@pytest.mark.parametrize("rules", ["nonsense", "*:70000", "*:10-5", "", "127.0.0.0/33:*",
                                   "[::1]/129:*", "host", "*:*,", "*:0", "a b:1",
                                   pytest.param(",".join(f"h{i}:1" for i in range(17)), id="17-names"),
                                   pytest.param(",".join(f"10.0.0.{i}:1" for i in range(17)),
                                                id="17-addresses")])
def test_bad_forward_to_exits_2(rules, tmp_path):
    rc, out = _run("server", "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path),
                   "--forward-to", rules)
    assert rc == 2, (rc, out)
    assert f"--forward-to '{rules}'" in out, out
    assert "server listening" not in out


@pytest.mark.parametrize("entry,needle", [
    ("  - type: local\n    listen: \"0\"\n", "connect"),
    ("  - type: dynamic\n    listen: \"0\"\n    connect: \"127.0.0.1:1\"\n", "no target"),
    ("  - type: remote_dynamic\n", "remote"),
    ("  - remote: \"0\"\n    local: \"127.0.0.1:1\"\n    allow: \"*:*\"\n", "allow"),
    ("  - type: remote_dynamic\n    remote: \"0\"\n    allow: \"*:0\"\n", "allow"),
    ("  - type: local\n    remote: \"0\"\n    connect: \"127.0.0.1:1\"\n", "listen"),
    ("  - type: sideways\n    remote: \"0\"\n", "type"),
])
def test_bad_yaml_forward_tunnels_exit_2(entry, needle, tmp_path):
    cfg = tmp_path / "client.yaml"
    cfg.write_text("tunnels:\n" + entry)
    rc, out = _run("client", "--server", f"127.0.0.1:{closed_port()}", "-c", str(cfg))
    assert rc == 2, (rc, out)
    assert re.search(r"%s:\d+" % q(cfg), out), out  # FILE:LINE
    assert re.search(needle, out), out
