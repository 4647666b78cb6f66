"""Small real TCP services and probes used by the e2e tests.

Importable (the services run in threads of the pytest process) and runnable as a
script, so that a service or a probe can run inside a network namespace with
`ip netns exec NS /usr/bin/python3 services.py ...`.

Services:
  echo    echoes everything; on EOF from the peer, shuts down its write side.
  sha     reads until EOF, then replies with the hex SHA-256 of what it read
          and a newline, then closes (proves half-close end to end).
  banner  sends a banner, shuts down its write side, then reads until EOF and
          records the SHA-256 and length of what it read (half-close in the
          other direction).
  source  sends SOURCE (4 MiB of random bytes, the same for the whole run),
          shuts down its write side, then reads until EOF (a download).
Stdlib only.
"""

import hashlib
import json
import os
import socket
import sys
import threading

BANNER = b"burrow-e2e banner\n" * 100
SOURCE = os.urandom(4 * 1024 * 1024)


class Service:
    """A threaded TCP server. `records` collects (len, sha256hex) in banner mode."""

    def __init__(self, mode="echo", host="127.0.0.1", port=0):
        if mode not in ("echo", "sha", "banner", "source"):
            raise ValueError(mode)
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(256)
        self.host, self.port = self.sock.getsockname()[:2]
        self.records = []
        self.connections = 0
        self.cond = threading.Condition()
        self._closing = False
        self._conns = set()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.cond:
                if self._closing:
                    conn.close()
                    return
                self.connections += 1
                self._conns.add(conn)
                self.cond.notify_all()
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        try:
            if self.mode == "echo":
                while True:
                    data = conn.recv(262144)
                    if not data:
                        conn.shutdown(socket.SHUT_WR)
                        break
                    conn.sendall(data)
                # Wait for the peer to close before closing our side.
                while conn.recv(65536):
                    pass
            elif self.mode == "sha":
                h = hashlib.sha256()
                while True:
                    data = conn.recv(262144)
                    if not data:
                        break
                    h.update(data)
                conn.sendall(h.hexdigest().encode() + b"\n")
                conn.shutdown(socket.SHUT_WR)
            elif self.mode == "source":
                conn.sendall(SOURCE)
                conn.shutdown(socket.SHUT_WR)
                while conn.recv(65536):
                    pass
            elif self.mode == "banner":
                conn.sendall(BANNER)
                conn.shutdown(socket.SHUT_WR)
                h = hashlib.sha256()
                n = 0
                while True:
                    data = conn.recv(262144)
                    if not data:
                        break
                    n += len(data)
                    h.update(data)
                with self.cond:
                    self.records.append((n, h.hexdigest()))
                    self.cond.notify_all()
        except OSError:
            pass
        finally:
            with self.cond:
                self._conns.discard(conn)
            conn.close()

    def wait_record(self, count=1, timeout=10):
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.records) >= count, timeout)
            assert ok, f"service recorded {len(self.records)} of {count} connections"
            return self.records[count - 1]

    def close(self):
        with self.cond:
            self._closing = True
            conns = list(self._conns)
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in conns:
            try:
                c.close()
            except OSError:
                pass


def probe(host, port, payload, timeout):
    """Connect, send payload, half-close, read until EOF. Returns a dict."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
    except socket.timeout:
        return {"result": "connect-timeout"}
    except OSError as e:
        return {"result": "connect-error", "error": str(e)}
    try:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        got = bytearray()
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
        return {"result": "ok", "len": len(got), "sha256": hashlib.sha256(got).hexdigest()}
    except socket.timeout:
        return {"result": "io-timeout"}
    except OSError as e:
        return {"result": "io-error", "error": str(e)}
    finally:
        s.close()


def main(argv):
    if len(argv) >= 1 and argv[0] == "serve":
        # serve MODE HOST PORT: prints "listening PORT" and serves until killed.
        svc = Service(argv[1], argv[2], int(argv[3]))
        print(f"listening {svc.port}", file=sys.stderr, flush=True)
        threading.Event().wait()
    elif len(argv) >= 1 and argv[0] == "probe":
        # probe HOST PORT NBYTES TIMEOUT: prints a JSON result, payload is
        # pseudo-random and its sha256 is included.
        n = int(argv[3])
        payload = os.urandom(n)
        r = probe(argv[1], int(argv[2]), payload, float(argv[4]))
        r["sent_sha256"] = hashlib.sha256(payload).hexdigest()
        print(json.dumps(r), flush=True)
    else:
        print("usage: services.py serve MODE HOST PORT | probe HOST PORT NBYTES TIMEOUT",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
