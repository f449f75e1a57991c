// CodeCourt in the browser: the router, the frame (header, bell, theme)
// and the pages. Every page reads the public /v1 API (api.js) and follows
// the live channel (live.js); the editor and KaTeX are loaded on demand.
import "./style.css";
import { api, ApiError, human, onSession, qs, register, restore, setUser, signIn, signOut, user, verdictNames } from "./api.js";
import { append, clear, el, field, formatTime, link, showError } from "./dom.js";
import { dropLive, onLive, onReconnect } from "./live.js";

const app = document.getElementById("app");
let main; // the <main> of the frame
let cleanups = []; // what the current page subscribed to

// ---- the frame -----------------------------------------------------------------

const bell = el("a", { href: "/notifications", "data-app": "1", class: "bell", id: "bell" }, "Notifications ", el("span", { class: "badge", id: "unread" }, "0"));
const nav = el("nav", { "aria-label": "Main" });

function frame() {
  const header = el(
    "header",
    { class: "top" },
    el("a", { href: "/", "data-app": "1", class: "brand" }, "CodeCourt"),
    nav,
  );
  main = el("main", { id: "main", tabindex: "-1" });
  clear(app);
  append(app, [header, main, el("footer", {}, el("p", {}, "CodeCourt — an online judge. ", el("a", { href: "/v1/openapi.json" }, "API")))]);
  renderNav();
}

function renderNav() {
  const u = user();
  clear(nav);
  const items = [link("/", "Problems"), link("/contests", "Contests")];
  if (u) {
    items.push(link("/submissions", "Submissions"), link("/profile", "Profile"));
    if (u.role === "ROLE_SETTER" || u.role === "ROLE_ADMIN") items.push(link("/setter", "Setter"));
    if (u.role === "ROLE_ADMIN") items.push(link("/admin", "Admin"));
    items.push(bell, link("/settings", u.displayName || u.username));
    items.push(el("button", { type: "button", class: "linkish", id: "signout", onclick: doSignOut }, "Sign out"));
  } else {
    items.push(link("/login", "Sign in"), link("/register", "Register"));
  }
  append(nav, el("ul", {}, items.map((i) => el("li", {}, i))));
  applyTheme();
}

function applyTheme() {
  const u = user();
  const t = u && u.preferences && u.preferences.theme;
  document.documentElement.dataset.theme = t === "dark" || t === "light" ? t : "";
}

async function refreshUnread() {
  if (!user()) return;
  try {
    const r = await api("GET", "/v1/notifications/unread-count");
    setUnread(Number(r.count) || 0);
  } catch {
    /* the bell keeps its last count */
  }
}
function setUnread(n) {
  const b = document.getElementById("unread") || bell.querySelector(".badge");
  b.textContent = String(n);
  b.dataset.count = String(n);
  bell.setAttribute("aria-label", `Notifications, ${n} unread`);
}

async function doSignOut() {
  await signOut().catch(() => {});
  go("/");
}

onSession(() => {
  renderNav();
  refreshUnread();
});
onLive((m) => {
  if (m.type === "notification") {
    const b = bell.querySelector(".badge");
    setUnread((Number(b.dataset.count) || 0) + (m.read ? 0 : 1));
    toast(`${m.title}`);
  }
});
onReconnect(refreshUnread);

