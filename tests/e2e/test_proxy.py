"""Dialing the server through outbound proxies (client --proxy, YAML proxy,
HTTPS_PROXY / ALL_PROXY / NO_PROXY as curl reads them).

Real peers from Debian, started by each test on free loopback ports with a
configuration written into tmp_path, never the system services that the
packages install: tinyproxy (HTTP CONNECT, Basic auth) and dante's danted
(SOCKS5, no authentication, and RFC 1929 username/password checked against a
system account that a fixture creates only when running as root).

Written in this file, and labelled as such: FakeProxy, a loopback listener
that plays a scripted proxy. It answers garbage, over-long heads and replies
cut short (the client must log why and retry, never hang or crash), and, as a
protocol check (not a stand-in for a real proxy), it compares the exact bytes
of burrow's SOCKS5 greeting, RFC 1929 request and CONNECT with what the RFCs
say before relaying to the real burrow server.

A name that only the proxy can resolve: the proxy runs in a private mount
namespace (unshare -m, root) whose /etc/hosts has the name; the client, in
the normal one, cannot resolve it, so a working tunnel proves the proxy did.
"""

import base64
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import (BURROW_BIN, E2E_TRANSPORT, LOG_TIMEOUT, Proc, _burrow_env, closed_port,
                      free_port, recv_exact, roundtrip, sha, tls_supported, wait_port)


def _proxy_supported(bin_path=BURROW_BIN):
    try:
        r = subprocess.run([bin_path, "client", "--help"], capture_output=True, timeout=10)
    except OSError:
        return False
    return b"--proxy" in r.stdout + r.stderr


pytestmark = [
    pytest.mark.skipif(not _proxy_supported(), reason="burrow binary without client --proxy"),
    # Every test here chooses its clients' transports (and the proxy
    # variables that go with them): they ran in the default run.
    pytest.mark.skipif(E2E_TRANSPORT != "tcp", reason="transport chosen per test; runs in the default run"),
]

MB = 1024 * 1024
MOVED = r"stream (\d+): moved to a dedicated connection after (\d+) bytes"
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy",
              "HTTP_PROXY", "http_proxy")
# Only the proxy's private /etc/hosts knows this name.
PROXY_ONLY_NAME = "relay.burrow-proxy-only.test"
# danted (debug: 1) on each SOCKS request it reads from a client.
DANTE_REQUEST = r"dorequest\(\): command 1 request received from client .* Packet: VER: 5 CMD: 1 FLAG: 0 ATYP: "


def needs(binary):
    path = shutil.which(binary) or (os.path.exists(f"/usr/sbin/{binary}") and f"/usr/sbin/{binary}")
    if not path:
        pytest.skip(f"{binary} not installed (scripts/deps.sh installs it)")
    return path


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch):
    """Clients inherit the test's environment: no proxy variable unless a test sets one."""
    for v in PROXY_VARS:
        monkeypatch.delenv(v, raising=False)


def count(proc, regex, since=0):
    r = re.compile(regex)
    with proc.cond:
        return sum(1 for l in proc.lines[since:] if r.search(l))


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


def q(s):
    return re.escape(str(s))


def connect_fail_re(server, proxy_port, proxy_host="127.0.0.1"):
    """The client's log line for a connection that failed at the proxy."""
    return r"connect %s: proxy %s:%d: (.+)$" % (q(server), q(proxy_host), proxy_port)


def proxy_refused_re(server, proxy_port):
    """The proxy refused the TCP connection (nothing listens there)."""
    return connect_fail_re(server, proxy_port)[:-len("(.+)$")] + r"Connection refused$"


# The server's line for a session (not a data connection) that logged in.
SRV_SESSION = r"session \d+ .*: authenticated$"


def authenticated_re(server):
    return r"session \d+: authenticated to %s" % q(server)


def assert_secrets_absent(proc, *secret_values):
    """Not in the process's output (stderr, stdout) nor, while it runs, in its cmdline."""
    if proc.alive():
        with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
            cmdline = f.read()
        for s in secret_values:
            assert s.encode() not in cmdline, f"{proc.name}: {s!r} visible in /proc/pid/cmdline: {cmdline!r}"
    with proc.cond:
        text = "\n".join(proc.lines + proc.out_lines)
    for s in secret_values:
        assert s not in text, f"{proc.name}: {s!r} in its output:\n{text}"


def tunnel_works(cli, port_name="r1"):
    port = cli.tunnel_port(port_name)
    data = os.urandom(70000)
    assert sha(roundtrip("127.0.0.1", port, data)) == sha(data)
    return port


def echo_exact(port, data, timeout=30):
    """Send data to an echo tunnel and read exactly as many bytes back,
    without a half-close (see test_half_close_through_proxy)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        t = threading.Thread(target=s.sendall, args=(data,), daemon=True)
        t.start()
        got = recv_exact(s, len(data), timeout=timeout)
        t.join(timeout)
        return got
    finally:
        s.close()


def hosts_ns_prefix(tmp_path, hosts):
    """argv prefix: run in a private mount namespace whose /etc/hosts is `hosts`."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare for a private /etc/hosts")
    path = tmp_path / f"hosts-{secrets.token_hex(3)}"
    path.write_text(hosts)
    return ["unshare", "-m", "--propagation", "private", "sh", "-c",
            'mount --bind "$0" /etc/hosts && exec "$@"', str(path)]


@pytest.fixture
def proxy_only_name(tmp_path):
    """PROXY_ONLY_NAME, after checking that this process cannot resolve it."""
    try:
        r = subprocess.run(["getent", "hosts", PROXY_ONLY_NAME], capture_output=True, timeout=15)
        resolved = r.returncode == 0
    except subprocess.TimeoutExpired:
        resolved = False
    if resolved:
        pytest.skip(f"{PROXY_ONLY_NAME} resolves here ({r.stdout!r}): cannot show who resolved it")
    return PROXY_ONLY_NAME


# --------------------------------------------------------------------------
# tinyproxy
# --------------------------------------------------------------------------

class Tinyproxy:
    def __init__(self, proc, port):
        self.proc, self.port = proc, port
        self.url = f"http://127.0.0.1:{port}"

    def connect_re(self, host, port):
        return r"Request \(file descriptor \d+\): CONNECT %s:%d HTTP/1\.1" % (q(host), port)

    def established_re(self):
        return r"Established connection to host"


