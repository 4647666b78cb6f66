"""Tunnel targets given by name: resolved once and reused (no lookup per
connection), every address the name has is tried in turn; the same for the
server's own name."""

import os
import shutil

import pytest

from conftest import Proc, _burrow_env, roundtrip, sha


def test_hostname_target_resolved_once(burrow_server, burrow_client, echo):
    """20 connections to a target named `localhost` (which /etc/hosts maps to
    ::1 and/or 127.0.0.1; the echo service listens on 127.0.0.1 only): all
    work, and the client looked the name up once."""
    srv = burrow_server()
    cli = burrow_client(srv, "-R", f"0:localhost:{echo.port}", "--log-level", "debug")
    port = cli.tunnel_port("r1")
    for i in range(20):
        data = os.urandom(2000 + i)
        assert sha(roundtrip("127.0.0.1", port, data)) == sha(data)
    assert len(cli.text().split("localhost resolved to")) - 1 == 1
    assert cli.find(r"open failed") is None


def client_with_hosts(burrow_bin, token, tmp_path, hosts, *args):
    """A burrow client in a private mount namespace whose /etc/hosts is
    `hosts` (unshare -m); the network is the host's loopback."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare for a private /etc/hosts")
    path = tmp_path / "hosts"
    path.write_text(hosts)
    script = 'mount --bind "$0" /etc/hosts && exec "$@"'
    argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, str(path),
            burrow_bin, "client", *args]
    return Proc("client-hosts", argv, _burrow_env(token, True))


def test_every_address_of_a_name_is_tried(burrow_server, burrow_bin, token, echo, tmp_path):
    """A name with two addresses, the first refusing (nothing listens on
    127.0.0.2): each connection falls back to the second. The client runs in
    a private mount namespace whose /etc/hosts says so (unshare -m); the
    network is the host's loopback."""
    srv = burrow_server()
    cli = client_with_hosts(burrow_bin, token, tmp_path, "127.0.0.2 twoaddr\n127.0.0.1 twoaddr\n",
                            "--server", f"127.0.0.1:{srv.port}",
                            "-R", f"0:twoaddr:{echo.port}", "--log-level", "debug")
    try:
        port = cli.tunnel_port("r1")
        for i in range(5):
            data = os.urandom(3000 + i)
            assert sha(roundtrip("127.0.0.1", port, data)) == sha(data)
        cli.wait_log(r"twoaddr resolved to 127\.0\.0\.2:\d+ \(2 addresses")
        assert len(cli.text().split("twoaddr resolved to")) - 1 == 1
        assert cli.find(r"open failed") is None
    finally:
        cli.stop()


def test_every_address_of_the_server_is_tried(burrow_server, burrow_bin, token, echo, tmp_path):
    """The server given by a name with two addresses, the first refusing
    (nothing listens on 127.0.0.2 at the server's port): the client logs the
    refused address, connects to the second, gets its tunnel, and its data
    connections use the address that worked."""
    srv = burrow_server()
    cli = client_with_hosts(burrow_bin, token, tmp_path, "127.0.0.2 relay2\n127.0.0.1 relay2\n",
                            "--server", f"relay2:{srv.port}",
                            "-R", f"0:127.0.0.1:{echo.port}", "--pool", "2")
    try:
        cli.wait_log(r"connect relay2:%d \(127\.0\.0\.2:%d\): Connection refused" % (srv.port, srv.port))
        port = cli.tunnel_port("r1")
        cli.wait_log(r"2 data connections ready")
        data = os.urandom(1 << 20)
        assert sha(roundtrip("127.0.0.1", port, data)) == sha(data)
        assert cli.find(r"reconnecting in") is None
    finally:
        cli.stop()
