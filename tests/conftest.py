"""Fixtures every test directory may use: the session's PostgreSQL server, and
stores of both kinds (tests/support/postgres.py, tests/support/stores.py)."""

from tests.support.postgres import postgres_server
from tests.support.stores import store, store_location

__all__ = ["postgres_server", "store", "store_location"]
