"""Which HTTPS names a client may register on the server's shared HTTPS
port: the server's domains (--domains), a named client's own domains: in
the clients: list (replacing the server's for it), none given (any name),
and bad values (exit 2). Routing itself is in test_https_sni.py.
"""

import os
import subprocess

import pytest

from conftest import check_sanitizers

RE_SERVING = r"tunnel %s: serving %s on 127\.0\.0\.1:\d+ -> "
RE_REFUSED = (r"tunnel %s: registration failed: %s is not among the names this client may "
              r"serve \(domains\)")


def q(s):
    return s.replace(".", r"\.").replace("*", r"\*")


def test_server_domains(burrow_server, burrow_client):
    srv = burrow_server("--https", "127.0.0.1:0", "--domains", "*.alice.test, exact.test")
    cli = burrow_client(srv, "-R", "https:app.alice.test:127.0.0.1:1",
                        "-R", "https:app.bob.test:127.0.0.1:1",
                        "-R", "https:alice.test:127.0.0.1:1",
                        "-R", "https:*.x.alice.test,exact.test:127.0.0.1:1",
                        "-R", "https:EXACT.test,evil.test:127.0.0.1:1")
    cli.wait_log(RE_SERVING % ("r1", q("app.alice.test")))
    cli.wait_log(RE_REFUSED % ("r2", q("app.bob.test")))
    # *.alice.test covers names under alice.test, not alice.test itself.
    cli.wait_log(RE_REFUSED % ("r3", q("alice.test")))
    cli.wait_log(RE_SERVING % ("r4", q("*.x.alice.test,exact.test")))
    # One name of a tunnel outside the list refuses the whole tunnel (exact.test
    # is r4's anyway): nothing of r5 is registered.
    cli.wait_log(r"tunnel r5: registration failed: ")
    srv.wait_log(r"tunnel r4 serving \*\.x\.alice\.test,exact\.test on ")
    assert not srv.find(r"tunnel r5 serving")


def test_per_client_domains_replace_the_servers(burrow_server, burrow_client, tmp_path, token):
    cfg = tmp_path / "server.yaml"
    cfg.write_text("https: 127.0.0.1:0\n"
                   "domains: \"*.shared.test\"\n"
                   "clients:\n"
                   "  - name: alice\n"
                   "    token: alice-token-0123456789abcdef\n"
                   "    domains: \"*.alice.test\"\n"
                   "  - name: bob\n"
                   "    token: bob-token-0123456789abcdef0\n")
    srv = burrow_server("-c", str(cfg))
    alice = burrow_client(srv, "-n", "alice", "-R", "https:www.alice.test:127.0.0.1:1",
                          "-R", "https:www.shared.test:127.0.0.1:1",
                          token="alice-token-0123456789abcdef")
    alice.wait_log(RE_SERVING % ("r1", q("www.alice.test")))
    alice.wait_log(RE_REFUSED % ("r2", q("www.shared.test")))
    # bob has no domains: of his own: the server's apply.
    bob = burrow_client(srv, "-n", "bob", "-R", "https:www.shared.test:127.0.0.1:1",
                        "-R", "https:api.alice.test:127.0.0.1:1",
                        token="bob-token-0123456789abcdef0")
    bob.wait_log(RE_SERVING % ("r1", q("www.shared.test")))
    bob.wait_log(RE_REFUSED % ("r2", q("api.alice.test")))
    # The shared token's clients: the server's too.
    anon = burrow_client(srv, "-R", "https:a.shared.test:127.0.0.1:1", token=token)
    anon.wait_log(RE_SERVING % ("r1", q("a.shared.test")))


def test_no_domains_any_name(burrow_server, burrow_client):
    srv = burrow_server("--https", "127.0.0.1:0")
    cli = burrow_client(srv, "-R", "https:anything.example:127.0.0.1:1")
    cli.wait_log(RE_SERVING % ("r1", q("anything.example")))


@pytest.mark.parametrize("value", ["bad name", "", "*.", "a..b", "-a.test"])
def test_bad_domains_exit_2(burrow_bin, token, value):
    env = dict(os.environ, BURROW_TOKEN=token)
    r = subprocess.run([burrow_bin, "server", "--listen", "127.0.0.1:0", "--domains", value],
                       capture_output=True, timeout=10, env=env)
    err = r.stderr.decode(errors="replace")
    assert not check_sanitizers(err), err
    assert r.returncode == 2, (r.returncode, err)
    assert "--domains" in err, err


def test_bad_client_domains_exit_2(burrow_bin, token, tmp_path):
    cfg = tmp_path / "server.yaml"
    cfg.write_text("listen: 127.0.0.1:0\n"
                   "clients:\n"
                   "  - name: alice\n"
                   "    token: alice-token-0123456789abcdef\n"
                   "    domains: \"not a name\"\n")
    env = dict(os.environ, BURROW_TOKEN=token)
    r = subprocess.run([burrow_bin, "server", "-c", str(cfg)], capture_output=True,
                       timeout=10, env=env)
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 2, (r.returncode, err)
    assert f"{cfg}:5" in err and "domains" in err, err


@pytest.mark.parametrize("value", ["localhost:0", "nonsense", "127.0.0.1:99999"])
def test_https_port_needs_a_numeric_address(burrow_bin, token, value):
    """The HTTPS port binds as given: a name is a usage error, not a failure
    after start (and a bare address takes port 443, not the control port's)."""
    env = dict(os.environ, BURROW_TOKEN=token)
    r = subprocess.run([burrow_bin, "server", "--listen", "127.0.0.1:0", "--https", value],
                       capture_output=True, timeout=10, env=env)
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 2, (r.returncode, err)
    assert f"--https '{value}'" in err, err
