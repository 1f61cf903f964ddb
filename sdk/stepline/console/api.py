"""The console's JSON API: thin handlers over `RunnerClient` calls, turning
protobuf messages into JSON with payloads decoded (the CLI's `message_json`).
Errors of the runner become HTTP statuses in `app.py`."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from stepline import payloads
from stepline.cli import checkpoint_diff
from stepline.cli.executors import describe_service
from stepline.cli.output import message_json
from stepline.client import RunnerClient, RunStatus
from stepline.errors import SteplineError

from .bodies import read_body
from .pages import json_error
from .runner_link import RunnerLink

MAX_RUNS = 200
MAX_VERSIONS = 10
MAX_ANSWER_BYTES = 1 << 20
DESCRIBE_TIMEOUT = 2.0


def link(request: Request) -> RunnerLink:
    value: RunnerLink = request.app.state.link
    return value


async def runs(request: Request) -> Response:
    workflow = request.query_params.get("workflow", "")
    status = request.query_params.get("status", "")
    statuses: list[Any] = []  # the client takes the enum values
    if status:
        if status not in RunStatus.keys():  # noqa: SIM118 (an enum wrapper, not a dict)
            return json_error(400, f"unknown status {status[:40]!r}", known=list(RunStatus.keys()))
        statuses = [RunStatus.Value(status)]

    async def fetch(client: RunnerClient) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        async for run in client.list_runs(workflow, statuses=statuses):
            found.append(message_json(run))
            if len(found) >= MAX_RUNS:
                break
        return found

    async def workflows(client: RunnerClient) -> list[str]:
        return [w.workflow_id async for w in client.list_workflows()]

    body = {
        "runs": await link(request).call(fetch),
        "workflows": await link(request).call(workflows),
        "statuses": [s for s in RunStatus.keys() if s != "RUN_STATUS_UNSPECIFIED"],  # noqa: SIM118
    }
    return JSONResponse(body)


async def run(request: Request) -> Response:
    run_id = request.path_params["run_id"]
    found = await link(request).call(lambda c: c.get_run(run_id))
    workflow: dict[str, Any] | None = None
    try:
        # The run's own version: a later registration may have changed the graph.
        definition, _ = await link(request).call(
            lambda c: c.get_workflow(found.workflow_id, version=found.workflow_version)
        )
        workflow = message_json(definition)
    except SteplineError:
        workflow = None  # deleted since: the run page shows no graph
    return JSONResponse({"run": message_json(found), "workflow": workflow})


async def checkpoints(request: Request) -> Response:
    run_id = request.path_params["run_id"]

    async def fetch(client: RunnerClient) -> list[dict[str, Any]]:
        return [message_json(c) async for c in client.list_checkpoints(run_id)]

    return JSONResponse({"checkpoints": await link(request).call(fetch)})


async def checkpoint(request: Request) -> Response:
    checkpoint_id = request.path_params["checkpoint_id"]
    found = await link(request).call(
        lambda c: c.get_checkpoint(checkpoint_id, include_content=True)
    )
    return JSONResponse({"checkpoint": message_json(found)})


async def diff(request: Request) -> Response:
    before = request.query_params.get("before", "")
    after = request.query_params.get("after", "")
    if not before or not after:
        return json_error(400, "name two checkpoints: ?before=ID&after=ID")
    a = await link(request).call(lambda c: c.get_checkpoint(before, include_content=True))
    b = await link(request).call(lambda c: c.get_checkpoint(after, include_content=True))
    found = checkpoint_diff.diff_checkpoints(a, b)
    return JSONResponse(
        {"diff": checkpoint_diff.diff_json(found), "lines": checkpoint_diff.diff_lines(found)}
    )


async def requests(request: Request) -> Response:
    run_id = request.path_params["run_id"]
    pending = await link(request).call(lambda c: c.list_pending_requests(run_id))
    return JSONResponse({"requests": [message_json(r) for r in pending]})


async def _json_body(request: Request) -> Any:
    # Only JSON: another site's page can post a form or text/plain to a console
    # on loopback, but not application/json without a preflight we never allow.
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise ValueError("send Content-Type: application/json")
    body = await read_body(request, MAX_ANSWER_BYTES)
    try:
        return json.loads(body) if body else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError("the body is not JSON: send {request_id, response}") from None
    except RecursionError:
        raise ValueError("the body nests its JSON too deeply") from None


def parse_answer(body: Any) -> tuple[str, Any]:
    """(request id, response value) from `{"request_id": ..., "response": "<JSON text>"}`;
    ValueError says what is wrong."""
    if not isinstance(body, dict):
        raise ValueError("send a JSON object with request_id and response")
    request_id = body.get("request_id")
    text = body.get("response")
    if not isinstance(request_id, str) or not request_id:
        raise ValueError("request_id is missing")
    if not isinstance(text, str):
        raise ValueError("response must be the answer's JSON text")
    try:
        return request_id, json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"the answer is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise ValueError("the answer nests its JSON too deeply") from None


async def answer(request: Request) -> Response:
    run_id = request.path_params["run_id"]
    try:
        request_id, value = parse_answer(await _json_body(request))
    except ValueError as exc:
        return json_error(400, str(exc))
    pending = await link(request).call(lambda c: c.list_pending_requests(run_id))
    asked = next((r for r in pending if r.request_id == request_id), None)
    if asked is None:
        return json_error(404, f"run {run_id[:80]} has no open request {request_id[:80]!r}")
    # The answer carries the type the request asks for: the form sends bare JSON.
    response = payloads.encode(value, asked.response_type)
    updated = await link(request).call(lambda c: c.send_responses(run_id, {request_id: response}))
    return JSONResponse({"run": message_json(updated)})


async def cancel(request: Request) -> Response:
    run_id = request.path_params["run_id"]
    try:
        await _json_body(request)  # no body needed, but a JSON post: not another site's
    except ValueError as exc:
        return json_error(400, str(exc))
    updated = await link(request).call(lambda c: c.cancel_run(run_id))
    return JSONResponse({"run": message_json(updated)})


async def resume(request: Request) -> Response:
    checkpoint_id = request.path_params["checkpoint_id"]
    try:
        body = await _json_body(request)
    except ValueError as exc:
        return json_error(400, str(exc))
    fork = bool(body.get("fork", False)) if isinstance(body, dict) else False
    resumed = await link(request).call(lambda c: c.resume(checkpoint_id, fork=fork))
    return JSONResponse({"run": message_json(resumed)})


async def workflows(request: Request) -> Response:
    async def fetch(client: RunnerClient) -> list[dict[str, Any]]:
        found = []
        async for summary in client.list_workflows():
            definition, _ = await client.get_workflow(summary.workflow_id)
            versions = await _versions(client, summary.workflow_id, summary.version)
            found.append(
                {**message_json(summary), "definition": message_json(definition), **versions}
            )
        return found

    return JSONResponse({"workflows": await link(request).call(fetch)})


async def _versions(client: RunnerClient, workflow_id: str, latest: int) -> dict[str, Any]:
    """The newest MAX_VERSIONS versions, newest first: number, signature, size."""
    rows = []
    for version in range(latest, max(0, latest - MAX_VERSIONS), -1):
        definition, signature = await client.get_workflow(workflow_id, version=version)
        rows.append(
            {
                "version": version,
                "graph_signature": signature,
                "executors": len(definition.executors),
                "edges": len(definition.edges),
            }
        )
    return {"versions": rows, "older_versions": max(0, latest - MAX_VERSIONS)}


async def executors(request: Request) -> Response:
    async def endpoints(client: RunnerClient) -> dict[str, set[str]]:
        used: dict[str, set[str]] = {}
        async for summary in client.list_workflows():
            definition, _ = await client.get_workflow(summary.workflow_id)
            for node in definition.executors:
                used.setdefault(node.endpoint, set()).add(f"{summary.workflow_id}/{node.id}")
        return used

    rows = []
    for endpoint, users in sorted((await link(request).call(endpoints)).items()):
        rows.append({"endpoint": endpoint, "used_by": sorted(users), **await _describe(endpoint)})
    return JSONResponse({"executors": rows})


async def _describe(endpoint: str) -> dict[str, Any]:
    try:
        described = await describe_service(endpoint, DESCRIBE_TIMEOUT)
    except Exception as exc:  # any failure means: it does not answer
        return {"answers": False, "problem": str(exc)[:200]}
    return {"answers": True, **message_json(described)}
