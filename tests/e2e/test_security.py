"""Security behaviour (issue 8), end to end against the real binary.

- Data connections prove their session with the session key: a peer that
  knows the token but not a victim session's key cannot attach a data
  connection to that session and so can never be handed one of its streams
  (ERROR 3 "wrong session key"; ERROR 7 "no such session" for an unknown id).
- The client survives a server that sends OPEN twice for one stream id
  (protocol error, reconnect, no crash), against a fake server in Python.
- PONG before authentication is a protocol error ("bad PONG").
- Peer text (an ERROR's reason) reaches the log with '?' in place of invalid
  UTF-8 and C1 controls.
- Usage errors never echo the value of a mistyped flag or a stray argument.
- A wildcard tunnel ('*', '' with gateway_ports clientspecified, or
  gateway_ports yes) listens dual-stack on [::], so nobody can take the other
  family's side of its port.
- A token shorter than 16 characters is warned about at start.
- The token never appears in a core dump of the server (gcore; on a
  sanitizer build, the memory a kernel core dump would hold), whether it came
  from BURROW_TOKEN, a YAML file or --token.

Synchronisation is on log lines, ports and frames, never on sleeps.
"""

import mmap
import os
import re
import resource
import secrets
import select
import shutil
import socket
import subprocess

import pytest

from conftest import LOG_TIMEOUT, check_sanitizers, roundtrip, sha
import wire
from wire import Peer

MB = 1024 * 1024


def has_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


# --------------------------------------------------------------------------
# Helpers: a wire.Peer from a chosen loopback source address
# --------------------------------------------------------------------------

def data_login(port, key, session_id, source, conns):
    """HELLO and AUTH of a data connection naming session_id, its proof keyed
    by `key`. Returns (peer, the server's answer to AUTH)."""
    p = Peer("127.0.0.1", port, source=source)
    conns.append(p)
    cn = os.urandom(wire.NONCE_LEN)
    p.send_frame(wire.HELLO, 0, wire.hello_payload(wire.ROLE_DATA, cn))
    _v, _role, sn = wire.parse_hello(p.expect(wire.HELLO).payload)
    p.send_frame(wire.AUTH, 0, wire.client_proof(key, cn, sn) + wire.u32(session_id))
    return p, p.read_frame()


def assert_refused(srv, p, answer, code, text, source):
    """The data connection got ERROR code/text, and the server logged it."""
    assert answer.type == wire.ERROR, f"expected ERROR, got {wire.describe(answer)}"
    assert wire.parse_error(answer.payload) == (code, text)
    label = r"data connection \(%s:%d\)" % (re.escape(source), p.local_port)
    srv.wait_log(label + r": authentication failed: " + re.escape(text) + "$")
    srv.wait_log(label + r": closed: authentication failed$")


def assert_silent(p, timeout=0.3):
    """Nothing arrives on an open socket within `timeout` (absence check)."""
    r, _, _ = select.select([p.sock], [], [], timeout)
    if r:
        got = p.sock.recv(65536, socket.MSG_DONTWAIT)
        raise AssertionError(f"attacker's data connection received {got[:64]!r}")


# --------------------------------------------------------------------------
# 1. Stream hijack through a victim session's id
# --------------------------------------------------------------------------