@pytest.fixture
def tinyproxy(procs, tmp_path):
    """Factory: tinyproxy(connect_ports, auth=(user, pass), port=None, hosts=None).

    tinyproxy -d (foreground, log on stderr) with Listen/Allow 127.0.0.1 and
    ConnectPort for each of connect_ports (it refuses CONNECT to any other
    port). hosts: run it with a private /etc/hosts of that text."""
    binary = needs("tinyproxy")
    counter = [0]

    def start(connect_ports, auth=None, port=None, hosts=None):
        counter[0] += 1
        fixed = port is not None
        for _attempt in range(1 if fixed else 5):
            p_port = port if fixed else free_port()
            conf = tmp_path / f"tinyproxy{counter[0]}.conf"
            lines = [f"Port {p_port}", "Listen 127.0.0.1", "Allow 127.0.0.1", "Timeout 600",
                     "MaxClients 100", "LogLevel Info",
                     f'PidFile "{tmp_path}/tinyproxy{counter[0]}.pid"']
            lines += [f"ConnectPort {cp}" for cp in connect_ports]
            if auth:
                lines.append(f"BasicAuth {auth[0]} {auth[1]}")
            conf.write_text("\n".join(lines) + "\n")
            # -d: foreground, logging on stdout; the log reader follows stderr.
            argv = (hosts_ns_prefix(tmp_path, hosts) if hosts else []) + [
                "sh", "-c", 'exec "$@" >&2', "sh", binary, "-d", "-c", str(conf)]
            proc = Proc(f"tinyproxy#{counter[0]}", argv, dict(os.environ))
            proc.checked = True        # its exit status is not ours to judge
            procs.append(proc)
            try:
                proc.wait_log(r"Starting main loop|Accepting connections")
                wait_port("127.0.0.1", p_port)
                return Tinyproxy(proc, p_port)
            except AssertionError:
                proc.stop()
                if fixed:
                    raise
        pytest.fail("could not start tinyproxy")

    return start


# --------------------------------------------------------------------------
# dante (danted)
# --------------------------------------------------------------------------

class Danted:
    def __init__(self, proc, port):
        self.proc, self.port = proc, port

    def url(self, scheme="socks5", cred=None):
        userinfo = f"{cred[0]}:{cred[1]}@" if cred else ""
        return f"{scheme}://{userinfo}127.0.0.1:{self.port}"

    def connect_re(self, port):
        """A CONNECT that danted passed, to 127.0.0.1:port (logged at any debug level)."""
        return r"pass\(\d+\): tcp/connect \[: .*-> \S+ 127\.0\.0\.1\.%d\b" % port


@pytest.fixture
def danted(procs, tmp_path):
    """Factory: danted(method="none"|"username", port=None, hosts=None, debug=0).

    danted in the foreground (its log on stderr), internal 127.0.0.1:port,
    external lo, client and socks pass rules from 127.0.0.0/8. With debug=1
    it logs each request's address type and address ("ATYP: 3 address:
    NAME.PORT")."""
    binary = needs("danted")
    counter = [0]
    started = []

    def start(method="none", port=None, hosts=None, debug=0):
        counter[0] += 1
        fixed = port is not None
        for _attempt in range(1 if fixed else 5):
            d_port = port if fixed else free_port()
            conf = tmp_path / f"danted{counter[0]}.conf"
            users = ("user.privileged: root\nuser.unprivileged: nobody\n" if os.geteuid() == 0 else "")
            conf.write_text(f"""logoutput: stderr
debug: {debug}
internal: 127.0.0.1 port = {d_port}
external: lo
clientmethod: none
socksmethod: {method}
{users}client pass {{
    from: 127.0.0.0/8 to: 0.0.0.0/0
    log: connect disconnect error
}}
socks pass {{
    from: 127.0.0.0/8 to: 0.0.0.0/0
    command: connect
    log: connect disconnect error
}}
""")
            argv = (hosts_ns_prefix(tmp_path, hosts) if hosts else []) + [
                binary, "-f", str(conf), "-N", "1", "-p", str(tmp_path / f"danted{counter[0]}.pid")]
            proc = Proc(f"danted#{counter[0]}", argv, dict(os.environ))
            proc.checked = True
            procs.append(proc)
            started.append(proc)
            try:
                proc.wait_log(r"Dante/server\S* v[\d.]+ running")
                wait_port("127.0.0.1", d_port)
                return Danted(proc, d_port)
            except AssertionError:
                proc.stop()
                if fixed:
                    raise
        pytest.fail("could not start danted")

    yield start
    # danted's children serve the open sessions and outlive their parent
    # (holding its stderr open): SIGTERM the whole process group, which is
    # this test's alone (start_new_session), then make sure it is gone.
    for proc in started:
        for sig in (signal.SIGTERM, None, signal.SIGKILL):
            if sig is None:
                proc.stop()
                continue
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass


@pytest.fixture
def socks_user():
    """(user, password) of a system account made for danted's `socksmethod:
    username` (it checks the system's password database: no file of its own),
    removed at teardown."""
    if os.geteuid() != 0:
        pytest.skip("danted's username method checks system accounts: creating one needs root")
    for tool in ("useradd", "userdel", "openssl"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed")
    user = "bwe2e" + secrets.token_hex(4)
    password = "pw-" + secrets.token_hex(12)
    hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password.encode(),
                            capture_output=True, check=True, timeout=30).stdout.decode().strip()
    subprocess.run(["useradd", "-M", "-N", "-r", "-s", "/usr/sbin/nologin", "-p", hashed, user],
                   check=True, capture_output=True, timeout=30)
    try:
        yield user, password
    finally:
        subprocess.run(["userdel", user], capture_output=True, timeout=30)


# --------------------------------------------------------------------------
# FakeProxy: a scripted proxy written here (misbehaviour; protocol checks)
# --------------------------------------------------------------------------

def recv_until(conn, marker, cap=65536):
    buf = bytearray()
    while marker not in buf and len(buf) < cap:
        d = conn.recv(4096)
        if not d:
            break
        buf += d
    return bytes(buf)


def recv_n(conn, n):
    buf = bytearray()
    while len(buf) < n:
        d = conn.recv(n - len(buf))
        if not d:
            raise EOFError(f"EOF after {len(buf)}/{n} bytes")
        buf += d
    return bytes(buf)


