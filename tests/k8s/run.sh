#!/bin/sh
# tests/k8s: renders every overlay of k8s/ with kubectl 1.20's built-in
# kustomize (v2.0.3, Debian's kubernetes-client), with kubectl 1.35's
# (kustomize v5, unpacked by setup.sh) and, when another kubectl is on
# PATH, with that one too (the renderings must agree, generated Secret name
# hashes aside); then check.js validates every object against
# the Kubernetes API schemas and checks the policies.
#
# usage: run.sh [render|mutant]
#   render  (default) the overlays as committed must pass
#   mutant  a copy of k8s/ with one field misspelt must FAIL the check (a
#           test of the test); exits 0 when check.js catches it
# Works on a temporary copy of k8s/, so the dev credentials it generates
# never land in the source tree.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
mode=${1:-render}
"$here/setup.sh"
kubectl120="$here/.tools/kubectl"
version=$(head -n1 "$src/VERSION")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$src/k8s" "$tmp/k8s"
rm -rf "$tmp/k8s/overlays/dev/secrets"
"$tmp/k8s/scripts/dev-secrets.sh" "$tmp/k8s/overlays/dev" >/dev/null

if [ "$mode" = mutant ]; then
    # readinessProbe -> readinesProbe in one actor: the probe policy and the
    # schema's unknown-field check must both notice.
    sed -i '0,/readinessProbe:/s//readinesProbe:/' "$tmp/k8s/base/user.yaml"
    grep -q readinesProbe "$tmp/k8s/base/user.yaml" || { echo "mutant: nothing to misspell"; exit 1; }
fi

# The dev credentials' folder must stay out of git.
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1 &&
    ! git -C "$src" check-ignore -q k8s/overlays/dev/secrets/redis.env; then
    echo "k8s/overlays/dev/secrets/ is not git-ignored"; exit 1
fi

inputs=""
for o in dev prod; do
    if ! "$kubectl120" kustomize "$tmp/k8s/overlays/$o" >"$tmp/$o.yaml" 2>"$tmp/$o.err"; then
        echo "kubectl 1.20 kustomize k8s/overlays/$o failed:"; cat "$tmp/$o.err"; exit 1
    fi
    inputs="$inputs $o=$tmp/$o.yaml"
done

# Newer kubectls must render the same objects: kubectl 1.35 (kustomize v5)
# from setup.sh always, and the one on PATH, if any, too.
others="$here/.tools/kubectl135"
onpath=$(command -v kubectl || true)
[ -n "$onpath" ] && "$onpath" kustomize --help >/dev/null 2>&1 && others="$others $onpath"
if [ "$mode" = render ]; then
    for other in $others; do
        for o in dev prod; do
            "$other" kustomize "$tmp/k8s/overlays/$o" >"$tmp/$o.new.yaml" 2>"$tmp/$o.new.err" || {
                cat "$tmp/$o.new.err"; echo "$other kustomize k8s/overlays/$o failed"; exit 1; }
            node "$here/compare.js" "$tmp/$o.yaml" "$tmp/$o.new.yaml" || {
                echo "kubectl 1.20 and $other render k8s/overlays/$o differently"; exit 1; }
        done
        echo "renderings of kubectl 1.20 and $other ($("$other" version --client 2>/dev/null | head -1)) agree"
    done
fi

set +e
# shellcheck disable=SC2086
node "$here/check.js" --images "$src/images/images.list" --version "$version" \
    --exceptions "$here/policy-exceptions.json" --committed "$src/k8s" $inputs >"$tmp/out" 2>&1
rc=$?
set -e
if [ "$mode" = mutant ]; then
    cat "$tmp/out"
    if [ $rc = 1 ] && grep -q 'unknown field "readinesProbe"' "$tmp/out" && grep -q 'readinessProbe missing' "$tmp/out"; then
        echo "mutant: the misspelt field was caught"
        exit 0
    fi
    echo "mutant: check.js did not reject the misspelt readinessProbe (exit $rc)"
    exit 1
fi
cat "$tmp/out"
exit $rc
