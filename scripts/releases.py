#!/usr/bin/python3
"""The one reader of docs/releases.md, CodeCourt's table of releases.

Tags may not travel with a copy of the repository, so the table (version,
commit, date, newest last) is what names each release's commit. The upgrade
checks (check-migrations.py, check-proto.py) import it for their common
command line (checked_args) and to read the release's files from git
(files); the previous-release test calls it as a command:

    releases.py previous [--src DIR]   prints "VERSION COMMIT" of the last row
    releases.py usable COMMIT [--src DIR]
                                       exit 0 when git has that commit here,
                                       77 (ctest's skip) with the reason when
                                       not (no git, a shallow clone)
"""
import os
import re
import subprocess
import sys
import types

SKIP = 77  # ctest's SKIP_RETURN_CODE in tests/lint and tests/integration/upgrade
SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # this checkout

ROW = re.compile(r"^\|\s*(\d+\.\d+\.\d+)\s*\|\s*([0-9a-f]{40})\s*\|\s*(\d{4}-\d{2}-\d{2})\s*\|\s*$")


def rows(src):
    """[(version, commit, date)] of docs/releases.md, in file order."""
    path = os.path.join(src, "docs", "releases.md")
    with open(path, encoding="utf-8") as f:
        return [m.groups() for m in map(ROW.match, f.read().splitlines()) if m]


def previous(src):
    """The last release: (version, commit). The tree itself is newer."""
    r = rows(src)
    if not r:
        raise SystemExit("docs/releases.md: no release rows (| 0.1.0 | <40-hex commit> | date |)")
    return r[-1][0], r[-1][1]


def git(src, *args, check=True):
    return subprocess.run(["git", "-C", src, *args], check=check, capture_output=True, text=True)


def unusable(src, commit):
    """None when git can read commit in src; otherwise why not (a skip)."""
    try:
        if git(src, "rev-parse", "--is-inside-work-tree", check=False).returncode != 0:
            return "not a git checkout: the previous release cannot be read"
        if git(src, "cat-file", "-e", commit + "^{commit}", check=False).returncode != 0:
            shallow = git(src, "rev-parse", "--is-shallow-repository", check=False).stdout.strip()
            why = "a shallow clone" if shallow == "true" else "history without it"
            return f"release commit {commit[:12]} is not in this repository ({why}); fetch it (git fetch --unshallow) to run this check"
    except FileNotFoundError:
        return "git is not installed"
    return None


def show(src, commit, path):
    """The bytes of path at commit."""
    return subprocess.run(["git", "-C", src, "show", f"{commit}:{path}"], check=True,
                          capture_output=True).stdout


def ls(src, commit, folder):
    """Paths under folder at commit (recursive)."""
    out = git(src, "ls-tree", "-r", "--name-only", commit, "--", folder).stdout
    return [p for p in out.splitlines() if p]


def files(src, commit, folder, suffixes):
    """[(path, bytes)] of the files under folder at commit whose names end
    with one of suffixes, in git's order."""
    return [(p, show(src, commit, p)) for p in ls(src, commit, folder) if p.endswith(suffixes)]


def checked_args(argv, usage):
    """The command line the upgrade checks share,
        [--src DIR] [--tree DIR] [--base COMMIT] [--mutant],
    resolved against the previous release: src, tree (default src), mutant,
    version and base (default the release's commit). Exits 2 with usage
    (the check's docstring) on a bad command line, and SKIP saying why
    when git cannot read base here, so a check only sees a commit it can
    read."""
    opts = {"--src": None, "--tree": None, "--base": None}
    mutant = "--mutant" in argv
    argv = [a for a in argv if a != "--mutant"]
    while argv:
        if argv[0] not in opts or len(argv) < 2:
            print(usage, file=sys.stderr)
            raise SystemExit(2)
        opts[argv[0]] = argv[1]
        argv = argv[2:]
    src = opts["--src"] or SRC
    version, base = previous(src)
    base = opts["--base"] or base
    why = unusable(src, base)
    if why:
        print(f"SKIP: {why}")
        raise SystemExit(SKIP)
    return types.SimpleNamespace(src=src, tree=opts["--tree"] or src, mutant=mutant,
                                 version=version, base=base)


def main(argv):
    src = SRC
    if "--src" in argv:
        i = argv.index("--src")
        src = argv[i + 1]
        del argv[i:i + 2]
    if argv[:1] == ["previous"]:
        print(*previous(src))
        return 0
    if argv[:1] == ["usable"] and len(argv) == 2:
        why = unusable(src, argv[1])
        if why:
            print(why)
            return SKIP
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
