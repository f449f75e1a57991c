# @EXPECTED_RESULTS@: CORRECT (ignored in the format's own folders)
a, b = map(int, input().split())
print(a + b + 1)
