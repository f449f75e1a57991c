#!/bin/sh
# Fails when C sources call functions CodeCourt bans (STYLE.md): unbounded
# string writers and number parsers without error checking. Use snprintf,
# memcpy with a known length, and strtol/strtoull with end and errno checks.
# Run by ctest (test lint.banned) over runtime/, localstack/, judge-pool/,
# gateway/, actors/ and tests/.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
pattern='(^|[^_a-zA-Z0-9.>])(sprintf|vsprintf|strcpy|strcat|stpcpy|gets|atoi|atol|atoll|atof|strtok|tmpnam|mktemp)[[:space:]]*\('
found=0
for d in runtime localstack judge-pool gateway actors admin cli tests; do
    [ -d "$root/$d" ] || continue
    # Comments mentioning a banned name are fine; strip // and /* */ lines.
    # Programs judged by the tests (hostile programs, submissions inside
    # test packages) play the contestant and may use anything.
    if grep -rnE --include='*.c' --include='*.h' "$pattern" "$root/$d" |
        grep -vE '/tests/hostile/progs/|/submissions/|/tests/judge/langs/' |
        grep -vE ':[0-9]+:[[:space:]]*(\*|//|/\*)' ; then
        found=1
    fi
done
if [ "$found" -ne 0 ]; then
    echo "check-banned: the calls above use banned functions (see STYLE.md)" >&2
    exit 1
fi
echo "check-banned: no banned calls"
