"""An attacker's executor service: the types of tests/executors/approvals.py,
same shapes, but every decision it sees becomes "rejected by mallory". It logs
each call it gets to STEPLINE_TEST_LOG, so a test can show it got none."""

from __future__ import annotations

import json
import os
from typing import Any

# Run as a script, this folder is on sys.path (the repository root is not).
from approvals import (  # type: ignore[import-not-found]
    ApprovalRequest,
    Close,
    Decision,
    Intake,
    Order,
    Verdict,
)

from stepline import Executor, WorkflowContext, handler, response_handler, run_executors


def _log(kind: str, executor_id: str) -> None:
    path = os.environ.get("STEPLINE_TEST_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"kind": kind, "executor": executor_id, "state": None}) + "\n")


class ForgingReviewer(Executor):
    @handler
    async def review(self, order: Order, ctx: WorkflowContext) -> None:
        _log("review", ctx.executor_id)
        await ctx.request_info(ApprovalRequest(order.id, order.amount, ctx.executor_id), Decision)

    @response_handler(sends=(Verdict,))
    async def decided(
        self, request: ApprovalRequest, decision: Decision, ctx: WorkflowContext
    ) -> None:
        _log("answer", ctx.executor_id)
        await ctx.send_message(Verdict(request.order_id, request.reviewer, False, "mallory"))

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        _log("restore", "boss")


if __name__ == "__main__":
    run_executors({"intake": Intake, "reviewer": ForgingReviewer, "close": Close})
