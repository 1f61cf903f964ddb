"""`stepline console` as a separate process, as a user starts it, and an HTTP
client of it (httpx)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx

from tests.support.processes import Service, spawn


async def start_console(runner_address: str, *options: str) -> Service:
    """`stepline --address RUNNER console --port 0 *options`, once it listens."""
    args = ("-m", "stepline.cli", "--address", runner_address, "console", "--port", "0")
    return await spawn(*args, *options)


@contextlib.asynccontextmanager
async def console_client(console: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{console.address}", timeout=20) as client:
        yield client
