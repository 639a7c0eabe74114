"""A TCP relay between a migration's source and its destination that
knows where the handover messages are and breaks the connection exactly
where a trial says: at a byte offset of either direction, or just before
or after a given message (ROUND_ACK, RECEIVED, YOURS, CONFIRMED, FAILED);
by closing (FIN) or resetting (RST, SO_LINGER 0) the source's side, the
destination's side or both, or by holding both directions (a blackhole)
for a while. It can also call back at such a point, so that a process is
signalled at that exact moment. Without a plan it is transparent: a FIN
or RST from one end is passed on to the other.

Handover messages are found by their magic and checked with their CRC,
not by parsing the stream, so the relay works for any stream revision
whose handover messages keep the 136-byte layout (docs/stream-format.md).
Later connections (a source asking for an OUTCOME) are relayed too, and
held while a blackhole lasts, but never cut."""

import socket
import struct
import threading
import time

from proc import now

MAGIC = struct.pack("<I", 0x48574447)
MSG_LEN = 136
TYPES = {1: "RECEIVED", 2: "YOURS", 3: "CONFIRMED", 4: "FAILED",
         5: "ROUND_ACK", 6: "QUERY", 7: "OUTCOME"}
FWD, BWD = "fwd", "bwd"  # source -> destination, and back


def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def message_type(buf):
    """The type name of a whole, CRC-valid handover message, or None."""
    if len(buf) < MSG_LEN or buf[:4] != MAGIC:
        return None
    (crc,) = struct.unpack_from("<I", buf, 132)
    if crc32c(bytes(buf[:132]) + b"\0\0\0\0") != crc:
        return None
    (mtype,) = struct.unpack_from("<I", buf, 4)
    return TYPES.get(mtype, "type%d" % mtype)


class Plan:
    """Where and how to break connection 0.
    at: ("offset", dir, n) or ("msg", dir, name, "before"|"after")
    action: "close", "reset", "hold" or "call"
    side: "src", "dst" or "both" (close/reset)
    hold_s: blackhole length; then: None, "close" or "reset" after it
    call: function run at the point (action "call")"""

    def __init__(self, at, action, side="both", hold_s=0.0, then=None,
                 call=None):
        self.at, self.action, self.side = at, action, side
        self.hold_s, self.then, self.call = hold_s, then, call

    def describe(self):
        where = ("%s byte %d" % (self.at[1], self.at[2])
                 if self.at[0] == "offset" else
                 "%s %s %s" % (self.at[3], self.at[2], self.at[1]))
        how = self.action
        if self.action in ("close", "reset"):
            how += " " + self.side
        if self.action == "hold":
            how += " %.1fs" % self.hold_s + (
                " then %s" % self.then if self.then else "")
        return "%s at %s" % (how, where)


