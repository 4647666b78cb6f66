"""UDP secret tunnels and their visitors (--share udp:[NAME=]host:port,
--visit NAME -L udp:[bind:]port, YAML protocol: udp): DNS from a visitor's
port to a dnsmasq shared by another client, 2,000 datagrams of mixed sizes
up to 65,507 bytes echoed byte-exact, 20 sources each getting only their own
replies, a sharer that restarts under a visitor, a TCP visit of a UDP share
and a UDP visit of a TCP share refused with a reason, YAML, and flag errors.

Everything on 127.0.0.1; synchronised on log lines, or on a datagram awaited
with a socket timeout.
"""

import os
import random
import subprocess

import pytest

from conftest import LOG_TIMEOUT, check_sanitizers
from test_udp import (DNS_NAMES, MAX_DGRAM, dig, dnsmasq, recv_from,  # noqa: F401 (fixtures)
                      udp_service, udp_socket)

RE_VISITING = r"tunnel %s: visiting %s"


def visit_pair(burrow_server, burrow_client, target, name="dns", share_args=(), visit_args=()):
    """A server, a client sharing udp:NAME=target and a visitor with -L udp:0.
    Returns (srv, sharer, visitor, port of the visitor's UDP port)."""
    srv = burrow_server()
    sharer = burrow_client(srv, "--share", f"udp:{name}={target}", *share_args)
    sharer.wait_log(r"tunnel %s: shared -> %s \(UDP\), no public port: visitors use "
                    r"--visit %s -L udp:PORT" % (name, target.replace(".", r"\."), name))
    visitor = burrow_client(srv, "--visit", name, "-L", "udp:127.0.0.1:0", *visit_args)
    m = visitor.wait_log(r"tunnel v1: listening on 127\.0\.0\.1:(\d+) -> secret tunnel %s "
                         r"\(UDP\)" % name)
    visitor.wait_log(RE_VISITING % ("v1", name))
    return srv, sharer, visitor, int(m.group(1))


def ask(sock, port, data, timeout=LOG_TIMEOUT):
    sock.sendto(data, ("127.0.0.1", port))
    r = recv_from(sock, timeout)
    if r is None:
        return None
    assert r[1] == ("127.0.0.1", port), r[1]
    return r[0]


def test_dns_through_a_udp_visitor(burrow_server, burrow_client, dnsmasq):
    srv, sharer, visitor, port = visit_pair(burrow_server, burrow_client,
                                            f"127.0.0.1:{dnsmasq.dns_port}")
    for name, want in DNS_NAMES.items():
        rc, out, err = dig("+short", "@127.0.0.1", "-p", str(port), name)
        assert rc == 0 and out.strip() == want, (name, rc, out, err)
    rc, out, err = dig("@127.0.0.1", "-p", str(port), "nowhere.example")
    assert "status: REFUSED" in out, out
    # Through the server: a flow joined to one on the sharer, no public port.
    srv.wait_log(r"flow \d+: visits dns \(session \d+ .* flow \d+\)")
    visitor.wait_log(r"tunnel v1: flow \d+: from 127\.0\.0\.1:\d+ to secret tunnel dns")
    with srv.cond:
        assert not [x for x in srv.lines if "tunnel dns listening" in x], srv.lines


def test_mixed_datagrams_byte_exact(burrow_server, burrow_client, udp_service, conns):
    echo = udp_service("echo")
    srv, sharer, visitor, port = visit_pair(burrow_server, burrow_client,
                                            f"127.0.0.1:{echo.port}", name="echo")
    rng = random.Random(20261207)
    sock = udp_socket(conns)
    lost = 0
    for i in range(2000):
        r = rng.random()
        size = (rng.randint(0, 1472) if r < 0.6 else rng.randint(1473, 16384) if r < 0.9
                else rng.randint(16385, MAX_DGRAM))
        if i % 250 == 0:
            size = rng.choice((0, 1, MAX_DGRAM))
        data = os.urandom(size)
        got = ask(sock, port, data, timeout=2)
        if got is None:
            lost += 1
            continue
        assert got == data, (i, size, len(got))
    # One at a time on loopback: nothing is lost.
    assert lost == 0, lost
    assert echo.datagrams == 2000


def test_sources_get_only_their_own_replies(burrow_server, burrow_client, udp_service, conns):
    echo = udp_service("echo")
    srv, sharer, visitor, port = visit_pair(burrow_server, burrow_client,
                                            f"127.0.0.1:{echo.port}", name="echo")
    socks = [udp_socket(conns) for _ in range(20)]
    for rnd in range(3):
        for i, s in enumerate(socks):
            s.sendto(b"source %d round %d" % (i, rnd), ("127.0.0.1", port))
        for i, s in enumerate(socks):
            r = recv_from(s, LOG_TIMEOUT)
            assert r is not None and r[0] == b"source %d round %d" % (i, rnd), (i, rnd, r)
    # 20 flows at the visitor, each joined at the server to its own flow on the sharer.
    with visitor.cond:
        opened = [x for x in visitor.lines if "to secret tunnel echo" in x]
    assert len(opened) == 20, opened