def test_data_connection_needs_victim_session_key(burrow_server, burrow_client, service,
                                                  token, conns):
    """An attacker who knows the token and the victim's session id (from the
    server log) cannot attach data connections to the victim's session: a
    proof keyed by the token or by the attacker's own session key gets
    ERROR 3 'wrong session key', an id with no session ERROR 7 'no such
    session'. Otherwise the server could hand the attacker a victim stream
    when it moves (the newest idle data connection is taken first). The
    victim's bulk upload moves, arrives intact, and no attacker connection
    sees a byte of it; the attacker's own data connections still work."""
    srv = burrow_server("--dedicated-after", "64K")
    svc = service("sha")
    victim = burrow_client(srv, "-R", f"0:127.0.0.1:{svc.port}", "--pool", "2")
    tport = victim.tunnel_port("r1")
    vid = int(victim.wait_log(r"session (\d+): 2 data connections ready").group(1))

    attacker = Peer("127.0.0.1", srv.port, source="127.0.0.2")
    conns.append(attacker)
    attacker.handshake(token)
    aid = attacker.session_id
    srv.wait_log(r"session %d \(127\.0\.0\.2:%d\): authenticated$" % (aid, attacker.local_port))
    # The victim's id, as the attacker reads it from the server log.
    seen = [int(m.group(1)) for m in
            (re.search(r"session (\d+) \(127\.0\.0\.1:\d+\): authenticated$", l)
             for l in srv.text().splitlines()) if m]
    assert set(seen) - {aid} == {vid}, (seen, vid)

    # The attacker's own data connection (its own session key) is accepted.
    own = Peer("127.0.0.1", srv.port, source="127.0.0.2")
    conns.append(own)
    assert own.handshake(attacker.session_key, wire.ROLE_DATA, session_id=aid) == aid

    # Naming the victim's session: with the token, and with its own key.
    refused = []
    for key in (token, attacker.session_key):
        p, ans = data_login(srv.port, key, vid, "127.0.0.2", conns)
        assert_refused(srv, p, ans, wire.ERR_AUTH, "wrong session key", "127.0.0.2")
        refused.append(p)
    # Naming a session that does not exist.
    rid = 0
    while rid in (0, vid, aid):
        rid = secrets.randbits(32)
    p, ans = data_login(srv.port, token, rid, "127.0.0.3", conns)
    assert_refused(srv, p, ans, wire.ERR_INVALID, "no such session", "127.0.0.3")
    refused.append(p)

    # The victim's user uploads in bulk: the stream moves and arrives intact.
    mark = srv.mark()
    data = os.urandom(4 * MB + 5)
    got = roundtrip("127.0.0.1", tport, data, timeout=20).decode().strip()
    assert got == sha(data)
    srv.wait_log(r"session %d \(127\.0\.0\.1:\d+\) stream \d+: moved to a dedicated "
                 r"connection after \d+ bytes" % vid, since=mark)

    # None of the attacker's connections got anything of it.
    for p in refused:
        rest = p.expect_closed()
        assert rest == [], [wire.describe(f) for f in rest]
    assert_silent(own)
    assert attacker.barrier() == []
    assert srv.find(r"session %d .*stream" % aid) is None


# --------------------------------------------------------------------------
# 2. The client against a fake server that repeats an OPEN
# --------------------------------------------------------------------------

class FakeConn:
    """The server side of one connection from the real client."""

    def __init__(self, sock):
        self.sock = sock
        sock.settimeout(LOG_TIMEOUT)
        self.authenticated = False

    def recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            try:
                d = self.sock.recv(n - len(buf))
            except ConnectionResetError:
                d = b""
            if not d:
                raise wire.PeerClosed(f"EOF after {len(buf)}/{n} bytes", bytes(buf))
            buf += d
        return bytes(buf)

    def send_frame(self, ftype, fid=0, payload=b""):
        self.sock.sendall(wire.encode_frame(ftype, fid, payload))

    def read_frame(self):
        t, flags, reserved, fid, n = wire.decode_header(self.recv_exact(wire.HEADER_LEN))
        assert reserved == 0, f"client set reserved bits {reserved:#x}"
        limit = wire.MAX_PAYLOAD if self.authenticated else wire.HANDSHAKE_MAX_PAYLOAD
        assert n <= limit, f"client sent {wire.frame_name(t)} with len {n}"
        return wire.Frame(t, flags, fid, self.recv_exact(n) if n else b"")

    def next_frame(self):
        """The next frame other than PING (answered) and PONG."""
        while True:
            f = self.read_frame()
            if f.type == wire.PING:
                self.send_frame(wire.PONG, 0, f.payload)
            elif f.type != wire.PONG:
                return f

    def expect(self, ftype, fid=None):
        f = self.next_frame()
        assert f.type == ftype and (fid is None or f.id == fid), \
            f"expected {wire.frame_name(ftype)}, got {wire.describe(f)}"
        return f

    def read_hello(self):
        f = self.read_frame()
        assert f.type == wire.HELLO, wire.describe(f)
        version, role, cn = wire.parse_hello(f.payload)
        assert (version, role) == (wire.VERSION, wire.ROLE_CONTROL)
        return cn

    def accept_session(self, token, session_id):
        """Server side of the handshake, then REGISTER_OK for the one tunnel."""
        cn = self.read_hello()
        sn = os.urandom(wire.NONCE_LEN)
        self.send_frame(wire.HELLO, 0, wire.hello_payload(wire.ROLE_CONTROL, sn))
        f = self.expect(wire.AUTH)
        assert f.payload == wire.client_proof(token, cn, sn), "client proof is wrong"
        self.send_frame(wire.AUTH_OK, 0,
                        wire.server_proof(token, cn, sn) + wire.u32(session_id))
        self.authenticated = True
        f = self.expect(wire.REGISTER)
        self.send_frame(wire.REGISTER_OK, f.id, wire.enc_str("127.0.0.1:40000"))
        return f.id

    def send_open(self, sid, tunnel_id, peer="127.0.0.1:5555"):
        self.send_frame(wire.OPEN, sid,
                        wire.u32(tunnel_id) + wire.u32(1 << 20) + wire.enc_str(peer))

    def frames_until_closed(self):
        frames = []
        while True:
            try:
                frames.append(self.read_frame())
            except wire.PeerClosed:
                return frames

    def close(self):
        self.sock.close()


