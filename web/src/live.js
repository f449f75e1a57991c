// The live channel: one WebSocket to /v1/live while signed in, the token
// sent as a subprotocol (kept out of URLs and logs). A lost socket comes
// back with a growing delay; after each reconnect the pages that follow
// something re-read it from the API, since what was pushed meanwhile is
// gone (the live channel is best effort, the API is the truth).
import { onSession, refresh, token } from "./api.js";

const handlers = new Set();
const reconnectHandlers = new Set();
let ws = null;
let wanted = false;
let attempt = 0;
let timer = 0;
let connectedOnce = false;

export function onLive(fn) {
  handlers.add(fn);
  return () => handlers.delete(fn);
}
export function onReconnect(fn) {
  reconnectHandlers.add(fn);
  return () => reconnectHandlers.delete(fn);
}
export function liveState() {
  return ws && ws.readyState === WebSocket.OPEN ? "open" : wanted ? "connecting" : "off";
}

function connect() {
  clearTimeout(timer);
  if (!wanted || !token()) return;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/live`;
  const sock = new WebSocket(url, ["cc.live", `cc.bearer.${token()}`]);
  ws = sock;
  sock.onopen = () => {
    attempt = 0;
    document.documentElement.dataset.live = "open";
    if (connectedOnce) for (const fn of reconnectHandlers) fn();
    connectedOnce = true;
  };
  sock.onmessage = (ev) => {
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    for (const fn of handlers) fn(msg);
  };
  sock.onclose = async () => {
    if (ws !== sock) return;
    ws = null;
    document.documentElement.dataset.live = "closed";
    if (!wanted) return;
    // The token may have ended: a fresh one before the next try.
    if (attempt > 0) await refresh();
    const delay = Math.min(10000, 250 * 2 ** attempt++) * (0.75 + Math.random() / 2);
    timer = setTimeout(connect, delay);
  };
}

export function startLive() {
  wanted = true;
  if (!ws) connect();
}

export function stopLive() {
  wanted = false;
  connectedOnce = false;
  clearTimeout(timer);
  if (ws) {
    const s = ws;
    ws = null;
    s.close();
  }
}

// Test hook for the browser tests' reconnect check: drops the socket as a
// network failure would.
export function dropLive() {
  if (ws) ws.close();
}

onSession((u) => (u ? startLive() : stopLive()));

// A contest's channel: a socket of its own opened with ?contest=<id>, which
// the gateway subscribes to that contest's public or jury channel (as
// cc-contest says the caller is). Only the contest's messages (scoreboard,
// clarification) go to fn; the user's own channel, which this socket also
// carries, is left to the main socket. onOpen runs on each (re)connect, so
// the page re-reads what it missed meanwhile. Returns a function that
// closes it. Without a token (not signed in) there is no socket: false.
export function followContest(id, fn, onOpen) {
  if (!token()) return false;
  let sock = null;
  let stopped = false;
  let tries = 0;
  let t = 0;
  const open = () => {
    if (stopped || !token()) return;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/live?contest=${encodeURIComponent(id)}`;
    const s = new WebSocket(url, ["cc.live", `cc.bearer.${token()}`]);
    sock = s;
    s.onopen = () => {
      tries = 0;
      document.documentElement.dataset.contestLive = "open";
      if (onOpen) onOpen();
    };
    s.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if ((msg.type === "scoreboard" || msg.type === "clarification") && msg.contest === id) fn(msg);
    };
    s.onclose = async () => {
      if (sock !== s || stopped) return;
      sock = null;
      document.documentElement.dataset.contestLive = "closed";
      if (tries > 0) await refresh();
      t = setTimeout(open, Math.min(10000, 250 * 2 ** tries++) * (0.75 + Math.random() / 2));
    };
  };
  open();
  return () => {
    stopped = true;
    clearTimeout(t);
    delete document.documentElement.dataset.contestLive;
    if (sock) {
      const s = sock;
      sock = null;
      s.close();
    }
  };
}
