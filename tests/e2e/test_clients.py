"""Per-client credentials and policy: the server's `clients:` list.

A named client (--name, YAML `name`) logs in with its own token and/or the
TLS client certificate its entry pins (`fingerprint: SHA256:...`, the SHA-256
of the certificate's SubjectPublicKeyInfo), and gets its own allow_ports,
max_tunnels and max_streams (missing fields: the server-wide options). With a
clients list the server may run without the shared token; then only named
clients get in. SIGHUP re-reads the list: a client whose entry is removed or
whose credentials changed is disconnected and cannot log in again, everybody
else keeps their session; a changed allow_ports applies to new REGISTERs and
to new user connections; a bad file is refused with file:line and the list
in force stays.

Real peers only: the burrow binary, openssl for the client certificates,
Python echo services. Every test also checks that no token (nor a client's
private key) shows in any process's output.

The servers here are started from a config file written by the test
(`World.server`), always with --state-dir in the test's tmp_path; the clients
choose their transport themselves: TLS whenever they present a certificate,
else what BURROW_E2E_TRANSPORT asks for (plain TCP by default).
"""

import os
import re
import secrets
import signal
import socket
import subprocess

import pytest

import conftest
from conftest import LOG_TIMEOUT, Proc, free_port, recv_exact, roundtrip, sha, wait_refused

E2E_TRANSPORT = getattr(conftest, "E2E_TRANSPORT", "tcp")
RE_SERVER_KEY = r"tls: server key (SHA256:[A-Za-z0-9+/]{43})(?![A-Za-z0-9+/=])"
RE_LISTENING = r"server listening on (\S+):(\d+)"

CERT_REFUSED = "this client's certificate is required and was not presented or does not match"
REVOKED = "this client's credentials were revoked"


def _has_tls_and_clients(bin_path):
    try:
        r = subprocess.run([bin_path, "client", "--help"], capture_output=True, timeout=10)
    except OSError:
        return False
    out = r.stdout + r.stderr
    return b"--name" in out and b"--tls-cert" in out


pytestmark = pytest.mark.skipif(not _has_tls_and_clients(conftest.BURROW_BIN),
                                reason="burrow binary without named clients (--name) or TLS")


# --------------------------------------------------------------------------
# Client certificates (the openssl command line)
# --------------------------------------------------------------------------

