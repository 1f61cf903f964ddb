"""What a watcher is sent: committed events cut into batches, each with the
bytes of the response that holds it, made once for every watcher.

`WatchRunResponse` and `WatchRunsResponse` are both `repeated Event events =
1`: on the wire, each event's bytes framed by the field's tag and their
length, one after the other, so a response's bytes are its events' frames
joined. The hub keeps a recent event's frame, and the reply to every watcher
of a run at the same position (`EventHub.reply`), so a hundred watchers of a
run cost one serialisation of each event and one join per response, not a
hundred. The frame is of the event as its run's namespace sees it (ids, not
the runner's keys, see `scope.local_event`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

from stepline.v1 import events_pb2

from ..statuses import ends_run
from .scope import local_event

# Bytes of events per response to a watcher (a larger event goes alone).
BATCH_BYTES = 1024 * 1024
# Field 1, wire type 2 (length-delimited): the tag byte of `events`.
_EVENTS_TAG = b"\x0a"


def varint(n: int) -> bytes:
    """`n` (0 or more) as a protobuf base-128 varint."""
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def frame(data: bytes) -> bytes:
    """An event's bytes as one entry of a response's `events`."""
    return _EVENTS_TAG + varint(len(data)) + data


class Batch(list[events_pb2.Event]):
    """Consecutive events of one response, and `wire`: the bytes of the
    Watch(Run|Runs)Response that holds them."""

    __slots__ = ("_local", "wire")

    def __init__(self, events: Iterable[events_pb2.Event], wire: bytes) -> None:
        super().__init__(events)
        self.wire = wire
        self._local: Batch | None = None

    def local(self) -> Batch:
        """The batch as its runs' namespaces see them (ids, not keys, see
        `scope.local_event`), made once for every watcher it is sent to."""
        if self._local is None:
            self._local = Batch(map(local_event, self), self.wire)
        return self._local

    @classmethod
    def of(cls, events: Sequence[events_pb2.Event]) -> Batch:
        """The batch of `events` as they are, serialised here."""
        return cls(events, b"".join(frame(e.SerializeToString()) for e in events))


@dataclass(frozen=True)
class Reply:
    """What a watcher at some position is sent next: `batches` (none when
    every event read was of kinds it does not watch), the sequence it has
    then read up to, whether that was the run's end, and (`drained`, a
    store's reply) whether the store held no event after it when read."""

    batches: list[Batch]
    last: int
    ended: bool = False
    drained: bool = False


def cut(
    events: Sequence[events_pb2.Event],
    kinds: Collection[events_pb2.EventKind],
    frame_of: Callable[[events_pb2.Event], bytes],
    max_bytes: int = BATCH_BYTES,
) -> Reply:
    """The reply of `events` (consecutive, at least one) to a watcher of
    `kinds` (all if empty): up to the run's end if they hold it, in batches
    of at most `max_bytes` of frames (`frame_of`) each, a larger event alone."""
    end = next((i for i, e in enumerate(events) if ends_run(e)), None)
    if end is not None:
        events = events[: end + 1]
    chosen = [e for e in events if e.kind in kinds] if kinds else events
    return Reply(batched(chosen, frame_of, max_bytes), events[-1].sequence, end is not None)


def batched(
    events: Iterable[events_pb2.Event],
    frame_of: Callable[[events_pb2.Event], bytes],
    max_bytes: int = BATCH_BYTES,
) -> list[Batch]:
    """`events` in consecutive batches of at most `max_bytes` of frames
    (`frame_of`) each, a larger event alone."""
    batches: list[Batch] = []
    taken: list[events_pb2.Event] = []
    frames: list[bytes] = []
    size = 0
    for event in events:
        data = frame_of(event)
        if taken and size + len(data) > max_bytes:
            batches.append(Batch(taken, b"".join(frames)))
            taken, frames, size = [], [], 0
        taken.append(event)
        frames.append(data)
        size += len(data)
    if taken:
        batches.append(Batch(taken, b"".join(frames)))
    return batches
