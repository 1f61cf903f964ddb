import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WorkflowDefinition(_message.Message):
    __slots__ = ("workflow_id", "executors", "edges", "start_executor_id", "max_supersteps", "checkpoint_policy", "retention", "undeliverable", "default_retry_policy", "max_concurrent_runs")
    class Undeliverable(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNDELIVERABLE_UNSPECIFIED: _ClassVar[WorkflowDefinition.Undeliverable]
        FAIL: _ClassVar[WorkflowDefinition.Undeliverable]
        DROP_WITH_WARNING: _ClassVar[WorkflowDefinition.Undeliverable]
    UNDELIVERABLE_UNSPECIFIED: WorkflowDefinition.Undeliverable
    FAIL: WorkflowDefinition.Undeliverable
    DROP_WITH_WARNING: WorkflowDefinition.Undeliverable
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTORS_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    START_EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_SUPERSTEPS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_POLICY_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    UNDELIVERABLE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_RETRY_POLICY_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_RUNS_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    executors: _containers.RepeatedCompositeFieldContainer[ExecutorNode]
    edges: _containers.RepeatedCompositeFieldContainer[Edge]
    start_executor_id: str
    max_supersteps: int
    checkpoint_policy: CheckpointPolicy
    retention: RetentionPolicy
    undeliverable: WorkflowDefinition.Undeliverable
    default_retry_policy: RetryPolicy
    max_concurrent_runs: int
    def __init__(self, workflow_id: _Optional[str] = ..., executors: _Optional[_Iterable[_Union[ExecutorNode, _Mapping]]] = ..., edges: _Optional[_Iterable[_Union[Edge, _Mapping]]] = ..., start_executor_id: _Optional[str] = ..., max_supersteps: _Optional[int] = ..., checkpoint_policy: _Optional[_Union[CheckpointPolicy, _Mapping]] = ..., retention: _Optional[_Union[RetentionPolicy, _Mapping]] = ..., undeliverable: _Optional[_Union[WorkflowDefinition.Undeliverable, str]] = ..., default_retry_policy: _Optional[_Union[RetryPolicy, _Mapping]] = ..., max_concurrent_runs: _Optional[int] = ...) -> None: ...

class ExecutorNode(_message.Message):
    __slots__ = ("id", "endpoint", "type", "execute_timeout", "retry_policy", "max_concurrent_executes")
    ID_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    EXECUTE_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    RETRY_POLICY_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_EXECUTES_FIELD_NUMBER: _ClassVar[int]
    id: str
    endpoint: str
    type: str
    execute_timeout: _duration_pb2.Duration
    retry_policy: RetryPolicy
    max_concurrent_executes: int
    def __init__(self, id: _Optional[str] = ..., endpoint: _Optional[str] = ..., type: _Optional[str] = ..., execute_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., retry_policy: _Optional[_Union[RetryPolicy, _Mapping]] = ..., max_concurrent_executes: _Optional[int] = ...) -> None: ...

class RetryPolicy(_message.Message):
    __slots__ = ("max_attempts", "initial_backoff", "max_backoff", "backoff_multiplier", "retry_on", "never_retry")
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    INITIAL_BACKOFF_FIELD_NUMBER: _ClassVar[int]
    MAX_BACKOFF_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    RETRY_ON_FIELD_NUMBER: _ClassVar[int]
    NEVER_RETRY_FIELD_NUMBER: _ClassVar[int]
    max_attempts: int
    initial_backoff: _duration_pb2.Duration
    max_backoff: _duration_pb2.Duration
    backoff_multiplier: float
    retry_on: _containers.RepeatedScalarFieldContainer[str]
    never_retry: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, max_attempts: _Optional[int] = ..., initial_backoff: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_backoff: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., backoff_multiplier: _Optional[float] = ..., retry_on: _Optional[_Iterable[str]] = ..., never_retry: _Optional[_Iterable[str]] = ...) -> None: ...