class ClientCert:
    """An EC P-256 self-signed certificate and its key in a directory, and
    its pin as the server's config wants it (SHA256:base64 of the SPKI)."""

    def __init__(self, d, name):
        d.mkdir(parents=True, exist_ok=True)
        self.key = str(d / f"{name}.key.pem")
        self.crt = str(d / f"{name}.crt.pem")
        r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                            "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                            "-keyout", self.key, "-out", self.crt, "-subj", f"/CN={name}",
                            "-days", "1"], capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr.decode()
        r = subprocess.run(["bash", "-o", "pipefail", "-c",
                            'openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der'
                            " | openssl dgst -sha256 -binary | base64 | tr -d '='", "fp", self.crt],
                           capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr.decode()
        self.pin = "SHA256:" + r.stdout.decode().strip()
        assert re.fullmatch(r"SHA256:[A-Za-z0-9+/]{43}", self.pin), self.pin
        with open(self.key) as f:
            body = "".join(l for l in f.read().splitlines() if not l.startswith("-----"))
        self.secret = body[:48]   # a piece of the private key that must never be logged


# --------------------------------------------------------------------------
# Config files
# --------------------------------------------------------------------------

def entry(name, token=None, fingerprint=None, allow_ports=None, max_tunnels=None, max_streams=None):
    """One item of the clients: list, as YAML lines."""
    lines = [f"  - name: {name}"]
    for key, value in (("token", token), ("fingerprint", fingerprint), ("allow_ports", allow_ports),
                       ("max_tunnels", max_tunnels), ("max_streams", max_streams)):
        if value is not None:
            lines.append(f'    {key}: "{value}"')
    return "\n".join(lines) + "\n"


def server_yaml(entries, extra=()):
    text = "listen: 127.0.0.1:0\n" + "".join(f"{l}\n" for l in extra)
    if entries is not None:
        text += "clients:\n" + "".join(entries)
    return text


def write_atomically(path, text):
    tmp = str(path) + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def line_of(text, needle, nth=1):
    """1-based line number of the nth line of text that contains needle."""
    seen = 0
    for i, l in enumerate(text.splitlines(), 1):
        if needle in l:
            seen += 1
            if seen == nth:
                return i
    raise AssertionError(f"{needle!r} not in the file")


def new_token(who):
    return f"{who}-" + secrets.token_hex(16)


# --------------------------------------------------------------------------
# The test's world: one config file, servers started from it, clients
# --------------------------------------------------------------------------

class World:
    def __init__(self, burrow_bin, procs, tmp_path):
        self.bin = burrow_bin
        self.procs = procs
        self.tmp = tmp_path
        self.cfg = tmp_path / "server.yaml"
        self.state = tmp_path / "burrow-state"
        self.secrets = []        # strings that must appear in no process output
        self.n = 0

    def secret(self, s):
        self.secrets.append(s)
        return s

    def token(self, who):
        return self.secret(new_token(who))

    def cert(self, name):
        c = ClientCert(self.tmp / "certs", name)
        self.secret(c.secret)
        return c

    def _env(self, token):
        env = dict(os.environ)
        env.pop("BURROW_TOKEN", None)
        if token is not None:
            env["BURROW_TOKEN"] = token
        return env

    def write(self, entries, extra=()):
        text = server_yaml(entries, extra)
        write_atomically(self.cfg, text)
        return text

    def server(self, entries, shared=None, extra=()):
        """A server from the config file (written from entries unless None);
        `shared` is the shared token (BURROW_TOKEN), None for none."""
        if entries is not None:
            self.write(entries, extra)
        self.n += 1
        argv = [self.bin, "server", "-c", str(self.cfg), "--state-dir", str(self.state)]
        p = Proc(f"server#{self.n}", argv, self._env(shared))
        p.role = "server"
        self.procs.append(p)
        m = p.wait_log(RE_LISTENING)
        p.host, p.port = m.group(1), int(m.group(2))
        p.key = p.wait_log(RE_SERVER_KEY).group(1)
        return p

    def client(self, srv, *args, name=None, token=None, cert=None, tls=None, config=None):
        """A client of srv. tls: None = TLS if it presents a certificate, else
        as BURROW_E2E_TRANSPORT says; True/False to choose."""
        self.n += 1
        argv = [self.bin, "client"]
        if config is not None:
            argv += ["-c", str(config)]
        else:
            argv += ["--server", f"127.0.0.1:{srv.port}"]
        if tls is None:
            tls = cert is not None or E2E_TRANSPORT == "tls"
        if tls:
            argv += ["--transport", "tls", "--fingerprint", srv.key]
        if name is not None:
            argv += ["--name", name]
        if cert is not None:
            argv += ["--tls-cert", cert.crt, "--tls-key", cert.key]
        argv += list(args)
        p = Proc(f"client#{self.n}" + (f"({name})" if name else ""), argv, self._env(token))
        p.role = "client"
        self.procs.append(p)
        return p

    def hup(self, srv, regex=r"reload: \d+ named clients, \d+ disconnected"):
        """SIGHUP; waits for the reload's verdict line and returns its match."""
        mark = srv.mark()
        srv.kill(signal.SIGHUP)
        return srv.wait_log(regex, since=mark)

    def assert_secrets_hidden(self):
        for p in self.procs:
            with p.cond:
                text = "\n".join(p.lines + p.out_lines)
            for s in self.secrets:
                assert s not in text, f"{p.name} logged a secret ({s[:8]}...):\n{text}"


@pytest.fixture
def world(burrow_bin, procs, tmp_path):
    return World(burrow_bin, procs, tmp_path)


# --------------------------------------------------------------------------
# Assertions
# --------------------------------------------------------------------------

AUTHENTICATED = r"session (\d+): authenticated to 127\.0\.0\.1:%d"


def session_of(cli, srv):
    return int(cli.wait_log(AUTHENTICATED % srv.port).group(1))


def assert_refused(srv, cli, regex, since=0):
    """The client gave up with exit 1, said why, and never retried; no
    tunnel was registered for it."""
    rc = cli.wait_exit()
    text = cli.text()
    assert rc == 1, f"{cli.name}: rc={rc}, want 1:\n{text}"
    assert cli.find(regex), f"{cli.name}: no line /{regex}/:\n{text}"
    assert cli.find(r"reconnecting in") is None, f"{cli.name} retried a refusal:\n{text}"
    assert cli.find(r"authenticated to") is None, text
    assert cli.find(r"tunnel r\d+: listening") is None, text


def assert_server_refused(srv, why, since=0):
    srv.wait_log(r"session \d+ \(127\.0\.0\.1:\d+\): authentication failed: " + re.escape(why),
                 since=since)


def held_conn(port, tag, conns):
    """A user connection through a tunnel that has echoed one message."""
    s = socket.create_connection(("127.0.0.1", port), timeout=LOG_TIMEOUT)
    conns.append(s)
    s.sendall(tag)
    assert recv_exact(s, len(tag)) == tag
    return s


def still_echoes(s, tag):
    s.sendall(tag)
    assert recv_exact(s, len(tag)) == tag


def assert_closed_at_once(s, timeout=5):
    """The far end closes s without sending anything (EOF or reset)."""
    s.settimeout(timeout)
    try:
        d = s.recv(100)
    except ConnectionResetError:
        return
    except socket.timeout:
        raise AssertionError(f"connection still open after {timeout}s")
    assert d == b"", f"expected the connection closed, got {d!r}"


def refused_conn(srv, port, why, conns):
    """A user connection to port is closed at once and the server logs why."""
    s = socket.create_connection(("127.0.0.1", port), timeout=LOG_TIMEOUT)
    conns.append(s)
    local = s.getsockname()[1]
    assert_closed_at_once(s)
    srv.wait_log(r"tunnel r\d+: connection from 127\.0\.0\.1:%d refused: %s$" % (local, re.escape(why)))


def free_ports(n):
    ports = set()
    while len(ports) < n:
        ports.add(free_port())
    return sorted(ports)


# --------------------------------------------------------------------------
# 1. Logging in with a name: own token, YAML name, shared token side by side
# --------------------------------------------------------------------------

def test_named_clients_and_shared_token_side_by_side(world, echo):
    """alice and bob log in with their own tokens, an unnamed client with the
    shared token; each gets a working tunnel; the server says who is who."""
    shared, ta, tb = world.token("shared"), world.token("alice"), world.token("bob")
    srv = world.server([entry("alice", token=ta), entry("bob", token=tb)], shared=shared)
    alice = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="alice", token=ta)
    bob = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="bob", token=tb)
    anon = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", token=shared)
    for cli, who in ((alice, "alice"), (bob, "bob")):
        sid = session_of(cli, srv)
        srv.wait_log(r"session %d \(127\.0\.0\.1:\d+\): authenticated as client %s$" % (sid, who))
        port = cli.tunnel_port("r1")
        assert roundtrip("127.0.0.1", port, who.encode()) == who.encode()
    sid = session_of(anon, srv)
    srv.wait_log(r"session %d \(127\.0\.0\.1:\d+\): authenticated$" % sid)
    assert roundtrip("127.0.0.1", anon.tunnel_port("r1"), b"anon") == b"anon"
    world.assert_secrets_hidden()


