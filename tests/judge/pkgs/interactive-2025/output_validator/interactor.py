import sys
secret = int(open(sys.argv[1]).read())
fb = sys.argv[3]
for guesses in range(1, 12):
    line = sys.stdin.readline()
    if not line:
        open(fb + "judgemessage.txt", "w").write("no guess")
        sys.exit(43)
    g = int(line)
    if g == secret:
        print("correct", flush=True)
        sys.exit(42)
    print("higher" if g < secret else "lower", flush=True)
open(fb + "judgemessage.txt", "w").write("too many guesses")
sys.exit(43)
