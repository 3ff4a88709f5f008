"""The charging of sessions: CPU-hours from where a session was last charged up to now, on
its allocation and its consortium pool, under their locks; stopping and closing sessions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Integer, Select, Table, bindparam, select

from ..errors import NotFound
from ..models.servers import RunningServersView, RunningServerView
from ..models.v1 import ClosedSession, SessionView
from ..schema import Allocation, Charge, ServerSession, User
from ..store.locks import allocations_with_pools
from ..store.sessions import open_sessions
from . import ledger
from .base import ServiceContext
from .write_through import write_through, write_together


def _open_under_name(*columns: Any) -> Select[Any]:
    """`columns` of the open sessions of :username named :server_name."""
    return (
        open_sessions(*columns)
        .join(User, User.id == ServerSession.user_id)
        .where(
            User.username == bindparam("username"),
            ServerSession.server_name == bindparam("server_name"),
        )
    )


# Statements on the hot path of stops and charges, built once (as in services/spawn.py).
_OPEN_BY_NAME = _open_under_name(ServerSession)
# A stop locks first, then reads its sessions: what it reads is then current, so it needs no
# re-read under the lock (one round trip fewer than `charge`).
_LOCK_FOR_STOP = allocations_with_pools(_open_under_name(ServerSession.allocation_id))
_CHARGES = cast(Table, Charge.__table__)
_LOCK_WITH_POOL = allocations_with_pools(select(bindparam("allocation_id", type_=Integer)))


class SessionService:
    """Charges, stops and lists server sessions (the spawn decision opens them)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def _lock(self, allocation_id: int) -> list[Allocation]:
        """Lock an allocation and its pool (if any) in id order; the allocation comes last."""
        rows = list(self.ctx.session.scalars(_LOCK_WITH_POOL, {"allocation_id": allocation_id}))
        rows.sort(key=lambda a: 0 if a.kind.value == "pool" else 1)
        return rows

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
            open_sessions(ServerSession, User.username, Allocation.tier)
            .join(User, User.id == ServerSession.user_id)
            .join(Allocation, Allocation.id == ServerSession.allocation_id)
            .order_by(ServerSession.id)
        ).all()
        return [_session_view(s, name, tier) for s, name, tier in rows]

    def running_servers(self, username: str) -> RunningServersView:
        """`username`'s open sessions (default and named servers), each with its size,
        allocation and CPU-hours so far; no one of that name yet: none."""
        now = self.ctx.now()
        rows = self.ctx.session.execute(
            open_sessions(ServerSession, Allocation)
            .join(User, User.id == ServerSession.user_id)
            .join(Allocation, Allocation.id == ServerSession.allocation_id)
            .where(User.username == username)
            .order_by(ServerSession.server_name, ServerSession.id)
        ).all()
        sizes = self.ctx.policy.sizes
        return RunningServersView(
            username=username,
            as_of=now,
            servers=[
                RunningServerView(
                    session_id=s.id,
                    server_name=s.server_name,
                    size=s.size,
                    size_display_name=sizes[s.size].display_name if s.size in sizes else s.size,
                    cpu_hours_per_hour=s.cpu_per_hour,
                    allocation_id=a.id,
                    allocation_label=a.label,
                    tier=a.tier,
                    started_at=s.started_at,
                    cleanup_mode=s.cleanup_mode,
                    release=s.release,
                    charged_until=s.charged_until,
                    cpu_hours_charged=round(s.cpu_hours_charged, 6),
                    cpu_hours_so_far=round(
                        s.cpu_hours_charged
                        + ledger.cpu_hours(s.cpu_per_hour, s.charged_until, now),
                        6,
                    ),
                )
                for s, a in rows
            ],
        )

    def get_session(self, session_id: int) -> ServerSession:
        """The server session with this id.

        Raises:
            NotFound: There is no session `session_id`.
        """
        row = self.ctx.session.get(ServerSession, session_id)
        if row is None:
            raise NotFound(f"no session {session_id}")
        return row

    def close_by_id(self, session_id: int, reason: str) -> ClosedSession:
        """Charge and end the session with this id; one already ended is returned as it is.

        Raises:
            NotFound: There is no session `session_id`.
        """
        row = self.get_session(session_id)
        if row.ended_at is not None:
            return ClosedSession(session_id=row.id, cpu_hours=row.cpu_hours_charged)
        return self.close(row, self.ctx.now(), reason=reason)

    def charge_open(self, session_ids: Sequence[int] | None = None) -> float:
        """Charge running sessions up to now (the reconciler calls this periodically)."""
        now = self.ctx.now()
        query = open_sessions()
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
        release=row.release,
    )