def test_name_and_token_in_the_client_yaml(world, echo, tmp_path):
    ta = world.token("alice")
    srv = world.server([entry("alice", token=ta)])
    ccfg = tmp_path / "client.yaml"
    ccfg.write_text(f"server: 127.0.0.1:{srv.port}\nname: alice\ntoken: {ta}\n"
                    + (f"transport: tls\nfingerprint: \"{srv.key}\"\n" if E2E_TRANSPORT == "tls" else "")
                    + "tunnels:\n  - name: web\n    remote: 0\n"
                    + f"    local: 127.0.0.1:{echo.port}\n")
    cli = world.client(srv, config=ccfg, tls=False)
    port = cli.tunnel_port("web")
    srv.wait_log(r"authenticated as client alice$")
    assert roundtrip("127.0.0.1", port, b"yaml name") == b"yaml name"
    world.assert_secrets_hidden()


@pytest.mark.parametrize("which", ["wrong", "shared", "another client's"])
def test_wrong_token_for_a_name(world, echo, which):
    """A name with any token but its own is refused for good (exit 1): a
    random one, the shared token, or another client's token."""
    shared, ta, tb = world.token("shared"), world.token("alice"), world.token("bob")
    srv = world.server([entry("alice", token=ta), entry("bob", token=tb)], shared=shared)
    bad_token = {"wrong": world.token("guess"), "shared": shared, "another client's": tb}[which]
    bad = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="alice", token=bad_token)
    assert_refused(srv, bad, r"authentication failed: wrong token for this client name$")
    assert_server_refused(srv, "wrong token for this client name")
    assert srv.find(r"authenticated as client") is None
    # alice with her own token still gets in.
    good = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="alice", token=ta)
    assert roundtrip("127.0.0.1", good.tunnel_port("r1"), b"alice") == b"alice"
    world.assert_secrets_hidden()


def test_unknown_name(world, echo):
    shared, ta = world.token("shared"), world.token("alice")
    srv = world.server([entry("alice", token=ta)], shared=shared)
    for token in (shared, ta):   # neither the shared token nor alice's makes "carol" known
        mark = srv.mark()
        bad = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="carol", token=token)
        assert_refused(srv, bad, r"authentication failed: unknown client name$")
        assert_server_refused(srv, "unknown client name", since=mark)
    assert srv.find(r"tunnel r1 listening") is None
    world.assert_secrets_hidden()


def test_only_named_clients_without_a_shared_token(world, echo):
    """A clients list and no shared token: an unnamed client is refused for
    good, whatever token it has; alice gets in."""
    ta = world.token("alice")
    srv = world.server([entry("alice", token=ta)], shared=None)
    anon = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", token=ta)
    why = "this server knows only named clients (--name)"
    assert_refused(srv, anon, r"authentication failed: " + re.escape(why) + "$")
    assert_server_refused(srv, why)
    alice = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="alice", token=ta)
    assert roundtrip("127.0.0.1", alice.tunnel_port("r1"), b"named") == b"named"
    srv.wait_log(r"authenticated as client alice$")
    world.assert_secrets_hidden()


def test_client_name_must_be_valid(world, echo):
    """--name takes 1 to 64 of [A-Za-z0-9._-]: anything else is a usage error."""
    good = "Az09._-" + "a" * 57
    for name in ("bad name", "x/y", "a" * 65, "", "caf\u00e9"):
        r = subprocess.run([world.bin, "client", "--server", "127.0.0.1:1", "--name", name,
                            "-R", f"0:127.0.0.1:{echo.port}"],
                           capture_output=True, timeout=10, env=world._env("tok-" + "x" * 20))
        assert r.returncode == 2, (name, r.returncode, r.stderr.decode())
        assert b"--name" in r.stderr, r.stderr.decode()
    # The longest valid name is accepted (the client runs until stopped).
    srv = world.server([entry(good, token=world.token("long"))])
    cli = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name=good, token=world.secrets[-1])
    srv.wait_log(r"authenticated as client %s$" % re.escape(good))
    assert roundtrip("127.0.0.1", cli.tunnel_port("r1"), b"long") == b"long"
    world.assert_secrets_hidden()


# --------------------------------------------------------------------------
# 2. Certificates: pinned per client, with and without a token
# --------------------------------------------------------------------------

