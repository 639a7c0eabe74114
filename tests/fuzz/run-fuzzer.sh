#!/bin/sh
# Short libFuzzer run: FUZZER SEED_CORPUS SECONDS. New inputs go to a
# temporary directory so the checked-in seed corpus stays as it is.
set -eu
fuzzer=$1 seeds=$2 secs=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# libFuzzer exits 77 on some findings, which meson would call a skip:
# -error_exitcode=1 makes every finding a failure.
exec_rc=0
"$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -error_exitcode=1 \
	-print_final_stats=1 "$work" "$seeds" || exec_rc=$?
exit $exec_rc
