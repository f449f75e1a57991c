#!/usr/bin/python3
"""Backup and restore, end to end (issue 25), on real servers.

Stack A (cc-local: NATS with JetStream, PostgreSQL, Redis and every actor)
gets users, submissions judged to the end, and submissions queued behind a
paused judge (one job delivered to it and not acknowledged, the others
waiting in CC_JUDGE). While registrations keep coming, `cc-local backup`
writes the archive. A is then let go on (the queued jobs are judged there)
and thrown away. A tampered and a truncated copy of the archive are
refused, naming the part. Stack B, fresh, is restored from the archive and
started: every API read taken just before the backup (users, problems,
versions, submissions with their results, notifications) is the same field
for field, each submission queued at backup time gets exactly one verdict
(one judging, one notification), and a second restore onto the now
non-empty B is refused without --force.

Usage: test_backup.py BIN_DIR"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/bin"
AC_C = ("#include <stdio.h>\nint main(void){long long a,b;"
        "if(scanf(\"%lld %lld\",&a,&b)!=2)return 1;printf(\"%lld\\n\",a+b);return 0;}\n")
FAILED = []


def check(cond, what):
    if not cond:
        FAILED.append(what)
        print("FAIL:", what, flush=True)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Stack:
    """One cc-local in its own state folder, started as a child process."""

    def __init__(self, root, name):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.proc = None

    def env(self):
        e = dict(os.environ)
        # Fast hashing and open limits for a test; a short ack wait so the
        # job the paused judge held comes back soon after the restore.
        e.update({"CC_BCRYPT_COST": "4", "CC_ACK_WAIT": "5s", "CC_RATE_USER": "1000000",
                  "CC_BURST_USER": "1000000", "CC_RATE_AUTH": "1000000",
                  "CC_BURST_AUTH": "1000000", "CC_RATE_LOGIN": "1000000",
                  "CC_BURST_LOGIN": "1000000", "CC_RATE_ANON": "1000000",
                  "CC_BURST_ANON": "1000000", "CC_RATE_PER_MIN": "1000000"})
        return e

    def start(self):
        log = open(os.path.join(os.path.dirname(self.dir), os.path.basename(self.dir) + ".out"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "cc-local"), "--state", self.dir, "--http-port", str(self.port),
             "--https-port", str(free_port())],
            stdout=log, stderr=subprocess.STDOUT, env=self.env())
        end = time.time() + 240
        while time.time() < end:
            if self.proc.poll() is not None:
                raise SystemExit("cc-local %s exited: see %s.out" % (self.dir, self.dir))
            try:
                if http_once("GET", self.url("/readyz"))[0] == 200 and self.judge_taking():
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise SystemExit("cc-local %s did not become ready" % self.dir)

    def judge_taking(self):
        try:
            with open(os.path.join(self.dir, "logs", "cc-judge.log")) as f:
                return '"taking jobs"' in f.read()
        except OSError:
            return False

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def pid_of(self, name):
        with open(os.path.join(self.dir, "run", name + ".pid")) as f:
            return int(f.read().strip())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def admin(self, *args):
        r = subprocess.run([os.path.join(BIN, "cc-local")] + list(args) + ["--state", self.dir],
                           capture_output=True, text=True, env=self.env(), timeout=600)
        print(r.stdout + r.stderr, end="", flush=True)
        return r


def http(method, url, body=None, token=None):
    """One request; a 503 (a service slow on a loaded machine) is retried
    as its Retry-After asks, for up to a minute."""
    for _ in range(60):
        code, j = http_once(method, url, body, token)
        if code != 503:
            break
        time.sleep(1)
    return code, j


def http_once(method, url, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            code, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        code, raw = e.code, e.read()
    try:
        return code, json.loads(raw) if raw else None
    except ValueError:
        return code, raw


def login(st, user, pw):
    code, j = http("POST", st.url("/v1/auth/login"), {"username": user, "password": pw})
    if code != 200:
        raise SystemExit("login %s: %s %s" % (user, code, j))
    return j["accessToken"]


def register(st, user):
    """The status. Callers take 409 for a new name as registered: http()
    retries a 503 (a machine too loaded to answer in time), whose first
    attempt may have registered it."""
    code, j = http("POST", st.url("/v1/users"),
                   {"username": user, "email": user + "@example.org", "password": "password-" + user})
    return code


def submit(st, token):
    code, j = http("POST", st.url("/v1/submissions"),
                   {"problem": "aplusb", "language": "c", "source": AC_C}, token)
    if code != 201:
        raise SystemExit("submit: %s %s" % (code, j))
    return j["id"]


def wait_status(st, token, sid, status, secs=180):
    end = time.time() + secs
    j = None
    while time.time() < end:
        code, j = http("GET", st.url("/v1/submissions/" + sid), token=token)
        if code == 200 and j.get("status") == status:
            return j
        time.sleep(0.3)
    raise SystemExit("submission %s never reached %s (last: %s)" % (sid, status, j))


def all_pages(st, path, token, key, cursor_param="cursor", next_key="nextCursor"):
    """Every item of a paged list, 100 a page, following the next cursor."""
    items, cursor = [], None
    while True:
        url = path + "?pageSize=100" + ("&%s=%s" % (cursor_param, cursor) if cursor else "")
        code, j = http("GET", st.url(url), token=token)
        if code != 200:
            raise SystemExit("GET %s: %s %s" % (url, code, j))
        items += j.get(key) or []
        cursor = j.get(next_key)
        if not cursor:
            return items


def read_all(st, admin, users):
    """Every API read the test compares, by name."""
    r = {}
    r["admin/users"] = sorted(all_pages(st, "/v1/admin/users", admin, "users",
                                        "pageToken", "nextPageToken"),
                              key=lambda u: u["id"])
    r["problems"] = all_pages(st, "/v1/problems", None, "problems")
    r["problem/aplusb"] = http("GET", st.url("/v1/problems/aplusb"), token=admin)[1]
    r["versions/aplusb"] = http("GET", st.url("/v1/problems/aplusb/versions"), token=admin)[1]
    for name, tok in users.items():
        r["me/" + name] = http("GET", st.url("/v1/users/me"), token=tok)[1]
        subs = all_pages(st, "/v1/submissions", tok, "submissions")
        r["submissions/" + name] = subs
        for s in subs:
            r["submission/" + s["id"]] = http("GET", st.url("/v1/submissions/" + s["id"]), token=tok)[1]
        r["notifications/" + name] = all_pages(st, "/v1/notifications", tok,
                                               "notifications")
    return r


def archive_offset(path, member):
    """Where member's bytes start inside the tar file."""
    import tarfile
    with tarfile.open(path) as t:
        for m in t.getmembers():
            if m.name == member:
                return m.offset_data, m.size
    raise SystemExit("no %s in %s" % (member, path))


