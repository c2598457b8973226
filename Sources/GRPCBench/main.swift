print("grpc-bench: not yet")
