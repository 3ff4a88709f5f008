"""Fresh, migrated databases for tests, on SQLite and on PostgreSQL at 127.0.0.1:5432.

Each backend is migrated once per session into a template; every test gets a copy, so tests
never share state and never pay for migrations again.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from quota_service import db

PG_ADMIN_URL = os.environ.get("NEXUS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgresql")


def _pg_url(name: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return base.replace("postgresql://", "postgresql+psycopg://", 1) + "/" + name


def _pg_exec(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


class DatabaseFactory:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.sqlite_template = tmp / "template.sqlite"
        self.pg_template = f"nexus_tmpl_{uuid.uuid4().hex[:10]}"
        self.created: list[str] = []
        self._ready: set[str] = set()

    def _prepare(self, backend: str) -> None:
        if backend in self._ready:
            return
        if backend == "sqlite":
            db.upgrade(f"sqlite:///{self.sqlite_template}")
        else:
            _pg_exec(f'CREATE DATABASE "{self.pg_template}"')
            db.upgrade(_pg_url(self.pg_template))
            db.make_engine(_pg_url(self.pg_template)).dispose()
        self._ready.add(backend)

    def new(self, backend: str) -> str:
        """A fresh database at the migrations' head; returns its SQLAlchemy URL."""
        self._prepare(backend)
        name = f"nexus_t_{uuid.uuid4().hex[:12]}"
        if backend == "sqlite":
            path = self.tmp / f"{name}.sqlite"
            shutil.copy(self.sqlite_template, path)
            return f"sqlite:///{path}"
        _pg_exec(f'CREATE DATABASE "{name}" TEMPLATE "{self.pg_template}"')
        self.created.append(name)
        return _pg_url(name)

    def empty(self, backend: str) -> str:
        """A database with no tables at all."""
        name = f"nexus_e_{uuid.uuid4().hex[:12]}"
        if backend == "sqlite":
            return f"sqlite:///{self.tmp / name}.sqlite"
        _pg_exec(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return _pg_url(name)

    def cleanup(self) -> None:
        for name in [*self.created, self.pg_template]:
            try:
                _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except psycopg.Error:
                pass


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("databases"))
    try:
        yield factory
    finally:
        factory.cleanup()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(databases: DatabaseFactory, backend: str) -> str:
    return databases.new(backend)
