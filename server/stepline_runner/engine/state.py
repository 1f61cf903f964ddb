"""`RunState`: what an active run holds between supersteps, and its checkpoint form."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from stepline.payloads import state_hash
from stepline.v1 import events_pb2, payload_pb2, runner_pb2

from ..statuses import settled
from ..store import NewCheckpoint, StateRef
from .graph import Graph


def random_id() -> str:
    """A random id of the form of `uuid.uuid4().hex` (32 hex digits, version 4,
    RFC 4122 variant), made in a third of the time."""
    made = bytearray(os.urandom(16))
    made[6] = made[6] & 0x0F | 0x40
    made[8] = made[8] & 0x3F | 0x80
    return made.hex()


@dataclass
class RunState:
    run_id: str
    graph: Graph
    superstep: int
    checkpoint_id: str
    # Routed messages for the next superstep, in send order.
    pending: list[payload_pb2.Message] = field(default_factory=list)
    fan_in: dict[int, list[payload_pb2.Message]] = field(default_factory=dict)
    shared_state: dict[str, payload_pb2.Payload] = field(default_factory=dict)
    pending_requests: dict[str, payload_pb2.InputRequest] = field(default_factory=dict)
    pending_responses: list[payload_pb2.InputResponse] = field(default_factory=list)
    # Messages sent with a delay, not routed yet: the earliest first (timers.py).
    timers: list[payload_pb2.Message] = field(default_factory=list)
    # Last saved state of each executor that has one.
    states: dict[str, StateRef] = field(default_factory=dict)

    @property
    def has_work(self) -> bool:
        return bool(self.pending or self.pending_responses)

    @property
    def settled_status(self) -> events_pb2.RunStatus:
        """The run's status if nothing fails: see `statuses.settled`."""
        return settled(self.has_work, bool(self.pending_requests), bool(self.timers))

    def advance(
        self,
        step: int,
        pending: list[payload_pb2.Message],
        fan_in: dict[int, list[payload_pb2.Message]],
        shared_state: dict[str, payload_pb2.Payload],
        pending_requests: dict[str, payload_pb2.InputRequest],
    ) -> None:
        """Superstep `step` completed: it delivered the answered requests, and
        left these messages, fan-in buffers, shared state and open requests."""
        self.superstep = step
        self.pending = pending
        self.fan_in = fan_in
        self.shared_state = shared_state
        self.pending_requests = pending_requests
        self.pending_responses = []

    def checkpoint(
        self, parent_checkpoint_id: str, changed: frozenset[str] | None = None
    ) -> NewCheckpoint:
        """This state as a checkpoint; `changed` names the executors whose state
        differs from the parent's (None: treat every state as new)."""
        content = runner_pb2.CheckpointContent(**self._content_fields())
        return NewCheckpoint(
            checkpoint_id=random_id(),
            superstep=self.superstep,
            parent_checkpoint_id=parent_checkpoint_id,
            graph_signature=self.graph.signature,
            states=dict(self.states),
            content=content,
            changed=changed,
        )

    def _content_fields(self) -> dict[str, Any]:
        """The checkpoint content's fields that are not empty (most are, most
        supersteps: passing them empty costs as much as the rest)."""
        fields: dict[str, Any] = {}
        if self.pending:
            fields["pending_messages"] = self.pending
        if self.fan_in:
            fields["fan_in_buffers"] = [
                runner_pb2.FanInBuffer(edge_index=i, messages=m)
                for i, m in sorted(self.fan_in.items())
            ]
        if self.shared_state:
            fields["shared_state"] = self.shared_state
        if self.pending_requests:
            fields["pending_requests"] = self.pending_requests.values()
        if self.pending_responses:
            fields["pending_responses"] = self.pending_responses
        if self.timers:
            fields["timers"] = self.timers
        return fields

    @classmethod
    def from_checkpoint(
        cls, run_id: str, graph: Graph, checkpoint: runner_pb2.Checkpoint
    ) -> RunState:
        """The state a checkpoint (read with its content) describes."""
        content = checkpoint.content
        return cls(
            run_id=run_id,
            graph=graph,
            superstep=checkpoint.superstep,
            checkpoint_id=checkpoint.checkpoint_id,
            pending=list(content.pending_messages),
            fan_in={b.edge_index: list(b.messages) for b in content.fan_in_buffers},
            shared_state=dict(content.shared_state),
            pending_requests={r.request_id: r for r in content.pending_requests},
            pending_responses=list(content.pending_responses),
            timers=list(content.timers),
            states={
                executor_id: StateRef(state_hash(p), p.type_name, p.content_type)
                for executor_id, p in content.executor_states.items()
            },
        )
