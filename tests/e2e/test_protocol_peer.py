"""Server-side protocol rules, checked with a Python protocol peer (wire.py)
that plays the burrow client against a real `burrow server`.

The real client never breaks these rules, so only a hand-made peer can test
how the server reacts: moves done by hand (ADOPT / MOVED / raw bytes, which
streams move and when), a move the client never answers, RST while moving,
the session ending under a moved stream, the hand-over waiting for queued
DATA, DATA / FIN / WINDOW 0 / a second MOVED after MOVED, ADOPT on the control
session, bytes on an idle data connection, data connections for no session.
See docs/protocol.md, "Dedicated data connections" and "What closes a session".

Synchronisation is on server log lines (wait_log), on frames and on sockets
with timeouts; never on sleeps.
"""

import re
import socket
import time

import pytest

from conftest import LOG_TIMEOUT, recv_exact, wait_refused
import wire
from wire import Peer

MOVED_LINE = r"stream %d: moved to a dedicated connection after (\d+) bytes"


class Ctx:
    """A server plus helpers that open peers and user connections on it."""

    def __init__(self, srv, token, conns):
        self.srv = srv
        self.token = token
        self.conns = conns
        self.keys = {}  # session id -> session key

    def control(self):
        p = Peer.control("127.0.0.1", self.srv.port, self.token)
        self.conns.append(p)
        self.keys[p.session_id] = p.session_key
        return p

    def data(self, session_id):
        p = Peer.data("127.0.0.1", self.srv.port, self.keys[session_id], session_id)
        self.conns.append(p)
        return p

    def user(self, addr):
        s = socket.create_connection(addr, timeout=LOG_TIMEOUT)
        self.conns.append(s)
        return s

    def label(self, peer):
        """The server's label for a control session, as a regex."""
        return r"session %d \(127\.0\.0\.1:%d\)" % (peer.session_id, peer.local_port)


@pytest.fixture
def start(burrow_server, token, conns):
    def go(*args):
        return Ctx(burrow_server(*args), token, conns)
    return go


def recv_until_closed(s, timeout=LOG_TIMEOUT):
    """Reads a user socket until EOF or reset; returns (bytes, how)."""
    s.settimeout(timeout)
    buf = bytearray()
    while True:
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            return bytes(buf), "reset"
        except socket.timeout:
            raise AssertionError(f"still open after {timeout}s (got {bytes(buf)!r})")
        if not d:
            return bytes(buf), "eof"
        buf += d


def open_stream(ctx, peer, addr, window=1 << 20):
    """A user connection on the tunnel at addr, accepted by peer. Returns (user, Open)."""
    user = ctx.user(addr)
    op = peer.accept_open(window=window)
    assert op.peer == "127.0.0.1:%d" % user.getsockname()[1]
    return user, op


def start_move(ctx, peer, data_conn, addr, payload=b"first user bytes"):
    """Opens a stream and makes the server move it (dedicated_after 1).

    Returns (user, Open, bytes the server sent as DATA before its MOVED)."""
    user, op = open_stream(ctx, peer, addr)
    user.sendall(payload)
    mux, _moved = peer.recv_until(op.id, wire.MOVED)
    # The server read what it multiplexed from the user before MOVED: a prefix.
    assert payload.startswith(mux) and mux, (payload, mux)
    f = data_conn.expect(wire.ADOPT, op.id)
    assert f.payload == b""
    return user, op, mux


def assert_protocol_error(ctx, peer, why):
    """The server sends ERROR code 1 'protocol error: why', closes the session, logs it."""
    code, text = peer.expect_error(wire.ERROR)
    assert (code, text) == (wire.ERR_PROTOCOL, "protocol error: " + why)
    rest = peer.expect_closed()
    assert rest == [], [wire.describe(f) for f in rest]
    ctx.srv.wait_log(ctx.label(peer) + r": closed: protocol error: " + re.escape(why) + "$")


def assert_server_alive(ctx, old_peer, old_addr=None):
    """A new client authenticates (a new random session id), registers and gets an OPEN.

    old_peer: the last session before (None: there was none)."""
    if old_addr is not None:
        wait_refused(*old_addr)
    p = ctx.control()
    assert p.session_id != 0 and (old_peer is None or p.session_id != old_peer.session_id)
    addr = p.register("again")
    user, op = open_stream(ctx, p, addr)
    assert op.id == 2
    user.sendall(b"ping")
    assert p.recv_data(op.id, 4) == b"ping"


