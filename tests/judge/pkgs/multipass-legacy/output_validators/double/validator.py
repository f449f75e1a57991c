# Multi-pass (legacy form): the input is "pass x" and the program must
# print 2x; after pass 1 the next pass's input is "2 <that output>", after
# pass 2 the output is compared with the answer (4x).
import sys

inp, ans, feedback = sys.argv[1], sys.argv[2], sys.argv[3]
with open(inp) as f:
    pas, x = map(int, f.read().split())
with open(ans) as f:
    want = int(f.read().split()[0])
try:
    got = int(sys.stdin.read().split()[0])
except (ValueError, IndexError):
    sys.exit(43)
if got != 2 * x:
    with open(feedback + "judgemessage.txt", "w") as m:
        m.write("pass %d: expected %d\n" % (pas, 2 * x))
    sys.exit(43)
if pas == 1:
    with open(feedback + "nextpass.in", "w") as n:
        n.write("2 %d\n" % got)
    sys.exit(42)
sys.exit(42 if got == want else 43)
