print("half")
