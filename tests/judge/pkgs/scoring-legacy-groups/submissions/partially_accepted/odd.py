# Right only on odd n: g1 stops at its first failure (0), g2 gets 01, 07 (20).
n = int(input())
print(n * n if n % 2 else -1)
