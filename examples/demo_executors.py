"""The demo's executors: a running word count over a document, one line per round.

    reader ──Line──▶ tokenizer ──Words──▶ counter
      ▲                                      │
      └─────────────── Progress ◀────────────┘

The reader sends one line at a time; the tokenizer splits it into words; the
counter adds them to its running count, yields an output for the line and
tells the reader to go on. After the last line the reader yields a summary.
So five lines take 16 supersteps.

Every executor keeps state between supersteps (the document and a cursor,
running totals, the word counts) and hands it over with the two checkpoint
hooks: that is what lets a run outlive a crash of the runner.

Two services, as a real deployment would spread them:

    python examples/demo_executors.py text    # hosts reader and tokenizer
    python examples/demo_executors.py count   # hosts counter
"""

from __future__ import annotations

import argparse
import asyncio
import string
from dataclasses import dataclass
from typing import Any

from stepline import Executor, WorkflowContext, handler, run_executors

# Each handler waits this long, standing for real work (a model call, an API),
# so that a run lasts a few seconds and the demo's kill lands mid-run.
WORK_SECONDS = 0.2

# Words too common to be worth counting.
STOP_WORDS = frozenset({"a", "and", "as", "at", "if", "in", "is", "its", "on", "one", "the", "to"})


# -- messages. The type names are the contract between services (which could be
# in other languages), so they are set explicitly rather than taken from Python.


@dataclass
class Document:
    __stepline_type__ = "demo.Document"
    title: str
    lines: list[str]


@dataclass
class Line:
    __stepline_type__ = "demo.Line"
    number: int
    text: str


@dataclass
class Words:
    __stepline_type__ = "demo.Words"
    line: int
    words: list[str]


@dataclass
class Progress:
    __stepline_type__ = "demo.Progress"
    line: int
    total_words: int
    top: list[str]


# -- executors. The SDK makes one object per (run, executor), so attributes are
# per-run state.


class Reader(Executor):
    """Holds the document and sends it on line by line, one line per round."""

    def __init__(self) -> None:
        self.title = ""
        self.lines: list[str] = []
        self.next_line = 0  # index of the next line to send

    @handler(sends=(Line,))
    async def start(self, document: Document, ctx: WorkflowContext) -> None:
        await asyncio.sleep(WORK_SECONDS)
        self.title, self.lines, self.next_line = document.title, list(document.lines), 0
        await self._send_next_line(ctx)

    @handler(sends=(Line,), yields=(dict,))
    async def on_progress(self, progress: Progress, ctx: WorkflowContext) -> None:
        await asyncio.sleep(WORK_SECONDS)
        if self.next_line < len(self.lines):
            await self._send_next_line(ctx)
        else:
            # No message sent: the run has nothing left to deliver and completes.
            summary = {"title": self.title, "words": progress.total_words, "top": progress.top}
            await ctx.yield_output(summary)

    async def _send_next_line(self, ctx: WorkflowContext) -> None:
        self.next_line += 1
        await ctx.send_message(Line(self.next_line, self.lines[self.next_line - 1]))

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {"title": self.title, "lines": self.lines, "next_line": self.next_line}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.title = state["title"]
        self.lines = list(state["lines"])
        self.next_line = state["next_line"]


class Tokenizer(Executor):
    """Splits a line into lower-case words, leaving out stop words."""

    def __init__(self) -> None:
        self.lines_seen = 0
        self.words_kept = 0
        self.stop_words_dropped = 0

    @handler(sends=(Words,))
    async def split(self, line: Line, ctx: WorkflowContext) -> None:
        await asyncio.sleep(WORK_SECONDS)
        words = [w.strip(string.punctuation).lower() for w in line.text.split()]
        kept = [w for w in words if w and w not in STOP_WORDS]
        self.lines_seen += 1
        self.words_kept += len(kept)
        self.stop_words_dropped += len(words) - len(kept)
        await ctx.send_message(Words(line.number, kept))

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {
            "lines_seen": self.lines_seen,
            "words_kept": self.words_kept,
            "stop_words_dropped": self.stop_words_dropped,
        }

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.lines_seen = state["lines_seen"]
        self.words_kept = state["words_kept"]
        self.stop_words_dropped = state["stop_words_dropped"]


class Counter(Executor):
    """Keeps the running word count; yields the top words after each line."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    @handler(sends=(Progress,), yields=(dict,))
    async def count(self, words: Words, ctx: WorkflowContext) -> None:
        await asyncio.sleep(WORK_SECONDS)
        for word in words.words:
            self.counts[word] = self.counts.get(word, 0) + 1
        top = self.top(3)
        await ctx.yield_output({"line": words.line, "words": len(words.words), "top": top})
        await ctx.send_message(Progress(words.line, sum(self.counts.values()), top))

    def top(self, n: int) -> list[str]:
        # Ties broken by the word, so that every run of the same input agrees.
        ranked = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        return [f"{word}:{count}" for word, count in ranked[:n]]

    def on_checkpoint_save(self) -> dict[str, Any]:
        return {"counts": self.counts}

    def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self.counts = dict(state["counts"])


# Which executor types each service hosts; the workflow's node ids are the
# type names, so the builder needs no `type=`.
SERVICES: dict[str, dict[str, type[Executor]]] = {
    "text": {"reader": Reader, "tokenizer": Tokenizer},
    "count": {"counter": Counter},
}

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Serve the demo's executors.")
    parser.add_argument("service", choices=sorted(SERVICES))
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args()
    # Prints "stepline executors listening on HOST:PORT" once it serves.
    run_executors(SERVICES[args.service], port=args.port)
