# Guesses 1, 2, 3...: the validator rejects after eleven guesses, and the
# program then reads end of file and exits 1. The validator ended first,
# so it is WA, not RE.
for g in range(1, 1001):
    print(g, flush=True)
    if input() == "correct":
        break
