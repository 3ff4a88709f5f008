"""Admin actions on allocations (grant, extend, revoke) and the expiry job."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select

from ..errors import Conflict, InvalidInput, NotFound
from ..models.v1 import AllocationView, ExtendIn, GrantIn
from ..schema import USABLE_STATUSES, Allocation, AllocationKind, AllocationStatus, User
from ..store.locks import for_update
from . import ledger
from .audit import AuditService
from .base import ServiceContext
from .notices import NoticeService
from .requests import allocation_snapshot
from .users import UserService
from .views import allocation_view


@dataclass
class ExpiryReport:
    activated: list[int] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    warned: list[tuple[int, int]] = field(default_factory=list)


class AllocationService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.users = UserService(ctx)
        self.audit = AuditService(ctx)
        self.notices = NoticeService(ctx)

    def get(self, allocation_id: int) -> Allocation:
        """The allocation with this id.

        Raises:
            NotFound: There is no allocation `allocation_id`.
        """
        alloc = self.ctx.session.get(Allocation, allocation_id)
        if alloc is None:
            raise NotFound(f"no allocation {allocation_id}")
        return alloc

    def view(self, allocation_id: int) -> AllocationView:
        """The API view of the allocation with this id.

        Raises:
            NotFound: There is no allocation `allocation_id`.
        """
        return allocation_view(self.ctx, self.get(allocation_id))

    def grant(self, actor: str, data: GrantIn) -> AllocationView:
        """Grant a personal allocation of `data.tier` to `data.username` (an admin action).

        Raises:
            InvalidInput: `home_quota_soft_gib` exceeds `home_quota_hard_gib`.
        """
        soft, hard = data.home_quota_soft_gib, data.home_quota_hard_gib
        if soft is not None and hard is not None and soft > hard:
            raise InvalidInput(f"home_quota_soft_gib {soft} exceeds home_quota_hard_gib {hard}")
        user = self.users.ensure(data.username)
        tier = self.ctx.policy.tier(data.tier)
        now = self.ctx.now()
        days = data.term_days or tier.term_days
        alloc = Allocation(
            kind=AllocationKind.personal,
            tier=data.tier,
            status=AllocationStatus.active,
            label=f"{tier.display_name} ({user.username})",
            owner_id=user.id,
            starts_at=now,
            ends_at=now + timedelta(days=days) if days else None,
            cpu_hours_budget=data.cpu_hours,
            home_quota_soft_gib=soft,
            home_quota_hard_gib=hard,
            cpu_hours_used=0.0,
            period_started_at=now,
            created_at=now,
            updated_at=now,
        )
        self.ctx.session.add(alloc)
        self.ctx.session.flush()
        self.audit.record(
            actor=actor,
            action="allocation.grant",
            target_type="allocation",
            target_id=alloc.id,
            after=allocation_snapshot(alloc),
            reason=data.reason,
        )
        self.notices.post(user, "allocation", f"You were granted {alloc.label}.")
        return allocation_view(self.ctx, alloc)

    def extend(self, actor: str, allocation_id: int, data: ExtendIn) -> AllocationView:
        """Extend an allocation's term and/or add CPU-hours; a pool's sub-allocations follow.

        Raises:
            NotFound: There is no allocation `allocation_id`.
            Conflict: The allocation was revoked (`revoked`), or it is a sub-allocation whose
                consortium pool is gone or not usable (`pool_inactive`).
            InvalidInput: The allocation has no end date and `data` gives no `cpu_hours`
                (`no_end_date`).
        """
        alloc = self.get(allocation_id)
        if alloc.status == AllocationStatus.revoked:
            raise Conflict(f"{alloc.label} was revoked; grant a new one", code="revoked")
        if alloc.kind == AllocationKind.sub:
            self._require_pool_usable(alloc)
        if alloc.ends_at is None and data.cpu_hours is None:
            raise InvalidInput(
                f"{alloc.label} has no end date; give cpu_hours to add budget instead",
                code="no_end_date",
            )
        before = allocation_snapshot(alloc)
        now = self.ctx.now()
        if alloc.ends_at is not None:
            alloc.ends_at = max(alloc.ends_at, now) + timedelta(days=data.days)
        if data.cpu_hours is not None:
            alloc.cpu_hours_budget = ledger.budget(self.ctx.policy, alloc) + data.cpu_hours
        if alloc.status == AllocationStatus.expired:
            alloc.status = AllocationStatus.active
        alloc.updated_at = now
        # Members' sub-allocations end with their pool.
        if alloc.kind == AllocationKind.pool:
            for sub in self.ctx.session.scalars(
                select(Allocation).where(Allocation.parent_id == alloc.id)
            ):
                sub.ends_at = alloc.ends_at
                if sub.status == AllocationStatus.expired:
                    sub.status = AllocationStatus.active
        self.audit.record(
            actor=actor,
            action="allocation.extend",
            target_type="allocation",
            target_id=alloc.id,
            before=before,
            after=allocation_snapshot(alloc),
            reason=data.reason,
        )
        return allocation_view(self.ctx, alloc)

    def revoke(self, actor: str, allocation_id: int, reason: str) -> AllocationView:
        """Revoke an allocation (a pool with its sub-allocations) and tell the owners.

        Raises:
            NotFound: There is no allocation `allocation_id`.
            Conflict: The allocation is already revoked (`already_revoked`), or it is a
                personal Entry allocation, which is never revoked.
        """
        alloc = self.get(allocation_id)
        family: list[Allocation] = []
        if alloc.kind == AllocationKind.pool:
            # Pool first, then its sub-allocations, in id order like every locker: a member
            # added at the same time either waits and sees the revoked pool, or is seen here.
            family = list(
                self.ctx.session.scalars(
                    for_update(
                        select(Allocation)
                        .where((Allocation.id == alloc.id) | (Allocation.parent_id == alloc.id))
                        .order_by(Allocation.id)
                    )
                )
            )
        if alloc.status == AllocationStatus.revoked:
            raise Conflict(f"{alloc.label} is already revoked", code="already_revoked")
        if alloc.kind == AllocationKind.personal and alloc.tier == "entry":
            raise Conflict("Entry allocations are everyone's baseline and are not revoked")
        now = self.ctx.now()
        # Members removed earlier were told then; the rest lose their share with the pool.
        subs = [s for s in family if s.id != alloc.id and s.status != AllocationStatus.revoked]
        for sub in subs:
            sub.status = AllocationStatus.revoked
            sub.updated_at = now
        affected: list[Allocation] = [alloc, *subs]
        before = allocation_snapshot(alloc)
        alloc.status = AllocationStatus.revoked
        alloc.updated_at = now
        after = allocation_snapshot(alloc)
        if len(affected) > 1:
            after["revoked_sub_allocations"] = [a.id for a in affected[1:]]
        self.audit.record(
            actor=actor,
            action="allocation.revoke",
            target_type="allocation",
            target_id=alloc.id,
            before=before,
            after=after,
            reason=reason,
        )
        for a in affected:
            if a.owner_id is not None:
                owner = self.ctx.session.get(User, a.owner_id)
                if owner is not None:
                    self.users.ensure_entry_fallback(owner)
                    self.notices.post(owner, "allocation", f"{a.label} was revoked: {reason}")
        return allocation_view(self.ctx, alloc)

    def _require_pool_usable(self, sub: Allocation) -> None:
        """A sub-allocation lives within its pool: extend the pool, not a share of a dead one."""
        pool = self.ctx.session.get(Allocation, sub.parent_id) if sub.parent_id else None
        now = self.ctx.now()
        if pool is None or not ledger.is_usable(pool, now):
            status = ledger.effective_status(pool, now).value if pool else "gone"
            raise Conflict(
                f"the consortium pool of {sub.label} is {status}; extend or re-grant the pool "
                "instead (its members' sub-allocations follow it)",
                code="pool_inactive",
            )

    def expire(self, actor: str = "job:expire") -> ExpiryReport:
        """End allocations past their end date and warn people ahead of time."""
        now = self.ctx.now()
        report = ExpiryReport()
        session = self.ctx.session
        for alloc in session.scalars(
            select(Allocation).where(
                Allocation.status == AllocationStatus.new, Allocation.starts_at <= now
            )
        ):
            alloc.status = AllocationStatus.active
            report.activated.append(alloc.id)
        warn_days = sorted(self.ctx.policy.notices.expiry_warning_days, reverse=True)
        horizon = now + timedelta(days=max(warn_days, default=0))
        candidates = session.scalars(
            select(Allocation).where(
                Allocation.status.in_(USABLE_STATUSES),
                Allocation.ends_at.is_not(None),
                Allocation.ends_at <= horizon,
            )
        ).all()
        for alloc in candidates:
            assert alloc.ends_at is not None
            owners = self._owners(alloc)
            if alloc.ends_at <= now:
                before = allocation_snapshot(alloc)
                alloc.status = AllocationStatus.expired
                alloc.updated_at = now
                report.expired.append(alloc.id)
                self.audit.record(
                    actor=actor,
                    action="allocation.expire",
                    target_type="allocation",
                    target_id=alloc.id,
                    before=before,
                    after=allocation_snapshot(alloc),
                    reason="end date passed",
                )
                for owner in owners:
                    self.users.ensure_entry_fallback(owner)
                    self.notices.post(
                        owner,
                        "expiry",
                        f"{alloc.label} expired on {alloc.ends_at.date().isoformat()}. You are "
                        "back on Entry limits; home data beyond Entry's quota enters the purge "
                        "schedule after its grace period.",
                        dedupe_key=f"expired:{alloc.id}:{alloc.ends_at.date().isoformat()}",
                    )
                continue
            remaining = alloc.ends_at - now
            # The smallest warning window we are inside of.
            due = [d for d in warn_days if remaining <= timedelta(days=d)]
            if not due:
                continue
            days = min(due)
            for owner in owners:
                posted = self.notices.post(
                    owner,
                    "expiry",
                    f"{alloc.label} ends on {alloc.ends_at.date().isoformat()} "
                    f"(in {max(remaining.days, 0)} day(s)). Request a renewal to keep it; "
                    "otherwise you fall back to Entry limits.",
                    dedupe_key=f"expiry-warning:{alloc.id}:{alloc.ends_at.date().isoformat()}:{days}",
                    due_at=alloc.ends_at,
                )
                if posted is not None:
                    report.warned.append((alloc.id, days))
        return report

    def _owners(self, alloc: Allocation) -> list[User]:
        if alloc.owner_id is not None:
            owner = self.ctx.session.get(User, alloc.owner_id)
            return [owner] if owner else []
        if alloc.kind == AllocationKind.pool:
            return list(
                self.ctx.session.scalars(
                    select(User)
                    .join(Allocation, Allocation.owner_id == User.id)
                    .where(Allocation.parent_id == alloc.id)
                )
            )
        return []
