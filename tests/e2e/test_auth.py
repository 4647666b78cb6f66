"""4. Authentication: wrong token, token hygiene (never in argv, logs or on the wire)."""

import os
import socket
import threading
import time

from conftest import roundtrip


def test_wrong_token(burrow_server, burrow_client, echo, token):
    srv = burrow_server()
    bad = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", token="wrong-" + token)
    t0 = time.monotonic()
    rc = bad.wait_exit(timeout=10)
    elapsed = time.monotonic() - t0
    assert rc == 1, f"client rc={rc}, want 1"
    assert elapsed < 5, f"client took {elapsed:.1f}s to give up"
    assert bad.find(r"authentication failed"), bad.text()
    assert not bad.find(r"reconnecting in"), "client must not retry after an auth refusal"
    srv.wait_log(r"session \d+ \(127\.0\.0\.1:\d+\): authentication failed")
    assert not srv.find(r"tunnel r1 listening"), "a tunnel was registered for a bad token"

    # The server keeps serving a good client.
    good = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}")
    port = good.tunnel_port("r1")
    assert roundtrip("127.0.0.1", port, b"still serving") == b"still serving"


def test_missing_token_on_client_is_refused(burrow_server, burrow_client, echo):
    srv = burrow_server()
    # Client with an empty token in the environment: either a usage error (2)
    # or an auth refusal (1), never a registered tunnel.
    c = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", token="")
    rc = c.wait_exit(timeout=10)
    assert rc in (1, 2), c.text()
    assert not srv.find(r"tunnel r1 listening")


class Relay:
    """A TCP relay that records every byte in both directions."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.captured = bytearray()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(c, u), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c), daemon=True).start()

    def _pump(self, a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    b.shutdown(socket.SHUT_WR)
                    return
                with self.lock:
                    self.captured += d
                b.sendall(d)
        except OSError:
            pass

    def close(self):
        self.sock.close()


def test_token_flag_hidden_from_ps_logs_and_wire(burrow_server, burrow_client, echo, token):
    srv = burrow_server("--log-level", "debug", token=token, use_env_token=False)
    relay = Relay(srv.port)
    try:
        cli = burrow_client(f"127.0.0.1:{relay.port}", "-R", f"0:127.0.0.1:{echo.port}",
                            "--log-level", "debug", token=token, use_env_token=False)
        assert "--token" in srv.argv and token in srv.argv  # the test really used the flag
        port = cli.tunnel_port("r1")
        assert roundtrip("127.0.0.1", port, b"ping") == b"ping"
        for p in (srv, cli):
            with open(f"/proc/{p.pid}/cmdline", "rb") as f:
                cmdline = f.read()
            assert token.encode() not in cmdline, f"{p.name}: token visible in /proc/pid/cmdline"
            with open(f"/proc/{p.pid}/environ", "rb") as f:
                assert token.encode() not in f.read()
        with relay.lock:
            wire = bytes(relay.captured)
        assert len(wire) > 0
        assert token.encode() not in wire, "token crossed the wire in clear"
    finally:
        relay.close()
    # Logs (after shutdown, so everything is flushed) never contain the token.
    cli.stop()
    srv.stop()
    for p in (srv, cli):
        assert token not in p.text(), f"{p.name} logged the token"
        assert all(token not in l for l in p.out_lines)


def test_token_env_not_logged(burrow_server, burrow_client, echo, token):
    srv = burrow_server("--log-level", "debug")
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}", "--log-level", "debug")
    port = cli.tunnel_port("r1")
    assert roundtrip("127.0.0.1", port, b"x") == b"x"
    cli.stop()
    srv.stop()
    assert token not in srv.text()
    assert token not in cli.text()
