"""A real PostgreSQL server for the tests: started once per test session.

`postgres_server` (session-scoped) is a `TemporaryPostgres`: the system's
`initdb`/`pg_ctl` (on PATH, or Debian's /usr/lib/postgresql/N/bin, which
scripts/test installs when missing) run a cluster in a temporary directory on
a free loopback port, stopped when the session ends. PostgreSQL refuses to run
as root, so as root the cluster belongs to an unprivileged user (created with
useradd when missing) and every command runs through runuser.

STEPLINE_TEST_POSTGRES_DSN=postgresql://... uses that server instead (its
role must be allowed to CREATE DATABASE): each test gets a database of its own
from `new_database()`, on either kind of server.

Benchmarks use `TemporaryPostgres` directly (`with TemporaryPostgres() as pg`).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from stepline.testing import free_port

DSN_VARIABLE = "STEPLINE_TEST_POSTGRES_DSN"
USER = "stepline-pg"  # the system user that owns a cluster started as root
ROLE = "stepline"  # the cluster's superuser
# Durability off: a test server's data need not survive a crash of the machine.
TEST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be had; the message says what to install."""


def find_binaries() -> Path:
    """The directory holding initdb and pg_ctl: PATH first, then Debian's
    versioned directories (the newest), where apt's postgresql package puts them."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if candidates:
        return Path(candidates[-1]).parent
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql: "
        "run scripts/test, which installs Debian's postgresql package, or set "
        f"{DSN_VARIABLE}=postgresql://... to a server where the role may CREATE DATABASE"
    )


class TemporaryPostgres:
    """A PostgreSQL cluster of its own (or the server `dsn` names); `with` it,
    or `start()`/`stop()`. `new_database()` gives each user a fresh database."""

    def __init__(self, dsn: str | None = None, settings: tuple[str, ...] = TEST_SETTINGS) -> None:
        self._external = dsn
        self._settings = settings
        self._dir: Path | None = None
        self._bin: Path | None = None
        self._names = itertools.count(1)
        self._options = ""
        self.dsn = dsn or ""

    def start(self) -> TemporaryPostgres:
        if self._external:
            return self
        self._bin = find_binaries()
        self._dir = Path(tempfile.mkdtemp(prefix="stepline-pg-"))
        owner = _cluster_user()
        if owner is not None:
            shutil.chown(self._dir, owner, owner)
        data = self._dir / "data"
        self._run(
            "initdb", "-D", str(data), "-U", ROLE, "--auth=trust", "-E", "UTF8",
            "--locale=C", "--no-sync",
        )  # fmt: skip
        for _ in range(5):  # a port taken between free_port() and the bind: another
            port = free_port()
            options = [f"-c listen_addresses=127.0.0.1 -p {port} -k {self._dir}"]
            self._options = " ".join(options + [f"-c {s}" for s in self._settings])
            try:
                self.resume()
            except PostgresUnavailable:
                continue
            self.dsn = make_conninfo(
                host="127.0.0.1", port=port, user=ROLE, dbname="postgres", connect_timeout=10
            )
            return self
        raise PostgresUnavailable(f"PostgreSQL would not start; its log:\n{self.log_tail()}")

    def halt(self) -> None:
        """Stop the server at once (as a crash would), keeping its data."""
        assert self._dir is not None, "not a server of its own"
        self._run("pg_ctl", "-D", str(self._dir / "data"), "-m", "immediate", "-w", "stop")

    def resume(self) -> None:
        """Start the server (again, after `halt`) on its port."""
        assert self._dir is not None, "not a server of its own"
        self._run(
            "pg_ctl", "-D", str(self._dir / "data"), "-l", str(self._dir / "server.log"), "-w",
            "-t", "60", "-o", self._options, "start",
        )  # fmt: skip

    def stop(self) -> None:
        if self._dir is None:
            return
        data = self._dir / "data"
        if (data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None

    def new_database(self, prefix: str = "t") -> str:
        """Create an empty database; its postgresql:// URL."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database `new_database` made, its connections with it."""
        name = url.rsplit("/", 1)[1].split("?")[0]
        with psycopg.connect(self.dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def url(self, name: str) -> str:
        """Database `name` on this server as a postgresql:// URL, as the
        runner's --store takes it (with any other parameters of the DSN)."""
        params = {k: str(v) for k, v in conninfo_to_dict(self.dsn).items() if v is not None}
        user = quote(params.pop("user", ""), safe="")
        password = params.pop("password", "")
        at = f"{user}:{quote(password, safe='')}@" if password else f"{user}@" if user else ""
        host = params.pop("host", "127.0.0.1")
        port = f":{params.pop('port')}" if "port" in params else ""
        params.pop("dbname", None)
        query = f"?{urlencode(params)}" if params else ""
        return f"postgresql://{at}{host}{port}/{name}{query}"

    def log_tail(self, lines: int = 20) -> str:
        if self._dir is None or not (self._dir / "server.log").exists():
            return "(no log)"
        return "\n".join((self._dir / "server.log").read_text().splitlines()[-lines:])

    def _run(self, tool: str, *args: str) -> None:
        assert self._bin is not None
        command = [str(self._bin / tool), *args]
        owner = _cluster_user()
        if owner is not None:
            command = ["runuser", "-u", owner, "--", *command]
        done = subprocess.run(
            command, cwd=self._dir, capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise PostgresUnavailable(
                f"{tool} failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-800:]}"
            )

    def __enter__(self) -> TemporaryPostgres:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _cluster_user() -> str | None:
    """The unprivileged user to run PostgreSQL as when we are root (created
    if missing); None when we are not root (it runs as us)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--shell",
             "/usr/sbin/nologin", USER],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
    return USER


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[TemporaryPostgres]:
    """One PostgreSQL server for the whole session (or the one the
    environment names); fails, naming what to install, when there is none."""
    try:
        server = TemporaryPostgres(os.environ.get(DSN_VARIABLE)).start()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()
