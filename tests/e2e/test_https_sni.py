"""The shared HTTPS port: TLS routed by the ClientHello's server name (SNI).

`burrow server --https ADDR:PORT` (YAML `https:`) opens one port for every
client's names; a client registers names with `-R https:NAME[,NAME...]:host:port`
(YAML `type: https`, `domains:`, `local:`, optional `proxy_protocol:`), a
name exact or `*.suffix` (one or more labels in front). The server reads
only the ClientHello, picks the tunnel (the exact name, else the longest
wildcard) and passes the connection, ClientHello included, still encrypted
to the client's service: the certificate and its key stay there. An
unknown name or none gets a fatal alert unrecognized_name, plain HTTP a
400 that says to use https://, garbage is closed; a connection that never
finishes its ClientHello is closed after 10 s, and at most 256 wait at
once (a new one closes the oldest).

Real peers, started by each test on free loopback ports with their files in
tmp_path (as test_ws.py does): nginx with `ssl` server blocks (one per name,
each with its own certificate from a CA made here with openssl, and its own
body), `http2` and `proxy_protocol` listeners; curl with --resolve and
--cacert (so the certificate it verifies is nginx's, end to end); openssl
s_client for a ClientHello without SNI; Python's ssl module for a download
held open across other connections and for the bytes of a real ClientHello
(a MemoryBIO handshake), half of which the slow-loris test sends.
"""

import os
import re
import secrets
import shutil
import socket
import ssl
import struct
import subprocess
import time

import pytest

from conftest import LOG_TIMEOUT, Proc, free_port, recv_exact, sha
from test_tls import Pki
from test_usage import run

MB = 1024 * 1024
RE_HTTPS_LISTENING = r"https listening on 127\.0\.0\.1:(\d+) \(TLS passed through by server name\)"
# The alert the server sends for an unknown name or none: a TLS record
# (alert, 3.3, length 2), level fatal (2), unrecognized_name (112).
ALERT_UNRECOGNIZED_NAME = bytes([21, 3, 3, 0, 2, 2, 112])
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy",
              "HTTP_PROXY", "http_proxy")


def needs(binary):
    path = shutil.which(binary) or (os.path.exists(f"/usr/sbin/{binary}") and f"/usr/sbin/{binary}")
    if not path:
        pytest.skip(f"{binary} not installed (scripts/deps.sh installs it)")
    return path


def q(s):
    return re.escape(str(s))


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch):
    """curl reads https_proxy and friends: none here."""
    for v in PROXY_VARS:
        monkeypatch.delenv(v, raising=False)


@pytest.fixture
def ca(tmp_path):
    """A CA (made here with openssl) that signs nginx's certificates; curl
    and Python trust only it."""
    pki = Pki(tmp_path / "pki")
    root = pki.ca("burrow-e2e-sni-ca")

    class Ca:
        crt = str(root.crt)

        @staticmethod
        def issue(label, *dns):
            return pki.issue(root, label, san=",".join(f"DNS:{d}" for d in dns))

    return Ca


# --------------------------------------------------------------------------
# nginx with ssl server blocks
# --------------------------------------------------------------------------

class Site:
    """A server block: its names (server_name), certificate, the listen
    port it is on (an index into the ports), and files besides index.html."""

    def __init__(self, names, cert, port=0, files=None):
        self.names, self.cert, self.port, self.files = names, cert, port, files or {}
        self.marker = None  # index.html's line, set when nginx starts


class Nginx:
    def __init__(self, proc, ports, sites):
        self.proc, self.ports, self.sites = proc, ports, sites


