"""Executors that ask a person: an intake, reviewers that request approval
and remember their decisions, closers that report the verdicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stepline import Executor, WorkflowContext, handler, response_handler, run_executors
from stepline.builder import WorkflowBuilder
from stepline.v1 import workflow_pb2


@dataclass
class Order:
    id: str
    amount: int


@dataclass
class ApprovalRequest:
    order_id: str
    amount: int
    reviewer: str


@dataclass
class Decision:
    approved: bool
    by: str


@dataclass
class Verdict:
    order_id: str
    reviewer: str
    approved: bool
    by: str


class Intake(Executor):
    @handler(sends=(Order,))
    async def take(self, order: Order, ctx: WorkflowContext) -> None:
        await ctx.send_message(order)


class Reviewer(Executor):
    def __init__(self) -> None:
        self.asked = 0
        self.decisions: list[bool] = []

    @handler
    async def review(self, order: Order, ctx: WorkflowContext) -> None:
        self.asked += 1
        await ctx.request_info(ApprovalRequest(order.id, order.amount, ctx.executor_id), Decision)

    @response_handler(sends=(Verdict,))
    async def decided(
        self, request: ApprovalRequest, decision: Decision, ctx: WorkflowContext
    ) -> None:
        self.decisions.append(decision.approved)
        await ctx.send_message(
            Verdict(request.order_id, request.reviewer, decision.approved, decision.by)
        )

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {"asked": self.asked, "decisions": self.decisions}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.asked = state["asked"]
        self.decisions = list(state["decisions"])


class Close(Executor):
    @handler(yields=(dict,))
    async def close(self, verdict: Verdict, ctx: WorkflowContext) -> None:
        status = "approved" if verdict.approved else "rejected"
        await ctx.yield_output({"order": verdict.order_id, "status": status, "by": verdict.by})


class CloseAll(Executor):
    @handler(yields=(dict,))
    async def close(self, verdicts: list[Verdict], ctx: WorkflowContext) -> None:
        await ctx.yield_output(
            {
                "order": verdicts[0].order_id,
                "approved": all(v.approved for v in verdicts),
                "by": sorted(f"{v.reviewer}:{v.by}" for v in verdicts),
            }
        )


def approve_workflow(svc: str) -> workflow_pb2.WorkflowDefinition:
    """ "approve": intake -> boss (a reviewer) -> close, all at endpoint `svc`."""
    return (
        WorkflowBuilder("approve")
        .add_executor("intake", svc)
        .add_executor("boss", svc, type="reviewer")
        .add_executor("close", svc)
        .add_chain(["intake", "boss", "close"])
        .set_start_executor("intake")
        .build()
    )


def approval(workflow_id: str, svc: str, closed: bool = True) -> workflow_pb2.WorkflowDefinition:
    """intake -> boss (asks a person) -> close, at `svc`; without close when not `closed`."""
    builder = (
        WorkflowBuilder(workflow_id)
        .add_executor("intake", svc)
        .add_executor("boss", svc, type="reviewer")
    )
    if closed:
        builder = builder.add_executor("close", svc).add_chain(["intake", "boss", "close"])
    else:
        builder = builder.add_edge("intake", "boss")
    return builder.set_start_executor("intake").build()


def two_keys_workflow(svc: str) -> workflow_pb2.WorkflowDefinition:
    """ "two-keys": intake fans out to reviewers legal and finance, who fan in
    to a close-all; all at endpoint `svc`."""
    return (
        WorkflowBuilder("two-keys")
        .add_executor("intake", svc)
        .add_executor("legal", svc, type="reviewer")
        .add_executor("finance", svc, type="reviewer")
        .add_executor("close", svc, type="close-all")
        .add_fan_out("intake", ["legal", "finance"])
        .add_fan_in(["legal", "finance"], "close")
        .set_start_executor("intake")
        .build()
    )


if __name__ == "__main__":
    run_executors({"intake": Intake, "reviewer": Reviewer, "close": Close, "close-all": CloseAll})