class FakeProxy:
    """Loopback listener; the i-th accepted connection plays script[i] (the
    last entry repeats). Each connection's record: what the client sent
    ("sent"), whether the client closed ("closed_by_client"). Behaviours that
    succeed relay to 127.0.0.1:upstream (the burrow server)."""

    def __init__(self, script, upstream=None, creds=None):
        self.script = list(script)
        self.upstream = upstream
        self.creds = creds       # what a SOCKS5 peer expects (user, pass)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.records = []
        self.cond = threading.Condition()
        self.open = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, scheme="http", cred=None):
        userinfo = f"{cred[0]}:{cred[1]}@" if cred else ""
        return f"{scheme}://{userinfo}127.0.0.1:{self.port}"

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.cond:
                i = len(self.records)
                rec = {"behaviour": self.script[min(i, len(self.script) - 1)], "sent": bytearray(),
                       "closed_by_client": False, "error": None, "socks": {}}
                self.records.append(rec)
                self.open.append(c)
                self.cond.notify_all()
            threading.Thread(target=self._serve, args=(c, rec), daemon=True).start()

    def _serve(self, c, rec):
        c.settimeout(60)
        try:
            getattr(self, "b_" + rec["behaviour"])(c, rec)
        except (OSError, EOFError) as e:
            with self.cond:
                rec["error"] = repr(e)
        finally:
            with self.cond:
                rec["done"] = True
                self.cond.notify_all()

    def _wait_client_close(self, c, rec):
        """Keep the connection open until the client closes it (then record so)."""
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                rec["sent"] += d
        except OSError:
            pass
        with self.cond:
            rec["closed_by_client"] = True
            self.cond.notify_all()
        c.close()

    def _relay(self, c):
        u = socket.create_connection(("127.0.0.1", self.upstream), timeout=10)
        u.settimeout(None)
        c.settimeout(None)
        with self.cond:
            self.open.append(u)

        def pump(a, b):
            try:
                while True:
                    d = a.recv(262144)
                    if not d:
                        b.shutdown(socket.SHUT_WR)
                        return
                    b.sendall(d)
            except OSError:
                pass

        threading.Thread(target=pump, args=(u, c), daemon=True).start()
        pump(c, u)

    # -- HTTP CONNECT behaviours ------------------------------------------
    def _http_head(self, c, rec):
        head = recv_until(c, b"\r\n\r\n")
        rec["sent"] += head
        return head

    def b_http_ok(self, c, rec):
        """A minimal correct proxy: 200, then relay."""
        self._http_head(c, rec)
        c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self._relay(c)

    def b_http_ok_big_head(self, c, rec):
        """200 with a head of about 7.5 KiB (under the 8 KiB limit), then relay."""
        self._http_head(c, rec)
        head = b"HTTP/1.1 200 Connection established\r\nVia: 1.1 fake\r\n"
        while len(head) < 7600:
            head += b"X-Filler: " + b"f" * 90 + b"\r\n"
        c.sendall(head + b"\r\n")
        self._relay(c)

    def b_http_garbage(self, c, rec):
        """Not HTTP at all (but with an empty line, so a reader cannot wait for more)."""
        self._http_head(c, rec)
        c.sendall(b"\x16\x03\x01\x00\x05 SSH-2.0-nope \xff\xfe\x00garbage\r\n\r\n")
        self._wait_client_close(c, rec)

    def b_http_long_head(self, c, rec):
        """A 200 status line and then header lines past 8 KiB, never an empty line."""
        self._http_head(c, rec)
        c.sendall(b"HTTP/1.1 200 Connection established\r\n")
        try:
            for _ in range(64):            # 64 * 1 KiB, then keep quiet
                c.sendall(b"X-Long: " + b"a" * 1014 + b"\r\n")
        except OSError:
            pass                           # the client may hang up part-way
        self._wait_client_close(c, rec)

    def b_http_long_head_ended(self, c, rec):
        """A complete 200 head of about 9 KiB: over the limit even though it ends."""
        self._http_head(c, rec)
        head = b"HTTP/1.1 200 Connection established\r\n"
        while len(head) < 9 * 1024:
            head += b"X-Filler: " + b"g" * 90 + b"\r\n"
        try:
            c.sendall(head + b"\r\n")
        except OSError:
            pass
        self._wait_client_close(c, rec)

    def b_http_cut(self, c, rec):
        """Part of a status line, then close."""
        self._http_head(c, rec)
        c.sendall(b"HTTP/1.1 200 Conn")
        c.shutdown(socket.SHUT_RDWR)
        c.close()

    def b_http_close_at_once(self, c, rec):
        """Read the request, close without a byte."""
        self._http_head(c, rec)
        c.close()

    def b_silent(self, c, rec):
        """Accept, read, never answer."""
        self._wait_client_close(c, rec)

    # -- SOCKS5 behaviours -------------------------------------------------
    def _socks_greeting(self, c, rec):
        ver, n = recv_n(c, 2)
        methods = recv_n(c, n)
        rec["sent"] += bytes([ver, n]) + methods
        rec["socks"]["greeting"] = bytes([ver, n]) + methods
        return ver, methods

    def _socks_request(self, c, rec):
        head = recv_n(c, 4)
        atyp = head[3]
        if atyp == 1:
            rest = recv_n(c, 4 + 2)
        elif atyp == 4:
            rest = recv_n(c, 16 + 2)
        elif atyp == 3:
            ln = recv_n(c, 1)
            rest = ln + recv_n(c, ln[0] + 2)
        else:
            raise EOFError(f"bad ATYP {atyp}")
        req = head + rest
        rec["sent"] += req
        rec["socks"]["request"] = req
        return req

    def b_socks_ok(self, c, rec):
        """Protocol check: choose username/password if we expect credentials
        (else no authentication), record the exact RFC 1929 request and
        CONNECT, answer success and relay."""
        ver, methods = self._socks_greeting(c, rec)
        want = 2 if self.creds else 0
        if ver != 5 or want not in methods:
            c.sendall(b"\x05\xff")
            c.close()
            return
        c.sendall(bytes([5, want]))
        if want == 2:
            v = recv_n(c, 2)
            user = recv_n(c, v[1])
            pl = recv_n(c, 1)
            pw = recv_n(c, pl[0])
            auth = v + user + pl + pw
            rec["sent"] += auth
            rec["socks"]["auth"] = auth
            ok = (user.decode(errors="replace"), pw.decode(errors="replace")) == tuple(self.creds)
            c.sendall(b"\x01\x00" if ok else b"\x01\x01")
            if not ok:
                self._wait_client_close(c, rec)
                return
        self._socks_request(c, rec)
        c.sendall(b"\x05\x00\x00\x01\x7f\x00\x00\x01" + struct.pack(">H", 4321))
        self._relay(c)

    def b_socks_bad_version(self, c, rec):
        self._socks_greeting(c, rec)
        c.sendall(b"\x04\x5a")
        self._wait_client_close(c, rec)

    def b_socks_no_method(self, c, rec):
        self._socks_greeting(c, rec)
        c.sendall(b"\x05\xff")
        self._wait_client_close(c, rec)

    def b_socks_cut(self, c, rec):
        """Method chosen, then the CONNECT reply cut after two bytes."""
        self._socks_greeting(c, rec)
        c.sendall(b"\x05\x00")
        self._socks_request(c, rec)
        c.sendall(b"\x05\x00")
        c.shutdown(socket.SHUT_RDWR)
        c.close()

    def b_socks_general_failure(self, c, rec):
        self._socks_greeting(c, rec)
        c.sendall(b"\x05\x00")
        self._socks_request(c, rec)
        c.sendall(b"\x05\x01\x00\x01\x00\x00\x00\x00\x00\x00")
        self._wait_client_close(c, rec)

    def b_socks_bad_atyp(self, c, rec):
        """A success reply with an address type that does not exist."""
        self._socks_greeting(c, rec)
        c.sendall(b"\x05\x00")
        self._socks_request(c, rec)
        c.sendall(b"\x05\x00\x00\x07" + b"\x00" * 8)
        self._wait_client_close(c, rec)

    # -- waiting -----------------------------------------------------------
    def wait_conns(self, n, timeout=LOG_TIMEOUT):
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.records) >= n, timeout)
            assert ok, f"fake proxy: {len(self.records)} of {n} connections within {timeout}s"
            return list(self.records)

    def wait_closed_by_client(self, i, timeout=LOG_TIMEOUT):
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.records) > i and self.records[i]["closed_by_client"],
                                    timeout)
            assert ok, f"fake proxy: the client kept connection {i} open for {timeout}s"

    def close(self):
        self.sock.close()
        with self.cond:
            socks = list(self.open)
        for s in socks:
            try:
                s.close()
            except OSError:
                pass


