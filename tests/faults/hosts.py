"""The machinery a trial builds around godwit: VMMs and receivers,
godwitd daemons (with their log followed line by line), two 'hosts' in
network namespaces joined by a veth pair with an nftables table each,
memory cgroups (v2 where its memory controller is usable, else v1) and
small tmpfs mounts. Everything registers its own cleanup with the trial."""

import glob
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid

from proc import Lines, Proc, arg_after, merged_env, now, processes_naming
import qmpc


def sh(*cmd, check=True, timeout=30):
    r = subprocess.run(list(cmd), capture_output=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), r.returncode,
                                                r.stderr.decode()[-300:]))
    return r


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def dirty_cmdline(mib, rate):
    return "mib=%d rate=%d" % (mib, rate)


# ---- VMMs we start ourselves ----

def start_vm(t, name, mib, memory, rate=0, prefix=(), env=None, wrap=()):
    """`godwit run` of the dirty guest, serial on stdout."""
    b = t.camp.build
    qmp = t.path(name + ".qmp")
    argv = list(wrap) + list(prefix) + [
        b.godwit, "run", "--kernel", b.guest("dirty"),
        "--cmdline", dirty_cmdline(mib, rate), "--memory", str(memory),
        "--name", name, "--serial", "stdio", "--qmp", qmp,
        "--hooks-dir", t.hooks_dir]
    p = Proc(t, name, argv, env=t.env(**(env or {})))
    p.qmp = qmp
    p.vm_name = name
    return p


def start_receiver(t, name, listen, prefix=(), env=None, wrap=()):
    """`godwit migrate-receive` on listen, returned once it listens."""
    b = t.camp.build
    qmp = t.path(name + ".qmp")
    argv = list(wrap) + list(prefix) + [
        b.godwit, "migrate-receive", "--listen", listen, "--serial",
        "stdio", "--qmp", qmp]
    p = Proc(t, name, argv, env=t.env(**(env or {})))
    p.qmp = qmp
    if not p.err.wait_for(r"waiting for a migration", 15):
        raise RuntimeError("receiver did not listen: %s" % p.err.tail())
    return p


