"""Live delivery of committed events to watchers.

Watchers of one run pull: each reads what it has not seen from a short
in-memory tail of the run, or from the store when it fell further behind, then
waits for the next commit. Nothing is queued per watcher, so a stalled one
costs no memory and never slows the run or the other watchers.

Many watchers of one run are woken together, at a pace: the hub lets a run's
watchers see its commits at most once every `PACE_PER_WATCHER` times their
number (at most `PACE_MAX`), the first commit after a quiet spell at once, as
one that leaves the run waiting for input (and its end). So
a hundred watchers of a fast run wake at the same moments, read the same
events, and are sent the same reply, made once (`reply`): a few large
responses each, not one per commit each (a response costs gRPC far more than
an event's bytes in it), and one serialisation and one join per response for
all of them. A lone watcher is not paced; live events reach one of N watchers
at most min(N x 2 ms, 200 ms) later than they would alone. Watchers that
join a live run (a hundred start within some 100 ms of each other) push a
wake-up that is due to the pace of their new number, and one that joins
while a wake-up is due catches up with it (`joined`): fewer, fuller
responses while they arrive, within the same bound.

Watchers of a run another runner drives (runners sharing a database) are
woken by news of its commits (`heard`) at the same pace: they read the store
once a pace, one read for all of them, not once a commit each.

Watchers of all runs (dashboards) get a live buffer each
(`subscriptions.Subscription`), filled as the hub publishes and paced alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stepline.v1 import events_pb2

from ..statuses import ends_run, leaves_waiting_for_input
from .pacing import Heard, Pacer, pace_of
from .replies import Reply, cut, frame
from .scope import local_event
from .shared_reads import SharedReads
from .subscriptions import Dashboards, Subscription

if TYPE_CHECKING:  # relay.py imports the hub
    from .relay import Relay

# Replies a run's tail keeps for its watchers' positions (and kinds) at once.
REPLIES_KEPT = 16
# A tail keeps at most this many times its count, shown to its watchers or
# not (its bytes bound them, measured serialised: parsed, they are larger).
UNSHOWN_KEPT = 16
# A commit of a run nobody watches wakes nobody (`publish`): an uncounted waiter sleeps on.
WATCHING = "a run's waiter is counted by hub.watching first"


_BYTE_SIZE = events_pb2.Event.ByteSize


@dataclass(eq=False)
class _RunTail:
    """A run's latest events, at most so many and so many bytes (at least the
    last one): a watcher further behind reads the store. Its watchers see
    them up to `visible`, the last sequence when they were last woken; those
    not shown yet stay past the count (within the bytes, and UNSHOWN_KEPT
    times the count), so that watchers who kept up read what a wake-up
    shows them here, once for all, however many events a pace held (at
    200 ms, a fast run commits thousands: with 512 kept, every wake-up sent
    them all to the store, a response per 256 events each)."""

    events: deque[events_pb2.Event] = field(default_factory=deque)
    sizes: deque[int] = field(default_factory=deque)
    size: int = 0
    last_sequence: int = 0
    visible: int = 0
    ended: bool = False  # its last event ends the run
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    # Sequence -> the event's frame, once a watcher needed it.
    frames: dict[int, bytes] = field(default_factory=dict)
    # (position, kinds) -> the reply to a watcher there, until `visible` moves.
    replies: dict[tuple[int, frozenset[events_pb2.EventKind]], Reply] = field(default_factory=dict)
    pacer: Pacer = field(default_factory=Pacer)

    def extend(self, events: list[events_pb2.Event], count: int, size: int) -> None:
        kept, sizes = self.events, self.sizes
        added = list(map(_BYTE_SIZE, events))  # no frame of a comprehension
        kept.extend(events)
        sizes.extend(added)
        self.size += sum(added)
        while len(kept) > 1 and (
            self.size > size
            or len(kept) > UNSHOWN_KEPT * count
            or (len(kept) > count and kept[0].sequence <= self.visible)
        ):
            dropped = kept.popleft()
            self.size -= sizes.popleft()
            if self.frames:  # none until a watcher needs one
                self.frames.pop(dropped.sequence, None)
        self.last_sequence = kept[-1].sequence

    def holds(self, sequence: int) -> bool:
        return bool(self.events) and self.events[0].sequence <= sequence <= self.last_sequence

    def show(self) -> None:
        """Let the watchers see every event published so far, and wake them."""
        self.visible = self.last_sequence
        self.replies.clear()
        self.changed.set()
        self.changed = asyncio.Event()


class EventHub:
    def __init__(
        self,
        tail_size: int = 512,
        subscriber_bytes: int = 16 * 1024 * 1024,
        tail_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self._tail_size = tail_size
        self._tail_bytes = tail_bytes
        self._runs: dict[str, _RunTail] = {}
        self._watchers: dict[str, int] = {}  # run id -> watchers following it
        self._dashboards = Dashboards(subscriber_bytes)  # watchers of all runs
        # Run id -> its watchers' wake-ups held back at the pace, for news of
        # another runner's commits (`heard`).
        self._heard: dict[str, Heard] = {}
        # Watchers at the same position of a run the tail does not hold read it once.
        self.stored = SharedReads()
        # Runners sharing a database: what the watchers of all runs get goes
        # through it (relay.py), in order with the other runners' commits.
        self.relay: Relay | None = None

    @property
    def subscribed(self) -> bool:
        """Someone watches all runs (or a workflow's, or a namespace's)."""
        return bool(self._dashboards)

    def offer(self, workflow_id: str, events: list[events_pb2.Event]) -> None:
        """Hand committed events of one run to the watchers of all runs."""
        self._dashboards.offer(workflow_id, events, self.frame)

    def _tail(self, run_id: str) -> _RunTail:
        tail = self._runs.get(run_id)
        if tail is None:
            tail = self._runs[run_id] = _RunTail()
        return tail

    def publish(self, run_id: str, workflow_id: str, events: list[events_pb2.Event]) -> None:
        """Announce events that are committed, in sequence order."""
        if not events:
            return
        tail = self._tail(run_id)
        if run_id not in self._watchers:
            # Nobody to show them to: they count as shown (so the tail keeps
            # its count, not a whole fan-out's commit until the next).
            tail.visible = events[-1].sequence
        tail.extend(events, self._tail_size, self._tail_bytes)
        if self.relay is not None:  # runners sharing a database: in order with the others'
            self.relay.published(run_id, workflow_id, events)
        elif self._dashboards:
            self._dashboards.offer(workflow_id, events, lambda e: self._frame(tail, e))
        tail.ended = ends_run(events[-1])
        if not tail.ended:
            if run_id not in self._watchers:
                # Nobody to wake or pace (every waiter is `watching`: WATCHING):
                # one who comes sees up to here (`visible`, set above), and
                # waits for the next.
                tail.replies.clear()
            elif leaves_waiting_for_input(events):
                # Nothing follows soon, and whoever answers its requests may be
                # one of the watchers: held back, each answer would wait a pace.
                self._show_now(run_id, tail)
            else:
                tail.pacer.due(self.pace(run_id), tail.show)
            return
        self._show_now(run_id, tail)  # the end shows at once, whatever the pace
        if run_id not in self._watchers:
            # Finished runs are served from the store. While it has watchers,
            # they read the end from here (once for all), see `watching`.
            del self._runs[run_id]

    def _show_now(self, run_id: str, tail: _RunTail) -> None:
        """Wake the run's watchers now: those of its tail, and those held on
        the pace of news (a tail dropped as stale, `heard`, `wait`)."""
        tail.pacer.now(tail.show)
        self._wake_heard(run_id)

    @contextlib.contextmanager
    def watching(self, run_id: str) -> Iterator[None]:
        """Count a watcher of the run while the block runs (see `pace`); the
        last to leave a run that ended takes its tail along."""
        self._watchers[run_id] = self._watchers.get(run_id, 0) + 1
        if (tail := self._runs.get(run_id)) is not None:
            tail.pacer.later(self.pace(run_id), tail.show)
        if (heard := self._heard.get(run_id)) is not None:
            heard.pacer.later(self.pace(run_id), heard.wake)
        try:
            yield
        finally:
            left = self._watchers.pop(run_id) - 1
            if left:
                self._watchers[run_id] = left
            else:
                self._wake_heard(run_id)
                if (tail := self._runs.get(run_id)) is not None and tail.ended:
                    del self._runs[run_id]

    def watched(self) -> Collection[str]:
        """The runs someone follows here (a view: it changes as they come and go)."""
        return self._watchers.keys()

    def pace(self, run_id: str) -> float:
        """Seconds the run's watchers are left between two wake-ups."""
        return pace_of(self._watchers.get(run_id, 1))

    def frame(self, event: events_pb2.Event) -> bytes:
        """The event's frame (`replies.frame`), as its run's namespace sees it:
        made once while it is in its run's tail, however many watchers send it."""
        tail = self._runs.get(event.run_id)
        if tail is None or not tail.holds(event.sequence):
            return frame(local_event(event).SerializeToString())
        return self._frame(tail, event)

    def _frame(self, tail: _RunTail, event: events_pb2.Event) -> bytes:
        data = tail.frames.get(event.sequence)
        if data is None:
            data = tail.frames[event.sequence] = frame(local_event(event).SerializeToString())
        return data

    def cut(
        self, events: Sequence[events_pb2.Event], kinds: Collection[events_pb2.EventKind]
    ) -> Reply:
        """The reply of `events` (of one run, consecutive, at least one) to a
        watcher of `kinds` (see `replies.cut`)."""
        return cut(events, kinds, self.frame)

    def recent(self, run_id: str, after_sequence: int) -> list[events_pb2.Event] | None:
        """Events after `after_sequence` its watchers may see, from the tail:
        [] when the caller is up to date, None when the tail does not hold
        them all (read the store)."""
        tail = self._runs.get(run_id)
        if tail is None or not tail.visible:
            return None
        if tail.visible <= after_sequence:
            return []
        first = tail.events[0].sequence
        if first > after_sequence + 1:
            return None
        return list(
            itertools.islice(tail.events, after_sequence + 1 - first, tail.visible + 1 - first)
        )

    def reply(
        self, run_id: str, after_sequence: int, kinds: frozenset[events_pb2.EventKind]
    ) -> Reply | None:
        """What a watcher of `kinds` that has seen the run up to
        `after_sequence` is sent next, from the tail (made once for every
        watcher there): its `last` is `after_sequence` when the watcher is up
        to date; None when the tail does not hold it (read the store)."""
        key = (after_sequence, kinds)
        tail = self._runs.get(run_id)
        if tail is not None and (made := tail.replies.get(key)) is not None:
            return made  # the others there took it: no copy of the tail's events again
        events = self.recent(run_id, after_sequence)
        if events is None:
            return None
        if not events:
            return Reply([], after_sequence)
        tail = self._runs[run_id]
        if len(tail.replies) >= REPLIES_KEPT:
            tail.replies.clear()
        made = tail.replies[key] = cut(events, kinds, lambda e: self._frame(tail, e))
        return made

    async def joined(self, run_id: str, after_sequence: int) -> None:
        """A watcher that starts at `after_sequence` waits for the run's next
        wake-up if one is due (at most the pace away) and the tail holds
        what it has not seen: what it catches up on then goes out with what
        the others are sent, one response for it instead of two."""
        assert run_id in self._watchers, WATCHING
        tail = self._runs.get(run_id)
        if tail is None or tail.pacer.timer is None or not tail.visible:
            return
        if tail.events[0].sequence <= after_sequence + 1:
            await tail.changed.wait()

    async def wait(
        self,
        run_id: str,
        after_sequence: int,
        stored_last_sequence: Callable[[], Awaitable[int]],
    ) -> None:
        """Return once an event after `after_sequence` may have been committed.

        A run's tail is dropped when it ends, so a waiter that finds none asks
        the store too: the run's last commit may have been published while the
        waiter was reading, and nothing would ever wake it.
        """
        assert run_id in self._watchers, WATCHING
        fresh = run_id not in self._runs
        tail = self._tail(run_id)
        if tail.visible > after_sequence:
            return
        changed = tail.changed  # taken first: a publish during the read below sets it
        if fresh:
            try:
                stored = await stored_last_sequence()
            except BaseException:
                # The run is gone (deleted): keep no tail for it.
                if self._runs.get(run_id) is tail and not tail.last_sequence:
                    self.forget(run_id)
                raise
            if stored > after_sequence:
                # Committed unheard of here (by another runner, or published
                # while this read): as news is, at the pace; the empty tail
                # goes, so that the next waiter asks the store again.
                if self._runs.get(run_id) is tail and not tail.last_sequence:
                    del self._runs[run_id]
                self._hold(run_id, changed)
        await changed.wait()

    def wake(self, run_id: str) -> None:
        """Events of the run may have been committed unseen here: drop what
        this hub holds of it, stale now, and wake its waiters, who then read
        the new events from the store."""
        self.forget(run_id)

    def heard(self, run_id: str) -> None:
        """Another runner committed events of the run (runners sharing a
        database): `wake`, at the run's pace as for commits made here, so
        that a hundred watchers of a run driven elsewhere read the store and
        are answered once a pace, not once a commit each. The stale tail goes
        at once (whoever comes reads the store); its waiters wake at the pace,
        the run's end too: the news does not say which commit ends it."""
        tail = self._runs.pop(run_id, None)
        if tail is None:
            return  # nobody waits: a watcher that comes reads the store
        tail.pacer.cancel()
        if run_id not in self._watchers:
            tail.changed.set()  # nobody waits (every waiter is `watching`)
            return
        self._hold(run_id, tail.changed)

    def _hold(self, run_id: str, changed: asyncio.Event) -> None:
        """Set `changed` at the run's next wake-up by news."""
        heard = self._heard.setdefault(run_id, Heard())
        heard.waiters.append(changed)
        heard.pacer.due(self.pace(run_id), heard.wake)

    def _wake_heard(self, run_id: str) -> None:
        if (heard := self._heard.pop(run_id, None)) is not None:
            heard.end()

    def wake_all(self) -> None:
        """`wake` every run: commits elsewhere may have gone unannounced."""
        for heard in self._heard.values():
            heard.end()
        self._heard.clear()
        for run_id in list(self._runs):
            self.forget(run_id)

    def forget(self, run_id: str) -> None:
        """The run was deleted: wake whoever waits on it, keep nothing of it."""
        self._wake_heard(run_id)
        tail = self._runs.pop(run_id, None)
        if tail is not None:
            tail.pacer.cancel()
            tail.changed.set()

    # -- watchers of all runs

    def subscribe_all(
        self,
        workflow_id: str = "",
        kinds: Collection[events_pb2.EventKind] = (),
        namespace: str | None = None,
    ) -> Subscription:
        """Live events of every run (or one workflow's runs, or one namespace's)
        from now on."""
        return self._dashboards.subscribe(workflow_id, frozenset(kinds), namespace)
