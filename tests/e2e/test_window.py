"""Stream windows that fit the path: over a delay line of 40 ms round trip,
a multiplexed stream's receive window grows from 2 MiB toward what one round
trip holds (a PING-timed measurement), every byte arrives intact, and with
window_max equal to window it stays fixed. Throughput is measured by make
bench (and in docs/performance.md), not timed here.
"""
import hashlib
import os
import re
import socket
import sys
import threading

import pytest

from conftest import Proc, LOG_TIMEOUT

HERE = os.path.dirname(os.path.abspath(__file__))
RE_GROW = r"stream window (\d+) -> (\d+) KiB \((\d+) KiB in a round trip of (\d+) ms, shortest (\d+) ms\)"


@pytest.fixture
def delayline(procs):
    def start(target_port, delay_ms):
        p = Proc("delayline", ["/usr/bin/python3", os.path.join(HERE, "delayline.py"), "0",
                               str(target_port), str(delay_ms)])
        procs.append(p)
        deadline_port = None
        import time
        end = time.monotonic() + LOG_TIMEOUT
        while deadline_port is None and time.monotonic() < end:
            for line in list(p.out_lines):
                m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
                if m:
                    deadline_port = int(m.group(1))
            if deadline_port is None:
                with p.cond:
                    p.cond.wait(0.1)
        assert deadline_port, "delay line did not start"
        return deadline_port
    return start


def sink_server():
    """Reads everything, returns (port, result) where result gets the sha256."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(4)
    result = {}

    def run():
        c, _ = lst.accept()
        h = hashlib.sha256()
        n = 0
        while True:
            d = c.recv(1 << 20)
            if not d:
                break
            h.update(d)
            n += len(d)
        result["sha"], result["n"] = h.hexdigest(), n
        c.close()
        lst.close()
        result["done"] = True

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return lst.getsockname()[1], result, t


def push(port, size):
    s = socket.create_connection(("127.0.0.1", port))
    h = hashlib.sha256()
    block = os.urandom(1 << 20)
    left = size
    while left > 0:
        b = block[:min(left, len(block))]
        s.sendall(b)
        h.update(b)
        left -= len(b)
    s.shutdown(socket.SHUT_WR)
    s.settimeout(60)
    s.recv(1)  # EOF once the tunnel has delivered and closed
    s.close()
    return h.hexdigest()


@pytest.mark.parametrize("tuned", [True, False])
def test_window_grows_over_a_long_path(burrow_server, burrow_client, delayline, tuned):
    srv = burrow_server()
    dport = delayline(srv.port, 20)  # 20 ms each way: 40 ms round trip
    sport, result, t = sink_server()
    extra = ["--pool", "0", "--log-level", "debug"]  # keep the stream multiplexed
    if not tuned:
        extra += ["--window-max", "2M"]
    cli = burrow_client(f"127.0.0.1:{dport}", "-R", f"0:127.0.0.1:{sport}", *extra)
    port = cli.tunnel_port("r1")
    sent = push(port, 96 << 20)
    t.join(60)
    assert result.get("done"), "sink did not finish"
    assert result["n"] == 96 << 20 and result["sha"] == sent
    grown = [m for m in (re.search(RE_GROW, l) for l in cli.lines) if m]
    if tuned:
        assert grown, "the window never grew:\n" + cli.text()[-3000:]
        first, last = grown[0], grown[-1]
        assert int(first.group(1)) == 2048
        assert int(last.group(2)) > 4096, last.group(0)
        assert int(last.group(2)) <= 16384
        assert all(35 <= int(m.group(4)) < 1000 for m in grown), [m.group(0) for m in grown]
    else:
        assert not grown, grown[0].group(0)
