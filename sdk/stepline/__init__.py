"""Stepline's Python SDK: write executors, serve them, build workflows, drive runs."""

__version__ = "0.1.0"

from stepline.builder import WorkflowBuilder
from stepline.client import RunnerClient
from stepline.credentials import CredentialsError
from stepline.errors import (
    AlreadyExistsError,
    DataLossError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    Reason,
    ResourceExhaustedError,
    RunError,
    RunFailedError,
    SteplineError,
    UnauthenticatedError,
    UnavailableError,
)
from stepline.executor import Executor, WorkflowContext, handler, response_handler
from stepline.factories import ExecutorFactoryError
from stepline.lost_state import StateLossWarning
from stepline.results import OpenRequest, RunResult
from stepline.retry import NonRetryableError, RetryPolicy
from stepline.serve import run_executors, serve_executors
from stepline.service_security import ServiceSecurity

__all__ = [
    "AlreadyExistsError",
    "CredentialsError",
    "DataLossError",
    "Executor",
    "ExecutorFactoryError",
    "FailedPreconditionError",
    "InvalidArgumentError",
    "NonRetryableError",
    "NotFoundError",
    "OpenRequest",
    "PermissionDeniedError",
    "Reason",
    "ResourceExhaustedError",
    "RetryPolicy",
    "RunError",
    "RunFailedError",
    "RunResult",
    "RunnerClient",
    "ServiceSecurity",
    "StateLossWarning",
    "SteplineError",
    "UnauthenticatedError",
    "UnavailableError",
    "WorkflowBuilder",
    "WorkflowContext",
    "handler",
    "response_handler",
    "run_executors",
    "serve_executors",
]
