"""The scanner on real trees, checked against du and find over the same files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from quota_service.filesystem.scanner import (
    HOME,
    SCRATCH,
    ScanTarget,
    by_user,
    discover_targets,
    scan_root,
    scan_targets,
)
from quota_service.filesystem.walk import UnsafePathError, open_dir, open_subdir, walk

from .trees import DAY_NS, layout, mount_tmpfs, put, umount

ODD_NAMES = [b"new\nline", b"bad-\xff\xfe-utf8", b"-rf", b"--help", b" spaced ", b"\xe9t\xe9"]


def du_bytes(root: Path) -> int:
    out = subprocess.run(
        ["du", "-s", "-x", "-B1", os.fspath(root)], capture_output=True, check=True
    )
    return int(out.stdout.split()[0])


def find_count(root: Path) -> int:
    out = subprocess.run(
        ["find", os.fspath(root), "-xdev", "-mindepth", "1", "!", "-type", "d", "-printf", "."],
        capture_output=True,
        check=True,
    )
    return len(out.stdout)


def build_user(home: Path, outside: Path, other_home: Path) -> None:
    put(home / "a.txt", b"a" * 1000, age_days=3)
    put(home / "sub" / "deep" / "b.bin", b"b" * 70_000, age_days=1)
    for i, name in enumerate(ODD_NAMES):
        put(os.path.join(os.fsencode(home / "odd"), name), b"o" * (i + 1), age_days=10)
    os.symlink(outside, home / "to-outside")
    os.symlink(other_home, home / "to-other-home")
    os.symlink(outside / "big.dat", home / "to-big-file")
    os.link(home / "a.txt", home / "sub" / "a-hardlink")


def test_scan_matches_du_and_find(tmp_path: Path) -> None:
    lay = layout(tmp_path, ["alice", "bob"])
    put(lay.outside / "big.dat", b"z" * 500_000)
    put(lay.home("bob") / "secret", b"s" * 300_000)
    build_user(lay.home("alice"), lay.outside, lay.home("bob"))
    usage = scan_root(ScanTarget("alice", HOME, os.fsencode(lay.home("alice"))))
    assert usage.error is None
    assert usage.bytes_allocated == du_bytes(lay.home("alice"))
    assert usage.files == find_count(lay.home("alice"))
    # Symlinks are counted as entries, their targets (outside, bob's home) never.
    assert usage.bytes_apparent < 100_000
    # A hard link inside the same root counts once (a.txt + its second name).
    assert usage.bytes_apparent == 1000 + 70_000 + sum(range(1, len(ODD_NAMES) + 1)) + sum(
        len(os.fsencode(p)) for p in (lay.outside, lay.home("bob"), lay.outside / "big.dat")
    )
    newest = max(
        os.lstat(p).st_mtime_ns
        for p in (lay.home("alice") / "a.txt", lay.home("alice") / "to-outside")
    )
    assert usage.newest_mtime_ns == newest


def test_walk_yields_every_odd_name_exactly(tmp_path: Path) -> None:
    root = tmp_path / "u"
    for name in ODD_NAMES:
        put(os.path.join(os.fsencode(root), name))
    seen = {os.fsencode(name) for _fd, _rel, name, _st in walk(os.fsencode(root))}
    assert seen == set(ODD_NAMES)


def test_parallel_equals_serial_and_discovery(tmp_path: Path) -> None:
    users = [f"u{i:02d}" for i in range(12)]
    lay = layout(tmp_path, users)
    for i, u in enumerate(users):
        for j in range(i + 1):
            put(lay.home(u) / f"d{j % 3}" / f"f{j}", b"x" * (100 * j + 1))
            put(lay.scr(u) / f"s{j}", b"y" * (10 * j + 1))
    # Not users: a symlink and a file at the top level, and a name that is not UTF-8.
    os.symlink(lay.home("u00"), lay.homes / "evil-link")
    put(lay.homes / "stray-file")
    os.mkdir(os.path.join(os.fsencode(lay.homes), b"\xff"))
    targets = discover_targets(os.fsencode(lay.homes), os.fsencode(lay.scratch))
    assert {(t.user, t.area) for t in targets} == {(u, a) for u in users for a in (HOME, SCRATCH)}
    serial = {(r.user, r.area): r for r in scan_targets(targets, workers=1)}
    progress: list[str] = []
    parallel = {
        (r.user, r.area): r
        for r in scan_targets(targets, workers=2, progress=lambda r: progress.append(r.user))
    }
    assert len(progress) == len(targets)
    for key, r in serial.items():
        p = parallel[key]
        assert (p.bytes_allocated, p.files, p.dirs, p.newest_atime_ns) == (
            r.bytes_allocated,
            r.files,
            r.dirs,
            r.newest_atime_ns,
        )
        assert r.bytes_allocated == du_bytes(Path(os.fsdecode(r.path)))
    totals = by_user(parallel.values())
    assert totals["u11"].home_bytes == serial[("u11", HOME)].bytes_allocated
    assert totals["u11"].scratch_bytes == serial[("u11", SCRATCH)].bytes_allocated


def test_newest_times(tmp_path: Path) -> None:
    root = tmp_path / "u"
    put(root / "old", age_days=30)
    put(root / "d" / "newer", age_days=2)
    t_new = os.lstat(root / "d" / "newer").st_mtime_ns
    usage = scan_root(ScanTarget("u", HOME, os.fsencode(root)))
    assert usage.newest_mtime_ns == t_new
    assert usage.newest_atime_ns == t_new
    assert abs(usage.newest_mtime_ns - (os.lstat(root / "old").st_mtime_ns + 28 * DAY_NS)) < DAY_NS


def test_missing_root_is_an_error_not_a_crash(tmp_path: Path) -> None:
    usage = scan_root(ScanTarget("ghost", HOME, os.fsencode(tmp_path / "nope")))
    assert usage.error is not None and usage.files == 0


def test_root_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    put(tmp_path / "real" / "f", b"x" * 10)
    os.symlink(tmp_path / "real", tmp_path / "link")
    usage = scan_root(ScanTarget("x", HOME, os.fsencode(tmp_path / "link")))
    assert usage.error is not None and usage.files == 0


def test_another_filesystem_inside_a_home_is_not_entered(tmp_path: Path) -> None:
    home = tmp_path / "u"
    put(home / "mine", b"m" * 4096)
    mnt = home / "mnt"
    mnt.mkdir()
    if not mount_tmpfs(mnt):
        pytest.skip("mount -t tmpfs is not permitted here; see the st_dev test below")
    try:
        put(mnt / "on-tmpfs", b"t" * 1_000_000)
        usage = scan_root(ScanTarget("u", HOME, os.fsencode(home)))
        assert usage.mounts_skipped == 1
        assert usage.files == 1
        assert usage.bytes_apparent == 4096
        assert usage.bytes_allocated == du_bytes(home)  # du -x agrees
        names = [os.fsencode(n) for _fd, _r, n, _st in walk(os.fsencode(home))]
        assert b"on-tmpfs" not in names
    finally:
        umount(mnt)


def test_open_subdir_refuses_another_st_dev(tmp_path: Path) -> None:
    """The device check itself, independent of whether this machine allows mounts."""
    (tmp_path / "d").mkdir()
    fd = open_dir(os.fsencode(tmp_path))
    try:
        dev = os.fstat(fd).st_dev
        with pytest.raises(UnsafePathError):
            open_subdir(fd, b"d", dev + 1)
        os.close(open_subdir(fd, b"d", dev))
    finally:
        os.close(fd)


def test_chmod_000_directory_is_still_scanned_by_root(tmp_path: Path) -> None:
    home = tmp_path / "u"
    put(home / "locked" / "f", b"x" * 100)
    os.chmod(home / "locked", 0)
    try:
        usage = scan_root(ScanTarget("u", HOME, os.fsencode(home)))
    finally:
        os.chmod(home / "locked", 0o755)
    assert usage.files == (1 if os.geteuid() == 0 else 0)


SCAN_AS_CHILD = """
import json, os, sys
from quota_service.filesystem.scanner import HOME, ScanTarget, scan_root
u = scan_root(ScanTarget("u", HOME, os.fsencode(sys.argv[1])))
print(json.dumps(u.as_json()))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another uid")
def test_unreadable_directory_is_reported_and_skipped_by_a_non_root_scan() -> None:
    """Run the scanner as uid 65534 (setpriv) so permissions really deny it a directory."""
    base = Path(tempfile.mkdtemp(prefix="nexus-eacces-"))
    try:
        os.chmod(base, 0o755)
        home = base / "u"
        put(home / "open" / "f1", b"1" * 10)
        put(home / "closed" / "f2", b"2" * 10)
        os.chmod(home / "closed", 0o700)  # owned by root: uid 65534 may not list it
        repo = Path(__file__).resolve().parents[2]
        res = subprocess.run(
            [
                *("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"),
                *(sys.executable, "-c", SCAN_AS_CHILD, os.fspath(home)),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": os.fspath(repo)},
            cwd="/",
        )
        assert res.returncode == 0, res.stderr
        usage = json.loads(res.stdout)
        assert usage["error"] is None
        assert usage["unreadable"] == 1
        assert usage["files"] == 1
        assert usage["issue_samples"][0][0] == "closed"
    finally:
        subprocess.run(["rm", "-rf", os.fspath(base)], check=False)
