print("%.9f" % (int(input()) / 2 + 1e-8))
