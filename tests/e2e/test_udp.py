"""UDP tunnels (-R udp:[bind:]port:host:hostport, YAML type: udp): DNS through
a tunnel to dnsmasq, 10,000 mixed datagrams echoed byte-exact, 50 peers at
once each getting only its own replies, 65,507- and 0-byte datagrams, the idle
end of a flow (--udp-timeout) and a new flow after it, --max-conns flows per
tunnel, a UDP burst that must not hold up a TCP tunnel of the same client, a
target given by name, a target that starts late, and config errors (exit 2).
Also: one source sending to two UDP tunnels, a bind address and sources on
other loopback addresses, the ended line's counts, the client's max_streams.

Everything on 127.0.0.1; synchronised on log lines, or on a datagram awaited
with a socket timeout.
"""

import os
import random
import re
import shutil
import socket
import statistics
import struct
import subprocess
import threading
import time

import pytest

from conftest import LOG_TIMEOUT, Proc, check_sanitizers, free_port, recv_exact

MB = 1024 * 1024
MAX_DGRAM = 65507          # the largest UDP payload over IPv4
SOCK_BUF = 4 * MB          # net.core.rmem_max / wmem_max here

RE_FLOW = r"tunnel %s: flow (\d+) from 127\.0\.0\.1:(\d+)"
RE_ENDED = r"tunnel %s: flow %s ended: idle \((\d+) datagrams in, (\d+) out\)"
RE_DROPPED = r"dropped (\d+) datagrams"


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def udp_socket(conns=None, port=0):
    """A UDP socket bound to 127.0.0.1:port with 4 MiB buffers (closed at teardown via conns)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCK_BUF)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCK_BUF)
    s.bind(("127.0.0.1", port))
    if conns is not None:
        conns.append(s)
    return s


def recv_from(sock, timeout):
    """One datagram (data, addr) within timeout seconds, else None."""
    sock.settimeout(timeout)
    try:
        return sock.recvfrom(65536)
    except socket.timeout:
        return None


def ask(sock, port, data, timeout=LOG_TIMEOUT):
    """Send data to 127.0.0.1:port and return the next datagram's payload (None on timeout).
    Asserts that it came from the tunnel's port."""
    sock.sendto(data, ("127.0.0.1", port))
    r = recv_from(sock, timeout)
    if r is None:
        return None
    assert r[1] == ("127.0.0.1", port), f"reply from {r[1]}, want the tunnel's port {port}"
    return r[0]


def count_lines(proc, regex, since=0):
    r = re.compile(regex)
    with proc.cond:
        return sum(1 for line in proc.lines[since:] if r.search(line))


def all_matches(proc, regex, since=0):
    r = re.compile(regex)
    with proc.cond:
        return [m for m in (r.search(line) for line in proc.lines[since:]) if m]


def lines_matching(proc, regex):
    r = re.compile(regex)
    with proc.cond:
        return [line for line in proc.lines if r.search(line)]


class UdpService:
    """A threaded UDP service on 127.0.0.1:0: "echo" sends every datagram back
    to its source (after `tag`, if given), "sink" reads and counts but never
    answers. Records the source addresses it saw."""

    def __init__(self, mode="echo", port=0, tag=b""):
        assert mode in ("echo", "sink")
        self.mode = mode
        self.tag = tag
        self.sock = udp_socket(port=port)
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.2)  # lets the thread see close()
        self.lock = threading.Lock()
        self.datagrams = 0
        self.bytes = 0
        self.send_errors = 0
        self.sources = set()
        self._closing = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._closing:
            try:
                data, addr = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.datagrams += 1
                self.bytes += len(data)
                self.sources.add(addr)
            if self.mode == "echo":
                try:
                    self.sock.sendto(self.tag + data, addr)
                except OSError:
                    with self.lock:
                        self.send_errors += 1

    def close(self):
        self._closing = True
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def udp_service():
    """Factory: udp_service("echo"|"sink", port=0, tag=b"") -> UdpService on 127.0.0.1."""
    started = []

    def start(mode="echo", port=0, tag=b""):
        s = UdpService(mode, port, tag)
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


def udp_tunnel(burrow_server, burrow_client, target, server_args=(), client_args=(), name="r1"):
    """A server and a client with -R udp:0:TARGET; returns (srv, cli, port)."""
    srv = burrow_server(*server_args)
    cli = burrow_client(srv, "-R", f"udp:0:{target}", *client_args)
    port = cli.tunnel_port(name)
    srv.wait_log(r"tunnel %s listening on 127\.0\.0\.1:%d \(UDP\)" % (re.escape(name), port))
    return srv, cli, port


