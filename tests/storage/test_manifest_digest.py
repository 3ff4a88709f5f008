"""Issue 15 item 8: a manifest file is acted on only as its database row planned it.

The plan stores the SHA-256 of each manifest file; execute, restore, notify and the owner's
file list refuse a file that differs, and archive keys must be the plan's own keys for that
person even when the digest matches. Rows from before digests: pending ones are cancelled and
planned again, executed ones are bound to their file once. Real files, moto's S3 server, real
SMTP, on SQLite and PostgreSQL (the `world` fixture).
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from quota_service.errors import Conflict
from quota_service.factory import Factory
from quota_service.filesystem import manifest as mf
from quota_service.jobs.purge import PurgeService
from quota_service.jobs.scan import StorageService
from quota_service.schema import AuditEvent
from quota_service.schema.purge_manifest import ManifestStatus, PurgeManifest
from tests.support.clock import FakeClock

from .conftest import Inbox
from .test_pipeline import world
from .trees import Layout, put, snapshot

__all__ = ["world"]

World = tuple[Factory, FakeClock, Layout, PurgeService, StorageService]


def row(factory: Factory, manifest_id: int) -> PurgeManifest:
    with factory.unit_of_work() as svc:
        m = svc.ctx.session.get(PurgeManifest, manifest_id)
        assert m is not None
        svc.ctx.session.expunge(m)
        return m


def set_digest(factory: Factory, manifest_id: int, digest: str | None) -> None:
    with factory.unit_of_work() as svc:
        m = svc.ctx.session.get(PurgeManifest, manifest_id)
        assert m is not None
        m.digest = digest


def planned(purge: PurgeService, user: str, area: str) -> tuple[int, Path]:
    """Plan, and return the id and file of `user`'s manifest for `area`."""
    plan = purge.plan()
    (path,) = [Path(m["path"]) for m in plan.manifests if (m["user"], m["area"]) == (user, area)]
    newest = next(m for m in purge.manifests_for(user) if m["area"] == area)
    return int(newest["id"]), path


def due(purge: PurgeService, clock: FakeClock) -> None:
    purge.notify()
    clock.advance(days=7, hours=1)


def archived_home(world: World) -> tuple[int, Path, dict[bytes, tuple[int, int, bytes]]]:
    """alice's inactive home planned, notified and archived; its id, file and contents."""
    factory, clock, lay, purge, _ = world
    with factory.unit_of_work() as svc:
        alice = svc.users.ensure("alice")
        alice.last_login_at = clock() - timedelta(days=200)
        svc.users.ensure("bob", login=True)
    put(lay.home("alice") / "thesis" / "ch1.tex", b"alice" * 100, age_days=300)
    put(lay.home("alice") / "notes.txt", b"notes", age_days=300)
    before = snapshot(lay.home("alice"))
    mid, path = planned(purge, "alice", "home")
    due(purge, clock)
    done = purge.execute(yes=True)
    assert not done.partial and os.listdir(lay.home("alice")) == [], done.as_dict()
    return mid, path, before


def test_the_writer_digest_is_the_files_and_a_copy_hashes_what_it_copies(
    tmp_path: Path,
) -> None:
    header = mf.Header("r", "alice", "scratch", b"/x/alice", 1, 2, 1000, mf.SCRATCH_RETENTION, 0)
    st = os.lstat(tmp_path)
    writer = mf.ManifestWriter(tmp_path / "m.jsonl", header)
    writer.add(mf.Entry.from_stat(0, b"a\nb", "file", mf.DELETE, st))
    path = writer.close()
    assert writer.digest == mf.file_digest(path)
    copy = tmp_path / "copy"
    assert mf.copy_hashed(path, copy) == writer.digest
    assert copy.read_bytes() == path.read_bytes()
    assert os.stat(copy).st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):  # never into a file someone else placed
        mf.copy_hashed(path, copy)
    # A manifest swapped for a symlink or a FIFO is refused at once, nothing copied.
    os.symlink(path, tmp_path / "link")
    with pytest.raises(OSError):
        mf.copy_hashed(tmp_path / "link", tmp_path / "c1")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(mf.ManifestError, match="not a regular file"):
        mf.copy_hashed(tmp_path / "fifo", tmp_path / "c2")
    assert not (tmp_path / "c1").exists() and not (tmp_path / "c2").exists()


