"""PROXY protocol to a tunnel's target (issue 11: the real client IP).

A tcp tunnel with `proxy_protocol: v1|v2` (YAML), or every -R tunnel to a
target with `--proxy-protocol v1|v2`, makes the client write HAProxy's
PROXY header to the target before any byte of a user connection: the
visitor's address (OPEN's peer) and the server address it connected to
(OPEN's dest, CAP_OPEN_DEST).

Real peers: nginx (Debian's nginx-light) with `listen ... proxy_protocol`
and a log_format of $proxy_protocol_addr / _port and
$proxy_protocol_server_addr / _port, started in the foreground with its
files in tmp_path (as test_ws.py does); curl from 127.0.0.2 (--interface),
its source port from its own --write-out. The echo service of services.py
for byte-exact headers. An older server (no CAP_OPEN_DEST) is the fake
server of test_security.py.
"""

import os
import re
import secrets
import shutil
import socket
import struct
import subprocess
import threading

import pytest

import wire
from conftest import LOG_TIMEOUT, Proc, free_port
from test_security import FakeServer
from test_usage import run

MB = 1024 * 1024
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def needs(binary):
    path = shutil.which(binary) or (os.path.exists(f"/usr/sbin/{binary}") and f"/usr/sbin/{binary}")
    if not path:
        pytest.skip(f"{binary} not installed (scripts/deps.sh installs it)")
    return path


def client_yaml(tmp_path, srv, token, version, target_port, name="web"):
    cfg = tmp_path / f"client-{name}.yaml"
    cfg.write_text(
        f"server: 127.0.0.1:{srv.port}\n"
        f"token: {token}\n"
        "tunnels:\n"
        f"  - name: {name}\n"
        "    remote: 0\n"
        f"    local: 127.0.0.1:{target_port}\n"
        f"    proxy_protocol: {version}\n")
    return cfg


def start_tunnel(burrow_server, burrow_client, tmp_path, token, how, version, target_port):
    """A server and a client with one tunnel to target_port that sends
    PROXY headers of `version`; how: "yaml" or "flag". Returns (client, port)."""
    srv = burrow_server()
    if how == "yaml":
        cfg = client_yaml(tmp_path, srv, token, version, target_port)
        cli = burrow_client(srv, "-c", str(cfg), token=None)
        return cli, cli.tunnel_port("web")
    cli = burrow_client(srv, "--proxy-protocol", version, "-R", f"0:127.0.0.1:{target_port}")
    return cli, cli.tunnel_port("r1")