# --------------------------------------------------------------------------
# 1. The peer itself
# --------------------------------------------------------------------------

def test_peer_sanity_handshake_register_open_data(start):
    """wire.py is right: handshake (both proofs), REGISTER_OK with the real
    address, OPEN for a user connection, DATA both ways, FIN both ways,
    OPEN_ERR, and the stream ids are even and grow by 2."""
    ctx = start()
    peer = ctx.control()
    assert peer.session_id != 0
    ctx.srv.wait_log(ctx.label(peer) + r": authenticated$")

    addr = peer.register("sanity")
    assert addr[0] == "127.0.0.1" and addr[1] > 0
    ctx.srv.wait_log(ctx.label(peer) + r": tunnel sanity listening on 127\.0\.0\.1:%d$" % addr[1])

    user = ctx.user(addr)
    op = peer.accept_open(window=65536)
    assert op.id == 2 and op.tunnel_id == peer.tunnel_id == 1
    assert op.window == 2 * 1024 * 1024  # the server's default window
    assert op.peer == "127.0.0.1:%d" % user.getsockname()[1]
    ctx.srv.wait_log(ctx.label(peer) + r" stream 2: opened from %s on tunnel sanity$"
                     % re.escape(op.peer))

    # user -> peer
    msg = b"hello from the user " * 50
    user.sendall(msg)
    assert peer.recv_data(op.id, len(msg)) == msg
    # peer -> user, in several frames
    back = [b"hello ", b"from ", b"the peer"]
    for chunk in back:
        peer.send_data(op.id, chunk)
    assert recv_exact(user, len(b"".join(back))) == b"".join(back)
    # half-close both ways
    user.shutdown(socket.SHUT_WR)
    peer.expect(wire.FIN, op.id)
    peer.send_data(op.id, b"after your FIN")
    assert recv_exact(user, 14) == b"after your FIN"
    peer.send_fin(op.id)
    assert recv_until_closed(user) == (b"", "eof")
    # Nothing else is queued for the stream (no RST, no stray DATA).
    assert peer.barrier() == []

    # A second connection gets the next even id; OPEN_ERR closes the user side.
    user2 = ctx.user(addr)
    op2 = peer.read_open()
    assert op2.id == 4 and op2.tunnel_id == 1
    peer.send_open_err(op2.id, 8, "dial 127.0.0.1:9: Connection refused")
    assert recv_until_closed(user2)[0] == b""
    ctx.srv.wait_log(ctx.label(peer) + r" stream 4: open failed: dial 127\.0\.0\.1:9: "
                     r"Connection refused$")


def test_peer_wrong_token_gets_error_3(start):
    """The proof really depends on the token: a wrong one gets ERROR 3."""
    ctx = start()
    p = Peer("127.0.0.1", ctx.srv.port)
    ctx.conns.append(p)
    with pytest.raises(AssertionError, match=r"expected AUTH_OK, got ERROR.*code=3 "
                                             r"text='wrong token'"):
        p.handshake(ctx.token + "x")
    assert p.expect_closed() == []
    ctx.srv.wait_log(r"session \d+ \(127\.0\.0\.1:%d\): authentication failed" % p.local_port)


# --------------------------------------------------------------------------
# 2. Moves done by hand, and which streams move
# --------------------------------------------------------------------------

