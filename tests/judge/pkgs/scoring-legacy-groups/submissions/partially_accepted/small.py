# Right only below 1000: all of g1 (30), four of g2 (40).
n = int(input())
print(n * n if n < 1000 else 0)