def test_token_and_certificate(world, echo, conns):
    """An entry with a token and a fingerprint wants both: the right pair
    gets in, its data connections too (a bulk stream moves to one)."""
    tc, mine = world.token("carol"), world.cert("carol")
    srv = world.server([entry("carol", token=tc, fingerprint=mine.pin)],
                       extra=["dedicated_after: 64K"])
    cli = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "1",
                       name="carol", token=tc, cert=mine)
    sid = session_of(cli, srv)
    srv.wait_log(r"session %d \(127\.0\.0\.1:\d+\): authenticated as client carol$" % sid)
    port = cli.tunnel_port("r1")
    cli.wait_log(r"session \d+: 1 data connections ready")
    data = os.urandom(1 << 20)
    assert sha(roundtrip("127.0.0.1", port, data)) == sha(data)
    srv.wait_log(r"session %d \(.*stream \d+: moved to a dedicated connection" % sid)
    assert srv.find(CERT_REFUSED) is None
    world.assert_secrets_hidden()


@pytest.mark.parametrize("how", ["plain TCP", "TLS without a certificate", "another certificate"])
def test_pinned_certificate_missing_or_wrong(world, echo, how):
    """The right token is not enough when the entry pins a certificate."""
    tc, mine = world.token("carol"), world.cert("carol")
    srv = world.server([entry("carol", token=tc, fingerprint=mine.pin)])
    kw = {"plain TCP": dict(tls=False),
          "TLS without a certificate": dict(tls=True),
          "another certificate": dict(cert=world.cert("mallory"))}[how]
    bad = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="carol", token=tc, **kw)
    assert_refused(srv, bad, r"authentication failed: " + re.escape(CERT_REFUSED) + "$")
    assert_server_refused(srv, CERT_REFUSED)
    assert srv.find(r"authenticated as client") is None
    good = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="carol", token=tc, cert=mine)
    assert roundtrip("127.0.0.1", good.tunnel_port("r1"), b"carol") == b"carol"
    world.assert_secrets_hidden()


def test_certificate_only_client_needs_no_token(world, echo):
    """An entry with only a fingerprint: the client runs with no token at
    all (neither BURROW_TOKEN nor --token), its certificate is its proof."""
    mine = world.cert("dave")
    shared = world.token("shared")
    srv = world.server([entry("dave", fingerprint=mine.pin)], shared=shared)
    cli = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="dave", token=None, cert=mine)
    sid = session_of(cli, srv)
    srv.wait_log(r"session %d \(127\.0\.0\.1:\d+\): authenticated as client dave$" % sid)
    assert roundtrip("127.0.0.1", cli.tunnel_port("r1"), b"no token") == b"no token"
    world.assert_secrets_hidden()


def test_certificate_only_entry_refuses_another_certificate(world, echo):
    mine, other = world.cert("dave"), world.cert("mallory")
    srv = world.server([entry("dave", fingerprint=mine.pin)], shared=world.token("shared"))
    bad = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="dave", token=None, cert=other)
    assert_refused(srv, bad, r"authentication failed: " + re.escape(CERT_REFUSED) + "$")
    assert_server_refused(srv, CERT_REFUSED)
    # Without a certificate and without a token the client cannot even start.
    r = subprocess.run([world.bin, "client", "--server", f"127.0.0.1:{srv.port}", "--name", "dave",
                        "--transport", "tls", "--fingerprint", srv.key,
                        "-R", f"0:127.0.0.1:{echo.port}"],
                       capture_output=True, timeout=10, env=world._env(None))
    assert r.returncode == 2 and b"no token" in r.stderr, r.stderr.decode()
    world.assert_secrets_hidden()


def test_certificate_only_entry_with_a_token_but_no_certificate(world, echo):
    """An entry that pins a certificate refuses a client that presents none
    with the certificate message, also when the entry has no token (the
    client then needs a token to start at all, and the entry has none to
    compare it with: the missing certificate is what is wrong)."""
    mine = world.cert("dave")
    srv = world.server([entry("dave", fingerprint=mine.pin)], shared=world.token("shared"))
    bad = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="dave",
                       token=world.token("dave-guess"), tls=True)
    assert_refused(srv, bad, r"authentication failed: " + re.escape(CERT_REFUSED) + "$")
    world.assert_secrets_hidden()


# --------------------------------------------------------------------------
# 3. Per-client policy: allow_ports, max_tunnels, max_streams
# --------------------------------------------------------------------------

