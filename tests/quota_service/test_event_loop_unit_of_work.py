"""`Factory.run`: the hub endpoints' and pages' transactions on the event loop, on both
backends; the guard that keeps synchronous ones off the loop."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import QueuePool
from starlette.concurrency import run_in_threadpool

from dev.procs import free_port
from quota_service.app import create_app
from quota_service.config import Settings
from quota_service.db import (
    LOOP_GUARD_ENV,
    BlockingOnEventLoop,
    async_url,
    forbid_on_event_loop,
    unavailable,
    upgrade,
)
from quota_service.errors import DatabaseUnavailable, InvalidInput
from quota_service.factory import Factory, Services
from tests.support.databases import PG_ADMIN_URL, DatabaseFactory


async def test_run_commits_what_the_work_wrote(factory: Factory) -> None:
    try:
        created = await factory.run(lambda svc: svc.users.ensure("ada").username)
    finally:
        await factory.dispose_async()
    assert created == "ada"
    with factory.unit_of_work() as svc:
        user = svc.users.get("ada")
        assert [a.tier for a in svc.users.allocations(user)] == ["entry"]


async def test_run_rolls_back_when_the_work_fails(factory: Factory) -> None:
    def half_then_fail(svc: Services) -> None:
        svc.users.ensure("grace")
        svc.ctx.session.flush()
        raise InvalidInput("changed my mind")

    try:
        with pytest.raises(InvalidInput, match="changed my mind"):
            await factory.run(half_then_fail)
    finally:
        await factory.dispose_async()
    with factory.unit_of_work() as svc:
        assert svc.users.find("grace") is None


def test_async_url_picks_the_asyncio_driver_and_keeps_tls() -> None:
    pg = async_url("postgresql+psycopg://nexus:pw@db.example.org:5432/nexus?sslmode=require")
    assert pg.drivername == "postgresql+asyncpg"
    assert dict(pg.query) == {"ssl": "require"}
    assert (pg.username, pg.password, pg.host, pg.database) == (
        "nexus",
        "pw",
        "db.example.org",
        "nexus",
    )
    assert async_url("sqlite:///./state/quota.sqlite").drivername == "sqlite+aiosqlite"
    with pytest.raises(ValueError, match="unsupported database 'mysql'"):
        async_url("mysql://x@y/z")


async def test_an_unreachable_database_is_a_503_not_a_crash() -> None:
    closed_port = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere"
    factory = Factory(Settings(database_url=closed_port))
    try:
        with pytest.raises(DatabaseUnavailable) as err:
            await factory.run(lambda svc: svc.users.find("ada"))
    finally:
        await factory.dispose_async()
        factory.dispose()
    assert err.value.status_code == 503
    assert "try again" in err.value.detail


async def test_a_database_refusing_connections_is_a_503(databases: DatabaseFactory) -> None:
    """PostgreSQL at its connection limit (here a role's) answers 53300: "try again"."""
    url = make_url(databases.new("postgresql"))
    role = f"nexus_limited_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0')
    factory = Factory(Settings(database_url=url.set(username=role).render_as_string(False)))
    try:
        with pytest.raises(DatabaseUnavailable) as err:
            await factory.run(lambda svc: svc.users.find("ada"))
        # The sync engine's driver says the same thing its own way.
        with pytest.raises(OperationalError) as sync_err, factory.unit_of_work() as svc:
            svc.users.find("ada")
    finally:
        await factory.dispose_async()
        factory.dispose()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP ROLE "{role}"')
    assert err.value.status_code == 503
    assert "try again" in err.value.detail
    assert unavailable(sync_err.value)


async def test_no_free_connection_within_the_pool_timeout_is_a_503(
    databases: DatabaseFactory,
) -> None:
    settings = Settings(
        database_url=databases.new("postgresql"),
        db_pool_size=1,
        db_pool_overflow=0,
        db_pool_timeout_seconds=0.2,
    )
    factory = Factory(settings)
    try:
        async with factory.async_engine.connect() as held:
            await held.exec_driver_sql("SELECT 1")
            with pytest.raises(DatabaseUnavailable):
                await factory.run(lambda svc: svc.users.find("ada"))
        # Once the connection is back, the next request is served.
        assert await factory.run(lambda svc: svc.users.find("ada")) is None
    finally:
        await factory.dispose_async()
        factory.dispose()


def test_only_connection_failures_count_as_unavailable() -> None:
    assert unavailable(ConnectionRefusedError(111, "refused"))
    assert unavailable(PoolTimeout("QueuePool limit reached"))
    assert not unavailable(ValueError("a bug"))
    assert not unavailable(IntegrityError("INSERT", {}, Exception("duplicate key")))


async def test_the_loop_guard_refuses_a_synchronous_unit_of_work_on_the_loop(
    factory: Factory,
) -> None:
    """With the guard (the test stacks turn it on), a synchronous transaction on the event
    loop's thread raises instead of blocking the loop; `Factory.run` and the thread pool pass."""
    forbid_on_event_loop(factory.engine)
    try:
        refused = pytest.raises(BlockingOnEventLoop, match=r"factory\.run")
        with refused, factory.unit_of_work() as svc:
            svc.users.find("ada")
        pool = factory.engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.checkedout() == 0  # the refused connection went back
        assert await factory.run(lambda svc: svc.users.ensure("ada").username) == "ada"

        def in_a_thread() -> str | None:
            with factory.unit_of_work() as svc:
                user = svc.users.find("ada")
                return user.username if user else None

        assert await run_in_threadpool(in_a_thread) == "ada"
    finally:
        await factory.dispose_async()


async def test_the_app_installs_the_loop_guard_when_asked(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(db_url)
    for value, guarded in (("0", False), ("1", True)):
        monkeypatch.setenv(LOOP_GUARD_ENV, value)
        factory = Factory(Settings(database_url=db_url))
        try:
            create_app(factory.settings, factory=factory)
            if guarded:
                with pytest.raises(BlockingOnEventLoop), factory.unit_of_work() as svc:
                    svc.users.find("ada")
            else:
                with factory.unit_of_work() as svc:
                    assert svc.users.find("ada") is None
        finally:
            factory.dispose()
