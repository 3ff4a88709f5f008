"""Pydantic models of the tier policy document (sizes, tiers, notices)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..names import SERVICE_PREFIX

GIB = 1024**3


class TierName(StrEnum):
    entry = "entry"
    research = "research"
    consortium = "consortium"


class OverQuotaAction(StrEnum):
    cleanup_mode = "cleanup_mode"
    archive_lru = "archive_lru"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Toleration(_Strict):
    key: str
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class ServerSize(_Strict):
    display_name: str
    description: str = ""
    cpu_limit: float = Field(gt=0)
    cpu_guarantee: float = Field(gt=0)
    mem_limit_gib: float = Field(gt=0)
    mem_guarantee_gib: float = Field(gt=0)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)

    @model_validator(mode="after")
    def _guarantees_within_limits(self) -> ServerSize:
        if self.cpu_guarantee > self.cpu_limit:
            raise ValueError(
                f"cpu_guarantee {self.cpu_guarantee} exceeds cpu_limit {self.cpu_limit}"
            )
        if self.mem_guarantee_gib > self.mem_limit_gib:
            raise ValueError(
                f"mem_guarantee_gib {self.mem_guarantee_gib} exceeds "
                f"mem_limit_gib {self.mem_limit_gib}"
            )
        return self

    @property
    def cpu_hours_per_hour(self) -> float:
        """What one hour of wall time on this size costs: its CPU limit."""
        return self.cpu_limit

    @property
    def mem_limit_bytes(self) -> int:
        return int(self.mem_limit_gib * GIB)

    @property
    def mem_guarantee_bytes(self) -> int:
        return int(self.mem_guarantee_gib * GIB)


class HomeQuota(_Strict):
    soft: float = Field(gt=0)
    hard: float = Field(gt=0)

    @model_validator(mode="after")
    def _soft_below_hard(self) -> HomeQuota:
        if self.soft > self.hard:
            raise ValueError(f"soft quota {self.soft} GiB exceeds hard quota {self.hard} GiB")
        return self


class TierPolicy(_Strict):
    display_name: str
    sizes: list[str] = Field(min_length=1)
    cpu_hours_per_term: float | None = Field(default=None, ge=0)
    home_quota_gib: HomeQuota | None = None
    scratch_retention_days: int = Field(gt=0)
    home_archive_after_days: int | None = Field(default=None, gt=0)
    archive_after_allocation_end_days: int | None = Field(default=None, ge=0)
    idle_cull_hours: float = Field(gt=0)
    max_session_hours: float = Field(gt=0)
    term_days: int | None = Field(default=None, gt=0)
    budget_period_days: int | None = Field(default=None, gt=0)
    renewable: bool = False
    requires_approval: bool = False
    max_concurrent_servers: int = Field(default=1, ge=1)
    over_quota_action: OverQuotaAction = OverQuotaAction.cleanup_mode
    over_quota_grace_days: int = Field(default=14, ge=0)


class NoticePolicy(_Strict):
    lead_days: list[int] = Field(default_factory=lambda: [7, 1])
    expiry_warning_days: list[int] = Field(default_factory=lambda: [30, 7, 1])


# Release ids and image references: plain ASCII tokens (they reach pod specs and labels).
RELEASE_ID_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z._-]{0,31}$"
# Plain text for names people read: no markup characters, no control characters.
_PLAIN_TEXT = r"^[^<>&\x00-\x1f\x7f]{1,80}$"


class ReleaseImage(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._/:-]*$", max_length=255)
    tag: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")

    @property
    def reference(self) -> str:
        return f"{self.name}:{self.tag}"


class Release(_Strict):
    """One environment release people choose at spawn: its user image and kernel locks."""

    id: str = Field(pattern=RELEASE_ID_PATTERN)
    display_name: str = Field(pattern=_PLAIN_TEXT)
    description: str = Field(default="", pattern=r"^[^<>&\x00-\x1f\x7f]{0,200}$")
    image: ReleaseImage
    # The lock files the image's kernels were built from (paths in the repository at the
    # release's tag), so a release says what it contains.
    kernel_locks: list[str] = Field(min_length=1)
    current: bool = False


class Policy(_Strict):
    sizes: dict[str, ServerSize] = Field(min_length=1)
    tiers: dict[TierName, TierPolicy]
    notices: NoticePolicy = Field(default_factory=NoticePolicy)
    upgrade_url: str = SERVICE_PREFIX + "requests/new"
    # Offered at spawn, current first; empty: no choice (the chart's single user image).
    releases: list[Release] = Field(default_factory=list)

    @model_validator(mode="after")
    def _releases(self) -> Policy:
        if not self.releases:
            return self
        ids = [r.id for r in self.releases]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"releases: ids must be unique; repeated: {', '.join(twice)}")
        current = [r.id for r in self.releases if r.current]
        if len(current) != 1:
            raise ValueError(
                "releases: exactly one release must be current: true; "
                f"found {len(current)} ({', '.join(current) or 'none'})"
            )
        return self

    @property
    def current_release(self) -> Release | None:
        return next((r for r in self.releases if r.current), None)

    def release(self, release_id: str) -> Release | None:
        return next((r for r in self.releases if r.id == release_id), None)

    def offered_releases(self) -> list[Release]:
        """The current release first, then the others in policy order."""
        return sorted(self.releases, key=lambda r: not r.current)

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        missing = [t.value for t in TierName if t not in self.tiers]
        if missing:
            raise ValueError(f"tiers missing: {', '.join(missing)}")
        for tier_name, tier in self.tiers.items():
            for size in tier.sizes:
                if size not in self.sizes:
                    raise ValueError(
                        f"tiers.{tier_name.value}.sizes names unknown size {size!r}; "
                        f"known sizes: {', '.join(self.sizes)}"
                    )
        entry = self.tiers[TierName.entry]
        if entry.cpu_hours_per_term is None or entry.home_quota_gib is None:
            raise ValueError("tiers.entry needs cpu_hours_per_term and home_quota_gib")
        return self

    def tier(self, name: TierName | str) -> TierPolicy:
        return self.tiers[TierName(name)]

    def smallest_size(self, among: list[str] | None = None) -> str:
        names = among if among is not None else list(self.sizes)
        return min(names, key=lambda n: (self.sizes[n].cpu_limit, self.sizes[n].mem_limit_gib))
