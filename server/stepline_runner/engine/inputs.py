"""Which payload types an executor takes: the one rule, used when a run
starts (its input), when workflows register (edge types) and when messages
are routed."""

from __future__ import annotations

from collections.abc import Collection

ANY_TYPE = "*"


def accepts_type(input_types: Collection[str], type_name: str) -> bool:
    """Whether an executor that declared `input_types` (in Describe) takes a
    payload of `type_name`. One that declared none, or "*", takes any type."""
    return not input_types or ANY_TYPE in input_types or type_name in input_types


def accepts_any(input_types: Collection[str], type_names: Collection[str]) -> bool:
    """Whether it takes at least one of `type_names`; an empty `type_names`
    (the sender did not declare what it sends) could be anything."""
    return not type_names or any(accepts_type(input_types, t) for t in type_names)


def type_list(input_types: Collection[str]) -> str:
    return ", ".join(sorted(input_types))
