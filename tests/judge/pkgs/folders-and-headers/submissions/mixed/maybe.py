# @EXPECTED_RESULTS@: CORRECT, WRONG-ANSWER
a, b = map(int, input().split())
print(a + b + (a > 10))
