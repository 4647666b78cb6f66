"""Server limits against abuse (issue 8): what one peer can make the server
spend, and that honest clients keep being served meanwhile.

- unauthenticated floods: connections per source refused at accept, the
  oldest handshake evicted when the server-wide cap is reached, small input
  buffers and no PONG before authentication (bounded RSS);
- tunnels per session (--max-tunnels), REGISTER_ERR code 9;
- control output a peer never reads: closed over 8 MiB (bounded RSS);
- user connections per tunnel (--max-conns), multiplexed streams per session
  (--max-streams, both roles);
- failed logins throttled per source address (ERROR code 9), other addresses
  never slowed;
- rate-limited log lines (the log stays small, "(N similar lines suppressed)").

The attacker connects from 127.0.0.2 (or 127.0.0.3), binding its socket before
connect; real clients come from 127.0.0.1. Memory is the server's VmRSS from
/proc/PID/status, sampled while the attack runs. Synchronisation is on log
lines, frames and sockets; sleeps only pace polling loops.
"""

import os
import re
import resource
import selectors
import socket
import struct
import threading
import time
from collections import Counter

import pytest

from conftest import LOG_TIMEOUT, recv_exact, roundtrip
import wire
from wire import Peer

ERR_LIMIT = 9  # src/proto/msg.h (not in wire.py)

ATTACKER = "127.0.0.2"
MB = 1024 * 1024
LOG_MAX = 1 * MB  # the server's whole stderr over a test
IP_BIND_ADDRESS_NO_PORT = 24  # <linux/in.h>: the source port is picked at connect
SUPPRESSED = r"\(\d+ similar lines suppressed\)"
THROTTLED_TEXT = r"^too many failed logins from this address: retry in \d+\.\d s$"


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def rss(pid):
    """VmRSS of a process, in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


class RssWatch:
    """Samples a process's VmRSS every 10 ms from a thread; .base, .peak (bytes)."""

    def __init__(self, pid):
        self.pid = pid
        self.base = rss(pid)
        self.peak = self.base
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.wait(0.01):
            try:
                self.peak = max(self.peak, rss(self.pid))
            except (OSError, AssertionError):
                return

    def stop(self):
        """Stops sampling; returns the growth (peak - base) in bytes."""
        self._stop.set()
        self._t.join(5)
        self.peak = max(self.peak, rss(self.pid))
        return self.peak - self.base


def connect_from(source, port, timeout=LOG_TIMEOUT):
    """A TCP connection to 127.0.0.1:port from the address source.

    Closed with a reset (SO_LINGER 0) so that a flood leaves no TIME_WAIT on
    our side; the port is picked at connect (IP_BIND_ADDRESS_NO_PORT)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.bind((source, 0))
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
    except BaseException:
        s.close()
        raise
    return s


def hello_frame():
    return wire.encode_frame(wire.HELLO, 0,
                             wire.hello_payload(wire.ROLE_CONTROL, os.urandom(wire.NONCE_LEN)))


def wrong_login(port, source, token):
    """One login with a wrong token from source.

    Returns (code, text) of the server's ERROR (on the fresh connection or in
    answer to AUTH), or "closed" if the connection ended without a frame."""
    try:
        p = Peer("127.0.0.1", port, sock=connect_from(source, port))
    except (ConnectionError, socket.timeout) as e:
        return "closed" if isinstance(e, ConnectionError) else "connect timeout"
    try:
        nonce = os.urandom(wire.NONCE_LEN)
        p.send_frame(wire.HELLO, 0, wire.hello_payload(wire.ROLE_CONTROL, nonce))
        f = p.read_frame()
        if f.type == wire.HELLO:
            _v, _r, server_nonce = wire.parse_hello(f.payload)
            p.send_frame(wire.AUTH, 0, wire.client_proof("wrong-" + token, nonce, server_nonce))
            f = p.read_frame()
        if f.type != wire.ERROR:
            raise AssertionError(f"wrong token: expected ERROR, got {wire.describe(f)}")
        return wire.parse_error(f.payload)
    except (wire.PeerClosed, ConnectionError):
        return "closed"
    finally:
        p.close()


def timed_login(port, token):
    """A control handshake with the right token from 127.0.0.1; returns its duration."""
    t0 = time.monotonic()
    p = Peer.control("127.0.0.1", port, token)
    took = time.monotonic() - t0
    assert p.session_id != 0
    p.close()
    return took


def echo_conn(port, tag, conns):
    """A user connection on the tunnel that has echoed one message (proof it is open)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=LOG_TIMEOUT)
    conns.append(s)
    s.sendall(tag)
    assert recv_exact(s, len(tag)) == tag
    return s


