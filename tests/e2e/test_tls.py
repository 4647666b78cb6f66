"""TLS on the control port and the data connections.

The server accepts plain TCP and TLS on one port (told apart by the first
byte) and logs its key as `tls: server key SHA256:...` (SHA-256 of the
certificate's SubjectPublicKeyInfo). A client trusts a server by that pin
(--fingerprint), by a CA (--ca, with the IP/host check), or on first use
(--known-servers); anything else is refused with exit 1. The AUTH proofs are
bound to the TLS exporter, so a man in the middle that terminates TLS with its
own key cannot log in even when the client trusts its key.

Real peers: openssl (certificates, s_client), socat (the man in the middle),
Python's ssl module only to produce a genuine ClientHello that never finishes.
"""

import base64
import hashlib
import os
import re
import signal
import socket
import ssl
import subprocess
import threading

import pytest

import services
from conftest import E2E_TRANSPORT, LOG_TIMEOUT, Proc, RE_SERVER_KEY, free_port, roundtrip, sha, tls_supported
from test_garbage import assert_closed_by_peer

pytestmark = [
    pytest.mark.skipif(not tls_supported(), reason="burrow binary without TLS (--require-tls)"),
    # These tests choose every client's transport themselves: nothing to add
    # with BURROW_E2E_TRANSPORT=tls, they ran in the default run.
    pytest.mark.skipif(E2E_TRANSPORT != "tcp", reason="transport chosen per test; runs in the default run"),
]

MB = 1024 * 1024
MOVED = r"stream (\d+): moved to a dedicated connection after (\d+) bytes"
AUTHENTICATED = r"session \d+: authenticated to 127\.0\.0\.1:%d"


# --------------------------------------------------------------------------
# Certificates with the openssl command line
# --------------------------------------------------------------------------

def openssl(*args, input=None):
    r = subprocess.run(["openssl", *args], input=input, capture_output=True, timeout=60)
    assert r.returncode == 0, f"openssl {' '.join(args)}: {r.stderr.decode()}"
    return r.stdout


def spki_digest_of_pubkey(pub_pem):
    return hashlib.sha256(openssl("pkey", "-pubin", "-outform", "der", input=pub_pem)).digest()


def cert_digest(cert, inform="PEM"):
    """SHA-256 of the certificate's SubjectPublicKeyInfo DER."""
    return spki_digest_of_pubkey(openssl("x509", "-inform", inform, "-pubkey", "-noout", input=cert))


def b64_pin(digest):
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def cert_pin(path):
    with open(path, "rb") as f:
        return b64_pin(cert_digest(f.read()))


class Cert:
    def __init__(self, name, key, crt):
        self.name, self.key, self.crt = name, str(key), str(crt)

    @property
    def pin(self):
        return cert_pin(self.crt)

    @property
    def digest(self):
        with open(self.crt, "rb") as f:
            return cert_digest(f.read())


class Pki:
    """EC P-256 keys, CAs and certificates in a directory."""

    def __init__(self, d):
        self.d = d
        d.mkdir(exist_ok=True)

    def _key(self, name):
        key = self.d / f"{name}.key"
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key))
        return key

    def ca(self, name):
        key = self._key(name)
        crt = self.d / f"{name}.crt"
        openssl("req", "-x509", "-new", "-key", str(key), "-subj", f"/CN={name}", "-days", "30",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", str(crt))
        return Cert(name, key, crt)

    def self_signed(self, name, san="IP:127.0.0.1"):
        key = self._key(name)
        crt = self.d / f"{name}.crt"
        openssl("req", "-x509", "-new", "-key", str(key), "-subj", f"/CN={name}", "-days", "30",
                "-addext", f"subjectAltName={san}", "-out", str(crt))
        return Cert(name, key, crt)

    def _csr_ext(self, name, san, client):
        key = self._key(name)
        csr = self.d / f"{name}.csr"
        openssl("req", "-new", "-key", str(key), "-subj", f"/CN={name}", "-out", str(csr))
        ext = self.d / f"{name}.ext"
        lines = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature",
                 "extendedKeyUsage=" + ("clientAuth" if client else "serverAuth")]
        if san:
            lines.append(f"subjectAltName={san}")
        ext.write_text("\n".join(lines) + "\n")
        return key, csr, ext

    def issue(self, ca, name, san="IP:127.0.0.1", client=False):
        """A certificate signed by ca, valid from now for 30 days."""
        key, csr, ext = self._csr_ext(name, san, client)
        crt = self.d / f"{name}.crt"
        openssl("x509", "-req", "-in", str(csr), "-CA", ca.crt, "-CAkey", ca.key,
                "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "30",
                "-extfile", str(ext), "-out", str(crt))
        return Cert(name, key, crt)

    def issue_expired(self, ca, name, san="IP:127.0.0.1"):
        """A certificate signed by ca that expired in 2020 (`openssl ca` takes
        explicit dates; `openssl x509 -days` cannot go back in time)."""
        key, csr, ext = self._csr_ext(name, san, False)
        db = self.d / f"{name}-db"
        (db / "new").mkdir(parents=True)
        (db / "index.txt").write_text("")
        (db / "serial").write_text("1000\n")
        cnf = db / "ca.cnf"
        cnf.write_text(f"""[ca]
default_ca = ca_here
[ca_here]
database = {db}/index.txt
new_certs_dir = {db}/new
serial = {db}/serial
default_md = sha256
policy = policy_any
unique_subject = no
[policy_any]
commonName = supplied
""")
        crt = self.d / f"{name}.crt"
        openssl("ca", "-batch", "-notext", "-config", str(cnf), "-cert", ca.crt, "-keyfile", ca.key,
                "-in", str(csr), "-out", str(crt), "-extfile", str(ext),
                "-startdate", "20200101000000Z", "-enddate", "20200201000000Z")
        return Cert(name, key, crt)


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path / "pki")


