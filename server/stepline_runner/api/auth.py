"""Who calls, and what they may do: principals, roles per namespace, and the
one interceptor that authorises every RunnerService call, streams included.

The interceptor finds the caller (a bearer token, else a TLS client
certificate's subject), reads the namespace the request names, and checks
the role `REQUIRED_ROLE` asks for, all before the servicer runs: so a denial
never depends on what the namespace holds. The servicer then reads the caller
from `CALLER` (the namespace and the principal's name to record on events).

Order of refusals: UNAUTHENTICATED (no known credentials), INVALID_ARGUMENT
(a malformed namespace), PERMISSION_DENIED (no role, or too small a role, in
that namespace). Tokens are kept as SHA-256 digests and compared in constant
time against every principal's; no token is ever logged or echoed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any

import grpc

from stepline.interceptors import HandlerInterceptor
from stepline.reasons import Reason
from stepline.telemetry import MetricsAllow, MetricsRefusal
from stepline.v1 import runner_pb2

from ..engine.errors import InvalidArgument
from ..engine.scope import check_namespace
from .error_details import abort

ANY_NAMESPACE = "*"
OPEN_PREFIXES = ("/grpc.health.", "/grpc.reflection.")
SERVICE = runner_pb2.DESCRIPTOR.services_by_name["RunnerService"]
# gRPC caps all metadata at 8 KiB by default; a token is far shorter.
MAX_AUTHORIZATION = 4096


class Role(IntEnum):
    """Each role may do what the ones below it may."""

    READER = 1
    OPERATOR = 2
    ADMIN = 3


# The one table of what each RunnerService call needs. A call missing here is
# refused to everyone (tests/e2e/test_authorization_matrix.py fails for it).
REQUIRED_ROLE: Mapping[str, Role] = {
    "GetWorkflow": Role.READER,
    "ListWorkflows": Role.READER,
    "GetRun": Role.READER,
    "ListRuns": Role.READER,
    "WatchRun": Role.READER,
    "WatchRuns": Role.READER,
    "ListCheckpoints": Role.READER,
    "GetCheckpoint": Role.READER,
    "ListPendingRequests": Role.READER,
    "GetSchedule": Role.READER,
    "ListSchedules": Role.READER,
    "StartRun": Role.OPERATOR,
    "CancelRun": Role.OPERATOR,
    "DeleteRun": Role.OPERATOR,
    "ResumeRun": Role.OPERATOR,
    "SendResponses": Role.OPERATOR,
    "DeleteCheckpoint": Role.OPERATOR,
    "CreateSchedule": Role.OPERATOR,
    "PauseSchedule": Role.OPERATOR,
    "ResumeSchedule": Role.OPERATOR,
    "DeleteSchedule": Role.OPERATOR,
    "RegisterWorkflow": Role.ADMIN,
    "MoveRuns": Role.ADMIN,
}


@dataclass(frozen=True)
class Principal:
    """A caller the runner knows: its name (recorded on events) and its role
    per namespace ("*": every namespace)."""

    name: str
    roles: Mapping[str, Role]

    def role(self, namespace: str) -> Role | None:
        found = [r for r in (self.roles.get(namespace), self.roles.get(ANY_NAMESPACE)) if r]
        return max(found) if found else None


@dataclass(frozen=True)
class Caller:
    """Who makes the current call, and in which namespace (set by `Authorizer`)."""

    principal: str
    namespace: str


CALLER: ContextVar[Caller | None] = ContextVar("stepline_caller", default=None)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class AuthConfig:
    """The principals a runner knows. `anonymous` is who calls without
    credentials: everyone's admin when the runner has no auth at all."""

    tokens: tuple[tuple[bytes, Principal], ...] = ()
    subjects: Mapping[str, Principal] = field(default_factory=dict)
    anonymous: Principal | None = None

    @classmethod
    def open(cls) -> AuthConfig:
        """No authentication: any caller is admin of every namespace."""
        return cls(anonymous=Principal("", {ANY_NAMESPACE: Role.ADMIN}))

    @classmethod
    def single_token(cls, token: str, name: str = "token") -> AuthConfig:
        """`--auth-token-file`: one principal, admin of every namespace."""
        return cls(tokens=((token_digest(token), Principal(name, {ANY_NAMESPACE: Role.ADMIN})),))

    @property
    def needs_client_certificates(self) -> bool:
        return bool(self.subjects)


