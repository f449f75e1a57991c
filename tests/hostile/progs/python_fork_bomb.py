# expect: TLE RE WA MLE lang=python3
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
