"""CEL conditions and selections, bounded: size and nesting caps checked at
registration, evaluation in a worker process with a time budget.

Why a process: the CEL library evaluates in native code that holds the GIL
(a thread would freeze the event loop just the same), cannot be interrupted,
and crashes on expressions of some 15,000 terms. The caps keep expressions
far below that; the budget bounds the comprehensions the caps cannot (a
1 KB expression can take minutes). A worker over budget is killed and only
the run it evaluated for fails. Warm workers are reused: one round trip per
superstep that routes through an expression, none otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import pickle
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from stepline.v1 import payload_pb2

from .cel_worker import HEADER, compile_error
from .errors import InvalidWorkflow
from .validation import short

START_TIMEOUT = 30.0  # a worker's start-up (Python and the library), not counted in the budget
BRACKETS = {"(": ")", "[": "]", "{": "}"}


class ConditionError(Exception):
    """A condition or selection could not be evaluated on a message."""


@dataclass(frozen=True)
class Expression:
    """A CEL expression over `message` and `type_name`; `where` names its edge."""

    source: str
    where: str
    kind: str = "condition"  # or "selection": a list of executor ids


def check_expression(source: str, where: str, max_bytes: int, max_nesting: int) -> None:
    """Refuse an expression over the size or nesting cap, before the CEL
    library ever sees it."""
    size = len(source.encode())
    if size > max_bytes:
        raise InvalidWorkflow(
            f"{where}: the CEL expression is {size} bytes, over the cap of {max_bytes} "
            "(runner option --limit expression_bytes=N)"
        )
    depth = nesting(source)
    if depth > max_nesting:
        raise InvalidWorkflow(
            f"{where}: the CEL expression nests {depth} levels of brackets, over the cap of "
            f"{max_nesting} (runner option --limit expression_nesting=N)"
        )


def nesting(source: str) -> int:
    """The deepest nesting of (), [] and {} outside string literals."""
    depth = deepest = 0
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if c in "'\"":
            quote = c * 3 if source.startswith(c * 3, i) else c
            i += len(quote)
            while i < n and not source.startswith(quote, i):
                i += 2 if source[i] == "\\" else 1
            i += len(quote)
            continue
        if c in BRACKETS:
            depth += 1
            deepest = max(deepest, depth)
        elif c in ")]}":
            depth = max(depth - 1, 0)
        i += 1
    return deepest


def check_compiles_here(expressions: Iterable[Expression]) -> None:
    """`ConditionEvaluator.check` in this process, for offline tools (a
    workflow file's own author): the caps already keep the library safe."""
    programs: dict[str, Any] = {}
    for expression in expressions:
        error = compile_error(expression.source, programs)
        if error:
            raise _not_cel(expression, error)


def _not_cel(expression: Expression, error: str) -> InvalidWorkflow:
    return InvalidWorkflow(
        f"{expression.where}: invalid CEL expression {short(expression.source)}: {error}"
    )


@dataclass(frozen=True)
class NotBoolean:
    """What a condition returned that is not a boolean (`shown`: its repr)."""

    shown: str


class Verdicts:
    """What each expression said about each message of one superstep."""

    def __init__(self, sent: Sequence[payload_pb2.Message]) -> None:
        self._sent = sent
        self._verdicts: dict[tuple[int, str], dict[str, Any]] = {}

    def put(self, index: int, expression: Expression, verdict: dict[str, Any]) -> None:
        self._verdicts[index, expression.where] = verdict

    def of(self, index: int, expression: Expression) -> Any:
        """The expression's value on message `index`: True/False for a
        condition (`NotBoolean` when it returned something else), a list of
        ids for a selection. Raises `ConditionError`."""
        verdict = self._verdicts[index, expression.where]
        if "error" in verdict:
            type_name = self._sent[index].payload.type_name
            raise ConditionError(
                f"{expression.where}: evaluating on a {type_name!r} message failed: "
                f"{verdict['error']}"
            )
        if "not_boolean" in verdict:
            return NotBoolean(str(verdict["not_boolean"]))
        return verdict["value"]


class _Worker:
    """One `cel_worker` process and its pipes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "stepline_runner.engine.cel_worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        worker = cls(process)
        try:
            await asyncio.wait_for(worker.receive(), START_TIMEOUT)
        except BaseException:
            await worker.kill()
            raise
        return worker

    async def send(self, request: object) -> None:
        assert self.process.stdin is not None
        body = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        self.process.stdin.write(HEADER.pack(len(body)) + body)
        await self.process.stdin.drain()

    async def receive(self) -> Any:
        assert self.process.stdout is not None
        header = await self.process.stdout.readexactly(HEADER.size)
        (size,) = HEADER.unpack(header)
        return json.loads(await self.process.stdout.readexactly(size))

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.process.wait()


class ConditionEvaluator:
    """Checks and evaluates expressions in worker processes, at most
    `workers` at once, each answer within `budget` seconds."""

    def __init__(self, budget: float, workers: int = 2) -> None:
        self.budget = budget
        self._slots = asyncio.Semaphore(workers)
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()

    async def check(self, expressions: Iterable[Expression]) -> None:
        """Refuse the first expression that does not compile."""
        chosen = list(expressions)
        if not chosen:
            return
        try:
            errors = await self._ask(["check", [e.source for e in chosen]], 1, chosen[0])
        except ConditionError as exc:
            raise InvalidWorkflow(f"cannot compile the workflow's expressions: {exc}") from exc
        for expression, error in zip(chosen, errors[0], strict=True):
            if error:
                raise _not_cel(expression, error)

    async def verdicts(
        self, queries: Sequence[tuple[int, Expression]], sent: Sequence[payload_pb2.Message]
    ) -> Verdicts:
        """Evaluate each (message index, expression); the budget applies to
        each answer. Raises `ConditionError` when one is over budget or the
        worker died on it."""
        result = Verdicts(sent)
        if not queries:
            return result
        used = sorted({i for i, _ in queries})
        position = {i: p for p, i in enumerate(used)}
        messages = [
            (
                sent[i].payload.data,
                sent[i].payload.content_type,
                sent[i].payload.type_name,
            )
            for i in used
        ]
        request = ["eval", messages, [(e.source, e.kind, position[i]) for i, e in queries]]
        answers = await self._ask(request, len(queries), *(e for _, e in queries))
        for (i, expression), verdict in zip(queries, answers, strict=True):
            result.put(i, expression, verdict)
        return result

    async def _ask(self, request: list[Any], count: int, *asked: Expression) -> list[Any]:
        """Send one request; read `count` answers, each within the budget.
        `asked[k]` names what answer k is about, for the error."""
        async with self._slots:
            worker = self._idle.pop() if self._idle else await _Worker.start()
            self._busy.add(worker)
            answers: list[Any] = []
            loop = asyncio.get_running_loop()
            try:
                await worker.send(request)
                # One timer, moved on at each answer: wait_for costs a task each.
                async with asyncio.timeout_at(loop.time() + self.budget) as budget:
                    for _ in range(count):
                        answers.append(await worker.receive())
                        budget.reschedule(loop.time() + self.budget)
            except TimeoutError:
                await worker.kill()
                where = asked[min(len(answers), len(asked) - 1)].where
                raise ConditionError(
                    f"{where}: evaluating took longer than the time budget of {self.budget:g} s "
                    "and was stopped (runner option --limit cel_budget=SECONDS)"
                ) from None
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                await worker.kill()
                where = asked[min(len(answers), len(asked) - 1)].where
                raise ConditionError(
                    f"{where}: the CEL evaluator process died on this expression "
                    f"(exit code {worker.process.returncode})"
                ) from exc
            except BaseException:
                await worker.kill()  # cancelled mid-answer: its pipe is out of step
                raise
            finally:
                self._busy.discard(worker)
            self._idle.append(worker)
            return answers

    async def close(self) -> None:
        """Kill every worker."""
        workers = [*self._idle, *self._busy]
        self._idle.clear()
        for worker in workers:
            await worker.kill()
