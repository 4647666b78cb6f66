#!/usr/bin/python3
"""burrow benchmark: throughput, latency, CPU and memory of a reverse TCP tunnel.

Compares, on loopback only: direct, burrow (server + client), ssh -R (own sshd) and socat (one hop).
Python 3 standard library only.  Run through bench/bench.sh (or `make bench`).

    bench/bench.sh            full run  (iperf3 5 s x 3 runs, median; sockperf 3 s)
    bench/bench.sh --quick    short run (iperf3 2 s x 1 run; sockperf 2 s)

Prints one table: absolute numbers, ratios against direct and against ssh -R, MET / NOT MET for the
targets, and a list of anomalies.  See bench/README.md.

Options: --bin PATH (default $BURROW_BIN or build/burrow), --json FILE (raw results),
         --only burrow,ssh,socat (peers to run; direct always runs), --keep-tmp.
Env:     BURROW_SERVER_ARGS / BURROW_CLIENT_ARGS: extra flags for the burrow server / client
         (e.g. BURROW_CLIENT_ARGS="--window 4M").
"""

import argparse
import atexit
import json
import os
import re
import resource
import selectors
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
TOKEN = "bench-" + os.urandom(8).hex()
NCONN = 1000

ANOMALIES = []      # things that went wrong, printed at the end
STARTED = []        # Popen objects we started (cleaned up at exit)


def log(msg):
    print("[bench] " + msg, file=sys.stderr, flush=True)


def anomaly(msg):
    ANOMALIES.append(msg)
    log("!! " + msg)


# --------------------------------------------------------------------------- processes

def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1048576
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def children_map():
    m = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        m.setdefault(ppid, []).append(int(d))
    return m


def tree(pids):
    """pids plus all their live descendants."""
    m = children_map()
    out, todo = [], list(pids)
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.append(p)
        todo.extend(m.get(p, []))
    return out


def spawn(argv, logpath=None, env=None, **kw):
    e = dict(os.environ)
    if env:
        e.update(env)
    out = open(logpath, "wb") if logpath else subprocess.DEVNULL
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                         env=e, start_new_session=True, **kw)
    if logpath:
        out.close()
    p.logpath = logpath
    p.argv = argv
    STARTED.append(p)
    return p


def stop(p, grace=3.0):
    """SIGTERM the process and its descendants (by pid), then SIGKILL what is left."""
    if p is None:
        return None
    pids = tree([p.pid]) if p.poll() is None else []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    try:
        p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        p.wait(timeout=2)
    except subprocess.TimeoutExpired:
        pass
    if p in STARTED:
        STARTED.remove(p)
    return p.returncode


def cleanup():
    for p in list(STARTED)[::-1]:
        stop(p, grace=1.0)


def on_signal(sig, frame):
    raise SystemExit(128 + sig)


def tail(path, n=15):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode(errors="replace").splitlines()
        return "\n".join("    | " + l for l in lines[-n:])
    except OSError:
        return "    | (no log)"


# --------------------------------------------------------------------------- waiting

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def listening_ports():
    ports = set()
    for fn in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(fn) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "0A":
                        ports.add(int(parts[1].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    return ports


def wait_listen(port, timeout=10.0, proc=None):
    """Wait for a LISTEN socket on port (read from /proc/net/tcp: no probe connection)."""
    end = time.time() + timeout
    while time.time() < end:
        if port in listening_ports():
            return True
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with %s while waiting for port %d\n%s"
                               % (proc.argv[0], proc.returncode, port, tail(proc.logpath)))
        time.sleep(0.02)
    raise RuntimeError("port %d not listening after %.0f s" % (port, timeout))


def wait_quiet(port, timeout=15.0):
    """Wait until no connection (other than LISTEN / TIME_WAIT) has local port `port`: the iperf3
    server serves one test at a time and is 'busy' until the previous test's sockets are closed."""
    end = time.time() + timeout
    while time.time() < end:
        busy = False
        for fn in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(fn) as f:
                    next(f)
                    for line in f:
                        parts = line.split()
                        if parts[3] not in ("0A", "06") and int(parts[1].rsplit(":", 1)[1], 16) == port:
                            busy = True
                            break
            except OSError:
                pass
            if busy:
                break
        if not busy:
            return True
        time.sleep(0.05)
    return False


def wait_log(proc, regex, timeout=10.0):
    rx = re.compile(regex)
    end = time.time() + timeout
    while time.time() < end:
        with open(proc.logpath, "rb") as f:
            text = f.read().decode(errors="replace")
        m = rx.search(text)
        if m:
            return m
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s before logging /%s/\n%s"
                               % (proc.argv[0], proc.returncode, regex, tail(proc.logpath)))
        time.sleep(0.02)
    raise RuntimeError("no /%s/ in %s after %.0f s\n%s" % (regex, proc.logpath, timeout, tail(proc.logpath)))


