"""A delay line: a TCP relay on loopback that holds every byte for a fixed
time in each direction (this kernel has no netem). Bytes keep their order
and nothing is lost; the relay's own buffering follows TCP backpressure, so
a sender is limited by the delay and its window, as on a long link.

    /usr/bin/python3 delayline.py LISTEN_PORT TARGET_PORT DELAY_MS

prints "delayline listening on 127.0.0.1:PORT" once it accepts (port 0:
any free one).
"""
import collections
import os
import signal
import socket
import sys
import threading
import time

CHUNK = 256 * 1024


def pump(src, dst, delay):
    """Reads src, writes each chunk to dst delay seconds after it arrived."""
    q = collections.deque()
    cond = threading.Condition()
    done = [False]

    def writer():
        while True:
            with cond:
                while not q and not done[0]:
                    cond.wait()
                if not q:
                    break
                due, data = q.popleft()
            left = due - time.monotonic()
            if left > 0:
                time.sleep(left)
            try:
                dst.sendall(data)
            except OSError:
                break
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        while True:
            data = src.recv(CHUNK)
            if not data:
                break
            with cond:
                q.append((time.monotonic() + delay, data))
                cond.notify()
    except OSError:
        pass
    with cond:
        done[0] = True
        cond.notify()
    t.join()


def serve(conn, target, delay):
    try:
        up = socket.create_connection(("127.0.0.1", target))
    except OSError:
        conn.close()
        return
    for s in (conn, up):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    a = threading.Thread(target=pump, args=(conn, up, delay), daemon=True)
    a.start()
    pump(up, conn, delay)
    a.join()
    conn.close()
    up.close()


def main():
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    port, target, delay_ms = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", port))
    lst.listen(128)
    print(f"delayline listening on 127.0.0.1:{lst.getsockname()[1]}", flush=True)
    while True:
        c, _ = lst.accept()
        threading.Thread(target=serve, args=(c, target, delay_ms / 1000.0), daemon=True).start()


if __name__ == "__main__":
    main()
