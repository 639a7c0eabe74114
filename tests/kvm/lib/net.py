"""Network helpers for migration tests: free loopback ports, a listening
migration receiver, a TCP proxy that can cut or tamper with a stream, a
fake peer, and two 'hosts' in network namespaces joined by a veth pair."""

import os
import socket
import struct
import subprocess
import threading
import time
import uuid

from lib.gw import Vm
from lib.stream import Stream, pad8


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def receiver(env, name="dst", listen=None, prefix=(), env_extra=None,
             extra=()):
    """godwit migrate-receive on listen (host:port; default a free loopback
    port), returned once it listens; its .addr and .port say where."""
    addr = listen or "127.0.0.1:%d" % free_port()
    args = ["migrate-receive", "--listen", addr, "--serial", "stdio"]
    if env_extra:
        os.environ.update(env_extra)
    try:
        vm = Vm(env, args + list(extra), name=name, prefix=prefix)
    finally:
        for k in env_extra or {}:
            del os.environ[k]
    vm.addr = addr
    vm.port = int(addr.rsplit(":", 1)[1])
    vm.expect_stderr(r"waiting for a migration", 30)
    return vm


def _sig(msg_type):
    """The first 8 bytes of a handover message: magic "GDWH", type."""
    return b"GDWH" + msg_type.to_bytes(4, "little")


RECEIVED_SIG, YOURS_SIG, ROUND_ACK_SIG = _sig(1), _sig(2), _sig(5)
MSG_LEN = 136


