"""Shared fixtures for the burrow end-to-end tests.

Real processes only: burrow (from env BURROW_BIN, default build/burrow), OpenSSH,
curl, Python services. Synchronisation is done on log lines (stderr read by a
background thread) and on TCP ports, never on fixed sleeps.

Run:  /usr/bin/python3 -m pytest tests/e2e
ASan: BURROW_BIN=build-asan/burrow /usr/bin/python3 -m pytest tests/e2e
TLS:  BURROW_E2E_TRANSPORT=tls /usr/bin/python3 -m pytest tests/e2e
      (every client of the burrow_client factory connects over TLS, pinned to
      the key its server logged; see burrow_client)
WS:   BURROW_E2E_TRANSPORT=ws (WebSocket over TCP) or =wss (over TLS, pinned
      as for tls) /usr/bin/python3 -m pytest tests/e2e
"""

import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import services  # noqa: E402

BURROW_BIN = os.path.abspath(os.path.join(REPO, os.environ.get("BURROW_BIN", "build/burrow")))

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

# Generous for the ASan build on a small VM; tests still finish fast when things work.
LOG_TIMEOUT = float(os.environ.get("BURROW_E2E_TIMEOUT", "10"))

RE_SERVER_LISTENING = r"server listening on (\S+):(\d+)"
# The server's key, logged on every start (and again after SIGHUP reloads it):
# SHA-256 of the certificate's SubjectPublicKeyInfo, base64 without padding.
RE_SERVER_KEY = r"tls: server key (SHA256:[A-Za-z0-9+/]{43})(?![A-Za-z0-9+/=])"

# BURROW_E2E_TRANSPORT=tls|ws|wss: run every test's clients over TLS,
# WebSocket or WebSocket over TLS (tcp: the default).
E2E_TRANSPORTS = ("tcp", "tls", "ws", "wss")
E2E_TRANSPORT = os.environ.get("BURROW_E2E_TRANSPORT", "tcp")
if E2E_TRANSPORT not in E2E_TRANSPORTS:
    raise RuntimeError(f"BURROW_E2E_TRANSPORT={E2E_TRANSPORT!r}: want one of {', '.join(E2E_TRANSPORTS)}")
# The transports that need TLS in the binary, and those that need WebSocket.
E2E_TLS = E2E_TRANSPORT in ("tls", "wss")
E2E_WS = E2E_TRANSPORT in ("ws", "wss")


def tunnel_re(name):
    return r"tunnel " + re.escape(name) + r": listening on (\S+):(\d+) ->"


# --------------------------------------------------------------------------
# Generic helpers
# --------------------------------------------------------------------------

def free_port(host="127.0.0.1"):
    """A port that was free a moment ago (only for tests that need a fixed port)."""
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(host, port, timeout=LOG_TIMEOUT):
    """Wait until host:port accepts a TCP connection."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError as e:
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"{host}:{port} did not accept within {timeout}s: {last!r}")
        time.sleep(0.02)


def wait_refused(host, port, timeout=LOG_TIMEOUT):
    """Wait until a connection to host:port is refused (nobody listening)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                pass
        except ConnectionRefusedError:
            return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{host}:{port} still accepts connections after {timeout}s")
        time.sleep(0.02)


def roundtrip(host, port, payload, timeout=LOG_TIMEOUT):
    """Connect, send payload, shutdown(SHUT_WR), read until EOF. Returns bytes.

    Sends from a thread while reading so large payloads cannot deadlock on
    flow control.
    """
    s = socket.create_connection((host, port), timeout=timeout)
    err = []

    def sender():
        try:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    got = bytearray()
    try:
        while True:
            d = s.recv(262144)
            if not d:
                break
            got += d
    finally:
        t.join(timeout)
        s.close()
    if err:
        raise err[0]
    return bytes(got)


