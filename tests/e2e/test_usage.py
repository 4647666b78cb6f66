"""9. Usage and config errors exit 2 with a message naming the flag or
file:line: key; help and version exit 0."""

import os
import re
import subprocess

import pytest

from conftest import check_sanitizers


def run(burrow_bin, *args, timeout=10, token=None):
    env = dict(os.environ)
    env.pop("BURROW_TOKEN", None)
    if token is not None:
        env["BURROW_TOKEN"] = token
    r = subprocess.run([burrow_bin] + list(args), capture_output=True, timeout=timeout, env=env)
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    assert not check_sanitizers(err), err
    return r.returncode, out, err


def test_version(burrow_bin):
    rc, out, err = run(burrow_bin, "--version")
    assert rc == 0
    assert re.search(r"^burrow \d+\.\d+\.\d+", out + err, re.M), (out, err)


@pytest.mark.parametrize("args,needle", [
    (["help"], "server"),
    (["server", "--help"], "--listen"),
    (["client", "--help"], "-R"),
])
def test_help_exits_0(burrow_bin, args, needle):
    rc, out, err = run(burrow_bin, *args)
    assert rc == 0, err
    assert needle in out + err


def test_help_mentions_both_roles(burrow_bin):
    rc, out, err = run(burrow_bin, "help")
    assert "client" in out + err


@pytest.mark.parametrize("args,needle", [
    (["server", "--bogus-flag"], "--bogus-flag"),
    (["client", "--server", "127.0.0.1:1", "--frobnicate"], "--frobnicate"),
    (["server", "--listen"], "--listen"),                     # missing value
    (["server", "--listen", "127.0.0.1:99999"], "--listen"),  # bad port
    (["server", "--heartbeat", "banana"], "--heartbeat"),
    (["server", "--gateway-ports", "maybe"], "--gateway-ports"),
    (["server", "--allow-ports", "10-x"], "--allow-ports"),
    (["server", "--log-level", "chatty"], "--log-level"),
    (["client", "--server", "127.0.0.1:1", "--window", "lots"], "--window"),
])
def test_bad_flags_exit_2(burrow_bin, args, needle):
    rc, out, err = run(burrow_bin, *args)
    assert rc == 2, (rc, err)
    assert needle in err, err


@pytest.mark.parametrize("spec", [
    "nonsense",
    "8080:127.0.0.1",               # missing hostport
    "99999:127.0.0.1:80",           # port out of range
    "0:127.0.0.1:notaport",
    "0:127.0.0.1:0",                # target port 0 makes no sense
    "[::1:0:127.0.0.1:80",          # unclosed bracket
    "",
], ids=["nonsense", "missing-hostport", "port-range", "port-nan", "target-port-0", "bracket", "empty"])
def test_bad_R_spec_exit_2(burrow_bin, spec):
    rc, out, err = run(burrow_bin, "client", "--server", "127.0.0.1:1", "-R", spec)
    assert rc == 2, (rc, err)
    assert "-R" in err, err


def test_unknown_subcommand_exit_2(burrow_bin):
    rc, out, err = run(burrow_bin, "frobnicate")
    assert rc == 2
    assert "frobnicate" in err


def test_no_arguments_exit_2(burrow_bin):
    rc, out, err = run(burrow_bin)
    assert rc == 2
    assert err.strip()


def test_client_without_server_exit_2(burrow_bin):
    rc, out, err = run(burrow_bin, "client", "-R", "0:127.0.0.1:80", token="t")
    assert rc == 2, err
    assert "server" in err


def test_no_token_exit_2(burrow_bin):
    rc, out, err = run(burrow_bin, "server", "--listen", "127.0.0.1:0")
    assert rc == 2, err
    assert "token" in err


def test_missing_config_file_exit_2(burrow_bin, tmp_path):
    missing = str(tmp_path / "nope.yaml")
    rc, out, err = run(burrow_bin, "server", "-c", missing)
    assert rc == 2
    assert missing in err


@pytest.mark.parametrize("role,body,line,key", [
    ("server", "listen: 127.0.0.1:0\ntoken: x\nbogus_key: 1\n", 3, "bogus_key"),
    ("server", "listen: 127.0.0.1:0\ngateway_ports: maybe\ntoken: x\n", 2, "gateway_ports"),
    ("server", "token: x\nheartbeat: soon\n", 2, "heartbeat"),
    ("server", "token: x\nallow_ports: \"1-2-3\"\n", 2, "allow_ports"),
    ("client", "server: 127.0.0.1:1\ntoken: x\ntunnels:\n  - name: web\n    remote: 0\n"
               "    lcoal: 127.0.0.1:80\n", 6, "lcoal"),
    ("client", "server: 127.0.0.1:1\ntoken: x\ntunnels:\n  - name: web\n    remote: 70000\n"
               "    local: 127.0.0.1:80\n", 5, "remote"),
    ("client", "server: 127.0.0.1:1\ntoken: x\nreconnect_max: never\n", 3, "reconnect_max"),
], ids=["server-unknown-key", "server-bad-gateway", "server-bad-heartbeat", "server-bad-allow",
        "client-tunnel-typo", "client-remote-range", "client-bad-reconnect"])
def test_bad_config_exit_2(burrow_bin, tmp_path, role, body, line, key):
    cfg = tmp_path / f"{role}.yaml"
    cfg.write_text(body)
    rc, out, err = run(burrow_bin, role, "-c", str(cfg))
    assert rc == 2, (rc, err)
    # The key may be qualified by its path, e.g. "tunnels[0].remote".
    assert re.search(re.escape(f"{cfg}:{line}: ") + r"(\S+\.)?" + re.escape(key) + r"\b", err), err


def test_yaml_syntax_error_exit_2(burrow_bin, tmp_path):
    cfg = tmp_path / "broken.yaml"
    cfg.write_text("listen: 127.0.0.1:0\ntoken: [unclosed\n")
    rc, out, err = run(burrow_bin, "server", "-c", str(cfg))
    assert rc == 2
    assert str(cfg) in err
