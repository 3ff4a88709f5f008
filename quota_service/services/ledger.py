"""Allocation arithmetic: effective budgets, what is left, budget periods and charging."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..policy import GIB, Policy, TierPolicy
from ..schema import USABLE_STATUSES, Allocation, AllocationKind, AllocationStatus


@dataclass(frozen=True)
class Standing:
    """What an allocation holds right now."""

    budget: float
    used: float
    left: float
    resets_at: datetime | None


def tier_of(policy: Policy, allocation: Allocation) -> TierPolicy:
    return policy.tier(allocation.tier)


def budget(policy: Policy, allocation: Allocation) -> float:
    if allocation.cpu_hours_budget is not None:
        return allocation.cpu_hours_budget
    return tier_of(policy, allocation).cpu_hours_per_term or 0.0


def resets_at(policy: Policy, allocation: Allocation) -> datetime | None:
    tier = tier_of(policy, allocation)
    if tier.budget_period_days:
        return allocation.period_started_at + timedelta(days=tier.budget_period_days)
    return allocation.ends_at


def roll_period(policy: Policy, allocation: Allocation, now: datetime) -> bool:
    """Start a new budget period when the old one has passed (Entry's yearly reset)."""
    tier = tier_of(policy, allocation)
    if not tier.budget_period_days:
        return False
    period = timedelta(days=tier.budget_period_days)
    if now < allocation.period_started_at + period:
        return False
    elapsed = (now - allocation.period_started_at) // period
    allocation.period_started_at = allocation.period_started_at + elapsed * period
    allocation.cpu_hours_used = 0.0
    return True


def standing(policy: Policy, allocation: Allocation, pool: Allocation | None = None) -> Standing:
    total = budget(policy, allocation)
    left = total - allocation.cpu_hours_used
    if pool is not None:
        # A member can never use more than the pool still holds.
        left = min(left, budget(policy, pool) - pool.cpu_hours_used)
    if -1e-9 < left < 0:
        left = 0.0  # float noise from summing charges; a real overdraft stays negative
    return Standing(
        budget=total,
        used=allocation.cpu_hours_used,
        left=left,
        resets_at=resets_at(policy, allocation),
    )


def is_usable(allocation: Allocation, now: datetime) -> bool:
    if allocation.status not in USABLE_STATUSES and allocation.status != AllocationStatus.new:
        return False
    if allocation.starts_at > now:
        return False
    return allocation.ends_at is None or now < allocation.ends_at


def effective_status(allocation: Allocation, now: datetime) -> AllocationStatus:
    status = allocation.status
    if status == AllocationStatus.new and allocation.starts_at <= now:
        status = AllocationStatus.active
    if status in USABLE_STATUSES and allocation.ends_at is not None and allocation.ends_at <= now:
        status = AllocationStatus.expired
    return status


def home_quota_bytes(
    policy: Policy, allocation: Allocation, pool: Allocation | None = None
) -> tuple[int, int] | None:
    source = pool if allocation.kind == AllocationKind.sub and pool is not None else allocation
    tier = tier_of(policy, source)
    soft = source.home_quota_soft_gib
    hard = source.home_quota_hard_gib
    if tier.home_quota_gib is not None:
        soft = soft if soft is not None else tier.home_quota_gib.soft
        hard = hard if hard is not None else tier.home_quota_gib.hard
    if soft is None or hard is None:
        return None
    return int(soft * GIB), int(hard * GIB)


def cpu_hours(cpu_per_hour: float, start: datetime, end: datetime) -> float:
    seconds = max((end - start).total_seconds(), 0.0)
    return cpu_per_hour * seconds / 3600.0


TIER_RANK = {"entry": 0, "research": 1, "consortium": 2}
