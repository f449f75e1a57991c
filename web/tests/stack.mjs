// A whole CodeCourt on loopback for the browser tests and the benchmark:
// cc-local (NATS, PostgreSQL, Redis, every actor, a judge, the gateway
// serving the built app) in a temporary state folder on free ports, and
// Debian's Chromium driven by playwright-core. Nothing is downloaded.
import { spawn } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export function args() {
  const a = process.argv.slice(2);
  const get = (name, dflt) => {
    const i = a.indexOf(name);
    return i >= 0 ? a[i + 1] : dflt;
  };
  return get;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
    s.on("error", reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Starts cc-local; resolves when the gateway answers and aplusb is seeded.
export async function startStack(binDir, env = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ccweb-"));
  const [http, https] = [await freePort(), await freePort()];
  const proc = spawn(path.join(binDir, "cc-local"), ["--state", dir, "--http-port", String(http), "--https-port", String(https), "--log-level", "warn"], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: false,
  });
  // If this process ends first (an error, Ctrl-C, a timeout's SIGTERM),
  // the stack goes with it: cc-local stops its actors and servers.
  process.on("exit", () => proc.exitCode === null && proc.kill("SIGTERM"));
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"])
    process.once(sig, () => {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      process.exit(130);
    });
  let out = "";
  proc.stdout.on("data", (d) => (out += d));
  proc.stderr.on("data", (d) => (out += d));
  const base = `http://127.0.0.1:${http}`;
  const deadline = Date.now() + 180000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`cc-local exited:\n${out}`);
    if (Date.now() > deadline) throw new Error(`the stack did not come up in time:\n${out}`);
    if (out.includes("cc-local: ready")) {
      try {
        const r = await fetch(`${base}/v1/problems/aplusb`);
        const l = await fetch(`${base}/v1/languages`);
        if (r.ok && l.ok) break;
      } catch {
        /* not yet */
      }
    }
    await sleep(300);
  }
  const adminPassword = fs.readFileSync(path.join(dir, "secrets/admin.pw"), "utf8").trim();
  return {
    base,
    dir,
    adminPassword,
    log: () => out,
    // keep: leave the folder (the actors' logs in logs/) for a failed run.
    async stop({ keep = false } = {}) {
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        for (let i = 0; i < 400 && proc.exitCode === null; i++) await sleep(100);
        if (proc.exitCode === null) proc.kill("SIGKILL");
      }
      if (keep || process.env.CC_LOCAL_KEEP) console.log(`the stack's folder (logs in logs/) is kept: ${dir}`);
      else fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function modulesRequire(modules) {
  return createRequire(path.join(path.dirname(path.resolve(modules)), "x.cjs"));
}

export async function launchChromium(modules) {
  const { chromium } = modulesRequire(modules)("playwright-core");
  // playwright-core gives every launch a fresh, empty profile folder of its
  // own (--user-data-dir in a temporary folder) and removes it on close.
  const flags = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];
  return chromium.launch({ executablePath: process.env.CC_CHROMIUM || "/usr/bin/chromium", headless: true, args: flags });
}

// The API as a test's helper (admin set-up, users), from Node. Each call
// is listed in apiCalls (when, what, the status), for a failed run's log.
export const apiCalls = [];
export async function apiCall(base, method, p, body, token) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const r = await fetch(base + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  apiCalls.push({ at: Date.now(), method, path: p, status: r.status, bearer: !!token });
  const text = await r.text();
  const data = text ? JSON.parse(text) : null;
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${text}`);
  return data;
}