def tls_args(pin):
    return ["--transport", "tls", "--fingerprint", pin]


def served_key(port):
    """(TLS version, pin of the certificate) that a TLS handshake with the
    control port gets. A finished handshake also shows the server's event
    loop is running."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=LOG_TIMEOUT) as s:
        with ctx.wrap_socket(s) as t:
            return t.version(), b64_pin(cert_digest(t.getpeercert(binary_form=True), "DER"))


# --------------------------------------------------------------------------
# A TCP relay that keeps what crosses it, per connection and direction
# --------------------------------------------------------------------------

class Tap:
    def __init__(self, target_port):
        self.target_port = target_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []          # [{"up": bytearray, "down": bytearray}]
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.target_port))
            rec = {"up": bytearray(), "down": bytearray()}
            with self.lock:
                self.conns.append(rec)
            threading.Thread(target=self._pump, args=(c, u, rec["up"]), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, rec["down"]), daemon=True).start()

    def _pump(self, a, b, sink):
        try:
            while True:
                d = a.recv(262144)
                if not d:
                    b.shutdown(socket.SHUT_WR)
                    return
                with self.lock:
                    sink += d
                b.sendall(d)
        except OSError:
            pass

    def records(self):
        with self.lock:
            return [(bytes(r["up"]), bytes(r["down"])) for r in self.conns]

    def close(self):
        self.sock.close()


@pytest.fixture
def tap():
    made = []

    def make(target_port):
        t = Tap(target_port)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


def assert_all_tls(records, payloads):
    """Every connection starts with a TLS handshake record both ways, and no
    payload crossed in clear."""
    assert records, "nothing crossed the relay"
    for i, (up, down) in enumerate(records):
        assert up[:1] == b"\x16" and up[1:3] in (b"\x03\x01", b"\x03\x03"), \
            f"connection {i}: client did not start with a TLS handshake record: {up[:16]!r}"
        assert down[:1] == b"\x16", f"connection {i}: server did not answer TLS: {down[:16]!r}"
        assert b"BURROW" not in up and b"BURROW" not in down, f"connection {i}: HELLO in clear"
        for p in payloads:
            probe = p[len(p) // 2:len(p) // 2 + 48]
            assert probe not in up and probe not in down, f"connection {i}: payload in clear"


def first_difference(a, b):
    n = min(len(a), len(b))
    for off in range(0, n, 4096):
        if a[off:off + 4096] != b[off:off + 4096]:
            return off + next(i for i in range(4096) if a[off + i:off + i + 1] != b[off + i:off + i + 1])
    return n


def parallel_roundtrips(port, payloads, timeout=60):
    """Echo every payload on its own connection at once; assert each came
    back byte-exact (the message says where one differs)."""
    results = [None] * len(payloads)

    def run(i):
        try:
            results[i] = roundtrip("127.0.0.1", port, payloads[i], timeout=timeout)
        except OSError as e:
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(payloads))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 10)
    bad = []
    for i, (p, got) in enumerate(zip(payloads, results)):
        if isinstance(got, bytes) and sha(got) == sha(p):
            continue
        if isinstance(got, bytes):
            bad.append(f"stream {i}: got {len(got)} of {len(p)} bytes, first difference at "
                       f"{first_difference(p, got)}")
        else:
            bad.append(f"stream {i}: {got!r}")
    assert not bad, f"{len(bad)} of {len(payloads)} streams not intact:\n  " + "\n  ".join(bad)


# --------------------------------------------------------------------------
# (1) A pinned client: tunnels, concurrent streams, moves to data connections
# --------------------------------------------------------------------------

def test_pinned_client_concurrent_streams_over_tls(burrow_server, burrow_client, echo, tap):
    """16 concurrent streams of 1 MiB, all multiplexed (pool 0) on the TLS
    control connection, byte-exact; nothing crosses the wire in clear."""
    srv = burrow_server()
    pin = srv.server_key()
    t = tap(srv.port)
    cli = burrow_client(f"127.0.0.1:{t.port}", "-R", f"0:127.0.0.1:{echo.port}", "--pool", "0",
                        *tls_args(pin), transport=None)
    cli.wait_log(AUTHENTICATED % t.port)
    port = cli.tunnel_port("r1")
    payloads = [os.urandom(MB + i) for i in range(16)]
    parallel_roundtrips(port, payloads)
    assert srv.find(r"moved to a dedicated connection") is None
    records = t.records()
    assert len(records) == 1, f"pool 0: want only the control connection, got {len(records)}"
    assert_all_tls(records, payloads)
    assert cli.find(r"reconnecting in") is None


def test_streams_move_to_tls_data_connections(burrow_server, burrow_client, service, tap):
    """Bulk streams move to dedicated data connections, which are TLS too
    (relayed by copying, not splice): echo both ways at once, a download and
    an upload, all byte-exact."""
    srv = burrow_server("--dedicated-after", "64K")
    pin = srv.server_key()
    e, up, down = service("echo"), service("sha"), service("source")
    t = tap(srv.port)
    cli = burrow_client(f"127.0.0.1:{t.port}", "-R", f"0:127.0.0.1:{e.port}",
                        "-R", f"0:127.0.0.1:{up.port}", "-R", f"0:127.0.0.1:{down.port}",
                        "--pool", "4", *tls_args(pin), transport=None)
    p_echo, p_up, p_down = cli.tunnel_port("r1"), cli.tunnel_port("r2"), cli.tunnel_port("r3")
    cli.wait_log(r"session \d+: 4 data connections ready")

    payloads = [os.urandom(MB + 7 * i) for i in range(16)]
    parallel_roundtrips(p_echo, payloads)
    moved = len(srv.text().split("moved to a dedicated connection")) - 1
    assert moved >= 4, f"only {moved} streams moved with 4 idle data connections"

    # The 16 echoes used the pool up; the client refills it in the background,
    # and a stream moves only if an idle connection is there when it asks (on a
    # loaded machine a 4 MiB download can be over first): a few tries.
    for _ in range(5):
        mark = srv.mark()
        got = roundtrip("127.0.0.1", p_down, b"", timeout=30)
        assert len(got) == len(services.SOURCE) and sha(got) == sha(services.SOURCE)
        if srv.find(MOVED, since=mark):
            break
    srv.wait_log(MOVED, since=mark)

    for _ in range(5):
        mark = srv.mark()
        data = os.urandom(3 * MB + 5)
        assert roundtrip("127.0.0.1", p_up, data, timeout=30).decode().strip() == sha(data)
        if srv.find(MOVED, since=mark):
            break
    srv.wait_log(MOVED, since=mark)

    records = t.records()
    assert len(records) >= 5, f"want the control connection and 4+ data connections, got {len(records)}"
    assert_all_tls(records, payloads + [data])
    assert cli.find(r"reconnecting in") is None


@pytest.mark.parametrize("form", ["base64", "hex", "hex-colons", "url"])
def test_pin_forms(burrow_server, burrow_client, echo, form):
    """The pin as logged, as hex (with or without colons, either case), and
    the tls:// URL form instead of --transport."""
    srv = burrow_server()
    pin = srv.server_key()
    digest = base64.b64decode(pin[len("SHA256:"):] + "=")
    assert len(digest) == 32
    addr = f"127.0.0.1:{srv.port}"
    if form == "base64":
        args = tls_args(pin)
    elif form == "hex":
        args = tls_args(digest.hex())
    elif form == "hex-colons":
        args = tls_args(":".join(f"{b:02X}" for b in digest))
    else:
        addr, args = f"tls://{addr}", ["--fingerprint", pin]
    cli = burrow_client(addr, "-R", f"0:127.0.0.1:{echo.port}", *args, transport=None)
    cli.wait_log(AUTHENTICATED % srv.port)
    port = cli.tunnel_port("r1")
    assert roundtrip("127.0.0.1", port, b"pinned " + form.encode()) == b"pinned " + form.encode()


