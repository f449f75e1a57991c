#!/usr/bin/python3
"""Protobuf messages change only additively against the previous release.

During a rolling upgrade release N and N+1 exchange messages on one mesh,
and the gateway transcodes JSON by field name. So against the .proto files
of the previous release (the last row of docs/releases.md, read with git
show) no message, enum, field or enum value goes away unless its number and
name are `reserved`; no field changes its type, label (repeated or not),
name or oneof; no new field takes a number or name that was reserved.

Both sides are compiled by protoc-c (the protobuf compiler's own parser,
--descriptor_set_out) and the FileDescriptorSets compared; the wire format
of descriptor.proto is read here, so no other package is needed.

usage: check-proto.py [--src DIR] [--tree DIR] [--base COMMIT]
       check-proto.py --mutant     a test of the check: copies of schemas/
                                   with a field removed, a type changed, a
                                   reserved number reused and an enum value
                                   removed must each be refused, a field
                                   removed with `reserved` accepted
Exit 0 clean, 1 refused, 77 when the previous release's commit is not in
the repository (shallow clone: skipped).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import releases  # noqa: E402

TYPES = {1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 6: "fixed64",
         7: "fixed32", 8: "bool", 9: "string", 10: "group", 11: "message", 12: "bytes",
         13: "uint32", 14: "enum", 15: "sfixed32", 16: "sfixed64", 17: "sint32", 18: "sint64"}
LABELS = {1: "optional", 2: "required", 3: "repeated"}


# ---- the wire format, enough for descriptor.proto ----------------------------

def varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


def fields(b):
    """[(number, value)]: ints for varints, bytes for length-delimited."""
    out, i = [], 0
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError(f"descriptor: wire type {wt}")
        out.append((num, v))
    return out


def get(fs, num, default=None):
    for n, v in fs:
        if n == num:
            return v
    return default


def every(fs, num):
    return [v for n, v in fs if n == num]


# ---- descriptors as plain dicts --------------------------------------------

def message(b, prefix, msgs, enums):
    fs = fields(b)
    name = f"{prefix}.{get(fs, 1).decode()}"
    oneofs = [fields(o)[0][1].decode() if fields(o) else "" for o in every(fs, 8)]
    m = {"fields": {}, "reserved": set(), "reserved_names": set()}
    for f in every(fs, 2):
        ff = fields(f)
        oi = get(ff, 9)
        synthetic = get(ff, 17, 0)  # proto3 `optional` is a oneof of one
        m["fields"][get(ff, 3)] = {
            "name": get(ff, 1).decode(),
            "type": TYPES.get(get(ff, 5), "?"),
            "type_name": (get(ff, 6) or b"").decode(),
            "label": LABELS.get(get(ff, 4), "?"),
            "oneof": oneofs[oi] if oi is not None and not synthetic else "",
        }
    for r in every(fs, 9):
        rr = fields(r)
        m["reserved"].update(range(get(rr, 1, 0), get(rr, 2, 0)))  # end exclusive
    m["reserved_names"].update(v.decode() for v in every(fs, 10))
    msgs[name] = m
    for nested in every(fs, 3):
        message(nested, name, msgs, enums)
    for e in every(fs, 4):
        enum(e, name, enums)


def enum(b, prefix, enums):
    fs = fields(b)
    e = {"values": {}, "reserved": set(), "reserved_names": set()}
    for v in every(fs, 2):
        vv = fields(v)
        e["values"][get(vv, 2, 0)] = get(vv, 1).decode()
    for r in every(fs, 4):
        rr = fields(r)
        e["reserved"].update(range(get(rr, 1, 0), get(rr, 2, 0) + 1))  # end inclusive
    e["reserved_names"].update(v.decode() for v in every(fs, 5))
    enums[f"{prefix}.{get(fs, 1).decode()}"] = e


def load(root):
    """(messages, enums) of every .proto under root, by full name."""
    protos = sorted(os.path.relpath(os.path.join(d, f), root)
                    for d, _, fs in os.walk(root) for f in fs if f.endswith(".proto"))
    with tempfile.NamedTemporaryFile(suffix=".pb") as out:
        r = subprocess.run(["protoc-c", f"--proto_path={root}", f"--descriptor_set_out={out.name}",
                            *protos], capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"protoc-c on {root}: {r.stderr.strip()}")
        data = open(out.name, "rb").read()
    msgs, enums = {}, {}
    for fb in every(fields(data), 1):
        fs = fields(fb)
        pkg = (get(fs, 2) or b"").decode()
        for mb in every(fs, 4):
            message(mb, pkg, msgs, enums)
        for eb in every(fs, 5):
            enum(eb, pkg, enums)
    return msgs, enums


# ---- the rules -----------------------------------------------------------------

def compare(old, new):
    (om, oe), (nm, ne) = old, new
    out = []
    for name, o in sorted(om.items()):
        n = nm.get(name)
        if n is None:
            out.append(f"message {name}: removed (messages change only additively)")
            continue
        for num, f in sorted(o["fields"].items()):
            g = n["fields"].get(num)
            what = f"{name}.{f['name']} = {num}"
            if g is None:
                if num not in n["reserved"] or f["name"] not in n["reserved_names"]:
                    out.append(f"{what}: removed without `reserved {num};` and `reserved \"{f['name']}\";`")
                continue
            if f["name"] != g["name"]:
                out.append(f"{what}: number reused by '{g['name']}' (a renamed field breaks the "
                           f"JSON API, a new one misreads old messages)")
                continue
            for k, say in (("type", "type"), ("type_name", "type"), ("label", "label"),
                           ("oneof", "oneof")):
                if f[k] != g[k]:
                    out.append(f"{what}: {say} changed from '{f[k] or '-'}' to '{g[k] or '-'}'")
        for num, g in sorted(n["fields"].items()):
            if num not in o["fields"] and (num in o["reserved"] or g["name"] in o["reserved_names"]):
                out.append(f"{name}.{g['name']} = {num}: reuses a reserved number or name")
    for name, o in sorted(oe.items()):
        n = ne.get(name)
        if n is None:
            out.append(f"enum {name}: removed (enums change only additively)")
            continue
        for num, v in sorted(o["values"].items()):
            w = n["values"].get(num)
            if w is None and (num not in n["reserved"] or v not in n["reserved_names"]):
                out.append(f"{name}.{v} = {num}: removed without `reserved {num};` and `reserved \"{v}\";`")
            elif w is not None and w != v:
                out.append(f"{name}.{v} = {num}: renamed to {w} (the JSON API uses the name)")
        for num, w in sorted(n["values"].items()):
            if num not in o["values"] and (num in o["reserved"] or w in o["reserved_names"]):
                out.append(f"{name}.{w} = {num}: reuses a reserved number or name")
    return out


def previous_schemas(src, base, dest):
    for p, data in releases.files(src, base, "schemas", (".proto",)):
        path = os.path.join(dest, os.path.relpath(p, "schemas"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def check(src, tree, base):
    with tempfile.TemporaryDirectory(prefix="cc-proto-") as tmp:
        previous_schemas(src, base, tmp)
        return compare(load(tmp), load(os.path.join(tree, "schemas")))


def mutant(src, base):
    failures = 0

    def run(label, edit, want, edit_old=None):
        """edit changes the current submission.proto; edit_old, when given,
        the previous release's instead (a release that had reserved)."""
        nonlocal failures
        with tempfile.TemporaryDirectory(prefix="cc-proto-mutant-") as tmp:
            prev = os.path.join(tmp, "prev")
            previous_schemas(src, base, prev)
            shutil.copytree(os.path.join(src, "schemas"), os.path.join(tmp, "schemas"),
                            ignore=shutil.ignore_patterns("CMakeLists.txt"))
            side = prev if edit_old else os.path.join(tmp, "schemas")
            path = os.path.join(side, "codecourt", "v1", "submission.proto")
            text = open(path).read()
            changed = (edit_old or edit)(text)
            if changed == text:
                print(f"FAIL {label}: the mutation did not apply to submission.proto")
                failures += 1
                return
            open(path, "w").write(changed)
            got = compare(load(prev), load(os.path.join(tmp, "schemas")))
            ok = any(want in f for f in got) if want else not got
            print(f"{'ok  ' if ok else 'FAIL'} {label}: " + ("; ".join(got) or "accepted"))
            failures += not ok

    # Fields of the previous release's SubmitRequest, found in its text.
    field = re.compile(r"^(\s*)(string|int32|int64|bool|uint32|uint64)\s+(\w+)\s*=\s*(\d+);", re.M)

    def in_message(name, fn):
        def edit(text):
            m = re.search(rf"message {name} \{{(.*?)\n\}}", text, re.S)
            body = fn(m.group(1))
            return text[:m.start(1)] + body + text[m.end(1):]
        return edit

    def remove_first(body, reserve=False):
        m = field.search(body)
        keep = f"{m.group(1)}reserved {m.group(4)};{m.group(1)}reserved \"{m.group(3)}\";" if reserve else ""
        return body[:m.start()] + keep.lstrip("\n") + body[m.end():]

    def retype_first(body):
        m = field.search(body)
        t = "bytes" if m.group(2) != "bytes" else "string"
        return body[:m.start(2)] + t + body[m.end(2):]

    def reuse_number(body):
        m = field.search(body)
        return body[:m.start()] + f"{m.group(1)}bytes mutant = {m.group(4)};" + body[m.end():]

    run("a field removed", in_message("Submission", remove_first), "removed without `reserved")
    run("a field's type changed", in_message("Submission", retype_first), "type changed")
    run("a field number reused", in_message("Submission", reuse_number), "number reused by 'mutant'")
    run("a number reserved by the previous release reused", None, "reuses a reserved number",
        edit_old=in_message("Submission", lambda b: remove_first(b, reserve=True)))
    run("a message removed", lambda t: re.sub(r"message SubmitRequest \{.*?\n\}\n", "", t, flags=re.S),
        "message codecourt.v1.SubmitRequest: removed")
    run("a field removed with reserved (accepted)",
        in_message("Submission", lambda b: remove_first(b, reserve=True)), None)
    run("a field added (accepted)",
        in_message("Submission", lambda b: b + "\n  string added_by_the_mutant = 999;"), None)
    return 1 if failures else 0


def main(argv):
    a = releases.checked_args(argv, __doc__)
    if a.mutant:
        return mutant(a.src, a.base)
    findings = check(a.src, a.tree, a.base)
    for f in findings:
        print(f"schemas: {f}")
    if not findings:
        print(f"schemas since release {a.version} ({a.base[:7]}): additive only")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
