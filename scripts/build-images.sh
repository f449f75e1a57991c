#!/bin/sh
# Builds CodeCourt's OCI images without a Docker engine and without pulling
# from any registry (see images/README.md):
#   1. a Debian 12 minbase root file system made once with debootstrap from
#      the machine's Debian mirror, cached in images/.cache/ (git-ignored);
#   2. buildah (overlay storage where the kernel mounts it, vfs otherwise;
#      chroot isolation; as root) turns it into a base image with the user
#      codecourt (10001);
#   3. per row of images/images.list: a dependency layer with the Debian
#      packages the row names plus those owning the shared libraries its
#      binaries link (cached as an image keyed by the package set, so the
#      judge's toolchains are installed once), then a layer with the binaries
#      from build/bin, the run-time files of the row's data column (copied
#      from the source tree to /usr/share/codecourt/<image>/, their settings'
#      environment variables pointing there), labels, user, entrypoint;
#   4. each image is committed straight to build/images/<image>.tar (OCI
#      archive whose one manifest is tagged with the version, e.g.
#      0.2.0-dev); only the cached base and package layers stay in buildah's
#      storage.
#
# usage: scripts/build-images.sh [IMAGE...]     (default: every row)
# env:   BUILD (build), CC_IMAGES_OUT ($BUILD/images), CC_IMAGES_MIRROR
#        (from /etc/apt/sources*), CC_IMAGES_REBUILD_BASE=1 redoes step 1,
#        CC_IMAGES_DRIVER (overlay or vfs; default: overlay if it mounts).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD="$root/$BUILD" ;; esac
bin="$BUILD/bin"
out=${CC_IMAGES_OUT:-$BUILD/images}
cache="$root/images/.cache"
list="$root/images/images.list"
export BUILDAH_ISOLATION=chroot
say() { echo "build-images: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap and buildah's storage need it)"
for t in debootstrap buildah; do
    command -v $t >/dev/null || die "missing $t: install the Debian packages in scripts/deps/k8s.txt"
done

# Storage driver: overlay keeps each layer as its difference from the one
# below; vfs keeps every layer as a full copy (the judge's five toolchain
# layers took 17 GB, 23 GB with the judge image, and filled the disk), so
# vfs is only the fallback
# for a file system the kernel cannot overlay (e.g. storage on overlayfs).
driver=${CC_IMAGES_DRIVER:-}
if [ -z "$driver" ]; then
    driver=vfs
    if probe=$(buildah --storage-driver overlay from scratch 2>/dev/null); then
        buildah --storage-driver overlay mount "$probe" >/dev/null 2>&1 && driver=overlay
        buildah --storage-driver overlay rm "$probe" >/dev/null 2>&1 || true
    fi
fi
export STORAGE_DRIVER=$driver
bh() { buildah --storage-driver "$driver" "$@"; }
say "storage driver $driver"

# Working containers of a build that was killed or failed (a full disk
# fails a commit) are leftovers: each holds a copy of its image's files.
# Those of this run are removed when it ends, however it ends.
bh containers --format '{{.ContainerID}} {{.ImageName}} {{.ContainerName}}' 2>/dev/null |
    awk '$2 ~ /^localhost\/(cc-|codecourt\/)/ || $3 == "working-container" { print $1 }' |
    while read -r id; do bh rm "$id" >/dev/null 2>&1 || true; done
containers=""
cleanup() { for id in $containers; do bh rm "$id" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM
# bh_from IMAGE: sets c to a new working container from IMAGE, removed at
# exit if still there.
bh_from() {
    c=$(bh from "$1") || die "buildah from $1 failed"
    containers="$containers $c"
}

version=$(head -n1 VERSION)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
mirror=${CC_IMAGES_MIRROR:-$(sed -n 's#^URIs: *\(http[^ ]*/debian\)/*$#\1#p;s#^deb \(http[^ ]*/debian\)/* bookworm .*#\1#p' \
    /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -1)}
mirror=${mirror:-http://deb.debian.org/debian}
mkdir -p "$cache/apt-lists/partial" "$cache/apt-archives/partial" "$out"

# ---- 1. the root file system, once -------------------------------------
rootfs="$cache/rootfs-minbase"
if [ "${CC_IMAGES_REBUILD_BASE:-0}" = 1 ] || [ ! -x "$rootfs/usr/bin/apt-get" ]; then
    say "debootstrap --variant=minbase bookworm from $mirror"
    rm -rf "$rootfs" "$rootfs.tmp"
    debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs.tmp" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
        die "debootstrap failed, see $cache/debootstrap.log"
    mv "$rootfs.tmp" "$rootfs"
    bh rmi -f localhost/cc-base:bookworm >/dev/null 2>&1 || true
fi

# ---- 2. the base image ---------------------------------------------------
if ! bh inspect --type image localhost/cc-base:bookworm >/dev/null 2>&1; then
    say "base image from $rootfs"
    bh_from scratch
    m=$(bh mount "$c")
    cp -a "$rootfs/." "$m/"
    # Images carry no apt state, docs or caches; apt's lists and archives are
    # bind-mounted from images/.cache while packages are installed.
    rm -rf "$m"/var/lib/apt/lists/* "$m"/var/cache/apt/* "$m"/usr/share/doc/* \
        "$m"/usr/share/man/* "$m"/usr/share/info/* "$m"/var/log/*.log
    echo "deb $mirror bookworm main" >"$m/etc/apt/sources.list"
    echo "deb $mirror bookworm-updates main" >>"$m/etc/apt/sources.list"
    echo "deb ${mirror%/debian}/debian-security bookworm-security main" >>"$m/etc/apt/sources.list"
    # dpkg leaves docs out of every package installed later; the man
    # section folders stay because update-alternatives (OpenJDK) links into
    # them.
    for i in 1 2 3 4 5 6 7 8; do mkdir -p "$m/usr/share/man/man$i"; done
    mkdir -p "$m/etc/dpkg/dpkg.cfg.d"
    printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/info/*\n' \
        >"$m/etc/dpkg/dpkg.cfg.d/01-nodoc"
    chroot "$m" groupadd -g 10001 codecourt
    chroot "$m" useradd -u 10001 -g 10001 -d /var/lib/codecourt -M -s /usr/sbin/nologin codecourt
    mkdir -p "$m/var/lib/codecourt" && chown 10001:10001 "$m/var/lib/codecourt"
    bh umount "$c" >/dev/null
    bh commit -q --rm "$c" localhost/cc-base:bookworm >/dev/null
fi

# apt lists: refreshed once per day of builds, shared by every image.
if [ -z "$(find "$cache/apt-lists" -maxdepth 1 -name '*_Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
    say "apt-get update"
    bh_from localhost/cc-base:bookworm
    bh run --volume "$cache/apt-lists:/var/lib/apt/lists" "$c" -- apt-get update -qq ||
        { bh rm "$c" >/dev/null; die "apt-get update failed"; }
    bh rm "$c" >/dev/null
fi

# Debian packages owning the shared libraries a binary links (host paths).
lib_packages() {
    ldd "$1" 2>/dev/null | awk '/=> \//{print $3} /^\t\/lib/{print $1}' | while read -r so; do
        real=$(readlink -f "$so")
        dpkg -S "$so" 2>/dev/null || dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null ||
            say "warning: no Debian package owns $so"
    done | sed 's/:.*//; s/, /\n/g' | sed 's/:.*//'
}

# judge.txt without build-only libraries, one layer at a time: the file's
# "# layer: NAME" lines cut it into groups of toolchains (lines before the
# first are the layer "sandbox"). Each layer is its own cached image on top
# of the one before, so changing a group rebuilds that layer and the ones
# after it, never the heavy toolchains before it.
judge_layers() {
    awk 'BEGIN { cur = "sandbox"; print cur } /^# layer:/ { cur = $3; print cur }' scripts/deps/judge.txt | uniq
}
judge_layer_packages() {
    awk -v want="$1" 'BEGIN { cur = "sandbox" } /^# layer:/ { cur = $3; next }
        { sub(/#.*/, ""); if (cur == want) for (i = 1; i <= NF; i++) print $i }' scripts/deps/judge.txt |
        grep -v -e '-dev$' -e '^libc6-dev$' || true
    # The -dev packages the sandbox does use: libc's archives (gcc -static),
    # SpiderMonkey's shell (js102 ships in libmozjs-102-dev), GNUstep's
    # headers (Objective-C).
    case $1 in
    sandbox) echo libc6-dev ;;
    scripting) echo libmozjs-102-dev ;;
    more) echo libgnustep-base-dev ;;
    esac
}

# Installs packages ($3) on top of image $1 as image $2 (cached by tag).
deps_layer() {
    from=$1 to=$2 pkgs=$3 log=$4
    keep="$keep $to"
    bh inspect --type image "$to" >/dev/null 2>&1 && return 0
    say "$to: installing $pkgs"
    bh_from "$from"
    # shellcheck disable=SC2086
    bh run --volume "$cache/apt-lists:/var/lib/apt/lists" \
        --volume "$cache/apt-archives:/var/cache/apt/archives" \
        --env DEBIAN_FRONTEND=noninteractive "$c" -- \
        apt-get install -y -qq --no-install-recommends $pkgs >"$log" 2>&1 ||
        { bh rm "$c" >/dev/null; die "$to: apt-get install failed, see $log"; }
    bh commit -q --rm "$c" "$to" >/dev/null
}

build_one() {
    name=$1 bins=$2 pkgs=$3 user=$4 entry=$5 data=$6
    # Packages: the row's and those behind every linked library; @judge
    # adds the toolchains of scripts/deps/judge.txt as layers on top.
    judge=no
    all=$(
        for p in $(echo "$pkgs" | tr ',' ' '); do
            case $p in
            -) ;;
            @judge) ;;
            *) echo "$p" ;;
            esac
        done
        for b in $(echo "$bins" | tr ',' ' '); do [ "$b" = - ] || lib_packages "$bin/$b"; done
    )
    case ",$pkgs," in *,@judge,*) judge=yes ;; esac
    all=$(echo "$all" | sed '/^$/d' | sort -u | tr '\n' ' ')
    key=$(printf '%s' "$all" | sha256sum | cut -c1-16)
    deps=localhost/cc-deps-$name:$key
    if [ -n "${all% }" ]; then
        deps_layer localhost/cc-base:bookworm "$deps" "$all" "$cache/$name.apt.log"
    else
        keep="$keep $deps"
        bh inspect --type image "$deps" >/dev/null 2>&1 || bh tag localhost/cc-base:bookworm "$deps"
    fi
    if [ $judge = yes ]; then
        for layer in $(judge_layers); do
            lp=$(judge_layer_packages "$layer" | sed '/^$/d' | sort -u | tr '\n' ' ')
            [ -n "${lp% }" ] || continue
            key=$(printf '%s %s' "$key" "$lp" | sha256sum | cut -c1-16)
            next=localhost/cc-deps-$name-$layer:$key
            deps_layer "$deps" "$next" "$lp" "$cache/$name-$layer.apt.log"
            deps=$next
        done
    fi
    bh_from "$deps"
    m=$(bh mount "$c")
    for b in $(echo "$bins" | tr ',' ' '); do
        [ "$b" = - ] || install -m 0755 "$bin/$b" "$m/usr/local/bin/$b"
    done
    [ -d "images/files/$name" ] && cp -a "images/files/$name/." "$m/"
    # Run-time files (migrations, templates, language tables) come from the
    # source tree, like the binaries; the compiled-in defaults point into
    # the source tree, so each setting's variable points at the copy.
    envs=""
    for d in $(echo "$data" | tr ',' ' '); do
        [ "$d" = - ] && continue
        dest=/usr/share/codecourt/$name/$(basename "${d#*=}")
        install -d -m 0755 -o 0 -g 0 "$m/usr/share/codecourt" "$m/usr/share/codecourt/$name"
        rm -rf "$m$dest"
        cp -R "${d#*=}" "$m$dest"
        chown -R 0:0 "$m$dest"
        chmod -R u=rwX,go=rX "$m$dest"
        envs="$envs --env CC_$(echo "${d%%=*}" | tr 'a-z-' 'A-Z_')=$dest"
    done
    # Package images (NATS, PostgreSQL, Redis) run as codecourt too: the
    # folders they write are volumes owned by 10001 (fsGroup).
    rm -rf "$m/tmp"/* "$m/var/tmp"/*
    bh umount "$c" >/dev/null
    if [ "$entry" = - ]; then
        first=${bins%%,*}
        ep="[\"/usr/local/bin/$first\"]"
    else
        ep="[\"$(echo "$entry" | sed 's/,/","/g')\"]"
    fi
    # shellcheck disable=SC2086
    bh config --user "$user" --entrypoint "$ep" --cmd '' --workingdir / \
        --env CC_LOG_LEVEL=info $envs \
        --label org.opencontainers.image.title="$name" \
        --label org.opencontainers.image.version="$version" \
        --label org.opencontainers.image.revision="$revision" \
        --label org.opencontainers.image.created="$created" \
        --label org.opencontainers.image.source="https://codecourt.invalid/codecourt" \
        --label org.opencontainers.image.vendor=CodeCourt \
        --label org.opencontainers.image.base.name="debian:bookworm (debootstrap minbase)" "$c"
    # Straight to the archive: a copy in the storage would only take space.
    rm -f "$out/$name.tar"
    bh commit -q --rm --disable-compression=false "$c" "oci-archive:$out/$name.tar:$version" >/dev/null
    say "$name: $out/$name.tar ($(du -h "$out/$name.tar" | cut -f1))"
}

want=" $* "
keep=""
built=0
skipped=""
while read -r name bins pkgs user entry _ data <&3; do
    case $name in '' | \#*) continue ;; esac
    [ "$want" = "  " ] || case $want in *" $name "*) ;; *) continue ;; esac
    missing=""
    for b in $(echo "$bins" | tr ',' ' '); do
        [ "$b" = - ] || [ -x "$bin/$b" ] || missing="$missing $b"
    done
    # Data paths are checked before anything is built: a typo in the list
    # must not produce an image whose actor cannot find its migrations.
    dests=""
    for d in $(echo "${data:--}" | tr ',' ' '); do
        [ "$d" = - ] && continue
        case $d in
        [a-z]*=?*) ;;
        *) die "$name: data entry '$d' is not SETTING=PATH" ;;
        esac
        [ -e "${d#*=}" ] || die "$name: data entry '$d': no ${d#*=} in the source tree"
        case " $dests " in *" $(basename "${d#*=}") "*) die "$name: two data entries named $(basename "${d#*=}")" ;; esac
        dests="$dests $(basename "${d#*=}")"
    done
    if [ -n "$missing" ]; then
        say "$name: skipped, not built:$missing"
        skipped="$skipped $name"
        continue
    fi
    start=$(date +%s)
    build_one "$name" "$bins" "$pkgs" "$user" "$entry" "${data:--}"
    say "$name: $(($(date +%s) - start)) s"
    built=$((built + 1))
done 3<"$list"
# Package layers whose package set changed are stale once every row has
# been built (not after a partial build: the others' layers are still
# current); then dangling images go too. Images of older builds kept in the
# storage as localhost/codecourt/<image>:<version> go with them.
if [ "$want" = "  " ] && [ -z "$skipped" ]; then
    bh images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null |
        grep -e '^localhost/cc-deps-' -e '^localhost/codecourt/' | while read -r img; do
        case " $keep " in *" $img "*) ;; *) bh rmi -f "$img" >/dev/null 2>&1 || true ;; esac
    done
fi
bh rmi --prune >/dev/null 2>&1 || true
say "built $built image(s) into $out${skipped:+; skipped (binary not built):$skipped}"
