"""Restore as root into a tree the person controls (issue 15, item 11).

Real files with real owners (uids 1001 and 1002 made with os.chown), archived to moto's S3 server
over HTTP, removed by the real executor, then restored; the person's access is checked by running
`cat` as uid 1001 through setpriv.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from quota_service.filesystem.archive import S3Archiver, restore
from quota_service.filesystem.manifest import HOME_INACTIVE, OVER_QUOTA_LRU, read_header
from quota_service.filesystem.planner import Decision
from quota_service.filesystem.scanner import HOME

from .conftest import Bucket
from .plans import plan, run
from .trees import Layout, layout, put, read_quietly

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own files as other uids"),
]

ALICE = 1001
BOB = 1002


def owned(path: Path, uid: int, gid: int, mode: int) -> None:
    os.chown(path, uid, gid, follow_symlinks=False)
    if not path.is_symlink():
        os.chmod(path, mode)


@pytest.fixture
def base() -> Iterator[Path]:
    """A tree uid 1001 can reach (pytest's own tmp folders are root's 0700)."""
    path = Path(tempfile.mkdtemp(prefix="nexus-restore-"))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def alice_home(base: Path) -> Layout:
    lay = layout(base, ["alice"])
    os.chmod(lay.homes, 0o755)
    owned(lay.home("alice"), ALICE, ALICE, 0o750)
    return lay


def archive(lay: Layout, tmp_path: Path, bucket: Bucket, decision: Decision) -> tuple[Path, str]:
    manifest, _ = plan(lay.home("alice"), decision, tmp_path / "m", bucket=bucket.name)
    result = run(manifest, archiver=S3Archiver(bucket.client, bucket.name))
    assert result.errors == 0 and result.kept == 0, result.kept_samples
    return manifest, read_header(manifest).run_id


def restore_all(manifest: Path, bucket: Bucket) -> None:
    res = restore(
        manifest, manifest.with_suffix(".journal"), S3Archiver(bucket.client, bucket.name)
    )
    assert res.errors == []


def as_alice(*argv: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["setpriv", f"--reuid={ALICE}", f"--regid={ALICE}", "--clear-groups", *argv],
        capture_output=True,
        cwd="/",
    )


def test_missing_parents_are_created_as_the_persons_and_reachable(
    tmp_path: Path, base: Path, bucket: Bucket
) -> None:
    """Over-quota archives take files only; if the person then removes the emptied folders,
    restore must recreate them as theirs, not root's 0700."""
    lay = alice_home(base)
    home = lay.home("alice")
    put(home / "proj" / "data" / "run.fits", b"F" * 100, age_days=300, mode=0o640)
    for p in (home / "proj", home / "proj" / "data", home / "proj" / "data" / "run.fits"):
        owned(p, ALICE, ALICE, 0o640 if p.is_file() else 0o750)
    lru = Decision("alice", HOME, OVER_QUOTA_LRU, excess_bytes=10**9)
    manifest, _ = archive(lay, tmp_path, bucket, lru)
    os.rmdir(home / "proj" / "data")  # the person tidies up the emptied folders
    os.rmdir(home / "proj")

    restore_all(manifest, bucket)

    for d in (home / "proj", home / "proj" / "data"):
        st = os.stat(d)
        # The home owner's ids and the permission bits of the folder it was made in (0750).
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (ALICE, ALICE, 0o750), d
    f = home / "proj" / "data" / "run.fits"
    assert (os.stat(f).st_uid, stat.S_IMODE(os.stat(f).st_mode)) == (ALICE, 0o640)
    res = as_alice("cat", os.fspath(f))
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"F" * 100
    assert [n for n in os.listdir(home) if n.startswith(".nexus-restore")] == []


def test_a_missing_parent_in_a_setgid_folder_takes_the_folders_group(
    tmp_path: Path, base: Path, bucket: Bucket
) -> None:
    lay = alice_home(base)
    home = lay.home("alice")
    team = home / "team"
    put(team / "sub" / "notes.txt", b"n", age_days=300)
    owned(team, ALICE, 2000, 0o2770)
    for p in (team / "sub", team / "sub" / "notes.txt"):
        owned(p, ALICE, 2000, 0o2770 if p.is_dir() else 0o660)
    lru = Decision("alice", HOME, OVER_QUOTA_LRU, excess_bytes=10**9)
    manifest, _ = archive(lay, tmp_path, bucket, lru)
    os.rmdir(team / "sub")

    restore_all(manifest, bucket)

    st = os.stat(team / "sub")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (ALICE, 2000, 0o2770)
    assert read_quietly(team / "sub" / "notes.txt") == b"n"


