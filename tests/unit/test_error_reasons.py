"""Error reasons across the wire: an engine error's reason and context become
a google.rpc.ErrorInfo in the status details, and the SDK reads them back."""

from __future__ import annotations

import re

import grpc
from google.rpc import error_details_pb2, status_pb2

from stepline import FailedPreconditionError, NotFoundError, Reason, RunFailedError
from stepline.errors import from_rpc_error
from stepline.reasons import DOMAIN
from stepline.v1 import events_pb2, payload_pb2, runner_pb2
from stepline_runner.api.error_details import (
    MAX_CONTEXT_VALUE,
    MAX_MESSAGE_CHARS,
    RichStatus,
    reason_of,
    rich_status,
)
from stepline_runner.engine.errors import FailedPrecondition, InvalidWorkflow, NotFound
from stepline_runner.store.sqlite import CorruptBlob
from tests.support.processes import ROOT

DETAILS = "grpc-status-details-bin"


def as_received(status: RichStatus) -> grpc.aio.AioRpcError:
    """The error a client sees when a servicer aborts with `status`."""
    return grpc.aio.AioRpcError(
        status.code,
        grpc.aio.Metadata(),
        grpc.aio.Metadata(*status.trailing_metadata),
        details=status.details,
        debug_error_string="",
    )


def with_details(details: bytes, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        code,
        grpc.aio.Metadata(),
        grpc.aio.Metadata((DETAILS, details)),
        details="refused",
        debug_error_string="",
    )


def test_the_reason_and_context_reach_the_sdk_error() -> None:
    exc = FailedPrecondition(
        "run 'r1' is active", reason=Reason.RUN_ACTIVE, context={"run_id": "r1"}
    )
    status = rich_status(grpc.StatusCode.FAILED_PRECONDITION, str(exc), *reason_of(exc))

    error = from_rpc_error(as_received(status))

    assert isinstance(error, FailedPreconditionError)
    assert error.reason == Reason.RUN_ACTIVE
    assert error.metadata == {"run_id": "r1"}
    assert str(error) == "run 'r1' is active"


def test_the_details_are_a_standard_status_with_one_error_info() -> None:
    exc = NotFound("no run 'r'", reason=Reason.RUN_NOT_FOUND, context={"run_id": "r"})
    status = rich_status(grpc.StatusCode.NOT_FOUND, str(exc), *reason_of(exc))

    (key, value), *_ = status.trailing_metadata
    assert key == DETAILS and isinstance(value, bytes)
    decoded = status_pb2.Status.FromString(value)
    assert decoded.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert decoded.message == "no run 'r'"
    info = error_details_pb2.ErrorInfo()
    (detail,) = decoded.details
    assert detail.Unpack(info)
    assert (info.domain, info.reason, dict(info.metadata)) == (
        DOMAIN,
        "RUN_NOT_FOUND",
        {"run_id": "r"},
    )


def test_what_a_caller_sent_is_quoted_in_the_details_only_as_a_prefix() -> None:
    hostile = "x" * 50_000
    exc = NotFound(f"no run {hostile!r}", reason=Reason.RUN_NOT_FOUND, context={"run_id": hostile})
    status = rich_status(grpc.StatusCode.NOT_FOUND, str(exc), *reason_of(exc))

    (_, value), *_ = status.trailing_metadata
    assert isinstance(value, bytes)
    assert len(value) < MAX_MESSAGE_CHARS + MAX_CONTEXT_VALUE + 200
    assert len(status.details) <= MAX_MESSAGE_CHARS
    assert status_pb2.Status.FromString(value).message == status.details  # as from_call wants
    error = from_rpc_error(as_received(status))
    assert error.reason == Reason.RUN_NOT_FOUND
    assert error.metadata["run_id"] == "x" * MAX_CONTEXT_VALUE + "…"


def test_a_subclass_per_cause_carries_its_reason() -> None:
    exc = InvalidWorkflow("duplicate executor id 'a'")
    status = rich_status(grpc.StatusCode.INVALID_ARGUMENT, str(exc), *reason_of(exc))
    assert from_rpc_error(as_received(status)).reason == Reason.INVALID_WORKFLOW


def test_a_corrupt_blob_from_the_store_has_a_reason_too() -> None:
    exc = CorruptBlob("state blob abc does not match its hash")
    status = rich_status(grpc.StatusCode.DATA_LOSS, str(exc), *reason_of(exc))
    assert from_rpc_error(as_received(status)).reason == Reason.CORRUPT_STATE


def test_no_details_garbage_or_a_foreign_domain_mean_no_reason() -> None:
    plain = grpc.aio.AioRpcError(
        grpc.StatusCode.NOT_FOUND,
        grpc.aio.Metadata(),
        grpc.aio.Metadata(),
        details="gone",
        debug_error_string="",
    )
    assert isinstance(from_rpc_error(plain), NotFoundError)
    assert from_rpc_error(plain).reason == ""

    garbage = with_details(b"\xff\xfe not a status", grpc.StatusCode.NOT_FOUND)
    assert from_rpc_error(garbage).reason == ""

    foreign = status_pb2.Status(code=5, message="refused")
    foreign.details.add().Pack(error_details_pb2.ErrorInfo(reason="QUOTA", domain="example.com"))
    error = from_rpc_error(with_details(foreign.SerializeToString(), grpc.StatusCode.NOT_FOUND))
    assert (error.reason, error.metadata) == ("", {})


def test_run_failed_error_carries_the_runs_structured_error() -> None:
    run = runner_pb2.Run(
        run_id="r9",
        status=events_pb2.RUN_STATUS_FAILED,
        error=payload_pb2.ErrorInfo(
            type="ValueError", message="bad total", executor_id="sum", traceback="Traceback ..."
        ),
    )
    failed = RunFailedError(run)

    assert failed.run_id == "r9"
    assert failed.status == events_pb2.RUN_STATUS_FAILED
    assert failed.error.type == "ValueError"
    assert failed.error.message == "bad total"
    assert failed.error.executor_id == "sum"
    assert failed.error.traceback == "Traceback ..."
    assert str(failed) == "run r9 RUN_STATUS_FAILED in executor 'sum': ValueError: bad total"


def test_a_cancelled_run_without_an_error_still_reads_well() -> None:
    failed = RunFailedError(runner_pb2.Run(run_id="r", status=events_pb2.RUN_STATUS_CANCELLED))
    assert str(failed) == "run r RUN_STATUS_CANCELLED"
    assert failed.error.type == failed.error.executor_id == ""


def test_the_readme_documents_every_reason_and_no_other() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = re.findall(r"^\| `([A-Z_]+)` \| `[A-Z_]+` \|", readme, re.MULTILINE)
    assert sorted(documented) == sorted(r.value for r in Reason)
