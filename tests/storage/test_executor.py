"""The executor on real files, attacked the ways section 3 of issue 6 lists.

Every test plans with the real planner, changes the tree the way a user (or an attacker) could
between plan and execute, runs the real executor, and checks what is left on disk. Nothing
outside the user's root may be read, changed or deleted.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from quota_service.filesystem.executor import ExecutorError, execute
from quota_service.filesystem.journal import ABSENT, DONE, KEPT, FileJournal
from quota_service.filesystem.manifest import read_entries

from .plans import append_forged_entry, home_decision, paths, plan, run, scratch_decision
from .trees import DAY_NS, Layout, layout, mount_tmpfs, put, snapshot, umount

ODD = [b"new\nline", b"bad-\xff-utf8", b"-rf", b"--no-preserve-root", b"*", b" "]


@pytest.fixture
def lay(tmp_path: Path) -> Layout:
    lay = layout(tmp_path, ["alice", "bob"])
    put(lay.outside / "precious", b"P" * 100, age_days=100)
    put(lay.home("bob") / "thesis.tex", b"B" * 100, age_days=100)
    put(lay.scr("bob") / "old.dat", b"b" * 100, age_days=100)
    return lay


def guarded(lay: Layout) -> dict[str, object]:
    """What must survive any purge of alice: bob's trees and the outside."""
    return {
        "outside": snapshot(lay.outside),
        "bob-home": snapshot(lay.home("bob")),
        "bob-scratch": snapshot(lay.scr("bob")),
    }


def test_scratch_purge_deletes_old_files_with_odd_names_and_nothing_else(
    lay: Layout, tmp_path: Path
) -> None:
    scr = os.fsencode(lay.scr("alice"))
    for name in ODD:
        put(os.path.join(scr, b"sub", name), b"old", age_days=100)
    # Recent for the plan's clock (30 days ahead of the real one): not planned.
    put(lay.scr("alice") / "new\nline-fresh", b"keep", age_days=-25)
    os.symlink(lay.outside / "precious", lay.scr("alice") / "link-out")
    os.symlink(lay.home("bob"), lay.scr("alice") / "link-bob")
    before = guarded(lay)
    manifest, _ = plan(lay.scr("alice"), scratch_decision("alice"), tmp_path / "m")
    assert paths(manifest) == {b"sub/" + n for n in ODD}
    # Dry run first: it changes nothing.
    snap = snapshot(lay.scr("alice"))
    dry = run(manifest, dry_run=True)
    assert dry.done == len(ODD) and snapshot(lay.scr("alice")) == snap
    result = run(manifest)
    assert result.done == len(ODD) and result.kept == 0 and result.errors == 0
    left = set(os.listdir(scr))
    assert left == {b"sub", b"new\nline-fresh", b"link-out", b"link-bob"}
    assert os.listdir(os.path.join(scr, b"sub")) == []
    assert guarded(lay) == before


def test_file_swapped_for_a_symlink_after_the_plan_is_kept(lay: Layout, tmp_path: Path) -> None:
    victim = lay.scr("alice") / "data.fits"
    put(victim, b"d", age_days=100)
    manifest, _ = plan(lay.scr("alice"), scratch_decision("alice"), tmp_path / "m")
    before = guarded(lay)
    victim.unlink()
    os.symlink(lay.home("bob") / "thesis.tex", victim)
    result = run(manifest)
    assert result.done == 0 and result.kept == 1
    assert "no longer a regular file" in result.kept_samples[0][1]
    assert victim.is_symlink()
    assert guarded(lay) == before


def test_parent_directory_swapped_for_a_symlink_into_another_home_is_refused(
    lay: Layout, tmp_path: Path
) -> None:
    """The classic attack: plan sees alice/proj/thesis.tex; execute finds proj -> bob's home."""
    put(lay.scr("alice") / "proj" / "thesis.tex", b"a", age_days=100)
    manifest, _ = plan(lay.scr("alice"), scratch_decision("alice"), tmp_path / "m")
    shutil.rmtree(lay.scr("alice") / "proj")
    os.symlink(lay.home("bob"), lay.scr("alice") / "proj")
    before = guarded(lay)
    result = run(manifest)
    assert result.done == 0 and result.kept == 1
    assert "parent directory is unsafe" in result.kept_samples[0][1]
    assert guarded(lay) == before
    assert (lay.home("bob") / "thesis.tex").read_bytes() == b"B" * 100


def test_parent_directory_replaced_by_another_directory_keeps_the_new_files(
    lay: Layout, tmp_path: Path
) -> None:
    put(lay.scr("alice") / "run" / "out.dat", b"1", age_days=100)
    manifest, _ = plan(lay.scr("alice"), scratch_decision("alice"), tmp_path / "m")
    os.rename(lay.scr("alice") / "run", lay.scr("alice") / "run.old")
    put(lay.scr("alice") / "run" / "out.dat", b"2", age_days=100)
    result = run(manifest)
    assert result.kept == 1 and "replaced" in result.kept_samples[0][1]
    assert (lay.scr("alice") / "run" / "out.dat").read_bytes() == b"2"


