"""A minimal burrow protocol peer (version 3), stdlib only, for the e2e tests.

It plays the burrow *client* against a real `burrow server`, one blocking
socket per connection, so tests can break protocol rules that the real client
never breaks. The encodings follow src/proto/frame.h, src/proto/msg.c and
src/proto/auth.c (see docs/protocol.md):

    frame header  type u8 | flags u8 | 0 u16 | id u32 | len u32   (big-endian)
    HELLO         "BURROW" | version u16 | role u8 | nonce[32] | caps u32
    AUTH          HMAC-SHA256(token, "burrow-v1 client" | server_nonce | client_nonce)
                  (on a data connection keyed by the session key, + session_id u32)
    session key   HMAC-SHA256(token, "burrow-v3 session key" | client_nonce | server_nonce)
                  of the control connection's handshake
    AUTH_OK       HMAC-SHA256(token, "burrow-v1 server" | client_nonce | server_nonce)
                  | session_id u32
    str           u16 length | bytes
    error message code u16 | text str

Reads are exact: read_frame() takes the 12-byte header and then exactly `len`
payload bytes and never more, so raw bytes that follow ADOPT on a data
connection stay in the socket for recv_raw().
"""

import hashlib
import hmac
import os
import socket
import struct
import time
from collections import namedtuple

# Frame types (src/proto/frame.h).
HELLO = 1
AUTH = 2
AUTH_OK = 3
ERROR = 4
REGISTER = 5
REGISTER_OK = 6
REGISTER_ERR = 7
OPEN = 8
OPEN_OK = 9
OPEN_ERR = 10
DATA = 11
WINDOW = 12
FIN = 13
RST = 14
PING = 15
PONG = 16
GOAWAY = 17
ADOPT = 18
MOVED = 19
UDP_OPEN = 20
DGRAM = 21
UDP_CLOSE = 22

NAMES = {v: k for k, v in dict(
    HELLO=HELLO, AUTH=AUTH, AUTH_OK=AUTH_OK, ERROR=ERROR, REGISTER=REGISTER,
    REGISTER_OK=REGISTER_OK, REGISTER_ERR=REGISTER_ERR, OPEN=OPEN, OPEN_OK=OPEN_OK,
    OPEN_ERR=OPEN_ERR, DATA=DATA, WINDOW=WINDOW, FIN=FIN, RST=RST, PING=PING,
    PONG=PONG, GOAWAY=GOAWAY, ADOPT=ADOPT, MOVED=MOVED).items()}

# Error codes (src/proto/msg.h).
ERR_NONE = 0
ERR_PROTOCOL = 1
ERR_VERSION = 3
ERR_AUTH = 3
ERR_TIMEOUT = 4
ERR_DENIED = 5
ERR_IN_USE = 6
ERR_INVALID = 7
ERR_UNREACHABLE = 8

ROLE_CONTROL = 0
ROLE_DATA = 1

REGISTER_HAS_BIND = 0x01
REGISTER_MUX_ONLY = 0x02

MAGIC = b"BURROW"
VERSION = 3
NONCE_LEN = 32
MAC_LEN = 32
HEADER = struct.Struct(">BBHII")
HEADER_LEN = HEADER.size  # 12
MAX_PAYLOAD = 64 * 1024
HANDSHAKE_MAX_PAYLOAD = 1024

CLIENT_LABEL = b"burrow-v1 client"
SERVER_LABEL = b"burrow-v1 server"
SESSION_KEY_LABEL = b"burrow-v3 session key"

DEFAULT_TIMEOUT = float(os.environ.get("BURROW_E2E_TIMEOUT", "10"))

Frame = namedtuple("Frame", "type flags id payload")
Open = namedtuple("Open", "id tunnel_id window peer")


def frame_name(t):
    return NAMES.get(t, f"type{t}")


def describe(f):
    """One-line description of a frame, for assertion messages."""
    s = f"{frame_name(f.type)}(id={f.id}, len={len(f.payload)})"
    if f.type in (ERROR, REGISTER_ERR, OPEN_ERR, RST, GOAWAY):
        try:
            code, text = parse_error(f.payload)
            s += f" code={code} text={text!r}"
        except ValueError:
            pass
    return s


