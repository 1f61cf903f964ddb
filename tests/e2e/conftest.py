"""The default e2e cluster: a runner and two `stages` executor services, fresh
for each test. Modules that can share one override `cluster` with
`cluster_fixture(..., scope="module")`."""

from __future__ import annotations

from tests.support.cluster import cluster_fixture

cluster = cluster_fixture("stages", "stages")
