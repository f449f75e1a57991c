#!/bin/sh
# tests/images: builds every image (scripts/build-images.sh) and checks each
# OCI archive: unpacked with umoci, its config must name the user, the
# entrypoint and the labels images/images.list and the build promise, and
# its program must start from the unpacked root file system (chroot, as the
# image's user and its environment) with the row's check arguments
# (--version). The run-time files of the row's data column (migrations,
# templates, language tables) must be in the image under
# /usr/share/codecourt/<image>/, the same as in the source tree, owned by
# root and readable by the image's user, with the setting's environment
# variable pointing there; and no setting the program lists in --help may
# keep a default inside the source tree that the image does not override.
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
version=$(head -n1 "$src/VERSION")
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
while read -r name bins _ user entry check data <&3; do
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
    # It also writes the image's environment to $d/env, one VAR=value a
    # line, for the runs below.
    /usr/bin/python3 - "$d/layout" "$version" "$user" "$entry" "$head" "$src" "$d/env" <<'PY' || fail=1
import json, os, subprocess, sys
layout, version, user, entry, head, src, envfile = sys.argv[1:]
blob = lambda d: json.load(open(os.path.join(layout, "blobs", *d.split(":")), "rb"))
index = json.load(open(os.path.join(layout, "index.json")))
m = [x for x in index["manifests"] if x.get("annotations", {}).get("org.opencontainers.image.ref.name") == version]
cfg = blob(blob(m[0]["digest"])["config"]["digest"])["config"]
name = os.path.basename(os.path.dirname(layout))
problems = []
with open(envfile, "w") as f:
    for kv in cfg.get("Env") or []:
        if "\n" in kv:
            problems.append(f"environment entry {kv!r} spans lines")
        else:
            f.write(kv + "\n")
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
    # user, with the image's environment and nothing from the host.
    set -- PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp
    [ -f "$d/env" ] || : >"$d/env"
    while IFS= read -r kv; do set -- "$@" "$kv"; done <"$d/env"
    prog=${entry%%,*}
    args=$(echo "$check" | tr ',' ' ')
    # shellcheck disable=SC2086
    if timeout 120 /usr/sbin/chroot --userspec="$user" "$d/bundle/rootfs" /usr/bin/env -i "$@" \
        "$prog" $args >"$d/run.out" 2>&1; then
        echo "ok   $name: $prog $args -> $(head -1 "$d/run.out")"
    else
        bad "$prog $args failed in the unpacked rootfs: $(head -5 "$d/run.out")"
    fi

    # Run-time files. The settings table comes from the program itself
    # (--help: flag, variable, default), run like the check above with the
    # entrypoint's arguments (cc-judge serve); package images have none.
    : >"$d/help"
    if [ "$first" != - ]; then
        # shellcheck disable=SC2046
        timeout 120 /usr/sbin/chroot --userspec="$user" "$d/bundle/rootfs" /usr/bin/env -i "$@" \
            $(echo "$entry" | tr ',' ' ') --help >"$d/help" 2>&1 ||
            bad "$entry --help failed in the unpacked rootfs: $(head -5 "$d/help")"
    fi
    /usr/bin/python3 - "$d/bundle/rootfs" "$name" "${data:--}" "$src" "$d/env" "$d/help" "$d/paths" <<'PY' || fail=1
import os, re, stat, sys
rootfs, name, data, src, envfile, helpfile, pathsfile = sys.argv[1:]
env = dict(l.rstrip("\n").split("=", 1) for l in open(envfile) if "=" in l)
problems, notes, paths = [], [], []

def tree(top):
    # Relative path -> lstat of everything under top (top itself as ".").
    out = {".": os.lstat(top)}
    if os.path.isdir(top) and not os.path.islink(top):
        for d, dirs, files in os.walk(top):
            for n in dirs + files:
                p = os.path.join(d, n)
                out[os.path.relpath(p, top)] = os.lstat(p)
    return out