def recv_exact(s, n, timeout=LOG_TIMEOUT):
    """Exactly n bytes from socket s (AssertionError on EOF)."""
    s.settimeout(timeout)
    buf = bytearray()
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise AssertionError(f"EOF after {len(buf)}/{n} bytes: {bytes(buf)!r}")
        buf += d
    return bytes(buf)


def sha(b):
    return hashlib.sha256(b).hexdigest()


_tls_supported = {}


def tls_supported(bin_path=BURROW_BIN):
    """Whether this burrow binary has TLS (its server --help lists --require-tls)."""
    if bin_path not in _tls_supported:
        try:
            r = subprocess.run([bin_path, "server", "--help"], capture_output=True, timeout=10)
            _tls_supported[bin_path] = b"--require-tls" in r.stdout + r.stderr
        except OSError:
            _tls_supported[bin_path] = False
    return _tls_supported[bin_path]


_ws_supported = {}


def ws_supported(bin_path=BURROW_BIN):
    """Whether this burrow binary has WebSocket transports (its client --help
    names ws://)."""
    if bin_path not in _ws_supported:
        try:
            r = subprocess.run([bin_path, "client", "--help"], capture_output=True, timeout=10)
            _ws_supported[bin_path] = b"ws://" in r.stdout + r.stderr
        except OSError:
            _ws_supported[bin_path] = False
    return _ws_supported[bin_path]


def _addr_port(addr):
    """The port of "HOST:PORT", "[V6]:PORT" or "tls://HOST:PORT" (None if absent)."""
    addr = addr.split("://", 1)[-1]
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or (host.count(":") and not host.endswith("]")):
        return None
    return int(port)


def check_sanitizers(text):
    return [m for m in SANITIZER_MARKERS if m in text]


# --------------------------------------------------------------------------
# Process wrapper with a background stderr reader
# --------------------------------------------------------------------------