@pytest.fixture
def nginx(procs, tmp_path):
    """Factory: nginx(sites, nports=1, listen="ssl"): nginx in the foreground
    with one server block per Site on the loopback ports it picks (free
    ones), each `listen 127.0.0.1:PORT <listen>` (e.g. "ssl http2", "ssl
    proxy_protocol"); a site's root has index.html (a line naming it and a
    random marker) and its files. The access log (on its stderr) names the
    server block, the SNI, the protocol and the PROXY header's addresses."""
    binary = needs("nginx")
    counter = [0]

    def start(sites, nports=1, listen="ssl"):
        counter[0] += 1
        d = tmp_path / f"nginx{counter[0]}"
        d.mkdir()
        blocks = []
        for i, site in enumerate(sites):
            root = d / f"www{i}"
            root.mkdir()
            site.marker = f"site {site.names} " + secrets.token_hex(8)
            (root / "index.html").write_text(site.marker + "\n")
            for fname, data in site.files.items():
                (root / fname).write_bytes(data)
            blocks.append((site, root))
        temps = "".join(f"  {k}_temp_path {d}/{k}_temp;\n"
                        for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        for _attempt in range(5):
            ports = [free_port() for _ in range(nports)]
            servers = "".join(
                "  server {\n"
                f"    listen 127.0.0.1:{ports[site.port]} {listen};\n"
                f"    server_name {site.names};\n"
                f"    ssl_certificate {site.cert.crt};\n"
                f"    ssl_certificate_key {site.cert.key};\n"
                f"    root {root};\n"
                "    location / { }\n"
                "  }\n" for site, root in blocks)
            conf = d / "nginx.conf"
            conf.write_text(
                ("user root;\n" if os.geteuid() == 0 else "")
                + "worker_processes 1;\n"
                "events { worker_connections 512; }\n"
                "http {\n"
                "  log_format sni '$remote_addr \"$request\" $status server=$server_name "
                "sni=$ssl_server_name proto=$server_protocol "
                "pp=$proxy_protocol_addr:$proxy_protocol_port "
                "ppserver=$proxy_protocol_server_addr:$proxy_protocol_server_port';\n"
                "  access_log /dev/stderr sni;\n"
                + temps + servers +
                "}\n")
            proc = Proc(f"nginx#{counter[0]}",
                        [binary, "-p", str(d), "-c", str(conf),
                         "-g", f"daemon off; pid {d}/nginx.pid; error_log stderr notice;"],
                        dict(os.environ))
            procs.append(proc)
            try:
                # Logged once its listening sockets are open.
                proc.wait_log(r"start worker process", timeout=LOG_TIMEOUT)
                return Nginx(proc, ports, sites)
            except AssertionError:
                if proc.find(r"Address already in use") is None:
                    raise
                proc.stop()
                proc.checked = True  # a port taken meanwhile: try others
        pytest.fail("could not start nginx")

    return start


# --------------------------------------------------------------------------
# burrow and clients of the HTTPS port
# --------------------------------------------------------------------------

def https_server(burrow_server, *extra):
    """A burrow server with --https 127.0.0.1:0: (server, its HTTPS port)."""
    srv = burrow_server("--https", "127.0.0.1:0", *extra)
    return srv, int(srv.wait_log(RE_HTTPS_LISTENING).group(1))


def serving_re(names, https_port, target_port, tunnel="r1"):
    return (r"tunnel %s: serving %s on 127\.0\.0\.1:%d -> 127\.0\.0\.1:%d "
            r"\(TLS passed through by name\)$" % (q(tunnel), q(names), https_port, target_port))


def wait_count(proc, regex, n, timeout=LOG_TIMEOUT, since=0):
    """Wait until n stderr lines of proc match regex; returns the count."""
    r = re.compile(regex)
    with proc.cond:
        proc.cond.wait_for(lambda: sum(1 for l in proc.lines[since:] if r.search(l)) >= n
                           or proc.eof, timeout)
        got = sum(1 for l in proc.lines[since:] if r.search(l))
    assert got >= n, (f"{proc.name}: {got} of {n} lines matching /{regex}/ within {timeout}s; log:\n"
                      + proc._tail(60))
    return got


def curl(*args, timeout=LOG_TIMEOUT):
    r = subprocess.run(["curl", "-sS", "--max-time", str(timeout), *args], capture_output=True,
                       timeout=timeout + 5)
    return r.returncode, r.stdout.decode("latin-1"), r.stderr.decode("latin-1")


def curl_name(name, port, ca, *args, path="/", timeout=LOG_TIMEOUT):
    """curl https://NAME:PORT/path, NAME resolved to 127.0.0.1, verified
    against ca only: (rc, body, stderr)."""
    return curl("--resolve", f"{name}:{port}:127.0.0.1", "--cacert", ca, *args,
                f"https://{name}:{port}{path}", timeout=timeout)


def get_ok(name, port, ca, site, *args):
    """GET / for name through the HTTPS port: 200 with site's body (the
    certificate verified for name against ca)."""
    rc, out, err = curl_name(name, port, ca, *args)
    assert rc == 0, f"{name}: curl rc={rc}: {err}"
    assert out == site.marker + "\n", f"{name}: got {out!r}, want {site.marker!r}"


def refused_unknown(name, port, ca):
    """curl for a name nobody serves: exit 35 on the server's alert."""
    rc, out, err = curl_name(name, port, ca)
    assert rc == 35 and "unrecognized name" in err, (name, rc, out, err)


def client_hello(name):
    """The bytes of a real ClientHello for name (Python's ssl, into a
    MemoryBIO: nothing is sent anywhere)."""
    ctx = ssl.create_default_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=name)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = out.read()
    assert hello[:1] == b"\x16" and name.encode() in hello
    return hello


def read_closed(s, timeout=LOG_TIMEOUT):
    """Read s to its end: what came before EOF (a reset counts as the end)."""
    s.settimeout(timeout)
    got = bytearray()
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
    except ConnectionResetError:
        pass
    return bytes(got)


