#!/usr/bin/python3
"""Expand and contract: refuses a migration that breaks the previous release.

A rolling upgrade runs release N's code on a database that release N+1's
migrations already changed, and a rollback runs it there for good (no
down-migrations). So the migrations added since the previous release (the
last row of docs/releases.md) may only expand: a DROP or RENAME of a table
or column, a column's new type, or a NOT NULL column without a DEFAULT
(release N's INSERTs leave it out) is refused while the previous release's
code (the actor's folder and runtime/src at that commit, migrations left
out) still names it. The rule and the way around it: docs/migrations.md.
Applied migrations are never edited nor removed either (cc_migrate refuses
a changed checksum at start; this says so before a release does).

usage: check-migrations.py [--src DIR] [--tree DIR] [--base COMMIT]
       check-migrations.py --mutant     a test of the check: a copy of the
                                        migrations with a DROP COLUMN, a
                                        RENAME and an edited applied file
                                        must each be refused, an additive
                                        one accepted
Exit 0 clean, 1 refused (each finding on a line), 77 when the previous
release's commit is not in the repository (shallow clone: skipped).
"""
import functools
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import releases  # noqa: E402

IDENT = r'(?:"[^"]+"|[A-Za-z_][A-Za-z0-9_$]*)'
QNAME = rf'(?:{IDENT}\.)?({IDENT})'


def unquote(name):
    return name.strip('"').lower()


def statements(sql):
    """The statements of a migration, comments out, whitespace folded.
    Dollar-quoted bodies (functions, DO blocks) are kept whole."""
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.S)
    out, cur, i, n = [], [], 0, len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j
            continue
        if c == "'":
            j = i + 1
            while j < n and not (sql[j] == "'" and sql[j + 1:j + 2] != "'"):
                j += 2 if sql[j:j + 2] == "''" else 1
            cur.append(sql[i:j + 1])
            i = j + 1
            continue
        m = re.match(r"\$[A-Za-z_]*\$", sql[i:])
        if m:
            j = sql.find(m.group(0), i + len(m.group(0)))
            j = n if j < 0 else j + len(m.group(0))
            cur.append(sql[i:j])
            i = j
            continue
        if c == ";":
            out.append(" ".join("".join(cur).split()))
            cur = []
        else:
            cur.append(c)
        i += 1
    out.append(" ".join("".join(cur).split()))
    return [s for s in out if s]


def split_top(s):
    """s split at commas outside parentheses."""
    parts, depth, cur = [], 0, []
    for c in s:
        depth += c == "("
        depth -= c == ")"
        if c == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
    parts.append("".join(cur).strip())
    return parts


def breaking(stmt):
    """[(what, table, name)] a statement does that release N may not
    survive: name is the identifier the previous code must not use."""
    found = []
    m = re.match(rf"(?i)DROP\s+(TABLE|VIEW|MATERIALIZED\s+VIEW)\s+(?:IF\s+EXISTS\s+)?(.*)", stmt)
    if m:
        for t in split_top(re.sub(r"(?i)\s+(CASCADE|RESTRICT)\s*$", "", m.group(2))):
            t = unquote(t.split(".")[-1])
            found.append((f"DROP {m.group(1).upper()} {t}", t, t))
        return found
    m = re.match(rf"(?i)ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{QNAME}\s+(.*)", stmt)
    if not m:
        return found
    table, rest = unquote(m.group(1)), m.group(2)
    r = re.match(rf"(?i)RENAME\s+TO\s+{IDENT}", rest)
    if r:
        return [(f"RENAME TABLE {table}", table, table)]
    r = re.match(rf"(?i)RENAME\s+(?:COLUMN\s+)?({IDENT})\s+TO\s+{IDENT}", rest)
    if r and not re.match(r"(?i)RENAME\s+CONSTRAINT", rest):
        col = unquote(r.group(1))
        return [(f"RENAME COLUMN {table}.{col}", table, col)]
    for action in split_top(rest):
        a = re.match(rf"(?i)DROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?({IDENT})", action)
        if a and not re.match(r"(?i)DROP\s+(CONSTRAINT|DEFAULT|NOT\s+NULL|IDENTITY|EXPRESSION)\b", action):
            col = unquote(a.group(1))
            found.append((f"DROP COLUMN {table}.{col}", table, col))
            continue
        a = re.match(rf"(?i)ALTER\s+(?:COLUMN\s+)?({IDENT})\s+(?:SET\s+DATA\s+)?TYPE\b", action)
        if a:
            col = unquote(a.group(1))
            found.append((f"ALTER COLUMN {table}.{col} TYPE", table, col))
            continue
        a = re.match(rf"(?i)ALTER\s+(?:COLUMN\s+)?({IDENT})\s+SET\s+NOT\s+NULL", action)
        if a:
            col = unquote(a.group(1))
            found.append((f"ALTER COLUMN {table}.{col} SET NOT NULL", table, table))
            continue
        a = re.match(rf"(?i)ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?({IDENT})\s+(.*)", action)
        if a and not re.match(r"(?i)ADD\s+(CONSTRAINT|PRIMARY|UNIQUE|CHECK|FOREIGN|EXCLUDE)\b", action):
            spec = a.group(2)
            if re.search(r"(?i)\bNOT\s+NULL\b", spec) and not re.search(r"(?i)\b(DEFAULT|GENERATED)\b", spec):
                col = unquote(a.group(1))
                # Release N's INSERTs into the table leave the column out.
                found.append((f"ADD COLUMN {table}.{col} NOT NULL without DEFAULT", table, table))
    return found


