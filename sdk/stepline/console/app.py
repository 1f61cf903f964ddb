"""`create_app`: the console's routes (pages, JSON API, event streams, static
files), the runner's errors as HTTP statuses, and the login when asked for."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import grpc
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from stepline.client import RunnerClient
from stepline.errors import SteplineError

from . import api, pages, streams
from .auth import LoginRequired
from .runner_link import RunnerLink

STATIC = Path(__file__).parent / "static"

HTTP_STATUS = {
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


async def runner_error(request: Request, exc: Exception) -> Response:
    """A failed call of the runner, as JSON for the API and as a page otherwise."""
    assert isinstance(exc, SteplineError)
    status = HTTP_STATUS.get(exc.code, 502)
    address = api.link(request).address
    message = str(exc)[:300]
    if exc.code == grpc.StatusCode.UNAVAILABLE:
        message = f"The runner at {address} cannot be reached: {message}"
    if request.url.path.startswith("/api/"):
        return pages.json_error(status, message, code=exc.code.name)
    if status == 404:
        return pages.error_page(404, "Not found", message)
    title = "Runner unreachable" if status == 503 else "The runner refused"
    return pages.error_page(status, title, message, retry=status == 503)


async def _probe(client: RunnerClient) -> None:
    """One cheap call: a page says so at once when the runner is unreachable."""
    async for _ in client.list_workflows(page_size=1):
        break


async def runs_page(request: Request) -> Response:
    await api.link(request).call(_probe)
    return pages.shell("runs", "Runs", pages.RUNS_BODY)


async def run_page(request: Request) -> Response:
    run_id = request.path_params["run_id"]
    await api.link(request).call(lambda c: c.get_run(run_id))  # a 404 page when unknown
    return pages.shell("run", f"Run {run_id}", pages.RUN_BODY, run=run_id)


async def workflows_page(request: Request) -> Response:
    await api.link(request).call(_probe)
    return pages.shell("workflows", "Workflows", pages.WORKFLOWS_BODY)


async def executors_page(request: Request) -> Response:
    await api.link(request).call(_probe)
    return pages.shell("executors", "Executors", pages.EXECUTORS_BODY)


async def not_found(request: Request, exc: Exception) -> Response:
    if request.url.path.startswith("/api/"):
        return pages.json_error(404, f"no such path {request.url.path[:80]}")
    return pages.error_page(404, "Not found", f"There is no page at {request.url.path[:80]}.")


ROUTES = [
    Route("/", runs_page),
    Route("/runs/{run_id}", run_page),
    Route("/workflows", workflows_page),
    Route("/executors", executors_page),
    Route("/api/runs", api.runs),
    Route("/api/runs/{run_id}", api.run),
    Route("/api/runs/{run_id}/events", streams.run_events),
    Route("/api/runs/{run_id}/checkpoints", api.checkpoints),
    Route("/api/runs/{run_id}/requests", api.requests),
    Route("/api/runs/{run_id}/responses", api.answer, methods=["POST"]),
    Route("/api/runs/{run_id}/cancel", api.cancel, methods=["POST"]),
    Route("/api/checkpoints/{checkpoint_id}", api.checkpoint),
    Route("/api/checkpoints/{checkpoint_id}/resume", api.resume, methods=["POST"]),
    Route("/api/diff", api.diff),
    Route("/api/events", streams.runs_feed),
    Route("/api/workflows", api.workflows),
    Route("/api/executors", api.executors),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


def create_app(
    connect: Callable[[], RunnerClient],
    *,
    login_token: str = "",
    allowed_hosts: Sequence[str] = ("*",),
) -> Starlette:
    """The console, talking to the runner through the client `connect()` makes
    (once, closed on shutdown); with `login_token` every request needs it.
    Requests naming another host than `allowed_hosts` are refused (a console
    on loopback passes LOOPBACK_NAMES: no DNS rebinding onto it)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with connect() as client:
            app.state.link = RunnerLink(client)
            yield

    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))]
    if login_token:
        middleware.append(Middleware(LoginRequired, token=login_token))
    return Starlette(
        routes=ROUTES,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={SteplineError: runner_error, 404: not_found},
    )
