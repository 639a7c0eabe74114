#!/usr/bin/python3
"""kvm suite: a VM's control socket as QEMU's own tools see it. QEMU's
Python QMP library (python/qemu/qmp of QEMU 7.2, vendored unmodified in
tests/vendor/, see its README) drives a running VM: greeting and
negotiation, query-status, query-version (QEMU's "qemu" key, godwit in
"package"), stop and cont with their events, QEMU's migration parameters
and capabilities, a migration started as QEMU's tools start it (migrate
with a tcp: uri) and followed with query-migrate until completed, whose
counters move within a round and whose bandwidth limit is lifted while it
runs (migrate-set-parameters), MIGRATION and MIGRATION_PASS events with
QEMU's members, query-migrate answered after completion (the source stays
in postmigrate until quit, as QEMU's does). QEMU's qmp-shell runs
non-interactively against the same socket, and a JSON syntax error gets a
GenericError on a connection that stays open."""

import asyncio
import json
import os
import socket
import subprocess
import sys

from lib.gw import check, main
from lib.net import receiver

VENDOR = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "vendor")
sys.path.insert(0, VENDOR)

from qemu.qmp import ExecuteError, QMPClient  # noqa: E402
from qemu.qmp.legacy import QEMUMonitorProtocol  # noqa: E402


async def next_event(qmp, name, timeout=30):
    while True:
        ev = await asyncio.wait_for(qmp.events.get(), timeout)
        if ev["event"] == name:
            return ev


async def refused(qmp, cmd, args, words):
    try:
        await qmp.execute(cmd, args)
    except ExecuteError as e:
        check(words in str(e) and e.error_class == "GenericError",
              "%s: %s" % (cmd, e))
        return
    check(False, "%s %s was accepted" % (cmd, args))


async def basics(qmp, vm):
    await qmp.connect(vm.qmp_path)
    ver = qmp.greeting.QMP.version
    check(ver["qemu"] == {"major": 0, "minor": 1, "micro": 0} and
          ver["package"].startswith("godwit "), "greeting: %s" % ver)
    check(await qmp.execute("query-version") ==
          {"qemu": ver["qemu"], "package": ver["package"]}, "query-version")
    st = await qmp.execute("query-status")
    check(st["status"] == "running" and st["running"], "status %s" % st)
    await qmp.execute("stop")
    await next_event(qmp, "STOP")
    check((await qmp.execute("query-status"))["status"] == "paused",
          "paused")
    await qmp.execute("cont")
    await next_event(qmp, "RESUME")


async def parameters(qmp):
    caps = {c["capability"]: c["state"]
            for c in await qmp.execute("query-migrate-capabilities")}
    check(caps["events"] and caps["return-path"] and not caps["xbzrle"] and
          not caps["postcopy-ram"], "capabilities %s" % caps)
    await qmp.execute("migrate-set-capabilities", {"capabilities": [
        {"capability": "events", "state": True},
        {"capability": "xbzrle", "state": False}]})
    await refused(qmp, "migrate-set-capabilities",
                  {"capabilities": [{"capability": "xbzrle", "state": True}]},
                  "capability 'xbzrle' is not supported by godwit")
    await refused(qmp, "migrate-set-capabilities",
                  {"capabilities": [{"capability": "events",
                                     "state": False}]},
                  "godwit always uses 'events'")
    await refused(qmp, "migrate-set-parameters", {"multifd-channels": 4},
                  "parameter 'multifd-channels' is not supported by godwit")
    # Slow enough that query-migrate sees the first pass moving (16 MiB
    # at 2 MiB/s: 8 s, until follow_migration lifts the limit).
    await qmp.execute("migrate-set-parameters",
                      {"downtime-limit": 300, "max-bandwidth": 2 << 20,
                       "stall-timeout-ms": 20000})
    p = await qmp.execute("query-migrate-parameters")
    check(p["downtime-limit"] == 300 and p["max-bandwidth"] == 2 << 20 and
          p["stall-timeout-ms"] == 20000, "parameters %s" % p)


