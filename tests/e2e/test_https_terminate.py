"""HTTPS termination on the shared HTTPS port, for HTTP tunnels' names.

`burrow server --https ADDR:PORT --https-certs DIR` (YAML `https_certs:`):
DIR holds NAME.crt (PEM chain) and NAME.key pairs, each certificate serving
the DNS names of its subjectAltName (exact, or a one-label wildcard such as
*.w.test); a pair that cannot be read is logged and left out, a DIR that
does not exist stops the start, SIGHUP rereads DIR (the old set stays when
none can be read; open connections keep theirs). Per ClientHello the HTTPS
port passes a name of an `-R https:` tunnel through, as before; else, for a
name an HTTP tunnel (`-R http:`, YAML `type: http`) serves and a certificate
covers (the exact name before a wildcard), it speaks TLS itself (1.2 and
up, ALPN http/1.1 only) and hands the requests to the HTTP engine of the
HTTP port: routing by Host then path per request, keep-alive, 404/502/504,
X-Forwarded-Proto: https and Forwarded ...;proto=https. An HTTP tunnel's
name that no certificate covers, like an unknown name, gets a fatal alert
unrecognized_name. A server with --https and --https-certs but no --http
takes HTTP tunnels, and the client's URL is then https://.

Real peers, all on loopback: certificates from a CA made by the test with
openssl (test_tls.Pki, via test_https_sni's `ca` fixture), which burrow
never sees and curl and Python trust alone; the HTTP services of
test_http_vhost.py (ThreadingHTTPServer threads answering JSON with what
they received, downloads) and raw listeners that answer nothing; curl
(--resolve, --cacert, -v for the certificate it verified, --http2,
uploads and downloads); Python's ssl module for handshakes whose
certificate, version, ALPN or alert the test reads, for raw HTTP/1.1 over
TLS (keep-alive, pipelining, concurrent visitors) and, through a
MemoryBIO, for a ClientHello sent in parts or followed by garbage; openssl
s_client for a TLS 1.1 ClientHello; a python3-websockets echo server and
client (wss://); nginx with its own certificate behind an `-R https:`
tunnel (test_https_sni's fixture), to show that passthrough wins.
"""

import asyncio
import json
import os
import re
import secrets
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest

from conftest import BURROW_BIN, LOG_TIMEOUT, Proc, closed_port, sha, tls_supported
# The fixtures web, raw_service, ca, nginx and (autouse) no_proxy_env are
# used by name: importing them here makes them this module's.
from test_http_vhost import (MB, Visitor, commas, concurrent_posts, get, pattern,  # noqa: F401
                             raw_service, seen, web, yaml_client)
from test_https_sni import Site, ca, client_hello, nginx, no_proxy_env, read_closed  # noqa: F401

RE_HTTP_LISTENING = r"http listening on 127\.0\.0\.1:(\d+) \(requests routed by Host and path\)$"
RE_TERM_LISTENING = (r"https listening on 127\.0\.0\.1:(\d+) \(TLS passed through by server name, "
                     r"or terminated for HTTP tunnels' names\)$")
NO_CERT = (r"refused: an HTTP tunnel serves this name, but no certificate here covers it "
           r"\(https_certs\)")


def _has_https_certs():
    """Whether this burrow binary terminates TLS (its server --help lists
    --https-certs)."""
    if not tls_supported():
        return False
    r = subprocess.run([BURROW_BIN, "server", "--help"], capture_output=True, timeout=10)
    return b"--https-certs" in r.stdout + r.stderr


pytestmark = pytest.mark.skipif(not _has_https_certs(),
                                reason="burrow binary without TLS or --https-certs")


def q(s):
    return re.escape(str(s))


# --------------------------------------------------------------------------
# Certificates: DIR for --https-certs
# --------------------------------------------------------------------------

def der_of(cert):
    """The DER of a Pki certificate's (leaf) PEM file."""
    with open(cert.crt) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def serial_of(cert):
    """The serial number as openssl prints it (hex, upper case)."""
    r = subprocess.run(["openssl", "x509", "-in", cert.crt, "-noout", "-serial"],
                       capture_output=True, timeout=30, check=True)
    return r.stdout.decode().strip().split("=", 1)[1]


class CertDir:
    """The --https-certs directory: pairs BASE.crt and BASE.key, each a
    certificate issued by the test's CA (its CN: a label unique in the test)."""

    def __init__(self, path, ca):
        self.path = path
        self.ca = ca
        path.mkdir()

    def issue(self, base, *dns):
        """A new certificate for dns (not installed)."""
        return self.ca.issue(f"{base}-{secrets.token_hex(4)}", *dns)

    def add(self, base, *dns):
        """Issue a certificate for dns and install it as BASE.crt/BASE.key."""
        cert = self.issue(base, *dns)
        self.put(base, cert)
        return cert

    def put(self, base, cert, key=None):
        """Install cert (and key, default its own) as BASE.crt/BASE.key; each
        file replaced at once (rename), so a reader never sees half of one."""
        for src, ext in ((cert.crt, "crt"), (key or cert.key, "key")):
            with open(src, "rb") as f:
                self.write(f"{base}.{ext}", f.read())

    def write(self, fname, data):
        """DIR/fname := data, at once (a rename)."""
        tmp = self.path / f".{fname}.new"
        tmp.write_bytes(data)
        os.replace(tmp, self.path / fname)


@pytest.fixture
def certs(tmp_path, ca):
    return CertDir(tmp_path / "certs", ca)


# --------------------------------------------------------------------------
# burrow: the server's ports, clients with HTTP tunnels
# --------------------------------------------------------------------------

class Edge:
    """A server with --https and --https-certs (and --http or not): its
    HTTPS port, its HTTP port (None), and the URL scheme and port its HTTP
    tunnels are announced on (http on the HTTP port when there is one)."""

    def __init__(self, srv, hport, pport):
        self.srv, self.hport, self.pport = srv, hport, pport
        self.scheme, self.url_port = ("http", pport) if pport else ("https", hport)


def edge_wait(srv, certs_dir, n, http):
    """Wait for a server's start lines: n certificates from certs_dir, the
    HTTPS port that terminates, the HTTP port if http."""
    srv.wait_log(r"https: %d certificates? for termination from %s$" % (n, q(certs_dir)))
    hport = int(srv.wait_log(RE_TERM_LISTENING).group(1))
    pport = int(srv.wait_log(RE_HTTP_LISTENING).group(1)) if http else None
    return Edge(srv, hport, pport)