# --------------------------------------------------------------------------
# 1. DNS through a tunnel to dnsmasq
# --------------------------------------------------------------------------

DNSMASQ = "/usr/sbin/dnsmasq"
DNS_NAMES = {
    "svc.test.internal": "10.9.8.7",
    "db.test.internal": "10.9.8.8",
    "cache.test.internal": "10.9.8.9",
}


def dig(*args, timeout=20):
    r = subprocess.run(["dig", "+time=2", "+tries=1"] + list(args), capture_output=True,
                       timeout=timeout)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


@pytest.fixture
def dnsmasq():
    """dnsmasq on 127.0.0.1:PORT (a free port), answering DNS_NAMES (and their
    subdomains) and a TXT record; ready once it answers over TCP. Yields its
    Proc (stderr: its query log), with .dns_port."""
    if not os.access(DNSMASQ, os.X_OK) or not shutil.which("dig"):
        pytest.skip("dnsmasq-base and dnsutils are needed (scripts/deps.sh)")
    proc, last_log = None, ""
    for _attempt in range(5):
        port = free_port()
        argv = [DNSMASQ, "-k", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                "-p", str(port), "--listen-address=127.0.0.1", "--bind-interfaces",
                "--pid-file=", "--log-facility=-", "--log-queries",
                "--txt-record=txt.test.internal,burrow udp tunnel"]
        argv += [f"--address=/{n}/{a}" for n, a in DNS_NAMES.items()]
        proc = Proc("dnsmasq", argv, dict(os.environ))
        deadline = time.monotonic() + LOG_TIMEOUT
        ok = False
        while time.monotonic() < deadline and proc.alive():
            rc, out, _ = dig("+tcp", "+short", "@127.0.0.1", "-p", str(port), "svc.test.internal")
            if rc == 0 and out.strip() == "10.9.8.7":
                ok = True
                break
            time.sleep(0.05)
        if ok:
            break
        proc.stop()
        last_log = proc.text()
        proc = None
    if proc is None:
        pytest.fail("could not start dnsmasq; its last log:\n" + last_log)
    proc.dns_port = port
    yield proc
    proc.stop()


def test_dns_through_udp_tunnel(burrow_server, burrow_client, dnsmasq):
    srv, cli, port = udp_tunnel(burrow_server, burrow_client, f"127.0.0.1:{dnsmasq.dns_port}")
    mark = srv.mark()
    dmark = dnsmasq.mark()
    # The names, a subdomain, and the same name again: one dig each, a new
    # source port (so a new flow) every time.
    queries = list(DNS_NAMES.items()) + [("x.svc.test.internal", "10.9.8.7"),
                                          ("svc.test.internal", "10.9.8.7")]
    for name, want in queries:
        rc, out, err = dig("+short", "@127.0.0.1", "-p", str(port), name)
        assert rc == 0 and out.strip() == want, (name, rc, out, err)
    # Several questions in one dig (they share its socket), an A and a TXT.
    rc, out, err = dig("+short", "@127.0.0.1", "-p", str(port), "svc.test.internal", "A",
                       "txt.test.internal", "TXT", "db.test.internal", "A")
    assert rc == 0, (rc, out, err)
    assert out.strip().split("\n") == ["10.9.8.7", '"burrow udp tunnel"', "10.9.8.8"], out
    # A name dnsmasq does not serve: its REFUSED comes back through the tunnel too.
    rc, out, err = dig("@127.0.0.1", "-p", str(port), "nowhere.example")
    assert "status: REFUSED" in out, out
    # The queries really went through the tunnel: the server opened flows,
    # dnsmasq saw them come from 127.0.0.1 (the client's sockets).
    flows = all_matches(srv, RE_FLOW % "r1", since=mark)
    assert len(flows) >= len(queries) + 2, [m.group(0) for m in flows]
    dnsmasq.wait_log(r"query\[TXT\] txt\.test\.internal from 127\.0\.0\.1", since=dmark)
    assert not lines_matching(srv, RE_DROPPED) and not lines_matching(cli, RE_DROPPED)