class FakeServer:
    """A listening socket that plays the burrow server, one connection at a time."""

    def __init__(self):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.lsock.settimeout(LOG_TIMEOUT)
        self.port = self.lsock.getsockname()[1]

    def accept(self):
        s, _ = self.lsock.accept()
        return FakeConn(s)

    def close(self):
        self.lsock.close()


@pytest.fixture
def fake_server(conns):
    fs = FakeServer()
    conns.append(fs)
    return fs


@pytest.mark.parametrize("when", ["dialing", "open"])
def test_client_survives_repeated_open(burrow_client, fake_server, echo, token, conns, when):
    """A server that sends OPEN(2) twice ('dialing': back to back, both dials
    succeed; 'open': again after the client's OPEN_OK) is broken: the client
    sends ERROR 'protocol error: OPEN for a stream id in use', logs
    'disconnected: ...', and connects again. Its old stream state must not be
    freed twice (no crash, no sanitizer report, exit 0 on SIGTERM); the new
    session relays a stream to the target."""
    cli = burrow_client(f"127.0.0.1:{fake_server.port}", "--pool", "0",
                        "-R", f"0:127.0.0.1:{echo.port}")
    c1 = fake_server.accept()
    conns.append(c1)
    tid = c1.accept_session(token, 0x1234567)
    cli.wait_log(r"tunnel r1: listening on 127\.0\.0\.1:40000 ->")
    mark = cli.mark()
    c1.send_open(2, tid)
    if when == "open":
        f = c1.expect(wire.OPEN_OK, 2)
        assert wire.parse_u32(f.payload) > 0
    c1.send_open(2, tid)
    frames = c1.frames_until_closed()
    errors = [wire.parse_error(f.payload) for f in frames if f.type == wire.ERROR]
    assert errors == [(wire.ERR_PROTOCOL, "protocol error: OPEN for a stream id in use")], \
        [wire.describe(f) for f in frames]
    cli.wait_log(r"disconnected: protocol error: OPEN for a stream id in use$", since=mark)

    # It reconnects, and the new session works.
    c2 = fake_server.accept()
    conns.append(c2)
    tid = c2.accept_session(token, 0x7654321)
    cli.wait_log(r"tunnel r1: listening on 127\.0\.0\.1:40000 ->", since=mark)
    c2.send_open(2, tid)
    c2.expect(wire.OPEN_OK, 2)
    c2.send_frame(wire.DATA, 2, b"still alive")
    buf = b""
    while len(buf) < 11:
        f = c2.next_frame()
        if f.type == wire.WINDOW:
            continue
        assert f.type == wire.DATA and f.id == 2, wire.describe(f)
        buf += f.payload
    assert buf == b"still alive"
    assert cli.alive()


# --------------------------------------------------------------------------
# 3. PONG before authentication
# --------------------------------------------------------------------------