def test_per_client_allow_ports(world, echo):
    """alice's allow_ports (a range and a port) replaces the server's; bob
    has none and an unnamed client uses the server's."""
    p_srv, p_a1, p_a2 = free_ports(3)
    shared, ta, tb = world.token("shared"), world.token("alice"), world.token("bob")
    srv = world.server([entry("alice", token=ta, allow_ports=f"{p_a1}-{p_a1},{p_a2}"),
                        entry("bob", token=tb)],
                       shared=shared, extra=[f"allow_ports: {p_srv}"])
    alice = world.client(srv, "-R", f"{p_srv}:127.0.0.1:{echo.port}",
                         "-R", f"{p_a1}:127.0.0.1:{echo.port}",
                         "-R", f"{p_a2}:127.0.0.1:{echo.port}",
                         "-R", f"0:127.0.0.1:{echo.port}", name="alice", token=ta)
    alice.wait_log(r"tunnel r1: registration failed: port %d is not allowed by the server$" % p_srv)
    assert alice.tunnel_port("r2") == p_a1
    assert alice.tunnel_port("r3") == p_a2
    any_port = alice.tunnel_port("r4")          # 0 (any free port) is always allowed
    for port in (p_a1, p_a2, any_port):
        assert roundtrip("127.0.0.1", port, b"alice %d" % port) == b"alice %d" % port
    srv.wait_log(r"tunnel r1: port %d is not allowed by the server" % p_srv)
    assert alice.find(r"tunnel r1: listening") is None

    for cli_kw, who in ((dict(name="bob", token=tb), "bob"), (dict(token=shared), "anon")):
        cli = world.client(srv, "-R", f"{p_a2}:127.0.0.1:{echo.port}",
                           "-R", f"{p_srv}:127.0.0.1:{echo.port}", **cli_kw)
        cli.wait_log(r"tunnel r1: registration failed: port %d is not allowed by the server$" % p_a2)
        assert cli.tunnel_port("r2") == p_srv, who
        assert roundtrip("127.0.0.1", p_srv, who.encode()) == who.encode()
        cli.kill(signal.SIGTERM)
        assert cli.wait_exit() == 0
        wait_refused("127.0.0.1", p_srv)
    world.assert_secrets_hidden()


def test_per_client_max_tunnels(world, service):
    """Server max_tunnels 1; alice may have 2; bob (no max_tunnels) and an
    unnamed client get the server's 1."""
    svcs = [service("echo") for _ in range(3)]
    shared, ta, tb = world.token("shared"), world.token("alice"), world.token("bob")
    srv = world.server([entry("alice", token=ta, max_tunnels=2), entry("bob", token=tb)],
                       shared=shared, extra=["max_tunnels: 1"])
    specs = []
    for s in svcs:
        specs += ["-R", f"0:127.0.0.1:{s.port}"]
    alice = world.client(srv, *specs, name="alice", token=ta)
    alice.wait_log(r"tunnel r3: registration failed: too many tunnels \(max_tunnels 2\)$")
    for name in ("r1", "r2"):
        assert roundtrip("127.0.0.1", alice.tunnel_port(name), name.encode()) == name.encode()
    for kw in (dict(name="bob", token=tb), dict(token=shared)):
        cli = world.client(srv, *specs[:4], **kw)
        cli.wait_log(r"tunnel r2: registration failed: too many tunnels \(max_tunnels 1\)$")
        assert roundtrip("127.0.0.1", cli.tunnel_port("r1"), b"one") == b"one"
    srv.wait_log(r"tunnel r3: too many tunnels \(max_tunnels 2\)")
    world.assert_secrets_hidden()


def test_per_client_max_streams(world, echo, conns):
    """alice max_streams 2: two user connections stay open, a third is
    refused and logged; bob (no max_streams) gets the server's 3."""
    ta, tb = world.token("alice"), world.token("bob")
    srv = world.server([entry("alice", token=ta, max_streams=2), entry("bob", token=tb)],
                       extra=["max_streams: 3"])
    alice = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "0", name="alice", token=ta)
    bob = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "0", name="bob", token=tb)
    for cli, limit in ((alice, 2), (bob, 3)):
        port = cli.tunnel_port("r1")
        held = [held_conn(port, b"conn %d" % i, conns) for i in range(limit)]
        refused_conn(srv, port, f"too many streams (max_streams {limit})", conns)
        for i, s in enumerate(held):
            still_echoes(s, b"again %d" % i)
    world.assert_secrets_hidden()


# --------------------------------------------------------------------------
# 4. SIGHUP: revocation, a changed allow_ports, a bad file
# --------------------------------------------------------------------------

def test_reload_unchanged_disconnects_nobody(world, echo, conns):
    ta = world.token("alice")
    srv = world.server([entry("alice", token=ta)])
    alice = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="alice", token=ta)
    port = alice.tunnel_port("r1")
    s = held_conn(port, b"before", conns)
    world.hup(srv, r"reload: 1 named clients, 0 disconnected$")
    still_echoes(s, b"after")
    assert roundtrip("127.0.0.1", port, b"new") == b"new"
    assert srv.find(r"revoked") is None
    world.assert_secrets_hidden()


