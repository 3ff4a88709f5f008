"""CPU-hour forecasts: the daily use of an allocation in its budget period, and when it runs out.

The pace is the mean daily use over the last `window_days` days (or since the period began, when
that is shorter). The forecast is a straight line from what is used today at that pace; it says
"runs out on <date>" only when that date comes before the budget resets or the term ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import String, func, select

from ..schema import Allocation, Charge
from . import ledger
from .base import ServiceContext
from .users import UserService

DEFAULT_WINDOW_DAYS = 14


@dataclass(frozen=True)
class Forecast:
    allocation_id: int
    label: str
    tier: str
    budget: float
    used: float
    left: float
    period_start: date
    period_end: date | None  # the budget resets or the term ends
    daily: list[tuple[date, float]]  # CPU-hours charged per day in this period
    pace_per_day: float
    window_days: int
    runs_out_on: date | None  # None: the pace is zero, or the budget outlasts the period

    @property
    def cumulative(self) -> list[tuple[date, float]]:
        total = 0.0
        out = []
        for day, hours in self.daily:
            total += hours
            out.append((day, total))
        return out


def project(
    *,
    budget: float,
    used: float,
    daily: list[tuple[date, float]],
    period_start: date,
    period_end: date | None,
    today: date,
    window_days: int = DEFAULT_WINDOW_DAYS,
) -> tuple[float, int, date | None]:
    """(pace per day, window used, the day the budget runs out or None)."""
    elapsed = (today - period_start).days + 1
    window = max(1, min(window_days, elapsed))
    since = today - timedelta(days=window - 1)
    recent = sum(hours for day, hours in daily if since <= day <= today)
    pace = recent / window
    left = budget - used
    if left <= 0:
        return pace, window, today
    if pace <= 0:
        return pace, window, None
    runs_out = today + timedelta(days=math.ceil(left / pace))
    if period_end is not None and runs_out >= period_end:
        return pace, window, None
    return pace, window, runs_out


class ForecastService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def daily_charges(self, allocation: Allocation) -> list[tuple[date, float]]:
        day = func.substr(func.cast(Charge.charged_at, String()), 1, 10)
        rows = self.ctx.session.execute(
            select(day, func.sum(Charge.cpu_hours))
            .where(
                Charge.allocation_id == allocation.id,
                Charge.charged_at >= allocation.period_started_at,
            )
            .group_by(day)
            .order_by(day)
        ).all()
        return [(date.fromisoformat(str(d)), float(h or 0.0)) for d, h in rows]

    def for_allocation(
        self, allocation: Allocation, *, window_days: int = DEFAULT_WINDOW_DAYS
    ) -> Forecast:
        policy = self.ctx.policy
        pool = (
            self.ctx.session.get(Allocation, allocation.parent_id) if allocation.parent_id else None
        )
        standing = ledger.standing(policy, allocation, pool)
        now: datetime = self.ctx.now()
        end = standing.resets_at
        daily = self.daily_charges(allocation)
        start = allocation.period_started_at.date()
        pace, window, runs_out = project(
            budget=standing.budget,
            used=standing.used,
            daily=daily,
            period_start=start,
            period_end=end.date() if end else None,
            today=now.date(),
            window_days=window_days,
        )
        return Forecast(
            allocation_id=allocation.id,
            label=allocation.label,
            tier=allocation.tier,
            budget=standing.budget,
            used=standing.used,
            left=standing.left,
            period_start=start,
            period_end=end.date() if end else None,
            daily=daily,
            pace_per_day=pace,
            window_days=window,
            runs_out_on=runs_out,
        )

    def for_user(self, username: str) -> list[Forecast]:
        """Forecasts for the person's usable allocations, highest tier first."""
        users = UserService(self.ctx)
        user = users.ensure(username)
        allocations = users.usable_allocations(user)  # personal and sub-allocations only
        allocations.sort(key=lambda a: (-ledger.TIER_RANK.get(a.tier, 0), a.id))
        return [self.for_allocation(a) for a in allocations]
