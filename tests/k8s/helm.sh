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
#   upgrade  what `helm upgrade` and `helm rollback` apply: the chart
#            rendered as an upgrade (--is-upgrade) with the images of another
#            release differs from the install only in the images' tags, and
#            passes check.js (rolling updates with maxUnavailable 0,
#            readiness on /readyz) for that release
#   hook CC_JUDGE
#            the `helm test` pod's script, as rendered, run against a real
#            cc-judge serve (with a nats-server on loopback): it passes
#            while /readyz answers 200, fails on 503 (NATS gone) and when
#            nothing listens
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
mode=${1:?usage: helm.sh lint|render|schema|mutant|hook CC_JUDGE}
"$here/setup.sh"
helm="$here/.tools/helm"
kubectl120="$here/.tools/kubectl"
version=$(head -n1 "$src/VERSION")

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
    printf 'services:\n  cc-example:\n    image: cc-example\n' >"$tmp/partial.yaml"
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
hook)
    judge=${2:?usage: helm.sh hook CC_JUDGE}
    command -v nats-server >/dev/null || { echo "hook: nats-server is missing (scripts/deps/base.txt)"; exit 1; }
    "$helm" template codecourt "$chart" -n codecourt -s templates/tests/readyz.yaml >"$tmp/tests.yaml"
    # The script of the judge's test pod, aimed at the local judge.
    set -- $(node -e '
        const s = require("net").createServer(); const t = require("net").createServer();
        s.listen(0, "127.0.0.1", () => t.listen(0, "127.0.0.1", () => {
            console.log(s.address().port, t.address().port); s.close(); t.close(); }));')
    nport=$1 mport=$2
    NODE_PATH="$here/node_modules" node -e '
        const fs = require("fs"), yaml = require("js-yaml");
        const pod = yaml.loadAll(fs.readFileSync(process.argv[1], "utf8"))
            .find((o) => o && o.kind === "Pod" && o.metadata.name === "cc-judge-test-readyz");
        if (!pod) { console.log("hook: no test pod for cc-judge"); process.exit(1); }
        const c = pod.spec.containers[0].command;
        fs.writeFileSync(process.argv[2], c[c.length - 1].split("/dev/tcp/cc-judge/9100").join(`/dev/tcp/127.0.0.1/${process.argv[3]}`));
    ' "$tmp/tests.yaml" "$tmp/hook.sh" "$mport"
    grep -q "/dev/tcp/127.0.0.1/$mport" "$tmp/hook.sh" || { echo "hook: the test pod does not call cc-judge:9100"; exit 1; }
    run_hook() { timeout 20 bash "$tmp/hook.sh" >"$tmp/hook.out" 2>&1; }
    nats-server -a 127.0.0.1 -p "$nport" -js -sd "$tmp/js" >"$tmp/nats.log" 2>&1 &
    npid=$!
    # cc-judge gives up when NATS is not there at its start: wait for it.
    i=0
    until bash -c "exec 3<>/dev/tcp/127.0.0.1/$nport" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 150 ] || { cat "$tmp/nats.log"; echo "hook: nats-server did not start"; exit 1; }
        sleep 0.2
    done
    CC_JUDGE_CACHE="$tmp/cache" "$judge" serve --nats-url "nats://127.0.0.1:$nport" --metrics-port "$mport" \
        --concurrency 1 >"$tmp/judge.log" 2>&1 &
    jpid=$!
    trap 'kill $npid $jpid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
    bad=0
    i=0
    until run_hook; do
        i=$((i + 1))
        [ $i -lt 150 ] || { cat "$tmp/hook.out" "$tmp/judge.log"; echo "hook: failed against a ready cc-judge"; exit 1; }
        sleep 0.2
    done
    echo "hook: passes against a ready judge: $(cat "$tmp/hook.out")"
    kill $npid 2>/dev/null || true; wait $npid 2>/dev/null || true
    i=0
    while run_hook; do
        i=$((i + 1))
        [ $i -lt 50 ] || { echo "hook: still passes with NATS gone"; bad=1; break; }
        sleep 0.2
    done
    grep -q ' 503 ' "$tmp/hook.out" && echo "hook: fails against a judge without NATS: $(head -1 "$tmp/hook.out")" || {
        cat "$tmp/hook.out"; echo "hook: did not fail on 503"; bad=1; }
    kill $jpid 2>/dev/null || true; wait $jpid 2>/dev/null || true
    if run_hook; then echo "hook: passes with nothing listening"; bad=1; else echo "hook: fails with nothing listening"; fi
    exit $bad
    ;;
