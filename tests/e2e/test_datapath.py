"""The data paths: every user connection starts as a multiplexed stream; one
that carries more than the server's dedicated_after moves to a pre-opened
dedicated data connection (relayed with splice) when the client has one idle
(pool > 0). Bytes must arrive intact and in order across the move, in both
directions and with bytes in flight, half-close must survive it, and the
server log says which streams moved."""

import os
import socket
import threading

import pytest

from conftest import roundtrip, sha
import services

MB = 1024 * 1024
MOVED = r"stream (\d+): moved to a dedicated connection after (\d+) bytes"


def upload_sha(port, data):
    """Send data, half-close, return the sha service's answer."""
    return roundtrip("127.0.0.1", port, data, timeout=20).decode().strip()


def download(port):
    """Half-close at once and read until EOF (the source service)."""
    return roundtrip("127.0.0.1", port, b"", timeout=20)


@pytest.mark.parametrize("pool,moves", [("0", False), ("2", True)])
def test_upload_and_half_close(burrow_server, burrow_client, service, pool, moves):
    """Upload 3 MB, half-close, read the answer: intact on both paths; only
    with a pool does the stream move, and only after dedicated_after bytes."""
    srv = burrow_server("--dedicated-after", "64K")
    svc = service("sha")
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{svc.port}", "--pool", pool)
    port = cli.tunnel_port("r1")
    if moves:
        cli.wait_log(r"session \d+: 2 data connections ready")
    data = os.urandom(3 * MB + 17)
    assert upload_sha(port, data) == sha(data)
    srv.wait_log(r"stream \d+: opened from \S+ on tunnel r1$")
    if moves:
        m = srv.wait_log(MOVED)
        assert 64 * 1024 <= int(m.group(2)) < 3 * MB
    else:
        assert srv.find(r"moved to a dedicated connection") is None


def test_download_moves(burrow_server, burrow_client, service):
    """Bytes from the target (DATA into the server) trigger the move too."""
    srv = burrow_server("--dedicated-after", "100K")
    svc = service("source")
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{svc.port}", "--pool", "1")
    port = cli.tunnel_port("r1")
    cli.wait_log(r"session \d+: 1 data connections ready")
    got = download(port)
    assert len(got) == len(services.SOURCE)
    assert sha(got) == sha(services.SOURCE)
    srv.wait_log(MOVED)


@pytest.mark.parametrize("after", ["0", "1", "200K"])
def test_move_with_bytes_in_flight_both_ways(burrow_server, burrow_client, echo, after):
    """Echo 4 MB while sending: bytes are in flight in both directions when
    the stream moves (at once, after one byte, mid-stream); all arrive in order."""
    srv = burrow_server("--dedicated-after", after)
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "2")
    port = cli.tunnel_port("r1")
    cli.wait_log(r"session \d+: 2 data connections ready")
    data = os.urandom(4 * MB + 3)
    assert sha(roundtrip("127.0.0.1", port, data)) == sha(data)
    srv.wait_log(MOVED)


def test_many_streams_some_move(burrow_server, burrow_client, echo):
    """More bulk streams than idle data connections: the ones that find a
    data connection move, the others stay multiplexed (or move later when the
    pool has refilled); every one is intact."""
    srv = burrow_server("--dedicated-after", "32K")
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "3")
    port = cli.tunnel_port("r1")
    cli.wait_log(r"session \d+: 3 data connections ready")
    payloads = [os.urandom(600 * 1024 + i) for i in range(12)]
    results = [None] * len(payloads)

    def run(i):
        try:
            results[i] = sha(roundtrip("127.0.0.1", port, payloads[i], timeout=30))
        except OSError as e:
            results[i] = repr(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(payloads))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [sha(p) for p in payloads]
    moved = len(srv.text().split("moved to a dedicated connection")) - 1
    assert moved >= 3


def test_pool_refills_after_moves(burrow_server, burrow_client, service):
    """Each data connection a stream took is replaced: with a pool of 1,
    sequential bulk streams each move."""
    srv = burrow_server("--dedicated-after", "64K", "--log-level", "debug")
    svc = service("sha")
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{svc.port}", "--pool", "1")
    port = cli.tunnel_port("r1")
    cli.wait_log(r"session \d+: 1 data connections ready")
    ready = 0
    for i in range(4):
        # The replacement has joined the pool (a TLS one takes a handshake).
        srv.wait_log(r"data connection ready \(1 idle\)", since=ready)
        mark = ready = srv.mark()
        data = os.urandom(MB + i)
        assert upload_sha(port, data) == sha(data)
        srv.wait_log(MOVED, since=mark)


def test_small_connections_stay_multiplexed(burrow_server, burrow_client, echo):
    """Connections below dedicated_after never take a data connection."""
    srv = burrow_server("--dedicated-after", "256K")
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "2")
    port = cli.tunnel_port("r1")
    cli.wait_log(r"session \d+: 2 data connections ready")
    for i in range(10):
        data = os.urandom(1000 + i)
        assert roundtrip("127.0.0.1", port, data) == data
    assert srv.find(r"moved to a dedicated connection") is None


def test_tunnel_data_path_mux(burrow_server, burrow_client, echo, tmp_path):
    """data_path: mux keeps a tunnel's streams multiplexed even with a full pool."""
    srv = burrow_server("--dedicated-after", "16K")
    cfg = tmp_path / "client.yaml"
    cfg.write_text(
        "server: 127.0.0.1:%d\n"
        "pool: 2\n"
        "tunnels:\n"
        "  - name: muxed\n"
        "    remote: 0\n"
        "    local: 127.0.0.1:%d\n"
        "    data_path: mux\n"
        "  - name: fast\n"
        "    remote: 0\n"
        "    local: 127.0.0.1:%d\n" % (srv.port, echo.port, echo.port))
    cli = burrow_client(srv, "-c", str(cfg))
    muxed = cli.tunnel_port("muxed")
    fast = cli.tunnel_port("fast")
    cli.wait_log(r"session \d+: 2 data connections ready")
    data = os.urandom(MB)
    assert sha(roundtrip("127.0.0.1", muxed, data)) == sha(data)
    m = srv.wait_log(r"stream (\d+): opened from \S+ on tunnel muxed$")
    muxed_id = m.group(1)
    assert sha(roundtrip("127.0.0.1", fast, data)) == sha(data)
    m = srv.wait_log(MOVED)
    assert m.group(1) != muxed_id
    assert len(srv.text().split("moved to a dedicated connection")) - 1 == 1


def test_chatter_stays_multiplexed_bulk_moves(burrow_server, burrow_client, echo):
    """Small request/response exchanges never move the stream, however many
    bytes they add up to; a bulk send on the same connection then does."""
    srv = burrow_server("--dedicated-after", "64K")
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "1")
    port = cli.tunnel_port("r1")
    cli.wait_log(r"session \d+: 1 data connections ready")
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        msg = b"x" * 100
        for _ in range(1500):              # 150 KB each way, 100 bytes at a time
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                got += s.recv(len(msg) - len(got))
            assert got == msg
        assert srv.find(r"moved to a dedicated connection") is None
        bulk = os.urandom(2 * MB)
        t = threading.Thread(target=s.sendall, args=(bulk,))
        t.start()
        got = bytearray()
        while len(got) < len(bulk):
            got += s.recv(262144)
        t.join(20)
        assert bytes(got) == bulk
    srv.wait_log(MOVED)