@pytest.fixture
def fake_proxy():
    made = []

    def make(script, upstream=None, creds=None):
        p = FakeProxy(script, upstream, creds)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def tls_flags(srv):
    return ["--transport", "tls", "--fingerprint", srv.server_key()]


def transport_flags(srv, transport):
    if transport == "tls":
        if not tls_supported():
            pytest.skip("burrow binary without TLS")
        return tls_flags(srv)
    return []


# --------------------------------------------------------------------------
# (1) HTTP CONNECT through tinyproxy
# --------------------------------------------------------------------------

@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_http_connect_tinyproxy(burrow_server, burrow_client, tinyproxy, echo, transport):
    """The control connection and both pooled data connections are CONNECTs
    through tinyproxy; a bulk stream moves to a data connection and arrives
    byte-exact; the client says which proxy it uses."""
    srv = burrow_server("--dedicated-after", "64K")
    tp = tinyproxy([srv.port])
    server = f"127.0.0.1:{srv.port}"
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "2", "--proxy", tp.url,
                        *transport_flags(srv, transport), transport=None)
    cli.wait_log(r"connecting to %s via http proxy 127\.0\.0\.1:%d$" % (q(server), tp.port))
    cli.wait_log(authenticated_re(server))
    port = cli.tunnel_port("r1")
    cli.wait_log(r"session \d+: 2 data connections ready")
    assert roundtrip("127.0.0.1", port, b"through tinyproxy\n") == b"through tinyproxy\n"
    data = os.urandom(4 * MB + 5)
    assert sha(echo_exact(port, data)) == sha(data)
    srv.wait_log(MOVED)
    # Control + 2 data connections, every one a CONNECT to the server that
    # tinyproxy carried out (the moved stream took one, the pool refills).
    wait_count(tp.proc, tp.connect_re("127.0.0.1", srv.port), 3)
    wait_count(tp.proc, tp.established_re(), 3)
    assert tp.proc.find(r"Request \(file descriptor \d+\): CONNECT (?!127\.0\.0\.1:%d )" % srv.port) is None
    assert cli.find(r"connect %s: " % q(server)) is None, "a connection failed on the way"


KNOWN_GAP_HALF_CLOSE = (
    "a stream moved to a data connection carries its half-close as a TCP FIN on that "
    "connection; tinyproxy (like many HTTP proxies) ends the whole CONNECT tunnel at the first "
    "EOF, so the target's answer after the user's half-close is lost (empty reply)")


@pytest.mark.parametrize("via,pool", [
    ("tinyproxy", "0"),
    pytest.param("tinyproxy", "1", marks=pytest.mark.xfail(strict=True, reason=KNOWN_GAP_HALF_CLOSE)),
    ("danted", "1"),
    ("fake-http", "1"),
])
def test_half_close_through_proxy(burrow_server, burrow_client, tinyproxy, danted, fake_proxy, service,
                                  via, pool):
    """Upload 3 MB to the sha service through a tunnel whose client dials
    through a proxy, half-close, read the digest: the answer that follows
    the half-close must come back, on a multiplexed stream (pool 0) and on
    one that moved to a data connection (pool 1). The proxies differ in
    what they do with a half-close on a CONNECT tunnel: tinyproxy tears the
    whole tunnel down, dante and the FakeProxy relay pass it on."""
    srv = burrow_server("--dedicated-after", "64K")
    svc = service("sha")
    if via == "tinyproxy":
        url = tinyproxy([srv.port]).url
    elif via == "danted":
        url = danted().url()
    else:
        url = fake_proxy(["http_ok"], upstream=srv.port).url()
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{svc.port}", "--pool", pool, "--proxy", url,
                        transport=None)
    cli.wait_log(r"via (http|socks5) proxy")
    port = cli.tunnel_port("r1")
    if pool != "0":
        cli.wait_log(r"session \d+: %s data connections ready" % pool)
    data = os.urandom(3 * MB + 7)
    assert roundtrip("127.0.0.1", port, data, timeout=30).decode().strip() == sha(data)
    if pool != "0":
        srv.wait_log(MOVED)
    else:
        assert srv.find(MOVED) is None


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_http_connect_name_resolved_by_proxy(burrow_server, burrow_client, tinyproxy, echo, tmp_path,
                                             proxy_only_name, transport):
    """--server NAME:PORT where only tinyproxy can resolve NAME (its private
    /etc/hosts): the client sends the name in its CONNECTs and never
    resolves it itself."""
    srv = burrow_server()
    tp = tinyproxy([srv.port], hosts=f"127.0.0.1 localhost\n127.0.0.1 {proxy_only_name}\n")
    server = f"{proxy_only_name}:{srv.port}"
    cli = burrow_client(server, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "1", "--proxy", tp.url,
                        *transport_flags(srv, transport), transport=None)
    cli.wait_log(r"connecting to %s via http proxy 127\.0\.0\.1:%d$" % (q(server), tp.port))
    tunnel_works(cli)
    cli.wait_log(r"session \d+: 1 data connections ready")
    wait_count(tp.proc, tp.connect_re(proxy_only_name, srv.port), 2)
    assert cli.find(r"resolv|getaddrinfo|unknown host|nodename", since=0) is None


