"""The approval desk's executors, the `stage` token passer and `boom`, a
handler that raises: one service for the tests of refusals and failures."""

from __future__ import annotations

# Run as a script, this folder is on sys.path (the repository root is not).
from approvals import Close, CloseAll, Intake, Order, Reviewer  # type: ignore[import-not-found]
from stages import Stage  # type: ignore[import-not-found]

from stepline import Executor, WorkflowContext, handler, run_executors


class Boom(Executor):
    @handler
    async def explode(self, order: Order, ctx: WorkflowContext) -> None:
        raise ValueError(f"order {order.id} cannot be processed")


if __name__ == "__main__":
    run_executors(
        {
            "intake": Intake,
            "reviewer": Reviewer,
            "close": Close,
            "close-all": CloseAll,
            "stage": Stage,
            "boom": Boom,
        }
    )
