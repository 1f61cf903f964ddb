import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from stepline.v1 import payload_pb2 as _payload_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ("incarnation_id", "executor_types", "sdk", "features")
    INCARNATION_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_TYPES_FIELD_NUMBER: _ClassVar[int]
    SDK_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    incarnation_id: str
    executor_types: _containers.RepeatedCompositeFieldContainer[ExecutorType]
    sdk: str
    features: ExecutorFeatures
    def __init__(self, incarnation_id: _Optional[str] = ..., executor_types: _Optional[_Iterable[_Union[ExecutorType, _Mapping]]] = ..., sdk: _Optional[str] = ..., features: _Optional[_Union[ExecutorFeatures, _Mapping]] = ...) -> None: ...

class ExecutorFeatures(_message.Message):
    __slots__ = ("state_with_execute", "session", "session_end_run")
    STATE_WITH_EXECUTE_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    SESSION_END_RUN_FIELD_NUMBER: _ClassVar[int]
    state_with_execute: bool
    session: bool
    session_end_run: bool
    def __init__(self, state_with_execute: _Optional[bool] = ..., session: _Optional[bool] = ..., session_end_run: _Optional[bool] = ...) -> None: ...

class SessionRequest(_message.Message):
    __slots__ = ("call_id", "execute", "trace_context", "timeout", "end_run", "calls", "cancel")
    class TraceContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTE_FIELD_NUMBER: _ClassVar[int]
    TRACE_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    END_RUN_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    call_id: int
    execute: ExecuteRequest
    trace_context: _containers.ScalarMap[str, str]
    timeout: _duration_pb2.Duration
    end_run: _containers.RepeatedCompositeFieldContainer[EndRunRequest]
    calls: _containers.RepeatedCompositeFieldContainer[SessionRequest]
    cancel: bool
    def __init__(self, call_id: _Optional[int] = ..., execute: _Optional[_Union[ExecuteRequest, _Mapping]] = ..., trace_context: _Optional[_Mapping[str, str]] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., end_run: _Optional[_Iterable[_Union[EndRunRequest, _Mapping]]] = ..., calls: _Optional[_Iterable[_Union[SessionRequest, _Mapping]]] = ..., cancel: _Optional[bool] = ...) -> None: ...

class SessionReply(_message.Message):
    __slots__ = ("call_id", "execute", "code", "message", "reason", "end_run", "replies")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    END_RUN_FIELD_NUMBER: _ClassVar[int]
    REPLIES_FIELD_NUMBER: _ClassVar[int]
    call_id: int
    execute: ExecuteResponse
    code: int
    message: str
    reason: str
    end_run: EndRunResponse
    replies: _containers.RepeatedCompositeFieldContainer[SessionReply]
    def __init__(self, call_id: _Optional[int] = ..., execute: _Optional[_Union[ExecuteResponse, _Mapping]] = ..., code: _Optional[int] = ..., message: _Optional[str] = ..., reason: _Optional[str] = ..., end_run: _Optional[_Union[EndRunResponse, _Mapping]] = ..., replies: _Optional[_Iterable[_Union[SessionReply, _Mapping]]] = ...) -> None: ...

class ExecutorType(_message.Message):
    __slots__ = ("name", "input_types", "output_types", "yield_types", "response_types")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INPUT_TYPES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TYPES_FIELD_NUMBER: _ClassVar[int]
    YIELD_TYPES_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_TYPES_FIELD_NUMBER: _ClassVar[int]
    name: str
    input_types: _containers.RepeatedScalarFieldContainer[str]
    output_types: _containers.RepeatedScalarFieldContainer[str]
    yield_types: _containers.RepeatedScalarFieldContainer[str]
    response_types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., input_types: _Optional[_Iterable[str]] = ..., output_types: _Optional[_Iterable[str]] = ..., yield_types: _Optional[_Iterable[str]] = ..., response_types: _Optional[_Iterable[str]] = ...) -> None: ...

class ExecuteRequest(_message.Message):
    __slots__ = ("run_id", "executor_id", "executor_type", "superstep", "messages", "responses", "shared_state", "attempt", "epoch", "return_state", "known_state_hash")
    class SharedStateEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _payload_pb2.Payload
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_payload_pb2.Payload, _Mapping]] = ...) -> None: ...
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    SUPERSTEP_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    SHARED_STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    RETURN_STATE_FIELD_NUMBER: _ClassVar[int]
    KNOWN_STATE_HASH_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    executor_id: str
    executor_type: str
    superstep: int
    messages: _containers.RepeatedCompositeFieldContainer[_payload_pb2.Message]
    responses: _containers.RepeatedCompositeFieldContainer[_payload_pb2.InputResponse]
    shared_state: _containers.MessageMap[str, _payload_pb2.Payload]
    attempt: int
    epoch: int
    return_state: bool
    known_state_hash: str
    def __init__(self, run_id: _Optional[str] = ..., executor_id: _Optional[str] = ..., executor_type: _Optional[str] = ..., superstep: _Optional[int] = ..., messages: _Optional[_Iterable[_Union[_payload_pb2.Message, _Mapping]]] = ..., responses: _Optional[_Iterable[_Union[_payload_pb2.InputResponse, _Mapping]]] = ..., shared_state: _Optional[_Mapping[str, _payload_pb2.Payload]] = ..., attempt: _Optional[int] = ..., epoch: _Optional[int] = ..., return_state: _Optional[bool] = ..., known_state_hash: _Optional[str] = ...) -> None: ...