def test_touched_read_or_modified_files_are_kept(lay: Layout, tmp_path: Path) -> None:
    s = lay.scr("alice")
    for name in ("touched", "read", "written", "chmodded", "untouched"):
        put(s / name, b"content", age_days=100)
    manifest, _ = plan(s, scratch_decision("alice"), tmp_path / "m")
    os.utime(s / "touched")  # `touch`: atime and mtime to now
    st = os.stat(s / "read")
    os.utime(s / "read", ns=(st.st_atime_ns + 10**9, st.st_mtime_ns))  # an access
    with open(s / "written", "ab") as fh:
        fh.write(b"more")
    os.chmod(s / "chmodded", 0o600)
    result = run(manifest)
    assert result.done == 1 and result.kept == 4
    assert sorted(os.listdir(s)) == ["chmodded", "read", "touched", "written"]
    reasons = dict(result.kept_samples)
    assert reasons["read"] == "read since the plan"
    assert reasons["written"] == "modified since the plan"
    assert reasons["chmodded"] == "changed (metadata) since the plan"


def test_hard_links_only_this_users_name_goes_and_foreign_links_are_never_planned(
    lay: Layout, tmp_path: Path
) -> None:
    s = lay.scr("alice")
    os.chown(lay.scr("alice"), 1000, 1000)
    # Alice's own file with two names in her scratch, and one name in her home.
    put(s / "mine", b"m", age_days=100)
    os.chown(s / "mine", 1000, 1000)
    os.link(s / "mine", lay.home("alice") / "mine-too")
    # Bob's thesis (uid 1001) hard-linked into alice's scratch.
    os.chown(lay.home("bob") / "thesis.tex", 1001, 1001)
    os.link(lay.home("bob") / "thesis.tex", s / "bobs")
    t = time.time_ns() - 100 * DAY_NS
    os.utime(s / "bobs", ns=(t, t))
    manifest, stats = plan(s, scratch_decision("alice"), tmp_path / "m")
    assert paths(manifest) == {b"mine"}
    assert stats.excluded_foreign_links == 1
    result = run(manifest)
    assert result.done == 1
    # Only the name in the scratch went; the data lives on under its other name.
    assert not (s / "mine").exists()
    assert (lay.home("alice") / "mine-too").read_bytes() == b"m"
    assert (lay.home("bob") / "thesis.tex").read_bytes() == b"B" * 100
    assert (s / "bobs").exists()


def test_a_foreign_hard_link_appearing_after_the_plan_is_kept(lay: Layout, tmp_path: Path) -> None:
    s = lay.scr("alice")
    os.chown(s, 1000, 1000)
    put(s / "x", b"x", age_days=100)
    os.chown(s / "x", 1000, 1000)
    st = os.stat(s / "x")
    manifest, _ = plan(s, scratch_decision("alice"), tmp_path / "m")
    # Now the inode is given away and linked from bob's home (its ctime changes too).
    os.chown(s / "x", 1001, 1001)
    os.link(s / "x", lay.home("bob") / "x-link")
    os.utime(s / "x", ns=(st.st_atime_ns, st.st_mtime_ns))
    result = run(manifest)
    assert result.kept == 1 and (lay.home("bob") / "x-link").exists() and (s / "x").exists()


def test_another_filesystem_in_a_home_is_never_planned_or_entered(
    lay: Layout, tmp_path: Path
) -> None:
    s = lay.scr("alice")
    mnt = s / "mnt"
    mnt.mkdir()
    put(s / "old", age_days=100)
    if not mount_tmpfs(mnt):
        pytest.skip("mount -t tmpfs is not permitted (the st_dev check is unit-tested)")
    try:
        put(mnt / "on-other-fs", b"t", age_days=100)
        manifest, stats = plan(s, scratch_decision("alice"), tmp_path / "m")
        assert paths(manifest) == {b"old"}
        assert stats.report.mounts_skipped == 1
        # A tampered manifest that names a file on the mount is refused at execute time.
        append_forged_entry(manifest, b"mnt/on-other-fs", mnt / "on-other-fs")
        result = run(manifest)
        assert result.done == 1 and result.kept == 1
        assert "another file system" in result.kept_samples[0][1]
        assert (mnt / "on-other-fs").exists()
    finally:
        umount(mnt)


def test_chmod_000_directories_do_not_stop_root_and_modes_are_untouched(
    lay: Layout, tmp_path: Path
) -> None:
    locked = lay.scr("alice") / "locked"
    put(locked / "old", age_days=100)
    os.chmod(locked, 0)
    try:
        manifest, _ = plan(lay.scr("alice"), scratch_decision("alice"), tmp_path / "m")
        result = run(manifest)
        assert result.done == 1
        assert os.stat(locked).st_mode & 0o777 == 0
    finally:
        os.chmod(locked, 0o755)