class Edge(_message.Message):
    __slots__ = ("direct", "fan_out", "fan_in", "switch_case")
    DIRECT_FIELD_NUMBER: _ClassVar[int]
    FAN_OUT_FIELD_NUMBER: _ClassVar[int]
    FAN_IN_FIELD_NUMBER: _ClassVar[int]
    SWITCH_CASE_FIELD_NUMBER: _ClassVar[int]
    direct: DirectEdge
    fan_out: FanOutEdge
    fan_in: FanInEdge
    switch_case: SwitchCaseEdge
    def __init__(self, direct: _Optional[_Union[DirectEdge, _Mapping]] = ..., fan_out: _Optional[_Union[FanOutEdge, _Mapping]] = ..., fan_in: _Optional[_Union[FanInEdge, _Mapping]] = ..., switch_case: _Optional[_Union[SwitchCaseEdge, _Mapping]] = ...) -> None: ...

class DirectEdge(_message.Message):
    __slots__ = ("source_id", "target_id", "condition")
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    target_id: str
    condition: str
    def __init__(self, source_id: _Optional[str] = ..., target_id: _Optional[str] = ..., condition: _Optional[str] = ...) -> None: ...

class FanOutEdge(_message.Message):
    __slots__ = ("source_id", "target_ids", "selection")
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_IDS_FIELD_NUMBER: _ClassVar[int]
    SELECTION_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    target_ids: _containers.RepeatedScalarFieldContainer[str]
    selection: str
    def __init__(self, source_id: _Optional[str] = ..., target_ids: _Optional[_Iterable[str]] = ..., selection: _Optional[str] = ...) -> None: ...

class FanInEdge(_message.Message):
    __slots__ = ("source_ids", "target_id")
    SOURCE_IDS_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    source_ids: _containers.RepeatedScalarFieldContainer[str]
    target_id: str
    def __init__(self, source_ids: _Optional[_Iterable[str]] = ..., target_id: _Optional[str] = ...) -> None: ...

class SwitchCaseEdge(_message.Message):
    __slots__ = ("source_id", "cases", "default_target_id")
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    CASES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    cases: _containers.RepeatedCompositeFieldContainer[SwitchCase]
    default_target_id: str
    def __init__(self, source_id: _Optional[str] = ..., cases: _Optional[_Iterable[_Union[SwitchCase, _Mapping]]] = ..., default_target_id: _Optional[str] = ...) -> None: ...

class SwitchCase(_message.Message):
    __slots__ = ("condition", "target_id")
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    condition: str
    target_id: str
    def __init__(self, condition: _Optional[str] = ..., target_id: _Optional[str] = ...) -> None: ...

class CheckpointPolicy(_message.Message):
    __slots__ = ("mode", "every_n")
    class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        MODE_UNSPECIFIED: _ClassVar[CheckpointPolicy.Mode]
        MODE_EVERY_SUPERSTEP: _ClassVar[CheckpointPolicy.Mode]
        MODE_EVERY_N_SUPERSTEPS: _ClassVar[CheckpointPolicy.Mode]
        MODE_ON_PAUSE_OR_FINISH: _ClassVar[CheckpointPolicy.Mode]
    MODE_UNSPECIFIED: CheckpointPolicy.Mode
    MODE_EVERY_SUPERSTEP: CheckpointPolicy.Mode
    MODE_EVERY_N_SUPERSTEPS: CheckpointPolicy.Mode
    MODE_ON_PAUSE_OR_FINISH: CheckpointPolicy.Mode
    MODE_FIELD_NUMBER: _ClassVar[int]
    EVERY_N_FIELD_NUMBER: _ClassVar[int]
    mode: CheckpointPolicy.Mode
    every_n: int
    def __init__(self, mode: _Optional[_Union[CheckpointPolicy.Mode, str]] = ..., every_n: _Optional[int] = ...) -> None: ...

class RetentionPolicy(_message.Message):
    __slots__ = ("keep_last",)
    KEEP_LAST_FIELD_NUMBER: _ClassVar[int]
    keep_last: int
    def __init__(self, keep_last: _Optional[int] = ...) -> None: ...