class ExecuteResponse(_message.Message):
    __slots__ = ("sent", "outputs", "events", "requests", "shared_state_writes", "error", "incarnation_id", "checkpoint")
    SENT_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    SHARED_STATE_WRITES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    INCARNATION_ID_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    sent: _containers.RepeatedCompositeFieldContainer[_payload_pb2.Message]
    outputs: _containers.RepeatedCompositeFieldContainer[_payload_pb2.Payload]
    events: _containers.RepeatedCompositeFieldContainer[CustomEvent]
    requests: _containers.RepeatedCompositeFieldContainer[_payload_pb2.InputRequest]
    shared_state_writes: _containers.RepeatedCompositeFieldContainer[_payload_pb2.SharedStateWrite]
    error: _payload_pb2.ErrorInfo
    incarnation_id: str
    checkpoint: SaveCheckpointResponse
    def __init__(self, sent: _Optional[_Iterable[_Union[_payload_pb2.Message, _Mapping]]] = ..., outputs: _Optional[_Iterable[_Union[_payload_pb2.Payload, _Mapping]]] = ..., events: _Optional[_Iterable[_Union[CustomEvent, _Mapping]]] = ..., requests: _Optional[_Iterable[_Union[_payload_pb2.InputRequest, _Mapping]]] = ..., shared_state_writes: _Optional[_Iterable[_Union[_payload_pb2.SharedStateWrite, _Mapping]]] = ..., error: _Optional[_Union[_payload_pb2.ErrorInfo, _Mapping]] = ..., incarnation_id: _Optional[str] = ..., checkpoint: _Optional[_Union[SaveCheckpointResponse, _Mapping]] = ...) -> None: ...

class CustomEvent(_message.Message):
    __slots__ = ("name", "data")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    name: str
    data: _payload_pb2.Payload
    def __init__(self, name: _Optional[str] = ..., data: _Optional[_Union[_payload_pb2.Payload, _Mapping]] = ...) -> None: ...

class SaveCheckpointRequest(_message.Message):
    __slots__ = ("run_id", "executor_id", "executor_type", "known_state_hash", "epoch")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    KNOWN_STATE_HASH_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    executor_id: str
    executor_type: str
    known_state_hash: str
    epoch: int
    def __init__(self, run_id: _Optional[str] = ..., executor_id: _Optional[str] = ..., executor_type: _Optional[str] = ..., known_state_hash: _Optional[str] = ..., epoch: _Optional[int] = ...) -> None: ...

class SaveCheckpointResponse(_message.Message):
    __slots__ = ("state", "unchanged", "incarnation_id")
    STATE_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    INCARNATION_ID_FIELD_NUMBER: _ClassVar[int]
    state: _payload_pb2.Payload
    unchanged: bool
    incarnation_id: str
    def __init__(self, state: _Optional[_Union[_payload_pb2.Payload, _Mapping]] = ..., unchanged: _Optional[bool] = ..., incarnation_id: _Optional[str] = ...) -> None: ...

class RestoreCheckpointRequest(_message.Message):
    __slots__ = ("run_id", "executor_id", "executor_type", "state", "epoch")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    executor_id: str
    executor_type: str
    state: _payload_pb2.Payload
    epoch: int
    def __init__(self, run_id: _Optional[str] = ..., executor_id: _Optional[str] = ..., executor_type: _Optional[str] = ..., state: _Optional[_Union[_payload_pb2.Payload, _Mapping]] = ..., epoch: _Optional[int] = ...) -> None: ...

class RestoreCheckpointResponse(_message.Message):
    __slots__ = ("incarnation_id",)
    INCARNATION_ID_FIELD_NUMBER: _ClassVar[int]
    incarnation_id: str
    def __init__(self, incarnation_id: _Optional[str] = ...) -> None: ...

class EndRunRequest(_message.Message):
    __slots__ = ("run_id", "epoch")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    epoch: int
    def __init__(self, run_id: _Optional[str] = ..., epoch: _Optional[int] = ...) -> None: ...

class EndRunResponse(_message.Message):
    __slots__ = ("released",)
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    released: int
    def __init__(self, released: _Optional[int] = ...) -> None: ...
