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
