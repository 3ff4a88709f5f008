from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import inspect, text

from quota_service import db
from quota_service.config import Settings
from quota_service.migrations import compat
from tests.support.databases import DatabaseFactory
from tests.support.migrations import NextRelease


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


# -- expand/contract (docs/upgrades.md) ---------------------------------------------------
MIGRATION_FILES = sorted((db.MIGRATIONS / "versions").glob("*.py"))
# Operations that take something away from code written for the revision before.
CONTRACTING = ("drop_column", "drop_table", "drop_index", "drop_constraint", "alter_column")
FIRST_RECORDED = "20261122_01_schema_compat"


def _module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _calls_in_upgrade(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    (upgrade,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"]
    return {
        node.func.attr
        for node in ast.walk(upgrade)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }


@pytest.mark.parametrize("path", MIGRATION_FILES, ids=lambda p: p.stem)
def test_every_migration_declares_its_kind_and_records_it(path: Path) -> None:
    module = _module(path)
    assert getattr(module, "schema_kind", None) in compat.KINDS, (
        f"{path.name}: set schema_kind = 'expand' or 'contract' (docs/upgrades.md)"
    )
    calls = _calls_in_upgrade(path)
    if module.revision >= FIRST_RECORDED:
        assert "record" in calls, f"{path.name}: upgrade() must end with compat.record(...)"
    if module.schema_kind == "expand":
        taken = sorted(calls & set(CONTRACTING))
        assert not taken, f"{path.name} is 'expand' but its upgrade() calls {taken}"


@pytest.mark.integration
def test_upgrade_records_what_each_schema_serves(databases: DatabaseFactory, backend: str) -> None:
    url = databases.new(backend)
    engine = db.make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT revision, kind, serves_from FROM schema_compat ORDER BY revision")
        ).all()
    engine.dispose()
    # The table's own migration is an expand of 20261121_02, which serves what it served.
    assert (FIRST_RECORDED, "expand", "20261121_02_storage") in [tuple(r) for r in rows]
    assert rows[-1][0] == db.head_revision()


@pytest.mark.integration
def test_schema_state_through_expand_and_contract(
    databases: DatabaseFactory, backend: str, tmp_path: Path
) -> None:
    url = databases.empty(backend)
    db.upgrade(url, "20261121_02_storage")
    engine = db.make_engine(url)
    try:
        older = db.schema_state(engine)
        assert (older.status, older.serves) == ("older", False)
        with pytest.raises(db.StaleSchemaError, match="older than the code's"):
            db.ensure_current(engine)

        db.upgrade(url)
        assert db.schema_state(engine).status == "current"

        later = NextRelease(tmp_path / "next")
        expand = later.add("expand", "op.add_column('users', sa.Column('pronouns', sa.Text()))")
        later.upgrade(url)
        state = db.schema_state(engine)
        assert (state.status, state.revision, state.serves) == ("compatible", expand, True)
        assert db.ensure_current(engine) == expand

        contract = later.add("contract", "op.drop_column('users', 'pronouns')")
        later.upgrade(url)
        state = db.schema_state(engine)
        assert (state.status, state.revision, state.serves) == ("incompatible", contract, False)
        assert f"serves code from {contract} on" in state.detail
        with pytest.raises(db.StaleSchemaError, match="deploy the newer release"):
            db.ensure_current(engine)
    finally:
        engine.dispose()


@pytest.mark.integration
def test_a_newer_revision_without_a_record_is_not_served(
    databases: DatabaseFactory, backend: str
) -> None:
    url = databases.new(backend)
    engine = db.make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'from_elsewhere'"))
        state = db.schema_state(engine)
        assert (state.status, state.serves) == ("unknown", False)
        assert "does not say which code it serves" in state.detail
    finally:
        engine.dispose()