class Proc:
    """A child process whose stderr (and stdout) lines are collected by threads."""

    def __init__(self, name, argv, env=None):
        self.name = name
        self.argv = argv
        self.lines = []          # stderr lines
        self.out_lines = []      # stdout lines
        self.cond = threading.Condition()
        self.eof = False
        self.checked = False     # test already asserted on the exit status
        self.killed = False      # test killed it on purpose (SIGKILL)
        self.stopped = False     # SIGSTOPped
        self.term_sent = False   # stop() sent SIGTERM
        self.popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env, start_new_session=True)
        self.pid = self.popen.pid
        self._t_err = threading.Thread(target=self._reader, args=(self.popen.stderr, self.lines, True),
                                       daemon=True)
        self._t_out = threading.Thread(target=self._reader, args=(self.popen.stdout, self.out_lines, False),
                                       daemon=True)
        self._t_err.start()
        self._t_out.start()
        # Filled in by the factories.
        self.port = None
        self.host = None
        self.role = None         # "server" | "client" for burrow processes
        self.state_dir = None    # a server's --state-dir

    def _reader(self, f, sink, is_err):
        for raw in iter(f.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.cond:
                sink.append(line)
                self.cond.notify_all()
        f.close()
        if is_err:
            with self.cond:
                self.eof = True
                self.cond.notify_all()

    # -- logs ------------------------------------------------------------
    def mark(self):
        """Index of the next stderr line: pass as since= to match only newer lines."""
        with self.cond:
            return len(self.lines)

    def text(self):
        with self.cond:
            return "\n".join(self.lines)

    def find(self, regex, since=0):
        r = re.compile(regex)
        with self.cond:
            for line in self.lines[since:]:
                m = r.search(line)
                if m:
                    return m
        return None

    def wait_log(self, regex, timeout=LOG_TIMEOUT, since=0):
        """Wait for a stderr line matching regex; returns the re.Match."""
        r = re.compile(regex)
        deadline = time.monotonic() + timeout
        pos = since
        with self.cond:
            while True:
                while pos < len(self.lines):
                    m = r.search(self.lines[pos])
                    pos += 1
                    if m:
                        return m
                if self.eof:
                    rc = self.popen.poll()
                    raise AssertionError(
                        f"{self.name} exited (rc={rc}) before logging /{regex}/; log:\n" + self._tail())
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{self.name}: no line matching /{regex}/ within {timeout}s; log:\n" + self._tail())
                self.cond.wait(left)

    def expect_no_log(self, regex, duration, since=0):
        """Assert that no line matching regex appears during `duration` seconds."""
        r = re.compile(regex)
        deadline = time.monotonic() + duration
        pos = since
        with self.cond:
            while True:
                while pos < len(self.lines):
                    if r.search(self.lines[pos]):
                        raise AssertionError(f"{self.name}: unexpected line /{regex}/:\n" + self._tail())
                    pos += 1
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    return
                self.cond.wait(left)

    def _tail(self, n=40):
        return "\n".join("    " + l for l in self.lines[-n:])

    def tunnel_addr(self, name="r1", timeout=LOG_TIMEOUT, since=0):
        m = self.wait_log(tunnel_re(name), timeout, since)
        host = m.group(1)
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        return host, int(m.group(2))

    def tunnel_port(self, name="r1", timeout=LOG_TIMEOUT, since=0):
        return self.tunnel_addr(name, timeout, since)[1]

    def server_key(self, timeout=LOG_TIMEOUT, since=0):
        """A server's TLS key fingerprint "SHA256:..." from its log line."""
        return self.wait_log(RE_SERVER_KEY, timeout, since).group(1)

    # -- lifecycle -------------------------------------------------------
    def alive(self):
        return self.popen.poll() is None

    def wait_exit(self, timeout=LOG_TIMEOUT):
        """Wait for the process to exit on its own; returns rc. Marks it checked."""
        try:
            rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} did not exit within {timeout}s; log:\n" + self._tail())
        self._join()
        self.checked = True
        return rc

    def kill(self, sig=signal.SIGKILL):
        if sig == signal.SIGSTOP:
            self.stopped = True
        elif sig == signal.SIGCONT:
            self.stopped = False
        elif sig == signal.SIGKILL:
            self.killed = True
        os.kill(self.pid, sig)
        if sig == signal.SIGKILL:
            self.popen.wait(10)
            self._join()

    def _join(self):
        self._t_err.join(5)
        self._t_out.join(5)

    def stop(self, timeout=LOG_TIMEOUT):
        """SIGTERM; returns the exit code (None if it had to be SIGKILLed)."""
        if self.popen.poll() is None:
            if self.stopped:
                os.kill(self.pid, signal.SIGCONT)
                self.stopped = False
            os.kill(self.pid, signal.SIGTERM)
            self.term_sent = True
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(5)
                self._join()
                return None
        self._join()
        return self.popen.returncode

    def teardown_problems(self):
        """Stop the process and return a list of problems (empty if all good)."""
        problems = []
        was_running = self.popen.poll() is None
        if self.killed or self.checked:
            self.stop()
        elif self.term_sent:
            rc = self.stop()
            if rc != 0:
                problems.append(f"{self.name} exited with rc={rc} after SIGTERM (want 0)")
        elif not was_running:
            self._join()
            problems.append(f"{self.name} exited on its own with rc={self.popen.returncode} "
                            "before teardown")
        else:
            rc = self.stop()
            if rc is None:
                problems.append(f"{self.name} ignored SIGTERM for {LOG_TIMEOUT}s (SIGKILLed)")
            elif rc != 0:
                problems.append(f"{self.name} exited with rc={rc} after SIGTERM (want 0)")
        bad = check_sanitizers(self.text())
        if bad:
            problems.append(f"{self.name}: sanitizer report in stderr: {bad}")
        return problems

    def dump(self):
        with self.cond:
            err = "\n".join(self.lines)
            out = "\n".join(self.out_lines)
        s = f"==== {self.name} pid={self.pid} rc={self.popen.returncode}\n$ {' '.join(self.argv)}\n{err}\n"
        if out:
            s += f"---- stdout\n{out}\n"
        return s


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def burrow_bin():
    if not os.access(BURROW_BIN, os.X_OK):
        pytest.fail(f"burrow binary not found at {BURROW_BIN} (build with `make`, or set BURROW_BIN)")
    if E2E_TLS and not tls_supported(BURROW_BIN):
        pytest.skip(f"BURROW_E2E_TRANSPORT={E2E_TRANSPORT}: {BURROW_BIN} has no TLS yet")
    if E2E_WS and not ws_supported(BURROW_BIN):
        pytest.skip(f"BURROW_E2E_TRANSPORT={E2E_TRANSPORT}: {BURROW_BIN} has no WebSocket yet")
    return BURROW_BIN


