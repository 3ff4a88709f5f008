"""API models of team folder storage: what a consortium's leads see (issue 17 part 2)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class MemberStorageView(BaseModel):
    """One current member: their home, and what they own in the team folder."""

    username: str
    role: str
    uid: int = Field(description="the member's POSIX uid (teams.uid_base + user id)")
    home_bytes: int = Field(description="the member's home at the newest scan")
    team_bytes: int = Field(description="bytes in the team folder owned by the member's uid")
    team_files: int


class TeamOwnerView(BaseModel):
    """Bytes in the team folder owned by someone who is not a current member (a former
    member, root for the folder itself, or a uid no person has)."""

    uid: int
    username: str | None
    bytes: int
    files: int


class TeamStorageView(BaseModel):
    """The pool's shared home quota: members' homes plus the team folder count against it."""

    team_dir: str | None
    measured_at: datetime | None = Field(description="the newest scan of the team folder")
    team_bytes: int
    team_files: int
    homes_bytes: int = Field(description="the current members' homes, summed")
    total_bytes: int = Field(description="homes_bytes + team_bytes")
    soft_quota_bytes: int | None
    hard_quota_bytes: int | None
    over_soft: bool
    over_hard: bool
    members: list[MemberStorageView]
    other_owners: list[TeamOwnerView]