def still_open(s):
    """True if nothing (no byte, no EOF, no reset) has come on s yet."""
    s.setblocking(False)
    try:
        s.recv(1)
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.setblocking(True)


class HeldDownload:
    """An HTTPS GET of a big file through the HTTPS port, read in parts (a
    download held open across other connections); the certificate is
    verified for name against ca."""

    def __init__(self, name, port, ca, path):
        ctx = ssl.create_default_context(cafile=ca)
        raw = socket.create_connection(("127.0.0.1", port), timeout=LOG_TIMEOUT)
        self.s = ctx.wrap_socket(raw, server_hostname=name)
        self.s.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = self.s.recv(65536)
            assert d, f"EOF in the response head: {buf!r}"
            buf += d
        head, self.body = buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200 "), head
        m = re.search(rb"\r\ncontent-length: (\d+)", head, re.I)
        assert m, head
        self.length = int(m.group(1))
        self.body = bytearray(self.body)

    def read(self, upto):
        """Read until `upto` bytes of the body are here."""
        while len(self.body) < upto:
            d = self.s.recv(262144)
            assert d, f"EOF after {len(self.body)} of {self.length} bytes"
            self.body += d

    def finish(self):
        self.read(self.length)
        self.s.settimeout(LOG_TIMEOUT)
        rest = self.s.recv(1)  # then the end (Connection: close)
        assert rest == b"", "bytes after the body"
        self.s.close()
        return bytes(self.body)


# --------------------------------------------------------------------------
# (1) Names of one client, each to its own nginx server block
# --------------------------------------------------------------------------

def test_two_names_one_client_end_to_end(burrow_server, burrow_client, nginx, ca):
    """nginx holds the certificates of app.example.test and www.example.test
    (two server blocks, two bodies) behind one client that registers both
    (given in mixed case: names are lower-cased); curl through the HTTPS
    port verifies each certificate against the test's CA (which burrow never
    sees: the TLS is nginx's, end to end) and gets each name's body; nginx
    saw the SNI curl sent. A ClientHello whose name is in capitals (Python's
    ssl) goes to the same block."""
    app = Site("app.example.test", ca.issue("app", "app.example.test"))
    www = Site("www.example.test", ca.issue("www", "www.example.test"))
    ng = nginx([app, www])
    srv, hport = https_server(burrow_server)
    cli = burrow_client(srv, "-R", f"https:App.Example.TEST,www.example.test:127.0.0.1:{ng.ports[0]}")
    cli.wait_log(serving_re("app.example.test,www.example.test", hport, ng.ports[0]))
    srv.wait_log(r"tunnel r1 serving app\.example\.test,www\.example\.test on 127\.0\.0\.1:%d "
                 r"\(HTTPS, passed through\)" % hport)
    for _ in range(2):
        for site in (app, www):
            mark = ng.proc.mark()
            get_ok(site.names, hport, ca.crt, site)
            ng.proc.wait_log(r'"GET / HTTP/1\.1" 200 server=%s sni=%s ' % (q(site.names), q(site.names)),
                             since=mark)
    # The server lower-cases the ClientHello's name before it looks it up
    # (Python's ssl sends the name as given).
    assert b"WWW.Example.Test" in client_hello("WWW.Example.Test")
    ctx = ssl.create_default_context(cafile=ca.crt)
    with socket.create_connection(("127.0.0.1", hport), timeout=LOG_TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname="WWW.Example.Test") as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: www.example.test\r\nConnection: close\r\n\r\n")
            got = read_closed(s)
    assert got.startswith(b"HTTP/1.1 200 ") and got.endswith((www.marker + "\n").encode()), got[-200:]
    assert srv.find(r"https: connection .* refused") is None, srv.text()


# --------------------------------------------------------------------------
# (2) Exact names before wildcards, the longest wildcard first
# --------------------------------------------------------------------------

