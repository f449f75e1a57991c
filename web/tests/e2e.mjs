// The browser app end to end, in Debian's Chromium (playwright-core)
// against a real stack (cc-local: NATS, PostgreSQL, Redis, every actor, a
// judge, the gateway serving the built app):
//   a user registers, signs in, opens a problem, runs code on custom
//   input (the samples copied with a button), submits a right C solution and sees AC arrive test by test,
//   a wrong Python one (WA on the right test), a compile error (the
//   compiler's message); a second tab gets the live notification; a
//   dropped live socket comes back; a setter uploads a package and
//   publishes it, the user solves it; signing out removes the cookie;
//   API errors show at their field, a 429 says when to retry;
//   the last language is remembered; the admin promotes a setter and
//   disables a user; the setter previews a statement and downloads the
//   package;
//   contests: one made through the API is listed, the user registers in
//   its page and sees the countdown, submits in it from the page and a
//   second tab's scoreboard updates live; the freeze shows on the public
//   board (a later AC pending) while the jury's page counts it and
//   unfreezes; a clarification asked in the page is answered live; the
//   profile shows statistics and recommendations with their reasons;
//   a refresh whose answer is lost (a page left mid-refresh) keeps the
//   session;
//   security: XSS payloads render as text, the refresh cookie is
//   invisible to script, the CSP blocks inline script;
//   screenshots at desktop and 375 px, no sideways scrolling at 375 px,
//   every control reachable by keyboard, axe-core with no serious or
//   critical violation, the first page within its budget.
//
//   node e2e.mjs --bin build/bin --modules build/web/node_modules
//                --dist build/web/dist --shots build/web/screenshots
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { apiCall, apiCalls, args, launchChromium, modulesRequire, startStack } from "./stack.mjs";

const get = args();
const bin = get("--bin", "build/bin");
const modules = get("--modules", "build/web/node_modules");
const dist = get("--dist", "build/web/dist");
const shots = get("--shots", "build/web/screenshots");
fs.mkdirSync(shots, { recursive: true });
if (!fs.existsSync(process.env.CC_CHROMIUM || "/usr/bin/chromium")) {
  console.log("skipped: no /usr/bin/chromium (apt-get install chromium; scripts/deps/web.txt)");
  process.exit(77);
}

const results = [];
let stepNow = "set-up";
async function step(name, fn) {
  const t0 = Date.now();
  stepNow = name;
  try {
    await fn();
    results.push([name, true]);
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push([name, false]);
    console.log(`FAIL ${name}: ${e.stack || e}`);
    // What the user's page showed, for the log.
    try {
      if (typeof page !== "undefined" && page) {
        console.log(`     at ${page.url()}: ${(await page.textContent("body")).replace(/\s+/g, " ").slice(0, 600)}`);
        for (const x of page.errors || []) console.log(`     page error: ${x}`);
      }
    } catch {}
  }
}

const AC_C = `#include <stdio.h>
int main(void) {
    long long a, b;
    if (scanf("%lld %lld", &a, &b) != 2) return 1;
    printf("%lld\\n", a + b);
    return 0;
}
`;
// Right but on secret/02 (-5 12): the third test of aplusb.
const WA_PY = `a, b = map(int, input().split())
print(0 if a == -5 else a + b)
`;
const CE_C = `int main(void) { this is not C; }\n`;
const RUN_C = `#include <stdio.h>
int main(void) { int a, b; scanf("%d %d", &a, &b); printf("%d\\n", a * b); fprintf(stderr, "note\\n"); return 0; }
`;
const XSS = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>`;
const XSS_NAME = `<img src=x onerror=window.__xss=3>`; // display names hold 64 characters

// bcrypt at its lowest cost keeps sign-ins quick on a busy CI machine.
// Every user of this test signs in from 127.0.0.1 and every page load
// refreshes its session: the per-address sign-in class (rate-auth, 20 a
// minute and 10 at once by default) is set as for many users behind one
// address. A run makes about 45 requests of that class (sign-ups, sign-ins,
// refreshes) in 2 to 3 minutes, at most about 30 in one minute and 12 in
// ten seconds: over the defaults, far under 600 a minute and 100 at once.
const stack = await startStack(bin, {
  CC_RUN_RATE_PER_MIN: "4",
  CC_BCRYPT_COST: "4",
  CC_RATE_AUTH: "600",
  CC_BURST_AUTH: "100",
});
const base = stack.base;
const browser = await launchChromium(modules);
const axeSource = fs.readFileSync(path.join(modules, "axe-core/axe.min.js"), "utf8");

// Console errors and CSP violations the pages report, per page.
function watch(page, name) {
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(`${name}: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && page.errors.push(`${name}: ${m.text()} (${m.location().url || "?"})`));
  return page;
}