def test_move_by_hand_keeps_bytes_in_order(start):
    """dedicated_after 1 and one idle data connection: the first user bytes
    make the server send ADOPT on the data connection and MOVED after its
    DATA on the session. The peer answers with DATA, raw bytes on the data
    connection (sent before its MOVED, as if they overtook it), more DATA,
    MOVED, more raw bytes. The user must get every DATA byte first, then the
    raw bytes, in order; user bytes written during and after the move arrive
    raw on the data connection; frames for the stream after the hand-over are
    dropped; half-close goes through the relay."""
    ctx = start("--dedicated-after", "1")
    peer = ctx.control()
    addr = peer.register("mv")
    d = ctx.data(peer.session_id)

    user, op, mux_in = start_move(ctx, peer, d, addr, b"user-mux-bytes")
    # The server has stopped reading the user: these wait in the user socket.
    user.sendall(b"|user-during-move")

    p1, r1, p2, r2 = b"peer-mux-1;", b"peer-raw-1;", b"peer-mux-2;", b"peer-raw-2;"
    peer.send_data(op.id, p1)
    d.send_raw(r1)          # raw bytes that overtake the session's MOVED
    peer.send_data(op.id, p2)
    peer.send_moved(op.id)
    m = ctx.srv.wait_log(ctx.label(peer) + " " + MOVED_LINE % op.id)
    assert int(m.group(1)) == len(mux_in) + len(p1) + len(p2)
    # The stream has left the session: frames for it are late arrivals, dropped
    # (not written to the user, not a protocol error).
    peer.send_data(op.id, b"ghost")
    peer.send_window(op.id, 4096)
    peer.send_fin(op.id)
    peer.send_moved(op.id)
    assert peer.barrier() == []
    d.send_raw(r2)

    # user side: the multiplexed bytes first, then the raw ones, in order
    want = p1 + p2 + r1 + r2
    assert recv_exact(user, len(want)) == want
    # data connection: the user bytes the server did not multiplex, raw
    u3 = b"|user-raw-after"
    user.sendall(u3)
    want_raw = b"user-mux-bytes"[len(mux_in):] + b"|user-during-move" + u3
    assert d.recv_raw(len(want_raw)) == want_raw

    # The session carried nothing more for the stream (no DATA after MOVED, no RST).
    assert peer.barrier() == []

    # Half-close both ways through the relay.
    user.shutdown(socket.SHUT_WR)
    assert d.recv_eof() == (b"", "eof")
    d.send_raw(b"last")
    d.shutdown_write()
    assert recv_until_closed(user) == (b"last", "eof")

    # The session lives on: the next stream is multiplexed again (pool is empty).
    user2, op2 = open_stream(ctx, peer, addr)
    assert op2.id == op.id + 2
    user2.sendall(b"x")
    assert peer.recv_data(op2.id, 1) == b"x"


def test_mux_only_tunnel_never_moves(start):
    """REGISTER with MUX_ONLY: its streams stay multiplexed even with an idle
    data connection; a stream of another tunnel then takes that connection
    (so the first ADOPT on it is for that stream)."""
    ctx = start("--dedicated-after", "1")
    peer = ctx.control()
    mux_addr = peer.register("muxonly", flags=wire.REGISTER_MUX_ONLY)
    mux_tunnel = peer.tunnel_id
    addr = peer.register("moves")
    d = ctx.data(peer.session_id)
    user, op = open_stream(ctx, peer, mux_addr)
    assert op.tunnel_id == mux_tunnel
    for chunk in (b"one", b"two", b"x" * 70000):
        user.sendall(chunk)
        assert peer.recv_data(op.id, len(chunk)) == chunk
        peer.send_data(op.id, chunk[:10])
        assert recv_exact(user, len(chunk[:10])) == chunk[:10]
    assert peer.barrier() == []      # no MOVED for the MUX_ONLY stream
    user2, op2, _mux = start_move(ctx, peer, d, addr, b"go")  # ADOPT(op2.id) is d's first frame
    assert op2.id == op.id + 2


def test_move_asked_again_after_dedicated_after_more_bytes(start):
    """With no idle data connection the stream stays multiplexed, and the
    server asks again only after another dedicated_after bytes. Only reads of
    at least min(16 KiB, dedicated_after) bytes count: small ones are chatter."""
    ctx = start("--dedicated-after", "100")
    peer = ctx.control()
    addr = peer.register("again")
    user, op = open_stream(ctx, peer, addr)
    user.sendall(b"a" * 150)             # counted 150: asked, no data connection
    assert peer.recv_data(op.id, 150) == b"a" * 150
    assert peer.barrier() == []
    d = ctx.data(peer.session_id)
    user.sendall(b"b" * 90)              # a read below 100: not counted
    assert peer.recv_data(op.id, 90) == b"b" * 90
    assert peer.barrier() == []          # no MOVED
    user.sendall(b"c" * 99)              # not counted either
    assert peer.recv_data(op.id, 99) == b"c" * 99
    assert peer.barrier() == []          # no MOVED
    user.sendall(b"d" * 100)             # counted 250 >= 150 + 100: asked, moves
    mux, _moved = peer.recv_until(op.id, wire.MOVED)
    assert mux == b"d" * 100
    d.expect(wire.ADOPT, op.id)
    peer.send_moved(op.id)
    m = ctx.srv.wait_log(ctx.label(peer) + " " + MOVED_LINE % op.id)
    assert int(m.group(1)) == 439        # every byte the stream carried


