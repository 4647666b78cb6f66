"""1. Basic tunnel: echo service, HTTP via curl, several tunnels, YAML config, signals."""

import functools
import http.server
import os
import signal
import subprocess
import threading

import pytest

from conftest import roundtrip, sha, wait_port


def test_echo_roundtrip(burrow_server, burrow_client, echo):
    srv = burrow_server()
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}")
    cli.wait_log(r"session \d+: authenticated to 127\.0\.0\.1:%d" % srv.port)
    host, port = cli.tunnel_addr("r1")
    assert host == "127.0.0.1"
    assert port != 0
    srv.wait_log(r"session \d+ \(127\.0\.0\.1:\d+\): tunnel r1 listening on 127\.0\.0\.1:%d\b" % port)
    wait_port("127.0.0.1", port)
    assert roundtrip("127.0.0.1", port, b"hello burrow\n") == b"hello burrow\n"
    data = os.urandom(1 << 20)
    assert sha(roundtrip("127.0.0.1", port, data)) == sha(data)
    # An empty stream: connect, half-close at once, get EOF back.
    assert roundtrip("127.0.0.1", port, b"") == b""
    assert echo.connections >= 3


@pytest.fixture
def http_service(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    body = os.urandom(2 * 1024 * 1024 + 123)
    (root / "blob.bin").write_bytes(body)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield httpd.server_address[1], body
    httpd.shutdown()
    httpd.server_close()


def test_http_through_tunnel_with_curl(burrow_server, burrow_client, http_service):
    http_port, body = http_service
    srv = burrow_server()
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{http_port}")
    port = cli.tunnel_port("r1")
    for _ in range(3):  # several sequential requests, new stream each
        r = subprocess.run(["curl", "-sS", "--fail", "--max-time", "20", "-o", "-",
                            f"http://127.0.0.1:{port}/blob.bin"], capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr.decode()
        assert sha(r.stdout) == sha(body)
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20",
                        f"http://127.0.0.1:{port}/missing"], capture_output=True, timeout=30)
    assert r.stdout == b"404"


def test_two_tunnels_one_client(burrow_server, burrow_client, service):
    e = service("echo")
    h = service("sha")
    srv = burrow_server()
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{e.port}", "-R", f"0:127.0.0.1:{h.port}")
    p1 = cli.tunnel_port("r1")
    p2 = cli.tunnel_port("r2")
    assert p1 != p2
    data = os.urandom(300000)
    assert roundtrip("127.0.0.1", p1, data) == data
    assert roundtrip("127.0.0.1", p2, data) == sha(data).encode() + b"\n"


def test_yaml_config_files(burrow_server, burrow_client, echo, tmp_path, token):
    scfg = tmp_path / "server.yaml"
    scfg.write_text(f"listen: 127.0.0.1:0\ntoken: {token}\nheartbeat: 2s\n")
    srv = burrow_server("-c", str(scfg), listen=None, token=None)
    ccfg = tmp_path / "client.yaml"
    ccfg.write_text(
        f"server: 127.0.0.1:{srv.port}\n"
        f"token: {token}\n"
        "tunnels:\n"
        "  - name: web\n"
        "    remote: 0\n"
        f"    local: 127.0.0.1:{echo.port}\n")
    # burrow_client always passes --server; give the same address as the file.
    cli = burrow_client(f"127.0.0.1:{srv.port}", "-c", str(ccfg), token=None)
    port = cli.tunnel_port("web")
    srv.wait_log(r"tunnel web listening on 127\.0\.0\.1:%d\b" % port)
    assert roundtrip("127.0.0.1", port, b"config works") == b"config works"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_clean_exit(burrow_server, burrow_client, echo, sig):
    srv = burrow_server()
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}")
    port = cli.tunnel_port("r1")
    # An open stream while shutting down must not prevent a clean exit.
    import socket
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"x")
    assert s.recv(1) == b"x"
    cli.kill(sig)
    assert cli.wait_exit() == 0
    srv.wait_log(r"tunnel r1 closed")
    srv.kill(sig)
    assert srv.wait_exit() == 0
    s.close()
