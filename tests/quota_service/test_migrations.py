from __future__ import annotations

import pytest
from sqlalchemy import inspect

from quota_service import db
from quota_service.config import Settings
from tests.support.databases import DatabaseFactory


@pytest.mark.integration
def test_upgrade_head_then_alembic_check(databases: DatabaseFactory, backend: str) -> None:
    url = databases.empty(backend)
    db.upgrade(url)
    db.check(url)  # raises if models and migrations differ
    engine = db.make_engine(url)
    assert db.current_revision(engine) == db.head_revision()
    assert "allocations" in inspect(engine).get_table_names()
    engine.dispose()


@pytest.mark.integration
def test_app_refuses_stale_schema(databases: DatabaseFactory, backend: str) -> None:
    from quota_service.app import create_app

    url = databases.empty(backend)
    with pytest.raises(db.StaleSchemaError, match="nexus-quota db upgrade"):
        create_app(Settings(database_url=url))
