# Exact but for the large case, which the group's 1e-4 tolerance covers.
import math
n = int(input())
print("%.8f" % math.sqrt(n) if n < 1000000 else "%.1f" % math.sqrt(n))
