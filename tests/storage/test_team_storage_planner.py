"""The planner on a removed team's folder (pure decision + a real walk of chowned files): the
whole folder is archived, symlinks are recorded and never followed, and hard-linked files are
left in place (the purge's rule for links another uid owns: in a team folder, owned by root,
every member's file is such a file once it has a second link)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from quota_service.filesystem.manifest import ARCHIVE, HOME_ALLOCATION_ENDED, RMDIR
from quota_service.filesystem.planner import decide_team
from quota_service.filesystem.scanner import TEAM

from .plans import entries, plan
from .trees import put

UID, GID = 200_007, 60_003


def test_a_removed_teams_folder_is_planned_whole_except_hard_links(tmp_path: Path) -> None:
    decision = decide_team("lab-a", "Lab A", datetime(2026, 12, 1, tzinfo=UTC))
    assert (decision.user, decision.area, decision.reason) == ("lab-a", TEAM, HOME_ALLOCATION_ENDED)
    assert decision.why == "consortium Lab A was removed on 2026-12-01"
    folder = tmp_path / "teams" / "lab-a"
    folder.mkdir(parents=True)
    os.chown(folder, 0, GID)
    os.chmod(folder, 0o3770)
    outside = tmp_path / "outside.dat"
    put(outside, b"o" * 9000)
    for rel, data in (("notes.md", b"n" * 300), ("run/out.fits", b"f" * 7000)):
        put(folder / rel, data)
        os.chown(folder / rel, UID, GID)
    os.chown(folder / "run", UID, GID)
    put(folder / "linked.bin", b"l" * 100)
    os.chown(folder / "linked.bin", UID, GID)
    os.link(folder / "linked.bin", folder / "run" / "linked-again.bin")
    os.symlink(outside, folder / "to-outside")
    out = tmp_path / "plans"
    out.mkdir()
    manifest, stats = plan(folder, decision, out, prefix="archive/teams/")
    got = {(e.path, e.kind, e.action) for e in entries(manifest)}
    assert got == {
        (b"notes.md", "file", ARCHIVE),
        (b"run/out.fits", "file", ARCHIVE),
        (b"to-outside", "symlink", ARCHIVE),
        (b"run", "dir", RMDIR),
    }
    assert (stats.files, stats.bytes, stats.excluded_foreign_links) == (2, 7300, 2)
    keys = {e.archive_key for e in entries(manifest) if e.kind == "file"}
    assert all(k is not None and k.startswith("archive/teams/lab-2da/") for k in keys)
