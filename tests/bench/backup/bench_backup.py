#!/usr/bin/python3
"""Backup and restore figures for N judged submissions (issue 25; a program
that measures, never a pass/fail test). See docs/benchmarks.md.

One local stack (cc-local, the same helpers as the integration.backup test)
gets a tiny problem of its own (one sample, one secret test, imported with
`codecourt problems import`), U users and N submissions of one accepted
source (Python 3 by default: its judging costs the least here), and waits
for every verdict (progress every 10 s). Baselines in the
same run, on the same stack: every measure is taken at 0 submissions
(users and problem only) and at N, and each `cc-local backup` is paired
with plain `pg_dump --format=custom` of the same six databases. Each round
is repeated R times and the medians are reported. Then the stack is
stopped, both archives are restored (`cc-local restore`) into fresh state
folders R times each, the last N-restore is started with the old master
key and must list exactly N submissions, all judged AC; only that check
decides the exit status.

Usage: bench_backup.py [--bin DIR] [--submissions N] [--users U]
                       [--rounds R] [--language python3|c] [--clients C]
                       [--no-wait] [--keep]"""
import argparse
import calendar
import concurrent.futures
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(HERE, "..", "..", "integration", "backup"))
import test_backup as tb  # noqa: E402  (Stack, http, login, register)

SLUG = "bench-backup-sum"
SOURCES = {"c": tb.AC_C, "python3": "a, b = map(int, input().split())\nprint(a + b)\n"}
PG_DUMP = "/usr/lib/postgresql/15/bin/pg_dump"
MB = 1e6


class BenchStack(tb.Stack):
    """The test's stack, with room for every submission in the queue, tokens
    that outlive a long judging wait, and the default ack wait (the test's
    5 s would have a loaded judge's jobs delivered again)."""
    max_queued = 10

    def env(self):
        e = super().env()
        e.pop("CC_ACK_WAIT", None)
        e.update({"CC_MAX_QUEUED": str(self.max_queued), "CC_ACCESS_TTL": "24h"})
        return e


def make_package(root):
    """A Kattis package that costs the judge as little as a package can: a
    sum, one sample and one secret test."""
    d = os.path.join(root, SLUG)
    files = {"problem.yaml": "name: Backup benchmark sum\nlimits:\n  time_limit: 1\n  memory: 64\n",
             "statement/problem.en.md": "# Sum\n\nPrint the sum of the two integers on the line.\n",
             "data/sample/1.in": "1 2\n", "data/sample/1.ans": "3\n",
             "data/secret/1.in": "40 2\n", "data/secret/1.ans": "42\n"}
    for name, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(d, name)), exist_ok=True)
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    return d


def import_problem(st, root, admin_pw, admin):
    """The CLI imports it as admin (its token file in a folder of the run),
    then the API makes it public so that every user may submit."""
    env = dict(os.environ, XDG_CONFIG_HOME=os.path.join(root, "cli-config"),
               CODECOURT_SERVER=st.url(""))
    cli = os.path.join(tb.BIN, "codecourt")
    for args in (["login", "--username", "admin", "--password", admin_pw],
                 ["problems", "import", make_package(root), "--slug", SLUG]):
        r = subprocess.run([cli] + args, capture_output=True, text=True, env=env, timeout=300)
        if r.returncode:
            raise SystemExit("codecourt %s: %s%s" % (args[0], r.stdout, r.stderr))
    code, j = tb.http("PATCH", st.url("/v1/problems/" + SLUG), {"visibility": "VISIBILITY_PUBLIC"},
                      admin)
    if code != 200:
        raise SystemExit("publish %s: %s %s" % (SLUG, code, j))


def submit(st, token, language, source):
    """One submission; a 503, a 429 or a dropped connection is retried with
    the same Idempotency-Key, so a retry never makes a second one."""
    body = json.dumps({"problem": SLUG, "language": language, "source": source}).encode()
    key = str(uuid.uuid4())
    for _ in range(120):
        req = urllib.request.Request(st.url("/v1/submissions"), data=body, method="POST")
        req.add_header("content-type", "application/json")
        req.add_header("authorization", "Bearer " + token)
        req.add_header("idempotency-key", key)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read())["id"]
        except urllib.error.HTTPError as e:
            code, raw = e.code, e.read()
            if code not in (429, 503):
                raise SystemExit("submit: %s %s" % (code, raw[:300]))
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit("submit: still refused after 120 tries")


