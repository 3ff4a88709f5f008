"""Put a `SpawnPlan` onto a spawner: KubeSpawner in Kubernetes, a local process spawner in dev."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any, Protocol

from . import builders
from .builders import LocalLayout, SpawnPlan
from .settings import HubSettings

NOTICE_FILE = "NEXUS-NOTICE.txt"
LAB_UMASK = 0o002


class StorageApplier(Protocol):
    def apply(self, spawner: Any, plan: SpawnPlan) -> None: ...


def apply_common(spawner: Any, plan: SpawnPlan, settings: HubSettings) -> None:
    """Limits, guarantees and environment: the same for every spawner."""
    for name, value in builders.resources(plan.size).items():
        setattr(spawner, name, value)
    env = dict(spawner.environment)
    env.update(builders.environment(plan, settings.quota_public_path))
    spawner.environment = env


class KubeApplier:
    """KubeSpawner: scheduling, labels and EFS volumes for the size."""

    def __init__(self, settings: HubSettings) -> None:
        self.settings = settings

    def apply(self, spawner: Any, plan: SpawnPlan) -> None:
        apply_common(spawner, plan, self.settings)
        if plan.image:
            # The chosen release's user image (fail-open keeps the chart's default image).
            spawner.image = plan.image
        spawner.node_selector = dict(plan.size.node_selector)
        spawner.tolerations = merge_tolerations(
            entries(spawner.tolerations), builders.tolerations(plan.size)
        )
        extra = dict(spawner.extra_labels)
        extra.update(builders.labels(plan))
        spawner.extra_labels = extra
        volumes, mounts = builders.kube_volumes(self.settings, plan.username)
        team_volumes, team_mounts = builders.team_volumes(self.settings, plan.teams)
        # The spawner outlives a stop: a team left since the last start loses its mount.
        current = [
            m for m in entries(spawner.volume_mounts) if not self._team_mount(m.get("mountPath"))
        ]
        spawner.volumes, spawner.volume_mounts = merge_volumes(
            entries(spawner.volumes), current, volumes + team_volumes, mounts + team_mounts
        )
        for name, value in builders.identity(self.settings, plan).items():
            setattr(spawner, name, value)
        env = dict(spawner.environment)
        env["SCRATCH_DIR"] = self.settings.scratch_mount_path
        spawner.environment = env

    def _team_mount(self, path: Any) -> bool:
        return isinstance(path, str) and path.startswith(self.settings.teams_mount_path + "/")


def entries(value: Any) -> list[dict[str, Any]]:
    """KubeSpawner's list-or-dict traits as a list (z2jh hands over dicts, sorted by key)."""
    if isinstance(value, dict):
        return [dict(value[key]) for key in sorted(value)]
    return [dict(item) for item in value or []]