def echo_conn_eventually(port, tag, conns, timeout=LOG_TIMEOUT):
    """echo_conn, retried while the server still refuses (a slot frees asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return echo_conn(port, tag, conns)
        except (AssertionError, OSError) as e:
            if time.monotonic() > deadline:
                raise AssertionError(f"no working connection within {timeout}s: {e!r}")
        time.sleep(0.05)


def assert_closed_by_server(s, timeout=5):
    """The server closes s at once: EOF or reset, without data."""
    s.settimeout(timeout)
    try:
        d = s.recv(100)
    except ConnectionResetError:
        return
    except socket.timeout:
        raise AssertionError(f"connection still open after {timeout}s")
    assert d == b"", f"expected the connection closed, got {d!r}"


def wait_count(proc, regex, n, timeout=LOG_TIMEOUT):
    """Waits until n lines of proc's log match regex."""
    deadline = time.monotonic() + timeout
    while count_lines(proc, regex) < n:
        assert time.monotonic() < deadline, (
            f"{proc.name}: {count_lines(proc, regex)}/{n} lines /{regex}/ after {timeout}s")
        time.sleep(0.02)


def log_size(proc):
    return len(proc.text().encode())


def count_lines(proc, regex):
    r = re.compile(regex)
    with proc.cond:
        return sum(1 for line in proc.lines if r.search(line))


