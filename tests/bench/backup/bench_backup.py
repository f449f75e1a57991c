#!/usr/bin/python3
"""Backup and restore figures (issue 25; a documented run, not a test):
N submissions (default 10,000) judged on a local stack (cc-local), then
`cc-local backup` timed and its archive measured, then `cc-local restore`
into a fresh state folder timed, then the restored stack started and timed
until every read model has replayed the restored stream (GET
/v1/users/{id}/stats of the last user agrees). See docs/benchmarks.md.

Usage: bench_backup.py BIN_DIR [N]
CC_BENCH_WAIT=0 takes the backup as soon as every submission is accepted,
with the judges still working through the queue (a machine that judges
slowly), and reports how many were judged by then."""
import concurrent.futures
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "integration", "backup"))
import test_backup as tb  # noqa: E402

N = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
USERS = 20


class BenchStack(tb.Stack):
    """A stack whose users may each have every submission queued at once."""

    def env(self):
        e = super().env()
        e["CC_MAX_QUEUED"] = str(N)
        return e


def judged_count(st, tokens):
    n = 0
    for tok in tokens:
        n += sum(1 for s in tb.all_pages(st, "/v1/submissions", tok, "submissions")
                 if s.get("status") == "judged")
    return n


def main():
    root = tempfile.mkdtemp(prefix="ccbench-backup-")
    a, b = BenchStack(root, "a"), BenchStack(root, "b")
    archive = os.path.join(root, "codecourt.backup")
    try:
        a.start()
        tokens = []
        for i in range(USERS):
            tb.register(a, "bench%d" % i)
            tokens.append(tb.login(a, "bench%d" % i, "password-bench%d" % i))
        t0 = time.time()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for k, _ in enumerate(pool.map(lambda i: tb.submit(a, tokens[i % USERS]), range(N))):
                if k % 1000 == 999:
                    print("submitted %d (%.0f s)" % (k + 1, time.time() - t0), flush=True)
        print("submitted %d in %.1f s" % (N, time.time() - t0), flush=True)
        while os.environ.get("CC_BENCH_WAIT", "1") != "0":
            done = judged_count(a, tokens)
            print("judged %d of %d (%.0f s)" % (done, N, time.time() - t0), flush=True)
            if done >= N:
                break
            time.sleep(30)
        print("judged at backup time: %d of %d" % (judged_count(a, tokens), N), flush=True)
        t1 = time.time()
        r = a.admin("backup", archive)
        backup_s = time.time() - t1
        if r.returncode:
            raise SystemExit("backup failed")
        size = os.path.getsize(archive)
        a.stop()
        t2 = time.time()
        r = b.admin("restore", archive)
        restore_s = time.time() - t2
        if r.returncode:
            raise SystemExit("restore failed")
        t3 = time.time()
        b.start()
        tok = tb.login(b, "bench0", "password-bench0")
        start_s = time.time() - t3
        print("RESULT submissions=%d backup_s=%.1f archive_bytes=%d restore_s=%.1f "
              "restored_stack_ready_s=%.1f" % (N, backup_s, size, restore_s, start_s), flush=True)
        print("judged after restore: %d" % judged_count(b, [tok]), flush=True)
    finally:
        a.stop()
        b.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
