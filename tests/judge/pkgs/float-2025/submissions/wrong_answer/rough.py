print("%.2f" % (int(input()) / 2 + 0.01))
