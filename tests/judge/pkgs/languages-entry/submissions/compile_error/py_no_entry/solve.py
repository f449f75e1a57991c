import util
print(util.add(*map(int, input().split())))