# --------------------------------------------------------------------------
# 3. Moves that do not complete, and moved streams when the session ends
# --------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["server", "client-first"])
def test_move_timeout_resets_stream_keeps_session(start, who):
    """'server': the peer gets ADOPT and MOVED but never sends its MOVED.
    'client-first': the peer sends MOVED on a stream the server did not move
    (no data connection in the pool); the server answers MOVED but can never
    get a data connection. Either way, open_timeout after its MOVED the server
    logs 'move failed', sends RST 'move timed out', closes the user connection
    (and the data connection). Not a protocol error: the session stays and the
    next user connection gets an OPEN."""
    ctx = start("--dedicated-after", "1", "--open-timeout", "500ms")  # minimum: 100ms
    peer = ctx.control()
    addr = peer.register("slow")
    d = ctx.data(peer.session_id) if who == "server" else None

    mark = ctx.srv.mark()
    t0 = time.monotonic()
    if who == "server":
        user, op, _mux = start_move(ctx, peer, d, addr)
    else:
        user, op = open_stream(ctx, peer, addr)
        user.sendall(b"abc")   # no idle data connection: stays multiplexed
        assert peer.recv_data(op.id, 3) == b"abc"
        t0 = time.monotonic()
        peer.send_moved(op.id)
        peer.expect(wire.MOVED, op.id)

    code, text = peer.expect_error(wire.RST, op.id)
    elapsed = time.monotonic() - t0
    assert (code, text) == (wire.ERR_NONE, "move timed out")
    assert elapsed >= 0.45, f"RST after {elapsed:.3f}s, open_timeout is 500ms"
    ctx.srv.wait_log(ctx.label(peer) + r" stream %d: move failed: not completed within 500 ms$"
                     % op.id, since=mark)
    if d is not None:
        assert d.recv_eof()[0] == b""                # the data connection is closed
    assert recv_until_closed(user)[0] == b""         # so is the user connection

    # The session stays: no ERROR, a new user connection gets an OPEN.
    assert peer.barrier() == []
    user2, op2 = open_stream(ctx, peer, addr)
    assert op2.id == op.id + 2
    user2.sendall(b"still here")
    assert peer.recv_data(op2.id, 10) == b"still here"
    assert ctx.srv.find(ctx.label(peer) + r": closed:", since=mark) is None
    # A late MOVED for the reset stream is dropped, not an error.
    peer.send_moved(op.id)
    assert peer.barrier() == []


def test_rst_while_moving_closes_stream_keeps_session(start):
    """RST from the client while the stream is moving closes the stream, the
    user connection and the data connection; the session stays."""
    ctx = start("--dedicated-after", "1")
    peer = ctx.control()
    addr = peer.register("rst")
    d = ctx.data(peer.session_id)
    mark = ctx.srv.mark()
    user, op, _mux = start_move(ctx, peer, d, addr)
    peer.send_rst(op.id, wire.ERR_NONE, "read: Connection reset by peer")
    assert recv_until_closed(user)[0] == b""
    assert d.recv_eof()[0] == b""
    # No RST back, no ERROR; a late MOVED for the stream is dropped.
    peer.send_moved(op.id)
    assert peer.barrier() == []
    user2, op2 = open_stream(ctx, peer, addr)
    assert op2.id == op.id + 2
    user2.sendall(b"ok")
    assert peer.recv_data(op2.id, 2) == b"ok"
    assert ctx.srv.find(MOVED_LINE % op.id, since=mark) is None
    assert ctx.srv.find(ctx.label(peer) + r": closed:", since=mark) is None