# --------------------------------------------------------------------------- /proc readings

def cpu_ticks(roots):
    """utime+stime of roots and live descendants, plus cutime+cstime of the roots (reaped children)."""
    total = 0
    for pid in tree(roots):
        try:
            with open("/proc/%d/stat" % pid) as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])          # utime, stime
        if pid in roots:
            total += int(fields[13]) + int(fields[14])      # cutime, cstime
    return total


def minflt(roots):
    """minor page faults of roots and live descendants (+ reaped children of the roots)."""
    total = 0
    for pid in tree(roots):
        try:
            with open("/proc/%d/stat" % pid) as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rindex(")") + 2:].split()
        total += int(fields[7]) + (int(fields[8]) if pid in roots else 0)
    return total


def nfds(pids):
    n = 0
    for pid in pids:
        try:
            n += len(os.listdir("/proc/%d/fd" % pid))
        except OSError:
            pass
    return n


def rss_kb(pids, field="VmRSS"):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith(field + ":"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def smaps_summary(pid, n=3):
    """Pss total and the n mappings holding the most RSS: where an idle process's memory is."""
    rss, pss, name = {}, 0, "?"
    try:
        with open("/proc/%d/smaps" % pid) as f:
            for line in f:
                parts = line.split()
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    name = os.path.basename(parts[5]) if len(parts) > 5 else "[anon]"
                elif parts[0] == "Rss:":
                    rss[name] = rss.get(name, 0) + int(parts[1])
                elif parts[0] == "Pss:":
                    pss += int(parts[1])
    except OSError:
        return None
    top = sorted(rss.items(), key=lambda kv: -kv[1])[:n]
    return {"pss": pss, "top": top}


# --------------------------------------------------------------------------- measurements

def iperf(port, secs, streams):
    if not wait_quiet(SERVICES["iperf"]):
        log("iperf3 server still has connections from the previous test after 15 s")
    for attempt in range(3):
        out, err = iperf_once(port, secs, streams)
        if err and "busy" in err:
            time.sleep(1.0)
            wait_quiet(SERVICES["iperf"])
            continue
        break
    return out, err


def iperf_once(port, secs, streams):
    argv = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(secs), "-P", str(streams), "-J",
            "--connect-timeout", "5000"]
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=secs + 25)
    except subprocess.TimeoutExpired:
        return None, "iperf3 client hung (> %d s) — stall" % (secs + 25)
    try:
        j = json.loads(r.stdout.decode(errors="replace"))
    except ValueError:
        return None, "iperf3 rc=%d, no JSON: %s" % (r.returncode, (r.stdout + r.stderr)[-300:].decode(errors="replace"))
    if "error" in j:
        return None, "iperf3: " + j["error"]
    recv = j["end"]["sum_received"]
    ivals = [iv["sum"]["bits_per_second"] for iv in j.get("intervals", []) if iv["sum"]["seconds"] > 0.5]
    return {"bps": recv["bits_per_second"], "bytes": recv["bytes"],
            "min_interval_bps": min(ivals) if ivals else None}, None


def sockperf(port, secs):
    argv = ["sockperf", "ping-pong", "--tcp", "-i", "127.0.0.1", "-p", str(port), "-t", str(secs), "-m", "64"]
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=secs + 25)
    except subprocess.TimeoutExpired:
        return None, "sockperf hung (> %d s) — stall" % (secs + 25)
    out = re.sub(r"\x1b\[[0-9;]*m", "", (r.stdout + r.stderr).decode(errors="replace"))
    avg = re.search(r"avg-latency=([\d.]+)", out)
    p50 = re.search(r"percentile 50\.000 =\s*([\d.]+)", out)
    p99 = re.search(r"percentile 99\.000 =\s*([\d.]+)", out)
    if not (avg and p50 and p99):
        return None, "sockperf rc=%d, unparsable: %s" % (r.returncode, out[-400:])
    return {"avg": float(avg.group(1)), "p50": float(p50.group(1)), "p99": float(p99.group(1))}, None


