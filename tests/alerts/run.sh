#!/bin/sh
# The PrometheusRule's alerts under promtool (Debian's prometheus package):
# the chart's rule groups (k8s/helm/codecourt/files/prometheus-rules.yaml)
# must equal the kustomize copy (k8s/base/monitoring.yaml), pass
# `promtool check rules`, and behave as rules.test.yaml says: each alert
# fires on the series that should raise it, and stays quiet on the
# healthy ones next to it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
promtool=$(command -v promtool || true)
if [ -z "$promtool" ]; then
    echo "promtool missing: install the Debian package 'prometheus' (scripts/deps/k8s.txt)" >&2
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chart="$root/k8s/helm/codecourt/files/prometheus-rules.yaml"
# The chart's file is the list of groups, comments first.
{ echo "groups:"; sed -e '/^#/d' -e 's/^\(.\)/  \1/' "$chart"; } >"$work/rules.yaml"
# The kustomize copy: the same groups under spec, four spaces deeper.
sed -n '/^  groups:$/,$p' "$root/k8s/base/monitoring.yaml" | sed -e '1d' -e 's/^    //' >"$work/kustomize.yaml"
sed -e '/^#/d' "$chart" >"$work/chart.yaml"
if ! diff -u "$work/chart.yaml" "$work/kustomize.yaml"; then
    echo "k8s/base/monitoring.yaml and the chart's prometheus-rules.yaml differ" >&2
    exit 1
fi
"$promtool" check rules "$work/rules.yaml"
cp "$here/rules.test.yaml" "$work/"
cd "$work"
"$promtool" test rules rules.test.yaml
