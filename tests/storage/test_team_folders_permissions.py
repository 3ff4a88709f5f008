"""Team folders on real files, used as the notebook uids would use them (issue 17 part 2).

`quota_service.filesystem.teams` makes `<root>/<team_dir>` owned root:<gid>, mode 0o3770; then
each person acts in a child process that drops to their uid, primary gid 100 and supplementary
groups (their teams' gids), with the lab servers' umask 0002, exactly as a pod's
`runAsUser` / `runAsGroup` / `supplementalGroups` do. The machine runs the tests as root, which
the kernel lets do anything, so every check of the permission model runs in such a child.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from quota_service.filesystem.teams import (
    TEAM_MODE,
    TeamFolder,
    TeamFolderError,
    TeamsRootError,
    ensure_team_folder,
    ensure_team_folders,
)

NOTEBOOK_GID = 100
TEAM_GID = 60007
OTHER_GID = 60008
ALICE = (200011, [TEAM_GID])
BOB = (200012, [TEAM_GID, OTHER_GID])
EVE = (200013, [OTHER_GID])  # in another team, not this one

# The child: drop to (uid, 100, groups), umask 0002, then run one action and print the result.
CHILD = r"""
import json, os, sys
uid, groups, action, path, extra = json.loads(sys.argv[1])
os.setgroups(groups)
os.setgid(100)
os.setuid(uid)
os.umask(0o002)
try:
    if action == "write":
        with open(path, "w") as f:
            f.write(extra or "x")
        result = "ok"
    elif action == "append":
        with open(path, "a") as f:
            f.write(extra)
        result = "ok"
    elif action == "mkdir":
        os.mkdir(path)
        result = "ok"
    elif action == "unlink":
        os.unlink(path)
        result = "ok"
    elif action == "rmdir":
        os.rmdir(path)
        result = "ok"
    elif action == "rename":
        os.rename(path, extra)
        result = "ok"
    elif action == "list":
        result = sorted(os.listdir(path))
    elif action == "chdir":
        os.chdir(path)
        result = "ok"
    elif action == "read":
        with open(path) as f:
            result = f.read()
    else:
        raise SystemExit("unknown action " + action)
except OSError as exc:
    result = "errno:" + str(exc.errno)
