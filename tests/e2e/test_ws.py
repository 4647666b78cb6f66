"""WebSocket transports: --transport ws|wss, ws:// and wss:// URLs, --path,
--host-header, and the server's control port answering HTTP.

The server tells an HTTP request from burrow frames (and from TLS) by the
first byte of a connection; an upgrade on its --path gets 101 and the
connection goes on as a burrow connection inside binary WebSocket frames
(client frames masked, a close frame ends one direction: half-close), over
TCP or TLS. Control connections and the pooled data connections that bulk
streams move to all speak it.

Real peers, started by each test on free loopback ports with files written
into tmp_path: nginx (a static site and a location that proxies WebSocket
upgrades to burrow, plain and terminating TLS with a self-signed
certificate), curl (HTTP requests on the control port), python3-websockets
10.4 (asyncio client, a raw WebSocket peer), tinyproxy (HTTP CONNECT, the
fixture of test_proxy.py), socat (a TLS front that passes bytes, as in
test_tls.py). Written in this file and labelled as such: a few hand-made
frames that websockets will not send (unmasked, bad close codes, reserved
bits), as protocol checks of the server's frame reader.
"""

import asyncio
import base64
import os
import re
import secrets
import shutil
import socket
import struct
import subprocess
import threading

import pytest

import services
from conftest import (E2E_TRANSPORT, LOG_TIMEOUT, Proc, free_port, recv_exact, roundtrip, sha,
                      tls_supported, ws_supported)
from test_proxy import tinyproxy, wait_count  # noqa: F401  (tinyproxy: the fixture)
from test_tls import Pki, Tap, parallel_roundtrips, start_socat

pytestmark = [
    pytest.mark.skipif(not ws_supported(), reason="burrow binary without WebSocket transports"),
    # Every test here chooses its clients' transports: nothing to add with
    # BURROW_E2E_TRANSPORT=ws|wss|tls, they ran in the default run.
    pytest.mark.skipif(E2E_TRANSPORT != "tcp", reason="transport chosen per test; runs in the default run"),
]

MB = 1024 * 1024
MOVED = r"stream (\d+): moved to a dedicated connection after (\d+) bytes"
# RFC 6455 section 1.3: the sample nonce and the accept value it must get.
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy",
              "HTTP_PROXY", "http_proxy")


def needs(binary):
    path = shutil.which(binary) or (os.path.exists(f"/usr/sbin/{binary}") and f"/usr/sbin/{binary}")
    if not path:
        pytest.skip(f"{binary} not installed (scripts/deps.sh installs it)")
    return path


def needs_tls():
    if not tls_supported():
        pytest.skip("burrow binary without TLS")


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch):
    """ws clients read http_proxy, wss ones HTTPS_PROXY: none unless a test sets one."""
    for v in PROXY_VARS:
        monkeypatch.delenv(v, raising=False)


def q(s):
    return re.escape(str(s))


def authenticated_re(addr):
    return r"session \d+: authenticated to %s" % q(addr)


def count(proc, regex, since=0):
    r = re.compile(regex)
    with proc.cond:
        return sum(1 for l in proc.lines[since:] if r.search(l))


def transport_args(srv, transport):
    """Client flags for a transport to srv's control port (wss pinned to its key)."""
    if transport == "wss":
        needs_tls()
        return ["--transport", "wss", "--fingerprint", srv.server_key()]
    return ["--transport", transport]