class PeerClosed(Exception):
    """The server closed the connection (EOF or reset) while we were reading."""

    def __init__(self, msg, partial=b""):
        super().__init__(msg)
        self.partial = partial


# --------------------------------------------------------------------------
# Codecs
# --------------------------------------------------------------------------

def encode_frame(ftype, fid=0, payload=b"", flags=0, reserved=0):
    payload = bytes(payload)
    return HEADER.pack(ftype, flags, reserved, fid, len(payload)) + payload


def decode_header(b):
    """(type, flags, reserved, id, len) of a 12-byte header."""
    return HEADER.unpack(b)


def decode_frames(buf):
    """Splits a byte string into complete frames; returns (frames, rest)."""
    frames = []
    off = 0
    while len(buf) - off >= HEADER_LEN:
        t, fl, _r, fid, n = HEADER.unpack_from(buf, off)
        if len(buf) - off - HEADER_LEN < n:
            break
        frames.append(Frame(t, fl, fid, bytes(buf[off + HEADER_LEN:off + HEADER_LEN + n])))
        off += HEADER_LEN + n
    return frames, bytes(buf[off:])


def enc_str(s):
    b = s.encode() if isinstance(s, str) else bytes(s)
    return struct.pack(">H", len(b)) + b


class Reader:
    """Bounded payload reader; raises ValueError like msg.c's rd_end."""

    def __init__(self, payload):
        self.p = bytes(payload)
        self.off = 0

    def take(self, n):
        if len(self.p) - self.off < n:
            raise ValueError("malformed message")
        b = self.p[self.off:self.off + n]
        self.off += n
        return b

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def str(self):
        b = self.take(self.u16())
        if any(c < 0x20 or c == 0x7F for c in b):
            raise ValueError("control byte in string")
        return b.decode("utf-8", "replace")

    def end(self):
        if self.off != len(self.p):
            raise ValueError("trailing bytes in message")


def hello_payload(role, nonce, version=VERSION, caps=0):
    """HELLO; from version 3 on it ends with the capability bits (u32)."""
    p = MAGIC + struct.pack(">HB", version, role) + nonce
    return p + struct.pack(">I", caps) if version >= 3 else p


CAP_NAMED = 0x1  # AUTH on a control connection may carry the client's name
CAP_TLS = 0x2
CAP_FORWARD = 0x4  # either side opens streams; OPEN may carry a destination
CAP_UDP = 0x8
CAP_OPEN_DEST = 0x10  # an OPEN_TUNNEL may name the address the user connected to
CAP_VHOST = 0x20  # REGISTER kind HTTPS: names on the server's HTTPS port
CAP_HTTP = 0x40  # REGISTER kind HTTP: names (and paths) on the server's HTTP port
KNOWN_CAPS = CAP_NAMED | CAP_TLS | CAP_FORWARD | CAP_UDP | CAP_OPEN_DEST | CAP_VHOST | CAP_HTTP


def parse_hello(payload):
    """(version, role, nonce); the capability bits are checked to be known ones."""
    r = Reader(payload)
    if r.take(len(MAGIC)) != MAGIC:
        raise ValueError("bad magic")
    version, role, nonce = r.u16(), r.u8(), r.take(NONCE_LEN)
    caps = r.u32() if version >= 3 else 0
    r.end()
    if caps & ~KNOWN_CAPS:
        raise ValueError(f"unexpected capability bits {caps:#x}")
    return version, role, nonce


def _key(token):
    return token.encode() if isinstance(token, str) else bytes(token)


def client_proof(token, client_nonce, server_nonce):
    return hmac.new(_key(token), CLIENT_LABEL + server_nonce + client_nonce, hashlib.sha256).digest()


def server_proof(token, client_nonce, server_nonce):
    return hmac.new(_key(token), SERVER_LABEL + client_nonce + server_nonce, hashlib.sha256).digest()