@pytest.mark.parametrize("when", ["first-frame", "after-hello"])
def test_pong_before_auth_is_protocol_error(burrow_server, conns, when):
    """A PONG before authentication answers no PING of ours: ERROR code 1
    'protocol error: bad PONG', and the server closes the connection (as it
    does for PING before authentication). A PING follows the PONG, so a
    server that ignores the PONG answers 'bad PING' instead."""
    srv = burrow_server()
    p = Peer("127.0.0.1", srv.port)
    conns.append(p)
    if when == "after-hello":
        p.send_frame(wire.HELLO, 0, wire.hello_payload(wire.ROLE_CONTROL, os.urandom(32)))
        p.expect(wire.HELLO)
    p.send_raw(wire.encode_frame(wire.PONG, 0, b"12345678") +
               wire.encode_frame(wire.PING, 0, b"abcdefgh"))
    f = p.read_frame()
    assert f.type == wire.ERROR, wire.describe(f)
    assert wire.parse_error(f.payload) == (wire.ERR_PROTOCOL, "protocol error: bad PONG")
    assert p.expect_closed() == []
    srv.wait_log(r"(connection|session \d+) \(127\.0\.0\.1:%d\): closed: protocol error: "
                 r"bad PONG$" % p.local_port)


# --------------------------------------------------------------------------
# 4. Peer text in the log
# --------------------------------------------------------------------------

def test_peer_text_is_sanitised_in_log(burrow_server, token, conns):
    """An authenticated peer's ERROR text with raw bytes 0x80..0x9f, a C1
    control encoded as UTF-8 (0xC2 0x85), a lone 0xff and valid UTF-8: the
    'client says:' log line has '?' for every invalid byte and the C1
    control, keeps 'é' and '日本', and carries no C1 control (terminal escape
    sequences) and no invalid UTF-8 (which the reader turns into U+FFFD)."""
    srv = burrow_server()
    p = Peer.control("127.0.0.1", srv.port, token)
    conns.append(p)
    text = (b"raw:" + bytes(range(0x80, 0xa0)) + b" c1:\xc2\x85 ff:\xff ok:"
            + "é日本".encode() + b" end")
    p.send_frame(wire.ERROR, 0, wire.error_payload(wire.ERR_PROTOCOL, text))
    m = srv.wait_log(r"session %d \(127\.0\.0\.1:%d\): client says: (.*)$"
                     % (p.session_id, p.local_port))
    said = m.group(1)
    bad = [f"U+{ord(c):04X}" for c in said if 0x80 <= ord(c) <= 0x9f or c == "\ufffd"]
    assert bad == [], f"log line carries {bad}: {said!r}"
    assert re.fullmatch(r"raw:\?{32} c1:\?{1,2} ff:\? ok:é日本 end", said), said
    srv.wait_log(r"session %d \(127\.0\.0\.1:%d\): closed: client error$"
                 % (p.session_id, p.local_port))


# --------------------------------------------------------------------------
# 5. Usage errors do not echo secrets
# --------------------------------------------------------------------------

def run_burrow(burrow_bin, *args):
    env = dict(os.environ)
    env["BURROW_TOKEN"] = "tok-" + secrets.token_hex(16)
    r = subprocess.run([burrow_bin] + list(args), capture_output=True, timeout=10,
                       env=env, stdin=subprocess.DEVNULL)
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    assert not check_sanitizers(err), err
    return r.returncode, out, err


@pytest.mark.parametrize("args,needle", [
    (["client", "--tokn=SECRETVALUE", "-s", "127.0.0.1:1", "-R", "0:127.0.0.1:1"], "'--tokn'"),
    (["server", "SECRETVALUE"], "unexpected argument"),
    (["client", "-s", "127.0.0.1:1", "-R", "0:127.0.0.1:1", "SECRETVALUE"],
     "unexpected argument"),
], ids=["mistyped-flag", "server-positional", "client-positional"])
def test_usage_errors_do_not_echo_values(burrow_bin, args, needle):
    """A mistyped '--tokn=VALUE' or a stray argument (maybe a token pasted in
    the wrong place) exits 2 and names the mistake without its value, so the
    secret does not land in terminal scrollback or a supervisor's log."""
    rc, out, err = run_burrow(burrow_bin, *args)
    assert rc == 2, (rc, err)
    assert needle in err, err
    assert "SECRETVALUE" not in err + out, err


# --------------------------------------------------------------------------
# 6. Dual-stack wildcard tunnels
# --------------------------------------------------------------------------

def wildcard_label():
    return "[::]" if has_ipv6_loopback() else "0.0.0.0"


