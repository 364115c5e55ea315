print("sinkhole")
