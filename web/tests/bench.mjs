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
// Stamps, taken before the app runs (an init script, which the page's
// CSP does not apply to): when the app sends its POST /v1/submissions and
// when each "judged" live message reaches a socket. With them the page's
// own share is measured apart from the judging, whose spread is far wider.
await ctx.addInitScript(() => {
  window.__judgedAt = {};
  const f = window.fetch;
  window.fetch = (...a) => {
    if (String(a[0]).endsWith("/v1/submissions") && a[1] && a[1].method === "POST") window.__postSentAt = performance.now();
    return f(...a);
  };
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(...a) {
      super(...a);
      this.addEventListener("message", (ev) => {
        const m = /"id":"([0-9a-f-]{36})"[^]*"status":"judged"|"status":"judged"[^]*"id":"([0-9a-f-]{36})"/.exec(ev.data);
        if (m && ev.data.includes('"type":"submission"')) window.__judgedAt[m[1] || m[2]] ??= performance.now();
      });
    }
  };
});
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
  await page.click("#submit");
  await page.waitForSelector("#verdict[data-verdict]", { timeout: 120000 });
  // From the click event itself (Playwright's own steps before it do not
  // count) to the moment the verdict is in the page; and the page's own
  // part: click to POST sent, plus judged message in to verdict shown.
  return page.evaluate(() => {
    const id = document.querySelector("#judging a[href^='/submissions/']").getAttribute("href").split("/").pop();
    return {
      total: window.__verdictAt - window.__clickAt,
      own: window.__postSentAt - window.__clickAt + (window.__verdictAt - window.__judgedAt[id]),
    };
  });
}
// The API alone, from the same page: POST, then the judged event on a
// socket of its own.
async function viaApi() {
  return page.evaluate(async (src) => {
    // One access token for the whole run (refreshes are rate-limited).
    if (!window.__benchTok) {
      const tr = await fetch("/v1/auth/session/refresh", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
      window.__benchTok = await tr.json();
      if (!tr.ok) throw new Error(`refresh: ${tr.status} ${JSON.stringify(window.__benchTok)}`);
    }
    const tok = window.__benchTok;
    const ws = new WebSocket(`ws://${location.host}/v1/live`, ["cc.live", `cc.bearer.${tok.accessToken}`]);
    await new Promise((r, j) => {
      ws.onopen = r;
      ws.onerror = () => j(new Error("live socket failed"));
    });
    const t0 = performance.now();
    const res = await fetch("/v1/submissions", { method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${tok.accessToken}`, "Idempotency-Key": crypto.randomUUID() }, body: JSON.stringify({ problem: "aplusb", language: "c", source: src }) });
    const sub = await res.json();
    if (!res.ok) throw new Error(`POST /v1/submissions: ${res.status} ${JSON.stringify(sub)}`);
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no judged event for ${sub.id}`)), 60000);
      ws.onmessage = (ev) => {
        const m = JSON.parse(ev.data);
        if (m.type === "submission" && m.id === sub.id && m.status === "judged") {
          clearTimeout(t);
          resolve();
        }
      };
    });
    const t = performance.now() - t0;
    ws.close();
    return t;
  }, AC_C);
}

// The click's time, and the verdict's, stamped by an observer when it
// appears.
await page.evaluate(() => {
  document.getElementById("submit").addEventListener("click", () => (window.__clickAt = performance.now()), { capture: true });
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
const a = [], b = [], own = [];
for (let i = 0; i < n; i++) {
  const p = await viaPage();
  a.push(p.total);
  own.push(p.own);
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
console.log(`the page adds           ${f(pct(a, 50) - pct(b, 50))} at p50 (difference of the two runs)`);
console.log(`page's own part         ${f(pct(own, 50))} ${f(pct(own, 99))}  (click -> POST sent, judged event in -> verdict shown)`);
await browser.close();
await stack.stop();
