"""`WorkflowBuilder`: a fluent way to write a `WorkflowDefinition`."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import timedelta

from stepline.retry import RetryPolicy
from stepline.v1 import workflow_pb2


class WorkflowBuilder:
    """Build a workflow definition::

    definition = (
        WorkflowBuilder("orders")
        .add_executor("check", "127.0.0.1:50051")
        .add_executor("ship", "127.0.0.1:50052")
        .add_edge("check", "ship", condition="message.ok")
        .set_start_executor("check")
        .build()
    )
    """

    def __init__(
        self,
        workflow_id: str,
        *,
        max_supersteps: int = 0,
        drop_undeliverable: bool = False,
        retry_policy: RetryPolicy | None = None,
        max_concurrent_runs: int = 0,
    ) -> None:
        """`drop_undeliverable`: a message no edge delivers is dropped with a
        WARNING event instead of failing the run (`UndeliverableMessage`).
        `retry_policy`: that of every executor without its own (default: none,
        a failed handler fails the run). `max_concurrent_runs`: at most this
        many runs at once (0: no limit); a start beyond it is queued
        (`RUN_STATUS_QUEUED`) and starts, oldest first, when one ends."""
        self._definition = workflow_pb2.WorkflowDefinition(
            workflow_id=workflow_id,
            max_supersteps=max_supersteps,
            max_concurrent_runs=max_concurrent_runs,
            undeliverable=workflow_pb2.WorkflowDefinition.DROP_WITH_WARNING
            if drop_undeliverable
            else workflow_pb2.WorkflowDefinition.UNDELIVERABLE_UNSPECIFIED,
        )
        if retry_policy is not None:
            self._definition.default_retry_policy.CopyFrom(retry_policy.to_proto())

    def add_executor(
        self,
        executor_id: str,
        endpoint: str,
        *,
        type: str = "",
        execute_timeout: timedelta | None = None,
        retry_policy: RetryPolicy | None = None,
        max_concurrent_executes: int = 0,
    ) -> WorkflowBuilder:
        """Add a node served at `endpoint`; `type` names the executor type
        there (default: the same as `executor_id`); `retry_policy` replaces
        the workflow's for it. `max_concurrent_executes`: at most this many
        Execute calls to it in flight at once, across every run of the
        workflow on one runner (0: no limit); several runners sharing a
        database each hold to it on their own, so N runners may make up to N
        times as many calls."""
        node = self._definition.executors.add(
            id=executor_id,
            endpoint=endpoint,
            type=type,
            max_concurrent_executes=max_concurrent_executes,
        )
        if execute_timeout is not None:
            node.execute_timeout.FromTimedelta(execute_timeout)
        if retry_policy is not None:
            node.retry_policy.CopyFrom(retry_policy.to_proto())
        return self

    def add_edge(self, source_id: str, target_id: str, *, condition: str = "") -> WorkflowBuilder:
        """Route `source`'s messages to `target`, when the CEL `condition` holds."""
        self._definition.edges.add().direct.CopyFrom(
            workflow_pb2.DirectEdge(source_id=source_id, target_id=target_id, condition=condition)
        )
        return self

    def add_chain(self, executor_ids: Sequence[str]) -> WorkflowBuilder:
        """Direct edges from each executor to the next."""
        for source, target in itertools.pairwise(executor_ids):
            self.add_edge(source, target)
        return self

    def add_fan_out(
        self, source_id: str, target_ids: Sequence[str], *, selection: str = ""
    ) -> WorkflowBuilder:
        """Send each message to every target, or to those the CEL `selection` lists."""
        self._definition.edges.add().fan_out.CopyFrom(
            workflow_pb2.FanOutEdge(source_id=source_id, target_ids=target_ids, selection=selection)
        )
        return self

    def add_fan_in(self, source_ids: Sequence[str], target_id: str) -> WorkflowBuilder:
        """Deliver one list once every source has sent."""
        self._definition.edges.add().fan_in.CopyFrom(
            workflow_pb2.FanInEdge(source_ids=source_ids, target_id=target_id)
        )
        return self

    def add_switch(
        self, source_id: str, cases: Sequence[tuple[str, str]], default_target_id: str
    ) -> WorkflowBuilder:
        """Route to the target of the first `(condition, target)` that holds, else the default."""
        edge = workflow_pb2.SwitchCaseEdge(source_id=source_id, default_target_id=default_target_id)
        for condition, target in cases:
            edge.cases.add(condition=condition, target_id=target)
        self._definition.edges.add().switch_case.CopyFrom(edge)
        return self

    def set_start_executor(self, executor_id: str) -> WorkflowBuilder:
        """The executor that gets the run's input in superstep 1."""
        self._definition.start_executor_id = executor_id
        return self

    def build(self) -> workflow_pb2.WorkflowDefinition:
        """The definition (a copy; the builder can go on)."""
        definition = workflow_pb2.WorkflowDefinition()
        definition.CopyFrom(self._definition)
        return definition

    def to_yaml(self) -> str:
        """The definition as a workflow file (see `stepline.workflow_file`)."""
        # Imported here: `import stepline` need not load YAML and JSON Schema.
        from stepline.workflow_file import dump

        return dump(self._definition)