print(json.dumps(result))
"""


def as_person(person: tuple[int, list[int]], action: str, path: Path, extra: str = "") -> object:
    uid, groups = person
    args = json.dumps([uid, [NOTEBOOK_GID, *groups], action, str(path), extra])
    done = subprocess.run(
        [sys.executable, "-c", CHILD, args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


DENIED = f"errno:{errno.EACCES}"
NOT_PERMITTED = f"errno:{errno.EPERM}"


@pytest.fixture
def root() -> Iterator[Path]:
    """A teams root every uid can reach (pytest's own tmp folders are root's 0700)."""
    base = Path(tempfile.mkdtemp(prefix="nexus-teams-"))
    os.chmod(base, 0o755)
    teams = base / "teams"
    teams.mkdir(mode=0o755)
    try:
        yield teams
    finally:
        shutil.rmtree(base)


@pytest.fixture
def team(root: Path) -> Path:
    done = ensure_team_folder(root, TeamFolder("galaxies", TEAM_GID))
    assert done.action == "created"
    return root / "galaxies"


def test_the_folder_is_root_owned_team_grouped_setgid_and_sticky(team: Path) -> None:
    st = os.lstat(team)
    assert (st.st_uid, st.st_gid) == (0, TEAM_GID)
    assert stat.S_IMODE(st.st_mode) == TEAM_MODE == 0o3770
    assert st.st_mode & stat.S_ISGID and st.st_mode & stat.S_ISVTX


def test_members_share_subfolders_but_not_each_others_top_level_files(team: Path) -> None:
    notes, shared = team / "alice-notes.txt", team / "shared"
    assert as_person(ALICE, "write", notes, "alice's") == "ok"
    assert as_person(ALICE, "mkdir", shared) == "ok"
    # setgid: both belong to the team's group; umask 0002: both are group-writable.
    for path, mode in ((notes, 0o664), (shared, 0o2775)):
        st = os.lstat(path)
        assert (st.st_uid, st.st_gid) == (ALICE[0], TEAM_GID), path
        assert stat.S_IMODE(st.st_mode) == mode, (path, oct(st.st_mode))
    # Another member writes in the shared subfolder, and alice can remove what bob made there.
    assert as_person(BOB, "write", shared / "bob.fits", "bob's") == "ok"
    assert os.lstat(shared / "bob.fits").st_gid == TEAM_GID
    assert as_person(BOB, "list", team) == ["alice-notes.txt", "shared"]
    assert as_person(BOB, "read", notes) == "alice's"
    # The sticky top level: bob can neither delete nor rename alice's file or folder.
    assert as_person(BOB, "unlink", notes) == NOT_PERMITTED
    assert as_person(BOB, "rename", notes, str(team / "mine.txt")) == NOT_PERMITTED
    assert as_person(BOB, "rename", shared, str(team / "bobs")) == NOT_PERMITTED
    assert notes.read_text() == "alice's" and shared.is_dir()
    # His own top-level file he may create and delete.
    assert as_person(BOB, "write", team / "bob.txt") == "ok"
    assert as_person(BOB, "unlink", team / "bob.txt") == "ok"
    # Alice deletes her own.
    assert as_person(ALICE, "unlink", notes) == "ok"


def test_a_non_member_cannot_list_enter_or_read(team: Path) -> None:
    assert as_person(ALICE, "write", team / "plan.txt", "secret") == "ok"
    assert as_person(ALICE, "mkdir", team / "data") == "ok"
    assert as_person(EVE, "list", team) == DENIED
    assert as_person(EVE, "chdir", team) == DENIED
    assert as_person(EVE, "read", team / "plan.txt") == DENIED
    assert as_person(EVE, "write", team / "data" / "x") == DENIED
    assert as_person(EVE, "write", team / "eve.txt") == DENIED
    assert sorted(os.listdir(team)) == ["data", "plan.txt"]


def test_leaving_means_no_access_and_no_deletion(team: Path) -> None:
    """Leaving drops the team's gid from the next server's groups; the files stay."""
    assert as_person(ALICE, "write", team / "kept.txt", "mine") == "ok"
    alice_after_leaving: tuple[int, list[int]] = (ALICE[0], [])
    assert as_person(alice_after_leaving, "list", team) == DENIED
    assert (team / "kept.txt").read_text() == "mine"
    assert os.lstat(team / "kept.txt").st_uid == ALICE[0]


def test_sync_is_idempotent_and_repairs_owner_and_mode(root: Path, team: Path) -> None:
    assert ensure_team_folder(root, TeamFolder("galaxies", TEAM_GID)).action == "ok"
    # kubelet would make a missing subPath root:root 0755: sync turns it into a team folder.
    os.chown(team, 0, 0)
    os.chmod(team, 0o755)
    assert ensure_team_folder(root, TeamFolder("galaxies", TEAM_GID)).action == "fixed"
    st = os.lstat(team)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, TEAM_GID, TEAM_MODE)


def test_a_symlinked_team_folder_is_refused_and_its_target_left_alone(root: Path) -> None:
    target = root.parent / "elsewhere"
    target.mkdir(mode=0o700)
    (root / "stars").symlink_to(target)
    with pytest.raises(TeamFolderError, match="symbolic link"):
        ensure_team_folder(root, TeamFolder("stars", TEAM_GID))
    st = os.lstat(target)
    assert (st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0o700)
    # A plain file in the way is refused too; the other teams are still made.
    (root / "plain").write_text("not a folder")
    done, refused = ensure_team_folders(
        root,
        [TeamFolder("stars", TEAM_GID), TeamFolder("plain", OTHER_GID), TeamFolder("ok", 60009)],
    )
    assert [d.team_dir for d in done] == ["ok"]
    assert len(refused) == 2 and "symbolic link" in refused[0] and "not a directory" in refused[1]
    assert (root / "plain").read_text() == "not a folder"


def test_a_symlinked_root_is_refused(root: Path) -> None:
    link = root.parent / "teams-link"
    link.symlink_to(root)
    with pytest.raises(TeamsRootError, match="not a directory"):
        ensure_team_folder(link, TeamFolder("galaxies", TEAM_GID))
    with pytest.raises(TeamsRootError, match="does not exist"):
        ensure_team_folder(root.parent / "absent", TeamFolder("galaxies", TEAM_GID))
    assert not (root / "galaxies").exists()


@pytest.mark.parametrize("bad", ["../x", "a/b", "Galaxies", "", ".", "a--b"])
def test_a_name_the_rule_never_makes_is_refused(root: Path, bad: str) -> None:
    with pytest.raises(TeamFolderError, match="not a team folder name"):
        ensure_team_folder(root, TeamFolder(bad, TEAM_GID))
    assert os.listdir(root) == []