@pytest.fixture
def conns():
    """Sockets and peers opened by a test; closed at teardown."""
    opened = []
    yield opened
    for c in opened:
        try:
            c.close()
        except OSError:
            pass


@pytest.fixture
def token():
    return "tok-" + secrets.token_hex(16)


@pytest.fixture
def procs(request):
    """Registry of processes started by a test; all are checked at teardown."""
    registry = []
    request.node._burrow_procs = registry
    yield registry
    problems = []
    for p in reversed(registry):
        problems += p.teardown_problems()
    for p in registry:
        print(p.dump())
    if problems:
        pytest.fail("process teardown problems:\n  " + "\n  ".join(problems), pytrace=False)


def _burrow_env(token, use_env_token):
    env = dict(os.environ)
    env.pop("BURROW_TOKEN", None)
    if token is not None and use_env_token:
        env["BURROW_TOKEN"] = token
    return env


def _netns_prefix(netns):
    return ["ip", "netns", "exec", netns] if netns else []


@pytest.fixture
def burrow_server(burrow_bin, procs, token, tmp_path):
    """Factory: burrow_server(*extra_args, listen=, token=, heartbeat=, netns=, ready=True,
    state_dir="auto").

    A binary with TLS always gets --state-dir (it writes its key there): "auto"
    is one directory per test, shared by the test's servers, so a server
    restarted by the test keeps its key; a path: that directory; None: no flag
    (the test passes its own, or a config file does).
    """
    counter = [0]

    def start(*extra, listen="127.0.0.1:0", token=token, heartbeat=None, netns=None,
              ready=True, use_env_token=True, state_dir="auto"):
        counter[0] += 1
        argv = _netns_prefix(netns) + [burrow_bin, "server"]
        if listen is not None:
            argv += ["--listen", listen]
        if heartbeat:
            argv += ["--heartbeat", heartbeat]
        if token is not None and not use_env_token:
            argv += ["--token", token]
        if state_dir == "auto":
            state_dir = None
            if tls_supported(burrow_bin):
                state_dir = str(tmp_path / "burrow-state")
                os.makedirs(state_dir, mode=0o700, exist_ok=True)
        if state_dir is not None:
            argv += ["--state-dir", str(state_dir)]
        argv += list(extra)
        p = Proc(f"server#{counter[0]}", argv, _burrow_env(token, use_env_token))
        p.role = "server"
        p.state_dir = state_dir
        procs.append(p)
        if ready:
            m = p.wait_log(RE_SERVER_LISTENING)
            p.host, p.port = m.group(1), int(m.group(2))
        return p

    return start


def e2e_transport_args(server, procs):
    """The client flags that BURROW_E2E_TRANSPORT asks for (the one place that
    decides it): none for tcp; `--transport ws` for ws; for tls and wss,
    `--transport tls|wss --fingerprint KEY` with the key its server logged.
    The server is `server` if it is a server Proc, else the test's burrow
    server whose port the address names, else the test's only burrow server
    (a client behind a TCP relay); a test with no burrow server (a fake
    server in Python) stays on plain TCP. ws and wss use the server's default
    path, "/" (a test that gives --path or a ws:// URL chooses its own
    transport)."""
    if E2E_TRANSPORT == "tcp":
        return []
    servers = [p for p in procs if p.role == "server"]
    if not isinstance(server, str):
        target = server
    else:
        port = _addr_port(server)
        named = [p for p in servers if p.port is not None and p.port == port]
        target = named[-1] if named else (servers[0] if len(servers) == 1 else None)
    if target is None:
        return []
    if E2E_TRANSPORT == "ws":
        return ["--transport", "ws"]
    return ["--transport", E2E_TRANSPORT, "--fingerprint", target.server_key()]


