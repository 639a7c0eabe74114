"""Network namespaces for the network tests and bench/net: hosts whose VMs
sit on a bridge, as the seeds' VMs do (vif = ['mac=...,bridge=br0']), and
a client on the segment the bridges share.

  client namespace: bridge "seg" (10.77.0.1/24), ports "sega", "segb"
        |                                  |
  host a: bridge "br0", uplink "upa"    host b: bridge "br0", uplink "upb"
        +-------- "miga" 10.231.0.1/24 ---- "migb" 10.231.0.2 --------+
                  (the migration link, apart from the service traffic)

A VM with vif bridge=br0 in host a's namespace gets its tap in a's br0;
the client reaches it through seg and the uplink. Where seg's forwarding
table puts the VM's MAC (sega or segb) is the path its answers take.
With hosts=1 there is only host a. Only namespace addresses are used;
remove() deletes everything (the veths and bridges go with their
namespaces)."""

import json
import os
import subprocess
import time
import uuid

GUEST_IP = "10.77.0.2"
CLIENT_IP = "10.77.0.1"
MIG_ADDR = {"a": "10.231.0.1", "b": "10.231.0.2"}


def sh(*cmd):
    subprocess.run(cmd, check=True, capture_output=True)


def skip_reason():
    if os.geteuid() != 0:
        return "network namespaces and taps need root"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun does not exist"
    for tool in ("ip", "bridge"):
        if subprocess.run(["which", tool], capture_output=True).returncode:
            return "%s (iproute2) is not installed" % tool
    return None


class Segment:
    def __init__(self, hosts=2):
        tag = uuid.uuid4().hex[:6]
        self.tag = tag
        self.hosts = ["a", "b"][:hosts]
        self.ns = {"c": "gwC-" + tag}
        self.made = []
        try:
            self._make()
        except Exception:
            self.remove()
            raise

    def _netns(self, name):
        sh("ip", "netns", "add", name)
        self.made.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")

    def _make(self):
        c = self.ns["c"]
        self._netns(c)
        sh("ip", "-n", c, "link", "add", "seg", "type", "bridge")
        sh("ip", "-n", c, "addr", "add", CLIENT_IP + "/24", "dev", "seg")
        sh("ip", "-n", c, "link", "set", "seg", "up")
        for h in self.hosts:
            ns = self.ns[h] = "gw%s-%s" % (h.upper(), self.tag)
            self._netns(ns)
            sh("ip", "-n", ns, "link", "add", "br0", "type", "bridge")
            sh("ip", "-n", ns, "link", "set", "br0", "up")
            sh("ip", "-n", c, "link", "add", "seg" + h, "type", "veth",
               "peer", "name", "up" + h, "netns", ns)
            sh("ip", "-n", c, "link", "set", "seg" + h, "master", "seg")
            sh("ip", "-n", c, "link", "set", "seg" + h, "up")
            sh("ip", "-n", ns, "link", "set", "up" + h, "master", "br0")
            sh("ip", "-n", ns, "link", "set", "up" + h, "up")
        self._wait_links()
        if len(self.hosts) == 2:
            a, b = self.ns["a"], self.ns["b"]
            sh("ip", "-n", a, "link", "add", "miga", "type", "veth",
               "peer", "name", "migb", "netns", b)
            for h, ns in (("a", a), ("b", b)):
                sh("ip", "-n", ns, "addr", "add", MIG_ADDR[h] + "/24",
                   "dev", "mig" + h)
                sh("ip", "-n", ns, "link", "set", "mig" + h, "up")

    def _wait_links(self):
        """The uplinks carry frames only once both ends have a carrier,
        which the kernel reports a while after they come up (linkwatch):
        a VM started before that has its first frames dropped."""
        want = [("c", "seg" + h) for h in self.hosts] + \
            [(h, "up" + h) for h in self.hosts]
        deadline = time.time() + 10
        while want:
            host, dev = want[0]
            out = self.run(host, ["ip", "-j", "link", "show", "dev", dev])
            if json.loads(out.stdout or "[{}]")[0].get("operstate") == "UP":
                want.pop(0)
                continue
            if time.time() > deadline:
                raise RuntimeError("link %s in %s never came up" % (dev, host))
            time.sleep(0.02)

    def prefix(self, host):
        """Command prefix that runs a program in host's namespace
        ("a", "b" or "c", the client)."""
        return ["ip", "netns", "exec", self.ns[host]]

    def run(self, host, cmd, timeout=60):
        return subprocess.run(self.prefix(host) + cmd, capture_output=True,
                              text=True, timeout=timeout)

    def fdb_port(self, mac):
        """The port of seg that its forwarding table has mac on
        ("a" or "b"), or None."""
        out = self.run("c", ["bridge", "fdb", "show", "br", "seg"]).stdout
        for line in out.splitlines():
            f = line.split()
            if f and f[0] == mac.lower() and "dev" in f:
                dev = f[f.index("dev") + 1]
                if dev.startswith("seg") and len(dev) == 4:
                    return dev[3]
        return None

    def forget(self, mac):
        """Make the segment and the client forget where mac was (its
        forwarding entries, the client's neighbours), as for a new VM."""
        for h in self.hosts:
            self.run("c", ["bridge", "fdb", "del", mac.lower(), "dev",
                           "seg" + h, "master"])
        self.run("c", ["ip", "neigh", "flush", "all"])

    def taps(self, host):
        """Tap devices in host's namespace (name -> master bridge)."""
        out = self.run(host, ["ip", "-j", "-d", "link", "show", "type",
                              "tun"]).stdout
        return {l["ifname"]: l.get("master") for l in json.loads(out or "[]")}

    def remove(self):
        for ns in reversed(self.made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.made = []
