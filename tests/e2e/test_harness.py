"""Self-checks of the harness (no burrow needed): the services, the port
helpers and the sshd fixture work against the real tools. If these fail, the
environment is broken, not burrow."""

import os
import socket
import subprocess

from conftest import closed_port, roundtrip, sha, wait_port, wait_refused
import services


def test_echo_service_roundtrip_and_half_close(service):
    s = service("echo")
    data = os.urandom(3 * 1024 * 1024 + 7)
    assert sha(roundtrip("127.0.0.1", s.port, data)) == sha(data)
    assert roundtrip("127.0.0.1", s.port, b"") == b""


def test_sha_and_banner_services(service):
    s = service("sha")
    data = os.urandom(100000)
    assert roundtrip("127.0.0.1", s.port, data) == sha(data).encode() + b"\n"
    b = service("banner")
    assert roundtrip("127.0.0.1", b.port, data) == services.BANNER
    assert b.wait_record() == (len(data), sha(data))


def test_port_helpers(service):
    s = service("echo")
    wait_port("127.0.0.1", s.port, timeout=2)
    wait_refused("127.0.0.1", closed_port(), timeout=2)


def test_sshd_direct(sshd):
    r = subprocess.run(["ssh"] + sshd.ssh_opts(sshd.port) + ["root@127.0.0.1", "echo", "hello"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b"hello\n"
