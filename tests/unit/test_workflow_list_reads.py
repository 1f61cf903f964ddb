"""Listing workflows reads their definitions (a summary counts executors and
edges): a page holds at most so many and about so many bytes of them, never
none, and its token goes on where the page stopped."""

from __future__ import annotations

from stepline.v1 import workflow_pb2 as W
from stepline_runner.store import Store

MIB = 1024 * 1024


def big(workflow_id: str, size: int) -> W.WorkflowDefinition:
    # The endpoint stands for bulk: any field that makes the definition large.
    node = W.ExecutorNode(id="a", endpoint="x" * size)
    return W.WorkflowDefinition(workflow_id=workflow_id, executors=[node], start_executor_id="a")


async def test_pages_of_workflows_are_bounded_in_bytes_and_always_make_progress(
    store: Store,
) -> None:
    for i in range(10):
        await store.put_workflow(big(f"w{i}", MIB), f"sig{i}")

    first, token = await store.list_workflows(100, "", max_bytes=3 * MIB)
    alone, _ = await store.list_workflows(100, "", max_bytes=10)
    default, _ = await store.list_workflows(100, "")
    counted, _ = await store.list_workflows(2, "")

    assert [w.workflow_id for w in first] == ["w0", "w1"]  # a third would pass 3 MiB
    assert [w.workflow_id for w in alone] == ["w0"]  # one, however large
    assert [w.workflow_id for w in default] == ["w0", "w1", "w2"]  # 4 MiB by default
    assert [w.workflow_id for w in counted] == ["w0", "w1"]
    assert first[0].executor_count == 1 and first[0].graph_signature == "sig0"

    seen = [w.workflow_id for w in first]
    while token:
        page, token = await store.list_workflows(100, token, max_bytes=3 * MIB)
        seen += [w.workflow_id for w in page]
    assert seen == [f"w{i}" for i in range(10)]  # each once, in order
