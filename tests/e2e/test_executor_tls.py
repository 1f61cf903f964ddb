"""Against real processes, with certificates the test makes: the runner
reaches executor services over TLS, presenting its client certificate (mTLS)
or its token, and a caller without them can neither read (`SaveCheckpoint`)
nor overwrite (`RestoreCheckpoint`) a live run's state there. Plaintext goes
to loopback only, and the runner's credentials only where its rules point.
One runner and two services for the module; the tests that start their own
are in test_executor_tls_own_services.py."""

from __future__ import annotations

import asyncio
import ssl
import urllib.error
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio

from stepline import PermissionDeniedError, Reason, RunnerClient, SteplineError
from stepline.testing import start_runner as start_logged_runner
from stepline.v1 import events_pb2 as E
from stepline.v1 import executor_pb2
from tests.e2e.test_polyglot import conformance
from tests.executors.stages import Token
from tests.support.cli import stepline
from tests.support.executor_tls import Pki, call, forged, pki_fixture, tls_env
from tests.support.metrics import fetch
from tests.support.processes import ROOT, Service, start_executors, start_runner
from tests.support.runs import assert_exact_log, of_kind, stage_loop, until_superstep

pytestmark = pytest.mark.asyncio(loop_scope="module")

pki = pki_fixture()


@dataclass
class Services:
    mtls: Service  # requires a client certificate from our CA
    tokened: Service  # requires the runner's token
    runner: Service

    @property
    def mtls_port(self) -> str:
        return self.mtls.address.rsplit(":", 1)[1]

    @property
    def token_port(self) -> str:
        return self.tokened.address.rsplit(":", 1)[1]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def services(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Services]:
    cert, key = pki.runner
    metrics = {"STEPLINE_METRICS_PORT": "0"}
    mtls = await start_executors("stages", {**tls_env(pki, client_ca=True), **metrics})
    tokened = await start_executors("stages", {**tls_env(pki, token=True), **metrics})
    options = (
        *("--executor-tls", mtls.address, f"ca={pki.ca}", f"cert={cert}", f"key={key}"),
        *("--executor-tls", tokened.address, f"ca={pki.ca}", f"token={pki.token}"),
        *("--allow-executors", "127.0.0.0/8", "--allow-executors", "10.0.0.0/8:7000"),
    )
    db = tmp_path_factory.mktemp("runner") / "stepline.db"
    runner = await start_runner(db, 0, *options)
    try:
        yield Services(mtls, tokened, runner)
    finally:
        for service in (runner, mtls, tokened):
            await service.kill()


async def test_a_live_runs_state_cannot_be_read_or_overwritten_without_the_runners_credentials(
    services: Services, pki: Pki
) -> None:
    async with RunnerClient(services.runner.address) as client:
        # a and b on the mTLS service, c on the token one.
        await client.register_workflow(
            stage_loop("guarded", [services.mtls.address, services.tokened.address])
        )
        token = Token(value=3, hops=0, limit=15, delay_ms=40)
        reference = await client.run("guarded", token, output_type=dict)
        run = await client.start_run("guarded", token)
        await until_superstep(client, run.run_id, 3)

        read_c = executor_pb2.SaveCheckpointRequest(
            run_id=run.run_id, executor_id="c", executor_type="stage"
        )
        read_a = executor_pb2.SaveCheckpointRequest(
            run_id=run.run_id, executor_id="a", executor_type="stage"
        )
        tls = pki.credentials()
        wrong_token = (("authorization", "Bearer not-the-token"),)
        at_token = services.tokened.address
        token_refusals = [
            await call(at_token, "SaveCheckpoint", read_c, tls),
            await call(at_token, "SaveCheckpoint", read_c, tls, wrong_token),
            await call(at_token, "RestoreCheckpoint", forged(run.run_id, "c"), tls),
            await call(at_token, "RestoreCheckpoint", forged(run.run_id, "c"), tls, wrong_token),
        ]
        at_mtls = services.mtls.address
        mtls_refusals = [
            await call(at_mtls, "SaveCheckpoint", read_a, tls),  # no client certificate
            await call(at_mtls, "SaveCheckpoint", read_a, pki.credentials(client=pki.mallory)),
            await call(at_mtls, "RestoreCheckpoint", forged(run.run_id, "a"), tls),
            await call(
                at_mtls,
                "RestoreCheckpoint",
                forged(run.run_id, "a"),
                pki.credentials(client=pki.mallory),
            ),
            await call(at_mtls, "RestoreCheckpoint", forged(run.run_id, "a")),  # plaintext
        ]
        # The same read with the runner's credentials works: what stopped the
        # others was only what they lacked.
        insider, state = await call(
            at_token,
            "SaveCheckpoint",
            read_c,
            tls,
            (("authorization", f"Bearer {pki.token.read_text().strip()}"),),
        )
        result = await client.wait(run.run_id, output_type=dict)

    for code, details in token_refusals:
        assert code == grpc.StatusCode.UNAUTHENTICATED
        assert "needs a token" in details
    for code, _ in mtls_refusals:
        assert code == grpc.StatusCode.UNAVAILABLE, "refused at the TLS handshake"
    assert insider == grpc.StatusCode.OK and state.state.type_name == "stage.state"
    assert result.run.status == E.RUN_STATUS_COMPLETED
    assert result.outputs == reference.outputs, "the run's state was not changed"
    assert_exact_log(result.events)
    assert not of_kind(result.events, E.EVENT_KIND_ROLLBACK)
    assert not of_kind(result.events, E.EVENT_KIND_WARNING)


