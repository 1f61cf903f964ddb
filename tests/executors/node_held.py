"""Start tests/executors/held.js (a Node service whose Session stream runs at
most 4 calls at once) in place of this process, as node_stages.py does."""

from __future__ import annotations

from pathlib import Path

from node_stages import exec_node  # type: ignore[import-not-found]

if __name__ == "__main__":
    exec_node(Path(__file__).with_name("held.js"))
