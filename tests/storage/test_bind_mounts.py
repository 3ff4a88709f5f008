"""Bind mounts of the same file system inside a home (issue 15, item 10).

A bind mount shows another directory (or file) of the same file system inside a home: `st_dev`
is the same on both sides, so only the mount ID tells them apart. Each test makes a real
`mount --bind` of a directory outside every home into alice's home or scratch, then scans,
plans and executes for real, and checks that the outside is untouched.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from quota_service.filesystem.archive import S3Archiver
from quota_service.filesystem.scanner import HOME, ScanTarget, scan_root
from quota_service.filesystem.walk import UnsafePathError, mount_id, open_dir, open_subdir, walk

from .conftest import Bucket
from .plans import append_forged_entry, home_decision, paths, plan, run, scratch_decision
from .trees import Layout, layout, put, snapshot


def bind(source: Path, target: Path) -> None:
    res = subprocess.run(
        ["mount", "--bind", os.fspath(source), os.fspath(target)], capture_output=True, text=True
    )
    if res.returncode != 0:
        pytest.skip(f"mount --bind is not permitted here: {res.stderr.strip()}")


@pytest.fixture
def lay(tmp_path: Path) -> Iterator[Layout]:
    """alice with old files, and `outside/src` (old files too) bind-mounted at home/link,
    scratch/link and, as a single file, home/file-link."""
    lay = layout(tmp_path, ["alice"])
    src = lay.outside / "src"
    put(src / "precious", b"P" * 100, age_days=400)
    put(src / "sub" / "deep", b"D" * 100, age_days=400)
    put(lay.outside / "secret", b"S" * 10, age_days=400)
    home, scr = lay.home("alice"), lay.scr("alice")
    put(home / "notes", b"n" * 10, age_days=400)
    put(scr / "old", b"o" * 10, age_days=400)
    (home / "link").mkdir()
    (scr / "link").mkdir()
    put(home / "file-link", b"", age_days=400)
    mounted: list[Path] = []
    try:
        for source, target in (
            (src, home / "link"),
            (src, scr / "link"),
            (lay.outside / "secret", home / "file-link"),
        ):
            bind(source, target)
            mounted.append(target)
        yield lay
    finally:
        for target in reversed(mounted):
            subprocess.run(["umount", "-l", os.fspath(target)], check=False)


def test_mount_id_tells_a_bind_mount_apart_where_st_dev_cannot(lay: Layout) -> None:
    fd = open_dir(os.fsencode(lay.home("alice")))
    try:
        dev = os.fstat(fd).st_dev
        assert os.stat(lay.home("alice") / "link").st_dev == dev  # st_dev is blind here
        with pytest.raises(UnsafePathError, match="another mount"):
            open_subdir(fd, b"link", dev)
        sub = open_dir(os.fsencode(lay.outside / "src"))
        try:
            assert mount_id(sub) == mount_id(fd)  # the source side is the root's own mount
        finally:
            os.close(sub)
    finally:
        os.close(fd)


def test_scanner_and_walker_do_not_enter_a_bind_mount(lay: Layout) -> None:
    home = lay.home("alice")
    usage = scan_root(ScanTarget("alice", HOME, os.fsencode(home)))
    assert usage.mounts_skipped == 1
    assert usage.files == 2  # notes and the empty file-link
    assert usage.bytes_apparent == 10 + 10  # notes, and file-link shows the secret's 10 bytes
    names = {os.fsencode(n) for _fd, _r, n, _st in walk(os.fsencode(home))}
    assert b"precious" not in names and b"deep" not in names


def test_scratch_purge_leaves_the_bind_mounted_outside_alone(lay: Layout, tmp_path: Path) -> None:
    before = snapshot(lay.outside)
    manifest, stats = plan(lay.scr("alice"), scratch_decision("alice"), tmp_path / "m")
    assert paths(manifest) == {b"old"}
    assert stats.report.mounts_skipped == 1 and stats.report.mount_points == {b"link"}
    result = run(manifest)
    assert result.done == 1 and result.errors == 0
    assert snapshot(lay.outside) == before


def test_a_forged_entry_through_a_bind_mount_is_kept(lay: Layout, tmp_path: Path) -> None:
    """The executor checks the mount of every parent itself, whatever the manifest says."""
    s = lay.scr("alice")
    manifest, _ = plan(s, scratch_decision("alice"), tmp_path / "m")
    append_forged_entry(manifest, b"link/precious", s / "link" / "precious")
    result = run(manifest)
    assert result.done == 1 and result.kept == 1
    assert "another mount" in result.kept_samples[0][1]
    assert (lay.outside / "src" / "precious").read_bytes() == b"P" * 100


@pytest.mark.integration
def test_home_archive_leaves_the_bind_mounted_outside_alone(
    lay: Layout, tmp_path: Path, bucket: Bucket
) -> None:
    before = snapshot(lay.outside)
    home = lay.home("alice")
    manifest, stats = plan(home, home_decision("alice"), tmp_path / "m", bucket=bucket.name)
    # The directory and the file that are mount points: neither entered nor removed.
    assert paths(manifest) == {b"notes", b"file-link"}
    assert stats.report.mount_points == {b"link"}
    result = run(manifest, archiver=S3Archiver(bucket.client, bucket.name))
    assert result.done == 1 and result.errors == 0
    assert result.kept == 1 and result.kept_samples[0] == ("file-link", "a mount point")
    assert sorted(os.listdir(home)) == ["file-link", "link"]
    assert snapshot(lay.outside) == before
    # Nothing from the outside was copied into alice's archive.
    listed = bucket.client.list_objects_v2(Bucket=bucket.name).get("Contents", [])
    assert [o["Size"] for o in listed] == [10]
