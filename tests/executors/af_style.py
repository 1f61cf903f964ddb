"""Executors written the way Agent Framework users write them: ids and
arguments in constructors, `WorkflowContext[T_Out, T_W_Out]` annotations
instead of sends=/yields=, `async def` checkpoint hooks, AF's keyword names
for `request_info`. Only the import differs from AF
(`from agent_framework import ...`).

`python af_style.py front` serves the splitter, the aggregator, the guesser,
the drafter and the finisher; `python af_style.py back` the scalers, the judge
and the reviewer, so every workflow crosses processes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import partial
from typing import Any, Never

from stepline import Executor, WorkflowContext, handler, response_handler, run_executors

# --- fan-out / fan-in ---------------------------------------------------------------


@dataclass
class Numbers:
    values: list[int]


@dataclass
class Part:
    by: str
    value: int


class Splitter(Executor):
    def __init__(self, id: str = "splitter") -> None:
        super().__init__(id=id)

    @handler
    async def split(self, numbers: Numbers, ctx: WorkflowContext[Numbers]) -> None:
        await ctx.send_message(numbers)


class Scale(Executor):
    def __init__(self, id: str, factor: int) -> None:
        super().__init__(id=id)
        self.factor = factor

    @handler
    async def scale(self, numbers: Numbers, ctx: WorkflowContext[Part]) -> None:
        await ctx.send_message(Part(self.id, self.factor * sum(numbers.values)))


class Aggregator(Executor):
    def __init__(self, id: str = "aggregate") -> None:
        super().__init__(id=id)

    @handler
    async def aggregate(
        self, parts: list[Part], ctx: WorkflowContext[Never, dict[str, Any]]
    ) -> None:
        await ctx.yield_output(
            {"total": sum(p.value for p in parts), "by": sorted(p.by for p in parts)}
        )


# --- a loop that leaves through a switch-case ----------------------------------------


@dataclass
class Bounds:
    low: int
    high: int


@dataclass
class Guess:
    value: int


@dataclass
class Verdict:
    kind: str  # "higher", "lower" or "correct"
    guess: int
    tries: int


class Guesser(Executor):
    """Halves the interval on every verdict; its bounds are its state."""

    def __init__(self, id: str) -> None:
        super().__init__(id=id)
        self.low, self.high = 0, 0

    @handler
    async def start(self, bounds: Bounds, ctx: WorkflowContext[Guess]) -> None:
        self.low, self.high = bounds.low, bounds.high
        await ctx.send_message(Guess((self.low + self.high) // 2))

    @handler
    async def retry(self, verdict: Verdict, ctx: WorkflowContext[Guess]) -> None:
        if verdict.kind == "higher":
            self.low = verdict.guess + 1
        else:
            self.high = verdict.guess - 1
        await ctx.send_message(Guess((self.low + self.high) // 2))

    async def on_checkpoint_save(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high}

    async def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.low, self.high = state["low"], state["high"]


class Judge(Executor):
    """Knows the target (a constructor argument) and counts the tries (state)."""

    def __init__(self, target: int, id: str = "judge") -> None:
        super().__init__(id=id)
        self.target = target
        self.tries = 0

    @handler
    async def judge(self, guess: Guess, ctx: WorkflowContext[Verdict]) -> None:
        self.tries += 1
        if guess.value == self.target:
            kind = "correct"
        else:
            kind = "higher" if guess.value < self.target else "lower"
        await ctx.send_message(Verdict(kind, guess.value, self.tries))

    async def on_checkpoint_save(self) -> dict[str, Any]:
        return {"tries": self.tries}

    async def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.tries = state["tries"]


class Finisher(Executor):
    @handler
    async def finish(self, verdict: Verdict, ctx: WorkflowContext[Never, dict[str, Any]]) -> None:
        await ctx.yield_output({"guess": verdict.guess, "tries": verdict.tries})


# --- a request for approval ----------------------------------------------------------


@dataclass
class Draft:
    title: str
    words: int


@dataclass
class ApprovalRequest:
    title: str
    words: int


@dataclass
class LegalReview:
    title: str


class Drafter(Executor):
    def __init__(self, id: str = "drafter") -> None:
        super().__init__(id=id)

    @handler
    async def draft(self, title: str, ctx: WorkflowContext[Draft]) -> None:
        await ctx.send_message(Draft(title, len(title.split())))


class Reviewer(Executor):
    """Asks an editor and a lawyer; both answer with a bool, and each answer
    goes to the response handler of its request's type."""

    def __init__(self, id: str) -> None:
        super().__init__(id=id)
        self.verdicts: dict[str, bool] = {}

    @handler
    async def review(self, draft: Draft, ctx: WorkflowContext) -> None:
        await ctx.request_info(
            request_data=ApprovalRequest(draft.title, draft.words), response_type=bool
        )
        await ctx.request_info(request_data=LegalReview(draft.title), response_type=bool)

    @response_handler
    async def on_editor(
        self, original_request: ApprovalRequest, approved: bool, ctx: WorkflowContext[str]
    ) -> None:
        self.verdicts["editor"] = approved
        await self._decide(original_request.title, ctx)

    @response_handler
    async def on_legal(
        self, original_request: LegalReview, approved: bool, ctx: WorkflowContext[str]
    ) -> None:
        self.verdicts["legal"] = approved
        await self._decide(original_request.title, ctx)

    async def _decide(self, title: str, ctx: WorkflowContext[str]) -> None:
        if len(self.verdicts) == 2:
            ok = all(self.verdicts.values())
            said = ", ".join(f"{k}={v}" for k, v in sorted(self.verdicts.items()))
            await ctx.send_message(f"{title}: {'published' if ok else 'rejected'} ({said})")

    async def on_checkpoint_save(self) -> dict[str, Any]:
        return {"verdicts": self.verdicts}

    async def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.verdicts = dict(state["verdicts"])


class Publisher(Executor):
    @handler
    async def publish(self, outcome: str, ctx: WorkflowContext[Never, str]) -> None:
        await ctx.yield_output(outcome)


FRONT: dict[str, Any] = {
    "splitter": Splitter,
    "aggregate": Aggregator,
    "guesser": Guesser,
    "finish": Finisher,
    "drafter": Drafter,
    "publisher": Publisher,
}
BACK: dict[str, Any] = {
    "double": partial(Scale, factor=2),
    "triple": partial(Scale, factor=3),
    "judge": partial(Judge, 30),
    "reviewer": Reviewer,
}

if __name__ == "__main__":
    run_executors(FRONT if sys.argv[1:] == ["front"] else BACK)