def listed(st, token, status="", verdict=""):
    """The problem's submissions (an admin lists everyone's), in pages of
    100, newest first."""
    cursor = ""
    while True:
        q = "/v1/submissions?problem=%s&pageSize=100" % SLUG
        q += "".join("&%s=%s" % kv for kv in (("status", status), ("verdict", verdict),
                                             ("cursor", cursor)) if kv[1])
        code, j = tb.http("GET", st.url(q), token=token)
        if code != 200:
            raise SystemExit("GET %s: %s %s" % (q, code, j))
        yield from j.get("submissions") or []
        cursor = j.get("nextCursor") or ""
        if not cursor:
            return


def count(st, token, status="", verdict=""):
    return sum(1 for _ in listed(st, token, status, verdict))


def judged(st, token, accepted, last):
    """Judged so far, paging through whichever side is smaller: the judged
    ones, or the ones still queued, compiling or running."""
    if last * 2 <= accepted:
        return count(st, token, "judged")
    return accepted - sum(count(st, token, s) for s in ("queued", "compiling", "running"))


def submit_and_judge(st, admin, tokens, a):
    """N submissions from C client threads spread over the users, and the
    wait for their verdicts with a line every 10 s. Returns the seconds
    from the first request to the last acceptance and to the last verdict
    (the stored judgedAt, whole seconds: not the polls' 10 s steps), and
    the median sandboxMs."""
    accepted, last_accept = [0], [0.0]
    lock = threading.Lock()
    source = SOURCES[a.language]

    def one(i):
        submit(st, tokens[i % len(tokens)], a.language, source)
        with lock:
            accepted[0] += 1
            last_accept[0] = time.time()

    t0 = time.time()
    pool = concurrent.futures.ThreadPoolExecutor(a.clients)
    futures = [pool.submit(one, i) for i in range(a.submissions)]
    all_in, done, last_t, last_done = False, 0, t0, 0
    while True:
        wake = last_t + 10
        if not all_in:
            concurrent.futures.wait(futures, timeout=max(0.0, wake - time.time()))
            if all(f.done() for f in futures):
                for f in futures:
                    f.result()  # a failed submission stops the run here
                all_in = True
                print("submitted %d in %.1f s (%.1f/s)" % (a.submissions, last_accept[0] - t0,
                                                          a.submissions / (last_accept[0] - t0)),
                      flush=True)
                if a.no_wait:
                    break
        time.sleep(max(0.0, wake - time.time()))
        done = judged(st, admin, accepted[0], done)
        now = time.time()
        print("%5.0f s: accepted %d, judged %d of %d (%.2f/s over the last %.0f s, %.2f/s "
              "overall)" % (now - t0, accepted[0], done, a.submissions,
                            (done - last_done) / (now - last_t), now - last_t,
                            done / (now - t0)), flush=True)
        last_t, last_done = now, done
        if all_in and done >= a.submissions:
            break
    pool.shutdown()
    if a.no_wait:
        return last_accept[0] - t0, None, None
    subs = list(listed(st, admin, "judged"))
    if len(subs) != a.submissions:  # the estimate counted a status it does not know
        raise SystemExit("judged: %d of %d by exact count" % (len(subs), a.submissions))
    # judgedAt is in whole seconds: the last verdict came within the second after it.
    last = max(calendar.timegm(time.strptime(x["judgedAt"], "%Y-%m-%dT%H:%M:%SZ"))
               for x in subs) + 0.5
    return (last_accept[0] - t0, max(last - t0, 0.5),
            statistics.median(int(x.get("sandboxMs") or 0) for x in subs))


def pg_conninfos(st):
    """Each database's conninfo, as cc-local gives them to cc-admin."""
    with open(os.path.join(st.dir, "run", "cc-admin.env")) as f:
        return [ln.split("=", 1)[1].strip() for ln in f if ln.startswith("CC_PG_CONNINFO_")]


def raw_dump(st, folder):
    """The baseline: pg_dump --format=custom of every database, one after
    another, as cc-admin runs it but without the snapshot, the streams, the
    checksums or the tar file."""
    os.makedirs(folder, exist_ok=True)
    t0 = time.time()
    for i, conninfo in enumerate(pg_conninfos(st)):
        r = subprocess.run([PG_DUMP, "--format=custom", "--no-owner", "--no-privileges",
                            "--dbname=" + conninfo, "--file=%s/%d.dump" % (folder, i)],
                           capture_output=True, text=True, timeout=3600)
        if r.returncode:
            raise SystemExit("pg_dump: %s" % r.stderr)
    s = time.time() - t0
    size = sum(os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder))
    shutil.rmtree(folder)
    return s, size