def term_server(burrow_server, certs, *extra, n=None, http=True):
    """A burrow server with --https 127.0.0.1:0 --https-certs DIR (and
    --http 127.0.0.1:0 if http); n: the certificates it must have loaded
    (default: the pairs in DIR)."""
    if n is None:
        n = len(list(certs.path.glob("*.crt")))
    args = ["--https", "127.0.0.1:0", "--https-certs", str(certs.path)]
    if http:
        args = ["--http", "127.0.0.1:0"] + args
    srv = burrow_server(*args, *extra)
    return edge_wait(srv, certs.path, n, http)


def serving_re(tunnel, names, edge, target_port, paths=None):
    """The client's line for a registered http tunnel: the first name's
    URL on the port it is announced on."""
    url = f"{edge.scheme}://{names.split(',')[0]}:{edge.url_port}/"
    return (r"tunnel %s: serving %s%s on %s -> 127\.0\.0\.1:%d \(HTTP\)$"
            % (tunnel, q(names), " paths " + q(paths) if paths else "", q(url), target_port))


def http_client(burrow_client, edge, tmp_path, *tunnels):
    """A client with http tunnels from YAML (test_http_vhost.yaml_client:
    tuples (name, domains, port[, paths])), each waited for."""
    cli = yaml_client(burrow_client, edge.srv, tmp_path, *tunnels)
    for t in tunnels:
        name, domains, port = t[:3]
        paths = commas(t[3]) if len(t) > 3 else None
        cli.wait_log(serving_re(q(name), commas(domains), edge, port, paths))
    return cli


# --------------------------------------------------------------------------
# Visitors over TLS
# --------------------------------------------------------------------------

def curls(name, port, cafile, path="/", *args, timeout=LOG_TIMEOUT):
    """curl https://NAME:PORT/path, NAME resolved to 127.0.0.1, verified
    against cafile only: (rc, status, HTTP version, body bytes, stderr)."""
    r = subprocess.run(["curl", "-sS", "--max-time", str(timeout), "--resolve",
                        f"{name}:{port}:127.0.0.1", "--cacert", cafile,
                        "-w", "\n%{http_code} %{http_version}", *args, f"https://{name}:{port}{path}"],
                       capture_output=True, timeout=timeout + 5)
    body, _, tail = r.stdout.rpartition(b"\n")
    code, _, version = tail.decode().partition(" ")
    return r.returncode, int(code or 0), version, body, r.stderr.decode("latin-1")


def curls_json(name, port, cafile, path="/", *args):
    """A 200 with a service's JSON through the HTTPS port."""
    rc, status, version, body, err = curls(name, port, cafile, path, *args)
    assert rc == 0 and status == 200, (name, path, rc, status, body[:300], err)
    return json.loads(body)


def tls_context(cafile=None, alpn=None, maxv=None):
    """A client context that trusts cafile only (None: verifies nothing)."""
    if cafile is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context(cafile=cafile)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if maxv:
        ctx.maximum_version = maxv
    return ctx


class Peer:
    """What a TLS handshake with the HTTPS port got."""

    def __init__(self, s):
        self.der = s.getpeercert(binary_form=True)
        self.cert = s.getpeercert()   # {} unless verified
        self.version = s.version()
        self.alpn = s.selected_alpn_protocol()

    def cn(self):
        return dict(x[0] for x in self.cert.get("subject", ())).get("commonName")