def merge_volumes(
    volumes: list[dict[str, Any]],
    mounts: list[dict[str, Any]],
    ours: list[dict[str, Any]],
    our_mounts: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Add our claims and mounts to what the chart configured, one volume per claim.

    A claim the chart already mounts keeps the chart's volume name; a mount on one of our
    paths (z2jh's own home mount, for example) is replaced by ours.
    """
    by_claim = {
        str(v["persistentVolumeClaim"]["claimName"]): str(v["name"])
        for v in volumes
        if isinstance(v.get("persistentVolumeClaim"), dict)
    }
    rename: dict[str, str] = {}
    merged = list(volumes)
    for volume in ours:
        claim = volume["persistentVolumeClaim"]["claimName"]
        if claim in by_claim:
            rename[volume["name"]] = by_claim[claim]
        else:
            merged.append(volume)
            by_claim[claim] = volume["name"]
    paths = {m["mountPath"] for m in our_mounts}
    kept = [m for m in mounts if m.get("mountPath") not in paths]
    added = [{**m, "name": rename.get(m["name"], m["name"])} for m in our_mounts]
    return merged, [*kept, *added]


def merge_tolerations(
    existing: list[dict[str, Any]], ours: list[dict[str, str]]
) -> list[dict[str, Any]]:
    """The size's tolerations added to the chart's (z2jh's user-pod tolerations stay)."""
    merged = list(existing)
    for toleration in ours:
        if toleration not in merged:
            merged.append(toleration)
    return merged


class LocalApplier:
    """Local process spawner: directories under the state dir stand in for EFS."""

    def __init__(self, settings: HubSettings) -> None:
        self.settings = settings

    def apply(self, spawner: Any, plan: SpawnPlan) -> None:
        apply_common(spawner, plan, self.settings)
        layout = builders.local_layout(self.settings, plan.username, plan.teams)
        prepare_local_home(layout, plan.notice)
        link_team_folders(layout)
        if hasattr(spawner, "home_dir"):
            spawner.home_dir = str(layout.home)
        if hasattr(spawner, "popen_kwargs"):
            # Lab servers make group-writable files, as the user image's start-up hook does,
            # so what members create in a team folder stays writable by the team.
            spawner.popen_kwargs = {**spawner.popen_kwargs, "umask": LAB_UMASK}
        env = dict(spawner.environment)
        env["SCRATCH_DIR"] = str(layout.scratch)
        if layout.tutorials_source is not None:
            env["NEXUS_TUTORIALS_DIR"] = str(layout.home / "tutorials")
        spawner.environment = env


def prepare_local_home(layout: LocalLayout, notice: str | None) -> None:
    """Create home and scratch, link `~/scratch` and a read-only copy of the tutorials."""
    layout.home.mkdir(parents=True, exist_ok=True)
    layout.scratch.mkdir(parents=True, exist_ok=True)
    _ensure_symlink(layout.home / "scratch", layout.scratch)
    if layout.tutorials_source is not None and layout.tutorials_source.is_dir():
        refresh_readonly_copy(layout.tutorials_source, layout.tutorials_copy)
        _ensure_symlink(layout.home / "tutorials", layout.tutorials_copy)
    notice_path = layout.home / NOTICE_FILE
    if notice:
        notice_path.write_text(notice + "\n")
    elif notice_path.is_file() and not notice_path.is_symlink():
        notice_path.unlink()


TEAMS_LINKS = "teams"


def link_team_folders(layout: LocalLayout) -> None:
    """`~/teams/<team_dir>` links to `<teams root>/<team_dir>` for the person's current teams;
    links into the teams root for teams they left are removed (never their files, never
    anything that is not such a link). A `~/teams` that is not a plain folder is left alone."""
    if layout.teams_root is None:
        return
    links = layout.home / TEAMS_LINKS
    if not layout.team_dirs and not links.is_dir():
        return
    if links.is_symlink() or (links.exists() and not links.is_dir()):
        return
    links.mkdir(mode=0o755, exist_ok=True)
    # A team whose folder is not made yet (`nexus-quota teams sync`) gets its link at a later
    # start, not a dangling one now.
    wanted = {d for d in layout.team_dirs if (layout.teams_root / d).is_dir()}
    for entry in os.scandir(links):
        if entry.is_symlink() and entry.name not in wanted:
            target = Path(os.readlink(entry.path))
            if target.parent == layout.teams_root:
                os.unlink(entry.path)
    for team_dir in sorted(wanted):
        _ensure_symlink(links / team_dir, layout.teams_root / team_dir)


def _ensure_symlink(link: Path, target: Path) -> None:
    if link.is_symlink():
        if Path(os.readlink(link)) == target:
            return
        link.unlink()
    elif link.exists():
        # A real file or directory of the user's own: never replace it.
        return
    link.symlink_to(target, target_is_directory=True)


def _fingerprint(source: Path) -> str:
    entries = []
    for root, _dirs, files in os.walk(source):
        for name in sorted(files):
            st = os.stat(os.path.join(root, name))
            rel = os.path.relpath(os.path.join(root, name), source)
            entries.append(f"{rel}\t{st.st_size}\t{st.st_mtime_ns}")
    return "\n".join(sorted(entries))


def refresh_readonly_copy(source: Path, dest: Path) -> None:
    """Copy `source` to `dest` (files 0444, dirs 0555) unless the copy is already current."""
    stamp = dest.with_name(dest.name + ".fingerprint")
    fingerprint = _fingerprint(source)
    if dest.is_dir() and stamp.is_file() and stamp.read_text() == fingerprint:
        return
    if dest.exists():
        _make_writable(dest)
        shutil.rmtree(dest)
    shutil.copytree(source, dest, symlinks=False)
    for root, dirs, files in os.walk(dest):
        for name in files:
            os.chmod(os.path.join(root, name), 0o444)
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o555)  # noqa: S103 - read-only for everyone, on purpose
    os.chmod(dest, 0o555)  # noqa: S103 - read-only for everyone, on purpose
    stamp.write_text(fingerprint)


def _make_writable(path: Path) -> None:
    os.chmod(path, os.stat(path).st_mode | stat.S_IWUSR | stat.S_IXUSR)
    for root, dirs, _files in os.walk(path):
        for name in dirs:
            p = os.path.join(root, name)
            os.chmod(p, os.stat(p).st_mode | stat.S_IWUSR | stat.S_IXUSR)
