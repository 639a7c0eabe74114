#!/usr/bin/python3
"""The installed client library (unit suite, no KVM): install into a
scratch DESTDIR, then
 - only godwit_* symbols are defined globally, in the static archive
   (nm) and the shared library (nm -D), and each is a function of the
   public headers;
 - a program that defines read_full() and log_msg() itself links
   against either and runs, each side keeping its own;
 - a C++ program that includes every installed public header builds
   with g++ -Wall -Wextra -Werror -pedantic and runs.
Usage: test_installed.py BUILD_DIR"""

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

from installed import install

HERE = os.path.dirname(os.path.abspath(__file__))


def sh(cmd, env, cwd):
    r = subprocess.run(cmd, shell=True, env=env, cwd=cwd,
                       capture_output=True, text=True)
    if r.returncode:
        sys.exit("FAIL: %s\n%s%s" % (cmd, r.stdout, r.stderr))
    return r.stdout


def defined_globals(cmd, env, cwd):
    """Names nm lists as defined and global (upper-case type)."""
    names = []
    for line in sh(cmd, env, cwd).splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isupper() and parts[1] != "A":
            names.append(parts[2].split("@")[0])
    return names


def check_symbols(env, libdir, incdir, cwd):
    headers = ""
    for h in glob.glob(os.path.join(incdir, "godwit", "*.h")):
        with open(h) as f:
            headers += f.read()
    for what, cmd in (("archive", "nm -g --defined-only %s/libgodwit-client.a"),
                      ("shared", "nm -D --defined-only %s/libgodwit-client.so")):
        names = defined_globals(cmd % libdir, env, cwd)
        if len(names) < 20:
            sys.exit("FAIL: %s exports only %r" % (what, names))
        for n in names:
            if not n.startswith("godwit_"):
                sys.exit("FAIL: %s exports %s" % (what, n))
            if not re.search(r"\b%s\(" % n, headers):
                sys.exit("FAIL: %s exports %s, not in the headers" % (what, n))
    print("ok   only godwit_* exported (%d functions)" % len(names))


def check_clash(env, cwd):
    static = ("cc -Wall -Werror -o clash-static %s/clash.c "
              "$(pkg-config --cflags godwit-client) "
              "$(pkg-config --variable=libdir godwit-client)/libgodwit-client.a "
              "$(pkg-config --libs json-c)" % HERE)
    shared = ("cc -Wall -Werror -o clash-shared %s/clash.c "
              "$(pkg-config --cflags --libs godwit-client)" % HERE)
    for cmd, prog in ((static, "clash-static"), (shared, "clash-shared")):
        sh(cmd, env, cwd)
        out = sh("./" + prog, env, cwd)
        if out != "ok 1\n":
            sys.exit("FAIL: %s printed %r" % (prog, out))
    mine = [n for n in defined_globals("nm clash-static", env, cwd)
            if n in ("read_full", "log_msg")]
    if sorted(mine) != ["log_msg", "read_full"]:
        sys.exit("FAIL: clash-static's global read_full/log_msg: %r" % mine)
    print("ok   an application's read_full and log_msg stay its own")


def check_cplusplus(env, incdir, cwd):
    headers = sorted(os.path.basename(h) for h in
                     glob.glob(os.path.join(incdir, "godwit", "*.h")))
    with open(os.path.join(cwd, "all.cpp"), "w") as f:
        for h in headers:
            f.write("#include <godwit/%s>\n" % h)
        f.write("""
#include <cstdio>
#include <cstring>

int main()
{
	struct godwit_migrate_params p;
	struct godwit_result r = GODWIT_RESULT_INIT;
	godwit_migrate_params_init(&p);
	godwit_result_release(&r);
	std::printf("%s %lld\\n",
		    godwit_migration_status_name(GODWIT_MIGRATION_COMPLETED),
		    static_cast<long long>(p.max_rounds));
	return std::strlen(godwit_run_dir()) ? 0 : 1;
}
""")
    sh("g++ -std=c++11 -Wall -Wextra -Werror -pedantic -o all all.cpp "
       "$(pkg-config --cflags --libs godwit-client)", env, cwd)
    out = sh("./all", env, cwd)
    if out != "completed 30\n":
        sys.exit("FAIL: the C++ program printed %r" % out)
    print("ok   C++ with every public header (%s)" % ", ".join(headers))


def main():
    build = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="godwit-lib-")
    try:
        env, libdir = install(build, os.path.join(tmp, "dest"))
        incdir = sh("pkg-config --variable=includedir godwit-client",
                    env, tmp).strip()
        check_symbols(env, libdir, incdir, tmp)
        check_clash(env, tmp)
        check_cplusplus(env, incdir, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
