"""Engines, sessions and the schema-version check."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from .config import PoolLimits

MIGRATIONS = Path(__file__).parent / "migrations"


class StaleSchemaError(RuntimeError):
    """The database is not at the migrations' head."""


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
def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    heads = script.get_heads()
    if len(heads) != 1:
        raise StaleSchemaError(f"migrations have {len(heads)} heads: {heads}; merge them")
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def ensure_current(engine: Engine) -> str:
    """Refuse to run against a database whose schema is not at head."""
    head = head_revision()
    current = current_revision(engine)
    if current != head:
        raise StaleSchemaError(
            f"database schema is at {current or 'nothing (empty database)'}, "
            f"the code needs {head}; run `nexus-quota db upgrade`"
        )
    return head
