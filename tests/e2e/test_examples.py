"""The example configs in examples/ load and work (flags override what would
leave loopback: the listen address, gateway_ports, the server address)."""

import os

from conftest import REPO, roundtrip


def example(name):
    return os.path.join(REPO, "examples", name)


def test_example_configs_run(burrow_server, burrow_client):
    srv = burrow_server("-c", example("server.yaml"), "--gateway-ports", "no")
    cli = burrow_client(srv, "-c", example("client.yaml"))
    cli.wait_log(r"session \d+: authenticated to 127\.0\.0\.1:%d" % srv.port)
    host, port = cli.tunnel_addr("web")
    assert host == "127.0.0.1" and port > 0
    srv.wait_log(r"tunnel web listening on 127\.0\.0\.1:\d+")


def example_copy(tmp_path, name, subs):
    """examples/NAME with fixed ports replaced (a test binds only port 0)."""
    text = open(example(name)).read()
    for old, new in subs:
        assert old in text, (name, old)
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_forward_examples_run(burrow_server, burrow_client, echo, tmp_path):
    """server-forward.yaml with its named clients; client-share.yaml as nas,
    client-visitor.yaml as laptop reaching nas/ssh (here: an echo service);
    client-forward.yaml's four tunnels all start."""
    srv = burrow_server("-c", example("server-forward.yaml"))
    share = example_copy(tmp_path, "client-share.yaml",
                         [("local: 127.0.0.1:22", f"local: 127.0.0.1:{echo.port}")])
    nas = burrow_client(srv, "-c", share, token="change-me-nas-0123456789abcdef")
    nas.wait_log(r"tunnel ssh: shared")
    nas.wait_log(r"tunnel s-[0-9a-f]{32}: shared")
    visitor = example_copy(tmp_path, "client-visitor.yaml", [("listen: 2222", "listen: 0")])
    laptop = burrow_client(srv, "-c", visitor, token="change-me-laptop-0123456789")
    port = laptop.tunnel_port("nas-ssh")
    laptop.wait_log(r"tunnel nas-ssh: visiting nas/ssh")
    assert roundtrip("127.0.0.1", port, b"through an example") == b"through an example"

    fwd = example_copy(tmp_path, "client-forward.yaml",
                       [("listen: 5432", "listen: 0"), ("listen: 1080", "listen: 0"),
                        ("remote: 1081", "remote: 0"), ("remote: 5353", "remote: 0")])
    cli = burrow_client(srv, "-c", fwd)
    for name in ("db", "proxy", "inside", "dns"):
        cli.tunnel_port(name)


def test_https_example_runs(burrow_server, burrow_client):
    """client-https.yaml's two https tunnels register on a server with an
    HTTPS port on loopback (their names are the example's)."""
    srv = burrow_server("--https", "127.0.0.1:0")
    cli = burrow_client(srv, "-c", example("client-https.yaml"))
    cli.wait_log(r"tunnel site: serving app\.example\.com,www\.example\.com on 127\.0\.0\.1:\d+ "
                 r"-> 127\.0\.0\.1:8443 \(TLS passed through by name\)")
    cli.wait_log(r"tunnel dev: serving \*\.dev\.example\.com on 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:9443")
