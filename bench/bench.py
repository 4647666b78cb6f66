#!/usr/bin/python3
"""burrow benchmark: throughput, latency, CPU and memory of a reverse TCP tunnel.

Compares, on loopback only: direct, burrow (server + client), ssh -R (own sshd) and socat (one hop); and
over TLS: burrow --transport tls (default suite, AES-128-GCM, and ChaCha20-Poly1305) against ssh -R with
-c aes128-gcm@openssh.com and -c chacha20-poly1305@openssh.com; and over WebSocket: burrow --transport ws
against plain burrow and --transport wss against burrow TLS (aes128-gcm); and over the http transport (POSTs up,
long-poll GETs down): --transport http against plain burrow and https against burrow TLS; and the dynamic forward
(client -D, a SOCKS5 and HTTP CONNECT proxy exiting at the server) against ssh -D, all in the same run; and UDP
datagrams per second and loss through a UDP tunnel (-R udp:) against direct (bench/udpblast.c, built at start); and
keep-alive HTTP requests through the server's shared HTTP port (server --http, client -R http:bench.test:...) against
nginx direct and ssh -R: requests/s (wrk), the latency added at half load (bench/httpload.c, open loop) and the
server's memory per idle keep-alive connection; and requests/s over HTTPS, the same server's --https port terminating
TLS for that name (--https-certs, a throwaway CA made with openssl) against nginx direct over TLS.
Python 3 standard library only (and cc for udpblast and httpload).  Run through bench/bench.sh (or `make bench`).

    bench/bench.sh            full run  (iperf3 5 s x 3 runs, median; sockperf 3 s; wrk 3 s x 3; churn 300 s;
                              callgrind; the TLS rows; the ws and http rows; the forward, udp and vhost rows),
                              about 27 minutes
    bench/bench.sh --quick    short run (iperf3 2 s x 1 run; sockperf 2 s; wrk 2 s x 1; churn 10 s; no callgrind,
                              no TLS, ws, http, forward, udp or vhost rows unless --only names them)
    bench/bench.sh --quick --only tls    only direct and the TLS rows, about 1.5 minutes
    bench/bench.sh --quick --only ws     direct, burrow ws and wss, and plain burrow and burrow TLS aes as their
                                         references, about 1.2 minutes
    bench/bench.sh --quick --only http   direct, burrow http and https, and the same references, about 2 minutes
                                         (--only web: ws and http)
    bench/bench.sh --quick --only forward    burrow -D against ssh -D (default cipher, aes128-gcm) and direct:
                                         SOCKS5 setup latency and one stream each way through the proxy,
                                         about 25 s (full settings: about 2.2 minutes)
    bench/bench.sh --quick --only udp    1,400 and 16,000 B datagrams, direct and through a burrow UDP tunnel, at
                                         fixed rates and at the sender's maximum: delivered/s, loss and where it
                                         happened, burrow's CPU per 100k datagrams; 5 s per row, about 1 minute
                                         (full settings: 5 s x 3, about 3.5 minutes)
    bench/bench.sh --quick --only vhost  keep-alive GETs of a 1 KiB file from nginx: direct, through burrow's HTTP
                                         port (Host: bench.test) and through ssh -R; wrk -t2 -c64 req/s, latency at
                                         half the vhost's maximum (httpload), RSS with 64 idle connections; and wrk
                                         over HTTPS: nginx's TLS server and burrow's HTTPS port terminating TLS for
                                         bench.test; 3 s per run, about 25 s (full settings: 10 s per run, about 75 s)

Prints one table: absolute numbers, ratios against direct and against ssh -R, MET / NOT MET for the
targets, and a list of anomalies.  See bench/README.md.

Options: --bin PATH (default $BURROW_BIN or build/burrow), --json FILE (raw results, targets, anomalies),
         --only burrow,mux,ssh,socat,callgrind,tls,ws,http,web,forward,udp (what to run; direct always runs, except
         for forward, udp and / or vhost alone, which have their own direct rows; tls = tls-burrow + tls-ssh; ws = burrow ws
         and wss, http = burrow http and https, each with plain burrow and burrow TLS aes as references; web = ws,http;
         forward = burrow -D vs ssh -D; udp = UDP tunnel vs direct; vhost = the shared HTTP port vs nginx direct and
         ssh -R; default all, --quick: burrow,mux,ssh,socat),
         --callgrind / --no-callgrind,
         --keep-tmp, --churn SECS (churn duration; default 300, 10 with --quick).
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
NCONN_BIG = 10000
WRK_CONNS = 50
CALLGRIND_MB = 100
CALLGRIND_RUNS = 3

ANOMALIES = []      # things that went wrong, printed at the end
NOTES = []          # observations that are not failures
TARGETS = []        # [{"target", "status": MET / NOT MET / n/a, "measured"}], filled by report()
T0 = time.time()
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

def stat_sum(roots, own, reaped):
    """Sum of /proc/PID/stat fields (0 = the field after the command name) over roots and their live
    descendants: `own` for every process, `reaped` (the cumulative counts of waited-for children) for
    the roots only."""
    total = 0
    for pid in tree(roots):
        try:
            with open("/proc/%d/stat" % pid) as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rindex(")") + 2:].split()
        total += sum(int(fields[i]) for i in own)
        if pid in roots:
            total += sum(int(fields[i]) for i in reaped)
    return total


def cpu_ticks(roots):
    """utime+stime of roots and live descendants, plus cutime+cstime of the roots (reaped children)."""
    return stat_sum(roots, (11, 12), (13, 14))


def sched_ns(pid):
    """Time on CPU of all the threads of pid in ns (/proc/PID/task/*/schedstat, first field): a finer clock than
    utime+stime's ticks, for processes that hardly run."""
    total = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    for t in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def proc_io(pid):
    """/proc/PID/io: {"rchar", "wchar", "syscr", "syscw"} (bytes and read/write calls, sockets included)."""
    out = {}
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                k, v = line.split(":")
                if k in ("rchar", "wchar", "syscr", "syscw"):
                    out[k] = int(v)
    except (OSError, ValueError):
        pass
    return out


def minflt(roots):
    """minor page faults of roots and live descendants (+ reaped children of the roots)."""
    return stat_sum(roots, (7,), (8,))


def nfds(pids):
    n = 0
    for pid in pids:
        try:
            n += len(os.listdir("/proc/%d/fd" % pid))
        except OSError:
            pass
    return n


def fd_kinds(pids):
    """{"socket": n, "pipe": n, ...} over the fds of pids."""
    kinds = {}
    for pid in pids:
        try:
            names = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in names:
            try:
                t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            k = t.split(":", 1)[0] if ":[" in t else ("anon" if t.startswith("anon_inode") else "file")
            kinds[k] = kinds.get(k, 0) + 1
    return kinds


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

def iperf(port, secs, streams, reverse=False):
    """reverse: iperf3 -R (the iperf3 server, behind the tunnel's client, sends; the receiver is the iperf3
    client on the server's side): through burrow the bytes then go client -> server."""
    if not wait_quiet(SERVICES["iperf"]):
        log("iperf3 server still has connections from the previous test after 15 s")
    for attempt in range(3):
        out, err = iperf_once(port, secs, streams, reverse)
        if err and "busy" in err:
            time.sleep(1.0)
            wait_quiet(SERVICES["iperf"])
            continue
        break
    return out, err


def iperf_once(port, secs, streams, reverse=False):
    argv = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(secs), "-P", str(streams), "-J",
            "--connect-timeout", "5000"] + (["-R"] if reverse else [])
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
                except OSError as e:     # EMFILE: say so (the bench reports it) and back off
                    print("accept: %s" % e, flush=True)
                    time.sleep(0.05)
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


def wrk(port, secs, conns=WRK_CONNS, threads=2, timeout_pad=20):
    """wrk -H 'Connection: close': every request on a new connection (open, GET a small file, close)."""
    argv = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % secs, "--timeout", "5s",
            "-H", "Connection: close", "http://127.0.0.1:%d/%s" % (port, NGINX_FILE)]
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=secs + timeout_pad)
    except subprocess.TimeoutExpired:
        return None, "wrk hung (> %d s)" % (secs + timeout_pad)
    return parse_wrk((r.stdout + r.stderr).decode(errors="replace"), r.returncode)


def parse_wrk(out, rc):
    rps = re.search(r"Requests/sec:\s*([\d.]+)", out)
    n = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    if not (rps and n):
        return None, "wrk rc=%s, unparsable: %s" % (rc, out[-300:])
    res = {"rps": float(rps.group(1)), "requests": int(n.group(1)), "errors": 0, "error_detail": ""}
    se = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if se:
        res["errors"] += sum(int(x) for x in se.groups())
        res["error_detail"] = se.group(0)
    nx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if nx:
        res["errors"] += int(nx.group(1))
        res["error_detail"] += " " + nx.group(0)
    return res, None


def sink_server():
    """A thread in the bench process: accepts connections, reads them to EOF, counts the bytes."""
    import threading
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    st = {"port": ls.getsockname()[1], "bytes": 0, "done": threading.Event()}

    def serve():
        buf = bytearray(1 << 20)
        while True:
            c, _ = ls.accept()
            n = 0
            while True:
                k = c.recv_into(buf)
                if not k:
                    break
                n += k
            c.close()
            st["bytes"] = n
            st["done"].set()
    threading.Thread(target=serve, daemon=True).start()
    return st


def callgrind_totals(path):
    """Total Ir from a callgrind output file ('totals:' line, else 'summary:')."""
    tot = summ = None
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("totals:"):
                    tot = int(line.split()[1])
                elif line.startswith("summary:"):
                    summ = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return tot if tot is not None else summ


def run_callgrind(cfg, svc, res, label, extra):
    """Both burrow processes under callgrind: total Ir of each for a connection that moves 0 bytes (start-up,
    pool, one open, shutdown: the baseline) and for one that moves CALLGRIND_MB MB; the difference is the relay."""
    if not shutil.which("valgrind"):
        anomaly("callgrind: valgrind not installed")
        return
    r = res.setdefault("callgrind", {}).setdefault(label, {"mb": CALLGRIND_MB, "client_args": list(extra)})
    base = callgrind_once(cfg, label, extra, 0)
    if base is None:
        return
    r["base"] = base
    runs = []
    for i in range(CALLGRIND_RUNS):
        one = callgrind_once(cfg, label, extra, CALLGRIND_MB)
        if one is None:
            return
        runs.append(one)
        log("callgrind %s run %d: %d MB in %.1f s; Ir server %s, client %s"
            % (label, i + 1, CALLGRIND_MB, one.get("secs") or 0, one.get("server"), one.get("client")))
    r["runs"] = runs
    good = [x for x in runs if x.get("total") is not None]
    if not good:
        return
    # the run with the median total: its server and client figures, and the spread over the runs
    med = sorted(good, key=lambda x: x["total"])[(len(good) - 1) // 2]
    r["run"] = med
    r["ir_min"], r["ir_max"] = min(x["total"] for x in good), max(x["total"] for x in good)
    for role in ("server", "client", "total"):
        if med.get(role) is not None and base.get(role) is not None:
            r["ir_" + role] = med[role]
            r["net_" + role] = med[role] - base[role]
    r["secs"] = med.get("secs")
    log("callgrind %s: median total Ir %s (runs %s); baseline (0 bytes) server %s, client %s"
        % (label, med["total"], [x["total"] for x in good], base.get("server"), base.get("client")))


def callgrind_once(cfg, label, extra, mb):
    sink = SERVICES["sink"]
    sink["done"].clear()
    tag = "%s-%dmb" % (label.replace(" ", "-"), mb)
    outs = {role: os.path.join(cfg.tmp, "callgrind-%s-%s.out" % (tag, role)) for role in ("server", "client")}
    wrap = {role: ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + outs[role],
                   "--log-file=" + os.path.join(cfg.tmp, "valgrind-%s-%s.log" % (tag, role))]
            for role in ("server", "client")}
    one = {}
    try:
        b = Burrow({"sink": sink["port"]}, cfg.tmp, cfg.bin, name="callgrind-" + tag, extra=extra,
                   services=("sink",), wrap_server=wrap["server"], wrap_client=wrap["client"], timeout=60.0)
    except Exception as e:
        anomaly("callgrind %s: burrow under valgrind did not start: %s" % (tag, e))
        for p in list(STARTED):
            if p.argv[0] == "valgrind":
                stop(p, grace=10)
        return None
    try:
        chunk = b"\0" * (1 << 20)
        s = socket.create_connection(("127.0.0.1", b.ports["sink"]), timeout=120)
        t1 = time.time()
        for _ in range(mb):
            s.sendall(chunk)
        s.shutdown(socket.SHUT_WR)
        if not sink["done"].wait(300):
            anomaly("callgrind %s: sink did not see EOF within 300 s" % tag)
        one["secs"] = time.time() - t1
        s.close()
        one["bytes"] = sink["bytes"]
        if sink["bytes"] != mb << 20:
            anomaly("callgrind %s: sink got %d bytes, sent %d" % (tag, sink["bytes"], mb << 20))
    except OSError as e:
        anomaly("callgrind %s: transfer failed: %s" % (tag, e))
    finally:
        b.stop(grace=60)
    for role in ("server", "client"):
        one[role] = callgrind_totals(outs[role])
        if one[role] is None:
            anomaly("callgrind %s %s: no totals in %s" % (tag, role, outs[role]))
    if one["server"] is not None and one["client"] is not None:
        one["total"] = one["server"] + one["client"]
    return one


NGINX_FILE = "small.html"


def start_nginx(cfg):
    d = os.path.join(cfg.tmp, "nginx")
    os.makedirs(os.path.join(d, "www"))
    for x in (cfg.tmp, d, os.path.join(d, "www")):
        os.chmod(x, 0o755)        # nginx workers run as nobody when started as root
    with open(os.path.join(d, "www", NGINX_FILE), "w") as f:
        f.write("<html><body>" + "burrow bench " * 8 + "</body></html>\n")   # about 130 bytes
    port = free_port()
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
worker_rlimit_nofile 8192;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %(d)s/body;
    proxy_temp_path %(d)s/proxy;
    fastcgi_temp_path %(d)s/fastcgi;
    uwsgi_temp_path %(d)s/uwsgi;
    scgi_temp_path %(d)s/scgi;
    server {
        listen 127.0.0.1:%(port)d backlog=4096;
        root %(d)s/www;
    }
}
""" % {"d": d, "port": port})
    p = spawn(["/usr/sbin/nginx", "-c", conf, "-p", d, "-g", "daemon off;"], os.path.join(d, "nginx.out"))
    wait_listen(port, proc=p)
    return port


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


BIN_HELP = {}


def bin_has(binpath, role, flag):
    """Whether `burrow ROLE --help` lists flag: an older binary (--bin OLD) has no --state-dir or TLS."""
    key = (binpath, role)
    if key not in BIN_HELP:
        try:
            r = subprocess.run([binpath, role, "--help"], capture_output=True, timeout=5, stdin=subprocess.DEVNULL)
            BIN_HELP[key] = (r.stdout + r.stderr).decode(errors="replace")
        except Exception:
            BIN_HELP[key] = ""
    return flag in BIN_HELP[key]


class Burrow:
    name = "burrow"
    warn_expected = None     # a regex: warn lines that are expected (not anomalies) when stopped

    def __init__(self, svc, tmp, binpath, name="burrow", extra=(), services=("iperf", "sockperf", "echo", "nginx"),
                 wrap_server=None, wrap_client=None, timeout=10.0, tls=None, server_via=None, transport=None):
        """extra: flags for both sides' variant (e.g. client --pool 0); wrap_*: argv prefix (valgrind);
        tls: None (plain TCP) or a list of extra client flags for TLS (e.g. ["--tls-ciphersuites", X]): the
        client then connects with --transport tls --fingerprint <the key the server logged>;
        transport: None (tcp, or tls when tls is given), "ws" (client --transport ws) or "wss" (client
        --transport wss --fingerprint <the key the server logged>, plus the tls flags if any), "http" (client
        --transport http) or "https" (--transport https --fingerprint <the key>, plus the tls flags if any);
        the http transport has no data connections (every stream multiplexed), so no pool is waited for;
        server_via: f(server_port) -> port the client dials instead (a proxy that reads the ServerHello)."""
        if transport is None:
            transport = "tcp" if tls is None else "tls"
        if transport in ("tls", "wss", "https") and tls is None:
            tls = []
        if not (os.path.isfile(binpath) and os.access(binpath, os.X_OK)):
            raise RuntimeError("binary %s not found" % binpath)
        if tls is not None and not bin_has(binpath, "client", "--transport"):
            raise RuntimeError("binary %s has no TLS (no client --transport)" % binpath)
        if transport in ("ws", "wss") and not bin_has(binpath, "client", "wss"):
            raise RuntimeError("binary %s has no WebSocket transport (no client --transport ws|wss)" % binpath)
        if transport in ("http", "https") and not bin_has(binpath, "client", "|https"):
            raise RuntimeError("binary %s has no http transport (no client --transport http|https)" % binpath)
        self.transport = transport
        self.name = name
        self.client = None
        self.fingerprint = None
        env = {"BURROW_TOKEN": TOKEN}
        sargs = shlex.split(os.environ.get("BURROW_SERVER_ARGS", ""))
        cargs = shlex.split(os.environ.get("BURROW_CLIENT_ARGS", "")) + list(extra)
        tag = name.replace(" ", "-")
        # the server generates its TLS key into --state-dir: a fresh one per server, never /var/lib/burrow
        state = []
        if bin_has(binpath, "server", "--state-dir"):
            self.state_dir = tempfile.mkdtemp(prefix="state-%s-" % tag, dir=tmp)
            state = ["--state-dir", self.state_dir]
        self.server = spawn((wrap_server or []) + [binpath, "server", "-l", "127.0.0.1:0"] + state + sargs,
                            os.path.join(tmp, "%s-server.log" % tag), env)
        m = wait_log(self.server, r"server listening on [\d.]+:(\d+)", timeout)
        sport = int(m.group(1))
        if tls is not None:
            self.fingerprint = wait_log(self.server, r"tls: server key (SHA256:\S+)", timeout).group(1)
            cargs = ["--transport", transport, "--fingerprint", self.fingerprint] + list(tls) + cargs
        elif transport != "tcp":
            cargs = ["--transport", transport] + cargs
        if server_via is not None:
            sport = server_via(sport)
        order = [k for k in services if k in svc]
        argv = (wrap_client or []) + [binpath, "client", "-s", "127.0.0.1:%d" % sport]
        for k in order:
            argv += ["-R", "0:127.0.0.1:%d" % svc[k]]
        self.client = spawn(argv + cargs, os.path.join(tmp, "%s-client.log" % tag), env)
        self.ports = {}
        for n, k in enumerate(order, 1):
            m = wait_log(self.client, r"tunnel r%d: listening on (\S+):(\d+) ->" % n, timeout)
            self.ports[k] = int(m.group(2))
            wait_listen(self.ports[k], proc=self.server, timeout=timeout)
        self.pool = int(cargs[cargs.index("--pool") + 1]) if "--pool" in cargs else 8
        if transport in ("http", "https"):
            self.pool = 0      # no dedicated data connections on the http transport (pool.c does not open them)
        if self.pool != 0:
            # the default path: wait for the pool of dedicated data connections
            try:
                m = wait_log(self.client, r"(\d+) data connections ready", timeout)
                if int(m.group(1)) < self.pool:
                    anomaly("%s: %s data connections ready, --pool %d" % (name, m.group(1), self.pool))
            except RuntimeError as e:
                anomaly("%s: pool not ready: %s" % (name, str(e).splitlines()[0]))

    def cpu_pids(self):
        return [self.server.pid, self.client.pid]

    def procs_with_logs(self):
        return [self.server, self.client]

    def mem_pids(self):
        return {"server": [self.server.pid], "client": [self.client.pid]}

    def check_alive(self, when):
        for role, p in (("server", self.server), ("client", self.client)):
            if p.poll() is not None:
                anomaly("%s %s exited (rc=%s) during %s\n%s" % (self.name, role, p.returncode, when, tail(p.logpath)))
                return False
        return True

    def stop(self, grace=3.0):
        for role, p in (("client", self.client), ("server", self.server)):
            if p is None:
                continue
            alive = p.poll() is None
            rc = stop(p, grace)
            try:
                with open(p.logpath, "rb") as f:
                    lines = f.read().decode(errors="replace").splitlines()
            except OSError:
                lines = []
            bad = [l for l in lines if re.search(r"Z (warn|error)\b", l) or "open failed" in l]
            if self.warn_expected:   # e.g. the UDP rows' "dropped N datagrams" lines: figures, not anomalies
                bad = [l for l in bad if not re.search(self.warn_expected, l)]
            if bad:
                anomaly("%s %s logged %d warn/error lines (of %d), first: \n%s" % (
                    self.name, role, len(bad), len(lines), "\n".join("    | " + l for l in bad[:5])))
            if alive and rc not in (0, None):
                anomaly("%s %s: exit code %s after SIGTERM (contract: 0)\n%s" % (self.name, role, rc, tail(p.logpath)))
            elif alive and rc is None:
                anomaly("%s %s did not exit on SIGTERM within 3 s" % (self.name, role))


def start_sshd(d):
    """An sshd of the bench's own on a free loopback port, with generated host and user keys in the new directory
    d (its sshd_config, sshd.log). Returns (d, the sshd process, its port)."""
    for exe in ("/usr/sbin/sshd", "ssh", "ssh-keygen"):
        if not shutil.which(exe):
            raise RuntimeError("%s not installed" % exe)
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
    sshd = spawn(["/usr/sbin/sshd", "-D", "-e", "-f", cfg], os.path.join(d, "sshd.log"))
    wait_listen(sshd_port, proc=sshd)
    return d, sshd, sshd_port


def ssh_login_args(d, sshd_port):
    """The end of an ssh command line that logs in to start_sshd's sshd with its user key."""
    return ["-p", str(sshd_port), "-i", os.path.join(d, "user_key"),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "ExitOnForwardFailure=yes", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
            "root@127.0.0.1"]


def ssh_cipher(cipher):
    """The cipher ssh [-c cipher] negotiates with our sshd: the client's first choice (both use the stock lists)."""
    g = subprocess.run(["ssh", "-G", "-F", "/dev/null"] + (["-c", cipher] if cipher else []) + ["root@127.0.0.1"],
                       capture_output=True, stdin=subprocess.DEVNULL)
    m = re.search(r"^ciphers (\S+)", g.stdout.decode(errors="replace"), re.M)
    return m.group(1).split(",")[0] if m else "default"


class SshR:
    name = "ssh -R"

    def __init__(self, svc, tmp, name="ssh -R", cipher=None):
        """cipher: None = the stock lists (the client's first choice is negotiated), else ssh -c CIPHER
        (only that one is offered, so it is the one used or the connection fails)."""
        self.name = name
        d, self.sshd, sshd_port = start_sshd(os.path.join(tmp, "ssh" if cipher is None else "ssh-" + cipher.split("@")[0]))
        fwd = [k for k in ("iperf", "sockperf", "echo", "nginx") if k in svc]
        self.ports = {k: free_port() for k in fwd}
        argv = ["ssh", "-N", "-F", "/dev/null"] + (["-c", cipher] if cipher else [])
        for k in fwd:
            argv += ["-R", "%d:127.0.0.1:%d" % (self.ports[k], svc[k])]
        argv += ssh_login_args(d, sshd_port)
        self.ssh = spawn(argv, os.path.join(d, "ssh.log"))
        for k in fwd:
            wait_listen(self.ports[k], timeout=15, proc=self.ssh)
        self.cipher = ssh_cipher(cipher)

    def cpu_pids(self):
        return [self.sshd.pid, self.ssh.pid]

    def mem_pids(self):
        # the session processes forked by sshd for this connection, and the ssh client
        return {"sshd": [p for p in tree([self.sshd.pid]) if p != self.sshd.pid], "ssh": [self.ssh.pid]}

    def stop(self):
        stop(self.ssh)
        stop(self.sshd)


# --------------------------------------------------------------------------- TLS

TLS_SUITES = {0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384",
              0x1303: "TLS_CHACHA20_POLY1305_SHA256", 0x1304: "TLS_AES_128_CCM_SHA256",
              0x1305: "TLS_AES_128_CCM_8_SHA256"}
TLS_CHACHA = ["--tls-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"]
# (key, label, what runs it): the TLS rows; ssh -R with a given cipher is a peer of its own
TLS_PEERS = [("ssh aes", "ssh -R aes128-gcm", "aes128-gcm@openssh.com"),
             ("tls aes", "burrow TLS aes128-gcm", []),
             ("ssh chacha", "ssh -R chacha20", "chacha20-poly1305@openssh.com"),
             ("tls chacha", "burrow TLS chacha20", TLS_CHACHA)]
TLS_POOL_N = 64
HEAD_BYTES = 512      # hello_proxy keeps this much of each connection's start, each way


class HttpScan:
    """Reads one direction of an HTTP/1.1 connection as it goes by: the first line of every request or
    response head (kept in .lines), bodies skipped by Content-Length. Stops (.bad says why) at chunked
    bodies or a head over 16 KiB: the http transport sends neither."""

    def __init__(self):
        self.buf, self.body, self.lines, self.bad = b"", 0, [], None

    def feed(self, d):
        while d and self.bad is None:
            if self.body:
                n = min(self.body, len(d))
                self.body -= n
                d = d[n:]
                continue
            self.buf += d
            d = b""
            i = self.buf.find(b"\r\n\r\n")
            if i < 0:
                if len(self.buf) > 16384:
                    self.bad = "no end of head in 16 KiB: %r" % self.buf[:60]
                break
            head, d, self.buf = self.buf[:i], self.buf[i + 4:], b""
            self.lines.append(head.split(b"\r\n", 1)[0][:120].decode(errors="replace"))
            if re.search(rb"(?im)^transfer-encoding:[^\r\n]*chunked", head):
                self.bad = "chunked body after %r" % self.lines[-1]
                break
            cl = re.search(rb"(?im)^content-length:[ \t]*(\d+)[ \t]*(?:\r|$)", head)
            self.body = int(cl.group(1)) if cl else 0


def hello_proxy(target_port, http=False):
    """A loopback TCP proxy (threads in the bench process) in front of the burrow server: relays every
    connection unchanged and reads the cipher suite from the first TLS ServerHello the server sends.
    Returns (port, state); state["suite"] is set once seen; state["heads"] has, per connection in the order
    accepted, the first HEAD_BYTES bytes each way ({"up": client to server, "down": server to client}).
    http: also the first line of every HTTP request (head["up_http"], an HttpScan) and response
    (head["down_http"]) on each connection, read through the whole connection."""
    import threading
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    st = {"suite": None, "seen": threading.Event(), "ls": ls, "heads": []}

    def parse(buf):
        # record: type 22, version(2), length(2); handshake: type 2 (ServerHello), length(3), version(2),
        # random(32), session id (1 + n), cipher suite(2)
        if len(buf) < 5 + 4 + 2 + 32 + 1 or buf[0] != 22 or buf[5] != 2:
            return None
        sid = buf[5 + 4 + 2 + 32]
        off = 5 + 4 + 2 + 32 + 1 + sid
        if len(buf) < off + 2:
            return None
        return (buf[off] << 8) | buf[off + 1]

    def pump(a, b, watch, head, way):
        buf = b""
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                if len(head[way]) < HEAD_BYTES:      # kept before it is relayed: seen once the peer has it
                    head[way] += d[:HEAD_BYTES - len(head[way])]
                if http:
                    head[way + "_http"].feed(d)
                if watch and st["suite"] is None and len(buf) < 512:
                    buf += d
                    v = parse(buf)
                    if v is not None:
                        st["suite"] = v
                        st["seen"].set()
                b.sendall(d)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def serve():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", target_port), timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            head = {"up": b"", "down": b"", "up_http": HttpScan(), "down_http": HttpScan()}
            st["heads"].append(head)
            threading.Thread(target=pump, args=(c, u, False, head, "up"), daemon=True).start()
            threading.Thread(target=pump, args=(u, c, True, head, "down"), daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()
    return ls.getsockname()[1], st


def tls_cipher_probe(cfg, svc, key, tls):
    """The cipher suite a burrow TLS client started with these flags negotiates: a separate server and
    client (--pool 0) with a proxy between them that reads the ServerHello. None when not seen."""
    holder = {}

    def via(sport):
        holder["port"], holder["st"] = hello_proxy(sport)
        return holder["port"]
    b = Burrow({"echo": svc["echo"]}, cfg.tmp, cfg.bin, name="probe-" + key.replace(" ", "-"), extra=["--pool", "0"],
               services=("echo",), tls=tls, server_via=via)
    try:
        holder["st"]["seen"].wait(3)
        v = holder["st"]["suite"]
    finally:
        b.stop()
        holder["st"]["ls"].close()
    return None if v is None else TLS_SUITES.get(v, "0x%04x" % v)


def measure_tls_pool(cfg, svc, res):
    """RSS of both burrow processes at idle with client --pool 0 and --pool TLS_POOL_N (the data connections
    open and idle, nothing else): (RSS@N - RSS@0) / N per process = RSS per idle data connection, for TLS
    (default suite, chacha20) and plain TCP (reference), and with the ws group for ws and wss (TLS aes and
    plain as their references). The median of 3 rounds (1 with --quick)."""
    variants = [("plain", None, None), ("tls aes", [], None), ("tls chacha", TLS_CHACHA, None),
                ("ws", None, "ws"), ("wss", None, "wss")]
    out = res.setdefault("tls_pool", {"n": TLS_POOL_N})
    rounds = 1 if cfg.quick else 3
    samples = {}
    for rnd in range(rounds):
        for key, tls, transport in variants:
            if key.startswith("tls") and not (tls_selected(cfg, key) or (key == "tls aes" and ws_selected(cfg))):
                continue
            if key.startswith("ws") and not ws_selected(cfg):
                continue
            # plain --pool 8 too: the default client's idle RSS without TLS, for runs without the plain rows
            for pool in (0, TLS_POOL_N) + ((8,) if key == "plain" else ()):
                try:
                    b = Burrow({"echo": svc["echo"]}, cfg.tmp, cfg.bin, name="pool-%s-%d" % (key.replace(" ", "-"), pool),
                               extra=["--pool", str(pool)], services=("echo",), tls=tls, transport=transport)
                except Exception as e:
                    anomaly("idle data connections (%s, --pool %d): burrow did not start: %s"
                            % (key, pool, str(e).splitlines()[0]))
                    for p in list(STARTED):
                        if p.argv[0] == cfg.bin:
                            stop(p)
                    continue
                try:
                    time.sleep(0.5)    # the handshakes are done ("data connections ready"); let buffers settle
                    m = b.mem_pids()
                    one = {k: rss_kb(v) for k, v in m.items()}
                    one["client_sockets"] = fd_kinds(m["client"]).get("socket", 0)
                    samples.setdefault(key, {}).setdefault(pool, []).append(one)
                    b.check_alive("idle pool %d" % pool)
                finally:
                    b.stop()
        log("idle data connections round %d: %s" % (rnd + 1, {k: {p: v[-1] for p, v in d.items()}
                                                              for k, d in samples.items()}))
    for key, d in samples.items():
        o = out.setdefault(key, {})
        for pool, lst in d.items():
            o["rss_pool%d" % pool] = {role: statistics.median(x[role] for x in lst) for role in ("server", "client")}
            o["rss_pool%d_runs" % pool] = lst
        a, b = o.get("rss_pool0"), o.get("rss_pool%d" % TLS_POOL_N)
        if a and b:
            o["kb_per_data_conn"] = {role: (b[role] - a[role]) / TLS_POOL_N for role in ("server", "client")}
            log("idle data connections %s: %s KB each" % (key, {k: round(v, 1) for k, v in
                                                                 o["kb_per_data_conn"].items()}))


def tls_selected(cfg, key):
    """key: 'tls aes' / 'ssh chacha' ...; selected by --only tls, tls-burrow or tls-ssh."""
    kind = "tls-burrow" if key.startswith("tls") else "tls-ssh"
    return "tls" in cfg.only_set or kind in cfg.only_set


# --------------------------------------------------------------------------- web transports (WebSocket, http)

# the web group: burrow with the client on --transport ws / wss (`--only ws`) and http / https (`--only http`;
# `--only web` = both); the key is the transport. Each row against its reference measured in the same run:
# plain burrow ("burrow") for ws and http, burrow TLS aes128-gcm ("tls aes", same suite) for wss and https
WS_PEERS = ("ws", "wss")
HTTP_PEERS = ("http", "https")
WEB_TLS = ("wss", "https")        # the rows over TLS (reference: burrow TLS aes)
WS_WRONG_PATH = "/bench-no-such-path"
WS_TARGET = 0.80      # wss throughput >= 80% of TLS throughput (issue 10)
HTTP_TARGET_BPS = 1e9           # http single stream >= 1 Gbit/s on loopback
HTTP_TARGET_RTT_US = 2000       # 64 B ping-pong < 2 ms, round trip (sockperf's figures are one-way = RTT/2)
HTTP_TARGET_IDLE_PCT = 1.0      # an idle connected http client < 1% of one core
HTTP_POLL_S = 20                # the server's long poll (src/transport/httpt_server.c HTTPT_POLL_MS)


def ws_selected(cfg):
    return "ws" in cfg.only_set or "web" in cfg.only_set


def http_selected(cfg):
    return "http" in cfg.only_set or "web" in cfg.only_set


def web_peers(cfg):
    return (WS_PEERS if ws_selected(cfg) else ()) + (HTTP_PEERS if http_selected(cfg) else ())


def ws_transport_probe(cfg, svc, key):
    """What a client started with --transport KEY (ws, wss, http, https) sends: a separate server and client
    (--pool 2) with hello_proxy between them, which keeps the start of every connection (control and data)
    each way. ws: every connection must open with an HTTP upgrade (GET / HTTP/1.1 ... Upgrade: websocket)
    answered by 'HTTP/1.1 101'; http: every connection must carry only 'POST /?b=' and 'GET /?b=' requests
    answered by 'HTTP/1.1 200' (read through each connection; one echo goes through the tunnel first), at least
    one POST and one GET answered; wss and https: with a TLS ClientHello answered by a ServerHello (whose suite
    is read). Returns {"conns", "ok", "first_up", "first_down", "suite"} (+ for http "posts", "gets",
    "answers": {status line: count}, "bad": [why, per connection that is not good])."""
    holder = {}

    def via(sport):
        holder["port"], holder["st"] = hello_proxy(sport, http=(key == "http"))
        return holder["port"]
    b = Burrow({"echo": svc["echo"]}, cfg.tmp, cfg.bin, name="probe-" + key, extra=["--pool", "2"],
               services=("echo",), transport=key, server_via=via)
    echoed = None
    try:
        if key in WEB_TLS:
            holder["st"]["seen"].wait(3)
        if key in HTTP_PEERS:
            # bytes both ways through the tunnel (POSTs and GETs with data), then let the proxy see the answers
            socks, echoed, _ = open_many(b.ports["echo"], 1, timeout=10)
            for x in socks:
                x.close()
            time.sleep(0.3)
        heads = list(holder["st"]["heads"])
        suite = holder["st"]["suite"]
    finally:
        b.stop()
        holder["st"]["ls"].close()

    def why_bad(h):
        """None when the connection looks as it must, else what is wrong with it"""
        up, down = h["up"], h["down"]
        if key == "ws":
            ok = (up.startswith(b"GET / HTTP/1.1\r\n") and re.search(rb"(?i)\r\nupgrade:[ \t]*websocket\r\n", up)
                  is not None and down.startswith(b"HTTP/1.1 101"))
            return None if ok else "not an upgrade answered by 101"
        if key == "http":
            reqs, resps = h["up_http"].lines, h["down_http"].lines
            if h["up_http"].bad or h["down_http"].bad:
                return h["up_http"].bad or h["down_http"].bad
            if not reqs:
                return "no request (first bytes %r)" % up[:24]
            other = [r for r in reqs if not (r.startswith("POST /?b=") or r.startswith("GET /?b="))]
            if other:
                return "request %r" % other[0]
            wrong = [r for r in resps if not r.startswith("HTTP/1.1 200")]
            if wrong:
                return "answer %r" % wrong[0]
            # the last request may be a long poll still open when the pair was stopped
            if len(resps) < len(reqs) - 1 or len(resps) > len(reqs):
                return "%d requests, %d answers" % (len(reqs), len(resps))
            return None
        ok = len(up) > 5 and len(down) > 5 and up[0] == 22 and up[5] == 1 and down[0] == 22 and down[5] == 2
        return None if ok else "not a TLS handshake"

    def first(b):
        """what a connection opened with, short: the first line of HTTP, else the kind of bytes"""
        if not b:
            return "(nothing)"
        if b[0] == 22:
            return "TLS handshake"
        line = b.split(b"\r\n", 1)[0][:60]
        return line.decode() if all(32 <= c < 127 for c in line) else "binary " + b[:16].hex()
    bad = [w for w in (why_bad(h) for h in heads) if w]
    out = {"conns": len(heads), "ok": len(heads) - len(bad), "bad": bad,
           "first_up": first(heads[0]["up"]) if heads else None, "first_down": first(heads[0]["down"]) if heads else None,
           "suite": None if suite is None else TLS_SUITES.get(suite, "0x%04x" % suite)}
    if key == "http":
        reqs = [r for h in heads for r in h["up_http"].lines]
        out["posts"] = sum(1 for r in reqs if r.startswith("POST /?b="))
        out["gets"] = sum(1 for r in reqs if r.startswith("GET /?b="))
        out["answers"] = {}
        for h in heads:
            for r in h["down_http"].lines:
                k = " ".join(r.split()[:2])
                out["answers"][k] = out["answers"].get(k, 0) + 1
        out["echoed"] = echoed
    return out


def ws_wrong_path_refused(cfg, svc, key):
    """A server with --path WS_WRONG_PATH and a client on --transport KEY (default path /): the server must
    refuse what the client sends with 404. For wss and https this shows the client speaks HTTP inside TLS,
    which the wire (hello_proxy) cannot. wss: the client must log 'upgrade refused ... (404)'; https: the server
    must log 'POST /...: no such path (404)' (the client logs a refused request only at debug level), and the
    client is then watched for 2 s: a crash (killed by a signal) is an anomaly. Returns (ok, detail, client)
    where client is None (alive) or what happened to it."""
    env = {"BURROW_TOKEN": TOKEN}
    tag = "probe-path-" + key
    sd = tempfile.mkdtemp(prefix="state-%s-" % tag, dir=cfg.tmp)
    srv = spawn([cfg.bin, "server", "-l", "127.0.0.1:0", "--state-dir", sd, "--path", WS_WRONG_PATH],
                os.path.join(cfg.tmp, "%s-server.log" % tag), env)
    cli = None
    try:
        port = wait_log(srv, r"server listening on [\d.]+:(\d+)").group(1)
        argv = [cfg.bin, "client", "-s", "127.0.0.1:%s" % port, "--transport", key, "-R", "0:127.0.0.1:%d" % svc["echo"]]
        if key in WEB_TLS:
            argv += ["--fingerprint", wait_log(srv, r"tls: server key (SHA256:\S+)").group(1)]
        cli = spawn(argv, os.path.join(cfg.tmp, "%s-client.log" % tag), env)
        if key in ("ws", "wss"):
            try:
                m = wait_log(cli, r"[^\n]*upgrade refused[^\n]*\(404\)[^\n]*", 5)
                return True, m.group(0).split("  ", 1)[-1].strip(), None
            except RuntimeError as e:
                return False, str(e).splitlines()[0], None
        try:
            m = wait_log(srv, r"[^\n]*(POST|GET) /\S*: no such path \(404\)[^\n]*", 5)
            ok, detail = True, "server: " + m.group(0).split("  ", 1)[-1].strip()
        except RuntimeError as e:
            ok, detail = False, str(e).splitlines()[0]
        end = time.time() + 2.0
        while time.time() < end and cli.poll() is None:
            time.sleep(0.05)
        fate = None
        if cli.poll() is not None:
            rc = cli.returncode
            fate = ("killed by %s" % signal.Signals(-rc).name if rc < 0 else "exited with %d" % rc) + \
                "; its log ends:\n" + tail(cli.logpath, 4)
        return ok, detail, fate
    finally:
        stop(cli)
        stop(srv)


def check_ws_transport(cfg, svc, key, res):
    """Before a web row: the probe (and for wss and https the suite and the wrong-path check); mismatches are
    anomalies. The result goes to res[key]["transport_check"]."""
    want_suite = "TLS_AES_128_GCM_SHA256"      # the reference row (burrow TLS aes) negotiates this
    chk = res.setdefault(key, {}).setdefault("transport_check", {})
    try:
        chk.update(ws_transport_probe(cfg, svc, key))
    except Exception as e:
        anomaly("%s: transport probe failed: %s" % (key, str(e).splitlines()[0]))
        for p in list(STARTED):
            if p.argv[0] == cfg.bin:
                stop(p)
        return
    what = {"ws": "a WebSocket upgrade answered by 101",
            "http": "only 'POST /?b=' and 'GET /?b=' requests answered by 'HTTP/1.1 200'"}.get(key, "a TLS handshake")
    if not chk["conns"] or chk["ok"] != chk["conns"]:
        anomaly("%s: %d of %d connections (control and data) %s %s (first: %r -> %r)%s"
                % (key, chk["ok"], chk["conns"], "carried" if key == "http" else "opened as", what, chk["first_up"],
                   chk["first_down"], "; " + "; ".join(chk["bad"][:3]) if chk["bad"] else ""))
    if key == "http":
        if not (chk["posts"] and chk["gets"] and chk["answers"].get("HTTP/1.1 200")):
            anomaly("http: expected POST /?b= and GET /?b= requests answered 'HTTP/1.1 200', saw %d POST, %d GET, "
                    "answers %s" % (chk["posts"], chk["gets"], chk["answers"]))
        if chk.get("echoed") != 1:
            anomaly("http: the probe pair did not echo a line through its tunnel")
    if key in WEB_TLS:
        if chk["suite"] != want_suite:
            anomaly("%s: negotiated %s, expected %s (the suite of the TLS row it is compared with)"
                    % (key, chk["suite"], want_suite))
        try:
            ok, detail, fate = ws_wrong_path_refused(cfg, svc, key)
        except Exception as e:
            ok, detail, fate = False, str(e).splitlines()[0], None
        chk["wrong_path_404"], chk["wrong_path_detail"] = ok, detail
        if not ok:
            anomaly("%s: a server with --path %s did not refuse the client with 404 (%s): is the client "
                    "speaking %s inside TLS?" % (key, WS_WRONG_PATH, detail, "WebSocket" if key == "wss" else "HTTP"))
        if fate is not None:
            chk["wrong_path_client"] = fate.splitlines()[0]
            if "killed by" in fate:
                anomaly("%s: refused with 404 (a server with --path %s), the client %s" % (key, WS_WRONG_PATH, fate))
            else:
                NOTES.append("%s: the client refused with 404 %s" % (key, fate))
    if key == "http":
        desc = "HTTP (%d POST, %d GET; answers %s)" % (chk["posts"], chk["gets"], ", ".join(
            "%s x%d" % kv for kv in sorted(chk["answers"].items())))
    else:
        desc = "upgraded (GET / -> 101)" if key == "ws" else "TLS"
    log("%s: %d/%d connections %s%s%s" % (key, chk["ok"], chk["conns"], desc,
                                         ", suite %s" % chk["suite"] if key in WEB_TLS else "",
                                         ", --path %s refused with 404" % WS_WRONG_PATH if chk.get("wrong_path_404")
                                         else ""))


def measure_idle_cpu(peer, cfg, r):
    """CPU of the idle connected pair (tunnels registered, no traffic) over cfg.idle_secs, longer than the
    server's long poll (HTTP_POLL_S), so that at least one poll ends and is renewed in it: utime+stime of each
    process from /proc as % of one core. Also the client's TCP connections at start and end."""
    pids = peer.mem_pids()
    t0 = time.time()
    c0 = {k: cpu_ticks(v) for k, v in pids.items()}
    n0 = {k: sched_ns(v[0]) for k, v in pids.items()}
    io0 = {k: proc_io(v[0]) for k, v in pids.items()}
    s0 = fd_kinds(pids["client"]).get("socket", 0)
    time.sleep(cfg.idle_secs)
    wall = time.time() - t0
    c1 = {k: cpu_ticks(v) for k, v in pids.items()}
    n1 = {k: sched_ns(v[0]) for k, v in pids.items()}
    io1 = {k: proc_io(v[0]) for k, v in pids.items()}
    r["idle_cpu_secs"] = wall
    r["idle_cpu_pct"] = {k: (c1[k] - c0[k]) / CLK_TCK / wall * 100 for k in pids}
    # the same from the scheduler's ns clock, and the reads and writes (calls, bytes) in the window: the polls
    r["idle_sched_pct"] = {k: (n1[k] - n0[k]) / 1e9 / wall * 100 for k in pids if n0[k] is not None and n1[k] is not None}
    r["idle_io"] = {k: {f: io1[k][f] - io0[k][f] for f in io1[k] if f in io0[k]} for k in pids}
    r["idle_client_sockets"] = [s0, fd_kinds(pids["client"]).get("socket", 0)]
    log("%-7s idle %.0f s: CPU %s%% of one core (schedstat %s%%); I/O %s" % (
        peer.name, wall, {k: round(v, 2) for k, v in r["idle_cpu_pct"].items()},
        {k: round(v, 3) for k, v in r["idle_sched_pct"].items()}, r["idle_io"]))


# --------------------------------------------------------------------------- forwarding (-D)

# the forward group (`--only forward`): burrow's ssh-style dynamic forward (client -D, a SOCKS5 and HTTP CONNECT
# proxy whose connections exit at the server, which dials them under --forward-to) against ssh -D to the bench's
# own sshd (default cipher, and -c aes128-gcm@openssh.com), and a direct row, measured in the same run with the
# same client: SOCKS5 setups to the echo service, then one stream to a sink process (FORWARD section)
FWD_SSH = (("ssh -D", None), ("ssh -D aes128-gcm", "aes128-gcm@openssh.com"))
FWD_ROWS = ("direct", "burrow -D") + tuple(k for k, _ in FWD_SSH)
FWD_TARGET = 2.0          # burrow -D single stream >= 2x ssh -D (default cipher)
FWD_FILE = 4 << 20        # the sender's file of zeros, sent again and again with sendfile()
FWD_SETUPS_QUICK, FWD_SETUPS_FULL = 500, 1000


def forward_selected(cfg):
    return "forward" in cfg.only_set


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            raise RuntimeError("EOF after %d of %d bytes (%r)" % (len(b), n, b[:32]))
        b += d
    return b


def socks5_open(proxy_port, dport, timeout=10.0):
    """A SOCKS5 CONNECT (no auth) to 127.0.0.1:dport through the proxy, as a client such as curl does it: the
    greeting, then, once the method is chosen, the request. Returns the socket once the success reply is read."""
    s = socket.create_connection(("127.0.0.1", proxy_port), timeout=timeout)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"\x05\x01\x00")
        m = recv_exact(s, 2)
        if m != b"\x05\x00":
            raise RuntimeError("SOCKS5 method answer %r" % m)
        s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + dport.to_bytes(2, "big"))
        h = recv_exact(s, 4)
        if h[0] != 5 or h[1] != 0:
            raise RuntimeError("SOCKS5 reply %d" % h[1])
        if h[3] == 1:          # the bound address: IPv4, IPv6 or a name, then the port
            recv_exact(s, 4 + 2)
        elif h[3] == 4:
            recv_exact(s, 16 + 2)
        elif h[3] == 3:
            recv_exact(s, recv_exact(s, 1)[0] + 2)
        else:
            raise RuntimeError("SOCKS5 reply address type %d" % h[3])
    except BaseException:
        s.close()
        raise
    return s


def http_connect_open(proxy_port, dport, timeout=10.0):
    """An HTTP CONNECT to 127.0.0.1:dport through the proxy; returns the socket once the 200 head is read."""
    s = socket.create_connection(("127.0.0.1", proxy_port), timeout=timeout)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (dport, dport))
        head = b""
        while not head.endswith(b"\r\n\r\n"):      # the echo service sends nothing first: no byte past the head
            d = s.recv(1)
            if not d:
                raise RuntimeError("EOF in the CONNECT answer %r" % head[:60])
            head += d
            if len(head) > 4096:
                raise RuntimeError("CONNECT answer head over 4 KiB")
        if not re.match(rb"HTTP/1\.[01] 200", head):
            raise RuntimeError("CONNECT answered %r" % head.split(b"\r\n")[0][:60])
    except BaseException:
        s.close()
        raise
    return s


def fwd_open(row, how, dport):
    if row.proxy_port is None:
        s = socket.create_connection(("127.0.0.1", dport), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s
    return (http_connect_open if how == "http" else socks5_open)(row.proxy_port, dport)


def pct_of(sorted_vals, q):
    if not sorted_vals:
        return None
    return sorted_vals[min(len(sorted_vals) - 1, int(round(q / 100 * (len(sorted_vals) - 1))))]


def measure_setups(row, n, how="socks5"):
    """n sequential setups to the echo service through the row's proxy: the time from connect() to the proxy's
    success reply (SOCKS5: the 10-byte reply; HTTP: the 200 head; direct: connect() returning), and to the first
    byte echoed back (1 byte written right after the reply: the connection is usable end to end). usec."""
    setup, echo, errs = [], [], {}
    for i in range(n):
        t0 = time.perf_counter()
        try:
            s = fwd_open(row, how, SERVICES["echo"])
        except Exception as e:
            k = str(e)[:80]
            errs[k] = errs.get(k, 0) + 1
            if sum(errs.values()) > 20:
                break
            continue
        t1 = time.perf_counter()
        try:
            s.sendall(b"x")
            recv_exact(s, 1)
            echo.append((time.perf_counter() - t0) * 1e6)
        except Exception as e:
            k = "echo: " + str(e)[:80]
            errs[k] = errs.get(k, 0) + 1
        finally:
            s.close()
        setup.append((t1 - t0) * 1e6)
    out = {"n": n, "ok": len(setup), "errors": errs}
    for key, vals in (("setup", setup), ("echo", echo)):
        v = sorted(vals)
        if v:
            out[key] = {"p50": statistics.median(v), "p99": pct_of(v, 99), "avg": statistics.mean(v), "max": v[-1]}
    return out


def drain(sock):
    """Read sock to EOF, spliced into a pipe and from it to /dev/null (no copy to user space; recv_into a 1 MiB
    buffer where os.splice is missing). Returns the byte count."""
    n = 0
    if hasattr(os, "splice"):
        r, w = os.pipe()
        null = os.open("/dev/null", os.O_WRONLY)
        try:
            while True:
                k = os.splice(sock.fileno(), w, 1 << 20)
                if not k:
                    return n
                n += k
                while k:
                    k -= os.splice(r, null, k)
        finally:
            for fd in (r, w, null):
                os.close(fd)
    buf = bytearray(1 << 20)
    while True:
        k = sock.recv_into(buf)
        if not k:
            return n
        n += k


def pour(sock, src, secs):
    """sendfile() the FWD_FILE bytes of src to sock again and again for secs (no copy from user space). sock is
    blocking, with SO_SNDTIMEO set so that a stall ends in an error. Returns (bytes, per-second rates)."""
    ivals = []
    t0 = mark = time.perf_counter()
    end, n, mark_n = t0 + secs, 0, 0
    while True:
        off = 0
        while off < FWD_FILE:
            k = os.sendfile(sock.fileno(), src, off, FWD_FILE - off)
            if k <= 0:
                raise RuntimeError("sendfile returned %d" % k)
            off += k
        n += FWD_FILE
        now = time.perf_counter()
        if now - mark >= 1.0:
            ivals.append((n - mark_n) * 8 / (now - mark))
            mark, mark_n = now, n
        if now >= end:
            return n, ivals


def send_timeout(sock, secs=30):
    sock.settimeout(None)     # os.sendfile wants a blocking socket; a stall ends by SO_SNDTIMEO instead
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, secs.to_bytes(8, sys.byteorder) + bytes(8))


def fwd_peer(ports):
    """A separate process, the far end of the stream tests, on two ports (SINK,SOURCE). The sink reads each
    connection to EOF (drain: spliced to /dev/null), then answers with the byte count (8 bytes, big endian) and
    closes: the sender's end of the transfer, and a check that every byte arrived. The source reads a line with a
    number of seconds, then sends zeros (pour: sendfile of a memfd) for that long and closes."""
    import threading
    raise_nofile()
    zeros = os.memfd_create("bench-zeros")
    os.write(zeros, bytes(FWD_FILE))
    lss = []
    for port in ports:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", port))
        ls.listen(64)
        lss.append(ls)
    print("sink listening on %d, source on %d" % tuple(ports), flush=True)

    def sink(c):
        n = 0
        try:
            n = drain(c)
            c.sendall(n.to_bytes(8, "big"))
        except OSError as e:
            print("sink: %s after %d bytes" % (e, n), flush=True)
        c.close()

    def source(c):
        try:
            line = b""
            while not line.endswith(b"\n"):
                d = c.recv(64)
                if not d:
                    raise OSError("EOF before the line")
                line += d
            send_timeout(c)
            pour(c, zeros, float(line))
            c.shutdown(socket.SHUT_WR)
        except (OSError, ValueError) as e:
            print("source: %s" % e, flush=True)
        c.close()

    def serve(ls, what):
        while True:
            c, _ = ls.accept()
            threading.Thread(target=what, args=(c,), daemon=True).start()
    threading.Thread(target=serve, args=(lss[1], source), daemon=True).start()
    serve(lss[0], sink)


def thread_cpu():
    ru = resource.getrusage(resource.RUSAGE_THREAD)
    return ru.ru_utime + ru.ru_stime


def fwd_stream(row, secs, down=False):
    """One stream through the row's proxy (SOCKS5). Up (the default): to the sink, pour() for secs, then shut down
    the write side and wait for the sink's byte count; bps = bytes / (first write .. the sink's answer, which comes
    after the last byte). Down: from the source, which pours for secs once asked; bps = bytes / (the request ..
    EOF), the bytes spliced to /dev/null here. Neither end copies to or from user space, so neither is what limits
    the stream. Returns ({"bps", "bytes", "secs", "min_interval_bps", "sender_cpu", "sink_cpu"}, None) or (None,
    error); sender / sink = the CPU of the sending and the receiving end, % of a core."""
    far = SERVICES["fwd_peer_proc"].pid
    try:
        s = fwd_open(row, "socks5", SERVICES["fwd_source" if down else "fwd_sink"])
    except Exception as e:
        return None, "setup: %s" % e
    ivals = []
    src = None
    try:
        k0, c0 = cpu_ticks([far]), thread_cpu()
        t0 = time.perf_counter()
        if down:
            s.sendall(b"%g\n" % secs)
            s.settimeout(None)         # os.splice wants a blocking socket; a stall ends by SO_RCVTIMEO instead
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, (int(secs) + 30).to_bytes(8, sys.byteorder) + bytes(8))
            n = got = drain(s)
        else:
            send_timeout(s)
            src = os.open(SERVICES["fwd_file"], os.O_RDONLY)
            n, ivals = pour(s, src, secs)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(30)
            got = int.from_bytes(recv_exact(s, 8), "big")
        t1 = time.perf_counter()
        c1, k1 = thread_cpu(), cpu_ticks([far])
    except Exception as e:
        return None, "transfer: %r" % e
    finally:
        s.close()
        if src is not None:
            os.close(src)
    if got != n:
        return None, "the sink got %d bytes of %d sent" % (got, n)
    if down and n == 0:
        return None, "no bytes from the source"
    wall = t1 - t0
    here, there = (c1 - c0) / wall * 100, (k1 - k0) / CLK_TCK / wall * 100
    return {"bps": n * 8 / wall, "bytes": n, "secs": wall, "min_interval_bps": min(ivals) if ivals else None,
            "sender_cpu": there if down else here, "sink_cpu": here if down else there}, None


class BurrowD(Burrow):
    """burrow server --forward-to '*:*' and burrow client -D 127.0.0.1:0: proxy_port is the client's -D port."""

    def __init__(self, tmp, binpath, name="burrow -D", timeout=10.0):
        if not (os.path.isfile(binpath) and os.access(binpath, os.X_OK)):
            raise RuntimeError("binary %s not found" % binpath)
        if not (bin_has(binpath, "server", "--forward-to") and bin_has(binpath, "client", "-D SPEC")):
            raise RuntimeError("binary %s has no dynamic forwarding (no client -D, server --forward-to)" % binpath)
        self.name, self.transport, self.fingerprint, self.client = name, "tcp", None, None
        env = {"BURROW_TOKEN": TOKEN}
        sargs = shlex.split(os.environ.get("BURROW_SERVER_ARGS", ""))
        cargs = shlex.split(os.environ.get("BURROW_CLIENT_ARGS", ""))
        tag = name.replace(" ", "")
        state = []
        if bin_has(binpath, "server", "--state-dir"):
            self.state_dir = tempfile.mkdtemp(prefix="state-%s-" % tag, dir=tmp)
            state = ["--state-dir", self.state_dir]
        self.server = spawn([binpath, "server", "-l", "127.0.0.1:0", "--forward-to", "*:*"] + state + sargs,
                            os.path.join(tmp, "%s-server.log" % tag), env)
        sport = int(wait_log(self.server, r"server listening on [\d.]+:(\d+)", timeout).group(1))
        self.client = spawn([binpath, "client", "-s", "127.0.0.1:%d" % sport, "-D", "127.0.0.1:0"] + cargs,
                            os.path.join(tmp, "%s-client.log" % tag), env)
        m = wait_log(self.client, r"tunnel d1: listening on (\S+):(\d+) -> SOCKS5 and HTTP proxy", timeout)
        self.proxy_port = int(m.group(2))
        wait_listen(self.proxy_port, proc=self.client, timeout=timeout)
        self.pool = int(cargs[cargs.index("--pool") + 1]) if "--pool" in cargs else 8
        if self.pool != 0:
            try:
                m = wait_log(self.client, r"(\d+) data connections ready", timeout)
                if int(m.group(1)) < self.pool:
                    anomaly("%s: %s data connections ready, --pool %d" % (name, m.group(1), self.pool))
            except RuntimeError as e:
                anomaly("%s: pool not ready: %s" % (name, str(e).splitlines()[0]))

    def moved(self):
        """Streams the server moved to a dedicated data connection (its info lines)."""
        try:
            with open(self.server.logpath, "rb") as f:
                return f.read().count(b"moved to a dedicated connection after")
        except OSError:
            return None


class SshD:
    """ssh -N -D 127.0.0.1:PORT to the bench's own sshd (start_sshd), default cipher or ssh -c CIPHER."""

    def __init__(self, tmp, name="ssh -D", cipher=None):
        self.name = name
        d, self.sshd, sshd_port = start_sshd(os.path.join(tmp, "ssh-D" if cipher is None else
                                                          "ssh-D-" + cipher.split("@")[0]))
        self.proxy_port = free_port()
        argv = ["ssh", "-N", "-F", "/dev/null"] + (["-c", cipher] if cipher else []) + \
            ["-D", "127.0.0.1:%d" % self.proxy_port] + ssh_login_args(d, sshd_port)
        self.ssh = spawn(argv, os.path.join(d, "ssh.log"))
        wait_listen(self.proxy_port, timeout=15, proc=self.ssh)
        self.cipher = ssh_cipher(cipher)

    def cpu_pids(self):
        return [self.sshd.pid, self.ssh.pid]

    def mem_pids(self):
        return {"sshd": [p for p in tree([self.sshd.pid]) if p != self.sshd.pid], "ssh": [self.ssh.pid]}

    def check_alive(self, when):
        if self.ssh.poll() is not None:
            anomaly("%s: ssh exited (rc=%s) during %s\n%s" % (self.name, self.ssh.returncode, when, tail(self.ssh.logpath)))
            return False
        return True

    def stop(self):
        stop(self.ssh)
        stop(self.sshd)


class DirectD:
    name, proxy_port = "direct", None

    def cpu_pids(self):
        return []

    def check_alive(self, when):
        return True

    def stop(self):
        pass


def measure_forward(cfg, res):
    """The FORWARD rows, all started first and measured in turns (setups, then the throughput runs round-robin,
    so a change in the machine's load falls on every row alike)."""
    out = res.setdefault("forward", {})
    if "fwd_sink" not in SERVICES:
        SERVICES["fwd_sink"], SERVICES["fwd_source"] = free_port(), free_port()
        p = spawn(["/usr/bin/python3", os.path.abspath(__file__), "--fwd-peer",
                   "%d,%d" % (SERVICES["fwd_sink"], SERVICES["fwd_source"])], os.path.join(cfg.tmp, "fwd-peer.log"))
        SERVICES["fwd_peer_proc"] = p
        wait_listen(SERVICES["fwd_sink"], proc=p)
        wait_listen(SERVICES["fwd_source"], proc=p)
        SERVICES["fwd_file"] = os.path.join(cfg.tmp, "fwd-zeros")
        with open(SERVICES["fwd_file"], "wb") as f:
            f.write(bytes(FWD_FILE))
    makers = [("direct", DirectD), ("burrow -D", lambda: BurrowD(cfg.tmp, cfg.bin))] + \
        [(k, lambda k=k, c=c: SshD(cfg.tmp, name=k, cipher=c)) for k, c in FWD_SSH]
    rows = []
    for name, make in makers:
        try:
            rows.append(make())
        except Exception as e:
            anomaly("%s unavailable: %s" % (name, e))
            for p in list(STARTED):
                if p.argv[0] == cfg.bin:
                    stop(p)
            continue
        r = out.setdefault(name, {})
        if isinstance(rows[-1], SshD):
            r["cipher"] = rows[-1].cipher
        if hasattr(rows[-1], "mem_pids"):
            r["rss_idle"] = {k: rss_kb(v) for k, v in rows[-1].mem_pids().items()}
    n = FWD_SETUPS_QUICK if cfg.quick else FWD_SETUPS_FULL
    try:
        for row in rows:
            r = out[row.name]
            for how in ("socks5", "http") if isinstance(row, BurrowD) else ("socks5",):
                if how == "http" and row.proxy_port is None:
                    continue
                t = time.time()
                m = measure_setups(row, n, how)
                r["setups" if how == "socks5" else "setups_http"] = m
                if m["ok"] < n or m["errors"]:
                    anomaly("%s %s setups: %d/%d set up, errors %s" % (row.name, how, m["ok"], n, m["errors"]))
                log("%-17s %d %s setups in %.1f s: reply p50 %s p99 %s us, first echo p50 %s p99 %s us" % (
                    row.name, n, how, time.time() - t, fmt(m.get("setup", {}).get("p50"), "%.0f"),
                    fmt(m.get("setup", {}).get("p99"), "%.0f"), fmt(m.get("echo", {}).get("p50"), "%.0f"),
                    fmt(m.get("echo", {}).get("p99"), "%.0f")))
            row.check_alive("%s setups" % row.name)
        # key suffix "" = up (the -D client's side sends: to the sink), "_down" = down (from the source)
        acc = {(row.name, d): {"vals": [], "bytes": 0, "cpu": 0, "cpu_each": [0] * len(row.cpu_pids()), "runs": []}
               for row in rows for d in ("", "_down")}
        for run in range(cfg.runs):
            for row in rows:
                for d in ("", "_down"):
                    a = acc[(row.name, d)]
                    what = "stream%s run %d" % (d.replace("_", " "), run + 1)
                    pids = row.cpu_pids()
                    c0, e0 = cpu_ticks(pids) if pids else 0, [cpu_ticks([p]) for p in pids]
                    o, err = fwd_stream(row, cfg.secs, down=bool(d))
                    if err:
                        anomaly("%s %s: %s" % (row.name, what, err))
                        row.check_alive(what)
                        continue
                    if pids:
                        a["cpu"] += cpu_ticks(pids) - c0
                        a["cpu_each"] = [x + cpu_ticks([p]) - y for x, p, y in zip(a["cpu_each"], pids, e0)]
                    a["vals"].append(o["bps"])
                    a["bytes"] += o["bytes"]
                    a["runs"].append(o)
                    if o["min_interval_bps"] is not None and o["min_interval_bps"] < 0.05 * o["bps"]:
                        anomaly("%s %s: stall, a 1 s interval moved %.3f Gbit/s (average %.2f)"
                                % (row.name, what, o["min_interval_bps"] / 1e9, o["bps"] / 1e9))
                    log("%-17s %-18s: %6.2f Gbit/s (%.0f MB in %.2f s; sender %.0f%%, receiver %.0f%% of a core)" % (
                        row.name, what, o["bps"] / 1e9, o["bytes"] / 1e6, o["secs"], o["sender_cpu"], o["sink_cpu"]))
        for row in rows:
            r = out[row.name]
            for d in ("", "_down"):
                a = acc[(row.name, d)]
                r["tput" + d] = statistics.median(a["vals"]) if a["vals"] else None
                r["tput%s_runs" % d] = a["vals"]
                r["runs" + d] = a["runs"]
                if a["runs"]:
                    r["sender_cpu" + d] = statistics.median(x["sender_cpu"] for x in a["runs"])
                    r["sink_cpu" + d] = statistics.median(x["sink_cpu"] for x in a["runs"])
                if row.cpu_pids() and a["bytes"]:
                    r["cpu_s" + d] = a["cpu"] / CLK_TCK
                    r["cpu_s_each" + d] = [x / CLK_TCK for x in a["cpu_each"]]
                    r["cpu_s_per_gb" + d] = r["cpu_s" + d] / (a["bytes"] / 1e9)
            if isinstance(row, BurrowD):
                r["moved"] = row.moved()
                if (r["runs"] or r["runs_down"]) and row.pool and not r["moved"]:
                    anomaly("%s: no stream moved to a dedicated data connection (server log)" % row.name)
            row.check_alive("the stream runs")
    finally:
        for row in rows:
            row.stop()
    # is the bench's sender + sink the limit? its direct figure against iperf3 -P 1 direct (of the plain rows when
    # they ran, else one run here)
    d = res.get("direct", {}).get("tput_p1")
    if d is None and shutil.which("iperf3"):
        o, err = iperf(SERVICES["iperf"], cfg.secs, 1)
        if err:
            anomaly("forward: iperf3 -P 1 direct (reference): %s" % err)
        else:
            d = o["bps"]
            log("direct            iperf3 -P 1: %.2f Gbit/s (reference for the bench's sender and sink)" % (d / 1e9))
    out["iperf3_direct_p1"] = d


def report_forward(res, cfg, L):
    """The FORWARD section (setups, then streams up and down) and FORWARD TARGETS."""
    if not forward_selected(cfg):
        return
    f = res.get("forward", {})
    g = lambda p, k: f.get(p, {}).get(k)
    us = lambda d, k: fmt((d or {}).get(k), "%.0f")
    gbs = lambda v: fmt(v and v / 1e9)
    L.append("")
    L.append("FORWARD (-D: burrow client -D 127.0.0.1:0 + server --forward-to '*:*' vs ssh -N -D to our sshd, default "
             "cipher and -c aes128-gcm@openssh.com; SOCKS5, no auth; all rows in this run)")
    L.append("  setup: connect() to the proxy .. the SOCKS5 success reply (greeting, method, request, reply); echo: .. the "
             "first byte echoed back by the echo service; %d sequential setups each, usec; +p50 = added over direct" % (
                 FWD_SETUPS_QUICK if cfg.quick else FWD_SETUPS_FULL))
    L.append("%-18s %8s %8s %8s %8s %8s %8s   %s" % ("path", "setup50", "setup99", "echo50", "echo99", "+echo50",
                                                  "vs ssh", "errors"))
    de = ((g("direct", "setups") or {}).get("echo") or {}).get("p50")
    se = ((g("ssh -D", "setups") or {}).get("echo") or {}).get("p50")
    rows = [(p, g(p, "setups")) for p in FWD_ROWS] + [("burrow -D (HTTP)", g("burrow -D", "setups_http"))]
    for p, st in rows:
        st = st or {}
        e50 = (st.get("echo") or {}).get("p50")
        L.append("%-18s %8s %8s %8s %8s %8s %8s   %s" % (
            p, us(st.get("setup"), "p50"), us(st.get("setup"), "p99"), us(st.get("echo"), "p50"),
            us(st.get("echo"), "p99"), "-" if p == "direct" else fmt(e50 is not None and de is not None and e50 - de or None,
                                                                   "%+.0f"),
            fmt(ratio(e50, se), "%.2fx"), "%s/%s ok%s" % (st.get("ok", "-"), st.get("n", "-"),
                                                          (" " + str(st["errors"])) if st.get("errors") else "")))
    L.append("  burrow -D (HTTP) = the same -D port, HTTP CONNECT (setup = .. the 200 head); ssh -D has no HTTP proxy. "
             "ssh -D sends the SOCKS5 success reply before its channel to the destination is open, burrow -D once the "
             "server has connected: the echo columns compare connections that can be used")
    L.append("")
    L.append("  stream: one SOCKS5 stream, %d s x %d (median); up = the -D side sends (sendfile() of a %d MiB file of zeros "
             "over and over) to a sink process (spliced to /dev/null), Gbit/s = bytes / (first write .. the sink's byte "
             "count after EOF); down = a source process sends (sendfile) for as long, the -D side splices to /dev/null "
             "until EOF; CPU s/GB = user+sys of the relay processes (burrow server + client, sshd + its children + "
             "ssh) per GB; snd/rcv%% = the sending and receiving ends' CPU in the up runs, %% of a core" % (
                 cfg.secs, cfg.runs, FWD_FILE >> 20))
    L.append("%-18s %7s %7s %7s %7s %7s %8s %8s %9s   %s" % (
        "path", "up", "down", "up/dir", "up/ssh", "dn/ssh", "CPU up", "CPU down", "snd/rcv%", "split up | runs up | down"))
    names = {"burrow -D": ("server", "client"), "ssh -D": ("sshd", "ssh"), "ssh -D aes128-gcm": ("sshd", "ssh")}
    for p in FWD_ROWS:
        t, td = g(p, "tput"), g(p, "tput_down")
        split = " + ".join("%s %.2f s" % (n, c) for n, c in zip(names.get(p, ()), g(p, "cpu_s_each") or []))
        runs = " ".join("%.2f" % (x / 1e9) for x in (g(p, "tput_runs") or [])) or "-"
        rdn = " ".join("%.2f" % (x / 1e9) for x in (g(p, "tput_down_runs") or [])) or "-"
        L.append("%-18s %7s %7s %7s %7s %7s %8s %8s %9s   %s" % (
            p, gbs(t), gbs(td), fmt(ratio(t, g("direct", "tput")), "%.2fx"), fmt(ratio(t, g("ssh -D", "tput")), "%.2fx"),
            fmt(ratio(td, g("ssh -D", "tput_down")), "%.2fx"), fmt(g(p, "cpu_s_per_gb"), "%.3f"),
            fmt(g(p, "cpu_s_per_gb_down"), "%.3f"), "%s/%s" % (fmt(g(p, "sender_cpu"), "%.0f"), fmt(g(p, "sink_cpu"), "%.0f")),
            (split + " | " if split else "") + runs + " | " + rdn))
    if g("burrow -D", "moved") is not None:
        L.append("  burrow -D: %d stream(s) moved to a dedicated data connection (server log) of %d stream runs" % (
            g("burrow -D", "moved"), len(g("burrow -D", "tput_runs") or []) + len(g("burrow -D", "tput_down_runs") or [])))
    for p in ("ssh -D", "ssh -D aes128-gcm"):
        if g(p, "cipher"):
            L.append("  %s: cipher %s" % (p, g(p, "cipher")))
    ri = {p: g(p, "rss_idle") for p in FWD_ROWS if g(p, "rss_idle")}
    if ri:
        L.append("  idle RSS KB: " + "; ".join("%s %s" % (p, " / ".join("%s %d" % kv for kv in v.items()))
                                              for p, v in ri.items()))
    ip = f.get("iperf3_direct_p1")
    L.append("  the measuring client's ceiling: direct up %s, down %s Gbit/s (zero-copy ends); iperf3 -P 1 direct, which "
             "copies in and out of user space: %s Gbit/s" % (gbs(g("direct", "tput")), gbs(g("direct", "tput_down")),
                                                             gbs(ip)))
    L.append("")
    L.append("FORWARD TARGETS (this run)")
    a, b = g("burrow -D", "tput"), g("ssh -D", "tput")
    ad, bd = g("burrow -D", "tput_down"), g("ssh -D", "tput_down")
    r, rd = ratio(a, b), ratio(ad, bd)
    low = min(x for x in (r, rd) if x is not None) if (r is not None or rd is not None) else None
    target(L, "-D throughput >= %gx ssh -D" % FWD_TARGET, None if low is None else low >= FWD_TARGET,
           "up %s (%s vs %s Gbit/s), down %s (%s vs %s); lower %s; ssh -D %s" % (
               fmt(r, "%.2fx"), gbs(a), gbs(b), fmt(rd, "%.2fx"), gbs(ad), gbs(bd), fmt(low, "%.2fx"),
               (g("ssh -D", "cipher") or "?").split("@")[0]))
    c, cd = g("ssh -D aes128-gcm", "tput"), g("ssh -D aes128-gcm", "tput_down")
    L.append("      vs ssh -D aes128-gcm: up %s (%s Gbit/s), down %s (%s Gbit/s)" % (
        fmt(ratio(a, c), "%.2fx"), gbs(c), fmt(ratio(ad, cd), "%.2fx"), gbs(cd)))
    L.append("      CPU per GB (up / down): burrow -D %s / %s s, ssh -D %s / %s s, ssh -D aes128-gcm %s / %s s" % tuple(
        fmt(g(p, k), "%.3f") for p in ("burrow -D", "ssh -D", "ssh -D aes128-gcm") for k in ("cpu_s_per_gb",
                                                                                           "cpu_s_per_gb_down")))
    sb, ss = (g("burrow -D", "setups") or {}).get("echo"), (g("ssh -D", "setups") or {}).get("echo")
    L.append("      setup to first echo, p50: burrow -D %s, ssh -D %s usec (%s)" % (
        us(sb, "p50"), us(ss, "p50"), fmt(ratio(sb and sb["p50"], ss and ss["p50"]), "%.2fx")))


# the udp group (`--only udp`, issue 12): datagrams per second and loss through a UDP tunnel. bench/udpblast.c (built
# into the temp dir) is the sender (paced every 1 ms with sendmmsg(), or as fast as it can) and the sink (recvmmsg(),
# checks every datagram byte for byte: sequence number, length and a payload pattern derived from the sequence
# number). direct = sender -> sink; burrow = sender -> the server's public UDP port -> client -> sink (a server and
# client of their own per row: server --udp-timeout 1s, client -R udp:127.0.0.1:0:127.0.0.1:SINK). Rows in turn.
UDP_ROWS = ((1400, 100000), (1400, 0), (16000, 0), (16000, 20000))   # (datagram size, offered rate/s; 0 = max)
UDP_PATHS = ("direct", "burrow")
UDP_TARGET = (1400, 100000)        # issue 12: >= 100,000 datagrams/s of 1,400 B, no loss, on loopback
UDP_SECS_QUICK, UDP_SECS_FULL = 5, 5
UDP_RUNS_QUICK, UDP_RUNS_FULL = 1, 3
UDP_SINK_IDLE = 1                  # the sink ends 1 s after its last datagram
UDP_DROP_LOG_S = 5.0               # burrow logs "dropped N datagrams" at most once per 5 s (src/udp/flow.c)
UDP_DROP_RE = r"dropped (\d+) datagrams"
UDP_FLOW_END_RE = r"flow (\d+) ended: idle \((\d+) datagrams in, (\d+) out\)"


def udp_selected(cfg):
    return "udp" in cfg.only_set


def build_tool(cfg, name):
    """bench/NAME.c built with cc -O2 into the temp dir; its path."""
    src = os.path.join(REPO, "bench", name + ".c")
    out = os.path.join(cfg.tmp, name)
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise RuntimeError("no C compiler (cc) to build bench/%s.c" % name)
    r = subprocess.run([cc, "-O2", "-Wall", "-o", out, src], capture_output=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("cc -O2 -Wall bench/%s.c failed: %s" % (name, (r.stdout + r.stderr).decode(errors="replace")[-600:]))
    if r.stderr.strip():
        anomaly("%s.c: compiler warnings: %s" % (name, r.stderr.decode(errors="replace")[-300:]))
    return out


def build_udpblast(cfg):
    return build_tool(cfg, "udpblast")


def udp_sock_drops(port):
    """The drops column of /proc/net/udp(6) summed over the sockets bound to local port `port` (the kernel's count
    of datagrams it threw away for them, e.g. with the receive buffer full); None when no socket has that port."""
    total, found = 0, False
    for fn in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(fn) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if int(parts[1].rsplit(":", 1)[1], 16) == port:
                        total += int(parts[-1])
                        found = True
        except (OSError, ValueError, IndexError):
            pass
    return total if found else None


def udp_snmp():
    """The Udp: counters of /proc/net/snmp (machine-wide: InDatagrams, RcvbufErrors, InErrors, SndbufErrors ...)."""
    try:
        with open("/proc/net/snmp") as f:
            rows = [l.split() for l in f if l.startswith("Udp:")]
        return dict(zip(rows[0][1:], (int(x) for x in rows[1][1:])))
    except (OSError, IndexError, ValueError):
        return {}


def log_utc(line):
    """The time of a burrow log line (2026-12-07T13:14:10.270Z ...) as a Unix time, or None."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z", line)
    if not m:
        return None
    import calendar
    base, _, frac = m.group(1).partition(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + (float("0." + frac) if frac else 0.0)


def udp_log_drops(path):
    """(datagrams burrow logged as dropped, the time of the last such line) in the log at path."""
    n, last = 0, None
    try:
        with open(path, "rb") as f:
            for line in f.read().decode(errors="replace").splitlines():
                m = re.search(UDP_DROP_RE, line)
                if m:
                    n += int(m.group(1))
                    last = log_utc(line) or time.time()
    except OSError:
        pass
    return n, last


class BurrowU(Burrow):
    """burrow server (--udp-timeout 1s) and client -R udp:127.0.0.1:0:127.0.0.1:SINK: public_port is the server's
    UDP port for the tunnel (the client's `tunnel r1: listening on 127.0.0.1:PORT -> ...` line)."""
    warn_expected = UDP_DROP_RE

    def __init__(self, tmp, binpath, sink_port, tag, timeout=10.0):
        if not (os.path.isfile(binpath) and os.access(binpath, os.X_OK)):
            raise RuntimeError("binary %s not found" % binpath)
        if not bin_has(binpath, "client", "udp:"):
            raise RuntimeError("binary %s has no UDP tunnels (no -R udp:...)" % binpath)
        self.name, self.transport, self.fingerprint, self.client = "burrow udp", "tcp", None, None
        env = {"BURROW_TOKEN": TOKEN}
        sargs = shlex.split(os.environ.get("BURROW_SERVER_ARGS", ""))
        cargs = shlex.split(os.environ.get("BURROW_CLIENT_ARGS", ""))
        state = []
        if bin_has(binpath, "server", "--state-dir"):
            self.state_dir = tempfile.mkdtemp(prefix="state-%s-" % tag, dir=tmp)
            state = ["--state-dir", self.state_dir]
        # a 1 s udp_timeout: the flow ends (and the server logs its "datagrams in") soon after a row, and the
        # sweep, which also logs the dropped count, runs every 200 ms
        self.udp_timeout = bin_has(binpath, "server", "--udp-timeout")
        ut = ["--udp-timeout", "1s"] if self.udp_timeout else []
        self.server = spawn([binpath, "server", "-l", "127.0.0.1:0"] + ut + state + sargs,
                            os.path.join(tmp, "%s-server.log" % tag), env)
        sport = int(wait_log(self.server, r"server listening on [\d.]+:(\d+)", timeout).group(1))
        self.client = spawn([binpath, "client", "-s", "127.0.0.1:%d" % sport,
                             "-R", "udp:127.0.0.1:0:127.0.0.1:%d" % sink_port] + cargs,
                            os.path.join(tmp, "%s-client.log" % tag), env)
        m = wait_log(self.client, r"tunnel r1: listening on (\S+):(\d+) ->", timeout)
        self.public_port = int(m.group(2))
        # the client logs the tunnel once the server has registered it, so the UDP port is bound; check anyway
        end = time.time() + timeout
        while udp_sock_drops(self.public_port) is None:
            if time.time() > end:
                raise RuntimeError("no UDP socket on port %d after %.0f s" % (self.public_port, timeout))
            time.sleep(0.02)
        self.pool = int(cargs[cargs.index("--pool") + 1]) if "--pool" in cargs else 8
        if self.pool != 0:
            # UDP does not use the data connections, but they must not be opening during the run
            try:
                wait_log(self.client, r"(\d+) data connections ready", timeout)
            except RuntimeError as e:
                anomaly("burrow udp: pool not ready: %s" % str(e).splitlines()[0])

    def flows_in(self):
        """[(flow, datagrams in, out)] of the flows the server ended (its `flow N ended: idle` lines)."""
        try:
            with open(self.server.logpath, "rb") as f:
                text = f.read().decode(errors="replace")
        except OSError:
            return []
        return [tuple(int(x) for x in m.groups()) for m in re.finditer(UDP_FLOW_END_RE, text)]


def udp_one(cfg, blast, path, size, rate, secs, tag):
    """One row, one run: a sink, (burrow), the sender for secs; returns the figures of the run."""
    sink = spawn([blast, "sink", "0", str(UDP_SINK_IDLE)], os.path.join(cfg.tmp, "%s-sink.log" % tag))
    peer = None
    try:
        sink_port = int(wait_log(sink, r"\A(\d+)\n").group(1))
        if path == "burrow":
            peer = BurrowU(cfg.tmp, cfg.bin, sink_port, tag)
            port = peer.public_port
            pids = peer.cpu_pids()
            sock0 = udp_sock_drops(port)
            c0 = [cpu_ticks([p]) for p in pids]
        else:
            port = sink_port
        snmp0 = udp_snmp()
        argv = [blast, "send", "127.0.0.1", str(port), str(size), str(rate), str(secs)]
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=secs + 30)
        except subprocess.TimeoutExpired:
            raise RuntimeError("udpblast send hung (> %d s)" % (secs + 30))
        try:
            snd = json.loads(r.stdout.decode(errors="replace").strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise RuntimeError("udpblast send rc=%d, no JSON: %s" % (r.returncode, (r.stdout + r.stderr)[-300:]))
        # the sink ends UDP_SINK_IDLE s after its last datagram (what is still in the tunnel arrives first)
        end = time.time() + UDP_SINK_IDLE + 5
        while sink.poll() is None and time.time() < end:
            time.sleep(0.05)
        stop(sink)
        with open(sink.logpath, "rb") as f:
            lines = [l for l in f.read().decode(errors="replace").splitlines() if l.startswith("{")]
        if not lines:
            raise RuntimeError("udpblast sink printed no counts\n%s" % tail(sink.logpath))
        snk = json.loads(lines[-1])
        out = {"sent": snd["sent"], "secs": snd["secs"], "sent_rate": snd["rate"], "send_errors": snd["errors"],
               "first_send_error": snd["first_error"], "late_ticks": snd["late_ticks"],
               "sender_cpu": 100.0 * snd["cpu_s"] / snd["secs"] if snd["secs"] else None,
               "delivered": snk["unique"], "received": snk["received"], "corrupt": snk["corrupt"],
               "duplicate": snk["duplicate"], "out_of_order": snk["out_of_order"],
               "sink_drops": snk["kernel_drops"], "sink_rcvbuf": snk["rcvbuf"],
               "sink_cpu": 100.0 * snk["cpu_s"] / snd["secs"] if snd["secs"] else None}
        out["delivered_rate"] = snk["unique"] / snd["secs"] if snd["secs"] else None
        out["lost"] = snd["sent"] - snk["unique"]
        out["loss_pct"] = 100.0 * out["lost"] / snd["sent"] if snd["sent"] else None
        accounted = max(snk["kernel_drops"], 0)
        if peer is not None:
            c1 = [cpu_ticks([p]) for p in pids]
            out["cpu_s_each"] = [(b - a) / CLK_TCK for a, b in zip(c0, c1)]     # server, client
            # the server's count of what it read from its UDP port: its flow's `ended: idle (N datagrams in` line,
            # about 1 s (udp_timeout) after the last datagram
            flows = []
            if peer.udp_timeout:
                end = time.time() + 4
                while not flows and time.time() < end:
                    flows = peer.flows_in()
                    if not flows:
                        time.sleep(0.05)
            out["server_in"] = sum(f[1] for f in flows) if flows else None
            out["flows"] = len(flows)
            # burrow's own drops (session congested, socket full): logged at most once per 5 s, so wait until a
            # line after the last one would have come (nothing is sent any more: at most one more line)
            _, last = udp_log_drops(peer.server.logpath)
            if last is not None:
                wait = last + UDP_DROP_LOG_S + 0.6 - time.time()
                if wait > 0:
                    time.sleep(wait)
            out["burrow_dropped_server"] = udp_log_drops(peer.server.logpath)[0]
            out["burrow_dropped_client"] = udp_log_drops(peer.client.logpath)[0]
            s1 = udp_sock_drops(port)
            out["server_sock_drops"] = (s1 - sock0) if (s1 is not None and sock0 is not None) else None
            peer.check_alive("udp %d B %s/s" % (size, rate or "max"))
            accounted += (out["server_sock_drops"] or 0) + out["burrow_dropped_server"] + out["burrow_dropped_client"]
            per = out["server_in"] if out["server_in"] else snd["sent"]
            out["cpu_per"] = "server_in" if out["server_in"] else "sent"
            out["cpu_ms_per_100k"] = 1000.0 * sum(out["cpu_s_each"]) / (per / 1e5) if per else None
        snmp1 = udp_snmp()
        out["snmp"] = {k: snmp1.get(k, 0) - snmp0.get(k, 0) for k in ("InDatagrams", "RcvbufErrors", "InErrors",
                                                                      "SndbufErrors") if k in snmp1}
        # lost and not counted by any of: the server's socket, burrow's log, the sink's socket
        out["unaccounted"] = out["lost"] - accounted
        return out
    finally:
        stop(sink)
        if peer is not None:
            peer.stop()


def measure_udp(cfg, res):
    out = res.setdefault("udp", {})
    blast = build_udpblast(cfg)
    secs = UDP_SECS_QUICK if cfg.quick else UDP_SECS_FULL
    runs = UDP_RUNS_QUICK if cfg.quick else UDP_RUNS_FULL
    out["secs"], out["runs_each"] = secs, runs
    rows = out.setdefault("rows", [])
    for size, rate in UDP_ROWS:
        for path in UDP_PATHS:
            rows.append({"size": size, "rate": rate, "path": path, "runs": []})
    for run in range(runs):
        for row in rows:
            what = "udp %5d B %9s %-6s run %d" % (row["size"], "max" if not row["rate"] else "%d/s" % row["rate"],
                                                  row["path"], run + 1)
            tag = "udp-%d-%s-%s-%d" % (row["size"], row["rate"] or "max", row["path"], run + 1)
            try:
                o = udp_one(cfg, blast, row["path"], row["size"], row["rate"], secs, tag)
            except Exception as e:
                anomaly("%s: %s" % (what, e))
                for p in list(STARTED):     # a pair that did not come up
                    if p.argv[0] in (cfg.bin, blast):
                        stop(p)
                continue
            row["runs"].append(o)
            if o["corrupt"] or o["duplicate"]:
                anomaly("%s: %d corrupt, %d duplicate datagrams at the sink" % (what, o["corrupt"], o["duplicate"]))
            if o["send_errors"]:
                anomaly("%s: %d send errors (%s)" % (what, o["send_errors"], o["first_send_error"]))
            if row["rate"] and not udp_offered(o, row["rate"], secs):
                NOTES.append("%s: the sender did not keep the offered rate: %d datagrams in %.3f s (%d late ticks)" % (
                    what, o["sent"], o["secs"], o["late_ticks"]))
            if row["path"] == "burrow" and o["unaccounted"]:
                NOTES.append("%s: %d datagrams lost that neither the server's socket, burrow's log nor the sink's "
                             "socket counted" % (what, o["unaccounted"]))
            log("%s: sent %8.0f/s, delivered %8.0f/s, loss %.3f%% (%d of %d)%s; sender %.0f%%, sink %.0f%% of a core" % (
                what, o["sent_rate"], o["delivered_rate"] or 0, o["loss_pct"] or 0, o["lost"], o["sent"],
                "" if row["path"] == "direct" else ", burrow CPU %s ms/100k (server %.2f s, client %.2f s)" % (
                    fmt(o.get("cpu_ms_per_100k"), "%.0f"), o["cpu_s_each"][0], o["cpu_s_each"][1]),
                o["sender_cpu"] or 0, o["sink_cpu"] or 0))
    for row in rows:
        rr = row["runs"]
        if not rr:
            continue
        med = sorted(rr, key=lambda o: o["delivered_rate"] or 0)[(len(rr) - 1) // 2]
        row["median_run"] = rr.index(med)
        row["sent_rate"] = statistics.median(o["sent_rate"] for o in rr)
        row["delivered_rate"] = statistics.median(o["delivered_rate"] or 0 for o in rr)
        for k in ("sent", "delivered", "lost", "corrupt", "duplicate", "out_of_order", "sink_drops", "unaccounted"):
            row[k] = sum(o[k] for o in rr)
        row["loss_pct"] = 100.0 * row["lost"] / row["sent"] if row["sent"] else None
        row["sender_cpu"] = statistics.median(o["sender_cpu"] or 0 for o in rr)
        row["sink_cpu"] = statistics.median(o["sink_cpu"] or 0 for o in rr)
        row["rcvbuf_errors"] = sum(o["snmp"].get("RcvbufErrors", 0) for o in rr)
        if row["path"] == "burrow":
            for k in ("burrow_dropped_server", "burrow_dropped_client"):
                row[k] = sum(o[k] for o in rr)
            row["server_sock_drops"] = sum(o["server_sock_drops"] or 0 for o in rr)
            row["server_in"] = sum(o["server_in"] or 0 for o in rr) if all(o["server_in"] for o in rr) else None
            cpu = [sum(o["cpu_s_each"][i] for o in rr) for i in (0, 1)]
            row["cpu_s_each"] = cpu
            per = row["server_in"] or row["sent"]
            row["cpu_per"] = "server_in" if row["server_in"] else "sent"
            row["cpu_ms_per_100k"] = 1000.0 * sum(cpu) / (per / 1e5) if per else None


def udp_offered(o, rate, secs):
    """Whether a paced run's sender sent RATE x SECONDS datagrams within 1 % of SECONDS."""
    return o["sent"] >= rate * secs and o["secs"] <= 1.01 * secs


def udp_row(res, size, rate, path):
    for r in res.get("udp", {}).get("rows", []):
        if (r["size"], r["rate"], r["path"]) == (size, rate, path):
            return r
    return None


def report_udp(res, cfg, L):
    """The UDP section and UDP TARGETS."""
    if not udp_selected(cfg):
        return
    u = res.get("udp", {})
    n0 = lambda v: "n/a" if v is None else "{:,.0f}".format(v)
    L.append("")
    L.append("UDP (issue 12; bench/udpblast: a sender paced every 1 ms with sendmmsg(), `max` = as fast as it can, to a "
             "sink that checks every datagram byte for byte (sequence, length, payload); burrow = sender -> server's UDP "
             "port -> client -> sink, server --udp-timeout 1s, client -R udp:127.0.0.1:0:127.0.0.1:SINK, a pair per run; "
             "%d s x %d per row%s)" % (u.get("secs", 0), u.get("runs_each", 0),
                                       ", sums over the runs, rates median" if u.get("runs_each", 1) > 1 else ""))
    L.append("  sent/s, delivered/s = datagrams sent / delivered intact (unique) over the sender's time; loss = sent - "
             "delivered; CPU ms/100k = user+sys of burrow server + client per 100,000 datagrams the server read from its "
             "port; snd/sink% = the sender's and the sink's CPU, % of a core")
    L.append("  where lost: srv sock = the kernel's drops at the server's UDP port (/proc/net/udp), burrow = burrow's "
             "`dropped N datagrams` log lines (server + client), sink sock = the kernel's drops at the sink's socket "
             "(SO_MEMINFO; SO_RCVBUF 4 MiB asked, getsockopt: %s), other = lost and counted by none of them" % (
                 next((o["sink_rcvbuf"] for r in u.get("rows", []) for o in r["runs"]), "n/a")))
    L.append("%5s %8s %-7s %10s %12s %7s %8s %8s %8s %9s   %s" % (
        "size", "offered", "path", "sent/s", "delivered/s", "vs dir", "loss %", "corrupt", "CPU/100k", "snd/sink%",
        "where lost: srv sock / burrow / sink sock / other"))
    for size, rate in UDP_ROWS:
        d = udp_row(res, size, rate, "direct")
        for path in UDP_PATHS:
            r = udp_row(res, size, rate, path)
            if r is None or not r.get("runs"):
                L.append("%5d %8s %-7s %10s" % (size, n0(rate) if rate else "max", path, "n/a"))
                continue
            if path == "burrow":
                where = "%s / %s / %s / %s" % (n0(r["server_sock_drops"]), n0(r["burrow_dropped_server"] +
                                                                              r["burrow_dropped_client"]),
                                               n0(r["sink_drops"]), n0(r["unaccounted"]))
            else:
                where = "- / - / %s / %s" % (n0(r["sink_drops"]), n0(r["unaccounted"]))
            L.append("%5d %8s %-7s %10s %12s %7s %8s %8s %8s %9s   %s" % (
                size, n0(rate) if rate else "max", path, n0(r["sent_rate"]), n0(r["delivered_rate"]),
                fmt(ratio(r["delivered_rate"], d and d.get("delivered_rate")), "%.2fx"),
                fmt(r["loss_pct"], "%.3f"), n0(r["corrupt"]),
                fmt(r.get("cpu_ms_per_100k"), "%.0f") if path == "burrow" else "-",
                "%.0f/%.0f" % (r["sender_cpu"], r["sink_cpu"]), where))
    for size, rate in UDP_ROWS:
        r = udp_row(res, size, rate, "burrow")
        if not r or not r.get("runs"):
            continue
        L.append("  burrow %d B %s: %s of %s sent delivered, server read %s (its flow's `datagrams in`); CPU server "
                 "%.2f s + client %.2f s%s; out of order %s; machine-wide UdpRcvbufErrors +%s" % (
                     size, "max" if not rate else "@%s/s" % n0(rate), n0(r["delivered"]), n0(r["sent"]),
                     n0(r["server_in"]), r["cpu_s_each"][0], r["cpu_s_each"][1],
                     "" if r["cpu_per"] == "server_in" else " (per 100k sent: no flow-ended line)",
                     n0(r["out_of_order"]), n0(r["rcvbuf_errors"])))
    L.append("")
    L.append("UDP TARGETS (issue 12, this run)")
    size, rate = UDP_TARGET
    r, d = udp_row(res, size, rate, "burrow"), udp_row(res, size, rate, "direct")
    ok, measured = None, "not measured"
    if r and r.get("runs"):
        # MET: every datagram of RATE x SECONDS arrived intact, and the sender sent them all within 1 % of SECONDS
        # (delivered/s is over the sender's own time, a few ms more than SECONDS when it lags at the end)
        offered = all(udp_offered(o, rate, u["secs"]) for o in r["runs"])
        ok = r["lost"] == 0 and r["corrupt"] == 0 and offered
        measured = "delivered %s/s, loss %s%% (%s of %s lost, %s corrupt), sent %s/s%s" % (
            n0(r["delivered_rate"]), fmt(r["loss_pct"], "%.3f"), n0(r["lost"]), n0(r["sent"]), n0(r["corrupt"]),
            n0(r["sent_rate"]), "" if offered else ": the sender did not send the offered rate")
    target(L, "UDP %s B at %s/s: delivered >= %s/s, no loss" % (n0(size), n0(rate), n0(rate)), ok, measured)
    if d and d.get("runs"):
        L.append("      direct: delivered %s/s, loss %s%%; burrow %s of direct" % (
            n0(d["delivered_rate"]), fmt(d["loss_pct"], "%.3f"),
            fmt(ratio(r and r.get("delivered_rate"), d["delivered_rate"]), "%.2fx")))
    for size, rate in UDP_ROWS:
        if (size, rate) == UDP_TARGET:
            continue
        r, d = udp_row(res, size, rate, "burrow"), udp_row(res, size, rate, "direct")
        if r and r.get("runs"):
            L.append("      %s B %s: burrow delivered %s/s (loss %s%%), direct %s/s (loss %s%%): %s" % (
                n0(size), "max" if not rate else "at %s/s" % n0(rate), n0(r["delivered_rate"]),
                fmt(r["loss_pct"], "%.3f"), n0(d and d.get("delivered_rate")), fmt(d and d.get("loss_pct"), "%.3f"),
                fmt(ratio(r["delivered_rate"], d and d.get("delivered_rate")), "%.2fx")))


# the vhost group (`--only vhost`): burrow's shared HTTP port (server --http, client -R http:NAME:host:port),
# keep-alive requests routed by Host to the client's local nginx, against nginx direct and ssh -R to the same nginx.
# 1) requests/s with wrk (64 keep-alive connections, 2 threads) three ways, with the relays' CPU; 2) the latency
# the vhost adds at half its maximum: bench/httpload.c (built into the temp dir like udpblast) sends at a fixed
# rate, open loop, over 64 keep-alive connections, latency from each request's scheduled time; 3) the server's RSS
# with 64 idle keep-alive connections held open through the vhost.
VHOST_NAME = "bench.test"
VHOST_FILE = "1k.bin"
VHOST_FILE_BYTES = 1024
VHOST_CONNS = 64                   # wrk -c, httpload's connections and the idle connections of the memory test
VHOST_THREADS = 2
VHOST_SECS_QUICK, VHOST_SECS_FULL = 3, 10      # each wrk run and each httpload run
VHOST_TARGET = 0.70                # vhost requests/s >= 70% of direct
VHOST_TARGET_P99_US = 1000         # p99 added over direct at half the vhost's maximum < 1 ms
VHOST_PATHS = ("direct", "burrow vhost", "ssh -R")
# over HTTPS: the same server's --https port terminating TLS for the HTTP tunnel's name (--https-certs DIR with
# bench.test.crt / .key from a throwaway CA) against nginx direct over TLS (`listen ... ssl`, the same certificate);
# wrk to https://bench.test:PORT/, bench.test resolved to 127.0.0.1 by a wrk script (VHOST_WRK_RESOLVE), so SNI and
# Host are bench.test; no half-load row (httpload speaks no TLS)
VHOST_TLS_PATHS = ("nginx https", "burrow vhost https")
VHOST_TLS_SUITES = "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"   # src/transport/tlsctx.c's
VHOST_WRK_RESOLVE = """-- bench.py: bench.test (the URL's host, hence wrk's SNI) is 127.0.0.1, without /etc/hosts
function wrk.resolve(host, service)
   wrk.addrs = wrk.lookup("127.0.0.1", service)
end
"""


def vhost_selected(cfg):
    return "vhost" in cfg.only_set


def build_httpload(cfg):
    return build_tool(cfg, "httpload")


def make_vhost_certs(cfg):
    """A throwaway CA (TMP/vhost-ca: ca.crt, ca.key) and, signed by it, a certificate for VHOST_NAME (EC P-256,
    subjectAltName DNS:bench.test, 2 days) in TMP/vhost-certs as bench.test.crt / bench.test.key, the directory
    the server's --https-certs reads (nothing else in it) and nginx's ssl_certificate. Returns (certs dir, ca.crt)."""
    ca, certs = os.path.join(cfg.tmp, "vhost-ca"), os.path.join(cfg.tmp, "vhost-certs")
    os.makedirs(ca)
    os.makedirs(certs)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    crt, key = os.path.join(certs, VHOST_NAME + ".crt"), os.path.join(certs, VHOST_NAME + ".key")
    ext = os.path.join(ca, "leaf.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\n" % VHOST_NAME)
    steps = (
        ["req", "-x509"] + ec + ["-keyout", os.path.join(ca, "ca.key"), "-out", os.path.join(ca, "ca.crt"),
                                 "-subj", "/CN=burrow bench throwaway CA", "-days", "2"],
        ["req", "-new"] + ec + ["-keyout", key, "-out", os.path.join(ca, "leaf.csr"), "-subj", "/CN=" + VHOST_NAME],
        ["x509", "-req", "-in", os.path.join(ca, "leaf.csr"), "-CA", os.path.join(ca, "ca.crt"),
         "-CAkey", os.path.join(ca, "ca.key"), "-CAcreateserial", "-days", "2", "-sha256", "-extfile", ext,
         "-out", crt])
    for argv in steps:
        r = subprocess.run(["openssl"] + argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("openssl %s failed: %s" % (" ".join(argv[:2]),
                                                          (r.stdout + r.stderr).decode(errors="replace")[-400:]))
    return certs, os.path.join(ca, "ca.crt")


def start_nginx_vhost(cfg, certs=None):
    """nginx of the vhost rows (its own, in TMP/nginx-vhost): 1 worker, access_log off, keep-alive connections
    that stay (keepalive_requests 1000000, 300 s), a VHOST_FILE_BYTES file; with certs (make_vhost_certs' directory)
    a second server on a port of its own, `listen ... ssl` with bench.test's certificate and burrow's TLS choices (TLS
    1.2 and 1.3, the server's order of VHOST_TLS_SUITES, ChaCha20 first for a client that prefers it; nginx 1.22's
    default would be TLS 1.2 only). Returns (port, the master process, the TLS port or None)."""
    d = os.path.join(cfg.tmp, "nginx-vhost")
    os.makedirs(os.path.join(d, "www"))
    for x in (cfg.tmp, d, os.path.join(d, "www")):
        os.chmod(x, 0o755)        # nginx workers run as nobody when started as root
    with open(os.path.join(d, "www", VHOST_FILE), "wb") as f:
        f.write((b"burrow vhost bench " * 64)[:VHOST_FILE_BYTES - 1] + b"\n")
    port = free_port()
    ssl_port, ssl_server = None, ""
    if certs:
        ssl_port = free_port()
        ssl_server = """
    server {
        listen 127.0.0.1:%(p)d ssl backlog=4096;
        server_name _;
        root %(d)s/www;
        ssl_certificate %(c)s/%(n)s.crt;
        ssl_certificate_key %(c)s/%(n)s.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_prefer_server_ciphers on;
        ssl_conf_command Ciphersuites %(suites)s;
        ssl_conf_command Options PrioritizeChaCha;
    }""" % {"p": ssl_port, "d": d, "c": certs, "n": VHOST_NAME, "suites": VHOST_TLS_SUITES}
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
worker_rlimit_nofile 8192;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    default_type application/octet-stream;
    client_body_temp_path %(d)s/body;
    proxy_temp_path %(d)s/proxy;
    fastcgi_temp_path %(d)s/fastcgi;
    uwsgi_temp_path %(d)s/uwsgi;
    scgi_temp_path %(d)s/scgi;
    server {
        listen 127.0.0.1:%(port)d backlog=4096;
        server_name _;
        root %(d)s/www;
    }%(ssl)s
}
""" % {"d": d, "port": port, "ssl": ssl_server})
    p = spawn(["/usr/sbin/nginx", "-c", conf, "-p", d, "-g", "daemon off;"], os.path.join(d, "nginx.out"))
    wait_listen(port, proc=p)
    if ssl_port:
        wait_listen(ssl_port, proc=p)
    return port, p, ssl_port


class BurrowV(Burrow):
    """burrow server -l 127.0.0.1:0 --http 127.0.0.1:0 and client -R http:bench.test:127.0.0.1:NGINX: http_port is
    the server's shared HTTP port (its `http listening on 127.0.0.1:PORT` line), which the client's `tunnel NAME:
    serving bench.test on ...:PORT -> ... (HTTP)` line names too. https_certs: a directory with bench.test.crt /
    .key: the server also gets --https 127.0.0.1:0 --https-certs DIR, and https_port is its HTTPS port (its `https
    listening on 127.0.0.1:PORT (... or terminated for HTTP tunnels' names)` line), else None."""

    def __init__(self, tmp, binpath, nginx_port, name="burrow vhost", timeout=10.0, https_certs=None):
        if not (os.path.isfile(binpath) and os.access(binpath, os.X_OK)):
            raise RuntimeError("binary %s not found" % binpath)
        if not bin_has(binpath, "server", "--http ADDR"):
            raise RuntimeError("binary %s has no shared HTTP port (no server --http)" % binpath)
        self.name, self.transport, self.fingerprint, self.client = name, "tcp", None, None
        self.https_port = None
        https = ["--https", "127.0.0.1:0", "--https-certs", https_certs] if https_certs else []
        env = {"BURROW_TOKEN": TOKEN}
        sargs = shlex.split(os.environ.get("BURROW_SERVER_ARGS", ""))
        cargs = shlex.split(os.environ.get("BURROW_CLIENT_ARGS", ""))
        tag = name.replace(" ", "-")
        state = []
        if bin_has(binpath, "server", "--state-dir"):
            self.state_dir = tempfile.mkdtemp(prefix="state-%s-" % tag, dir=tmp)
            state = ["--state-dir", self.state_dir]
        self.server = spawn([binpath, "server", "-l", "127.0.0.1:0", "--http", "127.0.0.1:0"] + https + state + sargs,
                            os.path.join(tmp, "%s-server.log" % tag), env)
        sport = int(wait_log(self.server, r"server listening on [\d.]+:(\d+)", timeout).group(1))
        self.http_port = int(wait_log(self.server, r"http listening on [\d.]+:(\d+) \(requests routed by Host",
                                      timeout).group(1))
        if https:
            self.https_port = int(wait_log(self.server, r"https listening on [\d.]+:(\d+) \(TLS passed through by "
                                           r"server name, or terminated for HTTP tunnels' names\)", timeout).group(1))
        self.client = spawn([binpath, "client", "-s", "127.0.0.1:%d" % sport,
                             "-R", "http:%s:127.0.0.1:%d" % (VHOST_NAME, nginx_port)] + cargs,
                            os.path.join(tmp, "%s-client.log" % tag), env)
        m = wait_log(self.client, r"tunnel \S+: serving %s on \S*?:(\d+)\S* -> \S+ \(HTTP\)" % re.escape(VHOST_NAME),
                     timeout)
        if int(m.group(1)) != self.http_port:
            anomaly("%s: the client serves %s on port %s, the server's HTTP port is %d" % (
                name, VHOST_NAME, m.group(1), self.http_port))
        wait_listen(self.http_port, proc=self.server, timeout=timeout)
        if self.https_port:
            wait_listen(self.https_port, proc=self.server, timeout=timeout)
        self.pool = int(cargs[cargs.index("--pool") + 1]) if "--pool" in cargs else 8
        if self.pool != 0:
            # the vhost's streams stay multiplexed (small responses), but the pool must not be opening during a run
            try:
                wait_log(self.client, r"(\d+) data connections ready", timeout)
            except RuntimeError as e:
                anomaly("%s: pool not ready: %s" % (name, str(e).splitlines()[0]))

    def http_lines(self):
        """The server's `http: ...` lines (a refused or failed request: 4xx / 5xx, a cut response ...)."""
        try:
            with open(self.server.logpath, "rb") as f:
                return [l for l in f.read().decode(errors="replace").splitlines() if re.search(r"Z \w+ +http: ", l)]
        except OSError:
            return []


class SshRV:
    """ssh -N -R PORT:127.0.0.1:NGINX to the bench's own sshd (start_sshd, in TMP/ssh-vhost), default cipher."""

    def __init__(self, tmp, nginx_port, name="ssh -R"):
        self.name = name
        d, self.sshd, sshd_port = start_sshd(os.path.join(tmp, "ssh-vhost"))
        self.port = free_port()
        argv = ["ssh", "-N", "-F", "/dev/null", "-R", "%d:127.0.0.1:%d" % (self.port, nginx_port)] + \
            ssh_login_args(d, sshd_port)
        self.ssh = spawn(argv, os.path.join(d, "ssh.log"))
        wait_listen(self.port, timeout=15, proc=self.ssh)
        self.cipher = ssh_cipher(None)

    def cpu_pids(self):
        return [self.sshd.pid, self.ssh.pid]

    def check_alive(self, when):
        if self.ssh.poll() is not None:
            anomaly("%s: ssh exited (rc=%s) during %s\n%s" % (self.name, self.ssh.returncode, when, tail(self.ssh.logpath)))
            return False
        return True

    def stop(self):
        stop(self.ssh)
        stop(self.sshd)


def machine_ticks():
    """(busy, total) jiffies of all CPUs from /proc/stat (busy = all but idle and iowait): how loaded the whole machine
    was over a run, other work included."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return sum(v) - v[3] - v[4], sum(v)


def machine_busy_pct(a, b):
    """% of all CPUs busy between two machine_ticks() readings (100 = every core busy)."""
    if a is None or b is None or b[1] == a[1]:
        return None
    return 100.0 * (b[0] - a[0]) / (b[1] - a[1])


def children_cpu_s():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def vhost_wrk(port, secs, host=None, resolve_script=None):
    """wrk -t2 -c64 keep-alive GETs of VHOST_FILE (Host: host when given), with --latency; the figures of
    parse_wrk and wrk's own p50 / p99 in usec and its CPU time. resolve_script (a file holding VHOST_WRK_RESOLVE):
    over TLS to https://bench.test:PORT/ (SNI bench.test), the script making bench.test 127.0.0.1 for wrk."""
    url = ("https://%s:%d/%s" % (VHOST_NAME, port, VHOST_FILE) if resolve_script else
           "http://127.0.0.1:%d/%s" % (port, VHOST_FILE))
    argv = ["wrk", "-t%d" % VHOST_THREADS, "-c%d" % VHOST_CONNS, "-d%ds" % secs, "--timeout", "5s", "--latency"] + \
        (["-s", resolve_script] if resolve_script else []) + (["-H", "Host: " + host] if host else []) + [url]
    c0 = children_cpu_s()
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=secs + 20)
    except subprocess.TimeoutExpired:
        return None, "wrk hung (> %d s)" % (secs + 20)
    out = (r.stdout + r.stderr).decode(errors="replace")
    res, err = parse_wrk(out, r.returncode)
    if err:
        return None, err
    res["wrk_cpu_s"] = children_cpu_s() - c0
    n = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
    res["secs"] = float(n.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[n.group(3)] if n else secs
    unit = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 6e7}
    for q in ("50", "90", "99"):
        m = re.search(r"^\s+%s(?:\.0+)?%%\s+([\d.]+)(us|ms|s|m)\s*$" % q, out, re.M)
        res["lat_p" + q] = float(m.group(1)) * unit[m.group(2)] if m else None
    if r.returncode != 0:
        res["error_detail"] += " wrk rc=%d" % r.returncode
        res["errors"] += 1
    return res, None


def vhost_tls_probe(port, cafile):
    """One GET of VHOST_FILE over TLS to 127.0.0.1:port with SNI and Host bench.test, the certificate verified against
    the throwaway CA (chain and name): the status, the TLS version, cipher and ALPN Python's ssl negotiated (wrk
    uses OpenSSL's defaults too, without ALPN). Raises on a failed handshake or request."""
    import ssl
    ctx = ssl.create_default_context(cafile=cafile)
    req = ("GET /%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: burrow-bench\r\n\r\n" % (VHOST_FILE, VHOST_NAME)).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=VHOST_NAME) as s:
            s.sendall(req)
            st = http_get_head(s)
            c = s.cipher()
            return {"status": st, "version": s.version(), "cipher": c[0] if c else None,
                    "alpn": s.selected_alpn_protocol()}


def vhost_httpload(cfg, prog, port, host, rate, secs):
    argv = [prog, "127.0.0.1", str(port), host or "-", "/" + VHOST_FILE, str(VHOST_CONNS), str(int(rate)), str(secs)]
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=secs + 30)
    except subprocess.TimeoutExpired:
        return None, "httpload hung (> %d s)" % (secs + 30)
    try:
        return json.loads(r.stdout.decode(errors="replace").strip().splitlines()[-1]), None
    except (ValueError, IndexError):
        return None, "httpload rc=%d, no JSON: %s" % (r.returncode, (r.stdout + r.stderr)[-300:].decode(errors="replace"))


def http_get_head(s):
    """Reads one response (head + Content-Length body) from blocking socket s; returns its status."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise RuntimeError("EOF before a response head (%d bytes)" % len(buf))
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if not m:
        raise RuntimeError("a response without Content-Length: %r" % head[:200])
    want = int(m.group(1))
    while len(body) < want:
        d = s.recv(65536)
        if not d:
            raise RuntimeError("EOF in a response body (%d of %d bytes)" % (len(body), want))
        body += d
    if len(body) != want:
        raise RuntimeError("%d bytes after a response of %d" % (len(body) - want, want))
    return int(head.split(None, 2)[1])


def vhost_idle_conns(pair, n, idle_fds):
    """n connections to the vhost, one request answered on each, kept open: the server's (and client's) RSS and fds
    before and with them. Returns the figures; the connections are closed at the end."""
    out = {}
    pids = pair.mem_pids()
    # the previous run's connections released first (fds back to the idle level), then RSS before
    settle = time.time() + 5
    while time.time() < settle and any(nfds(v) > idle_fds[k] + 2 for k, v in pids.items()):
        time.sleep(0.1)
    time.sleep(0.5)
    out["rss_before"] = {k: rss_kb(v) for k, v in pids.items()}
    out["fds_before"] = {k: nfds(v) for k, v in pids.items()}
    socks, statuses, errs = [], {}, []
    req = ("GET /%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: burrow-bench\r\n\r\n" % (VHOST_FILE, VHOST_NAME)).encode()
    try:
        for i in range(n):
            try:
                s = socket.create_connection(("127.0.0.1", pair.http_port), timeout=10)
                socks.append(s)
                s.sendall(req)
                st = http_get_head(s)
                statuses[st] = statuses.get(st, 0) + 1
            except (OSError, RuntimeError) as e:
                errs.append(str(e))
        time.sleep(0.5)       # the server's bookkeeping after the last answer
        out["rss_with"] = {k: rss_kb(v) for k, v in pids.items()}
        out["fds_with"] = {k: nfds(v) for k, v in pids.items()}
        out["statuses"], out["errors"], out["n"] = statuses, errs, n
        # still open? a connection the server closed reads EOF at once
        closed = 0
        for s in socks:
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    closed += 1
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                closed += 1
        out["closed_by_server"] = closed
    finally:
        for s in socks:
            s.close()
    settle = time.time() + 5
    while time.time() < settle and any(nfds(v) > idle_fds[k] + 2 for k, v in pids.items()):
        time.sleep(0.1)
    out["fds_after"] = {k: nfds(v) for k, v in pids.items()}
    return out


def measure_vhost(cfg, res):
    out = res.setdefault("vhost", {})
    secs = VHOST_SECS_QUICK if cfg.quick else VHOST_SECS_FULL
    out["secs"], out["conns"], out["file_bytes"] = secs, VHOST_CONNS, VHOST_FILE_BYTES
    if not shutil.which("wrk"):
        anomaly("vhost: wrk not installed (apt-get install wrk): no vhost figures")
        return
    if not os.path.exists("/usr/sbin/nginx"):
        anomaly("vhost: nginx not installed: no vhost figures")
        return
    try:
        prog = build_httpload(cfg)
    except Exception as e:
        prog = None
        anomaly("vhost: %s: no half-load latency figures" % e)
    # HTTPS termination rows: a throwaway CA and bench.test's certificate, nginx's TLS server, the server's --https
    certs = cafile = None
    if not shutil.which("openssl"):
        anomaly("vhost: no openssl to make a certificate: no https rows")
    elif not bin_has(cfg.bin, "server", "--https-certs"):
        anomaly("vhost: binary %s does not terminate HTTPS (no server --https-certs): no https rows" % cfg.bin)
    else:
        try:
            certs, cafile = make_vhost_certs(cfg)
        except Exception as e:
            anomaly("vhost: %s: no https rows" % e)
    out["https_skipped"] = certs is None
    resolve_script = None
    if certs:
        resolve_script = os.path.join(cfg.tmp, "wrk-resolve.lua")
        with open(resolve_script, "w") as f:
            f.write(VHOST_WRK_RESOLVE)
    nginx_port, nginx, nginx_tls_port = start_nginx_vhost(cfg, certs)
    paths = {"direct": None}
    try:
        try:
            paths["burrow vhost"] = BurrowV(cfg.tmp, cfg.bin, nginx_port, https_certs=certs)
        except Exception as e:
            anomaly("burrow vhost unavailable%s: %s" % (" (with --https --https-certs)" if certs else "", e))
            for p in list(STARTED):
                if p.argv[0] == cfg.bin:
                    stop(p)
            if certs:       # the plain rows without the HTTPS port, then
                try:
                    paths["burrow vhost"] = BurrowV(cfg.tmp, cfg.bin, nginx_port, name="burrow vhost plain")
                except Exception as e:
                    anomaly("burrow vhost unavailable: %s" % e)
                    for p in list(STARTED):
                        if p.argv[0] == cfg.bin:
                            stop(p)
        v = paths.get("burrow vhost")
        if v is not None:
            out["rss_idle"] = {k: rss_kb(p) for k, p in v.mem_pids().items()}
            out["fds_idle"] = {k: nfds(p) for k, p in v.mem_pids().items()}
        try:
            paths["ssh -R"] = SshRV(cfg.tmp, nginx_port)
            out["ssh_cipher"] = paths["ssh -R"].cipher
        except Exception as e:
            anomaly("vhost: ssh -R unavailable: %s" % e)

        def wrk_row(name, peer, port, host, script=None):
            """One wrk run of a row into out[name]; returns the row or None."""
            roots = peer.cpu_pids() if peer is not None else []
            c0 = [cpu_ticks([p]) for p in roots]
            n0, mt0 = cpu_ticks([nginx.pid]), machine_ticks()
            o, err = vhost_wrk(port, secs, host, script)
            mt1 = machine_ticks()
            if err:
                anomaly("vhost %s wrk: %s" % (name, err))
                if peer is not None:
                    peer.check_alive("wrk")
                return None
            r = out.setdefault(name, {})
            r["wrk"] = o
            r["rps"] = o["rps"]
            r["nginx_cpu_pct"] = 100.0 * (cpu_ticks([nginx.pid]) - n0) / CLK_TCK / o["secs"]
            r["wrk_cpu_pct"] = 100.0 * o["wrk_cpu_s"] / o["secs"]
            r["machine_busy_pct"] = machine_busy_pct(mt0, mt1)
            if roots:
                each = [(cpu_ticks([p]) - a) / CLK_TCK for p, a in zip(roots, c0)]
                r["cpu_s_each"] = each
                r["cpu_pct_each"] = [100.0 * x / o["secs"] for x in each]
                r["cpu_pct"] = sum(r["cpu_pct_each"])
                r["cpu_ms_per_1k"] = 1000.0 * sum(each) / (o["requests"] / 1000.0) if o["requests"] else None
            if o["errors"]:
                anomaly("vhost %s wrk: %d errors of %d requests (%s)" % (name, o["errors"], o["requests"],
                                                                        o["error_detail"].strip()))
            log("vhost %-12s wrk -t%d -c%d keep-alive %d s: %.0f requests/s (p50 %s, p99 %s us)%s; nginx %.0f%%, "
                "wrk %.0f%% of a core; machine %s%% busy" % (
                    name, VHOST_THREADS, VHOST_CONNS, secs, o["rps"], fmt(o["lat_p50"], "%.0f"),
                    fmt(o["lat_p99"], "%.0f"), "; relay CPU %s = %.0f%% of a core" % (
                        " + ".join("%.0f%%" % x for x in r["cpu_pct_each"]), r["cpu_pct"]) if roots else "",
                    r["nginx_cpu_pct"], r["wrk_cpu_pct"], fmt(r["machine_busy_pct"], "%.0f")))
            if peer is not None:
                peer.check_alive("wrk")
            return r

        # 1) requests/s, the paths in turn
        for name in VHOST_PATHS:
            if name not in paths:
                continue
            peer = paths[name]
            port = nginx_port if peer is None else (peer.http_port if name == "burrow vhost" else peer.port)
            if wrk_row(name, peer, port, VHOST_NAME if name == "burrow vhost" else None) is None:
                continue
            # 3) memory, right after the vhost's wrk run: 64 idle keep-alive connections through the vhost
            if name == "burrow vhost" and peer.check_alive("wrk"):
                m = vhost_idle_conns(peer, VHOST_CONNS, out["fds_idle"])
                out["mem"] = m
                if m["errors"] or set(m["statuses"]) != {200}:
                    anomaly("vhost memory test: statuses %s, errors %s" % (m["statuses"], m["errors"][:3]))
                if m["closed_by_server"]:
                    anomaly("vhost memory test: %d of %d idle connections closed by the server within 0.5 s" % (
                        m["closed_by_server"], VHOST_CONNS))
                log("vhost memory: server RSS %s -> %s KB with %d idle keep-alive connections (client %s -> %s KB), "
                    "fds %s -> %s" % (m["rss_before"].get("server"), m["rss_with"].get("server"), VHOST_CONNS,
                                      m["rss_before"].get("client"), m["rss_with"].get("client"), m["fds_before"],
                                      m["fds_with"]))
                peer.check_alive("the memory test")
        # 1b) requests/s over HTTPS: nginx's TLS server, then the vhost's HTTPS port terminating TLS
        v = paths.get("burrow vhost")
        if certs:
            tls_ports = {"nginx https": nginx_tls_port, "burrow vhost https": v and v.https_port}
            for name in VHOST_TLS_PATHS:
                port = tls_ports[name]
                if not port:
                    continue
                peer = v if name == "burrow vhost https" else None
                if peer is not None and not peer.check_alive("the https rows"):
                    continue
                try:
                    probe = vhost_tls_probe(port, cafile)
                except Exception as e:
                    anomaly("vhost %s: a GET over TLS (SNI %s, verified against the bench's CA) failed: %s" % (
                        name, VHOST_NAME, e))
                    continue
                if probe["status"] != 200:
                    anomaly("vhost %s: a GET over TLS answered %s" % (name, probe["status"]))
                r = wrk_row(name, peer, port, VHOST_NAME, resolve_script)
                if r is not None:
                    r["tls"], r["port"] = probe, port
                    log("vhost %-12s TLS (Python's ssl): %s %s, ALPN %s" % (
                        name, probe["version"], probe["cipher"], probe["alpn"] or "none"))
            out["tls_suites"] = VHOST_TLS_SUITES
            out["https_vs_nginx_https"] = ratio(out.get("burrow vhost https", {}).get("rps"),
                                                out.get("nginx https", {}).get("rps"))
        # 2) latency at half the vhost's maximum, direct and vhost (not over HTTPS: httpload speaks no TLS)
        vr = out.get("burrow vhost", {}).get("rps")
        if prog and vr:
            rate = int(vr / 2)
            out["half_rate"] = rate
            for name in ("direct", "burrow vhost"):
                peer = paths.get(name)
                if name != "direct" and peer is None:
                    continue
                port = nginx_port if peer is None else peer.http_port
                roots = peer.cpu_pids() if peer is not None else []
                c0, mt0 = [cpu_ticks([p]) for p in roots], machine_ticks()
                o, err = vhost_httpload(cfg, prog, port, VHOST_NAME if peer is not None else None, rate, secs)
                mt1 = machine_ticks()
                if err:
                    anomaly("vhost %s httpload: %s" % (name, err))
                    continue
                if roots:
                    o["relay_cpu_pct_each"] = [100.0 * (cpu_ticks([p]) - a) / CLK_TCK / secs for p, a in zip(roots, c0)]
                o["machine_busy_pct"] = machine_busy_pct(mt0, mt1)
                out.setdefault(name, {})["half"] = o
                if o["errors"] or o["warmup_failed"] or o["conns_up"] < VHOST_CONNS:
                    anomaly("vhost %s httpload at %d/s: %d errors of %d scheduled (io %d, bad %d, non-2xx %d, "
                            "unfinished %d, unsent %d), %d/%d connections up, warm-up failed %d; first: %s" % (
                                name, rate, o["errors"], o["scheduled"], o["io_errors"], o["bad_responses"],
                                o["non2xx"], o["unfinished"], o["unsent"], o["conns_up"], VHOST_CONNS,
                                o["warmup_failed"], o["first_error"] or "-"))
                if o["reconnects"]:
                    NOTES.append("vhost %s httpload: %d reconnections (%d closed by the peer)" % (
                        name, o["reconnects"], o["peer_closes"]))
                log("vhost %-12s httpload %d/s x %d s, %d conns: sent %d, completed %d, errors %d; latency p50 %.0f "
                    "p90 %.0f p99 %.0f max %.0f us; send lag p99 %.0f us, backlog max %d; httpload %.0f%% of a core; "
                    "machine %s%% busy" % (name, rate, secs, VHOST_CONNS, o["sent"], o["completed"], o["errors"],
                                           o["p50"], o["p90"], o["p99"], o["max"], o["lag_p99"], o["max_backlog"],
                                           100.0 * o["cpu_s"] / secs, fmt(o["machine_busy_pct"], "%.0f")))
                if peer is not None:
                    peer.check_alive("httpload")
        elif prog and paths.get("burrow vhost") is not None:
            anomaly("vhost: no requests/s of the vhost: no half-load latency figures")
        v = paths.get("burrow vhost")
        if v is not None:
            bad = v.http_lines()
            out["server_http_lines"] = len(bad)
            if bad:
                anomaly("burrow vhost server logged %d `http:` lines (refused or failed requests), first:\n%s" % (
                    len(bad), "\n".join("    | " + l for l in bad[:5])))
        # the same 64 idle connections on a fresh pair (no traffic before them): after the wrk run the server's
        # allocator has the freed buffers of wrk's 64 connections at hand, so RSS need not grow for new ones
        if paths.get("burrow vhost") is not None:
            fresh = None
            try:
                fresh = BurrowV(cfg.tmp, cfg.bin, nginx_port, name="burrow vhost fresh")
                idle = {k: nfds(p) for k, p in fresh.mem_pids().items()}
                m = vhost_idle_conns(fresh, VHOST_CONNS, idle)
                out["mem_fresh"] = m
                if m["errors"] or set(m["statuses"]) != {200} or m["closed_by_server"]:
                    anomaly("vhost memory test (fresh pair): statuses %s, errors %s, %d closed by the server" % (
                        m["statuses"], m["errors"][:3], m["closed_by_server"]))
                log("vhost memory, fresh pair: server RSS %s -> %s KB with %d idle keep-alive connections (client %s "
                    "-> %s KB)" % (m["rss_before"].get("server"), m["rss_with"].get("server"), VHOST_CONNS,
                                   m["rss_before"].get("client"), m["rss_with"].get("client")))
                fresh.check_alive("the memory test")
            except Exception as e:
                anomaly("vhost memory test (fresh pair) failed: %s" % e)
                for p in list(STARTED):
                    if p.argv[0] == cfg.bin:
                        stop(p)
            finally:
                if fresh is not None:
                    fresh.stop()
    finally:
        for name in ("ssh -R", "burrow vhost"):
            if paths.get(name) is not None:
                paths[name].stop()
        stop(nginx)
    try:
        with open(os.path.join(cfg.tmp, "nginx-vhost", "error.log"), "rb") as f:
            errs = [l for l in f.read().decode(errors="replace").splitlines() if l.strip()]
        if errs:
            anomaly("vhost nginx error.log: %d lines, first: %s" % (len(errs), errs[0]))
    except OSError:
        pass


def report_vhost(res, cfg, L):
    """The VHOST section and VHOST TARGETS."""
    if not vhost_selected(cfg):
        return
    v = res.get("vhost", {})
    g = lambda p, k: (v.get(p) or {}).get(k)
    n0 = lambda x: "n/a" if x is None else "{:,.0f}".format(x)
    us = lambda x: "n/a" if x is None or x < 0 else "%.0f" % x
    L.append("")
    L.append("VHOST (burrow server --http: requests routed by Host; client -R http:%s:127.0.0.1:NGINX; nginx of its own, "
             "1 worker, access_log off, keepalive_requests 1000000, a %s B file; ssh -R = ssh -N -R to our sshd, %s; "
             "all in this run)" % (VHOST_NAME, n0(VHOST_FILE_BYTES), (v.get("ssh_cipher") or "?").split("@")[0]))
    L.append("  wrk -t%d -c%d keep-alive, %d s per path (burrow vhost: -H 'Host: %s' to the server's HTTP port); p50/p99 "
             "= wrk's latency at that load, usec; relay CPU = user+sys of burrow server + client (sshd + ssh), %% of a "
             "core over the run, and per 1,000 requests; nginx%%, wrk%% likewise; mach%% = all CPUs busy over the run "
             "(/proc/stat, other work included; 100 = every core)" % (VHOST_THREADS, VHOST_CONNS, v.get("secs", 0),
                                                                       VHOST_NAME))
    L.append("%-13s %9s %7s %7s %7s %7s %7s %16s %9s %7s %6s %6s" % (
        "path", "req/s", "vs dir", "vs ssh", "p50", "p99", "errors", "relay CPU %", "ms/1k req", "nginx%", "wrk%",
        "mach%"))
    d, s = g("direct", "rps"), g("ssh -R", "rps")
    for p in VHOST_PATHS:
        w = g(p, "wrk")
        if not w:
            L.append("%-13s %9s" % (p, "n/a"))
            continue
        each = g(p, "cpu_pct_each")
        cpu = ("%.0f (%s)" % (g(p, "cpu_pct"), "+".join("%.0f" % x for x in each))) if each else "-"
        L.append("%-13s %9s %7s %7s %7s %7s %7s %16s %9s %7.0f %6.0f %6s" % (
            p, n0(w["rps"]), fmt(ratio(w["rps"], d), "%.2fx"), fmt(ratio(w["rps"], s), "%.2fx"),
            us(w.get("lat_p50")), us(w.get("lat_p99")), "%d" % w["errors"], cpu,
            fmt(g(p, "cpu_ms_per_1k"), "%.1f"), g(p, "nginx_cpu_pct"), g(p, "wrk_cpu_pct"),
            fmt(g(p, "machine_busy_pct"), "%.0f")))
    if g("burrow vhost", "cpu_s_each"):
        a, b = g("burrow vhost", "cpu_s_each")
        L.append("  burrow vhost CPU over the wrk run: server %.2f s (%.0f%%), client %.2f s (%.0f%% of a core)" % (
            a, g("burrow vhost", "cpu_pct_each")[0], b, g("burrow vhost", "cpu_pct_each")[1]))
    if any(g(p, "wrk") for p in VHOST_TLS_PATHS) or v.get("https_skipped"):
        L.append("")
        L.append("  over HTTPS, the same wrk runs to https://%s:PORT/ (SNI and Host %s; a wrk script resolves it to "
                 "127.0.0.1): nginx https = nginx's own `listen ssl` server with %s's certificate (a throwaway CA's, EC "
                 "P-256); burrow vhost https = the same burrow server's --https port terminating TLS for the HTTP "
                 "tunnel's name (--https-certs), then the vhost as above; keep-alive, so 64 handshakes per run; vs tls = "
                 "vs nginx https, vs http = vs the same path's plain HTTP row (direct, burrow vhost)" % (
                     VHOST_NAME, VHOST_NAME, VHOST_NAME))
        L.append("%-18s %9s %7s %7s %7s %7s %7s %16s %9s %7s %6s %6s" % (
            "path", "req/s", "vs tls", "vs http", "p50", "p99", "errors", "relay CPU %", "ms/1k req", "nginx%", "wrk%",
            "mach%"))
        plain = {"nginx https": "direct", "burrow vhost https": "burrow vhost"}
        t = g("nginx https", "rps")
        for p in VHOST_TLS_PATHS:
            w = g(p, "wrk")
            if not w:
                L.append("%-18s %9s" % (p, "n/a"))
                continue
            each = g(p, "cpu_pct_each")
            cpu = ("%.0f (%s)" % (g(p, "cpu_pct"), "+".join("%.0f" % x for x in each))) if each else "-"
            L.append("%-18s %9s %7s %7s %7s %7s %7s %16s %9s %7.0f %6.0f %6s" % (
                p, n0(w["rps"]), fmt(ratio(w["rps"], t), "%.2fx"), fmt(ratio(w["rps"], g(plain[p], "rps")), "%.2fx"),
                us(w.get("lat_p50")), us(w.get("lat_p99")), "%d" % w["errors"], cpu,
                fmt(g(p, "cpu_ms_per_1k"), "%.1f"), g(p, "nginx_cpu_pct"), g(p, "wrk_cpu_pct"),
                fmt(g(p, "machine_busy_pct"), "%.0f")))
        tls = ["%s %s" % (p, " ".join(x for x in (g(p, "tls")["version"], g(p, "tls")["cipher"]) if x))
               for p in VHOST_TLS_PATHS if g(p, "tls")]
        vt = g("burrow vhost https", "rps")
        L.append("  vhost https / nginx https: %s (%s vs %s req/s); burrow server + client per 1,000 requests: %s ms "
                 "over HTTPS, %s ms over HTTP; negotiated (a Python ssl GET before each run): %s; no half-load row over "
                 "HTTPS (bench/httpload speaks no TLS)" % (
                     fmt(ratio(vt, t), "%.2fx"), n0(vt), n0(t), fmt(g("burrow vhost https", "cpu_ms_per_1k"), "%.1f"),
                     fmt(g("burrow vhost", "cpu_ms_per_1k"), "%.1f"), "; ".join(tls) or "n/a"))
    L.append("")
    rate = v.get("half_rate")
    L.append("  half load: bench/httpload, %s requests/s (half the vhost's wrk figure), open loop over %d keep-alive "
             "connections (one warm-up request each, not counted), %d s; latency = a request's scheduled time .. the "
             "last byte of its response (waiting for a free connection counts), usec; lag = scheduled .. written; "
             "queue = most requests due and not yet written (every connection busy)" % (
                 n0(rate), VHOST_CONNS, v.get("secs", 0)))
    L.append("%-13s %9s %9s %7s %7s %7s %7s %8s %8s %8s %6s %7s %6s" % (
        "path", "sent/s", "completed", "errors", "p50", "p90", "p99", "p99.9", "max", "lag p99", "queue", "load%",
        "mach%"))
    for p in ("direct", "burrow vhost"):
        h = g(p, "half")
        if not h:
            L.append("%-13s %9s" % (p, "n/a"))
            continue
        L.append("%-13s %9s %9s %7d %7s %7s %7s %8s %8s %8s %6d %7.0f %6s" % (
            p, n0(h["rate"]), n0(h["completed"]), h["errors"], us(h["p50"]), us(h["p90"]), us(h["p99"]),
            us(h["p999"]), us(h["max"]), us(h["lag_p99"]), h["max_backlog"], 100.0 * h["cpu_s"] / h["secs"],
            fmt(h.get("machine_busy_pct"), "%.0f")))
    hd, hv = g("direct", "half"), g("burrow vhost", "half")
    add = {}
    if hd and hv and hd["completed"] and hv["completed"]:
        add = {k: hv[k] - hd[k] for k in ("p50", "p90", "p99", "max")}
        rc = hv.get("relay_cpu_pct_each")
        L.append("  added by the vhost: p50 %+.0f, p90 %+.0f, p99 %+.0f us; burrow CPU at half load: %s of a core; "
                 "load%% = httpload's own CPU" % (add["p50"], add["p90"], add["p99"],
                                                  " + ".join("%.0f%%" % x for x in rc) if rc else "n/a"))
    m = v.get("mem")
    L.append("")
    if m:
        ri, rb, rw = v.get("rss_idle") or {}, m["rss_before"], m["rss_with"]
        per = {k: (rw[k] - rb[k]) / VHOST_CONNS for k in rw}
        per_idle = {k: (rw[k] - ri[k]) / VHOST_CONNS for k in rw if k in ri}
        L.append("  memory (VmRSS KB): %d idle keep-alive connections through the vhost (one request answered on each, "
                 "held open), right after the wrk run; before = the same moment without them (wrk's connections closed)"
                 % VHOST_CONNS)
        for k in ("server", "client"):
            L.append("  %-7s idle (no traffic yet) %6s, before %6s, with %d %6s: %s KB per connection (%s over idle); "
                     "fds %s -> %s -> %s" % (
                         k, fmt(ri.get(k), "%d"), fmt(rb.get(k), "%d"), VHOST_CONNS, fmt(rw.get(k), "%d"),
                         fmt(per.get(k), "%.1f"), fmt(per_idle.get(k), "%.1f"), m["fds_before"].get(k, "?"),
                         m["fds_with"].get(k, "?"), m["fds_after"].get(k, "?")))
    else:
        L.append("  memory: n/a")
    mf = v.get("mem_fresh")
    if mf:
        for k in ("server", "client"):
            b, w = mf["rss_before"].get(k), mf["rss_with"].get(k)
            L.append("  %-7s fresh pair (no traffic before): %6s -> %6s with %d: %s KB per connection; fds %s -> %s -> %s"
                     % (k, fmt(b, "%d"), fmt(w, "%d"), VHOST_CONNS,
                        fmt((w - b) / VHOST_CONNS if (w is not None and b is not None) else None, "%.1f"),
                        mf["fds_before"].get(k, "?"), mf["fds_with"].get(k, "?"), mf["fds_after"].get(k, "?")))
    L.append("")
    L.append("VHOST TARGETS (this run)")
    vr = g("burrow vhost", "rps")
    r = ratio(vr, d)
    target(L, "vhost requests/s >= %d%% of direct" % round(VHOST_TARGET * 100), None if r is None else r >= VHOST_TARGET,
           "%s: %s vs %s req/s; vs ssh -R %s (%s req/s)" % (
               fmt(r and r * 100, "%.0f%%"), n0(vr), n0(d), fmt(ratio(vr, s), "%.2fx"), n0(s)))
    ap = add.get("p99")
    target(L, "p99 added at half load < %g ms" % (VHOST_TARGET_P99_US / 1000.0),
           None if ap is None else ap < VHOST_TARGET_P99_US,
           "%s us: vhost p99 %s vs direct %s us at %s req/s" % (
               fmt(ap, "%+.0f"), us(hv and hv["p99"]), us(hd and hd["p99"]), n0(rate)))
    if m:
        L.append("      server: %s KB per idle keep-alive connection through the vhost (%d connections, after the wrk "
                 "run)%s" % (fmt((m["rss_with"].get("server", 0) - m["rss_before"].get("server", 0)) / VHOST_CONNS,
                                 "%.1f"), VHOST_CONNS,
                             "; on a fresh pair %s KB" % fmt((mf["rss_with"].get("server", 0) -
                                                              mf["rss_before"].get("server", 0)) / VHOST_CONNS, "%.1f")
                             if mf else ""))


# --------------------------------------------------------------------------- runner

def measure_peer(peer, cfg, res, heavy=True):
    """Throughput, latency, connections/s; then (heavy) churn and many connections."""
    name = peer.name
    r = res.setdefault(name, {})
    alive = getattr(peer, "check_alive", lambda when: True)
    r["load"] = [loadavg()]    # 1-minute load average at the start and end of this peer's tests (other work)

    if hasattr(peer, "mem_pids"):
        r["rss_idle"] = {k: rss_kb(v) for k, v in peer.mem_pids().items()}
        r["fds_idle"] = {k: nfds(v) for k, v in peer.mem_pids().items()}
        r["fd_kinds_idle"] = {k: fd_kinds(v) for k, v in peer.mem_pids().items()}
        r["rss_idle_anon"] = {k: rss_kb(v, "RssAnon") for k, v in peer.mem_pids().items()}
        r["rss_idle_file"] = {k: rss_kb(v, "RssFile") for k, v in peer.mem_pids().items()}
        r["smaps_idle"] = {k: smaps_summary(v[0]) for k, v in peer.mem_pids().items() if len(v) == 1}

    # CPU of the idle connected pair (the http rows: long polls and heartbeats while nothing moves)
    if getattr(peer, "idle_cpu_test", False):
        measure_idle_cpu(peer, cfg, r)
        if not alive("idle"):
            return

    # throughput
    for streams in (1, 8):
        vals, nbytes = [], 0
        t0 = cpu_ticks(peer.cpu_pids()) if peer.cpu_pids() else 0
        t0_each = [cpu_ticks([p]) for p in peer.cpu_pids()]
        f0 = minflt(peer.cpu_pids())
        f0_each = [minflt([p]) for p in peer.cpu_pids()]
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
            r["minflt_per_gb_each"] = [(minflt([p]) - a) / (nbytes / 1e9) for p, a in zip(peer.cpu_pids(), f0_each)]
            r["cpu_s_each"] = [(cpu_ticks([p]) - a) / CLK_TCK for p, a in zip(peer.cpu_pids(), t0_each)]
            r["cpu_s_per_gb"] = r["cpu_s"] / (nbytes / 1e9)
        if not alive("iperf3 -P %d" % streams):
            return

    # the other direction, single stream (iperf3 -R: through burrow, client -> server; on the http transport
    # the bytes go up in POSTs where the forward runs get them in GETs)
    if getattr(peer, "reverse_test", False):
        vals, nbytes = [], 0
        t0 = cpu_ticks(peer.cpu_pids()) if peer.cpu_pids() else 0
        t0_each = [cpu_ticks([p]) for p in peer.cpu_pids()]
        f0_each = [minflt([p]) for p in peer.cpu_pids()]
        for run in range(cfg.runs):
            out, err = iperf(peer.ports["iperf"], cfg.secs, 1, reverse=True)
            if err:
                anomaly("%s iperf3 -R -P 1 run %d: %s" % (name, run + 1, err))
                restart_iperf_server(cfg)
                if not alive("iperf3 -R"):
                    return
                continue
            vals.append(out["bps"])
            nbytes += out["bytes"]
            mi = out["min_interval_bps"]
            if mi is not None and mi < 0.05 * out["bps"]:
                anomaly("%s iperf3 -R -P 1 run %d: stall, a 1 s interval moved %.3f Gbit/s (average %.2f)"
                        % (name, run + 1, mi / 1e9, out["bps"] / 1e9))
            log("%-7s iperf3 -R -P 1 run %d: %.2f Gbit/s" % (name, run + 1, out["bps"] / 1e9))
        r["tput_r1"] = statistics.median(vals) if vals else None
        r["tput_r1_runs"] = vals
        if peer.cpu_pids() and nbytes:
            r["cpu_s_r1"] = (cpu_ticks(peer.cpu_pids()) - t0) / CLK_TCK
            r["cpu_s_each_r1"] = [(cpu_ticks([p]) - a) / CLK_TCK for p, a in zip(peer.cpu_pids(), t0_each)]
            r["cpu_s_per_gb_r1"] = r["cpu_s_r1"] / (nbytes / 1e9)
            r["minflt_per_gb_each_r1"] = [(minflt([p]) - a) / (nbytes / 1e9) for p, a in zip(peer.cpu_pids(), f0_each)]
        if not alive("iperf3 -R"):
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

    # connections per second: wrk, Connection: close, to nginx through the path
    if "nginx" in peer.ports and getattr(peer, "cps_test", True):
        measure_cps(peer, cfg, r)
        r["load"].append(loadavg())
        if not alive("wrk"):
            return

    if heavy:
        measure_heavy(peer, cfg, res)


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError):
        return None


def measure_heavy(peer, cfg, res):
    """Churn and 1,000 / 10,000 connections. For burrow they run after every other peer's
    throughput: they leave the machine with ~100,000 TIME_WAIT sockets and grown kernel caches,
    and in two of three full runs the peer measured next (mux) came out 25% below its figure
    in a run of its own (0.39x vs 0.53x direct). The cause was not pinned down (50,000 TIME_WAIT
    sockets alone did not do it), so the bench keeps the throughput runs of all peers ahead."""
    r = res.setdefault(peer.name, {})
    alive = getattr(peer, "check_alive", lambda when: True)
    # churn: RSS before and after connections opened and closed at a high rate (wrk, Connection: close)
    if getattr(peer, "churn_test", False) and "nginx" in peer.ports:
        measure_churn(peer, cfg, r)
        if not alive("churn"):
            return

    # memory under 1000 and 10000 connections
    if hasattr(peer, "mem_pids") and "echo" in peer.ports and getattr(peer, "conn_tests", True):
        measure_conns(peer, cfg, r, getattr(peer, "big_test", False))
        alive("%d connections" % NCONN)


def settle_fds(peer, idle, secs):
    """Wait up to secs for the fds of the peer's processes to come back near idle."""
    end = time.time() + secs
    while time.time() < end:
        if all(nfds(v) <= idle[k] + 10 for k, v in peer.mem_pids().items()):
            return True
        time.sleep(0.1)
    return False


def measure_cps(peer, cfg, r):
    name = peer.name
    vals, errs, reqs = [], 0, 0
    roots = peer.cpu_pids()
    t0 = cpu_ticks(roots) if roots else 0
    for run in range(cfg.runs):
        out, err = wrk(peer.ports["nginx"], cfg.cps_secs)
        if err:
            anomaly("%s wrk run %d: %s" % (name, run + 1, err))
            continue
        vals.append(out["rps"])
        reqs += out["requests"]
        errs += out["errors"]
        if out["errors"]:
            anomaly("%s wrk run %d: %d errors of %d requests (%s)" % (name, run + 1, out["errors"],
                                                                     out["requests"], out["error_detail"].strip()))
        log("%-7s wrk Connection: close, %d conns: %.0f requests/s" % (name, WRK_CONNS, out["rps"]))
    r["cps"] = statistics.median(vals) if vals else None
    r["cps_runs"] = vals
    r["cps_errors"] = errs
    if roots and reqs:
        r["cps_cpu_ms_per_1k"] = (cpu_ticks(roots) - t0) / CLK_TCK * 1000 / (reqs / 1000)


def measure_churn(peer, cfg, r):
    name = peer.name
    pids = peer.mem_pids()
    time.sleep(0.5)
    r["rss_churn_before"] = {k: rss_kb(v) for k, v in pids.items()}
    r["fds_churn_before"] = {k: nfds(v) for k, v in pids.items()}
    argv = ["wrk", "-t2", "-c%d" % WRK_CONNS, "-d%ds" % cfg.churn_secs, "--timeout", "5s",
            "-H", "Connection: close", "http://127.0.0.1:%d/%s" % (peer.ports["nginx"], NGINX_FILE)]
    log("%-7s churn: wrk Connection: close for %d s, RSS sampled every %.0f s"
        % (name, cfg.churn_secs, cfg.churn_secs / 10))
    w = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    STARTED.append(w)
    w.argv, w.logpath = argv, None
    samples = []
    t0 = time.time()
    while w.poll() is None and time.time() - t0 < cfg.churn_secs + 30:
        time.sleep(cfg.churn_secs / 10)
        samples.append((round(time.time() - t0, 1), {k: rss_kb(v) for k, v in pids.items()}))
    try:
        out = w.communicate(timeout=30)[0].decode(errors="replace")
    except subprocess.TimeoutExpired:
        stop(w)
        out = ""
    if w in STARTED:
        STARTED.remove(w)
    res, err = parse_wrk(out, w.returncode)
    if err:
        anomaly("%s churn: %s" % (name, err))
    else:
        r["churn_requests"], r["churn_rps"], r["churn_errors"] = res["requests"], res["rps"], res["errors"]
        if res["errors"]:
            anomaly("%s churn: %d errors of %d requests (%s)" % (name, res["errors"], res["requests"],
                                                                res["error_detail"].strip()))
    if not settle_fds(peer, r["fds_churn_before"], 10):
        anomaly("%s: fds not back to their level before churn 10 s after it" % name)
    time.sleep(0.5)
    r["churn_secs"] = cfg.churn_secs
    r["rss_churn_samples"] = samples
    r["rss_churn_after"] = {k: rss_kb(v) for k, v in pids.items()}
    r["fds_churn_after"] = {k: nfds(v) for k, v in pids.items()}
    log("%-7s churn: %s requests; RSS before %s, after %s KB" % (name, r.get("churn_requests"),
                                                                 r["rss_churn_before"], r["rss_churn_after"]))


def emfile_in_logs(peer):
    hits = []
    for p in getattr(peer, "procs_with_logs", lambda: [])() + [SERVICES.get("echo_proc")]:
        if p is None or not p.logpath:
            continue
        try:
            with open(p.logpath, "rb") as f:
                if re.search(rb"Too many open files|EMFILE", f.read()):
                    hits.append(os.path.basename(p.logpath))
        except OSError:
            pass
    return hits


def measure_conns(peer, cfg, r, big):
    name = peer.name
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
    if big:
        need = NCONN_BIG + 200
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft < need:
            r["big_skipped"] = ("RLIMIT_NOFILE of the bench is %d (hard limit), %d connections need %d fds in "
                                "the bench alone" % (soft, NCONN_BIG, need))
            anomaly("%s: %d-connection test skipped: %s" % (name, NCONN_BIG, r["big_skipped"]))
        else:
            t = time.time()
            more, ok2, errs2 = open_many(peer.ports["echo"], NCONN_BIG - NCONN, timeout=120)
            socks += more
            r["big_ok"] = ok + ok2
            r["big_secs"] = time.time() - t
            r["big_errors"] = errs2
            if r["big_ok"] != NCONN_BIG:
                hits = emfile_in_logs(peer)
                r["big_limit"] = ("Too many open files in %s (RLIMIT_NOFILE hard %d)"
                                  % (", ".join(hits), resource.getrlimit(resource.RLIMIT_NOFILE)[1])) if hits else None
                anomaly("%s: only %d/%d connections echoed (%s)%s" % (
                    name, r["big_ok"], NCONN_BIG, errs2, "; limit: " + r["big_limit"] if r["big_limit"] else ""))
            time.sleep(0.5)
            r["rss_big"] = {k: rss_kb(v) for k, v in peer.mem_pids().items()}
            r["fds_big"] = {k: nfds(v) for k, v in peer.mem_pids().items()}
            log("%-7s %d/%d connections echoed (%d more in %.2f s); RSS %s KB"
                % (name, r["big_ok"], NCONN_BIG, NCONN_BIG - NCONN, r["big_secs"], r["rss_big"]))
    n = len(socks)
    for s in socks:
        s.close()
    # wait until the peer has released them, then RSS after close
    settle_fds(peer, r["fds_idle"], 10 if n > NCONN else 1)
    time.sleep(1.0)
    r["rss_after"] = {k: rss_kb(v) for k, v in peer.mem_pids().items()}
    r["fds_after"] = {k: nfds(v) for k, v in peer.mem_pids().items()}
    r["fd_kinds_after"] = {k: fd_kinds(v) for k, v in peer.mem_pids().items()}
    for k in r["fds_after"]:
        ki, ka = r["fd_kinds_idle"].get(k, {}), r["fd_kinds_after"][k]
        extra = {t: ka.get(t, 0) - ki.get(t, 0) for t in set(ka) | set(ki) if ka.get(t, 0) != ki.get(t, 0)}
        if r["fds_after"][k] > r["fds_idle"][k] + 10 and set(extra) == {"pipe"} and extra["pipe"] <= 64:
            NOTES.append("%s %s: %d more pipe fds 1 s after closing the %d connections than idle (%d -> %d): "
                         "a pipe cache (bounded here), not sockets" % (name, k, extra["pipe"], n, ki.get("pipe", 0),
                                                                       ka.get("pipe", 0)))
        elif r["fds_after"][k] > r["fds_idle"][k] + 10:
            anomaly("%s %s: %d fds open 1 s after closing the %d connections (idle: %d): leak, cache or slow close;"
                    " by kind idle %s, after %s" % (name, k, r["fds_after"][k], n, r["fds_idle"][k],
                                                     r["fd_kinds_idle"].get(k), r["fd_kinds_after"][k]))


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
    SERVICES["echo_proc"] = p
    wait_listen(SERVICES["echo"], proc=p)
    keys = ["iperf", "sockperf", "echo"]
    if not shutil.which("wrk"):
        anomaly("wrk not installed: no connections-per-second figures")
    elif not os.path.exists("/usr/sbin/nginx"):
        anomaly("nginx not installed: no connections-per-second figures")
    else:
        try:
            SERVICES["nginx"] = start_nginx(cfg)
            keys.append("nginx")
        except Exception as e:
            anomaly("nginx did not start: %s" % e)
    SERVICES["sink"] = sink_server()
    return {k: SERVICES[k] for k in keys}


# --------------------------------------------------------------------------- report

def fmt(v, spec="%.2f", na="n/a"):
    return na if v is None else spec % v


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def target(L, text, ok, measured):
    st = "n/a" if ok is None else ("MET" if ok else "NOT MET")
    TARGETS.append({"target": text, "status": st, "measured": measured})
    L.append("  %-58s : %-7s (%s)" % (text, st, measured))


TLS_COLS = [("tls aes", "burrow TLS aes"), ("tls chacha", "burrow TLS chacha"), ("ssh aes", "ssh -R aes128-gcm"),
            ("ssh chacha", "ssh -R chacha20"), ("direct", "direct")]
# the plain targets that were met before TLS (issue 4 / issue 3, docs/performance.md): "plain TCP unchanged"
# means they still are
PLAIN_KEPT = ("default -R single stream >= 0.55x direct", "mux single stream >= 0.40x direct",
              "CPU per GB, both processes, dedicated (default) < 0.8 s", "CPU per GB, both processes, mux < 1.5 s",
              "p50 latency added over direct < 40 us", "idle RSS < 4 MB per process",
              "< 8 KB per open connection per side", "RSS after churn within 10%", "%d connections without error" % NCONN_BIG,
              "issue 3: default single stream >= 2x ssh -R")


def same_ssh(p):
    return "ssh chacha" if "chacha" in p else "ssh aes"


def report_tls(res, cfg, L):
    """The TLS section: one column per TLS row (and direct), one line per figure."""
    if not any(tls_selected(cfg, k) for k, _, _ in TLS_PEERS):
        return
    g = lambda p, k: res.get(p, {}).get(k)
    gb = lambda v: v and v / 1e9
    pair = lambda d, spec="%d": "n/a" if not d else " / ".join(fmt(d.get(k), spec) for k in sorted(d, reverse=True))
    L.append("")
    L.append("TLS (burrow client --transport tls --fingerprint <the server's key>, default suite and "
             "--tls-ciphersuites TLS_CHACHA20_POLY1305_SHA256; ssh -R -c aes128-gcm@openssh.com / "
             "chacha20-poly1305@openssh.com; same services, tests and settings as the plain rows; ratios to direct and "
             "to ssh -R in this run: 'vs ssh aes' = ssh -R aes128-gcm, 'vs ssh same' = ssh -R with the same cipher)")
    L.append("%-34s" % "figure" + "".join(" %23s" % lab for _, lab in TLS_COLS))

    def row(label, f):
        cells = []
        for p, _ in TLS_COLS:
            try:
                v = f(p)
            except (TypeError, KeyError, ZeroDivisionError):
                v = None
            cells.append(" %23s" % ("" if v is None else v))
        if any(c.strip() for c in cells):
            L.append("%-34s" % label + "".join(cells))
    row("load average at start / end", lambda p: " / ".join(fmt(x, "%.2f") for x in g(p, "load")))
    row("cipher (negotiated)", lambda p: g(p, "suite") and g(p, "suite").replace("TLS_", "").replace("_SHA256", "")
        or (g(p, "cipher").replace("@openssh.com", "") if p.startswith("ssh") and g(p, "cipher") else None))
    for n in (1, 8):
        k = "tput_p%d" % n
        row("P%d Gbit/s" % n, lambda p: fmt(gb(g(p, k))) if g(p, k) else None)
        row("  P%d runs" % n, lambda p: " ".join("%.2f" % (x / 1e9) for x in g(p, k + "_runs")) or None)
        row("  P%d vs direct" % n, lambda p: fmt(ratio(g(p, k), g("direct", k)), "%.2fx") if p != "direct" else None)
        row("  P%d vs ssh aes" % n, lambda p: fmt(ratio(g(p, k), g("ssh aes", k)), "%.2fx") if p != "direct" else None)
        row("  P%d vs ssh same" % n, lambda p: fmt(ratio(g(p, k), g(same_ssh(p), k)), "%.2fx") if p != "direct" else None)
    row("  P8/P1", lambda p: fmt(ratio(g(p, "tput_p8"), g(p, "tput_p1")), "%.2fx"))
    row("CPU s per GB (P1, both sides)", lambda p: fmt(g(p, "cpu_s_per_gb"), "%.3f") if p != "direct" else None)
    row("  split: server+client/sshd+ssh", lambda p: " + ".join("%.2f" % x for x in g(p, "cpu_s_each")) + " s")
    row("  vs ssh aes", lambda p: fmt(ratio(g(p, "cpu_s_per_gb"), g("ssh aes", "cpu_s_per_gb")), "%.2fx")
        if p != "direct" else None)
    row("  vs ssh same", lambda p: fmt(ratio(g(p, "cpu_s_per_gb"), g(same_ssh(p), "cpu_s_per_gb")), "%.2fx")
        if p != "direct" else None)
    row("  minor faults per GB", lambda p: fmt(g(p, "minflt_per_gb"), "%.0f") if p != "direct" else None)
    dl = g("direct", "lat")
    row("latency us one-way avg/p50/p99", lambda p: "%.1f/%.1f/%.1f" % (g(p, "lat")["avg"], g(p, "lat")["p50"],
                                                                          g(p, "lat")["p99"]))
    row("  added over direct p50 / p99", lambda p: "%+.1f / %+.1f" % (g(p, "lat")["p50"] - dl["p50"],
                                                                      g(p, "lat")["p99"] - dl["p99"])
        if p != "direct" else None)
    row("connections/s (wrk, close)", lambda p: fmt(g(p, "cps"), "%.0f") if g(p, "cps") is not None else None)
    row("  runs", lambda p: " ".join("%.0f" % x for x in g(p, "cps_runs")) or None)
    row("  vs direct", lambda p: fmt(ratio(g(p, "cps"), g("direct", "cps")), "%.2fx") if p != "direct" else None)
    row("  vs ssh aes", lambda p: fmt(ratio(g(p, "cps"), g("ssh aes", "cps")), "%.2fx") if p != "direct" else None)
    row("  vs ssh same", lambda p: fmt(ratio(g(p, "cps"), g(same_ssh(p), "cps")), "%.2fx") if p != "direct" else None)
    row("  relay CPU ms per 1,000 conns", lambda p: fmt(g(p, "cps_cpu_ms_per_1k"), "%.0f") if p != "direct" else None)
    row("  wrk errors", lambda p: fmt(g(p, "cps_errors"), "%d") if g(p, "cps_errors") is not None else None)
    row("idle RSS KB server/client", lambda p: pair(g(p, "rss_idle")) if g(p, "rss_idle") else None)
    row("  anon+file server", lambda p: "%d+%d" % (g(p, "rss_idle_anon")[p.startswith("ssh") and "sshd" or "server"],
                                                  g(p, "rss_idle_file")[p.startswith("ssh") and "sshd" or "server"]))
    row("  anon+file client", lambda p: "%d+%d" % (g(p, "rss_idle_anon")[p.startswith("ssh") and "ssh" or "client"],
                                                  g(p, "rss_idle_file")[p.startswith("ssh") and "ssh" or "client"]))
    row("RSS KB @%d conns server/client" % NCONN, lambda p: pair(g(p, "rss_conn")) if g(p, "rss_conn") else None)
    row("  KB per open connection", lambda p: " / ".join(
        "%.2f" % ((g(p, "rss_conn")[k] - g(p, "rss_idle")[k]) / NCONN) for k in sorted(g(p, "rss_conn"), reverse=True)))
    row("  connections echoed", lambda p: "%d/%d" % (g(p, "conn_ok"), NCONN))
    row("  RSS KB after closing them", lambda p: pair(g(p, "rss_after")) if g(p, "rss_after") else None)
    row("  fds idle/@%d/after (srv|cli)" % NCONN, lambda p: " | ".join(
        "%d/%d/%d" % (g(p, "fds_idle")[k], g(p, "fds_conn")[k], g(p, "fds_after")[k])
        for k in sorted(g(p, "fds_idle"), reverse=True)))
    tp = res.get("tls_pool") or {}
    if tp:
        n = tp.get("n", TLS_POOL_N)
        L.append("")
        L.append("TLS IDLE DATA CONNECTIONS (VmRSS KB of both burrow processes at idle, one tunnel, client --pool 0 vs "
                 "--pool %d: the data connections connected, handshaken and idle; KB per data connection = "
                 "(RSS@%d - RSS@0) / %d; median of %d round%s)" % (n, n, n, 1 if cfg.quick else 3,
                                                                   "" if cfg.quick else "s"))
        L.append("%-12s %17s %17s %17s %22s   %s" % ("", "--pool 0 srv/cli", "--pool %d srv/cli" % n,
                                                     "--pool 8 srv/cli", "KB per data conn srv/cli", "client sockets 0/%d" % n))
        for key, lab in (("tls aes", "TLS aes"), ("tls chacha", "TLS chacha"), ("plain", "plain TCP")):
            o = tp.get(key)
            if not o:
                continue
            kb = o.get("kb_per_data_conn")
            socks = "/".join(str(statistics.median(x["client_sockets"] for x in o.get("rss_pool%d_runs" % q, [{"client_sockets": 0}])))
                             for q in (0, n))
            L.append("%-12s %17s %17s %17s %22s   %s" % (
                lab, pair(o.get("rss_pool0")), pair(o.get("rss_pool%d" % n)), pair(o.get("rss_pool8")) if o.get("rss_pool8") else "-",
                ("%.1f / %.1f" % (kb["server"], kb["client"])) if kb else "n/a", socks))


WS_COLS = [("ws", "burrow ws"), ("wss", "burrow wss"), ("tls aes", "burrow TLS aes"), ("burrow", "burrow (tcp)"),
           ("direct", "direct")]
HTTP_COLS = [("http", "burrow http"), ("https", "burrow https"), ("tls aes", "burrow TLS aes"),
             ("burrow", "burrow (tcp)"), ("direct", "direct")]


def report_ws(res, cfg, L, kind="ws"):
    """A web transport section (kind ws: WEBSOCKET, http: HTTP TRANSPORT): one column per row of the kind (plain,
    over TLS), its references (burrow TLS aes, plain burrow) and direct. The http section has the reverse
    direction (iperf3 -R), the round trip and the idle CPU too."""
    if not (ws_selected(cfg) if kind == "ws" else http_selected(cfg)):
        return
    cols = WS_COLS if kind == "ws" else HTTP_COLS
    plain_row, tls_row = (kind, kind + "s")
    g = lambda p, k: res.get(p, {}).get(k)
    gb = lambda v: v and v / 1e9
    pair = lambda d, spec="%d": "n/a" if not d else " / ".join(fmt(d.get(k), spec) for k in sorted(d, reverse=True))
    over_tcp = (plain_row, tls_row, "tls aes")      # the columns with a 'vs tcp' figure; 'vs tls': the TLS row only
    L.append("")
    if kind == "ws":
        L.append("WEBSOCKET (burrow client --transport ws, and --transport wss --fingerprint <the server's key> (default "
                 "suite); the server unchanged (its control port takes the upgrade on /); same services, tests and "
                 "settings as the TLS rows; 'vs tcp' = plain burrow (default -R tunnel), 'vs tls' = burrow TLS "
                 "aes128-gcm, both in this run)")
    else:
        L.append("HTTP TRANSPORT (burrow client --transport http: upstream bytes in POSTs, downstream in long-poll GETs, "
                 "every stream multiplexed on the one virtual connection, no data connections; and --transport https "
                 "--fingerprint <the server's key> (default suite); the server unchanged; same services, tests and "
                 "settings as the TLS rows; 'vs tcp' = plain burrow (default -R tunnel), 'vs tls' = burrow TLS "
                 "aes128-gcm, both in this run; P1/P8 = iperf3 sending from the server's side: server -> client = "
                 "GETs; -R P1 = iperf3 -R: client -> server = POSTs)")
    L.append("%-34s" % "figure" + "".join(" %23s" % lab for _, lab in cols))

    def row(label, f):
        cells = []
        for p, _ in cols:
            try:
                v = f(p)
            except (TypeError, KeyError, ZeroDivisionError, IndexError):
                v = None
            cells.append(" %23s" % ("" if v is None else v))
        if any(c.strip() for c in cells):
            L.append("%-34s" % label + "".join(cells))

    short = lambda suite: (suite or "?").replace("TLS_", "").replace("_SHA256", "")

    def wire(p):
        if p == "burrow":
            return "tcp"
        if p == "tls aes":
            return g(p, "suite") and "TLS " + short(g(p, "suite"))
        c = g(p, "transport_check")
        if not c or not c.get("conns"):
            return None
        return "%d/%d %s" % (c["ok"], c["conns"], {"ws": "GET / -> 101", "http": "POST,GET -> 200"}.get(p) or
                             "TLS " + short(c.get("suite")))

    def inside(p):
        c = g(p, "transport_check") or {}
        if "wrong_path_404" in c:
            m = re.search(r"killed by (\w+)", c.get("wrong_path_client") or "")
            if m:      # the client died after the 404s (an anomaly says more)
                return ("yes" if c["wrong_path_404"] else "NOT seen") + "; client " + m.group(1)
            return "yes (404 off path)" if c["wrong_path_404"] else "NOT seen"
        return None
    row("load average at start / end", lambda p: " / ".join(fmt(x, "%.2f") for x in g(p, "load")))
    row("on the wire (probe pair)", wire)
    if kind == "http":
        row("  requests POST / GET (answers)", lambda p: "%d / %d (%s)" % (
            g(p, "transport_check")["posts"], g(p, "transport_check")["gets"],
            " ".join("%s x%d" % (k.split(" ", 1)[-1], v) for k, v in sorted(g(p, "transport_check")["answers"].items())))
            if p == "http" else None)
    row("  upgrade inside TLS (--path)" if kind == "ws" else "  HTTP inside TLS (--path: 404)", inside)
    if kind == "http":
        row("idle CPU % of a core srv/cli", lambda p: "%.2f / %.2f" % (g(p, "idle_cpu_pct")["server"],
                                                                      g(p, "idle_cpu_pct")["client"]))
        row("  schedstat % srv/cli", lambda p: "%.3f / %.3f" % (g(p, "idle_sched_pct")["server"],
                                                               g(p, "idle_sched_pct")["client"]))
        row("  over (s); client sockets", lambda p: "%.0f; %d -> %d" % (g(p, "idle_cpu_secs"), g(p, "idle_client_sockets")[0],
                                                                     g(p, "idle_client_sockets")[1]))
        row("  client reads/writes (calls)", lambda p: "%d / %d" % (g(p, "idle_io")["client"]["syscr"],
                                                                   g(p, "idle_io")["client"]["syscw"]))
        row("  client bytes read/written", lambda p: "%d / %d" % (g(p, "idle_io")["client"]["rchar"],
                                                                 g(p, "idle_io")["client"]["wchar"]))
    for n in (1, 8):
        k = "tput_p%d" % n
        row("P%d Gbit/s" % n, lambda p: fmt(gb(g(p, k))) if g(p, k) else None)
        row("  P%d runs" % n, lambda p: " ".join("%.2f" % (x / 1e9) for x in g(p, k + "_runs")) or None)
        row("  P%d vs direct" % n, lambda p: fmt(ratio(g(p, k), g("direct", k)), "%.2fx") if p != "direct" else None)
        row("  P%d vs tcp" % n, lambda p: fmt(ratio(g(p, k), g("burrow", k)), "%.2fx") if p in over_tcp else None)
        row("  P%d vs tls" % n, lambda p: fmt(ratio(g(p, k), g("tls aes", k)), "%.2fx") if p == tls_row else None)
    row("  P8/P1", lambda p: fmt(ratio(g(p, "tput_p8"), g(p, "tput_p1")), "%.2fx"))
    if kind == "http":
        row("-R P1 Gbit/s (client -> server)", lambda p: fmt(gb(g(p, "tput_r1"))) if g(p, "tput_r1") else None)
        row("  -R P1 runs", lambda p: " ".join("%.2f" % (x / 1e9) for x in g(p, "tput_r1_runs")) or None)
        row("  -R P1 vs direct", lambda p: fmt(ratio(g(p, "tput_r1"), g("direct", "tput_r1")), "%.2fx")
            if p != "direct" else None)
        row("  -R P1 vs tcp", lambda p: fmt(ratio(g(p, "tput_r1"), g("burrow", "tput_r1")), "%.2fx")
            if p in over_tcp else None)
        row("  -R P1 vs tls", lambda p: fmt(ratio(g(p, "tput_r1"), g("tls aes", "tput_r1")), "%.2fx")
            if p == tls_row else None)
        row("  -R P1 / P1", lambda p: fmt(ratio(g(p, "tput_r1"), g(p, "tput_p1")), "%.2fx"))
    row("CPU s per GB (P1, both sides)", lambda p: fmt(g(p, "cpu_s_per_gb"), "%.3f") if p != "direct" else None)
    row("  split: server + client", lambda p: " + ".join("%.2f" % x for x in g(p, "cpu_s_each")) + " s")
    row("  vs tcp", lambda p: fmt(ratio(g(p, "cpu_s_per_gb"), g("burrow", "cpu_s_per_gb")), "%.2fx")
        if p in over_tcp else None)
    row("  vs tls", lambda p: fmt(ratio(g(p, "cpu_s_per_gb"), g("tls aes", "cpu_s_per_gb")), "%.2fx")
        if p == tls_row else None)
    row("  minor faults per GB", lambda p: fmt(g(p, "minflt_per_gb"), "%.0f") if p != "direct" else None)
    if kind == "http":
        row("    server + client", lambda p: " + ".join("%.0f" % x for x in g(p, "minflt_per_gb_each")))
        row("CPU s per GB (-R P1, both sides)", lambda p: fmt(g(p, "cpu_s_per_gb_r1"), "%.3f") if p != "direct" else None)
        row("  split: server + client", lambda p: " + ".join("%.2f" % x for x in g(p, "cpu_s_each_r1")) + " s")
        row("  vs tcp", lambda p: fmt(ratio(g(p, "cpu_s_per_gb_r1"), g("burrow", "cpu_s_per_gb_r1")), "%.2fx")
            if p in over_tcp else None)
        row("  vs tls", lambda p: fmt(ratio(g(p, "cpu_s_per_gb_r1"), g("tls aes", "cpu_s_per_gb_r1")), "%.2fx")
            if p == tls_row else None)
        row("  minor faults/GB srv + cli", lambda p: " + ".join("%.0f" % x for x in g(p, "minflt_per_gb_each_r1")))
    dl = g("direct", "lat")
    row("latency us one-way avg/p50/p99", lambda p: "%.1f/%.1f/%.1f" % (g(p, "lat")["avg"], g(p, "lat")["p50"],
                                                                          g(p, "lat")["p99"]))
    if kind == "http":
        row("  round trip (2x) avg/p50/p99", lambda p: "%.0f/%.0f/%.0f" % (2 * g(p, "lat")["avg"], 2 * g(p, "lat")["p50"],
                                                                          2 * g(p, "lat")["p99"]))
    row("  added over direct p50 / p99", lambda p: "%+.1f / %+.1f" % (g(p, "lat")["p50"] - dl["p50"],
                                                                      g(p, "lat")["p99"] - dl["p99"])
        if p != "direct" else None)
    row("  added over tcp p50 / p99", lambda p: "%+.1f / %+.1f" % (g(p, "lat")["p50"] - g("burrow", "lat")["p50"],
                                                                   g(p, "lat")["p99"] - g("burrow", "lat")["p99"])
        if p in over_tcp else None)
    row("  added over tls p50 / p99", lambda p: "%+.1f / %+.1f" % (g(p, "lat")["p50"] - g("tls aes", "lat")["p50"],
                                                                   g(p, "lat")["p99"] - g("tls aes", "lat")["p99"])
        if p == tls_row else None)
    row("connections/s (wrk, close)", lambda p: fmt(g(p, "cps"), "%.0f") if g(p, "cps") is not None else None)
    row("  runs", lambda p: " ".join("%.0f" % x for x in g(p, "cps_runs")) or None)
    row("  vs direct", lambda p: fmt(ratio(g(p, "cps"), g("direct", "cps")), "%.2fx") if p != "direct" else None)
    row("  vs tcp", lambda p: fmt(ratio(g(p, "cps"), g("burrow", "cps")), "%.2fx") if p in over_tcp else None)
    row("  vs tls", lambda p: fmt(ratio(g(p, "cps"), g("tls aes", "cps")), "%.2fx") if p == tls_row else None)
    row("  relay CPU ms per 1,000 conns", lambda p: fmt(g(p, "cps_cpu_ms_per_1k"), "%.0f") if p != "direct" else None)
    row("  wrk errors", lambda p: fmt(g(p, "cps_errors"), "%d") if g(p, "cps_errors") is not None else None)
    row("idle RSS KB server/client", lambda p: pair(g(p, "rss_idle")) if g(p, "rss_idle") else None)
    row("  anon+file server", lambda p: "%d+%d" % (g(p, "rss_idle_anon")["server"], g(p, "rss_idle_file")["server"]))
    row("  anon+file client", lambda p: "%d+%d" % (g(p, "rss_idle_anon")["client"], g(p, "rss_idle_file")["client"]))
    row("RSS KB @%d conns server/client" % NCONN, lambda p: pair(g(p, "rss_conn")) if g(p, "rss_conn") else None)
    row("  KB per open connection", lambda p: " / ".join(
        "%.2f" % ((g(p, "rss_conn")[k] - g(p, "rss_idle")[k]) / NCONN) for k in sorted(g(p, "rss_conn"), reverse=True)))
    row("  connections echoed", lambda p: "%d/%d" % (g(p, "conn_ok"), NCONN))
    row("  RSS KB after closing them", lambda p: pair(g(p, "rss_after")) if g(p, "rss_after") else None)
    row("  fds idle/@%d/after (srv|cli)" % NCONN, lambda p: " | ".join(
        "%d/%d/%d" % (g(p, "fds_idle")[k], g(p, "fds_conn")[k], g(p, "fds_after")[k])
        for k in sorted(g(p, "fds_idle"), reverse=True)))
    if "burrow" in cfg.only_set and g("burrow", "rss_conn"):
        L.append("  (burrow (tcp): the plain row's figures: its 1,000 connections come after its churn test, and 'after "
                 "closing them' after its {:,}; idle is before any traffic, as in the other columns)".format(NCONN_BIG)
                 if g("burrow", "rss_big") else
                 "  (burrow (tcp): the plain row's figures: its 1,000 connections come after its churn test; idle is "
                 "before any traffic, as in the other columns)")
    tp = res.get("tls_pool") or {}
    if kind == "ws" and any(tp.get(k) for k in ("ws", "wss")):
        n = tp.get("n", TLS_POOL_N)
        L.append("")
        L.append("WS IDLE DATA CONNECTIONS (as TLS IDLE DATA CONNECTIONS: VmRSS KB of both burrow processes at idle, one "
                 "tunnel, client --pool 0 vs --pool %d; KB per data connection = (RSS@%d - RSS@0) / %d; median of %d "
                 "round%s, the same rounds as the TLS and plain figures)" % (n, n, n, 1 if cfg.quick else 3,
                                                                              "" if cfg.quick else "s"))
        L.append("%-12s %17s %17s %22s   %s" % ("", "--pool 0 srv/cli", "--pool %d srv/cli" % n,
                                                "KB per data conn srv/cli", "client sockets 0/%d" % n))
        for key, lab in (("ws", "ws"), ("wss", "wss"), ("tls aes", "TLS aes"), ("plain", "plain TCP")):
            o = tp.get(key)
            if not o:
                continue
            kb = o.get("kb_per_data_conn")
            socks = "/".join(str(statistics.median(x["client_sockets"] for x in o.get("rss_pool%d_runs" % q, [{"client_sockets": 0}])))
                             for q in (0, n))
            L.append("%-12s %17s %17s %22s   %s" % (
                lab, pair(o.get("rss_pool0")), pair(o.get("rss_pool%d" % n)),
                ("%.1f / %.1f" % (kb["server"], kb["client"])) if kb else "n/a", socks))


def report_ws_targets(res, cfg, L):
    """WS TARGETS: wss throughput as a percentage of TLS throughput (target >= WS_TARGET, single stream; 8 streams
    shown), and ws against plain TCP (no target)."""
    if not ws_selected(cfg):
        return
    g = lambda p, k: res.get(p, {}).get(k)
    pct = lambda r: fmt(r and r * 100, "%.0f%%")
    gbs = lambda v: fmt(v and v / 1e9)
    L.append("")
    L.append("WS TARGETS (issue 10: wss throughput against burrow TLS aes128-gcm; ws against plain burrow; this run)")
    a, b = g("wss", "tput_p1"), g("tls aes", "tput_p1")
    r = ratio(a, b)
    target(L, "wss single stream >= %d%% of TLS's" % (WS_TARGET * 100), r and r >= WS_TARGET,
           "%s: %s vs %s Gbit/s" % (pct(r), gbs(a), gbs(b)))
    a, b = g("wss", "tput_p8"), g("tls aes", "tput_p8")
    L.append("      wss 8 streams: %s of TLS's (%s vs %s Gbit/s)" % (pct(ratio(a, b)), gbs(a), gbs(b)))
    parts = []
    for n in (1, 8):
        a, b = g("ws", "tput_p%d" % n), g("burrow", "tput_p%d" % n)
        parts.append("%s %s (%s vs %s Gbit/s)" % ("single stream" if n == 1 else "8 streams", pct(ratio(a, b)),
                                                 gbs(a), gbs(b)))
    L.append("      ws vs plain TCP: " + ", ".join(parts))
    L.append("      CPU per GB: wss %s of TLS's (%s vs %s s), ws %s of plain TCP's (%s vs %s s)" % (
        pct(ratio(g("wss", "cpu_s_per_gb"), g("tls aes", "cpu_s_per_gb"))), fmt(g("wss", "cpu_s_per_gb"), "%.3f"),
        fmt(g("tls aes", "cpu_s_per_gb"), "%.3f"), pct(ratio(g("ws", "cpu_s_per_gb"), g("burrow", "cpu_s_per_gb"))),
        fmt(g("ws", "cpu_s_per_gb"), "%.3f"), fmt(g("burrow", "cpu_s_per_gb"), "%.3f")))
    for key in ("ws", "wss"):
        for role, sm in sorted((g(key, "smaps_idle") or {}).items()):
            if sm:
                L.append("      %s idle %s: Pss %d KB; largest RSS: %s" % (
                    key, role, sm["pss"], ", ".join("%s %d KB" % (n, kb) for n, kb in sm["top"])))


def report_http_targets(res, cfg, L):
    """HTTP TARGETS: http single stream >= 1 Gbit/s on loopback (both directions: server -> client in GETs, the
    iperf3 default, and client -> server in POSTs, iperf3 -R; the lower one counts), the 64 B ping-pong round trip
    < 2 ms (sockperf's avg, which is one-way = RTT/2, doubled), and an idle connected client < 1% of one core; the
    https figures below each, without a target."""
    if not http_selected(cfg):
        return
    g = lambda p, k: res.get(p, {}).get(k)
    gbs = lambda v: fmt(v and v / 1e9)
    L.append("")
    L.append("HTTP TARGETS (burrow --transport http on loopback, this run; https below each, no target)")

    def tput(key):
        a, b = g(key, "tput_p1"), g(key, "tput_r1")
        low = min(a, b) if (a is not None and b is not None) else None
        return low, "server->client (GETs) %s, client->server (POSTs, -R) %s Gbit/s; lower %s" % (gbs(a), gbs(b), gbs(low))
    low, txt = tput("http")
    target(L, "http single stream >= %g Gbit/s on loopback" % (HTTP_TARGET_BPS / 1e9),
           None if low is None else low >= HTTP_TARGET_BPS, txt)
    L.append("      https: %s" % tput("https")[1])

    def rtt(key):
        l = g(key, "lat")
        if not l:
            return None, "n/a"
        return 2 * l["avg"], ("round trip avg %.0f us (p50 %.0f, p99 %.0f; sockperf one-way avg/p50/p99 x 2)"
                              % (2 * l["avg"], 2 * l["p50"], 2 * l["p99"]))
    v, txt = rtt("http")
    target(L, "64 B ping-pong < %g ms (round trip)" % (HTTP_TARGET_RTT_US / 1000),
           None if v is None else v < HTTP_TARGET_RTT_US, txt)
    L.append("      https: %s" % rtt("https")[1])

    def idle(key):
        c = g(key, "idle_cpu_pct")
        if not c:
            return None, "n/a"
        sc = g(key, "idle_sched_pct") or {}
        io = (g(key, "idle_io") or {}).get("client") or {}
        return c["client"], ("client %.2f%%, server %.2f%% of one core over %.0f s idle (utime+stime, /proc; schedstat: "
                             "client %s%%, server %s%%; client %s reads, %s writes)" % (
                                 c["client"], c["server"], g(key, "idle_cpu_secs"), fmt(sc.get("client"), "%.3f"),
                                 fmt(sc.get("server"), "%.3f"), io.get("syscr", "?"), io.get("syscw", "?")))
    v, txt = idle("http")
    target(L, "idle client < %g%% of a core" % HTTP_TARGET_IDLE_PCT, None if v is None else v < HTTP_TARGET_IDLE_PCT, txt)
    L.append("      https: %s" % idle("https")[1])
    for key in HTTP_PEERS:
        for role, sm in sorted((g(key, "smaps_idle") or {}).items()):
            if sm:
                L.append("      %s idle %s: Pss %d KB; largest RSS: %s" % (
                    key, role, sm["pss"], ", ".join("%s %d KB" % (n, kb) for n, kb in sm["top"])))


def report_tls_targets(res, cfg, L, plain_targets):
    if not any(tls_selected(cfg, k) for k, _, _ in TLS_PEERS):
        return
    g = lambda p, k: res.get(p, {}).get(k)
    L.append("")
    L.append("TLS TARGETS (burrow TLS = the default suite, aes128-gcm, against ssh -R -c aes128-gcm@openssh.com; "
             "chacha20 against ssh -R chacha20 below each)")
    for key, ssh in (("tls aes", "ssh aes"), ("tls chacha", "ssh chacha")):
        a, b = g(key, "tput_p1"), g(ssh, "tput_p1")
        r = ratio(a, b)
        m = "%s: %s vs %s Gbit/s" % (fmt(r, "%.2fx"), fmt(a and a / 1e9), fmt(b and b / 1e9))
        if key == "tls aes":
            target(L, "TLS single stream >= 1.5x ssh -R aes128-gcm", r and r >= 1.5, m)
        else:
            L.append("      chacha20: TLS chacha20 vs ssh -R chacha20 %s" % m)
    for key, ssh in (("tls aes", "ssh aes"), ("tls chacha", "ssh chacha")):
        a, b = g(key, "cpu_s_per_gb"), g(ssh, "cpu_s_per_gb")
        r = ratio(a, b)
        m = "%s: %s vs %s s per GB" % (fmt(r, "%.2fx"), fmt(a, "%.3f"), fmt(b, "%.3f"))
        if key == "tls aes":
            target(L, "TLS CPU per GB <= 0.5x ssh -R's (aes128-gcm)", r and r <= 0.5, m)
        else:
            L.append("      chacha20: %s" % m)
    # plain TCP unchanged: the plain targets met before TLS are still met in this run
    if plain_targets is None:
        target(L, "plain TCP unchanged (plain targets still met)", None, "plain rows not run: add burrow,mux to --only")
    else:
        kept = [t for t in plain_targets if t["target"].startswith(PLAIN_KEPT) and t["status"] != "n/a"]
        bad = [t for t in kept if t["status"] != "MET"]
        target(L, "plain TCP unchanged (plain targets still met)", (not bad) if kept else None,
               "%d of %d met before TLS still MET%s" % (len(kept) - len(bad), len(kept),
                                                          "; NOT MET: " + "; ".join("%s (%s)" % (t["target"], t["measured"])
                                                                                    for t in bad) if bad else ""))
    for key, lab in (("tls aes", "aes"), ("tls chacha", "chacha20")):
        ri = g(key, "rss_idle") or {}
        txt = "server %s KB, client %s KB" % (ri.get("server", "n/a"), ri.get("client", "n/a"))
        if key == "tls aes":
            target(L, "idle RSS < 6 MB per process with TLS on", (max(ri.values()) < 6144) if ri else None, txt)
        else:
            L.append("      chacha20: %s" % txt)
    src = "plain burrow row"
    ri = g("burrow", "rss_idle")
    if not ri:
        ri, src = ((res.get("tls_pool") or {}).get("plain") or {}).get("rss_pool8"), "idle test, plain --pool 8, one tunnel"
    target(L, "idle RSS < 4 MB per process without TLS", (max(ri.values()) < 4096) if ri else None,
           "server %s KB, client %s KB (%s)" % ((ri or {}).get("server", "n/a"), (ri or {}).get("client", "n/a"), src))
    tp = res.get("tls_pool") or {}
    for key, lab in (("tls aes", "aes"), ("tls chacha", "chacha20")):
        kb = (tp.get(key) or {}).get("kb_per_data_conn")
        txt = ("server %.1f KB, client %.1f KB" % (kb["server"], kb["client"])) if kb else "n/a"
        if key == "tls aes":
            target(L, "< 16 KB per idle TLS data connection (per process)", (max(kb.values()) < 16) if kb else None,
                   txt + " (--pool 0 vs --pool %d)" % tp.get("n", TLS_POOL_N))
        else:
            L.append("      chacha20: %s" % txt)
    kb = (tp.get("plain") or {}).get("kb_per_data_conn")
    if kb:
        L.append("      plain TCP data connection, for reference: server %.1f KB, client %.1f KB" % (kb["server"], kb["client"]))
    for key in ("tls aes", "tls chacha"):
        for role, sm in sorted((g(key, "smaps_idle") or {}).items()):
            if sm:
                L.append("      %s idle %s: Pss %d KB; largest RSS: %s" % (
                    key, role, sm["pss"], ", ".join("%s %d KB" % (n, kb) for n, kb in sm["top"])))


def report(res, cfg):
    del TARGETS[:]
    L = []
    peers = ["direct", "burrow", "mux", "ssh -R", "socat"]
    g = lambda p, k: res.get(p, {}).get(k)
    L.append("")
    L.append("burrow bench (%s, %s): loopback, %d vCPU, kernel %s, iperf3 %ds x %d run%s (median), sockperf %ds, 64 B, "
             "wrk %ds x %d, churn %ds, %.0f s in all"
             % ("quick" if cfg.quick else "full", res.get("_date", "?"), os.cpu_count(), os.uname().release,
                cfg.secs, cfg.runs, "" if cfg.runs == 1 else "s", cfg.lat_secs, cfg.cps_secs, cfg.runs,
                cfg.churn_secs, res.get("_secs", 0)))
    L.append("load average at start %s, at end %s (other work on the machine makes numbers noisy); "
             "RLIMIT_NOFILE %s" % (res.get("_load_start", "?"), res.get("_load_end", "?"),
                                   "/".join(str(x) for x in res.get("_nofile", []))))
    L.append("burrow = default -R tunnel (streams start multiplexed; after 256K one moves to one of the client's "
             "8 dedicated data connections, spliced); mux = client --pool 0 (every stream stays multiplexed)")
    binfo = res.get("burrow", {}) if res.get("burrow", {}).get("version") else res.get("_bin", {})
    if binfo.get("version"):
        L.append("binary: %s (%s, built %s, sha256 %s..., copied at start; tree %s)%s" % (
                 cfg.bin_orig, binfo["version"], binfo.get("mtime", "?"), binfo.get("sha256_12"), cfg.git,
                 "  extra args: server %r client %r" % (os.environ.get("BURROW_SERVER_ARGS", ""),
                                                       os.environ.get("BURROW_CLIENT_ARGS", ""))
                 if os.environ.get("BURROW_SERVER_ARGS") or os.environ.get("BURROW_CLIENT_ARGS") else ""))
    if res.get("ssh -R", {}).get("cipher"):
        L.append("ssh -R: %s, cipher %s" % (res["ssh -R"].get("version", ""), res["ssh -R"]["cipher"]))
    # the plain sections and targets only when a plain peer ran (not for --only tls)
    plain = bool(cfg.only_set & {"burrow", "mux", "ssh", "socat", "callgrind"})
    plain_from = len(L)
    L.append("")
    L.append("THROUGHPUT (iperf3, receiver Gbit/s)")
    L.append("%-8s %9s %9s %9s %9s %9s %9s %8s   %s" % ("path", "P1", "P8", "P1/dir", "P8/dir", "P1/ssh", "P8/ssh",
                                                       "P8/P1", "P1 runs | P8 runs"))
    for p in peers:
        a, b = g(p, "tput_p1"), g(p, "tput_p8")
        da, db = g("direct", "tput_p1"), g("direct", "tput_p8")
        sa, sb = g("ssh -R", "tput_p1"), g("ssh -R", "tput_p8")
        runs = " ".join("%.2f" % (x / 1e9) for x in (g(p, "tput_p1_runs") or [])) + " | " + \
            " ".join("%.2f" % (x / 1e9) for x in (g(p, "tput_p8_runs") or []))
        L.append("%-8s %9s %9s %9s %9s %9s %9s %8s   %s" % (
            p, fmt(a and a / 1e9), fmt(b and b / 1e9), fmt(ratio(a, da), "%.2fx"), fmt(ratio(b, db), "%.2fx"),
            fmt(ratio(a, sa), "%.2fx"), fmt(ratio(b, sb), "%.2fx"), fmt(ratio(b, a), "%.2fx"), runs))
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
    L.append("CONNECTIONS PER SECOND (wrk -t2 -c%d -H 'Connection: close' to nginx, %s B file: open, GET, close; "
             "median of %d x %d s)" % (WRK_CONNS, "~130", cfg.runs, cfg.cps_secs))
    L.append("%-8s %10s %8s %8s %8s %14s   %s" % ("path", "req/s", "vs dir", "vs ssh", "errors", "CPU ms/1k conn",
                                                "runs"))
    for p in ("direct", "burrow", "mux", "ssh -R"):
        c = g(p, "cps")
        L.append("%-8s %10s %8s %8s %8s %14s   %s" % (
            p, fmt(c, "%.0f"), fmt(ratio(c, g("direct", "cps")), "%.2fx"), fmt(ratio(c, g("ssh -R", "cps")), "%.2fx"),
            fmt(g(p, "cps_errors"), "%d"), fmt(g(p, "cps_cpu_ms_per_1k"), "%.0f"),
            " ".join("%.0f" % x for x in (g(p, "cps_runs") or [])) or "-"))
    L.append("")
    L.append("CPU during single-stream throughput (user+sys of the relay processes / GB moved)")
    L.append("%-8s %12s %10s %9s %12s   %s" % ("path", "CPU s per GB", "CPU s", "vs ssh", "minflt/GB", "processes"))
    procs = {"burrow": ("server", "client"), "mux": ("server", "client"), "ssh -R": ("sshd (all)", "ssh"),
             "socat": ("socat+children",)}
    for p in ("burrow", "mux", "ssh -R", "socat"):
        each = g(p, "cpu_s_each") or []
        split = " + ".join("%s %.2f s" % (n, c) for n, c in zip(procs[p], each)) if each else "/".join(procs[p])
        L.append("%-8s %12s %10s %9s %12s   %s" % (
            p, fmt(g(p, "cpu_s_per_gb"), "%.3f"), fmt(g(p, "cpu_s"), "%.2f"),
            fmt(ratio(g(p, "cpu_s_per_gb"), g("ssh -R", "cpu_s_per_gb")), "%.2fx"),
            fmt(g(p, "minflt_per_gb"), "%.0f"), split))
    L.append("")
    L.append("MEMORY (VmRSS KB; @N = N concurrent connections through the tunnel to an echo service, each echoed; "
             "KB/conn = (RSS@N - idle) / N, per process = per side)")
    L.append("%-8s %-7s %8s %8s %8s %8s %9s %8s %9s   %s" % (
        "path", "process", "idle", "@%d" % NCONN, "KB/conn", "@%d" % NCONN_BIG, "KB/conn", "after", "conns ok",
        "fds idle/@%d/@%d/after" % (NCONN, NCONN_BIG)))
    for p, roles in (("burrow", ("server", "client")), ("mux", ("server", "client")), ("ssh -R", ("sshd", "ssh"))):
        ri, rc, rb, ra = (g(p, "rss_idle") or {}), (g(p, "rss_conn") or {}), (g(p, "rss_big") or {}), \
            (g(p, "rss_after") or {})
        if not ri:
            continue
        fi, fc, fb, fa = g(p, "fds_idle") or {}, g(p, "fds_conn") or {}, g(p, "fds_big") or {}, g(p, "fds_after") or {}
        for role in list(roles) + ["total"]:
            if role == "total":
                i, c, b, a = [sum(x.values()) if x else None for x in (ri, rc, rb, ra)]
            else:
                i, c, b, a = ri.get(role), rc.get(role), rb.get(role), ra.get(role)
            per = (c - i) / NCONN if (c is not None and i is not None) else None
            perb = (b - i) / g(p, "big_ok") if (b is not None and i is not None and g(p, "big_ok")) else None
            fdcol = ("%s/%s/%s/%s" % (fi.get(role, "-"), fc.get(role, "-"), fb.get(role, "-"), fa.get(role, "-"))) \
                if role != "total" else ""
            okcol = ""
            if role == "total" and g(p, "conn_ok") is not None:
                okcol = "%d" % g(p, "conn_ok") + ("/%d" % g(p, "big_ok") if g(p, "big_ok") is not None else "")
            L.append("%-8s %-7s %8s %8s %8s %8s %9s %8s %9s   %s" % (
                p, role, fmt(i, "%d"), fmt(c, "%d"), fmt(per, "%.2f"), fmt(b, "%d"), fmt(perb, "%.2f"),
                fmt(a, "%d"), okcol, fdcol))
    if g("burrow", "big_skipped"):
        L.append("  %d connections: skipped: %s" % (NCONN_BIG, g("burrow", "big_skipped")))
    if g("burrow", "big_limit"):
        L.append("  %d connections: limited: %s" % (NCONN_BIG, g("burrow", "big_limit")))
    if g("burrow", "rss_churn_before"):
        L.append("")
        L.append("CHURN (burrow default: wrk -c%d Connection: close through the tunnel for %d s; %s requests, %s req/s, "
                 "%s errors; RSS KB)" % (WRK_CONNS, g("burrow", "churn_secs"), fmt(g("burrow", "churn_requests"), "%d"),
                                         fmt(g("burrow", "churn_rps"), "%.0f"), fmt(g("burrow", "churn_errors"), "%d")))
        bef, aft = g("burrow", "rss_churn_before"), g("burrow", "rss_churn_after") or {}
        for role in ("server", "client"):
            samp = " ".join("%d" % s[1].get(role, 0) for s in (g("burrow", "rss_churn_samples") or []))
            L.append("  %-7s idle %6s  before %6s  after %6s  (%s)   during: %s" % (
                role, fmt((g("burrow", "rss_idle") or {}).get(role), "%d"), fmt(bef.get(role), "%d"),
                fmt(aft.get(role), "%d"), fmt(ratio(aft.get(role), bef.get(role)) and
                                             (ratio(aft.get(role), bef.get(role)) - 1) * 100, "%+.1f%%"), samp))
        L.append("  (before = after the throughput, latency and connections-per-second tests; idle = before any traffic)")
    cg = res.get("callgrind")
    if cg:
        L.append("")
        L.append("CALLGRIND (instructions executed in user space, Ir, both processes under valgrind --tool=callgrind: "
                 "one connection moving %d MB through the tunnel, median of %d runs (min-max of the total); "
                 "baseline = same with 0 bytes: start-up, pool, one open, shutdown; net = total - baseline)"
                 % (CALLGRIND_MB, CALLGRIND_RUNS))
        L.append("%-8s %15s %15s %15s %15s %15s %8s %6s   %s" % ("path", "server Ir", "client Ir", "total Ir",
                                                                 "baseline total", "net total", "Ir/byte", "secs",
                                                                 "total min-max"))
        big = lambda v: "n/a" if v is None else "{:,}".format(v)
        for label in ("default", "mux"):
            c = cg.get(label) or {}
            net = c.get("net_total")
            L.append("%-8s %15s %15s %15s %15s %15s %8s %6s   %s-%s" % (
                label, big(c.get("ir_server")), big(c.get("ir_client")), big(c.get("ir_total")),
                big((c.get("base") or {}).get("total")), big(net),
                fmt(net and net / (CALLGRIND_MB << 20), "%.3f"), fmt(c.get("secs"), "%.1f"),
                big(c.get("ir_min")), big(c.get("ir_max"))))

    if not plain:
        del L[plain_from:]
    report_tls(res, cfg, L)
    report_ws(res, cfg, L)
    report_ws(res, cfg, L, "http")
    plain_from, targets_from = len(L), len(TARGETS)
    L.append("")
    L.append("TARGETS (issue 4; issue 3 at the end)")
    d1, d8 = g("direct", "tput_p1"), g("direct", "tput_p8")
    b1, b8, s1 = g("burrow", "tput_p1"), g("burrow", "tput_p8"), g("ssh -R", "tput_p1")
    m1, m8 = g("mux", "tput_p1"), g("mux", "tput_p8")
    rd, rs = ratio(b1, d1), ratio(b1, s1)
    target(L, "default -R single stream >= 0.55x direct", rd and rd >= 0.55,
           "%s: %s vs %s Gbit/s" % (fmt(rd, "%.2fx"), fmt(b1 and b1 / 1e9), fmt(d1 and d1 / 1e9)))
    target(L, "default -R single stream >= 3x ssh -R", rs and rs >= 3,
           "%s: ssh -R %s Gbit/s" % (fmt(rs, "%.2fx"), fmt(s1 and s1 / 1e9)))
    rm = ratio(m1, d1)
    target(L, "mux single stream >= 0.40x direct", rm and rm >= 0.40,
           "%s: %s Gbit/s" % (fmt(rm, "%.2fx"), fmt(m1 and m1 / 1e9)))
    for lab, a, b in (("default", b1, b8), ("mux", m1, m8)):
        rr = ratio(b, a)
        target(L, "%s: 8 streams no worse than single" % lab, rr and rr >= 1.0,
               "P8 %s vs P1 %s Gbit/s = %s" % (fmt(b and b / 1e9), fmt(a and a / 1e9), fmt(rr, "%.2fx")))
    cb, cm = g("burrow", "cpu_s_per_gb"), g("mux", "cpu_s_per_gb")
    target(L, "CPU per GB, both processes, dedicated (default) < 0.8 s", cb and cb < 0.8, fmt(cb, "%.3f s"))
    target(L, "CPU per GB, both processes, mux < 1.5 s", cm and cm < 1.5,
           "%s (socat, one hop: %s)" % (fmt(cm, "%.3f s"), fmt(g("socat", "cpu_s_per_gb"), "%.3f s")))
    for lab in ("burrow", "mux"):
        l = g(lab, "lat")
        add = (l["p50"] - dl["p50"]) if (l and dl) else None
        target(L, "p50 latency added over direct < 40 us (%s)" % ("default" if lab == "burrow" else lab),
               add is not None and add < 40, "%s us; p99 added %s us" % (
                   fmt(add, "%+.1f"), fmt((l["p99"] - dl["p99"]) if (l and dl) else None, "%+.1f")))
    ri = g("burrow", "rss_idle") or {}
    target(L, "idle RSS < 4 MB per process", (max(ri.values()) < 4096) if ri else None,
           "server %s KB, client %s KB" % (ri.get("server", "n/a"), ri.get("client", "n/a")))
    rb, rc = g("burrow", "rss_big") or {}, g("burrow", "rss_conn") or {}
    if rb and g("burrow", "big_ok"):
        per = {k: (rb[k] - ri[k]) / g("burrow", "big_ok") for k in rb}
        n = NCONN_BIG
    elif rc:
        per = {k: (rc[k] - ri[k]) / NCONN for k in rc}
        n = NCONN
    else:
        per, n = {}, 0
    target(L, "< 8 KB per open connection per side", (max(per.values()) < 8) if per else None,
           "@%d: server %s, client %s KB/conn" % (n, fmt(per.get("server"), "%.2f"), fmt(per.get("client"), "%.2f")))
    bef, aft = g("burrow", "rss_churn_before") or {}, g("burrow", "rss_churn_after") or {}
    growth = {k: (aft[k] - bef[k]) / bef[k] * 100 for k in aft if bef.get(k)}
    target(L, "RSS after churn within 10%% of before (%d s churn)" % cfg.churn_secs,
           (max(abs(x) for x in growth.values()) <= 10) if growth else None,
           ", ".join("%s %d -> %d KB (%+.1f%%)" % (k, bef[k], aft[k], growth[k]) for k in sorted(growth)) or "n/a")
    bo = g("burrow", "big_ok")
    target(L, "%d connections without error" % NCONN_BIG, None if bo is None else bo == NCONN_BIG,
           ("%d/%d echoed" % (bo, NCONN_BIG) if bo is not None else (g("burrow", "big_skipped") or "not run"))
           + ("; " + g("burrow", "big_limit") if g("burrow", "big_limit") else ""))
    target(L, "issue 3: default single stream >= 2x ssh -R", rs and rs >= 2, fmt(rs, "%.2fx"))
    target(L, "issue 3: idle RSS < 4 MB per process", (max(ri.values()) < 4096) if ri else None,
           "server %s KB, client %s KB" % (ri.get("server", "n/a"), ri.get("client", "n/a")))
    if ri:
        ra, rf = g("burrow", "rss_idle_anon") or {}, g("burrow", "rss_idle_file") or {}
        L.append("      idle RSS anon+file: server %d+%d, client %d+%d KB" % (
            ra.get("server", 0), rf.get("server", 0), ra.get("client", 0), rf.get("client", 0)))
        for role, sm in sorted((g("burrow", "smaps_idle") or {}).items()):
            if sm:
                L.append("      idle %s: Pss %d KB; largest RSS: %s" % (
                    role, sm["pss"], ", ".join("%s %d KB" % (n, kb) for n, kb in sm["top"])))
    plain_targets = TARGETS[targets_from:]
    if not plain:
        del L[plain_from:]
        del TARGETS[targets_from:]
    report_tls_targets(res, cfg, L, plain_targets if plain else None)
    report_ws_targets(res, cfg, L)
    report_http_targets(res, cfg, L)
    report_forward(res, cfg, L)
    report_udp(res, cfg, L)
    report_vhost(res, cfg, L)
    if NOTES:
        L.append("")
        L.append("NOTES")
        for a in NOTES:
            L.append("  - " + a)
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
    ap.add_argument("--only", default=None,
                    help="what to run besides direct: burrow,mux,ssh,socat,callgrind, tls (= tls-burrow: burrow "
                         "TLS aes128-gcm and chacha20 + idle data connections, and tls-ssh: ssh -R -c aes128-gcm "
                         "and chacha20) and ws (burrow --transport ws and wss, with plain burrow and burrow TLS "
                         "aes128-gcm run as their references + idle data connections), http (burrow --transport "
                         "http and https, with the same references), web (= ws,http), forward (burrow client -D "
                         "against ssh -D, with its own direct row), udp (datagrams/s and loss of 1,400 and 16,000 B "
                         "through a UDP tunnel against direct, with its own direct rows), vhost (keep-alive HTTP "
                         "requests through the server's --http port against nginx direct and ssh -R, with its own "
                         "direct row); default all of them, --quick: burrow,mux,ssh,socat")
    ap.add_argument("--callgrind", dest="callgrind", action="store_true", default=None,
                    help="callgrind Ir of moving %d MB through the relay (default: on, off with --quick)" % CALLGRIND_MB)
    ap.add_argument("--no-callgrind", dest="callgrind", action="store_false")
    ap.add_argument("--keep-tmp", action="store_true")
    ap.add_argument("--churn", type=int, help="seconds of churn (default 300, 10 with --quick)")
    ap.add_argument("--echo-server", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--fwd-peer", help=argparse.SUPPRESS)
    cfg = ap.parse_args()
    if cfg.echo_server:
        echo_server(cfg.echo_server)
        return 0
    if cfg.fwd_peer:
        fwd_peer([int(x) for x in cfg.fwd_peer.split(",")])
        return 0
    if not os.path.isabs(cfg.bin):
        cfg.bin = os.path.join(REPO, cfg.bin)
    cfg.secs, cfg.runs, cfg.lat_secs = (2, 1, 2) if cfg.quick else (5, 3, 3)
    cfg.cps_secs, cfg.churn_secs = (2, 10) if cfg.quick else (3, 300)
    # idle CPU of the http rows: longer than the server's 20 s long poll (quick: one poll, full: two)
    cfg.idle_secs = HTTP_POLL_S + 2 if cfg.quick else 2 * HTTP_POLL_S + 2
    if cfg.churn:
        cfg.churn_secs = cfg.churn
    if cfg.callgrind is None:
        cfg.callgrind = not cfg.quick
    if cfg.only is None:
        cfg.only = "burrow,mux,ssh,socat" + ("" if cfg.quick else ",tls,ws,http,forward,udp,vhost")
    only = cfg.only_set = set(x.strip() for x in cfg.only.split(","))
    unknown = only - {"burrow", "mux", "ssh", "socat", "callgrind", "tls", "tls-burrow", "tls-ssh", "ws", "http", "web",
                      "forward", "udp", "vhost"}
    if unknown:
        ap.error("--only: unknown %s" % ",".join(sorted(unknown)))

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    atexit.register(cleanup)
    nofile = raise_nofile()
    if nofile < NCONN_BIG + 200:
        log("RLIMIT_NOFILE is %d: the %d-connection test will be skipped" % (nofile, NCONN_BIG))
    cfg.tmp = tempfile.mkdtemp(prefix="burrow-bench-")
    if not cfg.keep_tmp:
        atexit.register(shutil.rmtree, cfg.tmp, True)
    log("tmp dir %s, RLIMIT_NOFILE %d" % (cfg.tmp, nofile))
    # run a private copy: a rebuild of the binary during the run must not mix two builds in one table
    cfg.bin_orig, cfg.bin_mtime, cfg.bin_sha = cfg.bin, None, None
    if os.path.isfile(cfg.bin):
        import hashlib
        cfg.bin_mtime = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(cfg.bin)))
        with open(cfg.bin, "rb") as f:
            cfg.bin_sha = hashlib.sha256(f.read()).hexdigest()[:12]
        cfg.bin = os.path.join(cfg.tmp, "burrow")
        shutil.copy2(cfg.bin_orig, cfg.bin)
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                              timeout=5).stdout.decode().strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "src", "CMakeLists.txt", "Makefile"],
                               capture_output=True, timeout=5).stdout.decode().strip()
        cfg.git = head + (" + uncommitted changes in src/" if dirty else "")
        if not os.path.realpath(cfg.bin_orig).startswith(os.path.join(REPO, "build")):
            cfg.git += " (the repo's; --bin is from elsewhere)"
    except Exception:
        cfg.git = "?"

    # (the udp group alone needs none of the services: its sender and sink are bench/udpblast; nor does the vhost
    # group, which starts its own nginx)
    udp_alone = only <= {"udp", "vhost"}
    for tool in ("iperf3", "sockperf"):
        if not shutil.which(tool) and not udp_alone:
            log("%s not installed: its rows will be n/a" % tool)
    svc = start_services(cfg) if not udp_alone else {}
    res = {"_load_start": open("/proc/loadavg").read().split()[0]}
    try:
        res["_bin"] = {"version": subprocess.run([cfg.bin, "--version"], capture_output=True, timeout=5).stdout.decode().strip(),
                       "mtime": cfg.bin_mtime, "sha256_12": cfg.bin_sha}
    except Exception:
        pass

    # direct (iperf3, sockperf, wrk) always runs, unless only forward, udp and / or vhost are chosen: they have their
    # own direct rows
    plan = [] if only <= {"forward", "udp", "vhost"} else [("direct", lambda: Direct(svc, cfg.tmp))]
    # the web group (ws, http) compares with plain burrow and burrow TLS aes of the same run: they run for it when
    # not chosen themselves (then as reference rows only: no churn, 1,000 connections, no plain or TLS section)
    ws = ws_selected(cfg) or http_selected(cfg)
    http = http_selected(cfg)
    if "burrow" in only or ws:
        plan.append(("burrow", lambda: Burrow(svc, cfg.tmp, cfg.bin)))
    if "mux" in only:
        plan.append(("mux", lambda: Burrow(svc, cfg.tmp, cfg.bin, name="mux", extra=["--pool", "0"])))
    if "ssh" in only:
        plan.append(("ssh -R", lambda: SshR(svc, cfg.tmp)))
    if "socat" in only:
        plan.append(("socat", lambda: Socat(svc, cfg.tmp)))
    # the TLS rows: ssh -R with one cipher and burrow over TLS with the matching suite, in pairs
    for key, label, how in TLS_PEERS:
        if not (tls_selected(cfg, key) or (ws and key == "tls aes")):
            continue
        if key.startswith("ssh"):
            plan.append((key, lambda key=key, how=how: SshR(svc, cfg.tmp, name=key, cipher=how)))
        else:
            plan.append((key, lambda key=key, how=how: Burrow(svc, cfg.tmp, cfg.bin, name=key, tls=how)))
    # the web group: burrow over WebSocket, then over http (after the TLS rows)
    for key in web_peers(cfg):
        plan.append((key, lambda key=key: Burrow(svc, cfg.tmp, cfg.bin, name=key, transport=key)))

    deferred = None
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
        if name == "burrow" and "burrow" in only:
            peer.churn_test = peer.big_test = True
        if name == "mux":
            peer.conn_tests = False
        if name.startswith("tls "):
            # the suite this client negotiates, seen by a proxy reading the ServerHello (a separate pair)
            want = "TLS_CHACHA20_POLY1305_SHA256" if "chacha" in name else "TLS_AES_128_GCM_SHA256"
            try:
                seen = tls_cipher_probe(cfg, svc, name, dict((k, h) for k, _, h in TLS_PEERS)[name])
            except Exception as e:
                seen = None
                anomaly("%s: cipher probe failed: %s" % (name, str(e).splitlines()[0]))
            res.setdefault(name, {})["suite"] = seen
            if seen != want:
                anomaly("%s: negotiated %s, expected %s" % (name, seen, want))
            log("%s: negotiates %s" % (name, seen))
        if name in WS_PEERS + HTTP_PEERS:
            # what the client sends on the wire (a separate pair behind a proxy); for wss and https the suite too
            check_ws_transport(cfg, svc, name, res)
        if name in HTTP_PEERS:
            peer.idle_cpu_test = True
        if http and name in HTTP_PEERS + ("direct", "burrow", "tls aes"):
            peer.reverse_test = True      # iperf3 -R: POSTs on the http rows; the references for comparison
        if name == "burrow":
            try:
                res.setdefault(name, {})["version"] = subprocess.run(
                    [cfg.bin, "--version"], capture_output=True, timeout=5).stdout.decode().strip()
                res[name]["mtime"] = cfg.bin_mtime
                res[name]["sha256_12"] = cfg.bin_sha
            except Exception:
                pass
        if name == "ssh -R" or name.startswith("ssh "):
            res.setdefault(name, {})["cipher"] = peer.cipher
            res[name]["version"] = subprocess.run(["ssh", "-V"], capture_output=True).stderr.decode().split(",")[0]
        try:
            measure_peer(peer, cfg, res, heavy=not (name == "burrow" and "burrow" in only))
        except Exception as e:
            anomaly("%s measurement failed: %r" % (name, e))
            peer.stop()
            continue
        if name == "burrow" and "burrow" in only:
            deferred = peer    # its churn and connection tests run last
        else:
            peer.stop()

    # the forward group: burrow -D against ssh -D (before burrow's churn and connection tests, like every throughput)
    if forward_selected(cfg):
        log("=== forward: burrow -D, ssh -D (default cipher, aes128-gcm) and direct, SOCKS5 setups and one stream")
        try:
            measure_forward(cfg, res)
        except Exception as e:
            anomaly("forward measurement failed: %r" % (e,))

    # the udp group: datagrams through a UDP tunnel against direct (before the heavy tests, like every throughput)
    if udp_selected(cfg):
        log("=== udp: %s B datagrams, direct and through a burrow UDP tunnel" % " and ".join(
            sorted(set("{:,}".format(x) for x, _ in UDP_ROWS), key=lambda x: int(x.replace(",", "")))))
        try:
            measure_udp(cfg, res)
        except Exception as e:
            anomaly("udp measurement failed: %r" % (e,))

    # the vhost group: the shared HTTP port against nginx direct and ssh -R (before the heavy tests too)
    if vhost_selected(cfg):
        log("=== vhost: keep-alive requests through burrow's HTTP port (Host: %s), nginx direct and ssh -R"
            % VHOST_NAME)
        try:
            measure_vhost(cfg, res)
        except Exception as e:
            anomaly("vhost measurement failed: %r" % (e,))

    # (not for the http rows alone: the http transport has no data connections)
    if any(tls_selected(cfg, k) for k in ("tls aes", "tls chacha")) or ws_selected(cfg):
        log("=== idle data connections: RSS with client --pool 0 and --pool %d, TLS%s and plain"
            % (TLS_POOL_N, ", ws, wss" if ws_selected(cfg) else ""))
        try:
            measure_tls_pool(cfg, svc, res)
        except Exception as e:
            anomaly("idle data connections failed: %r" % (e,))

    if deferred is not None:
        log("=== burrow (churn and connections, after the other peers' throughput)")
        try:
            measure_heavy(deferred, cfg, res)
        except Exception as e:
            anomaly("burrow heavy tests failed: %r" % (e,))
        finally:
            deferred.stop()

    if cfg.callgrind and ("burrow" in only or "callgrind" in only):
        log("=== callgrind (%d MB through the tunnel, both burrow processes under valgrind)" % CALLGRIND_MB)
        for label, extra in (("default", []), ("mux", ["--pool", "0"])):
            try:
                run_callgrind(cfg, svc, res, label, extra)
            except Exception as e:
                anomaly("callgrind %s failed: %r" % (label, e))
    res["_load_end"] = open("/proc/loadavg").read().split()[0]
    res["_nofile"] = list(resource.getrlimit(resource.RLIMIT_NOFILE))
    res["_date"] = time.strftime("%Y-%m-%d %H:%M:%S %z")
    res["_secs"] = time.time() - T0
    print(report(res, cfg), flush=True)
    if cfg.json:
        with open(cfg.json, "w") as f:
            json.dump({"results": res, "targets": TARGETS, "anomalies": ANOMALIES, "notes": NOTES, "quick": cfg.quick,
                       "config": {"iperf_secs": cfg.secs, "runs": cfg.runs, "sockperf_secs": cfg.lat_secs,
                                  "wrk_secs": cfg.cps_secs, "wrk_conns": WRK_CONNS, "churn_secs": cfg.churn_secs,
                                  "fwd_setups": FWD_SETUPS_QUICK if cfg.quick else FWD_SETUPS_FULL,
                                  "udp_secs": UDP_SECS_QUICK if cfg.quick else UDP_SECS_FULL,
                                  "udp_runs": UDP_RUNS_QUICK if cfg.quick else UDP_RUNS_FULL,
                                  "vhost_secs": VHOST_SECS_QUICK if cfg.quick else VHOST_SECS_FULL,
                                  "vhost_conns": VHOST_CONNS,
                                  "nconn": NCONN, "nconn_big": NCONN_BIG, "callgrind_mb": CALLGRIND_MB, "callgrind_runs": CALLGRIND_RUNS,
                                  "bin": cfg.bin_orig, "bin_mtime": cfg.bin_mtime, "bin_sha256_12": cfg.bin_sha, "git": cfg.git,
                                  "only": cfg.only}}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
