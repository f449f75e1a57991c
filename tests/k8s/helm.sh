#!/bin/sh
# tests/k8s: checks the Helm chart k8s/helm/codecourt with real Helm (4.1.4,
# unpacked by setup.sh from the pinned npm package). See tests/k8s/README.md.
#
# usage: helm.sh MODE
#   lint     helm lint --strict with values-dev.yaml and values-prod.yaml
#   render   helm template for dev and prod: check.js (API schemas and
#            policies, as for the kustomize output), then compare-chart.js
#            against the kustomize overlay of the same name
#   schema   values a misspelt key or a wrongly typed value, each of which
#            values.schema.json must refuse (helm template fails naming it)
#   mutant   the chart with one container's memory limit changed and its
#            readinessProbe misspelt must FAIL render (a test of the test)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
mode=${1:?usage: helm.sh lint|render|schema|mutant}
"$here/setup.sh"
helm="$here/.tools/helm"
kubectl120="$here/.tools/kubectl"
version=$(sed -n 's/^project(codecourt VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Helm keeps caches and settings under $HOME: keep them in the temporary folder.
export HELM_CACHE_HOME="$tmp/helm/cache" HELM_CONFIG_HOME="$tmp/helm/config" HELM_DATA_HOME="$tmp/helm/data"
cp -r "$src/k8s" "$tmp/k8s"
chart="$tmp/k8s/helm/codecourt"

case "$mode" in
lint)
    for o in dev prod; do
        if ! "$helm" lint --strict "$chart" -n codecourt -f "$chart/values-$o.yaml" >"$tmp/lint" 2>&1; then
            cat "$tmp/lint"; echo "helm lint --strict failed with values-$o.yaml"; exit 1
        fi
        echo "helm lint --strict values-$o.yaml: ok"
    done
    # The chart's appVersion is the default tag of every image: the project's.
    grep -qx "appVersion: \"$version\"" "$chart/Chart.yaml" || {
        echo "k8s/helm/codecourt/Chart.yaml: appVersion is not the project version $version"; exit 1; }
    exit 0
    ;;
schema)
    bad=0
    # Each line: a --set that must be refused, and what the error must name.
    while read -r set want; do
        if "$helm" template codecourt "$chart" -n codecourt -f "$chart/values-dev.yaml" --set "$set" >"$tmp/out" 2>&1; then
            echo "schema: --set $set was accepted"; bad=1
        elif ! grep -q -- "$want" "$tmp/out"; then
            cat "$tmp/out"; echo "schema: --set $set failed without naming $want"; bad=1
        else
            echo "schema: --set $set refused: $(grep -m1 -- "$want" "$tmp/out" | sed 's/^ *//')"
        fi
    done <<'SETS'
services.cc-user.replica=1 additional properties 'replica'
services.cc-user.replicas=two /services/cc-user/replicas
ingress.hots=codecourt.example.com additional properties 'hots'
judge.hpa.maxReplicas=lots /judge/hpa/maxReplicas
services.cc-gateway.redis=maybe /services/cc-gateway/redis
config.logLevel=verbose /config/logLevel
nats.replicas=-1 /nats/replicas
services.cc-user.resources.limits.cpux=1 additional properties 'cpux'
SETS
    # A whole new service entry missing its required keys is refused too.
    printf 'services:\n  cc-stats:\n    image: cc-stats\n' >"$tmp/partial.yaml"
    if "$helm" template codecourt "$chart" -f "$tmp/partial.yaml" >"$tmp/out" 2>&1; then
        echo "schema: a service entry without its required keys was accepted"; bad=1
    else
        echo "schema: a service entry without its required keys refused"
    fi
    # And the documented values themselves pass.
    for o in dev prod; do
        "$helm" template codecourt "$chart" -f "$chart/values-$o.yaml" >/dev/null 2>"$tmp/err" || {
            cat "$tmp/err"; echo "schema: values-$o.yaml refused"; bad=1; }
    done
    exit $bad
    ;;
render|mutant) ;;
*) echo "helm.sh: unknown mode $mode"; exit 2 ;;
esac

if [ "$mode" = mutant ]; then
    # The gateway's memory limit (compare-chart.js must notice) and a
    # misspelt readinessProbe in the actors' template (check.js must).
    sed -i '0,/limits: {cpu: "1", memory: 512Mi}/s//limits: {cpu: "1", memory: 640Mi}/' "$chart/values.yaml"
    sed -i '0,/{{- include "codecourt.probes" . | nindent 10 }}/s//{{- include "codecourt.probes" . | replace "readinessProbe" "readinesProbe" | nindent 10 }}/' \
        "$chart/templates/services.yaml"
    grep -q 640Mi "$chart/values.yaml" && grep -q readinesProbe "$chart/templates/services.yaml" || {
        echo "mutant: nothing to change"; exit 1; }
fi

rm -rf "$tmp/k8s/overlays/dev/secrets"
"$tmp/k8s/scripts/dev-secrets.sh" "$tmp/k8s/overlays/dev" >/dev/null
inputs=""
rc=0
for o in dev prod; do
    "$kubectl120" kustomize "$tmp/k8s/overlays/$o" >"$tmp/k-$o.yaml" 2>"$tmp/err" || {
        cat "$tmp/err"; echo "kubectl 1.20 kustomize k8s/overlays/$o failed"; exit 1; }
    "$helm" template codecourt "$chart" -n codecourt -f "$chart/values-$o.yaml" >"$tmp/h-$o.yaml" 2>"$tmp/err" || {
        cat "$tmp/err"; echo "helm template with values-$o.yaml failed"; exit 1; }
    inputs="$inputs helm-$o=$tmp/h-$o.yaml"
    echo "== the chart with values-$o.yaml against k8s/overlays/$o"
    node "$here/compare-chart.js" "$tmp/k-$o.yaml" "$tmp/h-$o.yaml" >"$tmp/cmp-$o" 2>&1 || rc=1
    cat "$tmp/cmp-$o"
done
echo "== check.js on the chart's renderings"
# shellcheck disable=SC2086
node "$here/check.js" --images "$src/images/images.list" --version "$version" \
    --exceptions "$here/policy-exceptions.json" $inputs >"$tmp/out" 2>&1 || rc=1
cat "$tmp/out"
if [ "$mode" = mutant ]; then
    if [ $rc = 1 ] && grep -q 'memory' "$tmp/cmp-dev" && grep -q 'unknown field "readinesProbe"' "$tmp/out" &&
        grep -q 'readinessProbe missing' "$tmp/out"; then
        echo "mutant: the changed limit and the misspelt probe were caught"
        exit 0
    fi
    echo "mutant: the broken chart was not rejected (exit $rc)"
    exit 1
fi
exit $rc
