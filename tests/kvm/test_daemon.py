#!/usr/bin/python3
"""kvm suite: godwitd. Real daemons in temporary directories (every path
overridden), driven through the godwit CLI as an operator would: domain
lifecycle and xl's on_poweroff/on_reboot/on_crash actions, the console,
save/restore, domains by name, id and uuid, bad requests on the control
socket, daemon restarts (even SIGKILL) that leave VMs running and
controllable, and migrations between two daemons' relocation servers
(two network namespaces, an allow-list, hooks failing at every step,
job-info and job-abort during a slow migration). Each test stops its
daemons and leaves no process, namespace or file behind."""

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

from lib.gw import TestFailure, check, main, wait_until
from lib.net import TwoHosts, free_port

LIST_HEADER = "Name                                        ID   Mem VCPUs\tState\tTime(s)"
ESCAPE = b"\x1d"  # ^]


class Daemon:
    """One godwitd with its own run, state, log and hooks directories."""

    def __init__(self, env, name, prefix=(), reloc_addr="127.0.0.1",
                 reloc_port=None, allow=None, extra=(), env_extra=None):
        self.env = env
        self.name = name
        self.prefix = list(prefix)
        self.dir = os.path.join(env.tmp, name)
        self.run_dir = os.path.join(self.dir, "run")
        self.state_dir = os.path.join(self.dir, "state")
        self.log_file = os.path.join(self.dir, "godwitd.log")
        self.hooks_dir = os.path.join(self.dir, "hooks")
        self.godwitd = os.path.join(env.build, "godwitd")
        os.makedirs(self.hooks_dir, exist_ok=True)
        self.reloc_port = reloc_port or free_port()
        self.args = ["--run-dir", self.run_dir, "--state-dir",
                     self.state_dir, "--log-file", self.log_file,
                     "--hooks-dir", self.hooks_dir,
                     "--relocation-address", reloc_addr,
                     "--relocation-port", str(self.reloc_port)]
        if allow is not None:
            self.args += ["--relocation-hosts-allow", allow]
        self.args += list(extra)
        self.proc = None
        self.env_extra = env_extra
        self.start(env_extra)

    def start(self, env_extra=None):
        """Start and wait for sd_notify's READY=1 (Type=notify)."""
        path = os.path.join(self.dir, "notify")
        if os.path.exists(path):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(0.2)
        environ = dict(os.environ, NOTIFY_SOCKET=path)
        environ.update(env_extra or {})
        self.stderr = open(os.path.join(self.dir, "stderr"), "ab")
        self.proc = subprocess.Popen(self.prefix + [self.godwitd] + self.args,
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=self.stderr, env=environ)
        self.env.procs.append(self.proc)
        deadline = time.time() + 10
        try:
            while True:
                try:
                    if b"READY=1" in sock.recv(4096):
                        return
                except socket.timeout:
                    pass
                if self.proc.poll() is not None:
                    raise TestFailure("%s: godwitd exited %d: %s"
                                      % (self.name, self.proc.returncode,
                                         self.log()[-500:]))
                if time.time() > deadline:
                    raise TestFailure("%s: no READY=1" % self.name)
        finally:
            sock.close()
            os.unlink(path)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            rc = self.proc.wait(10)
            check(sig != signal.SIGTERM or rc == 0,
                  "%s: godwitd exit %d on SIGTERM" % (self.name, rc))
        self.stderr.close()

    def alive(self):
        return self.proc.poll() is None

    def cli(self, *args, rc=0, timeout=60, prefix=()):
        environ = dict(os.environ, GODWIT_RUN_DIR=self.run_dir)
        r = subprocess.run(list(prefix) + [self.env.godwit] + list(args),
                           capture_output=True, timeout=timeout, env=environ,
                           stdin=subprocess.DEVNULL)
        out, err = r.stdout.decode(), r.stderr.decode()
        if rc is not None and r.returncode != rc:
            raise TestFailure("%s: godwit %s: exit %d, expected %d: %s%s"
                              % (self.name, " ".join(args), r.returncode, rc,
                                 err, out))
        return out, err

    def domains(self):
        return json.loads(self.cli("list", "--json")[0])

    def dom(self, name):
        for d in self.domains():
            if d["name"] == name:
                return d
        return None

    def wait_dom(self, name, state=None, timeout=20):
        def ok():
            d = self.dom(name)
            return d if d and (state is None or d["state"] == state) \
                else None
        return wait_until("%s: domain %s %s" % (self.name, name,
                                                state or "listed"),
                          ok, timeout)

    def wait_gone(self, name, timeout=20):
        wait_until("%s: domain %s gone" % (self.name, name),
                   lambda: self.dom(name) is None, timeout)

    def log(self):
        try:
            with open(self.log_file, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=20):
        rx = re.compile(pattern)
        return wait_until("%s: /%s/ in the log" % (self.name, pattern),
                          lambda: rx.search(self.log()), timeout)

    def config(self, name, guest, cmdline="", memory=32, **keys):
        """Write an xl.cfg file; keys become key = "value" lines."""
        path = os.path.join(self.dir, name + ".cfg")
        lines = ['name = "%s"' % name,
                 'kernel = "%s"' % self.env.guest(guest),
                 'memory = %d' % memory]
        if cmdline:
            lines.append('cmdline = "%s"' % cmdline)
        for k, v in keys.items():
            if isinstance(v, list):  # a list of strings (disk, vif)
                lines.append('%s = [ %s ]' % (k, ", ".join('"%s"' % x
                                                         for x in v)))
            else:
                lines.append('%s = "%s"' % (k, v))
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def create(self, name, guest, cmdline="", memory=32, opts=(), **keys):
        self.cli("create", *opts, self.config(name, guest, cmdline, memory,
                                                **keys))
        return self.wait_dom(name)

    def console(self, dom, seconds=1.0, send=b"", until=None):
        """Attach to dom's console, type send, read for a while (or until
        a line matches until), detach with ^]; return the complete lines
        (a line cut by the detach is left out)."""
        environ = dict(os.environ, GODWIT_RUN_DIR=self.run_dir)
        p = subprocess.Popen([self.env.godwit, "console", dom],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=environ)
        raw = []
        t = threading.Thread(target=lambda: [raw.append(l) for l in p.stdout],
                             daemon=True)
        t.start()
        rx = re.compile(until) if until else None
        try:
            time.sleep(0.3)
            if send:
                p.stdin.write(send)
                p.stdin.flush()
            deadline = time.time() + seconds
            while time.time() < deadline and p.poll() is None:
                if rx and any(rx.search(l.decode(errors="replace"))
                              for l in raw):
                    break
                time.sleep(0.05)
            p.stdin.write(ESCAPE)
            p.stdin.flush()
        except BrokenPipeError:
            pass  # it ended by itself: reported below
        rc = p.wait(10)
        t.join(5)
        err = p.stderr.read().decode()
        check(rc == 0 and "detached" in err,
              "console %s: exit %d: %s" % (dom, rc, err))
        lines = [l.decode(errors="replace").rstrip("\r\n") for l in raw
                 if l.endswith(b"\n")]
        for l in lines:
            check("CORRUPT" not in l and " BAD" not in l,
                  "%s: guest reports a failure: %s" % (dom, l))
        return lines

    def sweeping(self, dom):
        """The dirty guest in dom runs now and reports no damage: a second
        console session (the pty's backlog was read by the first) shows
        sweeps beyond the first session's."""
        def sweeps(lines):
            return [int(m.group(1)) for m in
                    (re.match(r"^dirty: sweep (\d+)$", l) for l in lines)
                    if m]
        first = sweeps(self.console(dom, seconds=3, until=r"^dirty: sweep"))
        check(first, "%s: no sweep on its console" % dom)
        later = sweeps(self.console(dom, seconds=3, until=r"^dirty: sweep"))
        check(later and later[-1] > first[-1],
              "%s: no progress: %s then %s" % (dom, first[-3:], later[-3:]))

    def destroy_all(self):
        if not self.alive():
            return
        for d in self.domains():
            self.cli("destroy", d["name"], rc=None)


