"""5./6. Liveness: server restart with client reconnect, client death (EOF and
silent/SIGSTOP with heartbeat), server silence seen by the client."""

import signal
import socket
import time

import pytest

from conftest import free_port, roundtrip, wait_port, wait_refused

HB = "300ms"
HB_S = 0.3


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_server_restart_client_reconnects(burrow_server, burrow_client, echo, sig):
    srv = burrow_server()
    control = srv.port
    fixed = free_port()
    cli = burrow_client(srv, "-R", f"{fixed}:127.0.0.1:{echo.port}", "--reconnect-max", "2s")
    assert cli.tunnel_port("r1") == fixed
    assert roundtrip("127.0.0.1", fixed, b"before") == b"before"

    mark = cli.mark()
    srv.kill(sig)
    if sig == signal.SIGTERM:
        assert srv.wait_exit() == 0
    cli.wait_log(r"disconnected: ", since=mark)
    cli.wait_log(r"reconnecting in \d+(\.\d+)? s", since=mark)
    wait_refused("127.0.0.1", fixed)

    # Same control port; the client retries until it gets in and re-registers.
    srv2 = burrow_server(listen=f"127.0.0.1:{control}")
    assert srv2.port == control
    cli.wait_log(r"session \d+: authenticated to 127\.0\.0\.1:%d" % control, since=mark)
    assert cli.tunnel_port("r1", since=mark) == fixed
    srv2.wait_log(r"tunnel r1 listening on 127\.0\.0\.1:%d\b" % fixed)
    wait_port("127.0.0.1", fixed)
    assert roundtrip("127.0.0.1", fixed, b"after restart") == b"after restart"


def test_client_killed_frees_port(burrow_server, burrow_client, echo):
    srv = burrow_server()  # default heartbeat (10s): only EOF can explain a fast reaction
    fixed = free_port()
    cli = burrow_client(srv, "-R", f"{fixed}:127.0.0.1:{echo.port}")
    assert cli.tunnel_port("r1") == fixed
    wait_port("127.0.0.1", fixed)
    mark = srv.mark()
    t0 = time.monotonic()
    cli.kill(signal.SIGKILL)
    srv.wait_log(r"tunnel r1 closed", since=mark, timeout=5)
    wait_refused("127.0.0.1", fixed, timeout=3)
    assert time.monotonic() - t0 < 3, "server took too long to notice the client's EOF"
    srv.wait_log(r"session \d+ \(127\.0\.0\.1:\d+\): closed", since=mark)

    # A new client can claim the same port at once.
    cli2 = burrow_client(srv, "-R", f"{fixed}:127.0.0.1:{echo.port}")
    assert cli2.tunnel_port("r1") == fixed
    assert roundtrip("127.0.0.1", fixed, b"new owner") == b"new owner"


def test_client_killed_with_open_streams(burrow_server, burrow_client, echo):
    """Open user connections are closed when their client dies."""
    srv = burrow_server()
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}")
    port = cli.tunnel_port("r1")
    conns = []
    for _ in range(5):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"hi")
        assert s.recv(2) == b"hi"
        conns.append(s)
    cli.kill(signal.SIGKILL)
    for s in conns:
        try:
            assert s.recv(10) == b""
        except ConnectionResetError:
            pass
        s.close()
    wait_refused("127.0.0.1", port, timeout=3)


def test_stopped_client_declared_dead_by_heartbeat(burrow_server, burrow_client, echo):
    srv = burrow_server(heartbeat=HB)
    fixed = free_port()
    cli = burrow_client(srv, "-R", f"{fixed}:127.0.0.1:{echo.port}", heartbeat=HB)
    assert cli.tunnel_port("r1") == fixed
    # Heartbeats flow while both are alive: no timeout over several intervals.
    assert roundtrip("127.0.0.1", fixed, b"alive") == b"alive"
    mark = srv.mark()
    cli.kill(signal.SIGSTOP)
    t0 = time.monotonic()
    srv.wait_log(r"session \d+ \(127\.0\.0\.1:\d+\): closed: .*heartbeat timeout", since=mark, timeout=6)
    elapsed = time.monotonic() - t0
    assert elapsed < 3 * HB_S + 1.5, f"heartbeat timeout after {elapsed:.2f}s (3 x {HB})"
    assert elapsed > HB_S, f"declared dead too early ({elapsed:.2f}s)"
    wait_refused("127.0.0.1", fixed, timeout=3)
    # Resume the client: it finds its session gone and comes back.
    cmark = cli.mark()
    cli.kill(signal.SIGCONT)
    cli.wait_log(r"reconnecting in|disconnected: ", since=cmark)
    assert cli.tunnel_port("r1", since=cmark, timeout=15) == fixed
    assert roundtrip("127.0.0.1", fixed, b"back") == b"back"


def test_no_false_heartbeat_timeout_when_idle(burrow_server, burrow_client, echo):
    srv = burrow_server(heartbeat=HB)
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", heartbeat=HB)
    port = cli.tunnel_port("r1")
    # Stay idle for ~6 intervals: waiting for a line that must NOT come.
    srv.expect_no_log(r"heartbeat timeout|closed", 6 * HB_S)
    assert not cli.find(r"disconnected")
    assert roundtrip("127.0.0.1", port, b"idle ok") == b"idle ok"


def test_stopped_server_detected_by_client(burrow_server, burrow_client, echo):
    srv = burrow_server(heartbeat=HB)
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--reconnect-max", "1s", heartbeat=HB)
    cli.tunnel_port("r1")
    mark = cli.mark()
    srv.kill(signal.SIGSTOP)
    t0 = time.monotonic()
    try:
        cli.wait_log(r"disconnected: ", since=mark, timeout=6)
        elapsed = time.monotonic() - t0
        cli.wait_log(r"reconnecting in", since=mark)
    finally:
        srv.kill(signal.SIGCONT)
    assert elapsed < 3 * HB_S + 1.5, f"client noticed the silent server after {elapsed:.2f}s"
