"""API version 1 request and response models."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from hub_config.userdirs import check_username

from .team_storage import TeamStorageView

# Any name JupyterHub accepts from MyST: no control characters, no "/", no outer spaces.
# Whether it can name a directory is `hub_config.userdirs` (the `Username` type below).
USERNAME_PATTERN = r"^[^\x00-\x20\x7f/](?:[^\x00-\x1f\x7f/]{0,253}[^\x00-\x20\x7f/])?$"
# Row ids are 32-bit integers on PostgreSQL; larger ids cannot exist, so they are invalid input.
MAX_ID = 2**31 - 1


def storable_text(value: str) -> str:
    """Refuse text the database cannot store, so it is a 422 rather than a failed write.

    PostgreSQL's ``text`` has no NUL, and JSON can carry lone UTF-16 surrogates that have no
    UTF-8 encoding.
    """
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (\\u0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (it holds an unpaired surrogate)") from None
    return value


StorableText = Annotated[str, AfterValidator(storable_text)]


def mappable_username(value: str) -> str:
    """A username must name a directory by the one rule the pods and jobs use."""
    refusal = check_username(value)
    if refusal is not None:
        raise ValueError(refusal)
    return value


Username = Annotated[str, Field(pattern=USERNAME_PATTERN), AfterValidator(mappable_username)]

# Consortium names, and the proposal references that name a consortium by default, reach
# KubeSpawner's spawn form, e-mails and allocation labels: plain text without markup.
CONSORTIUM_NAME_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9 ._:-]{0,98}[A-Za-z0-9])?$"
CONSORTIUM_NAME_RULE = (
    "use 1 to 100 letters, digits, spaces, '.', '_', '-' or ':', starting and ending with "
    "a letter or digit"
)


def consortium_name(value: str) -> str:
    if not re.fullmatch(CONSORTIUM_NAME_PATTERN, value):
        raise ValueError(f"{value[:40]!r} cannot name a consortium: {CONSORTIUM_NAME_RULE}")
    return value


ConsortiumName = Annotated[str, AfterValidator(consortium_name)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        for item in value if isinstance(value, list) else (value,):
            if isinstance(item, str):
                storable_text(item)
        return value


class SizeView(BaseModel):
    name: str
    display_name: str
    description: str
    cpu_limit: float
    cpu_guarantee: float
    mem_limit_bytes: int
    mem_guarantee_bytes: int
    cpu_hours_per_hour: float
    node_selector: dict[str, str]
    tolerations: list[dict[str, Any]]
    allocation_ids: list[int] = Field(default_factory=list)


class AllocationView(BaseModel):
    id: int
    tier: str
    kind: str
    status: str
    label: str
    consortium: str | None = None
    consortium_id: int | None = None
    cpu_hours_budget: float
    cpu_hours_used: float
    cpu_hours_left: float
    starts_at: datetime
    ends_at: datetime | None
    resets_at: datetime | None
    max_concurrent_servers: int
    running_servers: int
    sizes: list[str]
    home_quota_soft_bytes: int | None = None
    home_quota_hard_bytes: int | None = None


class StorageView(BaseModel):
    home_bytes: int = 0
    home_files: int = 0
    scratch_bytes: int = 0
    scratch_files: int = 0
    soft_quota_bytes: int | None = None
    hard_quota_bytes: int | None = None
    over_soft: bool = False
    over_hard: bool = False
    measured_at: datetime | None = None


class NoticeView(BaseModel):
    id: int
    kind: str
    message: str
    created_at: datetime
    due_at: datetime | None


class ReleaseView(BaseModel):
    """An environment release offered at spawn (the policy's `releases`)."""

    id: str
    display_name: str
    description: str = ""
    image: str
    kernel_locks: list[str] = Field(default_factory=list)
    current: bool


class Entitlements(BaseModel):
    username: str
    tier: str
    cleanup_mode: bool
    notices: list[str]
    allocations: list[AllocationView]
    sizes: list[SizeView]
    storage: StorageView
    upgrade_url: str
    # Current first; empty when the policy names no releases.
    releases: list[ReleaseView] = Field(default_factory=list)


class SpawnDecisionIn(_In):
    username: Username
    server_name: str = Field(default="", max_length=255)
    size: str = Field(min_length=1, max_length=64)
    allocation_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    # A release id of the policy; None: the current one. Any other text is refused with
    # `unknown_release` (checked against the policy, not a pattern, so the message lists them).
    release: str | None = Field(default=None, min_length=1, max_length=64)


class TeamView(BaseModel):
    """A team the person belongs to: its folder (`/teams/<team_dir>`) and POSIX group."""

    name: str
    team_dir: str
    gid: int


class SpawnAllowed(BaseModel):
    allowed: Literal[True] = True
    session_id: int
    cleanup_mode: bool
    notice: str | None
    tier: str
    allocation_id: int
    allocation_label: str
    size: SizeView
    cpu_hours_left: float
    idle_cull_hours: float
    max_session_hours: float
    home_quota_soft_bytes: int | None
    home_quota_hard_bytes: int | None
    scratch_retention_days: int
    release: ReleaseView | None = None
    # The person's POSIX uid and every team they lead or belong to (issue 17 part 2).
    uid: int
    teams: list[TeamView] = []


class SpawnDenied(BaseModel):
    allowed: Literal[False] = False
    code: str
    message: str
    limit: float | None = None
    used: float | None = None
    resets_at: datetime | None = None
    upgrade_url: str


class SessionStopIn(_In):
    username: Username
    server_name: str = Field(default="", max_length=255)


class ClosedSession(BaseModel):
    session_id: int
    cpu_hours: float


class SessionStopOut(BaseModel):
    closed: list[ClosedSession]


class SessionView(BaseModel):
    id: int
    username: str
    server_name: str
    size: str
    allocation_id: int
    tier: str
    started_at: datetime
    charged_until: datetime
    ended_at: datetime | None
    cpu_hours_charged: float
    cleanup_mode: bool
    close_reason: str | None
    release: str | None = None


class RequestIn(_In):
    tier: Literal["research", "consortium"]
    kind: Literal["upgrade", "renewal"] = "upgrade"
    justification: str = Field(min_length=20, max_length=20000)
    # Names the consortium when approved without a consortium_name.
    proposal_ref: ConsortiumName | None = None
    allocation_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    requested_cpu_hours: float | None = Field(default=None, gt=0, le=1e9)


class RequestView(BaseModel):
    id: int
    username: str
    tier: str
    kind: str
    status: str
    justification: str
    proposal_ref: str | None
    allocation_id: int | None
    requested_cpu_hours: float | None
    decision_note: str | None
    decided_by: str | None
    decided_at: datetime | None
    result_allocation_id: int | None
    created_at: datetime


class ApproveIn(_In):
    cpu_hours: float | None = Field(default=None, gt=0, le=1e9)
    home_quota_soft_gib: float | None = Field(default=None, gt=0, le=1e6)
    home_quota_hard_gib: float | None = Field(default=None, gt=0, le=1e6)
    term_days: int | None = Field(default=None, ge=1, le=3650)
    consortium_name: ConsortiumName | None = None
    note: str | None = Field(default=None, max_length=5000)


class DenyIn(_In):
    note: str = Field(min_length=1, max_length=5000)


class GrantIn(_In):
    username: Username
    tier: Literal["entry", "research"]
    cpu_hours: float | None = Field(default=None, gt=0, le=1e9)
    home_quota_soft_gib: float | None = Field(default=None, gt=0, le=1e6)
    home_quota_hard_gib: float | None = Field(default=None, gt=0, le=1e6)
    term_days: int | None = Field(default=None, ge=1, le=3650)
    reason: str = Field(min_length=1, max_length=5000)


class ExtendIn(_In):
    days: int = Field(ge=1, le=3650)
    cpu_hours: float | None = Field(default=None, gt=0, le=1e9)
    reason: str = Field(min_length=1, max_length=5000)


class RevokeIn(_In):
    reason: str = Field(min_length=1, max_length=5000)


class ConsortiumIn(_In):
    name: ConsortiumName
    proposal_ref: str | None = Field(default=None, max_length=255)
    cpu_hours: float = Field(gt=0, le=1e9)
    home_quota_soft_gib: float = Field(gt=0, le=1e6)
    home_quota_hard_gib: float = Field(gt=0, le=1e6)
    term_days: int = Field(ge=1, le=3650)
    leads: list[str] = Field(min_length=1, max_length=50)
    reason: str = Field(default="consortium created", max_length=5000)

    @field_validator("leads")
    @classmethod
    def _usernames(cls, value: list[str]) -> list[str]:
        import re

        for name in value:
            if not re.fullmatch(USERNAME_PATTERN, name) or check_username(name) is not None:
                raise ValueError(f"{name!r} is not a valid username")
        return value


class MemberIn(_In):
    username: Username
    role: Literal["lead", "member"] = "member"
    cpu_hours_share: float = Field(default=0.0, ge=0, le=1e9)


class ShareIn(_In):
    cpu_hours_share: float = Field(ge=0, le=1e9)


class MemberView(BaseModel):
    username: str
    role: str
    sub_allocation_id: int | None
    cpu_hours_share: float
    cpu_hours_used: float
    cpu_hours_left: float


class ConsortiumView(BaseModel):
    id: int
    name: str
    proposal_ref: str | None
    pool: AllocationView
    shares_total: float
    unassigned: float
    members: list[MemberView]
    # The pool's shared home quota, the team folder and each member's bytes (issue 17).
    storage: TeamStorageView | None = None
    # When an admin removed the consortium (its folder goes through the purge pipeline).
    removed_at: datetime | None = None


class UserSummary(BaseModel):
    username: str
    created_at: datetime
    last_login_at: datetime | None
    tier: str


class MeView(BaseModel):
    username: str
    tier: str
    allocations: list[AllocationView]
    storage: StorageView
    notices: list[NoticeView]
    requests: list[RequestView]
    consortia_led: list[int]
    upgrade_url: str


class UsagePoint(BaseModel):
    day: str
    cpu_hours: float


class UsageView(BaseModel):
    username: str
    by_day: list[UsagePoint]
    by_allocation: dict[int, float]


class UsageReportRow(BaseModel):
    key: str
    cpu_hours: float
    estimated_cost_usd: float
    sessions: int


class UsageReport(BaseModel):
    since: datetime | None
    until: datetime | None
    cost_per_cpu_hour_usd: float
    by_tier: list[UsageReportRow]
    by_allocation: list[UsageReportRow]


class AuditView(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None


class Health(BaseModel):
    status: str
    database: str
    schema_revision: str