def test_wildcard_and_exact(burrow_server, burrow_client, nginx, ca):
    """Client A serves *.dev.example.test (nginx port 0), client B
    api.dev.example.test (nginx port 1), client C *.x.dev.example.test (port
    2): a.dev and b.c.dev (more than one label in front) go to A, api.dev
    to B (the exact name wins over A's wildcard), q.x.dev to C (the longest
    wildcard) while y.dev still goes to A; dev.example.test itself (no label
    in front of the wildcard's suffix) and .test names elsewhere are unknown:
    the alert, and the server logs the name it refused."""
    a = Site("*.dev.example.test", ca.issue("a", "*.dev.example.test", "b.c.dev.example.test",
                                            "q.x.dev.example.test"), 0)
    b = Site("api.dev.example.test", ca.issue("b", "api.dev.example.test"), 1)
    c = Site("*.x.dev.example.test", ca.issue("c", "*.x.dev.example.test"), 2)
    ng = nginx([a, b, c], nports=3)
    srv, hport = https_server(burrow_server)
    ca_ = burrow_client(srv, "-R", f"https:*.dev.example.test:127.0.0.1:{ng.ports[0]}")
    ca_.wait_log(serving_re("*.dev.example.test", hport, ng.ports[0]))
    cb = burrow_client(srv, "-R", f"https:api.dev.example.test:127.0.0.1:{ng.ports[1]}")
    cb.wait_log(serving_re("api.dev.example.test", hport, ng.ports[1]))
    for name, site in (("a.dev.example.test", a), ("b.c.dev.example.test", a),
                       ("api.dev.example.test", b), ("q.x.dev.example.test", a)):
        get_ok(name, hport, ca.crt, site)
    cc = burrow_client(srv, "-R", f"https:*.x.dev.example.test:127.0.0.1:{ng.ports[2]}")
    cc.wait_log(serving_re("*.x.dev.example.test", hport, ng.ports[2]))
    for name, site in (("q.x.dev.example.test", c), ("y.dev.example.test", a),
                       ("api.dev.example.test", b), ("b.c.dev.example.test", a)):
        get_ok(name, hport, ca.crt, site)
    for name in ("dev.example.test", "example.test", "api.dev.example.test.evil.test",
                 "xdev.example.test"):
        mark = srv.mark()
        refused_unknown(name, hport, ca.crt)
        srv.wait_log(r"https: connection from 127\.0\.0\.1:\d+ for '%s' refused: "
                     r"no tunnel serves this name" % q(name), since=mark)


# --------------------------------------------------------------------------
# (3) Refusals while a download through a good name keeps flowing
# --------------------------------------------------------------------------

def test_refusals_while_a_download_flows(burrow_server, burrow_client, nginx, ca):
    """A 16 MiB download (nginx, verified TLS) is started, read in part, and
    held; meanwhile, each refused and logged: an unknown name (curl exit 35,
    unrecognized name), a ClientHello without SNI (openssl s_client
    -noservername gets alert 112), plain HTTP (400 and the text that says
    https://), random bytes (closed, nothing sent back), a TLS record that is
    not a ClientHello (exactly the 7-byte alert, then closed); a good curl
    works between them; then the download (a bulk stream, moved to a data
    connection after its ClientHello went as the stream's first bytes) ends
    byte-exact (SHA-256)."""
    big = os.urandom(16 * MB)
    app = Site("app.example.test", ca.issue("app", "app.example.test"), files={"big.bin": big})
    ng = nginx([app])
    srv, hport = https_server(burrow_server)
    cli = burrow_client(srv, "-R", f"https:app.example.test:127.0.0.1:{ng.ports[0]}")
    cli.wait_log(serving_re("app.example.test", hport, ng.ports[0]))
    cli.wait_log(r"session \d+: \d+ data connections ready")

    mark = srv.mark()
    dl = HeldDownload("app.example.test", hport, ca.crt, "/big.bin")
    assert dl.length == len(big)
    dl.read(MB)
    # A bulk stream: it moves to a data connection, ClientHello and all.
    sid = srv.wait_log(r"stream (\d+): opened from 127\.0\.0\.1:\d+ on tunnel r1$", since=mark).group(1)
    dl.read(2 * MB)
    srv.wait_log(r"stream %s: moved to a dedicated connection after \d+ bytes" % sid, since=mark)

    # An unknown name.
    mark = srv.mark()
    refused_unknown("nobody.example.test", hport, ca.crt)
    srv.wait_log(r"https: connection from 127\.0\.0\.1:\d+ for 'nobody\.example\.test' refused: "
                 r"no tunnel serves this name$", since=mark)
    dl.read(2 * MB)

    # No SNI at all.
    mark = srv.mark()
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{hport}", "-noservername"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=LOG_TIMEOUT + 5)
    text = (r.stdout + r.stderr).decode("latin-1")
    assert r.returncode != 0 and "unrecognized name" in text and "alert number 112" in text, text
    srv.wait_log(r"https: connection from 127\.0\.0\.1:\d+ refused: no server name \(SNI\)", since=mark)

    # Plain HTTP on the HTTPS port.
    mark = srv.mark()
    rc, out, err = curl("-w", "\n%{http_code}", f"http://127.0.0.1:{hport}/")
    assert rc == 0, err
    assert out == "This port speaks HTTPS: use https://\n\n400", out
    srv.wait_log(r"https: connection from 127\.0\.0\.1:\d+ refused: a plain HTTP request \(400\)",
                 since=mark)
    dl.read(3 * MB)

    # Random bytes (not a TLS record, not a letter): closed, nothing sent.
    mark = srv.mark()
    with socket.create_connection(("127.0.0.1", hport), timeout=LOG_TIMEOUT) as s:
        s.sendall(b"\x00" + os.urandom(999))
        assert read_closed(s) == b""
        sport = s.getsockname()[1]
    srv.wait_log(r"https: connection from 127\.0\.0\.1:%d refused: not a TLS handshake record"
                 % sport, since=mark)

    # A TLS handshake record holding a ServerHello: the alert, then the end.
    mark = srv.mark()
    with socket.create_connection(("127.0.0.1", hport), timeout=LOG_TIMEOUT) as s:
        s.sendall(bytes([22, 3, 1, 0, 8, 2, 0, 0, 4, 3, 3, 0, 0]))
        assert read_closed(s) == ALERT_UNRECOGNIZED_NAME
        sport = s.getsockname()[1]
    srv.wait_log(r"https: connection from 127\.0\.0\.1:%d refused: not a ClientHello" % sport,
                 since=mark)

    get_ok("app.example.test", hport, ca.crt, app)
    got = dl.finish()
    assert len(got) == len(big) and sha(got) == sha(big)
    ng.proc.wait_log(r'"GET /big\.bin HTTP/1\.1" 200 server=app\.example\.test sni=app\.example\.test ')
    assert cli.find(r"reconnecting in") is None


