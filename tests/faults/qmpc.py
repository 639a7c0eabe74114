"""A QMP client that never waits longer than it is told: the campaign
talks to VMMs that may be stopped, busy in a handover or gone, and to
godwitd's control socket, which speaks the same protocol."""

import json
import socket
import time


class QmpError(Exception):
    pass


class QmpTimeout(QmpError):
    pass


class Qmp:
    """connect() with greeting and negotiation, then cmd()."""

    def __init__(self, path, timeout=2.0):
        self.path = path
        self.buf = b""
        self.events = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
            greeting = self._recv(timeout)
            if "QMP" not in greeting:
                raise QmpError("bad greeting %r" % greeting)
            r = self.cmd("qmp_capabilities", timeout=timeout)
            if "error" in r:
                raise QmpError("negotiation refused: %s" % r)
        except socket.timeout:
            self.close()
            raise QmpTimeout("%s: no greeting within %.1f s" % (path, timeout))
        except OSError as e:
            self.close()
            raise QmpError("%s: %s" % (path, e))
        except QmpError:
            self.close()
            raise

    def _recv(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise QmpTimeout("%s: no answer within %.1f s"
                                 % (self.path, timeout))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise QmpTimeout("%s: no answer within %.1f s"
                                 % (self.path, timeout))
            except OSError as e:
                raise QmpError("%s: %s" % (self.path, e))
            if not chunk:
                raise QmpError("%s: connection closed" % self.path)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            raise QmpError("%s: not JSON: %r" % (self.path, line[:200]))

    def cmd(self, name, args=None, timeout=2.0):
        """The reply object ({"return": ...} or {"error": ...})."""
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        try:
            self.sock.sendall(json.dumps(msg).encode() + b"\r\n")
        except OSError as e:
            raise QmpError("%s: %s" % (self.path, e))
        while True:
            r = self._recv(timeout)
            if "event" in r:
                self.events.append(r)
                continue
            return r

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def query(path, name, args=None, timeout=2.0):
    """One command on a fresh connection: the reply, or raises QmpError."""
    q = Qmp(path, timeout)
    try:
        return q.cmd(name, args, timeout)
    finally:
        q.close()


def status_of(path, timeout=2.0):
    """(status, migration status) of a VMM, or (None, None)."""
    try:
        q = Qmp(path, timeout)
    except QmpError:
        return None, None
    try:
        mig = q.cmd("query-migrate", timeout=timeout).get("return", {})
        st = q.cmd("query-status", timeout=timeout).get("return", {})
        return st.get("status"), mig.get("status")
    except QmpError:
        return None, None
    finally:
        q.close()
