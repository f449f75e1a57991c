print("never judged")