def test_dns_yaml_tunnel(burrow_server, burrow_client, dnsmasq, tmp_path, token):
    """The same through a YAML tunnels: entry with type: udp."""
    srv = burrow_server()
    ccfg = tmp_path / "client.yaml"
    ccfg.write_text(
        f"server: 127.0.0.1:{srv.port}\n"
        "tunnels:\n"
        "  - name: dns\n"
        "    type: udp\n"
        "    remote: 127.0.0.1:0\n"
        f"    local: 127.0.0.1:{dnsmasq.dns_port}\n")
    cli = burrow_client(srv, "-c", str(ccfg))
    port = cli.tunnel_port("dns")
    srv.wait_log(r"tunnel dns listening on 127\.0\.0\.1:%d \(UDP\)" % port)
    for _ in range(3):
        rc, out, err = dig("+short", "@127.0.0.1", "-p", str(port), "cache.test.internal")
        assert rc == 0 and out.strip() == "10.9.8.9", (rc, out, err)
    assert count_lines(srv, RE_FLOW % "dns") >= 3


# --------------------------------------------------------------------------
# 2. 10,000 datagrams of mixed sizes, byte-exact
# --------------------------------------------------------------------------

def test_10000_mixed_datagrams_echoed(burrow_server, burrow_client, udp_service, conns):
    n_total = 10000
    window_n, window_bytes = 64, 1 * MB   # at most this many outstanding
    stall_after = 2.0                      # outstanding ones written off (counted lost) after this
    echo = udp_service("echo")
    srv, cli, port = udp_tunnel(burrow_server, burrow_client, f"127.0.0.1:{echo.port}",
                                server_args=("--udp-timeout", "3s"))
    rng = random.Random(20261128)
    sizes = []
    for i in range(n_total):
        r = rng.random()
        if r < 0.6:
            sizes.append(rng.randint(4, 1472))
        elif r < 0.85:
            sizes.append(rng.randint(1473, 16384))
        else:
            sizes.append(rng.randint(16385, MAX_DGRAM))
    for i in range(0, n_total, 997):       # the edges, now and then
        sizes[i] = rng.choice((4, 1472, 1473, 8192, 65535 - 28 - 1, MAX_DGRAM))
    pool = os.urandom(1 << 17)

    def payload(i):
        off = (i * 7919) % 65536
        return struct.pack("!I", i) + pool[off:off + sizes[i] - 4]

    sock = udp_socket(conns)
    sock.connect(("127.0.0.1", port))
    cond = threading.Condition()
    inflight = {}             # index -> size, sent and not back (nor written off)
    st = {"inflight_bytes": 0, "got": 0, "dups": 0, "bad": [], "late": 0, "stalls": 0,
          "sent_done": False, "last_rx": time.monotonic()}
    got = bytearray(n_total)

    def receiver():
        sock.settimeout(0.25)
        while True:
            try:
                data = sock.recv(65536)
            except socket.timeout:
                with cond:
                    if st["sent_done"] and (st["got"] == n_total or
                                            time.monotonic() - st["last_rx"] > 3):
                        return
                continue
            except OSError:
                return
            i = struct.unpack("!I", data[:4])[0] if len(data) >= 4 else -1
            ok = 0 <= i < n_total and data == payload(i)
            with cond:
                st["last_rx"] = time.monotonic()
                if not ok:
                    st["bad"].append((i, len(data)))
                elif got[i]:
                    st["dups"] += 1
                else:
                    got[i] = 1
                    st["got"] += 1
                    n = inflight.pop(i, None)
                    if n is None:
                        st["late"] += 1
                    else:
                        st["inflight_bytes"] -= n
                cond.notify_all()

    rt = threading.Thread(target=receiver, daemon=True)
    rt.start()
    t0 = time.monotonic()
    total_bytes = 0
    for i in range(n_total):
        data = payload(i)
        with cond:
            while inflight and (len(inflight) >= window_n or
                                st["inflight_bytes"] + len(data) > window_bytes):
                if not cond.wait(stall_after):
                    st["stalls"] += 1     # nothing came back for a while: count them lost
                    inflight.clear()
                    st["inflight_bytes"] = 0
            inflight[i] = len(data)
            st["inflight_bytes"] += len(data)
        sock.send(data)
        total_bytes += len(data)
    with cond:
        st["sent_done"] = True
    rt.join(60)
    elapsed = st["last_rx"] - t0
    lost = n_total - st["got"]
    print(f"\nUDP echo: {n_total} datagrams, {total_bytes / MB:.1f} MiB each way, "
          f"{elapsed:.2f}s: {n_total / elapsed:.0f} datagrams/s, "
          f"{2 * total_bytes / MB / elapsed:.1f} MiB/s both ways; lost {lost}, "
          f"stalls {st['stalls']}, late {st['late']}, duplicates {st['dups']}, "
          f"corrupt {len(st['bad'])}; echo saw {echo.datagrams}")
    assert not st["bad"], f"corrupt or foreign datagrams (index, len): {st['bad'][:20]}"
    assert st["dups"] == 0
    missing = [i for i in range(n_total) if not got[i]]
    assert lost == 0, (f"{lost} of {n_total} datagrams lost (echo received {echo.datagrams}); "
                       f"first missing {[(i, sizes[i]) for i in missing[:20]]}")
    # One source, one flow, one socket at the client: the echo saw one address.
    flows = all_matches(srv, RE_FLOW % "r1")
    assert len(flows) == 1, [m.group(0) for m in flows]
    assert int(flows[0].group(2)) == sock.getsockname()[1]
    assert len(echo.sources) == 1, echo.sources
    # The server counted every datagram in when the flow ended (the "out"
    # count is checked by test_idle_end_counts_datagrams_each_way).
    m = srv.wait_log(RE_ENDED % ("r1", flows[0].group(1)))
    print(m.group(0))
    assert int(m.group(1)) == n_total, m.group(0)
    assert not lines_matching(srv, RE_DROPPED) and not lines_matching(cli, RE_DROPPED)