def open_many(port, n, timeout=60.0):
    """Open n connections to port, send a line on each, wait until each got its echo back.
    Returns (sockets, n_echoed).  Caller closes the sockets."""
    sel = selectors.DefaultSelector()
    socks, state = [], {}
    batch = 100
    end = time.time() + timeout
    i = 0
    pending_connect = 0
    while (i < n or pending_connect or any(st["want"] for st in state.values())) and time.time() < end:
        # open at most `batch` half-open connections at a time (listen backlogs are finite)
        while i < n and pending_connect < batch:
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            msg = b"burrow-bench %06d\n" % i
            st = {"i": i, "msg": msg, "want": msg, "conn": False, "sent": False}
            socks.append(s)
            state[s] = st
            sel.register(s, selectors.EVENT_WRITE, st)
            pending_connect += 1
            i += 1
        for key, ev in sel.select(0.2):
            s, st = key.fileobj, key.data
            if not st["conn"]:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                pending_connect -= 1
                st["conn"] = True
                if err:
                    st["want"] = b""
                    st["err"] = os.strerror(err)
                    sel.unregister(s)
                    continue
                s.send(st["msg"])
                sel.modify(s, selectors.EVENT_READ, st)
                continue
            try:
                data = s.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as e:
                data = b""
                st["err"] = str(e)
            if not data:
                st["err"] = st.get("err", "EOF before echo")
                st["want"] = b""
                sel.unregister(s)
                continue
            if st["want"].startswith(data):
                st["want"] = st["want"][len(data):]
                if not st["want"]:
                    st["ok"] = True
                    sel.unregister(s)
            else:
                st["err"] = "wrong echo"
                st["want"] = b""
                sel.unregister(s)
    sel.close()
    ok = sum(1 for st in state.values() if st.get("ok"))
    errs = {}
    for st in state.values():
        if not st.get("ok"):
            e = st.get("err", "timeout")
            errs[e] = errs.get(e, 0) + 1
    return socks, ok, errs


def echo_server(port):
    raise_nofile()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(4096)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ)
    print("echo listening on %d" % port, flush=True)
    while True:
        for key, _ in sel.select():
            if key.fileobj is ls:
                try:
                    while True:
                        c, _ = ls.accept()
                        c.setblocking(False)
                        sel.register(c, selectors.EVENT_READ)
                except (BlockingIOError, InterruptedError):
                    pass
                continue
            c = key.fileobj
            try:
                data = c.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(c)
                c.close()
                continue
            try:
                c.sendall(data)   # tiny messages: never blocks in practice
            except OSError:
                sel.unregister(c)
                c.close()


# --------------------------------------------------------------------------- peers
# A peer sets up a path to the three services and exposes:
#   ports = {"iperf": p, "sockperf": p, "echo": p}, cpu_pids() -> roots to account CPU to,
#   mem_groups() -> {label: [pids]} for RSS, stop().

class Direct:
    name = "direct"

    def __init__(self, svc, tmp):
        self.ports = dict(svc)

    def cpu_pids(self):
        return []

    def stop(self):
        pass


class Socat:
    name = "socat"

    def __init__(self, svc, tmp):
        if not shutil.which("socat"):
            raise RuntimeError("socat not installed")
        self.procs = []
        self.ports = {}
        for k in ("iperf", "sockperf"):
            p = free_port()
            proc = spawn(["socat", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork" % p,
                          "TCP:127.0.0.1:%d" % svc[k]], os.path.join(tmp, "socat-%s.log" % k))
            wait_listen(p, proc=proc)
            self.procs.append(proc)
            self.ports[k] = p

    def cpu_pids(self):
        return [p.pid for p in self.procs]

    def stop(self):
        for p in self.procs:
            stop(p)


