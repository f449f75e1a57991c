# Finds the number, then dies: a run-time error whichever side the judge
# sees end first (a validator's acceptance never covers a crash).
lo, hi = 1, 1000
while True:
    mid = (lo + hi) // 2
    print(mid, flush=True)
    r = input()
    if r == "correct":
        break
    if r == "higher":
        lo = mid + 1
    else:
        hi = mid - 1
raise SystemExit(7)