# --------------------------------------------------------------------------
# 3. Many peers at once
# --------------------------------------------------------------------------

def test_50_peers_get_only_their_own_replies(burrow_server, burrow_client, udp_service, conns):
    n_peers, per_peer = 50, 4
    echo = udp_service("echo")
    srv, cli, port = udp_tunnel(burrow_server, burrow_client, f"127.0.0.1:{echo.port}")
    socks = [udp_socket(conns) for _ in range(n_peers)]
    sent = {j: set() for j in range(n_peers)}
    # Round-robin: all 50 flows are open at once, their datagrams interleaved.
    for k in range(per_peer):
        for j, s in enumerate(socks):
            d = b"peer %02d msg %d " % (j, k) + os.urandom(8 + 100 * j)
            sent[j].add(d)
            s.sendto(d, ("127.0.0.1", port))
    wrong = []
    for j, s in enumerate(socks):
        got = set()
        while len(got) < per_peer:
            r = recv_from(s, LOG_TIMEOUT)
            assert r is not None, f"peer {j}: only {len(got)} of {per_peer} replies"
            assert r[1] == ("127.0.0.1", port)
            if r[0] not in sent[j]:
                wrong.append((j, r[0][:12]))
            got.add(r[0])
        # Nothing more for this peer (a stray reply of another peer would show here).
        extra = recv_from(s, 0.05)
        if extra is not None:
            wrong.append((j, extra[0][:12]))
    assert not wrong, f"peers got datagrams that are not theirs: {wrong[:10]}"
    flows = all_matches(srv, RE_FLOW % "r1")
    assert sorted(int(m.group(2)) for m in flows) == sorted(s.getsockname()[1] for s in socks)
    assert len({m.group(1) for m in flows}) == n_peers       # distinct flow ids
    assert len(echo.sources) == n_peers                       # a client socket per flow
    assert echo.datagrams == n_peers * per_peer


def test_one_source_two_tunnels(burrow_server, burrow_client, udp_service, conns):
    """One socket talks to two UDP tunnels of the same client: each datagram
    reaches its own tunnel's target and the reply comes from that tunnel's port."""
    a = udp_service("echo", tag=b"A:")
    b = udp_service("echo", tag=b"B:")
    srv = burrow_server()
    cli = burrow_client(srv, "-R", f"udp:0:127.0.0.1:{a.port}", "-R", f"udp:0:127.0.0.1:{b.port}")
    pa, pb = cli.tunnel_port("r1"), cli.tunnel_port("r2")
    srv.wait_log(r"tunnel r2 listening on 127\.0\.0\.1:%d \(UDP\)" % pb)
    sock = udp_socket(conns)
    for k in range(2):
        assert ask(sock, pa, b"to r1 %d" % k) == b"A:to r1 %d" % k
        sock.sendto(b"to r2 %d" % k, ("127.0.0.1", pb))
        r = recv_from(sock, LOG_TIMEOUT)
        assert r is not None, "no answer through r2"
        assert r == (b"B:to r2 %d" % k, ("127.0.0.1", pb)), \
            f"a datagram sent to r2 (port {pb}) came back as {r} (r1 is port {pa})"
    assert (a.datagrams, b.datagrams) == (2, 2)
    srv.wait_log(RE_FLOW % "r2")


