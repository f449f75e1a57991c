// The contest pages and the profile, a chunk of their own (loaded by the
// routes that show them, so the first page stays small): the contest list,
// a contest with its problems and countdown, the live scoreboard (frozen
// for the public during the freeze), clarifications, and a user's
// statistics with recommendations. They read cc-contest and cc-stats
// through the public API and follow a contest's live channel (live.js).
import { api, ApiError, human, qs, user } from "./api.js";
import { append, clear, el, field, formatTime, link, showError } from "./dom.js";
import { followContest, onLive, onReconnect } from "./live.js";

// ctx (from main.js): main() the page's <main>, setTitle, cleanup(fn) run
// when the page is left, needUser() the signed-in user or a 401.

// ---- time -----------------------------------------------------------------------

// A contest's times in ms and where now falls: upcoming, running, ended.
// The freeze applies from freezeAt until the jury unfreezes.
function phase(c, now = Date.now()) {
  const start = c.startAt ? Date.parse(c.startAt) : 0; // RFC 3339
  const end = start + Number(c.durationS || 0) * 1000;
  const freezeAt = Number(c.freezeS || 0) > 0 ? end - Number(c.freezeS) * 1000 : 0;
  const name = now < start ? "upcoming" : now < end ? "running" : "ended";
  return { name, start, end, freezeAt, frozen: !!freezeAt && now >= freezeAt && !c.unfrozenAt };
}

// 3725 s -> "1:02:05"; a day or more -> "2 d 1:02:05".
function span(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const hms = `${h}:${String(m).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
  return d ? `${d} d ${hms}` : hms;
}

function length(s) {
  const m = Math.round(Number(s || 0) / 60);
  return m % 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m / 60} h`;
}

function countdownText(c) {
  const p = phase(c);
  if (p.name === "upcoming") return `Starts in ${span(p.start - Date.now())}`;
  if (p.name === "running") return `Ends in ${span(p.end - Date.now())}`;
  return "Ended";
}

const phaseWords = { upcoming: "Upcoming", running: "Running", ended: "Ended" };
const scoringWords = { SCORING_IOI: "IOI (points per subtask)", SCORING_ICPC: "ICPC (solved, then penalty)" };