class Burrow:
    name = "burrow"

    def __init__(self, svc, tmp, binpath):
        if not (os.path.isfile(binpath) and os.access(binpath, os.X_OK)):
            raise RuntimeError("binary %s not found" % binpath)
        env = {"BURROW_TOKEN": TOKEN}
        sargs = shlex.split(os.environ.get("BURROW_SERVER_ARGS", ""))
        cargs = shlex.split(os.environ.get("BURROW_CLIENT_ARGS", ""))
        self.server = spawn([binpath, "server", "-l", "127.0.0.1:0"] + sargs,
                            os.path.join(tmp, "burrow-server.log"), env)
        m = wait_log(self.server, r"server listening on [\d.]+:(\d+)")
        sport = int(m.group(1))
        self.client = None
        order = ["iperf", "sockperf", "echo"]
        argv = [binpath, "client", "-s", "127.0.0.1:%d" % sport]
        for k in order:
            argv += ["-R", "0:127.0.0.1:%d" % svc[k]]
        self.client = spawn(argv + cargs, os.path.join(tmp, "burrow-client.log"), env)
        self.ports = {}
        for n, k in enumerate(order, 1):
            m = wait_log(self.client, r"tunnel r%d: listening on (\S+):(\d+) ->" % n)
            self.ports[k] = int(m.group(2))
            wait_listen(self.ports[k], proc=self.server)

    def cpu_pids(self):
        return [self.server.pid, self.client.pid]

    def mem_pids(self):
        return {"server": [self.server.pid], "client": [self.client.pid]}

    def check_alive(self, when):
        for role, p in (("server", self.server), ("client", self.client)):
            if p.poll() is not None:
                anomaly("burrow %s exited (rc=%s) during %s\n%s" % (role, p.returncode, when, tail(p.logpath)))
                return False
        return True

    def stop(self):
        for role, p in (("client", self.client), ("server", self.server)):
            if p is None:
                continue
            alive = p.poll() is None
            rc = stop(p)
            try:
                with open(p.logpath, "rb") as f:
                    lines = f.read().decode(errors="replace").splitlines()
            except OSError:
                lines = []
            bad = [l for l in lines if re.search(r"Z (warn|error)\b", l) or "open failed" in l]
            if bad:
                anomaly("burrow %s logged %d warn/error lines (of %d), first: \n%s" % (
                    role, len(bad), len(lines), "\n".join("    | " + l for l in bad[:5])))
            if alive and rc not in (0, None):
                anomaly("burrow %s: exit code %s after SIGTERM (contract: 0)\n%s" % (role, rc, tail(p.logpath)))
            elif alive and rc is None:
                anomaly("burrow %s did not exit on SIGTERM within 3 s" % role)


class SshR:
    name = "ssh -R"

    def __init__(self, svc, tmp):
        for exe in ("/usr/sbin/sshd", "ssh", "ssh-keygen"):
            if not shutil.which(exe):
                raise RuntimeError("%s not installed" % exe)
        d = os.path.join(tmp, "ssh")
        os.makedirs(d, mode=0o700)
        for k in ("host_key", "user_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(d, k)],
                           check=True, stdin=subprocess.DEVNULL, capture_output=True)
        shutil.copy(os.path.join(d, "user_key.pub"), os.path.join(d, "authorized_keys"))
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)   # privilege-separation directory
        sshd_port = free_port()
        cfg = os.path.join(d, "sshd_config")
        with open(cfg, "w") as f:
            f.write("\n".join([
                "ListenAddress 127.0.0.1:%d" % sshd_port,
                "HostKey %s/host_key" % d,
                "PidFile %s/sshd.pid" % d,
                "AuthorizedKeysFile %s/authorized_keys" % d,
                "PermitRootLogin yes", "StrictModes no", "UsePAM no",
                "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
                "AllowTcpForwarding yes", "GatewayPorts no", "X11Forwarding no", "PrintMotd no",
                "UseDNS no", "LogLevel INFO", ""]))
        self.sshd = spawn(["/usr/sbin/sshd", "-D", "-e", "-f", cfg], os.path.join(d, "sshd.log"))
        wait_listen(sshd_port, proc=self.sshd)
        self.ports = {k: free_port() for k in ("iperf", "sockperf", "echo")}
        argv = ["ssh", "-N", "-F", "/dev/null"]
        for k in ("iperf", "sockperf", "echo"):
            argv += ["-R", "%d:127.0.0.1:%d" % (self.ports[k], svc[k])]
        argv += ["-p", str(sshd_port), "-i", os.path.join(d, "user_key"),
                 "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                 "-o", "ExitOnForwardFailure=yes", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
                 "root@127.0.0.1"]
        self.ssh = spawn(argv, os.path.join(d, "ssh.log"))
        for k in ("iperf", "sockperf", "echo"):
            wait_listen(self.ports[k], timeout=15, proc=self.ssh)
        # the negotiated cipher is the client's first choice (both sides use the stock lists)
        g = subprocess.run(["ssh", "-G", "-F", "/dev/null", "root@127.0.0.1"], capture_output=True,
                           stdin=subprocess.DEVNULL)
        m = re.search(r"^ciphers (\S+)", g.stdout.decode(errors="replace"), re.M)
        self.cipher = m.group(1).split(",")[0] if m else "default"

    def cpu_pids(self):
        return [self.sshd.pid, self.ssh.pid]

    def mem_pids(self):
        # the session processes forked by sshd for this connection, and the ssh client
        return {"sshd": [p for p in tree([self.sshd.pid]) if p != self.sshd.pid], "ssh": [self.ssh.pid]}

    def stop(self):
        stop(self.ssh)
        stop(self.sshd)