@pytest.fixture
def nginx_pp(procs, tmp_path):
    """nginx in the foreground on a free loopback port that expects a PROXY
    header on every connection; its access log (on its stderr) names the
    addresses the header carried."""
    binary = needs("nginx")
    d = tmp_path / "nginx"
    for sub in ("www", "logs"):
        (d / sub).mkdir(parents=True)
    marker = "burrow-e2e pp " + secrets.token_hex(8)
    (d / "www" / "index.html").write_text(marker + "\n")
    temps = "".join(f"  {k}_temp_path {d}/{k}_temp;\n"
                    for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    for _attempt in range(5):
        port = free_port()
        conf = d / "nginx.conf"
        conf.write_text(
            ("user root;\n" if os.geteuid() == 0 else "")
            + "worker_processes 1;\n"
            "events { worker_connections 64; }\n"
            "http {\n"
            "  log_format pp 'pp=$proxy_protocol_addr:$proxy_protocol_port "
            "server=$proxy_protocol_server_addr:$proxy_protocol_server_port "
            "\"$request\" $status';\n"
            "  access_log /dev/stderr pp;\n"
            + temps +
            "  server {\n"
            f"    listen 127.0.0.1:{port} proxy_protocol;\n"
            f"    root {d}/www;\n"
            "    location / { }\n"
            "  }\n"
            "}\n")
        proc = Proc("nginx", [binary, "-p", str(d), "-c", str(conf),
                              "-g", f"daemon off; pid {d}/nginx.pid; error_log stderr notice;"],
                    dict(os.environ))
        procs.append(proc)
        try:
            proc.wait_log(r"start worker process", timeout=LOG_TIMEOUT)
            proc.port, proc.marker = port, marker
            return proc
        except AssertionError:
            if proc.find(r"Address already in use") is None:
                raise
            proc.stop()
            proc.checked = True  # a port taken meanwhile: try another
    pytest.fail("could not start nginx")


def curl_from(source, port):
    """GET / through the tunnel from `source`: (body, curl's source port)."""
    r = subprocess.run(["curl", "-sS", "--max-time", str(LOG_TIMEOUT), "--interface", source,
                        "-w", "\n%{local_ip} %{local_port}", f"http://127.0.0.1:{port}/"],
                       capture_output=True, timeout=LOG_TIMEOUT + 5)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    body, _, tail = r.stdout.decode().rpartition("\n")
    ip, sport = tail.split()
    assert ip == source
    return body, int(sport)


@pytest.mark.parametrize("how,version", [("yaml", "v1"), ("yaml", "v2"), ("flag", "v1"),
                                         ("flag", "v2")])
def test_nginx_sees_the_visitor(burrow_server, burrow_client, nginx_pp, tmp_path, token,
                                how, version):
    """nginx behind the tunnel logs the visitor's address and port (curl from
    127.0.0.2) and the server address it connected to (the tunnel's port on
    127.0.0.1), from the header the client sent; several requests, each its
    own connection and header."""
    cli, port = start_tunnel(burrow_server, burrow_client, tmp_path, token, how, version,
                             nginx_pp.port)
    for _ in range(3):
        body, sport = curl_from("127.0.0.2", port)
        assert body == nginx_pp.marker + "\n"
        nginx_pp.wait_log(r'^pp=127\.0\.0\.2:%d server=127\.0\.0\.1:%d "GET / HTTP/1\.1" 200$'
                          % (sport, port))
    assert cli.find(r"PROXY header|does not say") is None, cli.text()


def echo_through(port, source, payload):
    """Connect from source to the tunnel, send payload, half-close, read to EOF.
    Returns (bytes read, our source port)."""
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(LOG_TIMEOUT)
    s.connect(("127.0.0.1", port))
    sport = s.getsockname()[1]
    err = []

    def sender():
        try:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    got = bytearray()
    try:
        while True:
            d = s.recv(262144)
            if not d:
                break
            got += d
    finally:
        t.join(LOG_TIMEOUT)
        s.close()
    assert not err, err
    return bytes(got), sport


def expected_header(version, sport, port):
    if version == "v1":
        return b"PROXY TCP4 127.0.0.2 127.0.0.1 %d %d\r\n" % (sport, port)
    return (V2_SIG + b"\x21\x11\x00\x0c" + socket.inet_aton("127.0.0.2")
            + socket.inet_aton("127.0.0.1") + struct.pack(">HH", sport, port))


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("size", [11, 2 * MB])
def test_echo_target_gets_header_then_bytes(burrow_server, burrow_client, echo, tmp_path, token,
                                            version, size):
    """A plain TCP echo target receives exactly the header, then the user's
    bytes: the echo brings back both, byte-exact, for a short connection and
    for one big enough to move to a dedicated data connection."""
    cli, port = start_tunnel(burrow_server, burrow_client, tmp_path, token, "yaml", version,
                             echo.port)
    payload = b"hello proxy" if size == 11 else os.urandom(size)
    got, sport = echo_through(port, "127.0.0.2", payload)
    want = expected_header(version, sport, port)
    assert got[:len(want)] == want
    assert got[len(want):] == payload


def test_flag_leaves_other_tunnels_alone(burrow_server, burrow_client, echo, tmp_path, token):
    """--proxy-protocol applies to the flags' -R tunnels, not to a YAML
    tunnel without the key."""
    srv = burrow_server()
    cfg = tmp_path / "client.yaml"
    cfg.write_text("tunnels:\n  - name: plain\n    remote: 0\n"
                   f"    local: 127.0.0.1:{echo.port}\n")
    cli = burrow_client(srv, "-c", str(cfg), "--proxy-protocol", "v1",
                        "-R", f"0:127.0.0.1:{echo.port}")
    plain, r1 = cli.tunnel_port("plain"), cli.tunnel_port("r1")
    got, _ = echo_through(plain, "127.0.0.2", b"no header")
    assert got == b"no header"
    got, sport = echo_through(r1, "127.0.0.2", b"header")
    assert got == expected_header("v1", sport, r1) + b"header"


@pytest.mark.parametrize("version,header", [
    ("v1", b"PROXY UNKNOWN\r\n"),
    ("v2", V2_SIG + b"\x20\x00\x00\x00"),
])
def test_older_server_gets_unknown(burrow_client, conns, echo, token, version, header):
    """A server without CAP_OPEN_DEST (a fake one here, as in
    test_security.py) sends OPEN without the address the user connected to:
    the header says UNKNOWN (v1) or LOCAL (v2), and the client says why,
    once per tunnel."""
    fs = FakeServer()
    conns.append(fs)
    cli = burrow_client(f"127.0.0.1:{fs.port}", "--pool", "0", "--proxy-protocol", version,
                        "-R", f"0:127.0.0.1:{echo.port}", transport=None)
    c = fs.accept()
    conns.append(c)
    tid = c.accept_session(token, 0x1234567)
    for sid in (2, 4):
        c.send_open(sid, tid, peer="192.0.2.7:5555")
        c.expect(wire.OPEN_OK, sid)
        got = b""
        while len(got) < len(header):
            f = c.next_frame()
            if f.type == wire.WINDOW:
                continue
            assert f.type == wire.DATA and f.id == sid, wire.describe(f)
            got += f.payload
        assert got == header
    warn = r"tunnel r1: the server does not say which of its addresses users connect to"
    cli.wait_log(warn)
    assert len(re.findall(warn, cli.text())) == 1, cli.text()


@pytest.mark.parametrize("body,line,key", [
    ("tunnels:\n  - name: web\n    remote: 0\n    local: 127.0.0.1:80\n"
     "    proxy_protocol: v3\n", 7, "tunnels[0].proxy_protocol"),
    ("tunnels:\n  - name: web\n    remote: 0\n    local: 127.0.0.1:80\n"
     "    proxy_protocol: yes\n", 7, "tunnels[0].proxy_protocol"),
    ("tunnels:\n  - name: web\n    type: local\n    listen: 0\n    connect: 127.0.0.1:80\n"
     "    proxy_protocol: v1\n", 8, "tunnels[0].proxy_protocol"),
    ("tunnels:\n  - name: dns\n    protocol: udp\n    remote: 0\n    local: 127.0.0.1:53\n"
     "    proxy_protocol: v2\n", 8, "tunnels[0].proxy_protocol"),
    ("proxy_protocol: v1\ntunnels:\n  - remote: 0\n    local: 127.0.0.1:80\n", 3,
     "proxy_protocol"),
], ids=["bad-value", "bool", "type-local", "udp", "top-level"])
def test_yaml_errors_exit_2(burrow_bin, tmp_path, body, line, key):
    cfg = tmp_path / "client.yaml"
    cfg.write_text("server: 127.0.0.1:1\ntoken: x\n" + body)
    rc, out, err = run(burrow_bin, "client", "-c", str(cfg))
    assert rc == 2, (rc, err)
    assert re.search(re.escape(f"{cfg}:{line}: {key}:"), err), err


@pytest.mark.parametrize("args,needle", [
    (["--proxy-protocol", "v3", "-R", "0:127.0.0.1:80"], "--proxy-protocol 'v3': expected v1 or v2"),
    (["--proxy-protocol", "v1", "-R", "0"], "--proxy-protocol: no -R tunnel"),
    (["--proxy-protocol", "v1", "-L", "0:127.0.0.1:80"], "--proxy-protocol: no -R tunnel"),
], ids=["bad-value", "socks-only", "local-only"])
def test_flag_errors_exit_2(burrow_bin, args, needle):
    rc, out, err = run(burrow_bin, "client", "-s", "127.0.0.1:1", "--token", "x" * 20, *args)
    assert rc == 2, (rc, err)
    assert needle in err, err
