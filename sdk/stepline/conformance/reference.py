"""The `reference` executor type: small, fully specified, for conformance.

Its behaviour is specified in the README ("The reference executor") so that a
port in any language can match it byte for byte without reading this file;
the conformance suite's `reference-*` checks test exactly that text. In short:

- it takes `Ref` {"key": string, "op": string, "value": integer} (a missing
  field is "" or 0) and `stepline.v1.MessageBatch`es of Refs, sends `Ref`,
  yields `RefOutput` {"total": integer}, and asks with a `Ref` for a
  `RefAnswer` {"value": integer};
- its state is {"log": [string], "pad": string, "total": integer}, saved as
  JSON with sorted keys and no spaces, type name "reference.state";
- in one Execute it handles the responses first, then the messages, in order.

Serve it with `python -m stepline.conformance.reference [--port N]`.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field
from typing import Any

from stepline.context import WorkflowContext
from stepline.executor import Executor, handler, response_handler

TYPE = "reference"
# The longest a Ref wait waits.
MAX_WAIT_MS = 60_000


@dataclass
class Ref:
    """What the reference executor takes: an operation, a key and a value."""

    key: str = ""
    op: str = ""
    value: int = 0


@dataclass
class RefAnswer:
    """The response to a Ref with op "ask"."""

    value: int = 0


@dataclass
class RefOutput:
    """What the reference executor yields: its total."""

    total: int = 0


@dataclass
class ReferenceState:
    log: list[str] = field(default_factory=list)
    pad: str = ""
    total: int = 0


def _integer(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{what} must be an integer, got {value!r:.40}")
    return value


class Reference(Executor):
    """The conformance reference executor (see the module docstring)."""

    def __init__(self) -> None:
        self.state = ReferenceState()

    @handler(sends=(Ref,), yields=(RefOutput,))
    async def ref(self, ref: Ref, ctx: WorkflowContext) -> None:
        value, s = _integer(ref.value, "Ref.value"), self.state
        if ref.op == "add":
            s.total += value
            s.log.append(f"add:{value}")
            await ctx.send_message(Ref(op="add", value=s.total))
        elif ref.op == "ask":
            s.log.append(f"ask:{value}")
            await ctx.request_info(Ref(key=ref.key, op="ask", value=value), RefAnswer)
        elif ref.op == "read":
            read = ctx.get_shared_state(ref.key, int) or 0
            s.total += _integer(read, f"shared state {ref.key!r}")
            s.log.append(f"read:{ref.key}:{read}")
        elif ref.op == "write":
            await ctx.set_shared_state(ref.key, value)
            s.log.append(f"write:{ref.key}:{value}")
        elif ref.op == "wait":
            if not 0 <= value <= MAX_WAIT_MS:
                raise ValueError(f"Ref: wait takes 0 to {MAX_WAIT_MS} ms, got {value}")
            await asyncio.sleep(value / 1000)  # a slow handler, for the late-call check
            self.state.log.append(f"wait:{value}")
        elif ref.op == "pad":
            s.pad = "x" * value
            s.log.append(f"pad:{value}")
        else:
            raise ValueError(f"Ref: unknown op {ref.op!r:.40}")

    @handler(yields=(RefOutput,))
    async def batch(self, refs: list[Ref], ctx: WorkflowContext) -> None:
        values = [_integer(r.value, "Ref.value") for r in refs]
        self.state.total += sum(values)
        self.state.log.append(f"batch:{len(values)}:{sum(values)}")
        await ctx.yield_output(RefOutput(self.state.total))

    @response_handler(yields=(RefOutput,))
    async def answer(self, request: Ref, answer: RefAnswer, ctx: WorkflowContext) -> None:
        value = _integer(answer.value, "RefAnswer.value")
        self.state.total += value
        self.state.log.append(f"answer:{request.value}:{value}")
        await ctx.yield_output(RefOutput(self.state.total))

    def on_checkpoint_save(self) -> dict[str, Any]:
        s = self.state
        return {"log": s.log, "pad": s.pad, "total": s.total}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        log, pad, total = state.get("log"), state.get("pad"), state.get("total")
        if not (
            isinstance(log, list)
            and all(isinstance(e, str) for e in log)
            and isinstance(pad, str)
            and isinstance(total, int)
        ):
            raise ValueError('reference.state: expected {"log": [str], "pad": str, "total": int}')
        self.state = ReferenceState(list(log), pad, total)


def main() -> None:
    from stepline.serve import run_executors

    parser = argparse.ArgumentParser(description="Serve the conformance reference executor type.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    run_executors({TYPE: Reference}, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
