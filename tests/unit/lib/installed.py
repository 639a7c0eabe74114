"""The client library as a user gets it: `meson install` into a scratch
DESTDIR, with the pkg-config file pointed at that tree, so programs
build with `pkg-config --cflags --libs godwit-client` exactly as
docs/client-library.md says. Used by test_installed.py and by the kvm
suite's test_client_examples.py."""

import glob
import os
import re
import subprocess


def install(build, dest):
    """Install the build's library into dest; returns (env, libdir):
    env has PKG_CONFIG_PATH and LD_LIBRARY_PATH for the installed tree."""
    subprocess.run(["meson", "install", "-C", build, "--destdir", dest,
                    "--no-rebuild", "--quiet", "--tags", "devel,runtime"],
                   check=True, stdout=subprocess.DEVNULL)
    pcs = glob.glob(os.path.join(dest, "**", "godwit-client.pc"),
                    recursive=True)
    if len(pcs) != 1:
        raise RuntimeError("installed godwit-client.pc: %r" % pcs)
    with open(pcs[0]) as f:
        text = f.read()
    prefix = re.search(r"^prefix=(.*)$", text, re.M).group(1)
    # The tree lives under dest: say so, as a relocated install would.
    text = re.sub(r"^prefix=.*$", "prefix=" + dest + prefix, text, count=1,
                  flags=re.M)
    with open(pcs[0], "w") as f:
        f.write(text)
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]))
    libdir = subprocess.run(["pkg-config", "--variable=libdir",
                             "godwit-client"], env=env, check=True,
                            capture_output=True, text=True).stdout.strip()
    env["LD_LIBRARY_PATH"] = libdir
    return env, libdir