def test_bind_address_and_other_sources(burrow_server, burrow_client, udp_service, conns):
    """-R udp:127.0.0.2:0:... with gateway_ports clientspecified binds there;
    sources on other loopback addresses are flows of their own, answered
    from the tunnel's address."""
    echo = udp_service("echo")
    srv = burrow_server("--gateway-ports", "clientspecified")
    cli = burrow_client(srv, "-R", f"udp:127.0.0.2:0:127.0.0.1:{echo.port}")
    host, port = cli.tunnel_addr("r1")
    assert host == "127.0.0.2"
    srv.wait_log(r"tunnel r1 listening on 127\.0\.0\.2:%d \(UDP\)" % port)
    for src in ("127.0.0.3", "127.0.0.4"):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        conns.append(s)
        s.bind((src, 0))
        s.sendto(b"from " + src.encode(), ("127.0.0.2", port))
        r = recv_from(s, LOG_TIMEOUT)
        assert r == (b"from " + src.encode(), ("127.0.0.2", port)), r
        srv.wait_log(r"tunnel r1: flow \d+ from %s:%d\b" % (re.escape(src), s.getsockname()[1]))
    # Nothing listens on 127.0.0.1 at that port for this tunnel.
    s = udp_socket(conns)
    assert ask(s, port, b"wrong address", timeout=0.5) is None
    assert echo.datagrams == 2


# --------------------------------------------------------------------------
# 4. Boundaries
# --------------------------------------------------------------------------

def test_largest_and_empty_datagrams(burrow_server, burrow_client, udp_service, conns):
    echo = udp_service("echo")
    srv, cli, port = udp_tunnel(burrow_server, burrow_client, f"127.0.0.1:{echo.port}")
    sock = udp_socket(conns)
    big = os.urandom(MAX_DGRAM)
    assert ask(sock, port, big) == big
    assert ask(sock, port, b"") == b""
    # In a row, without waiting: three datagrams come back as three, intact.
    small = b"after the empty one"
    for d in (big, b"", small):
        sock.sendto(d, ("127.0.0.1", port))
    back = []
    for _ in range(3):
        r = recv_from(sock, LOG_TIMEOUT)
        assert r is not None, f"got {len(back)} of 3 datagrams: lengths {[len(b) for b in back]}"
        back.append(r[0])
    assert sorted(back, key=len) == [b"", small, big]
    assert echo.datagrams == 5
    # Over the IPv4 limit the kernel refuses it before it reaches anyone.
    with pytest.raises(OSError):
        sock.sendto(b"x" * (MAX_DGRAM + 1), ("127.0.0.1", port))
    assert ask(sock, port, b"still fine") == b"still fine"


# --------------------------------------------------------------------------
# 5. Idle end of a flow
# --------------------------------------------------------------------------

def test_idle_flow_ends_and_a_new_one_works(burrow_server, burrow_client, udp_service, conns):
    echo = udp_service("echo")
    srv, cli, port = udp_tunnel(burrow_server, burrow_client, f"127.0.0.1:{echo.port}",
                                server_args=("--udp-timeout", "1s"))
    sock = udp_socket(conns)
    me = sock.getsockname()[1]
    for k in range(3):
        assert ask(sock, port, b"first flow %d" % k) == b"first flow %d" % k
    t_last = time.monotonic()
    m1 = srv.wait_log(RE_FLOW % "r1")
    assert int(m1.group(2)) == me
    flow1 = m1.group(1)
    srv.wait_log(RE_ENDED % ("r1", flow1), timeout=LOG_TIMEOUT + 2)
    idle_for = time.monotonic() - t_last
    assert idle_for >= 0.9, f"flow ended after {idle_for:.2f}s idle, before --udp-timeout 1s"
    mark = srv.mark()
    # The same source again: a new flow, which works.
    assert ask(sock, port, b"second flow") == b"second flow"
    m2 = srv.wait_log(RE_FLOW % "r1", since=mark)
    assert int(m2.group(2)) == me and m2.group(1) != flow1, m2.group(0)
    assert ask(sock, port, b"second flow again") == b"second flow again"
    assert count_lines(srv, RE_FLOW % "r1") == 2
    print(f"\nidle end: flow {flow1} ended {idle_for:.2f}s after its last datagram "
          f"(--udp-timeout 1s); echo saw sources {sorted(echo.sources)}")


