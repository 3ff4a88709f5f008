"""Team collaboration servers: who may run a team's shared JupyterLab, and what it is billed to.

A consortium's collaboration server is the default server of the hub user
`team~<team_dir>` (hub_config/collab.py, a name no person can sign in with). Its members and
leads start and stop it and open it; JupyterHub's sharing gives each of them access
(services/collab_hub.py). Its spawn decision charges the consortium's pool directly
(`team_allocations`), so its CPU-hours count against the pool like the members' own servers.

The decisions here need the database only; the hub calls happen outside any transaction
(handlers/collab.py), because a start makes the hub ask this service for a spawn decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from hub_config.collab import is_team_username, team_dir_of, team_username

from ..errors import Conflict, NotFound, PermissionDenied
from ..models.v1 import TeamView
from ..schema import Allocation, Consortium, ConsortiumMember, MemberRole, User
from ..store.locks import for_update
from . import ledger
from .base import Caller, ServiceContext
from .teams import TeamService


@dataclass(frozen=True)
class TeamServer:
    """A consortium's collaboration server as the quota service knows it."""

    consortium_id: int
    consortium: str
    team_dir: str
    username: str  # the team's hub user
    pool_id: int
    size: str  # the size it starts at: the smallest the pool's tier allows
    members: tuple[str, ...]  # members and leads, who get access


class CollabService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def _team(self, consortium: Consortium) -> TeamServer:
        pool = self.ctx.session.get(Allocation, consortium.pool_id)
        assert pool is not None
        members = self.ctx.session.scalars(
            select(User.username)
            .join(ConsortiumMember, ConsortiumMember.user_id == User.id)
            .where(ConsortiumMember.consortium_id == consortium.id)
            .order_by(User.username)
        ).all()
        policy = self.ctx.policy
        if not consortium.team_dir:
            raise Conflict(
                f"consortium {consortium.name} has no team name yet (run `nexus-quota teams "
                "sync`), so it has no collaboration server",
                code="no_team_dir",
            )
        return TeamServer(
            consortium_id=consortium.id,
            consortium=consortium.name,
            team_dir=consortium.team_dir,
            username=team_username(consortium.team_dir),
            pool_id=pool.id,
            size=policy.smallest_size(policy.tier(pool.tier).sizes),
            members=tuple(members),
        )

    def _consortium(self, consortium_id: int) -> Consortium:
        consortium = self.ctx.session.get(Consortium, consortium_id)
        if consortium is None or consortium.pool_id is None:
            raise NotFound(f"no consortium {consortium_id}")
        return consortium

    def team_of(self, consortium_id: int) -> TeamServer:
        """The team server of `consortium_id`, whoever asks (for the service's own syncs)."""
        return self._team(self._consortium(consortium_id))

    def team(self, caller: Caller, consortium_id: int, *, to_start: bool = False) -> TeamServer:
        """The team server of `consortium_id`, for one of its members or leads.

        Raises:
            NotFound: There is no consortium `consortium_id`.
            PermissionDenied: `caller` is neither a member nor a lead of it (admins neither:
                a team's server holds the team's work), or, `to_start`, its pool cannot be
                charged.
        """
        consortium = self._consortium(consortium_id)
        team = self._team(consortium)
        if caller.name not in team.members:
            raise PermissionDenied(
                f"only members of consortium {consortium.name} can use its collaboration server",
                code="not_a_member",
            )
        if to_start:
            pool = self.ctx.session.get(Allocation, team.pool_id)
            assert pool is not None
            now = self.ctx.now()
            if not ledger.is_usable(pool, now):
                status = ledger.effective_status(pool, now).value
                raise PermissionDenied(
                    f"the pool of consortium {consortium.name} is {status}, so its "
                    "collaboration server cannot be started",
                    code="pool_inactive",
                )
        return team

    def teams_of(self, username: str) -> list[TeamServer]:
        """The team servers `username` may use, by consortium name."""
        consortia = self.ctx.session.scalars(
            select(Consortium)
            .join(ConsortiumMember, ConsortiumMember.consortium_id == Consortium.id)
            .join(User, User.id == ConsortiumMember.user_id)
            .where(User.username == username, Consortium.pool_id.is_not(None))
            .order_by(Consortium.name)
        ).all()
        return [self._team(c) for c in consortia if c.team_dir]

    def all_teams(self) -> dict[str, TeamServer]:
        """Every consortium's team server, by its hub username."""
        consortia = self.ctx.session.scalars(
            select(Consortium).where(Consortium.pool_id.is_not(None))
        ).all()
        teams = [self._team(c) for c in consortia if c.team_dir]
        return {t.username: t for t in teams}

    def is_lead(self, username: str, consortium_id: int) -> bool:
        row = self.ctx.session.scalar(
            select(ConsortiumMember.role)
            .join(User, User.id == ConsortiumMember.user_id)
            .where(User.username == username, ConsortiumMember.consortium_id == consortium_id)
        )
        return row == MemberRole.lead


def team_consortium(ctx: ServiceContext, username: str) -> Consortium | None:
    """The consortium whose team user is `username` (None: a person, or no such team)."""
    team_dir = team_dir_of(username)
    if team_dir is None:
        return None
    return ctx.session.scalar(select(Consortium).where(Consortium.team_dir == team_dir))


def team_allocations(ctx: ServiceContext, username: str) -> list[Allocation] | None:
    """What a team user's server may charge: its consortium's pool, locked (none if the team
    is gone); None for a person, whose own allocations apply."""
    if not is_team_username(username):
        return None
    consortium = team_consortium(ctx, username)
    if consortium is None or consortium.pool_id is None:
        return []
    pool = ctx.session.scalar(
        for_update(select(Allocation).where(Allocation.id == consortium.pool_id))
    )
    return [] if pool is None else [pool]


def team_views(ctx: ServiceContext, username: str) -> list[TeamView]:
    """The team folder a team user's server mounts: its own team's (none for a person)."""
    consortium = team_consortium(ctx, username)
    if consortium is None or consortium.pool_id is None or not consortium.team_dir:
        return []
    return [TeamService(ctx).view(consortium)]


def idle_since(
    last_activity: datetime | None, started: datetime | None, now: datetime, idle_hours: float
) -> bool:
    """True when a team server has had no activity (no browser connected: JupyterLab reports
    activity to the hub while one is open) for `idle_hours`; a server that never reported
    counts from its start."""
    since = last_activity or started
    if since is None:
        return False
    return now - since >= timedelta(hours=idle_hours)