def _reset(sock):
    """Close with an RST. shutdown(SHUT_RD) first wakes a thread blocked
    in recv() on it: until that returns, the kernel keeps the socket and
    sends nothing."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class Relay:
    def __init__(self, target, plan=None, host="127.0.0.1"):
        self.target = target  # (host, port)
        self.plan = plan
        self.events = []  # (t, conn, what)
        self.fault_at = None  # when the plan acted
        self.hold_until = 0.0
        self.lock = threading.Lock()
        self.conns = []
        self.closed = False
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def event(self, conn, what):
        with self.lock:
            self.events.append((now(), conn, what))

    def first(self, what):
        """When `what` was first seen on connection 0 (e.g. 'bwd
        CONFIRMED'), or None."""
        with self.lock:
            for t, c, w in self.events:
                if c == 0 and w == what:
                    return t
        return None

    def _accept(self):
        n = 0
        while not self.closed:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            c = _Conn(self, n, s)
            self.conns.append(c)
            n += 1
            threading.Thread(target=c.start, daemon=True).start()

    def wait_hold(self):
        while not self.closed:
            left = self.hold_until - now()
            if left <= 0:
                return
            time.sleep(min(left, 0.05))

    def close(self):
        self.closed = True
        _close(self.lsock)
        for c in self.conns:
            c.close_all()


class _Conn:
    def __init__(self, relay, no, src):
        self.r = relay
        self.no = no
        self.socks = {"src": src, "dst": None}
        self.dead = set()  # sides closed by the plan
        self.count = {FWD: 0, BWD: 0}
        self.done = False  # the plan acted
        self.cut_dirs = set()  # directions whose later bytes are dropped

    def start(self):
        self.r.event(self.no, "accepted")
        try:
            self.socks["dst"] = socket.create_connection(self.r.target, 10)
            self.socks["dst"].settimeout(None)
        except OSError as e:
            self.r.event(self.no, "connect failed: %s" % e)
            _reset(self.socks["src"])
            return
        threading.Thread(target=self._pump, args=(FWD,), daemon=True).start()
        self._pump(BWD)

    def _planned(self, d):
        p = self.r.plan
        return (p is not None and self.no == 0 and not self.done and
                p.at[1] == d)

    def _pump(self, d):
        frm, to = ("src", "dst") if d == FWD else ("dst", "src")
        s = self.socks[frm]
        left = b""
        while True:
            try:
                s.settimeout(0.05 if left else None)
                data = s.recv(1 << 18)
            except socket.timeout:
                self._forward(d, to, left)  # a held-back tail: pass it on
                left = b""
                continue
            except ConnectionResetError:
                self.r.event(self.no, "%s reset" % frm)
                if frm not in self.dead:
                    self._lose(to, reset=True)
                return
            except OSError:
                return
            if not data:
                self.r.event(self.no, "%s eof" % frm)
                self._forward(d, to, left)
                if frm not in self.dead:
                    self._lose(to, reset=False)
                return
            left = self._feed(d, to, left + data)

    def _feed(self, d, to, buf):
        """Forward buf, acting on the plan where it says; returns a tail
        that may be the start of a message split across reads."""
        pos = 0
        while True:
            i = buf.find(MAGIC, pos)
            if i < 0 or i + MSG_LEN > len(buf):
                end = len(buf) if i < 0 else i
                if i < 0:  # keep a tail that could begin the magic
                    for k in (3, 2, 1):
                        if buf.endswith(MAGIC[:k]):
                            end = len(buf) - k
                            break
                self._forward(d, to, buf[pos:end])
                return buf[end:]
            name = message_type(buf[i:i + MSG_LEN])
            if not name:
                self._forward(d, to, buf[pos:i + 1])
                pos = i + 1
                continue
            self.r.event(self.no, "%s %s" % (d, name))
            p = self.r.plan
            hit = (self._planned(d) and p.at[0] == "msg" and
                   p.at[2] == name)
            if hit and p.at[3] == "before":
                self._forward(d, to, buf[pos:i])
                self._act(d)
                self._forward(d, to, buf[i:i + MSG_LEN])
            else:
                self._forward(d, to, buf[pos:i + MSG_LEN])
                if hit:
                    self._act(d)
            pos = i + MSG_LEN

    def _forward(self, d, to, data):
        """Pass data on in direction d, unless a cut in d stopped it:
        what was read after the cut point never arrives."""
        if not data or d in self.cut_dirs:
            return
        if self._planned(d) and self.r.plan.at[0] == "offset":
            n = self.r.plan.at[2] - self.count[d]
            if 0 <= n < len(data):
                self._send(to, data[:n])
                self.count[d] += n
                self._act(d)
                data = data[n:]
                if d in self.cut_dirs:
                    return
        self.count[d] += len(data)
        self._send(to, data)

    def _send(self, to, data):
        if not data:
            return
        self.r.wait_hold()
        if to in self.dead or self.socks[to] is None:
            return  # the plan closed that side: swallow
        try:
            self.socks[to].sendall(data)
        except OSError:
            pass

    def _lose(self, side, reset):
        """Pass an end (FIN or RST) on to side."""
        sk = self.socks[side]
        if sk is None or side in self.dead:
            return
        if reset:
            self.dead.add(side)
            _reset(sk)
        else:
            try:
                sk.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def _act(self, d):
        p = self.r.plan
        self.done = True
        self.r.fault_at = now()
        self.r.event(self.no, "fault: " + p.describe())
        if p.action == "call":
            p.call()
        elif p.action == "hold":
            self.r.hold_until = now() + p.hold_s
            if p.then:
                self.r.wait_hold()
                self.cut_dirs.add(d)
                self._cut(p.then, "both")
        else:
            self.cut_dirs.add(d)
            self._cut(p.action, p.side)

    def _cut(self, how, side):
        for sd in (("src", "dst") if side == "both" else (side,)):
            sk = self.socks[sd]
            self.dead.add(sd)
            if sk is not None:
                (_reset if how == "reset" else _close)(sk)

    def close_all(self):
        for sd in ("src", "dst"):
            sk = self.socks[sd]
            if sk is not None:
                self.dead.add(sd)
                _close(sk)
