"""`ServiceFeatures`: which optional faster paths each executor service
advertises in Describe, as of the incarnation that said so.

The runner asks for the state with Execute (`ExecuteRequest.return_state`),
and sends Execute (and EndRun) on the Session stream, only to a service that
advertises it. A service may restart as another build that does not: a reply from a new
incarnation drops what the old one said, and the next call asks Describe
again. Correctness does not hang on this cache: a reply without the state
makes the runner call SaveCheckpoint, and a session the new process refuses
breaks like a restart (a rollback).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from .ports import ExecutorCallError, ExecutorPort

# Describe "never fails": a service that does not answer it this fast is
# treated as offering nothing, and the Execute that follows finds out more.
DESCRIBE_TIMEOUT = 2.0


@dataclass(frozen=True)
class Advertised:
    incarnation_id: str = ""
    state_with_execute: bool = False
    session: bool = False
    session_end_run: bool = False


NOTHING = Advertised()


class ServiceFeatures:
    """One per runner: shared by every run, so one Describe per endpoint and
    incarnation however many runs use it."""

    def __init__(self, executors: ExecutorPort) -> None:
        self._executors = executors
        self._known: dict[str, Advertised] = {}
        self._asking: dict[str, asyncio.Future[Advertised | None]] = {}

    async def of(self, endpoint: str) -> Advertised:
        """What the service at `endpoint` advertises (nothing if it does not answer)."""
        known = self._known.get(endpoint)
        if known is None:
            known = await self._describe(endpoint)
        return known or NOTHING

    def known(self, endpoint: str) -> Advertised | None:
        """What the service at `endpoint` advertised, if that is known (no
        Describe, no wait: `of` without a coroutine, for every Execute)."""
        return self._known.get(endpoint)

    def ends_on_stream(self, endpoint: str) -> bool:
        """Whether the service at `endpoint` is known to take EndRun on its
        Session stream (not known: the unary call, which every service takes).
        A unary call's set-up each was a fifth of a short run's runner CPU."""
        known = self._known.get(endpoint)
        return known is not None and known.session_end_run

    def seen(self, endpoint: str, incarnation_id: str) -> None:
        """A reply came from `incarnation_id`: forget what another one advertised."""
        known = self._known.get(endpoint)
        if known is not None and incarnation_id and known.incarnation_id != incarnation_id:
            del self._known[endpoint]

    async def _describe(self, endpoint: str) -> Advertised | None:
        asking = self._asking.get(endpoint)
        if asking is None:
            asking = self._asking[endpoint] = asyncio.ensure_future(self._ask(endpoint))
            asking.add_done_callback(lambda _: self._asking.pop(endpoint, None))
        return await asyncio.shield(asking)

    async def _ask(self, endpoint: str) -> Advertised | None:
        try:
            described = await self._executors.describe(endpoint, DESCRIBE_TIMEOUT)
        except ExecutorCallError:
            return None  # not cached: ask again next time
        features = described.features
        known = Advertised(
            described.incarnation_id,
            features.state_with_execute,
            features.session,
            features.session and features.session_end_run,
        )
        self._known[endpoint] = known
        return known