def strays(env):
    """Live processes (VMMs, daemons) whose command line names env.tmp."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open("/proc/%s/stat" % pid) as f:
                zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if env.tmp in cmd and not zombie:
            found.append((int(pid), cmd))
    return found


def daemon_test(fn):
    """Run fn(env, start) where start() makes daemons; afterwards every
    domain is destroyed, every daemon stopped, and a process left over
    is a failure (it is killed all the same)."""
    def run(env):
        daemons = []

        def start(name, **kw):
            d = Daemon(env, name, **kw)
            daemons.append(d)
            return d
        ok = False
        try:
            fn(env, start)
            ok = True
        finally:
            for d in daemons if not ok else ():
                print("---- %s: end of its log\n%s" % (
                    d.name, "\n".join(d.log().splitlines()[-30:])))
            for d in daemons:
                try:
                    d.destroy_all()
                except Exception as e:  # keep cleaning up
                    print("cleanup %s: %s" % (d.name, e))
                d.stop()
            left = []
            deadline = time.time() + 5
            while time.time() < deadline:
                left = strays(env)
                if not left:
                    break
                time.sleep(0.1)
            for pid, _ in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            if ok and left:
                raise TestFailure("stray processes: %s" % left)
    run.__name__ = fn.__name__
    return run


def row_of(out, name):
    for line in out.splitlines():
        if line.startswith(name + " "):
            return line
    raise TestFailure("no row for %s in:\n%s" % (name, out))


# ---- lifecycle through the CLI ----

@daemon_test
def test_cli_lifecycle(env, start):
    d = start("a")
    out, err = d.cli("create", d.config("web", "dirty", "mib=4"))
    check("Parsing config from" in err and "domain web created" in err, err)
    web = d.wait_dom("web", "running")
    out, _ = d.cli("list")
    lines = out.splitlines()
    check(lines[0] == LIST_HEADER, "list header: %r" % lines[0])
    row = row_of(out, "web")
    m = re.match(r"^web {37} {1,5}(\d+) +32 +1     r-----  +(\d+\.\d)$", row)
    check(m and len(row.split("r-----")[0]) == 63,
          "list row not in xl's columns: %r" % row)
    check(int(m.group(1)) == web["domid"], row)
    out, _ = d.cli("list", "-v")
    check(web["uuid"] in row_of(out, "web"), "list -v: " + out)
    # By id, by uuid, by name. A client of the daemon sees the domain's
    # state change: the VMM's events reach it, naming the domain.
    watcher = Raw(os.path.join(d.run_dir, "godwitd.sock"))
    watcher.cmd("qmp_capabilities")
    d.cli("pause", str(web["domid"]))
    check("--p---" in row_of(d.cli("list")[0], "web"), "not paused")
    ev = watcher.recv()
    while ev.get("event") != "STOP":
        ev = watcher.recv()
    check(ev["data"].get("domain") == "web" and
          ev["data"].get("domid") == web["domid"], "STOP event: %s" % ev)
    watcher.s.close()
    d.cli("unpause", web["uuid"].upper())
    check("r-----" in row_of(d.cli("list", "web")[0], "web"), "not running")
    _, err = d.cli("pause", "nosuch", rc=1)
    check("no domain 'nosuch'" in err, err)
    # Names are unique; a bad config says where.
    _, err = d.cli("create", d.config("web", "dirty", "mib=4"), rc=1)
    check("already exists" in err, err)
    bad = os.path.join(d.dir, "bad.cfg")
    with open(bad, "w") as f:
        f.write('name = "bad"\nmemory = "lots"\n')
    _, err = d.cli("create", bad, rc=1)
    check("bad.cfg:2" in err, "config error without its place: " + err)
    d.cli("create", rc=2)
    d.cli("list", "--bogus", rc=2)
    # create -c attaches to the console; typed bytes reach the guest and
    # its output comes back; ^] detaches and the domain runs on.
    environ = dict(os.environ, GODWIT_RUN_DIR=d.run_dir)
    c = subprocess.Popen([env.godwit, "create", "-c",
                          d.config("con", "lifecycle", "action=echo")],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=environ)
    env.procs.append(c)
    seen = []
    reader = threading.Thread(target=lambda: [seen.append(l)
                                              for l in c.stdout], daemon=True)
    reader.start()
    d.wait_dom("con", "running")
    time.sleep(0.3)
    c.stdin.write(b"a")
    c.stdin.flush()
    wait_until("create -c to echo", lambda: b"lifecycle: got 61\n" in seen)
    c.stdin.write(ESCAPE)
    c.stdin.flush()
    check(c.wait(10) == 0 and b"detached" in c.stderr.read(),
          "create -c did not detach")
    lines = d.console("con", seconds=5, send=b"b",
                      until=r"lifecycle: got 62")
    check("lifecycle: got 62" in lines, "console: %s" % lines)
    d.cli("destroy", "con")
    d.wait_gone("con")
    # create -p stays paused until unpaused; a relative kernel path works.
    cfg = os.path.join(d.dir, "rel.cfg")
    with open(cfg, "w") as f:
        f.write('name = "rel"\nmemory = 32\nkernel = "%s"\n'
                % os.path.relpath(env.guest("lifecycle"), d.dir))
    cwd = os.getcwd()
    os.chdir(d.dir)
    try:
        d.cli("create", "-p", "rel.cfg", 'cmdline="action=echo"')
    finally:
        os.chdir(cwd)
    check(d.wait_dom("rel")["state"] == "paused", "create -p")
    d.cli("destroy", "rel")
    # save ends the domain; restore brings it back, intact.
    d.cli("pause", "web")
    save = os.path.join(d.dir, "web.save")
    _, err = d.cli("save", "web", save)
    check("saved web" in err, err)
    check(d.dom("web") is None, "saved domain still listed")
    _, err = d.cli("restore", save)
    check("restored" in err, err)
    again = d.wait_dom("web")
    check(again["domid"] > web["domid"] and again["uuid"] == web["uuid"],
          "restored: %s" % again)
    check(again["state"] == "running", "restore left it %s" % again["state"])
    d.sweeping("web")
    # A second copy of a running domain is refused (it never ran).
    d.cli("save", "-c", "web", save)
    _, err = d.cli("restore", save, rc=1)
    check("already exists" in err, err)
    d.wait_log(r"refused VMM ended")
    check(len(d.domains()) == 1, "the refused copy is listed")
    d.cli("save", "-p", "web", save)
    check(d.dom("web")["state"] == "paused", "save -p")
    # restore -F runs in the foreground, outside the daemon.
    fg_qmp = os.path.join(d.dir, "fg.qmp")
    fg = subprocess.Popen([env.godwit, "restore", "-F", save, "--qmp",
                           fg_qmp, "--serial", "none"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=environ)
    env.procs.append(fg)
    wait_until("the foreground restore", lambda: os.path.exists(fg_qmp))
    check(len(d.domains()) == 1, "restore -F went to the daemon")
    d.cli("destroy", fg_qmp)
    check(fg.wait(10) == 0, "restore -F: %s" % fg.stderr.read())
    d.cli("destroy", "web")
    d.wait_gone("web")
    d.cli("restore", "-p", save)
    check(d.wait_dom("web")["state"] == "paused", "restore -p")
    d.cli("destroy", "web")
    _, err = d.cli("destroy", "web", rc=1)
    check("no domain" in err, err)


# ---- on_poweroff, on_reboot, on_crash ----

@daemon_test
def test_lifecycle_actions(env, start):
    d = start("a", extra=["--restart-limit", "3"])
    # destroy (xl's default for poweroff): gone, and the log says how.
    # A guest that ends within create's settle time fails the create
    # with how (test_errors_travel.py); one that takes longer does not.
    _, err = d.cli("create", d.config("off", "lifecycle", "action=poweroff"),
                   rc=None)
    check("created" in err or "the guest ended" in err, err)
    d.wait_log(r"domain off: VMM exited: 0 poweroff guest powered off")
    d.wait_gone("off")
    # preserve: listed as shut down until destroyed.
    d.create("kept", "lifecycle", "action=exit:5", on_poweroff="preserve")
    kept = d.wait_dom("kept", "shutdown")
    check("status 5" in kept["reason"], kept["reason"])
    check("---s--" in row_of(d.cli("list")[0], "kept"), "flags")
    d.cli("destroy", "kept")
    d.wait_gone("kept")
    # on_crash=preserve after a triple fault: crashed.
    d.create("tf", "lifecycle", "action=triple-fault", on_crash="preserve")
    tf = d.wait_dom("tf", "crashed")
    check("triple fault" in tf["reason"], tf["reason"])
    check("---sc-" in row_of(d.cli("list")[0], "tf"), "crash flags")
    # coredump-destroy: no core dumps here, said so, then destroyed.
    d.cli("create", d.config("cd", "lifecycle", "action=triple-fault",
                             on_crash="coredump-destroy"), rc=None)
    d.wait_log(r"domain cd: on_crash=coredump-destroy: core dumps are not "
               r"supported")
    d.wait_gone("cd")
    # restart: new ids, until the restart guard keeps it stopped.
    d.cli("create", d.config("rb", "lifecycle", "action=reset"))
    d.wait_log(r"domain rb: on_reboot=restart, but it was restarted 3 "
               r"times within 60 s; not restarting it again")
    rb = d.wait_dom("rb", "shutdown")
    check(len(re.findall(r"domain rb: restarted as id", d.log())) == 3,
          "three restarts")
    check(rb["domid"] >= 4, "restart kept the domid: %s" % rb)
    # rename-restart: the ended one stays under NAME-ID.
    d.cli("create", d.config("rr", "lifecycle", "action=poweroff",
                             on_poweroff="rename-restart"))
    d.wait_log(r"domain rr: on_poweroff=rename-restart, but it was "
               r"restarted 3 times")
    d.wait_dom("rr", "shutdown")
    relics = [x for x in d.domains() if x["name"].startswith("rr-")]
    check(len(relics) == 3 and all(r["state"] == "shutdown" for r in relics),
          "renamed copies: %s" % relics)
    # A VMM killed by a signal is a crash: on_crash applies.
    killed = d.create("kil", "lifecycle", "action=hang", on_crash="preserve")
    d.wait_dom("kil", "running")
    os.kill(killed["pid"], signal.SIGKILL)
    k = d.wait_dom("kil", "crashed")
    check("killed by signal 9" in k["reason"], k["reason"])
    d.wait_log(r"domain kil: VMM killed by signal 9")
    # shutdown presses the power button; -w waits for the power-off.
    d.create("pb", "lifecycle", "action=powerbutton", on_poweroff="preserve")
    d.wait_dom("pb", "running")
    time.sleep(0.3)
    d.cli("shutdown", "-w", "pb", timeout=30)
    check(d.dom("pb")["state"] == "shutdown", "shutdown -w: %s" % d.dom("pb"))
    check("power button" in d.dom("pb")["reason"] or
          "powered off" in d.dom("pb")["reason"], d.dom("pb")["reason"])


# ---- the control socket under abuse ----

class Raw:
    """A raw connection to a control socket."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.s.settimeout(10)
        self.buf = b""
        check("QMP" in self.recv(), "no greeting")

    def recv(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise TestFailure("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def send(self, data):
        self.s.sendall(data)

    def cmd(self, name, **args):
        self.send(json.dumps({"execute": name, "arguments": args}).encode())
        while True:
            r = self.recv()
            if "event" not in r:
                return r

    def closed(self):
        try:
            while True:
                if not self.s.recv(65536):
                    return True
        except OSError:
            return True


@daemon_test
def test_bad_requests(env, start):
    d = start("a")
    d.create("vm", "lifecycle", "action=echo")
    sock = os.path.join(d.run_dir, "godwitd.sock")
    # Garbage: an error, then the connection closes.
    r = Raw(sock)
    r.send(b"\x00\xffthis is not json}}\r\n")
    check("error" in r.recv(), "garbage accepted")
    check(r.closed(), "still open after garbage")
    # 100 MB in one message: refused long before the end.
    r = Raw(sock)
    big = b'{"execute": "list", "arguments": {"x": "' + b"a" * (100 << 20)
    try:
        r.send(big)
    except OSError:
        pass  # the daemon stopped reading and closed: expected
    try:
        reply = r.recv()
        check("error" in reply, "100 MB message: %s" % str(reply)[:200])
    except (TestFailure, OSError):
        pass  # reset before the error reply was read
    r.s.close()
    # Before negotiation, unknown commands, bad arguments.
    r = Raw(sock)
    e = r.cmd("list")
    check("error" in e, "command before qmp_capabilities: %s" % e)
    r.cmd("qmp_capabilities")
    e = r.cmd("frobnicate")
    check(e.get("error", {}).get("class") == "CommandNotFound", str(e))
    e = r.cmd("pause")
    check("'domain'" in e["error"]["desc"], str(e))
    e = r.cmd("create", config='name = "x"\n', overrides="memory=4")
    check("overrides" in e["error"]["desc"], str(e))
    e = r.cmd("save", domain="vm", file="relative/path")
    check("absolute" in e["error"]["desc"], str(e))
    e = r.cmd("migrate", domain="vm", host="127.0.0.1", port=70000)
    check("port" in e["error"]["desc"], str(e))
    # The VMM's limits hold through the daemon, which passes every option
    # on (it used to drop stall-timeout-ms and paused-margin-ms).
    e = r.cmd("migrate", domain="vm", host="127.0.0.1", port=9,
              **{"stall-timeout-ms": 5})
    check("stall-timeout-ms" in e.get("error", {}).get("desc", ""), str(e))
    check("return" in r.cmd("list"), "list after errors")
    # Disconnect mid-request, and right after a deferred command.
    r = Raw(sock)
    r.send(b'{"execute": "qmp_capabilities"}{"execute": "li')
    r.s.close()
    r = Raw(sock)
    r.send(b'{"execute": "qmp_capabilities"}{"execute": "list"}')
    r.s.close()
    r = Raw(sock)
    r.cmd("qmp_capabilities")
    r.send(json.dumps({"execute": "create", "arguments": {
        "config": open(d.config("late", "lifecycle", "action=echo")).read()}
    }).encode())
    r.s.close()
    d.wait_dom("late", "running")
    # Through all that, the daemon and its VMs are fine.
    check(d.alive(), "godwitd died")
    before = d.dom("vm")["cpu-time-ns"]
    lines = d.console("vm", seconds=5, send=b"b", until="got 62")
    check("lifecycle: got 62" in lines, "VM does not answer: %s" % lines)
    vm = d.dom("vm")
    check(vm["state"] == "running" and vm["cpu-time-ns"] > before,
          "VM not running: %s" % vm)


# ---- daemon restarts ----

@daemon_test
def test_daemon_restart_keeps_vms(env, start):
    d = start("a")
    web = d.create("web", "dirty", "mib=4")
    p = d.create("p", "lifecycle", "action=echo", opts=["-p"])
    gone = d.create("gone", "lifecycle", "action=echo")
    d.wait_dom("gone", "running")
    # SIGKILL: the VMs live on and answer on their own sockets.
    d.stop(signal.SIGKILL)
    for x in (web, p, gone):
        os.kill(x["pid"], 0)
    _, err = d.cli("list", rc=1)
    check("no godwitd is running" in err, err)
    d.cli("pause", "web")  # straight to RUN/vm/web.qmp
    # A VMM that ends while no daemon runs is handled at the next start.
    d.cli("destroy", gone["qmp"])
    wait_until("gone's VMM to end",
               lambda: not os.path.exists("/proc/%d/cmdline" % gone["pid"])
               or not open("/proc/%d/cmdline" % gone["pid"]).read())
    d.start()
    d.wait_log(r"domain gone: VMM exited: 0 host")
    d.wait_dom("web", "paused")
    d.wait_dom("p", "paused")
    now = {x["name"]: x for x in d.domains()}
    check(set(now) == {"web", "p"}, "after restart: %s" % list(now))
    for x in (web, p):
        check(now[x["name"]]["domid"] == x["domid"] and
              now[x["name"]]["pid"] == x["pid"], "adopted: %s" % now)
    check(now["web"]["state"] == "paused" and now["p"]["state"] == "paused",
          "states after restart: %s" % now)
    d.cli("unpause", "web")
    d.cli("unpause", "p")
    d.sweeping("web")
    # SIGTERM also leaves them running, and a new domain gets a new id.
    d.stop()
    os.kill(web["pid"], 0)
    d.start()
    d.wait_dom("web", "running")
    nxt = d.create("next", "lifecycle", "action=echo")
    check(nxt["domid"] > gone["domid"], "domid reused: %s" % nxt)
    d.cli("destroy", "p")
    d.wait_gone("p")


# ---- migration between daemons ----

@daemon_test
def test_two_hosts_back_and_forth(env, start):
    hosts = TwoHosts()
    try:
        a = start("a", prefix=hosts.prefix("a"), reloc_addr="0.0.0.0",
                  reloc_port=8002, allow=r"^10\.231\.0\.2$")
        b = start("b", prefix=hosts.prefix("b"), reloc_addr="0.0.0.0",
                  reloc_port=8002, allow=r"^10\.231\.0\.1$")
        first = a.create("mover", "dirty", "mib=16", memory=64)
        a.sweeping("mover")
        _, err = a.cli("migrate", "mover", hosts.addr_b, timeout=120)
        check("migrated mover" in err, err)
        a.wait_gone("mover")
        there = b.wait_dom("mover", "running")
        check(there["uuid"] == first["uuid"] and
              there["origin"] == "migration", "on B: %s" % there)
        b.wait_log(r"domain mover \(id \d+\): arrived by migration from "
                   r"10\.231\.0\.1")
        b.sweeping("mover")
        # A name already taken on the destination is refused; the source
        # goes on.
        a.create("mover", "lifecycle", "action=echo")
        _, err = a.cli("migrate", "mover", hosts.addr_b, rc=1)
        check("a domain named 'mover' already exists here" in err, err)
        check(a.wait_dom("mover")["state"] == "running", "source resumed")
        a.cli("destroy", "mover")
        a.wait_gone("mover")
        # And back.
        b.cli("migrate", "mover", hosts.addr_a + ":8002", timeout=120)
        b.wait_gone("mover")
        back = a.wait_dom("mover", "running")
        check(back["uuid"] == first["uuid"], "back on A: %s" % back)
        a.sweeping("mover")
        # A peer not on the allow-list is refused and logged.
        subprocess.run(hosts.prefix("b") + [
            "python3", "-c",
            "import socket; s = socket.create_connection(('%s', 8002)); "
            "s.settimeout(5); print(s.recv(10))" % hosts.addr_b],
            capture_output=True, timeout=10)
        b.wait_log(r"relocation: refused a connection from 10\.231\.0\.2")
        check(b.domains() == [], "B lists %s" % b.domains())
    finally:
        for x in (a, b) if "b" in locals() else ():
            x.destroy_all()
            x.stop()
        hosts.remove()


HOOK = """#!/bin/sh
echo "$1 $2" >> %(log)s
echo "hook says hello at $1"
[ "$1" = "$(cat %(fail)s 2>/dev/null)" ] && exit 7
exit 0
"""


@daemon_test
def test_hook_failure_resumes_source(env, start):
    a = start("a")
    b = start("b")
    log = os.path.join(a.dir, "hooks.log")
    fail = os.path.join(a.dir, "fail-at")
    hook = os.path.join(a.hooks_dir, "10-record")
    with open(hook, "w") as f:
        f.write(HOOK % {"log": log, "fail": fail})
    os.chmod(hook, 0o755)
    a.create("hk", "dirty", "mib=8")
    a.sweeping("hk")
    dest = "127.0.0.1:%d" % b.reloc_port
    for step in ("check", "pre-suspend", "post-suspend", "sync"):
        with open(fail, "w") as f:
            f.write(step)
        if os.path.exists(log):
            os.unlink(log)
        _, err = a.cli("migrate", "hk", dest, rc=1, timeout=120)
        check("hook 10-record failed at step %s (exit 7)" % step in err,
              "%s: %s" % (step, err))
        steps = [l.split()[0] for l in open(log)]
        check(steps[-2:] == [step, "recover"], "%s: steps %s"
              % (step, steps))
        check(a.dom("hk")["state"] == "running", "%s: source not running"
              % step)
        check(b.domains() == [], "%s: B lists %s" % (step, b.domains()))
    a.wait_log(r"hook 10-record check: hook says hello at check")
    a.sweeping("hk")
    # The receivers that got the stream ended, and B said why.
    b.wait_log(r"migration from 127\.0\.0\.1:\d+ failed")
    os.unlink(fail)
    os.unlink(log)
    a.cli("migrate", "hk", dest, timeout=120)
    check([l.split()[0] for l in open(log)] ==
          ["check", "pre-suspend", "post-suspend", "sync"], "hooks on success")
    b.wait_dom("hk", "running")


@daemon_test
def test_job_info_and_abort(env, start):
    a = start("a")
    b = start("b")
    a.create("slow", "dirty", "mib=32", memory=64)
    a.sweeping("slow")  # its memory is written: there is data to move
    check(json.loads(a.cli("job-info", "--json", "slow")[0])["type"] ==
          "none", "a job before any")
    environ = dict(os.environ, GODWIT_RUN_DIR=a.run_dir)
    mig = subprocess.Popen([env.godwit, "migrate", "--bandwidth", "4",
                            "slow", "127.0.0.1:%d" % b.reloc_port],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=environ)
    env.procs.append(mig)

    def progressing():
        j = json.loads(a.cli("job-info", "--json", "slow")[0])
        return j if j.get("data-processed", 0) > (2 << 20) else None
    job = wait_until("migration progress", progressing, 30, 0.2)
    check(job["type"] == "unbounded" and
          job["operation"] == "outgoing migration" and
          job["data-total"] == 64 << 20 and "iteration" in job and
          job["data-remaining"] > 0 and job["time-elapsed-ms"] > 0,
          "job-info: %s" % job)
    out, _ = a.cli("job-info", "slow")
    for label in ("Job type:         Unbounded",
                  "Operation:        Outgoing migration",
                  "Time elapsed:", "Data processed:", "Data remaining:",
                  "Data total:", "Memory bandwidth:", "Dirty rate:",
                  "Iteration:", "Expected downtime:"):
        check(label in out, "job-info lacks %r:\n%s" % (label, out))
    a.cli("job-abort", "slow")
    rc = mig.wait(30)
    err = mig.stderr.read().decode()
    check(rc == 1 and "cancelled" in err, "migrate: %d %s" % (rc, err))
    check(a.dom("slow")["state"] == "running", "source not resumed")
    job = json.loads(a.cli("job-info", "--json", "slow")[0])
    check(job["type"] == "failed", "after abort: %s" % job)
    _, err = a.cli("job-abort", "slow", rc=1)
    check("no job in progress" in err, err)
    b.wait_log(r"migration from 127\.0\.0\.1:\d+ failed")
    check(b.domains() == [], "B lists %s" % b.domains())
    a.sweeping("slow")


if __name__ == "__main__":
    main([v for k, v in sorted(globals().items()) if k.startswith("test_")])
