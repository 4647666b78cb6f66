"""Secret tunnels and visitors: `--share [NAME=]host:port` on one client,
`--visit [OWNER/]NAME -L [bind:]port` on another, and no public port on the
server for either.

The headline: ssh into a real sshd through a visitor, the sharing client and
the visitor each in a network namespace of their own that drops every inbound
connection, the server in a third namespace that both reach over a veth pair
(skipped without root, ip or iptables). Then on loopback: byte-exact echo
through a visitor (concurrent connections, half-close both ways), 16 MiB by
SHA-256 both ways, a visitor that starts before its sharer, a sharer that
restarts under a visitor, random names, named clients (the server's
clients: list) with visitors: lists, a name held by another session, the
server's listening sockets, and the flags that exit 2.

Real processes only: burrow, OpenSSH, Python services. Every wait is on a log
line, a port or a reply, never a sleep; no token shows in any output.
"""

import concurrent.futures
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

import services
from conftest import BURROW_BIN, LOG_TIMEOUT, Proc, recv_exact, roundtrip, sha

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"
MB = 1024 * 1024
RETRY = 5.0                       # the visitor asks again every 5 s

RE_RANDOM = r"s-[0-9a-f]{32}"
AUTHENTICATED = r"session \d+: authenticated to "


def q(s):
    return re.escape(str(s))


def shared_re(name, target, visit_as=None):
    """The sharer's line for a registered share."""
    return r"tunnel %s: shared -> %s, no public port: visitors use --visit %s$" % (
        q(name), q(target), q(visit_as or name))


def visitor_listening_re(tname, share):
    return r"tunnel %s: listening on (\S+):(\d+) -> secret tunnel %s$" % (q(tname), q(share))


def visiting_re(tname, share):
    return r"tunnel %s: visiting %s$" % (q(tname), q(share))


def no_share_re(tname, share):
    return r"tunnel %s: registration failed: no secret tunnel '%s' \(is its client connected\?\)$" % (
        q(tname), q(share))


def not_allowed_re(tname, share):
    return r"tunnel %s: registration failed: not allowed to visit '%s'$" % (q(tname), q(share))


def shown(name):
    """A name as the server logs it: a random one cut to its first 8 hex
    digits (the whole name lets anyone visit)."""
    return name[:10] + "..." if re.fullmatch(RE_RANDOM, name) else name


def server_secret_re(name):
    return r"session \d+ \([^)]*\): tunnel %s: secret tunnel %s$" % (q(shown(name)),
                                                                      q(shown(name)))


def refused_re(tname, local_port):
    return r"tunnel %s: connection from 127\.0\.0\.1:%d\b.* refused: (.+)$" % (q(tname), local_port)


def visitor_port(cli, tname, share):
    """The visitor's port from its `listening on ... -> secret tunnel SHARE` line."""
    return int(cli.wait_log(visitor_listening_re(tname, share)).group(2))


def count(proc, regex, since=0):
    r = re.compile(regex)
    with proc.cond:
        return sum(1 for l in proc.lines[since:] if r.search(l))


def assert_eof(s, timeout=LOG_TIMEOUT):
    """The far end closes s without sending anything (a reset counts)."""
    s.settimeout(timeout)
    try:
        got = s.recv(65536)
    except ConnectionResetError:
        return
    except socket.timeout:
        raise AssertionError(f"connection still open after {timeout}s")
    assert got == b"", f"expected the connection closed, got {got!r}"


def refused_conn(cli, port, tname="v1"):
    """A connection to a visitor's port that is not visiting: closed at once
    with nothing sent, and the visitor says why. Returns the reason."""
    s = socket.create_connection(("127.0.0.1", port), timeout=LOG_TIMEOUT)
    try:
        local = s.getsockname()[1]
        assert_eof(s)
    finally:
        s.close()
    return cli.wait_log(refused_re(tname, local)).group(1)