# --------------------------------------------------------------------------- runner

def measure_peer(peer, cfg, res):
    name = peer.name
    r = res.setdefault(name, {})
    alive = getattr(peer, "check_alive", lambda when: True)

    if hasattr(peer, "mem_pids"):
        r["rss_idle"] = {k: rss_kb(v) for k, v in peer.mem_pids().items()}
        r["fds_idle"] = {k: nfds(v) for k, v in peer.mem_pids().items()}
        r["rss_idle_anon"] = {k: rss_kb(v, "RssAnon") for k, v in peer.mem_pids().items()}
        r["rss_idle_file"] = {k: rss_kb(v, "RssFile") for k, v in peer.mem_pids().items()}
        r["smaps_idle"] = {k: smaps_summary(v[0]) for k, v in peer.mem_pids().items() if len(v) == 1}

    # throughput
    for streams in (1, 8):
        vals, nbytes = [], 0
        t0 = cpu_ticks(peer.cpu_pids()) if peer.cpu_pids() else 0
        t0_each = [cpu_ticks([p]) for p in peer.cpu_pids()]
        f0 = minflt(peer.cpu_pids())
        for run in range(cfg.runs):
            out, err = iperf(peer.ports["iperf"], cfg.secs, streams)
            if err:
                anomaly("%s iperf3 -P %d run %d: %s" % (name, streams, run + 1, err))
                restart_iperf_server(cfg)
                if not alive("iperf3 -P %d" % streams):
                    return
                continue
            vals.append(out["bps"])
            nbytes += out["bytes"]
            mi = out["min_interval_bps"]
            if mi is not None and mi < 0.05 * out["bps"]:
                anomaly("%s iperf3 -P %d run %d: stall, a 1 s interval moved %.3f Gbit/s (average %.2f)"
                        % (name, streams, run + 1, mi / 1e9, out["bps"] / 1e9))
            log("%-7s iperf3 -P %d run %d: %.2f Gbit/s" % (name, streams, run + 1, out["bps"] / 1e9))
        t1 = cpu_ticks(peer.cpu_pids()) if peer.cpu_pids() else 0
        r["tput_p%d" % streams] = statistics.median(vals) if vals else None
        r["tput_p%d_runs" % streams] = vals
        if streams == 1 and peer.cpu_pids() and nbytes:
            r["cpu_s"] = (t1 - t0) / CLK_TCK
            r["minflt_per_gb"] = (minflt(peer.cpu_pids()) - f0) / (nbytes / 1e9)
            r["cpu_s_each"] = [(cpu_ticks([p]) - a) / CLK_TCK for p, a in zip(peer.cpu_pids(), t0_each)]
            r["cpu_s_per_gb"] = r["cpu_s"] / (nbytes / 1e9)
        if not alive("iperf3 -P %d" % streams):
            return

    # latency
    out, err = sockperf(peer.ports["sockperf"], cfg.lat_secs)
    if err:
        anomaly("%s sockperf: %s" % (name, err))
    else:
        r["lat"] = out
        log("%-7s sockperf: avg %.1f p50 %.1f p99 %.1f usec" % (name, out["avg"], out["p50"], out["p99"]))
    if not alive("sockperf"):
        return

    # memory under 1000 connections
    if hasattr(peer, "mem_pids") and "echo" in peer.ports:
        t = time.time()
        socks, ok, errs = open_many(peer.ports["echo"], NCONN)
        r["conn_ok"] = ok
        r["conn_secs"] = time.time() - t
        if ok != NCONN:
            anomaly("%s: only %d/%d connections echoed (%s)" % (name, ok, NCONN, errs))
        time.sleep(0.2)   # let the peer finish bookkeeping for the last echoes
        r["rss_conn"] = {k: rss_kb(v) for k, v in peer.mem_pids().items()}
        r["fds_conn"] = {k: nfds(v) for k, v in peer.mem_pids().items()}
        log("%-7s %d/%d connections echoed in %.2f s; RSS %s KB" % (name, ok, NCONN, r["conn_secs"], r["rss_conn"]))
        for s in socks:
            s.close()
        # wait until the peer has released them, then RSS after close
        time.sleep(1.0)
        r["rss_after"] = {k: rss_kb(v) for k, v in peer.mem_pids().items()}
        r["fds_after"] = {k: nfds(v) for k, v in peer.mem_pids().items()}
        for k in r["fds_after"]:
            if r["fds_after"][k] > r["fds_idle"][k] + 10:
                anomaly("%s %s: %d fds open 1 s after closing the %d connections (idle: %d): leak or slow close"
                        % (name, k, r["fds_after"][k], NCONN, r["fds_idle"][k]))
        alive("1000 connections")