def spki_pin(crt):
    """The certificate's key as burrow pins it, with the openssl command line:
    SHA-256 of the SubjectPublicKeyInfo, base64 without padding."""
    r = subprocess.run(
        ["sh", "-c", 'openssl x509 -pubkey -noout -in "$1" | openssl pkey -pubin -outform DER'
         " | openssl dgst -sha256 -binary | base64", "sh", str(crt)],
        capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    return "SHA256:" + r.stdout.decode().strip().rstrip("=")


def curl(*args, timeout=LOG_TIMEOUT):
    r = subprocess.run(["curl", "-sS", "--max-time", str(timeout), *args], capture_output=True,
                       timeout=timeout + 5)
    return r.returncode, r.stdout.decode("latin-1"), r.stderr.decode("latin-1")


def curl_head(url, *args, timeout=LOG_TIMEOUT):
    """curl -i: the status line and headers of the response, read as they
    arrive (curl -N) and without waiting for an end: after a 101 the server
    waits for WebSocket frames. Returns (status, {lower-case name: value}, text)."""
    p = subprocess.Popen(["curl", "-sS", "-i", "-N", "--max-time", str(timeout), *args, url],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        head = b""
        while b"\r\n\r\n" not in head:
            d = p.stdout.read1(65536)
            if not d:
                break
            head += d
    finally:
        if p.poll() is None:
            p.kill()
        p.wait(10)
        err = p.stderr.read().decode("latin-1")
        p.stdout.close()
        p.stderr.close()
    text = head.decode("latin-1")
    assert "\r\n\r\n" in text, f"curl {url}: no complete response head: {text!r} {err}"
    lines = text.split("\r\n\r\n", 1)[0].split("\r\n")
    m = re.match(r"HTTP/1\.1 (\d{3}) ", lines[0])
    assert m, f"curl {url}: status line {lines[0]!r}"
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(m.group(1)), headers, text


def ws_upgrade_headers(version="13", key=RFC_KEY):
    return ["-H", "Upgrade: websocket", "-H", "Connection: Upgrade",
            "-H", f"Sec-WebSocket-Key: {key}", "-H", f"Sec-WebSocket-Version: {version}"]


class OpenStream:
    """A user connection to an echo tunnel kept open across a test step:
    some bytes now, more later, then half-close and the whole echo back."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=LOG_TIMEOUT)
        self.sent = bytearray()
        self.got = bytearray()

    def exchange(self, n):
        data = os.urandom(n)
        self.s.sendall(data)
        self.sent += data
        self.got += recv_exact(self.s, n)
        assert self.got == self.sent

    def finish(self):
        self.exchange(70000)
        self.s.shutdown(socket.SHUT_WR)
        self.s.settimeout(LOG_TIMEOUT)
        assert self.s.recv(1) == b"", "the echo did not end after our half-close"
        self.s.close()


def upload_digest(port, n=3 * MB + 7, timeout=30):
    """Upload to a sha service, half-close, read its digest (the reply after our FIN)."""
    data = os.urandom(n)
    assert roundtrip("127.0.0.1", port, data, timeout=timeout).decode().strip() == sha(data)


def banner_then_upload(port, svc, n=2 * MB + 3):
    """The banner service half-closes first: read its banner to EOF, then
    upload (the stream moves after the service's FIN) and half-close; the
    service records what it read."""
    before = len(svc.records)
    s = socket.create_connection(("127.0.0.1", port), timeout=LOG_TIMEOUT)
    try:
        got = bytearray()
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
        assert bytes(got) == services.BANNER
        data = os.urandom(n)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        assert svc.wait_record(before + 1, timeout=30) == (len(data), sha(data))
    finally:
        s.close()


def wait_pool_full(srv, pool):
    """Wait until the server's idle pool is full again after the last stream
    took a data connection from it (refilled data connections take a
    handshake: a stream that looks for one before then stays multiplexed).
    Needs the server's --log-level debug: "stream N: moving" when a stream
    takes one, "data connection ready (N idle)" when one joins."""
    r = re.compile(r"stream \d+: moving$")
    with srv.cond:
        last = max((i for i, l in enumerate(srv.lines) if r.search(l)), default=-1)
    srv.wait_log(r"data connection ready \(%d idle\)" % pool, since=last + 1)


def bulk_checks(srv, pool, p_echo, p_up, p_down, p_banner=None, banner=None, echo_streams=6):
    """Streams that move to data connections: echoes both ways at once, an
    upload with half-close, a download, all byte-exact; each moves (each
    step starts with a full pool: srv has --log-level debug)."""
    wait_pool_full(srv, pool)
    mark = srv.mark()
    payloads = [os.urandom(MB + 7 * i) for i in range(echo_streams)]
    parallel_roundtrips(p_echo, payloads)
    srv.wait_log(MOVED, since=mark)

    wait_pool_full(srv, pool)
    mark = srv.mark()
    upload_digest(p_up)
    srv.wait_log(MOVED, since=mark)

    wait_pool_full(srv, pool)
    mark = srv.mark()
    got = roundtrip("127.0.0.1", p_down, b"", timeout=30)
    assert len(got) == len(services.SOURCE) and sha(got) == sha(services.SOURCE)
    srv.wait_log(MOVED, since=mark)

    if p_banner is not None:
        wait_pool_full(srv, pool)
        mark = srv.mark()
        banner_then_upload(p_banner, banner)
        srv.wait_log(MOVED, since=mark)
    return payloads


# --------------------------------------------------------------------------
# (1) ws and wss straight to the server: multiplexed and moved streams
# --------------------------------------------------------------------------

class Relay(Tap):
    """test_tls.py's recording relay, which also says when what it holds
    changes: a data connection the client opens to refill its pool may still
    be in its handshake when a test looks."""

    def __init__(self, target_port):
        self.changed = None
        super().__init__(target_port)
        self.changed = threading.Condition(self.lock)

    def _pump(self, a, b, sink):
        try:
            while True:
                d = a.recv(262144)
                if not d:
                    b.shutdown(socket.SHUT_WR)
                    return
                with self.lock:
                    sink += d
                    if self.changed is not None:
                        self.changed.notify_all()
                b.sendall(d)
        except OSError:
            pass

    def answered_records(self, transport, timeout=LOG_TIMEOUT):
        """The records once every connection has its server's first answer
        (the whole 101 head for ws, a TLS record for wss)."""
        def answered(r):
            return b"\r\n\r\n" in r["down"] if transport == "ws" else len(r["down"]) > 0

        with self.changed:
            self.changed.wait_for(lambda: all(answered(r) for r in self.conns), timeout)
        return self.records()


@pytest.fixture
def tap():
    made = []

    def make(target_port):
        t = Relay(target_port)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


def assert_ws_wire(records, transport, path, payloads):
    """What crossed the relay, per connection: an upgrade on `path` answered
    101 (ws), or TLS with nothing of it in clear (wss); the client's frames
    are masked, so no payload is in clear on the way up."""
    assert records, "nothing crossed the relay"
    for i, (up, down) in enumerate(records):
        if transport == "ws":
            assert up.startswith(f"GET {path} HTTP/1.1\r\n".encode()), \
                f"connection {i}: not a WebSocket upgrade: {up[:64]!r}"
            head = up.split(b"\r\n\r\n", 1)[0].lower()
            assert b"\r\nupgrade: websocket" in head and b"\r\nsec-websocket-version: 13" in head, head
            assert down.startswith(b"HTTP/1.1 101 "), f"connection {i}: server said {down[:64]!r}"
            body = up.split(b"\r\n\r\n", 1)[1]
            if not body:
                # A pool refill upgraded while the records were taken: no
                # frame of its own has crossed yet, nothing to check.
                continue
            # First frame: binary (FIN + opcode 2), masked.
            assert body[:1] == b"\x82" and body[1] & 0x80, f"connection {i}: first frame {body[:8]!r}"
            assert b"BURROW" not in up, f"connection {i}: an unmasked HELLO"
        else:
            assert up[:1] == b"\x16" and down[:1] == b"\x16", f"connection {i}: not TLS"
            assert b"GET / HTTP/1.1" not in up and b"HTTP/1.1 101" not in down
            assert b"BURROW" not in up + down
        for p in payloads:
            probe = p[len(p) // 2:len(p) // 2 + 48]
            assert probe not in up, f"connection {i}: payload unmasked on the way up"


@pytest.mark.parametrize("transport", ["ws", "wss"])
def test_concurrent_streams_over_ws_control_connection(burrow_server, burrow_client, echo, tap, transport):
    """16 concurrent streams of 1 MiB, all multiplexed (pool 0) on one ws or
    pinned wss control connection, byte-exact both ways; on the wire one
    WebSocket connection (a recording relay in between)."""
    srv = burrow_server()
    t = tap(srv.port)
    cli = burrow_client(f"127.0.0.1:{t.port}", "-R", f"0:127.0.0.1:{echo.port}", "--pool", "0",
                        *transport_args(srv, transport), transport=None)
    cli.wait_log(authenticated_re(f"127.0.0.1:{t.port}"))
    port = cli.tunnel_port("r1")
    payloads = [os.urandom(MB + i) for i in range(16)]
    parallel_roundtrips(port, payloads)
    assert srv.find(r"moved to a dedicated connection") is None
    records = t.answered_records(transport)
    assert len(records) == 1, f"pool 0: want only the control connection, got {len(records)}"
    assert_ws_wire(records, transport, "/", payloads)
    assert cli.find(r"reconnecting in") is None


@pytest.mark.parametrize("transport", ["ws", "wss"])
def test_streams_move_to_ws_data_connections(burrow_server, burrow_client, service, tap, transport):
    """Bulk streams move to pooled data connections that are WebSocket (or
    wss) connections too, on the server's --path: concurrent echoes, an
    upload whose half-close is a close frame and whose digest still comes
    back, a download, and a stream that moves after the service half-closed
    first; all byte-exact."""
    srv = burrow_server("--dedicated-after", "64K", "--path", "/b", "--log-level", "debug")
    e, up, down, ban = service("echo"), service("sha"), service("source"), service("banner")
    t = tap(srv.port)
    cli = burrow_client(f"127.0.0.1:{t.port}", "-R", f"0:127.0.0.1:{e.port}",
                        "-R", f"0:127.0.0.1:{up.port}", "-R", f"0:127.0.0.1:{down.port}",
                        "-R", f"0:127.0.0.1:{ban.port}", "--pool", "4", "--path", "/b",
                        *transport_args(srv, transport), transport=None)
    ports = [cli.tunnel_port(f"r{i}") for i in range(1, 5)]
    cli.wait_log(r"session \d+: 4 data connections ready")
    payloads = bulk_checks(srv, 4, ports[0], ports[1], ports[2], ports[3], ban)
    moved = count(srv, MOVED)
    assert moved >= 4, f"only {moved} streams moved with 4 idle data connections"
    records = t.answered_records(transport)
    assert len(records) >= 5, f"want the control connection and 4+ data connections, got {len(records)}"
    assert_ws_wire(records, transport, "/b", payloads)
    assert cli.find(r"reconnecting in") is None


# --------------------------------------------------------------------------
# (2) nginx in front: a web site at /, burrow at /tunnel
# --------------------------------------------------------------------------

class Nginx:
    def __init__(self, proc, http_port, https_port, marker):
        self.proc, self.http_port, self.https_port, self.marker = proc, http_port, https_port, marker

    def access_re(self, status, host, path="/tunnel", sni="-"):
        """Its access log line (log_format hostlog) for a request, logged when
        it ends; sni: the TLS server name the client sent ("-": none, or no TLS).
        status: a number, or a regex string."""
        return r'"GET %s HTTP/1\.1" %s host=%s sni=%s$' % (q(path), status, q(host), q(sni))


@pytest.fixture
def nginx(procs, tmp_path):
    """Factory: nginx(upstream_port, cert=None): nginx in the foreground on a
    free loopback port (and a second one with TLS if cert), a static site at
    / and `location /tunnel` proxying WebSocket upgrades to upstream_port.
    Its access log (host=$http_host) and error log go to its stderr."""
    binary = needs("nginx")
    counter = [0]

    def start(upstream_port, cert=None):
        counter[0] += 1
        d = tmp_path / f"nginx{counter[0]}"
        (d / "www").mkdir(parents=True)
        marker = "burrow-e2e site " + secrets.token_hex(8)
        (d / "www" / "index.html").write_text(marker + "\n")
        for _attempt in range(5):
            http_port = free_port()
            https_port = free_port() if cert else None
            tls = (f"    listen 127.0.0.1:{https_port} ssl;\n"
                   f"    ssl_certificate {cert.crt};\n    ssl_certificate_key {cert.key};\n"
                   if cert else "")
            temps = "".join(f"  {k}_temp_path {d}/{k}_temp;\n"
                            for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
            conf = d / "nginx.conf"
            conf.write_text(
                ("user root;\n" if os.geteuid() == 0 else "")
                + "worker_processes 1;\n"
                "events { worker_connections 256; }\n"
                "http {\n"
                "  log_format hostlog '$remote_addr \"$request\" $status host=$http_host sni=$ssl_server_name';\n"
                "  access_log /dev/stderr hostlog;\n"
                + temps +
                "  server {\n"
                f"    listen 127.0.0.1:{http_port};\n"
                + tls +
                f"    root {d}/www;\n"
                "    location / { }\n"
                "    location /tunnel {\n"
                f"      proxy_pass http://127.0.0.1:{upstream_port};\n"
                "      proxy_http_version 1.1;\n"
                "      proxy_set_header Upgrade $http_upgrade;\n"
                "      proxy_set_header Connection \"upgrade\";\n"
                "      proxy_read_timeout 1h;\n"
                "    }\n"
                "  }\n"
                "}\n")
            proc = Proc(f"nginx#{counter[0]}",
                        [binary, "-c", str(conf),
                         "-g", f"daemon off; pid {d}/nginx.pid; error_log stderr notice;"],
                        dict(os.environ))
            procs.append(proc)
            try:
                # Logged once its listening sockets are open.
                proc.wait_log(r"start worker process", timeout=LOG_TIMEOUT)
                return Nginx(proc, http_port, https_port, marker)
            except AssertionError:
                if proc.find(r"Address already in use") is None:
                    raise
                proc.stop()
                proc.checked = True  # a port taken meanwhile: try others
        pytest.fail("could not start nginx")

    return start


def test_ws_through_nginx(burrow_server, burrow_client, nginx, service, echo):
    """ws through nginx (location /tunnel, server --path /tunnel): control and
    data connections are upgrades that nginx proxies; bulk streams move and
    arrive byte-exact, half-close included; curl still gets the site at /;
    nginx's access log shows --host-header for every upgrade of the client
    and /tunnel, the --path it asked for."""
    srv = burrow_server("--path", "/tunnel", "--dedicated-after", "64K", "--log-level", "debug")
    ng = nginx(srv.port)
    e, up, down = service("echo"), service("sha"), service("source")
    cli = burrow_client(f"127.0.0.1:{ng.http_port}", "--transport", "ws", "--path", "/tunnel",
                        "--host-header", "tunnel.example.test",
                        "-R", f"0:127.0.0.1:{e.port}", "-R", f"0:127.0.0.1:{up.port}",
                        "-R", f"0:127.0.0.1:{down.port}", "--pool", "2", transport=None)
    cli.wait_log(authenticated_re(f"127.0.0.1:{ng.http_port}"))
    p_echo, p_up, p_down = (cli.tunnel_port(f"r{i}") for i in (1, 2, 3))
    cli.wait_log(r"session \d+: 2 data connections ready")
    held = OpenStream(p_echo)
    held.exchange(1000)
    rc, out, err = curl(f"http://127.0.0.1:{ng.http_port}/")
    assert rc == 0 and out.strip() == ng.marker, (rc, out, err)
    ng.proc.wait_log(ng.access_re(200, f"127.0.0.1:{ng.http_port}", "/"))
    bulk_checks(srv, 2, p_echo, p_up, p_down, echo_streams=4)
    held.finish()
    # The upgrades are logged when their connections end.
    mark = ng.proc.mark()
    cli.stop()
    # Every connection, each an upgrade with our Host: the control
    # connection and the 2 pooled data connections, logged as they end now,
    # and one more data connection per move (each refilled the pool). A
    # refill still in its upgrade when the client stops is logged 499 (the
    # client closed before the answer): on a slow (ASan) run that happens.
    upgrade = ng.access_re("(?:101|499)", "tunnel.example.test")
    wait_count(ng.proc, upgrade, 3, since=mark)
    wait_count(ng.proc, upgrade, 3 + count(srv, MOVED))
    assert ng.proc.find(r'"GET (?!/tunnel |/ ).*HTTP') is None, "the client asked for another path"
    assert ng.proc.find(r'"GET /tunnel HTTP/1\.1" 101 host=(?!tunnel\.example\.test )') is None
    assert cli.find(r"reconnecting in") is None


def test_wss_through_nginx_terminating_tls(burrow_server, burrow_client, nginx, service, tmp_path):
    """wss:// to nginx, which terminates TLS with a self-signed certificate
    (the client pins that certificate's key) and passes plain ws to burrow:
    the client goes on without channel binding; moved streams and half-close
    work; curl gets the site at / of the same nginx (TLS port) while the
    tunnel carries a stream; the default Host is HOST:PORT. A client pinned
    to the burrow server's own key is refused: the pin checks nginx."""
    needs_tls()
    crt = Pki(tmp_path / "pki").self_signed("nginx-front")
    pin = spki_pin(crt.crt)
    assert pin == crt.pin  # the command line and test_tls.py agree
    srv = burrow_server("--path", "/tunnel", "--dedicated-after", "64K", "--log-level", "debug")
    ng = nginx(srv.port, cert=crt)
    url = f"wss://127.0.0.1:{ng.https_port}/tunnel"
    e, up, down = service("echo"), service("sha"), service("source")
    cli = burrow_client(url, "--fingerprint", pin,
                        "-R", f"0:127.0.0.1:{e.port}", "-R", f"0:127.0.0.1:{up.port}",
                        "-R", f"0:127.0.0.1:{down.port}", "--pool", "2", transport=None)
    cli.wait_log(authenticated_re(f"127.0.0.1:{ng.https_port}"))
    p_echo, p_up, p_down = (cli.tunnel_port(f"r{i}") for i in (1, 2, 3))
    cli.wait_log(r"session \d+: 2 data connections ready")
    held = OpenStream(p_echo)
    held.exchange(1000)
    rc, out, err = curl("-k", f"https://127.0.0.1:{ng.https_port}/")
    assert rc == 0 and out.strip() == ng.marker, (rc, out, err)
    rc, out, err = curl(f"http://127.0.0.1:{ng.http_port}/")
    assert rc == 0 and out.strip() == ng.marker, (rc, out, err)
    held.exchange(5000)
    bulk_checks(srv, 2, p_echo, p_up, p_down, echo_streams=4)
    held.finish()

    wrong = burrow_client(url, "--fingerprint", srv.server_key(), "-R", f"0:127.0.0.1:{e.port}",
                          transport=None)
    assert wrong.wait_exit() == 1
    assert wrong.find(r"does not match"), wrong.text()
    assert wrong.find(r"authenticated to") is None

    mark = ng.proc.mark()
    cli.stop()
    upgrade = ng.access_re("(?:101|499)", f"127.0.0.1:{ng.https_port}")  # 499: as above
    wait_count(ng.proc, upgrade, 3, since=mark)
    wait_count(ng.proc, upgrade, 3 + count(srv, MOVED))
    assert cli.find(r"reconnecting in") is None


def test_wss_ca_and_sni_through_nginx(burrow_server, burrow_client, nginx, echo, tmp_path):
    """wss trusts by CA as tls does: nginx's certificate, from a test CA, is
    for a name only (DNS:front.burrow.test). With --ca and --sni NAME the
    client sends NAME (nginx logs $ssl_server_name), checks the certificate
    against it and gets in; the Host header stays the server's HOST:PORT.
    Without --sni the name check fails on 127.0.0.1: refused, exit 1."""
    needs_tls()
    pki = Pki(tmp_path / "pki")
    ca = pki.ca("ca-front")
    crt = pki.issue(ca, "front", san="DNS:front.burrow.test")
    srv = burrow_server("--path", "/tunnel")
    ng = nginx(srv.port, cert=crt)
    url = f"wss://127.0.0.1:{ng.https_port}/tunnel"
    cli = burrow_client(url, "--ca", ca.crt, "--sni", "front.burrow.test",
                        "-R", f"0:127.0.0.1:{echo.port}", "--pool", "1", transport=None)
    port = cli.tunnel_port("r1")
    cli.wait_log(r"session \d+: 1 data connections? ready")
    data = os.urandom(400000)
    assert sha(roundtrip("127.0.0.1", port, data)) == sha(data)

    bad = burrow_client(url, "--ca", ca.crt, "-R", f"0:127.0.0.1:{echo.port}", transport=None)
    assert bad.wait_exit() == 1
    assert bad.find(r"(?i)mismatch"), bad.text()
    assert bad.find(r"authenticated to") is None

    mark = ng.proc.mark()
    cli.stop()
    ng.proc.wait_log(ng.access_re(101, f"127.0.0.1:{ng.https_port}", sni="front.burrow.test"),
                     since=mark)


def test_tls_client_at_nginx_tls_port_gets_no_session(burrow_server, burrow_client, nginx, echo,
                                                       tmp_path):
    """A --transport tls client (tls://) pointed at nginx's TLS port: its TLS
    ends at nginx, whose HTTP server answers its burrow frames with 400, so
    it never reaches the server and never gets a session (see the next test
    for a TLS front that does pass its bytes on)."""
    needs_tls()
    crt = Pki(tmp_path / "pki").self_signed("nginx-front")
    srv = burrow_server("--path", "/tunnel")
    ng = nginx(srv.port, cert=crt)
    cli = burrow_client(f"tls://127.0.0.1:{ng.https_port}", "--fingerprint", crt.pin,
                        "-R", f"0:127.0.0.1:{echo.port}", transport=None)
    ng.proc.wait_log(r'" 400 host=- sni=-$')
    cli.wait_log(r"disconnected: ")
    assert cli.find(r"does not match") is None, "TLS to nginx should have succeeded (pinned)"
    assert cli.find(r"authenticated to") is None
    assert srv.find(r"\(127\.0\.0\.1:\d+\)") is None, "the server saw a connection"


@pytest.mark.parametrize("transport", ["tls", "wss"])
def test_tls_front_that_passes_bytes(burrow_server, burrow_client, echo, procs, tmp_path, transport):
    """A TLS front that terminates TLS and passes the bytes on as TCP (socat:
    nginx-light has no stream module): the server sees plain frames (tls) or
    plain ws (wss) and its HELLO says it does not terminate the client's TLS.
    wss expects that (a web server or CDN in front) and goes on unbound; a
    tls client refuses before AUTH with the reason and exits 1."""
    needs_tls()
    needs("socat")
    crt = Pki(tmp_path / "pki").self_signed("front")
    srv = burrow_server()
    fport = start_socat(procs, f"cert={crt.crt},key={crt.key},verify=0", f"TCP:127.0.0.1:{srv.port}")
    scheme = "tls" if transport == "tls" else "wss"
    cli = burrow_client(f"{scheme}://127.0.0.1:{fport}", "--fingerprint", crt.pin,
                        "-R", f"0:127.0.0.1:{echo.port}", "--pool", "1", transport=None)
    if transport == "tls":
        rc = cli.wait_exit()
        assert rc == 1, f"client rc={rc}, want 1"
        assert cli.find(r"does not terminate this TLS connection itself"), cli.text()
        assert cli.find(r"authenticated to") is None
        assert srv.find(r"authenticated") is None
        assert srv.find(r"tunnel r1 listening") is None
    else:
        cli.wait_log(authenticated_re(f"127.0.0.1:{fport}"))
        port = cli.tunnel_port("r1")
        data = os.urandom(300000)
        assert sha(roundtrip("127.0.0.1", port, data)) == sha(data)
        assert cli.find(r"does not terminate") is None


# --------------------------------------------------------------------------
# (3) The path: 404, retried
# --------------------------------------------------------------------------

def test_wrong_path_is_404_and_retried(burrow_server, burrow_client, echo):
    """A client asking for a path the server does not upgrade logs the 404
    and keeps retrying (a misconfiguration that a restart of the server with
    the right path would fix), the server logs the request; a client on the
    right path is served meanwhile."""
    srv = burrow_server("--path", "/tunnel")
    bad = burrow_client(f"ws://127.0.0.1:{srv.port}/x", "-R", f"0:127.0.0.1:{echo.port}",
                        "--reconnect-max", "200ms", transport=None)
    reason = r"disconnected: .*upgrade refused: no WebSocket endpoint at this path \(404\)"
    bad.wait_log(reason)
    bad.wait_log(r"reconnecting in")
    srv.wait_log(r"connection \(127\.0\.0\.1:\d+\): closed: .*websocket: GET /x: no such path \(404\)")
    good = burrow_client(f"ws://127.0.0.1:{srv.port}/tunnel", "-R", f"0:127.0.0.1:{echo.port}",
                         transport=None)
    assert roundtrip("127.0.0.1", good.tunnel_port("r1"), b"right path") == b"right path"
    # Still retrying, never exited.
    mark = bad.mark()
    bad.wait_log(r"connecting to ", since=mark)
    bad.wait_log(reason, since=mark)
    assert bad.alive()
    assert bad.find(r"authenticated to") is None
    assert count(srv, r"session \d+ .*: authenticated$") == 1


# --------------------------------------------------------------------------
# (4) HTTP on the control port (curl)
# --------------------------------------------------------------------------

def test_http_requests_on_the_control_port(burrow_server, burrow_client, echo):
    """curl -i at the control port: GET / without an upgrade is 400; a
    proper upgrade (version 13, the RFC's sample key) is 101 with the RFC's
    Sec-WebSocket-Accept; another version is 426 naming 13; another path is
    404; a 9 KiB header is 431. Each is logged; a ws client keeps its
    stream and its tunnel all along."""
    srv = burrow_server()
    cli = burrow_client(srv, "--transport", "ws", "-R", f"0:127.0.0.1:{echo.port}", transport=None)
    port = cli.tunnel_port("r1")
    held = OpenStream(port)
    held.exchange(1000)
    base = f"http://127.0.0.1:{srv.port}"

    st, h, text = curl_head(base + "/")
    assert st == 400, text
    srv.wait_log(r"closed: .*websocket: GET /: not a WebSocket upgrade \(400\)")

    st, h, text = curl_head(base + "/", *ws_upgrade_headers())
    assert st == 101, text
    assert h.get("upgrade", "").lower() == "websocket" and h.get("connection", "").lower() == "upgrade"
    assert h.get("sec-websocket-accept") == RFC_ACCEPT, text

    st, h, text = curl_head(base + "/", *ws_upgrade_headers(version="8"))
    assert st == 426, text
    assert h.get("sec-websocket-version") == "13", text
    srv.wait_log(r"closed: .*websocket: GET /: unsupported Sec-WebSocket-Version \(426\)")

    st, h, text = curl_head(base + "/elsewhere", *ws_upgrade_headers())
    assert st == 404 and text.startswith("HTTP/1.1 404 Not Found\r\n"), text
    srv.wait_log(r"closed: .*websocket: GET /elsewhere: no such path \(404\)")

    held.exchange(2000)
    st, h, text = curl_head(base + "/", "-H", "X-Big: " + "b" * (9 * 1024))
    assert st == 431, text
    srv.wait_log(r"closed: .*websocket: bad request: request head longer than 8 KiB \(431\)")

    held.finish()
    assert roundtrip("127.0.0.1", port, b"after curl") == b"after curl"
    assert cli.find(r"reconnecting in|disconnected") is None


# --------------------------------------------------------------------------
# (5) A raw WebSocket peer: python3-websockets, hand-made frames
# --------------------------------------------------------------------------

def websockets_mod():
    try:
        import websockets
    except ImportError:
        pytest.skip("python3-websockets not installed")
    return websockets


def test_websockets_peer(burrow_server, burrow_client, echo):
    """python3-websockets against the control port: a ping gets its pong; a
    text frame gets a close with 1002 (protocol error); binary frames that
    are no burrow HELLO get the connection closed. A real client's tunnel
    works before and after."""
    websockets = websockets_mod()
    srv = burrow_server()
    cli = burrow_client(srv, "--transport", "ws", "-R", f"0:127.0.0.1:{echo.port}", transport=None)
    port = cli.tunnel_port("r1")
    assert roundtrip("127.0.0.1", port, b"before") == b"before"
    uri = f"ws://127.0.0.1:{srv.port}/"

    async def ping_then_text():
        async with websockets.connect(uri, compression=None, open_timeout=LOG_TIMEOUT) as ws:
            pong = await ws.ping(b"are you there")
            await asyncio.wait_for(pong, LOG_TIMEOUT)
            await ws.send("text is not burrow")
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), LOG_TIMEOUT)
            return ws.close_code, ws.close_reason

    async def garbage():
        async with websockets.connect(uri, compression=None, open_timeout=LOG_TIMEOUT) as ws:
            local = ws.local_address[1]
            await ws.send(b"\x00" * 64)
            await ws.send(os.urandom(4096))
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), LOG_TIMEOUT)
            return local

    code, reason = asyncio.run(ping_then_text())
    assert code == 1002, (code, reason)
    srv.wait_log(r"closed: .*websocket: text frame")
    local = asyncio.run(garbage())
    srv.wait_log(r"connection \(127\.0\.0\.1:%d\): closed: " % local)
    assert srv.find(r"authenticated$") is not None
    assert count(srv, r"session \d+ .*: authenticated$") == 1
    assert roundtrip("127.0.0.1", port, b"after") == b"after"
    assert cli.find(r"reconnecting in|disconnected") is None