@pytest.mark.parametrize("mode,want", [("echo", (3, 3)), ("sink", (3, 0))])
def test_idle_end_counts_datagrams_each_way(burrow_server, burrow_client, udp_service, conns,
                                            mode, want):
    """The ended line's counts: datagrams in from the source, out back to it."""
    target = udp_service(mode)
    srv, cli, port = udp_tunnel(burrow_server, burrow_client, f"127.0.0.1:{target.port}",
                                server_args=("--udp-timeout", "1s"))
    sock = udp_socket(conns)
    for k in range(3):
        answer = ask(sock, port, b"count %d" % k, timeout=LOG_TIMEOUT if mode == "echo" else 0.2)
        assert answer == (b"count %d" % k if mode == "echo" else None)
    with target.lock:
        assert target.datagrams == 3
    flow = srv.wait_log(RE_FLOW % "r1").group(1)
    ended = srv.wait_log(RE_ENDED % ("r1", flow), timeout=LOG_TIMEOUT + 2)
    assert (int(ended.group(1)), int(ended.group(2))) == want, ended.group(0)


# --------------------------------------------------------------------------
# 6. --max-conns flows per tunnel
# --------------------------------------------------------------------------

def test_max_conns_limits_flows(burrow_server, burrow_client, udp_service, conns):
    echo = udp_service("echo")
    srv, cli, port = udp_tunnel(burrow_server, burrow_client, f"127.0.0.1:{echo.port}",
                                server_args=("--max-conns", "3", "--udp-timeout", "3s"))
    socks = [udp_socket(conns) for _ in range(4)]
    for j, s in enumerate(socks[:3]):
        assert ask(s, port, b"peer %d" % j) == b"peer %d" % j
    mark = srv.mark()
    # The 4th source: dropped (nothing comes back), counted and logged.
    assert ask(socks[3], port, b"peer 3", timeout=1.0) is None
    srv.wait_log(r"tunnel r1: " + RE_DROPPED, since=mark)
    # The first three still work, on their own flows.
    for j, s in enumerate(socks[:3]):
        assert ask(s, port, b"peer %d again" % j) == b"peer %d again" % j
    flows = all_matches(srv, RE_FLOW % "r1")
    assert sorted(int(m.group(2)) for m in flows) == sorted(s.getsockname()[1] for s in socks[:3])
    assert socks[3].getsockname() not in echo.sources
    # The limit is on flows at a time: once the three are idle and gone, the
    # 4th gets a flow.
    for m in flows:
        srv.wait_log(RE_ENDED % ("r1", m.group(1)), timeout=LOG_TIMEOUT + 3)
    assert ask(socks[3], port, b"peer 3 later") == b"peer 3 later"
    # Its own line (the log is read by a thread: a line may land after the
    # mark was taken, so wait for this source's, not for any).
    srv.wait_log(r"tunnel r1: flow \d+ from 127\.0\.0\.1:%d\b" % socks[3].getsockname()[1])
    assert count_lines(srv, RE_FLOW % "r1") == 4


def test_client_max_streams_limits_flows(burrow_server, burrow_client, udp_service, conns):
    """The client takes at most --max-streams flows: a 3rd source is refused
    (logged), the first two keep working."""
    echo = udp_service("echo")
    srv, cli, port = udp_tunnel(burrow_server, burrow_client, f"127.0.0.1:{echo.port}",
                                client_args=("--max-streams", "2"))
    socks = [udp_socket(conns) for _ in range(3)]
    for j, s in enumerate(socks[:2]):
        assert ask(s, port, b"peer %d" % j) == b"peer %d" % j
    smark = srv.mark()
    tries = 5
    for k in range(tries):
        assert ask(socks[2], port, b"third %d" % k, timeout=0.3) is None
    cli.wait_log(r"tunnel r1: flow \d+ refused: too many flows \(max_streams 2\)")
    for j, s in enumerate(socks[:2]):
        assert ask(s, port, b"peer %d again" % j) == b"peer %d again" % j
    assert socks[2].getsockname() not in echo.sources and len(echo.sources) == 2
    # A report, not a rule: what a refused source's datagrams cost in log lines.
    for k in range(200):
        socks[2].sendto(b"flood %d" % k, ("127.0.0.1", port))
    assert ask(socks[0], port, b"sync") == b"sync"
    third = all_matches(srv, RE_FLOW % "r1", since=smark)
    print(f"\nclient max_streams 2: {tries} + 200 datagrams from a 3rd source gave {len(third)} "
          f"server flow lines, {count_lines(cli, r'too many flows')} client lines")


# --------------------------------------------------------------------------
# 7. A UDP burst does not hold up a TCP tunnel of the same client
# --------------------------------------------------------------------------

def tcp_rtt(sock, n=4096):
    data = os.urandom(n)
    t = time.monotonic()
    sock.sendall(data)
    assert recv_exact(sock, n) == data
    return time.monotonic() - t


