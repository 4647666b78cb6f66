"""8. Target unreachable: the user connection is closed promptly and the
failure is logged."""

import re
import socket
import time

from conftest import closed_port, roundtrip


def wait_any(procs, regex, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        for p in procs:
            m = p.find(regex)
            if m:
                return p, m
        if time.monotonic() > deadline:
            raise AssertionError(f"no /{regex}/ in any log:\n" + "\n".join(p.text() for p in procs))
        time.sleep(0.05)  # polling two logs; each check is event-free


def test_target_unreachable(burrow_server, burrow_client, echo):
    dead = closed_port()
    srv = burrow_server()
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{dead}", "-R", f"0:127.0.0.1:{echo.port}")
    port = cli.tunnel_port("r1")
    good = cli.tunnel_port("r2")
    for attempt in range(3):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.settimeout(3)
        t0 = time.monotonic()
        try:
            s.sendall(b"anyone there?")
        except OSError:
            pass
        try:
            got = s.recv(100)
            assert got == b"", f"got data from an unreachable target: {got!r}"
        except ConnectionResetError:
            pass
        except socket.timeout:
            raise AssertionError("user connection to an unreachable target still open after 3s")
        assert time.monotonic() - t0 < 3
        s.close()
    wait_any([srv, cli], r"open failed")
    # The session and the other tunnel are unaffected.
    assert roundtrip("127.0.0.1", good, b"fine") == b"fine"
    assert not cli.find(r"disconnected")


def test_target_appears_later(burrow_server, burrow_client):
    """The target is dialled per stream: once it listens, the same tunnel works."""
    import services
    srv = burrow_server()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    target = s.getsockname()[1]
    s.close()  # nobody listens on `target` now
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{target}")
    port = cli.tunnel_port("r1")
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.settimeout(3)
    try:
        assert c.recv(10) == b""
    except ConnectionResetError:
        pass
    c.close()
    svc = services.Service("echo", "127.0.0.1", target)
    try:
        assert roundtrip("127.0.0.1", port, b"now up") == b"now up"
    finally:
        svc.close()