def raw_upgrade(port, path="/"):
    """A socket after a 101 from the server (the request written by hand)."""
    key = base64.b64encode(os.urandom(16)).decode()
    s = socket.create_connection(("127.0.0.1", port), timeout=LOG_TIMEOUT)
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += recv_exact(s, 1)
    assert head.startswith(b"HTTP/1.1 101 "), head
    return s


def frame(opcode, payload=b"", mask=True, fin=True, rsv=0):
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    if n < 126:
        hdr = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    else:
        hdr = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    if not mask:
        return hdr + payload
    key = os.urandom(4)
    return hdr + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


def read_frame(s):
    """(opcode, payload) of the next server frame, which must be unmasked."""
    b0, b1 = recv_exact(s, 2)
    assert not b1 & 0x80, "the server masked a frame"
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exact(s, 8))[0]
    return b0 & 0x0F, recv_exact(s, n)


def read_eof(s):
    s.settimeout(LOG_TIMEOUT)
    try:
        while s.recv(65536):
            pass
    except ConnectionResetError:
        pass


@pytest.mark.parametrize("bad,why", [
    pytest.param(frame(2, b"\x00" * 32, mask=False), r"unmasked frame from the client", id="unmasked"),
    pytest.param(frame(8, struct.pack("!H", 999)), r"invalid close code", id="close-999"),
    pytest.param(frame(8, struct.pack("!H", 1005)), r"invalid close code", id="close-1005"),
    pytest.param(frame(8, b"\x03"), r"close frame of one byte", id="close-1-byte"),
    pytest.param(frame(2, b"\x00" * 8, rsv=4), r"reserved bits", id="rsv1"),
    pytest.param(frame(0, b"\x00" * 8), r"continuation frame outside a message", id="lone-continuation"),
    pytest.param(frame(3, b"\x00" * 8), r"unknown opcode", id="opcode-3"),
])
def test_bad_frames_get_close_1002_protocol_check(burrow_server, burrow_client, echo, bad, why):
    """Protocol check with frames written by hand (websockets will not send
    them): each gets a close frame with 1002, then the end of the
    connection, and the server logs why; a ping on the same upgrade first
    gets a pong with its payload."""
    srv = burrow_server()
    s = raw_upgrade(srv.port)
    try:
        s.sendall(frame(9, b"ping-payload"))
        assert read_frame(s) == (10, b"ping-payload")
        s.sendall(bad)
        op, payload = read_frame(s)
        assert op == 8 and len(payload) >= 2, (op, payload)
        assert struct.unpack("!H", payload[:2])[0] == 1002, payload
        read_eof(s)
    finally:
        s.close()
    srv.wait_log(r"closed: .*websocket: " + why)
    cli = burrow_client(srv, "--transport", "ws", "-R", f"0:127.0.0.1:{echo.port}", transport=None)
    assert roundtrip("127.0.0.1", cli.tunnel_port("r1"), b"still") == b"still"