def test_sharer_restarts_under_a_visitor(burrow_server, burrow_client, udp_service, conns):
    echo = udp_service("echo")
    srv, sharer, visitor, port = visit_pair(burrow_server, burrow_client,
                                            f"127.0.0.1:{echo.port}", name="echo")
    sock = udp_socket(conns)
    assert ask(sock, port, b"before") == b"before"
    mark = srv.mark()
    sharer.kill()
    # The server ends the joined flows: the visitor's flow is told (UDP_CLOSE).
    srv.wait_log(r"closed", since=mark)
    again = burrow_client(srv, "--share", f"udp:echo=127.0.0.1:{echo.port}")
    again.wait_log(r"tunnel echo: shared -> ")
    # The same source, with no visitor restart: a new flow reaches the new sharer.
    # (A datagram sent while the visit was being re-made may be dropped: ask
    # until one comes back.)
    got = None
    for _ in range(10):
        got = ask(sock, port, b"after", timeout=1)
        if got is not None:
            break
    assert got == b"after"


def test_kind_mismatch_refused_with_a_reason(burrow_server, burrow_client, udp_service, echo):
    u = udp_service("echo")
    srv = burrow_server()
    a = burrow_client(srv, "--share", f"udp:dgrams=127.0.0.1:{u.port}",
                      "--share", f"streams=127.0.0.1:{echo.port}")
    a.wait_log(r"tunnel streams: shared")
    a.wait_log(r"tunnel dgrams: shared")
    v = burrow_client(srv, "--visit", "dgrams", "-L", "0", "--visit", "streams", "-L", "udp:0")
    v.wait_log(r"tunnel v1: registration failed: 'dgrams' is a UDP secret tunnel: visit it "
               r"with -L udp:\[bind_address:\]port")
    v.wait_log(r"tunnel v2: registration failed: 'streams' is a TCP secret tunnel: visit it "
               r"with -L \[bind_address:\]port")


def test_yaml_udp_share_and_visitor(burrow_server, burrow_client, dnsmasq, tmp_path):
    srv = burrow_server()
    share = tmp_path / "share.yaml"
    share.write_text("tunnels:\n"
                     "  - name: dns\n"
                     "    type: secret\n"
                     "    protocol: udp\n"
                     f"    local: 127.0.0.1:{dnsmasq.dns_port}\n")
    visit = tmp_path / "visit.yaml"
    visit.write_text("tunnels:\n"
                     "  - name: corp-dns\n"
                     "    type: visitor\n"
                     "    protocol: udp\n"
                     "    share: dns\n"
                     "    listen: 127.0.0.1:0\n")
    a = burrow_client(srv, "-c", str(share))
    a.wait_log(r"tunnel dns: shared -> .* \(UDP\)")
    v = burrow_client(srv, "-c", str(visit))
    port = v.tunnel_port("corp-dns")
    v.wait_log(RE_VISITING % ("corp-dns", "dns"))
    rc, out, err = dig("+short", "@127.0.0.1", "-p", str(port), "db.test.internal")
    assert rc == 0 and out.strip() == "10.9.8.8", (rc, out, err)


def run_client(burrow_bin, *args, token):
    env = dict(os.environ)
    env["BURROW_TOKEN"] = token
    r = subprocess.run([burrow_bin, "client"] + list(args), capture_output=True, timeout=10,
                       env=env)
    err = r.stderr.decode(errors="replace")
    assert not check_sanitizers(err), err
    return r.returncode, err


@pytest.mark.parametrize("args, needle", [
    (["--visit", "dns", "-L", "udp:1:2:3"], "udp:"),
    (["--visit", "dns", "-L", "udp:"], "udp:"),
    (["-L", "udp:5353:127.0.0.1:53"], "--visit NAME -L udp:[bind_address:]port"),
    (["--share", "udp:dns=nohostport"], "--share"),
])
def test_bad_udp_visit_flags_exit_2(burrow_bin, token, args, needle):
    rc, err = run_client(burrow_bin, "--server", "127.0.0.1:1", *args, token=token)
    assert rc == 2, (rc, err)
    assert needle in err, err


@pytest.mark.parametrize("entry, needle", [
    ("  - name: x\n    type: dynamic\n    protocol: udp\n    listen: 0\n",
     "protocol: udp is for type tcp, secret or visitor"),
    ("  - name: x\n    type: secret\n    protocol: sctp\n    local: 127.0.0.1:53\n",
     "expected tcp or udp"),
])
def test_bad_yaml_protocol_exits_2(burrow_bin, token, tmp_path, entry, needle):
    cfg = tmp_path / "client.yaml"
    cfg.write_text("server: 127.0.0.1:1\ntunnels:\n" + entry)
    rc, err = run_client(burrow_bin, "-c", str(cfg), token=token)
    assert rc == 2, (rc, err)
    assert needle in err and str(cfg) in err, err