def main():
    root = tempfile.mkdtemp(prefix="ccbackup-")
    a, b = Stack(root, "a"), Stack(root, "b")
    archive = os.path.join(root, "codecourt.backup")
    try:
        run(root, a, b, archive)
    except BaseException:
        FAILED.append("stopped early")
        raise
    finally:
        a.stop()
        b.stop()
        if FAILED or os.environ.get("CC_LOCAL_KEEP"):
            print("state kept in", root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    if FAILED:
        print("%d failures" % len(FAILED))
        sys.exit(1)
    print("ok")


def run(root, a, b, archive):
    a.start()
    admin_pw = open(os.path.join(a.dir, "secrets", "admin.pw")).read().strip()
    admin = login(a, "admin", admin_pw)
    users = {}
    for i in range(4):
        name = "user%d" % i
        check(register(a, name) in (201, 409), "register " + name)
        users[name] = login(a, name, "password-" + name)
    judged = []
    for name, tok in users.items():
        for _ in range(2):
            judged.append((name, submit(a, tok)))
    for name, sid in judged:
        wait_status(a, users[name], sid, "judged")

    # Queued work at backup time: the judge is paused, so one job sits
    # delivered and unacknowledged and the others wait in the stream.
    judge_pid = a.pid_of("cc-judge")
    os.kill(judge_pid, signal.SIGSTOP)
    queued = [(name, submit(a, tok)) for name, tok in list(users.items())[:3]]
    for name, sid in queued:
        wait_status(a, users[name], sid, "queued", 30)
    time.sleep(1)  # notifications of the judged ones are in
    before = read_all(a, admin, users)
    for name, sid in queued:
        check(before["submission/" + sid]["status"] == "queued", "queued before backup: " + sid)

    # The load while the backup runs: registrations and reads.
    stop = threading.Event()
    during = []

    def load():
        i = 0
        while not stop.is_set():
            name = "during%d" % i
            if register(a, name) in (201, 409):  # names are new: 409 is a retried 201
                during.append(name)
            http("GET", a.url("/v1/problems"))
            i += 1

    t = threading.Thread(target=load)
    t.start()
    t0 = time.time()
    r = a.admin("backup", archive)
    backup_s = time.time() - t0
    stop.set()
    t.join()
    check(r.returncode == 0, "cc-local backup exits 0")
    print("backup: %.1f s, %d bytes, %d registrations during it" %
          (backup_s, os.path.getsize(archive), len(during)), flush=True)

    # A goes on past the backup, then is thrown away.
    os.kill(judge_pid, signal.SIGCONT)
    for name, sid in queued:
        wait_status(a, users[name], sid, "judged")
    a.stop()
    # The master key of encryption at rest is kept apart from the archive,
    # as the operator keeps it (admin/README.md): B gets A's.
    master_key = open(os.path.join(a.dir, "secrets", "master.key")).read()
    shutil.rmtree(a.dir)

    # An altered part and a truncated archive are refused, naming the part.
    bad = archive + ".altered"
    shutil.copy(archive, bad)
    off, size = archive_offset(bad, "db/cc_submission.dump")
    with open(bad, "r+b") as f:
        f.seek(off + size // 2)
        c = f.read(1)
        f.seek(off + size // 2)
        f.write(bytes([c[0] ^ 0xff]))
    r = b.admin("restore", bad)
    check(r.returncode != 0 and "part db/cc_submission.dump fails its checksum" in r.stderr,
          "an altered part is refused, named")
    cut = archive + ".truncated"
    off, size = archive_offset(archive, "db/cc_problem.dump")
    with open(archive, "rb") as f, open(cut, "wb") as g:
        g.write(f.read(off + size // 2))
    r = b.admin("restore", cut)
    check(r.returncode != 0 and "part db/cc_problem.dump" in r.stderr,
          "a truncated archive is refused, naming the part")

    t0 = time.time()
    r = b.admin("restore", archive)
    restore_s = time.time() - t0
    check(r.returncode == 0, "cc-local restore exits 0")
    print("restore: %.1f s" % restore_s, flush=True)

    with open(os.path.join(b.dir, "secrets", "master.key"), "w") as f:
        f.write(master_key)
    b.start()
    admin = login(b, "admin", admin_pw)
    users = {name: login(b, name, "password-" + name) for name in users}
    # The queued submissions get their verdict here, once.
    for name, sid in queued:
        j = wait_status(b, users[name], sid, "judged")
        check(j.get("verdict") == "AC" and j.get("attempt") == 1,
              "queued %s judged once, AC: %s" % (sid, j.get("verdict")))
        check(len(j.get("tests") or j.get("results") or []) == 11,
              "queued %s has one judging's 11 results" % sid)
    time.sleep(2)  # its notification
    after = read_all(b, admin, users)

    # Users registered while the backup ran may or may not be there; the
    # ones that are can sign in.
    during_set = set(during)
    after["admin/users"] = [u for u in after["admin/users"] if u["username"] not in during_set]
    before["admin/users"] = [u for u in before["admin/users"] if u["username"] not in during_set]
    queued_ids = {sid for _, sid in queued}
    for key, want in before.items():
        got = after.get(key)
        if key.startswith("submission/") and key[11:] in queued_ids:
            continue
        if key.startswith("submissions/"):
            want = [s for s in want if s["id"] not in queued_ids]
            got = [s for s in got if s["id"] not in queued_ids]
        if key.startswith("notifications/"):
            new = [n for n in got if n not in want]
            mine = [sid for n2, sid in queued if "notifications/" + n2 == key]
            check(len(new) == len(mine),
                  "%s: one new notification per queued submission (%d, want %d): %s" %
                  (key, len(new), len(mine), new))
            got = [n for n in got if n in want]
        check(got == want, "%s equal after restore:\n  before %s\n  after  %s" %
              (key, json.dumps(want, sort_keys=True)[:2000], json.dumps(got, sort_keys=True)[:2000]))
    for name in during:
        if any(u["username"] == name for u in after["admin/users"] + []):
            pass
    restored_during = [n for n in during if register(b, n) == 409]
    for name in restored_during:
        login(b, name, "password-" + name)
    print("%d of %d registrations made during the backup are in it" %
          (len(restored_during), len(during)), flush=True)

    # A non-empty stack is refused without --force.
    b.stop()
    r = b.admin("restore", archive)
    check(r.returncode != 0 and "not empty" in r.stderr and "--force" in r.stderr,
          "a non-empty stack is refused without --force")
    # With it, the stack is replaced.
    r = b.admin("restore", archive, "--force")
    check(r.returncode == 0 and "--force: replacing" in r.stdout, "--force replaces a stack")

    # --with-secrets: the archive carries the secrets (the master key
    # among them), so a stack restored from it opens the sealed sources
    # with no copy kept apart.
    b.start()
    name = sorted(users)[0]
    tok = login(b, name, "password-" + name)
    sid = all_pages(b, "/v1/submissions", tok, "submissions")[0]["id"]
    want = http("GET", b.url("/v1/submissions/" + sid), token=tok)[1]
    archive_s = archive + ".secrets"
    r = b.admin("backup", archive_s, "--with-secrets")
    check(r.returncode == 0, "backup --with-secrets exits 0")
    b.stop()
    c = Stack(root, "c")
    try:
        r = c.admin("restore", archive_s, "--with-secrets")
        check(r.returncode == 0, "restore --with-secrets exits 0")
        keys = [open(os.path.join(st.dir, "secrets", "master.key")).read() for st in (b, c)]
        check(keys[0] == keys[1], "the master key came back with the archive")
        c.start()
        tok = login(c, name, "password-" + name)
        got = http("GET", c.url("/v1/submissions/" + sid), token=tok)[1]
        check(got.get("files") and got.get("files") == want.get("files"),
              "the sealed sources read the same after a restore with its secrets")
    finally:
        c.stop()


if __name__ == "__main__":
    main()
