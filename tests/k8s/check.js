#!/usr/bin/node
// Validates rendered Kubernetes manifests (the output of `kubectl kustomize`)
// against the Kubernetes API schemas and checks CodeCourt's deployment
// policies. Used by tests/k8s/run.sh; see tests/k8s/README.md.
//
// usage: node check.js --images images/images.list --version 0.1.0
//                      [--exceptions policy-exceptions.json]
//                      [--again NAME=FILE]  (a second rendering of NAME: its
//                      Secrets may hold data only if every value differs,
//                      i.e. the chart made it at render time)
//                      [--committed k8s/] NAME=rendered.yaml...
// Exit status 0 when every object is valid and every policy holds, 1 with
// one line per problem otherwise, 2 for a bad command line.
'use strict';

const fs = require('fs');
const path = require('path');
const yaml = require('js-yaml');

// ---- strict schema validation ------------------------------------------
//
// kubernetes-models ships ajv validators compiled from the API's OpenAPI
// schemas. They check types, enums and required fields but accept unknown
// fields, as the API server's lenient decoding does; kubectl's client-side
// validation and the server's strict field validation reject them. To get
// the strict behaviour without the raw schemas, the object is handed to the
// validator through proxies that record which properties the validator
// looks at: a compiled validator reads every property its schema declares,
// and enumerates the keys of maps (additionalProperties). A key it neither
// read nor could have enumerated is a field the schema does not know.