class Unauthenticated(Exception):
    """The call carries no credentials the runner knows (the message says which)."""


@dataclass(frozen=True)
class Carrier:
    """What carries the token, as a refusal names it: a gRPC call's metadata,
    or an HTTP request's header (the metrics endpoint)."""

    what: str
    example: str


METADATA = Carrier("'authorization' metadata", "'authorization: Bearer <token>' metadata")
HEADER = Carrier("'Authorization' header", "an 'Authorization: Bearer <token>' header")


def identify(
    config: AuthConfig,
    metadata: Sequence[tuple[str, str | bytes]],
    subjects: Sequence[bytes],
    carrier: Carrier = METADATA,
) -> Principal:
    """The principal of a call: its bearer token's, else its client certificate
    subject's, else the anonymous one; Unauthenticated when none, its message
    naming `carrier` (METADATA or HEADER) as what to send."""
    given = [v for k, v in metadata if k == "authorization"]
    if len(given) > 1:
        raise Unauthenticated(f"send one {carrier.what} entry, not several")
    if given:
        return _by_token(config, given[0], carrier)
    for subject in subjects:
        principal = config.subjects.get(subject.decode(errors="replace"))
        if principal is not None:
            return principal
    if subjects and config.subjects:
        raise Unauthenticated("the client certificate's subject names no principal of this runner")
    if config.anonymous is not None:
        return config.anonymous
    certificate = " (or a client certificate it knows)" if config.subjects else ""
    raise Unauthenticated(f"this runner needs a token{certificate}: send {carrier.example}")


def _by_token(config: AuthConfig, value: str | bytes, carrier: Carrier) -> Principal:
    text = value.decode(errors="replace") if isinstance(value, bytes) else value
    scheme, _, token = text.partition(" ")
    if len(text) > MAX_AUTHORIZATION or scheme.lower() != "bearer" or not token:
        raise Unauthenticated(f"the {carrier.what} must be 'Bearer <token>'")
    digest = token_digest(token)
    found = None
    # Every digest is compared, so the time taken says nothing of which matched.
    for expected, principal in config.tokens:
        if hmac.compare_digest(digest, expected):
            found = principal
    if found is None:
        raise Unauthenticated("the token sent names no principal of this runner")
    return found


def authorize(principal: Principal, method: str, namespace: str) -> Caller:
    """The caller of `method` in `namespace` (already checked), or PermissionError."""
    required = REQUIRED_ROLE.get(method)
    if required is None:
        raise PermissionError(f"{method} is not open to any role", "")
    role = principal.role(namespace)
    if role is None or role < required:
        has = f"is {role.name.lower()}" if role else "has no role"
        raise PermissionError(
            f"{method} needs the {required.name.lower()} role in namespace {namespace!r}; "
            f"principal {principal.name!r} {has} there",
            required.name.lower(),
        )
    return Caller(principal.name, namespace)


def may_start_runs(config: AuthConfig) -> Callable[[str, str], str]:
    """For the scheduler: whether the principal named may start runs in a
    namespace as StartRun is authorised ("" if so, else why not), so that a
    schedule's runs have its principal's rights, no more, as they are now.

    A name the configuration does not know ("" among them: a schedule
    created on a runner without auth) has the rights of a caller without
    credentials, as its creator would now: everything on an open runner,
    nothing under a configuration that names no anonymous principal."""
    known = [p for _, p in config.tokens] + list(config.subjects.values())
    by_name = {p.name: p for p in known}

    def check(name: str, namespace: str) -> str:
        principal = by_name.get(name, config.anonymous)
        if principal is None:
            who = (
                f"principal {name[:64]!r} is not in the runner's auth configuration"
                if name
                else "schedule names no principal (it was created on a runner without auth)"
            )
            return (
                f"the {who}, and callers without credentials may not start runs here; "
                "pause the schedule and resume it as a principal who may"
            )
        try:
            authorize(principal, "StartRun", namespace)
        except PermissionError as exc:
            return str(exc.args[0])
        return ""

    return check


def may_read_metrics(config: AuthConfig) -> MetricsAllow:
    """For the metrics endpoint: they cover every namespace, so only a
    principal with a role on "*" (reader or more) reads them, known by a
    bearer token or a client certificate's subject as a call's caller is."""

    def check(authorization: str | None, subject: str | None) -> MetricsRefusal | None:
        metadata = [("authorization", authorization)] if authorization is not None else []
        try:
            principal = identify(config, metadata, [subject.encode()] if subject else [], HEADER)
        except Unauthenticated as exc:
            return MetricsRefusal(401, str(exc))
        if principal.roles.get(ANY_NAMESPACE) is None:
            return MetricsRefusal(
                403,
                f"the metrics cover every namespace: principal {principal.name!r} needs a "
                "role on '*' in the runner's auth configuration",
            )
        return None

    return check