def godwit_cmd(t, *args, timeout=15, env=None, prefix=()):
    """Run the godwit CLI to the end: (rc, stdout, stderr, seconds);
    rc None if it did not end within timeout (it is killed)."""
    start = now()
    environ = merged_env(t.env(**(env or {})))
    try:
        r = subprocess.run(list(prefix) + [t.camp.build.godwit] + list(args),
                           capture_output=True, timeout=timeout, env=environ,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        return None, (e.stdout or b"").decode(errors="replace"), \
            (e.stderr or b"").decode(errors="replace"), now() - start
    return (r.returncode, r.stdout.decode(errors="replace"),
            r.stderr.decode(errors="replace"), now() - start)


# ---- godwitd ----

class LogTail:
    """Follows a log file; each new line timestamped when read."""

    def __init__(self, path):
        self.path = path
        self.lines = Lines()
        self.stop = False
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _run(self):
        pos, buf = 0, b""
        while not self.stop:
            try:
                with open(self.path, "rb") as f:
                    f.seek(pos)
                    data = f.read()
                    pos += len(data)
            except OSError:
                data = b""
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self.lines.add(line.decode(errors="replace"))
            time.sleep(0.02)
        self.lines.close()

    def close(self):
        self.stop = True
        self.th.join(1)


class Daemon:
    """One godwitd with its own run, state and log (hooks: the trial's)."""

    def __init__(self, t, name, prefix=(), reloc_addr="127.0.0.1",
                 reloc_port=None, allow=None, env=None, wrap=()):
        self.t = t
        self.name = name
        self.prefix = list(prefix)
        self.wrap = list(wrap)
        self.dir = t.path(name)
        self.run_dir = os.path.join(self.dir, "run")
        self.state_dir = os.path.join(self.dir, "state")
        self.log_file = os.path.join(self.dir, "godwitd.log")
        os.makedirs(self.dir)
        self.reloc_port = reloc_port or free_port()
        self.args = ["--run-dir", self.run_dir, "--state-dir",
                     self.state_dir, "--log-file", self.log_file,
                     "--hooks-dir", t.hooks_dir,
                     "--relocation-address", reloc_addr,
                     "--relocation-port", str(self.reloc_port), "--debug"]
        if allow is not None:
            self.args += ["--relocation-hosts-allow", allow]
        self.env = dict(env or {})
        self.procs = []
        self.log = LogTail(self.log_file)
        t.on_cleanup(self.cleanup)
        self.start()

    @property
    def proc(self):
        return self.procs[-1]

    def start(self, timeout=15):
        """Start and wait for sd_notify's READY=1."""
        path = os.path.join(self.dir, "notify")
        if os.path.exists(path):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(0.1)
        env = self.t.env(NOTIFY_SOCKET=path)
        env.update(self.env)
        argv = self.wrap + self.prefix + [self.t.camp.build.godwitd] + \
            self.args
        p = Proc(self.t, "godwitd-" + self.name, argv, env=env)
        self.procs.append(p)
        deadline = now() + timeout
        try:
            while True:
                try:
                    if b"READY=1" in sock.recv(4096):
                        return p
                except socket.timeout:
                    pass
                if not p.alive():
                    raise RuntimeError("godwitd %s exited %s: %s" % (
                        self.name, p.returncode(), p.err.tail(3)))
                if now() > deadline:
                    raise RuntimeError("godwitd %s: no READY=1" % self.name)
        finally:
            sock.close()
            os.unlink(path)

    def alive(self):
        return bool(self.procs) and self.proc.alive()

    def cli(self, *args, timeout=15):
        return godwit_cmd(self.t, *args, timeout=timeout,
                          env={"GODWIT_RUN_DIR": self.run_dir})

    def cli_proc(self, *args):
        return Proc(self.t, "cli-" + args[0], [self.t.camp.build.godwit] +
                    list(args), env=self.t.env(GODWIT_RUN_DIR=self.run_dir))

    def domains(self, timeout=10):
        """`godwit list --json`, or None if it did not answer."""
        rc, out, err, _ = self.cli("list", "--json", timeout=timeout)
        if rc != 0:
            return None
        try:
            return json.loads(out)
        except ValueError:
            return None

    def config(self, name, mib, memory, rate=0):
        path = os.path.join(self.dir, name + ".cfg")
        with open(path, "w") as f:
            f.write('name = "%s"\nkernel = "%s"\nmemory = %d\n'
                    'cmdline = "%s"\n' % (name, self.t.camp.build.guest(
                        "dirty"), memory, dirty_cmdline(mib, rate)))
        return path

    def vmms(self):
        """The godwit VMM processes this daemon started (from /proc):
        [{pid, verb, qmp}]."""
        out = []
        for pid, argv in processes_naming(self.state_dir):
            if len(argv) > 1 and argv[0].endswith("/godwit"):
                out.append({"pid": pid, "verb": argv[1],
                            "qmp": arg_after(argv, "--qmp")})
        return out

    def socket_of(self, pid, hint=None):
        """A VMM's control socket: its --qmp path, or after the daemon
        renamed an arrival's socket, the one whose query-domain has pid."""
        if hint and os.path.exists(hint):
            return hint
        vm_dir = os.path.join(self.run_dir, "vm")
        for path in glob.glob(os.path.join(vm_dir, "*.qmp")) + \
                glob.glob(os.path.join(vm_dir, ".*.qmp")):
            try:
                r = qmpc.query(path, "query-domain", timeout=1.0)
            except qmpc.QmpError:
                continue
            if r.get("return", {}).get("pid") == pid:
                return path
        return None

    def killed_by_signal_lines(self):
        return [text for _, text, _ in self.log.lines.snapshot()
                if "killed by signal" in text]

    def stop(self):
        """SIGTERM (VMs keep running), wait; kill if it will not end."""
        for p in self.procs:
            if p.alive():
                if p.stopped():
                    p.send(signal.SIGCONT)
                p.send(signal.SIGTERM)
                if p.wait(10) is None:
                    p.kill()

    def cleanup(self):
        """Destroy every domain (through the daemon when it answers),
        stop the daemon, kill what is left of its VMMs."""
        if self.alive() and not self.proc.stopped():
            doms = self.domains(timeout=5) or []
            for d in doms:
                self.cli("destroy", d["name"], timeout=10)
        self.stop()
        for v in self.vmms():
            try:
                os.kill(v["pid"], signal.SIGKILL)
                os.kill(v["pid"], signal.SIGCONT)
            except OSError:
                pass
        self.log.close()


# ---- two hosts ----

class NetPair:
    """Namespaces gfA-*/gfB-* joined by a veth pair, 10.232.0.1 (a) and
    10.232.0.2 (b), each with an empty nftables table `gwfault` whose
    input and output chains the firewall faults fill."""

    def __init__(self, t):
        tag = uuid.uuid4().hex[:6]
        self.ns = {"a": "gfA-" + tag, "b": "gfB-" + tag}
        self.dev = {"a": "gfa" + tag, "b": "gfb" + tag}
        self.addr = {"a": "10.232.0.1", "b": "10.232.0.2"}
        t.on_cleanup(self.remove)
        sh("ip", "netns", "add", self.ns["a"])
        sh("ip", "netns", "add", self.ns["b"])
        sh("ip", "link", "add", self.dev["a"], "type", "veth", "peer",
           "name", self.dev["b"])
        for h in "ab":
            sh("ip", "link", "set", self.dev[h], "netns", self.ns[h])
            sh("ip", "-n", self.ns[h], "addr", "add", self.addr[h] + "/24",
               "dev", self.dev[h])
            sh("ip", "-n", self.ns[h], "link", "set", self.dev[h], "up")
            sh("ip", "-n", self.ns[h], "link", "set", "lo", "up")
            self.nft(h, "add table inet gwfault; "
                     "add chain inet gwfault input { type filter hook input "
                     "priority 0; policy accept; }; "
                     "add chain inet gwfault output { type filter hook "
                     "output priority 0; policy accept; }")

    def prefix(self, h):
        return ["ip", "netns", "exec", self.ns[h]]

    def nft(self, h, script):
        sh(*(self.prefix(h) + ["nft", script]))

    def rule(self, h, chain, match):
        """Add `match` (e.g. 'tcp dport 8002 drop') on the veth."""
        iface = "iifname" if chain == "input" else "oifname"
        self.nft(h, 'add rule inet gwfault %s %s "%s" %s'
                 % (chain, iface, self.dev[h], match))

    def flush(self):
        for h in "ab":
            self.nft(h, "flush chain inet gwfault input; "
                     "flush chain inet gwfault output")

    def remove(self):
        for h in "ab":
            subprocess.run(["ip", "netns", "del", self.ns[h]],
                           capture_output=True)


# ---- memory cgroups ----

def _own_cgroup():
    v1 = v2 = None
    with open("/proc/self/cgroup") as f:
        for line in f:
            num, ctrls, path = line.rstrip("\n").split(":", 2)
            if num == "0" and ctrls == "":
                v2 = path
            elif "memory" in ctrls.split(","):
                v1 = path
    return v1, v2


def _v2_mount():
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if parts[2] == "cgroup2":
                return parts[1]
    return None


class MemCgroup:
    """A child of our own memory cgroup with a limit. v2: memory.max and
    memory.events' oom_kill; v1: memory.limit_in_bytes and
    memory.oom_control's oom_kill."""

    def __init__(self, t, limit_mib):
        v1, v2 = _own_cgroup()
        name = "gwfault-%s" % uuid.uuid4().hex[:8]
        mnt = _v2_mount()
        self.path = None
        if v2 is not None and mnt:
            base = os.path.join(mnt, v2.lstrip("/"))
            try:
                with open(os.path.join(base, "cgroup.controllers")) as f:
                    ok = "memory" in f.read().split()
            except OSError:
                ok = False
            if ok:
                self.version = 2
                self.path = os.path.join(base, name)
        if self.path is None:
            if v1 is None:
                raise RuntimeError("no memory cgroup controller here")
            self.version = 1
            self.path = os.path.join("/sys/fs/cgroup/memory",
                                     v1.lstrip("/"), name)
        os.mkdir(self.path)
        t.on_cleanup(self.remove)
        limit = str(limit_mib << 20)
        if self.version == 2:
            self._write("memory.max", limit)
            self._write("memory.swap.max", "0", must=False)
        else:
            self._write("memory.limit_in_bytes", limit)
        self.limit_mib = limit_mib

    def _write(self, name, value, must=True):
        try:
            with open(os.path.join(self.path, name), "w") as f:
                f.write(value)
        except OSError:
            if must:
                raise

    def wrap(self):
        """A command prefix that moves the process into the cgroup."""
        return ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"',
                self.path]

    def oom_kills(self):
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            with open(os.path.join(self.path, name)) as f:
                for line in f:
                    k, _, v = line.partition(" ")
                    if k == "oom_kill":
                        return int(v)
        except OSError:
            pass
        return 0

    def pids(self):
        try:
            with open(os.path.join(self.path, "cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def remove(self):
        for _ in range(50):
            pids = self.pids()
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.kill(pid, signal.SIGCONT)
                except OSError:
                    pass
            try:
                os.rmdir(self.path)
                return
            except OSError:
                time.sleep(0.1)


# ---- tmpfs ----

class Tmpfs:
    def __init__(self, t, name, size_kib, ro=False):
        self.path = t.path(name)
        os.makedirs(self.path)
        opts = "size=%dk,mode=0755" % size_kib + (",ro" if ro else "")
        sh("mount", "-t", "tmpfs", "-o", opts, "gwfault", self.path)
        t.on_cleanup(self.remove)

    def remove(self):
        r = subprocess.run(["umount", self.path], capture_output=True)
        if r.returncode != 0:
            subprocess.run(["umount", "-l", self.path], capture_output=True)

