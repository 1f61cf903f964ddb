"""Size limits and gRPC options shared by the runner, the SDK's services and
its client: one definition, which every channel and server takes."""

from collections.abc import Sequence

from google.protobuf.message import Message

# gRPC's default cap is 4 MiB; executor states may be far larger (issue: 64 MiB
# states must work end to end), so every channel and server raises it to this.
MAX_MESSAGE_BYTES = 128 * 1024 * 1024

# Largest executor state the SDK will send: the message cap less room for the
# rest of the response. Larger data belongs outside the state (store a reference).
MAX_STATE_BYTES = MAX_MESSAGE_BYTES - 1024 * 1024

# What one Session message carrying several calls or replies may hold
# (`SessionRequest.calls`, `SessionReply.replies`): far under the cap, so that
# a batch never fails where each of its parts alone would go.
SESSION_BATCH_BYTES = 4 * 1024 * 1024


def batch_size(messages: Sequence[Message], max_bytes: int | None = None) -> int:
    """How many of `messages`, from the first, one batch takes: as many as
    stay within `max_bytes` (`SESSION_BATCH_BYTES`) together, and always the
    first (alone, it goes as it would without batches)."""
    if len(messages) == 1:
        return 1  # the common case: no size to compute
    max_bytes = SESSION_BATCH_BYTES if max_bytes is None else max_bytes
    size = 0
    for count, message in enumerate(messages):
        size += message.ByteSize()
        if count and size > max_bytes:
            return count
    return len(messages)


# The EndRun calls one Session message may carry (`SessionRequest.end_run`):
# a service refuses more (INVALID_ARGUMENT), the runner sends no more.
SESSION_END_RUNS = 1024

# What a Session stream's initial metadata says (executor.proto, Session): its
# service takes several calls in one request, and stops a call on a `cancel`.
SESSION_BATCHES = ("stepline-session-batches", "1")
SESSION_CANCELS = ("stepline-session-cancel", "1")
# ... and how many calls it runs at once (past that they wait, read): the
# runner keeps no more in flight on the stream, so that its cancels are read.
SESSION_CALLS = "stepline-session-calls"
# The most a stream may say it runs at once (a larger figure is taken as this).
SESSION_CALLS_MOST = 1_000_000


def session_calls(metadata: Sequence[tuple[str, str | bytes]]) -> int | None:
    """How many calls a Session stream's initial metadata says its service
    runs at once; None if it does not say (or says nothing a count can be)."""
    said = next((v for k, v in metadata if k == SESSION_CALLS), None)
    if not isinstance(said, str) or not said.isascii() or not said.isdigit():
        return None
    if len(said) > len(str(SESSION_CALLS_MOST)):
        return SESSION_CALLS_MOST if said.strip("0") else None
    return min(int(said), SESSION_CALLS_MOST) or None


GRPC_MESSAGE_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]

MAX_RECONNECT_BACKOFF_MS = 1000
"""A channel whose service went away tries again at most this long apart."""

# Client channels: `RunnerClient`'s to the runner, the runner's to executor services.
GRPC_CHANNEL_OPTIONS = [
    *GRPC_MESSAGE_OPTIONS,
    # Reconnect within a second of a service's restart, not after gRPC's
    # default backoff, which grows to minutes.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", MAX_RECONNECT_BACKOFF_MS),
    # gRPC also takes min_reconnect_backoff as the time one connection attempt
    # may take (the handshake included): left at its 20 s, since at 100 ms a
    # loaded machine failed first calls as UNAVAILABLE.
    ("grpc.min_reconnect_backoff_ms", 20_000),
    # Connections of the channel's own. In gRPC's process-wide pool a new
    # channel to an address shares the connection an earlier channel failed
    # to make, and its calls fail at once until that one's backoff is over,
    # though the service has come up meanwhile.
    ("grpc.use_local_subchannel_pool", 1),
]

# Servers: gRPC lets two processes share a port by default (SO_REUSEPORT); a
# service must rather fail to start than answer for another one.
GRPC_SERVER_OPTIONS = [*GRPC_MESSAGE_OPTIONS, ("grpc.so_reuseport", 0)]