# --------------------------------------------------------------------------
# (6) Through an HTTP CONNECT proxy (tinyproxy)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("transport", ["ws", "wss"])
def test_ws_through_tinyproxy_half_close_on_moved_stream(burrow_server, burrow_client, tinyproxy,
                                                         service, transport):  # noqa: F811
    """ws (and wss) through tinyproxy: control and data connections are
    CONNECTs; an upload on a stream that moved to a data connection,
    half-closed, still gets its digest back: the half-close is a close frame
    inside the tunnel, where plain TCP's FIN ends tinyproxy's whole CONNECT
    (the strict xfail in test_proxy.py)."""
    srv = burrow_server("--dedicated-after", "64K", "--log-level", "debug")
    tp = tinyproxy([srv.port])
    svc = service("sha")
    scheme = transport
    extra = ["--fingerprint", srv.server_key()] if transport == "wss" else []
    if transport == "wss":
        needs_tls()
    server = f"127.0.0.1:{srv.port}"
    cli = burrow_client(f"{scheme}://{server}/", *extra, "-R", f"0:127.0.0.1:{svc.port}",
                        "--pool", "1", "--proxy", tp.url, transport=None)
    cli.wait_log(r"connecting to %s via http proxy 127\.0\.0\.1:%d$" % (q(server), tp.port))
    port = cli.tunnel_port("r1")
    wait_pool_full(srv, 1)
    mark = srv.mark()
    upload_digest(port)
    srv.wait_log(MOVED, since=mark)
    # Both the control and the data connection went through the proxy.
    assert count(tp.proc, tp.connect_re("127.0.0.1", srv.port)) >= 2
    # And again, on the data connection that refilled the pool.
    wait_pool_full(srv, 1)
    mark = srv.mark()
    upload_digest(port, n=MB + 1)
    srv.wait_log(MOVED, since=mark)
    assert cli.find(r"reconnecting in") is None
