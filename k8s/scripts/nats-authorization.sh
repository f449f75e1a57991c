#!/bin/sh
# The users and permissions block of k8s/base/nats.yaml is generated from
# the mesh's table (runtime/src/mesh.c) by `cc-local
# --print-nats-authorization`, the same table `make run` and the tests
# configure their nats-server from. This script checks that the committed
# block, and the Helm chart's copy (k8s/helm/codecourt/files/
# nats-authorization.conf), are that rendering, or (--update) rewrites them.
#
# usage: nats-authorization.sh [--update] CC_LOCAL [NATS_YAML]
#   CC_LOCAL   the built cc-local (build/bin/cc-local)
#   NATS_YAML  default: k8s/base/nats.yaml next to this script
set -eu
update=0
[ "${1:-}" = --update ] && { update=1; shift; }
cc_local=${1:?usage: nats-authorization.sh [--update] CC_LOCAL [NATS_YAML]}
yaml=${2:-$(cd "$(dirname "$0")/../base" && pwd)/nats.yaml}
begin='    # BEGIN generated: cc-local --print-nats-authorization'
end='    # END generated'
grep -qxF "$begin" "$yaml" && grep -qxF "$end" "$yaml" || {
    echo "$yaml: no generated block (lines '$begin' ... '$end')" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The ConfigMap's nats.conf is indented by four spaces.
"$cc_local" --print-nats-authorization | sed 's/^\(.\)/    \1/' >"$tmp/want"
awk -v b="$begin" -v e="$end" '$0 == e { inside = 0 } inside { print } $0 == b { inside = 1 }' \
    "$yaml" >"$tmp/have"
# The Helm chart holds the same block, unindented, in a file of its own.
chart_conf=$(cd "$(dirname "$yaml")/.." && pwd)/helm/codecourt/files/nats-authorization.conf
if [ "$update" = 1 ]; then
    if [ -d "$(dirname "$chart_conf")" ]; then
        "$cc_local" --print-nats-authorization >"$chart_conf"
        echo "nats-authorization: rewrote $chart_conf"
    fi
    awk -v b="$begin" -v e="$end" -v f="$tmp/want" '
        $0 == e { while ((getline l < f) > 0) print l; inside = 0 }
        !inside { print }
        $0 == b { inside = 1 }' "$yaml" >"$tmp/new"
    cat "$tmp/new" >"$yaml"
    echo "nats-authorization: rewrote the block in $yaml"
    exit 0
fi
if ! diff -u "$tmp/have" "$tmp/want"; then
    echo "$yaml: the NATS users differ from runtime/src/mesh.c; run"
    echo "  k8s/scripts/nats-authorization.sh --update build/bin/cc-local"
    exit 1
fi
if [ -d "$(dirname "$chart_conf")" ] &&
    ! "$cc_local" --print-nats-authorization | diff -u "$chart_conf" -; then
    echo "$chart_conf: the NATS users differ from runtime/src/mesh.c; run"
    echo "  k8s/scripts/nats-authorization.sh --update build/bin/cc-local"
    exit 1
fi
# Every manifest that connects to NATS names a user of the table and the
# Secret key that holds that user's password (a read model's reader too:
# CC_READER_NATS_USER and CC_READER_NATS_PASSWORD).
base=$(dirname "$yaml")
bad=0
for f in "$base"/*.yaml; do
    awk '/- name: CC_(READER_)?NATS_USER$/ { getline; sub(/.*value: */, ""); user = $0 }
         /- name: CC_(READER_)?NATS_PASSWORD$/ { want = 1 }
         want && /key: / { sub(/.*key: */, ""); print user, $0; want = 0 }' "$f" >"$tmp/pairs"
    while read -r user key; do
        if ! grep -qF "{ user: \"$user\", password: \$$key," "$tmp/want"; then
            echo "$f: NATS user $user with password key $key is not a user of the mesh's table"
            bad=1
        fi
    done <"$tmp/pairs"
done
[ "$bad" = 0 ] || exit 1
echo "nats-authorization: $yaml matches the mesh's table, and so do the manifests' NATS users"