def same(host, inside, var):
    # The image's copy at inside (a path in the image) holds what host holds.
    img, before = rootfs + inside, len(problems)
    if not os.path.lexists(img):
        problems.append(f"{var}={inside}: not in the image")
        return
    a, b = tree(host), tree(img)
    for rel in sorted(set(a) | set(b)):
        where = inside if rel == "." else f"{inside}/{rel}"
        if rel not in b:
            problems.append(f"{var}: {where} missing (it is in {os.path.relpath(host, src)})")
            continue
        if rel not in a:
            problems.append(f"{var}: {where} is not in the source tree")
            continue
        st = b[rel]
        if stat.S_ISDIR(a[rel].st_mode) != stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode):
            problems.append(f"{var}: {where} is not the same kind of file as in the source tree")
            continue
        if (st.st_uid, st.st_gid) != (0, 0):
            problems.append(f"{var}: {where} owned by {st.st_uid}:{st.st_gid}, expected 0:0")
        want = 0o555 if stat.S_ISDIR(st.st_mode) else 0o444
        if st.st_mode & want != want or st.st_mode & 0o022:
            problems.append(f"{var}: {where} mode {stat.S_IMODE(st.st_mode):o}, expected readable by everyone, writable by root only")
        if stat.S_ISREG(st.st_mode):
            with open(os.path.join(host, rel) if rel != "." else host, "rb") as x, \
                 open(os.path.join(img, rel) if rel != "." else img, "rb") as y:
                if x.read() != y.read():
                    problems.append(f"{var}: {where} differs from the source tree")
    files = sorted(r for r in b if r != "." and stat.S_ISREG(b[r].st_mode))
    paths.append(inside)
    if len(problems) == before:
        notes.append(f"{var}={inside}" + (f" ({len(files)} file{'s' if len(files) != 1 else ''}: "
                                         f"{', '.join(files)})" if files else ""))

# The program's settings: flag, variable, default.
settings = {}
for line in open(helpfile, errors="replace"):
    m = re.match(r"\s+--(\S+)\s+(CC_\S+)\s+(\S+)", line)
    if m:
        settings[m.group(2)] = (m.group(1), m.group(3))

covered = set()
for d in ([] if data == "-" else data.split(",")):
    setting, _, path = d.partition("=")
    var = "CC_" + setting.upper().replace("-", "_")
    dest = f"/usr/share/codecourt/{name}/{os.path.basename(path.rstrip('/'))}"
    covered.add(var)
    if settings and var not in settings:
        problems.append(f"data {d}: the program has no setting {setting} ({var}) in --help")
    if env.get(var) != dest:
        problems.append(f"data {d}: the image sets {var}={env.get(var)!r}, expected {dest!r}")
        continue
    same(os.path.join(src, path), dest, var)

# A default inside the source tree does not exist in any image: the image
# must override it (the data column), or the program cannot find its files.
for var, (flag, default) in sorted(settings.items()):
    if not default.startswith(src + "/") or var in covered:
        continue
    if var not in env:
        problems.append(f"--{flag} defaults to {default} (source tree) and the image does not set {var}: "
                        f"add {flag}={os.path.relpath(default, src)} to its data column in images/images.list")
    else:
        same(default, env[var], var)

with open(pathsfile, "w") as f:
    f.write("".join(p + "\n" for p in paths))
for n in notes:
    print(f"ok   {name}: {n}")
for p in problems:
    print(f"FAIL {name}: {p}")
sys.exit(1 if problems else 0)
PY
    # ... and the image's user can read every one of them.
    if [ -s "$d/paths" ]; then
        # shellcheck disable=SC2046
        timeout 120 /usr/sbin/chroot --userspec="$user" "$d/bundle/rootfs" /usr/bin/find \
            $(cat "$d/paths") -type f -exec /bin/cat {} + >/dev/null 2>"$d/read.err" ||
            bad "user $user cannot read its run-time files: $(head -3 "$d/read.err")"
    fi
    size=$(du -sm "$d/bundle/rootfs" | cut -f1)
    echo "     $name: archive $(du -m "$out/$name.tar" | cut -f1) MB, root file system $size MB"
    checked=$((checked + 1))
    rm -rf "$d"
done 3<"$src/images/images.list"
echo "images: checked $checked image(s)"
[ "$checked" -gt 0 ] || { echo "images: nothing to check"; exit 1; }
exit $fail