function toast(text) {
  let region = document.getElementById("toasts");
  if (!region) {
    region = el("div", { id: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(region);
  }
  const t = el("p", { class: "toast" }, text);
  region.append(t);
  setTimeout(() => t.remove(), 6000);
}

// ---- routing --------------------------------------------------------------------

const routes = [
  [/^\/$/, problemList],
  [/^\/problems\/([a-z0-9-]+)$/, problemPage],
  [/^\/login$/, loginPage],
  [/^\/register$/, registerPage],
  [/^\/submissions$/, submissionsPage],
  [/^\/submissions\/([0-9a-f-]{36})$/, submissionPage],
  [/^\/notifications$/, notificationsPage],
  [/^\/settings$/, settingsPage],
  [/^\/setter$/, setterHome],
  [/^\/setter\/new$/, (m) => problemEditor(null)],
  [/^\/setter\/upload$/, uploadPage],
  [/^\/setter\/problems\/([a-z0-9-]+)$/, (m) => problemEditor(m[1])],
  [/^\/admin$/, adminPage],
  // The contest pages and the profile: a chunk of their own (contest.js).
  [/^\/contests$/, () => contestChunk((m) => m.contestList(pageCtx))],
  [/^\/contests\/([a-z0-9][a-z0-9-]{1,63})$/, (m) => contestChunk((c) => c.contestPage(pageCtx, m[1]))],
  [/^\/contests\/([a-z0-9][a-z0-9-]{1,63})\/scoreboard$/, (m) => contestChunk((c) => c.scoreboardPage(pageCtx, m[1]))],
  [/^\/contests\/([a-z0-9][a-z0-9-]{1,63})\/clarifications$/, (m) => contestChunk((c) => c.clarificationsPage(pageCtx, m[1]))],
  [/^\/profile$/, () => contestChunk((c) => c.profilePage(pageCtx, ""))],
  [/^\/users\/([0-9a-f-]{36})$/, (m) => contestChunk((c) => c.profilePage(pageCtx, m[1]))],
];

// What the pages of a chunk need from the frame.
const pageCtx = {
  main: () => main,
  setTitle: (t) => setTitle(t),
  cleanup: (fn) => cleanups.push(fn),
  needUser: () => needUser(),
};
async function contestChunk(fn) {
  return fn(await import("./contest.js"));
}

export function go(path, replace) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  render();
}

async function render() {
  for (const c of cleanups) c();
  cleanups = [];
  const path = location.pathname;
  clear(main);
  for (const [re, page] of routes) {
    const m = path.match(re);
    if (m) {
      try {
        await page(m);
      } catch (e) {
        pageError(e);
      }
      main.focus({ preventScroll: true });
      return;
    }
  }
  setTitle("Not found");
  append(main, [el("h1", {}, "Not found"), el("p", {}, "No page here. ", link("/", "Back to the problems"), ".")]);
}

function pageError(e) {
  clear(main);
  setTitle("Error");
  if (e instanceof ApiError && e.status === 401) {
    append(main, [el("h1", {}, "Sign in first"), el("p", {}, link(`/login?next=${encodeURIComponent(location.pathname)}`, "Sign in"), " to see this page.")]);
    return;
  }
  append(main, [el("h1", {}, e instanceof ApiError && e.status === 404 ? "Not found" : "Something went wrong"), el("p", { class: "error", role: "alert" }, e.message)]);
}

function setTitle(t) {
  document.title = t ? `${t} — CodeCourt` : "CodeCourt";
}

function needUser() {
  if (!user()) throw new ApiError(401, { detail: "sign in" });
  return user();
}

document.addEventListener("click", (ev) => {
  const a = ev.target.closest("a[data-app]");
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
  ev.preventDefault();
  go(a.getAttribute("href"));
});
window.addEventListener("popstate", render);

// ---- anyone: the problem list ----------------------------------------------------------

async function problemList() {
  setTitle("Problems");
  const params = new URLSearchParams(location.search);
  const form = el(
    "form",
    { class: "filters", role: "search", onsubmit: (e) => { e.preventDefault(); apply(""); } },
    field("Search", el("input", { name: "query", type: "search", value: params.get("query") || "" })),
    field("Tag", el("input", { name: "tag", value: params.get("tag") || "" })),
    field(
      "Difficulty",
      el(
        "select",
        { name: "difficulty" },
        ["", "DIFFICULTY_EASY", "DIFFICULTY_MEDIUM", "DIFFICULTY_HARD"].map((d) =>
          el("option", { value: d, selected: (params.get("difficulty") || "") === d }, d ? human(d) : "Any"),
        ),
      ),
    ),
    el("button", { type: "submit" }, "Filter"),
  );
  const list = el("div", { "aria-live": "polite" });
  append(main, [el("h1", {}, "Problems"), form, list]);
  function apply(cursor, back) {
    const f = new FormData(form);
    const q = { query: f.get("query"), tag: f.get("tag"), difficulty: f.get("difficulty"), cursor };
    history.replaceState(null, "", "/" + qs(q));
    load(q, back);
  }
  const stack = [];
  async function load(q, back) {
    const r = await api("GET", "/v1/problems" + qs({ ...q, pageSize: 20 }));
    clear(list);
    const rows = (r.problems || []).map((p) =>
      el(
        "tr",
        {},
        el("td", {}, link(`/problems/${p.slug}`, p.title || p.slug)),
        el("td", {}, human(p.difficulty)),
        el("td", {}, (p.tags || []).map((t) => el("span", { class: "tag" }, t))),
      ),
    );
    append(list, rows.length
      ? el("table", {}, el("caption", { class: "sr-only" }, "Problems"), el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Problem"), el("th", { scope: "col" }, "Difficulty"), el("th", { scope: "col" }, "Tags"))), el("tbody", {}, rows))
      : el("p", {}, "No problem matches."));
    const pager = el("div", { class: "pager" });
    if (stack.length) pager.append(el("button", { type: "button", onclick: () => { stack.pop(); load({ ...q, cursor: stack[stack.length - 1] || "" }, true); } }, "Previous page"));
    if (r.nextCursor) pager.append(el("button", { type: "button", onclick: () => { stack.push(r.nextCursor); load({ ...q, cursor: r.nextCursor }); } }, "Next page"));
    list.append(pager);
  }
  await load({ query: params.get("query"), tag: params.get("tag"), difficulty: params.get("difficulty") });
}

// ---- anyone: a problem, and for a signed-in user its editor ------------------------------

const LANG_KEY_DEFAULT = "c";

async function problemPage(m) {
  const slug = m[1];
  const p = await api("GET", `/v1/problems/${slug}`);
  setTitle(p.title || slug);
  // ?contest=<id>: submissions count in that contest (cc-submission asks
  // cc-contest whether it is running and the user takes part).
  const contestId = new URLSearchParams(location.search).get("contest") || "";
  let contest = null;
  if (/^[a-z0-9][a-z0-9-]{1,63}$/.test(contestId)) {
    try {
      contest = await api("GET", `/v1/contests/${contestId}`);
    } catch {
      contest = null; /* a plain problem page then */
    }
  }
  const v = p.version || {};
  const lim = v.limits || {};
  const statement = el("div", { class: "statement" }, safeHtml(p.statementHtml));
  const meta = el(
    "dl",
    { class: "limits" },
    el("dt", {}, "Time limit"), el("dd", {}, lim.timeLimitMs ? `${lim.timeLimitMs / 1000} s` : "set by the judge"),
    el("dt", {}, "Memory limit"), el("dd", {}, lim.memoryMib ? `${lim.memoryMib} MiB` : "default"),
    el("dt", {}, "Difficulty"), el("dd", {}, human(p.difficulty)),
    el("dt", {}, "Tags"), el("dd", {}, (p.tags || []).length ? p.tags.map((t) => el("span", { class: "tag" }, t)) : "—"),
  );
  const samplesBox = el("section", { class: "samples", "aria-labelledby": "samples-h" });
  const label = contest && ((contest.problems || []).find((q) => q.problem === slug) || {}).label;
  const inContest = contest
    ? el("p", { class: "note in-contest", id: "in-contest" }, "Submitting in ", link(`/contests/${contest.id}`, contest.title || contest.id),
        label ? ` as problem ${label}` : "", " · ", link(`/contests/${contest.id}/scoreboard`, "scoreboard"))
    : null;
  append(main, [el("h1", {}, label ? `${label}. ${p.title || slug}` : p.title || slug), inContest, meta, statement, samplesBox]);
  if (/\$/.test(statement.textContent)) import("./math.js").then((mm) => mm.typeset(statement));
  addSampleCopyButtons(statement);
  // The version's sample tests, from the package's data/sample.
  try {
    const ss = (await api("GET", `/v1/problems/${slug}/samples`)).samples || [];
    if (ss.length) {
      samplesBox.append(el("h2", { id: "samples-h" }, ss.length > 1 ? "Samples" : "Sample"));
      ss.forEach((sm, i) => {
        const n = ss.length > 1 ? ` ${i + 1}` : "";
        samplesBox.append(el("div", { class: "sample-pair" },
          el("div", {}, el("h3", {}, `Input${n}`), copyable(sm.input || "", `Copy input${n}`)),
          el("div", {}, el("h3", {}, `Output${n}`), copyable(sm.answer || "", `Copy output${n}`))));
      });
    }
  } catch {
    /* the statement stands without them */
  }
  if (!user()) {
    main.append(el("p", { class: "note" }, link(`/login?next=/problems/${slug}`, "Sign in"), " to run and submit code."));
    return;
  }
  await solvePanel(p, contest);
}

// cc-problem renders statements with cmark in safe mode (raw HTML and
// dangerous links removed); the HTML is parsed inertly, stripped again of
// anything active (defence in depth, the CSP being the last line), and
// returned as a fragment.
function safeHtml(html) {
  const doc = new DOMParser().parseFromString(`<div>${html || ""}</div>`, "text/html");
  for (const bad of doc.querySelectorAll("script, iframe, object, embed, style, link, meta, form")) bad.remove();
  for (const n of doc.querySelectorAll("*"))
    for (const a of [...n.attributes]) if (/^on/i.test(a.name) || /^\s*(javascript|vbscript|data):/i.test(a.value)) n.removeAttribute(a.name);
  const frag = document.createDocumentFragment();
  frag.append(...doc.body.firstChild.childNodes);
  return frag;
}

// A block of text with a copy button.
function copyable(text, label) {
  const pre = el("pre", { class: "sample-text" }, text);
  const btn = el("button", { type: "button", class: "copy", "aria-label": label }, "Copy");
  btn.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      btn.textContent = "Copied";
    } catch {
      const r = document.createRange();
      r.selectNodeContents(pre);
      getSelection().removeAllRanges();
      getSelection().addRange(r);
      btn.textContent = "Selected: press Ctrl+C";
    }
    setTimeout(() => (btn.textContent = "Copy"), 2000);
  });
  return el("div", { class: "sample" }, btn, pre);
}