def assert_dual_stack(port):
    assert roundtrip("127.0.0.1", port, b"via ipv4") == b"via ipv4"
    if has_ipv6_loopback():
        assert roundtrip("::1", port, b"via ipv6") == b"via ipv6"


@pytest.mark.parametrize("bind", ["*", ""], ids=["star", "empty"])
def test_clientspecified_wildcard_is_dual_stack(burrow_server, burrow_client, echo, bind):
    """gateway_ports clientspecified with bind '*' or '': the tunnel listens
    on [::] for IPv4 and IPv6 users alike, and another client can take
    neither family's side of that port (explicit '::' or 0.0.0.0)."""
    srv = burrow_server("--gateway-ports", "clientspecified")
    cli = burrow_client(srv, "-R", f"{bind}:0:127.0.0.1:{echo.port}")
    m = cli.wait_log(r"tunnel r1: listening on (\S+):(\d+) ->")
    assert m.group(1) == wildcard_label(), m.group(0)
    port = int(m.group(2))
    srv.wait_log(r"tunnel r1 listening on %s:%d$" % (re.escape(wildcard_label()), port))
    assert_dual_stack(port)

    other = burrow_client(srv, "-R", f"[::]:{port}:127.0.0.1:{echo.port}",
                          "-R", f"0.0.0.0:{port}:127.0.0.1:{echo.port}",
                          "-R", f"0:127.0.0.1:{echo.port}")
    other.wait_log(r"tunnel r1: registration failed: .*in use")
    other.wait_log(r"tunnel r2: registration failed: .*in use")
    other.tunnel_port("r3")
    assert other.find(r"tunnel r[12]: listening") is None
    assert_dual_stack(port)


def test_gateway_ports_yes_is_dual_stack(burrow_server, burrow_client, echo):
    """gateway_ports yes: every tunnel listens on [::], both families reach it."""
    srv = burrow_server("--gateway-ports", "yes")
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}")
    m = cli.wait_log(r"tunnel r1: listening on (\S+):(\d+) ->")
    assert m.group(1) == wildcard_label(), m.group(0)
    assert_dual_stack(int(m.group(2)))


# --------------------------------------------------------------------------
# 7. Short token warning
# --------------------------------------------------------------------------

SHORT_WARNING = r"token is shorter than 16 characters"


def test_short_token_is_warned_about(burrow_server, burrow_client, echo):
    """A 5-character token is guessable offline from one recorded handshake:
    both roles warn at start (and still work)."""
    srv = burrow_server(token="short")
    srv.wait_log(SHORT_WARNING)
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", token="short")
    cli.wait_log(SHORT_WARNING)
    assert roundtrip("127.0.0.1", cli.tunnel_port("r1"), b"short") == b"short"


def test_long_token_no_warning(burrow_server, burrow_client, echo):
    """A 32-character token: no warning. Checked once a client is through,
    so the start-up lines are all in."""
    tok = secrets.token_hex(16)
    srv = burrow_server(token=tok)
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", token=tok)
    assert roundtrip("127.0.0.1", cli.tunnel_port("r1"), b"long") == b"long"
    srv.wait_log(r"tunnel r1 listening on")
    assert srv.find(r"token is shorter") is None
    assert cli.find(r"token is shorter") is None


# --------------------------------------------------------------------------
# 8. The token is not in core dumps
# --------------------------------------------------------------------------

# gdb writes every mapping not marked MADV_DONTDUMP ("dd" in smaps), even
# PROT_NONE reservations: an ASan build's allocator reserves terabytes, which
# would fill the disk. For such a process the test reads what the kernel
# would dump instead (readable mappings not marked dd, through /proc/PID/mem),
# and gcore may never write more than CORE_MAX bytes.
CORE_MAX = 1 << 30


def mappings(pid):
    """[start, end, perms, vmflags, name] of each mapping of pid, from smaps."""
    out = []
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+ *(.*)", line)
            if m:
                out.append([int(m.group(1), 16), int(m.group(2), 16), m.group(3), [],
                            m.group(4) or "anonymous"])
            elif line.startswith("VmFlags:"):
                out[-1][3] = line.split()[1:]
    return out