class Proxy:
    """A TCP relay on 127.0.0.1:port to dst_port. Its first connection is
    the migration:
    - cut_after: close both sides once that many bytes went from source to
      destination;
    - tamper: a function applied to the stream header and its config;
    - after_yours: once the destination's RECEIVED went back, what to do
      with the source's YOURS: "close" (pass it on, then close both
      sides), "reset" (pass it on, then reset the source's side with
      SO_LINGER 0 and close the destination's) or "swallow" (drop it and
      go silent both ways, both sides left open);
    - rate: after slow_after bytes (or, with slow_after None, once the
      destination acknowledged a pre-copy round), pass source to
      destination bytes on at rate bytes per second.
    Later connections (a source's QUERY, a migration's extra connections)
    are relayed as they are, or refused if queries is False;
    cut_extra=(n, nbytes) closes the n-th of them (1: the first) once
    nbytes went from source to destination."""

    def __init__(self, dst_port, cut_after=None, tamper=None,
                 after_yours=None, rate=None, slow_after=0, queries=True,
                 cut_extra=None):
        self.dst_port = dst_port
        self.cut_after = cut_after
        self.tamper = tamper
        self.after_yours = after_yours
        self.rate = rate
        self.slow_after = slow_after
        self.queries = queries
        self.cut_extra = cut_extra
        self.later = 0
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.forwarded = 0
        self.cut = threading.Event()
        self.received = threading.Event()
        self.acked = threading.Event()
        self.yours = threading.Event()  # YOURS came by (and was handled)
        self.mute_back = False
        self.socks = [self.lsock]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        """Close everything; shut down first, which also wakes a thread
        blocked on a socket (a plain close would not end its connection)."""
        for s in self.socks:
            for op in (lambda: s.shutdown(socket.SHUT_RDWR), s.close):
                try:
                    op()
                except OSError:
                    pass

    def _accept(self):
        first = True
        while True:
            try:
                src, _ = self.lsock.accept()
            except OSError:
                return
            dst = socket.create_connection(("127.0.0.1", self.dst_port))
            self.socks += [src, dst]
            if first:
                if not self.queries:
                    self.lsock.close()
                threading.Thread(target=self._back, args=(dst, src, True),
                                 daemon=True).start()
                threading.Thread(target=self._run, args=(src, dst),
                                 daemon=True).start()
                first = False
                if not self.queries:
                    return
            else:
                self.later += 1
                limit = None
                if self.cut_extra and self.cut_extra[0] == self.later:
                    limit = self.cut_extra[1]
                threading.Thread(target=self._back, args=(dst, src),
                                 daemon=True).start()
                threading.Thread(target=self._relay_cut,
                                 args=(src, dst, limit), daemon=True).start()

    def _relay_cut(self, src, dst, limit):
        """src to dst; with a limit, close both after limit bytes."""
        sent = 0
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                if limit is not None and sent + len(data) >= limit:
                    dst.sendall(data[:limit - sent])
                    self.cut.set()
                    for s in (src, dst):
                        s.shutdown(socket.SHUT_RDWR)
                        s.close()
                    return
                dst.sendall(data)
                sent += len(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:  # the destination closed: so does the relay
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _slow(self):
        if self.slow_after is None:
            return self.acked.is_set()
        return self.forwarded >= self.slow_after

    def _send(self, dst, data):
        if self.rate and self._slow():
            for i in range(0, len(data), 16384):
                dst.sendall(data[i:i + 16384])
                time.sleep(len(data[i:i + 16384]) / self.rate)
        else:
            dst.sendall(data)
        self.forwarded += len(data)

    def _run(self, src, dst):
        head, tail = b"", b""
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                if self.tamper and head is not None:
                    head += data
                    if len(head) < 64:
                        continue
                    need = int.from_bytes(head[16:20], "little") + \
                        pad8(int.from_bytes(head[20:24], "little"))
                    if len(head) < need:
                        continue
                    data = self.tamper(head[:need]) + head[need:]
                    head = None
                if self.after_yours and self.received.is_set():
                    tail += data
                    i = tail.find(YOURS_SIG)
                    if i < 0 or len(tail) < i + MSG_LEN:
                        keep = max(len(tail) - 7, 0) if i < 0 else i
                        self._send(dst, tail[:keep])
                        tail = tail[keep:]
                        continue
                    self._yours(src, dst, tail[:i], tail[i:i + MSG_LEN])
                    return
                if self.cut_after is not None and \
                        self.forwarded + len(data) >= self.cut_after:
                    data = data[:self.cut_after - self.forwarded]
                    dst.sendall(data)
                    self.cut.set()
                    for s in (src, dst):
                        s.shutdown(socket.SHUT_RDWR)
                        s.close()
                    return
                self._send(dst, data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _yours(self, src, dst, before, yours):
        """The source's YOURS is here: the relay's fault happens."""
        self.mute_back = True  # CONFIRMED must not reach the source
        self._send(dst, before)
        if self.after_yours == "swallow":
            self.yours.set()
            while src.recv(1 << 16):  # silence, both sides open
                pass
            return
        dst.sendall(yours)
        if self.after_yours == "reset":
            src.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                           struct.pack("ii", 1, 0))
        src.close()
        dst.shutdown(socket.SHUT_WR)
        self.yours.set()

    def _back(self, dst, src, migration=False):
        """Destination to source; on the migration, watch for RECEIVED."""
        try:
            while True:
                data = dst.recv(1 << 16)
                if not data:
                    break
                if migration and RECEIVED_SIG in data:
                    self.received.set()
                if migration and ROUND_ACK_SIG in data:
                    self.acked.set()
                if migration and self.mute_back:
                    continue
                src.sendall(data)
            if not (migration and self.mute_back):
                src.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def retag_header(head, field, value):
    """Change one field of a stream header (with its config) and fix the
    header CRC."""
    s = Stream(head)
    s.fields[field] = value
    return s.header()


class FakePeer:
    """Accepts one connection, reads a little, answers garbage, closes."""

    def __init__(self):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1)
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        c, _ = self.lsock.accept()
        c.recv(4096)
        c.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n" + b"x" * 200)
        c.close()


def sh(*cmd):
    subprocess.run(cmd, check=True, capture_output=True)


class TwoHosts:
    """Namespaces gwA-*/gwB-* with veth ends 10.231.0.1 and 10.231.0.2."""

    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.a, self.b = "gwA-" + tag, "gwB-" + tag
        self.va, self.vb = "gva" + tag, "gvb" + tag
        self.addr_a, self.addr_b = "10.231.0.1", "10.231.0.2"
        sh("ip", "netns", "add", self.a)
        sh("ip", "netns", "add", self.b)
        sh("ip", "link", "add", self.va, "type", "veth", "peer", "name",
           self.vb)
        sh("ip", "link", "set", self.va, "netns", self.a)
        sh("ip", "link", "set", self.vb, "netns", self.b)
        for ns, dev, addr in ((self.a, self.va, self.addr_a),
                              (self.b, self.vb, self.addr_b)):
            sh("ip", "-n", ns, "addr", "add", addr + "/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    def prefix(self, host):
        return ["ip", "netns", "exec", self.a if host == "a" else self.b]

    def remove(self):
        for ns in (self.a, self.b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