# --------------------------------------------------------------------------
# (4) HTTP/2 (ALPN) passes through
# --------------------------------------------------------------------------

def test_http2_passes_through(burrow_server, burrow_client, nginx, ca):
    """nginx `listen ... ssl http2`: curl --http2 negotiates h2 with nginx
    (ALPN, inside the TLS burrow does not open) and gets HTTP/2; two
    requests in one curl share one connection: one stream on the server."""
    app = Site("app.example.test", ca.issue("app", "app.example.test"))
    ng = nginx([app], listen="ssl http2")
    srv, hport = https_server(burrow_server)
    cli = burrow_client(srv, "-R", f"https:app.example.test:127.0.0.1:{ng.ports[0]}")
    cli.wait_log(serving_re("app.example.test", hport, ng.ports[0]))
    mark, nmark = srv.mark(), ng.proc.mark()
    url = f"https://app.example.test:{hport}/"
    rc, out, err = curl("--http2", "--resolve", f"app.example.test:{hport}:127.0.0.1",
                        "--cacert", ca.crt, "-w", "\nhttp_version=%{http_version}\n", url, url)
    assert rc == 0, err
    assert out == (app.marker + "\n" + "\nhttp_version=2\n") * 2, out
    assert wait_count(ng.proc, r'"GET / HTTP/2\.0" 200 server=app\.example\.test '
                      r'sni=app\.example\.test proto=HTTP/2\.0 ', 2, since=nmark) == 2
    srv.wait_log(r"stream \d+: opened from 127\.0\.0\.1:\d+ on tunnel r1$", since=mark)
    opened = [l for l in srv.lines[mark:] if re.search(r"stream \d+: opened from", l)]
    assert len(opened) == 1, opened


