"""10. Server policy: GatewayPorts semantics and allow_ports."""

import socket

import pytest

from conftest import free_port, roundtrip, wait_refused


def test_gateway_ports_no_forces_loopback(burrow_server, burrow_client, echo):
    srv = burrow_server()  # default: no
    cli = burrow_client(srv, "-R", f"0.0.0.0:0:127.0.0.1:{echo.port}")
    host, port = cli.tunnel_addr("r1")
    assert host == "127.0.0.1"
    srv.wait_log(r"tunnel r1 listening on 127\.0\.0\.1:%d\b" % port)
    assert roundtrip("127.0.0.1", port, b"lo") == b"lo"
    # Bound to 127.0.0.1 only: another loopback address is not served.
    wait_refused("127.0.0.2", port, timeout=2)


def test_gateway_ports_no_explicit_flag(burrow_server, burrow_client, echo):
    srv = burrow_server("--gateway-ports", "no")
    cli = burrow_client(srv, "-R", f"127.0.0.2:0:127.0.0.1:{echo.port}")
    host, port = cli.tunnel_addr("r1")
    assert host == "127.0.0.1"


def test_gateway_ports_clientspecified(burrow_server, burrow_client, echo):
    srv = burrow_server("--gateway-ports", "clientspecified")
    cli = burrow_client(srv, "-R", f"127.0.0.2:0:127.0.0.1:{echo.port}")
    host, port = cli.tunnel_addr("r1")
    assert host == "127.0.0.2"
    srv.wait_log(r"tunnel r1 listening on 127\.0\.0\.2:%d\b" % port)
    assert roundtrip("127.0.0.2", port, b"two") == b"two"
    wait_refused("127.0.0.1", port, timeout=2)


def test_gateway_ports_clientspecified_default_is_loopback(burrow_server, burrow_client, echo):
    # Like OpenSSH: with clientspecified and no bind address, bind loopback.
    srv = burrow_server("--gateway-ports", "clientspecified")
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}")
    host, port = cli.tunnel_addr("r1")
    assert host == "127.0.0.1"


def test_gateway_ports_yes_binds_wildcard(burrow_server, burrow_client, echo):
    # OpenSSH semantics: yes = remote forwards bind the wildcard address.
    srv = burrow_server("--gateway-ports", "yes")
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}")
    host, port = cli.tunnel_addr("r1")
    assert host in ("0.0.0.0", "::", "*"), host
    assert roundtrip("127.0.0.3", port, b"any") == b"any"


def test_allow_ports(burrow_server, burrow_client, echo):
    ok_port = free_port()
    denied = free_port()
    while denied == ok_port:
        denied = free_port()
    srv = burrow_server("--allow-ports", f"{ok_port}")
    cli = burrow_client(srv, "-R", f"{denied}:127.0.0.1:{echo.port}",
                        "-R", f"{ok_port}:127.0.0.1:{echo.port}")
    cli.wait_log(r"tunnel r1: registration failed: ")
    assert cli.tunnel_port("r2") == ok_port
    wait_refused("127.0.0.1", denied, timeout=1)
    assert roundtrip("127.0.0.1", ok_port, b"allowed") == b"allowed"
    assert not cli.find(r"tunnel r1: listening")


def test_default_allow_ports_refuses_privileged(burrow_server, burrow_client, echo):
    srv = burrow_server()  # default 1024-65535
    cli = burrow_client(srv, "-R", f"80:127.0.0.1:{echo.port}", "-R", f"0:127.0.0.1:{echo.port}")
    cli.wait_log(r"tunnel r1: registration failed: ")
    port = cli.tunnel_port("r2")
    assert roundtrip("127.0.0.1", port, b"r2") == b"r2"


def test_port_in_use_registration_failed(burrow_server, burrow_client, echo):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    busy = blocker.getsockname()[1]
    try:
        srv = burrow_server()
        cli = burrow_client(srv, "-R", f"{busy}:127.0.0.1:{echo.port}", "-R", f"0:127.0.0.1:{echo.port}")
        cli.wait_log(r"tunnel r1: registration failed: ")
        port = cli.tunnel_port("r2")
        assert roundtrip("127.0.0.1", port, b"r2") == b"r2"
    finally:
        blocker.close()


def test_two_clients_same_port_second_refused(burrow_server, burrow_client, echo):
    srv = burrow_server()
    fixed = free_port()
    c1 = burrow_client(srv, "-R", f"{fixed}:127.0.0.1:{echo.port}")
    assert c1.tunnel_port("r1") == fixed
    c2 = burrow_client(srv, "-R", f"{fixed}:127.0.0.1:{echo.port}", "-R", f"0:127.0.0.1:{echo.port}")
    c2.wait_log(r"tunnel r1: registration failed: ")
    c2.tunnel_port("r2")
    assert roundtrip("127.0.0.1", fixed, b"first") == b"first"
