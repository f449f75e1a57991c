#!/usr/bin/node
// compare-chart.js KUSTOMIZE.yaml HELM.yaml: exit 0 when the Helm chart's
// rendering holds the same objects as the kustomize overlay's, 1 with one
// line per difference (object and path) otherwise.
//
// Compared: every object's kind and name and its whole spec (for
// Deployments and StatefulSets that is images, ports, env names and
// values, resources, probes, security contexts, volumes and pod labels),
// ConfigMap data, the pod templates' labels and annotations, and the
// annotations of Ingresses. Not compared: Helm's own labels
// (managed-by, instance, helm.sh/chart) and checksum annotations; Secrets
// and the Namespace, which the chart never makes (credentials are created
// outside it, the namespace by `helm install --create-namespace`); and
// `helm test` hooks, which kustomize has no counterpart for (check.js
// validates them). kustomize's hash suffix of generated Secret names is
// ignored, as in compare.js. Lists of scalars compare as sets.
//
// One known difference is left out: kustomize's commonLabels adds
// app.kubernetes.io/part-of: codecourt to every matchLabels of a
// NetworkPolicy; the chart does not. Inside the namespace every pod
// carries it, so the label is dropped from NetworkPolicy selectors on
// both sides. (Peers outside CodeCourt, kube-dns and the ingress
// controller's pods, are selected with matchExpressions on both sides,
// which commonLabels leaves alone; check.js refuses a peer in another
// namespace that requires the label.)
'use strict';
const fs = require('fs');
const yaml = require('js-yaml');

// hashed: kustomize's rendering, whose generated Secrets carry a hash
// suffix (the chart's Secrets, which it may make itself, carry none: a
// name like cc-pg-submission must stay whole).
function load(file, hashed) {
    const text = fs.readFileSync(file, 'utf8');
    let norm = text;
    for (const o of hashed ? yaml.loadAll(text).filter(Boolean) : []) {
        const m = o.kind === 'Secret' && /^(.*)-[a-z0-9]{10}$/.exec(o.metadata.name);
        if (m) norm = norm.split(o.metadata.name).join(m[1]);
    }
    const objs = new Map();
    for (const o of yaml.loadAll(norm).filter(Boolean)) {
        if (o.kind === 'Secret' || o.kind === 'Namespace') continue;
        if ((o.metadata.annotations || {})['helm.sh/hook']) continue;
        objs.set(`${o.kind}/${o.metadata.name}`, project(o));
    }
    return objs;
}

const helmLabels = ['app.kubernetes.io/managed-by', 'app.kubernetes.io/instance', 'helm.sh/chart'];
const strip = (m, drop) => Object.fromEntries(Object.entries(m || {}).filter(([k]) => !drop(k)));

function dropPartOf(v) {
    if (Array.isArray(v)) return v.forEach(dropPartOf);
    if (!v || typeof v !== 'object') return;
    if (v.matchLabels) {
        delete v.matchLabels['app.kubernetes.io/part-of'];
        if (!Object.keys(v.matchLabels).length && !(v.matchExpressions || []).length) delete v.matchLabels;
    }
    Object.values(v).forEach(dropPartOf);
}

function project(o) {
    if (o.kind === 'NetworkPolicy') dropPartOf(o.spec);
    const p = { spec: o.spec, data: o.data };
    if (o.kind === 'Ingress') p.annotations = o.metadata.annotations || {};
    if (['ServiceMonitor', 'PrometheusRule'].includes(o.kind)) {
        // Prometheus selects these by label; Helm's own labels aside.
        p.labels = strip(o.metadata.labels, (k) => helmLabels.includes(k) || k === 'app.kubernetes.io/name');
    }
    const tpl = o.spec && o.spec.template && o.spec.template.metadata;
    if (tpl && tpl.annotations) {
        tpl.annotations = strip(tpl.annotations, (k) => k.startsWith('checksum/'));
        if (!Object.keys(tpl.annotations).length) delete tpl.annotations;
    }
    return p;
}

// Key order never matters; the order of a list of scalars (policyTypes,
// hosts, selector values) does not either.
const canon = (v) => {
    if (Array.isArray(v)) {
        const items = v.map(canon);
        return items.every((x) => x === null || typeof x !== 'object') ? [...items].sort() : items;
    }
    if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])]));
    return v;
};

function diff(a, b, where, out) {
    if (JSON.stringify(a) === JSON.stringify(b)) return;
    if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
        const keys = Array.isArray(a) ? [...Array(Math.max(a.length, b.length)).keys()]
            : [...new Set([...Object.keys(a), ...Object.keys(b)])];
        for (const k of keys) {
            // Name containers and env entries by name rather than index.
            const label = Array.isArray(a) && a[k] && a[k].name ? `${k}(${a[k].name})` : k;
            diff(a[k], b[k], `${where}/${label}`, out);
        }
        return;
    }
    out.push(`${where}: kustomize ${JSON.stringify(a)}, chart ${JSON.stringify(b)}`);
}

const [kFile, hFile] = process.argv.slice(2);
if (!kFile || !hFile) {
    process.stderr.write('usage: compare-chart.js KUSTOMIZE.yaml HELM.yaml\n');
    process.exit(2);
}
const k = load(kFile, true);
const h = load(hFile, false);
const out = [];
for (const key of new Set([...k.keys(), ...h.keys()])) {
    if (!k.has(key)) out.push(`${key}: only in the chart`);
    else if (!h.has(key)) out.push(`${key}: only in kustomize`);
    else diff(canon(k.get(key)), canon(h.get(key)), key, out);
}
for (const line of out) console.log(line);
console.log(`compare-chart.js: ${k.size} objects from kustomize, ${h.size} from the chart, ${out.length} difference(s)`);
process.exitCode = out.length ? 1 : 0;
