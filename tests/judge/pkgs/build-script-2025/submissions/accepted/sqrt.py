import math
print("%.8f" % math.sqrt(int(input())))