def advice(what):
    """How to split the change over two releases."""
    if "NOT NULL" in what:
        return "give the column a DEFAULT, or add it nullable now and SET NOT NULL in a release after the one that writes it"
    if "TYPE" in what:
        return "add a column of the new type, write both and read the new one in this release, drop the old one in a later release"
    return "stop using it in this release, drop or rename it in a later one"


@functools.lru_cache(maxsize=None)
def previous_code(src, base, actor):
    """{path: text} of what the previous release ran for actor: its folder
    (migrations left out) and the runtime's sources."""
    return {p: data.decode("utf-8", "replace")
            for folder in (f"actors/{actor}", "runtime/src")
            for p, data in releases.files(src, base, folder, (".c", ".h"))
            if "/migrations/" not in p}


def first_use(code, name):
    """'path:line' where the previous code names name as a word, or None."""
    pat = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", re.I)
    for path in sorted(code):
        for no, line in enumerate(code[path].splitlines(), 1):
            if pat.search(line):
                return f"{path}:{no}"
    return None


def check(src, tree, base, version):
    """The findings, one sentence each."""
    findings = []
    actors = sorted(d for d in os.listdir(os.path.join(tree, "actors"))
                    if os.path.isdir(os.path.join(tree, "actors", d, "migrations")))
    for actor in actors:
        folder = f"actors/{actor}/migrations"
        old = {os.path.basename(p): p for p in releases.ls(src, base, folder)}
        now = sorted(f for f in os.listdir(os.path.join(tree, folder)) if f.endswith(".sql"))
        for name, path in sorted(old.items()):
            if name not in now:
                findings.append(f"{path}: removed, but release {version} applied it (add a new migration instead)")
            elif releases.show(src, base, path) != open(os.path.join(tree, path), "rb").read():
                findings.append(f"{path}: edited, but release {version} applied it (cc_migrate refuses a changed checksum; add a new migration instead)")
        code = None
        for name in now:
            if name in old:
                continue
            path = f"{folder}/{name}"
            with open(os.path.join(tree, path), encoding="utf-8") as f:
                sql = f.read()
            for stmt in statements(sql):
                for what, table, ident in breaking(stmt):
                    code = code if code is not None else previous_code(src, base, actor)
                    where = first_use(code, ident)
                    if where:
                        findings.append(
                            f"{path}: {what}: release {version} ({base[:7]}) still uses '{ident}' "
                            f"({where}) and must keep working on this schema: {advice(what)} "
                            f"(docs/migrations.md)")
    return findings


def mutant(src, base, version):
    """A test of the check on copies of the migrations."""
    failures = 0

    def run(label, edit, want):
        nonlocal failures
        tmp = tempfile.mkdtemp(prefix="cc-migrations-")
        try:
            for actor in os.listdir(os.path.join(src, "actors")):
                m = os.path.join(src, "actors", actor, "migrations")
                if os.path.isdir(m):
                    shutil.copytree(m, os.path.join(tmp, "actors", actor, "migrations"))
            edit(os.path.join(tmp, "actors", "submission", "migrations"))
            got = check(src, tmp, base, version)
            ok = any(want in f for f in got) if want else not got
            print(f"{'ok  ' if ok else 'FAIL'} {label}: " + ("; ".join(got) or "accepted"))
            failures += not ok
        finally:
            shutil.rmtree(tmp)

    def add(sql):
        return lambda d: open(os.path.join(d, "9999_mutant.sql"), "w").write(sql)

    def edit_applied(d):
        with open(os.path.join(d, "0001_submissions.sql"), "a") as f:
            f.write("\n-- an edit\n")

    run("DROP COLUMN of a column release N reads", add(
        "-- drops what the last release reads\nALTER TABLE submissions DROP COLUMN verdict;\n"),
        "DROP COLUMN submissions.verdict")
    run("RENAME COLUMN", add('ALTER TABLE public."submissions" RENAME COLUMN language TO lang;'),
        "RENAME COLUMN submissions.language")
    run("DROP TABLE", add("DROP TABLE IF EXISTS runs CASCADE;"), "DROP TABLE runs")
    run("NOT NULL column without a default", add(
        "ALTER TABLE submissions ADD COLUMN judge_id text NOT NULL;"), "ADD COLUMN submissions.judge_id")
    run("an applied migration edited", edit_applied, "0001_submissions.sql: edited")
    run("additive change (accepted)", add(
        "ALTER TABLE submissions ADD COLUMN judge_id text, ADD COLUMN toolchain text NOT NULL DEFAULT '';\n"
        "CREATE TABLE judges (id text PRIMARY KEY);\n"
        "ALTER TABLE submissions DROP CONSTRAINT IF EXISTS nothing_here;\n"
        "DROP TABLE IF EXISTS never_used_by_release_n;\n"), None)
    return 1 if failures else 0


def main(argv):
    a = releases.checked_args(argv, __doc__)
    if a.mutant:
        return mutant(a.src, a.base, a.version)
    findings = check(a.src, a.tree, a.base, a.version)
    for f in findings:
        print(f)
    if not findings:
        print(f"migrations since release {a.version} ({a.base[:7]}): expand only")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
