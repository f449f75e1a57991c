# A validator that says too much, as real ones do: its rejection quotes
# the answer in judgemessage.txt, and on "-1" it fails (exit 1) with the
# answer on stderr. The judge keeps both on the test, and the submission's
# own message must not repeat them for a secret test.
import os
import sys

ans = open(sys.argv[2]).read().split()
out = sys.stdin.read().split()
if out == ans:
    sys.exit(42)
if out == ["-1"]:
    sys.stderr.write("broken on purpose; the answer is %s\n" % " ".join(ans))
    sys.exit(1)
with open(os.path.join(sys.argv[3], "judgemessage.txt"), "w") as f:
    f.write("expected %s" % " ".join(ans))
sys.exit(43)