async def test_every_rpc_without_the_token_is_unauthenticated(services: Services, pki: Pki) -> None:
    requests = {
        "Describe": executor_pb2.DescribeRequest(),
        "Execute": executor_pb2.ExecuteRequest(run_id="r", executor_id="a", executor_type="stage"),
        "SaveCheckpoint": executor_pb2.SaveCheckpointRequest(run_id="r", executor_id="a"),
        "RestoreCheckpoint": forged("r", "a"),
        "EndRun": executor_pb2.EndRunRequest(run_id="r"),
    }
    codes = {
        method: (await call(services.tokened.address, method, request, pki.credentials()))[0]
        for method, request in requests.items()
    }
    plaintext = await call(services.tokened.address, "Describe", requests["Describe"])

    assert set(codes.values()) == {grpc.StatusCode.UNAUTHENTICATED}, codes
    assert plaintext[0] == grpc.StatusCode.UNAVAILABLE, "a TLS service does not speak plaintext"


async def test_a_client_must_trust_the_services_ca(services: Services, pki: Pki) -> None:
    wrong_trust = pki.credentials(ca=pki.other_ca, client=pki.runner)

    code, details = await call(
        services.mtls.address, "Describe", executor_pb2.DescribeRequest(), wrong_trust
    )

    assert code == grpc.StatusCode.UNAVAILABLE
    assert "CERTIFICATE_VERIFY_FAILED" in details


async def test_a_runner_without_the_right_credentials_finds_the_services_unreachable(
    services: Services, pki: Pki, tmp_path: Path
) -> None:
    cert, key = pki.runner
    wrong_token = tmp_path / "wrong.token"
    wrong_token.write_text("not-the-token")
    mtls, tokened = services.mtls_port, services.token_port
    # The same services under other names, each with a profile missing one thing.
    profiles = {
        f"127.0.0.1:{mtls}": (f"ca={pki.other_ca}", f"cert={cert}", f"key={key}"),  # wrong CA
        f"localhost:{mtls}": (f"ca={pki.ca}",),  # no client certificate
        f"127.0.0.1:{tokened}": (f"ca={pki.ca}",),  # no token
        f"localhost:{tokened}": (f"ca={pki.ca}", f"token={wrong_token}"),
    }
    options = [w for rule, files in profiles.items() for w in ("--executor-tls", rule, *files)]
    log = tmp_path / "runner.log"
    runner = await start_logged_runner(tmp_path / "s.db", 0, *options, cwd=ROOT, log=log)
    refusals: dict[str, SteplineError] = {}
    async with runner, RunnerClient(runner.address) as client:
        for endpoint in profiles:
            with pytest.raises(SteplineError) as raised:
                await client.register_workflow(stage_loop("w", [endpoint, endpoint]))
            refusals[endpoint] = raised.value

    for endpoint, refusal in refusals.items():
        assert refusal.reason == Reason.EXECUTOR_SERVICE_UNREACHABLE, endpoint
    # The caller learns nothing more; the runner's log says what went wrong.
    text = log.read_text()
    assert "CERTIFICATE_VERIFY_FAILED" in text
    assert text.count("UNAUTHENTICATED") >= 2, text