@pytest.mark.parametrize("target", ["sink", "echo"])
def test_udp_burst_does_not_block_tcp(burrow_server, burrow_client, echo, udp_service, conns,
                                      target):
    """Datagrams as fast as a thread can send them (at least 200 MiB, and for
    the whole measuring time) to a UDP tunnel, while a TCP tunnel of the same
    client echoes: TCP round trips and new connections stay fast."""
    blast_bytes = 200 * MB
    measure_for = 3.0
    dgram = 60000
    udp_target = udp_service(target)
    srv = burrow_server("--udp-timeout", "2s")
    cli = burrow_client(srv, "-R", f"0:127.0.0.1:{echo.port}",
                        "-R", f"udp:0:127.0.0.1:{udp_target.port}")
    tcp_port = cli.tunnel_port("r1")
    udp_port = cli.tunnel_port("r2")
    srv.wait_log(r"tunnel r2 listening on 127\.0\.0\.1:%d \(UDP\)" % udp_port)
    tcp = socket.create_connection(("127.0.0.1", tcp_port), timeout=LOG_TIMEOUT)
    conns.append(tcp)
    base = [tcp_rtt(tcp) for _ in range(5)]

    senders = [udp_socket(conns) for _ in range(4)]   # 4 sources, 4 flows
    stop = threading.Event()
    loaded = threading.Event()
    st = {"bytes": 0, "datagrams": 0, "errors": 0, "t": 0.0}
    blob = os.urandom(dgram)

    def blaster():
        t0 = time.monotonic()
        k = 0
        while (not stop.is_set() or st["bytes"] < blast_bytes) and time.monotonic() - t0 < 120:
            try:
                senders[k % 4].sendto(blob, ("127.0.0.1", udp_port))
                st["bytes"] += dgram
                st["datagrams"] += 1
            except OSError:
                st["errors"] += 1
            k += 1
            if k == 300:
                loaded.set()
        st["t"] = time.monotonic() - t0
        loaded.set()

    bt = threading.Thread(target=blaster, daemon=True)
    bt.start()
    try:
        assert loaded.wait(60), "the blaster did not get 300 datagrams out"
        for _ in range(4):
            srv.wait_log(RE_FLOW % "r2")
        during = []
        t_end = time.monotonic() + measure_for
        while time.monotonic() < t_end:
            during.append(tcp_rtt(tcp))
        # New TCP connections through the tunnel too (an OPEN behind the datagrams).
        fresh = []
        for _ in range(3):
            t = time.monotonic()
            c = socket.create_connection(("127.0.0.1", tcp_port), timeout=LOG_TIMEOUT)
            conns.append(c)
            c.sendall(b"ping")
            assert recv_exact(c, 4) == b"ping"
            fresh.append(time.monotonic() - t)
            c.close()
        blasting = bt.is_alive()
    finally:
        stop.set()
        bt.join(130)
    after = [tcp_rtt(tcp) for _ in range(3)]
    # Where the datagrams went: the four flows end (2 s idle) with their counts.
    flows = all_matches(srv, RE_FLOW % "r2")
    read_by_server = 0
    for m in flows:
        read_by_server += int(srv.wait_log(RE_ENDED % ("r2", m.group(1))).group(1))
    drops = lines_matching(srv, RE_DROPPED) + lines_matching(cli, RE_DROPPED)
    counted = sum(int(re.search(RE_DROPPED, line).group(1)) for line in drops)
    print(f"\nUDP burst ({target}): {st['bytes'] / MB:.0f} MiB in {st['datagrams']} datagrams of "
          f"{dgram} in {st['t']:.2f}s ({st['datagrams'] / max(st['t'], 1e-9):.0f}/s, "
          f"{st['bytes'] / MB / max(st['t'], 1e-9):.0f} MiB/s), send errors {st['errors']}; "
          f"the server read {read_by_server}, logged drops {counted} (lines so far), "
          f"{udp_target.mode} received {udp_target.datagrams} ({udp_target.bytes / MB:.1f} MiB)\n"
          f"  TCP round trip (4 KiB): before max {max(base) * 1000:.1f} ms; during "
          f"({len(during)} in {measure_for:.0f}s, blaster still running at the end: {blasting}) "
          f"median {statistics.median(during) * 1000:.1f} ms max {max(during) * 1000:.1f} ms; "
          f"new connections max {max(fresh) * 1000:.1f} ms; after max {max(after) * 1000:.1f} ms")
    for line in drops:
        print("  drop line: " + line)
    assert st["bytes"] >= blast_bytes
    assert blasting, "the blast ended before the measurements did: nothing measured under load"
    assert udp_target.datagrams > 0, "no datagram went through the UDP tunnel"
    assert max(during) < 2.0, f"TCP round trips during the UDP burst: max {max(during):.2f}s"
    assert max(fresh) < 2.0, f"new TCP connections during the UDP burst: {fresh}"
    assert max(after) < 2.0, after
    assert srv.alive() and cli.alive()