# --------------------------------------------------------------------------
# (2)-(6) Refusals: wrong pin, foreign CA, expired, host check, nothing given
# --------------------------------------------------------------------------

def assert_refused(srv, cli, regex, since=0):
    """The client gave up with exit 1 and said why; no retry, no tunnel
    (in the server's log from `since`)."""
    try:
        cli.wait_log(r"reconnecting in")
    except AssertionError:
        pass  # it exited (or hung: wait_exit says so)
    else:
        raise AssertionError(f"{cli.name} retries a refused connection instead of exiting 1:\n"
                             + cli.text())
    rc = cli.wait_exit()
    assert rc == 1, f"client rc={rc}, want 1:\n{cli.text()}"
    assert cli.find(regex), f"client log lacks /{regex}/:\n{cli.text()}"
    assert cli.find(r"authenticated to") is None
    assert srv.find(r"tunnel r1 listening", since=since) is None


def test_wrong_pin_refused(burrow_server, burrow_client, echo, pki):
    srv = burrow_server()
    other = pki.self_signed("other")
    assert other.pin != srv.server_key()
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", *tls_args(other.pin), transport=None)
    assert_refused(srv, cli, r"does not match")
    # The client names the key it saw (so a user can compare), never trusts it.
    assert srv.server_key() in cli.text()