// Every pre of the statement (a setter may write examples as code blocks)
// gets a copy button too.
function addSampleCopyButtons(statement) {
  let k = 0;
  for (const pre of statement.querySelectorAll("pre")) {
    k++;
    const btn = el("button", { type: "button", class: "copy", "aria-label": `Copy block ${k}` }, "Copy");
    btn.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(pre.textContent);
        btn.textContent = "Copied";
      } catch {
        btn.textContent = "Select and copy";
      }
      setTimeout(() => (btn.textContent = "Copy"), 2000);
    });
    const wrap = el("div", { class: "sample" });
    pre.replaceWith(wrap);
    wrap.append(btn, pre);
  }
}

let languagesCache = null;
async function languages() {
  if (!languagesCache) languagesCache = (await api("GET", "/v1/languages")).languages || [];
  return languagesCache;
}

async function solvePanel(p, contest) {
  const u = user();
  const langs = (await languages()).filter((l) => l.available);
  const pref = (u.preferences && u.preferences.language) || LANG_KEY_DEFAULT;
  const select = el("select", { name: "language", id: "language" }, langs.map((l) => el("option", { value: l.id, selected: l.id === pref }, l.name)));
  const editorBox = el("div", { class: "editor", id: "editor", role: "group", "aria-labelledby": "editor-label" });
  const stdin = el("textarea", { name: "stdin", id: "stdin", rows: "4", spellcheck: "false" });
  const runOut = el("div", { class: "run-output", id: "run-output", "aria-live": "polite" });
  const progress = el("div", { class: "progress", id: "judging", "aria-live": "polite" });
  const form = el("form", { class: "solve", onsubmit: (e) => e.preventDefault() },
    el("h2", {}, "Your solution"),
    field("Language", select),
    el("div", { class: "field" }, el("span", { class: "label", id: "editor-label" }, "Code"), editorBox),
    field("Custom input", stdin, "Run uses this as the program's standard input."),
    el("p", { class: "form-error", role: "alert" }),
    el("div", { class: "actions" },
      el("button", { type: "button", id: "run", onclick: doRun }, "Run"),
      el("button", { type: "button", id: "submit", class: "primary", onclick: doSubmit }, "Submit")),
  );
  append(main, [form, el("h2", {}, "Run"), runOut, el("h2", {}, "Judging"), progress]);
  const { createEditor } = await import("./editor.js");
  const draftKey = `cc-draft-${p.slug}-${select.value}`;
  const ed = createEditor(editorBox, localStorage.getItem(draftKey) || "", select.value, "Source code");
  window.__ccEditor = ed; // the browser tests type through it
  ed.view.contentDOM.addEventListener("input", () => localStorage.setItem(`cc-draft-${p.slug}-${select.value}`, ed.get()));
  select.addEventListener("change", async () => {
    ed.setLanguage(select.value);
    // The last language is remembered in the user's preferences.
    try {
      const prefs = { ...(user().preferences || {}), language: select.value };
      setUser(await api("PATCH", "/v1/users/me", { preferences: prefs }));
    } catch {
      /* not worth an error: the choice still applies here */
    }
  });

  let pendingRun = null;
  cleanups.push(onLive((m) => {
    if (m.type === "run" && pendingRun && m.id === pendingRun) showRun(m);
  }));
  async function doRun() {
    showError(form, null);
    clear(runOut).append(el("p", {}, "Running…"));
    try {
      const r = await api("POST", "/v1/runs", { language: select.value, source: ed.get(), stdin: stdin.value });
      pendingRun = r.id;
      // The answer comes live; if the socket is down, ask.
      pollRun(r.id);
    } catch (e) {
      clear(runOut);
      showError(form, e);
    }
  }
  async function pollRun(id) {
    for (let i = 0; i < 120 && pendingRun === id; i++) {
      await new Promise((r) => setTimeout(r, i < 10 ? 1000 : 2000));
      if (pendingRun !== id) return;
      try {
        const r = await api("GET", `/v1/runs/${id}`);
        if (r.status === "done") return showRun(r);
      } catch {
        /* next try */
      }
    }
  }
  function showRun(r) {
    pendingRun = null;
    clear(runOut);
    append(runOut, [
      el("p", { class: `verdict v-${r.verdict}`, id: "run-verdict" }, verdictNames[r.verdict] || r.verdict,
        r.verdict !== "CE" ? ` — ${r.cpuMs} ms CPU, ${r.wallMs} ms wall, ${r.memoryKib} KiB` : ""),
      r.compileOutput ? [el("h3", {}, "Compiler"), el("pre", { class: "out" }, r.compileOutput)] : null,
      r.message ? el("p", {}, r.message) : null,
      el("h3", {}, "Output"), el("pre", { class: "out", id: "run-stdout" }, r.stdout || ""),
      r.stdoutTruncated ? el("p", { class: "hint" }, "(cut at 64 KiB)") : null,
      el("h3", {}, "Errors"), el("pre", { class: "out", id: "run-stderr" }, r.stderr || ""),
    ]);
  }

  async function doSubmit() {
    showError(form, null);
    const key = crypto.randomUUID();
    try {
      const body = { problem: p.slug, language: select.value, source: ed.get() };
      if (contest) body.contest = contest.id;
      const s = await api("POST", "/v1/submissions", body, { headers: { "Idempotency-Key": key } });
      followSubmission(s, progress, true);
    } catch (e) {
      showError(form, e);
    }
  }
}