def admin_run(st, *args):
    """cc-local backup|restore, timed; its output is kept for the last round."""
    t0 = time.time()
    r = subprocess.run([os.path.join(tb.BIN, "cc-local")] + list(args) + ["--state", st.dir],
                       capture_output=True, text=True, env=st.env(), timeout=7200)
    s = time.time() - t0
    if r.returncode:
        raise SystemExit("cc-local %s: %s%s" % (args[0], r.stdout, r.stderr))
    return s, r.stdout + r.stderr


def backup_rounds(st, root, tag, rounds):
    """R rounds of cc-local backup, each followed by the raw dumps; the
    medians, the archive's size and the last archive's path."""
    backups, raws, sizes, raw_sizes, out = [], [], [], [], ""
    for r in range(rounds):
        archive = os.path.join(root, "%s-%d.backup" % (tag, r))
        s, out = admin_run(st, "backup", archive)
        backups.append(s)
        sizes.append(os.path.getsize(archive))
        if r < rounds - 1:
            os.unlink(archive)
        s, size = raw_dump(st, os.path.join(root, "raw-" + tag))
        raws.append(s)
        raw_sizes.append(size)
        print("  %s round %d: backup %.2f s (%.3f MB), pg_dump of the databases %.2f s "
              "(%.3f MB)" % (tag, r + 1, backups[-1], sizes[-1] / MB, s, size / MB), flush=True)
    print("  cc-local backup said (last round):\n    " + out.strip().replace("\n", "\n    "))
    return {"backup": statistics.median(backups), "raw": statistics.median(raws),
            "size": statistics.median(sizes), "raw_size": statistics.median(raw_sizes),
            "archive": archive}


def restore_rounds(root, archives, rounds):
    """R rounds restoring each archive into a fresh state folder, in turn;
    the medians, and the stack of the last restore of the last archive."""
    times = {tag: [] for tag in archives}
    for r in range(rounds):
        for tag, archive in archives.items():
            st = BenchStack(root, "restore-%s-%d" % (tag, r))
            s, out = admin_run(st, "restore", archive)
            times[tag].append(s)
            print("  restore %s round %d: %.2f s" % (tag, r + 1, s), flush=True)
            if r < rounds - 1 or tag != list(archives)[-1]:
                shutil.rmtree(st.dir, ignore_errors=True)
    print("  cc-local restore said (last round):\n    " + out.strip().replace("\n", "\n    "))
    return {tag: statistics.median(v) for tag, v in times.items()}, st


def ratio(a, b):
    return "%.2fx" % (a / b) if b > 0 else "-"


