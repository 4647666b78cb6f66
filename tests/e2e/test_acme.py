"""Certificates from an ACME server (RFC 8555), HTTP-01 answered on the HTTP port.

`burrow server --acme-directory URL` (YAML `acme_directory:`; `letsencrypt`
is Let's Encrypt's production directory) with `--http` and `--https`: when a
client registers an HTTP tunnel for an exact name (`-R http:app.test:...`)
that no certificate covers yet, the server orders one, answers the HTTP-01
challenge itself on its HTTP port (GET /.well-known/acme-challenge/TOKEN for
that name; the service never sees it), and serves the certificate on its
HTTPS port by termination. `--acme-email` (the account's contact),
`--acme-ca FILE` (the CA of the ACME server's own HTTPS), `--acme-renew-before`
(30d), `--acme-check` (12h), `--state-dir DIR`: DIR/acme/NAME.crt, NAME.key
and account.key. Logs: `acme: NAME: ordering a certificate from URL`,
`acme: NAME: http-01 challenge answered`, `acme: NAME: certificate issued,
valid until DATE`, `acme: NAME: failed: REASON (next try in ...)`,
`acme: NAME: renewing (expires ...)`. The issued line is logged once the
HTTPS port serves the new certificate: the tests connect right after it.
Wildcards (DNS-01 only) and names the server's domains policy refuses are
never ordered.

Real peers, each test's own on free loopback ports with their files in
tmp_path: pebble 2.4 (Let's Encrypt's test ACME server: a new root and
intermediate at each start, certificates valid 5 years unless the config says
otherwise) with PEBBLE_VA_NOSLEEP=1, PEBBLE_WFE_NONCEREJECT=0 (no random bad
nonces: the bad-nonce test makes its own), PEBBLE_AUTHZREUSE=0, its HTTPS API
on a certificate for 127.0.0.1 and localhost from a CA made here with openssl
(the CA burrow gets as --acme-ca), its httpPort and tlsPort set to burrow's HTTP
and HTTPS ports (picked free before pebble starts), and as its DNS server
pebble-challtestsrv, which answers every A query with 127.0.0.1 and no AAAA
(its own challenge servers off); curl with --resolve and --cacert pebble's
root (fetched from pebble's management API) and Python's ssl module to read
the certificate the HTTPS port serves; Python HTTP services (test_http_vhost's
WebService) behind the names; for the bad-nonce test, a TLS proxy in Python
between burrow and pebble that refuses the first nonce of every JWS POST as
pebble would (badNonce). The first two tests check the fixture without
burrow: pebble's directory, roots and DNS, then a whole order driven by hand
(JWS with openssl, ES256), the challenge answered by a Python http.server on
the HTTP port.
"""

import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
from http.client import HTTPSConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from conftest import LOG_TIMEOUT, Proc, closed_port, free_port, tls_supported
from test_http_vhost import web  # noqa: F401 (a fixture)
from test_tls import Pki, openssl
from test_usage import run

pytestmark = pytest.mark.skipif(not tls_supported(), reason="burrow binary without TLS (ACME needs it)")

# Issuance takes well under a second against pebble without its VA sleeps;
# generous for the ASan build on a small VM.
ISSUE_TIMEOUT = max(30.0, 3 * LOG_TIMEOUT)
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy",
              "HTTP_PROXY", "http_proxy")
CHALLENGE_PREFIX = "/.well-known/acme-challenge/"
EMAIL = "admin@example.test"

# pebble's own log lines (it writes them on stdout; the fixture sends them to stderr).
PEBBLE_ISSUED = r"Issued certificate serial ([0-9a-f]+) for order "
PEBBLE_ORDER_ADDED = r"Added order \"[^\"]+\" to the db"
PEBBLE_ACCOUNTS = r"There are now (\d+) accounts in memory"
PEBBLE_AUTHZ_VALID = r"authz \S+ set VALID by completed challenge"


def q(s):
    return re.escape(str(s))


def needs(binary):
    path = shutil.which(binary)
    if not path:
        pytest.skip(f"{binary} not installed (scripts/deps.sh installs pebble)")
    return path


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    env.update(extra)
    return env


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch):
    """curl reads https_proxy and friends: none here."""
    for v in PROXY_VARS:
        monkeypatch.delenv(v, raising=False)


# --------------------------------------------------------------------------
# Small clients: HTTPS GET/POST, DNS over UDP
# --------------------------------------------------------------------------