@pytest.mark.parametrize("change", ["removed", "token changed"])
def test_reload_revokes_a_client(world, echo, conns, change):
    """alice's entry is removed or gets a new token: her session is closed
    (exit 1, her tunnel gone) and she cannot log in again with what she
    had; bob and an unnamed client keep their sessions and tunnels (same
    session id, a connection held across the reload still echoes)."""
    shared, ta, tb = world.token("shared"), world.token("alice"), world.token("bob")
    srv = world.server([entry("alice", token=ta), entry("bob", token=tb)], shared=shared)
    alice = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="alice", token=ta)
    bob = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="bob", token=tb)
    anon = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", token=shared)
    a_sid = session_of(alice, srv)
    a_port = alice.tunnel_port("r1")
    a_held = held_conn(a_port, b"alice before", conns)
    others = []
    for cli in (bob, anon):
        sid, port = session_of(cli, srv), cli.tunnel_port("r1")
        others.append((cli, sid, port, held_conn(port, b"before %d" % sid, conns)))
    assert roundtrip("127.0.0.1", a_port, b"alice") == b"alice"

    ta2 = world.token("alice2")
    entries = [entry("bob", token=tb)]
    if change == "token changed":
        entries.insert(0, entry("alice", token=ta2))
    world.write(entries)
    n = len(entries)
    world.hup(srv, r"reload: %d named clients, 1 disconnected$" % n)
    srv.wait_log(r"session %d \(127\.0\.0\.1:\d+\): client alice revoked: disconnected$" % a_sid)
    rc = alice.wait_exit()
    assert rc == 1, f"revoked client rc={rc}:\n{alice.text()}"
    assert alice.find(r"authentication failed: " + re.escape(REVOKED) + "$"), alice.text()
    assert alice.find(r"reconnecting in") is None, alice.text()
    wait_refused("127.0.0.1", a_port)
    assert_closed_at_once(a_held)   # her user connections end with her session

    # The others: same sessions, tunnels working, held connections intact.
    for cli, sid, port, s in others:
        still_echoes(s, b"after %d" % sid)
        assert roundtrip("127.0.0.1", port, b"new %d" % sid) == b"new %d" % sid
        assert [int(m) for m in re.findall(AUTHENTICATED % srv.port, cli.text())] == [sid]
        assert cli.find(r"disconnected|reconnecting") is None, cli.text()
        assert srv.find(r"session %d \(.*(closed|revoked)" % sid) is None
    assert srv.find(r"client bob revoked") is None

    # alice cannot come back with what she had.
    again = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="alice", token=ta)
    why = "unknown client name" if change == "removed" else "wrong token for this client name"
    assert_refused(srv, again, r"authentication failed: " + re.escape(why) + "$")
    if change == "token changed":   # with the new token she is welcome
        fresh = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="alice", token=ta2)
        assert roundtrip("127.0.0.1", fresh.tunnel_port("r1"), b"back") == b"back"
    world.assert_secrets_hidden()


def test_reload_revokes_a_changed_fingerprint(world, echo, conns):
    """carol's entry pins a new certificate: her session with the old one is
    closed; the old certificate is refused from then on, the new one works;
    dave (certificate only, unchanged) keeps his session."""
    tc, old, new, dcert = world.token("carol"), world.cert("carol-old"), world.cert("carol-new"), \
        world.cert("dave")
    srv = world.server([entry("carol", token=tc, fingerprint=old.pin),
                        entry("dave", fingerprint=dcert.pin)], extra=["dedicated_after: 64K"])
    carol = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "1",
                         name="carol", token=tc, cert=old)
    dave = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="dave", cert=dcert)
    c_sid, d_sid = session_of(carol, srv), session_of(dave, srv)
    d_port = dave.tunnel_port("r1")
    held = held_conn(d_port, b"dave before", conns)
    # A stream of carol's that moved to her (certificate-checked) data connection.
    c_port = carol.tunnel_port("r1")
    carol.wait_log(r"session \d+: 1 data connections ready")
    moved = held_conn(c_port, os.urandom(256 * 1024), conns)
    srv.wait_log(r"session %d \(.*stream \d+: moved to a dedicated connection" % c_sid)

    world.write([entry("carol", token=tc, fingerprint=new.pin), entry("dave", fingerprint=dcert.pin)])
    world.hup(srv, r"reload: 2 named clients, 1 disconnected$")
    srv.wait_log(r"session %d \(127\.0\.0\.1:\d+\): client carol revoked: disconnected$" % c_sid)
    assert carol.wait_exit() == 1
    assert carol.find(r"authentication failed: " + re.escape(REVOKED) + "$"), carol.text()
    assert_closed_at_once(moved)    # the moved stream ends with her session
    wait_refused("127.0.0.1", c_port)

    still_echoes(held, b"dave after")
    assert roundtrip("127.0.0.1", d_port, b"dave new") == b"dave new"
    assert [int(m) for m in re.findall(AUTHENTICATED % srv.port, dave.text())] == [d_sid]

    stale = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="carol", token=tc, cert=old)
    assert_refused(srv, stale, r"authentication failed: " + re.escape(CERT_REFUSED) + "$")
    fresh = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="carol", token=tc, cert=new)
    assert roundtrip("127.0.0.1", fresh.tunnel_port("r1"), b"carol new") == b"carol new"
    world.assert_secrets_hidden()


def test_reload_changes_allow_ports(world, echo, conns):
    """alice may use p1 and p2, then (same token) p2 and p3: nobody is
    disconnected; a new user connection to her tunnel on p1 is refused and
    logged, the one on p2 works, a connection made before the reload goes
    on; a new session of alice can register p3 but not p1."""
    p1, p2, p3 = free_ports(3)
    ta = world.token("alice")
    srv = world.server([entry("alice", token=ta, allow_ports=f"{p1},{p2}")])
    alice = world.client(srv, "-R", f"{p1}:127.0.0.1:{echo.port}", "-R", f"{p2}:127.0.0.1:{echo.port}",
                         name="alice", token=ta)
    sid = session_of(alice, srv)
    assert alice.tunnel_port("r1") == p1 and alice.tunnel_port("r2") == p2
    before = held_conn(p1, b"before", conns)

    world.write([entry("alice", token=ta, allow_ports=f"{p2},{p3}")])
    world.hup(srv, r"reload: 1 named clients, 0 disconnected$")
    refused_conn(srv, p1, f"port {p1} is no longer allowed for this client", conns)
    assert roundtrip("127.0.0.1", p2, b"p2 still") == b"p2 still"
    still_echoes(before, b"after")
    assert srv.find(r"revoked") is None
    assert [int(m) for m in re.findall(AUTHENTICATED % srv.port, alice.text())] == [sid]

    second = world.client(srv, "-R", f"{p1}:127.0.0.1:{echo.port}", "-R", f"{p3}:127.0.0.1:{echo.port}",
                          name="alice", token=ta)
    second.wait_log(r"tunnel r1: registration failed: port %d is not allowed by the server$" % p1)
    assert second.tunnel_port("r2") == p3
    assert roundtrip("127.0.0.1", p3, b"p3 new") == b"p3 new"
    world.assert_secrets_hidden()