def test_session_close_ends_moved_relay_and_idle_data_connections(start):
    """When the control session ends, the relay of a stream that moved and
    the session's idle data connections are closed too."""
    ctx = start("--dedicated-after", "1")
    peer = ctx.control()
    addr = peer.register("gone")
    spare = ctx.data(peer.session_id)
    moving = ctx.data(peer.session_id)  # pooled last: the move takes it
    user, op, mux = start_move(ctx, peer, moving, addr, b"m")
    peer.send_moved(op.id)
    ctx.srv.wait_log(ctx.label(peer) + " " + MOVED_LINE % op.id)
    moving.send_raw(b"relayed")
    assert recv_exact(user, 7) == b"relayed"

    peer.close()
    ctx.srv.wait_log(ctx.label(peer) + r": closed: connection closed by peer$")
    assert recv_until_closed(user)[0] == b""    # the relay is gone...
    assert moving.recv_eof()[0] == b""          # ...with its data connection
    assert spare.recv_eof()[0] == b""           # the idle one is closed too
    wait_refused(*addr)


# --------------------------------------------------------------------------
# 4 / 5. After the client's MOVED: the hand-over waits for queued DATA;
#        DATA, FIN or a second MOVED are protocol errors
# --------------------------------------------------------------------------
#
# When the client's MOVED arrives and the server already holds the data
# connection and has written every DATA byte to the user, it hands the stream
# over at once; later frames for the stream are late arrivals and are dropped
# (checked in test_move_by_hand_keeps_bytes_in_order). The stream stays on the
# session after the client's MOVED in two cases, and each gives the rules a
# stream to apply to:
#
#  - "backlog": the server moved the stream (ADOPT + MOVED), but the user does
#    not read, so DATA the client sent before its MOVED is still queued for
#    the user socket. BACKLOG bytes are more than the server's socket send
#    buffer (at most tcp_wmem[2]) and the user's small receive buffer hold.
#  - "client-first": the client sends MOVED on a stream the server has not
#    moved (no data connection in the pool). The server answers with its own
#    MOVED ("each side, when it receives the peer's MOVED, ... sends its own")
#    and waits for a data connection that never comes.

MB = 1024 * 1024


def _wmem_max():
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            return int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        return 4 * MB


BACKLOG = _wmem_max() + 2 * MB
# A quarter of the window is never consumed, so the server sends no WINDOW.
BACKLOG_SERVER_ARGS = ("--dedicated-after", "1", "--window", "64M")