def https_request(url, cafile, method="GET", body=None, headers=None, timeout=LOG_TIMEOUT):
    """One HTTP/1.1 request over TLS verified against cafile: (status,
    headers as (name, value) pairs, body)."""
    u = urlsplit(url)
    ctx = ssl.create_default_context(cafile=cafile)
    c = HTTPSConnection(u.hostname, u.port, context=ctx, timeout=timeout)
    try:
        c.request(method, u.path + ("?" + u.query if u.query else ""), body=body,
                  headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, r.getheaders(), data
    finally:
        c.close()


def header(headers, name):
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return None


def dns_query(port, name, qtype, timeout=1.0):
    """The answers to one DNS query (qtype 1: A, 28: AAAA) sent over UDP to
    127.0.0.1:port: a list of addresses as text. Raises OSError (timeout,
    refused) when nobody answers."""
    qid = secrets.randbits(16)
    question = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    packet = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question + struct.pack("!HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
        s.send(packet)
        resp = s.recv(4096)
    rid, flags, qd, an = struct.unpack("!HHHH", resp[:8])
    assert rid == qid and flags & 0x8000, resp
    pos = 12

    def skip_name(pos):
        while True:
            n = resp[pos]
            if n & 0xC0 == 0xC0:
                return pos + 2
            pos += 1 + n
            if n == 0:
                return pos

    for _ in range(qd):
        pos = skip_name(pos) + 4
    out = []
    for _ in range(an):
        pos = skip_name(pos)
        rtype, _cls, _ttl, rdlen = struct.unpack("!HHIH", resp[pos:pos + 10])
        pos += 10
        rdata = resp[pos:pos + rdlen]
        pos += rdlen
        if rtype == 1:
            out.append(socket.inet_ntop(socket.AF_INET, rdata))
        elif rtype == 28:
            out.append(socket.inet_ntop(socket.AF_INET6, rdata))
    return out


# --------------------------------------------------------------------------
# pebble and pebble-challtestsrv
# --------------------------------------------------------------------------

def free_udp_tcp_port():
    """A loopback port free a moment ago for both UDP and TCP (DNS needs both)."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no port free for both UDP and TCP")


def to_stderr(argv):
    """argv run with its stdout sent to stderr (pebble and challtestsrv log
    on stdout; Proc.wait_log reads stderr). exec: the pid stays the tool's."""
    return ["sh", "-c", 'exec "$0" "$@" 1>&2'] + argv


class Pebble:
    """A running pebble, its DNS server and its files.

    dir_url: the directory (https://127.0.0.1:PORT/dir); api_ca: the CA of
    its HTTPS API (burrow's --acme-ca); root, intermediate: PEM files of the
    chain it issues from (root: curl's --cacert); http_port, tls_port: where
    it validates (burrow's --http and --https ports); dns_port: the UDP and
    TCP port of pebble-challtestsrv; proc, dns: their Procs."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def count(self, regex):
        r = re.compile(regex)
        with self.proc.cond:
            return sum(1 for l in self.proc.lines if r.search(l))

    def issued_serials(self):
        """The serials (ints) of the certificates pebble has issued, in order."""
        r = re.compile(PEBBLE_ISSUED)
        with self.proc.cond:
            return [int(m.group(1), 16) for m in map(r.search, self.proc.lines) if m]

    def stop(self):
        self.proc.stop()


def _start_dns(procs, d, n):
    """pebble-challtestsrv with only its DNS server (every name: A 127.0.0.1,
    no AAAA) on a free port; its management port is free too (it cannot be
    turned off: "" would bind :80). Ready once it answers a query."""
    binary = needs("pebble-challtestsrv")
    for _attempt in range(5):
        port, mgmt = free_udp_tcp_port(), free_port()
        proc = Proc(f"challtestsrv#{n}", to_stderr([
            binary, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
            "-dns01", f"127.0.0.1:{port}", "-http01", "", "-https01", "", "-tlsalpn01", "",
            "-management", f"127.0.0.1:{mgmt}"]), clean_env())
        procs.append(proc)
        proc.wait_log(r"Starting challenge servers")
        deadline = time.monotonic() + LOG_TIMEOUT
        while True:
            if proc.find(r"address already in use"):
                break  # a port taken meanwhile: it does not exit, try others
            try:
                if dns_query(port, "ready.test", 1, timeout=0.2) == ["127.0.0.1"]:
                    return proc, port
            except OSError:
                pass
            assert time.monotonic() < deadline, "pebble-challtestsrv never answered:\n" + proc.text()
            time.sleep(0.02)
        proc.stop()
    pytest.fail("could not start pebble-challtestsrv")


def _wait_get(proc, url, cafile):
    """GET url (verified against cafile) once it answers 200: the body.
    AssertionError if proc exits first or nothing answers in time."""
    deadline = time.monotonic() + LOG_TIMEOUT
    while True:
        try:
            status, _, body = https_request(url, cafile, timeout=2)
            assert status == 200, (url, status, body)
            return body
        except OSError as e:
            last = e
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited before {url} answered:\n" + proc.text())
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer within {LOG_TIMEOUT}s: {last!r}\n" + proc.text())
        time.sleep(0.02)


@pytest.fixture
def pebble(procs, tmp_path):
    """Factory: pebble(http_port=None, tls_port=None, validity=None,
    blocklist=(), nonce_reject=0) -> Pebble.

    http_port and tls_port: where pebble validates HTTP-01 and TLS-ALPN-01
    (default: free ports, for the burrow server to listen on); validity:
    seconds its certificates are valid (default 5 years); blocklist: names it
    refuses to issue for (rejectedIdentifier); nonce_reject: the percentage
    of good nonces it rejects as badNonce."""
    binary = needs("pebble")
    counter = [0]
    pki = Pki(tmp_path / "pebble-pki")
    api_ca = pki.ca("pebble-api-ca")
    api = pki.issue(api_ca, "pebble-api", san="IP:127.0.0.1,DNS:localhost")

    def start(http_port=None, tls_port=None, validity=None, blocklist=(), nonce_reject=0):
        counter[0] += 1
        n = counter[0]
        d = tmp_path / f"pebble{n}"
        d.mkdir()
        http_port = http_port or free_port()
        tls_port = tls_port or free_port()
        dns, dns_port = _start_dns(procs, d, n)
        env = clean_env(PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT=str(nonce_reject),
                        PEBBLE_AUTHZREUSE="0")
        for _attempt in range(5):
            port, mgmt = free_port(), free_port()
            cfg = {"listenAddress": f"127.0.0.1:{port}",
                   "managementListenAddress": f"127.0.0.1:{mgmt}",
                   "certificate": api.crt, "privateKey": api.key,
                   "httpPort": http_port, "tlsPort": tls_port,
                   "ocspResponderURL": "", "externalAccountBindingRequired": False}
            if validity is not None:
                cfg["certificateValidityPeriod"] = validity
            if blocklist:
                cfg["domainBlocklist"] = list(blocklist)
            conf = d / "pebble.json"
            conf.write_text(json.dumps({"pebble": cfg}, indent=2) + "\n")
            proc = Proc(f"pebble#{n}", to_stderr([binary, "-config", str(conf),
                                                   "-dnsserver", f"127.0.0.1:{dns_port}"]), env)
            # pebble has no SIGTERM handler (it dies of the signal): its
            # exit status says nothing.
            proc.checked = True
            procs.append(proc)
            dir_url = f"https://127.0.0.1:{port}/dir"
            try:
                proc.wait_log(r"ACME directory available at: ")
                directory = json.loads(_wait_get(proc, dir_url, api_ca.crt))
                root = _wait_get(proc, f"https://127.0.0.1:{mgmt}/roots/0", api_ca.crt)
                inter = _wait_get(proc, f"https://127.0.0.1:{mgmt}/intermediates/0", api_ca.crt)
                break
            except AssertionError:
                if proc.find(r"address already in use") is None:
                    raise
                proc.stop()  # a port taken meanwhile: try others
        else:
            pytest.fail("could not start pebble")
        (d / "root.pem").write_bytes(root)
        (d / "intermediate.pem").write_bytes(inter)
        inter_cn = openssl("x509", "-in", str(d / "intermediate.pem"), "-noout", "-subject",
                           "-nameopt", "multiline").decode()
        inter_cn = re.search(r"commonName\s*=\s*(.+)", inter_cn).group(1).strip()
        return Pebble(proc=proc, dns=dns, dir=d, port=port, mgmt_port=mgmt, dns_port=dns_port,
                      http_port=http_port, tls_port=tls_port, dir_url=dir_url,
                      directory=directory, api_ca=api_ca.crt, api_cert=api,
                      root=str(d / "root.pem"),
                      intermediate=str(d / "intermediate.pem"), intermediate_cn=inter_cn)

    return start


# --------------------------------------------------------------------------
# An ACME client by hand (the self-test only): JWS ES256 signed with openssl
# --------------------------------------------------------------------------

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def der_to_raw_ecdsa(der, n=32):
    """An ECDSA-Sig-Value (DER, as openssl dgst -sign writes it) as JWS wants
    it: r and s, n bytes each, big-endian."""
    assert der[0] == 0x30, der
    pos = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert der[pos] == 0x02, der
        ln = der[pos + 1]
        out += der[pos + 2:pos + 2 + ln].lstrip(b"\0").rjust(n, b"\0")
        pos += 2 + ln
    return out


class AcmeByHand:
    """Just enough of an ACME client to drive one order against pebble."""

    def __init__(self, peb, d):
        self.peb, self.d = peb, d
        d.mkdir()
        self.key = str(d / "account.key")
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", self.key)
        spki = openssl("pkey", "-in", self.key, "-pubout", "-outform", "DER")
        point = spki[-65:]
        assert point[0] == 4, spki
        self.jwk = {"crv": "P-256", "kty": "EC", "x": b64u(point[1:33]), "y": b64u(point[33:])}
        canon = json.dumps(self.jwk, sort_keys=True, separators=(",", ":")).encode()
        self.thumbprint = b64u(hashlib.sha256(canon).digest())
        self.dir = peb.directory
        self.kid = None
        self.nonce = None

    def _new_nonce(self):
        status, headers, _ = https_request(self.dir["newNonce"], self.peb.api_ca, "HEAD")
        assert status == 200, status
        self.nonce = header(headers, "Replay-Nonce")

    def post(self, url, payload=None, raw=False, want=(200, 201)):
        """A JWS POST (payload None: POST-as-GET): the JSON answer (raw: the
        body), and the headers."""
        if self.nonce is None:
            self._new_nonce()
        prot = {"alg": "ES256", "nonce": self.nonce, "url": url}
        if self.kid:
            prot["kid"] = self.kid
        else:
            prot["jwk"] = self.jwk
        p = b64u(json.dumps(prot).encode())
        pl = "" if payload is None else b64u(json.dumps(payload).encode())
        sig = der_to_raw_ecdsa(openssl("dgst", "-sha256", "-sign", self.key, input=f"{p}.{pl}".encode()))
        body = json.dumps({"protected": p, "payload": pl, "signature": b64u(sig)})
        status, headers, data = https_request(url, self.peb.api_ca, "POST", body,
                                              {"Content-Type": "application/jose+json"})
        self.nonce = header(headers, "Replay-Nonce")
        assert status in want, (url, status, data)
        return (data if raw else json.loads(data)), headers

    def poll(self, url, pending):
        """POST-as-GET url until its status is no longer one of pending."""
        deadline = time.monotonic() + ISSUE_TIMEOUT
        while True:
            obj, _ = self.post(url)
            if obj["status"] not in pending:
                return obj
            assert time.monotonic() < deadline, obj
            time.sleep(0.05)


class ChallengeHandler(BaseHTTPRequestHandler):
    """Answers GET /.well-known/acme-challenge/TOKEN with the key
    authorization the server holds for TOKEN (404 otherwise); records what
    it was asked."""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        srv = self.server
        with srv.lock:
            srv.seen.append((self.path, self.headers.get("Host"), self.client_address[0]))
        token = self.path[len(CHALLENGE_PREFIX):] if self.path.startswith(CHALLENGE_PREFIX) else None
        body = srv.answers.get(token)
        if body is None:
            self.send_response(404)
            body = b"no such token\n"
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# --------------------------------------------------------------------------
# (1) The fixture on its own, without burrow
# --------------------------------------------------------------------------

def test_pebble_directory_roots_and_dns(pebble):
    """pebble's directory answers over TLS verified with the fixture's CA and
    names the RFC 8555 resources on its own address; the root and the
    intermediate from the management API form a chain (the intermediate
    verifies against the root, which is a self-signed CA); its DNS server
    answers A 127.0.0.1 for any name and no AAAA."""
    peb = pebble()
    d = peb.directory
    for k in ("newNonce", "newAccount", "newOrder", "revokeCert", "keyChange"):
        assert d.get(k, "").startswith(f"https://127.0.0.1:{peb.port}/"), (k, d)
    assert d["meta"]["externalAccountRequired"] is False, d
    text = openssl("x509", "-in", peb.root, "-noout", "-subject", "-issuer", "-ext",
                   "basicConstraints").decode()
    assert "Pebble Root CA" in text and "CA:TRUE" in text, text
    subj = re.search(r"subject=(.*)", text).group(1)
    assert re.search(r"issuer=(.*)", text).group(1) == subj, text
    out = openssl("verify", "-CAfile", peb.root, peb.intermediate).decode()
    assert out.strip().endswith(": OK"), out
    assert peb.intermediate_cn.startswith("Pebble Intermediate CA "), peb.intermediate_cn
    # A nonce, as an ACME client's first request gets it.
    status, headers, _ = https_request(d["newNonce"], peb.api_ca, "HEAD")
    assert status == 200 and header(headers, "Replay-Nonce"), headers
    for name in ("app.test", "anything.example.test", "x.y.z.w.test"):
        assert dns_query(peb.dns_port, name, 1) == ["127.0.0.1"], name
        assert dns_query(peb.dns_port, name, 28) == [], name


def test_pebble_http01_order_by_hand(pebble, tmp_path):
    """A whole order driven by hand: an account (ES256, contact mailto:),
    an order for selftest.test, its http-01 challenge answered by a Python
    http.server on the HTTP port the fixture gave pebble (pebble looks the
    name up in its DNS server: 127.0.0.1; it sends the Host with the port),
    the authorization valid, the order finalized with a CSR made by openssl,
    the certificate downloaded: a chain (leaf and intermediate) that verifies
    against the root from the management API, for selftest.test, with the
    serial pebble logged."""
    peb = pebble()
    acme = AcmeByHand(peb, tmp_path / "byhand")
    acct, headers = acme.post(acme.dir["newAccount"],
                              {"termsOfServiceAgreed": True, "contact": [f"mailto:{EMAIL}"]},
                              want=(201,))
    acme.kid = header(headers, "Location")
    assert acct["status"] == "valid" and acme.kid, (acct, headers)
    order, headers = acme.post(acme.dir["newOrder"],
                               {"identifiers": [{"type": "dns", "value": "selftest.test"}]}, want=(201,))
    order_url = header(headers, "Location")
    assert order["status"] == "pending" and len(order["authorizations"]) == 1, order
    authz, _ = acme.post(order["authorizations"][0])
    assert authz["identifier"] == {"type": "dns", "value": "selftest.test"}, authz
    ch = [c for c in authz["challenges"] if c["type"] == "http-01"][0]

    httpd = ThreadingHTTPServer(("127.0.0.1", peb.http_port), ChallengeHandler)
    httpd.daemon_threads = True
    httpd.lock = threading.Lock()
    httpd.seen = []
    httpd.answers = {ch["token"]: f"{ch['token']}.{acme.thumbprint}".encode()}
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        mark = peb.proc.mark()
        acme.post(ch["url"], {})
        peb.proc.wait_log(PEBBLE_AUTHZ_VALID, timeout=ISSUE_TIMEOUT, since=mark)
        assert acme.poll(order["authorizations"][0], ("pending",))["status"] == "valid"
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert httpd.seen, "pebble never fetched the challenge"
    for path, host, peer in httpd.seen:
        assert path == CHALLENGE_PREFIX + ch["token"], path
        assert host == f"selftest.test:{peb.http_port}" and peer == "127.0.0.1", (host, peer)

    leaf_key = tmp_path / "byhand" / "leaf.key"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(leaf_key))
    csr = openssl("req", "-new", "-key", str(leaf_key), "-subj", "/",
                  "-addext", "subjectAltName=DNS:selftest.test", "-outform", "DER")
    mark = peb.proc.mark()
    acme.post(order["finalize"], {"csr": b64u(csr)})
    serial = int(peb.proc.wait_log(PEBBLE_ISSUED, timeout=ISSUE_TIMEOUT, since=mark).group(1), 16)
    order = acme.poll(order_url, ("ready", "processing"))
    assert order["status"] == "valid", order
    chain, headers = acme.post(order["certificate"], raw=True)
    assert header(headers, "Content-Type").startswith("application/pem-certificate-chain"), headers
    assert chain.count(b"-----BEGIN CERTIFICATE-----") == 2, chain
    crt = tmp_path / "byhand" / "chain.pem"
    crt.write_bytes(chain)
    out = openssl("verify", "-CAfile", peb.root, "-untrusted", str(crt), str(crt)).decode()
    assert out.strip().endswith(": OK"), out
    c = cert_info(crt)
    assert c["san"] == ["DNS:selftest.test"] and c["serial"] == serial, c
    assert c["issuer_cn"] == peb.intermediate_cn, c


# --------------------------------------------------------------------------
# burrow with ACME: helpers
# --------------------------------------------------------------------------

RE_ORDERING = r"acme: %s: ordering a certificate from %s"
RE_ANSWERED = r"acme: %s: http-01 challenge answered"
RE_ISSUED = r"acme: %s: certificate issued, valid until (.+)$"
RE_FAILED = r"acme: %s: failed: (.+) \(next try in [^)]+\)$"
RE_RENEWING = r"acme: %s: renewing \(expires (.+)\)$"
RE_ANY_ACME = r"acme: %s: "


def cert_info(path):
    """The first certificate of a PEM file: serial (int), SAN entries,
    issuer CN, notAfter (as openssl prints it) and its public key (DER)."""
    text = openssl("x509", "-in", str(path), "-noout", "-serial", "-enddate", "-issuer",
                   "-nameopt", "multiline", "-ext", "subjectAltName").decode()
    san = re.search(r"X509v3 Subject Alternative Name:\s*\n\s*(.+)", text)
    return {"serial": int(re.search(r"serial=([0-9A-Fa-f]+)", text).group(1), 16),
            "not_after": re.search(r"notAfter=(.+)", text).group(1).strip(),
            "issuer_cn": re.search(r"commonName\s*=\s*(.+)", text).group(1).strip(),
            "san": [s.strip() for s in san.group(1).split(",")] if san else [],
            "pubkey": openssl("x509", "-in", str(path), "-noout", "-pubkey")}


def key_pubkey(path):
    return openssl("pkey", "-in", str(path), "-pubout")


def served_cert(name, port, cafile):
    """The certificate the HTTPS port serves for name (SNI), verified for
    name against cafile (so the chain the server sends reaches that root):
    Python's decoded dict (serialNumber, issuer, subjectAltName, notAfter)."""
    ctx = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=LOG_TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as s:
            return s.getpeercert()


def issuer_cn(cert):
    return dict(x[0] for x in cert["issuer"])["commonName"]


def curl(*args, timeout=LOG_TIMEOUT):
    r = subprocess.run(["curl", "-sS", "--max-time", str(timeout), *args], capture_output=True,
                       timeout=timeout + 5)
    return r.returncode, r.stdout.decode("latin-1"), r.stderr.decode("latin-1")


def curl_https(name, port, cafile, path="/"):
    """GET https://name:port/path, name resolved to 127.0.0.1, verified
    against cafile only: (rc, status, body)."""
    rc, out, err = curl("--resolve", f"{name}:{port}:127.0.0.1", "--cacert", cafile,
                        "-w", "\n%{http_code}", f"https://{name}:{port}{path}")
    body, _, status = out.rpartition("\n")
    return rc, status, body if rc == 0 else err


def curl_http(name, port, path="/"):
    rc, out, err = curl("--resolve", f"{name}:{port}:127.0.0.1", "-w", "\n%{http_code}",
                        f"http://{name}:{port}{path}")
    body, _, status = out.rpartition("\n")
    return rc, status, body if rc == 0 else err


def https_json(name, port, cafile, path="/"):
    rc, status, body = curl_https(name, port, cafile, path)
    assert rc == 0 and status == "200", (name, rc, status, body)
    return json.loads(body)


def http_json(name, port, path="/"):
    rc, status, body = curl_http(name, port, path)
    assert rc == 0 and status == "200", (name, rc, status, body)
    return json.loads(body)


def acme_server(burrow_server, peb, *extra, directory=None):
    """A burrow server with ACME from peb: --http and --https on the ports
    pebble validates, --acme-directory (directory or pebble's), --acme-ca
    (the CA of pebble's API), --acme-email; the test's state dir (shared by
    its servers: srv.state_dir)."""
    srv = burrow_server("--http", f"127.0.0.1:{peb.http_port}", "--https", f"127.0.0.1:{peb.tls_port}",
                        "--acme-directory", directory or peb.dir_url, "--acme-ca", peb.api_ca,
                        "--acme-email", EMAIL, *extra)
    srv.wait_log(r"http listening on 127\.0\.0\.1:%d " % peb.http_port)
    srv.wait_log(r"https listening on 127\.0\.0\.1:%d " % peb.tls_port)
    return srv


def serve(burrow_client, srv, *specs):
    """A client with -R http:NAMES:127.0.0.1:PORT for each (names, port),
    waiting until each is served (tunnels r1, r2...)."""
    args = []
    for names, port in specs:
        args += ["-R", f"http:{names}:127.0.0.1:{port}"]
    cli = burrow_client(srv, *args)
    for i, (names, _) in enumerate(specs, 1):
        cli.wait_log(r"tunnel r%d: serving %s on " % (i, q(names)))
    return cli


def wait_issued(srv, name, peb, since=0, timeout=ISSUE_TIMEOUT):
    """The server's lines for one issuance of name, in order: ordering from
    pebble's directory, the challenge answered, issued. Returns the
    valid-until text."""
    srv.wait_log(RE_ORDERING % (q(name), q(peb.dir_url)), timeout, since)
    srv.wait_log(RE_ANSWERED % q(name), timeout, since)
    return srv.wait_log(RE_ISSUED % q(name), timeout, since).group(1)


def header_of(info, name):
    return [v for k, v in info["headers"] if k.lower() == name.lower()]


# --------------------------------------------------------------------------
# (2) Issued and served
# --------------------------------------------------------------------------

def test_certificate_issued_and_served(burrow_server, burrow_client, pebble, web):
    """A client registers app.test: the server orders a certificate from
    pebble, answers pebble's HTTP-01 fetches on its HTTP port, and logs it
    issued, valid until the certificate's notAfter (its year, at least).
    Then curl https://app.test on the HTTPS port, verified against pebble's
    root only, reaches the service (which sees X-Forwarded-Proto: https);
    the certificate served is for app.test alone, issued by pebble's
    intermediate (sent in the chain: the root alone verifies it), with the
    serial pebble logged. Plain HTTP for app.test is still served, and the
    challenge requests never reached the service."""
    peb = pebble()
    a = web("A")
    srv = acme_server(burrow_server, peb)
    serve(burrow_client, srv, ("app.test", a.port))
    until = wait_issued(srv, "app.test", peb)
    peb.proc.wait_log(PEBBLE_AUTHZ_VALID)
    serials = peb.issued_serials()
    assert len(serials) == 1, serials

    cert = served_cert("app.test", peb.tls_port, peb.root)
    assert cert["subjectAltName"] == (("DNS", "app.test"),), cert
    assert issuer_cn(cert) == peb.intermediate_cn, cert
    assert int(cert["serialNumber"], 16) == serials[0], (cert, serials)
    year = time.gmtime(ssl.cert_time_to_seconds(cert["notAfter"])).tm_year
    assert str(year) in until, (until, cert["notAfter"])

    info = https_json("app.test", peb.tls_port, peb.root, "/over-tls")
    assert info["service"] == "A" and info["path"] == "/over-tls", info
    assert header_of(info, "X-Forwarded-Proto") == ["https"], info["headers"]
    info = http_json("app.test", peb.http_port, "/plain")
    assert info["service"] == "A" and info["path"] == "/plain", info
    assert header_of(info, "X-Forwarded-Proto") == ["http"], info["headers"]
    paths = [r["path"] for r in a.records]
    assert not [p for p in paths if p.startswith(CHALLENGE_PREFIX)], paths
    assert srv.find(RE_FAILED % q("app.test")) is None, srv.text()


def test_tls_alpn_01_without_http_port(burrow_server, burrow_client, pebble, web):
    """--acme-challenge tls-alpn-01 and no --http: the server answers
    pebble's TLS-ALPN-01 handshakes (ALPN acme-tls/1) on its HTTPS port with
    the challenge certificate, logs them, and the certificate issued is
    served there for app.test (pebble's intermediate, verified against its
    root), reaching the service; a handshake offering acme-tls/1 for a name
    with no challenge pending gets an alert, and plain visitors of app.test
    never see the challenge certificate."""
    peb = pebble()
    a = web("A")
    srv = burrow_server("--https", f"127.0.0.1:{peb.tls_port}", "--acme-directory", peb.dir_url,
                        "--acme-ca", peb.api_ca, "--acme-email", EMAIL,
                        "--acme-challenge", "tls-alpn-01")
    srv.wait_log(r"https listening on 127\.0\.0\.1:%d " % peb.tls_port)
    srv.wait_log(r"acme: certificates from \S+ for HTTP tunnels' names \(tls-alpn-01\)")
    cli = burrow_client(srv, "-R", f"http:app.test:127.0.0.1:{a.port}")
    cli.wait_log(r"tunnel r1: serving app\.test on https://app\.test:%d/ " % peb.tls_port)
    srv.wait_log(RE_ORDERING % (q("app.test"), q(peb.dir_url)), ISSUE_TIMEOUT)
    srv.wait_log(r"acme: app\.test: tls-alpn-01 challenge answered", ISSUE_TIMEOUT)
    srv.wait_log(RE_ISSUED % q("app.test"), ISSUE_TIMEOUT)
    cert = served_cert("app.test", peb.tls_port, peb.root)
    assert cert["subjectAltName"] == (("DNS", "app.test"),), cert
    assert issuer_cn(cert) == peb.intermediate_cn, cert
    info = https_json("app.test", peb.tls_port, peb.root, "/alpn")
    assert info["service"] == "A" and info["path"] == "/alpn", info
    assert srv.find(RE_FAILED % q("app.test")) is None, srv.text()
    # acme-tls/1 with no challenge pending: refused with an alert, logged.
    mark = srv.mark()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["acme-tls/1"])
    with socket.create_connection(("127.0.0.1", peb.tls_port), timeout=LOG_TIMEOUT) as raw:
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(raw, server_hostname="app.test").close()
    srv.wait_log(r"acme-tls/1 for a name with no challenge pending", since=mark)


# --------------------------------------------------------------------------
# (3) The files in state-dir/acme, kept across a restart
# --------------------------------------------------------------------------

def test_files_and_account_reused_on_restart(burrow_server, burrow_client, pebble, web):
    """After issuance, STATE/acme/ holds app.test.crt (the chain: the leaf
    served, for app.test, then pebble's intermediate), app.test.key (the
    leaf's key) and account.key, the keys readable by the owner only. The
    server and its client stop (exit 0); a new server on the same state dir
    and a new client for app.test and app2.test: app.test's stored
    certificate is served at once (same serial) and not ordered again;
    app2.test is ordered with the same account (account.key unchanged, the
    account URL logged is the first server's, pebble never had a second
    account)."""
    peb = pebble()
    a = web("A")
    srv = acme_server(burrow_server, peb)
    cli = serve(burrow_client, srv, ("app.test", a.port))
    wait_issued(srv, "app.test", peb)
    account_url = srv.wait_log(r"acme: account (\S+)").group(1)
    acme_dir = os.path.join(srv.state_dir, "acme")
    crt = os.path.join(acme_dir, "app.test.crt")
    key = os.path.join(acme_dir, "app.test.key")
    acct = os.path.join(acme_dir, "account.key")
    for path in (crt, key, acct):
        assert os.path.isfile(path), (path, sorted(os.listdir(acme_dir)) if os.path.isdir(acme_dir) else None)
    for path in (key, acct):
        mode = os.stat(path).st_mode & 0o777
        assert mode & 0o077 == 0, f"{path}: mode {mode:o}: a private key others can read"
    with open(crt, "rb") as f:
        pem = f.read()
    assert pem.count(b"-----BEGIN CERTIFICATE-----") >= 2, pem
    stored = cert_info(crt)
    assert stored["san"] == ["DNS:app.test"] and stored["issuer_cn"] == peb.intermediate_cn, stored
    assert stored["pubkey"] == key_pubkey(key), "app.test.key is not the key of app.test.crt"
    assert stored["serial"] == peb.issued_serials()[0]
    assert int(served_cert("app.test", peb.tls_port, peb.root)["serialNumber"], 16) == stored["serial"]
    with open(acct, "rb") as f:
        account_key = f.read()
    assert b"PRIVATE KEY" in account_key
    assert peb.count(PEBBLE_ACCOUNTS) == 1 and peb.count(PEBBLE_ORDER_ADDED) == 1

    assert cli.stop() == 0
    assert srv.stop() == 0
    srv2 = acme_server(burrow_server, peb)
    assert srv2.state_dir == srv.state_dir
    serve(burrow_client, srv2, ("app.test,app2.test", a.port))
    cert = served_cert("app.test", peb.tls_port, peb.root)
    assert int(cert["serialNumber"], 16) == stored["serial"], cert
    assert https_json("app.test", peb.tls_port, peb.root)["service"] == "A"
    # app.test (first in the tunnel) would have been ordered before app2.test.
    wait_issued(srv2, "app2.test", peb)
    assert srv2.find(RE_ORDERING % (q("app.test"), ".*")) is None, srv2.text()
    assert srv2.wait_log(r"acme: account (\S+)").group(1) == account_url
    assert https_json("app2.test", peb.tls_port, peb.root)["service"] == "A"
    with open(acct, "rb") as f:
        assert f.read() == account_key, "account.key changed across the restart"
    assert cert_info(crt)["serial"] == stored["serial"]
    assert peb.count(PEBBLE_ORDER_ADDED) == 2, "app.test ordered again after the restart"
    assert peb.count(PEBBLE_ACCOUNTS) == 1, "a second account at pebble"


# --------------------------------------------------------------------------
# (4) Renewal without a restart
# --------------------------------------------------------------------------

def test_renewal_without_restart(burrow_server, burrow_client, pebble, web):
    """--acme-renew-before 1000000h (longer than pebble's 5 years: every
    certificate is due) and --acme-check 2s: after the first issuance the
    server logs `renewing (expires DATE)` and issues again; the HTTPS port
    then serves a certificate with another serial, one pebble issued after
    the first, and app.test.crt holds it too; the same server process and
    client session throughout, and curl works."""
    peb = pebble()
    a = web("A")
    srv = acme_server(burrow_server, peb, "--acme-renew-before", "1000000h", "--acme-check", "2s")
    cli = serve(burrow_client, srv, ("app.test", a.port))
    wait_issued(srv, "app.test", peb)
    first = peb.issued_serials()[0]
    assert int(served_cert("app.test", peb.tls_port, peb.root)["serialNumber"], 16) == first
    mark = srv.mark()
    srv.wait_log(RE_RENEWING % q("app.test"), timeout=ISSUE_TIMEOUT, since=mark)
    srv.wait_log(RE_ISSUED % q("app.test"), timeout=ISSUE_TIMEOUT, since=mark)
    issued = peb.issued_serials()
    assert len(set(issued)) >= 2, issued
    served = int(served_cert("app.test", peb.tls_port, peb.root)["serialNumber"], 16)
    assert served != first and served in issued[1:], (served, issued)
    stored = cert_info(os.path.join(srv.state_dir, "acme", "app.test.crt"))["serial"]
    assert stored != first and stored in issued[1:], (stored, issued)
    assert https_json("app.test", peb.tls_port, peb.root)["service"] == "A"
    assert srv.alive() and cli.alive()
    assert cli.find(r"reconnecting") is None, cli.text()


# --------------------------------------------------------------------------
# (5) Names that are never ordered
# --------------------------------------------------------------------------

def test_name_refused_by_domains_is_not_ordered(burrow_server, burrow_client, pebble, web):
    """--domains '*.ok.test': a client asking for evil.test is refused at
    registration, and nothing is ordered for it (no acme line names it,
    pebble added no order for it); app.ok.test, allowed, is issued and
    served."""
    peb = pebble()
    a, b = web("A"), web("B")
    srv = acme_server(burrow_server, peb, "--domains", "*.ok.test")
    evil = burrow_client(srv, "-R", f"http:evil.test:127.0.0.1:{b.port}")
    evil.wait_log(r"tunnel r1: registration failed: evil\.test is not among the names this client "
                  r"may serve \(domains\)")
    serve(burrow_client, srv, ("app.ok.test", a.port))
    wait_issued(srv, "app.ok.test", peb)
    assert https_json("app.ok.test", peb.tls_port, peb.root)["service"] == "A"
    assert srv.find(RE_ANY_ACME % q("evil.test")) is None, srv.text()
    assert peb.count(PEBBLE_ORDER_ADDED) == 1
    assert peb.proc.find(r"evil\.test") is None, peb.proc.text()


def test_wildcard_is_not_ordered(burrow_server, burrow_client, pebble, web):
    """One client serves *.w.test and app.test: the server logs why the
    wildcard is not ordered (HTTP-01 cannot prove a wildcard), orders
    app.test only (pebble added one order and never heard of w.test), and
    x.w.test is still served over plain HTTP."""
    peb = pebble()
    a, b = web("A"), web("B")
    srv = acme_server(burrow_server, peb)
    serve(burrow_client, srv, ("*.w.test", b.port), ("app.test", a.port))
    srv.wait_log(r"acme: \*\.w\.test: .*not ordered")
    wait_issued(srv, "app.test", peb)
    assert srv.find(RE_ORDERING % (q("*.w.test"), ".*")) is None, srv.text()
    assert peb.count(PEBBLE_ORDER_ADDED) == 1
    assert peb.proc.find(r"w\.test") is None, peb.proc.text()
    assert http_json("x.w.test", peb.http_port)["service"] == "B"
    assert https_json("app.test", peb.tls_port, peb.root)["service"] == "A"


# --------------------------------------------------------------------------
# (6) Failures: the ACME server down, or refusing the name
# --------------------------------------------------------------------------

def test_acme_server_down_plain_http_still_served(burrow_server, burrow_client, pebble, web):
    """pebble stopped before the server starts: ordering app.test fails
    (`failed: REASON (next try in ...)`), the server stays up and serves
    app.test over plain HTTP; HTTPS for it has no certificate to verify
    with pebble's root."""
    peb = pebble()
    peb.stop()
    a = web("A")
    srv = acme_server(burrow_server, peb)
    serve(burrow_client, srv, ("app.test", a.port))
    srv.wait_log(RE_ORDERING % (q("app.test"), q(peb.dir_url)), timeout=ISSUE_TIMEOUT)
    srv.wait_log(RE_FAILED % q("app.test"), timeout=ISSUE_TIMEOUT)
    assert srv.find(RE_ISSUED % q("app.test")) is None
    info = http_json("app.test", peb.http_port, "/still")
    assert info["service"] == "A" and info["path"] == "/still", info
    rc, status, err = curl_https("app.test", peb.tls_port, peb.root)
    assert rc != 0, (rc, status, err)
    assert srv.alive()


def test_ca_refuses_the_name(burrow_server, burrow_client, pebble, web):
    """pebble refuses to issue for blocked.test (domainBlocklist: its order
    is answered with a rejectedIdentifier problem): the server logs
    `failed:` with the CA's reason (the problem's type or detail), and keeps
    serving blocked.test over plain HTTP."""
    peb = pebble(blocklist=["blocked.test"])
    a = web("A")
    srv = acme_server(burrow_server, peb)
    serve(burrow_client, srv, ("blocked.test", a.port))
    why = srv.wait_log(RE_FAILED % q("blocked.test"), timeout=ISSUE_TIMEOUT).group(1)
    assert "rejectedIdentifier" in why or "forbidden by policy" in why, why
    assert peb.count(PEBBLE_ORDER_ADDED) == 0
    assert http_json("blocked.test", peb.http_port)["service"] == "A"
    assert srv.alive()


class BadNonceHandler(BaseHTTPRequestHandler):
    """The proxy's requests: a JWS POST not seen before (its URL and
    payload) is answered as pebble answers a nonce it refuses (400,
    application/problem+json, urn:ietf:params:acme:error:badNonce, a fresh
    Replay-Nonce from pebble); anything else goes to pebble with its Host
    (pebble writes its URLs, and checks the JWS url, from it) and comes back
    with a Content-Length."""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _pebble(self, method, path, body=None, headers=()):
        peb = self.server.peb
        c = HTTPSConnection("127.0.0.1", peb.port, timeout=LOG_TIMEOUT,
                            context=ssl.create_default_context(cafile=peb.api_ca))
        try:
            c.request(method, path, body=body, headers=dict(headers, Host=self.headers["Host"]))
            r = c.getresponse()
            return r.status, r.getheaders(), r.read()
        finally:
            c.close()

    def _send(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _relay(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        srv = self.server
        if self.command == "POST":
            jws = json.loads(body)
            key = (self.path, jws.get("payload"))
            with srv.lock:
                first = key not in srv.seen
                srv.seen.add(key)
            if first:
                _, h, _ = self._pebble("HEAD", urlsplit(srv.peb.directory["newNonce"]).path)
                problem = json.dumps({"type": "urn:ietf:params:acme:error:badNonce",
                                      "detail": "JWS has an invalid anti-replay nonce: (the proxy's)",
                                      "status": 400}, indent=3).encode()
                with srv.lock:
                    srv.rejected.append(self.path)
                self._send(400, [("Content-Type", "application/problem+json; charset=utf-8"),
                                 ("Replay-Nonce", header(h, "Replay-Nonce"))], problem)
                return
        fwd = [(k, v) for k, v in self.headers.items() if k.lower() in ("content-type", "accept")]
        self._send(*self._pebble(self.command, self.path, body, fwd))

    do_GET = do_HEAD = do_POST = _relay


@pytest.fixture
def bad_nonce_proxy():
    """Factory: bad_nonce_proxy(peb) -> a TLS proxy on 127.0.0.1:0 in front
    of pebble's API (pebble's API certificate, so the same --acme-ca) that
    refuses the first nonce of each JWS POST (BadNonceHandler): .dir_url,
    .rejected (the paths refused once each)."""
    started = []

    def start(peb):
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), BadNonceHandler)
        httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(peb.api_cert.crt, peb.api_cert.key)
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
        httpd.peb, httpd.lock, httpd.seen, httpd.rejected = peb, threading.Lock(), set(), []
        httpd.dir_url = f"https://127.0.0.1:{httpd.server_address[1]}/dir"
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        started.append(httpd)
        return httpd

    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


def test_bad_nonces_are_retried(burrow_server, burrow_client, pebble, bad_nonce_proxy, web):
    """The server talks to pebble through a proxy that answers the first
    try of every JWS POST (new account, new order, authorization, challenge,
    finalize, order, certificate) with a badNonce problem carrying a fresh
    Replay-Nonce, as pebble does: each is retried with that nonce (RFC 8555
    6.5), the certificate is issued and served, and nothing is logged as
    failed."""
    peb = pebble()
    proxy = bad_nonce_proxy(peb)
    a = web("A")
    srv = acme_server(burrow_server, peb, directory=proxy.dir_url)
    serve(burrow_client, srv, ("app.test", a.port))
    srv.wait_log(RE_ORDERING % (q("app.test"), q(proxy.dir_url)), timeout=ISSUE_TIMEOUT)
    srv.wait_log(RE_ISSUED % q("app.test"), timeout=ISSUE_TIMEOUT)
    assert srv.find(RE_FAILED % q("app.test")) is None, srv.text()
    assert https_json("app.test", peb.tls_port, peb.root)["service"] == "A"
    paths = list(proxy.rejected)
    for prefix in ("/sign-me-up", "/order-plz", "/authZ/", "/chalZ/", "/finalize-order/", "/certZ/"):
        assert any(p.startswith(prefix) for p in paths), (prefix, paths)


# --------------------------------------------------------------------------
# (7) Usage errors
# --------------------------------------------------------------------------

@pytest.mark.parametrize("args,needle", [
    (["--https", "127.0.0.1:0"], r"\bhttp\b"),
    (["--http", "127.0.0.1:0"], r"\bhttps\b"),
    (["--http", "127.0.0.1:0", "--https", "127.0.0.1:0", "--acme-renew-before", "soon"],
     r"acme[-_]renew[-_]before"),
    (["--http", "127.0.0.1:0", "--https", "127.0.0.1:0", "--acme-check", "often"], r"acme[-_]check"),
], ids=["no-http", "no-https", "renew-before", "check"])
def test_bad_acme_flags_exit_2(burrow_bin, tmp_path, args, needle):
    """ACME needs the HTTP port (for HTTP-01) and the HTTPS port (to serve
    what it gets); bad durations are refused; each with exit 2, the option
    named (as a flag or a YAML key)."""
    rc, out, err = run(burrow_bin, "server", "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path),
                       "--acme-directory", f"https://127.0.0.1:{closed_port()}/dir", *args, token="t")
    assert rc == 2, (rc, err)
    assert re.search(needle, err), err