SERVICES = {}


def restart_iperf_server(cfg):
    p = SERVICES.get("iperf_proc")
    if p is not None:
        stop(p)
    SERVICES["iperf_proc"] = spawn(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(SERVICES["iperf"])],
                                   os.path.join(cfg.tmp, "iperf3-server.log"))
    wait_listen(SERVICES["iperf"], proc=SERVICES["iperf_proc"])


def start_services(cfg):
    SERVICES["iperf"] = free_port()
    restart_iperf_server(cfg)
    SERVICES["sockperf"] = free_port()
    p = spawn(["sockperf", "server", "--tcp", "-i", "127.0.0.1", "-p", str(SERVICES["sockperf"])],
              os.path.join(cfg.tmp, "sockperf-server.log"))
    wait_listen(SERVICES["sockperf"], proc=p)
    SERVICES["echo"] = free_port()
    p = spawn(["/usr/bin/python3", os.path.abspath(__file__), "--echo-server", str(SERVICES["echo"])],
              os.path.join(cfg.tmp, "echo-server.log"))
    wait_listen(SERVICES["echo"], proc=p)
    return {k: SERVICES[k] for k in ("iperf", "sockperf", "echo")}


# --------------------------------------------------------------------------- report

def fmt(v, spec="%.2f", na="n/a"):
    return na if v is None else spec % v


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def report(res, cfg):
    L = []
    peers = ["direct", "burrow", "ssh -R", "socat"]
    g = lambda p, k: res.get(p, {}).get(k)
    L.append("")
    L.append("burrow bench (%s): loopback, %d vCPU, kernel %s, iperf3 %ds x %d run%s (median), sockperf %ds, 64 B"
             % ("quick" if cfg.quick else "full", os.cpu_count(), os.uname().release, cfg.secs, cfg.runs,
                "" if cfg.runs == 1 else "s", cfg.lat_secs))
    L.append("load average at start %s, at end %s (other work on the machine makes numbers noisy)"
             % (res.get("_load_start", "?"), open("/proc/loadavg").read().split()[0]))
    if res.get("burrow", {}).get("version"):
        L.append("binary: %s (%s, built %s)%s" % (cfg.bin, res["burrow"]["version"], res["burrow"].get("mtime", "?"),
                 "  extra args: server %r client %r" % (os.environ.get("BURROW_SERVER_ARGS", ""),
                                                       os.environ.get("BURROW_CLIENT_ARGS", ""))
                 if os.environ.get("BURROW_SERVER_ARGS") or os.environ.get("BURROW_CLIENT_ARGS") else ""))
    if res.get("ssh -R", {}).get("cipher"):
        L.append("ssh -R: %s, cipher %s" % (res["ssh -R"].get("version", ""), res["ssh -R"]["cipher"]))
    L.append("")
    L.append("THROUGHPUT (iperf3, receiver Gbit/s)")
    L.append("%-8s %9s %9s %9s %9s %9s %9s   %s" % ("path", "P1", "P8", "P1/dir", "P8/dir", "P1/ssh", "P8/ssh", "P1 runs"))
    for p in peers:
        a, b = g(p, "tput_p1"), g(p, "tput_p8")
        da, db = g("direct", "tput_p1"), g("direct", "tput_p8")
        sa, sb = g("ssh -R", "tput_p1"), g("ssh -R", "tput_p8")
        runs = " ".join("%.2f" % (x / 1e9) for x in (g(p, "tput_p1_runs") or []))
        L.append("%-8s %9s %9s %9s %9s %9s %9s   %s" % (
            p, fmt(a and a / 1e9), fmt(b and b / 1e9), fmt(ratio(a, da), "%.2fx"), fmt(ratio(b, db), "%.2fx"),
            fmt(ratio(a, sa), "%.2fx"), fmt(ratio(b, sb), "%.2fx"), runs or "-"))
    L.append("")
    L.append("LATENCY (sockperf ping-pong TCP, usec one-way = RTT/2; +x = added over direct)")
    L.append("%-8s %8s %8s %8s %9s %9s %9s %12s" % ("path", "avg", "p50", "p99", "+avg", "+p50", "+p99", "+avg vs ssh"))
    dl = g("direct", "lat")
    sl = g("ssh -R", "lat")
    for p in peers:
        l = g(p, "lat")
        if not l:
            L.append("%-8s %8s %8s %8s %9s %9s %9s %12s" % (p, "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a"))
            continue
        add = {k: (l[k] - dl[k]) if dl else None for k in ("avg", "p50", "p99")}
        sadd = (sl["avg"] - dl["avg"]) if (sl and dl) else None
        L.append("%-8s %8.1f %8.1f %8.1f %9s %9s %9s %12s" % (
            p, l["avg"], l["p50"], l["p99"], fmt(add["avg"], "%+.1f"), fmt(add["p50"], "%+.1f"),
            fmt(add["p99"], "%+.1f"), "-" if p == "direct" else fmt(ratio(add["avg"], sadd), "%.2fx")))
    L.append("")
    L.append("CPU during single-stream throughput (user+sys of the relay processes / GB moved)")
    L.append("%-8s %12s %10s %9s %12s   %s" % ("path", "CPU s per GB", "CPU s", "vs ssh", "minflt/GB", "processes"))
    procs = {"burrow": ("server", "client"), "ssh -R": ("sshd (all)", "ssh"), "socat": ("socat+children",)}
    for p in ("burrow", "ssh -R", "socat"):
        each = g(p, "cpu_s_each") or []
        split = " + ".join("%s %.2f s" % (n, c) for n, c in zip(procs[p], each)) if each else "/".join(procs[p])
        L.append("%-8s %12s %10s %9s %12s   %s" % (
            p, fmt(g(p, "cpu_s_per_gb"), "%.3f"), fmt(g(p, "cpu_s"), "%.2f"),
            fmt(ratio(g(p, "cpu_s_per_gb"), g("ssh -R", "cpu_s_per_gb")), "%.2fx"),
            fmt(g(p, "minflt_per_gb"), "%.0f"), split))
    L.append("")
    L.append("MEMORY (VmRSS KB; %d = %d concurrent echoed connections through the tunnel)" % (NCONN, NCONN))
    L.append("%-8s %-7s %9s %9s %11s %9s %9s   %s" % ("path", "process", "idle", "@%d" % NCONN, "KB/conn", "after",
                                                      "conns ok", "fds idle/@%d/after" % NCONN))
    for p, roles in (("burrow", ("server", "client")), ("ssh -R", ("sshd", "ssh"))):
        ri, rc, ra = g(p, "rss_idle") or {}, g(p, "rss_conn") or {}, g(p, "rss_after") or {}
        fi, fc, fa = g(p, "fds_idle") or {}, g(p, "fds_conn") or {}, g(p, "fds_after") or {}
        rows = list(roles) + ["total"]
        for role in rows:
            if role == "total":
                i = sum(ri.values()) if ri else None
                c = sum(rc.values()) if rc else None
                a = sum(ra.values()) if ra else None
            else:
                i, c, a = ri.get(role), rc.get(role), ra.get(role)
            per = (c - i) / NCONN if (c is not None and i is not None) else None
            fdcol = ("%s/%s/%s" % (fi.get(role, "-"), fc.get(role, "-"), fa.get(role, "-"))) if role != "total" else ""
            L.append("%-8s %-7s %9s %9s %11s %9s %9s   %s" % (
                p, role, fmt(i, "%d"), fmt(c, "%d"), fmt(per, "%.2f"), fmt(a, "%d"),
                fmt(g(p, "conn_ok"), "%d") if role == "total" else "", fdcol))
    L.append("")
    L.append("TARGETS")
    br, sr = g("burrow", "tput_p1"), g("ssh -R", "tput_p1")
    rr = ratio(br, sr)
    L.append("  burrow single-stream throughput >= 2x ssh -R : %s (%s)" % (
        "n/a" if rr is None else ("MET" if rr >= 2 else "NOT MET"), fmt(rr, "%.2fx")))
    ri = g("burrow", "rss_idle") or {}
    if ri:
        worst = max(ri.values())
        ra, rf = g("burrow", "rss_idle_anon") or {}, g("burrow", "rss_idle_file") or {}
        L.append("  idle RSS < 4 MB per process                  : %s (server %d KB, client %d KB;"
                 " anon+file: server %d+%d, client %d+%d)" % (
                     "MET" if worst < 4096 else "NOT MET", ri.get("server", 0), ri.get("client", 0),
                     ra.get("server", 0), rf.get("server", 0), ra.get("client", 0), rf.get("client", 0)))
        for role, sm in sorted((g("burrow", "smaps_idle") or {}).items()):
            if sm:
                L.append("      idle %s: Pss %d KB; largest RSS: %s" % (
                    role, sm["pss"], ", ".join("%s %d KB" % (n, kb) for n, kb in sm["top"])))
    else:
        L.append("  idle RSS < 4 MB per process                  : n/a")
    if ANOMALIES:
        L.append("")
        L.append("ANOMALIES")
        for a in ANOMALIES:
            L.append("  - " + a)
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser(description="burrow benchmark")
    ap.add_argument("--quick", action="store_true", help="short run: 2 s x 1 iperf3 run, 2 s sockperf")
    ap.add_argument("--bin", default=os.environ.get("BURROW_BIN", "build/burrow"))
    ap.add_argument("--json", help="also write the raw results to this file")
    ap.add_argument("--only", default="burrow,ssh,socat", help="peers to run besides direct")
    ap.add_argument("--keep-tmp", action="store_true")
    ap.add_argument("--echo-server", type=int, help=argparse.SUPPRESS)
    cfg = ap.parse_args()
    if cfg.echo_server:
        echo_server(cfg.echo_server)
        return 0
    if not os.path.isabs(cfg.bin):
        cfg.bin = os.path.join(REPO, cfg.bin)
    cfg.secs, cfg.runs, cfg.lat_secs = (2, 1, 2) if cfg.quick else (5, 3, 3)
    only = set(x.strip() for x in cfg.only.split(","))

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    atexit.register(cleanup)
    nofile = raise_nofile()
    if nofile < 3 * NCONN + 1000:
        log("RLIMIT_NOFILE is %d: the %d-connection test may fail" % (nofile, NCONN))
    cfg.tmp = tempfile.mkdtemp(prefix="burrow-bench-")
    if not cfg.keep_tmp:
        atexit.register(shutil.rmtree, cfg.tmp, True)
    log("tmp dir %s, RLIMIT_NOFILE %d" % (cfg.tmp, nofile))

    for tool in ("iperf3", "sockperf"):
        if not shutil.which(tool):
            log("%s not installed: its rows will be n/a" % tool)
    svc = start_services(cfg)
    res = {"_load_start": open("/proc/loadavg").read().split()[0]}

    plan = [("direct", lambda: Direct(svc, cfg.tmp))]
    if "burrow" in only:
        plan.append(("burrow", lambda: Burrow(svc, cfg.tmp, cfg.bin)))
    if "ssh" in only:
        plan.append(("ssh -R", lambda: SshR(svc, cfg.tmp)))
    if "socat" in only:
        plan.append(("socat", lambda: Socat(svc, cfg.tmp)))

    for name, make in plan:
        log("=== %s" % name)
        try:
            peer = make()
        except Exception as e:   # a missing or broken peer gives n/a, not a failed bench
            anomaly("%s unavailable: %s" % (name, e))
            for p in list(STARTED):
                if p.argv[0] == cfg.bin:
                    stop(p)
            continue
        if name == "burrow":
            try:
                res.setdefault(name, {})["version"] = subprocess.run(
                    [cfg.bin, "--version"], capture_output=True, timeout=5).stdout.decode().strip()
                res[name]["mtime"] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(cfg.bin)))
            except Exception:
                pass
        if name == "ssh -R":
            res.setdefault(name, {})["cipher"] = peer.cipher
            res[name]["version"] = subprocess.run(["ssh", "-V"], capture_output=True).stderr.decode().split(",")[0]
        try:
            measure_peer(peer, cfg, res)
        except Exception as e:
            anomaly("%s measurement failed: %r" % (name, e))
        finally:
            peer.stop()

    print(report(res, cfg), flush=True)
    if cfg.json:
        with open(cfg.json, "w") as f:
            json.dump({"results": res, "anomalies": ANOMALIES, "quick": cfg.quick}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