@pytest.mark.integration
def test_execute_refuses_an_entry_added_after_the_plan(world: World) -> None:
    factory, clock, lay, purge, _ = world
    with factory.unit_of_work() as svc:
        svc.users.ensure("alice", login=True)
    old = lay.scr("alice") / "old.dat"
    put(old, b"o", age_days=60)
    fresh = lay.scr("alice") / "fresh.dat"
    put(fresh, b"f", age_days=-29)  # used a day ago: the plan keeps it
    mid, path = planned(purge, "alice", "scratch")
    assert row(factory, mid).digest == mf.file_digest(path)
    due(purge, clock)
    original = path.read_bytes()
    # The header and root are untouched; one entry is added, matching the file as it is.
    forged = mf.Entry.from_stat(1, b"fresh.dat", "file", mf.DELETE, os.lstat(fresh))
    path.write_bytes(original + forged.to_line().encode())

    done = purge.execute(yes=True)
    assert done.manifests == []
    assert any("not the one planned" in e and "not executed" in e for e in done.errors), done
    assert old.exists() and fresh.exists()
    refused = row(factory, mid)
    assert refused.status == ManifestStatus.notified
    assert refused.result is not None and "not the one planned" in refused.result["refused"]
    with pytest.raises(Conflict) as listing:
        purge.manifest_entries("alice", mid)
    assert listing.value.code == "purge_manifest_mismatch"

    # Back as planned, it runs, and only on what was planned.
    path.write_bytes(original)
    assert [e["path"] for e in purge.manifest_entries("alice", mid)] == ["old.dat"]
    done = purge.execute(yes=True)
    assert [m["manifest"] for m in done.manifests] == [mid] and not done.errors
    assert not old.exists() and fresh.exists()
    assert row(factory, mid).status == ManifestStatus.done


@pytest.mark.integration
def test_no_notice_names_files_from_an_edited_manifest(world: World, smtp_inbox: Inbox) -> None:
    factory, _clock, lay, purge, _ = world
    with factory.unit_of_work() as svc:
        svc.users.ensure("alice", login=True)
    put(lay.scr("alice") / "old.dat", b"o", age_days=60)
    mid, path = planned(purge, "alice", "scratch")
    lines = path.read_text().splitlines(keepends=True)
    entry = mf.Entry.from_line(lines[1])
    lines[1] = replace(entry, path=b"VISIT-evil.example-TO-KEEP-YOUR-FILES").to_line()
    path.write_text("".join(lines))
    sent = purge.notify()
    assert any("not the one planned" in e and "not notified" in e for e in sent.errors)
    assert smtp_inbox.messages == []
    kept = row(factory, mid)
    assert kept.status == ManifestStatus.planned and kept.first_notice_at is None


@pytest.mark.integration
def test_archive_keys_must_be_the_persons_even_with_a_matching_digest(world: World) -> None:
    factory, clock, lay, purge, _ = world
    with factory.unit_of_work() as svc:
        alice = svc.users.ensure("alice")
        alice.last_login_at = clock() - timedelta(days=200)
    put(lay.home("alice") / "thesis.tex", b"alice" * 100, age_days=300)
    before = snapshot(lay.home("alice"))
    mid, path = planned(purge, "alice", "home")
    due(purge, clock)
    lines = path.read_text().splitlines(keepends=True)
    header = mf.read_header(path)
    i, entry = next(
        (i, e)
        for i, e in ((i, mf.Entry.from_line(x)) for i, x in enumerate(lines[1:], start=1))
        if e.kind == "file"
    )
    # Written into bob's archive, it would replace what bob's restore brings back.
    stolen = mf.archive_key("archive/", "bob", header.run_id, entry.path)
    lines[i] = replace(entry, archive_key=stolen).to_line()
    path.write_text("".join(lines))
    set_digest(factory, mid, mf.file_digest(path))  # as if the database row were rewritten too

    done = purge.execute(yes=True)
    assert done.manifests == []
    assert any("archive key" in e and "not executed" in e for e in done.errors), done.errors
    assert snapshot(lay.home("alice")) == before
    listed = purge.archiver().client.list_objects_v2(
        Bucket=purge.config.archive.bucket, Prefix="archive/"
    )
    assert listed.get("KeyCount", 0) == 0

    # An archive manifest whose file entry deletes instead of archiving is refused too.
    lines[i] = replace(entry, action=mf.DELETE, archive_key=None).to_line()
    path.write_text("".join(lines))
    set_digest(factory, mid, mf.file_digest(path))
    done = purge.execute(yes=True)
    assert any("deletes a file an archive must keep" in e for e in done.errors), done.errors
    assert snapshot(lay.home("alice")) == before


