"""`stepline run ...` against a runner process and a real executor service:
what each subcommand prints (tables, --json), its exit code, and bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import pytest_asyncio

from stepline import RunnerClient
from stepline.v1 import events_pb2 as E
from tests.executors.stages import Token
from tests.support.cli import Result, stepline
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.runs import stage_loop

pytestmark = pytest.mark.asyncio(loop_scope="module")

cluster = cluster_fixture("faults", scope="module")

TOKEN = json.dumps({"value": 1, "hops": 0, "limit": 3})
SLOW = json.dumps({"value": 1, "hops": 0, "limit": 100_000, "delay_ms": 20})


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def client(cluster: Cluster) -> RunnerClient:
    client = cluster.client()
    endpoint = cluster.addresses[0]
    await client.register_workflow(stage_loop("loop", [endpoint, endpoint]))
    # Fails at superstep 3: the token wants more hops than the limit allows.
    await client.register_workflow(stage_loop("short", [endpoint, endpoint], max_supersteps=3))
    return client


async def cli(cluster: Cluster, *args: str) -> Result:
    return await stepline(*args, address=cluster.runner.address)


def fields(result: Result) -> dict[str, str]:
    """`name  value` lines of a record."""
    lines = [line.strip() for line in result.stdout.splitlines()]
    pairs = [re.split(r"\s{2,}", line, maxsplit=1) for line in lines if "  " in line]
    return {pair[0]: pair[1] for pair in pairs}


def rows(result: Result) -> list[list[str]]:
    _header, *body = result.stdout.strip().splitlines()
    return [line.split() for line in body]


async def test_start_prints_the_run_and_wait_exits_with_its_outcome(
    cluster: Cluster, client: RunnerClient
) -> None:
    started = await cli(cluster, "run", "start", "loop", "--input", TOKEN, "--type", "Token")
    assert started.code == 0, started.stderr
    run_id = fields(started)["run"]
    assert fields(started)["workflow"] == "loop"

    waited = await cli(cluster, "run", "wait", run_id)
    assert waited.code == 0
    assert fields(waited)["status"] == "COMPLETED"
    assert "output: {" in waited.stdout

    as_json = await cli(cluster, "run", "wait", run_id, "--json")
    document = as_json.json()
    assert document["run"]["status"] == "RUN_STATUS_COMPLETED"
    assert document["outputs"][0]["type_name"] == "object"
    assert set(document["outputs"][0]["value"]) == {"by", "total", "value"}


async def test_start_with_wait_and_an_input_file_and_a_run_id(
    cluster: Cluster, client: RunnerClient, tmp_path: Path
) -> None:
    path = tmp_path / "token.json"
    path.write_text(TOKEN)
    args = ["run", "start", "loop", "-i", f"@{path}", "--type", "Token", "--run-id", "from-file"]
    result = await cli(cluster, *args, "--wait", "--json")
    assert result.code == 0, result.stderr
    assert result.json()["run"]["run_id"] == "from-file"
    # The same id and input again: the same run, not a second one.
    again = await cli(cluster, *args, "--json")
    assert again.code == 0 and again.json()["run_id"] == "from-file"


async def test_a_failing_run_waited_for_exits_1(cluster: Cluster, client: RunnerClient) -> None:
    result = await cli(cluster, "run", "start", "short", "-i", SLOW, "--type", "Token", "--wait")
    assert result.code == 1
    assert fields(result)["status"] == "FAILED"
    assert "error" in fields(result)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-i", "{not json"], "--input: the value is not JSON"),
        (["-i", "@/nonexistent/input.json"], "--input: cannot read /nonexistent/input.json"),
        (["-i", TOKEN, "--wait", "--watch"], "one at a time"),
    ],
)
async def test_bad_start_input_is_a_usage_error(
    cluster: Cluster, client: RunnerClient, args: list[str], message: str
) -> None:
    result = await cli(cluster, "run", "start", "loop", *args)
    assert result.code == 2
    assert message in result.stderr
    assert [r async for r in client.list_runs("loop") if r.run_id == "never"] == []


async def test_a_start_the_runner_refuses_exits_1_with_the_status(
    cluster: Cluster, client: RunnerClient
) -> None:
    unknown = await cli(cluster, "run", "start", "nope", "-i", TOKEN)
    assert unknown.code == 1
    assert "NOT_FOUND" in unknown.stderr and "nope" in unknown.stderr
    # An object where the start executor takes a Token: the runner says so.
    wrong = await cli(cluster, "run", "start", "loop", "-i", TOKEN)
    assert wrong.code == 1
    assert "INVALID_ARGUMENT" in wrong.stderr and "INPUT_TYPE_MISMATCH" in wrong.stderr


async def test_list_filters_by_status_and_start_time(
    cluster: Cluster, client: RunnerClient
) -> None:
    slow = await client.start_run("loop", Token(1, 0, 100_000, 20), run_id="listed-slow")
    completed = await cli(cluster, "run", "list", "--status", "completed", "--json")
    assert completed.code == 0
    assert {r["status"] for r in completed.json()} == {"RUN_STATUS_COMPLETED"}
    running = await cli(cluster, "run", "list", "-s", "running", "-s", "failed")
    assert ["listed-slow", "loop", "RUNNING"] in [r[:3] for r in rows(running)]
    assert {r[2] for r in rows(running)} <= {"RUNNING", "FAILED"}

    started = slow.created_at.ToDatetime().isoformat() + "Z"
    recent = await cli(cluster, "run", "list", "--since", started, "--json")
    assert [r["run_id"] for r in recent.json()] == ["listed-slow"]
    older = await cli(cluster, "run", "list", "--until", started, "-n", "2", "--json")
    assert len(older.json()) == 2 and "listed-slow" not in {r["run_id"] for r in older.json()}
    in_a_day = await cli(cluster, "run", "list", "--since", "0s", "--until", "1d")
    assert in_a_day.code == 1 and "created_after must be before" in in_a_day.stderr

    await cli(cluster, "run", "cancel", "listed-slow")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--status", "sleeping"], "--status: 'sleeping' is not one of running"),
        (["--since", "last tuesday"], "--since: 'last tuesday' is neither"),
        (["--limit", "-3"], "--limit"),
    ],
)
async def test_bad_list_options_are_usage_errors(
    cluster: Cluster, args: list[str], message: str
) -> None:
    result = await cli(cluster, "run", "list", *args)
    assert result.code == 2
    assert message in result.stderr


async def test_events_after_a_sequence_of_some_kinds_as_text_and_json_lines(
    cluster: Cluster, client: RunnerClient
) -> None:
    run = (await client.run("loop", Token(1, 0, 3))).run
    everything = await cli(cluster, "run", "events", run.run_id, "--json")
    lines = everything.json_lines()
    assert [e["sequence"] for e in lines] == list(range(1, run.last_sequence + 1))

    chosen = await cli(
        cluster, "run", "events", run.run_id, "--after", "3", "-k", "output", "-k", "status_changed"
    )
    assert chosen.code == 0
    kinds = [line.split()[4] for line in chosen.stdout.splitlines()]
    assert kinds == ["OUTPUT", "STATUS_CHANGED"]
    assert chosen.stdout.splitlines()[-1].endswith("COMPLETED")
    # --after the last event: nothing, at once.
    after_end = await cli(cluster, "run", "events", run.run_id, "--after", str(run.last_sequence))
    assert after_end.code == 0 and after_end.stdout == ""

    bad_kind = await cli(cluster, "run", "events", run.run_id, "--kind", "explosion")
    assert bad_kind.code == 2 and "--kind: 'explosion'" in bad_kind.stderr


async def test_events_of_a_running_run_stop_at_what_is_stored_unless_followed(
    cluster: Cluster, client: RunnerClient
) -> None:
    slow = await client.start_run("loop", Token(1, 0, 100_000, 20))
    stored = await cli(cluster, "run", "events", slow.run_id, "-k", "run_started", "--json")
    assert stored.code == 0
    assert [e["kind"] for e in stored.json_lines()] == ["EVENT_KIND_RUN_STARTED"]
    await client.cancel_run(slow.run_id)
    followed = await cli(cluster, "run", "events", slow.run_id, "--follow", "-k", "status_changed")
    assert followed.stdout.splitlines()[-1].endswith("CANCELLED")


async def test_cancel_resume_fork_and_delete(cluster: Cluster, client: RunnerClient) -> None:
    slow = await client.start_run("loop", Token(1, 0, 100_000, 20), run_id="to-cancel")
    refused = await cli(cluster, "run", "delete", "to-cancel")
    assert refused.code == 1
    assert "FAILED_PRECONDITION" in refused.stderr and "cancel it, then delete it" in refused.stderr

    cancelled = await cli(cluster, "run", "cancel", "to-cancel", "--json")
    assert cancelled.code == 0 and cancelled.json()["status"] == "RUN_STATUS_CANCELLED"
    again = await cli(cluster, "run", "cancel", "to-cancel")
    assert again.code == 1 and "already ended" in again.stderr

    latest = (await client.get_run(slow.run_id)).latest_checkpoint_id
    forked = await cli(cluster, "run", "resume", latest, "--fork", "--run-id", "the-fork")
    assert forked.code == 0, forked.stderr
    assert fields(forked)["run"] == "the-fork"
    assert fields(forked)["parent run"] == "to-cancel"
    resumed = await cli(cluster, "run", "resume", latest, "--json")
    assert resumed.code == 0 and resumed.json()["run_id"] == "to-cancel"
    for run_id in ("to-cancel", "the-fork"):
        await client.cancel_run(run_id)

    deleted = await cli(cluster, "run", "delete", "to-cancel")
    assert deleted.code == 0
    assert deleted.stdout.startswith("deleted run to-cancel: ")
    gone = await cli(cluster, "run", "get", "to-cancel")
    assert gone.code == 1 and "NOT_FOUND" in gone.stderr
    as_json = await cli(cluster, "run", "delete", "the-fork", "--json")
    assert as_json.json()["events_removed"] > 0
    missing = await cli(cluster, "run", "resume", "no-such-checkpoint")
    assert missing.code == 1 and "NOT_FOUND" in missing.stderr


async def test_get_of_a_failed_run_shows_the_error(cluster: Cluster, client: RunnerClient) -> None:
    run = await client.start_run("short", Token(1, 0, 100_000))
    async for _ in client.watch(run.run_id):
        pass
    shown = await cli(cluster, "run", "get", run.run_id)
    assert fields(shown)["status"] == "FAILED"
    assert "SuperstepLimit" in fields(shown)["error"]
    assert (await client.get_run(run.run_id)).status == E.RUN_STATUS_FAILED


async def test_start_with_watch_follows_the_run_to_its_end(
    cluster: Cluster, client: RunnerClient
) -> None:
    watched = await cli(cluster, "run", "start", "loop", "-i", TOKEN, "--type", "Token", "--watch")
    assert watched.code == 0, watched.stderr
    assert "outcome COMPLETED" in watched.stdout
    assert [line.split()[:2] for line in watched.stdout.splitlines() if " done " in line]
    as_json = await cli(
        cluster, "run", "start", "short", "-i", SLOW, "--type", "Token", "--watch", "--json"
    )
    assert as_json.code == 1
    assert as_json.json_lines()[-1]["status"] == "RUN_STATUS_FAILED"


@pytest.mark.parametrize("command", ["watch", "wait", "events", "get", "cancel", "delete"])
async def test_every_run_command_on_an_unknown_run_exits_1_not_found(
    cluster: Cluster, command: str
) -> None:
    result = await cli(cluster, "run", command, "no-such-run")
    assert result.code == 1
    assert result.stderr.startswith("error: NOT_FOUND [RUN_NOT_FOUND]: ")
    assert result.stdout == ""