def slow_user(ctx, addr):
    """A user connection with a small receive buffer that the test does not read."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ctx.conns.append(s)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.settimeout(LOG_TIMEOUT)
    s.connect(addr)
    return s


def moved_with_backlog(ctx, peer, d, addr, fin=False):
    """Server-initiated move; the peer sends BACKLOG bytes of DATA (and FIN
    if asked), then MOVED.

    Returns (user, Open, multiplexed user bytes, backlog)."""
    if BACKLOG > 60 * MB:
        pytest.skip(f"tcp_wmem max {_wmem_max()} too large for a 64M window")
    user = slow_user(ctx, addr)
    op = peer.accept_open()
    assert op.window == 64 * MB
    user.sendall(b"u")
    mux, _moved = peer.recv_until(op.id, wire.MOVED)
    assert mux == b"u"
    d.expect(wire.ADOPT, op.id)
    blob = bytes(range(251)) * (BACKLOG // 251 + 1)
    peer.send_data(op.id, blob)
    if fin:
        peer.send_fin(op.id)
    peer.send_moved(op.id)
    return user, op, mux, blob


def moved_by_client(ctx, peer, addr):
    user, op = open_stream(ctx, peer, addr)
    user.sendall(b"abc")
    assert peer.recv_data(op.id, 3) == b"abc"
    peer.send_data(op.id, b"xyz")
    assert recv_exact(user, 3) == b"xyz"
    peer.send_moved(op.id)
    peer.expect(wire.MOVED, op.id)
    return user, op


def stream_after_client_moved(ctx, how):
    """A session whose stream has the client's MOVED but is not handed over.

    Returns (peer, tunnel addr, user socket, Open, data connection or None)."""
    if how == "backlog":
        peer = ctx.control()
        addr = peer.register("late")
        d = ctx.data(peer.session_id)
        user, op, _mux, _blob = moved_with_backlog(ctx, peer, d, addr)
        # The server has read our MOVED (PONG after it) and still has the stream.
        assert peer.barrier() == []
        return peer, addr, user, op, d
    peer = ctx.control()
    addr = peer.register("late")
    user, op = moved_by_client(ctx, peer, addr)
    return peer, addr, user, op, None


def assert_session_gone(ctx, peer, addr, user, d):
    """Its streams, data connections and tunnels go with the session."""
    got, _how = recv_until_closed(user)
    ctx.srv.wait_log(ctx.label(peer) + r": tunnel late closed$")
    if d is not None:
        assert d.recv_eof()[0] == b""
    return got


@pytest.mark.parametrize("fin", [False, True], ids=["data", "data+fin"])
def test_move_waits_for_backlog(start, fin):
    """The server hands a moved stream over only once every DATA byte the
    client sent before its MOVED is written to the user (and a FIN sent
    before it is applied): with a user that does not read, the stream stays
    until the user reads; then the user gets all the DATA bytes, then the raw
    bytes from the data connection (or EOF, after a FIN)."""
    ctx = start(*BACKLOG_SERVER_ARGS)
    peer = ctx.control()
    addr = peer.register("late")
    d = ctx.data(peer.session_id)
    mark = ctx.srv.mark()
    user, op, mux, blob = moved_with_backlog(ctx, peer, d, addr, fin=fin)
    if not fin:
        d.send_raw(b"raw-after-backlog")
    assert peer.barrier() == []
    # The server has processed our MOVED; the backlog is still queued for the
    # user, so there is no hand-over yet (a late log line only weakens this).
    assert ctx.srv.find(MOVED_LINE % op.id, since=mark) is None
    if fin:
        got, how = recv_until_closed(user)
        assert (len(got), how) == (len(blob), "eof") and got == blob
    else:
        want = blob + b"raw-after-backlog"
        assert recv_exact(user, len(want)) == want
    m = ctx.srv.wait_log(ctx.label(peer) + " " + MOVED_LINE % op.id, since=mark)
    assert int(m.group(1)) == len(mux) + len(blob)
    user.sendall(b"back")
    assert d.recv_raw(4) == b"back"
    user.shutdown(socket.SHUT_WR)
    assert d.recv_eof() == (b"", "eof")
    assert peer.barrier() == []


@pytest.mark.parametrize("side", ["user", "peer"])
def test_move_after_half_close(start, side):
    """A direction that ended before the move stays ended across it:
    'user': the user sent EOF (the server sent FIN) before the move; the relay
    passes that EOF on to the data connection at once. 'peer': the peer sent
    FIN (the user got EOF) before the move; the other direction keeps flowing.
    dedicated_after 10: the move happens on the stream's 15th byte."""
    ctx = start("--dedicated-after", "10")
    peer = ctx.control()
    addr = peer.register("half")
    d = ctx.data(peer.session_id)
    user, op = open_stream(ctx, peer, addr)
    if side == "user":
        user.sendall(b"12345")
        user.shutdown(socket.SHUT_WR)
        got, _fin = peer.recv_until(op.id, wire.FIN)
        assert got == b"12345"
        peer.send_data(op.id, b"abcdefghij")        # 15 bytes: the server moves
        assert peer.recv_until(op.id, wire.MOVED)[0] == b""
        d.expect(wire.ADOPT, op.id)
        peer.send_moved(op.id)
        m = ctx.srv.wait_log(ctx.label(peer) + " " + MOVED_LINE % op.id)
        assert int(m.group(1)) == 15
        assert d.recv_eof() == (b"", "eof")          # the user's old EOF, passed on
        d.send_raw(b"raw")
        d.shutdown_write()
        assert recv_until_closed(user) == (b"abcdefghij" + b"raw", "eof")
    else:
        peer.send_data(op.id, b"12345")
        peer.send_fin(op.id)
        assert recv_until_closed(user) == (b"12345", "eof")
        user.sendall(b"abcdefghij")                 # 15 bytes: the server moves
        mux, _moved = peer.recv_until(op.id, wire.MOVED)
        assert b"abcdefghij".startswith(mux) and mux
        d.expect(wire.ADOPT, op.id)
        peer.send_moved(op.id)
        m = ctx.srv.wait_log(ctx.label(peer) + " " + MOVED_LINE % op.id)
        assert int(m.group(1)) == 5 + len(mux)
        user.sendall(b"|more")
        rest = b"abcdefghij"[len(mux):] + b"|more"
        assert d.recv_raw(len(rest)) == rest
        d.shutdown_write()        # what the client's relay does: EOF from the target again
        user.shutdown(socket.SHUT_WR)
        assert d.recv_eof() == (b"", "eof")
    assert peer.barrier() == []