def test_server_cert_from_files_logs_its_key(burrow_server, burrow_client, echo, pki):
    """--tls-cert/--tls-key: the logged key is that certificate's; a client
    pinned to it gets in."""
    ca = pki.ca("ca-a")
    cert = pki.issue(ca, "server-a")
    srv = burrow_server("--tls-cert", cert.crt, "--tls-key", cert.key)
    assert srv.server_key() == cert.pin
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", *tls_args(cert.pin), transport=None)
    assert roundtrip("127.0.0.1", cli.tunnel_port("r1"), b"files") == b"files"


def test_foreign_ca_refused(burrow_server, burrow_client, echo, pki):
    ca_a, ca_b = pki.ca("ca-a"), pki.ca("ca-b")
    cert = pki.issue(ca_a, "server-a")
    srv = burrow_server("--tls-cert", cert.crt, "--tls-key", cert.key)
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--transport", "tls",
                        "--ca", ca_b.crt, transport=None)
    assert_refused(srv, cli, r"unable to get local issuer certificate")


def test_expired_certificate_refused(burrow_server, burrow_client, echo, pki):
    ca = pki.ca("ca-a")
    cert = pki.issue_expired(ca, "server-old")
    assert "notAfter=Feb  1 00:00:00 2020 GMT" in openssl("x509", "-in", cert.crt, "-noout",
                                                          "-enddate").decode()
    srv = burrow_server("--tls-cert", cert.crt, "--tls-key", cert.key)
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--transport", "tls",
                        "--ca", ca.crt, transport=None)
    assert_refused(srv, cli, r"certificate has expired")


def test_right_ca_and_ip_san_accepted(burrow_server, burrow_client, echo, pki):
    ca = pki.ca("ca-a")
    cert = pki.issue(ca, "server-a", san="IP:127.0.0.1")
    srv = burrow_server("--tls-cert", cert.crt, "--tls-key", cert.key)
    cli = burrow_client(f"tls://127.0.0.1:{srv.port}", "-R", f"0:127.0.0.1:{echo.port}",
                        "--ca", ca.crt, "--pool", "2", transport=None)
    cli.wait_log(AUTHENTICATED % srv.port)
    port = cli.tunnel_port("r1")
    cli.wait_log(r"session \d+: 2 data connections ready")
    data = os.urandom(2 * MB)
    assert sha(roundtrip("127.0.0.1", port, data)) == sha(data)


@pytest.mark.parametrize("san", ["IP:127.0.0.2", "DNS:relay.example.com"])
def test_right_ca_wrong_name_refused(burrow_server, burrow_client, echo, pki, san):
    """The CA is right but the certificate is for another address or name."""
    ca = pki.ca("ca-a")
    cert = pki.issue(ca, "server-a", san=san)
    srv = burrow_server("--tls-cert", cert.crt, "--tls-key", cert.key)
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--transport", "tls",
                        "--ca", ca.crt, transport=None)
    assert_refused(srv, cli, r"(?i)mismatch")


