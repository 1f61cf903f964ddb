"""What a `RunnerClient` does on a user's "try, start the runner, try again":
a client made after the runner came up reaches it with its first call, even
where an earlier client in the same process failed to connect to that
address and is still backing off. And what it says when it cannot reach a
runner (TLS on one side only, nothing listening, an executor service, a URL):
what to check first, then gRPC's own words, bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import pytest_asyncio

from stepline import NotFoundError, RunnerClient, SteplineError, UnavailableError
from tests.support.certificates import self_signed
from tests.support.cli import stepline
from tests.support.processes import free_port, start_executors, start_runner

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_a_new_client_reaches_a_runner_an_earlier_client_found_down(
    tmp_path: Path,
) -> None:
    port = free_port()
    address = f"127.0.0.1:{port}"
    async with RunnerClient(address) as early:
        with pytest.raises(UnavailableError):
            await early.get_run("r1")  # nothing listens there yet
        async with (
            await start_runner(tmp_path / "stepline.db", port),
            RunnerClient(address) as fresh,
        ):
            # Reached the runner at once. Before, it shared the early client's
            # failed connection and failed UNAVAILABLE until that one's backoff ended.
            with pytest.raises(NotFoundError):
                await fresh.get_run("r1")
            # The early client itself fails fast until its own next attempt
            # (at most a second away); `wait_for_ready` waits for that.
            await early.wait_for_ready(30)
            with pytest.raises(NotFoundError):
                await early.get_run("r1")


@dataclass
class Runners:
    plain: str
    tls: str
    ca: bytes


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def runners(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Runners]:
    tmp = tmp_path_factory.mktemp("client-connection")
    cert, key = self_signed(tmp)
    tls_options = ("--tls-cert", str(cert), "--tls-key", str(key))
    async with (
        await start_runner(tmp / "plain.db") as plain,
        await start_runner(tmp / "tls.db", 0, *tls_options) as tls,
    ):
        yield Runners(plain.address, tls.address, cert.read_bytes())


async def refusal(client: RunnerClient) -> SteplineError:
    with pytest.raises(SteplineError) as caught:
        await client.get_run("r1")
    error = caught.value
    assert len(str(error)) < 800, error  # bounded: the hint and gRPC's words
    return error


async def test_a_client_without_tls_to_a_tls_runner_is_told_to_give_its_ca(
    runners: Runners,
) -> None:
    async with RunnerClient(runners.tls) as client:
        error = await refusal(client)
    assert isinstance(error, UnavailableError)
    assert "if the runner serves TLS, give root_certificates (the command's --ca-file)" in str(
        error
    )


async def test_a_tls_client_to_a_plaintext_runner_is_told_to_leave_out_the_ca(
    runners: Runners,
) -> None:
    async with RunnerClient(runners.plain, root_certificates=runners.ca) as client:
        error = await refusal(client)
    assert isinstance(error, UnavailableError)
    assert "does not answer in TLS" in str(error)
    assert "leave out root_certificates" in str(error)


async def test_a_client_of_a_port_nothing_listens_on_is_told_so() -> None:
    address = f"127.0.0.1:{free_port()}"
    async with RunnerClient(address) as client:
        error = await refusal(client)
    assert str(error).startswith(f"nothing listens at '{address}': is the runner up"), error
    assert "Connection refused" in str(error)  # gRPC's own words follow


async def test_an_executor_service_is_no_runner(runners: Runners, tmp_path: Path) -> None:
    async with await start_executors("stages") as stages, RunnerClient(stages.address) as client:
        error = await refusal(client)
    assert error.code == grpc.StatusCode.UNIMPLEMENTED
    assert "is it a Stepline runner (not an executor service)" in str(error)


async def test_a_url_is_no_address(runners: Runners) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        RunnerClient(f"http://{runners.plain}")
    listed = await stepline("run", "list", address=f"https://{runners.plain}")
    assert listed.code == 2
    assert "--address: the runner's address is HOST:PORT" in listed.stderr