// Every API request of the browser contexts, for a failed run's log: which
// answered what (a 429, a 401, a request cut short by a navigation), in
// which step, and how many of each route and rate class there were.
const traffic = [];
const authRoutes = /^POST \/v1\/(users|auth\/login|auth\/refresh|auth\/session|auth\/session\/refresh)$/;
function rateClass(method, p, bearer) {
  return authRoutes.test(`${method} ${p}`) ? "auth" : bearer ? "user" : "anon";
}
function track(ctx, who) {
  const add = (req, status) => {
    const u = new URL(req.url());
    if (!u.pathname.startsWith("/v1/")) return;
    const bearer = !!req.headers().authorization;
    traffic.push({ at: Date.now(), who, step: stepNow, method: req.method(), path: u.pathname, status, cls: rateClass(req.method(), u.pathname, bearer) });
  };
  ctx.on("response", (r) => add(r.request(), r.status()));
  ctx.on("requestfailed", (r) => add(r, `failed (${(r.failure() || {}).errorText})`));
}
function trafficReport(t0) {
  const all = [...traffic, ...apiCalls.map((c) => ({ ...c, who: "node", path: c.path.split("?")[0], cls: rateClass(c.method, c.path.split("?")[0], c.bearer) }))].sort((a, b) => a.at - b.at);
  const counts = new Map();
  for (const x of all) {
    const k = `${x.cls.padEnd(4)} ${x.who.padEnd(6)} ${x.method} ${x.path.replace(/[0-9a-f]{8}-[0-9a-f-]{27}|[0-9a-f]{32,}/g, ":id")}`;
    counts.set(k, (counts.get(k) || 0) + 1);
  }
  console.log("     API requests by rate class, client and route:");
  for (const [k, n] of [...counts].sort((a, b) => b[1] - a[1])) console.log(`     ${String(n).padStart(5)} ${k}`);
  console.log("     answers other than 2xx, and requests cut short:");
  for (const x of all.filter((x) => typeof x.status !== "number" || x.status >= 300))
    console.log(`     ${((x.at - t0) / 1000).toFixed(2).padStart(7)} s ${x.who} ${x.method} ${x.path} -> ${x.status} [${x.cls}] in "${x.step || ""}"`);
}

async function newUserPage(who, viewport = { width: 1280, height: 900 }) {
  const ctx = await browser.newContext({ viewport });
  track(ctx, who);
  return { ctx, page: watch(await ctx.newPage(), "page") };
}