def test_yaml_proxy_key(burrow_server, burrow_client, tinyproxy, echo, tmp_path, token):
    """`proxy:` in the client's YAML file, with credentials."""
    srv = burrow_server()
    user, password = "yaml-user", "yaml-" + secrets.token_hex(8)
    tp = tinyproxy([srv.port], auth=(user, password))
    cfg = tmp_path / "client.yaml"
    cfg.write_text(f"server: 127.0.0.1:{srv.port}\n"
                   f"proxy: http://{user}:{password}@127.0.0.1:{tp.port}\n"
                   "pool: 1\n"
                   "tunnels:\n"
                   "  - name: web\n"
                   "    remote: 0\n"
                   f"    local: 127.0.0.1:{echo.port}\n")
    cli = burrow_client(srv, "-c", str(cfg), transport=None)
    cli.wait_log(r"connecting to 127\.0\.0\.1:%d via http proxy 127\.0\.0\.1:%d$" % (srv.port, tp.port))
    tunnel_works(cli, "web")
    wait_count(tp.proc, tp.connect_re("127.0.0.1", srv.port), 2)
    assert_secrets_absent(cli, password)


# --------------------------------------------------------------------------
# (2) tinyproxy with BasicAuth
# --------------------------------------------------------------------------

def test_http_basic_auth(burrow_server, burrow_client, tinyproxy, echo):
    """With the right credentials: a session, through the proxy. Without: the
    407 line, retries, no session. A wrong password: refused likewise
    (tinyproxy 1.11 answers a wrong password with 401). The password (and
    the user name) never show in any client's output or cmdline."""
    srv = burrow_server()
    user = "u" + secrets.token_hex(5)
    password = "p" + secrets.token_hex(12)
    wrong = "w" + secrets.token_hex(12)
    tp = tinyproxy([srv.port], auth=(user, password))
    server = f"127.0.0.1:{srv.port}"
    proxy_at = f"127.0.0.1:{tp.port}"

    good = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "1", "--log-level", "debug",
                         "--proxy", f"http://{user}:{password}@{proxy_at}", transport=None)
    good.wait_log(r"connecting to %s via http proxy %s$" % (q(server), q(proxy_at)))
    assert_secrets_absent(good, password, user)
    tunnel_works(good)
    good.wait_log(r"session \d+: 1 data connections ready")
    wait_count(tp.proc, tp.established_re(), 2)      # control + the data connection
    srv_sessions = wait_count(srv, SRV_SESSION, 1)
    assert srv_sessions == 1
    established = count(tp.proc, tp.established_re())

    bare = burrow_client(srv, "-R", "0:127.0.0.1:1", "--reconnect-max", "1s", "--log-level", "debug",
                         "--proxy", f"http://{proxy_at}", transport=None)
    bad = burrow_client(srv, "-R", "0:127.0.0.1:1", "--reconnect-max", "1s", "--log-level", "debug",
                        "--proxy", f"http://{user}:{wrong}@{proxy_at}", transport=None)
    wait_count(bare, connect_fail_re(server, tp.port), 2)
    m = bare.find(connect_fail_re(server, tp.port))
    assert re.fullmatch(r"HTTP 407 Proxy Authentication Required", m.group(1)), m.group(0)
    bare.wait_log(r"reconnecting in")
    wait_count(bad, connect_fail_re(server, tp.port), 2)
    m = bad.find(connect_fail_re(server, tp.port))
    assert re.fullmatch(r"HTTP 40[17] (Proxy Authentication Required|Unauthorized)", m.group(1)), m.group(0)
    for c in (bare, bad):
        assert c.alive()
        assert c.find(r"authenticated to") is None
        assert_secrets_absent(c, password, wrong, user)
    # Neither got a session at the server; only the good client's connections
    # were established by the proxy.
    assert count(srv, SRV_SESSION) == srv_sessions
    assert count(tp.proc, tp.established_re()) == established
    good.stop()
    assert_secrets_absent(good, password, user)


# --------------------------------------------------------------------------
# (3) SOCKS5 through danted
# --------------------------------------------------------------------------

@pytest.mark.parametrize("scheme,transport", [("socks5", "tcp"), ("socks5h", "tcp"), ("socks5", "tls")])
def test_socks5_danted(burrow_server, burrow_client, danted, echo, scheme, transport):
    """--server localhost:PORT through danted: the requests carry the name
    (danted's debug log: ATYP 3, address localhost.PORT), control and data
    connections alike; a bulk stream moves and arrives byte-exact."""
    srv = burrow_server("--dedicated-after", "64K")
    d = danted(debug=1)
    server = f"localhost:{srv.port}"
    cli = burrow_client(server, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "2",
                        "--proxy", d.url(scheme), *transport_flags(srv, transport), transport=None)
    cli.wait_log(r"connecting to %s via socks5 proxy 127\.0\.0\.1:%d$" % (q(server), d.port))
    port = tunnel_works(cli)
    cli.wait_log(r"session \d+: 2 data connections ready")
    data = os.urandom(3 * MB + 1)
    assert sha(roundtrip("127.0.0.1", port, data, timeout=30)) == sha(data)
    srv.wait_log(MOVED)
    # Every request received from the client named the server: ATYP 3 (a
    # domain name), never an address the client would have resolved.
    wait_count(d.proc, DANTE_REQUEST + r"3 address: localhost\.%d\b" % srv.port, 3)
    assert d.proc.find(DANTE_REQUEST + r"(?!3 address: localhost\.%d\b)" % srv.port) is None
    wait_count(d.proc, d.connect_re(srv.port), 3)


def test_socks5_name_resolved_by_proxy(burrow_server, burrow_client, danted, echo, tmp_path,
                                       proxy_only_name):
    """--server NAME:PORT that only danted can resolve (its private /etc/hosts)."""
    srv = burrow_server()
    d = danted(hosts=f"127.0.0.1 localhost\n127.0.0.1 {proxy_only_name}\n")
    server = f"{proxy_only_name}:{srv.port}"
    cli = burrow_client(server, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "1",
                        "--proxy", d.url("socks5h"), transport=None)
    cli.wait_log(r"connecting to %s via socks5 proxy 127\.0\.0\.1:%d$" % (q(server), d.port))
    tunnel_works(cli)
    cli.wait_log(r"session \d+: 1 data connections ready")
    wait_count(d.proc, d.connect_re(srv.port), 2)