@pytest.fixture
def nofile():
    """Room for a thousand sockets in this process (and the servers it starts)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if want < 4096:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is too low for a flood of 1000 connections")
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# --------------------------------------------------------------------------
# 1. Unauthenticated floods
# --------------------------------------------------------------------------

class Flood:
    """n connections from ATTACKER, each sending `payload`, from several threads.

    Each thread opens its connections in groups and writes to them without
    blocking (selectors), so a connection the server closes or stops reading
    never holds the flood up. Counts what happened to the connections."""

    def __init__(self, port, n, payload, threads=8, group=25, deadline=15):
        self.port = port
        self.payload = payload
        self.group = group
        self.left = n
        self.started = 0
        self.stats = Counter()
        self.lock = threading.Lock()
        self.deadline = time.monotonic() + deadline
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        self.errors = []
        for t in self.threads:
            t.start()

    def _take(self):
        with self.lock:
            k = min(self.group, self.left)
            self.left -= k
            return k

    def _count(self, what, k=1):
        with self.lock:
            self.stats[what] += k

    def _run(self):
        try:
            while True:
                k = self._take()
                if k == 0:
                    return
                self._group(k)
        except Exception as e:  # reported by join()
            self.errors.append(e)

    def _group(self, k):
        sel = selectors.DefaultSelector()
        for _ in range(k):
            try:
                s = connect_from(ATTACKER, self.port, timeout=5)
            except OSError:
                self._count("connect failed")
                continue
            with self.lock:
                self.started += 1
            s.setblocking(False)
            sel.register(s, selectors.EVENT_WRITE, [memoryview(self.payload), 0])
        while sel.get_map():
            if time.monotonic() > self.deadline:
                for key in list(sel.get_map().values()):
                    self._count("stalled")
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
                break
            for key, _ in sel.select(0.2):
                mv, off = key.data
                s = key.fileobj
                try:
                    n = s.send(mv[off:off + 65536])
                except BlockingIOError:
                    continue
                except OSError:
                    self._count("closed by the server")
                    sel.unregister(s)
                    s.close()
                    continue
                key.data[1] = off + n
                if off + n == len(mv):
                    self._count("sent everything")
                    sel.unregister(s)
                    s.close()
        sel.close()

    def join(self):
        for t in self.threads:
            t.join(max(1, self.deadline - time.monotonic() + 5))
        assert not self.errors, self.errors
        assert not any(t.is_alive() for t in self.threads), "flood threads hang"


def wait_started(flood, n, timeout=LOG_TIMEOUT):
    deadline = time.monotonic() + timeout
    while flood.started < n:
        assert time.monotonic() < deadline, f"the flood opened only {flood.started} connections"
        time.sleep(0.005)


def test_unauthenticated_flood(burrow_server, burrow_client, echo, nofile):
    """1,000 connections from one address, each HELLO + 256 KiB of PONG frames:
    per-source refusals (rate-limited), bounded RSS, a real client still gets
    its tunnel within 3 s."""
    srv = burrow_server()
    pong = wire.encode_frame(wire.PONG, 0, b"p" * (1024 - wire.HEADER_LEN))
    payload = hello_frame() + pong * 256  # HELLO + 256 KiB of PONG frames
    watch = RssWatch(srv.pid)
    flood = Flood(srv.port, 1000, payload)
    wait_started(flood, 250)
    t0 = time.monotonic()
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}")
    port = cli.tunnel_port("r1", timeout=3)
    got_tunnel = time.monotonic() - t0
    flood_running = flood.started < 1000
    assert roundtrip("127.0.0.1", port, b"through the flood") == b"through the flood"
    flood.join()
    growth = watch.stop()
    print(f"flood: {dict(flood.stats)}, tunnel after {got_tunnel:.2f}s "
          f"(flood still running: {flood_running}), RSS {watch.base / MB:.1f} -> peak "
          f"{watch.peak / MB:.1f} MB, log {log_size(srv)} bytes, "
          f"{count_lines(srv, ATTACKER)} lines about {ATTACKER}")
    assert flood.stats["stalled"] == 0, flood.stats
    assert growth < 32 * MB, f"server RSS grew by {growth / MB:.1f} MB under the flood"
    srv.wait_log(r"connection from 127\.0\.0\.2:\d+ refused: too many unauthenticated "
                 r"connections from this address \(max_unauthenticated_per_source 64\)")
    # Rate-limited: far fewer lines than connections.
    lines = count_lines(srv, re.escape(ATTACKER))
    assert lines < 500, f"{lines} log lines about {ATTACKER} for 1000 connections"
    assert log_size(srv) < LOG_MAX, f"server log is {log_size(srv)} bytes"
    # The real client's session was not disturbed.
    assert roundtrip("127.0.0.1", port, b"after the flood") == b"after the flood"


def test_unauthenticated_held_open_oldest_evicted(burrow_server, burrow_client, echo, nofile):
    """1,000 connections that send HELLO and then nothing, with
    --max-unauthenticated 200: the oldest are closed to make room, RSS stays
    bounded, a real client still gets its tunnel within 3 s."""
    srv = burrow_server("--max-unauthenticated-per-source", "5000",
                        "--max-unauthenticated", "200",
                        "--handshake-timeout", "60s")  # only evictions close them
    watch = RssWatch(srv.pid)
    socks = []
    lock = threading.Lock()
    errors = []

    def opener(k):
        try:
            for _ in range(k):
                s = connect_from(ATTACKER, srv.port, timeout=5)
                with lock:
                    socks.append(s)
                try:
                    s.sendall(hello_frame())
                except ConnectionError:
                    pass  # already evicted
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=opener, args=(250,), daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + LOG_TIMEOUT
    while len(socks) < 500 and not errors:
        assert time.monotonic() < deadline, f"only {len(socks)} connections opened"
        time.sleep(0.005)
    t0 = time.monotonic()
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}")
    try:
        port = cli.tunnel_port("r1", timeout=3)
        got_tunnel = time.monotonic() - t0
        for t in threads:
            t.join(30)
        assert not errors, errors
        assert len(socks) == 1000

        # Every connection is answered (HELLO) or closed; at most 200 stay open.
        def open_count():
            n = 0
            for s in socks:
                if s.fileno() < 0:
                    continue
                s.setblocking(False)
                try:
                    while True:
                        d = s.recv(4096)  # HELLO reply, then EOF if evicted
                        if not d:
                            s.close()
                            break
                except BlockingIOError:
                    n += 1
                except OSError:
                    s.close()
            return n

        deadline = time.monotonic() + LOG_TIMEOUT
        while True:
            still_open = open_count()
            if still_open <= 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        # Those lines are rate-limited (the burst of the flood's second is spent on
        # "connected" lines): one more connection after the window evicts again.
        evicted = r"\(127\.0\.0\.2:\d+\): closed: evicted: too many unauthenticated connections"
        deadline = time.monotonic() + LOG_TIMEOUT
        while not srv.find(evicted):
            assert time.monotonic() < deadline, "no 'evicted' line:\n" + srv.text()[-3000:]
            time.sleep(0.2)
            s = connect_from(ATTACKER, srv.port, timeout=5)
            socks.append(s)
            s.sendall(hello_frame())
        assert roundtrip("127.0.0.1", port, b"past the crowd") == b"past the crowd"
        growth = watch.stop()
        print(f"held open: {still_open} of 1000 still open, tunnel after {got_tunnel:.2f}s, "
              f"RSS {watch.base / MB:.1f} -> peak {watch.peak / MB:.1f} MB, "
              f"log {log_size(srv)} bytes")
        assert still_open <= 200, f"{still_open} unauthenticated connections still open (max 200)"
        assert growth < 32 * MB, f"server RSS grew by {growth / MB:.1f} MB"
        assert log_size(srv) < LOG_MAX, f"server log is {log_size(srv)} bytes"
    finally:
        for s in socks:
            s.close()


# --------------------------------------------------------------------------
# 2. Tunnels per session
# --------------------------------------------------------------------------

def test_register_flood_capped_at_max_tunnels(burrow_server, burrow_client, echo, token, conns):
    """5,000 pipelined REGISTERs on one session: 64 succeed, the rest get
    REGISTER_ERR code 9; another client's tunnel keeps working; the refusals
    are logged rate-limited."""
    srv = burrow_server()
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}")
    port = cli.tunnel_port("r1")
    p = Peer.control("127.0.0.1", srv.port, token)
    conns.append(p)
    ok = 0
    refused = Counter()
    rid = 1
    for _batch in range(10):
        ids = range(rid, rid + 500)
        rid += 500
        p.send_raw(b"".join(wire.encode_frame(wire.REGISTER, i, wire.register_payload(f"t{i}"))
                            for i in ids))
        pending = set(ids)
        while pending:
            f = p.next_frame()
            if f.id not in pending or f.type not in (wire.REGISTER_OK, wire.REGISTER_ERR):
                raise AssertionError(f"unexpected {wire.describe(f)} ({len(pending)} replies due)")
            pending.discard(f.id)
            if f.type == wire.REGISTER_OK:
                ok += 1
            else:
                refused[wire.parse_error(f.payload)] += 1
        msg = b"batch %d" % _batch
        assert roundtrip("127.0.0.1", port, msg) == msg
    print(f"REGISTER x5000: {ok} ok, refused {dict(refused)}")
    assert ok == 64, f"{ok} tunnels registered on one session (max_tunnels 64)"
    assert refused == {(ERR_LIMIT, "too many tunnels (max_tunnels 64)"): 5000 - 64}, refused

    # One more refusal after the limiter's window reports what it suppressed.
    line = r"session %d \(127\.0\.0\.1:%d\): tunnel t\d+: too many tunnels \(max_tunnels 64\)" % (
        p.session_id, p.local_port)
    deadline = time.monotonic() + LOG_TIMEOUT
    while not srv.find(line + " " + SUPPRESSED):
        assert time.monotonic() < deadline, "no '(N similar lines suppressed)' line"
        p.send_frame(wire.REGISTER, rid, wire.register_payload(f"t{rid}"))
        assert p.expect_error(wire.REGISTER_ERR, rid)[0] == ERR_LIMIT
        rid += 1
        time.sleep(0.1)
    n = count_lines(srv, r"too many tunnels")
    print(f"log: {n} 'too many tunnels' lines, {log_size(srv)} bytes")
    assert n < 200, f"{n} log lines about too many tunnels for {rid - 1 - 64} refusals"
    assert log_size(srv) < LOG_MAX
    # The session itself is still fine: its tunnels accept connections.
    p.barrier()
    assert roundtrip("127.0.0.1", port, b"still here") == b"still here"


def test_client_max_tunnels_3_of_4(burrow_server, burrow_client, service):
    """--max-tunnels 3 and a client with 4 tunnels: 3 listen, one logs
    'registration failed: too many tunnels (max_tunnels 3)'."""
    srv = burrow_server("--max-tunnels", "3")
    svcs = [service("echo") for _ in range(4)]
    args = []
    for s in svcs:
        args += ["-R", f"0:127.0.0.1:{s.port}"]
    cli = burrow_client(srv, *args)
    m = cli.wait_log(r"tunnel (r\d): registration failed: too many tunnels \(max_tunnels 3\)$")
    failed = m.group(1)
    listening = [n for n in ("r1", "r2", "r3", "r4") if n != failed]
    assert failed == "r4", f"tunnel {failed} refused; the client registers r1..r4 in order"
    for name in listening:
        port = cli.tunnel_port(name)
        assert roundtrip("127.0.0.1", port, name.encode()) == name.encode()
    srv.wait_log(r"tunnel r4: too many tunnels \(max_tunnels 3\)")
    assert count_lines(cli, r"registration failed") == 1, cli.text()


# --------------------------------------------------------------------------
# 3. Control output the peer never reads
# --------------------------------------------------------------------------

def test_unread_control_output_closes_session(burrow_server, burrow_client, echo, token, conns):
    """A peer writes 64 MiB of PINGs and never reads the PONGs: the session is
    closed ('peer is not reading'), RSS grows < 32 MB, others keep working."""
    srv = burrow_server()
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}")
    port = cli.tunnel_port("r1")
    p = Peer.control("127.0.0.1", srv.port, token)
    conns.append(p)
    label = r"session %d \(127\.0\.0\.1:%d\)" % (p.session_id, p.local_port)
    chunk = wire.encode_frame(wire.PING, 0, b"12345678") * (MB // 20)  # ~1 MiB of PINGs
    sent = [0]
    outcome = []

    def writer():
        p.sock.settimeout(LOG_TIMEOUT)
        try:
            for _ in range(64):
                p.sock.sendall(chunk)
                sent[0] += len(chunk)
            outcome.append("sent everything")
        except OSError as e:  # reset, broken pipe; timeout if the server stops reading
            outcome.append(repr(e))

    watch = RssWatch(srv.pid)
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    # The writer ends when the server closes (reset), or after 64 MiB if it never does.
    t.join(max(LOG_TIMEOUT, 20))
    growth = watch.stop()
    print(f"unread output: wrote {sent[0] / MB:.1f} MiB ({outcome}), RSS "
          f"{watch.base / MB:.1f} -> peak {watch.peak / MB:.1f} MB")
    assert not t.is_alive(), f"the writer still blocks after {sent[0] / MB:.1f} MiB"
    assert growth < 32 * MB, f"server RSS grew by {growth / MB:.1f} MB for one unread session"
    srv.wait_log(label + r": closed: peer is not reading \(output queue over 8 MiB\)")
    assert roundtrip("127.0.0.1", port, b"unaffected") == b"unaffected"
    assert not cli.find(r"disconnected"), cli.text()


# --------------------------------------------------------------------------
# 4. Connections per tunnel, streams per session
# --------------------------------------------------------------------------

@pytest.mark.parametrize("server_args,client_args,limit,why", [
    (["--max-conns", "4"], [], 4, r"too many connections \(max_conns 4\)"),
    (["--max-conns", "4", "--dedicated-after", "0"], [], 4,
     r"too many connections \(max_conns 4\)"),
    (["--max-streams", "3"], ["--pool", "0"], 3, r"too many streams \(max_streams 3\)"),
], ids=["max_conns", "max_conns_moved", "max_streams"])
def test_user_connections_capped(burrow_server, burrow_client, echo, conns,
                                 server_args, client_args, limit, why):
    """limit user connections stay open; one more is closed at once and logged;
    after one closes, a new one works again. (max_conns_moved: every stream
    moves to a dedicated connection and still counts.)"""
    srv = burrow_server(*server_args)
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", *client_args)
    port = cli.tunnel_port("r1")
    moves = "--dedicated-after" in server_args
    if moves:
        cli.wait_log(r"session \d+: \d+ data connections ready")
    held = [echo_conn(port, b"conn %d" % i, conns) for i in range(limit)]
    if moves:
        wait_count(srv, r"stream \d+: moved to a dedicated connection", limit)
    extra = socket.create_connection(("127.0.0.1", port), timeout=LOG_TIMEOUT)
    conns.append(extra)
    assert_closed_by_server(extra)
    srv.wait_log(r"tunnel r1: connection from 127\.0\.0\.1:%d refused: %s$"
                 % (extra.getsockname()[1], why))
    # The ones that were let in are unaffected.
    for i, s in enumerate(held):
        s.sendall(b"again %d" % i)
        assert recv_exact(s, len(b"again %d" % i)) == b"again %d" % i
    held[0].close()
    again = echo_conn_eventually(port, b"a slot is free", conns)
    again.close()


def test_client_max_streams(burrow_server, burrow_client, echo, conns):
    """Client --max-streams 2: the third concurrent user connection gets
    OPEN_ERR code 9 from the client and is closed; the server logs it."""
    srv = burrow_server()
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--max-streams", "2")
    port = cli.tunnel_port("r1")
    held = [echo_conn(port, b"conn %d" % i, conns) for i in range(2)]
    extra = socket.create_connection(("127.0.0.1", port), timeout=LOG_TIMEOUT)
    conns.append(extra)
    assert_closed_by_server(extra)
    srv.wait_log(r"stream \d+: open failed: too many streams \(max_streams 2\)$")
    for s in held:
        s.sendall(b"still")
        assert recv_exact(s, 5) == b"still"
    held[1].close()
    echo_conn_eventually(port, b"room again", conns)


# --------------------------------------------------------------------------
# 5. Failed logins
# --------------------------------------------------------------------------

def test_wrong_token_hammer_is_throttled(burrow_server, token):
    """10 s of wrong-token logins from 127.0.0.2 (several threads): few
    verdicts, code 9 refusals, the right token from 127.0.0.1 authenticates
    at once throughout, the log stays small."""
    srv = burrow_server()
    duration = 10.0
    stop = time.monotonic() + duration
    outcomes = Counter()
    texts = Counter()
    lock = threading.Lock()
    errors = []

    def hammer():
        try:
            while time.monotonic() < stop:
                r = wrong_login(srv.port, ATTACKER, token)
                with lock:
                    if isinstance(r, tuple):
                        outcomes[r[0]] += 1
                        texts[r] += 1
                    else:
                        outcomes[r] += 1
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    logins = []
    while time.monotonic() < stop - 0.5:
        logins.append(timed_login(srv.port, token))
        time.sleep(0.5)
    for t in threads:
        t.join(LOG_TIMEOUT + 5)
    assert not errors, errors
    verdicts = outcomes[wire.ERR_AUTH]
    print(f"hammer {duration:.0f}s: {dict(outcomes)}; good logins: {len(logins)}, "
          f"slowest {max(logins):.3f}s; log {log_size(srv)} bytes, {srv.mark()} lines")
    for (code, text), _n in texts.items():
        if code == wire.ERR_AUTH:
            assert text == "wrong token"
        else:
            assert code == ERR_LIMIT and re.match(THROTTLED_TEXT, text), (code, text)
    assert 3 <= verdicts < 200, f"{verdicts} 'wrong token' verdicts in {duration}s"
    assert outcomes[ERR_LIMIT] > 0, f"no throttled refusal: {dict(outcomes)}"
    assert len(logins) >= duration / 1.0 - 1
    assert max(logins) < 1.0, f"the right token took {max(logins):.2f}s: {logins}"
    assert srv.find(SUPPRESSED), "no '(N similar lines suppressed)' line"
    assert log_size(srv) < LOG_MAX, f"server log is {log_size(srv)} bytes"


def test_three_failures_free_then_throttled(burrow_server, token):
    """From 127.0.0.3: 3 wrong tokens get verdicts at once, the 4th connection
    right after gets code 9; 127.0.0.1 is not slowed."""
    srv = burrow_server()
    src = "127.0.0.3"
    for i in range(3):
        t0 = time.monotonic()
        r = wrong_login(srv.port, src, token)
        assert r == (wire.ERR_AUTH, "wrong token"), f"failure {i + 1}: {r}"
        assert time.monotonic() - t0 < 1.0, f"verdict {i + 1} took {time.monotonic() - t0:.2f}s"
    r = wrong_login(srv.port, src, token)
    assert isinstance(r, tuple) and r[0] == ERR_LIMIT, f"4th failure: {r}"
    assert re.match(THROTTLED_TEXT, r[1]), r
    wait = float(re.search(r"retry in (\d+\.\d) s", r[1]).group(1))
    assert 0 <= wait <= 0.3, f"first penalty is 250 ms, server says {r[1]!r}"
    assert timed_login(srv.port, token) < 1.0
    # "connection from ADDR refused: ..." at accept, "session N (ADDR): refused: ..." at AUTH
    srv.wait_log(r"127\.0\.0\.3:\d+\)?:? refused: too many failed logins from this address")
    assert count_lines(srv, r"127\.0\.0\.3:\d+\): authentication failed: wrong token$") == 3
