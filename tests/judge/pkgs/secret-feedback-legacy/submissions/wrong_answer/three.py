# Right on the sample (1 2 -> 3) only.
print(3)