// Shows a submission's judging as it happens: compiling, then each test as
// it finishes, then the verdict. Live events first; after a reconnect (or
// if the socket never comes) the submission is read from the API.
function followSubmission(s, box, withLink) {
  const rows = el("tbody", {});
  const status = el("p", { class: "status", id: "judging-status" });
  const verdict = el("p", { class: "verdict", id: "verdict" });
  clear(box);
  append(box, [
    status, verdict,
    el("table", { class: "tests" }, el("caption", {}, "Tests"), el("thead", {}, el("tr", {}, ["#", "Verdict", "Time", "Memory"].map((h) => el("th", { scope: "col" }, h)))), rows),
    withLink ? el("p", {}, link(`/submissions/${s.id}`, "Submission page")) : null,
  ]);
  const seen = new Map();
  function showTest(i, t) {
    if (!t || seen.has(i)) return;
    const tr = el("tr", { "data-test": String(i) }, el("td", {}, String(i)), el("td", { class: `v-${t.verdict}` }, t.verdict, " ", el("span", { class: "sr-only" }, verdictNames[t.verdict] || "")), el("td", {}, `${t.cpuMs} ms`), el("td", {}, `${t.memoryKib} KiB`));
    seen.set(i, tr);
    const after = [...seen.keys()].filter((k) => k > i).sort((a, b) => a - b)[0];
    if (after !== undefined) rows.insertBefore(tr, seen.get(after));
    else rows.append(tr);
  }
  function apply(u) {
    if (u.status === "queued") status.textContent = "Queued";
    else if (u.status === "compiling") status.textContent = "Compiling";
    else if (u.status === "running") status.textContent = `Running test ${u.testIndex} of ${u.testCount}`;
    else if (u.status === "judged") status.textContent = "Judged";
    if (u.test) showTest(u.testIndex, u.test);
    for (const [i, t] of (u.tests || []).entries()) showTest(i + 1, t);
    if (u.status === "judged") {
      verdict.textContent = `${u.verdict} — ${verdictNames[u.verdict] || ""}`;
      verdict.className = `verdict v-${u.verdict}`;
      verdict.dataset.verdict = u.verdict;
      done = true;
      if (u.compileOutput) box.append(el("h3", {}, "Compiler output"), el("pre", { class: "out", id: "compile-output" }, u.compileOutput));
      else if (u.verdict === "CE" && !u.tests) reread();
    }
  }
  let done = false;
  async function reread() {
    try {
      const full = await api("GET", `/v1/submissions/${s.id}`);
      apply(full);
    } catch {
      /* the next event or reconnect tries again */
    }
  }
  apply(s);
  cleanups.push(onLive((m) => {
    if (m.type === "submission" && m.id === s.id && !done) {
      apply(m);
      if (m.status === "judged") reread(); // the stored result: every test, compiler output
    }
  }));
  cleanups.push(onReconnect(() => !done && reread()));
  // A safety net for a socket that never opens: read every few seconds.
  const t = setInterval(() => (done ? clearInterval(t) : reread()), 5000);
  cleanups.push(() => clearInterval(t));
}

// ---- signed in: history, a submission ----------------------------------------------------

