"""A sharded purge plan: each shard plans only its users' areas into its own run, the shards
together plan each stale area once, and a shard run again plans nothing twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hub_config.userdirs import directory_name
from quota_service.config import Settings
from quota_service.factory import Factory
from quota_service.filesystem.shards import Shard, shard_of
from quota_service.jobs.purge import PurgeService
from quota_service.jobs.purge_common import StorageConfig
from quota_service.schema import User
from quota_service.schema.purge_manifest import PurgeManifest
from quota_service.schema.purge_run import PurgeRun
from tests.support.clock import FakeClock

from .trees import layout, put

PEOPLE = [f"user{i:02d}" for i in range(9)]


@pytest.fixture
def purge(tmp_path: Path, db_url: str) -> Iterator[tuple[Factory, PurgeService]]:
    lay = layout(tmp_path / "efs", PEOPLE)
    # The files' ctimes are the real now; the platform's clock runs 30 days ahead of it.
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0) + timedelta(days=30))
    settings = Settings(database_url=db_url, storage_root=lay.homes, scratch_root=lay.scratch)
    factory = Factory(settings, clock=clock)
    with factory.unit_of_work() as svc:
        for name in PEOPLE:
            svc.users.ensure(name, login=True)
    for name in PEOPLE:
        put(lay.scr(name) / "old.dat", b"o" * 100, age_days=60)
    try:
        yield factory, PurgeService(factory, StorageConfig.from_settings(settings, tmp_path / "s"))
    finally:
        factory.dispose()


def planned(factory: Factory) -> list[tuple[str, str, str]]:
    with factory.unit_of_work() as svc:
        rows = svc.ctx.session.execute(
            select(User.username, PurgeManifest.area, PurgeRun.run_id)
            .join(User, User.id == PurgeManifest.user_id)
            .join(PurgeRun, PurgeRun.id == PurgeManifest.run_id)
        ).all()
    return sorted((str(u), str(a), str(r)) for u, a, r in rows)


def test_three_plan_shards_plan_each_stale_area_once(
    purge: tuple[Factory, PurgeService],
) -> None:
    factory, service = purge
    assert len({shard_of(directory_name(p), 3) for p in PEOPLE}) == 3  # every shard has people
    for index in range(3):
        report = service.plan(shard=Shard(index, 3), run_id="plan-7")
        assert report.run_id == f"plan-7-s{index}"
        assert {m.user for m in report.manifests if m.entries} == {
            p for p in PEOPLE if shard_of(directory_name(p), 3) == index
        }
    rows = planned(factory)
    assert [(u, a) for u, a, _ in rows] == [(p, "scratch") for p in PEOPLE]
    for user, _, run in rows:
        assert run == f"plan-7-s{shard_of(directory_name(user), 3)}"

    again = service.plan(shard=Shard(1, 3), run_id="plan-7")  # a retried pod
    assert not [m for m in again.manifests if m.entries]
    assert planned(factory) == rows
