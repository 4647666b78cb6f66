"""2. Many concurrent streams with random payloads, half-close in both
directions, and flow control (a stalled reader does not stall other streams)."""

import concurrent.futures
import hashlib
import os
import random
import socket
import threading
import time

import services
from conftest import roundtrip, sha

MB = 1024 * 1024


def test_50_concurrent_streams(burrow_server, burrow_client, echo):
    srv = burrow_server()
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}")
    port = cli.tunnel_port("r1")
    rng = random.Random(1234)
    sizes = [0, 1, 65535, 65536, 65537, 12 + 65536] + [rng.randint(1, 2 * MB) for _ in range(44)]
    payloads = [os.urandom(n) for n in sizes]

    def one(data):
        return sha(roundtrip("127.0.0.1", port, data, timeout=90))

    with concurrent.futures.ThreadPoolExecutor(len(payloads)) as ex:
        results = list(ex.map(one, payloads))
    bad = [i for i, (d, r) in enumerate(zip(payloads, results)) if sha(d) != r]
    assert not bad, f"streams with wrong echo: {[(i, sizes[i]) for i in bad]}"
    assert echo.connections >= len(payloads)


def test_small_window_many_streams(burrow_server, burrow_client, echo):
    """The smallest window (64K) still moves large streams intact."""
    srv = burrow_server("--window", "64K")
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--window", "64K", "--pool", "0")
    port = cli.tunnel_port("r1")
    payloads = [os.urandom(random.randint(MB // 2, 2 * MB)) for _ in range(16)]
    with concurrent.futures.ThreadPoolExecutor(len(payloads)) as ex:
        results = list(ex.map(lambda d: sha(roundtrip("127.0.0.1", port, d, timeout=60)), payloads))
    assert results == [sha(d) for d in payloads]


def test_half_close_client_to_service(burrow_server, burrow_client, service):
    """User sends then SHUT_WR; the service reads to EOF, then answers: the FIN
    must travel through the tunnel while the reverse direction stays open."""
    h = service("sha")
    srv = burrow_server()
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{h.port}")
    port = cli.tunnel_port("r1")
    for n in (0, 1, 5 * MB + 3):
        data = os.urandom(n)
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            got += d
        s.close()
        assert got == sha(data).encode() + b"\n", f"n={n}"


def test_half_close_service_to_client(burrow_server, burrow_client, service):
    """The service sends a banner and SHUT_WRs first; the user gets the banner
    and EOF, and can still send data that the service receives in full."""
    b = service("banner")
    srv = burrow_server()
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{b.port}")
    port = cli.tunnel_port("r1")
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    got = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        got += d
    assert got == services.BANNER
    # Our direction is still open after the peer's FIN.
    data = os.urandom(3 * MB)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    assert b.wait_record(1, timeout=20) == (len(data), sha(data))
    s.close()


def test_stalled_reader_does_not_block_other_streams(burrow_server, burrow_client, echo):
    """Flow control: a user who sends a lot and never reads fills only its own
    stream's window; other streams on the same session keep flowing, and the
    stalled stream's data arrives intact once it is read."""
    srv = burrow_server()
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "0")
    port = cli.tunnel_port("r1")
    block = os.urandom(MB)
    nchunks = 256  # 256 MB: far more than all kernel buffers on the path

    def chunk(i):
        return i.to_bytes(8, "big") + block[8:]

    expected = hashlib.sha256()
    for i in range(nchunks):
        expected.update(chunk(i))

    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    stalled.settimeout(120)
    stalled.connect(("127.0.0.1", port))
    sent = [0]
    done = threading.Event()

    def push():
        try:
            for i in range(nchunks):
                stalled.sendall(chunk(i))
                sent[0] += MB
            stalled.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        done.set()

    t = threading.Thread(target=push, daemon=True)
    t.start()
    # Wait until the sender is blocked: the number of bytes sent stops growing
    # (there is no log line or port event for "a window is full").
    last, stable_since = -1, time.monotonic()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not done.is_set():
        if sent[0] != last:
            last, stable_since = sent[0], time.monotonic()
        elif time.monotonic() - stable_since > 0.5:
            break
        time.sleep(0.05)
    assert not done.is_set(), "256 MB went in while nobody read the replies: no backpressure"
    # Other streams on the same tunnel must still work promptly.
    for _ in range(5):
        data = os.urandom(256 * 1024)
        t0 = time.monotonic()
        assert sha(roundtrip("127.0.0.1", port, data, timeout=10)) == sha(data)
        assert time.monotonic() - t0 < 5, "a fresh stream was slowed down by the stalled one"
    # Now drain the stalled stream: everything must come back intact, in order.
    got = hashlib.sha256()
    n = 0
    while True:
        d = stalled.recv(1 << 20)
        if not d:
            break
        got.update(d)
        n += len(d)
    t.join(30)
    stalled.close()
    assert n == nchunks * MB
    assert got.hexdigest() == expected.hexdigest()
