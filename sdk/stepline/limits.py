"""Size limits shared by the runner, the SDK's services and its client."""

# gRPC's default cap is 4 MiB; executor states may be far larger (issue: 64 MiB
# states must work end to end), so every channel and server raises it to this.
MAX_MESSAGE_BYTES = 128 * 1024 * 1024

# Largest executor state the SDK will send: the message cap less room for the
# rest of the response. Larger data belongs outside the state (store a reference).
MAX_STATE_BYTES = MAX_MESSAGE_BYTES - 1024 * 1024

GRPC_MESSAGE_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]

# Servers: gRPC lets two processes share a port by default (SO_REUSEPORT); a
# service must rather fail to start than answer for another one.
GRPC_SERVER_OPTIONS = [*GRPC_MESSAGE_OPTIONS, ("grpc.so_reuseport", 0)]