def held_conn(port, tag):
    """A connection through the visitor that has echoed one message."""
    s = socket.create_connection(("127.0.0.1", port), timeout=LOG_TIMEOUT)
    s.sendall(tag)
    assert recv_exact(s, len(tag)) == tag
    return s


def listening_tcp_ports(pid):
    """The TCP ports process pid listens on (its fds against /proc/PID/net/tcp*)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        m = re.fullmatch(r"socket:\[(\d+)\]", link)
        if m:
            inodes.add(m.group(1))
    ports = set()
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def assert_no_public_port(srv):
    """The server's log names no tunnel port: its one `listening on` line is
    its own control port."""
    with srv.cond:
        lines = [l for l in srv.lines if "listening on" in l]
    bad = [l for l in lines if not re.search(r"\bserver listening on \S+:%d$" % srv.port, l)]
    assert not bad, "the server opened a port for a secret tunnel or a visitor:\n" + "\n".join(bad)


@pytest.fixture(autouse=True)
def no_token_in_output(procs, token):
    """House rule: the token never shows in any process's output."""
    yield
    for p in procs:
        with p.cond:
            text = "\n".join(p.lines + p.out_lines)
        assert token not in text, f"{p.name}: the token is in its output"


def share_and_visit(burrow_server, burrow_client, target_port, name="db", srv_args=(), cli_args=()):
    """A server, a sharer of 127.0.0.1:target_port as NAME, a visitor of it
    that is visiting. Returns (srv, sharer, visitor, visitor_port)."""
    srv = burrow_server(*srv_args)
    sharer = burrow_client(srv, "--share", f"{name}=127.0.0.1:{target_port}", *cli_args)
    sharer.wait_log(shared_re(name, f"127.0.0.1:{target_port}"))
    srv.wait_log(server_secret_re(name))
    vis = burrow_client(srv, "--visit", name, "-L", "0", *cli_args)
    port = visitor_port(vis, "v1", name)
    vis.wait_log(visiting_re("v1", name))
    srv.wait_log(r"tunnel v1: visiting %s$" % q(shown(name)))
    return srv, sharer, vis, port


# --------------------------------------------------------------------------
# 1. The headline: ssh between two firewalled networks through a visitor
# --------------------------------------------------------------------------

def sh(*args, check=True):
    r = subprocess.run(list(args), capture_output=True, timeout=20)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: rc={r.returncode}: {r.stderr.decode().strip()}")
    return r


