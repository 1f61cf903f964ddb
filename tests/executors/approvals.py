"""Executors that ask a person: an intake, reviewers that request approval
and remember their decisions, closers that report the verdicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stepline import Executor, WorkflowContext, handler, response_handler, run_executors


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


if __name__ == "__main__":
    run_executors({"intake": Intake, "reviewer": Reviewer, "close": Close, "close-all": CloseAll})
