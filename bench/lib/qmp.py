"""A small QMP client for godwit's control socket and QEMU's -qmp socket.

Protocol steps: connect, read the greeting, send qmp_capabilities, then
one command at a time, each with an "id"; events that arrive meanwhile are
kept in .events. Messages are JSON objects, one per line.
"""
import errno
import json
import socket
import time

from . import proc


class QMPError(RuntimeError):
    """The peer answered a command with an error."""


class QMP:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.events = []
        self.next_id = 1
        self.greeting = None

    @classmethod
    def connect(cls, path, timeout, poll=0.002, alive=None):
        """Connect, retrying until the socket accepts, then negotiate.

        alive: optional callable; give up early once it returns False
        (the VMM died). Returns (QMP, perf_counter time of connect).
        """
        deadline = proc.now() + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(str(path))
                break
            except OSError as e:
                s.close()
                if e.errno not in (errno.ENOENT, errno.ECONNREFUSED):
                    raise
                if alive is not None and not alive():
                    raise proc.ProcessError("VMM ended before %s accepted" % path)
                if proc.now() > deadline:
                    raise proc.ProcessError("no QMP socket at %s within %.0f s"
                                            % (path, timeout))
                time.sleep(poll)
        t_conn = proc.now()
        q = cls(s)
        q.greeting = q._read(deadline + 10)
        if "QMP" not in q.greeting:
            raise QMPError("not a QMP greeting: %r" % q.greeting)
        q.execute("qmp_capabilities")
        return q, t_conn

    def _read(self, deadline):
        while b"\n" not in self.buf:
            left = deadline - proc.now()
            if left <= 0:
                raise proc.ProcessError("QMP: no answer in time")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise proc.ProcessError("QMP: connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        line = line.strip()
        return json.loads(line) if line else self._read(deadline)

    def execute(self, cmd, args=None, timeout=60):
        """Run one command; returns its "return" value."""
        msg = {"execute": cmd, "id": self.next_id}
        self.next_id += 1
        if args is not None:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        deadline = proc.now() + timeout
        while True:
            r = self._read(deadline)
            if "event" in r:
                self.events.append(r)
                continue
            if r.get("id", msg["id"]) != msg["id"]:
                continue  # a late answer to an earlier command
            if "error" in r:
                raise QMPError("%s: %s" % (cmd, r["error"].get("desc", r["error"])))
            return r.get("return")

    def wait_event(self, name, done=lambda data: True, timeout=600):
        """The first event called name whose data satisfies done."""
        deadline = proc.now() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev.get("event") == name and done(ev.get("data") or {}):
                    del self.events[:i + 1]
                    return ev
            self.events.clear()
            r = self._read(deadline)
            if "event" in r:
                self.events.append(r)

    def status(self):
        return self.execute("query-status").get("status")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
