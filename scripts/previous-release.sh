#!/bin/sh
# Builds the previous release (the last row of docs/releases.md) once and
# prints the folder of its binaries. The build is cached under
# BUILD_DIR/previous-release/<commit>/ and reused while the commit is the
# same; a lock lets two tests ask at once (the second waits, then reuses).
#
# The sources are the commit's tree from `git archive` (not a registered
# `git worktree`, which would leave an entry in the shared repository
# behind a deleted build folder), kept next to the build: the binaries name
# their migrations and language table by absolute source path.
#
# usage: previous-release.sh BUILD_DIR
# Exit 77 (a skip for ctest) with the reason when the commit is not in the
# repository (a shallow clone, a tarball without .git).
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: previous-release.sh BUILD_DIR}
mkdir -p "$build"
build=$(cd "$build" && pwd)
set -- $("$src/scripts/releases.py" previous)
version=$1 commit=$2
if ! why=$("$src/scripts/releases.py" usable "$commit"); then
    echo "SKIP: previous release $version: $why" >&2
    exit 77
fi
cache="$build/previous-release/$commit"
mkdir -p "$cache"
bins="cc-user cc-problem cc-submission cc-judge cc-judge-runner cc-gateway"
exec 9>"$cache/.lock"
flock 9
if [ ! -f "$cache/built" ]; then
    t0=$(date +%s)
    echo "previous release $version ($commit): building into $cache" >&2
    rm -rf "$cache/src" "$cache/build"
    mkdir -p "$cache/src"
    git -C "$src" archive "$commit" | tar -x -C "$cache/src"
    # A released commit is built as it was; a newer compiler's new warnings
    # are not its failures.
    cmake -S "$cache/src" -B "$cache/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCC_WERROR=OFF \
        >"$cache/configure.log" 2>&1 || { cat "$cache/configure.log" >&2; exit 1; }
    # shellcheck disable=SC2086
    cmake --build "$cache/build" -j"${JOBS:-2}" --target $bins >"$cache/build.log" 2>&1 ||
        { tail -50 "$cache/build.log" >&2; exit 1; }
    for b in cc-user cc-problem cc-submission cc-gateway; do
        v=$("$cache/build/bin/$b" --version | awk '{print $NF}')
        [ "$v" = "$version" ] || { echo "$b --version says '$v', not the release's $version" >&2; exit 1; }
    done
    touch "$cache/built"
    echo "previous release $version built in $(( $(date +%s) - t0 )) s" >&2
else
    echo "previous release $version ($commit): reusing $cache" >&2
fi
echo "$cache/build/bin"
