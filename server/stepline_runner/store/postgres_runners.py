"""The runners sharing a PostgreSQL database: who is alive, each one's fair
share of the running runs, and the duties one runner at a time does
(engine/leases.py says how a runner uses them).

A runner is alive while its row in `runners` is ahead of the server's clock;
it renews the row every heartbeat and deletes it when it stops cleanly (a
dead one's row runs out, and is forgotten a while later). A runner's fair
share is ceiling(running runs / live runners): a runner that holds more
hands a new run to the others (`hand_out`), and no runner claims more than
its share (`SPARE`, postgres_leases.claim_expired), so runs spread over the
live runners whichever one the clients call. A run left unclaimed longer
than a grace (a lease: three rounds of every runner) is anyone's
(`OVERDUE`): a runner that cannot take its share (`--max-runs`) never
leaves runs without a driver.

`duties` holds one row per duty (firing schedules, retention): the runner
holding it, until when. A runner takes a duty whose holder let its lease run
out; time fences it, not an epoch: a paused holder that wakes up can act once
more before it learns it lost the duty (engine/leases.py checks its own clock
first), which the duties tolerate (a schedule's run id derives from its fire
time; a run deleted twice is deleted once).
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from ..statuses import RUNNING

Connection = AsyncConnection[tuple[Any, ...]]

NOW = "extract(epoch from clock_timestamp())"
CHANNEL = "stepline_events"
# A dead runner's row is kept this long after it ran out (it says little).
FORGET_AFTER = 600.0
_RUNNING = sorted(RUNNING)

# Statements below take named parameters: owner (this runner), running (the
# running statuses).
_ACTIVE = "(SELECT count(*) FROM runs WHERE status = ANY(%(running)s))"
_LIVE = f"(SELECT greatest(count(*), 1) FROM runners WHERE alive_until > {NOW})"
_MINE = (
    "(SELECT count(*) FROM runs WHERE owner = %(owner)s AND status = ANY(%(running)s)"
    f" AND lease_until > {NOW})"
)
SHARE = f"ceil({_ACTIVE}::numeric / {_LIVE})"
# Running runs nobody claimed within the grace (named parameter `grace`).
_OVERDUE = (
    "(SELECT count(*) FROM runs WHERE status = ANY(%(running)s)"
    f" AND lease_until < {NOW} - %(grace)s)"
)
# How many more runs this runner may claim: its share's room, or the overdue ones.
SPARE = f"greatest(0, {SHARE} - {_MINE}, {_OVERDUE})"


def named(owner: str, **more: Any) -> dict[str, Any]:
    """The named parameters of the statements using SHARE and SPARE."""
    return {"owner": owner, "running": _RUNNING, **more}


async def heartbeat(db: Connection, owner: str, lease: float) -> None:
    """`owner` is alive for `lease` seconds more; forget runners long dead."""
    await db.execute(
        f"INSERT INTO runners VALUES (%s, {NOW} + %s)"
        " ON CONFLICT (runner_id) DO UPDATE SET alive_until = excluded.alive_until",
        (owner, lease),
    )
    await db.execute(f"DELETE FROM runners WHERE alive_until < {NOW} - %s", (FORGET_AFTER,))


async def leave(db: Connection, owner: str) -> None:
    """`owner` stops: no longer alive, its duties free at once."""
    await db.execute("DELETE FROM runners WHERE runner_id = %s", (owner,))
    await db.execute("DELETE FROM duties WHERE runner_id = %s", (owner,))


async def hand_out(db: Connection, owner: str, run_id: str) -> bool:
    """Give the run `owner` just created (and drives not yet) to whichever
    runner claims it first, when `owner` holds more than its fair share
    counting it; tell the others (a claim wakes them). True if given.

    The run goes back to epoch 0, with no owner and a lease that ends now:
    no runner ever drove it, and its first claim gives it epoch 1."""
    cursor = await db.execute(
        f"WITH given AS (UPDATE runs SET owner = '', lease_until = {NOW}, epoch = 0"
        " WHERE run_id = %(run_id)s AND owner = %(owner)s AND epoch = 1"
        f" AND {_MINE} > {SHARE} RETURNING run_id)"
        " SELECT pg_notify(%(channel)s, %(owner)s || ' 1 n ' || run_id) FROM given",
        named(owner, run_id=run_id, channel=CHANNEL),
    )
    return await cursor.fetchone() is not None


async def hold_duty(db: Connection, duty: str, owner: str, lease: float) -> bool:
    """Take or keep `duty` for `lease` seconds: True unless another runner
    holds it with a live lease."""
    cursor = await db.execute(
        f"INSERT INTO duties VALUES (%s, %s, {NOW} + %s) ON CONFLICT (duty) DO UPDATE"
        " SET runner_id = excluded.runner_id, lease_until = excluded.lease_until"
        f" WHERE duties.runner_id = excluded.runner_id OR duties.lease_until < {NOW}"
        " RETURNING 1",
        (duty, owner, lease),
    )
    return await cursor.fetchone() is not None
