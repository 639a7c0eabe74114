#!/usr/bin/python3
"""kvm suite: godwit as a Debian service.

- the systemd unit's sandbox rates under 5 in `systemd-analyze security`
  (offline: this machine runs no systemd), with each restriction the
  unit promises still in it;
- godwitd run with the unit's restrictions emulated where a test can
  (capability bounding set CAP_SYS_ADMIN + CAP_NET_ADMIN, no new
  privileges, /usr, /etc and /boot read-only, /home and /root hidden, in
  a mount namespace of its own) creates a domain whose disk a hotplug
  script puts on a loop device, and migrates it to another such daemon;
  its VMMs inherit the restrictions. Not emulated here: the system call
  filter, the device allow-list (cgroup BPF), PrivateTmp and the other
  namespaces (the test's files live in /tmp);
- under systemd's journal (JOURNAL_STREAM naming its stderr), godwitd and
  its VMMs send every line to the journal socket with its syslog
  priority and the domain's name, uuid and job as fields, and nothing to
  stderr;
- `meson install` into a temporary DESTDIR gives a godwitd that runs the
  godwit installed beside it (not the build tree's), stamped man pages,
  the unit and the bash completion."""

import json
import os
import re
import shutil
import socket
import subprocess

from lib.gw import check, main, wait_until
from test_daemon import daemon_test

SRC = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CAPS = {"sys_admin": 21, "net_admin": 12}


def unit_path(env):
    return os.path.join(env.build, "godwitd.service")


def test_unit_rates_under_5(env):
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                        "--no-pager", unit_path(env)],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for godwitd\.service: "
                  r"([0-9.]+)", r.stdout)
    check(m, "systemd-analyze said: %s %s" % (r.stdout[-500:], r.stderr))
    check(float(m.group(1)) < 5, "exposure %s:\n%s" % (m.group(1),
                                                       r.stdout))
    with open(unit_path(env)) as f:
        unit = f.read()
    for line in ("ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                 "NoNewPrivileges=yes", "DevicePolicy=closed",
                 "DeviceAllow=/dev/kvm rw", "DeviceAllow=/dev/net/tun rw",
                 "DeviceAllow=/dev/userfaultfd rw",
                 "DeviceAllow=/dev/loop-control rw",
                 "CapabilityBoundingSet=CAP_SYS_ADMIN CAP_NET_ADMIN",
                 "SystemCallFilter=@system-service", "KillMode=process",
                 "StateDirectory=godwit", "RuntimeDirectory=godwit"):
        check("\n" + line + "\n" in unit, "the unit lost %r" % line)
    print("exposure %s" % m.group(1))


SANDBOX = """set -e
mount --make-rprivate /
for d in /usr /etc /boot; do
    [ -d $d ] && mount --bind $d $d && mount -o remount,bind,ro $d
done
mount -t tmpfs -o ro,mode=0755 tmpfs /home
mount -t tmpfs -o ro,mode=0700 tmpfs /root
exec setpriv --no-new-privs --bounding-set -all,+sys_admin,+net_admin \
    --inh-caps -all "$@"
"""


def sandboxed():
    """A prefix that runs a command as the unit would, as far as a test
    can emulate it."""
    return ["unshare", "--mount", "--", "sh", "-c", SANDBOX, "sandbox"]


def caps_of(pid):
    with open("/proc/%d/status" % pid) as f:
        st = dict(l.split(":", 1) for l in f)
    return (int(st["CapBnd"], 16), int(st["CapEff"], 16),
            int(st["NoNewPrivs"]))


def check_restricted(pid, who):
    want = sum(1 << b for b in CAPS.values())
    bnd, eff, nnp = caps_of(pid)
    check(bnd == want and eff == want and nnp == 1,
          "%s %d: CapBnd %x CapEff %x NoNewPrivs %d" % (who, pid, bnd, eff,
                                                        nnp))


def disk_cfg(d, name, spec):
    cfg = d.config(name, "dirty", "mib=4")
    with open(cfg, "a") as f:
        f.write("disk = [ '%s' ]\n" % spec)
    return cfg


def loop_of(img):
    return subprocess.run(["losetup", "--associated", img],
                          capture_output=True, text=True).stdout.strip()


@daemon_test
def test_sandboxed_daemons_create_and_migrate(env, start):
    a = start("a", prefix=sandboxed())
    b = start("b", prefix=sandboxed())
    check_restricted(a.proc.pid, "godwitd")
    img, lo = (os.path.join(env.tmp, n) for n in ("disk.img", "loop.img"))
    for path in (img, lo):
        with open(path, "wb") as f:
            f.truncate(16 << 20)
    # A hotplug script still works: block-loop needs CAP_SYS_ADMIN.
    a.cli("create", disk_cfg(a, "lo", "script=%s, vdev=xvda, target=%s"
                             % (os.path.join(SRC, "examples", "block-loop"),
                                lo)))
    check_restricted(a.wait_dom("lo", "running")["pid"], "VMM")
    a.wait_log(r"disk xvda: /dev/loop\d+ opened read-write")
    a.cli("destroy", "lo")
    wait_until("loop device detached", lambda: not loop_of(lo), 10)
    # A VM with a disk image moves between two sandboxed daemons.
    a.cli("create", disk_cfg(a, "web", "%s,raw,xvda,rw" % img))
    a.wait_dom("web", "running")
    _, err = a.cli("migrate", "web", "127.0.0.1:%d" % b.reloc_port,
                   timeout=60)
    check("migrated web" in err, err)
    check_restricted(b.wait_dom("web", "running")["pid"], "receiving VMM")
    b.sweeping("web")


def journal_socket(env):
    path = os.path.join(env.tmp, "journal")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(0.1)
    return s, path