BAD_FILES = {
    # name: (entries of the bad file, given alice's new token and bob's; text
    # that finds the line to be reported, nth; message)
    "duplicate name": (lambda ta2, tb: [entry("alice", token=ta2), entry("alice", token=tb)],
                       "- name: alice", 2, r"clients\[1\]\.name: used twice"),
    "no credentials": (lambda ta2, tb: [entry("alice", token=ta2), entry("erin", allow_ports="2000")],
                       "- name: erin", 1, r"clients\[1\]: needs a token, a fingerprint, or both"),
    "bad allow_ports": (lambda ta2, tb: [entry("alice", token=ta2),
                                         entry("erin", token=tb, allow_ports="10-x")],
                        "allow_ports", 1, r"clients\[1\]\.allow_ports: "),
    "bad fingerprint": (lambda ta2, tb: [entry("alice", token=ta2),
                                         entry("erin", fingerprint="SHA256:nope")],
                        "fingerprint", 1, r"clients\[1\]\.fingerprint: "),
    "not yaml": (lambda ta2, tb: [entry("alice", token=ta2), "  - name: [erin\n"],
                 "- name: [erin", 1, r""),
}


@pytest.mark.parametrize("bad", list(BAD_FILES))
def test_reload_refuses_a_bad_file(world, echo, conns, bad):
    """A bad file on SIGHUP: refused with file:line, nobody disconnected, the
    list in force stays (alice's old token still logs in, a name only in
    the bad file is unknown); fixing the file and SIGHUP again applies it."""
    ta, tb = world.token("alice"), world.token("bob")
    srv = world.server([entry("alice", token=ta), entry("bob", token=tb)])
    alice = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="alice", token=ta)
    sid, port = session_of(alice, srv), alice.tunnel_port("r1")
    held = held_conn(port, b"before", conns)

    ta2 = world.token("alice2")
    make, needle, nth, msg = BAD_FILES[bad]
    text = world.write(make(ta2, tb))
    line = line_of(text, needle, nth)
    m = world.hup(srv, r"reload refused, the clients list in force stays: (.*)$")
    assert re.match(re.escape(f"{world.cfg}:") + r"(\d+): ", m.group(1)), m.group(0)
    got_line = int(re.match(re.escape(f"{world.cfg}:") + r"(\d+): ", m.group(1)).group(1))
    if bad != "not yaml":   # libyaml reports a syntax error where it noticed it
        assert got_line == line, f"reported line {got_line}, the entry is on line {line}:\n{text}"
        assert re.search(msg, m.group(1)), m.group(0)
    else:
        assert line <= got_line <= line + 1, f"reported line {got_line}, want ~{line}:\n{text}"
    assert srv.find(r"reload: \d+ named clients") is None
    assert srv.find(r"revoked") is None
    assert srv.alive()

    # Nothing changed for the session in force.
    still_echoes(held, b"after")
    assert roundtrip("127.0.0.1", port, b"kept") == b"kept"
    assert alice.find(r"disconnected") is None
    # The old list is in force: alice's old token, and bob, still log in.
    again = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="alice", token=ta)
    assert roundtrip("127.0.0.1", again.tunnel_port("r1"), b"old list") == b"old list"
    bob = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="bob", token=tb)
    assert roundtrip("127.0.0.1", bob.tunnel_port("r1"), b"bob") == b"bob"
    # ...and the bad file's alice token does not, nor its new name.
    nope = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="alice", token=ta2)
    assert_refused(srv, nope, r"wrong token for this client name$")
    if "erin" in text:
        erin = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="erin", token=tb)
        assert_refused(srv, erin, r"unknown client name$")
    assert [int(m) for m in re.findall(AUTHENTICATED % srv.port, alice.text())] == [sid]
    assert srv.find(r"session %d \(.*closed" % sid) is None

    # Fixed: the next SIGHUP applies it (alice's token changed: both alice
    # sessions are revoked, bob is kept).
    world.write([entry("alice", token=ta2), entry("bob", token=tb)])
    world.hup(srv, r"reload: 2 named clients, 2 disconnected$")
    for cli in (alice, again):
        assert cli.wait_exit() == 1
        assert cli.find(re.escape(REVOKED)), cli.text()
    assert roundtrip("127.0.0.1", bob.tunnel_port("r1"), b"bob kept") == b"bob kept"
    world.assert_secrets_hidden()


