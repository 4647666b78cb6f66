"""The two data paths: multiplexed streams (--pool 0) and dedicated data
connections relayed with splice (--pool N). Both must carry bytes intact,
keep half-close, and say in the server log which path a connection took."""

import os
import socket

import pytest

from conftest import closed_port, roundtrip, sha

MB = 1024 * 1024


@pytest.mark.parametrize("pool,path", [("0", "mux"), ("2", "dedicated")])
def test_path_roundtrip_and_half_close(burrow_server, burrow_client, service, pool, path):
    srv = burrow_server()
    # "sha" service: reads until EOF, then answers the SHA-256 of what it read.
    svc = service("sha")
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{svc.port}", "--pool", pool)
    port = cli.tunnel_port("r1")
    if path == "dedicated":
        cli.wait_log(r"session \d+: 2 data connections ready")
    data = os.urandom(3 * MB + 17)
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    assert got.decode().strip() == sha(data)
    if path == "dedicated":
        srv.wait_log(r"opened from \S+ on tunnel r1 \(dedicated\)")
    else:
        srv.wait_log(r"stream \d+: opened from \S+ on tunnel r1$")
        assert srv.find(r"\(dedicated\)") is None


def test_dedicated_pool_refills(burrow_server, burrow_client, echo):
    """Each dedicated connection is replaced: many sequential connections all
    work whichever path each one takes, and later ones are dedicated again."""
    srv = burrow_server()
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--pool", "1")
    port = cli.tunnel_port("r1")
    for i in range(20):
        data = os.urandom(1000 + i)
        assert sha(roundtrip("127.0.0.1", port, data)) == sha(data)
    assert len(srv.text().split("(dedicated)")) - 1 >= 1


def test_dedicated_target_refused(burrow_server, burrow_client):
    """A dedicated connection whose target refuses closes the user promptly."""
    srv = burrow_server()
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{closed_port()}", "--pool", "2")
    port = cli.tunnel_port("r1")
    cli.wait_log(r"session \d+: 2 data connections ready")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.settimeout(5)
        try:
            assert s.recv(1) == b""
        except ConnectionResetError:
            pass
    cli.wait_log(r"open failed: dial 127\.0\.0\.1:\d+: Connection refused")


def test_tunnel_data_path_mux(burrow_server, burrow_client, echo, tmp_path):
    """data_path: mux keeps a tunnel on multiplexed streams even with a full pool."""
    srv = burrow_server()
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
    data = os.urandom(100000)
    assert sha(roundtrip("127.0.0.1", muxed, data)) == sha(data)
    srv.wait_log(r"stream \d+: opened from \S+ on tunnel muxed$")
    assert srv.find(r"on tunnel muxed \(dedicated\)") is None
    assert sha(roundtrip("127.0.0.1", fast, data)) == sha(data)
    srv.wait_log(r"opened from \S+ on tunnel fast \(dedicated\)")