def report(a, timing, b0, bn, r0, rn, ready_s, restored):
    n, (submit_s, judge_s, sandbox_ms) = a.submissions, timing
    k = 1000.0 / n
    rows = [("backup (cc-local backup)", "%.2f s" % b0["backup"], "%.2f s" % bn["backup"],
             ratio(bn["backup"], b0["backup"]), "%+.2f s" % ((bn["backup"] - b0["backup"]) * k)),
            ("  baseline: pg_dump of the 6 databases", "%.2f s" % b0["raw"], "%.2f s" % bn["raw"],
             ratio(bn["raw"], b0["raw"]), "%+.2f s" % ((bn["raw"] - b0["raw"]) * k)),
            ("  backup / pg_dump", ratio(b0["backup"], b0["raw"]), ratio(bn["backup"], bn["raw"]),
             "", ""),
            ("archive", "%.3f MB" % (b0["size"] / MB), "%.3f MB" % (bn["size"] / MB),
             ratio(bn["size"], b0["size"]), "%+.3f MB" % ((bn["size"] - b0["size"]) * k / MB)),
            ("  pg_dump files", "%.3f MB" % (b0["raw_size"] / MB), "%.3f MB" % (bn["raw_size"] / MB),
             ratio(bn["raw_size"], b0["raw_size"]),
             "%+.3f MB" % ((bn["raw_size"] - b0["raw_size"]) * k / MB)),
            ("restore (cc-local restore, fresh folder)", "%.2f s" % r0, "%.2f s" % rn,
             ratio(rn, r0), "%+.2f s" % ((rn - r0) * k))]
    print("\n== backup and restore, %d submissions (%s, %d users), medians of %d rounds"
          % (n, a.language, a.users, a.rounds))
    if a.no_wait:
        print("submitted: %.1f s (%.1f/s); backed up without waiting for the verdicts"
              % (submit_s, n / submit_s))
    else:
        print("submitted: %.1f s (%.1f/s); all judged %.0f s after the first was sent (%.2f/s; "
              "judge's sandbox time per submission, median: %d ms)"
              % (submit_s, n / submit_s, judge_s, n / judge_s, sandbox_ms))
    rows.insert(0, ("", "0 submissions", "%d submissions" % n, "ratio", "per 1,000 more"))
    w = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join([r[0].ljust(w[0])] + [r[i].rjust(w[i]) for i in range(1, 5)]))
    print("restored stack ready (readyz, judge taking jobs): %.1f s; it lists %d submissions, "
          "%d judged AC" % (ready_s, restored[0], restored[1]))
    print("RESULT submissions=%d judge_per_s=%.2f backup0_s=%.2f backup_s=%.2f pgdump_s=%.2f "
          "archive0_bytes=%d archive_bytes=%d restore0_s=%.2f restore_s=%.2f ready_s=%.1f "
          "restored=%d" % (n, 0 if a.no_wait else n / judge_s, b0["backup"], bn["backup"],
                           bn["raw"], b0["size"], bn["size"], r0, rn, ready_s, restored[0]))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", default=os.path.join(HERE, "..", "..", "..", "build", "bin"))
    p.add_argument("--submissions", type=int, default=10000)
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--language", choices=sorted(SOURCES), default="python3")
    p.add_argument("--clients", type=int, default=8, help="submitting threads")
    p.add_argument("--no-wait", action="store_true",
                   help="back up once every submission is accepted, verdicts or not")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    a = p.parse_args()
    tb.BIN = os.path.abspath(a.bin)
    BenchStack.max_queued = max(10, min(a.submissions, 100000))
    root = tempfile.mkdtemp(prefix="ccbench-backup-")
    src, restored = BenchStack(root, "a"), None
    try:
        src.start()
        admin_pw = open(os.path.join(src.dir, "secrets", "admin.pw")).read().strip()
        admin = tb.login(src, "admin", admin_pw)
        import_problem(src, root, admin_pw, admin)
        tokens = []
        for i in range(a.users):
            name = "bench%d" % i
            if tb.register(src, name) not in (201, 409):  # 409: a retried 201
                raise SystemExit("register " + name)
            tokens.append(tb.login(src, name, "password-" + name))
        print("stack up in %s; measuring at 0 submissions" % root, flush=True)
        b0 = backup_rounds(src, root, "empty", a.rounds)
        submit_s, judge_s, sandbox_ms = submit_and_judge(src, admin, tokens, a)
        print("measuring at %d submissions" % a.submissions, flush=True)
        if a.no_wait:
            print("judged when the backups begin: %d" % count(src, admin, "judged"), flush=True)
        bn = backup_rounds(src, root, "full", a.rounds)
        src.stop()
        master_key = open(os.path.join(src.dir, "secrets", "master.key")).read()
        shutil.rmtree(src.dir)
        r, restored = restore_rounds(root, {"empty": b0["archive"], "full": bn["archive"]},
                                     a.rounds)
        # The master key is kept apart from the archive, as an operator
        # keeps it (admin/README.md); without it sources cannot be read.
        with open(os.path.join(restored.dir, "secrets", "master.key"), "w") as f:
            f.write(master_key)
        t0 = time.time()
        restored.start()
        ready_s = time.time() - t0
        admin = tb.login(restored, "admin", admin_pw)
        got = (count(restored, admin), count(restored, admin, "judged", "AC"))
        report(a, (submit_s, judge_s, sandbox_ms), b0, bn, r["empty"], r["full"], ready_s, got)
        if got[0] != a.submissions or (not a.no_wait and got[1] != a.submissions):
            print("FAIL: the restored stack lists %d submissions, %d judged AC, of %d"
                  % (got[0], got[1], a.submissions))
            sys.exit(1)
    finally:
        src.stop()
        if restored:
            restored.stop()
        if a.keep:
            print("kept", root)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
