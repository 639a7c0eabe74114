"""An sshd of the test's own on a free loopback port: host key, user key,
authorized_keys and known_hosts made in a temporary directory, so `godwit
migrate -s` runs real ssh to a real sshd without touching the machine's
ssh setup (only /run/sshd, sshd's privilege separation directory, is
made if missing, and removed again). Standalone (no test library): the
benches load it too."""

import os
import socket
import subprocess
import time

PRIVSEP = "/run/sshd"


class SshdError(Exception):
    pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Sshd:
    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "ssh")
        os.makedirs(self.dir)
        self.port = free_port()
        self.made_privsep = False
        d = self.dir
        for key in ("hostkey", "userkey"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "",
                            "-f", os.path.join(d, key)], check=True)
        with open(os.path.join(d, "userkey.pub")) as f, \
                open(os.path.join(d, "authorized_keys"), "w") as out:
            out.write(f.read())
        with open(os.path.join(d, "hostkey.pub")) as f:
            host_pub = f.read().strip()
        with open(os.path.join(d, "known_hosts"), "w") as out:
            out.write("[127.0.0.1]:%d %s\n" % (self.port, host_pub))
        cfg = os.path.join(d, "sshd_config")
        with open(cfg, "w") as out:
            out.write("\n".join([
                "Port %d" % self.port, "ListenAddress 127.0.0.1",
                "HostKey " + os.path.join(d, "hostkey"),
                "AuthorizedKeysFile " + os.path.join(d, "authorized_keys"),
                "PidFile none", "UsePAM no", "StrictModes no",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no", "LogLevel ERROR", ""]))
        if not os.path.isdir(PRIVSEP):
            os.makedirs(PRIVSEP, mode=0o755)
            self.made_privsep = True
        self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f",
                                      cfg], stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while subprocess.run(self.command().split() + [
                "root@127.0.0.1", "true"], stdin=subprocess.DEVNULL,
                capture_output=True).returncode:
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise SshdError("sshd did not start: %s"
                                  % self.proc.stderr.read().decode())
            time.sleep(0.1)

    def command(self, port=None):
        """ssh's command line for godwit migrate -s."""
        d = self.dir
        return ("ssh -F none -i %s -p %d -o UserKnownHostsFile=%s "
                "-o StrictHostKeyChecking=yes -o BatchMode=yes "
                "-o ConnectTimeout=5"
                % (os.path.join(d, "userkey"), port or self.port,
                   os.path.join(d, "known_hosts")))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.made_privsep:
            try:
                os.rmdir(PRIVSEP)
            except OSError:
                pass