if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]
    Ctx = grpc.aio.ServicerContext[Any, Any]


# What a runner that follows another's database (`--follow`) serves: the reads
# but WatchRuns (engine/follower.py). Any other call is refused once authorised.
FOLLOWER_SERVES = frozenset(
    method for method, role in REQUIRED_ROLE.items() if role == Role.READER
) - {"WatchRuns"}


class Authorizer(HandlerInterceptor):
    """Authorises every RunnerService call before its servicer runs; health
    checks and reflection stay open, every other service is closed. With
    `followed` (the database, as messages show it) the runner follows it:
    an authorised call it does not serve is FAILED_PRECONDITION."""

    open_prefixes = OPEN_PREFIXES

    def __init__(self, config: AuthConfig, followed: str = "") -> None:
        self._config = config
        self._followed = followed

    def wrap(self, handler: Handler, details: grpc.HandlerCallDetails) -> Handler:
        service, _, method = details.method.lstrip("/").rpartition("/")
        if service != SERVICE.full_name:
            method = details.method  # never in REQUIRED_ROLE: refused
        metadata = tuple(details.invocation_metadata or ())
        return _guarded(
            handler, lambda request, context: self._check(metadata, method, request, context)
        )

    async def _check(
        self, metadata: Sequence[tuple[str, str | bytes]], method: str, request: Any, context: Ctx
    ) -> Caller:
        subjects = (
            list(context.auth_context().get("x509_subject", ())) if self._config.subjects else []
        )
        try:
            principal = identify(self._config, metadata, subjects)
        except Unauthenticated as exc:
            await abort(
                context, grpc.StatusCode.UNAUTHENTICATED, str(exc), Reason.CREDENTIALS_REQUIRED
            )
        try:
            namespace = check_namespace(str(getattr(request, "namespace", "")))
        except InvalidArgument as exc:
            await abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, str(exc), exc.reason, exc.context
            )
        try:
            caller = authorize(principal, method, namespace)
        except PermissionError as exc:
            message, required = exc.args
            ids = {"namespace": namespace, "required_role": required}
            await abort(
                context, grpc.StatusCode.PERMISSION_DENIED, message, Reason.ROLE_REQUIRED, ids
            )
        if self._followed and method not in FOLLOWER_SERVES:
            await abort(
                context,
                grpc.StatusCode.FAILED_PRECONDITION,
                not_served(self._followed, method),
                Reason.READ_ONLY,
            )
        return caller


def not_served(followed: str, method: str) -> str:
    """Why a runner that follows `followed` refuses `method`."""
    if method == "WatchRuns":
        return (
            f"this runner follows {followed} (--follow) and cannot watch all runs: "
            "call WatchRuns on the runner that owns the file"
        )
    return (
        f"this runner follows {followed} read-only (--follow): {method} would change it; "
        "call the runner that owns the file"
    )


Check = Callable[[Any, "Ctx"], Awaitable[Caller]]


def _guarded(handler: Handler, check: Check) -> Handler:
    """The handler, run only once `check` passed, with `CALLER` set."""
    serializers = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_stream is not None:
        inner_stream: Any = handler.unary_stream

        async def stream(request: Any, context: Ctx) -> AsyncIterator[Any]:
            # Each call runs in a task of its own, so this is the call's alone
            # (a generator may be closed from another context: no reset).
            CALLER.set(await check(request, context))
            async for response in inner_stream(request, context):
                yield response

        return grpc.unary_stream_rpc_method_handler(stream, **serializers)
    if handler.unary_unary is not None:
        inner: Any = handler.unary_unary

        async def unary(request: Any, context: Ctx) -> Any:
            token = CALLER.set(await check(request, context))
            try:
                return await inner(request, context)
            finally:
                CALLER.reset(token)

        return grpc.unary_unary_rpc_method_handler(unary, **serializers)

    async def closed(request: Any, context: Ctx) -> Any:
        await check(request, context)  # no streaming-request call is in the table

    return grpc.unary_unary_rpc_method_handler(closed, **serializers)