@pytest.fixture
def burrow_client(burrow_bin, procs, token):
    """Factory: burrow_client(server, *extra_args, token=, heartbeat=, netns=, transport="auto").

    `server` is a server Proc (connects to 127.0.0.1:its port) or "host:port".
    transport="auto": as BURROW_E2E_TRANSPORT says (e2e_transport_args);
    None: only the flags the test gives (the TLS tests choose their own).
    """
    counter = [0]

    def start(server, *extra, token=token, heartbeat=None, netns=None, use_env_token=True,
              transport="auto"):
        counter[0] += 1
        addr = server if isinstance(server, str) else f"127.0.0.1:{server.port}"
        argv = _netns_prefix(netns) + [burrow_bin, "client", "--server", addr]
        if heartbeat:
            argv += ["--heartbeat", heartbeat]
        if token is not None and not use_env_token:
            argv += ["--token", token]
        if transport == "auto":
            argv += e2e_transport_args(server, procs)
        argv += list(extra)
        p = Proc(f"client#{counter[0]}", argv, _burrow_env(token, use_env_token))
        p.role = "client"
        procs.append(p)
        return p

    return start


@pytest.fixture
def service():
    """Factory: service(mode="echo"|"sha"|"banner") -> services.Service on 127.0.0.1:0."""
    started = []

    def start(mode="echo", host="127.0.0.1"):
        s = services.Service(mode, host)
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


@pytest.fixture
def echo(service):
    return service("echo")


def closed_port():
    """A loopback port with (very likely) nobody listening."""
    for _ in range(20):
        p = free_port()
        try:
            socket.create_connection(("127.0.0.1", p), timeout=1).close()
        except ConnectionRefusedError:
            return p
    raise RuntimeError("could not find a closed port")


# --------------------------------------------------------------------------
# OpenSSH server fixture
# --------------------------------------------------------------------------

class Sshd:
    def __init__(self, d, port, key, proc):
        self.dir = d
        self.port = port
        self.key = key
        self.proc = proc

    def ssh_opts(self, port):
        return ["-p", str(port), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
                "-i", self.key]

    def scp_opts(self, port):
        return ["-P", str(port), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
                "-i", self.key]


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    for tool in ("/usr/sbin/sshd", "ssh", "scp", "ssh-keygen"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed")
    d = str(tmp_path_factory.mktemp("sshd"))
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{d}/host_ed25519"], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{d}/client_key"], check=True)
    shutil.copy(f"{d}/client_key.pub", f"{d}/authorized_keys")
    os.chmod(f"{d}/client_key", 0o600)
    proc = None
    for _attempt in range(5):
        port = free_port()
        cfg = f"{d}/sshd_config"
        with open(cfg, "w") as f:
            f.write(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {d}/host_ed25519
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
PermitRootLogin yes
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
Subsystem sftp internal-sftp
LogLevel VERBOSE
""")
        proc = Proc("sshd", ["/usr/sbin/sshd", "-D", "-e", "-f", cfg], dict(os.environ))
        try:
            proc.wait_log(r"Server listening on 127\.0\.0\.1 port (\d+)")
            break
        except AssertionError:
            proc.stop()
            proc = None
    if proc is None:
        pytest.fail("could not start sshd")
    yield Sshd(d, port, f"{d}/client_key", proc)
    proc.stop()


# --------------------------------------------------------------------------
# Attach the burrow logs to failed test reports
# --------------------------------------------------------------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and rep.when == "call":
        registry = getattr(item, "_burrow_procs", None)
        if registry:
            rep.sections.append(("burrow process logs", "\n".join(p.dump() for p in registry)))
