#!/bin/sh
# Whitespace is never debated: every C file is as the checked-in
# .clang-format has it. Lists the files that are not, exits 1 if any.
set -u
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null; then
	echo "SKIP: clang-format is not installed (make deps installs it)"
	exit 77
fi
bad=0
for f in $(git ls-files '*.c' '*.h' 2>/dev/null); do
	if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f (run clang-format -i $f)"
		bad=1
	fi
done
[ $bad -eq 0 ] && echo "format ok"
exit $bad
