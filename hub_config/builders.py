"""Pure builders: what a spawn decision means for a server, apart from any I/O.

`SpawnPlan` is built from an allowed decision (or from the fail-open fallback size); the
functions below turn it into resources, scheduling, labels, environment and volumes. The
appliers in `hub_config.apply` put those onto a KubeSpawner or a local spawner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .quota_client import Size, SpawnAllowed, Team, Toleration
from .settings import FallbackSize, HubSettings
from .teamdirs import is_team_dir
from .userdirs import directory_name

LABEL_TIER = "nexus/tier"
LABEL_ALLOCATION = "nexus/allocation"
LABEL_SIZE = "nexus/size"
GIB = 1024**3


@dataclass(frozen=True)
class SpawnPlan:
    """Everything the hook applies to one server."""

    username: str
    server_name: str
    size: Size
    tier: str
    allocation: str  # the allocation id, or "none" when the quota service was unreachable
    allocation_label: str
    session_id: int | None = None
    cleanup_mode: bool = False
    fail_open: bool = False
    notice: str | None = None
    cpu_hours_left: float | None = None
    idle_cull_hours: float | None = None
    max_session_hours: float | None = None
    home_soft_bytes: int | None = None
    home_hard_bytes: int | None = None
    scratch_retention_days: int | None = None
    # The environment release the decision names (None: fail-open, or a policy without
    # releases): its id and the user image KubeSpawner runs.
    release: str | None = None
    release_name: str | None = None
    image: str | None = None
    # The person's POSIX uid (None: fail-open, or a service without team folders) and the
    # teams whose folders the server mounts.
    uid: int | None = None
    teams: tuple[Team, ...] = ()
    extra_env: dict[str, str] = field(default_factory=dict)


def plan_from_decision(username: str, server_name: str, decision: SpawnAllowed) -> SpawnPlan:
    return SpawnPlan(
        username=username,
        server_name=server_name,
        size=decision.size,
        tier=decision.tier,
        allocation=str(decision.allocation_id),
        allocation_label=decision.allocation_label,
        session_id=decision.session_id,
        cleanup_mode=decision.cleanup_mode,
        notice=decision.notice,
        cpu_hours_left=decision.cpu_hours_left,
        idle_cull_hours=decision.idle_cull_hours,
        max_session_hours=decision.max_session_hours,
        home_soft_bytes=decision.home_soft_bytes,
        home_hard_bytes=decision.home_hard_bytes,
        scratch_retention_days=decision.scratch_retention_days,
        release=decision.release.id if decision.release else None,
        release_name=decision.release.display_name if decision.release else None,
        image=decision.release.image if decision.release else None,
        uid=decision.uid,
        teams=safe_teams(decision.teams),
    )


def safe_teams(teams: list[Team]) -> tuple[Team, ...]:
    """The teams whose folder name is one `teamdirs` makes and whose gid is a real group, each
    once: a path is never built from anything else."""
    seen: set[str] = set()
    kept = []
    for team in teams:
        if is_team_dir(team.team_dir) and team.gid > 0 and team.team_dir not in seen:
            seen.add(team.team_dir)
            kept.append(team)
    return tuple(kept)


FAIL_OPEN_NOTICE = (
    "The quota service could not be reached, so this server runs with Entry limits "
    "and its usage is not yet recorded."
)


def fallback_size(fallback: FallbackSize) -> Size:
    return Size(
        name=fallback.name,
        display_name=fallback.display_name,
        description=fallback.description,
        cpu_limit=fallback.cpu_limit,
        cpu_guarantee=fallback.cpu_guarantee,
        mem_limit_bytes=fallback.mem_limit_bytes,
        mem_guarantee_bytes=fallback.mem_guarantee_bytes,
        cpu_hours_per_hour=fallback.cpu_limit,
        node_selector=dict(fallback.node_selector),
        tolerations=[Toleration(**t.model_dump()) for t in fallback.tolerations],
    )


def fail_open_plan(username: str, server_name: str, fallback: FallbackSize) -> SpawnPlan:
    """The plan when the quota service is unreachable and the fail mode is open."""
    return SpawnPlan(
        username=username,
        server_name=server_name,
        size=fallback_size(fallback),
        tier="entry",
        allocation="none",
        allocation_label="Entry (quota service unreachable)",
        fail_open=True,
        notice=FAIL_OPEN_NOTICE,
        idle_cull_hours=fallback.idle_cull_hours,
        max_session_hours=fallback.max_session_hours,
    )


def resources(size: Size) -> dict[str, Any]:
    """CPU and memory limits and guarantees, as Spawner trait values."""
    return {
        "cpu_limit": float(size.cpu_limit),
        "cpu_guarantee": float(size.cpu_guarantee),
        "mem_limit": int(size.mem_limit_bytes),
        "mem_guarantee": int(size.mem_guarantee_bytes),
    }


def tolerations(size: Size) -> list[dict[str, str]]:
    """Kubernetes tolerations for the size, without empty keys."""
    return [{k: v for k, v in t.model_dump().items() if v is not None} for t in size.tolerations]


def labels(plan: SpawnPlan) -> dict[str, str]:
    """Pod labels for cost attribution."""
    return {LABEL_TIER: plan.tier, LABEL_ALLOCATION: plan.allocation, LABEL_SIZE: plan.size.name}


def _fmt(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def environment(plan: SpawnPlan, quota_public_path: str) -> dict[str, str]:
    """Environment variables the user's server gets: tier, allocation and quota figures."""
    env = {
        "NEXUS_TIER": plan.tier,
        "NEXUS_ALLOCATION_ID": plan.allocation,
        "NEXUS_ALLOCATION_LABEL": plan.allocation_label,
        "NEXUS_SIZE": plan.size.name,
        "NEXUS_CPU_LIMIT": _fmt(plan.size.cpu_limit),
        "NEXUS_MEM_LIMIT_BYTES": _fmt(plan.size.mem_limit_bytes),
        "NEXUS_CPU_HOURS_PER_HOUR": _fmt(plan.size.cpu_hours_per_hour),
        "NEXUS_CPU_HOURS_LEFT": _fmt(plan.cpu_hours_left),
        "NEXUS_IDLE_CULL_HOURS": _fmt(plan.idle_cull_hours),
        "NEXUS_MAX_SESSION_HOURS": _fmt(plan.max_session_hours),
        "NEXUS_HOME_QUOTA_SOFT_BYTES": _fmt(plan.home_soft_bytes),
        "NEXUS_HOME_QUOTA_HARD_BYTES": _fmt(plan.home_hard_bytes),
        "NEXUS_SCRATCH_RETENTION_DAYS": _fmt(plan.scratch_retention_days),
        "NEXUS_CLEANUP_MODE": "1" if plan.cleanup_mode else "0",
        "NEXUS_QUOTA_FAIL_OPEN": "1" if plan.fail_open else "0",
        "NEXUS_NOTICE": plan.notice or "",
        "NEXUS_QUOTA_URL": quota_public_path,
        "NEXUS_RELEASE": plan.release or "",
        "NEXUS_RELEASE_NAME": plan.release_name or "",
    }
    env.update(plan.extra_env)
    return env


