#!/usr/bin/python3
"""Write the compat stream of the current format revision:
make-stream.py BUILD_DIR OUT_FILE. A 4 MiB lifecycle guest in echo mode
with the portable x86-64-v1 CPU model, saved right after it started, so
a restore must answer on the serial port. Needs /dev/kvm. Run once per
stream format revision; the files are checked in and never regenerated."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

build, out = sys.argv[1], sys.argv[2]
godwit = os.path.join(build, "godwit")
tmp = tempfile.mkdtemp()
qmp = os.path.join(tmp, "q")
vm = subprocess.Popen([godwit, "run", "--kernel",
                       os.path.join(build, "guests", "lifecycle.elf"),
                       "--cmdline", "action=echo", "--memory", "4",
                       "--cpu", "x86-64-v1", "--name", "compat",
                       "--qmp", qmp, "--serial", "none"])
time.sleep(1.5)
subprocess.run([godwit, "save", qmp, out], check=True)
vm.wait()
shutil.rmtree(tmp)
