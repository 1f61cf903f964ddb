import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from stepline.v1 import payload_pb2 as _payload_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RunStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_STATUS_UNSPECIFIED: _ClassVar[RunStatus]
    RUN_STATUS_RUNNING: _ClassVar[RunStatus]
    RUN_STATUS_RUNNING_WITH_PENDING_REQUESTS: _ClassVar[RunStatus]
    RUN_STATUS_IDLE_WITH_PENDING_REQUESTS: _ClassVar[RunStatus]
    RUN_STATUS_COMPLETED: _ClassVar[RunStatus]
    RUN_STATUS_FAILED: _ClassVar[RunStatus]
    RUN_STATUS_CANCELLED: _ClassVar[RunStatus]
    RUN_STATUS_QUEUED: _ClassVar[RunStatus]
    RUN_STATUS_WAITING_FOR_TIMERS: _ClassVar[RunStatus]

class EventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_KIND_UNSPECIFIED: _ClassVar[EventKind]
    EVENT_KIND_RUN_STARTED: _ClassVar[EventKind]
    EVENT_KIND_STATUS_CHANGED: _ClassVar[EventKind]
    EVENT_KIND_SUPERSTEP_STARTED: _ClassVar[EventKind]
    EVENT_KIND_SUPERSTEP_COMPLETED: _ClassVar[EventKind]
    EVENT_KIND_EXECUTOR_INVOKED: _ClassVar[EventKind]
    EVENT_KIND_EXECUTOR_COMPLETED: _ClassVar[EventKind]
    EVENT_KIND_EXECUTOR_FAILED: _ClassVar[EventKind]
    EVENT_KIND_OUTPUT: _ClassVar[EventKind]
    EVENT_KIND_REQUEST_INFO: _ClassVar[EventKind]
    EVENT_KIND_RUN_FAILED: _ClassVar[EventKind]
    EVENT_KIND_CUSTOM: _ClassVar[EventKind]
    EVENT_KIND_WARNING: _ClassVar[EventKind]
    EVENT_KIND_ROLLBACK: _ClassVar[EventKind]
    EVENT_KIND_RUN_RESUMED: _ClassVar[EventKind]
    EVENT_KIND_RESPONSE_RECEIVED: _ClassVar[EventKind]
    EVENT_KIND_RUN_MOVED: _ClassVar[EventKind]
    EVENT_KIND_RETRY_SCHEDULED: _ClassVar[EventKind]
RUN_STATUS_UNSPECIFIED: RunStatus
RUN_STATUS_RUNNING: RunStatus
RUN_STATUS_RUNNING_WITH_PENDING_REQUESTS: RunStatus
RUN_STATUS_IDLE_WITH_PENDING_REQUESTS: RunStatus
RUN_STATUS_COMPLETED: RunStatus
RUN_STATUS_FAILED: RunStatus
RUN_STATUS_CANCELLED: RunStatus
RUN_STATUS_QUEUED: RunStatus
RUN_STATUS_WAITING_FOR_TIMERS: RunStatus
EVENT_KIND_UNSPECIFIED: EventKind
EVENT_KIND_RUN_STARTED: EventKind
EVENT_KIND_STATUS_CHANGED: EventKind
EVENT_KIND_SUPERSTEP_STARTED: EventKind
EVENT_KIND_SUPERSTEP_COMPLETED: EventKind
EVENT_KIND_EXECUTOR_INVOKED: EventKind
EVENT_KIND_EXECUTOR_COMPLETED: EventKind
EVENT_KIND_EXECUTOR_FAILED: EventKind
EVENT_KIND_OUTPUT: EventKind
EVENT_KIND_REQUEST_INFO: EventKind
EVENT_KIND_RUN_FAILED: EventKind
EVENT_KIND_CUSTOM: EventKind
EVENT_KIND_WARNING: EventKind
EVENT_KIND_ROLLBACK: EventKind
EVENT_KIND_RUN_RESUMED: EventKind
EVENT_KIND_RESPONSE_RECEIVED: EventKind
EVENT_KIND_RUN_MOVED: EventKind
EVENT_KIND_RETRY_SCHEDULED: EventKind

class Event(_message.Message):
    __slots__ = ("run_id", "sequence", "kind", "time", "superstep", "executor_id", "status", "checkpoint_id", "data", "error", "request", "name", "message", "workflow_id", "workflow_version", "attempt", "due_time", "principal")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    SUPERSTEP_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_VERSION_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    DUE_TIME_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    sequence: int
    kind: EventKind
    time: _timestamp_pb2.Timestamp
    superstep: int
    executor_id: str
    status: RunStatus
    checkpoint_id: str
    data: _payload_pb2.Payload
    error: _payload_pb2.ErrorInfo
    request: _payload_pb2.InputRequest
    name: str
    message: str
    workflow_id: str
    workflow_version: int
    attempt: int
    due_time: _timestamp_pb2.Timestamp
    principal: str
    def __init__(self, run_id: _Optional[str] = ..., sequence: _Optional[int] = ..., kind: _Optional[_Union[EventKind, str]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., superstep: _Optional[int] = ..., executor_id: _Optional[str] = ..., status: _Optional[_Union[RunStatus, str]] = ..., checkpoint_id: _Optional[str] = ..., data: _Optional[_Union[_payload_pb2.Payload, _Mapping]] = ..., error: _Optional[_Union[_payload_pb2.ErrorInfo, _Mapping]] = ..., request: _Optional[_Union[_payload_pb2.InputRequest, _Mapping]] = ..., name: _Optional[str] = ..., message: _Optional[str] = ..., workflow_id: _Optional[str] = ..., workflow_version: _Optional[int] = ..., attempt: _Optional[int] = ..., due_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., principal: _Optional[str] = ...) -> None: ...
