"""The whole pipeline through the services, on a real database (SQLite and PostgreSQL), real
files, moto's S3 server over HTTP and a real SMTP server: scan → plan → notify → execute →
restore, with an injected clock that walks through the notice lead times."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from quota_service.config import ArchiveSettings, Settings, SmtpSettings
from quota_service.errors import Conflict
from quota_service.factory import Factory
from quota_service.filesystem.notify import SmtpSender
from quota_service.jobs.purge import PurgeService
from quota_service.jobs.purge_common import StorageConfig
from quota_service.jobs.restore import restore_at_login, restore_if_archived
from quota_service.jobs.scan import StorageService
from quota_service.models.v1 import GrantIn
from quota_service.policy import default_policy_text, parse_policy
from quota_service.schema import AuditEvent, StorageUsageSnapshot, User, UserNotice
from quota_service.schema.purge_manifest import ManifestStatus, PurgeManifest
from tests.support.clock import FakeClock
from tests.support.s3 import S3Endpoint

from .conftest import Bucket, Inbox
from .trees import Layout, layout, put, snapshot

pytestmark = pytest.mark.integration


@pytest.fixture
def world(
    tmp_path: Path,
    db_url: str,
    bucket: Bucket,
    smtp_inbox: Inbox,
    s3_server: S3Endpoint,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Factory, FakeClock, Layout, PurgeService, StorageService]]:
    # The jobs build their own boto3 client from settings and the usual AWS_* variables.
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    lay = layout(tmp_path / "efs", ["alice", "bob"])
    # The files' ctimes are the real now; the platform's clock runs 30 days ahead of it.
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0) + timedelta(days=30))
    settings = Settings(
        database_url=db_url,
        storage_root=lay.homes,
        scratch_root=lay.scratch,
        archive=ArchiveSettings(
            bucket=bucket.name,
            prefix="archive/",
            storage_class="GLACIER_IR",
            endpoint_url=s3_server.url,
        ),
        smtp=SmtpSettings(host=smtp_inbox.host, port=smtp_inbox.port),
    )
    # Entry's home quota shrunk to ~100 KiB soft / ~150 KiB hard so a test file can exceed it.
    data = yaml.safe_load(default_policy_text())
    data["tiers"]["entry"]["home_quota_gib"] = {"soft": 0.0001, "hard": 0.00015}
    factory = Factory(settings, clock=clock, policy=parse_policy(data))
    config = StorageConfig.from_settings(settings, tmp_path / "state")
    sender = SmtpSender(smtp_inbox.host, smtp_inbox.port)
    purge = PurgeService(factory, config, sender=sender)
    try:
        yield factory, clock, lay, purge, StorageService(factory, config)
    finally:
        factory.dispose()


def test_scan_plan_notify_execute_restore(
    world: tuple[Factory, FakeClock, Layout, PurgeService, StorageService],
    smtp_inbox: Inbox,
    tmp_path: Path,
) -> None:
    factory, clock, lay, purge, storage = world
    with factory.unit_of_work() as svc:
        alice = svc.users.ensure("alice")
        alice.last_login_at = clock() - timedelta(days=200)  # Entry archives after 180 days
        bob = svc.users.ensure("bob", login=True)
        bob.email = "bob@uni.test"
    put(lay.home("alice") / "thesis" / "ch1.tex", b"alice" * 1000, age_days=300)
    put(lay.home("alice") / "-odd\nname", b"odd", age_days=300)
    os.symlink("thesis/ch1.tex", lay.home("alice") / "latest")
    put(lay.scr("alice") / "run1.fits", b"r" * 4000, age_days=60)
    put(lay.home("bob") / "big.bin", b"b" * 200_000)
    put(lay.scr("bob") / "old-a.dat", b"a", age_days=60)
    put(lay.scr("bob") / "old-b.dat", b"b", age_days=60)
    put(lay.scr("bob") / "fresh.dat", b"f", age_days=-29)
    put(lay.homes / "nobody" / "f", b"?")  # a directory with no user in the database

    # Scan: snapshots, quota flags, gauges.
    metrics = tmp_path / "metrics.prom"
    report = storage.scan(workers=2, metrics_file=metrics)
    assert report.errors == [] and report.unknown == ["nobody"]
    assert report.over_hard == ["bob"]
    with factory.unit_of_work() as svc:
        snaps = svc.ctx.session.scalar(select(func.count()).select_from(StorageUsageSnapshot))
        assert snaps == 2
    text = metrics.read_text()
    assert 'nexus_storage_over_quota{level="hard",user="bob"} 1.0' in text
    assert 'nexus_storage_used_bytes{area="home",user="alice"}' in text

    # Plan: alice's scratch and inactive home, bob's scratch (bob is not past his grace yet).
    plan = purge.plan()
    planned = {(m["user"], m["area"], m["reason"]) for m in plan.manifests if m["entries"]}
    assert planned == {
        ("alice", "scratch", "scratch-retention"),
        ("alice", "home", "home-inactive"),
        ("bob", "scratch", "scratch-retention"),
    }
    alice_home = snapshot(lay.home("alice"))
    # Planning again changes nothing: those manifests are pending.
    assert [m for m in purge.plan().manifests if m["entries"]] == []
    # What the user can see before anything happens.
    mine = purge.manifests_for("bob")
    entries = purge.manifest_entries("bob", mine[0]["id"])
    assert {e["path"] for e in entries} == {"old-a.dat", "old-b.dat"}
    assert {e["state"] for e in entries} == {"pending"}

    # No notice yet: execute does nothing, even with --yes.
    assert purge.execute(yes=True).manifests == []
    put(lay.scr("bob") / "old-b.dat", b"b", age_days=60)  # rewritten after the plan: kept later

    # Notify: one e-mail per manifest (lead 7), plus in-app notices.
    sent = purge.notify()
    assert sorted(m["lead_days"] for m in sent.manifests) == [7, 7, 7]
    assert len(smtp_inbox.messages) == 3
    assert {m["X-Envelope-To"] for m in smtp_inbox.messages} == {
        "alice@localhost",
        "bob@uni.test",
    }
    assert purge.notify().manifests == []  # nothing new is due the same day

    clock.advance(days=6, hours=1)
    assert purge.execute(yes=True).manifests == []  # not 7 days yet
    reminders = purge.notify()
    assert sorted(m["lead_days"] for m in reminders.manifests) == [1, 1, 1]
    assert len(smtp_inbox.messages) == 6

    clock.advance(days=1)
    dry = purge.execute()
    assert dry.dry_run and len(dry.manifests) == 3
    assert snapshot(lay.home("alice")) == alice_home
    done = purge.execute(yes=True)
    by = {(m["user"], m["manifest"]): m for m in done.manifests}
    assert not done.partial, done.as_dict()
    assert os.listdir(lay.home("alice")) == []
    assert os.listdir(lay.scr("alice")) == []
    assert sorted(os.listdir(lay.scr("bob"))) == ["fresh.dat", "old-b.dat"]
    assert sum(m["kept"] for m in by.values()) == 1
    assert (lay.home("bob") / "big.bin").exists()
    with factory.unit_of_work() as svc:
        s = svc.ctx.session
        statuses = set(s.scalars(select(PurgeManifest.status)))
        assert statuses == {ManifestStatus.done}
        actions = set(s.scalars(select(AuditEvent.action)))
        assert {"storage.scan", "storage.purge.plan", "storage.purge.notify"} <= actions
        assert "storage.purge.execute" in actions
        uid = s.scalar(select(User.id).where(User.username == "alice"))
        kinds = set(s.scalars(select(UserNotice.kind).where(UserNotice.user_id == uid)))
        assert "purge-warning" in kinds
    # A second execute finds nothing left to do.
    assert purge.execute(yes=True).manifests == []

    # Next login: the home comes back, exactly.
    notice = restore_at_login(factory, purge.config, "alice")
    assert notice is not None and "restored" in notice
    assert snapshot(lay.home("alice")) == alice_home
    assert restore_if_archived(factory, purge.config, "alice") is False
    # The manifest and journal copies sit beside the archived objects.
    keys = [
        o["Key"]
        for o in purge.archiver().client.list_objects_v2(
            Bucket=purge.config.archive.bucket, Prefix="archive/alice/"
        )["Contents"]
    ]
    assert any(k.endswith("/manifest.jsonl") for k in keys)
    assert any(k.endswith("/journal.jsonl") for k in keys)


def test_over_quota_past_grace_archives_least_recently_used_then_restores(
    world: tuple[Factory, FakeClock, Layout, PurgeService, StorageService],
) -> None:
    factory, clock, lay, purge, storage = world
    with factory.unit_of_work() as svc:
        svc.users.ensure("bob", login=True)
        # Research archives least recently used files; this quota is ~100 KiB soft.
        svc.allocations.grant(
            "admin",
            GrantIn(
                username="bob",
                tier="research",
                home_quota_soft_gib=0.0001,
                home_quota_hard_gib=0.001,
                reason="test",
            ),
        )
    home = lay.home("bob")
    for i in range(6):
        # 40 KiB each, f0 used longest ago; 240 KiB in all, about 140 KiB over the soft quota.
        p = put(home / "data" / f"f{i}.bin", bytes([i]) * 40_960)
        t = int((clock() - timedelta(days=100 - i)).timestamp() * 1e9)
        os.utime(p, ns=(t, t))
    before = snapshot(home)
    assert storage.scan(workers=1).over_soft == ["bob"]
    assert [m for m in purge.plan().manifests if m["entries"]] == []  # within the grace
    clock.advance(days=14)
    assert storage.scan(workers=1).over_soft == ["bob"]
    lru = [m for m in purge.plan().manifests if m["reason"] == "over-quota-lru"]
    assert len(lru) == 1
    planned = {
        e["path"] for e in purge.manifest_entries("bob", purge.manifests_for("bob")[0]["id"])
    }
    assert planned == {"data/f0.bin", "data/f1.bin", "data/f2.bin", "data/f3.bin"}
    purge.notify()
    clock.advance(days=7)
    purge.notify()
    done = purge.execute(yes=True)
    assert not done.partial, done.as_dict()
    assert sorted(os.listdir(home / "data")) == ["f4.bin", "f5.bin"]
    assert storage.scan(workers=1).over_soft == []
    # Over-quota archives do not come back by themselves at login, only when asked.
    assert restore_if_archived(factory, purge.config, "bob") is False
    restored = purge.restore("bob")
    assert restored.manifests[0]["files"] == 4
    assert snapshot(home) == before


def test_one_purge_step_at_a_time(
    world: tuple[Factory, FakeClock, Layout, PurgeService, StorageService],
) -> None:
    _factory, _clock, _lay, purge, _storage = world
    purge.config.state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(purge.config.state_dir / "purge.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another job is running
        with pytest.raises(Conflict):
            purge.plan()
        with pytest.raises(Conflict):
            purge.notify()
        with pytest.raises(Conflict):
            purge.execute(yes=True)
    finally:
        os.close(fd)
    assert purge.execute(yes=True).manifests == []
