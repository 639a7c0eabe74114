"""Network helpers for migration tests: free loopback ports, a listening
migration receiver, a TCP proxy that can cut or tamper with a stream, a
fake peer, and two 'hosts' in network namespaces joined by a veth pair."""

import os
import socket
import subprocess
import threading
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


class Proxy:
    """Forward 127.0.0.1:port to dst_port. cut_after: close both sides
    once that many bytes went from source to destination. tamper: a
    function applied to the stream header and its config."""

    def __init__(self, dst_port, cut_after=None, tamper=None):
        self.dst_port = dst_port
        self.cut_after = cut_after
        self.tamper = tamper
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1)
        self.port = self.lsock.getsockname()[1]
        self.forwarded = 0
        self.cut = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        src, _ = self.lsock.accept()
        dst = socket.create_connection(("127.0.0.1", self.dst_port))
        threading.Thread(target=self._back, args=(dst, src),
                         daemon=True).start()
        head = b""
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
            if self.cut_after is not None and \
                    self.forwarded + len(data) >= self.cut_after:
                data = data[:self.cut_after - self.forwarded]
                dst.sendall(data)
                self.cut.set()
                for s in (src, dst):
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                return
            dst.sendall(data)
            self.forwarded += len(data)
        dst.shutdown(socket.SHUT_WR)

    def _back(self, dst, src):
        try:
            while True:
                data = dst.recv(1 << 16)
                if not data:
                    break
                src.sendall(data)
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
