"""A new run's first records, directly: started from an input, or forked
from a checkpoint; and the refusal of a checkpoint of another graph."""

from __future__ import annotations

import pytest

from stepline.v1 import events_pb2 as E
from stepline.v1 import payload_pb2 as P
from stepline.v1 import runner_pb2
from stepline.v1 import workflow_pb2 as W
from stepline_runner.engine.errors import FailedPrecondition
from stepline_runner.engine.graph import Graph
from stepline_runner.engine.new_runs import check_signature, forked, started
from stepline_runner.engine.registry import Workflow
from tests.unit.graph_of_three import definition

INPUT = P.Payload(type_name="string", content_type="application/json", data=b'"go"')


def workflow() -> Workflow:
    return Workflow(Graph.compile(definition()), {}, 1)


def test_a_started_run_holds_its_input_for_the_start_executor_in_checkpoint_0() -> None:
    w = workflow()
    new = started("r", w, INPUT, None)
    assert (new.state.superstep, new.checkpoint.superstep) == (0, 0)
    assert new.state.checkpoint_id == new.checkpoint.checkpoint_id
    assert [(m.target_id, m.payload.data) for m in new.checkpoint.content.pending_messages] == [
        ("a", b'"go"')
    ]
    assert new.checkpoint.changed is None and new.checkpoint.parent_checkpoint_id == ""
    assert (new.run.run_id, new.run.workflow_id, new.run.status) == ("r", "w", E.RUN_STATUS_RUNNING)
    assert new.run.graph_signature == w.graph.signature
    assert [e.kind for e in new.events] == [E.EVENT_KIND_RUN_STARTED, E.EVENT_KIND_STATUS_CHANGED]
    assert new.events[0].data == INPUT


def test_a_policy_with_a_mode_overrides_the_workflows() -> None:
    every_2 = W.CheckpointPolicy(mode=W.CheckpointPolicy.MODE_EVERY_N_SUPERSTEPS, every_n=2)
    assert started("r", workflow(), INPUT, every_2).run.checkpoint_policy == every_2
    unset = started("r", workflow(), INPUT, W.CheckpointPolicy())
    assert unset.run.checkpoint_policy == W.CheckpointPolicy()


def test_a_fork_goes_on_from_the_checkpoint_with_its_state_bytes() -> None:
    w = workflow()
    source = runner_pb2.Run(run_id="old", workflow_id="w")
    checkpoint = runner_pb2.Checkpoint(
        checkpoint_id="cp3", run_id="old", superstep=3, graph_signature=w.graph.signature
    )
    checkpoint.content.pending_messages.add(target_id="b", payload=INPUT)
    checkpoint.content.executor_states["a"].CopyFrom(INPUT)
    checkpoint.content.pending_requests.add(request_id="q", executor_id="c")

    new = forked("new", w, checkpoint, source)

    assert (new.run.parent_run_id, new.run.parent_checkpoint_id) == ("old", "cp3")
    assert (new.state.run_id, new.state.superstep, new.checkpoint.superstep) == ("new", 3, 3)
    assert new.checkpoint.parent_checkpoint_id == "cp3"
    assert new.checkpoint.states["a"].data == b'"go"'  # the source may be deleted
    assert [e.kind for e in new.events] == [
        E.EVENT_KIND_RUN_STARTED,
        E.EVENT_KIND_RUN_RESUMED,
        E.EVENT_KIND_REQUEST_INFO,  # the fork waits for what the source waited for
        E.EVENT_KIND_STATUS_CHANGED,
    ]
    assert new.events[1].message == "forked from run old"
    assert (new.events[2].executor_id, new.events[2].request.request_id) == ("c", "q")


def test_a_checkpoint_of_another_graph_is_refused() -> None:
    checkpoint = runner_pb2.Checkpoint(checkpoint_id="cp", graph_signature="other")
    with pytest.raises(FailedPrecondition, match="taken with another graph"):
        check_signature(checkpoint, workflow())