async function submissionsPage() {
  needUser();
  setTitle("Submissions");
  const list = el("div", {});
  append(main, [el("h1", {}, "Your submissions"), list]);
  const stack = [];
  async function load(cursor) {
    const r = await api("GET", "/v1/submissions" + qs({ cursor, pageSize: 20 }));
    clear(list);
    const subs = r.submissions || [];
    append(list, subs.length
      ? el("table", {}, el("caption", { class: "sr-only" }, "Submissions"), el("thead", {}, el("tr", {}, ["When", "Problem", "Language", "Verdict"].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, subs.map((s) => el("tr", {},
            el("td", {}, link(`/submissions/${s.id}`, formatTime(s.createdAt))),
            el("td", {}, link(`/problems/${s.problem}`, s.problem)),
            el("td", {}, s.language),
            el("td", { class: `v-${s.verdict}` }, s.verdict || s.status)))))
      : el("p", {}, "No submissions yet."));
    const pager = el("div", { class: "pager" });
    if (stack.length) pager.append(el("button", { type: "button", onclick: () => { stack.pop(); load(stack[stack.length - 1] || ""); } }, "Previous page"));
    if (r.nextCursor) pager.append(el("button", { type: "button", onclick: () => { stack.push(r.nextCursor); load(r.nextCursor); } }, "Next page"));
    list.append(pager);
  }
  await load("");
}

async function submissionPage(m) {
  needUser();
  const s = await api("GET", `/v1/submissions/${m[1]}`);
  setTitle(`Submission ${s.id.slice(0, 8)}`);
  const progress = el("div", { class: "progress", "aria-live": "polite" });
  const files = (s.files || []).map((f) => {
    let text = "";
    try {
      text = new TextDecoder().decode(Uint8Array.from(atob(f.content || ""), (c) => c.charCodeAt(0)));
    } catch {
      text = "(not text)";
    }
    return [el("h3", {}, f.name), el("pre", { class: "out source" }, text)];
  });
  append(main, [
    el("h1", {}, "Submission"),
    el("dl", { class: "limits" },
      el("dt", {}, "Problem"), el("dd", {}, link(`/problems/${s.problem}`, s.problem)),
      el("dt", {}, "Version judged"), el("dd", {}, el("code", {}, (s.problemVersion || "").slice(0, 12))),
      el("dt", {}, "Language"), el("dd", {}, s.language),
      el("dt", {}, "Submitted"), el("dd", {}, formatTime(s.createdAt)),
      el("dt", {}, "Judged"), el("dd", {}, s.judgedAt ? formatTime(s.judgedAt) : "not yet"),
      el("dt", {}, "Attempt"), el("dd", {}, String(s.attempt))),
    progress,
    s.message && s.verdict !== "CE" ? el("p", {}, s.message) : null,
    el("h2", {}, "Source"), files,
  ]);
  followSubmission(s, progress, false);
}

// ---- signed in: notifications, settings ---------------------------------------------------

async function notificationsPage() {
  needUser();
  setTitle("Notifications");
  const list = el("ul", { class: "notifications" });
  const markAll = el("button", { type: "button", onclick: async () => { await api("POST", "/v1/notifications/read-all", {}); await load(); refreshUnread(); } }, "Mark all read");
  append(main, [el("h1", {}, "Notifications"), markAll, list]);
  async function load() {
    const r = await api("GET", "/v1/notifications?pageSize=50");
    clear(list);
    for (const n of r.notifications || []) {
      const target = (n.link || "").replace(/^\/v1/, "");
      list.append(el("li", { class: n.read ? "read" : "unread" },
        el("p", { class: "n-title" }, target ? link(target, n.title) : n.title),
        el("p", {}, n.body), el("p", { class: "hint" }, formatTime(n.createdAt)),
        n.read ? null : el("button", { type: "button", onclick: async () => { await api("POST", `/v1/notifications/${n.id}/read`, {}); await load(); refreshUnread(); } }, "Mark read")));
    }
    if (!list.firstChild) list.append(el("li", {}, "Nothing yet."));
  }
  await load();
  cleanups.push(onLive((m) => m.type === "notification" && load()));
}

async function settingsPage() {
  const u = needUser();
  setTitle("Settings");
  const me = await api("GET", "/v1/users/me");
  const prefs = me.preferences || {};
  const profile = el("form", { class: "card", onsubmit: saveProfile },
    el("h2", {}, "Profile"),
    el("p", {}, `Signed in as ${me.username} (${human(me.role)}).`),
    field("Display name", el("input", { name: "displayName", value: me.displayName || "", maxlength: "64" })),
    field("Bio", el("textarea", { name: "bio", rows: "3" }, me.bio || "")),
    field("Theme", el("select", { name: "theme" }, [["light", "Light"], ["dark", "Dark"]].map(([v, l]) => el("option", { value: v, selected: (prefs.theme || "light") === v }, l)))),
    el("p", { class: "form-error", role: "alert" }),
    el("button", { type: "submit", class: "primary" }, "Save profile"),
    el("p", { class: "saved", role: "status" }));
  async function saveProfile(e) {
    e.preventDefault();
    const f = new FormData(profile);
    showError(profile, null);
    try {
      const body = { displayName: f.get("displayName"), bio: f.get("bio"), preferences: { ...prefs, theme: f.get("theme") } };
      const clearFields = [];
      if (!body.displayName) clearFields.push("display_name");
      if (!body.bio) clearFields.push("bio");
      if (clearFields.length) body.clearFields = clearFields;
      setUser(await api("PATCH", "/v1/users/me", body));
      profile.querySelector(".saved").textContent = "Saved.";
    } catch (err) {
      showError(profile, err);
    }
  }
  const np = await api("GET", "/v1/notifications/preferences");
  const events = el("fieldset", {}, el("legend", {}, "Notify me"));
  for (const pr of np.preferences || []) {
    const id = `np-${pr.event}-${pr.channel}`;
    events.append(el("div", { class: "check" },
      el("input", { type: "checkbox", id, checked: pr.enabled, "data-event": pr.event, "data-channel": pr.channel }),
      el("label", { for: id }, `${pr.event} by ${pr.channel === "inapp" ? "in-app notification" : pr.channel}`)));
  }
  const notif = el("form", { class: "card", onsubmit: async (e) => {
    e.preventDefault();
    const list = [...events.querySelectorAll("input")].map((i) => ({ event: i.dataset.event, channel: i.dataset.channel, enabled: i.checked }));
    try {
      await api("PUT", "/v1/notifications/preferences", { preferences: list });
      notif.querySelector(".saved").textContent = "Saved.";
    } catch (err) {
      showError(notif, err);
    }
  } }, el("h2", {}, "Notifications"), events, el("p", { class: "form-error", role: "alert" }), el("button", { type: "submit" }, "Save notifications"), el("p", { class: "saved", role: "status" }));
  append(main, [el("h1", {}, "Settings"), profile, notif]);
  void u;
}

// ---- sign in, register ----------------------------------------------------------------

function nextPath() {
  const n = new URLSearchParams(location.search).get("next") || "/";
  return n.startsWith("/") && !n.startsWith("//") ? n : "/";
}

function loginPage() {
  setTitle("Sign in");
  const form = el("form", { class: "card narrow", onsubmit: async (e) => {
    e.preventDefault();
    const f = new FormData(form);
    showError(form, null);
    try {
      await signIn(f.get("username"), f.get("password"));
      go(nextPath(), true);
    } catch (err) {
      showError(form, err);
    }
  } },
    el("h1", {}, "Sign in"),
    field("Username or email", el("input", { name: "username", autocomplete: "username", required: true })),
    field("Password", el("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    el("p", { class: "form-error", role: "alert" }),
    el("button", { type: "submit", class: "primary" }, "Sign in"),
    el("p", {}, "New here? ", link("/register", "Register")));
  main.append(form);
}

function registerPage() {
  setTitle("Register");
  const form = el("form", { class: "card narrow", onsubmit: async (e) => {
    e.preventDefault();
    const f = new FormData(form);
    showError(form, null);
    try {
      await register(f.get("username"), f.get("email"), f.get("password"));
      go("/", true);
    } catch (err) {
      showError(form, err);
    }
  } },
    el("h1", {}, "Register"),
    field("Username", el("input", { name: "username", autocomplete: "username", required: true }), "3 to 32 of a-z, 0-9, _ and -."),
    field("Email", el("input", { name: "email", type: "email", autocomplete: "email", required: true })),
    field("Password", el("input", { name: "password", type: "password", autocomplete: "new-password", required: true }), "At least 8 characters."),
    el("p", { class: "form-error", role: "alert" }),
    el("button", { type: "submit", class: "primary" }, "Create account"));
  main.append(form);
}

// ---- setters ------------------------------------------------------------------------------

function needSetter() {
  const u = needUser();
  if (u.role !== "ROLE_SETTER" && u.role !== "ROLE_ADMIN") throw new ApiError(403, { detail: "This page is for problem setters." });
  return u;
}

async function setterHome() {
  needSetter();
  setTitle("Setter");
  const r = await api("GET", "/v1/problems?mine=true&pageSize=100");
  append(main, [
    el("h1", {}, "Your problems"),
    el("p", { class: "actions" }, link("/setter/new", "New problem"), " ", link("/setter/upload", "Upload a package")),
    (r.problems || []).length
      ? el("table", {}, el("caption", { class: "sr-only" }, "Your problems"), el("thead", {}, el("tr", {}, ["Problem", "State", ""].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, r.problems.map((p) => el("tr", {}, el("td", {}, link(`/problems/${p.slug}`, p.title || p.slug)), el("td", {}, human(p.visibility)), el("td", {}, link(`/setter/problems/${p.slug}`, `Edit ${p.slug}`))))))
      : el("p", {}, "None yet."),
  ]);
}

async function problemEditor(slug) {
  needSetter();
  const p = slug ? await api("GET", `/v1/problems/${slug}`) : null;
  setTitle(p ? `Edit ${p.title}` : "New problem");
  const lim = (p && p.version && p.version.limits) || {};
  const md = el("textarea", { name: "statementMarkdown", rows: "14", spellcheck: "true" }, p ? p.statementMarkdown : "");
  const preview = el("div", { class: "statement preview", "aria-live": "polite" });
  const form = el("form", { class: "card", onsubmit: save },
    el("h1", {}, p ? `Edit ${p.slug}` : "New problem"),
    p ? null : field("Slug", el("input", { name: "slug", required: true }), "Lowercase letters, digits and dashes."),
    field("Title", el("input", { name: "title", value: p ? p.title : "", required: true })),
    field("Statement (Markdown, math in $…$)", md),
    el("div", { class: "field" }, el("button", { type: "button", onclick: showPreview }, "Preview statement")),
    preview,
    field("Tags (comma-separated)", el("input", { name: "tags", value: p ? (p.tags || []).join(", ") : "" })),
    field("Difficulty", el("select", { name: "difficulty" }, ["DIFFICULTY_EASY", "DIFFICULTY_MEDIUM", "DIFFICULTY_HARD"].map((d) => el("option", { value: d, selected: p && p.difficulty === d }, human(d))))),
    field("Time limit (ms)", el("input", { name: "limits.timeLimitMs", type: "number", min: "0", value: lim.timeLimitMs || "" })),
    field("Memory limit (MiB)", el("input", { name: "limits.memoryMib", type: "number", min: "0", value: lim.memoryMib || "" })),
    el("p", { class: "form-error", role: "alert" }),
    el("button", { type: "submit", class: "primary" }, "Save"),
    el("p", { class: "saved", role: "status" }));
  main.append(form);
  // The preview is cc-problem's own rendering of the text as it stands
  // (POST /v1/problems/preview), math typeset as the problem page does.
  async function showPreview() {
    showError(form, null);
    try {
      const r = await api("POST", "/v1/problems/preview", { statementMarkdown: md.value });
      clear(preview);
      preview.append(safeHtml(r.statementHtml));
      (await import("./math.js")).typeset(preview);
    } catch (err) {
      showError(form, err);
    }
  }
  async function save(e) {
    e.preventDefault();
    showError(form, null);
    const f = new FormData(form);
    const limits = { timeLimitMs: Number(f.get("limits.timeLimitMs")) || 0, memoryMib: Number(f.get("limits.memoryMib")) || 0 };
    const tags = String(f.get("tags") || "").split(",").map((t) => t.trim()).filter(Boolean);
    try {
      if (!p) {
        const made = await api("POST", "/v1/problems", { slug: f.get("slug"), title: f.get("title"), statementMarkdown: f.get("statementMarkdown"), tags, difficulty: f.get("difficulty"), limits });
        go(`/setter/problems/${made.slug}`);
      } else {
        const body = { title: f.get("title"), tags, replaceTags: true, difficulty: f.get("difficulty") };
        if (f.get("statementMarkdown") !== p.statementMarkdown) body.statementMarkdown = f.get("statementMarkdown");
        if (limits.timeLimitMs !== (lim.timeLimitMs || 0) || limits.memoryMib !== (lim.memoryMib || 0)) body.limits = limits;
        await api("PATCH", `/v1/problems/${p.slug}`, body);
        form.querySelector(".saved").textContent = "Saved.";
      }
    } catch (err) {
      showError(form, err);
    }
  }
  if (!p) return;
  // Publishing, versions, rejudge, download.
  const manage = el("section", { class: "card" }, el("h2", {}, "Publishing and versions"));
  const state = el("p", { id: "visibility" }, `State: ${human(p.visibility)}`);
  const out = el("p", { role: "status", class: "saved" });
  const publish = el("button", { type: "button", id: "publish", onclick: async () => {
    try {
      const vis = p.visibility === "VISIBILITY_PUBLIC" ? "VISIBILITY_DRAFT" : "VISIBILITY_PUBLIC";
      const np = await api("PATCH", `/v1/problems/${p.slug}`, { visibility: vis });
      p.visibility = np.visibility;
      state.textContent = `State: ${human(p.visibility)}`;
      publish.textContent = p.visibility === "VISIBILITY_PUBLIC" ? "Unpublish" : "Publish";
    } catch (err) {
      out.textContent = err.message;
    }
  } }, p.visibility === "VISIBILITY_PUBLIC" ? "Unpublish" : "Publish");
  const rejudge = el("button", { type: "button", onclick: async () => {
    try {
      const r = await api("POST", `/v1/problems/${p.slug}/rejudge`, {});
      out.textContent = `${r.count} submissions queued again.`;
    } catch (err) {
      out.textContent = err.message;
    }
  } }, "Rejudge all submissions");
  const download = el("button", { type: "button", onclick: () => downloadPackage(p.slug, out) }, "Download package");
  const versions = await api("GET", `/v1/problems/${p.slug}/versions`);
  append(manage, [state, el("p", { class: "actions" }, publish, " ", rejudge, " ", download), out,
    el("table", {}, el("caption", {}, "Versions"), el("thead", {}, el("tr", {}, ["#", "Made", "Tests", "Hash"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, (versions.versions || []).map((v) => el("tr", {}, el("td", {}, String(v.number)), el("td", {}, formatTime(v.createdAt)), el("td", {}, String(v.testCount)), el("td", {}, el("code", {}, (v.hash || "").slice(0, 12)))))))]);
  main.append(manage);
}

async function downloadPackage(slug, out) {
  try {
    out.textContent = "Preparing the package…";
    const blob = await api("POST", `/v1/problems/${slug}/export`, {});
    const parts = [];
    let offset = 0;
    for (;;) {
      const r = await api("GET", `/v1/blobs/${blob.sha256}?offset=${offset}`);
      const bytes = Uint8Array.from(atob(r.data || ""), (c) => c.charCodeAt(0));
      parts.push(bytes);
      offset += bytes.length;
      if (r.eof || bytes.length === 0) break;
    }
    const url = URL.createObjectURL(new Blob(parts, { type: "application/zip" }));
    const a = el("a", { href: url, download: `${slug}.zip` }, "save");
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    out.textContent = `Downloaded ${slug}.zip (${offset} bytes).`;
  } catch (err) {
    out.textContent = err.message;
  }
}

async function sha256Hex(buf) {
  const d = await crypto.subtle.digest("SHA-256", buf);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function b64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

// Messages of the package reader read "FILE: line N: TEXT"; grouped by file.
function byFile(lines) {
  const groups = new Map();
  for (const l of lines) {
    const m = /^([^:\s][^:]*?): (.*)$/s.exec(l);
    const file = m ? m[1] : "package";
    if (!groups.has(file)) groups.set(file, []);
    groups.get(file).push(m ? m[2] : l);
  }
  return el("dl", { class: "diags" }, [...groups].map(([f, msgs]) => [el("dt", {}, el("code", {}, f)), msgs.map((t) => el("dd", {}, t))]));
}

function uploadPage() {
  needSetter();
  setTitle("Upload a package");
  const file = el("input", { type: "file", name: "file", accept: ".zip,application/zip", required: true });
  const bar = el("progress", { id: "upload-progress", max: "100", value: "0", "aria-label": "Upload progress" });
  const result = el("div", { id: "import-result", "aria-live": "polite" });
  const form = el("form", { class: "card", onsubmit: upload },
    el("h1", {}, "Upload a problem package"),
    el("p", {}, "A Kattis / ICPC problem package as a zip: problem.yaml, data/sample, data/secret, and optionally output_validators/ and submissions/."),
    field("Package zip", file),
    field("Slug", el("input", { name: "slug", required: true }), "The problem's address: lowercase letters, digits and dashes."),
    el("div", { class: "check" }, el("input", { type: "checkbox", id: "publish-now", name: "publish" }), el("label", { for: "publish-now" }, "Publish at once")),
    el("p", { class: "form-error", role: "alert" }),
    el("button", { type: "submit", class: "primary" }, "Upload and import"),
    el("div", { class: "field" }, el("span", { class: "label" }, "Upload"), bar),
    result);
  main.append(form);
  async function upload(e) {
    e.preventDefault();
    showError(form, null);
    clear(result);
    const f = new FormData(form);
    const zip = new Uint8Array(await file.files[0].arrayBuffer());
    try {
      const sha = await sha256Hex(zip);
      let up = await api("POST", "/v1/uploads", { size: zip.length, sha256: sha });
      if (!up.exists) {
        const max = Math.max(1024, Math.min(up.maxChunk || 262144, 256 * 1024));
        let off = Number(up.received) || 0;
        while (off < zip.length) {
          const chunk = zip.subarray(off, off + max);
          up = await api("PUT", `/v1/uploads/${up.uploadId}`, { offset: off, data: b64(chunk) });
          off = Number(up.received);
          bar.value = Math.round((off / zip.length) * 100);
        }
        await api("POST", `/v1/uploads/${up.uploadId}/commit`, {});
      }
      bar.value = 100;
      const r = await api("POST", "/v1/problems/import", { sha256: sha, slug: f.get("slug"), visibility: f.get("publish") ? "VISIBILITY_PUBLIC" : "VISIBILITY_DRAFT" });
      append(result, [
        el("p", { class: "ok", id: "import-ok" }, r.created ? "Imported a new problem: " : r.newVersion ? "Imported a new version: " : "Unchanged: ", link(`/problems/${r.problem.slug}`, r.problem.title || r.problem.slug), " (", link(`/setter/problems/${r.problem.slug}`, "manage"), ")"),
        (r.warnings || []).length ? [el("h2", {}, "Warnings"), byFile(r.warnings)] : null,
      ]);
    } catch (err) {
      if (err.field && !form.querySelector(`[name="${CSS.escape(err.field)}"]`)) {
        // A package error: FILE: line N: TEXT, by file.
        append(result, [el("h2", {}, "The package was refused"), byFile(err.message.split("\n").filter(Boolean))]);
      } else {
        showError(form, err);
      }
    }
  }
}

// ---- admins -------------------------------------------------------------------------------

async function adminPage() {
  const u = needUser();
  if (u.role !== "ROLE_ADMIN") throw new ApiError(403, { detail: "This page is for admins." });
  setTitle("Users");
  const body = el("tbody", {});
  const status = el("p", { role: "status", class: "saved" });
  append(main, [el("h1", {}, "Users and roles"), status, el("table", {}, el("caption", { class: "sr-only" }, "Users"), el("thead", {}, el("tr", {}, ["User", "Email", "Role", "Disabled"].map((h) => el("th", { scope: "col" }, h)))), body)]);
  let token = "";
  do {
    const r = await api("GET", "/v1/admin/users" + qs({ pageSize: 100, pageToken: token }));
    for (const x of r.users || []) {
      const role = el("select", { "aria-label": `Role of ${x.username}` }, ["ROLE_USER", "ROLE_SETTER", "ROLE_ADMIN"].map((ro) => el("option", { value: ro, selected: x.role === ro }, human(ro))));
      role.addEventListener("change", async () => {
        try {
          await api("PUT", `/v1/admin/users/${x.id}/role`, { role: role.value });
          status.textContent = `${x.username} is now ${human(role.value)}.`;
        } catch (err) {
          status.textContent = err.message;
        }
      });
      const dis = el("input", { type: "checkbox", checked: x.disabled, "aria-label": `Disable ${x.username}` });
      dis.addEventListener("change", async () => {
        try {
          await api("PUT", `/v1/admin/users/${x.id}/disabled`, { disabled: dis.checked });
          status.textContent = `${x.username} is ${dis.checked ? "disabled" : "enabled"}.`;
        } catch (err) {
          status.textContent = err.message;
        }
      });
      body.append(el("tr", { "data-user": x.username }, el("td", {}, x.username, x.displayName ? ` (${x.displayName})` : ""), el("td", {}, x.email), el("td", {}, role), el("td", {}, dis)));
    }
    token = r.nextPageToken;
  } while (token);
  await judgesSection();
}

// The judges: state, jobs, heartbeat, sandbox, version; drain, disable, enable.
async function judgesSection() {
  const body = el("tbody", {});
  const queue = el("p", { id: "judge-queue" });
  const status = el("p", { role: "status", class: "saved" });
  append(main, [el("h2", {}, "Judges"), queue, status, el("table", { id: "judges" }, el("caption", { class: "sr-only" }, "Judges"), el("thead", {}, el("tr", {}, ["Judge", "State", "Jobs", "Done", "Heard", "Sandbox", "Version", "Order"].map((h) => el("th", { scope: "col" }, h)))), body)]);
  async function load() {
    const r = await api("GET", "/v1/admin/judges");
    clear(body);
    queue.textContent = `Queue: ${Number(r.queueDepth || 0)} waiting` + (Number(r.queueDepth || 0) ? `, the oldest for ${Math.round(Number(r.oldestQueuedMs || 0) / 1000)} s.` : ".");
    for (const j of r.judges || []) {
      const heard = Math.max(0, Math.round((Date.now() - Number(j.heartbeatAtMs || 0)) / 1000));
      const order = (action, label) => el("button", { type: "button", onclick: async () => {
        try {
          await api("PUT", `/v1/admin/judges/${encodeURIComponent(j.id)}/state`, { action });
          status.textContent = `${j.id}: ${label.toLowerCase()} ordered.`;
          // The judge obeys when the order reaches it, and says so.
          for (const ms of [1000, 4000]) setTimeout(() => load().catch(() => {}), ms);
        } catch (err) {
          status.textContent = err.message;
        }
      } }, label);
      const actions = j.state === "gone" ? [] : j.state === "draining" || j.state === "drained" || j.state === "disabled" ? [order("enable", "Enable")] : [order("drain", "Drain"), " ", order("disable", "Disable")];
      const box = j.box || {};
      body.append(el("tr", { "data-judge": j.id, "data-state": j.state }, el("td", {}, j.id), el("td", {}, j.state), el("td", {}, String((j.jobs || []).length)), el("td", {}, String(Number(j.jobsDone || 0))), el("td", {}, `${heard} s ago`), el("td", {}, box.cgroup ? "cgroup" : "rlimits"), el("td", {}, j.version || ""), el("td", {}, actions)));
    }
  }
  await load();
}

// ---- start ------------------------------------------------------------------------------------

window.__cc = { dropLive, go };
frame();
restore().finally(render);
