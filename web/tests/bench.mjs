// The browser app's cost on the judging path: from a click on Submit to
// the verdict shown in the page, against the same submission made through
// the API alone (fetch, then the verdict's live event, from the same
// page), 50 of each, interleaved, in one run on one stack.
//
//   node bench.mjs --bin build/bin --modules build/web/node_modules [--n 50]
import { apiCall, args, launchChromium, startStack } from "./stack.mjs";

const get = args();
const n = Number(get("--n", "50"));
const AC_C = `#include <stdio.h>
int main(void) { long long a, b; if (scanf("%lld %lld", &a, &b) != 2) return 1; printf("%lld\\n", a + b); return 0; }
`;

// Submissions are limited per user (waiting and per minute): the stack
// gets room for a benchmark.
const stack = await startStack(get("--bin", "build/bin"), { CC_BCRYPT_COST: "4", CC_RATE_PER_MIN: "100000", CC_MAX_QUEUED: "1000", CC_RATE_USER: "100000", CC_BURST_USER: "100000" });
const browser = await launchChromium(get("--modules", "build/web/node_modules"));
const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await ctx.newPage();
await apiCall(stack.base, "POST", "/v1/users", { username: "bench", email: "bench@example.org", password: "bench-password" });
await page.goto(stack.base + "/login?next=/problems/aplusb");
await page.fill("input[name=username]", "bench");
await page.fill("input[name=password]", "bench-password");
await page.click("button:has-text('Sign in')");
await page.waitForFunction(() => window.__ccEditor && document.documentElement.dataset.live === "open");
await page.selectOption("#language", "c");
await page.evaluate((s) => window.__ccEditor.set(s), AC_C);

// Through the page: the time from the click to the verdict on screen.
async function viaPage() {
  await page.evaluate(() => {
    document.getElementById("judging").textContent = "";
    window.__verdictAt = 0;
  });
  const t0 = await page.evaluate(() => performance.now());
  await page.click("#submit");
  await page.waitForSelector("#verdict[data-verdict]", { timeout: 120000 });
  const t1 = await page.evaluate(() => window.__verdictAt || performance.now());
  return t1 - t0;
}
// The API alone, from the same page: POST, then the judged event on a
// socket of its own.
async function viaApi() {
  return page.evaluate(async (src) => {
    const tok = await (await fetch("/v1/auth/session/refresh", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" })).json();
    const ws = new WebSocket(`ws://${location.host}/v1/live`, ["cc.live", `cc.bearer.${tok.accessToken}`]);
    await new Promise((r) => (ws.onopen = r));
    const t0 = performance.now();
    const res = await fetch("/v1/submissions", { method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${tok.accessToken}`, "Idempotency-Key": crypto.randomUUID() }, body: JSON.stringify({ problem: "aplusb", language: "c", source: src }) });
    const sub = await res.json();
    await new Promise((resolve) => {
      ws.onmessage = (ev) => {
        const m = JSON.parse(ev.data);
        if (m.type === "submission" && m.id === sub.id && m.status === "judged") resolve();
      };
    });
    const t = performance.now() - t0;
    ws.close();
    return t;
  }, AC_C);
}

// The page's verdict time, stamped by an observer when it appears.
await page.evaluate(() => {
  new MutationObserver(() => {
    const v = document.querySelector("#verdict[data-verdict]");
    if (v && !v.dataset.stamped) {
      v.dataset.stamped = "1";
      window.__verdictAt = performance.now();
    }
  }).observe(document.body, { subtree: true, childList: true, attributes: true });
});

await viaPage();
await viaApi(); // warm up: compile cache, connections
const a = [], b = [];
for (let i = 0; i < n; i++) {
  a.push(await viaPage());
  b.push(await viaApi());
}
const pct = (xs, p) => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const f = (x) => x.toFixed(1).padStart(8);
console.log(`submissions: ${n} through the page, ${n} through the API, interleaved`);
console.log(`                         p50 ms   p99 ms`);
console.log(`page (click -> verdict) ${f(pct(a, 50))} ${f(pct(a, 99))}`);
console.log(`API  (POST -> judged)   ${f(pct(b, 50))} ${f(pct(b, 99))}`);
console.log(`the page adds           ${f(pct(a, 50) - pct(b, 50))} at p50`);
await browser.close();
await stack.stop();
