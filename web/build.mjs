// Builds the app into OUT (default dist/): hashed, minified ES modules and
// CSS under OUT/assets/ (code split: the editor and KaTeX are chunks of
// their own, loaded only by the pages that use them), OUT/index.html
// naming them, and .br/.gz siblings of every asset where compression pays
// (the gateway serves those to clients that accept them).
//
//   node build.mjs [--out DIR] [--modules DIR]
//
// --modules names the node_modules folder when it is not next to this file
// (the CMake build installs with `npm ci` into the build folder).
import { createHash } from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import zlib from "node:zlib";

const here = path.dirname(new URL(import.meta.url).pathname);
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? path.resolve(args[i + 1]) : dflt;
};
const out = opt("--out", path.join(here, "dist"));
const modules = opt("--modules", path.join(here, "node_modules"));
// esbuild from that node_modules, wherever this file is.
const { build } = createRequire(path.join(path.dirname(modules), "build.cjs"))("esbuild");

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(path.join(out, "assets"), { recursive: true });

const result = await build({
  entryPoints: {
    main: path.join(here, "src/main.js"),
    katex: path.join(modules, "katex/dist/katex.min.css"),
  },
  nodePaths: [modules],
  bundle: true,
  splitting: true,
  format: "esm",
  minify: true,
  target: ["chrome110", "firefox110", "safari16"],
  outdir: path.join(out, "assets"),
  entryNames: "[name]-[hash]",
  chunkNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  loader: { ".woff2": "file", ".woff": "file", ".ttf": "file", ".svg": "file" },
  metafile: true,
  legalComments: "linked",
  logLevel: "warning",
});

// The entry files' hashed names, for index.html.
const outputs = result.metafile.outputs;
const named = (entry, ext) =>
  Object.keys(outputs).find(
    (o) => outputs[o].entryPoint && outputs[o].entryPoint.endsWith(entry) && o.endsWith(ext),
  );
const rel = (o) => "/assets/" + path.basename(o);
const mainJs = named("src/main.js", ".js");
const mainCss = outputs[mainJs] && outputs[mainJs].cssBundle;
const katexCss = named("katex.min.css", ".css");
if (!mainJs || !mainCss || !katexCss) throw new Error("build: an entry point is missing");

// No inline script anywhere (the gateway's CSP forbids it): the one thing
// the code needs to know from the build, KaTeX's stylesheet, is a meta tag.
const favicon = fs.readFileSync(path.join(here, "src/favicon.svg"));
const faviconName = `favicon-${createHash("sha256").update(favicon).digest("hex").slice(0, 8)}.svg`;
fs.writeFileSync(path.join(out, "assets", faviconName), favicon);
const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="cc-katex-css" content="${rel(katexCss)}">
<title>CodeCourt</title>
<link rel="icon" href="/assets/${faviconName}" type="image/svg+xml">
<link rel="stylesheet" href="${rel(mainCss)}">
<script type="module" src="${rel(mainJs)}"></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<div id="app"><noscript>CodeCourt needs JavaScript.</noscript></div>
</body>
</html>
`;
fs.writeFileSync(path.join(out, "index.html"), html);
fs.writeFileSync(path.join(out, "robots.txt"), "User-agent: *\nAllow: /\n");

// Precompressed siblings where they pay: text assets, when at least 10%
// smaller (a woff2 font is compressed already).
let firstPage = 0;
for (const f of fs.readdirSync(path.join(out, "assets"))) {
  const p = path.join(out, "assets", f);
  if (!/\.(js|css|svg|map|txt|ttf)$/.test(f)) continue;
  const raw = fs.readFileSync(p);
  const br = zlib.brotliCompressSync(raw, {
    params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: raw.length },
  });
  const gz = zlib.gzipSync(raw, { level: 9 });
  if (br.length < raw.length * 0.9) fs.writeFileSync(p + ".br", br);
  if (gz.length < raw.length * 0.9) fs.writeFileSync(p + ".gz", gz);
}
// What the first page loads: the main entry, its static imports, its CSS.
const seen = new Set();
const walk = (o) => {
  if (seen.has(o)) return;
  seen.add(o);
  for (const imp of outputs[o].imports || []) if (imp.kind === "import-statement") walk(imp.path);
};
walk(mainJs);
seen.add(mainCss);
for (const o of seen) {
  const raw = fs.readFileSync(o);
  firstPage += zlib.brotliCompressSync(raw).length;
}
fs.writeFileSync(
  path.join(out, "build.json"),
  JSON.stringify({ firstPage: [...seen].map(rel), firstPageBrotliBytes: firstPage }, null, 1) + "\n",
);
console.log(`web: built ${out} (first page ${(firstPage / 1024).toFixed(1)} KiB brotli)`);