@pytest.mark.parametrize("how", ["flag", "url"])
def test_no_pin_no_ca_shows_fingerprint(burrow_server, burrow_client, echo, how):
    """Neither pin nor CA: the system store does not know the self-signed key;
    the client prints the key and the exact flag to pin it, and exits 1."""
    srv = burrow_server()
    pin = srv.server_key()
    if how == "flag":
        cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--transport", "tls",
                            transport=None)
    else:
        cli = burrow_client(f"tls://127.0.0.1:{srv.port}", "-R", f"0:127.0.0.1:{echo.port}",
                            transport=None)
    assert_refused(srv, cli, re.escape(f"--fingerprint {pin}"))
    m = re.search(r"SHA256:[A-Za-z0-9+/]{43}", cli.text())
    assert m and m.group(0) == pin
    # The hint works as printed.
    ok = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--transport", "tls",
                       "--fingerprint", pin, transport=None)
    assert roundtrip("127.0.0.1", ok.tunnel_port("r1"), b"hint") == b"hint"


# --------------------------------------------------------------------------
# (7) A real TLS peer: openssl s_client
# --------------------------------------------------------------------------

def test_s_client_sees_tls13_and_the_logged_key(burrow_server):
    srv = burrow_server()
    pin = srv.server_key()
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.port}"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    out = r.stdout.decode("utf-8", "replace")
    assert re.search(r"New, TLSv1\.3, Cipher is", out), out
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
    assert m, out
    assert b64_pin(cert_digest(m.group(0).encode())) == pin
    # The server survives a peer that finished TLS and then left.
    assert srv.alive()


def test_state_dir_key_persists(burrow_server, tmp_path):
    """The generated key lives in the state directory, created if missing
    (tls.key unreadable by others, tls.crt), is what the server serves, is
    reused by a later server on the same directory, and another directory
    gets another key. The key itself is never logged."""
    state = tmp_path / "state" / "nested"
    srv = burrow_server(state_dir=str(state))
    pin = srv.server_key()
    assert served_key(srv.port) == ("TLSv1.3", pin)
    assert (state / "tls.key").is_file() and (state / "tls.crt").is_file()
    assert os.stat(state / "tls.key").st_mode & 0o077 == 0, "tls.key readable by group/others"
    assert cert_pin(state / "tls.crt") == pin
    srv.kill(signal.SIGTERM)
    assert srv.wait_exit() == 0
    again = burrow_server(state_dir=str(state))
    assert again.server_key() == pin
    assert again.find(r"generated") is None, again.text()
    assert served_key(again.port) == ("TLSv1.3", pin)
    other = burrow_server(state_dir=str(tmp_path / "state2"))
    assert other.server_key() != pin
    assert served_key(other.port)[1] == other.server_key()
    key_body = "".join((state / "tls.key").read_text().splitlines()[1:-1])
    for p in (srv, again, other):
        assert "PRIVATE KEY" not in p.text()
        assert key_body[:40] not in p.text()


# --------------------------------------------------------------------------
# (8) require_tls; plain and TLS side by side
# --------------------------------------------------------------------------

def test_require_tls_refuses_plain_client(burrow_server, burrow_client, echo):
    srv = burrow_server("--require-tls", "yes")
    plain = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", transport=None)
    assert_refused(srv, plain, r"(?i)requires? TLS")
    good = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", *tls_args(srv.server_key()),
                         transport=None)
    assert roundtrip("127.0.0.1", good.tunnel_port("r1"), b"tls only") == b"tls only"


def test_plain_and_tls_clients_on_one_port(burrow_server, burrow_client, echo):
    srv = burrow_server("--dedicated-after", "64K")
    plain = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "1",
                          "--transport", "tcp", transport=None)
    tls = burrow_client(f"tls://127.0.0.1:{srv.port}", "-R", f"0:127.0.0.1:{echo.port}",
                        "--pool", "1", "--fingerprint", srv.server_key(), transport=None)
    p1, p2 = plain.tunnel_port("r1"), tls.tunnel_port("r1")
    plain.wait_log(r"1 data connections ready")
    tls.wait_log(r"1 data connections ready")
    a, b = os.urandom(MB), os.urandom(MB + 1)
    parallel_roundtrips(p1, [a, a])
    parallel_roundtrips(p2, [b, b])
    for cli in (plain, tls):   # a stream of each session moved (spliced / copied)
        sid = cli.wait_log(r"session (\d+): authenticated").group(1)
        srv.wait_log(r"session %s \(.*stream \d+: moved to a dedicated connection" % sid)