def handshake(hport, name, cafile=None, alpn=None, maxv=None):
    """A TLS handshake with the HTTPS port for name (SNI), verified for name
    against cafile: a Peer (ssl.SSLError if refused)."""
    ctx = tls_context(cafile, alpn, maxv)
    with socket.create_connection(("127.0.0.1", hport), timeout=LOG_TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as s:
            return Peer(s)


def assert_serves(hport, name, ca, cert):
    """The HTTPS port terminates name with cert (verified against the CA)."""
    got = handshake(hport, name, ca.crt)
    assert got.der == der_of(cert), f"{name}: served CN={got.cn()}, want CN={cert.name}"
    assert got.cert["serialNumber"] == serial_of(cert), (name, got.cert)
    return got


def refused(srv, hport, name, why=NO_CERT):
    """A ClientHello for name gets a fatal alert unrecognized_name (Python's
    ssl: SSLError TLSV1_UNRECOGNIZED_NAME), and the server logs why, naming
    the visitor's port and the name."""
    mark = srv.mark()
    raw = socket.socket()
    raw.settimeout(LOG_TIMEOUT)
    raw.connect(("127.0.0.1", hport))
    sport = raw.getsockname()[1]
    with raw, pytest.raises(ssl.SSLError) as e:
        tls_context().wrap_socket(raw, server_hostname=name)
    assert e.value.reason == "TLSV1_UNRECOGNIZED_NAME", (name, e.value)
    srv.wait_log(r"https: connection from 127\.0\.0\.1:%d for '%s' %s" % (sport, q(name), why),
                 since=mark)


class TlsVisitor(Visitor):
    """test_http_vhost.Visitor over TLS: SNI name, the certificate verified
    for it against cafile."""

    def __init__(self, port, name, cafile, source="127.0.0.1"):
        raw = socket.socket()
        raw.bind((source, 0))
        raw.settimeout(LOG_TIMEOUT)
        raw.connect(("127.0.0.1", port))
        self.sport = raw.getsockname()[1]
        self.s = tls_context(cafile).wrap_socket(raw, server_hostname=name)
        self.peer = Peer(self.s)
        self.buf = bytearray()

    def read_to_eof(self, timeout=LOG_TIMEOUT):
        try:
            return super().read_to_eof(timeout)
        except ssl.SSLError:
            out = bytes(self.buf)
            self.buf.clear()
            return out

    def still_open(self):
        """Nothing (no byte, no EOF) within 0.2 s."""
        if self.buf or self.s.pending():
            return False
        r, _, _ = select.select([self.s], [], [], 0.2)
        return not r


# --------------------------------------------------------------------------
# (1) A request through termination
# --------------------------------------------------------------------------

def test_terminated_request_reaches_service(burrow_server, burrow_client, web, certs, ca, tmp_path):
    """DIR has one certificate for app.test; a server with --http and
    --https (it logs "1 certificate" and that the HTTPS port terminates), a
    client with -R http:app.test (its URL on the HTTP port: http://). curl
    -v --cacert CA https://app.test:PORT/x: 200 from the service, which sees
    the path, Host, X-Forwarded-Proto: https, X-Forwarded-For and Forwarded
    ...;proto=https; the certificate curl verified is ours (its subject);
    Python's ssl gets the same certificate (DER and serial). A visitor over
    TLS that claims X-Forwarded-Proto: http gets it replaced. The same
    tunnel on the HTTP port: proto http."""
    a = web("A")
    cert = certs.add("app", "app.test")
    edge = term_server(burrow_server, certs)
    assert edge.srv.find(r"https: 1 certificate for termination from %s$" % q(certs.path))
    cli = burrow_client(edge.srv, "-R", f"http:app.test:127.0.0.1:{a.port}")
    cli.wait_log(serving_re(r"\S+", "app.test", edge, a.port))
    hport = edge.hport

    rc, status, version, body, err = curls("app.test", hport, ca.crt, "/x?y=1", "-v")
    assert rc == 0 and status == 200, (rc, status, body[:300], err)
    assert version == "1.1", version
    info = json.loads(body)
    assert info["service"] == "A" and info["path"] == "/x?y=1" and info["method"] == "GET", info
    assert seen(info, "Host") == [f"app.test:{hport}"], info
    assert seen(info, "X-Forwarded-Proto") == ["https"], info
    assert seen(info, "X-Forwarded-For") == ["127.0.0.1"], info
    assert seen(info, "X-Forwarded-Host") == [f"app.test:{hport}"], info
    assert seen(info, "Forwarded") == [f'for=127.0.0.1;host="app.test:{hport}";proto=https'], info
    assert re.search(r"^\*\s+subject: CN=%s$" % q(cert.name), err, re.M), err
    assert "SSL certificate verify ok" in err, err

    got = assert_serves(hport, "app.test", ca, cert)
    assert got.cn() == cert.name

    v = TlsVisitor(hport, "app.test", ca.crt, source="127.0.0.2")
    info = get(v, "app.test", "/claims", [("X-Forwarded-Proto", "http"),
                                          ("Forwarded", "for=10.9.9.9;proto=http")])
    v.close()
    assert seen(info, "X-Forwarded-Proto") == ["https"], info
    assert seen(info, "X-Forwarded-For") == ["127.0.0.2"], info
    assert seen(info, "Forwarded") == ['for=127.0.0.2;host="app.test";proto=https'], info

    # The same tunnel on the HTTP port.
    r = subprocess.run(["curl", "-sS", "--max-time", str(LOG_TIMEOUT), "--resolve",
                        f"app.test:{edge.pport}:127.0.0.1", f"http://app.test:{edge.pport}/plain"],
                       capture_output=True, timeout=LOG_TIMEOUT + 5)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["path"] == "/plain" and seen(info, "X-Forwarded-Proto") == ["http"], info
    assert edge.srv.find(r"https: connection .* refused") is None, edge.srv.text()


def test_tls_versions_and_alpn(burrow_server, burrow_client, web, certs, ca):
    """The terminated TLS: 1.3 by default and 1.2 when the visitor offers no
    more (both answer a request); a TLS 1.1 ClientHello (openssl s_client
    -tls1_1 at security level 0, so that it is sent) gets a protocol_version
    alert; ALPN: h2 + http/1.1 selects http/1.1, h2 alone selects nothing
    (and HTTP/1.1 still works); curl --http2 ends up on HTTP/1.1."""
    a = web("A")
    certs.add("app", "app.test")
    edge = term_server(burrow_server, certs, http=False)
    cli = burrow_client(edge.srv, "-R", f"http:app.test:127.0.0.1:{a.port}")
    cli.wait_log(serving_re(r"\S+", "app.test", edge, a.port))
    hport = edge.hport

    assert handshake(hport, "app.test", ca.crt).version == "TLSv1.3"
    assert handshake(hport, "app.test", ca.crt, maxv=ssl.TLSVersion.TLSv1_2).version == "TLSv1.2"
    ctx = tls_context(ca.crt, maxv=ssl.TLSVersion.TLSv1_2)
    with socket.create_connection(("127.0.0.1", hport), timeout=LOG_TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname="app.test") as s:
            s.sendall(b"GET /tls12 HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
            got = read_closed(s)
    assert got.startswith(b"HTTP/1.1 200 ") and b'"path": "/tls12"' in got, got[:300]

    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{hport}", "-servername",
                        "app.test", "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"],
                       input=b"", capture_output=True, timeout=LOG_TIMEOUT + 5)
    out = (r.stdout + r.stderr).decode("latin-1")
    assert r.returncode != 0, out
    assert re.search(r"alert protocol version|unsupported protocol|wrong version number", out), out
    assert "no protocols available" not in out, "the client did not send TLS 1.1: " + out

    assert handshake(hport, "app.test", ca.crt, alpn=["h2", "http/1.1"]).alpn == "http/1.1"
    assert handshake(hport, "app.test", ca.crt, alpn=["http/1.1"]).alpn == "http/1.1"
    ctx = tls_context(ca.crt, alpn=["h2"])
    with socket.create_connection(("127.0.0.1", hport), timeout=LOG_TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname="app.test") as s:
            assert s.selected_alpn_protocol() is None
            s.sendall(b"GET /h2-only HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
            got = read_closed(s)
    assert got.startswith(b"HTTP/1.1 200 ") and b'"path": "/h2-only"' in got, got[:300]

    rc, status, version, body, err = curls("app.test", hport, ca.crt, "/h2", "--http2", "-v")
    assert rc == 0 and status == 200 and version == "1.1", (rc, status, version, err)
    assert json.loads(body)["version"] == "HTTP/1.1"
    assert "ALPN: server accepted http/1.1" in err or "ALPN, server accepted to use http/1.1" in err, err


# --------------------------------------------------------------------------
# (2) Which certificate serves a name
# --------------------------------------------------------------------------

def test_names_on_one_certificate_and_wildcard(burrow_server, burrow_client, web, certs, ca):
    """DIR: "multi" (app.test and www.test) and "wild" (*.w.test). One
    tunnel serves app.test, www.test, w.test and *.w.test: app.test and
    www.test are terminated with multi, a.w.test with wild; b.a.w.test (two
    labels in front: the tunnel's wildcard takes it, the certificate's does
    not) and w.test itself (no label in front) get the alert and the "no
    certificate here covers it" line; the other names still work after."""
    a = web("A")
    multi = certs.add("multi", "app.test", "www.test")
    wild = certs.add("wild", "*.w.test")
    edge = term_server(burrow_server, certs, n=2)
    cli = burrow_client(edge.srv, "-R", f"http:app.test,www.test,w.test,*.w.test:127.0.0.1:{a.port}")
    cli.wait_log(serving_re(r"\S+", "app.test,www.test,w.test,*.w.test", edge, a.port))
    hport = edge.hport
    for name, cert in (("app.test", multi), ("www.test", multi), ("a.w.test", wild),
                       ("x-1.w.test", wild)):
        assert_serves(hport, name, ca, cert)
        info = curls_json(name, hport, ca.crt, f"/{name}")
        assert info["service"] == "A" and seen(info, "Host") == [f"{name}:{hport}"], info
    for name in ("b.a.w.test", "w.test"):
        refused(edge.srv, hport, name)
        rc, status, version, body, err = curls(name, hport, ca.crt)
        assert rc == 35 and "unrecognized name" in err, (name, rc, err)
    assert curls_json("www.test", hport, ca.crt)["service"] == "A"


@pytest.mark.parametrize("order", ["exact-first", "wildcard-first"])
def test_exact_certificate_before_wildcard(burrow_server, burrow_client, web, certs, ca, order):
    """DIR: "exact" for a.w.test and "star" for *.w.test (written in either
    order): a.w.test is terminated with exact, c.w.test with star."""
    a = web("A")
    pairs = [("exact", "a.w.test"), ("star", "*.w.test")]
    if order == "wildcard-first":
        pairs.reverse()
    made = {base: certs.add(base, dns) for base, dns in pairs}
    edge = term_server(burrow_server, certs, n=2)
    cli = burrow_client(edge.srv, "-R", f"http:*.w.test:127.0.0.1:{a.port}")
    cli.wait_log(serving_re(r"\S+", "*.w.test", edge, a.port))
    for _ in range(2):
        assert_serves(edge.hport, "a.w.test", ca, made["exact"])
        assert_serves(edge.hport, "c.w.test", ca, made["star"])
    assert curls_json("a.w.test", edge.hport, ca.crt)["service"] == "A"
    assert curls_json("c.w.test", edge.hport, ca.crt)["service"] == "A"


# --------------------------------------------------------------------------
# (3) The HTTP engine behind TLS: keep-alive, pipelining, bodies, errors
# --------------------------------------------------------------------------

def test_keepalive_two_tunnels_one_tls_connection(burrow_server, burrow_client, web, certs, ca,
                                                   tmp_path):
    """One certificate for app.test and b.test; tunnels "root" (app.test),
    "api" (app.test, paths /api) and "other" (b.test). One TLS connection
    (SNI app.test): requests alternating between app.test/, app.test/api/...
    and Host b.test each reach their service; then six pipelined in one
    write come back in order; the connection stays open."""
    root, api, other = web("root"), web("api"), web("other")
    certs.add("shared", "app.test", "b.test")
    edge = term_server(burrow_server, certs)
    http_client(burrow_client, edge, tmp_path, ("root", "app.test", root.port),
                ("api", "app.test", api.port, "/api"), ("other", "b.test", other.port))
    v = TlsVisitor(edge.hport, "app.test", ca.crt)
    for i in range(3):
        for host, path, label in (("app.test", f"/page/{i}", "root"), ("app.test", f"/api/{i}", "api"),
                                  ("b.test", f"/b/{i}", "other"), ("app.test", "/apix", "root")):
            info = get(v, host, path)
            assert info["service"] == label and info["path"] == path, (host, path, info)
            assert seen(info, "X-Forwarded-Proto") == ["https"], info
    reqs = [("GET", "app.test", "/p1", None), ("POST", "app.test", "/api/p2", b"pipelined body"),
            ("HEAD", "b.test", "/p3", None), ("GET", "b.test", "/p4", None),
            ("GET", "app.test", "/api/p5", None), ("GET", "app.test", "/p6", None)]
    v.send(b"".join(Visitor.build(m, h, p, body=b) for m, h, p, b in reqs))
    for (method, host, path, body), label in zip(reqs, ["root", "api", "other", "other", "api",
                                                        "root"]):
        r = v.response(method)
        assert r.status == 200 and r.header("X-Service") == label, (path, r)
        if method == "HEAD":
            assert r.body == b""
            continue
        info = r.json()
        assert info["path"] == path and info["method"] == method, info
        if body:
            assert info["body_len"] == len(body) and info["body_sha"] == sha(body)
    assert v.still_open()
    v.close()
    assert len(root.records) == 8 and len(api.records) == 5 and len(other.records) == 5


def test_pipelined_past_the_buffer_over_tls(burrow_server, burrow_client, web, certs, ca, tmp_path):
    """A burst of pipelined requests larger than the server's 16 KiB request
    buffer, in one write, behind a first request whose response is slow
    (/slow-body: its body 1.5 s late): GET /slow-body then 12 GETs of about
    1.6 KB each (an X-Pad header). On the HTTP port (the control) and then
    over TLS, all 13 responses come back in order, and the connection
    stays open. Over TLS the bytes the server has not taken yet may wait
    decrypted inside OpenSSL rather than in the socket, where no socket
    event will announce them."""
    a = web("A")
    certs.add("app", "app.test")
    edge = term_server(burrow_server, certs)
    http_client(burrow_client, edge, tmp_path, ("web", "app.test", a.port))
    burst = Visitor.build("GET", "app.test", "/slow-body") + b"".join(
        Visitor.build("GET", "app.test", f"/p{i}", [("X-Pad", "x" * 1500)]) for i in range(12))
    assert len(burst) > 16384 + 2000
    for v in (Visitor(edge.pport), TlsVisitor(edge.hport, "app.test", ca.crt)):
        v.send(burst)
        r = v.response()
        assert r.status == 200 and r.body == b"the body came late\n", r
        for i in range(12):
            what = f"{type(v).__name__}: response {i + 2} of 13 (GET /p{i})"
            try:
                r = v.response()
            except (TimeoutError, socket.timeout):
                raise AssertionError(f"{what} never came") from None
            assert r.status != 400 or r.body != b"Request head too slow.\n", \
                f"{what}: 400 'Request head too slow': the rest of its head never reached the server"
            assert r.status == 200 and r.json()["path"] == f"/p{i}", (what, r)
        assert v.still_open()
        v.close()


def test_large_download_and_upload(burrow_server, burrow_client, web, certs, ca, tmp_path):
    """Through termination: curl downloads 50 MB (SHA-256 of what it
    wrote) and uploads 20 MB (POST, Expect: 100-continue; the service's
    length and SHA-256); then a 1 MB response and a request after it on one
    keep-alive TLS connection."""
    a = web("A")
    certs.add("app", "app.test")
    edge = term_server(burrow_server, certs)
    http_client(burrow_client, edge, tmp_path, ("web", "app.test", a.port))
    size = 50 * MB
    out = tmp_path / "download.bin"
    rc, status, version, body, err = curls("app.test", edge.hport, ca.crt, f"/download/{size}",
                                           "-o", str(out), timeout=120)
    assert rc == 0 and status == 200, (rc, status, err)
    got = out.read_bytes()
    assert len(got) == size and sha(got) == sha(pattern(size)), len(got)
    del got

    data = os.urandom(20 * MB)
    f = tmp_path / "upload.bin"
    f.write_bytes(data)
    rc, status, version, body, err = curls("app.test", edge.hport, ca.crt, "/upload", "--data-binary",
                                           f"@{f}", "-H", "Content-Type: application/octet-stream",
                                           timeout=120)
    assert rc == 0 and status == 200, (rc, status, body[:300], err)
    info = json.loads(body)
    assert info["method"] == "POST" and info["body_len"] == len(data), info["body_len"]
    assert info["body_sha"] == sha(data)
    assert seen(info, "Expect") == ["100-continue"], info

    v = TlsVisitor(edge.hport, "app.test", ca.crt)
    v.request("GET", "app.test", f"/download/{MB}")
    r = v.response()
    assert r.status == 200 and len(r.body) == MB and r.body == pattern(MB), len(r.body)
    assert get(v, "app.test", "/next")["path"] == "/next"
    v.close()


def test_concurrent_tls_visitors(burrow_server, burrow_client, web, certs, ca, tmp_path):
    """16 TLS visitors at once (SNI a.test or b.test, one certificate for
    both), each on one keep-alive connection: 6 POSTs alternating between
    a.test and b.test with bodies of random sizes up to 256 KB, byte-exact
    at the service."""
    a, b = web("A"), web("B")
    certs.add("ab", "a.test", "b.test")
    edge = term_server(burrow_server, certs)
    http_client(burrow_client, edge, tmp_path, ("a", "a.test", a.port), ("b", "b.test", b.port))
    concurrent_posts(lambda n: TlsVisitor(edge.hport, ("a.test", "b.test")[n % 2], ca.crt), 16, a, b)


def test_errors_through_termination(burrow_server, burrow_client, web, raw_service, certs, ca,
                                    tmp_path):
    """--response-timeout 1s; one certificate for app.test, api.test,
    dead.test and slow.test. On a TLS connection whose first request got
    200, a Host nobody serves gets 404 and the end; a path no tunnel of
    api.test takes: 404; a service whose port is closed: 502; a service
    that never answers: 504 after about 1 s; each logged by the server
    with the visitor's port."""
    a, api, silent = web("A"), web("api"), raw_service("silent")
    dead = closed_port()
    certs.add("all", "app.test", "api.test", "dead.test", "slow.test")
    edge = term_server(burrow_server, certs, "--response-timeout", "1s")
    srv = edge.srv
    http_client(burrow_client, edge, tmp_path, ("web", "app.test", a.port),
                ("api", "api.test", api.port, "/api"), ("dead", "dead.test", dead),
                ("slow", "slow.test", silent.port))
    mark = srv.mark()
    v = TlsVisitor(edge.hport, "app.test", ca.crt)
    assert get(v, "app.test", "/first")["service"] == "A"
    v.request("GET", "nobody.test", "/x")
    r = v.response()
    assert r.status == 404 and r.body == b"No tunnel serves nobody.test.\n", r
    assert v.read_to_eof() == b""
    v.close()
    srv.wait_log(r"http: 127\.0\.0\.1:%d: nobody\.test/x: no tunnel serves this host \(404\)"
                 % v.sport, since=mark)

    rc, status, version, body, err = curls("api.test", edge.hport, ca.crt, "/other")
    assert status == 404 and body == b"No tunnel serves this path on api.test.\n", (status, body)
    assert curls_json("api.test", edge.hport, ca.crt, "/api/1")["service"] == "api"

    v = TlsVisitor(edge.hport, "dead.test", ca.crt)
    v.request("GET", "dead.test", "/d")
    r = v.response()
    assert r.status == 502, r
    assert r.body == b"The service of dead.test closed the connection without a response.\n", r
    v.close()
    srv.wait_log(r"http: 127\.0\.0\.1:%d: dead\.test: the service closed without a response "
                 r"\(502; the client's log says why\)" % v.sport, since=mark)

    v = TlsVisitor(edge.hport, "slow.test", ca.crt)
    t0 = time.monotonic()
    v.request("GET", "slow.test", "/wait")
    r = v.response()
    elapsed = time.monotonic() - t0
    assert r.status == 504 and r.body == b"The service of slow.test did not answer in time.\n", r
    assert 0.9 <= elapsed < LOG_TIMEOUT, elapsed
    v.close()
    srv.wait_log(r"http: 127\.0\.0\.1:%d: slow\.test: no response within response_timeout \(504\)"
                 % v.sport, since=mark)
    assert curls_json("app.test", edge.hport, ca.crt)["service"] == "A"


# --------------------------------------------------------------------------
# (4) WebSocket over wss://
# --------------------------------------------------------------------------

# A python3-websockets echo server (the asyncio API of websockets 10) that
# logs the head it was upgraded with (test_http_vhost.WS_ECHO, plus the
# X-Forwarded-Proto header).
WSS_ECHO = r'''
import asyncio, signal, sys
import websockets

async def echo(ws):
    h = ws.request_headers
    print("ws: path=%s host=%s upgrade=%s xff=%s proto=%s" % (ws.path, h.get("Host"),
          h.get("Upgrade"), h.get("X-Forwarded-For"), h.get("X-Forwarded-Proto")),
          file=sys.stderr, flush=True)
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


def test_websocket_wss(burrow_server, burrow_client, procs, web, certs, ca, tmp_path):
    """A python3-websockets echo server behind ws.test (an http tunnel): a
    websockets client connects to wss://ws.test:PORT/chat with an ssl
    context that trusts the CA only (server_hostname ws.test); the upgrade
    passes (the service saw Upgrade: websocket, X-Forwarded-Proto: https),
    text, binary and a 1 MB message come back as sent; app.test is served
    after."""
    try:
        import websockets
    except ImportError:
        pytest.skip("python3-websockets not installed")
    a = web("A")
    wsd = Proc("ws-echo", [sys.executable, "-c", WSS_ECHO], dict(os.environ))
    procs.append(wsd)
    wport = int(wsd.wait_log(r"ws echo listening on (\d+)").group(1))
    certs.add("ws", "ws.test", "app.test")
    edge = term_server(burrow_server, certs)
    http_client(burrow_client, edge, tmp_path, ("ws", "ws.test", wport), ("web", "app.test", a.port))
    hport = edge.hport
    ctx = tls_context(ca.crt)
    big = os.urandom(MB)
    msgs = ["hello", "ünïcödé " * 100, b"\x00\x01\x02 binary"] + [f"m{i}" for i in range(20)]
    got = {}

    async def talk():
        async with websockets.connect(f"wss://ws.test:{hport}/chat", host="127.0.0.1", port=hport,
                                      ssl=ctx, server_hostname="ws.test", max_size=None,
                                      compression=None, open_timeout=LOG_TIMEOUT) as ws:
            got["small"] = []
            for m in msgs:
                await ws.send(m)
                got["small"].append(await asyncio.wait_for(ws.recv(), LOG_TIMEOUT))
            await ws.send(big)
            got["big"] = await asyncio.wait_for(ws.recv(), LOG_TIMEOUT)
            await ws.send("after")
            got["after"] = await asyncio.wait_for(ws.recv(), LOG_TIMEOUT)

    asyncio.run(talk())
    assert got["small"] == msgs
    assert len(got["big"]) == MB and got["big"] == big
    assert got["after"] == "after"
    wsd.wait_log(r"ws: path=/chat host=ws\.test:%d upgrade=websocket xff=127\.0\.0\.1 proto=https$"
                 % hport)
    assert curls_json("app.test", hport, ca.crt)["service"] == "A"


# --------------------------------------------------------------------------
# (5) Passthrough wins; names no certificate covers
# --------------------------------------------------------------------------

def test_passthrough_wins_over_a_certificate(burrow_server, burrow_client, nginx, web, certs, ca):
    """DIR has "ours" for app.test; client P registers -R https:app.test to
    nginx (its own certificate for app.test), client H -R http:app.test to
    a service. TLS for app.test is passed through: Python's ssl sees
    nginx's certificate and curl gets nginx's page; H's tunnel still serves
    app.test on the HTTP port. P stops: app.test is then terminated with
    ours and reaches H's service."""
    site = Site("app.test", ca.issue("nginx-app", "app.test"))
    ng = nginx([site])
    a = web("A")
    ours = certs.add("ours", "app.test")
    edge = term_server(burrow_server, certs)
    srv, hport = edge.srv, edge.hport
    p = burrow_client(srv, "-R", f"https:app.test:127.0.0.1:{ng.ports[0]}")
    p.wait_log(r"tunnel r1: serving app\.test on 127\.0\.0\.1:%d -> 127\.0\.0\.1:%d "
               r"\(TLS passed through by name\)$" % (hport, ng.ports[0]))
    h = burrow_client(srv, "-R", f"http:app.test:127.0.0.1:{a.port}")
    h.wait_log(serving_re(r"\S+", "app.test", edge, a.port))

    for _ in range(2):
        got = handshake(hport, "app.test", ca.crt)
        assert got.der == der_of(site.cert), f"served CN={got.cn()}, want nginx's"
        rc, status, version, body, err = curls("app.test", hport, ca.crt)
        assert rc == 0 and status == 200 and body == (site.marker + "\n").encode(), (rc, body, err)
    r = subprocess.run(["curl", "-sS", "--max-time", str(LOG_TIMEOUT), "--resolve",
                        f"app.test:{edge.pport}:127.0.0.1", f"http://app.test:{edge.pport}/h"],
                       capture_output=True, timeout=LOG_TIMEOUT + 5)
    assert json.loads(r.stdout)["service"] == "A", r
    assert a.records and all(x["path"] == "/h" for x in a.records), a.records

    mark = srv.mark()
    assert p.stop() == 0
    srv.wait_log(r"tunnel r1 closed", since=mark)
    assert_serves(hport, "app.test", ca, ours)
    info = curls_json("app.test", hport, ca.crt, "/now-terminated")
    assert info["service"] == "A" and seen(info, "X-Forwarded-Proto") == ["https"], info


def test_name_without_certificate_alert(burrow_server, burrow_client, web, certs, ca):
    """DIR covers app.test only; the tunnel serves app.test and nocert.test.
    A ClientHello for nocert.test gets the alert unrecognized_name
    (Python's ssl: TLSV1_UNRECOGNIZED_NAME; curl exit 35) and the server
    logs "an HTTP tunnel serves this name, but no certificate here covers
    it"; an unknown name gets the same alert as before ("no tunnel serves
    this name"), and so does a ClientHello without SNI; app.test is served
    throughout."""
    a = web("A")
    certs.add("app", "app.test")
    edge = term_server(burrow_server, certs)
    srv, hport = edge.srv, edge.hport
    cli = burrow_client(srv, "-R", f"http:app.test,nocert.test:127.0.0.1:{a.port}")
    cli.wait_log(serving_re(r"\S+", "app.test,nocert.test", edge, a.port))
    refused(srv, hport, "nocert.test")
    rc, status, version, body, err = curls("nocert.test", hport, ca.crt)
    assert rc == 35 and "unrecognized name" in err, (rc, err)
    assert curls_json("app.test", hport, ca.crt)["service"] == "A"
    refused(srv, hport, "nobody.test", r"refused: no tunnel serves this name")
    # No SNI at all (an IP address: Python's ssl sends no server name).
    mark = srv.mark()
    with socket.create_connection(("127.0.0.1", hport), timeout=LOG_TIMEOUT) as raw:
        with pytest.raises(ssl.SSLError) as e:
            tls_context().wrap_socket(raw, server_hostname="127.0.0.1")
    assert e.value.reason == "TLSV1_UNRECOGNIZED_NAME", e.value
    srv.wait_log(r"https: connection from 127\.0\.0\.1:\d+ refused: no server name \(SNI\)",
                 since=mark)
    assert curls_json("app.test", hport, ca.crt)["service"] == "A"
    assert a.records and all(seen(x, "Host") == [f"app.test:{hport}"] for x in a.records)


# --------------------------------------------------------------------------
# (6) SIGHUP, broken pairs, a missing DIR
# --------------------------------------------------------------------------

def test_sighup_reloads_certificates(burrow_server, burrow_client, web, certs, ca, tmp_path):
    """DIR: app.crt v1 for app.test. A TLS connection opened now (v1) keeps
    working across the reloads. app.crt/app.key replaced by v2 (another key
    and serial) and new.crt added for new.test (which the tunnel serves but
    nothing covered: alert before); SIGHUP: "2 certificates ... reloaded";
    a new connection gets v2 and new.test is terminated; the old connection
    still answers (its certificate v1). Then app.crt made unreadable
    (garbage) and new.crt removed: SIGHUP logs the broken pair and "no
    certificate could be read: the old ones stay"; v2 and new.test are
    still served."""
    a = web("A")
    v1 = certs.add("app", "app.test")
    edge = term_server(burrow_server, certs)
    srv, hport = edge.srv, edge.hport
    http_client(burrow_client, edge, tmp_path, ("web", "app.test, new.test", a.port))
    assert_serves(hport, "app.test", ca, v1)
    refused(srv, hport, "new.test")
    old = TlsVisitor(hport, "app.test", ca.crt)
    assert old.peer.der == der_of(v1)
    assert get(old, "app.test", "/before")["path"] == "/before"

    v2 = certs.issue("app", "app.test")
    assert serial_of(v2) != serial_of(v1)
    certs.put("app", v2)
    new = certs.add("new", "new.test")
    mark = srv.mark()
    srv.kill(signal.SIGHUP)
    srv.wait_log(r"https: 2 certificates for termination reloaded from %s$" % q(certs.path),
                 since=mark)
    assert_serves(hport, "app.test", ca, v2)
    assert_serves(hport, "new.test", ca, new)
    assert curls_json("new.test", hport, ca.crt)["service"] == "A"
    assert get(old, "app.test", "/after-reload")["path"] == "/after-reload"
    assert old.peer.der == der_of(v1)

    certs.write("app.crt", b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    os.unlink(certs.path / "new.crt")
    os.unlink(certs.path / "new.key")
    mark = srv.mark()
    srv.kill(signal.SIGHUP)
    srv.wait_log(r"https_certs: %s/app\.crt: " % q(certs.path), since=mark)
    srv.wait_log(r"https_certs %s: no certificate could be read: the old ones stay$" % q(certs.path),
                 since=mark)
    assert srv.find(r"reloaded from", since=mark) is None
    assert_serves(hport, "app.test", ca, v2)
    assert_serves(hport, "new.test", ca, new)
    assert get(old, "app.test", "/after-failed-reload")["path"] == "/after-failed-reload"
    old.close()


def test_broken_pairs_left_out(burrow_server, burrow_client, web, certs, ca):
    """DIR: good.crt/key for good.test; bad.crt for bad.test with the key of
    another certificate; lone.crt without lone.key; junk.crt that is no
    certificate: each broken pair is logged (the file named) and left out,
    the server starts with "1 certificate"; good.test is terminated, the
    others get the alert."""
    a = web("A")
    good = certs.add("good", "good.test")
    bad = certs.issue("bad", "bad.test")
    other = certs.issue("other", "other.test")
    certs.put("bad", bad, key=other.key)
    lone = certs.issue("lone", "lone.test")
    with open(lone.crt, "rb") as f:
        certs.write("lone.crt", f.read())
    certs.write("junk.crt", b"this is not a certificate\n")
    with open(other.key, "rb") as f:
        certs.write("junk.key", f.read())
    edge = term_server(burrow_server, certs, n=1)
    srv, d = edge.srv, q(certs.path)
    srv.wait_log(r"https_certs: %s/bad\.key: " % d)
    srv.wait_log(r"https_certs: %s/lone\.key: " % d)
    srv.wait_log(r"https_certs: %s/junk\.crt: " % d)
    cli = burrow_client(srv, "-R", f"http:good.test,bad.test,lone.test,junk.test:127.0.0.1:{a.port}")
    cli.wait_log(serving_re(r"\S+", "good.test,bad.test,lone.test,junk.test", edge, a.port))
    assert_serves(edge.hport, "good.test", ca, good)
    for name in ("bad.test", "lone.test", "junk.test"):
        refused(srv, edge.hport, name)
    assert curls_json("good.test", edge.hport, ca.crt)["service"] == "A"


@pytest.mark.parametrize("what", ["missing", "a-file"])
def test_certs_dir_not_a_directory_fails_start(burrow_server, tmp_path, what):
    """--https-certs naming a directory that does not exist, or a file:
    the server exits non-zero with "https_certs DIR: <the error>" and never
    listens on its HTTPS port."""
    d = tmp_path / "no-such-dir"
    if what == "a-file":
        d = tmp_path / "a-file"
        d.write_text("not a directory\n")
    srv = burrow_server("--https", "127.0.0.1:0", "--https-certs", str(d), ready=False)
    rc = srv.wait_exit()
    assert rc != 0, srv.text()
    err = "No such file or directory" if what == "missing" else "Not a directory"
    assert srv.find(r"https_certs %s: %s" % (q(d), err)), srv.text()
    assert srv.find(r"https listening") is None, srv.text()


# --------------------------------------------------------------------------
# (7) A server with --https and certificates but no --http
# --------------------------------------------------------------------------

def basic_auth_hash(password):
    r = subprocess.run(["openssl", "passwd", "-6", "-salt", "burrowe2e", password],
                       capture_output=True, timeout=30, check=True)
    return r.stdout.decode().strip()


@pytest.mark.parametrize("how", ["flags", "yaml"])
def test_server_without_http_port(burrow_server, burrow_client, web, certs, ca, tmp_path, token,
                                  how):
    """--https and --https-certs without --http (flags, or YAML https: and
    https_certs:): an HTTP tunnel registers; the client logs its URL as
    https://app.test:HTTPS_PORT/ (the server the same) and curl reaches the
    service through termination. YAML: the tunnel has basic_auth: no
    credentials or a wrong password get 401 with WWW-Authenticate, the
    right ones reach the service without the Authorization header."""
    a = web("A")
    certs.add("app", "app.test")
    if how == "flags":
        edge = term_server(burrow_server, certs, http=False)
        cli = burrow_client(edge.srv, "-R", f"http:app.test:127.0.0.1:{a.port}")
        tunnel = "r1"
    else:
        scfg = tmp_path / "server.yaml"
        scfg.write_text(f"https: 127.0.0.1:0\nhttps_certs: {certs.path}\n")
        edge = edge_wait(burrow_server("-c", str(scfg)), certs.path, 1, False)
        ccfg = tmp_path / "client.yaml"
        ccfg.write_text("tunnels:\n  - name: web\n    type: http\n    domains: app.test\n"
                        f"    local: 127.0.0.1:{a.port}\n"
                        f"    basic_auth: \"alice:{basic_auth_hash('s3cret')}\"\n")
        cli = burrow_client(edge.srv, "-c", str(ccfg))
        tunnel = "web"
    assert edge.scheme == "https"
    hport = edge.hport
    cli.wait_log(r"tunnel %s: serving app\.test on https://app\.test:%d/ -> 127\.0\.0\.1:%d \(HTTP\)$"
                 % (tunnel, hport, a.port))
    edge.srv.wait_log(r"tunnel %s serving app\.test on https://app\.test:%d/ \(HTTP\)$"
                      % (tunnel, hport))
    assert edge.srv.find(r"http listening") is None
    if how == "yaml":
        for args in ([], ["-u", "alice:wrong"]):
            rc, status, version, body, err = curls("app.test", hport, ca.crt, "/", "-D", "-", *args)
            assert rc == 0 and status == 401, (args, status, body[:300], err)
            assert b'WWW-Authenticate: Basic realm="burrow"' in body, body[:300]
        assert a.records == []
        info = curls_json("app.test", hport, ca.crt, "/in", "-u", "alice:s3cret")
        assert seen(info, "Authorization") == [], info
    else:
        info = curls_json("app.test", hport, ca.crt, "/in")
    assert info["path"] == "/in" and seen(info, "X-Forwarded-Proto") == ["https"], info


def test_https_without_certs_or_http_refuses_http_tunnels(burrow_server, burrow_client, echo):
    """--https without --https-certs and without --http: an HTTP tunnel is
    refused ("this server has no HTTP port"), and the port keeps its old
    listening line; the client stays up."""
    srv = burrow_server("--https", "127.0.0.1:0")
    srv.wait_log(r"https listening on 127\.0\.0\.1:\d+ \(TLS passed through by server name\)$")
    cli = burrow_client(srv, "-R", "http:app.test:127.0.0.1:1", "-R", f"0:127.0.0.1:{echo.port}")
    cli.wait_log(r"tunnel r1: registration failed: this server has no HTTP port \(--http\)$")
    cli.tunnel_port("r2")
    assert srv.find(r"for termination") is None
    assert cli.alive()


# --------------------------------------------------------------------------
# (8) What is not a good ClientHello
# --------------------------------------------------------------------------

def drive_handshake(sock, obj, inc, out):
    """Finish the TLS handshake of obj (an SSLObject on the MemoryBIOs inc
    and out, whose ClientHello is sent already) over sock."""
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pass
        data = out.read()
        if data:
            sock.sendall(data)
        d = sock.recv(65536)
        assert d, "EOF in the handshake"
        inc.write(d)
    data = out.read()
    if data:
        sock.sendall(data)


def test_garbage_and_split_clienthellos(burrow_server, burrow_client, web, certs, ca):
    """On a port that terminates app.test: random bytes are closed; a plain
    HTTP request gets the 400 that says https://; a real ClientHello for
    app.test followed by garbage in the same write is closed (the handshake
    fails); a ClientHello then an immediate close does no harm; a
    ClientHello for app.test sent in three writes (nothing comes back
    before the last) completes the handshake with our certificate and
    answers a request; curl works throughout."""
    a = web("A")
    cert = certs.add("app", "app.test")
    edge = term_server(burrow_server, certs)
    srv, hport = edge.srv, edge.hport
    cli = burrow_client(srv, "-R", f"http:app.test:127.0.0.1:{a.port}")
    cli.wait_log(serving_re(r"\S+", "app.test", edge, a.port))

    with socket.create_connection(("127.0.0.1", hport), timeout=LOG_TIMEOUT) as s:
        s.sendall(b"\x00\xffgarbage" + os.urandom(4000))
        read_closed(s)
    with socket.create_connection(("127.0.0.1", hport), timeout=LOG_TIMEOUT) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
        got = read_closed(s)
    assert got.startswith(b"HTTP/1.1 400 ") and got.endswith(b"use https://\n"), got
    assert curls_json("app.test", hport, ca.crt)["service"] == "A"

    hello = client_hello("app.test")
    with socket.create_connection(("127.0.0.1", hport), timeout=LOG_TIMEOUT) as s:
        s.sendall(hello + b"\x17\x03\x03\x00\x10" + os.urandom(16) + os.urandom(300))
        read_closed(s)  # the handshake fails: closed
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", hport), timeout=LOG_TIMEOUT) as s:
            s.sendall(hello)
    assert curls_json("app.test", hport, ca.crt)["service"] == "A"

    # A ClientHello in three writes.
    ctx = tls_context(ca.crt)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="app.test")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = out.read()
    with socket.create_connection(("127.0.0.1", hport), timeout=LOG_TIMEOUT) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cuts = [0, 3, len(hello) // 2, len(hello)]
        for i in range(3):
            s.sendall(hello[cuts[i]:cuts[i + 1]])
            if i < 2:
                r, _, _ = select.select([s], [], [], 0.3)
                assert not r, f"the server answered or closed after part {i + 1} of the ClientHello"
        drive_handshake(s, obj, inc, out)
        assert obj.getpeercert(binary_form=True) == der_of(cert)
        obj.write(b"GET /split HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
        s.sendall(out.read())
        resp = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            inc.write(d)
            try:
                while True:
                    chunk = obj.read(65536)
                    if not chunk:
                        break
                    resp += chunk
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:
                break
    assert resp.startswith(b"HTTP/1.1 200 ") and b'"path": "/split"' in resp, resp[:300]
    assert curls_json("app.test", hport, ca.crt)["service"] == "A"


def test_stalled_handshake_closed(burrow_server, burrow_client, web, certs, ca):
    """A visitor sends a whole ClientHello for a terminated name, gets the
    server's first flight, and says nothing more: curl is served meanwhile;
    the stalled connection is closed by the server after 10 s (not before
    9 s)."""
    a = web("A")
    certs.add("app", "app.test")
    edge = term_server(burrow_server, certs)
    cli = burrow_client(edge.srv, "-R", f"http:app.test:127.0.0.1:{a.port}")
    cli.wait_log(serving_re(r"\S+", "app.test", edge, a.port))
    hello = client_hello("app.test")
    s = socket.create_connection(("127.0.0.1", edge.hport), timeout=LOG_TIMEOUT)
    try:
        t0 = time.monotonic()
        s.sendall(hello)
        first = s.recv(3)
        assert first == b"\x16\x03\x03", first  # the ServerHello's record
        assert curls_json("app.test", edge.hport, ca.crt)["service"] == "A"
        read_closed(s, timeout=10 + LOG_TIMEOUT)
        elapsed = time.monotonic() - t0
        assert 9.0 <= elapsed < 10 + LOG_TIMEOUT, elapsed
    finally:
        s.close()
    assert curls_json("app.test", edge.hport, ca.crt)["service"] == "A"