upgrade)
    # The previous release's version (docs/releases.md): what a rollback
    # to it applies is this chart with its images' tag.
    prev=$("$src/scripts/releases.py" previous | cut -d' ' -f1)
    for o in dev prod; do
        "$helm" template codecourt "$chart" -n codecourt -f "$chart/values-$o.yaml" >"$tmp/install.yaml" &&
        "$helm" template codecourt "$chart" -n codecourt -f "$chart/values-$o.yaml" --is-upgrade \
            --set image.tag="$prev" >"$tmp/upgrade.yaml" || { echo "upgrade: helm template failed"; exit 1; }
        own='image: ([^ ]*/)?codecourt/cc-[a-z-]+'
        n=$(grep -cE "$own:$prev\$" "$tmp/upgrade.yaml" || true)
        [ "$n" -gt 0 ] && ! grep -qE "$own:$version\$" "$tmp/upgrade.yaml" || {
            echo "upgrade: --set image.tag=$prev did not retag every image"; exit 1; }
        # The Secrets the chart generates (tls.generate, devCredentials)
        # hold new random values at each `helm template`; a real upgrade
        # reads them back with lookup, so their values are left out here.
        generated='s/^(  [A-Za-z0-9_.-]+: )[A-Za-z0-9+\/=]{32,}$/\1<generated>/'
        sed -E "s|($own):$version\$|\1:$prev|" "$tmp/install.yaml" | sed -E "$generated" >"$tmp/expect.yaml"
        sed -E "$generated" "$tmp/upgrade.yaml" >"$tmp/upgrade-masked.yaml"
        diff -u "$tmp/expect.yaml" "$tmp/upgrade-masked.yaml" || {
            echo "upgrade: the upgrade changes more than the images' tags"; exit 1; }
        node "$here/check.js" --images "$src/images/images.list" --version "$prev" \
            --exceptions "$here/policy-exceptions.json" --again "upgrade-$o=$tmp/install.yaml" \
            "upgrade-$o=$tmp/upgrade.yaml" >"$tmp/out" 2>&1 || {
            cat "$tmp/out"; echo "upgrade: the $o upgrade to $prev fails the checks"; exit 1; }
        echo "upgrade ($o): $n images to $prev, nothing else changed; rolling updates and /readyz checked"
    done
    exit 0
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
    # And a rolling update that may take a serving pod away (check.js).
    sed -i '0,/      maxUnavailable: 0/s//      maxUnavailable: 1/' "$chart/templates/services.yaml"
    grep -q 640Mi "$chart/values.yaml" && grep -q readinesProbe "$chart/templates/services.yaml" &&
        ! grep -q "      maxUnavailable: 0" "$chart/templates/services.yaml" || {
        echo "mutant: nothing to change"; exit 1; }
fi

rm -rf "$tmp/k8s/overlays/dev/secrets"
"$tmp/k8s/scripts/dev-secrets.sh" "$tmp/k8s/overlays/dev" >/dev/null
inputs=""
again=""
rc=0
for o in dev prod; do
    "$kubectl120" kustomize "$tmp/k8s/overlays/$o" >"$tmp/k-$o.yaml" 2>"$tmp/err" || {
        cat "$tmp/err"; echo "kubectl 1.20 kustomize k8s/overlays/$o failed"; exit 1; }
    "$helm" template codecourt "$chart" -n codecourt -f "$chart/values-$o.yaml" >"$tmp/h-$o.yaml" 2>"$tmp/err" || {
        cat "$tmp/err"; echo "helm template with values-$o.yaml failed"; exit 1; }
    # Rendered twice: a Secret the chart makes (values-dev's generated
    # credentials and certificates) must differ between the two, or it was
    # written into the chart.
    "$helm" template codecourt "$chart" -n codecourt -f "$chart/values-$o.yaml" >"$tmp/h2-$o.yaml" 2>"$tmp/err"
    again="$again --again helm-$o=$tmp/h2-$o.yaml"
    inputs="$inputs helm-$o=$tmp/h-$o.yaml"
    echo "== the chart with values-$o.yaml against k8s/overlays/$o"
    node "$here/compare-chart.js" "$tmp/k-$o.yaml" "$tmp/h-$o.yaml" >"$tmp/cmp-$o" 2>&1 || rc=1
    cat "$tmp/cmp-$o"
done
echo "== check.js on the chart's renderings"
# shellcheck disable=SC2086
node "$here/check.js" --images "$src/images/images.list" --version "$version" \
    --exceptions "$here/policy-exceptions.json" $again $inputs >"$tmp/out" 2>&1 || rc=1
cat "$tmp/out"
if [ "$mode" = mutant ]; then
    if [ $rc = 1 ] && grep -q 'memory' "$tmp/cmp-dev" && grep -q 'unknown field "readinesProbe"' "$tmp/out" &&
        grep -q 'readinessProbe missing' "$tmp/out" && grep -q 'maxUnavailable must be 0' "$tmp/out"; then
        echo "mutant: the changed limit, the misspelt probe and maxUnavailable 1 were caught"
        exit 0
    fi
    echo "mutant: the broken chart was not rejected (exit $rc)"
    exit 1
fi
exit $rc