class Recorder:
    """A service on loopback answering Describe, keeping every call's metadata."""

    def __init__(self) -> None:
        self.metadata: list[dict[str, Any]] = []

    async def describe(
        self, request: executor_pb2.DescribeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> executor_pb2.DescribeResponse:
        self.metadata.append(dict(context.invocation_metadata() or ()))
        stage = executor_pb2.ExecutorType(
            name="stage", input_types=["Token"], output_types=["Token"]
        )
        return executor_pb2.DescribeResponse(incarnation_id="rec", executor_types=[stage])

    def handler(self) -> grpc.GenericRpcHandler[Any, Any]:
        describe = grpc.unary_unary_rpc_method_handler(
            self.describe,
            executor_pb2.DescribeRequest.FromString,
            executor_pb2.DescribeResponse.SerializeToString,
        )
        return grpc.method_handlers_generic_handler(
            "stepline.v1.ExecutorService", {"Describe": describe}
        )


async def test_the_runners_credentials_go_only_where_its_rules_point(services: Services) -> None:
    recorder = Recorder()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([recorder.handler()])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with RunnerClient(services.runner.address) as client:
            # A registrant names any endpoint the allow-list has: on loopback,
            # plaintext is allowed, but nothing of the runner's goes there.
            registered = await client.register_workflow(
                stage_loop("elsewhere", [f"127.0.0.1:{port}", f"127.0.0.1:{port}"])
            )
    finally:
        await server.stop(None)

    assert registered.version >= 1
    assert recorder.metadata, "the runner called Describe"
    assert all("authorization" not in m for m in recorder.metadata), recorder.metadata


async def test_a_non_loopback_endpoint_is_never_dialled_in_plaintext(services: Services) -> None:
    async with RunnerClient(services.runner.address) as client:
        with pytest.raises(PermissionDeniedError) as refused:
            await client.register_workflow(stage_loop("far", ["10.1.2.3:7000", "10.1.2.3:7000"]))

    assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert refused.value.reason == Reason.ENDPOINT_NEEDS_TLS
    assert "'10.1.2.3:7000' would be dialled in plaintext" in str(refused.value)
    assert "--executor-tls" in str(refused.value)


async def test_the_conformance_command_checks_a_tls_service(services: Services, pki: Pki) -> None:
    cert, key = pki.runner
    ca = ("--ca", str(pki.ca))

    mtls = await conformance(services.mtls.address, *ca, "--cert", str(cert), "--key", str(key))
    tokened = await conformance(services.tokened.address, *ca, "--token-file", str(pki.token))
    refused = await conformance(services.tokened.address, *ca)

    assert mtls[0] == 0 and mtls[1].endswith(" 0 failed\n"), mtls[1]
    assert tokened[0] == 0 and tokened[1].endswith(" 0 failed\n"), tokened[1]
    assert refused[0] == 2 and "UNAUTHENTICATED" in refused[1], refused[1]


async def test_the_stepline_command_describes_and_checks_a_tls_service(
    services: Services, pki: Pki
) -> None:
    cert, key = pki.runner
    ca = ("--ca", str(pki.ca))

    described = await stepline(
        "executor", "describe", services.tokened.address, *ca, "--token-file", str(pki.token)
    )
    checked = await stepline(
        "executor", "check", services.mtls.address, *ca, "--cert", str(cert), "--key", str(key)
    )
    refused = await stepline("executor", "describe", services.tokened.address, *ca)
    unusable = await stepline("executor", "describe", services.mtls.address, "--cert", str(cert))

    assert described.code == 0 and "stage" in described.stdout, described.stderr
    assert checked.code == 0 and checked.stdout.endswith(" 0 failed\n"), checked.stdout
    assert refused.code == 1 and "UNAUTHENTICATED" in refused.stderr
    assert unusable.code == 2 and "give --ca too" in unusable.stderr


async def test_a_services_metrics_want_what_its_grpc_port_wants(
    services: Services, pki: Pki
) -> None:
    """Its metrics are served over its TLS, to a scraper with the client
    certificate, or the token, that its gRPC callers need (they were plain
    HTTP to anyone who could reach the port)."""

    def scraper(client: tuple[Path, Path] | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=pki.ca)
        if client is not None:
            context.load_cert_chain(*client)
        return context

    def url(service: Service) -> str:
        assert service.metrics_port is not None, f"{service.name} said nothing of its metrics"
        return f"https://127.0.0.1:{service.metrics_port}/metrics"

    async def scrape(service: Service, context: ssl.SSLContext, token: str = "") -> str:
        return await asyncio.to_thread(fetch, url(service), context, token)

    async def refused(service: Service, context: ssl.SSLContext, token: str = "") -> int:
        with pytest.raises(urllib.error.HTTPError) as refusal:
            await scrape(service, context, token)
        assert "Authorization: Bearer <token>" in refusal.value.read().decode()
        return refusal.value.code

    token = pki.token.read_text().strip()
    by_certificate = await scrape(services.mtls, scraper(pki.runner))
    by_token = await scrape(services.tokened, scraper(), token)
    # Refused in the handshake, or (TLS 1.3) at the first read: an OSError either way.
    with pytest.raises(OSError):
        await scrape(services.mtls, scraper())
    with pytest.raises(OSError):
        await scrape(services.mtls, scraper(pki.mallory))
    for service in (services.mtls, services.tokened):
        with pytest.raises(OSError):  # plaintext to a TLS port
            await asyncio.to_thread(fetch, url(service).replace("https:", "http:"))

    for text in (by_certificate, by_token):
        assert "# TYPE stepline_executor_handler_duration_seconds histogram" in text
    assert await refused(services.tokened, scraper()) == 401
    assert await refused(services.tokened, scraper(), "not-the-token") == 401