def test_yaml_keys(burrow_server, burrow_client, echo, tmp_path, token):
    """require_tls and state_dir in the server's file, transport and
    fingerprint in the client's."""
    state = tmp_path / "yaml-state"
    scfg = tmp_path / "server.yaml"
    scfg.write_text(f"listen: 127.0.0.1:0\ntoken: {token}\nrequire_tls: yes\nstate_dir: {state}\n")
    srv = burrow_server("-c", str(scfg), listen=None, token=None, state_dir=None)
    pin = srv.server_key()
    assert cert_pin(state / "tls.crt") == pin
    ccfg = tmp_path / "client.yaml"
    ccfg.write_text(f"server: 127.0.0.1:{srv.port}\ntoken: {token}\ntransport: tls\n"
                    f"fingerprint: \"{pin}\"\n")
    cli = burrow_client(f"127.0.0.1:{srv.port}", "-c", str(ccfg), "-R", f"0:127.0.0.1:{echo.port}",
                        token=None, transport=None)
    assert roundtrip("127.0.0.1", cli.tunnel_port("r1"), b"yaml") == b"yaml"


# --------------------------------------------------------------------------
# (9) Trust on first use
# --------------------------------------------------------------------------

def test_trust_on_first_use(burrow_server, burrow_client, echo, tmp_path):
    known = tmp_path / "known_servers"
    tofu = ["--transport", "tls", "--trust-on-first-use", "yes", "--known-servers", str(known)]
    srv = burrow_server(state_dir=str(tmp_path / "key1"))
    pin = srv.server_key()
    control = srv.port

    first = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", *tofu, transport=None)
    assert roundtrip("127.0.0.1", first.tunnel_port("r1"), b"first") == b"first"
    assert first.find(r"(?i)warn.*trust|trust.*" + re.escape(pin)), first.text()
    lines = [l for l in known.read_text().splitlines() if f"127.0.0.1:{control}" in l]
    assert len(lines) == 1 and pin in lines[0], known.read_text()
    first.stop()

    # Known and unchanged: accepted again, the file keeps one entry.
    second = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", *tofu, transport=None)
    assert roundtrip("127.0.0.1", second.tunnel_port("r1"), b"second") == b"second"
    second.stop()
    assert [l for l in known.read_text().splitlines() if f"127.0.0.1:{control}" in l] == lines

    # Same address, new key (a new state directory): refused loudly.
    srv.kill(signal.SIGTERM)
    assert srv.wait_exit() == 0
    srv2 = burrow_server(listen=f"127.0.0.1:{control}", state_dir=str(tmp_path / "key2"))
    assert srv2.server_key() != pin
    third = burrow_client(srv2, "-R", f"0:127.0.0.1:{echo.port}", *tofu, transport=None)
    assert_refused(srv2, third, r"(?i)changed")
    assert [l for l in known.read_text().splitlines() if f"127.0.0.1:{control}" in l] == lines


# --------------------------------------------------------------------------
# (10) Mutual TLS
# --------------------------------------------------------------------------

@pytest.fixture
def mtls(burrow_server, pki):
    """A server that wants client certificates from client-ca, and certificates."""
    ca, foreign = pki.ca("client-ca"), pki.ca("foreign-ca")
    certs = {
        "mine": pki.issue(ca, "client-good", san="DNS:client-good", client=True),
        "foreign": pki.issue(foreign, "client-foreign", san="DNS:client-foreign", client=True),
    }
    srv = burrow_server("--tls-client-ca", ca.crt, "--dedicated-after", "64K")
    return srv, certs


def test_mutual_tls(mtls, burrow_client, echo):
    """A client with a certificate from the CA gets in, its data connections
    too; a plain TCP client is refused as with require_tls."""
    srv, certs = mtls
    mine = certs["mine"]
    good = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", *tls_args(srv.server_key()),
                         "--pool", "1", "--tls-cert", mine.crt, "--tls-key", mine.key, transport=None)
    port = good.tunnel_port("r1")
    good.wait_log(r"1 data connections ready")  # data connections present the certificate too
    data = os.urandom(MB)
    assert sha(roundtrip("127.0.0.1", port, data)) == sha(data)
    srv.wait_log(MOVED)

    mark = srv.mark()
    plain = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", transport=None)
    assert_refused(srv, plain, r"(?i)requires? TLS", since=mark)
    assert roundtrip("127.0.0.1", port, b"still") == b"still"


def start_bad_mtls_client(mtls, burrow_client, echo, cert):
    srv, certs = mtls
    extra = [] if cert == "none" else ["--tls-cert", certs["foreign"].crt, "--tls-key", certs["foreign"].key]
    return burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", *tls_args(srv.server_key()), *extra,
                         transport=None)


@pytest.mark.parametrize("cert", ["none", "foreign"])
def test_mutual_tls_refuses_client_without_a_good_certificate(mtls, burrow_client, echo, cert):
    """No certificate, or one from another CA: the server says why, and the
    client gives up with exit 1 (the refusal is final, like a wrong token),
    never registering a tunnel."""
    srv = mtls[0]
    bad = start_bad_mtls_client(mtls, burrow_client, echo, cert)
    srv.wait_log(r"\(127\.0\.0\.1:\d+\).*(?i:certificate)")
    assert_refused(srv, bad, r"(?i)certificate")