def session_key(token, client_nonce, server_nonce):
    """The key of a control session's data-connection proofs (src/proto/auth.c)."""
    return hmac.new(_key(token), SESSION_KEY_LABEL + client_nonce + server_nonce,
                    hashlib.sha256).digest()


def parse_auth_ok(payload):
    r = Reader(payload)
    mac, sid = r.take(MAC_LEN), r.u32()
    r.end()
    return mac, sid


def error_payload(code, text):
    return struct.pack(">H", code) + enc_str(text)


def parse_error(payload):
    r = Reader(payload)
    code, text = r.u16(), r.str()
    r.end()
    return code, text


def register_payload(name, port=0, bind=None, flags=0, kind=0):
    if bind is not None:
        flags |= REGISTER_HAS_BIND
    return struct.pack(">BBH", kind, flags, port) + enc_str(bind or "") + enc_str(name)


def parse_register_ok(payload):
    r = Reader(payload)
    addr = r.str()
    r.end()
    return addr


def split_addr(addr):
    """'127.0.0.1:40001' or '[::1]:40001' -> (host, port)."""
    host, _, port = addr.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def parse_open(payload):
    r = Reader(payload)
    tunnel_id, window, peer = r.u32(), r.u32(), r.str()
    r.end()
    return tunnel_id, window, peer


def u32(v):
    return struct.pack(">I", v)


def parse_u32(payload):
    r = Reader(payload)
    v = r.u32()
    r.end()
    return v


# --------------------------------------------------------------------------
# A blocking peer
# --------------------------------------------------------------------------

