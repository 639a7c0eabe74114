#!/usr/bin/python3
"""A stand-in for the godwit VMM, for godwitd tests of what the real VMM
cannot be made to do on demand (yet): a source VM left "unconfirmed"
after a handover, migrate-resolve, save-cancel, and receivers that write
an arrival's outcome file one way or another. godwitd runs it as its
--godwit binary; it takes the command lines godwitd builds.

Behaviour comes from files in $FAKEVMM_DIR (the test's):
  plan      migrate-receive: one word, read at start: "running" (write
            RUNNING to the outcome file, then end as migrated), "hold"
            (wait until killed), "discard" (write DISCARDED, end),
            "die" (end without writing anything)
  argv.log  every invocation's argv, one JSON list per line
Run mode serves a QMP-shaped socket (--qmp) for the domain in its config:
migrate ends "unconfirmed"; cont is refused while unconfirmed; save waits
for save-cancel."""

import json
import os
import socket
import sys
import threading
import time

DIR = os.environ.get("FAKEVMM_DIR", "/nonexistent")
UNCONFIRMED_WHY = "no answer within 10 s"
REFUSAL = ("the VM was handed over without confirmation: "
           "godwit migrate-resolve decides (--resume-here or --discard)")


def opt(argv, name):
    for i, a in enumerate(argv[:-1]):
        if a == name:
            return argv[i + 1]
    return None


def write_atomic(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


class Vm:
    def __init__(self, argv):
        self.argv = argv
        self.exit_file = opt(argv, "--exit-file")
        self.qmp = opt(argv, "--qmp")
        self.name, self.uuid = "fake", "00000000-0000-4000-8000-000000000001"
        cfg = argv[-1]
        if argv[1] == "run" and os.path.exists(cfg):
            for line in open(cfg):
                k, _, v = line.partition("=")
                v = v.strip().strip('"')
                if k.strip() == "name":
                    self.name = v
                elif k.strip() == "uuid":
                    self.uuid = v
        self.status = "paused" if "-p" in argv else "running"
        self.why = ""
        self.migrate_status = "none"
        self.save_call = None
        self.conns = []
        self.lock = threading.Lock()

    def end(self, kind, reason, status=0):
        write_atomic(self.exit_file, "%d %s %s\n" % (status, kind, reason))
        os._exit(status)

    def event(self, name, data):
        msg = json.dumps({"event": name, "data": data, "timestamp":
                          {"seconds": int(time.time()), "microseconds": 0}})
        with self.lock:
            for c in list(self.conns):
                try:
                    c.sendall(msg.encode() + b"\r\n")
                except OSError:
                    pass

    def migrate(self, uri):
        self.migrate_status = "active"
        self.event("MIGRATION", {"status": "active"})
        time.sleep(0.3)
        self.status = "unconfirmed"
        self.migrate_status = "unconfirmed"
        self.why = "handed over to %s, no confirmation: %s" % (
            uri, UNCONFIRMED_WHY)
        self.event("STOP", {})
        self.event("MIGRATION", {"status": "unconfirmed",
                                 "error": self.why})

    def command(self, conn, name, args):
        """The reply (dict) or None when it is answered later."""
        if name == "qmp_capabilities":
            return {"return": {}}
        if name == "query-domain":
            return {"return": {"name": self.name, "uuid": self.uuid,
                               "status": self.status, "cpu-time-ns": 0}}
        if name == "query-status":
            return {"return": {"status": self.status,
                               "running": self.status == "running"}}
        if name == "query-console":
            return {"return": {"type": "none"}}
        if name == "query-migrate":
            r = {"status": self.migrate_status}
            if self.why:
                r["error"] = self.why
            return {"return": r}
        if name == "query-save":
            return {"return": {"status": "active" if self.save_call
                               else "none"}}
        if name == "migrate":
            threading.Thread(target=self.migrate,
                             args=(args.get("uri", "?"),)).start()
            return {"return": {}}
        if name == "cont":
            if self.status == "unconfirmed":
                return {"error": {"class": "GenericError", "desc": REFUSAL}}
            self.status = "running"
            return {"return": {}}
        if name == "stop":
            self.status = "paused"
            return {"return": {}}
        if name == "migrate-resolve":
            if args.get("action") == "discard":
                threading.Timer(0.2, self.end, ("migrated",
                                "discarded after an unconfirmed handover"))\
                    .start()
                return {"return": {}}
            self.status, self.why, self.migrate_status = "running", "", \
                "failed"
            self.event("RESUME", {})
            return {"return": {}}
        if name == "save":
            self.save_call = (conn, self.pending_id)
            return None
        if name == "save-cancel":
            if self.save_call:
                c, i = self.save_call
                self.save_call = None
                self.send(c, {"error": {"class": "GenericError",
                                        "desc": "save cancelled"}, "id": i})
            return {"return": {}}
        if name == "quit":
            threading.Timer(0.1, self.end, ("host", "quit")).start()
            return {"return": {}}
        return {"error": {"class": "CommandNotFound",
                          "desc": "command '%s' not found" % name}}

    def send(self, conn, msg):
        with self.lock:
            conn.sendall(json.dumps(msg).encode() + b"\r\n")

    def serve_conn(self, conn):
        self.send(conn, {"QMP": {"version": {}, "capabilities": []}})
        with self.lock:
            self.conns.append(conn)
        dec, buf = json.JSONDecoder(), ""
        while True:
            data = conn.recv(65536)
            if not data:
                break
            buf += data.decode()
            while buf.strip():
                buf = buf.lstrip()
                try:
                    msg, n = dec.raw_decode(buf)
                except ValueError:
                    break
                buf = buf[n:]
                self.pending_id = msg.get("id")
                r = self.command(conn, msg.get("execute"),
                                 msg.get("arguments", {}))
                if r is not None:
                    if "id" in msg:
                        r["id"] = msg["id"]
                    self.send(conn, r)
        with self.lock:
            self.conns.remove(conn)

    def serve(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(self.qmp):
            os.unlink(self.qmp)
        s.bind(self.qmp)
        s.listen(8)
        while True:
            c, _ = s.accept()
            threading.Thread(target=self.serve_conn, args=(c,),
                             daemon=True).start()


def receive(argv):
    outcome = opt(argv, "--outcome-file")
    exit_file = opt(argv, "--exit-file")
    with open(os.path.join(DIR, "plan")) as f:
        plan = f.read().strip()
    if plan == "hold":
        while True:
            time.sleep(60)
    if plan == "running":
        write_atomic(outcome, "RUNNING\n")
        write_atomic(exit_file, "0 migrated moved on\n")
    elif plan == "discard":
        write_atomic(outcome, "DISCARDED\n")
        write_atomic(exit_file, "1 error gave the VM up\n")
    sys.exit(0)


def main():
    argv = sys.argv
    with open(os.path.join(DIR, "argv.log"), "a") as f:
        f.write(json.dumps(argv) + "\n")
    if len(argv) > 1 and argv[1] == "migrate-receive":
        if "--help" in argv:
            sys.exit(0)
        receive(argv)
    if len(argv) > 1 and argv[1] == "run":
        Vm(argv).serve()
    sys.exit(2)


if __name__ == "__main__":
    main()