# --------------------------------------------------------------------------
# (11) A man in the middle with its own key cannot log in (channel binding)
# --------------------------------------------------------------------------

def start_socat(procs, listen_args, connect):
    port = free_port()
    p = Proc("socat", ["socat", "-d", "-d",
                       f"OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,{listen_args}", connect])
    p.checked = True  # stopped at teardown; its exit status does not matter
    procs.append(p)
    p.wait_log(r"listening on")
    return port


@pytest.mark.parametrize("upstream", ["tls", "tcp"])
def test_mitm_cannot_authenticate(burrow_server, burrow_client, echo, pki, procs, upstream):
    """socat terminates TLS with its own key and forwards to the real server,
    over TLS or plain TCP. The client is pinned to socat's key, so TLS
    succeeds. Over TLS upstream, the AUTH proofs cover the TLS exporter,
    which differs on the two legs: the server refuses, the client exits 1.
    Over plain TCP upstream, the server's HELLO says it does not terminate
    the client's TLS (no CAP_TLS): a tls client refuses before AUTH, exit 1."""
    srv = burrow_server()
    mitm = pki.self_signed("mitm")
    connect = (f"OPENSSL:127.0.0.1:{srv.port},verify=0" if upstream == "tls"
               else f"TCP:127.0.0.1:{srv.port}")
    mport = start_socat(procs, f"cert={mitm.crt},key={mitm.key},verify=0", connect)
    cli = burrow_client(f"127.0.0.1:{mport}", "-R", f"0:127.0.0.1:{echo.port}",
                        *tls_args(mitm.pin), transport=None)
    if upstream == "tls":
        srv.wait_log(r"authentication failed")
    rc = cli.wait_exit()
    assert rc == 1, f"client rc={rc}, want 1"
    if upstream == "tls":
        assert cli.find(r"(?i)authentication"), cli.text()
    else:
        assert cli.find(r"does not terminate this TLS connection itself"), cli.text()
        assert srv.find(r"authenticated") is None
    assert cli.find(r"does not match") is None, "TLS to the MITM should have succeeded (pinned)"
    assert cli.find(r"authenticated to") is None
    assert srv.find(r"tunnel r1 listening") is None


# --------------------------------------------------------------------------
# (12) Broken TLS on the control port
# --------------------------------------------------------------------------

