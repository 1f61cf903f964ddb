"""The gRPC layer: translates between the wire and the engine, nothing more."""