class Peer:
    """One TCP connection to a burrow server, spoken to as the client."""

    def __init__(self, host, port, timeout=DEFAULT_TIMEOUT, source=None, sock=None):
        """Connects to host:port (from the address `source` if given), or
        speaks on `sock`, a socket already connected there."""
        self.timeout = timeout
        if sock is None:
            sock = socket.create_connection((host, port), timeout=timeout,
                                            source_address=(source, 0) if source else None)
        self.sock = sock
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.local_port = self.sock.getsockname()[1]
        self.session_id = None
        self.role = None
        self.authenticated = False
        self.next_request = 1

    # -- construction helpers -------------------------------------------
    @classmethod
    def control(cls, host, port, token, **kw):
        """Connects and authenticates a control session."""
        p = cls(host, port, **kw)
        p.handshake(token, ROLE_CONTROL)
        return p

    @classmethod
    def data(cls, host, port, key, session_id, **kw):
        """Connects and authenticates a data connection of session_id.

        key is that session's key (a control Peer's .session_key)."""
        p = cls(host, port, **kw)
        p.handshake(key, ROLE_DATA, session_id=session_id)
        return p

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    # -- raw I/O ----------------------------------------------------------
    def _settimeout(self, timeout):
        self.sock.settimeout(self.timeout if timeout is None else timeout)

    def recv_exact(self, n, timeout=None):
        """Exactly n bytes (PeerClosed on EOF/reset, socket.timeout if slow)."""
        self._settimeout(timeout)
        buf = bytearray()
        while len(buf) < n:
            try:
                d = self.sock.recv(n - len(buf))
            except socket.timeout:
                raise AssertionError(f"timed out after {self.sock.gettimeout()}s waiting for "
                                     f"{n} bytes (got {len(buf)}: {bytes(buf[:64])!r})")
            except ConnectionResetError as e:
                raise PeerClosed(f"connection reset after {len(buf)}/{n} bytes: {e}", bytes(buf))
            if not d:
                raise PeerClosed(f"EOF after {len(buf)}/{n} bytes", bytes(buf))
            buf += d
        return bytes(buf)

    def send_raw(self, b):
        self._settimeout(None)
        self.sock.sendall(b)

    def recv_raw(self, n, timeout=None):
        """Raw bytes (data connection after ADOPT): exactly n of them."""
        return self.recv_exact(n, timeout)

    def recv_eof(self, timeout=None):
        """Reads until EOF or reset; returns (bytes read, 'eof' | 'reset')."""
        self._settimeout(timeout)
        buf = bytearray()
        while True:
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                raise AssertionError(f"connection still open after {self.sock.gettimeout()}s "
                                     f"(got {len(buf)} bytes: {bytes(buf[:64])!r})")
            except ConnectionResetError:
                return bytes(buf), "reset"
            if not d:
                return bytes(buf), "eof"
            buf += d

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    # -- frames -----------------------------------------------------------
    def send_frame(self, ftype, fid=0, payload=b"", **kw):
        self.send_raw(encode_frame(ftype, fid, payload, **kw))

    def read_frame(self, timeout=None):
        """Exactly one frame: the header, then exactly its payload."""
        hdr = self.recv_exact(HEADER_LEN, timeout)
        t, flags, reserved, fid, n = decode_header(hdr)
        if t == 0 or t > UDP_CLOSE:
            raise AssertionError(f"server sent an unknown frame type {t}")
        if reserved != 0:
            raise AssertionError(f"server set reserved header bits: {reserved:#x}")
        limit = MAX_PAYLOAD if self.authenticated else HANDSHAKE_MAX_PAYLOAD
        if n > limit:
            raise AssertionError(f"server sent {frame_name(t)} with len {n} > {limit}")
        payload = self.recv_exact(n, timeout) if n else b""
        return Frame(t, flags, fid, payload)

    def next_frame(self, timeout=None):
        """The next frame other than PING/PONG (PINGs are answered)."""
        while True:
            f = self.read_frame(timeout)
            if f.type == PING:
                self.send_frame(PONG, 0, f.payload)
                continue
            if f.type == PONG:
                continue
            return f

    def expect(self, ftype, fid=None, timeout=None):
        """The next (non-PING/PONG) frame, which must be ftype (and fid)."""
        f = self.next_frame(timeout)
        if f.type != ftype or (fid is not None and f.id != fid):
            want = frame_name(ftype) + ("" if fid is None else f"(id={fid})")
            raise AssertionError(f"expected {want}, got {describe(f)}")
        return f

    def expect_error(self, ftype=ERROR, fid=None, timeout=None):
        """An ERROR/RST/... frame; returns (code, text)."""
        f = self.expect(ftype, fid, timeout)
        return parse_error(f.payload)

    def barrier(self, timeout=None):
        """PING, then the next frame must be its PONG: nothing else was queued.

        Returns the frames that arrived before the PONG (server PINGs are
        answered and not returned)."""
        tag = struct.pack(">Q", time.monotonic_ns())
        self.send_frame(PING, 0, tag)
        seen = []
        while True:
            f = self.read_frame(timeout)
            if f.type == PONG and f.payload == tag:
                return seen
            if f.type == PING:
                self.send_frame(PONG, 0, f.payload)
                continue
            seen.append(f)

    # -- handshake --------------------------------------------------------
    def handshake(self, token, role=ROLE_CONTROL, session_id=None, version=VERSION):
        """HELLO, AUTH, AUTH_OK; verifies the server's proof. Returns the session id.

        token is the token on a control connection and the session key on a
        data connection. A control connection sets .session_key."""
        self.role = role
        self.client_nonce = os.urandom(NONCE_LEN)
        self.send_frame(HELLO, 0, hello_payload(role, self.client_nonce, version))
        f = self.read_frame()
        if f.type != HELLO:
            raise AssertionError(f"expected HELLO, got {describe(f)}")
        sv, srole, self.server_nonce = parse_hello(f.payload)
        assert sv == VERSION, f"server HELLO version {sv}"
        assert srole == role, f"server HELLO role {srole}, we sent {role}"
        assert self.server_nonce != self.client_nonce
        proof = client_proof(token, self.client_nonce, self.server_nonce)
        if role == ROLE_DATA:
            assert session_id is not None, "a data connection names its session"
            self.send_frame(AUTH, 0, proof + u32(session_id))
        else:
            self.send_frame(AUTH, 0, proof)
        f = self.read_frame()
        if f.type != AUTH_OK:
            raise AssertionError(f"expected AUTH_OK, got {describe(f)}")
        mac, sid = parse_auth_ok(f.payload)
        want = server_proof(token, self.client_nonce, self.server_nonce)
        if not hmac.compare_digest(mac, want):
            raise AssertionError("the server's proof in AUTH_OK is wrong")
        if role == ROLE_DATA:
            assert sid == session_id, f"AUTH_OK on a data connection names session {sid}"
        else:
            self.session_key = session_key(token, self.client_nonce, self.server_nonce)
        self.session_id = sid
        self.authenticated = True
        return sid

    # -- control session ----------------------------------------------------
    def register(self, name, port=0, bind=None, flags=0, request_id=None):
        """REGISTER; returns (host, port) from REGISTER_OK. Sets .tunnel_addr."""
        rid = self.next_request if request_id is None else request_id
        self.next_request = max(self.next_request, rid + 1)
        self.send_frame(REGISTER, rid, register_payload(name, port, bind, flags))
        f = self.expect(REGISTER_OK, rid)
        self.tunnel_addr = parse_register_ok(f.payload)
        self.tunnel_id = rid
        return split_addr(self.tunnel_addr)

    def read_open(self, timeout=None):
        f = self.expect(OPEN, None, timeout)
        tunnel_id, window, peer = parse_open(f.payload)
        return Open(f.id, tunnel_id, window, peer)

    def accept_open(self, window=1 << 20, timeout=None):
        """Waits for OPEN, answers OPEN_OK(window). Returns the Open."""
        op = self.read_open(timeout)
        self.send_frame(OPEN_OK, op.id, u32(window))
        return op

    def send_data(self, sid, data):
        """DATA frames of at most 64 KiB (b"" sends one empty DATA frame)."""
        data = bytes(data)
        for off in range(0, max(len(data), 1), MAX_PAYLOAD):
            self.send_frame(DATA, sid, data[off:off + MAX_PAYLOAD])

    def send_window(self, sid, increment):
        self.send_frame(WINDOW, sid, u32(increment))

    def send_fin(self, sid):
        self.send_frame(FIN, sid)

    def send_rst(self, sid, code=ERR_NONE, text="reset"):
        self.send_frame(RST, sid, error_payload(code, text))

    def send_open_err(self, sid, code, text):
        self.send_frame(OPEN_ERR, sid, error_payload(code, text))

    def send_moved(self, sid):
        self.send_frame(MOVED, sid)

    def send_adopt(self, sid):
        self.send_frame(ADOPT, sid)

    def send_error(self, code, text, ftype=ERROR):
        self.send_frame(ftype, 0, error_payload(code, text))

    def recv_data(self, sid, n, timeout=None):
        """DATA payloads for stream sid until n bytes have arrived.

        WINDOW frames for sid are skipped; any other frame is an error."""
        buf = bytearray()
        while len(buf) < n:
            f = self.next_frame(timeout)
            if f.type == WINDOW and f.id == sid:
                continue
            if f.type != DATA or f.id != sid:
                raise AssertionError(f"expected DATA(id={sid}) ({len(buf)}/{n} bytes so far), "
                                     f"got {describe(f)}")
            buf += f.payload
        return bytes(buf)

    def recv_until(self, sid, ftype, timeout=None):
        """Collects DATA for sid until a frame ftype for sid arrives.

        Returns (bytes, frame). WINDOW for sid is skipped."""
        buf = bytearray()
        while True:
            f = self.next_frame(timeout)
            if f.id == sid and f.type == ftype:
                return bytes(buf), f
            if f.id == sid and f.type == DATA:
                buf += f.payload
                continue
            if f.id == sid and f.type == WINDOW:
                continue
            raise AssertionError(f"waiting for {frame_name(ftype)}(id={sid}) after "
                                 f"{len(buf)} DATA bytes, got {describe(f)}")

    def expect_closed(self, timeout=None):
        """Reads frames until the server closes; returns the frames seen."""
        frames = []
        while True:
            try:
                frames.append(self.read_frame(timeout))
            except PeerClosed:
                return frames
