#!/usr/bin/node
// compare.js A.yaml B.yaml: exit 0 when two renderings hold the same
// objects. kustomize versions hash generated Secret names differently, so
// a "-<10 chars>" suffix on a generated name is ignored everywhere.
'use strict';
const fs = require('fs');
const yaml = require('js-yaml');
const load = (f) => {
    const text = fs.readFileSync(f, 'utf8');
    const names = yaml.loadAll(text).filter(Boolean).filter((o) => o.kind === 'Secret').map((o) => o.metadata.name);
    let norm = text;
    for (const n of names) {
        const m = /^(.*)-[a-z0-9]{10}$/.exec(n);
        if (m) norm = norm.split(n).join(m[1]);
    }
    const objs = {};
    for (const o of yaml.loadAll(norm).filter(Boolean)) {
        // Newer kustomize folds long base64 values over several lines.
        if (o.kind === 'Secret') for (const k of Object.keys(o.data || {})) o.data[k] = o.data[k].replace(/\s+/g, '');
        objs[`${o.kind}/${o.metadata.name}`] = o;
    }
    return objs;
};
const canon = (v) => (Array.isArray(v) ? v.map(canon) : v && typeof v === 'object'
    ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v);
const a = load(process.argv[2]);
const b = load(process.argv[3]);
let bad = 0;
for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (!(k in a) || !(k in b)) {
        console.log(`${k}: only in ${k in a ? process.argv[2] : process.argv[3]}`);
        bad++;
    } else if (JSON.stringify(canon(a[k])) !== JSON.stringify(canon(b[k]))) {
        console.log(`${k}: differs`);
        bad++;
    }
}
process.exitCode = bad ? 1 : 0;