def client_hello():
    """A genuine TLS ClientHello (Python's ssl over memory BIOs)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = out.read()
    assert hello[:1] == b"\x16" and hello[5:6] == b"\x01"
    return hello


@pytest.fixture
def tls_tunnel(burrow_server, burrow_client, echo):
    def make(*server_args):
        srv = burrow_server(*server_args)
        cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", *tls_args(srv.server_key()),
                            transport=None)
        port = cli.tunnel_port("r1")
        assert roundtrip("127.0.0.1", port, b"pre") == b"pre"
        return srv, cli, port
    return make


@pytest.mark.parametrize("kind", ["record-garbage", "handshake-garbage", "oversized-record"])
def test_fake_tls_records_closed(tls_tunnel, burrow_client, echo, conns, kind):
    """Bytes that start like TLS but are not: closed well before the
    handshake timeout, the TLS session is untouched and a new TLS client
    still gets in."""
    srv, cli, port = tls_tunnel()
    payload = {
        "record-garbage": b"\x16\x03\x01\x00\x40" + os.urandom(64),
        "handshake-garbage": b"\x16\x03\x01\x00\x08\x01\x00\x00\x04\xff\xff\xff\xff",
        "oversized-record": b"\x16\x03\x01\xff\xff" + b"\x01" * 1024,
    }[kind]
    mark = srv.mark()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    conns.append(s)
    local = s.getsockname()[1]
    try:
        s.sendall(payload)
    except OSError:
        pass
    assert_closed_by_peer(s, timeout=3)
    srv.wait_log(r"\(127\.0\.0\.1:%d\).*closed" % local, since=mark)
    assert roundtrip("127.0.0.1", port, b"post") == b"post"
    other = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", *tls_args(srv.server_key()),
                          transport=None)
    assert roundtrip("127.0.0.1", other.tunnel_port("r1"), b"new") == b"new"
    assert cli.find(r"disconnected") is None


@pytest.mark.parametrize("part", ["half", "whole"])
def test_unfinished_client_hello(tls_tunnel, burrow_client, echo, conns, part):
    """A ClientHello cut in half, or whole and then silence: the server does
    not block on it (a new TLS client logs in meanwhile) and drops it at the
    handshake timeout."""
    srv, cli, port = tls_tunnel("--handshake-timeout", "1s")
    hello = client_hello()
    mark = srv.mark()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    conns.append(s)
    local = s.getsockname()[1]
    s.sendall(hello[:len(hello) // 2] if part == "half" else hello)
    other = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", *tls_args(srv.server_key()),
                          transport=None)
    assert roundtrip("127.0.0.1", other.tunnel_port("r1"), b"meanwhile") == b"meanwhile"
    s.settimeout(4)
    got = b""
    try:
        while True:
            d = s.recv(65536)   # a whole hello gets the server's flight, then EOF
            if not d:
                break
            got += d
    except ConnectionResetError:
        pass
    except socket.timeout:
        raise AssertionError("an unfinished handshake outlived the 1 s handshake timeout")
    if part == "whole":
        assert got[:1] == b"\x16", f"no ServerHello for a whole ClientHello: {got[:16]!r}"
    else:
        assert got == b""
    srv.wait_log(r"\(127\.0\.0\.1:%d\).*closed" % local, since=mark)
    assert roundtrip("127.0.0.1", port, b"post") == b"post"


# --------------------------------------------------------------------------
# (13) SIGHUP reloads --tls-cert/--tls-key
# --------------------------------------------------------------------------

def test_sighup_reloads_certificate(burrow_server, burrow_client, echo, pki, tmp_path):
    """Replace the files, SIGHUP: the new key is logged and served to new
    clients, a client pinned to the old key is refused, and the session made
    before the reload goes on, over its control connection and the data
    connection it had."""
    old = pki.self_signed("hup-old")
    new = pki.self_signed("hup-new")
    crt, key = tmp_path / "server.crt", tmp_path / "server.key"
    crt.write_bytes(open(old.crt, "rb").read())
    key.write_bytes(open(old.key, "rb").read())
    os.chmod(key, 0o600)
    srv = burrow_server("--tls-cert", str(crt), "--tls-key", str(key), "--dedicated-after", "64K")
    assert srv.server_key() == old.pin
    before = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", *tls_args(old.pin), "--pool", "1",
                           transport=None)
    p_before = before.tunnel_port("r1")
    before.wait_log(r"1 data connections ready")

    # Replace both files (each atomically), then SIGHUP.
    for src, dst in ((new.key, key), (new.crt, crt)):
        tmp = str(dst) + ".tmp"
        with open(src, "rb") as f, open(tmp, "wb") as g:
            g.write(f.read())
        os.chmod(tmp, 0o600)
        os.replace(tmp, dst)
    mark = srv.mark()
    srv.kill(signal.SIGHUP)
    assert srv.wait_log(RE_SERVER_KEY, since=mark).group(1) == new.pin
    assert srv.alive()
    assert served_key(srv.port) == ("TLSv1.3", new.pin)

    after = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", *tls_args(new.pin), transport=None)
    assert roundtrip("127.0.0.1", after.tunnel_port("r1"), b"new key") == b"new key"
    stale = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", *tls_args(old.pin), transport=None)
    rc = stale.wait_exit()
    assert rc == 1 and stale.find(r"does not match"), stale.text()
    # The session made before the reload goes on; a bulk stream moves to
    # the data connection it opened under the old key.
    assert roundtrip("127.0.0.1", p_before, b"old session") == b"old session"
    mark = srv.mark()
    data = os.urandom(MB)
    assert sha(roundtrip("127.0.0.1", p_before, data)) == sha(data)
    srv.wait_log(MOVED, since=mark)
    assert before.find(r"disconnected") is None


def test_sighup_with_broken_files_keeps_the_old_key(burrow_server, burrow_client, echo, pki, tmp_path):
    """A reload that cannot read the new files logs why and keeps serving
    with the key it had."""
    old = pki.self_signed("hup-old")
    crt, key = tmp_path / "server.crt", tmp_path / "server.key"
    crt.write_bytes(open(old.crt, "rb").read())
    key.write_bytes(open(old.key, "rb").read())
    srv = burrow_server("--tls-cert", str(crt), "--tls-key", str(key))
    assert srv.server_key() == old.pin
    crt.write_text("not a certificate\n")
    mark = srv.mark()
    srv.kill(signal.SIGHUP)
    srv.wait_log(re.escape(str(crt)), since=mark)   # says which file it could not use
    assert srv.find(RE_SERVER_KEY, since=mark) is None or srv.server_key(since=mark) == old.pin
    assert srv.alive()
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", *tls_args(old.pin), transport=None)
    assert roundtrip("127.0.0.1", cli.tunnel_port("r1"), b"kept") == b"kept"
