#!/usr/bin/python3
"""kvm suite: migration over several connections. A dirty guest (it
checks every page on every sweep) moves over 4 connections, and over 2
with compression, and carries on intact: no page of an older round
landed over a newer one. A connection cut in the middle of a round fails
the migration in one line naming the connection, and the source runs on
intact."""

from lib.gw import check, main
from lib.net import Proxy, receiver


def sweeping(env, cmdline="mib=48 rate=100", memory=128):
    src = env.run("dirty", cmdline, memory=memory, name="src")
    src.expect(r"^dirty: sweep", 30)
    return src


def migrate_over(env, conns, *opts):
    src = sweeping(env)
    dst = receiver(env)
    proxy = Proxy(dst.port)
    rc, _, err = env.godwit_cmd("migrate", "--connections", str(conns),
                                *opts, src.qmp_path,
                                "127.0.0.1:%d" % proxy.port, timeout=120)
    check(rc == 0, "migrate over %d connections: exit %d: %s"
          % (conns, rc, err))
    check(src.wait(30) == 0, "source did not end after migrating")
    check(proxy.later == conns - 1, "%d extra connections, want %d"
          % (proxy.later, conns - 1))
    dst.keeps_sweeping(6)
    dst.quit()
    proxy.close()
    return dst


def test_four_connections(env):
    migrate_over(env, 4)


def test_two_connections_compressed(env):
    dst = migrate_over(env, 2, "--compress", "zstd")
    check("zstd" in dst.stderr(), "no compressed batches: " + dst.stderr())


def test_connection_cut_mid_round(env):
    src = sweeping(env)
    dst = receiver(env)
    # 32 MiB/s for the four: round 0 takes seconds; cut the third
    # connection after 4 MiB of it.
    proxy = Proxy(dst.port, cut_extra=(2, 4 << 20))
    rc, _, err = env.godwit_cmd("migrate", "--connections", "4",
                                "--bandwidth", "32", src.qmp_path,
                                "127.0.0.1:%d" % proxy.port, timeout=120)
    check(rc == 1, "migrate exit %d, want 1: %s" % (rc, err))
    check(proxy.cut.is_set(), "the connection was never cut")
    check("resumed" in err, "source did not say it resumed: " + err)
    check(dst.wait(30) == 1, "destination did not fail")
    lines = [l for l in dst.stderr_lines if l and "connection 3 of 4" in l]
    check(len(lines) >= 1, "destination does not name the connection: "
          + dst.stderr())
    print("  source: %s\n  destination: %s" % (err.strip().splitlines()[-1],
                                               lines[0]))
    q = src.qmp()
    check(q.execute("query-status")["status"] == "running",
          "source is not running")
    check(q.execute("query-migrate")["status"] == "failed",
          "query-migrate does not say failed")
    q.close()
    src.keeps_sweeping(5)
    src.quit()
    proxy.close()


def test_relocation_server_refuses(env):
    """godwitd hands the VMM one connection: the VMM refuses the stream in
    one line, the source says it and runs on."""
    from test_daemon import Daemon
    d = Daemon(env, "dst")
    try:
        src = sweeping(env)
        rc, _, err = env.godwit_cmd("migrate", "--connections", "2",
                                    src.qmp_path,
                                    "127.0.0.1:%d" % d.reloc_port,
                                    timeout=60)
        check(rc == 1, "migrate exit %d, want 1: %s" % (rc, err))
        check("takes one connection here, not 2 (--connections 1)"
              in err and "resumed" in err, "source says: " + err)
        src.keeps_sweeping(3)
        src.quit()
    finally:
        d.destroy_all()
        d.stop()


if __name__ == "__main__":
    main([test_four_connections, test_two_connections_compressed,
          test_connection_cut_mid_round, test_relocation_server_refuses])
