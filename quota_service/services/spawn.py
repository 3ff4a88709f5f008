"""Entitlements and spawn decisions, and the sessions they open (`services/sessions.py`
charges and closes them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, case, insert, select, union_all
from sqlalchemy.orm import aliased

from ..errors import InvalidInput
from ..models.v1 import Entitlements, ReleaseView, SpawnAllowed, SpawnDenied, TeamView
from ..policy import Release
from ..schema import Allocation, Consortium, ConsortiumMember, ServerSession, User
from ..store.sessions import is_open
from . import ledger
from .base import ServiceContext
from .collab import team_allocations, team_views
from .sessions import SessionService
from .team_storage import TeamStorageService, pool_cleanup_notice
from .teams import TeamService
from .users import UserService
from .views import allocation_view, pool_of, size_view, storage_view, storage_view_of


def _open_sessions_query(scope_column: str) -> Select[Any]:
    """Open sessions on allocations whose `scope_column` ("id" or "parent_id") is :scope_id,
    plus the user's open session named :server_name, with an in-scope flag."""
    # Candidates by two index look-ups (UNION ALL), not one OR across two tables, which
    # PostgreSQL can only answer by scanning.
    open_ = aliased(ServerSession)
    scoped = aliased(Allocation)
    candidates = union_all(
        select(open_.id)
        .join(scoped, scoped.id == open_.allocation_id)
        .where(getattr(scoped, scope_column) == bindparam("scope_id"), is_open(open_)),
        select(open_.id).where(
            open_.user_id == bindparam("user_id"),
            open_.server_name == bindparam("server_name"),
            is_open(open_),
        ),
    )
    in_scope = getattr(Allocation, scope_column) == bindparam("scope_id")
    return (
        select(
            ServerSession.id,
            ServerSession.user_id,
            ServerSession.server_name,
            ServerSession.allocation_id,
            ServerSession.cpu_per_hour,
            case((in_scope, True), else_=False),
        )
        .join(Allocation, Allocation.id == ServerSession.allocation_id)
        .where(ServerSession.id.in_(candidates))
    )


# Statements on the hot path of decisions and stops, built once: building a select costs
# more than running it.
_OPEN_ON_ALLOCATION = _open_sessions_query("id")
_OPEN_IN_POOL = _open_sessions_query("parent_id")
_SESSIONS = cast(Table, ServerSession.__table__)
_INSERT_SESSION = insert(_SESSIONS).returning(_SESSIONS.c.id)
# The person's teams as plain rows (TeamService.teams_of loads ORM objects: twice the CPU).
_TEAMS_OF = (
    select(Consortium.name, Consortium.team_dir, Consortium.gid)
    .join(ConsortiumMember, ConsortiumMember.consortium_id == Consortium.id)
    .where(ConsortiumMember.user_id == bindparam("user_id"), Consortium.pool_id.is_not(None))
    .order_by(Consortium.id)
)


@dataclass(frozen=True)
class OpenSession:
    id: int
    user_id: int
    server_name: str
    allocation_id: int
    cpu_per_hour: float
    in_scope: bool


