import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from stepline.v1 import events_pb2 as _events_pb2
from stepline.v1 import payload_pb2 as _payload_pb2
from stepline.v1 import workflow_pb2 as _workflow_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ScheduleOverlap(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCHEDULE_OVERLAP_UNSPECIFIED: _ClassVar[ScheduleOverlap]
    SCHEDULE_OVERLAP_SKIP: _ClassVar[ScheduleOverlap]
    SCHEDULE_OVERLAP_QUEUE: _ClassVar[ScheduleOverlap]
    SCHEDULE_OVERLAP_ALLOW: _ClassVar[ScheduleOverlap]

class ScheduleCatchUp(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCHEDULE_CATCH_UP_UNSPECIFIED: _ClassVar[ScheduleCatchUp]
    SCHEDULE_CATCH_UP_NONE: _ClassVar[ScheduleCatchUp]
    SCHEDULE_CATCH_UP_ONE: _ClassVar[ScheduleCatchUp]
SCHEDULE_OVERLAP_UNSPECIFIED: ScheduleOverlap
SCHEDULE_OVERLAP_SKIP: ScheduleOverlap
SCHEDULE_OVERLAP_QUEUE: ScheduleOverlap
SCHEDULE_OVERLAP_ALLOW: ScheduleOverlap
SCHEDULE_CATCH_UP_UNSPECIFIED: ScheduleCatchUp
SCHEDULE_CATCH_UP_NONE: ScheduleCatchUp
SCHEDULE_CATCH_UP_ONE: ScheduleCatchUp

class RegisterWorkflowRequest(_message.Message):
    __slots__ = ("workflow", "namespace")
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    workflow: _workflow_pb2.WorkflowDefinition
    namespace: str
    def __init__(self, workflow: _Optional[_Union[_workflow_pb2.WorkflowDefinition, _Mapping]] = ..., namespace: _Optional[str] = ...) -> None: ...

class RegisterWorkflowResponse(_message.Message):
    __slots__ = ("workflow_id", "graph_signature", "version")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    GRAPH_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    graph_signature: str
    version: int
    def __init__(self, workflow_id: _Optional[str] = ..., graph_signature: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetWorkflowRequest(_message.Message):
    __slots__ = ("workflow_id", "version", "namespace")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    version: int
    namespace: str
    def __init__(self, workflow_id: _Optional[str] = ..., version: _Optional[int] = ..., namespace: _Optional[str] = ...) -> None: ...

class GetWorkflowResponse(_message.Message):
    __slots__ = ("workflow", "graph_signature", "version")
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    GRAPH_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    workflow: _workflow_pb2.WorkflowDefinition
    graph_signature: str
    version: int
    def __init__(self, workflow: _Optional[_Union[_workflow_pb2.WorkflowDefinition, _Mapping]] = ..., graph_signature: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class ListWorkflowsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "namespace")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    namespace: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class WorkflowSummary(_message.Message):
    __slots__ = ("workflow_id", "graph_signature", "start_executor_id", "executor_count", "edge_count", "updated_at", "version")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    GRAPH_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    START_EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_COUNT_FIELD_NUMBER: _ClassVar[int]
    EDGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    graph_signature: str
    start_executor_id: str
    executor_count: int
    edge_count: int
    updated_at: _timestamp_pb2.Timestamp
    version: int
    def __init__(self, workflow_id: _Optional[str] = ..., graph_signature: _Optional[str] = ..., start_executor_id: _Optional[str] = ..., executor_count: _Optional[int] = ..., edge_count: _Optional[int] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[int] = ...) -> None: ...

class ListWorkflowsResponse(_message.Message):
    __slots__ = ("workflows", "next_page_token")
    WORKFLOWS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    workflows: _containers.RepeatedCompositeFieldContainer[WorkflowSummary]
    next_page_token: str
    def __init__(self, workflows: _Optional[_Iterable[_Union[WorkflowSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Run(_message.Message):
    __slots__ = ("run_id", "workflow_id", "status", "superstep", "latest_checkpoint_id", "parent_checkpoint_id", "parent_run_id", "error", "last_sequence", "created_at", "updated_at", "graph_signature", "checkpoint_policy", "workflow_version", "epoch")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SUPERSTEP_FIELD_NUMBER: _ClassVar[int]
    LATEST_CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    GRAPH_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_POLICY_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_VERSION_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    workflow_id: str
    status: _events_pb2.RunStatus
    superstep: int
    latest_checkpoint_id: str
    parent_checkpoint_id: str
    parent_run_id: str
    error: _payload_pb2.ErrorInfo
    last_sequence: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    graph_signature: str
    checkpoint_policy: _workflow_pb2.CheckpointPolicy
    workflow_version: int
    epoch: int
    def __init__(self, run_id: _Optional[str] = ..., workflow_id: _Optional[str] = ..., status: _Optional[_Union[_events_pb2.RunStatus, str]] = ..., superstep: _Optional[int] = ..., latest_checkpoint_id: _Optional[str] = ..., parent_checkpoint_id: _Optional[str] = ..., parent_run_id: _Optional[str] = ..., error: _Optional[_Union[_payload_pb2.ErrorInfo, _Mapping]] = ..., last_sequence: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., graph_signature: _Optional[str] = ..., checkpoint_policy: _Optional[_Union[_workflow_pb2.CheckpointPolicy, _Mapping]] = ..., workflow_version: _Optional[int] = ..., epoch: _Optional[int] = ...) -> None: ...

class StartRunRequest(_message.Message):
    __slots__ = ("workflow_id", "input", "run_id", "checkpoint_policy", "namespace")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_POLICY_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    input: _payload_pb2.Payload
    run_id: str
    checkpoint_policy: _workflow_pb2.CheckpointPolicy
    namespace: str
    def __init__(self, workflow_id: _Optional[str] = ..., input: _Optional[_Union[_payload_pb2.Payload, _Mapping]] = ..., run_id: _Optional[str] = ..., checkpoint_policy: _Optional[_Union[_workflow_pb2.CheckpointPolicy, _Mapping]] = ..., namespace: _Optional[str] = ...) -> None: ...

class StartRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("run_id", "namespace")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    namespace: str
    def __init__(self, run_id: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class GetRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("workflow_id", "page_size", "page_token", "statuses", "created_after", "created_before", "namespace")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AFTER_FIELD_NUMBER: _ClassVar[int]
    CREATED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    page_size: int
    page_token: str
    statuses: _containers.RepeatedScalarFieldContainer[_events_pb2.RunStatus]
    created_after: _timestamp_pb2.Timestamp
    created_before: _timestamp_pb2.Timestamp
    namespace: str
    def __init__(self, workflow_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., statuses: _Optional[_Iterable[_Union[_events_pb2.RunStatus, str]]] = ..., created_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., namespace: _Optional[str] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs", "next_page_token")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[Run]
    next_page_token: str
    def __init__(self, runs: _Optional[_Iterable[_Union[Run, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelRunRequest(_message.Message):
    __slots__ = ("run_id", "namespace")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    namespace: str
    def __init__(self, run_id: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class CancelRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class DeleteRunRequest(_message.Message):
    __slots__ = ("run_id", "namespace")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    namespace: str
    def __init__(self, run_id: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class DeleteRunResponse(_message.Message):
    __slots__ = ("checkpoints_removed", "events_removed", "blobs_removed")
    CHECKPOINTS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    EVENTS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    BLOBS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    checkpoints_removed: int
    events_removed: int
    blobs_removed: int
    def __init__(self, checkpoints_removed: _Optional[int] = ..., events_removed: _Optional[int] = ..., blobs_removed: _Optional[int] = ...) -> None: ...

class WatchRunRequest(_message.Message):
    __slots__ = ("run_id", "after_sequence", "kinds", "follow_after_end", "namespace")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_AFTER_END_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    after_sequence: int
    kinds: _containers.RepeatedScalarFieldContainer[_events_pb2.EventKind]
    follow_after_end: bool
    namespace: str
    def __init__(self, run_id: _Optional[str] = ..., after_sequence: _Optional[int] = ..., kinds: _Optional[_Iterable[_Union[_events_pb2.EventKind, str]]] = ..., follow_after_end: _Optional[bool] = ..., namespace: _Optional[str] = ...) -> None: ...

class WatchRunResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_events_pb2.Event]
    def __init__(self, events: _Optional[_Iterable[_Union[_events_pb2.Event, _Mapping]]] = ...) -> None: ...

class WatchRunsRequest(_message.Message):
    __slots__ = ("workflow_id", "kinds", "namespace")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    kinds: _containers.RepeatedScalarFieldContainer[_events_pb2.EventKind]
    namespace: str
    def __init__(self, workflow_id: _Optional[str] = ..., kinds: _Optional[_Iterable[_Union[_events_pb2.EventKind, str]]] = ..., namespace: _Optional[str] = ...) -> None: ...

class WatchRunsResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_events_pb2.Event]
    def __init__(self, events: _Optional[_Iterable[_Union[_events_pb2.Event, _Mapping]]] = ...) -> None: ...

class Checkpoint(_message.Message):
    __slots__ = ("checkpoint_id", "run_id", "superstep", "parent_checkpoint_id", "graph_signature", "created_at", "content")
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SUPERSTEP_FIELD_NUMBER: _ClassVar[int]
    PARENT_CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    GRAPH_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    checkpoint_id: str
    run_id: str
    superstep: int
    parent_checkpoint_id: str
    graph_signature: str
    created_at: _timestamp_pb2.Timestamp
    content: CheckpointContent
    def __init__(self, checkpoint_id: _Optional[str] = ..., run_id: _Optional[str] = ..., superstep: _Optional[int] = ..., parent_checkpoint_id: _Optional[str] = ..., graph_signature: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., content: _Optional[_Union[CheckpointContent, _Mapping]] = ...) -> None: ...

class CheckpointContent(_message.Message):
    __slots__ = ("executor_states", "pending_messages", "fan_in_buffers", "shared_state", "pending_requests", "pending_responses", "timers")
    class ExecutorStatesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _payload_pb2.Payload
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_payload_pb2.Payload, _Mapping]] = ...) -> None: ...
    class SharedStateEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _payload_pb2.Payload
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_payload_pb2.Payload, _Mapping]] = ...) -> None: ...
    EXECUTOR_STATES_FIELD_NUMBER: _ClassVar[int]
    PENDING_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    FAN_IN_BUFFERS_FIELD_NUMBER: _ClassVar[int]
    SHARED_STATE_FIELD_NUMBER: _ClassVar[int]
    PENDING_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    PENDING_RESPONSES_FIELD_NUMBER: _ClassVar[int]
    TIMERS_FIELD_NUMBER: _ClassVar[int]
    executor_states: _containers.MessageMap[str, _payload_pb2.Payload]
    pending_messages: _containers.RepeatedCompositeFieldContainer[_payload_pb2.Message]
    fan_in_buffers: _containers.RepeatedCompositeFieldContainer[FanInBuffer]
    shared_state: _containers.MessageMap[str, _payload_pb2.Payload]
    pending_requests: _containers.RepeatedCompositeFieldContainer[_payload_pb2.InputRequest]
    pending_responses: _containers.RepeatedCompositeFieldContainer[_payload_pb2.InputResponse]
    timers: _containers.RepeatedCompositeFieldContainer[_payload_pb2.Message]
    def __init__(self, executor_states: _Optional[_Mapping[str, _payload_pb2.Payload]] = ..., pending_messages: _Optional[_Iterable[_Union[_payload_pb2.Message, _Mapping]]] = ..., fan_in_buffers: _Optional[_Iterable[_Union[FanInBuffer, _Mapping]]] = ..., shared_state: _Optional[_Mapping[str, _payload_pb2.Payload]] = ..., pending_requests: _Optional[_Iterable[_Union[_payload_pb2.InputRequest, _Mapping]]] = ..., pending_responses: _Optional[_Iterable[_Union[_payload_pb2.InputResponse, _Mapping]]] = ..., timers: _Optional[_Iterable[_Union[_payload_pb2.Message, _Mapping]]] = ...) -> None: ...

class FanInBuffer(_message.Message):
    __slots__ = ("edge_index", "messages")
    EDGE_INDEX_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    edge_index: int
    messages: _containers.RepeatedCompositeFieldContainer[_payload_pb2.Message]
    def __init__(self, edge_index: _Optional[int] = ..., messages: _Optional[_Iterable[_Union[_payload_pb2.Message, _Mapping]]] = ...) -> None: ...

class ListCheckpointsRequest(_message.Message):
    __slots__ = ("run_id", "page_size", "page_token", "namespace")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    page_size: int
    page_token: str
    namespace: str
    def __init__(self, run_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class ListCheckpointsResponse(_message.Message):
    __slots__ = ("checkpoints", "next_page_token")
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    checkpoints: _containers.RepeatedCompositeFieldContainer[Checkpoint]
    next_page_token: str
    def __init__(self, checkpoints: _Optional[_Iterable[_Union[Checkpoint, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetCheckpointRequest(_message.Message):
    __slots__ = ("checkpoint_id", "include_content", "namespace")
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_CONTENT_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    checkpoint_id: str
    include_content: bool
    namespace: str
    def __init__(self, checkpoint_id: _Optional[str] = ..., include_content: _Optional[bool] = ..., namespace: _Optional[str] = ...) -> None: ...

class GetCheckpointResponse(_message.Message):
    __slots__ = ("checkpoint",)
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    checkpoint: Checkpoint
    def __init__(self, checkpoint: _Optional[_Union[Checkpoint, _Mapping]] = ...) -> None: ...

class DeleteCheckpointRequest(_message.Message):
    __slots__ = ("checkpoint_id", "namespace")
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    checkpoint_id: str
    namespace: str
    def __init__(self, checkpoint_id: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class DeleteCheckpointResponse(_message.Message):
    __slots__ = ("blobs_removed",)
    BLOBS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    blobs_removed: int
    def __init__(self, blobs_removed: _Optional[int] = ...) -> None: ...

class ResumeRunRequest(_message.Message):
    __slots__ = ("checkpoint_id", "fork", "new_run_id", "namespace")
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    FORK_FIELD_NUMBER: _ClassVar[int]
    NEW_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    checkpoint_id: str
    fork: bool
    new_run_id: str
    namespace: str
    def __init__(self, checkpoint_id: _Optional[str] = ..., fork: _Optional[bool] = ..., new_run_id: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class ResumeRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class SendResponsesRequest(_message.Message):
    __slots__ = ("run_id", "responses", "namespace")
    class ResponsesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _payload_pb2.Payload
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_payload_pb2.Payload, _Mapping]] = ...) -> None: ...
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    responses: _containers.MessageMap[str, _payload_pb2.Payload]
    namespace: str
    def __init__(self, run_id: _Optional[str] = ..., responses: _Optional[_Mapping[str, _payload_pb2.Payload]] = ..., namespace: _Optional[str] = ...) -> None: ...

class SendResponsesResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class ListPendingRequestsRequest(_message.Message):
    __slots__ = ("run_id", "namespace", "page_size", "page_token")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    namespace: str
    page_size: int
    page_token: str
    def __init__(self, run_id: _Optional[str] = ..., namespace: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPendingRequestsResponse(_message.Message):
    __slots__ = ("requests", "next_page_token")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[_payload_pb2.InputRequest]
    next_page_token: str
    def __init__(self, requests: _Optional[_Iterable[_Union[_payload_pb2.InputRequest, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class MoveRunsRequest(_message.Message):
    __slots__ = ("workflow_id", "to_version", "run_ids", "all_runs", "namespace")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    TO_VERSION_FIELD_NUMBER: _ClassVar[int]
    RUN_IDS_FIELD_NUMBER: _ClassVar[int]
    ALL_RUNS_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    to_version: int
    run_ids: _containers.RepeatedScalarFieldContainer[str]
    all_runs: bool
    namespace: str
    def __init__(self, workflow_id: _Optional[str] = ..., to_version: _Optional[int] = ..., run_ids: _Optional[_Iterable[str]] = ..., all_runs: _Optional[bool] = ..., namespace: _Optional[str] = ...) -> None: ...

class MoveRunsResponse(_message.Message):
    __slots__ = ("moved_run_ids", "skipped_run_ids")
    MOVED_RUN_IDS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_RUN_IDS_FIELD_NUMBER: _ClassVar[int]
    moved_run_ids: _containers.RepeatedScalarFieldContainer[str]
    skipped_run_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, moved_run_ids: _Optional[_Iterable[str]] = ..., skipped_run_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ScheduleSpec(_message.Message):
    __slots__ = ("schedule_id", "workflow_id", "cron", "interval", "time_zone", "jitter", "input", "overlap", "catch_up", "paused")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    CRON_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    JITTER_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_FIELD_NUMBER: _ClassVar[int]
    CATCH_UP_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    workflow_id: str
    cron: str
    interval: _duration_pb2.Duration
    time_zone: str
    jitter: _duration_pb2.Duration
    input: _payload_pb2.Payload
    overlap: ScheduleOverlap
    catch_up: ScheduleCatchUp
    paused: bool
    def __init__(self, schedule_id: _Optional[str] = ..., workflow_id: _Optional[str] = ..., cron: _Optional[str] = ..., interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., time_zone: _Optional[str] = ..., jitter: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., input: _Optional[_Union[_payload_pb2.Payload, _Mapping]] = ..., overlap: _Optional[_Union[ScheduleOverlap, str]] = ..., catch_up: _Optional[_Union[ScheduleCatchUp, str]] = ..., paused: _Optional[bool] = ...) -> None: ...

class Schedule(_message.Message):
    __slots__ = ("spec", "paused", "next_fire_time", "last_fire_time", "last_run_id", "waiting_fire_time", "runs_started", "fires_skipped", "last_skip_reason", "created_at", "updated_at", "principal")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    NEXT_FIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_FIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    RUNS_STARTED_FIELD_NUMBER: _ClassVar[int]
    FIRES_SKIPPED_FIELD_NUMBER: _ClassVar[int]
    LAST_SKIP_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    spec: ScheduleSpec
    paused: bool
    next_fire_time: _timestamp_pb2.Timestamp
    last_fire_time: _timestamp_pb2.Timestamp
    last_run_id: str
    waiting_fire_time: _timestamp_pb2.Timestamp
    runs_started: int
    fires_skipped: int
    last_skip_reason: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    principal: str
    def __init__(self, spec: _Optional[_Union[ScheduleSpec, _Mapping]] = ..., paused: _Optional[bool] = ..., next_fire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_fire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_run_id: _Optional[str] = ..., waiting_fire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., runs_started: _Optional[int] = ..., fires_skipped: _Optional[int] = ..., last_skip_reason: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., principal: _Optional[str] = ...) -> None: ...

class CreateScheduleRequest(_message.Message):
    __slots__ = ("schedule", "namespace")
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    schedule: ScheduleSpec
    namespace: str
    def __init__(self, schedule: _Optional[_Union[ScheduleSpec, _Mapping]] = ..., namespace: _Optional[str] = ...) -> None: ...

class CreateScheduleResponse(_message.Message):
    __slots__ = ("schedule",)
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    schedule: Schedule
    def __init__(self, schedule: _Optional[_Union[Schedule, _Mapping]] = ...) -> None: ...

class GetScheduleRequest(_message.Message):
    __slots__ = ("schedule_id", "namespace")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    namespace: str
    def __init__(self, schedule_id: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class GetScheduleResponse(_message.Message):
    __slots__ = ("schedule",)
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    schedule: Schedule
    def __init__(self, schedule: _Optional[_Union[Schedule, _Mapping]] = ...) -> None: ...

class ListSchedulesRequest(_message.Message):
    __slots__ = ("workflow_id", "page_size", "page_token", "namespace")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    page_size: int
    page_token: str
    namespace: str
    def __init__(self, workflow_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class ListSchedulesResponse(_message.Message):
    __slots__ = ("schedules", "next_page_token")
    SCHEDULES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    schedules: _containers.RepeatedCompositeFieldContainer[Schedule]
    next_page_token: str
    def __init__(self, schedules: _Optional[_Iterable[_Union[Schedule, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PauseScheduleRequest(_message.Message):
    __slots__ = ("schedule_id", "namespace")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    namespace: str
    def __init__(self, schedule_id: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class PauseScheduleResponse(_message.Message):
    __slots__ = ("schedule",)
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    schedule: Schedule
    def __init__(self, schedule: _Optional[_Union[Schedule, _Mapping]] = ...) -> None: ...

class ResumeScheduleRequest(_message.Message):
    __slots__ = ("schedule_id", "namespace")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    namespace: str
    def __init__(self, schedule_id: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class ResumeScheduleResponse(_message.Message):
    __slots__ = ("schedule",)
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    schedule: Schedule
    def __init__(self, schedule: _Optional[_Union[Schedule, _Mapping]] = ...) -> None: ...

class DeleteScheduleRequest(_message.Message):
    __slots__ = ("schedule_id", "namespace")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    namespace: str
    def __init__(self, schedule_id: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class DeleteScheduleResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