class ShareNet:
    """Three namespaces: the sharer's (A) and the visitor's (B), each on a
    veth pair to the server's (S). A and B drop every inbound packet that is
    not part of a connection they opened; there is no route between A and B."""

    def __init__(self):
        pid = os.getpid()
        self.a, self.b, self.s = f"bw-sha-{pid}", f"bw-shb-{pid}", f"bw-shs-{pid}"
        x = pid % 250 + 1
        self.a_addr, self.s_addr_a = f"10.252.{x}.1", f"10.252.{x}.2"
        self.b_addr, self.s_addr_b = f"10.252.{x}.5", f"10.252.{x}.6"
        self.veth = {"a": f"bsa{pid}"[:15], "sa": f"bsA{pid}"[:15],
                     "b": f"bsb{pid}"[:15], "sb": f"bsB{pid}"[:15]}
        self.created = []

    def setup(self):
        for ns in (self.a, self.b, self.s):
            sh("ip", "netns", "add", ns)
            self.created.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        for side, ns, addr, peer, s_addr in (("a", self.a, self.a_addr, "sa", self.s_addr_a),
                                             ("b", self.b, self.b_addr, "sb", self.s_addr_b)):
            sh("ip", "link", "add", self.veth[side], "netns", ns, "type", "veth",
               "peer", "name", self.veth[peer], "netns", self.s)
            sh("ip", "-n", ns, "addr", "add", f"{addr}/30", "dev", self.veth[side])
            sh("ip", "-n", self.s, "addr", "add", f"{s_addr}/30", "dev", self.veth[peer])
            sh("ip", "-n", ns, "link", "set", self.veth[side], "up")
            sh("ip", "-n", self.s, "link", "set", self.veth[peer], "up")
            ipt = ["ip", "netns", "exec", ns, "iptables", "-w"]
            sh(*ipt, "-A", "INPUT", "-i", "lo", "-j", "ACCEPT")
            sh(*ipt, "-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
            sh(*ipt, "-P", "INPUT", "DROP")

    def exec(self, ns):
        return ["ip", "netns", "exec", ns]

    def cleanup(self):
        for ns in self.created:
            sh("ip", "netns", "del", ns, check=False)


@pytest.fixture
def sharenet():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    for tool in ("ip", "iptables"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed")
    n = ShareNet()
    try:
        n.setup()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
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


def test_ssh_between_firewalled_networks_through_a_visitor(sharenet, burrow_server, burrow_client,
                                                           sshd, tmp_path):
    """README's example: machine A shares its sshd under a random name, machine
    B visits it and runs ssh to its own loopback; neither machine accepts a
    connection from anywhere, and the server opens no port for either."""
    n = sharenet
    # A's own sshd (the fixture's keys), on every address of A: the firewall,
    # not the bind address, is what keeps it from the outside.
    cfg = tmp_path / "sshd_a_config"
    cfg.write_text(f"""Port 22
ListenAddress 0.0.0.0
HostKey {sshd.dir}/host_ed25519
PidFile {tmp_path}/sshd_a.pid
AuthorizedKeysFile {sshd.dir}/authorized_keys
PermitRootLogin yes
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
LogLevel VERBOSE
""")
    sshd_a = Proc("sshd-A", n.exec(n.a) + ["/usr/sbin/sshd", "-D", "-e", "-f", str(cfg)])
    try:
        sshd_a.wait_log(r"Server listening on 0\.0\.0\.0 port 22")

        # The firewalls: S cannot open a connection to A's sshd, B cannot reach A.
        r = probe(n, n.s, n.a_addr, 22, 10, 1)
        assert r["result"] == "connect-timeout", f"A's firewall let a connection in: {r}"
        r = probe(n, n.b, n.a_addr, 22, 10, 1)
        assert r["result"] in ("connect-error", "connect-timeout"), f"B reached A directly: {r}"

        srv = burrow_server(listen="0.0.0.0:0", netns=n.s)
        sharer = burrow_client(f"{n.s_addr_a}:{srv.port}", "--share", "127.0.0.1:22", netns=n.a)
        name = sharer.wait_log(r"tunnel (%s): shared -> 127\.0\.0\.1:22, no public port: "
                               r"visitors use --visit \1$" % RE_RANDOM).group(1)
        srv.wait_log(server_secret_re(name))

        # The visitor's port listens on every address of B: only its firewall
        # keeps others out, as for sshd.
        vis = burrow_client(f"{n.s_addr_b}:{srv.port}", "--visit", name, "-L", "*:0", netns=n.b)
        vport = visitor_port(vis, "v1", name)
        vis.wait_log(visiting_re("v1", name))
        srv.wait_log(r"tunnel v1: visiting %s$" % q(shown(name)))
        r = probe(n, n.s, n.b_addr, vport, 10, 1)
        assert r["result"] == "connect-timeout", f"B's firewall let a connection in: {r}"

        mark = sshd_a.mark()
        ssh = n.exec(n.b) + ["ssh"] + sshd.ssh_opts(vport) + ["root@127.0.0.1"]
        r = subprocess.run(ssh + ["echo", "hello"], capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr.decode()
        assert r.stdout == b"hello\n"
        # The shell runs in A's network: A's address, not B's.
        r = subprocess.run(ssh + ["ip", "-4", "-o", "addr", "show"], capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr.decode()
        assert f" {n.a_addr}/30 ".encode() in r.stdout and n.b_addr.encode() not in r.stdout, r.stdout
        # It is A's sshd that let us in, for a connection its sharer dialed on A's loopback.
        sshd_a.wait_log(r"Accepted publickey for root from 127\.0\.0\.1 port \d+", since=mark)

        # Both directions and EOF: 2 MiB through sha256sum on A.
        data = os.urandom(2 * MB + 5)
        r = subprocess.run(ssh + ["sha256sum"], input=data, capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr.decode()
        assert r.stdout.split()[0].decode() == sha(data)

        assert_no_public_port(srv)
        assert listening_tcp_ports(srv.pid) == {srv.port}
        assert listening_tcp_ports(sharer.pid) == set(), "the sharer listens on a port"
    finally:
        sshd_a.kill()


# --------------------------------------------------------------------------
# 2. Data through a visitor on loopback
# --------------------------------------------------------------------------

def test_echo_concurrent_and_half_close(burrow_server, burrow_client, service):
    """Several concurrent connections through one visitor, byte-exact, each
    half-closed by the user (the echo's FIN comes back after all the bytes);
    a conversation; and half-close the other way (the service's FIN first)."""
    echo = service("echo")
    srv, sharer, vis, port = share_and_visit(burrow_server, burrow_client, echo.port)

    # A conversation: every message comes back before the next is sent.
    s = socket.create_connection(("127.0.0.1", port), timeout=LOG_TIMEOUT)
    try:
        for i in range(20):
            msg = os.urandom(1 + i * 97)
            s.sendall(msg)
            assert recv_exact(s, len(msg)) == msg, f"message {i}"
        s.shutdown(socket.SHUT_WR)
        assert_eof(s)
    finally:
        s.close()

    payloads = [os.urandom(n) for n in (0, 1, 4096, 65536 + 3, 300000, 1 * MB, 2 * MB + 7, 777)]
    with concurrent.futures.ThreadPoolExecutor(len(payloads)) as ex:
        got = list(ex.map(lambda d: roundtrip("127.0.0.1", port, d, timeout=60), payloads))
    for d, g in zip(payloads, got):
        assert len(g) == len(d) and g == d, f"{len(d)} bytes sent, {len(g)} back, differ"
    assert echo.connections >= 1 + len(payloads)

    # The service sends and half-closes first; our direction stays open.
    banner = service("banner")
    sharer2 = burrow_client(srv, "--share", f"banner=127.0.0.1:{banner.port}")
    sharer2.wait_log(shared_re("banner", f"127.0.0.1:{banner.port}"))
    vis2 = burrow_client(srv, "--visit", "banner", "-L", "0")
    port2 = visitor_port(vis2, "v1", "banner")
    vis2.wait_log(visiting_re("v1", "banner"))
    s = socket.create_connection(("127.0.0.1", port2), timeout=LOG_TIMEOUT)
    try:
        got = bytearray()
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
        assert bytes(got) == services.BANNER
        data = os.urandom(MB + 11)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        assert banner.wait_record(1, timeout=20) == (len(data), sha(data))
    finally:
        s.close()


def test_16_mib_both_ways(burrow_server, burrow_client, service):
    """16 MiB up to a SHA-256 service, and 16 MiB echoed back (both ways at
    once): the digests match. Such streams may move to data connections."""
    echo, shasvc = service("echo"), service("sha")
    srv = burrow_server()
    sharer = burrow_client(srv, "--share", f"echo=127.0.0.1:{echo.port}",
                           "--share", f"sha=127.0.0.1:{shasvc.port}")
    sharer.wait_log(shared_re("echo", f"127.0.0.1:{echo.port}"))
    sharer.wait_log(shared_re("sha", f"127.0.0.1:{shasvc.port}"))
    vis = burrow_client(srv, "--visit", "echo", "-L", "0", "--visit", "sha", "-L", "127.0.0.1:0")
    p_echo = visitor_port(vis, "v1", "echo")
    p_sha = visitor_port(vis, "v2", "sha")
    vis.wait_log(visiting_re("v1", "echo"))
    vis.wait_log(visiting_re("v2", "sha"))

    up = os.urandom(16 * MB)
    assert roundtrip("127.0.0.1", p_sha, up, timeout=120) == sha(up).encode() + b"\n"
    both = os.urandom(16 * MB + 1)
    got = roundtrip("127.0.0.1", p_echo, both, timeout=120)
    assert len(got) == len(both)
    assert sha(got) == sha(both)


# --------------------------------------------------------------------------
# 3. Lifecycle: visitor first, sharer restarts
# --------------------------------------------------------------------------

def test_visitor_before_sharer(burrow_server, burrow_client, echo):
    """The visitor starts first: its registration fails (no such share), its
    port refuses connections with a reason, it asks again, and once the
    sharer is there it is visiting and connections work."""
    srv = burrow_server()
    vis = burrow_client(srv, "--visit", "db", "-L", "0")
    port = visitor_port(vis, "v1", "db")
    vis.wait_log(no_share_re("v1", "db"))
    srv.wait_log(r"tunnel v1: no secret tunnel 'db'")
    why = refused_conn(vis, port)
    assert why == "no secret tunnel 'db' (is its client connected?)", why
    assert vis.find(visiting_re("v1", "db")) is None

    sharer = burrow_client(srv, "--share", f"db=127.0.0.1:{echo.port}")
    sharer.wait_log(shared_re("db", f"127.0.0.1:{echo.port}"))
    t0 = time.monotonic()
    vis.wait_log(visiting_re("v1", "db"), timeout=RETRY + LOG_TIMEOUT)
    assert time.monotonic() - t0 < RETRY + 3, "the visitor did not ask again within about 5 s"
    data = os.urandom(100000)
    assert roundtrip("127.0.0.1", port, data) == data
    # One session all along: the retry is a new registration, not a reconnect.
    assert count(vis, AUTHENTICATED) == 1, vis.text()


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_sharer_restarts_under_a_visitor(burrow_server, burrow_client, echo, how):
    """The sharer goes away (killed, or stopped cleanly) and starts again: a
    connection that was open is closed, new connections meanwhile are closed,
    and afterwards new connections work again with the same visitor,
    which never reconnected."""
    srv, sharer, vis, port = share_and_visit(burrow_server, burrow_client, echo.port)
    assert roundtrip("127.0.0.1", port, b"before") == b"before"
    held = held_conn(port, b"held")
    try:
        mark = srv.mark()
        if how == "SIGKILL":
            sharer.kill(signal.SIGKILL)
        else:
            assert sharer.stop() == 0
        srv.wait_log(r"tunnel db closed$", since=mark)
        assert_eof(held)
    finally:
        held.close()

    # No share now: a connection to the visitor is closed at once, and the
    # server says why.
    mark_gap = srv.mark()
    s = socket.create_connection(("127.0.0.1", port), timeout=LOG_TIMEOUT)
    try:
        assert_eof(s)
    finally:
        s.close()
    srv.wait_log(r"stream \d+: visit refused: no secret tunnel 'db'", since=mark_gap)

    mark = srv.mark()
    sharer2 = burrow_client(srv, "--share", f"db=127.0.0.1:{echo.port}")
    sharer2.wait_log(shared_re("db", f"127.0.0.1:{echo.port}"))
    srv.wait_log(server_secret_re("db"), since=mark)
    data = os.urandom(300000)
    assert roundtrip("127.0.0.1", port, data) == data
    assert vis.alive()
    assert count(vis, AUTHENTICATED) == 1, "the visitor reconnected:\n" + vis.text()


# --------------------------------------------------------------------------
# 4. Random names
# --------------------------------------------------------------------------

def test_random_name_share(burrow_server, burrow_client, echo):
    """--share host:port without a name: a fresh s-<32 hex> name, logged in
    the shared line; another client visits it by that name; a wrong name of
    the same shape finds nothing."""
    srv = burrow_server()
    sharer = burrow_client(srv, "--share", f"127.0.0.1:{echo.port}")
    m = sharer.wait_log(r"tunnel (%s): shared -> %s, no public port: visitors use --visit (\S+)$"
                        % (RE_RANDOM, q(f"127.0.0.1:{echo.port}")))
    name = m.group(1)
    assert m.group(2) == name
    srv.wait_log(server_secret_re(name))

    vis = burrow_client(srv, "--visit", name, "-L", "0", "--visit", "s-" + "0" * 32, "-L", "0")
    port = visitor_port(vis, "v1", name)
    vis.wait_log(visiting_re("v1", name))
    data = os.urandom(50000)
    assert roundtrip("127.0.0.1", port, data) == data
    vis.wait_log(no_share_re("v2", "s-" + "0" * 32))

    # A new start makes a new name.
    sharer2 = burrow_client(srv, "--share", f"127.0.0.1:{echo.port}")
    name2 = sharer2.wait_log(r"tunnel (%s): shared -> " % RE_RANDOM).group(1)
    assert name2 != name
    # The name is the secret: the server's log shows only its first digits.
    srv.wait_log(server_secret_re(name2))
    with srv.cond:
        text = "\n".join(srv.lines)
    assert name not in text and name2 not in text and name[:10] + "..." in text


# --------------------------------------------------------------------------
# 5. Named clients: accounts and visitors: lists
# --------------------------------------------------------------------------

def write_server_cfg(path, tokens):
    path.write_text("clients:\n" + "".join(f'  - name: {who}\n    token: "{tok}"\n'
                                          for who, tok in tokens.items()))


def test_named_clients_visitors_list(burrow_server, burrow_client, service, tmp_path, token):
    """alice shares db with visitors: "bob" (YAML) and priv with no list;
    bob visits alice/db (a YAML visitor) and works, but alice/priv is not
    his; carol is not on the list: `not allowed`, never retried, her port
    refuses; alice's own second session visits priv by its plain name;
    carol visits alice's random-named share. No token in any output."""
    echo, priv_svc = service("echo"), service("sha")
    tokens = {w: f"{w}-" + os.urandom(16).hex() for w in ("alice", "bob", "carol")}
    cfg = tmp_path / "server.yaml"
    write_server_cfg(cfg, tokens)
    srv = burrow_server("-c", str(cfg))

    acfg = tmp_path / "alice.yaml"
    acfg.write_text(f"""name: alice
tunnels:
  - type: secret
    name: db
    local: "127.0.0.1:{echo.port}"
    visitors: "bob"
  - type: secret
    name: priv
    local: "127.0.0.1:{priv_svc.port}"
  - type: secret
    local: "127.0.0.1:{echo.port}"
""")
    alice = burrow_client(srv, "-c", str(acfg), token=tokens["alice"])
    alice.wait_log(shared_re("db", f"127.0.0.1:{echo.port}", "alice/db"))
    alice.wait_log(shared_re("priv", f"127.0.0.1:{priv_svc.port}", "alice/priv"))
    rnd = alice.wait_log(r"tunnel (%s): shared -> %s, no public port: visitors use --visit \1$"
                         % (RE_RANDOM, q(f"127.0.0.1:{echo.port}"))).group(1)
    srv.wait_log(r"authenticated as client alice$")

    # carol first: her refusal must not come back within the retry period.
    carol = burrow_client(srv, "--name", "carol", "--visit", "alice/db", "-L", "0",
                          "--visit", rnd, "-L", "0", token=tokens["carol"])
    c_port = visitor_port(carol, "v1", "alice/db")
    carol.wait_log(not_allowed_re("v1", "alice/db"))
    t_refused = time.monotonic()
    srv.wait_log(r"tunnel v1: not allowed to visit 'alice/db'")
    why = refused_conn(carol, c_port)
    assert why == "not allowed to visit 'alice/db'", why
    # ... while the random name is open to anyone who knows it.
    c_rnd = visitor_port(carol, "v2", rnd)
    carol.wait_log(visiting_re("v2", rnd))
    data = os.urandom(40000)
    assert roundtrip("127.0.0.1", c_rnd, data) == data

    bcfg = tmp_path / "bob.yaml"
    bcfg.write_text("""name: bob
tunnels:
  - name: adb
    type: visitor
    share: "alice/db"
    listen: "127.0.0.1:0"
  - name: apriv
    type: visitor
    share: "alice/priv"
    listen: "127.0.0.1:0"
""")
    bob = burrow_client(srv, "-c", str(bcfg), token=tokens["bob"])
    b_port = visitor_port(bob, "adb", "alice/db")
    bob.wait_log(visiting_re("adb", "alice/db"))
    data = os.urandom(200000)
    assert roundtrip("127.0.0.1", b_port, data) == data
    bob.wait_log(not_allowed_re("apriv", "alice/priv"))

    # Another session of alice's account: priv by its plain name.
    alice2 = burrow_client(srv, "--name", "alice", "--visit", "priv", "-L", "0", token=tokens["alice"])
    a2_port = visitor_port(alice2, "v1", "priv")
    alice2.wait_log(visiting_re("v1", "priv"))
    data = os.urandom(30000)
    assert roundtrip("127.0.0.1", a2_port, data) == sha(data).encode() + b"\n"

    # Not retried: one refusal line on carol and on the server after 5 s and more.
    carol.expect_no_log(r"tunnel v1: visiting", max(0.0, t_refused + RETRY + 1 - time.monotonic()))
    assert count(carol, r"tunnel v1: registration failed") == 1, carol.text()
    assert count(srv, r"tunnel v1: not allowed to visit 'alice/db'") == 1, srv.text()
    assert count(bob, r"tunnel apriv: registration failed") == 1, bob.text()
    assert carol.alive() and bob.alive()

    assert_no_public_port(srv)
    for p in (srv, alice, alice2, bob, carol):
        with p.cond:
            text = "\n".join(p.lines + p.out_lines)
        for who, tok in tokens.items():
            assert tok not in text, f"{p.name} logged {who}'s token"


def test_name_held_by_another_session(burrow_server, burrow_client, service, tmp_path):
    """Two sessions of alice share db: the second is told the name is held
    by another session and asks again; visitors reach the first. When the
    first goes, the second takes the name and visitors reach it."""
    first_svc, second_svc = service("echo"), service("sha")
    tokens = {w: f"{w}-" + os.urandom(16).hex() for w in ("alice", "bob")}
    cfg = tmp_path / "server.yaml"
    write_server_cfg(cfg, tokens)
    srv = burrow_server("-c", str(cfg))

    def alice_cfg(path, port):
        path.write_text(f"""name: alice
tunnels:
  - type: secret
    name: db
    local: "127.0.0.1:{port}"
    visitors: "bob,carol"
""")
        return str(path)

    a1 = burrow_client(srv, "-c", alice_cfg(tmp_path / "a1.yaml", first_svc.port), token=tokens["alice"])
    a1.wait_log(shared_re("db", f"127.0.0.1:{first_svc.port}", "alice/db"))
    a2 = burrow_client(srv, "-c", alice_cfg(tmp_path / "a2.yaml", second_svc.port), token=tokens["alice"])
    a2.wait_log(r"tunnel db: registration failed: .*held by another session")
    assert a2.find(r"tunnel db: shared -> ") is None

    bob = burrow_client(srv, "--name", "bob", "--visit", "alice/db", "-L", "0", token=tokens["bob"])
    port = visitor_port(bob, "v1", "alice/db")
    bob.wait_log(visiting_re("v1", "alice/db"))
    data = os.urandom(20000)
    assert roundtrip("127.0.0.1", port, data) == data          # the first sharer's echo

    assert a1.stop() == 0
    a2.wait_log(shared_re("db", f"127.0.0.1:{second_svc.port}", "alice/db"), timeout=RETRY + LOG_TIMEOUT)
    assert roundtrip("127.0.0.1", port, data) == sha(data).encode() + b"\n"   # now the second's
    for p in (srv, a1, a2, bob):
        for tok in tokens.values():
            assert tok not in p.text()


# --------------------------------------------------------------------------
# 6. No public port
# --------------------------------------------------------------------------

def test_no_public_port(burrow_server, burrow_client, echo):
    """Shares and visits open no port on the server (its log and its
    sockets), the sharer listens on nothing, the visitor only on its port."""
    srv = burrow_server()
    before = listening_tcp_ports(srv.pid)
    assert before == {srv.port}
    sharer = burrow_client(srv, "--share", f"db=127.0.0.1:{echo.port}", "--share", f"127.0.0.1:{echo.port}")
    sharer.wait_log(shared_re("db", f"127.0.0.1:{echo.port}"))
    rnd = sharer.wait_log(r"tunnel (%s): shared -> " % RE_RANDOM).group(1)
    srv.wait_log(server_secret_re("db"))
    srv.wait_log(server_secret_re(rnd))
    vis = burrow_client(srv, "--visit", "db", "-L", "0", "--visit", rnd, "-L", "0")
    p1, p2 = visitor_port(vis, "v1", "db"), visitor_port(vis, "v2", rnd)
    vis.wait_log(visiting_re("v1", "db"))
    vis.wait_log(visiting_re("v2", rnd))
    srv.wait_log(r"tunnel v1: visiting db$")
    srv.wait_log(r"tunnel v2: visiting %s$" % q(shown(rnd)))
    assert roundtrip("127.0.0.1", p1, b"one") == b"one"
    assert roundtrip("127.0.0.1", p2, b"two") == b"two"

    assert_no_public_port(srv)
    assert listening_tcp_ports(srv.pid) == {srv.port}
    assert listening_tcp_ports(sharer.pid) == set()
    assert listening_tcp_ports(vis.pid) == {p1, p2}


# --------------------------------------------------------------------------
# 7. Usage errors
# --------------------------------------------------------------------------

@pytest.mark.parametrize("args,message", [
    (["--visit", "db"], "--visit NAME needs a -L [bind_address:]port after it"),
    (["--visit", "db", "-L", "0:127.0.0.1:22"], "--visit NAME needs a -L [bind_address:]port after it"),
    (["-L", "8080"], "-L [bind_address:]port without a target needs a --visit NAME"),
    (["--share", "x="], "--share 'x=': expected host:port"),
    (["--share", "x=127.0.0.1"], "--share 'x=127.0.0.1': expected host:port"),
    (["--share", "=127.0.0.1:22"], "the name must be 1 to 64 of A-Z a-z 0-9 . _ -"),
    (["--visit", "a/b/c", "-L", "0"], "--visit 'a/b/c': the name must be 1 to 64 of"),
    (["--share", "x=127.0.0.1:1", "--share", "x=127.0.0.1:2"], "tunnel name 'x' is used twice"),
])
def test_bad_flags_exit_2(args, message, token):
    env = dict(os.environ, BURROW_TOKEN=token)
    r = subprocess.run([BURROW_BIN, "client", "-s", "127.0.0.1:1", *args],
                       capture_output=True, timeout=LOG_TIMEOUT, env=env)
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode == 2, f"rc={r.returncode}: {out}"
    assert message in out, out
    assert "connecting to" not in out
    assert token not in out

