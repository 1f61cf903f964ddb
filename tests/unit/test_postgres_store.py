"""What is particular to the PostgreSQL store: its schema version (in step
with SQLite's), databases it refuses, psycopg's failures as the runner's
errors, and one runner per database until runs are leased."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors
from psycopg_pool import PoolTimeout

from stepline_runner.errors import DataLoss, Reason, StoreFull, StoreUnavailable
from stepline_runner.store import schema
from stepline_runner.store.opening import StoreOpenError
from stepline_runner.store.ownership import DatabaseInUse
from stepline_runner.store.postgres import PostgresStore
from stepline_runner.store.postgres_failures import describe, reason, store_error, translated
from stepline_runner.store.postgres_schema import FIRST_VERSION, MIGRATIONS
from stepline_runner.store.schema import SchemaError
from tests.support.postgres import TemporaryPostgres
from tests.support.stores import execute, rows


def test_the_schema_version_is_sqlites_and_every_step_has_a_migration() -> None:
    # A bump of schema.SCHEMA_VERSION needs its PostgreSQL migration too.
    assert set(MIGRATIONS) == set(range(FIRST_VERSION, schema.SCHEMA_VERSION))


async def test_a_new_database_gets_the_schema_and_its_version(
    postgres_server: TemporaryPostgres,
) -> None:
    url = postgres_server.new_database()
    store = await PostgresStore.open(url)
    await store.close()
    again = await PostgresStore.open(url)  # an up-to-date database opens as it is
    await again.close()
    assert rows(url, "SELECT version FROM stepline_schema") == [(schema.SCHEMA_VERSION,)]


async def test_a_schema_from_the_future_is_refused(postgres_server: TemporaryPostgres) -> None:
    url = postgres_server.new_database()
    await (await PostgresStore.open(url)).close()
    execute(url, f"UPDATE stepline_schema SET version = {schema.SCHEMA_VERSION + 1}")

    with pytest.raises(SchemaError, match="newer than this runner's"):
        await PostgresStore.open(url)


async def test_a_database_of_something_else_is_refused_and_left_alone(
    postgres_server: TemporaryPostgres,
) -> None:
    url = postgres_server.new_database()
    execute(url, "CREATE TABLE invoices (id INTEGER)")

    with pytest.raises(SchemaError, match=r"not a Stepline database .*invoices"):
        await PostgresStore.open(url)
    assert rows(
        url, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
    ) == [(1,)]


async def test_one_runner_per_database_until_runs_are_leased(
    postgres_server: TemporaryPostgres,
) -> None:
    url = postgres_server.new_database()
    first = await PostgresStore.open(url)
    try:
        with pytest.raises(DatabaseInUse, match="another runner has postgresql://"):
            await PostgresStore.open(url)
    finally:
        await first.close()
    second = await PostgresStore.open(url)  # free again once the first closed
    await second.close()


def test_psycopg_failures_become_the_runners_errors() -> None:
    full = store_error(errors.lookup("53100")("could not extend file: No space left"))
    assert isinstance(full, StoreFull) and full.reason == Reason.STORE_FULL
    for state in ("57P01", "08006", "40P01", "53300", "25006"):
        failed = store_error(errors.lookup(state)("gone"))
        assert isinstance(failed, StoreUnavailable), state
        assert "try again shortly" in str(failed).lower()
    assert isinstance(store_error(psycopg.OperationalError("server closed")), StoreUnavailable)
    assert isinstance(store_error(PoolTimeout("no connection")), StoreUnavailable)
    damaged = store_error(errors.lookup("XX001")("invalid page in block 7"))
    assert isinstance(damaged, DataLoss) and damaged.reason == Reason.CORRUPT_STATE
    # The runner's own mistakes are not the store's failures.
    assert store_error(errors.lookup("42601")("syntax error")) is None
    assert store_error(errors.lookup("23505")("duplicate key")) is None
    assert len(str(store_error(psycopg.OperationalError("x" * 10_000)))) < 600


async def test_translated_raises_the_runners_error_from_psycopgs() -> None:
    cause = errors.lookup("57P01")("terminating connection due to administrator command")
    with pytest.raises(StoreUnavailable) as caught:
        async with translated():
            raise cause
    assert caught.value.__cause__ is cause
    with pytest.raises(errors.SyntaxError):
        async with translated():
            raise errors.lookup("42601")("a bug")


def test_messages_name_the_database_without_its_password() -> None:
    assert describe("postgresql://ann:s3cret@db.internal:6432/runs?sslmode=require") == (
        "postgresql://ann@db.internal:6432/runs"
    )
    assert "s3cret" not in describe("host=h password=s3cret dbname=d")
    quoting = psycopg.ProgrammingError('bad value "s3cret"')
    assert reason(quoting, "host=h password=s3cret") == 'bad value "..."'
    quoting = psycopg.ProgrammingError('bad value "s3 cret"')
    assert reason(quoting, "host=h password='s3 cret' port=x") == 'bad value "..."'


# libpq quotes the part of a URL it cannot decode: here the password.
UNPARSED = (
    "postgresql://ann:s3%zzcret@db.internal/runs",
    "postgresql://db.internal/runs?password=s3%zzcret",
)


@pytest.mark.parametrize("url", UNPARSED)
async def test_a_url_that_does_not_parse_is_refused_without_its_password(url: str) -> None:
    with pytest.raises(StoreOpenError) as refused:
        await PostgresStore.open(url)
    assert "not a PostgreSQL URL" in str(refused.value)
    assert "s3" not in str(refused.value) and "cret" not in str(refused.value)


async def test_a_schema_named_in_the_url_holds_the_store(
    postgres_server: TemporaryPostgres,
) -> None:
    url = postgres_server.new_database()
    execute(url, "CREATE SCHEMA stepline; CREATE TABLE public.invoices (id INTEGER)")

    joint = "&" if "?" in url else "?"
    store = await PostgresStore.open(f"{url}{joint}options=-csearch_path%3Dstepline")
    await store.close()

    tables = rows(
        url,
        "SELECT table_schema, count(*) FROM information_schema.tables"
        " WHERE table_schema IN ('public', 'stepline') GROUP BY table_schema",
    )
    assert dict(tables) == {"public": 1, "stepline": 11}
