"""11. A firewalled network: the service and the burrow client live in a
network namespace that drops inbound TCP connections; the server lives in
another namespace. The only way in is the tunnel the client dialled out."""

import json
import time
import os
import shutil
import subprocess

import pytest

from conftest import Proc, sha

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"


def sh(*args, check=True):
    r = subprocess.run(list(args), capture_output=True, timeout=20)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: rc={r.returncode}: {r.stderr.decode().strip()}")
    return r


class Netns:
    def __init__(self):
        pid = os.getpid()
        self.inside = f"bw-in-{pid}"
        self.outside = f"bw-out-{pid}"
        self.veth_in = f"bwi{pid}"[:15]
        self.veth_out = f"bwo{pid}"[:15]
        x = pid % 250 + 1
        self.in_addr = f"10.251.{x}.1"
        self.out_addr = f"10.251.{x}.2"
        self.created = []

    def setup(self):
        for ns in (self.inside, self.outside):
            sh("ip", "netns", "add", ns)
            self.created.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", self.veth_in, "netns", self.inside, "type", "veth",
           "peer", "name", self.veth_out, "netns", self.outside)
        sh("ip", "-n", self.inside, "addr", "add", f"{self.in_addr}/30", "dev", self.veth_in)
        sh("ip", "-n", self.outside, "addr", "add", f"{self.out_addr}/30", "dev", self.veth_out)
        sh("ip", "-n", self.inside, "link", "set", self.veth_in, "up")
        sh("ip", "-n", self.outside, "link", "set", self.veth_out, "up")
        ipt = ["ip", "netns", "exec", self.inside, "iptables", "-w"]
        sh(*ipt, "-A", "INPUT", "-i", "lo", "-j", "ACCEPT")
        sh(*ipt, "-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
        sh(*ipt, "-A", "INPUT", "-i", self.veth_in, "-p", "tcp", "-m", "conntrack", "--ctstate", "NEW",
           "-j", "DROP")

    def exec(self, ns):
        return ["ip", "netns", "exec", ns]

    def cleanup(self):
        for ns in self.created:
            sh("ip", "netns", "del", ns, check=False)


@pytest.fixture
def netns():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    for tool in ("ip", "iptables"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed")
    n = Netns()
    try:
        n.setup()
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        n.cleanup()
        pytest.skip(f"cannot build the namespaces/firewall here: {e}")
    yield n
    n.cleanup()


def probe(n, ns, host, port, nbytes, timeout):
    r = subprocess.run(n.exec(ns) + [PY, os.path.join(HERE, "services.py"), "probe", host, str(port),
                                     str(nbytes), str(timeout)],
                       capture_output=True, timeout=timeout + 20)
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)


def test_tunnel_through_firewall(netns, burrow_server, burrow_client):
    n = netns
    svc = Proc("service", n.exec(n.inside) + [PY, os.path.join(HERE, "services.py"), "serve", "echo",
                                              "0.0.0.0", "0"])
    try:
        svc_port = int(svc.wait_log(r"listening (\d+)").group(1))

        # The service works inside its own network...
        r = probe(n, n.inside, "127.0.0.1", svc_port, 1000, 5)
        assert r["result"] == "ok" and r["sha256"] == r["sent_sha256"], r
        # ...but the firewall drops a direct connection from outside (no RST: a timeout).
        r = probe(n, n.outside, n.in_addr, svc_port, 10, 2)
        assert r["result"] == "connect-timeout", f"direct connection not blocked by the firewall: {r}"

        srv = burrow_server("--gateway-ports", "yes", listen=f"{n.out_addr}:0", netns=n.outside)
        assert srv.host == n.out_addr
        cli = burrow_client(f"{n.out_addr}:{srv.port}", "-R", f"0:127.0.0.1:{svc_port}", netns=n.inside)
        port = cli.tunnel_port("r1")
        srv.wait_log(r"tunnel r1 listening on \S+:%d\b" % port)

        # From the outside network, the tunnel port reaches the firewalled service.
        r = probe(n, n.outside, n.out_addr, port, 2 * 1024 * 1024, 20)
        assert r["result"] == "ok", r
        assert r["len"] == 2 * 1024 * 1024 and r["sha256"] == r["sent_sha256"], r
        # And the direct path is still closed: the tunnel did not open the firewall.
        r = probe(n, n.outside, n.in_addr, svc_port, 10, 1)
        assert r["result"] == "connect-timeout", r
    finally:
        svc.kill()


def test_firewall_harness_without_burrow(netns):
    """The namespaces do what the test above assumes: outbound from the inside
    works, inbound to the inside is dropped."""
    n = netns
    svc = Proc("outside-service", n.exec(n.outside) + [PY, os.path.join(HERE, "services.py"), "serve",
                                                      "echo", "0.0.0.0", "0"])
    try:
        port = int(svc.wait_log(r"listening (\d+)").group(1))
        r = probe(n, n.inside, n.out_addr, port, 100000, 5)
        assert r["result"] == "ok" and r["sha256"] == r["sent_sha256"], r
        r = probe(n, n.outside, n.in_addr, port, 10, 1)
        assert r["result"] == "connect-timeout", r
    finally:
        svc.kill()


def test_open_timeout_when_target_drops_syn(netns, burrow_server, burrow_client):
    """A target whose firewall silently drops SYNs: the stream gives up after
    --open-timeout and the user connection is closed, with a log line."""
    n = netns
    srv = burrow_server("--open-timeout", "1s", listen="127.0.0.1:0", netns=n.outside)
    # The client lives outside; its target is behind the inside firewall.
    cli = burrow_client(f"127.0.0.1:{srv.port}", "-R", f"0:{n.in_addr}:22", "--open-timeout", "1s",
                        netns=n.outside)
    port = cli.tunnel_port("r1")
    t0 = time.monotonic()
    r = probe(n, n.outside, "127.0.0.1", port, 10, 6)
    elapsed = time.monotonic() - t0
    # Closed (EOF or reset) rather than hanging until the probe's own timeout.
    assert r["result"] in ("ok", "io-error"), r
    assert r.get("len", 0) == 0, r
    assert elapsed > 0.5, f"closed after {elapsed:.1f}s: before the open timeout?"
    assert elapsed < 4, f"user connection closed after {elapsed:.1f}s with --open-timeout 1s"
    deadline = time.monotonic() + 5
    while not (srv.find(r"open failed") or cli.find(r"open failed")):
        assert time.monotonic() < deadline, "no 'open failed' log line"
        time.sleep(0.05)