# --------------------------------------------------------------------------
# (5) PROXY protocol v2 before the ClientHello (YAML on both sides)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["yaml-v2", "flag-v1"])
def test_proxy_protocol_to_nginx(burrow_server, burrow_client, nginx, ca, tmp_path, token, how):
    """yaml-v2: the server's HTTPS port from its YAML (`https:`), the
    client's tunnel from YAML (`type: https`, `domains:` with a wildcard and
    a name in capitals, `local:`, `proxy_protocol: v2`); flag-v1: -R https:
    with --proxy-protocol v1. nginx `listen ... ssl proxy_protocol` logs the
    visitor's address and port (curl --interface 127.0.0.2) and the HTTPS
    port it connected to, for two names, each its own connection and header."""
    app = Site("app.example.test", ca.issue("app", "app.example.test"))
    dev = Site("a.dev.example.test", ca.issue("dev", "a.dev.example.test"))
    ng = nginx([app, dev], listen="ssl proxy_protocol")
    if how == "yaml-v2":
        scfg = tmp_path / "server.yaml"
        scfg.write_text("https: 127.0.0.1:0\n")
        srv = burrow_server("-c", str(scfg))
        hport = int(srv.wait_log(RE_HTTPS_LISTENING).group(1))
        ccfg = tmp_path / "client.yaml"
        ccfg.write_text(
            f"server: 127.0.0.1:{srv.port}\n"
            f"token: {token}\n"
            "tunnels:\n"
            "  - name: web\n"
            "    type: https\n"
            '    domains: "App.example.test, *.dev.example.test"\n'
            f"    local: 127.0.0.1:{ng.ports[0]}\n"
            "    proxy_protocol: v2\n")
        cli = burrow_client(srv, "-c", str(ccfg), token=None)
        tunnel = "web"
    else:
        srv, hport = https_server(burrow_server)
        cli = burrow_client(srv, "--proxy-protocol", "v1",
                            "-R", f"https:app.example.test,*.dev.example.test:127.0.0.1:{ng.ports[0]}")
        tunnel = "r1"
    cli.wait_log(serving_re("app.example.test,*.dev.example.test", hport, ng.ports[0], tunnel))
    for site, name in ((app, "app.example.test"), (dev, "a.dev.example.test"), (app, "app.example.test")):
        rc, out, err = curl_name(name, hport, ca.crt, "--interface", "127.0.0.2",
                                 "-w", "\n%{local_ip} %{local_port}")
        assert rc == 0, err
        body, _, tail = out.rpartition("\n")
        assert body == site.marker + "\n", out
        ip, sport = tail.split()
        assert ip == "127.0.0.2"
        ng.proc.wait_log(r'^127\.0\.0\.1 "GET / HTTP/1\.1" 200 server=%s sni=%s proto=HTTP/1\.1 '
                         r'pp=127\.0\.0\.2:%s ppserver=127\.0\.0\.1:%d$'
                         % (q(site.names), q(name), sport, hport))
    assert cli.find(r"PROXY header|does not say") is None, cli.text()


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_proxy_header_then_the_clienthello(burrow_server, burrow_client, version):
    """What the service gets, byte for byte (a listener in the test): the
    PROXY header (v1 text or v2 binary: TCP over IPv4, the visitor
    127.0.0.2:its port, the HTTPS port 127.0.0.1:PORT), then exactly the
    ClientHello the visitor sent, then the visitor's next bytes; the
    service's answer reaches the visitor."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(4)
    try:
        srv, hport = https_server(burrow_server)
        cli = burrow_client(srv, "--proxy-protocol", version,
                            "-R", f"https:raw.example.test:127.0.0.1:{lst.getsockname()[1]}")
        cli.wait_log(serving_re("raw.example.test", hport, lst.getsockname()[1]))
        hello = client_hello("raw.example.test")
        vis = socket.socket()
        vis.bind(("127.0.0.2", 0))
        vis.settimeout(LOG_TIMEOUT)
        vis.connect(("127.0.0.1", hport))
        sport = vis.getsockname()[1]
        vis.sendall(hello)
        lst.settimeout(LOG_TIMEOUT)
        conn, _ = lst.accept()
        with vis, conn:
            if version == "v1":
                want = f"PROXY TCP4 127.0.0.2 127.0.0.1 {sport} {hport}\r\n".encode()
                assert recv_exact(conn, len(want)) == want
            else:
                head = recv_exact(conn, 16)
                assert head[:12] == V2_SIG and head[12] == 0x21 and head[13] == 0x11, head
                n = struct.unpack("!H", head[14:16])[0]
                assert n >= 12, head
                body = recv_exact(conn, n)
                assert body[:12] == (socket.inet_aton("127.0.0.2") + socket.inet_aton("127.0.0.1")
                                     + struct.pack("!HH", sport, hport)), body
            assert recv_exact(conn, len(hello)) == hello
            vis.sendall(b"after the hello")
            assert recv_exact(conn, 15) == b"after the hello"
            answer = b"\x16\x03\x03 the service answers"
            conn.sendall(answer)
            assert recv_exact(vis, len(answer)) == answer
    finally:
        lst.close()


# --------------------------------------------------------------------------
# (6) A name another client holds; it takes the name over when that one goes
# --------------------------------------------------------------------------

def test_name_conflict_and_takeover(burrow_server, burrow_client, nginx, ca):
    """Client 1 serves app.example.test (nginx block 1); client 2 asks for
    app.example.test and www.example.test (nginx block 2): refused as a
    whole, "app.example.test is served by another client", and retried
    (www stays unknown: a refused list takes none of its names); curl still
    reaches client 1. Client 1 stops (SIGTERM, exit 0): client 2 gets the
    names at its next try and curl then reaches client 2's service for
    both."""
    c1 = ca.issue("one", "app.example.test")
    c2 = ca.issue("two", "app.example.test", "www.example.test")
    one = Site("app.example.test", c1, 0)
    two = Site("app.example.test www.example.test", c2, 1)
    ng = nginx([one, two], nports=2)
    srv, hport = https_server(burrow_server)
    cl1 = burrow_client(srv, "-R", f"https:app.example.test:127.0.0.1:{ng.ports[0]}")
    cl1.wait_log(serving_re("app.example.test", hport, ng.ports[0]))
    cl2 = burrow_client(srv, "-R", f"https:www.example.test,app.example.test:127.0.0.1:{ng.ports[1]}")
    cl2.wait_log(r"tunnel r1: registration failed: app\.example\.test is served by another client")
    mark2 = cl2.mark()
    cl2.wait_log(r"tunnel r1: registration failed: app\.example\.test is served by another client",
                 since=mark2, timeout=15)  # retried
    get_ok("app.example.test", hport, ca.crt, one)
    refused_unknown("www.example.test", hport, ca.crt)
    assert cl2.alive()

    mark2 = cl2.mark()
    assert cl1.stop() == 0
    cl2.wait_log(serving_re("www.example.test,app.example.test", hport, ng.ports[1]), since=mark2,
                 timeout=15)
    get_ok("app.example.test", hport, ca.crt, two)
    get_ok("www.example.test", hport, ca.crt, two)


def test_same_name_twice_in_one_client(burrow_server, burrow_client, nginx, ca, echo):
    """One client with two https tunnels naming the same host: the first
    (registered first, on the same control connection) serves it, the second
    is refused ("another tunnel of this client"); the first keeps working."""
    app = Site("app.example.test", ca.issue("app", "app.example.test"))
    ng = nginx([app])
    srv, hport = https_server(burrow_server)
    cli = burrow_client(srv, "-R", f"https:app.example.test:127.0.0.1:{ng.ports[0]}",
                        "-R", f"https:app.example.test:127.0.0.1:{echo.port}")
    cli.wait_log(serving_re("app.example.test", hport, ng.ports[0], "r1"))
    cli.wait_log(r"tunnel r2: registration failed: app\.example\.test is served by "
                 r"another tunnel of this client$")
    get_ok("app.example.test", hport, ca.crt, app)
    assert cli.find(r"tunnel r2: serving") is None


# --------------------------------------------------------------------------
# (7) A server without --https
# --------------------------------------------------------------------------

def test_server_without_https_port(burrow_server, burrow_client, echo):
    """A server without --https refuses an https tunnel with the reason; the
    client stays up with its other tunnels (a tcp tunnel beside it echoes)."""
    srv = burrow_server()
    cli = burrow_client(srv, "-R", "https:app.example.test:127.0.0.1:1",
                        "-R", f"0:127.0.0.1:{echo.port}")
    cli.wait_log(r"tunnel r1: registration failed: this server has no HTTPS port \(--https\)$")
    port = cli.tunnel_port("r2")
    with socket.create_connection(("127.0.0.1", port), timeout=LOG_TIMEOUT) as s:
        s.sendall(b"still here")
        s.shutdown(socket.SHUT_WR)
        assert read_closed(s) == b"still here"
    assert srv.find(r"https listening") is None
    assert cli.alive()


# --------------------------------------------------------------------------
# (8) Connections that never finish their ClientHello
# --------------------------------------------------------------------------

def test_slow_loris_clienthellos(burrow_server, burrow_client, nginx, ca):
    """20 connections send half a real ClientHello for the served name and
    stall: a good curl still gets its page (they are still open then); one
    more that sends the second half later is routed (nginx's ServerHello
    comes back); each stalled one is closed by the server after its 10 s
    (not before 9 s), and the server logs "no ClientHello within 10 s";
    curl works after."""
    app = Site("app.example.test", ca.issue("app", "app.example.test"))
    ng = nginx([app])
    srv, hport = https_server(burrow_server)
    cli = burrow_client(srv, "-R", f"https:app.example.test:127.0.0.1:{ng.ports[0]}")
    cli.wait_log(serving_re("app.example.test", hport, ng.ports[0]))
    hello = client_hello("app.example.test")
    mark = srv.mark()
    stalled = []
    try:
        t0 = time.monotonic()
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", hport), timeout=LOG_TIMEOUT)
            s.sendall(hello[:len(hello) // 2])
            stalled.append(s)
        get_ok("app.example.test", hport, ca.crt, app)
        assert all(still_open(s) for s in stalled), "a stalled connection closed early"
        # One more, whose second half comes later: routed to nginx, which
        # answers with its ServerHello (a TLS handshake record).
        late = socket.create_connection(("127.0.0.1", hport), timeout=LOG_TIMEOUT)
        stalled.append(late)
        late.sendall(hello[:len(hello) // 2])
        get_ok("app.example.test", hport, ca.crt, app)
        assert still_open(late)
        late.sendall(hello[len(hello) // 2:])
        assert recv_exact(late, 3) == b"\x16\x03\x03"
        stalled.pop()
        late.close()
        srv.wait_log(r"https: connection from 127\.0\.0\.1:\d+ refused: no ClientHello within 10 s",
                     since=mark, timeout=15)
        for s in stalled:
            assert read_closed(s, timeout=15) == b""
        elapsed = time.monotonic() - t0
        assert elapsed >= 9.0, f"closed after {elapsed:.1f} s, before the 10 s"
    finally:
        for s in stalled:
            s.close()
    get_ok("app.example.test", hport, ca.crt, app)


def test_pending_clienthellos_capped(burrow_server, burrow_client, nginx, ca):
    """300 connections that send nothing: past 256 waiting for a ClientHello
    each new one closes the oldest (logged, naming it); the newest stay
    open; a good curl gets its page meanwhile."""
    app = Site("app.example.test", ca.issue("app", "app.example.test"))
    ng = nginx([app])
    srv, hport = https_server(burrow_server)
    cli = burrow_client(srv, "-R", f"https:app.example.test:127.0.0.1:{ng.ports[0]}")
    cli.wait_log(serving_re("app.example.test", hport, ng.ports[0]))
    mark = srv.mark()
    idle = []
    try:
        for _ in range(300):
            idle.append(socket.create_connection(("127.0.0.1", hport), timeout=LOG_TIMEOUT))
        first = idle[0].getsockname()[1]
        srv.wait_log(r"https: 256 connections in their ClientHello: the oldest, from "
                     r"127\.0\.0\.1:%d, closed" % first, since=mark)
        assert read_closed(idle[0]) == b""
        assert read_closed(idle[300 - 257]) == b""
        get_ok("app.example.test", hport, ca.crt, app)
        # The curl's own connection closed one more; the newest 255 are open.
        assert all(still_open(s) for s in idle[-255:])
    finally:
        for s in idle:
            s.close()


# --------------------------------------------------------------------------
# (9) Usage errors
# --------------------------------------------------------------------------

@pytest.mark.parametrize("spec", [
    "https:bad_name:127.0.0.1:1",
    "https::127.0.0.1:1",
    "https:app.example.test:127.0.0.1",       # no target port
    "https:app.example.test:127.0.0.1:0",     # target port 0
    "https:app..example.test:127.0.0.1:1",    # empty label
    "https:*.:127.0.0.1:1",
    "https:*:127.0.0.1:1",
    "https:a.*.example.test:127.0.0.1:1",
    "https:app.example.test,:127.0.0.1:1",
    "https:-app.example.test:127.0.0.1:1",
    "https:" + "a" * 64 + ".example.test:127.0.0.1:1",  # a label over 63
], ids=["underscore", "empty", "no-port", "port-0", "empty-label", "star-dot", "star",
        "star-inside", "trailing-comma", "leading-dash", "long-label"])
def test_bad_https_spec_exit_2(burrow_bin, spec):
    rc, out, err = run(burrow_bin, "client", "--server", "127.0.0.1:1", "-R", spec, token="t")
    assert rc == 2, (rc, err)
    assert "-R" in err, err


@pytest.mark.parametrize("args", [
    ["--https"],
    ["--https", "127.0.0.1:99999"],
    ["--https", "127.0.0.1:x"],
], ids=["missing", "port-range", "port-nan"])
def test_bad_https_flag_exit_2(burrow_bin, args):
    rc, out, err = run(burrow_bin, "server", "--listen", "127.0.0.1:0", *args, token="t")
    assert rc == 2, (rc, err)
    assert "--https" in err, err


TUNNEL_HEAD = "server: 127.0.0.1:1\ntoken: x\ntunnels:\n  - name: web\n    type: https\n"


@pytest.mark.parametrize("role,body,line,key", [
    ("client", TUNNEL_HEAD + "    local: 127.0.0.1:80\n", 4, "tunnels[0]"),
    ("client", TUNNEL_HEAD + '    domains: "app.example.test"\n', 4, "tunnels[0]"),
    ("client", TUNNEL_HEAD + '    domains: "bad_name"\n    local: 127.0.0.1:80\n', 6,
     "tunnels[0].domains"),
    ("client", TUNNEL_HEAD + '    domains: ""\n    local: 127.0.0.1:80\n', 6, "tunnels[0].domains"),
    ("client", TUNNEL_HEAD + '    domains: "a.example.test"\n    local: 127.0.0.1:80\n'
     "    remote: 8443\n", 4, "tunnels[0]"),
    ("client", TUNNEL_HEAD + '    domains: "a.example.test"\n    local: 127.0.0.1:80\n'
     "    proxy_protocol: v3\n", 8, "tunnels[0].proxy_protocol"),
    ("client", "server: 127.0.0.1:1\ntoken: x\ntunnels:\n  - name: web\n    remote: 0\n"
     '    local: 127.0.0.1:80\n    domains: "a.example.test"\n', 4, "tunnels[0]"),
    ("server", "token: x\nhttps: 127.0.0.1:70000\n", 2, "https"),
], ids=["no-domains", "no-local", "bad-name", "empty-domains", "with-remote", "bad-pp",
        "domains-on-tcp", "server-https-range"])
def test_bad_https_yaml_exit_2(burrow_bin, tmp_path, role, body, line, key):
    cfg = tmp_path / f"{role}.yaml"
    cfg.write_text(body)
    rc, out, err = run(burrow_bin, role, "-c", str(cfg))
    assert rc == 2, (rc, err)
    assert f"{cfg}:{line}: {key}: " in err, err
