"""Team folders on disk: `<root>/<team_dir>`, owned root:<gid>, mode 0o3770.

setgid makes every file and folder created inside belong to the team's group; the sticky bit
keeps members from deleting or renaming each other's files at the top level; `rwxrwx---`
keeps everyone else out (they cannot list or enter). Lab servers run with umask 0002, so what
members create below the top level is group-writable.

It runs as root across every team's folder, so it never follows a symbolic link: the root is
opened with O_DIRECTORY|O_NOFOLLOW, each team folder is created and then opened relative to it
with O_NOFOLLOW, and ownership and mode are set through that descriptor (`fchown`, `fchmod`).
A team folder that is a symlink or not a directory is refused, not changed. It never deletes
or moves anything: leaving a team, or the team's removal, is not its business.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from hub_config.teamdirs import is_team_dir

TEAM_MODE = 0o3770  # setgid + sticky + rwxrwx---
OWNER_UID = 0


class TeamFolderError(Exception):
    """A team folder cannot be made safely; the message names the folder and why."""


class TeamsRootError(TeamFolderError):
    """The teams root is missing or not a directory: no team folder can be made."""


@dataclass(frozen=True)
class TeamFolder:
    team_dir: str
    gid: int


@dataclass(frozen=True)
class Provisioned:
    team_dir: str
    gid: int
    action: str  # "created", "fixed" (owner or mode set), "ok" (already right)


def _open_root(root: Path) -> int:
    try:
        return os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise TeamsRootError(f"the teams root {root} does not exist") from None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise TeamsRootError(f"the teams root {root} is not a directory") from None
        raise


def ensure_team_folder(
    root: Path, team: TeamFolder, *, owner_uid: int = OWNER_UID, create_root: bool = False
) -> Provisioned:
    """Create `<root>/<team_dir>` if missing and give it owner `owner_uid`, group `gid`, mode
    0o3770. Idempotent.

    Raises:
        TeamFolderError: the name is not one `teamdirs` makes, the root is missing (and
            `create_root` is false) or not a directory, or the team folder is a symlink or
            not a directory.
    """
    if not is_team_dir(team.team_dir):
        raise TeamFolderError(f"{team.team_dir!r} is not a team folder name")
    if team.gid <= 0:
        raise TeamFolderError(f"{team.team_dir}: gid {team.gid} is not a team's group")
    if create_root and not os.path.lexists(root):
        root.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chmod(root, 0o755)  # noqa: S103 - whatever the umask, every member passes through it
    root_fd = _open_root(root)
    try:
        return _ensure_in(root_fd, root, team, owner_uid)
    finally:
        os.close(root_fd)


def _ensure_in(root_fd: int, root: Path, team: TeamFolder, owner_uid: int) -> Provisioned:
    where = root / team.team_dir
    created = False
    try:
        # 0o700 until owner, group and mode are set: nobody gets in through a half-made folder.
        os.mkdir(team.team_dir, 0o700, dir_fd=root_fd)
        created = True
    except FileExistsError:
        pass
    try:
        fd = os.open(
            team.team_dir,
            os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
            dir_fd=root_fd,
        )
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            kind = "a symbolic link" if os.path.islink(where) else "not a directory"
            raise TeamFolderError(f"{where} is {kind}: refused, left as it is") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISDIR(st.st_mode):  # pragma: no cover - O_DIRECTORY guarantees it
            raise TeamFolderError(f"{where} is not a directory: refused")
        changed = False
        if (st.st_uid, st.st_gid) != (owner_uid, team.gid):
            os.fchown(fd, owner_uid, team.gid)
            changed = True
        # chown clears setgid on some systems: set the mode after the owner, and check it.
        if stat.S_IMODE(os.fstat(fd).st_mode) != TEAM_MODE:
            os.fchmod(fd, TEAM_MODE)
            changed = True
    finally:
        os.close(fd)
    action = "created" if created else ("fixed" if changed else "ok")
    return Provisioned(team.team_dir, team.gid, action)


def ensure_team_folders(
    root: Path, teams: list[TeamFolder], *, owner_uid: int = OWNER_UID, create_root: bool = False
) -> tuple[list[Provisioned], list[str]]:
    """Every team's folder; a refused one is reported and the others still made."""
    done: list[Provisioned] = []
    refused: list[str] = []
    for team in teams:
        try:
            done.append(
                ensure_team_folder(root, team, owner_uid=owner_uid, create_root=create_root)
            )
        except TeamsRootError:
            raise
        except TeamFolderError as exc:
            refused.append(str(exc))
        except PermissionError as exc:
            refused.append(
                f"{root / team.team_dir}: {exc.strerror}: setting owner root and group "
                f"{team.gid} needs root on the file system (docs/deploy.md)"
            )
    return done, refused