def core_estimate(pid):
    """Bytes of the mappings that gcore would write."""
    return sum(hi - lo for lo, hi, _perms, flags, _name in mappings(pid) if "dd" not in flags)


def limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (CORE_MAX, CORE_MAX))


def find_all(buf, needle):
    found = []
    i = buf.find(needle)
    while i >= 0:
        found.append(i)
        i = buf.find(needle, i + 1)
    return found


def gcore_find(gcore, pid, prefix, needles):
    """gcore pid; returns {needle: offsets in the core file}."""
    core = f"{prefix}.{pid}"
    try:
        r = subprocess.run([gcore, "-o", prefix, str(pid)], capture_output=True,
                           timeout=60, stdin=subprocess.DEVNULL, preexec_fn=limit_file_size)
        assert r.returncode == 0 and os.path.exists(core) and os.path.getsize(core) > 0, \
            (r.returncode, r.stdout.decode(errors="replace")[-2000:],
             r.stderr.decode(errors="replace")[-2000:])
        with open(core, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return {n: find_all(m, n) for n in needles}
    finally:
        if os.path.exists(core):
            os.unlink(core)


def memory_find(pid, needles):
    """Reads pid's readable mappings not marked dd (what the kernel puts in a
    core); returns {needle: [(address, "perms name", 16 bytes before)]}."""
    found = {n: [] for n in needles}
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for lo, hi, perms, flags, name in mappings(pid):
            if not perms.startswith("r") or "dd" in flags:
                continue
            try:
                mem.seek(lo)
                buf = mem.read(hi - lo)
            except OSError:   # [vvar] and the like
                continue
            for n in needles:
                found[n] += [(hex(lo + i), f"{perms} {name}", buf[max(0, i - 16):i])
                             for i in find_all(buf, n)]
    return found


@pytest.mark.parametrize("source", ["env", "yaml", "flag"])
def test_token_not_in_core_dump(burrow_server, token, conns, tmp_path, source):
    """gcore of a running server whose token came from BURROW_TOKEN, a YAML
    file or --token, after a client session and a data connection have used
    it: the token bytes are nowhere in the core, while a tunnel name in the
    heap is (MADV_DONTDUMP, the environment value and the config file's bytes
    wiped, argv hidden), so a crash dump or a debugging session does not leak
    it. With BURROW_TOKEN, the process environment no longer shows it either.
    (An ASan build: its memory as the kernel would dump it, not gcore.)"""
    gcore = shutil.which("gcore")
    if gcore is None:
        pytest.skip("gcore (gdb) not installed")
    if source == "env":
        srv = burrow_server(token=token)
    elif source == "flag":
        srv = burrow_server(token=token, use_env_token=False)
    else:
        cfg = tmp_path / "server.yaml"
        cfg.write_text(f"token: {token}\n")
        srv = burrow_server("-c", str(cfg), token=None)
    p = Peer.control("127.0.0.1", srv.port, token)
    conns.append(p)
    # A tunnel name in the server's heap: the core must show it (the dump
    # and the search work), unlike the token.
    canary = "canary-" + secrets.token_hex(8)
    p.register(canary)
    d = Peer.data("127.0.0.1", srv.port, p.session_key, p.session_id)
    conns.append(d)
    srv.wait_log(r"session %d \(127\.0\.0\.1:%d\): authenticated$" % (p.session_id, p.local_port))

    if source == "env":
        with open(f"/proc/{srv.pid}/environ", "rb") as f:
            assert token.encode() not in f.read(), "BURROW_TOKEN still in the environment"

    needles = (token.encode(), canary.encode())
    if core_estimate(srv.pid) <= CORE_MAX:
        found = gcore_find(gcore, srv.pid, str(tmp_path / "core"), needles)
        hits = found[token.encode()]
    else:
        found = memory_find(srv.pid, needles)
        hits = found[token.encode()]
        if source == "env":
            # The sanitizer runtime reads /proc/self/environ into its own
            # buffer before main and keeps it: not burrow's copy.
            hits = [h for h in hits if not (h[1].endswith(" anonymous")
                                            and h[2].endswith(b"\0BURROW_TOKEN="))]
    assert found[canary.encode()], "the dump lacks the server's heap"
    assert hits == [], f"token found in the dump at {hits[:10]}"
    # The server is fine after the dump.
    assert p.barrier() == []
