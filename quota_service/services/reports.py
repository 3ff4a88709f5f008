"""Usage reports: CPU-hours and estimated cost by tier and by allocation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, func, select

from ..models.v1 import UsagePoint, UsageReport, UsageReportRow, UsageView
from ..schema import Allocation, Charge
from .base import ServiceContext
from .users import UserService


class ReportService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def usage(self, since: datetime | None = None, until: datetime | None = None) -> UsageReport:
        price = self.ctx.cost_per_cpu_hour_usd

        conditions = []
        if since is not None:
            conditions.append(Charge.charged_at >= since)
        if until is not None:
            conditions.append(Charge.charged_at < until)
        by_tier = self.ctx.session.execute(
            select(
                Charge.tier,
                func.sum(Charge.cpu_hours),
                func.count(func.distinct(Charge.session_id)),
            )
            .where(*conditions)
            .group_by(Charge.tier)
            .order_by(Charge.tier)
        ).all()
        by_alloc = self.ctx.session.execute(
            select(
                Allocation.label,
                Allocation.id,
                func.sum(Charge.cpu_hours),
                func.count(func.distinct(Charge.session_id)),
            )
            .join(Allocation, Allocation.id == Charge.allocation_id)
            .where(*conditions)
            .group_by(Allocation.id, Allocation.label)
            .order_by(func.sum(Charge.cpu_hours).desc())
            .limit(500)
        ).all()
        return UsageReport(
            since=since,
            until=until,
            cost_per_cpu_hour_usd=price,
            by_tier=[
                UsageReportRow(
                    key=tier,
                    cpu_hours=round(hours or 0.0, 6),
                    estimated_cost_usd=round((hours or 0.0) * price, 2),
                    sessions=int(n),
                )
                for tier, hours, n in by_tier
            ],
            by_allocation=[
                UsageReportRow(
                    key=f"{label} [#{alloc_id}]",
                    cpu_hours=round(hours or 0.0, 6),
                    estimated_cost_usd=round((hours or 0.0) * price, 2),
                    sessions=int(n),
                )
                for label, alloc_id, hours, n in by_alloc
            ],
        )

    def user_usage(self, username: str) -> UsageView:
        user = UserService(self.ctx).ensure(username)
        day = func.substr(func.cast(Charge.charged_at, String()), 1, 10)
        rows = self.ctx.session.execute(
            select(day, func.sum(Charge.cpu_hours))
            .where(Charge.user_id == user.id)
            .group_by(day)
            .order_by(day)
        ).all()
        by_alloc = self.ctx.session.execute(
            select(Charge.allocation_id, func.sum(Charge.cpu_hours))
            .where(Charge.user_id == user.id)
            .group_by(Charge.allocation_id)
        ).all()
        return UsageView(
            username=username,
            by_day=[UsagePoint(day=str(d), cpu_hours=round(h or 0.0, 6)) for d, h in rows],
            by_allocation={int(a): round(h or 0.0, 6) for a, h in by_alloc},
        )
