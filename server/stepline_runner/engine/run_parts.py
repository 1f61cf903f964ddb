"""`RunParts`: what the runner's calls on a stored run act through (the
store, the supervisor of the runs driven here, the workflows, the run log),
handed to each as one group; a call's own extra parts are its fields."""

from __future__ import annotations

from dataclasses import dataclass

from ..store import Store
from .registry import WorkflowRegistry
from .runlog import RunLog
from .supervisor import Supervisor


@dataclass(eq=False)
class RunParts:
    store: Store
    runs: Supervisor
    workflows: WorkflowRegistry
    log: RunLog