async def follow_migration(qmp, port):
    """migrate as QEMU's tools do; poll until completed."""
    await qmp.execute("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
    seen, moved_within = [], False
    while True:
        q = await qmp.execute("query-migrate")
        if q["status"] != "active":
            break
        seen.append(q)
        if len(seen) > 1 and not moved_within:
            a, b = seen[-2]["ram"], q["ram"]
            if (a["dirty-sync-count"] == b["dirty-sync-count"] and
                    b["transferred"] > a["transferred"] and
                    b["remaining"] < a["remaining"]):
                moved_within = True
                # A migration in progress takes a new limit: none.
                await qmp.execute("migrate-set-parameters",
                                  {"max-bandwidth": 0})
        await asyncio.sleep(0.1)
    check(q["status"] == "completed", "query-migrate: %s" % q)
    check(moved_within, "query-migrate did not move within a round: %s"
          % [s["ram"] for s in seen])
    r = q["ram"]
    check(r["transferred"] > 16 << 20 and r["normal"] > 4096 and
          r["normal-bytes"] == r["normal"] * 4096 and
          r["total"] == 128 << 20 and r["dirty-sync-count"] >= 2 and
          r["remaining"] == 0 and r["mbps"] > 0 and
          r["pages-per-second"] > 0 and r["page-size"] == 4096 and
          r["precopy-bytes"] + r["downtime-bytes"] == r["transferred"],
          "ram %s" % r)
    check(isinstance(q["downtime"], int) and 0 < q["total-time"] < 6000 and
          "setup-time" in q, "times (the limit lifted?) %s" % q)
    return q


async def events_of_migration(qmp):
    evs = qmp.events.clear()
    statuses = [e["data"]["status"] for e in evs if e["event"] == "MIGRATION"]
    passes = [e["data"]["pass"] for e in evs if e["event"] ==
              "MIGRATION_PASS"]
    check(statuses[0] == "active" and statuses[-1] == "completed",
          "MIGRATION events %s" % statuses)
    check(passes and passes[0] == 1 and passes == sorted(passes),
          "MIGRATION_PASS passes %s" % passes)


async def drive(env, vm, dst):
    qmp = QMPClient("godwit")
    await basics(qmp, vm)
    await parameters(qmp)
    await follow_migration(qmp, dst.port)
    await events_of_migration(qmp)
    # Answered after completion: the source stays until quit.
    q = await qmp.execute("query-migrate")
    check(q["status"] == "completed" and q["ram"]["transferred"] > 0,
          "after: %s" % q)
    check((await qmp.execute("query-status"))["status"] == "postmigrate",
          "postmigrate")
    await refused(qmp, "cont", None, "not running")
    await qmp.execute("quit")
    try:
        await qmp.disconnect()
    except EOFError:
        pass  # the server hung up after quit, as QEMU does


def test_qemu_python_client_drives_a_migration(env):
    dst = receiver(env)
    vm = env.run("dirty", "mib=16 rate=8 fill=1")
    vm.expect(r"^dirty: sweep 1$")
    asyncio.run(drive(env, vm, dst))
    check(vm.wait(30) == 0, "source exit: %s" % vm.stderr())
    dst.keeps_sweeping(1)
    dst.quit()


def test_qmp_shell_runs_non_interactively(env):
    vm = env.run("dirty", "mib=4")
    vm.expect(r"^dirty: ready")
    r = subprocess.run(
        [sys.executable, "-m", "qemu.qmp.qmp_shell", vm.qmp_path],
        input="query-status\nquery-version\nstop\nquery-status\ncont\n",
        capture_output=True, text=True, timeout=60,
        env=dict(os.environ, PYTHONPATH=VENDOR, HOME=env.tmp))
    out = r.stdout
    check(r.returncode == 0 and "Connected to QEMU 0.1.0" in out, out +
          r.stderr)
    lines = [json.loads(l[l.index("{"):]) for l in out.splitlines()
             if "{" in l]
    check(lines[0]["return"]["status"] == "running" and
          lines[1]["return"]["package"].startswith("godwit") and
          lines[3]["return"]["status"] == "paused" and
          lines[4] == {"return": {}}, "qmp-shell said: %s" % out)
    vm.quit()


def test_syntax_error_keeps_the_connection(env):
    vm = env.run("dirty", "mib=4")
    vm.expect(r"^dirty: ready")
    # QEMU's synchronous client (the one qmp-shell uses) for the greeting;
    # it runs its own loop on the thread's current one.
    asyncio.set_event_loop(asyncio.new_event_loop())
    legacy = QEMUMonitorProtocol(vm.qmp_path)
    legacy.connect()
    check(legacy.cmd("query-status")["return"]["status"] == "running",
          "legacy client")
    legacy.close()
    s = socket.socket(socket.AF_UNIX)
    s.connect(vm.qmp_path)
    f = s.makefile("rwb")
    json.loads(f.readline())
    for line in (b'{"execute": "qmp_capabilities"}\n',
                 b'{"execute": query-status}\n',
                 b'{"execute": "query-status", "id": 7}\n'):
        f.write(line)
        f.flush()
        msg = json.loads(f.readline())
        if line.startswith(b'{"execute": query'):
            check(msg["error"]["class"] == "GenericError" and
                  "JSON parse error" in msg["error"]["desc"], msg)
    check(msg["id"] == 7 and msg["return"]["status"] == "running", msg)
    s.close()
    vm.quit()


if __name__ == "__main__":
    main([test_qemu_python_client_drives_a_migration,
          test_qmp_shell_runs_non_interactively,
          test_syntax_error_keeps_the_connection])