def test_not_before_the_notice_lead_time(lay: Layout, tmp_path: Path) -> None:
    put(lay.scr("alice") / "old", age_days=100)
    now = time.time_ns()
    manifest, _ = plan(
        lay.scr("alice"),
        scratch_decision("alice"),
        tmp_path / "m",
        now_ns=now + 30 * DAY_NS,
        not_before_ns=now + 7 * DAY_NS,
    )
    with pytest.raises(ExecutorError, match="lead time"):
        run(manifest, now_ns=now)
    assert (lay.scr("alice") / "old").exists()
    assert run(manifest, now_ns=now + 7 * DAY_NS).done == 1


def test_a_root_replaced_since_the_plan_is_refused(lay: Layout, tmp_path: Path) -> None:
    put(lay.scr("alice") / "old", age_days=100)
    manifest, _ = plan(lay.scr("alice"), scratch_decision("alice"), tmp_path / "m")
    os.rename(lay.scr("alice"), lay.scratch / "alice.moved")
    os.symlink(lay.home("bob"), lay.scr("alice"))
    with pytest.raises(ExecutorError):
        run(manifest)
    os.unlink(lay.scr("alice"))
    os.mkdir(lay.scr("alice"))
    with pytest.raises(ExecutorError, match="not the directory that was planned"):
        run(manifest)


def test_crash_and_rerun_finishes_the_plan_without_redoing_steps(
    lay: Layout, tmp_path: Path
) -> None:
    s = lay.scr("alice")
    for i in range(50):
        put(s / f"d{i % 4}" / f"f{i}", b"x", age_days=100)
    manifest, _ = plan(s, scratch_decision("alice"), tmp_path / "m")
    first = run(manifest, stop_after=20)  # as if killed after 20 deletions
    assert first.done == 20
    # A crash can also leave a torn journal line behind.
    with open(manifest.with_suffix(".journal"), "ab") as fh:
        fh.write(b'{"seq": 4')
    second = run(manifest)
    assert second.already_done == 20 and second.done == 30 and second.errors == 0
    assert sum(len(os.listdir(s / f"d{i}")) for i in range(4)) == 0
    steps = FileJournal(manifest.with_suffix(".journal")).load()
    assert {st.state for st in steps.values()} == {DONE} and len(steps) == 50
    third = run(manifest)
    assert third.done == 0 and third.already_done == 50


def test_a_deletion_lost_in_the_crash_is_found_absent_on_rerun(lay: Layout, tmp_path: Path) -> None:
    s = lay.scr("alice")
    put(s / "a", age_days=100)
    put(s / "b", age_days=100)
    manifest, _ = plan(s, scratch_decision("alice"), tmp_path / "m")
    (s / "a").unlink()  # deleted, but the journal never heard of it
    result = run(manifest)
    assert result.absent == 1 and result.done == 1
    states = {
        st.seq: st.state for st in FileJournal(manifest.with_suffix(".journal")).load().values()
    }
    assert sorted(states.values()) == sorted([ABSENT, DONE])


def test_home_removal_keeps_directories_that_hold_kept_files(lay: Layout, tmp_path: Path) -> None:
    """Symlink and directory entries of a home archive, without S3 (no files to upload)."""
    h = lay.home("alice")
    (h / "a" / "b").mkdir(parents=True)
    (h / "c").mkdir()
    os.symlink(lay.outside / "precious", h / "a" / "b" / "out-link")
    os.symlink("relative/target", h / "c" / "rel")
    manifest, _ = plan(h, home_decision("alice"), tmp_path / "m")
    kinds = sorted(e.kind for e in read_entries(manifest))
    assert kinds == ["dir", "dir", "dir", "symlink", "symlink"]
    os.symlink("new", h / "c" / "added-after-plan")
    before = guarded(lay)
    result = run(manifest)
    assert result.errors == 0
    assert sorted(os.listdir(h)) == ["c"] and os.listdir(h / "c") == ["added-after-plan"]
    assert any("not empty" in why for _p, why in result.kept_samples)
    assert guarded(lay) == before


def test_journal_interface_reports_kept_for_good(lay: Layout, tmp_path: Path) -> None:
    put(lay.scr("alice") / "f", age_days=100)
    manifest, _ = plan(lay.scr("alice"), scratch_decision("alice"), tmp_path / "m")
    os.utime(lay.scr("alice") / "f")
    journal = FileJournal(tmp_path / "j.jsonl")
    assert execute(manifest, journal, dry_run=False).kept == 1
    steps = FileJournal(tmp_path / "j.jsonl").load()
    assert [s.state for s in steps.values()] == [KEPT]
    # Kept is final for this manifest: a rerun does not look at the file again.
    assert execute(manifest, FileJournal(tmp_path / "j.jsonl"), dry_run=False).already_done == 1