HOWS = ["backlog", "client-first"]


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("late,why", [
    ("data", "DATA after MOVED"),
    ("empty-data", "DATA after MOVED"),
    ("fin", "FIN after MOVED"),
    ("window-0", "bad WINDOW"),
])
def test_data_after_moved_is_protocol_error(start, how, late, why):
    """DATA (even empty) or FIN after the client's MOVED: ERROR code 1,
    the session closes, the server runs on. WINDOW after MOVED is checked
    as usual (WINDOW 0 is 'bad WINDOW')."""
    ctx = start(*BACKLOG_SERVER_ARGS) if how == "backlog" else start()
    peer, addr, user, op, d = stream_after_client_moved(ctx, how)
    if late == "data":
        peer.send_data(op.id, b"too late")
    elif late == "empty-data":
        peer.send_frame(wire.DATA, op.id, b"")
    elif late == "window-0":
        peer.send_frame(wire.WINDOW, op.id, wire.u32(0))
    else:
        peer.send_fin(op.id)
    assert_protocol_error(ctx, peer, why)
    got = assert_session_gone(ctx, peer, addr, user, d)
    assert b"too late" not in got
    assert_server_alive(ctx, peer, addr)


@pytest.mark.parametrize("how", HOWS)
def test_second_moved_is_protocol_error(start, how):
    ctx = start(*BACKLOG_SERVER_ARGS) if how == "backlog" else start()
    peer, addr, user, op, d = stream_after_client_moved(ctx, how)
    peer.send_moved(op.id)
    assert_protocol_error(ctx, peer, "unexpected MOVED")
    assert_session_gone(ctx, peer, addr, user, d)
    assert_server_alive(ctx, peer, addr)


def test_moved_on_opening_stream_is_protocol_error(start):
    """MOVED before OPEN_OK: like any frame but OPEN_OK/OPEN_ERR/RST there."""
    ctx = start()
    peer = ctx.control()
    addr = peer.register("early")
    user = ctx.user(addr)
    op = peer.read_open()
    peer.send_moved(op.id)
    assert_protocol_error(ctx, peer, "frame on a stream not yet open")
    assert recv_until_closed(user)[0] == b""
    assert_server_alive(ctx, peer, addr)


# --------------------------------------------------------------------------
# 6. ADOPT from the client on the control session
# --------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["open-stream", "unknown-stream", "before-auth"])
def test_adopt_on_control_session_is_rejected(start, target):
    """ADOPT is server -> client on a data connection only. On the control
    session it is 'unexpected frame' (after auth), whatever the id, and
    'expected handshake' before authentication."""
    ctx = start()
    if target == "before-auth":
        p = Peer("127.0.0.1", ctx.srv.port)
        ctx.conns.append(p)
        p.send_adopt(2)
        code, text = wire.parse_error(p.expect(wire.ERROR).payload)
        assert (code, text) == (wire.ERR_PROTOCOL, "protocol error: expected handshake")
        assert p.expect_closed() == []
        ctx.srv.wait_log(r"connection \(127\.0\.0\.1:%d\): closed: protocol error: "
                         r"expected handshake$" % p.local_port)
        assert_server_alive(ctx, None)
        return
    peer = ctx.control()
    addr = peer.register("adopt")
    idle = ctx.data(peer.session_id)
    user = None
    sid = 1000
    if target == "open-stream":
        user, op = open_stream(ctx, peer, addr)
        sid = op.id
    peer.send_adopt(sid)
    assert_protocol_error(ctx, peer, "unexpected frame")
    if user is not None:
        assert recv_until_closed(user)[0] == b""
    # The session's idle data connection goes with it.
    assert idle.recv_eof()[0] == b""
    assert_server_alive(ctx, peer, addr)


# --------------------------------------------------------------------------
# 7. An idle data connection must stay silent
# --------------------------------------------------------------------------

