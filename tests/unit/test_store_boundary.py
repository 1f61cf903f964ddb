"""The store is sealed: it checks its own page tokens and raises the runner's
errors, so nothing above it knows SQLite's exceptions or token format."""

from __future__ import annotations

import ast
import base64
import gc
import sqlite3
from pathlib import Path

import pytest

from stepline_runner import store
from stepline_runner.errors import (
    DataLoss,
    InvalidArgument,
    Reason,
    StoreFull,
    StoreUnavailable,
)
from stepline_runner.store import Store
from stepline_runner.store.failures import store_error, translated

SERVER = Path(__file__).resolve().parents[2] / "server" / "stepline_runner"


def imports(path: Path) -> set[str]:
    """Every module a file imports, relative ones resolved within the package."""
    package = ["stepline_runner", *path.relative_to(SERVER).parent.parts]
    found: set[str] = set()
    # CPython 3.11 can fail ast.parse with "AST constructor recursion depth
    # mismatch" (SystemError) when a garbage collection in the middle runs
    # finalizers of objects earlier tests left: no collection while parsing.
    gc.disable()
    try:
        tree = ast.parse(path.read_text())
    finally:
        gc.enable()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module or "").split(".")]).strip(".")
            found.add(module)
            found |= {f"{module}.{a.name}" for a in node.names}
    return found


PUBLIC = set(store.__all__)


def private_to_the_store(module: str) -> bool:
    if module in ("sqlite3", "aiosqlite"):
        return True
    parts = module.split(".")
    return parts[:2] == ["stepline_runner", "store"] and len(parts) > 2 and parts[2] not in PUBLIC


@pytest.mark.parametrize("layer", ["engine", "api"])
def test_above_the_store_only_its_public_interface_is_imported(layer: str) -> None:
    offenders = {
        f"{p.name}: {m}"
        for p in (SERVER / layer).glob("*.py")
        for m in imports(p)
        if private_to_the_store(m)
    }
    assert offenders == set()


def test_the_store_imports_nothing_of_the_engine() -> None:
    offenders = {
        f"{p.name}: {m}"
        for p in (SERVER / "store").glob("*.py")
        for m in imports(p)
        if m.startswith(("stepline_runner.engine", "stepline_runner.api"))
    }
    assert offenders == set()


async def test_the_store_refuses_a_page_token_it_did_not_issue(store: Store) -> None:
    for forged in ("%%%", base64.urlsafe_b64encode(b"-3").decode()):
        with pytest.raises(InvalidArgument, match="is not one this runner issued") as caught:
            await store.list_runs("", 10, forged)
        assert caught.value.reason == Reason.INVALID_PAGE_TOKEN
        with pytest.raises(InvalidArgument, match="is not one this runner issued"):
            await store.list_checkpoints("r", 10, forged)
    assert await store.list_runs("", 10, "") == ([], "")


def failure(text: str, name: str = "") -> sqlite3.Error:
    exc = sqlite3.OperationalError(text)
    exc.sqlite_errorname = name
    return exc


def test_sqlite_failures_become_the_runners_errors() -> None:
    full = store_error(failure("database or disk is full", "SQLITE_FULL"))
    assert isinstance(full, StoreFull) and full.reason == Reason.STORE_FULL
    locked = store_error(failure("database is locked", "SQLITE_BUSY"))
    assert isinstance(locked, StoreUnavailable) and "try again shortly" in str(locked).lower()
    io = store_error(failure("disk I/O error", "SQLITE_IOERR_WRITE"))
    assert isinstance(io, StoreUnavailable)
    damaged = store_error(failure("file is not a database", "SQLITE_NOTADB"))
    assert isinstance(damaged, DataLoss) and damaged.reason == Reason.CORRUPT_STATE
    # The runner's own mistakes are not the store's failures.
    assert store_error(sqlite3.ProgrammingError("bad parameter count")) is None


def test_translated_raises_the_runners_error_from_sqlites() -> None:
    cause = failure("database is locked", "SQLITE_LOCKED")
    with pytest.raises(StoreUnavailable) as caught, translated():
        raise cause
    assert caught.value.__cause__ is cause
    with pytest.raises(sqlite3.ProgrammingError), translated():
        raise sqlite3.ProgrammingError("a bug")