// A problem's colour as a small square (the label beside it carries the
// meaning; the colour only echoes the balloon).
function swatch(p) {
  const s = el("span", { class: "swatch", "aria-hidden": "true" });
  if (/^#[0-9a-fA-F]{6}$/.test(p.rgb || "")) s.style.backgroundColor = p.rgb;
  else s.classList.add("swatch-none");
  return s;
}

function contestNav(c, here) {
  const items = [
    [`/contests/${c.id}`, "Problems"],
    [`/contests/${c.id}/scoreboard`, "Scoreboard"],
    [`/contests/${c.id}/clarifications`, "Clarifications"],
  ];
  return el("nav", { class: "subnav", "aria-label": "Contest" }, el("ul", {}, items.map(([h, t]) =>
    el("li", {}, h === here ? el("a", { href: h, "data-app": "1", "aria-current": "page" }, t) : link(h, t)))));
}

// A timer that re-runs fn every second until the page is left.
function everySecond(ctx, fn) {
  const t = setInterval(fn, 1000);
  ctx.cleanup(() => clearInterval(t));
}

// ---- the list ---------------------------------------------------------------------

export async function contestList(ctx) {
  ctx.setTitle("Contests");
  const list = el("div", { "aria-live": "polite" });
  append(ctx.main(), [el("h1", {}, "Contests"), list]);
  const stack = [];
  async function load(cursor) {
    const r = await api("GET", "/v1/contests" + qs({ pageSize: 20, cursor }));
    clear(list);
    const cs = r.contests || [];
    append(list, cs.length
      ? el("table", { id: "contests" }, el("caption", { class: "sr-only" }, "Contests"),
          el("thead", {}, el("tr", {}, ["Contest", "Starts", "Length", "State", ""].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, cs.map((c) => el("tr", { "data-contest": c.id },
            el("td", {}, link(`/contests/${c.id}`, c.title || c.id)),
            el("td", {}, formatTime(c.startAt)),
            el("td", {}, length(c.durationS)),
            el("td", { class: `phase-${phase(c).name}` }, phaseWords[phase(c).name], c.myTeam ? " · registered" : "", c.isJury ? " · jury" : ""),
            el("td", {}, link(`/contests/${c.id}/scoreboard`, `Scoreboard of ${c.title || c.id}`))))))
      : el("p", {}, "No contests yet."));
    const pager = el("div", { class: "pager" });
    if (stack.length) pager.append(el("button", { type: "button", onclick: () => { stack.pop(); load(stack[stack.length - 1] || ""); } }, "Previous page"));
    if (r.nextCursor) pager.append(el("button", { type: "button", onclick: () => { stack.push(r.nextCursor); load(r.nextCursor); } }, "Next page"));
    list.append(pager);
  }
  await load("");
}

// ---- a contest: problems, countdown, registration ---------------------------------------

export async function contestPage(ctx, id) {
  let c = await api("GET", `/v1/contests/${id}`);
  ctx.setTitle(c.title || c.id);
  const countdown = el("p", { class: "countdown", id: "countdown", role: "timer", "aria-atomic": "true" }, countdownText(c));
  const p0 = phase(c);
  const facts = el("dl", { class: "limits" },
    el("dt", {}, "Starts"), el("dd", {}, formatTime(new Date(p0.start).toISOString())),
    el("dt", {}, "Length"), el("dd", {}, length(c.durationS)),
    el("dt", {}, "Scoring"), el("dd", {}, scoringWords[c.scoring] || scoringWords.SCORING_ICPC),
    el("dt", {}, "Freeze"), el("dd", {}, p0.freezeAt ? `the last ${Math.round(Number(c.freezeS) / 60)} min, until the jury unfreezes` : "none"));
  const you = el("section", { class: "card", id: "taking-part", "aria-labelledby": "taking-part-h" });
  const problems = el("section", { "aria-labelledby": "problems-h" });
  append(ctx.main(), [el("h1", {}, c.title || c.id), contestNav(c, `/contests/${c.id}`), countdown, facts, you, problems]);
  let shownPhase = "";
  function draw() {
    const p = phase(c);
    shownPhase = p.name;
    clear(you);
    you.append(el("h2", { id: "taking-part-h" }, "Taking part"));
    if (c.isJury) you.append(el("p", {}, "You are on this contest's jury: you see the full scoreboard and answer clarifications."));
    else if (c.myTeam) you.append(el("p", { id: "registered" }, `You are registered (team ${c.myTeam}).`));
    else if (!user()) you.append(el("p", {}, link(`/login?next=/contests/${c.id}`, "Sign in"), " to register."));
    else if (p.name === "ended") you.append(el("p", {}, "This contest is over."));
    else you.append(registerForm());
    clear(problems);
    problems.append(el("h2", { id: "problems-h" }, "Problems"));
    const canSubmit = p.name === "running" && (c.myTeam || c.isJury);
    const ps = c.problems || [];
    problems.append(ps.length
      ? el("table", { id: "contest-problems" }, el("caption", { class: "sr-only" }, "Problems"),
          el("thead", {}, el("tr", {}, ["Label", "Problem", "Time limit", ""].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, ps.map((q) => el("tr", { "data-label": q.label },
            el("td", {}, swatch(q), " ", el("strong", {}, q.label), q.color ? el("span", { class: "sr-only" }, ` (${q.color})`) : null),
            el("td", {}, link(`/problems/${q.problem}?contest=${c.id}`, q.name || q.problem)),
            el("td", {}, Number(q.timeLimit) ? `${q.timeLimit} s` : "—"),
            el("td", {}, canSubmit ? link(`/problems/${q.problem}?contest=${c.id}`, `Submit ${q.label}`) : p.name === "upcoming" ? "opens at the start" : "")))))
      : el("p", {}, "No problems yet."));
  }
  function registerForm() {
    const form = el("form", { class: "register", onsubmit: async (e) => {
      e.preventDefault();
      showError(form, null);
      const f = new FormData(form);
      const body = {};
      if (f.get("teamName")) body.teamName = f.get("teamName");
      if (f.get("inviteCode")) body.inviteCode = f.get("inviteCode");
      try {
        await api("POST", `/v1/contests/${c.id}/register`, body);
        c = await api("GET", `/v1/contests/${c.id}`);
        draw();
        const r = document.getElementById("registered");
        if (r) r.setAttribute("role", "status");
      } catch (err) {
        showError(form, err);
      }
    } },
      c.teamRegistration
        ? field("Team name", el("input", { name: "teamName", maxlength: "100" }), "A new team; to join one, ask its members for the invite code.")
        : field("Name on the scoreboard", el("input", { name: "teamName", maxlength: "100", value: user().displayName || user().username || "" })),
      c.registrationOpen ? null : field("Invite code", el("input", { name: "inviteCode", required: true }), "Registration is closed: the organisers give out a code."),
      el("p", { class: "form-error", role: "alert" }),
      el("button", { type: "submit", class: "primary", id: "register" }, "Register"));
    return form;
  }
  draw();
  // The countdown, and the page again when the contest starts or ends.
  everySecond(ctx, () => {
    countdown.textContent = countdownText(c);
    if (phase(c).name !== shownPhase) draw();
  });
}

// ---- the scoreboard ------------------------------------------------------------------------

export async function scoreboardPage(ctx, id) {
  const c = await api("GET", `/v1/contests/${id}`);
  ctx.setTitle(`Scoreboard: ${c.title || c.id}`);
  const status = el("div", { id: "board-status" });
  const said = el("p", { class: "saved", id: "board-said", role: "status" });
  const countdown = el("p", { class: "countdown", id: "countdown" }, countdownText(c));
  const table = el("div", { id: "board" });
  let publicView = false;
  const juryTools = c.isJury
    ? el("div", { class: "actions" },
        el("div", { class: "check" }, el("input", { type: "checkbox", id: "public-view", onchange: (e) => { publicView = e.target.checked; reread(); } }), el("label", { for: "public-view" }, "Show what the public sees")),
        Number(c.freezeS || 0) > 0 ? el("button", { type: "button", id: "unfreeze", onclick: unfreeze }, "Unfreeze the scoreboard") : null)
    : null;
  append(ctx.main(), [el("h1", {}, `Scoreboard: ${c.title || c.id}`), contestNav(c, `/contests/${c.id}/scoreboard`), countdown, status, juryTools, said, table]);
  let board = null;
  let pushes = 0;
  async function reread() {
    board = await api("GET", `/v1/contests/${id}/scoreboard` + qs({ publicView }));
    draw();
  }
  async function unfreeze() {
    try {
      await api("POST", `/v1/contests/${id}/unfreeze`, {});
      c.unfrozenAt = new Date().toISOString();
      said.textContent = "Unfrozen: the public sees every result.";
      await reread();
    } catch (err) {
      said.textContent = err.message;
    }
  }
  function draw() {
    const icpc = board.scoring !== "SCORING_IOI";
    const probs = board.problems || c.problems || [];
    clear(status);
    status.dataset.frozen = board.frozen ? "true" : "false";
    if (board.frozen) {
      status.className = "frozen";
      append(status, [el("strong", {}, "The scoreboard is frozen."), ` Results of the last ${Math.round(Number(c.freezeS) / 60)} minutes show as pending until the jury unfreezes it.`]);
    } else {
      status.className = "";
      if (board.juryView) status.append(el("p", {}, "Jury view: every result counted, including those the freeze hides from the public."));
    }
    const head = el("tr", {},
      el("th", { scope: "col" }, "Rank"), el("th", { scope: "col" }, "Team"),
      el("th", { scope: "col" }, icpc ? "Solved" : "Score"), icpc ? el("th", { scope: "col" }, "Penalty") : null,
      probs.map((q) => el("th", { scope: "col", class: "prob" }, swatch(q), " ", q.label)));
    const rows = (board.rows || []).map((r) => {
      const byLabel = new Map((r.cells || []).map((x) => [x.label, x]));
      return el("tr", { "data-team": r.teamId, "data-team-name": r.teamName, class: r.teamId === c.myTeam ? "mine" : "" },
        el("td", {}, String(r.rank || "")),
        el("th", { scope: "row" }, r.teamName || r.teamId, r.organization ? el("span", { class: "hint" }, ` ${r.organization}`) : null),
        el("td", { class: "num" }, icpc ? String(r.solved || 0) : fmtScore(r.score)),
        icpc ? el("td", { class: "num" }, String(r.penalty || 0)) : null,
        probs.map((q) => cell(byLabel.get(q.label), icpc, q.label)));
    });
    clear(table);
    table.append(rows.length
      ? el("table", { id: "scoreboard", class: "board", "data-pushes": String(pushes), "data-frozen": board.frozen ? "true" : "false" },
          el("caption", { class: "sr-only" }, "Scoreboard"), el("thead", {}, head), el("tbody", {}, rows))
      : el("p", {}, "No team yet."));
  }
  // A pushed update: the rows of the teams that changed, as this view sees
  // them. They are shown at once; other teams' ranks may move, so the
  // whole board is read again shortly after (one read for a burst).
  let rereadTimer = 0;
  function onPush(m) {
    if (m.type !== "scoreboard" || !board) return;
    pushes++;
    const juryPush = m.view === "jury";
    if (juryPush === !!board.juryView) {
      const rows = new Map((board.rows || []).map((r) => [r.teamId, r]));
      for (const r of m.rows || []) rows.set(r.teamId, r);
      board.rows = [...rows.values()].sort((a, b) => (a.rank || 1e9) - (b.rank || 1e9) || String(a.teamName).localeCompare(String(b.teamName)));
      draw();
    }
    clearTimeout(rereadTimer);
    rereadTimer = setTimeout(() => reread().catch(() => {}), 400);
  }
  await reread();
  const stop = followContest(id, onPush, () => reread().catch(() => {}));
  if (stop) ctx.cleanup(stop);
  ctx.cleanup(() => clearTimeout(rereadTimer));
  // Anyone without a socket (not signed in) reads it every 15 s; the
  // freeze and the end, which no push announces, are read when they come.
  let shown = phase(c);
  let ticks = 0;
  everySecond(ctx, () => {
    countdown.textContent = countdownText(c);
    const p = phase(c);
    if (p.name !== shown.name || p.frozen !== shown.frozen || (!stop && ++ticks % 15 === 0)) reread().catch(() => {});
    shown = p;
  });
}

function fmtScore(x) {
  const n = Number(x || 0);
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

// One team's result on one problem. ICPC: the minute of the AC and the
// tries; pending tries (not judged yet, or hidden by the freeze) as "?".
function cell(x, icpc, label) {
  const td = el("td", { class: "cell", "data-label": label });
  if (!x) return td;
  const tries = Number(x.tries || 0);
  const pending = Number(x.pending || 0);
  td.dataset.solved = x.solved ? "true" : "false";
  td.dataset.pending = String(pending);
  if (icpc) {
    if (x.solved) {
      td.classList.add(x.firstToSolve ? "first" : "solved");
      append(td, [`${x.timeMinutes || 0} min`, el("br"), `${tries} ${tries === 1 ? "try" : "tries"}`, x.firstToSolve ? el("span", { class: "sr-only" }, ", first to solve") : null]);
    } else if (pending) {
      td.classList.add("pending");
      append(td, [`${pending} pending`, tries ? [el("br"), `${tries} rejected`] : null]);
    } else if (tries) {
      td.classList.add("failed");
      td.append(`${tries} rejected`);
    }
  } else {
    if (x.solved || Number(x.score)) td.classList.add(x.solved ? "solved" : "partial");
    td.append(fmtScore(x.score));
    if (pending) append(td, [el("br"), `${pending} pending`]);
  }
  return td;
}

// ---- clarifications ---------------------------------------------------------------------------

export async function clarificationsPage(ctx, id) {
  const c = await api("GET", `/v1/contests/${id}`);
  ctx.setTitle(`Clarifications: ${c.title || c.id}`);
  const list = el("div", { id: "clarifications", "aria-live": "polite" });
  const labels = (c.problems || []).map((q) => q.label);
  const canAsk = user() && (c.myTeam || c.isJury);
  const form = canAsk
    ? el("form", { class: "card", id: "ask", onsubmit: ask },
        el("h2", {}, c.isJury ? "Announce to everyone" : "Ask the jury"),
        field("About", el("select", { name: "problem" }, el("option", { value: "" }, "The contest in general"), (c.problems || []).map((q) => el("option", { value: q.label }, `${q.label}: ${q.name || q.problem}`)))),
        field("Text", el("textarea", { name: "text", rows: "3", required: true, maxlength: "2000" })),
        el("p", { class: "form-error", role: "alert" }),
        el("button", { type: "submit", class: "primary" }, c.isJury ? "Announce" : "Send the question"),
        el("p", { class: "saved", role: "status" }))
    : el("p", { class: "note" }, user() ? "Register for the contest to ask the jury." : link(`/login?next=/contests/${c.id}/clarifications`, "Sign in"), user() ? "" : " to ask the jury.");
  append(ctx.main(), [el("h1", {}, `Clarifications: ${c.title || c.id}`), contestNav(c, `/contests/${c.id}/clarifications`), form, el("h2", {}, "Questions and answers"), list]);
  async function ask(e) {
    e.preventDefault();
    showError(form, null);
    const f = new FormData(form);
    try {
      await api("POST", `/v1/contests/${id}/clarifications`, { problem: f.get("problem") || "", text: f.get("text") });
      form.querySelector("textarea").value = "";
      form.querySelector(".saved").textContent = c.isJury ? "Announced." : "Sent: the answer will appear below.";
      await load();
    } catch (err) {
      showError(form, err);
    }
  }
  async function load() {
    const r = await api("GET", `/v1/contests/${id}/clarifications`);
    const all = r.clarifications || [];
    const answers = new Map();
    for (const k of all) if (k.replyTo) (answers.get(k.replyTo) || answers.set(k.replyTo, []).get(k.replyTo)).push(k);
    const top = all.filter((k) => !k.replyTo).reverse(); // newest first
    clear(list);
    if (!top.length) {
      list.append(el("p", {}, "Nothing yet."));
      return;
    }
    list.append(el("ul", { class: "clars" }, top.map((k) => {
      const re = answers.get(k.id) || [];
      const about = k.problem && labels.includes(k.problem) ? `Problem ${k.problem}` : "General";
      const who = k.fromTeam ? (k.fromTeam === c.myTeam ? "your team" : `team ${k.fromTeam}`) : "the jury";
      return el("li", { class: k.fromTeam ? "question" : "announcement", "data-id": k.id },
        el("p", { class: "hint" }, `${k.fromTeam ? "Question" : "Announcement"} · ${about} · from ${who} · ${formatTime(new Date(Number(k.timeMs || 0)).toISOString())}`),
        el("p", { class: "clar-text" }, k.text),
        re.map((a) => el("div", { class: "answer", "data-reply-to": k.id },
          el("p", { class: "hint" }, `Answer from the jury${a.toTeam ? "" : ", to everyone"} · ${formatTime(new Date(Number(a.timeMs || 0)).toISOString())}`),
          el("p", { class: "clar-text" }, a.text))),
        k.fromTeam && !re.length ? (c.isJury ? answerForm(k) : el("p", { class: "hint waiting" }, "Not answered yet.")) : null);
    })));
  }
  function answerForm(k) {
    const f = el("form", { class: "answer-form", onsubmit: async (e) => {
      e.preventDefault();
      showError(f, null);
      const d = new FormData(f);
      try {
        await api("POST", `/v1/contests/${id}/clarifications/${k.id}/answer`, { text: d.get("text"), toAll: !!d.get("toAll") });
        await load();
      } catch (err) {
        showError(f, err);
      }
    } },
      field(`Answer to ${k.fromTeam}`, el("textarea", { name: "text", rows: "2", required: true })),
      el("div", { class: "check" }, el("input", { type: "checkbox", name: "toAll", id: `to-all-${k.id}` }), el("label", { for: `to-all-${k.id}` }, "To everyone")),
      el("p", { class: "form-error", role: "alert" }),
      el("button", { type: "submit" }, "Answer"));
    return f;
  }
  await load();
  // Public answers and announcements come on the contest's channel; an
  // answer to the user's team alone comes as their notification.
  const reload = () => load().catch(() => {});
  const stop = followContest(id, (m) => m.type === "clarification" && reload(), reload);
  if (stop) ctx.cleanup(stop);
  ctx.cleanup(onLive((m) => m.type === "notification" && m.event === "clarification" && reload()));
  ctx.cleanup(onReconnect(reload));
}

// ---- profile: statistics and recommendations ------------------------------------------------

export async function profilePage(ctx, userId) {
  const mine = !userId || (user() && user().id === userId);
  if (mine) ctx.needUser();
  const s = await api("GET", `/v1/users/${mine ? "me" : userId}/stats`);
  ctx.setTitle(mine ? "Your profile" : "Profile");
  const u = mine ? user() : null;
  const rate = Number(s.acceptanceRate || 0);
  const days = (n) => `${n || 0} ${Number(n) === 1 ? "day" : "days"}`;
  const stats = el("section", { class: "card", id: "stats", "aria-labelledby": "stats-h" },
    el("h2", { id: "stats-h" }, "Statistics"),
    el("dl", { class: "limits stats" },
      el("dt", {}, "Solved"), el("dd", { id: "stat-solved" }, String(s.solved || 0)),
      el("dt", {}, "Attempted"), el("dd", { id: "stat-attempted" }, String(s.attempted || 0)),
      el("dt", {}, "Submissions"), el("dd", {}, `${s.submissions || 0}, ${s.accepted || 0} accepted (${Math.round(rate * 100)}%)`),
      el("dt", {}, "Streak"), el("dd", { id: "stat-streak" }, `${days(s.currentStreak)} now, ${days(s.longestStreak)} at most`)),
    (s.tags || []).length
      ? el("table", { id: "by-tag" }, el("caption", {}, "By tag"), el("thead", {}, el("tr", {}, ["Tag", "Solved", "Attempted"].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, s.tags.map((t) => el("tr", { "data-tag": t.tag }, el("td", {}, el("span", { class: "tag" }, t.tag)), el("td", { class: "num" }, String(t.solved || 0)), el("td", { class: "num" }, String(t.attempted || 0))))))
      : el("p", {}, "No tagged problem tried yet."),
    (s.difficulties || []).length
      ? el("table", { id: "by-difficulty" }, el("caption", {}, "By difficulty"), el("thead", {}, el("tr", {}, ["Difficulty", "Solved", "Attempted"].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, s.difficulties.map((d) => el("tr", {}, el("td", {}, human(d.difficulty)), el("td", { class: "num" }, String(d.solved || 0)), el("td", { class: "num" }, String(d.attempted || 0))))))
      : null);
  append(ctx.main(), [el("h1", {}, mine ? `${u.displayName || u.username}` : "Profile"), stats]);
  if (!mine) return;
  const reco = el("section", { class: "card", id: "recommendations", "aria-labelledby": "reco-h" }, el("h2", { id: "reco-h" }, "Try next"));
  ctx.main().append(reco);
  try {
    const r = await api("GET", "/v1/users/me/recommendations?limit=10");
    const rs = r.recommendations || [];
    reco.append(rs.length
      ? el("ol", { class: "recos" }, rs.map((x) => el("li", { "data-problem": x.problem },
          link(`/problems/${x.problem}`, x.title || x.problem), " ",
          el("span", { class: "hint" }, human(x.difficulty)), " ",
          (x.tags || []).map((t) => el("span", { class: "tag" }, t)),
          el("p", { class: "reason" }, x.reason))))
      : el("p", {}, "Nothing to suggest yet: every public problem is solved."));
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    reco.append(el("p", { class: "error" }, err.message));
  }
  ctx.main().append(el("p", {}, link("/settings", "Settings"), " · ", link("/submissions", "Your submissions")));
}
