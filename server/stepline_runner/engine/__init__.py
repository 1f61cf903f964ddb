"""The superstep engine. It knows nothing of gRPC: executors are reached through
`ExecutorPort` and state is kept through `Store`."""
