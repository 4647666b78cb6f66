"""A tiny raw SOCKS5 client (RFC 1928, CONNECT only) and raw HTTP proxy
requests, for tests that check the exact bytes a proxy port answers,
including to malformed input. Stdlib only.

    s, rep = socks5_connect(proxy_port, "localhost", 8080)   # rep: Reply
    assert rep.rep == 0

Each function reads exactly what the RFC says the proxy sends (the method
choice, then a reply whose length depends on its ATYP), so a proxy that sends
too much or too little is seen, and leaves the socket right after it.
"""

import ipaddress
import socket
import struct

# RFC 1928 section 6.
REP_OK = 0
REP_FAILURE = 1
REP_NOT_ALLOWED = 2
REP_NET_UNREACHABLE = 3
REP_HOST_UNREACHABLE = 4
REP_REFUSED = 5
REP_TTL_EXPIRED = 6
REP_COMMAND = 7
REP_ADDRESS_TYPE = 8

ATYP_V4, ATYP_NAME, ATYP_V6 = 1, 3, 4


class Reply:
    """A SOCKS5 reply: rep, atyp, bound address and port, and its raw bytes."""

    def __init__(self, raw, rep, atyp, addr, port):
        self.raw, self.rep, self.atyp, self.addr, self.port = raw, rep, atyp, addr, port

    def __repr__(self):
        return f"Reply(rep={self.rep}, atyp={self.atyp}, bound={self.addr}:{self.port}, raw={self.raw!r})"


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise EOFError(f"EOF after {len(buf)}/{n} bytes: {bytes(buf)!r}")
        buf += d
    return bytes(buf)


def read_to_eof(s, limit=1 << 20):
    """Everything until EOF (a reset counts as EOF; returns what came before)."""
    buf = bytearray()
    while len(buf) < limit:
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            break
        if not d:
            break
        buf += d
    return bytes(buf)


def address(host):
    """(ATYP, DST.ADDR bytes) for host: an IPv4 or IPv6 literal, else a name."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        b = host.encode()
        return ATYP_NAME, bytes([len(b)]) + b
    return (ATYP_V4 if ip.version == 4 else ATYP_V6), ip.packed


def request(host, port, cmd=1, atyp=None):
    """VER CMD RSV ATYP DST.ADDR DST.PORT."""
    a_type, a = address(host)
    return bytes([5, cmd, 0, atyp if atyp is not None else a_type]) + a + struct.pack(">H", port)


def read_reply(s):
    """One SOCKS5 reply: VER REP RSV ATYP BND.ADDR BND.PORT."""
    head = recv_exact(s, 4)
    assert head[0] == 5 and head[2] == 0, f"not a SOCKS5 reply: {head!r}"
    atyp = head[3]
    if atyp == ATYP_V4:
        a = recv_exact(s, 4)
        addr = str(ipaddress.IPv4Address(a))
    elif atyp == ATYP_V6:
        a = recv_exact(s, 16)
        addr = str(ipaddress.IPv6Address(a))
    elif atyp == ATYP_NAME:
        n = recv_exact(s, 1)
        a = n + recv_exact(s, n[0])
        addr = a[1:].decode("ascii", "replace")
    else:
        raise AssertionError(f"reply with ATYP {atyp}: {head!r}")
    p = recv_exact(s, 2)
    return Reply(head + a + p, head[1], atyp, addr, struct.unpack(">H", p)[0])


def greet(s, methods=(0,)):
    """Sends the greeting; returns the 2-byte method choice."""
    s.sendall(bytes([5, len(methods)]) + bytes(methods))
    return recv_exact(s, 2)


def socks5_connect(proxy_port, host, port, proxy_host="127.0.0.1", timeout=10, atyp=None):
    """Greeting (no auth) and CONNECT; returns (socket, Reply). The caller
    closes the socket; on REP 0 it carries the stream."""
    s = socket.create_connection((proxy_host, proxy_port), timeout=timeout)
    try:
        choice = greet(s)
        assert choice == b"\x05\x00", f"method choice {choice!r}"
        s.sendall(request(host, port, atyp=atyp))
        return s, read_reply(s)
    except BaseException:
        s.close()
        raise


def http_connect(proxy_port, authority, proxy_host="127.0.0.1", timeout=10):
    """CONNECT authority; returns (socket, status, head bytes). Reads the
    response head byte by byte so nothing after it is consumed."""
    s = socket.create_connection((proxy_host, proxy_port), timeout=timeout)
    try:
        s.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
        head = bytearray()
        while not head.endswith(b"\r\n\r\n"):
            d = s.recv(1)
            if not d:
                raise EOFError(f"EOF in the response head: {bytes(head)!r}")
            head += d
        status = int(head.split(b" ", 2)[1])
        return s, status, bytes(head)
    except BaseException:
        s.close()
        raise
