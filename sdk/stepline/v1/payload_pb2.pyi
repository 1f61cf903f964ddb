import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Payload(_message.Message):
    __slots__ = ("type_name", "content_type", "data")
    TYPE_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    type_name: str
    content_type: str
    data: bytes
    def __init__(self, type_name: _Optional[str] = ..., content_type: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class MessageBatch(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    def __init__(self, messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("source_id", "target_id", "payload", "delay", "deliver_at")
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    DELAY_FIELD_NUMBER: _ClassVar[int]
    DELIVER_AT_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    target_id: str
    payload: Payload
    delay: _duration_pb2.Duration
    deliver_at: _timestamp_pb2.Timestamp
    def __init__(self, source_id: _Optional[str] = ..., target_id: _Optional[str] = ..., payload: _Optional[_Union[Payload, _Mapping]] = ..., delay: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., deliver_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ErrorInfo(_message.Message):
    __slots__ = ("type", "message", "traceback", "executor_id", "non_retryable")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TRACEBACK_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    NON_RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    type: str
    message: str
    traceback: str
    executor_id: str
    non_retryable: bool
    def __init__(self, type: _Optional[str] = ..., message: _Optional[str] = ..., traceback: _Optional[str] = ..., executor_id: _Optional[str] = ..., non_retryable: _Optional[bool] = ...) -> None: ...

class InputRequest(_message.Message):
    __slots__ = ("request_id", "executor_id", "data", "response_type", "superstep")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_TYPE_FIELD_NUMBER: _ClassVar[int]
    SUPERSTEP_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    executor_id: str
    data: Payload
    response_type: str
    superstep: int
    def __init__(self, request_id: _Optional[str] = ..., executor_id: _Optional[str] = ..., data: _Optional[_Union[Payload, _Mapping]] = ..., response_type: _Optional[str] = ..., superstep: _Optional[int] = ...) -> None: ...

class InputResponse(_message.Message):
    __slots__ = ("request", "response")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    request: InputRequest
    response: Payload
    def __init__(self, request: _Optional[_Union[InputRequest, _Mapping]] = ..., response: _Optional[_Union[Payload, _Mapping]] = ...) -> None: ...

class SharedStateWrite(_message.Message):
    __slots__ = ("key", "value", "delete")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: Payload
    delete: bool
    def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Payload, _Mapping]] = ..., delete: _Optional[bool] = ...) -> None: ...