def test_socks5_destination_refused(burrow_server, burrow_client, danted):
    """danted answers reply 5 when the server's port is closed: the client
    names it and retries."""
    d = danted()
    dead = closed_port()
    server = f"127.0.0.1:{dead}"
    cli = burrow_client(server, "-R", "0:127.0.0.1:1", "--reconnect-max", "1s", "--proxy", d.url(), transport=None)
    wait_count(cli, connect_fail_re(server, d.port), 2)
    m = cli.find(connect_fail_re(server, d.port))
    assert m.group(1) == "SOCKS5: connection refused by the destination", m.group(0)
    assert cli.find(r"reconnecting in")
    assert cli.alive()


def test_http_connect_port_not_allowed(burrow_server, burrow_client, tinyproxy):
    """tinyproxy refuses a CONNECT to a port not in ConnectPort with 403: the
    client logs the status and retries."""
    srv = burrow_server()
    tp = tinyproxy([closed_port()])
    server = f"127.0.0.1:{srv.port}"
    cli = burrow_client(srv, "-R", "0:127.0.0.1:1", "--reconnect-max", "1s", "--proxy", tp.url, transport=None)
    wait_count(cli, connect_fail_re(server, tp.port), 2)
    m = cli.find(connect_fail_re(server, tp.port))
    assert re.fullmatch(r"HTTP 403 .+", m.group(1)), m.group(0)
    assert srv.find(r"authenticated") is None
    assert cli.alive()


# --------------------------------------------------------------------------
# (4) SOCKS5 username/password: danted with a system account; the exact
#     RFC 1929 bytes against a protocol check written here
# --------------------------------------------------------------------------

def test_socks5_username_danted(burrow_server, burrow_client, danted, echo, socks_user):
    """danted with `socksmethod: username` (a system account made for the
    test): the right password works; a wrong one logs "SOCKS5: authentication
    failed" and retries; none at all is refused too; no password in any
    client's output or cmdline."""
    user, password = socks_user
    wrong = "wrong-" + secrets.token_hex(8)
    srv = burrow_server()
    d = danted(method="username")
    server = f"127.0.0.1:{srv.port}"
    good = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "1", "--log-level", "debug",
                         "--proxy", d.url("socks5", (user, password)), transport=None)
    good.wait_log(r"connecting to %s via socks5 proxy 127\.0\.0\.1:%d$" % (q(server), d.port))
    assert_secrets_absent(good, password)
    tunnel_works(good)
    good.wait_log(r"session \d+: 1 data connections ready")
    wait_count(d.proc, r"tcp/connect \[: username%%%s@" % re.escape(user), 2)

    bad = burrow_client(srv, "-R", "0:127.0.0.1:1", "--reconnect-max", "1s", "--log-level", "debug",
                        "--proxy", d.url("socks5", (user, wrong)), transport=None)
    none = burrow_client(srv, "-R", "0:127.0.0.1:1", "--reconnect-max", "1s",
                         "--proxy", d.url("socks5"), transport=None)
    wait_count(bad, connect_fail_re(server, d.port), 2)
    m = bad.find(connect_fail_re(server, d.port))
    assert m.group(1) == "SOCKS5: authentication failed", m.group(0)
    d.proc.wait_log(r"password authentication failed for user \"%s\"" % re.escape(user))
    wait_count(none, connect_fail_re(server, d.port), 2)
    m = none.find(connect_fail_re(server, d.port))
    assert m.group(1).startswith("SOCKS5: "), m.group(0)
    for c in (bad, none):
        assert c.alive()
        assert c.find(r"authenticated to") is None
    assert_secrets_absent(bad, wrong, password)
    assert wait_count(srv, SRV_SESSION, 1) == 1
    good.stop()
    assert_secrets_absent(good, password)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_socks5_rfc1929_bytes_protocol_check(burrow_server, burrow_client, fake_proxy, echo, host):
    """PROTOCOL CHECK, not a real proxy: a SOCKS5 peer written here compares
    burrow's bytes with RFC 1928/1929 on every connection (control and data):
    greeting VER 5 offering username/password (2); the auth request exactly
    01 ULEN USER PLEN PASS; the CONNECT exactly 05 01 00 then ATYP 3 LEN NAME
    for a name, ATYP 1 and four bytes for an IPv4 literal, then the port."""
    srv = burrow_server()
    user, password = "alice-" + secrets.token_hex(3), "s3cr3t-" + secrets.token_hex(8)
    fp = fake_proxy(["socks_ok"], upstream=srv.port, creds=(user, password))
    server = f"{host}:{srv.port}"
    cli = burrow_client(server, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "2",
                        "--proxy", fp.url("socks5", (user, password)), transport=None)
    tunnel_works(cli)
    cli.wait_log(r"session \d+: 2 data connections ready")
    recs = fp.wait_conns(3)
    if host == "127.0.0.1":
        dest = b"\x01" + socket.inet_aton(host)
    else:
        dest = b"\x03" + bytes([len(host)]) + host.encode()
    want_connect = b"\x05\x01\x00" + dest + struct.pack(">H", srv.port)
    want_auth = b"\x01" + bytes([len(user)]) + user.encode() + bytes([len(password)]) + password.encode()
    for r in recs[:3]:
        g = r["socks"].get("greeting")
        assert g is not None and g[0] == 5 and g[1] == len(g) - 2 and 2 in g[2:], r
        assert r["socks"].get("auth") == want_auth, r
        assert r["socks"].get("request") == want_connect, r
    assert_secrets_absent(cli, password)


def test_socks5_no_auth_bytes_protocol_check(burrow_server, burrow_client, fake_proxy, echo):
    """PROTOCOL CHECK: without credentials the greeting offers "no
    authentication" (0) and no username/password."""
    srv = burrow_server()
    fp = fake_proxy(["socks_ok"], upstream=srv.port)
    cli = burrow_client(f"localhost:{srv.port}", "-R", f"0:127.0.0.1:{echo.port}", "--pool", "0",
                        "--proxy", fp.url("socks5h"), transport=None)
    tunnel_works(cli)
    g = fp.wait_conns(1)[0]["socks"]["greeting"]
    assert g[0] == 5 and g[1] == len(g) - 2 and 0 in g[2:] and 2 not in g[2:], g


def test_http_connect_request_protocol_check(burrow_server, burrow_client, fake_proxy, echo):
    """PROTOCOL CHECK: the CONNECT request line names the server as given,
    Host too, and Basic credentials are user:pass in base64; a 200 whose head
    is 7.5 KiB long (under the 8 KiB limit) is accepted."""
    srv = burrow_server()
    user, password = "bob", "hunter2-" + secrets.token_hex(6)
    fp = fake_proxy(["http_ok_big_head", "http_ok"], upstream=srv.port)
    server = f"localhost:{srv.port}"
    cli = burrow_client(server, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "1",
                        "--proxy", fp.url("http", (user, password)), transport=None)
    tunnel_works(cli)
    cli.wait_log(r"session \d+: 1 data connections ready")
    for r in fp.wait_conns(2)[:2]:
        head = bytes(r["sent"]).split(b"\r\n\r\n", 1)[0].decode("latin-1")
        lines = head.split("\r\n")
        assert lines[0] == f"CONNECT {server} HTTP/1.1", head
        fields = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
        assert fields.get("host") == server, head
        cred = base64.b64encode(f"{user}:{password}".encode()).decode()
        assert fields.get("proxy-authorization") == f"Basic {cred}", head
    assert_secrets_absent(cli, password)


