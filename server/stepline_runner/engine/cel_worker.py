"""The process that runs CEL for the runner: `python -m stepline_runner.engine.cel_worker`.

The CEL library evaluates in native code that holds the GIL and cannot be
interrupted, and it crashes on some inputs; so the runner never calls it
itself. It sends this process work over stdin and kills it when an answer
takes longer than the time budget (see `conditions`). This is the only module
that imports `cel`.

Frames both ways are a 4-byte big-endian length and a body. Requests
(runner -> worker, pickled, trusted): ("check", [source, ...]) answers one
frame, a JSON list of error texts ("" when the expression compiles);
("eval", messages, queries) answers one JSON frame per query, in order: its
verdict, {"value": ...}, {"not_boolean": "<repr>"} for a condition whose
value is not a boolean, or {"error": "..."}. Answers are JSON so that a
worker misled by an expression can send back nothing but data.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import pickle
import re
import resource
import signal
import struct
import sys
from typing import IO, Any

HEADER = struct.Struct(">I")
MEMORY_CAP = 4 * 1024**3  # address space: a runaway expression dies here, not the machine
CACHE_SIZE = 1024
ERROR_CHARS = 1000

VARIABLES = frozenset({"message", "type_name"})
BINDING = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")

# {"value": bool | list[str]}, {"not_boolean": repr} (a condition) or {"error": str}
Verdict = dict[str, Any]


def main() -> None:
    _die_with_parent()
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    programs: dict[str, Any] = {}
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    # Loaded before "ready": the import takes ~0.15 s, more on a loaded machine,
    # and would otherwise count against the budget of a fresh worker's first answer.
    import cel  # noqa: F401  (here, not at the top: the runner imports this module)

    _write(stdout, b"[]")  # ready
    while (body := _read(stdin)) is not None:
        request = pickle.loads(body)
        if request[0] == "check":
            _write(stdout, json.dumps([compile_error(s, programs) for s in request[1]]).encode())
            continue
        _, messages, queries = request
        contexts: dict[int, dict[str, Any]] = {}
        for source, kind, index in queries:
            context = contexts.get(index)
            if context is None:
                data, content_type, type_name = messages[index]
                context = {"message": _decode(data, content_type), "type_name": type_name}
                contexts[index] = context
            _write(stdout, json.dumps(_verdict(source, kind, context, programs)).encode())


def compile_error(source: str, programs: dict[str, Any]) -> str:
    """Why `source` does not compile or names an identifier that no
    evaluation defines, or "" (it is then in `programs`)."""
    try:
        program = _program(source, programs)
    except Exception as exc:
        return str(exc)[:ERROR_CHARS] or type(exc).__name__
    unknown = sorted(set(program.variables()) - VARIABLES - bound_names(source))
    if unknown:
        programs.pop(source, None)
        names = ", ".join(repr(n) for n in unknown[:5])
        return (
            f"undefined identifier {names} (an expression sees only `message` and "
            "`type_name`; quote a string literal)"
        )[:ERROR_CHARS]
    return ""


def bound_names(source: str) -> set[str]:
    """The names the macros bind (`list.exists(x, ...)`): the library lists
    them among the variables. A match inside a string
    literal only makes the check more lenient."""
    return set(BINDING.findall(source))


def _program(source: str, programs: dict[str, Any]) -> Any:
    program = programs.get(source)
    if program is None:
        if len(programs) >= CACHE_SIZE:
            programs.clear()
        import cel  # here: the runner imports this module for its framing only

        program = programs[source] = cel.compile(source)
    return program


def _verdict(source: str, kind: str, context: dict[str, Any], programs: dict[str, Any]) -> Verdict:
    try:
        value = _program(source, programs).execute(context)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]}
    if kind == "selection":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return {"error": f"selection returned {value!r:.200}, not a list of executor ids"}
        return {"value": value}
    if not isinstance(value, bool):
        return {"not_boolean": f"{value!r:.200}"}
    return {"value": value}


def _decode(data: bytes, content_type: str) -> Any:
    """What an expression sees as `message`: the JSON value, or None."""
    if content_type not in ("", "application/json") or not data:
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # nested too deeply: as unreadable, not a crash
        return None


def _die_with_parent() -> None:
    # A worker busy in native code cannot notice its stdin close: have the
    # kernel end it with the runner.
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _read(stream: IO[bytes]) -> bytes | None:
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    return stream.read(size)


def _write(stream: IO[bytes], body: bytes) -> None:
    stream.write(HEADER.pack(len(body)) + body)
    stream.flush()


if __name__ == "__main__":
    main()