def entries(sock):
    out = []
    while True:
        try:
            data = sock.recv(65536).decode()
        except socket.timeout:
            return out
        out.append(dict(l.split("=", 1) for l in data.splitlines()))


@daemon_test
def test_journal_priorities_and_fields(env, start):
    sock, path = journal_socket(env)
    # What systemd sets: the device and inode of the daemon's stderr.
    stderr = os.path.join(env.tmp, "j", "stderr")
    os.makedirs(os.path.dirname(stderr))
    open(stderr, "ab").close()
    st = os.stat(stderr)
    d = start("j", env_extra={"GODWIT_JOURNAL_SOCKET": path,
                              "JOURNAL_STREAM": "%d:%d" % (st.st_dev,
                                                           st.st_ino)})
    d.create("web", "dirty", "mib=4")
    uuid = d.dom("web")["uuid"]
    nok = d.config("nok", "dirty")
    with open(nok, "a") as f:
        f.write('kernel = "/nonexistent.elf"\n')
    d.cli("create", nok, rc=1)
    got = entries(sock)
    daemon = [e for e in got if e["SYSLOG_IDENTIFIER"] == "godwitd"]
    vmm = [e for e in got if e["SYSLOG_IDENTIFIER"] == "godwit"]
    created = [e for e in daemon if "domain web (id 1): created" in
               e["MESSAGE"]]
    check(created and created[0]["PRIORITY"] == "6" and
          created[0]["GODWIT_DOMAIN"] == "web" and
          created[0]["GODWIT_UUID"] == uuid, "created: %s" % created)
    check(any(e["MESSAGE"].startswith("web: ") and
              e.get("GODWIT_DOMAIN") == "web" and
              e.get("GODWIT_UUID") == uuid for e in vmm),
          "VMM lines: %s" % vmm[:5])
    # The VMM's error, and the daemon's: priority 3, nok's fields.
    for who in (vmm, daemon):
        check(any(e["PRIORITY"] == "3" and e.get("GODWIT_DOMAIN") == "nok"
                  and "/nonexistent.elf" in e["MESSAGE"] for e in who),
              "no error line about nok: %s" % who[-4:])
    with open(os.path.join(d.dir, "stderr")) as f:
        check(f.read() == "", "godwitd wrote on its journal stream")
    sock.close()


def test_meson_install(env):
    dest = os.path.join(env.tmp, "dest")
    r = subprocess.run(["meson", "install", "--no-rebuild", "--quiet",
                        "-C", env.build, "--destdir", dest],
                       capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, "meson install: %s %s" % (r.stdout, r.stderr))
    found = {}
    for root, _, files in os.walk(dest):
        for f in files:
            found[f] = os.path.join(root, f)
    for f in ("godwit", "godwitd", "godwitd.service", "godwit.1",
              "godwitd.8", "godwit.cfg.5"):
        check(f in found, "not installed: %s (%s)" % (f, sorted(found)))
    with open(found["godwit.1"]) as f:
        th = f.readline()
    check("@GODWIT" not in th and "godwit 0.1.0" in th, th)
    with open(found["godwitd.service"]) as f:
        unit = f.read()
    check("ExecStart=%s" % found["godwitd"][len(dest):] in unit, unit)
    check(os.path.dirname(found["godwit"]).endswith("/bin") and
          os.path.dirname(found["godwitd"]).endswith("/sbin"),
          "%s %s" % (found["godwit"], found["godwitd"]))
    # The bash completion is the one the CLI writes from its verb table.
    comp = [os.path.join(r, "godwit") for r, _, fs in os.walk(dest)
            if r.endswith("bash-completion/completions") and "godwit" in fs]
    table = subprocess.run([env.godwit, "--bash-completion"],
                           capture_output=True, text=True).stdout
    check(len(comp) == 1 and open(comp[0]).read() == table and
          "_godwit_domains" in table, "installed completion: %s" % comp)
    run_installed(env, found["godwitd"], found["godwit"])


def run_installed(env, godwitd, godwit):
    """The installed godwitd, told nothing, runs the installed godwit."""
    base = os.path.join(env.tmp, "inst")
    run_dir = os.path.join(base, "run")
    args = [godwitd, "--run-dir", run_dir, "--state-dir",
            os.path.join(base, "state"), "--log-file",
            os.path.join(base, "log"), "--no-relocation"]
    environ = {k: v for k, v in os.environ.items() if k != "GODWIT_BINARY"}
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env=environ)
    env.procs.append(p)
    cli = dict(environ, GODWIT_RUN_DIR=run_dir)
    try:
        wait_until("the installed godwitd", lambda: os.path.exists(
            os.path.join(run_dir, "godwitd.sock")), 10)
        cfg = os.path.join(base, "vm.cfg")
        with open(cfg, "w") as f:
            f.write('name = "inst"\nmemory = 32\nkernel = "%s"\n'
                    'extra = "mib=4"\n' % env.guest("dirty"))
        r = subprocess.run([godwit, "create", cfg], env=cli,
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, "create: %s" % r.stderr)
        r = subprocess.run([godwit, "list", "--json"], env=cli,
                           capture_output=True, text=True, timeout=30)
        pid = json.loads(r.stdout)[0]["pid"]
        exe = os.readlink("/proc/%d/exe" % pid)
        check(exe == godwit, "the VMM is %s, not the installed %s"
              % (exe, godwit))
        subprocess.run([godwit, "destroy", "inst"], env=cli, timeout=30,
                       capture_output=True)
    finally:
        p.terminate()
        p.wait(10)
    shutil.rmtree(os.path.join(env.tmp, "dest"), ignore_errors=True)


if __name__ == "__main__":
    main([test_unit_rates_under_5, test_sandboxed_daemons_create_and_migrate,
          test_journal_priorities_and_fields, test_meson_install])