# --------------------------------------------------------------------------
# (5) the environment
# --------------------------------------------------------------------------

@pytest.mark.parametrize("var", ["HTTPS_PROXY", "https_proxy"])
def test_env_https_proxy_with_tls(burrow_server, burrow_client, tinyproxy, echo, monkeypatch, var):
    """--transport tls takes HTTPS_PROXY before ALL_PROXY (here a dead one)."""
    if not tls_supported():
        pytest.skip("burrow binary without TLS")
    srv = burrow_server()
    tp = tinyproxy([srv.port])
    monkeypatch.setenv(var, tp.url)
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{closed_port()}")
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "1", *tls_flags(srv),
                        transport=None)
    cli.wait_log(r"connecting to 127\.0\.0\.1:%d via http proxy 127\.0\.0\.1:%d$" % (srv.port, tp.port))
    tunnel_works(cli)
    cli.wait_log(r"session \d+: 1 data connections ready")
    wait_count(tp.proc, tp.connect_re("127.0.0.1", srv.port), 2)


@pytest.mark.parametrize("var", ["ALL_PROXY", "all_proxy"])
def test_env_all_proxy_with_tcp(burrow_server, burrow_client, tinyproxy, echo, monkeypatch, var):
    """Plain tcp takes ALL_PROXY and ignores HTTPS_PROXY and HTTP_PROXY (dead ones here)."""
    srv = burrow_server()
    tp = tinyproxy([srv.port])
    monkeypatch.setenv(var, tp.url)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{closed_port()}")
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "1", transport=None)
    cli.wait_log(r"connecting to 127\.0\.0\.1:%d via http proxy 127\.0\.0\.1:%d$" % (srv.port, tp.port))
    tunnel_works(cli)
    cli.wait_log(r"session \d+: 1 data connections ready")
    wait_count(tp.proc, tp.connect_re("127.0.0.1", srv.port), 2)


def test_env_tls_falls_back_to_all_proxy_socks(burrow_server, burrow_client, danted, echo, monkeypatch):
    """--transport tls without HTTPS_PROXY takes ALL_PROXY (socks5h:// here)."""
    if not tls_supported():
        pytest.skip("burrow binary without TLS")
    srv = burrow_server()
    d = danted()
    monkeypatch.setenv("ALL_PROXY", d.url("socks5h"))
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "1", *tls_flags(srv),
                        transport=None)
    cli.wait_log(r"connecting to 127\.0\.0\.1:%d via socks5 proxy 127\.0\.0\.1:%d$" % (srv.port, d.port))
    tunnel_works(cli)
    cli.wait_log(r"session \d+: 1 data connections ready")
    wait_count(d.proc, d.connect_re(srv.port), 2)


def test_env_credentials_not_logged(burrow_server, burrow_client, tinyproxy, echo, monkeypatch):
    """Credentials that come from ALL_PROXY work and are never logged."""
    srv = burrow_server()
    user, password = "envuser", "envpw-" + secrets.token_hex(8)
    tp = tinyproxy([srv.port], auth=(user, password))
    monkeypatch.setenv("ALL_PROXY", f"http://{user}:{password}@127.0.0.1:{tp.port}")
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "1", "--log-level", "debug",
                        transport=None)
    tunnel_works(cli)
    cli.wait_log(r"session \d+: 1 data connections ready")
    wait_count(tp.proc, tp.established_re(), 2)
    cli.stop()
    assert_secrets_absent(cli, password)


DIRECT_CASES = [
    # (server host, NO_PROXY variable, its value, extra client flags)
    ("127.0.0.1", "NO_PROXY", "127.0.0.1", []),
    ("127.0.0.1", "no_proxy", "127.0.0.1", []),
    ("127.0.0.1", "NO_PROXY", "*", []),
    ("127.0.0.1", "no_proxy", "*", []),
    ("127.0.0.1", "NO_PROXY", "example.com,127.0.0.1", []),
    ("localhost", "NO_PROXY", "localhost", []),
    ("localhost", "no_proxy", "example.com, localhost", []),
    ("127.0.0.1", None, None, ["--proxy", "direct"]),
    ("127.0.0.1", "NO_PROXY", "127.0.0.2", ["--proxy", "direct"]),
]


@pytest.mark.parametrize("host,no_proxy_var,no_proxy,flags", DIRECT_CASES)
def test_env_bypassed(burrow_server, burrow_client, echo, monkeypatch, host, no_proxy_var, no_proxy, flags):
    """NO_PROXY matching the server's host (an address, a name, `*`, in a
    list) or --proxy direct: the client connects directly although ALL_PROXY
    and HTTPS_PROXY name a proxy that is down."""
    srv = burrow_server()
    dead = closed_port()
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{dead}")
    monkeypatch.setenv("HTTPS_PROXY", f"socks5://127.0.0.1:{dead}")
    if no_proxy is not None:
        monkeypatch.setenv(no_proxy_var, no_proxy)
    server = f"{host}:{srv.port}"
    cli = burrow_client(server, "-R", f"0:127.0.0.1:{echo.port}", *flags, transport=None)
    cli.wait_log(r"connecting to %s$" % q(server))
    cli.wait_log(authenticated_re(server))
    tunnel_works(cli)
    assert cli.find(r"via \S+ proxy|proxy 127\.0\.0\.1:%d" % dead) is None


