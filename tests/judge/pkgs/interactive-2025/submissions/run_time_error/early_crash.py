# Makes one guess and crashes before reading the answer: a run-time error.
# The validator then reads end of file and rejects ("no guess"), but only
# after the program's end was recorded, so the program ended first.
print(500, flush=True)
print(1 // 0)
