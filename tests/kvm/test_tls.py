#!/usr/bin/python3
"""kvm suite: migration over TLS (GnuTLS, x509 credentials made with
certtool for the test). The dirty guest arrives intact over TLS, to a
listening `migrate-receive --tls` and to godwitd's relocation server;
a plain-text source, a certificate from another CA, an expired one and a
name not allowed are each refused with one line naming what was wrong,
and the source VM runs on every time; a source left unconfirmed asks
godwitd over TLS (QUERY) and is settled by its answer."""

import os
import signal

from lib.certs import make_creds
from lib.gw import check, main
from lib.net import receiver
from test_daemon import daemon_test


def sweeping_source(env, cmdline="mib=16", memory=128):
    src = env.run("dirty", cmdline, memory=memory, name="src")
    src.expect(r"^dirty: sweep", 30)
    return src


def source_survives(src, label):
    q = src.qmp()
    st = q.execute("query-status")["status"]
    check(st == "running", "%s: source is %s" % (label, st))
    check(q.execute("query-migrate")["status"] == "failed",
          "%s: query-migrate does not say failed" % label)
    src.keeps_sweeping(3)
    q.close()


def tls_receiver(env, creds, allow=(), who="dst"):
    extra = ["--tls", "--tls-dir", creds[who]]
    for name in allow:
        extra += ["--tls-allow", name]
    return receiver(env, extra=extra)


def migrate(env, src, dest, *opts):
    return env.godwit_cmd("migrate", *opts, src.qmp_path, dest, timeout=120)


def test_tls_listen_dirty(env):
    creds = make_creds(env.tmp)
    src = sweeping_source(env, "mib=32 rate=200", memory=256)
    dst = tls_receiver(env, creds, allow=("src",))
    rc, _, err = migrate(env, src, dst.addr, "--tls", "--tls-dir",
                         creds["src"], "--verbose")
    check(rc == 0 and "downtime" in err and "round 0:" in err,
          "migrate --tls: exit %d: %s" % (rc, err))
    check(src.wait(30) == 0, "source did not end after migrating")
    dst.expect_stderr(r"TLS, certificate CN=src", 5)
    dst.keeps_sweeping()
    dst.quit()


def refused(env, creds, src, label, opts, allow=(), src_says="",
            dst_says="", dst_creds="dst"):
    """One refused attempt: one line each side, the source runs on."""
    dst = tls_receiver(env, creds, allow, dst_creds)
    rc, _, err = migrate(env, src, dst.addr, *opts)
    check(rc == 1 and src_says in err and "VM resumed" in err,
          "%s: exit %d, no '%s' in: %s" % (label, rc, src_says, err))
    check(len(err.strip().splitlines()) == 1, "%s: not one line: %s"
          % (label, err))
    check(dst.wait(30) == 1, "%s: the receiver did not fail" % label)
    check(dst_says in dst.stderr(), "%s: receiver says: %s"
          % (label, dst.stderr()))
    source_survives(src, label)


def test_tls_refusals(env):
    creds = make_creds(env.tmp)
    src = sweeping_source(env)
    refused(env, creds, src, "plain source", (),
            src_says="this destination takes TLS only",
            dst_says="the peer does not speak TLS (it sent plain text)")
    refused(env, creds, src, "wrong CA",
            ("--tls", "--tls-dir", creds["rogue"]),
            src_says="the peer refused us: Certificate is required",
            dst_says="the peer sent no certificate signed by our CA")
    refused(env, creds, src, "expired",
            ("--tls", "--tls-dir", creds["expired"]),
            src_says="the peer refused us: Certificate is bad",
            dst_says="expired certificate")
    refused(env, creds, src, "name not allowed",
            ("--tls", "--tls-dir", creds["src"]), allow=("someone-else",),
            src_says="not among those it allows",
            dst_says="'CN=src,O=godwit tests' is not among the allowed")
    refused(env, creds, src, "destination from another CA",
            ("--tls", "--tls-dir", creds["src"], "--tls-name", "rogue"),
            dst_creds="rogue", src_says="The certificate issuer is unknown",
            dst_says="the peer refused us: Certificate is bad")
    refused(env, creds, src, "destination of another name",
            ("--tls", "--tls-dir", creds["src"], "--tls-name", "elsewhere"),
            src_says="The name in the certificate does not match",
            dst_says="the peer refused us: Certificate is bad")
    src.quit()


@daemon_test
def test_tls_relocation_server(env, start):
    creds = make_creds(env.tmp)
    b = start("b", extra=("--relocation-tls", "--relocation-tls-dir",
                          creds["dst"], "--relocation-tls-allow", "src"))
    src = sweeping_source(env, "mib=32 rate=200", memory=256)
    dest = "127.0.0.1:%d" % b.reloc_port
    # Refused before anything runs on b: plain, wrong CA, expired.
    for label, opts, says in (
            ("plain", (), "this destination takes TLS only"),
            ("wrong CA", ("--tls", "--tls-dir", creds["rogue"]),
             "Certificate is required"),
            ("expired", ("--tls", "--tls-dir", creds["expired"]),
             "Certificate is bad")):
        rc, _, err = migrate(env, src, dest, *opts)
        check(rc == 1 and says in err, "%s: exit %d: %s" % (label, rc, err))
        source_survives(src, label)
    log = b.log()
    check("does not speak TLS (it sent plain text)" in log and
          "no certificate signed by our CA" in log and
          "expired certificate" in log, "b's log: " + log[-2000:])
    check(b.domains() == [], "b lists %s" % b.domains())
    rc, _, err = migrate(env, src, dest, "--tls", "--tls-dir", creds["src"])
    check(rc == 0 and "downtime" in err, "migrate: exit %d: %s" % (rc, err))
    check(src.wait(30) == 0, "source did not end after migrating")
    b.wait_dom("src", "running")
    b.wait_log(r"TLS client CN=src")
    b.sweeping("src")


@daemon_test
def test_tls_query_settles_unconfirmed(env, start):
    """The receiver dies after YOURS: the source, unconfirmed, asks godwitd
    over TLS (session 1 answers QUERY) and the RUNNING it recorded settles
    the migration."""
    creds = make_creds(env.tmp)
    b = start("b", extra=("--relocation-tls", "--relocation-tls-dir",
                          creds["dst"]),
              env_extra={"GODWIT_TEST_STALL": "after-yours:20000"})
    src = sweeping_source(env, "mib=16 rate=200")
    q = src.qmp()
    q.execute("migrate", uri="127.0.0.1:%d" % b.reloc_port, tls=True,
              **{"tls-dir": creds["src"]})
    m = b.wait_log(r"receiving a migration from \S+ \(receiver (\d+)")
    b.wait_log(r"test: stalled after-yours")
    q.close()
    os.kill(int(m.group(1)), signal.SIGKILL)
    # Settled by the answer, the source ends as migrated.
    check(src.wait(40) == 0, "source did not end: " + src.stderr())
    b.wait_log(r"asked about arrival [0-9a-f]+ over TLS")
    check("no confirmation" in src.stderr() and
          "the destination answered RUNNING" in src.stderr(),
          "source log: " + src.stderr())


if __name__ == "__main__":
    main([v for k, v in sorted(globals().items()) if k.startswith("test_")])
