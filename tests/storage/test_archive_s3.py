"""Archive a home to moto's S3 server over HTTP, verify, remove, and restore it exactly."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from quota_service.filesystem.archive import S3Archiver, restore
from quota_service.filesystem.journal import DONE, UPLOADED, FileJournal, Step
from quota_service.filesystem.manifest import read_entries

from .conftest import Bucket
from .plans import home_decision, plan, run
from .trees import Layout, layout, put, read_quietly, snapshot

pytestmark = pytest.mark.integration

ODD = [b"new\nline.txt", b"\xff\xfe-not-utf8", b"-rf", b"100%.dat", b"sp ace"]


def build_home(lay: Layout) -> None:
    h = lay.home("alice")
    put(h / "notes.md", b"# notes\n" * 100, age_days=400, mode=0o640)
    put(h / "bin" / "tool.sh", b"#!/bin/sh\necho hi\n", age_days=300, mode=0o755)
    for i, name in enumerate(ODD):
        put(os.path.join(os.fsencode(h / "odd"), name), bytes([i]) * (i * 1000 + 1), age_days=200)
    # Larger than the multipart threshold used below (5 MiB parts).
    put(h / "data" / "cube.fits", os.urandom(11 * 1024 * 1024 + 17), age_days=250)
    put(h / "empty", b"", age_days=250)
    os.symlink("../notes.md", h / "bin" / "notes-link")
    os.symlink(lay.outside / "precious", h / "to-outside")
    (h / "private").mkdir(mode=0o700)
    put(h / "private" / "key", b"k", age_days=250, mode=0o600)
    os.chmod(h / "odd", 0o750)
    for d in ("bin", "odd", "data", "private"):
        t = 1_600_000_000_000_000_000
        os.utime(h / d, ns=(t, t))


def times(root: Path) -> dict[bytes, tuple[int, int, int]]:
    out = {}
    broot = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(broot):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[os.path.relpath(p, broot)] = (
                stat.S_IMODE(st.st_mode),
                st.st_mtime_ns,
                st.st_atime_ns if stat.S_ISREG(st.st_mode) else 0,
            )
    return out


@pytest.mark.parametrize("verify", ["checksum", "readback"])
def test_home_archive_and_restore_round_trip(tmp_path: Path, bucket: Bucket, verify: str) -> None:
    lay = layout(tmp_path, ["alice", "bob"])
    put(lay.outside / "precious", b"P" * 10)
    put(lay.home("bob") / "keep", b"B")
    build_home(lay)
    home = lay.home("alice")
    before_content = snapshot(home)
    before_times = times(home)
    guarded = (snapshot(lay.outside), snapshot(lay.home("bob")))

    manifest, stats = plan(home, home_decision("alice"), tmp_path / "m", bucket=bucket.name)
    archiver = S3Archiver(
        bucket.client,
        bucket.name,
        storage_class="GLACIER_IR",
        multipart_threshold=5 * 1024 * 1024,
        part_size=5 * 1024 * 1024,
        verify=verify,
    )
    result = run(manifest, archiver=archiver)
    assert result.errors == 0 and result.kept == 0, result.kept_samples
    assert result.uploaded == stats.files == 5 + len(ODD)
    # The home is empty (its root stays), and the outside and bob are untouched.
    assert os.listdir(home) == []
    assert (snapshot(lay.outside), snapshot(lay.home("bob"))) == guarded

    # Every file is an object with the planned key, size and storage class.
    for e in read_entries(manifest):
        if e.kind != "file":
            continue
        assert e.archive_key is not None
        head = bucket.client.head_object(Bucket=bucket.name, Key=e.archive_key)
        assert head["ContentLength"] == e.size
        assert head.get("StorageClass") == "GLACIER_IR"

    restored = restore(manifest, manifest.with_suffix(".journal"), archiver)
    assert restored.errors == []
    assert restored.files == stats.files and restored.symlinks == 2
    assert snapshot(home) == before_content
    assert times(home) == before_times
    # Restoring again changes nothing.
    again = restore(manifest, manifest.with_suffix(".journal"), archiver)
    assert again.files == 0 and again.already == stats.files + 2
    assert snapshot(home) == before_content


def test_crash_after_a_verified_upload_does_not_upload_again(
    tmp_path: Path, bucket: Bucket
) -> None:
    lay = layout(tmp_path, ["alice"])
    for i in range(6):
        put(lay.home("alice") / f"f{i}", b"%d" % i * 100, age_days=400)
    manifest, _ = plan(lay.home("alice"), home_decision("alice"), tmp_path / "m")
    archiver = S3Archiver(bucket.client, bucket.name)
    first = run(manifest, archiver=archiver, stop_after=3)
    assert first.uploaded == 3 and first.done == 3
    # Simulate the worst crash point for the next file: uploaded and verified, not yet removed.
    nxt = next(e for e in read_entries(manifest) if e.seq == 3)
    sha = archiver.upload(os.open(lay.home("alice"), os.O_RDONLY), nxt.parts[-1], nxt)
    j = FileJournal(manifest.with_suffix(".journal"))
    j.record(Step(nxt.seq, UPLOADED, sha256=sha), durable=True)
    j.close()
    second = run(manifest, archiver=archiver)
    assert second.already_done == 3
    assert second.uploaded == 2  # f4, f5 only: f3's verified upload was not redone
    assert second.done == 3
    assert os.listdir(lay.home("alice")) == []
    steps = FileJournal(manifest.with_suffix(".journal")).load()
    assert {s.state for s in steps.values()} == {DONE}


def test_a_file_changed_during_archive_is_kept_and_never_removed(
    tmp_path: Path, bucket: Bucket
) -> None:
    lay = layout(tmp_path, ["alice"])
    put(lay.home("alice") / "busy.log", b"line\n" * 10, age_days=400)
    manifest, _ = plan(lay.home("alice"), home_decision("alice"), tmp_path / "m")
    with open(lay.home("alice") / "busy.log", "ab") as fh:
        fh.write(b"appended after the plan\n")
    result = run(manifest, archiver=S3Archiver(bucket.client, bucket.name))
    assert result.kept == 1 and result.uploaded == 0
    assert read_quietly(lay.home("alice") / "busy.log").endswith(b"after the plan\n")
