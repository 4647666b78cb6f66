"""3. Real OpenSSH through the tunnel: an interactive-less command and scp both ways."""

import os
import subprocess

from conftest import sha


def test_ssh_and_scp_through_tunnel(burrow_server, burrow_client, sshd, tmp_path):
    srv = burrow_server()
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{sshd.port}")
    port = cli.tunnel_port("r1")

    r = subprocess.run(["ssh"] + sshd.ssh_opts(port) + ["root@127.0.0.1", "echo", "hello"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b"hello\n"

    src = tmp_path / "up.bin"
    data = os.urandom(5 * 1024 * 1024)
    src.write_bytes(data)
    remote_dir = tmp_path / "remote"
    remote_dir.mkdir()
    r = subprocess.run(["scp"] + sshd.scp_opts(port) + [str(src), f"root@127.0.0.1:{remote_dir}/up.bin"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    assert sha((remote_dir / "up.bin").read_bytes()) == sha(data)

    down = tmp_path / "down.bin"
    r = subprocess.run(["scp"] + sshd.scp_opts(port) + [f"root@127.0.0.1:{remote_dir}/up.bin", str(down)],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    assert sha(down.read_bytes()) == sha(data)

    # A command whose stdin is piped through: exercises both directions and EOF.
    r = subprocess.run(["ssh"] + sshd.ssh_opts(port) + ["root@127.0.0.1", "sha256sum"],
                       input=data, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.split()[0].decode() == sha(data)
