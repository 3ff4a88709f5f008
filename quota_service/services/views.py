"""Build API views of allocations and storage from ORM rows."""

from __future__ import annotations

from sqlalchemy import func, select

from ..models.v1 import AllocationView, SizeView, StorageView
from ..policy import Policy, ServerSize
from ..schema import Allocation, Consortium, ServerSession, StorageUsageSnapshot, User
from ..store.sessions import is_open
from ..store.snapshots import latest_snapshot
from . import ledger
from .base import ServiceContext


def size_view(name: str, size: ServerSize, allocation_ids: list[int] | None = None) -> SizeView:
    return SizeView(
        name=name,
        display_name=size.display_name,
        description=size.description,
        cpu_limit=size.cpu_limit,
        cpu_guarantee=size.cpu_guarantee,
        mem_limit_bytes=size.mem_limit_bytes,
        mem_guarantee_bytes=size.mem_guarantee_bytes,
        cpu_hours_per_hour=size.cpu_hours_per_hour,
        node_selector=dict(size.node_selector),
        tolerations=[t.model_dump(exclude_none=True) for t in size.tolerations],
        allocation_ids=allocation_ids or [],
    )


def pool_of(ctx: ServiceContext, allocation: Allocation) -> Allocation | None:
    if allocation.parent_id is None:
        return None
    return ctx.session.get(Allocation, allocation.parent_id)


def allocation_view(ctx: ServiceContext, allocation: Allocation) -> AllocationView:
    policy: Policy = ctx.policy
    now = ctx.now()
    pool = pool_of(ctx, allocation)
    standing = ledger.standing(policy, allocation, pool)
    running = ctx.session.scalar(
        select(func.count())
        .select_from(ServerSession)
        .where(ServerSession.allocation_id == allocation.id, is_open())
    )
    consortium_name = None
    if allocation.consortium_id is not None:
        consortium = ctx.session.get(Consortium, allocation.consortium_id)
        consortium_name = consortium.name if consortium else None
    quota = ledger.home_quota_bytes(policy, allocation, pool)
    tier = policy.tier(allocation.tier)
    return AllocationView(
        id=allocation.id,
        tier=allocation.tier,
        kind=allocation.kind.value,
        status=ledger.effective_status(allocation, now).value,
        label=allocation.label,
        consortium=consortium_name,
        consortium_id=allocation.consortium_id,
        cpu_hours_budget=round(standing.budget, 6),
        cpu_hours_used=round(standing.used, 6),
        cpu_hours_left=round(standing.left, 6),
        starts_at=allocation.starts_at,
        ends_at=allocation.ends_at,
        resets_at=standing.resets_at,
        max_concurrent_servers=tier.max_concurrent_servers,
        running_servers=int(running or 0),
        sizes=list(tier.sizes),
        home_quota_soft_bytes=quota[0] if quota else None,
        home_quota_hard_bytes=quota[1] if quota else None,
    )


def storage_view(ctx: ServiceContext, user: User, quota: tuple[int, int] | None) -> StorageView:
    return storage_view_of(latest_snapshot(ctx.session, user.id), quota)


def storage_view_of(
    snap: StorageUsageSnapshot | None, quota: tuple[int, int] | None
) -> StorageView:
    view = StorageView(
        soft_quota_bytes=quota[0] if quota else None,
        hard_quota_bytes=quota[1] if quota else None,
    )
    if snap is not None:
        view.home_bytes = snap.home_bytes
        view.home_files = snap.home_files
        view.scratch_bytes = snap.scratch_bytes
        view.scratch_files = snap.scratch_files
        view.measured_at = snap.measured_at
        if quota:
            view.over_soft = snap.home_bytes > quota[0]
            view.over_hard = snap.home_bytes > quota[1]
        else:
            view.over_soft, view.over_hard = snap.over_soft, snap.over_hard
    return view