def test_env_bypassed_by_domain_suffix(burrow_server, burrow_bin, procs, token, echo, tmp_path, monkeypatch):
    """NO_PROXY by domain: `.burrow-e2e.test` and `burrow-e2e.test` both exempt
    relay.burrow-e2e.test (the client runs with a private /etc/hosts that
    has the name); a longer name that merely ends the same way does not."""
    srv = burrow_server()
    dead = closed_port()
    prefix = hosts_ns_prefix(tmp_path, "127.0.0.1 localhost\n127.0.0.1 relay.burrow-e2e.test\n"
                             "127.0.0.1 relay.notburrow-e2e.test\n")
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{dead}")

    def client(name, no_proxy):
        monkeypatch.setenv("NO_PROXY", no_proxy)
        argv = prefix + [burrow_bin, "client", "--server", f"{name}:{srv.port}",
                         "-R", f"0:127.0.0.1:{echo.port}", "--reconnect-max", "1s"]
        p = Proc(f"client-{name}-{no_proxy}", argv, _burrow_env(token, True))
        p.role = "client"
        procs.append(p)
        return p

    for no_proxy in (".burrow-e2e.test", "burrow-e2e.test"):
        c = client("relay.burrow-e2e.test", no_proxy)
        c.wait_log(authenticated_re(f"relay.burrow-e2e.test:{srv.port}"))
        tunnel_works(c)
        assert c.find(r"via \S+ proxy") is None
        c.stop()
    c = client("relay.notburrow-e2e.test", "burrow-e2e.test")
    server = f"relay.notburrow-e2e.test:{srv.port}"
    c.wait_log(r"connecting to %s via http proxy 127\.0\.0\.1:%d$" % (q(server), dead))
    c.wait_log(proxy_refused_re(server, dead))


@pytest.mark.parametrize("no_proxy", ["127.0.0.2", "example.com", "localhost"])
def test_env_no_proxy_not_matching(burrow_server, burrow_client, monkeypatch, no_proxy):
    """NO_PROXY that does not name the server (given as 127.0.0.1) leaves the
    proxy in use: with that proxy down, the client says so and retries."""
    srv = burrow_server()
    dead = closed_port()
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{dead}")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    server = f"127.0.0.1:{srv.port}"
    cli = burrow_client(srv, "-R", "0:127.0.0.1:1", "--reconnect-max", "1s", transport=None)
    cli.wait_log(r"connecting to %s via http proxy 127\.0\.0\.1:%d$" % (q(server), dead))
    wait_count(cli, proxy_refused_re(server, dead), 2)
    assert cli.find(r"authenticated to") is None


# --------------------------------------------------------------------------
# (6) a proxy that is down, then starts
# --------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["http", "socks5"])
def test_proxy_down_then_up(burrow_server, burrow_client, tinyproxy, danted, echo, kind):
    """The proxy's port is closed: the client logs why at each attempt and
    backs off; once the proxy starts, the next attempt gets a session."""
    srv = burrow_server()
    pport = closed_port()
    server = f"127.0.0.1:{srv.port}"
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--reconnect-max", "1s",
                        "--proxy", f"{kind}://127.0.0.1:{pport}", transport=None)
    cli.wait_log(r"connecting to %s via %s proxy 127\.0\.0\.1:%d$" % (q(server), kind, pport))
    wait_count(cli, proxy_refused_re(server, pport), 2)
    assert count(cli, r"connecting to %s via %s proxy" % (q(server), kind)) >= 2
    wait_count(cli, r"reconnecting in", 2)
    assert cli.find(r"authenticated to") is None
    mark = cli.mark()
    if kind == "http":
        p = tinyproxy([srv.port], port=pport)
    else:
        p = danted(port=pport)
    cli.wait_log(authenticated_re(server), since=mark)
    tunnel_works(cli)
    assert p.proc.alive()


# --------------------------------------------------------------------------
# (7) proxies that misbehave (FakeProxy)
# --------------------------------------------------------------------------

# (scheme, FakeProxy behaviour, what the logged reason must say)
MISBEHAVIOURS = [
    ("http", "http_garbage", r"(?i).*\bHTTP\b.*"),
    ("http", "http_long_head", r"(?i).*(8 ?KiB|8192|too long|longer).*"),
    ("http", "http_long_head_ended", r"(?i).*(8 ?KiB|8192|too long|longer).*"),
    ("http", "http_cut", r"(?i).*closed.*"),
    ("http", "http_close_at_once", r"(?i).*closed.*"),
    ("socks5", "socks_bad_version", r"SOCKS5: .+"),
    ("socks5", "socks_no_method", r"SOCKS5: .+"),
    ("socks5", "socks_cut", r"(?i).*closed.*"),
    ("socks5", "socks_general_failure", r"SOCKS5: general SOCKS server failure"),   # RFC 1928 reply 1
    ("socks5", "socks_bad_atyp", r"SOCKS5: .+"),
]


@pytest.mark.parametrize("scheme,behaviour,why", MISBEHAVIOURS)
def test_misbehaving_proxy(burrow_server, burrow_client, fake_proxy, echo, scheme, behaviour, why):
    """Two attempts meet the misbehaving proxy: each is logged with a reason
    and closed well before the (30 s) handshake timeout, so the limit or the
    parse error decided, not a timer; the third attempt meets a correct proxy
    and gets its session. The client never crashes (teardown: SIGTERM, exit
    0, no sanitizer report)."""
    srv = burrow_server()
    ok = "http_ok" if scheme == "http" else "socks_ok"
    fp = fake_proxy([behaviour, behaviour, ok], upstream=srv.port)
    server = f"127.0.0.1:{srv.port}"
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "0", "--reconnect-max", "1s",
                        "--handshake-timeout", "30s", "--proxy", fp.url(scheme), transport=None)
    t0 = time.monotonic()
    wait_count(cli, connect_fail_re(server, fp.port), 2)
    assert time.monotonic() - t0 < 15, "failures took as long as a timeout"
    reasons = [m.group(1) for m in map(re.compile(connect_fail_re(server, fp.port)).search,
                                       cli.text().splitlines()) if m]
    for r in reasons[:2]:
        assert re.fullmatch(why, r), reasons
        assert not re.search(r"(?i)timed? ?out", r), reasons
    if behaviour not in ("http_cut", "http_close_at_once", "socks_cut"):
        fp.wait_closed_by_client(0)      # the client hung up on the proxy that kept talking
    cli.wait_log(authenticated_re(server))
    tunnel_works(cli)
    recs = fp.wait_conns(3)
    assert [r["behaviour"] for r in recs[:3]] == [behaviour, behaviour, ok]


def test_silent_proxy_times_out(burrow_server, burrow_client, fake_proxy):
    """A proxy that accepts and never answers: the handshake timeout ends each
    attempt (logged), and the client tries again."""
    srv = burrow_server()
    fp = fake_proxy(["silent"], upstream=srv.port)
    server = f"127.0.0.1:{srv.port}"
    cli = burrow_client(srv, "-R", "0:127.0.0.1:1", "--reconnect-max", "1s", "--handshake-timeout", "1s",
                        "--proxy", fp.url("http"), transport=None)
    m = cli.wait_log(connect_fail_re(server, fp.port))
    assert m.group(1).strip(), m.group(0)
    fp.wait_closed_by_client(0)
    fp.wait_conns(2, timeout=LOG_TIMEOUT + 5)
    assert cli.alive()
