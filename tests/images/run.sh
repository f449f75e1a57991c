#!/bin/sh
# tests/images: builds every image (scripts/build-images.sh) and checks each
# OCI archive: unpacked with umoci, its config must name the user, the
# entrypoint and the labels images/images.list and the build promise, and
# its program must start from the unpacked root file system (chroot, as the
# image's user) with the row's check arguments (--version).
#
# Slow (the judge image carries every toolchain), so it only runs with
# CC_IMAGES=1 and otherwise exits 77 (ctest: skipped). CC_IMAGES_NOBUILD=1
# checks the archives already in $BUILD/images without building.
set -eu
if [ "${CC_IMAGES:-0}" != 1 ]; then
    echo "images: skipped (set CC_IMAGES=1 to build and check the OCI images; needs root)"
    exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-$src/build}
out="$BUILD/images"
version=$(sed -n 's/^project(codecourt VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
head=$(git -C "$src" rev-parse HEAD)
command -v umoci >/dev/null || { echo "images: umoci missing (scripts/deps/k8s.txt)"; exit 1; }

if [ "${CC_IMAGES_NOBUILD:-0}" != 1 ]; then
    start=$(date +%s)
    BUILD="$BUILD" "$src/scripts/build-images.sh"
    echo "images: build took $(($(date +%s) - start)) s"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
checked=0
bad() { echo "FAIL $name: $*"; fail=1; }
while read -r name bins pkgs user entry check <&3; do
    case $name in '' | \#*) continue ;; esac
    first=${bins%%,*}
    if [ "$first" != - ] && [ ! -x "$BUILD/bin/$first" ]; then
        echo "skip $name: $first is not built"
        continue
    fi
    [ -f "$out/$name.tar" ] || { bad "no archive $out/$name.tar"; continue; }
    d="$tmp/$name"
    mkdir -p "$d/layout"
    tar -xf "$out/$name.tar" -C "$d/layout"
    umoci unpack --image "$d/layout:$version" "$d/bundle" >/dev/null 2>"$d/umoci.err" ||
        { bad "umoci unpack failed: $(cat "$d/umoci.err")"; continue; }

    # The image config (not the runtime bundle) holds user, entrypoint and
    # labels exactly as built.
    [ "$entry" = - ] && entry="/usr/local/bin/$first"
    /usr/bin/python3 - "$d/layout" "$version" "$user" "$entry" "$head" "$src" <<'PY' || fail=1
import json, os, subprocess, sys
layout, version, user, entry, head, src = sys.argv[1:]
blob = lambda d: json.load(open(os.path.join(layout, "blobs", *d.split(":")), "rb"))
index = json.load(open(os.path.join(layout, "index.json")))
m = [x for x in index["manifests"] if x.get("annotations", {}).get("org.opencontainers.image.ref.name") == version]
cfg = blob(blob(m[0]["digest"])["config"]["digest"])["config"]
name = os.path.basename(os.path.dirname(layout))
problems = []
if cfg.get("User") != user:
    problems.append(f"user {cfg.get('User')!r}, expected {user!r}")
if user.split(":")[0] == "0" and name != "cc-judge":
    problems.append("runs as root")
if cfg.get("Entrypoint") != entry.split(","):
    problems.append(f"entrypoint {cfg.get('Entrypoint')}, expected {entry.split(',')}")
labels = cfg.get("Labels") or {}
if labels.get("org.opencontainers.image.version") != version:
    problems.append(f"version label {labels.get('org.opencontainers.image.version')!r}, expected {version!r}")
rev = labels.get("org.opencontainers.image.revision", "")
if len(rev) != 40 or subprocess.run(["git", "-C", src, "cat-file", "-e", rev + "^{commit}"],
                                    stderr=subprocess.DEVNULL).returncode:
    problems.append(f"revision label {rev!r} is not a commit of this repository")
elif rev != head:
    print(f"note {name}: built from {rev[:12]}, HEAD is {head[:12]}")
for p in problems:
    print(f"FAIL {name}: {p}")
sys.exit(1 if problems else 0)
PY

    # The program starts from the unpacked root file system as the image's
    # user, with nothing from the host.
    prog=${entry%%,*}
    args=$(echo "$check" | tr ',' ' ')
    # shellcheck disable=SC2086
    if timeout 120 /usr/sbin/chroot --userspec="$user" "$d/bundle/rootfs" /usr/bin/env -i \
        PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp CC_JUDGE_LANGUAGES=/etc/codecourt/languages.yaml \
        "$prog" $args >"$d/run.out" 2>&1; then
        echo "ok   $name: $prog $args -> $(head -1 "$d/run.out")"
    else
        bad "$prog $args failed in the unpacked rootfs: $(head -5 "$d/run.out")"
    fi
    size=$(du -sm "$d/bundle/rootfs" | cut -f1)
    echo "     $name: archive $(du -m "$out/$name.tar" | cut -f1) MB, root file system $size MB"
    checked=$((checked + 1))
    rm -rf "$d"
done 3<"$src/images/images.list"
echo "images: checked $checked image(s)"
[ "$checked" -gt 0 ] || { echo "images: nothing to check"; exit 1; }
exit $fail
