"""Namespaces, and the keys that make a namespace's ids its own.

A caller names runs and workflows by the ids of its namespace; the runner
stores and drives them under a key unique across namespaces, so that run
"r1" of one namespace and run "r1" of another are two runs (and two distinct
`run_id`s for the executor services, whose state is per run). In "default"
the key is the id itself, which keeps every database written before
namespaces existed as it was. Elsewhere the key puts the namespace before
the id, joined by a character the id can never hold:

- run key: "<namespace>/<run id>" (run ids have no "/"), so request ids the
  runner derives from it ("<run key>:<superstep>:...") stay printable;
- workflow key: "<namespace> <workflow id>" (workflow ids have no space; "/"
  is allowed in them, so it could not tell "a/b" of default from "b" of a).

They live beside engine/ and store/: the engine makes keys, the store files
each row under the namespace its key names.
"""

from __future__ import annotations

import re

DEFAULT = "default"
# A DNS label, as Kubernetes namespaces: safe in keys, logs and file names.
NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
RUN_JOIN = "/"
WORKFLOW_JOIN = " "


def valid_namespace(name: str) -> bool:
    return NAME.fullmatch(name) is not None


def run_key(namespace: str, run_id: str) -> str:
    return run_id if namespace == DEFAULT else f"{namespace}{RUN_JOIN}{run_id}"


def workflow_key(namespace: str, workflow_id: str) -> str:
    return workflow_id if namespace == DEFAULT else f"{namespace}{WORKFLOW_JOIN}{workflow_id}"


def _split(key: str, join: str) -> tuple[str, str]:
    namespace, found, local = key.partition(join)
    return (namespace, local) if found else (DEFAULT, key)


def split_run_key(key: str) -> tuple[str, str]:
    """(namespace, run id) of a run key."""
    return _split(key, RUN_JOIN)


def split_workflow_key(key: str) -> tuple[str, str]:
    """(namespace, workflow id) of a workflow key."""
    return _split(key, WORKFLOW_JOIN)


def sibling_run_key(key: str, run_id: str) -> str:
    """The key of run `run_id` in the namespace of run key `key` (a fork's)."""
    return run_key(split_run_key(key)[0], run_id)