# --------------------------------------------------------------------------
# 8. A target given by name
# --------------------------------------------------------------------------

def test_target_host_name(burrow_server, burrow_client, udp_service, conns):
    echo = udp_service("echo")
    srv, cli, port = udp_tunnel(burrow_server, burrow_client, f"localhost:{echo.port}")
    sock = udp_socket(conns)
    answer, tries = None, 0
    while answer is None and tries < 20:
        tries += 1
        answer = ask(sock, port, b"probe %d" % tries, timeout=0.5)
    assert answer is not None, f"no answer after {tries} tries"
    assert answer.startswith(b"probe ")
    refused = lines_matching(cli, r"tunnel r1: flow \d+: localhost not resolved yet")
    print(f"\nname target: first answer after {tries} tr{'y' if tries == 1 else 'ies'}; "
          f"client lines: {refused}")
    # Resolved now: every datagram of this flow, and a new flow, answered at once.
    for k in range(5):
        assert ask(sock, port, b"resolved %d" % k, timeout=2) == b"resolved %d" % k
    other = udp_socket(conns)
    mark = cli.mark()
    assert ask(other, port, b"new flow", timeout=2) == b"new flow"
    assert not cli.find(r"not resolved yet", since=mark)
    assert len(echo.sources) >= 2


# --------------------------------------------------------------------------
# 9. A target that is not there yet
# --------------------------------------------------------------------------

def test_target_starts_late(burrow_server, burrow_client, udp_service, conns):
    """Datagrams to a port nobody listens on are lost (ICMP refused at the
    client's socket); once the service is up, the same flow works."""
    hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hole.bind(("127.0.0.1", 0))
    target_port = hole.getsockname()[1]
    hole.close()
    srv, cli, port = udp_tunnel(burrow_server, burrow_client, f"127.0.0.1:{target_port}",
                                server_args=("--udp-timeout", "30s"))
    sock = udp_socket(conns)
    for k in range(3):
        assert ask(sock, port, b"nobody %d" % k, timeout=0.3) is None
    echo = udp_service("echo", port=target_port)
    assert ask(sock, port, b"somebody", timeout=LOG_TIMEOUT) == b"somebody"
    assert echo.datagrams == 1
    assert count_lines(srv, RE_FLOW % "r1") == 1      # the same flow all along
    assert cli.alive() and srv.alive()


# --------------------------------------------------------------------------
# 10. Config errors exit 2
# --------------------------------------------------------------------------

def run_client(burrow_bin, *args, token):
    env = dict(os.environ)
    env["BURROW_TOKEN"] = token
    r = subprocess.run([burrow_bin, "client"] + list(args), capture_output=True, timeout=10,
                       env=env)
    err = r.stderr.decode(errors="replace")
    assert not check_sanitizers(err), err
    return r.returncode, err


@pytest.mark.parametrize("spec", ["udp:1:2", "udp:0", "udp:", "udp:0:127.0.0.1"])
def test_bad_udp_spec_exits_2(burrow_bin, token, spec):
    rc, err = run_client(burrow_bin, "--server", "127.0.0.1:1", "-R", spec, token=token)
    assert rc == 2, (rc, err)
    assert "-R" in err and spec in err, err
    assert "udp:[bind_address:]port:host:hostport" in err, err


def test_yaml_udp_without_local_exits_2(burrow_bin, token, tmp_path):
    cfg = tmp_path / "client.yaml"
    cfg.write_text("server: 127.0.0.1:1\n"
                   "tunnels:\n"
                   "  - name: dns\n"
                   "    type: udp\n"
                   "    remote: 0\n")
    rc, err = run_client(burrow_bin, "-c", str(cfg), token=token)
    assert rc == 2, (rc, err)
    assert f"{cfg}:3" in err or f"{cfg}:4" in err or f"{cfg}:5" in err, err
    assert "local" in err, err


def test_udp_timeout_below_1s_exits_2(burrow_bin, token):
    env = dict(os.environ)
    env["BURROW_TOKEN"] = token
    r = subprocess.run([burrow_bin, "server", "--listen", "127.0.0.1:0", "--udp-timeout", "500ms"],
                       capture_output=True, timeout=10, env=env)
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 2, (r.returncode, err)
    assert "--udp-timeout" in err, err
