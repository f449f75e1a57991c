#!/bin/sh
# The previous-release tests (issue 25), on real servers: the previous
# release (the last row of docs/releases.md) is built once, cached under
# the build folder (scripts/previous-release.sh), then test_rolling runs
# with it under a steady load of submissions:
#
#   rollback  the mesh starts from this build (which migrates the fresh
#             databases), then each process is replaced by the previous
#             release's: at the end the previous release runs alone on the
#             databases the current one migrated, and judges every
#             submission exactly once (a rollback that needs no
#             down-migration);
#   mixed     the mesh starts from the previous release, then each process
#             is replaced by this build's one at a time: previous and
#             current actors side by side on one mesh while submissions
#             flow (a rolling upgrade).
#
# usage: run.sh rollback|mixed BUILD_DIR TEST_ROLLING
# Exit 77 (skipped) when the release's commit is not in the repository.
set -eu
# 0.1.0 has no TLS settings (it cannot trust the stack's CA): both releases
# share a cleartext mesh here. An operator upgrading from 0.1.0 rolls onto
# this release first and turns TLS on afterwards (docs/tls.md).
export CC_TLS=0
mode=${1:?usage: run.sh rollback|mixed BUILD_DIR TEST_ROLLING}
build=${2:?} test_rolling=${3:?}
src=$(cd "$(dirname "$0")/../../.." && pwd)
t0=$(date +%s)
# A release the tree cannot roll back to (docs/releases.md, "One-way
# changes"): the rollback waits for the next release row.
no_rollback_to="0.1.0"
prev_version=$("$src/scripts/releases.py" previous | cut -d' ' -f1)
if [ "$mode" = rollback ] && [ "$prev_version" = "$no_rollback_to" ]; then
    echo "upgrade rollback: skipped: this tree seals data at rest that $prev_version cannot read (docs/releases.md, One-way changes)" >&2
    exit 77
fi
prev=$("$src/scripts/previous-release.sh" "$build")
echo "upgrade $mode: previous release ready after $(( $(date +%s) - t0 )) s" >&2
case $mode in
rollback) exec "$test_rolling" --to "$prev" ;;
mixed)
    # From 0.1.0, cc-user and cc-submission are replaced, not rolled: 0.1.0's
    # outbox relay does not know sealed payloads and would publish the rows
    # the new one seals (docs/releases.md, One-way changes).
    if [ "$prev_version" = "0.1.0" ]; then
        exec "$test_rolling" --from "$prev" --replace cc-user,cc-submission
    fi
    exec "$test_rolling" --from "$prev" ;;
*) echo "run.sh: unknown mode $mode" >&2; exit 2 ;;
esac