async function setCode(page, src) {
  await page.waitForFunction(() => window.__ccEditor);
  await page.evaluate((s) => window.__ccEditor.set(s), src);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, `${name}-desktop.png`), fullPage: true });
  const vp = page.viewportSize();
  await page.setViewportSize({ width: 375, height: 812 });
  await page.waitForTimeout(150);
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  await page.screenshot({ path: path.join(shots, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize(vp);
  assert.ok(wide <= 375, `${name}: ${wide} px wide at 375 px (sideways scrolling)`);
}

// Every visible control is reached by Tab from the top of the page.
async function keyboardReach(page, name) {
  const missing = await page.evaluate(async () => {
    const sel = "a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select, textarea, [contenteditable=true], [tabindex]:not([tabindex='-1'])";
    const all = [...document.querySelectorAll(sel)].filter((e) => {
      const r = e.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== "hidden" && !e.closest(".skip");
    });
    all.forEach((e, i) => (e.dataset.kbd = String(i)));
    return all.length;
  });
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.focus("body").catch(() => {});
  const reached = new Set();
  for (let i = 0; i < missing + 40; i++) {
    await page.keyboard.press("Tab");
    const info = await page.evaluate(() => {
      const a = document.activeElement;
      const k = a && a.closest("[data-kbd]");
      const inner = a && a.shadowRoot && a.shadowRoot.activeElement;
      return { k: k ? k.dataset.kbd : null, cm: !!(inner && inner.closest(".cm-content")) };
    });
    if (info.k !== null) reached.add(info.k);
    // CodeMirror takes Tab for indenting; Escape, then Tab, leaves it.
    if (info.cm) await page.keyboard.press("Escape");
  }
  const notReached = await page.evaluate((got) => {
    return [...document.querySelectorAll("[data-kbd]")].filter((e) => !got.includes(e.dataset.kbd)).map((e) => e.outerHTML.slice(0, 80));
  }, [...reached]);
  assert.deepEqual(notReached, [], `${name}: not reachable by keyboard`);
}

// A page still settling (a button's label changing, output arriving) can
// be caught half drawn: a violation is checked again a second later, and
// only one that is still there fails; the first sighting is logged.
async function axe(page, name) {
  const scan = () =>
    page.evaluate(async (src) => {
      if (!window.axe) (0, eval)(src);
      const res = await window.axe.run(document, { resultTypes: ["violations"] });
      return res.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
    }, axeSource);
  let r = await scan();
  if (r.length) {
    console.log(`     ${name}: axe-core, first look: ${r.join("; ")}`);
    await page.waitForTimeout(1000);
    r = await scan();
  }
  assert.deepEqual(r, [], `${name}: axe-core found serious or critical violations: ${r.join("; ")}`);
}

async function checkPage(page, name) {
  await shot(page, name);
  await axe(page, name);
  await keyboardReach(page, name);
}

// Set-up through the API: the admin, a setter, the XSS problem.
const admin = await apiCall(base, "POST", "/v1/auth/login", { username: "admin", password: stack.adminPassword });
const A = admin.accessToken;
await apiCall(base, "POST", "/v1/problems", {
  slug: "xss-probe",
  title: "Statement with payloads",
  statementMarkdown: `Raw: ${XSS}\n\nIn code: \`${XSS}\`\n\nMath: $x^2 + y_1$ and $$\\frac{a}{b}$$\n\n## Sample\n\n\`\`\`\n1 2\n\`\`\`\n`,
  visibility: "VISIBILITY_PUBLIC",
  difficulty: "DIFFICULTY_EASY",
  tags: ["test"],
}, A);

const runStart = Date.now();
const ann = await newUserPage("ann");
const page = ann.page;
let firstSubmissionId = "";

await step("first page: problem list within budget, no editor or KaTeX loaded", async () => {
  const resp = await page.goto(base + "/");
  const csp = resp.headers()["content-security-policy"] || "";
  assert.match(csp, /script-src 'self'/);
  await page.waitForSelector("text=A plus B");
  const res = await page.evaluate(() => performance.getEntriesByType("resource").map((e) => ({ name: e.name, size: e.encodedBodySize, type: e.initiatorType })));
  const jsCss = res.filter((r) => /\.(js|css)$/.test(new URL(r.name).pathname));
  assert.ok(!jsCss.some((r) => /editor-|math-|katex-/.test(r.name)), "the first page loads no editor or KaTeX");
  const total = jsCss.reduce((s, r) => s + r.size, 0);
  assert.ok(total > 0 && total <= 150 * 1024, `first page JS+CSS ${total} bytes compressed`);
  const built = JSON.parse(fs.readFileSync(path.join(dist, "build.json"), "utf8"));
  assert.ok(built.firstPageBrotliBytes <= 150 * 1024);
  console.log(`     first page: ${total} bytes of JS+CSS over the wire (${built.firstPageBrotliBytes} brotli)`);
  // Filters and search.
  await page.fill("input[name=query]", "plus");
  await page.click("button:has-text('Filter')");
  await page.waitForFunction(() => location.search.includes("query=plus") && !document.querySelector("main").textContent.includes("Statement with payloads"));
  await page.waitForSelector("text=A plus B");
  assert.equal(await page.locator("text=Statement with payloads").count(), 0);
  await page.goto(base + "/");
  await page.waitForSelector("text=A plus B");
  await checkPage(page, "problem-list");
});

await step("register: API errors show next to their field, then the account is made", async () => {
  await page.click("a:has-text('Register')");
  await page.fill("input[name=username]", "x"); // too short
  await page.fill("input[name=email]", "ann@example.org");
  await page.fill("input[name=password]", "ann-password-1");
  await page.click("button:has-text('Create account')");
  await page.waitForSelector("input[name=username][aria-invalid=true]");
  const err = await page.textContent(`#${await page.getAttribute("input[name=username]", "id")}-err`);
  assert.ok(err.length > 0, "the username's error is shown at the field");
  await page.fill("input[name=username]", "ann");
  await page.click("button:has-text('Create account')");
  await page.waitForSelector("#signout");
});

await step("the refresh cookie is HttpOnly: invisible to document.cookie", async () => {
  const cookies = await ann.ctx.cookies();
  const c = cookies.find((x) => x.name === "cc_refresh");
  assert.ok(c, "the session cookie is set");
  assert.equal(c.httpOnly, true);
  assert.equal(c.sameSite, "Strict");
  assert.equal(c.path, "/v1/auth/session");
  assert.ok(!(await page.evaluate(() => document.cookie)).includes("cc_refresh"));
  // A reload keeps the session through the cookie (the access token was in memory only).
  await page.reload();
  await page.waitForSelector("#signout");
});

await step("a refresh whose answer is lost (the page left mid-refresh) does not end the session", async () => {
  // A page that is reloaded or left while its refresh is in flight has
  // the request cancelled: the server has rotated the token, but the
  // answer's new cookie is never stored, and the next page presents the
  // used token again (the contest step's goto then reload can do that, and
  // cc-user revoked the whole family: signed out in every tab). Here the
  // server gets the refresh and its answer is dropped; the next page must
  // still be signed in. A user of its own, so a failure stays here.
  await apiCall(base, "POST", "/v1/users", { username: "lou", email: "lou@example.org", password: "lou-password-1" });
  const lou = await newUserPage("lou");
  const p = lou.page;
  await p.goto(base + "/login");
  await p.fill("input[name=username]", "lou");
  await p.fill("input[name=password]", "lou-password-1");
  await p.click("button:has-text('Sign in')");
  await p.waitForSelector("#signout");
  let rotated = 0;
  await p.route("**/v1/auth/session/refresh", async (route) => {
    const c = (await lou.ctx.cookies()).find((x) => x.name === "cc_refresh");
    const r = await fetch(base + "/v1/auth/session/refresh", { method: "POST", headers: { "Content-Type": "application/json", Cookie: `cc_refresh=${c.value}` }, body: "{}" });
    rotated = r.status;
    await route.abort();
  }, { times: 1 });
  await p.reload();
  await p.waitForSelector("a:has-text('Sign in')"); // that page got no answer
  assert.equal(rotated, 200, "the server rotated the token");
  await p.reload();
  await p.waitForSelector("#signout");
  await p.goto(base + "/settings"); // and the session goes on
  await p.waitForSelector("input[name=displayName]");
  await lou.ctx.close();
});

await step("XSS payloads in a statement and a display name render as text", async () => {
  await page.goto(base + "/settings");
  await page.fill("input[name=displayName]", XSS_NAME);
  await page.click("button:has-text('Save profile')");
  await page.waitForSelector("text=Saved.");
  await page.goto(base + "/problems/xss-probe");
  await page.waitForSelector(".statement");
  await page.waitForSelector(".katex"); // math typeset
  const r = await page.evaluate(() => ({
    xss: window.__xss,
    imgs: document.querySelectorAll(".statement img, nav img").length,
    scripts: document.querySelectorAll("main script, nav script").length,
    code: document.querySelector(".statement code").textContent,
    nav: document.querySelector("nav").textContent,
  }));
  assert.equal(r.xss, undefined);
  assert.equal(r.imgs, 0);
  assert.equal(r.scripts, 0);
  assert.ok(r.code.includes("<script>window.__xss=2</script>"), "the code span shows the payload as text");
  assert.ok((await page.locator(".sample .copy").count()) >= 1, "code blocks have copy buttons");
  assert.ok(r.nav.includes(XSS_NAME), "the display name shows as text");
  await page.goto(base + "/settings");
  await page.fill("input[name=displayName]", "Ann");
  await page.click("button:has-text('Save profile')");
  await page.waitForSelector("text=Saved.");
});

await step("the Content-Security-Policy blocks an inline script", async () => {
  await page.goto(base + "/");
  const r = await page.evaluate(
    () =>
      new Promise((resolve) => {
        let violated = false;
        document.addEventListener("securitypolicyviolation", () => (violated = true));
        const s = document.createElement("script");
        s.textContent = "window.__inline = 1";
        document.body.append(s);
        setTimeout(() => resolve({ ran: window.__inline === 1, violated }), 300);
      }),
  );
  assert.equal(r.ran, false);
  assert.equal(r.violated, true);
  page.errors.length = 0; // that violation was the point
});

await step("problem page: statement, samples with copy buttons, editor, Run on custom input", async () => {
  await page.goto(base + "/problems/aplusb");
  await page.waitForSelector("h1:has-text('A plus B')");
  // The sample test from the package, with copy buttons.
  await page.waitForSelector(".sample-pair");
  assert.equal((await page.locator(".sample-pair pre").first().textContent()).trim(), "1 2");
  assert.equal((await page.locator(".sample-pair pre").nth(1).textContent()).trim(), "3");
  assert.equal(await page.locator(".sample-pair .copy").count(), 2);
  await ann.ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  await page.click(".sample-pair .copy >> nth=0");
  await page.waitForSelector(".sample-pair .copy:has-text('Copied')");
  assert.equal((await page.evaluate(() => navigator.clipboard.readText())).trim(), "1 2");
  await page.selectOption("#language", "c");
  await setCode(page, RUN_C);
  await page.fill("#stdin", "6 7");
  await page.click("#run");
  await page.waitForSelector("#run-stdout", { timeout: 90000 });
  assert.equal((await page.textContent("#run-stdout")).trim(), "42");
  assert.equal((await page.textContent("#run-stderr")).trim(), "note");
  assert.match(await page.textContent("#run-verdict"), /Ran to the end/);
  await checkPage(page, "problem-editor");
});

async function submit(src, lang) {
  await page.selectOption("#language", lang);
  await setCode(page, src);
  // Watch the progress as it happens: when each test row appears, and when
  // the verdict does.
  await page.evaluate(() => {
    window.__seen = { rows: [], verdictAt: 0, statuses: [] };
    const box = document.getElementById("judging");
    box.textContent = ""; // the last submission's verdict goes
    new MutationObserver(() => {
      const n = box.querySelectorAll("tr[data-test]").length;
      const w = window.__seen;
      if (n > w.rows.length) w.rows.push(performance.now());
      const st = box.querySelector("#judging-status");
      if (st && w.statuses[w.statuses.length - 1] !== st.textContent) w.statuses.push(st.textContent);
      const v = box.querySelector("#verdict");
      if (v && v.dataset.verdict && !w.verdictAt) w.verdictAt = performance.now();
    }).observe(box, { subtree: true, childList: true, characterData: true, attributes: true });
  });
  await page.click("#submit");
  await page.waitForSelector("#verdict[data-verdict]", { timeout: 120000 });
  return page.evaluate(() => ({ ...window.__seen, verdict: document.querySelector("#verdict").dataset.verdict }));
}

await step("submit a right C solution: AC arrives test by test without reloading", async () => {
  const navs = [];
  page.on("framenavigated", (f) => f === page.mainFrame() && navs.push(f.url()));
  const seen = await submit(AC_C, "c");
  assert.equal(seen.verdict, "AC");
  assert.equal(await page.locator("#judging tr[data-test]").count(), 11);
  assert.ok(seen.statuses.some((s) => /Running test \d+ of 11/.test(s)) || seen.rows.length > 1, "progress was shown before the verdict");
  assert.ok(seen.rows.length >= 1 && seen.rows[0] <= seen.verdictAt, "tests appeared before the verdict");
  assert.deepEqual(navs, [], "no reload");
  firstSubmissionId = (await page.getAttribute("#judging a[href^='/submissions/']", "href")).split("/").pop();
  await shot(page, "live-judging");
});

await step("submit a wrong Python solution: WA on the third test", async () => {
  const seen = await submit(WA_PY, "python3");
  assert.equal(seen.verdict, "WA");
  assert.match(await page.textContent("#judging tr[data-test='3']"), /WA/);
  assert.match(await page.textContent("#judging tr[data-test='1']"), /AC/);
  assert.match(await page.textContent("#judging tr[data-test='2']"), /AC/);
  // The last language is remembered in the user's preferences.
  await page.reload();
  await page.waitForFunction(() => window.__ccEditor);
  assert.equal(await page.inputValue("#language"), "python3");
});

let tab2;
await step("a compile error shows the compiler's message; a second tab gets the notification live", async () => {
  tab2 = watch(await ann.ctx.newPage(), "tab2");
  await tab2.goto(base + "/");
  await tab2.waitForSelector("#signout");
  await tab2.waitForFunction(() => document.documentElement.dataset.live === "open");
  const before = Number(await tab2.textContent("#unread"));
  const seen = await submit(CE_C, "c");
  assert.equal(seen.verdict, "CE");
  await page.waitForSelector("#compile-output");
  assert.match(await page.textContent("#compile-output"), /error/);
  await tab2.waitForFunction((n) => Number(document.querySelector("#unread").textContent) > n, before, { timeout: 30000 });
});

await step("a dropped live socket reconnects and the submission is still followed", async () => {
  await page.evaluate(() => window.__cc.dropLive());
  const seen = await submit(AC_C, "c");
  assert.equal(seen.verdict, "AC");
  await page.waitForFunction(() => document.documentElement.dataset.live === "open");
});

await step("a 429 says when to retry", async () => {
  // The stack allows 4 runs a minute (CC_RUN_RATE_PER_MIN): one was made.
  await page.selectOption("#language", "c");
  await setCode(page, RUN_C);
  await page.fill("#stdin", "1 1");
  let text = "";
  for (let i = 0; i < 6 && !/try again in \d+ s/.test(text); i++) {
    await page.click("#run");
    await page.waitForTimeout(400);
    text = (await page.textContent(".solve .form-error")) || "";
  }
  assert.match(text, /try again in \d+ s/);
});

await step("submission history and the submission page", async () => {
  await page.goto(base + "/submissions");
  await page.waitForSelector("table");
  assert.ok((await page.locator("tbody tr").count()) >= 4);
  await checkPage(page, "submissions");
  await page.goto(base + `/submissions/${firstSubmissionId}`);
  await page.waitForSelector("#verdict[data-verdict=AC]");
  assert.ok((await page.textContent("main")).includes("long long a, b"), "the source is shown");
  assert.equal(await page.locator("tr[data-test]").count(), 11);
  await checkPage(page, "submission");
});

await step("notifications: the bell, marking read", async () => {
  await page.goto(base + "/notifications");
  await page.waitForSelector(".notifications li");
  await page.click("button:has-text('Mark all read')");
  await page.waitForFunction(() => document.querySelector("#unread").textContent === "0");
  await checkPage(page, "notifications");
});

// The setter's part: promoted by the admin in the admin page.
const setter = await newUserPage("setter");
await step("admin: users and roles, in the admin page", async () => {
  await apiCall(base, "POST", "/v1/users", { username: "sam", email: "sam@example.org", password: "sam-password-1" });
  const p = setter.page;
  await p.goto(base + "/login");
  await p.fill("input[name=username]", "admin");
  await p.fill("input[name=password]", stack.adminPassword);
  await p.click("button:has-text('Sign in')");
  await p.waitForSelector("#signout");
  await p.goto(base + "/admin");
  await p.waitForSelector("tr[data-user=sam]");
  await p.selectOption("tr[data-user=sam] select", "ROLE_SETTER");
  await p.waitForSelector("text=sam is now Setter");
  // Disabling a user: that account can no longer sign in.
  await apiCall(base, "POST", "/v1/users", { username: "dave", email: "dave@example.org", password: "dave-password-1" });
  await p.reload();
  await p.waitForSelector("tr[data-user=dave]");
  await p.check("tr[data-user=dave] input[type=checkbox]");
  await p.waitForSelector("text=dave is disabled");
  const r = await fetch(base + "/v1/auth/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username: "dave", password: "dave-password-1" }) });
  assert.ok(r.status === 401 || r.status === 403, `a disabled user signs in: ${r.status}`);
  await checkPage(p, "admin");
  // The judges: one, registered with its sandbox and version; drained from
  // the page (it reports drained), then enabled again for the steps after.
  await p.waitForSelector("#judges tr[data-judge]");
  const judge = await p.getAttribute("#judges tr[data-judge]", "data-judge");
  assert.match(await p.textContent(`#judges tr[data-judge="${judge}"]`), /(idle|judging).*(cgroup|rlimits)/s);
  assert.match(await p.textContent("#judge-queue"), /^Queue: \d+ waiting/);
  await p.click(`#judges tr[data-judge="${judge}"] button:has-text('Drain')`);
  await p.waitForSelector(`text=${judge}: drain ordered.`);
  await p.waitForSelector(`#judges tr[data-judge="${judge}"][data-state=drained]`, { timeout: 15000 });
  await p.click(`#judges tr[data-judge="${judge}"] button:has-text('Enable')`);
  await p.waitForSelector(`#judges tr[data-judge="${judge}"][data-state=idle]`, { timeout: 15000 });
  await p.click("#signout");
  await p.waitForSelector("a:has-text('Sign in')");
});

await step("a setter uploads a package with a progress bar and publishes it; a user solves it", async () => {
  const p = setter.page;
  await p.goto(base + "/login");
  await p.fill("input[name=username]", "sam");
  await p.fill("input[name=password]", "sam-password-1");
  await p.click("button:has-text('Sign in')");
  await p.waitForSelector("a:has-text('Setter')");
  // A package zip: aplusb's shape with a note the reader warns about.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ccweb-pkg-"));
  const files = {
    "problem.yaml": "name: Sum again\nlimits:\n  time_limit: 2\n",
    "problem_statement/problem.en.md": "Print $a+b$.\n",
    "data/sample/1.in": "1 2\n", "data/sample/1.ans": "3\n",
    "data/secret/1.in": "5 5\n", "data/secret/1.ans": "10\n",
    "data/secret/2.in": "-3 3\n", "data/secret/2.ans": "0\n",
  };
  for (const [f, t] of Object.entries(files)) {
    fs.mkdirSync(path.join(dir, path.dirname(f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), t);
  }
  const zip = path.join(os.tmpdir(), `ccweb-sum-${process.pid}.zip`);
  execFileSync("zip", ["-qr", zip, "."], { cwd: dir });
  const cleanup = () => {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(zip, { force: true });
  };
  process.once("exit", cleanup);
  await p.goto(base + "/setter/upload");
  await p.setInputFiles("input[type=file]", zip);
  await p.fill("input[name=slug]", "sum-again");
  await p.check("#publish-now");
  await p.click("button:has-text('Upload and import')");
  await p.waitForSelector("#import-ok", { timeout: 60000 });
  assert.equal(await p.getAttribute("#upload-progress", "value"), "100");
  await checkPage(p, "setter-upload");
  // Managing it: publish state, versions.
  await p.goto(base + "/setter/problems/sum-again");
  await p.waitForSelector("#visibility:has-text('Published')");
  await p.waitForSelector("caption:has-text('Versions')");
  // The package comes back as a zip.
  const [download] = await Promise.all([p.waitForEvent("download"), p.click("button:has-text('Download package')")]);
  assert.equal(download.suggestedFilename(), "sum-again.zip");
  const zipPath = await download.path();
  assert.equal(fs.readFileSync(zipPath).subarray(0, 2).toString("latin1"), "PK");
  // The statement's preview: cc-problem's rendering, math typeset.
  await p.fill("textarea[name=statementMarkdown]", "Print **the sum** $a+b$.\n\n<script>window.__xss=4</script>\n");
  await p.click("button:has-text('Preview statement')");
  await p.waitForSelector(".preview strong:has-text('the sum')");
  await p.waitForSelector(".preview .katex");
  assert.equal(await p.evaluate(() => window.__xss), undefined);
  await checkPage(p, "setter-problem");
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(zip, { force: true });
  // The user solves it.
  await page.goto(base + "/problems/sum-again");
  await page.waitForSelector("h1:has-text('Sum again')");
  const seen = await submit(AC_C, "c");
  assert.equal(seen.verdict, "AC");
});

await step("a refused package lists its errors by file", async () => {
  const p = setter.page;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ccweb-bad-"));
  fs.writeFileSync(path.join(dir, "problem.yaml"), "name: [unclosed\n");
  const zip = path.join(os.tmpdir(), `ccweb-bad-${process.pid}.zip`);
  execFileSync("zip", ["-qr", zip, "."], { cwd: dir });
  try {
    await p.goto(base + "/setter/upload");
    await p.setInputFiles("input[type=file]", zip);
    await p.fill("input[name=slug]", "broken-one");
    await p.click("button:has-text('Upload and import')");
    await p.waitForSelector("#import-result dl.diags dt", { timeout: 60000 });
    assert.ok((await p.textContent("#import-result dl.diags")).includes("problem.yaml"));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(zip, { force: true });
  }
});

// ---- contests, clarifications, the profile ------------------------------------------------
// sam (a setter, so allowed to make contests) makes one through the API
// and is its jury; ann takes part from the pages; bea submits through the
// API during the freeze.
const CONTEST = "spring-cup";
let contestStart = 0;
let board; // ann's second tab, on the scoreboard
const boardNavs = [];
const sam = await apiCall(base, "POST", "/v1/auth/login", { username: "sam", password: "sam-password-1" });
await step("contests: a contest made through the API is listed; the user registers in its page and sees the countdown and problems", async () => {
  contestStart = Math.floor(Date.now() / 1000) + 40;
  await apiCall(base, "POST", "/v1/contests", {
    id: CONTEST, title: "Spring Cup", startAt: new Date(contestStart * 1000).toISOString(), durationS: "7200", scoring: "SCORING_ICPC",
    public: true, registrationOpen: true,
    problems: [{ label: "A", problem: "aplusb", name: "A plus B", color: "blue", rgb: "#1f6feb" }],
  }, sam.accessToken);
  await page.goto(base + "/");
  await page.click("nav a:has-text('Contests')");
  await page.waitForSelector(`tr[data-contest=${CONTEST}]`);
  assert.match(await page.textContent(`tr[data-contest=${CONTEST}]`), /Upcoming/);
  await page.click(`tr[data-contest=${CONTEST}] a:has-text('Spring Cup')`);
  await page.waitForSelector("#countdown");
  const t1 = await page.textContent("#countdown");
  assert.match(t1, /^Starts in 0:00:\d\d$/);
  await page.waitForFunction((t) => document.querySelector("#countdown").textContent !== t, t1, { timeout: 5000 });
  // The problem with its label and colour; no submit link before the start.
  assert.match(await page.textContent("#contest-problems tr[data-label=A]"), /A.*A plus B/s);
  assert.equal(await page.$eval("#contest-problems tr[data-label=A] .swatch", (s) => getComputedStyle(s).backgroundColor), "rgb(31, 111, 235)");
  assert.equal(await page.locator("a:has-text('Submit A')").count(), 0, "no submit link before the start");
  assert.equal(await page.inputValue("input[name=teamName]"), "Ann", "the display name is offered");
  await page.click("#register");
  await page.waitForSelector("#registered");
  await checkPage(page, "contest");
  await page.goto(base + "/contests");
  await page.waitForSelector(`tr[data-contest=${CONTEST}]:has-text('registered')`);
  await checkPage(page, "contests");
  await page.goto(base + `/contests/${CONTEST}`);
  // The server has it: a reload still says so.
  await page.reload();
  await page.waitForSelector("#registered");
  assert.equal(await page.locator("#register").count(), 0);
});

await step("the contest starts: a right solution submitted from the page counts, and the scoreboard in another tab updates live", async () => {
  await page.waitForSelector("a:has-text('Submit A')", { timeout: 90000 });
  assert.match(await page.textContent("#countdown"), /^Ends in (2:00:00|1:59:\d\d)$/);
  board = watch(await ann.ctx.newPage(), "board");
  await board.goto(base + `/contests/${CONTEST}/scoreboard`);
  await board.waitForFunction(() => document.documentElement.dataset.contestLive === "open");
  await board.waitForSelector("#scoreboard tr.mine");
  assert.notEqual(await board.getAttribute("#scoreboard tr.mine td[data-label=A]", "data-solved"), "true", "no result before the submission");
  assert.match(await board.textContent("#scoreboard tr.mine th"), /^Ann/);
  board.on("framenavigated", (f) => f === board.mainFrame() && boardNavs.push(f.url()));
  await page.click("a:has-text('Submit A')");
  await page.waitForSelector("#in-contest");
  assert.ok(page.url().endsWith(`/problems/aplusb?contest=${CONTEST}`));
  assert.match(await page.textContent("h1"), /^A\. A plus B$/);
  const seen = await submit(AC_C, "c");
  assert.equal(seen.verdict, "AC");
  // Only a push redraws it: a page with a live socket never polls.
  await board.waitForSelector("#scoreboard tr.mine td[data-label=A][data-solved=true]", { timeout: 60000 });
  assert.ok(Number(await board.getAttribute("#scoreboard", "data-pushes")) >= 1, "the update came as a push");
  assert.match(await board.textContent("#scoreboard tr.mine td[data-label=A]"), /1 try/);
  assert.equal(await board.textContent("#scoreboard tr.mine td:nth-child(3)"), "1");
  assert.deepEqual(boardNavs, [], "no reload");
  await checkPage(board, "scoreboard");
});

await step("the freeze: the public scoreboard says frozen and shows a later AC as pending; the jury sees it and unfreezes in the page", async () => {
  // The jury moves the freeze to now.
  const def = await apiCall(base, "GET", `/v1/contests/${CONTEST}`, undefined, sam.accessToken);
  def.freezeS = String(7200 - (Math.floor(Date.now() / 1000) - contestStart));
  await apiCall(base, "PUT", `/v1/contests/${CONTEST}`, def, sam.accessToken);
  await board.waitForSelector("#board-status[data-frozen=true]", { timeout: 30000 });
  assert.match(await board.textContent("#board-status"), /frozen/);
  // bea takes part and solves A during the freeze, through the API.
  await apiCall(base, "POST", "/v1/users", { username: "bea", email: "bea@example.org", password: "bea-password-1" });
  const bea = await apiCall(base, "POST", "/v1/auth/login", { username: "bea", password: "bea-password-1" });
  await apiCall(base, "POST", `/v1/contests/${CONTEST}/register`, { teamName: "bea" }, bea.accessToken);
  const s = await apiCall(base, "POST", "/v1/submissions", { problem: "aplusb", language: "c", source: AC_C, contest: CONTEST }, bea.accessToken);
  for (let i = 0; i < 120; i++) {
    const r = await apiCall(base, "GET", `/v1/submissions/${s.id}`, undefined, bea.accessToken);
    if (r.status === "judged") {
      assert.equal(r.verdict, "AC");
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  const beaA = "#scoreboard tr[data-team-name=bea] td[data-label=A]";
  await board.waitForSelector(`${beaA}[data-pending='1']`, { timeout: 30000 });
  assert.equal(await board.getAttribute(beaA, "data-solved"), "false", "the public does not see the AC");
  // The jury's page counts it.
  const jury = setter.page;
  await jury.goto(base + `/contests/${CONTEST}/scoreboard`);
  await jury.waitForSelector(`${beaA}[data-solved=true]`);
  assert.equal(await jury.getAttribute("#board-status", "data-frozen"), "false");
  await jury.check("#public-view");
  await jury.waitForSelector(`${beaA}[data-solved=false]`);
  await jury.click("#unfreeze");
  await jury.waitForSelector("text=Unfrozen");
  // The public board follows live.
  await board.waitForSelector(`${beaA}[data-solved=true]`, { timeout: 30000 });
  await board.waitForSelector("#board-status[data-frozen=false]", { state: "attached" });
  assert.deepEqual(boardNavs, [], "no reload");
  // Read again from the server (unfrozenAt is an RFC 3339 time now): still unfrozen.
  const again = await (await browser.newContext()).newPage();
  await again.goto(base + `/contests/${CONTEST}/scoreboard`);
  await again.waitForSelector(`${beaA}[data-solved=true]`, { timeout: 30000 });
  assert.equal(await again.getAttribute("#board-status", "data-frozen"), "false");
  await again.context().close();
});

await step("clarifications: a question asked in the page; the jury's answer through the API appears live", async () => {
  await page.goto(base + `/contests/${CONTEST}`);
  await page.click(".subnav a:has-text('Clarifications')");
  await page.waitForSelector("#ask");
  await page.selectOption("#ask select[name=problem]", "A");
  await page.fill("#ask textarea[name=text]", "Can a be negative? <b>bold?</b>");
  await page.click("#ask button[type=submit]");
  await page.waitForSelector("#clarifications li.question:has-text('Can a be negative?')");
  assert.match(await page.textContent("#clarifications li.question"), /Problem A · from your team/);
  assert.equal(await page.locator("#clarifications li.question b").count(), 0, "text stays text");
  assert.equal(await page.locator("#clarifications .answer").count(), 0);
  const navs = [];
  page.on("framenavigated", (f) => f === page.mainFrame() && navs.push(f.url()));
  const list = await apiCall(base, "GET", `/v1/contests/${CONTEST}/clarifications`, undefined, sam.accessToken);
  const q = (list.clarifications || []).find((k) => k.text.startsWith("Can a be negative?"));
  assert.ok(q, "the jury sees the question");
  await apiCall(base, "POST", `/v1/contests/${CONTEST}/clarifications/${q.id}/answer`, { text: "Yes: -10^9 <= a, b <= 10^9." }, sam.accessToken);
  await page.waitForSelector(`#clarifications .answer[data-reply-to='${q.id}']:has-text('Yes: -10^9')`, { timeout: 30000 });
  assert.deepEqual(navs, [], "no reload");
  await checkPage(page, "clarifications");
});

await step("the profile: statistics (solved, attempted, by tag, streak) and recommendations with their reason", async () => {
  // cc-stats follows the events: its figures may trail the last verdict.
  let solved = 0;
  for (let i = 0; i < 30 && solved < 2; i++) {
    if (i) await page.waitForTimeout(1000);
    await page.goto(base + "/profile");
    await page.waitForSelector("#stat-solved");
    solved = Number(await page.textContent("#stat-solved"));
  }
  assert.equal(solved, 2, "aplusb and sum-again solved");
  assert.ok(Number(await page.textContent("#stat-attempted")) >= 2);
  assert.match(await page.textContent("#stat-streak"), /^(1 day|2 days) now, (1 day|2 days) at most$/);
  assert.match(await page.textContent("#by-tag tr[data-tag=math]"), /math\s*1\s*1/);
  await page.waitForSelector("#recommendations li[data-problem]");
  const recos = await page.$$eval("#recommendations li[data-problem]", (ls) => ls.map((l) => ({ p: l.dataset.problem, reason: l.querySelector(".reason").textContent })));
  assert.ok(recos.some((r) => r.p === "xss-probe"), `the unsolved public problem is suggested: ${JSON.stringify(recos)}`);
  assert.ok(!recos.some((r) => r.p === "aplusb" || r.p === "sum-again"), "never a solved problem");
  assert.ok(recos.every((r) => r.reason.trim().length > 0), "each with its reason");
  await checkPage(page, "profile");
});

await step("signing out removes the refresh cookie", async () => {
  await page.click("#signout");
  await page.waitForSelector("a:has-text('Sign in')");
  const cookies = await ann.ctx.cookies();
  assert.ok(!cookies.some((c) => c.name === "cc_refresh"), "no session cookie left");
  await page.reload();
  await page.waitForSelector("a:has-text('Sign in')");
});

await step("no page reported a script error or a CSP violation", async () => {
  const errs = [...page.errors, ...(tab2 ? tab2.errors : []), ...(board ? board.errors : []), ...setter.page.errors].filter((e) => !/Failed to load resource: the server responded with a status of (4\d\d)/.test(e));
  assert.deepEqual(errs, []);
});

await browser.close();
const failed = results.filter((r) => !r[1]).length;
if (failed) trafficReport(runStart);
await stack.stop({ keep: failed > 0 });
console.log(`\n${results.length - failed} passed, ${failed} failed`);
if (failed) {
  if (process.env.CC_WEB_DEBUG) console.log(stack.log());
  process.exit(1);
}
