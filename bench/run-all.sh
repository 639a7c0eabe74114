#!/bin/sh
# Run every benchmark (each bench/<name>/run.py) against the current build;
# `make bench` builds first and then calls this. Arguments are passed to
# each bench, e.g. `bench/run-all.sh --quick` for a smoke run of all of
# them. Results land in bench/results/<name>.{json,md}.
# Exit status: 0 if every bench succeeded, 1 otherwise (all are still run).
set -u
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
[ -x "$py" ] || py=python3
failed=""
for run in "$here"/*/run.py; do
	name=$(basename "$(dirname "$run")")
	echo "=== bench/$name $*"
	if ! "$py" "$run" "$@"; then
		echo "=== bench/$name FAILED" >&2
		failed="$failed $name"
	fi
done
if [ -n "$failed" ]; then
	echo "bench: failed:$failed" >&2
	exit 1
fi
case " $* " in
*" --quick "*) ;;
*) "$py" "$here/update-readme.py" ;;
esac
echo "bench: all done; results in $here/results/"
