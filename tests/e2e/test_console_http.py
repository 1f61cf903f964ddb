"""The web console's HTTP endpoints without a browser, against a runner
process: pages and JSON for unknown names, answers that are not JSON, a runner
that goes away and comes back, the login beyond loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from stepline import RunnerClient
from stepline.v1 import events_pb2 as E
from stepline.v1 import workflow_pb2
from tests.executors.approvals import Order, approve_workflow
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.console import console_client, start_console
from tests.support.processes import Service
from tests.support.runs import until_waiting

pytestmark = pytest.mark.asyncio(loop_scope="module")

cluster = cluster_fixture("faults", scope="module", fixed_ports=True)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def client(cluster: Cluster) -> RunnerClient:
    client = cluster.client()
    await client.register_workflow(approve_workflow(cluster.addresses[0]))
    return client


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def console(cluster: Cluster) -> AsyncIterator[Service]:
    async with await start_console(cluster.runner.address) as service:
        yield service


@pytest_asyncio.fixture(loop_scope="module")
async def http(console: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with console_client(console) as http:
        yield http


async def waiting_run(client: RunnerClient) -> str:
    run = await client.start_run("approve", Order("o-1", 10))
    await until_waiting(client, run.run_id)
    return run.run_id


async def test_unknown_run_is_a_404_page_and_a_404_json(http: httpx.AsyncClient) -> None:
    page = await http.get("/runs/no-such-run")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "no-such-run" in page.text
    assert "Not found" in page.text
    api = await http.get("/api/runs/no-such-run")
    assert api.status_code == 404
    assert api.json()["code"] == "NOT_FOUND"
    assert (await http.get("/api/checkpoints/nope")).status_code == 404
    assert (await http.get("/no/such/page")).status_code == 404


async def test_a_run_page_and_its_data(http: httpx.AsyncClient, client: RunnerClient) -> None:
    run_id = await waiting_run(client)
    page = await http.get(f"/runs/{run_id}")
    assert page.status_code == 200
    assert f'data-run="{run_id}"' in page.text
    body = (await http.get(f"/api/runs/{run_id}")).json()
    assert body["run"]["status"] == "RUN_STATUS_IDLE_WITH_PENDING_REQUESTS"
    assert [n["id"] for n in body["workflow"]["executors"]] == ["intake", "boss", "close"]
    (request,) = (await http.get(f"/api/runs/{run_id}/requests")).json()["requests"]
    assert request["data"]["value"] == {"order_id": "o-1", "amount": 10, "reviewer": "boss"}
    listed = (await http.get("/api/runs", params={"workflow": "approve"})).json()
    assert run_id in [r["run_id"] for r in listed["runs"]]
    assert "approve" in listed["workflows"]
    bad_status = await http.get("/api/runs", params={"status": "SLEEPING"})
    assert bad_status.status_code == 400


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"request_id": "r", "response": "{\\"approved\\": tru"}', "the answer is not JSON"),
        (b"not json at all", "the body is not JSON"),
        (b'{"response": "{}"}', "request_id is missing"),
        (b'["a"]', "send a JSON object"),
        (b'{"request_id": "r", "response": {"approved": true}}', "the answer's JSON text"),
    ],
)
async def test_an_answer_that_is_not_json_is_a_400_and_the_run_still_waits(
    http: httpx.AsyncClient, client: RunnerClient, body: bytes, says: str
) -> None:
    run_id = await waiting_run(client)
    sent = await http.post(
        f"/api/runs/{run_id}/responses", content=body, headers={"content-type": "application/json"}
    )
    assert sent.status_code == 400
    assert says in sent.json()["error"]
    assert len(await client.list_pending_requests(run_id)) == 1


async def test_an_answer_goes_to_the_run(http: httpx.AsyncClient, client: RunnerClient) -> None:
    run_id = await waiting_run(client)
    (request,) = await client.list_pending_requests(run_id)
    answer = json.dumps({"approved": True, "by": "ann"})
    wrong_id = await http.post(
        f"/api/runs/{run_id}/responses", json={"request_id": "nope", "response": answer}
    )
    assert wrong_id.status_code == 404
    assert "no open request 'nope'" in wrong_id.json()["error"]
    sent = await http.post(
        f"/api/runs/{run_id}/responses",
        json={"request_id": request.request_id, "response": answer},
    )
    assert sent.status_code == 200, sent.text
    result = await client.wait(run_id, timeout=30)
    assert result.run.status == E.RUN_STATUS_COMPLETED


async def test_a_runner_that_is_down_gets_a_page_that_says_so_until_it_is_back(
    cluster: Cluster, http: httpx.AsyncClient
) -> None:
    await cluster.kill_runner()
    try:
        down = await http.get("/")
        assert down.status_code == 503
        assert "cannot be reached" in down.text
        assert 'http-equiv="refresh"' in down.text
        api = await http.get("/api/runs")
        assert api.status_code == 503
        assert api.json()["code"] == "UNAVAILABLE"
    finally:
        await cluster.start_runner()
    back = await http.get("/")
    assert back.status_code == 200
    assert 'data-page="runs"' in back.text
    assert (await http.get("/api/runs")).status_code == 200


def cookie_flags(response: httpx.Response) -> set[str]:
    """The attributes of the session cookie a response sets, but its value and path."""
    (cookie,) = response.headers.get_list("set-cookie")
    name_value, *attributes = (part.strip().lower() for part in cookie.split(";"))
    assert name_value.startswith("stepline_console=")
    return {a for a in attributes if not a.startswith("path=")}


async def test_beyond_loopback_the_console_needs_its_login_token(
    cluster: Cluster, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    options = ("--host", "0.0.0.0", "--login-token-file", str(token_file))
    async with await start_console(cluster.runner.address, *options) as service:
        base = f"http://127.0.0.1:{service.address.rsplit(':', 1)[1]}"
        async with httpx.AsyncClient(base_url=base) as http:
            page = await http.get("/")
            assert page.status_code == 401
            assert 'name="token"' in page.text
            assert (await http.get("/api/runs")).status_code == 401
            wrong = await http.post("/login", data={"token": "guess"})
            assert wrong.status_code == 401
            bearer = await http.get("/api/runs", headers={"authorization": "Bearer s3cret-token"})
            assert bearer.status_code == 200
            logged = await http.post("/login", data={"token": "s3cret-token"})
            assert logged.status_code == 303
            assert (await http.get("/")).status_code == 200
            # Over TLS (here a proxy on loopback that ends it) the cookie is Secure.
            tls = await http.post(
                "/login", data={"token": "s3cret-token"}, headers={"x-forwarded-proto": "https"}
            )
            assert cookie_flags(tls) == {"httponly", "samesite=strict", "secure"}
            assert cookie_flags(logged) == {"httponly", "samesite=strict"}


async def test_cross_site_requests_are_refused(
    http: httpx.AsyncClient, client: RunnerClient
) -> None:
    run_id = await waiting_run(client)
    # A form or text/plain post is what another site's page can send unasked.
    (request,) = await client.list_pending_requests(run_id)
    body = json.dumps({"request_id": request.request_id, "response": '{"approved": true}'})
    as_text = await http.post(
        f"/api/runs/{run_id}/responses", content=body, headers={"content-type": "text/plain"}
    )
    assert as_text.status_code == 400
    assert "application/json" in as_text.json()["error"]
    cancel = await http.post(f"/api/runs/{run_id}/cancel")
    assert cancel.status_code == 400
    assert len(await client.list_pending_requests(run_id)) == 1
    # A name that resolves to loopback but is not loopback's (DNS rebinding).
    rebound = await http.get("/api/runs", headers={"host": "attacker.example:7080"})
    assert rebound.status_code == 400


async def test_a_run_shows_its_own_version_of_the_graph(
    http: httpx.AsyncClient, client: RunnerClient, cluster: Cluster
) -> None:
    first = approve_workflow(cluster.addresses[0])
    first.workflow_id = "versioned"
    await client.register_workflow(first)
    run = await client.start_run("versioned", Order("o-2", 20))
    await until_waiting(client, run.run_id)
    second = workflow_pb2.WorkflowDefinition()
    second.CopyFrom(first)
    second.executors[1].id = "chief"
    second.edges[0].direct.target_id = "chief"
    second.edges[1].direct.source_id = "chief"
    await client.register_workflow(second)

    body = (await http.get(f"/api/runs/{run.run_id}")).json()
    assert [n["id"] for n in body["workflow"]["executors"]] == ["intake", "boss", "close"]
    (listed,) = [
        w
        for w in (await http.get("/api/workflows")).json()["workflows"]
        if w["workflow_id"] == "versioned"
    ]
    assert [n["id"] for n in listed["definition"]["executors"]] == ["intake", "chief", "close"]
    assert [v["version"] for v in listed["versions"]] == [2, 1]
    assert listed["versions"][0]["graph_signature"] != listed["versions"][1]["graph_signature"]
