// The public API, as the app uses it. The access token lives in this
// module's memory only; the refresh token is an HttpOnly cookie the
// gateway sets on /v1/auth/session, which script never sees. A page load
// asks /v1/auth/session/refresh for a new access token; refreshes are
// serialised across tabs (Web Locks), since a refresh token is single use.

let access = "";
let accessUntil = 0; // ms epoch
let me = null;
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    const p = problem || {};
    super(p.detail || p.title || `HTTP ${status}`);
    this.status = status;
    this.type = p.type || "";
    this.title = p.title || "";
    this.field = p.field || "";
    this.retryAfter = retryAfter; // seconds, for a 429
    if (status === 429 && retryAfter)
      this.message = `${p.detail || "Too many requests"} — try again in ${retryAfter} s.`;
  }
}

export function user() {
  return me;
}
export function token() {
  return access;
}
export function onSession(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
function setSession(pair) {
  access = pair ? pair.accessToken : "";
  accessUntil = pair ? Date.now() + (Number(pair.expiresIn) || 300) * 1000 : 0;
  if (pair && pair.user) me = pair.user;
  if (!pair) me = null;
  for (const fn of listeners) fn(me);
}
export function setUser(u) {
  me = u;
  for (const fn of listeners) fn(me);
}

async function raw(method, path, body, bearer, extraHeaders) {
  const headers = { Accept: "application/json", ...(extraHeaders || {}) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (e) {
    throw new ApiError(0, { title: "Network error", detail: "The server cannot be reached; check your connection." });
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) throw new ApiError(res.status, data, Number(res.headers.get("Retry-After")) || 0);
  return data;
}

let refreshing = null;
// A new access token from the session cookie; false when there is no
// session (or it ended).
export function refresh() {
  if (refreshing) return refreshing;
  const run = async () => {
    try {
      setSession(await raw("POST", "/v1/auth/session/refresh", {}));
      return true;
    } catch (e) {
      if (e.status === 401 || e.status === 403) setSession(null);
      return false;
    }
  };
  refreshing = (navigator.locks ? navigator.locks.request("cc-session-refresh", run) : run()).finally(() => {
    refreshing = null;
  });
  return refreshing;
}

// Calls the API. A signed-in call refreshes an access token about to end,
// and once more on a 401.
export async function api(method, path, body, opts = {}) {
  if (access && Date.now() > accessUntil - 30000) await refresh();
  try {
    return await raw(method, path, body, access, opts.headers);
  } catch (e) {
    if (e.status === 401 && access && !opts.retried && (await refresh()))
      return api(method, path, body, { ...opts, retried: true });
    throw e;
  }
}

export async function signIn(username, password) {
  setSession(await raw("POST", "/v1/auth/session", { username, password }));
  return me;
}

export async function register(username, email, password) {
  await raw("POST", "/v1/users", { username, email, password });
  return signIn(username, password);
}

export async function signOut() {
  try {
    await api("DELETE", "/v1/auth/session");
  } finally {
    setSession(null);
  }
}

export async function restore() {
  if (await refresh()) {
    try {
      setUser(await api("GET", "/v1/users/me"));
    } catch {
      /* the token pair already named the user */
    }
  }
  return me;
}

export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "" && v !== false) p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : "";
}

// A person never reads enum names such as ROLE_USER.
const words = {
  ROLE_USER: "User", ROLE_SETTER: "Setter", ROLE_ADMIN: "Admin", ROLE_UNSPECIFIED: "—",
  DIFFICULTY_EASY: "Easy", DIFFICULTY_MEDIUM: "Medium", DIFFICULTY_HARD: "Hard", DIFFICULTY_UNSPECIFIED: "—",
  VISIBILITY_DRAFT: "Draft", VISIBILITY_PUBLIC: "Published", VISIBILITY_UNSPECIFIED: "—",
  PROBLEM_TYPE_PASS_FAIL: "Pass-fail", PROBLEM_TYPE_SCORING: "Scoring", PROBLEM_TYPE_INTERACTIVE: "Interactive",
  PROBLEM_TYPE_INTERACTIVE_SCORING: "Interactive, scoring", PROBLEM_TYPE_UNSPECIFIED: "—",
};
export function human(enumName) {
  return words[enumName] || enumName || "";
}

export const verdictNames = {
  AC: "Accepted", WA: "Wrong answer", PE: "Presentation error", TLE: "Time limit exceeded",
  MLE: "Memory limit exceeded", OLE: "Output limit exceeded", RE: "Run-time error",
  CE: "Compilation error", IE: "Internal error", SKIPPED: "Skipped", OK: "Ran to the end",
};
