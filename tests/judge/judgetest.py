#!/usr/bin/python3
"""One runner for every data-driven judge test (curl's habit: tests are data).

  judgetest.py lang    CC_JUDGE LANG_DIR LANG [--fallback]
                                                hello world and A+B in one language
  judgetest.py pkg     CC_JUDGE PKG_DIR [--fallback]
                                                `cc-judge verify --json` on a package
  judgetest.py hostile CC_JUDGE PKG_DIR PROG [--fallback]
                                                one hostile program, expected verdict
                                                on its first line ("expect: TLE MLE")

The first line of a hostile program may also say lang=LANG (default c),
memory=MIB (the package's memory limit for this program), msg=TEXT (a word
the submission's message must contain) and fallback=V1,V2 (the verdicts
accepted with --fallback instead). --fallback judges it as uid 65534
(nobody) when run as root: the judge then has no writable cgroup and falls
back to rlimits and its own CPU accounting (judge-pool/README.md,
"Sandbox"); as another user the judge runs as that user.

Each run happens in a fresh temporary folder (TMPDIR too, so the judge's
staging folders land there), and afterwards the host must be unchanged: the
judge's staging folders removed, its cgroups gone, no process of its boxes
alive, a sentinel file untouched. Exit 77 means "skipped" (a toolchain that
is not installed), which ctest reports as skipped rather than passed.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

SKIP = 77


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def cgroup_folders(prefix="cc-judge-"):
    """The judge cgroup folders whose names start with prefix."""
    found = []
    for root in ("/sys/fs/cgroup",):
        for dirpath, dirnames, _ in os.walk(root):
            if dirpath.count("/") > 7:
                dirnames[:] = []
                continue
            for d in dirnames:
                if d.startswith(prefix):
                    found.append(os.path.join(dirpath, d))
            dirnames[:] = [d for d in dirnames if not d.startswith("cc-judge-")]
    return found


def cgroup_leftovers(pid, before):
    """Cgroup folders the judge process `pid` created and did not remove.
    Folders that existed before it started are not its own: pids are
    reused, and a judge killed by another test (SIGKILL) leaves its groups
    under its pid until a later judge serve cleans them."""
    return [d for d in cgroup_folders("cc-judge-%d-" % pid) if d not in before]


NOBODY = 65534


def run_judge(args, tmp, timeout=900, nobody=False):
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": tmp, "LANG": "C.UTF-8"}
    sentinel = os.path.join(tmp, "sentinel")
    with open(sentinel, "w") as f:
        f.write("host file\n")
    before = set(cgroup_folders())
    who = {}
    if nobody and os.geteuid() == 0:
        # The judge's staging folders go into tmp, which it must own; the
        # package copy in it is world-readable, like the build tree.
        os.chown(tmp, NOBODY, NOBODY)
        os.chmod(tmp, 0o755)
        who = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, **who)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        fail("cc-judge did not finish within %d s" % timeout)
    # The host must be unchanged.
    left = sorted(set(os.listdir(tmp)) - {"sentinel", "pkg", "work"})
    if left:
        fail("temporary files left behind: %s" % left)
    with open(sentinel) as f:
        if f.read() != "host file\n":
            fail("a host file changed")
    cg = cgroup_leftovers(p.pid, before)
    if cg:
        fail("cgroups left behind: %s" % cg)
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def parse(out, err):
    try:
        return json.loads(out)
    except ValueError:
        fail("output is not JSON:\n%s\nstderr:\n%s" % (out[:3000], err[:3000]))


def make_pkg(root, name, cases, time_limit="2"):
    d = os.path.join(root, name)
    os.makedirs(os.path.join(d, "data", "secret"))
    os.makedirs(os.path.join(d, "submissions", "accepted"))
    with open(os.path.join(d, "problem.yaml"), "w") as f:
        # Compilation gets 3 minutes: the slow compilers (Crystal --release,
        # Scala, Kotlin) share 2 cores with the rest of `make test`.
        f.write("name: %s\nlimits:\n  time_limit: %s\n  memory: 512\n  compilation_time: 180\n"
                % (name, time_limit))
    for i, (inp, ans) in enumerate(cases):
        with open(os.path.join(d, "data", "secret", "%02d.in" % i), "w") as f:
            f.write(inp)
        with open(os.path.join(d, "data", "secret", "%02d.ans" % i), "w") as f:
            f.write(ans)
    return d


def cmd_lang(judge, lang_dir, lang, fallback=False):
    files = sorted(os.listdir(lang_dir))
    hello = [f for f in files if f.lower().startswith("hello")]
    aplusb = [f for f in files if f.lower().startswith("aplusb")]
    if len(hello) != 1 or len(aplusb) != 1:
        fail("%s needs one hello.* and one aplusb.* file" % lang_dir)
    with tempfile.TemporaryDirectory() as tmp:
        pk_h = make_pkg(tmp, "pkg", [("", "Hello, World!\n")], "5")
        verdicts = []
        for prog, pkg in ((hello[0], pk_h), (aplusb[0], None)):
            if pkg is None:
                shutil.rmtree(pk_h)
                pkg = make_pkg(tmp, "pkg", [("1 2\n", "3\n"), ("1000000000000 -7\n", "999999999993\n")], "5")
            rc, out, err = run_judge([judge, "run", pkg, "--lang", lang,
                                      os.path.join(lang_dir, prog), "--json"], tmp, nobody=fallback)
            doc = parse(out, err)
            sub = doc["submissions"][0]
            if sub["verdict"] == "SKIPPED":
                print("SKIPPED: %s" % sub["message"])
                sys.exit(SKIP)
            verdicts.append(sub["verdict"])
            if sub["verdict"] != "AC" or rc != 0:
                fail("%s: %s (exit %d): %s\n%s" % (prog, sub["verdict"], rc, sub.get("message"),
                                                   json.dumps(sub["tests"], indent=1)))
            if sub["language"] != lang:
                fail("language reported as %s" % sub["language"])
            for t in sub["tests"]:
                for k in ("cpu_ms", "wall_ms", "memory_kib"):
                    if not isinstance(t[k], int) or t[k] < 0:
                        fail("test field %s is %r" % (k, t[k]))
        print("ok: %s hello and A+B accepted" % lang)


def cmd_pkg(judge, pkg_src, fallback=False):
    with open(os.path.join(pkg_src, "judge-expect.json")) as f:
        exp = json.load(f)
    with tempfile.TemporaryDirectory() as tmp:
        pkg = os.path.join(tmp, "pkg")
        shutil.copytree(pkg_src, pkg, symlinks=True)
        args = [judge, "verify", pkg, "--json"] + exp.get("args", [])
        rc, out, err = run_judge(args, tmp, nobody=fallback)
        want_rc = exp.get("exit", 0)
        if rc != want_rc:
            fail("exit %d, expected %d\nstdout:\n%s\nstderr:\n%s" % (rc, want_rc, out[:6000], err[:3000]))
        if "error_contains" in exp:
            for s in exp["error_contains"]:
                if s not in err:
                    fail("error message lacks %r:\n%s" % (s, err))
            print("ok: broken package rejected: %s" % err.strip())
            return
        doc = parse(out, err)
        subs = {s["path"]: s for s in doc["submissions"]}
        skipped = 0
        for path, want in exp.get("verdicts", {}).items():
            if path not in subs:
                fail("no result for %s (have %s)" % (path, sorted(subs)))
            got = subs[path]
            if got["verdict"] == "SKIPPED":
                skipped += 1
                continue
            if got["verdict"] != want:
                fail("%s: verdict %s, expected %s: %s\n%s" % (path, got["verdict"], want, got.get("message"),
                                                            json.dumps(got["tests"], indent=1)))
        # Every test says whether it is a sample: cc-submission shows a
        # test's message to the submitter only when it is.
        for sub in doc["submissions"]:
            for t in sub["tests"]:
                if t.get("sample") is not t["name"].startswith("sample/"):
                    fail("%s: test %s has sample %r" % (sub["path"], t["name"], t.get("sample")))
        for path, tests in exp.get("test_messages", {}).items():
            got = {t["name"]: t.get("message") or "" for t in subs[path]["tests"]}
            for name, want in tests.items():
                if want not in got.get(name, ""):
                    fail("%s: message of test %s lacks %r: %r" % (path, name, want, got.get(name)))
        for path, words in exp.get("message_has", {}).items():
            for w in words:
                if w not in (subs[path].get("message") or ""):
                    fail("%s: message lacks %r: %r" % (path, w, subs[path].get("message")))
        for path, words in exp.get("message_lacks", {}).items():
            for w in words:
                if w in (subs[path].get("message") or ""):
                    fail("%s: message shows %r: %r" % (path, w, subs[path].get("message")))
        # The language each submission was judged as (detection by
        # extension and content, languages.yaml).
        for path, want in exp.get("languages", {}).items():
            if subs[path].get("language") != want:
                fail("%s: judged as %s, expected %s" % (path, subs[path].get("language"), want))
        for path, want in exp.get("scores", {}).items():
            if subs[path]["score"] != want:
                fail("%s: score %s, expected %s" % (path, subs[path]["score"], want))
        for path, tests in exp.get("tests", {}).items():
            got = {t["name"]: t["verdict"] for t in subs[path]["tests"]}
            for name, v in tests.items():
                if got.get(name) != v:
                    fail("%s: test %s is %s, expected %s" % (path, name, got.get(name), v))
        if "time_limit" in exp and doc["time_limit"] != exp["time_limit"]:
            fail("time limit %s, expected %s" % (doc["time_limit"], exp["time_limit"]))
        if "matched" in exp and doc["matched"] + doc["skipped"] != exp["matched"]:
            fail("matched %d (+%d skipped), expected %d" % (doc["matched"], doc["skipped"], exp["matched"]))
        for path in exp.get("mismatch", []):
            if subs[path]["match"]:
                fail("%s should not match its folder" % path)
        for path in exp.get("unknown", []):
            if path not in doc["unknown"]:
                fail("%s should be reported as an unknown folder" % path)
        for path, tests in exp.get("messages", {}).items():
            for name, parts in tests.items():
                if name:
                    msg = next((t.get("message") or "" for t in subs[path]["tests"]
                                if t["name"] == name), "")
                else:
                    msg = subs[path].get("message") or ""
                for part in parts:
                    if part not in msg:
                        fail("%s: %s's message lacks %r: %r" % (path, name or "the submission", part, msg))
        for path, names in exp.get("absent_tests", {}).items():
            got = {t["name"] for t in subs[path]["tests"]}
            for name in names:
                if name in got:
                    fail("%s: test %s should not have run" % (path, name))
        for path in exp.get("absent", []):
            if path in subs:
                fail("%s should not be judged" % path)
        for path in exp.get("warnings", []):
            if not any(path in w for w in doc["package"]["warnings"]):
                fail("no package warning mentions %r: %s" % (path, doc["package"]["warnings"]))
        if exp.get("problem") and doc["problem"] != exp["problem"]:
            fail("problem name %r" % doc["problem"])
        print("ok: %d submissions as expected (%d skipped)" % (len(exp.get("verdicts", {})), skipped))


def cmd_hostile(judge, pkg_src, prog, fallback=False):
    with open(prog, errors="replace") as f:
        first = f.readline()
    if "expect:" not in first:
        fail("%s: the first line must say 'expect: VERDICT...'" % prog)
    words = first.split("expect:", 1)[1].replace("*/", "").split()
    lang = "c"
    memory = None
    msg = None
    want = []
    want_fallback = None
    for w in words:
        if w.startswith("lang="):
            lang = w[5:]
        elif w.startswith("memory="):
            memory = int(w[7:])
        elif w.startswith("msg="):
            msg = w[4:]
        elif w.startswith("fallback="):
            want_fallback = w[9:].split(",")
        else:
            want.append(w)
    if fallback and want_fallback:
        want = want_fallback
    with tempfile.TemporaryDirectory() as tmp:
        pkg = os.path.join(tmp, "pkg")
        shutil.copytree(pkg_src, pkg)
        if memory is not None:
            yml = os.path.join(pkg, "problem.yaml")
            with open(yml) as f:
                text = f.read()
            if "  memory: " not in text:
                fail("%s has no limits.memory line to replace" % yml)
            lines = [("  memory: %d" % memory) if l.startswith("  memory: ") else l
                     for l in text.split("\n")]
            with open(yml, "w") as f:
                f.write("\n".join(lines))
        rc, out, err = run_judge([judge, "run", pkg, "--lang", lang, prog, "--json"], tmp, timeout=300,
                                 nobody=fallback)
        doc = parse(out, err)
        sub = doc["submissions"][0]
        if sub["verdict"] == "SKIPPED":
            sys.exit(SKIP)
        if sub["verdict"] not in want or (msg and msg not in (sub.get("message") or "")):
            fail("%s: verdict %s, expected one of %s%s: %s\n%s" % (
                os.path.basename(prog), sub["verdict"], want,
                " with %r in the message" % msg if msg else "", (sub.get("message") or "")[:1500],
                json.dumps(sub["tests"], indent=1)[:3000]))
        print("ok: %s -> %s%s" % (os.path.basename(prog), sub["verdict"],
                                   " (as uid %d, no cgroup)" % NOBODY if fallback else ""))


if __name__ == "__main__":
    if len(sys.argv) < 4:
        fail(__doc__)
    cmd, judge = sys.argv[1], sys.argv[2]
    if cmd == "lang":
        cmd_lang(judge, sys.argv[3], sys.argv[4], "--fallback" in sys.argv[5:])
    elif cmd == "pkg":
        cmd_pkg(judge, sys.argv[3], "--fallback" in sys.argv[4:])
    elif cmd == "hostile":
        cmd_hostile(judge, sys.argv[3], sys.argv[4], "--fallback" in sys.argv[5:])
    else:
        fail("unknown command " + cmd)
