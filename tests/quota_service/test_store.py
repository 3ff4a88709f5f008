"""The shared statements of `quota_service/store/`, on SQLite and PostgreSQL, and the rule that
the store depends on nothing above it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from quota_service.factory import Factory
from quota_service.schema import StorageUsageSnapshot
from quota_service.services.storage_views import StorageViewService
from quota_service.store.snapshots import latest_snapshot
from tests.support.clock import FakeClock

ROOT = Path(__file__).parents[2]
STORE = ROOT / "quota_service" / "store"
# Inserted in this order, all measured at the same instant: the highest id is not the first
# or the last written, so an order that ignores ids is unlikely to pick it by chance.
TIED_IDS = (1005, 1009, 1002, 1007)


def _snapshot(snapshot_id: int, user_id: int, clock: FakeClock) -> StorageUsageSnapshot:
    return StorageUsageSnapshot(
        id=snapshot_id,
        user_id=user_id,
        measured_at=clock(),
        home_bytes=snapshot_id * 1000,  # tells the rows apart in every view
        home_files=1,
        scratch_bytes=0,
        scratch_files=0,
        newest_atime=None,
        newest_mtime=None,
        over_soft=False,
        over_hard=False,
    )


@pytest.mark.integration
def test_of_snapshots_measured_at_once_the_highest_id_is_the_newest(
    factory: Factory, clock: FakeClock
) -> None:
    with factory.unit_of_work() as svc:
        user = svc.users.ensure("tess")
        for snapshot_id in TIED_IDS:
            svc.ctx.session.add(_snapshot(snapshot_id, user.id, clock))
            svc.ctx.session.flush()
    newest = max(TIED_IDS)
    with factory.unit_of_work() as svc:
        user = svc.users.get("tess")
        found = latest_snapshot(svc.ctx.session, user.id)
        assert found is not None and found.id == newest
        # The same rule in every service that reads "the newest": the sign-in of a spawn,
        # the person's overview, the storage history and the admins' storage report.
        _, signed_in = svc.users.sign_in("tess")
        assert signed_in is not None and signed_in.id == newest
        assert svc.users.me("tess").storage.home_bytes == newest * 1000
        history = StorageViewService(svc.ctx).history(user)
        assert [p.home_bytes // 1000 for p in history] == sorted(TIED_IDS)
        summary = svc.reports.storage_summary()
        assert [t.home_bytes for t in summary.by_tier] == [newest * 1000]


def imported(path: Path) -> set[str]:
    """The modules a source file imports, relative imports resolved (TYPE_CHECKING ones too)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                found.add(".".join(p for p in (base, node.module) if p))
            else:
                found.add(node.module or "")
    return found


def test_the_store_imports_only_the_schema_and_sqlalchemy() -> None:
    """Layers: handlers → services/jobs → store → schema. The store's statements know tables,
    nothing above them."""
    allowed = ("sqlalchemy", "quota_service.schema", "quota_service.store")
    stdlib = ("__future__", "typing", "collections")
    modules = sorted(STORE.glob("*.py"))
    assert len(modules) >= 4
    for path in modules:
        for name in imported(path):
            assert name.startswith(allowed + stdlib), f"{path.name} imports {name}"


def test_services_import_no_layer_above_them() -> None:
    """Services take a `Caller`, not the web's identity, and jobs build on services, never
    the other way round."""
    above = ("jobs", "factory", "auth", "handlers", "web", "cli", "app", "edge")
    for path in sorted((ROOT / "quota_service" / "services").glob("*.py")):
        for name in imported(path):
            assert not name.startswith(tuple(f"quota_service.{a}" for a in above)), (
                f"services/{path.name} imports {name}"
            )
