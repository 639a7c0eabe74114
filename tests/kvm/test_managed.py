#!/usr/bin/python3
"""kvm suite: managed save (godwit(1) managedsave, start; godwitd(8)
on_host_stop). The dirty guest checks every page it wrote on every
sweep, so a restored guest that sweeps on without complaint has its
memory intact, and its sweep counter going on from where it was saved
proves it was restored, not booted again.

- managedsave ends the domain and keeps the file in godwitd's state
  directory; list shows it "saved"; create of the same config, and
  start, restore it instead of booting, and the file is then gone;
  managedsave-remove throws it away.
- with on_host_stop = "save", SIGTERM saves every running domain and
  exits; the next godwitd restores them all, a paused one paused; one
  that cannot be restored keeps its save, and list says why.
- a corrupted managed save is refused with the restore's reason, to the
  user of start and create and in list, and the file is kept."""

import os
import re

from lib.gw import check, main, wait_until
from test_daemon import daemon_test


def sweeps(d, dom):
    """The sweep numbers the dirty guest in dom prints now (fresh lines
    of a console session), checked for damage by Daemon.console."""
    lines = d.console(dom, seconds=5, until=r"^dirty: sweep")
    found = [int(m.group(1)) for m in
             (re.match(r"^dirty: sweep (\d+)$", l) for l in lines) if m]
    check(found, "%s: no sweep on its console: %s" % (dom, lines[-5:]))
    return found


def save_file(d, name):
    return os.path.join(d.state_dir, "save", name + ".save")


def managedsave(d, name):
    before = sweeps(d, name)[-1]
    _, err = d.cli("managedsave", name, timeout=120)
    check("godwit: saved %s to %s" % (name, save_file(d, name)) in err,
          "managedsave: " + err)
    check(os.path.exists(save_file(d, name)), "no managed save file")
    return before


def restored(d, name, before, state="running"):
    """name runs again from its save: not booted, memory intact."""
    d.wait_dom(name, state)
    check(not os.path.exists(save_file(d, name)),
          "the managed save outlived its restore")
    if state == "paused":
        d.cli("unpause", name)
    later = sweeps(d, name)
    check(later[0] >= before, "%s booted again: sweep %d after %d"
          % (name, later[0], before))
    d.sweeping(name)


@daemon_test
def test_managedsave_create_start_remove(env, start):
    d = start("a")
    cfg = d.config("web", "dirty", "mib=4")
    d.cli("create", cfg)
    d.wait_dom("web", "running")
    before = managedsave(d, "web")
    web = d.dom("web")
    check(web and web["state"] == "saved" and web["domid"] == -1,
          "list --json: %s" % web)
    out, _ = d.cli("list")
    check(re.search(r"^web +- +\d+ +- +------ +- +saved$", out, re.M),
          "list: " + out)
    _, err = d.cli("create", cfg)
    check("godwit: warning: web: restored from its managed save %s, not "
          "booted from this config" % save_file(d, "web") in err and
          "domain web created" in err, "create: " + err)
    restored(d, "web", before)
    check(d.dom("web")["origin"] == "restore", "not restored: %s"
          % d.dom("web"))
    before = managedsave(d, "web")
    _, err = d.cli("start", "-p", "web")
    check("domain web restored from its managed save" in err, err)
    restored(d, "web", before, state="paused")
    managedsave(d, "web")
    _, err = d.cli("managedsave-remove", "web")
    check("removed the managed save of web" in err, err)
    check(d.dom("web") is None and not os.path.exists(save_file(d, "web")),
          "managedsave-remove left it")
    _, err = d.cli("start", "web", rc=1)
    check("godwit: start web: domain web has no managed save" in err, err)
    _, err = d.cli("managedsave", "nosuch", rc=1)
    check("no domain 'nosuch'" in err, err)


@daemon_test
def test_host_stop_saves_and_restores_every_domain(env, start):
    conf = os.path.join(env.tmp, "godwitd.conf")
    with open(conf, "w") as f:
        f.write('# as documented in godwitd(8)\non_host_stop = "save"\n')
    d = start("a", extra=["--config", conf])
    for name in ("web", "db"):
        d.cli("create", d.config(name, "dirty", "mib=4"))
        d.wait_dom(name, "running")
    before = {n: sweeps(d, n)[-1] for n in ("web", "db")}
    d.cli("pause", "db")
    pids = [d.dom(n)["pid"] for n in ("web", "db")]
    d.stop()
    for pid in pids:
        check(not os.path.exists("/proc/%d" % pid) or
              open("/proc/%d/stat" % pid).read().split()[2] == "Z",
              "VMM %d still runs after the host stop" % pid)
    check(all(os.path.exists(save_file(d, n)) for n in ("web", "db")),
          "not saved: %s" % os.listdir(os.path.join(d.state_dir, "save")))
    d.start()
    restored(d, "web", before["web"])
    restored(d, "db", before["db"], state="paused")
    d.wait_log(r"domain db: restored from its managed save, removed")


@daemon_test
def test_host_stop_restore_that_fails_keeps_the_save(env, start):
    conf = os.path.join(env.tmp, "godwitd.conf")
    with open(conf, "w") as f:
        f.write('on_host_stop = "save"\n')
    d = start("a", extra=["--config", conf])
    d.cli("create", d.config("web", "dirty", "mib=4"))
    d.wait_dom("web", "running")
    d.stop()
    corrupt(save_file(d, "web"))
    d.start()
    web = wait_until("list to say why", lambda: (d.dom("web") or {}).get(
        "reason", "").startswith("restore failed: ") and d.dom("web"), 20)
    check(web["state"] == "saved" and "CRC mismatch" in web["reason"],
          "list: %s" % web)
    d.wait_log(r"domain web: its managed save is kept: .*CRC mismatch")
    check(not os.path.exists(os.path.join(d.state_dir, "save",
                                          "web.boot")),
          "the restore would be tried again")
    d.cli("managedsave-remove", "web")


def corrupt(path):
    """Flip bytes in the middle of the page data: a record's CRC fails."""
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(size // 2)
        data = f.read(64)
        f.seek(size // 2)
        f.write(bytes(b ^ 0xff for b in data))


@daemon_test
def test_corrupted_managed_save_is_kept_and_says_why(env, start):
    d = start("a")
    cfg = d.config("web", "dirty", "mib=4")
    d.cli("create", cfg)
    d.wait_dom("web", "running")
    managedsave(d, "web")
    corrupt(save_file(d, "web"))
    _, err = d.cli("start", "web", rc=1)
    want = "record PAGE_DATA (0x1) at offset "
    check(err.startswith("godwit: start web: ") and want in err and
          "CRC mismatch" in err, "start: " + err)
    check(os.path.exists(save_file(d, "web")), "the save file is gone")
    web = wait_until("list to say why", lambda: d.dom("web"), 10)
    check(web["state"] == "saved" and web["reason"].startswith(
        "restore failed: ") and want in web["reason"], "list: %s" % web)
    out, _ = d.cli("list", "web")
    check("saved: restore failed: " in out and want in out, "list: " + out)
    _, err = d.cli("create", cfg, rc=1)
    check(want in err and "CRC mismatch" in err, "create: " + err)
    check(os.path.exists(save_file(d, "web")), "the save file is gone")
    d.cli("managedsave-remove", "web")


if __name__ == "__main__":
    main([test_managedsave_create_start_remove,
          test_host_stop_saves_and_restores_every_domain,
          test_host_stop_restore_that_fails_keeps_the_save,
          test_corrupted_managed_save_is_kept_and_says_why])
