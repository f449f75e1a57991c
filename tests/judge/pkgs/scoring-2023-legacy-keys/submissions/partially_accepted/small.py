# Wrong on 3000: loses g1 (25), keeps g2 (75).
n = int(input())
print(n * n if n < 1000 else 0)