@pytest.mark.integration
def test_restore_refuses_an_edited_manifest_and_a_foreign_key(world: World) -> None:
    factory, _clock, lay, purge, _ = world
    mid, path, before = archived_home(world)
    original = path.read_text()
    lines = original.splitlines(keepends=True)
    header = mf.read_header(path)
    i, entry = next(
        (i, e)
        for i, e in ((i, mf.Entry.from_line(x)) for i, x in enumerate(lines[1:], start=1))
        if e.kind == "file"
    )
    # A different place for the file, with the digest left as planned.
    lines[i] = replace(entry, path=b"moved.txt").to_line()
    path.write_text("".join(lines))
    report = purge.restore("alice")
    assert any("not the one planned" in e and "not restored" in e for e in report.errors)
    assert report.manifests[0]["errors"] == 1 and report.manifests[0]["files"] == 0
    assert os.listdir(lay.home("alice")) == []
    # Reading bob's archive into alice's home, with the row's digest rewritten to match.
    lines[i] = replace(
        entry, archive_key=mf.archive_key("archive/", "bob", header.run_id, entry.path)
    ).to_line()
    path.write_text("".join(lines))
    set_digest(factory, mid, mf.file_digest(path))
    report = purge.restore("alice")
    assert any("archive key" in e for e in report.errors), report.errors
    assert os.listdir(lay.home("alice")) == []
    assert row(factory, mid).status == ManifestStatus.done

    path.write_text(original)
    set_digest(factory, mid, mf.file_digest(path))
    report = purge.restore("alice")
    assert not report.errors and report.manifests[0]["files"] == 2
    assert snapshot(lay.home("alice")) == before


@pytest.mark.integration
def test_a_pending_row_from_before_digests_is_cancelled_and_planned_again(world: World) -> None:
    factory, clock, lay, purge, _ = world
    with factory.unit_of_work() as svc:
        svc.users.ensure("alice", login=True)
    old = lay.scr("alice") / "old.dat"
    put(old, b"o", age_days=60)
    mid, _path = planned(purge, "alice", "scratch")
    purge.notify()
    set_digest(factory, mid, None)  # what the migration leaves on rows planned before it
    clock.advance(days=7, hours=1)
    done = purge.execute(yes=True)
    assert done.manifests == [] and old.exists()
    assert any("planned before manifest digests" in n for n in done.notes), done.as_dict()
    assert not done.partial  # expected after an upgrade: not a failure of the job
    cancelled = row(factory, mid)
    assert cancelled.status == ManifestStatus.cancelled
    assert cancelled.result is not None and "cancelled" in cancelled.result
    # The next plan covers the area again, with a digest; notices start over.
    again, path = planned(purge, "alice", "scratch")
    assert again != mid and row(factory, again).digest == mf.file_digest(path)
    assert purge.execute(yes=True).manifests == []
    due(purge, clock)
    assert [m["manifest"] for m in purge.execute(yes=True).manifests] == [again]
    assert not old.exists()


@pytest.mark.integration
def test_an_archived_row_from_before_digests_is_bound_once_and_restores(world: World) -> None:
    factory, _clock, lay, purge, _ = world
    mid, path, before = archived_home(world)
    set_digest(factory, mid, None)
    assert purge.manifest_entries("alice", mid)  # shown as found
    report = purge.restore("alice")
    assert not report.errors and snapshot(lay.home("alice")) == before
    bound = row(factory, mid)
    assert bound.digest == mf.file_digest(path) and bound.status == ManifestStatus.restored
    with factory.unit_of_work() as svc:
        actions = set(svc.ctx.session.scalars(select(AuditEvent.action)))
    assert "storage.purge.bind-digest" in actions