def test_an_occupied_symlink_name_keeps_its_occupant_and_owner(
    tmp_path: Path, base: Path, bucket: Bucket
) -> None:
    lay = alice_home(base)
    home = lay.home("alice")
    put(home / "target", b"t", age_days=300)
    owned(home / "target", ALICE, ALICE, 0o644)
    os.symlink("target", home / "lnk")
    owned(home / "lnk", ALICE, ALICE, 0)
    manifest, run_id = archive(lay, tmp_path, bucket, Decision("alice", HOME, HOME_INACTIVE))
    assert os.listdir(home) == []
    # Someone else's file now sits at the symlink's name (say, a hard link to bob's file).
    put(home / "lnk", b"bob's", mode=0o600)
    owned(home / "lnk", BOB, BOB, 0o600)

    restore_all(manifest, bucket)

    occupant = os.lstat(home / "lnk")
    assert stat.S_ISREG(occupant.st_mode)
    assert (occupant.st_uid, occupant.st_gid, stat.S_IMODE(occupant.st_mode)) == (BOB, BOB, 0o600)
    assert read_quietly(home / "lnk") == b"bob's"
    beside = home / f"lnk.restored-{run_id}"
    assert os.readlink(beside) == "target"
    assert (os.lstat(beside).st_uid, os.lstat(beside).st_gid) == (ALICE, ALICE)
    assert os.lstat(home / "target").st_uid == ALICE


def test_an_existing_directory_is_used_as_it_is(tmp_path: Path, base: Path, bucket: Bucket) -> None:
    """Only what restore created gets the manifest's owner and mode."""
    lay = alice_home(base)
    home = lay.home("alice")
    put(home / "proj" / "a.txt", b"a", age_days=300)
    owned(home / "proj", ALICE, ALICE, 0o750)
    owned(home / "proj" / "a.txt", ALICE, ALICE, 0o644)
    manifest, _ = archive(lay, tmp_path, bucket, Decision("alice", HOME, HOME_INACTIVE))
    assert os.listdir(home) == []
    (home / "proj").mkdir()
    owned(home / "proj", BOB, BOB, 0o711)

    restore_all(manifest, bucket)

    st = os.stat(home / "proj")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (BOB, BOB, 0o711)
    a = os.stat(home / "proj" / "a.txt")
    assert (a.st_uid, stat.S_IMODE(a.st_mode)) == (ALICE, 0o644)


def test_a_whole_home_comes_back_with_its_owners_modes_and_times(
    tmp_path: Path, base: Path, bucket: Bucket
) -> None:
    lay = alice_home(base)
    home = lay.home("alice")
    put(home / "priv" / "deep" / "k", b"k", age_days=300, mode=0o600)
    owned(home / "priv", ALICE, ALICE, 0o700)
    owned(home / "priv" / "deep", ALICE, 3000, 0o750)
    owned(home / "priv" / "deep" / "k", ALICE, 3000, 0o600)
    t = 1_600_000_000_000_000_000
    os.utime(home / "priv" / "deep", ns=(t, t))
    before = {
        p: (s.st_uid, s.st_gid, s.st_mode, s.st_mtime_ns)
        for p in ("priv", "priv/deep", "priv/deep/k")
        for s in [os.lstat(home / p)]
    }
    manifest, _ = archive(lay, tmp_path, bucket, Decision("alice", HOME, HOME_INACTIVE))
    assert os.listdir(home) == []

    restore_all(manifest, bucket)

    after = {
        p: (s.st_uid, s.st_gid, s.st_mode, s.st_mtime_ns)
        for p in ("priv", "priv/deep", "priv/deep/k")
        for s in [os.lstat(home / p)]
    }
    assert after == before
    assert os.listdir(home) == ["priv"]  # the stage is gone
    assert as_alice("cat", os.fspath(home / "priv" / "deep" / "k")).stdout == b"k"
