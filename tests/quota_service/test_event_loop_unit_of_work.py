"""`Factory.run`: the hub endpoints' transactions on the event loop, on both backends."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from dev.procs import free_port
from quota_service.config import Settings
from quota_service.db import async_url, unavailable
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