function schemaValidator(apiVersion, kind) {
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
    const extra = {'monitoring.coreos.com': 'prometheus-operator', 'cert-manager.io': 'cert-manager'}[group];
    const candidates = extra
        ? [`@kubernetes-models/${extra}/${group}/${version}/${kind}`]
        : [group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`];
    for (const c of candidates) {
        let file;
        try {
            file = require.resolve(c);
        } catch (e) {
            continue;
        }
        const m = /require\("([^"]*_schemas\/[^"]+)"\)/.exec(fs.readFileSync(file, 'utf8'));
        if (!m) continue;
        return require(path.resolve(path.dirname(file), m[1])).validate;
    }
    return null;
}

function strictValidate(obj) {
    const validate = schemaValidator(obj.apiVersion, obj.kind);
    if (!validate) return [`no schema for ${obj.apiVersion} ${obj.kind}`];
    const records = [];
    const wrap = (o, where) => {
        const rec = { o, where, seen: new Set(), enumerated: false };
        records.push(rec);
        const children = new Map();
        return new Proxy(o, {
            get(t, k, r) {
                const v = Reflect.get(t, k, r);
                if (typeof k !== 'string') return v;
                rec.seen.add(k);
                if (v !== null && typeof v === 'object') {
                    if (!children.has(k)) children.set(k, wrap(v, `${where}/${k}`));
                    return children.get(k);
                }
                return v;
            },
            has(t, k) {
                if (typeof k === 'string') rec.seen.add(k);
                return Reflect.has(t, k);
            },
            ownKeys(t) {
                rec.enumerated = true;
                return Reflect.ownKeys(t);
            },
        });
    };
    const problems = [];
    if (!validate(wrap(obj, ''))) {
        for (const e of validate.errors || []) {
            problems.push(`${e.instancePath || '/'}: ${e.keyword} ${JSON.stringify(e.params)}`);
        }
        return problems; // the unknown-field pass is only sound on valid input
    }
    for (const r of records) {
        if (Array.isArray(r.o) || r.enumerated) continue;
        for (const k of Object.keys(r.o)) {
            if (!r.seen.has(k)) problems.push(`${r.where}/${k}: unknown field "${k}"`);
        }
    }
    return problems;
}

// ---- helpers --------------------------------------------------------------

const id = (o) => `${o.kind}/${o.metadata && o.metadata.name}`;

function podTemplate(o) {
    if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'].includes(o.kind)) return o.spec.template;
    if (o.kind === 'Job') return o.spec.template;
    if (o.kind === 'CronJob') return o.spec.jobTemplate.spec.template;
    if (o.kind === 'Pod') return o;
    return null;
}

function matches(selector, labels) {
    if (!selector) return false;
    labels = labels || {};
    for (const [k, v] of Object.entries(selector.matchLabels || {})) if (labels[k] !== v) return false;
    for (const e of selector.matchExpressions || []) {
        const has = Object.prototype.hasOwnProperty.call(labels, e.key);
        if (e.operator === 'In' && !(has && e.values.includes(labels[e.key]))) return false;
        if (e.operator === 'NotIn' && has && e.values.includes(labels[e.key])) return false;
        if (e.operator === 'Exists' && !has) return false;
        if (e.operator === 'DoesNotExist' && has) return false;
    }
    return true;
}

const isEmptySelector = (s) =>
    !s || (Object.keys(s.matchLabels || {}).length === 0 && (s.matchExpressions || []).length === 0);

// The image list: first column of every non-comment row.
function imageList(file) {
    const names = new Set();
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
        const t = line.replace(/#.*/, '').trim();
        if (t) names.add(t.split(/\s+/)[0]);
    }
    return names;
}

// registry.example.com/codecourt/cc-user:0.1.0 -> {name: cc-user, tag: 0.1.0}
function parseImage(ref) {
    const at = ref.indexOf('@');
    let rest = at >= 0 ? ref.slice(0, at) : ref;
    let tag = null;
    const colon = rest.lastIndexOf(':');
    if (colon > rest.lastIndexOf('/')) {
        tag = rest.slice(colon + 1);
        rest = rest.slice(0, colon);
    }
    return { name: rest.split('/').pop(), repo: rest, tag };
}

// ---- policies -------------------------------------------------------------

function checkRendered(label, objs, ctx, out) {
    const say = (o, msg) => out.push(`${label}: ${o ? id(o) + ': ' : ''}${msg}`);
    const pods = [];
    const policies = objs.filter((o) => o.kind === 'NetworkPolicy');

    for (const o of objs) {
        for (const p of strictValidate(o)) say(o, `schema: ${p}`);

        if (o.kind === 'Secret' && (Object.keys(o.data || {}).length || Object.keys(o.stringData || {}).length)) {
            const again = ctx.again && ctx.again.get(o.metadata.name);
            const values = Object.assign({}, o.data, o.stringData);
            // The CA's public certificate is repeated in every server's Secret.
            const fixed = again ? Object.keys(values).filter((k) => k !== 'ca.crt' && values[k] === again[k]) : null;
            if (fixed && fixed.length) say(o, `keys ${fixed.join(', ')} are the same in two renderings: a credential committed in the chart`);
            else if (!ctx.generatedSecrets && !again) say(o, 'a Secret with data in a committed overlay (credentials must be created outside git)');
        }

        const tpl = podTemplate(o);
        if (!tpl) continue;
        const spec = tpl.spec;
        const labels = (tpl.metadata && tpl.metadata.labels) || {};
        pods.push({ o, labels, spec });

        if (o.kind === 'Deployment') {
            const st = o.spec.strategy || {};
            if (st.type !== 'RollingUpdate') say(o, 'strategy must be RollingUpdate');
            // A rolling update (helm upgrade, helm rollback) takes no serving
            // pod away before its replacement is ready: maxUnavailable 0.
            // The one exception is a single writer (maxSurge 0: the old pod
            // stops before the new one starts), which runs one replica.
            const ru = st.rollingUpdate || {};
            const zero = (v) => v === 0 || v === '0%';
            if (zero(ru.maxSurge)) {
                if ((o.spec.replicas === undefined ? 1 : o.spec.replicas) > 1) {
                    say(o, 'a single writer (rollingUpdate.maxSurge 0) must run one replica');
                }
            } else if (!zero(ru.maxUnavailable)) {
                say(o, 'rollingUpdate.maxUnavailable must be 0 (a pod stops only once its replacement is ready)');
            }
        }
        if (['Deployment', 'StatefulSet'].includes(o.kind)) {
            const pdb = objs.find((p) => p.kind === 'PodDisruptionBudget' && matches(p.spec.selector, labels));
            if (!pdb) say(o, 'no PodDisruptionBudget selects its pods');
        }

        const psc = spec.securityContext || {};
        for (const c of [...(spec.initContainers || []), ...spec.containers]) {
            const cid = `container ${c.name}`;
            const r = c.resources || {};
            for (const kind of ['requests', 'limits']) {
                for (const res of ['cpu', 'memory']) {
                    if (!r[kind] || r[kind][res] === undefined) say(o, `${cid}: resources.${kind}.${res} missing`);
                }
            }
            const isInit = (spec.initContainers || []).includes(c);
            // A `helm test` hook pod runs once to completion: probes would
            // mean nothing there.
            // Nor in a Job's or CronJob's pod (cc-backup), which also ends.
            const isTestHook = ((o.metadata.annotations || {})['helm.sh/hook'] || '').split(',').includes('test') ||
                o.kind === 'Job' || o.kind === 'CronJob';
            if (!isInit && !isTestHook) {
                if (!c.readinessProbe) say(o, `${cid}: readinessProbe missing`);
                if (!c.livenessProbe) say(o, `${cid}: livenessProbe missing`);
            }

            // Our own processes must probe the runtime's endpoints.
            const img = parseImage(c.image || '');
            if (ctx.ownImages.has(img.name) && !isTestHook) {
                const rp = c.readinessProbe && c.readinessProbe.httpGet;
                const lp = c.livenessProbe && c.livenessProbe.httpGet;
                if (!rp || rp.path !== '/readyz') say(o, `${cid}: readinessProbe must be GET /readyz`);
                if (!lp || lp.path !== '/healthz') say(o, `${cid}: livenessProbe must be GET /healthz`);
            }

            if (!ctx.images.has(img.name)) say(o, `${cid}: image ${c.image} is not built by images/images.list`);
            if (img.tag !== ctx.version) say(o, `${cid}: image ${c.image} should be tagged ${ctx.version}`);

            const csc = c.securityContext || {};
            const uid = csc.runAsUser !== undefined ? csc.runAsUser : psc.runAsUser;
            const nonRoot = csc.runAsNonRoot !== undefined ? csc.runAsNonRoot : psc.runAsNonRoot;
            const root = !(nonRoot === true || (uid !== undefined && uid !== 0));
            const key = `${o.kind}/${o.metadata.name}/${c.name}`;
            const exc = ctx.exceptions.runAsRoot[key];
            ctx.usedExceptions.add(key);
            if (root && !exc) say(o, `${cid}: runs as root and is not listed in policy-exceptions.json with a reason`);
            if (!root && exc) say(o, `${cid}: listed as a root exception but does not run as root`);
            if (csc.privileged) say(o, `${cid}: privileged containers are not allowed`);
            if (csc.allowPrivilegeEscalation !== false) say(o, `${cid}: allowPrivilegeEscalation must be false`);
            if (csc.readOnlyRootFilesystem !== true) say(o, `${cid}: readOnlyRootFilesystem must be true`);
            const drop = (csc.capabilities && csc.capabilities.drop) || [];
            if (!drop.includes('ALL')) say(o, `${cid}: capabilities must drop ALL`);
            const add = (csc.capabilities && csc.capabilities.add) || [];
            const allowed = (ctx.exceptions.capabilities[key] || {}).add || [];
            for (const cap of add) {
                if (!allowed.includes(cap)) say(o, `${cid}: capability ${cap} is not listed in policy-exceptions.json`);
            }
        }
    }

    // Every pod is selected by a NetworkPolicy of its own (not just the
    // namespace-wide default deny), and the default deny covers both ways.
    for (const p of pods) {
        const sel = policies.filter((n) => matches(n.spec.podSelector, p.labels) || isEmptySelector(n.spec.podSelector));
        const types = new Set(sel.flatMap((n) => n.spec.policyTypes || ['Ingress']));
        if (!sel.some((n) => !isEmptySelector(n.spec.podSelector))) say(p.o, 'no NetworkPolicy selects its pods');
        if (!types.has('Ingress') || !types.has('Egress')) say(p.o, 'its pods are not isolated for both Ingress and Egress');
    }

    // Only the gateway takes traffic from anywhere: an ingress rule without
    // sources may only select gateway pods.
    for (const n of policies) {
        for (const rule of n.spec.ingress || []) {
            const open = !rule.from || rule.from.length === 0 ||
                rule.from.some((f) => f.ipBlock || (f.namespaceSelector && isEmptySelector(f.namespaceSelector)));
            if (!open) continue;
            for (const p of pods) {
                if (matches(n.spec.podSelector, p.labels) || isEmptySelector(n.spec.podSelector)) {
                    if (p.labels['app.kubernetes.io/name'] !== 'cc-gateway') {
                        say(n, `opens ${id(p.o)} to traffic from outside; only the gateway may be reachable`);
                    }
                }
            }
        }
    }

    // Judges reach NATS (and DNS) only.
    for (const p of pods.filter((q) => q.labels['app.kubernetes.io/name'] === 'cc-judge')) {
        for (const n of policies) {
            if (!(matches(n.spec.podSelector, p.labels) || isEmptySelector(n.spec.podSelector))) continue;
            for (const rule of n.spec.egress || []) {
                const to = rule.to || [];
                const ok = to.length > 0 && to.every((t) =>
                    (t.podSelector && !t.namespaceSelector && (t.podSelector.matchLabels || {})['app.kubernetes.io/name'] === 'cc-nats') ||
                    (t.namespaceSelector && t.podSelector && matches(t.podSelector, { 'k8s-app': 'kube-dns' }) &&
                     !matches(t.podSelector, { 'k8s-app': 'something-else' })));
                if (!ok) say(n, `lets the judge pods reach ${JSON.stringify(to)}; judges may reach only NATS`);
            }
        }
    }

    // Every image a manifest names exists in the image build list (above);
    // every HPA targets something that exists; monitoring is present.
    for (const h of objs.filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
        const t = h.spec.scaleTargetRef;
        if (!objs.some((o) => o.kind === t.kind && o.metadata.name === t.name)) say(h, `scales ${t.kind}/${t.name}, which does not exist`);
    }
    const alerts = objs.filter((o) => o.kind === 'PrometheusRule')
        .flatMap((r) => r.spec.groups.flatMap((g) => g.rules.map((x) => x.alert).filter(Boolean)));
    for (const a of ctx.requiredAlerts) if (!alerts.includes(a)) say(null, `PrometheusRule alert ${a} missing`);
    if (!objs.some((o) => o.kind === 'ServiceMonitor')) say(null, 'no ServiceMonitor');
    // Where the overlay generates its Secrets, every Secret a pod reads
    // (env, envFrom, volume) and every key it names must be among them.
    if (ctx.generatedSecrets) {
        const secrets = new Map(objs.filter((o) => o.kind === 'Secret')
            .map((o) => [o.metadata.name, new Set(Object.keys(Object.assign({}, o.data, o.stringData)))]));
        for (const o of objs) {
            const tpl = podTemplate(o);
            if (!tpl) continue;
            const want = (name, key, where) => {
                if (!secrets.has(name)) say(o, `${where} reads Secret ${name}, which the overlay does not make`);
                else if (key && !secrets.get(name).has(key)) say(o, `${where} reads key ${key} of Secret ${name}, which it lacks`);
            };
            for (const c of [...(tpl.spec.containers || []), ...(tpl.spec.initContainers || [])]) {
                for (const e of c.env || []) {
                    const r = e.valueFrom && e.valueFrom.secretKeyRef;
                    if (r && !r.optional) want(r.name, r.key, `${c.name} env ${e.name}`);
                }
                for (const e of c.envFrom || []) {
                    if (e.secretRef && !e.secretRef.optional) want(e.secretRef.name, null, `${c.name} envFrom`);
                }
            }
            for (const v of tpl.spec.volumes || []) {
                if (v.secret && !v.secret.optional) want(v.secret.secretName, null, `volume ${v.name}`);
            }
        }
    }
    // A peer in another namespace (kube-dns, the ingress controller) never
    // carries CodeCourt's labels: a selector that requires one matches no
    // pod, and the policy silently blocks what it means to allow (as
    // kustomize's commonLabels does to every matchLabels of a policy).
    for (const p of policies) {
        for (const rule of [...(p.spec.ingress || []), ...(p.spec.egress || [])]) {
            for (const peer of [...(rule.from || []), ...(rule.to || [])]) {
                const ns = peer.namespaceSelector && (peer.namespaceSelector.matchLabels || {})['kubernetes.io/metadata.name'];
                const ml = (peer.podSelector && peer.podSelector.matchLabels) || {};
                if (ns && ns !== 'codecourt' && Object.keys(ml).some((k) => k.startsWith('app.kubernetes.io/part-of')))
                    say(p, `a peer in namespace ${ns} is selected by app.kubernetes.io/part-of, which its pods do not carry`);
            }
        }
    }
    const ing = objs.filter((o) => o.kind === 'Ingress');
    for (const i of ing) {
        if (!(i.spec.tls || []).length) say(i, 'Ingress without TLS');
        for (const r of i.spec.rules || []) {
            for (const pth of (r.http && r.http.paths) || []) {
                if (pth.backend.service.name !== 'cc-gateway') say(i, `routes to ${pth.backend.service.name}; only the gateway is exposed`);
            }
        }
    }
}

// Committed files: no Secret with data anywhere under k8s/ (generated files
// under git-ignored folders are skipped by the caller).
function checkCommitted(dir, out) {
    const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => {
        const p = path.join(d, e.name);
        // A Helm chart's templates are not YAML until rendered (the
        // rendering is checked instead); its values files are.
        if (e.isDirectory() && e.name === 'templates' && fs.existsSync(path.join(d, 'Chart.yaml'))) return [];
        if (e.isDirectory()) return e.name === 'secrets' ? [] : walk(p);
        return /\.ya?ml$/.test(e.name) ? [p] : [];
    });
    for (const f of walk(dir)) {
        let docs;
        try {
            docs = yaml.loadAll(fs.readFileSync(f, 'utf8'));
        } catch (e) {
            out.push(`${f}: not YAML: ${e.message.split('\n')[0]}`);
            continue;
        }
        for (const o of docs) {
            if (o && o.kind === 'Secret' && (o.data || o.stringData)) out.push(`${f}: commits a Secret with data (${o.metadata.name})`);
            if (o && o.kind === 'Kustomization' || (o && o.secretGenerator)) {
                for (const g of o.secretGenerator || []) {
                    if ((g.literals || []).length) out.push(`${f}: secretGenerator ${g.name} commits literal values`);
                }
            }
        }
    }
}

// ---- main -------------------------------------------------------------------

function main(argv) {
    const opts = { inputs: [] };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (['--images', '--version', '--exceptions', '--committed'].includes(a)) opts[a.slice(2)] = argv[++i];
        else if (a === '--again') opts.again = (opts.again || []).concat([argv[++i].split(/=(.*)/s).slice(0, 2)]);
        else if (a.includes('=')) opts.inputs.push(a.split(/=(.*)/s).slice(0, 2));
        else {
            process.stderr.write(`check.js: unknown argument ${a}\n`);
            return 2;
        }
    }
    if (!opts.images || !opts.version || opts.inputs.length === 0) {
        process.stderr.write('usage: check.js --images LIST --version V [--exceptions F] [--committed DIR] NAME=FILE...\n');
        return 2;
    }
    const images = imageList(opts.images);
    const ownImages = new Set([...images].filter((n) => !['cc-nats', 'cc-postgres', 'cc-redis'].includes(n)));
    const exceptions = Object.assign({ runAsRoot: {}, capabilities: {} },
        opts.exceptions ? JSON.parse(fs.readFileSync(opts.exceptions, 'utf8')) : {});
    for (const [k, v] of Object.entries(exceptions.runAsRoot)) {
        if (typeof v !== 'string' || v.length < 20) {
            process.stderr.write(`check.js: root exception ${k} needs a reason\n`);
            return 2;
        }
    }
    const out = [];
    const ctx = {
        images, ownImages, exceptions, version: opts.version, usedExceptions: new Set(),
        requiredAlerts: ['CodeCourtJudgeQueueLag', 'CodeCourtJudgeInternalErrors', 'CodeCourtRPCErrorRate',
            'CodeCourtGatewayErrorRate', 'CodeCourtPodRestarting', 'CodeCourtJudgeQueueStalled',
            'CodeCourtGatewayLatencyP99', 'CodeCourtOutboxLag', 'CodeCourtConsumerRedeliveries',
            'CodeCourtJudgeDeadLetters'],
    };
    let count = 0;
    for (const [name, file] of opts.inputs) {
        let objs;
        try {
            objs = yaml.loadAll(fs.readFileSync(file, 'utf8')).filter(Boolean);
        } catch (e) {
            // Only the first line: the rest would quote rendered Secrets.
            out.push(`${name}: not YAML: ${e.message.split('\n')[0]}`);
            continue;
        }
        count += objs.length;
        // Only the dev overlay generates Secrets (from git-ignored files);
        // a chart's rendering may make them at render time (--again).
        ctx.generatedSecrets = name === 'dev';
        const again = (opts.again || []).find(([n]) => n === name);
        ctx.again = again ? new Map(yaml.loadAll(fs.readFileSync(again[1], 'utf8')).filter(Boolean)
            .filter((o) => o.kind === 'Secret')
            .map((o) => [o.metadata.name, Object.assign({}, o.data, o.stringData)])) : null;
        checkRendered(name, objs, ctx, out);
    }
    for (const k of Object.keys(exceptions.runAsRoot)) {
        if (!ctx.usedExceptions.has(k)) out.push(`policy-exceptions.json: ${k} matches no container (stale exception)`);
    }
    if (opts.committed) checkCommitted(opts.committed, out);
    for (const line of out) console.log(line);
    console.log(`check.js: ${count} objects in ${opts.inputs.length} renderings, ${out.length} problem(s)`);
    return out.length ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