EFS_VOLUME = "nexus-efs"


def kube_volumes(
    settings: HubSettings, username: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """EFS volumes and mounts: home and scratch at literal per-person subPaths.

    One volume per claim (kubelet before 1.35 never starts a pod that mounts one claim through
    two volumes). The subPaths come from `userdirs.directory_name`, the rule the storage jobs
    use, not from KubeSpawner's `{username}` expansion.
    """
    directory = directory_name(username)
    claims = {settings.home_pvc_name: EFS_VOLUME}
    scratch_claim = settings.scratch_pvc_name or settings.home_pvc_name
    claims.setdefault(scratch_claim, "nexus-scratch")
    volumes = [
        {"name": name, "persistentVolumeClaim": {"claimName": claim}}
        for claim, name in claims.items()
    ]
    mounts: list[dict[str, Any]] = [
        {
            "name": claims[settings.home_pvc_name],
            "mountPath": settings.home_mount_path,
            "subPath": f"{settings.home_subdir}/{directory}",
        },
        {
            "name": claims[scratch_claim],
            "mountPath": settings.scratch_mount_path,
            "subPath": f"{settings.scratch_subdir}/{directory}",
        },
    ]
    shared = [
        # The tutorials CronJob's trees, over the image's own copy; the CRDS cache CronJob's
        # cache, where the kernels' CRDS_PATH points. Both read-only.
        (settings.tutorials_subdir, settings.tutorials_mount_path),
        (settings.crds_subdir, settings.crds_mount_path),
    ]
    for subdir, mount_path in shared:
        if subdir:
            mounts.append(
                {
                    "name": claims[settings.home_pvc_name],
                    "mountPath": mount_path,
                    "subPath": subdir,
                    "readOnly": True,
                }
            )
    return volumes, mounts


TEAMS_VOLUME = "nexus-teams"


def team_volumes(
    settings: HubSettings, teams: tuple[Team, ...]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The teams claim and one mount per team: `<teams_subdir>/<team_dir>` at
    `<teams_mount_path>/<team_dir>`. Nothing when team folders are off or there are no teams."""
    if not settings.teams_pvc_name or not teams:
        return [], []
    volumes = [
        {"name": TEAMS_VOLUME, "persistentVolumeClaim": {"claimName": settings.teams_pvc_name}}
    ]
    mounts = [
        {
            "name": TEAMS_VOLUME,
            "mountPath": f"{settings.teams_mount_path}/{team.team_dir}",
            "subPath": f"{settings.teams_subdir}/{team.team_dir}",
        }
        for team in teams
    ]
    return volumes, mounts


def identity(settings: HubSettings, plan: SpawnPlan) -> dict[str, Any]:
    """KubeSpawner's uid, gid and supplemental_gids when team folders are on and the decision
    names the person's uid; with team folders off, nothing (the image's user)."""
    if not settings.teams_pvc_name:
        return {}
    if plan.uid is None:
        # Fail-open: no teams; the spawner outlives a stop, so drop an earlier start's groups.
        return {"supplemental_gids": []}
    return {
        "uid": plan.uid,
        "gid": settings.notebook_gid,
        "supplemental_gids": [team.gid for team in plan.teams],
    }


@dataclass(frozen=True)
class LocalLayout:
    """Where a user's files live in local dev: directories standing in for EFS."""

    home: Path
    scratch: Path
    tutorials_source: Path | None
    tutorials_copy: Path
    # The team folders' root, and the person's teams' folder names (`~/teams/<team_dir>`).
    teams_root: Path | None = None
    team_dirs: tuple[str, ...] = ()


def local_layout(settings: HubSettings, username: str, teams: tuple[Team, ...] = ()) -> LocalLayout:
    """Raises `userdirs.UnmappableUsername` (a ValueError) for a name the rule cannot map."""
    directory = directory_name(username)
    return LocalLayout(
        home=settings.local_homes / directory,
        scratch=settings.local_scratch / directory,
        tutorials_source=settings.tutorials_dir.resolve() if settings.tutorials_dir else None,
        tutorials_copy=settings.local_tutorials_copy,
        teams_root=settings.local_teams,
        team_dirs=tuple(team.team_dir for team in teams),
    )