@pytest.mark.parametrize("what", ["byte", "frame", "eof", "with-auth"])
def test_idle_data_connection_that_talks_is_closed(start, what):
    """Any byte (or EOF) on an idle pooled data connection makes the server
    close it and drop it from the pool; the session stays, and the next move
    uses the other idle data connection. Bytes glued to AUTH are caught
    during the handshake instead ('unexpected bytes after handshake')."""
    ctx = start("--dedicated-after", "1", "--log-level", "debug")
    peer = ctx.control()
    addr = peer.register("pool")
    label = ctx.label(peer)
    good = ctx.data(peer.session_id)
    ctx.srv.wait_log(label + r": data connection ready \(1 idle\)$")
    mark = ctx.srv.mark()

    if what == "with-auth":
        bad = Peer("127.0.0.1", ctx.srv.port)
        ctx.conns.append(bad)
        bad.client_nonce = b"\x01" * 32
        bad.send_frame(wire.HELLO, 0, wire.hello_payload(wire.ROLE_DATA, bad.client_nonce))
        _v, _r, snonce = wire.parse_hello(bad.expect(wire.HELLO).payload)
        proof = wire.client_proof(peer.session_key, bad.client_nonce, snonce)
        bad.send_raw(wire.encode_frame(wire.AUTH, 0, proof + wire.u32(peer.session_id)) + b"!")
        frames = bad.expect_closed()
        assert [f.type for f in frames] in ([], [wire.AUTH_OK])
        ctx.srv.wait_log(r"data connection \(127\.0\.0\.1:%d\): closed: unexpected bytes "
                         r"after handshake$" % bad.local_port, since=mark)
    else:
        # The most recently pooled connection is the first one ADOPT would take.
        bad = ctx.data(peer.session_id)
        ctx.srv.wait_log(label + r": data connection ready \(2 idle\)$", since=mark)
        if what == "byte":
            bad.send_raw(b"x")
        elif what == "frame":
            bad.send_frame(wire.PING, 0, b"12345678")
        else:
            bad.shutdown_write()
        got, _how = bad.recv_eof()  # EOF, or a reset when the byte was left unread
        assert got == b""
        ctx.srv.wait_log(label + r": idle data connection closed$", since=mark)

    # The session is untouched and the next move takes the good connection.
    assert peer.barrier() == []
    user, op, mux = start_move(ctx, peer, good, addr, b"hop")
    peer.send_moved(op.id)
    m = ctx.srv.wait_log(label + " " + MOVED_LINE % op.id, since=mark)
    assert int(m.group(1)) == len(mux)
    good.send_raw(b"raw")
    assert recv_exact(user, 3) == b"raw"
    assert ctx.srv.find(label + r": closed:", since=mark) is None


@pytest.mark.parametrize("sid", ["unknown", "zero", "closed"])
def test_data_connection_for_unknown_session_is_refused(start, sid):
    """AUTH on a data connection naming no live session: ERROR code 7
    'no such session', and the connection is closed (a failed login)."""
    ctx = start()
    peer = ctx.control()
    if sid == "closed":
        peer.close()
        ctx.srv.wait_log(ctx.label(peer) + r": closed: connection closed by peer$")
        n = peer.session_id
    else:
        n = 4242 if sid == "unknown" else 0
    p = Peer("127.0.0.1", ctx.srv.port)
    ctx.conns.append(p)
    with pytest.raises(AssertionError, match=r"expected AUTH_OK, got ERROR.*code=7 "
                                             r"text='no such session'"):
        p.handshake(ctx.token, wire.ROLE_DATA, session_id=n)
    assert p.expect_closed() == []
    ctx.srv.wait_log(r"data connection \(127\.0\.0\.1:%d\): closed: authentication failed$"
                     % p.local_port)


def test_at_most_64_idle_data_connections(start):
    """The server keeps at most 64 idle data connections per session: the
    65th gets ERROR code 7 'too many data connections'. Once a move has taken
    one, there is room for one more."""
    ctx = start("--dedicated-after", "1")
    peer = ctx.control()
    addr = peer.register("full")
    pool = [ctx.data(peer.session_id) for _ in range(64)]
    p = Peer("127.0.0.1", ctx.srv.port)
    ctx.conns.append(p)
    with pytest.raises(AssertionError, match=r"expected AUTH_OK, got ERROR.*code=7 "
                                             r"text='too many data connections'"):
        p.handshake(peer.session_key, wire.ROLE_DATA, session_id=peer.session_id)
    assert p.expect_closed() == []
    # The most recent one is taken first.
    user, op, mux = start_move(ctx, peer, pool[-1], addr, b"z")
    peer.send_moved(op.id)
    ctx.srv.wait_log(ctx.label(peer) + " " + MOVED_LINE % op.id)
    ctx.data(peer.session_id)     # 64 idle again
    assert peer.barrier() == []