class SpawnService(SessionService):
    """Entitlements and spawn decisions; a decision opens the session it allows, and the
    session methods it inherits charge and close it."""

    def __init__(self, ctx: ServiceContext) -> None:
        super().__init__(ctx)
        self.users = UserService(ctx)
        self.teams = TeamService(ctx)

    # -- entitlements -------------------------------------------------------------------
    def entitlements(self, username: str) -> Entitlements:
        user = self.users.ensure(username)
        policy = self.ctx.policy
        usable = [a for a in self.users.usable_allocations(user) if self._pool_usable(a)]
        by_size: dict[str, list[int]] = {}
        for alloc in sorted(usable, key=lambda a: -ledger.TIER_RANK.get(a.tier, 0)):
            for size in policy.tier(alloc.tier).sizes:
                by_size.setdefault(size, []).append(alloc.id)
        quota = self.users.home_quota(user)
        storage = storage_view(self.ctx, user, quota)
        # A consortium pool's quota is shared by its members' homes and its team folder.
        home = TeamStorageService(self.ctx).home_standing(usable, storage.home_bytes)
        notices = []
        if home.over_everywhere:
            notices.append(self._cleanup_notice(storage.home_bytes, quota))
        notices += [pool_cleanup_notice(p) for p in home.pools.values() if p.over_hard]
        return Entitlements(
            username=user.username,
            tier=self.users.tier(user),
            cleanup_mode=home.over_everywhere,
            notices=notices,
            allocations=[allocation_view(self.ctx, a) for a in self.users.allocations(user)],
            # By cost, not by key order: rendered policies may have sorted keys.
            sizes=[
                size_view(name, policy.sizes[name], by_size[name])
                for name in sorted(
                    by_size,
                    key=lambda n: (policy.sizes[n].cpu_limit, policy.sizes[n].mem_limit_gib),
                )
            ],
            storage=storage,
            upgrade_url=policy.upgrade_url,
            releases=[release_view(r) for r in policy.offered_releases()],
        )

    @staticmethod
    def _cleanup_notice(home_bytes: int, quota: tuple[int, int] | None) -> str:
        gib = 1024**3
        hard = f"{quota[1] / gib:.1f} GiB" if quota else "its hard quota"
        return (
            f"Your home uses {home_bytes / gib:.1f} GiB, over its hard quota of {hard}. "
            "This server starts in clean-up mode (smallest size): delete or move files to "
            "get back under quota."
        )

    # -- decisions ----------------------------------------------------------------------
    def decide(
        self,
        username: str,
        server_name: str,
        size_name: str,
        allocation_id: int | None = None,
        release_id: str | None = None,
    ) -> SpawnAllowed | SpawnDenied:
        """Allow (opening its session) or deny a spawn of `server_name` at `size_name`, in
        environment release `release_id` (None: the current one).

        Raises:
            InvalidInput: `size_name` is not a server size of the policy (`unknown_size`), or
                `release_id` is not one of its releases (`unknown_release`).
        """
        policy = self.ctx.policy
        if size_name not in policy.sizes:
            raise InvalidInput(
                f"unknown server size {size_name!r}; sizes are: {', '.join(policy.sizes)}",
                code="unknown_size",
            )
        release = self._release(release_id)
        # Round trips are the cost of a decision: one for the person and their storage, one
        # to lock their allocations (with pools), one for open sessions, one to insert.
        user, snapshot = self.users.sign_in(username)
        now = self.ctx.now()
        # A team's collaboration server charges its consortium's pool only (services/collab.py).
        team = team_allocations(self.ctx, username)
        mine = team if team is not None else self.users.lock_allocations(user)
        quota = self.users.home_quota(user, mine)
        storage = storage_view_of(snapshot, quota)
        # Clean-up mode: the home is over every quota that covers it (its own allocations'
        # and the shared quotas of its consortium pools), or the session is charged to a
        # pool whose members' homes and team folder together are over its hard quota.
        home = TeamStorageService(self.ctx).home_standing(
            self.users.usable_allocations(user, mine), storage.home_bytes
        )
        cleanup = home.over_everywhere
        notice = self._cleanup_notice(storage.home_bytes, quota) if cleanup else None

        allocation, denial = self._choose_allocation(mine, size_name, allocation_id, cleanup)
        if denial is not None:
            return denial
        assert allocation is not None
        shared = home.pool_over_hard(allocation.id)
        if shared is not None and not cleanup:
            cleanup = True
            notice = pool_cleanup_notice(shared)
        if cleanup:
            allowed_sizes = policy.tier(allocation.tier).sizes
            size_name = policy.smallest_size(allowed_sizes)
        size = policy.sizes[size_name]

        pool = pool_of(self.ctx, allocation)
        for alloc in (allocation, pool):
            if alloc is not None:
                ledger.roll_period(policy, alloc, now)

        open_rows = self._open_sessions(user, server_name, allocation, pool)
        # A server already recorded under this name is stale: close (and charge) it.
        replaced = [r for r in open_rows if r.user_id == user.id and r.server_name == server_name]
        if replaced:
            ids = [r.id for r in replaced]
            rows = self.ctx.session.scalars(
                select(ServerSession).where(ServerSession.id.in_(ids))
            ).all()
            for row in rows:
                self.close(row, now, reason="replaced")
        in_use = [r for r in open_rows if r.in_scope and r not in replaced]

        status = ledger.effective_status(allocation, now)
        if pool is not None and not ledger.is_usable(pool, now):
            status = ledger.effective_status(pool, now)
        if status.value == "expired":
            ended = allocation.ends_at
            if pool is not None and (ended is None or ended > now):
                ended = pool.ends_at
            return self._deny(
                "allocation_expired",
                f"Your {allocation.label} allocation expired on {_date(ended)}. "
                f"Renew it or request another at {policy.upgrade_url}",
            )
        if pool is not None and not ledger.is_usable(pool, now):
            return self._deny(
                "allocation_not_active",
                f"The consortium pool behind your {allocation.label} allocation is "
                f"{status.value}, so it cannot be charged. Ask the consortium's leads, or "
                f"request an allocation at {policy.upgrade_url}",
            )
        if not ledger.is_usable(allocation, now):
            return self._deny(
                "allocation_not_active",
                f"Your {allocation.label} allocation is {status.value}, so it cannot be "
                f"charged. Request an allocation at {policy.upgrade_url}",
            )

        tier = policy.tier(allocation.tier)
        running = sum(1 for r in in_use if r.allocation_id == allocation.id)
        reserved = sum(r.cpu_per_hour for r in in_use) * self.ctx.spawn_reservation_hours
        if running >= tier.max_concurrent_servers:
            return self._deny(
                "concurrent_server_limit",
                f"Your {allocation.label} allocation allows {tier.max_concurrent_servers} "
                f"running server(s) and {running} already run. Stop one first, or request "
                f"a higher tier at {policy.upgrade_url}",
                limit=float(tier.max_concurrent_servers),
                used=float(running),
            )

        standing = ledger.standing(policy, allocation, pool)
        needed = size.cpu_hours_per_hour * self.ctx.spawn_reservation_hours
        available = standing.left - reserved
        if standing.left <= 0 or available + 1e-9 < needed:
            resets = standing.resets_at
            when = f" It resets on {_date(resets)}." if resets else ""
            held = f" ({reserved:g} held by running servers)" if reserved else ""
            return self._deny(
                "cpu_hours_exhausted",
                f"Your {allocation.label} allocation has used {standing.used:.1f} of its "
                f"{standing.budget:.1f} CPU-hours{held}; a {size.display_name} server needs "
                f"at least {needed:g} CPU-hours left.{when} Request more at "
                f"{policy.upgrade_url}",
                limit=standing.budget,
                used=standing.used,
                resets_at=resets,
            )

        session_id = self.ctx.session.execute(
            _INSERT_SESSION,
            {
                "user_id": user.id,
                "allocation_id": allocation.id,
                "server_name": server_name,
                "size": size_name,
                "cpu_per_hour": size.cpu_hours_per_hour,
                "cleanup_mode": cleanup,
                "started_at": now,
                "charged_until": now,
                "ended_at": None,
                "cpu_hours_charged": 0.0,
                "release": release.id if release is not None else None,
            },
        ).scalar_one()
        return SpawnAllowed(
            session_id=session_id,
            cleanup_mode=cleanup,
            notice=notice,
            tier=allocation.tier,
            allocation_id=allocation.id,
            allocation_label=allocation.label,
            size=size_view(size_name, size, [allocation.id]),
            cpu_hours_left=round(standing.left, 6),
            idle_cull_hours=tier.idle_cull_hours,
            max_session_hours=tier.max_session_hours,
            home_quota_soft_bytes=quota[0] if quota else None,
            home_quota_hard_bytes=quota[1] if quota else None,
            scratch_retention_days=tier.scratch_retention_days,
            release=release_view(release) if release is not None else None,
            # Every team, whatever this session is charged to: membership alone gives access.
            uid=self.teams.uid_of(user),
            # A team server gets its own team's folder (services/collab.py).
            teams=team_views(self.ctx, username) or self._teams_of(user),
        )

    def _teams_of(self, user: User) -> list[TeamView]:
        """`TeamService.teams_of` in one Core query; a team without its folder name or gid
        yet goes through the service, which assigns and stores them on first use."""
        rows = self.ctx.session.execute(_TEAMS_OF, {"user_id": user.id}).all()
        if any(r.team_dir is None or r.gid is None for r in rows):
            return self.teams.teams_of(user)
        return [TeamView(name=r.name, team_dir=r.team_dir, gid=r.gid) for r in rows]

    def _release(self, release_id: str | None) -> Release | None:
        """The chosen release, or the current one; None when the policy names none."""
        policy = self.ctx.policy
        if release_id is None:
            return policy.current_release
        release = policy.release(release_id)
        if release is None:
            offered = ", ".join(f"{r.id} ({r.display_name})" for r in policy.offered_releases())
            raise InvalidInput(
                f"unknown environment release {release_id!r}; releases are: {offered or 'none'}",
                code="unknown_release",
            )
        return release

    def _choose_allocation(
        self, mine: list[Allocation], size_name: str, allocation_id: int | None, cleanup: bool
    ) -> tuple[Allocation | None, SpawnDenied | None]:
        policy = self.ctx.policy
        now = self.ctx.now()
        if allocation_id is not None:
            chosen = next((a for a in mine if a.id == allocation_id), None)
            if chosen is None:
                return None, self._deny(
                    "not_your_allocation",
                    f"Allocation {allocation_id} is not one of yours; choose one of: "
                    + ", ".join(f"{a.id} ({a.label})" for a in mine),
                )
            if not cleanup and size_name not in policy.tier(chosen.tier).sizes:
                return None, self._size_denial(chosen.label, chosen.tier, size_name)
            return chosen, None
        usable = [a for a in mine if ledger.is_usable(a, now) and self._pool_usable(a)]
        fits = [a for a in usable if cleanup or size_name in policy.tier(a.tier).sizes]
        if not fits:
            best = max(usable, key=lambda a: ledger.TIER_RANK.get(a.tier, 0), default=None)
            if best is None:
                return None, self._deny(
                    "allocation_not_active",
                    f"You have no active allocation. Request one at {policy.upgrade_url}",
                )
            return None, self._size_denial(best.label, best.tier, size_name)
        # Default: the highest tier that allows the size, then the one with most left.
        fits.sort(
            key=lambda a: (
                -ledger.TIER_RANK.get(a.tier, 0),
                -ledger.standing(policy, a, pool_of(self.ctx, a)).left,
            )
        )
        return fits[0], None

    def _pool_usable(self, allocation: Allocation) -> bool:
        """A sub-allocation is only as usable as its consortium pool (revoked, expired)."""
        pool = pool_of(self.ctx, allocation)
        return pool is None or ledger.is_usable(pool, self.ctx.now())

    def _size_denial(self, label: str, tier: str, size_name: str) -> SpawnDenied:
        policy = self.ctx.policy
        allowed = ", ".join(policy.tier(tier).sizes)
        size = policy.sizes[size_name]
        return self._deny(
            "size_not_allowed",
            f"The {size.display_name} size is not included in your {label} allocation, "
            f"which allows: {allowed}. Request an upgrade at {policy.upgrade_url}",
        )

    def _deny(
        self,
        code: str,
        message: str,
        *,
        limit: float | None = None,
        used: float | None = None,
        resets_at: datetime | None = None,
    ) -> SpawnDenied:
        return SpawnDenied(
            code=code,
            message=message,
            limit=limit,
            used=used,
            resets_at=resets_at,
            upgrade_url=self.ctx.policy.upgrade_url,
        )

    def _open_sessions(
        self, user: User, server_name: str, allocation: Allocation, pool: Allocation | None
    ) -> list[OpenSession]:
        """Sessions open on this allocation (or, for a consortium member, anywhere in the pool),
        which hold CPU-hours back, and the user's open session of this server name — one query."""
        params = {
            "scope_id": pool.id if pool is not None else allocation.id,
            "user_id": user.id,
            "server_name": server_name,
        }
        query = _OPEN_IN_POOL if pool is not None else _OPEN_ON_ALLOCATION
        return [OpenSession(*row) for row in self.ctx.session.execute(query, params)]


def release_view(release: Release) -> ReleaseView:
    return ReleaseView(
        id=release.id,
        display_name=release.display_name,
        description=release.description,
        image=release.image.reference,
        kernel_locks=list(release.kernel_locks),
        current=release.current,
    )


def _date(value: datetime | None) -> str:
    return value.date().isoformat() if value else "an unknown date"
