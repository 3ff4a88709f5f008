"""Removing a consortium, and leaving one, on real files with real owners, a real database
(SQLite and PostgreSQL), moto's S3 server over HTTP and a real SMTP server: nobody's files go
at once; the team folder is planned, announced to the leads and members, archived to S3 after
the grace and emptied, through the purge pipeline's plan -> notify -> execute."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hub_config.userdirs import directory_name
from quota_service.config import ArchiveSettings, Settings, SmtpSettings, TeamSettings
from quota_service.errors import Conflict, NotFound
from quota_service.factory import Factory
from quota_service.filesystem.notify import SmtpSender
from quota_service.jobs.purge import PurgeService
from quota_service.jobs.purge_common import StorageConfig
from quota_service.models.v1 import SpawnAllowed, SpawnDenied
from quota_service.schema import AuditEvent, User, UserNotice
from quota_service.schema.team_archive import TeamArchive
from quota_service.services.base import Actor
from quota_service.services.team_lifecycle import ConsortiumRemovalService
from tests.support.clock import FakeClock
from tests.support.s3 import S3Endpoint

from .conftest import Bucket, Inbox
from .trees import Layout, layout, put, snapshot

pytestmark = pytest.mark.integration
ADMIN = Actor("admin", is_admin=True)


@dataclass
class World:
    factory: Factory
    clock: FakeClock
    lay: Layout
    purge: PurgeService
    bucket: Bucket
    cid: int
    folder: Path
    gid: int
    uid: dict[str, int]
    sub: dict[str, int]


@pytest.fixture
def world(
    tmp_path: Path,
    db_url: str,
    bucket: Bucket,
    smtp_inbox: Inbox,
    s3_server: S3Endpoint,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    lay = layout(tmp_path / "efs", ["alice", "bob", "carol"])
    teams_root = tmp_path / "efs" / "teams"
    teams_root.mkdir()
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    settings = Settings(
        database_url=db_url,
        storage_root=lay.homes,
        scratch_root=lay.scratch,
        teams=TeamSettings(root=teams_root),
        archive=ArchiveSettings(
            bucket=bucket.name,
            prefix="archive/",
            storage_class="GLACIER_IR",
            endpoint_url=s3_server.url,
        ),
        smtp=SmtpSettings(host=smtp_inbox.host, port=smtp_inbox.port),
    )
    factory = Factory(settings, clock=clock)
    config = StorageConfig.from_settings(settings, tmp_path / "state")
    purge = PurgeService(factory, config, sender=SmtpSender(smtp_inbox.host, smtp_inbox.port))
    try:
        with factory.unit_of_work() as svc:
            view = svc.consortia.create(
                "admin",
                name="Lab A",
                proposal_ref=None,
                cpu_hours=1000,
                home_quota_soft_gib=10,
                home_quota_hard_gib=20,
                term_days=365,
                leads=["alice"],
                reason="test",
            )
            for name in ("bob", "carol"):
                svc.consortia.add_member(ADMIN, view.id, name, "member", 100)
            uid, sub = {}, {}
            for m in svc.consortia.view(ADMIN, view.id).members:
                user = svc.users.get(m.username)
                user.email = f"{m.username}@uni.test"
                uid[m.username] = svc.teams.uid_of(user)
                sub[m.username] = int(m.sub_allocation_id or 0)
            team_dir, gid = svc.teams.identity(svc.consortia._get(view.id))
        yield World(
            factory, clock, lay, purge, bucket, view.id, teams_root / team_dir, gid, uid, sub
        )
    finally:
        factory.dispose()


def owned(path: Path, uid: int, gid: int, data: bytes | None = None) -> Path:
    if data is None:
        path.mkdir(parents=True, exist_ok=True)
    else:
        put(path, data, age_days=3)
    os.chown(path, uid, gid, follow_symlinks=False)
    return path


def spawn(w: World, username: str, allocation_id: int | None = None) -> SpawnAllowed | SpawnDenied:
    with w.factory.unit_of_work() as svc:
        return svc.spawn.decide(username, "", "small", allocation_id=allocation_id)


def team_dirs(decision: SpawnAllowed | SpawnDenied) -> list[str]:
    assert isinstance(decision, SpawnAllowed), decision
    return [t.team_dir for t in decision.teams]


def test_leaving_keeps_files_and_ends_access_from_the_next_start(world: World) -> None:
    w = world
    owned(w.folder / "carol-notes.txt", w.uid["carol"], w.gid, b"carol's notes")
    put(w.lay.home("carol") / "thesis.tex", b"carol" * 100)
    home_before = snapshot(w.lay.home("carol"))
    assert team_dirs(spawn(w, "carol")) == [w.folder.name]
    with w.factory.unit_of_work() as svc:
        svc.consortia.remove_member(Actor("alice"), w.cid, "carol")
    # Her next start no longer has the team; nothing of hers was deleted or moved.
    assert team_dirs(spawn(w, "carol")) == []
    assert (w.folder / "carol-notes.txt").read_bytes() == b"carol's notes"
    assert os.stat(w.folder / "carol-notes.txt").st_uid == w.uid["carol"]
    assert snapshot(w.lay.home("carol")) == home_before


def test_removal_archives_the_team_folder_through_the_purge_pipeline(
    world: World, smtp_inbox: Inbox
) -> None:
    w = world
    owned(w.folder / "shared", w.uid["alice"], w.gid)
    owned(w.folder / "shared" / "catalog.fits", w.uid["alice"], w.gid, b"A" * 5000)
    owned(w.folder / "bob.ipynb", w.uid["bob"], w.gid, b'{"cells": []}')
    os.symlink("shared/catalog.fits", w.folder / "latest")
    put(w.lay.home("bob") / "mine.txt", b"bob's own")
    homes_before = {u: snapshot(w.lay.home(u)) for u in ("alice", "bob")}
    assert team_dirs(spawn(w, "bob")) == [w.folder.name]

    # An admin removes it: allocations revoked, access gone from the next start, files kept.
    with w.factory.unit_of_work() as svc:
        view = ConsortiumRemovalService(svc.ctx).remove("admin", w.cid, "proposal ended early")
    assert view.removed_at is not None and view.members == []
    assert view.pool.status == "revoked"
    assert team_dirs(spawn(w, "bob")) == []  # an Entry start: no team mounted
    refused = spawn(w, "bob", w.sub["bob"])
    assert isinstance(refused, SpawnDenied) and refused.code == "allocation_not_active"
    assert sorted(os.listdir(w.folder)) == ["bob.ipynb", "latest", "shared"]
    with w.factory.unit_of_work() as svc:
        with pytest.raises(Conflict) as again:
            ConsortiumRemovalService(svc.ctx).remove("admin", w.cid, "twice")
        assert again.value.code == "already_removed"
        with pytest.raises(NotFound):
            ConsortiumRemovalService(svc.ctx).remove("admin", 999_999, "none")
    with w.factory.unit_of_work() as svc:
        s = svc.ctx.session
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "consortium.remove")).all()
        assert len(audit) == 1 and audit[0].reason == "proposal ended early"
        told = set(
            s.scalars(
                select(User.username)
                .join(UserNotice, UserNotice.user_id == User.id)
                .where(UserNotice.kind == "team-removed")
            )
        )
        assert told == {"alice", "bob", "carol"}

    # Plan: one team manifest (2 files and a symlink archived, one directory removed).
    plan = w.purge.plan()
    team = [m for m in plan.manifests if m["area"] == "team"]
    assert [(m["user"], m["files"], m["entries"], m["bytes"]) for m in team] == [
        (w.folder.name, 2, 4, 5000 + len(b'{"cells": []}'))
    ]
    assert [m for m in w.purge.plan().manifests if m["area"] == "team"] == []  # pending already
    assert [m for m in w.purge.execute(yes=True).manifests if m["user"].startswith("team:")] == []

    # Notify: the leads and the members, by e-mail and in the app, 7 days and 1 day ahead.
    sent = w.purge.notify()
    assert [(m["user"], m["lead_days"]) for m in sent.manifests] == [(f"team:{w.folder.name}", 7)]
    assert sorted(m["X-Envelope-To"] for m in smtp_inbox.messages) == [
        "alice@uni.test",
        "bob@uni.test",
        "carol@uni.test",
    ]
    assert f"/teams/{w.folder.name}" in smtp_inbox.messages[0]["Subject"]
    w.clock.advance(days=6, hours=1)
    assert [m for m in w.purge.execute(yes=True).manifests if m["user"].startswith("team:")] == []
    assert [m["lead_days"] for m in w.purge.notify().manifests] == [1]
    assert len(smtp_inbox.messages) == 6

    # After the grace: archived to S3, then emptied; the folder itself stays (root:<gid>).
    w.clock.advance(days=1)
    done = w.purge.execute(yes=True)
    rows = [m for m in done.manifests if m["user"] == f"team:{w.folder.name}"]
    assert len(rows) == 1 and rows[0]["errors"] == 0 and rows[0]["uploaded"] == 2, done.as_dict()
    assert os.listdir(w.folder) == []
    assert (os.stat(w.folder).st_uid, os.stat(w.folder).st_gid) == (0, w.gid)
    with w.factory.unit_of_work() as svc:
        archive = svc.ctx.session.scalars(select(TeamArchive)).one()
        assert archive.status == "done" and archive.archive_prefix == "archive/teams/"
        run = svc.ctx.session.execute(
            select(AuditEvent.action).where(AuditEvent.action == "storage.purge.execute-teams")
        ).all()
        assert len(run) == 1
    client = w.bucket.client
    prefix = f"archive/teams/{directory_name(w.folder.name)}/"
    keys = sorted(
        o["Key"] for o in client.list_objects_v2(Bucket=w.bucket.name, Prefix=prefix)["Contents"]
    )
    assert any(k.endswith("/f/shared/catalog.fits") for k in keys)
    assert any(k.endswith("/f/bob.ipynb") for k in keys)
    assert any(k.endswith("/manifest.jsonl") for k in keys)
    assert any(k.endswith("/journal.jsonl") for k in keys)
    catalog = next(k for k in keys if k.endswith("/f/shared/catalog.fits"))
    assert client.get_object(Bucket=w.bucket.name, Key=catalog)["Body"].read() == b"A" * 5000
    # Nobody's home was touched, at any step.
    assert {u: snapshot(w.lay.home(u)) for u in ("alice", "bob")} == homes_before
    assert w.purge.execute(yes=True).manifests == []
    assert timedelta(days=7) <= w.clock() - archive.created_at
