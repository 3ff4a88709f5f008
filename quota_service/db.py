"""Engines, sessions and the schema-version check."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from . import names
from .config import PoolLimits
from .migrations.compat import TABLE as COMPAT_TABLE
from .migrations.compat import compat_table

MIGRATIONS = Path(__file__).parent / "migrations"


class StaleSchemaError(RuntimeError):
    """The database's schema does not serve this code (see `schema_state`)."""


def _sqlite_file(url: URL) -> dict[str, Any]:
    """Make the database file's directory; the driver options every SQLite engine uses."""
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    return {"connect_args": {"timeout": 30}}


def _sqlite_transactions(engine: Engine) -> None:
    """SQLite: foreign keys, WAL, and BEGIN IMMEDIATE so that concurrent writers serialise
    instead of failing on lock upgrade."""

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        # Let the driver not open transactions itself; "begin" below emits BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


DEFAULT_POOL = PoolLimits()


def _pool_options(kwargs: dict[str, Any], limits: PoolLimits) -> dict[str, Any]:
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", limits.size)
        kwargs.setdefault("max_overflow", limits.overflow)
        kwargs.setdefault("pool_timeout", limits.timeout_seconds)
        # No pre-ping: it costs a round trip on every request. A connection found dead
        # instead invalidates the whole pool, so after a database restart one request
        # gets a 503 ("try again") and the next ones reconnect.
        kwargs.setdefault("pool_recycle", 1800)
    return kwargs


# SQLSTATE classes of "cannot connect now": connection exceptions, insufficient resources
# (too many connections) and server starting or shutting down.
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P")


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot be reached or take a connection now (a 503,
    "try again"), whichever driver raised it and whether or not SQLAlchemy wrapped it."""
    if isinstance(exc, (OSError, PoolTimeout, OperationalError)):
        return True
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or (exc.orig is not None and unavailable(exc.orig))
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES)


def make_engine(url: str, *, pool: PoolLimits = DEFAULT_POOL, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, **_sqlite_file(parsed), **kwargs)
        _sqlite_transactions(engine)
        return engine
    return create_engine(url, **_pool_options(kwargs, pool))


# Set (to anything but "" or "0") in the test stacks: the served app's synchronous engine then
# refuses to work on the event loop's thread (see `forbid_on_event_loop`).
LOOP_GUARD_ENV = names.LOOP_GUARD_ENV


class BlockingOnEventLoop(RuntimeError):
    """A synchronous unit of work started on the thread running the event loop."""


def forbid_on_event_loop(engine: Engine) -> None:
    """Make `engine` refuse to hand out a connection on a thread running an asyncio event loop.

    A synchronous transaction there blocks the loop for every wait on the database (a lock
    wait stalls every spawn decision the worker serves). Request paths on the loop use
    `Factory.run` (the asyncio engine, which this does not touch); plain `def` handlers run
    in the thread pool, where no loop runs. The app installs this when `LOOP_GUARD_ENV` is
    set, as the test stacks do, so the suite finds any handler that gets it wrong."""

    @event.listens_for(engine, "checkout")
    def _refuse_on_loop(_dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop on this thread: a worker thread, the CLI, a job
        raise BlockingOnEventLoop(
            "a synchronous unit of work on the event loop's thread: use `await factory.run(...)`"
            " (or a plain `def` handler, which runs in the thread pool)"
        )


# Drivers for the request paths that run on the event loop (see Factory.run).
ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


def async_url(url: str) -> URL:
    """`url` for its asyncio driver. libpq's `sslmode` is asyncpg's `ssl` (same values)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in ASYNC_DRIVERS:
        raise ValueError(f"unsupported database {backend!r}; use sqlite or postgresql")
    parsed = parsed.set(drivername=ASYNC_DRIVERS[backend])
    if backend == "postgresql" and "sslmode" in parsed.query:
        query = dict(parsed.query)
        query["ssl"] = query.pop("sslmode")
        parsed = parsed.set(query=query)
    return parsed


def make_async_engine(url: str, *, pool: PoolLimits = DEFAULT_POOL, **kwargs: Any) -> AsyncEngine:
    """The same database through an asyncio driver: asyncpg for PostgreSQL (the hot path's
    driver: it parses results in C), aiosqlite for SQLite."""
    parsed = async_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(parsed, **_sqlite_file(parsed), **kwargs)
        _sqlite_transactions(engine.sync_engine)
        return engine
    return create_async_engine(parsed, **_pool_options(kwargs, pool))


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def check(url: str) -> None:
    """Raise if the models and the migrated database differ (alembic check)."""
    command.check(alembic_config(url))


@functools.cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


@functools.cache
def head_revision() -> str:
    heads = _script().get_heads()
    if len(heads) != 1:
        raise StaleSchemaError(f"migrations have {len(heads)} heads: {heads}; merge them")
    return heads[0]


@functools.cache
def known_revisions() -> frozenset[str]:
    """The code's head and every revision before it."""
    return frozenset(r.revision for r in _script().walk_revisions("base", head_revision()))


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@dataclass(frozen=True)
class SchemaState:
    """How the database's schema relates to this code's migrations.

    `current` and `compatible` (a newer schema whose migrations since this code's head were
    all expand: see migrations/compat.py) serve; `older`, `empty`, `incompatible` (a newer
    schema past a contract migration) and `unknown` (newer, with no compatibility record)
    do not."""

    status: str
    revision: str | None
    head: str
    detail: str

    @property
    def serves(self) -> bool:
        return self.status in ("current", "compatible")


def schema_state(engine: Engine) -> SchemaState:
    head = head_revision()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        if current == head:
            return SchemaState("current", current, head, f"schema at {head}")
        if current is None:
            return SchemaState(
                "empty",
                None,
                head,
                f"database schema is at nothing (empty database), the code needs {head}; "
                "run `nexus-quota db upgrade`",
            )
        if current in known_revisions():
            return SchemaState(
                "older",
                current,
                head,
                f"database schema is at {current}, older than the code's {head}; "
                "run `nexus-quota db upgrade`",
            )
        serves_from = None
        if inspect(conn).has_table(COMPAT_TABLE):
            serves_from = conn.execute(
                select(compat_table.c.serves_from).where(compat_table.c.revision == current)
            ).scalar()
    if serves_from is None:
        return SchemaState(
            "unknown",
            current,
            head,
            f"database schema is at {current}, which this code ({head}) does not know, and "
            f"{COMPAT_TABLE} does not say which code it serves",
        )
    if serves_from in known_revisions():
        return SchemaState(
            "compatible",
            current,
            head,
            f"schema at {current}, newer than the code's {head} and still serving code from "
            f"{serves_from} on (expand migrations only)",
        )
    return SchemaState(
        "incompatible",
        current,
        head,
        f"database schema is at {current}, which serves code from {serves_from} on (a "
        f"contract migration); this code is at {head}: deploy the newer release",
    )


def ensure_current(engine: Engine) -> str:
    """Refuse to run against a schema that does not serve this code: older than the code
    (or empty), or newer past a contract migration. A newer schema reached by expand
    migrations only is fine (old pods keep running through an upgrade)."""
    state = schema_state(engine)
    if not state.serves:
        raise StaleSchemaError(state.detail)
    return state.revision or state.head