def test_reload_changes_max_streams(world, echo, conns):
    """A lower max_streams applies to the next user connection of a kept
    session, a higher one lets it in again; the open ones are untouched."""
    ta = world.token("alice")
    srv = world.server([entry("alice", token=ta, max_streams=3)])
    alice = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "0", name="alice", token=ta)
    port = alice.tunnel_port("r1")
    held = [held_conn(port, b"held %d" % i, conns) for i in range(2)]
    world.write([entry("alice", token=ta, max_streams=2)])
    world.hup(srv, r"reload: 1 named clients, 0 disconnected$")
    refused_conn(srv, port, "too many streams (max_streams 2)", conns)
    world.write([entry("alice", token=ta, max_streams=4)])
    world.hup(srv, r"reload: 1 named clients, 0 disconnected$")
    held += [held_conn(port, b"held %d" % i, conns) for i in (2, 3)]
    refused_conn(srv, port, "too many streams (max_streams 4)", conns)
    for i, s in enumerate(held):
        still_echoes(s, b"still %d" % i)
    world.assert_secrets_hidden()


def test_reload_of_a_vanished_file_keeps_the_list(world, echo):
    """The config file is gone at SIGHUP: refused (naming the file), the
    list in force stays; back in place, the next SIGHUP reads it."""
    ta = world.token("alice")
    srv = world.server([entry("alice", token=ta)])
    alice = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="alice", token=ta)
    port = alice.tunnel_port("r1")
    gone = str(world.cfg) + ".away"
    os.rename(world.cfg, gone)
    m = world.hup(srv, r"reload refused, the clients list in force stays: (.*)$")
    assert m.group(1).startswith(f"{world.cfg}: "), m.group(0)
    assert roundtrip("127.0.0.1", port, b"kept") == b"kept"
    again = world.client(srv, "-R", f"0:127.0.0.1:{echo.port}", name="alice", token=ta)
    assert roundtrip("127.0.0.1", again.tunnel_port("r1"), b"again") == b"again"
    os.rename(gone, world.cfg)
    world.hup(srv, r"reload: 1 named clients, 0 disconnected$")
    assert srv.find(r"revoked") is None
    world.assert_secrets_hidden()


def test_repeated_reloads(world, echo, conns):
    """Several reloads in a row (each replaces the list the sessions point
    into): a kept client's policy follows the newest list every time."""
    p1, p2 = free_ports(2)
    ta, tb = world.token("alice"), world.token("bob")
    srv = world.server([entry("alice", token=ta, allow_ports=f"{p1},{p2}")])
    alice = world.client(srv, "-R", f"{p1}:127.0.0.1:{echo.port}", name="alice", token=ta)
    assert alice.tunnel_port("r1") == p1
    for i in range(6):
        allowed = i % 2 == 1
        ports = f"{p1},{p2}" if allowed else f"{p2}"
        entries = [entry("alice", token=ta, allow_ports=ports)]
        if i % 3 == 0:
            entries.append(entry("bob", token=tb))
        world.write(entries)
        world.hup(srv, r"reload: %d named clients, 0 disconnected$" % len(entries))
        if allowed:
            assert roundtrip("127.0.0.1", p1, b"round %d" % i) == b"round %d" % i
        else:
            refused_conn(srv, p1, f"port {p1} is no longer allowed for this client", conns)
    assert alice.find(r"disconnected") is None
    world.assert_secrets_hidden()


# --------------------------------------------------------------------------
# 5. Bad clients lists at start: exit 2 with file:line
# --------------------------------------------------------------------------

START_ERRORS = {
    # name: (entries, given two tokens; text that finds the reported line, nth; message)
    "duplicate name": (lambda t1, t2: [entry("alice", token=t1), entry("alice", token=t2)],
                       "- name: alice", 2, r"clients\[1\]\.name: used twice"),
    "no credentials": (lambda t1, t2: [entry("alice", token=t1), entry("bob", max_tunnels=3)],
                       "- name: bob", 1, r"clients\[1\]: needs a token, a fingerprint, or both"),
    "bad name": (lambda t1, t2: [entry("bad/name", token=t1)], "name:", 1, r"clients\[0\]\.name: "),
    "long name": (lambda t1, t2: [entry("a" * 65, token=t1)], "name:", 1, r"clients\[0\]\.name: "),
    "unknown key": (lambda t1, t2: [f"  - name: alice\n    token: {t1}\n    colour: blue\n"],
                    "colour", 1, r"clients\[0\]\.colour: "),
    "zero max_streams": (lambda t1, t2: [entry("alice", token=t1, max_streams=0)], "max_streams", 1,
                         r"clients\[0\]\.max_streams: "),
}


@pytest.mark.parametrize("case", list(START_ERRORS))
def test_bad_clients_list_exits_2(world, tmp_path, case):
    """exit 2 with "file:line: clients[N]...: why", and the tokens of the
    file are not echoed."""
    make, needle, nth, msg = START_ERRORS[case]
    t1, t2 = world.token("t1"), world.token("t2")
    cfg = tmp_path / "bad.yaml"
    text = server_yaml(make(t1, t2))
    cfg.write_text(text)
    r = subprocess.run([world.bin, "server", "-c", str(cfg), "--state-dir", str(world.state)],
                       capture_output=True, timeout=10, env=world._env(None))
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 2, (r.returncode, err)
    line = line_of(text, needle, nth)
    assert re.search(re.escape(f"{cfg}:{line}: ") + msg, err), f"want {cfg}:{line}: /{msg}/:\n{err}"
    assert "listening" not in err
    for s in (t1, t2):
        assert s not in err + r.stdout.decode(errors="replace")
