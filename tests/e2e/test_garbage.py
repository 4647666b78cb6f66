"""7. Garbage on the control port closes only that connection, is logged, and
does not disturb an existing tunnel."""

import random
import re
import socket
import struct
import time

import pytest

from conftest import roundtrip

HELLO = 1


def header(ftype, flags, reserved, sid, length):
    return struct.pack(">BBHII", ftype, flags, reserved, sid, length)


def random_bytes():
    rng = random.Random(7)
    return bytes(rng.getrandbits(8) for _ in range(4096))


GARBAGE = {
    "random": random_bytes(),
    "http": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n",
    "oversized_hello": header(HELLO, 0, 0, 0, 65537) + b"\0" * 64,
    "huge_length": header(HELLO, 0, 0, 0, 0xFFFFFFFF),
    "unknown_type": header(0xEE, 0, 0, 0, 4) + b"abcd",
    "nonzero_reserved": header(HELLO, 0, 0xBEEF, 0, 4) + b"abcd",
    # The control port speaks TLS too: a whole record that claims to be a
    # ClientHello but is not one fails the TLS handshake at once. (A record
    # cut short is waited for, up to handshake_timeout, like any TLS server.)
    "tls_client_hello": bytes.fromhex("1603010044" "01000040ffff") + b"\0" * 62,
}


def assert_closed_by_peer(s, timeout=3.0):
    """The server must close (FIN or RST) within timeout; returns elapsed s."""
    s.settimeout(timeout)
    t0 = time.monotonic()
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            # The server may answer with an ERROR frame first; keep reading.
    except ConnectionResetError:
        pass
    except socket.timeout:
        raise AssertionError(f"server kept the connection open for {timeout}s")
    return time.monotonic() - t0


@pytest.fixture
def live_tunnel(burrow_server, burrow_client, echo):
    srv = burrow_server()
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}")
    port = cli.tunnel_port("r1")
    assert roundtrip("127.0.0.1", port, b"pre") == b"pre"
    return srv, cli, port


@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_garbage_closes_only_that_connection(live_tunnel, kind):
    srv, cli, port = live_tunnel
    # Keep a stream open across the garbage to prove the session is untouched.
    held = socket.create_connection(("127.0.0.1", port), timeout=5)
    held.sendall(b"A")
    assert held.recv(1) == b"A"

    mark = srv.mark()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    local = s.getsockname()[1]
    try:
        s.sendall(GARBAGE[kind])
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may already have hung up
    assert_closed_by_peer(s)
    s.close()
    srv.wait_log(r"\(127\.0\.0\.1:%d\).*closed" % local, since=mark)

    # Nothing else was touched: the held stream, new streams, the client session.
    held.sendall(b"B")
    assert held.recv(1) == b"B"
    held.close()
    assert roundtrip("127.0.0.1", port, b"post " + kind.encode()) == b"post " + kind.encode()
    assert not cli.find(r"disconnected")
    assert srv.alive()


def test_many_garbage_connections_at_once(live_tunnel):
    srv, cli, port = live_tunnel
    socks = []
    for i in range(50):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        socks.append(s)
    for i, s in enumerate(socks):
        try:
            s.sendall(list(GARBAGE.values())[i % len(GARBAGE)])
        except OSError:
            pass
    for s in socks:
        assert_closed_by_peer(s, timeout=5)
        s.close()
    assert roundtrip("127.0.0.1", port, b"still fine") == b"still fine"


def test_silent_connection_dropped_after_handshake_timeout(burrow_server, burrow_client, echo):
    srv = burrow_server("--handshake-timeout", "1s")
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}")
    port = cli.tunnel_port("r1")
    mark = srv.mark()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    local = s.getsockname()[1]
    elapsed = assert_closed_by_peer(s, timeout=4)
    s.close()
    assert 0.5 < elapsed < 3, f"silent connection dropped after {elapsed:.2f}s (handshake timeout 1s)"
    srv.wait_log(r"\(127\.0\.0\.1:%d\).*closed" % local, since=mark)
    # The authenticated session has no handshake deadline.
    assert roundtrip("127.0.0.1", port, b"ok") == b"ok"
