"""People: first contact (with an Entry allocation), look-ups and their own overview."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select
from sqlalchemy.exc import IntegrityError

from ..errors import NotFound
from ..models.v1 import MeView, NoticeView, RequestView, UserSummary
from ..policy import TierName
from ..schema import (
    Allocation,
    AllocationKind,
    AllocationRequest,
    AllocationStatus,
    ConsortiumMember,
    MemberRole,
    StorageUsageSnapshot,
    User,
    UserNotice,
)
from ..store.locks import allocations_with_pools
from ..store.snapshots import latest_snapshot_id
from . import ledger
from .base import ServiceContext
from .views import allocation_view, storage_view
from .write_through import write_through

# How fresh `last_login_at` is kept. Inactivity is measured in days, so a spawn within this
# long of the last recorded one need not write the users row again.
LOGIN_RESOLUTION = timedelta(minutes=10)


def request_view(req: AllocationRequest, username: str) -> RequestView:
    return RequestView(
        id=req.id,
        username=username,
        tier=req.tier,
        kind=req.kind.value,
        status=req.status.value,
        justification=req.justification,
        proposal_ref=req.proposal_ref,
        allocation_id=req.allocation_id,
        requested_cpu_hours=req.requested_cpu_hours,
        decision_note=req.decision_note,
        decided_by=req.decided_by,
        decided_at=req.decided_at,
        result_allocation_id=req.result_allocation_id,
        created_at=req.created_at,
    )


# What a person can charge: their own allocations and consortium sub-allocations, not pools.
CHARGEABLE_KINDS = (AllocationKind.personal, AllocationKind.sub)

# Statements on the hot path of spawn decisions, built once: building a select costs more
# than running it.
_SIGN_IN = (
    select(User, StorageUsageSnapshot)
    .outerjoin(StorageUsageSnapshot, StorageUsageSnapshot.id == latest_snapshot_id(User.id))
    .where(User.username == bindparam("username"))
)


_LOCK_ALLOCATIONS = allocations_with_pools(
    select(Allocation.id).where(
        Allocation.owner_id == bindparam("user_id"), Allocation.kind.in_(CHARGEABLE_KINDS)
    )
)


class UserService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def get(self, username: str) -> User:
        """The user named `username`.

        Raises:
            NotFound: No user of that name has used the platform yet.
        """
        user = self.ctx.session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound(f"no user named {username!r} has used the platform yet")
        return user

    def find(self, username: str) -> User | None:
        return self.ctx.session.scalar(select(User).where(User.username == username))

    def ensure(self, username: str, *, login: bool = False) -> User:
        """Return the user, creating them and their Entry allocation on first contact.

        Raises:
            NotFound: Creating the user failed on a constraint, yet no user of that name
                exists either (the fallback for a concurrent first contact finds none).
        """
        session = self.ctx.session
        user = self.find(username)
        now = self.ctx.now()
        if user is None:
            try:
                with session.begin_nested():
                    user = User(username=username, created_at=now, last_login_at=None)
                    session.add(user)
                    session.flush()
                    session.add(self._entry_allocation(user))
                    session.flush()
            except IntegrityError:
                # Another request created them first.
                user = self.get(username)
        if login:
            user.last_login_at = now
        return user

    def sign_in(self, username: str) -> tuple[User, StorageUsageSnapshot | None]:
        """The user (created on first contact, login recorded) and their newest storage
        snapshot, in one query on the hot path of spawn decisions.

        Raises:
            NotFound: From `ensure`, on first contact, when creating the user failed on a
                constraint and no user of that name exists either.
        """
        row = self.ctx.session.execute(_SIGN_IN, {"username": username}).first()
        if row is None:
            return self.ensure(username, login=True), None
        user, snapshot = row
        now = self.ctx.now()
        if user.last_login_at is None or now - user.last_login_at >= LOGIN_RESOLUTION:
            write_through(self.ctx.session, user, last_login_at=now)
        return user, snapshot

    def _entry_allocation(self, user: User) -> Allocation:
        now = self.ctx.now()
        return Allocation(
            kind=AllocationKind.personal,
            tier=TierName.entry.value,
            status=AllocationStatus.active,
            label=f"Entry ({user.username})",
            owner_id=user.id,
            starts_at=now,
            ends_at=None,
            cpu_hours_used=0.0,
            period_started_at=now,
            created_at=now,
            updated_at=now,
        )

    def allocations(self, user: User) -> list[Allocation]:
        """Allocations the user can charge: personal ones and consortium sub-allocations."""
        return list(
            self.ctx.session.scalars(
                select(Allocation)
                .where(
                    Allocation.owner_id == user.id,
                    Allocation.kind.in_(CHARGEABLE_KINDS),
                )
                .order_by(Allocation.id)
            )
        )

    def lock_allocations(self, user: User) -> list[Allocation]:
        """`allocations(user)`, locked for a spawn decision together with the pools of its
        sub-allocations (which land in the session, so `pool_of` needs no query). Rows lock
        in id order, like every other locker of allocations."""
        rows = self.ctx.session.scalars(_LOCK_ALLOCATIONS, {"user_id": user.id})
        return [a for a in rows if a.owner_id == user.id and a.kind in CHARGEABLE_KINDS]

    def usable_allocations(
        self, user: User, mine: list[Allocation] | None = None
    ) -> list[Allocation]:
        """Allocations that may be charged now: usable themselves and, for a consortium
        sub-allocation, through a usable pool (not revoked, expired or not yet started)."""
        now = self.ctx.now()
        return [
            a
            for a in (mine or self.allocations(user))
            if ledger.is_usable(a, now) and self._pool_usable(a, now)
        ]

    def _pool_usable(self, allocation: Allocation, now: datetime) -> bool:
        if allocation.parent_id is None:
            return True
        # Usually already in the session (lock_allocations loads pools): no query.
        pool = self.ctx.session.get(Allocation, allocation.parent_id)
        return pool is not None and ledger.is_usable(pool, now)

    def tier(self, user: User) -> str:
        usable = self.usable_allocations(user)
        if not usable:
            return TierName.entry.value
        return max(usable, key=lambda a: ledger.TIER_RANK.get(a.tier, 0)).tier

    def ensure_entry_fallback(self, user: User) -> None:
        """Everyone keeps a usable Entry allocation (the fallback when others expire)."""
        now = self.ctx.now()
        for alloc in self.allocations(user):
            if alloc.tier == TierName.entry.value and ledger.is_usable(alloc, now):
                return
        self.ctx.session.add(self._entry_allocation(user))

    def me(self, username: str) -> MeView:
        """The person's own overview: allocations, storage, notices, requests, consortia led.

        Raises:
            NotFound: From `ensure`, on first contact, when creating the user failed on a
                constraint and no user of that name exists either.
        """
        user = self.ensure(username)
        session = self.ctx.session
        allocations = self.allocations(user)
        views = [allocation_view(self.ctx, a) for a in allocations]
        quota = self.home_quota(user)
        notices = session.scalars(
            select(UserNotice)
            .where(UserNotice.user_id == user.id)
            .order_by(UserNotice.created_at.desc())
            .limit(50)
        )
        requests = session.scalars(
            select(AllocationRequest)
            .where(AllocationRequest.user_id == user.id)
            .order_by(AllocationRequest.id.desc())
        )
        led = session.scalars(
            select(ConsortiumMember.consortium_id).where(
                ConsortiumMember.user_id == user.id, ConsortiumMember.role == MemberRole.lead
            )
        )
        return MeView(
            username=user.username,
            tier=self.tier(user),
            allocations=views,
            storage=storage_view(self.ctx, user, quota),
            notices=[NoticeView.model_validate(n, from_attributes=True) for n in notices],
            requests=[request_view(r, user.username) for r in requests],
            consortia_led=list(led),
            upgrade_url=self.ctx.policy.upgrade_url,
        )

    def home_quota(
        self, user: User, mine: list[Allocation] | None = None
    ) -> tuple[int, int] | None:
        """The largest home quota among the user's usable allocations."""
        best: tuple[int, int] | None = None
        for alloc in self.usable_allocations(user, mine):
            pool = self.ctx.session.get(Allocation, alloc.parent_id) if alloc.parent_id else None
            quota = ledger.home_quota_bytes(self.ctx.policy, alloc, pool)
            if quota and (best is None or quota[1] > best[1]):
                best = quota
        return best

    def search(self, query: str, limit: int = 50) -> list[UserSummary]:
        pattern = f"%{query.replace('%', '').replace('_', '')}%"
        users = self.ctx.session.scalars(
            select(User)
            .where(or_(User.username.ilike(pattern), User.email.ilike(pattern)))
            .order_by(User.username)
            .limit(limit)
        )
        return [
            UserSummary(
                username=u.username,
                created_at=u.created_at,
                last_login_at=u.last_login_at,
                tier=self.tier(u),
            )
            for u in users
        ]
