"""--web-listen: a second, plain port for a web server or CDN in front. The
WebSocket and http transports work on it like on the control port; it takes
no TLS (the front terminates it)."""
import os

import pytest

from conftest import roundtrip, tls_supported, BURROW_BIN, sha

pytestmark = pytest.mark.skipif(not tls_supported(BURROW_BIN), reason="this burrow has no TLS")

RE_WEB = r"web listening on 127\.0\.0\.1:(\d+) \(ws and http transports, plain; path (\S+)\)"


@pytest.mark.parametrize("scheme", ["ws", "http"])
def test_web_port_carries_ws_and_http(burrow_server, burrow_client, echo, scheme):
    srv = burrow_server("--web-listen", "127.0.0.1:0", "--path", "/t")
    m = srv.wait_log(RE_WEB)
    wport = int(m.group(1))
    assert m.group(2) == "/t" and wport != srv.port
    cli = burrow_client(f"{scheme}://127.0.0.1:{wport}/t", "-R", f"0:127.0.0.1:{echo.port}",
                        transport=None)
    port = cli.tunnel_port("r1")
    data = os.urandom(2 << 20)
    assert sha(roundtrip("127.0.0.1", port, data)) == sha(data)
    assert srv.find(r"session \d+ \(127\.0\.0\.1:\d+\): authenticated")


def test_web_port_takes_no_tls(burrow_server, burrow_client, echo):
    """A TLS ClientHello on the plain port is not TLS to it: the client
    cannot log in there, while the control port still takes TLS."""
    srv = burrow_server("--web-listen", "127.0.0.1:0")
    wport = int(srv.wait_log(RE_WEB).group(1))
    key = srv.server_key()
    bad = burrow_client(f"tls://127.0.0.1:{wport}", "--fingerprint", key,
                        "-R", f"0:127.0.0.1:{echo.port}", transport=None)
    bad.wait_log(r"disconnected: |connect .*: ")
    assert bad.find(r"authenticated to") is None
    good = burrow_client(f"tls://127.0.0.1:{srv.port}", "--fingerprint", key,
                         "-R", f"0:127.0.0.1:{echo.port}", transport=None)
    port = good.tunnel_port("r1")
    assert roundtrip("127.0.0.1", port, b"tls") == b"tls"


def test_web_listen_bad_address_fails_start(burrow_server):
    """Not a numeric address: a usage error (exit 2) naming the flag, before
    anything starts."""
    srv = burrow_server("--web-listen", "999.1.1.1:80", ready=False)
    assert srv.wait_exit() == 2
    assert srv.find(r"--web-listen '999\.1\.1\.1:80': expected a numeric address")
    assert not srv.find(r"server listening")
