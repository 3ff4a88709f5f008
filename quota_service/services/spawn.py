"""Entitlements, spawn decisions, and the sessions they open and charge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Integer, Select, Table, bindparam, case, insert, select, union_all
from sqlalchemy.orm import aliased

from ..errors import InvalidInput, NotFound
from ..models.v1 import (
    ClosedSession,
    Entitlements,
    SessionView,
    SpawnAllowed,
    SpawnDenied,
)
from ..schema import Allocation, Charge, ServerSession, User
from . import ledger
from .base import ServiceContext
from .users import UserService, locking_with_pools
from .views import allocation_view, pool_of, size_view, storage_view, storage_view_of
from .write_through import write_through, write_together


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
        .where(getattr(scoped, scope_column) == bindparam("scope_id"), open_.ended_at.is_(None)),
        select(open_.id).where(
            open_.user_id == bindparam("user_id"),
            open_.server_name == bindparam("server_name"),
            open_.ended_at.is_(None),
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


def _open_under_name(*columns: Any) -> Select[Any]:
    """`columns` of the open sessions of :username named :server_name."""
    return (
        select(*columns)
        .join(User, User.id == ServerSession.user_id)
        .where(
            User.username == bindparam("username"),
            ServerSession.server_name == bindparam("server_name"),
            ServerSession.ended_at.is_(None),
        )
    )


_OPEN_BY_NAME = _open_under_name(ServerSession)
# A stop locks first, then reads its sessions: what it reads is then current, so it needs no
# re-read under the lock (one round trip fewer than `charge`).
_LOCK_FOR_STOP = locking_with_pools(_open_under_name(ServerSession.allocation_id))
_SESSIONS = cast(Table, ServerSession.__table__)
_INSERT_SESSION = insert(_SESSIONS).returning(_SESSIONS.c.id)
_CHARGES = cast(Table, Charge.__table__)
_LOCK_WITH_POOL = locking_with_pools(select(bindparam("allocation_id", type_=Integer)))


@dataclass(frozen=True)
class OpenSession:
    id: int
    user_id: int
    server_name: str
    allocation_id: int
    cpu_per_hour: float
    in_scope: bool


class SpawnService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.users = UserService(ctx)

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
        notices = []
        if storage.over_hard:
            notices.append(self._cleanup_notice(storage.home_bytes, quota))
        return Entitlements(
            username=user.username,
            tier=self.users.tier(user),
            cleanup_mode=storage.over_hard,
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
    ) -> SpawnAllowed | SpawnDenied:
        policy = self.ctx.policy
        if size_name not in policy.sizes:
            raise InvalidInput(
                f"unknown server size {size_name!r}; sizes are: {', '.join(policy.sizes)}",
                code="unknown_size",
            )
        # Round trips are the cost of a decision: one for the person and their storage, one
        # to lock their allocations (with pools), one for open sessions, one to insert.
        user, snapshot = self.users.sign_in(username)
        now = self.ctx.now()
        mine = self.users.lock_allocations(user)
        quota = self.users.home_quota(user, mine)
        storage = storage_view_of(snapshot, quota)
        cleanup = storage.over_hard
        notice = self._cleanup_notice(storage.home_bytes, quota) if cleanup else None

        allocation, denial = self._choose_allocation(mine, size_name, allocation_id, cleanup)
        if denial is not None:
            return denial
        assert allocation is not None
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
        )

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

    def _lock(self, allocation_id: int) -> list[Allocation]:
        """Lock an allocation and its pool (if any) in id order; the allocation comes last."""
        rows = list(self.ctx.session.scalars(_LOCK_WITH_POOL, {"allocation_id": allocation_id}))
        rows.sort(key=lambda a: 0 if a.kind.value == "pool" else 1)
        return rows

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

    # -- sessions -----------------------------------------------------------------------
    def stop(self, username: str, server_name: str) -> list[ClosedSession]:
        params = {"username": username, "server_name": server_name}
        locked = {a.id: a for a in self.ctx.session.scalars(_LOCK_FOR_STOP, params)}
        rows = self.ctx.session.scalars(_OPEN_BY_NAME, params).all()
        now = self.ctx.now()
        closed = []
        for row in rows:
            allocation = locked.get(row.allocation_id)
            if allocation is None:  # opened after the lock was taken: lock it the usual way
                closed.append(self.close(row, now, reason="stopped"))
                continue
            pool = locked.get(allocation.parent_id) if allocation.parent_id else None
            held = [pool, allocation] if pool is not None else [allocation]
            closed.append(self.close(row, now, reason="stopped", locked=held))
        return closed

    def close(
        self,
        row: ServerSession,
        now: datetime,
        *,
        reason: str,
        locked: list[Allocation] | None = None,
    ) -> ClosedSession:
        """Charge and end a session. `locked`: its pool (if any) and allocation, already
        locked by this transaction before `row` was read."""
        if locked is None:
            self.charge(row, now, close_reason=reason)
        else:
            self._charge_locked(row, locked, now, close_reason=reason)
        return ClosedSession(session_id=row.id, cpu_hours=round(row.cpu_hours_charged, 6))

    def charge(
        self, row: ServerSession, now: datetime, *, close_reason: str | None = None
    ) -> float:
        """Charge a session from where it was last charged up to `now`, and end it if
        `close_reason` is given."""
        if now <= row.charged_until and close_reason is None:
            return 0.0
        locked = self._lock(row.allocation_id)
        # Every charge of a session holds its allocation's lock, so re-read the session under
        # it: another request may have charged or closed it while this one waited.
        self.ctx.session.refresh(
            row, ["charged_until", "cpu_hours_charged", "ended_at", "close_reason"]
        )
        return self._charge_locked(row, locked, now, close_reason=close_reason)

    def _charge_locked(
        self,
        row: ServerSession,
        locked: list[Allocation],
        now: datetime,
        *,
        close_reason: str | None = None,
    ) -> float:
        """`charge`, once `locked` (pool first, allocation last) is held and `row` is current.
        The allocations, the charge and the session are written at once (`write_together`:
        one statement on PostgreSQL), not through a flush."""
        if row.ended_at is not None:  # a concurrent request closed it first
            return 0.0
        session = self.ctx.session
        allocation = locked[-1]
        ended: dict[str, Any] = {}
        if close_reason is not None:
            ended = {"ended_at": max(now, row.started_at), "close_reason": close_reason}
        if now <= row.charged_until:
            if ended:
                write_through(session, row, **ended)
            return 0.0
        hours = ledger.cpu_hours(row.cpu_per_hour, row.charged_until, now)
        changes: list[tuple[Any, dict[str, Any]]] = []
        for alloc in locked:
            ledger.roll_period(self.ctx.policy, alloc, now)
            changes.append(
                (
                    alloc,
                    {
                        "cpu_hours_used": alloc.cpu_hours_used + hours,
                        "period_started_at": alloc.period_started_at,
                        "updated_at": now,
                    },
                )
            )
        charged = {"charged_until": now, "cpu_hours_charged": row.cpu_hours_charged + hours}
        changes.append((row, charged | ended))
        charge = {
            "allocation_id": allocation.id,
            "pool_id": allocation.parent_id,
            "session_id": row.id,
            "user_id": row.user_id,
            "tier": allocation.tier,
            "size": row.size,
            "cpu_hours": hours,
            "period_start": row.charged_until,
            "period_end": now,
            "charged_at": now,
        }
        write_together(session, changes, _CHARGES, charge)
        return hours

    def open_sessions(self) -> list[SessionView]:
        rows = self.ctx.session.execute(
            select(ServerSession, User.username, Allocation.tier)
            .join(User, User.id == ServerSession.user_id)
            .join(Allocation, Allocation.id == ServerSession.allocation_id)
            .where(ServerSession.ended_at.is_(None))
            .order_by(ServerSession.id)
        ).all()
        return [_session_view(s, name, tier) for s, name, tier in rows]

    def get_session(self, session_id: int) -> ServerSession:
        row = self.ctx.session.get(ServerSession, session_id)
        if row is None:
            raise NotFound(f"no session {session_id}")
        return row

    def close_by_id(self, session_id: int, reason: str) -> ClosedSession:
        row = self.get_session(session_id)
        if row.ended_at is not None:
            return ClosedSession(session_id=row.id, cpu_hours=row.cpu_hours_charged)
        return self.close(row, self.ctx.now(), reason=reason)

    def charge_open(self, session_ids: Sequence[int] | None = None) -> float:
        """Charge running sessions up to now (the reconciler calls this periodically)."""
        now = self.ctx.now()
        query = select(ServerSession).where(ServerSession.ended_at.is_(None))
        if session_ids is not None:
            query = query.where(ServerSession.id.in_(list(session_ids)))
        return sum(self.charge(row, now) for row in self.ctx.session.scalars(query).all())


def _session_view(row: ServerSession, username: str, tier: str) -> SessionView:
    return SessionView(
        id=row.id,
        username=username,
        server_name=row.server_name,
        size=row.size,
        allocation_id=row.allocation_id,
        tier=tier,
        started_at=row.started_at,
        charged_until=row.charged_until,
        ended_at=row.ended_at,
        cpu_hours_charged=round(row.cpu_hours_charged, 6),
        cleanup_mode=row.cleanup_mode,
        close_reason=row.close_reason,
    )


def _date(value: datetime | None) -> str:
    return value.date().isoformat() if value else "an unknown date"
