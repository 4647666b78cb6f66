"""--transport auto: the client tries tcp, tls, ws, wss and http in turn and keeps
the first that gets through, saying in one line which one and why the others
failed.

The networks are emulated by a small inspecting relay in front of the server
(what a firewall with deep packet inspection does): it resets every
connection whose first byte it does not like, and relays the others to the
server. Only loopback addresses; no sleeps: every wait is on a log line.
"""
import os
import socket
import threading

import pytest

from conftest import roundtrip, tls_supported, BURROW_BIN

pytestmark = pytest.mark.skipif(not tls_supported(BURROW_BIN),
                                reason="this burrow has no TLS")

RE_CHOSEN = r"transport auto: (\w+)(?: \((.*)\))?$"


class Inspector:
    """Accepts on a loopback port; a connection whose first byte passes
    `allow` is relayed to the server, any other is reset (SO_LINGER 0)."""

    def __init__(self, upstream_port, allow):
        self.upstream = upstream_port
        self.allow = allow
        self.lst = socket.socket()
        self.lst.bind(("127.0.0.1", 0))
        self.lst.listen(64)
        self.port = self.lst.getsockname()[1]
        self.seen = []  # first bytes, in order
        self.closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lst.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(c,), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _handle(self, c):
        try:
            first = c.recv(1, socket.MSG_PEEK)
        except OSError:
            c.close()
            return
        self.seen.append(first)
        if not first or not self.allow(first):
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            c.close()
            return
        u = socket.create_connection(("127.0.0.1", self.upstream))
        threading.Thread(target=self._pipe, args=(c, u), daemon=True).start()
        self._pipe(u, c)
        c.close()
        u.close()

    def close(self):
        self.lst.close()


@pytest.fixture
def inspector():
    made = []

    def make(upstream_port, allow):
        i = Inspector(upstream_port, allow)
        made.append(i)
        return i

    yield make
    for i in made:
        i.close()


def auto_client(burrow_client, port, key, echo, *extra):
    return burrow_client(f"127.0.0.1:{port}", "--transport", "auto", "--fingerprint", key,
                         "-R", f"0:127.0.0.1:{echo.port}", *extra, transport=None)


def test_auto_direct_takes_tcp(burrow_server, burrow_client, echo):
    """Nothing in the way: the first one, plain TCP, with nothing to explain."""
    srv = burrow_server()
    cli = auto_client(burrow_client, srv.port, srv.server_key(), echo)
    m = cli.wait_log(RE_CHOSEN)
    assert m.group(1) == "tcp" and m.group(2) is None, m.group(0)
    port = cli.tunnel_port("r1")
    assert roundtrip("127.0.0.1", port, b"direct") == b"direct"


def test_auto_only_http_gets_through(burrow_server, burrow_client, echo, inspector):
    """A network that lets only HTTP out (the first byte of a request line is
    a letter): tcp and tls are reset, ws gets through and is kept; streams and
    bulk moved streams work over it."""
    srv = burrow_server()
    fw = inspector(srv.port, lambda b: b.isalpha())
    cli = auto_client(burrow_client, fw.port, srv.server_key(), echo)
    m = cli.wait_log(RE_CHOSEN)
    assert m.group(1) == "ws", m.group(0)
    why = m.group(2)
    assert why and "tcp: " in why and "tls: " in why, why
    assert "reset" in why.lower(), why
    port = cli.tunnel_port("r1")
    data = os.urandom(3 << 20)
    assert roundtrip("127.0.0.1", port, data) == data
    cli.wait_log(r"data connections ready")
    # What the relay saw: a frame, a ClientHello, then HTTP requests.
    assert fw.seen[0] not in (b"\x16", b"G") and fw.seen[1] == b"\x16", fw.seen[:3]
    assert b"G" in fw.seen[2:], fw.seen[:4]


def test_auto_only_tls_gets_through(burrow_server, burrow_client, echo, inspector):
    """A network that passes only TLS: tcp fails, tls is kept, pinned."""
    srv = burrow_server()
    fw = inspector(srv.port, lambda b: b == b"\x16")
    cli = auto_client(burrow_client, fw.port, srv.server_key(), echo)
    m = cli.wait_log(RE_CHOSEN)
    assert m.group(1) == "tls", m.group(0)
    assert m.group(2).startswith("tcp: "), m.group(2)
    port = cli.tunnel_port("r1")
    assert roundtrip("127.0.0.1", port, b"x" * 100000) == b"x" * 100000


def test_auto_nothing_gets_through_keeps_trying(burrow_server, burrow_client, echo, inspector):
    """Everything is reset: one warning names all five with their reasons,
    the client backs off and starts again from tcp (it does not exit)."""
    srv = burrow_server()
    fw = inspector(srv.port, lambda b: False)
    cli = auto_client(burrow_client, fw.port, srv.server_key(), echo)
    m = cli.wait_log(r"transport auto: none got through \((.*)\)")
    for t in ("tcp: ", "tls: ", "ws: ", "wss: ", "http: "):
        assert t in m.group(1), m.group(1)
    cli.wait_log(r"reconnecting in")
    assert cli.popen.poll() is None, "the client must keep retrying"


def test_auto_untrusted_server_is_fatal(burrow_server, burrow_client, echo, inspector):
    """auto never falls back past a TLS server it cannot trust: a wrong pin
    stops the client (exit 1) as with --transport tls."""
    srv = burrow_server()
    fw = inspector(srv.port, lambda b: b == b"\x16")
    wrong = "SHA256:" + "A" * 43
    cli = auto_client(burrow_client, fw.port, wrong, echo)
    assert cli.wait_exit() == 1
    assert cli.find(r"does not match|not trusted|giving up"), cli.text()
    assert cli.find(r"transport auto: (ws|wss)\b") is None, cli.text()


def test_auto_tries_the_better_ones_again_when_idle(burrow_server, burrow_client, echo, inspector):
    """Settled on ws because only HTTP got through; the network opens up:
    after --auto-retry, while no stream is open, the client starts again
    from tcp and keeps it. An open stream holds it back meanwhile."""
    srv = burrow_server()
    allow = {"all": False}
    fw = inspector(srv.port, lambda b: allow["all"] or b.isalpha())
    cli = auto_client(burrow_client, fw.port, srv.server_key(), echo, "--auto-retry", "1s")
    assert cli.wait_log(RE_CHOSEN).group(1) == "ws"
    port = cli.tunnel_port("r1")
    # A stream open across the retry time keeps the session as it is.
    import socket as _s
    held = _s.create_connection(("127.0.0.1", port))
    held.sendall(b"ping")
    assert held.recv(4) == b"ping"
    mark = cli.mark()
    allow["all"] = True
    # Two retry periods pass with the stream open: no switch (a window in
    # which something must not happen has no log line to wait for).
    import time as _t
    deadline = _t.monotonic() + 2.5
    while _t.monotonic() < deadline:
        assert cli.find(r"trying the better ones again", since=mark) is None
        _t.sleep(0.1)
    held.sendall(b"pong")
    assert held.recv(4) == b"pong"
    held.close()
    cli.wait_log(r"transport auto: on ws, idle: trying the better ones again", since=mark, timeout=15)
    m = cli.wait_log(RE_CHOSEN, since=mark, timeout=15)
    assert m.group(1) == "tcp" and m.group(2) is None, m.group(0)
    port = cli.tunnel_port("r1", since=mark)
    assert roundtrip("127.0.0.1", port, b"after") == b"after"
