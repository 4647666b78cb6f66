"""The example configs in examples/ load and work (flags override what would
leave loopback: the listen address, gateway_ports, the server address)."""

import os

from conftest import REPO


def example(name):
    return os.path.join(REPO, "examples", name)


def test_example_configs_run(burrow_server, burrow_client):
    srv = burrow_server("-c", example("server.yaml"), "--gateway-ports", "no")
    cli = burrow_client(srv, "-c", example("client.yaml"))
    cli.wait_log(r"session \d+: authenticated to 127\.0\.0\.1:%d" % srv.port)
    host, port = cli.tunnel_addr("web")
    assert host == "127.0.0.1" and port > 0
    srv.wait_log(r"tunnel web listening on 127\.0\.0\.1:\d+")
